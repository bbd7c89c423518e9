//! A dispatcher's query, typed or written by speech-to-text in Ukrainian, Russian or English,
//! read into the digits heard (digit characters, look-alike letters inside them, and number
//! words such as "сто чотири тисячі", "seventy five", "нуль сорок два") and the other words;
//! and the reverse, [`spell`], which says digits in words the way callers read them.

/// A query as heard: digits in order, the other words, and whether only the last digits were given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heard {
    /// Every digit, in order: digit characters as typed and number words turned into digits.
    pub digits: Vec<u8>,
    /// The words that are neither numbers nor filler, lowercased, apostrophes removed, in order
    /// (a layer word such as "опори", or a street name).
    pub words: Vec<String>,
    /// Tokens that mix digits and letters and are not a layer code glued to digits, kept as
    /// typed lowercased (house numbers like "45а", "12/2").
    pub mixed: Vec<String>,
    /// The caller gave only the last digits ("останні цифри 4273", "last digits 4273", "…4273", "*4273").
    pub suffix: bool,
    /// At least one number word was read (not only digit characters).
    pub spoken: bool,
}

/// The language [`spell`] says digits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Ukrainian.
    Uk,
    /// Russian.
    Ru,
    /// English.
    En,
}

/// How [`spell`] groups digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One by one: "сім п'ять п'ять".
    Digits,
    /// Two at a time: "сімдесят п'ять, п'ятдесят шість".
    Pairs,
    /// Three at a time: "сімсот п'ятдесят п'ять, шістсот двадцять три".
    Triples,
}

/// Apostrophes removed from words, so "п'ять", "пʼять" and "пять" are one word.
const APOSTROPHES: [char; 6] = ['\'', '’', 'ʼ', '`', '´', '‘'];

/// Words that carry nothing: prepositions, conjunctions, call words and hesitations
/// (Ukrainian, Russian, English), normalised as [`hear`] normalises words.
const FILLER: &str = "на біля коло поруч поряд від до з із зі у в і й та а ну ось от це там тут є \
    написано написана номер номера номеру номером номері число цифра цифри цифр цифру цифрами \
    значить так возле около рядом с со и из вот это написан цифры значит near at on the a an \
    number no nr num and is it its says i of by digit digits ем еее мм эм эээ хм uh um umm er \
    erm hmm";

/// Words that say only the last digits follow.
const SUFFIX: &str = "останні остання останніх останню кінець закінчується закінчуються \
    последние последняя последних конец заканчивается заканчиваются last ends ending end";

// Number words: one entry per value, entries separated by ";", each entry
// `Ukrainian forms|Russian forms|English forms`; the first form of each is the one `spell` says.
/// 0 to 9.
const UNITS: &str = "нуль ноль о|ноль нуль о|zero oh o nought naught nil; \
    один одна одне одну одно|один одна одно одну|one; два дві|два две|two; три|три|three; \
    чотири|четыре|four; п'ять|пять|five; шість|шесть|six; сім|семь|seven; вісім|восемь|eight; \
    дев'ять|девять|nine";
/// 10 to 19.
const TEENS: &str = "десять|десять|ten; одинадцять|одиннадцать одинадцать|eleven; \
    дванадцять|двенадцать|twelve; тринадцять|тринадцать|thirteen; \
    чотирнадцять|четырнадцать|fourteen; п'ятнадцять|пятнадцать|fifteen; \
    шістнадцять|шестнадцать|sixteen; сімнадцять|семнадцать|seventeen; \
    вісімнадцять|восемнадцать|eighteen; дев'ятнадцять|девятнадцать|nineteen";
/// 20 to 90.
const TENS: &str = "двадцять|двадцать|twenty; тридцять|тридцать|thirty; сорок|сорок|forty fourty; \
    п'ятдесят|пятьдесят|fifty; шістдесят|шестьдесят|sixty; сімдесят|семьдесят|seventy; \
    вісімдесят|восемьдесят|eighty; дев'яносто|девяносто|ninety";
/// 100 to 900; English says "<unit> hundred" instead.
const HUNDREDS: &str = "сто|сто|; двісті|двести|; триста|триста|; чотириста|четыреста|; \
    п'ятсот|пятьсот|; шістсот|шестьсот|; сімсот|семьсот|; вісімсот|восемьсот|; дев'ятсот|девятьсот|";
const HUNDRED: &str = "hundred hundreds";
const THOUSAND: &str = "тисяча тисячі тисяч тисячу|тысяча тысячи тысяч тысячу|thousand thousands";

/// What a number word means.
#[derive(Debug, Clone, Copy)]
enum Num {
    Unit(u8),
    /// 10 to 19, or 20, 30 … 90.
    Tens(u8),
    /// 1 to 9, for 100 to 900.
    Hundreds(u8),
    /// English "hundred": multiplies what comes before.
    Hundred,
    Thousand,
    /// "double", "triple": the next digit said that many times.
    Repeat(usize),
}

/// Whether `w` (normalised) is one of the forms in a table entry.
fn is_form(entry: &str, w: &str) -> bool {
    entry
        .split(['|', ' '])
        .any(|f| !f.is_empty() && f.chars().filter(|c| !APOSTROPHES.contains(c)).eq(w.chars()))
}

/// The place of `w` in a number table.
fn find(table: &str, w: &str) -> Option<u8> {
    table
        .split(';')
        .position(|e| is_form(e, w))
        .and_then(|i| u8::try_from(i).ok())
}

fn number_word(w: &str) -> Option<Num> {
    find(UNITS, w)
        .map(Num::Unit)
        .or_else(|| find(TEENS, w).map(|i| Num::Tens(i + 10)))
        .or_else(|| find(TENS, w).map(|i| Num::Tens((i + 2) * 10)))
        .or_else(|| find(HUNDREDS, w).map(|i| Num::Hundreds(i + 1)))
        .or_else(|| is_form(HUNDRED, w).then_some(Num::Hundred))
        .or_else(|| is_form(THOUSAND, w).then_some(Num::Thousand))
        .or_else(|| is_form("double", w).then_some(Num::Repeat(2)))
        .or_else(|| is_form("triple treble", w).then_some(Num::Repeat(3)))
}

/// Lowercased, apostrophes removed, "ё" read as "е".
fn normalize(word: &str) -> String {
    word.chars()
        .filter(|c| !APOSTROPHES.contains(c))
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ё' { 'е' } else { c })
        .collect()
}

/// Whether `word` carries nothing for the search (a preposition, conjunction, call word such
/// as "номер" or "digits", or a hesitation such as "еее"), in any case, with or without apostrophes.
#[must_use]
pub fn is_filler(word: &str) -> bool {
    filler(&normalize(word))
}

fn filler(w: &str) -> bool {
    let stretched = !w.is_empty() && w.chars().all(|c| matches!(c, 'е' | 'э' | 'м'));
    stretched || FILLER.split_whitespace().any(|f| f == w)
}

/// A piece of the query between separators.
#[derive(Debug)]
enum Tok {
    /// Letters, digits, `|` and `/`, normalised.
    Chunk(String),
    /// Sentence punctuation (, . ; : ! ?): a pause that ends a spoken group.
    Break,
    /// "…", "..", "...", "*"; `loose` when not glued to the text before it.
    Marker { loose: bool },
}

fn is_token_char(c: char) -> bool {
    c.is_alphanumeric() || c == '|' || c == '/'
}

fn tokens(q: &str) -> Vec<Tok> {
    let chars: Vec<char> = normalize(q).chars().collect();
    let mut toks = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if is_token_char(c) {
            cur.push(c);
            continue;
        }
        let loose = cur.is_empty();
        if !loose {
            toks.push(Tok::Chunk(std::mem::take(&mut cur)));
        }
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i + 1).copied();
        match c {
            '.' if prev == Some('.') => {}
            '.' if next == Some('.') => toks.push(Tok::Marker { loose }),
            '…' | '*' => toks.push(Tok::Marker { loose }),
            '.' | ',' | ';' | ':' | '!' | '?' => toks.push(Tok::Break),
            _ => {}
        }
    }
    if !cur.is_empty() {
        toks.push(Tok::Chunk(cur));
    }
    toks
}

/// A house number: 1–3 digits then 1–2 letters ("45а", "12б"), even when the letters look like digits.
fn is_house(s: &str) -> bool {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    let letters = s.get(n..).unwrap_or_default();
    (1..=3).contains(&n)
        && (1..=2).contains(&letters.chars().count())
        && letters.chars().all(char::is_alphabetic)
}

/// A house number with a slash: "12/2", "12а/3" (a number after the slash is part of it).
fn is_slash_house(s: &str) -> bool {
    let mut parts = s.split('/');
    let head = parts.next().unwrap_or_default();
    let n = head.bytes().take_while(u8::is_ascii_digit).count();
    (is_house(head) || (1..=3).contains(&n) && n == head.len())
        && parts.all(|p| !p.is_empty() && p.chars().all(char::is_alphanumeric))
}

/// Digits from a token that starts with a digit, with look-alike letters read as digits.
fn read_digits(body: &str) -> Option<Vec<u8>> {
    body.chars()
        .map(|c| match c {
            'о' | 'o' => Some(0),
            'і' | 'i' | 'l' | '|' => Some(1),
            'з' => Some(3),
            'б' => Some(6),
            _ => c.to_digit(10).and_then(|d| u8::try_from(d).ok()),
        })
        .collect()
}

fn value(digits: &[u8]) -> u64 {
    digits.iter().fold(0, |v, &d| v * 10 + u64::from(d))
}

/// A spoken group being read: [hundreds] [tens] [unit], a teen being tens 1 plus a unit.
#[derive(Debug, Default, Clone, Copy)]
struct Group {
    hundreds: Option<u64>,
    tens: Option<u8>,
    unit: Option<u8>,
}

impl Group {
    fn is_empty(self) -> bool {
        self.hundreds.is_none() && self.tens.is_none() && self.unit.is_none()
    }

    fn value(self) -> u64 {
        self.hundreds.unwrap_or(0) * 100
            + u64::from(self.tens.unwrap_or(0)) * 10
            + u64::from(self.unit.unwrap_or(0))
    }

    /// A unit completes a group that has none; zero only stands alone ("сорок нуль" is 40, 0).
    fn takes_unit(self, unit: u8) -> bool {
        self.unit.is_none() && (unit != 0 || self.is_empty())
    }

    fn takes_tens(self) -> bool {
        self.tens.is_none() && self.unit.is_none()
    }
}

#[derive(Debug, Default)]
struct Reader {
    heard: Heard,
    group: Group,
    /// What came before "тисяча", while the group after it is read.
    thousands: Option<u64>,
    /// A short digit token ("104"), kept back in case "тисячі" follows.
    literal: Option<Vec<u8>>,
    /// "double"/"triple" waiting for its digit.
    repeat: Option<usize>,
}

impl Reader {
    fn push_text(&mut self, s: &str) {
        let digits = s.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0');
        self.heard.digits.extend(digits);
    }

    fn idle(&self) -> bool {
        self.heard.digits.is_empty()
            && self.group.is_empty()
            && self.thousands.is_none()
            && self.literal.is_none()
    }

    fn emit_literal(&mut self) {
        if let Some(lit) = self.literal.take() {
            self.heard.digits.extend(lit);
        }
    }

    /// Writes out whatever number is being read.
    fn flush(&mut self) {
        self.repeat = None;
        self.emit_literal();
        let group = std::mem::take(&mut self.group);
        if let Some(high) = self.thousands.take() {
            self.push_text(&format!("{high}{:03}", group.value()));
        } else if !group.is_empty() {
            // The natural width: hundreds ≥ 100, tens ≥ 10, a lone unit one digit.
            self.push_text(&group.value().to_string());
        }
    }

    /// Punctuation ends a group, but not right after "тисяча" ("чотири тисячі, двісті").
    fn pause(&mut self) {
        if self.thousands.is_none() || !self.group.is_empty() {
            self.flush();
        }
    }

    fn chunk(&mut self, s: &str) {
        let Some(first_digit) = s.find(|c: char| c.is_ascii_digit()) else {
            for part in s.split(|c: char| !c.is_alphabetic()) {
                self.word(part);
            }
            return;
        };
        if s.contains('/') {
            if is_slash_house(s) {
                self.mixed(s);
            } else {
                s.split('/').for_each(|part| self.chunk(part));
            }
            return;
        }
        let (prefix, body) = s.split_at(first_digit);
        match read_digits(body) {
            Some(digits) if !is_house(body) => {
                let letters: String = prefix.chars().filter(|c| c.is_alphabetic()).collect();
                self.word(&letters);
                self.digits(digits);
            }
            _ => self.mixed(s),
        }
    }

    fn mixed(&mut self, s: &str) {
        self.flush();
        self.heard.mixed.push(s.to_string());
    }

    fn word(&mut self, w: &str) {
        if w.is_empty() || filler(w) {
            return;
        }
        if SUFFIX.split_whitespace().any(|f| f == w) {
            self.heard.suffix = true;
        } else if let Some(num) = number_word(w) {
            self.number(num);
        } else {
            self.flush();
            self.heard.words.push(w.to_string());
        }
    }

    fn digits(&mut self, digits: Vec<u8>) {
        if let (Some(times), [d]) = (self.repeat.take(), digits.as_slice()) {
            let d = *d;
            self.flush();
            self.heard.digits.extend(std::iter::repeat_n(d, times));
            return;
        }
        if let Some(high) = self.thousands
            && self.group.is_empty()
            && digits.len() <= 3
        {
            self.thousands = None;
            self.push_text(&format!("{high}{:03}", value(&digits)));
            return;
        }
        self.flush();
        if digits.len() <= 3 && digits.first().is_some_and(|&d| d != 0) {
            self.literal = Some(digits);
        } else {
            self.heard.digits.extend(digits);
        }
    }

    fn number(&mut self, num: Num) {
        self.heard.spoken = true;
        let repeat = self.repeat.take();
        if !matches!(num, Num::Thousand) {
            self.emit_literal();
        }
        match num {
            Num::Repeat(times) => {
                self.flush();
                self.repeat = Some(times);
            }
            Num::Unit(u) => {
                if let Some(times) = repeat {
                    self.flush();
                    self.heard.digits.extend(std::iter::repeat_n(u, times));
                } else {
                    if !self.group.takes_unit(u) {
                        self.flush();
                    }
                    self.group.unit = Some(u);
                }
            }
            Num::Tens(n) => {
                if !self.group.takes_tens() {
                    self.flush();
                }
                self.group.tens = Some(n / 10);
                self.group.unit = (n < 20).then_some(n % 10);
            }
            Num::Hundreds(h) => {
                if !self.group.is_empty() {
                    self.flush();
                }
                self.group.hundreds = Some(u64::from(h));
            }
            Num::Hundred => self.hundred(),
            Num::Thousand => self.thousand(),
        }
    }

    /// English "hundred": "seven hundred" 700, "twelve hundred" 1200, "hundred" alone 100.
    fn hundred(&mut self) {
        let g = self.group;
        let v = g.value();
        if g.is_empty() {
            self.group.hundreds = Some(1);
        } else if g.hundreds.is_none() && v >= 1 && (v <= 9 || self.thousands.is_none()) {
            self.group = Group {
                hundreds: Some(v),
                ..Group::default()
            };
        } else {
            self.flush();
            self.group.hundreds = Some(1);
        }
    }

    /// "тисяча": what came before (1 if nothing) times 1000, plus the group after it.
    fn thousand(&mut self) {
        if let Some(lit) = self.literal.take() {
            self.thousands = Some(value(&lit));
            return;
        }
        let part = if self.group.is_empty() {
            1
        } else {
            self.group.value()
        };
        if let Some(high) = self.thousands {
            self.push_text(&format!("{high}000"));
        }
        self.group = Group::default();
        self.thousands = Some(part);
    }
}

fn starts_number(tok: Option<&Tok>) -> bool {
    match tok {
        Some(Tok::Chunk(s)) => {
            s.starts_with(|c: char| c.is_ascii_digit()) || number_word(s).is_some()
        }
        _ => false,
    }
}

/// Reads a query as typed or as written by speech-to-text into the digits heard and the other words.
#[must_use]
pub fn hear(q: &str) -> Heard {
    let toks = tokens(q);
    let mut reader = Reader::default();
    for (i, tok) in toks.iter().enumerate() {
        match tok {
            Tok::Chunk(s) => reader.chunk(s),
            Tok::Break => reader.pause(),
            Tok::Marker { loose } => {
                if *loose && reader.idle() && starts_number(toks.get(i + 1)) {
                    reader.heard.suffix = true;
                }
                reader.pause();
            }
        }
    }
    reader.flush();
    reader.heard
}

/// How entry `i` of a number table is said in `lang` ("" if it is not said in one word).
fn form(table: &'static str, i: usize, lang: Lang) -> &'static str {
    let section = match lang {
        Lang::Uk => 0,
        Lang::Ru => 1,
        Lang::En => 2,
    };
    table
        .split(';')
        .nth(i)
        .and_then(|entry| entry.split('|').nth(section))
        .and_then(|forms| forms.split_whitespace().next())
        .unwrap_or_default()
}

/// Says 1 to 999 in words.
fn say_number(n: usize, lang: Lang, words: &mut Vec<&'static str>) {
    let (h, rest) = (n / 100 % 10, n % 100);
    if h > 0 {
        match form(HUNDREDS, h - 1, lang) {
            "" => words.extend([form(UNITS, h, lang), "hundred"]),
            w => words.push(w),
        }
    }
    match rest {
        20.. => {
            words.push(form(TENS, rest / 10 - 2, lang));
            if rest % 10 > 0 {
                words.push(form(UNITS, rest % 10, lang));
            }
        }
        10.. => words.push(form(TEENS, rest - 10, lang)),
        1.. => words.push(form(UNITS, rest, lang)),
        0 => {}
    }
}

/// The digits said in words: one by one, or in groups of two or three as people read long
/// numbers ("сімдесят п'ять, п'ятдесят шість, двадцять три"). A group that starts with 0 is said
/// digit by digit for that leading zero ("нуль сорок два"), because "сорок два" would lose it.
/// Groups are separated by commas, which [`hear`] reads as pauses. Values above 9 are taken modulo 10.
#[must_use]
pub fn spell(digits: &[u8], lang: Lang, grouping: Grouping) -> String {
    let (size, separator) = match grouping {
        Grouping::Digits => (1, " "),
        Grouping::Pairs => (2, ", "),
        Grouping::Triples => (3, ", "),
    };
    let digits: Vec<usize> = digits.iter().map(|&d| usize::from(d % 10)).collect();
    let groups: Vec<String> = digits
        .chunks(size)
        .map(|group| {
            let zeros = group.iter().take_while(|&&d| d == 0).count();
            let mut words = vec![form(UNITS, 0, lang); zeros];
            if zeros < group.len() {
                let n = group[zeros..].iter().fold(0, |n, &d| n * 10 + d);
                say_number(n, lang, &mut words);
            }
            words.join(" ")
        })
        .collect();
    groups.join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    /// Queries as people say or type them, and the digits they mean.
    const SAID: &[(&str, &str)] = &[
        ("сім п'ять п'ять шість два три", "755623"),
        ("семь пять пять шесть два три", "755623"),
        ("seven five five six two three", "755623"),
        ("сімдесят п'ять, п'ятдесят шість, двадцять три", "755623"),
        ("seventy five fifty six twenty three", "755623"),
        ("семьсот пятьдесят пять", "755"),
        ("сімдесят п'ять п'ятсот шістдесят два три сім", "7556237"),
        ("люк нуль сорок два сім сім три", "042773"),
        (
            "на опорі номер сто чотири двісті сімдесят три п'ять",
            "1042735",
        ),
        (
            "опора сто чотири тисячі двісті сімдесят три, п'ять",
            "1042735",
        ),
        ("опора 104 двісті сімдесят три п'ять", "1042735"),
        ("pole one oh four two seven three five", "1042735"),
        ("seventy-five", "75"),
        ("сто два", "102"),
        ("сто", "100"),
        ("сорок", "40"),
        ("сто п'ятнадцять", "115"),
        ("дев'ятсот дев'яносто дев'ять", "999"),
        ("девятьсот девяносто девять", "999"),
        // zero never completes a group; a pause ends one
        ("сорок нуль", "400"),
        ("сто нуль", "1000"),
        ("сімдесят, п'ять", "705"),
        ("сто, чотири", "1004"),
        // thousands
        ("чотири тисячі двісті сімдесят три", "4273"),
        ("сорок тисяч", "40000"),
        ("тисяча два", "1002"),
        ("сто четыре тысячи двести семьдесят три", "104273"),
        (
            "one hundred four thousand two hundred seventy three",
            "104273",
        ),
        ("чотири тисячі, двісті", "4200"),
        ("опора 104 тисячі 273 5", "1042735"),
        ("4 тисячі 2", "4002"),
        // English
        ("one hundred and two", "102"),
        ("a hundred", "100"),
        ("seven hundred fifty five", "755"),
        ("twelve hundred thirty four", "1234"),
        ("double five", "55"),
        ("triple seven", "777"),
        ("double oh seven", "007"),
        ("nought nil zero o", "0000"),
        // digit characters, glued layer codes, look-alike letters
        ("104 273 5", "1042735"),
        ("104.273", "104273"),
        ("104273/5", "1042735"),
        ("ОП-104273-5", "1042735"),
        ("op1042735", "1042735"),
        ("1О4273", "104273"),
        ("1O4273", "104273"),
        ("1l4273", "114273"),
        ("1|4273", "114273"),
        ("1042З5", "104235"),
        ("10427Б", "104276"),
        // spellings
        ("пять", "5"),
        ("п'ять", "5"),
        ("пʼять", "5"),
        ("П’ЯТЬ", "5"),
        ("дві", "2"),
        ("две", "2"),
        ("сто о два", "10002"),
        ("о сорок два", "042"),
        ("ну ем це там біля номер 5", "5"),
        ("", ""),
        (" ,.;—№#() «»", ""),
    ];

    #[test]
    fn digits_as_said() {
        for (q, want) in SAID {
            assert_eq!(hear(q).digits, digits(want), "{q}");
        }
    }

    #[test]
    fn words_beside_the_digits() {
        let cases: &[(&str, &[&str])] = &[
            ("люк нуль сорок два", &["люк"]),
            (
                "на опорі номер сто чотири двісті сімдесят три п'ять",
                &["опорі"],
            ),
            ("pole one oh four two seven three five", &["pole"]),
            ("ОП-104273-5", &["оп"]),
            ("op1042735", &["op"]),
            ("ОП104273", &["оп"]),
            ("опора/104273", &["опора"]),
            ("Соборний 45", &["соборний"]),
            ("люку сім, камери три, pole", &["люку", "камери", "pole"]),
            ("Ёлочная", &["елочная"]),
            ("Кам'янська", &["камянська"]),
            ("ends in 42", &["in"]),
        ];
        for (q, want) in cases {
            assert_eq!(hear(q).words, *want, "{q}");
        }
    }

    #[test]
    fn spoken_only_with_number_words() {
        assert!(hear("опора 104 двісті").spoken);
        assert!(hear("сім").spoken);
        let h = hear("104273");
        assert!(!h.spoken && !h.suffix && h.words.is_empty() && h.mixed.is_empty());
    }

    #[test]
    fn house_numbers_are_mixed() {
        let cases: &[(&str, &[&str])] = &[
            ("вул. Перемоги 12б", &["12б"]),
            ("Перемоги 45А", &["45а"]),
            ("Шевченка 12/2", &["12/2"]),
            ("12а/3", &["12а/3"]),
            ("опора 104ж73", &["104ж73"]),
        ];
        for (q, want) in cases {
            let h = hear(q);
            assert_eq!(h.mixed, *want, "{q}");
            assert!(h.digits.is_empty(), "{q}");
        }
        assert_eq!(hear("вул. Перемоги 12б").words, ["вул", "перемоги"]);
        assert!(hear("1О4273").mixed.is_empty());
    }

    #[test]
    fn last_digits() {
        let given = [
            "останні цифри 4273",
            "last digits 4273",
            "…4273",
            "*4273",
            "...4273",
            "..4273",
        ];
        for q in given {
            let h = hear(q);
            assert!(h.suffix, "{q}");
            assert_eq!(h.digits, digits("4273"), "{q}");
            assert!(h.words.is_empty(), "{q}");
        }
        assert!(hear("опора …4273").suffix);
        assert!(hear("закінчується на сорок два").suffix);
        // an ellipsis after a word or inside the digits is a pause
        assert!(!hear("опора... 104273").suffix);
        assert!(!hear("104…273").suffix);
    }

    #[test]
    fn filler_words() {
        for w in [
            "номер",
            "Номером",
            "біля",
            "возле",
            "the",
            "number",
            "еее",
            "ем",
            "мм",
            "цифри",
        ] {
            assert!(is_filler(w), "{w}");
        }
        for w in ["опора", "люк", "pole", "соборний", "сто"] {
            assert!(!is_filler(w), "{w}");
        }
    }

    #[test]
    fn spelled() {
        let d = digits("755623");
        let pairs = "сімдесят п'ять, п'ятдесят шість, двадцять три";
        assert_eq!(spell(&d, Lang::Uk, Grouping::Pairs), pairs);
        assert_eq!(
            spell(&d, Lang::Uk, Grouping::Digits),
            "сім п'ять п'ять шість два три"
        );
        let ru = "семьсот пятьдесят пять, шестьсот двадцать три";
        assert_eq!(spell(&d, Lang::Ru, Grouping::Triples), ru);
        let en = "seven hundred fifty five, six hundred twenty three";
        assert_eq!(spell(&d, Lang::En, Grouping::Triples), en);
        assert_eq!(
            spell(&digits("042"), Lang::Uk, Grouping::Triples),
            "нуль сорок два"
        );
        assert_eq!(
            spell(&digits("0070"), Lang::En, Grouping::Pairs),
            "zero zero, seventy"
        );
        assert_eq!(
            spell(&digits("1007"), Lang::Ru, Grouping::Triples),
            "сто, семь"
        );
        assert_eq!(spell(&[], Lang::Uk, Grouping::Pairs), "");
    }

    fn round_trip(d: &[u8]) {
        for lang in [Lang::Uk, Lang::Ru, Lang::En] {
            for grouping in [Grouping::Digits, Grouping::Pairs, Grouping::Triples] {
                let said = spell(d, lang, grouping);
                assert_eq!(hear(&said).digits, d, "{lang:?} {grouping:?}: {said}");
            }
        }
    }

    #[test]
    fn spell_round_trips_every_short_number() {
        for width in 1..=3 {
            for n in 0..10usize.pow(width) {
                round_trip(&digits(&format!("{n:0w$}", w = width as usize)));
            }
        }
    }

    #[test]
    fn spell_round_trips_long_numbers() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            u8::try_from((seed >> 33) % 10).unwrap_or(0)
        };
        for i in 0..400 {
            let len = if i < 300 { 7 } else { 4 + i % 6 };
            let d: Vec<u8> = (0..len).map(|_| next()).collect();
            round_trip(&d);
        }
    }
}
