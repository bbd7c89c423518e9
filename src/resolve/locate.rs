//! `/locate`: a caller reads several landmarks around them; the place consistent with all of
//! them (within sight of each) and how uncertain it is. A number that cannot be seen together
//! with the others is named.

use serde::Serialize;

use super::number::{ResolveError, ResolveQuery, bad, resolve};
use super::place;
use crate::twin::Twin;

/// Most numbers in one question.
pub const MAX_NUMBERS: usize = 6;

/// What is wrong with a question.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LocateError {
    #[error(transparent)]
    Bad(#[from] ResolveError),
    #[error("numbers: no object has number {0:?} or one a single mistake away")]
    Unknown(String),
}

/// One landmark as used.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Seen {
    /// As asked.
    pub asked: String,
    /// The object taken for it.
    pub number: String,
    pub layer: String,
    pub lon: f64,
    pub lat: f64,
    /// The resolver's rule (`exact`, or the mistake assumed).
    pub rule: String,
    /// Metres from the estimated position.
    pub distance_m: f64,
    /// Whether it fits with the others (all within sight of one place).
    pub consistent: bool,
}

/// The answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Located {
    pub lon: f64,
    pub lat: f64,
    /// The caller is within this many metres of the position.
    pub uncertainty_m: f64,
    pub plus_code: String,
    pub address: Option<String>,
    pub address_distance_m: Option<f64>,
    /// Every number fits with the others.
    pub consistent: bool,
    /// Numbers that cannot be seen together with the rest.
    pub inconsistent: Vec<String>,
    pub landmarks: Vec<Seen>,
    pub note: String,
}

/// Metres east and north of `o`, on a local plane (fine within a few kilometres).
fn local(o: [f64; 2], p: [f64; 2]) -> [f64; 2] {
    let k = 111_195.0;
    [
        (p[0] - o[0]) * k * o[1].to_radians().cos(),
        (p[1] - o[1]) * k,
    ]
}

fn unlocal(o: [f64; 2], m: [f64; 2]) -> [f64; 2] {
    let k = 111_195.0;
    [o[0] + m[0] / (k * o[1].to_radians().cos()), o[1] + m[1] / k]
}

/// Locates a caller from the numbers they read, each seen from at most `visible_m` metres.
/// Only objects of the `visible` layers count (a number of any other layer is unknown).
pub fn locate(
    twin: &Twin,
    numbers: &[String],
    visible_m: f64,
    visible: &crate::access::Visible,
) -> Result<Located, LocateError> {
    if numbers.len() < 2 || numbers.len() > MAX_NUMBERS {
        return Err(LocateError::Bad(bad(
            "numbers",
            format!(
                "give 2 to {MAX_NUMBERS} numbers, comma-separated ({} given)",
                numbers.len()
            ),
        )));
    }
    if !(visible_m.is_finite() && (5.0..=2000.0).contains(&visible_m)) {
        return Err(LocateError::Bad(bad(
            "visible_m",
            format!("{visible_m} is outside 5..=2000 metres"),
        )));
    }
    // Each number resolved on its own (a misheard one too), best candidate taken.
    let mut seen = Vec::new();
    for n in numbers {
        let r = resolve(
            twin,
            &ResolveQuery {
                q: n.clone(),
                near: None,
                radius_m: 2000.0,
                layers: Vec::new(),
                visible: visible.clone(),
                limit: 1,
                streets: None,
            },
        )
        .map_err(|e| bad("numbers", format!("{n:?}: {}", e.reason)))?;
        let c = r
            .candidates
            .into_iter()
            .next()
            .ok_or_else(|| LocateError::Unknown(n.clone()))?;
        seen.push(Seen {
            asked: n.clone(),
            number: c.number,
            layer: c.layer,
            lon: c.lon,
            lat: c.lat,
            rule: c.rule,
            distance_m: 0.0,
            consistent: false,
        });
    }
    // The largest set that fits in one circle of sight: every pair at most 2·visible apart
    // (few numbers: try every subset, largest first, ties to the earlier-read numbers).
    let n = seen.len();
    let pos: Vec<[f64; 2]> = seen.iter().map(|s| [s.lon, s.lat]).collect();
    let fits = |mask: u32| {
        (0..n).all(|i| {
            (0..n).all(|j| {
                mask & (1 << i) == 0
                    || mask & (1 << j) == 0
                    || place::distance_m(pos[i], pos[j]) <= 2.0 * visible_m
            })
        })
    };
    let best = (1u32..(1 << n))
        .filter(|m| fits(*m))
        .max_by_key(|m| (m.count_ones(), std::cmp::Reverse(*m)))
        .unwrap_or(1);
    // The places within sight of every landmark of that set: sampled on a grid around their
    // centre; the estimate is the middle of those places.
    let members: Vec<[f64; 2]> = (0..n)
        .filter(|i| best & (1 << i) != 0)
        .map(|i| pos[i])
        .collect();
    let centre = [
        members.iter().map(|p| p[0]).sum::<f64>() / members.len() as f64,
        members.iter().map(|p| p[1]).sum::<f64>() / members.len() as f64,
    ];
    let rel: Vec<[f64; 2]> = members.iter().map(|p| local(centre, *p)).collect();
    let steps = 40;
    let mut inside: Vec<[f64; 2]> = Vec::new();
    for gx in -steps..=steps {
        for gy in -steps..=steps {
            let q = [
                f64::from(gx) * visible_m / f64::from(steps),
                f64::from(gy) * visible_m / f64::from(steps),
            ];
            let ok = rel
                .iter()
                .all(|r| ((q[0] - r[0]).powi(2) + (q[1] - r[1]).powi(2)).sqrt() <= visible_m);
            if ok {
                inside.push(q);
            }
        }
    }
    let est_m = if inside.is_empty() {
        [0.0, 0.0]
    } else {
        [
            inside.iter().map(|q| q[0]).sum::<f64>() / inside.len() as f64,
            inside.iter().map(|q| q[1]).sum::<f64>() / inside.len() as f64,
        ]
    };
    let cell = visible_m / f64::from(steps);
    let uncertainty = inside
        .iter()
        .map(|q| ((q[0] - est_m[0]).powi(2) + (q[1] - est_m[1]).powi(2)).sqrt())
        .fold(0.0, f64::max)
        + cell;
    let est = unlocal(centre, est_m);
    for (i, s) in seen.iter_mut().enumerate() {
        s.consistent = best & (1 << i) != 0;
        s.distance_m = place::round_m(place::distance_m(est, pos[i]));
    }
    let inconsistent: Vec<String> = seen
        .iter()
        .filter(|s| !s.consistent)
        .map(|s| s.asked.clone())
        .collect();
    let address = place::nearest_address(twin, est, super::nearest::ADDRESS_RADIUS_M, visible);
    let note = if inconsistent.is_empty() {
        String::new()
    } else {
        format!(
            "{} cannot be seen together with the others from one place (more than {:.0} m apart): check {}",
            inconsistent.join(", "),
            2.0 * visible_m,
            if inconsistent.len() == 1 {
                "that number"
            } else {
                "those numbers"
            }
        )
    };
    Ok(Located {
        lon: est[0],
        lat: est[1],
        uncertainty_m: uncertainty.round(),
        plus_code: pluscodes::encode(
            &pluscodes::Coordinate {
                latitude: est[1],
                longitude: est[0],
            },
            10,
        )
        .unwrap_or_default(),
        address_distance_m: address.as_ref().map(|a| place::round_m(a.distance_m)),
        address: address.map(|a| a.text),
        consistent: inconsistent.is_empty(),
        inconsistent,
        landmarks: seen,
        note,
    })
}
