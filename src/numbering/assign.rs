//! Gives numbers to objects that have none, deterministically, spreading serials so that no
//! two objects within a radius (1 km by default) have confusable numbers.
//!
//! Candidates come from a fixed permutation of the serial space (serials without a leading zero
//! first, since callers drop leading zeros), so the same objects in the same order always get the
//! same numbers. A candidate is refused when any codeword confusable with it (two substitutions,
//! or an adjacent swap plus one substitution) belongs to an object within the radius; a refused
//! serial goes to a pool and is offered to later objects, which are usually far away.

use std::collections::VecDeque;

use super::{
    MAX_WIDTH, MIN_WIDTH, damm, for_each_confusable_codeword, serial_digits, serial_space,
};

/// Why no number could be given.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AssignError {
    #[error("serial width {0} is not supported (use {MIN_WIDTH}–{MAX_WIDTH} digits)")]
    Width(u8),
    #[error(
        "no serial of {width} digits is free of confusable numbers within {radius_m} m of \
         ({lon:.6}, {lat:.6}); the serial space is too crowded — use a wider serial (setting `serial_width`)"
    )]
    Exhausted {
        width: u8,
        radius_m: f64,
        lon: f64,
        lat: f64,
    },
}

/// Marks a serial as free in the position table.
const FREE: [f32; 2] = [f32::NAN, f32::NAN];
/// Marks a serial as taken by an object whose position does not matter (retired numbers).
const RETIRED: [f32; 2] = [f32::INFINITY, f32::INFINITY];

/// How many candidates one object may refuse before the assigner gives up (strict) or takes
/// the first one it saw (lenient).
const MAX_TRIES: usize = 20_000;
/// How many refused serials an object tries before fresh ones.
const POOL_TRIES: usize = 4;

/// The serial assigner. Build it with every serial already used, then call [`Assigner::assign`].
pub struct Assigner {
    width: u8,
    radius_m: f64,
    strict: bool,
    /// Position (lon, lat) of the object holding each serial; NaN when free.
    pos: Vec<[f32; 2]>,
    /// Next index into the candidate permutation.
    cursor: u64,
    /// Refused serials, offered again to later objects.
    pool: VecDeque<u32>,
    /// Source numbers that are all digits, of the scheme's codeword length, with positions.
    source_codes: Vec<(Vec<u8>, [f32; 2])>,
    /// How many objects got a number that is confusable with a neighbour's (lenient mode).
    pub fallbacks: u64,
}

impl Assigner {
    /// An assigner for serials of `width` digits, refusing confusable numbers within `radius_m`.
    /// `strict`: fail when no good serial exists (imports); otherwise take the best available
    /// and count it in `fallbacks` (synthetic cities that fill the whole serial space).
    pub fn new(width: u8, radius_m: f64, strict: bool) -> Result<Assigner, AssignError> {
        if !(MIN_WIDTH..=MAX_WIDTH).contains(&width) {
            return Err(AssignError::Width(width));
        }
        Ok(Assigner {
            width,
            radius_m,
            strict,
            pos: vec![FREE; serial_space(width) as usize],
            cursor: 0,
            pool: VecDeque::new(),
            source_codes: Vec::new(),
            fallbacks: 0,
        })
    }

    /// Records a serial in use by an object at `lon_lat`.
    pub fn take(&mut self, serial: u32, lon_lat: [f64; 2]) {
        if let Some(p) = self.pos.get_mut(serial as usize) {
            *p = [lon_lat[0] as f32, lon_lat[1] as f32];
        }
    }

    /// Records a retired serial: never given again, no longer near anything.
    pub fn retire(&mut self, serial: u32) {
        if let Some(p) = self.pos.get_mut(serial as usize) {
            *p = RETIRED;
        }
    }

    /// Records a number kept from a source (no check digit): new numbers must not be
    /// confusable with it either when it has the same digit count.
    pub fn take_source(&mut self, digits: Vec<u8>, lon_lat: [f64; 2]) {
        if digits.len() == self.width as usize + 1 {
            self.source_codes
                .push((digits, [lon_lat[0] as f32, lon_lat[1] as f32]));
        }
    }

    pub fn is_free(&self, serial: u32) -> bool {
        self.pos.get(serial as usize).is_some_and(|p| p[0].is_nan())
    }

    /// Gives a serial to an object at `lon_lat` and records it.
    pub fn assign(&mut self, lon_lat: [f64; 2]) -> Result<u32, AssignError> {
        let here = [lon_lat[0] as f32, lon_lat[1] as f32];
        let mut fallback: Option<u32> = None;
        let mut tries = 0usize;
        // A few refused serials first: they were refused near somebody else, usually far away.
        // Once the permutation is used up, the pool is all that is left: try it all.
        let from_pool = if self.cursor < serial_space(self.width) as u64 {
            self.pool.len().min(POOL_TRIES)
        } else {
            self.pool.len().min(MAX_TRIES)
        };
        for _ in 0..from_pool {
            let Some(s) = self.pool.pop_front() else {
                break;
            };
            if !self.is_free(s) {
                continue;
            }
            tries += 1;
            if !self.conflicts(s, here) {
                self.pos[s as usize] = here;
                return Ok(s);
            }
            fallback.get_or_insert(s);
            self.pool.push_back(s);
        }
        while tries < MAX_TRIES {
            let Some(s) = self.next_fresh() else { break };
            tries += 1;
            if !self.conflicts(s, here) {
                self.pos[s as usize] = here;
                return Ok(s);
            }
            fallback.get_or_insert(s);
            self.pool.push_back(s);
        }
        match fallback {
            Some(s) if !self.strict => {
                self.fallbacks += 1;
                self.pos[s as usize] = here;
                Ok(s)
            }
            _ => Err(AssignError::Exhausted {
                width: self.width,
                radius_m: self.radius_m,
                lon: lon_lat[0],
                lat: lon_lat[1],
            }),
        }
    }

    /// The next never-offered free serial of the permutation.
    fn next_fresh(&mut self) -> Option<u32> {
        let space = serial_space(self.width) as u64;
        let low = space / 10; // serials below this have a leading zero
        while self.cursor < space {
            let k = self.cursor;
            self.cursor += 1;
            let s = if k < space - low {
                low + permute(k, space - low)
            } else {
                permute(k - (space - low), low)
            } as u32;
            if self.is_free(s) {
                return Some(s);
            }
        }
        None
    }

    /// Whether an object within the radius holds a number confusable with `serial`.
    fn conflicts(&self, serial: u32, here: [f32; 2]) -> bool {
        let w = self.width as usize;
        let mut code = serial_digits(serial, self.width);
        code.push(damm::check_digit(&code));
        let mut hit = false;
        for_each_confusable_codeword(&code, |c| {
            let other = c[..w].iter().fold(0u32, |acc, &d| acc * 10 + d as u32);
            let p = self.pos[other as usize];
            hit = p[0].is_finite() && distance_m(here, p) < self.radius_m;
            !hit
        });
        hit || self.source_codes.iter().any(|(digits, p)| {
            (super::confusable(digits, &code) || *digits == code)
                && distance_m(here, *p) < self.radius_m
        })
    }
}

/// A fixed bijection of `0..n`: a stride near n/φ that shares no factor with n, so neighbours
/// in assignment order get serials far apart.
fn permute(k: u64, n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let mut stride = (n as f64 * 0.618_033_988_7) as u64 | 1;
    while gcd(stride, n) != 1 {
        stride += 2;
    }
    (k * stride + n / 3) % n
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Ground distance in metres between two lon/lat points (equirectangular; exact enough under
/// a few kilometres).
pub fn distance_m(a: [f32; 2], b: [f32; 2]) -> f64 {
    let (lon1, lat1, lon2, lat2) = (a[0] as f64, a[1] as f64, b[0] as f64, b[1] as f64);
    let mean_lat = ((lat1 + lat2) / 2.0).to_radians();
    let dx = (lon2 - lon1).to_radians() * mean_lat.cos() * 6_371_008.8;
    let dy = (lat2 - lat1).to_radians() * 6_371_008.8;
    (dx * dx + dy * dy).sqrt()
}

#[cfg(test)]
mod tests {
    use super::super::{Number, confusable};
    use super::*;

    #[test]
    fn permutation_is_a_bijection() {
        for n in [1u64, 10, 1000, 9000, 12345] {
            let mut seen = vec![false; n as usize];
            for k in 0..n {
                let v = permute(k, n) as usize;
                assert!(!seen[v]);
                seen[v] = true;
            }
        }
    }

    #[test]
    fn dense_neighbourhood_gets_no_confusable_numbers_and_is_deterministic() {
        // 3,000 objects in a 500 m square: all within 1 km of each other.
        let pts: Vec<[f64; 2]> = (0..3000)
            .map(|i| {
                let (a, b) = ((i % 60) as f64, (i / 60) as f64);
                [24.94 + a * 0.00013, 60.17 + b * 0.00009]
            })
            .collect();
        let run = || {
            let mut a = Assigner::new(6, 1000.0, true).unwrap();
            pts.iter()
                .map(|p| a.assign(*p).unwrap())
                .collect::<Vec<u32>>()
        };
        let serials = run();
        assert_eq!(serials, run(), "assignment must be deterministic");
        let codes: Vec<Vec<u8>> = serials
            .iter()
            .map(|s| Number::scheme(*s, 6).digits(6))
            .collect();
        let mut uniq = serials.clone();
        uniq.sort_unstable();
        uniq.dedup();
        assert_eq!(uniq.len(), serials.len());
        for i in 0..codes.len() {
            assert_ne!(codes[i][0], 0, "leading zero chosen while others were free");
            for j in i + 1..codes.len() {
                assert!(
                    !confusable(&codes[i], &codes[j]),
                    "{:?} ~ {:?}",
                    codes[i],
                    codes[j]
                );
            }
        }
    }

    #[test]
    fn taken_and_retired_serials_are_never_given() {
        let mut a = Assigner::new(4, 1000.0, true).unwrap();
        let first = a.assign([30.0, 50.0]).unwrap();
        let mut b = Assigner::new(4, 1000.0, true).unwrap();
        b.retire(first);
        let second = b.assign([30.0, 50.0]).unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn strict_mode_reports_exhaustion_and_lenient_mode_counts_fallbacks() {
        let mut a = Assigner::new(4, 1000.0, true).unwrap();
        let mut failed = None;
        for i in 0..10_000 {
            if let Err(e) = a.assign([30.0, 50.0]) {
                failed = Some((i, e));
                break;
            }
        }
        let (i, e) = failed.expect("4-digit space cannot hold 10,000 mutually distant numbers");
        assert!(i > 100, "gave up too early, after {i}");
        assert!(matches!(e, AssignError::Exhausted { width: 4, .. }));
        let mut l = Assigner::new(4, 1000.0, false).unwrap();
        for _ in 0..10_000 {
            l.assign([30.0, 50.0]).unwrap();
        }
        assert!(l.fallbacks > 0);
        assert!(l.next_fresh().is_none());
    }

    #[test]
    fn distance_is_sane() {
        // One degree of latitude is about 111 km.
        let d = distance_m([30.0, 50.0], [30.0, 51.0]);
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
    }
}

#[cfg(test)]
mod restart_tests {
    use super::*;

    #[test]
    fn rebuilt_assigners_keep_finding_serials_in_a_dense_spot() {
        // Like a server restarted many times while objects are added at one place.
        let mut taken: Vec<(u32, [f64; 2])> = Vec::new();
        for round in 0..12 {
            let mut a = Assigner::new(6, 1000.0, true).unwrap();
            for (s, p) in &taken {
                a.take(*s, *p);
            }
            for i in 0..200 {
                let p = [24.94 + (i as f64) * 1e-6, 60.17 + round as f64 * 1e-4];
                let s = a
                    .assign(p)
                    .unwrap_or_else(|e| panic!("round {round} object {i}: {e}"));
                taken.push((s, p));
            }
        }
    }
}
