//! Fuzzing with property tests on stable Rust: the importers (CSV, GeoJSON, OSM PBF, OFDS), the
//! resolver's query parser and the tile coordinate parser get arbitrary input and mutations of
//! real input, and must answer with `Ok` or a precise error — never a panic.
//!
//! The default case counts keep `cargo test` quick. `PROPTEST_CASES=N` sets every target's count
//! for a long run; `PROPTEST_RNG_SEED=N` repeats a run. A failure prints the smallest input that
//! still fails. Coverage-guided fuzzing of the same targets is in `fuzz/` (cargo-fuzz).

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value as Json;

use citytwin::import::{self, Format, ImportError, Mapping, Options, Parsed};
use citytwin::model::{Geometry, LayerId, Layers, Object, Source, Status};
use citytwin::numbering::Number;
use citytwin::resolve::{ResolveQuery, resolve};
use citytwin::tiles::TileId;
use citytwin::twin::Twin;

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

/// `default_cases` unless `PROPTEST_CASES` is set. No failure files: a failure found here
/// becomes a plain regression test next to the code it fixes.
fn config(default_cases: u32) -> Config {
    let mut c = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = default_cases;
    }
    c
}

fn check<S>(default_cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let config = config(default_cases);
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let started = std::time::Instant::now();
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
    // What the cases came to (seen with `--nocapture`): a target whose inputs all fail early
    // tests little.
    let [ok, errors, drafts, rejects] = OUTCOMES.with(|c| c.replace([0; 4]));
    let name = std::thread::current().name().unwrap_or("?").to_string();
    print!(
        "{name}: {cases} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if ok + errors > 0 {
        print!("; imports: {ok} Ok ({drafts} objects, {rejects} rejects), {errors} errors");
    }
    println!();
}

thread_local! {
    /// Import outcomes of this test: Ok, errors, objects, rejects.
    static OUTCOMES: std::cell::Cell<[u64; 4]> = const { std::cell::Cell::new([0; 4]) };
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

// ---------------------------------------------------------------------------------------------
// Importers: running one input and checking the outcome
// ---------------------------------------------------------------------------------------------

/// The name every input is written under (with the format's extension): errors must name it.
const STEM: &str = "fuzz-input";

fn ext(format: Format) -> &'static str {
    match format {
        Format::Csv => "csv",
        Format::Geojson => "geojson",
        Format::Osm => "osm.pbf",
        Format::Ofds => "ofds.json",
        Format::Gpkg => "gpkg",
    }
}

/// Writes `bytes` to a file in `dir` and imports it.
fn import_bytes(
    dir: &Path,
    format: Format,
    bytes: &[u8],
    opts: &Options,
) -> (PathBuf, Result<Parsed, ImportError>) {
    let path = dir.join(format!("{STEM}.{}", ext(format)));
    std::fs::write(&path, bytes).expect("write the input file");
    let r = import::parse_file(&path, format, layers(), opts);
    (path, r)
}

fn layers() -> &'static Layers {
    static L: OnceLock<Layers> = OnceLock::new();
    L.get_or_init(Layers::default_city)
}

fn layer(name: &str) -> Option<LayerId> {
    layers().by_name(name)
}

#[path = "../fuzz/src/outcome.rs"]
mod outcome;

/// The invariants of an import's outcome, beyond "it did not panic" ([`outcome::violation`]),
/// and the tally of outcomes.
fn check_import(
    format: Format,
    path: &Path,
    opts: &Options,
    result: &Result<Parsed, ImportError>,
) -> Result<(), TestCaseError> {
    OUTCOMES.with(|c| {
        let mut v = c.get();
        match result {
            Ok(p) => {
                v[0] += 1;
                v[2] += p.drafts.len() as u64;
                v[3] += p.rejects.len() as u64;
            }
            Err(_) => v[1] += 1,
        }
        c.set(v);
    });
    match outcome::violation(layers(), format, path, opts, result) {
        Some(v) => Err(TestCaseError::fail(v)),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds: real inputs with the options they import with
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Seed {
    name: String,
    format: Format,
    bytes: Vec<u8>,
    opts: Options,
}

fn opts(layer_name: Option<&str>, mapping: Mapping) -> Options {
    Options {
        layer: layer_name.and_then(layer),
        crs: None,
        mapping,
        strict: false,
    }
}

fn mapping(toml_text: &str) -> Mapping {
    toml::from_str(toml_text).expect("a valid mapping")
}

/// The mapping the demo city imports the Kyiv shelter lists with.
const KYIV_MAPPING: &str = include_str!("../seeds/kyiv-shelters.toml");

/// The header and some lines (1-based, inclusive ranges) of a file.
fn lines_of(rel: &str, ranges: &[(usize, usize)]) -> Vec<u8> {
    let text = std::fs::read_to_string(repo(rel)).expect("read a seed");
    let lines: Vec<&str> = text.lines().collect();
    let mut out = format!("{}\n", lines[0]);
    for &(a, b) in ranges {
        for l in &lines[a - 1..b.min(lines.len())] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out.into_bytes()
}

fn seeds(format: Format) -> Vec<&'static Seed> {
    static ALL: OnceLock<Vec<Seed>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let fixture = |name: &str| std::fs::read(repo(&format!("tests/fixtures/import/{name}")));
        let mut v = Vec::new();
        let mut add = |name: &str, format: Format, bytes: Vec<u8>, opts: Options| {
            v.push(Seed {
                name: name.to_string(),
                format,
                bytes,
                opts,
            })
        };
        let f = |name: &str| fixture(name).expect("read a fixture");
        // CSV: the Kyiv shelter lists (rows with shifted columns among them) and the fixtures.
        let kyiv = || opts(Some("shelters"), mapping(KYIV_MAPPING));
        add(
            "kyiv/0.csv",
            Format::Csv,
            lines_of("data/shelters/kyiv/0.csv", &[(2, 12), (298, 306)]),
            kyiv(),
        );
        add(
            "kyiv/8.csv",
            Format::Csv,
            lines_of(
                "data/shelters/kyiv/8.csv",
                &[(150, 160), (283, 290), (368, 375)],
            ),
            kyiv(),
        );
        add(
            "comma_bom.csv",
            Format::Csv,
            f("comma_bom.csv"),
            opts(
                Some("poles"),
                mapping("number = \"Номер\"\nname = \"Назва\"\nstatus = \"Стан\""),
            ),
        );
        add(
            "bad_coords.csv",
            Format::Csv,
            f("bad_coords.csv"),
            opts(Some("trees"), Mapping::default()),
        );
        add(
            "multi_layer.csv",
            Format::Csv,
            f("multi_layer.csv"),
            opts(
                None,
                mapping(
                    "layer = \"layer\"\nnumber = \"number\"\nname = \"name\"\nstatus = \"status\"",
                ),
            ),
        );
        add(
            "citytwin_export.csv",
            Format::Csv,
            f("citytwin_export.csv"),
            opts(None, Mapping::citytwin()),
        );
        let mut utm = opts(Some("poles"), Mapping::default());
        utm.crs = Some("EPSG:32636".into());
        add("utm.csv", Format::Csv, f("utm.csv"), utm);
        for name in ["latin1.csv", "all_bad.csv", "no_coords.csv"] {
            add(
                name,
                Format::Csv,
                f(name),
                opts(Some("poles"), Mapping::default()),
            );
        }
        add(
            "unknown_layer.csv",
            Format::Csv,
            f("unknown_layer.csv"),
            opts(None, mapping("layer = \"layer\"")),
        );
        // GeoJSON.
        let odd = mapping(
            r#"
number = "Інв. номер"
name = "  НАЗВА "
status = "Стан опори"
id = "ext_id"
skip = ["junk"]
[rename]
"Висота, м" = "height_m"
"#,
        );
        add(
            "poles_odd.geojson",
            Format::Geojson,
            f("poles_odd.geojson"),
            opts(Some("poles"), odd),
        );
        add(
            "bad_features.geojson",
            Format::Geojson,
            f("bad_features.geojson"),
            opts(Some("poles"), mapping("status = \"status\"")),
        );
        add(
            "citytwin_export.geojson",
            Format::Geojson,
            f("citytwin_export.geojson"),
            opts(None, Mapping::citytwin()),
        );
        for name in ["crs_32636.geojson", "crs84.geojson", "broken.geojson"] {
            add(
                name,
                Format::Geojson,
                f(name),
                opts(Some("poles"), Mapping::default()),
            );
        }
        add(
            "sequence.geojsonl",
            Format::Geojson,
            f("sequence.geojsonl"),
            opts(None, mapping("layer = \"kind\"")),
        );
        // OFDS.
        add(
            "example_network-package.json",
            Format::Ofds,
            std::fs::read(repo("data/fibre/example_network-package.json")).unwrap(),
            opts(None, Mapping::default()),
        );
        add(
            "dangling.ofds.json",
            Format::Ofds,
            f("dangling.ofds.json"),
            opts(None, Mapping::default()),
        );
        // OSM: small files made here (the Helsinki extract is too big to mutate quickly).
        add(
            "synthetic.osm.pbf",
            Format::Osm,
            pbf::file(&pbf::sample(), false),
            opts(None, Mapping::default()),
        );
        add(
            "synthetic-zlib.osm.pbf",
            Format::Osm,
            pbf::file(&pbf::sample(), true),
            opts(None, Mapping::default()),
        );
        v
    });
    all.iter().filter(|s| s.format == format).collect()
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

/// Bytes worth inserting: structure of every format, broken UTF-8, odd whitespace.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\"\"",
    b"\n",
    b"\r\n",
    b"\r",
    b";",
    b",",
    b"\t",
    b"\xEF\xBB\xBF",
    b"\0",
    b"\x1e",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"null",
    b"\xC2\xA0",
    "№".as_bytes(),
    b"\xFF",
    b"\xC3",
    b"\xED\xA0\x80",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"NaN",
    b"-",
    b"1e400",
    b"-0",
    "сity".as_bytes(),
    "Київ".as_bytes(),
    b"99999999999999999999999",
    b".5",
    b"1,5",
    b"e",
    b"\"type\":\"Feature\",",
    b"\"geometry\":",
    b"\"coordinates\":[",
    b"\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:32636\"}},",
    b"{\"type\":\"Point\",\"coordinates\":[30.5,50.4]}",
    b"\x08OSMData",
    b"\x0a\x00",
];

/// What a number may be replaced with.
const NUMBERS: &[&str] = &[
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "",
    "-0",
    "0",
    "180",
    "180.0000001",
    "-180.5",
    "90.0000001",
    "-91",
    "1.7976931348623157e308",
    "99999999999999999999",
    "0x1F",
    "1_000",
    "١٢٣",
    "50,4507",
    "30.5 50.4",
    "  7  ",
    "\"\"",
    "null",
    "true",
    "[]",
    "{}",
    "999999999999999999999999999999999999999999999999999",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    Insert(usize, &'static [u8]),
    InsertBytes(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    CopyRange(usize, usize, usize),
    /// `n` opening brackets: nesting deeper than a parser may allow.
    Nest(usize, usize),
    SwapLines(usize, usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    ReplaceNumber(usize, &'static str),
    Delimiter(u8, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        2 => (at, 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        1 => (at, any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        2 => (at, select(TOKENS)).prop_map(|(i, t)| Mutation::Insert(i, t)),
        1 => (at, prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::InsertBytes(i, b)),
        1 => (at, 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => at.prop_map(Mutation::Truncate),
        1 => (at, 1usize..256, at)
            .prop_map(|(a, n, b)| Mutation::CopyRange(a, n, b)),
        1 => (at, 1usize..400).prop_map(|(i, n)| Mutation::Nest(i, n)),
        1 => (at, at).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => at.prop_map(Mutation::DeleteLine),
        1 => at.prop_map(Mutation::DuplicateLine),
        3 => (at, select(NUMBERS)).prop_map(|(i, n)| Mutation::ReplaceNumber(i, n)),
        1 => (select(&b";,\t"[..]), select(&b";,\t| \"\n"[..]))
            .prop_map(|(a, b)| Mutation::Delimiter(a, b)),
    ]
}

/// Byte ranges of the lines of `b`, each with its line end.
fn line_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < b.len() {
        out.push((start, b.len()));
    }
    out
}

/// Byte ranges of the number-like tokens of `b`.
fn number_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() || (b[i] == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            i += 1;
            while i < b.len() && (b[i].is_ascii_digit() || matches!(b[i], b'.' | b'e' | b'E')) {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

fn apply(b: &mut Vec<u8>, m: &Mutation) {
    let pos = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    let len = b.len();
    match m {
        Mutation::FlipBit(i, bit) if len > 0 => b[pos(*i, len)] ^= 1 << bit,
        Mutation::SetByte(i, v) if len > 0 => b[pos(*i, len)] = *v,
        Mutation::FlipBit(..) | Mutation::SetByte(..) => {}
        Mutation::Insert(i, t) => {
            let at = pos(*i, len + 1);
            b.splice(at..at, t.iter().copied());
        }
        Mutation::InsertBytes(i, t) => {
            let at = pos(*i, len + 1);
            b.splice(at..at, t.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let at = pos(*i, len + 1);
            b.drain(at..(at + n).min(len));
        }
        Mutation::Truncate(i) => b.truncate(pos(*i, len + 1)),
        Mutation::CopyRange(from, n, to) => {
            let a = pos(*from, len + 1);
            let piece = b[a..(a + n).min(len)].to_vec();
            let at = pos(*to, len + 1);
            b.splice(at..at, piece);
        }
        Mutation::Nest(i, n) => {
            let at = pos(*i, len + 1);
            b.splice(at..at, std::iter::repeat_n(b'[', *n));
        }
        Mutation::SwapLines(x, y) => {
            let spans = line_spans(b);
            if spans.len() >= 2 {
                let (x, y) = (pos(*x, spans.len()), pos(*y, spans.len()));
                let mut lines: Vec<Vec<u8>> =
                    spans.iter().map(|&(s, e)| b[s..e].to_vec()).collect();
                lines.swap(x, y);
                *b = lines.concat();
            }
        }
        Mutation::DeleteLine(x) => {
            let spans = line_spans(b);
            if !spans.is_empty() {
                let (s, e) = spans[pos(*x, spans.len())];
                b.drain(s..e);
            }
        }
        Mutation::DuplicateLine(x) => {
            let spans = line_spans(b);
            if !spans.is_empty() {
                let (s, e) = spans[pos(*x, spans.len())];
                let line = b[s..e].to_vec();
                b.splice(e..e, line);
            }
        }
        Mutation::ReplaceNumber(k, n) => {
            let spans = number_spans(b);
            if !spans.is_empty() {
                let (s, e) = spans[pos(*k, spans.len())];
                b.splice(s..e, n.bytes());
            }
        }
        Mutation::Delimiter(from, to) => {
            for c in b.iter_mut() {
                if c == from {
                    *c = *to;
                }
            }
        }
    }
}

/// A structured change to a JSON document, at the `k`-th node in document order.
#[derive(Debug, Clone)]
enum JsonEdit {
    Replace(usize, usize),
    Remove(usize),
    Duplicate(usize),
    RenameKey(usize, &'static str),
}

/// Replacement values. The string `"\u0001HUGE"` stands for `1e400`, which a JSON value
/// cannot hold: it is replaced in the text.
const JSON_VALUES: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1.5",
    "180.0000001",
    "-90.5",
    "1e308",
    "-1e308",
    "18446744073709551615",
    "-9223372036854775808",
    "1e-320",
    "\"\"",
    "\"  \"",
    "\"x\"",
    "\"ОП-000017-3\"",
    "\"operational\"",
    "\"Feature\"",
    "\"FeatureCollection\"",
    "\"Point\"",
    "\"LineString\"",
    "\"MultiPoint\"",
    "\"MultiLineString\"",
    "\"Polygon\"",
    "\"GeometryCollection\"",
    "\"poles\"",
    "\" Streets \"",
    "\"lamps\"",
    "\"wobbly\"",
    "\"EPSG:3857\"",
    "\"urn:ogc:def:crs:EPSG::32636\"",
    "\"{\\\"a\\\":1}\"",
    "\"[1,2]\"",
    "\"1e400\"",
    "\"\\u0001HUGE\"",
    "[]",
    "{}",
    "[1]",
    "[30.5,50.4]",
    "[30.5,50.4,100]",
    "[\"30.5\",\"50.4\"]",
    "[\"\\u0001HUGE\",50.4]",
    "[[30.5,50.4],[30.6,50.5]]",
    "[[30.5,50.4]]",
    "[[[30.5,50.4],[30.6,50.5]]]",
    "[[30.5,50.4],[30.5,50.4],[200,50]]",
    "{\"type\":\"Point\",\"coordinates\":[30.5,50.4]}",
    "{\"type\":\"Point\",\"coordinates\":[324182.209,5591607.608]}",
    "{\"type\":\"LineString\",\"coordinates\":[[30.5,50.4],[30.6,50.5]]}",
    "{\"type\":\"MultiLineString\",\"coordinates\":[[[30.5,50.4],[30.6,50.5]]]}",
    "{\"type\":\"Point\"}",
    "{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:32636\"}}",
    "{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:99999\"}}",
    "{\"type\":\"name\",\"properties\":{\"name\":\"OGC:CRS84\"}}",
    "{\"properties\":{\"code\":3857}}",
    "{\"name\":7}",
    "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[30.5,50.4]},\"properties\":{}}",
];

const JSON_KEYS: &[&str] = &[
    "type",
    "features",
    "geometry",
    "coordinates",
    "properties",
    "crs",
    "id",
    "networks",
    "nodes",
    "spans",
    "location",
    "route",
    "start",
    "end",
    "status",
    "name",
    "number",
    "layer",
    "kind",
    "attributes",
    "",
    " type",
    "Type",
];

fn json_values() -> &'static [Json] {
    static V: OnceLock<Vec<Json>> = OnceLock::new();
    V.get_or_init(|| {
        let mut v: Vec<Json> = JSON_VALUES
            .iter()
            .map(|t| serde_json::from_str(t).expect("a JSON value"))
            .collect();
        // Nested arrays just under and over serde_json's depth limit (128).
        for depth in [120, 200] {
            let mut n = Json::from(1);
            for _ in 0..depth {
                n = Json::Array(vec![n]);
            }
            v.push(n);
        }
        v
    })
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    let k = any::<usize>();
    prop_oneof![
        3 => (k, 0..json_values().len()).prop_map(|(k, v)| JsonEdit::Replace(k, v)),
        1 => k.prop_map(JsonEdit::Remove),
        1 => k.prop_map(JsonEdit::Duplicate),
        1 => (k, select(JSON_KEYS)).prop_map(|(k, n)| JsonEdit::RenameKey(k, n)),
    ]
}

fn node_count(v: &Json) -> usize {
    1 + match v {
        Json::Array(a) => a.iter().map(node_count).sum(),
        Json::Object(m) => m.values().map(node_count).sum(),
        _ => 0,
    }
}

/// Applies `edit` at node `k` (document order, 0 = `v` itself).
fn apply_json(v: &mut Json, k: usize, edit: &JsonEdit) {
    if k == 0 {
        if let JsonEdit::Replace(_, i) = edit {
            *v = json_values()[*i].clone();
        }
        return;
    }
    let mut k = k - 1;
    match v {
        Json::Array(items) => {
            for i in 0..items.len() {
                let n = node_count(&items[i]);
                if k < n {
                    match edit {
                        JsonEdit::Remove(_) if k == 0 => {
                            items.remove(i);
                        }
                        JsonEdit::Duplicate(_) if k == 0 => {
                            let c = items[i].clone();
                            items.insert(i, c);
                        }
                        _ => apply_json(&mut items[i], k, edit),
                    }
                    return;
                }
                k -= n;
            }
        }
        Json::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let n = node_count(&map[&key]);
                if k < n {
                    match edit {
                        JsonEdit::Remove(_) if k == 0 => {
                            map.remove(&key);
                        }
                        JsonEdit::Duplicate(_) if k == 0 => {
                            let c = map[&key].clone();
                            map.insert(format!("{key} "), c);
                        }
                        JsonEdit::RenameKey(_, to) if k == 0 => {
                            if let Some(c) = map.remove(&key) {
                                map.insert((*to).to_string(), c);
                            }
                        }
                        _ => apply_json(map.get_mut(&key).unwrap(), k, edit),
                    }
                    return;
                }
                k -= n;
            }
        }
        _ => {}
    }
}

/// A JSON seed after structured edits: each top-level document edited, written compact or
/// pretty, one per line (so sequences stay sequences).
fn edited_json(bytes: &[u8], edits: &[JsonEdit], pretty: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let docs: Vec<Json> = serde_json::Deserializer::from_str(&text)
        .into_iter::<Json>()
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    if docs.is_empty() {
        return bytes.to_vec();
    }
    let mut docs = docs;
    for e in edits {
        let (JsonEdit::Replace(k, _)
        | JsonEdit::Remove(k)
        | JsonEdit::Duplicate(k)
        | JsonEdit::RenameKey(k, _)) = e;
        let total: usize = docs.iter().map(node_count).sum();
        let mut k = k % total;
        for d in docs.iter_mut() {
            let n = node_count(d);
            if k < n {
                apply_json(d, k, e);
                break;
            }
            k -= n;
        }
    }
    let mut out = String::new();
    for d in &docs {
        let s = if pretty {
            serde_json::to_string_pretty(d)
        } else {
            serde_json::to_string(d)
        };
        out.push_str(&s.expect("serialise JSON"));
        out.push('\n');
    }
    out.replace("\"\\u0001HUGE\"", "1e400").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Importer targets
// ---------------------------------------------------------------------------------------------

/// The options an arbitrary input is imported with.
fn plain_opts(format: Format) -> Options {
    match format {
        Format::Csv | Format::Geojson => opts(Some("poles"), Mapping::default()),
        _ => opts(None, Mapping::default()),
    }
}

fn arbitrary_input(format: Format, cases: u32) {
    let dir = tempfile::tempdir().unwrap();
    let input = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        // Text: lines of any characters.
        prop::collection::vec(".{0,80}", 0..24).prop_map(|l| l.join("\n").into_bytes()),
    ];
    check(
        cases,
        (input, prop::bool::weighted(0.2)),
        |(bytes, strict)| {
            let mut o = plain_opts(format);
            o.strict = strict;
            let (path, r) = import_bytes(dir.path(), format, &bytes, &o);
            check_import(format, &path, &o, &r)
        },
    );
}

fn mutated_seeds(format: Format, cases: u32) {
    let dir = tempfile::tempdir().unwrap();
    let seeds = seeds(format);
    let json = matches!(format, Format::Geojson | Format::Ofds);
    let strategy = (
        0..seeds.len(),
        prop::collection::vec(json_edit(), 0..if json { 5 } else { 1 }),
        any::<bool>(),
        prop::collection::vec(mutation(), if json { 0..3 } else { 1..4 }),
        prop::bool::weighted(0.1),
    );
    check(cases, strategy, |(i, edits, pretty, muts, strict)| {
        let seed = seeds[i];
        let mut bytes = if !json || (edits.is_empty() && !pretty) {
            seed.bytes.clone()
        } else {
            edited_json(&seed.bytes, &edits, pretty)
        };
        for m in &muts {
            apply(&mut bytes, m);
        }
        let mut o = seed.opts.clone();
        o.strict = strict;
        let (path, r) = import_bytes(dir.path(), format, &bytes, &o);
        check_import(format, &path, &o, &r)
            .map_err(|e| TestCaseError::fail(format!("seed {}: {e}", seed.name)))
    });
}

#[test]
fn seeds_import_as_they_are() {
    // The mutations start from inputs that import: otherwise they would never get deep.
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::Csv, Format::Geojson, Format::Ofds, Format::Osm] {
        for s in seeds(format) {
            let (path, r) = import_bytes(dir.path(), format, &s.bytes, &s.opts);
            check_import(format, &path, &s.opts, &r).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            let fails = [
                "latin1.csv",
                "all_bad.csv",
                "no_coords.csv",
                "unknown_layer.csv",
                "broken.geojson",
            ];
            assert_eq!(
                r.is_err(),
                fails.contains(&s.name.as_str()),
                "{}: {r:?}",
                s.name
            );
        }
    }
    let osm = seeds(Format::Osm)[0];
    let (_, r) = import_bytes(dir.path(), Format::Osm, &osm.bytes, &osm.opts);
    let p = r.unwrap();
    let count = |name: &str| {
        p.drafts
            .iter()
            .filter(|d| Some(d.layer) == layer(name))
            .count()
    };
    assert_eq!(
        [
            "poles",
            "manholes",
            "cameras",
            "shelters",
            "wifi",
            "trees",
            "cabinets",
            "addresses",
            "streets"
        ]
        .map(count),
        [2, 1, 1, 3, 1, 1, 2, 1, 1],
        "{:#?}",
        p.drafts
    );
    assert_eq!(p.rejects.len(), 2, "{:?}", p.rejects);
}

/// Writes the seeds as cargo-fuzz corpora, `DIR/<target>/<seed>`, when
/// `CITYTWIN_FUZZ_SEEDS=DIR` is set (`fuzz/seeds` is made this way); does nothing otherwise.
#[test]
fn write_cargo_fuzz_seeds() {
    let Some(dir) = std::env::var_os("CITYTWIN_FUZZ_SEEDS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name.replace('/', "-")), bytes).unwrap();
    };
    for (format, target) in [
        (Format::Csv, "csv_import"),
        (Format::Geojson, "geojson_import"),
        (Format::Ofds, "ofds_import"),
        (Format::Osm, "osm_import"),
    ] {
        for s in seeds(format) {
            write(target, &s.name, &s.bytes);
        }
    }
    let queries = [
        "ОП-104273-5",
        "op 1042735",
        "№ 4273",
        "люк 00427",
        "12",
        "Л-1/2",
        "опора 10427З5",
    ];
    for (i, q) in queries.iter().enumerate() {
        let mut b = vec![5u8, i as u8];
        b.extend_from_slice(q.as_bytes());
        write("resolve_query", &format!("q{i}"), &b);
    }
    for (i, t) in ["3/7/0", "22/4194303/0", "0/0/0", "24/1/1", "1/2/0"]
        .iter()
        .enumerate()
    {
        let mut b = vec![22u8];
        b.extend_from_slice(t.as_bytes());
        write("tile_coord", &format!("t{i}"), &b);
    }
}

#[test]
fn csv_arbitrary_bytes() {
    arbitrary_input(Format::Csv, 300);
}

#[test]
fn csv_mutated_seeds() {
    mutated_seeds(Format::Csv, 600);
}

/// Values for a CSV cell whatever its column.
const CSV_CELLS: &[&str] = &[
    "30.5",
    "50.4",
    "30,5234",
    "50,4507",
    "-180",
    "180",
    "90",
    "-90.0",
    "180.1",
    "91",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "",
    "  ",
    "abc",
    "30.5 50.4",
    "\"50.4\"",
    "\"30,5\"",
    "\"a\nb\"",
    "\"",
    "poles",
    "cameras",
    "streets",
    "lamps",
    "ok",
    "broken",
    "зламана",
    "wobbly",
    "ОП-000017-3",
    "42",
    "01001",
    "true",
    "{\"a\":1}",
    "\"{\"\"h\"\":2}\"",
    "\u{a0}",
    "№7",
    ";",
    ",",
    "\t",
    "324182.209",
    "5591607.608",
    "В наявності",
];

/// A cell for a column: mostly a value that fits the column's name, sometimes any value.
fn csv_cell(column: &str) -> BoxedStrategy<String> {
    let any_cell = || select(CSV_CELLS).prop_map(String::from);
    let words = |w: &'static [&'static str]| select(w).prop_map(String::from);
    match column.trim_matches('"').to_lowercase().as_str() {
        "lon" | "lat" | "x" | "y" | "longitude" | "latitude" | "lng" | "long" | "довгота" => {
            prop_oneof![
                4 => (-89.9..89.9f64).prop_map(|v| format!("{v:.6}")),
                1 => (-89.9..89.9f64).prop_map(|v| format!("{v:.4}").replace('.', ",")),
                1 => any_cell(),
            ]
            .boxed()
        }
        "layer" => prop_oneof![
            6 => words(&["poles", "cameras", " Trees ", "", "shelters", "streets"]),
            1 => any_cell(),
        ]
        .boxed(),
        "status" | "стан" => prop_oneof![
            3 => words(&["ok", "broken", "зламана", "", "closed"]),
            1 => any_cell(),
        ]
        .boxed(),
        "attributes" => prop_oneof![
            3 => words(&["", "\"{\"\"h\"\":2,\"\"lit\"\":true}\"", "\"{}\""]),
            1 => any_cell(),
        ]
        .boxed(),
        _ => any_cell().boxed(),
    }
}

/// Random CSV files from a grammar: a header with coordinate columns (and the columns the
/// mapping names, mostly), rows of values that fit their columns (mostly), under random
/// mappings, delimiters, layers and CRSs.
#[test]
fn csv_grammar() {
    const HEADERS: &[&str] = &[
        "name",
        "number",
        "status",
        "layer",
        "id",
        "height",
        "сity",
        "",
        "  ",
        "\"a;b\"",
        "\"a,b\"",
        "Номер",
        "Стан",
        "attributes",
        "lit",
        "ramp",
        "lon",
        "x",
    ];
    const COORDS: &[(&str, &str)] = &[
        ("lon", "lat"),
        ("x", "y"),
        ("Longitude", "LATITUDE"),
        ("lng", "lat"),
        ("довгота", "lat"),
        ("\"lon\"", "\"lat\""),
        ("long", "latitude"),
    ];
    const MAPPINGS: &[&str] = &[
        "",
        "",
        "layer = \"layer\"",
        "number = \"number\"\nstatus = \"status\"\nid = \"id\"\nname = \"name\"",
        "lon = \"x\"\nlat = \"y\"",
        "lon = \"довгота\"\nlat = \"lat\"\nattributes = \"attributes\"",
        "text = [\"number\"]\n[bools.ramp]\ntrue = [\"В наявності\"]\nfalse = [\"ні\"]",
        "skip = [\"name\", \"lon\"]\n[rename]\nheight = \"name\"",
        "delimiter = \";\"",
        "status = \"Стан\"\nnumber = \"Номер\"",
    ];
    const LAYERS: &[Option<&str>] = &[
        Some("poles"),
        Some("poles"),
        Some("streets"),
        Some("shelters"),
        None,
    ];
    const CRSS: &[Option<&str>] = &[
        None,
        None,
        None,
        None,
        Some("EPSG:32636"),
        Some("EPSG:99999"),
    ];
    let header = (
        prop::collection::vec(select(HEADERS), 0..6),
        select(COORDS),
        any::<Index>(),
        any::<Index>(),
        select(MAPPINGS),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(mut header, (lon, lat), i, j, map, add_mapped)| {
            header.insert(i.index(header.len() + 1), lon);
            header.insert(j.index(header.len() + 1), lat);
            let m = mapping(map);
            let mapped = [
                &m.number,
                &m.name,
                &m.status,
                &m.id,
                &m.lon,
                &m.lat,
                &m.layer,
                &m.attributes,
            ];
            let mut header: Vec<String> = header.into_iter().map(String::from).collect();
            for f in mapped.into_iter().flatten() {
                if add_mapped && !header.contains(f) {
                    header.push(f.clone());
                }
            }
            (header, map)
        });
    // Rows of cells for the header's columns, now and then one short or one long.
    let file = header.prop_flat_map(|(header, map)| {
        let row = (
            header.iter().map(|h| csv_cell(h)).collect::<Vec<_>>(),
            prop_oneof![8 => Just(0u8), 1 => Just(1), 1 => Just(2)],
            select(CSV_CELLS),
        )
            .prop_map(|(mut cells, change, extra)| {
                match change {
                    1 => {
                        cells.pop();
                    }
                    2 => cells.push(extra.to_string()),
                    _ => {}
                }
                cells
            });
        (Just(header), prop::collection::vec(row, 0..12), Just(map))
    });
    let dir = tempfile::tempdir().unwrap();
    let strategy = (
        file,
        select(&b";,\t"[..]),
        select(LAYERS),
        select(CRSS),
        prop_oneof![19 => Just(None), 1 => any::<char>().prop_map(Some)],
        prop::bool::weighted(0.1),
    );
    check(
        800,
        strategy,
        |((header, rows, map), delim, layer_name, crs, delimiter, strict)| {
            let d = (delim as char).to_string();
            let mut text = header.join(&d);
            for r in &rows {
                text.push('\n');
                text.push_str(&r.join(&d));
            }
            let mut o = opts(layer_name, mapping(map));
            o.crs = crs.map(String::from);
            o.strict = strict;
            if delimiter.is_some() {
                o.mapping.delimiter = delimiter;
            }
            let (path, r) = import_bytes(dir.path(), Format::Csv, text.as_bytes(), &o);
            check_import(Format::Csv, &path, &o, &r)
        },
    );
}

#[test]
fn geojson_arbitrary_bytes() {
    arbitrary_input(Format::Geojson, 300);
}

#[test]
fn geojson_mutated_seeds() {
    mutated_seeds(Format::Geojson, 1500);
}

#[test]
fn ofds_arbitrary_bytes() {
    arbitrary_input(Format::Ofds, 300);
}

#[test]
fn ofds_mutated_seeds() {
    mutated_seeds(Format::Ofds, 800);
}

#[test]
fn osm_arbitrary_bytes() {
    arbitrary_input(Format::Osm, 300);
}

#[test]
fn osm_mutated_seeds() {
    mutated_seeds(Format::Osm, 1000);
}

/// Random OSM PBF files from a model: ids, coordinates, offsets and granularity anywhere in
/// their types' ranges, tags that put elements in layers, ways with missing nodes.
#[test]
fn osm_structured() {
    const TAGS: &[(&str, &str)] = &[
        ("highway", "street_lamp"),
        ("highway", "residential"),
        ("man_made", "manhole"),
        ("manhole", "sewer"),
        ("man_made", "surveillance"),
        ("man_made", "street_cabinet"),
        ("amenity", "shelter"),
        ("shelter_type", "picnic_shelter"),
        ("shelter_type", "bomb_shelter"),
        ("building", "bunker"),
        ("internet_access", "wlan"),
        ("natural", "tree"),
        ("addr:housenumber", "13"),
        ("addr:street", "Хрещатик"),
        ("ref", "ОП-17"),
        ("ref", " "),
        ("name", ""),
        ("", ""),
    ];
    let int = || prop_oneof![19 => -1000i64..1000, 1 => any::<i64>()];
    let coord = || prop_oneof![19 => -1_800_000_000i64..1_800_000_000, 1 => any::<i64>()];
    let tags = || prop::collection::vec(select(TAGS), 0..4);
    let node = (int(), coord(), coord(), tags()).prop_map(|(id, lat, lon, tags)| pbf::Node {
        id,
        lat,
        lon,
        tags,
    });
    let way = (int(), prop::collection::vec(int(), 0..6), tags())
        .prop_map(|(id, refs, tags)| pbf::Way { id, refs, tags });
    let block = (
        prop::collection::vec(node.clone(), 0..10),
        prop::collection::vec(node, 0..4),
        prop::collection::vec(way, 0..5),
        prop_oneof![9 => Just(None), 1 => any::<i32>().prop_map(Some)],
        prop_oneof![9 => Just(0i64), 1 => any::<i64>()],
        prop_oneof![9 => Just(0i64), 1 => any::<i64>()],
    )
        .prop_map(
            |(dense, plain, ways, granularity, lat_offset, lon_offset)| pbf::Block {
                dense,
                plain,
                ways,
                granularity,
                lat_offset,
                lon_offset,
            },
        );
    let dir = tempfile::tempdir().unwrap();
    check(600, (block, any::<bool>()), |(block, zlib)| {
        let o = opts(None, Mapping::default());
        let (path, r) = import_bytes(dir.path(), Format::Osm, &pbf::file(&block, zlib), &o);
        check_import(Format::Osm, &path, &o, &r)
    });
}

// ---------------------------------------------------------------------------------------------
// The resolver's query parser
// ---------------------------------------------------------------------------------------------

fn object(id: u64, layer: LayerId, at: [f64; 2], number: Option<Number>) -> Object {
    Object {
        id,
        layer,
        number,
        geometry: Geometry::Point(at),
        status: Status::Ok,
        status_changed: 0,
        attributes: Default::default(),
        source: Source::default(),
        created: 0,
        updated: 0,
    }
}

/// A small city: numbered objects on every numbered layer, some with source numbers only,
/// addresses and a street.
fn small_twin() -> &'static Twin {
    static T: OnceLock<Twin> = OnceLock::new();
    T.get_or_init(|| {
        let l = Layers::default_city();
        let numbered: Vec<LayerId> = l.ids().filter(|&i| l.def(i).numbered).collect();
        let mut objects = Vec::new();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for id in 1..=300u64 {
            let layer = numbered[(next() % numbered.len() as u64) as usize];
            let at = [
                30.4 + (next() % 2000) as f64 * 1e-4,
                50.35 + (next() % 2000) as f64 * 1e-4,
            ];
            let mut o = object(
                id,
                layer,
                at,
                Some(Number::scheme((next() % 1_000_000) as u32, 6)),
            );
            if l.def(layer).geometry == citytwin::model::GeometryKind::Line {
                o.geometry = Geometry::Line(vec![at, [at[0] + 1e-3, at[1] + 1e-3]]);
            }
            objects.push(o);
        }
        let poles = l.by_name("poles").unwrap();
        for (i, s) in ["12", "ОП-17", "A 7", "№5", "Л-1/2", "1042735"]
            .iter()
            .enumerate()
        {
            objects.push(object(
                400 + i as u64,
                poles,
                [30.5 + i as f64 * 1e-3, 50.45],
                Some(Number::Source((*s).into())),
            ));
        }
        let addresses = l.by_name("addresses").unwrap();
        for i in 0..50u64 {
            let mut o = object(
                500 + i,
                addresses,
                [30.4 + i as f64 * 4e-3, 50.35 + i as f64 * 4e-3],
                None,
            );
            o.attributes.set(
                "addr:housenumber",
                citytwin::model::Value::text(format!("{}", i + 1)),
            );
            o.attributes
                .set("addr:street", citytwin::model::Value::text("Хрещатик"));
            objects.push(o);
        }
        Twin::build(l, 6, objects)
    })
}

/// Characters people and recognisers put in a number as heard.
const QUERY_CHARS: &[char] = &[
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '1', '2', '3', '4', '5', '6', '7', '8',
    '9', 'О', 'П', 'Л', 'К', 'М', 'У', 'В', 'Ф', 'Д', 'Р', 'Ш', 'о', 'п', 'л', 'к', 'З', 'з', 'Б',
    'б', 'І', 'і', 'O', 'P', 'o', 'p', 'l', 'I', 'i', '|', 'X', '-', '–', '—', '№', '#', '.', '/',
    '_', ',', ':', ' ', '\t', '\n', '\u{a0}', '\0', '\u{7}', '\u{1b}', '\u{202e}', '\u{301}',
    '\u{feff}', 'İ', 'ß', 'ﬀ', '٣', '𝟙', '🚒', '\u{ffff}', 'Ǆ',
];

fn query() -> impl Strategy<Value = String> {
    // The number of an object of the small city, written one way or another, with up to
    // three characters inserted, removed or changed.
    let number = (
        any::<Index>(),
        0u8..8,
        prop::collection::vec((any::<Index>(), select(QUERY_CHARS), 0u8..3), 0..3),
    )
        .prop_map(|(pick, how, edits)| {
            let twin = small_twin();
            let numbered: Vec<&Object> = twin.objects().filter(|o| o.number.is_some()).collect();
            let o = numbered[pick.index(numbered.len())];
            let def = twin.layers().def(o.layer);
            let written = spell(o.number.as_ref().unwrap(), def, twin.serial_width(), how);
            let mut chars: Vec<char> = written.chars().collect();
            for (at, c, op) in edits {
                let i = at.index(chars.len() + 1);
                match op {
                    0 => chars.insert(i, c),
                    1 if i < chars.len() => {
                        chars.remove(i);
                    }
                    _ if i < chars.len() => chars[i] = c,
                    _ => {}
                }
            }
            chars.into_iter().collect::<String>()
        });
    prop_oneof![
        6 => number,
        1 => any::<String>(),
        1 => "[0-9]{0,12}",
        1 => "(№|#)? ?(ОП|OP|оп|op|ЛК|LK|КМ|XX|Опора|опора|люк|pole|Колодязь)?[ -]?[0-9OoОоIlіЗБ|]{0,10}[ -]?[0-9]?",
        1 => prop::collection::vec(select(QUERY_CHARS), 0..30)
            .prop_map(|c| c.into_iter().collect()),
        1 => "[0-9ОП№ -]{90,400}",
        1 => "\\PC{0,200}",
    ]
}

#[test]
fn resolve_any_query() {
    let twin = small_twin();
    let near = prop_oneof![
        4 => Just(None),
        4 => (30.4..30.6f64, 50.35..50.55f64).prop_map(|(a, b)| Some([a, b])),
        1 => (any::<f64>(), any::<f64>()).prop_map(|(a, b)| Some([a, b])),
    ];
    let radius = prop_oneof![8 => Just(2000.0), 1 => any::<f64>(), 1 => 0.0..200_000.0f64];
    let limit = prop_oneof![8 => Just(5usize), 2 => 0usize..30, 1 => any::<usize>()];
    let filter = prop::collection::vec(0u16..14, 0..3);
    // Answers with candidates, answers without, refusals.
    let seen = std::cell::Cell::new([0u32; 3]);
    let count = |i: usize| {
        let mut v = seen.get();
        v[i] += 1;
        seen.set(v);
    };
    check(
        3000,
        (query(), near, radius, limit, filter),
        |(q, near, radius_m, limit, filter)| {
            let rq = ResolveQuery {
                q: q.clone(),
                near,
                radius_m,
                layers: filter.clone(),
                visible: citytwin::access::Visible::all(twin.layers()),
                limit,
                streets: None,
            };
            match resolve(twin, &rq) {
                Ok(r) => {
                    count(usize::from(r.candidates.is_empty()));
                    prop_assert_eq!(&r.query, &q);
                    prop_assert!(r.candidates.len() <= limit);
                    for c in &r.candidates {
                        prop_assert!(
                            c.confidence.is_finite() && (0.0..=1.0).contains(&c.confidence),
                            "{c:?}"
                        );
                        prop_assert!(
                            filter.is_empty()
                                || filter.iter().any(|&l| twin
                                    .layers()
                                    .get(l)
                                    .is_some_and(|d| d.name == c.layer)),
                            "{c:?} is not in the layers asked for"
                        );
                        prop_assert!(!c.rule.is_empty() && !c.number.is_empty(), "{c:?}");
                    }
                }
                Err(e) => {
                    count(2);
                    prop_assert!(!e.reason.is_empty());
                    match e.field {
                        "q" => {}
                        "limit" => prop_assert!(!(1..=20).contains(&limit), "{e}"),
                        "radius_m" => prop_assert!(
                            !(radius_m.is_finite() && radius_m > 0.0 && radius_m <= 100_000.0),
                            "{e}"
                        ),
                        "near" => prop_assert!(near.is_some(), "{e}"),
                        other => prop_assert!(false, "unexpected field {other}: {e}"),
                    }
                }
            }
            Ok(())
        },
    );
    let [found, none, refused] = seen.get();
    println!("resolve: {found} with candidates, {none} without, {refused} refused");
}

/// Ways of writing or saying the same number.
fn spell(n: &Number, def: &citytwin::model::LayerDef, width: u8, how: u8) -> String {
    let shown = n.display(def, width);
    let latin = n.latin(def, width);
    let digits: String = n
        .digits(width)
        .iter()
        .map(|d| char::from(b'0' + d))
        .collect();
    match how {
        0 => shown,
        1 => latin,
        2 => shown.replace('-', ""),
        3 => shown.to_lowercase(),
        4 => format!("№ {}", shown.replace('-', " ")),
        5 => digits,
        6 => latin.to_lowercase().replace('-', " "),
        _ => shown.replace('-', "–"),
    }
}

/// A random small city whose serials are all different, at a width of 4 to 6 digits.
fn random_city() -> impl Strategy<Value = (u8, Vec<(u32, Index, f64, f64)>)> {
    (4u8..=6).prop_flat_map(|width| {
        let space = 10u32.pow(u32::from(width));
        (
            Just(width),
            prop::collection::vec(
                (0..space, any::<Index>(), 30.3..30.7f64, 50.3..50.6f64),
                1..15,
            )
            .prop_map(|mut v| {
                v.sort_by_key(|o| o.0);
                v.dedup_by_key(|o| o.0);
                v
            }),
        )
    })
}

fn build_city(width: u8, spec: &[(u32, Index, f64, f64)]) -> Twin {
    let l = Layers::default_city();
    let numbered: Vec<LayerId> = l
        .ids()
        .filter(|&i| l.def(i).numbered && l.def(i).geometry == citytwin::model::GeometryKind::Point)
        .collect();
    let objects = spec
        .iter()
        .enumerate()
        .map(|(i, (serial, layer, lon, lat))| {
            object(
                i as u64 + 1,
                numbered[layer.index(numbered.len())],
                [*lon, *lat],
                Some(Number::scheme(*serial, width)),
            )
        })
        .collect();
    Twin::build(l, width, objects)
}

#[test]
fn exact_number_resolves_first() {
    check(
        300,
        (random_city(), any::<Index>(), 0u8..8, any::<bool>()),
        |((width, spec), pick, how, near_it)| {
            let twin = build_city(width, &spec);
            let o = twin.get(pick.index(spec.len()) as u64 + 1).unwrap();
            let def = twin.layers().def(o.layer);
            let n = o.number.as_ref().unwrap();
            let q = spell(n, def, width, how);
            let rq = ResolveQuery {
                q: q.clone(),
                near: near_it.then(|| o.geometry.anchor()),
                radius_m: 2000.0,
                layers: Vec::new(),
                visible: citytwin::access::Visible::all(twin.layers()),
                limit: 5,
                streets: None,
            };
            let r = resolve(&twin, &rq).map_err(|e| TestCaseError::fail(format!("{q:?}: {e}")))?;
            let first = r.candidates.first();
            prop_assert!(first.is_some(), "{q:?}: no candidates");
            let first = first.unwrap();
            prop_assert_eq!(&first.number, &n.display(def, width), "{:?}: {:?}", q, r);
            prop_assert_eq!(first.rule.as_str(), "exact");
            prop_assert_eq!(r.check_digit_ok, Some(true));
            prop_assert!(!r.ambiguous, "{q:?}: {r:?}");
            Ok(())
        },
    );
}

/// One mistake of the kinds the resolver knows: the object meant is among the candidates.
#[test]
fn one_mistake_still_finds_the_object() {
    check(
        300,
        (
            random_city(),
            any::<Index>(),
            0u8..5,
            any::<Index>(),
            0u8..10,
        ),
        |((width, spec), pick, mistake, at, digit)| {
            let twin = build_city(width, &spec);
            let o = twin.get(pick.index(spec.len()) as u64 + 1).unwrap();
            let def = twin.layers().def(o.layer);
            let n = o.number.as_ref().unwrap();
            let mut d = n.digits(width);
            let i = at.index(d.len());
            match mistake {
                0 => d[i] = (d[i] + 1 + digit % 9) % 10,
                1 => {
                    let j = i.min(d.len() - 2);
                    d.swap(j, j + 1);
                }
                2 => {
                    d.remove(i);
                }
                3 => {
                    d.pop();
                }
                _ => d.insert(i, digit),
            }
            let q = format!(
                "{}-{}",
                def.code,
                d.iter().map(|x| char::from(b'0' + x)).collect::<String>()
            );
            let rq = ResolveQuery {
                q: q.clone(),
                near: None,
                radius_m: 2000.0,
                layers: Vec::new(),
                visible: citytwin::access::Visible::all(twin.layers()),
                limit: 20,
                streets: None,
            };
            let r = resolve(&twin, &rq).map_err(|e| TestCaseError::fail(format!("{q:?}: {e}")))?;
            let want = n.display(def, width);
            prop_assert!(
                r.candidates.iter().any(|c| c.number == want),
                "{q:?} (mistake {mistake}) does not lead to {want}: {r:?}"
            );
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The tile coordinate parser
// ---------------------------------------------------------------------------------------------

fn tile_part() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{1,14}",
        "[-+ ]?[0-9]{1,3}[. ]?[0-9]?",
        any::<u64>().prop_map(|n| n.to_string()),
        "0{0,20}[0-9]{1,3}",
        "[٠-٩０-９]{1,3}",
    ]
}

#[test]
fn tile_any_text() {
    check(
        2000,
        (tile_part(), tile_part(), tile_part(), any::<u8>()),
        |(z, x, y, max_zoom)| {
            match TileId::parse(&z, &x, &y, max_zoom) {
                Ok(t) => {
                    prop_assert!(t.z <= max_zoom);
                    prop_assert!(u64::from(t.x) < 1u64 << t.z && u64::from(t.y) < 1u64 << t.z);
                    prop_assert_eq!(z.parse::<u64>().ok(), Some(u64::from(t.z)));
                    prop_assert_eq!(x.parse::<u64>().ok(), Some(u64::from(t.x)));
                    prop_assert_eq!(y.parse::<u64>().ok(), Some(u64::from(t.y)));
                    let _ = t.side();
                    let b = t.bounds(4096, 64.0);
                    prop_assert!(b.iter().all(|v| v.is_finite()), "{t}: {b:?}");
                }
                Err(e) => {
                    prop_assert!(["z", "x", "y"].contains(&e.field()), "{e}");
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            Ok(())
        },
    );
}

/// Every tile a tile id can hold, at zooms up to `max_zoom`, parses to itself.
#[test]
fn tile_in_range_parses_to_itself() {
    let tile = (0u8..=TileId::MAX_Z).prop_flat_map(|z| {
        let side = 1u64 << z;
        (Just(z), 0..side, 0..side, z..=u8::MAX)
    });
    check(2000, (tile, "0{0,3}"), |((z, x, y, max_zoom), zeros)| {
        // Leading zeros are fine within the 12 characters a part may have.
        let mut xs = format!("{zeros}{x}");
        if xs.len() > 12 {
            xs = x.to_string();
        }
        let t = TileId::parse(&z.to_string(), &xs, &y.to_string(), max_zoom);
        prop_assert_eq!(
            t,
            Ok(TileId {
                z,
                x: x as u32,
                y: y as u32
            })
        );
        Ok(())
    });
}

/// A part out of range or not a number is refused, and the error names the first such part
/// (z, then x, then y: x and y are only checked at a valid zoom).
#[test]
fn tile_out_of_range_names_the_part() {
    // (value, whether it is wrong) for z, then x and y given z.
    let part = |limit: u64| {
        prop_oneof![
            (0..limit).prop_map(|v| (v.to_string(), false)),
            (limit..limit.saturating_mul(4).max(limit + 1)).prop_map(|v| (v.to_string(), true)),
            (limit..=u64::MAX).prop_map(|v| (v.to_string(), true)),
            "[^0-9]{1,4}|-[0-9]{1,3}|[0-9]{1,3}\\.[0-9]|".prop_map(|s| (s, true)),
        ]
    };
    let strategy = any::<u8>().prop_flat_map(move |max_zoom| {
        let zmax = u64::from(max_zoom.min(TileId::MAX_Z));
        (Just(max_zoom), part(zmax + 1)).prop_flat_map(move |(max_zoom, (z, z_bad))| {
            let side = if z_bad {
                1
            } else {
                1u64 << z.parse::<u64>().unwrap()
            };
            (Just(max_zoom), Just((z, z_bad)), part(side), part(side))
        })
    });
    check(
        2000,
        strategy,
        |(max_zoom, (z, z_bad), (x, x_bad), (y, y_bad))| {
            let r = TileId::parse(&z, &x, &y, max_zoom);
            let want = if z_bad {
                Some("z")
            } else if x_bad {
                Some("x")
            } else if y_bad {
                Some("y")
            } else {
                None
            };
            match (want, r) {
                (None, Ok(_)) => {}
                (Some(field), Err(e)) => prop_assert_eq!(e.field(), field, "{}", e),
                (want, got) => prop_assert!(
                    false,
                    "{z}/{x}/{y} at max {max_zoom}: want an error in {want:?}, got {got:?}"
                ),
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// A small OSM PBF writer (protobuf by hand: uncompressed or zlib blobs)
// ---------------------------------------------------------------------------------------------

mod pbf {
    use std::io::Write;

    #[derive(Debug, Clone)]
    pub struct Node {
        pub id: i64,
        /// In units of the block's granularity (nanodegrees × granularity).
        pub lat: i64,
        pub lon: i64,
        pub tags: Vec<(&'static str, &'static str)>,
    }

    #[derive(Debug, Clone)]
    pub struct Way {
        pub id: i64,
        pub refs: Vec<i64>,
        pub tags: Vec<(&'static str, &'static str)>,
    }

    #[derive(Debug, Clone)]
    pub struct Block {
        pub dense: Vec<Node>,
        pub plain: Vec<Node>,
        pub ways: Vec<Way>,
        /// None: the default (100 nanodegrees).
        pub granularity: Option<i32>,
        pub lat_offset: i64,
        pub lon_offset: i64,
    }

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn zigzag(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

    fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
        varint(out, u64::from(field << 3));
        varint(out, v);
    }

    fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        varint(out, u64::from(field << 3 | 2));
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    fn packed(out: &mut Vec<u8>, field: u32, vals: impl IntoIterator<Item = u64>) {
        let mut b = Vec::new();
        for v in vals {
            varint(&mut b, v);
        }
        bytes(out, field, &b);
    }

    /// Delta-coded signed values, as PBF packs ids, coordinates and way refs.
    fn deltas(vals: impl IntoIterator<Item = i64>) -> Vec<u64> {
        let mut last = 0i64;
        vals.into_iter()
            .map(|v| {
                let d = v.wrapping_sub(last);
                last = v;
                zigzag(d)
            })
            .collect()
    }

    struct Strings(Vec<&'static str>);

    impl Strings {
        fn index(&mut self, s: &'static str) -> u64 {
            let i = self.0.iter().position(|&t| t == s).unwrap_or_else(|| {
                self.0.push(s);
                self.0.len() - 1
            });
            i as u64
        }
    }

    fn primitive_block(b: &Block) -> Vec<u8> {
        let mut st = Strings(vec![""]);
        let mut groups: Vec<Vec<u8>> = Vec::new();
        if !b.dense.is_empty() {
            let mut dense = Vec::new();
            packed(&mut dense, 1, deltas(b.dense.iter().map(|n| n.id)));
            packed(&mut dense, 8, deltas(b.dense.iter().map(|n| n.lat)));
            packed(&mut dense, 9, deltas(b.dense.iter().map(|n| n.lon)));
            let mut kv = Vec::new();
            for n in &b.dense {
                for (k, v) in &n.tags {
                    kv.push(st.index(k));
                    kv.push(st.index(v));
                }
                kv.push(0);
            }
            packed(&mut dense, 10, kv);
            let mut g = Vec::new();
            bytes(&mut g, 2, &dense);
            groups.push(g);
        }
        if !b.plain.is_empty() {
            let mut g = Vec::new();
            for n in &b.plain {
                let mut m = Vec::new();
                uint(&mut m, 1, zigzag(n.id));
                let keys: Vec<u64> = n.tags.iter().map(|(k, _)| st.index(k)).collect();
                let vals: Vec<u64> = n.tags.iter().map(|(_, v)| st.index(v)).collect();
                packed(&mut m, 2, keys);
                packed(&mut m, 3, vals);
                uint(&mut m, 8, zigzag(n.lat));
                uint(&mut m, 9, zigzag(n.lon));
                bytes(&mut g, 1, &m);
            }
            groups.push(g);
        }
        if !b.ways.is_empty() {
            let mut g = Vec::new();
            for w in &b.ways {
                let mut m = Vec::new();
                uint(&mut m, 1, w.id as u64);
                let keys: Vec<u64> = w.tags.iter().map(|(k, _)| st.index(k)).collect();
                let vals: Vec<u64> = w.tags.iter().map(|(_, v)| st.index(v)).collect();
                packed(&mut m, 2, keys);
                packed(&mut m, 3, vals);
                packed(&mut m, 8, deltas(w.refs.iter().copied()));
                bytes(&mut g, 3, &m);
            }
            groups.push(g);
        }
        let mut table = Vec::new();
        for s in &st.0 {
            bytes(&mut table, 1, s.as_bytes());
        }
        let mut out = Vec::new();
        bytes(&mut out, 1, &table);
        for g in &groups {
            bytes(&mut out, 2, g);
        }
        if let Some(g) = b.granularity {
            uint(&mut out, 17, i64::from(g) as u64);
        }
        uint(&mut out, 19, b.lat_offset as u64);
        uint(&mut out, 20, b.lon_offset as u64);
        out
    }

    fn blob(out: &mut Vec<u8>, kind: &str, data: &[u8], zlib: bool) {
        let mut blob = Vec::new();
        if zlib {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(data).unwrap();
            bytes(&mut blob, 3, &z.finish().unwrap());
        } else {
            bytes(&mut blob, 1, data);
        }
        uint(&mut blob, 2, data.len() as u64);
        let mut header = Vec::new();
        bytes(&mut header, 1, kind.as_bytes());
        uint(&mut header, 3, blob.len() as u64);
        out.extend_from_slice(&(header.len() as u32).to_be_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&blob);
    }

    /// A whole file: a header block, then the data block.
    pub fn file(b: &Block, zlib: bool) -> Vec<u8> {
        let mut header_block = Vec::new();
        bytes(&mut header_block, 4, b"OsmSchema-V0.6");
        bytes(&mut header_block, 4, b"DenseNodes");
        bytes(&mut header_block, 16, b"citytwin fuzz test");
        let mut out = Vec::new();
        blob(&mut out, "OSMHeader", &header_block, zlib);
        blob(&mut out, "OSMData", &primitive_block(b), zlib);
        out
    }

    /// One element for each rule of the OSM importer, around Kyiv.
    pub fn sample() -> Block {
        let at = |i: i64| (504_500_000 + i * 1000, 305_200_000 + i * 1000);
        let node = |id: i64, tags: Vec<(&'static str, &'static str)>| {
            let (lat, lon) = at(id);
            Node { id, lat, lon, tags }
        };
        Block {
            dense: vec![
                node(1, vec![("highway", "street_lamp"), ("ref", "ОП-17")]),
                node(2, vec![("man_made", "manhole")]),
                node(
                    3,
                    vec![("man_made", "surveillance"), ("highway", "street_lamp")],
                ),
                node(
                    4,
                    vec![("amenity", "shelter"), ("shelter_type", "public_transport")],
                ),
                node(5, vec![("shelter_type", "bomb_shelter")]),
                node(6, vec![("internet_access", "wlan")]),
                node(7, vec![("natural", "tree")]),
                node(8, vec![("man_made", "street_cabinet")]),
                node(
                    9,
                    vec![("addr:housenumber", "13"), ("addr:street", "Хрещатик")],
                ),
                node(10, vec![]),
                node(11, vec![]),
                node(12, vec![]),
                node(13, vec![]),
                Node {
                    id: 14,
                    lat: 950_000_000,
                    lon: 305_200_000,
                    tags: vec![("natural", "tree")],
                },
            ],
            plain: vec![node(20, vec![("emergency", "air_raid_shelter")])],
            ways: vec![
                Way {
                    id: 100,
                    refs: vec![10, 11, 12],
                    tags: vec![("highway", "residential"), ("name", "Хрещатик")],
                },
                Way {
                    id: 101,
                    refs: vec![10, 11, 12, 10],
                    tags: vec![("building", "bunker")],
                },
                Way {
                    id: 102,
                    refs: vec![13, 999],
                    tags: vec![("highway", "service")],
                },
                Way {
                    id: 103,
                    refs: vec![12, 13],
                    tags: vec![("man_made", "street_cabinet")],
                },
            ],
            granularity: None,
            lat_offset: 0,
            lon_offset: 0,
        }
    }
}
