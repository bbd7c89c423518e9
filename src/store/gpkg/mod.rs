//! The embedded store: an OGC GeoPackage 1.3 file on SQLite.
//!
//! One feature table per layer (readable by QGIS and GDAL), each with the GeoPackage spatial
//! index that GIS tools query (`rtree_<layer>_geom`, see `rtree`), plus citytwin's own tables:
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
//!
//! One file per part: `schema` (the tables and the numbers view), `migrate` (a store of an
//! older citytwin brought up to date), `blob` (the geometry blob), `load` (reading every
//! object at start), `write` (a batch's transaction), `batch` (what a batch writes),
//! `rows` (a layer's row inserts), `encode` (column values), `rtree` (the spatial index),
//! `rtree_pack` (an index written at once) and `functions` (the SQL functions its triggers
//! call), `history` (the hash-chained history), `tokens`, `settings` and `file` (the store
//! file outside SQLite).

mod batch;
mod blob;
mod encode;
mod file;
mod functions;
mod history;
mod load;
mod migrate;
mod moves;
mod rows;
mod rtree;
mod rtree_pack;
mod schema;
mod settings;
mod tokens;
mod write;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

pub use blob::{decode_geometry, encode_geometry, envelope};
pub use encode::{attributes_json, object_json};
use history::last_seq;
use migrate::{adopt_unchained_history, migrate_numbers, migrate_spatial_index};
use schema::{
    APPLICATION_ID, SCHEMA, SCHEMA_VERSION, USER_VERSION, create_layer_table, ensure_numbers_view,
};
use settings::{read_setting, write_setting};

use super::{
    Batch, BatchHead, Change, HistoryEntry, LayerPlan, Part, Store, StoreError, chain, serials,
};
use crate::access::tokens::{NewToken, TokenRecord};
use crate::model::{Layers, Object, ObjectId};

/// Page cache during a bulk write unless configured (`bulk_cache_mib`), in MiB.
pub const DEFAULT_BULK_CACHE_MIB: u32 = 256;

/// How long a write waits for another process's transaction before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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
        functions::register(&conn).map_err(|e| sql(&shown, e))?;
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
        migrate_spatial_index(&tx, &self.layers).map_err(|err| sql(&p, err))?;
        ensure_numbers_view(&tx, &self.layers).map_err(|err| sql(&p, err))?;
        tx.commit().map_err(|err| sql(&p, err))?;
        Ok(())
    }
}

fn sql(path: &str, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_string(),
        source,
    }
}

impl Store for GpkgStore {
    fn layers(&self) -> &Layers {
        &self.layers
    }

    fn kind(&self) -> &'static str {
        "geopackage"
    }

    fn serial_width(&self) -> u8 {
        self.width
    }

    fn plan(&mut self) -> Result<Vec<LayerPlan>, StoreError> {
        self.plan_layers()
    }

    fn load_layer(&mut self, plan: &LayerPlan) -> Result<Vec<Vec<Object>>, StoreError> {
        self.read_layer(plan)
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
        self.write_parts(head, parts, first_id, written)
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
        self.read_history(object, None, limit)
    }

    fn history_of(&mut self, action: &str, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        self.read_history(None, Some(action), limit)
    }

    fn object_of_number(&mut self, number: &str) -> Result<Option<(ObjectId, String)>, StoreError> {
        self.holder_of_number(number)
    }

    fn verify_history(&mut self) -> Result<chain::Verdict, StoreError> {
        self.verify_chain()
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read_tokens()
    }

    fn add_token(&mut self, t: &NewToken, actor: &str) -> Result<i64, StoreError> {
        self.insert_token(t, actor)
    }

    fn revoke_token(&mut self, id: i64, actor: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.revoke(id, actor)
    }

    fn record(
        &mut self,
        actor: &str,
        action: &str,
        new: &serde_json::Value,
    ) -> Result<(u64, String), StoreError> {
        self.record_entry(actor, action, new)
    }

    fn record_all(
        &mut self,
        actor: &str,
        entries: &[(&str, serde_json::Value)],
        photo: Option<&crate::store::Photo>,
        unless: Option<crate::store::Unless<'_>>,
    ) -> Result<Vec<u64>, StoreError> {
        Ok(self
            .record_entries(actor, entries, photo, unless)?
            .into_iter()
            .map(|(seq, _)| seq)
            .collect())
    }

    fn history_after(
        &mut self,
        after: u64,
        actions: &[&str],
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.read_history_after(after, actions, limit)
    }

    fn photo(&mut self, key: &str) -> Result<Option<crate::store::Photo>, StoreError> {
        self.read_photo(key)
    }

    fn setting(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        let p = self.shown();
        read_setting(&self.conn, key).map_err(|e| sql(&p, e))
    }

    fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        let p = self.shown();
        write_setting(&self.conn, key, value).map_err(|e| sql(&p, e))
    }

    fn objects_between(&mut self, lo: ObjectId, hi: ObjectId) -> Result<Vec<Object>, StoreError> {
        self.read_between(lo, hi)
    }

    fn kept(&mut self) -> Result<crate::store::Kept, StoreError> {
        self.read_kept()
    }

    fn fill(&mut self, kept: &crate::store::Kept, objects: &[Object]) -> Result<(), StoreError> {
        self.fill_from(kept, objects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An edit by `test` with a history row per created object.
    pub(super) fn batch(changes: Vec<Change>) -> Batch {
        Batch {
            actor: "test".into(),
            action: "edit".into(),
            summary: serde_json::json!({}),
            changes,
            history_per_create: true,
        }
    }

    /// The `citytwin_numbers` view's rows: serial, layer, object, assigned, retired.
    pub(super) type NumberRow = (i64, String, i64, String, Option<String>);

    pub(super) fn numbers_view(conn: &Connection) -> Vec<NumberRow> {
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

    pub(super) fn given(store: &GpkgStore) -> Vec<usize> {
        serials::read(&store.conn, store.width)
            .unwrap()
            .ones()
            .collect()
    }
}
