//! The emergency resolver end to end: `/nearest` on the Helsinki extract, checked against a
//! brute-force search over every object the objects API lists.

mod common;

use common::*;
use serde_json::Value;

fn helsinki_seed() -> String {
    repo("tests/fixtures/helsinki-seed.toml")
        .display()
        .to_string()
}

/// Great-circle metres (the test's own formula, independent of the server's).
fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, la2) = (a.1.to_radians(), b.1.to_radians());
    let dla = la2 - la1;
    let dlo = (b.0 - a.0).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

struct Item {
    number: String,
    text: Option<String>,
    at: (f64, f64),
}

fn all(server: &Server, layer: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let (s, page) = server.get(&format!("/objects?layer={layer}&limit=1000&after={after}"));
        assert_eq!(s, 200);
        let fs = page["features"].as_array().unwrap();
        for f in fs {
            let c = &f["geometry"]["coordinates"];
            let a = &f["properties"]["attributes"];
            let text = a["addr:housenumber"].as_str().map(|h| {
                match a["addr:street"].as_str().or(a["addr:place"].as_str()) {
                    Some(s) => format!("{s} {h}"),
                    None => h.to_string(),
                }
            });
            out.push(Item {
                number: f["properties"]["number"].as_str().unwrap_or("").into(),
                text,
                at: (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()),
            });
        }
        match page["next_after"].as_u64() {
            Some(n) if !fs.is_empty() => after = n,
            _ => break,
        }
    }
    out
}

#[test]
fn nearest_landmarks_and_addresses_are_the_true_nearest() {
    let dir = tempfile::tempdir().unwrap();
    // A dispatcher's console: every landmark layer, and more questions a minute than one
    // member of the public may ask.
    let mut server = Server::start(
        &dir.path().join("r.gpkg"),
        &helsinki_seed(),
        &[("CITYTWIN_LIMITS__RESOLVE_PER_MINUTE", "1000000")],
    );
    let dispatcher = token(&dir.path().join("r.gpkg"), "dispatcher");
    server.as_token(Some(&dispatcher));
    let landmark_layers = [
        "poles", "manholes", "cameras", "shelters", "wifi", "trees", "cabinets",
    ];
    let landmarks: Vec<Item> = landmark_layers
        .iter()
        .flat_map(|l| all(&server, l))
        .collect();
    let addresses: Vec<Item> = all(&server, "addresses")
        .into_iter()
        .filter(|a| a.text.is_some())
        .collect();
    assert!(landmarks.len() > 1500 && addresses.len() > 1000);
    let (lo, hi) = landmarks.iter().fold(
        ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN)),
        |(lo, hi), i| {
            (
                (lo.0.min(i.at.0), lo.1.min(i.at.1)),
                (hi.0.max(i.at.0), hi.1.max(i.at.1)),
            )
        },
    );
    let mut checked = 0;
    for gx in 0..6 {
        for gy in 0..6 {
            let at = (
                lo.0 + (hi.0 - lo.0) * (f64::from(gx) + 0.5) / 6.0,
                lo.1 + (hi.1 - lo.1) * (f64::from(gy) + 0.5) / 6.0,
            );
            let (s, r) = server.get(&format!(
                "/nearest?lat={}&lon={}&k=5&max_m=3000",
                at.1, at.0
            ));
            assert_eq!(s, 200, "{r}");
            let got = r["landmarks"].as_array().unwrap();
            let mut expected: Vec<(f64, &Item)> =
                landmarks.iter().map(|i| (metres(at, i.at), i)).collect();
            expected.sort_by(|a, b| a.0.total_cmp(&b.0));
            expected.retain(|(d, _)| *d <= 3000.0);
            expected.truncate(5);
            assert_eq!(got.len(), expected.len());
            for (g, (d, e)) in got.iter().zip(&expected) {
                let gd = g["distance_m"].as_f64().unwrap();
                // Same distance (ties may swap equal objects), to the rounding of the answer.
                assert!(
                    (gd - d).abs() < 0.2,
                    "at {at:?}: {g} vs {} at {d:.1} m",
                    e.number
                );
                if (gd - d).abs() < 0.05 && g["number"] != e.number.as_str() {
                    // A tie: both must be at that distance.
                    continue;
                }
                assert_eq!(g["number"], e.number.as_str(), "at {at:?}");
                assert!(g["status"].is_string() && g["bearing"].is_string());
                // The landmark's address is the true nearest address within 500 m.
                let here = (g["lon"].as_f64().unwrap(), g["lat"].as_f64().unwrap());
                let best = addresses
                    .iter()
                    .map(|a| (metres(here, a.at), a))
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .filter(|(d, _)| *d <= 500.0);
                match best {
                    Some((ad, a)) => {
                        let gad = g["address_distance_m"].as_f64().unwrap();
                        assert!((gad - ad).abs() < 0.2, "{g}");
                        if (gad - ad).abs() >= 0.05 {
                            assert_eq!(g["address"], a.text.as_deref().unwrap(), "{g}");
                        }
                    }
                    None => assert_eq!(g["address"], Value::Null),
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "checked {checked} landmarks");

    // Bad questions: 400 with the field at fault, never a 500.
    for (q, field) in [
        ("lat=60.17&lon=24.94&k=0", "k"),
        ("lat=60.17&lon=24.94&k=100000", "k"),
        ("lat=91&lon=24.94", "lat"),
        ("lat=60.17&lon=-181", "lon"),
        ("lat=60.17&lon=24.94&max_m=0", "max_m"),
        ("lat=60.17&lon=24.94&layers=streets", "layers"),
        ("lat=60.17&lon=24.94&layers=nope", "layers"),
    ] {
        let (s, e) = server.get(&format!("/nearest?{q}"));
        assert_eq!((s, e["field"].as_str()), (400, Some(field)), "{q}: {e}");
    }
    for q in [
        "lat=abc&lon=24.94",
        "lon=24.94",
        "lat=NaN&lon=24.94",
        "lat=60&lon=24&k=-1",
    ] {
        let (s, e) = server.get(&format!("/nearest?{q}"));
        assert_eq!(s, 400, "{q}: {e}");
        assert!(e["error"].is_string());
    }
}

/// A deterministic pseudo-random sequence (the query set must be reproducible).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

const MISHEARD: [(u8, u8); 4] = [(7, 8), (5, 9), (3, 4), (6, 7)];

#[test]
fn a_generated_query_set_resolves_with_the_promised_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let seed = repo("seeds/demo.toml").display().to_string();
    // A dispatcher's console: every landmark layer, and more questions a minute than one
    // member of the public may ask.
    let mut server = Server::start(
        &dir.path().join("q.gpkg"),
        &seed,
        &[("CITYTWIN_LIMITS__RESOLVE_PER_MINUTE", "1000000")],
    );
    let dispatcher = token(&dir.path().join("q.gpkg"), "dispatcher");
    server.as_token(Some(&dispatcher));
    // Every scheme-numbered landmark of the demo city.
    let mut objects: Vec<(String, (f64, f64))> = Vec::new();
    for layer in [
        "poles", "manholes", "cameras", "shelters", "wifi", "trees", "cabinets",
    ] {
        let mut after = 0;
        loop {
            let (_, page) = server.get(&format!("/objects?layer={layer}&limit=1000&after={after}"));
            let fs = page["features"].as_array().unwrap();
            for f in fs {
                if f["properties"]["check_digit"] == true {
                    let c = &f["geometry"]["coordinates"];
                    objects.push((
                        f["properties"]["number"].as_str().unwrap().to_string(),
                        (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()),
                    ));
                }
            }
            match page["next_after"].as_u64() {
                Some(n) if !fs.is_empty() => after = n,
                _ => break,
            }
        }
    }
    assert!(objects.len() >= 2000, "{} numbered objects", objects.len());
    let mut rng = Lcg(20261125);
    let step = objects.len() / 2000;
    let sample: Vec<&(String, (f64, f64))> =
        objects.iter().step_by(step.max(1)).take(2000).collect();
    assert_eq!(sample.len(), 2000);

    // rule → (asked, top-1, top-3), with and without `near`.
    let mut tally: std::collections::BTreeMap<String, (u32, u32, u32)> = Default::default();
    for (number, at) in sample {
        let (code, rest) = number.split_once('-').unwrap();
        let digits: Vec<u8> = rest
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        let shown = |d: &[u8]| d.iter().map(|x| char::from(b'0' + x)).collect::<String>();
        let w = digits.len() - 1;
        let mut variants: Vec<(&str, String)> = vec![
            ("exact", number.clone()),
            (
                "format",
                format!(
                    "№ {} {} {}",
                    code.to_lowercase(),
                    shown(&digits[..w]),
                    digits[w]
                ),
            ),
            (
                "latin",
                number
                    .replace("ОП", "OP")
                    .replace("ЛК", "LK")
                    .replace("КМ", "KM")
                    .replace("УК", "UK")
                    .replace("ВФ", "VF")
                    .replace("ДР", "DR")
                    .replace("ШФ", "SHF"),
            ),
            ("no_check_digit", format!("{code} {}", shown(&digits[..w]))),
        ];
        let i = rng.next(digits.len());
        let mut v = digits.clone();
        v[i] = (v[i] + 1 + rng.next(9) as u8) % 10;
        variants.push(("one_digit_wrong", format!("{code}{}", shown(&v))));
        if let Some(j) = (0..w).find(|&j| digits[j] != digits[j + 1]) {
            let mut v = digits.clone();
            v.swap(j, j + 1);
            variants.push(("swapped_digits", format!("{code}{}", shown(&v))));
        }
        let mut v = digits.clone();
        v.remove(1 + rng.next(digits.len() - 1));
        variants.push(("missing_digit", format!("{code}{}", shown(&v))));
        let mut v = digits.clone();
        v.insert(rng.next(digits.len() + 1), rng.next(10) as u8);
        variants.push(("extra_digit", format!("{code}{}", shown(&v))));
        if let Some((k, other)) = digits.iter().enumerate().find_map(|(k, d)| {
            MISHEARD
                .iter()
                .find_map(|&(a, b)| (*d == a).then_some((k, b)).or((*d == b).then_some((k, a))))
        }) {
            let mut v = digits.clone();
            v[k] = other;
            variants.push(("misheard_digit", format!("{code}{}", shown(&v))));
        }
        // The caller's area: a point about 300 m from the object.
        let near = (at.1 + 0.0027, at.0);
        for (rule, q) in variants {
            let one_error = !matches!(rule, "exact" | "format" | "latin" | "no_check_digit");
            let modes: &[bool] = if one_error { &[true, false] } else { &[false] };
            for &with_near in modes {
                let mut path = format!("/resolve?q={}&limit=3", enc(&q));
                if with_near {
                    path.push_str(&format!("&near={},{}", near.0, near.1));
                }
                let (s, r) = server.get(&path);
                assert_eq!(s, 200, "{path}: {r}");
                let got: Vec<&str> = r["candidates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["number"].as_str().unwrap())
                    .collect();
                let key = format!("{rule}{}", if with_near { " + near" } else { "" });
                let t = tally.entry(key).or_default();
                t.0 += 1;
                t.1 += u32::from(got.first() == Some(&number.as_str()));
                t.2 += u32::from(got.contains(&number.as_str()));
            }
        }
    }
    eprintln!(
        "\nresolver accuracy on {} queries from the demo city:",
        tally.values().map(|t| t.0).sum::<u32>()
    );
    eprintln!(
        "{:<28} {:>6} {:>8} {:>8}",
        "rule", "asked", "top-1", "top-3"
    );
    for (rule, (n, t1, t3)) in &tally {
        eprintln!(
            "{rule:<28} {n:>6} {:>7.2}% {:>7.2}%",
            100.0 * f64::from(*t1) / f64::from(*n),
            100.0 * f64::from(*t3) / f64::from(*n)
        );
    }
    for (rule, (n, t1, t3)) in &tally {
        let (p1, p3) = (
            f64::from(*t1) / f64::from(*n),
            f64::from(*t3) / f64::from(*n),
        );
        if matches!(rule.as_str(), "exact" | "format" | "latin") {
            assert_eq!(p1, 1.0, "{rule}: top-1 {p1}");
        }
        if rule.ends_with("+ near") {
            assert!(p1 >= 0.95 && p3 >= 0.99, "{rule}: top-1 {p1}, top-3 {p3}");
        }
    }

    // Bad questions: 400, never a 500.
    let long = "1".repeat(3_000);
    for q in ["", "---", "%F0%9F%9A%91", long.as_str(), "ОП-12a4-5"] {
        let (s, e) = server.get(&format!("/resolve?q={q}"));
        assert_eq!(s, 400, "{q}: {e}");
    }
    // A query string over the limit (4096 bytes) is refused before any handler: 414.
    let (s, e) = server.get(&format!("/resolve?q={}", "1".repeat(10_000)));
    assert_eq!(
        (s, e["code"].as_str()),
        (414, Some("query_too_long")),
        "{e}"
    );
    for extra in [
        "&near=91,0",
        "&near=abc",
        "&limit=0",
        "&limit=100000",
        "&radius_m=-1",
        "&layers=nope",
    ] {
        let (s, e) = server.get(&format!("/resolve?q=OP-104273-5{extra}"));
        assert_eq!(s, 400, "{extra}: {e}");
    }
    // A wrong check digit is said so.
    let (_, r) = server.get(&format!("/resolve?q={}", enc("ОП-000000-1")));
    assert_eq!(r["check_digit_ok"], false, "{r}");
}

#[test]
fn the_audit_finds_confusable_numbers_side_by_side() {
    use citytwin::numbering::{confusable::confusable, damm};
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("a.gpkg"), &helsinki_seed(), &[]);
    let admin = token(&dir.path().join("a.gpkg"), "admin");
    server.as_token(Some(&admin));
    let (s, before) = server.get("/audit/numbers");
    assert_eq!(s, 200, "{before}");
    let n0 = before["pairs"].as_array().unwrap().len();
    // A new pole 20 m from an existing one, painted with a number one digit (and so its check
    // digit) away from the old one's: what a careless renumbering would do.
    let poles = all(&server, "poles");
    let p = &poles[0];
    let (code, rest) = p.number.split_once('-').unwrap();
    let serial: Vec<u8> = rest
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    let serial = &serial[..serial.len() - 1];
    let shown = |d: &[u8]| d.iter().map(|x| char::from(b'0' + x)).collect::<String>();
    let mut created = None;
    for k in 1..10u8 {
        let mut s2 = serial.to_vec();
        s2[0] = (s2[0] + k) % 10;
        let number = format!("{code}-{}-{}", shown(&s2), damm::check_digit(&s2));
        let (st, body) = server.post(
            "/objects",
            &serde_json::json!({"layer": "poles", "number": number,
                "geometry": {"type": "Point", "coordinates": [p.at.0 + 0.00036, p.at.1]}}),
        );
        if st == 201 {
            created = Some((number, body));
            break;
        }
    }
    let (number, _) = created.expect("a free confusable number");
    let (s, after) = server.get("/audit/numbers?within_m=1000");
    assert_eq!(s, 200);
    let pairs = after["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), n0 + 1, "{after}");
    let pair = pairs
        .iter()
        .find(|q| q["a"]["number"] == p.number.as_str() && q["b"]["number"] == number.as_str())
        .unwrap_or_else(|| panic!("pair missing: {after}"));
    let d = pair["distance_m"].as_f64().unwrap();
    assert!((15.0..25.0).contains(&d), "{pair}");
    let suggestion = pair["suggestion"].as_str().unwrap();
    let digits_of = |n: &str| -> Vec<u8> {
        n.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect()
    };
    assert!(suggestion.starts_with(code) && suggestion != number && suggestion != p.number);
    assert!(
        !confusable(&digits_of(suggestion), &digits_of(&p.number)),
        "{suggestion}"
    );
    // Nearer than the distance only.
    let (_, near) = server.get("/audit/numbers?within_m=10");
    assert!(
        near["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["distance_m"].as_f64().unwrap() <= 10.0)
    );
    for bad in ["within_m=0", "within_m=-5", "within_m=abc", "nope=1"] {
        assert_eq!(server.get(&format!("/audit/numbers?{bad}")).0, 400, "{bad}");
    }
    // The same audit on the command line.
    let store = server.store.clone();
    let mut server = server;
    server.stop();
    let json: Value =
        serde_json::from_str(&cli_ok(&store, &["audit-numbers", "--format", "json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), n0 + 1);
    let table = cli_ok(&store, &["audit-numbers"]);
    assert!(table.contains(&number), "{table}");
}

/// The first candidate's number, rule and confidence.
fn first(r: &Value) -> (String, String, f64) {
    let c = &r["candidates"][0];
    (
        c["number"].as_str().unwrap_or_default().to_string(),
        c["rule"].as_str().unwrap_or_default().to_string(),
        c["confidence"].as_f64().unwrap_or(0.0),
    )
}

/// Numbers of the candidates, best first.
fn numbers(r: &Value) -> Vec<String> {
    r["candidates"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["number"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// How dispatchers and speech-to-text write what callers say, written out by hand for real
/// objects of the demo city (its numbering is deterministic; should it change, the first
/// assertion says which number to look up again): numbers in words in three languages,
/// layer words in any case form, misheard digits in words, two digits wrong near the caller,
/// a number being typed, only the last digits, streets and houses by current, old and renamed
/// names.
#[test]
fn a_caller_is_understood_however_the_number_or_street_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let renamings = dir.path().join("renamed.csv");
    std::fs::write(
        &renamings,
        "old,new,date\nпросп. Леніна,Mannerheimintie,2016-02-19\nвул. Суворова,Aleksanterinkatu,2016-02-19\n",
    )
    .unwrap();
    let store = dir.path().join("w.gpkg");
    let mut server = Server::start(
        &store,
        &repo("seeds/demo.toml").display().to_string(),
        &[
            ("CITYTWIN_LIMITS__RESOLVE_PER_MINUTE", "1000000"),
            (
                "CITYTWIN_CITY__STREET_RENAMINGS",
                renamings.to_str().unwrap(),
            ),
        ],
    );
    let dispatcher = token(&store, "dispatcher");
    server.as_token(Some(&dispatcher));
    let ask = |q: &str, near: Option<(f64, f64)>| {
        let mut path = format!("/resolve?q={}&limit=5", enc(q));
        if let Some((lat, lon)) = near {
            path.push_str(&format!("&near={lat},{lon}"));
        }
        let (s, r) = server.get(&path);
        assert_eq!(s, 200, "{q}: {r}");
        r
    };
    // The objects the cases below are about.
    let pole = ("ОП-484801-0", (60.169158, 24.9532233));
    let manhole = ("ЛК-845896-8", (60.1693381, 24.9396502));
    let camera = ("КМ-296960-0", (60.1694805, 24.9404145));
    for (number, (lat, lon)) in [pole, manhole, camera] {
        let r = ask(number, None);
        let c = &r["candidates"][0];
        assert!(
            c["number"] == number
                && (c["lat"].as_f64().unwrap() - lat).abs() < 1e-6
                && (c["lon"].as_f64().unwrap() - lon).abs() < 1e-6,
            "the demo city's numbering changed: look up {number} again ({r})"
        );
    }
    // About 300 m north of each: the caller's area.
    let near = |(lat, lon): (f64, f64)| Some((lat + 0.0027, lon));

    // Numbers in words, as said.
    for (said, want) in [
        (
            "опора чотириста вісімдесят чотири вісімсот один нуль",
            pole.0,
        ),
        ("опори сорок вісім, сорок вісім, нуль один, нуль", pole.0),
        ("стовп чотири вісім чотири вісім нуль один нуль", pole.0),
        (
            "столб четыреста восемьдесят четыре восемьсот один ноль",
            pole.0,
        ),
        ("pole four eight four eight oh one oh", pole.0),
        ("pole forty eight forty eight zero one zero", pole.0),
        (
            "на люку вісімсот сорок п'ять вісімсот дев'яносто шість вісім",
            manhole.0,
        ),
        (
            "люк вісім чотири п’ять вісім дев’ять шість вісім",
            manhole.0,
        ),
        (
            "номер люка восемьсот сорок пять восемьсот девяносто шесть восемь",
            manhole.0,
        ),
        (
            "камера двісті дев'яносто шість дев'ятсот шістдесят нуль",
            camera.0,
        ),
        (
            "камери двадцять дев'ять, шістдесят дев'ять, шістдесят, нуль",
            camera.0,
        ),
        ("camera two nine six nine six oh oh", camera.0),
    ] {
        let r = ask(said, None);
        let (n, rule, conf) = first(&r);
        assert_eq!((n.as_str(), rule.as_str()), (want, "exact"), "{said}: {r}");
        assert!(
            conf > 0.9 && !r["ambiguous"].as_bool().unwrap(),
            "{said}: {r}"
        );
    }
    // Misheard in words: вісімсот heard as сімсот (8 → 7), the check digit says so.
    let r = ask(
        "опора чотириста вісімдесят чотири сімсот один нуль",
        near(pole.1),
    );
    assert_eq!(r["check_digit_ok"], false, "{r}");
    assert_eq!(first(&r).0, pole.0, "{r}");

    // Two digits wrong (4→3 and 0→9), the caller's area known: found, never confidently.
    let r = ask("ОП-384891-0", near(pole.1));
    assert!(
        numbers(&r)[..3.min(numbers(&r).len())].contains(&pole.0.to_string()),
        "{r}"
    );
    let c = r["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["number"] == pole.0)
        .unwrap();
    assert_eq!(c["rule"], "two_digits_wrong", "{r}");
    assert!(c["confidence"].as_f64().unwrap() < 0.5, "{r}");
    // Without the area two wrong digits are not guessed at.
    let r = ask("ОП-384891-0", None);
    assert!(!numbers(&r).contains(&pole.0.to_string()), "{r}");

    // Typed key by key near the caller: the pole is first before the number is complete.
    for typed in ["ОП-4848", "ОП-48480", "оп 484801"] {
        let r = ask(typed, near(pole.1));
        assert_eq!(first(&r).0, pole.0, "{typed}: {r}");
    }
    let r = ask("ОП-4848", near(pole.1));
    assert_eq!(
        (r["mode"].as_str(), r["normalized"].as_str()),
        (Some("prefix"), Some("ОП-4848…")),
        "{r}"
    );

    // Only the last digits: the serial's, or the whole number's with the check digit.
    for said in [
        "останні цифри 4801",
        "last digits 8010",
        "…4801",
        "последние цифры сорок восемь ноль один",
    ] {
        let r = ask(said, near(pole.1));
        assert_eq!(r["mode"], "last_digits", "{said}: {r}");
        assert_eq!(first(&r).0, pole.0, "{said}: {r}");
    }
    let (s, e) = server.get(&format!("/resolve?q={}", enc("останні цифри 4801")));
    assert_eq!(s, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("near"), "{e}");

    // Streets and houses: current names, OSM old names, the city's renamings, abbreviations.
    for (said, want, was) in [
        ("Mannerheimintie 5", "Mannerheimintie 5", None),
        ("mannerheimintie, 5", "Mannerheimintie 5", None),
        ("Heikinkatu 5", "Mannerheimintie 5", Some("Heikinkatu")),
        ("Suurkatu 20", "Aleksanterinkatu 20", Some("Suurkatu")),
        (
            "Mannerheimvägen 5",
            "Mannerheimintie 5",
            Some("Mannerheimvägen"),
        ),
        (
            "просп. Леніна, 5",
            "Mannerheimintie 5",
            Some("просп. Леніна"),
        ),
        (
            "на проспекті Леніна п'ять",
            "Mannerheimintie 5",
            Some("просп. Леніна"),
        ),
        (
            "вул. Суворова 20",
            "Aleksanterinkatu 20",
            Some("вул. Суворова"),
        ),
        (
            "вулиця Суворова, двадцять",
            "Aleksanterinkatu 20",
            Some("вул. Суворова"),
        ),
    ] {
        let r = ask(said, None);
        assert_eq!(r["mode"], "address", "{said}: {r}");
        let c = &r["candidates"][0];
        assert_eq!(
            (c["kind"].as_str(), c["number"].as_str()),
            (Some("address"), Some(want)),
            "{said}: {r}"
        );
        assert_eq!(c["matched_name"].as_str(), was, "{said}: {r}");
        let landmarks = c["landmarks"].as_array().unwrap();
        assert!(!landmarks.is_empty(), "{said}: no landmarks: {r}");
        assert!(
            landmarks
                .iter()
                .all(|l| l["bearing"].is_string() && l["distance_m"].as_f64().unwrap() <= 300.0),
            "{r}"
        );
        assert!(c["phrase_uk"].as_str().unwrap().contains(want), "{r}");
        assert!(
            !r["ambiguous"].as_bool().unwrap(),
            "one building's entrances are one place: {r}"
        );
    }
    // A former name is said to be one; another language's name is not.
    let phrase = |q: &str| {
        ask(q, None)["candidates"][0]["phrase_uk"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        phrase("Heikinkatu 5").contains("колишня назва: Heikinkatu"),
        "{}",
        phrase("Heikinkatu 5")
    );
    assert!(
        phrase("Mannerheimvägen 5").contains("також: Mannerheimvägen"),
        "{}",
        phrase("Mannerheimvägen 5")
    );
    // A district: its centre, to set the caller's area.
    let r = ask("Kluuvi", None);
    let c = &r["candidates"][0];
    assert_eq!(
        (
            r["mode"].as_str(),
            c["rule"].as_str(),
            c["layer"].as_str(),
            c["number"].as_str()
        ),
        (
            Some("address"),
            Some("district"),
            Some("districts"),
            Some("Kluuvi")
        ),
        "{r}"
    );
    // A street without a house: its addresses nearest to the caller.
    let r = ask("Aleksanterinkatu", near(pole.1));
    assert_eq!(r["mode"], "address", "{r}");
    assert!(first(&r).0.starts_with("Aleksanterinkatu "), "{r}");
    // A whole number said with a street is still the number.
    let r = ask(&format!("Mannerheimintie {}", pole.0), None);
    assert_eq!(first(&r).0, pole.0, "{r}");
    // `layers` holds in address answers too.
    let (s, r) = server.get(&format!(
        "/resolve?q={}&layers=districts",
        enc("Mannerheimintie 5")
    ));
    assert_eq!(s, 200, "{r}");
    assert!(
        r["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["layer"] == "districts"),
        "{r}"
    );
    // A street nobody knows: said so, nothing guessed.
    let r = ask("вул. Неіснуюча 12", None);
    assert_eq!(r["candidates"].as_array().unwrap().len(), 0, "{r}");
    assert!(r["note"].as_str().unwrap().contains("no street"), "{r}");
    // Letters inside a number are refused.
    let (s, e) = server.get(&format!("/resolve?q={}", enc("ОП-12a4-5")));
    assert_eq!(s, 400, "{e}");
}

/// A renaming table that cannot be read stops the program with its file and line.
#[test]
fn a_broken_renaming_table_is_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("renamed.csv");
    std::fs::write(
        &csv,
        "old,new\nпросп. Леніна,Mannerheimintie\nвул. Суворова,\n",
    )
    .unwrap();
    let out = cli_cmd(&dir.path().join("x.gpkg"), &["resolve", "ОП-484801-0"])
        .env("CITYTWIN_CITY__STREET_RENAMINGS", &csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("street_renamings")
            && err.contains("renamed.csv:3")
            && err.contains("old and new"),
        "{err}"
    );
}

/// A call's record: refused when it is wrong (with the field), kept in the hash chain when
/// right, read back newest first, and still there after `kill -9` once acknowledged.
#[test]
fn a_call_record_is_checked_kept_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("c.gpkg");
    let mut server = Server::start(&store, &helsinki_seed(), &[]);
    let dispatcher = token(&store, "dispatcher");
    server.as_token(Some(&dispatcher));
    let (_, r) = server.get("/nearest?lat=60.1699&lon=24.9384&k=1&layers=poles");
    let pole = &r["landmarks"][0];
    let (number, lat, lon) = (
        pole["number"].as_str().unwrap().to_string(),
        pole["lat"].as_f64().unwrap(),
        pole["lon"].as_f64().unwrap(),
    );
    let call = |chosen_number: &str, lat: f64| {
        serde_json::json!({
            "queries": [
                {"q": "опора", "t_ms": 0, "near": null},
                {"q": chosen_number, "t_ms": 4200, "near": [lat + 0.0027, lon]}
            ],
            "near": [lat + 0.0027, lon],
            "chosen": {"kind": "object", "number": chosen_number, "layer": "poles",
                       "lon": lon, "lat": lat, "rule": "exact", "confidence": 0.95},
            "lang": "uk"
        })
    };
    // Wrong records: the field is named, nothing is kept.
    let mut unknown = call(&number, lat);
    unknown["extra"] = serde_json::json!(1);
    let mut many = call(&number, lat);
    many["queries"] = serde_json::json!(vec![
        serde_json::json!({"q": "1", "t_ms": 1, "near": null});
        201
    ]);
    let mut as_address = call(&number, lat);
    as_address["chosen"]["kind"] = serde_json::json!("address");
    for (body, status, field) in [
        (as_address, 400, "chosen"),
        (call("ОП-000000-0", lat), 400, "chosen"),
        (call(&number, lat + 0.01), 400, "chosen"),
        (many, 400, "queries"),
        (unknown, 422, ""),
    ] {
        let (s, e) = server.post("/dispatch/calls", &body);
        assert_eq!(s, status, "{e}");
        if !field.is_empty() {
            assert_eq!(e["field"], field, "{e}");
        }
    }
    let (s, kept) = server.get("/dispatch/calls");
    assert_eq!(
        (s, kept["calls"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{kept}"
    );
    // A right one is kept, acknowledged, and survives kill -9.
    let (s, ack) = server.post("/dispatch/calls", &call(&number, lat));
    assert_eq!(s, 201, "{ack}");
    server.kill9();
    let mut server = Server::start(&store, "none", &[]);
    server.as_token(Some(&dispatcher));
    let (s, kept) = server.get("/dispatch/calls?limit=5");
    assert_eq!(s, 200, "{kept}");
    let c = &kept["calls"][0];
    assert_eq!(
        (&c["seq"], &c["hash"]),
        (&ack["seq"], &ack["hash"]),
        "{kept}"
    );
    assert_eq!(c["record"]["chosen"]["number"], number.as_str(), "{kept}");
    assert_eq!(c["record"]["queries"][1]["t_ms"], 4200, "{kept}");
    server.stop();
    assert_chain_intact(&store);
    // Residents may neither keep nor read calls.
    let mut server = Server::start(&store, "none", &[]);
    let resident = token(&store, "resident");
    server.as_token(Some(&resident));
    assert_eq!(server.get("/dispatch/calls").0, 403);
    assert_eq!(server.post("/dispatch/calls", &call(&number, lat)).0, 403);
}
