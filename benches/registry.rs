//! Registry benchmarks: import throughput and cold start, each against a floor or a peer
//! measured in the same run.
//!
//! - `sqlite_floor_same_row`, the FLOOR of the import's writing: citytwin's own tables and rows
//!   (12 columns, and the serial bitmap's rows), written from memory by bare SQLite the way
//!   citytwin writes them — 64 rows per `INSERT` (`ROWS_PER_INSERT`, `values_of_rows` in
//!   src/store/gpkg.rs), texts and blobs bound in place (`SQLITE_STATIC`, src/store/inplace.rs),
//!   the columns rows share bound only when they change, one transaction with the same journal,
//!   sync, page cache and early flushes — with nothing parsed, checked or numbered.
//! - `sqlite_csv_peer`, a PEER, not a floor: the csv crate reading the same file and rusqlite
//!   writing a minimal 5-column row per `INSERT` (rusqlite copies every text and blob it binds).
//!   Less than half the bytes, written row by row: neither the same work nor citytwin's way of
//!   doing it, so a reference point, not a bound.
//! - `sqlite_scan_peer` (cold start), a PEER: bare SQLite scanning that peer's table and decoding
//!   each geometry; it builds no index and keeps nothing.
//!
//! Run: `cargo bench --bench registry`. The 10M-object figures come from
//! `benches/registry-10m.sh`, which runs the same floor on its city with
//! `REGISTRY_FLOOR_CSV=city.csv REGISTRY_FLOOR_DB=floor.gpkg cargo bench --bench registry`
//! (the floor once, timed, then nothing else).

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group};

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

/// A peer (not a floor: fewer bytes, written another way): read the CSV with the csv crate and
/// insert a minimal 5-column row per statement with rusqlite in one transaction.
fn sqlite_csv_peer(csv_path: &Path, db: &Path) {
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
            // As citytwin stores them: the district a number.
            attributes: match rec[6].parse::<i64>() {
                Ok(d) => serde_json::json!({"name": &rec[4], "district": d}),
                Err(_) => serde_json::json!({"name": &rec[4], "district": &rec[6]}),
            }
            .to_string(),
            source_id: format!("line:{}", out.len() + 2),
        });
    }
    out
}

/// A statement whose texts and blobs SQLite reads in place (`SQLITE_STATIC`), as
/// src/store/inplace.rs binds citytwin's bulk inserts (that module is private to the store).
struct InPlace {
    db: *mut rusqlite::ffi::sqlite3,
    st: *mut rusqlite::ffi::sqlite3_stmt,
}

impl InPlace {
    fn prepare(conn: &rusqlite::Connection, sql: &str) -> InPlace {
        use rusqlite::ffi;
        let sql = std::ffi::CString::new(sql).expect("sql");
        let mut st = std::ptr::null_mut();
        // SAFETY: the connection is open and used on this thread only while the statement lives.
        let db = unsafe { conn.handle() };
        let rc =
            unsafe { ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut st, std::ptr::null_mut()) };
        assert_eq!(rc, ffi::SQLITE_OK, "prepare");
        InPlace { db, st }
    }

    /// # Safety
    /// The bytes stay valid and unchanged until parameter `i` is bound again or the statement
    /// is dropped.
    unsafe fn text(&mut self, i: usize, t: &[u8]) {
        use rusqlite::ffi;
        let rc = unsafe {
            ffi::sqlite3_bind_text(
                self.st,
                i as i32,
                t.as_ptr().cast(),
                t.len() as i32,
                ffi::SQLITE_STATIC(),
            )
        };
        assert_eq!(rc, ffi::SQLITE_OK, "bind text");
    }

    /// # Safety
    /// As [`InPlace::text`].
    unsafe fn blob(&mut self, i: usize, b: &[u8]) {
        use rusqlite::ffi;
        let rc = unsafe {
            ffi::sqlite3_bind_blob(
                self.st,
                i as i32,
                b.as_ptr().cast(),
                b.len() as i32,
                ffi::SQLITE_STATIC(),
            )
        };
        assert_eq!(rc, ffi::SQLITE_OK, "bind blob");
    }

    fn int(&mut self, i: usize, v: i64) {
        // SAFETY: a live statement; an integer is copied.
        let rc = unsafe { rusqlite::ffi::sqlite3_bind_int64(self.st, i as i32, v) };
        assert_eq!(rc, rusqlite::ffi::SQLITE_OK, "bind int");
    }

    fn run(&mut self) {
        use rusqlite::ffi;
        // SAFETY: a live statement whose bound bytes the caller keeps valid.
        let rc = unsafe { ffi::sqlite3_step(self.st) };
        if rc != ffi::SQLITE_DONE {
            // SAFETY: the connection is open; the message is read before any other call.
            let msg = unsafe { std::ffi::CStr::from_ptr(ffi::sqlite3_errmsg(self.db)) };
            panic!("insert: {}", msg.to_string_lossy());
        }
        unsafe { ffi::sqlite3_reset(self.st) };
    }
}

impl Drop for InPlace {
    fn drop(&mut self) {
        // SAFETY: prepared by this value, finalized once.
        unsafe { rusqlite::ffi::sqlite3_finalize(self.st) };
    }
}

/// Rows per statement, as citytwin's `ROWS_PER_INSERT`.
const ROWS_PER_INSERT: usize = 64;

/// One layer's insert of `rows` rows of citytwin's 12 columns; the columns every row of the
/// floor shares (check digit, status_changed NULL, source file, created, updated) are bound
/// once, the status again only when it changes, as citytwin does.
fn layer_insert(
    conn: &rusqlite::Connection,
    table: &str,
    rows: usize,
    shared: &[(usize, &[u8])],
) -> InPlace {
    let values = (0..rows)
        .map(|r| {
            format!(
                "({})",
                (1..=12)
                    .map(|c| format!("?{}", 12 * r + c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut st = InPlace::prepare(
        conn,
        &format!(
            "INSERT OR REPLACE INTO \"{table}\" (fid, geom, serial, number, check_digit, status, \
             status_changed, attributes, source_file, source_id, created, updated) VALUES {values}"
        ),
    );
    for r in 0..rows {
        st.int(12 * r + 5, 1);
        for &(col, bytes) in shared {
            // SAFETY: the shared texts are 'static or outlive the statement (the caller's).
            unsafe { st.text(12 * r + col, bytes) };
        }
    }
    st
}

/// The FLOOR of the store's writing: citytwin's exact tables and rows (12 columns, plus the
/// serial bitmap's rows, 128 bytes per 1024 serials), written from memory as citytwin writes
/// them — 64 rows per statement, texts and blobs in place, shared columns bound once — in one
/// transaction set up as citytwin's bulk writes are (`GpkgStore::in_batch`): the rollback
/// journal with synchronous=EXTRA, a 256 MiB page cache, and the file flushed every second
/// while the transaction runs. Rows go table by table (`order`: the rows' places grouped by
/// layer, made before timing). The spatial index's triggers are dropped first, as citytwin's
/// bulk write drops them; the floor does not fill the index, which citytwin builds after its rows
/// (its `index_ms` in the log): that part of citytwin's work has no floor here.
fn sqlite_floor_same_row(rows: &[SameRow], order: &[(String, Vec<usize>)], db: &Path) {
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
    conn.pragma_update(None, "synchronous", "EXTRA")
        .expect("sync");
    let cache_kib = i64::from(citytwin::store::gpkg::DEFAULT_BULK_CACHE_MIB) * 1024;
    conn.pragma_update(None, "cache_size", -cache_kib)
        .expect("cache");
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let file = std::fs::File::open(db).expect("store file");
    let flusher = std::thread::spawn(move || {
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            stopped.recv_timeout(std::time::Duration::from_secs(1))
        {
            let _ = file.sync_data();
        }
    });
    let tx = conn.transaction().expect("tx");
    {
        let now = b"2026-11-25T12:00:00.000Z";
        let shared: [(usize, &[u8]); 3] = [(9, b"city.csv"), (11, now), (12, now)];
        let mut blocks = std::collections::BTreeSet::new();
        for (layer, places) in order {
            let mut many = None;
            let mut one = layer_insert(&tx, layer, 1, &shared);
            let mut status: Vec<Option<&str>> = vec![None; ROWS_PER_INSERT];
            let mut chunks = places.chunks_exact(ROWS_PER_INSERT);
            for chunk in &mut chunks {
                let st =
                    many.get_or_insert_with(|| layer_insert(&tx, layer, ROWS_PER_INSERT, &shared));
                for (slot, &k) in chunk.iter().enumerate() {
                    let (r, at) = (&rows[k], 12 * slot);
                    st.int(at + 1, k as i64 + 1);
                    st.int(at + 3, r.serial);
                    // SAFETY: `rows` outlives the statement and is not changed.
                    unsafe {
                        st.blob(at + 2, &r.blob);
                        st.text(at + 4, r.number.as_bytes());
                        if status[slot] != Some(r.status.as_str()) {
                            st.text(at + 6, r.status.as_bytes());
                            status[slot] = Some(r.status.as_str());
                        }
                        st.text(at + 8, r.attributes.as_bytes());
                        st.text(at + 10, r.source_id.as_bytes());
                    }
                    blocks.insert(r.serial / 1024);
                }
                st.run();
            }
            for &k in chunks.remainder() {
                let r = &rows[k];
                one.int(1, k as i64 + 1);
                one.int(3, r.serial);
                // SAFETY: as above.
                unsafe {
                    one.blob(2, &r.blob);
                    one.text(4, r.number.as_bytes());
                    one.text(6, r.status.as_bytes());
                    one.text(8, r.attributes.as_bytes());
                    one.text(10, r.source_id.as_bytes());
                }
                one.run();
                blocks.insert(r.serial / 1024);
            }
        }
        let mut st = tx
            .prepare("INSERT INTO citytwin_serials(block, given) VALUES (?1, zeroblob(128))")
            .expect("prepare");
        for block in blocks {
            st.execute([block]).expect("serials");
        }
    }
    tx.commit().expect("commit");
    drop(stop);
    flusher.join().expect("flusher");
}

/// The rows' places grouped by layer, in the order citytwin's tables are written.
fn by_layer(rows: &[SameRow]) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (k, r) in rows.iter().enumerate() {
        match out.iter_mut().find(|(l, _)| *l == r.layer) {
            Some((_, v)) => v.push(k),
            None => out.push((r.layer.clone(), vec![k])),
        }
    }
    out
}

/// `REGISTRY_FLOOR_CSV=city.csv REGISTRY_FLOOR_DB=out.gpkg`: the floor once on that city
/// (rows read into memory first, untimed), printing `floor_rows=N floor_s=SECONDS`.
fn floor_once(csv: &Path, db: &Path) {
    let rows = same_rows(csv);
    let order = by_layer(&rows);
    for ext in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let t = std::time::Instant::now();
    sqlite_floor_same_row(&rows, &order, db);
    println!(
        "floor_rows={} floor_s={:.3}",
        rows.len(),
        t.elapsed().as_secs_f64()
    );
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
    let rows = same_rows(&csv);
    let order = by_layer(&rows);
    g.bench_function("sqlite_floor_same_row", |b| {
        b.iter(|| {
            k += 1;
            sqlite_floor_same_row(&rows, &order, &dir.path().join(format!("s{k}.gpkg")));
        })
    });
    g.bench_function("sqlite_csv_peer", |b| {
        b.iter(|| {
            k += 1;
            sqlite_csv_peer(&csv, &dir.path().join(format!("f{k}.db")));
        })
    });
    g.finish();

    // Cold start: open a store of N objects into a serving twin, against a peer scanning and
    // decoding the same rows with bare SQLite (no index built, nothing kept).
    let store = dir.path().join("cold.gpkg");
    citytwin_import(&csv, &store);
    let floor_db = dir.path().join("cold.db");
    sqlite_csv_peer(&csv, &floor_db);
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
    g.bench_function("sqlite_scan_peer", |b| {
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

/// criterion's main, unless `REGISTRY_FLOOR_CSV` asks for the floor once (benches/registry-10m.sh).
fn main() {
    if let (Some(csv), Some(db)) = (
        std::env::var_os("REGISTRY_FLOOR_CSV"),
        std::env::var_os("REGISTRY_FLOOR_DB"),
    ) {
        floor_once(Path::new(&csv), Path::new(&db));
        return;
    }
    registry();
    Criterion::default().configure_from_args().final_summary();
}
