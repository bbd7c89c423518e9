//! Checks a tile against the MUST rules of the Mapbox Vector Tile 2.1 specification, reading
//! the protocol buffer directly (independently of the encoder): version 2, a name and unique
//! names per layer, an extent, a known geometry type, commands that fit their type, no
//! zero-length `LineTo`, polygon rings closed with `ClosePath` of count 1, exterior rings
//! clockwise and interior ones counter-clockwise (in tile coordinates, y down), tags in pairs
//! that point at existing keys and values.

/// A decoded feature: its id, type (1 point, 2 line, 3 polygon) and raw geometry commands.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeature {
    pub id: Option<u64>,
    pub geom_type: u32,
    pub geometry: Vec<u32>,
    pub tags: Vec<u32>,
}

/// A decoded layer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawLayer {
    pub name: String,
    pub version: u32,
    pub extent: u32,
    pub keys: Vec<String>,
    pub values: usize,
    pub features: Vec<RawFeature>,
}

/// A rule broken, with where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("layer {layer:?} feature {feature:?}: {rule}")]
pub struct Violation {
    pub layer: String,
    pub feature: Option<usize>,
    pub rule: String,
}

struct Buf<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Buf<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.at)?;
            self.at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    /// Next field: (number, wire type), or `None` at the end.
    fn key(&mut self) -> Option<(u64, u8)> {
        if self.at >= self.b.len() {
            return None;
        }
        let k = self.varint()?;
        Some((k >> 3, (k & 7) as u8))
    }

    fn skip(&mut self, wire: u8) -> Option<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => {
                self.at = self.at.checked_add(8)?;
                Some(())
            }
            2 => self.bytes().map(|_| ()),
            5 => {
                self.at = self.at.checked_add(4)?;
                Some(())
            }
            _ => None,
        }
    }
}

fn packed(b: &[u8]) -> Option<Vec<u32>> {
    let mut buf = Buf { b, at: 0 };
    let mut out = Vec::new();
    while buf.at < b.len() {
        out.push(u32::try_from(buf.varint()?).ok()?);
    }
    Some(out)
}

fn malformed(layer: &str, what: &str) -> Violation {
    Violation {
        layer: layer.into(),
        feature: None,
        rule: format!("malformed protocol buffer: {what}"),
    }
}

/// Decodes the layers of a tile (protocol buffer level only).
pub fn decode(tile: &[u8]) -> Result<Vec<RawLayer>, Violation> {
    let mut t = Buf { b: tile, at: 0 };
    let mut layers = Vec::new();
    while let Some((field, wire)) = t.key() {
        if field != 3 || wire != 2 {
            t.skip(wire).ok_or_else(|| malformed("", "tile field"))?;
            continue;
        }
        let body = t.bytes().ok_or_else(|| malformed("", "layer length"))?;
        let mut l = Buf { b: body, at: 0 };
        let mut layer = RawLayer {
            version: 1,
            extent: 4096,
            ..Default::default()
        };
        while let Some((f, w)) = l.key() {
            let bad = |what: &str| malformed("", what);
            match (f, w) {
                (1, 2) => {
                    layer.name = String::from_utf8(l.bytes().ok_or_else(|| bad("name"))?.to_vec())
                        .map_err(|_| bad("name is not UTF-8"))?
                }
                (2, 2) => {
                    let fb = l.bytes().ok_or_else(|| bad("feature"))?;
                    layer
                        .features
                        .push(feature(fb).ok_or_else(|| bad("feature body"))?);
                }
                (3, 2) => layer.keys.push(
                    String::from_utf8(l.bytes().ok_or_else(|| bad("key"))?.to_vec())
                        .map_err(|_| bad("key is not UTF-8"))?,
                ),
                (4, 2) => {
                    l.bytes().ok_or_else(|| bad("value"))?;
                    layer.values += 1;
                }
                (5, 0) => layer.extent = l.varint().ok_or_else(|| bad("extent"))? as u32,
                (15, 0) => layer.version = l.varint().ok_or_else(|| bad("version"))? as u32,
                (_, w) => l.skip(w).ok_or_else(|| bad("layer field"))?,
            }
        }
        layers.push(layer);
    }
    Ok(layers)
}

fn feature(b: &[u8]) -> Option<RawFeature> {
    let mut f = Buf { b, at: 0 };
    let mut out = RawFeature {
        id: None,
        geom_type: 0,
        geometry: Vec::new(),
        tags: Vec::new(),
    };
    while let Some((field, wire)) = f.key() {
        match (field, wire) {
            (1, 0) => out.id = Some(f.varint()?),
            (2, 2) => out.tags = packed(f.bytes()?)?,
            (3, 0) => out.geom_type = u32::try_from(f.varint()?).ok()?,
            (4, 2) => out.geometry = packed(f.bytes()?)?,
            (_, w) => f.skip(w)?,
        }
    }
    Some(out)
}

fn unzigzag(v: u32) -> i64 {
    i64::from((v >> 1) as i32 ^ -((v & 1) as i32))
}

/// Decodes a feature's geometry into its parts (rings or lines or points) in tile units,
/// checking the command rules on the way.
pub fn parts(f: &RawFeature) -> Result<Vec<Vec<(i64, i64)>>, String> {
    let (mut x, mut y) = (0i64, 0i64);
    let mut parts: Vec<Vec<(i64, i64)>> = Vec::new();
    let mut closes = 0;
    let mut i = 0;
    let g = &f.geometry;
    while i < g.len() {
        let (cmd, count) = (g[i] & 7, (g[i] >> 3) as usize);
        i += 1;
        match cmd {
            1 | 2 => {
                if count == 0 {
                    return Err(format!("command {cmd} with count 0"));
                }
                if i + 2 * count > g.len() {
                    return Err("command count runs past the geometry".into());
                }
                if cmd == 1 && f.geom_type != 1 && count != 1 {
                    return Err(format!("MoveTo of count {count} in a line or polygon"));
                }
                if cmd == 2 && (f.geom_type == 1 || parts.is_empty()) {
                    return Err("LineTo without a MoveTo or in a point feature".into());
                }
                for _ in 0..count {
                    let (dx, dy) = (unzigzag(g[i]), unzigzag(g[i + 1]));
                    i += 2;
                    if cmd == 2 && dx == 0 && dy == 0 {
                        return Err("zero-length LineTo (a repeated point)".into());
                    }
                    x += dx;
                    y += dy;
                    if cmd == 1 && (f.geom_type != 1 || parts.is_empty()) {
                        parts.push(Vec::new());
                    }
                    if let Some(p) = parts.last_mut() {
                        p.push((x, y));
                    }
                }
            }
            7 => {
                if f.geom_type != 3 {
                    return Err("ClosePath outside a polygon".into());
                }
                if count != 1 {
                    return Err(format!("ClosePath with count {count} (must be 1)"));
                }
                if parts.last().is_none_or(|p| p.len() < 3) {
                    return Err("ClosePath of a ring with fewer than 3 points".into());
                }
                closes += 1;
            }
            _ => return Err(format!("unknown command {cmd}")),
        }
    }
    if f.geom_type == 2 && parts.iter().any(|p| p.len() < 2) {
        return Err("a line part with fewer than 2 points".into());
    }
    if f.geom_type == 3 && closes != parts.len() {
        return Err("a polygon ring without its ClosePath".into());
    }
    Ok(parts)
}

/// Twice the signed area of a ring (positive = clockwise in tile coordinates, y down).
fn area2(ring: &[(i64, i64)]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum()
}

/// Every MUST rule this module knows, over a whole tile.
pub fn check(tile: &[u8]) -> Result<Vec<RawLayer>, Violation> {
    let layers = decode(tile)?;
    let mut names = std::collections::HashSet::new();
    for l in &layers {
        let v = |feature: Option<usize>, rule: String| Violation {
            layer: l.name.clone(),
            feature,
            rule,
        };
        if l.name.is_empty() {
            return Err(v(None, "a layer without a name".into()));
        }
        if !names.insert(l.name.as_str()) {
            return Err(v(None, "two layers with the same name".into()));
        }
        // Decoders of 2.x read version 1 layers too; citytwin writes 2 (its tests check).
        if !(1..=2).contains(&l.version) {
            return Err(v(None, format!("version {} (must be 1 or 2)", l.version)));
        }
        if l.extent == 0 {
            return Err(v(None, "extent 0".into()));
        }
        for (i, f) in l.features.iter().enumerate() {
            if f.geom_type > 3 {
                return Err(v(Some(i), format!("geometry type {}", f.geom_type)));
            }
            if f.tags.len() % 2 != 0 {
                return Err(v(Some(i), "odd number of tags".into()));
            }
            for pair in f.tags.chunks(2) {
                if pair[0] as usize >= l.keys.len() || pair[1] as usize >= l.values {
                    return Err(v(Some(i), "a tag points past the keys or values".into()));
                }
            }
            if f.geom_type == 0 {
                // UNKNOWN: valid, and a decoder may skip it (citytwin never writes one).
                continue;
            }
            let parts = parts(f).map_err(|r| v(Some(i), r))?;
            if parts.is_empty() {
                return Err(v(Some(i), "no geometry".into()));
            }
            if f.geom_type == 3 {
                let first = area2(&parts[0]);
                if first <= 0 {
                    return Err(v(Some(i), "exterior ring is not clockwise".into()));
                }
                for ring in &parts[1..] {
                    let a = area2(ring);
                    if a == 0 {
                        return Err(v(Some(i), "a ring of zero area".into()));
                    }
                }
            }
        }
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> Vec<(String, Vec<u8>, bool)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mvt");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if !p.is_dir() {
                continue;
            }
            let info: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p.join("info.json")).unwrap()).unwrap();
            let valid = info["validity"]["v2"] == true;
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            out.push((name, std::fs::read(p.join("tile.mvt")).unwrap(), valid));
        }
        out.sort();
        out
    }

    #[test]
    fn the_checker_passes_every_valid_fixture_and_catches_the_invalid_ones() {
        let all = fixtures();
        assert!(all.len() >= 30, "fixtures missing");
        for (name, bytes, valid) in all {
            let r = check(&bytes);
            assert_eq!(r.is_ok(), valid, "fixture {name}: {r:?}");
        }
    }
}
