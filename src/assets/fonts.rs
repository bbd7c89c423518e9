//! Glyphs for map labels (MapLibre's signed-distance-field PBF ranges of 256 code points),
//! made on first demand from the embedded DejaVu Sans and kept.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;

/// The one font stack the styles use.
pub const FONT: &str = "DejaVu Sans";

static TTF: &[u8] = include_bytes!("../../data/fonts/DejaVuSans.ttf");

/// Why glyphs cannot be given.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GlyphError {
    #[error("font stack {0:?} is not served; the styles use \"DejaVu Sans\"")]
    UnknownFont(String),
    #[error(
        "range {0:?}: give START-END.pbf with START a multiple of 256 and END = START+255, up to 65535"
    )]
    BadRange(String),
    #[error("the embedded font cannot be read: {0}")]
    Font(String),
}

fn face() -> Result<&'static glyphore_core::FontFace, GlyphError> {
    static FACE: OnceLock<Result<glyphore_core::FontFace, String>> = OnceLock::new();
    FACE.get_or_init(|| glyphore_core::FontFace::parse(TTF).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| GlyphError::Font(e.clone()))
}

/// Parses `START-END.pbf`.
pub fn parse_range(s: &str) -> Result<u32, GlyphError> {
    let bad = || GlyphError::BadRange(s.chars().take(40).collect());
    let (a, b) = s
        .strip_suffix(".pbf")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let digits = |t: &str| !t.is_empty() && t.len() <= 5 && t.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return Err(bad());
    }
    let (start, end): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if start % 256 != 0 || end != start + 255 || end > 65_535 {
        return Err(bad());
    }
    Ok(start)
}

/// The glyph PBF of one range for a font stack (a comma list; served when it names the font).
/// A range the font does not cover is a valid PBF without glyphs.
pub fn glyphs(stack: &str, start: u32) -> Result<Bytes, GlyphError> {
    if !stack.split(',').any(|f| f.trim() == FONT) {
        return Err(GlyphError::UnknownFont(stack.chars().take(80).collect()));
    }
    static MADE: OnceLock<Mutex<HashMap<u32, Bytes>>> = OnceLock::new();
    let made = MADE.get_or_init(Default::default);
    if let Some(b) = made.lock().unwrap_or_else(|p| p.into_inner()).get(&start) {
        return Ok(b.clone());
    }
    let pbf = glyphore_core::generate_range(face()?, start)
        .map_err(|e| GlyphError::Font(e.to_string()))?;
    let b = Bytes::from(pbf);
    made.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(start, b.clone());
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_glyphs_cover_latin_and_cyrillic() {
        assert_eq!(parse_range("0-255.pbf"), Ok(0));
        assert_eq!(parse_range("1024-1279.pbf"), Ok(1024));
        for bad in [
            "1-256.pbf",
            "0-255",
            "0-256.pbf",
            "65536-65791.pbf",
            "a-b.pbf",
            "-0-255.pbf",
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
        let latin = glyphs("DejaVu Sans", 0).unwrap();
        let cyrillic = glyphs("Open Sans,DejaVu Sans", 1024).unwrap();
        assert!(latin.len() > 10_000 && cyrillic.len() > 10_000);
        // Cached: the same bytes again.
        assert_eq!(glyphs(FONT, 0).unwrap().as_ptr(), latin.as_ptr());
        assert!(matches!(
            glyphs("Comic Sans", 0),
            Err(GlyphError::UnknownFont(_))
        ));
    }
}
