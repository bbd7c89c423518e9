//! Test harness: starts the real `citytwin` binary on 127.0.0.1 and talks HTTP to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_citytwin");

/// A file of the repository's `data/` or `seeds/` folder.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The CLI with a store and arguments, logging warnings only, not yet run.
pub fn cli_cmd(store: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--store")
        .arg(store)
        .args(args)
        .env("CITYTWIN_LOG", "warn")
        .env_remove("CITYTWIN_CONFIG");
    cmd
}

/// Runs the CLI with a store; returns its output.
pub fn cli(store: &Path, args: &[&str]) -> Output {
    cli_cmd(store, args).output().expect("run citytwin")
}

/// Runs the CLI and insists it succeeds; returns stdout.
pub fn cli_ok(store: &Path, args: &[&str]) -> String {
    let out = cli(store, args);
    assert!(
        out.status.success(),
        "citytwin {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A new store in `dir` holding the Helsinki OSM extract (imported and numbered by the CLI).
pub fn helsinki_store(dir: &Path) -> PathBuf {
    let store = dir.join("s.gpkg");
    cli_ok(
        &store,
        &[
            "import",
            repo("data/osm/helsinki.osm.pbf").to_str().unwrap(),
        ],
    );
    store
}

/// A new store in `dir` holding the New Zealand national fibre backbone (OFDS, imported by
/// the CLI).
pub fn nz_backbone_store(dir: &Path) -> PathBuf {
    let store = dir.join("nz.gpkg");
    cli_ok(
        &store,
        &[
            "import",
            repo("data/fibre/nz_chorus_ofds.json").to_str().unwrap(),
        ],
    );
    store
}

/// Layer name → count, from `citytwin layers`.
pub fn counts(store: &Path) -> std::collections::BTreeMap<String, u64> {
    let v: Value = serde_json::from_str(&cli_ok(store, &["layers"])).expect("layers JSON");
    v.as_array()
        .expect("array")
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `citytwin audit verify` finds the history's hash chain intact; returns its report.
pub fn assert_chain_intact(store: &Path) -> String {
    let verify = cli_ok(store, &["audit", "verify"]);
    assert!(verify.contains("ok: the chain is intact"), "{verify}");
    verify
}

/// A new API token for `role` on `store` (`citytwin token create`).
pub fn token(store: &Path, role: &str) -> String {
    cli_ok(
        store,
        &[
            "token",
            "create",
            "--role",
            role,
            "--name",
            &format!("test-{role}"),
        ],
    )
    .trim()
    .to_string()
}

/// A running server.
pub struct Server {
    child: Child,
    pub base: String,
    pub store: PathBuf,
    agent: ureq::Agent,
    /// Sent as `Authorization: Bearer …` with every request when set.
    pub token: Option<String>,
}

impl Server {
    /// Starts `citytwin serve` on a free port with the given store and seed (`none` for none).
    pub fn start(store: &Path, seed: &str, env: &[(&str, &str)]) -> Server {
        let mut cmd = cli_cmd(store, &["serve", "--bind", "127.0.0.1:0", "--seed", seed]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn citytwin serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(180))
            .expect("server did not report its address within 180 s");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Server {
            child,
            base,
            store: store.to_path_buf(),
            agent,
            token: None,
        }
    }

    /// The same server, asked with `token` (or none) from now on.
    pub fn as_token(&mut self, token: Option<&str>) -> &mut Server {
        self.token = token.map(str::to_string);
        self
    }

    /// `req` with the server's token as `Authorization`, when one is set.
    fn authed<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn answer(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
        let mut resp = resp.expect("HTTP request");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let req = self.authed(self.agent.get(self.url(path)));
        Self::answer(req.call())
    }

    /// A GET with request headers; answers status, response headers (lower-case names) and the
    /// body bytes as sent (not decompressed).
    pub fn get_raw(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, std::collections::HashMap<String, String>, Vec<u8>) {
        let mut req = self.authed(self.agent.get(self.url(path)));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.call().expect("HTTP request");
        let status = resp.status().as_u16();
        let hs = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_default();
        (status, hs, body)
    }

    pub fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        let req = self.authed(self.agent.patch(self.url(path)));
        Self::answer(req.send_json(body))
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let req = self.authed(self.agent.post(self.url(path)));
        Self::answer(req.send_json(body))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        let req = self.authed(self.agent.delete(self.url(path)));
        Self::answer(req.call())
    }

    /// `kill -9`: no chance to flush or shut down.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Graceful stop (SIGTERM) and wait.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Percent-encodes a path segment (numbers are often Cyrillic).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `CI` is set (to anything non-empty): then a test may not skip for a missing tool.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The one way a test skips for want of an outside tool: answers `found`. When the tool is
/// missing, under CI (`CI` set) the test fails with the command that installs it; elsewhere it
/// skips, saying so on the process's own stderr. (`eprintln!` would not do: `cargo test`
/// captures it and shows it only for failed tests, so the skip would pass unseen.)
pub fn tool_or_skip(found: bool, what: &str, missing: &str, install: &str) -> bool {
    if found {
        return true;
    }
    if in_ci() {
        panic!(
            "{what} needs {missing}, which is missing, and CI is set so the test may not skip: \
             install it with `{install}` (.ci/run does)"
        );
    }
    let line = format!(
        "\n*** SKIPPED {}: {what} needs {missing}, which is missing; install it with `{install}` \
         (.ci/run does; with CI=1 this is a failure) ***\n",
        std::thread::current().name().unwrap_or("a test")
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    false
}

/// Whether the program `tool` is on PATH.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Whether the program `tool` is on PATH; when not, fails under CI or skips visibly (see
/// [`tool_or_skip`]), naming `install`, the command that installs it.
pub fn have_tool(tool: &str, what: &str, install: &str) -> bool {
    tool_or_skip(on_path(tool), what, &format!("`{tool}`"), install)
}

/// A file the npm tools of `web/` installed (`web/node_modules/<path>`); when missing, fails
/// under CI or skips visibly (see [`tool_or_skip`]).
pub fn npm_tool(path: &str, what: &str) -> Option<PathBuf> {
    let p = repo("web/node_modules").join(path);
    let found = p.exists();
    tool_or_skip(
        found,
        what,
        &format!("web/node_modules/{path}"),
        "cd web && npm ci",
    )
    .then_some(p)
}

/// The layer tables of `store` (from `gpkg_geometry_columns`).
pub fn layer_tables(store: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(store).expect("open the store");
    conn.prepare("SELECT table_name FROM gpkg_geometry_columns ORDER BY table_name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Whether an index box is the exact envelope as the R*Tree keeps it: in 32-bit floats,
/// rounded outward.
fn holds(index: [f64; 4], exact: [f64; 4]) -> bool {
    let near = |a: f64, b: f64| (a - b).abs() <= b.abs() * 2.5e-7;
    (0..4).all(|k| near(index[k], exact[k]))
        && index[0] <= exact[0]
        && index[1] >= exact[1]
        && index[2] <= exact[2]
        && index[3] >= exact[3]
}

/// Every layer's GeoPackage spatial index (`rtree_<layer>_geom`) is declared in
/// `gpkg_extensions` and holds one entry per row with a geometry, that geometry's envelope,
/// and nothing else. Returns the rows' envelopes per layer (fid → `[min_x, max_x, min_y,
/// max_y]`).
pub fn assert_spatial_index_exact(
    store: &Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<i64, [f64; 4]>> {
    use std::collections::BTreeMap;
    let conn = rusqlite::Connection::open(store).expect("open the store");
    let mut all = BTreeMap::new();
    for t in layer_tables(store) {
        let declared: bool = conn
            .query_row(
                "SELECT count(*) = 1 FROM gpkg_extensions WHERE table_name = ?1 \
                 AND column_name = 'geom' AND extension_name = 'gpkg_rtree_index' \
                 AND scope = 'write-only'",
                [&t],
                |r| r.get(0),
            )
            .unwrap();
        assert!(declared, "{t}: no gpkg_rtree_index in gpkg_extensions");
        let rows: BTreeMap<i64, [f64; 4]> = conn
            .prepare(&format!("SELECT fid, geom FROM \"{t}\""))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, Vec<u8>>(1)?)))
            .unwrap()
            .filter_map(|r| {
                let (fid, blob) = r.unwrap();
                let e = citytwin::store::gpkg::envelope(&blob);
                e.unwrap_or_else(|e| panic!("{t} {fid}: {e}"))
                    .map(|e| (fid, e))
            })
            .collect();
        let index: BTreeMap<i64, [f64; 4]> = conn
            .prepare(&format!(
                "SELECT id, minx, maxx, miny, maxy FROM \"rtree_{t}_geom\""
            ))
            .unwrap_or_else(|e| panic!("{t}: no spatial index: {e}"))
            .query_map([], |r| {
                Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let stale: Vec<_> = index.keys().filter(|id| !rows.contains_key(id)).collect();
        let missing: Vec<_> = rows.keys().filter(|id| !index.contains_key(id)).collect();
        assert!(
            stale.is_empty() && missing.is_empty(),
            "{t}: {} index entries without a row (first {:?}), {} rows without an entry (first {:?})",
            stale.len(),
            &stale[..stale.len().min(10)],
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        for (id, e) in &rows {
            assert!(
                holds(index[id], *e),
                "{t} {id}: index {:?}, row {e:?}",
                index[id]
            );
        }
        all.insert(t, rows);
    }
    all
}

/// The ids the spatial index of layer `table` finds in the box `b` (`[min_x, min_y, max_x,
/// max_y]`), in order, after checking they are exactly the rows whose envelope (`rows`, as
/// [`assert_spatial_index_exact`] returns them) meets the box, give or take a row within the
/// index's 32-bit rounding of an edge.
pub fn index_box_query(
    store: &Path,
    table: &str,
    rows: &std::collections::BTreeMap<i64, [f64; 4]>,
    b: [f64; 4],
) -> Vec<i64> {
    let conn = rusqlite::Connection::open(store).expect("open the store");
    let found: Vec<i64> = conn
        .prepare(&format!(
            "SELECT id FROM \"rtree_{table}_geom\" \
             WHERE maxx >= ?1 AND minx <= ?3 AND maxy >= ?2 AND miny <= ?4 ORDER BY id"
        ))
        .unwrap()
        .query_map(b, |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(
        found.iter().all(|id| rows.contains_key(id)),
        "{table}: the index finds rows that are gone"
    );
    let meets = |e: &[f64; 4], slack: f64| {
        e[1] >= b[0] - slack && e[0] <= b[2] + slack && e[3] >= b[1] - slack && e[2] <= b[3] + slack
    };
    for (id, e) in rows {
        let wanted = meets(e, 0.0);
        let may = meets(e, 1e-5);
        let got = found.binary_search(id).is_ok();
        assert!(
            got == wanted || (got && may),
            "{table} {id} at {e:?}: the index {} it in {b:?}",
            if got { "finds" } else { "misses" }
        );
    }
    found
}

/// The column and row of the tile at zoom `z` holding a position (Web Mercator).
pub fn tile_of(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let r = lat.to_radians();
    let y =
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
    (x, y)
}

/// An answer as text without the asker's own words echoed back (`query`, `normalized`, a
/// `note` about them, `seen[].asked`), which tell nothing: what is left is what the server
/// says.
pub fn answer_text(json: &Value, raw: &str) -> String {
    match json {
        Value::Object(m) => {
            let mut m = m.clone();
            for k in ["query", "normalized", "note"] {
                m.remove(k);
            }
            for s in m
                .get_mut("seen")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(o) = s.as_object_mut() {
                    o.remove("asked");
                }
            }
            Value::Object(m).to_string()
        }
        _ => raw.to_string(),
    }
}

/// Every feature of a layer from `/objects`, page by page.
pub fn all_features(server: &Server, layer: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let (s, page) = server.get(&format!("/objects?layer={layer}&limit=1000&after={after}"));
        assert_eq!(s, 200, "{page}");
        let fs = page["features"].as_array().unwrap().clone();
        let empty = fs.is_empty();
        out.extend(fs);
        match page["next_after"].as_u64() {
            Some(n) if !empty => after = n,
            _ => break,
        }
    }
    out
}
