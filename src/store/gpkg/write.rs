//! A batch's transaction: the journal switch of bulk writes, the early flush, and the pipeline
//! that encodes a part on one thread while the part before it is written on another.

use super::batch::BatchWriter;
use super::encode::Encoded;
use super::file::flush_until;
use super::settings::read_setting;
use super::{BUSY_TIMEOUT, GpkgStore, sql};
use crate::model::ObjectId;
use crate::store::{BatchHead, Change, Part, StoreError, serials};

/// Page cache for everyday use (negative: KiB), small because the twin answers reads.
const SMALL_CACHE_KIB: i64 = -16_384;

impl GpkgStore {
    pub(super) fn write_parts(
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
    pub(super) fn in_batch(
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
        w.finish_index()?;
        let indexed = started.elapsed();
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
            index_ms = (indexed - filled).as_millis() as u64,
            numbers_ms = (finished - indexed).as_millis() as u64,
            commit_ms = (started.elapsed() - finished).as_millis() as u64,
            "batch written"
        );
        Ok(seq)
    }
}

/// A part on its way from the encoding thread to the writer.
enum Encoding {
    Changes(Vec<Change>, Result<Encoded, StoreError>),
    Serials(std::sync::mpsc::SyncSender<Result<fixedbitset::FixedBitSet, StoreError>>),
    Finish(serde_json::Value, ObjectId),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Layers;
    use crate::store::Store;
    use crate::store::gpkg::tests::batch;

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
