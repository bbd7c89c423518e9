//! The live city in memory: every object by id, an R-tree per layer, the number → object map
//! and a data version per layer. Features read it; only the registry writes it, after the store.

mod build;
mod cache;
mod files;
mod slots;

pub use cache::ViewCache;

use std::collections::HashMap;

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::model::{LayerId, Layers, Object, ObjectId};
use crate::numbering::{self, Number};
use crate::store::LayerPlan;

type PointEntry = GeomWithData<[f64; 2], ObjectId>;
type LineEntry = GeomWithData<Rectangle<[f64; 2]>, ObjectId>;

/// Node sizes of the twin's R-trees: wider than rstar's default (3..6), so a bulk load of
/// millions of points partitions them over fewer levels. `cargo bench --bench registry --
/// rtree` on 1M points: bulk load 235 ms against 308 ms, 10k small-box queries 10.7 ms against
/// 13.8 ms.
pub struct TreeParams;

impl rstar::RTreeParams for TreeParams {
    const MIN_SIZE: usize = 5;
    const MAX_SIZE: usize = 12;
    const REINSERTION_COUNT: usize = 3;
    type DefaultInsertionStrategy = rstar::RStarInsertionStrategy;
}

/// Walks a point tree's node: every point inside `env`. A node whose envelope lies wholly
/// inside it gives all its points without testing them (`inside`), which is most of the tree
/// for a low-zoom tile; rstar's own envelope iterator tests every child it passes.
fn visit_node(
    node: &rstar::ParentNode<PointEntry>,
    env: &AABB<[f64; 2]>,
    inside: bool,
    f: &mut impl FnMut(ObjectId, [f64; 2]),
) {
    use rstar::{Envelope, RTreeNode};
    for child in node.children() {
        match child {
            RTreeNode::Leaf(p) => {
                if inside || env.contains_point(p.geom()) {
                    f(p.data, *p.geom());
                }
            }
            RTreeNode::Parent(n) => {
                let whole = inside || env.contains_envelope(&n.envelope());
                if whole || env.intersects(&n.envelope()) {
                    visit_node(n, env, whole, f);
                }
            }
        }
    }
}

/// The spatial index of one layer.
enum LayerTree {
    Points(RTree<PointEntry, TreeParams>),
    /// Lines and polygons, by their bounding boxes.
    Boxes(RTree<LineEntry, TreeParams>),
}

impl LayerTree {
    fn empty(kind: crate::model::GeometryKind) -> LayerTree {
        match kind {
            crate::model::GeometryKind::Point => LayerTree::Points(RTree::new_with_params()),
            crate::model::GeometryKind::Line | crate::model::GeometryKind::Polygon => {
                LayerTree::Boxes(RTree::new_with_params())
            }
        }
    }

    fn entry_rect(o: &Object) -> Rectangle<[f64; 2]> {
        let b = o.geometry.bbox();
        Rectangle::from_corners([b[0], b[1]], [b[2], b[3]])
    }

    fn insert(&mut self, o: &Object) {
        match self {
            LayerTree::Points(t) => t.insert(PointEntry::new(o.geometry.anchor(), o.id)),
            LayerTree::Boxes(t) => t.insert(LineEntry::new(Self::entry_rect(o), o.id)),
        }
    }

    fn remove(&mut self, o: &Object) {
        match self {
            LayerTree::Points(t) => {
                t.remove(&PointEntry::new(o.geometry.anchor(), o.id));
            }
            LayerTree::Boxes(t) => {
                t.remove(&LineEntry::new(Self::entry_rect(o), o.id));
            }
        }
    }

    fn query(&self, bbox: [f64; 4], out: &mut Vec<ObjectId>) {
        let env = AABB::from_corners([bbox[0], bbox[1]], [bbox[2], bbox[3]]);
        match self {
            LayerTree::Points(t) => out.extend(t.locate_in_envelope(env).map(|e| e.data)),
            LayerTree::Boxes(t) => {
                out.extend(t.locate_in_envelope_intersecting(env).map(|e| e.data))
            }
        }
    }

    fn bbox(&self) -> Option<[f64; 4]> {
        let env = match self {
            LayerTree::Points(t) if t.size() > 0 => t.root().envelope(),
            LayerTree::Boxes(t) if t.size() > 0 => t.root().envelope(),
            _ => return None,
        };
        Some([
            env.lower()[0],
            env.lower()[1],
            env.upper()[0],
            env.upper()[1],
        ])
    }
}

/// What a committed write changed, told to those who keep data derived from the twin (the
/// tile cache). Told with the twin's write lock held, right after the twin changed, so no
/// reader sees the new twin with the old derived data.
#[derive(Clone, Copy)]
pub enum Changed<'a> {
    /// The old and new bounding boxes (`[west, south, east, north]`) of every changed object,
    /// with its layer.
    Boxes(&'a [(LayerId, [f64; 4])]),
    /// Too much to list (a bulk import rebuilt the twin): assume everything changed.
    All,
}

/// Keeps something derived from the twin in step with it.
pub trait Follower: Send + Sync {
    fn changed(&self, twin: &Twin, what: Changed<'_>);
}

/// One layer as listed by `GET /layers` and `citytwin layers`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LayerInfo {
    pub name: String,
    /// Objects in the layer.
    pub count: usize,
    pub geometry: crate::model::GeometryKind,
    /// `[min_lon, min_lat, max_lon, max_lat]`, null when the layer is empty.
    pub bbox: Option<[f64; 4]>,
    /// Painted layer code in Ukrainian letters and its Latin transliteration (empty when the
    /// layer is not numbered).
    pub code: String,
    pub code_latin: String,
    pub numbered: bool,
    pub title_uk: String,
    pub title_en: String,
    /// Data version: changes whenever an object of the layer changes.
    pub version: u64,
}

/// The twin.
pub struct Twin {
    layers: Layers,
    width: u8,
    /// Every object, densely packed (exact size: a hash map would round up to a power of two).
    slots: slots::Slots,
    /// Object id → slot handle (0 = no such object). Ids are given in sequence, so this is dense.
    index: Vec<slots::Handle>,
    /// Objects per layer. Paging in id order walks `index`, which is dense by id: a per-layer
    /// ordered set would cost more memory than the objects' geometry.
    counts: Vec<usize>,
    /// Hidden objects per layer (see [`crate::model::HIDDEN`]): a layer with none is drawn
    /// and searched without looking at any object's flag.
    hidden: Vec<usize>,
    trees: Vec<LayerTree>,
    /// Serial → object id (0 = none): a dense table, 10^width entries (none until the twin
    /// holds a numbered object).
    serials: Vec<ObjectId>,
    /// Source numbers (no check digit) by lookup key.
    source_numbers: HashMap<String, Vec<ObjectId>>,
    /// Where each source file's objects lie among the ids.
    files: files::Spans,
    /// Bumped on every change to a layer.
    versions: Vec<u64>,
}

impl Twin {
    /// Builds the twin from every object at once (R-trees bulk-loaded).
    pub fn build(layers: Layers, width: u8, objects: Vec<Object>) -> Twin {
        let mut by_layer: Vec<Vec<Object>> = layers.ids().map(|_| Vec::new()).collect();
        for o in objects {
            if let Some(v) = by_layer.get_mut(o.layer as usize) {
                v.push(o);
            }
        }
        let plan: Vec<LayerPlan> = by_layer
            .iter()
            .enumerate()
            .map(|(l, v)| LayerPlan {
                layer: l as LayerId,
                min_id: v.iter().map(|o| o.id).min().unwrap_or(0),
                count: v.len(),
                max_id: v.iter().map(|o| o.id).max().unwrap_or(0),
            })
            .collect();
        let loaded = Self::load(layers, width, &plan, |p| {
            Ok::<_, std::convert::Infallible>(vec![std::mem::take(&mut by_layer[p.layer as usize])])
        });
        match loaded {
            Ok(t) => t,
            Err(never) => match never {},
        }
    }

    /// Builds the twin while `read` loads it layer by layer (largest first): each layer's
    /// R-tree, id index and number tables are built on a thread of their own while the next
    /// layer is read, so loading and indexing overlap.
    pub fn load<E: Send>(
        layers: Layers,
        width: u8,
        plan: &[LayerPlan],
        mut read: impl FnMut(&LayerPlan) -> Result<Vec<Vec<Object>>, E>,
    ) -> Result<Twin, E> {
        let n = layers.len();
        let max_id = plan.iter().map(|p| p.max_id).max().unwrap_or(0) as usize;
        // An empty twin starts without a serial table: the first import's checks then find
        // every serial free at once, instead of reading a table of 10^width zeros.
        let anything = plan.iter().any(|p| p.count > 0);
        let serial_space = if anything {
            numbering::serial_space(width) as usize
        } else {
            0
        };
        let shared = build::Shared::new(max_id, serial_space);
        let mut order: Vec<&LayerPlan> = plan.iter().filter(|p| (p.layer as usize) < n).collect();
        order.sort_by_key(|p| std::cmp::Reverse(p.count));
        let kinds: Vec<crate::model::GeometryKind> =
            layers.ids().map(|l| layers.def(l).geometry).collect();
        let parts =
            std::thread::scope(|scope| {
                let mut handles = Vec::new();
                let mut next_chunk = 0usize;
                for p in order {
                    let t = std::time::Instant::now();
                    let chunks = slots::normalize(read(p)?);
                    tracing::debug!(
                        layer = p.layer,
                        objects = p.count,
                        ms = t.elapsed().as_millis() as u64,
                        "layer read"
                    );
                    let first_chunk = next_chunk;
                    next_chunk += chunks.len();
                    let shared = &shared;
                    let kind = kinds[p.layer as usize];
                    handles.push(scope.spawn(move || {
                        build::index_layer(shared, p.layer, kind, first_chunk, chunks)
                    }));
                }
                Ok(handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect::<Vec<_>>())
            })?;
        let (index, serials) = shared.into_tables();
        let mut twin = Twin {
            width,
            slots: Default::default(),
            index,
            counts: vec![0; n],
            hidden: vec![0; n],
            trees: (0..n).map(|l| LayerTree::empty(kinds[l])).collect(),
            serials,
            source_numbers: HashMap::new(),
            files: Default::default(),
            versions: vec![1; n],
            layers,
        };
        // Parts come in the order their chunks were numbered.
        let mut chunks = Vec::new();
        for part in parts {
            let l = part.layer as usize;
            twin.counts[l] = part.chunks.iter().map(Vec::len).sum();
            twin.hidden[l] = part.hidden;
            twin.trees[l] = part.tree;
            twin.files.merge(part.files);
            for (key, id) in part.source_numbers {
                twin.source_numbers.entry(key).or_default().push(id);
            }
            for (id, handle) in part.beyond_plan {
                if twin.index.len() <= id as usize {
                    twin.index.resize(id as usize + 1, 0);
                }
                twin.index[id as usize] = handle;
            }
            chunks.extend(part.chunks);
        }
        twin.slots = slots::Slots::from_chunks(chunks);
        Ok(twin)
    }

    fn index_number(&mut self, o: &Object) {
        match &o.number {
            Some(Number::Scheme { serial, .. }) => {
                // The table is whole or absent (see `load`); zeroed pages cost nothing until used.
                if self.serials.is_empty() {
                    self.serials = vec![0; numbering::serial_space(self.width) as usize];
                }
                if let Some(slot) = self.serials.get_mut(*serial as usize) {
                    *slot = o.id;
                }
            }
            Some(Number::Source(s)) => self
                .source_numbers
                .entry(numbering::source_key(s))
                .or_default()
                .push(o.id),
            None => {}
        }
    }

    fn unindex_number(&mut self, o: &Object) {
        match &o.number {
            Some(Number::Scheme { serial, .. }) => {
                if let Some(slot) = self.serials.get_mut(*serial as usize)
                    && *slot == o.id
                {
                    *slot = 0;
                }
            }
            Some(Number::Source(s)) => {
                let key = numbering::source_key(s);
                if let Some(v) = self.source_numbers.get_mut(&key) {
                    v.retain(|id| *id != o.id);
                    if v.is_empty() {
                        self.source_numbers.remove(&key);
                    }
                }
            }
            None => {}
        }
    }

    pub fn layers(&self) -> &Layers {
        &self.layers
    }

    pub fn serial_width(&self) -> u8 {
        self.width
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn get(&self, id: ObjectId) -> Option<&Object> {
        match self.index.get(id as usize) {
            Some(&h) => self.slots.get(h),
            None => None,
        }
    }

    /// Puts an object into a new slot (the id must not be present).
    fn place(&mut self, o: Object) {
        let id = o.id as usize;
        if self.index.len() <= id {
            self.index.resize(id + 1, 0);
        }
        self.index[id] = self.slots.push(o);
    }

    /// Takes an object out of its slot; another object may move into the hole.
    fn unplace(&mut self, id: ObjectId) -> Option<Object> {
        let h = *self.index.get(id as usize).filter(|h| **h != 0)?;
        self.index[id as usize] = 0;
        let (o, moved) = self.slots.swap_remove(h)?;
        if let Some((h, m)) = moved {
            self.index[m.id as usize] = h;
        }
        Some(o)
    }

    /// Every object, giving up the twin.
    pub fn into_objects(self) -> impl Iterator<Item = Object> {
        self.slots.into_objects()
    }

    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.slots.iter().map(|(_, o)| o)
    }

    /// Anchors of objects of `layers`, about `want` of them, read evenly across the twin by
    /// walking at most `max_visits` objects (fewer come back when `layers` are a small part of
    /// the twin).
    pub fn sample_anchors(
        &self,
        layers: &[LayerId],
        want: usize,
        max_visits: usize,
    ) -> Vec<[f64; 2]> {
        let of_layers: usize = layers.iter().map(|l| self.count(*l)).sum();
        if of_layers == 0 {
            return Vec::new();
        }
        let step = (of_layers / want.max(1))
            .max(self.len().div_ceil(max_visits.max(1)))
            .max(1);
        self.slots
            .every(step)
            .filter(|o| layers.contains(&o.layer))
            .map(|o| o.geometry.anchor())
            .collect()
    }

    /// Every object imported from `file` (by its source file name), in id order.
    pub fn from_file(&self, file: std::sync::Arc<str>) -> impl Iterator<Item = &Object> {
        self.files
            .span(&file)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(id))
            .filter(move |o| o.source.file == file)
    }

    /// The object holding a scheme serial.
    pub fn by_serial(&self, serial: u32) -> Option<&Object> {
        match self.serials.get(serial as usize) {
            Some(&id) if id != 0 => self.get(id),
            _ => None,
        }
    }

    /// Objects whose source number has this lookup key.
    pub fn by_source_number(&self, key: &str) -> Vec<&Object> {
        self.source_numbers
            .get(key)
            .map(|ids| ids.iter().filter_map(|id| self.get(*id)).collect())
            .unwrap_or_default()
    }

    /// Finds objects by a number as written (Cyrillic or Latin code, with or without
    /// separators). A code that names another layer than the serial's object is no match.
    pub fn find_number(&self, written: &str) -> Vec<&Object> {
        let w = numbering::split_written(written);
        if let Some(serial) = numbering::scheme_serial(&w.digits, self.width)
            && let Some(o) = self.by_serial(serial)
        {
            let code_ok = w.code.is_empty()
                || numbering::layer_by_code(&self.layers, &w.code) == Some(o.layer);
            if code_ok {
                return vec![o];
            }
        }
        self.by_source_number(&w.key())
    }

    /// Ids of objects of `layer` whose geometry meets `bbox` (`[min_lon, min_lat, max_lon, max_lat]`).
    pub fn query(&self, layer: LayerId, bbox: [f64; 4]) -> Vec<ObjectId> {
        let mut out = Vec::new();
        if let Some(t) = self.trees.get(layer as usize) {
            t.query(bbox, &mut out);
        }
        out
    }

    /// Ids of every object of `layer` (from its R-tree: no other layer is walked).
    pub fn ids_of(&self, layer: LayerId) -> Vec<ObjectId> {
        self.query(layer, [-180.0, -90.0, 180.0, 90.0])
    }

    /// Calls `f(id, position)` for every point of a point layer inside `bbox`, straight from
    /// the R-tree (no object is read); a line layer gives nothing.
    pub fn visit_points(
        &self,
        layer: LayerId,
        bbox: [f64; 4],
        mut f: impl FnMut(ObjectId, [f64; 2]),
    ) {
        if let Some(LayerTree::Points(t)) = self.trees.get(layer as usize) {
            let env = AABB::from_corners([bbox[0], bbox[1]], [bbox[2], bbox[3]]);
            visit_node(t.root(), &env, false, &mut f);
        }
    }

    /// The points of a point layer from the nearest to `at` outwards, in degree space (callers
    /// that want metres re-rank: see `resolve::place::nearest_in_layer`); a line layer gives
    /// nothing.
    pub fn nearest_points(
        &self,
        layer: LayerId,
        at: [f64; 2],
    ) -> impl Iterator<Item = (ObjectId, [f64; 2])> + '_ {
        let tree = match self.trees.get(layer as usize) {
            Some(LayerTree::Points(t)) => Some(t),
            _ => None,
        };
        tree.into_iter()
            .flat_map(move |t| t.nearest_neighbor_iter(at).map(|e| (e.data, *e.geom())))
    }

    /// Ids of `layer` in id order, starting after `after`.
    pub fn ids_after(
        &self,
        layer: LayerId,
        after: ObjectId,
    ) -> impl Iterator<Item = ObjectId> + '_ {
        let start = (after as usize).saturating_add(1).min(self.index.len());
        self.index[start..]
            .iter()
            .filter_map(|&h| self.slots.get(h))
            .filter(move |o| o.layer == layer)
            .map(|o| o.id)
    }

    pub fn count(&self, layer: LayerId) -> usize {
        self.counts.get(layer as usize).copied().unwrap_or(0)
    }

    /// How many objects of `layer` are hidden from the public.
    pub fn hidden_count(&self, layer: LayerId) -> usize {
        self.hidden.get(layer as usize).copied().unwrap_or(0)
    }

    /// How many objects of `layer` a viewer who sees hidden objects or not (`hidden`) finds.
    pub fn count_seen(&self, layer: LayerId, hidden: bool) -> usize {
        if hidden {
            self.count(layer)
        } else {
            self.count(layer) - self.hidden_count(layer)
        }
    }

    /// The extent of the objects of `layer` a viewer finds: without the hidden ones when it
    /// does not see them (read from the layer's objects then, so that no edge of the box
    /// tells where a hidden object is).
    pub fn bbox_seen(&self, layer: LayerId, hidden: bool) -> Option<[f64; 4]> {
        if hidden || self.hidden_count(layer) == 0 {
            return self.bbox(layer);
        }
        self.ids_of(layer)
            .into_iter()
            .filter_map(|id| self.get(id))
            .filter(|o| !o.is_hidden())
            .map(|o| o.geometry.bbox())
            .reduce(|a, b| {
                [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ]
            })
    }

    /// Whether `id` is an object that `visible` shows: of a visible layer, and not hidden
    /// unless the viewer sees hidden objects. Cheap for layers without hidden objects.
    pub fn shows(&self, visible: &crate::access::Visible, id: ObjectId) -> bool {
        self.get(id).is_some_and(|o| {
            visible.has_layer(o.layer)
                && (visible.hidden || self.hidden_count(o.layer) == 0 || !o.is_hidden())
        })
    }

    pub fn bbox(&self, layer: LayerId) -> Option<[f64; 4]> {
        self.trees.get(layer as usize).and_then(LayerTree::bbox)
    }

    /// Every layer with its count, extent and version, as a viewer who sees hidden objects or
    /// not (`hidden`) finds them.
    pub fn layer_infos(&self, hidden: bool) -> Vec<LayerInfo> {
        self.layers
            .ids()
            .map(|l| {
                let d = self.layers.def(l);
                LayerInfo {
                    name: d.name.clone(),
                    count: self.count_seen(l, hidden),
                    geometry: d.geometry,
                    bbox: self.bbox_seen(l, hidden),
                    code: d.code.clone(),
                    code_latin: d.latin.clone(),
                    numbered: d.numbered,
                    title_uk: d.title_uk.clone(),
                    title_en: d.title_en.clone(),
                    version: self.version(l),
                }
            })
            .collect()
    }

    /// Sets every layer's data version (at load: the store's newest history sequence number).
    pub fn set_versions(&mut self, version: u64) {
        self.versions.iter_mut().for_each(|v| *v = version);
    }

    /// Sets one layer's data version (after a commit: the commit's history sequence number,
    /// which only grows, also across restarts).
    pub fn set_version(&mut self, layer: LayerId, version: u64) {
        if let Some(v) = self.versions.get_mut(layer as usize) {
            *v = version;
        }
    }

    pub fn version(&self, layer: LayerId) -> u64 {
        self.versions.get(layer as usize).copied().unwrap_or(0)
    }

    /// Adds or replaces an object.
    pub fn upsert(&mut self, o: Object) {
        if let Some(old) = self.unplace(o.id) {
            self.detach(&old);
        }
        let l = o.layer as usize;
        self.trees[l].insert(&o);
        self.counts[l] += 1;
        self.hidden[l] += usize::from(o.is_hidden());
        self.index_number(&o);
        self.files.note(&o.source.file, o.id);
        self.versions[l] += 1;
        self.place(o);
    }

    /// Removes an object; returns it.
    pub fn remove(&mut self, id: ObjectId) -> Option<Object> {
        let old = self.unplace(id)?;
        self.detach(&old);
        Some(old)
    }

    fn detach(&mut self, old: &Object) {
        let l = old.layer as usize;
        self.trees[l].remove(old);
        self.counts[l] -= 1;
        self.hidden[l] -= usize::from(old.is_hidden());
        self.unindex_number(old);
        self.versions[l] += 1;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Geometry, Source, Status};

    /// The tile walk gives exactly the points rstar's envelope query gives, on a tree big
    /// enough to have nodes wholly inside, partly inside and outside each box.
    #[test]
    fn visiting_points_finds_what_the_envelope_query_finds() {
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let objects: Vec<Object> = (1..=20_000u64)
            .map(|i| {
                obj(
                    i,
                    poles,
                    [35.0 + next() * 0.2, 47.8 + next() * 0.1],
                    i as u32,
                )
            })
            .collect();
        let twin = Twin::build(layers, 6, objects);
        let Some(LayerTree::Points(tree)) = twin.trees.get(poles as usize) else {
            panic!("poles are points");
        };
        for _ in 0..200 {
            let (w, s) = (35.0 + next() * 0.2, 47.8 + next() * 0.1);
            let bbox = [w, s, w + next() * 0.1, s + next() * 0.05];
            let mut walked = Vec::new();
            twin.visit_points(poles, bbox, |id, _| walked.push(id));
            let env = AABB::from_corners([bbox[0], bbox[1]], [bbox[2], bbox[3]]);
            let mut queried: Vec<u64> = tree.locate_in_envelope(env).map(|e| e.data).collect();
            walked.sort_unstable();
            queried.sort_unstable();
            assert_eq!(walked, queried);
        }
        let mut all = 0;
        twin.visit_points(poles, [-180.0, -90.0, 180.0, 90.0], |_, _| all += 1);
        assert_eq!(all, 20_000);
    }

    pub(crate) fn obj(id: u64, layer: LayerId, p: [f64; 2], serial: u32) -> Object {
        Object {
            id,
            layer,
            number: Some(Number::scheme(serial, 6)),
            geometry: Geometry::Point(p),
            status: Status::Ok,
            status_changed: 0,
            attributes: Default::default(),
            source: Source::default(),
            created: 0,
            updated: 0,
        }
    }

    #[test]
    fn index_follows_edits() {
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let mut t = Twin::build(
            layers.clone(),
            6,
            vec![
                obj(1, poles, [30.0, 50.0], 104273),
                obj(2, poles, [30.1, 50.1], 200000),
            ],
        );
        assert_eq!(t.count(poles), 2);
        let shown = t
            .get(1)
            .unwrap()
            .number
            .as_ref()
            .unwrap()
            .display(layers.def(poles), 6);
        assert_eq!(t.find_number(&shown).len(), 1);
        assert_eq!(t.find_number(&shown.replace("ОП", "op")).len(), 1);
        // Wrong layer code: no match.
        assert!(t.find_number(&shown.replace("ОП", "ЛК")).is_empty());
        assert_eq!(t.query(poles, [29.9, 49.9, 30.05, 50.05]), vec![1]);
        let v = t.version(poles);
        t.upsert(obj(1, poles, [31.0, 51.0], 104273));
        assert!(t.query(poles, [29.9, 49.9, 30.05, 50.05]).is_empty());
        assert!(t.version(poles) > v);
        t.upsert(obj(3, poles, [30.2, 50.2], 300000));
        // Removing from the middle moves the last object into the hole.
        t.remove(2);
        assert!(t.by_serial(200000).is_none());
        assert_eq!(t.get(3).map(|o| o.id), Some(3));
        assert_eq!(t.by_serial(300000).map(|o| o.id), Some(3));
        assert_eq!(t.ids_after(poles, 0).collect::<Vec<_>>(), vec![1, 3]);
        assert!(t.remove(2).is_none());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn objects_of_a_file_are_found_after_a_load_and_after_edits() {
        let layers = Layers::default_city();
        let (poles, wifi) = (
            layers.by_name("poles").unwrap(),
            layers.by_name("wifi").unwrap(),
        );
        let from = |id: u64, layer, file: &str| Object {
            source: Source {
                file: file.into(),
                id: id.to_string().into(),
            },
            ..obj(id, layer, [30.0, 50.0], 100_000 + id as u32)
        };
        // Two files whose ids interleave, over two layers loaded on threads of their own.
        let objects = (1..=40)
            .map(|id| {
                let layer = if id % 2 == 0 { wifi } else { poles };
                from(id, layer, if id % 5 == 0 { "b.csv" } else { "a.csv" })
            })
            .collect();
        let mut t = Twin::build(layers, 6, objects);
        let ids = |t: &Twin, f: &str| t.from_file(f.into()).map(|o| o.id).collect::<Vec<_>>();
        assert_eq!(ids(&t, "b.csv"), vec![5, 10, 15, 20, 25, 30, 35, 40]);
        assert_eq!(ids(&t, "a.csv").len(), 32);
        assert!(ids(&t, "c.csv").is_empty());
        t.upsert(from(41, poles, "c.csv"));
        t.upsert(from(3, poles, "c.csv"));
        t.remove(40);
        assert_eq!(ids(&t, "c.csv"), vec![3, 41]);
        assert_eq!(ids(&t, "b.csv"), vec![5, 10, 15, 20, 25, 30, 35]);
        assert_eq!(ids(&t, "a.csv").len(), 31);
    }

    #[test]
    fn loading_layer_by_layer_in_chunks_indexes_every_object() {
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let wifi = layers.by_name("wifi").unwrap();
        // Ids interleave between layers, as one import of a mixed file gives them.
        let mut by_layer: HashMap<LayerId, Vec<Vec<Object>>> = HashMap::new();
        for id in 1..=3000u64 {
            let layer = if id % 3 == 0 { wifi } else { poles };
            let o = obj(
                id,
                layer,
                [30.0 + id as f64 * 1e-4, 50.0],
                100_000 + id as u32,
            );
            let chunks = by_layer.entry(layer).or_default();
            if chunks.last().is_none_or(|c| c.len() >= 700) {
                chunks.push(Vec::new());
            }
            chunks.last_mut().unwrap().push(o);
        }
        let plan: Vec<LayerPlan> = layers
            .ids()
            .map(|l| LayerPlan {
                layer: l,
                min_id: 1,
                count: by_layer.get(&l).map_or(0, |c| c.iter().map(Vec::len).sum()),
                max_id: 3000,
            })
            .collect();
        let mut t = Twin::load(layers.clone(), 6, &plan, |p| {
            Ok::<_, ()>(by_layer.remove(&p.layer).unwrap_or_default())
        })
        .unwrap();
        assert_eq!(t.len(), 3000);
        assert_eq!((t.count(poles), t.count(wifi)), (2000, 1000));
        for id in 1..=3000u64 {
            let o = t.get(id).unwrap();
            assert_eq!(o.id, id);
            assert_eq!(t.by_serial(100_000 + id as u32).map(|o| o.id), Some(id));
        }
        assert_eq!(t.query(wifi, [29.0, 49.0, 31.0, 51.0]).len(), 1000);
        assert_eq!(
            t.ids_after(wifi, 2990).collect::<Vec<_>>(),
            vec![2991, 2994, 2997, 3000]
        );
        // Edits after loading move objects between chunks and keep every handle right.
        t.remove(1);
        t.remove(3);
        t.upsert(obj(3001, wifi, [31.0, 51.0], 200_000));
        t.upsert(obj(2, wifi, [31.0, 51.0], 100_002));
        assert_eq!(t.len(), 2999);
        assert_eq!((t.count(poles), t.count(wifi)), (1998, 1001));
        for id in (4..=3001u64).chain([2]) {
            assert_eq!(t.get(id).map(|o| o.id), Some(id), "object {id}");
        }
        assert!(t.get(1).is_none() && t.get(3).is_none());
    }

    #[test]
    fn objects_above_the_planned_ids_are_still_indexed() {
        // Another process committed rows after the store was planned.
        let layers = Layers::default_city();
        let poles = layers.by_name("poles").unwrap();
        let plan = vec![LayerPlan {
            layer: poles,
            min_id: 1,
            count: 2,
            max_id: 2,
        }];
        let objects = vec![
            obj(1, poles, [30.0, 50.0], 100_001),
            obj(2, poles, [30.1, 50.1], 100_002),
            obj(40, poles, [30.2, 50.2], 100_040),
        ];
        let mut t = Twin::load(layers, 6, &plan, |_| Ok::<_, ()>(vec![objects.clone()])).unwrap();
        assert_eq!(t.get(40).map(|o| o.id), Some(40));
        assert_eq!(t.by_serial(100_040).map(|o| o.id), Some(40));
        t.upsert(obj(40, poles, [30.3, 50.3], 100_040));
        assert_eq!((t.len(), t.count(poles)), (3, 3));
    }

    #[test]
    fn a_failed_read_fails_the_load() {
        let layers = Layers::default_city();
        let plan: Vec<LayerPlan> = layers
            .ids()
            .map(|l| LayerPlan {
                layer: l,
                min_id: 1,
                count: 1,
                max_id: 1,
            })
            .collect();
        let r = Twin::load(layers, 6, &plan, |p| {
            if p.layer == 2 {
                Err("disk")
            } else {
                Ok(vec![])
            }
        });
        assert_eq!(r.err(), Some("disk"));
    }

    #[test]
    fn samples_come_evenly_from_the_layers_asked_for() {
        let layers = Layers::default_city();
        let (poles, trees, wifi) = (
            layers.by_name("poles").unwrap(),
            layers.by_name("trees").unwrap(),
            layers.by_name("wifi").unwrap(),
        );
        let mut objects: Vec<Object> = (1..=1000u64)
            .map(|i| obj(i, poles, [i as f64 / 1000.0, 0.0], i as u32))
            .collect();
        objects.extend((1001..=1100u64).map(|i| obj(i, trees, [50.0, 50.0], i as u32)));
        let twin = Twin::build(layers, 6, objects);
        let all = twin.sample_anchors(&[poles], 10_000, 10_000);
        assert_eq!(all.len(), 1000);
        let some = twin.sample_anchors(&[poles], 100, 10_000);
        assert!((95..=105).contains(&some.len()), "{}", some.len());
        // Spread over the whole layer, not its first objects.
        assert!(some.iter().any(|p| p[0] > 0.9) && some.iter().any(|p| p[0] < 0.1));
        // At most about `max_visits` objects are walked: 1100 objects in 110 steps.
        let few = twin.sample_anchors(&[poles, trees], 10_000, 110);
        assert!((100..=111).contains(&few.len()), "{}", few.len());
        assert!(few.iter().all(|p| p[1] == 0.0 || p[1] == 50.0));
        assert!(twin.sample_anchors(&[wifi], 100, 100).is_empty());
    }
}
