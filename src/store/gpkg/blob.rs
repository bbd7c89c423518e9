//! The GeoPackage geometry blob: a point, a line or polygons, encoded and decoded.

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
        Geometry::Polygon(_) => g.to_geo_polygons().into(),
    };
    let envelope = match g {
        Geometry::Point(_) => Vec::new(),
        Geometry::Line(_) | Geometry::Polygon(_) => {
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

/// Decodes a GeoPackage geometry blob into a point, a line or polygons.
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
        geo_types::Geometry::Polygon(p) => {
            Ok(Geometry::from_geo_polygons(&geo_types::MultiPolygon(vec![
                p,
            ])))
        }
        geo_types::Geometry::MultiPolygon(mp) => Ok(Geometry::from_geo_polygons(&mp)),
        other => Err(format!("unexpected geometry type {other:?}")),
    }
}

/// The envelope of a GeoPackage geometry blob as `[min_x, max_x, min_y, max_y]` (the order of
/// the blob's own envelope and of the spatial index's columns), or `None` for an empty
/// geometry. Read from the blob's header when it carries one, else from a point's
/// coordinates, else from every coordinate of the geometry. Blobs of any writer are read:
/// either byte order, any envelope kind, points with Z or M.
pub fn envelope(blob: &[u8]) -> Result<Option<[f64; 4]>, String> {
    if blob.len() < 8 || blob[..2] != *b"GP" {
        return Err("not a GeoPackage geometry blob".into());
    }
    let flags = blob[3];
    // The header's "empty geometry" flag.
    if flags & 0b1_0000 != 0 {
        return Ok(None);
    }
    let doubles = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 4,
        2 | 3 => 6,
        4 => 8,
        other => return Err(format!("geometry blob: unknown envelope kind {other}")),
    };
    let wkb = 8 + 8 * doubles;
    let f64_at = |at: usize, little: bool| -> Result<f64, String> {
        let b: [u8; 8] = blob
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .ok_or("geometry blob is cut short")?;
        Ok(if little {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    };
    if doubles > 0 {
        let little = flags & 1 == 1;
        let at = |i: usize| f64_at(8 + 8 * i, little);
        return Ok(Some([at(0)?, at(1)?, at(2)?, at(3)?]));
    }
    // A point (plain, Z, M or ZM in ISO WKB): its first two coordinates; NaN ones are the
    // encoding of an empty point.
    if let Some(&order) = blob.get(wkb)
        && let Some(kind) = blob.get(wkb + 1..wkb + 5)
    {
        let little = order == 1;
        let kind: [u8; 4] = kind.try_into().unwrap_or_default();
        let kind = if little {
            u32::from_le_bytes(kind)
        } else {
            u32::from_be_bytes(kind)
        };
        if kind % 1000 == 1 && kind < 4000 {
            let (x, y) = (f64_at(wkb + 5, little)?, f64_at(wkb + 13, little)?);
            return Ok((!x.is_nan() && !y.is_nan()).then_some([x, x, y, y]));
        }
    }
    let mut bounds = geozero::bounds::BoundsProcessor::new();
    geozero::wkb::process_gpkg_geom(&mut std::io::Cursor::new(blob), &mut bounds)
        .map_err(|e| format!("bad geometry blob: {e}"))?;
    Ok(bounds
        .bounds()
        .map(|b| [b.min_x(), b.max_x(), b.min_y(), b.max_y()]))
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
        // A building with a courtyard, and a second part: a multipolygon both ways, with the
        // envelope of its exteriors.
        let ring =
            |x: f64, y: f64, d: f64| vec![[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]];
        let area = Geometry::Polygon(vec![
            vec![ring(30.0, 50.0, 0.01), ring(30.004, 50.004, 0.002)],
            vec![ring(30.02, 50.0, 0.001)],
        ]);
        let blob = encode_geometry(&area).unwrap();
        assert_eq!(decode_geometry(&blob).unwrap(), area);
        assert_eq!(
            envelope(&blob).unwrap(),
            Some([30.0, 30.02 + 0.001, 50.0, 50.0 + 0.01])
        );
        assert!(decode_geometry(b"junk").is_err());
    }
}
