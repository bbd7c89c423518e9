//! A PMTiles v3 archive of the tiles a role sees: the same renderer as `/tiles` (so the
//! archive holds exactly the server's tiles), gzipped here and added in tile-id order, for a
//! static host or a CDN, and for the residents' page to keep offline.

use std::path::Path;

use ::pmtiles::{Compression, PmTilesWriter, TileCoord, TileId as PmTileId, TileType};

use super::ExportError;
use crate::access::View;
use crate::model::LayerId;
use crate::tiles::{TileId, TileSettings, coord, render};
use crate::twin::Twin;

/// What to put in an archive.
#[derive(Debug, Clone)]
pub struct PmtilesPlan {
    pub layers: Vec<LayerId>,
    /// Layers drawn under them in every tile of the area (the basemap), which do not widen
    /// the area when it is taken from the data.
    pub basemap: Vec<LayerId>,
    /// `[west, south, east, north]`; the extent of the layers' data when absent.
    pub bbox: Option<[f64; 4]>,
    pub min_zoom: u8,
    pub max_zoom: u8,
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PmtilesReport {
    pub tiles: usize,
    /// Tiles of the area with nothing in them (not stored).
    pub empty: usize,
    pub bytes: u64,
    pub bbox: [f64; 4],
}

/// Writes the archive of `plan` as `view` sees it to `out` (through a temporary file renamed
/// into place, so a failure leaves no half archive).
pub fn write_pmtiles(
    twin: &Twin,
    plan: &PmtilesPlan,
    settings: &TileSettings,
    view: &View,
    attribution: &str,
    out: &Path,
) -> Result<PmtilesReport, ExportError> {
    let shown = out.display().to_string();
    let fail = |reason: String| ExportError::Write {
        path: shown.clone(),
        reason,
    };
    if plan.layers.is_empty() {
        return Err(fail("no layers to export".into()));
    }
    if plan.min_zoom > plan.max_zoom || plan.max_zoom > settings.max_zoom {
        return Err(fail(format!(
            "zooms {}..={} must be ordered and at most tiles.max_zoom {}",
            plan.min_zoom, plan.max_zoom, settings.max_zoom
        )));
    }
    for l in plan.layers.iter().chain(&plan.basemap) {
        if !view.can_read(*l) {
            return Err(fail(format!(
                "layer {} is not readable by role {}: it cannot be published",
                twin.layers().def(*l).name,
                view.role()
            )));
        }
    }
    let bbox = match plan.bbox {
        Some(b) => b,
        None => plan
            .layers
            .iter()
            .filter_map(|l| twin.bbox(*l))
            .reduce(|a, b| {
                [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ]
            })
            .ok_or_else(|| fail("the layers hold no objects".into()))?,
    };
    // Every tile of the area, in PMTiles tile-id order.
    let mut tiles: Vec<(u64, TileId)> = Vec::new();
    for z in plan.min_zoom..=plan.max_zoom {
        let ([x0, x1], [y0, y1]) = coord::cover(bbox, z, settings.extent, 0.0);
        for x in x0..=x1 {
            for y in y0..=y1 {
                let c = TileCoord::new(z, x, y).map_err(|e| fail(e.to_string()))?;
                tiles.push((PmTileId::from(c).value(), TileId { z, x, y }));
            }
        }
    }
    tiles.sort_unstable_by_key(|t| t.0);
    // In layer order, as `/tiles/{layers}` has them: the archive's tile is the server's tile
    // of the same list, byte for byte.
    let mut all: Vec<LayerId> = plan.layers.iter().chain(&plan.basemap).copied().collect();
    all.sort_unstable();
    all.dedup();
    let names: Vec<&str> = all
        .iter()
        .map(|l| twin.layers().def(*l).name.as_str())
        .collect();
    let vector_layers: Vec<serde_json::Value> = all
        .iter()
        .map(|l| {
            let d = twin.layers().def(*l);
            serde_json::json!({"id": d.name, "minzoom": plan.min_zoom, "maxzoom": plan.max_zoom, "description": d.title_en})
        })
        .collect();
    let metadata = serde_json::json!({
        "name": format!("citytwin {}", names.join(",")),
        "attribution": attribution,
        "vector_layers": vector_layers,
        "citytwin": {"layers": names, "role": view.role().as_str()},
    });
    let tmp = out.with_extension("pmtiles.partial");
    let io = |e: std::io::Error| ExportError::Io {
        path: tmp.display().to_string(),
        source: e,
    };
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let centre = [(bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0];
    let mut w = PmTilesWriter::new(TileType::Mvt)
        .precompressed(Compression::Gzip)
        .min_zoom(plan.min_zoom)
        .max_zoom(plan.max_zoom)
        .bounds(bbox[0], bbox[1], bbox[2], bbox[3])
        .center(centre[0], centre[1])
        .center_zoom(plan.min_zoom.max(plan.max_zoom.saturating_sub(2)))
        .metadata(metadata.to_string())
        .create(std::io::BufWriter::new(file))
        .map_err(|e| fail(e.to_string()))?;
    let mut gz = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut buf = Vec::new();
    let (mut stored, mut empty) = (0, 0);
    for (_, t) in &tiles {
        let r = render(twin, &all, *t, settings, view);
        if r.bytes.is_empty() {
            empty += 1;
            continue;
        }
        buf.resize(gz.gzip_compress_bound(r.bytes.len()), 0);
        let n = gz
            .gzip_compress(&r.bytes, &mut buf)
            .map_err(|e| fail(format!("gzip: {e:?}")))?;
        let c = TileCoord::new(t.z, t.x, t.y).map_err(|e| fail(e.to_string()))?;
        w.add_tile(c, &buf[..n]).map_err(|e| fail(e.to_string()))?;
        stored += 1;
    }
    w.finalize().map_err(|e| fail(e.to_string()))?;
    std::fs::rename(&tmp, out).map_err(|e| ExportError::Io {
        path: shown.clone(),
        source: e,
    })?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(PmtilesReport {
        tiles: stored,
        empty,
        bytes,
        bbox,
    })
}
