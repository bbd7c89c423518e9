//! CSV importer: one point object per row, coordinates from two columns.
//!
//! The delimiter is taken from the mapping or detected from the header line (`;`, `,` or tab,
//! whichever occurs most often outside quotes). Header names are matched after trimming,
//! lowercasing and folding Cyrillic letters that look like Latin ones, so a mapping naming
//! `city` finds a header spelled `сity` with a Cyrillic `с`. The reader reuses one record
//! buffer and resolves every column's role once, so the per-row work is only what the draft
//! itself needs.
//!
//! Rules worth knowing: a mapped layer column decides each row's layer (rows with an empty cell
//! fall back to `--layer`, else are rejected; an unknown layer name is fatal). Rows whose cells
//! are all empty are skipped silently; a row with missing fields, or with extra fields that are
//! not empty, is rejected. Coordinates accept a decimal comma; when they cannot be read and the
//! row looks shifted (two numbers in one cell, or the numbers one column off) the reason says so
//! and nothing is guessed. Values are trimmed with inner whitespace collapsed, then typed
//! (bool / int / float / text, see [`typed`]) unless the mapping lists them under `text` or
//! `bools`. The source id is the mapped id column, else `line:N`.
//!
//! This file also holds the helpers the other importers (GeoJSON, OFDS, GeoPackage) share:
//! name folding, value cleaning and typing, the mapping [`Plan`], CRS resolution, layer lookup
//! and UTF-8 / JSON reading with positions in errors.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::crs::Crs;
use super::{ImportError, Mapping, Options, Parsed, RecordError, Reject};
use crate::model::{
    Attributes, Draft, Geometry, GeometryKind, LayerId, Layers, Source, Status, Value,
};

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// The file name (without directories) used in sources and rejects.
pub(super) fn file_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Trims and collapses every inner run of whitespace (including no-break spaces, tabs and
/// newlines) into one space. Borrows when nothing needs to change.
pub(super) fn clean_text(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    let mut prev_ws = false;
    let dirty = t.chars().any(|c| {
        let ws = c.is_whitespace();
        let bad = ws && (prev_ws || c != ' ');
        prev_ws = ws;
        bad
    });
    if !dirty {
        return Cow::Borrowed(t);
    }
    let mut out = String::with_capacity(t.len());
    let mut prev_ws = false;
    for c in t.chars() {
        if c.is_whitespace() {
            if !prev_ws {
                out.push(' ');
            }
            prev_ws = true;
        } else {
            out.push(c);
            prev_ws = false;
        }
    }
    Cow::Owned(out)
}

fn is_cyrillic(c: char) -> bool {
    ('\u{0400}'..='\u{04FF}').contains(&c)
}

/// A field name or word made comparable: cleaned, lowercased, and Cyrillic letters that look
/// like Latin ones replaced by the Latin letter (`сity` → `city`).
pub(super) fn fold(s: &str) -> String {
    clean_text(s)
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'а' => 'a',
            'с' => 'c',
            'е' => 'e',
            'о' => 'o',
            'р' => 'p',
            'х' => 'x',
            'і' => 'i',
            'у' => 'y',
            'к' => 'k',
            'м' => 'm',
            'т' => 't',
            'н' => 'h',
            'в' => 'b',
            c => c,
        })
        .collect()
}

/// The attribute name for a source field that is not renamed: the cleaned name, except that a
/// Latin word with look-alike Cyrillic letters in it (`сity`) is stored in its Latin form, so
/// that files spelled either way give the same attribute.
pub(super) fn attr_name(field: &str) -> String {
    let t = clean_text(field);
    if t.chars().any(|c| c.is_ascii_alphabetic()) && t.chars().any(is_cyrillic) {
        let f = fold(&t);
        if !f.chars().any(is_cyrillic) {
            return f;
        }
    }
    t.into_owned()
}

/// Types a cleaned, non-empty text value: `true`/`false` → bool, an integer without leading
/// zeros → int, a decimal with a point → float, anything else stays text. Phone numbers,
/// postcodes (`01001`) and house numbers with letters stay text.
pub(super) fn typed(s: &str) -> Value {
    if s.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if s.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    let b = digits.as_bytes();
    if !b.is_empty() && b[0].is_ascii_digit() {
        if b.iter().all(u8::is_ascii_digit) {
            if (b.len() == 1 || b[0] != b'0')
                && b.len() <= 19
                && let Ok(i) = s.parse::<i64>()
            {
                return Value::Int(i);
            }
        } else if let Some(dot) = digits.find('.') {
            let (int, rest) = (&b[..dot], &b[dot + 1..]);
            let mantissa_ok = (int.len() == 1 || int[0] != b'0')
                && int.iter().all(u8::is_ascii_digit)
                && rest.first().is_some_and(u8::is_ascii_digit);
            let frac_len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            let exp = &rest[frac_len..];
            let exp_ok = exp.is_empty()
                || (matches!(exp[0], b'e' | b'E') && {
                    let e = &exp[1..];
                    let e = e
                        .strip_prefix(b"-")
                        .or_else(|| e.strip_prefix(b"+"))
                        .unwrap_or(e);
                    !e.is_empty() && e.iter().all(u8::is_ascii_digit)
                });
            if mantissa_ok
                && exp_ok
                && let Ok(f) = s.parse::<f64>()
                && f.is_finite()
            {
                return Value::Float(f);
            }
        }
    }
    Value::text(s.to_string())
}

/// A JSON value as an attribute: strings cleaned (empty → none), numbers and booleans kept,
/// arrays and objects kept as their JSON text, null → none.
pub(super) fn json_attr(v: &serde_json::Value) -> Option<Value> {
    match v {
        serde_json::Value::String(s) => {
            let c = clean_text(s);
            (!c.is_empty()).then(|| Value::text(c.into_owned()))
        }
        other => Value::from_json(other),
    }
}

/// A JSON value as plain text (for ids, numbers, names, statuses); none when null or empty.
pub(super) fn json_text(v: &serde_json::Value) -> Option<String> {
    let s = match v {
        serde_json::Value::Null => return None,
        serde_json::Value::String(s) => clean_text(s).into_owned(),
        other => other.to_string(),
    };
    (!s.is_empty()).then_some(s)
}

/// Merges a JSON object of typed attributes (given as an object or as its JSON text) into
/// `attrs`; attributes already there are kept, so explicit fields win. Values are taken as
/// they are (not cleaned), so that citytwin's exports read back exactly.
pub(super) fn merge_json_attributes(
    attrs: &mut Attributes,
    v: &serde_json::Value,
) -> Result<(), String> {
    let parsed;
    let map = match v {
        serde_json::Value::Null => return Ok(()),
        serde_json::Value::Object(m) => m,
        serde_json::Value::String(t) if t.trim().is_empty() => return Ok(()),
        serde_json::Value::String(t) => {
            parsed = serde_json::from_str::<serde_json::Value>(t)
                .map_err(|e| format!("not a JSON object of attributes ({e}): {t:?}"))?;
            match &parsed {
                serde_json::Value::Object(m) => m,
                _ => return Err(format!("not a JSON object of attributes: {t:?}")),
            }
        }
        other => return Err(format!("not a JSON object of attributes: {other}")),
    };
    for (k, v) in map {
        if let Some(v) = Value::from_json(v)
            && !attrs.contains_key(k)
        {
            attrs.set(k, v);
        }
    }
    Ok(())
}

/// What a source field is used for, as decided by the mapping.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Role {
    Number,
    Name,
    Status,
    Id,
    Lon,
    Lat,
    Layer,
    /// A JSON object of typed attributes (citytwin's own exports), merged into the attributes.
    Attributes,
    Skip,
    Attr(AttrSpec),
}

/// How an ordinary field becomes an attribute.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AttrSpec {
    /// Attribute name (after `rename`).
    pub name: String,
    /// The source field's own attribute name, for values a yes/no field does not recognise.
    pub own: String,
    /// Keep as text, do not type.
    pub text: bool,
    /// Index into [`Plan::bools`] when the field is a yes/no field.
    pub bools: Option<usize>,
}

/// A [`Mapping`] with its field names folded once, ready to classify source fields.
#[derive(Debug)]
pub(super) struct Plan<'m> {
    mapping: &'m Mapping,
    special: Vec<(Role, &'static str, &'m str, String)>,
    rename: Vec<(String, &'m str)>,
    skip: Vec<String>,
    text: Vec<String>,
    bools: Vec<(String, Vec<String>, Vec<String>)>,
}

impl<'m> Plan<'m> {
    pub fn new(mapping: &'m Mapping) -> Self {
        let mut special = Vec::new();
        let fields = [
            (Role::Number, "number", &mapping.number),
            (Role::Name, "name", &mapping.name),
            (Role::Status, "status", &mapping.status),
            (Role::Id, "id", &mapping.id),
            (Role::Lon, "lon", &mapping.lon),
            (Role::Lat, "lat", &mapping.lat),
            (Role::Layer, "layer", &mapping.layer),
            (Role::Attributes, "attributes", &mapping.attributes),
        ];
        for (role, key, field) in fields {
            if let Some(f) = field {
                special.push((role, key, f.as_str(), fold(f)));
            }
        }
        Plan {
            mapping,
            special,
            rename: mapping
                .rename
                .iter()
                .map(|(k, v)| (fold(k), v.as_str()))
                .collect(),
            skip: mapping.skip.iter().map(|s| fold(s)).collect(),
            text: mapping.text.iter().map(|s| fold(s)).collect(),
            bools: mapping
                .bools
                .iter()
                .map(|(k, w)| {
                    let words = |v: &Vec<String>| v.iter().map(|s| fold(s)).collect();
                    (fold(k), words(&w.yes), words(&w.no))
                })
                .collect(),
        }
    }

    pub fn mapping(&self) -> &'m Mapping {
        self.mapping
    }

    /// The role of a source field. `with_coords` says whether `lon`/`lat` mean anything for
    /// this format (CSV); elsewhere such fields are ordinary attributes.
    pub fn role(&self, field: &str, with_coords: bool) -> Role {
        let f = fold(field);
        for (role, _, _, key) in &self.special {
            if *key == f && (with_coords || !matches!(role, Role::Lon | Role::Lat)) {
                return role.clone();
            }
        }
        if self.skip.contains(&f) {
            return Role::Skip;
        }
        let own = attr_name(field);
        let name = self
            .rename
            .iter()
            .find(|(k, _)| *k == f)
            .map(|(_, to)| to.to_string())
            .unwrap_or_else(|| own.clone());
        Role::Attr(AttrSpec {
            name,
            own,
            text: self.text.contains(&f),
            bools: self.bools.iter().position(|(k, _, _)| *k == f),
        })
    }

    /// Mapped special fields (`number`, `name`, …) that none of `fields` matches, as
    /// `(mapping key, field name)`. `with_coords` as in [`Plan::role`].
    pub fn missing<'a>(
        &self,
        fields: impl Iterator<Item = &'a str> + Clone,
        with_coords: bool,
    ) -> Vec<(&'static str, &'m str)> {
        let folded: Vec<String> = fields.map(fold).collect();
        self.special
            .iter()
            .filter(|(role, ..)| with_coords || !matches!(role, Role::Lon | Role::Lat))
            .filter(|(_, _, _, key)| !folded.contains(key))
            .map(|(_, k, f, _)| (*k, *f))
            .collect()
    }

    /// Turns a cleaned, non-empty value of an attribute field into `(name, value)`.
    pub fn attr_value<'s>(&self, spec: &'s AttrSpec, value: &str) -> (&'s str, Value) {
        if let Some(i) = spec.bools {
            let (_, yes, no) = &self.bools[i];
            let w = fold(value);
            if yes.contains(&w) {
                return (&spec.name, Value::Bool(true));
            }
            if no.contains(&w) {
                return (&spec.name, Value::Bool(false));
            }
            return (&spec.own, Value::text(value));
        }
        let v = if spec.text {
            Value::text(value)
        } else {
            typed(value)
        };
        (&spec.name, v)
    }
}

/// The error for a mapping naming fields the file does not have.
pub(super) fn missing_fields_error(
    file: &str,
    what: &str,
    plural: &str,
    missing: &[(&str, &str)],
    existing: &[String],
) -> ImportError {
    let names: Vec<String> = missing
        .iter()
        .map(|(k, f)| format!("{f:?} (mapping `{k}`)"))
        .collect();
    ImportError::file(
        file,
        format!(
            "the mapping names {what} {} that the file does not have; {plural} in the file: {}",
            names.join(", "),
            existing.join(", ")
        ),
    )
}

/// Finds a layer by name (trimmed, case-insensitive); an unknown name is a fatal error.
pub(super) fn layer_named(
    layers: &Layers,
    name: &str,
    file: &str,
    line: u64,
    field: &str,
) -> Result<LayerId, ImportError> {
    let n = name.trim().to_lowercase();
    layers.by_name(&n).ok_or_else(|| {
        let known: Vec<&str> = layers.defs().iter().map(|d| d.name.as_str()).collect();
        ImportError::at(
            file,
            line,
            field,
            format!(
                "unknown layer {:?}; known: {}",
                name.trim(),
                known.join(", ")
            ),
        )
    })
}

/// Why a geometry does not fit a layer, if it does not.
pub(super) fn kind_mismatch(layers: &Layers, layer: LayerId, g: &Geometry) -> Option<String> {
    let def = layers.get(layer)?;
    let (want, got) = match (def.geometry, g) {
        (GeometryKind::Point, Geometry::Point(_))
        | (GeometryKind::Line, Geometry::Line(_))
        | (GeometryKind::Polygon, Geometry::Polygon(_)) => {
            return None;
        }
        (want, got) => (
            match want {
                GeometryKind::Point => "points",
                GeometryKind::Line => "lines",
                GeometryKind::Polygon => "polygons",
            },
            match got {
                Geometry::Point(_) => "a point",
                Geometry::Line(_) => "a line",
                Geometry::Polygon(_) => "polygons",
            },
        ),
    };
    Some(format!(
        "layer {} holds {want}, the record has {got}",
        def.name
    ))
}

/// The fatal error for a file from which nothing could be imported.
/// `unit` names what `line` counts: `line`, `feature`, `fid`, `item`.
pub(super) fn nothing_importable(file: &str, unit: &str, rejects: &[Reject]) -> ImportError {
    nothing_importable_of(file, unit, rejects.len(), rejects.first())
}

/// As [`nothing_importable`], for a reader that kept only the count and the first reject.
fn nothing_importable_of(
    file: &str,
    unit: &str,
    rejected: usize,
    first: Option<&Reject>,
) -> ImportError {
    match first {
        None => ImportError::file(file, "no records to import: the file holds no data"),
        Some(r) => ImportError::file(
            file,
            format!(
                "no importable records: all {rejected} records were rejected; the first, at {unit} {}, field {:?}: {}",
                r.line, r.field, r.reason
            ),
        ),
    }
}

/// Normalises a CRS name: `urn:ogc:def:crs:EPSG::32636`, `http://www.opengis.net/def/crs/EPSG/0/32636`
/// and `epsg:32636` all become `EPSG:32636`; the OGC CRS84 names become `OGC:CRS84`.
pub(super) fn normalize_crs(code: &str) -> String {
    let t = code.trim();
    let up = t.to_ascii_uppercase();
    let parts: Vec<&str> = if let Some(rest) = up.strip_prefix("URN:OGC:DEF:CRS:") {
        rest.split(':').collect()
    } else if let Some(rest) = up
        .strip_prefix("HTTP://WWW.OPENGIS.NET/DEF/CRS/")
        .or_else(|| up.strip_prefix("HTTPS://WWW.OPENGIS.NET/DEF/CRS/"))
    {
        rest.split('/').collect()
    } else {
        return match up.split_once(':') {
            Some((auth, num)) if !auth.is_empty() => format!("{}:{}", auth.trim(), num.trim()),
            _ if up.chars().all(|c| c.is_ascii_digit()) && !up.is_empty() => format!("EPSG:{up}"),
            _ => t.to_string(),
        };
    };
    match (parts.first(), parts.last()) {
        (Some(auth), Some(last)) if !last.is_empty() => format!("{auth}:{last}"),
        _ => t.to_string(),
    }
}

/// Whether a normalised CRS name means WGS84 longitude/latitude.
pub(super) fn is_wgs84(normalized: &str) -> bool {
    matches!(
        normalized.to_ascii_uppercase().as_str(),
        "EPSG:4326" | "EPSG:4979" | "OGC:CRS84" | "OGC:CRS84H" | "CRS84" | "WGS84" | "WGS 84"
    )
}

/// Picks the source CRS from `--crs` and the CRS a file declares. With `conflict_fatal`, a
/// declared CRS that differs from `--crs` is a fatal error; otherwise `--crs` wins.
/// Returns None for WGS84 (no transform needed); an unknown CRS is fatal (one the file
/// declares with the file's name).
pub(super) fn pick_crs(
    file: &str,
    cli: Option<&str>,
    declared: Option<&str>,
    conflict_fatal: bool,
) -> Result<Option<Crs>, ImportError> {
    let cli_n = cli.map(normalize_crs);
    let decl_n = declared.map(normalize_crs);
    if conflict_fatal
        && let (Some(c), Some(d)) = (&cli_n, &decl_n)
        && !c.eq_ignore_ascii_case(d)
        && !(is_wgs84(c) && is_wgs84(d))
    {
        return Err(ImportError::file(
            file,
            format!(
                "--crs {} conflicts with the CRS the file declares ({}); drop --crs or fix the file",
                cli.unwrap_or_default(),
                declared.unwrap_or_default()
            ),
        ));
    }
    match (cli_n, decl_n) {
        (Some(code), _) if !is_wgs84(&code) => Ok(Some(Crs::from_code(&code)?)),
        (None, Some(code)) if !is_wgs84(&code) => Crs::from_code(&code)
            .map(Some)
            .map_err(|e| ImportError::file(file, format!("the CRS the file declares: {e}"))),
        _ => Ok(None),
    }
}

/// Reads a whole file as UTF-8 (a leading BOM is dropped); invalid UTF-8 is fatal with its line.
pub(super) fn read_utf8(path: &Path) -> Result<String, ImportError> {
    let shown = path.display().to_string();
    let mut bytes = std::fs::read(path).map_err(|e| ImportError::Io {
        file: shown.clone(),
        source: e,
    })?;
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let b = e.as_bytes();
        let line = 1 + b[..at].iter().filter(|&&c| c == b'\n').count();
        let col = at
            - b[..at]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        ImportError::file(
            &shown,
            format!("line {line}, byte {col} of the line: not valid UTF-8; save the file as UTF-8"),
        )
    })
}

/// The fatal error for malformed JSON, with serde_json's line and column.
pub(super) fn json_error(file: &str, e: &serde_json::Error) -> ImportError {
    let msg = e.to_string();
    let msg = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
    ImportError::file(
        file,
        format!(
            "malformed JSON at line {}, column {}: {msg}",
            e.line(),
            e.column()
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

/// Column names that are taken as coordinates when the mapping does not name them.
const LON_NAMES: [&str; 5] = ["lon", "lng", "long", "longitude", "x"];
const LAT_NAMES: [&str; 3] = ["lat", "latitude", "y"];

/// Picks the delimiter that occurs most often outside quotes in the header line
/// (ties: `;`, then tab, then `,`).
fn detect_delimiter(line: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b';' if !quoted => counts[0] += 1,
            b'\t' if !quoted => counts[1] += 1,
            b',' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let cands = [b';', b'\t', b','];
    let mut best = 2;
    for i in [1, 0] {
        if counts[i] >= counts[best] {
            best = i;
        }
    }
    cands[best]
}

/// Why a coordinate cell could not be read.
#[derive(Debug, PartialEq)]
enum CoordError {
    Empty,
    NotNumber,
    NotFinite,
    TwoNumbers,
}

fn parse_number(t: &str) -> Option<f64> {
    // A point first (no number with a comma parses as one); then a decimal comma.
    t.parse().ok().or_else(|| {
        (t.contains(',') && !t.contains('.'))
            .then(|| t.replacen(',', ".", 1).parse().ok())
            .flatten()
    })
}

/// Whether a cell holds exactly two numbers (e.g. `50.4368 30.4606`).
fn two_numbers(t: &str) -> bool {
    let mut parts = t
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|p| !p.is_empty());
    let ok = |p: Option<&str>| {
        p.and_then(|p| p.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// Reads one coordinate: trimmed, decimal comma accepted, must be finite.
fn parse_coord(s: &str) -> Result<f64, CoordError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(CoordError::Empty);
    }
    match parse_number(t) {
        Some(v) if v.is_finite() => Ok(v),
        Some(_) => Err(CoordError::NotFinite),
        None if two_numbers(t) => Err(CoordError::TwoNumbers),
        None => Err(CoordError::NotNumber),
    }
}

fn is_number_cell(s: &str) -> bool {
    parse_coord(s).is_ok()
}

/// A hint when the coordinates seem to sit in other columns than the header says.
fn shift_hint(
    rec: &csv::StringRecord,
    headers: &[String],
    lat: usize,
    lon: usize,
) -> Option<String> {
    let cell = |i: usize| rec.get(i).unwrap_or("");
    let (lo, hi) = (lat.min(lon), lat.max(lon));
    for i in lo.saturating_sub(2)..=hi + 2 {
        if i != lat && i < rec.len() && two_numbers(cell(i).trim()) {
            return Some(format!(
                "column {:?} holds two numbers ({:?}); the columns look shifted",
                headers.get(i).map_or("?", String::as_str),
                cell(i).trim()
            ));
        }
    }
    // Real coordinates have decimals; requiring them keeps ids and counts from looking shifted.
    let coordinate_like = |i: usize| {
        let c = cell(i).trim();
        is_number_cell(c) && (c.contains('.') || c.contains(','))
    };
    let numbers_at = |a: Option<usize>, b: Option<usize>| match (a, b) {
        (Some(a), Some(b)) => coordinate_like(a) && coordinate_like(b),
        _ => false,
    };
    if numbers_at(lat.checked_sub(1), lon.checked_sub(1)) {
        return Some(format!(
            "the coordinates seem to be one column to the left (\"{}\", \"{}\"); the columns look shifted",
            cell(lat - 1).trim(),
            cell(lon - 1).trim()
        ));
    }
    if numbers_at(Some(lat + 1), Some(lon + 1)) {
        return Some(format!(
            "the coordinates seem to be one column to the right (\"{}\", \"{}\"); the columns look shifted",
            cell(lat + 1).trim(),
            cell(lon + 1).trim()
        ));
    }
    None
}

/// What went wrong with one row.
fn reject(field: &str, reason: impl Into<String>) -> RecordError {
    RecordError::Reject(field.to_string(), reason.into())
}

/// Per-file state resolved once from the header and the mapping.
struct Columns<'m> {
    headers: Vec<String>,
    lon: usize,
    lat: usize,
    number: Option<usize>,
    name: Option<usize>,
    status: Option<usize>,
    id: Option<usize>,
    layer: Option<usize>,
    json_attrs: Option<usize>,
    attrs: Vec<(usize, AttrSpec)>,
    plan: Plan<'m>,
}

/// Where a record starts, by byte: the CSV reader marks a record that follows a CRLF line end
/// at the `\n` of that end (it stops a record at the `\r`), so its own line numbers lag by one
/// in CRLF files. Lines are counted from the bytes instead.
fn record_start(bytes: &[u8], marked: u64) -> usize {
    let b = (marked as usize).min(bytes.len());
    if bytes.get(b) == Some(&b'\n') {
        b + 1
    } else {
        b
    }
}

/// Line ends in `bytes[from..to]`: a `\n`, or a `\r` that no `\n` follows (old Mac files: the
/// CSV reader ends a record there too, and so does an editor).
fn line_ends(bytes: &[u8], from: usize, to: usize) -> u64 {
    memchr::memchr2_iter(b'\n', b'\r', &bytes[from..to])
        .filter(|&i| bytes[from + i] == b'\n' || bytes.get(from + i + 1) != Some(&b'\n'))
        .count() as u64
}

/// Counts line ends in `bytes` up to a record's start, from where the last count stopped.
#[derive(Default)]
struct LineCounter {
    scanned: usize,
    ends: u64,
}

impl LineCounter {
    /// The 1-based line (within `bytes`) of the record marked at byte `marked`.
    fn line(&mut self, bytes: &[u8], marked: u64) -> u64 {
        let at = record_start(bytes, marked).max(self.scanned);
        self.ends += line_ends(bytes, self.scanned, at);
        self.scanned = at;
        self.ends + 1
    }
}

/// A CSV reader's error; `line_offset` lines of the file came before `bytes`, the reader's input.
fn csv_error(file: &str, e: csv::Error, bytes: &[u8], line_offset: u64) -> ImportError {
    let line = e
        .position()
        .map(|p| line_offset + LineCounter::default().line(bytes, p.byte()));
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ImportError::Io {
            file: file.to_string(),
            source,
        },
        csv::ErrorKind::Utf8 { err, .. } => ImportError::file(
            file,
            format!(
                "line {}, field {}: not valid UTF-8; save the file as UTF-8",
                line.unwrap_or(0),
                err.field() + 1
            ),
        ),
        other => ImportError::file(file, format!("cannot read CSV: {other:?}")),
    }
}

/// Below this size a file is parsed on one thread.
const PARALLEL_MIN_BYTES: usize = 4 << 20;
/// A large file is parsed in segments of about this size, handed on one by one in file order:
/// small enough that writing starts soon and parsed records do not pile up, large enough that
/// handing them on costs nothing.
const SEGMENT_BYTES: usize = 2 << 20;

/// Parses a whole CSV file on every core.
pub fn parse(path: &Path, layers: &Layers, opts: &Options) -> Result<Parsed, ImportError> {
    let mut out = Parsed::default();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    read(path, layers, opts, workers, &mut |part: Parsed| {
        out.extend(part);
        Ok::<(), ImportError>(())
    })?;
    Ok(out)
}

/// Parses a CSV file and hands its records to `sink` part by part, in file order. A large
/// file whose fields are not quoted (so every line end ends a row) is cut into segments at
/// line ends and parsed by `workers` threads while `sink` takes the earlier parts. A fatal
/// error stops the reading; the parts already handed on are then the caller's to discard.
pub fn read<E: From<ImportError>>(
    path: &Path,
    layers: &Layers,
    opts: &Options,
    workers: usize,
    sink: &mut dyn FnMut(Parsed) -> Result<(), E>,
) -> Result<(), E> {
    let shown = path.display().to_string();
    let label = file_label(path);
    let source_file: Arc<str> = Arc::from(label.as_str());
    let mut body = Body::open(path, &shown)?;
    let pool = Pool::default();
    let delimiter = match opts.mapping.delimiter {
        Some(c) if c.is_ascii() && c != '"' && c != '\n' && c != '\r' => c as u8,
        Some(c) => {
            return Err(ImportError::Options(format!(
                "mapping: delimiter {c:?} must be one ASCII character other than a quote or newline"
            ))
            .into());
        }
        None => detect_delimiter(body.first_line()),
    };
    fn reader(delimiter: u8, bytes: &[u8]) -> csv::Reader<&[u8]> {
        csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes)
    }
    let rec = body.header(|data| {
        let mut rdr = reader(delimiter, data);
        let mut rec = csv::StringRecord::new();
        let found = rdr
            .read_record(&mut rec)
            .map_err(|e| csv_error(&shown, e, data, 0))?;
        Ok(found.then(|| (rec, rdr.position().byte())))
    })?;
    let Some(rec) = rec else {
        return Err(ImportError::file(&shown, "empty file: no header line").into());
    };
    let cols = columns(&rec, &shown, layers, opts)?;
    let fixed_layer = match (cols.layer, opts.layer) {
        (None, None) => {
            return Err(ImportError::file(
                &shown,
                "no layer: give --layer, or map a layer column in the mapping (`layer = \"…\"`)",
            )
            .into());
        }
        (None, Some(l)) => Some(l),
        (Some(_), _) => None,
    };
    let ctx = Segment {
        shown: &shown,
        label: &label,
        source_file: &source_file,
        cols: &cols,
        layers,
        opts,
        fixed_layer,
        delim: (delimiter as char).to_string(),
    };
    let (mut drafts, mut rejected, mut first_reject) = (0usize, 0usize, None);
    let mut hand_on = |part: Parsed| -> Result<(), E> {
        drafts += part.drafts.len();
        rejected += part.rejects.len();
        if first_reject.is_none() {
            first_reject = part.rejects.first().cloned();
        }
        sink(part)
    };
    let parse = |seg: Piece| {
        let rdr = reader(delimiter, &seg.bytes);
        let part = ctx.parse(rdr, &seg.bytes, seg.lines_before, seg.rows);
        pool.give_back(seg.bytes);
        part
    };
    // A small file, or one quoted from the start, is one segment: nothing to share out.
    if workers <= 1 || body.whole {
        while let Some(seg) = body.next(&pool)? {
            hand_on(parse(seg)?)?;
        }
    } else {
        // The file is read on a thread of its own; segment k goes to worker k % workers,
        // which hands it on through its own channel of one, so segment k is always found at
        // channel k % workers, in order, and no worker runs more than two segments ahead of
        // the sink. A reading error takes the place of the segment it stopped.
        std::thread::scope(|scope| -> Result<(), E> {
            let (mut inbox, mut outbox) = (Vec::with_capacity(workers), Vec::new());
            for _ in 0..workers {
                let (to_worker, work) = std::sync::mpsc::sync_channel::<Result<Piece, _>>(1);
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                outbox.push(to_worker);
                inbox.push(rx);
                let parse = &parse;
                scope.spawn(move || {
                    for seg in work {
                        let part = seg.and_then(parse);
                        let failed = part.is_err();
                        // A closed channel: the sink stopped the reading.
                        if tx.send(part).is_err() || failed {
                            return;
                        }
                    }
                });
            }
            let (body, pool) = (&mut body, &pool);
            scope.spawn(move || {
                for to_worker in outbox.iter().cycle() {
                    let Some(seg) = body.next(pool).transpose() else {
                        return;
                    };
                    let failed = seg.is_err();
                    if to_worker.send(seg).is_err() || failed {
                        return;
                    }
                }
            });
            for from_worker in inbox.iter().cycle() {
                // Closed: the reading ended before this segment, or a worker panicked (the
                // scope passes the panic on).
                let Ok(part) = from_worker.recv() else {
                    break;
                };
                hand_on(part?)?;
            }
            Ok(())
        })?;
    }
    if drafts == 0 {
        return Err(nothing_importable_of(&shown, "line", rejected, first_reject.as_ref()).into());
    }
    Ok(())
}

/// A CSV file's rows after the header, read as they are parsed: segments of about
/// `SEGMENT_BYTES` that end at a line end, each with the number of lines before it. Only while
/// no field is quoted: a line end inside quotes is part of a field, not the end of a row, so
/// from the first quote on the rest of the file is one segment. A file under
/// `PARALLEL_MIN_BYTES` is one segment.
struct Body {
    file: std::fs::File,
    shown: String,
    /// Bytes read and not yet handed on; they start at the start of a row.
    pending: Vec<u8>,
    /// Lines of the file before `pending`.
    lines_before: u64,
    eof: bool,
    /// The rest is handed on as one segment: the file is small, or a quote was met.
    whole: bool,
}

/// One segment of a file's body.
struct Piece {
    bytes: Vec<u8>,
    lines_before: u64,
    /// Rows it may hold (its line ends plus one).
    rows: usize,
}

/// Segment buffers handed back once parsed, so that reading a large file reuses a few.
#[derive(Default)]
struct Pool(std::sync::Mutex<Vec<Vec<u8>>>);

impl Pool {
    fn take(&self) -> Vec<u8> {
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        free.pop()
            .unwrap_or_else(|| Vec::with_capacity(SEGMENT_BYTES + (64 << 10)))
    }

    fn give_back(&self, mut bytes: Vec<u8>) {
        bytes.clear();
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < 8 {
            free.push(bytes);
        }
    }
}

impl Body {
    fn open(path: &Path, shown: &str) -> Result<Body, ImportError> {
        let io = |source| ImportError::Io {
            file: shown.to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let mut body = Body {
            file,
            shown: shown.to_string(),
            pending: Vec::new(),
            lines_before: 0,
            eof: false,
            whole: size < PARALLEL_MIN_BYTES as u64,
        };
        body.fill(SEGMENT_BYTES)?;
        if body.pending.starts_with(b"\xEF\xBB\xBF") {
            body.pending.drain(..3);
        }
        Ok(body)
    }

    /// The first line read, for guessing the delimiter.
    fn first_line(&self) -> &[u8] {
        let data = &self.pending;
        &data[..memchr::memchr(b'\n', data).map_or(data.len(), |i| i + 1)]
    }

    /// Reads up to `more` bytes (everything left when `whole`) onto `pending`.
    fn fill(&mut self, more: usize) -> Result<(), ImportError> {
        let limit = if self.whole { u64::MAX } else { more as u64 };
        let got = Read::by_ref(&mut self.file)
            .take(limit)
            .read_to_end(&mut self.pending)
            .map_err(|source| ImportError::Io {
                file: self.shown.clone(),
                source,
            })?;
        self.eof |= self.whole || (got as u64) < limit;
        Ok(())
    }

    /// Makes the rest one segment when the body read from `from` on holds a quote (a line end
    /// after it may be inside a field).
    fn whole_if_quoted(&mut self, from: usize) {
        if memchr::memchr(b'"', &self.pending[from..]).is_some() {
            self.whole = true;
        }
    }

    /// Reads the header row with `read` (given the bytes read so far, it returns the row and
    /// the byte where the next row starts), reading more while the row may be incomplete.
    fn header<T>(
        &mut self,
        mut read: impl FnMut(&[u8]) -> Result<Option<(T, u64)>, ImportError>,
    ) -> Result<Option<T>, ImportError> {
        loop {
            // Until the end of the file, a row that reaches the end of the bytes read (or a
            // character cut there) may go on in the bytes not read yet.
            match read(&self.pending) {
                Ok(Some((_, end))) if end as usize >= self.pending.len() && !self.eof => {}
                Ok(None) | Err(_) if !self.eof => {}
                Err(e) => return Err(e),
                Ok(None) => return Ok(None),
                Ok(Some((rec, end))) => {
                    let start = record_start(&self.pending, end);
                    self.lines_before = LineCounter::default().line(&self.pending, end) - 1;
                    self.pending.drain(..start);
                    self.whole_if_quoted(0);
                    return Ok(Some(rec));
                }
            }
            let more = self.pending.len().max(SEGMENT_BYTES);
            self.fill(more)?;
        }
    }

    /// The next segment, or None at the end of the file; its buffer is taken from `pool`.
    fn next(&mut self, pool: &Pool) -> Result<Option<Piece>, ImportError> {
        loop {
            if self.whole && !self.eof {
                self.fill(0)?;
            }
            let end = if self.eof {
                self.pending.len()
            } else {
                match memchr::memrchr(b'\n', &self.pending) {
                    Some(i) if self.pending.len() >= SEGMENT_BYTES => i + 1,
                    _ => 0,
                }
            };
            if end == 0 && !self.eof {
                let from = self.pending.len();
                if from >= SEGMENT_BYTES {
                    // A segment's worth with no line end (a very long row, or old Mac line
                    // ends): rather than search it again and again, read the rest whole.
                    self.whole = true;
                    continue;
                }
                self.fill(SEGMENT_BYTES - from)?;
                self.whole_if_quoted(from);
                continue;
            }
            if self.pending.is_empty() {
                return Ok(None);
            }
            let mut rest = pool.take();
            rest.extend_from_slice(&self.pending[end..]);
            let mut bytes = std::mem::replace(&mut self.pending, rest);
            bytes.truncate(end);
            let ends = line_ends(&bytes, 0, bytes.len());
            let lines_before = self.lines_before;
            self.lines_before += ends;
            return Ok(Some(Piece {
                bytes,
                lines_before,
                rows: ends as usize + 1,
            }));
        }
    }
}

/// What every segment of one file is parsed with.
struct Segment<'a, 'm> {
    shown: &'a str,
    label: &'a str,
    source_file: &'a Arc<str>,
    cols: &'a Columns<'m>,
    layers: &'a Layers,
    opts: &'a Options,
    fixed_layer: Option<LayerId>,
    delim: String,
}

impl Segment<'_, '_> {
    /// Parses the rows of one segment whose first line follows line `line_offset` of the file.
    fn parse<R: Read>(
        &self,
        mut rdr: csv::Reader<R>,
        bytes: &[u8],
        line_offset: u64,
        capacity: usize,
    ) -> Result<Parsed, ImportError> {
        let shown = self.shown;
        let crs = pick_crs(shown, self.opts.crs.as_deref(), None, false)?;
        let mut out = Parsed {
            drafts: Vec::with_capacity(capacity),
            ..Parsed::default()
        };
        // A copy of the file name per segment: every record holds a reference to it, and the
        // writer drops written records while workers make new ones; one shared count would go
        // back and forth between their cores for every record.
        let source_file: Arc<str> = Arc::from(&**self.source_file);
        let mut rec = csv::StringRecord::new();
        let mut layer_cache: Vec<(String, LayerId)> = Vec::new();
        let mut status_cache: Vec<(String, Status)> = Vec::new();
        let ncols = self.cols.headers.len();
        let mut lines = LineCounter::default();
        loop {
            match rdr.read_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(csv_error(shown, e, bytes, line_offset)),
            }
            let line = line_offset + lines.line(bytes, rec.position().map_or(0, |p| p.byte()));
            if rec.as_slice().trim().is_empty() {
                continue; // a blank row (only delimiters): nothing to import, nothing to fix
            }
            let mut row = Row {
                rec: &rec,
                cols: self.cols,
                layers: self.layers,
                file: shown,
                line,
                layer_cache: &mut layer_cache,
                status_cache: &mut status_cache,
            };
            let result = if rec.len() < ncols
                || (rec.len() > ncols && rec.iter().skip(ncols).any(|f| !f.trim().is_empty()))
            {
                Err(reject(
                    "row",
                    format!("the row has {} fields, the header has {ncols}", rec.len()),
                ))
            } else {
                row.draft(
                    self.fixed_layer,
                    self.opts.layer,
                    crs.as_ref(),
                    &source_file,
                )
            };
            match result {
                Ok(d) => out.drafts.push(d),
                Err(RecordError::Fatal(e)) => return Err(e),
                Err(RecordError::Reject(field, reason)) => out.rejects.push(Reject {
                    file: self.label.to_string(),
                    line,
                    field,
                    reason,
                    raw: rec.iter().collect::<Vec<_>>().join(&self.delim),
                }),
            }
        }
        Ok(out)
    }
}

/// Resolves every column's role from the header row.
fn columns<'m>(
    rec: &csv::StringRecord,
    file: &str,
    layers: &Layers,
    opts: &'m Options,
) -> Result<Columns<'m>, ImportError> {
    let _ = layers;
    let headers: Vec<String> = rec
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let c = clean_text(h);
            if c.is_empty() {
                format!("column_{}", i + 1)
            } else {
                c.into_owned()
            }
        })
        .collect();
    let plan = Plan::new(&opts.mapping);
    let missing = plan.missing(headers.iter().map(String::as_str), true);
    if !missing.is_empty() {
        return Err(missing_fields_error(
            file, "column", "columns", &missing, &headers,
        ));
    }
    let mut cols = Columns {
        lon: usize::MAX,
        lat: usize::MAX,
        number: None,
        name: None,
        status: None,
        id: None,
        layer: None,
        json_attrs: None,
        attrs: Vec::new(),
        headers,
        plan,
    };
    let mut roles: Vec<Role> = cols
        .headers
        .iter()
        .map(|h| cols.plan.role(h, true))
        .collect();
    // Auto-detect coordinate columns the mapping does not name.
    for (role, names) in [(Role::Lon, &LON_NAMES[..]), (Role::Lat, &LAT_NAMES[..])] {
        if !roles.contains(&role) {
            let found = names.iter().find_map(|n| {
                cols.headers
                    .iter()
                    .position(|h| fold(h) == *n)
                    .filter(|&i| matches!(roles[i], Role::Attr(_)))
            });
            if let Some(i) = found {
                roles[i] = role;
            }
        }
    }
    for (i, role) in roles.into_iter().enumerate() {
        let slot = match role {
            Role::Lon if cols.lon == usize::MAX => {
                cols.lon = i;
                continue;
            }
            Role::Lat if cols.lat == usize::MAX => {
                cols.lat = i;
                continue;
            }
            Role::Number => &mut cols.number,
            Role::Name => &mut cols.name,
            Role::Status => &mut cols.status,
            Role::Id => &mut cols.id,
            Role::Layer => &mut cols.layer,
            Role::Attributes => &mut cols.json_attrs,
            Role::Attr(spec) => {
                cols.attrs.push((i, spec));
                continue;
            }
            Role::Skip | Role::Lon | Role::Lat => continue,
        };
        if slot.is_none() {
            *slot = Some(i);
        }
    }
    if cols.lon == usize::MAX || cols.lat == usize::MAX {
        let which = match (cols.lon == usize::MAX, cols.lat == usize::MAX) {
            (true, true) => "longitude and latitude columns",
            (true, false) => "a longitude column",
            _ => "a latitude column",
        };
        return Err(ImportError::file(
            file,
            format!(
                "no {which}: map `lon` and `lat` in the mapping, or name the columns lon/lng/longitude/x \
                 and lat/latitude/y; columns in the file: {}",
                cols.headers.join(", ")
            ),
        ));
    }
    Ok(cols)
}

/// One data row being turned into a draft.
struct Row<'a, 'm> {
    rec: &'a csv::StringRecord,
    cols: &'a Columns<'m>,
    layers: &'a Layers,
    file: &'a str,
    line: u64,
    layer_cache: &'a mut Vec<(String, LayerId)>,
    status_cache: &'a mut Vec<(String, Status)>,
}

impl Row<'_, '_> {
    fn cell(&self, i: usize) -> &str {
        self.rec.get(i).unwrap_or("")
    }

    fn header(&self, i: usize) -> &str {
        &self.cols.headers[i]
    }

    fn layer(
        &mut self,
        fixed: Option<LayerId>,
        fallback: Option<LayerId>,
    ) -> Result<LayerId, RecordError> {
        if let Some(l) = fixed {
            return Ok(l);
        }
        let Some(i) = self.cols.layer else {
            return Err(reject("layer", "no layer"));
        };
        let v = self.rec.get(i).unwrap_or("").trim();
        if v.is_empty() {
            return fallback.ok_or_else(|| {
                reject(
                    self.header(i),
                    "the layer is empty (give --layer for rows without one)",
                )
            });
        }
        if let Some((_, l)) = self.layer_cache.iter().find(|(n, _)| n == v) {
            return Ok(*l);
        }
        let l = layer_named(self.layers, v, self.file, self.line, self.header(i))
            .map_err(RecordError::Fatal)?;
        self.layer_cache.push((v.to_string(), l));
        Ok(l)
    }

    fn coordinate(&self, i: usize, is_lat: bool) -> Result<f64, RecordError> {
        let raw = self.cell(i);
        let err = match parse_coord(raw) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let col = self.header(i);
        let what = if is_lat { "latitude" } else { "longitude" };
        let t = raw.trim();
        let mut reason = match err {
            CoordError::Empty => format!("no {what}: the cell is empty"),
            CoordError::NotFinite => format!("{what} is not a finite number: {t:?}"),
            CoordError::TwoNumbers => format!(
                "the {what} cell holds two numbers ({t:?}) where one is expected; the columns look \
                 shifted, the row is not imported (fix it in the source)"
            ),
            CoordError::NotNumber => format!("{what} is not a number: {t:?}"),
        };
        if matches!(err, CoordError::NotNumber | CoordError::Empty)
            && let Some(hint) =
                shift_hint(self.rec, &self.cols.headers, self.cols.lat, self.cols.lon)
        {
            reason.push_str("; ");
            reason.push_str(&hint);
            reason.push_str(", the row is not imported (fix it in the source)");
        }
        Err(reject(col, reason))
    }

    fn point(&self, crs: Option<&Crs>) -> Result<Geometry, RecordError> {
        let (lat_i, lon_i) = (self.cols.lat, self.cols.lon);
        let lat = self.coordinate(lat_i, true);
        let lon = self.coordinate(lon_i, false);
        let (lat, lon) = (lat?, lon?);
        let p = match crs {
            None => {
                if !(-90.0..=90.0).contains(&lat) {
                    return Err(reject(
                        self.header(lat_i),
                        format!(
                            "latitude out of range (−90…90): {lat} (longitude {lon}; swapped?)"
                        ),
                    ));
                }
                if !(-180.0..=180.0).contains(&lon) {
                    return Err(reject(
                        self.header(lon_i),
                        format!("longitude out of range (−180…180): {lon}"),
                    ));
                }
                [lon, lat]
            }
            Some(c) => c.to_wgs84(lon, lat).map_err(|e| {
                reject(
                    &format!("{},{}", self.header(lon_i), self.header(lat_i)),
                    e.to_string(),
                )
            })?,
        };
        let g = Geometry::Point(p);
        g.validate()
            .map_err(|e| reject(&format!("{},{}", self.header(lon_i), self.header(lat_i)), e))?;
        Ok(g)
    }

    fn status(&mut self, i: usize) -> Result<Status, RecordError> {
        let v = self.rec.get(i).unwrap_or("").trim();
        if v.is_empty() {
            return Ok(Status::Unknown);
        }
        if let Some((_, s)) = self.status_cache.iter().find(|(n, _)| n == v) {
            return Ok(*s);
        }
        let s = Status::parse(v).ok_or_else(|| {
            reject(
                &self.cols.headers[i],
                format!(
                    "unknown status {v:?}; expected ok, broken, closed, removed or unknown \
                     (English or Ukrainian)"
                ),
            )
        })?;
        if self.status_cache.len() < 64 {
            self.status_cache.push((v.to_string(), s));
        }
        Ok(s)
    }

    fn draft(
        &mut self,
        fixed_layer: Option<LayerId>,
        fallback: Option<LayerId>,
        crs: Option<&Crs>,
        source_file: &Arc<str>,
    ) -> Result<Draft, RecordError> {
        let layer = self.layer(fixed_layer, fallback)?;
        let geometry = self.point(crs)?;
        if let Some(why) = kind_mismatch(self.layers, layer, &geometry) {
            return Err(reject("geometry", why));
        }
        let status = match self.cols.status {
            Some(i) => self.status(i)?,
            None => Status::Unknown,
        };
        // Cleaned cells, borrowed from the record where cleaning changed nothing: a row's
        // texts are copied once, into the draft.
        let text = |i: Option<usize>| {
            i.map(|i| clean_text(self.cell(i)))
                .filter(|c| !c.is_empty())
        };
        let source_number = text(self.cols.number).map(Cow::into_owned);
        let id = match text(self.cols.id) {
            Some(id) => compact_str::CompactString::from(&*id),
            None => compact_str::format_compact!("line:{}", self.line),
        };
        // Collected, then made into the attributes at once (setting them one by one would
        // rebuild the exact-size slice for each).
        let name = text(self.cols.name).map(|n| ("name", Value::text(&*n)));
        let attrs = self.cols.attrs.iter().filter_map(|(i, spec)| {
            let v = clean_text(self.cell(*i));
            (!v.is_empty()).then(|| self.cols.plan.attr_value(spec, &v))
        });
        let mut attributes: Attributes = name.into_iter().chain(attrs).collect();
        if let Some(i) = self.cols.json_attrs {
            let raw = serde_json::Value::String(self.cell(i).to_string());
            merge_json_attributes(&mut attributes, &raw).map_err(|e| reject(self.header(i), e))?;
        }
        Ok(Draft {
            layer,
            geometry,
            status,
            attributes,
            source: Source {
                file: source_file.clone(),
                id,
            },
            source_number,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::test_support::fixture;
    use crate::import::{Format, parse_files};
    use std::path::PathBuf;

    fn opts(layers: &Layers, layer: &str, mapping: Mapping) -> Options {
        crate::import::test_support::opts(layers, Some(layer), mapping)
    }

    /// The parts `read` hands on for a file of poles, read by `workers` threads.
    fn read_parts(path: &Path, layers: &Layers, mapping: &Mapping, workers: usize) -> Vec<Parsed> {
        let mut parts = Vec::new();
        let opts = opts(layers, "poles", mapping.clone());
        read(path, layers, &opts, workers, &mut |p: Parsed| {
            parts.push(p);
            Ok::<(), ImportError>(())
        })
        .unwrap();
        parts
    }

    /// The mapping recommended for the Kyiv shelter lists (kept in sync with the report).
    const KYIV_MAPPING: &str = r#"
lat = "latitude"
lon = "longitude"
text = ["address_number", "phone"]

[rename]
ramp = "accessible"

[bools.ramp]
true = ["В наявності"]
false = ["Відсутній"]
"#;

    #[test]
    fn folding_and_typing() {
        assert_eq!(fold(" \u{0441}ity "), "city");
        assert_eq!(attr_name("\u{0441}ity"), "city");
        assert_eq!(attr_name("Адреса"), "Адреса");
        assert_eq!(clean_text("  a \u{a0}\t b  "), "a b");
        for ws in ["\t", "\n", "\u{b}", "\u{c}", "\r", "  "] {
            assert_eq!(clean_text(&format!("a{ws}b")), "a b", "{ws:?}");
        }
        assert!(matches!(
            clean_text("Street 0 #1"),
            Cow::Borrowed("Street 0 #1")
        ));
        assert_eq!(clean_text("a\u{2003}b"), "a b");
        assert!(matches!(clean_text("a b"), Cow::Borrowed("a b")));
        assert_eq!(typed("42"), Value::Int(42));
        assert_eq!(typed("-7"), Value::Int(-7));
        assert_eq!(typed("01001"), Value::Text("01001".into()));
        assert_eq!(typed("2.5"), Value::Float(2.5));
        assert_eq!(typed("1.5e3"), Value::Float(1500.0));
        assert_eq!(typed("TRUE"), Value::Bool(true));
        assert_eq!(typed("13-А"), Value::Text("13-А".into()));
        assert_eq!(typed("242-23-53"), Value::Text("242-23-53".into()));
        assert_eq!(typed("inf"), Value::Text("inf".into()));
        assert_eq!(
            typed("99999999999999999999"),
            Value::Text("99999999999999999999".into())
        );
        assert_eq!(detect_delimiter(b"a;b;c"), b';');
        assert_eq!(detect_delimiter(b"\"a;b\",c,d"), b',');
        assert_eq!(detect_delimiter(b"a\tb\tc,d"), b'\t');
        assert_eq!(parse_coord(" 50,4507 "), Ok(50.4507));
        assert_eq!(parse_coord("NaN"), Err(CoordError::NotFinite));
        assert_eq!(parse_coord("50.43 30.46"), Err(CoordError::TwoNumbers));
        assert_eq!(normalize_crs("urn:ogc:def:crs:EPSG::32636"), "EPSG:32636");
        assert_eq!(
            normalize_crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84"),
            "OGC:CRS84"
        );
        assert_eq!(normalize_crs("epsg:4326"), "EPSG:4326");
        assert!(is_wgs84(&normalize_crs("urn:ogc:def:crs:OGC:1.3:CRS84")));
    }

    #[test]
    fn kyiv_shelters() {
        let layers = Layers::default_city();
        let mapping: Mapping = toml::from_str(KYIV_MAPPING).unwrap();
        let o = opts(&layers, "shelters", mapping);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/shelters/kyiv");
        let paths: Vec<PathBuf> = (0..10).map(|i| dir.join(format!("{i}.csv"))).collect();

        // Each file on its own: rows in = drafts + rejects.
        let mut rows = 0;
        for p in &paths {
            let one = parse(p, &layers, &o).unwrap();
            rows += one.drafts.len() + one.rejects.len();
        }
        assert_eq!(rows, 3696);

        let all = parse_files(&paths, Format::Csv, &layers, &o).unwrap();
        let summary: Vec<String> = all
            .rejects
            .iter()
            .map(|r| format!("{}:{} {} | {}", r.file, r.line, r.field, r.reason))
            .collect();
        assert_eq!(all.rejects.len(), 30, "{summary:#?}");
        assert_eq!(all.duplicates, 344);
        assert_eq!(all.drafts.len(), 3696 - 30 - 344);
        assert!(
            all.rejects
                .iter()
                .all(|r| r.line > 1 && !r.reason.is_empty())
        );
        assert!(
            all.rejects.iter().all(|r| r.reason.contains("shifted")),
            "{summary:#?}"
        );

        let find = |file: &str, line: u64| {
            all.rejects
                .iter()
                .find(|r| r.file == file && r.line == line)
                .unwrap_or_else(|| panic!("no reject at {file}:{line}"))
        };
        let r = find("8.csv", 156);
        assert_eq!(r.field, "latitude");
        assert!(
            r.reason.contains("two numbers")
                && r.reason.contains("50.4368717916023 30.4606578708912")
        );
        assert!(r.raw.starts_with("м.Київ;Солом'янський; вул. Єреванська;"));
        let r = find("0.csv", 302);
        assert_eq!(r.field, "longitude");
        assert!(r.reason.contains("one column to the left"), "{}", r.reason);
        let r = find("8.csv", 372);
        assert_eq!(r.field, "latitude");
        assert!(r.reason.contains("one column to the right"), "{}", r.reason);
        let r = find("8.csv", 286);
        assert!(
            r.reason.contains("\"address_number\" holds two numbers"),
            "{}",
            r.reason
        );

        // Files 0 (Cyrillic "с" in `сity`) and 1 (Latin `city`) give the same attribute name.
        let first = &all.drafts[0];
        assert_eq!(&*first.source.file, "0.csv");
        assert_eq!(&*first.source.id, "line:2");
        assert_eq!(
            first.attributes.get("city"),
            Some(&Value::Text("м. Київ".into()))
        );
        assert_eq!(
            first.attributes.get("address"),
            Some(&Value::Text("вул. Ахматової Анни".into()))
        );
        assert_eq!(
            first.attributes.get("address_number"),
            Some(&Value::Text("13".into()))
        );
        assert_eq!(
            first.attributes.get("accessible"),
            Some(&Value::Bool(false))
        );
        assert_eq!(first.geometry, Geometry::Point([30.635, 50.40747]));
        assert!(
            all.drafts
                .iter()
                .all(|d| !d.attributes.contains_key("\u{0441}ity"))
        );
        assert!(
            all.drafts
                .iter()
                .any(|d| &*d.source.file == "1.csv" && d.attributes.contains_key("city"))
        );
        let accessible = all
            .drafts
            .iter()
            .filter(|d| d.attributes.get("accessible") == Some(&Value::Bool(true)))
            .count();
        assert_eq!(accessible, 438);
        // The one unrecognised ramp value (a phone number) stays text under `ramp`.
        let odd: Vec<_> = all
            .drafts
            .iter()
            .filter_map(|d| d.attributes.get("ramp"))
            .collect();
        assert_eq!(odd, vec![&Value::Text("230-95-69".into())]);
        // No-break spaces and doubled spaces are cleaned.
        assert!(
            all.drafts
                .iter()
                .all(|d| d.attributes.values().all(|v| match v {
                    Value::Text(t) => t.trim() == t && !t.contains("  ") && !t.contains('\u{a0}'),
                    _ => true,
                }))
        );
        assert!(
            all.drafts
                .iter()
                .all(|d| d.layer == layers.by_name("shelters").unwrap())
        );
        assert!(all.drafts.iter().all(|d| d.geometry.validate().is_ok()));
    }

    #[test]
    fn comma_bom_decimal_comma() {
        let layers = Layers::default_city();
        let mapping = Mapping {
            number: Some("Номер".into()),
            name: Some("Назва".into()),
            status: Some("Стан".into()),
            ..Mapping::default()
        };
        let p = parse(
            &fixture("comma_bom.csv"),
            &layers,
            &opts(&layers, "poles", mapping),
        )
        .unwrap();
        assert_eq!(p.drafts.len(), 2, "{:?}", p.rejects);
        let d = &p.drafts[0];
        assert_eq!(d.geometry, Geometry::Point([30.5234, 50.4507]));
        assert_eq!(d.source_number.as_deref(), Some("ОП-1"));
        assert_eq!(d.status, Status::Broken);
        assert_eq!(
            d.attributes.get("name"),
            Some(&Value::Text("Опора біля школи".into()))
        );
        assert_eq!(d.attributes.get("height"), Some(&Value::Float(9.5)));
        assert_eq!(d.attributes.get("lamps"), Some(&Value::Int(2)));
        assert_eq!(p.drafts[1].status, Status::Unknown);
        assert_eq!(p.drafts[1].source_number, None);
        assert_eq!(p.rejects.len(), 1);
        assert_eq!(p.rejects[0].line, 4);
        assert_eq!(p.rejects[0].field, "Стан");
    }

    #[test]
    fn missing_coordinate_column_is_fatal() {
        let layers = Layers::default_city();
        let e = parse(
            &fixture("no_coords.csv"),
            &layers,
            &opts(&layers, "poles", Mapping::default()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("no longitude and latitude columns") && e.contains("name, address, height"),
            "{e}"
        );
        let mapping = Mapping {
            lat: Some("широта".into()),
            lon: Some("довгота".into()),
            ..Mapping::default()
        };
        let e = parse(
            &fixture("no_coords.csv"),
            &layers,
            &opts(&layers, "poles", mapping),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("\"широта\"")
                && e.contains("\"довгота\"")
                && e.contains("name, address, height"),
            "{e}"
        );
    }

    #[test]
    fn nan_inf_and_ranges_are_rejected() {
        let layers = Layers::default_city();
        let p = parse(
            &fixture("bad_coords.csv"),
            &layers,
            &opts(&layers, "trees", Mapping::default()),
        )
        .unwrap();
        assert_eq!(p.drafts.len(), 2);
        let got: Vec<(u64, &str, &str)> = p
            .rejects
            .iter()
            .map(|r| (r.line, r.field.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(got.len(), 7, "{got:#?}");
        assert!(got[0].0 == 3 && got[0].1 == "lon" && got[0].2.contains("not a finite number"));
        assert!(got[1].0 == 4 && got[1].1 == "lat" && got[1].2.contains("not a finite number"));
        assert!(
            got[2].0 == 5 && got[2].1 == "lat" && got[2].2.starts_with("latitude out of range")
        );
        assert!(
            got[3].0 == 6 && got[3].1 == "lon" && got[3].2.starts_with("longitude out of range")
        );
        assert!(got[4].0 == 7 && got[4].1 == "lat" && got[4].2.contains("empty"));
        assert!(
            got[5].0 == 8 && got[5].1 == "row" && got[5].2.contains("3 fields, the header has 4")
        );
        assert!(got[6].0 == 10 && got[6].1 == "lon" && got[6].2.contains("not a number"));
        assert_eq!(p.rejects[0].raw, "1;inf;50.1;oak");
    }

    #[test]
    fn multi_layer_file() {
        let layers = Layers::default_city();
        let mapping = Mapping {
            layer: Some("layer".into()),
            number: Some("number".into()),
            name: Some("name".into()),
            status: Some("status".into()),
            ..Mapping::default()
        };
        let o = Options {
            layer: None,
            crs: None,
            mapping: mapping.clone(),
            strict: false,
        };
        let p = parse(&fixture("multi_layer.csv"), &layers, &o).unwrap();
        assert_eq!(p.drafts.len(), 3);
        assert_eq!(p.drafts[0].layer, layers.by_name("poles").unwrap());
        assert_eq!(p.drafts[1].layer, layers.by_name("cameras").unwrap());
        assert_eq!(p.drafts[2].attributes.get("lit"), Some(&Value::Bool(true)));
        assert_eq!(p.rejects.len(), 2);
        assert_eq!(
            (p.rejects[0].line, p.rejects[0].field.as_str()),
            (4, "geometry")
        );
        assert_eq!(
            (p.rejects[1].line, p.rejects[1].field.as_str()),
            (5, "layer")
        );
        let only_layer = Options {
            mapping: Mapping {
                layer: Some("layer".into()),
                ..Mapping::default()
            },
            ..o.clone()
        };
        let e = parse(&fixture("unknown_layer.csv"), &layers, &only_layer)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3:") && e.contains("unknown layer \"lamps\"; known: poles, manholes"),
            "{e}"
        );
        let e = parse(
            &fixture("multi_layer.csv"),
            &layers,
            &Options {
                mapping: Mapping::default(),
                ..o
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no layer"), "{e}");
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let layers = Layers::default_city();
        let e = parse(
            &fixture("latin1.csv"),
            &layers,
            &opts(&layers, "poles", Mapping::default()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 3") && e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn a_large_file_is_parsed_in_segments_with_true_line_numbers() {
        for eol in ["\n", "\r\n"] {
            segments_keep_true_line_numbers(eol);
        }
    }

    /// Over PARALLEL_MIN_BYTES, so the file is cut into one segment per core; every 997th row
    /// is bad, and one row has a broken UTF-8 name near the end of the file.
    fn segments_keep_true_line_numbers(eol: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        let mut text = format!("id,name,lon,lat{eol}");
        let rows = 90_000u64;
        for i in 0..rows {
            let lat = if i % 997 == 5 {
                "north".to_string()
            } else {
                format!("{:.6}", 50.0 + i as f64 * 1e-6)
            };
            text.push_str(&format!(
                "p{i},Pole number {i} on a long street name,30.{i:06},{lat}{eol}"
            ));
        }
        assert!(text.len() > PARALLEL_MIN_BYTES);
        std::fs::write(&path, &text).unwrap();
        let layers = Layers::default_city();
        let mapping = Mapping {
            id: Some("id".into()),
            ..Mapping::default()
        };
        let parsed = parse(&path, &layers, &opts(&layers, "poles", mapping.clone())).unwrap();
        let bad: Vec<u64> = (0..rows).filter(|i| i % 997 == 5).collect();
        assert_eq!(parsed.drafts.len() as u64, rows - bad.len() as u64);
        // Rows keep their file order across segments, and rejects name their own lines
        // (line 1 is the header, so row i is on line i + 2).
        let ids: Vec<&str> = parsed.drafts.iter().map(|d| &*d.source.id).collect();
        let want: Vec<String> = (0..rows)
            .filter(|i| i % 997 != 5)
            .map(|i| format!("p{i}"))
            .collect();
        assert!(ids.iter().zip(&want).all(|(a, b)| a == b), "{eol:?}");
        let lines: Vec<u64> = parsed.rejects.iter().map(|r| r.line).collect();
        assert_eq!(
            lines,
            bad.iter().map(|i| i + 2).collect::<Vec<_>>(),
            "{eol:?}"
        );
        assert!(parsed.rejects.iter().all(|r| r.field == "lat"));
        // Read part by part, by one to three workers: the parts come in file order.
        for workers in 1..=3 {
            let parts = read_parts(&path, &layers, &mapping, workers);
            assert!(parts.len() >= workers, "{workers}: {}", parts.len());
            let got: Vec<&str> = parts
                .iter()
                .flat_map(|p| p.drafts.iter().map(|d| &*d.source.id))
                .collect();
            assert_eq!(got, ids, "{eol:?}, {workers} workers");
        }
        // Without an id column, objects are known by their line: every one its own.
        let by_line = parse(&path, &layers, &opts(&layers, "poles", Mapping::default())).unwrap();
        let want: Vec<String> = (0..rows)
            .filter(|i| i % 997 != 5)
            .map(|i| format!("line:{}", i + 2))
            .collect();
        let got: Vec<&str> = by_line.drafts.iter().map(|d| &*d.source.id).collect();
        assert!(got.iter().zip(&want).all(|(a, b)| a == b), "{eol:?}");

        let mut bytes = text.into_bytes();
        let last = bytes.len() - 40;
        bytes[last] = 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        let e = parse(&path, &layers, &opts(&layers, "poles", mapping.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("line {}", rows + 1)) && e.contains("UTF-8"),
            "{eol:?} {e}"
        );
        // Read part by part, the earlier parts are handed on before the error stops the
        // reading (the caller discards them).
        let mut handed = 0;
        let e = read(
            &path,
            &layers,
            &opts(&layers, "poles", mapping),
            2,
            &mut |_: Parsed| {
                handed += 1;
                Ok::<(), ImportError>(())
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(&format!("line {}", rows + 1)), "{eol:?} {e}");
        assert!(handed >= 1, "{eol:?}");
    }

    /// A large file is read as it is parsed. A quote met after the first segments makes the
    /// rest of the file one segment: a row whose quoted name spans two lines stays one row, and
    /// every row keeps its line. The same with a BOM, and with old Mac line ends (no `\n` to
    /// cut at).
    #[test]
    fn a_quote_late_in_a_large_file_makes_the_rest_one_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late-quote.csv");
        let layers = Layers::default_city();
        let mapping = Mapping {
            id: Some("id".into()),
            ..Mapping::default()
        };
        let (rows, quoted) = (120_000u64, 60_000u64);
        for (eol, bom) in [("\n", true), ("\r\n", false), ("\r", false)] {
            let mut text = String::from(if bom { "\u{FEFF}" } else { "" });
            text += &format!("id,name,lon,lat{eol}");
            for i in 0..rows {
                let name = if i == quoted {
                    format!("\"Pole {i}{eol}on two lines, \"\"quoted\"\"\"")
                } else {
                    format!("Pole number {i} on a long street name")
                };
                let lat = if i % 1009 == 7 {
                    "north".to_string()
                } else {
                    format!("{:.6}", 50.0 + i as f64 * 1e-6)
                };
                text += &format!("p{i},{name},30.{i:06},{lat}{eol}");
            }
            let at = text.find("on two lines").unwrap();
            assert!(at > SEGMENT_BYTES && text.len() > PARALLEL_MIN_BYTES);
            std::fs::write(&path, &text).unwrap();
            let bad: Vec<u64> = (0..rows).filter(|i| i % 1009 == 7).collect();
            let want: Vec<String> = (0..rows)
                .filter(|i| i % 1009 != 7)
                .map(|i| format!("p{i}"))
                .collect();
            // Row i is on line i + 2 (after the header), one line later past the quoted row.
            let want_lines: Vec<u64> = bad.iter().map(|&i| i + 2 + u64::from(i > quoted)).collect();
            for workers in 1..=3 {
                let parts = read_parts(&path, &layers, &mapping, workers);
                let what = format!("{eol:?}, {workers} workers");
                // Old Mac line ends give nothing to cut at: one segment.
                let cut = eol.contains('\n');
                assert_eq!(parts.len() >= 2, cut, "{what}: {} parts", parts.len());
                let drafts: Vec<&Draft> = parts.iter().flat_map(|p| &p.drafts).collect();
                let ids: Vec<&str> = drafts.iter().map(|d| &*d.source.id).collect();
                assert_eq!(ids, want, "{what}");
                let two = drafts[quoted as usize - bad.iter().filter(|&&b| b < quoted).count()];
                assert_eq!(&*two.source.id, format!("p{quoted}"), "{what}");
                let name = format!("{:?}", two.attributes.get("name"));
                assert!(
                    name.contains("two lines") && name.contains("\\\"quoted\\\""),
                    "{what}: {name}"
                );
                let lines: Vec<u64> = parts
                    .iter()
                    .flat_map(|p| p.rejects.iter().map(|r| r.line))
                    .collect();
                assert_eq!(lines, want_lines, "{what}");
            }
        }
    }

    /// Found by fuzzing: a lone `\r` ends a record, but only `\n` was counted, so a row after
    /// one was reported on the header's line.
    #[test]
    fn a_lone_carriage_return_ends_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cr.csv");
        std::fs::write(&path, "lon,lat\r30.5,50.4\rabc,50.4\r\n30.6,50.5\nxyz,1\n").unwrap();
        let layers = Layers::default_city();
        let p = parse(&path, &layers, &opts(&layers, "poles", Mapping::default())).unwrap();
        assert_eq!(p.drafts.len(), 2);
        let ids: Vec<&str> = p.drafts.iter().map(|d| &*d.source.id).collect();
        assert_eq!(ids, ["line:2", "line:4"]);
        let lines: Vec<u64> = p.rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 5]);
    }

    #[test]
    fn only_rejects_is_fatal() {
        let layers = Layers::default_city();
        let e = parse(
            &fixture("all_bad.csv"),
            &layers,
            &opts(&layers, "poles", Mapping::default()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("all 2 records were rejected; the first, at line 2")
                && e.contains("not a number"),
            "{e}"
        );
    }

    #[test]
    fn citytwin_csv_export_reads_back() {
        let layers = Layers::default_city();
        let o = Options {
            layer: None,
            crs: None,
            mapping: Mapping::citytwin(),
            strict: false,
        };
        let p = parse(&fixture("citytwin_export.csv"), &layers, &o).unwrap();
        assert_eq!(p.drafts.len(), 2, "{:?}", p.rejects);
        let d = &p.drafts[0];
        assert_eq!(d.layer, layers.by_name("poles").unwrap());
        assert_eq!(d.geometry, Geometry::Point([30.5234, 50.4501]));
        assert_eq!(d.source_number.as_deref(), Some("ОП-000017-3"));
        assert_eq!(d.status, Status::Broken);
        assert_eq!(&*d.source.id, "node/123");
        let mut want = Attributes::new();
        want.insert("height".into(), Value::Float(9.5));
        want.insert("lamps".into(), Value::Int(2));
        want.insert("lit".into(), Value::Bool(true));
        want.insert("material".into(), Value::Text("сталь  оцинкована".into()));
        assert_eq!(d.attributes, want);
        assert!(p.drafts[1].attributes.is_empty());
        // A CSV row only carries a point: a line layer's row is rejected, not bent into a point.
        assert_eq!(p.rejects.len(), 1);
        assert_eq!(
            (p.rejects[0].line, p.rejects[0].field.as_str()),
            (3, "geometry")
        );
        assert!(p.rejects[0].reason.contains("layer streets holds lines"));
    }

    #[test]
    fn projected_csv_and_unknown_crs() {
        let layers = Layers::default_city();
        let mut o = opts(&layers, "poles", Mapping::default());
        o.crs = Some("EPSG:32636".into());
        let p = parse(&fixture("utm.csv"), &layers, &o).unwrap();
        let [lon, lat] = p.drafts[0].geometry.anchor();
        assert!(
            (lon - 30.5234).abs() < 1e-5 && (lat - 50.4501).abs() < 1e-5,
            "{lon} {lat}"
        );
        o.crs = Some("EPSG:99999".into());
        let e = parse(&fixture("utm.csv"), &layers, &o).unwrap_err();
        assert!(matches!(e, ImportError::Crs(_)), "{e}");
        assert!(e.to_string().contains("EPSG:99999"), "{e}");
    }
}
