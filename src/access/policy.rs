//! The access policy: per-layer read, attribute and write rules from the configuration, turned
//! into one [`View`] per role.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{AccessError, Role, role_list};
use crate::model::{LayerId, Layers};

/// What one layer allows. `admin` may always do everything; `public` in `read` or
/// `full_attributes` means everyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerRule {
    /// Roles that see the layer at all.
    #[serde(default)]
    pub read: Vec<Role>,
    /// Roles that see every attribute; the other readers see only `public_attributes`.
    #[serde(default)]
    pub full_attributes: Vec<Role>,
    /// Attributes shown to readers without `full_attributes` (number and status always are).
    #[serde(default)]
    pub public_attributes: Vec<String>,
    /// Roles that may create, change and delete the layer's objects.
    #[serde(default)]
    pub write: Vec<Role>,
}

/// The `[access]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// Rules by layer name.
    pub layers: BTreeMap<String, LayerRule>,
    /// The rule of a layer that has none of its own.
    pub default: LayerRule,
    /// Roles that may read `/metrics`.
    pub metrics: Vec<Role>,
    /// Roles that may read the change history (`/audit`) and the confusable-number audit.
    pub audit: Vec<Role>,
    /// Roles that see objects flagged `hidden` (a shelter not to be shown to the public);
    /// every other role gets them in no answer at all. `admin` always sees them; `public` never
    /// does (naming it here changes nothing).
    #[serde(default = "staff")]
    pub hidden: Vec<Role>,
    /// Roles that may keep a call's record (`POST /dispatch/calls`). `admin` always may.
    #[serde(default = "call_takers")]
    pub dispatch: Vec<Role>,
    /// Roles that see and move incidents (residents' reports merged per object: their
    /// texts, photos and workflow, `/incidents`, `/centre`). `admin` always may; `public`
    /// never does.
    #[serde(default = "staff")]
    pub incidents: Vec<Role>,
}

fn call_takers() -> Vec<Role> {
    vec![Role::Dispatcher, Role::Admin]
}

fn staff() -> Vec<Role> {
    vec![Role::Dispatcher, Role::Engineer, Role::Admin]
}

fn rule(read: &[Role], full: &[Role], public_attributes: &[&str], write: &[Role]) -> LayerRule {
    LayerRule {
        read: read.to_vec(),
        full_attributes: full.to_vec(),
        public_attributes: public_attributes.iter().map(|s| s.to_string()).collect(),
        write: write.to_vec(),
    }
}

impl Default for AccessConfig {
    /// The built-in city's rules: shelters, Wi-Fi, trees, addresses, streets and the basemap
    /// are public;
    /// poles and manholes are public without their internal attributes; cameras, street
    /// cabinets and the fibre network are for dispatchers, engineers and admins only.
    fn default() -> Self {
        use Role::{Admin, Dispatcher, Engineer, Public};
        let staff = [Dispatcher, Engineer, Admin];
        let keepers = [Engineer, Admin];
        let open = rule(&[Public], &[Public], &[], &keepers);
        let mut layers = BTreeMap::new();
        for name in ["shelters", "wifi", "trees"] {
            layers.insert(name.to_string(), open.clone());
        }
        // The map everyone finds their way by, the basemap among it.
        let basemap = crate::model::BASEMAP.iter().copied();
        for name in ["addresses", "streets", "barriers", "districts"]
            .into_iter()
            .chain(basemap)
        {
            layers.insert(name.to_string(), rule(&[Public], &[Public], &[], &[Admin]));
        }
        layers.insert(
            "poles".into(),
            rule(
                &[Public],
                &staff,
                &["highway", "lamp_mount", "support", "name"],
                &keepers,
            ),
        );
        layers.insert(
            "manholes".into(),
            rule(
                &[Public],
                &staff,
                &["man_made", "manhole", "name"],
                &keepers,
            ),
        );
        for name in ["cameras", "cabinets", "fibre_nodes", "fibre_spans"] {
            layers.insert(name.to_string(), rule(&staff, &staff, &[], &keepers));
        }
        AccessConfig {
            layers,
            default: rule(&staff, &staff, &[], &[Admin]),
            metrics: vec![Admin],
            audit: staff.to_vec(),
            hidden: staff.to_vec(),
            dispatch: call_takers(),
            incidents: staff.to_vec(),
        }
    }
}

/// Which attributes of a layer a view shows.
#[derive(Debug, Clone, Copy)]
pub enum AttrView<'a> {
    All,
    Only(&'a [String]),
}

impl AttrView<'_> {
    pub fn shows(&self, key: &str) -> bool {
        match self {
            AttrView::All => true,
            AttrView::Only(keys) => keys.iter().any(|k| k == key),
        }
    }
}

fn allows(roles: &[Role], role: Role) -> bool {
    role == Role::Admin || roles.contains(&role) || roles.contains(&Role::Public)
}

/// What one role may see and change. Built once per role; cheap to share.
#[derive(Debug)]
pub struct View {
    role: Role,
    read: Vec<bool>,
    full: Vec<bool>,
    write: Vec<bool>,
    public_attributes: Vec<Vec<String>>,
    /// Per layer: its name and the roles that read and write it, for error messages.
    names: Vec<(String, String, String)>,
    metrics: bool,
    audit: bool,
    audit_roles: String,
    metrics_roles: String,
    dispatch: bool,
    dispatch_roles: String,
    incidents: bool,
    incidents_roles: String,
    hidden: bool,
}

/// What a viewer may find: the layers it reads, and whether it sees hidden objects. Searches
/// (the resolver, shelters, statistics) take this and find nothing else.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Visible {
    /// Readable layers, in layer order.
    pub layers: Vec<LayerId>,
    /// Whether objects flagged `hidden` are found.
    pub hidden: bool,
}

impl Visible {
    /// Everything: every layer of `layers`, hidden objects too (for the library's own use).
    pub fn all(layers: &Layers) -> Visible {
        Visible {
            layers: layers.ids().collect(),
            hidden: true,
        }
    }

    pub fn has_layer(&self, l: LayerId) -> bool {
        self.layers.contains(&l)
    }

    /// Whether `o` is found by this viewer.
    pub fn shows(&self, o: &crate::model::Object) -> bool {
        self.has_layer(o.layer) && (self.hidden || !o.is_hidden())
    }
}

impl View {
    pub fn role(&self) -> Role {
        self.role
    }

    pub fn can_read(&self, l: LayerId) -> bool {
        self.read.get(l as usize).copied().unwrap_or(false)
    }

    /// Whether the layer named `name` exists in `layers` and this view reads it.
    pub fn can_read_name(&self, layers: &Layers, name: &str) -> bool {
        layers.by_name(name).is_some_and(|l| self.can_read(l))
    }

    pub fn can_write(&self, l: LayerId) -> bool {
        self.can_read(l) && self.write.get(l as usize).copied().unwrap_or(false)
    }

    /// The layers this view reads, in layer order.
    pub fn readable(&self) -> Vec<LayerId> {
        (0..self.read.len())
            .filter(|&i| self.read[i])
            .map(|i| i as LayerId)
            .collect()
    }

    /// Whether this view sees objects flagged `hidden`.
    pub fn sees_hidden(&self) -> bool {
        self.hidden
    }

    /// What this view may find (see [`Visible`]).
    pub fn visible(&self) -> Visible {
        Visible {
            layers: self.readable(),
            hidden: self.hidden,
        }
    }

    /// Which attributes of layer `l` this view shows.
    pub fn attrs(&self, l: LayerId) -> AttrView<'_> {
        if self.full.get(l as usize).copied().unwrap_or(false) {
            AttrView::All
        } else {
            AttrView::Only(
                self.public_attributes
                    .get(l as usize)
                    .map_or(&[][..], |v| v.as_slice()),
            )
        }
    }

    /// Bit `i` set when the view sees every attribute of `layers[i]`: what tells two renders
    /// of the same layers apart (the cache keeps one per class). Lists are at most 64 long.
    pub fn attribute_class(&self, layers: &[LayerId]) -> u64 {
        layers
            .iter()
            .take(64)
            .enumerate()
            .filter(|(_, l)| matches!(self.attrs(**l), AttrView::All))
            .fold(0, |m, (i, _)| m | (1 << i))
    }

    fn denied(&self, what: String) -> AccessError {
        if self.role == Role::Public {
            AccessError::Unauthenticated(format!("{what}: send a token (Authorization: Bearer …)"))
        } else {
            AccessError::Forbidden(format!("{what}; this token's role is {}", self.role))
        }
    }

    /// Ok when every layer of `layers` may be read; the error names the first that may not.
    pub fn check_read_all(&self, layers: &[LayerId]) -> Result<(), AccessError> {
        layers.iter().try_for_each(|&l| self.check_read(l))
    }

    /// Ok when layer `l` may be read; the error says which roles may.
    pub fn check_read(&self, l: LayerId) -> Result<(), AccessError> {
        if self.can_read(l) {
            return Ok(());
        }
        let (name, readers, _) = &self.names[l as usize];
        Err(self.denied(format!("layer {name} is only for {readers}")))
    }

    /// Ok when layer `l` may be written; the error says which roles may.
    pub fn check_write(&self, l: LayerId) -> Result<(), AccessError> {
        if self.can_write(l) {
            return Ok(());
        }
        let (name, _, writers) = &self.names[l as usize];
        Err(self.denied(format!("changes to layer {name} are only for {writers}")))
    }

    pub fn check_metrics(&self) -> Result<(), AccessError> {
        if self.metrics {
            Ok(())
        } else {
            Err(self.denied(format!("metrics are only for {}", self.metrics_roles)))
        }
    }

    pub fn check_dispatch(&self) -> Result<(), AccessError> {
        if self.dispatch {
            Ok(())
        } else {
            Err(self.denied(format!("call records are only for {}", self.dispatch_roles)))
        }
    }

    /// Whether this role sees incidents in full and moves them (`[access] incidents`).
    pub fn handles_incidents(&self) -> bool {
        self.incidents
    }

    pub fn check_incidents(&self) -> Result<(), AccessError> {
        if self.incidents {
            Ok(())
        } else {
            Err(self.denied(format!("incidents are only for {}", self.incidents_roles)))
        }
    }

    pub fn check_audit(&self) -> Result<(), AccessError> {
        if self.audit {
            Ok(())
        } else {
            Err(self.denied(format!(
                "the change history and number audit are only for {}",
                self.audit_roles
            )))
        }
    }
}

/// The policy: one [`View`] per role.
#[derive(Debug)]
pub struct Policy {
    views: Vec<Arc<View>>,
}

impl Policy {
    /// The policy of `cfg` over `layers`. Rules naming no layer of the store are ignored
    /// (the built-in rules name the built-in layers); [`unknown_layers`] lists them for a
    /// warning.
    pub fn new(cfg: &AccessConfig, layers: &Layers) -> Policy {
        let rules: Vec<&LayerRule> = layers
            .defs()
            .iter()
            .map(|d| cfg.layers.get(&d.name).unwrap_or(&cfg.default))
            .collect();
        let names: Vec<(String, String, String)> = layers
            .defs()
            .iter()
            .zip(&rules)
            .map(|(d, r)| {
                let readers = if r.read.contains(&Role::Public) {
                    "everyone".to_string()
                } else {
                    role_list(&r.read)
                };
                (d.name.clone(), readers, role_list(&r.write))
            })
            .collect();
        let views = Role::ALL
            .iter()
            .map(|&role| {
                Arc::new(View {
                    role,
                    read: rules.iter().map(|r| allows(&r.read, role)).collect(),
                    full: rules
                        .iter()
                        .map(|r| allows(&r.full_attributes, role))
                        .collect(),
                    write: rules
                        .iter()
                        .map(|r| role != Role::Public && allows(&r.write, role))
                        .collect(),
                    public_attributes: rules.iter().map(|r| r.public_attributes.clone()).collect(),
                    names: names.clone(),
                    metrics: allows(&cfg.metrics, role),
                    audit: role != Role::Public && allows(&cfg.audit, role),
                    audit_roles: role_list(&cfg.audit),
                    metrics_roles: role_list(&cfg.metrics),
                    dispatch: role == Role::Admin
                        || (role != Role::Public && cfg.dispatch.contains(&role)),
                    dispatch_roles: role_list(&cfg.dispatch),
                    incidents: role == Role::Admin
                        || (role != Role::Public && cfg.incidents.contains(&role)),
                    incidents_roles: role_list(&cfg.incidents),
                    hidden: role == Role::Admin
                        || (role != Role::Public && cfg.hidden.contains(&role)),
                })
            })
            .collect();
        Policy { views }
    }

    /// The view of `role`.
    pub fn view(&self, role: Role) -> Arc<View> {
        self.views[role.index()].clone()
    }
}

/// Names in `access.layers` that are no layer of `layers`.
pub fn unknown_layers(cfg: &AccessConfig, layers: &Layers) -> Vec<String> {
    cfg.layers
        .keys()
        .filter(|n| layers.by_name(n).is_none())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_rules_keep_critical_layers_from_the_public() {
        let layers = Layers::default_city();
        let p = Policy::new(&AccessConfig::default(), &layers);
        let id = |n: &str| layers.by_name(n).unwrap();
        let public = p.view(Role::Public);
        for n in ["cameras", "cabinets", "fibre_nodes", "fibre_spans"] {
            assert!(!public.can_read(id(n)), "{n}");
            assert!(!p.view(Role::Resident).can_read(id(n)), "{n}");
            for r in [Role::Dispatcher, Role::Engineer, Role::Admin] {
                assert!(p.view(r).can_read(id(n)), "{n} {r}");
            }
        }
        assert!(matches!(
            public.check_read(id("cameras")),
            Err(AccessError::Unauthenticated(_))
        ));
        let e = p
            .view(Role::Resident)
            .check_read(id("cameras"))
            .unwrap_err();
        assert!(matches!(e, AccessError::Forbidden(_)));
        assert!(
            e.to_string()
                .contains("layer cameras is only for dispatcher, engineer, admin"),
            "{e}"
        );
        // Poles: public, without internal attributes.
        assert!(public.can_read(id("poles")));
        assert!(public.attrs(id("poles")).shows("highway"));
        assert!(!public.attrs(id("poles")).shows("operator"));
        assert!(
            p.view(Role::Dispatcher)
                .attrs(id("poles"))
                .shows("operator")
        );
        assert_eq!(public.attribute_class(&[id("poles"), id("shelters")]), 0b10);
        assert_eq!(
            p.view(Role::Engineer)
                .attribute_class(&[id("poles"), id("shelters")]),
            0b11
        );
        // Writes: nobody without a token; residents write no layer; admins write all.
        for l in layers.ids() {
            assert!(!public.can_write(l));
            assert!(!p.view(Role::Resident).can_write(l));
            assert!(p.view(Role::Admin).can_write(l));
        }
        assert!(p.view(Role::Engineer).can_write(id("fibre_spans")));
        assert!(!p.view(Role::Dispatcher).can_write(id("poles")));
        assert!(public.check_metrics().is_err());
        assert!(p.view(Role::Engineer).check_metrics().is_err());
        assert!(p.view(Role::Admin).check_metrics().is_ok());
        assert!(public.check_audit().is_err());
        assert!(p.view(Role::Dispatcher).check_audit().is_ok());
    }

    #[test]
    fn a_layer_without_a_rule_is_for_staff_and_unknown_rules_are_named() {
        let mut defs = Layers::default_city().defs().to_vec();
        defs[0].name = "lamps".into();
        let layers = Layers::new(defs).unwrap();
        let cfg = AccessConfig::default();
        assert_eq!(unknown_layers(&cfg, &layers), vec!["poles".to_string()]);
        let p = Policy::new(&cfg, &layers);
        let lamps = layers.by_name("lamps").unwrap();
        assert!(!p.view(Role::Public).can_read(lamps));
        assert!(p.view(Role::Dispatcher).can_read(lamps));
        assert!(!p.view(Role::Engineer).can_write(lamps));
        assert!(p.view(Role::Admin).can_write(lamps));
    }
}
