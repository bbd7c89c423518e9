//! Shelters for residents: each shelter's facts ([`info`]), whether it is open now
//! ([`hours`]), the data-quality audit of the lists ([`audit`]), and the nearest open,
//! enterable shelters by walking route ([`ShelterService::nearest`]), over the walking graph
//! of [`crate::walk`].

pub mod audit;
pub mod hours;
pub mod info;
pub mod instructions;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::access::Visible;
use crate::model::{LayerId, Object, ObjectId, Status};
use crate::resolve::place::distance_m;
use crate::twin::{Changed, Follower, Twin};
use crate::walk::{self, Graph, Mode, Snap, Targets};
pub use info::{Kind, LegalType, ShelterInfo, ShelterStatus};

/// Layer of the shelters.
pub const LAYER: &str = "shelters";

/// The `[shelters]` table of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShelterSettings {
    /// Walking speed for the minutes of a route, km/h (OSRM's foot profile walks at 5).
    pub walk_kmh: f64,
    /// Speed of a step-free route (`accessible=true`: a wheelchair, a pram), km/h.
    pub step_free_kmh: f64,
    /// A position farther than this from every way is not routed: the answer gives
    /// straight-line distances and says so. Metres.
    pub snap_max_m: f64,
    /// A shelter farther than this from every way is reached by no route. Metres.
    pub attach_max_m: f64,
    /// Default and largest search distance of `/shelters/nearest`, metres.
    pub default_max_m: f64,
    pub largest_max_m: f64,
    /// Largest `k`.
    pub max_k: usize,
    /// Folder of the alert instructions the residents' page shows (`instructions.uk.md`,
    /// `instructions.en.md`), which staff edit; the built-in text is shown where a file is
    /// missing.
    pub instructions_dir: std::path::PathBuf,
    /// The PMTiles archive of the city the residents' page keeps offline
    /// (`/shelters/city.pmtiles`). When the file is missing, the first request for it has it
    /// written (shelters and streets, as the public sees them, zooms 10–16); or write it with
    /// `citytwin export --format pmtiles`. Default: `<store>.pmtiles` beside the store.
    pub pmtiles: Option<std::path::PathBuf>,
}

impl Default for ShelterSettings {
    fn default() -> Self {
        ShelterSettings {
            walk_kmh: 5.0,
            step_free_kmh: 3.0,
            snap_max_m: 300.0,
            attach_max_m: 300.0,
            default_max_m: 5000.0,
            largest_max_m: 20_000.0,
            max_k: 10,
            instructions_dir: "data".into(),
            pmtiles: None,
        }
    }
}

impl ShelterSettings {
    pub fn validate(&self) -> Result<(), String> {
        let pos = |v: f64| v.is_finite() && v > 0.0;
        if !(pos(self.walk_kmh) && pos(self.step_free_kmh)) {
            return Err("shelters.walk_kmh and shelters.step_free_kmh must be > 0".into());
        }
        if !(pos(self.snap_max_m) && pos(self.attach_max_m)) {
            return Err("shelters.snap_max_m and shelters.attach_max_m must be > 0".into());
        }
        if !(pos(self.default_max_m) && self.largest_max_m >= self.default_max_m) {
            return Err(
                "shelters.default_max_m must be > 0 and at most shelters.largest_max_m".into(),
            );
        }
        if self.max_k == 0 || self.max_k > 100 {
            return Err(format!("shelters.max_k {} is outside 1..=100", self.max_k));
        }
        Ok(())
    }
}

/// Why a question was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ShelterError {
    #[error("{field}: {reason}")]
    Bad { field: &'static str, reason: String },
    #[error("this city has no layer {LAYER:?}")]
    NoLayer,
}

fn bad(field: &'static str, reason: String) -> ShelterError {
    ShelterError::Bad { field, reason }
}

/// A `/shelters/nearest` question.
#[derive(Debug, Clone)]
pub struct NearestQuery {
    pub lat: f64,
    pub lon: f64,
    pub k: usize,
    /// Only shelters with step-free entry, reached without steps.
    pub accessible: bool,
    /// Leave out the shelters known to be closed now.
    pub open_now: bool,
    pub max_m: Option<f64>,
}

/// How the distances of an answer were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// Along the imported ways.
    Walking,
    /// As the crow flies: no way reaches there.
    StraightLine,
}

/// One shelter found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShelterFound {
    /// The object id (stable; the feature id in tiles).
    pub id: u64,
    /// The painted number (`УК-…`), when it has one.
    pub number: Option<String>,
    pub number_latin: Option<String>,
    pub lon: f64,
    pub lat: f64,
    /// Metres to walk (or, for `straight_line`, as the crow flies).
    pub metres: f64,
    /// Minutes at the documented speed (`shelters.walk_kmh`, `step_free_kmh` when accessible).
    pub minutes: f64,
    pub routing: Routing,
    /// Whether the route takes steps (never with `accessible=true`).
    pub steps: bool,
    /// GeoJSON LineString from the asked position (its point on the nearest way first) to the
    /// shelter.
    #[schema(value_type = Object)]
    pub route: serde_json::Value,
    /// Open at this moment by its hours and status; `null` when that is not known.
    pub open_now: Option<bool>,
    #[serde(flatten)]
    pub info: ShelterInfo,
}

/// The answer of `/shelters/nearest`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NearestShelters {
    /// `walking` when every shelter below was reached along the ways; `straight_line` when
    /// none was (then `note` says why); `mixed` otherwise.
    pub routing: String,
    /// Why some or all distances are straight lines.
    pub note: Option<String>,
    /// The asked position's point on the nearest way, and how far it is.
    pub start: Option<RouteStart>,
    pub speed_kmh: f64,
    pub shelters: Vec<ShelterFound>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RouteStart {
    pub lon: f64,
    pub lat: f64,
    pub off_m: f64,
}

/// What the search needs of one shelter, read once per change of the shelters.
struct Facts {
    id: ObjectId,
    at: [f64; 2],
    hidden: bool,
    removed: bool,
    accessible: bool,
    status: ShelterStatus,
    hours: Option<opening_hours::OpeningHours>,
}

/// The walking graph with the shelters attached to it.
struct Prepared {
    graph: Arc<Graph>,
    facts: Vec<Facts>,
    any: Targets,
    step_free: Targets,
}

/// Nearest shelters by walking route. Follows the registry: an edit of a street or a barrier
/// rebuilds the graph, an edit of a shelter re-attaches the shelters, on the next question.
pub struct ShelterService {
    settings: ShelterSettings,
    tz: chrono_tz::Tz,
    graph_dirty: AtomicBool,
    shelters_dirty: AtomicBool,
    current: RwLock<Option<Arc<Prepared>>>,
    rebuild: Mutex<()>,
    writing_pmtiles: AtomicBool,
}

impl ShelterService {
    pub fn new(settings: ShelterSettings, tz: chrono_tz::Tz) -> Arc<ShelterService> {
        Arc::new(ShelterService {
            settings,
            tz,
            graph_dirty: AtomicBool::new(true),
            shelters_dirty: AtomicBool::new(true),
            current: RwLock::new(None),
            rebuild: Mutex::new(()),
            writing_pmtiles: AtomicBool::new(false),
        })
    }

    pub fn settings(&self) -> &ShelterSettings {
        &self.settings
    }

    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.tz
    }

    /// True when the caller is to write the city's PMTiles now (no one else is).
    pub fn start_writing_pmtiles(&self) -> bool {
        !self.writing_pmtiles.swap(true, Ordering::AcqRel)
    }

    pub fn writing_pmtiles(&self) -> bool {
        self.writing_pmtiles.load(Ordering::Acquire)
    }

    pub fn done_writing_pmtiles(&self) {
        self.writing_pmtiles.store(false, Ordering::Release);
    }

    fn dirty(&self) -> bool {
        self.graph_dirty.load(Ordering::Acquire) || self.shelters_dirty.load(Ordering::Acquire)
    }

    /// The prepared graph, rebuilt first if the twin changed what it depends on. The caller
    /// holds the twin's read lock, so the twin cannot change while it is read.
    fn prepared(&self, twin: &Twin) -> Arc<Prepared> {
        if !self.dirty()
            && let Some(p) = self.current.read().ok().and_then(|c| c.clone())
        {
            return p;
        }
        let _one = self.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.read().ok().and_then(|c| c.clone());
        if !self.dirty()
            && let Some(p) = old.clone()
        {
            return p;
        }
        let graph_dirty = self.graph_dirty.swap(false, Ordering::AcqRel);
        self.shelters_dirty.store(false, Ordering::Release);
        let t = std::time::Instant::now();
        let graph = match old {
            Some(o) if !graph_dirty => o.graph.clone(),
            _ => Arc::new(walk::from_twin(twin)),
        };
        let p = Arc::new(self.attach(twin, graph));
        tracing::info!(
            nodes = p.graph.node_count(),
            edges = p.graph.edge_count(),
            shelters = p.facts.len(),
            ms = t.elapsed().as_millis() as u64,
            "walking graph ready"
        );
        if let Ok(mut c) = self.current.write() {
            *c = Some(p.clone());
        }
        p
    }

    fn attach(&self, twin: &Twin, graph: Arc<Graph>) -> Prepared {
        let facts: Vec<Facts> = match twin.layers().by_name(LAYER) {
            Some(l) => twin
                .ids_of(l)
                .into_iter()
                .filter_map(|id| twin.get(id))
                .map(facts_of)
                .collect(),
            None => Vec::new(),
        };
        let max = self.settings.attach_max_m;
        let any: Vec<Option<Snap>> = facts
            .iter()
            .map(|f| graph.snap(f.at, max, |_| true))
            .collect();
        let step_free: Vec<Option<Snap>> = facts
            .iter()
            .map(|f| graph.snap(f.at, max, |e| !e.how.not_step_free))
            .collect();
        Prepared {
            any: Targets::new(&graph, &any),
            step_free: Targets::new(&graph, &step_free),
            facts,
            graph,
        }
    }

    /// Builds the walking graph now (at start, so that the first resident does not wait).
    pub fn warm(&self, twin: &Twin) {
        self.prepared(twin);
    }

    /// The nearest shelters `visible` may see that match `q`, nearest first.
    pub fn nearest(
        &self,
        twin: &Twin,
        q: &NearestQuery,
        visible: &Visible,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<NearestShelters, ShelterError> {
        let s = &self.settings;
        if !(q.lat.is_finite() && (-90.0..=90.0).contains(&q.lat)) {
            return Err(bad(
                "lat",
                format!("{} is not a latitude in -90..90", q.lat),
            ));
        }
        if !(q.lon.is_finite() && (-180.0..=180.0).contains(&q.lon)) {
            return Err(bad(
                "lon",
                format!("{} is not a longitude in -180..180", q.lon),
            ));
        }
        if q.k == 0 || q.k > s.max_k {
            return Err(bad("k", format!("{} is outside 1..={}", q.k, s.max_k)));
        }
        let max_m = q.max_m.unwrap_or(s.default_max_m);
        if !(max_m.is_finite() && max_m > 0.0 && max_m <= s.largest_max_m) {
            return Err(bad(
                "max_m",
                format!("{max_m} is outside (0, {}] metres", s.largest_max_m),
            ));
        }
        let layer: LayerId = twin.layers().by_name(LAYER).ok_or(ShelterError::NoLayer)?;
        let p = self.prepared(twin);
        let local = hours::local(now, self.tz);
        let open_now = |f: &Facts| hours::open_now(f.status, f.hours.as_ref(), local);
        let eligible = |f: &Facts| {
            !f.removed
                && visible.has_layer(layer)
                && (visible.hidden || !f.hidden)
                && (!q.accessible || f.accessible)
                && (!q.open_now || open_now(f) != Some(false))
        };
        let at = [q.lon, q.lat];
        let speed = if q.accessible {
            s.step_free_kmh
        } else {
            s.walk_kmh
        };
        let minutes = |m: f64| (m / (speed * 1000.0 / 60.0) * 10.0).round() / 10.0;
        let mode = Mode {
            step_free: q.accessible,
            max_m,
            k: q.k,
        };
        let start = p
            .graph
            .snap(at, s.snap_max_m, |e| mode.edge_ok(e))
            .filter(|st| st.off <= max_m);
        let mut found: Vec<ShelterFound> = Vec::new();
        let mut note = None;
        if let Some(st) = &start {
            let targets = if q.accessible { &p.step_free } else { &p.any };
            let reached = walk::nearest(&p.graph, targets, st, mode_minus(mode, st.off), |t| {
                eligible(&p.facts[t as usize])
            });
            for r in reached {
                let f = &p.facts[r.target as usize];
                let Some(o) = twin.get(f.id) else { continue };
                let mut line = Vec::with_capacity(r.route.len() + 2);
                line.push(at);
                line.extend(r.route);
                line.push(f.at);
                line.dedup();
                let metres = r.metres + st.off;
                found.push(shelter_found(
                    twin,
                    o,
                    f,
                    metres,
                    minutes(metres),
                    Routing::Walking,
                    r.steps,
                    line,
                    open_now(f),
                ));
            }
            if found.len() < q.k {
                let unreached = p
                    .facts
                    .iter()
                    .filter(|f| eligible(f))
                    .filter(|f| !found.iter().any(|x| x.id == f.id))
                    .filter(|f| distance_m(at, f.at) <= max_m)
                    .count();
                if unreached > 0 {
                    note = Some(format!(
                        "{unreached} matching shelter(s) within {max_m} m are on no way the imported streets connect to this position{}: they are listed by straight-line distance after the walking routes",
                        if q.accessible { " step-free" } else { "" }
                    ));
                }
            }
        } else {
            note = Some(if p.graph.edge_count() == 0 {
                "no streets are imported: distances are straight lines, not walking routes"
                    .to_string()
            } else {
                format!(
                    "no {}way within {} m of this position: distances are straight lines, not walking routes",
                    if q.accessible { "step-free " } else { "" },
                    s.snap_max_m
                )
            });
        }
        if found.len() < q.k {
            let mut rest: Vec<(f64, &Facts)> = p
                .facts
                .iter()
                .filter(|f| eligible(f))
                .filter(|f| !found.iter().any(|x| x.id == f.id))
                .map(|f| (distance_m(at, f.at), f))
                .filter(|(d, _)| *d <= max_m)
                .collect();
            rest.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
            for (d, f) in rest.into_iter().take(q.k - found.len()) {
                let Some(o) = twin.get(f.id) else { continue };
                found.push(shelter_found(
                    twin,
                    o,
                    f,
                    d,
                    minutes(d),
                    Routing::StraightLine,
                    false,
                    vec![at, f.at],
                    open_now(f),
                ));
            }
        }
        let walking = found
            .iter()
            .filter(|f| f.routing == Routing::Walking)
            .count();
        let routing = match (walking, found.len()) {
            (w, n) if w == n && start.is_some() => "walking",
            (0, _) => "straight_line",
            _ => "mixed",
        };
        Ok(NearestShelters {
            routing: routing.into(),
            note,
            start: start.map(|st| RouteStart {
                lon: st.point[0],
                lat: st.point[1],
                off_m: round1(st.off),
            }),
            speed_kmh: speed,
            shelters: found,
        })
    }
}

/// The audit of the twin's shelters that `visible` may see, with the rows the imports of their
/// files rejected. The city's bounds are `bounds`, else the extent of the imported streets
/// and addresses (none known: the "outside the city" finding is left out).
pub fn audit_twin(
    twin: &Twin,
    visible: &Visible,
    rejects: &[audit::RejectedRow],
    bounds: Option<[f64; 4]>,
) -> Result<audit::ShelterAudit, ShelterError> {
    let layer = twin.layers().by_name(LAYER).ok_or(ShelterError::NoLayer)?;
    let objects: Vec<&Object> = if visible.has_layer(layer) {
        twin.ids_of(layer)
            .into_iter()
            .filter_map(|id| twin.get(id))
            .filter(|o| visible.shows(o))
            .collect()
    } else {
        Vec::new()
    };
    let files: std::collections::HashSet<&str> = objects.iter().map(|o| &*o.source.file).collect();
    let rejects: Vec<audit::RejectedRow> = rejects
        .iter()
        .filter(|r| files.contains(r.file.as_str()))
        .cloned()
        .collect();
    let bounds = bounds.or_else(|| {
        [walk::STREETS, "addresses"]
            .iter()
            .filter_map(|n| twin.layers().by_name(n))
            .filter_map(|l| twin.bbox(l))
            .reduce(|a, b| {
                [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ]
            })
    });
    let width = twin.serial_width();
    let numbered = objects.iter().map(|o| {
        let def = twin.layers().def(o.layer);
        (*o, o.number.as_ref().map(|n| n.display(def, width)))
    });
    Ok(audit::audit(numbered, &rejects, bounds))
}

/// Every shelter `visible` may see, as GeoJSON with its facts and whether it is open at
/// `now` (for the residents' page: its list, and what it keeps for when the server is out of
/// reach).
pub fn list(
    twin: &Twin,
    visible: &Visible,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<serde_json::Value, ShelterError> {
    let layer = twin.layers().by_name(LAYER).ok_or(ShelterError::NoLayer)?;
    let local = hours::local(now, tz);
    let width = twin.serial_width();
    let def = twin.layers().def(layer);
    let mut ids = if visible.has_layer(layer) {
        twin.ids_of(layer)
    } else {
        Vec::new()
    };
    ids.sort_unstable();
    let features: Vec<serde_json::Value> = ids
        .into_iter()
        .filter_map(|id| twin.get(id))
        .filter(|o| visible.shows(o) && o.status != Status::Removed)
        .map(|o| {
            let info = ShelterInfo::of(o);
            let read = info
                .opening_hours
                .as_deref()
                .and_then(|h| h.trim().parse().ok());
            let open_now = hours::open_now(info.status, read.as_ref(), local);
            let mut props = serde_json::to_value(&info).unwrap_or_default();
            if let Some(m) = props.as_object_mut() {
                m.insert(
                    "number".into(),
                    o.number.as_ref().map(|n| n.display(def, width)).into(),
                );
                m.insert("open_now".into(), open_now.into());
            }
            serde_json::json!({
                "type": "Feature",
                "id": o.id,
                "geometry": o.geometry.to_geojson(),
                "properties": props,
            })
        })
        .collect();
    Ok(serde_json::json!({"type": "FeatureCollection", "features": features}))
}

/// The search's budget once the walk to the nearest way is spent.
fn mode_minus(mode: Mode, off: f64) -> Mode {
    Mode {
        max_m: (mode.max_m - off).max(0.0),
        ..mode
    }
}

fn round1(m: f64) -> f64 {
    (m * 10.0).round() / 10.0
}

fn facts_of(o: &Object) -> Facts {
    let i = ShelterInfo::of(o);
    Facts {
        id: o.id,
        at: o.geometry.anchor(),
        hidden: o.is_hidden(),
        removed: o.status == Status::Removed,
        accessible: i.accessible == Some(true),
        status: i.status,
        hours: i
            .opening_hours
            .as_deref()
            .and_then(|h| h.trim().parse().ok()),
    }
}

#[allow(clippy::too_many_arguments)]
fn shelter_found(
    twin: &Twin,
    o: &Object,
    f: &Facts,
    metres: f64,
    minutes: f64,
    routing: Routing,
    steps: bool,
    line: Vec<[f64; 2]>,
    open_now: Option<bool>,
) -> ShelterFound {
    let def = twin.layers().def(o.layer);
    let width = twin.serial_width();
    ShelterFound {
        id: o.id,
        number: o.number.as_ref().map(|n| n.display(def, width)),
        number_latin: o.number.as_ref().map(|n| n.latin(def, width)),
        lon: f.at[0],
        lat: f.at[1],
        metres: round1(metres),
        minutes,
        routing,
        steps,
        route: serde_json::json!({"type": "LineString", "coordinates": line}),
        open_now,
        info: ShelterInfo::of(o),
    }
}

impl Follower for ShelterService {
    fn changed(&self, twin: &Twin, what: Changed<'_>) {
        let layers = twin.layers();
        let named = |l: LayerId| layers.get(l).map(|d| d.name.as_str());
        match what {
            Changed::All => {
                self.graph_dirty.store(true, Ordering::Release);
                self.shelters_dirty.store(true, Ordering::Release);
            }
            Changed::Boxes(boxes) => {
                for (l, _) in boxes {
                    match named(*l) {
                        Some(walk::STREETS | walk::BARRIERS) => {
                            self.graph_dirty.store(true, Ordering::Release)
                        }
                        Some(LAYER) => self.shelters_dirty.store(true, Ordering::Release),
                        _ => {}
                    }
                }
            }
        }
    }
}
