//! Moving a store: everything the PostGIS store keeps, read as stored, and an empty one filled
//! with what another store kept (`citytwin migrate`).

use super::batch::{BULK_ROWS, CopyTarget, Row, index, unindex_if_empty};
use super::{PgStore, reads};
use crate::model::Object;
use crate::store::{Kept, Photo, Retired, StoreError, TokenRow};

impl PgStore {
    pub(super) async fn read_kept(&self) -> Result<Kept, StoreError> {
        let mut client = self.client().await?;
        let tx = self.snapshot(&mut client).await?;
        let q = |sql: &'static str| {
            let tx = &tx;
            async move { tx.query(sql, &[]).await.map_err(self.pg()) }
        };
        let mut kept = Kept {
            settings: q("SELECT key, value FROM citytwin_settings ORDER BY key")
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
            ..Kept::default()
        };
        kept.serials = q("SELECT block, given FROM citytwin_serials ORDER BY block")
            .await?
            .iter()
            .map(|r| (i64::from(r.get::<_, i32>(0)), r.get(1)))
            .collect();
        kept.retired = q(
            "SELECT serial, layer, object_id, assigned, retired FROM citytwin_retired_numbers ORDER BY serial",
        )
        .await?
        .iter()
        .map(|r| Retired {
            serial: i64::from(r.get::<_, i32>(0)),
            layer: r.get(1),
            object_id: r.get(2),
            assigned: r.get(3),
            retired: r.get(4),
        })
        .collect();
        kept.history = q(reads::CHAIN_SELECT)
            .await?
            .iter()
            .map(reads::chain_row)
            .collect();
        kept.tokens = q(
            "SELECT id, name, role, hash, created, expires, revoked FROM citytwin_tokens ORDER BY id",
        )
        .await?
        .iter()
        .map(|r| TokenRow {
            id: r.get(0),
            name: r.get(1),
            role: r.get(2),
            hash: r.get(3),
            created: r.get(4),
            expires: r.get(5),
            revoked: r.get(6),
        })
        .collect();
        kept.photos = q("SELECT key, mime, bytes FROM citytwin_photos ORDER BY key")
            .await?
            .iter()
            .map(|r| Photo {
                key: r.get(0),
                mime: r.get(1),
                bytes: r.get(2),
            })
            .collect();
        for def in self.layers.defs() {
            let rows = tx
                .query(
                    &format!(
                        "SELECT fid, number_assigned FROM \"{}\" WHERE number_assigned IS NOT NULL",
                        def.name
                    ),
                    &[],
                )
                .await
                .map_err(self.pg())?;
            kept.assigned
                .extend(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, r.get(1))));
        }
        kept.assigned.sort();
        tx.commit().await.map_err(self.pg())?;
        Ok(kept)
    }

    pub(super) async fn fill_from(
        &self,
        kept: &Kept,
        objects: &[Object],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = self.write_tx(&mut client).await?;
        let mut held: i64 = tx
            .query_one(
                "SELECT (SELECT count(*) FROM citytwin_history) + (SELECT count(*) FROM citytwin_tokens)",
                &[],
            )
            .await
            .map_err(self.pg())?
            .get(0);
        for def in self.layers.defs() {
            held += tx
                .query_one(&format!("SELECT count(*) FROM \"{}\"", def.name), &[])
                .await
                .map_err(self.pg())?
                .get::<_, i64>(0);
        }
        if held > 0 {
            return Err(StoreError::Invalid {
                path: self.shown.clone(),
                reason: "the store to fill is not empty: it holds objects, history or tokens"
                    .into(),
            });
        }
        for (k, v) in &kept.settings {
            if k != "schema_version" {
                reads::write_setting(&tx, k, v).await.map_err(self.pg())?;
            }
        }
        let e = self.pg();
        for (block, bits) in &kept.serials {
            let block = i32::try_from(*block).map_err(|_| StoreError::Invalid {
                path: self.shown.clone(),
                reason: format!("serial block {block} is out of range"),
            })?;
            tx.execute(
                "INSERT INTO citytwin_serials(block, given) VALUES ($1, $2)",
                &[&block, bits],
            )
            .await
            .map_err(&e)?;
        }
        for r in &kept.retired {
            tx.execute(
                "INSERT INTO citytwin_retired_numbers(serial, layer, object_id, assigned, retired) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &(r.serial as i32),
                    &r.layer,
                    &r.object_id,
                    &r.assigned,
                    &r.retired,
                ],
            )
            .await
            .map_err(&e)?;
        }
        let insert = tx
            .prepare(
                "INSERT INTO citytwin_history(seq, at, actor, action, layer, object_id, number, old, new, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .await
            .map_err(&e)?;
        for h in &kept.history {
            tx.execute(
                &insert,
                &[
                    &h.seq,
                    &h.at,
                    &h.actor,
                    &h.action,
                    &h.layer,
                    &h.object_id,
                    &h.number,
                    &h.old,
                    &h.new,
                    &h.prev_hash,
                    &h.hash,
                ],
            )
            .await
            .map_err(&e)?;
        }
        for t in &kept.tokens {
            tx.execute(
                "INSERT INTO citytwin_tokens(id, name, role, hash, created, expires, revoked) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &t.id, &t.name, &t.role, &t.hash, &t.created, &t.expires, &t.revoked,
                ],
            )
            .await
            .map_err(&e)?;
        }
        // The next token gets an id after the ones moved.
        tx.execute(
            "SELECT setval(pg_get_serial_sequence('citytwin_tokens', 'id'), \
             greatest((SELECT max(id) FROM citytwin_tokens), 1))",
            &[],
        )
        .await
        .map_err(&e)?;
        for ph in &kept.photos {
            tx.execute(
                "INSERT INTO citytwin_photos(key, mime, bytes) VALUES ($1, $2, $3)",
                &[&ph.key, &ph.mime, &ph.bytes],
            )
            .await
            .map_err(&e)?;
        }
        let assigned: std::collections::HashMap<u64, &str> = kept
            .assigned
            .iter()
            .map(|(id, at)| (*id, at.as_str()))
            .collect();
        let mut analyzed = Vec::new();
        for layer in self.layers.ids() {
            let st = tx
                .prepare(&format!(
                    "SELECT geom FROM \"{}\" LIMIT 0",
                    self.layers.def(layer).name
                ))
                .await
                .map_err(&e)?;
            let target = CopyTarget {
                tx: &tx,
                path: &self.shown,
                layers: &self.layers,
                geometry: st.columns()[0].type_(),
            };
            let name = &self.layers.def(layer).name;
            let n = objects.iter().filter(|o| o.layer == layer).count() as u64;
            let bulk = n >= BULK_ROWS && unindex_if_empty(&tx, name).await.map_err(&e)?;
            let rows = objects.iter().filter(|o| o.layer == layer).map(|o| {
                let at = assigned.get(&o.id).map(|a| a.to_string());
                (o, Row::of(o, &self.layers, self.width, at))
            });
            target.copy(layer, rows).await?;
            if bulk {
                index(&tx, name).await.map_err(&e)?;
                analyzed.push(name.clone());
            }
        }
        tx.commit().await.map_err(&e)?;
        self.analyze(&client, &analyzed).await;
        Ok(())
    }
}
