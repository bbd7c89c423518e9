//! One incident: the reports about one object merged, moved by staff through a workflow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{LayerId, ObjectId, Status};
use crate::store::format_ms;

/// Where an incident is in its workflow: new → confirmed → assigned → resolved, or rejected.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum State {
    New,
    Confirmed,
    Assigned,
    Resolved,
    Rejected,
}

impl State {
    pub const ALL: [State; 5] = [
        State::New,
        State::Confirmed,
        State::Assigned,
        State::Resolved,
        State::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Confirmed => "confirmed",
            State::Assigned => "assigned",
            State::Resolved => "resolved",
            State::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s.trim())
    }

    /// Resolved or rejected: new reports about the object open a new incident.
    pub fn is_closed(self) -> bool {
        matches!(self, State::Resolved | State::Rejected)
    }

    /// Staff move an open incident forward along new → confirmed → assigned → resolved (a
    /// step may be skipped: a crew may find it fixed), or reject it; a closed one stays closed.
    pub fn can_move_to(self, to: State) -> bool {
        !self.is_closed() && to != self && (to == State::Rejected || to > self)
    }
}

/// A report as kept in its incident.
#[derive(Debug, Clone)]
pub struct Kept {
    pub id: u64,
    pub at_ms: i64,
    pub kind: String,
    pub text: Option<String>,
    /// Where the resident said they were, if they said.
    pub position: Option<[f64; 2]>,
    /// The photo's key in the store.
    pub photo: Option<String>,
    /// Who reported: a keyed hash of the address or token, never shown; tells reporters apart.
    pub reporter: String,
}

/// A staff member's move of an incident.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Move {
    /// RFC 3339.
    pub at: String,
    /// The token's name.
    pub actor: String,
    pub from: State,
    pub to: State,
    pub note: String,
}

/// A status a rule gave the object, and the status it had before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub status: Status,
    pub prior: Status,
}

/// The reports about one object, merged.
#[derive(Debug, Clone)]
pub struct Incident {
    pub id: u64,
    pub object_id: ObjectId,
    pub layer: LayerId,
    /// The object's number as painted.
    pub number: String,
    /// The object's position when the incident opened.
    pub at: [f64; 2],
    pub state: State,
    pub opened_ms: i64,
    pub updated_ms: i64,
    pub closed_ms: Option<i64>,
    pub reports: Vec<Kept>,
    pub moves: Vec<Move>,
    pub applied: Option<Applied>,
}

impl Incident {
    /// A new incident about one object, with no report yet.
    pub fn open(
        id: u64,
        object_id: ObjectId,
        layer: LayerId,
        number: String,
        at: [f64; 2],
        opened_ms: i64,
    ) -> Incident {
        Incident {
            id,
            object_id,
            layer,
            number,
            at,
            state: State::New,
            opened_ms,
            updated_ms: opened_ms,
            closed_ms: None,
            reports: Vec::new(),
            moves: Vec::new(),
            applied: None,
        }
    }

    /// Whether a viewer who finds what `visible` lets them may see this incident: its object
    /// (or, once deleted, its layer).
    pub fn seen_by(&self, twin: &crate::twin::Twin, visible: &crate::access::Visible) -> bool {
        match twin.get(self.object_id) {
            Some(o) => visible.shows(o),
            None => visible.has_layer(self.layer),
        }
    }

    /// Reports by kind.
    pub fn kinds(&self) -> BTreeMap<String, u32> {
        let mut m = BTreeMap::new();
        for r in &self.reports {
            *m.entry(r.kind.clone()).or_insert(0) += 1;
        }
        m
    }

    /// The kind reported most (the first reported among equals).
    pub fn main_kind(&self) -> &str {
        let kinds = self.kinds();
        let mut best: Option<(&str, u32)> = None;
        for r in &self.reports {
            let n = kinds.get(&r.kind).copied().unwrap_or(0);
            if best.is_none_or(|(_, b)| n > b) {
                best = Some((&r.kind, n));
            }
        }
        best.map_or("other", |(k, _)| k)
    }

    /// Whether `reporter` has reported this incident already.
    pub fn reported_by(&self, reporter: &str) -> bool {
        self.reports.iter().any(|r| r.reporter == reporter)
    }

    /// Different reporters of `kind` from `since_ms` on.
    pub fn reporters_of(&self, kind: &str, since_ms: i64) -> usize {
        let mut who: Vec<&str> = self
            .reports
            .iter()
            .filter(|r| r.kind == kind && r.at_ms >= since_ms)
            .map(|r| r.reporter.as_str())
            .collect();
        who.sort_unstable();
        who.dedup();
        who.len()
    }

    /// What a resident (anyone) may see: that it exists, its state and how many reported it;
    /// never who reported, what they wrote, or their photos.
    pub fn public(&self, layer: &str, object_status: Status) -> PublicIncident {
        PublicIncident {
            incident: self.id,
            state: self.state,
            count: self.reports.len(),
            layer: layer.to_string(),
            number: self.number.clone(),
            object_status,
            opened: format_ms(self.opened_ms),
            updated: format_ms(self.updated_ms),
        }
    }
}

/// An incident as anyone may see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicIncident {
    pub incident: u64,
    pub state: State,
    /// Reports merged into it.
    pub count: usize,
    pub layer: String,
    pub number: String,
    /// The object's status now (`locked-reported` after enough reports, say).
    pub object_status: Status,
    /// RFC 3339.
    pub opened: String,
    pub updated: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_move_forward_or_reject_and_closed_stays_closed() {
        use State::*;
        assert!(New.can_move_to(Confirmed));
        assert!(New.can_move_to(Resolved));
        assert!(Assigned.can_move_to(Rejected));
        assert!(!Confirmed.can_move_to(New));
        assert!(!Assigned.can_move_to(Assigned));
        assert!(!Resolved.can_move_to(Rejected));
        assert!(!Rejected.can_move_to(Confirmed));
    }
}
