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
    let server = Server::start(&dir.path().join("r.gpkg"), &helsinki_seed(), &[]);
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
