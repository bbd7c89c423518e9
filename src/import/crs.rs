//! Coordinate reference systems: source coordinates → WGS84 longitude/latitude.
//!
//! Only a fixed table of CRSs is supported: the ones actually met in Ukrainian
//! municipal data (WGS84, Web Mercator, UTM 34N–38N, UCS-2000 and the older
//! Pulkovo 1942 Gauss–Krüger / transverse Mercator grids). Each one is turned
//! into a PROJ-style definition string by [`definition`] / [`proj_string`].
//!
//! Source of the definitions: the EPSG registry parameters (as distributed in
//! the EPSG dataset / PROJ database and shown on epsg.io):
//! * projection parameters (central meridian, scale factor 1 or 0.9996, false
//!   easting incl. the Gauss–Krüger zone-number prefix) of every listed code;
//! * UCS-2000 → WGS 84: EPSG transformation 5840 "UCS-2000 to WGS 84 (2)",
//!   geocentric translations dX=24 m, dY=−121 m, dZ=−76 m (≈1 m accuracy; it
//!   replaces tfm 5590, the old 7-parameter set derived via Pulkovo 1942);
//! * Pulkovo 1942 → WGS 84: EPSG transformation 15865 "Pulkovo 1942 to WGS 84
//!   (16)" (the one whose area of use includes Ukraine): dX=25, dY=−141,
//!   dZ=−78.5 m, rY=−0.35″, rZ=−0.736″ in the coordinate-frame convention,
//!   i.e. `+towgs84=25,-141,-78.5,0,0.35,0.736,0` in PROJ's position-vector
//!   convention.
//!
//! Two interchangeable backends, chosen at compile time:
//! * default: the pure-Rust `proj4rs` crate;
//! * cargo feature `proj`: the PROJ C library through the `proj` crate, fed the
//!   very same definition strings, so that both backends apply the same datum
//!   shift (PROJ would otherwise pick its own transformation from its database,
//!   which for Pulkovo 1942 in Ukraine is not the one above).
//!
//! Axis order of the interface is always x = easting (or longitude),
//! y = northing (or latitude), whatever the EPSG axis order of the CRS is
//! (the Gauss–Krüger CRSs are registered as northing, easting).

use std::fmt;
use std::sync::Arc;

/// A source CRS that can be turned into WGS84 lon/lat.
///
/// Cheap to clone (the transformer is shared); `Send + Sync`.
#[derive(Clone)]
pub struct Crs {
    epsg: u32,
    code: String,
    name: &'static str,
    def: Def,
    /// `None` for WGS84 itself (identity).
    transformer: Option<Arc<backend::Transformer>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CrsError {
    #[error("unknown or unsupported CRS {0:?}")]
    Unknown(String),
    #[error("cannot transform ({x}, {y}) from {crs}: {reason}")]
    Transform {
        crs: String,
        x: f64,
        y: f64,
        reason: String,
    },
}

/// Every supported EPSG code with its registry name.
const SUPPORTED: &[(u32, &str)] = &[
    (4326, "WGS 84"),
    (3857, "WGS 84 / Pseudo-Mercator"),
    (32634, "WGS 84 / UTM zone 34N"),
    (32635, "WGS 84 / UTM zone 35N"),
    (32636, "WGS 84 / UTM zone 36N"),
    (32637, "WGS 84 / UTM zone 37N"),
    (32638, "WGS 84 / UTM zone 38N"),
    (5561, "UCS-2000"),
    (5562, "UCS-2000 / Gauss-Kruger zone 4"),
    (5563, "UCS-2000 / Gauss-Kruger zone 5"),
    (5564, "UCS-2000 / Gauss-Kruger zone 6"),
    (5565, "UCS-2000 / Gauss-Kruger zone 7"),
    (5566, "UCS-2000 / Gauss-Kruger CM 21E"),
    (5567, "UCS-2000 / Gauss-Kruger CM 27E"),
    (5568, "UCS-2000 / Gauss-Kruger CM 33E"),
    (5569, "UCS-2000 / Gauss-Kruger CM 39E"),
    (5570, "UCS-2000 / 3-degree Gauss-Kruger zone 7"),
    (5571, "UCS-2000 / 3-degree Gauss-Kruger zone 8"),
    (5572, "UCS-2000 / 3-degree Gauss-Kruger zone 9"),
    (5573, "UCS-2000 / 3-degree Gauss-Kruger zone 10"),
    (5574, "UCS-2000 / 3-degree Gauss-Kruger zone 11"),
    (5575, "UCS-2000 / 3-degree Gauss-Kruger zone 12"),
    (5576, "UCS-2000 / 3-degree Gauss-Kruger zone 13"),
    (5577, "UCS-2000 / 3-degree Gauss-Kruger CM 21E"),
    (5578, "UCS-2000 / 3-degree Gauss-Kruger CM 24E"),
    (5579, "UCS-2000 / 3-degree Gauss-Kruger CM 27E"),
    (5580, "UCS-2000 / 3-degree Gauss-Kruger CM 30E"),
    (5581, "UCS-2000 / 3-degree Gauss-Kruger CM 33E"),
    (5582, "UCS-2000 / 3-degree Gauss-Kruger CM 36E"),
    (5583, "UCS-2000 / 3-degree Gauss-Kruger CM 39E"),
    (6381, "UCS-2000 / Ukraine TM zone 7"),
    (6382, "UCS-2000 / Ukraine TM zone 8"),
    (6383, "UCS-2000 / Ukraine TM zone 9"),
    (6384, "UCS-2000 / Ukraine TM zone 10"),
    (6385, "UCS-2000 / Ukraine TM zone 11"),
    (6386, "UCS-2000 / Ukraine TM zone 12"),
    (6387, "UCS-2000 / Ukraine TM zone 13"),
    (4284, "Pulkovo 1942"),
    (28404, "Pulkovo 1942 / Gauss-Kruger zone 4"),
    (28405, "Pulkovo 1942 / Gauss-Kruger zone 5"),
    (28406, "Pulkovo 1942 / Gauss-Kruger zone 6"),
    (28407, "Pulkovo 1942 / Gauss-Kruger zone 7"),
    (2494, "Pulkovo 1942 / Gauss-Kruger CM 21E"),
    (2495, "Pulkovo 1942 / Gauss-Kruger CM 27E"),
    (2496, "Pulkovo 1942 / Gauss-Kruger CM 33E"),
    (2497, "Pulkovo 1942 / Gauss-Kruger CM 39E"),
    (2523, "Pulkovo 1942 / 3-degree Gauss-Kruger zone 7"),
    (2524, "Pulkovo 1942 / 3-degree Gauss-Kruger zone 8"),
    (2525, "Pulkovo 1942 / 3-degree Gauss-Kruger zone 9"),
    (2526, "Pulkovo 1942 / 3-degree Gauss-Kruger zone 10"),
    (2527, "Pulkovo 1942 / 3-degree Gauss-Kruger zone 11"),
    (2528, "Pulkovo 1942 / 3-degree Gauss-Kruger zone 12"),
    (2529, "Pulkovo 1942 / 3-degree Gauss-Kruger zone 13"),
    (2582, "Pulkovo 1942 / 3-degree Gauss-Kruger CM 21E"),
    (2583, "Pulkovo 1942 / 3-degree Gauss-Kruger CM 24E"),
    (2584, "Pulkovo 1942 / 3-degree Gauss-Kruger CM 27E"),
    (2585, "Pulkovo 1942 / 3-degree Gauss-Kruger CM 30E"),
    (2586, "Pulkovo 1942 / 3-degree Gauss-Kruger CM 33E"),
    (2587, "Pulkovo 1942 / 3-degree Gauss-Kruger CM 36E"),
    (2588, "Pulkovo 1942 / 3-degree Gauss-Kruger CM 39E"),
];

/// All supported CRSs as (EPSG code, registry name).
pub fn supported() -> &'static [(u32, &'static str)] {
    SUPPORTED
}

/// Half the extent of the Web Mercator square: π · 6378137 m.
const WEB_MERCATOR_MAX: f64 = 20_037_508.342_789_244;

/// Longest accepted distance (degrees of longitude) of a transformed point
/// from the central meridian of a transverse Mercator CRS. Real data stays
/// within a few degrees; even all of Ukraine (22°–40.2° E) in one UTM zone
/// (36N, CM 33°) stays within 11°. A Gauss–Krüger easting with the wrong zone
/// prefix (off by 1 000 000 m) lands 12.5°–14.6° away at Ukraine's latitudes
/// (44°–52° N) and is rejected.
const MAX_DISTANCE_FROM_CM: f64 = 12.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Datum {
    Wgs84,
    /// UCS-2000 (Ukraine 2000), Krassowsky 1940 ellipsoid.
    Ucs2000,
    /// Pulkovo 1942 (S-42), Krassowsky 1940 ellipsoid.
    Pulkovo1942,
}

impl Datum {
    /// Ellipsoid and shift to WGS84 in PROJ syntax (see the module docs).
    fn proj_params(self) -> &'static str {
        match self {
            Datum::Wgs84 => "+datum=WGS84",
            Datum::Ucs2000 => "+ellps=krass +towgs84=24,-121,-76,0,0,0,0",
            Datum::Pulkovo1942 => "+ellps=krass +towgs84=25,-141,-78.5,0,0.35,0.736,0",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Def {
    /// WGS84 longitude/latitude: identity.
    Wgs84,
    /// Spherical "Pseudo-Mercator" on WGS84 lon/lat.
    WebMercator,
    /// Longitude/latitude in degrees on another datum.
    Geographic(Datum),
    /// Transverse Mercator, latitude of origin 0, false northing 0.
    Tm {
        datum: Datum,
        lon_0: f64,
        k: f64,
        x_0: f64,
    },
}

/// Gauss–Krüger / TM zone on a Krassowsky datum, scale 1.
fn gk(datum: Datum, lon_0: u32, x_0: u32) -> Def {
    Def::Tm {
        datum,
        lon_0: f64::from(lon_0),
        k: 1.0,
        x_0: f64::from(x_0),
    }
}

/// The definition of a supported EPSG code (parameters from the EPSG registry).
fn definition(code: u32) -> Option<Def> {
    use Datum::{Pulkovo1942 as P42, Ucs2000 as Ucs};
    let def = match code {
        4326 => Def::Wgs84,
        3857 => Def::WebMercator,
        // UTM zone n north: CM 6n − 183, k 0.9996, FE 500 000.
        32634..=32638 => Def::Tm {
            datum: Datum::Wgs84,
            lon_0: f64::from(6 * (code - 32600)) - 183.0,
            k: 0.9996,
            x_0: 500_000.0,
        },
        5561 => Def::Geographic(Ucs),
        4284 => Def::Geographic(P42),
        // 6-degree zones 4..7 (CM 21°..39°), FE = zone·10⁶ + 500 000.
        5562..=5565 => gk(
            Ucs,
            21 + 6 * (code - 5562),
            (4 + code - 5562) * 1_000_000 + 500_000,
        ),
        28404..=28407 => gk(
            P42,
            21 + 6 * (code - 28404),
            (code - 28400) * 1_000_000 + 500_000,
        ),
        // 6-degree zones without the zone prefix (CM 21°, 27°, 33°, 39°).
        5566..=5569 => gk(Ucs, 21 + 6 * (code - 5566), 500_000),
        2494..=2497 => gk(P42, 21 + 6 * (code - 2494), 500_000),
        // 3-degree zones 7..13 (CM 21°..39°), FE = zone·10⁶ + 500 000.
        5570..=5576 => gk(
            Ucs,
            21 + 3 * (code - 5570),
            (7 + code - 5570) * 1_000_000 + 500_000,
        ),
        2523..=2529 => gk(
            P42,
            21 + 3 * (code - 2523),
            (7 + code - 2523) * 1_000_000 + 500_000,
        ),
        // 3-degree zones without the zone prefix (CM 21°..39°).
        5577..=5583 => gk(Ucs, 21 + 3 * (code - 5577), 500_000),
        2582..=2588 => gk(P42, 21 + 3 * (code - 2582), 500_000),
        // UCS-2000 / Ukraine TM zones 7..13 (CM 21°..39°), FE 300 000.
        6381..=6387 => gk(Ucs, 21 + 3 * (code - 6381), 300_000),
        _ => return None,
    };
    Some(def)
}

/// PROJ-syntax CRS definition (understood by both proj4rs and PROJ).
fn proj_string(def: Def) -> String {
    match def {
        Def::Wgs84 => WGS84_LONLAT.to_string(),
        Def::WebMercator => concat!(
            "+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1",
            " +units=m +nadgrids=@null +no_defs +type=crs"
        )
        .to_string(),
        Def::Geographic(datum) => {
            format!("+proj=longlat {} +no_defs +type=crs", datum.proj_params())
        }
        Def::Tm {
            datum,
            lon_0,
            k,
            x_0,
        } => format!(
            "+proj=tmerc +lat_0=0 +lon_0={lon_0} +k={k} +x_0={x_0} +y_0=0 {} +units=m +no_defs +type=crs",
            datum.proj_params()
        ),
    }
}

/// The target of every transformation.
const WGS84_LONLAT: &str = "+proj=longlat +datum=WGS84 +no_defs +type=crs";

/// Extracts the EPSG number from the accepted spellings of a CRS identifier.
fn parse_code(input: &str) -> Option<u32> {
    let s = input.trim().to_ascii_uppercase();
    // OGC CRS84 = WGS84 with longitude first, i.e. exactly our EPSG:4326 usage.
    let crs84 = s == "CRS84"
        || s == "OGC:CRS84"
        || s == "WGS84"
        || s == "WGS 84"
        || (s.starts_with("URN:OGC:DEF:CRS:OGC:") && s.ends_with(":CRS84"))
        || (s.contains("://WWW.OPENGIS.NET/DEF/CRS/OGC/") && s.ends_with("/CRS84"));
    if crs84 {
        return Some(4326);
    }
    let number = if let Some(rest) = s.strip_prefix("EPSG:") {
        rest
    } else if let Some(rest) = s.strip_prefix("URN:OGC:DEF:CRS:EPSG:") {
        // "urn:ogc:def:crs:EPSG::32636" or with a version: "...:EPSG:9.8:32636".
        let (version, number) = rest.rsplit_once(':')?;
        if !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return None;
        }
        number
    } else if let Some(pos) = s.find("://WWW.OPENGIS.NET/DEF/CRS/EPSG/") {
        // "http://www.opengis.net/def/crs/EPSG/0/32636"
        let rest = &s[pos + "://WWW.OPENGIS.NET/DEF/CRS/EPSG/".len()..];
        let (_version, number) = rest.rsplit_once('/')?;
        number
    } else {
        &s
    };
    if number.is_empty() || number.len() > 6 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

impl Crs {
    /// Parses a CRS identifier and builds its transformer to WGS84.
    ///
    /// Accepts `EPSG:32636`, `epsg:32636`, `32636`,
    /// `urn:ogc:def:crs:EPSG::32636` (optionally with a version),
    /// `http://www.opengis.net/def/crs/EPSG/0/32636`, and `CRS84` /
    /// `OGC:CRS84` / `urn:ogc:def:crs:OGC:1.3:CRS84` (→ EPSG:4326).
    pub fn from_code(code: &str) -> Result<Crs, CrsError> {
        let unknown = || CrsError::Unknown(code.to_string());
        let epsg = parse_code(code).ok_or_else(unknown)?;
        let def = definition(epsg).ok_or_else(unknown)?;
        let name = SUPPORTED
            .iter()
            .find(|(c, _)| *c == epsg)
            .map(|(_, n)| *n)
            .ok_or_else(unknown)?;
        let transformer = match def {
            Def::Wgs84 => None,
            _ => {
                let t = backend::Transformer::new(&proj_string(def), def).map_err(|reason| {
                    // A table entry the backend cannot build is a bug, but report it
                    // as "unsupported" rather than panicking in an importer.
                    CrsError::Unknown(format!("{code} ({reason})"))
                })?;
                Some(Arc::new(t))
            }
        };
        Ok(Crs {
            epsg,
            code: format!("EPSG:{epsg}"),
            name,
            def,
            transformer,
        })
    }

    /// WGS84 (EPSG:4326) itself.
    pub fn wgs84() -> Crs {
        Crs {
            epsg: 4326,
            code: "EPSG:4326".to_string(),
            name: "WGS 84",
            def: Def::Wgs84,
            transformer: None,
        }
    }

    /// Canonical identifier, `EPSG:nnnn`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The EPSG number.
    pub fn epsg(&self) -> u32 {
        self.epsg
    }

    /// The EPSG registry name, e.g. "UCS-2000 / Gauss-Kruger zone 6".
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// True when coordinates are already WGS84 lon/lat (no transformation).
    pub fn is_wgs84(&self) -> bool {
        self.def == Def::Wgs84
    }

    /// Transforms x = easting (longitude), y = northing (latitude) into
    /// `[lon, lat]` WGS84 degrees.
    pub fn to_wgs84(&self, x: f64, y: f64) -> Result<[f64; 2], CrsError> {
        let fail = |reason: String| CrsError::Transform {
            crs: self.code.clone(),
            x,
            y,
            reason,
        };
        if !x.is_finite() || !y.is_finite() {
            return Err(fail("coordinates must be finite numbers".into()));
        }
        match self.def {
            Def::Wgs84 | Def::Geographic(_) => check_lon_lat(x, y, "input").map_err(&fail)?,
            Def::WebMercator => {
                // A little slack for rounding at the edge of the square.
                let limit = WEB_MERCATOR_MAX + 1.0;
                if x.abs() > limit || y.abs() > limit {
                    return Err(fail(format!(
                        "outside the Web Mercator square (|x|, |y| ≤ {WEB_MERCATOR_MAX:.2} m)"
                    )));
                }
            }
            Def::Tm { .. } => {}
        }
        let (lon, lat) = match &self.transformer {
            None => (x, y),
            Some(t) => t.to_wgs84(x, y).map_err(&fail)?,
        };
        if !lon.is_finite() || !lat.is_finite() {
            return Err(fail(format!(
                "transformation produced a non-finite result ({lon}, {lat})"
            )));
        }
        check_lon_lat(lon, lat, "result").map_err(&fail)?;
        if let Def::Tm { lon_0, .. } = self.def {
            let off = (lon - lon_0 + 540.0).rem_euclid(360.0) - 180.0;
            if off.abs() > MAX_DISTANCE_FROM_CM {
                return Err(fail(format!(
                    "result longitude {lon:.6}° is {:.1}° from the central meridian {lon_0}° \
                     (more than {MAX_DISTANCE_FROM_CM}°): wrong CRS or zone?",
                    off.abs()
                )));
            }
        }
        Ok([lon, lat])
    }
}

fn check_lon_lat(lon: f64, lat: f64, what: &str) -> Result<(), String> {
    if !(-180.0..=180.0).contains(&lon) {
        return Err(format!("{what} longitude {lon} is outside -180..180"));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("{what} latitude {lat} is outside -90..90"));
    }
    Ok(())
}

impl fmt::Debug for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crs")
            .field("code", &self.code)
            .field("name", &self.name)
            .field("definition", &proj_string(self.def))
            .finish()
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code, self.name)
    }
}

/// Pure-Rust backend: proj4rs (works in radians for geographic CRSs).
#[cfg(not(feature = "proj"))]
mod backend {
    use super::{Def, WGS84_LONLAT};
    use proj4rs::proj::Proj;

    pub(super) struct Transformer {
        src: Proj,
        dst: Proj,
        src_geographic: bool,
    }

    impl Transformer {
        pub(super) fn new(definition: &str, def: Def) -> Result<Self, String> {
            let src = Proj::from_proj_string(definition).map_err(|e| e.to_string())?;
            let dst = Proj::from_proj_string(WGS84_LONLAT).map_err(|e| e.to_string())?;
            Ok(Transformer {
                src,
                dst,
                src_geographic: matches!(def, Def::Geographic(_)),
            })
        }

        /// `(x, y)` in source units (metres, or degrees for geographic
        /// sources) → WGS84 `(lon, lat)` degrees.
        pub(super) fn to_wgs84(&self, x: f64, y: f64) -> Result<(f64, f64), String> {
            let mut p = if self.src_geographic {
                (x.to_radians(), y.to_radians(), 0.0)
            } else {
                (x, y, 0.0)
            };
            proj4rs::transform::transform(&self.src, &self.dst, &mut p)
                .map_err(|e| e.to_string())?;
            Ok((p.0.to_degrees(), p.1.to_degrees()))
        }
    }
}

/// PROJ backend (feature `proj`): the C library through the `proj` crate.
#[cfg(feature = "proj")]
mod backend {
    use super::{Def, WGS84_LONLAT};
    use std::sync::Mutex;

    /// A `proj::Proj` that may move between threads.
    struct SendProj(proj::Proj);

    // SAFETY: `Proj::new_known_crs` gives every `Proj` its own PJ_CONTEXT, and
    // PROJ allows a PJ with its context to be used from any thread as long as
    // it is never used by two threads at once. The only access is through the
    // `Mutex` in `Transformer`, which serialises it.
    unsafe impl Send for SendProj {}

    pub(super) struct Transformer {
        inner: Mutex<SendProj>,
    }

    impl Transformer {
        pub(super) fn new(definition: &str, _def: Def) -> Result<Self, String> {
            // Both ends as PROJ strings: the axis order is longitude/easting
            // first, and `new_known_crs` normalises for visualisation anyway.
            // Geographic input and output are in degrees.
            let p = proj::Proj::new_known_crs(definition, WGS84_LONLAT, None)
                .map_err(|e| e.to_string())?;
            Ok(Transformer {
                inner: Mutex::new(SendProj(p)),
            })
        }

        pub(super) fn to_wgs84(&self, x: f64, y: f64) -> Result<(f64, f64), String> {
            let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            guard.0.convert((x, y)).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Degrees; pure projection math (no datum change).
    const TOL_MATH: f64 = 1e-6;
    /// Degrees (≈1 m); includes a datum shift.
    const TOL_DATUM: f64 = 1e-5;

    fn check(code: &str, x: f64, y: f64, lon: f64, lat: f64, tol: f64) {
        let crs = Crs::from_code(code).unwrap();
        let [got_lon, got_lat] = crs.to_wgs84(x, y).unwrap();
        assert!(
            (got_lon - lon).abs() <= tol && (got_lat - lat).abs() <= tol,
            "{code} ({x}, {y}): got ({got_lon:.10}, {got_lat:.10}), expected ({lon:.10}, {lat:.10}), \
             diff ({:.2e}, {:.2e})",
            got_lon - lon,
            got_lat - lat
        );
    }

    // Expected values below were computed with PROJ 9.5.1 (via pyproj 3.7.2,
    // `Transformer.from_crs("EPSG:nnnn", "EPSG:4326", always_xy=True)`), from
    // easting/northing obtained by projecting the landmark and rounding to cm.
    // For the UCS-2000 CRSs PROJ chose EPSG tfm 5840, the same shift as ours.

    #[test]
    fn utm_36n_kyiv_maidan() {
        check(
            "EPSG:32636",
            324210.60,
            5591606.66,
            30.5237999618,
            50.4500999941,
            TOL_MATH,
        );
    }

    #[test]
    fn utm_36n_dniprohes() {
        check(
            "EPSG:32636",
            655814.77,
            5303919.66,
            35.0835999436,
            47.8697000380,
            TOL_MATH,
        );
    }

    #[test]
    fn utm_37n() {
        // DniproHES, Zaporizhzhia (west of zone 37's central meridian).
        check(
            "EPSG:32637",
            207141.94,
            5309246.51,
            35.0835999827,
            47.8696999944,
            TOL_MATH,
        );
        // Kharkiv, Freedom Square.
        check(
            "32637",
            301497.46,
            5541584.20,
            36.2304000603,
            49.9935000334,
            TOL_MATH,
        );
        // Luhansk.
        check(
            "EPSG:32637",
            522704.63,
            5380146.87,
            39.3078000306,
            48.5740000037,
            TOL_MATH,
        );
    }

    #[test]
    fn utm_35n_and_34n() {
        // Lviv.
        check(
            "EPSG:32635",
            286582.62,
            5525279.58,
            24.0315999445,
            49.8418999822,
            TOL_MATH,
        );
        // Uzhhorod.
        check(
            "EPSG:32634",
            594912.29,
            5386103.79,
            22.2878999971,
            48.6207999924,
            TOL_MATH,
        );
    }

    #[test]
    fn web_mercator_kyiv() {
        check(
            "EPSG:3857",
            3397893.87,
            6524593.22,
            30.5237999724,
            50.4500999912,
            TOL_MATH,
        );
        // Corner of the square (PROJ: -179.9999999749, 85.0511287776).
        check(
            "EPSG:3857",
            -20037508.34,
            20037508.34,
            -179.9999999749,
            85.0511287776,
            TOL_MATH,
        );
    }

    #[test]
    fn ucs2000_gauss_kruger_zone_6_zaporizhzhia() {
        // DniproHES.
        check(
            "EPSG:5564",
            6655992.22,
            5306149.81,
            35.0835999700,
            47.8697000144,
            TOL_DATUM,
        );
        // The same grid without the zone prefix.
        check(
            "EPSG:5568",
            655992.22,
            5306149.81,
            35.0835999700,
            47.8697000144,
            TOL_DATUM,
        );
        // Kryvyi Rih.
        check(
            "EPSG:5564",
            6529403.38,
            5308658.20,
            33.3918000094,
            47.9105000440,
            TOL_DATUM,
        );
        // Kyiv Maidan, 2.5° west of the zone's central meridian.
        check(
            "EPSG:5564",
            6324254.21,
            5593952.93,
            30.5238000243,
            50.4500999771,
            TOL_DATUM,
        );
    }

    #[test]
    fn ucs2000_gauss_kruger_zone_7_luhansk() {
        check(
            "EPSG:5565",
            7522822.90,
            5382399.00,
            39.3077999582,
            48.5740000168,
            TOL_DATUM,
        );
    }

    #[test]
    fn ucs2000_3_degree_gauss_kruger() {
        // Kyiv Maidan, zone 10 (CM 30°).
        check(
            "EPSG:5573",
            10537319.30,
            5591157.71,
            30.5237999780,
            50.4500999970,
            TOL_DATUM,
        );
        // DniproHES, zone 12 (CM 36°).
        check(
            "EPSG:5575",
            12431553.39,
            5304449.61,
            35.0836000355,
            47.8696999835,
            TOL_DATUM,
        );
    }

    #[test]
    fn ucs2000_ukraine_tm_zones() {
        // Kyiv Maidan, TM zone 10 (CM 30°).
        check(
            "EPSG:6384",
            337319.30,
            5591157.71,
            30.5237999780,
            50.4500999970,
            TOL_DATUM,
        );
        // Kryvyi Rih, TM zone 11 (CM 33°).
        check(
            "EPSG:6385",
            329403.38,
            5308658.20,
            33.3918000094,
            47.9105000440,
            TOL_DATUM,
        );
        // DniproHES and Kharkiv, TM zone 12 (CM 36°).
        check(
            "EPSG:6386",
            231553.39,
            5304449.61,
            35.0836000355,
            47.8696999835,
            TOL_DATUM,
        );
        check(
            "EPSG:6386",
            316632.97,
            5540253.50,
            36.2304000592,
            49.9935000119,
            TOL_DATUM,
        );
        // Lviv, TM zone 8 (CM 24°).
        check(
            "EPSG:6382",
            302393.32,
            5523385.06,
            24.0316000073,
            49.8418999951,
            TOL_DATUM,
        );
    }

    #[test]
    fn ucs2000_geographic() {
        check(
            "EPSG:5561",
            35.0836,
            47.8697,
            35.0820921090,
            47.8695985614,
            TOL_DATUM,
        );
    }

    // Pulkovo 1942: PROJ picks a different default transformation (one for the
    // Russian Federation), so these references were computed with PROJ from our
    // explicit definition (`+towgs84=25,-141,-78.5,0,0.35,0.736,0`, EPSG tfm 15865).

    #[test]
    fn pulkovo_1942_gauss_kruger() {
        check(
            "EPSG:28406",
            6655996.40,
            5306152.54,
            35.0835734256,
            47.8697001670,
            TOL_DATUM,
        );
        check(
            "EPSG:2528",
            12431557.67,
            5304452.18,
            35.0835734661,
            47.8697001806,
            TOL_DATUM,
        );
        check(
            "EPSG:4284",
            35.0836,
            47.8697,
            35.0820087446,
            47.8695751862,
            TOL_DATUM,
        );
    }

    #[test]
    fn wgs84_is_identity() {
        for code in [
            "EPSG:4326",
            "CRS84",
            "OGC:CRS84",
            "urn:ogc:def:crs:OGC:1.3:CRS84",
        ] {
            let crs = Crs::from_code(code).unwrap();
            assert!(crs.is_wgs84(), "{code}");
            assert_eq!(crs.code(), "EPSG:4326");
            assert_eq!(crs.to_wgs84(35.0836, 47.8697).unwrap(), [35.0836, 47.8697]);
        }
        assert!(Crs::wgs84().is_wgs84());
        assert!(!Crs::from_code("EPSG:32636").unwrap().is_wgs84());
        assert!(!Crs::from_code("EPSG:5561").unwrap().is_wgs84());
    }

    #[test]
    fn code_spellings() {
        for code in [
            "EPSG:32636",
            "epsg:32636",
            "32636",
            " EPSG:32636 ",
            "urn:ogc:def:crs:EPSG::32636",
            "urn:ogc:def:crs:EPSG:9.8.15:32636",
            "http://www.opengis.net/def/crs/EPSG/0/32636",
        ] {
            let crs = Crs::from_code(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(crs.code(), "EPSG:32636", "{code}");
            assert_eq!(crs.epsg(), 32636);
            assert_eq!(crs.name(), "WGS 84 / UTM zone 36N");
        }
    }

    #[test]
    fn unknown_codes() {
        for code in [
            "EPSG:abc",
            "EPSG:",
            "",
            "EPSG:999999",
            "EPSG:2180", // a real EPSG code, but not supported here
            "EPSG:-4326",
            "EPSG:32636.0",
            "urn:ogc:def:crs:EPSG:x:32636",
            "ESRI:102100",
            "EPSG:4326000000",
        ] {
            match Crs::from_code(code) {
                Err(CrsError::Unknown(s)) => assert_eq!(s, code),
                other => panic!("{code:?}: expected Unknown, got {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_non_finite_input() {
        for code in [
            "EPSG:4326",
            "EPSG:32636",
            "EPSG:5564",
            "EPSG:3857",
            "EPSG:5561",
        ] {
            let crs = Crs::from_code(code).unwrap();
            for (x, y) in [
                (f64::NAN, 5_300_000.0),
                (500_000.0, f64::NAN),
                (f64::INFINITY, 0.0),
                (0.0, f64::NEG_INFINITY),
            ] {
                match crs.to_wgs84(x, y) {
                    Err(CrsError::Transform { crs: c, reason, .. }) => {
                        assert_eq!(c, code);
                        assert!(reason.contains("finite"), "{reason}");
                    }
                    other => panic!("{code} ({x}, {y}): expected Transform error, got {other:?}"),
                }
            }
        }
    }

    #[test]
    fn rejects_out_of_range() {
        let wgs = Crs::from_code("EPSG:4326").unwrap();
        assert!(wgs.to_wgs84(35.0, 91.0).is_err());
        assert!(wgs.to_wgs84(181.0, 45.0).is_err());
        assert!(wgs.to_wgs84(180.0, -90.0).is_ok());
        let ucs = Crs::from_code("EPSG:5561").unwrap();
        assert!(ucs.to_wgs84(35.0, -95.0).is_err());
        let merc = Crs::from_code("EPSG:3857").unwrap();
        let err = merc.to_wgs84(30_037_508.34, 0.0).unwrap_err();
        assert!(err.to_string().contains("Web Mercator"), "{err}");
        // Swapped axes: northing given as easting.
        let utm = Crs::from_code("EPSG:32636").unwrap();
        assert!(utm.to_wgs84(5_303_919.66, 655_814.77).is_err());
    }

    #[test]
    fn rejects_missing_zone_prefix() {
        // Unprefixed CM-33 easting given to the prefixed zone-6 CRS.
        let crs = Crs::from_code("EPSG:5564").unwrap();
        let err = crs.to_wgs84(655_992.22, 5_306_149.81).unwrap_err();
        assert!(matches!(err, CrsError::Transform { .. }), "{err}");
        // Zone-7 prefix given to zone 6.
        assert!(crs.to_wgs84(7_522_822.90, 5_382_399.00).is_err());
    }

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for &(code, name) in supported() {
            assert!(seen.insert(code), "duplicate {code}");
            assert!(
                definition(code).is_some(),
                "{code} {name} has no definition"
            );
        }
        for code in 1..=100_000 {
            if definition(code).is_some() {
                assert!(seen.contains(&code), "EPSG:{code} defined but not listed");
            }
        }
    }

    #[test]
    fn every_supported_crs_builds_and_hits_its_central_meridian() {
        for &(code, name) in supported() {
            let crs = Crs::from_code(&format!("EPSG:{code}")).unwrap();
            assert_eq!(crs.name(), name);
            // The central meridian at about 48°N (Ukraine), or that point itself.
            let (x, y, lon) = match definition(code).unwrap() {
                Def::Wgs84 | Def::Geographic(_) => (33.0, 48.0, 33.0),
                Def::WebMercator => (3_673_543.2, 6_106_854.8, 33.0),
                Def::Tm { lon_0, k, x_0, .. } => (x_0, 5_318_000.0 * k, lon_0),
            };
            let [got_lon, got_lat] = crs.to_wgs84(x, y).unwrap();
            // Datum shifts in Ukraine are ≈0.002° of longitude.
            assert!(
                (got_lon - lon).abs() < 0.01,
                "{code}: lon {got_lon}, expected ≈{lon}"
            );
            assert!(
                (got_lat - 48.0).abs() < 0.01,
                "{code}: lat {got_lat}, expected ≈48"
            );
        }
    }

    #[test]
    fn crs_is_shareable() {
        fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync_clone::<Crs>();
        let crs = Crs::from_code("EPSG:5564").unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let crs = crs.clone();
                std::thread::spawn(move || crs.to_wgs84(6655992.22, 5306149.81).unwrap())
            })
            .collect();
        for h in handles {
            let [lon, lat] = h.join().unwrap();
            assert!((lon - 35.0835999700).abs() < TOL_DATUM);
            assert!((lat - 47.8697000144).abs() < TOL_DATUM);
        }
    }
}
