//! One Dijkstra from a position to the nearest targets (shelter entrances) that lie on the
//! graph's edges: it stops as soon as `k` accepted targets are settled, so a question costs
//! the part of the city within the k-th target's distance, not the city.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::graph::{Edge, Graph, Snap};

/// Targets by the edge they stand on (CSR, like the graph's adjacency).
pub struct Targets {
    first: Vec<u32>,
    items: Vec<OnEdge>,
}

/// A target on an edge: its index in the caller's list, where on the edge, and the metres
/// from the edge to the target itself (the walk from the way to the door).
#[derive(Debug, Clone, Copy)]
pub struct OnEdge {
    pub target: u32,
    pub along: f64,
    pub extra: f64,
}

impl Targets {
    /// Targets of `g`, each snapped to an edge (`None`: it stands on none and is never found).
    pub fn new(g: &Graph, snapped: &[Option<Snap>]) -> Targets {
        let m = g.edge_count();
        let mut first = vec![0u32; m + 1];
        for s in snapped.iter().flatten() {
            first[s.edge as usize + 1] += 1;
        }
        for i in 0..m {
            first[i + 1] += first[i];
        }
        let mut fill = first.clone();
        let mut items = vec![
            OnEdge {
                target: 0,
                along: 0.0,
                extra: 0.0
            };
            first[m] as usize
        ];
        for (t, s) in snapped.iter().enumerate() {
            if let Some(s) = s {
                let slot = &mut fill[s.edge as usize];
                items[*slot as usize] = OnEdge {
                    target: t as u32,
                    along: s.along,
                    extra: s.off,
                };
                *slot += 1;
            }
        }
        Targets { first, items }
    }

    fn on(&self, e: u32) -> &[OnEdge] {
        let (a, b) = (self.first[e as usize], self.first[e as usize + 1]);
        &self.items[a as usize..b as usize]
    }
}

/// How the search may walk.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// Only step-free edges and nodes (a wheelchair, a pram).
    pub step_free: bool,
    /// Give up beyond this many metres.
    pub max_m: f64,
    /// How many targets to find.
    pub k: usize,
}

impl Mode {
    pub fn edge_ok(&self, e: &Edge) -> bool {
        !(self.step_free && e.how.not_step_free)
    }
}

/// A target reached, with its walking distance and the route from the start's snapped point
/// to the point of the target's edge nearest the target.
#[derive(Debug, Clone)]
pub struct Reached {
    pub target: u32,
    /// Metres along the ways, plus the way-to-door metres of the target.
    pub metres: f64,
    pub route: Vec<[f64; 2]>,
    /// Whether the route takes steps (never when searching step-free).
    pub steps: bool,
}

const NONE: u32 = u32::MAX;
/// `via` of a node reached straight from the start along the start's edge.
const FROM_START: u32 = u32::MAX - 1;

#[derive(Default)]
struct Scratch {
    dist: Vec<f64>,
    via: Vec<u32>,
    touched: Vec<u32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// A heap entry: cost first; then a node (`kind` 0) or a target reached over `edge` from
/// node `from` (or from the start).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    cost: u64,
    kind: u8,
    a: u32,
    edge: u32,
    from: u32,
}

fn bits(c: f64) -> u64 {
    // Non-negative floats order as their bits do.
    c.max(0.0).to_bits()
}

/// The `mode.k` nearest targets that `accept` takes, by walking from `start`, nearest first.
pub fn nearest(
    g: &Graph,
    targets: &Targets,
    start: &Snap,
    mode: Mode,
    accept: impl Fn(u32) -> bool,
) -> Vec<Reached> {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let s = &mut *s;
        if s.dist.len() != g.node_count() {
            s.dist = vec![f64::INFINITY; g.node_count()];
            s.via = vec![NONE; g.node_count()];
            s.touched.clear();
        }
        let out = search(g, targets, start, mode, &accept, s);
        for n in s.touched.drain(..) {
            s.dist[n as usize] = f64::INFINITY;
            s.via[n as usize] = NONE;
        }
        out
    })
}

fn search(
    g: &Graph,
    targets: &Targets,
    start: &Snap,
    mode: Mode,
    accept: &dyn Fn(u32) -> bool,
    s: &mut Scratch,
) -> Vec<Reached> {
    let mut heap: BinaryHeap<Reverse<Entry>> = BinaryHeap::new();
    let se = *g.edge(start.edge);
    let relax =
        |s: &mut Scratch, heap: &mut BinaryHeap<Reverse<Entry>>, n: u32, c: f64, via: u32| {
            if c <= mode.max_m && c < s.dist[n as usize] {
                if s.dist[n as usize].is_infinite() {
                    s.touched.push(n);
                }
                s.dist[n as usize] = c;
                s.via[n as usize] = via;
                heap.push(Reverse(Entry {
                    cost: bits(c),
                    kind: 0,
                    a: n,
                    edge: 0,
                    from: 0,
                }));
            }
        };
    if mode.edge_ok(&se) {
        relax(s, &mut heap, se.a, start.along, FROM_START);
        relax(s, &mut heap, se.b, se.metres - start.along, FROM_START);
        for t in targets.on(start.edge) {
            let c = (t.along - start.along).abs() + t.extra;
            if c <= mode.max_m && accept(t.target) {
                heap.push(Reverse(Entry {
                    cost: bits(c),
                    kind: 1,
                    a: t.target,
                    edge: start.edge,
                    from: FROM_START,
                }));
            }
        }
    }
    let mut found: Vec<(u32, f64, u32, u32)> = Vec::new();
    let mut done: Vec<u32> = Vec::new();
    while let Some(Reverse(e)) = heap.pop() {
        let c = f64::from_bits(e.cost);
        if e.kind == 1 {
            if done.contains(&e.a) {
                continue;
            }
            done.push(e.a);
            found.push((e.a, c, e.edge, e.from));
            if found.len() >= mode.k {
                break;
            }
            continue;
        }
        let u = e.a;
        if c > s.dist[u as usize] {
            continue;
        }
        let nu = g.node(u);
        if nu.blocked || (mode.step_free && nu.not_step_free) {
            // Reached, not passed.
            continue;
        }
        for (i, h) in g.halves(u).iter().enumerate() {
            let edge = g.edge(h.edge);
            if !mode.edge_ok(edge) {
                continue;
            }
            let via = g.half_index(u, i);
            relax(s, &mut heap, h.to, c + edge.metres, via);
            for t in targets.on(h.edge) {
                let along = if edge.a == u {
                    t.along
                } else {
                    edge.metres - t.along
                };
                let tc = c + along + t.extra;
                if tc <= mode.max_m && !done.contains(&t.target) && accept(t.target) {
                    heap.push(Reverse(Entry {
                        cost: bits(tc),
                        kind: 1,
                        a: t.target,
                        edge: h.edge,
                        from: u,
                    }));
                }
            }
        }
    }
    found
        .into_iter()
        .map(|(target, metres, edge, from)| {
            let on = targets
                .on(edge)
                .iter()
                .find(|t| t.target == target)
                .copied();
            let at = on.map_or(0.0, |t| t.along);
            let (route, steps) = route(g, start, edge, from, at, s);
            Reached {
                target,
                metres,
                route,
                steps,
            }
        })
        .collect()
}

/// The route from the start's point to `at` metres along `edge`, entered from node `from`
/// (or straight along the start's edge).
fn route(
    g: &Graph,
    start: &Snap,
    edge: u32,
    from: u32,
    at: f64,
    s: &Scratch,
) -> (Vec<[f64; 2]>, bool) {
    if from == FROM_START {
        let steps = g.edge(edge).how.steps;
        return (g.piece(edge, start.along, at), steps);
    }
    // The edges walked, last first: follow `via` back from `from` to the start's edge.
    let mut chain: Vec<(u32, u32)> = Vec::new(); // (edge, node entered)
    let mut n = from;
    let mut guard = 0usize;
    while s.via[n as usize] != FROM_START && s.via[n as usize] != NONE {
        let h = g.half_at(s.via[n as usize]);
        chain.push((h.edge, n));
        n = g.other_end(h.edge, n);
        guard += 1;
        if guard > g.node_count() {
            break;
        }
    }
    let first = n;
    let se = g.edge(start.edge);
    let mut pts: Vec<[f64; 2]> = Vec::new();
    let mut steps = se.how.steps;
    let to_first = if se.a == first { 0.0 } else { se.metres };
    pts.extend(g.piece(start.edge, start.along, to_first));
    for (e, entered) in chain.iter().rev() {
        let ed = g.edge(*e);
        steps |= ed.how.steps;
        let shape = g.shape(*e);
        if ed.b == *entered {
            pts.extend_from_slice(&shape[1..]);
        } else {
            pts.extend(shape.iter().rev().skip(1));
        }
    }
    let ed = g.edge(edge);
    steps |= ed.how.steps;
    let from_along = if ed.a == from { 0.0 } else { ed.metres };
    pts.extend(g.piece(edge, from_along, at).into_iter().skip(1));
    pts.dedup();
    (pts, steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::place::distance_m;
    use crate::walk::graph::WayInput;
    use crate::walk::rules::{NodeUse, WayUse};

    const FREE: WayUse = WayUse {
        not_step_free: false,
        steps: false,
    };
    const STEPS: WayUse = WayUse {
        not_step_free: true,
        steps: true,
    };

    fn mode(step_free: bool, k: usize) -> Mode {
        Mode {
            step_free,
            max_m: 10_000.0,
            k,
        }
    }

    /// A square A–B–D–C with a short cut of steps A–B: a walker takes the steps, a wheelchair
    /// goes round; targets on edges are found nearest first, each once.
    #[test]
    fn nearest_targets_by_walking_and_step_free() {
        let (a, b, c, d) = (
            [30.0, 50.0],
            [30.002, 50.0],
            [30.0, 50.001],
            [30.002, 50.001],
        );
        let ab = [a, b];
        let ac = [a, c];
        let cd = [c, d];
        let db = [d, b];
        let g = Graph::build(
            &[
                WayInput {
                    points: &ab,
                    how: STEPS,
                },
                WayInput {
                    points: &ac,
                    how: FREE,
                },
                WayInput {
                    points: &cd,
                    how: FREE,
                },
                WayInput {
                    points: &db,
                    how: FREE,
                },
            ],
            &[],
        );
        // Targets: one just east of B (on D–B, the nearest step-free way), one near C.
        let t0 = [30.0021, 50.00005];
        let t1 = [29.9999, 50.0009];
        let snaps: Vec<Option<Snap>> = [t0, t1]
            .iter()
            .map(|p| g.snap(*p, 100.0, |e| !e.how.not_step_free))
            .collect();
        let targets = Targets::new(&g, &snaps);
        let start = g.snap([30.0001, 50.0001], 100.0, |_| true).unwrap();
        let walk = nearest(&g, &targets, &start, mode(false, 2), |_| true);
        assert_eq!(walk.len(), 2);
        assert_eq!(walk[0].target, 1, "C's target is nearer by the west side");
        let chair = nearest(&g, &targets, &start, mode(true, 2), |_| true);
        // The walker to B's target: over the steps (about 143 m); the wheelchair goes round.
        let direct = distance_m(a, b);
        let w0 = walk.iter().find(|r| r.target == 0).unwrap();
        let c0 = chair.iter().find(|r| r.target == 0).unwrap();
        assert!(w0.steps && w0.metres < direct + 30.0, "{w0:?}");
        assert!(!c0.steps && c0.metres > direct + 200.0, "{c0:?}");
        // Routes are connected polylines whose length is the metres (less the door's metres).
        for r in walk.iter().chain(&chair) {
            let len: f64 = r.route.windows(2).map(|s| distance_m(s[0], s[1])).sum();
            let extra = snaps[r.target as usize].unwrap().off;
            assert!(
                (len + extra - r.metres).abs() < 0.5,
                "{len} + {extra} vs {}",
                r.metres
            );
        }
        // Only accepted targets; k limits; a budget too small finds nothing.
        let only1 = nearest(&g, &targets, &start, mode(false, 5), |t| t == 1);
        assert_eq!(only1.len(), 1);
        let tight = Mode {
            max_m: 5.0,
            ..mode(false, 2)
        };
        assert!(nearest(&g, &targets, &start, tight, |_| true).is_empty());
    }

    #[test]
    fn a_blocked_node_is_reached_but_not_passed() {
        let (a, m, b) = ([30.0, 50.0], [30.001, 50.0], [30.002, 50.0]);
        let way = [a, m, b];
        let g = Graph::build(
            &[WayInput {
                points: &way,
                how: FREE,
            }],
            &[(
                m,
                NodeUse {
                    blocked: true,
                    not_step_free: true,
                },
            )],
        );
        let snaps = vec![g.snap([30.0019, 50.0], 50.0, |_| true)];
        let targets = Targets::new(&g, &snaps);
        let start = g.snap([30.0001, 50.0], 50.0, |_| true).unwrap();
        assert!(nearest(&g, &targets, &start, mode(false, 1), |_| true).is_empty());
    }
}
