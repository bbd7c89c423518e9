//! What the fuzz targets share: writing an input to a file, import options, and the checks an
//! import's outcome must pass (a failed check panics, which libFuzzer reports as a crash).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use citytwin::import::{self, Format, ImportError, Mapping, Options, Parsed};
use citytwin::model::{Geometry, Layers};

pub fn layers() -> &'static Layers {
    static L: OnceLock<Layers> = OnceLock::new();
    L.get_or_init(Layers::default_city)
}

/// Import options: a target layer (by name) and a mapping written in TOML.
pub fn options(layer: Option<&str>, mapping: &str) -> Options {
    Options {
        layer: layer.and_then(|l| layers().by_name(l)),
        crs: None,
        mapping: toml::from_str::<Mapping>(mapping).expect("a valid mapping"),
        strict: false,
    }
}

/// The file every input of this process is written to (one per process: libFuzzer may run
/// several jobs side by side).
pub fn input_path(ext: &str) -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("citytwin-fuzz-{}", std::process::id()))
            .join(format!("fuzz-input.{ext}"))
    })
}

pub fn write_input(ext: &str, data: &[u8]) -> &'static Path {
    let path = input_path(ext);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
    path
}

/// Imports the file with every option set and checks each outcome.
pub fn import_all(format: Format, path: &Path, opts: &[Options]) {
    for o in opts {
        let r = import::parse_file(path, format, layers(), o);
        check(format, path, o, &r);
    }
}

/// Errors about a CSV file as a whole, decided by its header line: they need no line number.
const CSV_HEADER_ERRORS: &[&str] = &[
    "empty file: no header line",
    "the mapping names column",
    "no layer: give --layer",
    "no longitude and latitude columns",
    "no a longitude column",
    "no a latitude column",
    "no records to import: the file holds no data",
];

fn names_a_line(msg: &str) -> bool {
    let b = msg.as_bytes();
    let digit_at = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    msg.match_indices("line ").any(|(i, _)| digit_at(i + 5))
        || msg.match_indices(':').any(|(i, _)| {
            let mut j = i + 1;
            while digit_at(j) {
                j += 1;
            }
            j > i + 1 && b.get(j) == Some(&b':')
        })
}

/// `Ok` holds only valid objects in WGS84 range; an error names the file (and, for CSV, the
/// line, unless it is about the header).
pub fn check(format: Format, path: &Path, opts: &Options, r: &Result<Parsed, ImportError>) {
    let label = path.file_name().unwrap().to_str().unwrap();
    match r {
        Ok(p) => {
            // The OSM importer leaves an empty import to the registry to refuse.
            assert!(
                format == Format::Osm || !p.drafts.is_empty(),
                "Ok without a single draft"
            );
            for d in &p.drafts {
                assert!(layers().get(d.layer).is_some(), "unknown layer: {d:?}");
                assert!(d.geometry.validate().is_ok(), "invalid geometry: {d:?}");
                let pts: &[[f64; 2]] = match &d.geometry {
                    Geometry::Point(p) => std::slice::from_ref(p),
                    Geometry::Line(l) => l,
                };
                for &[x, y] in pts {
                    assert!(
                        x.is_finite()
                            && y.is_finite()
                            && (-180.0..=180.0).contains(&x)
                            && (-90.0..=90.0).contains(&y),
                        "coordinate outside WGS84: {d:?}"
                    );
                }
                assert_eq!(&*d.source.file, label);
            }
            for rej in &p.rejects {
                assert_eq!(rej.file, label);
                assert!(!rej.field.is_empty() && !rej.reason.is_empty(), "{rej:?}");
                if format == Format::Csv {
                    assert!(rej.line >= 2, "{rej:?}");
                }
            }
            assert!(!opts.strict || p.rejects.is_empty());
        }
        Err(e) => {
            let msg = e.to_string();
            match e {
                ImportError::Options(_) => assert!(opts.mapping.delimiter.is_some(), "{msg}"),
                ImportError::Crs(_) => {
                    assert!(opts.crs.is_some(), "a CRS error from the file: {msg}")
                }
                _ => assert!(
                    msg.contains(label),
                    "the error does not name the file: {msg}"
                ),
            }
            if format == Format::Csv && !matches!(e, ImportError::Options(_) | ImportError::Crs(_))
            {
                assert!(
                    names_a_line(&msg) || CSV_HEADER_ERRORS.iter().any(|h| msg.contains(h)),
                    "a CSV error without a line number: {msg}"
                );
            }
        }
    }
}
