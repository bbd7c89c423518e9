//! Importer for osm files (being written).

use std::path::Path;

use super::{ImportError, Options, Parsed};
use crate::model::Layers;

pub fn parse(path: &Path, _layers: &Layers, _opts: &Options) -> Result<Parsed, ImportError> {
    Err(ImportError::file(&path.display().to_string(), "format not available yet"))
}
