//! Painted numbers: the scheme, its Damm check digit, the confusability test and the assigner.
//!
//! A number is a layer code, a serial of `width` digits unique city-wide across all layers, and
//! a Damm check digit: `ОП-104273-5` (Latin: `OP-104273-5`, the same number). The digits alone
//! identify an object. Numbers that came with a source (e.g. an OSM `ref`) are kept verbatim
//! and have no check digit.

mod assign;
pub mod confusable;
pub mod damm;

pub use assign::{AssignError, Assigner, distance_m as assign_distance_m};
pub use confusable::{confusable, for_each_confusable_codeword};

use crate::model::{LayerDef, LayerId, Layers};

/// Smallest and largest serial widths supported.
pub const MIN_WIDTH: u8 = 4;
pub const MAX_WIDTH: u8 = 8;

/// A painted number as held on an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Number {
    /// A citytwin number: serial plus Damm check digit; the layer code comes from the layer.
    Scheme { serial: u32, check: u8 },
    /// A number that came with the source, verbatim, with no check digit.
    Source(Box<str>),
}

impl Number {
    /// A scheme number for `serial`, with its check digit.
    pub fn scheme(serial: u32, width: u8) -> Number {
        let digits = serial_digits(serial, width);
        Number::Scheme {
            serial,
            check: damm::check_digit(&digits),
        }
    }

    pub fn has_check_digit(&self) -> bool {
        matches!(self, Number::Scheme { .. })
    }

    /// The number as painted, in Ukrainian letters: `ОП-104273-5`.
    pub fn display(&self, layer: &LayerDef, width: u8) -> String {
        self.render(&layer.code, width)
    }

    /// The Latin transliteration: `OP-104273-5`.
    pub fn latin(&self, layer: &LayerDef, width: u8) -> String {
        self.render(&layer.latin, width)
    }

    /// Writes the number as painted, with `code` (Cyrillic or Latin), into `out` (cleared
    /// first): for a caller that shows many numbers without a new string each time.
    pub fn write_with_code(&self, code: &str, width: u8, out: &mut String) {
        out.clear();
        match self {
            // Digit by digit rather than through `format!`: every feature of a tile writes one.
            Number::Scheme { serial, check } => {
                let mut digits = [0u8; 10];
                let (mut n, mut len) = (*serial, 0);
                loop {
                    digits[len] = b'0' + (n % 10) as u8;
                    n /= 10;
                    len += 1;
                    if n == 0 {
                        break;
                    }
                }
                out.push_str(code);
                out.push('-');
                for _ in len..width as usize {
                    out.push('0');
                }
                out.extend(digits[..len].iter().rev().map(|&d| char::from(d)));
                out.push('-');
                out.push(char::from(b'0' + check % 10));
            }
            Number::Source(s) => out.push_str(s),
        }
    }

    fn render(&self, code: &str, width: u8) -> String {
        let mut out = String::with_capacity(code.len() + width as usize + 3);
        self.write_with_code(code, width, &mut out);
        out
    }

    /// The digit string a caller reads (serial + check digit, or the source number's digits).
    pub fn digits(&self, width: u8) -> Vec<u8> {
        match self {
            Number::Scheme { serial, check } => {
                let mut d = serial_digits(*serial, width);
                d.push(*check);
                d
            }
            Number::Source(s) => s
                .bytes()
                .filter(u8::is_ascii_digit)
                .map(|b| b - b'0')
                .collect(),
        }
    }
}

/// The `width` decimal digits of `serial`, most significant first.
pub fn serial_digits(serial: u32, width: u8) -> Vec<u8> {
    let mut out = vec![0u8; width as usize];
    let mut n = serial;
    for d in out.iter_mut().rev() {
        *d = (n % 10) as u8;
        n /= 10;
    }
    out
}

/// Largest serial (exclusive) for a width: 10^width.
pub fn serial_space(width: u8) -> u32 {
    10u32.pow(width as u32)
}

/// Maps Cyrillic letters that look like Latin ones to the Latin letter, after uppercasing.
pub fn fold_homoglyph(c: char) -> char {
    match c {
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'Х' => 'X',
        'І' => 'I',
        'У' => 'Y',
        other => other,
    }
}

/// A number as written by a person, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The letters before the digits, uppercased (either script), possibly empty.
    pub code: String,
    /// The digits after the code, separators removed.
    pub digits: Vec<u8>,
    /// The whole input uppercased with separators removed.
    cleaned: String,
}

impl Written {
    /// The key under which source numbers are found: the cleaned input with look-alike
    /// Cyrillic letters folded to Latin (made only when asked: an import checks millions of
    /// scheme numbers that never need it).
    pub fn key(&self) -> String {
        source_key(&self.cleaned)
    }
}

/// Splits a written number: drops `№`, spaces, dashes, dots, slashes and underscores.
pub fn split_written(input: &str) -> Written {
    let cleaned: String = input
        .trim()
        .chars()
        .filter(|c| {
            !matches!(c, '№' | '-' | '–' | '—' | '.' | '/' | '_' | '#') && !c.is_whitespace()
        })
        .flat_map(char::to_uppercase)
        .collect();
    let code: String = cleaned.chars().take_while(|c| c.is_alphabetic()).collect();
    let rest = &cleaned[code.len()..];
    let digits = if rest.bytes().all(|b| b.is_ascii_digit()) {
        rest.bytes().map(|b| b - b'0').collect()
    } else {
        Vec::new()
    };
    Written {
        code,
        digits,
        cleaned,
    }
}

/// The lookup key of a source number: uppercased, separators removed, homoglyphs folded.
pub fn source_key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .map(fold_homoglyph)
        .collect()
}

/// Finds the layer whose code (either script) matches `code`, comparing after folding
/// look-alike letters, so `ОП`, `OП` and `op` all name poles.
pub fn layer_by_code(layers: &Layers, code: &str) -> Option<LayerId> {
    if let Some(id) = layers.by_code(code) {
        return Some(id);
    }
    let folded = source_key(code);
    layers.ids().find(|&id| {
        let d = layers.def(id);
        d.numbered && (source_key(&d.code) == folded || source_key(&d.latin) == folded)
    })
}

/// A written number that is a whole scheme number: a layer code (either script) and a serial
/// whose check digit holds, e.g. `OP-104273-5` → (poles, 104273).
pub fn read_scheme(layers: &Layers, width: u8, written: &str) -> Option<(LayerId, u32)> {
    // A number as citytwin writes it (`ОП-104273-5`, an import of an export reads millions)
    // is read in place; any other spelling goes through the full reading below.
    if let Some(found) = read_canonical(layers, width, written) {
        return Some(found);
    }
    let w = split_written(written);
    if w.code.is_empty() {
        return None;
    }
    layer_by_code(layers, &w.code).zip(scheme_serial(&w.digits, width))
}

/// `CODE-serial-check` with a layer's code exactly as defined (either script) and ASCII digits,
/// read without allocating. `None` when the text is not in that form or the check fails.
fn read_canonical(layers: &Layers, width: u8, written: &str) -> Option<(LayerId, u32)> {
    let (code, rest) = written.split_once('-')?;
    let (serial, check) = rest.split_once('-')?;
    if serial.len() != width as usize || check.len() != 1 {
        return None;
    }
    let layer = layers.ids().find(|&id| {
        let d = layers.def(id);
        d.numbered && (d.code == code || d.latin == code)
    })?;
    let mut digits = [0u8; 16];
    let all = serial.bytes().chain(check.bytes());
    for (slot, b) in digits.iter_mut().zip(all) {
        if !b.is_ascii_digit() {
            return None;
        }
        *slot = b - b'0';
    }
    scheme_serial(&digits[..width as usize + 1], width).map(|s| (layer, s))
}

/// Reads a valid scheme serial out of a written number: `width + 1` digits whose Damm check
/// holds. Returns the serial.
pub fn scheme_serial(digits: &[u8], width: u8) -> Option<u32> {
    if digits.len() != width as usize + 1 || !damm::is_valid(digits) {
        return None;
    }
    Some(
        digits[..width as usize]
            .iter()
            .fold(0u32, |n, &d| n * 10 + d as u32),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_render_as_the_format_string_does() {
        for width in [4u8, 6, 7, 8] {
            let fits = |s: &u32| u64::from(*s) < 10u64.pow(u32::from(width));
            for serial in [0u32, 7, 42, 104_273, 999_999, 9_999_999, 99_999_999]
                .into_iter()
                .filter(fits)
            {
                let n = Number::scheme(serial, width);
                let Number::Scheme { check, .. } = n else {
                    unreachable!()
                };
                let want = format!("ОП-{serial:0w$}-{check}", w = width as usize);
                assert_eq!(n.render("ОП", width), want);
            }
        }
        assert_eq!(Number::Source("A-12".into()).render("ОП", 6), "A-12");
    }

    #[test]
    fn renders_in_both_scripts() {
        let layers = Layers::default_city();
        let poles = layers.def(layers.by_name("poles").unwrap());
        let n = Number::scheme(104273, 6);
        let shown = n.display(poles, 6);
        assert!(shown.starts_with("ОП-104273-"), "{shown}");
        assert_eq!(n.latin(poles, 6), shown.replace("ОП", "OP"));
        assert!(damm::is_valid(&n.digits(6)));
        assert!(
            Number::scheme(42, 6)
                .display(poles, 6)
                .starts_with("ОП-000042-")
        );
    }

    #[test]
    fn canonical_numbers_read_the_same_as_any_spelling() {
        let layers = Layers::default_city();
        let poles = layers.def(layers.by_name("poles").unwrap());
        for width in [6u8, 7] {
            for serial in [0u32, 42, 104_273, 999_999] {
                let n = Number::scheme(serial, width);
                let shown = n.display(poles, width);
                let latin = n.latin(poles, width);
                let want = Some((layers.by_name("poles").unwrap(), serial));
                assert_eq!(read_canonical(&layers, width, &shown), want, "{shown}");
                assert_eq!(read_canonical(&layers, width, &latin), want, "{latin}");
                assert_eq!(read_scheme(&layers, width, &shown), want);
                // A wrong check digit is no number, in either reading.
                let last = shown.chars().last().unwrap().to_digit(10).unwrap();
                let wrong = format!("{}{}", &shown[..shown.len() - 1], (last + 1) % 10);
                assert_eq!(read_canonical(&layers, width, &wrong), None, "{wrong}");
                assert_eq!(read_scheme(&layers, width, &wrong), None, "{wrong}");
            }
        }
        // Other spellings are left to the full reading, which folds them.
        assert_eq!(read_canonical(&layers, 6, "оп-104273-5"), None);
        assert_eq!(read_canonical(&layers, 6, "ОП-10427-35"), None);
        assert_eq!(read_canonical(&layers, 6, "ОП-１04273-5"), None);
        let spelled = read_scheme(&layers, 6, " № оп 104273-5 ");
        assert_eq!(
            spelled,
            read_scheme(&layers, 6, &Number::scheme(104_273, 6).display(poles, 6))
        );
    }

    #[test]
    fn written_numbers_split_and_fold() {
        let w = split_written(" № оп 104273-5 ");
        assert_eq!(w.code, "ОП");
        assert_eq!(w.digits, vec![1, 0, 4, 2, 7, 3, 5]);
        let layers = Layers::default_city();
        assert_eq!(layer_by_code(&layers, &w.code), layers.by_name("poles"));
        // Latin O with Cyrillic П
        assert_eq!(layer_by_code(&layers, "OП"), layers.by_name("poles"));
        assert_eq!(source_key("ab-12/3"), source_key("АВ 123"));
    }

    #[test]
    fn scheme_serial_needs_valid_check_digit() {
        let n = Number::scheme(104273, 6);
        let d = n.digits(6);
        assert_eq!(scheme_serial(&d, 6), Some(104273));
        let mut bad = d.clone();
        bad[6] = (bad[6] + 1) % 10;
        assert_eq!(scheme_serial(&bad, 6), None);
        assert_eq!(scheme_serial(&d[..6], 6), None);
    }
}
