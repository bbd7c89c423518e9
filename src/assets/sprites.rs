//! MapLibre sprites from the SVG icons of `styles/icons/` (one per object type, shelters by
//! kind and state), packed by spreet into one sheet per pixel ratio on first demand and kept:
//! `/sprites/citytwin.json` and `.png`, `/sprites/citytwin@2x.json` and `.png`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use spreet::resvg::usvg;

/// The sprite sheet's name in its URLs and in the styles' `sprite`.
pub const NAME: &str = "citytwin";

macro_rules! icon {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../styles/icons/", $name, ".svg")),
        )
    };
}

/// Icon name → its SVG.
pub const ICONS: &[(&str, &str)] = &[
    icon!("pole"),
    icon!("manhole"),
    icon!("camera"),
    icon!("wifi"),
    icon!("cabinet"),
    icon!("tree"),
    icon!("fibre-node"),
    icon!("incident"),
    icon!("shelter"),
    icon!("shelter-basement"),
    icon!("shelter-parking"),
    icon!("shelter-underpass"),
    icon!("shelter-metro"),
    icon!("shelter-closed"),
    icon!("shelter-locked"),
];

/// A packed sheet: the index MapLibre reads and the image it points into.
#[derive(Debug)]
pub struct Sheet {
    pub json: bytes::Bytes,
    pub png: bytes::Bytes,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SpriteError {
    #[error("no sprite {0:?}: sprites are {NAME}.json, {NAME}.png, {NAME}@2x.json, {NAME}@2x.png")]
    Unknown(String),
    #[error("icon {icon}: {reason}")]
    Icon { icon: String, reason: String },
    #[error("sprite sheet: {0}")]
    Sheet(String),
}

/// What a `/sprites/{file}` path asks for: the pixel ratio and whether it is the image.
pub fn parse(file: &str) -> Result<(u8, bool), SpriteError> {
    let unknown = || SpriteError::Unknown(file.chars().take(60).collect());
    let (stem, png) = if let Some(s) = file.strip_suffix(".png") {
        (s, true)
    } else if let Some(s) = file.strip_suffix(".json") {
        (s, false)
    } else {
        return Err(unknown());
    };
    let ratio = match stem.strip_prefix(NAME) {
        Some("") => 1,
        Some("@2x") => 2,
        _ => return Err(unknown()),
    };
    Ok((ratio, png))
}

/// The sheet at pixel ratio 1 or 2, made once.
pub fn sheet(ratio: u8) -> Result<&'static Sheet, SpriteError> {
    static ONE: OnceLock<Result<Sheet, SpriteError>> = OnceLock::new();
    static TWO: OnceLock<Result<Sheet, SpriteError>> = OnceLock::new();
    let cell = if ratio == 2 { &TWO } else { &ONE };
    cell.get_or_init(|| make(if ratio == 2 { 2 } else { 1 }))
        .as_ref()
        .map_err(Clone::clone)
}

fn make(ratio: u8) -> Result<Sheet, SpriteError> {
    let mut sprites = BTreeMap::new();
    for (name, svg) in ICONS {
        let bad = |reason: String| SpriteError::Icon {
            icon: (*name).to_string(),
            reason,
        };
        let tree =
            usvg::Tree::from_str(svg, &usvg::Options::default()).map_err(|e| bad(e.to_string()))?;
        let sprite = spreet::Sprite::new(tree, ratio)
            .ok_or_else(|| bad("cannot be drawn at this size".into()))?;
        sprites.insert((*name).to_string(), sprite);
    }
    let sheet = spreet::Spritesheet::build()
        .sprites(sprites)
        .spacing(1)
        .generate()
        .ok_or_else(|| SpriteError::Sheet("the icons do not pack".into()))?;
    let png = sheet
        .encode_png()
        .map_err(|e| SpriteError::Sheet(e.to_string()))?;
    let json =
        serde_json::to_vec(sheet.get_index()).map_err(|e| SpriteError::Sheet(e.to_string()))?;
    Ok(Sheet {
        json: json.into(),
        png: png.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_icon_is_in_both_sheets_and_inside_the_image() {
        for ratio in [1u8, 2] {
            let s = sheet(ratio).unwrap();
            let index: serde_json::Value = serde_json::from_slice(&s.json).unwrap();
            let img = image::load_from_memory(&s.png).unwrap();
            for (name, _) in ICONS {
                let e = &index[*name];
                assert_eq!(e["pixelRatio"], u64::from(ratio), "{name}");
                let (x, y, w, h) = (
                    e["x"].as_u64().unwrap(),
                    e["y"].as_u64().unwrap(),
                    e["width"].as_u64().unwrap(),
                    e["height"].as_u64().unwrap(),
                );
                assert!(w > 0 && h > 0, "{name}");
                assert!(
                    x + w <= u64::from(img.width()) && y + h <= u64::from(img.height()),
                    "{name}"
                );
            }
            assert_eq!(index.as_object().unwrap().len(), ICONS.len());
        }
        assert_eq!(parse("citytwin@2x.png").unwrap(), (2, true));
        assert_eq!(parse("citytwin.json").unwrap(), (1, false));
        assert!(parse("other.json").is_err() && parse("citytwin@3x.png").is_err());
    }
}
