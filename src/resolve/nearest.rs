//! `/nearest`: a phone position gives the k nearest numbered landmarks, so a caller can be
//! told "you are at pole ОП-104273-5". Broken or removed landmarks are marked, not hidden: the
//! number is still painted on them.

use serde::Serialize;

use super::number::{ResolveError, bad};
use super::place::{self, Address};
use crate::model::{GeometryKind, LayerId};
use crate::twin::Twin;

/// Largest `k`.
pub const MAX_K: usize = 50;
/// Largest search radius, metres.
pub const MAX_RADIUS_M: f64 = 50_000.0;
/// How far an address may be from a landmark to be named with it, metres.
pub const ADDRESS_RADIUS_M: f64 = 500.0;

/// A `/nearest` question.
#[derive(Debug, Clone)]
pub struct NearestQuery {
    pub lat: f64,
    pub lon: f64,
    pub k: usize,
    /// Layers to search; empty = every visible numbered point layer.
    pub layers: Vec<LayerId>,
    /// What the asker may see: nothing else is found.
    pub visible: crate::access::Visible,
    pub max_m: f64,
}

/// One landmark near the caller.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Landmark {
    /// The painted number, e.g. `ОП-104273-5`.
    pub number: String,
    pub number_latin: String,
    pub layer: String,
    pub lon: f64,
    pub lat: f64,
    /// Metres from the asked position.
    pub distance_m: f64,
    /// Where the landmark is from the asked position, as a compass point (`north-east`).
    pub bearing: String,
    pub bearing_uk: String,
    /// Degrees, 0 = north, clockwise.
    pub bearing_deg: f64,
    /// The nearest imported address (`street house`), if one is within 500 m.
    pub address: Option<String>,
    pub address_distance_m: Option<f64>,
    /// `ok`, `broken`, `closed`, `removed` or `unknown`: a broken landmark still shows.
    pub status: String,
}

/// The `k` nearest numbered landmarks, nearest first (ties by id).
pub fn nearest(twin: &Twin, q: &NearestQuery) -> Result<Vec<Landmark>, ResolveError> {
    if !q.lat.is_finite() || !(-90.0..=90.0).contains(&q.lat) {
        return Err(bad(
            "lat",
            format!("{} is not a latitude in -90..90", q.lat),
        ));
    }
    if !q.lon.is_finite() || !(-180.0..=180.0).contains(&q.lon) {
        return Err(bad(
            "lon",
            format!("{} is not a longitude in -180..180", q.lon),
        ));
    }
    if q.k == 0 || q.k > MAX_K {
        return Err(bad("k", format!("{} is outside 1..={MAX_K}", q.k)));
    }
    if !q.max_m.is_finite() || q.max_m <= 0.0 || q.max_m > MAX_RADIUS_M {
        return Err(bad(
            "max_m",
            format!("{} is outside (0, {MAX_RADIUS_M}] metres", q.max_m),
        ));
    }
    let layers = twin.layers();
    let landmark = |l: LayerId| {
        let d = layers.def(l);
        d.numbered && d.geometry == GeometryKind::Point
    };
    let mut chosen: Vec<LayerId> = if q.layers.is_empty() {
        layers.ids().filter(|l| landmark(*l)).collect()
    } else {
        for l in &q.layers {
            if !landmark(*l) {
                return Err(bad(
                    "layers",
                    format!("{} holds no numbered points", layers.def(*l).name),
                ));
            }
        }
        q.layers.clone()
    };
    chosen.retain(|l| q.visible.has_layer(*l));
    let at = [q.lon, q.lat];
    let mut found: Vec<(f64, u64)> = chosen
        .iter()
        .flat_map(|l| place::nearest_in_layer(twin, *l, at, q.k, q.max_m, &q.visible))
        .collect();
    found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    found.truncate(q.k);
    let width = twin.serial_width();
    Ok(found
        .into_iter()
        .filter_map(|(d, id)| {
            let o = twin.get(id)?;
            let def = layers.def(o.layer);
            let p = o.geometry.anchor();
            let bearing = place::bearing_deg(at, p);
            let c = place::compass(bearing);
            let address: Option<Address> =
                place::nearest_address(twin, p, ADDRESS_RADIUS_M, &q.visible);
            let number = o.number.as_ref()?;
            Some(Landmark {
                number: number.display(def, width),
                number_latin: number.latin(def, width),
                layer: def.name.clone(),
                lon: p[0],
                lat: p[1],
                distance_m: place::round_m(d),
                bearing: c.en.into(),
                bearing_uk: c.uk.into(),
                bearing_deg: place::round_m(bearing),
                address_distance_m: address.as_ref().map(|a| place::round_m(a.distance_m)),
                address: address.map(|a| a.text),
                status: o.status.as_str().into(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Layers, Status, Value};
    use crate::twin::tests::obj;

    #[test]
    fn nearest_in_metres_not_in_degrees_with_status_and_address() {
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let manholes = layers.by_name("manholes").unwrap();
        let addresses = layers.by_name("addresses").unwrap();
        // At 60°N a degree of longitude is half a degree of latitude: the pole 0.0009° east
        // (≈ 50 m) is nearer than the manhole 0.0006° north (≈ 67 m).
        let mut m = obj(2, manholes, [24.9, 60.0006], 100_002);
        m.status = Status::Broken;
        let mut a = obj(3, addresses, [24.9009, 60.0001], 0);
        a.number = None;
        a.attributes
            .insert("addr:street".into(), Value::text("Mannerheimintie"));
        a.attributes
            .insert("addr:housenumber".into(), Value::text("5"));
        let t = Twin::build(
            layers.clone(),
            6,
            vec![
                obj(1, poles, [24.9009, 60.0], 100_001),
                m,
                a,
                obj(4, poles, [25.5, 60.0], 100_004),
            ],
        );
        let q = NearestQuery {
            lat: 60.0,
            lon: 24.9,
            k: 2,
            layers: vec![],
            visible: crate::access::Visible::all(t.layers()),
            max_m: 1000.0,
        };
        let r = nearest(&t, &q).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].layer.as_str(), r[0].bearing.as_str()),
            ("poles", "east")
        );
        assert!((r[0].distance_m - 50.0).abs() < 1.0, "{}", r[0].distance_m);
        assert_eq!(r[0].address.as_deref(), Some("Mannerheimintie 5"));
        assert_eq!(
            (r[1].layer.as_str(), r[1].status.as_str()),
            ("manholes", "broken")
        );
        assert_eq!(r[1].bearing_uk, "північ");
        // The far pole is outside max_m.
        let all = nearest(&t, &NearestQuery { k: 10, ..q.clone() }).unwrap();
        assert_eq!(all.len(), 2);
        for (field, bad_q) in [
            ("k", NearestQuery { k: 0, ..q.clone() }),
            (
                "k",
                NearestQuery {
                    k: 100_000,
                    ..q.clone()
                },
            ),
            (
                "lat",
                NearestQuery {
                    lat: 91.0,
                    ..q.clone()
                },
            ),
            (
                "lon",
                NearestQuery {
                    lon: f64::NAN,
                    ..q.clone()
                },
            ),
            (
                "max_m",
                NearestQuery {
                    max_m: -1.0,
                    ..q.clone()
                },
            ),
            (
                "layers",
                NearestQuery {
                    layers: vec![addresses],
                    ..q.clone()
                },
            ),
        ] {
            assert!(
                matches!(nearest(&t, &bad_q), Err(ResolveError { field: f, .. }) if f == field)
            );
        }
    }
}
