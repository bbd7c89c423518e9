//! The store suite: one set of tests run against both stores, the GeoPackage file and PostGIS
//! (a database of its own per test on the machine's PostgreSQL, 127.0.0.1:5432, or
//! `CITYTWIN_TEST_POSTGRES`). Everything goes through the `Store` interface the server uses;
//! two handles on one store stand for two processes or two instances.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use citytwin::access::Role;
use citytwin::access::tokens::NewToken;
use citytwin::model::{Attributes, Geometry, Layers, Object, Source, Status, Value};
use citytwin::numbering::Number;
use citytwin::store::gpkg::GpkgStore;
use citytwin::store::pg::PgStore;
use citytwin::store::{Batch, BatchHead, Change, Part, Photo, Store, StoreError, Unless};
use serde_json::json;

const WIDTH: u8 = 6;

/// Where a test's store lives: a folder for the GeoPackage file, or a database of its own
/// (dropped at the end).
enum Place {
    Gpkg(tempfile::TempDir),
    Pg(TestDb),
}

impl Place {
    /// A new handle on the test's store (a second one is a second process or instance).
    fn open(&self, layers: &Layers) -> Box<dyn Store> {
        match self {
            Place::Gpkg(dir) => {
                Box::new(GpkgStore::open(&dir.path().join("s.gpkg"), layers, WIDTH).unwrap())
            }
            Place::Pg(db) => Box::new(PgStore::open(&db.url, layers, WIDTH, 4).unwrap()),
        }
    }
}

/// The server every PostGIS test uses: a superuser's URL without a database name.
fn pg_server() -> String {
    std::env::var("CITYTWIN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432".into())
}

fn psql(db: &str, sql: &str) -> std::io::Result<std::process::Output> {
    std::process::Command::new("psql")
        .arg(format!("{}/{db}", pg_server()))
        .args(["-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .output()
}

/// A database of one test, with PostGIS; dropped when the test ends.
struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    fn new(test: &str) -> TestDb {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "citytwin_test_{test}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let out = psql("postgres", &format!("CREATE DATABASE {name}")).unwrap();
        assert!(out.status.success(), "{out:?}");
        let out = psql(&name, "CREATE EXTENSION postgis").unwrap();
        assert!(out.status.success(), "{out:?}");
        TestDb {
            url: format!("{}/{name}", pg_server()),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Whether PostgreSQL with PostGIS answers; when not, fails under CI or skips visibly.
fn postgis_ready() -> bool {
    let found = psql(
        "postgres",
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'",
    )
    .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "1");
    common::tool_or_skip(
        found,
        "the PostGIS store suite",
        &format!("PostgreSQL with PostGIS at {} (and psql)", pg_server()),
        "apt-get install postgresql-15 postgresql-15-postgis-3 postgresql-client-15",
    )
}

/// Runs `suite` on both stores: the GeoPackage file, then PostGIS (when there, see
/// [`postgis_ready`]).
fn on_both(test: &str, suite: fn(&Place)) {
    suite(&Place::Gpkg(tempfile::tempdir().unwrap()));
    if postgis_ready() {
        suite(&Place::Pg(TestDb::new(test)));
    }
}

fn object(id: u64, layer: u16, geometry: Geometry, serial: Option<u32>) -> Object {
    Object {
        id,
        layer,
        number: serial.map(|s| Number::scheme(s, WIDTH)),
        geometry,
        status: Status::Ok,
        status_changed: 1_700_000_000_000,
        attributes: Attributes::new(),
        source: Source {
            file: "test.geojson".into(),
            id: format!("f{id}").into(),
        },
        created: 1_700_000_000_000,
        updated: 1_700_000_000_000,
    }
}

fn pole(id: u64, serial: u32) -> Object {
    let layers = Layers::default_city();
    let at = [35.1 + id as f64 * 1e-4, 47.8];
    object(
        id,
        layers.by_name("poles").unwrap(),
        Geometry::Point(at),
        Some(serial),
    )
}

fn batch(changes: Vec<Change>) -> Batch {
    Batch {
        actor: "test".into(),
        action: "edit".into(),
        summary: serde_json::json!({}),
        changes,
        history_per_create: true,
    }
}

fn update(old: &Object, new: &Object) -> Change {
    Change::Update {
        old: Box::new(old.clone()),
        new: new.clone(),
    }
}

/// Every object of the store, by id.
fn everything(store: &mut dyn Store) -> Vec<Object> {
    let plan = store.plan().unwrap();
    let mut all: Vec<Object> = plan
        .iter()
        .flat_map(|p| store.load_layer(p).unwrap().concat())
        .collect();
    all.sort_by_key(|o| o.id);
    all
}

#[test]
fn objects_come_back_as_they_were_written() {
    on_both("objects", |place| {
        let layers = Layers::default_city();
        let mut store = place.open(&layers);
        let [poles, manholes, buildings, streets] =
            ["poles", "manholes", "buildings", "streets"].map(|n| layers.by_name(n).unwrap());
        let mut p = object(
            1,
            poles,
            Geometry::Point([35.139_612_3, 47.838_8]),
            Some(104_273),
        );
        p.attributes.set("name", Value::text("Опора біля школи №5"));
        p.attributes.set("height_m", Value::Float(9.5));
        p.attributes.set("lamps", Value::Int(2));
        p.attributes.set("lit", Value::Bool(true));
        p.status = Status::Broken;
        p.status_changed = 1_700_000_100_000;
        let mut m = object(2, manholes, Geometry::Point([35.14, 47.84]), None);
        m.number = Some(Number::Source("КЛ-17/3".into()));
        let house = object(
            3,
            buildings,
            Geometry::Polygon(vec![
                vec![
                    vec![
                        [35.0, 47.0],
                        [35.001, 47.0],
                        [35.001, 47.001],
                        [35.0, 47.001],
                        [35.0, 47.0],
                    ],
                    vec![
                        [35.0002, 47.0002],
                        [35.0002, 47.0004],
                        [35.0004, 47.0004],
                        [35.0004, 47.0002],
                        [35.0002, 47.0002],
                    ],
                ],
                vec![vec![
                    [35.01, 47.0],
                    [35.011, 47.0],
                    [35.011, 47.001],
                    [35.01, 47.0],
                ]],
            ]),
            None,
        );
        let street = object(
            4,
            streets,
            Geometry::Line(vec![[35.0, 47.0], [35.01, 47.005], [35.02, 47.0]]),
            None,
        );
        let written = vec![p.clone(), m.clone(), house.clone(), street.clone()];
        let seq = store
            .commit(&batch(
                written.iter().cloned().map(Change::Create).collect(),
            ))
            .unwrap();
        assert!(
            seq >= 4,
            "a history row per created object and the summary: {seq}"
        );
        assert_eq!(everything(&mut *store), written);
        // A second handle (another process, another instance) reads the same.
        assert_eq!(everything(&mut *place.open(&layers)), written);
        // Changed, moved to another layer, deleted.
        let mut p2 = p.clone();
        p2.geometry = Geometry::Point([35.2, 47.9]);
        p2.attributes.set("lamps", Value::Int(3));
        p2.updated += 1000;
        let mut m2 = m.clone();
        m2.layer = poles;
        store
            .commit(&batch(vec![
                update(&p, &p2),
                update(&m, &m2),
                Change::Delete(street.clone()),
            ]))
            .unwrap();
        assert_eq!(everything(&mut *store), vec![p2, m2, house]);
        let plan = store.plan().unwrap();
        let of = |l| plan.iter().find(|x| x.layer == l).copied().unwrap();
        assert_eq!(
            (of(poles).count, of(poles).min_id, of(poles).max_id),
            (2, 1, 2)
        );
        assert_eq!(of(streets).count, 0);
    });
}

#[test]
fn a_bad_object_is_refused_by_name_and_nothing_of_its_batch_is_written() {
    on_both("refused", |place| {
        let layers = Layers::default_city();
        let mut store = place.open(&layers);
        let good = pole(1, 100_001);
        let mut bad = pole(2, 100_002);
        // A line in a layer of points.
        bad.geometry = Geometry::Line(vec![[35.0, 47.0], [35.1, 47.1]]);
        let e = store
            .commit(&batch(vec![Change::Create(good), Change::Create(bad)]))
            .unwrap_err();
        let shown = e.to_string();
        assert!(
            matches!(e, StoreError::BadRow { fid: 2, .. }) && shown.contains("\"poles\""),
            "{shown}"
        );
        assert!(everything(&mut *store).is_empty());
        assert_eq!(store.last_seq().unwrap(), 0);
        assert!(store.serials().unwrap().ones().next().is_none());
    });
}

#[test]
fn numbers_are_never_given_twice_retired_or_not_in_one_store_or_two() {
    on_both("numbers", |place| {
        let layers = Layers::default_city();
        let mut a = place.open(&layers);
        let mut b = place.open(&layers);
        let first = pole(1, 100_001);
        a.commit(&batch(vec![Change::Create(first.clone())]))
            .unwrap();
        // Another object with the same serial, through the other handle: refused, nothing
        // written.
        let e = b
            .commit(&batch(vec![Change::Create(pole(2, 100_001))]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("serial 100001 was already given"), "{e}");
        assert_eq!(everything(&mut *a).len(), 1);
        // Two new objects of one batch with one new serial: the second is named.
        let e = a
            .commit(&batch(vec![
                Change::Create(pole(3, 300_001)),
                Change::Create(pole(4, 300_002)),
                Change::Create(pole(5, 300_001)),
            ]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("object 5: serial 300001 was already given"),
            "{e}"
        );
        // Renumbered: the old number retires; another object may not take it, the object
        // itself may take it back.
        let renumbered = {
            let mut o = first.clone();
            o.number = Some(Number::scheme(100_003, WIDTH));
            o
        };
        a.commit(&batch(vec![update(&first, &renumbered)])).unwrap();
        let other = pole(6, 100_006);
        a.commit(&batch(vec![Change::Create(other.clone())]))
            .unwrap();
        let mut stolen = other.clone();
        stolen.number = Some(Number::scheme(100_001, WIDTH));
        let e = b
            .commit(&batch(vec![update(&other, &stolen)]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("object 6: serial 100001 was already given"),
            "{e}"
        );
        b.commit(&batch(vec![update(&renumbered, &first)])).unwrap();
        // Deleted: its numbers stay given.
        a.commit(&batch(vec![Change::Delete(first.clone())]))
            .unwrap();
        for serial in [100_001, 100_003] {
            let e = b
                .commit(&batch(vec![Change::Create(pole(7, serial))]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("serial {serial} was already given")),
                "{e}"
            );
        }
        let given: Vec<usize> = b.serials().unwrap().ones().collect();
        assert_eq!(given, vec![100_001, 100_003, 100_006]);
        // The history names who held a number, also one deleted since.
        let number = Number::scheme(100_001, WIDTH);
        let painted = number.display(layers.def(first.layer), WIDTH);
        let (id, layer) = a.object_of_number(&painted).unwrap().expect("held");
        assert_eq!((id, layer.as_str()), (1, "poles"));
    });
}

#[test]
fn two_writers_at_once_never_give_one_number_twice() {
    on_both("race", |place| {
        let layers = Layers::default_city();
        // Each writer creates 40 poles, one per batch; the serials of the even ones are the
        // same for both writers.
        let won: Vec<Vec<u32>> = std::thread::scope(|s| {
            let writers: Vec<_> = (0..2u64)
                .map(|w| {
                    let mut store = place.open(&layers);
                    s.spawn(move || {
                        let mut kept = Vec::new();
                        for i in 0..40u64 {
                            let serial = if i % 2 == 0 {
                                500_000 + i as u32
                            } else {
                                600_000 + (w * 100 + i) as u32
                            };
                            let id = store.reserve_ids(1).unwrap();
                            match store.commit(&batch(vec![Change::Create(pole(id, serial))])) {
                                Ok(_) => kept.push(serial),
                                Err(e) => assert!(
                                    e.to_string()
                                        .contains(&format!("serial {serial} was already given")),
                                    "{e}"
                                ),
                            }
                        }
                        kept
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let mut all: Vec<u32> = won.concat();
        all.sort_unstable();
        let before = all.len();
        all.dedup();
        assert_eq!(all.len(), before, "a serial given twice");
        assert_eq!(before, 20 + 40, "each shared serial once, each own serial");
        let mut store = place.open(&layers);
        let objects = everything(&mut *store);
        assert_eq!(objects.len(), 60);
        let mut ids: Vec<u64> = objects.iter().map(|o| o.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 60, "ids reserved by two writers never overlap");
        assert!(store.verify_history().unwrap().ok());
    });
}

#[test]
fn a_guarded_append_is_refused_whole_when_another_writer_was_first() {
    on_both("guard", |place| {
        let layers = Layers::default_city();
        let mut store = place.open(&layers);
        let actions = ["report", "incident"];
        let guard = |after| Unless {
            after,
            actions: &actions,
        };
        let photo = Photo {
            key: "ef".repeat(32),
            mime: "image/jpeg".into(),
            bytes: vec![0xff, 0xd8, 9],
        };
        let first = store
            .record_all(
                "a",
                &[("report", json!({"report": 1}))],
                None,
                Some(guard(0)),
            )
            .unwrap();
        assert_eq!(first, vec![1]);
        // An entry of another action does not count; one of the guarded actions does.
        store.record("dispatcher:1", "call", &json!({})).unwrap();
        assert_eq!(
            store
                .record_all(
                    "b",
                    &[("report", json!({"report": 2}))],
                    None,
                    Some(guard(1))
                )
                .unwrap(),
            vec![3]
        );
        let err = store
            .record_all(
                "c",
                &[("report", json!({"report": 3})), ("incident", json!({}))],
                Some(&photo),
                Some(guard(1)),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Stale { after: 1, .. }), "{err}");
        assert!(err.to_string().contains("nothing was written"), "{err}");
        assert_eq!(store.last_seq().unwrap(), 3, "nothing of it appended");
        assert_eq!(store.photo(&photo.key).unwrap(), None, "nor its photo");

        // Two writers numbering reports from what they read, each retrying when refused:
        // every number is given once.
        let given: Vec<Vec<u64>> = std::thread::scope(|s| {
            let writers: Vec<_> = (0..2)
                .map(|w| {
                    let mut store = place.open(&layers);
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        while mine.len() < 15 {
                            let seen = store.history_after(0, &actions, 10_000).unwrap();
                            let last = seen.last().map_or(0, |e| e.seq as u64);
                            let next = seen
                                .iter()
                                .filter_map(|e| e.new.as_ref()?["report"].as_u64())
                                .max()
                                .unwrap_or(0)
                                + 1;
                            let row = json!({"report": next, "writer": w});
                            match store.record_all("w", &[("report", row)], None, Some(guard(last)))
                            {
                                Ok(_) => mine.push(next),
                                Err(StoreError::Stale { .. }) => {}
                                Err(e) => panic!("{e}"),
                            }
                        }
                        mine
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let mut all = given.concat();
        all.sort_unstable();
        assert_eq!(
            all,
            (3..=32).collect::<Vec<u64>>(),
            "each report number once"
        );
        assert!(store.verify_history().unwrap().ok());
    });
}

#[test]
fn the_history_is_one_hash_chain_read_every_way() {
    on_both("history", |place| {
        let layers = Layers::default_city();
        let mut store = place.open(&layers);
        let o = pole(1, 100_001);
        store
            .commit(&batch(vec![Change::Create(o.clone())]))
            .unwrap();
        let mut closed = o.clone();
        closed.status = Status::Closed;
        store.commit(&batch(vec![update(&o, &closed)])).unwrap();
        let (call, hash) = store
            .record(
                "dispatcher:1",
                "call",
                &serde_json::json!({"said": "опора 100001"}),
            )
            .unwrap();
        assert_eq!(call, 3);
        assert_eq!(hash.len(), 64);
        let photo = Photo {
            key: "ab".repeat(32),
            mime: "image/jpeg".into(),
            bytes: vec![0xff, 0xd8, 1, 2, 3],
        };
        let seqs = store
            .record_all(
                "resident",
                &[
                    ("report", serde_json::json!({"number": "100001"})),
                    ("incident", serde_json::json!({"state": "open"})),
                ],
                Some(&photo),
                None,
            )
            .unwrap();
        assert_eq!(seqs, vec![4, 5]);
        assert_eq!(store.photo(&photo.key).unwrap(), Some(photo));
        assert_eq!(store.photo("none").unwrap(), None);
        assert_eq!(store.last_seq().unwrap(), 5);
        let of_object = store.history(Some(1), 10).unwrap();
        assert_eq!(
            of_object.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert_eq!(of_object[0].old.as_ref().unwrap()["status"], "ok");
        assert_eq!(of_object[0].new.as_ref().unwrap()["status"], "closed");
        assert_eq!(
            store
                .history(None, 2)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>(),
            vec![5, 4]
        );
        let calls = store.history_of("call", 10).unwrap();
        assert_eq!((calls.len(), calls[0].actor.as_str()), (1, "dispatcher:1"));
        assert_eq!(calls[0].hash.as_deref(), Some(hash.as_str()));
        let after = store.history_after(1, &["report", "call"], 10).unwrap();
        assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(store.history_after(3, &[], 1).unwrap()[0].seq, 4);
        let verdict = store.verify_history().unwrap();
        assert!(verdict.ok(), "{verdict:?}");
        assert_eq!(verdict.entries, 5);
        assert_eq!(verdict.head.map(|h| h.0), Some(5));
        // Settings.
        assert_eq!(store.setting("city").unwrap(), None);
        store.set_setting("city", "Запоріжжя").unwrap();
        store.set_setting("city", "Кривий Ріг").unwrap();
        assert_eq!(
            place.open(&layers).setting("city").unwrap().as_deref(),
            Some("Кривий Ріг")
        );
    });
}

#[test]
fn tokens_are_kept_revoked_and_recorded() {
    on_both("tokens", |place| {
        let layers = Layers::default_city();
        let mut store = place.open(&layers);
        let id = store
            .add_token(
                &NewToken {
                    name: "console-1".into(),
                    role: Role::Dispatcher,
                    hash: "$argon2id$x".into(),
                    expires: Some(1_900_000_000_000),
                },
                "cli:root",
            )
            .unwrap();
        let t = store.tokens().unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].id, t[0].role, t[0].expires),
            (id, Role::Dispatcher, Some(1_900_000_000_000))
        );
        assert!(t[0].created > 0 && t[0].revoked.is_none());
        let revoked = store.revoke_token(id, "cli:root").unwrap().expect("there");
        assert!(revoked.revoked.is_some());
        // A second revocation changes nothing and is not recorded.
        store.revoke_token(id, "cli:root").unwrap();
        assert_eq!(store.revoke_token(id + 100, "cli:root").unwrap(), None);
        let actions: Vec<String> = store
            .history(None, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, vec!["token_revoke", "token_create"]);
        assert!(store.verify_history().unwrap().ok());
    });
}

#[test]
fn a_batch_in_parts_is_written_whole_or_not_at_all() {
    on_both("parts", |place| {
        let layers = Layers::default_city();
        let mut store = place.open(&layers);
        let head = BatchHead {
            actor: "import".into(),
            action: "import".into(),
            history_per_create: false,
            bulk: true,
        };
        // Abandoned before its end: nothing written, the ids it was given are not reused.
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        let mut first = 0;
        let writer = std::thread::scope(|s| {
            let feeder = s.spawn(move || {
                let part: Vec<Change> = (0..100)
                    .map(|i| Change::Create(pole(1 + i, 200_000 + i as u32)))
                    .collect();
                tx.send(Part::Changes(part)).unwrap();
            });
            let r = store.commit_parts(&head, rx, &mut |f| first = f, &mut |_| {});
            feeder.join().unwrap();
            r
        });
        assert!(
            matches!(writer, Err(StoreError::Abandoned { .. })),
            "{writer:?}"
        );
        assert!(everything(&mut *store).is_empty());
        assert!(store.serials().unwrap().ones().next().is_none());
        // Whole: 3 parts of 5,000, the serials asked for in between.
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        let mut written = 0;
        let mut free = 0;
        let seq = std::thread::scope(|s| {
            let (free_tx, free_rx) = std::sync::mpsc::channel::<u64>();
            let feeder = s.spawn(move || {
                let from = free_rx.recv().unwrap();
                for part in 0..3u64 {
                    let changes: Vec<Change> = (0..5000u64)
                        .map(|i| {
                            let n = part * 5000 + i;
                            Change::Create(pole(from + n, 300_000 + n as u32))
                        })
                        .collect();
                    tx.send(Part::Changes(changes)).unwrap();
                    let (reply, answer) = std::sync::mpsc::sync_channel(1);
                    tx.send(Part::Serials(reply)).unwrap();
                    // This batch's own serials are recorded at its end.
                    assert_eq!(answer.recv().unwrap().unwrap().ones().count(), 0);
                }
                tx.send(Part::Finish {
                    summary: serde_json::json!({"file": "poles.csv"}),
                    next_id: from + 15_000,
                })
                .unwrap();
            });
            let r = store.commit_parts(
                &head,
                rx,
                &mut |f| {
                    free = f;
                    free_tx.send(f).unwrap();
                },
                &mut |c| written += c.len(),
            );
            feeder.join().unwrap();
            r
        })
        .unwrap();
        assert_eq!(written, 15_000);
        assert!(free >= first, "{free} {first}");
        assert_eq!(seq, 1, "one summary row for the import");
        let summary = store.history_of("import", 1).unwrap().remove(0);
        assert_eq!(summary.new.as_ref().unwrap()["created"], 15_000);
        assert_eq!(summary.new.as_ref().unwrap()["file"], "poles.csv");
        assert_eq!(everything(&mut *store).len(), 15_000);
        assert_eq!(store.serials().unwrap().ones().count(), 15_000);
        assert!(store.reserve_ids(1).unwrap() >= free + 15_000);
    });
}

/// A PostGIS store opened twice keeps its serial width and refuses a schema newer than it
/// knows; the URL's password never appears in an error.
#[test]
fn the_postgis_schema_is_versioned_and_kept() {
    if !postgis_ready() {
        return;
    }
    let db = TestDb::new("schema");
    let layers = Layers::default_city();
    drop(PgStore::open(&db.url, &layers, 7, 2).unwrap());
    let e = PgStore::open(&db.url, &layers, 6, 100_000)
        .err()
        .expect("a pool above max_connections is refused")
        .to_string();
    assert!(e.contains("max_connections"), "{e}");
    let mut again = PgStore::open(&db.url, &layers, 6, 2).unwrap();
    assert_eq!(again.serial_width(), 7, "an existing store keeps its width");
    // A bulk write is followed by ANALYZE of its layer: the planner knows its size at once.
    let analyzed = || {
        let out = psql(
            &db.name,
            "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'poles' AND last_analyze IS NOT NULL",
        )
        .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    };
    assert!(!analyzed());
    let index_def = || {
        let out = psql(
            &db.name,
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'poles' AND indexname = 'poles_geom'",
        )
        .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // A bulk batch refused at its end (its last pole repeats a serial) leaves the layer as it
    // was, its index too.
    let first = again.reserve_ids(12_000).unwrap();
    let refused = (0..12_000u64)
        .map(|i| Change::Create(pole(first + i, 200_000 + (i as u32).min(11_998))))
        .collect();
    assert!(again.commit(&batch(refused)).is_err());
    assert!(index_def().contains("USING gist (geom)"), "{}", index_def());
    assert!(everything(&mut again).is_empty());
    let first = again.reserve_ids(12_000).unwrap();
    let poles = (0..12_000u64)
        .map(|i| Change::Create(pole(first + i, 100_000 + i as u32)))
        .collect();
    again.commit(&batch(poles)).unwrap();
    assert!(analyzed(), "the poles' table analyzed after 12,000 rows");
    // Its GiST index, dropped for the bulk COPY into the empty layer, is there again.
    assert!(index_def().contains("USING gist (geom)"), "{}", index_def());
    let first = again.reserve_ids(1).unwrap();
    again
        .commit(&batch(vec![Change::Create(pole(first, 99_999))]))
        .unwrap();
    assert_eq!(everything(&mut again).len(), 12_001);
    drop(again);
    let out = psql(
        &db.name,
        "SELECT string_agg(version::text, ',' ORDER BY version) FROM citytwin_migrations",
    )
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1",
        "each migration once"
    );
    let out = psql(
        &db.name,
        "INSERT INTO citytwin_migrations VALUES (999, 'from the future', 'x')",
    )
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let e = PgStore::open(&db.url, &layers, 6, 2)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("schema is version 999"), "{e}");
    let e = PgStore::open("postgresql://ann:secret@127.0.0.1:1/nowhere", &layers, 6, 1)
        .err()
        .expect("no server there")
        .to_string();
    assert!(e.contains("unavailable") && !e.contains("secret"), "{e}");
}

/// The server on a PostGIS store: seeds the demo city into it, answers, and keeps an
/// acknowledged write through `kill -9`; the commands (tokens, the audit) use the same store.
#[test]
fn the_server_runs_on_postgis_and_keeps_an_acknowledged_write_through_kill_9() {
    if !postgis_ready() {
        return;
    }
    let db = TestDb::new("server");
    let dir = tempfile::tempdir().unwrap();
    let unused = dir.path().join("unused.gpkg");
    let env = [("CITYTWIN_STORE__POSTGRES", db.url.as_str())];
    let seed = common::repo("seeds/demo.toml");
    let mut server = common::Server::start(&unused, seed.to_str().unwrap(), &env);
    let (s, health) = server.get("/health");
    assert_eq!(s, 200, "{health}");
    let objects = health["objects"].as_u64().unwrap();
    assert!(objects > 100, "the demo city was seeded: {health}");
    let out = common::cli_cmd(
        &unused,
        &["token", "create", "--role", "admin", "--name", "pg"],
    )
    .envs(env)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    server.as_token(Some(&token));
    let all = server.get("/health").1["objects"].as_u64().unwrap();
    assert!(all >= objects);
    let (s, f) = server.post(
        "/objects",
        &serde_json::json!({"layer": "cameras", "geometry": {"type": "Point", "coordinates": [35.14, 47.84]}}),
    );
    assert_eq!(s, 201, "{f}");
    let number = f["properties"]["number"].as_str().unwrap().to_string();
    server.kill9();
    let mut server = common::Server::start(&unused, "none", &env);
    server.as_token(Some(&token));
    // Counted as an admin sees them (cameras are not public).
    assert_eq!(server.get("/health").1["objects"].as_u64(), Some(all + 1));
    let (s, o) = server.get(&format!("/objects/{}", common::enc(&number)));
    assert_eq!(s, 200, "{o}");
    assert_eq!(
        o["geometry"]["coordinates"],
        serde_json::json!([35.14, 47.84])
    );
    assert!(!unused.exists(), "the GeoPackage file is not used");
    let out = common::cli_cmd(&unused, &["audit", "verify"])
        .envs(env)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("ok: the chain is intact"),
        "{said}"
    );
}

/// `citytwin migrate` moves a whole store to PostGIS and back with nothing lost: every table
/// read back equal (the command checks each by checksum, this test again through the store
/// interface), the history chain intact; a target holding anything is refused.
#[test]
fn a_store_moves_to_postgis_and_back_with_nothing_lost() {
    if !postgis_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Real data (Helsinki's OSM extract: points, streets, buildings with holes, attributes of
    // every kind), then history of every kind: renumbered, deleted, a token, a report with a
    // photo.
    let a = common::helsinki_store(dir.path());
    let layers = Layers::default_city();
    {
        let mut s = GpkgStore::open(&a, &layers, WIDTH).unwrap();
        let id = s.reserve_ids(3).unwrap();
        let [x, y, z] = [0, 1, 2].map(|i| pole(id + i, 900_000 + i as u32));
        s.commit(&batch(vec![
            Change::Create(x.clone()),
            Change::Create(y.clone()),
            Change::Create(z.clone()),
        ]))
        .unwrap();
        let mut x2 = x.clone();
        x2.number = Some(Number::scheme(900_010, WIDTH));
        s.commit(&batch(vec![update(&x, &x2), Change::Delete(y)]))
            .unwrap();
        let t = NewToken {
            name: "console".into(),
            role: Role::Dispatcher,
            hash: "$argon2id$x".into(),
            expires: None,
        };
        let tid = s.add_token(&t, "cli:root").unwrap();
        s.revoke_token(tid, "cli:root").unwrap();
        s.add_token(&t, "cli:root").unwrap();
        let photo = Photo {
            key: "cd".repeat(32),
            mime: "image/png".into(),
            bytes: vec![0x89, b'P', b'N', b'G', 7, 7, 7],
        };
        s.record_all(
            "resident",
            &[("report", serde_json::json!({"number": "x"}))],
            Some(&photo),
            None,
        )
        .unwrap();
    }
    let db = TestDb::new("migrate");
    let run = |from: &str, to: &str| {
        common::cli_cmd(&a, &["migrate", "--from", from, "--to", to])
            .output()
            .unwrap()
    };
    let out = run(a.to_str().unwrap(), &db.url);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        said.lines().filter(|l| l.ends_with("equal")).count(),
        8,
        "{said}"
    );
    // Again into the same database: refused, and it stays as it was.
    let out = run(a.to_str().unwrap(), &db.url);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("not empty"), "{err}");
    // Back into a new file; an existing file is not overwritten.
    let b = dir.path().join("b.gpkg");
    let out = run(&db.url, b.to_str().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&db.url, b.to_str().unwrap());
    assert!(!out.status.success());
    let mut sa = GpkgStore::open(&a, &layers, WIDTH).unwrap();
    let mut sb = GpkgStore::open(&b, &layers, WIDTH).unwrap();
    let mut pg = PgStore::open(&db.url, &layers, WIDTH, 2).unwrap();
    let kept = sa.kept().unwrap();
    assert!(kept.history.len() > 5 && kept.tokens.len() == 2 && kept.photos.len() == 1);
    assert!(!kept.retired.is_empty() && !kept.assigned.is_empty());
    assert_eq!(sb.kept().unwrap(), kept);
    let objects = everything(&mut sa);
    assert!(objects.len() > 1000);
    assert_eq!(everything(&mut sb), objects);
    assert_eq!(everything(&mut pg), objects);
    // The moved store goes on where the first left off.
    assert!(pg.verify_history().unwrap().ok());
    let next = pg.reserve_ids(1).unwrap();
    assert!(next > objects.last().unwrap().id);
    let e = pg
        .commit(&batch(vec![Change::Create(pole(next, 900_001))]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("serial 900001 was already given"), "{e}");
}
