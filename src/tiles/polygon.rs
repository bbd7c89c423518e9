//! Polygons in tile units, cut as a renderer needs them: clipped to the tile plus its buffer,
//! simplified, snapped to the integer grid and then **repaired**, because rounding can make a
//! ring collapse, touch itself or cross a hole. What leaves here is valid: rings of at least
//! three distinct points, no self-intersection, holes inside their exterior, nothing smaller
//! than the area asked for. Winding is the MVT writer's job (it rewinds each ring to its role).
//!
//! The clip is Sutherland–Hodgman against the buffered square, one ring at a time: exact for a
//! convex window, linear in the ring's length, and a polygon that covers the whole tile comes
//! out as the window itself. Where a concave ring leaves and re-enters the window along the
//! same edge the clip leaves a zero-width bridge on that edge; the repair (i_overlay's integer
//! overlay: the exteriors less the holes, OGC-valid output) removes it with everything else the
//! grid broke. Polygons the repair finds valid already are kept exactly as they came, in their
//! own order.

use geo::Simplify;
use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay::{ContourDirection, IntOverlayOptions, Overlay};
use i_overlay::core::overlay_rule::OverlayRule;
use i_overlay::core::simplify::Simplify as _;
use i_overlay::i_float::int::point::IntPoint;

/// A closed ring in integer tile units, its first point not repeated at the end.
pub type GridRing = Vec<(i32, i32)>;

/// A polygon in integer tile units: the exterior ring, then its holes.
pub type GridPolygon = Vec<GridRing>;

/// How a polygon is cut for one tile.
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    /// The window is `[lo, hi]²` in tile units: the tile and its buffer.
    pub lo: f64,
    pub hi: f64,
    /// Ramer–Douglas–Peucker tolerance in tile units (0: none).
    pub tolerance: f64,
    /// Polygons and holes smaller than this (square tile units) are left out.
    pub min_area: f64,
}

/// Cuts an object's polygons (tile units; each its exterior ring first, then its holes; rings
/// open or closed, in any winding) for a tile. Returns the valid polygons left: none when they
/// fall outside the window or shrink below `min_area`, fewer when the grid joins them, more
/// when it splits one.
pub fn polygon_pieces(polygons: &[Vec<Vec<[f64; 2]>>], cut: &Cut) -> Vec<GridPolygon> {
    let mut snapped: Vec<Vec<Vec<IntPoint>>> = Vec::with_capacity(polygons.len());
    'polygons: for rings in polygons {
        let Some(exterior) = rings.first() else {
            continue;
        };
        let b = bounds(exterior);
        if b[2] < cut.lo || b[0] > cut.hi || b[3] < cut.lo || b[1] > cut.hi {
            continue;
        }
        let inside = b[0] >= cut.lo && b[2] <= cut.hi && b[1] >= cut.lo && b[3] <= cut.hi;
        let mut grid: Vec<Vec<IntPoint>> = Vec::with_capacity(rings.len());
        for (i, ring) in rings.iter().enumerate() {
            let clipped;
            let ring: &[[f64; 2]] = if inside {
                ring
            } else {
                clipped = clip_ring(ring, cut.lo, cut.hi);
                &clipped
            };
            let ring = snap_ring(&simplify_ring(ring, cut.tolerance));
            if ring.len() < 3 {
                if i == 0 {
                    continue 'polygons;
                }
                continue;
            }
            grid.push(ring);
        }
        snapped.push(grid);
    }
    if snapped.is_empty() {
        return Vec::new();
    }
    repair(snapped, cut.min_area)
}

/// The valid polygons of snapped ones: the polygons themselves when they are valid already,
/// else the union of their exteriors less the union of their holes (every ring taken
/// counter-clockwise, non-zero rule). So overlapping holes stay holes, a hole pushed across its
/// exterior cuts away only what is inside it, parts that the grid made touch along an edge
/// become one polygon, and a ring that crosses itself is split where it crosses.
fn repair(polygons: Vec<Vec<Vec<IntPoint>>>, min_area: f64) -> Vec<GridPolygon> {
    let options = IntOverlayOptions {
        preserve_input_collinear: false,
        output_direction: ContourDirection::CounterClockwise,
        preserve_output_collinear: false,
        min_output_area: 0,
        ogc: true,
    };
    let ccw = |r: &Vec<IntPoint>| {
        let mut r = r.clone();
        if signed_area(r.iter().map(|p| (p.x, p.y))) < 0.0 {
            r.reverse();
        }
        r
    };
    let exteriors: Vec<Vec<IntPoint>> = polygons.iter().map(|p| ccw(&p[0])).collect();
    let holes: Vec<Vec<IntPoint>> = polygons
        .iter()
        .flat_map(|p| p[1..].iter().map(ccw))
        .collect();
    let shapes = if holes.is_empty() {
        exteriors.simplify(FillRule::NonZero, options)
    } else {
        Overlay::with_contours_custom(&exteriors, &holes, options, Default::default())
            .overlay(OverlayRule::Difference, FillRule::NonZero)
    };
    let kept = if unchanged(&polygons, &shapes) {
        polygons
    } else {
        shapes
    };
    kept.into_iter()
        .filter_map(|shape| {
            let mut rings = shape.into_iter().enumerate().filter(|(_, c)| {
                let a = area(c);
                c.len() >= 3 && a > 0.0 && a >= min_area
            });
            // A polygon whose exterior is too small goes with its holes.
            let (0, exterior) = rings.next()? else {
                return None;
            };
            let grid = |c: Vec<IntPoint>| c.into_iter().map(|p| (p.x, p.y)).collect::<GridRing>();
            let mut polygon = vec![grid(exterior)];
            polygon.extend(rings.map(|(_, hole)| grid(hole)));
            Some(polygon)
        })
        .collect()
}

/// Whether the repair gave back the same polygons (the same rings, each as the same set of
/// points, in any order or winding): then they are kept as they came, in their own order.
fn unchanged(input: &[Vec<Vec<IntPoint>>], output: &[Vec<Vec<IntPoint>>]) -> bool {
    if input.len() != output.len() {
        return false;
    }
    let key = |r: &Vec<IntPoint>| {
        let mut k: Vec<(i32, i32)> = r.iter().map(|p| (p.x, p.y)).collect();
        k.sort_unstable();
        k
    };
    let keys = |p: &Vec<Vec<IntPoint>>| {
        let mut holes: Vec<Vec<(i32, i32)>> = p[1..].iter().map(key).collect();
        holes.sort_unstable();
        (key(&p[0]), holes)
    };
    let mut a: Vec<_> = input.iter().map(keys).collect();
    let mut b: Vec<_> = output.iter().filter(|p| !p.is_empty()).map(keys).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// The unsigned area of a ring of grid points (square tile units).
fn area(ring: &[IntPoint]) -> f64 {
    signed_area(ring.iter().map(|p| (p.x, p.y))).abs()
}

/// The unsigned area of a grid ring.
pub fn area_of(ring: &[(i32, i32)]) -> f64 {
    signed_area(ring.iter().copied()).abs()
}

/// Surveyor's formula over an open ring, in exact integers.
fn signed_area(ring: impl Iterator<Item = (i32, i32)> + Clone) -> f64 {
    let mut first = None;
    let mut prev: Option<(i32, i32)> = None;
    let mut twice: i64 = 0;
    for p in ring {
        if let Some(q) = prev {
            twice += i64::from(q.0) * i64::from(p.1) - i64::from(p.0) * i64::from(q.1);
        } else {
            first = Some(p);
        }
        prev = Some(p);
    }
    if let (Some(a), Some(z)) = (first, prev) {
        twice += i64::from(z.0) * i64::from(a.1) - i64::from(a.0) * i64::from(z.1);
    }
    twice as f64 / 2.0
}

fn bounds(ring: &[[f64; 2]]) -> [f64; 4] {
    ring.iter()
        .fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, p| {
            [
                b[0].min(p[0]),
                b[1].min(p[1]),
                b[2].max(p[0]),
                b[3].max(p[1]),
            ]
        })
}

/// Ramer–Douglas–Peucker on a closed ring; the ring's first point is kept.
fn simplify_ring(ring: &[[f64; 2]], tolerance: f64) -> Vec<[f64; 2]> {
    if tolerance <= 0.0 || ring.len() <= 4 {
        return ring.to_vec();
    }
    let mut ls: geo::LineString<f64> = ring.iter().map(|p| (p[0], p[1])).collect();
    ls.close();
    ls.simplify(tolerance)
        .0
        .into_iter()
        .map(|c| [c.x, c.y])
        .collect()
}

/// Rounds a ring to the grid: repeated points (also the closing one) go.
fn snap_ring(ring: &[[f64; 2]]) -> Vec<IntPoint> {
    let mut out: Vec<IntPoint> = Vec::with_capacity(ring.len());
    for p in ring {
        let q = IntPoint::new(p[0].round() as i32, p[1].round() as i32);
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    out
}

/// Sutherland–Hodgman: the part of a ring inside `[lo, hi]²`, as one ring (possibly with
/// zero-width bridges along the window's edges, which the repair removes).
fn clip_ring(ring: &[[f64; 2]], lo: f64, hi: f64) -> Vec<[f64; 2]> {
    // Each edge of the window: which coordinate, the bound, and whether inside is above it.
    let edges = [(0, lo, true), (0, hi, false), (1, lo, true), (1, hi, false)];
    let mut current: Vec<[f64; 2]> = ring.to_vec();
    if current.len() > 1 && current.first() == current.last() {
        current.pop();
    }
    let mut next = Vec::with_capacity(current.len() + 4);
    for (axis, bound, above) in edges {
        if current.is_empty() {
            break;
        }
        next.clear();
        let inside = |p: &[f64; 2]| {
            if above {
                p[axis] >= bound
            } else {
                p[axis] <= bound
            }
        };
        let cross = |a: &[f64; 2], b: &[f64; 2]| {
            let t = (bound - a[axis]) / (b[axis] - a[axis]);
            let mut p = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
            p[axis] = bound;
            p
        };
        let mut prev = current[current.len() - 1];
        for &p in &current {
            match (inside(&prev), inside(&p)) {
                (true, true) => next.push(p),
                (true, false) => next.push(cross(&prev, &p)),
                (false, true) => {
                    next.push(cross(&prev, &p));
                    next.push(p);
                }
                (false, false) => {}
            }
            prev = p;
        }
        std::mem::swap(&mut current, &mut next);
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut() -> Cut {
        Cut {
            lo: -64.0,
            hi: 4160.0,
            tolerance: 0.0,
            min_area: 0.0,
        }
    }

    /// One polygon's pieces.
    fn one(rings: &[Vec<[f64; 2]>], cut: &Cut) -> Vec<GridPolygon> {
        polygon_pieces(&[rings.to_vec()], cut)
    }

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
        vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    }

    #[test]
    fn a_valid_polygon_inside_the_tile_is_kept_as_it_came() {
        // The spec's example polygon (3,6) (8,12) (20,34), in its own order.
        let p = one(&[vec![[3.0, 6.0], [8.0, 12.0], [20.0, 34.0]]], &cut());
        assert_eq!(p, vec![vec![vec![(3, 6), (8, 12), (20, 34)]]]);
        // With a hole, both rings as given.
        let shell = square(0.0, 0.0, 10.0, 10.0);
        let hole = square(2.0, 2.0, 4.0, 4.0);
        let p = one(&[shell, hole], &cut());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0][0], vec![(0, 0), (10, 0), (10, 10), (0, 10)]);
        assert_eq!(p[0][1], vec![(2, 2), (4, 2), (4, 4), (2, 4)]);
    }

    #[test]
    fn a_polygon_over_the_whole_tile_is_the_window() {
        let p = one(&[square(-1e6, -1e6, 1e6, 1e6)], &cut());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].len(), 1);
        assert_eq!(area_of(&p[0][0]), 4224.0 * 4224.0);
    }

    #[test]
    fn a_concave_ring_clipped_loses_its_bridge() {
        // A U opening upwards whose arms leave the window at the top: clipped, the arms are two
        // pieces joined along the window's edge by a zero-width bridge, which the repair cuts.
        let u = vec![
            [100.0, -500.0],
            [200.0, -500.0],
            [200.0, 300.0],
            [300.0, 300.0],
            [300.0, -500.0],
            [400.0, -500.0],
            [400.0, 400.0],
            [100.0, 400.0],
        ];
        let p = one(&[u], &cut());
        let total: f64 = p.iter().map(|q| area_of(&q[0])).sum();
        // The U inside y ≥ -64: two arms of 100 × 364 and the base 300 × 100.
        assert_eq!(total, 2.0 * 100.0 * 364.0 + 300.0 * 100.0);
        for q in &p {
            assert_valid(q);
        }
    }

    #[test]
    fn rounding_that_breaks_a_ring_is_repaired() {
        // A bow tie after rounding: (0,0) (10,10) (10,0) (0,10) crosses itself at (5,5).
        let bow = vec![[0.2, 0.1], [9.8, 10.2], [10.1, -0.2], [-0.1, 9.9]];
        let p = one(&[bow], &cut());
        assert_eq!(p.len(), 2, "{p:?}");
        for q in &p {
            assert_valid(q);
        }
        // A sliver that rounds to a line collapses to nothing.
        let sliver = vec![[0.0, 0.0], [100.0, 0.2], [200.0, 0.1]];
        assert!(one(&[sliver], &cut()).is_empty());
        // A hole that rounding pushes across its shell: the result is still valid.
        let shell = square(0.0, 0.0, 10.0, 10.0);
        let hole = vec![[2.0, 2.0], [10.4, 2.0], [10.4, 4.0], [2.0, 4.0]];
        for q in one(&[shell, hole], &cut()) {
            assert_valid(&q);
        }
    }

    #[test]
    fn holes_cut_only_inside_and_parts_that_meet_become_one() {
        // A hole crossing its exterior: only the part inside is cut away, nothing is added.
        let p = one(
            &[square(0.0, 0.0, 10.0, 10.0), square(5.0, 2.0, 15.0, 4.0)],
            &cut(),
        );
        let total: f64 = p
            .iter()
            .map(|q| area_of(&q[0]) - q[1..].iter().map(|h| area_of(h)).sum::<f64>())
            .sum();
        assert_eq!(total, 100.0 - 10.0, "{p:?}");
        // Two holes that overlap: both stay holes (the overlap too).
        let p = one(
            &[
                square(0.0, 0.0, 20.0, 20.0),
                square(2.0, 2.0, 10.0, 10.0),
                square(6.0, 6.0, 14.0, 14.0),
            ],
            &cut(),
        );
        let total: f64 = p
            .iter()
            .map(|q| area_of(&q[0]) - q[1..].iter().map(|h| area_of(h)).sum::<f64>())
            .sum();
        assert_eq!(total, 400.0 - (64.0 + 64.0 - 16.0), "{p:?}");
        for q in &p {
            assert_valid(q);
        }
        // Two parts of one object sharing an edge: one polygon, not two that touch.
        let p = polygon_pieces(
            &[
                vec![square(0.0, 0.0, 10.0, 10.0)],
                vec![square(10.0, 0.0, 20.0, 10.0)],
            ],
            &cut(),
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(area_of(&p[0][0]), 200.0);
        // Parts apart stay apart, in their own order and rings.
        let p = polygon_pieces(
            &[
                vec![square(20.0, 0.0, 30.0, 10.0)],
                vec![square(0.0, 0.0, 10.0, 10.0)],
            ],
            &cut(),
        );
        assert_eq!(p[0][0], vec![(20, 0), (30, 0), (30, 10), (20, 10)]);
        assert_eq!(p[1][0], vec![(0, 0), (10, 0), (10, 10), (0, 10)]);
    }

    #[test]
    fn small_polygons_are_dropped_on_purpose() {
        let small = Cut {
            min_area: 64.0,
            ..cut()
        };
        assert!(one(&[square(0.0, 0.0, 7.0, 7.0)], &small).is_empty());
        assert_eq!(one(&[square(0.0, 0.0, 8.0, 8.0)], &small).len(), 1);
        // A tiny hole in a big shell goes, the shell stays.
        let p = one(
            &[
                square(0.0, 0.0, 100.0, 100.0),
                square(10.0, 10.0, 12.0, 12.0),
            ],
            &small,
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].len(), 1);
        // Outside the window: nothing.
        assert!(one(&[square(5000.0, 0.0, 5100.0, 10.0)], &cut()).is_empty());
    }

    /// Valid as MVT wants it: rings of ≥ 3 points, the exterior with area, holes inside it,
    /// no edge crossing another (checked with geo's OGC validation).
    fn assert_valid(p: &GridPolygon) {
        use geo::Validation;
        let ring = |r: &GridRing| {
            let mut c: Vec<(f64, f64)> = r
                .iter()
                .map(|&(x, y)| (f64::from(x), f64::from(y)))
                .collect();
            c.push(c[0]);
            geo::LineString::from(c)
        };
        let poly = geo::Polygon::new(ring(&p[0]), p[1..].iter().map(ring).collect());
        assert!(poly.is_valid(), "{p:?}: {:?}", poly.validation_errors());
        assert!(p.iter().all(|r| r.len() >= 3));
    }
}
