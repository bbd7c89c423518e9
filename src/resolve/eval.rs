//! `citytwin resolve-eval`: how well the resolver hears the current city. A seeded set of
//! noisy queries is drawn from the city's own numbered objects — every kind of mistake the
//! resolver reads, the positions of the errors drawn across the whole number (check digit
//! included), layer words in random languages and case forms, numbers said in words, the
//! caller's area about 300 m off in a random direction — and top-1 / top-3 is counted per
//! kind, with the answers that were wrong yet confident.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::number::{MISHEARD, ResolveQuery, resolve};
use super::streets::StreetCache;
use super::words::{Grouping, Lang, spell};
use crate::access::Visible;
use crate::generate::Rng;
use crate::model::{GeometryKind, Object};
use crate::numbering::Number;
use crate::twin::Twin;

/// Spoken forms of the built-in layers' words, as callers say them: cases, prepositions,
/// Russian and English. Written independently of the resolver's own list.
const LAYER_WORDS: &[(&str, &[&str])] = &[
    (
        "poles",
        &[
            "опора",
            "опори",
            "на опорі",
            "опору",
            "стовп",
            "на стовпі",
            "столб",
            "столба",
            "pole",
            "post",
        ],
    ),
    ("manholes", &["люк", "люка", "на люку", "люком", "manhole"]),
    (
        "cameras",
        &["камера", "камери", "на камері", "камеры", "camera"],
    ),
    ("shelters", &["укриття", "сховище", "укрытие", "shelter"]),
    ("wifi", &["wifi", "вайфай", "точка"]),
    ("trees", &["дерево", "дерева", "на дереві", "tree"]),
    ("cabinets", &["шафа", "шафи", "на шафі", "шкаф", "cabinet"]),
    ("fibre_nodes", &["колодязь", "колодязя", "колодец", "well"]),
    ("fibre_spans", &["проліт", "прольоту", "пролет", "span"]),
];

/// What to draw.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    /// Objects drawn (each gives one query of every kind that applies).
    pub objects: usize,
    pub seed: u64,
    /// How far the caller's area is from the object, metres.
    pub near_m: f64,
}

/// One kind's tally.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub asked: u32,
    pub top1: u32,
    pub top3: u32,
    /// Wrong first candidate with confidence ≥ 0.5 and not flagged ambiguous.
    pub confident_wrong: u32,
    /// Answers flagged ambiguous.
    pub ambiguous: u32,
    /// A few of the confident wrong answers, as asked and answered.
    pub examples: Vec<String>,
}

impl Tally {
    /// Counts one answer: `is` tells the object meant; a confident wrong answer is kept as an
    /// example (the first three) when `want` names what was meant.
    fn count(
        &mut self,
        q: &str,
        r: &super::Resolved,
        is: impl Fn(&super::Candidate) -> bool,
        want: Option<&str>,
    ) {
        let hit1 = r.candidates.first().is_some_and(&is);
        self.top1 += u32::from(hit1);
        self.top3 += u32::from(r.candidates.iter().take(3).any(&is));
        self.ambiguous += u32::from(r.ambiguous);
        let Some(c) = r
            .candidates
            .first()
            .filter(|c| !hit1 && !r.ambiguous && c.confidence >= 0.5)
        else {
            return;
        };
        self.confident_wrong += 1;
        if let Some(want) = want
            && self.examples.len() < 3
        {
            self.examples.push(format!(
                "{q:?} → {} ({}, {:.2}) instead of {want}",
                c.number, c.rule, c.confidence
            ));
        }
    }
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub objects: usize,
    pub seed: u64,
    pub kinds: BTreeMap<String, Tally>,
}

fn text(d: &[u8]) -> String {
    d.iter().map(|x| char::from(b'0' + x)).collect()
}

/// A point `m` metres from `p` in a random direction.
fn off(rng: &mut Rng, p: [f64; 2], m: f64) -> [f64; 2] {
    let a = (rng.below(360) as f64).to_radians();
    let dlat = m * a.cos() / 111_195.0;
    let dlon = m * a.sin() / (111_195.0 * p[1].to_radians().cos());
    [p[0] + dlon, p[1] + dlat]
}

/// Draws the queries and asks the resolver.
pub fn run(twin: &Twin, streets: Option<Arc<StreetCache>>, s: &EvalSettings) -> Report {
    let mut rng = Rng(s.seed);
    let visible = Visible::all(twin.layers());
    let width = usize::from(twin.serial_width());
    let numbered: Vec<&Object> = twin
        .layers()
        .ids()
        .filter(|l| {
            let d = twin.layers().def(*l);
            d.numbered && d.geometry == GeometryKind::Point
        })
        .flat_map(|l| twin.ids_of(l))
        .filter_map(|id| twin.get(id))
        .filter(|o| matches!(o.number, Some(Number::Scheme { .. })))
        .collect();
    let mut kinds: BTreeMap<String, Tally> = BTreeMap::new();
    if numbered.is_empty() {
        return Report {
            objects: 0,
            seed: s.seed,
            kinds,
        };
    }
    let mut ask = |kind: &str, q: String, near: Option<[f64; 2]>, want: &Object| {
        let rq = ResolveQuery {
            q,
            near,
            radius_m: 2000.0,
            layers: Vec::new(),
            visible: visible.clone(),
            limit: 3,
            streets: streets.clone(),
        };
        let t = kinds.entry(kind.to_string()).or_default();
        t.asked += 1;
        let Ok(r) = resolve(twin, &rq) else { return };
        let is = |c: &super::Candidate| {
            c.kind == "object"
                && (c.lon - want.geometry.anchor()[0]).abs() < 1e-9
                && (c.lat - want.geometry.anchor()[1]).abs() < 1e-9
                && c.layer == twin.layers().def(want.layer).name
        };
        let want = want
            .number
            .as_ref()
            .map(|n| n.display(twin.layers().def(want.layer), width as u8))
            .unwrap_or_default();
        t.count(&rq.q, &r, is, Some(&want));
    };
    for _ in 0..s.objects {
        let o = *rng.pick(&numbered);
        let def = twin.layers().def(o.layer);
        let Some(n) = &o.number else { continue };
        let digits = n.digits(width as u8);
        let code = if rng.below(2) == 0 {
            &def.code
        } else {
            &def.latin
        };
        let word = LAYER_WORDS
            .iter()
            .find(|(l, _)| *l == def.name)
            .map_or(def.code.as_str(), |(_, w)| *rng.pick(w));
        let near = Some(off(&mut rng, o.geometry.anchor(), s.near_m));
        let w = digits.len();
        ask(
            "exact",
            format!("{code}-{}-{}", text(&digits[..w - 1]), digits[w - 1]),
            None,
            o,
        );
        ask(
            "no_check_digit",
            format!("{word} {}", text(&digits[..w - 1])),
            None,
            o,
        );
        for (kind, lang) in [
            ("words_uk", Lang::Uk),
            ("words_ru", Lang::Ru),
            ("words_en", Lang::En),
        ] {
            let g = *rng.pick(&[Grouping::Digits, Grouping::Pairs, Grouping::Triples]);
            ask(kind, format!("{word} {}", spell(&digits, lang, g)), None, o);
        }
        // One mistake, anywhere in the number.
        let mut v = digits.clone();
        let i = rng.below(w);
        v[i] = (v[i] + 1 + rng.below(9) as u8) % 10;
        for (suffix, at) in [("", None), (" + near", near)] {
            ask(
                &format!("one_digit_wrong{suffix}"),
                format!("{word} {}", text(&v)),
                at,
                o,
            );
        }
        if let Some((k, other)) = (0..w).find_map(|k| {
            let k = (k + i) % w;
            MISHEARD.iter().find_map(|&(a, b)| {
                (digits[k] == a)
                    .then_some((k, b))
                    .or((digits[k] == b).then_some((k, a)))
            })
        }) {
            let mut m = digits.clone();
            m[k] = other;
            let said = spell(&m, *rng.pick(&[Lang::Uk, Lang::Ru]), Grouping::Digits);
            ask(
                "misheard_in_words + near",
                format!("{word} {said}"),
                near,
                o,
            );
        }
        let j = rng.below(w - 1);
        if digits[j] != digits[j + 1] {
            let mut m = digits.clone();
            m.swap(j, j + 1);
            for (suffix, at) in [("", None), (" + near", near)] {
                ask(
                    &format!("swapped_digits{suffix}"),
                    format!("{code}{}", text(&m)),
                    at,
                    o,
                );
            }
        }
        let mut m = digits.clone();
        m.remove(rng.below(w));
        ask(
            "missing_digit + near",
            format!("{code} {}", text(&m)),
            near,
            o,
        );
        let mut m = digits.clone();
        m.insert(rng.below(w + 1), rng.below(10) as u8);
        ask(
            "extra_digit + near",
            format!("{code} {}", text(&m)),
            near,
            o,
        );
        // Two mistakes at two random places (the check digit may be one).
        let a = rng.below(w);
        let b = (a + 1 + rng.below(w - 1)) % w;
        let mut m = digits.clone();
        m[a] = (m[a] + 1 + rng.below(9) as u8) % 10;
        m[b] = (m[b] + 1 + rng.below(9) as u8) % 10;
        ask(
            "two_digits_wrong + near",
            format!("{word} {}", text(&m)),
            near,
            o,
        );
        // Being typed: all but the last two digits of the serial.
        ask(
            "typing (serial less 2) + near",
            format!("{code}-{}", text(&digits[..w - 3])),
            near,
            o,
        );
        // The last four digits of the serial.
        ask(
            "last_4_digits + near",
            format!("останні цифри {}", text(&digits[w - 5..w - 1])),
            near,
            o,
        );
    }
    addresses(twin, streets, s, &mut rng, &mut kinds);
    Report {
        objects: s.objects,
        seed: s.seed,
        kinds,
    }
}

/// Streets and houses as said: the address's own text, with the caller's area. Right when
/// the first candidate is within 150 m of the address point (one building, several entrances).
fn addresses(
    twin: &Twin,
    streets: Option<Arc<StreetCache>>,
    s: &EvalSettings,
    rng: &mut Rng,
    kinds: &mut BTreeMap<String, Tally>,
) {
    let Some(l) = twin.layers().by_name("addresses") else {
        return;
    };
    let all: Vec<&Object> = twin
        .ids_of(l)
        .into_iter()
        .filter_map(|id| twin.get(id))
        .filter(|o| super::place::address_text(o).is_some())
        .collect();
    if all.is_empty() || streets.is_none() {
        return;
    }
    for _ in 0..s.objects / 4 {
        let o = *rng.pick(&all);
        let Some(said) = super::place::address_text(o) else {
            continue;
        };
        let at = o.geometry.anchor();
        let near = off(rng, at, s.near_m);
        let rq = ResolveQuery {
            q: said,
            near: Some(near),
            radius_m: 2000.0,
            layers: Vec::new(),
            visible: Visible::all(twin.layers()),
            limit: 3,
            streets: streets.clone(),
        };
        let t = kinds.entry("address + near".into()).or_default();
        t.asked += 1;
        let Ok(r) = resolve(twin, &rq) else { continue };
        let is = |c: &super::Candidate| super::place::distance_m([c.lon, c.lat], at) <= 150.0;
        t.count(&rq.q, &r, is, None);
    }
}

/// The report as a Markdown table.
pub fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| query kind | asked | top-1 | top-3 | ambiguous | confident & wrong |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let pct = |a: u32, n: u32| 100.0 * f64::from(a) / f64::from(n.max(1));
    for (k, t) in &r.kinds {
        let _ = writeln!(
            out,
            "| {k} | {} | {:.1}% | {:.1}% | {:.1}% | {} |",
            t.asked,
            pct(t.top1, t.asked),
            pct(t.top3, t.asked),
            pct(t.ambiguous, t.asked),
            t.confident_wrong
        );
    }
    for (k, t) in &r.kinds {
        for e in &t.examples {
            let _ = writeln!(out, "\nconfident and wrong ({k}): {e}");
        }
    }
    out
}
