//! Where a map opens: the configured city centre and zoom (`[city]`), or else the densest area
//! of the data it shows, at the zoom at which that area fills the view. Styles carry it as
//! their `center` and `zoom`, TileJSON as its `center`.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::coord::{MAX_LAT, project, unproject};
use crate::model::LayerId;
use crate::twin::{Changed, Twin};

/// Where maps open (the `[city]` table of the configuration). What is unset comes from the
/// data: the centre of its densest area, and the zoom at which that area fills the view.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CitySettings {
    /// `[lon, lat]` maps open at.
    pub center: Option<[f64; 2]>,
    /// Zoom maps open at (0–22).
    pub zoom: Option<f64>,
    /// The city's time zone (IANA name), in which opening hours are read.
    pub timezone: String,
    /// `[west, south, east, north]`: the city's extent, for the shelter audit's "outside the
    /// city"; unset, the extent of the imported streets and addresses is taken.
    pub bounds: Option<[f64; 4]>,
    /// A CSV of street renamings (header `old,new`): callers still say the old names, and
    /// `/resolve` finds the street by them and answers with the current one.
    pub street_renamings: Option<std::path::PathBuf>,
    /// A GeoJSON of the city's districts (Polygon or MultiPolygon features): each incident
    /// is counted in the district that holds its object.
    #[serde(default)]
    pub districts: Option<std::path::PathBuf>,
    /// The property naming each district in that file.
    #[serde(default = "district_name")]
    pub district_name: String,
}

fn district_name() -> String {
    "name".into()
}

impl Default for CitySettings {
    fn default() -> Self {
        CitySettings {
            center: None,
            zoom: None,
            timezone: "Europe/Kyiv".into(),
            bounds: None,
            street_renamings: None,
            districts: None,
            district_name: district_name(),
        }
    }
}

impl CitySettings {
    /// The time zone (checked by [`CitySettings::validate`]).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Europe::Kyiv)
    }

    /// The street renamings (none when unset).
    pub fn renamings(&self) -> Result<crate::resolve::streets::Renamings, String> {
        match &self.street_renamings {
            None => Ok(Default::default()),
            Some(p) => crate::resolve::streets::Renamings::read(p)
                .map_err(|e| format!("city.street_renamings: {e}")),
        }
    }

    /// The districts (none when unset).
    pub fn districts(&self) -> Result<crate::districts::Districts, String> {
        match &self.districts {
            None => Ok(Default::default()),
            Some(p) => crate::districts::Districts::read(p, &self.district_name)
                .map_err(|e| format!("city.districts: {e}")),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.renamings()?;
        self.districts()?;
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!(
                "city.timezone {:?} is not an IANA time zone name (e.g. \"Europe/Kyiv\")",
                self.timezone
            ));
        }
        if let Some(b) = self.bounds
            && !(b.iter().all(|v| v.is_finite()) && b[0] < b[2] && b[1] < b[3])
        {
            return Err(format!(
                "city.bounds {b:?} must be [west, south, east, north] with west < east and south < north"
            ));
        }
        if let Some([lon, lat]) = self.center
            && !((-180.0..=180.0).contains(&lon) && (-MAX_LAT..=MAX_LAT).contains(&lat))
        {
            return Err(format!(
                "city.center [{lon}, {lat}] must be [lon, lat] with lon in -180..=180 and lat in -85.05..=85.05"
            ));
        }
        if let Some(z) = self.zoom
            && !(0.0..=22.0).contains(&z)
        {
            return Err(format!("city.zoom {z} is outside 0..=22"));
        }
        Ok(())
    }
}

/// Where a map opens: its centre `[lon, lat]` and zoom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Focus {
    pub center: [f64; 2],
    pub zoom: f64,
}

/// Positions read from the twin to find the densest area: enough to tell a city's busy
/// quarters apart, few enough to read in milliseconds from a twin of any size.
pub const SAMPLES: usize = 1 << 16;
/// Objects walked at most for those samples (when the layers shown are a small part of the
/// twin, fewer samples come back).
pub const MAX_VISITS: usize = 1 << 19;
/// The densest area is the 2×2 block of cells of this zoom's grid holding the most objects:
/// about 78 km across at the equator and 39 km at 60° N, a city with its suburbs, and no two
/// cities a day's drive apart.
const AREA_ZOOM: i32 = 10;
/// Side of the view, in CSS pixels, that the area is fitted into: a phone's width shows most
/// of it, a desk's screen all of it.
const FIT_PX: f64 = 600.0;
/// Share of the area's objects left out at each side when fitting it: a few stragglers do not
/// widen the view.
const TRIM: f64 = 0.02;
/// Zooms a computed focus stays within.
const MIN_ZOOM: f64 = 2.0;
const MAX_ZOOM: f64 = 17.0;
/// Zoom of a configured centre without a zoom when there is no data to size the view by.
const DEFAULT_ZOOM: f64 = 14.0;

/// The densest area of `points` (`[lon, lat]`) and the zoom at which it fills a view of
/// [`FIT_PX`] pixels; `None` without points.
pub fn densest(points: &[[f64; 2]]) -> Option<Focus> {
    let world = f64::from(1u32 << AREA_ZOOM);
    let projected: Vec<[f64; 2]> = points
        .iter()
        .filter(|p| p[0].is_finite() && p[1].is_finite())
        .map(|p| project(p[0], p[1], world))
        .collect();
    let cell = |p: &[f64; 2]| (p[0].floor() as i64, p[1].floor() as i64);
    let mut counts: HashMap<(i64, i64), usize> = HashMap::new();
    for p in &projected {
        *counts.entry(cell(p)).or_default() += 1;
    }
    // Every 2×2 block that holds an object, by its top-left cell; the fullest wins, ties go to
    // the top-left-most block so that the answer does not depend on the map's order.
    let block = |(x, y): (i64, i64)| -> usize {
        [(0, 0), (1, 0), (0, 1), (1, 1)]
            .iter()
            .filter_map(|(dx, dy)| counts.get(&(x + dx, y + dy)))
            .sum()
    };
    let (x0, y0) = counts
        .keys()
        .flat_map(|&(x, y)| [(x, y), (x - 1, y), (x, y - 1), (x - 1, y - 1)])
        .map(|tl| (block(tl), std::cmp::Reverse(tl)))
        .max()
        .map(|(_, std::cmp::Reverse(tl))| tl)?;
    let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = projected
        .iter()
        .filter(|p| {
            let (x, y) = cell(p);
            (x0..=x0 + 1).contains(&x) && (y0..=y0 + 1).contains(&y)
        })
        .map(|p| (p[0], p[1]))
        .unzip();
    let (west, east) = trimmed(&mut xs)?;
    let (north, south) = trimmed(&mut ys)?;
    let (lon, lat) = unproject([(west + east) / 2.0, (north + south) / 2.0], world);
    // A view of FIT_PX pixels spans FIT_PX / 512 / 2^z of the world at zoom z (MapLibre's
    // world is 512 px across at zoom 0).
    let span = (east - west).max(south - north) / world;
    let zoom = if span > 0.0 {
        (FIT_PX / 512.0 / span).log2().clamp(MIN_ZOOM, MAX_ZOOM)
    } else {
        MAX_ZOOM
    };
    Some(Focus {
        center: [lon, lat],
        // A tenth of a zoom step is finer than anyone sees.
        zoom: (zoom * 10.0).floor() / 10.0,
    })
}

/// The range of `v` without its [`TRIM`] share at either end.
fn trimmed(v: &mut [f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(f64::total_cmp);
    let cut = (v.len() as f64 * TRIM) as usize;
    Some((v[cut], v[v.len() - 1 - cut]))
}

/// The focus of each set of layers asked for, kept until the layers' changes since it was
/// computed pass [`STALE_SHARE`] of their objects (or a bulk import replaced them): a few
/// edits do not move a city's busiest area, and a new computation reads up to [`MAX_VISITS`]
/// objects.
#[derive(Default)]
pub struct FocusCache {
    state: Mutex<State>,
}

/// Changes (an update counts twice: its old and new place) a set of layers may see, as a share
/// of its objects, before its focus is computed again.
pub const STALE_SHARE: f64 = 0.01;

#[derive(Default)]
struct State {
    /// Changed objects per layer since the start.
    changes: HashMap<LayerId, u64>,
    known: HashMap<Vec<LayerId>, Known>,
}

/// A computed focus, with the layers' changes and objects when it was computed.
struct Known {
    changes: u64,
    objects: usize,
    focus: Option<Focus>,
}

impl FocusCache {
    /// Where a map of `layers` opens: the configured centre and zoom where set, the densest
    /// area of the layers' objects for the rest; `None` when nothing is configured and the
    /// layers are empty.
    pub fn focus(&self, twin: &Twin, layers: &[LayerId], city: &CitySettings) -> Option<Focus> {
        if let (Some(center), Some(zoom)) = (city.center, city.zoom) {
            return Some(Focus { center, zoom });
        }
        let data = self.of_data(twin, layers);
        match (city.center, data) {
            (Some(center), data) => Some(Focus {
                center,
                zoom: city.zoom.or(data.map(|d| d.zoom)).unwrap_or(DEFAULT_ZOOM),
            }),
            (None, Some(d)) => Some(Focus {
                center: d.center,
                zoom: city.zoom.unwrap_or(d.zoom),
            }),
            (None, None) => None,
        }
    }

    /// The densest area of `layers`' objects, from the cache while it is fresh enough.
    fn of_data(&self, twin: &Twin, layers: &[LayerId]) -> Option<Focus> {
        let mut key = layers.to_vec();
        key.sort_unstable();
        key.dedup();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let changes: u64 = key.iter().filter_map(|l| state.changes.get(l)).sum();
        if let Some(k) = state.known.get(&key)
            && (changes - k.changes) as f64 <= k.objects as f64 * STALE_SHARE
        {
            return k.focus;
        }
        let focus = densest(&twin.sample_anchors(&key, SAMPLES, MAX_VISITS));
        let objects = key.iter().map(|l| twin.count(*l)).sum();
        // Sets of layers come from styles and TileJSON requests; a client inventing many
        // lists cannot make the cache grow without end.
        if state.known.len() >= 64 {
            state.known.clear();
        }
        state.known.insert(
            key,
            Known {
                changes,
                objects,
                focus,
            },
        );
        focus
    }

    /// Counts the objects a write changed; a bulk import forgets every focus.
    pub fn changed(&self, what: Changed<'_>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match what {
            // A box per place an object left or took: an update counts twice, a creation or a
            // deletion once.
            Changed::Boxes(boxes) => {
                for (layer, _) in boxes {
                    *state.changes.entry(*layer).or_default() += 1;
                }
            }
            Changed::All => state.known.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` points spread evenly over a square of `side` degrees around `center`.
    fn cluster(center: [f64; 2], side: f64, n: usize) -> Vec<[f64; 2]> {
        let k = (n as f64).sqrt().ceil() as usize;
        (0..n)
            .map(|i| {
                let (a, b) = ((i % k) as f64, (i / k) as f64);
                [
                    center[0] - side / 2.0 + side * a / k as f64,
                    center[1] - side / 2.0 + side * b / k as f64,
                ]
            })
            .collect()
    }

    const HELSINKI: [f64; 2] = [24.945, 60.170];
    const KYIV: [f64; 2] = [30.52, 50.45];

    #[test]
    fn two_cities_open_on_the_busier_not_between_them() {
        let mut points = cluster(HELSINKI, 0.03, 3000);
        points.extend(cluster(KYIV, 0.3, 2000));
        let f = densest(&points).unwrap();
        // The middle of both extents lies in Belarus, hundreds of km from either city.
        assert!(
            (f.center[0] - HELSINKI[0]).abs() < 0.01 && (f.center[1] - HELSINKI[1]).abs() < 0.01,
            "{f:?}"
        );
        // The cluster is 0.03° tall, 3.3 km at 60° N: 600 px of it is about zoom 12.8.
        assert!((12.5..=13.2).contains(&f.zoom), "{f:?}");
        // The order of the points does not matter.
        points.reverse();
        assert_eq!(densest(&points), Some(f));
    }

    #[test]
    fn a_tight_cluster_wins_over_more_objects_spread_thin() {
        // 600 objects in one square km against 2000 over a region four degrees wide: no
        // 40 km block of the region holds 600 of its objects.
        let mut points = cluster(KYIV, 0.01, 600);
        points.extend(cluster([26.0, 55.0], 4.0, 2000));
        let f = densest(&points).unwrap();
        assert!(
            (f.center[0] - KYIV[0]).abs() < 0.01 && (f.center[1] - KYIV[1]).abs() < 0.01,
            "{f:?}"
        );
    }

    #[test]
    fn the_view_fits_the_area_without_its_stragglers() {
        // A district 0.1° wide with a handful of objects 0.3° out: the zoom fits the district.
        let mut points = cluster(KYIV, 0.1, 1000);
        points.extend(cluster([KYIV[0] + 0.3, KYIV[1]], 0.001, 5));
        let f = densest(&points).unwrap();
        let alone = densest(&cluster(KYIV, 0.1, 1000)).unwrap();
        assert!((f.zoom - alone.zoom).abs() < 0.2, "{f:?} / {alone:?}");
        // 0.1° at 50° N is 7 km; 600 px of it is about zoom 11.
        assert!((10.5..=12.0).contains(&f.zoom), "{f:?}");
        assert!((f.center[0] - KYIV[0]).abs() < 0.01, "{f:?}");
    }

    #[test]
    fn one_object_is_seen_close_up_and_no_object_gives_nothing() {
        let f = densest(&[[24.9, 60.2]]).unwrap();
        assert!((f.center[0] - 24.9).abs() < 1e-9 && (f.center[1] - 60.2).abs() < 1e-9);
        assert_eq!(f.zoom, MAX_ZOOM);
        assert_eq!(densest(&[]), None);
        assert_eq!(densest(&[[f64::NAN, 1.0]]), None);
    }

    /// A twin of trees at `points`.
    fn twin_of(points: &[[f64; 2]]) -> (Twin, LayerId) {
        let layers = crate::model::Layers::default_city();
        let trees = layers.by_name("trees").unwrap();
        let objects = points
            .iter()
            .enumerate()
            .map(|(i, p)| crate::twin::tests::obj(i as u64 + 1, trees, *p, i as u32 + 1))
            .collect();
        (Twin::build(layers, 6, objects), trees)
    }

    #[test]
    fn a_focus_is_kept_until_a_share_of_its_objects_changed() {
        let (helsinki, trees) = twin_of(&cluster(HELSINKI, 0.01, 1000));
        let (kyiv, _) = twin_of(&cluster(KYIV, 0.01, 1000));
        let cache = FocusCache::default();
        let none = CitySettings::default();
        let near = |f: Option<Focus>, at: [f64; 2]| {
            let c = f.unwrap().center;
            (c[0] - at[0]).abs() < 0.01 && (c[1] - at[1]).abs() < 0.01
        };
        assert!(near(cache.focus(&helsinki, &[trees], &none), HELSINKI));
        // Five objects of a thousand moved (an old and a new box each), in two writes: the
        // focus stays as it was.
        let moved = vec![(trees, [0.0; 4]); 12];
        cache.changed(Changed::Boxes(&moved[..4]));
        cache.changed(Changed::Boxes(&moved[4..10]));
        assert!(near(cache.focus(&kyiv, &[trees], &none), HELSINKI));
        // One more, and it is computed again.
        cache.changed(Changed::Boxes(&moved[10..]));
        assert!(near(cache.focus(&kyiv, &[trees], &none), KYIV));
        // A bulk import forgets it at once.
        cache.changed(Changed::All);
        assert!(near(cache.focus(&helsinki, &[trees], &none), HELSINKI));
        // What is configured needs no data; a configured centre alone takes the data's zoom.
        let at = CitySettings {
            center: Some([30.0, 50.0]),
            zoom: Some(9.5),
            ..Default::default()
        };
        let (empty, _) = twin_of(&[]);
        let fresh = FocusCache::default();
        let f = fresh.focus(&empty, &[trees], &at).unwrap();
        assert_eq!((f.center, f.zoom), ([30.0, 50.0], 9.5));
        assert_eq!(fresh.focus(&empty, &[trees], &none), None);
        let centre = CitySettings {
            center: Some([30.0, 50.0]),
            zoom: None,
            ..Default::default()
        };
        let data = cache.focus(&helsinki, &[trees], &none).unwrap();
        let f = cache.focus(&helsinki, &[trees], &centre).unwrap();
        assert_eq!((f.center, f.zoom), ([30.0, 50.0], data.zoom));
        let f = fresh.focus(&empty, &[trees], &centre).unwrap();
        assert_eq!(f.zoom, DEFAULT_ZOOM);
    }

    #[test]
    fn settings_are_checked() {
        let ok = CitySettings {
            center: Some([24.94, 60.17]),
            zoom: Some(15.0),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let swapped = CitySettings {
            center: Some([60.17, 124.94]),
            zoom: None,
            ..Default::default()
        };
        assert!(swapped.validate().unwrap_err().contains("city.center"));
        let deep = CitySettings {
            center: None,
            zoom: Some(30.0),
            ..Default::default()
        };
        assert!(deep.validate().unwrap_err().contains("city.zoom"));
    }
}
