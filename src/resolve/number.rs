//! `/resolve`: a number as heard → the objects it can be. Read the query ([`super::words`]:
//! digits typed or said in words in Ukrainian, Russian or English, look-alike letters, a
//! layer word in any case form), check the Damm digit, then try the ways a number is
//! misheard — one digit wrong (cheaper for digits that sound alike), two adjacent digits
//! swapped, a digit missing or extra, leading zeros or the check digit left out, and near the
//! caller two digits wrong — or is still being typed ([`super::scan`]); or the query names
//! a street and house ([`super::address`]), or only the last digits. Candidates are ranked by
//! how likely the mistake is and, when the caller's area is known, by distance.

use std::collections::HashMap;

use serde::Serialize;

use super::{place, scan};
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
// The rules of [`super::scan`] and [`super::address`] carry their own costs.

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
    /// Streets and addresses by every name they are known by: without them a street and
    /// house is not understood.
    pub streets: Option<std::sync::Arc<super::streets::StreetCache>>,
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

/// One object the number can be, or one address the street and house can be.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    /// `object` (a numbered object) or `address` (an address point or a street).
    pub kind: String,
    /// The painted number; for an address, its text (`street house`).
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
    /// misheard_digit, swapped_digits, one_digit_wrong, missing_or_extra_digit,
    /// two_digits_wrong, no_check_digit_one_wrong; while typing prefix, prefix_one_wrong; for
    /// the last digits last_digits, last_digits_with_check; for addresses address,
    /// address_other_letter, address_nearby_house, street.
    pub rule: String,
    pub status: String,
    pub phrase_uk: String,
    pub phrase_en: String,
    /// The street name the caller used when it is not the street's current name (an old
    /// name, a renaming, another language's name).
    pub matched_name: Option<String>,
    /// For an address: the numbered landmarks nearest to it, nearest first.
    pub landmarks: Vec<super::nearest::Landmark>,
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
    /// The same, in Ukrainian.
    pub note_uk: String,
    /// Two candidates are both plausible: ask the caller again instead of picking one.
    pub ambiguous: bool,
    /// How the query was read: `number` (a whole or misheard number), `prefix` (a number
    /// being typed), `last_digits`, `address` (a street, with or without a house).
    pub mode: String,
    /// Best first.
    pub candidates: Vec<Candidate>,
}

/// Spoken names of the built-in layers besides their titles (Ukrainian, Russian, English),
/// compared by stem: "на стовпі", "фонарь", "lamp post".
const SPOKEN: &[(&str, &[&str])] = &[
    (
        "poles",
        &[
            "стовп",
            "столб",
            "ліхтар",
            "фонарь",
            "фонар",
            "post",
            "lamp",
            "lamppost",
        ],
    ),
    ("manholes", &["люк", "manhole", "hatch"]),
    ("cameras", &["камера", "cctv", "camera"]),
    (
        "shelters",
        &[
            "укриття",
            "сховище",
            "бомбосховище",
            "укрытие",
            "убежище",
            "shelter",
            "bunker",
        ],
    ),
    ("wifi", &["wifi", "вайфай", "точка"]),
    ("trees", &["дерево", "tree"]),
    ("cabinets", &["шафа", "шкаф", "щит", "cabinet"]),
    ("fibre_nodes", &["колодязь", "колодец", "well"]),
    ("fibre_spans", &["проліт", "пролет", "span"]),
];

/// The layer a spoken or written word names: a layer code in either script, the start of
/// its Ukrainian or English title ("оп", "pole"), or its title or a spoken name in any case
/// form ("опори", "на люку", "стовпа").
fn layer_of_word(twin: &Twin, word: &str) -> Option<LayerId> {
    if word.is_empty() {
        return None;
    }
    if let Some(l) = numbering::layer_by_code(twin.layers(), word) {
        return Some(l);
    }
    let w = word.to_lowercase();
    if w.chars().count() < 3 {
        return None;
    }
    let ws = super::streets::stem(&w);
    let same = |name: &str| super::streets::stem(name) == ws;
    twin.layers().ids().find(|&l| {
        let d = twin.layers().def(l);
        let spoken = SPOKEN
            .iter()
            .find(|(n, _)| *n == d.name)
            .map_or(&[][..], |(_, words)| *words);
        d.numbered
            && ([&d.title_uk, &d.title_en].iter().any(|t| {
                let t = t.to_lowercase();
                !t.is_empty()
                    && (t.starts_with(&w) || t.split_whitespace().next().is_some_and(same))
            }) || spoken.iter().any(|s| same(s)))
    })
}

/// A query as read: the layer word, the other words (a street), the digits, a house number.
struct Read {
    layer: Option<LayerId>,
    /// Tokens of digits and letters (a house number like `45а`, or a garbled number).
    mixed: Vec<String>,
    /// The layer word, or the unknown words, as heard (for `normalized`).
    word: String,
    street: Vec<String>,
    digits: Vec<u8>,
    house: Option<String>,
    suffix: bool,
}

/// Reads a query: words, numbers in words, digits.
fn read(twin: &Twin, q: &str) -> Read {
    let h = super::words::hear(q);
    let mut layer = None;
    let mut word = String::new();
    let mut street = Vec::new();
    for w in h.words {
        match layer {
            None if layer_of_word(twin, &w).is_some() => {
                layer = layer_of_word(twin, &w);
                word = w;
            }
            _ => street.push(w),
        }
    }
    if layer.is_none() {
        word = street.join(" ");
    }
    let house = h.mixed.first().cloned().or_else(|| {
        (!street.is_empty() && !h.digits.is_empty())
            .then(|| h.digits.iter().map(|d| char::from(b'0' + d)).collect())
    });
    Read {
        layer,
        mixed: h.mixed,
        word,
        street,
        digits: h.digits,
        house,
        suffix: h.suffix,
    }
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
        scan::one_wrong(digits, |v, orig, d| {
            let rule = if scan::sound_alike(orig, d) {
                "misheard_digit"
            } else {
                "one_digit_wrong"
            };
            put(v, rule);
        });
        let mut v = digits.to_vec();
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
    let r = read(twin, q);
    let layers: Vec<LayerId> = twin
        .layers()
        .ids()
        .filter(|l| rq.visible.has_layer(*l) && (rq.layers.is_empty() || rq.layers.contains(l)))
        .collect();
    // Only what the asker may see counts, also in deciding how the query is read.
    let source: Vec<&Object> = twin
        .by_source_number(&numbering::source_key(q))
        .into_iter()
        .filter(|o| layers.contains(&o.layer) && rq.visible.shows(o))
        .collect();
    // A street, and a house on it.
    let addresses_asked = ["addresses", "streets", "districts"].iter().any(|n| {
        twin.layers()
            .by_name(n)
            .is_some_and(|l| layers.contains(&l))
    });
    if !r.street.is_empty()
        && addresses_asked
        && r.layer.is_none()
        && r.digits.len() < width
        && let Some(cache) = &rq.streets
    {
        let ix = cache.get(twin, &rq.visible);
        let found = ix.find(&r.street);
        if !found.is_empty() {
            return Ok(address_answer(twin, rq, &ix, &found, r.house.as_deref()));
        }
    }
    // Letters inside the digits, with no street to be a house number on.
    if let Some(m) = r.mixed.first()
        && (r.layer.is_some() || r.street.is_empty())
        && source.is_empty()
    {
        return Err(bad(
            "q",
            format!(
                "{m:?} mixes letters into the number: say or type the digits painted on the object"
            ),
        ));
    }
    // Words that name no layer with fewer digits than a number has: a street and house,
    // just not one the city knows.
    if !r.street.is_empty()
        && r.layer.is_none()
        && source.is_empty()
        && r.digits.len() < width
        && addresses_asked
        && rq.streets.is_some()
    {
        return Ok(Resolved {
            query: rq.q.clone(),
            normalized: r.word.clone(),
            check_digit_ok: None,
            note: format!(
                "no street called {:?} is known (nor by an old name): check the spelling, or ask for a landmark's number",
                r.street.join(" ")
            ),
            note_uk: format!(
                "вулиці «{}» немає (і під старою назвою): перевірте написання або запитайте номер найближчого об'єкта",
                r.street.join(" ")
            ),
            ambiguous: false,
            mode: "address".into(),
            candidates: Vec::new(),
        });
    }
    if r.digits.is_empty() && source.is_empty() {
        return Err(bad(
            "q",
            if r.street.is_empty() {
                "no digits: say or type the number painted on the object, or a street and house"
                    .to_string()
            } else {
                format!(
                    "no digits, and no street is called {:?}: say or type the number painted on the object",
                    r.street.join(" ")
                )
            },
        ));
    }
    let digits = &r.digits;
    // The weaker readings look only in the layer heard, when one was.
    let scan_layers: Vec<LayerId> = match r.layer {
        Some(l) if layers.contains(&l) => vec![l],
        _ => layers.clone(),
    };
    let scope = scan::Scope {
        twin,
        layers: &scan_layers,
        visible: &rq.visible,
        width: twin.serial_width(),
        limit: rq.limit,
    };
    let area = rq.near.map(|at| scan::Area {
        at,
        radius_m: rq.radius_m,
    });
    let mut found: Vec<scan::Hit<'_>> = source.iter().map(|o| (*o, "source_number", 0.0)).collect();
    let n = digits.len();
    let mode = if r.suffix {
        let Some(a) = area else {
            return Err(bad(
                "q",
                "the last digits alone need the caller's area: give near=lat,lon",
            ));
        };
        found.extend(scope.last_digits(digits, a));
        "last_digits"
    } else {
        for (serial, rule) in serials(digits, width) {
            if let Some(o) = twin.by_serial(serial) {
                found.push((o, rule, cost(rule)));
            }
        }
        if let Some(a) = area {
            found.extend(scope.no_check_one_wrong(digits, a));
            found.extend(scope.two_wrong(digits, a));
        }
        if n > 0 && n < width {
            found.extend(scope.prefix(digits, area));
            "prefix"
        } else {
            "number"
        }
    };
    found.retain(|(o, _, _)| layers.contains(&o.layer) && rq.visible.shows(o));
    // An object reached by several readings keeps its cheapest.
    found.sort_by(|a, b| a.0.id.cmp(&b.0.id).then(a.2.total_cmp(&b.2)));
    found.dedup_by_key(|f| f.0.id);
    let check_digit_ok = (n == width + 1 && !r.suffix).then(|| damm::is_valid(digits));
    // Weigh: the mistake's cost, a heard layer word that does not match, the distance.
    let mut weighed: Vec<(f64, Option<f64>, &Object, &'static str)> = found
        .into_iter()
        .map(|(o, rule, c)| {
            let mut c = c;
            if r.layer.is_some_and(|l| l != o.layer) {
                c += 1.5;
            }
            let d = rq.near.map(|n| place::distance_m(n, o.geometry.anchor()));
            let far = d.map_or(0.0, |d| farness(d, rq.radius_m));
            ((-2.0 * c - far).exp(), d, o, rule)
        })
        .collect();
    weighed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.id.cmp(&b.2.id)));
    let total: f64 = NONE + weighed.iter().map(|w| w.0).sum::<f64>();
    // Close in weight; or the best reading assumes a mistake while another, read with more
    // mistakes, stands much nearer the caller: only the caller can tell which.
    let nearer_other = match (weighed.first(), rq.near) {
        (Some((_, Some(d0), _, rule)), Some(_)) if !matches!(*rule, "exact" | "source_number") => {
            weighed[1..]
                .iter()
                .any(|(_, d, _, _)| d.is_some_and(|d| d < NEARER * d0))
        }
        _ => false,
    };
    let ambiguous = weighed.len() >= 2
        && (weighed[1].0 >= AMBIGUOUS * weighed[0].0 || (nearer_other && mode == "number"));
    let shown: String = digits.iter().map(|x| char::from(b'0' + x)).collect();
    let normalized = match (r.layer, mode) {
        (_, "last_digits") => format!("…{shown}"),
        (Some(l), _) if n == width + 1 => format!(
            "{}-{}-{}",
            twin.layers().def(l).code,
            &shown[..width],
            &shown[width..]
        ),
        (Some(l), "prefix") => format!("{}-{shown}…", twin.layers().def(l).code),
        (None, "prefix") if r.word.is_empty() => format!("{shown}…"),
        _ if r.word.is_empty() => shown.clone(),
        _ => format!("{} {shown}", r.word.to_uppercase()),
    };
    let (note, note_uk): (String, String) = match (check_digit_ok, weighed.first()) {
        (_, Some(_)) if mode == "last_digits" => (
            format!("objects near the caller whose number ends in {shown}, nearest first"),
            format!("об'єкти біля абонента, чий номер закінчується на {shown}, ближчі першими"),
        ),
        (Some(false), _) => (
            "the check digit does not fit: the number was misheard or misread; candidates assume one mistake, or two near the caller".into(),
            "контрольна цифра не сходиться: номер почуто або прочитано з помилкою; кандидати — з однією помилкою, біля абонента — з двома".into(),
        ),
        (_, None) if mode == "last_digits" => (
            format!("no object near the caller has a number ending in {shown}"),
            format!("біля абонента немає об'єкта з номером на {shown}"),
        ),
        (_, None) => (
            "no object has this number or one a single mistake away".into(),
            "немає об'єкта з таким номером чи номером за одну помилку від нього".into(),
        ),
        (_, Some(_)) if mode == "prefix" && rq.near.is_none() => (
            "the number is not complete: type on, or give the caller's area to see the objects near them first".into(),
            "номер неповний: вводьте далі або вкажіть район абонента, щоб бачити спершу ближчі об'єкти".into(),
        ),
        (_, Some(_)) if ambiguous => (
            "several objects fit: ask the caller for the number again, or for the object next to it".into(),
            "підходять кілька об'єктів: перепитайте номер або номер сусіднього об'єкта".into(),
        ),
        (_, Some(w)) if w.3 == "two_digits_wrong" => (
            "the best fit assumes two digits misheard: confirm it with the caller".into(),
            "найкращий збіг припускає дві помилкові цифри: підтвердьте з абонентом".into(),
        ),
        _ => (String::new(), String::new()),
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
        note_uk,
        ambiguous,
        mode: mode.to_string(),
        candidates,
    })
}

/// A second candidate at least this fraction of the first's weight makes the answer
/// ambiguous.
const AMBIGUOUS: f64 = 0.4;

/// Another candidate nearer the caller than this fraction of the best one's distance makes
/// an answer that assumes a mistake ambiguous.
const NEARER: f64 = 0.7;

/// How much the distance from the caller's area counts against a candidate: in proportion
/// within the radius, and three times as fast beyond it (the caller is not that far off).
fn farness(d: f64, radius: f64) -> f64 {
    let x = d / radius;
    x + 3.0 * (x - 1.0).max(0.0)
}

/// The weight of "none of these" (the object meant is not numbered, or more went wrong).
const NONE: f64 = 0.049_787_068_367_863_944; // e^-3

/// The answer to a street (and house) question.
fn address_answer(
    twin: &Twin,
    rq: &ResolveQuery,
    ix: &super::streets::StreetIndex,
    found: &[super::streets::Found],
    house: Option<&str>,
) -> Resolved {
    let places: Vec<super::address::Place<'_>> =
        super::address::places(twin, ix, found, house, rq.near, rq.limit)
            .into_iter()
            .filter(|p| rq.layers.is_empty() || rq.layers.contains(&p.object.layer))
            .collect();
    let mut weighed: Vec<(f64, Option<f64>, super::address::Place<'_>)> = places
        .into_iter()
        .map(|p| {
            let d = rq
                .near
                .map(|n| place::distance_m(n, p.object.geometry.anchor()));
            let far = d.map_or(0.0, |d| farness(d, rq.radius_m));
            ((-2.0 * p.cost - far).exp(), d, p)
        })
        .collect();
    weighed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.object.id.cmp(&b.2.object.id)));
    let total: f64 = NONE + weighed.iter().map(|w| w.0).sum::<f64>();
    let ambiguous = weighed.len() >= 2 && weighed[1].0 >= AMBIGUOUS * weighed[0].0;
    let streets: Vec<&str> = found
        .iter()
        .map(|f| ix.streets[f.street].name.as_str())
        .collect();
    let normalized = match house {
        Some(h) => format!("{} {h}", streets.join(" / ")),
        None => streets.join(" / "),
    };
    let on = streets.join(" / ");
    let (note, note_uk) = match weighed.first() {
        None => (
            format!("no address on {on} is known"),
            format!("жодної адреси на {on} не відомо"),
        ),
        Some((_, _, p)) => {
            let (mut en, mut uk) = (Vec::new(), Vec::new());
            match (&p.via, p.old) {
                (Some(v), true) => {
                    en.push(format!("{v:?} is now {}", p.street));
                    uk.push(format!("«{v}» — тепер {}", p.street));
                }
                (Some(v), false) => {
                    en.push(format!("{v:?} is {}", p.street));
                    uk.push(format!("«{v}» — це {}", p.street));
                }
                (None, _) => {}
            }
            if p.rule == "address_nearby_house" {
                let h = house.unwrap_or_default();
                en.push(format!("no house {h} on {}: the nearest numbers", p.street));
                uk.push(format!(
                    "будинку {h} на {} немає: найближчі номери",
                    p.street
                ));
            }
            if ambiguous {
                en.push("several places fit: ask the caller for the house or a landmark".into());
                uk.push("підходять кілька місць: запитайте будинок або номер орієнтира".into());
            }
            (en.join("; "), uk.join("; "))
        }
    };
    let candidates = weighed
        .iter()
        .take(rq.limit)
        .map(|(w, d, p)| super::address::candidate(twin, p, w / total, *d, rq))
        .collect();
    Resolved {
        query: rq.q.clone(),
        normalized,
        check_digit_ok: None,
        note,
        note_uk,
        ambiguous,
        mode: "address".into(),
        candidates,
    }
}

/// The Open Location Code of a position (10 digits, about 14 × 14 m).
pub fn plus_code(p: [f64; 2]) -> String {
    pluscodes::encode(
        &pluscodes::Coordinate {
            latitude: p[1],
            longitude: p[0],
        },
        10,
    )
    .unwrap_or_default()
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
    let plus_code = plus_code(p);
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
        kind: "object".into(),
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
        matched_name: None,
        landmarks: Vec::new(),
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
            streets: None,
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
