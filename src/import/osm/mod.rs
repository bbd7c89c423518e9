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
//! The basemap — areas from closed ways and `type=multipolygon` relations, lines from ways:
//!
//! | tags | layer |
//! |---|---|
//! | `building=*` (not `no`) | buildings (area) |
//! | `natural=water`, `waterway=riverbank`, `landuse=reservoir`/`basin` | water (area) |
//! | `waterway=` river, stream, canal, drain, ditch (a way) | waterways (line) |
//! | `leisure=` park, garden, playground, pitch, nature_reserve; `landuse=` grass, forest, meadow, recreation_ground, village_green, cemetery, allotments; `natural=` wood, scrub, grassland, heath | green (area) |
//! | `landuse=` residential, industrial, commercial, retail, railway, construction, brownfield, garages, military | landuse (area) |
//! | `railway=` rail, tram, light_rail, subway, narrow_gauge, monorail (a way) | railways (line) |
//! | `man_made=bridge` | bridges (area) |
//!
//! Ways become points at the mean of their nodes for point layers. A layer missing from the
//! configuration is skipped. Tags are kept as text attributes (basemap layers keep the few a
//! map labels and styles by: [`BASEMAP_KEYS`]); `ref` on a numbered object is its painted
//! number, kept verbatim.

mod areas;

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

/// The tags a basemap feature keeps: names, house numbers and what styles tell kinds apart by.
/// A building's full OSM record would make every tile several times larger for nothing a map
/// draws.
pub const BASEMAP_KEYS: &[&str] = &[
    "name",
    "name:uk",
    "name:en",
    "addr:housenumber",
    "addr:street",
    "building",
    "building:levels",
    "height",
    "natural",
    "water",
    "waterway",
    "landuse",
    "leisure",
    "railway",
    "man_made",
    "bridge",
    "tunnel",
    "layer",
    "service",
    "intermittent",
];

/// What an element is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Node,
    Way,
    Relation,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Way => "way",
            Kind::Relation => "relation",
        }
    }
}

/// The basemap layers of an element's tags: areas for closed ways and multipolygons, lines
/// for ways.
fn classify_basemap<'t>(
    get: &impl Fn(&str) -> Option<&'t str>,
    kind: Kind,
    out: &mut Vec<&'static str>,
) {
    if kind == Kind::Node {
        return;
    }
    if get("building").is_some_and(|b| b != "no") {
        out.push("buildings");
    }
    if get("natural") == Some("water")
        || get("waterway") == Some("riverbank")
        || matches!(get("landuse"), Some("reservoir" | "basin"))
    {
        out.push("water");
    }
    if matches!(
        get("leisure"),
        Some("park" | "garden" | "playground" | "pitch" | "nature_reserve")
    ) || matches!(
        get("landuse"),
        Some(
            "grass"
                | "forest"
                | "meadow"
                | "recreation_ground"
                | "village_green"
                | "cemetery"
                | "allotments"
        )
    ) || matches!(
        get("natural"),
        Some("wood" | "scrub" | "grassland" | "heath")
    ) {
        out.push("green");
    }
    if matches!(
        get("landuse"),
        Some(
            "residential"
                | "industrial"
                | "commercial"
                | "retail"
                | "railway"
                | "construction"
                | "brownfield"
                | "garages"
                | "military"
        )
    ) {
        out.push("landuse");
    }
    if get("man_made") == Some("bridge") {
        out.push("bridges");
    }
    if kind == Kind::Way {
        if matches!(
            get("waterway"),
            Some("river" | "stream" | "canal" | "drain" | "ditch")
        ) {
            out.push("waterways");
        }
        if matches!(
            get("railway"),
            Some("rail" | "tram" | "light_rail" | "subway" | "narrow_gauge" | "monorail")
        ) {
            out.push("railways");
        }
    }
}

/// Which layers the tags put an element in (by layer name). One element can be several
/// objects: a camera mounted on a lamp post is both a pole and a camera.
fn classify(tags: &[(&str, &str)], kind: Kind) -> Vec<&'static str> {
    let get = |k: &str| tags.iter().find(|(a, _)| *a == k).map(|(_, v)| *v);
    let mut out = Vec::new();
    if kind == Kind::Relation {
        // Relations give areas only, and only as multipolygons.
        if get("type") == Some("multipolygon") {
            classify_basemap(&get, kind, &mut out);
        }
        return out;
    }
    let is_way = kind == Kind::Way;
    classify_basemap(&get, kind, &mut out);
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
    kind: Kind,
    id: i64,
    tags: Vec<(String, String)>,
    at: Option<[f64; 2]>,
    refs: Vec<i64>,
    /// A relation's member ways, `true` for an outer one.
    members: Vec<(i64, bool)>,
}

pub fn parse(path: &Path, layers: &Layers, _opts: &Options) -> Result<Parsed, ImportError> {
    let file = super::csv::file_label(path);
    let shown = path.display().to_string();
    let reader =
        ElementReader::from_path(path).map_err(|e| ImportError::file(&shown, e.to_string()))?;
    let mut coords: HashMap<i64, [f64; 2]> = HashMap::new();
    // Every way's nodes, for the multipolygons that come after the ways (only when a
    // configured layer holds areas).
    let areas = layers
        .defs()
        .iter()
        .any(|d| d.geometry == crate::model::GeometryKind::Polygon);
    let mut ways: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut visit = |id: i64,
                     kind: Kind,
                     tags: Vec<(&str, &str)>,
                     at: Option<[f64; 2]>,
                     refs: Vec<i64>,
                     members: Vec<(i64, bool)>| {
        for name in classify(&tags, kind) {
            let Some(layer) = layers.by_name(name) else {
                continue;
            };
            // Basemap layers keep only the tags maps draw by.
            let basemap = crate::model::BASEMAP.contains(&name);
            pending.push(Pending {
                layer,
                kind,
                id,
                tags: tags
                    .iter()
                    .filter(|(k, _)| !basemap || BASEMAP_KEYS.contains(k))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                at,
                refs: refs.clone(),
                members: members.clone(),
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
                    let at = Some([n.lon(), n.lat()]);
                    visit(n.id(), Kind::Node, tags, at, Vec::new(), Vec::new());
                }
            }
            Element::DenseNode(n) => {
                coords.insert(n.id(), [n.lon(), n.lat()]);
                let tags: Vec<_> = n.tags().collect();
                if !tags.is_empty() {
                    let at = Some([n.lon(), n.lat()]);
                    visit(n.id(), Kind::Node, tags, at, Vec::new(), Vec::new());
                }
            }
            Element::Way(w) => {
                let tags: Vec<_> = w.tags().collect();
                let refs: Vec<i64> = w.refs().collect();
                if areas {
                    ways.insert(w.id(), refs.clone());
                }
                if !tags.is_empty() {
                    visit(w.id(), Kind::Way, tags, None, refs, Vec::new());
                }
            }
            Element::Relation(r) => {
                let tags: Vec<_> = r.tags().collect();
                if !areas || !tags.contains(&("type", "multipolygon")) {
                    return;
                }
                let members = r
                    .members()
                    .filter(|m| m.member_type == osmpbf::RelMemberType::Way)
                    .map(|m| (m.member_id, m.role().unwrap_or("") != "inner"))
                    .collect();
                // `type` stays: classify reads it (and basemap layers do not keep it).
                visit(r.id(), Kind::Relation, tags, None, Vec::new(), members);
            }
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
        let source_id = format!("{}/{}", p.kind.name(), p.id);
        let reject = |field: &str, reason: String| Reject {
            file: file.to_string(),
            line: p.id as u64,
            field: field.to_string(),
            reason,
            raw: source_id.clone(),
        };
        let geometry = if def.geometry == crate::model::GeometryKind::Polygon {
            let built = match p.kind {
                Kind::Relation => areas::relation_area(&p.members, &ways, &coords),
                _ => areas::way_area(&p.refs, &coords),
            };
            match built {
                Ok(polygons) => Geometry::Polygon(polygons),
                // A way tagged for an area but not closed is a line of the same tags (a
                // fence-like `landuse` edge): not an area, and not an error of the file.
                Err(areas::AreaError::NotClosed) if p.kind == Kind::Way => continue,
                Err(e) => {
                    let field = match p.kind {
                        Kind::Relation => "members",
                        _ => "refs",
                    };
                    out.rejects.push(reject(field, e.to_string()));
                    continue;
                }
            }
        } else {
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
            if def.geometry == crate::model::GeometryKind::Line {
                Geometry::Line(pts)
            } else {
                // A closed way counts its first node once.
                let ring = pts.len() > 1 && pts.first() == pts.last();
                let used = if ring { &pts[1..] } else { &pts[..] };
                let n = used.len().max(1) as f64;
                let (sx, sy) = used
                    .iter()
                    .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
                Geometry::Point([sx / n, sy / n])
            }
        };
        if let Err(reason) = geometry.validate() {
            out.rejects.push(reject("geometry", reason));
            continue;
        }
        push_draft(
            &mut out,
            p.layer,
            def.numbered,
            p.tags,
            geometry,
            &file,
            source_id,
        );
    }
    Ok(out)
}

/// An element's object: its tags as attributes, `ref` as the painted number of a numbered
/// layer.
fn push_draft(
    out: &mut Parsed,
    layer: LayerId,
    numbered: bool,
    tags: Vec<(String, String)>,
    geometry: Geometry,
    file: &Arc<str>,
    source_id: String,
) {
    let mut attributes = Attributes::new();
    let mut source_number = None;
    for (k, v) in tags {
        if k == "ref" && numbered {
            source_number = Some(v.trim().to_string());
        } else {
            attributes.insert(k, Value::text(v));
        }
    }
    out.drafts.push(Draft {
        layer,
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
        // The basemap: areas from closed ways and multipolygon relations (63 of them, each
        // with its inner rings), lines from ways.
        let basemap = [
            ("landuse", 61),
            ("green", 176),
            ("water", 13),
            ("waterways", 6),
            ("bridges", 1),
            ("buildings", 446),
            ("railways", 318),
        ];
        for (layer, n) in basemap {
            assert_eq!(count(&p, &layers, layer), n, "{layer}");
        }
        let from_relations: Vec<&Draft> = p
            .drafts
            .iter()
            .filter(|d| d.source.id.starts_with("relation/"))
            .collect();
        assert_eq!(from_relations.len(), 63);
        assert!(from_relations.iter().all(|d| matches!(
            &d.geometry,
            Geometry::Polygon(ps) if ps.iter().any(|rings| rings.len() > 1)
        )));
        // Basemap features keep only the tags maps draw by.
        let buildings = layers.by_name("buildings").unwrap();
        assert!(
            p.drafts
                .iter()
                .filter(|d| d.layer == buildings)
                .all(|d| d.attributes.iter().all(|(k, _)| BASEMAP_KEYS.contains(&k)))
        );
        // So do 109 more ways of the basemap (areas and railways) and 6 multipolygons with a
        // member way or node outside it.
        assert_eq!(p.rejects.len(), 73 + 109 + 6);
        assert!(p.rejects.iter().all(|r| r.reason.contains("cut it off")));
        assert_eq!(p.rejects.iter().filter(|r| r.field == "members").count(), 6);
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
