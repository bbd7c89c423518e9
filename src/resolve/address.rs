//! Address and street questions to `/resolve`: "Соборний 45", "вул. Перемоги 12", an old
//! street name → the address point (or the street) and its nearest numbered landmarks, with
//! the street's current name.

use super::nearest::{self, Landmark, NearestQuery};
use super::number::{Candidate, ResolveQuery};
use super::place;
use super::streets::{Found, StreetIndex};
use crate::model::{Object, ObjectId};
use crate::twin::Twin;

/// Landmarks named with an address.
const LANDMARKS: usize = 3;
/// How far a landmark may be from the address, metres.
const LANDMARK_RADIUS_M: f64 = 300.0;

/// Address points of the house number asked for closer than this are one place (a
/// building's entrances), metres.
const SAME_HOUSE_M: f64 = 150.0;

/// An address candidate before it is weighed: the object (an address point or a street's
/// way), the rule, its cost, the name the caller used when it is not the current one.
pub struct Place<'a> {
    pub object: &'a Object,
    pub street: String,
    pub rule: &'static str,
    pub cost: f64,
    pub via: Option<String>,
    /// `via` is a former name.
    pub old: bool,
}

/// The places the streets found and the house number heard (if any) can be.
pub fn places<'t>(
    twin: &'t Twin,
    ix: &StreetIndex,
    found: &[Found],
    house: Option<&str>,
    near: Option<[f64; 2]>,
    limit: usize,
) -> Vec<Place<'t>> {
    let mut out = Vec::new();
    for f in found {
        let street = &ix.streets[f.street];
        // The caller used a name the street no longer has: a little less sure.
        let renamed = if f.via.is_some() { 0.2 } else { 0.0 };
        let ids: Vec<(ObjectId, &'static str, f64)> = match house {
            Some(h) => {
                let (ids, rule) = ix.houses(f.street, h);
                let c = match rule {
                    "address" => 0.0,
                    "address_other_letter" => 0.5,
                    _ => 1.0,
                };
                ids.into_iter().map(|id| (id, rule, c)).collect()
            }
            None if street.district => street
                .ways
                .iter()
                .map(|&id| (id, "district", 0.5))
                .collect(),
            None => street_points(twin, &street.houses, &street.ways, near, limit),
        };
        // One building often has several address points (entrances): one place per house.
        let mut kept: Vec<[f64; 2]> = Vec::new();
        for (id, rule, c) in ids {
            if let Some(o) = twin.get(id) {
                let at = o.geometry.anchor();
                if rule == "address"
                    && kept
                        .iter()
                        .any(|k| place::distance_m(*k, at) < SAME_HOUSE_M)
                {
                    continue;
                }
                kept.push(at);
                out.push(Place {
                    object: o,
                    street: street.name.clone(),
                    rule,
                    cost: c + renamed,
                    via: f.via.clone(),
                    old: f.old,
                });
            }
        }
    }
    out
}

/// A street named without a house: its addresses nearest to the caller, or (no area) the
/// middle one; a street without addresses, its way nearest to the caller, or its first.
fn street_points(
    twin: &Twin,
    houses: &[(String, String, ObjectId)],
    ways: &[ObjectId],
    near: Option<[f64; 2]>,
    limit: usize,
) -> Vec<(ObjectId, &'static str, f64)> {
    let ids: Vec<ObjectId> = if houses.is_empty() {
        ways.to_vec()
    } else {
        houses.iter().map(|h| h.2).collect()
    };
    let chosen: Vec<ObjectId> = match near {
        Some(at) => {
            let mut by: Vec<(f64, ObjectId)> = ids
                .iter()
                .filter_map(|&id| {
                    let o = twin.get(id)?;
                    Some((place::distance_m(at, o.geometry.anchor()), id))
                })
                .collect();
            by.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            by.into_iter().take(limit).map(|b| b.1).collect()
        }
        None => ids.get(ids.len() / 2).copied().into_iter().collect(),
    };
    chosen.into_iter().map(|id| (id, "street", 0.5)).collect()
}

/// The candidate of a place, with its landmarks and a phrase for the crew.
pub fn candidate(
    twin: &Twin,
    p: &Place<'_>,
    confidence: f64,
    d: Option<f64>,
    rq: &ResolveQuery,
) -> Candidate {
    let at = p.object.geometry.anchor();
    let text = place::address_text(p.object).unwrap_or_else(|| p.street.clone());
    let landmarks: Vec<Landmark> = nearest::nearest(
        twin,
        &NearestQuery {
            lat: at[1],
            lon: at[0],
            k: LANDMARKS,
            layers: Vec::new(),
            visible: rq.visible.clone(),
            max_m: LANDMARK_RADIUS_M,
        },
    )
    .unwrap_or_default();
    let plus_code = super::number::plus_code(at);
    let (was_uk, was_en) = match (&p.via, p.old) {
        (Some(v), true) => (format!(" (колишня назва: {v})"), format!(" (formerly {v})")),
        (Some(v), false) => (format!(" (також: {v})"), format!(" (also {v})")),
        (None, _) => (String::new(), String::new()),
    };
    let (phrase_uk, phrase_en) = match landmarks.first() {
        Some(l) => {
            // The landmark as seen from the address.
            let c = place::compass(l.bearing_deg);
            (
                format!(
                    "{text}{was_uk}; поруч {} {}, {} м на {}",
                    twin.layers()
                        .by_name(&l.layer)
                        .map(|id| twin.layers().def(id).title_uk.to_lowercase())
                        .unwrap_or_default(),
                    l.number,
                    l.distance_m.round(),
                    c.uk
                ),
                format!(
                    "{text}{was_en}; {} {} is {} m {}",
                    twin.layers()
                        .by_name(&l.layer)
                        .map(|id| twin.layers().def(id).title_en.to_lowercase())
                        .unwrap_or_default(),
                    l.number_latin,
                    l.distance_m.round(),
                    c.en
                ),
            )
        }
        None => (
            format!("{text}{was_uk}, плюс-код {plus_code}"),
            format!("{text}{was_en}, plus code {plus_code}"),
        ),
    };
    Candidate {
        kind: "address".into(),
        number: text.clone(),
        number_latin: text.clone(),
        layer: twin.layers().def(p.object.layer).name.clone(),
        lon: at[0],
        lat: at[1],
        plus_code,
        address: Some(text),
        address_distance_m: Some(0.0),
        distance_m: d.map(place::round_m),
        confidence: (confidence * 1000.0).round() / 1000.0,
        rule: p.rule.to_string(),
        status: p.object.status.as_str().into(),
        phrase_uk,
        phrase_en,
        matched_name: p.via.clone(),
        landmarks,
    }
}
