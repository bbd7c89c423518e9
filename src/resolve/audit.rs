//! The confusable-number audit: pairs of objects closer than a distance whose numbers a caller
//! could mistake for each other (two digits wrong, or a swap and a digit wrong) — the weakness
//! critics found in what3words. Numbers kept from sources (no check digit) are included.

use serde::Serialize;

use super::place;
use crate::model::Object;
use crate::numbering::{Number, confusable};
use crate::twin::Twin;

/// One side of a pair.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Side {
    pub id: u64,
    pub number: String,
    pub layer: String,
    pub lon: f64,
    pub lat: f64,
    /// False for a number kept from a source (no check digit).
    pub check_digit: bool,
}

/// Two objects with confusable numbers near each other.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Pair {
    pub a: Side,
    pub b: Side,
    pub distance_m: f64,
    /// A new number for `b` (the later object) that is confusable with nothing nearby; taking
    /// it is a separate, deliberate edit.
    pub suggestion: Option<String>,
}

fn side(twin: &Twin, o: &Object) -> Side {
    let def = twin.layers().def(o.layer);
    let p = o.geometry.anchor();
    Side {
        id: o.id,
        number: o
            .number
            .as_ref()
            .map(|n| n.display(def, twin.serial_width()))
            .unwrap_or_default(),
        layer: def.name.clone(),
        lon: p[0],
        lat: p[1],
        check_digit: o.number.as_ref().is_some_and(Number::has_check_digit),
    }
}

/// Every pair of numbered objects within `within_m` of each other with confusable numbers,
/// nearest first. Scheme numbers: each number's confusable codewords are looked up directly
/// (a few hundred per number); numbers kept from sources are compared with their neighbours.
pub fn confusable_pairs(twin: &Twin, within_m: f64) -> Vec<Pair> {
    let width = twin.serial_width();
    let mut pairs: Vec<(u64, u64, f64)> = Vec::new();
    let mut note = |a: &Object, b: &Object| {
        let d = place::distance_m(a.geometry.anchor(), b.geometry.anchor());
        if d <= within_m {
            let (x, y) = if a.id < b.id {
                (a.id, b.id)
            } else {
                (b.id, a.id)
            };
            pairs.push((x, y, d));
        }
    };
    for o in twin.objects() {
        let Some(n) = &o.number else { continue };
        let digits = n.digits(width);
        match n {
            Number::Scheme { .. } => confusable::for_each_confusable_codeword(&digits, |code| {
                let serial = code[..code.len() - 1]
                    .iter()
                    .fold(0u32, |s, d| s * 10 + u32::from(*d));
                if let Some(other) = twin.by_serial(serial)
                    && other.id > o.id
                {
                    note(o, other);
                }
                true
            }),
            Number::Source(_) => {
                // Neighbours of every numbered layer within the distance.
                let p = o.geometry.anchor();
                let dlat = within_m / 111_195.0;
                let dlon = dlat / p[1].to_radians().cos().max(0.01);
                let bbox = [p[0] - dlon, p[1] - dlat, p[0] + dlon, p[1] + dlat];
                for l in twin.layers().ids() {
                    let def = twin.layers().def(l);
                    if !def.numbered {
                        continue;
                    }
                    for id in twin.query(l, bbox) {
                        let Some(other) = twin.get(id) else { continue };
                        let Some(m) = &other.number else { continue };
                        // Pairs of two source numbers once; a source number with a scheme
                        // number always from the source number's side.
                        if matches!(m, Number::Source(_)) && other.id <= o.id {
                            continue;
                        }
                        if confusable::confusable(&digits, &m.digits(width)) {
                            note(o, other);
                        }
                    }
                }
            }
        }
    }
    pairs.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    pairs.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    pairs
        .into_iter()
        .filter_map(|(x, y, d)| {
            Some(Pair {
                a: side(twin, twin.get(x)?),
                b: side(twin, twin.get(y)?),
                distance_m: place::round_m(d),
                suggestion: None,
            })
        })
        .collect()
}
