//! Importers: one file per format, each turning a file into [`Draft`] objects.
//!
//! An importer never writes: it parses the whole file first, so that a fatal error leaves the
//! store untouched. Records that cannot be used (no or invalid coordinates) are collected as
//! [`Reject`]s with their line or feature number; `--strict` makes any reject fatal.

pub mod crs;
pub mod csv;
pub mod geojson;
pub mod gpkg;
pub mod mapping;
pub mod ofds;
pub mod osm;

use std::path::{Path, PathBuf};

pub use mapping::Mapping;

use crate::model::{Draft, LayerId, Layers};

/// Input formats `citytwin import` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Osm,
    Csv,
    Geojson,
    Gpkg,
    Ofds,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s.to_ascii_lowercase().as_str() {
            "osm" | "pbf" | "osm.pbf" => Format::Osm,
            "csv" => Format::Csv,
            "geojson" | "json" => Format::Geojson,
            "gpkg" | "geopackage" => Format::Gpkg,
            "ofds" => Format::Ofds,
            _ => return None,
        })
    }

    /// Guesses the format from a file name (`.pbf`, `.csv`, `.geojson`, `.gpkg`; `.json` is
    /// OFDS when it holds a `networks` array, else GeoJSON — decided by the caller).
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".osm.pbf") || name.ends_with(".pbf") {
            Some(Format::Osm)
        } else if name.ends_with(".csv") || name.ends_with(".tsv") {
            Some(Format::Csv)
        } else if name.ends_with(".geojson") {
            Some(Format::Geojson)
        } else if name.ends_with(".gpkg") {
            Some(Format::Gpkg)
        } else if name.ends_with(".ofds.json") {
            Some(Format::Ofds)
        } else if name.ends_with(".json") {
            Some(Format::Geojson)
        } else {
            None
        }
    }
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Target layer for formats that hold one kind of object (CSV, GeoJSON, GeoPackage).
    /// OSM and OFDS map to layers themselves; a mapping may name a layer column instead.
    pub layer: Option<LayerId>,
    /// Source CRS such as `EPSG:32636`; WGS84 when absent.
    pub crs: Option<String>,
    pub mapping: Mapping,
    /// Any reject is a fatal error.
    pub strict: bool,
}

/// A record that could not be imported.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reject {
    pub file: String,
    /// 1-based line (CSV) or feature index (GeoJSON, GeoPackage, OFDS) or OSM element id.
    pub line: u64,
    pub field: String,
    pub reason: String,
    /// The raw record, for a person to fix it.
    pub raw: String,
}

/// The parsed content of one or more files.
#[derive(Debug, Default)]
pub struct Parsed {
    pub drafts: Vec<Draft>,
    pub rejects: Vec<Reject>,
    /// Records dropped because an identical record was already read (e.g. the same row twice).
    pub duplicates: usize,
}

impl Parsed {
    pub fn extend(&mut self, other: Parsed) {
        if self.drafts.is_empty() {
            // Take the other's vector as it is (with its spare room) instead of copying it.
            self.drafts = other.drafts;
        } else {
            self.drafts.extend(other.drafts);
        }
        self.rejects.extend(other.rejects);
        self.duplicates += other.duplicates;
    }
}

/// What went wrong with one record: it is rejected (field, reason) or the whole import stops.
pub(crate) enum RecordError {
    Reject(String, String),
    Fatal(ImportError),
}

/// A fatal import error: nothing of the import is written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A precise problem at a place in the file.
    #[error("{file}:{line}: field {field:?}: {reason}")]
    At {
        file: String,
        line: u64,
        field: String,
        reason: String,
    },
    /// A problem with the file as a whole.
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    #[error(transparent)]
    Crs(#[from] crs::CrsError),
    #[error("{0}")]
    Options(String),
}

impl ImportError {
    pub fn at(file: &str, line: u64, field: &str, reason: impl Into<String>) -> Self {
        ImportError::At {
            file: file.to_string(),
            line,
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub fn file(file: &str, reason: impl Into<String>) -> Self {
        ImportError::File {
            file: file.to_string(),
            reason: reason.into(),
        }
    }
}

/// Reads and parses one file in the given format into drafts and rejects.
pub fn parse_file(
    path: &Path,
    format: Format,
    layers: &Layers,
    opts: &Options,
) -> Result<Parsed, ImportError> {
    let parsed = match format {
        Format::Osm => osm::parse(path, layers, opts)?,
        Format::Csv => csv::parse(path, layers, opts)?,
        Format::Geojson => geojson::parse(path, layers, opts)?,
        Format::Gpkg => gpkg::parse(path, layers, opts)?,
        Format::Ofds => ofds::parse(path, layers, opts)?,
    };
    check_strict(opts, &parsed)?;
    Ok(parsed)
}

/// With `--strict`, the first reject is a fatal error.
fn check_strict(opts: &Options, parsed: &Parsed) -> Result<(), ImportError> {
    match parsed.rejects.first() {
        Some(r) if opts.strict => Err(ImportError::At {
            file: r.file.clone(),
            line: r.line,
            field: r.field.clone(),
            reason: format!("{} (--strict: no record may be rejected)", r.reason),
        }),
        _ => Ok(()),
    }
}

/// Parses several files of one format as one import; identical records across files
/// (e.g. the same CSV published twice) are kept once.
pub fn parse_files(
    paths: &[PathBuf],
    format: Format,
    layers: &Layers,
    opts: &Options,
) -> Result<Parsed, ImportError> {
    let mut all = Parsed::default();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    read_files(paths, format, layers, opts, workers, &mut |part: Parsed| {
        all.extend(part);
        Ok::<(), ImportError>(())
    })?;
    Ok(all)
}

/// Reads several files of one format as one import and hands the records to `sink` part by
/// part, in file order, so that they can be checked and written while the rest is read.
/// Identical records (also across files) are handed on once; with `--strict` a reject stops
/// the reading. A large CSV file is parsed by `workers` threads; other formats are parsed
/// whole and handed on as one part per file. A fatal error stops the reading: the parts
/// already handed on must then be discarded.
pub fn read_files<E: From<ImportError>>(
    paths: &[PathBuf],
    format: Format,
    layers: &Layers,
    opts: &Options,
    workers: usize,
    sink: &mut dyn FnMut(Parsed) -> Result<(), E>,
) -> Result<(), E> {
    // Sized for about as many records as the files hold, so that it does not grow, rehashing
    // millions of digests, in the middle of the reading.
    let mut seen = Seen::with_capacity(records_estimate(paths).min(1 << 26));
    let mut checked = |mut part: Parsed| -> Result<(), E> {
        check_strict(opts, &part)?;
        seen.drop_repeats(&mut part);
        sink(part)
    };
    for p in paths {
        match format {
            Format::Csv => csv::read(p, layers, opts, workers, &mut checked)?,
            _ => checked(parse_file(p, format, layers, opts)?)?,
        }
    }
    Ok(())
}

/// About how many records the files hold, judged from their sizes (a file that cannot be read
/// counts nothing: reading it reports the error).
pub fn records_estimate(paths: &[PathBuf]) -> usize {
    let bytes: u64 = paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    usize::try_from(bytes / 64).unwrap_or(usize::MAX)
}

/// Threads to parse with beside an import's writer thread: every core but the writer's.
pub fn workers_beside_writer() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1)
}

/// The records read so far, by content digest: drops a record identical to an earlier one.
#[derive(Default)]
struct Seen(std::collections::HashSet<(u64, u64), DigestHashing>);

impl Seen {
    fn with_capacity(n: usize) -> Seen {
        Seen(std::collections::HashSet::with_capacity_and_hasher(
            n,
            Default::default(),
        ))
    }

    /// Drops from `part` the records seen before (in it or an earlier part); the first of
    /// identical records is the one kept.
    fn drop_repeats(&mut self, part: &mut Parsed) {
        let before = part.drafts.len();
        let keys = draft_keys(&part.drafts);
        self.0.reserve(keys.len());
        let mut keys = keys.into_iter();
        part.drafts
            .retain(|_| keys.next().is_some_and(|k| self.0.insert(k)));
        part.duplicates += before - part.drafts.len();
    }
}

/// Hashing for sets of [`draft_key`]s: they are keyed digests already, so hashing them again
/// would only cost time.
type DigestHashing = std::hash::BuildHasherDefault<DigestHasher>;

#[derive(Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(29) ^ n;
    }
}

/// [`draft_key`] of every draft, in order, computed on all cores.
fn draft_keys(drafts: &[Draft]) -> Vec<(u64, u64)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = drafts.len().div_ceil(threads).max(10_000);
    std::thread::scope(|scope| {
        let parts: Vec<_> = drafts
            .chunks(per)
            .map(|part| scope.spawn(|| part.iter().map(draft_key).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Content identity of a draft, ignoring the file it came from: a 128-bit digest of layer,
/// geometry, status, attributes and number (two differently seeded 64-bit foldhash hashes; for
/// records not crafted to collide, a false match has a chance of about n²/2¹²⁹ — the seeds
/// share foldhash's constants, so this is no defence against deliberate collisions).
fn draft_key(d: &Draft) -> (u64, u64) {
    use std::hash::{BuildHasher, Hash, Hasher};
    let digest = |salt: u64| {
        let mut h = foldhash::quality::FixedState::with_seed(salt).build_hasher();
        d.layer.hash(&mut h);
        match &d.geometry {
            crate::model::Geometry::Point([x, y]) => (x.to_bits(), y.to_bits()).hash(&mut h),
            crate::model::Geometry::Line(pts) => {
                for [x, y] in pts {
                    (x.to_bits(), y.to_bits()).hash(&mut h);
                }
            }
            crate::model::Geometry::Polygon(polygons) => {
                for p in polygons {
                    p.len().hash(&mut h);
                    for r in p {
                        r.len().hash(&mut h);
                        for [x, y] in r {
                            (x.to_bits(), y.to_bits()).hash(&mut h);
                        }
                    }
                }
            }
        }
        d.status.hash(&mut h);
        for (name, v) in &d.attributes {
            name.hash(&mut h);
            match v {
                crate::model::Value::Bool(b) => (0u8, *b).hash(&mut h),
                crate::model::Value::Int(i) => (1u8, *i).hash(&mut h),
                crate::model::Value::Float(f) => (2u8, f.to_bits()).hash(&mut h),
                crate::model::Value::Text(t) => (3u8, t).hash(&mut h),
            }
        }
        d.source_number.hash(&mut h);
        h.finish()
    };
    (digest(0x5EED_0001), digest(0xC17E_7714))
}

/// Writes rejects as a CSV report (file, line, field, reason, raw).
pub fn write_rejects(path: &Path, rejects: &[Reject]) -> Result<(), ImportError> {
    let io = |e: std::io::Error| ImportError::Io {
        file: path.display().to_string(),
        source: e,
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut w = ::csv::Writer::from_path(path)
        .map_err(|e| ImportError::file(&path.display().to_string(), e.to_string()))?;
    let werr = |e: ::csv::Error| ImportError::file(&path.display().to_string(), e.to_string());
    for r in rejects {
        w.serialize(r).map_err(werr)?;
    }
    w.flush().map_err(io)?;
    Ok(())
}

/// Helpers shared by the importers' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};

    use super::{Mapping, Options};
    use crate::model::Layers;

    /// A file of `tests/fixtures/import`.
    pub fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/import")
            .join(name)
    }

    /// Import options for a target layer (by name) and mapping, WGS84, not strict.
    pub fn opts(layers: &Layers, layer: Option<&str>, mapping: Mapping) -> Options {
        Options {
            layer: layer.and_then(|l| layers.by_name(l)),
            crs: None,
            mapping,
            strict: false,
        }
    }
}
