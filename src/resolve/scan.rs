//! The harder readings of a number, which need the serial space or the caller's area: a
//! number still being typed (its first digits), two digits wrong, the check digit left out
//! with one digit wrong, and only the last digits given.
//!
//! Serial ranges are read straight from the twin's serial table; when a range is too wide,
//! the layers' R-trees are walked outwards from the caller instead, whichever is less work.

use super::number::MISHEARD;
use super::place;
use crate::model::{GeometryKind, LayerId, Object};
use crate::numbering::{self, damm};
use crate::twin::Twin;

/// Most serials read from the serial table for one question.
const RANGE_BUDGET: u64 = 40_000;
/// Most serials read for the typed start with one digit wrong (nine ranges per digit typed):
/// on a full 7-digit space that is from the fifth digit on.
const ONE_WRONG_BUDGET: u64 = 10_000;
/// A range wider than this is walked instead when only one layer is looked in.
const WALK_RATHER: u64 = 2_000;
/// Most points visited per layer when walking outwards from the caller.
const WALK_BUDGET: usize = 30_000;

/// Where the caller is, and how far from it a candidate may be.
#[derive(Debug, Clone, Copy)]
pub struct Area {
    pub at: [f64; 2],
    pub radius_m: f64,
}

/// What the scans may return.
pub struct Scope<'a> {
    pub twin: &'a Twin,
    /// Layers whose objects count (visible and asked for).
    pub layers: &'a [LayerId],
    pub visible: &'a crate::access::Visible,
    pub width: u8,
    pub limit: usize,
}

/// A candidate: the object, the mistake assumed, its cost.
pub type Hit<'a> = (&'a Object, &'static str, f64);

impl Scope<'_> {
    fn counts(&self, o: &Object) -> bool {
        self.layers.contains(&o.layer) && self.visible.shows(o)
    }

    fn within(&self, o: &Object, area: Option<Area>) -> bool {
        area.is_none_or(|a| {
            let p = o.geometry.anchor();
            // Most of a serial range is far away: a degree of latitude is never under 110 km.
            (p[1] - a.at[1]).abs() * 110_000.0 <= a.radius_m
                && place::distance_m(a.at, p) <= a.radius_m
        })
    }

    /// The objects of serials `lo..hi` (read while the budget lasts).
    fn range<'t>(&'t self, lo: u32, hi: u32, area: Option<Area>, out: &mut Vec<&'t Object>) {
        let hi = hi.min(numbering::serial_space(self.width));
        for s in lo..hi {
            if let Some(o) = self.twin.by_serial(s)
                && self.counts(o)
                && self.within(o, area)
            {
                out.push(o);
            }
        }
    }

    /// Numbered objects nearest to the area first, while `keep` accepts them: at most
    /// `limit` accepted per layer, within the radius, within the walk budget.
    fn walk<'t>(&'t self, area: Area, keep: impl Fn(u32, u8) -> bool, out: &mut Vec<&'t Object>) {
        for &l in self.layers {
            let def = self.twin.layers().def(l);
            if !def.numbered || def.geometry != GeometryKind::Point {
                continue;
            }
            let mut found = 0;
            for (n, (id, p)) in self.twin.nearest_points(l, area.at).enumerate() {
                if n >= WALK_BUDGET || found >= self.limit {
                    break;
                }
                // Degrees to metres, at least (the walk is in degree order).
                let d_deg = ((p[0] - area.at[0]).powi(2) + (p[1] - area.at[1]).powi(2)).sqrt();
                let floor = 111_195.0 * (area.at[1].abs() + d_deg).min(89.0).to_radians().cos();
                if d_deg * floor > area.radius_m {
                    break;
                }
                let Some(o) = self.twin.get(id) else { continue };
                let Some(numbering::Number::Scheme { serial, check }) = &o.number else {
                    continue;
                };
                if keep(*serial, *check)
                    && self.visible.shows(o)
                    && place::distance_m(area.at, p) <= area.radius_m
                {
                    out.push(o);
                    found += 1;
                }
            }
        }
    }

    /// Objects whose serial starts with `digits` (fewer than the serial has): the number as
    /// it is being typed. Near the caller when the area is known.
    pub fn prefix<'t>(&'t self, digits: &[u8], area: Option<Area>) -> Vec<Hit<'t>> {
        let w = usize::from(self.width);
        let p = digits.len();
        if p == 0 || p >= w {
            return Vec::new();
        }
        let span = 10u64.pow((w - p) as u32);
        let lo = value(digits) as u64 * span;
        let mut objs = Vec::new();
        // A wide range costs a lookup per serial; the walk one per point near the caller (of
        // one layer, when a layer word was heard: far fewer).
        let walk = span > RANGE_BUDGET || (self.layers.len() == 1 && span > WALK_RATHER);
        match area {
            Some(a) if walk => {
                let v = value(digits);
                let div = span as u32;
                self.walk(a, |serial, _| serial / div == v, &mut objs);
            }
            _ => {
                let hi = lo + span.min(RANGE_BUDGET);
                self.range(lo as u32, hi as u32, area, &mut objs);
            }
        }
        let mut hits: Vec<Hit<'t>> = objs.into_iter().map(|o| (o, "prefix", 0.3)).collect();
        // One digit of the typed start wrong, when the ranges are narrow enough to read.
        if area.is_some() && p >= 3 && 9 * p as u64 * span <= ONE_WRONG_BUDGET {
            one_wrong(digits, |v, orig, d| {
                let lo = value(v) as u64 * span;
                let mut objs = Vec::new();
                self.range(lo as u32, (lo + span) as u32, area, &mut objs);
                let c = 0.3 + substitution_cost(orig, d);
                hits.extend(objs.into_iter().map(|o| (o, "prefix_one_wrong", c)));
            });
        }
        hits
    }

    /// The serial heard without its check digit, with one digit wrong: near the caller only
    /// (54 serials for six digits, most of them someone's).
    pub fn no_check_one_wrong<'t>(&'t self, digits: &[u8], area: Area) -> Vec<Hit<'t>> {
        if digits.len() != usize::from(self.width) {
            return Vec::new();
        }
        let mut out = Vec::new();
        one_wrong(digits, |v, orig, d| {
            if let Some(o) = self.twin.by_serial(value(v))
                && self.counts(o)
                && self.within(o, Some(area))
            {
                out.push((
                    o,
                    "no_check_digit_one_wrong",
                    0.4 + substitution_cost(orig, d),
                ));
            }
        });
        out
    }

    /// The whole number heard with two digits wrong (any two, the check digit included):
    /// every variant the check digit allows, near the caller only. Never a confident answer:
    /// each costs at least 2.
    pub fn two_wrong<'t>(&'t self, digits: &[u8], area: Area) -> Vec<Hit<'t>> {
        let n = digits.len();
        if n != usize::from(self.width) + 1 {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut v = digits.to_vec();
        for i in 0..n {
            for j in i + 1..n {
                let (oi, oj) = (v[i], v[j]);
                for a in (0..10u8).filter(|&a| a != oi) {
                    v[i] = a;
                    for b in (0..10u8).filter(|&b| b != oj) {
                        v[j] = b;
                        if !damm::is_valid(&v) {
                            continue;
                        }
                        if let Some(o) = self.twin.by_serial(value(&v[..n - 1]))
                            && self.counts(o)
                            && self.within(o, Some(area))
                        {
                            let c = 1.6
                                + substitution_cost(oi, a) / 2.0
                                + substitution_cost(oj, b) / 2.0;
                            out.push((o, "two_digits_wrong", c));
                        }
                    }
                    v[j] = oj;
                }
                v[i] = oi;
            }
        }
        out
    }

    /// Objects near the caller whose serial ends with `digits` ("the last digits are 4273"),
    /// or whose whole number (check digit included) does.
    pub fn last_digits<'t>(&'t self, digits: &[u8], area: Area) -> Vec<Hit<'t>> {
        let k = digits.len();
        if k == 0 || k > usize::from(self.width) + 1 {
            return Vec::new();
        }
        let m = 10u64.pow(k as u32);
        let v = value(digits) as u64;
        let serial_ok = k <= usize::from(self.width);
        let mut objs = Vec::new();
        self.walk(
            area,
            |serial, check| {
                (serial_ok && u64::from(serial) % m == v)
                    || (u64::from(serial) * 10 + u64::from(check)) % m == v
            },
            &mut objs,
        );
        objs.into_iter()
            .map(|o| {
                let ends_serial = matches!(&o.number, Some(numbering::Number::Scheme { serial, .. })
                    if serial_ok && u64::from(*serial) % m == v);
                if ends_serial {
                    (o, "last_digits", 0.3)
                } else {
                    (o, "last_digits_with_check", 0.5)
                }
            })
            .collect()
    }
}

/// Whether two digits sound alike on the phone ([`MISHEARD`]).
pub fn sound_alike(a: u8, b: u8) -> bool {
    MISHEARD
        .iter()
        .any(|&(x, y)| (x, y) == (a, b) || (y, x) == (a, b))
}

/// The cost of one digit heard as another: less for digits that sound alike.
pub fn substitution_cost(a: u8, b: u8) -> f64 {
    if sound_alike(a, b) { 0.7 } else { 1.1 }
}

/// Calls `f` with every string one digit away from `digits` (each position, each other
/// digit), the digit it had and the one it has now.
pub fn one_wrong(digits: &[u8], mut f: impl FnMut(&[u8], u8, u8)) {
    let mut v = digits.to_vec();
    for i in 0..v.len() {
        let orig = v[i];
        for d in (0..10u8).filter(|&d| d != orig) {
            v[i] = d;
            f(&v, orig, d);
        }
        v[i] = orig;
    }
}

/// Digits as a number.
fn value(digits: &[u8]) -> u32 {
    digits.iter().fold(0u32, |s, d| s * 10 + u32::from(*d))
}
