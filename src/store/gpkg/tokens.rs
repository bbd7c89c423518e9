//! API tokens (hashes only), each change recorded in the history.

use rusqlite::{OptionalExtension, params};

use super::history::Appender;
use super::{GpkgStore, sql};
use crate::access::tokens::{NewToken, TokenRecord};
use crate::store::{StoreError, chain, format_ms};

/// The tokens table's columns as [`token_row`] reads them.
const TOKEN_SELECT: &str =
    "SELECT id, name, role, hash, created, expires, revoked FROM citytwin_tokens";

impl GpkgStore {
    pub(super) fn read_tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        let p = self.shown();
        let e = |err| sql(&p, err);
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{TOKEN_SELECT} ORDER BY id"))
            .map_err(e)?;
        let rows = stmt.query_map([], token_row).map_err(e)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(e)
    }

    pub(super) fn insert_token(&mut self, t: &NewToken, actor: &str) -> Result<i64, StoreError> {
        self.token_change(actor, "token_create", |tx, now| {
            let expires = t.expires.map(format_ms);
            tx.execute(
                "INSERT INTO citytwin_tokens(name, role, hash, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.name, t.role.as_str(), t.hash, now, expires],
            )?;
            let id = tx.last_insert_rowid();
            let new = serde_json::json!({"token": id, "name": t.name, "role": t.role, "expires": expires});
            Ok((id, Some(new.to_string())))
        })
    }

    pub(super) fn revoke(
        &mut self,
        id: i64,
        actor: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.token_change(actor, "token_revoke", |tx, now| {
            let n = tx.execute(
                "UPDATE citytwin_tokens SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
                params![id, now],
            )?;
            let t = tx
                .query_row(&format!("{TOKEN_SELECT} WHERE id = ?1"), [id], token_row)
                .optional()?;
            // Only a revocation that happened is recorded.
            let new = t.as_ref().filter(|_| n == 1).map(|t| {
                serde_json::json!({"token": t.id, "name": t.name, "role": t.role}).to_string()
            });
            Ok((t, new))
        })
    }

    /// A change to the tokens table: `f` runs in an immediate transaction with the time of
    /// the change, and when it returns a history text, an entry `action` by `actor` with it
    /// is appended before the commit.
    fn token_change<T>(
        &mut self,
        actor: &str,
        action: &str,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &str) -> rusqlite::Result<(T, Option<String>)>,
    ) -> Result<T, StoreError> {
        let p = self.shown();
        let e = |err| sql(&p, err);
        let now = format_ms(crate::model::now_ms());
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let (out, new) = f(&tx, &now).map_err(e)?;
        if new.is_some() {
            Appender::record(
                &tx,
                chain::Entry {
                    at: now.clone(),
                    actor: actor.to_string(),
                    action: action.into(),
                    new,
                    ..Default::default()
                },
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(out)
    }
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    let role: String = r.get(2)?;
    let time = |i: usize| -> rusqlite::Result<Option<i64>> {
        Ok(r.get::<_, Option<String>>(i)?
            .and_then(|t| crate::store::parse_ms(&t)))
    };
    let id: i64 = r.get(0)?;
    Ok(TokenRecord {
        id,
        name: r.get(1)?,
        role: crate::access::tokens::stored_role(id, &role),
        hash: r.get(3)?,
        created: time(4)?.unwrap_or(0),
        expires: time(5)?,
        revoked: time(6)?,
    })
}
