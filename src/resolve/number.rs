//! `/resolve`: a number as heard → the objects it can be. Normalise (look-alike letters,
//! separators, `№`, case, a spoken layer word), check the Damm digit, then try the ways a
//! number is misheard — one digit wrong (cheaper for digits that sound alike), two adjacent
//! digits swapped, a digit missing or extra, leading zeros or the check digit left out — and
//! rank by how likely the mistake is and, when the caller's area is known, by distance.

use std::collections::HashMap;

use serde::Serialize;

use super::place;
use crate::model::{LayerId, Object};
use crate::numbering::{self, Number, damm};
use crate::twin::Twin;

/// Longest query accepted, in characters.
pub const MAX_QUERY: usize = 100;
/// Most candidates answered.
pub const MAX_LIMIT: usize = 20;

/// Digits Ukrainian speakers mishear on the phone (the same pairs hold in Russian): rhymes
/// and shared endings. 7/8 сім/вісім (семь/восемь), 5/9 п'ять/дев'ять (пять/девять),
/// 3/4 три/чотири (the "-ри" ending), 6/7 шість/сім (short hissing words).
pub const MISHEARD: [(u8, u8); 4] = [(7, 8), (5, 9), (3, 4), (6, 7)];

/// How likely each kind of mistake is, as a cost (0 = certain).
const COSTS: [(&str, f64); 8] = [
    ("exact", 0.0),
    ("source_number", 0.0),
    ("leading_zeros", 0.1),
    ("no_check_digit", 0.4),
    ("misheard_digit", 0.7),
    ("swapped_digits", 1.0),
    ("one_digit_wrong", 1.1),
    ("missing_or_extra_digit", 1.2),
];

fn cost(rule: &str) -> f64 {
    COSTS
        .iter()
        .find(|(r, _)| *r == rule)
        .map_or(2.0, |(_, c)| *c)
}

/// A `/resolve` question.
#[derive(Debug, Clone)]
pub struct ResolveQuery {
    pub q: String,
    /// The caller's area, `[lon, lat]`.
    pub near: Option<[f64; 2]>,
    /// How far from `near` the caller may be, metres.
    pub radius_m: f64,
    /// Only these layers (empty = all that are visible).
    pub layers: Vec<LayerId>,
    /// The layers the asker may see: nothing else is a candidate (empty = none).
    pub visible: crate::access::Visible,
    pub limit: usize,
}

/// What is wrong with a question to the resolver (`/resolve`, `/nearest`, `/locate`): the
/// field at fault and why.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{field}: {reason}")]
pub struct ResolveError {
    pub field: &'static str,
    pub reason: String,
}

pub(crate) fn bad(field: &'static str, reason: impl Into<String>) -> ResolveError {
    ResolveError {
        field,
        reason: reason.into(),
    }
}

/// One object the number can be.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub number: String,
    pub number_latin: String,
    pub layer: String,
    pub lon: f64,
    pub lat: f64,
    /// Open Location Code (10 digits, about 14 × 14 m).
    pub plus_code: String,
    pub address: Option<String>,
    pub address_distance_m: Option<f64>,
    /// Metres from `near`, when it was given.
    pub distance_m: Option<f64>,
    /// 0–1: how sure this is the object meant.
    pub confidence: f64,
    /// The mistake assumed: exact, source_number, leading_zeros, no_check_digit,
    /// misheard_digit, swapped_digits, one_digit_wrong, missing_or_extra_digit.
    pub rule: String,
    pub status: String,
    pub phrase_uk: String,
    pub phrase_en: String,
}

/// The answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Resolved {
    pub query: String,
    /// The number as understood: `ОП-104273-5`, or the digits when no layer code was heard.
    pub normalized: String,
    /// Whether the check digit of the number as heard is right (null when too few digits).
    pub check_digit_ok: Option<bool>,
    /// Said plainly for the dispatcher, e.g. that the check digit proves a mishearing.
    pub note: String,
    /// Two candidates are both plausible: ask the caller again instead of picking one.
    pub ambiguous: bool,
    /// Best first.
    pub candidates: Vec<Candidate>,
}

/// Look-alike characters in the digit part: letters people type or a recogniser hears for
/// digits.
fn digit_of(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        'O' | 'О' | 'o' | 'о' => Some(0),
        'I' | 'І' | 'l' | 'і' | 'i' | '|' => Some(1),
        'З' | 'з' => Some(3),
        'Б' | 'б' => Some(6),
        _ => None,
    }
}

/// The layer a spoken or written word names: a layer code in either script, or the start of
/// its Ukrainian or English title ("опора", "люк", "pole").
fn layer_of_word(twin: &Twin, word: &str) -> Option<LayerId> {
    if word.is_empty() {
        return None;
    }
    if let Some(l) = numbering::layer_by_code(twin.layers(), word) {
        return Some(l);
    }
    let w = word.to_lowercase();
    twin.layers().ids().find(|&l| {
        let d = twin.layers().def(l);
        d.numbered
            && w.chars().count() >= 3
            && [&d.title_uk, &d.title_en]
                .iter()
                .any(|t| !t.is_empty() && t.to_lowercase().starts_with(&w))
    })
}

/// Splits a query into an optional layer word and the digits heard.
fn parse(twin: &Twin, q: &str) -> Result<(Option<LayerId>, String, Vec<u8>), ResolveError> {
    let mut word = String::new();
    let mut digits = Vec::new();
    let mut in_digits = false;
    for c in q.chars() {
        if matches!(c, '№' | '#' | '-' | '–' | '—' | '.' | '/' | '_' | ',' | ':')
            || c.is_whitespace()
        {
            continue;
        }
        if c.is_ascii_digit() {
            in_digits = true;
        }
        match (in_digits, digit_of(c)) {
            (true, Some(d)) => digits.push(d),
            (false, _) if c.is_alphabetic() => word.push(c),
            (true, None) => {
                return Err(bad(
                    "q",
                    format!("{c:?} is not a digit of a painted number"),
                ));
            }
            _ => {
                return Err(bad(
                    "q",
                    format!("{c:?} cannot be part of a painted number"),
                ));
            }
        }
    }
    if digits.is_empty() {
        return Err(bad(
            "q",
            "no digits: say or type the number painted on the object",
        ));
    }
    let layer = layer_of_word(twin, &word);
    Ok((layer, word, digits))
}

fn serial_of(digits: &[u8]) -> u32 {
    digits.iter().fold(0u32, |s, d| s * 10 + u32::from(*d))
}

/// Every serial the heard digits can stand for, with the mistake assumed (cheapest kept).
fn serials(digits: &[u8], width: usize) -> HashMap<u32, &'static str> {
    let mut out: HashMap<u32, &'static str> = HashMap::new();
    let mut put = |full: &[u8], rule: &'static str| {
        if full.len() == width + 1 && damm::is_valid(full) {
            let s = serial_of(&full[..width]);
            let keep = out.get(&s).is_none_or(|r| cost(r) > cost(rule));
            if keep {
                out.insert(s, rule);
            }
        }
    };
    let n = digits.len();
    if n == width + 1 {
        put(digits, "exact");
        let mut v = digits.to_vec();
        for i in 0..n {
            let orig = v[i];
            for d in 0..10u8 {
                if d == orig {
                    continue;
                }
                v[i] = d;
                let sounds_alike = MISHEARD
                    .iter()
                    .any(|&(a, b)| (a, b) == (orig, d) || (b, a) == (orig, d));
                put(
                    &v,
                    if sounds_alike {
                        "misheard_digit"
                    } else {
                        "one_digit_wrong"
                    },
                );
            }
            v[i] = orig;
        }
        for i in 0..n - 1 {
            if v[i] != v[i + 1] {
                v.swap(i, i + 1);
                put(&v, "swapped_digits");
                v.swap(i, i + 1);
            }
        }
    }
    if n == width {
        // The check digit left out: the serial itself (its check digit is computed).
        let s = serial_of(digits);
        let full = Number::scheme(s, width as u8).digits(width as u8);
        put(&full, "no_check_digit");
    }
    if n < width + 1 {
        // Leading zeros not said ("4273-7" for 004273-7).
        let mut full = vec![0; width + 1 - n];
        full.extend_from_slice(digits);
        put(&full, "leading_zeros");
    }
    if n == width {
        // One digit missing anywhere.
        for i in 0..=n {
            for d in 0..10u8 {
                let mut v = digits.to_vec();
                v.insert(i, d);
                put(&v, "missing_or_extra_digit");
            }
        }
    }
    if n == width + 2 {
        // One digit too many anywhere.
        for i in 0..n {
            let mut v = digits.to_vec();
            v.remove(i);
            put(&v, "missing_or_extra_digit");
        }
    }
    out
}

/// Resolves a number as heard.
pub fn resolve(twin: &Twin, rq: &ResolveQuery) -> Result<Resolved, ResolveError> {
    let q = rq.q.trim();
    if q.is_empty() {
        return Err(bad(
            "q",
            "empty: say or type the number painted on the object",
        ));
    }
    if q.chars().count() > MAX_QUERY {
        return Err(bad("q", format!("longer than {MAX_QUERY} characters")));
    }
    if rq.limit == 0 || rq.limit > MAX_LIMIT {
        return Err(bad(
            "limit",
            format!("{} is outside 1..={MAX_LIMIT}", rq.limit),
        ));
    }
    if !(rq.radius_m.is_finite() && rq.radius_m > 0.0 && rq.radius_m <= 100_000.0) {
        return Err(bad(
            "radius_m",
            format!("{} is outside (0, 100000] metres", rq.radius_m),
        ));
    }
    if let Some([lon, lat]) = rq.near
        && !(lon.is_finite()
            && lat.is_finite()
            && (-180.0..=180.0).contains(&lon)
            && (-90.0..=90.0).contains(&lat))
    {
        return Err(bad(
            "near",
            format!("{lat},{lon} is not a position (lat,lon)"),
        ));
    }
    let width = usize::from(twin.serial_width());
    // A source number (kept from OSM `ref`, no check digit) is found by its text as given.
    let source: Vec<&Object> = twin.by_source_number(&numbering::source_key(q));
    let (layer_heard, word, digits) = match parse(twin, q) {
        Ok(p) => p,
        Err(e) if source.is_empty() => return Err(e),
        Err(_) => (None, String::new(), Vec::new()),
    };
    let check_digit_ok = (digits.len() == width + 1).then(|| damm::is_valid(&digits));
    let mut found: Vec<(&Object, &'static str)> =
        source.iter().map(|o| (*o, "source_number")).collect();
    if !digits.is_empty() {
        for (serial, rule) in serials(&digits, width) {
            if let Some(o) = twin.by_serial(serial) {
                found.push((o, rule));
            }
        }
    }
    found.retain(|(o, _)| {
        rq.visible.shows(o) && (rq.layers.is_empty() || rq.layers.contains(&o.layer))
    });
    // Weigh: the mistake's cost, a heard layer word that does not match, the distance.
    let mut weighed: Vec<(f64, Option<f64>, &Object, &'static str)> = found
        .into_iter()
        .map(|(o, rule)| {
            let mut c = cost(rule);
            if layer_heard.is_some_and(|l| l != o.layer) {
                c += 1.5;
            }
            let d = rq.near.map(|n| place::distance_m(n, o.geometry.anchor()));
            let far = d.map_or(0.0, |d| d / rq.radius_m);
            ((-2.0 * c - far).exp(), d, o, rule)
        })
        .collect();
    weighed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.id.cmp(&b.2.id)));
    // The chance that the object meant is none of these (two mistakes, not numbered, …).
    let none = (-2.0f64 * 1.5).exp();
    let total: f64 = none + weighed.iter().map(|w| w.0).sum::<f64>();
    let ambiguous = weighed.len() >= 2 && weighed[1].0 >= 0.5 * weighed[0].0;
    let normalized = match layer_heard {
        Some(l) if digits.len() == width + 1 => {
            let d = &digits;
            format!(
                "{}-{}-{}",
                twin.layers().def(l).code,
                d[..width]
                    .iter()
                    .map(|x| char::from(b'0' + x))
                    .collect::<String>(),
                d[width]
            )
        }
        _ => {
            let ds: String = digits.iter().map(|x| char::from(b'0' + x)).collect();
            if word.is_empty() {
                ds
            } else {
                format!("{} {ds}", word.to_uppercase())
            }
        }
    };
    let note = match (check_digit_ok, weighed.first()) {
        (Some(false), _) => "the check digit does not fit: the number was misheard or misread; candidates assume one mistake".to_string(),
        (_, None) => "no object has this number or one a single mistake away".to_string(),
        (_, Some(_)) if ambiguous => "several objects fit: ask the caller for the number again, or for the object next to it".to_string(),
        _ => String::new(),
    };
    let candidates = weighed
        .into_iter()
        .take(rq.limit)
        .map(|(w, d, o, rule)| candidate(twin, o, rule, w / total, d, &rq.visible))
        .collect();
    Ok(Resolved {
        query: rq.q.clone(),
        normalized,
        check_digit_ok,
        note,
        ambiguous,
        candidates,
    })
}

/// The answer as a plain-text table for a terminal.
pub fn table(r: &Resolved) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let check = match r.check_digit_ok {
        Some(true) => "fits",
        Some(false) => "WRONG — misheard",
        None => "not given",
    };
    let _ = writeln!(
        out,
        "heard: {}  →  {}  (check digit {check})",
        r.query, r.normalized
    );
    if !r.note.is_empty() {
        let _ = writeln!(out, "note: {}", r.note);
    }
    if r.ambiguous {
        let _ = writeln!(out, "AMBIGUOUS: ask again");
    }
    let _ = writeln!(
        out,
        "{:<14} {:<10} {:>6} {:>9} {:<22} {:<12} address / phrase",
        "number", "layer", "conf", "dist m", "rule", "plus code"
    );
    for c in &r.candidates {
        let dist = c.distance_m.map_or("-".to_string(), |d| format!("{d:.0}"));
        let _ = writeln!(
            out,
            "{:<14} {:<10} {:>6.3} {:>9} {:<22} {:<12} {}",
            c.number, c.layer, c.confidence, dist, c.rule, c.plus_code, c.phrase_uk
        );
    }
    if r.candidates.is_empty() {
        let _ = writeln!(out, "(no candidates)");
    }
    out
}

fn candidate(
    twin: &Twin,
    o: &Object,
    rule: &str,
    confidence: f64,
    d: Option<f64>,
    visible: &crate::access::Visible,
) -> Candidate {
    let def = twin.layers().def(o.layer);
    let width = twin.serial_width();
    let (number, number_latin) = match &o.number {
        Some(n) => (n.display(def, width), n.latin(def, width)),
        None => (String::new(), String::new()),
    };
    let p = o.geometry.anchor();
    let plus_code = pluscodes::encode(
        &pluscodes::Coordinate {
            latitude: p[1],
            longitude: p[0],
        },
        10,
    )
    .unwrap_or_default();
    let address = place::nearest_address(twin, p, super::nearest::ADDRESS_RADIUS_M, visible);
    let (phrase_uk, phrase_en) = match &address {
        Some(a) => {
            let c = place::compass(place::bearing_deg([a.lon, a.lat], p));
            let m = a.distance_m.round();
            (
                format!(
                    "{} {number}, {}, {m} м на {} від будинку",
                    def.title_uk, a.text, c.uk
                ),
                format!(
                    "{} {number_latin}, {m} m {} of {}",
                    def.title_en, c.en, a.text
                ),
            )
        }
        None => (
            format!(
                "{} {number}, плюс-код {plus_code} ({:.5}, {:.5})",
                def.title_uk, p[1], p[0]
            ),
            format!(
                "{} {number_latin}, plus code {plus_code} ({:.5}, {:.5})",
                def.title_en, p[1], p[0]
            ),
        ),
    };
    Candidate {
        number,
        number_latin,
        layer: def.name.clone(),
        lon: p[0],
        lat: p[1],
        plus_code,
        address_distance_m: address.as_ref().map(|a| place::round_m(a.distance_m)),
        address: address.map(|a| a.text),
        distance_m: d.map(place::round_m),
        confidence: (confidence * 1000.0).round() / 1000.0,
        rule: rule.to_string(),
        status: o.status.as_str().into(),
        phrase_uk,
        phrase_en,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits_of(serial: u32) -> Vec<u8> {
        Number::scheme(serial, 6).digits(6)
    }

    #[test]
    fn every_kind_of_mistake_leads_back_to_the_serial() {
        let d = digits_of(104_273);
        assert_eq!(serials(&d, 6).get(&104_273), Some(&"exact"));
        let mut wrong = d.clone();
        wrong[2] = (wrong[2] + 5) % 10;
        assert!(serials(&wrong, 6).contains_key(&104_273));
        let mut swapped = d.clone();
        swapped.swap(1, 2);
        assert_eq!(serials(&swapped, 6).get(&104_273), Some(&"swapped_digits"));
        let mut missing = d.clone();
        missing.remove(3);
        assert_eq!(
            serials(&missing, 6).get(&104_273),
            Some(&"missing_or_extra_digit")
        );
        let mut extra = d.clone();
        extra.insert(4, 9);
        assert_eq!(
            serials(&extra, 6).get(&104_273),
            Some(&"missing_or_extra_digit")
        );
        assert_eq!(serials(&d[..6], 6).get(&104_273), Some(&"no_check_digit"));
        // 7 heard as 8 is the cheaper "misheard" rule.
        let seven = digits_of(107_000);
        let mut eight = seven.clone();
        eight[2] = 8;
        assert_eq!(serials(&eight, 6).get(&107_000), Some(&"misheard_digit"));
        // Leading zeros not said.
        let small = digits_of(4_273);
        assert_eq!(serials(&small[2..], 6).get(&4_273), Some(&"leading_zeros"));
    }

    #[test]
    fn two_equally_likely_objects_are_ambiguous_and_a_wrong_check_digit_is_said() {
        use crate::model::Layers;
        use crate::twin::tests::obj;
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        // Heard: 104273 with a wrong check digit. Two serials are one digit from it.
        let mut heard = digits_of(104_273);
        heard[6] = (heard[6] + 1) % 10;
        let mut near_ones: Vec<u32> = serials(&heard, 6)
            .into_iter()
            .filter(|(s, r)| *s != 104_273 && *r == "one_digit_wrong")
            .map(|(s, _)| s)
            .collect();
        near_ones.sort_unstable();
        let other = near_ones[0];
        let t = Twin::build(
            layers,
            6,
            vec![
                obj(1, poles, [35.0, 47.8], 104_273),
                obj(2, poles, [35.0, 47.8001], other),
            ],
        );
        let q = |near| ResolveQuery {
            q: format!(
                "ОП-{}",
                heard
                    .iter()
                    .map(|d| char::from(b'0' + d))
                    .collect::<String>()
            ),
            near,
            radius_m: 2000.0,
            visible: crate::access::Visible::all(t.layers()),
            layers: Vec::new(),
            limit: 5,
        };
        let r = resolve(&t, &q(Some([35.0, 47.8]))).unwrap();
        assert_eq!(r.check_digit_ok, Some(false));
        assert!(r.note.contains("misheard"), "{}", r.note);
        assert!(r.ambiguous, "{r:?}");
        assert_eq!(r.candidates.len(), 2);
        assert!(r.candidates.iter().all(|c| c.confidence < 0.5));
        // Far apart, `near` settles it.
        let t = Twin::build(
            Layers::default_city(),
            6,
            vec![
                obj(1, poles, [35.0, 47.8], 104_273),
                obj(2, poles, [30.5, 50.4], other),
            ],
        );
        let r = resolve(&t, &q(Some([35.0, 47.8]))).unwrap();
        assert!(!r.ambiguous);
        assert_eq!(
            r.candidates[0].number,
            Number::scheme(104_273, 6).display(t.layers().def(poles), 6)
        );
    }
}
