//! The loader: plans each layer and reads its rows into objects on all cores at start.

use rusqlite::{Connection, params};

use super::blob::decode_geometry;
use super::schema::COLUMNS;
use super::{GpkgStore, file::prefetch, sql};
use crate::model::{Attributes, Layers, Object, ObjectId, Source, Status};
use crate::numbering::Number;
use crate::store::{LayerPlan, StoreError, parse_ms};

/// Memory map for the loader threads' read-only connections (an upper bound on address space,
/// not memory: pages stay in the OS page cache).
const LOAD_MMAP_BYTES: i64 = 1 << 40;

/// Rows read from the start of a layer to estimate how many it holds. Small, because from a
/// cold disk these are scattered reads that come before any other work: 65,536 rows took
/// 0.6–0.7 s of a 10M store's cold start, 8,192 take 0.08 s, and estimate the synthetic city's
/// layers within 0.7% (65,536: 0.4%).
const PLAN_SAMPLE: i64 = 8_192;

impl GpkgStore {
    pub(super) fn plan_layers(&mut self) -> Result<Vec<LayerPlan>, StoreError> {
        let p = self.shown();
        // Every page is about to be read: from a cold disk, in one pass in file order rather
        // than layer by layer where each layer's rows lie (an import interleaves them).
        let path = self.path.clone();
        let _ = std::thread::Builder::new()
            .name("store-prefetch".into())
            .spawn(move || {
                if let Err(e) = prefetch(&path) {
                    tracing::debug!(store = %path.display(), error = %e, "no prefetch");
                }
            });
        let mut plan = Vec::new();
        for layer in self.layers.ids() {
            let name = &self.layers.def(layer).name;
            let q = |query: &str| -> Result<(Option<i64>, i64), StoreError> {
                self.conn
                    .query_row(&query.replace("{t}", &format!("\"{name}\"")), [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(|e| sql(&p, e))
            };
            // Separate min and max queries: each is one B-tree descent, where counting every
            // row of a 10M-row table would take a second. The count is estimated from how
            // densely the first rows sit among the fids (exact for small layers).
            let (Some(min), _) = q("SELECT min(fid), 0 FROM {t}")? else {
                plan.push(LayerPlan {
                    layer,
                    min_id: 0,
                    count: 0,
                    max_id: 0,
                });
                continue;
            };
            let (max, _) = q("SELECT max(fid), 0 FROM {t}")?;
            let max = max.unwrap_or(min);
            let (sample_end, sampled) = q(&format!(
                "SELECT max(fid), count(*) FROM (SELECT fid FROM {{t}} ORDER BY fid LIMIT {PLAN_SAMPLE})"
            ))?;
            let count = if sampled < PLAN_SAMPLE {
                sampled
            } else {
                let sampled_span = (sample_end.unwrap_or(max) - min + 1).max(1) as f64;
                ((max - min + 1) as f64 * sampled as f64 / sampled_span).round() as i64
            };
            plan.push(LayerPlan {
                layer,
                min_id: min.max(0) as ObjectId,
                count: count.max(1) as usize,
                max_id: max.max(0) as ObjectId,
            });
        }
        Ok(plan)
    }

    pub(super) fn read_layer(&mut self, plan: &LayerPlan) -> Result<Vec<Vec<Object>>, StoreError> {
        // Cold start reads every row: split the layer into fid ranges and read them on all
        // cores, each thread with its own read-only connection (WAL lets readers run side by
        // side), then hand the objects over in id order, one chunk per range.
        let p = self.shown();
        if plan.count == 0 {
            return Ok(Vec::new());
        }
        let (layer, count) = (plan.layer, plan.count as i64);
        let (min, max) = (plan.min_id as i64, plan.max_id as i64);
        let mut work: Vec<(i64, i64)> = Vec::new();
        // Ranges of at most ~100k rows, so that even a small layer keeps every core busy.
        let chunks = (count + 99_999) / 100_000;
        let span = max - min + 1;
        let step = (span + chunks - 1) / chunks;
        // Rows expected in one range (fids of a layer are spread evenly by imports), with a
        // margin: growing a vector of millions of objects would copy it again and again, while
        // capacity never written to is never resident.
        let expect = (step as f64 * count as f64 / span as f64 * 1.15) as usize + 64;
        let mut lo = min;
        while lo <= max {
            work.push((lo, lo + step));
            lo += step;
        }
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8)
            .min(work.len().max(1));
        let ctx = RowContext {
            layers: &self.layers,
            width: self.width,
            path: &p,
        };
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<RangeSlot> = work.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let path = self.path.clone();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let conn = Connection::open_with_flags(
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )
                    .inspect(|c| {
                        // Read pages through a memory map instead of copying each one out of
                        // the page cache (a plain speed-up: a failure leaves reads as they were).
                        let _ = c.pragma_update(None, "mmap_size", LOAD_MMAP_BYTES);
                    });
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(&(lo, hi)) = work.get(i) else {
                            break;
                        };
                        let r = match &conn {
                            Ok(c) => load_range(&ctx, c, (layer, lo, hi), expect),
                            Err(e) => Err(StoreError::Invalid {
                                path: ctx.path.to_string(),
                                reason: format!("cannot open for reading: {e}"),
                            }),
                        };
                        if let Ok(mut slot) = results[i].lock() {
                            *slot = Some(r);
                        }
                    }
                });
            }
        });
        let mut parts = Vec::with_capacity(results.len());
        for slot in results {
            let r = slot
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| {
                    Err(StoreError::Invalid {
                        path: p.clone(),
                        reason: "a loader thread stopped early".into(),
                    })
                })?;
            parts.push(r);
        }
        Ok(parts)
    }
}

impl GpkgStore {
    /// Every object whose id is in `lo..=hi`, of any layer.
    pub(super) fn read_between(
        &mut self,
        lo: ObjectId,
        hi: ObjectId,
    ) -> Result<Vec<Object>, StoreError> {
        let p = self.shown();
        let ctx = RowContext {
            layers: &self.layers,
            width: self.width,
            path: &p,
        };
        let (lo, hi) = (
            lo.min(i64::MAX as u64) as i64,
            hi.min(i64::MAX as u64 - 1) as i64,
        );
        let mut out = Vec::new();
        for layer in self.layers.ids() {
            out.extend(load_range(&ctx, &self.conn, (layer, lo, hi + 1), 16)?);
        }
        out.sort_by_key(|o| o.id);
        Ok(out)
    }
}

/// What reading a row needs; shared by the loader threads.
struct RowContext<'a> {
    layers: &'a Layers,
    width: u8,
    path: &'a str,
}

impl RowContext<'_> {
    fn row_to_object(
        &self,
        layer: u16,
        row: &rusqlite::Row<'_>,
        times: &mut TimeCache,
    ) -> Result<Object, StoreError> {
        let def = self.layers.def(layer);
        let fid: i64 = row.get(0).map_err(|e| sql(self.path, e))?;
        let bad = |reason: String| StoreError::BadRow {
            path: self.path.to_string(),
            layer: def.name.clone(),
            fid,
            reason,
        };
        // Borrow column values in place: loading millions of rows must not leave a trail of
        // short-lived allocations between the long-lived ones.
        let text = |i: usize| -> Result<Option<&str>, StoreError> {
            row.get_ref(i)
                .and_then(|v| v.as_str_or_null().map_err(Into::into))
                .map_err(|e| bad(format!("column {i}: {e}")))
        };
        let blob = row
            .get_ref(1)
            .and_then(|v| v.as_blob().map_err(Into::into))
            .map_err(|e| bad(e.to_string()))?;
        let geometry = decode_geometry(blob).map_err(bad)?;
        let serial: Option<i64> = row.get(2).map_err(|e| bad(e.to_string()))?;
        // The number as painted is read only when it is not a scheme serial.
        let number = match serial {
            Some(s) => Some(Number::scheme(s as u32, self.width)),
            None => match text(3)? {
                Some(t) if !t.is_empty() => Some(Number::Source(t.into())),
                _ => None,
            },
        };
        // Status words as citytwin writes them are matched as bytes; anything else is read
        // as text and parsed.
        let status_bytes = text_bytes(row, 4);
        let status = match Status::ALL
            .into_iter()
            .find(|s| s.as_str().as_bytes() == status_bytes)
        {
            Some(s) => s,
            None => {
                let t = text(4)?.unwrap_or("unknown");
                Status::parse(t).ok_or_else(|| bad(format!("unknown status {t:?}")))?
            }
        };
        // Parsed from the bytes: the JSON parser checks the text it keeps.
        let mut attributes = match text_bytes_strict(row, 6).map_err(bad)? {
            b"" | b"{}" => Attributes::new(),
            t => parse_attributes(t).map_err(bad)?,
        };
        attributes.shrink_to_fit();
        let source_file = times.intern(row, 7).map_err(bad)?;
        let source_id: compact_str::CompactString = text(8)?.unwrap_or("").into();
        let created = times.get(row, 9);
        Ok(Object {
            id: fid as ObjectId,
            layer,
            number,
            geometry,
            status,
            status_changed: times.get_or(row, 5, created),
            attributes,
            source: Source {
                file: source_file,
                id: source_id,
            },
            created,
            updated: times.get(row, 10),
        })
    }
}

/// Where a loader thread leaves the objects of one fid range.
type RangeSlot = std::sync::Mutex<Option<Result<Vec<Object>, StoreError>>>;

/// Reads one fid range of one layer with its own read-only connection.
fn load_range(
    ctx: &RowContext<'_>,
    conn: &Connection,
    (layer, lo, hi): (u16, i64, i64),
    expect: usize,
) -> Result<Vec<Object>, StoreError> {
    let name = &ctx.layers.def(layer).name;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM \"{name}\" WHERE fid >= ?1 AND fid < ?2 ORDER BY fid"
        ))
        .map_err(|e| sql(ctx.path, e))?;
    let mut rows = stmt.query(params![lo, hi]).map_err(|e| sql(ctx.path, e))?;
    let mut times = TimeCache::default();
    let mut out = Vec::with_capacity(expect);
    while let Some(row) = rows.next().map_err(|e| sql(ctx.path, e))? {
        out.push(ctx.row_to_object(layer, row, &mut times)?);
    }
    Ok(out)
}

/// Repeated timestamps and file names (an import writes thousands of identical ones) are
/// parsed and allocated once.
#[derive(Default)]
struct TimeCache {
    last: Vec<(String, i64)>,
    files: Vec<std::sync::Arc<str>>,
}

/// A text column's bytes, not yet checked to be UTF-8 (NULL and non-text read as empty).
fn text_bytes<'r>(row: &'r rusqlite::Row<'_>, col: usize) -> &'r [u8] {
    text_bytes_strict(row, col).unwrap_or(b"")
}

/// A text column's bytes (NULL reads as empty); any other kind of value is an error, so that
/// a row written by another tool is reported rather than loaded without its data.
fn text_bytes_strict<'r>(row: &'r rusqlite::Row<'_>, col: usize) -> Result<&'r [u8], String> {
    match row.get_ref(col) {
        Ok(rusqlite::types::ValueRef::Text(t)) => Ok(t),
        Ok(rusqlite::types::ValueRef::Null) => Ok(b""),
        Ok(other) => Err(format!(
            "column {col}: expected text, found {:?}",
            other.data_type()
        )),
        Err(e) => Err(format!("column {col}: {e}")),
    }
}

impl TimeCache {
    /// A time column as milliseconds (0 when absent or unreadable). Only a text not seen
    /// lately is checked and parsed.
    fn get(&mut self, row: &rusqlite::Row<'_>, col: usize) -> i64 {
        let bytes = text_bytes(row, col);
        if let Some((_, ms)) = self.last.iter().find(|(t, _)| t.as_bytes() == bytes) {
            return *ms;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            return 0;
        };
        let ms = parse_ms(text).unwrap_or(0);
        if self.last.len() >= 8 {
            self.last.remove(0);
        }
        self.last.push((text.to_string(), ms));
        ms
    }

    /// As [`TimeCache::get`], with NULL meaning `otherwise` (the store leaves
    /// `status_changed` NULL while it equals the creation time).
    fn get_or(&mut self, row: &rusqlite::Row<'_>, col: usize, otherwise: i64) -> i64 {
        match row.get_ref(col) {
            Ok(rusqlite::types::ValueRef::Null) => otherwise,
            _ => self.get(row, col),
        }
    }

    /// A file name column, shared between the objects of one file.
    fn intern(
        &mut self,
        row: &rusqlite::Row<'_>,
        col: usize,
    ) -> Result<std::sync::Arc<str>, String> {
        let bytes = text_bytes_strict(row, col)?;
        if let Some(f) = self.files.iter().find(|f| f.as_bytes() == bytes) {
            return Ok(f.clone());
        }
        let name = std::str::from_utf8(bytes)
            .map_err(|e| format!("column {col}: source file name is not UTF-8: {e}"))?;
        let f: std::sync::Arc<str> = name.into();
        if self.files.len() < 64 {
            self.files.push(f.clone());
        }
        Ok(f)
    }
}

fn parse_attributes(t: &[u8]) -> Result<Attributes, String> {
    serde_json::from_slice(t).map_err(|e| format!("attributes are not a JSON object: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::gpkg::tests::batch;
    use crate::store::{Change, Store};

    #[test]
    fn a_row_whose_attributes_are_not_text_is_reported_not_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.gpkg");
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let mut store = GpkgStore::open(&path, &layers, 6).unwrap();
        let mut o = crate::twin::tests::obj(1, poles, [30.0, 50.0], 100_001);
        o.attributes.set("name", crate::model::Value::text("a"));
        store.commit(&batch(vec![Change::Create(o)])).unwrap();
        let plan = store.plan().unwrap();
        assert_eq!(
            plan.iter().find(|p| p.layer == poles).map(|p| p.count),
            Some(1)
        );
        let poles_plan = plan.iter().find(|p| p.layer == poles).copied().unwrap();
        assert_eq!(store.load_layer(&poles_plan).unwrap().concat().len(), 1);
        // Another tool writes the attributes as a blob.
        store
            .conn
            .execute("UPDATE poles SET attributes = X'7B7D'", [])
            .unwrap();
        let e = store.load_layer(&poles_plan).unwrap_err().to_string();
        assert!(e.contains("expected text") && e.contains("object 1"), "{e}");
    }

    #[test]
    fn the_plan_estimates_a_layer_larger_than_its_sample_and_counts_a_small_one() {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers::default_city();
        let (poles, manholes) = (
            layers.by_name("poles").unwrap(),
            layers.by_name("manholes").unwrap(),
        );
        let mut store = GpkgStore::open(&dir.path().join("s.gpkg"), &layers, 7).unwrap();
        // Five poles for every manhole, interleaved as an import writes them.
        let n = PLAN_SAMPLE as u64 * 3;
        let changes: Vec<Change> = (1..=n)
            .map(|id| {
                let layer = if id % 6 == 0 { manholes } else { poles };
                let at = [30.0 + id as f64 * 1e-5, 50.0];
                Change::Create(crate::twin::tests::obj(
                    id,
                    layer,
                    at,
                    1_000_000 + id as u32,
                ))
            })
            .collect();
        store.commit(&batch(changes)).unwrap();
        let plan = store.plan().unwrap();
        let of = |l| plan.iter().find(|p| p.layer == l).copied().unwrap();
        let (want_poles, want_manholes) = (n - n / 6, n / 6);
        let estimate = of(poles).count as f64;
        assert!(
            (estimate / want_poles as f64 - 1.0).abs() < 0.01,
            "{estimate} for {want_poles}"
        );
        assert_eq!(
            of(manholes).count as u64,
            want_manholes,
            "below the sample: exact"
        );
        assert_eq!((of(poles).min_id, of(poles).max_id), (1, n - 1));
        assert_eq!(
            store.load_layer(&of(poles)).unwrap().concat().len() as u64,
            want_poles
        );
    }
}
