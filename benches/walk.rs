//! The walking graph, in-process, on a street grid of 100,000 way pieces (120 m blocks, as
//! `citytwin generate-walk` makes): building it, one full single-source Dijkstra over it
//! against the same on petgraph (the peer: the well-known graph crate, with its own
//! adjacency lists), and the question `/shelters/nearest` asks — the 3 nearest of 3,000
//! targets — which stops early.
//!
//! Run: `cargo bench --bench walk`.

use criterion::{Criterion, criterion_group, criterion_main};

use citytwin::walk::{Graph, Mode, Snap, Targets, WayInput, WayUse, nearest};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BLOCK_M: f64 = 120.0;

fn grid(edges: usize) -> Vec<[[f64; 2]; 2]> {
    let n = ((edges as f64 / 2.0).sqrt().ceil() as usize) + 1;
    let (lon0, lat0): (f64, f64) = (35.1396, 47.8388);
    let kx = 111_320.0 * lat0.to_radians().cos();
    let at = |i: usize, j: usize| {
        [
            lon0 + i as f64 * BLOCK_M / kx,
            lat0 + j as f64 * BLOCK_M / 110_574.0,
        ]
    };
    let mut out = Vec::new();
    for i in 0..n {
        for j in 0..n {
            if i + 1 < n {
                out.push([at(i, j), at(i + 1, j)]);
            }
            if j + 1 < n {
                out.push([at(i, j), at(i, j + 1)]);
            }
        }
    }
    out.truncate(edges);
    out
}

fn walk(c: &mut Criterion) {
    let pieces = grid(100_000);
    let free = WayUse {
        not_step_free: false,
        steps: false,
    };
    let ways: Vec<WayInput<'_>> = pieces
        .iter()
        .map(|p| WayInput {
            points: &p[..],
            how: free,
        })
        .collect();
    let mut g = c.benchmark_group("walk");
    g.sample_size(20);
    g.bench_function("build_100k_edges", |b| b.iter(|| Graph::build(&ways, &[])));
    let graph = Graph::build(&ways, &[]);
    println!(
        "graph: {} nodes, {} edges",
        graph.node_count(),
        graph.edge_count()
    );
    // Targets: 3,000 points spread over the grid.
    let mut x: u64 = 0x9E37_79B9;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let lo = pieces[0][0];
    let hi = pieces[pieces.len() - 1][1];
    let mut point = || {
        [
            lo[0] + next() * (hi[0] - lo[0]),
            lo[1] + next() * (hi[1] - lo[1]),
        ]
    };
    let snaps: Vec<Option<Snap>> = (0..3000)
        .map(|_| graph.snap(point(), 300.0, |_| true))
        .collect();
    let targets = Targets::new(&graph, &snaps);
    let starts: Vec<Snap> = (0..256)
        .filter_map(|_| graph.snap(point(), 300.0, |_| true))
        .collect();
    let mut i = 0;
    g.bench_function("nearest_3_of_3000", |b| {
        b.iter(|| {
            i = (i + 1) % starts.len();
            let mode = Mode {
                step_free: false,
                max_m: 20_000.0,
                k: 3,
            };
            nearest(&graph, &targets, &starts[i], mode, |_| true)
        })
    });
    // Every node, no early stop: citytwin's search with no targets and no limit…
    let none = Targets::new(&graph, &[]);
    g.bench_function("full_dijkstra_citytwin", |b| {
        b.iter(|| {
            let mode = Mode {
                step_free: false,
                max_m: f64::INFINITY,
                k: 1,
            };
            nearest(&graph, &none, &starts[0], mode, |_| true)
        })
    });
    // …and petgraph's Dijkstra over the same nodes and edges (lengths as weights).
    let mut pg =
        petgraph::graph::UnGraph::<(), f64>::with_capacity(graph.node_count(), graph.edge_count());
    for _ in 0..graph.node_count() {
        pg.add_node(());
    }
    for e in 0..graph.edge_count() as u32 {
        let ed = graph.edge(e);
        pg.add_edge(ed.a.into(), ed.b.into(), ed.metres);
    }
    let from = graph.edge(starts[0].edge).a;
    g.bench_function("full_dijkstra_petgraph", |b| {
        b.iter(|| petgraph::algo::dijkstra(&pg, from.into(), None, |e| *e.weight()))
    });
    g.finish();
}

criterion_group!(benches, walk);
criterion_main!(benches);
