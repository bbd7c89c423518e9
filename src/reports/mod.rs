//! Residents' reports by the number painted on an object (an open manhole, a locked shelter),
//! merged into one incident per object that staff move through new → confirmed → assigned →
//! resolved (or rejected). Rules from the configuration turn reports into the object's status
//! (three "locked" reports in a day make a shelter `locked-reported`), through the registry
//! like any edit, and undo it when staff close the incident.
//!
//! Every report and every move is an entry of the hash-chained history (actions `report` and
//! `incident`); the incidents are rebuilt from it at start. Who reported is kept only as a
//! keyed hash, to tell reporters apart: no answer shows it.

pub mod incident;
pub mod photo;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultKeyedRateLimiter, Quota};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::access::Visible;
use crate::model::{ObjectId, Status, now_ms};
use crate::registry::{Patch, Registry, RegistryError};
use crate::store::{HistoryEntry, Photo, StoreError, Unless, format_ms};
use crate::twin::Twin;
pub use incident::{Applied, Incident, Kept, Move, PublicIncident, State};

/// The kind every layer takes.
pub const OTHER: &str = "other";

/// How reports are taken and what they change (`[reports]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// What residents may report, per layer (`other` is always taken).
    pub kinds: BTreeMap<String, Vec<String>>,
    /// Reports that change an object's status.
    pub rules: Vec<Rule>,
    /// Reports one address (or token) may file an hour.
    pub per_address_per_hour: u32,
    /// Reports about one object an hour, from everyone.
    pub per_object_per_hour: u32,
    /// Largest photo taken, in bytes (as sent, before base64).
    pub photo_max_bytes: usize,
    /// Longest text, in characters.
    pub text_max_chars: usize,
}

/// `reports` different reporters of `kind` about one object of `layer` within `within_h`
/// hours set its status to `status`, until staff resolve or reject the incident.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub layer: String,
    pub kind: String,
    pub reports: u32,
    #[serde(default = "day")]
    pub within_h: f64,
    pub status: Status,
}

fn day() -> f64 {
    24.0
}

impl Default for ReportSettings {
    fn default() -> Self {
        let kinds = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut m = BTreeMap::new();
        m.insert(
            "shelters".into(),
            kinds(&["locked", "closed", "flooded", "no_light", "overcrowded"]),
        );
        m.insert("manholes".into(), kinds(&["open", "broken_lid"]));
        m.insert(
            "poles".into(),
            kinds(&["down", "wire_hanging", "light_out"]),
        );
        m.insert("trees".into(), kinds(&["fallen", "dangerous"]));
        m.insert("cameras".into(), kinds(&["not_working"]));
        m.insert("wifi".into(), kinds(&["not_working"]));
        m.insert("cabinets".into(), kinds(&["open_door", "damaged"]));
        let rule = |layer: &str, kind: &str, reports, status| Rule {
            layer: layer.into(),
            kind: kind.into(),
            reports,
            within_h: 24.0,
            status,
        };
        ReportSettings {
            kinds: m,
            rules: vec![
                rule("shelters", "locked", 3, Status::LockedReported),
                rule("shelters", "flooded", 3, Status::Hazard),
                rule("manholes", "open", 1, Status::Hazard),
                rule("poles", "down", 1, Status::Hazard),
                rule("poles", "wire_hanging", 1, Status::Hazard),
                rule("trees", "fallen", 1, Status::Hazard),
            ],
            per_address_per_hour: 20,
            per_object_per_hour: 120,
            photo_max_bytes: 5 << 20,
            text_max_chars: 1000,
        }
    }
}

/// A kind's name for people, in Ukrainian and English (a kind of the city's own: its name
/// with spaces).
pub fn kind_label(kind: &str) -> (String, String) {
    let known = match kind {
        "locked" => Some(("Зачинено", "Locked")),
        "closed" => Some(("Не працює / закрито", "Closed / not working")),
        "flooded" => Some(("Затоплено", "Flooded")),
        "no_light" => Some(("Немає світла", "No light")),
        "overcrowded" => Some(("Переповнене", "Overcrowded")),
        "open" => Some(("Відкритий люк", "Open manhole")),
        "broken_lid" => Some(("Зламана кришка", "Broken lid")),
        "down" => Some(("Опора впала", "Pole down")),
        "wire_hanging" => Some(("Звисає дріт", "Wire hanging")),
        "light_out" => Some(("Не світить ліхтар", "Light out")),
        "fallen" => Some(("Дерево впало", "Tree fallen")),
        "dangerous" => Some(("Може впасти", "May fall")),
        "not_working" => Some(("Не працює", "Not working")),
        "open_door" => Some(("Відчинені дверцята", "Door open")),
        "damaged" => Some(("Пошкоджено", "Damaged")),
        OTHER => Some(("Інше", "Other")),
        _ => None,
    };
    match known {
        Some((uk, en)) => (uk.into(), en.into()),
        None => {
            let plain = kind.replace('_', " ");
            (plain.clone(), plain)
        }
    }
}

impl ReportSettings {
    /// The kinds taken for `layer`: its own, then `other`.
    pub fn kinds_of(&self, layer: &str) -> Vec<String> {
        let mut k = self.kinds.get(layer).cloned().unwrap_or_default();
        if !k.iter().any(|x| x == OTHER) {
            k.push(OTHER.into());
        }
        k
    }

    /// Names what does not fit the layers: a rule or kind list for a layer that does not
    /// exist, a rule's kind its layer does not take, a rule of zero reports.
    pub fn check(&self, layers: &crate::model::Layers) -> Result<(), String> {
        for name in self.kinds.keys() {
            if layers.by_name(name).is_none() {
                return Err(format!(
                    "reports.kinds names layer {name:?}, which does not exist"
                ));
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            if layers.by_name(&r.layer).is_none() {
                return Err(format!(
                    "reports.rules[{i}]: layer {:?} does not exist",
                    r.layer
                ));
            }
            if !self.kinds_of(&r.layer).contains(&r.kind) {
                return Err(format!(
                    "reports.rules[{i}]: layer {} takes no kind {:?} (it takes {})",
                    r.layer,
                    r.kind,
                    self.kinds_of(&r.layer).join(", ")
                ));
            }
            if r.reports == 0 || !r.within_h.is_finite() || r.within_h <= 0.0 {
                return Err(format!(
                    "reports.rules[{i}]: reports must be at least 1 and within_h above 0"
                ));
            }
        }
        Ok(())
    }
}

/// A report as a resident sends it (`POST /reports`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// The number painted on the object, as read (`УК-104273-5`, `104273-5`).
    pub number: String,
    /// What is wrong: one of the layer's kinds (`GET /reports/kinds`), or `other`.
    pub kind: String,
    /// A few words, at most `reports.text_max_chars` characters.
    pub text: Option<String>,
    /// Where the resident is (WGS 84), if they share it: narrows the suggestions when the
    /// number was misread.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// A JPEG or PNG photo, base64; re-encoded, so that none of its metadata is kept.
    pub photo: Option<String>,
}

/// What the resident gets back.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    /// The report's number (0 when it added nothing: the same reporter again).
    pub report: u64,
    /// This reporter had reported this incident already: nothing was added.
    pub duplicate: bool,
    #[serde(flatten)]
    pub incident: PublicIncident,
}

/// Why a report or a move was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No object the caller may see has this number; the resolver's guesses.
    #[error("no object has the number {number:?}; did you mean one of the suggestions?")]
    UnknownNumber {
        number: String,
        suggestions: Vec<crate::resolve::Candidate>,
    },
    #[error("{field}: {reason}")]
    Bad { field: &'static str, reason: String },
    #[error("{0}")]
    RateLimited(String, u64),
    #[error("no incident {0}")]
    NoIncident(u64),
    #[error("incident {id} is {from:?} and cannot become {to:?}")]
    Move { id: u64, from: State, to: State },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

fn bad(field: &'static str, reason: impl Into<String>) -> ReportError {
    ReportError::Bad {
        field,
        reason: reason.into(),
    }
}

struct Book {
    incidents: BTreeMap<u64, Incident>,
    /// The open incident of each object.
    open: HashMap<ObjectId, u64>,
    next_report: u64,
    next_incident: u64,
    /// The key of reporters' hashes, kept in the store.
    key: String,
    /// The newest history entry of [`ACTIONS`] this book has read back (see
    /// [`ReportService::follow`]).
    seq: u64,
    /// Entries this instance wrote itself after `seq`: already in the book.
    own: HashSet<u64>,
}

/// The reports and incidents of one server.
pub struct ReportService {
    pub settings: ReportSettings,
    book: Mutex<Book>,
    per_reporter: DefaultKeyedRateLimiter<String>,
    per_object: DefaultKeyedRateLimiter<ObjectId>,
}

/// How often a report or a move is tried again after another instance wrote first.
const STALE_TRIES: u32 = 20;

/// An entry of the history this service reads back.
pub const ACTIONS: [&str; 2] = ["report", "incident"];

impl ReportService {
    /// The service, its incidents rebuilt from the history; statuses a crash left behind
    /// (a rule's status not yet set, or not yet undone) are set right.
    pub fn load(settings: ReportSettings, registry: &Registry) -> Result<Arc<Self>, RegistryError> {
        let key = match registry.setting("report_key")? {
            Some(k) => k,
            None => {
                let mut b = [0u8; 32];
                getrandom::fill(&mut b).map_err(|e| RegistryError::Poisoned(e.to_string()))?;
                let k = hex::encode(b);
                registry.set_setting("report_key", &k)?;
                k
            }
        };
        let mut book = Book {
            incidents: BTreeMap::new(),
            open: HashMap::new(),
            next_report: 1,
            next_incident: 1,
            key,
            seq: 0,
            own: HashSet::new(),
        };
        book.follow(registry)?;
        let per_hour = |n: u32| Quota::per_hour(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        let s = Arc::new(ReportService {
            per_reporter: DefaultKeyedRateLimiter::keyed(per_hour(settings.per_address_per_hour)),
            per_object: DefaultKeyedRateLimiter::keyed(per_hour(settings.per_object_per_hour)),
            settings,
            book: Mutex::new(book),
        });
        s.reconcile(registry);
        Ok(s)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads back the reports and incident moves other instances sharing the store wrote
    /// since the book last looked (their ids then continue past theirs).
    pub fn follow(&self, registry: &Registry) -> Result<(), RegistryError> {
        self.lock().follow(registry)
    }

    /// After a crash between a report and its rule's edit (or a close and its undo): sets
    /// each object's status to what its incidents say.
    fn reconcile(&self, registry: &Registry) {
        let book = self.lock();
        for i in book.incidents.values() {
            let Some(a) = i.applied else { continue };
            let now = registry.twin().get(i.object_id).map(|o| o.status);
            let want = if i.state.is_closed() {
                let still_held = book.open.get(&i.object_id).is_some_and(|o| {
                    book.incidents
                        .get(o)
                        .is_some_and(|oi| oi.applied.is_some_and(|x| x.status == a.status))
                });
                (now == Some(a.status) && !still_held).then_some(a.prior)
            } else {
                (now == Some(a.prior) && a.prior != a.status).then_some(a.status)
            };
            if let Some(st) = want {
                let patch = Patch {
                    status: Some(st),
                    ..Default::default()
                };
                if let Err(e) = registry.update(i.object_id, patch, "reports") {
                    tracing::warn!(incident = i.id, error = %e, "status not set right at start");
                }
            }
        }
    }

    /// The keyed hash that tells reporters apart (an address or a token id).
    fn reporter_of(key: &str, who: &str) -> String {
        hex::encode(&Sha256::digest(format!("{key}\n{who}"))[..16])
    }

    /// Files a report about the object numbered `r.number` among what `visible` shows.
    /// `who` is the reporter (an address or a token id; only its keyed hash is kept),
    /// `actor` the history's actor. A photo must have been cleaned ([`photo::clean`]).
    pub fn file(
        &self,
        registry: &Registry,
        r: &NewReport,
        photo: Option<Photo>,
        visible: &Visible,
        who: &str,
        actor: &str,
    ) -> Result<Receipt, ReportError> {
        let number = r.number.trim();
        if number.is_empty() || number.chars().count() > 64 {
            return Err(bad("number", "a number as painted, e.g. УК-104273-5"));
        }
        let position = match (r.lon, r.lat) {
            (None, None) => None,
            (Some(lon), Some(lat))
                if lon.is_finite()
                    && lat.is_finite()
                    && lon.abs() <= 180.0
                    && lat.abs() <= 90.0 =>
            {
                Some([lon, lat])
            }
            _ => return Err(bad("lon", "lon and lat go together, in degrees (WGS 84)")),
        };
        let text = r.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        if let Some(t) = text
            && t.chars().count() > self.settings.text_max_chars
        {
            return Err(bad(
                "text",
                format!("at most {} characters", self.settings.text_max_chars),
            ));
        }
        let (object_id, layer, layer_name, painted, at, status) = {
            let twin = registry.twin();
            let found: Vec<_> = twin
                .find_number(number)
                .into_iter()
                .filter(|o| visible.shows(o))
                .collect();
            let [o] = found.as_slice() else {
                return Err(ReportError::UnknownNumber {
                    number: number.to_string(),
                    suggestions: suggestions(&twin, number, position, visible),
                });
            };
            let def = twin.layers().def(o.layer);
            let painted = o
                .number
                .as_ref()
                .map(|n| n.display(def, twin.serial_width()))
                .unwrap_or_else(|| number.to_string());
            (
                o.id,
                o.layer,
                def.name.clone(),
                painted,
                o.geometry.anchor(),
                o.status,
            )
        };
        let kinds = self.settings.kinds_of(&layer_name);
        if !kinds.iter().any(|k| k == &r.kind) {
            return Err(bad(
                "kind",
                format!(
                    "{:?} is not a kind of report for {layer_name}; one of {}",
                    r.kind,
                    kinds.join(", ")
                ),
            ));
        }
        let mut book = self.lock();
        let reporter = Self::reporter_of(&book.key, who);
        let mut limited = false;
        let mut tries = 0;
        // Read, number, append; again when another instance appended first (Book::append).
        let (report_id, inc, applied_now) = loop {
            book.follow(registry)?;
            let open = book.open.get(&object_id).copied();
            if let Some(i) = open.and_then(|id| book.incidents.get(&id))
                && i.reported_by(&reporter)
            {
                return Ok(Receipt {
                    report: 0,
                    duplicate: true,
                    incident: i.public(&layer_name, status),
                });
            }
            if !limited {
                limited = true;
                if self.per_reporter.check_key(&reporter).is_err() {
                    return Err(ReportError::RateLimited(
                        format!(
                            "more than {} reports an hour from this address (reports.per_address_per_hour)",
                            self.settings.per_address_per_hour
                        ),
                        60,
                    ));
                }
                if self.per_object.check_key(&object_id).is_err() {
                    return Err(ReportError::RateLimited(
                        format!(
                            "this object has had more than {} reports in the last hour \
                     (reports.per_object_per_hour); it is known",
                            self.settings.per_object_per_hour
                        ),
                        60,
                    ));
                }
            }
            let now = now_ms();
            let report_id = book.next_report;
            let mut inc = match open.and_then(|id| book.incidents.get(&id)) {
                Some(i) => i.clone(),
                None => Incident::open(
                    book.next_incident,
                    object_id,
                    layer,
                    painted.clone(),
                    at,
                    now,
                ),
            };
            inc.updated_ms = now;
            inc.reports.push(Kept {
                id: report_id,
                at_ms: now,
                kind: r.kind.clone(),
                text: text.map(str::to_string),
                position,
                photo: photo.as_ref().map(|p| p.key.clone()),
                reporter: reporter.clone(),
            });
            if inc.applied.is_none() {
                inc.applied = self.settings.rules.iter().find_map(|rule| {
                    let since = now - (rule.within_h * 3_600_000.0) as i64;
                    (rule.layer == layer_name
                        && rule.kind == r.kind
                        && rule.status != status
                        && inc.reporters_of(&rule.kind, since) >= rule.reports as usize)
                        .then_some(Applied {
                            status: rule.status,
                            prior: status,
                        })
                });
            }
            let row = serde_json::json!({
                "report": report_id,
                "incident": inc.id,
                "object_id": object_id,
                "layer": layer_name,
                "number": painted,
                "kind": r.kind,
                "text": text,
                "position": position,
                "photo": photo.as_ref().map(|p| &p.key),
                "reporter": reporter,
                "at_ms": now,
                "object_at": at,
                "opened_ms": inc.opened_ms,
                "state": inc.state,
                "count": inc.reports.len(),
                "main_kind": inc.main_kind(),
                "applied": inc.applied,
            });
            if !book.append(registry, actor, ("report", row), photo.as_ref(), &mut tries)? {
                continue;
            }
            let applied_now = inc.applied.filter(|_| {
                book.incidents
                    .get(&inc.id)
                    .is_none_or(|old| old.applied.is_none())
            });
            break (report_id, inc, applied_now);
        };
        book.next_report = report_id + 1;
        book.next_incident = book.next_incident.max(inc.id + 1);
        book.open.insert(object_id, inc.id);
        let id = inc.id;
        book.incidents.insert(id, inc);
        let mut status_now = status;
        if let Some(a) = applied_now {
            let patch = Patch {
                status: Some(a.status),
                ..Default::default()
            };
            match registry.update(object_id, patch, "reports") {
                Ok(o) => status_now = o.status,
                Err(e) => tracing::warn!(incident = id, error = %e, "rule's status not set"),
            }
        }
        let i = &book.incidents[&id];
        Ok(Receipt {
            report: report_id,
            duplicate: false,
            incident: i.public(&layer_name, status_now),
        })
    }

    /// Staff move incident `id` to `to` with a note. Closing it undoes the status its rule
    /// set, unless someone changed the status since.
    pub fn move_to(
        &self,
        registry: &Registry,
        id: u64,
        to: State,
        note: &str,
        actor: &str,
    ) -> Result<Incident, ReportError> {
        let note = note.trim();
        if note.chars().count() > self.settings.text_max_chars {
            return Err(bad(
                "note",
                format!("at most {} characters", self.settings.text_max_chars),
            ));
        }
        let mut book = self.lock();
        let mut tries = 0;
        // As in `file`: again when another instance appended first.
        let inc = loop {
            book.follow(registry)?;
            let mut inc = book
                .incidents
                .get(&id)
                .cloned()
                .ok_or(ReportError::NoIncident(id))?;
            if !inc.state.can_move_to(to) {
                return Err(ReportError::Move {
                    id,
                    from: inc.state,
                    to,
                });
            }
            let now = now_ms();
            let from = inc.state;
            inc.state = to;
            inc.updated_ms = now;
            if to.is_closed() {
                inc.closed_ms = Some(now);
            }
            inc.moves.push(Move {
                at: format_ms(now),
                actor: actor.to_string(),
                from,
                to,
                note: note.to_string(),
            });
            let layer_name = registry.twin().layers().def(inc.layer).name.clone();
            let row = serde_json::json!({
                "incident": id,
                "object_id": inc.object_id,
                "layer": layer_name,
                "number": inc.number,
                "from": from,
                "to": to,
                "note": note,
                "at_ms": now,
                "object_at": inc.at,
                "opened_ms": inc.opened_ms,
                "state": to,
                "count": inc.reports.len(),
                "main_kind": inc.main_kind(),
            });
            if !book.append(registry, actor, ("incident", row), None, &mut tries)? {
                continue;
            }
            break inc;
        };
        if to.is_closed() {
            book.open.remove(&inc.object_id);
            if let Some(a) = inc.applied {
                let still = registry.twin().get(inc.object_id).map(|o| o.status);
                if still == Some(a.status) {
                    let patch = Patch {
                        status: Some(a.prior),
                        ..Default::default()
                    };
                    if let Err(e) = registry.update(inc.object_id, patch, actor) {
                        tracing::warn!(incident = id, error = %e, "rule's status not undone");
                    }
                }
            }
        }
        book.incidents.insert(id, inc.clone());
        Ok(inc)
    }

    /// One incident.
    pub fn get(&self, id: u64) -> Option<Incident> {
        self.lock().incidents.get(&id).cloned()
    }

    /// Incidents that pass `keep`, most recently changed first, at most `limit`.
    pub fn list(&self, limit: usize, keep: impl Fn(&Incident) -> bool) -> Vec<Incident> {
        let book = self.lock();
        let mut v: Vec<Incident> = book
            .incidents
            .values()
            .filter(|i| keep(i))
            .cloned()
            .collect();
        v.sort_by(|a, b| b.updated_ms.cmp(&a.updated_ms).then(b.id.cmp(&a.id)));
        v.truncate(limit);
        v
    }

    /// The incident holding report `id`, and the key of the report's photo (if it came with
    /// one).
    pub fn photo_of(&self, id: u64) -> Option<(Incident, Option<String>)> {
        let book = self.lock();
        book.incidents.values().find_map(|i| {
            let r = i.reports.iter().find(|r| r.id == id)?;
            Some((i.clone(), r.photo.clone()))
        })
    }

    /// Every incident (for counts).
    pub fn all(&self) -> Vec<Incident> {
        self.lock().incidents.values().cloned().collect()
    }
}

impl Book {
    /// Appends `entry` unless the history holds a report or move newer than the book's
    /// ([`Unless`]): the ids in it were numbered from what the book read, and another
    /// instance may have given them meanwhile. False when refused so (read the history again
    /// and retry), counted in `tries`; past [`STALE_TRIES`] the refusal is the error.
    fn append(
        &mut self,
        registry: &Registry,
        actor: &str,
        entry: (&str, serde_json::Value),
        photo: Option<&Photo>,
        tries: &mut u32,
    ) -> Result<bool, RegistryError> {
        let unless = Unless {
            after: self.seq,
            actions: &ACTIONS,
        };
        match registry.record_all(actor, &[entry], photo, Some(unless)) {
            Ok(seqs) => {
                self.own.extend(seqs);
                Ok(true)
            }
            Err(RegistryError::Store(StoreError::Stale { .. })) if *tries < STALE_TRIES => {
                *tries += 1;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Replays the entries of [`ACTIONS`] after the newest one read, except this instance's
    /// own (already in the book).
    fn follow(&mut self, registry: &Registry) -> Result<(), RegistryError> {
        loop {
            let rows = registry.history_after(self.seq, &ACTIONS, 10_000)?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            self.seq = last.seq.max(0) as u64;
            for e in &rows {
                if !self.own.remove(&(e.seq.max(0) as u64)) {
                    self.replay(e, registry);
                }
            }
        }
    }

    /// Applies one history entry of [`ACTIONS`].
    fn replay(&mut self, e: &HistoryEntry, registry: &Registry) {
        let Some(v) = &e.new else { return };
        let u = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
        let i64_ = |k: &str| v.get(k).and_then(serde_json::Value::as_i64);
        let s = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        let pair = |k: &str| -> Option<[f64; 2]> { serde_json::from_value(v.get(k)?.clone()).ok() };
        let (Some(id), Some(object_id)) = (u("incident"), u("object_id")) else {
            return;
        };
        let at_ms = i64_("at_ms").unwrap_or(0);
        match e.action.as_str() {
            "report" => {
                let Some(report) = u("report") else { return };
                let layer = s("layer")
                    .and_then(|n| registry.twin().layers().by_name(&n))
                    .unwrap_or(0);
                let inc = self.incidents.entry(id).or_insert_with(|| {
                    Incident::open(
                        id,
                        object_id,
                        layer,
                        s("number").unwrap_or_default(),
                        pair("object_at").unwrap_or([0.0, 0.0]),
                        i64_("opened_ms").unwrap_or(at_ms),
                    )
                });
                inc.updated_ms = at_ms;
                inc.reports.push(Kept {
                    id: report,
                    at_ms,
                    kind: s("kind").unwrap_or_else(|| OTHER.into()),
                    text: s("text"),
                    position: pair("position"),
                    photo: s("photo"),
                    reporter: s("reporter").unwrap_or_default(),
                });
                if inc.applied.is_none() {
                    inc.applied = v
                        .get("applied")
                        .and_then(|a| serde_json::from_value(a.clone()).ok());
                }
                if !inc.state.is_closed() {
                    self.open.insert(object_id, id);
                }
                self.next_report = self.next_report.max(report + 1);
                self.next_incident = self.next_incident.max(id + 1);
            }
            "incident" => {
                let Some(inc) = self.incidents.get_mut(&id) else {
                    return;
                };
                let state = |k: &str| s(k).as_deref().and_then(State::parse);
                let (Some(from), Some(to)) = (state("from"), state("to")) else {
                    return;
                };
                inc.state = to;
                inc.updated_ms = at_ms;
                inc.moves.push(Move {
                    at: format_ms(at_ms),
                    actor: e.actor.clone(),
                    from,
                    to,
                    note: s("note").unwrap_or_default(),
                });
                if to.is_closed() {
                    inc.closed_ms = Some(at_ms);
                    if self.open.get(&object_id) == Some(&id) {
                        self.open.remove(&object_id);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The district of an incident: the city's district polygon that holds its object, else the
/// object's `district` attribute (as the shelter lists carry it).
pub fn district_of(
    twin: &Twin,
    districts: &crate::districts::Districts,
    i: &Incident,
) -> Option<String> {
    let at = twin.get(i.object_id).map_or(i.at, |o| o.geometry.anchor());
    if let Some(d) = districts.at(at) {
        return Some(d.to_string());
    }
    let o = twin.get(i.object_id)?;
    let d = o.attributes.get("district")?.as_text();
    let d = d.trim();
    (!d.is_empty()).then(|| d.to_string())
}

/// The resolver's best guesses for a misread number, near the resident when they said where.
fn suggestions(
    twin: &Twin,
    number: &str,
    near: Option<[f64; 2]>,
    visible: &Visible,
) -> Vec<crate::resolve::Candidate> {
    let q = crate::resolve::ResolveQuery {
        q: number.to_string(),
        near,
        radius_m: 2000.0,
        layers: Vec::new(),
        visible: visible.clone(),
        limit: 5,
        streets: None,
    };
    crate::resolve::resolve(twin, &q)
        .map(|r| r.candidates)
        .unwrap_or_default()
}

/// Incidents counted by state, layer and district, and the median time to resolve.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IncidentStats {
    pub incidents: usize,
    pub reports: usize,
    pub by_state: BTreeMap<String, usize>,
    /// By the object's layer.
    pub by_category: BTreeMap<String, usize>,
    /// Reports by kind.
    pub by_kind: BTreeMap<String, usize>,
    /// By district (objects outside every district under `""`).
    pub by_district: BTreeMap<String, usize>,
    /// Median seconds from the first report to `resolved`, over resolved incidents.
    pub median_resolve_s: Option<f64>,
}

impl IncidentStats {
    pub fn of<'a>(
        incidents: impl IntoIterator<Item = &'a Incident>,
        layer_name: impl Fn(&Incident) -> String,
        district: impl Fn(&Incident) -> Option<String>,
    ) -> IncidentStats {
        let mut s = IncidentStats::default();
        let mut times = Vec::new();
        for i in incidents {
            s.incidents += 1;
            s.reports += i.reports.len();
            *s.by_state.entry(i.state.as_str().into()).or_default() += 1;
            *s.by_category.entry(layer_name(i)).or_default() += 1;
            *s.by_district
                .entry(district(i).unwrap_or_default())
                .or_default() += 1;
            for r in &i.reports {
                *s.by_kind.entry(r.kind.clone()).or_default() += 1;
            }
            if i.state == State::Resolved
                && let Some(c) = i.closed_ms
            {
                times.push((c - i.opened_ms) as f64 / 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        s.median_resolve_s = match times.len() {
            0 => None,
            n if n % 2 == 1 => Some(times[n / 2]),
            n => Some((times[n / 2 - 1] + times[n / 2]) / 2.0),
        };
        s
    }
}
