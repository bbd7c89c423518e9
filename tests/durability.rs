//! An acknowledged write survives `kill -9`, at twenty random moments in a stream of writes,
//! and the store stays consistent: SQLite's integrity check, every layer's spatial index, the
//! hash chain of the history, and every acknowledged object present.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

#[test]
fn kill_9_during_a_stream_of_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let admin = token(&store, "admin");
    let auth = format!("Bearer {admin}");
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut total = (0, 0);
    let mut all_posts: Vec<String> = Vec::new();
    const ROUNDS: u64 = 20;
    // Two writers at full speed: far above the default per-client write rate.
    let env = [("CITYTWIN_LIMITS__WRITES_PER_MINUTE", "10000000")];
    let mut server = Server::start(&store, "none", &env);
    server.as_token(Some(&admin));
    for round in 0..ROUNDS {
        let (_, page) = server.get("/objects?layer=poles&limit=200");
        let numbers: Vec<String> = page["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["number"].as_str().unwrap().to_string())
            .collect();

        // Two writers stream PATCHes (each sets `seq` on one pole) and POSTs (new cameras); every
        // acknowledged one is remembered.
        let acked_patch: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
        let acked_post: Arc<Mutex<Vec<String>>> = Arc::default();
        let base = server.base.clone();
        let stop_at = Instant::now() + Duration::from_secs(30);
        let w_base = round * 2;
        let mut writers = Vec::new();
        for w in w_base..w_base + 2 {
            let base = base.clone();
            let numbers = numbers.clone();
            let acked_patch = acked_patch.clone();
            let acked_post = acked_post.clone();
            let auth = auth.clone();
            writers.push(std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into();
            for seq in 0u64.. {
                if Instant::now() > stop_at {
                    break;
                }
                let result = if seq % 3 == 2 {
                    // New cameras spread over the city (~20 × 10 km), as real ones are.
                    let lon = 24.8 + ((seq * 7919 + w * 104_729) % 1000) as f64 * 3.5e-4;
                    let lat = 60.12 + ((seq * 6271 + w * 15_485) % 1000) as f64 * 9e-5;
                    let body = json!({"layer": "cameras", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "attributes": {"writer": w, "seq": seq}});
                    agent.post(format!("{base}/objects")).header("Authorization", &auth).send_json(&body).map(|mut r| (r.status().as_u16(), r.body_mut().read_json::<Value>().ok()))
                } else {
                    let n = &numbers[((seq * 2 + w % 2) as usize) % numbers.len()];
                    let body = json!({"attributes": {"seq": seq * 10 + w}});
                    agent.patch(format!("{base}/objects/{}", enc(n))).header("Authorization", &auth).send_json(&body).map(|mut r| (r.status().as_u16(), r.body_mut().read_json::<Value>().ok()))
                };
                match result {
                    Ok((200, _)) if seq % 3 != 2 => {
                        let n = &numbers[((seq * 2 + w % 2) as usize) % numbers.len()];
                        acked_patch.lock().unwrap().push((n.clone(), seq * 10 + w));
                    }
                    Ok((201, Some(f))) => {
                        acked_post.lock().unwrap().push(f["properties"]["number"].as_str().unwrap().to_string());
                    }
                    Ok((s, b)) if s < 500 => panic!("unexpected answer {s}: {b:?}"),
                    // A server being killed may fail a request half-way; such a write was
                    // never acknowledged.
                    Ok(_) => break,
                    Err(_) => break, // the server was killed
                }
            }
        }));
        }

        // Kill the server at a random moment while the writers stream, once a few writes are
        // acknowledged (a loaded machine may take a while to answer the first ones).
        let waited = std::time::Instant::now();
        while acked_patch.lock().unwrap().len() + acked_post.lock().unwrap().len() <= 3
            && waited.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(200 + rng % 1000));
        server.kill9();
        for w in writers {
            w.join().unwrap();
        }
        let patches = acked_patch.lock().unwrap().clone();
        let posts = acked_post.lock().unwrap().clone();
        assert!(
            patches.len() + posts.len() > 3,
            "too few writes were acknowledged to prove anything"
        );

        server = Server::start(&store, "none", &env);
        server.as_token(Some(&admin));
        // The last acknowledged value of every patched pole is there.
        let mut last: std::collections::HashMap<&str, u64> = Default::default();
        for (n, v) in &patches {
            // Writers touch disjoint poles (even/odd), so order per pole is the order acknowledged.
            last.insert(n.as_str(), *v);
        }
        for (n, v) in last {
            let (s, f) = server.get(&format!("/objects/{}", enc(n)));
            assert_eq!(s, 200);
            // The last acknowledged value, or a later write that was in flight when killed.
            let got = f["properties"]["attributes"]["seq"].as_u64().unwrap_or(0);
            assert!(
                got % 10 == v % 10 && got >= v,
                "pole {n} lost its acknowledged write {v} (has {got})"
            );
        }
        for n in &posts {
            let (s, f) = server.get(&format!("/objects/{}", enc(n)));
            assert_eq!(s, 200, "camera {n} was acknowledged but is gone: {f}");
        }
        total.0 += patches.len();
        total.1 += posts.len();
        all_posts.extend(posts);
    }
    // Every camera acknowledged in any round is still there at the end.
    for n in &all_posts {
        let (s, f) = server.get(&format!("/objects/{}", enc(n)));
        assert_eq!(s, 200, "camera {n} was acknowledged but is gone: {f}");
    }
    server.stop();
    let verify = assert_intact(&store);
    eprintln!(
        "{ROUNDS} × kill -9: {} acknowledged patches and {} creates, all present after restart; integrity check ok; {}",
        total.0,
        total.1,
        verify.lines().next().unwrap_or("")
    );
}

/// A CSV of `n` trees on a grid over Helsinki (no numbers: imported with `--no-number`).
fn trees_csv(path: &std::path::Path, n: usize, tag: &str) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "id,lon,lat,name").unwrap();
    for i in 0..n {
        let lon = 24.85 + (i % 1000) as f64 * 1.5e-4;
        let lat = 60.15 + (i / 1000) as f64 * 2e-4;
        writeln!(f, "{tag}{i},{lon:.6},{lat:.6},Tree {tag}{i}").unwrap();
    }
}

/// `citytwin import CSV --layer trees --no-number` on `store`, logging at `log`.
fn trees_import(
    store: &std::path::Path,
    csv: &std::path::Path,
    log: &str,
) -> std::process::Command {
    let csv = csv.to_str().expect("a UTF-8 path");
    let mut cmd = cli_cmd(store, &["import", csv, "--layer", "trees", "--no-number"]);
    cmd.env("CITYTWIN_LOG", log);
    cmd
}

/// SQLite's integrity check passes, every layer's spatial index holds exactly its rows and
/// the history's hash chain verifies; returns the verifier's report.
fn assert_intact(store: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(store).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "SQLite integrity check");
    drop(conn);
    assert_spatial_index_exact(store);
    assert_chain_intact(store)
}

fn journal_mode(store: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap()
}

/// A bulk import into a store no one else has open is written with SQLite's rollback journal
/// (each page once) and leaves the store in WAL; beside a running server it stays in WAL and
/// the server keeps answering.
#[test]
fn a_bulk_import_uses_the_rollback_journal_only_when_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let before = counts(&store)["trees"];
    let import = |csv: &std::path::Path| {
        let out = trees_import(&store, csv, "citytwin::store=debug,warn")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "import failed: {err}");
        err
    };
    let csv = dir.path().join("trees-a.csv");
    trees_csv(&csv, 30_000, "a");
    let log = import(&csv);
    assert!(
        log.contains("bulk write with the rollback journal"),
        "{log}"
    );
    assert_eq!(journal_mode(&store), "wal");
    assert_eq!(counts(&store)["trees"], before + 30_000);

    let server = Server::start(&store, "none", &[]);
    let csv = dir.path().join("trees-b.csv");
    trees_csv(&csv, 30_000, "b");
    let log = import(&csv);
    assert!(log.contains("bulk write stays in WAL"), "{log}");
    let (s, _) = server.get("/health");
    assert_eq!(s, 200);
    assert_eq!(journal_mode(&store), "wal");
    drop(server);
    assert_eq!(counts(&store)["trees"], before + 60_000);
}

/// `kill -9` while a bulk import is being written with the rollback journal, after some of
/// its pages have reached the store file (a 1 MiB bulk cache spills them early): the next open
/// rolls the journal back, so the store is exactly as before the import (its objects, its size),
/// intact, in WAL, and its history chain verifies.
#[test]
fn kill_9_during_a_bulk_import_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    let before = counts(&store);
    let size_before = std::fs::metadata(&store).unwrap().len();
    let csv = dir.path().join("trees.csv");
    trees_csv(&csv, 300_000, "k");
    let journal = {
        let mut p = store.clone().into_os_string();
        p.push("-journal");
        std::path::PathBuf::from(p)
    };
    let mut child = trees_import(&store, &csv, "warn")
        .env("CITYTWIN_BULK_CACHE_MIB", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the transaction has written pages into the file itself (the file grew
    // while the rollback journal exists).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let grew = std::fs::metadata(&store).unwrap().len() > size_before + (1 << 20);
        if grew && journal.exists() {
            child.kill().unwrap(); // SIGKILL
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the import ended ({status}) before it was caught writing");
        }
        assert!(
            Instant::now() < deadline,
            "the import never wrote into the store file"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.wait().unwrap();
    assert!(journal.exists(), "a hot journal is left by the kill");
    let size_killed = std::fs::metadata(&store).unwrap().len();
    assert!(
        size_killed > size_before,
        "the killed import had written into the file ({size_killed} > {size_before} bytes)"
    );

    assert_eq!(
        counts(&store),
        before,
        "the killed import left objects behind"
    );
    assert!(!journal.exists(), "the hot journal was rolled back");
    assert_eq!(
        std::fs::metadata(&store).unwrap().len(),
        size_before,
        "the rollback cut the file back to its size before the import"
    );
    assert_eq!(journal_mode(&store), "wal");
    assert_intact(&store);
}
