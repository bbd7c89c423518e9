//! The embedded store: an OGC GeoPackage 1.3 file on SQLite.
//!
//! One feature table per layer (readable by QGIS and GDAL), plus citytwin's own tables:
//! `citytwin_serials` (every serial ever given, a bit each: see [`super::serials`]),
//! `citytwin_retired_numbers` (who held a retired number, and when), `citytwin_history`
//! (every change: who, when, old → new) and `citytwin_settings`; and the `citytwin_numbers`
//! view: every number given, active (from the layer tables) and retired.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a committed transaction has been
//! fsynced before `commit` returns — it survives `kill -9` and power loss alike. Writes are rare
//! next to reads (the twin answers reads from memory), so the fsync per commit costs nothing
//! that matters. A bulk write (an import) into a store no one else has open uses SQLite's
//! rollback journal instead, with the same guarantees and half the writing (see
//! `GpkgStore::rollback_journal_if_alone`, which also syncs the folder after the commit).

use std::path::{Path, PathBuf};

use geozero::wkb::GpkgWkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};
use rusqlite::{Connection, OptionalExtension, params};

use super::chain;
use super::inplace::{self, InPlace};
use super::serials;
use super::{
    Batch, BatchHead, Change, HistoryEntry, LayerPlan, Part, Store, StoreError, format_ms, parse_ms,
};
use crate::access::Role;
use crate::access::tokens::{NewToken, TokenRecord};
use crate::model::{Attributes, Geometry, LayerDef, Layers, Object, ObjectId, Source, Status};
use crate::numbering::Number;

/// GeoPackage `application_id` ("GPKG") and `user_version` for version 1.3.0.
const APPLICATION_ID: i32 = 0x4750_4B47;
const USER_VERSION: i32 = 10300;
/// citytwin's own schema version, kept in `citytwin_settings`. 2: the numbers table became the
/// serial bitmap, the retired numbers table and the `citytwin_numbers` view.
const SCHEMA_VERSION: &str = "2";
/// Page cache during a bulk write unless configured (`bulk_cache_mib`), in MiB.
pub const DEFAULT_BULK_CACHE_MIB: u32 = 256;
/// Page cache for everyday use (negative: KiB), small because the twin answers reads.
const SMALL_CACHE_KIB: i64 = -16_384;
/// Memory map for the loader threads' read-only connections (an upper bound on address space,
/// not memory: pages stay in the OS page cache).
const LOAD_MMAP_BYTES: i64 = 1 << 40;
/// How long a write waits for another process's transaction before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Rows read from the start of a layer to estimate how many it holds. Small, because from a
/// cold disk these are scattered reads that come before any other work: 65,536 rows took
/// 0.6–0.7 s of a 10M store's cold start, 8,192 take 0.08 s, and estimate the synthetic city's
/// layers within 0.7% (65,536: 0.4%).
const PLAN_SAMPLE: i64 = 8_192;

/// The GeoPackage store.
pub struct GpkgStore {
    conn: Connection,
    path: PathBuf,
    layers: Layers,
    width: u8,
    next_id: ObjectId,
    /// Page cache during a bulk write, in MiB: keeps a big import from spilling half-written
    /// pages to the file and reading them back. An upper bound, released after the commit.
    bulk_cache_mib: u32,
    /// A bulk write left the rollback journal and could not switch back to WAL: the next
    /// commit tries again.
    wal_pending: bool,
}

impl GpkgStore {
    /// Opens the store at `path`, creating it (with `layers` and serial `width`) if absent.
    /// An existing store keeps its serial width; layers named in `layers` but missing from the
    /// file get their tables created.
    pub fn open(path: &Path, layers: &Layers, width: u8) -> Result<GpkgStore, StoreError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Invalid {
                path: shown.clone(),
                reason: format!("cannot create folder {}: {e}", dir.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| sql(&shown, e))?;
        let mut store = GpkgStore {
            conn,
            path: path.to_path_buf(),
            layers: layers.clone(),
            width,
            next_id: 1,
            bulk_cache_mib: DEFAULT_BULK_CACHE_MIB,
            wal_pending: false,
        };
        store.init()?;
        Ok(store)
    }

    /// Sets the page cache of bulk writes (see [`crate::config::Config::bulk_cache_mib`]).
    pub fn set_bulk_cache_mib(&mut self, mib: u32) {
        self.bulk_cache_mib = mib.max(1);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    fn init(&mut self) -> Result<(), StoreError> {
        let p = self.shown();
        let e = |err| sql(&p, err);
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(e)?;
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(e)?;
        self.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(e)?;
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(e)?;
        // Per-layer statements (a retired number, a number given later) are prepared once.
        self.conn.set_prepared_statement_cache_capacity(64);
        let app: i32 = self
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(e)?;
        let has_tables: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table'",
                [],
                |r| r.get(0),
            )
            .map_err(e)?;
        if has_tables > 0 && app != APPLICATION_ID {
            return Err(StoreError::Invalid {
                path: p,
                reason: "not a GeoPackage (application_id is not GPKG)".into(),
            });
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        tx.execute_batch(SCHEMA).map_err(|err| sql(&p, err))?;
        adopt_unchained_history(&tx).map_err(|err| sql(&p, err))?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|err| sql(&p, err))?;
        tx.pragma_update(None, "user_version", USER_VERSION)
            .map_err(|err| sql(&p, err))?;
        let get = |k: &str| read_setting(&tx, k).map_err(|err| sql(&p, err));
        match get("serial_width")? {
            Some(w) => {
                self.width = w.parse().map_err(|_| StoreError::Invalid {
                    path: p.clone(),
                    reason: format!("setting serial_width is {w:?}, not a number"),
                })?
            }
            None => {
                tx.execute(
                    "INSERT INTO citytwin_settings(key, value) VALUES ('serial_width', ?1), \
                     ('schema_version', ?2), ('next_id', '1')",
                    params![self.width.to_string(), SCHEMA_VERSION],
                )
                .map_err(|err| sql(&p, err))?;
            }
        }
        self.next_id = get("next_id")?.and_then(|v| v.parse().ok()).unwrap_or(1);
        for def in self.layers.defs() {
            create_layer_table(&tx, def).map_err(|err| sql(&p, err))?;
        }
        migrate_numbers(&tx, &self.layers).map_err(|err| sql(&p, err))?;
        ensure_numbers_view(&tx, &self.layers).map_err(|err| sql(&p, err))?;
        tx.commit().map_err(|err| sql(&p, err))?;
        Ok(())
    }
}

/// What reading a row needs; shared by the loader threads.
struct RowContext<'a> {
    layers: &'a Layers,
    width: u8,
    path: &'a str,
}

impl RowContext<'_> {
    fn row_to_object(
        &self,
        layer: u16,
        row: &rusqlite::Row<'_>,
        times: &mut TimeCache,
    ) -> Result<Object, StoreError> {
        let def = self.layers.def(layer);
        let fid: i64 = row.get(0).map_err(|e| sql(self.path, e))?;
        let bad = |reason: String| StoreError::BadRow {
            path: self.path.to_string(),
            layer: def.name.clone(),
            fid,
            reason,
        };
        // Borrow column values in place: loading millions of rows must not leave a trail of
        // short-lived allocations between the long-lived ones.
        let text = |i: usize| -> Result<Option<&str>, StoreError> {
            row.get_ref(i)
                .and_then(|v| v.as_str_or_null().map_err(Into::into))
                .map_err(|e| bad(format!("column {i}: {e}")))
        };
        let blob = row
            .get_ref(1)
            .and_then(|v| v.as_blob().map_err(Into::into))
            .map_err(|e| bad(e.to_string()))?;
        let geometry = decode_geometry(blob).map_err(bad)?;
        let serial: Option<i64> = row.get(2).map_err(|e| bad(e.to_string()))?;
        // The number as painted is read only when it is not a scheme serial.
        let number = match serial {
            Some(s) => Some(Number::scheme(s as u32, self.width)),
            None => match text(3)? {
                Some(t) if !t.is_empty() => Some(Number::Source(t.into())),
                _ => None,
            },
        };
        // Status words as citytwin writes them are matched as bytes; anything else is read
        // as text and parsed.
        let status_bytes = text_bytes(row, 4);
        let status = match Status::ALL
            .into_iter()
            .find(|s| s.as_str().as_bytes() == status_bytes)
        {
            Some(s) => s,
            None => {
                let t = text(4)?.unwrap_or("unknown");
                Status::parse(t).ok_or_else(|| bad(format!("unknown status {t:?}")))?
            }
        };
        // Parsed from the bytes: the JSON parser checks the text it keeps.
        let mut attributes = match text_bytes_strict(row, 6).map_err(bad)? {
            b"" | b"{}" => Attributes::new(),
            t => parse_attributes(t).map_err(bad)?,
        };
        attributes.shrink_to_fit();
        let source_file = times.intern(row, 7).map_err(bad)?;
        let source_id: compact_str::CompactString = text(8)?.unwrap_or("").into();
        let created = times.get(row, 9);
        Ok(Object {
            id: fid as ObjectId,
            layer,
            number,
            geometry,
            status,
            status_changed: times.get_or(row, 5, created),
            attributes,
            source: Source {
                file: source_file,
                id: source_id,
            },
            created,
            updated: times.get(row, 10),
        })
    }
}

/// Where a loader thread leaves the objects of one fid range.
type RangeSlot = std::sync::Mutex<Option<Result<Vec<Object>, StoreError>>>;

/// A descriptor of the file at `path` that stays open until the process ends (one per file):
/// closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's
/// included, so a file SQLite has open is never opened and closed beside it.
fn kept_file(path: &Path) -> std::io::Result<std::sync::Arc<std::fs::File>> {
    static KEPT: std::sync::Mutex<Vec<std::sync::Arc<std::fs::File>>> =
        std::sync::Mutex::new(Vec::new());
    #[cfg(unix)]
    fn same(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    fn same(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
        false
    }
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let now = std::fs::metadata(path)?;
    if let Some(f) = kept
        .iter()
        .find(|f| f.metadata().is_ok_and(|m| same(&m, &now)))
    {
        return Ok(f.clone());
    }
    let f = std::sync::Arc::new(std::fs::File::open(path)?);
    kept.push(f.clone());
    Ok(f)
}

/// Asks the kernel to read the file into the page cache in the background (`posix_fadvise`
/// WILLNEED): pages already cached cost nothing. Linux reads no more than the device's
/// read-ahead window for one call (8 MiB on the machines here), so this reads the file's start
/// (its schema and the tables' first pages); the loaders' own reads bring in the rest. Asking
/// for the whole file, 8 MiB at a time, put all of it in the page cache within a second, yet
/// made the cold start of the 10M store slower, not faster (alternating, page cache dropped:
/// 10.9–11.5 s, or 9.5–10.6 s when asked after the plan, against 9.4–10.1 s): filling the cache
/// costs the two busy cores more than the loaders' waits for the disk.
#[cfg(target_os = "linux")]
fn prefetch(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = kept_file(path)?;
    // SAFETY: a valid open descriptor (kept open); the call only advises the kernel.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

#[cfg(not(target_os = "linux"))]
fn prefetch(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Reads one fid range of one layer with its own read-only connection.
fn load_range(
    ctx: &RowContext<'_>,
    conn: &Connection,
    (layer, lo, hi): (u16, i64, i64),
    expect: usize,
) -> Result<Vec<Object>, StoreError> {
    let name = &ctx.layers.def(layer).name;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM \"{name}\" WHERE fid >= ?1 AND fid < ?2 ORDER BY fid"
        ))
        .map_err(|e| sql(ctx.path, e))?;
    let mut rows = stmt.query(params![lo, hi]).map_err(|e| sql(ctx.path, e))?;
    let mut times = TimeCache::default();
    let mut out = Vec::with_capacity(expect);
    while let Some(row) = rows.next().map_err(|e| sql(ctx.path, e))? {
        out.push(ctx.row_to_object(layer, row, &mut times)?);
    }
    Ok(out)
}

/// Repeated timestamps and file names (an import writes thousands of identical ones) are
/// parsed and allocated once.
#[derive(Default)]
struct TimeCache {
    last: Vec<(String, i64)>,
    files: Vec<std::sync::Arc<str>>,
}

/// A text column's bytes, not yet checked to be UTF-8 (NULL and non-text read as empty).
fn text_bytes<'r>(row: &'r rusqlite::Row<'_>, col: usize) -> &'r [u8] {
    text_bytes_strict(row, col).unwrap_or(b"")
}

/// A text column's bytes (NULL reads as empty); any other kind of value is an error, so that
/// a row written by another tool is reported rather than loaded without its data.
fn text_bytes_strict<'r>(row: &'r rusqlite::Row<'_>, col: usize) -> Result<&'r [u8], String> {
    match row.get_ref(col) {
        Ok(rusqlite::types::ValueRef::Text(t)) => Ok(t),
        Ok(rusqlite::types::ValueRef::Null) => Ok(b""),
        Ok(other) => Err(format!(
            "column {col}: expected text, found {:?}",
            other.data_type()
        )),
        Err(e) => Err(format!("column {col}: {e}")),
    }
}

impl TimeCache {
    /// A time column as milliseconds (0 when absent or unreadable). Only a text not seen
    /// lately is checked and parsed.
    fn get(&mut self, row: &rusqlite::Row<'_>, col: usize) -> i64 {
        let bytes = text_bytes(row, col);
        if let Some((_, ms)) = self.last.iter().find(|(t, _)| t.as_bytes() == bytes) {
            return *ms;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            return 0;
        };
        let ms = parse_ms(text).unwrap_or(0);
        if self.last.len() >= 8 {
            self.last.remove(0);
        }
        self.last.push((text.to_string(), ms));
        ms
    }

    /// As [`TimeCache::get`], with NULL meaning `otherwise` (the store leaves
    /// `status_changed` NULL while it equals the creation time).
    fn get_or(&mut self, row: &rusqlite::Row<'_>, col: usize, otherwise: i64) -> i64 {
        match row.get_ref(col) {
            Ok(rusqlite::types::ValueRef::Null) => otherwise,
            _ => self.get(row, col),
        }
    }

    /// A file name column, shared between the objects of one file.
    fn intern(
        &mut self,
        row: &rusqlite::Row<'_>,
        col: usize,
    ) -> Result<std::sync::Arc<str>, String> {
        let bytes = text_bytes_strict(row, col)?;
        if let Some(f) = self.files.iter().find(|f| f.as_bytes() == bytes) {
            return Ok(f.clone());
        }
        let name = std::str::from_utf8(bytes)
            .map_err(|e| format!("column {col}: source file name is not UTF-8: {e}"))?;
        let f: std::sync::Arc<str> = name.into();
        if self.files.len() < 64 {
            self.files.push(f.clone());
        }
        Ok(f)
    }
}

fn sql(path: &str, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_string(),
        source,
    }
}

/// The GeoPackage core tables and citytwin's own.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL PRIMARY KEY,
  organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL,
  description TEXT
);
INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES
 ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
 ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
 ('WGS 84 geodetic', 4326, 'EPSG', 4326,
  'GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\",EAST],AUTHORITY[\"EPSG\",\"4326\"]]',
  'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY,
  data_type TEXT NOT NULL,
  identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
  srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id)
);
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL,
  column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL,
  z TINYINT NOT NULL,
  m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id)
);
CREATE TABLE IF NOT EXISTS citytwin_settings (
  key TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS citytwin_serials (
  block INTEGER NOT NULL PRIMARY KEY,
  given BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS citytwin_retired_numbers (
  serial INTEGER NOT NULL PRIMARY KEY,
  layer TEXT NOT NULL,
  object_id INTEGER NOT NULL,
  assigned DATETIME NOT NULL,
  retired DATETIME NOT NULL
);
CREATE TABLE IF NOT EXISTS citytwin_history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at DATETIME NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  layer TEXT,
  object_id INTEGER,
  number TEXT,
  old TEXT,
  new TEXT,
  prev_hash TEXT,
  hash TEXT
);
CREATE INDEX IF NOT EXISTS citytwin_history_object ON citytwin_history(object_id);
CREATE INDEX IF NOT EXISTS citytwin_history_number ON citytwin_history(number);
CREATE TABLE IF NOT EXISTS citytwin_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  hash TEXT NOT NULL,
  created DATETIME NOT NULL,
  expires DATETIME,
  revoked DATETIME
);
";

/// Brings a store written before schema version 2 up to it: every layer table gains
/// `number_assigned`, and the numbers table (a row per serial ever given) becomes the serial
/// bitmap and the retired numbers table. Nothing is lost: the view shows the same rows, except
/// that a number whose holder is gone from the layer tables is now listed as retired.
fn migrate_numbers(tx: &rusqlite::Transaction<'_>, layers: &Layers) -> rusqlite::Result<()> {
    for def in layers.defs() {
        let has: bool = tx.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = 'number_assigned'",
            [&def.name],
            |r| r.get(0),
        )?;
        if !has {
            tx.execute_batch(&format!(
                "ALTER TABLE \"{}\" ADD COLUMN number_assigned DATETIME",
                def.name
            ))?;
        }
    }
    let old_table: bool = tx.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'citytwin_numbers' AND type = 'table'",
        [],
        |r| r.get(0),
    )?;
    if !old_table {
        return Ok(());
    }
    let retired = tx.execute(
        "INSERT OR REPLACE INTO citytwin_retired_numbers(serial, layer, object_id, assigned, retired) \
         SELECT serial, layer, object_id, assigned, retired FROM citytwin_numbers \
         WHERE retired IS NOT NULL",
        [],
    )?;
    for def in layers.defs() {
        tx.execute_batch(&format!(
            "UPDATE \"{n}\" SET number_assigned = (SELECT k.assigned FROM citytwin_numbers AS k \
             WHERE k.serial = \"{n}\".serial AND k.object_id = \"{n}\".fid) \
             WHERE serial IS NOT NULL AND number_assigned IS NULL",
            n = def.name
        ))?;
    }
    // An active row whose object is gone from its layer table (deleted by another tool, or a
    // layer no longer configured) is kept as retired from now: its number is never given again
    // and still listed.
    let mut held_nowhere = String::from(
        "INSERT OR IGNORE INTO citytwin_retired_numbers(serial, layer, object_id, assigned, retired) \
         SELECT serial, layer, object_id, assigned, ?1 FROM citytwin_numbers AS k WHERE retired IS NULL",
    );
    for def in layers.defs() {
        held_nowhere += &format!(
            " AND NOT EXISTS (SELECT 1 FROM \"{n}\" WHERE fid = k.object_id AND serial = k.serial)",
            n = def.name
        );
    }
    let held_nowhere = tx.execute(&held_nowhere, [format_ms(crate::model::now_ms())])?;
    let all = {
        let mut st = tx.prepare("SELECT serial FROM citytwin_numbers ORDER BY serial")?;
        st.query_map([], |r| r.get::<_, u32>(0))?
            .collect::<rusqlite::Result<Vec<u32>>>()?
    };
    serials::give(tx, all.iter().copied())?;
    tx.execute_batch("DROP TABLE citytwin_numbers")?;
    tx.execute(
        "UPDATE citytwin_settings SET value = ?1 WHERE key = 'schema_version'",
        [SCHEMA_VERSION],
    )?;
    tracing::info!(
        serials = all.len(),
        retired,
        held_nowhere,
        "numbers table moved to the serial bitmap and the retired numbers table"
    );
    Ok(())
}

/// The `citytwin_numbers` view's definition: every number given, active ones from the layer
/// tables (given when the object was created unless `number_assigned` says otherwise) and
/// retired ones from `citytwin_retired_numbers`.
fn numbers_view(layers: &Layers) -> String {
    let mut sql = String::from(
        "CREATE VIEW citytwin_numbers(serial, layer, object_id, assigned, retired) AS\n",
    );
    for def in layers.defs() {
        // Layer names are [a-z0-9_] (`Layers::new`).
        sql += &format!(
            "SELECT serial, '{n}', fid, coalesce(number_assigned, created), NULL FROM \"{n}\" \
             WHERE serial IS NOT NULL\nUNION ALL\n",
            n = def.name
        );
    }
    sql += "SELECT serial, layer, object_id, assigned, retired FROM citytwin_retired_numbers";
    sql
}

/// Makes the `citytwin_numbers` view again when the layers changed.
fn ensure_numbers_view(tx: &rusqlite::Transaction<'_>, layers: &Layers) -> rusqlite::Result<()> {
    let want = numbers_view(layers);
    let have: Option<String> = tx
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'citytwin_numbers' AND type = 'view'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if have.as_deref() != Some(want.as_str()) {
        tx.execute_batch("DROP VIEW IF EXISTS citytwin_numbers")?;
        tx.execute_batch(&want)?;
    }
    Ok(())
}

/// The tokens table's columns as [`token_row`] reads them.
const TOKEN_SELECT: &str =
    "SELECT id, name, role, hash, created, expires, revoked FROM citytwin_tokens";

const COLUMNS: &str = "fid, geom, serial, number, status, status_changed, attributes, source_file, source_id, created, updated";

fn create_layer_table(tx: &rusqlite::Transaction<'_>, def: &LayerDef) -> rusqlite::Result<()> {
    let exists: i64 = tx.query_row(
        "SELECT count(*) FROM gpkg_contents WHERE table_name = ?1",
        [&def.name],
        |r| r.get(0),
    )?;
    if exists > 0 {
        return Ok(());
    }
    // Layer names are validated as [a-z0-9_] in `Layers::new`, so quoting is enough.
    tx.execute_batch(&format!(
        "CREATE TABLE \"{name}\" (
           fid INTEGER PRIMARY KEY,
           geom {gtype} NOT NULL,
           serial INTEGER,
           number TEXT,
           check_digit BOOLEAN NOT NULL DEFAULT 0,
           status TEXT NOT NULL DEFAULT 'unknown',
           status_changed DATETIME, -- NULL while the status is as created
           attributes TEXT,
           source_file TEXT,
           source_id TEXT,
           created DATETIME NOT NULL,
           updated DATETIME NOT NULL,
           number_assigned DATETIME -- NULL: the number was given when the object was created
         );",
        name = def.name,
        gtype = def.geometry.ogc_name(),
    ))?;
    tx.execute(
        "INSERT INTO gpkg_contents(table_name, data_type, identifier, description, srs_id) \
         VALUES (?1, 'features', ?1, ?2, 4326)",
        params![def.name, format!("{} / {}", def.title_en, def.title_uk)],
    )?;
    tx.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?1, 'geom', ?2, 4326, 0, 0)",
        params![def.name, def.geometry.ogc_name()],
    )?;
    Ok(())
}

/// Encodes a geometry as a GeoPackage geometry blob (with envelope for lines).
pub fn encode_geometry(g: &Geometry) -> Result<Vec<u8>, String> {
    let mut b = Vec::with_capacity(29);
    encode_geometry_into(g, &mut b)?;
    Ok(b)
}

/// As [`encode_geometry`], appending to `out`.
fn encode_geometry_into(g: &Geometry, out: &mut Vec<u8>) -> Result<(), String> {
    if let Geometry::Point([x, y]) = g {
        // Hot path of bulk imports: the 29-byte blob written directly (GeoPackage header
        // "GP", version 0, flags = little-endian without envelope, srs_id; then WKB Point).
        out.extend_from_slice(&[0x47, 0x50, 0x00, 0x01]);
        out.extend_from_slice(&4326i32.to_le_bytes());
        out.push(0x01);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&y.to_le_bytes());
        return Ok(());
    }
    let geo: geo_types::Geometry<f64> = match g {
        Geometry::Point([x, y]) => geo_types::Point::new(*x, *y).into(),
        Geometry::Line(pts) => {
            geo_types::LineString::from(pts.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>()).into()
        }
    };
    let envelope = match g {
        Geometry::Point(_) => Vec::new(),
        Geometry::Line(_) => {
            let b = g.bbox();
            vec![b[0], b[2], b[1], b[3]]
        }
    };
    let blob = geo
        .to_gpkg_wkb(CoordDimensions::xy(), Some(4326), envelope)
        .map_err(|e| e.to_string())?;
    out.extend_from_slice(&blob);
    Ok(())
}

/// Decodes a GeoPackage geometry blob into a point or line.
pub fn decode_geometry(blob: &[u8]) -> Result<Geometry, String> {
    // Hot path of loading: a little-endian point without envelope, as citytwin writes it.
    if blob.len() == 29
        && blob[..4] == [0x47, 0x50, 0x00, 0x01]
        && blob[8] == 0x01
        && blob[9..13] == 1u32.to_le_bytes()
    {
        let f = |i: usize| f64::from_le_bytes(blob[i..i + 8].try_into().unwrap_or([0; 8]));
        return Ok(Geometry::Point([f(13), f(21)]));
    }
    let geo = GpkgWkb(blob.to_vec())
        .to_geo()
        .map_err(|e| format!("bad geometry blob: {e}"))?;
    match geo {
        geo_types::Geometry::Point(p) => Ok(Geometry::Point([p.x(), p.y()])),
        geo_types::Geometry::LineString(l) => {
            Ok(Geometry::Line(l.coords().map(|c| [c.x, c.y]).collect()))
        }
        other => Err(format!("unexpected geometry type {other:?}")),
    }
}

/// Attributes as a JSON object text (non-finite numbers become null).
pub fn attributes_json(a: &Attributes) -> String {
    let mut buf = Vec::new();
    write_attributes_json(a, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

/// Appends attributes as a JSON object text to `out` (non-finite numbers become null).
fn write_attributes_json(a: &Attributes, out: &mut Vec<u8>) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, a).is_err() {
        out.truncate(start);
        let map: serde_json::Map<String, serde_json::Value> = a
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect();
        out.extend_from_slice(serde_json::Value::Object(map).to_string().as_bytes());
    }
}

fn parse_attributes(t: &[u8]) -> Result<Attributes, String> {
    serde_json::from_slice(t).map_err(|e| format!("attributes are not a JSON object: {e}"))
}

/// An object's state as JSON, for the history.
pub fn object_json(o: &Object, layers: &Layers, width: u8) -> serde_json::Value {
    let def = layers.def(o.layer);
    serde_json::json!({
        "id": o.id,
        "layer": def.name,
        "number": o.number.as_ref().map(|n| n.display(def, width)),
        "geometry": o.geometry.to_geojson(),
        "status": o.status.as_str(),
        "status_changed": format_ms(o.status_changed),
        "attributes": serde_json::from_str::<serde_json::Value>(&attributes_json(&o.attributes)).unwrap_or_default(),
        "source": {"file": &*o.source.file, "id": &*o.source.id},
    })
}

impl Store for GpkgStore {
    fn layers(&self) -> &Layers {
        &self.layers
    }

    fn serial_width(&self) -> u8 {
        self.width
    }

    fn plan(&mut self) -> Result<Vec<LayerPlan>, StoreError> {
        let p = self.shown();
        // Every page is about to be read: from a cold disk, in one pass in file order rather
        // than layer by layer where each layer's rows lie (an import interleaves them).
        let path = self.path.clone();
        let _ = std::thread::Builder::new()
            .name("store-prefetch".into())
            .spawn(move || {
                if let Err(e) = prefetch(&path) {
                    tracing::debug!(store = %path.display(), error = %e, "no prefetch");
                }
            });
        let mut plan = Vec::new();
        for layer in self.layers.ids() {
            let name = &self.layers.def(layer).name;
            let q = |query: &str| -> Result<(Option<i64>, i64), StoreError> {
                self.conn
                    .query_row(&query.replace("{t}", &format!("\"{name}\"")), [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(|e| sql(&p, e))
            };
            // Separate min and max queries: each is one B-tree descent, where counting every
            // row of a 10M-row table would take a second. The count is estimated from how
            // densely the first rows sit among the fids (exact for small layers).
            let (Some(min), _) = q("SELECT min(fid), 0 FROM {t}")? else {
                plan.push(LayerPlan {
                    layer,
                    min_id: 0,
                    count: 0,
                    max_id: 0,
                });
                continue;
            };
            let (max, _) = q("SELECT max(fid), 0 FROM {t}")?;
            let max = max.unwrap_or(min);
            let (sample_end, sampled) = q(&format!(
                "SELECT max(fid), count(*) FROM (SELECT fid FROM {{t}} ORDER BY fid LIMIT {PLAN_SAMPLE})"
            ))?;
            let count = if sampled < PLAN_SAMPLE {
                sampled
            } else {
                let sampled_span = (sample_end.unwrap_or(max) - min + 1).max(1) as f64;
                ((max - min + 1) as f64 * sampled as f64 / sampled_span).round() as i64
            };
            plan.push(LayerPlan {
                layer,
                min_id: min.max(0) as ObjectId,
                count: count.max(1) as usize,
                max_id: max.max(0) as ObjectId,
            });
        }
        Ok(plan)
    }

    fn load_layer(&mut self, plan: &LayerPlan) -> Result<Vec<Vec<Object>>, StoreError> {
        // Cold start reads every row: split the layer into fid ranges and read them on all
        // cores, each thread with its own read-only connection (WAL lets readers run side by
        // side), then hand the objects over in id order, one chunk per range.
        let p = self.shown();
        if plan.count == 0 {
            return Ok(Vec::new());
        }
        let (layer, count) = (plan.layer, plan.count as i64);
        let (min, max) = (plan.min_id as i64, plan.max_id as i64);
        let mut work: Vec<(i64, i64)> = Vec::new();
        // Ranges of at most ~100k rows, so that even a small layer keeps every core busy.
        let chunks = (count + 99_999) / 100_000;
        let span = max - min + 1;
        let step = (span + chunks - 1) / chunks;
        // Rows expected in one range (fids of a layer are spread evenly by imports), with a
        // margin: growing a vector of millions of objects would copy it again and again, while
        // capacity never written to is never resident.
        let expect = (step as f64 * count as f64 / span as f64 * 1.15) as usize + 64;
        let mut lo = min;
        while lo <= max {
            work.push((lo, lo + step));
            lo += step;
        }
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8)
            .min(work.len().max(1));
        let ctx = RowContext {
            layers: &self.layers,
            width: self.width,
            path: &p,
        };
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<RangeSlot> = work.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let path = self.path.clone();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let conn = Connection::open_with_flags(
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )
                    .inspect(|c| {
                        // Read pages through a memory map instead of copying each one out of
                        // the page cache (a plain speed-up: a failure leaves reads as they were).
                        let _ = c.pragma_update(None, "mmap_size", LOAD_MMAP_BYTES);
                    });
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(&(lo, hi)) = work.get(i) else {
                            break;
                        };
                        let r = match &conn {
                            Ok(c) => load_range(&ctx, c, (layer, lo, hi), expect),
                            Err(e) => Err(StoreError::Invalid {
                                path: ctx.path.to_string(),
                                reason: format!("cannot open for reading: {e}"),
                            }),
                        };
                        if let Ok(mut slot) = results[i].lock() {
                            *slot = Some(r);
                        }
                    }
                });
            }
        });
        let mut parts = Vec::with_capacity(results.len());
        for slot in results {
            let r = slot
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| {
                    Err(StoreError::Invalid {
                        path: p.clone(),
                        reason: "a loader thread stopped early".into(),
                    })
                })?;
            parts.push(r);
        }
        Ok(parts)
    }

    fn serials(&mut self) -> Result<fixedbitset::FixedBitSet, StoreError> {
        let p = self.shown();
        serials::read(&self.conn, self.width).map_err(|e| sql(&p, e))
    }

    fn reserve_ids(&mut self, n: u64) -> Result<ObjectId, StoreError> {
        let p = self.shown();
        // One statement, so that another process reserving at the same time gets other ids.
        // `query_one` steps the statement to its end, so a failed commit is reported.
        let first: i64 = self
            .conn
            .query_one(
                "UPDATE citytwin_settings \
                 SET value = CAST(max(CAST(value AS INTEGER), ?1) + ?2 AS TEXT) \
                 WHERE key = 'next_id' RETURNING CAST(value AS INTEGER) - ?2",
                params![self.next_id as i64, n as i64],
                |r| r.get(0),
            )
            .map_err(|e| sql(&p, e))?;
        let first = first as ObjectId;
        self.next_id = first + n;
        Ok(first)
    }

    fn commit(&mut self, batch: &Batch) -> Result<u64, StoreError> {
        let head = BatchHead {
            actor: batch.actor.clone(),
            action: batch.action.clone(),
            history_per_create: batch.history_per_create,
            bulk: batch.changes.len() > 10_000,
        };
        self.in_batch(&head, |w, _| {
            w.write(&batch.changes)?;
            Ok((batch.summary.clone(), None))
        })
    }

    fn commit_parts(
        &mut self,
        head: &BatchHead,
        parts: std::sync::mpsc::Receiver<Part>,
        first_id: &mut dyn FnMut(ObjectId),
        written: &mut dyn FnMut(Vec<Change>),
    ) -> Result<u64, StoreError> {
        let path = self.shown();
        let (layers, width) = (self.layers.clone(), self.width);
        self.in_batch(head, |w, free| {
            first_id(free);
            // Writing rows is the import's bottleneck: their values are encoded on a thread
            // of their own, a part ahead.
            std::thread::scope(|scope| {
                let (enc_tx, enc_rx) = std::sync::mpsc::sync_channel(1);
                let (layers, path_ref) = (&layers, &path);
                scope.spawn(move || {
                    while let Ok(part) = parts.recv() {
                        // Nothing is read after the last part.
                        let last = matches!(part, Part::Finish { .. });
                        let part = match part {
                            Part::Changes(c) => {
                                let e = Encoded::of(&c, layers, width, path_ref);
                                Encoding::Changes(c, e)
                            }
                            Part::Serials(reply) => Encoding::Serials(reply),
                            Part::Finish { summary, next_id } => Encoding::Finish(summary, next_id),
                        };
                        if enc_tx.send(part).is_err() || last {
                            return;
                        }
                    }
                });
                // Time spent waiting for parts: near zero when the writer is the bottleneck.
                let mut waited = std::time::Duration::ZERO;
                loop {
                    let asked = std::time::Instant::now();
                    let next = enc_rx.recv();
                    waited += asked.elapsed();
                    match next {
                        Ok(Encoding::Changes(changes, encoded)) => {
                            w.write_encoded(&changes, &encoded?)?;
                            written(changes);
                        }
                        Ok(Encoding::Serials(reply)) => {
                            // The asker may have given up; then the next recv ends the batch.
                            let _ =
                                reply.send(serials::read(w.tx, w.width).map_err(|e| sql(&path, e)));
                        }
                        Ok(Encoding::Finish(summary, next_id)) => {
                            tracing::debug!(
                                waited_ms = waited.as_millis() as u64,
                                "all parts written"
                            );
                            return Ok((summary, Some(next_id)));
                        }
                        Err(_) => return Err(StoreError::Abandoned { path: path.clone() }),
                    }
                }
            })
        })
    }

    fn last_seq(&mut self) -> Result<u64, StoreError> {
        let p = self.shown();
        last_seq(&self.conn).map_err(|err| sql(&p, err))
    }

    fn history(
        &mut self,
        object: Option<ObjectId>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let p = self.shown();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, at, actor, action, layer, object_id, number, old, new, hash FROM citytwin_history \
                 WHERE ?1 IS NULL OR object_id = ?1 ORDER BY seq DESC LIMIT ?2",
            )
            .map_err(|e| sql(&p, e))?;
        let rows = stmt
            .query_map(params![object.map(|o| o as i64), limit as i64], |r| {
                let json = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
                Ok(HistoryEntry {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    layer: r.get(4)?,
                    object_id: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
                    number: r.get(6)?,
                    old: json(r.get(7)?),
                    new: json(r.get(8)?),
                    hash: r.get(9)?,
                })
            })
            .map_err(|e| sql(&p, e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| sql(&p, e))
    }

    fn object_of_number(&mut self, number: &str) -> Result<Option<(ObjectId, String)>, StoreError> {
        let p = self.shown();
        self.conn
            .query_row(
                "SELECT object_id, layer FROM citytwin_history \
                 WHERE number = ?1 AND object_id IS NOT NULL AND layer IS NOT NULL \
                 ORDER BY seq DESC LIMIT 1",
                [number],
                |r| Ok((r.get::<_, i64>(0)? as ObjectId, r.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(|e| sql(&p, e))
    }

    fn verify_history(&mut self) -> Result<chain::Verdict, StoreError> {
        let p = self.shown();
        let e = |err| sql(&p, err);
        let tx = self.conn.transaction().map_err(e)?;
        let entries = read_chain(&tx).map_err(e)?;
        let head = read_setting(&tx, "audit_head").map_err(e)?;
        let head = head.and_then(|h| {
            let (s, h) = h.split_once(' ')?;
            Some((s.parse().ok()?, h.to_string()))
        });
        Ok(chain::verify(entries, head))
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        let p = self.shown();
        let e = |err| sql(&p, err);
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{TOKEN_SELECT} ORDER BY id"))
            .map_err(e)?;
        let rows = stmt.query_map([], token_row).map_err(e)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(e)
    }

    fn add_token(&mut self, t: &NewToken, actor: &str) -> Result<i64, StoreError> {
        self.token_change(actor, "token_create", |tx, now| {
            let expires = t.expires.map(format_ms);
            tx.execute(
                "INSERT INTO citytwin_tokens(name, role, hash, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.name, t.role.as_str(), t.hash, now, expires],
            )?;
            let id = tx.last_insert_rowid();
            let new = serde_json::json!({"token": id, "name": t.name, "role": t.role, "expires": expires});
            Ok((id, Some(new.to_string())))
        })
    }

    fn revoke_token(&mut self, id: i64, actor: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.token_change(actor, "token_revoke", |tx, now| {
            let n = tx.execute(
                "UPDATE citytwin_tokens SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
                params![id, now],
            )?;
            let t = tx
                .query_row(&format!("{TOKEN_SELECT} WHERE id = ?1"), [id], token_row)
                .optional()?;
            // Only a revocation that happened is recorded.
            let new = t.as_ref().filter(|_| n == 1).map(|t| {
                serde_json::json!({"token": t.id, "name": t.name, "role": t.role}).to_string()
            });
            Ok((t, new))
        })
    }

    fn setting(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        let p = self.shown();
        read_setting(&self.conn, key).map_err(|e| sql(&p, e))
    }

    fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        let p = self.shown();
        write_setting(&self.conn, key, value).map_err(|e| sql(&p, e))
    }
}

impl GpkgStore {
    /// A change to the tokens table: `f` runs in an immediate transaction with the time of
    /// the change, and when it returns a history text, an entry `action` by `actor` with it
    /// is appended before the commit.
    fn token_change<T>(
        &mut self,
        actor: &str,
        action: &str,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &str) -> rusqlite::Result<(T, Option<String>)>,
    ) -> Result<T, StoreError> {
        let p = self.shown();
        let e = |err| sql(&p, err);
        let now = format_ms(crate::model::now_ms());
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let (out, new) = f(&tx, &now).map_err(e)?;
        if new.is_some() {
            Appender::record(
                &tx,
                chain::Entry {
                    at: now.clone(),
                    actor: actor.to_string(),
                    action: action.into(),
                    new,
                    ..Default::default()
                },
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(out)
    }

    /// For a bulk write when no other connection has the store open: leaves WAL for SQLite's
    /// rollback journal until [`GpkgStore::back_to_wal`]. In WAL mode every page of a big
    /// import is written twice (to the WAL, then by the checkpoint into the file); with the
    /// rollback journal, pages added at the end of the file are written once and need no
    /// journal entry. Measured on 10M points: twice the write throughput. The commit stays
    /// atomic and durable: the journal is synced before the file is written, and with
    /// `synchronous=EXTRA` (set here for the rollback journal only) the folder is synced after
    /// the journal is deleted, so a power cut cannot bring the journal back and undo a commit.
    /// Leaving WAL needs an exclusive lock, so when a server or another command has the store
    /// open this answers false (SQLite refuses at once) and the write stays in WAL. A process
    /// that opens the store during such a write waits for it (up to the busy timeout).
    fn rollback_journal_if_alone(&mut self) -> bool {
        let _ = self.conn.busy_timeout(std::time::Duration::ZERO);
        let mode = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get::<_, String>(0));
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
        match mode {
            Ok(m) if m.eq_ignore_ascii_case("delete") => {
                if let Err(err) = self.conn.pragma_update(None, "synchronous", "EXTRA") {
                    // Without the folder sync the write is not as durable as in WAL: stay there.
                    tracing::warn!(store = %self.shown(), %err, "cannot set synchronous=EXTRA; bulk write stays in WAL");
                    self.back_to_wal();
                    return false;
                }
                tracing::debug!(store = %self.shown(), "bulk write with the rollback journal");
                true
            }
            Ok(m) => {
                tracing::debug!(store = %self.shown(), mode = %m, "bulk write stays in WAL");
                false
            }
            Err(err) => {
                tracing::debug!(store = %self.shown(), %err, "store is shared: bulk write stays in WAL");
                false
            }
        }
    }

    /// Returns to WAL (and `synchronous=FULL`) after a bulk write. Should that fail (another
    /// process opened the store in between and holds it), the store is still consistent, and
    /// the next commit, like every open, tries again.
    fn back_to_wal(&mut self) {
        let mode = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0));
        self.wal_pending = !matches!(&mode, Ok(m) if m.eq_ignore_ascii_case("wal"));
        if self.wal_pending {
            tracing::warn!(store = %self.shown(), ?mode, "could not switch the store back to WAL; the next commit will try again");
        } else if let Err(err) = self.conn.pragma_update(None, "synchronous", "FULL") {
            tracing::warn!(store = %self.shown(), %err, "could not set synchronous=FULL again");
        }
    }

    /// Runs one batch in one transaction: prepares the store for a bulk write if the head asks
    /// for it, opens the transaction and hands `fill` a [`BatchWriter`] and the first free
    /// object id. `fill` writes the changes and returns the batch's summary and, if it gave out
    /// ids itself, the first one it left unused. Commits only when `fill` succeeds.
    fn in_batch(
        &mut self,
        head: &BatchHead,
        fill: impl FnOnce(
            &mut BatchWriter<'_>,
            ObjectId,
        ) -> Result<(serde_json::Value, Option<ObjectId>), StoreError>,
    ) -> Result<u64, StoreError> {
        let p = self.shown();
        if self.wal_pending {
            self.back_to_wal();
        }
        let mut alone = false;
        if head.bulk {
            self.conn
                .pragma_update(None, "cache_size", -i64::from(self.bulk_cache_mib) * 1024)
                .map_err(|e| sql(&p, e))?;
            alone = self.rollback_journal_if_alone();
            // Until `back_to_wal` below has run: should the batch panic, the next commit
            // returns the store to WAL.
            self.wal_pending |= alone;
        }
        let result = if head.bulk {
            // A bulk write leaves gigabytes dirty in the OS page cache, which the kernel writes
            // back only past its threshold; the commit's fsync would then wait for all of it.
            // A helper flushes the file every second instead, while the disk is otherwise
            // idle. This changes nothing for safety: the pages were handed to the OS already,
            // which may write them at any time, and until the commit a crash rolls them back.
            let path = self.path.clone();
            std::thread::scope(|scope| {
                let (stop, stopped) = std::sync::mpsc::channel::<()>();
                scope.spawn(move || flush_until(&path, &stopped));
                // Dropped also when the batch panics: the scope waits for the helper before it
                // passes the panic on.
                let _stop = stop;
                self.batch_tx(head, p, fill)
            })
        } else {
            self.batch_tx(head, p, fill)
        };
        if head.bulk {
            if alone {
                self.back_to_wal();
            }
            let _ = self.conn.pragma_update(None, "cache_size", SMALL_CACHE_KIB);
            let _ = self.conn.execute_batch("PRAGMA shrink_memory");
        }
        result
    }

    /// The transaction of [`GpkgStore::in_batch`].
    fn batch_tx<F>(&mut self, head: &BatchHead, p: String, fill: F) -> Result<u64, StoreError>
    where
        F: FnOnce(
            &mut BatchWriter<'_>,
            ObjectId,
        ) -> Result<(serde_json::Value, Option<ObjectId>), StoreError>,
    {
        let e = |err| sql(&p, err);
        // Immediate: the history's head and the next free id are read before the first write,
        // and another process (a `citytwin token` command, another import) may write between
        // them otherwise.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let stored: ObjectId = read_setting(&tx, "next_id")
            .map_err(e)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let free = stored.max(self.next_id);
        let started = std::time::Instant::now();
        let mut w = BatchWriter::open(&tx, &self.layers, self.width, head, p.clone())?;
        let (summary, used_to) = fill(&mut w, free)?;
        let filled = started.elapsed();
        let next_id = used_to.unwrap_or(self.next_id).max(free);
        let seq = w.finish(summary)?;
        tx.execute(
            "UPDATE citytwin_settings SET value = ?1 WHERE key = 'next_id' AND CAST(value AS INTEGER) < ?1",
            [next_id as i64],
        )
        .map_err(e)?;
        let finished = started.elapsed();
        tx.commit().map_err(e)?;
        self.next_id = next_id;
        tracing::debug!(
            rows_ms = filled.as_millis() as u64,
            numbers_ms = (finished - filled).as_millis() as u64,
            commit_ms = (started.elapsed() - finished).as_millis() as u64,
            "batch written"
        );
        Ok(seq)
    }
}

/// Recent times as shared texts: a bulk import writes the same few times millions of times,
/// and each row binds three of them.
#[derive(Default)]
struct TimeTexts(Vec<(i64, std::rc::Rc<str>)>);

impl TimeTexts {
    fn get(&mut self, ms: i64) -> std::rc::Rc<str> {
        if let Some((_, s)) = self.0.iter().find(|(m, _)| *m == ms) {
            return s.clone();
        }
        let s: std::rc::Rc<str> = format_ms(ms).into();
        if self.0.len() > 8 {
            self.0.remove(0);
        }
        self.0.push((ms, s.clone()));
        s
    }
}

/// The error for an object's row that the store refuses.
fn refused<'a>(
    layers: &'a Layers,
    path: &'a str,
) -> impl Fn(&Object, rusqlite::Error) -> StoreError + 'a {
    move |o, err| StoreError::BadRow {
        path: path.to_string(),
        layer: layers.def(o.layer).name.clone(),
        fid: o.id as i64,
        reason: err.to_string(),
    }
}

/// The `VALUES` list of a multi-row insert: `rows` rows of `cols` parameters numbered in
/// order (`(?1, ?2), (?3, ?4)`).
fn values_of_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=cols).map(|c| format!("?{}", cols * r + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows a layer's multi-row insert writes per statement: a statement's own cost (cursor, reset,
/// the B-tree descent to the end of the table) is then paid once per 64 created objects.
const ROWS_PER_INSERT: usize = 64;

/// One layer's row inserts (or replaces). Objects created by the batch wait in `pending` and go
/// in 64 rows per statement; everything else one row per statement.
struct RowInsert<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    table: String,
    one: Rows<'t>,
    /// Prepared at the first run of 64 created objects.
    many: Option<Rows<'t>>,
    /// Created objects not written yet: their places in the part being written.
    pending: Vec<usize>,
}

/// An insert statement of `slots.len()` rows of 12 columns, its texts and blobs read in place
/// (see [`inplace`]). The columns that most rows of a batch share (status, times, source file)
/// are bound again only when they change: a statement keeps its bindings from one row to the
/// next. A row's own values are bound for every run.
struct Rows<'t> {
    st: InPlace<'t>,
    slots: Vec<Shared>,
}

/// What one row of a statement holds bound of the columns rows share, keeping the bound texts
/// alive while they are bound.
#[derive(Default)]
struct Shared {
    check_digit: Option<bool>,
    status: Option<Status>,
    /// None while the status is as created.
    status_changed: Option<Option<(i64, std::rc::Rc<str>)>>,
    source_file: Option<std::sync::Arc<str>>,
    created: Option<(i64, std::rc::Rc<str>)>,
    updated: Option<(i64, std::rc::Rc<str>)>,
}

impl<'t> Rows<'t> {
    fn prepare(
        tx: &'t rusqlite::Transaction<'t>,
        table: &str,
        rows: usize,
    ) -> rusqlite::Result<Rows<'t>> {
        let values = values_of_rows(rows, 12);
        let st = InPlace::prepare(
            tx,
            &format!(
                "INSERT OR REPLACE INTO \"{table}\" (fid, geom, serial, number, check_digit, \
                 status, status_changed, attributes, source_file, source_id, created, updated) \
                 VALUES {values}"
            ),
        )?;
        Ok(Rows {
            st,
            slots: (0..rows).map(|_| Shared::default()).collect(),
        })
    }

    /// Binds the row of `o` (values encoded as `row`) as the statement's row `slot`.
    fn bind(
        &mut self,
        slot: usize,
        o: &Object,
        row: (&[u8], &str, &str),
        times: &mut TimeTexts,
    ) -> rusqlite::Result<()> {
        use inplace::Value::{Blob, Int, Null, Text};
        fn text(t: Option<&str>) -> inplace::Value<'_> {
            t.map_or(Null, Text)
        }
        let (blob, attrs, number) = row;
        let (st, kept, at) = (&mut self.st, &mut self.slots[slot], 12 * slot);
        let serial = match &o.number {
            Some(Number::Scheme { serial, .. }) => Int(i64::from(*serial)),
            _ => Null,
        };
        // SAFETY: the row's own values (`o`, `row`) outlive the run that follows their binding
        // (`RowInsert::write` and `flush` bind and run within one call, and every run binds
        // every row's own values first). The shared values are kept in `kept` while bound.
        unsafe {
            st.bind(at + 1, Int(o.id as i64))?;
            st.bind(at + 2, Blob(blob))?;
            st.bind(at + 3, serial)?;
            st.bind(at + 4, text(o.number.as_ref().map(|_| number)))?;
            let check_digit = o.number.as_ref().is_some_and(Number::has_check_digit);
            if kept.check_digit != Some(check_digit) {
                st.bind(at + 5, Int(i64::from(check_digit)))?;
                kept.check_digit = Some(check_digit);
            }
            if kept.status != Some(o.status) {
                st.bind(at + 6, Text(o.status.as_str()))?;
                kept.status = Some(o.status);
            }
            // NULL while the status is as created: a bulk import writes a tenth less, and a
            // GIS user sees at once which statuses never changed.
            let changed = (o.status_changed != o.created).then_some(o.status_changed);
            if kept
                .status_changed
                .as_ref()
                .map(|c| c.as_ref().map(|t| t.0))
                != Some(changed)
            {
                let shown = changed.map(|t| (t, times.get(t)));
                st.bind(at + 7, text(shown.as_ref().map(|t| &*t.1)))?;
                kept.status_changed = Some(shown);
            }
            st.bind(at + 8, text((!o.attributes.is_empty()).then_some(attrs)))?;
            if kept.source_file.as_deref() != Some(&*o.source.file) {
                let file = o.source.file.clone();
                st.bind(at + 9, Text(&file))?;
                kept.source_file = Some(file);
            }
            st.bind(at + 10, Text(&o.source.id))?;
            for (col, t, kept) in [
                (11, o.created, &mut kept.created),
                (12, o.updated, &mut kept.updated),
            ] {
                if kept.as_ref().map(|k| k.0) != Some(t) {
                    let shown = times.get(t);
                    st.bind(at + col, Text(&shown))?;
                    *kept = Some((t, shown));
                }
            }
        }
        Ok(())
    }
}

impl Rows<'_> {
    /// Writes the row of `o` now (a statement of one row).
    fn write(
        &mut self,
        o: &Object,
        row: (&[u8], &str, &str),
        times: &mut TimeTexts,
    ) -> rusqlite::Result<()> {
        self.bind(0, o, row, times)?;
        self.st.execute()
    }
}

impl<'t> RowInsert<'t> {
    fn new(tx: &'t rusqlite::Transaction<'t>, table: &str) -> rusqlite::Result<RowInsert<'t>> {
        Ok(RowInsert {
            tx,
            table: table.to_string(),
            one: Rows::prepare(tx, table, 1)?,
            many: None,
            pending: Vec::with_capacity(ROWS_PER_INSERT),
        })
    }

    /// Writes the pending created objects of `changes` (encoded as `enc`): 64 rows at once
    /// when there are 64, else row by row. A row the store refuses is named by its object.
    fn flush(
        &mut self,
        changes: &[Change],
        enc: &Encoded,
        times: &mut TimeTexts,
        bad: &impl Fn(&Object, rusqlite::Error) -> StoreError,
    ) -> Result<(), StoreError> {
        if self.pending.len() == ROWS_PER_INSERT {
            let many = match &mut self.many {
                Some(m) => m,
                None => {
                    let o = changes[self.pending[0]].object();
                    let rows = Rows::prepare(self.tx, &self.table, ROWS_PER_INSERT)
                        .map_err(|e| bad(o, e))?;
                    self.many.insert(rows)
                }
            };
            let bound = (self.pending.iter().enumerate())
                .try_for_each(|(slot, &k)| many.bind(slot, changes[k].object(), enc.row(k), times));
            match bound.and_then(|()| many.st.execute()) {
                Ok(()) => {
                    self.pending.clear();
                    return Ok(());
                }
                // SQLite rolled the whole transaction back (a full disk, an I/O error, a
                // trigger's RAISE(ROLLBACK)): nothing more may be written, or it would be
                // saved on its own.
                Err(err) if self.tx.is_autocommit() => {
                    return Err(bad(changes[self.pending[0]].object(), err));
                }
                // Only the statement's rows were undone: row by row below finds which row
                // the store refuses.
                Err(_) => {}
            }
        }
        for &k in &self.pending {
            let o = changes[k].object();
            self.one
                .write(o, enc.row(k), times)
                .map_err(|e| bad(o, e))?;
        }
        self.pending.clear();
        Ok(())
    }
}

/// Writes the changes of one batch inside its transaction, part by part; [`BatchWriter::finish`]
/// adds what belongs to the batch as a whole (numbers, the summary row, the history head).
struct BatchWriter<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    layers: &'t Layers,
    width: u8,
    head: &'t BatchHead,
    path: String,
    now: String,
    /// Per layer: upsert and delete by fid.
    inserts: Vec<RowInsert<'t>>,
    deletes: Vec<rusqlite::Statement<'t>>,
    history: Appender<'t>,
    times: TimeTexts,
    /// Serials new to their objects in this batch, a bit each: recorded as given at the end,
    /// in serial order, so that each row of the serial bitmap is read and written once (a bit
    /// per serial of the space, 1.25 MB for 7 digits, where a list of 10M would be 160 MB to
    /// fill and sort).
    new_serials: fixedbitset::FixedBitSet,
    /// New serials that updated objects took back from their own retired numbers (their
    /// retired rows are gone already): the only serials given before that are not refused.
    taken_back: Vec<u32>,
    /// The new serials of the other updated objects, with their layer and id, to name one
    /// refused.
    renumbered: Vec<(u32, u16, u64)>,
    first_id: u64,
    last_id: u64,
    /// The smallest and largest id of the objects this batch created (ids reserved for it).
    created: (u64, u64),
    /// Created, updated, deleted.
    counts: [u64; 3],
    touched: std::collections::BTreeSet<u16>,
}

impl<'t> BatchWriter<'t> {
    fn open(
        tx: &'t rusqlite::Transaction<'t>,
        layers: &'t Layers,
        width: u8,
        head: &'t BatchHead,
        path: String,
    ) -> Result<BatchWriter<'t>, StoreError> {
        let e = |err| sql(&path, err);
        let mut inserts = Vec::new();
        let mut deletes = Vec::new();
        for def in layers.defs() {
            inserts.push(RowInsert::new(tx, &def.name).map_err(e)?);
            deletes.push(
                tx.prepare(&format!("DELETE FROM \"{}\" WHERE fid = ?1", def.name))
                    .map_err(e)?,
            );
        }
        let history = Appender::open(tx).map_err(e)?;
        Ok(BatchWriter {
            tx,
            layers,
            width,
            head,
            now: format_ms(crate::model::now_ms()),
            inserts,
            deletes,
            history,
            times: TimeTexts::default(),
            new_serials: fixedbitset::FixedBitSet::new(),
            taken_back: Vec::new(),
            renumbered: Vec::new(),
            first_id: u64::MAX,
            last_id: 0,
            created: (u64::MAX, 0),
            counts: [0; 3],
            touched: Default::default(),
            path,
        })
    }

    /// Writes `changes` (rows, retired numbers, a history row per update and delete).
    fn write(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        // In slices, so that a batch of millions is not encoded whole before it is written.
        for slice in changes.chunks(4096) {
            let encoded = Encoded::of(slice, self.layers, self.width, &self.path)?;
            self.write_encoded(slice, &encoded)?;
        }
        Ok(())
    }

    /// Records the number of `old` (as its row in the store has it) as retired, before the row
    /// is deleted or replaced.
    fn retire(&self, old: &Object) -> rusqlite::Result<()> {
        let name = &self.layers.def(old.layer).name;
        self.tx
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO citytwin_retired_numbers(serial, layer, object_id, assigned, retired) \
                 SELECT serial, '{name}', fid, coalesce(number_assigned, created), ?2 FROM \"{name}\" \
                 WHERE fid = ?1 AND serial IS NOT NULL"
            ))?
            .execute(params![old.id as i64, self.now])?;
        Ok(())
    }

    /// The layer and id of the object this batch created with serial `s` (for an error
    /// message: the ids reserved for the batch's created objects are all it reads).
    fn created_holder_of(&self, s: u32) -> rusqlite::Result<Option<(String, u64)>> {
        for &l in &self.touched {
            let name = &self.layers.def(l).name;
            let fid: Option<i64> = self
                .tx
                .query_row(
                    &format!(
                        "SELECT fid FROM \"{name}\" WHERE fid BETWEEN ?1 AND ?2 AND serial = ?3 LIMIT 1"
                    ),
                    params![self.created.0 as i64, self.created.1 as i64, s],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(fid) = fid {
                return Ok(Some((name.clone(), fid as u64)));
            }
        }
        Ok(None)
    }

    /// When `old`'s number was given, if not when it was created (as its row says).
    fn assigned(&self, old: &Object) -> rusqlite::Result<Option<String>> {
        let name = &self.layers.def(old.layer).name;
        Ok(self
            .tx
            .prepare_cached(&format!(
                "SELECT number_assigned FROM \"{name}\" WHERE fid = ?1"
            ))?
            .query_row([old.id as i64], |r| r.get(0))
            .optional()?
            .flatten())
    }

    /// Writes the created objects still waiting for their layer's multi-row insert.
    fn flush_pending(&mut self, changes: &[Change], enc: &Encoded) -> Result<(), StoreError> {
        let bad = refused(self.layers, &self.path);
        for insert in &mut self.inserts {
            if !insert.pending.is_empty() {
                insert.flush(changes, enc, &mut self.times, &bad)?;
            }
        }
        Ok(())
    }

    /// As [`BatchWriter::write`], with the column values already encoded (on another thread).
    fn write_encoded(&mut self, changes: &[Change], enc: &Encoded) -> Result<(), StoreError> {
        self.write_rows(changes, enc)?;
        // Every row of the part is written before the part is handed back.
        self.flush_pending(changes, enc)
    }

    fn write_rows(&mut self, changes: &[Change], enc: &Encoded) -> Result<(), StoreError> {
        let (layers, width) = (self.layers, self.width);
        for (k, change) in changes.iter().enumerate() {
            if !matches!(change, Change::Create(_)) {
                // Rows are written in the order of their changes.
                self.flush_pending(changes, enc)?;
            }
            let o = change.object();
            self.first_id = self.first_id.min(o.id);
            self.last_id = self.last_id.max(o.id);
            // The layer was checked while encoding.
            let def = layers.def(o.layer);
            self.touched.insert(o.layer);
            let path = &self.path;
            let row_err = |err: rusqlite::Error| refused(layers, path)(o, err);
            let (_, _, number) = enc.row(k);
            let shown_number = o.number.as_ref().map(|_| number);
            match change {
                Change::Create(_) | Change::Update { .. } => {
                    self.counts[usize::from(!matches!(change, Change::Create(_)))] += 1;
                    let serial = scheme_serial(o);
                    // What the old row says is read before it is replaced or deleted.
                    let mut assigned = None;
                    if let Change::Update { old, .. } = change {
                        let was = scheme_serial(old);
                        if was.is_some() && was != serial {
                            self.retire(old).map_err(row_err)?;
                        }
                        assigned = if old.number == o.number {
                            self.assigned(old).map_err(row_err)?
                        } else {
                            o.number.as_ref().map(|_| self.now.clone())
                        };
                        if was != serial
                            && let Some(s) = serial
                        {
                            if !first_in_batch(&mut self.new_serials, s, width) {
                                return Err(given_twice(path, &def.name, o.id, s));
                            }
                            // Taken back now, so that a later change of the batch that retires
                            // it again records that.
                            let back = self
                                .tx
                                .prepare_cached(
                                    "DELETE FROM citytwin_retired_numbers \
                                     WHERE serial = ?1 AND object_id = ?2",
                                )
                                .and_then(|mut st| st.execute(params![s, o.id as i64]))
                                .map_err(row_err)?;
                            if back == 1 {
                                self.taken_back.push(s);
                            } else {
                                self.renumbered.push((s, o.layer, o.id));
                            }
                        }
                        if old.layer != o.layer {
                            self.deletes[old.layer as usize]
                                .execute([old.id as i64])
                                .map_err(row_err)?;
                        }
                    } else {
                        self.created = (self.created.0.min(o.id), self.created.1.max(o.id));
                        if let Some(s) = serial
                            && !first_in_batch(&mut self.new_serials, s, width)
                        {
                            return Err(given_twice(path, &def.name, o.id, s));
                        }
                    }
                    let insert = &mut self.inserts[o.layer as usize];
                    if matches!(change, Change::Create(_)) {
                        insert.pending.push(k);
                        if insert.pending.len() == ROWS_PER_INSERT {
                            let bad = refused(layers, path);
                            insert.flush(changes, enc, &mut self.times, &bad)?;
                        }
                    } else {
                        insert
                            .one
                            .write(o, enc.row(k), &mut self.times)
                            .map_err(row_err)?;
                        if let Some(at) = assigned {
                            self.tx
                                .prepare_cached(&format!(
                                    "UPDATE \"{}\" SET number_assigned = ?2 WHERE fid = ?1",
                                    def.name
                                ))
                                .and_then(|mut st| st.execute(params![o.id as i64, at]))
                                .map_err(row_err)?;
                        }
                    }
                }
                Change::Delete(_) => {
                    self.counts[2] += 1;
                    if scheme_serial(o).is_some() {
                        self.retire(o).map_err(row_err)?;
                    }
                    self.deletes[o.layer as usize]
                        .execute([o.id as i64])
                        .map_err(row_err)?;
                }
            }
            let (old, new) = match change {
                Change::Create(o) if self.head.history_per_create => {
                    (None, Some(object_json(o, layers, width)))
                }
                Change::Create(_) => continue,
                Change::Update { old, new } => (
                    Some(object_json(old, layers, width)),
                    Some(object_json(new, layers, width)),
                ),
                Change::Delete(o) => (Some(object_json(o, layers, width)), None),
            };
            self.history
                .push(chain::Entry {
                    at: self.now.clone(),
                    actor: self.head.actor.clone(),
                    action: self.head.action.clone(),
                    layer: Some(def.name.clone()),
                    object_id: Some(o.id as i64),
                    number: shown_number.map(str::to_string),
                    old: old.map(|v| v.to_string()),
                    new: new.map(|v| v.to_string()),
                    ..Default::default()
                })
                .map_err(row_err)?;
        }
        Ok(())
    }

    /// Records the batch's serials, its summary row (unless it was one created object with a
    /// row of its own) and the new history head; returns the newest history sequence number.
    fn finish(mut self, mut summary: serde_json::Value) -> Result<u64, StoreError> {
        let p = self.path.clone();
        let e = |err| sql(&p, err);
        // Every serial new to its object is recorded as given; one given before is refused,
        // unless an updated object takes back a number it held itself.
        let before =
            serials::give(self.tx, self.new_serials.ones().map(|s| s as u32)).map_err(e)?;
        self.taken_back.sort_unstable();
        self.renumbered.sort_unstable();
        for s in before {
            if self.taken_back.binary_search(&s).is_ok() {
                continue;
            }
            let holder = match self.renumbered.binary_search_by_key(&s, |r| r.0) {
                Ok(i) => {
                    let (_, layer, id) = self.renumbered[i];
                    Some((self.layers.def(layer).name.clone(), id))
                }
                Err(_) => self.created_holder_of(s).map_err(e)?,
            };
            return Err(holder.map_or_else(
                || StoreError::Invalid {
                    path: p.clone(),
                    reason: given_before(s),
                },
                |(name, id)| given_twice(&p, &name, id, s),
            ));
        }
        // One summary row per batch: what, how many, which ids.
        if let Some(m) = summary.as_object_mut() {
            m.insert("created".into(), self.counts[0].into());
            m.insert("updated".into(), self.counts[1].into());
            m.insert("deleted".into(), self.counts[2].into());
            if self.first_id <= self.last_id {
                m.insert(
                    "ids".into(),
                    serde_json::json!([self.first_id, self.last_id]),
                );
            }
        }
        let changed: u64 = self.counts.iter().sum();
        if changed > 0 && (!self.head.history_per_create || changed > 1) {
            self.history
                .push(chain::Entry {
                    at: self.now.clone(),
                    actor: self.head.actor.clone(),
                    action: self.head.action.clone(),
                    new: Some(summary.to_string()),
                    ..Default::default()
                })
                .map_err(e)?;
        }
        let seq = self.history.finish().map_err(e)?;
        // Keep gpkg_contents' extent and last_change current for GIS tools.
        for &l in &self.touched {
            self.tx
                .execute(
                    "UPDATE gpkg_contents SET last_change = ?2 WHERE table_name = ?1",
                    params![self.layers.def(l).name, self.now],
                )
                .map_err(e)?;
        }
        Ok(seq)
    }
}

/// Notes serial `s` as new in this batch; false if the batch gave it already.
fn first_in_batch(set: &mut fixedbitset::FixedBitSet, s: u32, width: u8) -> bool {
    let i = s as usize;
    if i >= set.len() {
        set.grow((i + 1).max(crate::numbering::serial_space(width) as usize));
    }
    !set.put(i)
}

/// A serial refused to the object `id` of `layer`: given before.
fn given_twice(path: &str, layer: &str, id: u64, s: u32) -> StoreError {
    StoreError::BadRow {
        path: path.to_string(),
        layer: layer.to_string(),
        fid: id as i64,
        reason: given_before(s),
    }
}

fn given_before(s: u32) -> String {
    format!("serial {s} was already given to another object; numbers are never reused")
}

/// The serial of a number of citytwin's scheme.
fn scheme_serial(o: &Object) -> Option<u32> {
    match &o.number {
        Some(Number::Scheme { serial, .. }) => Some(*serial),
        _ => None,
    }
}

/// A part on its way from the encoding thread to the writer.
enum Encoding {
    Changes(Vec<Change>, Result<Encoded, StoreError>),
    Serials(std::sync::mpsc::SyncSender<Result<fixedbitset::FixedBitSet, StoreError>>),
    Finish(serde_json::Value, ObjectId),
}

/// The column values of a part's rows that take work to encode (geometry blob, attributes
/// JSON, number as painted), in one buffer: a bulk import encodes them on another thread than
/// the one writing, which is the import's bottleneck. Checks each row's layer and geometry.
struct Encoded {
    bytes: Vec<u8>,
    /// Per change: where its geometry ends, then its attributes, then its number (each
    /// starts where the one before ends).
    ends: Vec<[usize; 3]>,
}

impl Encoded {
    fn of(
        changes: &[Change],
        layers: &Layers,
        width: u8,
        path: &str,
    ) -> Result<Encoded, StoreError> {
        let mut e = Encoded {
            bytes: Vec::with_capacity(changes.len() * 96),
            ends: Vec::with_capacity(changes.len()),
        };
        let mut number = String::new();
        for change in changes {
            let o = change.object();
            let def = layers.get(o.layer).ok_or_else(|| StoreError::Invalid {
                path: path.to_string(),
                reason: format!(
                    "object {} names layer #{} which does not exist",
                    o.id, o.layer
                ),
            })?;
            let bad = |reason: String| StoreError::BadRow {
                path: path.to_string(),
                layer: def.name.clone(),
                fid: o.id as i64,
                reason,
            };
            if !matches!(change, Change::Delete(_)) {
                if !o.geometry.fits(def.geometry) {
                    return Err(bad(format!(
                        "geometry does not fit layer geometry {}",
                        def.geometry.ogc_name()
                    )));
                }
                o.geometry.validate().map_err(bad)?;
                encode_geometry_into(&o.geometry, &mut e.bytes).map_err(bad)?;
            }
            let geometry_end = e.bytes.len();
            if !matches!(change, Change::Delete(_)) && !o.attributes.is_empty() {
                write_attributes_json(&o.attributes, &mut e.bytes);
            }
            let attributes_end = e.bytes.len();
            if let Some(n) = &o.number {
                n.write_with_code(&def.code, width, &mut number);
                e.bytes.extend_from_slice(number.as_bytes());
            }
            e.ends.push([geometry_end, attributes_end, e.bytes.len()]);
        }
        Ok(e)
    }

    /// Row `k`: geometry blob, attributes JSON (empty when none) and number (empty when none).
    fn row(&self, k: usize) -> (&[u8], &str, &str) {
        let start = if k == 0 { 0 } else { self.ends[k - 1][2] };
        let [g, a, n] = self.ends[k];
        let text = |r: std::ops::Range<usize>| std::str::from_utf8(&self.bytes[r]).unwrap_or("");
        (&self.bytes[start..g], text(g..a), text(a..n))
    }
}

/// Flushes the file at `path` to disk every second until `stop`'s sender is dropped (see
/// [`GpkgStore::in_batch`]).
fn flush_until(path: &Path, stop: &std::sync::mpsc::Receiver<()>) {
    let Ok(file) = kept_file(path) else {
        return;
    };
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        stop.recv_timeout(std::time::Duration::from_secs(1))
    {
        if let Err(err) = file.sync_data() {
            tracing::debug!(%err, "early flush of a bulk write failed; the commit syncs anyway");
            return;
        }
    }
}

/// Appends entries to the hash-chained history inside one transaction.
struct Appender<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    insert: rusqlite::Statement<'t>,
    seq: i64,
    hash: String,
    wrote: bool,
}

impl<'t> Appender<'t> {
    fn open(tx: &'t rusqlite::Transaction<'t>) -> rusqlite::Result<Appender<'t>> {
        let (seq, hash) = tx
            .query_row(
                "SELECT seq, hash FROM citytwin_history ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?)),
            )
            .optional()?
            .map_or((0, chain::GENESIS.to_string()), |(s, h)| {
                (s, h.unwrap_or_default())
            });
        let insert = tx.prepare(
            "INSERT INTO citytwin_history(seq, at, actor, action, layer, object_id, number, old, new, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        Ok(Appender {
            tx,
            insert,
            seq,
            hash,
            wrote: false,
        })
    }

    /// Appends `e` (its seq and hashes are filled in here).
    fn push(&mut self, mut e: chain::Entry) -> rusqlite::Result<()> {
        e.seq = self.seq + 1;
        e.prev_hash = std::mem::take(&mut self.hash);
        e.hash = e.digest();
        self.insert.execute(params![
            e.seq,
            e.at,
            e.actor,
            e.action,
            e.layer,
            e.object_id,
            e.number,
            e.old,
            e.new,
            e.prev_hash,
            e.hash
        ])?;
        self.seq = e.seq;
        self.hash = e.hash;
        self.wrote = true;
        Ok(())
    }

    /// Records the new head; returns the newest entry's sequence number (0 for none).
    fn finish(self) -> rusqlite::Result<u64> {
        if self.wrote {
            set_head(self.tx, self.seq, &self.hash)?;
        }
        Ok(self.seq.max(0) as u64)
    }

    /// Appends one entry and records the new head.
    fn record(tx: &'t rusqlite::Transaction<'t>, e: chain::Entry) -> rusqlite::Result<()> {
        let mut h = Appender::open(tx)?;
        h.push(e)?;
        h.finish().map(|_| ())
    }
}

/// Keeps the history's newest entry (seq and hash) as the setting `audit_head`.
fn set_head(tx: &rusqlite::Transaction<'_>, seq: i64, hash: &str) -> rusqlite::Result<()> {
    write_setting(tx, "audit_head", &format!("{seq} {hash}"))
}

/// One value of `citytwin_settings` (on a connection or inside a transaction).
fn read_setting(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM citytwin_settings WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()
}

/// Sets one value of `citytwin_settings`.
fn write_setting(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO citytwin_settings(key, value) VALUES (?1, ?2) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

/// Chains history written before the history was hash-chained (a store of an older
/// citytwin): adds the columns and hashes the old entries in their order, once.
fn adopt_unchained_history(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let has_hash: bool = tx
        .prepare("SELECT 1 FROM pragma_table_info('citytwin_history') WHERE name = 'hash'")?
        .exists([])?;
    if !has_hash {
        tx.execute_batch(
            "ALTER TABLE citytwin_history ADD COLUMN prev_hash TEXT; \
             ALTER TABLE citytwin_history ADD COLUMN hash TEXT;",
        )?;
        let rows = read_chain(tx)?;
        let mut prev = chain::GENESIS.to_string();
        let mut update =
            tx.prepare("UPDATE citytwin_history SET prev_hash = ?2, hash = ?3 WHERE seq = ?1")?;
        let n = rows.len();
        let mut head = None;
        for mut e in rows {
            e.prev_hash = prev;
            e.hash = e.digest();
            update.execute(params![e.seq, e.prev_hash, e.hash])?;
            prev = e.hash.clone();
            head = Some(e.seq);
        }
        if let Some(seq) = head {
            set_head(tx, seq, &prev)?;
        }
        tracing::info!(entries = n, "history chained (store of an older citytwin)");
    }
    Ok(())
}

/// Every history entry in stored order, as stored.
fn read_chain(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<chain::Entry>> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, layer, object_id, number, old, new, prev_hash, hash \
         FROM citytwin_history ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(chain::Entry {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            layer: r.get(4)?,
            object_id: r.get(5)?,
            number: r.get(6)?,
            old: r.get(7)?,
            new: r.get(8)?,
            prev_hash: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
            hash: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
        })
    })?;
    rows.collect()
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    let role: String = r.get(2)?;
    let time = |i: usize| -> rusqlite::Result<Option<i64>> {
        Ok(r.get::<_, Option<String>>(i)?
            .and_then(|t| super::parse_ms(&t)))
    };
    let id: i64 = r.get(0)?;
    Ok(TokenRecord {
        id,
        name: r.get(1)?,
        role: Role::parse(&role).unwrap_or_else(|| {
            // Least privilege for a role this version does not know.
            tracing::warn!(
                token = id,
                role,
                "token has an unknown role; treated as public"
            );
            Role::Public
        }),
        hash: r.get(3)?,
        created: time(4)?.unwrap_or(0),
        expires: time(5)?,
        revoked: time(6)?,
    })
}

/// The newest history row's sequence number (0 for none).
fn last_seq(conn: &rusqlite::Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT coalesce(max(seq), 0) FROM citytwin_history",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|v| v.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An edit by `test` with a history row per created object.
    fn batch(changes: Vec<Change>) -> Batch {
        Batch {
            actor: "test".into(),
            action: "edit".into(),
            summary: serde_json::json!({}),
            changes,
            history_per_create: true,
        }
    }

    #[test]
    fn values_of_rows_numbers_each_rows_parameters_in_order() {
        assert_eq!(values_of_rows(2, 2), "(?1, ?2), (?3, ?4)");
    }

    #[test]
    fn prefetch_asks_for_a_file_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.gpkg");
        std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
        prefetch(&path).unwrap();
        // Asked again for the same file: the same descriptor, kept open.
        prefetch(&path).unwrap();
        assert!(std::sync::Arc::ptr_eq(
            &kept_file(&path).unwrap(),
            &kept_file(&path).unwrap()
        ));
        let e = prefetch(&dir.path().join("gone.gpkg")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn point_blob_fast_path_matches_geozero() {
        let g = Geometry::Point([24.9384, 60.1699]);
        let fast = encode_geometry(&g).unwrap();
        let via_geozero = geo_types::Geometry::from(geo_types::Point::new(24.9384, 60.1699))
            .to_gpkg_wkb(CoordDimensions::xy(), Some(4326), Vec::new())
            .unwrap();
        assert_eq!(fast, via_geozero);
        assert_eq!(decode_geometry(&fast).unwrap(), g);
        let line = Geometry::Line(vec![[1.0, 2.0], [3.0, 4.0]]);
        assert_eq!(
            decode_geometry(&encode_geometry(&line).unwrap()).unwrap(),
            line
        );
        assert!(decode_geometry(b"junk").is_err());
    }

    #[test]
    fn a_row_whose_attributes_are_not_text_is_reported_not_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.gpkg");
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let mut store = GpkgStore::open(&path, &layers, 6).unwrap();
        let mut o = crate::twin::tests::obj(1, poles, [30.0, 50.0], 100_001);
        o.attributes.set("name", crate::model::Value::text("a"));
        store.commit(&batch(vec![Change::Create(o)])).unwrap();
        let plan = store.plan().unwrap();
        assert_eq!(
            plan.iter().find(|p| p.layer == poles).map(|p| p.count),
            Some(1)
        );
        let poles_plan = plan.iter().find(|p| p.layer == poles).copied().unwrap();
        assert_eq!(store.load_layer(&poles_plan).unwrap().concat().len(), 1);
        // Another tool writes the attributes as a blob.
        store
            .conn
            .execute("UPDATE poles SET attributes = X'7B7D'", [])
            .unwrap();
        let e = store.load_layer(&poles_plan).unwrap_err().to_string();
        assert!(e.contains("expected text") && e.contains("object 1"), "{e}");
    }

    #[test]
    fn the_plan_estimates_a_layer_larger_than_its_sample_and_counts_a_small_one() {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers::default_city();
        let (poles, manholes) = (
            layers.by_name("poles").unwrap(),
            layers.by_name("manholes").unwrap(),
        );
        let mut store = GpkgStore::open(&dir.path().join("s.gpkg"), &layers, 7).unwrap();
        // Five poles for every manhole, interleaved as an import writes them.
        let n = PLAN_SAMPLE as u64 * 3;
        let changes: Vec<Change> = (1..=n)
            .map(|id| {
                let layer = if id % 6 == 0 { manholes } else { poles };
                let at = [30.0 + id as f64 * 1e-5, 50.0];
                Change::Create(crate::twin::tests::obj(
                    id,
                    layer,
                    at,
                    1_000_000 + id as u32,
                ))
            })
            .collect();
        store.commit(&batch(changes)).unwrap();
        let plan = store.plan().unwrap();
        let of = |l| plan.iter().find(|p| p.layer == l).copied().unwrap();
        let (want_poles, want_manholes) = (n - n / 6, n / 6);
        let estimate = of(poles).count as f64;
        assert!(
            (estimate / want_poles as f64 - 1.0).abs() < 0.01,
            "{estimate} for {want_poles}"
        );
        assert_eq!(
            of(manholes).count as u64,
            want_manholes,
            "below the sample: exact"
        );
        assert_eq!((of(poles).min_id, of(poles).max_id), (1, n - 1));
        assert_eq!(
            store.load_layer(&of(poles)).unwrap().concat().len() as u64,
            want_poles
        );
    }

    #[test]
    fn a_status_unchanged_since_creation_is_stored_as_null_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.gpkg");
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let mut store = GpkgStore::open(&path, &layers, 6).unwrap();
        let mut fresh = crate::twin::tests::obj(1, poles, [30.0, 50.0], 100_001);
        (fresh.created, fresh.status_changed, fresh.updated) = (1_000, 1_000, 1_000);
        let mut changed = crate::twin::tests::obj(2, poles, [30.1, 50.1], 100_012);
        (changed.created, changed.status_changed, changed.updated) = (1_000, 5_000, 6_000);
        let both = vec![
            Change::Create(fresh.clone()),
            Change::Create(changed.clone()),
        ];
        store.commit(&batch(both)).unwrap();
        let stored: Vec<Option<String>> = store
            .conn
            .prepare("SELECT status_changed FROM poles ORDER BY fid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, vec![None, Some(format_ms(5_000))]);
        let plan = store.plan().unwrap();
        let poles_plan = plan.iter().find(|p| p.layer == poles).copied().unwrap();
        let loaded = store.load_layer(&poles_plan).unwrap().concat();
        assert_eq!(loaded, vec![fresh, changed]);
    }

    /// Created objects go in 64 rows per statement, each statement row keeping the values
    /// rows share bound from the row before: values that change now and then must still land
    /// on their own rows. A row the store refuses in such a statement is named, and nothing of
    /// the batch is written; updates and deletes between created objects keep their order.
    #[test]
    fn created_rows_go_many_per_statement_and_a_refused_one_is_named() {
        use crate::model::Status;
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers::default_city();
        let (poles, manholes) = (
            layers.by_name("poles").unwrap(),
            layers.by_name("manholes").unwrap(),
        );
        let mut store = GpkgStore::open(&dir.path().join("s.gpkg"), &layers, 6).unwrap();
        let made = |from: u64, n: u64| -> Vec<Object> {
            (from..from + n)
                .map(|i| {
                    let layer = if i % 3 == 0 { manholes } else { poles };
                    let at = [30.0 + i as f64 * 1e-3, 50.0];
                    let mut o = crate::twin::tests::obj(i, layer, at, 200_000 + i as u32);
                    if i % 7 == 0 {
                        o.status = Status::Broken;
                    }
                    if i % 11 == 0 {
                        o.status_changed = o.created + 5_000;
                    }
                    if i % 13 == 0 {
                        o.source.file = "other.csv".into();
                    }
                    if i % 17 == 0 {
                        o.updated = o.created + 9_000;
                    }
                    if i % 19 == 0 {
                        o.number = None;
                    }
                    o
                })
                .collect()
        };
        let loaded = |store: &mut GpkgStore| -> Vec<Object> {
            let mut all: Vec<Object> = Vec::new();
            for p in store.plan().unwrap() {
                all.extend(store.load_layer(&p).unwrap().concat());
            }
            all.sort_by_key(|o| o.id);
            all
        };
        let first = made(1, 300);
        let creates = |objs: &[Object]| objs.iter().cloned().map(Change::Create).collect();
        // A trigger that refuses the pole with fid 200 (`how`: ABORT or ROLLBACK), then the
        // error of writing `first`.
        let refused = |store: &mut GpkgStore, how: &str| -> String {
            let trigger = format!(
                "DROP TRIGGER IF EXISTS refuse; \
                 CREATE TRIGGER refuse BEFORE INSERT ON poles WHEN NEW.fid = 200 \
                 BEGIN SELECT RAISE({how}, 'refused by the test'); END;"
            );
            store.conn.execute_batch(&trigger).unwrap();
            store
                .commit(&batch(creates(&first)))
                .unwrap_err()
                .to_string()
        };
        let e = refused(&mut store, "ABORT");
        assert!(
            e.contains("\"poles\" object 200") && e.contains("refused by the test"),
            "{e}"
        );
        assert!(loaded(&mut store).is_empty());
        // A trigger that rolls the whole transaction back: nothing is written after it.
        let seq = last_seq(&store.conn).unwrap();
        let e = refused(&mut store, "ROLLBACK");
        assert!(e.contains("refused by the test"), "{e}");
        assert!(loaded(&mut store).is_empty());
        assert_eq!(last_seq(&store.conn).unwrap(), seq, "no history written");
        store.conn.execute_batch("DROP TRIGGER refuse").unwrap();
        store.commit(&batch(creates(&first))).unwrap();
        assert_eq!(loaded(&mut store), first);
        // More created objects, with an update and a delete of earlier ones among them.
        let second = made(301, 200);
        let mut moved = first[4].clone();
        moved.status = Status::Closed;
        moved.status_changed = moved.created + 1;
        let mut changes: Vec<Change> = creates(&second[..90]);
        changes.push(Change::Update {
            old: Box::new(first[4].clone()),
            new: moved.clone(),
        });
        changes.push(Change::Delete(first[9].clone()));
        changes.extend(creates(&second[90..]));
        store.commit(&batch(changes)).unwrap();
        let mut want: Vec<Object> = first.iter().chain(&second).cloned().collect();
        want[4] = moved;
        want.remove(9);
        assert_eq!(loaded(&mut store), want);
    }

    #[test]
    fn the_store_refuses_a_serial_given_before_and_keeps_it_for_the_same_object() {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let mut store = GpkgStore::open(&dir.path().join("s.gpkg"), &layers, 6).unwrap();
        let first = crate::twin::tests::obj(1, poles, [30.0, 50.0], 100_001);
        store
            .commit(&batch(vec![Change::Create(first.clone())]))
            .unwrap();
        // Another object with the same serial: refused, and nothing of the batch is written.
        let twin = crate::twin::tests::obj(2, poles, [30.1, 50.1], 100_001);
        let e = store
            .commit(&batch(vec![Change::Create(twin.clone())]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("serial 100001 was already given"), "{e}");
        let count = |store: &GpkgStore| -> i64 {
            store
                .conn
                .query_one("SELECT count(*) FROM poles", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(count(&store), 1);
        // The same object, updated, keeps its serial.
        let mut moved = first.clone();
        moved.geometry = crate::model::Geometry::Point([30.01, 50.01]);
        store
            .commit(&batch(vec![Change::Update {
                old: Box::new(first),
                new: moved.clone(),
            }]))
            .unwrap();
        // Deleted, its serial is retired, and refused to a new object too.
        store.commit(&batch(vec![Change::Delete(moved)])).unwrap();
        let e = store
            .commit(&batch(vec![Change::Create(twin)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("serial 100001 was already given"), "{e}");
        assert_eq!(count(&store), 0);
        // The same among many new serials, which are written many rows per statement.
        let many: Vec<Change> = (0..150u64)
            .map(|i| {
                let serial = if i == 97 { 100_001 } else { 200_000 + i as u32 };
                let at = [30.0 + i as f64 * 1e-3, 50.0];
                Change::Create(crate::twin::tests::obj(10 + i, poles, at, serial))
            })
            .collect();
        let e = store.commit(&batch(many)).unwrap_err().to_string();
        assert!(e.contains("serial 100001 was already given"), "{e}");
        assert!(e.contains("\"poles\" object 107:"), "names the object: {e}");
        assert_eq!(count(&store), 0);
        // Two new objects of one batch with the same new serial: the second is named.
        let pair: Vec<Change> = [(300, 300_001), (301, 300_002), (302, 300_001)]
            .map(|(id, serial)| {
                Change::Create(crate::twin::tests::obj(id, poles, [30.5, 50.5], serial))
            })
            .to_vec();
        let e = store.commit(&batch(pair)).unwrap_err().to_string();
        assert!(
            e.contains("object 302: serial 300001 was already given"),
            "{e}"
        );
        assert_eq!(count(&store), 0);
        assert_eq!(
            given(&store),
            vec![100_001],
            "nothing of a refused batch is recorded"
        );
        let numbers: i64 = store
            .conn
            .query_one("SELECT count(*) FROM citytwin_numbers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(numbers, 1, "only the retired serial");
        let retired: bool = store
            .conn
            .query_one(
                "SELECT retired IS NOT NULL FROM citytwin_numbers WHERE serial = 100001",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(retired);
    }

    /// The `citytwin_numbers` view's rows: serial, layer, object, assigned, retired.
    type NumberRow = (i64, String, i64, String, Option<String>);

    fn numbers_view(conn: &Connection) -> Vec<NumberRow> {
        let mut st = conn
            .prepare(
                "SELECT serial, layer, object_id, assigned, retired FROM citytwin_numbers \
                 ORDER BY serial",
            )
            .unwrap();
        st.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    fn given(store: &GpkgStore) -> Vec<usize> {
        serials::read(&store.conn, store.width)
            .unwrap()
            .ones()
            .collect()
    }

    #[test]
    fn the_numbers_view_lists_active_and_retired_numbers_and_another_process_is_refused_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.gpkg");
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let manholes = layers.by_name("manholes").unwrap();
        let mut a = GpkgStore::open(&path, &layers, 6).unwrap();
        let mut b = GpkgStore::open(&path, &layers, 6).unwrap();
        let pole = crate::twin::tests::obj(1, poles, [30.0, 50.0], 100_001);
        let manhole = crate::twin::tests::obj(2, manholes, [30.0, 50.0], 100_002);
        let gone = crate::twin::tests::obj(3, poles, [30.0, 50.0], 100_003);
        a.commit(&batch(
            [&pole, &manhole, &gone]
                .map(|o| Change::Create(o.clone()))
                .to_vec(),
        ))
        .unwrap();
        let created = numbers_view(&a.conn)[0].3.clone();
        // A second process (whose twin never saw these objects) is refused their serials.
        let stranger = crate::twin::tests::obj(4, poles, [31.0, 51.0], 100_002);
        let e = b
            .commit(&batch(vec![Change::Create(stranger.clone())]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("serial 100002 was already given"), "{e}");
        std::thread::sleep(std::time::Duration::from_millis(5));
        // Renumbered: the old number retired (with when it was given), the new one dated now.
        let mut renumbered = manhole.clone();
        renumbered.number = Some(Number::scheme(100_004, 6));
        a.commit(&batch(vec![
            Change::Update {
                old: Box::new(manhole.clone()),
                new: renumbered.clone(),
            },
            Change::Delete(gone.clone()),
        ]))
        .unwrap();
        let rows = numbers_view(&a.conn);
        let at = |i: usize| rows[i].4.clone().expect("retired");
        assert_eq!(
            rows.iter()
                .map(|r| (r.0, r.1.as_str(), r.2, r.4.is_some()))
                .collect::<Vec<_>>(),
            vec![
                (100_001, "poles", 1, false),
                (100_002, "manholes", 2, true),
                (100_003, "poles", 3, true),
                (100_004, "manholes", 2, false),
            ]
        );
        assert_eq!(
            (&rows[0].3, &rows[1].3, &rows[2].3),
            (&created, &created, &created)
        );
        assert!(rows[3].3 > created, "{rows:?}");
        assert_eq!(rows[3].3, at(1), "renumbered and retired in one batch");
        assert_eq!(given(&a), vec![100_001, 100_002, 100_003, 100_004]);
        // A change that keeps the number keeps when it was given.
        let mut closed = renumbered.clone();
        closed.status = Status::Closed;
        a.commit(&batch(vec![Change::Update {
            old: Box::new(renumbered),
            new: closed,
        }]))
        .unwrap();
        assert_eq!(numbers_view(&a.conn)[3].3, rows[3].3);
        // Retired serials are refused to new objects, in either process.
        for (store, serial) in [(&mut a, 100_003), (&mut b, 100_002)] {
            let again = crate::twin::tests::obj(5, poles, [32.0, 52.0], serial);
            let e = store
                .commit(&batch(vec![Change::Create(again)]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("serial {serial} was already given")),
                "{e}"
            );
        }
        assert_eq!(given(&b), vec![100_001, 100_002, 100_003, 100_004]);
    }

    /// An updated object may take back a number it held itself (also in the batch that then
    /// deletes it), never another object's; a change of layer keeps when the number was given;
    /// a refused serial names the object of the batch that asked for it.
    #[test]
    fn numbers_taken_back_moved_between_layers_and_refused_are_recorded_right() {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers::default_city();
        let [poles, manholes, trees] =
            ["poles", "manholes", "trees"].map(|n| layers.by_name(n).unwrap());
        let mut store = GpkgStore::open(&dir.path().join("s.gpkg"), &layers, 6).unwrap();
        let numbered = |o: &Object, serial: u32| {
            let mut n = o.clone();
            n.number = Some(Number::scheme(serial, 6));
            n
        };
        let update = |old: &Object, new: &Object| Change::Update {
            old: Box::new(old.clone()),
            new: new.clone(),
        };
        let a = crate::twin::tests::obj(1, poles, [30.0, 50.0], 100_001);
        let b = crate::twin::tests::obj(2, poles, [30.0, 50.0], 100_002);
        let c = crate::twin::tests::obj(3, poles, [30.0, 50.0], 100_010);
        store
            .commit(&batch(
                [&a, &b, &c].map(|o| Change::Create(o.clone())).to_vec(),
            ))
            .unwrap();
        let a3 = numbered(&a, 100_003);
        store.commit(&batch(vec![update(&a, &a3)])).unwrap();
        // B may not take A's retired number.
        let e = store
            .commit(&batch(vec![update(&b, &numbered(&b, 100_001))]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("object 2: serial 100001 was already given"),
            "{e}"
        );
        // A may, and its retired row goes.
        let a1 = numbered(&a3, 100_001);
        store.commit(&batch(vec![update(&a3, &a1)])).unwrap();
        let view = |store: &GpkgStore| -> Vec<(i64, String, i64, bool)> {
            numbers_view(&store.conn)
                .into_iter()
                .map(|r| (r.0, r.1, r.2, r.4.is_some()))
                .collect()
        };
        assert_eq!(
            view(&store),
            vec![
                (100_001, "poles".into(), 1, false),
                (100_002, "poles".into(), 2, false),
                (100_003, "poles".into(), 1, true),
                (100_010, "poles".into(), 3, false),
            ]
        );
        // Taken back and deleted in one batch: both its numbers stay retired.
        let a3 = numbered(&a1, 100_003);
        store
            .commit(&batch(vec![update(&a1, &a3), Change::Delete(a3.clone())]))
            .unwrap();
        let retired: Vec<(i64, bool)> = view(&store)
            .into_iter()
            .filter(|r| r.2 == 1)
            .map(|r| (r.0, r.3))
            .collect();
        assert_eq!(retired, vec![(100_001, true), (100_003, true)]);
        // C renumbered, then moved to another layer with its number: the date it was given
        // moves along. Then moved again with a new number: the old one retires in its layer.
        let c11 = numbered(&c, 100_011);
        store.commit(&batch(vec![update(&c, &c11)])).unwrap();
        let assigned_of = |store: &GpkgStore, serial: i64| {
            numbers_view(&store.conn)
                .into_iter()
                .find(|r| r.0 == serial)
                .map(|r| (r.1, r.3))
                .unwrap()
        };
        let (_, given_at) = assigned_of(&store, 100_011);
        let mut moved = c11.clone();
        moved.layer = manholes;
        store.commit(&batch(vec![update(&c11, &moved)])).unwrap();
        assert_eq!(
            assigned_of(&store, 100_011),
            ("manholes".into(), given_at.clone())
        );
        let mut tree = numbered(&moved, 100_012);
        tree.layer = trees;
        store.commit(&batch(vec![update(&moved, &tree)])).unwrap();
        let rows = view(&store);
        assert!(
            rows.contains(&(100_011, "manholes".into(), 3, true)),
            "{rows:?}"
        );
        assert!(
            rows.contains(&(100_012, "trees".into(), 3, false)),
            "{rows:?}"
        );
        // A batch that updates one object and creates another with B's serial names the
        // created one, not B.
        let mut b_closed = b.clone();
        b_closed.status = Status::Closed;
        let e = store
            .commit(&batch(vec![
                update(&b, &b_closed),
                Change::Create(crate::twin::tests::obj(107, poles, [31.0, 51.0], 100_002)),
            ]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("object 107: serial 100002 was already given"),
            "{e}"
        );
    }

    #[test]
    fn a_store_with_the_old_numbers_table_keeps_every_number_in_the_new_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.gpkg");
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let pole = crate::twin::tests::obj(1, poles, [30.0, 50.0], 100_001);
        let gone = crate::twin::tests::obj(3, poles, [30.0, 50.0], 100_003);
        {
            let mut store = GpkgStore::open(&path, &layers, 6).unwrap();
            store
                .commit(&batch(vec![Change::Create(pole), Change::Create(gone)]))
                .unwrap();
            // What schema version 1 wrote: a numbers table with a row per serial.
            store
                .conn
                .execute_batch(
                    "DROP VIEW citytwin_numbers;
                     DELETE FROM citytwin_serials;
                     DELETE FROM poles WHERE fid = 3;
                     ALTER TABLE poles DROP COLUMN number_assigned;
                     ALTER TABLE manholes DROP COLUMN number_assigned;
                     CREATE TABLE citytwin_numbers (serial INTEGER NOT NULL PRIMARY KEY,
                       layer TEXT NOT NULL, object_id INTEGER NOT NULL,
                       assigned DATETIME NOT NULL, retired DATETIME);
                     INSERT INTO citytwin_numbers VALUES
                       (100001, 'poles', 1, '2026-01-01T00:00:00.000Z', NULL),
                       (100003, 'poles', 3, '2026-01-02T00:00:00.000Z', '2026-01-03T00:00:00.000Z'),
                       (100005, 'manholes', 7, '2026-01-04T00:00:00.000Z', NULL);
                     UPDATE citytwin_settings SET value = '1' WHERE key = 'schema_version';",
                )
                .unwrap();
        }
        let mut store = GpkgStore::open(&path, &layers, 6).unwrap();
        // The active number whose holder is gone (manhole 7 was never in its table) is kept
        // as retired from the migration on.
        let mut rows = numbers_view(&store.conn);
        let gone_holder = rows.pop().unwrap();
        assert_eq!(
            (
                gone_holder.0,
                gone_holder.1.as_str(),
                gone_holder.2,
                gone_holder.3.as_str()
            ),
            (100_005, "manholes", 7, "2026-01-04T00:00:00.000Z")
        );
        assert!(gone_holder.4.is_some());
        assert_eq!(
            rows,
            vec![
                (
                    100_001,
                    "poles".into(),
                    1,
                    "2026-01-01T00:00:00.000Z".into(),
                    None
                ),
                (
                    100_003,
                    "poles".into(),
                    3,
                    "2026-01-02T00:00:00.000Z".into(),
                    Some("2026-01-03T00:00:00.000Z".into())
                ),
            ]
        );
        assert_eq!(given(&store), vec![100_001, 100_003, 100_005]);
        let has_column: i64 = store
            .conn
            .query_one(
                "SELECT count(*) FROM pragma_table_info('manholes') WHERE name = 'number_assigned'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(has_column, 1);
        let version: String = store
            .conn
            .query_one(
                "SELECT value FROM citytwin_settings WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let again = crate::twin::tests::obj(5, poles, [32.0, 52.0], 100_003);
        let e = store
            .commit(&batch(vec![Change::Create(again)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("serial 100003 was already given"), "{e}");
    }

    /// Without the stop flag set on unwinding, this test would never end: the scope would wait
    /// for the flush helper forever.
    #[test]
    fn a_bulk_batch_that_panics_stops_its_flush_helper() {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers::default_city();
        let mut store = GpkgStore::open(&dir.path().join("s.gpkg"), &layers, 6).unwrap();
        let head = BatchHead {
            actor: "test".into(),
            action: "import".into(),
            history_per_create: false,
            bulk: true,
        };
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.in_batch(&head, |_, _| panic!("a bug while writing"))
        }));
        assert!(caught.is_err());
        // The store is still usable, and the next commit returns it to WAL.
        assert_eq!(store.last_seq().unwrap(), 0);
        let poles = layers.by_name("poles").unwrap();
        let o = crate::twin::tests::obj(1, poles, [30.0, 50.0], 100_001);
        store.commit(&batch(vec![Change::Create(o)])).unwrap();
        let mode: String = store
            .conn
            .query_one("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
