//! Vector tiles from the twin: tile arithmetic ([`coord`]), geometry in tile units
//! ([`shape`], [`polygon`]), one tile's MVT ([`render`]), the cache of encoded tiles and its invalidation
//! ([`cache`]), the TileJSON that describes a set of layers ([`tilejson`]) and where maps of
//! them open ([`focus`]).

pub mod cache;
pub mod conformance;
pub mod coord;
pub mod focus;
pub mod mvt;
pub mod polygon;
pub mod render;
pub mod service;
pub mod shape;
pub mod tilejson;

use serde::{Deserialize, Serialize};

pub use cache::{Encoding, TileCache, TileEntry};
pub use coord::{CoordError, TileId};
pub use render::{Rendered, render};
pub use service::TileService;

use crate::model::{LayerId, Layers};

/// How tiles are cut (the `[tiles]` table of the configuration).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TileSettings {
    /// Tile units across a tile (MVT `extent`).
    pub extent: u32,
    /// Tile units around the tile that features are kept in (lines are clipped there).
    pub buffer: u32,
    /// Highest zoom served.
    pub max_zoom: u8,
    /// A point layer with more points than this in one tile is clustered there.
    pub point_cap: usize,
    /// Side of a cluster cell, in tile units (256 of 4096 = 32 px on a 512 px tile).
    pub cluster_cell: u32,
    /// Ramer–Douglas–Peucker tolerance for lines, in tile units (so coarser at low zoom).
    pub simplify: f64,
    /// Bytes of encoded tiles (with their compressed variants) the cache keeps.
    pub cache_bytes: u64,
    /// gzip level (1–12, libdeflate's scale) of the gzip variant, made once per tile on its
    /// first gzip request. On the 1M synthetic city's benchmark tiles (191 MB raw), level 1
    /// took 0.59 s for 67 MB, level 2 0.83 s for 64 MB, level 6 1.69 s for 61 MB: level 1
    /// keeps cold tiles quick at nearly the size of the slow levels.
    pub gzip_level: u32,
    /// Brotli quality (0–11) of the brotli variant, made once per tile likewise.
    pub brotli_quality: u32,
}

impl Default for TileSettings {
    fn default() -> Self {
        TileSettings {
            extent: 4096,
            buffer: 64,
            max_zoom: 22,
            point_cap: 4000,
            cluster_cell: 256,
            simplify: 2.0,
            cache_bytes: 1 << 30,
            gzip_level: 1,
            brotli_quality: 4,
        }
    }
}

impl TileSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(256..=65_536).contains(&self.extent) || !self.extent.is_power_of_two() {
            return Err(format!(
                "tiles.extent {} must be a power of two in 256..=65536",
                self.extent
            ));
        }
        if self.buffer > self.extent / 2 {
            return Err(format!(
                "tiles.buffer {} exceeds half the extent",
                self.buffer
            ));
        }
        if self.max_zoom > 24 {
            return Err(format!("tiles.max_zoom {} exceeds 24", self.max_zoom));
        }
        if self.cluster_cell == 0 || self.cluster_cell > self.extent {
            return Err(format!(
                "tiles.cluster_cell {} must be in 1..=extent",
                self.cluster_cell
            ));
        }
        if !(1..=12).contains(&self.gzip_level) || self.brotli_quality > 11 {
            return Err(format!(
                "tiles.gzip_level {} must be in 1..=12 and tiles.brotli_quality {} in 0..=11",
                self.gzip_level, self.brotli_quality
            ));
        }
        if !(self.simplify.is_finite() && self.simplify >= 0.0) {
            return Err("tiles.simplify must be a finite number ≥ 0".into());
        }
        Ok(())
    }

    /// The compression levels of the cached variants.
    pub fn levels(&self) -> cache::Levels {
        cache::Levels {
            gzip: self.gzip_level,
            brotli: self.brotli_quality,
        }
    }
}

/// Why a layer list was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LayerListError {
    #[error("layers: empty list; name one or more of: {0}")]
    Empty(String),
    #[error("layers: no layer {name:?}; known layers: {known}")]
    Unknown { name: String, known: String },
}

/// Parses a comma list of layer names into layer ids in the layers' own order, each once: the
/// same set asked in any order is the same tile.
pub fn parse_layers(list: &str, layers: &Layers) -> Result<Vec<LayerId>, LayerListError> {
    let known = || {
        layers
            .defs()
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut ids = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match layers.by_name(name) {
            Some(l) => ids.push(l),
            None => {
                return Err(LayerListError::Unknown {
                    name: name.chars().take(60).collect(),
                    known: known(),
                });
            }
        }
    }
    if ids.is_empty() {
        return Err(LayerListError::Empty(known()));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_lists_are_canonical() {
        let l = Layers::default_city();
        let a = parse_layers("wifi,poles", &l).unwrap();
        assert_eq!(a, parse_layers(" poles , wifi,poles", &l).unwrap());
        assert!(matches!(
            parse_layers("poles,nope", &l),
            Err(LayerListError::Unknown { .. })
        ));
        assert!(matches!(
            parse_layers(",", &l),
            Err(LayerListError::Empty(_))
        ));
        assert!(TileSettings::default().validate().is_ok());
        let bad = TileSettings {
            extent: 1000,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
