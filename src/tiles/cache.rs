//! The cache of encoded tiles. Each entry keeps the raw MVT and, made once on first demand,
//! its gzip and brotli variants, so no request compresses a tile twice. An edit removes exactly
//! the entries whose tile (with its buffer) the object's old or new position meets, at every
//! zoom; everything else stays cached.

use std::hash::BuildHasher;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;

use super::coord::{TileId, cover};
use crate::model::LayerId;

/// A response body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// The best encoding an `Accept-Encoding` header allows: brotli, then gzip, then none.
    /// `q=0` refuses an encoding.
    pub fn negotiate(accept: &str) -> Encoding {
        let mut br = false;
        let mut gzip = false;
        for part in accept.split(',') {
            let mut it = part.split(';');
            let name = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = it.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            match name.as_str() {
                "br" => br = true,
                "gzip" | "x-gzip" => gzip = true,
                "*" => {
                    br = true;
                    gzip = true;
                }
                _ => {}
            }
        }
        if br {
            Encoding::Brotli
        } else if gzip {
            Encoding::Gzip
        } else {
            Encoding::Identity
        }
    }

    /// The `Content-Encoding` value, `None` for identity.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }
}

/// One encoded tile.
#[derive(Debug)]
pub struct TileEntry {
    raw: Bytes,
    /// Hash of the raw bytes: the ETag's base, the same for the same tile content.
    hash: u64,
    pub features: usize,
    pub clusters: usize,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
}

impl TileEntry {
    pub fn new(raw: Vec<u8>, features: usize, clusters: usize) -> TileEntry {
        // A fast hash with a fixed seed: the same tile gives the same ETag, also after a restart.
        let hash = foldhash::fast::FixedState::with_seed(0x63_69_74_79).hash_one(&raw[..]);
        TileEntry {
            hash,
            raw: Bytes::from(raw),
            features,
            clusters,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The body in `enc`, compressed on first demand and kept. Falls back to the raw bytes
    /// (and says so) when compressing does not make the tile smaller.
    pub fn body(&self, enc: Encoding, levels: Levels) -> (Encoding, Bytes) {
        let cell = match enc {
            Encoding::Identity => return (Encoding::Identity, self.raw.clone()),
            Encoding::Gzip => &self.gzip,
            Encoding::Brotli => &self.brotli,
        };
        let packed = cell.get_or_init(|| compress(&self.raw, enc, levels));
        if packed.is_empty() || packed.len() >= self.raw.len() {
            (Encoding::Identity, self.raw.clone())
        } else {
            (enc, packed.clone())
        }
    }

    /// Strong ETag of the body in `enc` (each representation has its own).
    pub fn etag(&self, enc: Encoding) -> String {
        match enc.header() {
            None => format!("\"{:016x}\"", self.hash),
            Some(e) => format!("\"{:016x}-{e}\"", self.hash),
        }
    }

    /// Whether an `If-None-Match` header names this tile (any of its representations).
    pub fn matches(&self, if_none_match: &str) -> bool {
        let base = format!("{:016x}", self.hash);
        if_none_match.split(',').any(|t| {
            let t = t.trim();
            let t = t.strip_prefix("W/").unwrap_or(t).trim_matches('"');
            t == "*" || t.split('-').next() == Some(base.as_str())
        })
    }

    fn weight(&self) -> u64 {
        // The raw bytes, room for the compressed variants, and the entry itself.
        (self.raw.len() as u64) * 2 + 256
    }
}

/// Compression levels: gzip 1–12 (libdeflate's scale), brotli quality 0–11.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    pub gzip: u32,
    pub brotli: u32,
}

fn compress(raw: &[u8], enc: Encoding, levels: Levels) -> Bytes {
    match enc {
        Encoding::Identity => Bytes::copy_from_slice(raw),
        Encoding::Gzip => gzip(raw, levels.gzip),
        Encoding::Brotli => brotli(raw, levels.brotli),
    }
}

fn brotli(raw: &[u8], quality: u32) -> Bytes {
    let mut out = Vec::with_capacity(raw.len() / 2 + 64);
    let mut w = brotli::CompressorWriter::new(&mut out, 4096, quality, 22);
    let ok = w.write_all(raw).and_then(|_| w.flush());
    drop(w);
    // Writing into a vector does not fail; if it ever did, serve the raw bytes.
    if ok.is_err() {
        return Bytes::new();
    }
    Bytes::from(out)
}

/// gzip with libdeflate, a whole-buffer compressor (a tile is one buffer). On the 1M city's
/// benchmark tiles (191 MB raw) its level 1 took 0.59 s for 67 MB, where zlib-rs took 1.04 s
/// for 68 MB at level 2 and 0.53 s for 84 MB at level 1. One compressor and one output buffer
/// per thread; the cached variant is an exact-size copy (libdeflate needs room for its
/// worst case, about the raw size, and the cache must not keep that room).
fn gzip(raw: &[u8], level: u32) -> Bytes {
    struct Gzip {
        level: u32,
        compressor: libdeflater::Compressor,
        out: Vec<u8>,
    }
    thread_local! {
        static GZIP: std::cell::RefCell<Option<Gzip>> = const { std::cell::RefCell::new(None) };
    }
    GZIP.with(|g| {
        let mut g = g.borrow_mut();
        let g = match &mut *g {
            Some(g) if g.level == level => g,
            slot => {
                let lvl = libdeflater::CompressionLvl::new(level as i32)
                    .unwrap_or(libdeflater::CompressionLvl::fastest());
                slot.insert(Gzip {
                    level,
                    compressor: libdeflater::Compressor::new(lvl),
                    out: Vec::new(),
                })
            }
        };
        let bound = g.compressor.gzip_compress_bound(raw.len());
        if g.out.len() < bound {
            g.out.resize(bound, 0);
        }
        match g.compressor.gzip_compress(raw, &mut g.out) {
            Ok(n) => Bytes::copy_from_slice(&g.out[..n]),
            // The bound is libdeflate's own, so this does not happen; if it ever did, the
            // raw bytes are served.
            Err(_) => Bytes::new(),
        }
    })
}

/// Inclusive column and row ranges of tiles at one zoom.
type TileRange = ([u32; 2], [u32; 2]);

/// A cached tile's address: the canonical layer set, the tile, and whose view of the
/// attributes it shows (the least trusted role that sees exactly these attributes, so roles
/// that see the same share one copy and a public tile is never one made for staff).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub layers: Arc<[LayerId]>,
    pub tile: TileId,
    pub view: crate::access::Role,
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<Key, Arc<TileEntry>> for Weight {
    fn weight(&self, _: &Key, v: &Arc<TileEntry>) -> u64 {
        v.weight()
    }
}

/// A token taken before rendering: the render may be cached only if no invalidation ran since.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

/// The tile cache.
pub struct TileCache {
    entries: quick_cache::sync::Cache<Key, Arc<TileEntry>, Weight>,
    /// Bumped by every invalidation; held for writing while one runs, for reading while an
    /// entry is stored, so a tile rendered before an edit is never stored after it.
    generation: RwLock<u64>,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidated: AtomicU64,
}

/// Counters of the cache, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub invalidated: u64,
    pub entries: u64,
    pub bytes: u64,
}

impl TileCache {
    pub fn new(capacity_bytes: u64) -> TileCache {
        let items = (capacity_bytes / 4096).clamp(16, 1 << 20) as usize;
        TileCache {
            entries: quick_cache::sync::Cache::with_weighter(items, capacity_bytes.max(1), Weight),
            generation: RwLock::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidated: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key: &Key) -> Option<Arc<TileEntry>> {
        let v = self.entries.get(key);
        let counter = if v.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        v
    }

    /// The entry if cached, without counting a hit or a miss (a second look by a request
    /// already counted).
    pub fn peek(&self, key: &Key) -> Option<Arc<TileEntry>> {
        self.entries.peek(key)
    }

    /// Take before reading the twin for a render.
    pub fn ticket(&self) -> Ticket {
        Ticket(*self.generation.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Stores a rendered tile unless an invalidation ran since `ticket` was taken.
    pub fn insert(&self, key: Key, entry: Arc<TileEntry>, ticket: Ticket) -> bool {
        let g = self.generation.read().unwrap_or_else(|p| p.into_inner());
        if *g != ticket.0 {
            return false;
        }
        self.entries.insert(key, entry);
        true
    }

    /// Drops every entry of a tile holding `layer` that `bbox` (degrees, with `margin` tile
    /// units of buffer around each tile) meets, at zooms `0..=max_zoom`. Returns how many.
    pub fn invalidate(
        &self,
        touched: &[(LayerId, [f64; 4])],
        extent: u32,
        margin: f64,
        max_zoom: u8,
    ) -> u64 {
        if touched.is_empty() {
            return 0;
        }
        // Per touched box, the tile ranges it meets at each zoom.
        let ranges: Vec<(LayerId, Vec<TileRange>)> = touched
            .iter()
            .filter(|(_, b)| b.iter().all(|v| v.is_finite()))
            .map(|(l, b)| {
                (
                    *l,
                    (0..=max_zoom)
                        .map(|z| cover(*b, z, extent, margin))
                        .collect(),
                )
            })
            .collect();
        let mut g = self.generation.write().unwrap_or_else(|p| p.into_inner());
        *g += 1;
        let removed = AtomicU64::new(0);
        self.entries.retain(|k, _| {
            let hit = ranges.iter().any(|(l, per_zoom)| {
                k.layers.contains(l)
                    && per_zoom.get(k.tile.z as usize).is_some_and(|(xs, ys)| {
                        (xs[0]..=xs[1]).contains(&k.tile.x) && (ys[0]..=ys[1]).contains(&k.tile.y)
                    })
            });
            if hit {
                removed.fetch_add(1, Ordering::Relaxed);
            }
            !hit
        });
        drop(g);
        let n = removed.into_inner();
        self.invalidated.fetch_add(n, Ordering::Relaxed);
        n
    }

    /// Drops everything (after a bulk change).
    pub fn clear(&self) {
        let mut g = self.generation.write().unwrap_or_else(|p| p.into_inner());
        *g += 1;
        let n = self.entries.len() as u64;
        self.entries.clear();
        self.invalidated.fetch_add(n, Ordering::Relaxed);
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidated: self.invalidated.load(Ordering::Relaxed),
            entries: self.entries.len() as u64,
            bytes: self.entries.weight(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_picks_the_best_allowed() {
        assert_eq!(Encoding::negotiate("gzip, deflate, br"), Encoding::Brotli);
        assert_eq!(Encoding::negotiate("gzip;q=1.0, br;q=0"), Encoding::Gzip);
        assert_eq!(Encoding::negotiate("identity"), Encoding::Identity);
        assert_eq!(Encoding::negotiate(""), Encoding::Identity);
        assert_eq!(Encoding::negotiate("*"), Encoding::Brotli);
    }

    #[test]
    fn variants_are_made_once_and_decode_to_the_tile() {
        let raw: Vec<u8> = (0..2000u32).flat_map(|i| (i % 7).to_le_bytes()).collect();
        let e = TileEntry::new(raw.clone(), 1, 0);
        let levels = crate::tiles::TileSettings::default().levels();
        let (enc, gz) = e.body(Encoding::Gzip, levels);
        assert_eq!(enc, Encoding::Gzip);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
        assert_eq!(back, raw);
        // The same bytes again (not compressed a second time).
        assert_eq!(e.body(Encoding::Gzip, levels).1.as_ptr(), gz.as_ptr());
        let (enc, br) = e.body(Encoding::Brotli, levels);
        assert_eq!(enc, Encoding::Brotli);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut brotli::Decompressor::new(&br[..], 4096), &mut back)
            .unwrap();
        assert_eq!(back, raw);
        assert!(e.matches(&e.etag(Encoding::Brotli)));
        assert!(e.matches(&format!("\"x\", {}", e.etag(Encoding::Identity))));
        assert!(!e.matches("\"0000000000000000\""));
        // A tiny tile is not worth compressing.
        let tiny = TileEntry::new(vec![1, 2, 3], 1, 0);
        assert_eq!(tiny.body(Encoding::Gzip, levels).0, Encoding::Identity);
    }

    #[test]
    fn an_edit_drops_exactly_the_tiles_it_touches_and_a_stale_render_is_not_stored() {
        let c = TileCache::new(1 << 20);
        let (poles, wifi): (LayerId, LayerId) = (0, 4);
        let key = |layers: &[LayerId], z: u8, x: u32, y: u32| Key {
            layers: layers.into(),
            tile: TileId { z, x, y },
            view: crate::access::Role::Public,
        };
        let entry = || Arc::new(TileEntry::new(vec![1; 100], 1, 0));
        // The point sits in z16 tile 39155/22815 (Zaporizhzhia).
        let p = [35.0866, 47.8723];
        let here = key(&[poles], 16, 39_155, 22_815);
        let both = key(&[poles, wifi], 16, 39_155, 22_815);
        let other_layer = key(&[wifi], 16, 39_155, 22_815);
        let next_door = key(&[poles], 16, 39_157, 22_815);
        let world = key(&[poles], 0, 0, 0);
        for k in [&here, &both, &other_layer, &next_door, &world] {
            assert!(c.insert(k.clone(), entry(), c.ticket()));
        }
        let stale = c.ticket();
        let n = c.invalidate(&[(poles, [p[0], p[1], p[0], p[1]])], 4096, 64.0, 22);
        assert_eq!(n, 3);
        assert!(c.get(&here).is_none() && c.get(&both).is_none() && c.get(&world).is_none());
        assert!(c.get(&other_layer).is_some() && c.get(&next_door).is_some());
        // A tile rendered before the edit is not stored after it.
        assert!(!c.insert(here.clone(), entry(), stale));
        assert!(c.get(&here).is_none());
        assert!(c.insert(here.clone(), entry(), c.ticket()));
        let s = c.stats();
        assert_eq!((s.invalidated, s.entries), (3, 3));
    }
}
