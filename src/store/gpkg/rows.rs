//! A layer's row inserts: created objects many rows per statement, values read in place and
//! shared values bound once.

use super::encode::Encoded;
use crate::model::{Object, Status};
use crate::numbering::Number;
use crate::store::inplace::{self, InPlace};
use crate::store::{Change, StoreError, format_ms};

/// Recent times as shared texts: a bulk import writes the same few times millions of times,
/// and each row binds three of them.
#[derive(Default)]
pub(super) struct TimeTexts(Vec<(i64, std::rc::Rc<str>)>);

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

/// The `VALUES` list of a multi-row insert: `rows` rows of `cols` parameters numbered in
/// order (`(?1, ?2), (?3, ?4)`).
pub(super) fn values_of_rows(rows: usize, cols: usize) -> String {
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
pub(super) const ROWS_PER_INSERT: usize = 64;

/// One layer's row inserts (or replaces). Objects created by the batch wait in `pending` and go
/// in 64 rows per statement; everything else one row per statement.
pub(super) struct RowInsert<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    table: String,
    pub(super) one: Rows<'t>,
    /// Prepared at the first run of 64 created objects.
    many: Option<Rows<'t>>,
    /// Created objects not written yet: their places in the part being written.
    pub(super) pending: Vec<usize>,
}

/// An insert statement of `slots.len()` rows of 12 columns, its texts and blobs read in place
/// (see [`inplace`]). The columns that most rows of a batch share (status, times, source file)
/// are bound again only when they change: a statement keeps its bindings from one row to the
/// next. A row's own values are bound for every run.
pub(super) struct Rows<'t> {
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
    pub(super) fn write(
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
    pub(super) fn new(
        tx: &'t rusqlite::Transaction<'t>,
        table: &str,
    ) -> rusqlite::Result<RowInsert<'t>> {
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
    pub(super) fn flush(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Layers;
    use crate::store::Store;
    use crate::store::gpkg::GpkgStore;
    use crate::store::gpkg::history::last_seq;
    use crate::store::gpkg::tests::batch;

    #[test]
    fn values_of_rows_numbers_each_rows_parameters_in_order() {
        assert_eq!(values_of_rows(2, 2), "(?1, ?2), (?3, ?4)");
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
}
