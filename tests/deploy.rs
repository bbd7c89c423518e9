//! `deploy/loopback.sh`: the loopback deployment comes up (PostGIS, two instances, nginx),
//! balances, caches public tiles and only those, passes the caller's address on, and goes
//! down again.

mod common;

use std::process::Command;

fn free_port_pair() -> u16 {
    // nginx on the port, the instances on the next two.
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p < 65_000 && (1..=2).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok())
        {
            return p;
        }
    }
}

fn loopback(args: &[&str], port: u16, db: &str) -> std::process::Output {
    Command::new(common::repo("deploy/loopback.sh"))
        .args(args)
        .env("PORT", port.to_string())
        .env("DB", db)
        .env("BIN", env!("CARGO_BIN_EXE_citytwin"))
        .env("CITYTWIN_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn the_loopback_deployment_balances_caches_and_passes_the_caller_on() {
    let ready = common::on_path("psql")
        && std::path::Path::new("/usr/sbin/nginx").is_file()
        && std::path::Path::new("/usr/share/postgresql/15/extension/postgis.control").is_file();
    if !common::tool_or_skip(
        ready,
        "the loopback deployment",
        "nginx, psql and PostGIS",
        "apt-get install nginx postgresql-15-postgis-3",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("loopback");
    let work = work.to_str().unwrap();
    let port = free_port_pair();
    let db = format!("citytwin_deploy_{}", std::process::id());
    let out = loopback(&["up", work], port, &db);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    struct Down<'a>(&'a str, u16, &'a str);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = Command::new(common::repo("deploy/loopback.sh"))
                .args(["down", self.0])
                .env("PORT", self.1.to_string())
                .env("DB", self.2)
                .env("DROP", "1")
                .output();
        }
    }
    let _down = Down(work, port, &db);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("up: 2 instances"), "{said}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut req = agent.get(format!("{base}{path}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut r = req.call().unwrap();
        let cache = r
            .headers()
            .get("x-cache")
            .map(|v| v.to_str().unwrap_or("").to_string());
        (
            r.status().as_u16(),
            cache,
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    };
    // Both instances answer the same city, through nginx and directly.
    let (s, _, health) = get("/health", &[]);
    assert_eq!(s, 200, "{health}");
    let h: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(h["store"]["kind"], "postgis");
    for i in 1..=2 {
        let direct: serde_json::Value = agent
            .get(format!("http://127.0.0.1:{}/health", port + i))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        assert_eq!(direct["objects"], h["objects"]);
    }
    // A public tile is cached after its first answer; a token holder's never.
    let tj: serde_json::Value = serde_json::from_str(&get("/tiles/shelters.json", &[]).2).unwrap();
    let t = tj["tiles"][0].as_str().unwrap();
    let path = &t[t.find("/tiles/").unwrap()..];
    let list: serde_json::Value = serde_json::from_str(&get("/shelters/list", &[]).2).unwrap();
    let at = &list["features"][0]["geometry"]["coordinates"];
    let z = 14;
    let (x, y) = common::tile_of(at[0].as_f64().unwrap(), at[1].as_f64().unwrap(), z);
    let one = path
        .replace("{z}", &z.to_string())
        .replace("{x}", &x.to_string())
        .replace("{y}", &y.to_string());
    let first = get(&one, &[]);
    let second = get(&one, &[]);
    assert_eq!(first.0, 200, "{first:?}");
    assert_eq!(first.1.as_deref(), Some("MISS"));
    assert_eq!(second.1.as_deref(), Some("HIT"));
    let token = {
        let out = common::cli_cmd(
            &dir.path().join("unused.gpkg"),
            &["token", "create", "--role", "admin", "--name", "t"],
        )
        .env(
            "CITYTWIN_STORE__POSTGRES",
            format!("postgresql://postgres@127.0.0.1:5432/{db}"),
        )
        .output()
        .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let bearer = format!("Bearer {token}");
    for _ in 0..2 {
        let staff = get(&one, &[("Authorization", &bearer)]);
        assert_eq!(staff.1.as_deref(), Some("BYPASS"), "{staff:?}");
    }
    // The public's limits count the caller nginx names, not nginx: one address spends its
    // allowance, another still has its own.
    let mut limited = false;
    for _ in 0..1500 {
        let (s, _, _) = get("/resolve?q=1", &[("X-Forwarded-For", "203.0.113.7")]);
        if s == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "one caller was never limited");
    let (s, _, body) = get("/resolve?q=1", &[("X-Forwarded-For", "203.0.113.8")]);
    assert_eq!(s, 200, "{body}");
    let out = loopback(&["status", work], port, &db);
    let status = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        status.matches("\"kind\":\"postgis\"").count(),
        3,
        "{status}"
    );
}
