//! What every import's outcome must satisfy beyond "it did not panic". Shared, as a source file,
//! by the cargo-fuzz targets (`fuzz/src/lib.rs`) and the property tests (`tests/fuzz.rs`).

use std::path::Path;

use citytwin::import::{Format, ImportError, Options, Parsed};
use citytwin::model::Layers;

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

/// Whether `msg` holds `line N` or `:N:` (a line number).
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

/// The first broken rule of an import of `path` with `opts`, if any: `Ok` holds only valid
/// objects in WGS84 range with their source; rejects name file, field, reason and a real line;
/// an error names the file (and, for CSV, the line, unless it is about the header).
pub fn violation(
    layers: &Layers,
    format: Format,
    path: &Path,
    opts: &Options,
    result: &Result<Parsed, ImportError>,
) -> Option<String> {
    let label = path.file_name()?.to_str()?;
    let fail = |m: String| Some(m);
    match result {
        Ok(p) => {
            // The OSM importer leaves an empty import to the registry to refuse; the others
            // refuse it themselves.
            if format != Format::Osm && p.drafts.is_empty() {
                return fail("Ok without a single draft".into());
            }
            for d in &p.drafts {
                if layers.get(d.layer).is_none() {
                    return fail(format!("unknown layer: {d:?}"));
                }
                if d.geometry.validate().is_err() {
                    return fail(format!("invalid geometry: {d:?}"));
                }
                let wgs84 = |&[x, y]: &[f64; 2]| {
                    x.is_finite()
                        && y.is_finite()
                        && (-180.0..=180.0).contains(&x)
                        && (-90.0..=90.0).contains(&y)
                };
                if !d.geometry.rings().flatten().all(wgs84) {
                    return fail(format!("coordinate outside WGS84: {d:?}"));
                }
                if &*d.source.file != label {
                    return fail(format!("source file {:?}, not {label:?}", d.source.file));
                }
                if d.source.id.is_empty() {
                    return fail(format!("no source id: {d:?}"));
                }
            }
            for r in &p.rejects {
                if r.file != label || r.field.is_empty() || r.reason.is_empty() {
                    return fail(format!("a reject without file, field or reason: {r:?}"));
                }
                let first_line = match format {
                    // Line 1 is the header.
                    Format::Csv => 2,
                    Format::Geojson | Format::Ofds => 1,
                    Format::Osm | Format::Gpkg => 0,
                };
                if r.line < first_line {
                    return fail(format!("a reject before line {first_line}: {r:?}"));
                }
            }
            if opts.strict && !p.rejects.is_empty() {
                return fail("strict import with rejects".into());
            }
        }
        Err(e) => {
            let msg = e.to_string();
            match e {
                // About the options, not the file.
                ImportError::Options(_) if opts.mapping.delimiter.is_none() => {
                    return fail(format!("an options error without bad options: {msg}"));
                }
                ImportError::Crs(_) if opts.crs.is_none() => {
                    return fail(format!(
                        "a CRS error that does not come from --crs must name the file: {msg}"
                    ));
                }
                ImportError::Options(_) | ImportError::Crs(_) => {}
                _ if !msg.contains(label) => {
                    return fail(format!("the error does not name the file: {msg}"));
                }
                _ => {}
            }
            if format == Format::Csv
                && !matches!(e, ImportError::Options(_) | ImportError::Crs(_))
                && !(names_a_line(&msg) || CSV_HEADER_ERRORS.iter().any(|h| msg.contains(h)))
            {
                return fail(format!("a CSV error without a line number: {msg}"));
            }
        }
    }
    None
}
