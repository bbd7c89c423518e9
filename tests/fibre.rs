//! The fibre network's traces over HTTP on the real server: the New Zealand national backbone
//! (OFDS) checked against an independent computation written here (plain BFS over the same
//! edges), and a small city network where the answers are known by construction.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::{Value, json};

/// Spans as the objects API lists them: (OFDS id, start node id, end node id, route).
fn spans(server: &Server) -> Vec<(String, String, String, Vec<[f64; 2]>)> {
    let (s, page) = server.get("/objects?layer=fibre_spans&limit=1000");
    assert_eq!(s, 200, "{page}");
    page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let a = &p["attributes"];
            let route = f["geometry"]["coordinates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()])
                .collect();
            (
                p["source_id"].as_str().unwrap_or_default().to_string(),
                a["start"].as_str().unwrap_or_default().to_string(),
                a["end"].as_str().unwrap_or_default().to_string(),
                route,
            )
        })
        .collect()
}

/// Nodes reachable from `from` over `edges` (pairs of node ids), leaving out edge `skip` and
/// node `gone`.
fn reach(
    edges: &[(String, String)],
    from: &str,
    skip: Option<usize>,
    gone: Option<&str>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::from([from.to_string()]);
    let mut todo = vec![from.to_string()];
    while let Some(v) = todo.pop() {
        for (i, (a, b)) in edges.iter().enumerate() {
            if Some(i) == skip || gone == Some(a.as_str()) || gone == Some(b.as_str()) {
                continue;
            }
            let w = if *a == v {
                b
            } else if *b == v {
                a
            } else {
                continue;
            };
            if seen.insert(w.clone()) {
                todo.push(w.clone());
            }
        }
    }
    seen
}

/// Connected pieces of the nodes `all` over `edges` without edge `skip` and node `gone`.
fn pieces(
    edges: &[(String, String)],
    all: &BTreeSet<String>,
    skip: Option<usize>,
    gone: Option<&str>,
) -> usize {
    let mut left: BTreeSet<String> = all
        .iter()
        .filter(|n| Some(n.as_str()) != gone)
        .cloned()
        .collect();
    let mut n = 0;
    while let Some(v) = left.iter().next().cloned() {
        for w in reach(edges, &v, skip, gone) {
            left.remove(&w);
        }
        n += 1;
    }
    n
}

fn metres(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (la1, la2) = (a[1].to_radians(), b[1].to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((b[0] - a[0]).to_radians() / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

fn ids(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_nz_backbone_traces_equal_an_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let store = nz_backbone_store(dir.path());
    let (resident, engineer) = (token(&store, "resident"), token(&store, "engineer"));
    let mut server = Server::start(&store, "none", &[]);
    // Every fibre route refuses the public and a resident.
    let routes = [
        "/fibre/bridges",
        "/fibre/path?from=a&to=b",
        "/fibre/isolate?span=a",
        "/fibre/connected?node=a",
    ];
    for r in routes {
        assert_eq!(server.get(r).0, 401, "{r}");
    }
    server.as_token(Some(&resident));
    for r in routes {
        assert_eq!(server.get(r).0, 403, "{r}");
    }
    server.as_token(Some(&engineer));

    let all = spans(&server);
    assert_eq!(all.len(), 56);
    let edges: Vec<(String, String)> = all.iter().map(|s| (s.1.clone(), s.2.clone())).collect();
    let nodes: BTreeSet<String> = edges
        .iter()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    let base = pieces(&edges, &nodes, None, None);
    let want_bridges: BTreeSet<String> = (0..edges.len())
        .filter(|&i| pieces(&edges, &nodes, Some(i), None) > base)
        .map(|i| all[i].0.clone())
        .collect();
    let want_articulation: BTreeSet<String> = nodes
        .iter()
        .filter(|n| pieces(&edges, &nodes, None, Some(n)) > base)
        .cloned()
        .collect();

    let (s, b) = server.get("/fibre/bridges");
    assert_eq!(s, 200, "{b}");
    assert_eq!(ids(&b["bridges"]), want_bridges, "bridges");
    assert_eq!(
        ids(&b["articulation"]),
        want_articulation,
        "articulation nodes"
    );
    assert!(
        !want_bridges.is_empty(),
        "the backbone has spurs: some bridges expected"
    );
    let core = b["core"][0]["id"].as_str().unwrap().to_string();
    // Redundant = still reaches the core whatever single span is cut.
    for n in b["nodes"].as_array().unwrap() {
        let id = n["id"]
            .as_str()
            .unwrap_or_else(|| n["node"].as_str().unwrap());
        let safe = (0..edges.len()).all(|i| reach(&edges, id, Some(i), None).contains(&core));
        assert_eq!(n["redundant"].as_bool(), Some(safe), "{id}");
    }

    // Cutting each bridge isolates exactly the nodes cut off from the core (none, for a
    // bridge in a part of the network that has no way to the core anyway).
    let mut isolating = 0;
    for (i, span) in all
        .iter()
        .enumerate()
        .filter(|(_, s)| want_bridges.contains(&s.0))
    {
        let (s, r) = server.get(&format!("/fibre/isolate?span={}", enc(&span.0)));
        assert_eq!(s, 200, "{r}");
        let before = reach(&edges, &core, None, None);
        let after = reach(&edges, &core, Some(i), None);
        let want: BTreeSet<String> = before.difference(&after).cloned().collect();
        assert_eq!(ids(&r["isolated"]), want, "cut {}", span.0);
        isolating += usize::from(!want.is_empty());
    }
    assert!(isolating > 0, "no bridge cut isolated anything");
    // A non-bridge cut isolates nothing.
    let (i, other) = all
        .iter()
        .enumerate()
        .find(|(_, s)| !want_bridges.contains(&s.0))
        .unwrap();
    let (_, r) = server.get(&format!("/fibre/isolate?span={}", enc(&other.0)));
    assert_eq!(r["isolated"].as_array().unwrap().len(), 0, "{r}");
    let _ = i;

    // The shortest path: no shorter one over the same edges (Dijkstra written here).
    let length: Vec<f64> = all
        .iter()
        .map(|s| s.3.windows(2).map(|w| metres(w[0], w[1])).sum())
        .collect();
    let mut dist: BTreeMap<String, f64> = BTreeMap::from([(core.clone(), 0.0)]);
    let mut done = BTreeSet::new();
    while let Some((v, d)) = dist
        .iter()
        .filter(|(k, _)| !done.contains(*k))
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, d)| (k.clone(), *d))
    {
        done.insert(v.clone());
        for (i, (a, b)) in edges.iter().enumerate() {
            let w = if *a == v {
                b
            } else if *b == v {
                a
            } else {
                continue;
            };
            let nd = d + length[i];
            if dist.get(w).is_none_or(|x| nd < *x) {
                dist.insert(w.clone(), nd);
            }
        }
    }
    // The node farthest from the core by cable.
    let far = dist
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, _)| k.clone())
        .unwrap();
    let (s, p) = server.get(&format!("/fibre/path?from={}&to={}", enc(&core), enc(&far)));
    assert_eq!(s, 200, "{p}");
    let got = p["length_m"].as_f64().unwrap();
    assert!(
        (got - dist[&far]).abs() < 1.0,
        "path {got} m, shortest {} m",
        dist[&far]
    );
    let span_sum: f64 = p["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["length_m"].as_f64().unwrap())
        .sum();
    assert!((span_sum - got).abs() < 1.0);
    assert_eq!(p["nodes"][0]["id"], core.as_str());
    assert_eq!(
        p["nodes"].as_array().unwrap().last().unwrap()["id"],
        far.as_str()
    );
    assert_eq!(p["geojson"]["type"], "FeatureCollection");
    // Everything is reachable from the core on an intact network.
    let (_, c) = server.get(&format!("/fibre/connected?node={}", enc(&core)));
    assert_eq!(ids(&c["nodes"]), reach(&edges, &core, None, None));
    // Bad questions name the field.
    let (s, e) = server.get("/fibre/path?from=nowhere&to=nowhere");
    assert_eq!((s, e["field"].as_str()), (400, Some("from")), "{e}");
    let (s, e) = server.get("/fibre/isolate");
    assert_eq!((s, e["field"].as_str()), (400, Some("span")), "{e}");
}

/// A ring of six nodes (the data centre on it), a branch of two sites off it, and a cable's
/// twin: the answers are known by construction.
#[test]
fn a_city_ring_survives_one_cut_and_a_branch_does_not_unless_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("ring.gpkg");
    // Nodes: r0..r5 on a ring around (35.1, 47.85), s1 and s2 a branch off r3.
    let at = |i: usize| {
        let a = std::f64::consts::TAU * i as f64 / 6.0;
        [35.1 + 0.01 * a.cos(), 47.85 + 0.007 * a.sin()]
    };
    let mut nodes: Vec<(String, [f64; 2])> = (0..6).map(|i| (format!("r{i}"), at(i))).collect();
    let r3 = at(3);
    nodes.push(("s1".into(), [r3[0] - 0.01, r3[1]]));
    nodes.push(("s2".into(), [r3[0] - 0.02, r3[1]]));
    nodes.push(("lonely".into(), [35.2, 47.9]));
    let pos = |id: &str| nodes.iter().find(|n| n.0 == id).unwrap().1;
    let mut spans: Vec<(String, Vec<[f64; 2]>)> = (0..6)
        .map(|i| (format!("ring{i}"), vec![at(i), at((i + 1) % 6)]))
        .collect();
    spans.push(("branch1".into(), vec![pos("r3"), pos("s1")]));
    spans.push(("branch2".into(), vec![pos("s1"), pos("s2")]));
    // Problems: an end that meets no node, a zero-length span, a duplicate of ring0.
    spans.push(("stray".into(), vec![pos("s2"), [35.3, 47.95]]));
    spans.push(("dot".into(), vec![pos("r1"), pos("r1")]));
    spans.push(("ring0-again".into(), vec![at(0), at(1)]));
    let fc = |features: Vec<Value>| json!({"type": "FeatureCollection", "features": features});
    let node_file = dir.path().join("nodes.geojson");
    std::fs::write(
        &node_file,
        fc(nodes
            .iter()
            .map(|(id, p)| json!({"type": "Feature", "id": id, "properties": {"name": id}, "geometry": {"type": "Point", "coordinates": p}}))
            .collect())
        .to_string(),
    )
    .unwrap();
    let span_file = dir.path().join("spans.geojson");
    std::fs::write(
        &span_file,
        fc(spans
            .iter()
            .map(|(id, line)| json!({"type": "Feature", "id": id, "properties": {"name": id}, "geometry": {"type": "LineString", "coordinates": line}}))
            .collect())
        .to_string(),
    )
    .unwrap();
    cli_ok(
        &store,
        &[
            "import",
            node_file.to_str().unwrap(),
            "--layer",
            "fibre_nodes",
        ],
    );
    // The import checks the network and names what is wrong, by id.
    let report: Value = serde_json::from_str(&cli_ok(
        &store,
        &[
            "import",
            span_file.to_str().unwrap(),
            "--layer",
            "fibre_spans",
        ],
    ))
    .unwrap();
    let named: BTreeSet<String> = report["fibre"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["object"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        named,
        BTreeSet::from([
            "stray".into(),
            "dot".into(),
            "ring0-again".into(),
            "lonely".into()
        ]),
        "{report}"
    );
    assert_eq!(report["fibre"]["spans"], 8, "{report}");
    // Cameras served by the branch: one 10 m from s2 (linked as the nearest node within 30 m),
    // one far from any node that names its node, and one served by the ring.
    let cams = dir.path().join("cameras.geojson");
    let s2 = pos("s2");
    std::fs::write(
        &cams,
        fc(vec![
            json!({"type": "Feature", "id": "cam-s2", "properties": {},
                "geometry": {"type": "Point", "coordinates": [s2[0], s2[1] + 0.00009]}}),
            json!({"type": "Feature", "id": "cam-named", "properties": {"fibre_node": "s1"},
                "geometry": {"type": "Point", "coordinates": [35.05, 47.80]}}),
            json!({"type": "Feature", "id": "cam-ring", "properties": {},
                "geometry": {"type": "Point", "coordinates": at(2)}}),
        ])
        .to_string(),
    )
    .unwrap();
    cli_ok(
        &store,
        &["import", cams.to_str().unwrap(), "--layer", "cameras"],
    );
    let mut server = Server::start(&store, "none", &[("CITYTWIN_FIBRE__CORE", "[\"r0\"]")]);
    let engineer = token(&store, "engineer");
    server.as_token(Some(&engineer));
    // The same traces from the command line.
    let trace = |args: &[&str]| -> Value {
        let out = cli_cmd(&store, &[&["trace"], args].concat())
            .env("CITYTWIN_FIBRE__CORE", "[\"r0\"]")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(
        ids(&trace(&["isolate", "branch1"])["isolated"]),
        BTreeSet::from(["s1".into(), "s2".into()])
    );
    assert_eq!(
        trace(&["path", "r0", "r2"])["spans"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(trace(&["bridges"])["bridges"].as_array().unwrap().len(), 2);
    assert_eq!(
        trace(&["connected", "s2"])["nodes"]
            .as_array()
            .unwrap()
            .len(),
        8
    );

    let (s, b) = server.get("/fibre/bridges");
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        ids(&b["bridges"]),
        BTreeSet::from(["branch1".into(), "branch2".into()]),
        "{b}"
    );
    assert_eq!(
        ids(&b["articulation"]),
        BTreeSet::from(["r3".into(), "s1".into()]),
        "{b}"
    );
    let problems: BTreeSet<(String, String)> = b["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().into(),
                p["object"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        BTreeSet::from([
            ("end_meets_no_node".into(), "stray".into()),
            ("zero_length".into(), "dot".into()),
            ("duplicate_span".into(), "ring0-again".into()),
            ("isolated_node".into(), "lonely".into()),
        ]),
        "{b}"
    );
    let redundant: BTreeMap<String, bool> = b["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap().into(),
                n["redundant"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        redundant["r3"] && !redundant["s1"] && !redundant["s2"],
        "{redundant:?}"
    );

    // A ring cut isolates nothing; a branch cut isolates what is behind it; a trench cutting
    // two ring spans isolates the arc between them.
    let isolated = |q: &str| {
        let (s, r) = server.get(&format!("/fibre/isolate?{q}"));
        assert_eq!(s, 200, "{q}: {r}");
        ids(&r["isolated"])
    };
    assert!(isolated("span=ring2").is_empty());
    // What goes dark with the branch: its two sites and the two cameras they serve.
    let (_, r) = server.get("/fibre/isolate?span=branch1");
    assert_eq!(
        (
            r["counts"]["fibre_nodes"].as_u64(),
            r["counts"]["cameras"].as_u64()
        ),
        (Some(2), Some(2)),
        "{r}"
    );
    assert_eq!(r["served"].as_array().unwrap().len(), 2, "{r}");
    let marked = r["geojson"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["kind"] == "served")
        .count();
    assert_eq!(marked, 2, "the served cameras are drawn too: {r}");
    // The yearly figures, for the roles that read the network.
    let (_, st) = server.get("/stats");
    let f = &st["fibre"];
    assert_eq!(
        (f["spans"].as_u64(), f["nodes"].as_u64()),
        (Some(8), Some(9)),
        "{f}"
    );
    assert_eq!(
        (f["served"].as_u64(), f["served_connected"].as_u64()),
        (Some(3), Some(3)),
        "{f}"
    );
    assert_eq!(f["nodes_connected"].as_u64(), Some(8), "{f}");
    let laid: f64 = f["metres_by_status"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!(
        (laid - f["metres_by_deployment"]["unknown"].as_f64().unwrap()).abs() < 1.0,
        "{f}"
    );
    let want: f64 = (0..6).map(|i| metres(at(i), at((i + 1) % 6))).sum::<f64>()
        + metres(pos("r3"), pos("s1"))
        + metres(pos("s1"), pos("s2"));
    assert!(
        (laid - want).abs() < 2.0,
        "{laid} m laid, the routes are {want} m: {f}"
    );
    assert_eq!(
        isolated("span=branch1"),
        BTreeSet::from(["s1".into(), "s2".into()])
    );
    assert_eq!(isolated("span=branch2"), BTreeSet::from(["s2".into()]));
    assert_eq!(
        isolated("span=ring1,ring3"),
        BTreeSet::from(["r2".into(), "r3".into(), "s1".into(), "s2".into()])
    );
    // The cut given as a place: the span nearest to it.
    let mid = [(pos("r3")[0] + pos("s1")[0]) / 2.0, pos("r3")[1] + 0.0001];
    assert_eq!(
        isolated(&format!("lon={}&lat={}", mid[0], mid[1])),
        BTreeSet::from(["s1".into(), "s2".into()])
    );

    // A second cable along the branch (another route): no longer a bridge.
    let twin = dir.path().join("twin.geojson");
    std::fs::write(
        &twin,
        fc(vec![json!({"type": "Feature", "id": "branch1-twin", "properties": {},
            "geometry": {"type": "LineString", "coordinates": [pos("r3"), [pos("r3")[0] - 0.005, pos("r3")[1] + 0.001], pos("s1")]}})])
        .to_string(),
    )
    .unwrap();
    server.as_token(None);
    assert_eq!(server.get("/stats").1["fibre"], Value::Null);
    server.stop();
    cli_ok(
        &store,
        &["import", twin.to_str().unwrap(), "--layer", "fibre_spans"],
    );
    let mut server = Server::start(&store, "none", &[("CITYTWIN_FIBRE__CORE", "[\"r0\"]")]);
    server.as_token(Some(&engineer));
    let (_, b) = server.get("/fibre/bridges");
    assert_eq!(
        ids(&b["bridges"]),
        BTreeSet::from(["branch2".into()]),
        "{b}"
    );
    let isolated = |q: &str| {
        let (s, r) = server.get(&format!("/fibre/isolate?{q}"));
        assert_eq!(s, 200, "{q}: {r}");
        ids(&r["isolated"])
    };
    assert!(isolated("span=branch1").is_empty());
    assert_eq!(
        isolated("span=branch1,branch1-twin"),
        BTreeSet::from(["s1".into(), "s2".into()])
    );
    // A span set to `cut` is cut: the path goes round the ring the other way.
    let (_, before) = server.get("/fibre/path?from=r0&to=r2");
    let (s, f) = server.get("/objects?layer=fibre_spans&limit=100");
    assert_eq!(s, 200);
    let ring0 = f["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["source_id"] == "ring0")
        .unwrap()["properties"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, e) = server.patch(
        &format!("/objects/{}", enc(&ring0)),
        &json!({"status": "cut"}),
    );
    assert_eq!(s, 200, "{e}");
    let (_, after) = server.get("/fibre/path?from=r0&to=r2");
    let names = |p: &Value| -> Vec<String> {
        p["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&before), ["ring0", "ring1"], "{before}");
    assert_eq!(
        names(&after),
        ["ring5", "ring4", "ring3", "ring2"],
        "{after}"
    );
}

/// The OFDS example network imports clean: no topology problem.
#[test]
fn the_ofds_example_network_has_no_topology_problem() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("ex.gpkg");
    cli_ok(
        &store,
        &[
            "import",
            repo("data/fibre/example_network-package.json")
                .to_str()
                .unwrap(),
        ],
    );
    let engineer = token(&store, "engineer");
    let mut server = Server::start(&store, "none", &[]);
    server.as_token(Some(&engineer));
    let (s, b) = server.get("/fibre/bridges");
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["problems"], json!([]), "{b}");
    assert!(!b["core"].as_array().unwrap().is_empty(), "{b}");
    // Node "1" and span "1" share a short id: each is found in its own kind.
    let (s, p) = server.get("/fibre/path?from=1&to=2");
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["spans"].as_array().map(Vec::len), Some(1), "{p}");
    let (s, r) = server.get("/fibre/isolate?span=1");
    assert_eq!(s, 200, "{r}");
    // An empty name is no name.
    let (s, e) = server.get("/fibre/connected?node=");
    assert_eq!((s, e["field"].as_str()), (400, Some("node")), "{e}");
}
