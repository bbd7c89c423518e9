//! A synthetic city for benchmarks: objects along a street grid around Zaporizhzhia's centre,
//! in districts, numbered by the same assigner as real imports. Deterministic for a seed.
//!
//! Output is a CSV (`layer,number,lon,lat,name,status,district`) that `citytwin import` reads
//! with the mapping in `seeds/synthetic-city.toml`.

use std::io::Write;
use std::path::Path;

use crate::model::Layers;
use crate::numbering::{AssignError, Assigner, Number};

/// Centre of the synthetic city (Zaporizhzhia, Sobornyi avenue).
pub(crate) const CENTRE: [f64; 2] = [35.1396, 47.8388];
/// Numbered objects per square kilometre: a dense city (Zaporizhzhia has ~330 km² and a few
/// hundred thousand such objects). Denser than ~4,000/km² cannot keep numbers unconfusable within
/// 1 km with 7-digit serials.
const DENSITY_PER_KM2: f64 = 3_000.0;
/// Distance between parallel streets, metres.
const BLOCK_M: f64 = 120.0;

/// Share of each layer, in per mille.
const MIX: [(&str, u32); 7] = [
    ("poles", 400),
    ("manholes", 250),
    ("trees", 200),
    ("cameras", 50),
    ("cabinets", 40),
    ("wifi", 30),
    ("shelters", 30),
];

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Assign(#[from] AssignError),
    #[error("{0}")]
    Bad(String),
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub objects: u64,
    /// Objects whose number is confusable with one within 1 km (only when the serial space is
    /// nearly full).
    pub fallbacks: u64,
}

/// A small deterministic generator (splitmix64).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// One of `xs` (which must not be empty).
    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Calls `each(layer_name, lon, lat, street_index, district)` for `n` objects.
fn city(
    n: u64,
    seed: u64,
    mut each: impl FnMut(&'static str, [f64; 2], u64, u32) -> Result<(), GenerateError>,
) -> Result<(), GenerateError> {
    let area_km2 = (n as f64 / DENSITY_PER_KM2).max(0.01);
    let side_m = area_km2.sqrt() * 1000.0;
    let streets = (side_m / BLOCK_M).ceil().max(1.0) as u64 + 1;
    // Total street length (both directions) over objects gives the spacing along a street.
    let spacing = (2.0 * streets as f64 * side_m) / n as f64;
    let m_per_deg_lat = 111_320.0;
    let m_per_deg_lon = 111_320.0 * CENTRE[1].to_radians().cos();
    let mut rng = Rng(seed);
    let mut made = 0u64;
    let per_street = (side_m / spacing).ceil() as u64;
    'outer: for street in 0..2 * streets {
        let horizontal = street < streets;
        let offset = (street % streets) as f64 * BLOCK_M - side_m / 2.0;
        for k in 0..per_street {
            if made == n {
                break 'outer;
            }
            let along = k as f64 * spacing - side_m / 2.0 + rng.unit() * spacing * 0.5;
            let across = offset + (rng.unit() - 0.5) * 12.0;
            let (x, y) = if horizontal {
                (along, across)
            } else {
                (across, along)
            };
            let lon = CENTRE[0] + x / m_per_deg_lon;
            let lat = CENTRE[1] + y / m_per_deg_lat;
            let pick = (rng.next() % 1000) as u32;
            let mut acc = 0;
            let layer = MIX
                .iter()
                .find(|(_, share)| {
                    acc += share;
                    pick < acc
                })
                .map(|(l, _)| *l)
                .unwrap_or("poles");
            // Districts: a 4 × 4 grid over the city.
            let dx = (((x + side_m / 2.0) / side_m * 4.0).floor() as i64).clamp(0, 3);
            let dy = (((y + side_m / 2.0) / side_m * 4.0).floor() as i64).clamp(0, 3);
            each(layer, [lon, lat], street, (dy * 4 + dx) as u32 + 1)?;
            made += 1;
        }
    }
    if made < n {
        return Err(GenerateError::Bad(format!(
            "grid held only {made} of {n} objects"
        )));
    }
    Ok(())
}

/// Writes `n` numbered objects to a CSV file.
pub fn write_csv(path: &Path, n: u64, width: u8, seed: u64) -> Result<Stats, GenerateError> {
    let io = |source| GenerateError::Io {
        path: path.display().to_string(),
        source,
    };
    if n == 0 {
        return Err(GenerateError::Bad("--objects must be at least 1".into()));
    }
    if n > crate::numbering::serial_space(width.min(9)) as u64 {
        return Err(GenerateError::Bad(format!(
            "{n} objects do not fit in {width}-digit serials; use a wider --width"
        )));
    }
    let layers = Layers::default_city();
    let mut assigner = Assigner::new(width, 1000.0, false)?;
    let file = std::fs::File::create(path).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    writeln!(w, "layer,number,lon,lat,name,status,district").map_err(io)?;
    let statuses = [
        "ok", "ok", "ok", "ok", "ok", "ok", "ok", "broken", "closed", "unknown",
    ];
    let mut count = 0u64;
    city(n, seed, |layer, p, street, district| {
        let def = layers
            .by_name(layer)
            .map(|l| layers.def(l))
            .ok_or_else(|| GenerateError::Bad(format!("layer {layer} missing")))?;
        let serial = assigner.assign(p)?;
        let number = Number::scheme(serial, width).display(def, width);
        let status = statuses[(serial % 10) as usize];
        writeln!(
            w,
            "{layer},{number},{:.7},{:.7},Street {street} #{count},{status},{district}",
            p[0], p[1]
        )
        .map_err(io)?;
        count += 1;
        Ok(())
    })?;
    w.flush().map_err(io)?;
    Ok(Stats {
        objects: count,
        fallbacks: assigner.fallbacks,
    })
}

/// What [`walking_city`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WalkStats {
    pub ways: usize,
    pub shelters: usize,
    /// Ways tagged `highway=steps`, and ways closed to feet (`foot=no`).
    pub steps: usize,
    pub closed: usize,
}

/// A street grid of about `edges` way pieces (blocks of [`BLOCK_M`], one way per block side:
/// residential streets, every fifth north–south one a footway, 1% steps, 1% closed to feet)
/// around the synthetic city's centre, and `shelters` shelters among them (60% step-free,
/// 80% open 24/7, the rest on office hours), as `streets.geojson` and `shelters.geojson` in
/// `dir`, for `citytwin import --layer streets|shelters`. Deterministic for a seed.
pub fn walking_city(
    dir: &Path,
    edges: usize,
    shelters: usize,
    seed: u64,
) -> Result<WalkStats, GenerateError> {
    if edges < 4 {
        return Err(GenerateError::Bad("give at least 4 edges".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| GenerateError::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    let n = ((edges as f64 / 2.0).sqrt().ceil() as usize).max(2) + 1;
    let m_per_deg_lon = 111_320.0 * CENTRE[1].to_radians().cos();
    let m_per_deg_lat = 110_574.0;
    let half = (n - 1) as f64 * BLOCK_M / 2.0;
    let at = |i: usize, j: usize| -> [f64; 2] {
        [
            CENTRE[0] + (i as f64 * BLOCK_M - half) / m_per_deg_lon,
            CENTRE[1] + (j as f64 * BLOCK_M - half) / m_per_deg_lat,
        ]
    };
    let mut rng = Rng(seed ^ 0x05EE_D0F5_7EE7);
    let mut stats = WalkStats {
        ways: 0,
        shelters: 0,
        steps: 0,
        closed: 0,
    };
    let io = |path: &Path| {
        let p = path.display().to_string();
        move |e: std::io::Error| GenerateError::Io {
            path: p.clone(),
            source: e,
        }
    };
    let streets = dir.join("streets.geojson");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&streets).map_err(io(&streets))?);
    w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")
        .map_err(io(&streets))?;
    let mut first = true;
    'grid: for i in 0..n {
        for j in 0..n {
            for (di, dj) in [(1, 0), (0, 1)] {
                if i + di >= n || j + dj >= n {
                    continue;
                }
                if stats.ways >= edges {
                    break 'grid;
                }
                let roll = rng.unit();
                let tags = if roll < 0.01 {
                    stats.steps += 1;
                    serde_json::json!({"highway": "steps"})
                } else if roll < 0.02 {
                    stats.closed += 1;
                    serde_json::json!({"highway": "footway", "foot": "no"})
                } else if dj == 1 && i % 5 == 0 {
                    serde_json::json!({"highway": "footway"})
                } else {
                    serde_json::json!({"highway": "residential", "name": format!("Street {}", if dj == 1 { i } else { j })})
                };
                let f = serde_json::json!({"type": "Feature", "properties": tags,
                    "geometry": {"type": "LineString", "coordinates": [at(i, j), at(i + di, j + dj)]}});
                if !first {
                    w.write_all(b",\n").map_err(io(&streets))?;
                }
                first = false;
                w.write_all(f.to_string().as_bytes())
                    .map_err(io(&streets))?;
                stats.ways += 1;
            }
        }
    }
    w.write_all(b"\n]}\n").map_err(io(&streets))?;
    w.flush().map_err(io(&streets))?;
    let path = dir.join("shelters.geojson");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
    w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")
        .map_err(io(&path))?;
    for k in 0..shelters {
        let x = rng.unit() * (n - 1) as f64;
        let y = rng.unit() * (n - 1) as f64;
        let p = [
            CENTRE[0] + (x * BLOCK_M - half) / m_per_deg_lon,
            CENTRE[1] + (y * BLOCK_M - half) / m_per_deg_lat,
        ];
        let props = serde_json::json!({
            "legal_type": if k % 3 == 0 { "Споруда подвійного призначення" } else { "Найпростіше укриття" },
            "accessible": rng.unit() < 0.6,
            "opening_hours": if rng.unit() < 0.8 { "24/7" } else { "Mo-Fr 08:00-18:00" },
            "capacity": 50 + (rng.next() % 400),
        });
        let f = serde_json::json!({"type": "Feature", "properties": props,
            "geometry": {"type": "Point", "coordinates": p}});
        if k > 0 {
            w.write_all(b",\n").map_err(io(&path))?;
        }
        w.write_all(f.to_string().as_bytes()).map_err(io(&path))?;
        stats.shelters += 1;
    }
    w.write_all(b"\n]}\n").map_err(io(&path))?;
    w.flush().map_err(io(&path))?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_city_is_deterministic_and_numbered() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b.csv");
        let s = write_csv(&a, 2000, 6, 7).unwrap();
        write_csv(&b, 2000, 6, 7).unwrap();
        assert_eq!(s.objects, 2000);
        assert_eq!(s.fallbacks, 0);
        let text = std::fs::read_to_string(&a).unwrap();
        assert_eq!(text, std::fs::read_to_string(&b).unwrap());
        assert_eq!(text.lines().count(), 2001);
        let numbers: std::collections::HashSet<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap())
            .collect();
        assert_eq!(numbers.len(), 2000);
    }
}
