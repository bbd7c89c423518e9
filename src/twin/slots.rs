//! Where the twin keeps its objects: chunks of densely packed objects, addressed by a 32-bit
//! handle (chunk number and offset). The store's loader threads each fill one chunk, and the
//! chunks are kept as they come: joining millions of objects into one vector would copy every
//! object once more and touch as much fresh memory again.

use crate::model::Object;

/// Bits of a handle that hold the offset inside a chunk.
const OFFSET_BITS: u32 = 20;
/// Objects one chunk may hold.
const CHUNK_CAP: usize = 1 << OFFSET_BITS;
/// Chunks there may be (handles are 32 bits, and 0 means "none").
const MAX_CHUNKS: usize = 1 << (32 - OFFSET_BITS);

/// A slot's handle: never 0, so that 0 can mean "no object" in an index.
pub type Handle = u32;

/// The handle of the object at `offset` in chunk `chunk`.
pub fn handle(chunk: usize, offset: usize) -> Handle {
    ((chunk << OFFSET_BITS) | offset) as Handle + 1
}

fn place_of(h: Handle) -> (usize, usize) {
    let v = (h - 1) as usize;
    (v >> OFFSET_BITS, v & (CHUNK_CAP - 1))
}

/// Chunks as the slots keep them: none empty, none over the capacity of one chunk. Applying it
/// twice changes nothing, so handles may be given out before the slots are made.
pub fn normalize(chunks: Vec<Vec<Object>>) -> Vec<Vec<Object>> {
    let mut out = Vec::with_capacity(chunks.len());
    for mut c in chunks {
        while c.len() > CHUNK_CAP {
            let rest = c.split_off(CHUNK_CAP);
            out.push(c);
            c = rest;
        }
        if !c.is_empty() {
            out.push(c);
        }
    }
    out
}

#[derive(Default)]
pub struct Slots {
    chunks: Vec<Vec<Object>>,
    len: usize,
}

impl Slots {
    /// Takes chunks as they are: chunk `i` of [`normalize`]d chunks holds the handles
    /// `handle(i, _)`.
    pub fn from_chunks(chunks: Vec<Vec<Object>>) -> Slots {
        let chunks = normalize(chunks);
        Slots {
            len: chunks.iter().map(Vec::len).sum(),
            chunks,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, h: Handle) -> Option<&Object> {
        if h == 0 {
            return None;
        }
        let (c, o) = place_of(h);
        self.chunks.get(c)?.get(o)
    }

    /// Every object with its handle, chunk by chunk.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &Object)> {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk
                .iter()
                .enumerate()
                .map(move |(o, obj)| (handle(c, o), obj))
        })
    }

    /// Every `step`-th object (the first, and each `step` further on), across chunks: a
    /// sample of the twin read in `len / step` steps.
    pub fn every(&self, step: usize) -> impl Iterator<Item = &Object> {
        let step = step.max(1);
        // How far into the next chunk its first taken object lies.
        let mut skip = 0usize;
        self.chunks.iter().flat_map(move |chunk| {
            let start = skip;
            skip = if start < chunk.len() {
                let last = start + (chunk.len() - 1 - start) / step * step;
                last + step - chunk.len()
            } else {
                start - chunk.len()
            };
            chunk.get(start..).unwrap_or(&[]).iter().step_by(step)
        })
    }

    /// Adds an object at the end; its handle.
    pub fn push(&mut self, obj: Object) -> Handle {
        let full = self.chunks.last().is_none_or(|c| c.len() >= CHUNK_CAP);
        if full {
            // Handles have room for MAX_CHUNKS chunks: about 400M objects as the store loads
            // them (~100k a chunk), more when added one by one.
            assert!(self.chunks.len() < MAX_CHUNKS, "twin is full");
            self.chunks.push(Vec::new());
        }
        let c = self.chunks.len() - 1;
        let chunk = &mut self.chunks[c];
        chunk.push(obj);
        self.len += 1;
        handle(c, chunk.len() - 1)
    }

    /// Takes the object at `h` out; the last object of its chunk moves into the hole and is
    /// returned with its new handle.
    pub fn swap_remove(&mut self, h: Handle) -> Option<(Object, Option<(Handle, &Object)>)> {
        let (c, o) = place_of(h);
        let chunk = self.chunks.get_mut(c)?;
        if o >= chunk.len() {
            return None;
        }
        let taken = chunk.swap_remove(o);
        self.len -= 1;
        let moved = self.chunks[c].get(o).map(|m| (h, m));
        Some((taken, moved))
    }

    /// Every object, giving up the slots.
    pub fn into_objects(self) -> impl Iterator<Item = Object> {
        self.chunks.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(id: u64) -> Object {
        crate::twin::tests::obj(id, 0, [0.0, 0.0], id as u32)
    }

    #[test]
    fn handles_address_objects_across_chunks() {
        let mut s = Slots::from_chunks(vec![vec![obj(1), obj(2)], vec![], vec![obj(3)]]);
        assert_eq!(s.len(), 3);
        let all: Vec<(Handle, u64)> = s.iter().map(|(h, o)| (h, o.id)).collect();
        assert_eq!(all.len(), 3);
        for (h, id) in &all {
            assert_eq!(s.get(*h).map(|o| o.id), Some(*id));
        }
        let h4 = s.push(obj(4));
        assert_eq!(s.get(h4).map(|o| o.id), Some(4));
        // Removing the first object of chunk 0 moves that chunk's last object into its place.
        let (taken, moved) = s.swap_remove(all[0].0).unwrap();
        assert_eq!(taken.id, 1);
        assert_eq!(moved.map(|(h, o)| (h, o.id)), Some((all[0].0, 2)));
        assert_eq!(s.len(), 3);
        assert!(s.get(0).is_none());
        let mut left: Vec<u64> = s.into_objects().map(|o| o.id).collect();
        left.sort();
        assert_eq!(left, vec![2, 3, 4]);
    }

    #[test]
    fn every_step_runs_on_across_chunks() {
        let chunks = vec![
            (1..=5).map(obj).collect(),
            (6..=7).map(obj).collect(),
            (8..=12).map(obj).collect(),
        ];
        let s = Slots::from_chunks(chunks);
        let ids = |step| s.every(step).map(|o| o.id).collect::<Vec<_>>();
        assert_eq!(ids(1), (1..=12).collect::<Vec<_>>());
        assert_eq!(ids(3), vec![1, 4, 7, 10]);
        assert_eq!(ids(4), vec![1, 5, 9]);
        assert_eq!(ids(0), ids(1));
        assert_eq!(ids(20), vec![1]);
    }
}
