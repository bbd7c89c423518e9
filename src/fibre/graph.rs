//! The fibre network as a multigraph: nodes (wells, closures, cabinets, points of presence,
//! sites) from layer `fibre_nodes`, spans (cables) from layer `fibre_spans`. Two cables between
//! the same pair of nodes are two edges — a cut of one leaves the other — so every algorithm
//! here tells edges apart by their own id, never by their end nodes.

use std::collections::HashMap;

use serde::Serialize;

use crate::access::Visible;
use crate::model::{Geometry, LayerId, ObjectId, Status};
use crate::resolve::place::{distance_m, nearest_in_layer};
use crate::twin::Twin;

/// The layers the network is read from.
pub const NODES: &str = "fibre_nodes";
pub const SPANS: &str = "fibre_spans";

/// A span end further than this from every node meets none, metres.
pub const SNAP_M: f64 = 10.0;

/// One cable.
#[derive(Debug, Clone)]
pub struct Edge {
    pub span: ObjectId,
    pub a: u32,
    pub b: u32,
    pub length_m: f64,
    /// Carries light: not broken/cut, removed or inactive.
    pub live: bool,
}

/// What is wrong with the network's data, naming the objects.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `end_meets_no_node`, `zero_length`, `duplicate_span`, `isolated_node`.
    pub kind: String,
    /// The span or node (its source id when it has one, else its number).
    pub object: String,
    pub detail: String,
}

/// The network.
#[derive(Debug, Default)]
pub struct Graph {
    /// Node index → object id.
    pub nodes: Vec<ObjectId>,
    index: HashMap<ObjectId, u32>,
    pub edges: Vec<Edge>,
    /// Per node: `(edge, other node)`.
    adj: Vec<Vec<(u32, u32)>>,
    pub problems: Vec<Problem>,
    /// Nodes and spans by source id, whole and (when unique) the part after the network:
    /// `Some(object)`, or `None` for a part two objects share.
    names: HashMap<(bool, String), Option<ObjectId>>,
    /// Span object → its edge.
    edge_index: HashMap<ObjectId, u32>,
    /// Per node, the objects of other layers it serves.
    links: Vec<Vec<ObjectId>>,
    /// What reaches the core on the intact network, for the core it was asked with.
    reach_core: std::sync::OnceLock<(Vec<u32>, Vec<bool>)>,
}

/// The name an object is known by in answers: its source id (an OFDS id) when it has one,
/// else its painted number, else its citytwin id.
pub fn name_of(twin: &Twin, id: ObjectId) -> String {
    let Some(o) = twin.get(id) else {
        return id.to_string();
    };
    if !o.source.id.is_empty() {
        return o.source.id.to_string();
    }
    match &o.number {
        Some(n) => n.display(twin.layers().def(o.layer), twin.serial_width()),
        None => id.to_string(),
    }
}

fn line_length(line: &[[f64; 2]]) -> f64 {
    line.windows(2).map(|w| distance_m(w[0], w[1])).sum()
}

impl Graph {
    /// The network of `twin` as `visible` sees it (empty when the layers are missing).
    pub fn build(twin: &Twin, visible: &Visible) -> Graph {
        let mut g = Graph::default();
        let layer = |name: &str| -> Option<LayerId> {
            twin.layers()
                .by_name(name)
                .filter(|l| visible.has_layer(*l))
        };
        let (Some(nl), Some(sl)) = (layer(NODES), layer(SPANS)) else {
            return g;
        };
        let mut by_source: HashMap<&str, u32> = HashMap::new();
        // In id order: the first of two duplicates is the one kept.
        let mut node_ids = twin.ids_of(nl);
        node_ids.sort_unstable();
        let mut span_ids = twin.ids_of(sl);
        span_ids.sort_unstable();
        for id in node_ids {
            let Some(o) = twin.get(id).filter(|o| visible.shows(o)) else {
                continue;
            };
            let i = g.nodes.len() as u32;
            g.nodes.push(id);
            g.index.insert(id, i);
            if !o.source.id.is_empty() {
                by_source.insert(&o.source.id, i);
                g.name(false, &o.source.id, id);
            }
        }
        g.adj = vec![Vec::new(); g.nodes.len()];
        // Span ends: the node its `start`/`end` attribute names, else the nearest node within
        // SNAP_M of the route's end.
        let snap = |p: [f64; 2]| -> Option<u32> {
            let (_, id) = *nearest_in_layer(twin, nl, p, 1, SNAP_M, visible).first()?;
            g.index.get(&id).copied()
        };
        // Every node's source id, hidden ones too: a span end naming a node this viewer may
        // not see is not snapped to a neighbour instead.
        let all_sources: std::collections::HashSet<&str> = twin
            .ids_of(nl)
            .into_iter()
            .filter_map(|id| twin.get(id))
            .map(|o| &*o.source.id)
            .filter(|s| !s.is_empty())
            .collect();
        let mut seen: HashMap<(u32, u32, Vec<[i64; 2]>), ObjectId> = HashMap::new();
        let mut names: Vec<(String, ObjectId)> = Vec::new();
        let mut edges = Vec::new();
        let mut problems = Vec::new();
        for id in span_ids {
            let Some(o) = twin.get(id).filter(|o| visible.shows(o)) else {
                continue;
            };
            let Geometry::Line(line) = &o.geometry else {
                continue;
            };
            let (Some(first), Some(last)) = (line.first(), line.last()) else {
                continue;
            };
            let named = |key: &str| o.attributes.get(key).map(|v| v.as_text());
            // A span to a node this viewer may not see is left out, unreported.
            if ["start", "end"].iter().any(|k| {
                named(k).is_some_and(|n| {
                    all_sources.contains(n.as_str()) && !by_source.contains_key(n.as_str())
                })
            }) {
                continue;
            }
            let end = |key: &str, p: [f64; 2]| -> Option<u32> {
                named(key)
                    .and_then(|n| by_source.get(n.as_str()).copied())
                    .or_else(|| snap(p))
            };
            if !o.source.id.is_empty() {
                names.push((o.source.id.to_string(), id));
            }
            let name = name_of(twin, id);
            let (a, b) = match (end("start", *first), end("end", *last)) {
                (Some(a), Some(b)) => (a, b),
                (a, _) => {
                    let which = if a.is_none() { "start" } else { "end" };
                    problems.push(Problem {
                        kind: "end_meets_no_node".into(),
                        object: name,
                        detail: format!(
                            "its {which} names no node and no node is within {SNAP_M} m of it"
                        ),
                    });
                    continue;
                }
            };
            let length_m = line_length(line);
            if a == b || length_m < 0.01 {
                problems.push(Problem {
                    kind: "zero_length".into(),
                    object: name,
                    detail: format!(
                        "it starts and ends at {}",
                        name_of(twin, g.nodes[a as usize])
                    ),
                });
                continue;
            }
            // The same route between the same nodes twice is one cable listed twice; the same
            // pair by another route is a second cable (kept).
            // The route itself, the same way round whichever end it starts at.
            let mut route: Vec<[i64; 2]> = line
                .iter()
                .map(|p| [(p[0] * 1e7).round() as i64, (p[1] * 1e7).round() as i64])
                .collect();
            if route.last() < route.first() {
                route.reverse();
            }
            let key = (a.min(b), a.max(b), route);
            if let Some(other) = seen.get(&key) {
                problems.push(Problem {
                    kind: "duplicate_span".into(),
                    object: name,
                    detail: format!("the same route as {}", name_of(twin, *other)),
                });
                continue;
            }
            seen.insert(key, id);
            edges.push(Edge {
                span: id,
                a,
                b,
                length_m,
                live: matches!(o.status, Status::Ok | Status::Unknown),
            });
        }
        for (e, edge) in edges.iter().enumerate() {
            g.adj[edge.a as usize].push((e as u32, edge.b));
            g.adj[edge.b as usize].push((e as u32, edge.a));
        }
        for (i, &id) in g.nodes.iter().enumerate() {
            if g.adj[i].is_empty() {
                problems.push(Problem {
                    kind: "isolated_node".into(),
                    object: name_of(twin, id),
                    detail: "no span ends at it".into(),
                });
            }
        }
        for (n, id) in names {
            g.name(true, &n, id);
        }
        g.edge_index = edges
            .iter()
            .enumerate()
            .map(|(e, edge)| (edge.span, e as u32))
            .collect();
        g.edges = edges;
        g.problems = problems;
        g
    }

    /// Notes a node's or (`span`) a span's source id: whole, and the part after the network
    /// (a part two nodes, or two spans, share names none).
    fn name(&mut self, span: bool, source: &str, id: ObjectId) {
        self.names.insert((span, source.to_string()), Some(id));
        if let Some((_, tail)) = source.rsplit_once('/') {
            self.names
                .entry((span, tail.to_string()))
                .and_modify(|e| {
                    if *e != Some(id) {
                        *e = None;
                    }
                })
                .or_insert(Some(id));
        }
    }

    /// Links the objects of `layers` to the node that serves them: the node their
    /// `fibre_node` attribute names (source id or number), else the nearest within `link_m`.
    pub fn link(&mut self, twin: &Twin, visible: &Visible, layers: &[String], link_m: f64) {
        self.links = vec![Vec::new(); self.nodes.len()];
        let Some(nl) = twin.layers().by_name(NODES) else {
            return;
        };
        for name in layers {
            let Some(l) = twin
                .layers()
                .by_name(name)
                .filter(|l| visible.has_layer(*l))
            else {
                continue;
            };
            for id in twin.ids_of(l) {
                let Some(o) = twin.get(id).filter(|o| visible.shows(o)) else {
                    continue;
                };
                let named = o.attributes.get("fibre_node").and_then(|v| {
                    let t = v.as_text();
                    match self.by_name(false, t.trim()) {
                        Some(Ok(n)) => self.node_of(n),
                        _ => twin
                            .find_number(&t)
                            .into_iter()
                            .find_map(|n| self.node_of(n.id)),
                    }
                });
                let p = o.geometry.anchor();
                let near = || {
                    let (_, n) = *nearest_in_layer(twin, nl, p, 1, link_m, visible).first()?;
                    self.node_of(n)
                };
                if let Some(v) = named.or_else(near) {
                    self.links[v as usize].push(id);
                }
            }
        }
    }

    /// The objects node `v` serves.
    pub fn linked(&self, v: u32) -> &[ObjectId] {
        self.links.get(v as usize).map_or(&[], Vec::as_slice)
    }

    /// A graph of `n` nodes and the given edges (lengths 1, all live), for benchmarks: node
    /// `i` is object `i`, edge `k` span `k`.
    pub fn from_edges(n: usize, edges: &[(u32, u32)]) -> Graph {
        let mut g = Graph {
            nodes: (0..n as u64).collect(),
            index: (0..n as u64).map(|i| (i, i as u32)).collect(),
            adj: vec![Vec::new(); n],
            ..Default::default()
        };
        for (k, &(a, b)) in edges.iter().enumerate() {
            g.edges.push(Edge {
                span: k as ObjectId,
                a,
                b,
                length_m: 1.0,
                live: true,
            });
            g.adj[a as usize].push((k as u32, b));
            g.adj[b as usize].push((k as u32, a));
            g.edge_index.insert(k as ObjectId, k as u32);
        }
        g
    }

    pub fn node_of(&self, id: ObjectId) -> Option<u32> {
        self.index.get(&id).copied()
    }

    /// A node (or, with `span`, a span) of the network by its source id (whole, or the part
    /// after the network when unique): `Some(Err(()))` when the part names several.
    pub fn by_name(&self, span: bool, s: &str) -> Option<Result<ObjectId, ()>> {
        self.names.get(&(span, s.to_string())).map(|o| o.ok_or(()))
    }

    /// [`Graph::reach`] from `core` on the intact network, computed once.
    pub fn reach_core(&self, core: &[u32]) -> std::borrow::Cow<'_, [bool]> {
        let (c, r) = self
            .reach_core
            .get_or_init(|| (core.to_vec(), self.reach(core, &[])));
        if c == core {
            std::borrow::Cow::Borrowed(r)
        } else {
            std::borrow::Cow::Owned(self.reach(core, &[]))
        }
    }

    /// The edges of a span (one, unless it was not taken into the graph).
    pub fn edge_of(&self, span: ObjectId) -> Option<u32> {
        self.edge_index.get(&span).copied()
    }

    /// Whether edge `e` carries light and is not among `cut`.
    fn usable(&self, e: u32, cut: &[bool]) -> bool {
        self.edges[e as usize].live && !cut.get(e as usize).copied().unwrap_or(false)
    }

    /// Every node reachable from `from` over usable edges (`cut` marks edges to leave out).
    pub fn reach(&self, from: &[u32], cut: &[bool]) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<u32> = Vec::new();
        for &f in from {
            if let Some(s) = seen.get_mut(f as usize)
                && !*s
            {
                *s = true;
                stack.push(f);
            }
        }
        while let Some(v) = stack.pop() {
            for &(e, w) in &self.adj[v as usize] {
                if self.usable(e, cut) && !seen[w as usize] {
                    seen[w as usize] = true;
                    stack.push(w);
                }
            }
        }
        seen
    }

    /// The shortest path by length from `a` to `b` over usable edges: the edges in order.
    pub fn path(&self, a: u32, b: u32) -> Option<Vec<u32>> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let n = self.nodes.len();
        let mut dist = vec![f64::INFINITY; n];
        let mut via: Vec<Option<u32>> = vec![None; n];
        let mut heap = BinaryHeap::new();
        dist[a as usize] = 0.0;
        heap.push(Reverse((Ordered(0.0), a)));
        while let Some(Reverse((Ordered(d), v))) = heap.pop() {
            if v == b {
                break;
            }
            if d > dist[v as usize] {
                continue;
            }
            for &(e, w) in &self.adj[v as usize] {
                if !self.edges[e as usize].live {
                    continue;
                }
                let nd = d + self.edges[e as usize].length_m;
                if nd < dist[w as usize] {
                    dist[w as usize] = nd;
                    via[w as usize] = Some(e);
                    heap.push(Reverse((Ordered(nd), w)));
                }
            }
        }
        if !dist[b as usize].is_finite() {
            return None;
        }
        let mut out = Vec::new();
        let mut v = b;
        while v != a {
            let e = via[v as usize]?;
            out.push(e);
            let edge = &self.edges[e as usize];
            v = if edge.a == v { edge.b } else { edge.a };
        }
        out.reverse();
        Some(out)
    }

    /// Bridges (edges whose cut disconnects something) and articulation nodes, over live
    /// edges. Iterative DFS with low links; the edge a node was reached by is skipped by its
    /// id, so a parallel twin counts as a second way back and its pair is no bridge.
    pub fn bridges(&self) -> (Vec<u32>, Vec<u32>) {
        let n = self.nodes.len();
        let mut order = vec![u32::MAX; n];
        let mut low = vec![0u32; n];
        let mut bridges = Vec::new();
        let mut cut_node = vec![false; n];
        let mut t = 0u32;
        for root in 0..n as u32 {
            if order[root as usize] != u32::MAX {
                continue;
            }
            order[root as usize] = t;
            low[root as usize] = t;
            t += 1;
            let mut root_children = 0;
            // (node, edge it was reached by, next adjacency index)
            let mut stack: Vec<(u32, u32, usize)> = vec![(root, u32::MAX, 0)];
            while let Some(top) = stack.last_mut() {
                let (v, via) = (top.0, top.1);
                let next = self.adj[v as usize].get(top.2).copied();
                if next.is_some() {
                    top.2 += 1;
                }
                if let Some((e, w)) = next {
                    if e == via || !self.edges[e as usize].live {
                        continue;
                    }
                    if order[w as usize] == u32::MAX {
                        order[w as usize] = t;
                        low[w as usize] = t;
                        t += 1;
                        if v == root {
                            root_children += 1;
                        }
                        stack.push((w, e, 0));
                    } else {
                        low[v as usize] = low[v as usize].min(order[w as usize]);
                    }
                } else {
                    stack.pop();
                    if let Some(&(p, _, _)) = stack.last() {
                        low[p as usize] = low[p as usize].min(low[v as usize]);
                        if low[v as usize] > order[p as usize] {
                            bridges.push(via);
                        }
                        if p != root && low[v as usize] >= order[p as usize] {
                            cut_node[p as usize] = true;
                        }
                    }
                }
            }
            if root_children >= 2 {
                cut_node[root as usize] = true;
            }
        }
        bridges.sort_unstable();
        let articulation = (0..n as u32).filter(|&v| cut_node[v as usize]).collect();
        (bridges, articulation)
    }

    /// Degree of a node over live edges.
    pub fn degree(&self, v: u32) -> usize {
        self.adj[v as usize]
            .iter()
            .filter(|(e, _)| self.edges[*e as usize].live)
            .count()
    }

    /// Per node, its 2-edge-connected part (the nodes it has two edge-disjoint paths to):
    /// the components once every bridge is taken out.
    pub fn two_edge_parts(&self, bridges: &[u32]) -> Vec<u32> {
        let mut cut = vec![false; self.edges.len()];
        for &b in bridges {
            cut[b as usize] = true;
        }
        let mut part = vec![u32::MAX; self.nodes.len()];
        let mut next = 0;
        let mut stack = Vec::new();
        for s in 0..self.nodes.len() {
            if part[s] != u32::MAX {
                continue;
            }
            part[s] = next;
            stack.push(s as u32);
            while let Some(v) = stack.pop() {
                for &(e, w) in &self.adj[v as usize] {
                    if self.usable(e, &cut) && part[w as usize] == u32::MAX {
                        part[w as usize] = next;
                        stack.push(w);
                    }
                }
            }
            next += 1;
        }
        part
    }
}

/// An f64 ordered for the heap (lengths are finite).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ordered(f64);

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
