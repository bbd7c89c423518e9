//! The registry: the store and the twin kept together. Every write goes to the store first
//! (one transaction), then to the twin, so the twin never shows what the store does not hold.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use fixedbitset::FixedBitSet;

use crate::import::Parsed;
use crate::model::{Draft, LayerId, Object, ObjectId, now_ms};
use crate::numbering::{self, AssignError, Assigner, Number};
use crate::store::{Batch, BatchHead, Change, Part, Store, StoreError};
use crate::twin::{Changed, Follower, Twin};

/// A registry error.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Assign(#[from] AssignError),
    #[error(
        "{file}: record {id}: number {number:?} is already held by object {holder}; numbers are unique and never reused"
    )]
    NumberTaken {
        file: String,
        id: String,
        number: String,
        holder: ObjectId,
    },
    #[error("{file}: record {id}: number {number:?} was retired; numbers are never reused")]
    NumberRetired {
        file: String,
        id: String,
        number: String,
    },
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    #[error("the store's writer stopped before the import was complete")]
    WriterStopped,
    #[error("nothing to import: {0}")]
    Empty(String),
    #[error("object {0} does not exist (any more)")]
    Gone(ObjectId),
    #[error("the store is not available: a previous write failed badly ({0})")]
    Poisoned(String),
}

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub numbered: usize,
    pub rejected: usize,
    pub duplicates: usize,
    /// Objects per layer name after the import.
    pub per_layer: Vec<(String, usize)>,
}

/// What runs after a catch-up with other instances' writes.
pub type CatchUpHook = std::sync::Arc<dyn Fn(&Registry) + Send + Sync>;

/// The store and the twin.
pub struct Registry {
    store: Mutex<Box<dyn Store>>,
    twin: RwLock<Twin>,
    radius_m: f64,
    /// Built on the first numbering and kept up to date by every commit; used under the
    /// store lock only.
    assigner: Mutex<Option<Assigner>>,
    /// Off for one-shot command-line writes: the process ends after the commit, so rebuilding
    /// the in-memory index would be wasted work.
    twin_follows: std::sync::atomic::AtomicBool,
    /// Told of every change to the twin (tile caches).
    followers: RwLock<Vec<std::sync::Arc<dyn Follower>>>,
    /// Called after every commit that added to the history (the live events).
    on_commit: RwLock<Vec<std::sync::Arc<dyn Fn() + Send + Sync>>>,
    /// The newest history entry the twin follows: this instance's own writes and, through
    /// [`Registry::catch_up`], those of every other instance sharing the store.
    applied: std::sync::atomic::AtomicU64,
    /// The store's kind (`geopackage`, `postgis`).
    kind: &'static str,
    /// Called after every catch-up with other instances' writes, without the store's lock
    /// (the residents' incidents read the history themselves).
    after_catch_up: RwLock<Vec<CatchUpHook>>,
    /// Whether the feed of other instances' writes is connected (a shared store only).
    pub feed: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// A change to one object's status and attributes (`PATCH /objects/{number}`).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// New status: ok, broken, closed, removed, unknown.
    pub status: Option<crate::model::Status>,
    /// Attributes to set; a null value removes the attribute.
    #[schema(value_type = Object)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// New position or route (GeoJSON geometry of the layer's kind).
    #[schema(value_type = Object)]
    pub geometry: Option<crate::model::Geometry>,
}

impl Registry {
    /// Loads every object of the store into a new twin.
    pub fn open(mut store: Box<dyn Store>, radius_m: f64) -> Result<Registry, RegistryError> {
        let started = std::time::Instant::now();
        let plan = store.plan()?;
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "store planned");
        let (layers, width) = (store.layers().clone(), store.serial_width());
        let mut twin = Twin::load(layers, width, &plan, |p| store.load_layer(p))?;
        let applied = store.last_seq()?;
        twin.set_versions(applied);
        tracing::info!(
            objects = twin.len(),
            ms = started.elapsed().as_millis() as u64,
            "twin loaded and indexed"
        );
        let kind = store.kind();
        Ok(Registry {
            store: Mutex::new(store),
            twin: RwLock::new(twin),
            radius_m,
            assigner: Mutex::new(None),
            twin_follows: std::sync::atomic::AtomicBool::new(true),
            followers: RwLock::new(Vec::new()),
            on_commit: RwLock::new(Vec::new()),
            applied: std::sync::atomic::AtomicU64::new(applied),
            after_catch_up: RwLock::new(Vec::new()),
            kind,
            feed: std::sync::OnceLock::new(),
        })
    }

    /// Tells `f` of every change to the twin from now on.
    pub fn follow(&self, f: std::sync::Arc<dyn Follower>) {
        self.followers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(f);
    }

    /// Calls `f` after every commit that added to the history, once the twin follows it.
    pub fn on_commit(&self, f: std::sync::Arc<dyn Fn() + Send + Sync>) {
        self.on_commit
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(f);
    }

    fn committed(&self) {
        for f in self
            .on_commit
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            f();
        }
    }

    /// Stops updating the twin after commits (for a command that exits after writing). Reads
    /// of the twin then show the state before the writes.
    pub fn stop_following(&self) {
        self.twin_follows
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Reads the twin. Never held across a write.
    pub fn twin(&self) -> RwLockReadGuard<'_, Twin> {
        // A panic while holding the lock cannot leave the twin half-changed (writes replace
        // whole objects), so a poisoned lock is still safe to read.
        self.twin.read().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_store(&self) -> std::sync::MutexGuard<'_, Box<dyn Store>> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The one write path (call with the store lock held): commit the batch, then keep the
    /// cached assigner and the twin in step, in commit order. A failed commit drops the cached
    /// assigner, which may already have noted serials the store never got.
    fn write(&self, store: &mut dyn Store, batch: Batch) -> Result<(), RegistryError> {
        let seq = store
            .commit(&batch)
            .inspect_err(|_| self.forget_assigner())?;
        self.follow_own(store, vec![batch.changes], seq);
        Ok(())
    }

    /// After a commit of this instance: the writes of other instances that came before it in
    /// the history (a shared store) are followed first, then its own, in history order.
    fn follow_own(&self, store: &mut dyn Store, parts: Vec<Vec<Change>>, seq: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        let mut caught_up = true;
        if let Some((before, own_last)) = store.last_written()
            && own_last == seq
        {
            let applied = self.applied.load(SeqCst);
            if before > applied
                && let Err(err) = self.follow_others(store, applied, before)
            {
                tracing::warn!(%err, "could not read the writes of other instances; the next catch-up reads them");
                caught_up = false;
            }
        }
        self.follow_commit(parts, seq);
        if caught_up {
            self.applied.fetch_max(seq, SeqCst);
        }
    }

    /// The store's kind (`geopackage`, `postgis`).
    pub fn store_kind(&self) -> &'static str {
        self.kind
    }

    /// Follows the writes other instances made to a shared store since the twin last
    /// followed it: every object they created, changed or deleted is read from the store and
    /// put into the twin (tiles, resolver and nearest follow it), and listeners of the live
    /// events are told. Answers how many objects changed.
    pub fn catch_up(&self) -> Result<usize, RegistryError> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = {
            let mut store = self.lock_store();
            let from = self.applied.load(SeqCst);
            let to = store.last_seq()?;
            if to > from {
                let n = self.follow_others(&mut **store, from, to)?;
                self.applied.fetch_max(to, SeqCst);
                n
            } else {
                0
            }
        };
        // Also when no object changed: the entries that followed may have been read by a
        // write of this instance (see `follow_own`), and the hooks keep their own place.
        for f in self
            .after_catch_up
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            f(self);
        }
        Ok(n)
    }

    /// Calls `f` after every [`Registry::catch_up`], without the store's lock held.
    pub fn on_catch_up(&self, f: CatchUpHook) {
        self.after_catch_up
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(f);
    }

    /// Follows the history entries after `after` up to `upto`, written by others (call with
    /// the store lock held): the objects they name (an edit's object, an import's id range)
    /// are read as stored now and compared with the twin's.
    fn follow_others(
        &self,
        store: &mut dyn Store,
        after: u64,
        upto: u64,
    ) -> Result<usize, RegistryError> {
        let mut ranges: Vec<(ObjectId, ObjectId)> = Vec::new();
        let mut at = after;
        'read: while at < upto {
            let entries = store.history_after(at, &[], 10_000)?;
            let Some(last) = entries.last() else { break };
            at = last.seq.max(0) as u64;
            for e in &entries {
                if e.seq.max(0) as u64 > upto {
                    break 'read;
                }
                if let Some(id) = e.object_id {
                    ranges.push((id, id));
                } else if let Some([lo, hi]) = e
                    .new
                    .as_ref()
                    .and_then(|n| n.get("ids"))
                    .and_then(|v| serde_json::from_value::<[ObjectId; 2]>(v.clone()).ok())
                {
                    ranges.push((lo.min(hi), hi.max(lo)));
                }
            }
        }
        ranges.sort_unstable();
        let mut merged: Vec<(ObjectId, ObjectId)> = Vec::new();
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(m) if lo <= m.1.saturating_add(1) => m.1 = m.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        let mut changes = Vec::new();
        for (lo, hi) in merged {
            let mut now: HashMap<ObjectId, Object> = store
                .objects_between(lo, hi)?
                .into_iter()
                .map(|o| (o.id, o))
                .collect();
            let twin = self.twin();
            for id in lo..=hi {
                match (twin.get(id), now.remove(&id)) {
                    (None, Some(new)) => changes.push(Change::Create(new)),
                    (Some(old), Some(new)) if *old != new => changes.push(Change::Update {
                        old: Box::new(old.clone()),
                        new,
                    }),
                    (Some(old), None) => changes.push(Change::Delete(old.clone())),
                    _ => {}
                }
            }
        }
        let n = changes.len();
        if n > 0 {
            // Serials were given elsewhere: the cached assigner no longer knows them all.
            self.forget_assigner();
            self.follow_commit(vec![changes], upto);
        } else {
            self.committed();
        }
        tracing::debug!(after, upto, changed = n, "followed other instances' writes");
        Ok(n)
    }

    /// After a failed write: the cached assigner may already have noted serials the store
    /// never got.
    fn forget_assigner(&self) {
        *self.assigner.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// After a commit: the cached assigner, then the twin, follow its changes.
    fn follow_commit(&self, parts: Vec<Vec<Change>>, seq: u64) {
        self.follow_numbers(parts.iter().flatten());
        self.apply(parts, seq);
        self.committed();
    }

    /// A batch of one change made by `actor`, with a history row for it.
    fn single(actor: &str, action: &str, change: Change) -> Batch {
        Batch {
            actor: actor.into(),
            action: action.into(),
            summary: serde_json::json!({}),
            changes: vec![change],
            history_per_create: true,
        }
    }

    /// Keeps the cached assigner in step with committed changes (call under the store lock).
    fn follow_numbers<'c>(&self, changes: impl IntoIterator<Item = &'c Change>) {
        let mut cached = self.assigner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(a) = cached.as_mut() else { return };
        let width = self.twin().serial_width();
        for c in changes {
            match c {
                Change::Create(o) | Change::Update { new: o, .. } => note_number(a, o, width),
                Change::Delete(o) => {
                    if let Some(Number::Scheme { serial, .. }) = &o.number {
                        a.retire(*serial);
                    }
                }
            }
            if let Change::Update { old, new } = c
                && let Some(Number::Scheme { serial, .. }) = &old.number
                && old.number != new.number
            {
                a.retire(*serial);
            }
        }
    }

    /// Runs `f` with the cached assigner, building it first if needed (under the store lock).
    fn with_assigner<T>(
        &self,
        store: &mut dyn Store,
        f: impl FnOnce(&mut Assigner) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut cached = self.assigner.lock().unwrap_or_else(|p| p.into_inner());
        if cached.is_none() {
            let twin = self.twin();
            *cached = Some(self.assigner(store, &twin, twin.serial_width())?);
        }
        match cached.as_mut() {
            Some(a) => f(a),
            None => Err(RegistryError::Poisoned("assigner missing".into())),
        }
    }

    /// Creates one object from a draft, numbering it when its layer is numbered.
    pub fn create(&self, draft: Draft, actor: &str) -> Result<Object, RegistryError> {
        let mut store = self.lock_store();
        let (width, numbered) = {
            let twin = self.twin();
            (twin.serial_width(), twin.layers().def(draft.layer).numbered)
        };
        let id = store.reserve_ids(1)?;
        let mut o = draft_object(draft.clone(), id, now_ms());
        if let Some(text) = &draft.source_number {
            let twin = self.twin();
            let retired = retired_serials(&mut **store, &twin)?;
            let layers = twin.layers().clone();
            o.number = Some(self.source_number(
                &draft,
                text,
                &layers,
                width,
                &twin,
                &retired,
                &mut FixedBitSet::new(),
            )?);
        } else if numbered {
            let at = o.geometry.anchor();
            let serial = self.with_assigner(&mut **store, |a| Ok(a.assign(at)?))?;
            o.number = Some(Number::scheme(serial, width));
        }
        self.write(
            &mut **store,
            Self::single(actor, "create", Change::Create(o.clone())),
        )?;
        Ok(o)
    }

    /// Changes status, attributes or geometry of one object.
    pub fn update(&self, id: ObjectId, patch: Patch, actor: &str) -> Result<Object, RegistryError> {
        let mut store = self.lock_store();
        let old = self
            .twin()
            .get(id)
            .cloned()
            .ok_or(RegistryError::Gone(id))?;
        let mut new = old.clone();
        let now = now_ms();
        if let Some(st) = patch.status
            && st != old.status
        {
            new.status = st;
            new.status_changed = now;
        }
        if let Some(attrs) = patch.attributes {
            for (k, v) in attrs {
                match crate::model::Value::from_json(&v) {
                    Some(v) => {
                        new.attributes.insert(k, v);
                    }
                    None => {
                        new.attributes.remove(&k);
                    }
                }
            }
        }
        if let Some(g) = patch.geometry {
            new.geometry = g;
        }
        if new == old {
            return Ok(old);
        }
        new.updated = now;
        let change = Change::Update {
            old: Box::new(old),
            new: new.clone(),
        };
        self.write(&mut **store, Self::single(actor, "edit", change))?;
        Ok(new)
    }

    /// Deletes one object; its number is retired, never to be given again.
    pub fn delete(&self, id: ObjectId, actor: &str) -> Result<Object, RegistryError> {
        let mut store = self.lock_store();
        let old = self
            .twin()
            .get(id)
            .cloned()
            .ok_or(RegistryError::Gone(id))?;
        self.write(
            &mut **store,
            Self::single(actor, "delete", Change::Delete(old.clone())),
        )?;
        Ok(old)
    }

    /// Imports parsed drafts: objects already imported from the same file with the same source
    /// id are updated in place (keeping id and number), others are created; then objects of
    /// numbered layers that have no number get one. All in one transaction.
    pub fn import(
        &self,
        parsed: Parsed,
        actor: &str,
        summary: serde_json::Value,
        auto_number: bool,
    ) -> Result<ImportReport, RegistryError> {
        let expected = parsed.drafts.len();
        let read = |sink: &mut Sink<'_>| sink(parsed);
        Ok(self
            .import_from(expected, read, actor, summary, auto_number)?
            .0)
    }

    /// Imports records as `read` hands them to its sink, part by part (see
    /// [`crate::import::read_files`]), as [`Registry::import`] does with all of them: each part
    /// is checked and given ids here while a writer thread puts the earlier parts into the
    /// store's open transaction, so reading, checking and writing overlap. Objects that need a
    /// number are numbered at the end, knowing every number of the batch. Nothing is written
    /// unless everything succeeds. `expected` is about how many records will come (a bulk
    /// write is prepared for above ten thousand). Returns the report and the rejected records.
    pub fn import_from(
        &self,
        expected: usize,
        read: impl FnOnce(&mut Sink<'_>) -> Result<(), RegistryError>,
        actor: &str,
        summary: serde_json::Value,
        auto_number: bool,
    ) -> Result<(ImportReport, Vec<crate::import::Reject>), RegistryError> {
        let t_start = std::time::Instant::now();
        let mut store = self.lock_store();
        let retired = retired_serials(&mut **store, &self.twin())?;
        let head = BatchHead {
            actor: actor.to_string(),
            action: "import".into(),
            history_per_create: false,
            bulk: expected > 10_000,
        };
        // A few parts of slack (a part is ~30k records): the writer, the bottleneck, does not
        // wait when checking stalls for a moment (a hash table growing, say).
        let (part_tx, part_rx) = std::sync::mpsc::sync_channel::<Part>(8);
        let (id_tx, id_rx) = std::sync::mpsc::sync_channel::<ObjectId>(1);
        // What the writer keeps of each part once written (see `Written`).
        let whole = self.twin_follows.load(std::sync::atomic::Ordering::SeqCst);
        let width = self.twin().serial_width();
        let written: Mutex<Written> = Mutex::new(Written::default());
        let store_ref: &mut dyn Store = &mut **store;
        let (produced, committed) = std::thread::scope(|scope| {
            // Parts not kept are freed on a thread of their own: the writer is the import's
            // bottleneck, and freeing objects another thread made is not cheap. When the twin
            // follows it keeps every part, and there is nothing to free.
            let (drop_tx, drop_rx) = std::sync::mpsc::channel::<Vec<Change>>();
            if !whole {
                scope.spawn(move || drop_rx.into_iter().for_each(drop));
            }
            let written = &written;
            let writer = scope.spawn(move || {
                let mut first_id = move |id| {
                    let _ = id_tx.send(id);
                };
                let mut keep = |part| {
                    let mut w = written.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(done) = w.keep(part, whole, width) {
                        // The freeing thread ends once the writer drops this sender.
                        let _ = drop_tx.send(done);
                    }
                };
                // The receiver moves in: if the writer stops, the producer's sends fail.
                store_ref.commit_parts(&head, part_rx, &mut first_id, &mut keep)
            });
            let produced = (|| {
                // No id: the writer could not open the transaction; its error is reported.
                let first_id = id_rx.recv().map_err(|_| RegistryError::WriterStopped)?;
                let twin = self.twin();
                let mut prep = Prep::new(self, &twin, &retired, first_id, auto_number);
                let send = |p: Part| part_tx.send(p).map_err(|_| RegistryError::WriterStopped);
                read(&mut |parsed: Parsed| {
                    let changes = prep.take(parsed)?;
                    if changes.is_empty() {
                        return Ok(());
                    }
                    send(Part::Changes(changes))
                })?;
                let numbered = prep.number_rest(&send, written)?;
                if !numbered.is_empty() {
                    send(Part::Changes(numbered))?;
                }
                let (report, summary, rejects, next_id) = prep.finish(summary)?;
                send(Part::Finish { summary, next_id })?;
                Ok((report, rejects))
            })();
            // Without a finish, this ends the batch: the writer rolls it back.
            drop(part_tx);
            let committed = writer
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (produced, committed)
        });
        let t_written = t_start.elapsed();
        let (report, rejects) = match (produced, committed) {
            (Ok(done), Ok(seq)) => {
                let kept = written.into_inner().unwrap_or_else(|p| p.into_inner());
                self.follow_own(&mut **store, kept.parts, seq);
                done
            }
            (produced, committed) => {
                self.forget_assigner();
                return Err(match (produced, committed) {
                    // The writer's own failure is the cause when the reading saw it stop.
                    (Err(RegistryError::WriterStopped) | Ok(_), Err(e)) => e.into(),
                    (Err(e), _) => e,
                    (Ok(_), Ok(_)) => RegistryError::WriterStopped,
                });
            }
        };
        drop(store);
        tracing::info!(
            ms = t_written.as_millis() as u64,
            created = report.created,
            updated = report.updated,
            "import written"
        );
        Ok((report, rejects))
    }

    /// Applies committed changes to the twin; many changes rebuild it in one bulk load.
    /// Applies committed changes to the twin, sets the touched layers' data version to the
    /// commit's sequence number and tells the followers, all under the twin's write lock.
    fn apply(&self, parts: Vec<Vec<Change>>, seq: u64) {
        if !self.twin_follows.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut touched_layers: Vec<crate::model::LayerId> = Vec::new();
        let mut boxes: Vec<(crate::model::LayerId, [f64; 4])> = Vec::new();
        let count: usize = parts.iter().map(Vec::len).sum();
        let bulk = count > 50_000;
        for c in parts.iter().flatten() {
            let (old, new) = match c {
                Change::Create(o) => (None, Some(o)),
                Change::Update { old, new } => (Some(&**old), Some(new)),
                Change::Delete(o) => (Some(o), None),
            };
            for o in old.into_iter().chain(new) {
                if !touched_layers.contains(&o.layer) {
                    touched_layers.push(o.layer);
                }
                if !bulk {
                    boxes.push((o.layer, o.geometry.bbox()));
                }
            }
        }
        let changes = parts.into_iter().flatten();
        let mut twin = self.twin.write().unwrap_or_else(|p| p.into_inner());
        if bulk && count > twin.len() / 4 {
            let layers = twin.layers().clone();
            let width = twin.serial_width();
            let versions: Vec<u64> = layers.ids().map(|l| twin.version(l)).collect();
            let old = std::mem::replace(&mut *twin, Twin::build(layers.clone(), width, Vec::new()));
            let mut all: HashMap<ObjectId, Object> =
                old.into_objects().map(|o| (o.id, o)).collect();
            for c in changes {
                match c {
                    Change::Create(o) | Change::Update { new: o, .. } => {
                        all.insert(o.id, o);
                    }
                    Change::Delete(o) => {
                        all.remove(&o.id);
                    }
                }
            }
            *twin = Twin::build(layers.clone(), width, all.into_values().collect());
            for (l, v) in layers.ids().zip(versions) {
                twin.set_version(l, v);
            }
        } else {
            for c in changes {
                match c {
                    Change::Create(o) | Change::Update { new: o, .. } => twin.upsert(o),
                    Change::Delete(o) => {
                        twin.remove(o.id);
                    }
                }
            }
        }
        for l in touched_layers {
            twin.set_version(l, seq);
        }
        let what = if bulk {
            Changed::All
        } else {
            Changed::Boxes(&boxes)
        };
        for f in self
            .followers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            f.changed(&twin, what);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn source_number(
        &self,
        d: &Draft,
        text: &str,
        layers: &crate::model::Layers,
        width: u8,
        twin: &Twin,
        retired: &FixedBitSet,
        used: &mut FixedBitSet,
    ) -> Result<Number, RegistryError> {
        let serial = numbering::read_scheme(layers, width, text)
            .filter(|(l, _)| *l == d.layer)
            .map(|(_, s)| s);
        let Some(serial) = serial else {
            return Ok(Number::Source(text.into()));
        };
        let err_ctx = || {
            (
                d.source.file.to_string(),
                d.source.id.to_string(),
                text.to_string(),
            )
        };
        if let Some(holder) = twin.by_serial(serial)
            && !(holder.source.file == d.source.file
                && holder.source.id == d.source.id
                && holder.layer == d.layer)
        {
            let (file, id, number) = err_ctx();
            return Err(RegistryError::NumberTaken {
                file,
                id,
                number,
                holder: holder.id,
            });
        }
        if retired.contains(serial as usize) {
            let (file, id, number) = err_ctx();
            return Err(RegistryError::NumberRetired { file, id, number });
        }
        if used.len() <= serial as usize {
            used.grow(serial as usize + 1);
        }
        if used.put(serial as usize) {
            let (file, id, number) = err_ctx();
            return Err(RegistryError::NumberTaken {
                file,
                id,
                number,
                holder: 0,
            });
        }
        Ok(Number::scheme(serial, width))
    }

    /// An assigner that knows every serial ever given and every number in the twin.
    fn assigner(
        &self,
        store: &mut dyn Store,
        twin: &Twin,
        width: u8,
    ) -> Result<Assigner, RegistryError> {
        self.assigner_from(store.serials()?, twin, width)
    }

    /// An assigner that knows `given` (every serial ever given) and every number in the twin.
    fn assigner_from(
        &self,
        given: FixedBitSet,
        twin: &Twin,
        width: u8,
    ) -> Result<Assigner, RegistryError> {
        let mut a = Assigner::new(width, self.radius_m, true)?;
        for o in twin.objects() {
            note_number(&mut a, o, width);
        }
        // Given, but held by nothing in the twin: retired, or given by another process since
        // the twin was loaded. Never to be given again either way.
        for s in given.ones() {
            let s = s as u32;
            if a.is_free(s) {
                a.retire(s);
            }
        }
        Ok(a)
    }

    /// Appends an entry that changes no object to the history (durable when this returns);
    /// its sequence number and hash.
    pub fn record(
        &self,
        actor: &str,
        action: &str,
        new: &serde_json::Value,
    ) -> Result<(u64, String), RegistryError> {
        let r = self.lock_store().record(actor, action, new)?;
        self.committed();
        Ok(r)
    }

    /// Appends several entries that change no object, and a photo, in one transaction (see
    /// [`Store::record_all`], refused as stale under `unless`); each entry's sequence number.
    pub fn record_all(
        &self,
        actor: &str,
        entries: &[(&str, serde_json::Value)],
        photo: Option<&crate::store::Photo>,
        unless: Option<crate::store::Unless<'_>>,
    ) -> Result<Vec<u64>, RegistryError> {
        let r = self
            .lock_store()
            .record_all(actor, entries, photo, unless)?;
        self.committed();
        Ok(r)
    }

    /// History entries after `seq`, oldest first, of `actions` (all when empty).
    pub fn history_after(
        &self,
        seq: u64,
        actions: &[&str],
        limit: usize,
    ) -> Result<Vec<crate::store::HistoryEntry>, RegistryError> {
        Ok(self.lock_store().history_after(seq, actions, limit)?)
    }

    /// A photo kept with a report.
    pub fn photo(&self, key: &str) -> Result<Option<crate::store::Photo>, RegistryError> {
        Ok(self.lock_store().photo(key)?)
    }

    /// A setting kept in the store.
    pub fn setting(&self, key: &str) -> Result<Option<String>, RegistryError> {
        Ok(self.lock_store().setting(key)?)
    }

    /// Keeps a setting in the store.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), RegistryError> {
        Ok(self.lock_store().set_setting(key, value)?)
    }

    /// The newest history sequence number.
    pub fn last_seq(&self) -> Result<u64, RegistryError> {
        Ok(self.lock_store().last_seq()?)
    }

    /// The newest `limit` history entries of one action, newest first.
    pub fn history_of(
        &self,
        action: &str,
        limit: usize,
    ) -> Result<Vec<crate::store::HistoryEntry>, RegistryError> {
        Ok(self.lock_store().history_of(action, limit)?)
    }

    /// The change history, newest first; `object` narrows it to one object.
    pub fn history(
        &self,
        object: Option<ObjectId>,
        limit: usize,
    ) -> Result<Vec<crate::store::HistoryEntry>, RegistryError> {
        Ok(self.lock_store().history(object, limit)?)
    }

    /// The rows the latest imports of each file rejected (at most [`KEPT_REJECTS`] per file),
    /// from the newest `scan` history entries: a file imported again since counts
    /// by its newest import only.
    pub fn recent_rejects(
        &self,
        scan: usize,
    ) -> Result<Vec<crate::shelters::audit::RejectedRow>, RegistryError> {
        let entries = self.history(None, scan)?;
        let mut covered: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        for e in entries.iter().filter(|e| e.action == "import") {
            let Some(new) = &e.new else { continue };
            let rejects: Vec<crate::shelters::audit::RejectedRow> = new
                .get("rejects")
                .and_then(|r| serde_json::from_value(r.clone()).ok())
                .unwrap_or_default();
            let read: Vec<String> = new
                .get("read_files")
                .and_then(|r| serde_json::from_value(r.clone()).ok())
                .unwrap_or_default();
            out.extend(rejects.into_iter().filter(|r| !covered.contains(&r.file)));
            covered.extend(read);
        }
        Ok(out)
    }

    /// The object that last carried `number` in the history (also a deleted one).
    pub fn object_of_number(
        &self,
        number: &str,
    ) -> Result<Option<(ObjectId, String)>, RegistryError> {
        Ok(self.lock_store().object_of_number(number)?)
    }

    /// Every API token (hashes only).
    pub fn tokens(&self) -> Result<Vec<crate::access::tokens::TokenRecord>, RegistryError> {
        Ok(self.lock_store().tokens()?)
    }

    /// The confusable-number audit ([`crate::resolve::audit`]), with a suggested new number for
    /// the later object of each pair: one confusable with nothing within the registry's
    /// radius, and never a number given out before (retired numbers included). Nothing is
    /// written.
    pub fn audit_numbers(
        &self,
        within_m: f64,
    ) -> Result<Vec<crate::resolve::audit::Pair>, RegistryError> {
        let mut store = self.lock_store();
        let twin = self.twin();
        let mut pairs = crate::resolve::audit::confusable_pairs(&twin, within_m);
        if pairs.is_empty() {
            return Ok(pairs);
        }
        let width = twin.serial_width();
        let mut a = self.assigner(&mut **store, &twin, width)?;
        for p in &mut pairs {
            if let Some(o) = twin.get(p.b.id) {
                let serial = a.assign(o.geometry.anchor())?;
                let def = twin.layers().def(o.layer);
                p.suggestion = Some(Number::scheme(serial, width).display(def, width));
            }
        }
        Ok(pairs)
    }

    /// Gives numbers to every object of a numbered layer that has none.
    pub fn number_missing(&self, actor: &str) -> Result<usize, RegistryError> {
        let mut store = self.lock_store();
        let twin = self.twin();
        let width = twin.serial_width();
        let mut todo: Vec<&Object> = twin
            .objects()
            .filter(|o| o.number.is_none() && twin.layers().def(o.layer).numbered)
            .collect();
        if todo.is_empty() {
            return Ok(0);
        }
        todo.sort_by_key(|o| o.id);
        let mut a = self.assigner(&mut **store, &twin, width)?;
        let now = now_ms();
        let mut changes = Vec::with_capacity(todo.len());
        for o in todo {
            let serial = a.assign(o.geometry.anchor())?;
            let mut new = o.clone();
            new.number = Some(Number::scheme(serial, width));
            new.updated = now;
            changes.push(Change::Update {
                old: Box::new(o.clone()),
                new,
            });
        }
        drop(twin);
        let n = changes.len();
        let batch = Batch {
            actor: actor.into(),
            action: "number".into(),
            summary: serde_json::json!({"numbered": n}),
            changes,
            history_per_create: false,
        };
        self.write(&mut **store, batch)?;
        Ok(n)
    }
}

/// Rejected rows of each file kept in an import's history entry.
pub const KEPT_REJECTS: usize = 1000;

/// A sink for parsed records (see [`Registry::import_from`]).
pub type Sink<'a> = dyn FnMut(Parsed) -> Result<(), RegistryError> + 'a;

/// What an import's checking ends with: the report, the batch summary, the rejected records
/// and the first object id left unused.
type Finished = (
    ImportReport,
    serde_json::Value,
    Vec<crate::import::Reject>,
    ObjectId,
);

/// The checking half of an import: turns parsed records into changes, part by part, under the
/// twin's read lock.
struct Prep<'r> {
    registry: &'r Registry,
    twin: &'r Twin,
    layers: crate::model::Layers,
    width: u8,
    retired: &'r FixedBitSet,
    auto_number: bool,
    /// Objects from the files met so far that the twin already holds, by (layer, file,
    /// source id).
    existing: HashMap<(LayerId, &'r str, &'r str), ObjectId>,
    /// Source files met so far, the last one first met (records of a file come in runs).
    met: HashSet<std::sync::Arc<str>>,
    last_met: Option<std::sync::Arc<str>>,
    /// Serials taken by this import so far: a bit per serial of the space (1.25 MB for
    /// 7 digits) rather than a hash set, which at 10M numbers is a cache miss per lookup.
    used_in_batch: FixedBitSet,
    next_id: ObjectId,
    now: i64,
    report: ImportReport,
    rejects: Vec<crate::import::Reject>,
    drafts: usize,
    /// Changes whose object still needs a number: numbered at the end.
    unnumbered: Vec<Change>,
    counts_before: Vec<usize>,
    created_per_layer: Vec<usize>,
}

impl<'r> Prep<'r> {
    fn new(
        registry: &'r Registry,
        twin: &'r Twin,
        retired: &'r FixedBitSet,
        first_id: ObjectId,
        auto_number: bool,
    ) -> Prep<'r> {
        let width = twin.serial_width();
        let layers = twin.layers().clone();
        Prep {
            registry,
            twin,
            width,
            retired,
            auto_number,
            existing: HashMap::new(),
            met: HashSet::new(),
            last_met: None,
            used_in_batch: FixedBitSet::with_capacity(numbering::serial_space(width) as usize),
            next_id: first_id,
            now: now_ms(),
            report: ImportReport::default(),
            rejects: Vec::new(),
            drafts: 0,
            unnumbered: Vec::new(),
            counts_before: layers.ids().map(|l| twin.count(l)).collect(),
            created_per_layer: vec![0; layers.len()],
            layers,
        }
    }

    /// The changes for one part of the records (those still to be numbered are kept back).
    fn take(&mut self, parsed: Parsed) -> Result<Vec<Change>, RegistryError> {
        self.report.rejected += parsed.rejects.len();
        self.report.duplicates += parsed.duplicates;
        self.rejects.extend(parsed.rejects);
        self.drafts += parsed.drafts.len();
        let mut changes = Vec::with_capacity(parsed.drafts.len());
        for d in parsed.drafts {
            // The first record of a file brings in the twin's objects from that file.
            // `==` on two `Arc`s compares the pointers before the names.
            let file = &d.source.file;
            if self.last_met.as_ref() != Some(file) {
                if self.met.insert(file.clone()) {
                    self.existing.extend(
                        self.twin
                            .from_file(file.clone())
                            .map(|o| ((o.layer, &*o.source.file, &*o.source.id), o.id)),
                    );
                }
                self.last_met = Some(file.clone());
            }
            let number = match &d.source_number {
                Some(s) => Some(self.registry.source_number(
                    &d,
                    s,
                    &self.layers,
                    self.width,
                    self.twin,
                    self.retired,
                    &mut self.used_in_batch,
                )?),
                None => None,
            };
            let known = self
                .existing
                .get(&(d.layer, &*d.source.file, &*d.source.id))
                .copied();
            let change = match known {
                Some(id) => {
                    let Some(old) = self.twin.get(id) else {
                        continue;
                    };
                    let mut new = draft_object(d, id, self.now);
                    new.number = old.number.clone().or(number);
                    new.created = old.created;
                    new.status_changed = if new.status == old.status {
                        old.status_changed
                    } else {
                        self.now
                    };
                    let same = new.geometry == old.geometry
                        && new.attributes == old.attributes
                        && new.status == old.status
                        && new.number == old.number;
                    if same {
                        self.report.unchanged += 1;
                        continue;
                    }
                    self.report.updated += 1;
                    Change::Update {
                        old: Box::new(old.clone()),
                        new,
                    }
                }
                None => {
                    let mut o = draft_object(d, self.next_id, self.now);
                    self.next_id += 1;
                    o.number = number;
                    self.report.created += 1;
                    self.created_per_layer[o.layer as usize] += 1;
                    Change::Create(o)
                }
            };
            let o = change.object();
            if self.auto_number && o.number.is_none() && self.layers.def(o.layer).numbered {
                self.unnumbered.push(change);
            } else {
                changes.push(change);
            }
        }
        Ok(changes)
    }

    /// Numbers the changes kept back, knowing every serial ever given (asked of the writer,
    /// inside its transaction), every number in the twin and every number the batch has
    /// written so far.
    fn number_rest(
        &mut self,
        send: &dyn Fn(Part) -> Result<(), RegistryError>,
        written: &Mutex<Written>,
    ) -> Result<Vec<Change>, RegistryError> {
        let mut changes = std::mem::take(&mut self.unnumbered);
        if changes.is_empty() {
            return Ok(changes);
        }
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        send(Part::Serials(reply))?;
        let serials = answer.recv().map_err(|_| RegistryError::WriterStopped)??;
        let mut a = self
            .registry
            .assigner_from(serials, self.twin, self.width)?;
        // The writer answered after writing every earlier part, so all of them are here.
        written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note_into(&mut a, self.width);
        for c in &mut changes {
            let o = match c {
                Change::Create(o) | Change::Update { new: o, .. } => o,
                Change::Delete(_) => continue,
            };
            let serial = a.assign(o.geometry.anchor())?;
            o.number = Some(Number::scheme(serial, self.width));
            self.report.numbered += 1;
        }
        Ok(changes)
    }

    /// The report (with objects per layer), the batch summary, the rejects and the first id
    /// left unused. An import of nothing is an error.
    fn finish(mut self, mut summary: serde_json::Value) -> Result<Finished, RegistryError> {
        if self.drafts == 0 {
            return Err(RegistryError::Empty(match self.rejects.first() {
                Some(r) => format!(
                    "all {} records were rejected; first: {}:{} {}: {}",
                    self.rejects.len(),
                    r.file,
                    r.line,
                    r.field,
                    r.reason
                ),
                None => "the input holds no objects".into(),
            }));
        }
        if let Some(m) = summary.as_object_mut() {
            // The files read, and the first rejected rows of each import, kept in its
            // history entry: the shelter audit shows staff which rows never reached the map.
            let mut files: Vec<String> = self
                .met
                .iter()
                .map(|f| f.to_string())
                .chain(self.rejects.iter().map(|r| r.file.clone()))
                .collect();
            files.sort();
            files.dedup();
            m.insert("read_files".into(), files.into());
            let mut per_file: HashMap<&str, usize> = HashMap::new();
            let kept: Vec<serde_json::Value> = self
                .rejects
                .iter()
                .filter(|r| {
                    let n = per_file.entry(r.file.as_str()).or_insert(0);
                    *n += 1;
                    *n <= KEPT_REJECTS
                })
                .map(|r| {
                    serde_json::json!({"file": r.file, "line": r.line, "field": r.field, "reason": r.reason})
                })
                .collect();
            m.insert("rejects".into(), kept.into());
            m.insert("rejected".into(), self.report.rejected.into());
            m.insert("duplicates".into(), self.report.duplicates.into());
            m.insert("numbered".into(), self.report.numbered.into());
        }
        self.report.per_layer = self
            .layers
            .ids()
            .map(|l| {
                let n = self.counts_before[l as usize] + self.created_per_layer[l as usize];
                (self.layers.def(l).name.clone(), n)
            })
            .collect();
        Ok((self.report, summary, self.rejects, self.next_id))
    }
}

/// What an import keeps of the parts the writer has written. The whole parts when the twin
/// follows the commit (it applies them); otherwise (a command-line import, whose process ends
/// after the commit) only what numbering at the end needs, each number with its place: of
/// 10M objects that is 120 MB, not gigabytes of objects page-faulted in and freed again.
#[derive(Default)]
struct Written {
    parts: Vec<Vec<Change>>,
    serials: Vec<(u32, [f32; 2])>,
    source_digits: Vec<(Vec<u8>, [f32; 2])>,
}

impl Written {
    /// Keeps `part` or its numbers; returns the part when it is not kept.
    fn keep(&mut self, part: Vec<Change>, whole: bool, width: u8) -> Option<Vec<Change>> {
        if whole {
            self.parts.push(part);
            return None;
        }
        for c in &part {
            let o = c.object();
            if o.number.is_none() {
                continue;
            }
            let [lon, lat] = o.geometry.anchor();
            // The assigner keeps places as f32: nothing is lost here.
            let at = [lon as f32, lat as f32];
            match &o.number {
                Some(Number::Scheme { serial, .. }) => self.serials.push((*serial, at)),
                Some(n @ Number::Source(_)) => self.source_digits.push((n.digits(width), at)),
                None => {}
            }
        }
        Some(part)
    }

    /// Notes every kept number in `a`.
    fn note_into(&self, a: &mut Assigner, width: u8) {
        for c in self.parts.iter().flatten() {
            note_number(a, c.object(), width);
        }
        let place = |at: [f32; 2]| [f64::from(at[0]), f64::from(at[1])];
        for &(serial, at) in &self.serials {
            a.take(serial, place(at));
        }
        for (digits, at) in &self.source_digits {
            a.take_source(digits.clone(), place(*at));
        }
    }
}

/// Serials given once and held by no object of the twin: retired (or given by another process
/// since the twin was loaded). Never to be given again.
fn retired_serials(store: &mut dyn Store, twin: &Twin) -> Result<FixedBitSet, RegistryError> {
    let given = store.serials()?;
    let mut retired = FixedBitSet::with_capacity(given.len());
    retired.extend(given.ones().filter(|&s| twin.by_serial(s as u32).is_none()));
    Ok(retired)
}

fn note_number(a: &mut Assigner, o: &Object, width: u8) {
    match &o.number {
        Some(Number::Scheme { serial, .. }) => a.take(*serial, o.geometry.anchor()),
        Some(n @ Number::Source(_)) => a.take_source(n.digits(width), o.geometry.anchor()),
        None => {}
    }
}

fn draft_object(mut d: Draft, id: ObjectId, now: i64) -> Object {
    d.attributes.shrink_to_fit();
    Object {
        id,
        layer: d.layer,
        number: None,
        geometry: d.geometry,
        status: d.status,
        status_changed: now,
        attributes: d.attributes,
        source: d.source,
        created: now,
        updated: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Geometry, Layers, Source, Status};
    use crate::store::gpkg::GpkgStore;

    #[test]
    fn a_large_import_rebuilds_the_twin_with_every_object() {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers::default_city();
        let trees = layers.by_name("trees").unwrap();
        let registry = registry_with_trees(dir.path(), 10);
        // Enough changes to take the bulk-rebuild path; the first ten are re-imported unchanged.
        let big = drafts(
            (0..60_000)
                .map(|i| tree(&layers, "first", i, None))
                .collect(),
        );
        let report = registry
            .import(big, "test", serde_json::json!({}), true)
            .unwrap();
        assert_eq!((report.created, report.unchanged), (59_990, 10));
        let twin = registry.twin();
        assert_eq!(twin.count(trees), 60_000);
        let o = twin.objects().find(|o| &*o.source.id == "12345").unwrap();
        let Some(Number::Scheme { serial, .. }) = o.number else {
            panic!("not numbered")
        };
        assert_eq!(twin.by_serial(serial).map(|x| x.id), Some(o.id));
    }

    /// A registry on a new store in `dir`, holding `n` trees from [`tree`].
    fn registry_with_trees(dir: &std::path::Path, n: u64) -> Registry {
        let layers = Layers::default_city();
        let store = GpkgStore::open(&dir.join("s.gpkg"), &layers, 7).unwrap();
        let registry = Registry::open(Box::new(store), 1000.0).unwrap();
        let first = Parsed {
            drafts: (0..n).map(|i| tree(&layers, "first", i, None)).collect(),
            ..Default::default()
        };
        registry
            .import(first, "test", serde_json::json!({}), true)
            .unwrap();
        registry
    }

    /// Tree `i` of a grid about 11 m apart, from `file`, with an optional painted number.
    fn tree(layers: &Layers, file: &str, i: u64, number: Option<String>) -> Draft {
        Draft {
            layer: layers.by_name("trees").unwrap(),
            geometry: Geometry::Point([
                30.0 + (i % 300) as f64 * 1.5e-4,
                50.0 + (i / 300) as f64 * 1e-4,
            ]),
            status: Status::Ok,
            attributes: Default::default(),
            source: Source {
                file: file.into(),
                id: format!("{i}").into(),
            },
            source_number: number,
        }
    }

    /// Imports `parts` one by one through [`Registry::import_from`], then ends the reading
    /// with `end` (an error stops the import there).
    fn stream(
        registry: &Registry,
        parts: Vec<Parsed>,
        end: Result<(), RegistryError>,
        auto_number: bool,
    ) -> Result<ImportReport, RegistryError> {
        let expected = parts.iter().map(|p| p.drafts.len()).sum();
        let read = |sink: &mut Sink<'_>| {
            for part in parts {
                sink(part)?;
            }
            end
        };
        registry
            .import_from(expected, read, "test", serde_json::json!({}), auto_number)
            .map(|(report, _)| report)
    }

    fn drafts(drafts: Vec<Draft>) -> Parsed {
        Parsed {
            drafts,
            ..Default::default()
        }
    }

    /// Runs `f` on a registry holding `n` trees, then checks that the store file holds
    /// exactly what it held before.
    fn leaves_the_store_as_it_was(n: u64, f: impl FnOnce(&Registry, &Layers)) {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry_with_trees(dir.path(), n);
        let before = store_state(dir.path());
        f(&registry, &Layers::default_city());
        drop(registry);
        assert_eq!(store_state(dir.path()), before);
    }

    /// What the store file holds, read afresh: objects, history head, next free id.
    fn store_state(dir: &std::path::Path) -> (usize, u64, String) {
        let layers = Layers::default_city();
        let mut store = GpkgStore::open(&dir.join("s.gpkg"), &layers, 7).unwrap();
        let seq = store.last_seq().unwrap();
        let next = store.setting("next_id").unwrap().unwrap();
        let registry = Registry::open(Box::new(store), 1000.0).unwrap();
        let n = registry.twin().len();
        (n, seq, next)
    }

    #[test]
    fn an_import_that_fails_after_parts_were_written_leaves_the_store_as_it_was() {
        leaves_the_store_as_it_was(100, |registry, layers| {
            let part = |from: u64| {
                drafts(
                    (from..from + 20_000)
                        .map(|i| tree(layers, "second", i, None))
                        .collect(),
                )
            };
            // Two parts go to the writer, then the reading fails.
            let cut = crate::import::ImportError::file("second.csv", "cut off at line 40002");
            let err = stream(
                registry,
                vec![part(1000), part(21_000)],
                Err(cut.into()),
                true,
            )
            .unwrap_err();
            assert!(err.to_string().contains("cut off at line 40002"), "{err}");
            assert_eq!(registry.twin().len(), 100);
            // A number already held, found in the second part.
            let held = registry
                .twin()
                .objects()
                .next()
                .unwrap()
                .number
                .clone()
                .unwrap();
            let shown = held.display(layers.def(layers.by_name("trees").unwrap()), 7);
            let mut second = part(21_000);
            second.drafts[500].source_number = Some(shown);
            let err = stream(registry, vec![part(1000), second], Ok(()), true).unwrap_err();
            assert!(
                matches!(err, RegistryError::NumberTaken { ref id, .. } if id == "21500"),
                "{err}"
            );
        });
    }

    #[test]
    fn a_write_that_fails_inside_the_store_is_reported_as_itself() {
        leaves_the_store_as_it_was(10, |registry, layers| {
            // A line on the point layer of trees, at the start of the second part: the store
            // refuses the row.
            let mut second: Vec<Draft> = (2..2000).map(|i| tree(layers, "x", i, None)).collect();
            second[0].geometry = Geometry::Line(vec![[30.0, 50.0], [30.001, 50.001]]);
            let first = (0..2).map(|i| tree(layers, "x", i, None)).collect();
            let err =
                stream(registry, vec![drafts(first), drafts(second)], Ok(()), false).unwrap_err();
            assert!(
                matches!(err, RegistryError::Store(StoreError::BadRow { .. })),
                "{err:?}"
            );
            assert!(err.to_string().contains("geometry"), "{err}");
        });
    }

    #[test]
    fn objects_numbered_at_the_end_of_a_streamed_import_avoid_the_numbers_written_before() {
        numbered_at_the_end_avoiding_earlier_parts(true);
    }

    /// As above, for an import whose twin does not follow (the command line's): the writer
    /// keeps only the parts' numbers and places, not the parts.
    #[test]
    fn without_a_following_twin_numbering_at_the_end_still_sees_the_earlier_parts() {
        numbered_at_the_end_avoiding_earlier_parts(false);
    }

    fn numbered_at_the_end_avoiding_earlier_parts(twin_follows: bool) {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers::default_city();
        let registry = registry_with_trees(dir.path(), 1);
        if !twin_follows {
            registry.stop_following();
        }
        let trees = layers.def(layers.by_name("trees").unwrap());
        // The first part brings painted numbers (serials 1000, 1001, …) on trees 0–1999; the
        // second part has the same places again (another file), unnumbered, so every one of
        // them lands next to a painted number already sent to the writer.
        let painted = |i: u64| Number::scheme(1000 + i as u32, 7).display(trees, 7);
        let painted_part = (0..2000).map(|i| tree(&layers, "painted", i, Some(painted(i))));
        let bare_part = (0..2000).map(|i| tree(&layers, "bare", i, None));
        let parts = vec![drafts(painted_part.collect()), drafts(bare_part.collect())];
        let report = stream(&registry, parts, Ok(()), true).unwrap();
        assert_eq!((report.created, report.numbered), (4000, 2000));
        // What the store holds, as the next start loads it.
        drop(registry);
        let store = GpkgStore::open(&dir.path().join("s.gpkg"), &layers, 7).unwrap();
        let registry = Registry::open(Box::new(store), 1000.0).unwrap();
        let twin = registry.twin();
        let serials: HashSet<u32> = twin
            .objects()
            .filter_map(|o| match o.number {
                Some(Number::Scheme { serial, .. }) => Some(serial),
                _ => None,
            })
            .collect();
        assert_eq!(serials.len(), twin.len(), "every object has its own serial");
        let pairs = crate::resolve::audit::confusable_pairs(&twin, 1000.0);
        let fresh: Vec<_> = pairs
            .iter()
            .filter(|p| {
                [p.a.id, p.b.id]
                    .iter()
                    .any(|id| twin.get(*id).is_some_and(|o| &*o.source.file == "bare"))
            })
            .collect();
        assert!(
            fresh.is_empty(),
            "numbers given at the end are confusable: {fresh:?}"
        );
        assert_eq!(twin.len(), 4001);
    }
}
