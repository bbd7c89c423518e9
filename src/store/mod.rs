//! The store: where objects live on disk. Writes are transactions; every change is kept in a
//! history table. The embedded default is a GeoPackage file ([`gpkg::GpkgStore`]).

pub mod chain;
pub mod gpkg;
mod inplace;
pub mod pg;
mod serials;
mod time;

pub use time::{format_ms, parse_ms};

use fixedbitset::FixedBitSet;

use crate::model::{LayerId, Layers, Object, ObjectId};

/// What the store holds of one layer, known before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerPlan {
    pub layer: LayerId,
    /// The smallest object id in the layer (0 when empty).
    pub min_id: ObjectId,
    /// Objects in the layer: exact for small layers, estimated for large ones.
    pub count: usize,
    /// The largest object id in the layer (0 when empty).
    pub max_id: ObjectId,
}

/// A guard on an append ([`Store::record_all`]): refuse it when the history holds an entry of
/// one of `actions` after sequence number `after`.
#[derive(Debug, Clone, Copy)]
pub struct Unless<'a> {
    pub after: u64,
    pub actions: &'a [&'a str],
}

impl Unless<'_> {
    /// The refusal, for the store at `path`.
    pub fn stale(&self, path: &str) -> StoreError {
        StoreError::Stale {
            path: path.to_string(),
            after: self.after,
            actions: self.actions.join(", "),
        }
    }
}

/// A store error, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("store {path}: {reason}")]
    Invalid { path: String, reason: String },
    /// A statement the PostgreSQL server refused or could not run.
    #[error("store {path}: {source}")]
    Postgres {
        path: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// The database cannot be reached (down, restarting, or the connection was lost): nothing
    /// of the call was written; it may be tried again.
    #[error("store {path}: the database is unavailable: {reason}")]
    Unavailable { path: String, reason: String },
    /// An append guarded by [`Unless`] found a newer entry of its actions (another instance
    /// wrote one meanwhile): nothing was written; read the history again and retry.
    #[error(
        "store {path}: the history has an entry of {actions:?} after {after}; nothing was written"
    )]
    Stale {
        path: String,
        after: u64,
        actions: String,
    },
    /// A batch written in parts ended without its last part: nothing of it was written.
    #[error("store {path}: the batch was abandoned before its end; nothing of it was written")]
    Abandoned { path: String },
    #[error("store {path}: layer {layer:?} object {fid}: {reason}")]
    BadRow {
        path: String,
        layer: String,
        fid: i64,
        reason: String,
    },
}

/// One change to one object.
#[derive(Debug, Clone)]
pub enum Change {
    Create(Object),
    /// The old state boxed: a batch of millions of creations stays the size of one object each.
    Update {
        old: Box<Object>,
        new: Object,
    },
    Delete(Object),
}

impl Change {
    pub fn object(&self) -> &Object {
        match self {
            Change::Create(o) | Change::Delete(o) | Change::Update { new: o, .. } => o,
        }
    }
}

/// Changes written in one transaction, by one actor.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Who made the change (a user, a token name, `import`, `cli`).
    pub actor: String,
    /// What kind of change: `import`, `edit`, `number`, `delete`, `seed`.
    pub action: String,
    /// A summary kept in the history (e.g. the imported file, counts, rejects).
    pub summary: serde_json::Value,
    pub changes: Vec<Change>,
    /// Keep one history row per created object. Bulk imports record creations in the batch's
    /// summary row instead (which names the id range), so a 10M-object import stays fast; updates
    /// and deletes always get a row each with old and new state.
    pub history_per_create: bool,
}

/// What a batch written in parts ([`Store::commit_parts`]) says before its changes arrive.
#[derive(Debug, Clone)]
pub struct BatchHead {
    pub actor: String,
    pub action: String,
    /// As [`Batch::history_per_create`].
    pub history_per_create: bool,
    /// Many changes are expected (more than ten thousand): the store may prepare for a bulk
    /// write.
    pub bulk: bool,
}

/// One message to a batch being written in parts, in order.
pub enum Part {
    /// Changes to write (ids already given, from the first id the store handed out).
    Changes(Vec<Change>),
    /// Asks for every serial ever given out, as the open transaction sees it (this batch's
    /// own numbers are recorded at its end, so they are not among them).
    Serials(std::sync::mpsc::SyncSender<Result<FixedBitSet, StoreError>>),
    /// The end: the batch's summary (kept in the history) and the first object id it left
    /// unused. Only now is the batch committed.
    Finish {
        summary: serde_json::Value,
        next_id: ObjectId,
    },
}

/// The summary row of a batch, when it gets one: the batch's `summary` with what it did (created,
/// updated, deleted, and the ids it touched, lowest and highest) — one row for the batch,
/// unless it was a single object with a row of its own. Shared by the stores' writers.
pub(crate) fn summary_entry(
    head: &BatchHead,
    at: &str,
    mut summary: serde_json::Value,
    counts: [u64; 3],
    (first_id, last_id): (ObjectId, ObjectId),
) -> Option<chain::Entry> {
    if let Some(m) = summary.as_object_mut() {
        m.insert("created".into(), counts[0].into());
        m.insert("updated".into(), counts[1].into());
        m.insert("deleted".into(), counts[2].into());
        if first_id <= last_id {
            m.insert("ids".into(), serde_json::json!([first_id, last_id]));
        }
    }
    let changed: u64 = counts.iter().sum();
    (changed > 0 && (!head.history_per_create || changed > 1)).then(|| chain::Entry {
        at: at.to_string(),
        actor: head.actor.clone(),
        action: head.action.clone(),
        new: Some(summary.to_string()),
        ..Default::default()
    })
}

/// The history row of one change: the object's state before and after (a creation gets one
/// only when the batch keeps a row per created object). `number` is the object's number as
/// painted. Shared by the stores' writers.
pub(crate) fn change_entry(
    head: &BatchHead,
    at: &str,
    change: &Change,
    layers: &Layers,
    width: u8,
    number: Option<String>,
) -> Option<chain::Entry> {
    let json = |o: &Object| Some(gpkg::object_json(o, layers, width).to_string());
    let (old, new) = match change {
        Change::Create(o) if head.history_per_create => (None, json(o)),
        Change::Create(_) => return None,
        Change::Update { old, new } => (json(old), json(new)),
        Change::Delete(o) => (json(o), None),
    };
    let o = change.object();
    Some(chain::Entry {
        at: at.to_string(),
        actor: head.actor.clone(),
        action: head.action.clone(),
        layer: Some(layers.def(o.layer).name.clone()),
        object_id: Some(o.id as i64),
        number,
        old,
        new,
        ..Default::default()
    })
}

/// Why a serial is refused: it was given before.
pub(crate) fn given_before(s: u32) -> String {
    format!("serial {s} was already given to another object; numbers are never reused")
}

/// The serial of an object's number of citytwin's scheme.
pub(crate) fn scheme_serial(o: &Object) -> Option<u32> {
    match &o.number {
        Some(crate::numbering::Number::Scheme { serial, .. }) => Some(*serial),
        _ => None,
    }
}

/// A row of the change history.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub seq: i64,
    /// RFC 3339 time of the change.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub layer: Option<String>,
    pub object_id: Option<u64>,
    pub number: Option<String>,
    #[schema(value_type = Object)]
    pub old: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub new: Option<serde_json::Value>,
    /// This entry's link in the hash chain (SHA-256, hex).
    pub hash: Option<String>,
}

/// A photo kept with a resident's report: already re-encoded (no metadata), named by the
/// SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub key: String,
    /// `image/jpeg` or `image/png`.
    pub mime: String,
    pub bytes: Vec<u8>,
}

/// Everything a store keeps besides its objects' rows, as stored (times as the texts written),
/// for moving a store from one kind to the other (`citytwin migrate`): nothing is recomputed,
/// so the history's hashes, the tokens' ids and the numbers' dates come across unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kept {
    /// `citytwin_settings` (the serial width, the next free id, the history's head…), by key;
    /// without the GeoPackage's own `schema_version`.
    pub settings: Vec<(String, String)>,
    /// `citytwin_serials`: (block, bits), by block.
    pub serials: Vec<(i64, Vec<u8>)>,
    /// `citytwin_retired_numbers`, by serial.
    pub retired: Vec<Retired>,
    /// The hash-chained history, by sequence number.
    pub history: Vec<chain::Entry>,
    /// `citytwin_tokens`, by id (hashes only).
    pub tokens: Vec<TokenRow>,
    /// `citytwin_photos`, by key.
    pub photos: Vec<Photo>,
    /// Objects whose number was given after they were created: (id, when), by id.
    pub assigned: Vec<(ObjectId, String)>,
}

/// A retired number as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Retired {
    pub serial: i64,
    pub layer: String,
    pub object_id: i64,
    pub assigned: String,
    pub retired: String,
}

/// A token as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub hash: String,
    pub created: String,
    pub expires: Option<String>,
    pub revoked: Option<String>,
}

/// What every store can do. The twin loads from it at start and writes through it.
pub trait Store: Send {
    fn layers(&self) -> &Layers;
    /// What kind of store: `geopackage` or `postgis`.
    fn kind(&self) -> &'static str;
    /// Digits in a serial, fixed when the store was created.
    fn serial_width(&self) -> u8;
    /// What each layer holds, before it is read.
    fn plan(&mut self) -> Result<Vec<LayerPlan>, StoreError>;
    /// Reads every object of one layer, in id order, in chunks (one per reader thread's share
    /// of the work).
    fn load_layer(&mut self, plan: &LayerPlan) -> Result<Vec<Vec<Object>>, StoreError>;
    /// Every serial ever given out (active and retired), one bit each.
    fn serials(&mut self) -> Result<FixedBitSet, StoreError>;
    /// Reserves `n` fresh object ids (never reused, even if the batch using them fails).
    fn reserve_ids(&mut self, n: u64) -> Result<ObjectId, StoreError>;
    /// Writes a batch in one transaction: all of it or nothing. Returns once it is durable,
    /// with the history sequence number of the batch's last history row.
    fn commit(&mut self, batch: &Batch) -> Result<u64, StoreError>;
    /// Writes a batch whose changes arrive in parts from another thread, all in one
    /// transaction, so that writing overlaps with reading and checking the rest. Once the
    /// transaction is open, `first_id` is told the first free object id (read inside it, so no
    /// other process can take the same ids); the ids of created objects count up from there.
    /// Each part's changes are handed to `written` once they are in the transaction. The batch
    /// is committed at [`Part::Finish`]; if `parts` ends before it, or any part fails, nothing
    /// is written. Returns, once durable, the history sequence number of the batch's last row.
    fn commit_parts(
        &mut self,
        head: &BatchHead,
        parts: std::sync::mpsc::Receiver<Part>,
        first_id: &mut dyn FnMut(ObjectId),
        written: &mut dyn FnMut(Vec<Change>),
    ) -> Result<u64, StoreError>;
    /// The newest history sequence number (0 for an empty history): a data version that only
    /// grows, also across restarts.
    fn last_seq(&mut self) -> Result<u64, StoreError>;
    /// History, newest first; `object` narrows to one object.
    fn history(
        &mut self,
        object: Option<ObjectId>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError>;
    /// The object (id and layer name) that last carried the painted `number` in the history,
    /// also one deleted since.
    fn object_of_number(&mut self, number: &str) -> Result<Option<(ObjectId, String)>, StoreError>;
    /// Walks the hash-chained history and names every entry that was edited, deleted or
    /// moved.
    fn verify_history(&mut self) -> Result<chain::Verdict, StoreError>;
    /// Every API token (hashes only; revoked and expired ones too).
    fn tokens(&mut self) -> Result<Vec<crate::access::tokens::TokenRecord>, StoreError>;
    /// Stores a new token and records it in the history; returns its id.
    fn add_token(
        &mut self,
        t: &crate::access::tokens::NewToken,
        actor: &str,
    ) -> Result<i64, StoreError>;
    /// Revokes a token (recorded in the history); `None` when there is no such token.
    fn revoke_token(
        &mut self,
        id: i64,
        actor: &str,
    ) -> Result<Option<crate::access::tokens::TokenRecord>, StoreError>;
    /// The newest `limit` history entries of one action (`call`, `import`, …), newest first.
    fn history_of(&mut self, action: &str, limit: usize) -> Result<Vec<HistoryEntry>, StoreError>;
    /// Appends one entry that changes no object (a dispatcher's call record, say) to the
    /// hash-chained history, durably; returns its sequence number and hash.
    fn record(
        &mut self,
        actor: &str,
        action: &str,
        new: &serde_json::Value,
    ) -> Result<(u64, String), StoreError>;
    /// Appends several entries that change no object (a report and the change of its
    /// incident, say) and, with them, a photo, in one transaction: all of it or nothing,
    /// durable when this returns. Returns each entry's sequence number. With `unless`, the
    /// append is refused ([`StoreError::Stale`]) when the history already holds a newer entry
    /// of the given actions: the check and the append are one transaction, under the lock
    /// every writer of this store takes, so a writer that numbers entries from what it read
    /// (a report's and an incident's ids) never gives a number another instance gave.
    fn record_all(
        &mut self,
        actor: &str,
        entries: &[(&str, serde_json::Value)],
        photo: Option<&Photo>,
        unless: Option<Unless<'_>>,
    ) -> Result<Vec<u64>, StoreError>;
    /// History entries after sequence number `after`, oldest first, of the given actions (of
    /// every action when `actions` is empty), at most `limit`.
    fn history_after(
        &mut self,
        after: u64,
        actions: &[&str],
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError>;
    /// A photo kept by [`Store::record_all`].
    fn photo(&mut self, key: &str) -> Result<Option<Photo>, StoreError>;
    fn setting(&mut self, key: &str) -> Result<Option<String>, StoreError>;
    fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Every object whose id is in `lo..=hi`, of any layer, as stored now.
    fn objects_between(&mut self, lo: ObjectId, hi: ObjectId) -> Result<Vec<Object>, StoreError>;
    /// Where this handle's last object write ([`Store::commit`], [`Store::commit_parts`]) went
    /// in the history: the newest entry before it and its own last entry. `None` when the store
    /// does not say; then only [`Store::history_after`] tells others' writes from one's own.
    fn last_written(&self) -> Option<(u64, u64)> {
        None
    }
    /// Everything the store keeps besides the objects' rows, as stored (see [`Kept`]).
    fn kept(&mut self) -> Result<Kept, StoreError>;
    /// Fills an empty store (no object, no history, no token) with `kept` and `objects` as
    /// they were stored elsewhere, in one transaction: all of it or nothing. A store holding
    /// anything is refused.
    fn fill(&mut self, kept: &Kept, objects: &[Object]) -> Result<(), StoreError>;
}
