//! The store file outside SQLite: a descriptor kept open, reading ahead, flushing early.

use std::path::Path;

/// A descriptor of the file at `path` that stays open until the process ends (one per file):
/// closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's
/// included, so a file SQLite has open is never opened and closed beside it.
fn kept_file(path: &Path) -> std::io::Result<std::sync::Arc<std::fs::File>> {
    static KEPT: std::sync::Mutex<Vec<std::sync::Arc<std::fs::File>>> =
        std::sync::Mutex::new(Vec::new());
    #[cfg(unix)]
    fn same(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    fn same(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
        false
    }
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let now = std::fs::metadata(path)?;
    if let Some(f) = kept
        .iter()
        .find(|f| f.metadata().is_ok_and(|m| same(&m, &now)))
    {
        return Ok(f.clone());
    }
    let f = std::sync::Arc::new(std::fs::File::open(path)?);
    kept.push(f.clone());
    Ok(f)
}

/// Asks the kernel to read the file into the page cache in the background (`posix_fadvise`
/// WILLNEED): pages already cached cost nothing. Linux reads no more than the device's
/// read-ahead window for one call (8 MiB on the machines here), so this reads the file's start
/// (its schema and the tables' first pages); the loaders' own reads bring in the rest. Asking
/// for the whole file, 8 MiB at a time, put all of it in the page cache within a second, yet
/// made the cold start of the 10M store slower, not faster (alternating, page cache dropped:
/// 10.9–11.5 s, or 9.5–10.6 s when asked after the plan, against 9.4–10.1 s): filling the cache
/// costs the two busy cores more than the loaders' waits for the disk.
#[cfg(target_os = "linux")]
pub(super) fn prefetch(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = kept_file(path)?;
    // SAFETY: a valid open descriptor (kept open); the call only advises the kernel.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn prefetch(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Flushes the file at `path` to disk every second until `stop`'s sender is dropped (see
/// [`GpkgStore::in_batch`]).
pub(super) fn flush_until(path: &Path, stop: &std::sync::mpsc::Receiver<()>) {
    let Ok(file) = kept_file(path) else {
        return;
    };
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        stop.recv_timeout(std::time::Duration::from_secs(1))
    {
        if let Err(err) = file.sync_data() {
            tracing::debug!(%err, "early flush of a bulk write failed; the commit syncs anyway");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_asks_for_a_file_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.gpkg");
        std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
        prefetch(&path).unwrap();
        // Asked again for the same file: the same descriptor, kept open.
        prefetch(&path).unwrap();
        assert!(std::sync::Arc::ptr_eq(
            &kept_file(&path).unwrap(),
            &kept_file(&path).unwrap()
        ));
        let e = prefetch(&dir.path().join("gone.gpkg")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}
