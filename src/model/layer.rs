//! Layers: the configurable set of object kinds (poles, manholes, …) and their number codes.

use serde::{Deserialize, Serialize};

/// The basemap's layers in the built-in set: what maps draw under the city's objects.
pub const BASEMAP: &[&str] = &[
    "landuse",
    "green",
    "water",
    "waterways",
    "bridges",
    "buildings",
    "railways",
];

/// Index of a layer in [`Layers`]; small so that objects stay small in memory.
pub type LayerId = u16;

/// What geometry a layer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GeometryKind {
    Point,
    Line,
    /// Areas: each object one or more polygons with holes (a building, a lake, a park).
    Polygon,
}

impl GeometryKind {
    /// The GeoPackage / OGC geometry type name.
    pub fn ogc_name(self) -> &'static str {
        match self {
            GeometryKind::Point => "POINT",
            GeometryKind::Line => "LINESTRING",
            GeometryKind::Polygon => "MULTIPOLYGON",
        }
    }
}

/// One layer as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerDef {
    /// Table and API name, e.g. `poles`. Lowercase ASCII letters, digits and `_`.
    pub name: String,
    /// Ukrainian layer code painted before the serial, e.g. `ОП`. Empty for unnumbered layers.
    #[serde(default)]
    pub code: String,
    /// Latin transliteration of `code`, e.g. `OP`.
    #[serde(default)]
    pub latin: String,
    pub geometry: GeometryKind,
    /// Whether objects of this layer carry painted numbers.
    #[serde(default = "yes")]
    pub numbered: bool,
    /// Human titles used in phrases and pages.
    #[serde(default)]
    pub title_uk: String,
    #[serde(default)]
    pub title_en: String,
    /// Below this zoom the layer's points are drawn as clusters (with their counts) and its
    /// lines are left out of tiles.
    #[serde(default)]
    pub min_zoom: u8,
    /// `Cache-Control: max-age` of the layer's tiles, in seconds.
    #[serde(default = "default_max_age")]
    pub max_age_s: u32,
}

fn yes() -> bool {
    true
}

fn default_max_age() -> u32 {
    60
}

/// Errors in a layer set.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LayerError {
    #[error(
        "layer name {0:?} is not valid: use lowercase ASCII letters, digits and '_' (1-40 chars)"
    )]
    BadName(String),
    #[error("layer {0:?} is defined twice")]
    Duplicate(String),
    #[error("layer {layer:?}: code {code:?} is already used by layer {other:?}")]
    DuplicateCode {
        layer: String,
        code: String,
        other: String,
    },
    #[error("numbered layer {0:?} needs both `code` (Cyrillic) and `latin` codes made of letters")]
    MissingCode(String),
}

/// The ordered set of layers. Order is stable: a [`LayerId`] indexes into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Layers {
    defs: Vec<LayerDef>,
}

impl Layers {
    pub fn new(defs: Vec<LayerDef>) -> Result<Self, LayerError> {
        let mut seen_codes: Vec<(String, String)> = Vec::new();
        for (i, d) in defs.iter().enumerate() {
            let ok = !d.name.is_empty()
                && d.name.len() <= 40
                && d.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !d.name.starts_with(|c: char| c.is_ascii_digit());
            if !ok || d.name.starts_with("gpkg") || d.name.starts_with("citytwin") {
                return Err(LayerError::BadName(d.name.clone()));
            }
            if defs[..i].iter().any(|o| o.name == d.name) {
                return Err(LayerError::Duplicate(d.name.clone()));
            }
            if d.numbered {
                let letters = |s: &str| !s.is_empty() && s.chars().all(char::is_alphabetic);
                if !letters(&d.code) || !letters(&d.latin) {
                    return Err(LayerError::MissingCode(d.name.clone()));
                }
                for code in [d.code.to_uppercase(), d.latin.to_uppercase()] {
                    if let Some((other, _)) = seen_codes.iter().find(|(_, c)| *c == code) {
                        return Err(LayerError::DuplicateCode {
                            layer: d.name.clone(),
                            code,
                            other: other.clone(),
                        });
                    }
                    seen_codes.push((d.name.clone(), code));
                }
            }
        }
        Ok(Layers { defs })
    }

    /// The built-in city layers, used when the configuration names none.
    pub fn default_city() -> Self {
        let l = |name: &str, code: &str, latin: &str, geometry, uk: &str, en: &str, min_zoom| {
            LayerDef {
                name: name.into(),
                code: code.into(),
                latin: latin.into(),
                geometry,
                numbered: !code.is_empty(),
                title_uk: uk.into(),
                title_en: en.into(),
                min_zoom,
                max_age_s: default_max_age(),
            }
        };
        use GeometryKind::{Line, Point, Polygon};
        // Minimum zooms: at 14 a tile is about 1.6 km across here, so street furniture is
        // still countable; shelters and Wi-Fi matter from the district view.
        let defs = vec![
            l("poles", "ОП", "OP", Point, "Опора", "Pole", 14),
            l("manholes", "ЛК", "LK", Point, "Люк", "Manhole", 14),
            l("cameras", "КМ", "KM", Point, "Камера", "Camera", 13),
            l("shelters", "УК", "UK", Point, "Укриття", "Shelter", 11),
            l("wifi", "ВФ", "VF", Point, "Точка Wi-Fi", "Wi-Fi point", 12),
            l("trees", "ДР", "DR", Point, "Дерево", "Tree", 15),
            l("cabinets", "ШФ", "SHF", Point, "Шафа", "Street cabinet", 13),
            l(
                "fibre_nodes",
                "КЛ",
                "KL",
                Point,
                "Колодязь",
                "Fibre node",
                13,
            ),
            l("fibre_spans", "ПР", "PR", Line, "Проліт", "Fibre span", 10),
            l("addresses", "", "", Point, "Адреса", "Address", 16),
            l("streets", "", "", Line, "Вулиця", "Street", 12),
            l("barriers", "", "", Point, "Перешкода", "Barrier", 16),
            l("districts", "", "", Point, "Район", "District", 10),
            // The basemap: what a crew or a resident finds their way by. Areas and lines are
            // left out of tiles below their minimum zoom; areas smaller than a pixel are left
            // out at low zooms.
            l("buildings", "", "", Polygon, "Будівля", "Building", 13),
            l("water", "", "", Polygon, "Водойма", "Water", 0),
            l("waterways", "", "", Line, "Водотік", "Waterway", 8),
            l("green", "", "", Polygon, "Зелена зона", "Green area", 10),
            l("landuse", "", "", Polygon, "Забудова", "Land use", 10),
            l("railways", "", "", Line, "Залізниця", "Railway", 10),
            l("bridges", "", "", Polygon, "Міст", "Bridge", 13),
        ];
        // The built-in set is valid by construction; a failure here is a programming error.
        Layers::new(defs).expect("built-in layers are valid")
    }

    pub fn defs(&self) -> &[LayerDef] {
        &self.defs
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    pub fn get(&self, id: LayerId) -> Option<&LayerDef> {
        self.defs.get(id as usize)
    }

    pub fn def(&self, id: LayerId) -> &LayerDef {
        &self.defs[id as usize]
    }

    pub fn by_name(&self, name: &str) -> Option<LayerId> {
        self.defs
            .iter()
            .position(|d| d.name == name)
            .map(|i| i as LayerId)
    }

    /// Finds a numbered layer by its code in either script (case-insensitive).
    pub fn by_code(&self, code: &str) -> Option<LayerId> {
        // Called for every imported number: compare without allocating.
        let same = |a: &str, b: &str| {
            a.chars()
                .flat_map(char::to_uppercase)
                .eq(b.chars().flat_map(char::to_uppercase))
        };
        self.defs
            .iter()
            .position(|d| d.numbered && (same(&d.code, code) || same(&d.latin, code)))
            .map(|i| i as LayerId)
    }

    /// The basemap layers this set has ([`BASEMAP`]), in drawing order.
    pub fn basemap(&self) -> Vec<LayerId> {
        BASEMAP.iter().filter_map(|n| self.by_name(n)).collect()
    }

    pub fn ids(&self) -> impl Iterator<Item = LayerId> + '_ {
        (0..self.defs.len()).map(|i| i as LayerId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layers_resolve_codes_in_both_scripts() {
        let l = Layers::default_city();
        let poles = l.by_name("poles").unwrap();
        assert_eq!(l.by_code("ОП"), Some(poles));
        assert_eq!(l.by_code("op"), Some(poles));
        assert_eq!(l.by_code("оп"), Some(poles));
        assert_eq!(l.by_code("XX"), None);
        assert!(!l.def(l.by_name("addresses").unwrap()).numbered);
    }

    #[test]
    fn rejects_bad_and_duplicate_layers() {
        let mut d = Layers::default_city().defs().to_vec();
        d[1].code = "ОП".into();
        assert!(matches!(
            Layers::new(d),
            Err(LayerError::DuplicateCode { .. })
        ));
        let mut d = Layers::default_city().defs().to_vec();
        d[0].name = "Poles!".into();
        assert!(matches!(Layers::new(d), Err(LayerError::BadName(_))));
    }
}
