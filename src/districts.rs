//! The city's districts as polygons (`[city] districts`, a GeoJSON the city supplies): each
//! object and incident is in the district whose polygon holds it.

use std::path::Path;

use geo::{Contains, Coord, LineString, MultiPolygon, Point, Polygon};

/// The districts, in the file's order.
#[derive(Debug, Clone, Default)]
pub struct Districts {
    areas: Vec<(String, MultiPolygon<f64>, geo::Rect<f64>)>,
}

impl Districts {
    /// Reads a GeoJSON FeatureCollection of Polygon and MultiPolygon features, each named by
    /// its property `key`. An error names the file, the feature and what is wrong.
    pub fn read(path: &Path, key: &str) -> Result<Districts, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{shown}: not JSON: {e}"))?;
        let feats = doc["features"]
            .as_array()
            .ok_or_else(|| format!("{shown}: not a GeoJSON FeatureCollection"))?;
        let mut areas = Vec::new();
        for (i, f) in feats.iter().enumerate() {
            let bad = |what: String| format!("{shown}: feature {i}: {what}");
            let name = f["properties"][key]
                .as_str()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| bad(format!("no property {key:?} naming the district")))?;
            let g = &f["geometry"];
            let shape = match g["type"].as_str() {
                Some("Polygon") => MultiPolygon(vec![polygon(&g["coordinates"]).map_err(bad)?]),
                Some("MultiPolygon") => MultiPolygon(
                    g["coordinates"]
                        .as_array()
                        .ok_or_else(|| bad("MultiPolygon without coordinates".into()))?
                        .iter()
                        .map(polygon)
                        .collect::<Result<_, _>>()
                        .map_err(bad)?,
                ),
                other => {
                    return Err(bad(format!(
                        "geometry {} is not a Polygon or MultiPolygon",
                        other.unwrap_or("missing")
                    )));
                }
            };
            let rect = geo::BoundingRect::bounding_rect(&shape)
                .ok_or_else(|| bad("an empty polygon".into()))?;
            areas.push((name.to_string(), shape, rect));
        }
        Ok(Districts { areas })
    }

    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// The district holding `[lon, lat]` (the first in the file's order where they overlap).
    pub fn at(&self, p: [f64; 2]) -> Option<&str> {
        let pt = Point::new(p[0], p[1]);
        self.areas
            .iter()
            .find(|(_, shape, rect)| rect.contains(&pt) && shape.contains(&pt))
            .map(|(name, _, _)| name.as_str())
    }

    /// Every district's name, in the file's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.areas.iter().map(|(n, _, _)| n.as_str())
    }
}

fn ring(v: &serde_json::Value) -> Result<LineString<f64>, String> {
    let pts = v.as_array().ok_or("a ring is not a list of positions")?;
    let coords: Vec<Coord<f64>> = pts
        .iter()
        .map(|p| match (p[0].as_f64(), p[1].as_f64()) {
            (Some(x), Some(y)) if (-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y) => {
                Ok(Coord { x, y })
            }
            _ => Err(format!("{p} is not a [lon, lat] position")),
        })
        .collect::<Result<_, _>>()?;
    if coords.len() < 4 || coords.first() != coords.last() {
        return Err("a ring needs at least four positions, the last the same as the first".into());
    }
    Ok(LineString(coords))
}

fn polygon(v: &serde_json::Value) -> Result<Polygon<f64>, String> {
    let rings = v.as_array().ok_or("a polygon is not a list of rings")?;
    let mut it = rings.iter().map(ring);
    let outer = it.next().ok_or("a polygon without rings")??;
    let holes = it.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(outer, holes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_fall_in_their_district_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.geojson");
        std::fs::write(
            &p,
            r#"{"type":"FeatureCollection","features":[
              {"type":"Feature","properties":{"name":"Західний"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]],[[0.4,0.4],[0.6,0.4],[0.6,0.6],[0.4,0.6],[0.4,0.4]]]}},
              {"type":"Feature","properties":{"name":"Східний"},"geometry":{"type":"MultiPolygon","coordinates":[[[[1,0],[2,0],[2,1],[1,1],[1,0]]]]}}]}"#,
        )
        .unwrap();
        let d = Districts::read(&p, "name").unwrap();
        assert_eq!(d.at([0.2, 0.2]), Some("Західний"));
        assert_eq!(d.at([0.5, 0.5]), None, "inside the hole");
        assert_eq!(d.at([1.5, 0.5]), Some("Східний"));
        assert_eq!(d.at([3.0, 0.5]), None);
        std::fs::write(
            &p,
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[0,0]}}]}"#,
        )
        .unwrap();
        let e = Districts::read(&p, "name").unwrap_err();
        assert!(e.contains("feature 0") && e.contains("\"name\""), "{e}");
        std::fs::write(
            &p,
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"A"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}}]}"#,
        )
        .unwrap();
        let e = Districts::read(&p, "name").unwrap_err();
        assert!(
            e.contains("feature 0") && e.contains("four positions"),
            "{e}"
        );
    }
}
