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
    /// Accept writes over HTTP (`POST`/`PATCH`/`DELETE /objects`). Off by default until access
    /// control exists; turn on with `allow_writes = true` or `CITYTWIN_ALLOW_WRITES=true`.
    pub allow_writes: bool,
    /// How tiles are cut and cached (`[tiles]`).
    pub tiles: crate::tiles::TileSettings,
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
            serial_width: 6,
            confusable_radius_m: 1000.0,
            seed: PathBuf::from("seeds/demo.toml"),
            layers: None,
            max_body_bytes: 1 << 20,
            max_page: 1000,
            allow_writes: false,
            tiles: crate::tiles::TileSettings::default(),
            public_url: None,
            attribution: "© OpenStreetMap contributors (ODbL); Kyiv shelter lists as republished in kulishA/shelters-map".into(),
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
    /// (e.g. `CITYTWIN_BIND=0.0.0.0:80`, `CITYTWIN_STORE=/var/lib/citytwin.gpkg`).
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                return Err(ConfigError::Missing(f.to_path_buf()));
            }
            fig = fig.merge(Toml::file(f));
        }
        let cfg: Config = fig
            .merge(Env::prefixed("CITYTWIN_").ignore(&["config", "log"]))
            .extract()
            .map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
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
        std::fs::write(&f, "nonsense = 1\n").unwrap();
        assert!(Config::load(Some(&f)).is_err());
        assert!(matches!(
            Config::load(Some(&dir.path().join("no.toml"))),
            Err(ConfigError::Missing(_))
        ));
    }
}
