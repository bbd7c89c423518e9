//! Residents' reports, incidents, live events and MQTT status on the real server over HTTP.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use serde_json::{Value, json};

/// A token of `role` named `name` (several residents need several tokens).
fn named_token(store: &std::path::Path, role: &str, name: &str) -> String {
    cli_ok(store, &["token", "create", "--role", role, "--name", name])
        .trim()
        .to_string()
}

fn pt(lon: f64, lat: f64) -> Value {
    json!({"type": "Point", "coordinates": [lon, lat]})
}

/// Creates an object as admin; its painted number.
fn create(server: &mut Server, admin: &str, layer: &str, at: [f64; 2], attrs: Value) -> String {
    let (s, f) = server.as_token(Some(admin)).post(
        "/objects",
        &json!({"layer": layer, "geometry": pt(at[0], at[1]), "attributes": attrs}),
    );
    assert_eq!(s, 201, "{f}");
    f["properties"]["number"].as_str().unwrap().to_string()
}

/// The number with one digit of its serial changed (a misread plate).
fn misread(number: &str) -> String {
    let mut cs: Vec<char> = number.chars().collect();
    let i = cs.len() - 4;
    cs[i] = if cs[i] == '7' { '1' } else { '7' };
    cs.into_iter().collect()
}

/// A small JPEG with an EXIF block naming a phone and a GPS position.
fn jpeg_with_exif() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 120]));
    let mut plain = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 90)
        .encode_image(&img)
        .unwrap();
    let mut tiff = b"II*\0\x08\0\0\0\x01\0\x0F\x01\x02\0\x0C\0\0\0\x1A\0\0\0\0\0\0\0".to_vec();
    tiff.extend_from_slice(b"SECRETPHONE\0GPS 47.8388N 35.1396E");
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn status_of(server: &mut Server, admin: &str, number: &str) -> String {
    let (s, o) = server
        .as_token(Some(admin))
        .get(&format!("/objects/{}", enc(number)));
    assert_eq!(s, 200, "{o}");
    o["properties"]["status"].as_str().unwrap().to_string()
}

/// Reports by number: a misread one is refused with the right one suggested and nothing
/// filed; reports of one object merge; three different residents' "locked" make the shelter
/// `locked-reported` until staff resolve the incident; an open manhole is a hazard at once;
/// a camera stays unknown to the public; the photo loses its EXIF; no answer to anyone shows
/// the reporter's address; everything survives a restart and the history chain holds.
#[test]
fn reports_merge_into_incidents_that_staff_move_and_rules_set_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.gpkg");
    let admin = token(&store, "admin");
    let dispatcher = token(&store, "dispatcher");
    let residents: Vec<String> = (0..3)
        .map(|i| named_token(&store, "resident", &format!("resident-{i}")))
        .collect();
    let at = [35.1396, 47.8388];
    // The city's districts: one polygon, around the manhole only.
    let districts = dir.path().join("districts.geojson");
    let (w, s, e, n) = (
        at[0] + 0.0005,
        at[1] - 0.0005,
        at[0] + 0.0015,
        at[1] + 0.0005,
    );
    std::fs::write(
        &districts,
        json!({"type": "FeatureCollection", "features": [{"type": "Feature",
            "properties": {"name": "Вознесенівський"},
            "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}]})
        .to_string(),
    )
    .unwrap();
    // Tile URLs name this origin, so the reporters' address (127.0.0.1) has no business in
    // any answer.
    let mut server = Server::start(
        &store,
        "none",
        &[
            ("CITYTWIN_PUBLIC_URL", "https://map.example.org"),
            ("CITYTWIN_CITY__DISTRICTS", districts.to_str().unwrap()),
        ],
    );
    let shelter = create(
        &mut server,
        &admin,
        "shelters",
        at,
        json!({"district": "Олександрівський", "opening_hours": "24/7"}),
    );
    let manhole = create(
        &mut server,
        &admin,
        "manholes",
        [at[0] + 0.001, at[1]],
        json!({}),
    );
    let camera = create(
        &mut server,
        &admin,
        "cameras",
        [at[0] + 0.002, at[1]],
        json!({}),
    );
    let before = status_of(&mut server, &admin, &shelter);

    // The kinds each layer takes, for anyone.
    let (s, kinds) = server.as_token(None).get("/reports/kinds");
    assert_eq!(s, 200, "{kinds}");
    assert!(
        kinds["layers"]["shelters"]
            .as_array()
            .unwrap()
            .contains(&json!("locked"))
    );
    assert!(kinds["layers"].get("cameras").is_none(), "{kinds}");

    // A misread number: 404 with the right one suggested, and nothing filed.
    let wrong = misread(&shelter);
    let (s, e) = server.post(
        "/reports",
        &json!({"number": wrong, "kind": "locked", "lon": at[0], "lat": at[1]}),
    );
    assert_eq!(s, 404, "{e}");
    assert_eq!(e["code"], "unknown_number");
    let suggested: Vec<&str> = e["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["number"].as_str().unwrap())
        .collect();
    assert_eq!(suggested.first(), Some(&shelter.as_str()), "{e}");
    assert!(e["error"].as_str().unwrap().contains(&shelter));
    let (_, list) = server.as_token(Some(&dispatcher)).get("/incidents");
    assert_eq!(list["incidents"].as_array().unwrap().len(), 0, "{list}");

    // Bad input: a kind the layer does not take, an unknown field, a lone coordinate.
    let (s, e) = server.as_token(None).post(
        "/reports",
        &json!({"number": shelter, "kind": "wire_hanging"}),
    );
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["field"], "kind");
    assert!(e["error"].as_str().unwrap().contains("locked"), "{e}");
    let (s, _) = server.post(
        "/reports",
        &json!({"number": shelter, "kind": "locked", "where": 1}),
    );
    assert_eq!(s, 422);
    let (s, e) = server.post(
        "/reports",
        &json!({"number": shelter, "kind": "locked", "lon": 35.0}),
    );
    assert_eq!((s, e["field"].as_str()), (400, Some("lon")), "{e}");

    // The first report, by a passer-by without a token, with a photo carrying EXIF.
    let photo = base64::engine::general_purpose::STANDARD.encode(jpeg_with_exif());
    let (s, r1) = server.post(
        "/reports",
        &json!({"number": shelter, "kind": "locked", "text": "Двері зачинені, ніхто не відчиняє", "photo": photo}),
    );
    assert_eq!(s, 201, "{r1}");
    assert_eq!(
        (r1["state"].as_str(), r1["count"].as_u64()),
        (Some("new"), Some(1))
    );
    assert_eq!(r1["duplicate"], false);
    let incident = r1["incident"].as_u64().unwrap();
    // The same address again adds nothing.
    let (s, again) = server.post("/reports", &json!({"number": shelter, "kind": "locked"}));
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        (again["duplicate"].as_bool(), again["count"].as_u64()),
        (Some(true), Some(1))
    );
    // Two residents more: three different reporters of "locked" within a day.
    for (i, t) in residents.iter().take(2).enumerate() {
        let (s, r) = server.as_token(Some(t)).post(
            "/reports",
            &json!({"number": shelter, "kind": "locked", "text": format!("resident {i}")}),
        );
        assert_eq!(s, 201, "{r}");
        assert_eq!(r["incident"].as_u64(), Some(incident));
    }
    assert_eq!(status_of(&mut server, &admin, &shelter), "locked-reported");
    let (_, sh) = server
        .as_token(None)
        .get(&format!("/objects/{}", enc(&shelter)));
    assert_eq!(sh["properties"]["status"], "locked-reported");

    // What a resident sees of the incident: its state and count, nobody's words or photo.
    let (s, public) = server.as_token(None).get(&format!("/incidents/{incident}"));
    assert_eq!(s, 200, "{public}");
    assert_eq!(
        (public["state"].as_str(), public["count"].as_u64()),
        (Some("new"), Some(3))
    );
    assert_eq!(public["object_status"], "locked-reported");
    let text = public.to_string();
    assert!(
        !text.contains("Двері") && !text.contains("photo") && !text.contains("resident"),
        "{text}"
    );
    assert_eq!(server.get("/incidents").0, 401);
    assert_eq!(
        server.get(&format!("/reports/{}/photo", r1["report"])).0,
        401
    );
    assert_eq!(
        server.as_token(Some(&residents[0])).get("/incidents").0,
        403
    );

    // Staff see it in full: the texts, the photo, the address and landmarks around.
    let (s, list) = server
        .as_token(Some(&dispatcher))
        .get("/incidents?state=open");
    assert_eq!(s, 200, "{list}");
    let inc = &list["incidents"][0];
    assert_eq!(inc["incident"].as_u64(), Some(incident));
    assert_eq!(
        (inc["count"].as_u64(), inc["kind"].as_str()),
        (Some(3), Some("locked"))
    );
    assert_eq!(inc["district"], "Олександрівський");
    assert_eq!(inc["rule_status"], "locked-reported");
    assert_eq!(inc["reports"].as_array().unwrap().len(), 3);
    assert!(
        inc["landmarks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["number"] == manhole.as_str())
    );
    let photo_path = inc["reports"][0]["photo"].as_str().unwrap().to_string();
    let (s, h, bytes) = server.get_raw(&photo_path, &[]);
    assert_eq!((s, h["content-type"].as_str()), (200, "image/jpeg"));
    assert!(
        !contains(&bytes, b"Exif")
            && !contains(&bytes, b"SECRETPHONE")
            && !contains(&bytes, b"GPS")
    );
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (64, 48));
    let (s, _) = server.get("/incidents?state=bogus");
    assert_eq!(s, 400);

    // The workflow: confirmed keeps the status, resolved turns it back; closed stays closed.
    let path = format!("/incidents/{incident}");
    let (s, m) = server.patch(
        &path,
        &json!({"state": "confirmed", "note": "crew on the way"}),
    );
    assert_eq!((s, m["state"].as_str()), (200, Some("confirmed")), "{m}");
    assert_eq!(status_of(&mut server, &admin, &shelter), "locked-reported");
    let (s, m) = server.as_token(Some(&dispatcher)).patch(
        &path,
        &json!({"state": "resolved", "note": "opened, the key was with the caretaker"}),
    );
    assert_eq!((s, m["state"].as_str()), (200, Some("resolved")), "{m}");
    assert_eq!(m["moves"].as_array().unwrap().len(), 2);
    assert_eq!(status_of(&mut server, &admin, &shelter), before);
    let (s, e) = server
        .as_token(Some(&dispatcher))
        .patch(&path, &json!({"state": "confirmed"}));
    assert_eq!(s, 409, "{e}");
    assert_eq!(
        server
            .as_token(Some(&residents[0]))
            .patch(&path, &json!({"state": "rejected"}))
            .0,
        403
    );
    // A new report after the incident closed opens a new one.
    let (s, r) = server
        .as_token(None)
        .post("/reports", &json!({"number": shelter, "kind": "no_light"}));
    assert_eq!(s, 201, "{r}");
    assert_ne!(r["incident"].as_u64(), Some(incident));

    // An open manhole is a hazard at once.
    let (s, r) = server.post("/reports", &json!({"number": manhole, "kind": "open"}));
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["object_status"], "hazard");
    assert_eq!(status_of(&mut server, &admin, &manhole), "hazard");

    // A camera's number is no object to the public: no suggestion names a camera either.
    let (s, e) = server.as_token(None).post(
        "/reports",
        &json!({"number": camera, "kind": "not_working"}),
    );
    assert_eq!(s, 404, "{e}");
    assert!(
        e["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["layer"] != "cameras"),
        "{e}"
    );
    // Staff may report one.
    let (s, r) = server.as_token(Some(&dispatcher)).post(
        "/reports",
        &json!({"number": camera, "kind": "not_working"}),
    );
    assert_eq!(s, 201, "{r}");

    // The figures: by state, category, kind, district, and the median time to resolve.
    let (_, st) = server.get("/stats");
    let inc_stats = &st["incidents"];
    assert_eq!(inc_stats["incidents"].as_u64(), Some(4), "{st}");
    assert_eq!(inc_stats["by_state"]["resolved"].as_u64(), Some(1));
    assert_eq!(inc_stats["by_category"]["shelters"].as_u64(), Some(2));
    assert_eq!(inc_stats["by_kind"]["locked"].as_u64(), Some(3));
    assert_eq!(
        inc_stats["by_district"]["Олександрівський"].as_u64(),
        Some(2)
    );
    assert!(inc_stats["median_resolve_s"].as_f64().unwrap() >= 0.0);
    assert!(server.as_token(None).get("/stats").1["incidents"].is_null());

    // Walk every documented GET route as every role: no answer carries the reporters'
    // address, their keyed hash, or anything of the photo's EXIF.
    let (_, api) = server.get("/openapi.json");
    let hashes: Vec<String> = {
        let conn = rusqlite::Connection::open(&store).unwrap();
        let mut st = conn
            .prepare("SELECT new FROM citytwin_history WHERE action = 'report'")
            .unwrap();
        st.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|t| {
                serde_json::from_str::<Value>(&t.unwrap()).unwrap()["reporter"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(hashes.len(), 6);
    let report_id = r1["report"].as_u64().unwrap();
    let routes: Vec<String> = api["paths"].as_object().unwrap().keys().cloned().collect();
    let fill = |p: &str| -> String {
        p.replace("{number}", &enc(&shelter))
            .replace("/incidents/{id}", &format!("/incidents/{incident}"))
            .replace("/reports/{id}", &format!("/reports/{report_id}"))
            .replace("{layers}/{z}/{x}/{y}.mvt", "shelters/16/39144/22900.mvt")
            .replace("{layers}.json", "shelters.json")
            .replace("{name}.json", "residents.json")
            .replace("{fontstack}/{range}.pbf", "DejaVu%20Sans/0-255.pbf")
            .replace("{path}", "report.js")
    };
    let mut asked = 0;
    for role in [None, Some(&residents[0]), Some(&dispatcher), Some(&admin)] {
        for r in &routes {
            let path = match r.as_str() {
                "/events" => "/events?after=0&follow=false".to_string(),
                "/audit" => format!("/audit?number={}", enc(&shelter)),
                "/resolve" => format!("/resolve?q={}", enc(&shelter)),
                "/nearest" | "/shelters/nearest" => format!("{r}?lat={}&lon={}", at[1], at[0]),
                "/locate" => format!("/locate?numbers={}", enc(&shelter)),
                "/fibre/path" => "/fibre/path?from=0,0&to=1,1".into(),
                "/fibre/isolate" => "/fibre/isolate?lon=0&lat=0".into(),
                "/fibre/connected" => "/fibre/connected?node=0,0".into(),
                other => fill(other),
            };
            let (s, _, body) = server
                .as_token(role.map(String::as_str))
                .get_raw(&path, &[]);
            assert!(s < 500, "{path}: {s}");
            asked += 1;
            if path.starts_with("/openapi") || path.starts_with("/assets") {
                continue;
            }
            assert!(!contains(&body, b"127.0.0.1"), "{path} shows an address");
            assert!(
                !contains(&body, b"SECRETPHONE") && !contains(&body, b"Exif"),
                "{path}"
            );
            for h in &hashes {
                assert!(
                    !contains(&body, h.as_bytes()),
                    "{path} shows a reporter's hash"
                );
            }
        }
    }
    assert!(asked > 100);

    // Everything is in the history; a restart rebuilds the incidents from it.
    server.stop();
    assert_chain_intact(&store);
    let mut server = Server::start(&store, "none", &[]);
    let (_, list) = server.as_token(Some(&dispatcher)).get("/incidents");
    assert_eq!(list["incidents"].as_array().unwrap().len(), 4, "{list}");
    let (_, one) = server.get(&format!("/incidents/{incident}"));
    assert_eq!(
        (one["state"].as_str(), one["count"].as_u64()),
        (Some("resolved"), Some(3))
    );
    // The same reporter is still known after the restart: nothing is added.
    let (s, again) = server
        .as_token(Some(&residents[0]))
        .post("/reports", &json!({"number": manhole, "kind": "open"}));
    assert_eq!(s, 201, "{again}");
    let (s, again) = server.as_token(Some(&residents[0])).post(
        "/reports",
        &json!({"number": manhole, "kind": "broken_lid"}),
    );
    assert_eq!(
        (s, again["duplicate"].as_bool()),
        (200, Some(true)),
        "{again}"
    );
}

/// One event read off a stream: id, name, data.
type Sse = (u64, String, Value);

/// Listens to `/events` (as `token`'s holder, or the public) in a thread; events arrive on the
/// channel until the stream ends.
fn listen(base: &str, token: Option<&str>, last: Option<u64>) -> mpsc::Receiver<Sse> {
    let (tx, rx) = mpsc::channel();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(format!("{base}/events"));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(l) = last {
        req = req.header("Last-Event-ID", l.to_string());
    }
    let resp = req.call().expect("events");
    assert_eq!(resp.status().as_u16(), 200);
    std::thread::spawn(move || {
        let reader = BufReader::new(resp.into_body().into_reader());
        let (mut id, mut name, mut data) = (0u64, String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                if !data.is_empty() {
                    let v = serde_json::from_str(&data).unwrap_or(Value::Null);
                    if tx.send((id, std::mem::take(&mut name), v)).is_err() {
                        return;
                    }
                }
                data.clear();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
    });
    rx
}

fn take(rx: &mpsc::Receiver<Sse>, n: usize) -> Vec<Sse> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) => out.push(e),
            Err(_) => panic!("{} of {n} events within 10 s: {out:?}", out.len()),
        }
    }
    out
}

/// A listener that reconnects with `Last-Event-ID` gets exactly the events it missed, as a
/// listener that stayed got them; the public gets no incident, and no camera.
#[test]
fn events_resume_after_the_last_id_with_exactly_what_was_missed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.gpkg");
    let admin = token(&store, "admin");
    let dispatcher = token(&store, "dispatcher");
    let mut server = Server::start(&store, "none", &[]);
    let at = [35.14, 47.84];
    let poles: Vec<String> = (0..6)
        .map(|i| {
            create(
                &mut server,
                &admin,
                "poles",
                [at[0] + i as f64 * 1e-4, at[1]],
                json!({}),
            )
        })
        .collect();
    let camera = create(&mut server, &admin, "cameras", at, json!({}));
    let stayed = listen(&server.base, Some(&dispatcher), None);
    let leaver = listen(&server.base, Some(&dispatcher), None);
    let public = listen(&server.base, None, None);
    std::thread::sleep(Duration::from_millis(300));
    // Three edits, a report and a camera's status while both listen.
    let set = |server: &mut Server, n: &str, st: &str| {
        let (s, e) = server
            .as_token(Some(&admin))
            .patch(&format!("/objects/{}", enc(n)), &json!({"status": st}));
        assert_eq!(s, 200, "{e}");
    };
    set(&mut server, &poles[0], "broken");
    set(&mut server, &poles[1], "broken");
    set(&mut server, &camera, "broken");
    let (s, _) = server.as_token(None).post(
        "/reports",
        &json!({"number": poles[2], "kind": "light_out"}),
    );
    assert_eq!(s, 201);
    let first = take(&leaver, 4);
    let last_seen = first.last().unwrap().0;
    drop(leaver);
    // Missed by the leaver.
    set(&mut server, &poles[3], "broken");
    set(&mut server, &poles[4], "closed");
    let (s, _) = server
        .as_token(None)
        .post("/reports", &json!({"number": poles[5], "kind": "down"}));
    assert_eq!(s, 201);
    let all = take(&stayed, 4 + 4);
    let back = listen(&server.base, Some(&dispatcher), Some(last_seen));
    let resumed = take(&back, 4);
    assert_eq!(&resumed[..], &all[4..], "the events missed, exactly");
    assert!(
        back.recv_timeout(Duration::from_millis(500)).is_err(),
        "nothing more"
    );
    // Ids only grow; the report is an incident event, the rule's hazard an object event.
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(
        all.iter()
            .any(|e| e.1 == "incident" && e.2["number"] == poles[2].as_str())
    );
    assert!(all.iter().any(|e| e.1 == "object"
        && e.2["number"] == poles[5].as_str()
        && e.2["status"] == "hazard"));
    // A new event reaches the resumed listener live.
    set(&mut server, &poles[0], "ok");
    assert_eq!(take(&back, 1)[0].2["number"], poles[0].as_str());
    // The public listener saw the poles' changes, never an incident or the camera.
    std::thread::sleep(Duration::from_millis(300));
    let seen: Vec<Sse> = public.try_iter().collect();
    assert!(
        seen.iter().any(|e| e.2["number"] == poles[0].as_str()),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|e| e.1 == "object" && e.2["number"] != camera.as_str()),
        "{seen:?}"
    );
    // A bad Last-Event-ID is a 400.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .get(format!("{}/events", server.base))
        .header("Last-Event-ID", "x")
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

/// A private Mosquitto broker on a free port.
struct Broker {
    child: std::process::Child,
}

impl Broker {
    fn start(port: u16) -> Broker {
        let child = std::process::Command::new(mosquitto())
            .args(["-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { child }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto() -> String {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("mosquitto")
        .to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Publishes `{"number", "status"}` (and `at`, when given) for `number` to the broker's
/// status topic.
fn publish_status(port: u16, number: &str, status: &str, at: Option<u64>) {
    let mut body = json!({"number": number, "status": status});
    if let Some(at) = at {
        body["at"] = json!(at);
    }
    publish(port, "citytwin/status/cameras", body.to_string().as_bytes());
}

fn publish(port: u16, topic: &str, payload: &[u8]) {
    let mut opts =
        rumqttc::MqttOptions::new(format!("test-{}", std::process::id()), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut conn) = rumqttc::Client::new(opts, 10);
    client
        .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.to_vec())
        .unwrap();
    for n in conn.iter() {
        match n {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => break,
            Ok(_) => {}
            Err(e) => panic!("publish: {e}"),
        }
    }
    let _ = client.disconnect();
}

/// Waits up to `within` for `f` to hold.
fn within(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// MQTT: a status published to the broker is the object's status and a new tile ETag within
/// a second; garbage is counted and changes nothing; a broker restart is survived.
#[test]
fn mqtt_messages_set_status_and_survive_garbage_and_a_broker_restart() {
    let found = std::path::Path::new(&mosquitto()).exists();
    if !tool_or_skip(
        found,
        "the MQTT test",
        "mosquitto",
        "apt-get install mosquitto",
    ) {
        return;
    }
    let port = free_port();
    let broker = Broker::start(port);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.gpkg");
    let admin = token(&store, "admin");
    let url = format!("mqtt://127.0.0.1:{port}");
    let mut server = Server::start(
        &store,
        "none",
        &[
            ("CITYTWIN_MQTT__URL", url.as_str()),
            ("CITYTWIN_MQTT__CLIENT_ID", "citytwin-test"),
        ],
    );
    let at = [35.14, 47.84];
    let camera = create(&mut server, &admin, "cameras", at, json!({}));
    // Connected and subscribed: a heartbeat's status shows.
    let (x, y) = tile_of(at[0], at[1], 16);
    let tile = format!("/tiles/cameras/16/{x}/{y}.mvt");
    server.as_token(Some(&admin));
    let etag = |s: &Server| {
        s.get_raw(&tile, &[])
            .1
            .get("etag")
            .cloned()
            .unwrap_or_default()
    };
    let ok = within(Duration::from_secs(15), || {
        publish_status(port, &camera, "ok", None);
        status_of(&mut server, &admin, &camera) == "ok"
    });
    assert!(ok, "the subscriber never applied a message");
    let before = etag(&server);
    let sent = Instant::now();
    publish_status(port, &camera, "broken", Some(now_ms()));
    assert!(
        within(Duration::from_secs(1), || status_of(
            &mut server,
            &admin,
            &camera
        ) == "broken"),
        "not within 1 s"
    );
    let took = sent.elapsed();
    assert_ne!(etag(&server), before, "the tile did not change");
    eprintln!("mqtt: published → status in {took:?}");
    // Garbage: not JSON, no number, an unknown number, an unknown status; all counted.
    for p in [
        &b"not json"[..],
        br#"{"status":"ok"}"#,
        br#"{"number":"XX-000000-0","status":"ok"}"#,
        format!(r#"{{"number":"{camera}","status":"melted"}}"#).as_bytes(),
    ] {
        publish(port, "citytwin/status/cameras", p);
    }
    assert_eq!(server.get("/health").0, 200);
    assert!(within(Duration::from_secs(3), || {
        let (_, _, m) = server.get_raw("/metrics", &[]);
        let m = String::from_utf8_lossy(&m).to_string();
        m.contains("citytwin_mqtt_messages_total{outcome=\"bad_payload\"} 3")
            && m.contains("citytwin_mqtt_messages_total{outcome=\"unknown_number\"} 1")
    }));
    assert_eq!(status_of(&mut server, &admin, &camera), "broken");
    // The broker restarts: the server answers meanwhile, and applies messages after.
    drop(broker);
    assert_eq!(server.get("/health").0, 200);
    std::thread::sleep(Duration::from_secs(1));
    let _broker = Broker::start(port);
    let ok = within(Duration::from_secs(20), || {
        publish_status(port, &camera, "ok", None);
        status_of(&mut server, &admin, &camera) == "ok"
    });
    assert!(ok, "no message applied after the broker came back");
    let (_, h) = server.get("/objects?layer=cameras");
    assert_eq!(h["features"][0]["properties"]["status"], "ok");
    // The history names the MQTT subscriber as the actor.
    let (_, audit) = server.get(&format!("/audit?number={}", enc(&camera)));
    assert!(audit.to_string().contains("\"mqtt\""), "{audit}");
}

/// Epoch milliseconds: a time the subscriber reads as well as RFC 3339.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The machine's own broker (Mosquitto on 127.0.0.1:1883, as a city's IoT platform would be
/// reached; `.ci/run` starts it when it is not running): a per-number topic level sets the
/// status within a second.
#[test]
fn mqtt_on_the_machines_broker_sets_status_by_topic_level() {
    let up = std::net::TcpStream::connect(("127.0.0.1", 1883)).is_ok();
    if !tool_or_skip(
        up,
        "the MQTT broker test",
        "an MQTT broker on 127.0.0.1:1883",
        "apt-get install mosquitto && service mosquitto start",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.gpkg");
    let admin = token(&store, "admin");
    // A topic of this run's own: other users of the broker are not disturbed.
    let root = format!("citytwin-test-{}", std::process::id());
    let topics = format!(
        r#"[{{topic = "{root}/+/state", layer = "cabinets", number_level = 1, status = "/door"}}]"#
    );
    let mut server = Server::start(
        &store,
        "none",
        &[
            ("CITYTWIN_MQTT__URL", "mqtt://127.0.0.1:1883"),
            ("CITYTWIN_MQTT__CLIENT_ID", root.as_str()),
            ("CITYTWIN_MQTT__TOPICS", topics.as_str()),
        ],
    );
    let cabinet = create(&mut server, &admin, "cabinets", [35.14, 47.84], json!({}));
    let topic = format!("{root}/{cabinet}/state");
    let ok = within(Duration::from_secs(15), || {
        publish(1883, &topic, br#"{"door": "ok"}"#);
        status_of(&mut server, &admin, &cabinet) == "ok"
    });
    assert!(ok, "the subscriber never applied a message");
    let sent = Instant::now();
    publish(1883, &topic, br#"{"door": false}"#);
    assert!(
        within(Duration::from_secs(1), || status_of(
            &mut server,
            &admin,
            &cabinet
        ) == "broken"),
        "not within 1 s"
    );
    eprintln!("mqtt (1883): published → status in {:?}", sent.elapsed());
}

/// Rate limits of reports: per reporter (an address, or a token) and per object, each a 429
/// naming its setting; another reporter is not held up, and nothing refused is filed.
#[test]
fn reports_are_limited_per_reporter_and_per_object() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.gpkg");
    let admin = token(&store, "admin");
    let residents: Vec<String> = (0..3)
        .map(|i| named_token(&store, "resident", &format!("resident-{i}")))
        .collect();
    let mut server = Server::start(
        &store,
        "none",
        &[
            ("CITYTWIN_REPORTS__PER_ADDRESS_PER_HOUR", "3"),
            ("CITYTWIN_REPORTS__PER_OBJECT_PER_HOUR", "2"),
        ],
    );
    let trees: Vec<String> = (0..5)
        .map(|i| {
            create(
                &mut server,
                &admin,
                "trees",
                [35.14 + i as f64 * 1e-4, 47.84],
                json!({}),
            )
        })
        .collect();
    let report = |server: &mut Server, token: Option<&str>, number: &str| {
        server
            .as_token(token)
            .post("/reports", &json!({"number": number, "kind": "dangerous"}))
    };
    // One address: three reports an hour, the fourth refused.
    for t in &trees[..3] {
        assert_eq!(report(&mut server, None, t).0, 201);
    }
    let (s, e) = report(&mut server, None, &trees[3]);
    assert_eq!((s, e["code"].as_str()), (429, Some("rate_limited")), "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("per_address_per_hour"),
        "{e}"
    );
    // Another reporter is not held up by it.
    assert_eq!(report(&mut server, Some(&residents[0]), &trees[3]).0, 201);
    // One object: two reports an hour from everyone, the third refused.
    assert_eq!(report(&mut server, Some(&residents[1]), &trees[3]).0, 201);
    let (s, e) = report(&mut server, Some(&residents[2]), &trees[3]);
    assert_eq!(s, 429, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("per_object_per_hour"),
        "{e}"
    );
    // Nothing refused was filed: the incident holds the two reports taken.
    let (_, list) = server.as_token(Some(&admin)).get("/incidents?layer=trees");
    let counts: Vec<u64> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 5, "{list}");
}
