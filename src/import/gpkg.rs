//! GeoPackage importer: the features of one feature table of an OGC GeoPackage (as written by
//! QGIS, GDAL or citytwin's own export), opened read-only.
//!
//! Which table: the mapping's `table`; else the table named like the target layer; else the
//! only feature table; else a fatal error listing the tables. Which layer: `--layer`, else the
//! mapping's layer column, else the layer named like the table.
//!
//! The CRS comes from the geometry column's `srs_id` (looked up in `gpkg_spatial_ref_sys`;
//! 4326 and the "undefined geographic" 0 are WGS84) unless `--crs` is given, which wins.
//! Geometry blobs are decoded with geozero; Point / LineString (and single-part MultiPoint /
//! MultiLineString) are accepted. Columns become attributes as SQLite typed them (INTEGER → int,
//! BOOLEAN → bool, REAL → float, TEXT → cleaned text; blobs are left out).
//!
//! citytwin's own feature tables (`number`, `status`, `attributes` JSON, `source_file`,
//! `source_id`, …) are recognised and read back losslessly: number → painted number, status →
//! status, the attributes JSON object → attributes, source_file / source_id → source. The store's
//! bookkeeping columns (`serial`, `check_digit`, `status_changed`, `created`, `updated`,
//! `number_assigned`) are not imported.
//!
//! In rejects `line` is the feature's fid (its primary key), which is what QGIS shows.

use std::path::Path;
use std::sync::Arc;

use geozero::ToGeo;
use geozero::wkb::GpkgWkb;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::crs::Crs;
use super::csv::{
    AttrSpec, Plan, Role, clean_text, file_label, kind_mismatch, layer_named,
    merge_json_attributes, missing_fields_error, nothing_importable, pick_crs,
};
use super::{ImportError, Options, Parsed, RecordError, Reject};
use crate::model::{Attributes, Draft, Geometry, LayerId, Layers, Source, Status, Value};

/// Columns that mark a table written by citytwin's export.
const CITYTWIN_COLUMNS: [&str; 5] = ["number", "status", "attributes", "source_file", "source_id"];
/// citytwin bookkeeping columns that are not imported.
const CITYTWIN_BOOKKEEPING: [&str; 6] = [
    "serial",
    "check_digit",
    "status_changed",
    "created",
    "updated",
    "number_assigned",
];

/// One feature table as listed in `gpkg_geometry_columns`.
#[derive(Debug)]
struct FeatureTable {
    name: String,
    geom: String,
    srs_id: i64,
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// What a column is used for.
#[derive(Debug, Clone)]
enum Col {
    Geometry,
    Fid,
    /// Role from the mapping (number, name, status, id, layer, skip or attribute).
    Mapped(Role),
    CitytwinNumber,
    CitytwinStatus,
    CitytwinAttributes,
    CitytwinSourceFile,
    CitytwinSourceId,
}

/// A cell as plain text, or None when null, empty or a blob.
fn cell_text(v: ValueRef<'_>) -> Option<String> {
    let s = match v {
        ValueRef::Null | ValueRef::Blob(_) => return None,
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => clean_text(&String::from_utf8_lossy(t)).into_owned(),
    };
    (!s.is_empty()).then_some(s)
}

/// A cell as a typed attribute value.
fn cell_value(
    v: ValueRef<'_>,
    boolean: bool,
    spec: &AttrSpec,
    plan: &Plan,
) -> Option<(String, Value)> {
    let value = match v {
        ValueRef::Null | ValueRef::Blob(_) => return None,
        ValueRef::Integer(i) if boolean => Value::Bool(i != 0),
        ValueRef::Integer(i) if spec.text => Value::text(i.to_string()),
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) if f.is_finite() && !spec.text => Value::Float(f),
        ValueRef::Real(f) => Value::text(f.to_string()),
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            let c = clean_text(&s);
            if c.is_empty() {
                return None;
            }
            if spec.bools.is_some() {
                let (name, value) = plan.attr_value(spec, &c);
                return Some((name.to_string(), value));
            }
            Value::text(c.into_owned())
        }
    };
    Some((spec.name.clone(), value))
}

fn geometry_name(g: &geo_types::Geometry<f64>) -> &'static str {
    use geo_types::Geometry as G;
    match g {
        G::Point(_) => "Point",
        G::Line(_) => "Line",
        G::LineString(_) => "LineString",
        G::Polygon(_) => "Polygon",
        G::MultiPoint(_) => "MultiPoint",
        G::MultiLineString(_) => "MultiLineString",
        G::MultiPolygon(_) => "MultiPolygon",
        G::GeometryCollection(_) => "GeometryCollection",
        G::Rect(_) => "Rect",
        G::Triangle(_) => "Triangle",
    }
}

/// Decodes a GeoPackage geometry blob into a WGS84 point, line or polygons.
fn decode(blob: &[u8], crs: Option<&Crs>) -> Result<Geometry, String> {
    use geo_types::Geometry as G;
    let g = GpkgWkb(blob)
        .to_geo()
        .map_err(|e| format!("cannot decode the geometry blob: {e}"))?;
    let point = |c: geo_types::Coord<f64>| -> Result<[f64; 2], String> {
        match crs {
            None => Ok([c.x, c.y]),
            Some(crs) => crs.to_wgs84(c.x, c.y).map_err(|e| e.to_string()),
        }
    };
    let line = |l: &geo_types::LineString<f64>| -> Result<Geometry, String> {
        Ok(Geometry::Line(
            l.0.iter().map(|c| point(*c)).collect::<Result<_, _>>()?,
        ))
    };
    let polygons = |ps: &[geo_types::Polygon<f64>]| -> Result<Geometry, String> {
        let ring = |l: &geo_types::LineString<f64>| -> Result<Vec<[f64; 2]>, String> {
            l.0.iter().map(|c| point(*c)).collect()
        };
        Ok(Geometry::Polygon(
            ps.iter()
                .map(|p| {
                    std::iter::once(ring(p.exterior()))
                        .chain(p.interiors().iter().map(ring))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<_, _>>()?,
        ))
    };
    let geom = match &g {
        G::Point(p) => Geometry::Point(point(p.0)?),
        G::LineString(l) => line(l)?,
        G::Line(l) => Geometry::Line(vec![point(l.start)?, point(l.end)?]),
        G::MultiPoint(mp) if mp.0.len() == 1 => Geometry::Point(point(mp.0[0].0)?),
        G::MultiLineString(ml) if ml.0.len() == 1 => line(&ml.0[0])?,
        G::MultiPoint(mp) => {
            return Err(format!(
                "MultiPoint with {} parts cannot be imported: only a single point is accepted",
                mp.0.len()
            ));
        }
        G::MultiLineString(ml) => {
            return Err(format!(
                "MultiLineString with {} parts cannot be imported: only a single line is accepted",
                ml.0.len()
            ));
        }
        G::Polygon(p) => polygons(std::slice::from_ref(p))?,
        G::MultiPolygon(mp) => polygons(&mp.0)?,
        G::Rect(r) => polygons(&[r.to_polygon()])?,
        other => {
            return Err(format!(
                "geometry type {} cannot be imported (Point, LineString, Polygon or MultiPolygon expected)",
                geometry_name(other)
            ));
        }
    };
    geom.validate()?;
    Ok(geom)
}

/// Picks the feature table to read.
fn pick_table<'t>(
    tables: &'t [FeatureTable],
    layers: &Layers,
    opts: &Options,
    file: &str,
) -> Result<&'t FeatureTable, ImportError> {
    let names = || {
        tables
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(want) = &opts.mapping.table {
        return tables
            .iter()
            .find(|t| t.name == *want)
            .or_else(|| tables.iter().find(|t| t.name.eq_ignore_ascii_case(want)))
            .ok_or_else(|| {
                ImportError::file(
                    file,
                    format!(
                        "no feature table {want:?} (mapping `table`); feature tables: {}",
                        names()
                    ),
                )
            });
    }
    if let Some(layer) = opts.layer.and_then(|l| layers.get(l))
        && let Some(t) = tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(&layer.name))
    {
        return Ok(t);
    }
    match tables {
        [only] => Ok(only),
        _ => Err(ImportError::file(
            file,
            format!(
                "the GeoPackage has several feature tables and none is named like the target layer; \
                 name one with `table = \"…\"` in the mapping; feature tables: {}",
                names()
            ),
        )),
    }
}

/// The CRS code a geometry column's `srs_id` stands for, or None for WGS84.
fn srs_code(
    conn: &Connection,
    srs_id: i64,
    file: &str,
    cli: bool,
) -> Result<Option<String>, ImportError> {
    match srs_id {
        4326 | 0 => return Ok(Some("EPSG:4326".into())),
        -1 if !cli => {
            return Err(ImportError::file(
                file,
                "the geometry column's CRS is undefined (srs_id -1); give the CRS with --crs",
            ));
        }
        _ => {}
    }
    let org: Option<(String, i64)> = conn
        .query_row(
            "SELECT organization, organization_coordsys_id FROM gpkg_spatial_ref_sys WHERE srs_id = ?1",
            [srs_id],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
        )
        .ok();
    Ok(Some(match org {
        Some((o, id)) if o.eq_ignore_ascii_case("epsg") => format!("EPSG:{id}"),
        _ => format!("EPSG:{srs_id}"),
    }))
}

pub fn parse(path: &Path, layers: &Layers, opts: &Options) -> Result<Parsed, ImportError> {
    let shown = path.display().to_string();
    let label = file_label(path);
    std::fs::metadata(path).map_err(|e| ImportError::Io {
        file: shown.clone(),
        source: e,
    })?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| ImportError::file(&shown, format!("cannot open as a GeoPackage: {e}")))?;
    let sql =
        |e: rusqlite::Error| ImportError::file(&shown, format!("cannot read the GeoPackage: {e}"));

    let tables: Vec<FeatureTable> = {
        let mut stmt = conn
            .prepare(
                "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c \
                 JOIN gpkg_geometry_columns g ON g.table_name = c.table_name \
                 WHERE c.data_type = 'features' ORDER BY c.table_name",
            )
            .map_err(|e| {
                ImportError::file(
                    &shown,
                    format!("not a GeoPackage (no gpkg_contents / gpkg_geometry_columns): {e}"),
                )
            })?;
        stmt.query_map([], |r| {
            Ok(FeatureTable {
                name: r.get(0)?,
                geom: r.get(1)?,
                srs_id: r.get(2)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<_, _>>())
        .map_err(sql)?
    };
    if tables.is_empty() {
        return Err(ImportError::file(
            &shown,
            "the GeoPackage has no feature tables",
        ));
    }
    let table = pick_table(&tables, layers, opts, &shown)?;

    // Layer: --layer, else a layer column, else the layer named like the table.
    let fixed_layer: Option<LayerId> = match (opts.layer, &opts.mapping.layer) {
        (Some(l), _) => Some(l),
        (None, Some(_)) => None,
        (None, None) => Some(layers.by_name(&table.name.to_lowercase()).ok_or_else(|| {
            ImportError::file(
                &shown,
                format!(
                    "no layer: give --layer, or map a layer column; table {:?} is not named like a layer",
                    table.name
                ),
            )
        })?),
    };

    let declared = srs_code(&conn, table.srs_id, &shown, opts.crs.is_some())?;
    let crs = pick_crs(&shown, opts.crs.as_deref(), declared.as_deref(), false)?;

    // Columns: name, declared type, primary key.
    let info: Vec<(String, String, bool)> = {
        let mut stmt = conn
            .prepare(&format!("PRAGMA table_info({})", quote(&table.name)))
            .map_err(sql)?;
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(5)? == 1,
            ))
        })
        .and_then(|rows| rows.collect::<Result<_, _>>())
        .map_err(sql)?
    };
    if info.is_empty() {
        return Err(ImportError::file(
            &shown,
            format!("feature table {:?} does not exist", table.name),
        ));
    }
    let plan = Plan::new(&opts.mapping);
    let names: Vec<String> = info.iter().map(|(n, ..)| n.clone()).collect();
    let missing = plan.missing(names.iter().map(String::as_str), false);
    if !missing.is_empty() {
        return Err(missing_fields_error(
            &shown, "column", "columns", &missing, &names,
        ));
    }
    let lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
    let citytwin = CITYTWIN_COLUMNS
        .iter()
        .all(|c| lower.iter().any(|n| n == c));

    let cols: Vec<(Col, bool)> = info
        .iter()
        .zip(&lower)
        .map(|((name, decl, pk), low)| {
            let role = plan.role(name, false);
            let boolean = decl.eq_ignore_ascii_case("BOOLEAN");
            let col = if name.eq_ignore_ascii_case(&table.geom) {
                Col::Geometry
            } else if *pk && matches!(role, Role::Attr(_) | Role::Skip) {
                Col::Fid
            } else if citytwin && matches!(role, Role::Attr(_)) {
                match low.as_str() {
                    "number" => Col::CitytwinNumber,
                    "status" => Col::CitytwinStatus,
                    "attributes" => Col::CitytwinAttributes,
                    "source_file" => Col::CitytwinSourceFile,
                    "source_id" => Col::CitytwinSourceId,
                    l if CITYTWIN_BOOKKEEPING.contains(&l) => Col::Mapped(Role::Skip),
                    _ => Col::Mapped(role),
                }
            } else {
                Col::Mapped(role)
            };
            (col, boolean)
        })
        .collect();

    let select = format!("SELECT rowid, * FROM {} ORDER BY rowid", quote(&table.name));
    let mut stmt = conn.prepare(&select).map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let file_arc: Arc<str> = Arc::from(label.as_str());
    let mut out = Parsed::default();
    while let Some(row) = rows.next().map_err(sql)? {
        let fid: i64 = row.get(0).map_err(sql)?;
        let values: Vec<ValueRef<'_>> = (0..cols.len())
            .map(|i| row.get_ref(i + 1))
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        let feature = FeatureRow {
            values: &values,
            cols: &cols,
            names: &names,
            plan: &plan,
            layers,
            file: &shown,
            fid,
        };
        match feature.draft(fixed_layer, crs.as_ref(), &file_arc) {
            Ok(d) => out.drafts.push(d),
            Err(RecordError::Fatal(e)) => return Err(e),
            Err(RecordError::Reject(field, reason)) => out.rejects.push(Reject {
                file: label.clone(),
                line: u64::try_from(fid).unwrap_or(0),
                field,
                reason,
                raw: feature.raw(),
            }),
        }
    }
    if out.drafts.is_empty() {
        return Err(nothing_importable(&shown, "fid", &out.rejects));
    }
    Ok(out)
}

struct FeatureRow<'a> {
    values: &'a [ValueRef<'a>],
    cols: &'a [(Col, bool)],
    names: &'a [String],
    plan: &'a Plan<'a>,
    layers: &'a Layers,
    file: &'a str,
    fid: i64,
}

impl FeatureRow<'_> {
    /// The row as `column=value` pairs for the rejects report.
    fn raw(&self) -> String {
        let mut parts = vec![format!("fid={}", self.fid)];
        for (i, v) in self.values.iter().enumerate() {
            let shown = match (&self.cols[i].0, v) {
                (Col::Fid, _) => continue,
                (_, ValueRef::Blob(b)) => match GpkgWkb(b).to_geo() {
                    Ok(g) => format!("<{}>", geometry_name(&g)),
                    Err(_) => format!("<blob of {} bytes>", b.len()),
                },
                (_, v) => match cell_text(*v) {
                    Some(t) => t,
                    None => continue,
                },
            };
            parts.push(format!("{}={shown}", self.names[i]));
        }
        parts.join("; ")
    }

    fn draft(
        &self,
        fixed_layer: Option<LayerId>,
        crs: Option<&Crs>,
        file: &Arc<str>,
    ) -> Result<Draft, RecordError> {
        let mut layer = fixed_layer;
        let mut blob: Option<(usize, &[u8])> = None;
        let mut status = Status::Unknown;
        let mut status_err = None;
        let mut number = None;
        let mut id = None;
        let mut source_file = None;
        let mut source_id = None;
        let mut attributes = Attributes::new();
        let mut extra = Attributes::new();
        let parse_status = |i: usize, t: &str| {
            Status::parse(t).ok_or_else(|| {
                (
                    self.names[i].clone(),
                    format!(
                        "unknown status {t:?}; expected ok, broken, closed, removed or unknown \
                         (English or Ukrainian)"
                    ),
                )
            })
        };
        for (i, ((col, boolean), v)) in self.cols.iter().zip(self.values).enumerate() {
            match col {
                Col::Fid => {}
                Col::Geometry => match v {
                    ValueRef::Blob(b) => blob = Some((i, b)),
                    ValueRef::Null => {}
                    _ => {
                        return Err(RecordError::Reject(
                            self.names[i].clone(),
                            "the geometry column does not hold a geometry blob".into(),
                        ));
                    }
                },
                Col::CitytwinNumber | Col::Mapped(Role::Number) => number = cell_text(*v),
                Col::CitytwinStatus | Col::Mapped(Role::Status) => {
                    if let Some(t) = cell_text(*v) {
                        match parse_status(i, &t) {
                            Ok(s) => status = s,
                            Err(e) => status_err = Some(e),
                        }
                    }
                }
                Col::CitytwinAttributes | Col::Mapped(Role::Attributes) => {
                    // Not cleaned: the JSON is read back exactly as citytwin wrote it.
                    if let ValueRef::Text(t) = v {
                        let json =
                            serde_json::Value::String(String::from_utf8_lossy(t).into_owned());
                        merge_json_attributes(&mut attributes, &json)
                            .map_err(|e| RecordError::Reject(self.names[i].clone(), e))?;
                    }
                }
                Col::CitytwinSourceFile => source_file = cell_text(*v),
                Col::CitytwinSourceId => source_id = cell_text(*v),
                Col::Mapped(Role::Id) => id = cell_text(*v),
                Col::Mapped(Role::Name) => {
                    if let Some(t) = cell_text(*v) {
                        extra.insert("name".into(), Value::text(t));
                    }
                }
                Col::Mapped(Role::Layer) => {
                    if let Some(t) = cell_text(*v) {
                        layer = Some(
                            layer_named(
                                self.layers,
                                &t,
                                self.file,
                                u64::try_from(self.fid).unwrap_or(0),
                                &self.names[i],
                            )
                            .map_err(RecordError::Fatal)?,
                        );
                    }
                }
                Col::Mapped(Role::Skip | Role::Lon | Role::Lat) => {}
                Col::Mapped(Role::Attr(spec)) => {
                    if let Some((k, v)) = cell_value(*v, *boolean, spec, self.plan) {
                        extra.insert(k, v);
                    }
                }
            }
        }
        // Columns added next to citytwin's JSON attributes (e.g. in QGIS) win.
        attributes.extend(extra);
        let Some(layer) = layer else {
            return Err(RecordError::Reject(
                self.plan
                    .mapping()
                    .layer
                    .clone()
                    .unwrap_or_else(|| "layer".into()),
                "the layer is empty".into(),
            ));
        };
        let geom_field = self
            .cols
            .iter()
            .position(|(c, _)| matches!(c, Col::Geometry))
            .map_or("geometry", |i| self.names[i].as_str());
        let Some((_, blob)) = blob else {
            return Err(RecordError::Reject(
                geom_field.into(),
                "the feature has no geometry (null)".into(),
            ));
        };
        let geometry = decode(blob, crs).map_err(|e| RecordError::Reject(geom_field.into(), e))?;
        if let Some(why) = kind_mismatch(self.layers, layer, &geometry) {
            return Err(RecordError::Reject(geom_field.into(), why));
        }
        if let Some((field, reason)) = status_err {
            return Err(RecordError::Reject(field, reason));
        }
        let id = id
            .or(source_id)
            .unwrap_or_else(|| format!("fid:{}", self.fid));
        Ok(Draft {
            layer,
            geometry,
            status,
            attributes,
            source: Source {
                file: source_file.map_or_else(|| file.clone(), Arc::from),
                id: id.into(),
            },
            source_number: number,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::Mapping;
    use crate::import::test_support::opts;
    use geozero::CoordDimensions;
    use geozero::ToWkb;

    fn blob(g: geo_types::Geometry<f64>, srs: i32) -> Vec<u8> {
        g.to_gpkg_wkb(CoordDimensions::xy(), Some(srs), Vec::new())
            .unwrap()
    }

    fn point(x: f64, y: f64) -> geo_types::Geometry<f64> {
        geo_types::Geometry::Point(geo_types::Point::new(x, y))
    }

    /// A small GeoPackage: a citytwin-style `poles` table (WGS84), a QGIS-style `qgis_cams`
    /// table in UTM 36N, and a `mixed` table with a point, a line and a polygon.
    fn make_gpkg(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("city.gpkg");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            r#"
            PRAGMA application_id = 1196444487;
            CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
                organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
                definition TEXT NOT NULL, description TEXT);
            INSERT INTO gpkg_spatial_ref_sys VALUES
                ('WGS 84', 4326, 'EPSG', 4326, 'GEOGCS["WGS 84"]', NULL),
                ('WGS 84 / UTM zone 36N', 900, 'EPSG', 32636, 'PROJCS["WGS 84 / UTM zone 36N"]', NULL);
            CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
                identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME,
                min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
            CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
                geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL,
                m TINYINT NOT NULL, PRIMARY KEY (table_name, column_name));
            INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES
                ('poles', 'features', 'poles', 4326),
                ('qgis_cams', 'features', 'qgis_cams', 900),
                ('mixed', 'features', 'mixed', 4326),
                ('notes', 'attributes', 'notes', NULL);
            INSERT INTO gpkg_geometry_columns VALUES
                ('poles', 'geom', 'POINT', 4326, 0, 0),
                ('qgis_cams', 'shape', 'POINT', 900, 0, 0),
                ('mixed', 'geom', 'GEOMETRY', 4326, 0, 0);
            CREATE TABLE poles (fid INTEGER PRIMARY KEY, geom BLOB, number TEXT, check_digit INTEGER,
                status TEXT, status_changed TEXT, attributes TEXT, source_file TEXT, source_id TEXT,
                created TEXT, updated TEXT, inspector TEXT);
            CREATE TABLE qgis_cams (id INTEGER PRIMARY KEY AUTOINCREMENT, shape BLOB, "Назва" TEXT,
                height REAL, lit BOOLEAN, lens INTEGER, note TEXT, photo BLOB);
            CREATE TABLE mixed (fid INTEGER PRIMARY KEY, geom BLOB, name TEXT);
            CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);
            "#,
        )
        .unwrap();
        let attrs =
            r#"{"height":9.5,"lamps":2,"lit":true,"material":"сталь  оцинкована","name":"Pole A"}"#;
        c.execute(
            "INSERT INTO poles VALUES (7, ?1, 'ОП-000017-3', 3, 'broken', '2024-05-01', ?2, 'kyiv.osm.pbf', \
             'node/123', '2024-01-01', '2024-05-01', 'Petrenko')",
            rusqlite::params![blob(point(30.5234, 50.4501), 4326), attrs],
        )
        .unwrap();
        c.execute(
            "INSERT INTO poles VALUES (8, ?1, NULL, NULL, 'unknown', NULL, '{}', NULL, NULL, NULL, NULL, NULL)",
            [blob(point(30.6, 50.5), 4326)],
        )
        .unwrap();
        c.execute(
            "INSERT INTO qgis_cams (shape, \"Назва\", height, lit, lens, note, photo) \
             VALUES (?1, ' Камера  1 ', 4.5, 1, 12, '', x'00ff')",
            [blob(point(324182.209, 5591607.608), 4326)],
        )
        .unwrap();
        let line = geo_types::Geometry::LineString(vec![(30.5, 50.4), (30.6, 50.5)].into());
        let poly = geo_types::Geometry::Polygon(geo_types::Polygon::new(
            vec![(30.0, 50.0), (31.0, 50.0), (31.0, 51.0), (30.0, 50.0)].into(),
            vec![],
        ));
        for (fid, g) in [(1, point(30.5, 50.4)), (2, line), (3, poly)] {
            c.execute(
                "INSERT INTO mixed VALUES (?1, ?2, 'x')",
                rusqlite::params![fid, blob(g, 4326)],
            )
            .unwrap();
        }
        c.execute("INSERT INTO mixed VALUES (4, NULL, 'no geometry')", [])
            .unwrap();
        path
    }

    #[test]
    fn citytwin_table_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = make_gpkg(dir.path());
        let layers = Layers::default_city();
        let p = parse(
            &path,
            &layers,
            &opts(&layers, Some("poles"), Mapping::default()),
        )
        .unwrap();
        assert_eq!(p.drafts.len(), 2, "{:?}", p.rejects);
        let d = &p.drafts[0];
        assert_eq!(d.layer, layers.by_name("poles").unwrap());
        assert_eq!(d.geometry, Geometry::Point([30.5234, 50.4501]));
        assert_eq!(d.source_number.as_deref(), Some("ОП-000017-3"));
        assert_eq!(d.status, Status::Broken);
        assert_eq!(&*d.source.file, "kyiv.osm.pbf");
        assert_eq!(&*d.source.id, "node/123");
        let mut want = Attributes::new();
        want.insert("height".into(), Value::Float(9.5));
        want.insert("lamps".into(), Value::Int(2));
        want.insert("lit".into(), Value::Bool(true));
        want.insert("material".into(), Value::Text("сталь  оцинкована".into()));
        want.insert("name".into(), Value::Text("Pole A".into()));
        want.insert("inspector".into(), Value::Text("Petrenko".into()));
        assert_eq!(d.attributes, want);
        let d = &p.drafts[1];
        assert_eq!(d.source_number, None);
        assert_eq!(&*d.source.file, "city.gpkg");
        assert_eq!(&*d.source.id, "fid:8");
        assert!(d.attributes.is_empty());

        // Without --layer the table name gives the layer.
        let m = Mapping {
            table: Some("poles".into()),
            ..Mapping::default()
        };
        let p = parse(&path, &layers, &opts(&layers, None, m)).unwrap();
        assert_eq!(p.drafts[0].layer, layers.by_name("poles").unwrap());
    }

    #[test]
    fn qgis_table_in_utm() {
        let dir = tempfile::tempdir().unwrap();
        let path = make_gpkg(dir.path());
        let layers = Layers::default_city();
        let m = Mapping {
            table: Some("qgis_cams".into()),
            name: Some("назва".into()),
            rename: [("lens".to_string(), "lens_mm".to_string())].into(),
            ..Mapping::default()
        };
        let p = parse(&path, &layers, &opts(&layers, Some("cameras"), m)).unwrap();
        assert_eq!(p.drafts.len(), 1);
        let d = &p.drafts[0];
        let [lon, lat] = d.geometry.anchor();
        assert!(
            (lon - 30.5234).abs() < 1e-5 && (lat - 50.4501).abs() < 1e-5,
            "{lon} {lat}"
        );
        assert_eq!(&*d.source.id, "fid:1");
        let mut want = Attributes::new();
        want.insert("name".into(), Value::Text("Камера 1".into()));
        want.insert("height".into(), Value::Float(4.5));
        want.insert("lit".into(), Value::Bool(true));
        want.insert("lens_mm".into(), Value::Int(12));
        assert_eq!(d.attributes, want);
    }

    #[test]
    fn wrong_geometries_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = make_gpkg(dir.path());
        let layers = Layers::default_city();
        let m = Mapping {
            table: Some("mixed".into()),
            ..Mapping::default()
        };
        let p = parse(&path, &layers, &opts(&layers, Some("poles"), m)).unwrap();
        assert_eq!(p.drafts.len(), 1);
        let got: Vec<(u64, &str, &str)> = p
            .rejects
            .iter()
            .map(|r| (r.line, r.field.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got[0].0 == 2 && got[0].1 == "geom" && got[0].2.contains("layer poles holds points")
        );
        // A polygon imports where a layer holds polygons; poles hold points.
        assert!(got[1].0 == 3 && got[1].2.contains("holds points, the record has polygons"));
        assert!(got[2].0 == 4 && got[2].2.contains("no geometry"));
        assert_eq!(p.rejects[0].raw, "fid=2; geom=<LineString>; name=x");
    }

    #[test]
    fn table_choice_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = make_gpkg(dir.path());
        let layers = Layers::default_city();
        let m = Mapping {
            table: Some("nope".into()),
            ..Mapping::default()
        };
        let e = parse(&path, &layers, &opts(&layers, Some("poles"), m))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no feature table \"nope\"") && e.contains("mixed, poles, qgis_cams"),
            "{e}"
        );
        let e = parse(
            &path,
            &layers,
            &opts(&layers, Some("trees"), Mapping::default()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("several feature tables") && e.contains("mixed, poles, qgis_cams"),
            "{e}"
        );
        let m = Mapping {
            table: Some("mixed".into()),
            number: Some("ref".into()),
            ..Mapping::default()
        };
        let e = parse(&path, &layers, &opts(&layers, Some("poles"), m))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"ref\"") && e.contains("columns in the file: fid, geom, name"),
            "{e}"
        );
        let junk = dir.path().join("junk.gpkg");
        std::fs::write(&junk, "not a database at all, just text").unwrap();
        let e = parse(
            &junk,
            &layers,
            &opts(&layers, Some("poles"), Mapping::default()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("GeoPackage"), "{e}");
        let e = parse(
            &dir.path().join("missing.gpkg"),
            &layers,
            &opts(&layers, Some("poles"), Mapping::default()),
        )
        .unwrap_err();
        assert!(matches!(e, ImportError::Io { .. }), "{e}");
    }
}
