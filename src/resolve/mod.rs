//! The emergency resolver: a number as heard → the place (`/resolve`, [`number`]), and a
//! phone's position → the nearest numbered landmarks (`/nearest`, [`nearest`]), with
//! distances, compass bearings and the nearest imported address ([`place`]).

pub mod address;
pub mod audit;
pub mod call;
pub mod eval;
pub mod locate;
pub mod nearest;
pub mod number;
pub mod place;
pub mod scan;
pub mod streets;
pub mod words;

pub use locate::{LocateError, Located, locate};
pub use number::{Candidate, ResolveError, ResolveQuery, Resolved, resolve};

pub use nearest::{Landmark, NearestQuery, nearest};
