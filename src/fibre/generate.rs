//! A synthetic city fibre network for the trace benchmarks: wells on a grid 150 m apart
//! around the synthetic city's centre, a random spanning tree of cables (each well cabled to
//! its west or south neighbour) and 5% more cables between neighbours, which close rings.
//! Deterministic for a seed.

use std::io::Write;
use std::path::Path;

use crate::generate::{CENTRE, GenerateError, Rng};

/// Metres between neighbouring wells.
const STEP_M: f64 = 150.0;

/// The network in memory: node positions and spans as pairs of node indexes.
#[derive(Debug, Clone)]
pub struct Grid {
    pub side: usize,
    pub nodes: Vec<[f64; 2]>,
    pub spans: Vec<(u32, u32)>,
}

impl Grid {
    /// About `spans` cables.
    pub fn new(spans: usize, seed: u64) -> Grid {
        let side = ((spans as f64 / 1.05).sqrt().ceil() as usize).max(2);
        let m_lon = 111_320.0 * CENTRE[1].to_radians().cos();
        let half = (side - 1) as f64 * STEP_M / 2.0;
        let mut nodes = Vec::with_capacity(side * side);
        for j in 0..side {
            for i in 0..side {
                nodes.push([
                    CENTRE[0] + (i as f64 * STEP_M - half) / m_lon,
                    CENTRE[1] + (j as f64 * STEP_M - half) / 110_574.0,
                ]);
            }
        }
        let mut rng = Rng(seed ^ 0xF1B2_E0C4);
        let at = |i: usize, j: usize| (j * side + i) as u32;
        let mut out = Vec::with_capacity(spans + side);
        let mut extra = Vec::new();
        for j in 0..side {
            for i in 0..side {
                let west = (i > 0).then(|| at(i - 1, j));
                let south = (j > 0).then(|| at(i, j - 1));
                let (tree, other) = match (west, south) {
                    (Some(w), Some(s)) if rng.next().is_multiple_of(2) => (Some(w), Some(s)),
                    (Some(w), Some(s)) => (Some(s), Some(w)),
                    (w, s) => (w.or(s), None),
                };
                if let Some(t) = tree {
                    out.push((t, at(i, j)));
                }
                if let Some(o) = other
                    && rng.unit() < 0.05
                {
                    extra.push((o, at(i, j)));
                }
            }
        }
        out.extend(extra);
        Grid {
            side,
            nodes,
            spans: out,
        }
    }

    /// The well in the middle (the core of the benchmarks).
    pub fn centre(&self) -> u32 {
        ((self.side / 2) * self.side + self.side / 2) as u32
    }
}

/// What [`write`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FibreStats {
    pub nodes: usize,
    pub spans: usize,
    /// The id of the middle well, for `[fibre] core`.
    pub centre: String,
}

/// Writes `nodes.geojson` (ids `w<index>`) and `spans.geojson` (ids `c<index>`, with
/// `start`/`end`) in `dir`, for `citytwin import --layer fibre_nodes|fibre_spans`.
pub fn write(dir: &Path, spans: usize, seed: u64) -> Result<FibreStats, GenerateError> {
    if spans < 4 {
        return Err(GenerateError::Bad("give at least 4 spans".into()));
    }
    let io = |path: &Path| {
        let p = path.display().to_string();
        move |e: std::io::Error| GenerateError::Io {
            path: p.clone(),
            source: e,
        }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let g = Grid::new(spans, seed);
    let write_fc = |name: &str, features: &mut dyn Iterator<Item = serde_json::Value>| {
        let path = dir.join(name);
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
        w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")
            .map_err(io(&path))?;
        for (k, f) in features.enumerate() {
            if k > 0 {
                w.write_all(b",\n").map_err(io(&path))?;
            }
            w.write_all(f.to_string().as_bytes()).map_err(io(&path))?;
        }
        w.write_all(b"\n]}\n").map_err(io(&path))?;
        w.flush().map_err(io(&path))
    };
    write_fc(
        "nodes.geojson",
        &mut g.nodes.iter().enumerate().map(|(k, p)| {
            serde_json::json!({"type": "Feature", "id": format!("w{k}"), "properties": {"type": "well"},
                "geometry": {"type": "Point", "coordinates": p}})
        }),
    )?;
    write_fc(
        "spans.geojson",
        &mut g.spans.iter().enumerate().map(|(k, (a, b))| {
            serde_json::json!({"type": "Feature", "id": format!("c{k}"),
                "properties": {"start": format!("w{a}"), "end": format!("w{b}"), "fibre_count": 48},
                "geometry": {"type": "LineString", "coordinates": [g.nodes[*a as usize], g.nodes[*b as usize]]}})
        }),
    )?;
    Ok(FibreStats {
        nodes: g.nodes.len(),
        spans: g.spans.len(),
        centre: format!("w{}", g.centre()),
    })
}
