//! Registry benchmarks: import throughput and cold start, each against a peer measured in the
//! same run — the floor of the same work done with bare SQLite (no parsing rules, no numbering
//! checks, no twin): `sqlite_floor` writes a minimal 5-column row, `sqlite_floor_same_row`
//! citytwin's own tables and row from memory.
//!
//! Run: `cargo bench --bench registry` (the 10M-object figures come from
//! `benches/registry-10m.sh`).

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use citytwin::import::{self, Format, Mapping, Options};
use citytwin::model::Layers;
use citytwin::registry::Registry;
use citytwin::store::gpkg::{GpkgStore, encode_geometry};

const N: u64 = 100_000;

/// The allocator of the `citytwin` binary, so that the library is measured as it runs there.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn mapping() -> Mapping {
    Mapping::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/synthetic-city.toml"))
        .expect("synthetic mapping")
}

fn citytwin_import(csv: &Path, store: &Path) {
    let layers = Layers::default_city();
    let opts = Options {
        layer: None,
        crs: None,
        mapping: mapping(),
        strict: true,
    };
    let gpkg = GpkgStore::open(store, &layers, 6).expect("store");
    let registry = Registry::open(Box::new(gpkg), 1000.0).expect("registry");
    // As `citytwin import` does it: read, checked and written part by part, one core writing.
    let workers = import::workers_beside_writer();
    let files = [csv.to_path_buf()];
    registry.stop_following();
    registry
        .import_from(
            N as usize,
            |sink| import::read_files(&files, Format::Csv, &layers, &opts, workers, sink),
            "bench",
            serde_json::json!({}),
            true,
        )
        .expect("import");
}

/// The floor: read the CSV with the csv crate and insert rows into one SQLite table with a
/// prepared statement in one transaction.
fn sqlite_floor(csv_path: &Path, db: &Path) {
    let conn = rusqlite::Connection::open(db).expect("open");
    // The journal citytwin's own bulk writes use (see `GpkgStore::rollback_journal_if_alone`).
    conn.pragma_update(None, "journal_mode", "DELETE")
        .expect("journal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.execute_batch("CREATE TABLE t (fid INTEGER PRIMARY KEY, geom BLOB, layer TEXT, number TEXT, name TEXT, status TEXT)")
        .expect("create");
    let mut rdr = csv::Reader::from_path(csv_path).expect("csv");
    let tx = conn.unchecked_transaction().expect("tx");
    {
        let mut st = tx
            .prepare(
                "INSERT INTO t (geom, layer, number, name, status) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .expect("prep");
        let mut rec = csv::StringRecord::new();
        while rdr.read_record(&mut rec).expect("read") {
            let lon: f64 = rec[2].parse().expect("lon");
            let lat: f64 = rec[3].parse().expect("lat");
            let blob =
                encode_geometry(&citytwin::model::Geometry::Point([lon, lat])).expect("blob");
            st.execute(rusqlite::params![blob, &rec[0], &rec[1], &rec[4], &rec[5]])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// One row as citytwin writes it, prepared in memory (nothing parsed while timed).
struct SameRow {
    layer: String,
    blob: Vec<u8>,
    serial: i64,
    number: String,
    status: String,
    attributes: String,
    source_id: String,
}

fn same_rows(csv_path: &Path) -> Vec<SameRow> {
    let mut rdr = csv::Reader::from_path(csv_path).expect("csv");
    let mut rec = csv::StringRecord::new();
    let mut out = Vec::new();
    while rdr.read_record(&mut rec).expect("read") {
        let lon: f64 = rec[2].parse().expect("lon");
        let lat: f64 = rec[3].parse().expect("lat");
        let digits: String = rec[1].chars().filter(char::is_ascii_digit).collect();
        out.push(SameRow {
            layer: rec[0].to_string(),
            blob: encode_geometry(&citytwin::model::Geometry::Point([lon, lat])).expect("blob"),
            serial: digits[..digits.len() - 1].parse().expect("serial"),
            number: rec[1].to_string(),
            status: rec[5].to_string(),
            attributes: serde_json::json!({"name": &rec[4], "district": &rec[6]}).to_string(),
            source_id: format!("line:{}", out.len() + 2),
        });
    }
    out
}

/// The floor of the store's own format: citytwin's exact tables and row (12 columns, plus the
/// serial bitmap's rows, a 128-byte row per 1024 serials), written from memory with prepared statements in
/// one transaction with synchronous=FULL and the rollback journal, as citytwin's bulk writes —
/// what any importer into this GeoPackage pays for its rows. The spatial index's triggers are
/// dropped first, as citytwin's bulk write drops them, and the index is not filled (citytwin
/// fills it after the rows: its `index_ms` in the log).
fn sqlite_floor_same_row(rows: &[SameRow], db: &Path) {
    drop(GpkgStore::open(db, &Layers::default_city(), 7).expect("store"));
    let mut conn = rusqlite::Connection::open(db).expect("open");
    let triggers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rtree%'")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("triggers")
        .collect::<Result<_, _>>()
        .expect("triggers");
    for t in triggers {
        conn.execute_batch(&format!("DROP TRIGGER \"{t}\""))
            .expect("drop trigger");
    }
    conn.pragma_update(None, "journal_mode", "DELETE")
        .expect("journal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    let tx = conn.transaction().expect("tx");
    {
        let now = "2026-11-25T12:00:00.000Z";
        let mut inserts = std::collections::HashMap::new();
        let mut blocks = std::collections::BTreeSet::new();
        for (i, r) in rows.iter().enumerate() {
            if !inserts.contains_key(&r.layer) {
                let st = tx
                    .prepare(&format!(
                        "INSERT OR REPLACE INTO \"{}\" (fid, geom, serial, number, check_digit, status, \
                         status_changed, attributes, source_file, source_id, created, updated) \
                         VALUES (?1, ?2, ?3, ?4, 1, ?5, NULL, ?7, 'city.csv', ?8, ?6, ?6)",
                        r.layer
                    ))
                    .expect("prepare");
                inserts.insert(r.layer.clone(), st);
            }
            let fid = i as i64 + 1;
            inserts
                .get_mut(&r.layer)
                .expect("statement")
                .execute(rusqlite::params![
                    fid,
                    r.blob,
                    r.serial,
                    r.number,
                    r.status,
                    now,
                    r.attributes,
                    r.source_id
                ])
                .expect("insert");
            blocks.insert(r.serial / 1024);
        }
        let mut st = tx
            .prepare("INSERT INTO citytwin_serials(block, given) VALUES (?1, zeroblob(128))")
            .expect("prepare");
        for block in blocks {
            st.execute([block]).expect("serials");
        }
    }
    tx.commit().expect("commit");
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let csv = dir.path().join("city.csv");
    citytwin::generate::write_csv(&csv, N, 6, 1).expect("generate");

    let mut g = c.benchmark_group("import_100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    let mut k = 0;
    g.bench_function("citytwin", |b| {
        b.iter(|| {
            k += 1;
            citytwin_import(&csv, &dir.path().join(format!("c{k}.gpkg")));
        })
    });
    g.bench_function("sqlite_floor", |b| {
        b.iter(|| {
            k += 1;
            sqlite_floor(&csv, &dir.path().join(format!("f{k}.db")));
        })
    });
    let rows = same_rows(&csv);
    g.bench_function("sqlite_floor_same_row", |b| {
        b.iter(|| {
            k += 1;
            sqlite_floor_same_row(&rows, &dir.path().join(format!("s{k}.gpkg")));
        })
    });
    g.finish();

    // Cold start: open a store of N objects into a serving twin, against scanning and decoding
    // the same rows with bare SQLite.
    let store = dir.path().join("cold.gpkg");
    citytwin_import(&csv, &store);
    let floor_db = dir.path().join("cold.db");
    sqlite_floor(&csv, &floor_db);
    let mut g = c.benchmark_group("cold_start_100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_function("citytwin", |b| {
        b.iter(|| {
            let gpkg = GpkgStore::open(&store, &Layers::default_city(), 6).expect("store");
            let r = Registry::open(Box::new(gpkg), 1000.0).expect("registry");
            assert_eq!(r.twin().len() as u64, N);
        })
    });
    g.bench_function("sqlite_scan", |b| {
        b.iter(|| {
            let conn = rusqlite::Connection::open(&floor_db).expect("open");
            let mut st = conn
                .prepare("SELECT fid, geom, layer, number, name, status FROM t")
                .expect("prep");
            let mut rows = st.query([]).expect("query");
            let mut n = 0u64;
            while let Some(r) = rows.next().expect("row") {
                let blob: Vec<u8> = r.get(1).expect("blob");
                let _ = citytwin::store::gpkg::decode_geometry(&blob).expect("geom");
                let _: String = r.get(3).expect("number");
                n += 1;
            }
            assert_eq!(n, N);
        })
    });
    g.finish();
}

/// The twin's R-tree node sizes against rstar's default, on 1M points of a city-sized box:
/// bulk load, and small-box queries on the built tree.
fn rtree(c: &mut Criterion) {
    use rstar::primitives::GeomWithData;
    use rstar::{AABB, RTree};
    type E = GeomWithData<[f64; 2], u64>;
    let mut s = 1u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % 1_000_000) as f64 * 1e-6
    };
    let points: Vec<E> = (0..1_000_000u64)
        .map(|i| E::new([35.0 + next() * 0.3, 47.7 + next() * 0.2], i))
        .collect();
    let boxes: Vec<AABB<[f64; 2]>> = (0..10_000)
        .map(|i| {
            let (x, y) = (
                35.0 + (i % 100) as f64 * 0.003,
                47.7 + (i / 100) as f64 * 0.002,
            );
            AABB::from_corners([x, y], [x + 0.0005, y + 0.0005])
        })
        .collect();
    let mut g = c.benchmark_group("rtree_1m");
    g.sample_size(10);
    g.bench_function("bulk_load/rstar_default", |b| {
        b.iter(|| RTree::<E>::bulk_load(points.clone()))
    });
    g.bench_function("bulk_load/citytwin", |b| {
        b.iter(|| RTree::<E, citytwin::twin::TreeParams>::bulk_load_with_params(points.clone()))
    });
    let default_tree = RTree::<E>::bulk_load(points.clone());
    let twin_tree = RTree::<E, citytwin::twin::TreeParams>::bulk_load_with_params(points.clone());
    fn found<P: rstar::RTreeParams>(t: &RTree<E, P>, boxes: &[AABB<[f64; 2]>]) -> usize {
        boxes
            .iter()
            .map(|bx| t.locate_in_envelope(*bx).count())
            .sum()
    }
    g.bench_function("box_queries/rstar_default", |b| {
        b.iter(|| found(&default_tree, &boxes))
    });
    g.bench_function("box_queries/citytwin", |b| {
        b.iter(|| found(&twin_tree, &boxes))
    });
    g.finish();
}

criterion_group!(registry, benches, rtree);
criterion_main!(registry);
