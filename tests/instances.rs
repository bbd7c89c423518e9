//! Several citytwin instances over one PostGIS store: an edit through one shows through the
//! other within a second; an instance whose feed of changes is cut catches up from the
//! history; with the database away, reads go on from memory and writes get 503, and all comes
//! back when it returns. The database is a PostgreSQL cluster of the test's own (initdb on a
//! free port), so stopping it touches nothing else.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, enc};
use serde_json::{Value, json};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster of one test, run by the `postgres` user in a folder of its own.
struct Cluster {
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// A new cluster with a database `city` holding PostGIS; `None` (and a visible skip, or a
    /// failure under CI) when PostgreSQL's server programs or PostGIS are missing.
    fn start() -> Option<Cluster> {
        let found = Path::new(PG_BIN).join("initdb").is_file()
            && Path::new("/usr/share/postgresql/15/extension/postgis.control").is_file()
            && common::on_path("runuser");
        if !common::tool_or_skip(
            found,
            "the shared-store tests",
            "PostgreSQL 15's server programs with PostGIS",
            "apt-get install postgresql-15 postgresql-15-postgis-3",
        ) {
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "citytwin-pg-{}-{}",
            std::process::id(),
            port_free()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        as_postgres(&["chown", "postgres", dir.to_str().unwrap()], true);
        let data = dir.join("data");
        as_postgres(
            &[
                &format!("{PG_BIN}/initdb"),
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
            false,
        );
        let cluster = Cluster {
            dir,
            port: port_free(),
        };
        cluster.up();
        let psql = |db: &str, sql: &str| {
            let out = Command::new("psql")
                .arg(cluster.url(db))
                .args(["-v", "ON_ERROR_STOP=1", "-qc", sql])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        psql("postgres", "CREATE DATABASE city");
        psql("city", "CREATE EXTENSION postgis");
        Some(cluster)
    }

    fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn ctl(&self, args: &[&str]) {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let mut all = vec![
            format!("{PG_BIN}/pg_ctl"),
            "-D".into(),
            data.to_string_lossy().into(),
            "-l".into(),
            log.to_string_lossy().into(),
            "-w".into(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        as_postgres(&refs, false);
    }

    fn up(&self) {
        self.ctl(&[
            "-o",
            &format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.display()
            ),
            "start",
        ]);
    }

    fn down(&self) {
        self.ctl(&["-m", "fast", "stop"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Stopped already when a test failed with the database down: nothing to assert here.
        let data = self.dir.join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{PG_BIN}/pg_ctl"))
            .args(["-D", data.to_str().unwrap_or(""), "-m", "immediate", "stop"])
            .current_dir("/")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command as the `postgres` user (PostgreSQL refuses to run as root); `plain` runs it
/// as is.
fn as_postgres(args: &[&str], plain: bool) {
    let out = if plain {
        Command::new(args[0]).args(&args[1..]).output()
    } else {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args(args)
            .current_dir("/")
            .output()
    }
    .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
}

fn port_free() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An instance over the cluster's store (its GeoPackage setting points at nothing used).
fn instance(dir: &Path, url: &str, seed: &str) -> Server {
    Server::start(
        &dir.join("unused.gpkg"),
        seed,
        &[
            ("CITYTWIN_STORE__POSTGRES", url),
            ("CITYTWIN_LIMITS__ADMIN__WRITES_PER_MINUTE", "100000"),
            // Every report of the test comes from one address.
            ("CITYTWIN_REPORTS__PER_ADDRESS_PER_HOUR", "1000"),
        ],
    )
}

fn admin_token(dir: &Path, url: &str) -> String {
    let out = common::cli_cmd(
        &dir.join("unused.gpkg"),
        &["token", "create", "--role", "admin", "--name", "t"],
    )
    .env("CITYTWIN_STORE__POSTGRES", url)
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Creates a camera at `at` through `server`; its number.
fn create(server: &Server, at: [f64; 2]) -> String {
    let (s, f) = server.post(
        "/objects",
        &json!({"layer": "cameras", "geometry": {"type": "Point", "coordinates": at}}),
    );
    assert_eq!(s, 201, "{f}");
    f["properties"]["number"].as_str().unwrap().to_string()
}

/// Waits until `server` knows `number`, at most `within`; how long it took.
fn seen(server: &Server, number: &str, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() <= within {
        if server.get(&format!("/objects/{}", enc(number))).0 == 200 {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Waits until `done`, at most `limit`; fails with `what` past it.
fn within(limit: Duration, mut done: impl FnMut() -> bool, what: impl Fn() -> String) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{}", what());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The string values of the tile at `path` on `server` (none for an empty tile).
fn tile_strings(server: &Server, path: &str) -> Vec<String> {
    let (s, _, body) = server.get_raw(path, &[]);
    assert!(s == 200 || s == 204, "{path}: {s}");
    if body.is_empty() {
        return Vec::new();
    }
    let reader = mvt_reader::Reader::new(body).expect("tile decodes");
    let mut out = Vec::new();
    for i in 0..reader.get_layer_names().unwrap().len() {
        for f in reader.get_features(i).unwrap() {
            for (_, v) in f.properties.iter().flatten() {
                if let mvt_reader::feature::Value::String(t) = v {
                    out.push(t.clone());
                }
            }
        }
    }
    out
}

fn health(server: &Server) -> Value {
    server.get("/health").1
}

#[test]
fn instances_over_one_store_see_each_others_edits_and_survive_the_database_going_away() {
    let Some(pg) = Cluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url("city");
    let seed = common::repo("seeds/demo.toml");
    // A seeds the demo city; B starts on the seeded store.
    let mut a = instance(dir.path(), &url, seed.to_str().unwrap());
    let mut b = instance(dir.path(), &url, "none");
    let token = admin_token(dir.path(), &url);
    a.as_token(Some(&token));
    b.as_token(Some(&token));
    assert_eq!(
        health(&b)["store"],
        json!({"kind": "postgis", "connected": true})
    );
    assert_eq!(health(&a)["objects"], health(&b)["objects"]);

    // An edit through A is read through B within a second: the object, its tile (B had it
    // cached before), the nearest landmarks, the resolver, the changed status.
    let at = [35.1401, 47.8402];
    let (tx, ty) = common::tile_of(at[0], at[1], 16);
    let tile = format!("/tiles/cameras/16/{tx}/{ty}.mvt");
    let (s, _, _) = b.get_raw(&tile, &[]);
    assert!(s == 200 || s == 204, "{s}");
    let number = create(&a, at);
    let nearest = format!("/nearest?lat={}&lon={}&k=1&layers=cameras", at[1], at[0]);
    within(
        Duration::from_secs(1),
        || {
            b.get(&format!("/objects/{}", enc(&number))).0 == 200
                && tile_strings(&b, &tile).contains(&number)
                && b.get(&nearest).1["landmarks"][0]["number"] == json!(number)
        },
        || {
            format!(
                "not on B within 1 s: tile {:?}, nearest {}",
                tile_strings(&b, &tile),
                b.get(&nearest).1
            )
        },
    );
    let (s, r) = b.get(&format!("/resolve?q={}", enc(&number)));
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["candidates"][0]["number"], json!(number), "{r}");
    let (s, e) = a.patch(
        &format!("/objects/{}", enc(&number)),
        &json!({"status": "broken"}),
    );
    assert_eq!(s, 200, "{e}");
    within(
        Duration::from_secs(1),
        || b.get(&format!("/objects/{}", enc(&number))).1["properties"]["status"] == "broken",
        || "the status is not on B within 1 s".into(),
    );
    // Both ways, and a number is never given twice by the two.
    let from_b = create(&b, [35.1402, 47.8403]);
    assert!(seen(&a, &from_b, Duration::from_secs(1)).is_some());
    assert_ne!(from_b, number);

    // B's feed is cut mid-stream of A's writes: B catches up from the history.
    let mut made = Vec::new();
    for i in 0..30 {
        if i == 10 {
            let out = Command::new("psql")
                .arg(pg.url("city"))
                .args([
                    "-tAc",
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
                ])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "2",
                "both instances' feeds cut: {out:?}"
            );
        }
        made.push(create(&a, [35.15 + i as f64 * 1e-4, 47.85]));
    }
    for n in &made {
        assert!(
            seen(&b, n, Duration::from_secs(15)).is_some(),
            "{n} never reached B"
        );
    }
    assert_eq!(health(&a)["objects"], health(&b)["objects"]);

    // Residents' reports filed through one instance are the other's incidents, and the
    // incidents' numbers go on across both.
    let list = b.get("/shelters/list").1;
    let shelter = |i: usize| {
        list["features"][i]["properties"]["number"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let incident_on = |server: &Server, id: u64| {
        within(
            Duration::from_secs(1),
            || server.get(&format!("/incidents/{id}")).0 == 200,
            || format!("incident {id} not there within 1 s"),
        );
    };
    let (s, r1) = b.post("/reports", &json!({"number": shelter(0), "kind": "locked"}));
    assert_eq!(s, 201, "{r1}");
    let first = r1["incident"].as_u64().unwrap();
    incident_on(&a, first);
    let (s, r2) = a.post("/reports", &json!({"number": shelter(1), "kind": "locked"}));
    assert_eq!(s, 201, "{r2}");
    let second = r2["incident"].as_u64().unwrap();
    assert_ne!(second, first, "two incidents, two numbers");
    incident_on(&b, second);
    let summary = |server: &Server| -> Vec<(u64, String, u64)> {
        let list = server.get("/incidents").1;
        list["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let n = i["number"].as_str().unwrap().to_string();
                (
                    i["incident"].as_u64().unwrap(),
                    n,
                    i["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(summary(&a), summary(&b));
    assert_eq!(summary(&a).len(), 2);

    // Both instances take reports at once, each opening incidents for other cameras: no
    // report id and no incident id is given twice, and both end with the same book.
    let filed: Vec<Vec<(u64, u64)>> = std::thread::scope(|s| {
        [&a, &b]
            .into_iter()
            .enumerate()
            .map(|(w, server)| {
                let made = &made;
                s.spawn(move || {
                    (0..12)
                        .map(|i| {
                            let number = &made[w * 12 + i];
                            let (s, r) = server.post(
                                "/reports",
                                &json!({"number": number, "kind": "not_working"}),
                            );
                            assert_eq!(s, 201, "{r}");
                            (
                                r["report"].as_u64().unwrap(),
                                r["incident"].as_u64().unwrap(),
                            )
                        })
                        .collect()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    });
    let filed = filed.concat();
    let mut reports: Vec<u64> = filed.iter().map(|f| f.0).collect();
    let mut incidents: Vec<u64> = filed.iter().map(|f| f.1).collect();
    reports.sort_unstable();
    reports.dedup();
    incidents.sort_unstable();
    incidents.dedup();
    assert_eq!(reports.len(), 24, "a report id given twice: {filed:?}");
    assert_eq!(incidents.len(), 24, "an incident id given twice: {filed:?}");
    within(
        Duration::from_secs(2),
        || summary(&a) == summary(&b) && summary(&a).len() == 26,
        || {
            format!(
                "the instances' incidents differ: {:?} {:?}",
                summary(&a),
                summary(&b)
            )
        },
    );

    // The database goes away: reads answer from memory, writes get 503, /health says so.
    let before = health(&b)["objects"].clone();
    pg.down();
    within(
        Duration::from_secs(10),
        || health(&b)["store"]["connected"] == json!(false),
        || health(&b).to_string(),
    );
    // Past the age at which a token list is re-read: staff keep working from memory.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(health(&b)["objects"], before);
    assert_eq!(b.get(&format!("/objects/{}", enc(&number))).0, 200);
    assert_eq!(b.get(&format!("/resolve?q={}", enc(&made[3]))).0, 200);
    let (s, e) = a.post(
        "/objects",
        &json!({"layer": "cameras", "geometry": {"type": "Point", "coordinates": [35.2, 47.9]}}),
    );
    assert_eq!(s, 503, "{e}");
    assert_eq!(e["code"], "store_unavailable", "{e}");
    // It returns: both reconnect, a write goes through and reaches the other.
    pg.up();
    within(
        Duration::from_secs(20),
        || {
            health(&a)["store"]["connected"] == json!(true)
                && health(&b)["store"]["connected"] == json!(true)
        },
        || format!("{} {}", health(&a), health(&b)),
    );
    let after = create(&a, [35.2, 47.9]);
    assert!(seen(&b, &after, Duration::from_secs(1)).is_some());
    a.stop();
    b.stop();
}
