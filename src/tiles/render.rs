//! One tile from the twin: every requested layer's objects in the tile (plus its buffer),
//! clustered where the layer is below its minimum zoom or too dense, encoded as MVT 2.1.

use super::TileSettings;
use super::coord::{Frame, TileId};
use super::mvt::{GeomType, LayerWriter, Value as MvtValue};
use super::{polygon, shape};
use crate::access::{AttrView, View};
use crate::model::{GeometryKind, LayerId, Object, Value};
use crate::twin::Twin;

/// A rendered tile.
#[derive(Debug, Default)]
pub struct Rendered {
    /// The MVT bytes; empty when no layer has a feature here.
    pub bytes: Vec<u8>,
    /// Features written (clusters count one each).
    pub features: usize,
    /// Features that are clusters.
    pub clusters: usize,
}

/// Renders `layers` (each once, in the order given) of one tile. Each layer is encoded on its
/// own and the non-empty ones are joined: a tile is the concatenation of its layer messages.
/// Attributes are those `view` shows of each layer (the caller checked that it reads them).
pub fn render(
    twin: &Twin,
    layers: &[LayerId],
    tile: TileId,
    s: &TileSettings,
    view: &View,
) -> Rendered {
    let mut out = Rendered::default();
    let frame = Frame::new(tile, s.extent);
    for &l in layers {
        let def = twin.layers().def(l);
        let mut layer = LayerWriter::new(&def.name, s.extent);
        // Hidden objects are left out for viewers who may not see them; a layer without any
        // is drawn without looking at a flag.
        let hide = !view.sees_hidden() && twin.hidden_count(l) > 0;
        let attrs = view.attrs(l);
        let clusters = match def.geometry {
            GeometryKind::Point => points(twin, l, tile, &frame, s, &mut layer, attrs, hide),
            GeometryKind::Line => lines(twin, l, tile, &frame, s, &mut layer, attrs, hide),
            GeometryKind::Polygon => polygons(twin, l, tile, &frame, s, &mut layer, attrs, hide),
        };
        // An empty layer is left out: the spec asks encoders not to write one.
        if !layer.is_empty() {
            layer.write_to(&mut out.bytes);
            out.features += layer.len();
            out.clusters += clusters;
        }
    }
    out
}

/// The point standing for a cluster cell that holds only it.
#[derive(Clone)]
struct Found {
    id: u64,
    at: [f64; 2],
}

/// The points of one cluster cell, summed up as they are found (no list of them is kept, so a
/// low-zoom tile over a million points costs one pass and a few hundred cells).
#[derive(Clone)]
struct Cell {
    count: u64,
    /// Sum of the grid positions: integers, so the mean does not depend on the order the
    /// R-tree gives the points in.
    sum: [i64; 2],
    bbox: [f64; 4],
    /// The first point, shown as itself when the cell holds only it.
    first: Option<Found>,
}

impl Default for Cell {
    fn default() -> Self {
        Cell {
            count: 0,
            sum: [0; 2],
            bbox: [f64::MAX, f64::MAX, f64::MIN, f64::MIN],
            first: None,
        }
    }
}

impl Cell {
    fn add(&mut self, id: u64, lonlat: [f64; 2], at: [f64; 2]) {
        self.count += 1;
        let (x, y) = shape::snap(at);
        self.sum = [self.sum[0] + i64::from(x), self.sum[1] + i64::from(y)];
        self.bbox = [
            self.bbox[0].min(lonlat[0]),
            self.bbox[1].min(lonlat[1]),
            self.bbox[2].max(lonlat[0]),
            self.bbox[3].max(lonlat[1]),
        ];
        // The smallest id stands for a cell of one: the same data gives the same tile.
        if self.first.as_ref().is_none_or(|f| id < f.id) {
            self.first = Some(Found { id, at });
        }
    }
}

/// A point found in a tile and kept as itself: its id above its grid position, so that sorting
/// these sorts by id.
fn pack(id: u64, (x, y): (i32, i32)) -> u128 {
    (u128::from(id) << 64) | (u128::from(x as u32) << 32) | u128::from(y as u32)
}

fn unpack(p: u128) -> (u64, (i32, i32)) {
    ((p >> 64) as u64, ((p >> 32) as u32 as i32, p as u32 as i32))
}

#[allow(clippy::too_many_arguments)]
fn points(
    twin: &Twin,
    l: LayerId,
    tile: TileId,
    frame: &Frame,
    s: &TileSettings,
    layer: &mut LayerWriter,
    attrs: AttrView<'_>,
    hide: bool,
) -> usize {
    let e = f64::from(s.extent);
    let b = f64::from(s.buffer);
    let def = twin.layers().def(l);
    // Below the layer's minimum zoom points are always clustered; above it, only once more
    // than `point_cap` of them fall inside the tile (then the list is dropped).
    let mut clustered = tile.z < def.min_zoom;
    let cell = f64::from(s.cluster_cell.max(1));
    let side = (e / cell).ceil().max(1.0) as usize;
    let mut cells: Vec<Cell> = Vec::new();
    if clustered {
        cells = vec![Cell::default(); side * side];
    }
    // Clusters count the points inside the tile only (not its buffer), so every point is
    // counted by exactly one tile.
    let add = |cells: &mut Vec<Cell>, id: u64, lonlat: [f64; 2], at: [f64; 2]| {
        if in_tile(at, e) {
            let cx = ((at[0] / cell) as usize).min(side - 1);
            let cy = ((at[1] / cell) as usize).min(side - 1);
            cells[cy * side + cx].add(id, lonlat, at);
        }
    };
    // The points kept as themselves, and where each is (read again only if the tile turns out
    // too dense and its points become clusters after all).
    let mut found: Vec<u128> = Vec::new();
    let mut lonlats: Vec<[f64; 2]> = Vec::new();
    let mut inside = 0usize;
    twin.visit_points(l, tile.bounds(s.extent, b), |id, lonlat| {
        let at = frame.to_tile(lonlat);
        if !(at[0] >= -b && at[0] <= e + b && at[1] >= -b && at[1] <= e + b) {
            return;
        }
        if hide && twin.get(id).is_none_or(|o| o.is_hidden()) {
            return;
        }
        if clustered {
            add(&mut cells, id, lonlat, at);
            return;
        }
        found.push(pack(id, shape::snap(at)));
        lonlats.push(lonlat);
        if in_tile(at, e) {
            inside += 1;
            if inside > s.point_cap {
                clustered = true;
                cells = vec![Cell::default(); side * side];
                for (&p, &lonlat) in found.iter().zip(&lonlats) {
                    add(&mut cells, unpack(p).0, lonlat, frame.to_tile(lonlat));
                }
                found = Vec::new();
                lonlats = Vec::new();
            }
        }
    });
    let mut number = String::new();
    if !clustered {
        // In id order: the same objects give the same bytes whatever shape the R-tree has
        // after edits, so a tile's ETag is the same after a restart and on every replica.
        found.sort_unstable();
        for &p in &found {
            let (id, at) = unpack(p);
            if let Some(o) = twin.get(id) {
                object_point(layer, twin, o, at, &mut number, attrs);
            }
        }
        return 0;
    }
    let mut clusters = 0;
    for c in &cells {
        match (&c.first, c.count) {
            (_, 0) | (None, _) => {}
            (Some(one), 1) => {
                if let Some(o) = twin.get(one.id) {
                    object_point(layer, twin, o, shape::snap(one.at), &mut number, attrs);
                }
            }
            _ => {
                cluster_point(layer, c);
                clusters += 1;
            }
        }
    }
    clusters
}

fn in_tile(at: [f64; 2], e: f64) -> bool {
    at[0] >= 0.0 && at[0] < e && at[1] >= 0.0 && at[1] < e
}

fn object_point(
    layer: &mut LayerWriter,
    twin: &Twin,
    o: &Object,
    at: (i32, i32),
    number: &mut String,
    attrs: AttrView<'_>,
) {
    layer.begin(Some(o.id), GeomType::Point);
    properties(layer, twin, o, number, attrs);
    layer.point(at);
    layer.end();
}

fn cluster_point(layer: &mut LayerWriter, c: &Cell) {
    let n = c.count as f64;
    let at = shape::snap([c.sum[0] as f64 / n, c.sum[1] as f64 / n]);
    let abbreviated = abbreviate(c.count);
    layer.begin(None, GeomType::Point);
    layer.tag("cluster", MvtValue::Bool(true));
    layer.tag("point_count", MvtValue::UInt(c.count));
    layer.tag("point_count_abbreviated", MvtValue::Str(&abbreviated));
    layer.tag("min_lon", MvtValue::Double(c.bbox[0]));
    layer.tag("min_lat", MvtValue::Double(c.bbox[1]));
    layer.tag("max_lon", MvtValue::Double(c.bbox[2]));
    layer.tag("max_lat", MvtValue::Double(c.bbox[3]));
    layer.point(at);
    layer.end();
}

/// `1234` → `1.2k`, as map labels show counts.
pub fn abbreviate(n: u64) -> String {
    match n {
        0..1000 => n.to_string(),
        1000..10_000 => format!("{:.1}k", n as f64 / 1000.0),
        10_000..1_000_000 => format!("{}k", n / 1000),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// The lines or the polygons of a layer in a tile, in id order (the same objects give the same
/// bytes): `cut` gives the part of an object's geometry the tile holds, if any, and `write`
/// writes it into the object's feature. Left out below the layer's minimum zoom.
#[allow(clippy::too_many_arguments)]
fn shapes<P>(
    twin: &Twin,
    l: LayerId,
    tile: TileId,
    s: &TileSettings,
    layer: &mut LayerWriter,
    attrs: AttrView<'_>,
    hide: bool,
    kind: GeomType,
    mut cut: impl FnMut(&Object) -> Option<P>,
    write: impl Fn(&mut LayerWriter, &P),
) -> usize {
    if tile.z < twin.layers().def(l).min_zoom {
        return 0;
    }
    let mut ids = twin.query(l, tile.bounds(s.extent, f64::from(s.buffer)));
    ids.sort_unstable();
    let mut number = String::new();
    for id in ids {
        let Some(o) = twin.get(id) else { continue };
        if hide && o.is_hidden() {
            continue;
        }
        let Some(part) = cut(o) else { continue };
        layer.begin(Some(o.id), kind);
        properties(layer, twin, o, &mut number, attrs);
        write(layer, &part);
        layer.end();
    }
    0
}

#[allow(clippy::too_many_arguments)]
fn lines(
    twin: &Twin,
    l: LayerId,
    tile: TileId,
    frame: &Frame,
    s: &TileSettings,
    layer: &mut LayerWriter,
    attrs: AttrView<'_>,
    hide: bool,
) -> usize {
    let (lo, hi) = (-f64::from(s.buffer), f64::from(s.extent + s.buffer));
    let mut projected = Vec::new();
    let cut = |o: &Object| {
        let crate::model::Geometry::Line(pts) = &o.geometry else {
            return None;
        };
        projected.clear();
        projected.extend(pts.iter().map(|p| frame.to_tile(*p)));
        let pieces = shape::line_pieces(&projected, s.simplify, lo, hi);
        (!pieces.is_empty()).then_some(pieces)
    };
    let write = |layer: &mut LayerWriter, pieces: &Vec<shape::GridLine>| {
        for p in pieces {
            layer.line(p);
        }
    };
    let kind = GeomType::LineString;
    shapes(twin, l, tile, s, layer, attrs, hide, kind, cut, write)
}

/// From this zoom on areas are drawn in full detail: every one, however small, and none
/// simplified (a building's outline is its outline, and its area in the tiles is its area to
/// the grid's rounding). Below it an area smaller than a pixel of a 512-pixel tile is left
/// out — at a city's overview a house is less than a pixel, and a tile of every such house
/// would be mostly invisible bytes — and rings are simplified like lines.
const FULL_DETAIL_FROM: u8 = 16;

#[allow(clippy::too_many_arguments)]
fn polygons(
    twin: &Twin,
    l: LayerId,
    tile: TileId,
    frame: &Frame,
    s: &TileSettings,
    layer: &mut LayerWriter,
    attrs: AttrView<'_>,
    hide: bool,
) -> usize {
    let pixel = f64::from(s.extent) / 512.0;
    let detail = tile.z >= FULL_DETAIL_FROM;
    let cut = polygon::Cut {
        lo: -f64::from(s.buffer),
        hi: f64::from(s.extent + s.buffer),
        tolerance: if detail { 0.0 } else { s.simplify },
        min_area: if detail { 0.0 } else { pixel * pixel },
    };
    // All parts of an object are cut together: the grid may make two of them meet.
    let pieces = |o: &Object| {
        let crate::model::Geometry::Polygon(parts) = &o.geometry else {
            return None;
        };
        let projected: Vec<Vec<Vec<[f64; 2]>>> = parts
            .iter()
            .map(|rings| {
                rings
                    .iter()
                    .map(|r| r.iter().map(|p| frame.to_tile(*p)).collect())
                    .collect()
            })
            .collect();
        let pieces = polygon::polygon_pieces(&projected, &cut);
        (!pieces.is_empty()).then_some(pieces)
    };
    let write = |layer: &mut LayerWriter, pieces: &Vec<polygon::GridPolygon>| {
        for p in pieces {
            for (i, ring) in p.iter().enumerate() {
                layer.ring(ring, i == 0);
            }
        }
    };
    let kind = GeomType::Polygon;
    shapes(twin, l, tile, s, layer, attrs, hide, kind, pieces, write)
}

/// The painted number, status and attributes of an object. The number is unique to the object:
/// it goes into the layer's value table without a lookup.
fn properties(
    layer: &mut LayerWriter,
    twin: &Twin,
    o: &Object,
    number: &mut String,
    attrs: AttrView<'_>,
) {
    let def = twin.layers().def(o.layer);
    if let Some(num) = &o.number {
        num.write_with_code(&def.code, twin.serial_width(), number);
        layer.tag_unique("number", number);
    }
    layer.tag("status", MvtValue::Str(o.status.as_str()));
    for (k, v) in o.attributes.iter() {
        if matches!(k, "number" | "status" | "cluster" | "point_count") || !attrs.shows(k) {
            continue;
        }
        let v = match v {
            Value::Bool(b) => MvtValue::Bool(*b),
            Value::Int(i) if *i < 0 => MvtValue::SInt(*i),
            Value::Int(i) => MvtValue::UInt(*i as u64),
            Value::Float(x) => MvtValue::Double(*x),
            Value::Text(t) => MvtValue::Str(t.as_str()),
        };
        layer.tag(k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Geometry, Layers};
    use crate::twin::tests::obj;

    fn all() -> std::sync::Arc<View> {
        let layers = crate::model::Layers::default_city();
        crate::access::Policy::new(&crate::access::AccessConfig::default(), &layers)
            .view(crate::access::Role::Admin)
    }

    fn settings() -> TileSettings {
        TileSettings::default()
    }

    #[test]
    fn counts_abbreviate_like_map_labels() {
        assert_eq!(abbreviate(999), "999");
        assert_eq!(abbreviate(1234), "1.2k");
        assert_eq!(abbreviate(56_789), "56k");
        assert_eq!(abbreviate(2_500_000), "2.5M");
    }

    #[test]
    fn empty_layers_are_left_out_and_an_empty_tile_has_no_bytes() {
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let wifi = layers.by_name("wifi").unwrap();
        let cams = layers.by_name("cameras").unwrap();
        let t = Twin::build(
            layers.clone(),
            6,
            vec![obj(1, wifi, [35.0866, 47.8723], 100_001)],
        );
        let tile = TileId {
            z: 16,
            x: 39_155,
            y: 22_815,
        };
        let r = render(&t, &[poles, wifi, cams], tile, &settings(), &all());
        assert_eq!(r.features, 1);
        let reader = mvt_reader::Reader::new(r.bytes.clone()).unwrap();
        let names = reader.get_layer_names().unwrap();
        assert_eq!(names, vec!["wifi".to_string()]);
        let far = TileId { z: 16, x: 0, y: 0 };
        assert!(
            render(&t, &[poles, wifi], far, &settings(), &all())
                .bytes
                .is_empty()
        );
        // A line layer at a zoom below its minimum: nothing.
        let spans = layers.by_name("fibre_spans").unwrap();
        let mut line = obj(2, spans, [0.0, 0.0], 100_002);
        line.geometry = Geometry::Line(vec![[35.08, 47.87], [35.09, 47.88]]);
        let t = Twin::build(layers, 6, vec![line]);
        let low = TileId { z: 5, x: 19, y: 11 };
        assert_eq!(render(&t, &[spans], low, &settings(), &all()).features, 0);
    }

    fn fixture_geometry(n: &str) -> Vec<u32> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/mvt/{n}/tile.json"));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v["layers"][0]["features"][0]["geometry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap() as u32)
            .collect()
    }

    #[test]
    fn points_and_lines_encode_as_the_conformance_fixtures() {
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let spans = layers.by_name("fibre_spans").unwrap();
        let tile = TileId {
            z: 20,
            x: 626_485,
            y: 365_055,
        };
        let f = Frame::new(tile, 4096);
        let at = |x: f64, y: f64| f.to_lonlat([x, y]);
        let mut line = obj(7, spans, [0.0, 0.0], 100_007);
        line.geometry = Geometry::Line(vec![at(2.0, 2.0), at(2.0, 10.0), at(10.0, 10.0)]);
        let t = Twin::build(
            layers,
            6,
            vec![obj(3, poles, at(25.0, 17.0), 100_003), line],
        );
        let r = render(&t, &[poles, spans], tile, &settings(), &all());
        let decoded = crate::tiles::conformance::check(&r.bytes).unwrap();
        assert_eq!(decoded.len(), 2);
        assert_eq!((decoded[0].version, decoded[0].extent), (2, 4096));
        // Spec example 4.3.5.1 (fixture 017): a point at (25, 17).
        assert_eq!(decoded[0].features[0].geometry, fixture_geometry("017"));
        assert_eq!(decoded[0].features[0].id, Some(3));
        // Spec example 4.3.5.3 (fixture 018): the line (2,2) (2,10) (10,10).
        assert_eq!(decoded[1].features[0].geometry, fixture_geometry("018"));
        assert_eq!(decoded[1].features[0].id, Some(7));
    }

    #[test]
    fn polygons_encode_as_the_conformance_fixtures() {
        let layers = Layers::default_city();
        let buildings = layers.by_name("buildings").unwrap();
        let tile = TileId {
            z: 20,
            x: 626_485,
            y: 365_055,
        };
        let f = Frame::new(tile, 4096);
        // A ring in tile units, closed, as stored.
        let ring = |pts: &[(f64, f64)]| -> Vec<[f64; 2]> {
            let mut r: Vec<[f64; 2]> = pts.iter().map(|&(x, y)| f.to_lonlat([x, y])).collect();
            r.push(r[0]);
            r
        };
        let square = |a: f64, b: f64| ring(&[(a, a), (b, a), (b, b), (a, b)]);
        let cases: Vec<(&str, crate::model::Polygons)> = vec![
            // Spec example 4.3.5.5: one triangle.
            (
                "019",
                vec![vec![ring(&[(3.0, 6.0), (8.0, 12.0), (20.0, 34.0)])]],
            ),
            // Spec example 4.3.5.6: a square, and a square with a hole.
            (
                "022",
                vec![
                    vec![ring(&[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)])],
                    vec![
                        ring(&[(11.0, 11.0), (20.0, 11.0), (20.0, 20.0), (11.0, 20.0)]),
                        ring(&[(13.0, 13.0), (13.0, 17.0), (17.0, 17.0), (17.0, 13.0)]),
                    ],
                ],
            ),
            // Squares over the whole tile: exactly, one unit beyond, one unit short, and 200
            // units beyond (the tile is cut with a buffer that keeps it whole).
            ("053", vec![vec![square(0.0, 4096.0)]]),
            ("054", vec![vec![square(-1.0, 4097.0)]]),
            ("055", vec![vec![square(1.0, 4095.0)]]),
            ("056", vec![vec![square(-200.0, 4296.0)]]),
        ];
        let s = TileSettings {
            buffer: 256,
            simplify: 0.0,
            ..settings()
        };
        for (fixture, polygons) in cases {
            let mut o = obj(1, buildings, [0.0, 0.0], 0);
            o.number = None;
            o.geometry = Geometry::Polygon(polygons);
            assert_eq!(o.geometry.validate(), Ok(()), "{fixture}");
            let t = Twin::build(layers.clone(), 6, vec![o]);
            let r = render(&t, &[buildings], tile, &s, &all());
            let decoded = crate::tiles::conformance::check(&r.bytes).unwrap();
            assert_eq!(decoded[0].features[0].geom_type, 3, "{fixture}");
            assert_eq!(
                decoded[0].features[0].geometry,
                fixture_geometry(fixture),
                "fixture {fixture}"
            );
        }
    }

    #[test]
    fn a_tile_over_the_point_cap_is_clustered_and_counts_every_point() {
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let tile = TileId {
            z: 16,
            x: 39_155,
            y: 22_815,
        };
        let f = Frame::new(tile, 4096);
        // 60 poles inside the tile on a grid, above the layer's minimum zoom.
        let objects: Vec<Object> = (0..60u32)
            .map(|i| {
                let at = f.to_lonlat([
                    100.0 + f64::from(i % 10) * 390.0,
                    100.0 + f64::from(i / 10) * 600.0,
                ]);
                obj(u64::from(i) + 1, poles, at, 100_001 + i)
            })
            .collect();
        let t = Twin::build(layers, 6, objects);
        let roomy = render(&t, &[poles], tile, &settings(), &all());
        assert_eq!((roomy.features, roomy.clusters), (60, 0));
        let tight = TileSettings {
            point_cap: 10,
            cluster_cell: 1024,
            ..settings()
        };
        let r = render(&t, &[poles], tile, &tight, &all());
        assert!(r.clusters > 0 && r.features <= 16);
        let reader = mvt_reader::Reader::new(r.bytes).unwrap();
        let total: u64 = reader
            .get_features(0)
            .unwrap()
            .iter()
            .map(
                |f| match f.properties.as_ref().and_then(|p| p.get("point_count")) {
                    Some(mvt_reader::feature::Value::UInt(n)) => *n,
                    None => 1,
                    other => panic!("{other:?}"),
                },
            )
            .sum();
        assert_eq!(total, 60);
    }
}
