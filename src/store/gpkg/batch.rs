//! What one batch writes inside its transaction: rows, retired and given numbers, history.

use rusqlite::{OptionalExtension, params};

use super::encode::Encoded;
use super::history::Appender;
use super::rows::{ROWS_PER_INSERT, RowInsert, TimeTexts};
use super::{rtree, sql};
use crate::model::{Layers, Object};
use crate::store::{
    BatchHead, Change, StoreError, format_ms, given_before, scheme_serial, serials,
};

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

/// Writes the changes of one batch inside its transaction, part by part; [`BatchWriter::finish`]
/// adds what belongs to the batch as a whole (numbers, the summary row, the history head).
pub(super) struct BatchWriter<'t> {
    pub(super) tx: &'t rusqlite::Transaction<'t>,
    layers: &'t Layers,
    pub(super) width: u8,
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
    /// Objects created per layer.
    created_in: Vec<u64>,
    touched: std::collections::BTreeSet<u16>,
}

impl<'t> BatchWriter<'t> {
    pub(super) fn open(
        tx: &'t rusqlite::Transaction<'t>,
        layers: &'t Layers,
        width: u8,
        head: &'t BatchHead,
        path: String,
    ) -> Result<BatchWriter<'t>, StoreError> {
        let e = |err| sql(&path, err);
        // A bulk write fills the spatial index after its rows: the index's triggers are gone
        // for the batch (before any statement is prepared) and made again at its end.
        if head.bulk {
            for def in layers.defs() {
                rtree::drop_triggers(tx, &def.name).map_err(e)?;
            }
        }
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
            created_in: vec![0; layers.defs().len()],
            touched: Default::default(),
            path,
        })
    }

    /// Writes `changes` (rows, retired numbers, a history row per update and delete).
    pub(super) fn write(&mut self, changes: &[Change]) -> Result<(), StoreError> {
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
    pub(super) fn write_encoded(
        &mut self,
        changes: &[Change],
        enc: &Encoded,
    ) -> Result<(), StoreError> {
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
                        self.created_in[o.layer as usize] += 1;
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
            if self.head.bulk {
                self.index_now(change).map_err(row_err)?;
            }
            let number = shown_number.map(str::to_string);
            if let Some(entry) =
                crate::store::change_entry(self.head, &self.now, change, layers, width, number)
            {
                self.history.push(entry).map_err(row_err)?;
            }
        }
        Ok(())
    }

    /// Keeps the spatial index of an updated or deleted object while a bulk write has the
    /// index's triggers dropped; created objects are indexed at the end (see
    /// [`BatchWriter::finish_index`]).
    fn index_now(&self, change: &Change) -> rusqlite::Result<()> {
        let name = |layer: u16| &self.layers.def(layer).name;
        match change {
            Change::Create(_) => Ok(()),
            Change::Update { old, new } => {
                if old.layer != new.layer {
                    rtree::remove(self.tx, name(old.layer), old.id)?;
                }
                let b = new.geometry.bbox();
                rtree::put(self.tx, name(new.layer), new.id, [b[0], b[2], b[1], b[3]])
            }
            Change::Delete(o) => rtree::remove(self.tx, name(o.layer), o.id),
        }
    }

    /// After the rows of a bulk write: puts the objects it created into the spatial index and
    /// makes the index's triggers again. Nothing for other writes, whose rows the triggers
    /// indexed. A layer whose index gains at least a sixteenth of what it held is indexed anew,
    /// packed and written at once (about 1.3 µs per entry of the whole index); into a larger
    /// index the new rows go one by one through the R*Tree, which costs 6 µs a row into an empty
    /// index and 24 µs into one of 800,000 (measured on the synthetic city).
    pub(super) fn finish_index(&mut self) -> Result<(), StoreError> {
        if !self.head.bulk {
            return Ok(());
        }
        let e = |err| sql(&self.path, err);
        for (l, &created) in self.created_in.iter().enumerate() {
            if created == 0 {
                continue;
            }
            let name = &self.layers.defs()[l].name;
            if created * 16 >= rtree::entries(self.tx, name).map_err(e)? {
                rtree::rebuild(self.tx, name).map_err(e)?;
            } else {
                rtree::fill(self.tx, name, self.created).map_err(e)?;
            }
        }
        for def in self.layers.defs() {
            rtree::create_triggers(self.tx, &def.name).map_err(e)?;
        }
        Ok(())
    }

    /// Records the batch's serials, its summary row (unless it was one created object with a
    /// row of its own) and the new history head; returns the newest history sequence number.
    pub(super) fn finish(mut self, summary: serde_json::Value) -> Result<u64, StoreError> {
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
        let entry = crate::store::summary_entry(
            self.head,
            &self.now,
            summary,
            self.counts,
            (self.first_id, self.last_id),
        );
        if let Some(entry) = entry {
            self.history.push(entry).map_err(e)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Layers, Status};
    use crate::numbering::Number;
    use crate::store::Store;
    use crate::store::gpkg::GpkgStore;
    use crate::store::gpkg::tests::{batch, given, numbers_view};

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
}
