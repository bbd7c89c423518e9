//! TileJSON 3.0.0 for a set of layers: where the tiles are (with the layers' data version in
//! the URL, so caches fetch fresh tiles after an edit), which zooms, where the data is and where
//! a map of it opens, and which fields each layer's features carry.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value as Json, json};

use super::TileService;
use super::focus::Focus;
use crate::model::{GeometryKind, LayerId, Value};
use crate::twin::Twin;

/// Field name → TileJSON type (`String`, `Number`, `Boolean`) of one layer.
pub type Fields = BTreeMap<String, &'static str>;

/// The fields of each layer, found by reading its objects once per data version.
#[derive(Default)]
pub struct FieldCatalog {
    known: Mutex<BTreeMap<LayerId, (u64, Fields)>>,
}

impl FieldCatalog {
    pub fn fields(&self, twin: &Twin, layer: LayerId) -> Fields {
        let version = twin.version(layer);
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, f)) = known.get(&layer)
            && *v == version
        {
            return f.clone();
        }
        let mut f = Fields::new();
        if twin.layers().def(layer).numbered {
            f.insert("number".into(), "String");
        }
        f.insert("status".into(), "String");
        for o in twin.objects().filter(|o| o.layer == layer) {
            for (k, v) in o.attributes.iter() {
                if f.contains_key(k) {
                    continue;
                }
                let t = match v {
                    Value::Bool(_) => "Boolean",
                    Value::Int(_) | Value::Float(_) => "Number",
                    Value::Text(_) => "String",
                };
                f.insert(k.to_string(), t);
            }
        }
        if twin.layers().def(layer).geometry == GeometryKind::Point {
            f.insert("cluster".into(), "Boolean");
            f.insert("point_count".into(), "Number");
            f.insert("point_count_abbreviated".into(), "String");
            for k in ["min_lon", "min_lat", "max_lon", "max_lat"] {
                f.insert(k.into(), "Number");
            }
        }
        known.insert(layer, (version, f.clone()));
        f
    }
}

/// The data version of a set of layers: the newest of theirs. Versions are history sequence
/// numbers, so any edit of any of the layers gives a larger one.
pub fn data_version(twin: &Twin, layers: &[LayerId]) -> u64 {
    layers.iter().map(|l| twin.version(*l)).max().unwrap_or(0)
}

/// The extent of the objects of `layers`, `[west, south, east, north]`; `None` when empty.
pub fn bounds(twin: &Twin, layers: &[LayerId], hidden: bool) -> Option<[f64; 4]> {
    layers
        .iter()
        .filter_map(|l| twin.bbox_seen(*l, hidden))
        .reduce(|a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        })
}

/// The fields a view shows: number, status and cluster fields always, attributes as allowed.
fn visible_fields(mut f: Fields, attrs: crate::access::AttrView<'_>) -> Fields {
    const ALWAYS: [&str; 9] = [
        "number",
        "status",
        "cluster",
        "point_count",
        "point_count_abbreviated",
        "min_lon",
        "min_lat",
        "max_lon",
        "max_lat",
    ];
    f.retain(|k, _| ALWAYS.contains(&k.as_str()) || attrs.shows(k));
    f
}

/// The TileJSON document. `base` is the server's own origin (`http://host:port`); its
/// `center` is `focus` (where maps of these layers open), with the zoom rounded down to a
/// whole level as TileJSON wants.
pub fn tilejson(
    twin: &Twin,
    layers: &[LayerId],
    base: &str,
    service: &TileService,
    focus: Option<Focus>,
    attribution: &str,
    view: &crate::access::View,
) -> Json {
    let (settings, catalog) = (&service.settings, &service.fields);
    let names: Vec<&str> = layers
        .iter()
        .map(|l| twin.layers().def(*l).name.as_str())
        .collect();
    let list = names.join(",");
    let version = data_version(twin, layers);
    let bounds = bounds(twin, layers, view.sees_hidden());
    let bounds = bounds.unwrap_or([-180.0, -85.051_128_779_806_59, 180.0, 85.051_128_779_806_59]);
    let center = match focus {
        Some(f) => json!([
            f.center[0],
            f.center[1],
            (f.zoom.floor() as u8).min(settings.max_zoom)
        ]),
        None => json!([
            (bounds[0] + bounds[2]) / 2.0,
            (bounds[1] + bounds[3]) / 2.0,
            0
        ]),
    };
    let vector_layers: Vec<Json> = layers
        .iter()
        .map(|&l| {
            let d = twin.layers().def(l);
            let lowest = match d.geometry {
                // Points are shown as clusters below their minimum zoom.
                GeometryKind::Point => 0,
                GeometryKind::Line | GeometryKind::Polygon => d.min_zoom,
            };
            json!({
                "id": d.name,
                "description": if d.title_en.is_empty() { d.name.clone() } else { format!("{} / {}", d.title_en, d.title_uk) },
                "minzoom": lowest,
                "maxzoom": settings.max_zoom,
                "fields": visible_fields(catalog.fields(twin, l), view.attrs(l)),
            })
        })
        .collect();
    json!({
        "tilejson": "3.0.0",
        "name": format!("citytwin {list}"),
        "description": format!("citytwin layers {list}: numbered city objects"),
        "version": "1.0.0",
        "attribution": attribution,
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{list}/{{z}}/{{x}}/{{y}}.mvt?v={version}")],
        "minzoom": 0,
        "maxzoom": settings.max_zoom,
        "bounds": bounds,
        "center": center,
        "vector_layers": vector_layers,
        "data_version": version,
    })
}
