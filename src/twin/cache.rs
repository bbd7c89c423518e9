//! A value built from some layers of the twin as one viewer sees them (the street index, the
//! fibre graph): one per view — whether hidden objects are seen, and which of the layers are
//! read — kept until any of those layers changes.

use std::sync::{Arc, Mutex};

use super::Twin;
use crate::access::Visible;
use crate::model::LayerId;

/// A value built: the layers' version it was built from, the view, the value.
type Built<T> = (u64, Vec<bool>, Arc<T>);

/// Values built per view, for the current version of their layers.
#[derive(Debug)]
pub struct ViewCache<T> {
    built: Mutex<Vec<Built<T>>>,
}

impl<T> Default for ViewCache<T> {
    fn default() -> Self {
        ViewCache {
            built: Mutex::new(Vec::new()),
        }
    }
}

impl<T> ViewCache<T> {
    /// The value for `visible`'s view of `layers` in `twin`, built by `build` when there is
    /// none for this view and version of the layers yet.
    pub fn get(
        &self,
        twin: &Twin,
        visible: &Visible,
        layers: &[LayerId],
        build: impl FnOnce() -> T,
    ) -> Arc<T> {
        let version = layers.iter().fold(0u64, |a, l| {
            a.wrapping_mul(1_000_003).wrapping_add(twin.version(*l))
        });
        let view: Vec<bool> = std::iter::once(visible.hidden)
            .chain(layers.iter().map(|l| visible.has_layer(*l)))
            .collect();
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        built.retain(|b| b.0 == version);
        if let Some(b) = built.iter().find(|b| b.1 == view) {
            return b.2.clone();
        }
        let value = Arc::new(build());
        built.push((version, view, value.clone()));
        value
    }
}
