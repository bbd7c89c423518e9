//! The GeoPackage RTree Spatial Index extension (`gpkg_rtree_index`, GeoPackage 1.3 Annex F.3)
//! on each layer's `geom`: the SQLite R*Tree `rtree_<layer>_geom` (id, minx, maxx, miny, maxy)
//! that QGIS and GDAL use for every map view and box query, declared in `gpkg_extensions`.
//!
//! The extension's triggers keep it right for any writer, citytwin included (its connection
//! provides the functions they call, see [`super::functions`]). A bulk write instead drops the
//! triggers in its transaction, indexes its rows at the end and makes the triggers again before
//! the commit, as GDAL does; an index made anew (a new store's first import, a store of an
//! older citytwin) is packed and written at once (see [`super::rtree_pack`]), which keeps an
//! import's speed.

use rusqlite::{Transaction, params};

/// `gpkg_extensions.definition` of the extension.
const DEFINITION: &str = "http://www.geopackage.org/spec120/#extension_rtree";

/// The index's name for a layer table.
pub(super) fn name(table: &str) -> String {
    format!("rtree_{table}_geom")
}

/// The index's value of a row: its geometry's envelope when not empty.
const ENVELOPE: &str = "ST_MinX(geom), ST_MaxX(geom), ST_MinY(geom), ST_MaxY(geom)";
const NOT_EMPTY: &str = "geom NOT NULL AND NOT ST_IsEmpty(geom)";

/// The triggers of GeoPackage 1.3 (the fixed `update3` of 1.2.1 on), by name suffix: the
/// layer's fid is the id, `{r}` the index, `{t}` the table.
const TRIGGERS: [(&str, &str); 6] = [
    (
        "insert",
        "AFTER INSERT ON \"{t}\" WHEN (new.geom NOT NULL AND NOT ST_IsEmpty(NEW.geom)) \
         BEGIN INSERT OR REPLACE INTO \"{r}\" VALUES (NEW.fid, ST_MinX(NEW.geom), \
         ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END",
    ),
    (
        "update1",
        "AFTER UPDATE OF geom ON \"{t}\" WHEN OLD.fid = NEW.fid AND \
         (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom)) \
         BEGIN INSERT OR REPLACE INTO \"{r}\" VALUES (NEW.fid, ST_MinX(NEW.geom), \
         ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END",
    ),
    (
        "update2",
        "AFTER UPDATE OF geom ON \"{t}\" WHEN OLD.fid = NEW.fid AND \
         (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom)) \
         BEGIN DELETE FROM \"{r}\" WHERE id = OLD.fid; END",
    ),
    (
        "update3",
        "AFTER UPDATE ON \"{t}\" WHEN OLD.fid != NEW.fid AND \
         (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom)) \
         BEGIN DELETE FROM \"{r}\" WHERE id = OLD.fid; \
         INSERT OR REPLACE INTO \"{r}\" VALUES (NEW.fid, ST_MinX(NEW.geom), \
         ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END",
    ),
    (
        "update4",
        "AFTER UPDATE ON \"{t}\" WHEN OLD.fid != NEW.fid AND \
         (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom)) \
         BEGIN DELETE FROM \"{r}\" WHERE id IN (OLD.fid, NEW.fid); END",
    ),
    (
        "delete",
        "AFTER DELETE ON \"{t}\" WHEN old.geom NOT NULL \
         BEGIN DELETE FROM \"{r}\" WHERE id = OLD.fid; END",
    ),
];

/// Triggers of GeoPackage 1.4 that stand in for `update1` (`update6` and `update7`) and
/// `update3` (`update5`) when another tool wrote them.
const NEWER: [(&str, &[&str]); 2] = [
    ("update1", &["update6", "update7"]),
    ("update3", &["update5"]),
];

/// Makes the index of layer table `table` when it is missing or any of its triggers is (a store
/// of an older citytwin, a new layer, triggers another tool dropped): declared, filled from
/// the table's rows, its triggers made.
pub(super) fn ensure(tx: &Transaction<'_>, table: &str) -> rusqlite::Result<()> {
    let r = name(table);
    let exists: bool = tx.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE name = ?1 AND type = 'table'",
        [&r],
        |row| row.get(0),
    )?;
    let have = triggers(tx, table)?;
    let complete = TRIGGERS.iter().all(|(suffix, _)| {
        have.iter().any(|h| h == suffix)
            || NEWER
                .iter()
                .any(|(old, new)| old == suffix && new.iter().all(|n| have.iter().any(|h| h == n)))
    });
    if exists && complete {
        return Ok(());
    }
    let started = std::time::Instant::now();
    drop_triggers(tx, table)?;
    let rows = rebuild(tx, table)?;
    tx.execute(
        "INSERT OR IGNORE INTO gpkg_extensions(table_name, column_name, extension_name, definition, scope) \
         VALUES (?1, 'geom', 'gpkg_rtree_index', ?2, 'write-only')",
        params![table, DEFINITION],
    )?;
    create_triggers(tx, table)?;
    if rows > 0 {
        tracing::info!(
            layer = table,
            rows,
            ms = started.elapsed().as_millis() as u64,
            "spatial index made"
        );
    }
    Ok(())
}

/// The suffixes of the index's triggers that `table` has (`insert`, `update1`, ...).
fn triggers(tx: &Transaction<'_>, table: &str) -> rusqlite::Result<Vec<String>> {
    let prefix = format!("{}_", name(table));
    let all: Vec<String> = tx
        .prepare_cached("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1")?
        .query_map([table], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(all
        .into_iter()
        .filter_map(|n| n.strip_prefix(&prefix).map(str::to_string))
        .collect())
}

/// Drops the index's triggers of `table` (whichever version wrote them).
pub(super) fn drop_triggers(tx: &Transaction<'_>, table: &str) -> rusqlite::Result<()> {
    for suffix in triggers(tx, table)? {
        tx.execute_batch(&format!("DROP TRIGGER \"{}_{suffix}\"", name(table)))?;
    }
    Ok(())
}

/// Makes the index's triggers of `table`.
pub(super) fn create_triggers(tx: &Transaction<'_>, table: &str) -> rusqlite::Result<()> {
    let r = name(table);
    for (suffix, body) in TRIGGERS {
        let body = body.replace("{t}", table).replace("{r}", &r);
        tx.execute_batch(&format!(
            "CREATE TRIGGER IF NOT EXISTS \"{r}_{suffix}\" {body}"
        ))?;
    }
    Ok(())
}

/// Makes the index of `table` anew from all its rows, packed and written at once (see
/// [`super::rtree_pack`]), its triggers left as they are; answers how many entries it holds.
pub(super) fn rebuild(tx: &Transaction<'_>, table: &str) -> rusqlite::Result<usize> {
    let r = name(table);
    tx.execute_batch(&format!(
        "DROP TABLE IF EXISTS \"{r}\"; \
         CREATE VIRTUAL TABLE \"{r}\" USING rtree(id, minx, maxx, miny, maxy);"
    ))?;
    super::rtree_pack::fill_empty(tx, table, &r)
}

/// Entries in the index of `table`.
pub(super) fn entries(tx: &Transaction<'_>, table: &str) -> rusqlite::Result<u64> {
    tx.query_row(
        &format!("SELECT count(*) FROM \"{}_rowid\"", name(table)),
        [],
        |r| r.get(0),
    )
}

/// Puts the rows of `table` with fids from `lo` to `hi` into the index, one by one through
/// SQLite's R*Tree, in fid order; answers how many.
pub(super) fn fill(
    tx: &Transaction<'_>,
    table: &str,
    (lo, hi): (u64, u64),
) -> rusqlite::Result<usize> {
    let (lo, hi) = (lo as i64, hi as i64);
    tx.execute(
        &format!(
            "INSERT OR REPLACE INTO \"{r}\" (id, minx, maxx, miny, maxy) \
             SELECT fid, {ENVELOPE} FROM \"{table}\" \
             WHERE fid BETWEEN ?1 AND ?2 AND {NOT_EMPTY} ORDER BY fid",
            r = name(table)
        ),
        params![lo, hi],
    )
}

/// Sets the index entry of object `id` of `table` to `envelope` (`[min_x, max_x, min_y,
/// max_y]`), while the triggers are dropped.
pub(super) fn put(tx: &Transaction<'_>, table: &str, id: u64, e: [f64; 4]) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO \"{}\" (id, minx, maxx, miny, maxy) VALUES (?1, ?2, ?3, ?4, ?5)",
        name(table)
    ))?
    .execute(params![id as i64, e[0], e[1], e[2], e[3]])?;
    Ok(())
}

/// Removes the index entry of object `id` of `table`, while the triggers are dropped.
pub(super) fn remove(tx: &Transaction<'_>, table: &str, id: u64) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!("DELETE FROM \"{}\" WHERE id = ?1", name(table)))?
        .execute([id as i64])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{Geometry, Layers, Object};
    use crate::store::gpkg::tests::batch;
    use crate::store::gpkg::{GpkgStore, envelope, functions};
    use crate::store::{Change, Store};

    /// Whether `index` is `exact` as the R*Tree keeps it: in 32-bit floats, rounded outward.
    fn holds(index: [f64; 4], exact: [f64; 4]) -> bool {
        let near = |a: f64, b: f64| (a - b).abs() <= b.abs() * 2.5e-7;
        (0..4).all(|k| near(index[k], exact[k]))
            && index[0] <= exact[0]
            && index[1] >= exact[1]
            && index[2] <= exact[2]
            && index[3] >= exact[3]
    }

    /// Every layer's index holds one entry per row with a geometry, its envelope, and nothing
    /// else; returns how many entries in all.
    fn assert_exact(conn: &rusqlite::Connection, layers: &Layers) -> usize {
        let mut total = 0;
        for def in layers.defs() {
            let t = &def.name;
            let rows: BTreeMap<i64, [f64; 4]> = conn
                .prepare(&format!("SELECT fid, geom FROM \"{t}\""))
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get::<_, Vec<u8>>(1)?)))
                .unwrap()
                .filter_map(|r| {
                    let (fid, blob) = r.unwrap();
                    envelope(&blob).unwrap().map(|e| (fid, e))
                })
                .collect();
            let index: BTreeMap<i64, [f64; 4]> = conn
                .prepare(&format!(
                    "SELECT id, minx, maxx, miny, maxy FROM \"{}\"",
                    name(t)
                ))
                .unwrap()
                .query_map([], |r| {
                    Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]))
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let stale: Vec<_> = index.keys().filter(|id| !rows.contains_key(id)).collect();
            let missing: Vec<_> = rows.keys().filter(|id| !index.contains_key(id)).collect();
            assert!(
                stale.is_empty() && missing.is_empty(),
                "{t}: {} entries without a row (first {:?}), {} rows without one (first {:?})",
                stale.len(),
                &stale[..stale.len().min(5)],
                missing.len(),
                &missing[..missing.len().min(5)]
            );
            for (id, e) in &rows {
                assert!(holds(index[id], *e), "{t} {id}: {:?} for {e:?}", index[id]);
            }
            let triggers = super::triggers(&conn.unchecked_transaction().unwrap(), t).unwrap();
            assert_eq!(triggers.len(), 6, "{t}: {triggers:?}");
            total += rows.len();
        }
        // SQLite's own check of each R*Tree's structure.
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        total
    }

    /// Ids the index of `table` finds in `[min_x, min_y, max_x, max_y]`.
    fn found(conn: &rusqlite::Connection, table: &str, b: [f64; 4]) -> Vec<i64> {
        conn.prepare(&format!(
            "SELECT id FROM \"{}\" WHERE maxx >= ?1 AND minx <= ?3 AND maxy >= ?2 AND miny <= ?4 \
             ORDER BY id",
            name(table)
        ))
        .unwrap()
        .query_map(b, |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    fn moved(o: &Object, to: [f64; 2]) -> Object {
        let mut n = o.clone();
        n.geometry = Geometry::Point(to);
        n
    }

    /// Changes written row by row (the triggers keep the index) and in a bulk batch (the index
    /// filled after the rows, updates and deletes kept as they come) leave every layer's index
    /// exact; a refused bulk batch leaves it and its triggers as they were.
    #[test]
    fn the_index_follows_every_change_of_small_and_bulk_batches() {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers::default_city();
        let [poles, manholes, spans] =
            ["poles", "manholes", "fibre_spans"].map(|n| layers.by_name(n).unwrap());
        let mut store = GpkgStore::open(&dir.path().join("s.gpkg"), &layers, 6).unwrap();
        let at = |i: u64| {
            [
                30.0 + (i % 100) as f64 * 1e-3,
                50.0 + (i / 100) as f64 * 1e-3,
            ]
        };
        let pole = |i: u64| crate::twin::tests::obj(i, poles, at(i), 200_000 + i as u32);
        let mut first: Vec<Change> = (1..=40).map(|i| Change::Create(pole(i))).collect();
        let mut span = crate::twin::tests::obj(41, spans, [0.0, 0.0], 199_999);
        span.geometry = Geometry::Line(vec![[30.01, 50.02], [30.03, 50.01], [30.02, 50.05]]);
        first.push(Change::Create(span));
        store.commit(&batch(first)).unwrap();
        assert_eq!(assert_exact(&store.conn, &layers), 41);

        // A bulk batch: 12,000 new poles and manholes, one of them moved and one deleted again
        // in the same batch, and earlier poles moved, moved to another layer and deleted.
        let made = |i: u64| {
            let mut o = pole(i);
            if i.is_multiple_of(4) {
                o.layer = manholes;
            }
            o
        };
        let mut changes: Vec<Change> = (100..12_100u64).map(|i| Change::Create(made(i))).collect();
        changes.push(Change::Update {
            old: Box::new(pole(101)),
            new: moved(&pole(101), [31.0, 51.0]),
        });
        changes.push(Change::Delete(pole(102)));
        changes.push(Change::Update {
            old: Box::new(pole(3)),
            new: moved(&pole(3), [30.5, 50.5]),
        });
        let mut relayered = pole(4);
        relayered.layer = manholes;
        changes.push(Change::Update {
            old: Box::new(pole(4)),
            new: relayered,
        });
        changes.push(Change::Delete(pole(5)));
        let mut bulk = batch(changes);
        bulk.history_per_create = false;
        store.commit(&bulk).unwrap();
        assert_eq!(assert_exact(&store.conn, &layers), 41 + 12_000 - 2);
        assert_eq!(
            found(&store.conn, "poles", [30.99, 50.99, 31.01, 51.01]),
            vec![101]
        );
        assert_eq!(
            found(&store.conn, "poles", [30.499, 50.499, 30.501, 50.501]),
            vec![3]
        );
        assert_eq!(
            found(&store.conn, "manholes", [30.0039, 50.0, 30.0041, 50.0]),
            vec![4]
        );
        assert!(found(&store.conn, "poles", [30.0039, 50.0, 30.0041, 50.0]).is_empty());
        // Every pole of one row of the grid, and only those.
        let row: Vec<i64> = (100..12_100i64)
            .filter(|i| i / 100 == 17 && i % 4 != 0)
            .collect();
        assert_eq!(
            found(&store.conn, "poles", [29.9, 50.0165, 30.2, 50.0175]),
            row
        );

        // A bulk batch that adds a few poles to many: inserted one by one into the index, among
        // updates that move all the others.
        let mut more: Vec<Change> = (13_000..13_300u64)
            .map(|i| Change::Create(pole(i)))
            .collect();
        more.extend((200..12_100u64).map(|i| {
            let o = made(i);
            let to = [o.geometry.anchor()[0] + 0.5, o.geometry.anchor()[1]];
            Change::Update {
                new: moved(&o, to),
                old: Box::new(o),
            }
        }));
        let mut more = batch(more);
        more.history_per_create = false;
        store.commit(&more).unwrap();
        assert_eq!(assert_exact(&store.conn, &layers), 41 + 12_000 - 2 + 300);
        assert_eq!(
            found(&store.conn, "poles", [30.5049, 50.0099, 30.5051, 50.0101]),
            vec![1_005]
        );

        // After the bulk batch its triggers are back: row by row again.
        store
            .commit(&batch(vec![
                Change::Update {
                    old: Box::new(pole(103)),
                    new: moved(&pole(103), [32.0, 52.0]),
                },
                Change::Delete(pole(105)),
            ]))
            .unwrap();
        assert_eq!(assert_exact(&store.conn, &layers), 41 + 12_000 - 3 + 300);
        assert_eq!(
            found(&store.conn, "poles", [31.9, 51.9, 32.1, 52.1]),
            vec![103]
        );

        // A bulk batch refused at its end (a serial given twice) changes nothing.
        let mut refused: Vec<Change> = (20_000..32_000u64)
            .map(|i| Change::Create(pole(i)))
            .collect();
        refused.push(Change::Create(pole(100)));
        let mut refused = batch(refused);
        refused.history_per_create = false;
        assert!(store.commit(&refused).is_err());
        assert_eq!(assert_exact(&store.conn, &layers), 41 + 12_000 - 3 + 300);
    }

    /// What another writer (GDAL, QGIS) does through SQL, with the functions its connection
    /// provides: inserts, geometry and fid changes, an empty geometry, deletes.
    #[test]
    fn another_writer_keeps_the_index_through_its_triggers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.gpkg");
        let layers = Layers::default_city();
        drop(GpkgStore::open(&path, &layers, 6).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        functions::register(&conn).unwrap();
        let blob = |x: f64, y: f64| crate::store::gpkg::encode_geometry(&Geometry::Point([x, y]));
        let insert = "INSERT INTO poles(fid, geom, created, updated) VALUES (?1, ?2, 'now', 'now')";
        for i in 1..=5 {
            conn.execute(
                insert,
                rusqlite::params![i, blob(30.0 + i as f64, 50.0).unwrap()],
            )
            .unwrap();
        }
        assert_eq!(assert_exact(&conn, &layers), 5);
        conn.execute(
            "UPDATE poles SET geom = ?1 WHERE fid = 2",
            [blob(35.0, 55.0).unwrap()],
        )
        .unwrap();
        conn.execute("UPDATE poles SET fid = 20 WHERE fid = 3", [])
            .unwrap();
        conn.execute("DELETE FROM poles WHERE fid = 4", []).unwrap();
        assert_eq!(assert_exact(&conn, &layers), 4);
        assert_eq!(found(&conn, "poles", [34.9, 54.9, 35.1, 55.1]), vec![2]);
        assert_eq!(found(&conn, "poles", [32.9, 49.9, 33.1, 50.1]), vec![20]);
        // An empty geometry leaves the index; a geometry again enters it.
        let mut empty = blob(0.0, 0.0).unwrap();
        empty[3] |= 0b1_0000;
        conn.execute("UPDATE poles SET geom = ?1 WHERE fid = 5", [&empty])
            .unwrap();
        assert_eq!(assert_exact(&conn, &layers), 3);
        conn.execute(
            "UPDATE poles SET geom = ?1 WHERE fid = 5",
            [blob(36.0, 56.0).unwrap()],
        )
        .unwrap();
        assert_eq!(assert_exact(&conn, &layers), 4);
        // Without the functions, no writer can change a layer's geometry (the triggers call
        // them): the reason citytwin registers them on its connection.
        let bare = rusqlite::Connection::open(&path).unwrap();
        let e = bare
            .execute(insert, rusqlite::params![9, blob(30.0, 50.0).unwrap()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such function: ST_IsEmpty"), "{e}");
    }

    /// A store of an older citytwin (no index) gets it on open, filled from its rows; so does a
    /// layer whose table is made later, and an index whose triggers another tool dropped.
    #[test]
    fn a_store_without_the_index_gets_it_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.gpkg");
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let objects: Vec<Change> = (1..=30)
            .map(|i| {
                let at = [30.0 + i as f64 * 1e-2, 50.0];
                Change::Create(crate::twin::tests::obj(i, poles, at, 300_000 + i as u32))
            })
            .collect();
        let mut store = GpkgStore::open(&path, &layers, 6).unwrap();
        store.commit(&batch(objects)).unwrap();
        let mut sql = String::new();
        for def in layers.defs() {
            sql += &format!(
                "DROP TABLE \"rtree_{t}_geom\"; DELETE FROM gpkg_extensions WHERE table_name = '{t}';",
                t = def.name
            );
        }
        sql += "DROP TABLE trees; DELETE FROM gpkg_geometry_columns WHERE table_name = 'trees'; \
                DELETE FROM gpkg_contents WHERE table_name = 'trees'; \
                UPDATE citytwin_settings SET value = '2' WHERE key = 'schema_version';";
        // Triggers go with their table; the numbers view names the dropped layer table.
        store
            .conn
            .execute_batch("DROP VIEW citytwin_numbers")
            .unwrap();
        store.conn.execute_batch(&sql).unwrap();
        drop(store);
        let mut store = GpkgStore::open(&path, &layers, 6).unwrap();
        assert_eq!(assert_exact(&store.conn, &layers), 30);
        let declared: i64 = store
            .conn
            .query_one(
                "SELECT count(*) FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index' \
                 AND column_name = 'geom' AND scope = 'write-only' AND definition = ?1",
                [DEFINITION],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(declared as usize, layers.defs().len());
        assert_eq!(
            store.setting("schema_version").unwrap().as_deref(),
            Some("3")
        );
        // A dropped trigger, and a row written meanwhile: made again, and the row indexed.
        store
            .conn
            .execute_batch(
                "DROP TRIGGER rtree_poles_geom_insert; \
                 INSERT INTO poles(fid, geom, created, updated) SELECT 99, geom, created, updated \
                 FROM poles WHERE fid = 1;",
            )
            .unwrap();
        drop(store);
        let store = GpkgStore::open(&path, &layers, 6).unwrap();
        assert_eq!(assert_exact(&store.conn, &layers), 31);
    }
}
