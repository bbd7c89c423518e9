//! The Mapbox Vector Tile 2.1 layer writer of citytwin's tiles.
//!
//! Written here rather than taken from a crate for one measured reason: in a cold tile of the
//! 1M city (z14–z16, ~1,400 points a layer) a general writer spent a sixth of the server's CPU
//! putting every value into a hash table and sorting the table at the end — and a painted
//! number is different on every object by construction, so looking it up can never find it.
//! Here a value known to be unique ([`LayerWriter::tag_unique`]) is appended to the layer's
//! value table as it comes; every other value is looked up once; values and keys are written
//! straight into their bytes in the order first met, so nothing is sorted. A feature is written
//! in place, with no builder moved in and out per feature.
//!
//! Output follows the specification's MUST rules (checked independently by
//! [`super::conformance`]): version 2, the layer's name and extent, commands that fit their
//! geometry type, rings closed by one `ClosePath`, exterior rings with a positive area in tile
//! coordinates (clockwise, y down) and interior ones negative.

use std::collections::HashMap;

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// A property value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Str(&'a str),
    Double(f64),
    UInt(u64),
    /// Written as `sint_value` (zigzag): for negative numbers.
    SInt(i64),
    Bool(bool),
}

/// MVT geometry types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeomType {
    Point = 1,
    LineString = 2,
    Polygon = 3,
}

/// A non-string value as a hash key (floats by their bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scalar {
    Double(u64),
    UInt(u64),
    SInt(i64),
    Bool(bool),
}

const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

/// One layer of a tile, written feature by feature.
#[derive(Debug)]
pub struct LayerWriter {
    name: String,
    extent: u32,
    /// `Layer.features` fields, encoded.
    features: Vec<u8>,
    count: usize,
    /// `Layer.keys`, encoded, and their names in index order (a layer has a few keys: a
    /// linear search beats hashing them).
    keys: Vec<u8>,
    key_names: Vec<Box<str>>,
    /// `Layer.values`, encoded, and how many.
    values: Vec<u8>,
    value_count: u32,
    strings: Map<Box<str>, u32>,
    scalars: Map<Scalar, u32>,
    /// The feature being written.
    id: Option<u64>,
    kind: GeomType,
    tags: Vec<u32>,
    geometry: Vec<u32>,
    cursor: (i32, i32),
    /// A ring gathered to check its winding.
    ring: Vec<(i32, i32)>,
}

impl LayerWriter {
    pub fn new(name: &str, extent: u32) -> LayerWriter {
        LayerWriter {
            name: name.to_string(),
            extent,
            features: Vec::new(),
            count: 0,
            keys: Vec::new(),
            key_names: Vec::new(),
            values: Vec::new(),
            value_count: 0,
            strings: Map::default(),
            scalars: Map::default(),
            id: None,
            kind: GeomType::Point,
            tags: Vec::new(),
            geometry: Vec::new(),
            cursor: (0, 0),
            ring: Vec::new(),
        }
    }

    /// Features written.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Starts a feature; [`LayerWriter::end`] writes it.
    pub fn begin(&mut self, id: Option<u64>, kind: GeomType) {
        self.id = id;
        self.kind = kind;
        self.tags.clear();
        self.geometry.clear();
        self.cursor = (0, 0);
    }

    fn key(&mut self, key: &str) -> u32 {
        if let Some(i) = self.key_names.iter().position(|k| &**k == key) {
            return i as u32;
        }
        put_bytes_field(3, key.as_bytes(), &mut self.keys);
        self.key_names.push(key.into());
        (self.key_names.len() - 1) as u32
    }

    fn push_value(&mut self, v: Value<'_>) -> u32 {
        let out = &mut self.values;
        match v {
            Value::Str(s) => {
                let n = s.len();
                put_tag(4, 2, out);
                put_varint((1 + varint_len(n as u64) + n) as u64, out);
                put_bytes_field(1, s.as_bytes(), out);
            }
            Value::Double(x) => {
                put_tag(4, 2, out);
                put_varint(9, out);
                put_tag(3, 1, out);
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::UInt(u) => {
                put_tag(4, 2, out);
                put_varint(1 + varint_len(u) as u64, out);
                put_tag(5, 0, out);
                put_varint(u, out);
            }
            Value::SInt(i) => {
                let z = ((i << 1) ^ (i >> 63)) as u64;
                put_tag(4, 2, out);
                put_varint(1 + varint_len(z) as u64, out);
                put_tag(6, 0, out);
                put_varint(z, out);
            }
            Value::Bool(b) => {
                put_tag(4, 2, out);
                put_varint(2, out);
                put_tag(7, 0, out);
                put_varint(u64::from(b), out);
            }
        }
        self.value_count += 1;
        self.value_count - 1
    }

    /// A property of the feature; equal values share one entry of the layer's value table.
    pub fn tag(&mut self, key: &str, value: Value<'_>) {
        let k = self.key(key);
        let v = match value {
            Value::Str(s) => match self.strings.get(s) {
                Some(&i) => i,
                None => {
                    let i = self.push_value(value);
                    self.strings.insert(s.into(), i);
                    i
                }
            },
            Value::Double(x) => self.scalar(Scalar::Double(x.to_bits()), value),
            Value::UInt(u) => self.scalar(Scalar::UInt(u), value),
            Value::SInt(i) => self.scalar(Scalar::SInt(i), value),
            Value::Bool(b) => self.scalar(Scalar::Bool(b), value),
        };
        self.tags.extend([k, v]);
    }

    fn scalar(&mut self, key: Scalar, value: Value<'_>) -> u32 {
        if let Some(&i) = self.scalars.get(&key) {
            return i;
        }
        let i = self.push_value(value);
        self.scalars.insert(key, i);
        i
    }

    /// A string property no other feature of the layer has (a painted number): appended to the
    /// value table without a lookup. Given twice, it is simply stored twice, which is valid.
    pub fn tag_unique(&mut self, key: &str, value: &str) {
        let k = self.key(key);
        let v = self.push_value(Value::Str(value));
        self.tags.extend([k, v]);
    }

    fn command(&mut self, id: u32, count: usize) {
        self.geometry.push(id | ((count as u32) << 3));
    }

    fn delta(&mut self, (x, y): (i32, i32)) {
        let (dx, dy) = (x.wrapping_sub(self.cursor.0), y.wrapping_sub(self.cursor.1));
        self.geometry.extend([
            ((dx << 1) ^ (dx >> 31)) as u32,
            ((dy << 1) ^ (dy >> 31)) as u32,
        ]);
        self.cursor = (x, y);
    }

    /// A point of a point feature (several make a multi-point).
    pub fn point(&mut self, at: (i32, i32)) {
        self.command(MOVE_TO, 1);
        self.delta(at);
    }

    /// A line of a line feature: two points or more.
    pub fn line(&mut self, points: &[(i32, i32)]) {
        let Some((&first, rest)) = points.split_first() else {
            return;
        };
        self.command(MOVE_TO, 1);
        self.delta(first);
        if !rest.is_empty() {
            self.command(LINE_TO, rest.len());
            for &p in rest {
                self.delta(p);
            }
        }
    }

    /// A ring of a polygon feature, open or closed: its exterior first, then its holes. It is
    /// turned around when it winds the wrong way for its role.
    pub fn ring(&mut self, points: &[(i32, i32)], exterior: bool) {
        let mut ring = std::mem::take(&mut self.ring);
        ring.clear();
        ring.extend_from_slice(points);
        if ring.len() >= 2 && ring.first() == ring.last() {
            ring.pop();
        }
        if !ring.is_empty() {
            let area = twice_area(&ring);
            if area != 0 && (area > 0) != exterior {
                ring.reverse();
            }
            self.command(MOVE_TO, 1);
            self.delta(ring[0]);
            if ring.len() > 1 {
                self.command(LINE_TO, ring.len() - 1);
                for &p in &ring[1..] {
                    self.delta(p);
                }
            }
            self.command(CLOSE_PATH, 1);
        }
        self.ring = ring;
    }

    /// Writes the feature begun last.
    pub fn end(&mut self) {
        let tags_len = packed_len(&self.tags);
        let geometry_len = packed_len(&self.geometry);
        let len = self.id.map_or(0, |id| 1 + varint_len(id))
            + field_len(tags_len)
            + 2
            + field_len(geometry_len);
        let out = &mut self.features;
        put_tag(2, 2, out);
        put_varint(len as u64, out);
        if let Some(id) = self.id {
            put_tag(1, 0, out);
            put_varint(id, out);
        }
        put_packed(2, &self.tags, tags_len, out);
        put_tag(3, 0, out);
        put_varint(self.kind as u64, out);
        put_packed(4, &self.geometry, geometry_len, out);
        self.count += 1;
    }

    /// Appends the layer, as a `Tile.layers` field, to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let name = self.name.as_bytes();
        let len = 1
            + varint_len(name.len() as u64)
            + name.len()
            + self.features.len()
            + self.keys.len()
            + self.values.len()
            + 1
            + varint_len(u64::from(self.extent))
            + 2;
        out.reserve(len + 6);
        put_tag(3, 2, out);
        put_varint(len as u64, out);
        put_bytes_field(1, name, out);
        out.extend_from_slice(&self.features);
        out.extend_from_slice(&self.keys);
        out.extend_from_slice(&self.values);
        put_tag(5, 0, out);
        put_varint(u64::from(self.extent), out);
        put_tag(15, 0, out);
        put_varint(2, out);
    }
}

/// Twice the ring's area by the surveyor's formula in tile coordinates (positive: clockwise
/// on screen, y down).
fn twice_area(ring: &[(i32, i32)]) -> i64 {
    let mut a = 0i64;
    let mut prev = ring[ring.len() - 1];
    for &p in ring {
        a += i64::from(prev.0) * i64::from(p.1) - i64::from(p.0) * i64::from(prev.1);
        prev = p;
    }
    a
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(field: u32, wire: u32, out: &mut Vec<u8>) {
    put_varint(u64::from((field << 3) | wire), out);
}

fn put_bytes_field(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    put_tag(field, 2, out);
    put_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn packed_len(values: &[u32]) -> usize {
    values.iter().map(|&v| varint_len(u64::from(v))).sum()
}

/// The bytes of a packed field of `len` payload bytes (none when empty).
fn field_len(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        1 + varint_len(len as u64) + len
    }
}

fn put_packed(field: u32, values: &[u32], len: usize, out: &mut Vec<u8>) {
    if values.is_empty() {
        return;
    }
    put_tag(field, 2, out);
    put_varint(len as u64, out);
    for &v in values {
        put_varint(u64::from(v), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer_bytes(w: &LayerWriter) -> Vec<u8> {
        let mut out = Vec::new();
        w.write_to(&mut out);
        out
    }

    #[test]
    fn varints_are_as_protobuf_writes_them() {
        for (v, bytes) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (127, vec![0x7f]),
            (128, vec![0x80, 1]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
            ),
        ] {
            let mut out = Vec::new();
            put_varint(v, &mut out);
            assert_eq!(out, bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len(), "{v}");
        }
    }

    #[test]
    fn a_layer_decodes_with_its_keys_values_and_features() {
        let mut w = LayerWriter::new("poles", 4096);
        w.begin(Some(7), GeomType::Point);
        w.tag_unique("number", "ОП-104273-5");
        w.tag("status", Value::Str("ok"));
        w.tag("height", Value::Double(9.5));
        w.tag("lamps", Value::UInt(2));
        w.tag("offset", Value::SInt(-3));
        w.tag("lit", Value::Bool(true));
        w.point((25, 17));
        w.end();
        w.begin(Some(8), GeomType::Point);
        w.tag_unique("number", "ОП-104274-3");
        w.tag("status", Value::Str("ok"));
        w.tag("lamps", Value::UInt(2));
        w.point((1, 1));
        w.end();
        assert_eq!(w.len(), 2);
        let layers = crate::tiles::conformance::check(&layer_bytes(&w)).unwrap();
        let l = &layers[0];
        assert_eq!((l.name.as_str(), l.version, l.extent), ("poles", 2, 4096));
        assert_eq!(
            l.keys,
            ["number", "status", "height", "lamps", "offset", "lit"]
        );
        // Shared: "ok" and 2; the numbers each their own.
        assert_eq!(l.values, 7);
        assert_eq!(l.features[0].id, Some(7));
        assert_eq!(l.features[0].geometry, [9, 50, 34]);
        assert_eq!(l.features[1].tags, [0, 6, 1, 1, 3, 3]);
        // Each feature's first point is relative to (0, 0), not to the feature before.
        assert_eq!(l.features[1].geometry, [9, 2, 2]);
    }

    #[test]
    fn rings_wind_by_their_role_whatever_way_they_come() {
        // The spec's example 4.3.5.7 shape: an exterior square and a hole.
        let square = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)];
        let mut reversed = square;
        reversed.reverse();
        for (outer, hole) in [(&square, &reversed), (&reversed, &square)] {
            let mut w = LayerWriter::new("buildings", 4096);
            w.begin(Some(1), GeomType::Polygon);
            w.ring(outer, true);
            let inner: Vec<(i32, i32)> =
                hole.iter().map(|&(x, y)| (x / 2 + 2, y / 2 + 2)).collect();
            w.ring(&inner, false);
            w.end();
            // The conformance check refuses a wrongly wound ring.
            let layers = crate::tiles::conformance::check(&layer_bytes(&w)).unwrap();
            let g = &layers[0].features[0].geometry;
            // MoveTo(1), LineTo(3), ClosePath(1), twice.
            assert_eq!((g[0], g[3], g[10]), (9, 26, 15));
            assert_eq!((g[11], g[14], g[21]), (9, 26, 15));
        }
    }

    #[test]
    fn a_line_and_an_empty_layer() {
        let mut w = LayerWriter::new("streets", 4096);
        assert!(w.is_empty());
        w.begin(None, GeomType::LineString);
        w.line(&[(2, 2), (2, 10), (10, 10)]);
        w.end();
        let layers = crate::tiles::conformance::check(&layer_bytes(&w)).unwrap();
        // Spec example 4.3.5.3.
        assert_eq!(layers[0].features[0].geometry, [9, 4, 4, 18, 0, 16, 16, 0]);
        assert_eq!(layers[0].features[0].id, None);
    }
}
