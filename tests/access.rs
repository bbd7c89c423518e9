//! Access control against the real server: tokens (wrong, revoked, expired → 401; right token,
//! wrong layer → 403), writes by role, and a walk over every documented route as every role
//! proving that no restricted object and no internal attribute ever leaks.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::{Value, json};

const ROLES: [&str; 5] = ["public", "resident", "dispatcher", "engineer", "admin"];
const RESTRICTED: [&str; 4] = ["cameras", "cabinets", "fibre_nodes", "fibre_spans"];
const PUBLIC_POLE_ATTRIBUTES: [&str; 4] = ["highway", "lamp_mount", "support", "name"];

fn staff(role: &str) -> bool {
    matches!(role, "dispatcher" | "engineer" | "admin")
}

/// Helsinki plus a fibre network: every restricted layer holds objects.
fn city(dir: &std::path::Path) -> std::path::PathBuf {
    let store = helsinki_store(dir);
    cli_ok(
        &store,
        &[
            "import",
            repo("data/fibre/nz_chorus_ofds.json").to_str().unwrap(),
        ],
    );
    let c = counts(&store);
    for l in RESTRICTED {
        assert!(c[l] > 0, "{l} is empty: the leak test would prove nothing");
    }
    store
}

/// A restricted object as admin sees it.
struct Secret {
    layer: String,
    number: String,
    latin: String,
    at: [f64; 2],
}

fn all_pages(server: &Server, layer: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0u64;
    loop {
        let (s, page) = server.get(&format!("/objects?layer={layer}&limit=1000&after={after}"));
        assert_eq!(s, 200, "{page}");
        out.extend(page["features"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_u64() {
            Some(a) => after = a,
            None => return out,
        }
    }
}

/// Everything a tile says, as text: layer names, keys and string values.
fn tile_text(body: &[u8]) -> (Vec<String>, BTreeMap<String, BTreeSet<String>>, String) {
    let reader = mvt_reader::Reader::new(body.to_vec()).expect("tile decodes");
    let names = reader.get_layer_names().unwrap();
    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut text = String::new();
    for (i, name) in names.iter().enumerate() {
        for f in reader.get_features(i).unwrap() {
            for (k, v) in f.properties.iter().flatten() {
                keys.entry(name.clone()).or_default().insert(k.clone());
                if let mvt_reader::feature::Value::String(s) = v {
                    text.push_str(s);
                    text.push('\n');
                }
            }
        }
    }
    (names, keys, text)
}

#[test]
fn tokens_wrong_revoked_and_expired_are_refused_and_roles_write_only_their_layers() {
    let dir = tempfile::tempdir().unwrap();
    let store = city(dir.path());
    let engineer = token(&store, "engineer");
    let resident = token(&store, "resident");
    let dispatcher = token(&store, "dispatcher");
    let short = cli_ok(
        &store,
        &[
            "token",
            "create",
            "--role",
            "admin",
            "--name",
            "brief",
            "--expires-in",
            "2s",
        ],
    )
    .trim()
    .to_string();
    let list = cli_ok(&store, &["token", "list"]);
    assert!(
        list.contains("test-engineer") && list.contains("brief"),
        "{list}"
    );
    assert!(!list.contains(&engineer[10..]), "token list shows a secret");
    // The store holds argon2 hashes, never the secrets.
    let conn = rusqlite::Connection::open(&store).unwrap();
    let hashes: Vec<String> = conn
        .prepare("SELECT hash FROM citytwin_tokens")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(conn);
    assert!(hashes.iter().all(|h| h.starts_with("$argon2id$")));
    let secret = engineer.rsplit('_').next().unwrap();
    assert!(hashes.iter().all(|h| !h.contains(secret)));

    let mut server = Server::start(&store, "none", &[]);
    let camera = all_pages(server.as_token(Some(&engineer)), "cameras")[0]["properties"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let pole = server.get("/objects?layer=poles&limit=1").1["features"][0]["properties"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let camera_path = format!("/objects/{}", enc(&camera));

    // Wrong tokens: 401 with a JSON error and WWW-Authenticate, on every route.
    let mut wrong = engineer.clone().into_bytes();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).unwrap();
    for (t, says) in [
        (wrong.as_str(), "wrong secret"),
        (
            "ct_999_0000000000000000000000000000000000000000000000000000000000000000",
            "unknown token",
        ),
        ("not-a-token", "not a citytwin token"),
    ] {
        for path in [
            "/health",
            "/tiles/poles/16/37308/18969.mvt",
            camera_path.as_str(),
        ] {
            server.as_token(Some(t));
            let (s, h, body) = server.get_raw(path, &[]);
            let e: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(s, 401, "{path}: {e}");
            assert!(e["error"].as_str().unwrap().contains(says), "{e}");
            assert_eq!(h["www-authenticate"], "Bearer realm=\"citytwin\"");
        }
    }
    // Expired.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    server.as_token(Some(&short));
    let (s, e) = server.get("/health");
    assert_eq!(s, 401, "{e}");
    assert!(e["error"].as_str().unwrap().contains("expired"), "{e}");

    // Right token, wrong layer: 403; no token: 401.
    server.as_token(Some(&resident));
    let (s, e) = server.get(&camera_path);
    assert_eq!(s, 403, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("dispatcher, engineer, admin"),
        "{e}"
    );
    let (s, _) = server.get("/tiles/cameras/16/37308/18969.mvt");
    assert_eq!(s, 403);
    server.as_token(None);
    let (s, _) = server.get(&camera_path);
    assert_eq!(s, 401);

    // Writes: nobody without a token, residents nothing, dispatchers not poles, engineers yes;
    // the history names who.
    let patch = json!({"status": "broken"});
    let pole_path = format!("/objects/{}", enc(&pole));
    for (t, want) in [
        (None, 401),
        (Some(resident.as_str()), 403),
        (Some(dispatcher.as_str()), 403),
        (Some(engineer.as_str()), 200),
    ] {
        server.as_token(t);
        let (s, e) = server.patch(&pole_path, &patch);
        assert_eq!(s, want, "{t:?}: {e}");
        let (s, e) = server.post(
            "/objects",
            &json!({"layer": "poles", "geometry": {"type": "Point", "coordinates": [24.94, 60.17]}}),
        );
        assert_eq!(s, if want == 200 { 201 } else { want }, "{t:?}: {e}");
    }
    server.as_token(Some(&dispatcher));
    let (s, h) = server.get(&format!("/audit?number={}", enc(&pole)));
    assert_eq!(s, 200, "{h}");
    let newest = &h["entries"][0];
    assert_eq!(newest["actor"], "engineer:test-engineer#1", "{h}");
    assert_eq!(newest["new"]["status"], "broken");
    assert_eq!(newest["old"]["status"], json!("unknown"), "{h}");
    assert_eq!(newest["hash"].as_str().unwrap().len(), 64);
    server.as_token(Some(&resident));
    assert_eq!(server.get(&format!("/audit?number={}", enc(&pole))).0, 403);
    // A deleted object's history stays readable under its painted number.
    server.as_token(Some(&engineer));
    let (s, made) = server.post(
        "/objects",
        &json!({"layer": "poles", "geometry": {"type": "Point", "coordinates": [24.95, 60.17]}}),
    );
    assert_eq!(s, 201, "{made}");
    let gone = made["properties"]["number_latin"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(server.delete(&format!("/objects/{}", enc(&gone))).0, 200);
    server.as_token(Some(&dispatcher));
    let (s, h) = server.get(&format!("/audit?number={}", enc(&gone)));
    assert_eq!(s, 200, "{h}");
    let actions: Vec<&str> = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "create"], "{h}");
    assert_eq!(h["number"], made["properties"]["number"]);

    // Revoked while the server runs: refused within the refresh time.
    server.as_token(Some(&engineer));
    assert_eq!(server.get("/health").0, 200);
    let id = engineer.split('_').nth(1).unwrap();
    cli_ok(&store, &["token", "revoke", id]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (s, e) = server.get("/health");
        if s == 401 {
            assert!(e["error"].as_str().unwrap().contains("revoked"), "{e}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "revoked token still accepted"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Token creation and revocation are in the history too, and the chain holds.
    assert_chain_intact(&store);
}

#[test]
fn no_route_shows_any_role_what_it_may_not_see() {
    let dir = tempfile::tempdir().unwrap();
    let store = city(dir.path());
    let tokens: BTreeMap<&str, Option<String>> = ROLES
        .iter()
        .map(|r| (*r, (*r != "public").then(|| token(&store, r))))
        .collect();
    let mut server = Server::start(&store, "none", &[]);

    // What admin sees: every restricted object, and the poles' internal attributes.
    server.as_token(tokens["admin"].as_deref());
    let mut secrets: Vec<Secret> = Vec::new();
    for l in RESTRICTED {
        for f in all_pages(&server, l) {
            let p = &f["properties"];
            let at = match f["geometry"]["type"].as_str().unwrap() {
                "Point" => f["geometry"]["coordinates"].clone(),
                _ => f["geometry"]["coordinates"][0].clone(),
            };
            secrets.push(Secret {
                layer: l.to_string(),
                number: p["number"].as_str().unwrap_or("").to_string(),
                latin: p["number_latin"].as_str().unwrap_or("").to_string(),
                at: [at[0].as_f64().unwrap(), at[1].as_f64().unwrap()],
            });
        }
    }
    let secrets: Vec<Secret> = secrets
        .into_iter()
        .filter(|s| !s.number.is_empty())
        .collect();
    assert!(
        secrets.len() > 50,
        "{} restricted numbered objects",
        secrets.len()
    );
    let poles = all_pages(&server, "poles");
    let internal: BTreeSet<String> = poles
        .iter()
        .flat_map(|f| {
            f["properties"]["attributes"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|k| !PUBLIC_POLE_ATTRIBUTES.contains(&k.as_str()))
        .collect();
    assert!(
        !internal.is_empty(),
        "poles have no internal attributes to hide"
    );
    let pole = poles[0].clone();
    let pole_number = pole["properties"]["number"].as_str().unwrap().to_string();
    let pole_at = [
        pole["geometry"]["coordinates"][0].as_f64().unwrap(),
        pole["geometry"]["coordinates"][1].as_f64().unwrap(),
    ];

    // The requests: every documented route, with arguments aimed at the restricted objects.
    let (_, api) = server.get("/openapi.json");
    let documented: BTreeSet<String> = api["paths"].as_object().unwrap().keys().cloned().collect();
    let cams: Vec<&Secret> = secrets
        .iter()
        .filter(|s| s.layer == "cameras")
        .take(12)
        .collect();
    let mut asks: Vec<(&str, String)> = vec![
        ("/health", "/health".into()),
        ("/layers", "/layers".into()),
        ("/objects", "/objects?limit=1000".into()),
        ("/objects", "/objects?layer=cameras".into()),
        ("/objects", "/objects?layer=poles,fibre_spans".into()),
        ("/metrics", "/metrics".into()),
        ("/openapi.json", "/openapi.json".into()),
        ("/", "/".into()),
        ("/assets/{path}", "/assets/app.js".into()),
        (
            "/fonts/{fontstack}/{range}.pbf",
            "/fonts/DejaVu%20Sans/0-255.pbf".into(),
        ),
        ("/sprites/{file}", "/sprites/citytwin@2x.png".into()),
        ("/audit/numbers", "/audit/numbers?within_m=5000".into()),
        ("/audit/shelters", "/audit/shelters".into()),
        ("/stats", "/stats".into()),
        ("/shelters", "/shelters".into()),
        ("/shelters/sw.js", "/shelters/sw.js".into()),
        ("/dispatch", "/dispatch".into()),
        ("/fibre/bridges", "/fibre/bridges".into()),
        ("/fibre/path", "/fibre/path?from=0,0&to=1,1".into()),
        ("/fibre/isolate", "/fibre/isolate?lon=0&lat=0".into()),
        ("/fibre/connected", "/fibre/connected?node=0,0".into()),
        // Asked with GET here (405); the POST is checked per role after the walk.
        ("/dispatch/calls", "/dispatch/calls".into()),
        // Asked with GET here (405): a report is filed with POST.
        ("/reports", "/reports".into()),
        ("/reports/kinds", "/reports/kinds".into()),
        ("/report", "/report".into()),
        ("/centre", "/centre".into()),
        ("/incidents", "/incidents".into()),
        ("/incidents/{id}", "/incidents/1".into()),
        ("/reports/{id}/photo", "/reports/1/photo".into()),
        // Every event since the start, replayed and ended.
        ("/events", "/events?after=0&follow=false".into()),
        ("/shelters/list", "/shelters/list".into()),
        ("/shelters/city.pmtiles", "/shelters/city.pmtiles".into()),
        (
            "/shelters/instructions",
            "/shelters/instructions?lang=en".into(),
        ),
        ("/audit", format!("/audit?number={}", enc(&pole_number))),
        ("/tiles/{layers}.json", "/tiles/poles.json".into()),
        ("/tiles/{layers}.json", "/tiles/poles,cameras.json".into()),
        ("/tiles/{layers}.json", "/tiles/fibre_spans.json".into()),
        (
            "/locate",
            format!(
                "/locate?numbers={},{}",
                enc(&pole_number),
                enc(&cams[0].number)
            ),
        ),
    ];
    for name in ["dispatcher", "residents", "engineers"] {
        asks.push(("/styles/{name}.json", format!("/styles/{name}.json")));
    }
    for s in secrets
        .iter()
        .step_by((secrets.len() / 40).max(1))
        .chain(cams.iter().copied())
    {
        let wrong_digit = {
            let mut cs: Vec<char> = s.number.chars().collect();
            let i = cs.len() - 4;
            cs[i] = if cs[i] == '1' { '2' } else { '1' };
            cs.into_iter().collect::<String>()
        };
        let near = format!("{},{}", s.at[1], s.at[0]);
        asks.extend([
            ("/objects/{number}", format!("/objects/{}", enc(&s.number))),
            ("/objects/{number}", format!("/objects/{}", enc(&s.latin))),
            ("/audit", format!("/audit?number={}", enc(&s.number))),
            ("/resolve", format!("/resolve?q={}", enc(&s.number))),
            (
                "/resolve",
                format!("/resolve?q={}&near={}", enc(&wrong_digit), enc(&near)),
            ),
            (
                "/resolve",
                format!(
                    "/resolve?q={}",
                    enc(s.number.rsplit_once('-').map_or("", |p| p.0))
                ),
            ),
            (
                "/nearest",
                format!("/nearest?lat={}&lon={}&k=50&max_m=50000", s.at[1], s.at[0]),
            ),
            (
                "/shelters/nearest",
                format!("/shelters/nearest?lat={}&lon={}&k=10", s.at[1], s.at[0]),
            ),
        ]);
        for z in [10u8, 13, 16] {
            let (x, y) = tile_of(s.at[0], s.at[1], z);
            for layers in [
                "poles,manholes,shelters,wifi,trees",
                "cameras",
                "poles,cabinets",
            ] {
                asks.push((
                    "/tiles/{layers}/{z}/{x}/{y}.mvt",
                    format!("/tiles/{layers}/{z}/{x}/{y}.mvt"),
                ));
            }
        }
    }
    for z in [12u8, 14, 16] {
        let (x, y) = tile_of(pole_at[0], pole_at[1], z);
        asks.push((
            "/tiles/{layers}/{z}/{x}/{y}.mvt",
            format!("/tiles/poles/{z}/{x}/{y}.mvt"),
        ));
    }
    // The document itself is not one of its own paths.
    let asked: BTreeSet<String> = asks
        .iter()
        .map(|(p, _)| p.to_string())
        .filter(|p| p != "/openapi.json")
        .collect();
    assert_eq!(
        asked, documented,
        "the walk must ask every documented route (and only those)"
    );

    let mut summary: BTreeMap<&str, (usize, BTreeMap<u16, usize>)> = BTreeMap::new();
    for role in ROLES {
        server.as_token(tokens[role].as_deref());
        let entry = summary.entry(role).or_default();
        let mut saw_restricted = false;
        let mut saw_internal = false;
        for (route, path) in &asks {
            let (status, headers, body) = server.get_raw(path, &[]);
            entry.0 += 1;
            *entry.1.entry(status).or_default() += 1;
            assert!(status < 500, "{role} {path}: {status}");
            let (text, tile_layers, pole_keys) = if headers
                .get("content-type")
                .is_some_and(|c| c.contains("vector-tile"))
            {
                let (names, keys, text) = tile_text(&body);
                if status == 200
                    && route.contains("mvt")
                    && headers["cache-control"].starts_with("public")
                {
                    assert_eq!(
                        role, "public",
                        "{path}: a token holder's tile is cacheable by anyone"
                    );
                }
                let pk = keys.get("poles").cloned().unwrap_or_default();
                (text, names, pk)
            } else {
                (
                    String::from_utf8_lossy(&body).to_string(),
                    Vec::new(),
                    BTreeSet::new(),
                )
            };
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            // Layer names where data is listed: tiles, TileJSON, styles, layer lists, objects.
            let mut named: Vec<String> = tile_layers.clone();
            for v in json["vector_layers"].as_array().into_iter().flatten() {
                named.push(v["id"].as_str().unwrap_or("").into());
            }
            for v in json.as_array().into_iter().flatten() {
                named.push(v["name"].as_str().unwrap_or("").into());
            }
            for f in json["features"].as_array().into_iter().flatten() {
                named.push(f["properties"]["layer"].as_str().unwrap_or("").into());
            }
            for v in json["layers"].as_array().into_iter().flatten() {
                named.push(v["source-layer"].as_str().unwrap_or("").into());
            }
            for (_, src) in json["sources"].as_object().into_iter().flatten() {
                named.push(src["url"].as_str().unwrap_or("").into());
            }
            let mut pole_attr_keys: BTreeSet<String> = pole_keys;
            for f in json["features"].as_array().into_iter().flatten() {
                if f["properties"]["layer"] == "poles" {
                    pole_attr_keys.extend(
                        f["properties"]["attributes"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, _)| k.clone()),
                    );
                }
            }
            if *route == "/objects/{number}" && json["properties"]["layer"] == "poles" {
                pole_attr_keys.extend(
                    json["properties"]["attributes"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| k.clone()),
                );
            }
            let leaks_layer = named
                .iter()
                .any(|n| RESTRICTED.iter().any(|l| n.contains(l)));
            // The asker's own words echoed back (`query`, `normalized`, a `note` about them)
            // tell nothing; everything else does.
            let answer = answer_text(&json, &text);
            let leaks_number = status == 200
                && secrets
                    .iter()
                    .any(|s| answer.contains(&s.number) || answer.contains(&s.latin));
            let leaks_attr = pole_attr_keys.iter().any(|k| internal.contains(k));
            saw_restricted |= leaks_layer || leaks_number;
            saw_internal |= leaks_attr;
            if !staff(role) {
                assert!(
                    !leaks_layer,
                    "{role} {path}: a restricted layer is named: {named:?}"
                );
                assert!(
                    !leaks_number,
                    "{role} {path}: a restricted number is in the answer"
                );
                assert!(
                    !leaks_attr,
                    "{role} {path}: internal pole attributes {pole_attr_keys:?}"
                );
                // Asked by a restricted number or layer: refused, or found nothing.
                if path.contains("cameras") || *route == "/objects/{number}" {
                    assert!(matches!(status, 401 | 403 | 404), "{role} {path}: {status}");
                }
                if matches!(
                    *route,
                    "/audit" | "/audit/numbers" | "/audit/shelters" | "/metrics"
                ) {
                    assert_eq!(
                        status,
                        if role == "public" { 401 } else { 403 },
                        "{role} {path}"
                    );
                }
            }
        }
        // Staff do see them: the walk can find a leak when there is one.
        if staff(role) {
            assert!(saw_restricted, "{role} never saw a restricted object");
            assert!(saw_internal, "{role} never saw an internal attribute");
        }
    }
    eprintln!(
        "leak walk: {} requests per role; statuses {summary:?}",
        asks.len()
    );

    // A call's record naming a camera: kept for the roles of `[access] dispatch` only, and
    // a role that cannot see cameras cannot learn from the answer whether the number exists.
    let cam = cams[0];
    let call = serde_json::json!({
        "queries": [{"q": cam.number, "t_ms": 900, "near": [cam.at[1], cam.at[0]]}],
        "near": [cam.at[1], cam.at[0]],
        "chosen": {"kind": "object", "number": cam.number, "layer": "cameras",
                   "lon": cam.at[0], "lat": cam.at[1], "rule": "exact", "confidence": 0.95},
        "lang": "uk"
    });
    for role in ROLES {
        server.as_token(tokens[role].as_deref());
        let (s, body) = server.post("/dispatch/calls", &call);
        let want = match role {
            "public" => 401,
            "dispatcher" | "admin" => 201,
            _ => 403,
        };
        assert_eq!(s, want, "{role} POST /dispatch/calls: {body}");
        if s == 201 {
            assert!(
                body["seq"].as_u64().is_some() && body["hash"].is_string(),
                "{body}"
            );
        } else {
            assert!(!body.to_string().contains(&cam.number), "{role}: {body}");
        }
    }
}
