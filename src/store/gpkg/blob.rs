//! The GeoPackage geometry blob: a point or a line, encoded and decoded.

use geozero::wkb::GpkgWkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};

use crate::model::Geometry;

/// Encodes a geometry as a GeoPackage geometry blob (with envelope for lines).
pub fn encode_geometry(g: &Geometry) -> Result<Vec<u8>, String> {
    let mut b = Vec::with_capacity(29);
    encode_geometry_into(g, &mut b)?;
    Ok(b)
}

/// As [`encode_geometry`], appending to `out`.
pub(super) fn encode_geometry_into(g: &Geometry, out: &mut Vec<u8>) -> Result<(), String> {
    if let Geometry::Point([x, y]) = g {
        // Hot path of bulk imports: the 29-byte blob written directly (GeoPackage header
        // "GP", version 0, flags = little-endian without envelope, srs_id; then WKB Point).
        out.extend_from_slice(&[0x47, 0x50, 0x00, 0x01]);
        out.extend_from_slice(&4326i32.to_le_bytes());
        out.push(0x01);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&y.to_le_bytes());
        return Ok(());
    }
    let geo: geo_types::Geometry<f64> = match g {
        Geometry::Point([x, y]) => geo_types::Point::new(*x, *y).into(),
        Geometry::Line(pts) => {
            geo_types::LineString::from(pts.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>()).into()
        }
    };
    let envelope = match g {
        Geometry::Point(_) => Vec::new(),
        Geometry::Line(_) => {
            let b = g.bbox();
            vec![b[0], b[2], b[1], b[3]]
        }
    };
    let blob = geo
        .to_gpkg_wkb(CoordDimensions::xy(), Some(4326), envelope)
        .map_err(|e| e.to_string())?;
    out.extend_from_slice(&blob);
    Ok(())
}

/// Decodes a GeoPackage geometry blob into a point or line.
pub fn decode_geometry(blob: &[u8]) -> Result<Geometry, String> {
    // Hot path of loading: a little-endian point without envelope, as citytwin writes it.
    if blob.len() == 29
        && blob[..4] == [0x47, 0x50, 0x00, 0x01]
        && blob[8] == 0x01
        && blob[9..13] == 1u32.to_le_bytes()
    {
        let f = |i: usize| f64::from_le_bytes(blob[i..i + 8].try_into().unwrap_or([0; 8]));
        return Ok(Geometry::Point([f(13), f(21)]));
    }
    let geo = GpkgWkb(blob.to_vec())
        .to_geo()
        .map_err(|e| format!("bad geometry blob: {e}"))?;
    match geo {
        geo_types::Geometry::Point(p) => Ok(Geometry::Point([p.x(), p.y()])),
        geo_types::Geometry::LineString(l) => {
            Ok(Geometry::Line(l.coords().map(|c| [c.x, c.y]).collect()))
        }
        other => Err(format!("unexpected geometry type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_blob_fast_path_matches_geozero() {
        let g = Geometry::Point([24.9384, 60.1699]);
        let fast = encode_geometry(&g).unwrap();
        let via_geozero = geo_types::Geometry::from(geo_types::Point::new(24.9384, 60.1699))
            .to_gpkg_wkb(CoordDimensions::xy(), Some(4326), Vec::new())
            .unwrap();
        assert_eq!(fast, via_geozero);
        assert_eq!(decode_geometry(&fast).unwrap(), g);
        let line = Geometry::Line(vec![[1.0, 2.0], [3.0, 4.0]]);
        assert_eq!(
            decode_geometry(&encode_geometry(&line).unwrap()).unwrap(),
            line
        );
        assert!(decode_geometry(b"junk").is_err());
    }
}
