//! A shelter as residents and staff read it, from the attributes the importers keep: legal
//! type, kind, address, capacity and area, step-free access, opening hours, owner and phone,
//! status and when it was last verified. The sources name and spell these in many ways (the
//! Kyiv lists in Ukrainian with stray quotes, OSM in tags); this module reads every spelling
//! and leaves the stored attributes as published.

use serde::Serialize;

use crate::model::{Object, Status, Value};

/// Legal type of a civil-protection structure (Ukraine's Civil Protection Code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegalType {
    /// Сховище: a blast shelter.
    BlastShelter,
    /// Протирадіаційне укриття (ПРУ).
    RadiationShelter,
    /// Споруда подвійного призначення: a building used otherwise in peacetime.
    DualUse,
    /// Найпростіше укриття: a basement, a cellar, an underpass.
    SimpleShelter,
    Unknown,
}

impl LegalType {
    pub const ALL: [LegalType; 5] = [
        LegalType::BlastShelter,
        LegalType::RadiationShelter,
        LegalType::DualUse,
        LegalType::SimpleShelter,
        LegalType::Unknown,
    ];

    pub fn code(self) -> &'static str {
        match self {
            LegalType::BlastShelter => "blast_shelter",
            LegalType::RadiationShelter => "radiation_shelter",
            LegalType::DualUse => "dual_use",
            LegalType::SimpleShelter => "simple_shelter",
            LegalType::Unknown => "unknown",
        }
    }

    pub fn uk(self) -> &'static str {
        match self {
            LegalType::BlastShelter => "Сховище",
            LegalType::RadiationShelter => "Протирадіаційне укриття",
            LegalType::DualUse => "Споруда подвійного призначення",
            LegalType::SimpleShelter => "Найпростіше укриття",
            LegalType::Unknown => "Тип не вказано",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            LegalType::BlastShelter => "Blast shelter",
            LegalType::RadiationShelter => "Radiation shelter",
            LegalType::DualUse => "Dual-use structure",
            LegalType::SimpleShelter => "Simple shelter",
            LegalType::Unknown => "Type not given",
        }
    }

    /// Reads a legal type as the sources write it (Ukrainian or English, any case, quoted).
    pub fn read(text: &str) -> LegalType {
        let t = fold(text);
        if t.contains("подвійн") || t.contains("dual") {
            LegalType::DualUse
        } else if t.contains("протирад") || t == "пру" || t.contains("radiation") {
            LegalType::RadiationShelter
        } else if t.contains("найпрост") || t.contains("simple") || t.contains("basic") {
            LegalType::SimpleShelter
        } else if t.contains("сховищ") || t.contains("blast") {
            LegalType::BlastShelter
        } else {
            LegalType::Unknown
        }
    }
}

/// What kind of place it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Basement,
    Parking,
    Underpass,
    Metro,
    Bunker,
    Other,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Kind::Basement => "basement",
            Kind::Parking => "parking",
            Kind::Underpass => "underpass",
            Kind::Metro => "metro",
            Kind::Bunker => "bunker",
            Kind::Other => "other",
        }
    }

    pub fn uk(self) -> &'static str {
        match self {
            Kind::Basement => "Підвал",
            Kind::Parking => "Підземний паркінг",
            Kind::Underpass => "Підземний перехід",
            Kind::Metro => "Станція метро",
            Kind::Bunker => "Бункер",
            Kind::Other => "Інше",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Kind::Basement => "Basement",
            Kind::Parking => "Underground car park",
            Kind::Underpass => "Underpass",
            Kind::Metro => "Metro station",
            Kind::Bunker => "Bunker",
            Kind::Other => "Other",
        }
    }

    fn read(text: &str) -> Option<Kind> {
        let t = fold(text);
        Some(
            if t.contains("метро") || t.contains("metro") || t.contains("subway") {
                Kind::Metro
            } else if t.contains("паркінг") || t.contains("parking") || t.contains("автопарк")
            {
                Kind::Parking
            } else if t.contains("перехід") || t.contains("underpass") {
                Kind::Underpass
            } else if t.contains("підвал") || t.contains("basement") || t.contains("cellar") {
                Kind::Basement
            } else if t.contains("бункер") || t.contains("bunker") {
                Kind::Bunker
            } else if t.is_empty() {
                return None;
            } else {
                Kind::Other
            },
        )
    }
}

/// A shelter's status as the map shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShelterStatus {
    Open,
    Closed,
    /// Someone reported it locked, and no one has verified it open since.
    LockedReported,
    Unknown,
}

impl ShelterStatus {
    pub const ALL: [ShelterStatus; 4] = [
        ShelterStatus::Open,
        ShelterStatus::Closed,
        ShelterStatus::LockedReported,
        ShelterStatus::Unknown,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ShelterStatus::Open => "open",
            ShelterStatus::Closed => "closed",
            ShelterStatus::LockedReported => "locked_reported",
            ShelterStatus::Unknown => "unknown",
        }
    }
}

/// Attribute names this module reads, first found wins (the canonical name first).
pub mod keys {
    pub const LEGAL_TYPE: &[&str] = &["legal_type", "closure_type", "shelter:legal_type"];
    pub const KIND: &[&str] = &["kind", "shelter_type", "shelter:kind"];
    pub const CAPACITY: &[&str] = &["capacity", "capacity:persons"];
    pub const AREA: &[&str] = &["area_m2", "area"];
    pub const HOURS: &[&str] = &["opening_hours"];
    pub const OWNER: &[&str] = &["owner", "operator"];
    pub const PHONE: &[&str] = &["phone", "contact:phone"];
    pub const VERIFIED: &[&str] = &["verified_at", "check_date"];
    pub const LOCKED: &[&str] = &["locked_reported"];
}

/// Lower case, quotes and extra spaces gone, Latin look-alikes of Cyrillic letters kept.
fn fold(s: &str) -> String {
    s.trim()
        .trim_matches(|c| matches!(c, '"' | '«' | '»' | '\'' | '“' | '”'))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn first<'o>(o: &'o Object, names: &[&str]) -> Option<&'o Value> {
    names.iter().find_map(|k| o.attributes.get(k))
}

fn text(o: &Object, names: &[&str]) -> Option<String> {
    first(o, names)
        .map(|v| v.as_text())
        .map(|s| s.trim().trim_matches('"').trim().to_string())
        .filter(|s| !s.is_empty())
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) if f.is_finite() => Some(*f),
        Value::Text(t) => {
            let digits: String = t
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
                .map(|c| if c == ',' { '.' } else { c })
                .collect();
            digits.parse().ok()
        }
        _ => None,
    }
}

fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Int(i) => Some(*i != 0),
        Value::Text(t) => match fold(t).as_str() {
            "yes" | "true" | "1" | "так" | "в наявності" | "є" | "designated" | "limited" => {
                Some(true)
            }
            "no" | "false" | "0" | "ні" | "відсутній" | "відсутня" | "немає" => {
                Some(false)
            }
            _ => None,
        },
        Value::Float(_) => None,
    }
}

/// A shelter's facts, read from its object.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ShelterInfo {
    pub legal_type: LegalType,
    pub legal_type_uk: &'static str,
    pub legal_type_en: &'static str,
    pub kind: Option<Kind>,
    pub kind_uk: Option<&'static str>,
    pub kind_en: Option<&'static str>,
    pub address: Option<String>,
    /// People it holds.
    pub capacity: Option<u32>,
    pub area_m2: Option<f64>,
    /// Step-free entry (a ramp or level access) for a wheelchair or a pram: `null` when the
    /// source does not say.
    pub accessible: Option<bool>,
    /// Opening hours in OpenStreetMap's `opening_hours` syntax, as published.
    pub opening_hours: Option<String>,
    pub owner: Option<String>,
    pub phone: Option<String>,
    pub status: ShelterStatus,
    /// When staff last verified it (as recorded: a date or a date and time).
    pub verified_at: Option<String>,
}

impl ShelterInfo {
    pub fn of(o: &Object) -> ShelterInfo {
        let legal = text(o, keys::LEGAL_TYPE).map_or(LegalType::Unknown, |t| LegalType::read(&t));
        let kind_text = text(o, keys::KIND);
        let kind = kind_text
            .as_deref()
            .and_then(Kind::read)
            .or_else(|| osm_kind(o));
        ShelterInfo {
            legal_type: legal,
            legal_type_uk: legal.uk(),
            legal_type_en: legal.en(),
            kind,
            kind_uk: kind.map(Kind::uk),
            kind_en: kind.map(Kind::en),
            address: address(o),
            capacity: first(o, keys::CAPACITY)
                .and_then(number)
                .filter(|c| *c >= 1.0 && *c < 1e7)
                .map(|c| c.round() as u32),
            area_m2: first(o, keys::AREA).and_then(number).filter(|a| *a > 0.0),
            accessible: accessible(o, kind_text.as_deref()),
            opening_hours: text(o, keys::HOURS),
            owner: text(o, keys::OWNER),
            phone: text(o, keys::PHONE),
            status: status(o),
            verified_at: text(o, keys::VERIFIED),
        }
    }
}

/// The kind an OSM object's tags tell.
fn osm_kind(o: &Object) -> Option<Kind> {
    let get = |k: &str| o.attributes.get(k).map(|v| fold(&v.as_text()));
    if get("building").as_deref() == Some("bunker") || get("bunker_type").is_some() {
        return Some(Kind::Bunker);
    }
    if get("station").as_deref() == Some("subway") || get("subway").as_deref() == Some("yes") {
        return Some(Kind::Metro);
    }
    if get("parking").as_deref() == Some("underground") {
        return Some(Kind::Parking);
    }
    if get("location").as_deref() == Some("underground") {
        return Some(Kind::Basement);
    }
    None
}

/// Step-free access: an explicit `accessible` (the Kyiv lists' ramp column) or OSM
/// `wheelchair`/`ramp:wheelchair`, else a kind that says "з пандусом" (with a ramp).
fn accessible(o: &Object, kind: Option<&str>) -> Option<bool> {
    ["accessible", "wheelchair", "ramp:wheelchair", "ramp"]
        .iter()
        .find_map(|k| o.attributes.get(k).and_then(truthy))
        .or_else(|| {
            kind.filter(|k| fold(k).contains("пандус") || fold(k).contains("ramp"))
                .map(|_| true)
        })
}

/// The address as one line: `address` with `address_number` (the Kyiv lists), or OSM's
/// `addr:street` with `addr:housenumber`.
fn address(o: &Object) -> Option<String> {
    let get = |k: &str| {
        o.attributes
            .get(k)
            .map(|v| v.as_text().trim().trim_matches('"').trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let street = get("address")
        .or_else(|| get("addr:street"))
        .or_else(|| get("addr:place"));
    let house = get("address_number").or_else(|| get("addr:housenumber"));
    match (street, house) {
        (Some(s), Some(h)) if !s.contains(&h) => Some(format!("{s}, {h}")),
        (Some(s), _) => Some(s),
        (None, Some(h)) => Some(h),
        (None, None) => None,
    }
}

fn status(o: &Object) -> ShelterStatus {
    match o.status {
        Status::Closed | Status::Removed | Status::Broken | Status::Hazard => ShelterStatus::Closed,
        Status::LockedReported => ShelterStatus::LockedReported,
        _ if first(o, keys::LOCKED).is_some_and(|v| truthy(v) != Some(false)) => {
            ShelterStatus::LockedReported
        }
        Status::Ok => ShelterStatus::Open,
        Status::Unknown => ShelterStatus::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Attributes;

    fn shelter(attrs: &[(&str, Value)], status: Status) -> Object {
        let mut a = Attributes::new();
        for (k, v) in attrs {
            a.insert(k.to_string(), v.clone());
        }
        Object {
            id: 1,
            layer: 3,
            number: None,
            geometry: crate::model::Geometry::Point([30.5, 50.4]),
            status,
            status_changed: 0,
            attributes: a,
            source: Default::default(),
            created: 0,
            updated: 0,
        }
    }

    #[test]
    fn the_kyiv_lists_read_as_published() {
        let o = shelter(
            &[
                ("closure_type", Value::text("\"Подвійного призначення\"")),
                ("shelter_type", Value::text("Підземний паркінг з пандусом")),
                ("address", Value::text(" вул. Ахматової Анни")),
                ("address_number", Value::text("13-Г")),
                ("phone", Value::text("572-29-75")),
                ("owner", Value::text("ТОВ «Рада»")),
            ],
            Status::Unknown,
        );
        let i = ShelterInfo::of(&o);
        assert_eq!(i.legal_type, LegalType::DualUse);
        assert_eq!(i.kind, Some(Kind::Parking));
        assert_eq!(i.accessible, Some(true));
        assert_eq!(i.address.as_deref(), Some("вул. Ахматової Анни, 13-Г"));
        assert_eq!(i.status, ShelterStatus::Unknown);
        assert_eq!(i.capacity, None);
        let simple = shelter(
            &[
                ("closure_type", Value::text("Найпростіші укриття")),
                ("accessible", Value::Bool(false)),
            ],
            Status::Ok,
        );
        let i = ShelterInfo::of(&simple);
        assert_eq!(i.legal_type, LegalType::SimpleShelter);
        assert_eq!(i.accessible, Some(false));
        assert_eq!(i.status, ShelterStatus::Open);
    }

    #[test]
    fn osm_tags_and_reports_read_too() {
        let o = shelter(
            &[
                ("building", Value::text("bunker")),
                ("wheelchair", Value::text("no")),
                ("capacity", Value::text("120")),
                ("opening_hours", Value::text("24/7")),
                ("addr:street", Value::text("Mannerheimintie")),
                ("addr:housenumber", Value::text("5")),
                ("locked_reported", Value::text("2026-12-01T22:10")),
            ],
            Status::Ok,
        );
        let i = ShelterInfo::of(&o);
        assert_eq!(i.kind, Some(Kind::Bunker));
        assert_eq!(i.accessible, Some(false));
        assert_eq!(i.capacity, Some(120));
        assert_eq!(i.address.as_deref(), Some("Mannerheimintie, 5"));
        assert_eq!(i.status, ShelterStatus::LockedReported);
        let closed = shelter(&[], Status::Closed);
        assert_eq!(ShelterInfo::of(&closed).status, ShelterStatus::Closed);
    }
}
