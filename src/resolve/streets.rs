//! Streets and addresses as callers say them: "Соборний 45", "просп. Соборний, 45", "вул.
//! Перемоги 12", or a name the street had before it was renamed. Names are compared by their
//! words' stems (case endings cut off, street-type words and their abbreviations dropped, word
//! order ignored); every street is known by its current name, its OSM `old_name`, `alt_name`,
//! `loc_name`, `official_name`, `short_name` and `name:*` tags, and the city's renaming table.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::access::Visible;
use crate::model::{LayerId, Object, ObjectId};
use crate::twin::Twin;

/// Street-type words and their abbreviations (Ukrainian, Russian, English, Finnish/Swedish
/// are part of the names themselves and stay).
const TYPE_WORDS: &[&str] = &[
    "вулиця",
    "вулиці",
    "вулицю",
    "вулицею",
    "вул",
    "проспект",
    "проспекту",
    "проспекті",
    "проспектом",
    "просп",
    "пр",
    "прт",
    "площа",
    "площі",
    "площу",
    "пл",
    "провулок",
    "провулку",
    "пров",
    "бульвар",
    "бульвару",
    "бульварі",
    "бульв",
    "бул",
    "бр",
    "узвіз",
    "узвозу",
    "шосе",
    "набережна",
    "набережній",
    "наб",
    "майдан",
    "майдані",
    "тупик",
    "проїзд",
    "проїзді",
    "улица",
    "улице",
    "улицу",
    "ул",
    "проспекте",
    "переулок",
    "переулке",
    "пер",
    "площадь",
    "площади",
    "проезд",
    "набережная",
    "street",
    "st",
    "avenue",
    "ave",
    "av",
    "road",
    "rd",
    "square",
    "sq",
    "lane",
    "ln",
    "boulevard",
    "blvd",
];

/// Case endings cut off a word's end (longest first), when at least three letters stay.
const ENDINGS: &[&str] = &[
    "ого", "ому", "ими", "ій", "ий", "ый", "ої", "ою", "им", "ім", "их", "іх", "ая", "ое", "ой",
    "ую", "ые", "ых", "ым", "ом", "ем", "ей", "ам", "ах", "ях", "ям", "а", "я", "і", "и", "ы", "у",
    "ю", "е", "о", "ь", "й",
];

/// A word's stem: lowercased, apostrophes gone, a case ending cut off.
pub fn stem(word: &str) -> String {
    let w: String = word
        .chars()
        .filter(|c| !matches!(c, '\'' | '’' | 'ʼ' | '`' | '´' | '‘'))
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ё' { 'е' } else { c })
        .collect();
    for e in ENDINGS {
        if let Some(s) = w.strip_suffix(e)
            && s.chars().count() >= 3
        {
            return s.to_string();
        }
    }
    w
}

/// Whether a (lowercased) word names a kind of street rather than the street.
pub fn is_type_word(word: &str) -> bool {
    let w: String = word.chars().filter(|c| *c != '-' && *c != '.').collect();
    TYPE_WORDS.contains(&w.as_str())
}

/// The key a street name is found by: its words' stems without street-type words, sorted.
pub fn key_of(name: &str) -> String {
    key_of_words(
        name.split(|c: char| !(c.is_alphanumeric() || matches!(c, '\'' | '’' | 'ʼ' | '`')))
            .filter(|w| !w.is_empty()),
    )
}

/// As [`key_of`], for words already split.
pub fn key_of_words<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let mut stems: Vec<String> = words
        .into_iter()
        .map(|w| w.to_lowercase())
        .filter(|w| !is_type_word(w) && !super::words::is_filler(w))
        .map(|w| stem(&w))
        .filter(|s| !s.is_empty())
        .collect();
    stems.sort();
    stems.join(" ")
}

/// A house number as compared: lowercased, no spaces or dashes, Cyrillic letters that look
/// like Latin ones read as Latin ("45 А" = "45a").
pub fn house_key(h: &str) -> String {
    h.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '–'))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'а' => 'a',
            'б' => 'b',
            'в' => 'v',
            'г' => 'g',
            'д' => 'd',
            'е' => 'e',
            'к' => 'k',
            'о' => 'o',
            'с' => 'c',
            _ => c,
        })
        .collect()
}

/// The leading digits of a house number as a number ("45a" → 45).
fn house_value(h: &str) -> Option<u32> {
    let d: String = h.chars().take_while(char::is_ascii_digit).collect();
    d.parse().ok()
}

/// The city's renaming table: old street name → current name.
#[derive(Debug, Clone, Default)]
pub struct Renamings {
    pub pairs: Vec<(String, String)>,
}

/// What is wrong with a renaming table: the file, the line and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct RenamingError {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

impl Renamings {
    /// Reads a CSV with the header `old,new` (more columns are allowed and ignored).
    pub fn read(path: &Path) -> Result<Renamings, RenamingError> {
        let file = path.display().to_string();
        let err = |line: u64, reason: String| RenamingError {
            file: file.clone(),
            line,
            reason,
        };
        let mut r = csv::ReaderBuilder::new()
            .flexible(false)
            .from_path(path)
            .map_err(|e| err(0, e.to_string()))?;
        let header = r.headers().map_err(|e| err(1, e.to_string()))?.clone();
        let col = |name: &str| {
            header
                .iter()
                .position(|h| {
                    h.trim()
                        .trim_start_matches('\u{feff}')
                        .eq_ignore_ascii_case(name)
                })
                .ok_or_else(|| {
                    err(
                        1,
                        format!("no column {name:?}: the header must name old and new"),
                    )
                })
        };
        let (old, new) = (col("old")?, col("new")?);
        let mut pairs = Vec::new();
        for (i, row) in r.records().enumerate() {
            let line = i as u64 + 2;
            let row = row.map_err(|e| err(line, e.to_string()))?;
            let get = |c: usize| row.get(c).map(str::trim).unwrap_or("");
            let (o, n) = (get(old), get(new));
            if o.is_empty() || n.is_empty() {
                return Err(err(line, "old and new must both be given".into()));
            }
            if key_of(o).is_empty() || key_of(n).is_empty() {
                return Err(err(
                    line,
                    "a name must have a word besides the street type".into(),
                ));
            }
            pairs.push((o.to_string(), n.to_string()));
        }
        Ok(Renamings { pairs })
    }
}

/// One street: its current name, its addresses and its ways.
#[derive(Debug, Default)]
pub struct Street {
    pub name: String,
    /// `(house key, house as written, address object)`.
    pub houses: Vec<(String, String, ObjectId)>,
    pub ways: Vec<ObjectId>,
    /// A district (OSM `place=suburb` and the like), not a street: its point is in `ways`.
    pub district: bool,
}

/// A street found by a name: which, and the name the caller used when it is not the current
/// one (an old name, another language's).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub street: usize,
    pub via: Option<String>,
    /// `via` is a name the street had (OSM `old_name*`, the renaming table), not another
    /// name it has (another language's, a local one).
    pub old: bool,
}

/// Every street by every name it is known by.
#[derive(Debug, Default)]
pub struct StreetIndex {
    pub streets: Vec<Street>,
    names: HashMap<String, Vec<Found>>,
    /// Renaming rows whose new name is no street of the city.
    pub unmatched_renamings: usize,
}

/// Tags that hold another name of a street.
fn is_other_name(key: &str) -> bool {
    matches!(
        key,
        "old_name" | "alt_name" | "loc_name" | "official_name" | "short_name" | "int_name"
    ) || key.starts_with("name:")
        || key.starts_with("old_name:")
        || key.starts_with("alt_name:")
}

impl StreetIndex {
    /// The index of the `addresses` and `streets` layers of `twin` (as far as `visible`
    /// shows them) with the city's renamings.
    pub fn build(twin: &Twin, renamings: &Renamings, visible: &Visible) -> StreetIndex {
        let mut ix = StreetIndex::default();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let layer = |name: &str| -> Option<LayerId> {
            twin.layers()
                .by_name(name)
                .filter(|l| visible.has_layer(*l))
        };
        let text = |o: &Object, k: &str| o.attributes.get(k).map(|v| v.as_text());
        let mut street_of = |ix: &mut StreetIndex, name: &str| -> Option<usize> {
            let key = key_of(name);
            if key.is_empty() {
                return None;
            }
            Some(*by_key.entry(key).or_insert_with(|| {
                ix.streets.push(Street {
                    name: name.to_string(),
                    ..Default::default()
                });
                ix.streets.len() - 1
            }))
        };
        if let Some(l) = layer("addresses") {
            for id in twin.ids_of(l) {
                let Some(o) = twin.get(id).filter(|o| visible.shows(o)) else {
                    continue;
                };
                let (Some(street), Some(house)) = (
                    text(o, "addr:street").or_else(|| text(o, "addr:place")),
                    text(o, "addr:housenumber"),
                ) else {
                    continue;
                };
                if let Some(s) = street_of(&mut ix, &street) {
                    ix.streets[s].houses.push((house_key(&house), house, id));
                }
            }
        }
        let mut others: Vec<(usize, String, bool)> = Vec::new();
        // Districts by their names, apart from streets of the same name.
        if let Some(l) = layer("districts") {
            for id in twin.ids_of(l) {
                let Some(o) = twin.get(id).filter(|o| visible.shows(o)) else {
                    continue;
                };
                let Some(name) = text(o, "name") else {
                    continue;
                };
                ix.streets.push(Street {
                    name: name.clone(),
                    ways: vec![id],
                    district: true,
                    ..Default::default()
                });
                let s = ix.streets.len() - 1;
                for (k, v) in o.attributes.iter() {
                    if is_other_name(k) {
                        for alt in v.as_text().split(';') {
                            others.push((s, alt.trim().to_string(), k.starts_with("old_name")));
                        }
                    }
                }
            }
        }
        if let Some(l) = layer("streets") {
            for id in twin.ids_of(l) {
                let Some(o) = twin.get(id).filter(|o| visible.shows(o)) else {
                    continue;
                };
                let Some(name) = text(o, "name") else {
                    continue;
                };
                let Some(s) = street_of(&mut ix, &name) else {
                    continue;
                };
                ix.streets[s].ways.push(id);
                for (k, v) in o.attributes.iter() {
                    if is_other_name(k) {
                        for alt in v.as_text().split(';') {
                            others.push((s, alt.trim().to_string(), k.starts_with("old_name")));
                        }
                    }
                }
            }
        }
        for (s, street) in ix.streets.iter().enumerate() {
            ix.names
                .entry(key_of(&street.name))
                .or_default()
                .push(Found {
                    street: s,
                    via: None,
                    old: false,
                });
        }
        for (old, new) in &renamings.pairs {
            match by_key.get(&key_of(new)) {
                Some(&s) => others.push((s, old.clone(), true)),
                None => ix.unmatched_renamings += 1,
            }
        }
        for (s, alt, old) in others {
            let key = key_of(&alt);
            if key.is_empty() {
                continue;
            }
            let list = ix.names.entry(key).or_default();
            if !list.iter().any(|f| f.street == s) {
                list.push(Found {
                    street: s,
                    via: Some(alt),
                    old,
                });
            }
        }
        for street in &mut ix.streets {
            street.houses.sort_by(|a, b| {
                house_value(&a.0)
                    .cmp(&house_value(&b.0))
                    .then_with(|| a.0.cmp(&b.0))
                    .then(a.2.cmp(&b.2))
            });
        }
        ix
    }

    /// The streets a caller's words name: the same stems, else (for words of four letters or
    /// more) streets whose stems start with them.
    pub fn find(&self, words: &[String]) -> Vec<Found> {
        let key = key_of_words(words.iter().map(String::as_str));
        if key.is_empty() {
            return Vec::new();
        }
        if let Some(f) = self.names.get(&key) {
            return f.clone();
        }
        let asked: Vec<&str> = key.split(' ').collect();
        if asked.iter().any(|w| w.chars().count() < 4) {
            return Vec::new();
        }
        let mut out: Vec<Found> = Vec::new();
        let mut keys: Vec<&String> = self.names.keys().collect();
        keys.sort();
        for k in keys {
            let have: Vec<&str> = k.split(' ').collect();
            if have.len() == asked.len()
                && asked.iter().all(|a| have.iter().any(|h| h.starts_with(a)))
            {
                for f in &self.names[k] {
                    if !out.iter().any(|o| o.street == f.street) {
                        out.push(f.clone());
                    }
                }
            }
        }
        out
    }

    /// The houses of a street that a house number as heard can be: the same number, else the
    /// same leading digits ("45" for "45a"), else the nearest numbers on the street.
    pub fn houses(&self, street: usize, house: &str) -> (Vec<ObjectId>, &'static str) {
        let s = &self.streets[street];
        let k = house_key(house);
        let same: Vec<ObjectId> = s.houses.iter().filter(|h| h.0 == k).map(|h| h.2).collect();
        if !same.is_empty() {
            return (same, "address");
        }
        let Some(v) = house_value(&k) else {
            return (Vec::new(), "address");
        };
        let like: Vec<ObjectId> = s
            .houses
            .iter()
            .filter(|h| house_value(&h.0) == Some(v))
            .map(|h| h.2)
            .collect();
        if !like.is_empty() {
            return (like, "address_other_letter");
        }
        // The nearest numbers on either side (same parity first: one side of the street).
        let mut near: Vec<(u32, u32, ObjectId)> = s
            .houses
            .iter()
            .filter_map(|h| {
                let hv = house_value(&h.0)?;
                Some((u32::from(hv % 2 != v % 2), hv.abs_diff(v), h.2))
            })
            .collect();
        near.sort_unstable();
        near.truncate(2);
        (
            near.into_iter().map(|n| n.2).collect(),
            "address_nearby_house",
        )
    }
}

/// The street index, rebuilt when the addresses or streets change (and per role that sees
/// a different part of them).
#[derive(Debug)]
pub struct StreetCache {
    renamings: Renamings,
    built: crate::twin::ViewCache<StreetIndex>,
}

/// The layers the index is built from.
const INDEXED: [&str; 3] = ["addresses", "streets", "districts"];

impl StreetCache {
    pub fn new(renamings: Renamings) -> StreetCache {
        StreetCache {
            renamings,
            built: Default::default(),
        }
    }

    /// The index for `twin` as `visible` sees it: one per view, rebuilt when the layers
    /// change.
    pub fn get(&self, twin: &Twin, visible: &Visible) -> Arc<StreetIndex> {
        let layers: Vec<LayerId> = INDEXED
            .iter()
            .filter_map(|n| twin.layers().by_name(n))
            .collect();
        self.built.get(twin, visible, &layers, || {
            StreetIndex::build(twin, &self.renamings, visible)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_by_stems_in_any_order_and_case() {
        assert_eq!(key_of("Соборний проспект"), key_of("просп. Соборний"));
        assert_eq!(
            key_of("проспект Соборний"),
            key_of("на Соборному проспекті")
        );
        assert_eq!(key_of("вул. Перемоги"), key_of("вулиця Перемоги"));
        assert_eq!(key_of("Героїв Праці"), key_of("вул. Праці Героїв"));
        assert_eq!(
            key_of("вулиця Богдана Хмельницького"),
            key_of("Богдана Хмельницького")
        );
        assert_ne!(key_of("Перемоги"), key_of("Соборний"));
        assert_eq!(key_of("Mannerheimintie"), "mannerheimintie");
        assert_eq!(house_key("45 А"), "45a");
        assert_eq!(house_key("12-б"), "12b");
    }
}
