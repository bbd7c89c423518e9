//! The record of every serial ever given, which keeps a number from being given twice, also by
//! two processes writing one store: one bit per serial, 1024 serials to a row of
//! `citytwin_serials` (`block`, `given`). A city of millions of numbers is thousands of rows
//! here, not a row per number, so a bulk import writes almost nothing to it. Who holds a
//! number is in the layer tables (active numbers) and `citytwin_retired_numbers` (retired
//! ones); the `citytwin_numbers` view shows both as one list.

use fixedbitset::FixedBitSet;
use rusqlite::{Connection, OptionalExtension, params};

use crate::numbering::serial_space;

/// Serials per row.
pub(super) const BLOCK: u32 = 1024;
const BYTES: usize = (BLOCK / 8) as usize;

/// Every serial of `width` digits given out, one bit each (bit k of the row's block is byte
/// k / 8, bit k % 8). A row outside the serial space is an error.
pub(super) fn read(conn: &Connection, width: u8) -> rusqlite::Result<FixedBitSet> {
    let last_block = i64::from(serial_space(width).saturating_sub(1) / BLOCK);
    let mut st = conn.prepare("SELECT block, given FROM citytwin_serials ORDER BY block")?;
    let mut rows = st.query([])?;
    let mut set = FixedBitSet::new();
    while let Some(r) = rows.next()? {
        let block: i64 = r.get(0)?;
        if !(0..=last_block).contains(&block) {
            return Err(rusqlite::Error::IntegralValueOutOfRange(0, block));
        }
        let base = block as usize * BLOCK as usize;
        let bits = r.get_ref(1)?.as_blob()?;
        set.grow(base + BLOCK as usize);
        for (i, &byte) in bits.iter().take(BYTES).enumerate() {
            let mut rest = byte;
            while rest != 0 {
                let bit = rest.trailing_zeros() as usize;
                set.insert(base + i * 8 + bit);
                rest &= rest - 1;
            }
        }
    }
    Ok(set)
}

/// Marks `serials` as given and returns those that were given before (in the order met). The
/// rows are written either way: a caller that cannot accept a serial given before fails its
/// transaction. Sorted serials read and write each row once.
pub(super) fn give(
    conn: &Connection,
    serials: impl IntoIterator<Item = u32>,
) -> rusqlite::Result<Vec<u32>> {
    let mut get = conn.prepare_cached("SELECT given FROM citytwin_serials WHERE block = ?1")?;
    let mut put = conn
        .prepare_cached("INSERT OR REPLACE INTO citytwin_serials(block, given) VALUES (?1, ?2)")?;
    let mut before = Vec::new();
    let mut open: Option<(u32, [u8; BYTES])> = None;
    for s in serials {
        let block = s / BLOCK;
        let bits = match &mut open {
            Some((b, bits)) if *b == block => bits,
            _ => {
                if let Some((b, bits)) = &open {
                    put.execute(params![b, &bits[..]])?;
                }
                let mut bits = [0u8; BYTES];
                if let Some(old) = get
                    .query_row([block], |r| r.get::<_, Vec<u8>>(0))
                    .optional()?
                {
                    let n = old.len().min(BYTES);
                    bits[..n].copy_from_slice(&old[..n]);
                }
                &mut open.insert((block, bits)).1
            }
        };
        let k = (s % BLOCK) as usize;
        let mask = 1u8 << (k % 8);
        if bits[k / 8] & mask != 0 {
            before.push(s);
        }
        bits[k / 8] |= mask;
    }
    if let Some((b, bits)) = &open {
        put.execute(params![b, &bits[..]])?;
    }
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE citytwin_serials (block INTEGER NOT NULL PRIMARY KEY, given BLOB NOT NULL)",
        )
        .unwrap();
        conn
    }

    #[test]
    fn given_serials_are_read_back_and_a_second_giving_is_reported() {
        let conn = db();
        let first = [0, 7, 1023, 1024, 5_000_000, 9_999_999];
        assert!(give(&conn, first).unwrap().is_empty());
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM citytwin_serials", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 4, "one row per block of 1024 serials");
        // Unsorted, with two given before: both reported, the new ones kept.
        let before = give(&conn, [8, 1024, 6, 9_999_999]).unwrap();
        assert_eq!(before, vec![1024, 9_999_999]);
        let set = read(&conn, 7).unwrap();
        let ones: Vec<usize> = set.ones().collect();
        assert_eq!(ones, vec![0, 6, 7, 8, 1023, 1024, 5_000_000, 9_999_999]);
        assert!(!set.contains(1));
        assert!(!set.contains(10_000_000));
    }

    #[test]
    fn a_block_outside_the_serial_space_is_an_error_not_a_panic() {
        // 6 digits: serials 0..=999,999, blocks 0..=976.
        for block in [-1, 977, 99_999_999_999] {
            let conn = db();
            conn.execute("INSERT INTO citytwin_serials VALUES (976, x'01')", [])
                .unwrap();
            conn.execute("INSERT INTO citytwin_serials VALUES (?1, x'01')", [block])
                .unwrap();
            assert!(
                matches!(
                    read(&conn, 6),
                    Err(rusqlite::Error::IntegralValueOutOfRange(_, b)) if b == block
                ),
                "{block}"
            );
        }
        let conn = db();
        conn.execute("INSERT INTO citytwin_serials VALUES (976, x'01')", [])
            .unwrap();
        assert_eq!(
            read(&conn, 6).unwrap().ones().collect::<Vec<_>>(),
            vec![999_424]
        );
    }

    #[test]
    fn a_short_row_reads_as_the_bits_it_has() {
        let conn = db();
        conn.execute("INSERT INTO citytwin_serials VALUES (2, x'0180')", [])
            .unwrap();
        let ones: Vec<usize> = read(&conn, 6).unwrap().ones().collect();
        assert_eq!(ones, vec![2048, 2048 + 15]);
        assert_eq!(give(&conn, [2048 + 16, 2048]).unwrap(), vec![2048]);
    }
}
