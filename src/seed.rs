//! The demo city: what an empty store is filled with on first start, read from a TOML seed
//! file (`seeds/demo.toml`). All of a seed is imported in one transaction.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::import::{self, Format, Mapping, Options, Parsed};
use crate::registry::{ImportReport, Registry, RegistryError};

/// A seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(rename = "import")]
    pub imports: Vec<SeedImport>,
}

/// One import of a seed; paths are relative to the seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedImport {
    pub files: Vec<PathBuf>,
    pub format: String,
    pub layer: Option<String>,
    pub mapping: Option<PathBuf>,
    pub crs: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("seed {path}: {reason}")]
    Bad { path: String, reason: String },
    #[error("seed: {0}")]
    Import(#[from] import::ImportError),
    #[error("seed: {0}")]
    Registry(#[from] RegistryError),
}

/// Reads a seed file and parses everything it names.
pub fn parse(path: &Path, layers: &crate::model::Layers) -> Result<Parsed, SeedError> {
    let shown = path.display().to_string();
    let bad = |reason: String| SeedError::Bad {
        path: shown.clone(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let seed: Seed = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut all = Parsed::default();
    for (i, imp) in seed.imports.iter().enumerate() {
        let format = Format::parse(&imp.format).ok_or_else(|| {
            bad(format!(
                "import #{}: unknown format {:?}",
                i + 1,
                imp.format
            ))
        })?;
        let layer = match &imp.layer {
            Some(name) => Some(
                layers
                    .by_name(name)
                    .ok_or_else(|| bad(format!("import #{}: unknown layer {name:?}", i + 1)))?,
            ),
            None => None,
        };
        let mapping = match &imp.mapping {
            Some(m) => Mapping::from_file(&base.join(m)).map_err(bad)?,
            None => Mapping::default(),
        };
        let opts = Options {
            layer,
            crs: imp.crs.clone(),
            mapping,
            strict: false,
        };
        let files: Vec<PathBuf> = imp.files.iter().map(|f| base.join(f)).collect();
        all.extend(import::parse_files(&files, format, layers, &opts)?);
    }
    Ok(all)
}

/// Fills an empty registry from the seed file. Does nothing when the store holds objects.
pub fn seed_if_empty(registry: &Registry, path: &Path) -> Result<Option<ImportReport>, SeedError> {
    if !registry.twin().is_empty() {
        return Ok(None);
    }
    let layers = registry.twin().layers().clone();
    let parsed = parse(path, &layers)?;
    let summary = serde_json::json!({"seed": path.display().to_string()});
    Ok(Some(registry.import(parsed, "seed", summary, true)?))
}
