//! Vector tiles end to end: the real server on the Helsinki extract, every tile decoded by an
//! independent decoder (`mvt-reader`) and checked against the MVT 2.1 MUST rules, then edits
//! and the cache.

mod common;

use std::collections::{BTreeMap, HashMap};

use citytwin::tiles::conformance;
use common::*;
use serde_json::json;

const EXTENT: f64 = 4096.0;

fn helsinki_seed() -> String {
    repo("tests/fixtures/helsinki-seed.toml")
        .display()
        .to_string()
}

/// Tile units of a position in tile z/x/y (not rounded).
fn tile_units(lon: f64, lat: f64, z: u8, x: u32, y: u32) -> (f64, f64) {
    let n = f64::from(1u32 << z) * EXTENT;
    let px = (lon + 180.0) / 360.0 * n;
    let r = lat.to_radians();
    let py = (1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n;
    (px - f64::from(x) * EXTENT, py - f64::from(y) * EXTENT)
}

fn tile_of(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let (px, py) = tile_units(lon, lat, z, 0, 0);
    ((px / EXTENT) as u32, (py / EXTENT) as u32)
}

/// An object as the objects API gives it.
struct Obj {
    number: String,
    lon: f64,
    lat: f64,
}

fn objects(server: &Server, layer: &str) -> BTreeMap<u64, Obj> {
    all_features(server, layer)
        .iter()
        .map(|f| {
            let c = f["geometry"]["coordinates"].as_array().unwrap();
            (
                f["id"].as_u64().unwrap(),
                Obj {
                    number: f["properties"]["number"].as_str().unwrap_or("").to_string(),
                    lon: c[0].as_f64().unwrap_or(0.0),
                    lat: c[1].as_f64().unwrap_or(0.0),
                },
            )
        })
        .collect()
}

fn prop<'a>(
    f: &'a mvt_reader::feature::Feature,
    key: &str,
) -> Option<&'a mvt_reader::feature::Value> {
    f.properties.as_ref().and_then(|p| p.get(key))
}

fn text(v: Option<&mvt_reader::feature::Value>) -> String {
    match v {
        Some(mvt_reader::feature::Value::String(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn count(v: Option<&mvt_reader::feature::Value>) -> u64 {
    match v {
        Some(mvt_reader::feature::Value::UInt(n)) => *n,
        Some(mvt_reader::feature::Value::Int(n)) => *n as u64,
        Some(mvt_reader::feature::Value::SInt(n)) => *n as u64,
        other => panic!("point_count is {other:?}"),
    }
}

/// Fetches a tile; checks status, headers and the MUST rules; decodes it.
fn fetch(server: &Server, path: &str) -> Option<(Vec<conformance::RawLayer>, mvt_reader::Reader)> {
    let (s, h, body) = server.get_raw(path, &[]);
    match s {
        204 => {
            assert!(body.is_empty());
            None
        }
        200 => {
            assert_eq!(
                h["content-type"], "application/vnd.mapbox-vector-tile",
                "{path}"
            );
            assert!(
                h.contains_key("etag") && h.contains_key("cache-control"),
                "{path}"
            );
            let raw = conformance::check(&body).unwrap_or_else(|v| panic!("{path}: {v}"));
            for l in &raw {
                assert_eq!((l.version, l.extent), (2, 4096), "{path}");
                assert!(!l.features.is_empty(), "{path}: empty layer {}", l.name);
                for f in &l.features {
                    assert!(f.geom_type == 1 || f.geom_type == 2, "{path}");
                }
            }
            Some((
                raw,
                mvt_reader::Reader::new(body).expect("mvt-reader decodes the tile"),
            ))
        }
        other => panic!("{path}: status {other}"),
    }
}

#[test]
fn every_tile_decodes_back_to_the_objects_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("t.gpkg"), &helsinki_seed(), &[]);
    let poles = objects(&server, "poles");
    let manholes = objects(&server, "manholes");
    assert_eq!((poles.len(), manholes.len()), (586, 402));
    let by_layer: HashMap<&str, &BTreeMap<u64, Obj>> =
        [("poles", &poles), ("manholes", &manholes)].into();
    let all = poles.values().chain(manholes.values());
    let bbox = all.fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, o| {
        [
            b[0].min(o.lon),
            b[1].min(o.lat),
            b[2].max(o.lon),
            b[3].max(o.lat),
        ]
    });

    // Zoom 16: every object shown as itself, exactly once inside a tile (the buffer may show
    // it again), at its place to within a tile unit.
    let z = 16;
    let (x0, y0) = tile_of(bbox[0], bbox[3], z);
    let (x1, y1) = tile_of(bbox[2], bbox[1], z);
    assert!(
        (x1 - x0 + 1) * (y1 - y0 + 1) <= 400,
        "too many tiles for a test"
    );
    let mut seen: HashMap<(String, u64), usize> = HashMap::new();
    let mut tiles_with_features = 0;
    for x in x0..=x1 {
        for y in y0..=y1 {
            let Some((_, reader)) =
                fetch(&server, &format!("/tiles/poles,manholes/{z}/{x}/{y}.mvt"))
            else {
                continue;
            };
            tiles_with_features += 1;
            let names = reader.get_layer_names().unwrap();
            let mut unique = names.clone();
            unique.dedup();
            assert_eq!(unique.len(), names.len());
            for (i, name) in names.iter().enumerate() {
                let objs = by_layer[name.as_str()];
                for f in reader.get_features(i).unwrap() {
                    let id = f.id.expect("every object feature has its id");
                    let o = objs
                        .get(&id)
                        .unwrap_or_else(|| panic!("{name} {id} unknown"));
                    assert_eq!(text(prop(&f, "number")), o.number, "{name} {id}");
                    assert!(prop(&f, "status").is_some());
                    let p = match f.geometry {
                        geo_types::Geometry::Point(p) => p,
                        geo_types::Geometry::MultiPoint(m) if m.0.len() == 1 => m.0[0],
                        other => panic!("{name} {id}: {other:?} is not one point"),
                    };
                    let (ex, ey) = tile_units(o.lon, o.lat, z, x, y);
                    assert!(
                        (f64::from(p.x()) - ex).abs() <= 1.0
                            && (f64::from(p.y()) - ey).abs() <= 1.0,
                        "{name} {id}: at ({}, {}), expected ({ex:.1}, {ey:.1})",
                        p.x(),
                        p.y()
                    );
                    if (0.0..EXTENT).contains(&ex) && (0.0..EXTENT).contains(&ey) {
                        *seen.entry((name.clone(), id)).or_default() += 1;
                    }
                }
            }
        }
    }
    assert!(tiles_with_features >= 4);
    assert_eq!(
        seen.len(),
        poles.len() + manholes.len(),
        "every object shown"
    );
    assert!(seen.values().all(|n| *n == 1), "each once inside a tile");

    // Zoom 12, below the layers' minimum zoom: clusters whose counts add up to the layer.
    let z = 12;
    let (x0, y0) = tile_of(bbox[0], bbox[3], z);
    let (x1, y1) = tile_of(bbox[2], bbox[1], z);
    let mut total = 0;
    let mut clusters = 0;
    for x in x0..=x1 {
        for y in y0..=y1 {
            let Some((_, reader)) = fetch(&server, &format!("/tiles/poles/{z}/{x}/{y}.mvt")) else {
                continue;
            };
            for f in reader.get_features(0).unwrap() {
                if prop(&f, "cluster").is_some() {
                    clusters += 1;
                    total += count(prop(&f, "point_count"));
                    assert!(f.id.is_none());
                    for k in ["min_lon", "min_lat", "max_lon", "max_lat"] {
                        assert!(prop(&f, k).is_some(), "cluster without {k}");
                    }
                } else {
                    assert!(poles.contains_key(&f.id.unwrap()));
                    total += 1;
                }
            }
        }
    }
    assert!(clusters > 0, "z12 shows clusters");
    assert_eq!(
        total,
        poles.len() as u64,
        "cluster counts add up to every pole"
    );

    // Lines: streets at z14 are clipped to the buffer, snapped, and keep their ids.
    let streets = objects(&server, "streets");
    let (x, y) = tile_of((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0, 14);
    let (raw, reader) = fetch(&server, &format!("/tiles/streets/14/{x}/{y}.mvt")).expect("streets");
    assert!(raw[0].features.len() > 10);
    for f in reader.get_features(0).unwrap() {
        assert!(streets.contains_key(&f.id.unwrap()));
        let lines = match f.geometry {
            geo_types::Geometry::LineString(l) => vec![l],
            geo_types::Geometry::MultiLineString(m) => m.0,
            other => panic!("street as {other:?}"),
        };
        for l in lines {
            assert!(l.0.len() >= 2);
            for c in l.0 {
                assert!((-64.0..=4160.0).contains(&c.x) && (-64.0..=4160.0).contains(&c.y));
            }
        }
    }

    // Bad addresses: JSON errors with the field at fault.
    for (path, status, field) in [
        ("/tiles/poles/23/0/0.mvt", 400, "z"),
        ("/tiles/poles/3/8/0.mvt", 400, "x"),
        ("/tiles/poles/3/0/-1.mvt", 400, "y"),
        ("/tiles/poles/a/0/0.mvt", 400, "z"),
        ("/tiles/poles/3/0/0.pbf", 400, "y"),
        ("/tiles/nope/3/0/0.mvt", 404, "layers"),
        ("/tiles/,/3/0/0.mvt", 400, "layers"),
    ] {
        let (s, body) = server.get(path);
        assert_eq!(s, status, "{path}: {body}");
        assert_eq!(body["field"], field, "{path}: {body}");
    }
    // An empty tile: 204 and no body.
    let (s, _, body) = server.get_raw("/tiles/poles/16/0/0.mvt", &[]);
    assert_eq!((s, body.len()), (204, 0));

    // The same data gives the same bytes and ETag after a restart (caches keep working).
    let path = format!("/tiles/poles,manholes,streets/14/{x}/{y}.mvt");
    let (_, h1, b1) = server.get_raw(&path, &[]);
    let mut server = server;
    server.stop();
    let again = Server::start(&server.store, "none", &[]);
    let (_, h2, b2) = again.get_raw(&path, &[]);
    assert_eq!((h1["etag"].as_str(), &b1), (h2["etag"].as_str(), &b2));
}

#[test]
fn an_edit_invalidates_exactly_the_tiles_it_touched() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("t.gpkg"), &helsinki_seed(), &[]);
    let admin = token(&dir.path().join("t.gpkg"), "admin");
    server.as_token(Some(&admin));
    let poles = objects(&server, "poles");
    let (&id, pole) = poles.iter().next().unwrap();
    let (px, py) = tile_of(pole.lon, pole.lat, 16);
    // A tile with poles far from this one (more than a tile away at z16).
    let (&far_id, far) = poles
        .iter()
        .find(|(_, o)| {
            let (x, y) = tile_of(o.lon, o.lat, 16);
            x.abs_diff(px) > 1 || y.abs_diff(py) > 1
        })
        .expect("a pole far away");
    let (fx, fy) = tile_of(far.lon, far.lat, 16);
    let here = format!("/tiles/poles/16/{px}/{py}.mvt");
    let there = format!("/tiles/poles/16/{fx}/{fy}.mvt");
    let (zx, zy) = tile_of(pole.lon, pole.lat, 14);
    let here14 = format!("/tiles/poles,wifi/14/{zx}/{zy}.mvt");

    let get = |path: &str| {
        let (s, h, body) = server.get_raw(path, &[]);
        assert_eq!(s, 200, "{path}");
        (h["x-tile-cache"].clone(), h["etag"].clone(), body)
    };
    let mut etags = HashMap::new();
    for p in [&here, &there, &here14] {
        let (c1, e1, _) = get(p);
        let (c2, e2, _) = get(p);
        assert_eq!((c1.as_str(), c2.as_str()), ("miss", "hit"), "{p}");
        assert_eq!(e1, e2);
        etags.insert(p.clone(), e1);
    }
    // Conditional request: 304 with no body.
    let (s, _, body) = server.get_raw(&here, &[("If-None-Match", &etags[&here])]);
    assert_eq!((s, body.len()), (304, 0));
    // Compressed variants decode to the same tile.
    let (_, _, plain) = get(&here);
    let (s, h, br) = server.get_raw(&here, &[("Accept-Encoding", "br")]);
    assert_eq!((s, h["content-encoding"].as_str()), (200, "br"));
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut brotli::Decompressor::new(&br[..], 4096), &mut back).unwrap();
    assert_eq!(back, plain);
    assert_ne!(
        h["etag"], etags[&here],
        "each representation has its own ETag"
    );
    let (s, h, gz) = server.get_raw(&here, &[("Accept-Encoding", "gzip")]);
    assert_eq!((s, h["content-encoding"].as_str()), (200, "gzip"));
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
    assert_eq!(back, plain);

    let (_, tj) = server.get("/tiles/poles.json");
    let v_before = tj["data_version"].as_u64().unwrap();
    assert!(
        tj["tiles"][0]
            .as_str()
            .unwrap()
            .ends_with(&format!("?v={v_before}"))
    );

    // Edit: the pole is broken now.
    let (s, body) = server.patch(
        &format!("/objects/{}", enc(&pole.number)),
        &json!({"status": "broken"}),
    );
    assert_eq!(s, 200, "{body}");
    let status_of = |path: &str, id: u64| -> Option<String> {
        let (_, reader) = fetch(&server, path)?;
        let names = reader.get_layer_names().unwrap();
        let i = names.iter().position(|n| n == "poles")?;
        reader
            .get_features(i)
            .unwrap()
            .into_iter()
            .find(|f| f.id == Some(id))
            .map(|f| text(prop(&f, "status")))
    };
    let (c, e, _) = get(&here);
    assert_eq!(c, "miss", "the edited tile was dropped");
    assert_ne!(e, etags[&here], "its ETag changed");
    assert_eq!(status_of(&here, id).as_deref(), Some("broken"));
    let (c, e, _) = get(&there);
    assert_eq!(
        (c.as_str(), &e),
        ("hit", &etags[&there]),
        "an untouched tile stays cached"
    );
    let (c, _, _) = get(&here14);
    assert_eq!(c, "miss", "lower zooms holding the object were dropped too");
    let (_, tj) = server.get("/tiles/poles.json");
    assert!(
        tj["data_version"].as_u64().unwrap() > v_before,
        "the data version moved"
    );
    let (_, tj_wifi) = server.get("/tiles/wifi.json");
    assert!(
        tj_wifi["data_version"].as_u64().unwrap() <= v_before,
        "other layers keep theirs"
    );

    // Move the pole next to the far one: both places change.
    let e_there = get(&there).1;
    let (s, body) = server.patch(
        &format!("/objects/{}", enc(&pole.number)),
        &json!({"geometry": {"type": "Point", "coordinates": [far.lon + 1e-5, far.lat]}}),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(status_of(&here, id), None, "gone from its old tile");
    assert_eq!(
        status_of(&there, id).as_deref(),
        Some("broken"),
        "shown at its new place"
    );
    assert_ne!(get(&there).1, e_there);
    assert!(status_of(&there, far_id).is_some());

    // Delete: gone from the tile.
    let (s, _) = server.delete(&format!("/objects/{}", enc(&pole.number)));
    assert_eq!(s, 200);
    assert_eq!(status_of(&there, id), None);

    // Create: a new pole appears in the cached tile of its place.
    assert_eq!(get(&here).0, "hit");
    let (s, created) = server.post(
        "/objects",
        &json!({"layer": "poles", "geometry": {"type": "Point", "coordinates": [pole.lon, pole.lat]}, "status": "ok"}),
    );
    assert_eq!(s, 201, "{created}");
    let new_id = created["id"].as_u64().unwrap();
    assert_eq!(get(&here).0, "miss");
    assert_eq!(status_of(&here, new_id).as_deref(), Some("ok"));

    // The metrics saw all of this.
    let (s, h, body) = server.get_raw("/metrics", &[]);
    assert_eq!(s, 200);
    assert!(h["content-type"].starts_with("text/plain"));
    let text = String::from_utf8(body).unwrap();
    for needle in [
        "citytwin_tile_cache_hits_total",
        "citytwin_tile_cache_misses_total",
        "citytwin_tile_features_bucket",
        "citytwin_tile_bytes_total{encoding=\"br\"}",
        "citytwin_http_request_duration_seconds_bucket",
        "route=\"/tiles/{layers}/{z}/{x}/{y}\"",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}");
    }
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(value("citytwin_tile_cache_hits_total") >= 4.0);
    assert!(value("citytwin_tile_cache_invalidated") >= 3.0);
}
