//! The city's objects as plain data: layers, objects, status, attributes, geometry.
//! Pure code, no I/O.

mod layer;
mod object;

pub use layer::{GeometryKind, LayerDef, LayerId, Layers};
pub use object::{
    Attributes, Draft, Geometry, HIDDEN, Object, ObjectId, Source, Status, Value, hidden_flag,
    now_ms,
};
