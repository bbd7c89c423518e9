//! Tile addresses and the Web Mercator arithmetic between WGS84 degrees and tile units.

use std::fmt;

/// Web Mercator's latitude limit: the square world.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

/// One tile: zoom, column, row (XYZ scheme, row 0 at the north).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

/// Why a tile address was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CoordError {
    #[error("{field}: {value:?} is not a whole number")]
    NotANumber { field: &'static str, value: String },
    #[error("z: {z} is outside 0..={max}")]
    Zoom { z: u64, max: u8 },
    #[error("{field}: {value} is outside 0..={max} at zoom {z}")]
    Range {
        field: &'static str,
        value: u64,
        max: u32,
        z: u8,
    },
}

impl CoordError {
    /// The path field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            CoordError::NotANumber { field, .. } | CoordError::Range { field, .. } => field,
            CoordError::Zoom { .. } => "z",
        }
    }
}

impl TileId {
    /// The deepest zoom a tile id can address: its column and row, and [`TileId::side`], are
    /// `u32`.
    pub const MAX_Z: u8 = 31;

    /// Parses `z`, `x`, `y` as written in a URL and checks them against `max_zoom` (and
    /// [`TileId::MAX_Z`], whichever is smaller).
    pub fn parse(z: &str, x: &str, y: &str, max_zoom: u8) -> Result<TileId, CoordError> {
        let max_zoom = max_zoom.min(Self::MAX_Z);
        let num = |field: &'static str, s: &str| -> Result<u64, CoordError> {
            // Digits only: no sign, no spaces, no `+`, and not so long that it overflows.
            if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CoordError::NotANumber {
                    field,
                    value: s.chars().take(40).collect(),
                });
            }
            s.parse().map_err(|_| CoordError::NotANumber {
                field,
                value: s.to_string(),
            })
        };
        let zv = num("z", z)?;
        if zv > u64::from(max_zoom) {
            return Err(CoordError::Zoom {
                z: zv,
                max: max_zoom,
            });
        }
        let z = zv as u8;
        let max = (1u64 << z) - 1;
        let check = |field: &'static str, v: u64| -> Result<u32, CoordError> {
            if v > max {
                Err(CoordError::Range {
                    field,
                    value: v,
                    max: max as u32,
                    z,
                })
            } else {
                Ok(v as u32)
            }
        };
        Ok(TileId {
            z,
            x: check("x", num("x", x)?)?,
            y: check("y", num("y", y)?)?,
        })
    }

    /// Tiles per side at this zoom.
    pub fn side(self) -> u32 {
        1u32 << self.z
    }

    /// The tile's bounds in degrees, `[west, south, east, north]`, widened by `margin` tile
    /// units of a tile `extent` units wide.
    pub fn bounds(self, extent: u32, margin: f64) -> [f64; 4] {
        let e = f64::from(extent);
        let world = e * f64::from(self.side());
        let x0 = f64::from(self.x) * e - margin;
        let y0 = f64::from(self.y) * e - margin;
        let x1 = x0 + e + 2.0 * margin;
        let y1 = y0 + e + 2.0 * margin;
        let (w, n) = unproject([x0, y0], world);
        let (east, s) = unproject([x1, y1], world);
        [
            w.max(-180.0),
            s.max(-MAX_LAT),
            east.min(180.0),
            n.min(MAX_LAT),
        ]
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// A position in world units at one zoom: `world` units across the whole map.
pub fn project(lon: f64, lat: f64, world: f64) -> [f64; 2] {
    let lat = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    let x = (lon + 180.0) / 360.0 * world;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * world;
    [x, y]
}

/// The inverse of [`project`]: `(lon, lat)`.
pub fn unproject([x, y]: [f64; 2], world: f64) -> (f64, f64) {
    let lon = x / world * 360.0 - 180.0;
    let n = std::f64::consts::PI * (1.0 - 2.0 * y / world);
    (lon, n.sinh().atan().to_degrees())
}

/// A tile's frame: converts degrees to this tile's units.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    world: f64,
    origin: [f64; 2],
    /// Near the tile, Mercator's y as a polynomial in the latitude's distance from the
    /// tile's middle (see [`Frame::new`]).
    local: Option<LocalY>,
}

/// `y(φ0 + d) = c[0] + c[1]·d + … + c[5]·d⁵` in tile units, for `|d| ≤ reach` (radians).
#[derive(Debug, Clone, Copy)]
struct LocalY {
    lat0: f64,
    reach: f64,
    c: [f64; 6],
}

/// Zooms from which a tile's y is computed by its local polynomial: there a tile and its
/// buffer span at most ~2° of latitude, where the series' error is far below a tile unit.
const LOCAL_FROM_ZOOM: u8 = 8;

impl Frame {
    pub fn new(tile: TileId, extent: u32) -> Frame {
        let e = f64::from(extent);
        let world = e * f64::from(tile.side());
        let origin = [f64::from(tile.x) * e, f64::from(tile.y) * e];
        // A tile's points are projected by the Taylor series of Mercator's y about the
        // tile's middle latitude: a few multiplications per point instead of tan, cos and ln.
        // With f(φ) = ln(tan φ + sec φ), the derivatives are: f1 = sec, f2 = sec·tan,
        // f3 = sec·tan² + sec³, f4 = sec·tan³ + 5·sec³·tan, f5 = sec·tan⁴ + 18·sec³·tan² + 5·sec⁵.
        // Positions beyond the tile's buffer (a long line's far vertices) are projected exactly.
        let local = (tile.z >= LOCAL_FROM_ZOOM).then(|| {
            let (_, north) = unproject([origin[0], origin[1]], world);
            let (_, south) = unproject([origin[0], origin[1] + e], world);
            let lat0 = ((north + south) / 2.0).to_radians();
            let reach = (north - south).to_radians() * 1.5;
            let (sec, tan) = (1.0 / lat0.cos(), lat0.tan());
            let k = -world / (2.0 * std::f64::consts::PI);
            let y0 = project(0.0, lat0.to_degrees(), world)[1] - origin[1];
            LocalY {
                lat0,
                reach,
                c: [
                    y0,
                    k * sec,
                    k * sec * tan / 2.0,
                    k * (sec * tan * tan + sec.powi(3)) / 6.0,
                    k * (sec * tan.powi(3) + 5.0 * sec.powi(3) * tan) / 24.0,
                    k * (sec * tan.powi(4) + 18.0 * sec.powi(3) * tan * tan + 5.0 * sec.powi(5))
                        / 120.0,
                ],
            }
        });
        Frame {
            world,
            origin,
            local,
        }
    }

    /// Tile units of a position (not rounded).
    pub fn to_tile(&self, [lon, lat]: [f64; 2]) -> [f64; 2] {
        let x = (lon + 180.0) / 360.0 * self.world - self.origin[0];
        if let Some(l) = &self.local {
            let d = lat.to_radians() - l.lat0;
            // Beyond Web Mercator's edge the exact projection clamps: so does this.
            if d.abs() <= l.reach && lat.abs() <= MAX_LAT {
                let c = &l.c;
                let y = c[0] + d * (c[1] + d * (c[2] + d * (c[3] + d * (c[4] + d * c[5]))));
                return [x, y];
            }
        }
        let [_, y] = project(lon, lat, self.world);
        [x, y - self.origin[1]]
    }

    /// Degrees of a position in tile units.
    pub fn to_lonlat(&self, [x, y]: [f64; 2]) -> [f64; 2] {
        let (lon, lat) = unproject([x + self.origin[0], y + self.origin[1]], self.world);
        [lon, lat]
    }
}

/// Every tile at zoom `z` whose area, widened by `margin` tile units (of `extent`), meets
/// `bbox` (`[west, south, east, north]` in degrees): inclusive column and row ranges.
pub fn cover(bbox: [f64; 4], z: u8, extent: u32, margin: f64) -> ([u32; 2], [u32; 2]) {
    let e = f64::from(extent);
    let side = 1u32 << z;
    let world = e * f64::from(side);
    let [x0, y0] = project(bbox[0], bbox[3], world);
    let [x1, y1] = project(bbox[2], bbox[1], world);
    let last = f64::from(side - 1);
    let col = |v: f64| ((v / e).floor()).clamp(0.0, last) as u32;
    (
        [col(x0 - margin), col(x1 + margin)],
        [col(y0 - margin), col(y1 + margin)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_tile_addresses() {
        assert_eq!(
            TileId::parse("3", "7", "0", 22),
            Ok(TileId { z: 3, x: 7, y: 0 })
        );
        assert_eq!(TileId::parse("3", "8", "0", 22).unwrap_err().field(), "x");
        assert_eq!(TileId::parse("23", "0", "0", 22).unwrap_err().field(), "z");
        for bad in ["-1", "+1", " 1", "1.0", "", "99999999999999999999", "١"] {
            assert!(TileId::parse("1", bad, "0", 22).is_err(), "{bad:?}");
        }
        assert!(TileId::parse("0", "0", "1", 22).is_err());
    }

    /// Found by fuzzing: with a largest zoom over 63, `z` = 64 overflowed the shift that
    /// computes the side; from 32 on, columns over `u32` were cut to their low bits.
    #[test]
    fn zooms_beyond_a_u32_tile_grid_are_refused() {
        for z in ["32", "63", "64", "255"] {
            let e = TileId::parse(z, "0", "0", u8::MAX).unwrap_err();
            assert_eq!(e.field(), "z", "{z}: {e}");
            assert_eq!(e.to_string(), format!("z: {z} is outside 0..=31"));
        }
        assert_eq!(
            TileId::parse("31", "2147483647", "0", u8::MAX),
            Ok(TileId {
                z: 31,
                x: 2_147_483_647,
                y: 0
            })
        );
        assert_eq!(
            TileId::parse("31", "2147483648", "0", 40)
                .unwrap_err()
                .field(),
            "x"
        );
    }

    /// The local series of a tile agrees with the exact projection over the tile and its
    /// buffer, at every zoom that uses it and every latitude Web Mercator covers.
    #[test]
    fn a_tiles_local_projection_matches_the_exact_one() {
        let mut worst: f64 = 0.0;
        for z in [LOCAL_FROM_ZOOM, 10, 13, 16, 20, 22] {
            let side = 1u32 << z;
            for row in 0..=64u32 {
                let y = (u64::from(side - 1) * u64::from(row) / 64) as u32;
                let t = TileId { z, x: side / 3, y };
                let f = Frame::new(t, 4096);
                assert!(f.local.is_some());
                let world = 4096.0 * f64::from(side);
                let top = f64::from(y) * 4096.0;
                for i in 0..=40 {
                    // From above the buffer's top edge to below its bottom edge.
                    let ty = -100.0 + f64::from(i) * (4096.0 + 200.0) / 40.0;
                    let (lon, lat) = unproject([f64::from(t.x) * 4096.0 + 5.0, top + ty], world);
                    let exact = project(lon, lat, world)[1] - top;
                    let got = f.to_tile([lon, lat])[1];
                    worst = worst.max((got - exact).abs());
                }
                // Far away (a long line's other end): exact.
                let far = f.to_tile([0.0, 0.0])[1];
                assert!((far - (project(0.0, 0.0, world)[1] - top)).abs() < 1e-6);
            }
        }
        // Measured: up to 2e-7 units to z12, 2.4e-6 at z16, 1.4e-4 at z22 in the far south,
        // where the exact formula itself loses digits (tan φ + sec φ cancels near -85°).
        assert!(worst < 1e-3, "worst difference {worst} tile units");
    }

    #[test]
    fn projection_round_trips_and_bounds_nest() {
        // Zaporizhzhia's dam.
        let (lon, lat) = (35.0866, 47.8723);
        let t = TileId {
            z: 16,
            x: 39_155,
            y: 22_815,
        };
        let f = Frame::new(t, 4096);
        let p = f.to_tile([lon, lat]);
        let back = f.to_lonlat(p);
        assert!((back[0] - lon).abs() < 1e-9 && (back[1] - lat).abs() < 1e-9);
        let b = t.bounds(4096, 0.0);
        assert!(b[0] < b[2] && b[1] < b[3]);
        let wide = t.bounds(4096, 64.0);
        assert!(wide[0] < b[0] && wide[3] > b[3]);
        // A point is covered by the tile it projects into.
        let world = 4096.0 * 65536.0;
        let [x, y] = project(lon, lat, world);
        let (cx, cy) = cover([lon, lat, lon, lat], 16, 4096, 0.0);
        assert_eq!(cx, [(x / 4096.0) as u32; 2]);
        assert_eq!(cy, [(y / 4096.0) as u32; 2]);
        // The whole world at zoom 0 is one tile.
        assert_eq!(
            cover([-180.0, -90.0, 180.0, 90.0], 0, 4096, 64.0),
            ([0, 0], [0, 0])
        );
    }
}
