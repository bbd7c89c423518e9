//! Resolver benchmarks, in-process, on a twin of 1M numbered points spread over a 20 km city
//! (7-digit serials, as the 10M benchmark city has; `RESOLVE_BENCH_N=10000000` for 10M). Each figure has a peer measured in the
//! same run: the bare lookups the resolver is built on (`serial_lookup`: the serial table;
//! `rtree_nearest`: rstar's nearest-neighbour walk), so the ratio is the resolver's own cost.
//!
//! Run: `cargo bench --bench resolve`.

use criterion::{Criterion, criterion_group, criterion_main};

use citytwin::model::{Geometry, Layers, Object, Source, Status};
use citytwin::numbering::Number;
use citytwin::resolve::{self, NearestQuery, ResolveQuery};
use citytwin::twin::Twin;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WIDTH: u8 = 7;

/// Points in the benchmark city: 1M, or `RESOLVE_BENCH_N` (up to the 7-digit serial space).
fn city_size() -> u64 {
    std::env::var("RESOLVE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000u64)
        .clamp(1_000, 10_000_000)
}

fn city() -> Twin {
    let layers = Layers::default_city();
    let poles = layers.by_name("poles").unwrap_or(0);
    let mut x: u64 = 0x9E37_79B9;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let n = city_size();
    let objects = (1..=n)
        .map(|id| Object {
            id,
            layer: poles,
            // Serials spread over the space like the assigner's permutation does.
            number: Some(Number::scheme(
                ((id * 7_919_993) % 10_000_000) as u32,
                WIDTH,
            )),
            geometry: Geometry::Point([35.0 + 0.27 * next(), 47.75 + 0.18 * next()]),
            status: Status::Ok,
            status_changed: 0,
            attributes: Default::default(),
            source: Source::default(),
            created: 0,
            updated: 0,
        })
        .collect();
    Twin::build(layers, WIDTH, objects)
}

fn bench(c: &mut Criterion) {
    let twin = city();
    let poles = twin.layers().by_name("poles").unwrap_or(0);
    let def = twin.layers().def(poles).clone();
    let some: Vec<(String, [f64; 2])> = (1..=1000u64)
        .map(|i| {
            let o = twin.get(i * (city_size() / 1000 - 3)).expect("object");
            (
                o.number.as_ref().expect("number").display(&def, WIDTH),
                o.geometry.anchor(),
            )
        })
        .collect();
    let mut g = c.benchmark_group(format!("resolve_{}k", city_size() / 1000));
    let mut i = 0;
    g.bench_function("serial_lookup (peer)", |b| {
        b.iter(|| {
            i = (i + 1) % some.len();
            twin.find_number(&some[i].0).len()
        })
    });
    let all = citytwin::access::Visible::all(twin.layers());
    let q = |s: &str, near: Option<[f64; 2]>| ResolveQuery {
        q: s.to_string(),
        near,
        radius_m: 2000.0,
        layers: Vec::new(),
        visible: all.clone(),
        limit: 5,
        streets: None,
    };
    g.bench_function("resolve_exact", |b| {
        b.iter(|| {
            i = (i + 1) % some.len();
            resolve::resolve(&twin, &q(&some[i].0, None)).map(|r| r.candidates.len())
        })
    });
    // One digit wrong: the check digit fails and every one-mistake variant is tried.
    let wrong: Vec<(String, [f64; 2])> = some
        .iter()
        .map(|(n, at)| {
            let mut cs: Vec<char> = n.chars().collect();
            let k = 4;
            cs[k] = if cs[k] == '1' { '2' } else { '1' };
            (cs.into_iter().collect(), *at)
        })
        .collect();
    g.bench_function("resolve_one_digit_wrong_near", |b| {
        b.iter(|| {
            i = (i + 1) % wrong.len();
            resolve::resolve(&twin, &q(&wrong[i].0, Some(wrong[i].1))).map(|r| r.candidates.len())
        })
    });
    g.bench_function("rtree_nearest_5 (peer)", |b| {
        b.iter(|| {
            i = (i + 1) % some.len();
            twin.nearest_points(poles, some[i].1).take(5).count()
        })
    });
    g.bench_function("nearest_5", |b| {
        b.iter(|| {
            i = (i + 1) % some.len();
            let at = some[i].1;
            resolve::nearest(
                &twin,
                &NearestQuery {
                    lat: at[1],
                    lon: at[0],
                    k: 5,
                    layers: Vec::new(),
                    visible: all.clone(),
                    max_m: 1000.0,
                },
            )
            .map(|r| r.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
