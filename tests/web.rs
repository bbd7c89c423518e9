//! The map page, styles and glyphs: served by citytwin itself, valid by the MapLibre style
//! validator, and drawn by MapLibre in a real headless Chromium.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

const STYLES: [&str; 4] = ["dispatcher", "residents", "residents-dark", "engineers"];

fn helsinki_seed() -> String {
    repo("tests/fixtures/helsinki-seed.toml")
        .display()
        .to_string()
}

/// Every string in a JSON document.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// The icon names an `icon-image` value can give: a name, or the outputs of a `case` or a
/// `match` (nested).
fn icon_outputs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => {
            let skip = match a[0].as_str() {
                Some("case") => 2,
                Some("match") => 3,
                other => panic!("icon-image {other:?}"),
            };
            a.iter()
                .skip(skip)
                .step_by(2)
                .for_each(|x| icon_outputs(x, out));
            icon_outputs(&a[a.len() - 1], out);
        }
        _ => {}
    }
}

#[test]
fn styles_pages_and_glyphs_are_served_by_citytwin_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("w.gpkg"), &helsinki_seed(), &[]);
    let base = server.base.clone();
    let mut served = Vec::new();
    for name in STYLES {
        let (s, style) = server.get(&format!("/styles/{name}.json"));
        assert_eq!(s, 200, "{name}: {style}");
        assert_eq!(style["version"], 8);
        assert!(style["glyphs"].as_str().unwrap().starts_with(&base));
        let url = style["sources"]["citytwin"]["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{base}/tiles/")) && url.contains(".json?v="),
            "{url}"
        );
        // Every URL in the style is this server's.
        let mut all = Vec::new();
        strings(&style, &mut all);
        for s in all.iter().filter(|s| s.contains("://")) {
            assert!(s.starts_with(&base), "{name}: outside URL {s}");
        }
        // Each source's TileJSON lists every source layer the style draws from it.
        let mut ids: BTreeSet<(String, String)> = BTreeSet::new();
        for (key, src) in style["sources"].as_object().unwrap() {
            let url = src["url"].as_str().unwrap();
            let (s, tj) = server.get(url.strip_prefix(&base).unwrap());
            assert_eq!(s, 200, "{name} {key}");
            for l in tj["vector_layers"].as_array().unwrap() {
                ids.insert((key.clone(), l["id"].as_str().unwrap().to_string()));
            }
        }
        for l in style["layers"].as_array().unwrap() {
            if let Some(sl) = l["source-layer"].as_str() {
                let src = l["source"].as_str().unwrap().to_string();
                assert!(
                    ids.contains(&(src, sl.to_string())),
                    "{name}: layer {} draws unknown {sl}",
                    l["id"]
                );
            }
        }
        // Numbers are labels from z16 in the dispatcher's map.
        if name == "dispatcher" {
            let poles = style["layers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["id"] == "poles-numbers")
                .expect("pole numbers layer");
            assert_eq!(poles["minzoom"], 16);
        }
        served.push((name, style));
    }
    let (s, e) = server.get("/styles/nope.json");
    assert_eq!((s, e["code"].as_str()), (404, Some("not_found")));

    // The sprites: each index names every icon the styles use, inside an image of its size.
    for (stem, ratio) in [("citytwin", 1), ("citytwin@2x", 2)] {
        let (s, _, json) = server.get_raw(&format!("/sprites/{stem}.json"), &[]);
        assert_eq!(s, 200, "{stem}.json");
        let index: Value = serde_json::from_slice(&json).unwrap();
        let (s, h, png) = server.get_raw(&format!("/sprites/{stem}.png"), &[]);
        assert_eq!(
            (s, h["content-type"].as_str()),
            (200, "image/png"),
            "{stem}.png"
        );
        let img = image::load_from_memory(&png).unwrap();
        let (mut w, mut hgt) = (0, 0);
        for (icon, e) in index.as_object().unwrap() {
            assert_eq!(e["pixelRatio"], ratio, "{icon}");
            w = w.max(e["x"].as_u64().unwrap() + e["width"].as_u64().unwrap());
            hgt = hgt.max(e["y"].as_u64().unwrap() + e["height"].as_u64().unwrap());
        }
        assert!(
            w <= u64::from(img.width()) && hgt <= u64::from(img.height()),
            "{stem}: index reaches {w}x{hgt}, image {}x{}",
            img.width(),
            img.height()
        );
        for (name, style) in &served {
            assert_eq!(
                style["sprite"],
                format!("{base}/sprites/citytwin"),
                "{name}"
            );
            for l in style["layers"].as_array().unwrap() {
                let mut icons = Vec::new();
                icon_outputs(&l["layout"]["icon-image"], &mut icons);
                for icon in icons {
                    assert!(
                        index.get(&icon).is_some(),
                        "{name} {}: no icon {icon}",
                        l["id"]
                    );
                }
            }
        }
    }
    assert_eq!(server.get("/sprites/nope.json").0, 404);

    // Glyphs for the labels (Latin and Cyrillic), made from the embedded font.
    for range in ["0-255", "1024-1279"] {
        let (s, h, body) = server.get_raw(&format!("/fonts/DejaVu%20Sans/{range}.pbf"), &[]);
        assert_eq!(s, 200);
        assert_eq!(h["content-type"], "application/x-protobuf");
        assert!(body.len() > 10_000);
    }
    assert_eq!(server.get("/fonts/Nope/0-255.pbf").0, 404);
    assert_eq!(server.get("/fonts/DejaVu%20Sans/1-256.pbf").0, 400);

    // The page and its files, with no outside URL.
    let (s, h, page) = server.get_raw("/", &[]);
    assert_eq!(s, 200);
    assert!(h["content-type"].starts_with("text/html"));
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("/assets/vendor/maplibre-gl/maplibre-gl.css"));
    for f in ["app.js", "app.css"] {
        let (s, h, body) = server.get_raw(&format!("/assets/{f}"), &[]);
        assert_eq!(s, 200, "{f}");
        let text = String::from_utf8(body).unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{f}"
        );
        let etag = h["etag"].clone();
        let (s, _, _) = server.get_raw(&format!("/assets/{f}"), &[("If-None-Match", &etag)]);
        assert_eq!(s, 304);
    }
    assert!(!page.contains("http://") && !page.contains("https://"));
    for f in [
        "maplibre-gl.mjs",
        "maplibre-gl-worker.mjs",
        "maplibre-gl.css",
        "LICENSE.txt",
    ] {
        let (s, _, body) = server.get_raw(&format!("/assets/vendor/maplibre-gl/{f}"), &[]);
        assert_eq!(s, 200, "{f}");
        assert!(!body.is_empty());
    }
    assert_eq!(server.get("/assets/../Cargo.toml").0, 404);
    assert_eq!(server.get("/assets/nope.js").0, 404);

    // The MapLibre style validator (npm @maplibre/maplibre-gl-style-spec), on the files as kept
    // and as served.
    let Some(validate) = npm_tool(".bin/gl-style-validate", "MapLibre style validation") else {
        return;
    };
    let mut files: Vec<std::path::PathBuf> = STYLES
        .iter()
        .map(|n| repo(&format!("styles/{n}.json")))
        .collect();
    for (name, style) in &served {
        let p = dir.path().join(format!("served-{name}.json"));
        std::fs::write(&p, serde_json::to_vec_pretty(style).unwrap()).unwrap();
        files.push(p);
    }
    let out = Command::new(validate)
        .args(&files)
        .output()
        .expect("gl-style-validate");
    assert!(
        out.status.success(),
        "gl-style-validate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether Chromium (Debian's, or the one `CHROMIUM` names), Node.js and puppeteer-core are
/// there (then Chromium's path); a missing one skips visibly, or fails under CI.
fn browser_tools(what: &str) -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    (tool_or_skip(
        Path::new(&chromium).is_file(),
        what,
        &format!("Chromium at {chromium} (or set CHROMIUM)"),
        "apt-get install -y chromium",
    ) && have_tool("node", what, "apt-get install -y nodejs")
        && npm_tool("puppeteer-core/package.json", what).is_some())
    .then_some(chromium)
}

#[test]
fn the_map_page_draws_the_objects_in_a_real_browser() {
    let Some(chromium) = browser_tools("the browser test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("b.gpkg"), &helsinki_seed(), &[]);
    let (_, layers) = server.get("/layers");
    let bbox = |name: &str| -> Vec<f64> {
        layers
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap()["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let b = bbox("poles");
    let (lon, lat) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    let (_, some) = server.get("/objects?layer=poles&limit=1");
    let number = some["features"][0]["properties"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("map-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(repo("web/tests/browser.mjs"))
        .args([
            server.base.as_str(),
            shots.to_str().unwrap(),
            &lon.to_string(),
            &lat.to_string(),
            "16",
            &number,
        ])
        .env("CHROMIUM", &chromium)
        .env("TOKEN", token(&server.store, "dispatcher"))
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "browser script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("browser JSON");
    eprintln!("screenshots: {}", shots.display());
    assert_eq!(r["errors"], Value::Array(vec![]), "console errors");
    assert_eq!(
        r["outside"],
        Value::Array(vec![]),
        "requests to outside URLs"
    );

    // The dispatcher's view at z16: every pole in view is drawn, and nothing else is.
    let d = &r["styles"]["dispatcher"];
    let v: Vec<f64> = d["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let (_, in_view) = server.get(&format!(
        "/objects?layer=poles&limit=1000&bbox={},{},{},{}",
        v[0], v[1], v[2], v[3]
    ));
    let expected: BTreeSet<u64> = in_view["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_u64().unwrap())
        .collect();
    let drawn: BTreeSet<u64> = d["byLayer"]["poles"]["ids"]
        .as_array()
        .expect("poles drawn")
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert!(
        expected.len() >= 10,
        "the view holds poles: {}",
        expected.len()
    );
    let missing: Vec<_> = expected.difference(&drawn).collect();
    // A pole right on the edge of the view may fall just outside the canvas.
    assert!(
        missing.len() <= 2,
        "poles in view but not drawn: {missing:?}"
    );
    let (_, around) = server.get(&format!(
        "/objects?layer=poles&limit=1000&bbox={},{},{},{}",
        v[0] - 0.001,
        v[1] - 0.001,
        v[2] + 0.001,
        v[3] + 0.001
    ));
    let near: BTreeSet<u64> = around["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_u64().unwrap())
        .collect();
    assert!(drawn.is_subset(&near), "drawn poles that are not there");
    assert!(
        d["byLayer"]["poles"]["labels"].as_u64().unwrap() > 0,
        "numbers as labels at z16"
    );
    assert!(
        d["byLayer"]["manholes"]["ids"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );

    // The other audiences draw their own layers only.
    let res = &r["styles"]["residents"]["byLayer"];
    assert!(res.get("poles").is_none() && res.get("manholes").is_none());
    assert!(res.get("streets").is_some());
    let eng = &r["styles"]["engineers"]["byLayer"];
    assert!(eng.get("poles").is_none());
    assert!(
        eng["manholes"]["ids"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );

    // A click on a pole shows its number, layer and status.
    let popup = r["clicked"]["popup"].as_str().expect("a pole was clicked");
    let clicked = r["clicked"]["number"].as_str().unwrap();
    assert!(
        popup.contains(clicked) && popup.contains("poles"),
        "{popup} / {}",
        r["clicked"]
    );

    // Search jumped to the object and shows its number.
    assert_eq!(r["found"], number.as_str());
    assert!(r["popup"].as_str().unwrap_or("").contains(&number));
    assert!(shots.join("map-dispatcher.png").exists());

    // Without a token the map never asks for the restricted layers; signed in as a dispatcher,
    // the same page's style carries them (the token went with the style request), and every
    // request with it succeeded (no errors above).
    let public = r["publicSource"].as_str().unwrap();
    assert!(
        public.contains("poles") && !public.contains("cameras"),
        "{public}"
    );
    let signed = r["signedIn"]["source"].as_str().expect("signed in");
    assert!(
        signed.contains("cameras") && signed.contains("cabinets"),
        "{signed}"
    );
    assert!(
        r["signedIn"]["button"]
            .as_str()
            .unwrap()
            .contains("Sign out"),
        "{}",
        r["signedIn"]
    );
}

/// Where a style opens: its `center` and `zoom`.
fn opening(style: &Value) -> ([f64; 2], f64) {
    let c = style["center"].as_array().expect("style center");
    (
        [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()],
        style["zoom"].as_f64().expect("style zoom"),
    )
}

/// The extent of a layer, from `/layers`.
fn layer_bbox(server: &Server, name: &str) -> [f64; 4] {
    let (_, layers) = server.get("/layers");
    let b = layers
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("layer {name}"))["bbox"]
        .as_array()
        .expect("a bbox")
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect::<Vec<_>>();
    [b[0], b[1], b[2], b[3]]
}

fn inside(p: [f64; 2], b: [f64; 4]) -> bool {
    (b[0]..=b[2]).contains(&p[0]) && (b[1]..=b[3]).contains(&p[1])
}

/// Every style and the TileJSON of its source open at the same place.
fn openings_agree(server: &Server) -> ([f64; 2], f64) {
    let (_, style) = server.get("/styles/dispatcher.json");
    let (center, zoom) = opening(&style);
    let url = style["sources"]["citytwin"]["url"].as_str().unwrap();
    let (_, tj) = server.get(url.strip_prefix(&server.base).unwrap());
    assert_eq!(
        tj["center"],
        serde_json::json!([center[0], center[1], zoom.floor() as u64]),
        "TileJSON and style"
    );
    (center, zoom)
}

#[test]
fn maps_open_on_the_configured_centre_or_the_densest_area() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("c.gpkg");
    // Nothing configured: the densest area of the data, here all of central Helsinki.
    let mut server = Server::start(&store, &helsinki_seed(), &[]);
    let (center, zoom) = openings_agree(&server);
    let poles = layer_bbox(&server, "poles");
    assert!(inside(center, poles), "{center:?} outside {poles:?}");
    assert!((12.0..=17.0).contains(&zoom), "zoom {zoom}");
    server.stop();

    // `[city]` from the environment (as from the configuration file): every style opens there.
    let mut server = Server::start(
        &store,
        "none",
        &[
            ("CITYTWIN_CITY__CENTER", "[24.9384, 60.1699]"),
            ("CITYTWIN_CITY__ZOOM", "15.5"),
        ],
    );
    for name in STYLES {
        let (_, style) = server.get(&format!("/styles/{name}.json"));
        assert_eq!(opening(&style), ([24.9384, 60.1699], 15.5), "{name}");
    }
    let (_, tj) = server.get("/tiles/shelters.json");
    assert_eq!(tj["center"], serde_json::json!([24.9384, 60.1699, 15]));
    server.stop();

    // A zoom alone keeps the data's centre.
    let mut server = Server::start(&store, "none", &[("CITYTWIN_CITY__ZOOM", "13")]);
    assert_eq!(openings_agree(&server), (center, 13.0));
    server.stop();

    // A centre that is no place on Earth stops the server at start, naming the key.
    let out = cli_cmd(
        &store,
        &["serve", "--bind", "127.0.0.1:0", "--seed", "none"],
    )
    .env("CITYTWIN_CITY__CENTER", "[60.17, 124.94]")
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("city.center"), "{err}");
}

#[test]
fn the_first_view_shows_the_densest_city_in_a_real_browser() {
    let Some(chromium) = browser_tools("the first-view browser test") else {
        return;
    };
    // The demo: central Helsinki's objects and Kyiv's shelters, 1,000 km apart.
    let dir = tempfile::tempdir().unwrap();
    let demo = repo("seeds/demo.toml").display().to_string();
    let server = Server::start(&dir.path().join("d.gpkg"), &demo, &[]);
    let (_, style) = server.get("/styles/dispatcher.json");
    let url = style["sources"]["citytwin"]["url"].as_str().unwrap();
    let (_, tj) = server.get(url.strip_prefix(&server.base).unwrap());
    let all: Vec<f64> = tj["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(all[3] - all[1] > 5.0, "the demo spans both cities: {all:?}");
    // The map opens on Helsinki (where the poles are), not between the cities.
    let (center, zoom) = openings_agree(&server);
    let helsinki = layer_bbox(&server, "poles");
    assert!(inside(center, helsinki), "{center:?} outside {helsinki:?}");

    // The README's screenshots: new pictures go to `fresh`, and into docs/img once the page
    // passed (a picture that did not change leaves its file alone).
    let img = repo("docs/img");
    let fresh = dir.path().join("img");
    std::fs::create_dir_all(&fresh).unwrap();
    let out = Command::new("node")
        .arg(repo("web/tests/first-view.mjs"))
        .args([
            server.base.as_str(),
            img.to_str().unwrap(),
            fresh.to_str().unwrap(),
        ])
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "first-view script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("browser JSON");
    assert_eq!(r["errors"], Value::Array(vec![]), "console errors");
    assert_eq!(r["outside"], Value::Array(vec![]), "outside requests");
    for size in ["desk", "phone"] {
        let s = &r[size];
        // Without a position in the URL the page opens where the style says, and draws data.
        let at = [
            s["center"][0].as_f64().unwrap(),
            s["center"][1].as_f64().unwrap(),
        ];
        assert!(
            (at[0] - center[0]).abs() < 1e-6 && (at[1] - center[1]).abs() < 1e-6,
            "{size}: opened at {at:?}, not {center:?}"
        );
        assert!((s["zoom"].as_f64().unwrap() - zoom).abs() < 1e-6, "{size}");
        assert!(
            s["features"].as_u64().unwrap() > 0,
            "{size}: nothing of citytwin drawn: {s}"
        );
        // Nothing sticks out sideways, and the header leaves most of the screen to the map.
        assert!(
            s["scrollWidth"].as_f64() <= s["width"].as_f64(),
            "{size}: wider than the screen: {s}"
        );
        let m: Vec<f64> = serde_json::from_value(s["map"].clone()).unwrap();
        assert!(
            m[3] - m[1] >= 0.75 * m[3],
            "{size}: the map gets too little of the screen: {s}"
        );
        for c in s["controls"].as_array().unwrap() {
            let c: Vec<f64> = serde_json::from_value(c.clone()).unwrap();
            assert!(
                c[0] >= 0.0 && c[2] <= s["width"].as_f64().unwrap(),
                "{size}: a control off screen: {s}"
            );
        }
    }
    // On the phone the token field opens when asked for, within the screen.
    let signin = &r["phone"]["signin"];
    let t: Vec<f64> = serde_json::from_value(signin["box"].clone()).unwrap();
    assert!(
        t[2] - t[0] > 100.0 && t[0] >= 0.0 && t[2] <= 360.0 && signin["focused"] == true,
        "{signin}"
    );
    assert!(signin["scrollWidth"].as_f64() <= Some(360.0), "{signin}");
    // A clicked object's card shows its number and layer.
    let card = &r["card"];
    let text = card["text"].as_str().expect("an object was clicked");
    assert!(
        text.contains(card["number"].as_str().unwrap())
            && text.contains(card["layer"].as_str().unwrap()),
        "{card}"
    );
    // A position in the URL wins.
    let h = &r["withHash"]["center"];
    assert!(
        (h[0].as_f64().unwrap() - 30.52).abs() < 1e-6
            && (h[1].as_f64().unwrap() - 50.45).abs() < 1e-6,
        "{}",
        r["withHash"]
    );

    let names = |k: &str| -> Vec<String> { serde_json::from_value(r[k].clone()).unwrap() };
    let (saved, kept) = (names("saved"), names("kept"));
    std::fs::create_dir_all(&img).unwrap();
    for name in &saved {
        std::fs::copy(fresh.join(name), img.join(name)).unwrap();
    }
    eprintln!(
        "screenshots in {}: new {saved:?}, unchanged {kept:?}",
        img.display()
    );
    for name in ["map-desk.png", "map-phone.png", "object-card.png"] {
        assert!(img.join(name).exists(), "{name}");
    }
}

/// A resident on a phone: the shelter page finds the nearest shelter for a fixed position,
/// draws the route, shows the card, passes axe-core; then, with the server stopped, the
/// reloaded page still shows the shelters and the instructions from its service worker.
#[test]
fn the_shelter_page_finds_a_route_on_a_phone_and_works_offline() {
    let Some(chromium) = browser_tools("the shelter page test") else {
        return;
    };
    let Some(axe) = npm_tool("axe-core/axe.min.js", "the shelter page test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = helsinki_store(dir.path());
    // Shelters among the demo streets (the extract has few of its own).
    let shelters = dir.path().join("shelters.geojson");
    let features: Vec<Value> = [
        ([24.9410, 60.1690], true, "Aleksanterinkatu 20"),
        ([24.9460, 60.1710], false, "Kaisaniemenkatu 3"),
        ([24.9380, 60.1660], true, "Bulevardi 7"),
    ]
    .iter()
    .map(|(p, step_free, address)| {
        serde_json::json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": p},
            "properties": {"legal_type": "Найпростіше укриття", "accessible": step_free, "address": address,
                "capacity": 120, "opening_hours": "24/7"}})
    })
    .collect();
    std::fs::write(
        &shelters,
        serde_json::json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();
    cli_ok(
        &store,
        &["import", "--layer", "shelters", shelters.to_str().unwrap()],
    );
    // The city's archive, where the server looks for it.
    cli_ok(
        &store,
        &[
            "export",
            "--format",
            "pmtiles",
            "--layers",
            "shelters,streets",
            "--out",
            store.with_extension("pmtiles").to_str().unwrap(),
        ],
    );
    let mut server = Server::start(&store, "none", &[]);
    let img = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shelter-screenshots");
    std::fs::create_dir_all(&img).unwrap();
    let mut child = Command::new("node")
        .arg(repo("web/tests/shelters.mjs"))
        .args([
            server.base.as_str(),
            "60.1697",
            "24.9430",
            img.to_str().unwrap(),
            axe.to_str().unwrap(),
        ])
        .env("CHROMIUM", &chromium)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    use std::io::{BufRead, Write};
    loop {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 || line.trim() == "OFFLINE?" {
            break;
        }
    }
    server.kill9();
    let mut stdin = child.stdin.take().unwrap();
    let _ = writeln!(stdin, "go");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let r: Value = serde_json::from_str(rest.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("shelter page JSON ({e}): {line}{rest}"));
    assert!(status.success(), "{r}");
    assert_eq!(r["errors"], Value::Array(vec![]), "page errors: {r}");
    assert_eq!(
        r["outside"],
        Value::Array(vec![]),
        "requests to outside URLs"
    );
    let on = &r["online"];
    assert_eq!(on["visible"], true, "{on}");
    assert_eq!(on["routing"], "walking", "{on}");
    assert!(on["points"].as_u64().unwrap() >= 3, "{on}");
    assert_eq!(on["in_view"], true, "the route runs out of the map: {on}");
    assert!(on["title"].as_str().unwrap().contains("УК-"), "{on}");
    assert!(on["route"].as_str().unwrap().contains("м пішки"), "{on}");
    // The card leads to the report page with the shelter's number filled in.
    assert!(
        on["report"]
            .as_str()
            .is_some_and(|h| h.contains("/report?number=")),
        "{on}"
    );
    // The three added and the extract's own.
    let listed = on["shelters"].as_u64().unwrap();
    assert!(listed >= 3, "{on}");
    assert_eq!(on["lang"], "uk");
    assert!(on["instructions"].as_u64().unwrap() > 100, "{on}");
    assert!(
        on["find_button"][1].as_f64().unwrap() >= 44.0,
        "touch target {on}"
    );
    assert_eq!(
        on["scroll_width"], on["width"],
        "the page is wider than the phone"
    );
    let serious: Vec<&Value> = r["axe"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(serious.is_empty(), "axe-core: {serious:?}");
    let desk = &r["desk"];
    assert_eq!(desk["in_view"], true, "{desk}");
    assert_eq!(desk["scroll_width"], desk["width"], "{desk}");
    assert_eq!(r["english"]["lang"], "en");
    assert!(
        r["english"]["route"]
            .as_str()
            .unwrap()
            .contains("m on foot"),
        "{}",
        r["english"]
    );
    let off = &r["offline"];
    assert_eq!(off["offline"], true, "{off}");
    assert_eq!(off["shelters"].as_u64(), Some(listed), "{off}");
    assert!(off["instructions"].as_u64().unwrap() > 100, "{off}");
    assert_eq!(off["visible"], true, "{off}");
    assert!(
        off["status"].as_str().unwrap().contains("Немає зв’язку"),
        "{off}"
    );
    // The same place: the route saved while online. Elsewhere: the straight line.
    assert_eq!(off["routing"], "walking", "{off}");
    let far = &r["elsewhere"];
    assert_eq!(far["offline"], true, "{far}");
    assert_eq!(far["routing"], "straight_line", "{far}");
    assert_eq!(far["points"], 2, "{far}");
    assert!(
        far["route"].as_str().unwrap().contains("по прямій"),
        "{far}"
    );
    // The README's pictures: kept where they are unless missing or asked to be renewed.
    for name in [
        "shelters-phone.png",
        "shelters-offline.png",
        "shelters-desk.png",
    ] {
        let docs = repo("docs/img").join(name);
        if !docs.exists() || std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            std::fs::copy(img.join(name), &docs).unwrap();
        }
    }
    eprintln!("screenshots: {}", img.display());
}

#[test]
fn the_residents_basemap_draws_day_and_night_on_a_phone_and_a_desk() {
    let Some(chromium) = browser_tools("the basemap browser test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.gpkg"), &helsinki_seed(), &[]);
    // A view at z16 on the edge of a water body: water, buildings and named streets in it.
    let (s, water) = server.get("/objects?layer=water&limit=1000");
    assert_eq!(s, 200);
    let edges: Vec<[f64; 2]> = water["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| {
            let c = &f["geometry"]["coordinates"];
            let first = if f["geometry"]["type"] == "Polygon" {
                &c[0][0]
            } else {
                &c[0][0][0]
            };
            Some([first[0].as_f64()?, first[1].as_f64()?])
        })
        .collect();
    let b = layer_bbox(&server, "buildings");
    let middle = [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0];
    let at = edges
        .iter()
        .min_by(|p, q| {
            let d = |a: &[f64; 2]| (a[0] - middle[0]).powi(2) + (a[1] - middle[1]).powi(2);
            d(p).total_cmp(&d(q))
        })
        .copied()
        .expect("the extract has water");
    let shots = dir.path().join("shots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(repo("web/tests/basemap.mjs"))
        .args([
            server.base.as_str(),
            shots.to_str().unwrap(),
            &at[0].to_string(),
            &at[1].to_string(),
            "16",
        ])
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "basemap script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("browser JSON");
    assert_eq!(r["errors"], Value::Array(vec![]), "console errors");
    assert_eq!(
        r["outside"],
        Value::Array(vec![]),
        "requests to outside URLs"
    );
    for style in ["residents", "residents-dark"] {
        for size in ["phone", "desk"] {
            let v = &r["styles"][format!("{style}-{size}")];
            let by = &v["byLayer"];
            let n = |layer: &str| by[layer]["features"].as_u64().unwrap_or(0);
            assert!(
                n("buildings") > 10,
                "{style} {size}: buildings {}",
                by["buildings"]
            );
            assert!(n("water") > 0, "{style} {size}: no water drawn");
            let names = by["streets"]["labels"].as_array().map_or(0, |l| {
                l.iter()
                    .filter(|t| t.as_str().is_some_and(|t| !t.is_empty()))
                    .count()
            });
            assert!(names > 0, "{style} {size}: no street name drawn");
            assert!(v["sprite"].as_str().unwrap().starts_with(&server.base));
        }
    }
    // Night is dark, day is light.
    let light = |style: &str| {
        let c = r["styles"][format!("{style}-desk")]["background"]
            .as_str()
            .unwrap()
            .to_string();
        u32::from_str_radix(&c[1..3], 16).unwrap()
    };
    assert!(light("residents") > 0xc0 && light("residents-dark") < 0x40);
    for (style, size) in [("residents", "phone"), ("residents-dark", "phone")] {
        let name = format!("basemap-{style}-{size}.png");
        let docs = repo("docs/img").join(&name);
        if !docs.exists() || std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            std::fs::copy(shots.join(&name), &docs).unwrap();
        }
    }
}

/// The number a caller misreads: one digit of the serial turned into the digit it sounds like
/// on the phone (7↔8, 5↔9, 3↔4, 6→7), the check digit kept as painted, so that it no longer
/// fits. `ОП-104273-5` → `ОП-104283-5`. None when no digit of the serial has a sound-alike.
fn misheard(number: &str) -> Option<String> {
    let parts: Vec<&str> = number.split('-').collect();
    let [code, serial, check] = parts.as_slice() else {
        return None;
    };
    let sound_alike = |c: char| match c {
        '7' => Some('8'),
        '8' => Some('7'),
        '5' => Some('9'),
        '9' => Some('5'),
        '3' => Some('4'),
        '4' => Some('3'),
        '6' => Some('7'),
        _ => None,
    };
    // The last such digit: the caller read the start right.
    let chars: Vec<char> = serial.chars().collect();
    let i = (0..chars.len())
        .rev()
        .find(|&i| sound_alike(chars[i]).is_some())?;
    let mut wrong = chars.clone();
    wrong[i] = sound_alike(chars[i])?;
    Some(format!(
        "{code}-{}-{check}",
        wrong.into_iter().collect::<String>()
    ))
}

/// A 103/112 call-taker on the demo city: the dispatch page, signed in as a dispatcher with the
/// caller's area in the link, finds a real pole from its misheard number while it is typed,
/// shows the chosen place with its landmarks and bearings, copies the crew phrase, records the
/// call (`POST /dispatch/calls`), is keyboard-operable, passes axe-core and fits a desk and a
/// phone.
#[test]
fn the_dispatch_page_finds_a_misheard_pole_and_records_the_call() {
    let Some(chromium) = browser_tools("the dispatch page test") else {
        return;
    };
    let Some(axe) = npm_tool("axe-core/axe.min.js", "the dispatch page test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let demo = repo("seeds/demo.toml").display().to_string();
    let mut server = Server::start(&dir.path().join("dispatch.gpkg"), &demo, &[]);
    let dispatcher = token(&server.store, "dispatcher");
    server.as_token(Some(&dispatcher));
    let (s, _, page) = server.get_raw("/dispatch", &[]);
    assert_eq!(
        s,
        200,
        "GET /dispatch does not serve the page: {}",
        String::from_utf8_lossy(&page)
    );
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("/assets/dispatch.js"), "{page}");
    for f in ["dispatch.js", "dispatch.css"] {
        let (s, _, body) = server.get_raw(&format!("/assets/{f}"), &[]);
        assert_eq!(s, 200, "{f}");
        let text = String::from_utf8(body).unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{f} names an outside URL"
        );
    }

    // A real pole in central Helsinki with a house next to it, and its number as misheard.
    let (s, around) = server.get("/nearest?lat=60.1699&lon=24.9384&k=50&layers=poles");
    assert_eq!(s, 200, "{around}");
    let pole = around["landmarks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["address_distance_m"].as_f64().is_some_and(|d| d <= 40.0)
                && !matches!(l["status"].as_str(), Some("broken" | "removed"))
                && misheard(l["number"].as_str().unwrap()).is_some()
        })
        .unwrap_or_else(|| panic!("no pole with a house within 40 m: {around}"))
        .clone();
    let number = pole["number"].as_str().unwrap().to_string();
    let wrong = misheard(&number).unwrap();
    // The caller's area: about 300 m north of the pole.
    let near_lat = pole["lat"].as_f64().unwrap() + 300.0 / 111_195.0;
    let near_lon = pole["lon"].as_f64().unwrap();

    let img = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dispatch-screenshots");
    std::fs::create_dir_all(&img).unwrap();
    let out = Command::new("node")
        .arg(repo("web/tests/dispatch.mjs"))
        .args([
            server.base.as_str(),
            &number,
            &wrong,
            &format!("{near_lat:.6}"),
            &format!("{near_lon:.6}"),
            img.to_str().unwrap(),
            axe.to_str().unwrap(),
        ])
        .env("CHROMIUM", &chromium)
        .env("TOKEN", &dispatcher)
        .output()
        .expect("node");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "dispatch page JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    eprintln!(
        "dispatch page: {number} heard as {wrong}; screenshots in {}",
        img.display()
    );
    assert!(out.status.success(), "{r}");
    assert_eq!(r["errors"], Value::Array(vec![]), "page errors: {r}");
    assert_eq!(
        r["outside"],
        Value::Array(vec![]),
        "requests to outside URLs"
    );

    // Opened signed in, the token gone from the URL, the area from the link, the input focused.
    let opened = &r["opened"];
    assert_eq!(opened["signed_in"], true, "{opened}");
    assert!(
        !opened["hash"].as_str().unwrap().contains("token"),
        "{opened}"
    );
    assert!(
        (opened["area"]["lat"].as_f64().unwrap() - near_lat).abs() < 1e-5,
        "{opened}"
    );
    assert_eq!(opened["focused"], "q", "{opened}");
    assert_eq!(opened["lang"], "uk");

    // While typing: the right pole first before the last key, and after it, where the check
    // digit proves the mishearing.
    let trace = &r["trace"];
    let before = &r["before_last"];
    assert_eq!(
        before["first"].as_str(),
        Some(number.as_str()),
        "{number} is not the first candidate before the last key of {wrong}: {trace}"
    );
    let last = &r["after_last"];
    assert_eq!(
        last["first"].as_str(),
        Some(number.as_str()),
        "{number} is not the first candidate for {wrong}: {trace}"
    );
    assert_eq!(last["check_digit_ok"], false, "{last}");
    assert_eq!(last["shown"], last["n"], "{last}");

    // The keyboard: the arrows move the selection without leaving the input.
    let keys = &r["keys"];
    assert_eq!(keys["start"], "cand-0", "{keys}");
    assert_eq!(keys["down"]["focused"], "q", "{keys}");
    let expected_down = if last["n"].as_u64().unwrap() > 1 {
        "cand-1"
    } else {
        "cand-0"
    };
    assert_eq!(keys["down"]["active"], expected_down, "{keys}");
    assert_eq!(
        keys["down"]["selected"],
        serde_json::json!([expected_down]),
        "{keys}"
    );
    assert_eq!(keys["up"]["active"], "cand-0", "{keys}");
    assert_eq!(keys["up"]["focused"], "q", "{keys}");

    // Enter: the card, with landmarks and their bearings, and the crew phrase.
    let chosen = &r["chosen"];
    assert_eq!(chosen["visible"], true, "{chosen}");
    assert_eq!(chosen["number"].as_str(), Some(number.as_str()), "{chosen}");
    assert!(
        chosen["title"].as_str().unwrap().contains(&number),
        "{chosen}"
    );
    let landmarks = chosen["landmarks"].as_array().unwrap();
    assert!(
        landmarks.iter().any(
            |l| l["bearing"].as_str().is_some_and(|b| b.contains(" на ")) && l["deg"].is_number()
        ),
        "no landmark with a bearing: {chosen}"
    );
    assert!(
        landmarks
            .iter()
            .all(|l| !l["text"].as_str().unwrap().contains(&number)),
        "the chosen pole is among its own landmarks: {chosen}"
    );
    let phrase = chosen["phrase_uk"].as_str().unwrap();
    assert!(phrase.contains(&number), "{chosen}");
    assert_eq!(chosen["phrase"].as_str(), Some(phrase), "{chosen}");
    assert_eq!(chosen["scroll_width"], chosen["width"], "{chosen}");
    // Exactly the phrase on the clipboard, and said so.
    assert_eq!(
        r["copy"]["clipboard"].as_str(),
        Some(phrase),
        "{}",
        r["copy"]
    );
    assert!(
        r["copy"]["said"].as_str().unwrap().contains("Скопійовано"),
        "{}",
        r["copy"]
    );

    let serious: Vec<&Value> = r["axe"]
        .as_array()
        .expect("axe ran")
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(serious.is_empty(), "axe-core: {serious:?}");

    // Tab reaches the map and leaves it again (no keyboard trap); the focus is visible.
    let tabs: Vec<String> = serde_json::from_value(r["tabs"].clone()).unwrap();
    let canvas = tabs
        .iter()
        .position(|t| t == "map-canvas")
        .unwrap_or_else(|| panic!("Tab never reaches the map: {tabs:?}"));
    assert!(
        tabs[canvas + 1..].iter().any(|t| t != "map-canvas"),
        "the map keeps the focus: {tabs:?}"
    );
    assert!(
        tabs[..canvas].iter().any(|t| t == "area"),
        "the area field comes before the map: {tabs:?}"
    );
    assert!(
        r["focus_ring"].as_str().unwrap().starts_with("solid"),
        "{}",
        r["focus_ring"]
    );

    // English on request; Escape clears the choice.
    let en = &r["english"];
    assert_eq!(en["lang"], "en");
    assert_eq!(en["phrase"], chosen["phrase_en"], "{en}");
    assert_eq!(en["label"], "Number / address", "{en}");
    assert_eq!(r["escaped"]["hidden"], true, "{}", r["escaped"]);
    assert_eq!(r["escaped"]["chosen"], Value::Null);

    // Several numbers: the pole and its nearest landmark place the caller, and that is chosen.
    // The districts are offered, and one sets the caller's area at its centre.
    let districts: Vec<&str> = r["districts"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(districts.contains(&"Kluuvi"), "{districts:?}");
    let area = &r["district_area"];
    assert!(
        (area["lat"].as_f64().unwrap_or(0.0) - 60.17).abs() < 0.01
            && (area["lon"].as_f64().unwrap_or(0.0) - 24.945).abs() < 0.02
            && area["text"].as_str().unwrap_or("").contains("Kluuvi"),
        "{area}"
    );
    let loc = &r["locate"];
    assert_eq!(loc["consistent"], true, "{loc}");
    assert!(loc["uncertainty_m"].as_f64().is_some(), "{loc}");
    assert_eq!(loc["chosen"]["kind"], "located", "{loc}");
    assert_eq!(loc["chosen"]["visible"], true, "{loc}");

    // The phone: the same pole, the card, nothing wider than the screen.
    assert_eq!(
        r["phone_top"]["first"].as_str(),
        Some(number.as_str()),
        "{}",
        r["phone_top"]
    );
    let phone = &r["phone"];
    assert_eq!(phone["visible"], true, "{phone}");
    assert_eq!(phone["width"], 360, "{phone}");
    assert_eq!(phone["scroll_width"], 360, "wider than the phone: {phone}");
    for (id, b) in phone["boxes"].as_object().unwrap() {
        let b: Vec<f64> = serde_json::from_value(b.clone()).unwrap();
        assert!(b[0] >= 0.0 && b[2] <= 360.0, "{id} off the screen: {phone}");
    }

    // The call was recorded: the server's call log answered with its sequence number.
    assert_ne!(
        r["calls_route"], 404,
        "the server has no call log: POST /dispatch/calls answers 404 (the route is missing), so \
         the page cannot record the call: {}",
        r["record"]
    );
    assert!(
        r["record"]["last"]["seq"].is_u64(),
        "the call was not recorded: {}",
        r["record"]
    );
    assert!(r["record"]["last"]["hash"].is_string(), "{}", r["record"]);
    assert!(
        r["chosen"]["status"]
            .as_str()
            .unwrap()
            .contains(&format!("записано №{}", r["record"]["last"]["seq"])),
        "{}",
        r["chosen"]
    );

    // The README's pictures, from a page that passed everything above: kept unless missing or
    // asked to be renewed.
    for name in ["dispatch-desk.png", "dispatch-phone.png"] {
        assert!(img.join(name).exists(), "{name}");
        let docs = repo("docs/img").join(name);
        if !docs.exists() || std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            std::fs::copy(img.join(name), &docs).unwrap();
        }
    }
}

/// An engineer traces the New Zealand backbone on the map page: the path between the core and
/// a node behind a bridge, then what cutting that bridge leaves dark, both drawn over the map
/// (the engineers' style) at a desk size and on a phone.
#[test]
fn the_engineers_map_draws_fibre_traces() {
    let Some(chromium) = browser_tools("the fibre trace browser test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = nz_backbone_store(dir.path());
    let engineer = token(&store, "engineer");
    let mut server = Server::start(&store, "none", &[]);
    server.as_token(Some(&engineer));
    // A bridge whose cut leaves something dark, and a node behind it.
    let (_, b) = server.get("/fibre/bridges");
    let core = b["core"][0]["id"].as_str().unwrap().to_string();
    let (span, behind, dark) = b["bridges"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| {
            let id = s["id"].as_str()?.to_string();
            let (_, r) = server.get(&format!("/fibre/isolate?span={}", enc(&id)));
            let n = r["isolated"].as_array()?.len();
            (n > 0).then(|| (id, r["isolated"][0]["id"].as_str().unwrap().to_string(), n))
        })
        .expect("a bridge whose cut isolates a node");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fibre-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(repo("web/tests/fibre.mjs"))
        .args([
            server.base.as_str(),
            shots.to_str().unwrap(),
            &core,
            &behind,
            &span,
        ])
        .env("CHROMIUM", &chromium)
        .env("TOKEN", &engineer)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "fibre browser script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("fibre trace page: {r}");
    assert_eq!(r["failure"], Value::Null, "{r}");
    assert_eq!(r["errors"], serde_json::json!([]), "{r}");
    assert_eq!(r["outside"], serde_json::json!([]), "{r}");
    assert_eq!(r["form_visible"], true, "{r}");
    // The path is drawn: its spans and nodes on the map.
    let (_, p) = server.get(&format!(
        "/fibre/path?from={}&to={}",
        enc(&core),
        enc(&behind)
    ));
    let spans = p["spans"].as_array().unwrap().len() as u64;
    assert_eq!(
        r["path"]["features"].as_u64(),
        Some(spans + spans + 1),
        "{r}"
    );
    assert!(
        r["path"]["drawn"]["span/path"].as_u64().unwrap_or(0) >= 1,
        "{r}"
    );
    // The cut: the bridge and every node it leaves dark.
    assert_eq!(
        r["cut"]["drawn"]["node/isolated"].as_u64(),
        Some(dark as u64),
        "{r}"
    );
    assert!(
        r["cut"]["text"].as_str().unwrap().contains("fibre_nodes"),
        "{r}"
    );
    // On a phone the form stays on the screen.
    let ph = &r["phone"];
    assert!(
        ph["left"].as_f64().unwrap() >= 0.0
            && ph["right"].as_f64().unwrap() <= ph["width"].as_f64().unwrap()
            && ph["scroll_width"].as_f64() == ph["width"].as_f64(),
        "{ph}"
    );
    for name in ["fibre-trace-desk.png", "fibre-trace-phone.png"] {
        let docs = repo("docs/img").join(name);
        if !docs.exists() || std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            std::fs::copy(shots.join(name), &docs).unwrap();
        }
    }
}

/// Residents report a locked shelter and staff see it live: on the demo city, a resident on a
/// phone (360 px) types the shelter's number with one digit misread, the report page offers the
/// right one, the report goes in; the Situational Centre, open before, shows the incident within
/// 2 s without reloading; the residents' map, open before, turns the shelter `locked-reported`
/// after the third report; staff resolve it on the centre page and the map turns it back.
#[test]
fn a_resident_reports_a_locked_shelter_and_the_centre_and_the_map_follow_live() {
    let Some(chromium) = browser_tools("the reports page test") else {
        return;
    };
    let Some(axe) = npm_tool("axe-core/axe.min.js", "the reports page test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let demo = repo("seeds/demo.toml").display().to_string();
    let mut server = Server::start(&dir.path().join("reports.gpkg"), &demo, &[]);
    let dispatcher = token(&server.store, "dispatcher");
    let residents: Vec<String> = (0..2)
        .map(|i| {
            cli_ok(
                &server.store,
                &[
                    "token",
                    "create",
                    "--role",
                    "resident",
                    "--name",
                    &format!("resident-{i}"),
                ],
            )
            .trim()
            .to_string()
        })
        .collect();
    // An open shelter of the demo city, and its number with one digit misread.
    let (s, page) = server.get("/objects?layer=shelters&limit=200");
    assert_eq!(s, 200, "{page}");
    let shelter = page["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["properties"]["status"] != "closed"
                && f["properties"]["number"]
                    .as_str()
                    .is_some_and(|n| misheard(n).is_some())
        })
        .expect("a shelter in the demo city")
        .clone();
    let number = shelter["properties"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong = misheard(&number).unwrap();
    let at = &shelter["geometry"]["coordinates"];
    let img = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reports-screenshots");
    std::fs::create_dir_all(&img).unwrap();
    let out = Command::new("node")
        .arg(repo("web/tests/reports.mjs"))
        .args([
            server.base.as_str(),
            &number,
            &wrong,
            &at[1].to_string(),
            &at[0].to_string(),
            img.to_str().unwrap(),
            axe.to_str().unwrap(),
        ])
        .env("CHROMIUM", &chromium)
        .env("TOKEN", &dispatcher)
        .env("RESIDENTS", residents.join(","))
        .output()
        .expect("node");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "reports page JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    eprintln!(
        "reports pages: {number} read as {wrong}; {r}; screenshots in {}",
        img.display()
    );
    assert!(r["failed"].is_null(), "{}", r["failed"]);
    assert!(out.status.success(), "{r}");
    assert_eq!(r["errors"], Value::Array(vec![]), "page errors: {r}");
    assert_eq!(
        r["outside"],
        Value::Array(vec![]),
        "requests to outside URLs"
    );
    assert!(
        r["offered"]
            .as_array()
            .unwrap()
            .contains(&Value::from(number.as_str())),
        "{r}"
    );
    assert!(
        r["kinds"]
            .as_array()
            .unwrap()
            .contains(&Value::from("locked"))
    );
    assert_eq!(r["receipt"]["number"], number.as_str());
    assert_eq!(r["receipt"]["state"], "new");
    assert!(r["receipt_text"].as_str().unwrap().contains("нове"), "{r}");
    assert!(
        r["centre_ms"].as_u64().unwrap() <= 2000,
        "the centre took {} ms",
        r["centre_ms"]
    );
    assert!(r["centre_item"].as_str().unwrap().contains(&number), "{r}");
    assert_ne!(r["map_before"], "locked-reported", "{r}");
    assert_eq!(r["map_locked"], "locked-reported", "{r}");
    assert_eq!(r["map_after"], r["map_before"], "{r}");
    assert!(r["phone_scroll_width"].as_u64().unwrap() <= 360, "{r}");
    assert_eq!(r["axe"], Value::Array(vec![]), "axe-core: {r}");
    // The incident is resolved in the store too, and the chain holds.
    server.as_token(Some(&dispatcher));
    let (_, list) = server.get("/incidents?state=resolved");
    assert_eq!(list["incidents"].as_array().unwrap().len(), 1, "{list}");
    for name in [
        "report-suggestions-phone.png",
        "report-receipt-phone.png",
        "centre-desk.png",
        "residents-map-locked-phone.png",
    ] {
        assert!(img.join(name).exists(), "{name}");
    }
    // The README's pictures of the tour.
    for (name, kept) in [
        ("report-suggestions-phone.png", "report-phone.png"),
        ("centre-desk.png", "centre-desk.png"),
    ] {
        let docs = repo("docs/img").join(kept);
        if !docs.exists() || std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            std::fs::copy(img.join(name), &docs).unwrap();
        }
    }
}
