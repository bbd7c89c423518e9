//! The PostGIS store's history, tokens, photos and settings.

use deadpool_postgres::GenericClient;

use super::PgStore;
use super::batch::Appender;
use crate::access::tokens::{NewToken, TokenRecord};
use crate::model::ObjectId;
use crate::store::{HistoryEntry, Photo, StoreError, Unless, chain, format_ms};

/// The history's columns as [`history_row`] reads them.
const HISTORY_SELECT: &str =
    "SELECT seq, at, actor, action, layer, object_id, number, old, new, hash FROM citytwin_history";

/// The whole history chain as stored, as [`chain_row`] reads it.
pub(super) const CHAIN_SELECT: &str = "SELECT seq, at, actor, action, layer, object_id, number, old, new, \
     prev_hash, hash FROM citytwin_history ORDER BY seq";

/// One row of [`CHAIN_SELECT`].
pub(super) fn chain_row(r: &tokio_postgres::Row) -> chain::Entry {
    chain::Entry {
        seq: r.get(0),
        at: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        layer: r.get(4),
        object_id: r.get(5),
        number: r.get(6),
        old: r.get(7),
        new: r.get(8),
        prev_hash: r.get::<_, Option<String>>(9).unwrap_or_default(),
        hash: r.get::<_, Option<String>>(10).unwrap_or_default(),
    }
}

/// The tokens table's columns as [`token_row`] reads them.
const TOKEN_SELECT: &str =
    "SELECT id, name, role, hash, created, expires, revoked FROM citytwin_tokens";

/// One value of `citytwin_settings`.
pub(super) async fn read_setting<C: GenericClient>(
    c: &C,
    key: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    Ok(c.query_opt(
        "SELECT value FROM citytwin_settings WHERE key = $1",
        &[&key],
    )
    .await?
    .map(|r| r.get(0)))
}

/// Sets one value of `citytwin_settings`.
pub(super) async fn write_setting<C: GenericClient>(
    c: &C,
    key: &str,
    value: &str,
) -> Result<(), tokio_postgres::Error> {
    c.execute(
        "INSERT INTO citytwin_settings(key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )
    .await?;
    Ok(())
}

fn history_row(r: &tokio_postgres::Row) -> HistoryEntry {
    let json = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
    HistoryEntry {
        seq: r.get(0),
        at: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        layer: r.get(4),
        object_id: r.get::<_, Option<i64>>(5).map(|v| v as u64),
        number: r.get(6),
        old: json(r.get(7)),
        new: json(r.get(8)),
        hash: r.get(9),
    }
}

fn token_row(r: &tokio_postgres::Row) -> TokenRecord {
    let role: String = r.get(2);
    let time = |i: usize| {
        r.get::<_, Option<String>>(i)
            .and_then(|t| crate::store::parse_ms(&t))
    };
    let id: i64 = r.get(0);
    TokenRecord {
        id,
        name: r.get(1),
        role: crate::access::tokens::stored_role(id, &role),
        hash: r.get(3),
        created: time(4).unwrap_or(0),
        expires: time(5),
        revoked: time(6),
    }
}

/// A limit as SQL takes it.
fn limit(n: usize) -> i64 {
    n.min(i64::MAX as usize) as i64
}

impl PgStore {
    /// A read-only transaction that sees one snapshot of every table.
    pub(super) async fn snapshot<'c>(
        &self,
        c: &'c mut deadpool_postgres::Object,
    ) -> Result<deadpool_postgres::Transaction<'c>, StoreError> {
        c.build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(self.pg())
    }

    pub(super) async fn newest_seq(&self) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one("SELECT coalesce(max(seq), 0) FROM citytwin_history", &[])
            .await
            .map_err(self.pg())?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    pub(super) async fn read_history(
        &self,
        object: Option<ObjectId>,
        action: Option<&str>,
        n: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "{HISTORY_SELECT} WHERE ($1::bigint IS NULL OR object_id = $1) \
                     AND ($2::text IS NULL OR action = $2) ORDER BY seq DESC LIMIT $3"
                ),
                &[&object.map(|o| o as i64), &action, &limit(n)],
            )
            .await
            .map_err(self.pg())?;
        Ok(rows.iter().map(history_row).collect())
    }

    pub(super) async fn read_history_after(
        &self,
        after: u64,
        actions: &[&str],
        n: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let c = self.client().await?;
        let actions: Vec<&str> = actions.to_vec();
        let rows = c
            .query(
                &format!(
                    "{HISTORY_SELECT} WHERE seq > $1 AND (cardinality($2::text[]) = 0 OR action = ANY($2)) \
                     ORDER BY seq LIMIT $3"
                ),
                &[&(after.min(i64::MAX as u64) as i64), &actions, &limit(n)],
            )
            .await
            .map_err(self.pg())?;
        Ok(rows.iter().map(history_row).collect())
    }

    pub(super) async fn holder_of_number(
        &self,
        number: &str,
    ) -> Result<Option<(ObjectId, String)>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT object_id, layer FROM citytwin_history \
                 WHERE number = $1 AND object_id IS NOT NULL AND layer IS NOT NULL \
                 ORDER BY seq DESC LIMIT 1",
                &[&number],
            )
            .await
            .map_err(self.pg())?;
        Ok(row.map(|r| (r.get::<_, i64>(0) as ObjectId, r.get(1))))
    }

    /// Walks the whole chain, read in one snapshot with the recorded head.
    pub(super) async fn verify_chain(&self) -> Result<chain::Verdict, StoreError> {
        let mut c = self.client().await?;
        let tx = self.snapshot(&mut c).await?;
        let rows = tx.query(CHAIN_SELECT, &[]).await.map_err(self.pg())?;
        let head = read_setting(&tx, "audit_head")
            .await
            .map_err(self.pg())?
            .and_then(|h| {
                let (s, h) = h.split_once(' ')?;
                Some((s.parse().ok()?, h.to_string()))
            });
        tx.commit().await.map_err(self.pg())?;
        let entries = rows.iter().map(chain_row);
        Ok(chain::verify(entries, head))
    }

    /// Appends entries that change no object, and a photo, in one write; each entry's
    /// sequence number and hash.
    pub(super) async fn record_entries(
        &self,
        actor: &str,
        entries: &[(&str, serde_json::Value)],
        photo: Option<&Photo>,
        unless: Option<Unless<'_>>,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let mut client = self.client().await?;
        let tx = self.write_tx(&mut client).await?;
        if let Some(u) = unless {
            let actions: Vec<&str> = u.actions.to_vec();
            let newer: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM citytwin_history WHERE seq > $1 AND action = ANY($2))",
                    &[&(u.after.min(i64::MAX as u64) as i64), &actions],
                )
                .await
                .map_err(self.pg())?
                .get(0);
            if newer {
                return Err(u.stale(&self.shown));
            }
        }
        if let Some(ph) = photo {
            tx.execute(
                "INSERT INTO citytwin_photos(key, mime, bytes) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO NOTHING",
                &[&ph.key, &ph.mime, &ph.bytes],
            )
            .await
            .map_err(self.pg())?;
        }
        let mut h = Appender::open(&tx).await.map_err(self.pg())?;
        let at = format_ms(crate::model::now_ms());
        let mut kept = Vec::with_capacity(entries.len());
        for (action, new) in entries {
            let entry = chain::Entry {
                at: at.clone(),
                actor: actor.to_string(),
                action: action.to_string(),
                new: Some(new.to_string()),
                ..Default::default()
            };
            h.push(&tx, entry).await.map_err(self.pg())?;
            kept.push((h.seq.max(0) as u64, h.hash.clone()));
        }
        h.finish(&tx).await.map_err(self.pg())?;
        tx.commit().await.map_err(self.pg())?;
        Ok(kept)
    }

    pub(super) async fn read_photo(&self, key: &str) -> Result<Option<Photo>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT key, mime, bytes FROM citytwin_photos WHERE key = $1",
                &[&key],
            )
            .await
            .map_err(self.pg())?;
        Ok(row.map(|r| Photo {
            key: r.get(0),
            mime: r.get(1),
            bytes: r.get(2),
        }))
    }

    pub(super) async fn read_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(&format!("{TOKEN_SELECT} ORDER BY id"), &[])
            .await
            .map_err(self.pg())?;
        Ok(rows.iter().map(token_row).collect())
    }

    pub(super) async fn insert_token(&self, t: &NewToken, actor: &str) -> Result<i64, StoreError> {
        let mut client = self.client().await?;
        let tx = self.write_tx(&mut client).await?;
        let now = format_ms(crate::model::now_ms());
        let expires = t.expires.map(format_ms);
        let id: i64 = tx
            .query_one(
                "INSERT INTO citytwin_tokens(name, role, hash, created, expires) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&t.name, &t.role.as_str(), &t.hash, &now, &expires],
            )
            .await
            .map_err(self.pg())?
            .get(0);
        let new =
            serde_json::json!({"token": id, "name": t.name, "role": t.role, "expires": expires});
        self.token_entry(&tx, actor, "token_create", &now, new)
            .await?;
        tx.commit().await.map_err(self.pg())?;
        Ok(id)
    }

    pub(super) async fn revoke(
        &self,
        id: i64,
        actor: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = self.write_tx(&mut client).await?;
        let now = format_ms(crate::model::now_ms());
        let n = tx
            .execute(
                "UPDATE citytwin_tokens SET revoked = $2 WHERE id = $1 AND revoked IS NULL",
                &[&id, &now],
            )
            .await
            .map_err(self.pg())?;
        let t = tx
            .query_opt(&format!("{TOKEN_SELECT} WHERE id = $1"), &[&id])
            .await
            .map_err(self.pg())?
            .map(|r| token_row(&r));
        // Only a revocation that happened is recorded.
        if let Some(t) = t.as_ref().filter(|_| n == 1) {
            let new = serde_json::json!({"token": t.id, "name": t.name, "role": t.role});
            self.token_entry(&tx, actor, "token_revoke", &now, new)
                .await?;
        }
        tx.commit().await.map_err(self.pg())?;
        Ok(t)
    }

    /// The history entry of a change to the tokens.
    async fn token_entry(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        actor: &str,
        action: &str,
        now: &str,
        new: serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut h = Appender::open(tx).await.map_err(self.pg())?;
        let entry = chain::Entry {
            at: now.to_string(),
            actor: actor.to_string(),
            action: action.into(),
            new: Some(new.to_string()),
            ..Default::default()
        };
        h.push(tx, entry).await.map_err(self.pg())?;
        h.finish(tx).await.map_err(self.pg())?;
        Ok(())
    }
}
