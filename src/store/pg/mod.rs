//! The PostGIS store: citytwin's tables in a PostgreSQL database with PostGIS, for a city that
//! runs several citytwin instances over one database.
//!
//! The same tables as the GeoPackage store (see [`super::gpkg`]) with the same meaning: a
//! table per layer (`geometry(…, 4326)` with a GiST index, the attributes as `json`),
//! `citytwin_serials` (every serial ever given, a bit each, in rows of 1024),
//! `citytwin_retired_numbers`, the hash-chained `citytwin_history`, `citytwin_tokens`,
//! `citytwin_photos`, `citytwin_settings`, and the `citytwin_numbers` view. Times are kept as
//! the same RFC 3339 texts, so the history hashes alike in both stores and a store moves
//! between them unchanged. The schema is versioned (`citytwin_migrations`) and brought up to
//! date on open.
//!
//! Every write takes one transaction-scoped advisory lock ([`WRITE_LOCK`]) before it reads
//! anything: writes of all instances are serialized, so the history's head, the next free id
//! and the serials given are read and written by one writer at a time, and a number is never
//! given twice, also by two instances at once. Reads take no lock. A committed write sends
//! `NOTIFY citytwin_changes` with its history sequence number, inside its transaction (so
//! only once it is committed).
//!
//! Connections come from a pool (`deadpool-postgres`) driven by a small runtime of the store's
//! own; the store's interface is synchronous, like the GeoPackage store's, and its callers
//! (the registry, the commands) wait for each call. Geometry travels as EWKB through geozero.
//! Bulk imports write rows with `COPY … FROM STDIN BINARY`.

mod batch;
mod geom;
pub mod listen;
mod load;
mod moves;
mod reads;
mod schema;

use std::future::Future;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::{
    Batch, BatchHead, Change, HistoryEntry, Kept, LayerPlan, Part, Photo, Store, StoreError,
    Unless, chain,
};
use crate::access::tokens::{NewToken, TokenRecord};
use crate::model::{Layers, Object, ObjectId};

/// The key of the advisory lock every write holds for its transaction (any fixed number; this
/// one spells "citytwin" in its bytes' first letters).
pub const WRITE_LOCK: i64 = 0x6369_7479_7477_696e;

/// The channel committed writes are announced on, with their history sequence number.
pub const CHANNEL: &str = "citytwin_changes";

/// Connections the store keeps at most unless told (`[store] postgres_pool`): reads at start
/// use them side by side; every other call uses one at a time.
pub const DEFAULT_POOL: usize = 4;

/// How long a call waits for a connection (to be free, or to be made) before it fails.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The PostGIS store.
pub struct PgStore {
    /// Always there until the store is dropped (see the `Drop` impl).
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// The database as shown in messages: its URL without user or password.
    shown: String,
    layers: Layers,
    width: u8,
    next_id: ObjectId,
    /// See [`Store::last_written`].
    written: Option<(u64, u64)>,
}

impl PgStore {
    /// Opens the store in the database at `url` (`postgresql://…`), creating citytwin's tables
    /// (with `layers` and serial `width`) if absent and bringing an older schema up to date.
    /// An existing store keeps its serial width; layers named in `layers` but missing get
    /// their tables. `pool` is the most connections it keeps (at least 1).
    pub fn open(url: &str, layers: &Layers, width: u8, pool: usize) -> Result<PgStore, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Invalid {
            path: redact(url),
            reason: format!("not a PostgreSQL connection URL: {e}"),
        })?;
        let shown = shown(&config);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("store-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Invalid {
                path: shown.clone(),
                reason: format!("cannot start the store's runtime: {e}"),
            })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Invalid {
                path: shown.clone(),
                reason: format!("cannot make the connection pool: {e}"),
            })?;
        let mut store = PgStore {
            rt: Some(rt),
            pool,
            shown,
            layers: layers.clone(),
            width,
            next_id: 1,
            written: None,
        };
        let (width, next_id) = store.run(schema::migrate(
            &store,
            layers,
            width,
            store.pool.status().max_size,
        ))?;
        store.width = width;
        store.next_id = next_id;
        Ok(store)
    }

    /// Notes a committed batch; its last history entry's sequence number.
    fn written(&mut self, w: batch::Written) -> u64 {
        self.next_id = w.next_id;
        self.written = Some((w.before, w.seq));
        w.seq
    }

    /// The database as shown in messages (no user or password).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Runs `f` on the store's runtime and waits for it. The caller's thread only waits
    /// (whatever runtime it belongs to); the connections' I/O runs on the store's own.
    fn run<F: Future>(&self, f: F) -> F::Output {
        let _inside = self.rt.as_ref().map(|rt| rt.enter());
        futures_executor::block_on(f)
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Unavailable {
            path: self.shown.clone(),
            reason: e.to_string(),
        })
    }

    /// The error of a statement.
    fn pg(&self) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
        |source| pg_error(&self.shown, source)
    }

    /// Opens a write: a transaction holding [`WRITE_LOCK`].
    async fn write_tx<'c>(
        &self,
        client: &'c mut deadpool_postgres::Object,
    ) -> Result<deadpool_postgres::Transaction<'c>, StoreError> {
        let tx = client.transaction().await.map_err(self.pg())?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .await
            .map_err(self.pg())?;
        Ok(tx)
    }
}

impl Drop for PgStore {
    /// The runtime is let go without waiting for its tasks (the connections, which close):
    /// a store may be dropped where waiting is not allowed (inside the server's runtime).
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A statement's error, named by the database.
fn pg_error(shown: &str, source: tokio_postgres::Error) -> StoreError {
    // A lost connection is the database being away, not a bad request.
    let io = std::error::Error::source(&source).is_some_and(|s| s.is::<std::io::Error>());
    if source.is_closed() || io {
        return StoreError::Unavailable {
            path: shown.to_string(),
            reason: source.to_string(),
        };
    }
    StoreError::Postgres {
        path: shown.to_string(),
        source,
    }
}

/// `postgresql://host:port/db` of a connection's configuration: no user, no password.
fn shown(c: &tokio_postgres::Config) -> String {
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgresql://{host}:{port}/{}",
        c.get_dbname().unwrap_or_default()
    )
}

/// A URL that could not be read, without what may be a password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

impl Store for PgStore {
    fn layers(&self) -> &Layers {
        &self.layers
    }

    fn kind(&self) -> &'static str {
        "postgis"
    }

    fn serial_width(&self) -> u8 {
        self.width
    }

    fn plan(&mut self) -> Result<Vec<LayerPlan>, StoreError> {
        self.run(self.plan_layers())
    }

    fn load_layer(&mut self, plan: &LayerPlan) -> Result<Vec<Vec<Object>>, StoreError> {
        self.run(self.read_layer(plan))
    }

    fn serials(&mut self) -> Result<fixedbitset::FixedBitSet, StoreError> {
        self.run(async {
            let c = self.client().await?;
            batch::read_serials(&c, self.width)
                .await
                .map_err(|e| e.named(&self.shown))
        })
    }

    fn reserve_ids(&mut self, n: u64) -> Result<ObjectId, StoreError> {
        let ours = self.next_id as i64;
        let first: i64 = self.run(async {
            let c = self.client().await?;
            // One statement: another instance reserving at the same time gets other ids.
            let row = c
                .query_one(
                    "UPDATE citytwin_settings \
                     SET value = (greatest(value::bigint, $1) + $2)::text \
                     WHERE key = 'next_id' RETURNING value::bigint - $2",
                    &[&ours, &(n as i64)],
                )
                .await
                .map_err(self.pg())?;
            Ok::<_, StoreError>(row.get(0))
        })?;
        self.next_id = first as ObjectId + n;
        Ok(first as ObjectId)
    }

    fn commit(&mut self, batch: &Batch) -> Result<u64, StoreError> {
        let head = BatchHead {
            actor: batch.actor.clone(),
            action: batch.action.clone(),
            history_per_create: batch.history_per_create,
            bulk: batch.changes.len() > 10_000,
        };
        let w = self.run(self.write_batch(&head, &batch.changes, batch.summary.clone()))?;
        Ok(self.written(w))
    }

    fn commit_parts(
        &mut self,
        head: &BatchHead,
        parts: std::sync::mpsc::Receiver<Part>,
        first_id: &mut dyn FnMut(ObjectId),
        written: &mut dyn FnMut(Vec<Change>),
    ) -> Result<u64, StoreError> {
        let w = self.run(self.write_parts(head, parts, first_id, written))?;
        Ok(self.written(w))
    }

    fn last_seq(&mut self) -> Result<u64, StoreError> {
        self.run(self.newest_seq())
    }

    fn history(
        &mut self,
        object: Option<ObjectId>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.run(self.read_history(object, None, limit))
    }

    fn history_of(&mut self, action: &str, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        self.run(self.read_history(None, Some(action), limit))
    }

    fn object_of_number(&mut self, number: &str) -> Result<Option<(ObjectId, String)>, StoreError> {
        self.run(self.holder_of_number(number))
    }

    fn verify_history(&mut self) -> Result<chain::Verdict, StoreError> {
        self.run(self.verify_chain())
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        self.run(self.read_tokens())
    }

    fn add_token(&mut self, t: &NewToken, actor: &str) -> Result<i64, StoreError> {
        self.run(self.insert_token(t, actor))
    }

    fn revoke_token(&mut self, id: i64, actor: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.run(self.revoke(id, actor))
    }

    fn record(
        &mut self,
        actor: &str,
        action: &str,
        new: &serde_json::Value,
    ) -> Result<(u64, String), StoreError> {
        let mut kept =
            self.run(self.record_entries(actor, &[(action, new.clone())], None, None))?;
        kept.pop().ok_or_else(|| StoreError::Invalid {
            path: self.shown.clone(),
            reason: "an entry was not appended".into(),
        })
    }

    fn record_all(
        &mut self,
        actor: &str,
        entries: &[(&str, serde_json::Value)],
        photo: Option<&Photo>,
        unless: Option<Unless<'_>>,
    ) -> Result<Vec<u64>, StoreError> {
        Ok(self
            .run(self.record_entries(actor, entries, photo, unless))?
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
        self.run(self.read_history_after(after, actions, limit))
    }

    fn photo(&mut self, key: &str) -> Result<Option<Photo>, StoreError> {
        self.run(self.read_photo(key))
    }

    fn setting(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.run(async {
            let c = self.client().await?;
            reads::read_setting(&c, key).await.map_err(self.pg())
        })
    }

    fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.run(async {
            let c = self.client().await?;
            reads::write_setting(&c, key, value)
                .await
                .map_err(self.pg())
        })
    }

    fn objects_between(&mut self, lo: ObjectId, hi: ObjectId) -> Result<Vec<Object>, StoreError> {
        self.run(self.read_between(lo, hi))
    }

    fn last_written(&self) -> Option<(u64, u64)> {
        self.written
    }

    fn kept(&mut self) -> Result<Kept, StoreError> {
        self.run(self.read_kept())
    }

    fn fill(&mut self, kept: &Kept, objects: &[Object]) -> Result<(), StoreError> {
        self.run(self.fill_from(kept, objects))?;
        let moved = kept.settings.iter().find(|(k, _)| k == "next_id");
        if let Some(n) = moved.and_then(|(_, v)| v.parse::<ObjectId>().ok()) {
            self.next_id = self.next_id.max(n);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_user_or_password() {
        let c: tokio_postgres::Config = "postgresql://ann:secret@db.example:6432/city"
            .parse()
            .unwrap();
        assert_eq!(shown(&c), "postgresql://db.example:6432/city");
        assert_eq!(
            redact("postgresql://ann:secret@db.example/city?x=%"),
            "postgresql://…@db.example/city?x=%"
        );
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn a_bad_url_is_refused_with_the_url_shown_without_its_password() {
        let layers = Layers::default_city();
        let e = PgStore::open("postgresql://ann:secret@h/db?sslmode=bogus", &layers, 6, 1)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("not a PostgreSQL connection URL"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }
}
