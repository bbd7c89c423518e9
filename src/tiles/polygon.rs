//! Polygons in tile units, cut as a renderer needs them: clipped to the tile plus its buffer,
//! simplified, snapped to the integer grid and then **repaired**, because rounding can make a
//! ring collapse, touch itself or cross a hole. What leaves here is valid: rings of at least
//! three distinct points, no self-intersection, holes inside their exterior, nothing smaller
//! than the area asked for. Winding is the MVT writer's job (it rewinds each ring to its role).
//!
//! The clip is Sutherland–Hodgman against the buffered square, one ring at a time: exact for a
//! convex window, linear in the ring's length, and a polygon that covers the whole tile comes
//! out as the window itself. Where a concave ring leaves and re-enters the window along the
//! same edge the clip leaves a zero-width bridge on that edge; the repair (i_overlay's
//! integer simplify, even-odd rule, OGC-valid output) removes it with everything else the grid
//! broke. A ring the repair finds already valid is kept exactly as it came, in its own order.

use geo::Simplify;
use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay::{ContourDirection, IntOverlayOptions};
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

/// Cuts one polygon (tile units; its exterior ring first, then holes; rings open or closed, in
/// any winding) for a tile. Returns the valid polygons left: none when it falls outside the
/// window or shrinks below `min_area`, several when the grid splits it.
pub fn polygon_pieces(rings: &[Vec<[f64; 2]>], cut: &Cut) -> Vec<GridPolygon> {
    let Some(exterior) = rings.first() else {
        return Vec::new();
    };
    let b = bounds(exterior);
    if b[2] < cut.lo || b[0] > cut.hi || b[3] < cut.lo || b[1] > cut.hi {
        return Vec::new();
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
        let snapped = snap_ring(&simplify_ring(ring, cut.tolerance));
        if snapped.len() < 3 {
            if i == 0 {
                return Vec::new();
            }
            continue;
        }
        grid.push(snapped);
    }
    repair(grid, cut.min_area)
}

/// The valid polygons of snapped rings (exterior first): the rings themselves when they are
/// valid already, else what the even-odd rule makes of them.
fn repair(rings: Vec<Vec<IntPoint>>, min_area: f64) -> Vec<GridPolygon> {
    let options = IntOverlayOptions {
        preserve_input_collinear: false,
        output_direction: ContourDirection::CounterClockwise,
        preserve_output_collinear: false,
        min_output_area: 0,
        ogc: true,
    };
    let shapes = rings.simplify(FillRule::EvenOdd, options);
    let unchanged = shapes.len() == 1
        && shapes[0].len() == rings.len()
        && shapes[0].iter().all(|c| {
            let mut c = c.clone();
            c.sort_unstable_by_key(|p| (p.x, p.y));
            rings.iter().any(|r| {
                let mut r = r.clone();
                r.sort_unstable_by_key(|p| (p.x, p.y));
                r == c
            })
        });
    let shapes = if unchanged { vec![rings] } else { shapes };
    shapes
        .into_iter()
        .filter_map(|shape| {
            let mut kept = shape
                .into_iter()
                .enumerate()
                .filter(|(_, c)| {
                    let a = area(c);
                    c.len() >= 3 && a > 0.0 && a >= min_area
                })
                .map(|(i, c)| (i, c.into_iter().map(|p| (p.x, p.y)).collect::<GridRing>()));
            match kept.next() {
                Some((0, exterior)) => {
                    let mut polygon = vec![exterior];
                    polygon.extend(kept.map(|(_, hole)| hole));
                    Some(polygon)
                }
                _ => None,
            }
        })
        .collect()
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

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
        vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    }

    #[test]
    fn a_valid_polygon_inside_the_tile_is_kept_as_it_came() {
        // The spec's example polygon (3,6) (8,12) (20,34), in its own order.
        let p = polygon_pieces(&[vec![[3.0, 6.0], [8.0, 12.0], [20.0, 34.0]]], &cut());
        assert_eq!(p, vec![vec![vec![(3, 6), (8, 12), (20, 34)]]]);
        // With a hole, both rings as given.
        let shell = square(0.0, 0.0, 10.0, 10.0);
        let hole = square(2.0, 2.0, 4.0, 4.0);
        let p = polygon_pieces(&[shell, hole], &cut());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0][0], vec![(0, 0), (10, 0), (10, 10), (0, 10)]);
        assert_eq!(p[0][1], vec![(2, 2), (4, 2), (4, 4), (2, 4)]);
    }

    #[test]
    fn a_polygon_over_the_whole_tile_is_the_window() {
        let p = polygon_pieces(&[square(-1e6, -1e6, 1e6, 1e6)], &cut());
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
        let p = polygon_pieces(&[u], &cut());
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
        let p = polygon_pieces(&[bow], &cut());
        assert_eq!(p.len(), 2, "{p:?}");
        for q in &p {
            assert_valid(q);
        }
        // A sliver that rounds to a line collapses to nothing.
        let sliver = vec![[0.0, 0.0], [100.0, 0.2], [200.0, 0.1]];
        assert!(polygon_pieces(&[sliver], &cut()).is_empty());
        // A hole that rounding pushes across its shell: the result is still valid.
        let shell = square(0.0, 0.0, 10.0, 10.0);
        let hole = vec![[2.0, 2.0], [10.4, 2.0], [10.4, 4.0], [2.0, 4.0]];
        for q in polygon_pieces(&[shell, hole], &cut()) {
            assert_valid(&q);
        }
    }

    #[test]
    fn small_polygons_are_dropped_on_purpose() {
        let small = Cut {
            min_area: 64.0,
            ..cut()
        };
        assert!(polygon_pieces(&[square(0.0, 0.0, 7.0, 7.0)], &small).is_empty());
        assert_eq!(
            polygon_pieces(&[square(0.0, 0.0, 8.0, 8.0)], &small).len(),
            1
        );
        // A tiny hole in a big shell goes, the shell stays.
        let p = polygon_pieces(
            &[
                square(0.0, 0.0, 100.0, 100.0),
                square(10.0, 10.0, 12.0, 12.0),
            ],
            &small,
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].len(), 1);
        // Outside the window: nothing.
        assert!(polygon_pieces(&[square(5000.0, 0.0, 5100.0, 10.0)], &cut()).is_empty());
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
