//! Areas from OSM ways and multipolygon relations: member ways joined end to end into closed
//! rings, each inner ring given to the smallest outer ring that holds it.

use std::collections::HashMap;

use geo::{Area, Contains, InteriorPoint};

/// Why an area could not be built.
#[derive(Debug, PartialEq)]
pub enum AreaError {
    /// Nodes or member ways are missing (an extract cuts the area at its edge).
    CutOff { missing: usize, of: usize },
    /// The ways do not close into a ring.
    NotClosed,
}

impl std::fmt::Display for AreaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AreaError::CutOff { missing, of } => write!(
                f,
                "{missing} of {of} nodes or member ways are not in the file (the extract cut it off)"
            ),
            AreaError::NotClosed => {
                f.write_str("the ways do not close into a ring (an area needs closed rings)")
            }
        }
    }
}

type Ring = Vec<[f64; 2]>;

/// The area of a closed way: one polygon of one ring.
pub fn way_area(
    refs: &[i64],
    coords: &HashMap<i64, [f64; 2]>,
) -> Result<Vec<Vec<Ring>>, AreaError> {
    if refs.len() < 4 || refs.first() != refs.last() {
        return Err(AreaError::NotClosed);
    }
    Ok(vec![vec![positions(refs, coords)?]])
}

/// The polygons of a multipolygon relation from its member ways (`outer` true for the role
/// `outer` or an empty role, false for `inner`); `ways` holds the node ids of every way read.
pub fn relation_area(
    members: &[(i64, bool)],
    ways: &HashMap<i64, Vec<i64>>,
    coords: &HashMap<i64, [f64; 2]>,
) -> Result<Vec<Vec<Ring>>, AreaError> {
    let missing = members
        .iter()
        .filter(|(w, _)| !ways.contains_key(w))
        .count();
    if missing > 0 {
        return Err(AreaError::CutOff {
            missing,
            of: members.len(),
        });
    }
    let side = |outer: bool| -> Result<Vec<Ring>, AreaError> {
        let pieces: Vec<Vec<i64>> = members
            .iter()
            .filter(|(_, o)| *o == outer)
            .filter_map(|(w, _)| ways.get(w).cloned())
            .collect();
        join(pieces)?.iter().map(|r| positions(r, coords)).collect()
    };
    let outers = side(true)?;
    if outers.is_empty() {
        return Err(AreaError::NotClosed);
    }
    let inners = side(false)?;
    let shells: Vec<geo::Polygon<f64>> = outers
        .iter()
        .map(|r| geo::Polygon::new(r.iter().map(|p| (p[0], p[1])).collect(), Vec::new()))
        .collect();
    let mut polygons: Vec<Vec<Ring>> = outers.into_iter().map(|r| vec![r]).collect();
    for inner in inners {
        // A point inside the hole (its nodes may lie on the shell: a hole may touch it).
        let hole = geo::Polygon::new(inner.iter().map(|p| (p[0], p[1])).collect(), Vec::new());
        let Some(at) = hole.interior_point() else {
            continue;
        };
        // The smallest shell holding the hole: a lake's island's own pond goes to the island,
        // not to the lake.
        let holder = shells
            .iter()
            .enumerate()
            .filter(|(_, s)| s.contains(&at))
            .min_by(|a, b| a.1.unsigned_area().total_cmp(&b.1.unsigned_area()))
            .map(|(i, _)| i);
        // A hole outside every shell is a mapping error; it is left out.
        if let Some(i) = holder {
            polygons[i].push(inner);
        }
    }
    Ok(polygons)
}

/// Joins ways (node id lists) end to end into closed rings, reversing ways as needed.
fn join(mut open: Vec<Vec<i64>>) -> Result<Vec<Vec<i64>>, AreaError> {
    open.retain(|w| w.len() >= 2);
    let mut rings = Vec::new();
    while let Some(mut ring) = open.pop() {
        loop {
            if ring.len() >= 4 && ring.first() == ring.last() {
                rings.push(ring);
                break;
            }
            let end = ring[ring.len() - 1];
            let next = open
                .iter()
                .position(|w| w[0] == end || w[w.len() - 1] == end)
                .ok_or(AreaError::NotClosed)?;
            let mut way = open.swap_remove(next);
            if way[0] != end {
                way.reverse();
            }
            ring.extend_from_slice(&way[1..]);
        }
    }
    Ok(rings)
}

fn positions(refs: &[i64], coords: &HashMap<i64, [f64; 2]>) -> Result<Ring, AreaError> {
    let ring: Ring = refs.iter().filter_map(|r| coords.get(r).copied()).collect();
    if ring.len() < refs.len() {
        return Err(AreaError::CutOff {
            missing: refs.len() - ring.len(),
            of: refs.len(),
        });
    }
    Ok(ring)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes 1..=4 a 10×10 square, 5..=8 a 2×2 square inside it, 9..=12 a square far away.
    fn coords() -> HashMap<i64, [f64; 2]> {
        let mut c = HashMap::new();
        for (i, p) in [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]
            .iter()
            .enumerate()
        {
            c.insert(i as i64 + 1, *p);
        }
        for (i, p) in [[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0]]
            .iter()
            .enumerate()
        {
            c.insert(i as i64 + 5, *p);
        }
        for (i, p) in [[20.0, 0.0], [22.0, 0.0], [22.0, 2.0], [20.0, 2.0]]
            .iter()
            .enumerate()
        {
            c.insert(i as i64 + 9, *p);
        }
        c
    }

    #[test]
    fn split_and_reversed_outer_ways_join_and_holes_find_their_shell() {
        let mut ways = HashMap::new();
        // The outer ring in two pieces, the second one drawn backwards.
        ways.insert(100, vec![1, 2, 3]);
        ways.insert(101, vec![1, 4, 3]);
        ways.insert(102, vec![5, 6, 7, 8, 5]);
        ways.insert(103, vec![9, 10, 11, 12, 9]);
        let members = [(100, true), (102, false), (101, true), (103, true)];
        let polygons = relation_area(&members, &ways, &coords()).unwrap();
        assert_eq!(polygons.len(), 2);
        let big = polygons
            .iter()
            .find(|p| p[0].len() == 5 && p[0].contains(&[10.0, 10.0]))
            .unwrap();
        assert_eq!(big.len(), 2, "the hole went to the big shell");
        let far = polygons
            .iter()
            .find(|p| p[0].contains(&[22.0, 2.0]))
            .unwrap();
        assert_eq!(far.len(), 1);
        let g = crate::model::Geometry::Polygon(polygons.clone());
        assert_eq!(g.validate(), Ok(()));
        // A hole whose first node is on its shell still finds it.
        let mut c = coords();
        c.insert(20, [0.0, 5.0]);
        c.insert(21, [3.0, 4.0]);
        c.insert(22, [3.0, 6.0]);
        let mut ways = HashMap::new();
        ways.insert(100, vec![1, 2, 3, 4, 1]);
        ways.insert(104, vec![20, 21, 22, 20]);
        let touching = relation_area(&[(100, true), (104, false)], &ways, &c).unwrap();
        assert_eq!(touching[0].len(), 2, "{touching:?}");
    }

    #[test]
    fn open_and_cut_areas_are_refused_with_the_reason() {
        let mut ways = HashMap::new();
        ways.insert(100, vec![1, 2, 3]);
        assert_eq!(
            relation_area(&[(100, true)], &ways, &coords()),
            Err(AreaError::NotClosed)
        );
        assert_eq!(
            relation_area(&[(100, true), (999, true)], &ways, &coords()),
            Err(AreaError::CutOff { missing: 1, of: 2 })
        );
        assert_eq!(way_area(&[1, 2, 3], &coords()), Err(AreaError::NotClosed));
        assert_eq!(
            way_area(&[1, 2, 77, 1], &coords()),
            Err(AreaError::CutOff { missing: 1, of: 4 })
        );
        assert_eq!(
            way_area(&[1, 2, 3, 1], &coords()).unwrap(),
            vec![vec![vec![
                [0.0, 0.0],
                [10.0, 0.0],
                [10.0, 10.0],
                [0.0, 0.0]
            ]]]
        );
    }
}
