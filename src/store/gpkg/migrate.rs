//! Brings a store written by an older citytwin up to the current schema.

use rusqlite::params;

use super::history::{read_chain, set_head};
use super::rtree;
use super::schema::SCHEMA_VERSION;
use crate::model::Layers;
use crate::store::{chain, format_ms, serials};

/// Brings a store written before schema version 2 up to it: every layer table gains
/// `number_assigned`, and the numbers table (a row per serial ever given) becomes the serial
/// bitmap and the retired numbers table. Nothing is lost: the view shows the same rows, except
/// that a number whose holder is gone from the layer tables is now listed as retired.
pub(super) fn migrate_numbers(
    tx: &rusqlite::Transaction<'_>,
    layers: &Layers,
) -> rusqlite::Result<()> {
    for def in layers.defs() {
        let has: bool = tx.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = 'number_assigned'",
            [&def.name],
            |r| r.get(0),
        )?;
        if !has {
            tx.execute_batch(&format!(
                "ALTER TABLE \"{}\" ADD COLUMN number_assigned DATETIME",
                def.name
            ))?;
        }
    }
    let old_table: bool = tx.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'citytwin_numbers' AND type = 'table'",
        [],
        |r| r.get(0),
    )?;
    if !old_table {
        return Ok(());
    }
    let retired = tx.execute(
        "INSERT OR REPLACE INTO citytwin_retired_numbers(serial, layer, object_id, assigned, retired) \
         SELECT serial, layer, object_id, assigned, retired FROM citytwin_numbers \
         WHERE retired IS NOT NULL",
        [],
    )?;
    for def in layers.defs() {
        tx.execute_batch(&format!(
            "UPDATE \"{n}\" SET number_assigned = (SELECT k.assigned FROM citytwin_numbers AS k \
             WHERE k.serial = \"{n}\".serial AND k.object_id = \"{n}\".fid) \
             WHERE serial IS NOT NULL AND number_assigned IS NULL",
            n = def.name
        ))?;
    }
    // An active row whose object is gone from its layer table (deleted by another tool, or a
    // layer no longer configured) is kept as retired from now: its number is never given again
    // and still listed.
    let mut held_nowhere = String::from(
        "INSERT OR IGNORE INTO citytwin_retired_numbers(serial, layer, object_id, assigned, retired) \
         SELECT serial, layer, object_id, assigned, ?1 FROM citytwin_numbers AS k WHERE retired IS NULL",
    );
    for def in layers.defs() {
        held_nowhere += &format!(
            " AND NOT EXISTS (SELECT 1 FROM \"{n}\" WHERE fid = k.object_id AND serial = k.serial)",
            n = def.name
        );
    }
    let held_nowhere = tx.execute(&held_nowhere, [format_ms(crate::model::now_ms())])?;
    let all = {
        let mut st = tx.prepare("SELECT serial FROM citytwin_numbers ORDER BY serial")?;
        st.query_map([], |r| r.get::<_, u32>(0))?
            .collect::<rusqlite::Result<Vec<u32>>>()?
    };
    serials::give(tx, all.iter().copied())?;
    tx.execute_batch("DROP TABLE citytwin_numbers")?;
    tx.execute(
        "UPDATE citytwin_settings SET value = ?1 WHERE key = 'schema_version'",
        [SCHEMA_VERSION],
    )?;
    tracing::info!(
        serials = all.len(),
        retired,
        held_nowhere,
        "numbers table moved to the serial bitmap and the retired numbers table"
    );
    Ok(())
}

/// Brings a store written before schema version 3 up to it: every layer table gets the
/// GeoPackage spatial index, filled from its rows. Also keeps it for every open: a layer
/// configured since gets its index with its table, and an index whose triggers another tool
/// dropped is made again.
pub(super) fn migrate_spatial_index(
    tx: &rusqlite::Transaction<'_>,
    layers: &Layers,
) -> rusqlite::Result<()> {
    for def in layers.defs() {
        rtree::ensure(tx, &def.name)?;
    }
    tx.execute(
        "UPDATE citytwin_settings SET value = ?1 \
         WHERE key = 'schema_version' AND CAST(value AS INTEGER) < CAST(?1 AS INTEGER)",
        [SCHEMA_VERSION],
    )?;
    Ok(())
}

/// Chains history written before the history was hash-chained (a store of an older
/// citytwin): adds the columns and hashes the old entries in their order, once.
pub(super) fn adopt_unchained_history(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let has_hash: bool = tx
        .prepare("SELECT 1 FROM pragma_table_info('citytwin_history') WHERE name = 'hash'")?
        .exists([])?;
    if !has_hash {
        tx.execute_batch(
            "ALTER TABLE citytwin_history ADD COLUMN prev_hash TEXT; \
             ALTER TABLE citytwin_history ADD COLUMN hash TEXT;",
        )?;
        let rows = read_chain(tx)?;
        let mut prev = chain::GENESIS.to_string();
        let mut update =
            tx.prepare("UPDATE citytwin_history SET prev_hash = ?2, hash = ?3 WHERE seq = ?1")?;
        let n = rows.len();
        let mut head = None;
        for mut e in rows {
            e.prev_hash = prev;
            e.hash = e.digest();
            update.execute(params![e.seq, e.prev_hash, e.hash])?;
            prev = e.hash.clone();
            head = Some(e.seq);
        }
        if let Some(seq) = head {
            set_head(tx, seq, &prev)?;
        }
        tracing::info!(entries = n, "history chained (store of an older citytwin)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Layers;
    use crate::store::gpkg::GpkgStore;
    use crate::store::gpkg::tests::{batch, given, numbers_view};
    use crate::store::{Change, Store};

    #[test]
    fn a_store_with_the_old_numbers_table_keeps_every_number_in_the_new_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.gpkg");
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let pole = crate::twin::tests::obj(1, poles, [30.0, 50.0], 100_001);
        let gone = crate::twin::tests::obj(3, poles, [30.0, 50.0], 100_003);
        {
            let mut store = GpkgStore::open(&path, &layers, 6).unwrap();
            store
                .commit(&batch(vec![Change::Create(pole), Change::Create(gone)]))
                .unwrap();
            // What schema version 1 wrote: a numbers table with a row per serial.
            store
                .conn
                .execute_batch(
                    "DROP VIEW citytwin_numbers;
                     DELETE FROM citytwin_serials;
                     DELETE FROM poles WHERE fid = 3;
                     ALTER TABLE poles DROP COLUMN number_assigned;
                     ALTER TABLE manholes DROP COLUMN number_assigned;
                     CREATE TABLE citytwin_numbers (serial INTEGER NOT NULL PRIMARY KEY,
                       layer TEXT NOT NULL, object_id INTEGER NOT NULL,
                       assigned DATETIME NOT NULL, retired DATETIME);
                     INSERT INTO citytwin_numbers VALUES
                       (100001, 'poles', 1, '2026-01-01T00:00:00.000Z', NULL),
                       (100003, 'poles', 3, '2026-01-02T00:00:00.000Z', '2026-01-03T00:00:00.000Z'),
                       (100005, 'manholes', 7, '2026-01-04T00:00:00.000Z', NULL);
                     UPDATE citytwin_settings SET value = '1' WHERE key = 'schema_version';",
                )
                .unwrap();
        }
        let mut store = GpkgStore::open(&path, &layers, 6).unwrap();
        // The active number whose holder is gone (manhole 7 was never in its table) is kept
        // as retired from the migration on.
        let mut rows = numbers_view(&store.conn);
        let gone_holder = rows.pop().unwrap();
        assert_eq!(
            (
                gone_holder.0,
                gone_holder.1.as_str(),
                gone_holder.2,
                gone_holder.3.as_str()
            ),
            (100_005, "manholes", 7, "2026-01-04T00:00:00.000Z")
        );
        assert!(gone_holder.4.is_some());
        assert_eq!(
            rows,
            vec![
                (
                    100_001,
                    "poles".into(),
                    1,
                    "2026-01-01T00:00:00.000Z".into(),
                    None
                ),
                (
                    100_003,
                    "poles".into(),
                    3,
                    "2026-01-02T00:00:00.000Z".into(),
                    Some("2026-01-03T00:00:00.000Z".into())
                ),
            ]
        );
        assert_eq!(given(&store), vec![100_001, 100_003, 100_005]);
        let has_column: i64 = store
            .conn
            .query_one(
                "SELECT count(*) FROM pragma_table_info('manholes') WHERE name = 'number_assigned'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(has_column, 1);
        let version: String = store
            .conn
            .query_one(
                "SELECT value FROM citytwin_settings WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let again = crate::twin::tests::obj(5, poles, [32.0, 52.0], 100_003);
        let e = store
            .commit(&batch(vec![Change::Create(again)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("serial 100003 was already given"), "{e}");
    }
}
