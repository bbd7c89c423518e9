//! Objects out: GeoJSON features (also used by the HTTP API), CSV rows and GeoPackage files.
//! Exports carry numbers, status and typed attributes so that `import` reads them back
//! unchanged (with the built-in `citytwin` mapping).

pub mod pmtiles;

use crate::access::AttrView;
use std::io::Write;
use std::path::Path;

use serde_json::{Value as Json, json};

use crate::model::{Geometry, LayerId, Layers, Object};
use crate::store::gpkg::{GpkgStore, attributes_json};
use crate::store::{Batch, Change, Store, StoreError, format_ms};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Geojson,
    Csv,
    Gpkg,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "geojson" | "json" => Some(Format::Geojson),
            "csv" => Some(Format::Csv),
            "gpkg" | "geopackage" => Some(Format::Gpkg),
            _ => None,
        }
    }
}

/// An export failure.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Write { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An object as a GeoJSON Feature: `id` is the stable object id; properties hold the painted
/// number in both scripts, layer, status and times, the source, and the typed attributes.
pub fn feature(o: &Object, layers: &Layers, width: u8, shown: AttrView<'_>) -> Json {
    let def = layers.def(o.layer);
    let attrs: serde_json::Map<String, Json> = o
        .attributes
        .iter()
        .filter(|(k, _)| shown.shows(k))
        .map(|(k, v)| (k.to_string(), v.to_json()))
        .collect();
    json!({
        "type": "Feature",
        "id": o.id,
        "geometry": o.geometry.to_geojson(),
        "properties": {
            "number": o.number.as_ref().map(|n| n.display(def, width)),
            "number_latin": o.number.as_ref().map(|n| n.latin(def, width)),
            "check_digit": o.number.as_ref().is_some_and(|n| n.has_check_digit()),
            "layer": def.name,
            "status": o.status.as_str(),
            "status_changed": format_ms(o.status_changed),
            "created": format_ms(o.created),
            "updated": format_ms(o.updated),
            "source_file": &*o.source.file,
            "source_id": &*o.source.id,
            "attributes": attrs,
        }
    })
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes objects (in id order) to `path` in `format`.
pub fn write(
    path: &Path,
    format: Format,
    objects: &[&Object],
    layers: &Layers,
    width: u8,
) -> Result<(), ExportError> {
    match format {
        Format::Geojson => write_geojson(path, objects, layers, width),
        Format::Csv => write_csv(path, objects, layers, width),
        Format::Gpkg => write_gpkg(path, objects, layers, width),
    }
}

fn write_geojson(
    path: &Path,
    objects: &[&Object],
    layers: &Layers,
    width: u8,
) -> Result<(), ExportError> {
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut w = std::io::BufWriter::new(file);
    w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")
        .map_err(io_err(path))?;
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            w.write_all(b",\n").map_err(io_err(path))?;
        }
        serde_json::to_writer(&mut w, &feature(o, layers, width, AttrView::All)).map_err(|e| {
            ExportError::Write {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        })?;
    }
    w.write_all(b"\n]}\n").map_err(io_err(path))?;
    w.flush().map_err(io_err(path))
}

/// CSV columns; `lon`/`lat` hold a point (or a line's middle vertex), `wkt` the full geometry.
const CSV_HEADER: [&str; 15] = [
    "id",
    "layer",
    "number",
    "number_latin",
    "check_digit",
    "status",
    "lon",
    "lat",
    "wkt",
    "status_changed",
    "created",
    "updated",
    "source_file",
    "source_id",
    "attributes",
];

fn write_csv(
    path: &Path,
    objects: &[&Object],
    layers: &Layers,
    width: u8,
) -> Result<(), ExportError> {
    let werr = |e: csv::Error| ExportError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut w = csv::Writer::from_path(path).map_err(werr)?;
    w.write_record(CSV_HEADER).map_err(werr)?;
    for o in objects {
        let def = layers.def(o.layer);
        let [lon, lat] = o.geometry.anchor();
        let wkt = match &o.geometry {
            Geometry::Point([x, y]) => format!("POINT({x} {y})"),
            Geometry::Line(pts) => format!("LINESTRING{}", wkt_ring(pts)),
            Geometry::Polygon(polygons) => format!(
                "MULTIPOLYGON({})",
                polygons
                    .iter()
                    .map(|p| format!(
                        "({})",
                        p.iter().map(|r| wkt_ring(r)).collect::<Vec<_>>().join(", ")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        w.write_record([
            o.id.to_string(),
            def.name.clone(),
            o.number
                .as_ref()
                .map(|n| n.display(def, width))
                .unwrap_or_default(),
            o.number
                .as_ref()
                .map(|n| n.latin(def, width))
                .unwrap_or_default(),
            o.number
                .as_ref()
                .is_some_and(|n| n.has_check_digit())
                .to_string(),
            o.status.as_str().to_string(),
            lon.to_string(),
            lat.to_string(),
            wkt,
            format_ms(o.status_changed),
            format_ms(o.created),
            format_ms(o.updated),
            o.source.file.to_string(),
            o.source.id.to_string(),
            attributes_json(&o.attributes),
        ])
        .map_err(werr)?;
    }
    w.flush().map_err(io_err(path))
}

/// `(x y, x y, …)`: a line's or a ring's positions in WKT.
fn wkt_ring(points: &[[f64; 2]]) -> String {
    let inner: Vec<String> = points.iter().map(|[x, y]| format!("{x} {y}")).collect();
    format!("({})", inner.join(", "))
}

/// A GeoPackage holding the exported layers only (same ids, numbers and columns as the store).
fn write_gpkg(
    path: &Path,
    objects: &[&Object],
    layers: &Layers,
    width: u8,
) -> Result<(), ExportError> {
    if path.exists() {
        return Err(ExportError::Write {
            path: path.display().to_string(),
            reason: "file exists; remove it or choose another name".into(),
        });
    }
    let used: std::collections::BTreeSet<LayerId> = objects.iter().map(|o| o.layer).collect();
    let defs: Vec<_> = used.iter().map(|l| layers.def(*l).clone()).collect();
    let out_layers = Layers::new(defs).map_err(|e| ExportError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut store = GpkgStore::open(path, &out_layers, width)?;
    let changes = objects
        .iter()
        .map(|o| {
            let mut o = (*o).clone();
            o.layer = out_layers.by_name(&layers.def(o.layer).name).unwrap_or(0);
            Change::Create(o)
        })
        .collect();
    store.reserve_ids(objects.iter().map(|o| o.id).max().unwrap_or(0) + 1)?;
    store.commit(&Batch {
        actor: "export".into(),
        action: "export".into(),
        summary: json!({"objects": objects.len()}),
        changes,
        history_per_create: false,
    })?;
    Ok(())
}
