//! What the server serves besides data: the map page and its script, MapLibre GL JS (vendored
//! in `web/vendor`), the MapLibre styles of `styles/` with this server's URLs filled in, and
//! glyphs for map labels made from the font in `data/fonts`. Everything is compiled into the
//! binary: no file is read at run time and no outside URL is needed.

pub mod fonts;
pub mod sprites;
pub mod styles;

/// One embedded file.
pub struct Asset {
    /// Path under `/assets/` (the page itself is `index.html`, served at `/`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $ct:literal) => {
        Asset {
            path: $path,
            content_type: $ct,
            bytes: include_bytes!(concat!("../../web/", $path)),
        }
    };
}

/// Every embedded file.
pub const FILES: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("shelters.html", "text/html; charset=utf-8"),
    asset!("shelters.js", "text/javascript; charset=utf-8"),
    asset!("shelters.css", "text/css; charset=utf-8"),
    asset!("shelters-sw.js", "text/javascript; charset=utf-8"),
    asset!("dispatch.html", "text/html; charset=utf-8"),
    asset!("dispatch.js", "text/javascript; charset=utf-8"),
    asset!("dispatch.css", "text/css; charset=utf-8"),
    asset!("report.html", "text/html; charset=utf-8"),
    asset!("report.js", "text/javascript; charset=utf-8"),
    asset!("report.css", "text/css; charset=utf-8"),
    asset!("centre.html", "text/html; charset=utf-8"),
    asset!("centre.js", "text/javascript; charset=utf-8"),
    asset!("centre.css", "text/css; charset=utf-8"),
    asset!("live.js", "text/javascript; charset=utf-8"),
    asset!("common.js", "text/javascript; charset=utf-8"),
    asset!(
        "vendor/pmtiles/pmtiles.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/pmtiles/LICENSE.txt", "text/plain; charset=utf-8"),
    asset!(
        "vendor/maplibre-gl/maplibre-gl.mjs",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "vendor/maplibre-gl/maplibre-gl-worker.mjs",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "vendor/maplibre-gl/maplibre-gl.css",
        "text/css; charset=utf-8"
    ),
    asset!(
        "vendor/maplibre-gl/LICENSE.txt",
        "text/plain; charset=utf-8"
    ),
];

/// An embedded file by its path under `/assets/`.
pub fn file(path: &str) -> Option<&'static Asset> {
    FILES.iter().find(|a| a.path == path)
}

/// A strong ETag of embedded bytes (they only change with the binary).
pub fn etag(bytes: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}
