//! A statement whose texts and blobs SQLite reads where they lie (`SQLITE_STATIC`), for the
//! bulk row inserts. rusqlite binds every text and blob as `SQLITE_TRANSIENT`: SQLite then
//! allocates, copies and frees each value, which was a sixth of a bulk import's write thread
//! (callgrind, 200k rows).

use std::ffi::{CStr, c_char, c_int};
use std::marker::PhantomData;

use rusqlite::ffi;

/// One value to bind.
pub(super) enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A prepared statement on a connection that outlives it.
pub(super) struct InPlace<'c> {
    db: *mut ffi::sqlite3,
    st: *mut ffi::sqlite3_stmt,
    _conn: PhantomData<&'c rusqlite::Connection>,
}

impl<'c> InPlace<'c> {
    pub(super) fn prepare(conn: &'c rusqlite::Connection, sql: &str) -> rusqlite::Result<Self> {
        let len = c_int::try_from(sql.len()).map_err(|_| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None)
        })?;
        // SAFETY: the handle is the open connection's, used on this thread only while `conn`
        // is borrowed; `sql` is valid for `len` bytes during the call.
        let db = unsafe { conn.handle() };
        let mut st = std::ptr::null_mut();
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                db,
                sql.as_ptr().cast::<c_char>(),
                len,
                &mut st,
                std::ptr::null_mut(),
            )
        };
        let stmt = InPlace {
            db,
            st,
            _conn: PhantomData,
        };
        if rc != ffi::SQLITE_OK || st.is_null() {
            return Err(stmt.error(rc));
        }
        Ok(stmt)
    }

    /// Binds parameter `i` (from 1) to `v`.
    ///
    /// # Safety
    /// SQLite reads a text or blob in place: it must stay valid and unchanged for every
    /// [`InPlace::execute`] that runs while it is bound (until parameter `i` is bound again).
    pub(super) unsafe fn bind(&mut self, i: usize, v: Value<'_>) -> rusqlite::Result<()> {
        let i = c_int::try_from(i).map_err(|_| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_RANGE), None)
        })?;
        let too_big = || rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None);
        // SAFETY: `st` is a live statement; the caller keeps bound bytes valid (above).
        let rc = unsafe {
            match v {
                Value::Null => ffi::sqlite3_bind_null(self.st, i),
                Value::Int(n) => ffi::sqlite3_bind_int64(self.st, i, n),
                Value::Text(t) => ffi::sqlite3_bind_text(
                    self.st,
                    i,
                    t.as_ptr().cast::<c_char>(),
                    c_int::try_from(t.len()).map_err(|_| too_big())?,
                    ffi::SQLITE_STATIC(),
                ),
                Value::Blob(b) => ffi::sqlite3_bind_blob(
                    self.st,
                    i,
                    b.as_ptr().cast(),
                    c_int::try_from(b.len()).map_err(|_| too_big())?,
                    ffi::SQLITE_STATIC(),
                ),
            }
        };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(self.error(rc))
        }
    }

    /// Runs the statement (which returns no rows) once with what is bound.
    pub(super) fn execute(&mut self) -> rusqlite::Result<()> {
        // SAFETY: `st` is a live statement whose bound values the binder keeps valid.
        let rc = unsafe { ffi::sqlite3_step(self.st) };
        let err = (rc != ffi::SQLITE_DONE).then(|| self.error(rc));
        // The bindings stay; reset only readies the statement for the next run.
        unsafe { ffi::sqlite3_reset(self.st) };
        match err {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// The connection's error after a call that returned `rc`.
    fn error(&self, rc: c_int) -> rusqlite::Error {
        // SAFETY: `db` is the open connection; the message is copied before any other call.
        let (code, msg) = unsafe {
            let code = ffi::sqlite3_extended_errcode(self.db);
            let msg = ffi::sqlite3_errmsg(self.db);
            let msg = (!msg.is_null()).then(|| CStr::from_ptr(msg).to_string_lossy().into_owned());
            (code, msg)
        };
        let code = if code == ffi::SQLITE_OK || code & 0xff != rc & 0xff {
            rc
        } else {
            code
        };
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), msg)
    }
}

impl Drop for InPlace<'_> {
    fn drop(&mut self) {
        // SAFETY: `st` was prepared by this value and is finalized once.
        unsafe { ffi::sqlite3_finalize(self.st) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_in_place_keeps_bindings_between_runs_and_reports_errors() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, b BLOB)")
            .unwrap();
        let mut st = InPlace::prepare(&conn, "INSERT INTO t VALUES (?1, ?2, ?3)").unwrap();
        let (name, blob) = (String::from("kept"), vec![1u8, 2, 3]);
        unsafe {
            st.bind(2, Value::Text(&name)).unwrap();
            st.bind(3, Value::Blob(&blob)).unwrap();
        }
        for id in 1..=3 {
            unsafe { st.bind(1, Value::Int(id)).unwrap() };
            st.execute().unwrap();
        }
        unsafe { st.bind(2, Value::Null).unwrap() };
        let e = st.execute().unwrap_err();
        assert!(e.to_string().contains("NOT NULL"), "{e}");
        assert_eq!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
        unsafe { st.bind(2, Value::Text("again")).unwrap() };
        let e = st.execute().unwrap_err().to_string();
        assert!(e.contains("UNIQUE") || e.contains("PRIMARY"), "{e}");
        assert!(unsafe { st.bind(99, Value::Int(1)) }.is_err());
        drop(st);
        let rows: Vec<(i64, String, Vec<u8>)> = conn
            .prepare("SELECT * FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|(_, n, b)| n == "kept" && b == &blob));
        assert!(InPlace::prepare(&conn, "INSERT INTO nowhere VALUES (1)").is_err());
    }
}
