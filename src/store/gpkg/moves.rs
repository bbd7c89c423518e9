//! Moving a store: everything the GeoPackage keeps, read as stored, and an empty GeoPackage
//! filled with what another store kept (`citytwin migrate`).

use rusqlite::params;

use super::encode::Encoded;
use super::history::read_chain;
use super::rows::{ROWS_PER_INSERT, RowInsert, TimeTexts};
use super::settings::write_setting;
use super::{GpkgStore, rtree, sql};
use crate::model::Object;
use crate::store::{Change, Kept, Photo, Retired, StoreError, TokenRow};

impl GpkgStore {
    pub(super) fn read_kept(&mut self) -> Result<Kept, StoreError> {
        let p = self.shown();
        let e = |err| sql(&p, err);
        // One read transaction: a snapshot of every table.
        let tx = self.conn.transaction().map_err(e)?;
        let mut kept = Kept {
            history: read_chain(&tx).map_err(e)?,
            ..Kept::default()
        };
        let mut st = tx
            .prepare(
                "SELECT key, value FROM citytwin_settings WHERE key <> 'schema_version' ORDER BY key",
            )
            .map_err(e)?;
        kept.settings = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(e)?;
        let mut st = tx
            .prepare("SELECT block, given FROM citytwin_serials ORDER BY block")
            .map_err(e)?;
        kept.serials = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(e)?;
        let mut st = tx
            .prepare(
                "SELECT serial, layer, object_id, assigned, retired FROM citytwin_retired_numbers \
                 ORDER BY serial",
            )
            .map_err(e)?;
        kept.retired = st
            .query_map([], |r| {
                Ok(Retired {
                    serial: r.get(0)?,
                    layer: r.get(1)?,
                    object_id: r.get(2)?,
                    assigned: r.get(3)?,
                    retired: r.get(4)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(e)?;
        let mut st = tx
            .prepare(
                "SELECT id, name, role, hash, created, expires, revoked FROM citytwin_tokens ORDER BY id",
            )
            .map_err(e)?;
        kept.tokens = st
            .query_map([], |r| {
                Ok(TokenRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    role: r.get(2)?,
                    hash: r.get(3)?,
                    created: r.get(4)?,
                    expires: r.get(5)?,
                    revoked: r.get(6)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(e)?;
        let mut st = tx
            .prepare("SELECT key, mime, bytes FROM citytwin_photos ORDER BY key")
            .map_err(e)?;
        kept.photos = st
            .query_map([], |r| {
                Ok(Photo {
                    key: r.get(0)?,
                    mime: r.get(1)?,
                    bytes: r.get(2)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(e)?;
        for def in self.layers.defs() {
            let mut st = tx
                .prepare(&format!(
                    "SELECT fid, number_assigned FROM \"{}\" WHERE number_assigned IS NOT NULL",
                    def.name
                ))
                .map_err(e)?;
            let rows: Vec<(i64, String)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(Iterator::collect)
                .map_err(e)?;
            kept.assigned
                .extend(rows.into_iter().map(|(id, at)| (id as u64, at)));
        }
        kept.assigned.sort();
        Ok(kept)
    }

    pub(super) fn fill_from(&mut self, kept: &Kept, objects: &[Object]) -> Result<(), StoreError> {
        let p = self.shown();
        let e = |err| sql(&p, err);
        let (layers, width) = (self.layers.clone(), self.width);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let mut held: i64 = tx
            .query_row(
                "SELECT (SELECT count(*) FROM citytwin_history) + (SELECT count(*) FROM citytwin_tokens)",
                [],
                |r| r.get(0),
            )
            .map_err(e)?;
        for def in layers.defs() {
            held += tx
                .query_row(&format!("SELECT count(*) FROM \"{}\"", def.name), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(e)?;
        }
        if held > 0 {
            return Err(StoreError::Invalid {
                path: p.clone(),
                reason: "the store to fill is not empty: it holds objects, history or tokens"
                    .into(),
            });
        }
        for (k, v) in &kept.settings {
            write_setting(&tx, k, v).map_err(e)?;
        }
        for (block, bits) in &kept.serials {
            tx.execute(
                "INSERT OR REPLACE INTO citytwin_serials(block, given) VALUES (?1, ?2)",
                params![block, bits],
            )
            .map_err(e)?;
        }
        for r in &kept.retired {
            tx.execute(
                "INSERT INTO citytwin_retired_numbers(serial, layer, object_id, assigned, retired) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.serial, r.layer, r.object_id, r.assigned, r.retired],
            )
            .map_err(e)?;
        }
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO citytwin_history(seq, at, actor, action, layer, object_id, number, old, new, prev_hash, hash) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(e)?;
            for h in &kept.history {
                st.execute(params![
                    h.seq,
                    h.at,
                    h.actor,
                    h.action,
                    h.layer,
                    h.object_id,
                    h.number,
                    h.old,
                    h.new,
                    h.prev_hash,
                    h.hash
                ])
                .map_err(e)?;
            }
        }
        for t in &kept.tokens {
            tx.execute(
                "INSERT INTO citytwin_tokens(id, name, role, hash, created, expires, revoked) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    t.id, t.name, t.role, t.hash, t.created, t.expires, t.revoked
                ],
            )
            .map_err(e)?;
        }
        for ph in &kept.photos {
            tx.execute(
                "INSERT INTO citytwin_photos(key, mime, bytes) VALUES (?1, ?2, ?3)",
                params![ph.key, ph.mime, ph.bytes],
            )
            .map_err(e)?;
        }
        // The objects, layer by layer, as a bulk import writes them: the spatial index is
        // built after the rows.
        for def in layers.defs() {
            rtree::drop_triggers(&tx, &def.name).map_err(e)?;
        }
        {
            let bad = |o: &Object, err: rusqlite::Error| StoreError::BadRow {
                path: p.clone(),
                layer: layers.def(o.layer).name.clone(),
                fid: o.id as i64,
                reason: err.to_string(),
            };
            let mut inserts: Vec<RowInsert<'_>> = layers
                .defs()
                .iter()
                .map(|d| RowInsert::new(&tx, &d.name))
                .collect::<rusqlite::Result<_>>()
                .map_err(e)?;
            let mut times = TimeTexts::default();
            for slice in objects.chunks(4096) {
                let changes: Vec<Change> = slice.iter().cloned().map(Change::Create).collect();
                let enc = Encoded::of(&changes, &layers, width, &p)?;
                for (k, o) in slice.iter().enumerate() {
                    let ins =
                        inserts
                            .get_mut(o.layer as usize)
                            .ok_or_else(|| StoreError::Invalid {
                                path: p.clone(),
                                reason: format!(
                                    "object {} names layer #{} which does not exist",
                                    o.id, o.layer
                                ),
                            })?;
                    ins.pending.push(k);
                    if ins.pending.len() == ROWS_PER_INSERT {
                        ins.flush(&changes, &enc, &mut times, &bad)?;
                    }
                }
                for ins in &mut inserts {
                    if !ins.pending.is_empty() {
                        ins.flush(&changes, &enc, &mut times, &bad)?;
                    }
                }
            }
        }
        let assigned: std::collections::HashMap<u64, &str> = kept
            .assigned
            .iter()
            .map(|(id, at)| (*id, at.as_str()))
            .collect();
        if !assigned.is_empty() {
            for o in objects {
                if let Some(at) = assigned.get(&o.id) {
                    tx.execute(
                        &format!(
                            "UPDATE \"{}\" SET number_assigned = ?2 WHERE fid = ?1",
                            layers.def(o.layer).name
                        ),
                        params![o.id as i64, at],
                    )
                    .map_err(e)?;
                }
            }
        }
        for def in layers.defs() {
            rtree::rebuild(&tx, &def.name).map_err(e)?;
            rtree::create_triggers(&tx, &def.name).map_err(e)?;
        }
        tx.commit().map_err(e)?;
        self.next_id = kept
            .settings
            .iter()
            .find(|(k, _)| k == "next_id")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(self.next_id);
        Ok(())
    }
}
