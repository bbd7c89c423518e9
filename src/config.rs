//! One configuration: defaults ← TOML file ← `CITYTWIN_*` environment ← command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::model::{LayerDef, Layers};

/// Everything citytwin can be told.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the server listens on.
    pub bind: SocketAddr,
    /// The GeoPackage store file.
    pub store: PathBuf,
    /// SQLite's page cache during a bulk write (an import), in MiB: an upper bound on an
    /// import's cache memory; beyond it pages go to the file before the commit.
    pub bulk_cache_mib: u32,
    /// Digits in a serial for a new store (an existing store keeps its own).
    pub serial_width: u8,
    /// No two objects closer than this get confusable numbers.
    pub confusable_radius_m: f64,
    /// Seed file run on the first start of an empty store; empty string for none.
    pub seed: PathBuf,
    /// Layers; the built-in city layers when absent.
    pub layers: Option<Vec<LayerDef>>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest `limit` on object listings.
    pub max_page: usize,
    /// Who may read and write what (`[access]`): per-layer rules for the roles public,
    /// resident, dispatcher, engineer and admin.
    pub access: crate::access::AccessConfig,
    /// Request limits (`[limits]`).
    pub limits: Limits,
    /// How tiles are cut and cached (`[tiles]`).
    pub tiles: crate::tiles::TileSettings,
    /// Where maps open (`[city]`: `center = [lon, lat]`, `zoom`); what is unset comes from
    /// the densest area of the data.
    pub city: crate::tiles::focus::CitySettings,
    /// Attribution shown on maps and in TileJSON.
    pub attribution: String,
    /// The origin clients reach this server at (`https://map.example.org`), for the absolute
    /// URLs in TileJSON and styles; when unset, taken from each request's `Host`.
    pub public_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: PathBuf::from("data/citytwin.gpkg"),
            bulk_cache_mib: crate::store::gpkg::DEFAULT_BULK_CACHE_MIB,
            serial_width: 6,
            confusable_radius_m: 1000.0,
            seed: PathBuf::from("seeds/demo.toml"),
            layers: None,
            max_body_bytes: 1 << 20,
            max_page: 1000,
            access: crate::access::AccessConfig::default(),
            limits: Limits::default(),
            tiles: crate::tiles::TileSettings::default(),
            city: crate::tiles::focus::CitySettings::default(),
            public_url: None,
            attribution: "© OpenStreetMap contributors (ODbL); Kyiv shelter lists as republished in kulishA/shelters-map".into(),
        }
    }
}

/// Limits on requests: each gives a JSON error with its own status when reached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Longest query string, in bytes (longer: 414).
    pub max_query_bytes: usize,
    /// Largest `bbox` of `/objects`, in km² (larger: 400).
    pub max_bbox_km2: f64,
    /// Longest time a request may take, in milliseconds (longer: 503).
    pub timeout_ms: u64,
    /// Requests handled at once per feature (tiles, resolver, objects, audit, map, service);
    /// more: 503 at once, so one feature's load never holds up another.
    pub concurrency: usize,
    /// `/resolve`, `/nearest` and `/locate` per client (token, or address without one) and
    /// minute; above it: 429 with `Retry-After`.
    pub resolve_per_minute: u32,
    /// Writes per client and minute.
    pub writes_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_bytes: 4096,
            max_bbox_km2: 2500.0,
            timeout_ms: 30_000,
            concurrency: 256,
            resolve_per_minute: 600,
            writes_per_minute: 600,
        }
    }
}

/// A configuration problem, said once at start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration file {0}: not found")]
    Missing(PathBuf),
    #[error("configuration: {0}")]
    Figment(#[from] Box<figment::Error>),
}

impl Config {
    /// Reads defaults, then `file` (if given, it must exist), then `CITYTWIN_*` variables
    /// (e.g. `CITYTWIN_BIND=0.0.0.0:80`, `CITYTWIN_STORE=/var/lib/citytwin.gpkg`; a section's
    /// key with `__`: `CITYTWIN_LIMITS__TIMEOUT_MS=10000`).
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                return Err(ConfigError::Missing(f.to_path_buf()));
            }
            fig = fig.merge(Toml::file(f));
        }
        let cfg: Config = fig
            .merge(
                Env::prefixed("CITYTWIN_")
                    .ignore(&["config", "log"])
                    .split("__"),
            )
            .extract()
            .map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=65_536).contains(&self.bulk_cache_mib) {
            return Err(ConfigError::Invalid(format!(
                "bulk_cache_mib {} is outside 1..=65536",
                self.bulk_cache_mib
            )));
        }
        if !(crate::numbering::MIN_WIDTH..=crate::numbering::MAX_WIDTH).contains(&self.serial_width)
        {
            return Err(ConfigError::Invalid(format!(
                "serial_width {} is outside {}..={}",
                self.serial_width,
                crate::numbering::MIN_WIDTH,
                crate::numbering::MAX_WIDTH
            )));
        }
        if !(self.confusable_radius_m.is_finite() && self.confusable_radius_m >= 0.0) {
            return Err(ConfigError::Invalid(
                "confusable_radius_m must be a finite number ≥ 0".into(),
            ));
        }
        if self.max_page == 0 {
            return Err(ConfigError::Invalid("max_page must be ≥ 1".into()));
        }
        self.tiles.validate().map_err(ConfigError::Invalid)?;
        self.city.validate().map_err(ConfigError::Invalid)?;
        let l = &self.limits;
        if l.max_query_bytes < 64
            || !(l.max_bbox_km2.is_finite() && l.max_bbox_km2 > 0.0)
            || l.timeout_ms == 0
            || l.concurrency == 0
            || l.resolve_per_minute == 0
            || l.writes_per_minute == 0
        {
            return Err(ConfigError::Invalid(
                "limits: max_query_bytes ≥ 64; max_bbox_km2, timeout_ms, concurrency, resolve_per_minute and writes_per_minute > 0".into(),
            ));
        }
        self.layers()?;
        Ok(())
    }

    pub fn layers(&self) -> Result<Layers, ConfigError> {
        match &self.layers {
            None => Ok(Layers::default_city()),
            Some(defs) => {
                Layers::new(defs.clone()).map_err(|e| ConfigError::Invalid(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "bind = \"127.0.0.1:9999\"\nserial_width = 7\n").unwrap();
        let c = Config::load(Some(&f)).unwrap();
        assert_eq!(c.bind.port(), 9999);
        assert_eq!(c.serial_width, 7);
        std::fs::write(&f, "serial_width = 2\n").unwrap();
        assert!(
            Config::load(Some(&f))
                .unwrap_err()
                .to_string()
                .contains("serial_width")
        );
        std::fs::write(&f, "[city]\ncenter = [24.94, 60.17]\nzoom = 15.5\n").unwrap();
        let c = Config::load(Some(&f)).unwrap();
        assert_eq!(c.city.center, Some([24.94, 60.17]));
        assert_eq!(c.city.zoom, Some(15.5));
        std::fs::write(&f, "[city]\ncenter = [60.17, 124.94]\n").unwrap();
        let e = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("city.center"), "{e}");
        std::fs::write(&f, "nonsense = 1\n").unwrap();
        assert!(Config::load(Some(&f)).is_err());
        assert!(matches!(
            Config::load(Some(&dir.path().join("no.toml"))),
            Err(ConfigError::Missing(_))
        ));
    }
}
