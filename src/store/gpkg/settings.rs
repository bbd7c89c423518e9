//! `citytwin_settings`: one text value per key.

use rusqlite::{Connection, OptionalExtension};

/// One value of `citytwin_settings` (on a connection or inside a transaction).
pub(super) fn read_setting(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM citytwin_settings WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()
}

/// Sets one value of `citytwin_settings`.
pub(super) fn write_setting(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO citytwin_settings(key, value) VALUES (?1, ?2) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}
