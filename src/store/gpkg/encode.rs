//! Column values that take work to encode: attributes as JSON, an object's state for the
//! history, and a part's rows encoded ahead of the writer.

use super::blob::encode_geometry_into;
use crate::model::{Attributes, Layers, Object};
use crate::store::{Change, StoreError, format_ms};

/// Attributes as a JSON object text (non-finite numbers become null).
pub fn attributes_json(a: &Attributes) -> String {
    let mut buf = Vec::new();
    write_attributes_json(a, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

/// Appends attributes as a JSON object text to `out` (non-finite numbers become null).
fn write_attributes_json(a: &Attributes, out: &mut Vec<u8>) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, a).is_err() {
        out.truncate(start);
        let map: serde_json::Map<String, serde_json::Value> = a
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect();
        out.extend_from_slice(serde_json::Value::Object(map).to_string().as_bytes());
    }
}

/// An object's state as JSON, for the history.
pub fn object_json(o: &Object, layers: &Layers, width: u8) -> serde_json::Value {
    let def = layers.def(o.layer);
    serde_json::json!({
        "id": o.id,
        "layer": def.name,
        "number": o.number.as_ref().map(|n| n.display(def, width)),
        "geometry": o.geometry.to_geojson(),
        "status": o.status.as_str(),
        "status_changed": format_ms(o.status_changed),
        "attributes": serde_json::from_str::<serde_json::Value>(&attributes_json(&o.attributes)).unwrap_or_default(),
        "source": {"file": &*o.source.file, "id": &*o.source.id},
    })
}

/// The column values of a part's rows that take work to encode (geometry blob, attributes
/// JSON, number as painted), in one buffer: a bulk import encodes them on another thread than
/// the one writing, which is the import's bottleneck. Checks each row's layer and geometry.
pub(super) struct Encoded {
    bytes: Vec<u8>,
    /// Per change: where its geometry ends, then its attributes, then its number (each
    /// starts where the one before ends).
    ends: Vec<[usize; 3]>,
}

impl Encoded {
    pub(super) fn of(
        changes: &[Change],
        layers: &Layers,
        width: u8,
        path: &str,
    ) -> Result<Encoded, StoreError> {
        let mut e = Encoded {
            bytes: Vec::with_capacity(changes.len() * 96),
            ends: Vec::with_capacity(changes.len()),
        };
        let mut number = String::new();
        for change in changes {
            let o = change.object();
            let def = layers.get(o.layer).ok_or_else(|| StoreError::Invalid {
                path: path.to_string(),
                reason: format!(
                    "object {} names layer #{} which does not exist",
                    o.id, o.layer
                ),
            })?;
            let bad = |reason: String| StoreError::BadRow {
                path: path.to_string(),
                layer: def.name.clone(),
                fid: o.id as i64,
                reason,
            };
            if !matches!(change, Change::Delete(_)) {
                if !o.geometry.fits(def.geometry) {
                    return Err(bad(format!(
                        "geometry does not fit layer geometry {}",
                        def.geometry.ogc_name()
                    )));
                }
                o.geometry.validate().map_err(bad)?;
                encode_geometry_into(&o.geometry, &mut e.bytes).map_err(bad)?;
            }
            let geometry_end = e.bytes.len();
            if !matches!(change, Change::Delete(_)) && !o.attributes.is_empty() {
                write_attributes_json(&o.attributes, &mut e.bytes);
            }
            let attributes_end = e.bytes.len();
            if let Some(n) = &o.number {
                n.write_with_code(&def.code, width, &mut number);
                e.bytes.extend_from_slice(number.as_bytes());
            }
            e.ends.push([geometry_end, attributes_end, e.bytes.len()]);
        }
        Ok(e)
    }

    /// Row `k`: geometry blob, attributes JSON (empty when none) and number (empty when none).
    pub(super) fn row(&self, k: usize) -> (&[u8], &str, &str) {
        let start = if k == 0 { 0 } else { self.ends[k - 1][2] };
        let [g, a, n] = self.ends[k];
        let text = |r: std::ops::Range<usize>| std::str::from_utf8(&self.bytes[r]).unwrap_or("");
        (&self.bytes[start..g], text(g..a), text(a..n))
    }
}
