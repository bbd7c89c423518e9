//! The hash-chained history: appending entries and reading them back.

use rusqlite::{OptionalExtension, params};

use super::settings::{read_setting, write_setting};
use super::{GpkgStore, sql};
use crate::model::ObjectId;
use crate::store::{HistoryEntry, StoreError, chain};

impl GpkgStore {
    /// Appends one entry that changes no object, in its own transaction.
    pub(super) fn record_entry(
        &mut self,
        actor: &str,
        action: &str,
        new: &serde_json::Value,
    ) -> Result<(u64, String), StoreError> {
        let mut kept = self.record_entries(actor, &[(action, new.clone())], None, None)?;
        kept.pop().ok_or_else(|| StoreError::Invalid {
            path: self.shown(),
            reason: "an entry was not appended".into(),
        })
    }

    /// Appends several entries, and a photo, in one transaction; each entry's sequence
    /// number and hash.
    pub(super) fn record_entries(
        &mut self,
        actor: &str,
        entries: &[(&str, serde_json::Value)],
        photo: Option<&crate::store::Photo>,
        unless: Option<crate::store::Unless<'_>>,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let p = self.shown();
        let e = |err| sql(&p, err);
        // Immediate: the check below and the append hold the file's write lock together.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        if let Some(u) = unless {
            let wanted = serde_json::to_string(u.actions).unwrap_or_else(|_| "[]".into());
            let newer: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM citytwin_history WHERE seq > ?1 \
                     AND action IN (SELECT value FROM json_each(?2)))",
                    params![u.after.min(i64::MAX as u64) as i64, wanted],
                    |r| r.get(0),
                )
                .map_err(e)?;
            if newer {
                return Err(u.stale(&p));
            }
        }
        if let Some(ph) = photo {
            tx.execute(
                "INSERT OR IGNORE INTO citytwin_photos(key, mime, bytes) VALUES (?1, ?2, ?3)",
                params![ph.key, ph.mime, ph.bytes],
            )
            .map_err(e)?;
        }
        let mut seqs = Vec::with_capacity(entries.len());
        {
            let mut h = Appender::open(&tx).map_err(e)?;
            let at = crate::store::format_ms(crate::model::now_ms());
            for (action, new) in entries {
                h.push(chain::Entry {
                    at: at.clone(),
                    actor: actor.to_string(),
                    action: action.to_string(),
                    new: Some(new.to_string()),
                    ..Default::default()
                })
                .map_err(e)?;
                seqs.push((h.seq.max(0) as u64, h.hash.clone()));
            }
            h.finish().map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(seqs)
    }

    pub(super) fn read_photo(
        &mut self,
        key: &str,
    ) -> Result<Option<crate::store::Photo>, StoreError> {
        let p = self.shown();
        self.conn
            .query_row(
                "SELECT key, mime, bytes FROM citytwin_photos WHERE key = ?1",
                [key],
                |r| {
                    Ok(crate::store::Photo {
                        key: r.get(0)?,
                        mime: r.get(1)?,
                        bytes: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| sql(&p, e))
    }

    pub(super) fn read_history_after(
        &mut self,
        after: u64,
        actions: &[&str],
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let p = self.shown();
        // The actions as a JSON array: one statement for any number of them.
        let wanted = serde_json::to_string(actions).unwrap_or_else(|_| "[]".into());
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, at, actor, action, layer, object_id, number, old, new, hash FROM citytwin_history \
                 WHERE seq > ?1 AND (json_array_length(?2) = 0 OR action IN (SELECT value FROM json_each(?2))) \
                 ORDER BY seq LIMIT ?3",
            )
            .map_err(|e| sql(&p, e))?;
        let rows = stmt
            .query_map(
                params![
                    after.min(i64::MAX as u64) as i64,
                    wanted,
                    limit.min(i64::MAX as usize) as i64
                ],
                history_row,
            )
            .map_err(|e| sql(&p, e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| sql(&p, e))
    }

    pub(super) fn read_history(
        &mut self,
        object: Option<ObjectId>,
        action: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let p = self.shown();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, at, actor, action, layer, object_id, number, old, new, hash FROM citytwin_history \
                 WHERE (?1 IS NULL OR object_id = ?1) AND (?2 IS NULL OR action = ?2) ORDER BY seq DESC LIMIT ?3",
            )
            .map_err(|e| sql(&p, e))?;
        let rows = stmt
            .query_map(
                params![object.map(|o| o as i64), action, limit as i64],
                history_row,
            )
            .map_err(|e| sql(&p, e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| sql(&p, e))
    }

    pub(super) fn holder_of_number(
        &mut self,
        number: &str,
    ) -> Result<Option<(ObjectId, String)>, StoreError> {
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

    pub(super) fn verify_chain(&mut self) -> Result<chain::Verdict, StoreError> {
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
}

/// One row of `SELECT seq, at, actor, action, layer, object_id, number, old, new, hash`.
fn history_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HistoryEntry> {
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
}

/// Appends entries to the hash-chained history inside one transaction.
pub(super) struct Appender<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    insert: rusqlite::Statement<'t>,
    seq: i64,
    hash: String,
    wrote: bool,
}

impl<'t> Appender<'t> {
    pub(super) fn open(tx: &'t rusqlite::Transaction<'t>) -> rusqlite::Result<Appender<'t>> {
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
    pub(super) fn push(&mut self, mut e: chain::Entry) -> rusqlite::Result<()> {
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
    pub(super) fn finish(self) -> rusqlite::Result<u64> {
        if self.wrote {
            set_head(self.tx, self.seq, &self.hash)?;
        }
        Ok(self.seq.max(0) as u64)
    }

    /// Appends one entry and records the new head.
    pub(super) fn record(
        tx: &'t rusqlite::Transaction<'t>,
        e: chain::Entry,
    ) -> rusqlite::Result<()> {
        let mut h = Appender::open(tx)?;
        h.push(e)?;
        h.finish().map(|_| ())
    }
}

/// Keeps the history's newest entry (seq and hash) as the setting `audit_head`.
pub(super) fn set_head(
    tx: &rusqlite::Transaction<'_>,
    seq: i64,
    hash: &str,
) -> rusqlite::Result<()> {
    write_setting(tx, "audit_head", &format!("{seq} {hash}"))
}

/// Every history entry in stored order, as stored.
pub(super) fn read_chain(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<chain::Entry>> {
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

/// The newest history row's sequence number (0 for none).
pub(super) fn last_seq(conn: &rusqlite::Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT coalesce(max(seq), 0) FROM citytwin_history",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|v| v.max(0) as u64)
}
