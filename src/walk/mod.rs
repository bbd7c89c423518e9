//! Walking: the pedestrian graph built from the city's streets (OSM ways with the foot
//! profile's rules, [`rules`]), its compact adjacency arrays and snapping ([`graph`]), and a
//! Dijkstra that stops at the nearest targets ([`search`]). The graph is derived data: the
//! streets and barriers it comes from are objects of the store, so it is rebuilt from them at
//! start and after an edit of either.

pub mod graph;
pub mod rules;
pub mod search;

pub use graph::{Graph, Snap, WayInput};
pub use rules::{NodeUse, WayUse, node_use, way_use};
pub use search::{Mode, Reached, Targets, nearest};

use crate::model::Object;
use crate::twin::Twin;

/// Layer of the ways walked.
pub const STREETS: &str = "streets";
/// Layer of the barriers on them.
pub const BARRIERS: &str = "barriers";

/// A tag of an object's attributes, as text.
pub fn tag(o: &Object) -> impl Fn(&str) -> Option<String> + '_ {
    move |k| o.attributes.get(k).map(|v| v.as_text())
}

/// The walking graph of the twin's streets (hidden ones too: a street is not a secret) and
/// barriers.
pub fn from_twin(twin: &Twin) -> Graph {
    let of = |name: &str| {
        twin.layers()
            .by_name(name)
            .map(|l| twin.ids_of(l))
            .unwrap_or_default()
    };
    let streets: Vec<&Object> = of(STREETS)
        .into_iter()
        .filter_map(|id| twin.get(id))
        .collect();
    let ways: Vec<WayInput<'_>> = streets
        .iter()
        .copied()
        .filter_map(|o: &Object| {
            let crate::model::Geometry::Line(points) = &o.geometry else {
                return None;
            };
            if o.status == crate::model::Status::Removed || o.status == crate::model::Status::Closed
            {
                return None;
            }
            way_use(&tag(o)).map(|how| WayInput { points, how })
        })
        .collect();
    let barriers: Vec<([f64; 2], NodeUse)> = of(BARRIERS)
        .into_iter()
        .filter_map(|id| twin.get(id))
        .filter(|o| o.status != crate::model::Status::Removed)
        .filter_map(|o| match o.geometry {
            crate::model::Geometry::Point(p) => Some((p, node_use(&tag(o)))),
            _ => None,
        })
        .collect();
    Graph::build(&ways, &barriers)
}
