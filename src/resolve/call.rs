//! A call's record: what the call-taker typed during one call and the place they chose, checked
//! against the twin before it goes into the hash-chained history (`POST /dispatch/calls`).

use serde::{Deserialize, Serialize};

use super::ResolveError;
use super::number::bad;
use crate::access::Visible;
use crate::twin::Twin;

/// Most queries kept for one call.
pub const MAX_QUERIES: usize = 200;

/// One query sent during the call.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallQuery {
    /// The text as typed.
    pub q: String,
    /// Milliseconds since the call started.
    pub t_ms: u64,
    /// The caller's area at that moment, `[lat, lon]`.
    pub near: Option<[f64; 2]>,
}

/// The place chosen.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Chosen {
    /// `object` (a numbered object), `address` or `located` (from several numbers read).
    pub kind: String,
    /// The painted number (objects) or the address text.
    pub number: String,
    pub layer: String,
    pub lon: f64,
    pub lat: f64,
    /// The resolver's rule for this candidate (`exact`, `misheard_digit`, …).
    pub rule: String,
    pub confidence: f64,
}

/// A call's record as the page sends it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRecord {
    /// The queries of the call in the order sent.
    pub queries: Vec<CallQuery>,
    /// The caller's area when the place was chosen, `[lat, lon]`.
    pub near: Option<[f64; 2]>,
    /// The place chosen; none when the call ended without one.
    pub chosen: Option<Chosen>,
    /// The page's language, `uk` or `en`.
    pub lang: Option<String>,
}

fn position(field: &'static str, lat: f64, lon: f64) -> Result<(), ResolveError> {
    if lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0 {
        Ok(())
    } else {
        Err(bad(
            field,
            format!("{lat},{lon} is not a position (lat,lon)"),
        ))
    }
}

impl CallRecord {
    /// Checks the record (sizes, positions, and that a chosen object is one the caller may
    /// see with that number, in that layer) and returns it as kept in the history.
    pub fn check(&self, twin: &Twin, visible: &Visible) -> Result<serde_json::Value, ResolveError> {
        if self.queries.len() > MAX_QUERIES {
            return Err(bad(
                "queries",
                format!("{} queries; at most {MAX_QUERIES}", self.queries.len()),
            ));
        }
        if self.queries.is_empty() && self.chosen.is_none() {
            return Err(bad(
                "queries",
                "an empty call: no query and no place chosen",
            ));
        }
        for (i, q) in self.queries.iter().enumerate() {
            if q.q.chars().count() > super::number::MAX_QUERY {
                return Err(bad(
                    "queries",
                    format!(
                        "query {i} is longer than {} characters",
                        super::number::MAX_QUERY
                    ),
                ));
            }
            if let Some([lat, lon]) = q.near {
                position("queries", lat, lon)?;
            }
        }
        if let Some([lat, lon]) = self.near {
            position("near", lat, lon)?;
        }
        if let Some(l) = &self.lang
            && !matches!(l.as_str(), "uk" | "en")
        {
            return Err(bad("lang", format!("{l:?} is not uk or en")));
        }
        if let Some(c) = &self.chosen {
            position("chosen", c.lat, c.lon)?;
            if !(c.confidence.is_finite() && (0.0..=1.0).contains(&c.confidence)) {
                return Err(bad(
                    "chosen",
                    format!("confidence {} is outside 0..=1", c.confidence),
                ));
            }
            if c.number.trim().is_empty() || c.number.chars().count() > 200 {
                return Err(bad("chosen", "number: empty or longer than 200 characters"));
            }
            match c.kind.as_str() {
                "object" => {
                    let found = twin.find_number(&c.number);
                    let o = found
                        .iter()
                        .find(|o| visible.shows(o) && twin.layers().def(o.layer).name == c.layer)
                        .ok_or_else(|| {
                            bad(
                                "chosen",
                                format!("no object of layer {} has number {}", c.layer, c.number),
                            )
                        })?;
                    let [lon, lat] = o.geometry.anchor();
                    if super::place::distance_m([lon, lat], [c.lon, c.lat]) > 1.0 {
                        return Err(bad(
                            "chosen",
                            format!(
                                "{} is at {lat:.6},{lon:.6}, not where the record says",
                                c.number
                            ),
                        ));
                    }
                }
                "address" if matches!(c.layer.as_str(), "addresses" | "streets" | "districts") => {}
                "located" if c.layer.is_empty() => {}
                "address" | "located" => {
                    return Err(bad(
                        "chosen",
                        format!(
                            "a chosen {} has layer {:?}: an address is of addresses, streets or districts; a located place of none",
                            c.kind, c.layer
                        ),
                    ));
                }
                k => {
                    return Err(bad(
                        "chosen",
                        format!("kind {k:?} is not object, address or located"),
                    ));
                }
            }
        }
        serde_json::to_value(self).map_err(|e| bad("body", e.to_string()))
    }
}
