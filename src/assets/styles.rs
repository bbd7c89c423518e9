//! The MapLibre styles of `styles/`, one per audience, served with absolute URLs of this
//! server (MapLibre resolves source and glyph URLs on its own, not against the page).

use serde_json::Value;

use crate::access::View;
use crate::model::LayerId;
use crate::tiles::focus::Focus;
use crate::tiles::parse_layers;
use crate::twin::Twin;

/// Style name → its JSON as kept in `styles/`.
pub const STYLES: &[(&str, &str)] = &[
    ("dispatcher", include_str!("../../styles/dispatcher.json")),
    ("residents", include_str!("../../styles/residents.json")),
    ("engineers", include_str!("../../styles/engineers.json")),
];

/// Why a style cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum StyleError {
    #[error("no style {0:?}; styles: dispatcher, residents, engineers")]
    Unknown(String),
    #[error("style {name}: {reason}")]
    Broken { name: String, reason: String },
}

/// The style `name` with source and glyph URLs made absolute against `origin`, the data
/// version in its TileJSON URL, and its `center` and `zoom` where `focus` says maps of the
/// layers it shows open. Only what `view` reads is in it: sources list only readable layers,
/// and style layers drawing anything else are left out.
pub fn style(
    name: &str,
    origin: &str,
    twin: &Twin,
    view: &View,
    focus: impl FnOnce(&[LayerId]) -> Option<Focus>,
) -> Result<Value, StyleError> {
    let text = STYLES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| StyleError::Unknown(name.chars().take(40).collect()))?;
    let broken = |reason: String| StyleError::Broken {
        name: name.into(),
        reason,
    };
    let mut s: Value = serde_json::from_str(text).map_err(|e| broken(e.to_string()))?;
    let absolute = |u: &str| {
        if u.starts_with('/') {
            format!("{origin}{u}")
        } else {
            u.to_string()
        }
    };
    if let Some(g) = s.get("glyphs").and_then(Value::as_str) {
        s["glyphs"] = Value::String(absolute(g));
    }
    let mut shown = Vec::new();
    // Sources left without a readable layer go, and so does every style layer drawing a
    // source or source layer this view does not read.
    let mut gone: Vec<String> = Vec::new();
    if let Some(sources) = s.get_mut("sources").and_then(Value::as_object_mut) {
        for (key, src) in sources.iter_mut() {
            let Some(url) = src.get("url").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            // `/tiles/{layers}.json`: carry the data version, so a new style load after an
            // edit does not reuse a cached TileJSON.
            if let Some(list) = url
                .strip_prefix("/tiles/")
                .and_then(|r| r.strip_suffix(".json"))
            {
                let mut layers =
                    parse_layers(list, twin.layers()).map_err(|e| broken(e.to_string()))?;
                layers.retain(|l| view.can_read(*l));
                if layers.is_empty() {
                    gone.push(key.clone());
                    continue;
                }
                let names: Vec<&str> = layers
                    .iter()
                    .map(|l| twin.layers().def(*l).name.as_str())
                    .collect();
                let v = crate::tiles::tilejson::data_version(twin, &layers);
                src["url"] =
                    Value::String(absolute(&format!("/tiles/{}.json?v={v}", names.join(","))));
                shown.extend(layers);
            } else {
                src["url"] = Value::String(absolute(&url));
            }
        }
        sources.retain(|k, _| !gone.contains(k));
    }
    if let Some(style_layers) = s.get_mut("layers").and_then(Value::as_array_mut) {
        style_layers.retain(|sl| {
            let source_ok = sl
                .get("source")
                .and_then(Value::as_str)
                .is_none_or(|src| !gone.iter().any(|g| g == src));
            let layer_ok = sl
                .get("source-layer")
                .and_then(Value::as_str)
                .is_none_or(|n| view.can_read_name(twin.layers(), n));
            source_ok && layer_ok
        });
    }
    if let Some(f) = focus(&shown) {
        s["center"] = serde_json::json!(f.center);
        s["zoom"] = serde_json::json!(f.zoom);
    }
    Ok(s)
}
