//! The tamper-evident change history: every history entry carries the SHA-256 of its own
//! content together with the hash of the entry before it, so editing, deleting or reordering
//! any entry breaks the chain at that entry. The newest entry's sequence number and hash (the
//! head) are also kept as a setting and printed by `citytwin audit verify`: written down
//! elsewhere, the head also proves that nothing was cut off the end.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored history entry, as text exactly as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub layer: Option<String>,
    pub object_id: Option<i64>,
    pub number: Option<String>,
    pub old: Option<String>,
    pub new: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl Entry {
    /// The hash this entry must carry: SHA-256 over the previous hash and every field, each
    /// length-prefixed (so no two different entries encode alike), as 64 hex digits.
    pub fn digest(&self) -> String {
        self.digest_at(self.seq)
    }

    fn digest_at(&self, seq: i64) -> String {
        let mut h = Sha256::new();
        let mut field = |tag: u8, v: Option<&[u8]>| {
            h.update([tag]);
            match v {
                None => h.update([0u8]),
                Some(b) => {
                    h.update([1u8]);
                    h.update((b.len() as u64).to_le_bytes());
                    h.update(b);
                }
            }
        };
        field(b'p', Some(self.prev_hash.as_bytes()));
        field(b's', Some(&seq.to_le_bytes()));
        field(b't', Some(self.at.as_bytes()));
        field(b'a', Some(self.actor.as_bytes()));
        field(b'c', Some(self.action.as_bytes()));
        field(b'l', self.layer.as_deref().map(str::as_bytes));
        let id = self.object_id.map(i64::to_le_bytes);
        field(b'i', id.as_ref().map(|b| &b[..]));
        field(b'n', self.number.as_deref().map(str::as_bytes));
        field(b'o', self.old.as_deref().map(str::as_bytes));
        field(b'w', self.new.as_deref().map(str::as_bytes));
        hex::encode(h.finalize())
    }
}

/// What is wrong at one place of the chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Problem {
    /// The entry where the chain breaks.
    pub seq: i64,
    /// `edited`, `deleted`, `reordered`, `truncated` or `unhashed`.
    pub kind: &'static str,
    pub detail: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Verdict {
    pub entries: u64,
    /// The newest entry: sequence number and hash.
    pub head: Option<(i64, String)>,
    pub problems: Vec<Problem>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Walks `entries` in stored `seq` order and names every break: an entry whose content no
/// longer matches its hash (edited), a gap where entries were removed (deleted), an entry that
/// sits where another belongs (reordered), and a head older than the recorded one
/// (`recorded_head`, truncated).
pub fn verify(
    entries: impl IntoIterator<Item = Entry>,
    recorded_head: Option<(i64, String)>,
) -> Verdict {
    let mut v = Verdict::default();
    // Hash → seq of every entry seen, to tell a moved entry from an edited one.
    let mut seen: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    let mut prev: Option<(i64, String)> = None;
    for e in entries {
        v.entries += 1;
        let (prev_seq, prev_hash) = prev.clone().unwrap_or_else(|| (0, GENESIS.to_string()));
        if e.hash.is_empty() {
            v.problems.push(Problem {
                seq: e.seq,
                kind: "unhashed",
                detail: format!("entry {} has no hash: it was added outside citytwin", e.seq),
            });
        } else if e.digest() != e.hash {
            // Hashed for another place in the log: the entry that its prev_hash names is
            // followed by it in the true order.
            // An entry moved ahead of the one before it cannot be placed that way: try the
            // places near where it sits.
            let belongs = seen
                .get(&e.prev_hash)
                .map(|s| s + 1)
                .filter(|s| e.digest_at(*s) == e.hash)
                .or_else(|| {
                    (e.seq.saturating_sub(64).max(1)..=e.seq.saturating_add(64))
                        .find(|s| *s != e.seq && e.digest_at(*s) == e.hash)
                });
            match belongs {
                Some(s) => v.problems.push(Problem {
                    seq: e.seq,
                    kind: "reordered",
                    detail: format!("the entry stored as {} was written as entry {s}", e.seq),
                }),
                _ => v.problems.push(Problem {
                    seq: e.seq,
                    kind: "edited",
                    detail: format!(
                        "entry {} ({} by {} at {}) does not match its hash: its content was changed",
                        e.seq, e.action, e.actor, e.at
                    ),
                }),
            }
        } else if e.prev_hash != prev_hash {
            if e.seq > prev_seq + 1 && !seen.contains_key(&e.prev_hash) {
                v.problems.push(Problem {
                    seq: e.seq,
                    kind: "deleted",
                    detail: if e.seq == prev_seq + 2 {
                        format!("entry {} is missing", prev_seq + 1)
                    } else {
                        format!("entries {} to {} are missing", prev_seq + 1, e.seq - 1)
                    },
                });
            } else {
                v.problems.push(Problem {
                    seq: e.seq,
                    kind: "reordered",
                    detail: format!(
                        "entry {} does not follow entry {prev_seq}: entries were moved",
                        e.seq
                    ),
                });
            }
        }
        seen.insert(e.hash.clone(), e.seq);
        prev = Some((e.seq, e.hash));
    }
    if let Some((seq, hash)) = recorded_head {
        match &prev {
            Some((s, h)) if *s == seq && *h == hash => {}
            Some((s, _)) if *s < seq => v.problems.push(Problem {
                seq,
                kind: "truncated",
                detail: format!("the log ends at entry {s} but entry {seq} was written: the newest entries were removed"),
            }),
            None if seq > 0 => v.problems.push(Problem {
                seq,
                kind: "truncated",
                detail: format!("the log is empty but entry {seq} was written"),
            }),
            None => {}
            Some((s, _)) => v.problems.push(Problem {
                seq: *s,
                kind: "edited",
                detail: format!("the recorded head is entry {seq} {hash}, the log ends otherwise"),
            }),
        }
    }
    v.head = prev;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        let mut prev = GENESIS.to_string();
        for seq in 1..=n {
            let mut e = Entry {
                seq,
                at: format!("2026-11-25T10:00:{seq:02}Z"),
                actor: "engineer:ann#1".into(),
                action: "edit".into(),
                layer: Some("poles".into()),
                object_id: Some(100 + seq),
                number: Some(format!("ОП-10000{seq}-1")),
                old: Some(format!("{{\"status\":\"ok\",\"n\":{seq}}}")),
                new: Some("{\"status\":\"broken\"}".into()),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            e.hash = e.digest();
            prev = e.hash.clone();
            out.push(e);
        }
        out
    }

    fn head(c: &[Entry]) -> Option<(i64, String)> {
        c.last().map(|e| (e.seq, e.hash.clone()))
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(6);
        let v = verify(c.clone(), head(&c));
        assert!(v.ok(), "{v:?}");
        assert_eq!(v.entries, 6);
        assert!(verify(Vec::new(), None).ok());
    }

    #[test]
    fn an_edit_a_deletion_and_a_reordering_are_each_named() {
        let c = chain(6);
        let h = head(&c);
        let mut edited = c.clone();
        edited[2].new = Some("{\"status\":\"ok\"}".into());
        let v = verify(edited, h.clone());
        assert_eq!(v.problems.len(), 1, "{v:?}");
        assert_eq!((v.problems[0].seq, v.problems[0].kind), (3, "edited"));

        let mut deleted = c.clone();
        deleted.remove(3);
        let v = verify(deleted, h.clone());
        assert_eq!(v.problems.len(), 1, "{v:?}");
        assert_eq!((v.problems[0].seq, v.problems[0].kind), (5, "deleted"));
        assert_eq!(v.problems[0].detail, "entry 4 is missing");

        // Swap entries 2 and 3 with their hashes, keeping the sequence numbers in place.
        let mut swapped = c.clone();
        let (a, b) = (swapped[1].clone(), swapped[2].clone());
        swapped[1] = Entry { seq: 2, ..b };
        swapped[2] = Entry { seq: 3, ..a };
        let v = verify(swapped, h.clone());
        assert!(v.problems.iter().all(|p| p.kind == "reordered"), "{v:?}");
        assert!(v.problems.iter().any(|p| p.seq == 2 || p.seq == 3));

        let mut cut = c.clone();
        cut.pop();
        let v = verify(cut, h);
        assert_eq!(v.problems.len(), 1);
        assert_eq!((v.problems[0].seq, v.problems[0].kind), (6, "truncated"));
    }
}
