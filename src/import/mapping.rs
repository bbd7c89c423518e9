//! Which source field holds what: number, name, status, id, coordinates, layer.
//! Read from a TOML file given with `--mapping`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// Field mapping for CSV, GeoJSON and GeoPackage imports. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Field holding the painted number (kept verbatim, marked as having no check digit
    /// unless it is a valid citytwin number).
    pub number: Option<String>,
    /// Field holding the object's name (stored as attribute `name`).
    pub name: Option<String>,
    /// Field holding the status (ok / broken / closed / removed / unknown, English or Ukrainian).
    pub status: Option<String>,
    /// Field holding the source's own id; otherwise the line/feature number is used.
    pub id: Option<String>,
    /// CSV: longitude / x column and latitude / y column.
    pub lon: Option<String>,
    pub lat: Option<String>,
    /// Field holding the layer name, for files with several layers in one.
    pub layer: Option<String>,
    /// Attribute renames: source field → attribute name. Unlisted fields keep their names.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Source fields to leave out.
    #[serde(default)]
    pub skip: Vec<String>,
    /// CSV delimiter; auto-detected (`;` or `,` or tab) when absent.
    pub delimiter: Option<char>,
    /// Field holding a JSON object of typed attributes (citytwin's own exports), merged into
    /// the attributes.
    pub attributes: Option<String>,
    /// GeoPackage: the feature table to read. Default: the table named like the target layer,
    /// else the only feature table.
    pub table: Option<String>,
    /// CSV: fields kept as text instead of being typed as numbers or booleans
    /// (house numbers, phone numbers, postcodes: `13` next to `13-А`).
    #[serde(default)]
    pub text: Vec<String>,
    /// Fields whose words mean yes or no, e.g.
    /// `[bools.ramp] true = ["В наявності"]  false = ["Відсутній"]`.
    /// A recognised value (compared trimmed and case-insensitively) becomes a boolean stored
    /// under the field's attribute name (after `rename`); any other value is kept as text under
    /// the source field's own name, so the boolean attribute never holds text.
    #[serde(default)]
    pub bools: BTreeMap<String, BoolWords>,
}

/// The words of a yes/no field, see [`Mapping::bools`].
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BoolWords {
    #[serde(rename = "true", default)]
    pub yes: Vec<String>,
    #[serde(rename = "false", default)]
    pub no: Vec<String>,
}

impl Mapping {
    pub fn from_file(path: &Path) -> Result<Mapping, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read mapping: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: bad mapping: {e}", path.display()))
    }

    /// The attribute name a source field is stored under, or None if it is skipped.
    pub fn attribute_name<'a>(&'a self, field: &'a str) -> Option<&'a str> {
        if self.skip.iter().any(|s| s == field) {
            return None;
        }
        Some(self.rename.get(field).map(String::as_str).unwrap_or(field))
    }
}

impl Mapping {
    /// The mapping that reads citytwin's own GeoJSON and CSV exports back losslessly.
    pub fn citytwin() -> Mapping {
        Mapping {
            number: Some("number".into()),
            status: Some("status".into()),
            layer: Some("layer".into()),
            id: Some("source_id".into()),
            lon: Some("lon".into()),
            lat: Some("lat".into()),
            attributes: Some("attributes".into()),
            skip: [
                "id",
                "number_latin",
                "check_digit",
                "status_changed",
                "created",
                "updated",
                "source",
                "source_file",
                "wkt",
            ]
            .map(String::from)
            .to_vec(),
            ..Mapping::default()
        }
    }
}
