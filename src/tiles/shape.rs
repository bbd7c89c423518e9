//! Geometry in tile units: simplify, clip to the tile plus its buffer, snap to the integer grid
//! and drop what the snapping made zero-length. Lines are simplified before clipping, with
//! their end points kept, so spans that meet still meet at every zoom.

use geo::Simplify;

/// A line in integer tile units, at least two distinct consecutive points.
pub type GridLine = Vec<(i32, i32)>;

/// Simplifies a line (tile units, not rounded) with the Ramer–Douglas–Peucker tolerance
/// `tolerance` (tile units), clips it to the square `[lo, hi]²` and snaps it to the grid.
/// Returns the pieces left inside (a line that leaves and re-enters gives several).
pub fn line_pieces(points: &[[f64; 2]], tolerance: f64, lo: f64, hi: f64) -> Vec<GridLine> {
    let simplified: Vec<[f64; 2]> = if tolerance > 0.0 && points.len() > 2 {
        let ls: geo::LineString<f64> = points.iter().map(|p| (p[0], p[1])).collect();
        ls.simplify(tolerance)
            .0
            .into_iter()
            .map(|c| [c.x, c.y])
            .collect()
    } else {
        points.to_vec()
    };
    let mut pieces: Vec<Vec<[f64; 2]>> = Vec::new();
    let mut open = false;
    for w in simplified.windows(2) {
        match clip_segment(w[0], w[1], lo, hi) {
            Some((a, b, a_moved, b_moved)) => {
                if !open || a_moved {
                    pieces.push(vec![a]);
                }
                if let Some(p) = pieces.last_mut() {
                    p.push(b);
                }
                open = !b_moved;
            }
            None => open = false,
        }
    }
    pieces.into_iter().filter_map(|p| snap_line(&p)).collect()
}

/// Rounds a line to the grid and removes repeated points; `None` when fewer than two remain.
fn snap_line(points: &[[f64; 2]]) -> Option<GridLine> {
    let mut out: GridLine = Vec::with_capacity(points.len());
    for p in points {
        let q = snap(*p);
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
    (out.len() >= 2).then_some(out)
}

/// A position rounded to the grid.
pub fn snap([x, y]: [f64; 2]) -> (i32, i32) {
    (x.round() as i32, y.round() as i32)
}

/// Liang–Barsky: the part of segment `a`→`b` inside `[lo, hi]²`, with whether each end was
/// moved by the clip.
fn clip_segment(
    a: [f64; 2],
    b: [f64; 2],
    lo: f64,
    hi: f64,
) -> Option<([f64; 2], [f64; 2], bool, bool)> {
    let d = [b[0] - a[0], b[1] - a[1]];
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for axis in 0..2 {
        for (p, q) in [(-d[axis], a[axis] - lo), (d[axis], hi - a[axis])] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    if r > t1 {
                        return None;
                    }
                    t0 = t0.max(r);
                } else {
                    if r < t0 {
                        return None;
                    }
                    t1 = t1.min(r);
                }
            }
        }
    }
    let at = |t: f64| [a[0] + t * d[0], a[1] + t * d[1]];
    Some((
        if t0 > 0.0 { at(t0) } else { a },
        if t1 < 1.0 { at(t1) } else { b },
        t0 > 0.0,
        t1 < 1.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_clipped_to_the_buffered_tile_and_snapped() {
        // Enters from the left, leaves at the top, comes back, ends inside.
        let line = [
            [-200.0, 100.0],
            [100.0, 100.0],
            [100.0, -300.0],
            [200.0, -300.0],
            [200.0, 50.4],
            [200.2, 50.3],
        ];
        let pieces = line_pieces(&line, 0.0, -64.0, 4160.0);
        assert_eq!(
            pieces,
            vec![
                vec![(-64, 100), (100, 100), (100, -64)],
                vec![(200, -64), (200, 50)],
            ]
        );
        // Wholly outside: nothing.
        assert!(line_pieces(&[[5000.0, 0.0], [6000.0, 10.0]], 0.0, -64.0, 4160.0).is_empty());
        // Shorter than a unit after snapping: nothing (a zero-length line is invalid MVT).
        assert!(line_pieces(&[[10.1, 10.1], [10.3, 10.2]], 0.0, -64.0, 4160.0).is_empty());
    }

    #[test]
    fn simplification_keeps_the_end_points() {
        let zigzag: Vec<[f64; 2]> = (0..=100)
            .map(|i| [i as f64 * 10.0, if i % 2 == 0 { 0.0 } else { 0.5 }])
            .collect();
        let pieces = line_pieces(&zigzag, 2.0, -64.0, 4160.0);
        assert_eq!(pieces, vec![vec![(0, 0), (1000, 0)]]);
    }
}
