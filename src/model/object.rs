//! One city object and the draft an importer produces before the store gives it an id.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::LayerId;
use crate::numbering::Number;

/// Stable city-wide object id: assigned by the store, never reused.
pub type ObjectId = u64;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Condition of an object as last reported.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Also written `cut` (a fibre span cut is broken: it carries no light).
    #[serde(alias = "cut")]
    Broken,
    Closed,
    Removed,
    #[default]
    Unknown,
    /// Residents reported it locked (a shelter) and staff have not verified it yet: set by a
    /// report rule (`[reports] rules`), undone when staff resolve or reject the incident.
    #[serde(rename = "locked-reported")]
    LockedReported,
    /// Residents reported a danger at it (an open manhole, a hanging wire, a fallen tree):
    /// set by a report rule at once, undone when staff resolve or reject the incident.
    Hazard,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Ok,
        Status::Broken,
        Status::Closed,
        Status::Removed,
        Status::Unknown,
        Status::LockedReported,
        Status::Hazard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Broken => "broken",
            Status::Closed => "closed",
            Status::Removed => "removed",
            Status::Unknown => "unknown",
            Status::LockedReported => "locked-reported",
            Status::Hazard => "hazard",
        }
    }

    /// Parses a status word in English or Ukrainian (case-insensitive, trimmed).
    pub fn parse(s: &str) -> Option<Status> {
        let s = s.trim().to_lowercase();
        Some(match s.as_str() {
            "ok" | "operational" | "working" | "open" | "active" | "справний" | "справна"
            | "працює" | "відкрите" | "відкрито" => Status::Ok,
            "broken"
            | "cut"
            | "перерізаний"
            | "перерізано"
            | "damaged"
            | "faulty"
            | "пошкоджений"
            | "пошкоджена"
            | "несправний"
            | "несправна" => Status::Broken,
            "closed" | "inactive" | "закритий" | "закрите" | "закрито" => {
                Status::Closed
            }
            "removed" | "decommissioned" | "демонтований" | "демонтовано" => {
                Status::Removed
            }
            "unknown" | "" | "невідомо" => Status::Unknown,
            "locked-reported" | "locked_reported" | "зачинено за повідомленнями" => {
                Status::LockedReported
            }
            "hazard" | "danger" | "небезпека" | "небезпечно" => Status::Hazard,
            _ => return None,
        })
    }
}

/// A typed attribute value. In JSON: a boolean, an integer, a number or a string; arrays and
/// objects are kept as their JSON text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Text up to 24 bytes is kept inline (no heap allocation).
    Text(compact_str::CompactString),
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a boolean, number or string")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v)
            .map(Value::Int)
            .unwrap_or(Value::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        // Straight into the compact string: short texts stay inline, with no heap copy.
        Ok(Value::text(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::text(v))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        let v: serde_json::Value =
            serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Value::text(v.to_string()))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        let v: serde_json::Value =
            serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Value::text(v.to_string()))
    }
}

impl Value {
    /// A text value.
    pub fn text(s: impl Into<compact_str::CompactString>) -> Value {
        Value::Text(s.into())
    }

    /// Converts a JSON value; arrays and objects are kept as their JSON text.
    pub fn from_json(v: &serde_json::Value) -> Option<Value> {
        match v {
            serde_json::Value::Null => None,
            serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
            serde_json::Value::Number(n) => Some(match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            }),
            serde_json::Value::String(s) => Some(Value::text(s.clone())),
            other => Some(Value::text(other.to_string())),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Text(s) => s.to_string().into(),
        }
    }

    pub fn as_text(&self) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Text(s) => s.to_string(),
        }
    }
}

/// Typed attributes by name, sorted by name. Kept compact because every object of the twin has
/// some: a sorted vector with attribute names shared between objects.
///
/// A boxed slice rather than a vector: no spare capacity and one word less per object; edits
/// (rare next to reads) rebuild the slice.
#[derive(Clone, Default, PartialEq)]
pub struct Attributes(Box<[(Arc<str>, Value)]>);

/// Attribute names repeat across millions of objects: one copy of each per thread. Per thread,
/// not per process: loader threads on different cores would otherwise bump the reference count
/// of the same few names for every row, and that one cache line would go back and forth
/// between the cores millions of times.
fn intern(name: &str) -> Arc<str> {
    use std::cell::RefCell;
    use std::collections::HashSet;
    thread_local! {
        /// The names met last (most rows use a handful), searched before the pool.
        static RECENT: RefCell<Vec<Arc<str>>> = const { RefCell::new(Vec::new()) };
        static POOL: RefCell<HashSet<Arc<str>>> = RefCell::new(HashSet::new());
    }
    if let Some(k) = RECENT.with(|r| r.borrow().iter().find(|k| ***k == *name).cloned()) {
        return k;
    }
    let k = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if let Some(k) = pool.get(name) {
            return k.clone();
        }
        let k: Arc<str> = name.into();
        // Bounded: a file with endless distinct names must not grow the pool without end.
        if pool.len() < 65_536 {
            pool.insert(k.clone());
        }
        k
    });
    RECENT.with(|r| {
        let mut r = r.borrow_mut();
        if r.len() >= 32 {
            r.remove(0);
        }
        r.push(k.clone());
    });
    k
}

/// Sets `name` in entries sorted by name; returns the previous value.
fn put(entries: &mut Vec<(Arc<str>, Value)>, name: &str, value: Value) -> Option<Value> {
    match entries.binary_search_by(|(e, _)| (**e).cmp(name)) {
        Ok(i) => Some(std::mem::replace(&mut entries[i].1, value)),
        Err(i) => {
            entries.insert(i, (intern(name), value));
            None
        }
    }
}

impl Attributes {
    pub fn new() -> Self {
        Attributes(Box::default())
    }

    /// Edits the entries as a vector.
    fn edit<T>(&mut self, f: impl FnOnce(&mut Vec<(Arc<str>, Value)>) -> T) -> T {
        let mut v = std::mem::take(&mut self.0).into_vec();
        let out = f(&mut v);
        self.0 = v.into_boxed_slice();
        out
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(name))
    }

    /// Sets an attribute; returns the previous value.
    pub fn insert(&mut self, name: String, value: Value) -> Option<Value> {
        self.set(&name, value)
    }

    /// Sets an attribute by borrowed name; returns the previous value.
    pub fn set(&mut self, name: &str, value: Value) -> Option<Value> {
        match self.find(name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(_) => self.edit(|v| put(v, name, value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.find(name).ok()?;
        Some(self.edit(|v| v.remove(i).1))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| &**k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Releases spare capacity (objects held for long in the twin).
    pub fn shrink_to_fit(&mut self) {
        for (_, v) in self.0.iter_mut() {
            if let Value::Text(t) = v {
                t.shrink_to_fit();
            }
        }
    }
}

impl std::fmt::Debug for Attributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>> FromIterator<(K, Value)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut a = Attributes::new();
        a.extend(iter);
        a
    }
}

impl<K: AsRef<str>> Extend<(K, Value)> for Attributes {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        self.edit(|entries| {
            for (k, v) in iter {
                put(entries, k.as_ref(), v);
            }
        })
    }
}

impl IntoIterator for Attributes {
    type Item = (Arc<str>, Value);
    type IntoIter = std::vec::IntoIter<(Arc<str>, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a str, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Arc<str>, Value)>,
        fn(&'a (Arc<str>, Value)) -> (&'a str, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        fn pair(e: &(Arc<str>, Value)) -> (&str, &Value) {
            (&*e.0, &e.1)
        }
        self.0.iter().map(pair)
    }
}

impl<'de> Deserialize<'de> for Attributes {
    /// Reads a JSON object; `null` members are left out.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Attributes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of attributes")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Attributes, A::Error> {
                // Collected in a reused per-thread buffer, then copied into a slice of exactly
                // the right size: millions of objects load this way, and a growing vector
                // shrunk afterwards would allocate twice for each.
                thread_local! {
                    static SCRATCH: std::cell::RefCell<Vec<(Arc<str>, Value)>> =
                        const { std::cell::RefCell::new(Vec::new()) };
                }
                let mut entries = SCRATCH
                    .with(|s| s.try_borrow_mut().map(|mut v| std::mem::take(&mut *v)))
                    .unwrap_or_default();
                entries.clear();
                let mut read = || -> Result<(), A::Error> {
                    while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                        if let Some(v) = m.next_value::<Option<Value>>()? {
                            put(&mut entries, &k, v);
                        }
                    }
                    Ok(())
                };
                let done = read();
                let out = Attributes(entries.drain(..).collect());
                SCRATCH.with(|s| {
                    if let Ok(mut v) = s.try_borrow_mut() {
                        *v = entries;
                    }
                });
                done.map(|()| out)
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for Attributes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(&**k, v)?;
        }
        m.end()
    }
}

/// Geometry in WGS84 longitude/latitude degrees. Deserialises from a GeoJSON geometry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub enum Geometry {
    Point([f64; 2]),
    Line(Vec<[f64; 2]>),
    /// One or more polygons, each its exterior ring then its holes; rings closed (the first
    /// position repeated at the end), as GeoJSON and WKB have them.
    Polygon(Polygons),
}

/// A line's or a ring's positions, `[lon, lat]`.
pub type Ring = Vec<[f64; 2]>;

/// Polygons, each its exterior ring then its holes.
pub type Polygons = Vec<Vec<Ring>>;

/// `[min_lon, min_lat, max_lon, max_lat]` of positions (infinite when there are none).
fn bounds<'a>(points: impl Iterator<Item = &'a [f64; 2]>) -> [f64; 4] {
    points.fold(
        [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ],
        |b, [x, y]| [b[0].min(*x), b[1].min(*y), b[2].max(*x), b[3].max(*y)],
    )
}

impl Geometry {
    /// Bounding box `[min_lon, min_lat, max_lon, max_lat]`.
    pub fn bbox(&self) -> [f64; 4] {
        match self {
            Geometry::Point([x, y]) => [*x, *y, *x, *y],
            Geometry::Line(pts) => bounds(pts.iter()),
            // Holes lie inside their exterior: the exteriors bound the whole.
            Geometry::Polygon(polygons) => {
                bounds(polygons.iter().filter_map(|p| p.first()).flatten())
            }
        }
    }

    /// The positions of every line or ring, for what walks all of them.
    pub fn rings(&self) -> impl Iterator<Item = &[[f64; 2]]> {
        let (line, polygons): (Option<&[[f64; 2]]>, &[Vec<Ring>]) = match self {
            Geometry::Point(p) => (Some(std::slice::from_ref(p)), &[]),
            Geometry::Line(pts) => (Some(pts), &[]),
            Geometry::Polygon(polygons) => (None, polygons),
        };
        line.into_iter()
            .chain(polygons.iter().flatten().map(Vec::as_slice))
    }

    /// A representative point: the point itself, the middle vertex of a line, or a point
    /// inside the largest polygon (not merely its centroid, which an L-shaped building or a
    /// ring-shaped park can have outside).
    pub fn anchor(&self) -> [f64; 2] {
        match self {
            Geometry::Point(p) => *p,
            Geometry::Line(pts) => pts.get(pts.len() / 2).copied().unwrap_or([0.0, 0.0]),
            Geometry::Polygon(_) => {
                use geo::{Area, InteriorPoint};
                let mp = self.to_geo_polygons();
                mp.0.iter()
                    .max_by(|a, b| a.unsigned_area().total_cmp(&b.unsigned_area()))
                    .and_then(|p| p.interior_point())
                    .map(|p| [p.x(), p.y()])
                    .unwrap_or([0.0, 0.0])
            }
        }
    }

    /// The polygons as geo's multipolygon (empty for points and lines).
    pub fn to_geo_polygons(&self) -> geo::MultiPolygon<f64> {
        let ring = |r: &Vec<[f64; 2]>| -> geo::LineString<f64> {
            r.iter().map(|p| (p[0], p[1])).collect()
        };
        match self {
            Geometry::Polygon(polygons) => geo::MultiPolygon(
                polygons
                    .iter()
                    .filter_map(|p| {
                        let (exterior, holes) = p.split_first()?;
                        Some(geo::Polygon::new(
                            ring(exterior),
                            holes.iter().map(ring).collect(),
                        ))
                    })
                    .collect(),
            ),
            _ => geo::MultiPolygon(Vec::new()),
        }
    }

    /// Polygons from geo's (rings closed, as geo keeps them).
    pub fn from_geo_polygons(mp: &geo::MultiPolygon<f64>) -> Geometry {
        let ring = |l: &geo::LineString<f64>| l.coords().map(|c| [c.x, c.y]).collect();
        Geometry::Polygon(
            mp.0.iter()
                .map(|p| {
                    std::iter::once(ring(p.exterior()))
                        .chain(p.interiors().iter().map(ring))
                        .collect()
                })
                .collect(),
        )
    }

    /// Whether this geometry is of the kind a layer holds.
    pub fn fits(&self, kind: super::GeometryKind) -> bool {
        matches!(
            (self, kind),
            (Geometry::Point(_), super::GeometryKind::Point)
                | (Geometry::Line(_), super::GeometryKind::Line)
                | (Geometry::Polygon(_), super::GeometryKind::Polygon)
        )
    }

    /// Checks that every coordinate is a finite WGS84 position and a line has ≥ 2 points.
    pub fn validate(&self) -> Result<(), String> {
        let check = |[x, y]: [f64; 2]| -> Result<(), String> {
            if !x.is_finite() || !y.is_finite() {
                return Err(format!("coordinate ({x}, {y}) is not a finite number"));
            }
            if !(-180.0..=180.0).contains(&x) || !(-90.0..=90.0).contains(&y) {
                return Err(format!(
                    "coordinate (lon {x}, lat {y}) is outside WGS84 range (lon −180…180, lat −90…90)"
                ));
            }
            Ok(())
        };
        match self {
            Geometry::Point(p) => check(*p),
            Geometry::Line(pts) => {
                if pts.len() < 2 {
                    return Err(format!("a line needs at least 2 points, got {}", pts.len()));
                }
                pts.iter().try_for_each(|p| check(*p))
            }
            Geometry::Polygon(polygons) => {
                if polygons.is_empty() {
                    return Err("an area needs at least one polygon".into());
                }
                for (i, p) in polygons.iter().enumerate() {
                    if p.is_empty() {
                        return Err(format!("polygon {} has no rings", i + 1));
                    }
                    for (j, r) in p.iter().enumerate() {
                        let which = if j == 0 {
                            format!("polygon {}'s exterior ring", i + 1)
                        } else {
                            format!("polygon {}'s hole {}", i + 1, j)
                        };
                        if r.len() < 4 || r.first() != r.last() {
                            return Err(format!(
                                "{which} needs at least 4 positions, the last the same as the first (got {})",
                                r.len()
                            ));
                        }
                        r.iter()
                            .try_for_each(|p| check(*p))
                            .map_err(|e| format!("{which}: {e}"))?;
                    }
                    // The exterior comes first and has an area; each hole lies inside it (a
                    // point inside the hole is inside the exterior: a hole may touch it).
                    use geo::{Area, Contains, InteriorPoint};
                    let ring = |r: &Ring| -> geo::LineString<f64> {
                        r.iter().map(|q| (q[0], q[1])).collect()
                    };
                    let exterior = geo::Polygon::new(ring(&p[0]), Vec::new());
                    if exterior.unsigned_area() == 0.0 {
                        return Err(format!("polygon {}'s exterior ring has no area", i + 1));
                    }
                    for (j, h) in p.iter().enumerate().skip(1) {
                        let inside = geo::Polygon::new(ring(h), Vec::new())
                            .interior_point()
                            .is_some_and(|at| exterior.contains(&at));
                        if !inside {
                            return Err(format!(
                                "polygon {}'s hole {j} is not inside its exterior ring (the exterior ring comes first)",
                                i + 1
                            ));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Reads a GeoJSON Point, LineString, Polygon or MultiPolygon and validates it.
    pub fn from_geojson(v: &serde_json::Value) -> Result<Geometry, String> {
        let kind = v
            .get("type")
            .and_then(|t| t.as_str())
            .ok_or("geometry needs a \"type\"")?;
        let coords = v
            .get("coordinates")
            .ok_or("geometry needs \"coordinates\"")?;
        let pos = |c: &serde_json::Value| -> Result<[f64; 2], String> {
            let a = c
                .as_array()
                .filter(|a| a.len() >= 2)
                .ok_or("a position is [lon, lat]")?;
            let n =
                |x: &serde_json::Value| x.as_f64().ok_or_else(|| format!("{x} is not a number"));
            Ok([n(&a[0])?, n(&a[1])?])
        };
        let g = match kind {
            "Point" => Geometry::Point(pos(coords)?),
            "LineString" => Geometry::Line(
                coords
                    .as_array()
                    .ok_or("LineString coordinates are a list of positions")?
                    .iter()
                    .map(pos)
                    .collect::<Result<_, _>>()?,
            ),
            "Polygon" | "MultiPolygon" => {
                let ring = |r: &serde_json::Value| -> Result<Vec<[f64; 2]>, String> {
                    r.as_array()
                        .ok_or("a ring is a list of positions")?
                        .iter()
                        .map(pos)
                        .collect()
                };
                let polygon = |p: &serde_json::Value| -> Result<Vec<Vec<[f64; 2]>>, String> {
                    p.as_array()
                        .ok_or("a polygon is a list of rings")?
                        .iter()
                        .map(ring)
                        .collect()
                };
                let list = coords
                    .as_array()
                    .ok_or(format!("{kind} coordinates are a list"))?;
                Geometry::Polygon(if kind == "Polygon" {
                    vec![polygon(coords)?]
                } else {
                    list.iter().map(polygon).collect::<Result<_, _>>()?
                })
            }
            other => {
                return Err(format!(
                    "geometry type {other:?} is not supported (Point, LineString, Polygon or MultiPolygon)"
                ));
            }
        };
        g.validate()?;
        Ok(g)
    }

    pub fn to_geojson(&self) -> serde_json::Value {
        match self {
            Geometry::Point([x, y]) => serde_json::json!({"type": "Point", "coordinates": [x, y]}),
            Geometry::Line(pts) => {
                serde_json::json!({"type": "LineString", "coordinates": pts})
            }
            Geometry::Polygon(polygons) if polygons.len() == 1 => {
                serde_json::json!({"type": "Polygon", "coordinates": polygons[0]})
            }
            Geometry::Polygon(polygons) => {
                serde_json::json!({"type": "MultiPolygon", "coordinates": polygons})
            }
        }
    }
}

impl TryFrom<serde_json::Value> for Geometry {
    type Error = String;
    fn try_from(v: serde_json::Value) -> Result<Self, String> {
        Geometry::from_geojson(&v)
    }
}

/// Where an object came from: file name and the id it had there (e.g. `node/123`).
/// Ids up to 24 bytes are kept inline (no heap allocation per object).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Source {
    pub file: Arc<str>,
    pub id: compact_str::CompactString,
}

/// A city object as held by the twin and the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub id: ObjectId,
    pub layer: LayerId,
    pub number: Option<Number>,
    pub geometry: Geometry,
    pub status: Status,
    /// When `status` last changed (ms since epoch).
    pub status_changed: i64,
    pub attributes: Attributes,
    pub source: Source,
    pub created: i64,
    pub updated: i64,
}

/// What an importer produces: an object without id or timestamps.
/// The attribute that hides an object from the public: an object whose `hidden` is true
/// appears only to the roles of `[access] hidden` (staff by default) — in no tile, search,
/// route, export or statistic anyone else gets.
pub const HIDDEN: &str = "hidden";

/// Whether attributes carry a true `hidden` flag (`true`, `1`, or the text `true`, `yes`,
/// `так`, `1`).
pub fn hidden_flag(a: &Attributes) -> bool {
    match a.get(HIDDEN) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Int(i)) => *i != 0,
        Some(Value::Float(f)) => *f != 0.0,
        Some(Value::Text(t)) => matches!(
            t.trim().to_lowercase().as_str(),
            "true" | "yes" | "1" | "так"
        ),
        None => false,
    }
}

impl Object {
    /// Whether the object is hidden from the public (see [`HIDDEN`]).
    pub fn is_hidden(&self) -> bool {
        hidden_flag(&self.attributes)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub layer: LayerId,
    pub geometry: Geometry,
    pub status: Status,
    pub attributes: Attributes,
    pub source: Source,
    /// A number painted on the object that came with the source (e.g. OSM `ref`), verbatim.
    pub source_number: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses_both_languages() {
        assert_eq!(Status::parse(" Broken "), Some(Status::Broken));
        assert_eq!(Status::parse("закрито"), Some(Status::Closed));
        assert_eq!(Status::parse("weird"), None);
    }

    #[test]
    fn geometry_validation() {
        assert!(Geometry::Point([30.5, 50.4]).validate().is_ok());
        assert!(Geometry::Point([f64::NAN, 50.4]).validate().is_err());
        assert!(Geometry::Point([200.0, 50.4]).validate().is_err());
        assert!(Geometry::Line(vec![[1.0, 1.0]]).validate().is_err());
        assert_eq!(
            Geometry::Line(vec![[1.0, 5.0], [3.0, 2.0]]).bbox(),
            [1.0, 2.0, 3.0, 5.0]
        );
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn objects_stay_small() {
        // The twin holds millions of these: keep an eye on the size.
        let size = std::mem::size_of::<Object>();
        assert!(size <= 160, "Object grew to {size} bytes");
        let mut a = Attributes::new();
        a.insert("b".into(), Value::Int(1));
        a.insert("a".into(), Value::Text("x".into()));
        a.insert("b".into(), Value::Int(2));
        assert_eq!(a.keys().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(a.get("b"), Some(&Value::Int(2)));
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"a":"x","b":2}"#);
        let back: Attributes =
            serde_json::from_str(r#"{"b":2,"a":"x","n":null,"f":1.5,"t":true,"o":{"k":[1]}}"#)
                .unwrap();
        assert_eq!(back.get("a"), Some(&Value::Text("x".into())));
        assert_eq!(back.get("f"), Some(&Value::Float(1.5)));
        assert_eq!(back.get("t"), Some(&Value::Bool(true)));
        assert_eq!(back.get("o"), Some(&Value::Text(r#"{"k":[1]}"#.into())));
        assert!(!back.contains_key("n"));
    }
}
