//! Geometry between citytwin and PostGIS: EWKB with SRID 4326 through geozero, and the `json`
//! attributes column.

use geozero::error::Result as GeoResult;
use geozero::{CoordDimensions, GeomProcessor, GeozeroGeometry};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::model::Geometry;

/// A geometry in WGS 84: written as EWKB with its SRID, which a `geometry(…, 4326)` column
/// requires.
#[derive(Debug)]
pub(super) struct Wgs84(pub geo_types::Geometry<f64>);

impl GeozeroGeometry for Wgs84 {
    fn process_geom<P: GeomProcessor>(&self, processor: &mut P) -> GeoResult<()> {
        self.0.process_geom(processor)
    }

    fn dims(&self) -> CoordDimensions {
        CoordDimensions::xy()
    }

    fn srid(&self) -> Option<i32> {
        Some(4326)
    }
}

/// A geometry as a statement's parameter (or a `COPY` row's value) of type `geometry`.
pub(super) type Param = geozero::wkb::Encode<Wgs84>;

/// `g` as a parameter: a point, a line, or polygons as one multipolygon (the polygon layers'
/// tables hold multipolygons).
pub(super) fn param(g: &Geometry) -> Param {
    let geo: geo_types::Geometry<f64> = match g {
        Geometry::Point([x, y]) => geo_types::Point::new(*x, *y).into(),
        Geometry::Line(pts) => {
            geo_types::LineString::from(pts.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>()).into()
        }
        Geometry::Polygon(_) => g.to_geo_polygons().into(),
    };
    geozero::wkb::Encode(Wgs84(geo))
}

/// A `geometry` column's value, read as EWKB.
pub(super) type Column = geozero::wkb::Decode<geo_types::Geometry<f64>>;

/// A geometry read back: a point, a line or polygons.
pub(super) fn from_column(c: Column) -> Result<Geometry, String> {
    match c.geometry {
        Some(geo_types::Geometry::Point(p)) => Ok(Geometry::Point([p.x(), p.y()])),
        Some(geo_types::Geometry::LineString(l)) => {
            Ok(Geometry::Line(l.coords().map(|c| [c.x, c.y]).collect()))
        }
        Some(geo_types::Geometry::Polygon(p)) => {
            Ok(Geometry::from_geo_polygons(&geo_types::MultiPolygon(vec![
                p,
            ])))
        }
        Some(geo_types::Geometry::MultiPolygon(mp)) => Ok(Geometry::from_geo_polygons(&mp)),
        Some(other) => Err(format!("unexpected geometry type {other:?}")),
        None => Err("the geometry is NULL".into()),
    }
}

/// A JSON text as a parameter of type `json` (kept as written: `json`, unlike `jsonb`, keeps
/// the text, so an object's attributes come back in their order).
#[derive(Debug)]
pub(super) struct JsonText(pub Option<String>);

impl ToSql for JsonText {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(t) => {
                out.extend_from_slice(t.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::types::FromSql;

    #[test]
    fn geometries_go_out_as_ewkb_with_srid_4326_and_come_back_the_same() {
        let polygons = Geometry::Polygon(vec![vec![
            vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]],
            vec![[1.0, 1.0], [1.0, 2.0], [2.0, 2.0], [2.0, 1.0], [1.0, 1.0]],
        ]]);
        for g in [
            Geometry::Point([35.1396, 47.8388]),
            Geometry::Line(vec![[35.0, 47.0], [35.1, 47.1], [35.2, 47.0]]),
            polygons,
        ] {
            let mut out = bytes::BytesMut::new();
            // The type is not looked at by the encoder; any geometry type will do here.
            param(&g).to_sql(&Type::BYTEA, &mut out).unwrap();
            // EWKB: little-endian, the SRID flag set, SRID 4326 after the type.
            assert_eq!(out[0], 1);
            let kind = u32::from_le_bytes(out[1..5].try_into().unwrap());
            assert_ne!(kind & 0x2000_0000, 0, "SRID flag");
            assert_eq!(i32::from_le_bytes(out[5..9].try_into().unwrap()), 4326);
            let back = Column::from_sql(&Type::BYTEA, &out).unwrap();
            assert_eq!(from_column(back).unwrap(), g);
        }
    }
}
