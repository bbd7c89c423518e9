//! The walking graph: ways split at the nodes they share (and at barriers), as compact
//! adjacency arrays (CSR: every node's half-edges side by side), with the ways' shapes kept
//! for drawing routes and an R-tree of their segments for snapping a position to the nearest
//! way. Nodes are told apart by their exact coordinates: ways that share an OSM node carry
//! the very same numbers there.

use std::collections::HashMap;

use rstar::RTree;
use rstar::primitives::{GeomWithData, Line};

use super::rules::{NodeUse, WayUse};
use crate::resolve::place::distance_m;

/// One way as the graph takes it.
pub struct WayInput<'a> {
    pub points: &'a [[f64; 2]],
    pub how: WayUse,
}

/// A graph node's position key: the exact bits of its coordinates.
type Key = (u64, u64);

fn key(p: [f64; 2]) -> Key {
    (p[0].to_bits(), p[1].to_bits())
}

/// One undirected edge: a piece of a way between two nodes.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    pub a: u32,
    pub b: u32,
    /// Its shape: `shape[start..start + len]`, from `a` to `b`.
    start: u32,
    len: u32,
    pub metres: f64,
    pub how: WayUse,
}

/// One direction of an edge, as kept in a node's adjacency.
#[derive(Debug, Clone, Copy)]
pub struct Half {
    pub to: u32,
    pub edge: u32,
}

/// A segment of an edge's shape in the snapping R-tree.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Seg {
    edge: u32,
    /// Index of the segment's first point within the edge's shape.
    i: u32,
    /// Metres along the edge to the segment's first point.
    along: f64,
}

/// A local plane in metres around the graph's middle, for snapping (distances within a city
/// are off by well under a percent).
#[derive(Debug, Clone, Copy)]
struct Plane {
    lon0: f64,
    lat0: f64,
    kx: f64,
    ky: f64,
}

impl Plane {
    fn new(lon0: f64, lat0: f64) -> Plane {
        Plane {
            lon0,
            lat0,
            kx: 111_320.0 * lat0.to_radians().cos(),
            ky: 110_574.0,
        }
    }
    fn xy(&self, p: [f64; 2]) -> [f64; 2] {
        [(p[0] - self.lon0) * self.kx, (p[1] - self.lat0) * self.ky]
    }
}

/// Where a position meets the graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snap {
    pub edge: u32,
    /// Metres along the edge from its node `a`.
    pub along: f64,
    /// The point on the edge.
    pub point: [f64; 2],
    /// Metres from the position to that point.
    pub off: f64,
}

/// The walking graph.
pub struct Graph {
    pos: Vec<[f64; 2]>,
    nodes: Vec<NodeUse>,
    first: Vec<u32>,
    halves: Vec<Half>,
    edges: Vec<Edge>,
    shape: Vec<[f64; 2]>,
    segs: RTree<GeomWithData<Line<[f64; 2]>, Seg>>,
    plane: Plane,
}

impl Graph {
    /// Builds the graph of `ways`, with `barriers` (positions and how they are passed) on the
    /// ways' nodes. A barrier that is on no way is ignored.
    pub fn build(ways: &[WayInput<'_>], barriers: &[([f64; 2], NodeUse)]) -> Graph {
        // A vertex is a node when a way ends there, two ways (or one way twice) pass it, or a
        // barrier stands on it.
        let mut seen: HashMap<Key, u32> = HashMap::new();
        for w in ways {
            let n = w.points.len();
            for (i, p) in w.points.iter().enumerate() {
                let add = if i == 0 || i + 1 == n { 2 } else { 1 };
                *seen.entry(key(*p)).or_insert(0) += add;
            }
        }
        let barrier_at: HashMap<Key, NodeUse> = barriers
            .iter()
            .filter(|(p, _)| seen.contains_key(&key(*p)))
            .map(|(p, u)| (key(*p), *u))
            .collect();
        let is_node = |p: &[f64; 2]| {
            let k = key(*p);
            seen.get(&k).is_some_and(|c| *c >= 2) || barrier_at.contains_key(&k)
        };
        let mut ids: HashMap<Key, u32> = HashMap::new();
        let mut pos: Vec<[f64; 2]> = Vec::new();
        let mut nodes: Vec<NodeUse> = Vec::new();
        let mut node_of = |p: [f64; 2]| -> u32 {
            *ids.entry(key(p)).or_insert_with(|| {
                pos.push(p);
                nodes.push(barrier_at.get(&key(p)).copied().unwrap_or_default());
                (pos.len() - 1) as u32
            })
        };
        let mut edges: Vec<Edge> = Vec::new();
        let mut shape: Vec<[f64; 2]> = Vec::new();
        for w in ways {
            if w.points.len() < 2 {
                continue;
            }
            let mut from = 0usize;
            for i in 1..w.points.len() {
                if i + 1 < w.points.len() && !is_node(&w.points[i]) {
                    continue;
                }
                let piece = &w.points[from..=i];
                let metres: f64 = piece.windows(2).map(|s| distance_m(s[0], s[1])).sum();
                let a = node_of(piece[0]);
                let b = node_of(piece[piece.len() - 1]);
                if metres > 0.0 {
                    edges.push(Edge {
                        a,
                        b,
                        start: shape.len() as u32,
                        len: piece.len() as u32,
                        metres,
                        how: w.how,
                    });
                    shape.extend_from_slice(piece);
                }
                from = i;
            }
        }
        // Adjacency: both directions of every edge, grouped by node.
        let n = pos.len();
        let mut first = vec![0u32; n + 1];
        for e in &edges {
            first[e.a as usize + 1] += 1;
            first[e.b as usize + 1] += 1;
        }
        for i in 0..n {
            first[i + 1] += first[i];
        }
        let mut fill = first.clone();
        let mut halves = vec![Half { to: 0, edge: 0 }; first[n] as usize];
        for (id, e) in edges.iter().enumerate() {
            for (from, to) in [(e.a, e.b), (e.b, e.a)] {
                let slot = &mut fill[from as usize];
                halves[*slot as usize] = Half {
                    to,
                    edge: id as u32,
                };
                *slot += 1;
            }
        }
        let plane = {
            let (mut sx, mut sy) = (0.0, 0.0);
            for p in &pos {
                sx += p[0];
                sy += p[1];
            }
            let k = pos.len().max(1) as f64;
            Plane::new(sx / k, sy / k)
        };
        let mut entries = Vec::with_capacity(shape.len());
        for (id, e) in edges.iter().enumerate() {
            let pts = &shape[e.start as usize..(e.start + e.len) as usize];
            let mut along = 0.0;
            for (i, s) in pts.windows(2).enumerate() {
                entries.push(GeomWithData::new(
                    Line::new(plane.xy(s[0]), plane.xy(s[1])),
                    Seg {
                        edge: id as u32,
                        i: i as u32,
                        along,
                    },
                ));
                along += distance_m(s[0], s[1]);
            }
        }
        Graph {
            pos,
            nodes,
            first,
            halves,
            edges,
            shape,
            segs: RTree::bulk_load(entries),
            plane,
        }
    }

    pub fn node_count(&self) -> usize {
        self.pos.len()
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    pub fn edge(&self, e: u32) -> &Edge {
        &self.edges[e as usize]
    }

    pub fn node(&self, n: u32) -> NodeUse {
        self.nodes[n as usize]
    }

    pub fn position(&self, n: u32) -> [f64; 2] {
        self.pos[n as usize]
    }

    /// The half-edges leaving node `n`.
    pub fn halves(&self, n: u32) -> &[Half] {
        let (a, b) = (self.first[n as usize], self.first[n as usize + 1]);
        &self.halves[a as usize..b as usize]
    }

    /// The global index of the `i`-th half-edge of node `n` (see [`Graph::half_at`]).
    pub fn half_index(&self, n: u32, i: usize) -> u32 {
        self.first[n as usize] + i as u32
    }

    pub fn half_at(&self, h: u32) -> Half {
        self.halves[h as usize]
    }

    /// The node at the other end of edge `e` from node `n`.
    pub fn other_end(&self, e: u32, n: u32) -> u32 {
        let e = &self.edges[e as usize];
        if e.a == n { e.b } else { e.a }
    }

    /// The shape of edge `e`, from its node `a` to `b`.
    pub fn shape(&self, e: u32) -> &[[f64; 2]] {
        let e = &self.edges[e as usize];
        &self.shape[e.start as usize..(e.start + e.len) as usize]
    }

    /// The nearest point of an edge that `usable` accepts, if one is within `max_m`.
    pub fn snap(&self, p: [f64; 2], max_m: f64, usable: impl Fn(&Edge) -> bool) -> Option<Snap> {
        let q = self.plane.xy(p);
        // Planar distances are within a percent of the true ones in a city; a little slack
        // keeps a way at the limit.
        let reach = max_m * 1.02 + 1.0;
        for s in self.segs.nearest_neighbor_iter(q) {
            use rstar::PointDistance;
            if s.distance_2(&q) > reach * reach {
                return None;
            }
            let seg = s.data;
            let e = &self.edges[seg.edge as usize];
            if !usable(e) {
                continue;
            }
            let pts = self.shape(seg.edge);
            let (p0, p1) = (pts[seg.i as usize], pts[seg.i as usize + 1]);
            let (a, b) = (s.geom().from, s.geom().to);
            let d = [b[0] - a[0], b[1] - a[1]];
            let len2 = d[0] * d[0] + d[1] * d[1];
            let t = if len2 > 0.0 {
                (((q[0] - a[0]) * d[0] + (q[1] - a[1]) * d[1]) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let point = [p0[0] + (p1[0] - p0[0]) * t, p0[1] + (p1[1] - p0[1]) * t];
            let off = distance_m(p, point);
            if off > max_m {
                // The planar order can differ a little from the true one; this is the
                // nearest usable way by the plane, and too far.
                return None;
            }
            let along = (seg.along + t * distance_m(p0, p1)).min(e.metres);
            return Some(Snap {
                edge: seg.edge,
                along,
                point,
                off,
            });
        }
        None
    }

    /// The points of edge `e` between `from` and `to` metres along it (either way round),
    /// with the two end points interpolated.
    pub fn piece(&self, e: u32, from: f64, to: f64) -> Vec<[f64; 2]> {
        let pts = self.shape(e);
        let (lo, hi) = if from <= to { (from, to) } else { (to, from) };
        let mut out = Vec::new();
        let mut along = 0.0;
        out.push(self.point_at(e, lo));
        for s in pts.windows(2) {
            let len = distance_m(s[0], s[1]);
            let end = along + len;
            if end > lo && end < hi {
                out.push(s[1]);
            }
            along = end;
        }
        out.push(self.point_at(e, hi));
        if from > to {
            out.reverse();
        }
        out
    }

    /// The point `at` metres along edge `e` from its node `a`.
    pub fn point_at(&self, e: u32, at: f64) -> [f64; 2] {
        let pts = self.shape(e);
        let mut along = 0.0;
        for s in pts.windows(2) {
            let len = distance_m(s[0], s[1]);
            if along + len >= at && len > 0.0 {
                let t = ((at - along) / len).clamp(0.0, 1.0);
                return [
                    s[0][0] + (s[1][0] - s[0][0]) * t,
                    s[0][1] + (s[1][1] - s[0][1]) * t,
                ];
            }
            along += len;
        }
        pts[pts.len() - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn way(points: &[[f64; 2]]) -> WayInput<'_> {
        WayInput {
            points,
            how: WayUse {
                not_step_free: false,
                steps: false,
            },
        }
    }

    #[test]
    fn ways_split_at_shared_nodes_and_barriers() {
        // A cross: two ways sharing their middle point, and a barrier on a bend of a third.
        let h = [[30.0, 50.0], [30.001, 50.0], [30.002, 50.0]];
        let v = [[30.001, 49.999], [30.001, 50.0], [30.001, 50.001]];
        let bent = [[30.002, 50.0], [30.003, 50.0005], [30.004, 50.0]];
        let g = Graph::build(
            &[way(&h), way(&v), way(&bent)],
            &[(
                [30.003, 50.0005],
                NodeUse {
                    blocked: true,
                    not_step_free: true,
                },
            )],
        );
        // Nodes: h's two ends, v's two ends, the crossing, the barrier, bent's far end
        // (bent's first point is h's last).
        assert_eq!(g.node_count(), 7);
        assert_eq!(g.edge_count(), 6);
        let crossing = (0..g.node_count() as u32)
            .find(|n| g.position(*n) == [30.001, 50.0])
            .unwrap();
        assert_eq!(g.halves(crossing).len(), 4);
        let barrier = (0..g.node_count() as u32)
            .find(|n| g.position(*n) == [30.003, 50.0005])
            .unwrap();
        assert!(g.node(barrier).blocked);
        // Edge lengths add up to the ways' lengths.
        let total: f64 = (0..g.edge_count() as u32).map(|e| g.edge(e).metres).sum();
        let of = |w: &[[f64; 2]]| -> f64 { w.windows(2).map(|s| distance_m(s[0], s[1])).sum() };
        assert!((total - of(&h) - of(&v) - of(&bent)).abs() < 1e-6);
    }

    #[test]
    fn a_position_snaps_to_the_nearest_usable_way() {
        let h = [[30.0, 50.0], [30.002, 50.0]];
        let far = [[30.0, 50.001], [30.002, 50.001]];
        let g = Graph::build(&[way(&h), way(&far)], &[]);
        let s = g.snap([30.001, 50.0002], 100.0, |_| true).unwrap();
        assert_eq!(g.shape(s.edge)[0], [30.0, 50.0]);
        assert!((s.off - 22.2).abs() < 0.5, "{}", s.off);
        assert!((s.along - distance_m([30.0, 50.0], [30.001, 50.0])).abs() < 0.5);
        // Nothing within 10 m.
        assert!(g.snap([30.001, 50.0002], 10.0, |_| true).is_none());
        // The piece between two alongs runs the right way.
        let p = g.piece(s.edge, 100.0, 20.0);
        assert!(p[0][0] > p[1][0]);
    }
}
