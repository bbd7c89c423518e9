//! The tile service: tiles from the cache or freshly rendered, kept in step with the twin.

use std::sync::Arc;

use super::cache::{Key, TileCache, TileEntry};
use super::coord::TileId;
use super::focus::FocusCache;
use super::tilejson::FieldCatalog;
use super::{TileSettings, render};
use crate::access::{Policy, Role, View};
use crate::model::LayerId;
use crate::registry::Registry;
use crate::twin::{Changed, Follower, Twin};

/// Where a tile came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Rendered,
}

/// Tiles of the twin, cached.
pub struct TileService {
    pub settings: TileSettings,
    pub cache: TileCache,
    pub fields: FieldCatalog,
    /// Where maps of each set of layers open, kept while the data barely changed.
    pub focus: FocusCache,
    /// Renders running at once: about two per core. A burst of cold tiles queues here instead
    /// of starting hundreds of threads that each hold a tile's worth of memory.
    pub render_slots: tokio::sync::Semaphore,
    policy: Arc<Policy>,
}

impl TileService {
    /// A service following `registry`: every edit invalidates the tiles it touched.
    pub fn new(
        settings: TileSettings,
        registry: &Registry,
        policy: Arc<Policy>,
    ) -> Arc<TileService> {
        let s = Arc::new(TileService {
            cache: TileCache::new(settings.cache_bytes),
            settings,
            fields: FieldCatalog::default(),
            focus: FocusCache::default(),
            render_slots: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            ),
            policy,
        });
        registry.follow(s.clone());
        s
    }

    /// The cache key of `tile` of `layers` as `view` sees it (the caller checked that `view`
    /// reads every layer): views that show the same attributes of these layers, and the same
    /// objects (hidden ones or not), share a key.
    pub fn key(&self, layers: Arc<[LayerId]>, tile: TileId, view: &View) -> Key {
        let class = view.attribute_class(&layers);
        // The class tells views apart by their first 64 layers only.
        let share = layers.len() <= 64;
        let role = Role::ALL
            .into_iter()
            .filter(|_| share)
            .into_iter()
            .find(|r| {
                let v = self.policy.view(*r);
                layers.iter().all(|l| v.can_read(*l))
                    && v.attribute_class(&layers) == class
                    && v.sees_hidden() == view.sees_hidden()
            })
            .unwrap_or(view.role());
        Key {
            layers,
            tile,
            view: role,
        }
    }

    /// The cached tile, counted as a hit or a miss.
    pub fn cached(&self, key: &Key) -> Option<Arc<TileEntry>> {
        self.cache.get(key)
    }

    /// Renders a tile that was not cached and stores it. Another request may have rendered it
    /// meanwhile (while this one waited for a render slot): then that one is taken.
    pub fn render(&self, registry: &Registry, key: Key) -> (Arc<TileEntry>, Source) {
        if let Some(e) = self.cache.peek(&key) {
            return (e, Source::Cache);
        }
        // The ticket is taken with the twin read-locked: an edit after it invalidates (under
        // the write lock) and makes this render too old to store.
        let (rendered, ticket) = {
            let twin = registry.twin();
            let ticket = self.cache.ticket();
            let view = self.policy.view(key.view);
            (
                render(&twin, &key.layers, key.tile, &self.settings, &view),
                ticket,
            )
        };
        let entry = Arc::new(TileEntry::new(
            rendered.bytes,
            rendered.features,
            rendered.clusters,
        ));
        self.cache.insert(key, entry.clone(), ticket);
        (entry, Source::Rendered)
    }
}

impl Follower for TileService {
    fn changed(&self, _twin: &Twin, what: Changed<'_>) {
        match what {
            Changed::Boxes(b) => {
                let n = self.cache.invalidate(
                    b,
                    self.settings.extent,
                    f64::from(self.settings.buffer),
                    self.settings.max_zoom,
                );
                tracing::debug!(objects = b.len(), tiles = n, "tiles invalidated");
            }
            Changed::All => self.cache.clear(),
        }
        self.focus.changed(what);
    }
}
