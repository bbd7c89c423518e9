//! The data-quality audit of a shelter list: what makes a shelter map lie. Real lists hold
//! rows with no coordinates (which never reach the map), dozens of shelters stacked on one
//! point (a geocoder that fell back to the city centre), positions outside the city,
//! the same address listed twice, and no capacity (the figure the city reports yearly).

use std::collections::BTreeMap;

use serde::Serialize;

use super::hours;
use super::info::ShelterInfo;
use crate::model::Object;

/// Shelters on one point from this many on are a stack.
pub const STACK: usize = 3;
/// Items listed per finding (the counts are whole).
pub const LISTED: usize = 100;

/// A rejected source row, as an import recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RejectedRow {
    pub file: String,
    pub line: u64,
    pub field: String,
    pub reason: String,
}

/// One shelter as a finding names it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Named {
    pub id: u64,
    pub number: Option<String>,
    pub address: Option<String>,
    pub lon: f64,
    pub lat: f64,
    /// Where it came from: source file and row or id.
    pub source: String,
}

/// Shelters stacked on one point.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stack {
    pub lon: f64,
    pub lat: f64,
    pub count: usize,
    pub shelters: Vec<Named>,
}

/// Shelters listed at one address.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SameAddress {
    pub address: String,
    pub count: usize,
    pub shelters: Vec<Named>,
}

/// A finding: how many, and the first [`LISTED`] of them.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Finding<T> {
    pub count: usize,
    pub items: Vec<T>,
}

impl<T> Default for Finding<T> {
    fn default() -> Self {
        Finding {
            count: 0,
            items: Vec::new(),
        }
    }
}

impl<T> Finding<T> {
    fn add(&mut self, t: T) {
        self.count += 1;
        if self.items.len() < LISTED {
            self.items.push(t);
        }
    }
}

/// The audit of a list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ShelterAudit {
    /// Shelters audited (those placed on the map).
    pub shelters: usize,
    /// Source rows the imports rejected for having no usable coordinates: not on the map.
    #[schema(value_type = Object)]
    pub no_coordinates: Finding<RejectedRow>,
    /// Other rejected rows.
    #[schema(value_type = Object)]
    pub rejected_otherwise: Finding<RejectedRow>,
    /// Points carrying [`STACK`] or more shelters (`count` is the number of such points;
    /// `stacked_shelters` the shelters on them).
    #[schema(value_type = Object)]
    pub stacked: Finding<Stack>,
    pub stacked_shelters: usize,
    /// Shelters outside the city's bounds (`null` when the bounds are not known).
    #[schema(value_type = Option<Object>)]
    pub outside_city: Option<Finding<Named>>,
    /// The bounds used: `[west, south, east, north]`.
    pub city_bounds: Option<[f64; 4]>,
    /// Addresses listed more than once.
    #[schema(value_type = Object)]
    pub duplicate_addresses: Finding<SameAddress>,
    #[schema(value_type = Object)]
    pub missing_capacity: Finding<Named>,
    #[schema(value_type = Object)]
    pub missing_address: Finding<Named>,
    /// Step-free access not stated.
    pub accessibility_unknown: usize,
    /// Opening hours that cannot be read as OSM `opening_hours`.
    #[schema(value_type = Object)]
    pub unreadable_hours: Finding<Named>,
}

fn named(o: &Object, i: &ShelterInfo, number: Option<String>) -> Named {
    let [lon, lat] = o.geometry.anchor();
    Named {
        id: o.id,
        number,
        address: i.address.clone(),
        lon,
        lat,
        source: if o.source.file.is_empty() {
            String::new()
        } else {
            format!("{}:{}", o.source.file, o.source.id)
        },
    }
}

/// Whether a rejected row was rejected for its position.
fn about_position(r: &RejectedRow) -> bool {
    let f = r.field.to_lowercase();
    let why = r.reason.to_lowercase();
    [
        "lat",
        "lon",
        "x",
        "y",
        "geometry",
        "coordinates",
        "position",
    ]
    .contains(&f.as_str())
        || f.contains("latitude")
        || f.contains("longitude")
        || why.contains("coordinate")
        || why.contains("no position")
}

/// Audits `shelters` (each with its painted number as shown), with the rows the imports
/// rejected, against the city's bounds when known.
pub fn audit<'a>(
    shelters: impl IntoIterator<Item = (&'a Object, Option<String>)>,
    rejected: &[RejectedRow],
    city_bounds: Option<[f64; 4]>,
) -> ShelterAudit {
    let mut a = ShelterAudit {
        shelters: 0,
        no_coordinates: Finding::default(),
        rejected_otherwise: Finding::default(),
        stacked: Finding::default(),
        stacked_shelters: 0,
        outside_city: city_bounds.map(|_| Finding::default()),
        city_bounds,
        duplicate_addresses: Finding::default(),
        missing_capacity: Finding::default(),
        missing_address: Finding::default(),
        accessibility_unknown: 0,
        unreadable_hours: Finding::default(),
    };
    for r in rejected {
        if about_position(r) {
            a.no_coordinates.add(r.clone());
        } else {
            a.rejected_otherwise.add(r.clone());
        }
    }
    // Points to about a metre (1e-5°), addresses folded.
    let mut points: BTreeMap<(i64, i64), Vec<Named>> = BTreeMap::new();
    let mut addresses: BTreeMap<String, Vec<Named>> = BTreeMap::new();
    for (o, number) in shelters {
        a.shelters += 1;
        let i = ShelterInfo::of(o);
        let n = named(o, &i, number);
        let key = ((n.lon * 1e5).round() as i64, (n.lat * 1e5).round() as i64);
        points.entry(key).or_default().push(n.clone());
        match &i.address {
            Some(addr) => {
                let folded = addr
                    .to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                addresses.entry(folded).or_default().push(n.clone());
            }
            None => a.missing_address.add(n.clone()),
        }
        if i.capacity.is_none() {
            a.missing_capacity.add(n.clone());
        }
        if i.accessible.is_none() {
            a.accessibility_unknown += 1;
        }
        if let Some(h) = &i.opening_hours
            && !hours::readable(h)
        {
            a.unreadable_hours.add(n.clone());
        }
        if let (Some(out), Some(b)) = (a.outside_city.as_mut(), city_bounds)
            && !(n.lon >= b[0] && n.lon <= b[2] && n.lat >= b[1] && n.lat <= b[3])
        {
            out.add(n);
        }
    }
    let mut stacks: Vec<Stack> = points
        .into_values()
        .filter(|v| v.len() >= STACK)
        .map(|v| Stack {
            lon: v[0].lon,
            lat: v[0].lat,
            count: v.len(),
            shelters: v.into_iter().take(20).collect(),
        })
        .collect();
    stacks.sort_by_key(|s| std::cmp::Reverse(s.count));
    a.stacked_shelters = stacks.iter().map(|s| s.count).sum();
    for s in stacks {
        a.stacked.add(s);
    }
    let mut same: Vec<SameAddress> = addresses
        .into_values()
        .filter(|v| v.len() >= 2)
        .map(|v| SameAddress {
            address: v[0].address.clone().unwrap_or_default(),
            count: v.len(),
            shelters: v.into_iter().take(20).collect(),
        })
        .collect();
    same.sort_by(|x, y| y.count.cmp(&x.count).then(x.address.cmp(&y.address)));
    for s in same {
        a.duplicate_addresses.add(s);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attributes, Geometry, Status, Value};

    fn shelter(id: u64, at: [f64; 2], address: &str, capacity: Option<i64>) -> Object {
        let mut a = Attributes::new();
        a.insert("address".into(), Value::text(address));
        if let Some(c) = capacity {
            a.insert("capacity".into(), Value::Int(c));
        }
        Object {
            id,
            layer: 3,
            number: None,
            geometry: Geometry::Point(at),
            status: Status::Unknown,
            status_changed: 0,
            attributes: a,
            source: Default::default(),
            created: 0,
            updated: 0,
        }
    }

    #[test]
    fn stacks_duplicates_strays_and_gaps_are_found() {
        let centre = [30.5234, 50.4501];
        let list = [
            shelter(1, centre, "вул. Хрещатик, 1", Some(100)),
            shelter(2, centre, "вул. Хрещатик, 2", None),
            shelter(3, [30.523_400_4, 50.450_100_3], "вул. Хрещатик, 3", None),
            shelter(4, [30.61, 50.41], "вул. Ахматової, 13", Some(50)),
            shelter(5, [30.62, 50.42], "Вул. Ахматової 13", Some(70)),
            shelter(6, [24.94, 60.17], "Mannerheimintie 5", Some(10)),
        ];
        let rejected = vec![
            RejectedRow {
                file: "0.csv".into(),
                line: 7,
                field: "latitude".into(),
                reason: "empty".into(),
            },
            RejectedRow {
                file: "0.csv".into(),
                line: 9,
                field: "ramp".into(),
                reason: "not a yes/no".into(),
            },
        ];
        let a = audit(
            list.iter().map(|o| (o, None)),
            &rejected,
            Some([30.2, 50.2, 30.9, 50.6]),
        );
        assert_eq!(a.shelters, 6);
        assert_eq!(a.no_coordinates.count, 1);
        assert_eq!(a.rejected_otherwise.count, 1);
        assert_eq!(a.stacked.count, 1);
        assert_eq!(a.stacked.items[0].count, 3);
        assert_eq!(a.stacked_shelters, 3);
        assert_eq!(a.duplicate_addresses.count, 1);
        assert_eq!(a.duplicate_addresses.items[0].count, 2);
        assert_eq!(a.missing_capacity.count, 2);
        let out = a.outside_city.unwrap();
        assert_eq!(out.count, 1);
        assert_eq!(out.items[0].id, 6);
        assert_eq!(a.accessibility_unknown, 6);
    }
}
