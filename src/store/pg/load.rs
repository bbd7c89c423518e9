//! The PostGIS store's loader: plans each layer and reads its rows at start, ranges of ids
//! side by side on the pool's connections.

use futures_util::StreamExt;

use super::{PgStore, geom, pg_error};
use crate::model::{Attributes, Layers, Object, ObjectId, Source, Status};
use crate::numbering::Number;
use crate::store::{LayerPlan, StoreError, parse_ms};

/// The columns [`RowContext::object`] reads, in its order.
const OBJECT: &str = "fid, geom, serial, number, status, status_changed, attributes::text, \
     source_file, source_id, created, updated";

/// Rows per range read by one query: small enough that every connection has work.
const RANGE_ROWS: i64 = 100_000;

/// Below this many rows (as the planner's statistics estimate) a layer is counted exactly.
const COUNT_EXACT_BELOW: f64 = 1_000_000.0;

impl PgStore {
    pub(super) async fn plan_layers(&self) -> Result<Vec<LayerPlan>, StoreError> {
        let c = self.client().await?;
        let mut plan = Vec::new();
        for layer in self.layers.ids() {
            let name = &self.layers.def(layer).name;
            // min and max are each one descent of the primary key's index.
            let row = c
                .query_one(&format!("SELECT min(fid), max(fid) FROM \"{name}\""), &[])
                .await
                .map_err(self.pg())?;
            let (Some(min), Some(max)) =
                (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1))
            else {
                plan.push(LayerPlan {
                    layer,
                    min_id: 0,
                    count: 0,
                    max_id: 0,
                });
                continue;
            };
            // Counting 10M rows takes seconds: a large layer's count is the statistics'
            // estimate (it only sizes the loader's buffers).
            let estimate: f32 = c
                .query_one(
                    "SELECT reltuples FROM pg_class WHERE oid = $1::text::regclass",
                    &[&format!("\"{name}\"")],
                )
                .await
                .map_err(self.pg())?
                .get(0);
            let count = if f64::from(estimate) >= COUNT_EXACT_BELOW {
                estimate as i64
            } else {
                c.query_one(&format!("SELECT count(*) FROM \"{name}\""), &[])
                    .await
                    .map_err(self.pg())?
                    .get::<_, i64>(0)
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

    pub(super) async fn read_layer(
        &self,
        plan: &LayerPlan,
    ) -> Result<Vec<Vec<Object>>, StoreError> {
        if plan.count == 0 {
            return Ok(Vec::new());
        }
        let (min, max) = (plan.min_id as i64, plan.max_id as i64);
        let span = max - min + 1;
        let chunks = (plan.count as u64).div_ceil(RANGE_ROWS as u64).max(1) as i64;
        let step = (span + chunks - 1) / chunks;
        let ranges: Vec<(i64, i64)> = (0..chunks)
            .map(|i| (min + i * step, (min + (i + 1) * step).min(max + 1)))
            .filter(|(lo, hi)| lo < hi)
            .collect();
        let sql = format!(
            "SELECT {OBJECT} FROM \"{}\" WHERE fid >= $1 AND fid < $2 ORDER BY fid",
            self.layers.def(plan.layer).name
        );
        let width = self.pool.status().max_size.max(1);
        let reads = ranges.into_iter().map(|(lo, hi)| {
            let sql = &sql;
            async move {
                let c = self.client().await?;
                let rows = c
                    .query(sql.as_str(), &[&lo, &hi])
                    .await
                    .map_err(self.pg())?;
                let ctx = self.row_context(plan.layer);
                rows.iter()
                    .map(|r| ctx.object(r))
                    .collect::<Result<Vec<_>, _>>()
            }
        });
        // Side by side on the pool's connections; handed back in id order.
        futures_util::stream::iter(reads)
            .buffered(width)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// Every object whose id is in `lo..=hi`, of any layer.
    pub(super) async fn read_between(
        &self,
        lo: ObjectId,
        hi: ObjectId,
    ) -> Result<Vec<Object>, StoreError> {
        let c = self.client().await?;
        let (lo, hi) = (
            lo.min(i64::MAX as u64) as i64,
            hi.min(i64::MAX as u64) as i64,
        );
        let mut out = Vec::new();
        for layer in self.layers.ids() {
            let rows = c
                .query(
                    &format!(
                        "SELECT {OBJECT} FROM \"{}\" WHERE fid BETWEEN $1 AND $2",
                        self.layers.def(layer).name
                    ),
                    &[&lo, &hi],
                )
                .await
                .map_err(self.pg())?;
            let ctx = self.row_context(layer);
            for r in &rows {
                out.push(ctx.object(r)?);
            }
        }
        out.sort_by_key(|o| o.id);
        Ok(out)
    }

    /// What reading a row of `layer` needs.
    fn row_context(&self, layer: u16) -> RowContext<'_> {
        RowContext {
            layers: &self.layers,
            width: self.width,
            path: &self.shown,
            layer,
        }
    }
}

/// What reading a row needs.
struct RowContext<'a> {
    layers: &'a Layers,
    width: u8,
    path: &'a str,
    layer: u16,
}

impl RowContext<'_> {
    fn object(&self, r: &tokio_postgres::Row) -> Result<Object, StoreError> {
        let def = self.layers.def(self.layer);
        let fid: i64 = r.try_get(0).map_err(|e| pg_error(self.path, e))?;
        let bad = |reason: String| StoreError::BadRow {
            path: self.path.to_string(),
            layer: def.name.clone(),
            fid,
            reason,
        };
        let col = |e: tokio_postgres::Error| bad(e.to_string());
        let geometry = geom::from_column(r.try_get(1).map_err(col)?).map_err(bad)?;
        let serial: Option<i32> = r.try_get(2).map_err(col)?;
        let number = match serial {
            Some(s) => Some(Number::scheme(s as u32, self.width)),
            None => match r.try_get::<_, Option<&str>>(3).map_err(col)? {
                Some(t) if !t.is_empty() => Some(Number::Source(t.into())),
                _ => None,
            },
        };
        let status_text: &str = r.try_get(4).map_err(col)?;
        let status = Status::parse(status_text)
            .ok_or_else(|| bad(format!("unknown status {status_text:?}")))?;
        let mut attributes = match r.try_get::<_, Option<&str>>(6).map_err(col)? {
            None | Some("") | Some("{}") => Attributes::new(),
            Some(t) => serde_json::from_str(t)
                .map_err(|e| bad(format!("attributes are not a JSON object: {e}")))?,
        };
        attributes.shrink_to_fit();
        let time = |i: usize| -> Result<Option<i64>, StoreError> {
            Ok(r.try_get::<_, Option<&str>>(i)
                .map_err(col)?
                .and_then(parse_ms))
        };
        let created = time(9)?.unwrap_or(0);
        Ok(Object {
            id: fid as ObjectId,
            layer: self.layer,
            number,
            geometry,
            status,
            status_changed: time(5)?.unwrap_or(created),
            attributes,
            source: Source {
                file: r
                    .try_get::<_, Option<&str>>(7)
                    .map_err(col)?
                    .unwrap_or("")
                    .into(),
                id: r
                    .try_get::<_, Option<&str>>(8)
                    .map_err(col)?
                    .unwrap_or("")
                    .into(),
            },
            created,
            updated: time(10)?.unwrap_or(0),
        })
    }
}
