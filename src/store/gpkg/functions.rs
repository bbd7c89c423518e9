//! The SQL functions the spatial index's triggers call: `ST_IsEmpty`, `ST_MinX`, `ST_MaxX`,
//! `ST_MinY` and `ST_MaxY` of a geometry blob, as GDAL (and so QGIS) provides them on its own
//! connections. Registered on every connection citytwin writes with: SQLite refuses any write
//! to a layer table whose triggers name a function it does not know.

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;

use super::blob::envelope;

/// Registers the functions on `conn`.
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    // Innocuous: allowed in triggers also where SQLite is built not to trust the schema.
    let flags = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("ST_IsEmpty", 1, flags, |ctx| {
        Ok(envelope_of(ctx).map(|e| e.is_none()))
    })?;
    for (name, k) in [
        ("ST_MinX", 0),
        ("ST_MaxX", 1),
        ("ST_MinY", 2),
        ("ST_MaxY", 3),
    ] {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            Ok(envelope_of(ctx).flatten().map(|e| e[k]))
        })?;
    }
    Ok(())
}

/// The envelope of the argument (see [`envelope`]): `Some(None)` for an empty geometry, `None`
/// (the SQL result is then NULL) for NULL or anything that is not a geometry blob.
fn envelope_of(ctx: &Context<'_>) -> Option<Option<[f64; 4]>> {
    match ctx.get_raw(0) {
        ValueRef::Blob(b) => envelope(b).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Geometry;
    use crate::store::gpkg::encode_geometry;

    #[test]
    fn the_functions_read_points_lines_empty_and_foreign_blobs() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let ask = |blob: &[u8]| -> (Option<bool>, [Option<f64>; 4]) {
            conn.query_row(
                "SELECT ST_IsEmpty(?1), ST_MinX(?1), ST_MaxX(?1), ST_MinY(?1), ST_MaxY(?1)",
                [blob],
                |r| Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])),
            )
            .unwrap()
        };
        let point = encode_geometry(&Geometry::Point([30.5, 50.25])).unwrap();
        assert_eq!(
            ask(&point),
            (
                Some(false),
                [Some(30.5), Some(30.5), Some(50.25), Some(50.25)]
            )
        );
        let line = Geometry::Line(vec![[30.0, 50.5], [30.25, 50.0], [29.5, 50.75]]);
        assert_eq!(
            ask(&encode_geometry(&line).unwrap()),
            (
                Some(false),
                [Some(29.5), Some(30.25), Some(50.0), Some(50.75)]
            )
        );
        // A big-endian point with Z, as another writer may store it (header without envelope).
        let mut z = b"GP\x00\x00".to_vec();
        z.extend(4326i32.to_be_bytes());
        z.push(0);
        z.extend(1001u32.to_be_bytes());
        for c in [1.5f64, -2.5, 9.0] {
            z.extend(c.to_be_bytes());
        }
        assert_eq!(
            ask(&z),
            (Some(false), [Some(1.5), Some(1.5), Some(-2.5), Some(-2.5)])
        );
        // A line without envelope in its header: read from its points.
        let mut bare = b"GP\x00\x01".to_vec();
        bare.extend(4326i32.to_le_bytes());
        bare.push(1);
        bare.extend(2u32.to_le_bytes());
        bare.extend(2u32.to_le_bytes());
        for c in [3.0f64, 4.0, 1.0, 7.0] {
            bare.extend(c.to_le_bytes());
        }
        assert_eq!(
            ask(&bare),
            (Some(false), [Some(1.0), Some(3.0), Some(4.0), Some(7.0)])
        );
        // The header's empty flag, and a point of NaN coordinates: empty, without an envelope.
        let mut empty = point.clone();
        empty[3] |= 0b1_0000;
        assert_eq!(ask(&empty), (Some(true), [None; 4]));
        let nan = encode_geometry(&Geometry::Point([f64::NAN, f64::NAN])).unwrap();
        assert_eq!(ask(&nan), (Some(true), [None; 4]));
        // Not a geometry blob, or cut short: NULL.
        assert_eq!(ask(b"junk"), (None, [None; 4]));
        assert_eq!(ask(&point[..20]), (None, [None; 4]));
        let null: Option<bool> = conn
            .query_row("SELECT ST_IsEmpty(NULL)", [], |r| r.get(0))
            .unwrap();
        assert_eq!(null, None);
    }
}
