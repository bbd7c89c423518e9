//! The emergency resolver's places: from a phone's position to the nearest numbered landmarks
//! (`/nearest`), with distances, compass bearings and the nearest imported address.

pub mod nearest;
pub mod place;

pub use nearest::{Landmark, NearestError, NearestQuery, nearest};
