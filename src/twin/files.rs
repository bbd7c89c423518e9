//! Where each source file's objects lie among the ids: an import finds the objects it may
//! update (same file, same source id) by walking one id span, not the whole twin.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::ObjectId;

/// Per source file, the smallest and largest id of its objects. A span only grows (a removed
/// object leaves it as it was), so it may cover ids of other files or of no object: readers
/// check each object's file.
#[derive(Default)]
pub(super) struct Spans {
    spans: HashMap<Arc<str>, Span>,
    /// The run being noted (objects of one file come in runs), not yet in `spans`.
    run: Option<(Arc<str>, Span)>,
}

/// The smallest and largest id.
type Span = (ObjectId, ObjectId);

fn widen(span: &mut Span, (lo, hi): Span) {
    span.0 = span.0.min(lo);
    span.1 = span.1.max(hi);
}

impl Spans {
    pub(super) fn note(&mut self, file: &Arc<str>, id: ObjectId) {
        match &mut self.run {
            // `==` on two `Arc`s compares the pointers before the names.
            Some((f, span)) if f == file => widen(span, (id, id)),
            _ => {
                self.end_run();
                self.run = Some((file.clone(), (id, id)));
            }
        }
    }

    fn end_run(&mut self) {
        if let Some((f, span)) = self.run.take() {
            self.add(f, span);
        }
    }

    fn add(&mut self, file: Arc<str>, span: Span) {
        widen(self.spans.entry(file).or_insert(span), span);
    }

    /// Takes in the spans of another set.
    pub(super) fn merge(&mut self, mut other: Spans) {
        other.end_run();
        for (f, span) in other.spans {
            self.add(f, span);
        }
    }

    /// The ids `lo..=hi` that may hold objects of `file`.
    pub(super) fn span(&self, file: &str) -> Option<std::ops::RangeInclusive<ObjectId>> {
        let mut span = self.spans.get(file).copied();
        if let Some((f, run)) = &self.run
            && &**f == file
        {
            widen(span.get_or_insert(*run), *run);
        }
        span.map(|(lo, hi)| lo..=hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_grow_to_cover_every_id_noted_per_file() {
        let (a, b): (Arc<str>, Arc<str>) = ("a.csv".into(), "b.csv".into());
        let mut s = Spans::default();
        for id in [5, 6, 7] {
            s.note(&a, id);
        }
        s.note(&b, 9);
        // The same name through another pointer is the same file.
        s.note(&"a.csv".into(), 2);
        let mut t = Spans::default();
        t.note(&b, 20);
        s.merge(t);
        assert_eq!(s.span("a.csv"), Some(2..=7));
        assert_eq!(s.span("b.csv"), Some(9..=20));
        assert_eq!(s.span("c.csv"), None);
    }
}
