//! A batch's transaction in the PostGIS store: rows (created objects by `COPY`), retired and
//! given numbers, history, the next free id, and the notification of the commit. The rules are
//! the GeoPackage store's (see `gpkg::batch`): a serial is given once, ever; an updated object
//! may take back a number it held itself; a refused serial names the object that asked for it.

use futures_util::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::geom::{self, JsonText};
use super::schema::COLUMNS;
use super::{CHANNEL, PgStore, pg_error};
use crate::model::{Layers, Object, ObjectId};
use crate::numbering::Number;
use crate::store::gpkg::attributes_json;
use crate::store::{
    BatchHead, Change, Part, StoreError, chain, format_ms, given_before, scheme_serial,
};

/// Serials per row of `citytwin_serials` (as in the GeoPackage store, so that rows move
/// between the stores unchanged).
const BLOCK: u32 = 1024;
const BYTES: usize = (BLOCK / 8) as usize;

/// History entries kept before they are written (a batch of many edits writes them in runs).
const HISTORY_RUN: usize = 4096;

type Tx<'c> = deadpool_postgres::Transaction<'c>;

/// An error of the serial bitmap: a statement's, or a row outside the serial space.
pub(super) enum SerialsError {
    Pg(tokio_postgres::Error),
    OutOfSpace(i64),
}

impl SerialsError {
    pub(super) fn named(self, shown: &str) -> StoreError {
        match self {
            SerialsError::Pg(e) => pg_error(shown, e),
            SerialsError::OutOfSpace(block) => StoreError::Invalid {
                path: shown.to_string(),
                reason: format!("citytwin_serials has block {block}, outside the serial space"),
            },
        }
    }
}

/// Every serial given out, one bit each (bit k of a row's block is byte k / 8, bit k % 8).
pub(super) async fn read_serials<C: deadpool_postgres::GenericClient>(
    c: &C,
    width: u8,
) -> Result<fixedbitset::FixedBitSet, SerialsError> {
    let last_block = i64::from(crate::numbering::serial_space(width).saturating_sub(1) / BLOCK);
    let rows = c
        .query(
            "SELECT block, given FROM citytwin_serials ORDER BY block",
            &[],
        )
        .await
        .map_err(SerialsError::Pg)?;
    let mut set = fixedbitset::FixedBitSet::new();
    for r in rows {
        let block = i64::from(r.get::<_, i32>(0));
        if !(0..=last_block).contains(&block) {
            return Err(SerialsError::OutOfSpace(block));
        }
        let base = block as usize * BLOCK as usize;
        let bits: &[u8] = r.get(1);
        set.grow(base + BLOCK as usize);
        for (i, &byte) in bits.iter().take(BYTES).enumerate() {
            let mut rest = byte;
            while rest != 0 {
                set.insert(base + i * 8 + rest.trailing_zeros() as usize);
                rest &= rest - 1;
            }
        }
    }
    Ok(set)
}

/// Marks sorted `serials` as given; returns those given before. Under the write lock: no
/// other writer reads or writes these rows meanwhile.
async fn give(tx: &Tx<'_>, serials: &[u32]) -> Result<Vec<u32>, tokio_postgres::Error> {
    let mut blocks: Vec<i32> = serials.iter().map(|s| (s / BLOCK) as i32).collect();
    blocks.dedup();
    let rows = tx
        .query(
            "SELECT block, given FROM citytwin_serials WHERE block = ANY($1)",
            &[&blocks],
        )
        .await?;
    let mut bits: std::collections::BTreeMap<i32, [u8; BYTES]> =
        blocks.iter().map(|&b| (b, [0u8; BYTES])).collect();
    for r in rows {
        let old: &[u8] = r.get(1);
        if let Some(b) = bits.get_mut(&r.get::<_, i32>(0)) {
            let n = old.len().min(BYTES);
            b[..n].copy_from_slice(&old[..n]);
        }
    }
    let mut before = Vec::new();
    for &s in serials {
        let Some(b) = bits.get_mut(&((s / BLOCK) as i32)) else {
            continue;
        };
        let k = (s % BLOCK) as usize;
        let mask = 1u8 << (k % 8);
        if b[k / 8] & mask != 0 {
            before.push(s);
        }
        b[k / 8] |= mask;
    }
    let (ids, given): (Vec<i32>, Vec<Vec<u8>>) =
        bits.into_iter().map(|(k, b)| (k, b.to_vec())).unzip();
    tx.execute(
        "INSERT INTO citytwin_serials(block, given) SELECT * FROM unnest($1::integer[], $2::bytea[]) \
         ON CONFLICT (block) DO UPDATE SET given = excluded.given",
        &[&ids, &given],
    )
    .await?;
    Ok(before)
}

/// Appends entries to the hash-chained history inside a write's transaction, a run at a time.
pub(super) struct Appender {
    pub(super) seq: i64,
    pub(super) hash: String,
    wrote: bool,
    run: Vec<chain::Entry>,
}

impl Appender {
    /// Starts after the history's head (read under the write lock).
    pub(super) async fn open(tx: &Tx<'_>) -> Result<Appender, tokio_postgres::Error> {
        let head = tx
            .query_opt(
                "SELECT seq, hash FROM citytwin_history ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .await?;
        let (seq, hash) = head.map_or((0, chain::GENESIS.to_string()), |r| {
            (r.get(0), r.get::<_, Option<String>>(1).unwrap_or_default())
        });
        Ok(Appender {
            seq,
            hash,
            wrote: false,
            run: Vec::new(),
        })
    }

    /// Appends `e` (its seq and hashes are filled in here).
    pub(super) async fn push(
        &mut self,
        tx: &Tx<'_>,
        mut e: chain::Entry,
    ) -> Result<(), tokio_postgres::Error> {
        e.seq = self.seq + 1;
        e.prev_hash = std::mem::take(&mut self.hash);
        e.hash = e.digest();
        self.seq = e.seq;
        self.hash = e.hash.clone();
        self.wrote = true;
        self.run.push(e);
        if self.run.len() >= HISTORY_RUN {
            self.flush(tx).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, tx: &Tx<'_>) -> Result<(), tokio_postgres::Error> {
        if self.run.is_empty() {
            return Ok(());
        }
        let run = std::mem::take(&mut self.run);
        let col = |f: fn(&chain::Entry) -> Option<String>| -> Vec<Option<String>> {
            run.iter().map(f).collect()
        };
        let seqs: Vec<i64> = run.iter().map(|e| e.seq).collect();
        let ids: Vec<Option<i64>> = run.iter().map(|e| e.object_id).collect();
        tx.execute(
            "INSERT INTO citytwin_history(seq, at, actor, action, layer, object_id, number, old, new, prev_hash, hash) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])",
            &[
                &seqs,
                &col(|e| Some(e.at.clone())),
                &col(|e| Some(e.actor.clone())),
                &col(|e| Some(e.action.clone())),
                &col(|e| e.layer.clone()),
                &ids,
                &col(|e| e.number.clone()),
                &col(|e| e.old.clone()),
                &col(|e| e.new.clone()),
                &col(|e| Some(e.prev_hash.clone())),
                &col(|e| Some(e.hash.clone())),
            ],
        )
        .await?;
        Ok(())
    }

    /// Writes what is left, records the new head (the setting `audit_head`) and announces
    /// the write on [`CHANNEL`] (delivered at the commit); returns the newest entry's
    /// sequence number (0 for none).
    pub(super) async fn finish(mut self, tx: &Tx<'_>) -> Result<u64, tokio_postgres::Error> {
        self.flush(tx).await?;
        if self.wrote {
            super::reads::write_setting(tx, "audit_head", &format!("{} {}", self.seq, self.hash))
                .await?;
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&CHANNEL, &self.seq.to_string()],
            )
            .await?;
        }
        Ok(self.seq.max(0) as u64)
    }
}

/// A number as painted (and as the history and the `number` column keep it).
fn painted(n: &Number, code: &str, width: u8) -> String {
    let mut t = String::new();
    n.write_with_code(code, width, &mut t);
    t
}

/// Writes the changes of one batch inside its transaction; [`Writer::finish`] adds what
/// belongs to the batch as a whole (numbers, the summary row, the history head).
pub(super) struct Writer<'a, 'c> {
    tx: &'a Tx<'c>,
    layers: &'a Layers,
    width: u8,
    head: &'a BatchHead,
    path: &'a str,
    now: String,
    /// Per layer: the type of its geometry column (PostGIS types have no fixed id).
    geometry_types: Vec<Type>,
    history: Appender,
    /// Serials new to their objects in this batch.
    new_serials: fixedbitset::FixedBitSet,
    /// New serials that updated objects took back from their own retired numbers.
    taken_back: Vec<u32>,
    /// The new serials of the other updated objects, with their layer and id.
    renumbered: Vec<(u32, u16, u64)>,
    /// Created objects of the part being written not written yet: their places in it.
    pending: Vec<usize>,
    /// The history's newest entry before this batch.
    before: u64,
    first_id: u64,
    last_id: u64,
    created: (u64, u64),
    counts: [u64; 3],
    touched: std::collections::BTreeSet<u16>,
    /// Per layer: rows written by `COPY`.
    copied: Vec<u64>,
    /// Per layer: its GiST index dropped for this batch's bulk `COPY`, built again at the end.
    unindexed: Vec<bool>,
}

/// From this many rows `COPY`d into a layer, the batch's commit is followed by `ANALYZE` of
/// it: the planner then knows the layer's new size at once, not after autovacuum's next round.
/// From as many into an empty layer, its GiST index is dropped before the `COPY` and built
/// after it, in the same transaction: one sorted build instead of an insertion per row (half
/// the time of a 1M-point import here).
pub(super) const BULK_ROWS: u64 = 10_000;

/// Drops the GiST index of layer table `name` inside `tx` if the table is empty; whether it
/// did. The drop holds the table's lock to the end of the transaction, so no one reads the
/// layer unindexed; [`index`] builds it again before the commit (a rollback keeps the old one).
pub(super) async fn unindex_if_empty(
    tx: &Tx<'_>,
    name: &str,
) -> Result<bool, tokio_postgres::Error> {
    let empty: bool = tx
        .query_one(
            &format!("SELECT NOT EXISTS (SELECT 1 FROM \"{name}\")"),
            &[],
        )
        .await?
        .get(0);
    if empty {
        tx.batch_execute(&format!("DROP INDEX IF EXISTS \"{name}_geom\""))
            .await?;
    }
    Ok(empty)
}

/// Builds the GiST index of layer table `name` (as the schema makes it).
pub(super) async fn index(tx: &Tx<'_>, name: &str) -> Result<(), tokio_postgres::Error> {
    tx.batch_execute(&super::schema::geom_index(name)).await
}

impl<'a, 'c> Writer<'a, 'c> {
    async fn open(
        tx: &'a Tx<'c>,
        layers: &'a Layers,
        width: u8,
        head: &'a BatchHead,
        path: &'a str,
    ) -> Result<Writer<'a, 'c>, StoreError> {
        let e = |err| pg_error(path, err);
        let mut geometry_types = Vec::new();
        for def in layers.defs() {
            let st = tx
                .prepare_cached(&format!("SELECT geom FROM \"{}\" LIMIT 0", def.name))
                .await
                .map_err(e)?;
            geometry_types.push(st.columns()[0].type_().clone());
        }
        let history = Appender::open(tx).await.map_err(e)?;
        Ok(Writer {
            before: history.seq.max(0) as u64,
            tx,
            layers,
            width,
            head,
            path,
            now: format_ms(crate::model::now_ms()),
            geometry_types,
            history,
            new_serials: fixedbitset::FixedBitSet::new(),
            taken_back: Vec::new(),
            renumbered: Vec::new(),
            pending: Vec::new(),
            first_id: u64::MAX,
            last_id: 0,
            created: (u64::MAX, 0),
            counts: [0; 3],
            touched: Default::default(),
            copied: vec![0; layers.defs().len()],
            unindexed: vec![false; layers.defs().len()],
        })
    }

    fn bad(&self, o: &Object, reason: impl std::fmt::Display) -> StoreError {
        StoreError::BadRow {
            path: self.path.to_string(),
            layer: self
                .layers
                .get(o.layer)
                .map_or_else(|| format!("#{}", o.layer), |d| d.name.clone()),
            fid: o.id as i64,
            reason: reason.to_string(),
        }
    }

    /// A statement's error while writing `o`.
    fn refused(&self, o: &Object, err: tokio_postgres::Error) -> StoreError {
        refused(self.path, self.layers, o, err)
    }

    /// Marks serial `s` new in this batch; false if the batch gave it already.
    fn first_in_batch(&mut self, s: u32) -> bool {
        let i = s as usize;
        if i >= self.new_serials.len() {
            self.new_serials
                .grow((i + 1).max(crate::numbering::serial_space(self.width) as usize));
        }
        !self.new_serials.put(i)
    }

    fn given_twice(&self, layer: &str, id: u64, s: u32) -> StoreError {
        StoreError::BadRow {
            path: self.path.to_string(),
            layer: layer.to_string(),
            fid: id as i64,
            reason: given_before(s),
        }
    }

    /// Writes `changes` in order: rows, retired numbers, a history row per update and delete
    /// (and per creation when the batch keeps one).
    pub(super) async fn write(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        let (layers, width) = (self.layers, self.width);
        for (k, change) in changes.iter().enumerate() {
            let o = change.object();
            let def = layers.get(o.layer).ok_or_else(|| StoreError::Invalid {
                path: self.path.to_string(),
                reason: format!(
                    "object {} names layer #{} which does not exist",
                    o.id, o.layer
                ),
            })?;
            if !matches!(change, Change::Delete(_)) {
                if !o.geometry.fits(def.geometry) {
                    return Err(self.bad(
                        o,
                        format!(
                            "geometry does not fit layer geometry {}",
                            def.geometry.ogc_name()
                        ),
                    ));
                }
                o.geometry.validate().map_err(|r| self.bad(o, r))?;
            }
            if !matches!(change, Change::Create(_)) {
                // Rows are written in the order of their changes.
                self.flush(changes).await?;
            }
            self.first_id = self.first_id.min(o.id);
            self.last_id = self.last_id.max(o.id);
            self.touched.insert(o.layer);
            match change {
                Change::Create(_) => {
                    self.counts[0] += 1;
                    self.created = (self.created.0.min(o.id), self.created.1.max(o.id));
                    if let Some(s) = scheme_serial(o)
                        && !self.first_in_batch(s)
                    {
                        return Err(self.given_twice(&def.name, o.id, s));
                    }
                    self.pending.push(k);
                }
                Change::Update { old, new } => {
                    self.counts[1] += 1;
                    self.update(old, new).await?;
                }
                Change::Delete(_) => {
                    self.counts[2] += 1;
                    if scheme_serial(o).is_some() {
                        self.retire(o).await.map_err(|e| self.refused(o, e))?;
                    }
                    self.tx
                        .execute(
                            &format!("DELETE FROM \"{}\" WHERE fid = $1", def.name),
                            &[&(o.id as i64)],
                        )
                        .await
                        .map_err(|e| self.refused(o, e))?;
                }
            }
            let number = o.number.as_ref().map(|n| painted(n, &def.code, width));
            let Some(entry) =
                crate::store::change_entry(self.head, &self.now, change, layers, width, number)
            else {
                continue;
            };
            let tx = self.tx;
            self.history
                .push(tx, entry)
                .await
                .map_err(|e| pg_error(self.path, e))?;
        }
        self.flush(changes).await
    }

    /// An updated object: its old number retired or kept (with when it was given), a new one
    /// taken back from its own retired numbers or new, its row replaced (moved to another
    /// layer's table when its layer changed).
    async fn update(&mut self, old: &Object, o: &Object) -> Result<(), StoreError> {
        let def = self.layers.def(o.layer);
        let serial = scheme_serial(o);
        let was = scheme_serial(old);
        let row_err = |e| self.refused(o, e);
        if was.is_some() && was != serial {
            self.retire(old).await.map_err(row_err)?;
        }
        let assigned = if old.number == o.number {
            self.tx
                .query_opt(
                    &format!(
                        "SELECT number_assigned FROM \"{}\" WHERE fid = $1",
                        self.layers.def(old.layer).name
                    ),
                    &[&(old.id as i64)],
                )
                .await
                .map_err(row_err)?
                .and_then(|r| r.get::<_, Option<String>>(0))
        } else {
            o.number.as_ref().map(|_| self.now.clone())
        };
        if was != serial
            && let Some(s) = serial
        {
            if !self.first_in_batch(s) {
                return Err(self.given_twice(&def.name, o.id, s));
            }
            // Taken back now, so that a later change of the batch that retires it again
            // records that.
            let back = self
                .tx
                .execute(
                    "DELETE FROM citytwin_retired_numbers WHERE serial = $1 AND object_id = $2",
                    &[&(s as i32), &(o.id as i64)],
                )
                .await
                .map_err(|e| self.refused(o, e))?;
            if back == 1 {
                self.taken_back.push(s);
            } else {
                self.renumbered.push((s, o.layer, o.id));
            }
        }
        if old.layer != o.layer {
            self.tx
                .execute(
                    &format!(
                        "DELETE FROM \"{}\" WHERE fid = $1",
                        self.layers.def(old.layer).name
                    ),
                    &[&(old.id as i64)],
                )
                .await
                .map_err(|e| self.refused(o, e))?;
        }
        let sql = format!(
            "INSERT INTO \"{}\" ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (fid) DO UPDATE SET geom = excluded.geom, serial = excluded.serial, \
             number = excluded.number, check_digit = excluded.check_digit, status = excluded.status, \
             status_changed = excluded.status_changed, attributes = excluded.attributes, \
             source_file = excluded.source_file, source_id = excluded.source_id, \
             created = excluded.created, updated = excluded.updated, \
             number_assigned = excluded.number_assigned",
            def.name
        );
        let st = self
            .tx
            .prepare_cached(&sql)
            .await
            .map_err(|e| self.refused(o, e))?;
        let row = Row::of(o, self.layers, self.width, assigned);
        self.tx
            .execute(&st, &row.params())
            .await
            .map_err(|e| self.refused(o, e))?;
        Ok(())
    }

    /// Records the number of `old` (as its row in the store has it) as retired, before the row
    /// is deleted or replaced.
    async fn retire(&self, old: &Object) -> Result<u64, tokio_postgres::Error> {
        let name = &self.layers.def(old.layer).name;
        self.tx
            .execute(
                &format!(
                    "INSERT INTO citytwin_retired_numbers(serial, layer, object_id, assigned, retired) \
                     SELECT serial, '{name}', fid, coalesce(number_assigned, created), $2 FROM \"{name}\" \
                     WHERE fid = $1 AND serial IS NOT NULL \
                     ON CONFLICT (serial) DO UPDATE SET layer = excluded.layer, \
                     object_id = excluded.object_id, assigned = excluded.assigned, \
                     retired = excluded.retired"
                ),
                &[&(old.id as i64), &self.now],
            )
            .await
    }

    /// Writes the created objects waiting in `pending`: one `COPY` per layer.
    async fn flush(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(|&k| changes[k].object().layer);
        for run in pending.chunk_by(|&a, &b| changes[a].object().layer == changes[b].object().layer)
        {
            let layer = changes[run[0]].object().layer;
            if run.len() as u64 >= BULK_ROWS && !self.unindexed[layer as usize] {
                let name = &self.layers.def(layer).name;
                if unindex_if_empty(self.tx, name)
                    .await
                    .map_err(|err| pg_error(self.path, err))?
                {
                    self.unindexed[layer as usize] = true;
                }
            }
            self.copy_rows(layer, run.iter().map(|&k| changes[k].object()))
                .await?;
            if let Some(n) = self.copied.get_mut(layer as usize) {
                *n += run.len() as u64;
            }
        }
        Ok(())
    }

    /// `COPY`s the rows of `objects`, all of `layer`.
    async fn copy_rows(
        &self,
        layer: u16,
        objects: impl Iterator<Item = &Object>,
    ) -> Result<(), StoreError> {
        let (layers, width) = (self.layers, self.width);
        let rows = objects.map(|o| (o, Row::of(o, layers, width, None)));
        let target = CopyTarget {
            tx: self.tx,
            path: self.path,
            layers,
            geometry: &self.geometry_types[layer as usize],
        };
        target.copy(layer, rows).await
    }

    /// The layers this batch `COPY`d many rows into (see [`BULK_ROWS`]).
    fn bulk_layers(&self) -> Vec<String> {
        self.copied
            .iter()
            .zip(self.layers.defs())
            .filter(|(n, _)| **n >= BULK_ROWS)
            .map(|(_, d)| d.name.clone())
            .collect()
    }

    /// Records the batch's serials, its summary row (unless it was one created object with a
    /// row of its own) and the new history head; returns the newest history sequence number.
    async fn finish(mut self, summary: serde_json::Value) -> Result<u64, StoreError> {
        let p = self.path;
        let e = |err| pg_error(p, err);
        let serials: Vec<u32> = self.new_serials.ones().map(|s| s as u32).collect();
        let before = if serials.is_empty() {
            Vec::new()
        } else {
            give(self.tx, &serials).await.map_err(e)?
        };
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
                Err(_) => self.created_holder_of(s).await.map_err(e)?,
            };
            return Err(holder.map_or_else(
                || StoreError::Invalid {
                    path: p.to_string(),
                    reason: given_before(s),
                },
                |(name, id)| self.given_twice(&name, id, s),
            ));
        }
        let entry = crate::store::summary_entry(
            self.head,
            &self.now,
            summary,
            self.counts,
            (self.first_id, self.last_id),
        );
        if let Some(entry) = entry {
            self.history.push(self.tx, entry).await.map_err(e)?;
        }
        for (layer, def) in self.layers.defs().iter().enumerate() {
            if self.unindexed[layer] {
                index(self.tx, &def.name).await.map_err(e)?;
            }
        }
        self.history.finish(self.tx).await.map_err(e)
    }

    /// The layer and id of the object this batch created with serial `s`.
    async fn created_holder_of(
        &self,
        s: u32,
    ) -> Result<Option<(String, u64)>, tokio_postgres::Error> {
        for &l in &self.touched {
            let name = &self.layers.def(l).name;
            let row = self
                .tx
                .query_opt(
                    &format!(
                        "SELECT fid FROM \"{name}\" WHERE fid BETWEEN $1 AND $2 AND serial = $3 LIMIT 1"
                    ),
                    &[
                        &(self.created.0.min(i64::MAX as u64) as i64),
                        &(self.created.1.min(i64::MAX as u64) as i64),
                        &(s as i32),
                    ],
                )
                .await?;
            if let Some(r) = row {
                return Ok(Some((name.clone(), r.get::<_, i64>(0) as u64)));
            }
        }
        Ok(None)
    }
}

/// A committed batch: the history's newest entry before it, its own last entry, and the next
/// free object id.
pub(super) struct Written {
    pub(super) before: u64,
    pub(super) seq: u64,
    pub(super) next_id: ObjectId,
}

/// Where `COPY` writes a layer's rows.
pub(super) struct CopyTarget<'a, 'c> {
    pub(super) tx: &'a Tx<'c>,
    pub(super) path: &'a str,
    pub(super) layers: &'a Layers,
    /// The type of the layer's geometry column (PostGIS types have no fixed id).
    pub(super) geometry: &'a Type,
}

impl CopyTarget<'_, '_> {
    /// `COPY`s `rows`, all of `layer`, in binary.
    pub(super) async fn copy<'o>(
        &self,
        layer: u16,
        rows: impl Iterator<Item = (&'o Object, Row)>,
    ) -> Result<(), StoreError> {
        let def = self.layers.def(layer);
        let e = |err| pg_error(self.path, err);
        let sink = self
            .tx
            .copy_in(&format!(
                "COPY \"{}\" ({COLUMNS}) FROM STDIN (FORMAT binary)",
                def.name
            ))
            .await
            .map_err(e)?;
        let types = [
            Type::INT8,
            self.geometry.clone(),
            Type::INT4,
            Type::TEXT,
            Type::BOOL,
            Type::TEXT,
            Type::TEXT,
            Type::JSON,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
        ];
        let writer = BinaryCopyInWriter::new(sink, &types);
        pin_mut!(writer);
        for (o, row) in rows {
            if let Err(err) = writer.as_mut().write(&row.params()).await {
                return Err(refused(self.path, self.layers, o, err));
            }
        }
        writer
            .finish()
            .await
            .map_err(|err| match err.as_db_error() {
                // A row refused at the end of the copy (an id already taken, say): the database's
                // detail names it.
                Some(db) => StoreError::Invalid {
                    path: self.path.to_string(),
                    reason: format!(
                        "layer {:?}: {}{}",
                        def.name,
                        db.message(),
                        db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
                    ),
                },
                None => e(err),
            })?;
        Ok(())
    }
}

/// A statement's error while writing `o`: the database's own words, with its detail, naming
/// the object.
fn refused(path: &str, layers: &Layers, o: &Object, err: tokio_postgres::Error) -> StoreError {
    match err.as_db_error() {
        Some(db) => StoreError::BadRow {
            path: path.to_string(),
            layer: layers
                .get(o.layer)
                .map_or_else(|| format!("#{}", o.layer), |d| d.name.clone()),
            fid: o.id as i64,
            reason: match db.detail() {
                Some(d) => format!("{} ({d})", db.message()),
                None => db.message().to_string(),
            },
        },
        None => pg_error(path, err),
    }
}

/// One object's column values, in [`COLUMNS`] order.
pub(super) struct Row {
    fid: i64,
    geom: geom::Param,
    serial: Option<i32>,
    number: Option<String>,
    check_digit: bool,
    status: &'static str,
    status_changed: Option<String>,
    attributes: JsonText,
    source_file: String,
    source_id: String,
    created: String,
    updated: String,
    number_assigned: Option<String>,
}

impl Row {
    pub(super) fn of(
        o: &Object,
        layers: &Layers,
        width: u8,
        number_assigned: Option<String>,
    ) -> Row {
        let def = layers.def(o.layer);
        Row {
            fid: o.id as i64,
            geom: geom::param(&o.geometry),
            serial: scheme_serial(o).map(|s| s as i32),
            number: o.number.as_ref().map(|n| painted(n, &def.code, width)),
            check_digit: o.number.as_ref().is_some_and(Number::has_check_digit),
            status: o.status.as_str(),
            // NULL while the status is as created, as in the GeoPackage store.
            status_changed: (o.status_changed != o.created).then(|| format_ms(o.status_changed)),
            attributes: JsonText(
                (!o.attributes.is_empty()).then(|| attributes_json(&o.attributes)),
            ),
            source_file: o.source.file.to_string(),
            source_id: o.source.id.to_string(),
            created: format_ms(o.created),
            updated: format_ms(o.updated),
            number_assigned,
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.fid,
            &self.geom,
            &self.serial,
            &self.number,
            &self.check_digit,
            &self.status,
            &self.status_changed,
            &self.attributes,
            &self.source_file,
            &self.source_id,
            &self.created,
            &self.updated,
            &self.number_assigned,
        ]
    }
}

impl PgStore {
    /// Writes `changes` as one batch; returns the history sequence number of its last row and
    /// the next free object id.
    pub(super) async fn write_batch(
        &self,
        head: &BatchHead,
        changes: &[Change],
        summary: serde_json::Value,
    ) -> Result<Written, StoreError> {
        let mut client = self.client().await?;
        let tx = self.write_tx(&mut client).await?;
        let free = self.next_free(&tx).await?;
        let mut w = Writer::open(&tx, &self.layers, self.width, head, &self.shown).await?;
        w.write(changes).await?;
        let before = w.before;
        let bulk = w.bulk_layers();
        let seq = w.finish(summary).await?;
        let written = self.end(tx, free, (before, seq), free).await?;
        self.analyze(&client, &bulk).await;
        Ok(written)
    }

    /// As [`crate::store::Store::commit_parts`].
    pub(super) async fn write_parts(
        &self,
        head: &BatchHead,
        parts: std::sync::mpsc::Receiver<Part>,
        first_id: &mut dyn FnMut(ObjectId),
        written: &mut dyn FnMut(Vec<Change>),
    ) -> Result<Written, StoreError> {
        let mut client = self.client().await?;
        let tx = self.write_tx(&mut client).await?;
        let free = self.next_free(&tx).await?;
        first_id(free);
        let mut w = Writer::open(&tx, &self.layers, self.width, head, &self.shown).await?;
        loop {
            // The parts come from another thread; waiting for one blocks only this call's
            // thread (the connection's I/O runs on the store's runtime).
            match parts.recv() {
                Ok(Part::Changes(changes)) => {
                    w.write(&changes).await?;
                    written(changes);
                }
                Ok(Part::Serials(reply)) => {
                    let set = read_serials(&tx, self.width)
                        .await
                        .map_err(|e| e.named(&self.shown));
                    // The asker may have given up; then the next recv ends the batch.
                    let _ = reply.send(set);
                }
                Ok(Part::Finish { summary, next_id }) => {
                    let before = w.before;
                    let bulk = w.bulk_layers();
                    let seq = w.finish(summary).await?;
                    let written = self.end(tx, free, (before, seq), next_id).await?;
                    self.analyze(&client, &bulk).await;
                    return Ok(written);
                }
                Err(_) => {
                    return Err(StoreError::Abandoned {
                        path: self.shown.clone(),
                    });
                }
            }
        }
    }

    /// `ANALYZE`s `layers` after a bulk write committed; a failure only delays the planner's
    /// statistics to autovacuum's next round, so it is logged, not returned.
    pub(super) async fn analyze(&self, client: &deadpool_postgres::Object, layers: &[String]) {
        for name in layers {
            if let Err(err) = client.batch_execute(&format!("ANALYZE \"{name}\"")).await {
                tracing::warn!(layer = %name, %err, "ANALYZE after a bulk write failed");
            }
        }
    }

    /// The first free object id, read inside the write's transaction.
    async fn next_free(&self, tx: &Tx<'_>) -> Result<ObjectId, StoreError> {
        let stored: ObjectId = super::reads::read_setting(tx, "next_id")
            .await
            .map_err(self.pg())?
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        Ok(stored.max(self.next_id))
    }

    /// Records the next free id (`used_to`, or `free` if larger) and commits.
    async fn end(
        &self,
        tx: Tx<'_>,
        free: ObjectId,
        (before, seq): (u64, u64),
        used_to: ObjectId,
    ) -> Result<Written, StoreError> {
        let next_id = used_to.max(free).max(self.next_id);
        tx.execute(
            "UPDATE citytwin_settings SET value = $1::text WHERE key = 'next_id' AND value::bigint < $2",
            &[&next_id.to_string(), &(next_id as i64)],
        )
        .await
        .map_err(self.pg())?;
        tx.commit().await.map_err(self.pg())?;
        Ok(Written {
            before,
            seq,
            next_id,
        })
    }
}
