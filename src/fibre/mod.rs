//! The city's fibre network for engineers: the path between two points, what a cut leaves
//! without a way to the core, every span whose cut disconnects something, and everything
//! reachable from a node. The graph ([`graph::Graph`]) is built from the twin when first asked
//! and again after the fibre layers change (a span set to `broken`/`cut` is a cut).

pub mod generate;
pub mod graph;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::access::Visible;
use crate::model::{Geometry, ObjectId};
use crate::twin::Twin;
use graph::{Graph, NODES, SPANS, name_of};

/// `[fibre]` settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FibreSettings {
    /// The core: the data centre and points of presence (node ids, OFDS ids or numbers). A
    /// node cut off from every one of them is isolated. Empty: the best-connected node.
    pub core: Vec<String>,
    /// Layers whose objects the network serves (a camera, a Wi-Fi point): each is linked to
    /// the node its `fibre_node` attribute names, else to the nearest node within `link_m`.
    pub linked_layers: Vec<String>,
    /// How far a served object may be from its node, metres.
    pub link_m: f64,
}

impl Default for FibreSettings {
    fn default() -> Self {
        FibreSettings {
            core: Vec::new(),
            linked_layers: vec!["cameras".into(), "wifi".into()],
            link_m: 30.0,
        }
    }
}

/// What is wrong with a trace question: the field and why.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FibreError {
    #[error("{field}: {reason}")]
    Bad { field: &'static str, reason: String },
    #[error("{0}")]
    NotFound(String),
    /// The configuration names something the network does not hold.
    #[error("{0}")]
    Config(String),
}

fn bad(field: &'static str, reason: impl Into<String>) -> FibreError {
    FibreError::Bad {
        field,
        reason: reason.into(),
    }
}

/// A node in an answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeRef {
    /// The OFDS id (`network/node`) when the node came from OFDS, else its number.
    pub id: String,
    pub number: Option<String>,
    pub name: Option<String>,
    pub lon: f64,
    pub lat: f64,
}

/// A span in an answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SpanRef {
    pub id: String,
    pub number: Option<String>,
    pub length_m: f64,
    pub status: String,
    /// The node ids at its ends.
    pub ends: [String; 2],
}

/// `/fibre/path`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PathAnswer {
    pub from: NodeRef,
    pub to: NodeRef,
    pub length_m: f64,
    /// In order from `from`.
    pub nodes: Vec<NodeRef>,
    pub spans: Vec<SpanRef>,
    /// The spans and nodes as a GeoJSON FeatureCollection, to draw.
    #[schema(value_type = Object)]
    pub geojson: serde_json::Value,
}

/// `/fibre/isolate`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IsolateAnswer {
    pub cut: Vec<SpanRef>,
    pub core: Vec<NodeRef>,
    /// Nodes that had a path to the core and have none after the cut.
    pub isolated: Vec<NodeRef>,
    /// Objects served by the isolated nodes (linked layers), by their number.
    pub served: Vec<String>,
    /// Isolated nodes and the objects they serve, per layer.
    pub counts: BTreeMap<String, usize>,
    #[schema(value_type = Object)]
    pub geojson: serde_json::Value,
}

/// Per node: whether it keeps a way to the core when any one span is cut.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Redundancy {
    pub node: String,
    /// Two edge-disjoint paths to the core.
    pub redundant: bool,
}

/// `/fibre/bridges`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BridgesAnswer {
    /// Spans whose cut disconnects something (a span with a parallel twin is none).
    pub bridges: Vec<SpanRef>,
    /// Nodes whose loss disconnects something.
    pub articulation: Vec<NodeRef>,
    pub core: Vec<NodeRef>,
    /// Every node but the core, with or without a second way to it.
    pub nodes: Vec<Redundancy>,
    /// Share of those nodes with two edge-disjoint paths to the core.
    pub redundant_share: f64,
    /// What is wrong with the network's data (span ends meeting no node, …).
    pub problems: Vec<graph::Problem>,
}

/// `/fibre/connected`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectedAnswer {
    pub node: NodeRef,
    pub nodes: Vec<NodeRef>,
    pub spans: usize,
    pub length_m: f64,
    #[schema(value_type = Object)]
    pub geojson: serde_json::Value,
}

/// The graph, rebuilt when the fibre layers change.
#[derive(Debug)]
pub struct FibreService {
    settings: FibreSettings,
    built: crate::twin::ViewCache<Graph>,
}

impl FibreService {
    pub fn new(settings: FibreSettings) -> FibreService {
        FibreService {
            settings,
            built: Default::default(),
        }
    }

    /// The graph of `twin` as `visible` sees it: one per view (the fibre and linked layers
    /// read, hidden objects or not), rebuilt when any of those layers changes.
    pub fn graph(&self, twin: &Twin, visible: &Visible) -> Arc<Graph> {
        let layers: Vec<crate::model::LayerId> = [NODES, SPANS]
            .iter()
            .copied()
            .chain(self.settings.linked_layers.iter().map(String::as_str))
            .filter_map(|n| twin.layers().by_name(n))
            .collect();
        self.built.get(twin, visible, &layers, || {
            let mut g = Graph::build(twin, visible);
            g.link(
                twin,
                visible,
                &self.settings.linked_layers,
                self.settings.link_m,
            );
            g
        })
    }

    /// The core nodes: the configured ones, else the best-connected node.
    pub fn core(&self, twin: &Twin, g: &Graph) -> Result<Vec<u32>, FibreError> {
        if self.settings.core.is_empty() {
            return Ok((0..g.nodes.len() as u32)
                .max_by_key(|&v| (g.degree(v), std::cmp::Reverse(v)))
                .into_iter()
                .collect());
        }
        self.settings
            .core
            .iter()
            .map(|c| {
                node(twin, g, c).map_err(|e| {
                    FibreError::Config(format!("the configured [fibre] core {c:?}: {e}"))
                })
            })
            .collect()
    }
}

/// An object's painted number, as shown.
fn number_of(twin: &Twin, o: &crate::model::Object) -> Option<String> {
    o.number
        .as_ref()
        .map(|n| n.display(twin.layers().def(o.layer), twin.serial_width()))
}

fn node_ref(twin: &Twin, g: &Graph, v: u32) -> NodeRef {
    let id = g.nodes[v as usize];
    let o = twin.get(id);
    let at = o.map_or([0.0, 0.0], |o| o.geometry.anchor());
    NodeRef {
        id: name_of(twin, id),
        number: o.and_then(|o| number_of(twin, o)),
        name: o.and_then(|o| o.attributes.get("name").map(|v| v.as_text())),
        lon: at[0],
        lat: at[1],
    }
}

fn span_ref(twin: &Twin, g: &Graph, e: u32) -> SpanRef {
    let edge = &g.edges[e as usize];
    let o = twin.get(edge.span);
    SpanRef {
        id: name_of(twin, edge.span),
        number: o.and_then(|o| number_of(twin, o)),
        length_m: (edge.length_m * 10.0).round() / 10.0,
        status: o.map_or("unknown", |o| o.status.as_str()).into(),
        ends: [
            name_of(twin, g.nodes[edge.a as usize]),
            name_of(twin, g.nodes[edge.b as usize]),
        ],
    }
}

/// Spans and nodes as a FeatureCollection.
fn geojson(twin: &Twin, g: &Graph, edges: &[u32], nodes: &[u32], role: &str) -> serde_json::Value {
    let mut features = Vec::new();
    for &e in edges {
        if let Some(o) = twin.get(g.edges[e as usize].span)
            && let Geometry::Line(line) = &o.geometry
        {
            let s = span_ref(twin, g, e);
            features.push(serde_json::json!({
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {"kind": "span", "role": role, "id": s.id, "number": s.number,
                               "length_m": s.length_m, "status": s.status},
            }));
        }
    }
    for &v in nodes {
        let n = node_ref(twin, g, v);
        features.push(serde_json::json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [n.lon, n.lat]},
            "properties": {"kind": "node", "role": role, "id": n.id, "number": n.number, "name": n.name},
        }));
    }
    serde_json::json!({"type": "FeatureCollection", "features": features})
}

fn lon_lat(s: &str) -> Option<[f64; 2]> {
    let (a, b) = s.split_once(',')?;
    let (lon, lat) = (a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?);
    (lon.is_finite() && lat.is_finite() && lon.abs() <= 180.0 && lat.abs() <= 90.0)
        .then_some([lon, lat])
}

/// A node (or, with `span`, a span) of the network named by its OFDS id (whole, or the part
/// after the network), its number, or (`lon,lat`) the nearest to a position. Only what the
/// network holds for this viewer is found, and what is not is answered alike.
fn find(twin: &Twin, g: &Graph, span: bool, s: &str) -> Result<ObjectId, String> {
    let what = if span { "span" } else { "node" };
    let s = s.trim();
    if s.is_empty() {
        return Err(format!(
            "empty: name a {what} by its id, its number or lon,lat"
        ));
    }
    let held = |id: ObjectId| {
        if span {
            g.edge_of(id).is_some()
        } else {
            g.node_of(id).is_some()
        }
    };
    match g.by_name(span, s) {
        Some(Ok(id)) => return Ok(id),
        Some(Err(())) => {
            return Err(format!(
                "{s:?} is the id of several {what}s: give network/id"
            ));
        }
        None => {}
    }
    if let Some(p) = lon_lat(s) {
        return nearest_of(twin, g, span, p)
            .ok_or_else(|| format!("the network has no {what} near {s}"));
    }
    twin.find_number(s)
        .into_iter()
        .map(|o| o.id)
        .find(|id| held(*id))
        .ok_or_else(|| format!("no {what} of the network has id or number {s:?}"))
}

/// The network's node (or span) nearest to `p`, in metres.
fn nearest_of(twin: &Twin, g: &Graph, span: bool, p: [f64; 2]) -> Option<ObjectId> {
    let layer = twin.layers().by_name(if span { SPANS } else { NODES })?;
    if !span {
        // The R-tree walks in degrees: the first few re-ranked on the sphere.
        return twin
            .nearest_points(layer, p)
            .filter(|(id, _)| g.node_of(*id).is_some())
            .take(16)
            .map(|(id, q)| (crate::resolve::place::distance_m(p, q), id))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|(_, id)| id);
    }
    // Spans: the ones whose box meets a growing box around `p`, by their segments.
    let mut r = 0.002;
    while r <= 2.0 {
        let best = twin
            .query(layer, [p[0] - r, p[1] - r, p[0] + r, p[1] + r])
            .into_iter()
            .filter(|id| g.edge_of(*id).is_some())
            .filter_map(|id| {
                let Geometry::Line(line) = &twin.get(id)?.geometry else {
                    return None;
                };
                let d = line
                    .windows(2)
                    .map(|w| segment_distance(p, w[0], w[1]))
                    .fold(f64::INFINITY, f64::min);
                Some((d, id))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        // Nearer than the box's half side: nothing outside the box can be nearer.
        if let Some((d, id)) = best
            && d <= r * 111_000.0 * p[1].to_radians().cos()
        {
            return Some(id);
        }
        r *= 4.0;
    }
    None
}

/// Metres from `p` to the segment `a`–`b` (on a local plane).
fn segment_distance(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let k = p[1].to_radians().cos();
    let (ax, ay, bx, by) = (
        (a[0] - p[0]) * k,
        a[1] - p[1],
        (b[0] - p[0]) * k,
        b[1] - p[1],
    );
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (x, y) = (ax + t * dx, ay + t * dy);
    (x * x + y * y).sqrt() * 111_195.0
}

fn node(twin: &Twin, g: &Graph, s: &str) -> Result<u32, String> {
    let id = find(twin, g, false, s)?;
    g.node_of(id)
        .ok_or_else(|| format!("no node of the network has id or number {s:?}"))
}

/// The shortest path by cable length between two nodes.
pub fn path(twin: &Twin, g: &Graph, from: &str, to: &str) -> Result<PathAnswer, FibreError> {
    let a = node(twin, g, from).map_err(|e| bad("from", e))?;
    let b = node(twin, g, to).map_err(|e| bad("to", e))?;
    let edges = g.path(a, b).ok_or_else(|| {
        FibreError::NotFound(format!("no working cable path from {from:?} to {to:?}"))
    })?;
    let mut nodes = vec![a];
    for &e in &edges {
        let edge = &g.edges[e as usize];
        let last = *nodes.last().unwrap_or(&a);
        nodes.push(if edge.a == last { edge.b } else { edge.a });
    }
    Ok(PathAnswer {
        from: node_ref(twin, g, a),
        to: node_ref(twin, g, b),
        length_m: (edges
            .iter()
            .map(|&e| g.edges[e as usize].length_m)
            .sum::<f64>()
            * 10.0)
            .round()
            / 10.0,
        nodes: nodes.iter().map(|&v| node_ref(twin, g, v)).collect(),
        spans: edges.iter().map(|&e| span_ref(twin, g, e)).collect(),
        geojson: geojson(twin, g, &edges, &nodes, "path"),
    })
}

/// What a cut of `spans` (names, or `lon,lat` snapped to the nearest span) leaves without a
/// path to the core.
pub fn isolate(
    twin: &Twin,
    g: &Graph,
    core: &[u32],
    spans: &[String],
) -> Result<IsolateAnswer, FibreError> {
    if spans.is_empty() {
        return Err(bad("span", "name at least one span (or give lon and lat)"));
    }
    if spans.len() > 100 {
        return Err(bad("span", "at most 100 spans"));
    }
    let mut cut = vec![false; g.edges.len()];
    let mut cut_edges = Vec::new();
    for s in spans {
        let id = find(twin, g, true, s).map_err(|e| bad("span", e))?;
        let e = g.edge_of(id).ok_or_else(|| {
            bad(
                "span",
                format!("no span of the network has id or number {s:?}"),
            )
        })?;
        if !cut[e as usize] {
            cut[e as usize] = true;
            cut_edges.push(e);
        }
    }
    let before = g.reach_core(core);
    let after = g.reach(core, &cut);
    let isolated: Vec<u32> = (0..g.nodes.len() as u32)
        .filter(|&v| before[v as usize] && !after[v as usize])
        .collect();
    let mut counts = BTreeMap::new();
    counts.insert(NODES.to_string(), isolated.len());
    let mut served = Vec::new();
    for &v in &isolated {
        for &id in g.linked(v) {
            if let Some(o) = twin.get(id) {
                *counts
                    .entry(twin.layers().def(o.layer).name.clone())
                    .or_insert(0) += 1;
                served.push(id);
            }
        }
    }
    Ok(IsolateAnswer {
        cut: cut_edges.iter().map(|&e| span_ref(twin, g, e)).collect(),
        core: core.iter().map(|&v| node_ref(twin, g, v)).collect(),
        isolated: isolated.iter().map(|&v| node_ref(twin, g, v)).collect(),
        served: served.iter().map(|&id| name_of(twin, id)).collect(),
        counts,
        geojson: {
            let mut gj = geojson(twin, g, &cut_edges, &isolated, "isolated");
            // The objects the dark nodes served, marked too.
            if let Some(fs) = gj["features"].as_array_mut() {
                for &id in &served {
                    if let Some(o) = twin.get(id) {
                        let [lon, lat] = o.geometry.anchor();
                        fs.push(serde_json::json!({
                            "type": "Feature",
                            "geometry": {"type": "Point", "coordinates": [lon, lat]},
                            "properties": {"kind": "served", "role": "isolated", "id": name_of(twin, id),
                                           "layer": twin.layers().def(o.layer).name},
                        }));
                    }
                }
            }
            gj
        },
    })
}

/// Bridges, articulation nodes and every node's redundancy to the core.
pub fn bridges(twin: &Twin, g: &Graph, core: &[u32]) -> BridgesAnswer {
    let (bridges, articulation) = g.bridges();
    let redundant = redundant_to_core(g, core, &bridges);
    let nodes: Vec<Redundancy> = (0..g.nodes.len() as u32)
        .filter(|v| !core.contains(v))
        .map(|v| Redundancy {
            node: name_of(twin, g.nodes[v as usize]),
            redundant: redundant[v as usize],
        })
        .collect();
    let share = if nodes.is_empty() {
        0.0
    } else {
        nodes.iter().filter(|n| n.redundant).count() as f64 / nodes.len() as f64
    };
    BridgesAnswer {
        bridges: bridges.iter().map(|&e| span_ref(twin, g, e)).collect(),
        articulation: articulation.iter().map(|&v| node_ref(twin, g, v)).collect(),
        core: core.iter().map(|&v| node_ref(twin, g, v)).collect(),
        nodes,
        redundant_share: (share * 1000.0).round() / 1000.0,
        problems: g.problems.clone(),
    }
}

/// Per node: two edge-disjoint working paths to the core, so that no one cut isolates it.
/// The core is one place however many nodes it has: with several, they are merged into one
/// before the graph's bridges are taken out (a node between two core nodes is redundant).
fn redundant_to_core(g: &Graph, core: &[u32], bridges: &[u32]) -> Vec<bool> {
    let n = g.nodes.len();
    let Some(&first) = core.first() else {
        return vec![false; n];
    };
    let (parts, reach, core_part) = if core.len() == 1 {
        let parts = g.two_edge_parts(bridges);
        let core_part = parts[first as usize];
        (parts, g.reach_core(core).into_owned(), core_part)
    } else {
        let merged = |v: u32| if core.contains(&v) { first } else { v };
        let edges: Vec<(u32, u32)> = g
            .edges
            .iter()
            .filter(|e| e.live)
            .map(|e| (merged(e.a), merged(e.b)))
            .filter(|(a, b)| a != b)
            .collect();
        let m = graph::Graph::from_edges(n, &edges);
        let (br, _) = m.bridges();
        let parts = m.two_edge_parts(&br);
        let core_part = parts[first as usize];
        (parts, m.reach(&[first], &[]), core_part)
    };
    (0..n as u32)
        .map(|v| core.contains(&v) || (reach[v as usize] && parts[v as usize] == core_part))
        .collect()
}

/// Everything reachable from a node over working cables.
pub fn connected(twin: &Twin, g: &Graph, from: &str) -> Result<ConnectedAnswer, FibreError> {
    let a = node(twin, g, from).map_err(|e| bad("node", e))?;
    let reach = g.reach(&[a], &[]);
    let nodes: Vec<u32> = (0..g.nodes.len() as u32)
        .filter(|&v| reach[v as usize])
        .collect();
    let edges: Vec<u32> = (0..g.edges.len() as u32)
        .filter(|&e| {
            let edge = &g.edges[e as usize];
            edge.live && reach[edge.a as usize]
        })
        .collect();
    Ok(ConnectedAnswer {
        node: node_ref(twin, g, a),
        nodes: nodes.iter().map(|&v| node_ref(twin, g, v)).collect(),
        spans: edges.len(),
        length_m: (edges
            .iter()
            .map(|&e| g.edges[e as usize].length_m)
            .sum::<f64>()
            * 10.0)
            .round()
            / 10.0,
        geojson: geojson(twin, g, &edges, &nodes, "connected"),
    })
}

/// The network's yearly figures (`/stats`): cable laid by status and deployment, the nodes
/// and served objects with a way to the core, and the share with a second one.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FibreFigures {
    pub spans: usize,
    pub nodes: usize,
    /// Metres of cable by status (`ok`, `broken`, …).
    pub metres_by_status: BTreeMap<String, f64>,
    /// Metres of cable by deployment (`underground`, `aerial`, … or `unknown`).
    pub metres_by_deployment: BTreeMap<String, f64>,
    /// Nodes with a working path to the core.
    pub nodes_connected: usize,
    /// Objects served by the network (linked layers) with a working path to the core.
    pub served_connected: usize,
    pub served: usize,
    /// Share of nodes (core excluded) with two edge-disjoint paths to the core.
    pub redundant_share: f64,
}

/// The figures of the network.
pub fn figures(twin: &Twin, g: &Graph, core: &[u32]) -> FibreFigures {
    let mut by_status: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_deployment: BTreeMap<String, f64> = BTreeMap::new();
    for e in &g.edges {
        let Some(o) = twin.get(e.span) else { continue };
        *by_status.entry(o.status.as_str().into()).or_insert(0.0) += e.length_m;
        let d = o
            .attributes
            .get("deployment")
            .map(|v| v.as_text())
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "unknown".into());
        *by_deployment.entry(d).or_insert(0.0) += e.length_m;
    }
    let round = |m: BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        m.into_iter().map(|(k, v)| (k, v.round())).collect()
    };
    let reach = g.reach_core(core);
    let b = bridges(twin, g, core);
    let served: usize = (0..g.nodes.len() as u32).map(|v| g.linked(v).len()).sum();
    FibreFigures {
        spans: g.edges.len(),
        nodes: g.nodes.len(),
        metres_by_status: round(by_status),
        metres_by_deployment: round(by_deployment),
        nodes_connected: reach.iter().filter(|r| **r).count(),
        served_connected: (0..g.nodes.len() as u32)
            .filter(|&v| reach[v as usize])
            .map(|v| g.linked(v).len())
            .sum(),
        served,
        redundant_share: b.redundant_share,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_between_two_core_nodes_is_redundant_and_a_spur_is_not() {
        // core A=0 and B=2, x=1 between them; y=3 hangs off x.
        let g = Graph::from_edges(4, &[(0, 1), (1, 2), (1, 3)]);
        let (br, _) = g.bridges();
        assert_eq!(
            redundant_to_core(&g, &[0, 2], &br),
            vec![true, true, true, false]
        );
        // With A alone the core, nothing has a second way.
        assert_eq!(
            redundant_to_core(&g, &[0], &br),
            vec![true, false, false, false]
        );
        // No core: nothing is redundant.
        assert_eq!(redundant_to_core(&g, &[], &br), vec![false; 4]);
    }
}
