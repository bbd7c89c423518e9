//! GeoJSON importer: a FeatureCollection, a single Feature, or a sequence of features (one per
//! line, or RFC 8142 record-separated).
//!
//! Point and LineString geometries are imported (a MultiPoint with one point and a
//! MultiLineString with one part too); properties become typed attributes through the mapping.
//! An old-style `crs` member naming a CRS is honoured unless `--crs` is given; a different
//! `--crs` is a fatal conflict. In rejects and errors `line` is the feature's 1-based index.
//!
//! JSON allows numbers too large for a double (`1e400`); serde_json refuses them, so such a file
//! is read a second time with those numbers turned into strings, and a coordinate that is one is
//! rejected as out of range instead of failing the whole file.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;

use super::crs::Crs;
use super::csv::{
    Plan, Role, clean_text, file_label, json_attr, json_error, json_text, kind_mismatch,
    layer_named, merge_json_attributes, missing_fields_error, nothing_importable, pick_crs,
    read_utf8,
};
use super::{ImportError, Options, Parsed, RecordError, Reject};
use crate::model::{Attributes, Draft, Geometry, LayerId, Layers, Source, Status, Value};

/// Parses JSON text into its top-level values (one for a document, several for a sequence).
/// Record separators (RS, U+001E) are treated as whitespace.
/// Reads a JSON file (or a sequence of JSON texts): the path as shown in messages, the file
/// name for sources, and the values.
pub(super) fn read_json_file(path: &Path) -> Result<(String, Arc<str>, Vec<Json>), ImportError> {
    let shown = path.display().to_string();
    let source_file: Arc<str> = Arc::from(file_label(path).as_str());
    let text = read_utf8(path)?;
    let docs = parse_json_values(&text, &shown)?;
    Ok((shown, source_file, docs))
}

pub(super) fn parse_json_values(text: &str, file: &str) -> Result<Vec<Json>, ImportError> {
    let read = |t: &str| -> Result<Vec<Json>, serde_json::Error> {
        serde_json::Deserializer::from_str(t)
            .into_iter::<Json>()
            .collect()
    };
    let text: std::borrow::Cow<str> = if text.contains('\u{1e}') {
        text.replace('\u{1e}', " ").into()
    } else {
        text.into()
    };
    match read(&text) {
        Ok(v) => Ok(v),
        Err(e) if e.to_string().starts_with("number out of range") => {
            read(&quote_huge_numbers(&text)).map_err(|_| json_error(file, &e))
        }
        Err(e) => Err(json_error(file, &e)),
    }
}

/// Wraps every JSON number that does not fit a double (`1e400`) in quotes.
fn quote_huge_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '-' || c.is_ascii_digit() {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-') {
                    end = j + 1;
                    chars.next();
                } else {
                    break;
                }
            }
            let token = &text[i..end];
            if token.parse::<f64>().is_ok_and(|f| f.is_infinite()) {
                out.push('"');
                out.push_str(token);
                out.push('"');
            } else {
                out.push_str(token);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The CRS named by a GeoJSON (2008) `crs` member, or by an OFDS `crs` object.
pub(super) fn declared_crs(v: &Json, file: &str) -> Result<Option<String>, ImportError> {
    let Some(crs) = v.get("crs") else {
        return Ok(None);
    };
    if crs.is_null() {
        return Ok(None);
    }
    let props = crs.get("properties").unwrap_or(crs);
    if let Some(name) = props.get("name").and_then(Json::as_str) {
        return Ok(Some(name.to_string()));
    }
    if let Some(code) = props.get("code").and_then(json_text) {
        return Ok(Some(format!("EPSG:{code}")));
    }
    Err(ImportError::file(
        file,
        format!("cannot read the `crs` member {crs}; give the CRS with --crs"),
    ))
}

/// Why a geometry could not be read: `(field, reason)`.
pub(super) type GeomError = (String, String);

fn geom_err(reason: impl Into<String>) -> GeomError {
    ("geometry".to_string(), reason.into())
}

/// One position `[x, y, (z…)]`, transformed to WGS84.
fn position(v: &Json, crs: Option<&Crs>) -> Result<[f64; 2], GeomError> {
    let arr = v.as_array().filter(|a| a.len() >= 2).ok_or_else(|| {
        geom_err(format!(
            "a position must be an array of 2 or 3 numbers, got {v}"
        ))
    })?;
    let num = |c: &Json| -> Result<f64, GeomError> {
        match c {
            Json::Number(n) => n
                .as_f64()
                .ok_or_else(|| geom_err(format!("coordinate {n} is not a number"))),
            Json::String(s) if s.parse::<f64>().is_ok_and(f64::is_infinite) => Err(geom_err(
                format!("coordinate {s} is out of range (too large for a number)"),
            )),
            other => Err(geom_err(format!("coordinate {other} is not a number"))),
        }
    };
    let (x, y) = (num(&arr[0])?, num(&arr[1])?);
    match crs {
        None => Ok([x, y]),
        Some(c) => c.to_wgs84(x, y).map_err(|e| geom_err(e.to_string())),
    }
}

fn line(v: &Json, crs: Option<&Crs>) -> Result<Geometry, GeomError> {
    let pts = v
        .as_array()
        .ok_or_else(|| geom_err("LineString coordinates must be an array of positions"))?;
    Ok(Geometry::Line(
        pts.iter()
            .map(|p| position(p, crs))
            .collect::<Result<_, _>>()?,
    ))
}

/// A polygon's rings (exterior, then holes) as positions in WGS84.
fn polygon(v: &Json, crs: Option<&Crs>) -> Result<Vec<Vec<[f64; 2]>>, GeomError> {
    v.as_array()
        .ok_or_else(|| geom_err("Polygon coordinates must be an array of rings"))?
        .iter()
        .map(|ring| {
            ring.as_array()
                .ok_or_else(|| geom_err("a ring must be an array of positions"))?
                .iter()
                .map(|p| position(p, crs))
                .collect()
        })
        .collect()
}

/// Reads a GeoJSON geometry object as a point, a line or polygons in WGS84 and validates it.
pub(super) fn geometry(g: Option<&Json>, crs: Option<&Crs>) -> Result<Geometry, GeomError> {
    let g = match g {
        None | Some(Json::Null) => return Err(geom_err("the feature has no geometry (null)")),
        Some(g) => g,
    };
    let kind = g.get("type").and_then(Json::as_str).unwrap_or("");
    let coords = g.get("coordinates");
    let coords = match (kind, coords) {
        ("GeometryCollection", _) => {
            return Err(geom_err(format!(
                "geometry type {kind} cannot be imported (Point, LineString, Polygon or MultiPolygon expected)"
            )));
        }
        (_, Some(c)) => c,
        (_, None) => return Err(geom_err(format!("geometry {kind:?} has no coordinates"))),
    };
    let geom = match kind {
        "Point" => Geometry::Point(position(coords, crs)?),
        "LineString" => line(coords, crs)?,
        "MultiPoint" | "MultiLineString" => {
            let parts = coords
                .as_array()
                .ok_or_else(|| geom_err(format!("{kind} coordinates must be an array")))?;
            if parts.len() != 1 {
                return Err(geom_err(format!(
                    "{kind} with {} parts cannot be imported: only a single {} is accepted",
                    parts.len(),
                    if kind == "MultiPoint" {
                        "point"
                    } else {
                        "line"
                    }
                )));
            }
            if kind == "MultiPoint" {
                Geometry::Point(position(&parts[0], crs)?)
            } else {
                line(&parts[0], crs)?
            }
        }
        "Polygon" => Geometry::Polygon(vec![polygon(coords, crs)?]),
        "MultiPolygon" => Geometry::Polygon(
            coords
                .as_array()
                .ok_or_else(|| geom_err("MultiPolygon coordinates must be an array of polygons"))?
                .iter()
                .map(|p| polygon(p, crs))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(geom_err(format!(
                "geometry type {other:?} cannot be imported (Point, LineString, Polygon or MultiPolygon expected)"
            )));
        }
    };
    geom.validate().map_err(geom_err)?;
    Ok(geom)
}

/// Compact JSON of a record for the rejects report, cut to a readable length.
pub(super) fn raw_json(v: &Json) -> String {
    let mut s = v.to_string();
    if s.len() > 2000 {
        let mut cut = 2000;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

pub fn parse(path: &Path, layers: &Layers, opts: &Options) -> Result<Parsed, ImportError> {
    let (shown, source_file, docs) = read_json_file(path)?;

    // Collect the features and the declared CRS.
    let mut features: Vec<&Json> = Vec::new();
    let mut declared: Option<String> = None;
    for doc in &docs {
        let kind = doc.get("type").and_then(Json::as_str).unwrap_or("");
        match kind {
            "FeatureCollection" => {
                let fs = doc
                    .get("features")
                    .and_then(Json::as_array)
                    .ok_or_else(|| {
                        ImportError::file(&shown, "a FeatureCollection without a `features` array")
                    })?;
                features.extend(fs.iter());
            }
            "Feature" => features.push(doc),
            _ => {
                let hint = if doc.get("networks").is_some() {
                    " (this looks like an OFDS network package: use --format ofds)"
                } else {
                    ""
                };
                let got = if kind.is_empty() {
                    "no `type`".to_string()
                } else {
                    format!("type {kind:?}")
                };
                return Err(ImportError::file(
                    &shown,
                    format!(
                        "not GeoJSON: expected a FeatureCollection or Features, got {got}{hint}"
                    ),
                ));
            }
        }
        if declared.is_none() {
            declared = declared_crs(doc, &shown)?;
        }
    }
    let crs = pick_crs(&shown, opts.crs.as_deref(), declared.as_deref(), true)?;

    let plan = Plan::new(&opts.mapping);
    // A mapped property that no feature has is a mistake in the mapping.
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for f in &features {
        if let Some(p) = f.get("properties").and_then(Json::as_object) {
            seen.extend(p.keys().map(String::as_str));
        }
    }
    let missing = plan.missing(seen.iter().copied(), false);
    if !missing.is_empty() {
        let existing: Vec<String> = seen.iter().map(|s| s.to_string()).collect();
        return Err(missing_fields_error(
            &shown,
            "property",
            "properties",
            &missing,
            &existing,
        ));
    }
    if opts.mapping.layer.is_none() && opts.layer.is_none() {
        return Err(ImportError::file(
            &shown,
            "no layer: give --layer, or map a layer property in the mapping (`layer = \"…\"`)",
        ));
    }

    let mut roles: HashMap<&str, Role> = HashMap::new();
    let mut out = Parsed::default();
    for (i, f) in features.iter().enumerate() {
        let n = i as u64 + 1;
        if f.get("type").and_then(Json::as_str) != Some("Feature") {
            out.rejects.push(Reject {
                file: source_file.to_string(),
                line: n,
                field: "type".into(),
                reason: "not a Feature".into(),
                raw: raw_json(f),
            });
            continue;
        }
        let mut feature = Feature {
            json: f,
            index: n,
            file: &shown,
            layers,
            opts,
            plan: &plan,
            roles: &mut roles,
        };
        match feature.draft(crs.as_ref(), &source_file) {
            Ok(d) => out.drafts.push(d),
            Err(RecordError::Fatal(e)) => return Err(e),
            Err(RecordError::Reject(field, reason)) => out.rejects.push(Reject {
                file: source_file.to_string(),
                line: n,
                field,
                reason,
                raw: raw_json(f),
            }),
        }
    }
    if out.drafts.is_empty() {
        return Err(nothing_importable(&shown, "feature", &out.rejects));
    }
    Ok(out)
}

struct Feature<'a, 'j> {
    json: &'j Json,
    index: u64,
    file: &'a str,
    layers: &'a Layers,
    opts: &'a Options,
    plan: &'a Plan<'a>,
    roles: &'a mut HashMap<&'j str, Role>,
}

impl<'j> Feature<'_, 'j> {
    fn draft(&mut self, crs: Option<&Crs>, source_file: &Arc<str>) -> Result<Draft, RecordError> {
        let json: &'j Json = self.json;
        let props: &'j serde_json::Map<String, Json> = match json.get("properties") {
            Some(Json::Object(m)) => m,
            None | Some(Json::Null) => empty_map(),
            Some(other) => {
                return Err(RecordError::Reject(
                    "properties".into(),
                    format!("`properties` must be an object, got {other}"),
                ));
            }
        };
        let mut layer: Option<LayerId> = None;
        let mut status = Status::Unknown;
        let mut number = None;
        let mut id = None;
        let mut attributes = Attributes::new();
        let mut status_err = None;
        let mut json_attrs = None;
        for (k, v) in props {
            let role = self
                .roles
                .entry(k.as_str())
                .or_insert_with(|| self.plan.role(k, false))
                .clone();
            match role {
                Role::Layer => {
                    if let Some(name) = json_text(v) {
                        layer = Some(
                            layer_named(self.layers, &name, self.file, self.index, k)
                                .map_err(RecordError::Fatal)?,
                        );
                    }
                }
                Role::Status => {
                    if let Some(s) = json_text(v) {
                        match Status::parse(&s) {
                            Some(s) => status = s,
                            None => {
                                status_err = Some((
                                    k.clone(),
                                    format!(
                                        "unknown status {s:?}; expected ok, broken, closed, removed or \
                                         unknown (English or Ukrainian)"
                                    ),
                                ))
                            }
                        }
                    }
                }
                Role::Number => number = json_text(v),
                Role::Id => id = json_text(v),
                Role::Name => {
                    if let Some(name) = json_text(v) {
                        attributes.insert("name".into(), Value::text(name));
                    }
                }
                Role::Attributes => json_attrs = Some((k, v)),
                Role::Skip | Role::Lon | Role::Lat => {}
                Role::Attr(spec) => {
                    if spec.bools.is_some() || spec.text {
                        if let Some(t) = json_text(v) {
                            let (name, value) = self.plan.attr_value(&spec, &t);
                            attributes.set(name, value);
                        }
                    } else if let Some(value) = json_attr(v) {
                        attributes.insert(spec.name, value);
                    }
                }
            }
        }
        let layer = match layer.or(self.opts.layer) {
            Some(l) => l,
            None => {
                return Err(RecordError::Reject(
                    self.opts
                        .mapping
                        .layer
                        .clone()
                        .unwrap_or_else(|| "layer".into()),
                    "no layer: the layer property is empty (give --layer for features without one)"
                        .into(),
                ));
            }
        };
        let geometry =
            geometry(self.json.get("geometry"), crs).map_err(|(f, r)| RecordError::Reject(f, r))?;
        if let Some(why) = kind_mismatch(self.layers, layer, &geometry) {
            return Err(RecordError::Reject("geometry".into(), why));
        }
        if let Some((field, reason)) = status_err {
            return Err(RecordError::Reject(field, reason));
        }
        if let Some((k, v)) = json_attrs {
            merge_json_attributes(&mut attributes, v)
                .map_err(|e| RecordError::Reject(k.clone(), e))?;
        }
        let id = id
            .or_else(|| self.json.get("id").and_then(json_text))
            .unwrap_or_else(|| format!("feature:{}", self.index));
        Ok(Draft {
            layer,
            geometry,
            status,
            attributes,
            source: Source {
                file: source_file.clone(),
                id: clean_text(&id).into(),
            },
            source_number: number,
        })
    }
}

/// An empty property map, for features without properties.
fn empty_map() -> &'static serde_json::Map<String, Json> {
    static EMPTY: std::sync::OnceLock<serde_json::Map<String, Json>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(serde_json::Map::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::Mapping;
    use crate::import::test_support::{fixture, opts};

    fn odd_mapping() -> Mapping {
        toml::from_str(
            r#"
number = "Інв. номер"
name = "  НАЗВА "
status = "Стан опори"
id = "ext_id"
skip = ["junk"]
[rename]
"Висота, м" = "height_m"
"#,
        )
        .unwrap()
    }

    #[test]
    fn good_file_with_odd_property_names() {
        let layers = Layers::default_city();
        let p = parse(
            &fixture("poles_odd.geojson"),
            &layers,
            &opts(&layers, Some("poles"), odd_mapping()),
        )
        .unwrap();
        assert_eq!(p.drafts.len(), 3, "{:?}", p.rejects);
        let d = &p.drafts[0];
        assert_eq!(d.geometry, Geometry::Point([30.5234, 50.4501]));
        assert_eq!(d.source_number.as_deref(), Some("ОП-17"));
        assert_eq!(d.status, Status::Broken);
        assert_eq!(&*d.source.id, "A-1");
        assert_eq!(&*d.source.file, "poles_odd.geojson");
        assert_eq!(
            d.attributes.get("name"),
            Some(&Value::Text("Опора на розі".into()))
        );
        assert_eq!(d.attributes.get("height_m"), Some(&Value::Float(9.5)));
        assert_eq!(d.attributes.get("lamps"), Some(&Value::Int(2)));
        assert_eq!(d.attributes.get("lit"), Some(&Value::Bool(true)));
        assert_eq!(
            d.attributes.get("tags"),
            Some(&Value::Text("[\"a\",\"b\"]".into()))
        );
        assert!(!d.attributes.contains_key("junk"));
        assert!(!d.attributes.contains_key("empty"));
        assert!(!d.attributes.contains_key("nothing"));
        // Feature id when the mapped id property is absent; numbers as text.
        assert_eq!(&*p.drafts[1].source.id, "42");
        assert_eq!(p.drafts[1].source_number.as_deref(), Some("18"));
        assert_eq!(p.drafts[1].status, Status::Unknown);
        // MultiPoint with one point; no id at all → feature index.
        assert_eq!(p.drafts[2].geometry, Geometry::Point([30.1, 50.2]));
        assert_eq!(&*p.drafts[2].source.id, "feature:3");
    }

    #[test]
    fn bad_features_are_rejected() {
        let layers = Layers::default_city();
        let p = parse(
            &fixture("bad_features.geojson"),
            &layers,
            &opts(
                &layers,
                Some("poles"),
                Mapping {
                    status: Some("status".into()),
                    ..Mapping::default()
                },
            ),
        )
        .unwrap();
        assert_eq!(p.drafts.len(), 1);
        let got: Vec<(u64, &str, &str)> = p
            .rejects
            .iter()
            .map(|r| (r.line, r.field.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(got.len(), 7, "{got:#?}");
        assert_eq!((got[0].0, got[0].1), (2, "geometry"));
        assert!(got[0].2.contains("no geometry"));
        // A polygon imports where a layer holds polygons; poles hold points.
        assert!(got[1].0 == 3 && got[1].2.contains("holds points, the record has polygons"));
        assert!(got[2].0 == 4 && got[2].2.contains("1e400") && got[2].2.contains("out of range"));
        assert!(got[3].0 == 5 && got[3].2.contains("outside WGS84 range"));
        assert!(got[4].0 == 6 && got[4].2.contains("layer poles holds points"));
        assert!(got[5].0 == 7 && got[5].1 == "status" && got[5].2.contains("\"wobbly\""));
        assert!(got[6].0 == 8 && got[6].2.contains("MultiPoint with 2 parts"));
        assert!(p.rejects[0].raw.contains("\"geometry\":null"));
    }

    #[test]
    fn bad_json_is_fatal_with_line_and_column() {
        let layers = Layers::default_city();
        let e = parse(
            &fixture("broken.geojson"),
            &layers,
            &opts(&layers, Some("poles"), Mapping::default()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("malformed JSON at line 4, column"), "{e}");
    }

    #[test]
    fn sequence_crs_and_layer_property() {
        let layers = Layers::default_city();
        let mapping = Mapping {
            layer: Some("kind".into()),
            ..Mapping::default()
        };
        let p = parse(
            &fixture("sequence.geojsonl"),
            &layers,
            &opts(&layers, None, mapping.clone()),
        )
        .unwrap();
        assert_eq!(p.drafts.len(), 2);
        assert_eq!(p.drafts[0].layer, layers.by_name("cameras").unwrap());
        assert_eq!(p.drafts[1].layer, layers.by_name("streets").unwrap());
        assert!(matches!(p.drafts[1].geometry, Geometry::Line(ref l) if l.len() == 2));
        assert!(!p.drafts[0].attributes.contains_key("kind"));

        // A declared CRS that differs from --crs is fatal.
        let mut o = opts(&layers, Some("poles"), Mapping::default());
        o.crs = Some("EPSG:3857".into());
        let e = parse(&fixture("crs_32636.geojson"), &layers, &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("conflicts") && e.contains("EPSG::32636"), "{e}");
        // The same CRS written differently is not a conflict.
        o.crs = Some("epsg:32636".into());
        assert!(
            pick_crs(
                "f",
                o.crs.as_deref(),
                Some("urn:ogc:def:crs:EPSG::32636"),
                true
            )
            .is_ok()
        );
        // Without --crs the declared UTM zone 36N is used.
        let p = parse(
            &fixture("crs_32636.geojson"),
            &layers,
            &opts(&layers, Some("poles"), Mapping::default()),
        )
        .unwrap();
        let [lon, lat] = p.drafts[0].geometry.anchor();
        assert!(
            (lon - 30.5234).abs() < 1e-5 && (lat - 50.4501).abs() < 1e-5,
            "{lon} {lat}"
        );
        // CRS84 declared: no transform.
        let p = parse(
            &fixture("crs84.geojson"),
            &layers,
            &opts(&layers, Some("poles"), Mapping::default()),
        )
        .unwrap();
        assert_eq!(p.drafts[0].geometry, Geometry::Point([30.5, 50.4]));

        let e = parse(
            &fixture("sequence.geojsonl"),
            &layers,
            &opts(&layers, None, Mapping::default()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no layer"), "{e}");
        let bad = Mapping {
            number: Some("nope".into()),
            ..mapping
        };
        let e = parse(
            &fixture("sequence.geojsonl"),
            &layers,
            &opts(&layers, None, bad),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("\"nope\"") && e.contains("properties in the file: kind, name"),
            "{e}"
        );
    }

    /// A city's own plans: buildings as Polygon (with a courtyard) and MultiPolygon, in a
    /// projected CRS; an unclosed ring is refused with where and why.
    #[test]
    fn polygons_with_holes_import_from_a_projected_crs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.geojson");
        // UTM 36N metres (about 30.5° E, 47.8° N).
        let sq = |x: f64, y: f64, d: f64| {
            serde_json::json!([[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]])
        };
        let doc = serde_json::json!({
            "type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": "EPSG:32636"}},
            "features": [
                {"type": "Feature", "properties": {"addr:housenumber": "12"},
                 "geometry": {"type": "Polygon", "coordinates": [sq(310000.0, 5300000.0, 40.0), sq(310010.0, 5300010.0, 10.0)]}},
                {"type": "Feature", "properties": {},
                 "geometry": {"type": "MultiPolygon", "coordinates": [[sq(310100.0, 5300000.0, 20.0)], [sq(310200.0, 5300000.0, 20.0)]]}},
                {"type": "Feature", "properties": {},
                 "geometry": {"type": "Polygon", "coordinates": [[[310300.0, 5300000.0], [310320.0, 5300000.0], [310320.0, 5300020.0]]]}}
            ]
        });
        std::fs::write(&path, doc.to_string()).unwrap();
        let layers = Layers::default_city();
        let p = parse(
            &path,
            &layers,
            &opts(&layers, Some("buildings"), Mapping::default()),
        )
        .unwrap();
        assert_eq!(p.drafts.len(), 2, "{:?}", p.rejects);
        let Geometry::Polygon(first) = &p.drafts[0].geometry else {
            panic!("{:?}", p.drafts[0].geometry)
        };
        assert_eq!(
            (first.len(), first[0].len()),
            (1, 2),
            "one polygon with its hole"
        );
        let [lon, lat] = first[0][0][0];
        assert!(
            (30.4..30.5).contains(&lon) && (47.8..47.9).contains(&lat),
            "{lon} {lat}"
        );
        assert!(matches!(&p.drafts[1].geometry, Geometry::Polygon(ps) if ps.len() == 2));
        assert_eq!(p.rejects.len(), 1);
        assert_eq!(p.rejects[0].line, 3);
        assert!(
            p.rejects[0]
                .reason
                .contains("exterior ring needs at least 4 positions"),
            "{}",
            p.rejects[0].reason
        );
    }

    /// Found by fuzzing: an unknown CRS declared by the file was reported without the file.
    #[test]
    fn an_unknown_declared_crs_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd_crs.geojson");
        std::fs::write(
            &path,
            r#"{"type": "FeatureCollection",
 "crs": {"type": "name", "properties": {"name": "EPSG:99999"}},
 "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}]}"#,
        )
        .unwrap();
        let layers = Layers::default_city();
        let e = parse(
            &path,
            &layers,
            &opts(&layers, Some("poles"), Mapping::default()),
        )
        .unwrap_err();
        assert!(matches!(e, ImportError::File { .. }), "{e:?}");
        let e = e.to_string();
        assert!(
            e.contains("odd_crs.geojson")
                && e.contains(
                    "the CRS the file declares: unknown or unsupported CRS \"EPSG:99999\""
                ),
            "{e}"
        );
    }

    #[test]
    fn huge_numbers_are_quoted_only_when_needed() {
        assert_eq!(
            quote_huge_numbers(r#"{"a":[1e400,-2.5E+999,3],"s":"1e400 \" 9e999"}"#),
            r#"{"a":["1e400","-2.5E+999",3],"s":"1e400 \" 9e999"}"#
        );
    }

    #[test]
    fn citytwin_geojson_export_reads_back() {
        let layers = Layers::default_city();
        let p = parse(
            &fixture("citytwin_export.geojson"),
            &layers,
            &opts(&layers, None, Mapping::citytwin()),
        )
        .unwrap();
        assert_eq!(p.drafts.len(), 2, "{:?}", p.rejects);
        let d = &p.drafts[0];
        assert_eq!(d.layer, layers.by_name("poles").unwrap());
        assert_eq!(d.source_number.as_deref(), Some("ОП-000017-3"));
        assert_eq!(d.status, Status::Broken);
        assert_eq!(&*d.source.id, "node/123");
        let mut want = Attributes::new();
        want.insert("height".into(), Value::Float(9.5));
        want.insert("lamps".into(), Value::Int(2));
        want.insert("lit".into(), Value::Bool(true));
        want.insert("material".into(), Value::Text("сталь  оцинкована".into()));
        assert_eq!(d.attributes, want);
        let s = &p.drafts[1];
        assert_eq!(s.layer, layers.by_name("streets").unwrap());
        assert_eq!(s.source_number, None);
        assert_eq!(s.geometry, Geometry::Line(vec![[30.5, 50.4], [30.6, 50.5]]));
        assert_eq!(
            s.attributes.get("name"),
            Some(&Value::Text("Хрещатик".into()))
        );
    }
}
