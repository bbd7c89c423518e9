//! Coordinate reference systems: source coordinates → WGS84 (being written).

/// A source CRS that can be turned into WGS84 lon/lat.
#[derive(Debug, Clone)]
pub struct Crs {
    code: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CrsError {
    #[error("unknown or unsupported CRS {0:?}")]
    Unknown(String),
    #[error("cannot transform ({x}, {y}) from {crs}: {reason}")]
    Transform { crs: String, x: f64, y: f64, reason: String },
}

impl Crs {
    pub fn from_code(code: &str) -> Result<Crs, CrsError> {
        Ok(Crs { code: code.to_string() })
    }
    pub fn code(&self) -> &str {
        &self.code
    }
    pub fn is_wgs84(&self) -> bool {
        true
    }
    pub fn to_wgs84(&self, x: f64, y: f64) -> Result<[f64; 2], CrsError> {
        Ok([x, y])
    }
}
