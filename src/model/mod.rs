//! The city's objects as plain data: layers, objects, status, attributes, geometry.
//! Pure code, no I/O.

mod layer;
mod object;

pub use layer::{BASEMAP, GeometryKind, LayerDef, LayerId, Layers};
pub use object::{
    Attributes, Draft, Geometry, HIDDEN, Object, ObjectId, Polygons, Ring, Source, Status, Value,
    hidden_flag, now_ms,
};
