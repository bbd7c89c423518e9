//! OpenStreetMap PBF: tags decide the layer.
//!
//! | tags | layer |
//! |---|---|
//! | `highway=street_lamp` | poles |
//! | `man_made=manhole` or any `manhole=*` (kept as attribute `manhole`) | manholes |
//! | `man_made=surveillance` | cameras |
//! | `amenity=shelter` that is not a transport/picnic/weather shelter, `shelter_type=bomb_shelter`, `building=bunker`, `bunker_type=*`, `air_raid_shelter=yes`, `emergency=air_raid_shelter` | shelters |
//! | `internet_access=wlan` | wifi |
//! | `natural=tree` | trees |
//! | `man_made=street_cabinet` | cabinets |
//! | `addr:housenumber` (with `addr:street` or `addr:place`) | addresses |
//! | any `highway=*` way | streets |
//! | `barrier=*` node (a gate, a bollard, a kerb on a way) | barriers |
//! | `place=` suburb, quarter, neighbourhood, borough, city_district (named) | districts |
//!
//! Ways become points at the mean of their nodes for point layers. A layer missing from the
//! configuration is skipped. Tags are kept as text attributes; `ref` on a numbered object is its
//! painted number, kept verbatim.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use osmpbf::{Element, ElementReader};

use super::{ImportError, Options, Parsed, Reject};
use crate::model::{Attributes, Draft, Geometry, LayerId, Layers, Source, Status, Value};

/// Shelter types that are not civil-protection shelters.
const NOT_PROTECTIVE: &[&str] = &[
    "public_transport",
    "picnic_shelter",
    "weather_shelter",
    "gazebo",
    "lean_to",
    "basic_hut",
    "sun_shelter",
    "field_shelter",
    "rock_shelter",
    "changing_rooms",
    "smoking_shelter",
    "pavilion",
];

/// Which layers the tags put an element in (by layer name). One element can be several
/// objects: a camera mounted on a lamp post is both a pole and a camera.
fn classify(tags: &[(&str, &str)], is_way: bool) -> Vec<&'static str> {
    let get = |k: &str| tags.iter().find(|(a, _)| *a == k).map(|(_, v)| *v);
    let mut out = Vec::new();
    if get("highway") == Some("street_lamp") {
        out.push("poles");
    }
    if get("man_made") == Some("manhole") || get("manhole").is_some() {
        out.push("manholes");
    }
    if get("man_made") == Some("surveillance") {
        out.push("cameras");
    }
    let shelter_type = get("shelter_type");
    let protective_type = shelter_type.is_some_and(|t| {
        matches!(
            t,
            "bomb_shelter" | "bomb" | "air_raid" | "air_raid_shelter" | "civil_defence"
        )
    });
    if protective_type
        || (get("amenity") == Some("shelter")
            && !shelter_type.is_some_and(|t| NOT_PROTECTIVE.contains(&t)))
        || get("building") == Some("bunker")
        || get("bunker_type").is_some()
        || get("air_raid_shelter") == Some("yes")
        || get("emergency") == Some("air_raid_shelter")
    {
        out.push("shelters");
    }
    if get("internet_access") == Some("wlan") {
        out.push("wifi");
    }
    if get("natural") == Some("tree") {
        out.push("trees");
    }
    if get("man_made") == Some("street_cabinet") {
        out.push("cabinets");
    }
    if get("addr:housenumber").is_some() {
        out.push("addresses");
    }
    if is_way && get("highway").is_some() {
        out.push("streets");
    }
    // The parts of the city a caller names ("I'm in Kluuvi"): the dispatcher's area.
    if get("name").is_some()
        && matches!(
            get("place"),
            Some("suburb" | "quarter" | "neighbourhood" | "borough" | "city_district")
        )
    {
        out.push("districts");
    }
    // Gates, bollards, kerbs on the ways: the walking graph lets people through or not.
    if !is_way && get("barrier").is_some() {
        out.push("barriers");
    }
    out
}

struct Pending {
    layer: LayerId,
    kind: &'static str,
    id: i64,
    tags: Vec<(String, String)>,
    at: Option<[f64; 2]>,
    refs: Vec<i64>,
}

pub fn parse(path: &Path, layers: &Layers, _opts: &Options) -> Result<Parsed, ImportError> {
    let file = super::csv::file_label(path);
    let shown = path.display().to_string();
    let reader =
        ElementReader::from_path(path).map_err(|e| ImportError::file(&shown, e.to_string()))?;
    let mut coords: HashMap<i64, [f64; 2]> = HashMap::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut visit = |id: i64,
                     kind: &'static str,
                     tags: Vec<(&str, &str)>,
                     at: Option<[f64; 2]>,
                     refs: Vec<i64>| {
        for name in classify(&tags, kind == "way") {
            let Some(layer) = layers.by_name(name) else {
                continue;
            };
            pending.push(Pending {
                layer,
                kind,
                id,
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                at,
                refs: refs.clone(),
            });
        }
    };
    // The PBF decoder adds up the file's delta-coded ids and coordinates and scales them by its
    // granularity and offsets without checking for overflow: on a corrupt file that panics
    // where overflow checks are on (debug builds, tests) and wraps elsewhere. Either way the
    // file is unreadable, which is what the caller is told.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        reader.for_each(|el| match el {
            Element::Node(n) => {
                coords.insert(n.id(), [n.lon(), n.lat()]);
                let tags: Vec<_> = n.tags().collect();
                if !tags.is_empty() {
                    visit(n.id(), "node", tags, Some([n.lon(), n.lat()]), Vec::new());
                }
            }
            Element::DenseNode(n) => {
                coords.insert(n.id(), [n.lon(), n.lat()]);
                let tags: Vec<_> = n.tags().collect();
                if !tags.is_empty() {
                    visit(n.id(), "node", tags, Some([n.lon(), n.lat()]), Vec::new());
                }
            }
            Element::Way(w) => {
                let tags: Vec<_> = w.tags().collect();
                if !tags.is_empty() {
                    visit(w.id(), "way", tags, None, w.refs().collect());
                }
            }
            Element::Relation(_) => {}
        })
    }));
    let unreadable =
        |why: String| ImportError::file(&shown, format!("not a readable OSM PBF file: {why}"));
    match read {
        Ok(r) => r.map_err(|e| unreadable(e.to_string()))?,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            return Err(unreadable(format!("the decoder failed ({why})")));
        }
    }

    let file: Arc<str> = file.into();
    let mut out = Parsed::default();
    for p in pending {
        let def = layers.def(p.layer);
        let source_id = format!("{}/{}", p.kind, p.id);
        let reject = |field: &str, reason: String| Reject {
            file: file.to_string(),
            line: p.id as u64,
            field: field.to_string(),
            reason,
            raw: source_id.clone(),
        };
        let pts: Vec<[f64; 2]> = match p.at {
            Some(at) => vec![at],
            None => {
                let found: Vec<[f64; 2]> = p
                    .refs
                    .iter()
                    .filter_map(|r| coords.get(r).copied())
                    .collect();
                // Extracts clip ways at their edge: keep the nodes that are in the file.
                let needed = if def.geometry == crate::model::GeometryKind::Line {
                    2
                } else {
                    1
                };
                if found.len() < needed {
                    out.rejects.push(reject(
                        "refs",
                        format!(
                            "only {} of {} nodes of {source_id} are in the file (the extract cut it off)",
                            found.len(),
                            p.refs.len()
                        ),
                    ));
                    continue;
                }
                found
            }
        };
        let geometry = match def.geometry {
            crate::model::GeometryKind::Point => {
                // A closed way counts its first node once.
                let ring = pts.len() > 1 && pts.first() == pts.last();
                let used = if ring { &pts[1..] } else { &pts[..] };
                let n = used.len().max(1) as f64;
                let (sx, sy) = used
                    .iter()
                    .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
                Geometry::Point([sx / n, sy / n])
            }
            crate::model::GeometryKind::Line => Geometry::Line(pts),
        };
        if let Err(reason) = geometry.validate() {
            out.rejects.push(reject("geometry", reason));
            continue;
        }
        let mut attributes = Attributes::new();
        let mut source_number = None;
        for (k, v) in p.tags {
            if k == "ref" && def.numbered {
                source_number = Some(v.trim().to_string());
            } else {
                attributes.insert(k, Value::text(v));
            }
        }
        out.drafts.push(Draft {
            layer: p.layer,
            geometry,
            status: Status::Unknown,
            attributes,
            source: Source {
                file: file.clone(),
                id: source_id.into(),
            },
            source_number,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(parsed: &Parsed, layers: &Layers, name: &str) -> usize {
        let l = layers.by_name(name).unwrap();
        parsed.drafts.iter().filter(|d| d.layer == l).count()
    }

    #[test]
    fn helsinki_counts() {
        let layers = Layers::default_city();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/osm/helsinki.osm.pbf");
        let opts = Options {
            layer: None,
            crs: None,
            mapping: Default::default(),
            strict: false,
        };
        let p = parse(&path, &layers, &opts).unwrap();
        assert_eq!(count(&p, &layers, "poles"), 586);
        assert_eq!(count(&p, &layers, "manholes"), 402);
        assert_eq!(count(&p, &layers, "cameras"), 221);
        assert_eq!(count(&p, &layers, "wifi"), 11);
        assert_eq!(count(&p, &layers, "shelters"), 2);
        assert_eq!(count(&p, &layers, "cabinets"), 8);
        assert_eq!(count(&p, &layers, "addresses"), 1464);
        // 2,650 highway ways; 73 keep fewer than two nodes inside the extract and are rejected
        // with that reason (a line needs two points).
        assert_eq!(count(&p, &layers, "streets"), 2577);
        assert_eq!(p.rejects.len(), 73);
        assert!(
            p.rejects
                .iter()
                .all(|r| r.field == "refs" && r.reason.contains("cut it off"))
        );
        let streets = layers.by_name("streets").unwrap();
        let names: std::collections::BTreeSet<String> = p
            .drafts
            .iter()
            .filter(|d| d.layer == streets)
            .filter_map(|d| d.attributes.get("name").map(Value::as_text))
            .collect();
        // 102 street names in the extract; two belong only to ways the extract cut off.
        assert_eq!(names.len(), 100);
        let poles = layers.by_name("poles").unwrap();
        let numbered = p
            .drafts
            .iter()
            .filter(|d| d.layer == poles && d.source_number.is_some())
            .count();
        assert_eq!(numbered, 1, "one lamp carries a ref");
    }

    /// One OSMData blob (uncompressed) with one untagged dense node at raw latitude `lat`.
    fn one_dense_node(lat: i64) -> Vec<u8> {
        fn varint(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push(v as u8 | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
            varint(out, number << 3 | 2);
            varint(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
        let packed_sint = |v: i64| {
            let mut b = Vec::new();
            varint(&mut b, ((v << 1) ^ (v >> 63)) as u64);
            b
        };
        let mut dense = Vec::new();
        field(&mut dense, 1, &packed_sint(1));
        field(&mut dense, 8, &packed_sint(lat));
        field(&mut dense, 9, &packed_sint(0));
        let mut group = Vec::new();
        field(&mut group, 2, &dense);
        let mut table = Vec::new();
        field(&mut table, 1, b"");
        let mut block = Vec::new();
        field(&mut block, 1, &table);
        field(&mut block, 2, &group);
        let mut blob = Vec::new();
        field(&mut blob, 1, &block);
        let mut header = Vec::new();
        field(&mut header, 1, b"OSMData");
        varint(&mut header, 3 << 3);
        varint(&mut header, blob.len() as u64);
        let mut out = (header.len() as u32).to_be_bytes().to_vec();
        out.extend(header);
        out.extend(blob);
        out
    }

    /// Found by fuzzing: the decoder multiplies a coordinate by the granularity unchecked, so
    /// a huge one panicked (with overflow checks on) instead of failing the import.
    #[test]
    fn coordinates_too_large_for_the_decoder_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("huge.osm.pbf");
        let opts = Options {
            layer: None,
            crs: None,
            mapping: Default::default(),
            strict: false,
        };
        let layers = Layers::default_city();
        std::fs::write(&f, one_dense_node(504_500_000)).unwrap();
        let p = parse(&f, &layers, &opts).unwrap();
        assert!(p.drafts.is_empty() && p.rejects.is_empty());
        std::fs::write(&f, one_dense_node(i64::MAX / 10)).unwrap();
        let r = parse(&f, &layers, &opts);
        if cfg!(debug_assertions) {
            let e = r.unwrap_err().to_string();
            assert!(
                e.contains("huge.osm.pbf")
                    && e.contains("not a readable OSM PBF file: the decoder failed")
                    && e.contains("overflow"),
                "{e}"
            );
        }
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.osm.pbf");
        std::fs::write(&f, b"this is not protobuf").unwrap();
        let opts = Options {
            layer: None,
            crs: None,
            mapping: Default::default(),
            strict: false,
        };
        let e = parse(&f, &Layers::default_city(), &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.osm.pbf"), "{e}");
    }
}
