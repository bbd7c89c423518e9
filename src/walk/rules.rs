//! Which OpenStreetMap ways and nodes a person on foot may use, and which of them a wheelchair
//! or a pram may. The rules follow OSRM's foot profile (the reference the city's routing is
//! compared with): the `foot` tag decides first, then `access`; `no`, `private`,
//! `agricultural`, `forestry` and `delivery` shut a way or a node, `yes`, `permissive`,
//! `designated` and `foot` open it; the listed highway kinds are walkable unless shut, others
//! (a motorway, a cycleway) only when opened for feet; a barrier on a node blocks unless it is
//! one people walk through. On top of the foot profile, an *accessible* route never takes
//! `highway=steps`, a way tagged `wheelchair=no`, or a node a wheelchair cannot pass (a stile,
//! a turnstile, a kissing gate, a raised kerb).

/// Highway kinds walkable by default (OSRM's foot profile speeds table).
const WALKABLE: &[&str] = &[
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "road",
    "living_street",
    "service",
    "track",
    "path",
    "steps",
    "pedestrian",
    "footway",
    "pier",
    "platform",
    "corridor",
];

/// Access values that shut a way or node to people on foot.
const SHUT: &[&str] = &["no", "private", "agricultural", "forestry", "delivery"];
/// Access values that open one.
const OPEN: &[&str] = &["yes", "permissive", "designated", "foot"];

/// Barriers people on foot pass (OSRM's foot profile barrier whitelist, with the gates and
/// passages a pedestrian uses every day).
const PASSABLE_BARRIERS: &[&str] = &[
    "cycle_barrier",
    "bollard",
    "entrance",
    "cattle_grid",
    "border_control",
    "toll_booth",
    "sally_port",
    "gate",
    "lift_gate",
    "swing_gate",
    "no",
    "block",
    "kerb",
    "stile",
    "kissing_gate",
    "turnstile",
    "full-height_turnstile",
    "chain",
    "height_restrictor",
];

/// Barriers a wheelchair or a pram cannot pass.
const NOT_STEP_FREE_BARRIERS: &[&str] = &[
    "stile",
    "kissing_gate",
    "turnstile",
    "full-height_turnstile",
    "cycle_barrier",
];

/// How a way may be walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WayUse {
    /// Steps, or tagged `wheelchair=no`: never on an accessible route.
    pub not_step_free: bool,
    /// `highway=steps`.
    pub steps: bool,
}

/// How a node may be passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeUse {
    /// Nobody on foot passes.
    pub blocked: bool,
    /// A wheelchair or a pram does not pass.
    pub not_step_free: bool,
}

/// The first of `foot`, `access` that is set, lower-cased.
fn access_of(get: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    ["foot", "access"]
        .iter()
        .find_map(|k| get(k))
        .map(|v| v.trim().to_lowercase())
}

/// Whether and how a way with these tags is walked; `None` when it is not.
pub fn way_use(get: &dyn Fn(&str) -> Option<String>) -> Option<WayUse> {
    let highway = get("highway")?.trim().to_lowercase();
    if matches!(get("area").as_deref().map(str::trim), Some("yes")) && highway != "pedestrian" {
        // An area's outline is no path along it (OSRM ignores areas).
        return None;
    }
    let access = access_of(get);
    let shut = access.as_deref().is_some_and(|a| SHUT.contains(&a));
    let open = access.as_deref().is_some_and(|a| OPEN.contains(&a));
    // `foot=yes` opens a way that `access=no` shuts: the hierarchy is foot first.
    if shut {
        return None;
    }
    if !WALKABLE.contains(&highway.as_str()) && !open {
        return None;
    }
    if matches!(
        get("impassable").as_deref().map(str::trim),
        Some("yes" | "true")
    ) {
        return None;
    }
    let steps = highway == "steps";
    let wheelchair_no = get("wheelchair").is_some_and(|w| w.trim().eq_ignore_ascii_case("no"));
    Some(WayUse {
        not_step_free: steps || wheelchair_no,
        steps,
    })
}

/// How a node with these tags is passed (a node without a barrier passes freely).
pub fn node_use(get: &dyn Fn(&str) -> Option<String>) -> NodeUse {
    let access = access_of(get);
    if access.as_deref().is_some_and(|a| SHUT.contains(&a)) {
        return NodeUse {
            blocked: true,
            not_step_free: true,
        };
    }
    let open = access.as_deref().is_some_and(|a| OPEN.contains(&a));
    let barrier = get("barrier").map(|b| b.trim().to_lowercase());
    let blocked = barrier
        .as_deref()
        .is_some_and(|b| !open && !PASSABLE_BARRIERS.contains(&b));
    let kerb_raised = get("kerb").is_some_and(|k| k.trim().eq_ignore_ascii_case("raised"))
        || (barrier.as_deref() == Some("kerb") && get("kerb").is_none());
    let wheelchair_no = get("wheelchair").is_some_and(|w| w.trim().eq_ignore_ascii_case("no"));
    let not_step_free = blocked
        || wheelchair_no
        || kerb_raised
        || barrier
            .as_deref()
            .is_some_and(|b| NOT_STEP_FREE_BARRIERS.contains(&b));
    NodeUse {
        blocked,
        not_step_free,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags<'a>(t: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| t.iter().find(|(a, _)| *a == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn ways_follow_the_foot_profile() {
        let w = |t: &[(&str, &str)]| way_use(&tags(t));
        assert!(w(&[("highway", "residential")]).is_some());
        assert!(w(&[("highway", "footway"), ("access", "private")]).is_none());
        assert!(w(&[("highway", "footway"), ("foot", "no")]).is_none());
        // foot decides before access
        assert!(w(&[("highway", "service"), ("access", "no"), ("foot", "yes")]).is_some());
        assert!(
            w(&[
                ("highway", "service"),
                ("access", "yes"),
                ("foot", "private")
            ])
            .is_none()
        );
        // not walkable by default, opened for feet
        assert!(w(&[("highway", "motorway")]).is_none());
        assert!(w(&[("highway", "cycleway")]).is_none());
        assert!(w(&[("highway", "cycleway"), ("foot", "designated")]).is_some());
        assert!(w(&[("building", "yes")]).is_none());
        let steps = w(&[("highway", "steps")]).unwrap();
        assert!(steps.steps && steps.not_step_free);
        assert!(
            w(&[("highway", "footway"), ("wheelchair", "no")])
                .unwrap()
                .not_step_free
        );
        assert!(!w(&[("highway", "footway")]).unwrap().not_step_free);
    }

    #[test]
    fn barriers_block_or_let_through() {
        let n = |t: &[(&str, &str)]| node_use(&tags(t));
        assert_eq!(n(&[]), NodeUse::default());
        assert!(!n(&[("barrier", "gate")]).blocked);
        assert!(n(&[("barrier", "gate"), ("access", "private")]).blocked);
        assert!(n(&[("barrier", "wall")]).blocked);
        assert!(!n(&[("barrier", "wall"), ("foot", "yes")]).blocked);
        let stile = n(&[("barrier", "stile")]);
        assert!(!stile.blocked && stile.not_step_free);
        assert!(n(&[("barrier", "kerb"), ("kerb", "raised")]).not_step_free);
        assert!(!n(&[("barrier", "kerb"), ("kerb", "lowered")]).not_step_free);
        assert!(!n(&[("barrier", "bollard")]).not_step_free);
    }
}
