//! Shelters against the real server: walking routes on the demo streets and on a test city
//! built around ways closed to feet, step-free routes, open-now, the fallback to straight
//! lines, hidden shelters on every route, the audit of the Kyiv lists, and `/stats`.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{Value, json};

/// Metres between two `[lon, lat]` positions (haversine, as the server measures).
fn metres(a: [f64; 2], b: [f64; 2]) -> f64 {
    let r = 6_371_008.8;
    let (la1, la2) = (a[1].to_radians(), b[1].to_radians());
    let dla = la2 - la1;
    let dlo = (b[0] - a[0]).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

fn line(v: &Value) -> Vec<[f64; 2]> {
    assert_eq!(v["type"], "LineString", "{v}");
    v["coordinates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
        .collect()
}

fn length(l: &[[f64; 2]]) -> f64 {
    l.windows(2).map(|s| metres(s[0], s[1])).sum()
}

/// A GeoJSON file of features `(geometry, properties)` in `dir`.
fn geojson(dir: &Path, name: &str, features: &[(Value, Value)]) -> PathBuf {
    let fc = json!({
        "type": "FeatureCollection",
        "features": features.iter().map(|(g, p)| json!({"type": "Feature", "geometry": g, "properties": p})).collect::<Vec<_>>(),
    });
    let path = dir.join(name);
    std::fs::write(&path, fc.to_string()).unwrap();
    path
}

fn ls(points: &[[f64; 2]]) -> Value {
    json!({"type": "LineString", "coordinates": points})
}

fn pt(p: [f64; 2]) -> Value {
    json!({"type": "Point", "coordinates": p})
}

// The test city, around (30.000, 50.000): a direct way A–B of about 143 m, and a detour
// A–C–D–B of about 365 m. The shelter stands 36 m east of B, the caller 14 m east of A.
const A: [f64; 2] = [30.0, 50.0];
const B: [f64; 2] = [30.002, 50.0];
const C: [f64; 2] = [30.0, 50.001];
const D: [f64; 2] = [30.002, 50.001];
const M: [f64; 2] = [30.001, 50.0];
const SHELTER: [f64; 2] = [30.0025, 50.0];
const CALLER: [f64; 2] = [30.0002, 50.0];

/// A store with the detour and a direct way A–M–B tagged `direct`, a shelter near B, and
/// `barrier` (if any) on M.
fn test_city(dir: &Path, direct: Value, barrier: Option<Value>) -> PathBuf {
    let store = dir.join("city.gpkg");
    let streets = geojson(
        dir,
        "streets.geojson",
        &[
            (ls(&[A, M, B]), direct),
            (
                ls(&[A, C]),
                json!({"highway": "residential", "name": "West"}),
            ),
            (
                ls(&[C, D]),
                json!({"highway": "residential", "name": "North"}),
            ),
            (
                ls(&[D, B]),
                json!({"highway": "residential", "name": "East"}),
            ),
        ],
    );
    cli_ok(
        &store,
        &["import", "--layer", "streets", streets.to_str().unwrap()],
    );
    if let Some(b) = barrier {
        let barriers = geojson(dir, "barriers.geojson", &[(pt(M), b)]);
        cli_ok(
            &store,
            &["import", "--layer", "barriers", barriers.to_str().unwrap()],
        );
    }
    let shelters = geojson(
        dir,
        "shelters.geojson",
        &[(
            pt(SHELTER),
            json!({"legal_type": "Найпростіше укриття", "accessible": true, "capacity": 80, "opening_hours": "24/7"}),
        )],
    );
    cli_ok(
        &store,
        &["import", "--layer", "shelters", shelters.to_str().unwrap()],
    );
    store
}

fn nearest(server: &Server, at: [f64; 2], extra: &str) -> Value {
    let (s, v) = server.get(&format!(
        "/shelters/nearest?lat={}&lon={}{extra}",
        at[1], at[0]
    ));
    assert_eq!(s, 200, "{v}");
    v
}

/// The one route of an answer, checked: walked, from the caller to the shelter, connected,
/// as long as its metres, and no shorter than the straight line.
fn route_of(v: &Value) -> (f64, Vec<[f64; 2]>) {
    assert_eq!(v["routing"], "walking", "{v}");
    let s = &v["shelters"][0];
    let r = line(&s["route"]);
    assert_eq!(r[0], CALLER, "the route starts at the caller");
    assert_eq!(*r.last().unwrap(), SHELTER, "the route ends at the shelter");
    let m = s["metres"].as_f64().unwrap();
    assert!((length(&r) - m).abs() < 1.0, "{} vs {m}", length(&r));
    assert!(m >= metres(CALLER, SHELTER), "{m}");
    (m, r)
}

const DETOUR_M: f64 = 14.3 + 111.2 + 143.0 + 111.2 + 35.8;

#[test]
fn a_way_closed_to_feet_is_never_walked_and_an_edit_opens_it() {
    for closed in [
        json!({"highway": "footway", "foot": "no"}),
        json!({"highway": "service", "access": "private"}),
        json!({"highway": "motorway"}),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = test_city(dir.path(), closed.clone(), None);
        let admin = token(&store, "admin");
        let mut server = Server::start(&store, "none", &[]);
        let (m, r) = route_of(&nearest(&server, CALLER, "&k=1"));
        assert!(
            (m - DETOUR_M).abs() < 5.0,
            "{closed}: {m} m, not the detour"
        );
        assert!(r.contains(&C) && r.contains(&D), "{closed}: {r:?}");
        assert!(!r.contains(&M), "{closed}: walked the closed way");
        // An edit: a footway added beside the closed way is taken at once.
        server.as_token(Some(&admin));
        let (s, e) = server.post(
            "/objects",
            &json!({"layer": "streets", "geometry": ls(&[A, M, B]), "attributes": {"highway": "footway"}}),
        );
        assert_eq!(s, 201, "{e}");
        server.as_token(None);
        let (m, r) = route_of(&nearest(&server, CALLER, "&k=1"));
        assert!(m < 200.0, "{closed}: the new footway was not taken: {m} m");
        assert!(r.contains(&M), "{r:?}");
    }
}

#[test]
fn barriers_block_and_steps_stay_off_step_free_routes() {
    // A private gate on M: the detour.
    let dir = tempfile::tempdir().unwrap();
    let store = test_city(
        dir.path(),
        json!({"highway": "footway"}),
        Some(json!({"barrier": "gate", "access": "private"})),
    );
    let server = Server::start(&store, "none", &[]);
    let (m, _) = route_of(&nearest(&server, CALLER, ""));
    assert!((m - DETOUR_M).abs() < 5.0, "through the private gate: {m}");
    drop(server);
    // A stile on M: people on foot pass, a wheelchair does not.
    let dir = tempfile::tempdir().unwrap();
    let store = test_city(
        dir.path(),
        json!({"highway": "footway"}),
        Some(json!({"barrier": "stile"})),
    );
    let server = Server::start(&store, "none", &[]);
    let (m, _) = route_of(&nearest(&server, CALLER, ""));
    assert!(m < 200.0, "a stile stopped a walker: {m}");
    let v = nearest(&server, CALLER, "&accessible=true");
    let (m, _) = route_of(&v);
    assert!(
        (m - DETOUR_M).abs() < 5.0,
        "a wheelchair crossed a stile: {m}"
    );
    drop(server);
    // Steps: walked, never on a step-free route; slower minutes when step-free.
    let dir = tempfile::tempdir().unwrap();
    let store = test_city(dir.path(), json!({"highway": "steps"}), None);
    let server = Server::start(&store, "none", &[]);
    let walk = nearest(&server, CALLER, "");
    let (m, _) = route_of(&walk);
    assert!(m < 200.0, "{m}");
    assert_eq!(walk["shelters"][0]["steps"], true);
    let chair = nearest(&server, CALLER, "&accessible=true");
    let (m, r) = route_of(&chair);
    assert!((m - DETOUR_M).abs() < 5.0, "{m}");
    assert!(!r.contains(&M));
    assert_eq!(chair["shelters"][0]["steps"], false);
    let speed = |v: &Value| {
        v["shelters"][0]["metres"].as_f64().unwrap() / v["shelters"][0]["minutes"].as_f64().unwrap()
    };
    assert!(speed(&chair) < speed(&walk), "step-free is not slower");
    assert_eq!(walk["speed_kmh"], 5.0);
    assert_eq!(chair["speed_kmh"], 3.0);
}

#[test]
fn filters_fallbacks_and_bad_questions() {
    let dir = tempfile::tempdir().unwrap();
    let store = test_city(dir.path(), json!({"highway": "footway"}), None);
    let admin = token(&store, "admin");
    let mut server = Server::start(&store, "none", &[]);
    // A second shelter near A: closed by its hours, without step-free entry.
    server.as_token(Some(&admin));
    let near_a = [29.9995, 50.0];
    let (s, made) = server.post(
        "/objects",
        &json!({"layer": "shelters", "geometry": pt(near_a), "attributes": {"opening_hours": "off", "accessible": false}}),
    );
    assert_eq!(s, 201, "{made}");
    let number = made["properties"]["number"].as_str().unwrap().to_string();
    server.as_token(None);
    let all = nearest(&server, CALLER, "&k=2");
    assert_eq!(all["shelters"][0]["number"], number.as_str(), "{all}");
    assert_eq!(all["shelters"][0]["open_now"], false);
    assert_eq!(all["shelters"][1]["open_now"], true);
    let open = nearest(&server, CALLER, "&k=2&open_now=true");
    assert_eq!(open["shelters"].as_array().unwrap().len(), 1, "{open}");
    assert_ne!(open["shelters"][0]["number"], number.as_str());
    let step_free = nearest(&server, CALLER, "&k=2&accessible=true");
    assert_eq!(step_free["shelters"].as_array().unwrap().len(), 1);
    // Reported locked: left out when open_now.
    server.as_token(Some(&admin));
    let other = open["shelters"][0]["number"].as_str().unwrap().to_string();
    let (s, e) = server.patch(
        &format!("/objects/{}", enc(&other)),
        &json!({"attributes": {"locked_reported": "2026-12-03T10:00"}}),
    );
    assert_eq!(s, 200, "{e}");
    server.as_token(None);
    let open = nearest(&server, CALLER, "&k=2&open_now=true");
    assert_eq!(open["shelters"].as_array().unwrap().len(), 0, "{open}");
    let all = nearest(&server, CALLER, "&k=2");
    assert_eq!(all["shelters"][1]["status"], "locked_reported", "{all}");
    // Far from every way: straight lines, said so.
    let far = [30.05, 50.05];
    let v = nearest(&server, far, "&k=2&max_m=20000");
    assert_eq!(v["routing"], "straight_line", "{v}");
    assert!(v["note"].as_str().unwrap().contains("straight"), "{v}");
    let s0 = &v["shelters"][0];
    let r = line(&s0["route"]);
    assert_eq!(r.len(), 2);
    assert!((s0["metres"].as_f64().unwrap() - length(&r)).abs() < 1.0);
    // Bad questions: 400 with the field named.
    for (q, field) in [
        ("lat=91&lon=30", "lat"),
        ("lat=50&lon=30&k=0", "k"),
        ("lat=50&lon=30&k=1000", "k"),
        ("lat=50&lon=30&max_m=-1", "max_m"),
        ("lat=50&lon=30&max_m=1e9", "max_m"),
    ] {
        let (s, e) = server.get(&format!("/shelters/nearest?{q}"));
        assert_eq!(s, 400, "{q}: {e}");
        assert_eq!(e["field"], field, "{q}: {e}");
    }
    let (s, e) = server.get("/shelters/nearest?lat=50&lon=30&walk=yes");
    assert_eq!(s, 400, "{e}");
}

#[test]
fn routes_on_the_demo_streets_are_connected_and_step_free_ones_avoid_steps() {
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let admin = token(&store, "admin");
    let mut server = Server::start(&store, "none", &[]);
    server.as_token(Some(&admin));
    // Steps of the extract, as segments.
    let mut steps: Vec<([f64; 2], [f64; 2])> = Vec::new();
    let mut after = 0;
    loop {
        let (s, page) = server.get(&format!("/objects?layer=streets&limit=1000&after={after}"));
        assert_eq!(s, 200);
        for f in page["features"].as_array().unwrap() {
            if f["properties"]["attributes"]["highway"] == "steps" {
                let l = line(&f["geometry"]);
                steps.extend(l.windows(2).map(|w| (w[0], w[1])));
            }
        }
        match page["next_after"].as_u64() {
            Some(a) => after = a,
            None => break,
        }
    }
    assert!(
        steps.len() > 5,
        "the extract has {} step segments",
        steps.len()
    );
    // Shelters spread over the extract, step-free ones among them.
    let spots = [
        [24.9410, 60.1690],
        [24.9460, 60.1710],
        [24.9380, 60.1660],
        [24.9500, 60.1680],
        [24.9430, 60.1730],
    ];
    for (i, p) in spots.iter().enumerate() {
        let (s, e) = server.post(
            "/objects",
            &json!({"layer": "shelters", "geometry": pt(*p), "attributes": {"accessible": i % 2 == 0, "capacity": 50 + i}}),
        );
        assert_eq!(s, 201, "{e}");
    }
    server.as_token(None);
    let on_steps = |a: [f64; 2], b: [f64; 2]| {
        steps
            .iter()
            .any(|(x, y)| (*x == a && *y == b) || (*x == b && *y == a))
    };
    let mut walked = 0;
    for from in [[24.9425, 60.1700], [24.9450, 60.1665], [24.9395, 60.1720]] {
        for extra in ["&k=3", "&k=3&accessible=true"] {
            let v = nearest(&server, from, extra);
            let list = v["shelters"].as_array().unwrap();
            assert!(!list.is_empty(), "{from:?}{extra}: {v}");
            let mut last = 0.0;
            for s in list {
                let m = s["metres"].as_f64().unwrap();
                assert!(m >= last, "not nearest first: {v}");
                last = m;
                let r = line(&s["route"]);
                let at = [s["lon"].as_f64().unwrap(), s["lat"].as_f64().unwrap()];
                assert_eq!(r[0], from);
                assert_eq!(*r.last().unwrap(), at);
                if s["routing"] == "walking" {
                    walked += 1;
                    assert!((length(&r) - m).abs() < 1.0, "{} vs {m}", length(&r));
                    assert!(m + 0.5 >= metres(from, at), "shorter than the crow flies");
                    // Connected: no jump longer than a street segment of the extract.
                    assert!(
                        r.windows(2).all(|w| metres(w[0], w[1]) < 400.0),
                        "a jump in the route"
                    );
                    if extra.contains("accessible") {
                        assert!(
                            !r.windows(2).any(|w| on_steps(w[0], w[1])),
                            "a step-free route takes steps"
                        );
                        assert_eq!(s["accessible"], true);
                        assert_eq!(s["steps"], false);
                    }
                }
            }
        }
    }
    assert!(walked >= 6, "only {walked} routes were walked");
}

/// Hidden shelters are in no answer to anyone but staff: every documented route is asked,
/// aimed at them, as every role.
#[test]
fn hidden_shelters_appear_in_no_public_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let admin = token(&store, "admin");
    let resident = token(&store, "resident");
    let dispatcher = token(&store, "dispatcher");
    let mut server = Server::start(&store, "none", &[]);
    server.as_token(Some(&admin));
    let spots = [[24.9411, 60.1691], [24.9461, 60.1711], [24.9381, 60.1661]];
    let mut hidden: Vec<(String, String, u64, [f64; 2])> = Vec::new();
    for (i, p) in spots.iter().enumerate() {
        let (s, made) = server.post(
            "/objects",
            &json!({"layer": "shelters", "geometry": pt(*p), "attributes": {"hidden": true, "capacity": 777_000 + i, "address": format!("Secret street {i}")}}),
        );
        assert_eq!(s, 201, "{made}");
        hidden.push((
            made["properties"]["number"].as_str().unwrap().to_string(),
            made["properties"]["number_latin"]
                .as_str()
                .unwrap()
                .to_string(),
            made["id"].as_u64().unwrap(),
            *p,
        ));
    }
    // A shelter beside each hidden one that everybody sees.
    for p in &spots {
        let (s, _) = server.post(
            "/objects",
            &json!({"layer": "shelters", "geometry": pt([p[0] + 0.0004, p[1]]), "attributes": {"capacity": 10}}),
        );
        assert_eq!(s, 201);
    }
    let (_, api) = server.get("/openapi.json");
    let documented: std::collections::BTreeSet<String> =
        api["paths"].as_object().unwrap().keys().cloned().collect();
    let mut asks: Vec<(String, String)> = vec![
        ("/health".into(), "/health".into()),
        ("/layers".into(), "/layers".into()),
        (
            "/objects".into(),
            "/objects?layer=shelters&limit=1000".into(),
        ),
        ("/objects".into(), "/objects?limit=1000&after=0".into()),
        ("/metrics".into(), "/metrics".into()),
        ("/".into(), "/".into()),
        ("/assets/{path}".into(), "/assets/app.js".into()),
        (
            "/fonts/{fontstack}/{range}.pbf".into(),
            "/fonts/DejaVu%20Sans/0-255.pbf".into(),
        ),
        ("/sprites/{file}".into(), "/sprites/citytwin.json".into()),
        (
            "/audit/numbers".into(),
            "/audit/numbers?within_m=5000".into(),
        ),
        ("/audit/shelters".into(), "/audit/shelters".into()),
        ("/stats".into(), "/stats".into()),
        ("/shelters".into(), "/shelters".into()),
        ("/shelters/sw.js".into(), "/shelters/sw.js".into()),
        ("/dispatch".into(), "/dispatch".into()),
        ("/fibre/bridges".into(), "/fibre/bridges".into()),
        ("/fibre/path".into(), "/fibre/path?from=0,0&to=1,1".into()),
        ("/fibre/isolate".into(), "/fibre/isolate?lon=0&lat=0".into()),
        (
            "/fibre/connected".into(),
            "/fibre/connected?node=0,0".into(),
        ),
        ("/dispatch/calls".into(), "/dispatch/calls".into()),
        ("/reports".into(), "/reports".into()),
        ("/reports/kinds".into(), "/reports/kinds".into()),
        ("/report".into(), "/report".into()),
        ("/centre".into(), "/centre".into()),
        ("/incidents".into(), "/incidents".into()),
        ("/incidents/{id}".into(), "/incidents/1".into()),
        ("/reports/{id}/photo".into(), "/reports/1/photo".into()),
        ("/events".into(), "/events?after=0&follow=false".into()),
        ("/shelters/list".into(), "/shelters/list".into()),
        (
            "/shelters/instructions".into(),
            "/shelters/instructions?lang=uk".into(),
        ),
        ("/tiles/{layers}.json".into(), "/tiles/shelters.json".into()),
        (
            "/styles/{name}.json".into(),
            "/styles/residents.json".into(),
        ),
    ];
    asks.push((
        "/shelters/city.pmtiles".into(),
        "/shelters/city.pmtiles".into(),
    ));
    for (number, latin, _, p) in &hidden {
        let near = format!("{},{}", p[1], p[0]);
        let bbox = format!(
            "{},{},{},{}",
            p[0] - 0.001,
            p[1] - 0.001,
            p[0] + 0.001,
            p[1] + 0.001
        );
        asks.extend([
            (
                "/objects/{number}".into(),
                format!("/objects/{}", enc(number)),
            ),
            (
                "/objects/{number}".into(),
                format!("/objects/{}", enc(latin)),
            ),
            (
                "/objects".into(),
                format!("/objects?layer=shelters&bbox={bbox}"),
            ),
            ("/audit".into(), format!("/audit?number={}", enc(number))),
            ("/resolve".into(), format!("/resolve?q={}", enc(number))),
            (
                "/resolve".into(),
                format!("/resolve?q={}&near={}", enc(latin), enc(&near)),
            ),
            (
                "/nearest".into(),
                format!("/nearest?lat={}&lon={}&k=50&layers=shelters", p[1], p[0]),
            ),
            (
                "/locate".into(),
                format!("/locate?numbers={},{}", enc(number), enc(&hidden[0].0)),
            ),
            (
                "/shelters/nearest".into(),
                format!("/shelters/nearest?lat={}&lon={}&k=10", p[1], p[0]),
            ),
            (
                "/shelters/nearest".into(),
                format!(
                    "/shelters/nearest?lat={}&lon={}&k=10&max_m=20000&open_now=true",
                    p[1] + 0.05,
                    p[0]
                ),
            ),
        ]);
        for z in [11u8, 14, 16, 18] {
            let n = f64::from(1u32 << z);
            let x = ((p[0] + 180.0) / 360.0 * n).floor() as u32;
            let r = p[1].to_radians();
            let y = ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n)
                .floor() as u32;
            asks.push((
                "/tiles/{layers}/{z}/{x}/{y}.mvt".into(),
                format!("/tiles/shelters,poles/{z}/{x}/{y}.mvt"),
            ));
        }
    }
    let asked: std::collections::BTreeSet<String> = asks
        .iter()
        .map(|(r, _)| r.clone())
        .chain(["/openapi.json".to_string()])
        .collect();
    for d in &documented {
        assert!(
            asked.contains(d),
            "route {d} is not asked: the walk must cover every route"
        );
    }
    let tile_ids = |body: &[u8]| -> Vec<u64> {
        let reader = mvt_reader::Reader::new(body.to_vec()).expect("tile decodes");
        let names = reader.get_layer_names().unwrap();
        let mut ids = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if name == "shelters" {
                for f in reader.get_features(i).unwrap() {
                    ids.extend(f.id);
                }
            }
        }
        ids
    };
    for (role, tok) in [
        ("public", None),
        ("resident", Some(resident.as_str())),
        ("dispatcher", Some(dispatcher.as_str())),
    ] {
        server.as_token(tok);
        let mut seen = 0;
        for (route, path) in &asks {
            let (status, headers, body) = server.get_raw(path, &[]);
            assert!(status < 500, "{role} {path}: {status}");
            let tile = headers
                .get("content-type")
                .is_some_and(|c| c.contains("vector-tile"));
            let text = if tile {
                String::new()
            } else {
                let raw = String::from_utf8_lossy(&body).to_string();
                answer_text(&serde_json::from_str(&raw).unwrap_or(Value::Null), &raw)
            };
            let ids = if tile && status == 200 {
                tile_ids(&body)
            } else {
                Vec::new()
            };
            let lists_shelters_only = path.contains("layer=shelters");
            let mut shows = false;
            for (number, latin, id, p) in &hidden {
                let coord = format!("{}", p[0]);
                shows |= ids.contains(id)
                    || (status == 200
                        && (text.contains(number.as_str())
                            || text.contains(latin.as_str())
                            || text.contains("Secret street")
                            || text.contains("\"capacity\":77700")
                            || (lists_shelters_only && text.contains(&coord))));
            }
            if role == "dispatcher" {
                seen += usize::from(shows);
            } else {
                assert!(!shows, "{role} {path}: a hidden shelter is in the answer");
                if route == "/objects/{number}" {
                    assert_eq!(status, 404, "{role} {path}");
                }
            }
        }
        if role == "dispatcher" {
            assert!(
                seen >= 10,
                "staff saw hidden shelters in only {seen} answers: the walk proves nothing"
            );
        }
    }
}

#[test]
fn the_kyiv_lists_are_audited_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kyiv.gpkg");
    let files: Vec<String> = (0..10)
        .map(|i| {
            repo(&format!("data/shelters/kyiv/{i}.csv"))
                .display()
                .to_string()
        })
        .collect();
    let mapping = repo("seeds/kyiv-shelters.toml").display().to_string();
    // Before the import: the files themselves.
    let mut args = vec![
        "audit-shelters",
        "--mapping",
        &mapping,
        "--out-format",
        "json",
    ];
    args.extend(files.iter().map(String::as_str));
    let before: Value = serde_json::from_str(&cli_ok(&store, &args)).unwrap();
    let no_coords = before["no_coordinates"]["count"].as_u64().unwrap();
    assert!(no_coords > 0, "{}", before["no_coordinates"]);
    assert!(
        before["stacked"]["count"].as_u64().unwrap() > 0,
        "{}",
        before["stacked"]
    );
    assert!(before["duplicate_addresses"]["count"].as_u64().unwrap() > 0);
    assert_eq!(
        before["missing_capacity"]["count"], before["shelters"],
        "the Kyiv lists give no capacity"
    );
    // Imported, the store's audit names the same rows without coordinates.
    let mut args = vec!["import", "--layer", "shelters", "--mapping", &mapping];
    args.extend(files.iter().map(String::as_str));
    cli_ok(&store, &args);
    let admin = token(&store, "admin");
    let mut server = Server::start(&store, "none", &[]);
    let (s, e) = server.get("/audit/shelters");
    assert_eq!(s, 401, "{e}");
    server.as_token(Some(&admin));
    let (s, a) = server.get("/audit/shelters");
    assert_eq!(s, 200, "{a}");
    assert_eq!(
        a["no_coordinates"]["count"].as_u64().unwrap(),
        no_coords,
        "{}",
        a["no_coordinates"]
    );
    assert!(a["stacked_shelters"].as_u64().unwrap() >= 3 * a["stacked"]["count"].as_u64().unwrap());
    // Stats: staff get the districts, the public the aggregates.
    let (s, st) = server.get("/stats");
    assert_eq!(s, 200, "{st}");
    let districts = st["detail"]["shelters_by_district"].as_array().unwrap();
    assert!(
        districts.iter().any(|d| d["district"] == "Печерський"),
        "{districts:?}"
    );
    let total = st["shelters"]["total"].as_u64().unwrap();
    assert_eq!(total, a["shelters"].as_u64().unwrap());
    let by_type: u64 = st["shelters"]["by_legal_type"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_type, total);
    assert!(
        st["shelters"]["by_legal_type"]["simple_shelter"]
            .as_u64()
            .unwrap()
            > 1000
    );
    assert!(st["shelters"]["accessible"]["yes"].as_u64().unwrap() > 100);
    server.as_token(None);
    let (s, public) = server.get("/stats");
    assert_eq!(s, 200);
    assert!(public["detail"].is_null());
    assert_eq!(public["shelters"]["total"].as_u64().unwrap(), total);
}

/// Reads every tile of a PMTiles archive with the `pmtiles` PyPI package (an implementation
/// independent of citytwin's writer): `z/x/y` → the tile's bytes after gzip, hex.
const READ_PMTILES: &str = r#"
import gzip, json, sys
from pmtiles.reader import Reader, MmapSource, all_tiles
with open(sys.argv[1], "rb") as f:
    src = MmapSource(f)
    header = Reader(src).header()
    tiles = {}
    for (z, x, y), data in all_tiles(src):
        if header["tile_compression"].value == 2:
            data = gzip.decompress(data)
        tiles["%d/%d/%d" % (z, x, y)] = data.hex()
    print(json.dumps({"tiles": tiles, "min_zoom": header["min_zoom"], "max_zoom": header["max_zoom"]}))
"#;

#[test]
fn the_pmtiles_archive_holds_exactly_the_public_tiles() {
    let python = std::process::Command::new("python3")
        .args(["-c", "import pmtiles.reader"])
        .status()
        .is_ok_and(|s| s.success());
    if !tool_or_skip(
        python,
        "the PMTiles archive test",
        "the `pmtiles` PyPI package",
        "python3 -m pip install pmtiles",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let admin = token(&store, "admin");
    // A hidden shelter must not be published.
    let mut server = Server::start(&store, "none", &[]);
    server.as_token(Some(&admin));
    let (s, made) = server.post(
        "/objects",
        &json!({"layer": "shelters", "geometry": pt([24.9411, 60.1691]), "attributes": {"hidden": true}}),
    );
    assert_eq!(s, 201, "{made}");
    let hidden_id = made["id"].as_u64().unwrap();
    server.as_token(None);
    let archive = dir.path().join("city.pmtiles");
    let report: Value = serde_json::from_str(&cli_ok(
        &store,
        &[
            "export",
            "--format",
            "pmtiles",
            "--layers",
            "shelters,streets",
            "--min-zoom",
            "13",
            "--max-zoom",
            "15",
            "--out",
            archive.to_str().unwrap(),
        ],
    ))
    .unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", READ_PMTILES, archive.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tiles = read["tiles"].as_object().unwrap();
    assert_eq!(tiles.len() as u64, report["tiles"].as_u64().unwrap());
    assert!(tiles.len() > 5, "{report}");
    assert_eq!(
        (read["min_zoom"].as_u64(), read["max_zoom"].as_u64()),
        (Some(13), Some(15))
    );
    // Every tile of the area from the server: stored iff the server has it, byte for byte.
    let bbox: Vec<f64> = report["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let (mut compared, mut with_buildings) = (0, 0);
    for z in 13u8..=15 {
        let n = f64::from(1u32 << z);
        let col = |lon: f64| ((lon + 180.0) / 360.0 * n).floor() as u32;
        let row = |lat: f64| {
            let r = f64::to_radians(lat);
            ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u32
        };
        for x in col(bbox[0])..=col(bbox[2]) {
            for y in row(bbox[3])..=row(bbox[1]) {
                // The archive carries the basemap of its area under the layers asked for.
                let (status, _, body) = server.get_raw(
                    &format!("/tiles/shelters,streets,{BASEMAP}/{z}/{x}/{y}.mvt"),
                    &[],
                );
                let key = format!("{z}/{x}/{y}");
                match status {
                    200 => {
                        let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
                        assert_eq!(
                            tiles.get(&key).and_then(Value::as_str),
                            Some(hex.as_str()),
                            "tile {key}"
                        );
                        compared += 1;
                        let r = mvt_reader::Reader::new(body).unwrap();
                        for (i, name) in r.get_layer_names().unwrap().iter().enumerate() {
                            with_buildings += usize::from(name == "buildings");
                            if name == "shelters" {
                                for f in r.get_features(i).unwrap() {
                                    assert_ne!(
                                        f.id,
                                        Some(hidden_id),
                                        "the hidden shelter is published"
                                    );
                                }
                            }
                        }
                    }
                    204 => assert!(
                        !tiles.contains_key(&key),
                        "tile {key} is empty on the server"
                    ),
                    other => panic!("tile {key}: {other}"),
                }
            }
        }
    }
    assert_eq!(
        compared,
        tiles.len(),
        "the archive holds tiles outside the area"
    );
    assert!(with_buildings > 0, "no tile of the archive has buildings");
}

/// The basemap layers, as a `/tiles/` list.
const BASEMAP: &str = "landuse,green,water,waterways,bridges,buildings,railways";
