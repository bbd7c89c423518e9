//! The fibre network's bridges and articulation nodes, in-process, on a generated city network
//! of about 100,000 spans (`citytwin generate-fibre`: wells on a 150 m grid, a random spanning
//! tree of cables plus 5% more that close rings) against petgraph's `bridges` and
//! `articulation_points` over the same nodes and edges (the peer). The generated network has no
//! parallel cables, so petgraph's answer is right here and the work is the same; on a network
//! with a doubled cable petgraph would call both cables bridges. Before timing, both answers
//! are compared.
//!
//! Run: `cargo bench --bench fibre`.

use std::collections::BTreeSet;

use criterion::{Criterion, criterion_group, criterion_main};

use citytwin::fibre::generate::Grid;
use citytwin::fibre::graph::Graph;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let grid = Grid::new(100_000, 1);
    let g = Graph::from_edges(grid.nodes.len(), &grid.spans);
    let mut pg =
        petgraph::graph::UnGraph::<(), ()>::with_capacity(grid.nodes.len(), grid.spans.len());
    for _ in 0..grid.nodes.len() {
        pg.add_node(());
    }
    for &(a, b) in &grid.spans {
        pg.add_edge(a.into(), b.into(), ());
    }
    // The same answer, before any timing.
    let (ours, ours_art) = g.bridges();
    let theirs: BTreeSet<u32> = petgraph::algo::bridges(&pg)
        .map(|e| petgraph::visit::EdgeRef::id(&e).index() as u32)
        .collect();
    assert_eq!(
        ours.iter().copied().collect::<BTreeSet<u32>>(),
        theirs,
        "bridges differ"
    );
    let theirs_art: BTreeSet<u32> = petgraph::algo::articulation_points::articulation_points(&pg)
        .into_iter()
        .map(|n| n.index() as u32)
        .collect();
    assert_eq!(
        ours_art.iter().copied().collect::<BTreeSet<u32>>(),
        theirs_art,
        "articulation nodes differ"
    );
    eprintln!(
        "network: {} nodes, {} spans; {} bridges, {} articulation nodes",
        grid.nodes.len(),
        grid.spans.len(),
        ours.len(),
        ours_art.len()
    );
    let mut group = c.benchmark_group("fibre_100k");
    group.sample_size(20);
    group.bench_function("bridges_and_articulation_citytwin", |b| {
        b.iter(|| g.bridges())
    });
    group.bench_function("bridges_and_articulation_petgraph", |b| {
        b.iter(|| {
            let br = petgraph::algo::bridges(&pg).count();
            let ap = petgraph::algo::articulation_points::articulation_points(&pg).len();
            (br, ap)
        })
    });
    group.bench_function("redundancy_to_core_citytwin", |b| {
        b.iter(|| {
            let (br, _) = g.bridges();
            g.two_edge_parts(&br)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
