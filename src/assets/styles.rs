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
    (
        "residents-dark",
        include_str!("../../styles/residents-dark.json"),
    ),
    ("engineers", include_str!("../../styles/engineers.json")),
];

/// Why a style cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum StyleError {
    #[error("no style {0:?}; styles: dispatcher, residents, residents-dark, engineers")]
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
    for key in ["glyphs", "sprite"] {
        if let Some(u) = s.get(key).and_then(Value::as_str) {
            s[key] = Value::String(absolute(u));
        }
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
                // A city configured without some of the style's layers (no basemap, say) gets
                // the style without them.
                let known: Vec<&str> = list
                    .split(',')
                    .filter(|n| twin.layers().by_name(n.trim()).is_some())
                    .collect();
                let mut layers = if known.is_empty() {
                    Vec::new()
                } else {
                    parse_layers(&known.join(","), twin.layers())
                        .map_err(|e| broken(e.to_string()))?
                };
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
    // The map opens where the city's objects are: the basemap is their setting (and opens the
    // map only in a style that draws nothing else).
    let objects: Vec<LayerId> = shown
        .iter()
        .copied()
        .filter(|l| !crate::model::BASEMAP.contains(&twin.layers().def(*l).name.as_str()))
        .collect();
    if let Some(f) = focus(if objects.is_empty() { &shown } else { &objects }) {
        s["center"] = serde_json::json!(f.center);
        s["zoom"] = serde_json::json!(f.zoom);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The icon names an `icon-image` value can give: a name, or the outputs of a `case` or
    /// `match` expression (nested).
    fn outputs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => {
                let arms = match a.first().and_then(Value::as_str) {
                    // ["case", cond, out, cond, out, …, fallback]
                    Some("case") => 2,
                    // ["match", input, label, out, label, out, …, fallback]
                    Some("match") => 3,
                    other => panic!("icon-image expression {other:?} not checked here"),
                };
                for x in a.iter().skip(arms).step_by(2) {
                    outputs(x, out);
                }
                if let Some(last) = a.last() {
                    outputs(last, out);
                }
            }
            other => panic!("icon-image {other}"),
        }
    }

    #[test]
    fn no_style_names_a_missing_icon_font_or_layer() {
        let layers = crate::model::Layers::default_city();
        let icons: Vec<&str> = super::super::sprites::ICONS
            .iter()
            .map(|(n, _)| *n)
            .collect();
        let mut used = 0;
        for (name, text) in STYLES {
            let s: Value = serde_json::from_str(text).unwrap();
            assert_eq!(s["sprite"], "/sprites/citytwin", "{name}");
            for l in s["layers"].as_array().unwrap() {
                let id = l["id"].as_str().unwrap();
                if let Some(sl) = l["source-layer"].as_str() {
                    assert!(layers.by_name(sl).is_some(), "{name} {id}: no layer {sl}");
                }
                let layout = &l["layout"];
                if let Some(fonts) = layout["text-font"].as_array() {
                    assert_eq!(
                        fonts,
                        &vec![Value::from(super::super::fonts::FONT)],
                        "{name} {id}"
                    );
                }
                if layout["icon-image"].is_null() {
                    continue;
                }
                let mut named = Vec::new();
                outputs(&layout["icon-image"], &mut named);
                for icon in &named {
                    assert!(
                        icons.contains(&icon.as_str()),
                        "{name} {id}: no icon {icon}"
                    );
                    used += 1;
                }
            }
        }
        assert!(used > 10, "the styles use icons");
    }
}
