//! The asset registry end to end: the real server and CLI on real open data.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Value, json};

fn helsinki_seed() -> String {
    repo("tests/fixtures/helsinki-seed.toml")
        .display()
        .to_string()
}

#[test]
fn demo_city_is_seeded_numbered_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("city.gpkg");
    let seed = repo("seeds/demo.toml").display().to_string();
    let mut server = Server::start(&store, &seed, &[]);
    // The public sees the public layers only.
    let (status, public) = server.get("/layers");
    assert_eq!(status, 200);
    let shown: Vec<&str> = public
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        shown,
        [
            "poles",
            "manholes",
            "shelters",
            "wifi",
            "trees",
            "addresses",
            "streets",
            "barriers",
            "districts",
            "buildings",
            "water",
            "waterways",
            "green",
            "landuse",
            "railways",
            "bridges"
        ]
    );
    // An engineer sees every layer.
    let engineer = token(&store, "engineer");
    server.as_token(Some(&engineer));
    let (status, layers) = server.get("/layers");
    assert_eq!(status, 200);
    let counts: BTreeMap<&str, u64> = layers
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts["poles"], 586);
    assert_eq!(counts["manholes"], 402);
    assert_eq!(counts["cameras"], 221);
    assert_eq!(counts["wifi"], 11);
    assert_eq!(counts["cabinets"], 8);
    assert_eq!(counts["trees"], 649);
    assert_eq!(counts["addresses"], 1464);
    assert_eq!(counts["streets"], 2577);
    // 2 Helsinki bomb shelters + the Kyiv lists (duplicates and rows without coordinates out).
    assert_eq!(counts["shelters"], 2 + KYIV_SHELTERS);
    assert_eq!(counts["buildings"], 446);
    for l in layers.as_array().unwrap() {
        assert!(["point", "line", "polygon"].contains(&l["geometry"].as_str().unwrap()));
        if l["count"].as_u64().unwrap() > 0 {
            assert_eq!(l["bbox"].as_array().unwrap().len(), 4, "{l}");
        }
    }

    // Every numbered object has a number; find one by number in both scripts.
    let (_, page) = server.get("/objects?layer=poles&limit=1000");
    let features = page["features"].as_array().unwrap();
    assert_eq!(features.len(), 586);
    for f in features {
        assert!(f["properties"]["number"].is_string(), "{f}");
    }
    let scheme = features
        .iter()
        .find(|f| f["properties"]["check_digit"] == true)
        .expect("a numbered pole");
    let number = scheme["properties"]["number"].as_str().unwrap();
    assert!(number.starts_with("ОП-"), "{number}");
    let latin = scheme["properties"]["number_latin"].as_str().unwrap();
    for written in [
        number.to_string(),
        latin.to_string(),
        latin.replace('-', ""),
        latin.to_lowercase(),
    ] {
        let (s, f) = server.get(&format!("/objects/{}", enc(&written)));
        assert_eq!(s, 200, "{written}: {f}");
        assert_eq!(f["type"], "Feature");
        assert_eq!(f["id"], scheme["id"]);
        assert_eq!(f["properties"]["layer"], "poles");
        assert!(f["properties"]["status"].is_string());
    }
    // The lamp with an OSM ref keeps it verbatim, without check digit.
    let kept: Vec<&Value> = features
        .iter()
        .filter(|f| f["properties"]["check_digit"] == false)
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["properties"]["number"], "605");
    // A wrong check digit is not found; junk is a 400; both are JSON.
    let wrong = format!(
        "{}{}",
        &latin[..latin.len() - 1],
        (latin.as_bytes()[latin.len() - 1] - b'0' + 1) % 10
    );
    let (s, e) = server.get(&format!("/objects/{}", enc(&wrong)));
    assert_eq!(s, 404, "{e}");
    assert!(e["error"].as_str().unwrap().contains("check digit"));
    let (s, e) = server.get("/objects/%20%20");
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["field"], "number");

    // Paging and bbox.
    let (_, p1) = server.get("/objects?layer=cameras&limit=100");
    assert_eq!(p1["number_returned"], 100);
    let after = p1["next_after"].as_u64().unwrap();
    let (_, p2) = server.get(&format!("/objects?layer=cameras&limit=100&after={after}"));
    let (_, p3) = server.get(&format!(
        "/objects?layer=cameras&limit=100&after={}",
        p2["next_after"]
    ));
    assert_eq!(p2["number_returned"], 100);
    assert_eq!(p3["number_returned"], 21);
    assert!(p3["next_after"].is_null());
    let (_, all) = server.get("/objects?layer=poles&bbox=24.94,60.16,24.95,60.17&limit=1000");
    for f in all["features"].as_array().unwrap() {
        let c = &f["geometry"]["coordinates"];
        let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!((24.94..=24.95).contains(&x) && (60.16..=60.17).contains(&y));
    }
    for bad in [
        "/objects?bbox=1,2,3",
        "/objects?bbox=a,b,c,d",
        "/objects?bbox=10,10,0,0",
        "/objects?bbox=0,0,200,10",
        "/objects?limit=0",
        "/objects?limit=1000000",
        "/objects?layer=nope",
        "/objects?after=-1",
    ] {
        let (s, e) = server.get(bad);
        assert_eq!(s, 400, "{bad}: {e}");
        assert!(e["error"].is_string(), "{bad}: {e}");
    }

    // Health.
    let (s, h) = server.get("/health");
    assert_eq!(s, 200);
    assert_eq!(h["status"], "ok");

    // Numbering rule: no two numbered objects within 1 km have confusable numbers.
    let mut numbered = Vec::new();
    for layer in [
        "poles", "manholes", "cameras", "wifi", "cabinets", "trees", "shelters",
    ] {
        let mut after = 0u64;
        loop {
            let (_, page) = server.get(&format!("/objects?layer={layer}&limit=1000&after={after}"));
            for f in page["features"].as_array().unwrap() {
                if f["properties"]["check_digit"] == true {
                    let digits: Vec<u8> = f["properties"]["number_latin"]
                        .as_str()
                        .unwrap()
                        .bytes()
                        .filter(u8::is_ascii_digit)
                        .map(|b| b - b'0')
                        .collect();
                    let c = &f["geometry"]["coordinates"];
                    numbered.push((
                        digits,
                        [c[0].as_f64().unwrap() as f32, c[1].as_f64().unwrap() as f32],
                    ));
                }
            }
            match page["next_after"].as_u64() {
                Some(a) => after = a,
                None => break,
            }
        }
    }
    let mut close = 0;
    for i in 0..numbered.len() {
        for j in i + 1..numbered.len() {
            if citytwin::numbering::assign_distance_m(numbered[i].1, numbered[j].1) < 1000.0 {
                close += 1;
                assert!(
                    !citytwin::numbering::confusable(&numbered[i].0, &numbered[j].0),
                    "{:?} and {:?} are confusable and within 1 km",
                    numbered[i],
                    numbered[j]
                );
            }
        }
    }
    assert!(
        close > 100_000,
        "the check must actually compare close pairs ({close})"
    );
}

/// Shelters the Kyiv lists yield after dedupe and rejects (see the CSV importer's tests).
const KYIV_SHELTERS: u64 = 3322;

#[test]
fn kyiv_shelter_lists_import_with_duplicates_removed_and_rejects_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kyiv.gpkg");
    let rejects = dir.path().join("kyiv-rejects.csv");
    let mut args: Vec<String> = (0..10)
        .map(|i| {
            repo(&format!("data/shelters/kyiv/{i}.csv"))
                .display()
                .to_string()
        })
        .collect();
    args.insert(0, "import".into());
    args.extend([
        "--layer".into(),
        "shelters".into(),
        "--mapping".into(),
        repo("seeds/kyiv-shelters.toml").display().to_string(),
        "--rejects".into(),
        rejects.display().to_string(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let report: Value = serde_json::from_str(&cli_ok(&store, &argv)).unwrap();
    assert_eq!(report["created"], KYIV_SHELTERS);
    assert!(report["duplicates"].as_u64().unwrap() >= 341, "{report}");
    assert_eq!(report["numbered"], KYIV_SHELTERS);
    let rejected = report["rejected"].as_u64().unwrap();
    assert!((25..=40).contains(&rejected), "{report}");
    let text = std::fs::read_to_string(&rejects).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    assert_eq!(
        &headers,
        &csv::StringRecord::from(vec!["file", "line", "field", "reason", "raw"])
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u64, rejected);
    for r in &rows {
        assert!(r[0].ends_with(".csv"), "{r:?}");
        assert!(r[1].parse::<u64>().unwrap() >= 2, "{r:?}");
        assert!(!r[3].is_empty());
    }
    assert!(
        rows.iter().any(|r| r[3].contains("shift")),
        "shifted-column rows are explained"
    );
    assert_eq!(counts(&store)["shelters"], KYIV_SHELTERS);
    // Re-import: nothing new, numbers unchanged.
    let again: Value = serde_json::from_str(&cli_ok(&store, &argv)).unwrap();
    assert_eq!(again["created"], 0, "{again}");
    assert_eq!(again["unchanged"], KYIV_SHELTERS);
}

#[test]
fn geopackage_opens_in_ogrinfo_with_every_layer_and_count() {
    if !have_tool(
        "ogrinfo",
        "the GeoPackage check with GDAL",
        "apt-get install -y gdal-bin",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let counts = counts(&store);
    let out = std::process::Command::new("ogrinfo")
        .arg("-ro")
        .arg("-so")
        .arg("-al")
        .arg(&store)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ogrinfo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layers = citytwin::model::Layers::default_city();
    for def in layers.defs() {
        let block = text
            .split("Layer name: ")
            .find(|b| b.starts_with(&format!("{}\n", def.name)))
            .unwrap_or_else(|| panic!("ogrinfo does not list layer {}:\n{text}", def.name));
        let want_geom = match def.geometry {
            citytwin::model::GeometryKind::Point => "Geometry: Point",
            citytwin::model::GeometryKind::Line => "Geometry: Line String",
            citytwin::model::GeometryKind::Polygon => "Geometry: Multi Polygon",
        };
        assert!(block.contains(want_geom), "{}: {block}", def.name);
        assert!(
            block.contains(&format!("Feature Count: {}\n", counts[&def.name])),
            "{} should have {} features:\n{block}",
            def.name,
            counts[&def.name]
        );
    }
    // Besides the feature layers, GDAL lists only citytwin's own tables, as plain tables.
    for block in text.split("Layer name: ").skip(1) {
        let name = block.lines().next().unwrap_or("");
        if layers.by_name(name).is_none() {
            assert!(
                name.starts_with("citytwin_") && block.contains("Geometry: None"),
                "{block}"
            );
        }
    }
}

/// Ids of the features `ogrinfo -spat` (GDAL) finds in `layer` of `store` within the box `b`
/// (`[min_x, min_y, max_x, max_y]`), in order.
fn ogr_box(store: &std::path::Path, layer: &str, b: [f64; 4]) -> Vec<i64> {
    let out = std::process::Command::new("ogrinfo")
        .args(["-ro", "-q", "-fields=NO", "-geom=NO", "-spat"])
        .args(b.map(|v| v.to_string()))
        .arg(store)
        .arg(layer)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ogrinfo -spat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = format!("OGRFeature({layer}):");
    let mut ids: Vec<i64> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// Runs SQL on `store` with `ogrinfo` (GDAL's own connection and SQL functions), writing when
/// `update`; returns what it printed.
fn ogr_sql(store: &std::path::Path, sql: &str, update: bool) -> String {
    let out = std::process::Command::new("ogrinfo")
        .arg(if update { "-update" } else { "-ro" })
        .args(["-q", "-sql", sql])
        .arg(store)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !text.contains("ERROR"),
        "ogrinfo -sql {sql:?}: {text}"
    );
    text
}

/// GDAL's GeoPackage validator (`validate_gpkg.py`, shipped by Debian's python3-gdal as the
/// module `osgeo_utils.samples.validate_gpkg`), ready for a file argument; `None`, reported as
/// a missing tool, where it is not installed.
fn gpkg_validator() -> Option<std::process::Command> {
    for python in ["python3", "/usr/bin/python3"] {
        let found = std::process::Command::new(python)
            .args(["-c", "import osgeo_utils.samples.validate_gpkg"])
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            let mut cmd = std::process::Command::new(python);
            cmd.args(["-m", "osgeo_utils.samples.validate_gpkg"]);
            return Some(cmd);
        }
    }
    have_tool(
        "validate_gpkg.py",
        "GeoPackage validation with GDAL's validator",
        "apt-get install -y python3-gdal",
    )
    .then(|| std::process::Command::new("validate_gpkg.py"))
}

/// Every layer keeps the GeoPackage spatial index (`gpkg_rtree_index`) exact through an import
/// written row by row, a bulk import, the server's moves, creations and deletes, and GDAL's own
/// writes: a box query of the index finds exactly the rows in the box, GDAL reports the index
/// and answers box queries with the objects citytwin finds, and GDAL's validator passes the
/// file.
#[test]
fn every_layer_keeps_an_exact_spatial_index_that_gdal_uses() {
    let dir = tempfile::tempdir().unwrap();
    // The Helsinki extract, then 12,000 trees on a grid north of it: each import one bulk write
    // (the index filled after the rows); later edits are indexed by the index's triggers.
    let store = helsinki_store(dir.path());
    let csv = dir.path().join("trees.csv");
    let mut text = String::from("id,lon,lat\n");
    for i in 0..12_000 {
        let (x, y) = (i % 100, i / 100);
        text += &format!(
            "t{i},{:.3},{:.3}\n",
            24.8 + x as f64 * 1e-3,
            60.3 + y as f64 * 1e-3
        );
    }
    std::fs::write(&csv, text).unwrap();
    let csv = csv.to_str().unwrap();
    cli_ok(&store, &["import", csv, "--layer", "trees", "--no-number"]);

    // The server moves poles into an empty box west of Helsinki, deletes others and creates
    // one in the box.
    let engineer = token(&store, "engineer");
    let mut server = Server::start(&store, "none", &[]);
    server.as_token(Some(&engineer));
    let (_, page) = server.get("/objects?layer=poles&limit=6");
    let numbers: Vec<&str> = page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["number"].as_str().unwrap())
        .collect();
    let far = [24.4, 60.4, 24.6, 60.6];
    for (i, n) in numbers[..4].iter().enumerate() {
        let at = [24.45 + i as f64 * 0.01, 60.5];
        let body = json!({"geometry": {"type": "Point", "coordinates": at}});
        let (s, e) = server.patch(&format!("/objects/{}", enc(n)), &body);
        assert_eq!(s, 200, "{e}");
    }
    for n in &numbers[4..6] {
        let (s, e) = server.delete(&format!("/objects/{}", enc(n)));
        assert_eq!(s, 200, "{e}");
    }
    let new =
        json!({"layer": "poles", "geometry": {"type": "Point", "coordinates": [24.55, 60.55]}});
    let (s, e) = server.post("/objects", &new);
    assert_eq!(s, 201, "{e}");
    let ids = |v: &Value| -> Vec<i64> {
        let mut ids: Vec<i64> = v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    };
    let box_query = |layer: &str, b: [f64; 4]| {
        let q = format!(
            "/objects?layer={layer}&limit=1000&bbox={},{},{},{}",
            b[0], b[1], b[2], b[3]
        );
        ids(&server.get(&q).1)
    };
    let served = box_query("poles", far);
    assert_eq!(served.len(), 5, "{served:?}");
    // Ten by ten trees of the grid: the box's edges lie between its lines.
    let grid = [24.8305, 60.3405, 24.8405, 60.3505];
    let served_trees = box_query("trees", grid);
    assert_eq!(served_trees.len(), 100);
    server.stop();

    // Each layer's index holds exactly its rows; its box queries find what the server found,
    // and in every layer exactly what lies in the middle of its rows.
    let rows = assert_spatial_index_exact(&store);
    assert_eq!(
        index_box_query(&store, "poles", &rows["poles"], far),
        served
    );
    assert_eq!(
        index_box_query(&store, "trees", &rows["trees"], grid),
        served_trees
    );
    for (t, r) in rows.iter().filter(|(_, r)| !r.is_empty()) {
        // The box between the quartiles of the rows' positions.
        let quartiles = |k: usize| {
            let mut v: Vec<f64> = r.values().map(|e| e[k]).collect();
            v.sort_by(f64::total_cmp);
            (v[v.len() / 4], v[v.len() * 3 / 4])
        };
        let ((x0, x1), (y0, y1)) = (quartiles(0), quartiles(2));
        let middle = [x0, y0, x1, y1];
        let found = index_box_query(&store, t, r, middle);
        assert!(
            !found.is_empty() || r.len() < 100,
            "{t}: nothing in {middle:?}"
        );
    }

    if !have_tool(
        "ogrinfo",
        "GeoPackage spatial index check with GDAL",
        "apt-get install -y gdal-bin",
    ) {
        return;
    }
    for t in rows.keys() {
        let out = ogr_sql(
            &store,
            &format!("SELECT HasSpatialIndex('{t}', 'geom')"),
            false,
        );
        assert!(out.contains("HasSpatialIndex (Integer) = 1"), "{t}: {out}");
    }
    assert_eq!(ogr_box(&store, "poles", far), served);
    assert_eq!(ogr_box(&store, "trees", grid), served_trees);

    // GDAL writes with its own connection: a pole moved into the box, one in it deleted.
    let outside = *rows["poles"]
        .keys()
        .find(|id| !served.contains(id))
        .unwrap();
    let to = citytwin::model::Geometry::Point([24.42, 60.42]);
    let blob = hex::encode(citytwin::store::gpkg::encode_geometry(&to).unwrap());
    ogr_sql(
        &store,
        &format!("UPDATE poles SET geom = X'{blob}' WHERE fid = {outside}"),
        true,
    );
    ogr_sql(
        &store,
        &format!("DELETE FROM poles WHERE fid = {}", served[0]),
        true,
    );
    let rows = assert_spatial_index_exact(&store);
    let mut want = served[1..].to_vec();
    want.push(outside);
    want.sort_unstable();
    assert_eq!(index_box_query(&store, "poles", &rows["poles"], far), want);
    assert_eq!(ogr_box(&store, "poles", far), want);

    if let Some(mut validate) = gpkg_validator() {
        let out = validate.arg(&store).output().unwrap();
        assert!(
            out.status.success(),
            "validate_gpkg: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn export(store: &std::path::Path, layer: &str, format: &str, out: &std::path::Path) {
    cli_ok(
        store,
        &[
            "export",
            "--layer",
            layer,
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ],
    );
}

/// (number, status, attributes, geometry) of every object in a GeoJSON export, by number.
fn content(path: &std::path::Path) -> BTreeMap<String, Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            (
                // Unnumbered objects (streets) by their source id.
                p["number"]
                    .as_str()
                    .or(p["source_id"].as_str())
                    .unwrap_or("")
                    .to_string(),
                json!([
                    p["check_digit"],
                    p["status"],
                    p["attributes"],
                    f["geometry"],
                    p["layer"]
                ]),
            )
        })
        .collect()
}

#[test]
fn export_then_import_is_lossless_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    // Give objects varied status and typed attributes through the API first.
    {
        let admin = token(&store, "admin");
        let mut server = Server::start(&store, "none", &[]);
        server.as_token(Some(&admin));
        let (_, page) = server.get("/objects?layer=manholes&limit=3");
        for (i, f) in page["features"].as_array().unwrap().iter().enumerate() {
            let n = f["properties"]["number"].as_str().unwrap();
            let status = ["broken", "closed", "ok"][i];
            let depth = 1.5 + i as f64;
            let body = json!({"status": status, "attributes": {"depth_m": depth, "inspected": true, "crew": 7}});
            let (s, e) = server.patch(&format!("/objects/{}", enc(n)), &body);
            assert_eq!(s, 200, "{e}");
        }
    }
    for layer in ["manholes", "streets"] {
        let original = dir.path().join(format!("{layer}.geojson"));
        export(&store, layer, "geojson", &original);
        let want = content(&original);
        assert!(want.len() > 100);
        for format in ["geojson", "csv", "gpkg"] {
            if format == "csv" && layer == "streets" {
                continue; // CSV carries lines only as WKT for GIS tools; points round-trip
            }
            let file = dir.path().join(format!("{layer}-out.{format}"));
            export(&store, layer, format, &file);
            let fresh = dir.path().join(format!("{layer}-{format}.gpkg"));
            cli_ok(
                &fresh,
                &[
                    "import",
                    file.to_str().unwrap(),
                    "--format",
                    format,
                    "--layer",
                    layer,
                    "--mapping",
                    "citytwin",
                    "--strict",
                ],
            );
            let back = dir.path().join(format!("{layer}-{format}-back.geojson"));
            export(&fresh, layer, "geojson", &back);
            let got = content(&back);
            assert_eq!(got.len(), want.len(), "{layer} via {format}");
            for (number, v) in &want {
                assert_eq!(
                    got.get(number),
                    Some(v),
                    "{layer} via {format}: object {number} differs"
                );
            }
            std::fs::remove_file(&file).unwrap();
        }
    }
}

#[test]
fn bad_files_give_precise_errors_and_leave_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let before_counts = counts(&store);
    let before_export = dir.path().join("before.geojson");
    export(&store, "poles", "geojson", &before_export);
    let before_history = std::fs::metadata(&store).unwrap().len();
    let _ = before_history;

    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let mut cases: Vec<(std::path::PathBuf, Vec<&str>, Vec<&str>)> = vec![
        (
            write(
                "broken.geojson",
                "{\"type\":\"FeatureCollection\",\"features\":[\n{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[24.9,60.1]},\"properties\":{}},\n{\"type\": oops}\n]}",
            ),
            vec!["--layer", "poles"],
            vec!["broken.geojson", "line 3"],
        ),
        (
            write("nocoords.csv", "name;status\nlamp;ok\n"),
            vec!["--layer", "poles"],
            vec!["nocoords.csv", "name"],
        ),
        (
            write("garbage.osm.pbf", "not a pbf at all"),
            vec![],
            vec!["garbage.osm.pbf"],
        ),
        (
            write("allbad.csv", "lon,lat\nabc,def\nNaN,60\n"),
            vec!["--layer", "poles"],
            vec!["allbad.csv", "rejected"],
        ),
        (
            write("strict.csv", "lon,lat\n24.94,60.17\n24.95,NaN\n"),
            vec!["--layer", "poles", "--strict"],
            vec!["strict.csv", ":3", "lat"],
        ),
        (
            write("wrongcrs.csv", "lon,lat\n24.94,60.17\n"),
            vec!["--layer", "poles", "--crs", "EPSG:999999"],
            vec!["999999"],
        ),
        (
            write(
                "lines-as-points.geojson",
                "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"geometry\":{\"type\":\"LineString\",\"coordinates\":[[24.9,60.1],[24.91,60.11]]},\"properties\":{}}]}",
            ),
            vec!["--layer", "poles", "--strict"],
            vec!["lines-as-points.geojson", "geometry"],
        ),
    ];
    // A file large enough to be read, checked and written in parts (over 8 MiB): its last
    // line is broken, so the error comes after earlier parts went into the transaction.
    let rows = 160_000;
    let mut big = String::from("lon,lat,name\n");
    for i in 0..rows {
        big.push_str(&format!(
            "24.{:06},60.{:06},Street light on a long avenue number {i}\n",
            100_000 + i % 800_000,
            150_000 + i / 100
        ));
    }
    let mut big = big.into_bytes();
    let at = big.len() - 5;
    big[at] = 0xFF;
    assert!(big.len() > 8 << 20);
    let big_file = dir.path().join("big-broken.csv");
    std::fs::write(&big_file, &big).unwrap();
    let big_line = format!("line {}", rows + 1);
    cases.push((
        big_file,
        vec!["--layer", "poles"],
        vec!["big-broken.csv", &big_line, "UTF-8"],
    ));
    for (file, extra, needles) in &cases {
        let mut args = vec!["import", file.to_str().unwrap()];
        args.extend(extra.iter().copied());
        let out = cli(&store, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file:?} should fail");
        for n in needles {
            assert!(
                err.contains(n),
                "{file:?}: error should mention {n:?}:\n{err}"
            );
        }
        assert_eq!(counts(&store), before_counts, "{file:?} changed the store");
    }
    // A number that is already taken, in the middle of a file: the whole file is refused.
    let (_, taken) = {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&before_export).unwrap()).unwrap();
        (
            0,
            v["features"][0]["properties"]["number"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    let f = write(
        "taken.csv",
        &format!("lon,lat,number\n24.94,60.17,\n24.941,60.171,{taken}\n"),
    );
    let out = cli(
        &store,
        &[
            "import",
            f.to_str().unwrap(),
            "--layer",
            "poles",
            "--mapping",
            write("m.toml", "number = \"number\"\n").to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("already held") && err.contains("taken.csv"),
        "{err}"
    );
    assert_eq!(counts(&store), before_counts);
    let after_export = dir.path().join("after.geojson");
    export(&store, "poles", "geojson", &after_export);
    assert_eq!(content(&before_export), content(&after_export));
}

#[test]
fn numbers_survive_reimport_and_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.gpkg");
    let pbf = repo("data/osm/helsinki.osm.pbf");
    cli_ok(&store, &["import", pbf.to_str().unwrap()]);
    let by_source = |path: &std::path::Path| -> BTreeMap<String, String> {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["properties"]["source_id"].as_str().unwrap().to_string(),
                    f["properties"]["number"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let first = dir.path().join("first.geojson");
    export(&store, "cameras", "geojson", &first);
    let report: Value =
        serde_json::from_str(&cli_ok(&store, &["import", pbf.to_str().unwrap()])).unwrap();
    assert_eq!(report["created"], 0);
    assert_eq!(report["numbered"], 0);
    let second = dir.path().join("second.geojson");
    export(&store, "cameras", "geojson", &second);
    assert_eq!(by_source(&first), by_source(&second));

    // Delete a camera over HTTP; its number is retired.
    let numbers = by_source(&first);
    let (gone_source, gone_number) = numbers
        .iter()
        .next()
        .map(|(a, b)| (a.clone(), b.clone()))
        .unwrap();
    let admin = token(&store, "admin");
    let mut server = Server::start(&store, "none", &[]);
    server.as_token(Some(&admin));
    let (s, e) = server.delete(&format!("/objects/{}", enc(&gone_number)));
    assert_eq!(s, 200, "{e}");
    let (s, _) = server.get(&format!("/objects/{}", enc(&gone_number)));
    assert_eq!(s, 404);
    // Creating with the retired number is refused; new objects never get it.
    let (s, e) = server.post("/objects", &json!({"layer": "cameras", "geometry": {"type": "Point", "coordinates": [24.945, 60.17]}, "number": gone_number}));
    assert_eq!(s, 409, "{e}");
    let gone_digits: String = gone_number.chars().filter(char::is_ascii_digit).collect();
    for i in 0..30 {
        let (s, f) = server.post("/objects", &json!({"layer": "cameras", "geometry": {"type": "Point", "coordinates": [24.945 + i as f64 * 1e-5, 60.17]}}));
        assert_eq!(s, 201, "{f}");
        let n: String = f["properties"]["number"]
            .as_str()
            .unwrap()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        assert_ne!(n, gone_digits);
    }
    server.stop();
    // Re-importing the file brings the deleted camera back as a new object with a new number.
    let report: Value =
        serde_json::from_str(&cli_ok(&store, &["import", pbf.to_str().unwrap()])).unwrap();
    assert_eq!(report["created"], 1, "{report}");
    let third = dir.path().join("third.geojson");
    export(&store, "cameras", "geojson", &third);
    let now = by_source(&third);
    assert_ne!(now[&gone_source], gone_number);
    for (src, n) in &numbers {
        if *src != gone_source {
            assert_eq!(&now[src], n);
        }
    }
}

#[test]
fn openapi_documents_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("s.gpkg"), &helsinki_seed(), &[]);
    let (s, api) = server.get("/openapi.json");
    assert_eq!(s, 200);
    let paths = api["paths"].as_object().unwrap();
    for route in ["/health", "/layers", "/objects", "/objects/{number}"] {
        assert!(
            paths.contains_key(route),
            "{route} missing from /openapi.json"
        );
    }
    // Every documented GET answers (not the unknown-route 404).
    for (path, ops) in paths {
        if ops.get("get").is_some() {
            let concrete = path
                .replace("{number}", "OP-000000-0")
                .replace("{layers}", "poles")
                .replace("{z}", "0")
                .replace("{x}", "0")
                .replace("{y}", "0");
            let (_, body) = server.get(&concrete);
            assert_ne!(
                body["error"].as_str().unwrap_or(""),
                "no such route; see /openapi.json",
                "{path}"
            );
        }
    }
    // No route may bypass the OpenAPI router: only /openapi.json itself is added by hand, and
    // routes whose last segment has a suffix (`{y}.mvt`, `{layers}.json`), each of which must
    // be documented under its suffixed path.
    for route in [
        "/tiles/{layers}/{z}/{x}/{y}.mvt",
        "/tiles/{layers}.json",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(route),
            "{route} missing from /openapi.json"
        );
    }
    let suffixed: std::collections::HashMap<&str, &str> = [
        (
            "\"/tiles/{layers}/{z}/{x}/{y}\"",
            "/tiles/{layers}/{z}/{x}/{y}.mvt",
        ),
        ("\"/tiles/{name}\"", "/tiles/{layers}.json"),
        ("\"/styles/{name}\"", "/styles/{name}.json"),
        (
            "\"/fonts/{fontstack}/{range}\"",
            "/fonts/{fontstack}/{range}.pbf",
        ),
        ("\"/assets/{*path}\"", "/assets/{path}"),
    ]
    .into();
    for entry in std::fs::read_dir(repo("src/http")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // Test modules build routers of their own.
        let lines: Vec<&str> = text
            .lines()
            .take_while(|l| !l.starts_with("#[cfg(test)]"))
            .collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.contains(".route(") {
                continue;
            }
            let here = format!("{line} {}", lines.get(i + 1).unwrap_or(&""));
            let documented = here.contains("\"/openapi.json\"")
                || suffixed
                    .iter()
                    .any(|(pat, doc)| here.contains(pat) && paths.contains_key(*doc));
            assert!(
                documented,
                "{}:{}: route added outside the OpenAPI router",
                path.display(),
                i + 1
            );
        }
    }
    // Unknown routes and methods: JSON errors.
    let (s, e) = server.get("/no/such/thing");
    assert_eq!(s, 404);
    assert_eq!(e["code"], "not_found");
}

#[test]
fn fibre_networks_and_projected_coordinates_import_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.gpkg");
    // OFDS: the NZ backbone, format recognised from the content.
    let report: Value = serde_json::from_str(&cli_ok(
        &store,
        &[
            "import",
            repo("data/fibre/nz_chorus_ofds.json").to_str().unwrap(),
        ],
    ))
    .unwrap();
    assert_eq!(report["created"], 45 + 56, "{report}");
    let c = counts(&store);
    assert_eq!(c["fibre_nodes"], 45);
    assert_eq!(c["fibre_spans"], 56);

    // A CSV in UTM 36N (EPSG:32636): Kyiv's Maidan lands where PROJ says it is.
    let csv = dir.path().join("utm.csv");
    std::fs::write(&csv, "x;y;name\n324182,209;5591607,608;Maidan\n").unwrap();
    let mapping = dir.path().join("utm.toml");
    std::fs::write(&mapping, "lon = \"x\"\nlat = \"y\"\nname = \"name\"\n").unwrap();
    cli_ok(
        &store,
        &[
            "import",
            csv.to_str().unwrap(),
            "--layer",
            "cameras",
            "--crs",
            "EPSG:32636",
            "--mapping",
            mapping.to_str().unwrap(),
        ],
    );
    let engineer = token(&store, "engineer");
    let mut server = Server::start(&store, "none", &[]);
    server.as_token(Some(&engineer));
    let (_, page) = server.get("/objects?layer=cameras");
    let f = &page["features"][0];
    let c = &f["geometry"]["coordinates"];
    let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
    assert!(
        (lon - 30.5234).abs() < 1e-4 && (lat - 50.4501).abs() < 1e-4,
        "{lon} {lat}"
    );
    assert!(
        f["properties"]["number"]
            .as_str()
            .unwrap()
            .starts_with("КМ-")
    );
    let (_, spans) = server.get("/objects?layer=fibre_spans&limit=1");
    assert_eq!(spans["features"][0]["geometry"]["type"], "LineString");
}
