//! Limits and the tamper-evident history against the real server and command line: every limit
//! answers with its own status and a JSON error; the history's hash chain catches an edited, a
//! deleted, a reordered and a cut-off entry, and says which.

mod common;

use common::*;
use serde_json::{Value, json};

#[test]
fn every_limit_answers_with_its_own_status_and_a_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let admin = token(&store, "admin");
    let mut server = Server::start(
        &store,
        "none",
        &[
            ("CITYTWIN_LIMITS__RESOLVE_PER_MINUTE", "5"),
            ("CITYTWIN_LIMITS__WRITES_PER_MINUTE", "4"),
            ("CITYTWIN_MAX_BODY_BYTES", "4096"),
        ],
    );
    let code = |e: &Value| e["code"].as_str().unwrap_or("").to_string();

    // Body too large: 413, and nothing written. The token is used once first: limits count
    // against a token only once its secret is proven, before that against the address.
    server.as_token(Some(&admin));
    assert_eq!(server.get("/objects?layer=poles&limit=1").0, 200);
    let (_, before) = server.get("/health");
    let big = json!({"layer": "poles", "geometry": {"type": "Point", "coordinates": [24.94, 60.17]},
        "attributes": {"note": "x".repeat(10_000)}});
    let (s, e) = server.post("/objects", &big);
    assert_eq!(s, 413, "{e}");
    assert_eq!(e["status"], 413);
    assert_eq!(server.get("/health").1["objects"], before["objects"]);

    // Query string too long: 414. Bounding box too large, limit too big, bad tile: 400.
    let (s, e) = server.get(&format!(
        "/nearest?lat=60&lon=24&layers={}",
        "a".repeat(5000)
    ));
    assert_eq!((s, code(&e)), (414, "query_too_long".into()), "{e}");
    let (s, e) = server.get("/objects?bbox=0,0,60,60");
    assert_eq!(s, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("km²"), "{e}");
    assert_eq!(e["field"], "bbox");
    assert_eq!(server.get("/objects?bbox=24.9,60.1,25.0,60.2").0, 200);
    let (s, e) = server.get("/objects?limit=100000");
    assert_eq!((s, e["field"].as_str()), (400, Some("limit")), "{e}");
    let (s, e) = server.get("/tiles/poles/30/0/0.mvt");
    assert_eq!((s, e["field"].as_str()), (400, Some("z")), "{e}");
    let (s, e) = server.get("/tiles/poles/3/8/0.mvt");
    assert_eq!((s, e["field"].as_str()), (400, Some("x")), "{e}");

    // Writes per client: 4 a minute (the refused large body was one), then 429.
    let pole = server.get("/objects?layer=poles&limit=1").1["features"][0]["properties"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..3 {
        let (s, e) = server.patch(
            &format!("/objects/{}", enc(&pole)),
            &json!({"attributes": {"i": i}}),
        );
        assert_eq!(s, 200, "{e}");
    }
    let (s, body) = server.patch(
        &format!("/objects/{}", enc(&pole)),
        &json!({"attributes": {"i": 9}}),
    );
    assert_eq!((s, code(&body)), (429, "rate_limited".into()), "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("try again in"),
        "{body}"
    );

    // The resolver per client: the public (by address) gets 5 a minute; a token has its own
    // allowance.
    server.as_token(None);
    for _ in 0..5 {
        assert_eq!(server.get(&format!("/resolve?q={}", enc(&pole))).0, 200);
    }
    let (s, hs, body) = server.get_raw(&format!("/resolve?q={}", enc(&pole)), &[]);
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((s, code(&e)), (429, "rate_limited".into()), "{e}");
    assert!(hs["retry-after"].parse::<u64>().unwrap() >= 1);
    // Made-up tokens buy no fresh allowance: until a token is proven, it counts against the
    // address, which is spent.
    for id in [900, 901] {
        let fake = format!("ct_{id}_{}", "ab".repeat(32));
        server.as_token(Some(&fake));
        let (s, e) = server.get(&format!("/resolve?q={}", enc(&pole)));
        assert_eq!((s, code(&e)), (429, "rate_limited".into()), "{e}");
    }
    server.as_token(Some(&admin));
    assert_eq!(server.get(&format!("/resolve?q={}", enc(&pole))).0, 200);
    // Tiles are not rate limited: a map draws many at once.
    server.as_token(None);
    for _ in 0..20 {
        assert!(matches!(
            server.get("/tiles/poles/16/37308/18969.mvt").0,
            200 | 204
        ));
    }
}

#[test]
fn each_role_has_its_own_rate_limits_from_the_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let dispatcher = token(&store, "dispatcher");
    let engineer = token(&store, "engineer");
    let file = dir.path().join("citytwin.toml");
    std::fs::write(
        &file,
        "[limits.public]\nresolve_per_minute = 5\n[limits.engineer]\nresolve_per_minute = 8\n",
    )
    .unwrap();
    let mut server = Server::start(
        &store,
        "none",
        &[
            ("CITYTWIN_CONFIG", file.to_str().unwrap()),
            ("CITYTWIN_LIMITS__ENGINEER__WRITES_PER_MINUTE", "2"),
        ],
    );
    let pole = server.get("/objects?layer=poles&limit=1").1["features"][0]["properties"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let resolve = format!("/resolve?q={}", enc(&pole));
    // Tokens count as their own only once proven (here by a request that is not limited).
    for t in [&dispatcher, &engineer] {
        server.as_token(Some(t));
        assert_eq!(server.get("/layers").0, 200);
    }

    // The public, by address: its own 5 a minute from the file, then 429 with a JSON body.
    server.as_token(None);
    for _ in 0..5 {
        assert_eq!(server.get(&resolve).0, 200);
    }
    let (s, hs, body) = server.get_raw(&resolve, &[]);
    let e: Value = serde_json::from_slice(&body).expect("a JSON error");
    assert_eq!((s, e["status"].as_u64()), (429, Some(429)), "{e}");
    assert_eq!(e["code"], "rate_limited", "{e}");
    let said = e["error"].as_str().unwrap();
    assert!(
        said.contains("more than 5 resolver requests") && said.contains("limits.public."),
        "{e}"
    );
    assert!(hs["retry-after"].parse::<u64>().unwrap() >= 1);

    // A dispatcher from the same address at the same moment: its default of 6000 a minute.
    server.as_token(Some(&dispatcher));
    for i in 0..40 {
        let (s, e) = server.get(&resolve);
        assert_eq!(s, 200, "dispatcher request {i}: {e}");
    }

    // An engineer: 8 a minute from the file.
    server.as_token(Some(&engineer));
    for _ in 0..8 {
        assert_eq!(server.get(&resolve).0, 200);
    }
    let (s, e) = server.get(&resolve);
    assert_eq!((s, e["code"].as_str()), (429, Some("rate_limited")), "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("more than 8 resolver requests a minute from this engineer token"),
        "{e}"
    );
    // Its writes: 2 a minute from the environment.
    for i in 0..2 {
        let (s, e) = server.patch(
            &format!("/objects/{}", enc(&pole)),
            &json!({"attributes": {"i": i}}),
        );
        assert_eq!(s, 200, "{e}");
    }
    let (s, e) = server.patch(
        &format!("/objects/{}", enc(&pole)),
        &json!({"attributes": {"i": 9}}),
    );
    assert_eq!((s, e["code"].as_str()), (429, Some("rate_limited")), "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("limits.engineer.writes_per_minute"),
        "{e}"
    );
}

#[test]
fn a_request_over_the_time_limit_is_stopped_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let dispatcher = token(&store, "dispatcher");
    let mut server = Server::start(&store, "none", &[("CITYTWIN_LIMITS__TIMEOUT_MS", "1")]);
    server.as_token(Some(&dispatcher));
    // The whole-city confusable audit takes far longer than 1 ms.
    let (s, e) = server.get("/audit/numbers?within_m=100000");
    assert_eq!((s, e["code"].as_str()), (503, Some("timeout")), "{e}");
    assert!(e["error"].as_str().unwrap().contains("1 ms"), "{e}");
}

/// Runs `citytwin audit verify` on a copy of `store` changed by `sql`; returns its exit code and
/// output.
fn tampered(store: &std::path::Path, name: &str, sql: &str) -> (i32, String) {
    let copy = store.with_file_name(format!("{name}.gpkg"));
    std::fs::copy(store, &copy).unwrap();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
    let out = cli(&copy, &["audit", "verify"]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[test]
fn audit_verify_names_each_edited_deleted_reordered_or_cut_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let engineer = token(&store, "engineer");
    {
        let mut server = Server::start(&store, "none", &[]);
        server.as_token(Some(&engineer));
        let (_, page) = server.get("/objects?layer=manholes&limit=6");
        for (i, f) in page["features"].as_array().unwrap().iter().enumerate() {
            let n = f["properties"]["number"].as_str().unwrap();
            let (s, e) = server.patch(
                &format!("/objects/{}", enc(n)),
                &json!({"status": if i % 2 == 0 { "broken" } else { "closed" }, "attributes": {"checked": i}}),
            );
            assert_eq!(s, 200, "{e}");
        }
        server.stop();
    }
    // WAL folded into the file, so a copy holds everything.
    let conn = rusqlite::Connection::open(&store).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let last: i64 = conn
        .query_row("SELECT max(seq) FROM citytwin_history", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    assert!(last >= 8, "{last} history entries");
    let (code, out) = tampered(&store, "intact", "");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: the chain is intact"), "{out}");

    let (a, b) = (last - 3, last - 2);
    // 1. An entry's content edited (the status a worker recorded, made to look fine).
    let (code, out) = tampered(
        &store,
        "edited",
        &format!("UPDATE citytwin_history SET new = replace(new, 'broken', 'ok') WHERE seq = {a}"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("entry {a:>8}  edited")), "{out}");
    // 2. An entry deleted.
    let (code, out) = tampered(
        &store,
        "deleted",
        &format!("DELETE FROM citytwin_history WHERE seq = {a}"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("entry {a} is missing")), "{out}");
    // 3. Two entries swapped, hashes and all.
    let (code, out) = tampered(
        &store,
        "reordered",
        &format!(
            "UPDATE citytwin_history SET seq = -1 WHERE seq = {a}; \
             UPDATE citytwin_history SET seq = {a} WHERE seq = {b}; \
             UPDATE citytwin_history SET seq = {b} WHERE seq = -1;"
        ),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("reordered"), "{out}");
    assert!(!out.contains("edited"), "{out}");
    assert!(out.contains(&format!("was written as entry {a}")), "{out}");
    // 4. The newest entries cut off.
    let (code, out) = tampered(
        &store,
        "cut",
        &format!("DELETE FROM citytwin_history WHERE seq >= {b}"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("truncated"), "{out}");
}
