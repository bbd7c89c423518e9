//! Indexing one loaded layer: its R-tree, and its entries in the twin's id and serial tables.
//! Layers are indexed on threads of their own (while the next layer is read), so the tables
//! they share are atomic while the twin is built, and plain once it is.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use rstar::RTree;

use super::slots::{self, Handle};
use super::{LayerTree, LineEntry, PointEntry};
use crate::model::{Geometry, GeometryKind, LayerId, Object, ObjectId};
use crate::numbering::{self, Number};

/// The tables every layer writes into: object id → slot handle, serial → object id.
pub(super) struct Shared {
    index: Vec<AtomicU32>,
    serials: Vec<AtomicU64>,
}

impl Shared {
    pub(super) fn new(max_id: usize, serial_space: usize) -> Shared {
        Shared {
            index: (0..=max_id).map(|_| AtomicU32::new(0)).collect(),
            serials: (0..serial_space).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The finished tables.
    pub(super) fn into_tables(self) -> (Vec<Handle>, Vec<ObjectId>) {
        (
            self.index.into_iter().map(AtomicU32::into_inner).collect(),
            self.serials
                .into_iter()
                .map(AtomicU64::into_inner)
                .collect(),
        )
    }
}

/// One layer, indexed.
pub(super) struct LayerPart {
    pub layer: LayerId,
    pub tree: LayerTree,
    /// The layer's objects, in the chunks whose numbers their handles carry.
    pub chunks: Vec<Vec<Object>>,
    /// Source numbers (no check digit) by lookup key.
    pub source_numbers: Vec<(String, ObjectId)>,
    /// Ids above the id table's size, with their handles.
    pub beyond_plan: Vec<(ObjectId, Handle)>,
    /// The id span of each source file's objects in this layer.
    pub files: super::files::Spans,
    /// How many of the layer's objects are hidden from the public.
    pub hidden: usize,
}

/// Indexes one layer whose chunks will be the twin's chunks `first_chunk..`.
pub(super) fn index_layer(
    shared: &Shared,
    layer: LayerId,
    kind: GeometryKind,
    first_chunk: usize,
    chunks: Vec<Vec<Object>>,
) -> LayerPart {
    let count = chunks.iter().map(Vec::len).sum();
    let mut points: Vec<PointEntry> = Vec::new();
    let mut lines: Vec<LineEntry> = Vec::new();
    match kind {
        GeometryKind::Point => points.reserve_exact(count),
        GeometryKind::Line | GeometryKind::Polygon => lines.reserve_exact(count),
    }
    let mut source_numbers = Vec::new();
    let mut beyond_plan = Vec::new();
    let mut files = super::files::Spans::default();
    let mut hidden = 0;
    for (c, chunk) in chunks.iter().enumerate() {
        for (offset, o) in chunk.iter().enumerate() {
            files.note(&o.source.file, o.id);
            hidden += usize::from(o.is_hidden());
            let handle = slots::handle(first_chunk + c, offset);
            match shared.index.get(o.id as usize) {
                Some(slot) => slot.store(handle, Ordering::Relaxed),
                // An id above the plan's largest (a row committed by another process while
                // the store was being read): the twin places it once the tables are plain.
                None => beyond_plan.push((o.id, handle)),
            }
            match &o.number {
                Some(Number::Scheme { serial, .. }) => {
                    if let Some(slot) = shared.serials.get(*serial as usize) {
                        slot.store(o.id, Ordering::Relaxed);
                    }
                }
                Some(Number::Source(s)) => source_numbers.push((numbering::source_key(s), o.id)),
                None => {}
            }
            match &o.geometry {
                Geometry::Point(p) => points.push(PointEntry::new(*p, o.id)),
                Geometry::Line(_) | Geometry::Polygon(_) => {
                    lines.push(LineEntry::new(LayerTree::entry_rect(o), o.id))
                }
            }
        }
    }
    let tree = match kind {
        GeometryKind::Point => LayerTree::Points(RTree::bulk_load_with_params(points)),
        GeometryKind::Line | GeometryKind::Polygon => {
            LayerTree::Boxes(RTree::bulk_load_with_params(lines))
        }
    };
    LayerPart {
        layer,
        tree,
        chunks,
        source_numbers,
        beyond_plan,
        files,
        hidden,
    }
}
