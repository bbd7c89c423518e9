//! Places in words: distances and compass bearings on the sphere, and the nearest address.

use geo::{Bearing, Distance, Haversine, Point};

use crate::access::Visible;
use crate::model::{LayerId, Object};
use crate::twin::Twin;

/// Metres between two `[lon, lat]` positions (great circle).
pub fn distance_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    Haversine.distance(Point::new(a[0], a[1]), Point::new(b[0], b[1]))
}

/// Metres as answered: to a tenth.
pub fn round_m(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Bearing in degrees (0 = north, clockwise) from `a` to `b`.
pub fn bearing_deg(a: [f64; 2], b: [f64; 2]) -> f64 {
    Haversine
        .bearing(Point::new(a[0], a[1]), Point::new(b[0], b[1]))
        .rem_euclid(360.0)
}

/// One of the eight compass points, in Ukrainian and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compass {
    pub uk: &'static str,
    pub en: &'static str,
}

const COMPASS: [Compass; 8] = [
    Compass {
        uk: "північ",
        en: "north",
    },
    Compass {
        uk: "північний схід",
        en: "north-east",
    },
    Compass {
        uk: "схід",
        en: "east",
    },
    Compass {
        uk: "південний схід",
        en: "south-east",
    },
    Compass {
        uk: "південь",
        en: "south",
    },
    Compass {
        uk: "південний захід",
        en: "south-west",
    },
    Compass {
        uk: "захід",
        en: "west",
    },
    Compass {
        uk: "північний захід",
        en: "north-west",
    },
];

/// The compass point of a bearing.
pub fn compass(bearing: f64) -> Compass {
    let i = ((bearing.rem_euclid(360.0) + 22.5) / 45.0) as usize % 8;
    COMPASS[i]
}

/// An address as imported: street and house number, where it is, how far.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Address {
    /// `street house`, e.g. `Mannerheimintie 5`.
    pub text: String,
    pub lon: f64,
    pub lat: f64,
    pub distance_m: f64,
}

/// The text of an address object: its street (or place) and house number.
pub fn address_text(o: &Object) -> Option<String> {
    let get = |k: &str| o.attributes.get(k).map(|v| v.as_text());
    let house = get("addr:housenumber")?;
    match get("addr:street").or_else(|| get("addr:place")) {
        Some(street) => Some(format!("{street} {house}")),
        None => Some(house),
    }
}

/// Candidates of a point layer near `at`, nearest first in metres, while `keep` says more are
/// wanted: walks the R-tree in degree order and stops once no farther entry can be nearer in
/// metres than the worst kept one.
pub fn nearest_in_layer(
    twin: &Twin,
    layer: LayerId,
    at: [f64; 2],
    k: usize,
    max_m: f64,
    visible: &Visible,
) -> Vec<(f64, u64)> {
    let mut best: Vec<(f64, u64)> = Vec::with_capacity(k + 1);
    // Hidden objects are skipped for a viewer who may not see them (looked at only in a
    // layer that has any).
    let check = !visible.hidden && twin.hidden_count(layer) > 0;
    // Metres per degree, at least, anywhere within `d` degrees of `at`.
    let floor = |d: f64| 111_195.0 * (at[1].abs() + d).min(89.0).to_radians().cos();
    for (id, p) in twin.nearest_points(layer, at) {
        let d_deg = ((p[0] - at[0]).powi(2) + (p[1] - at[1]).powi(2)).sqrt();
        let lower = d_deg * floor(d_deg);
        let worst = if best.len() >= k {
            best[k - 1].0
        } else {
            max_m
        };
        if lower > worst.min(max_m) {
            break;
        }
        if check && !twin.shows(visible, id) {
            continue;
        }
        let m = distance_m(at, p);
        if m <= max_m {
            let pos = best.partition_point(|(d, i)| (*d, *i) < (m, id));
            best.insert(pos, (m, id));
            best.truncate(k);
        }
    }
    best
}

/// The nearest imported address to `at` (layer `addresses`), if any is within `max_m` and
/// the addresses are among the `visible` layers.
pub fn nearest_address(
    twin: &Twin,
    at: [f64; 2],
    max_m: f64,
    visible: &Visible,
) -> Option<Address> {
    let layer = twin
        .layers()
        .by_name("addresses")
        .filter(|l| visible.has_layer(*l))?;
    // A few candidates: the nearest one may have no usable text.
    nearest_in_layer(twin, layer, at, 8, max_m, visible)
        .into_iter()
        .find_map(|(d, id)| {
            let o = twin.get(id)?;
            let [lon, lat] = o.geometry.anchor();
            Some(Address {
                text: address_text(o)?,
                lon,
                lat,
                distance_m: d,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_bearings_on_the_sphere() {
        // One degree of latitude is about 111.2 km.
        let d = distance_m([35.0, 47.0], [35.0, 48.0]);
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
        assert_eq!(compass(bearing_deg([35.0, 47.0], [35.0, 48.0])).en, "north");
        assert_eq!(
            compass(bearing_deg([35.0, 47.0], [35.01, 47.01])).uk,
            "північний схід"
        );
        assert_eq!(compass(bearing_deg([35.0, 47.0], [34.99, 47.0])).en, "west");
        assert_eq!(compass(359.0).en, "north");
        assert_eq!(compass(210.0).en, "south-west");
        assert_eq!(compass(202.0).en, "south");
    }
}
