//! `GET /stats`: the city's figures. Everyone gets the aggregates of what they may see —
//! shelters on the map by status, legal type and step-free access, their total capacity (the
//! figure the city reports every year), and objects per layer with the share numbered; staff
//! get the detail: shelters by district, and objects per layer by status. Hidden objects count
//! only for the roles that see them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::access::Visible;
use crate::shelters::{LAYER, ShelterInfo};
use crate::twin::Twin;

/// One layer's figures.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LayerStats {
    pub layer: String,
    pub title_uk: String,
    pub title_en: String,
    pub count: usize,
    /// Objects that carry a painted number (numbered layers only).
    pub numbered: Option<usize>,
    /// `numbered / count`, 0–1 (numbered layers with objects only).
    pub numbered_share: Option<f64>,
}

/// Step-free access of the shelters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StepFree {
    pub yes: usize,
    pub no: usize,
    pub unknown: usize,
}

/// The shelters' figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ShelterStats {
    /// Shelters on the map (removed ones are not).
    pub total: usize,
    /// By status: `open`, `closed`, `locked_reported`, `unknown`.
    pub by_status: BTreeMap<String, usize>,
    /// By legal type: `blast_shelter`, `radiation_shelter`, `dual_use`, `simple_shelter`,
    /// `unknown`.
    pub by_legal_type: BTreeMap<String, usize>,
    pub accessible: StepFree,
    /// People the shelters with a known capacity hold.
    pub capacity_total: u64,
    /// Shelters whose capacity is known.
    pub capacity_known: usize,
}

/// One district's shelters (staff).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DistrictStats {
    pub district: String,
    pub shelters: usize,
    pub accessible: usize,
    pub open: usize,
    pub capacity_total: u64,
}

/// What staff see beyond the aggregates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Detail {
    /// Shelters by their `district` attribute (`""` when it has none).
    pub shelters_by_district: Vec<DistrictStats>,
    /// Objects per layer by status.
    pub layers_by_status: BTreeMap<String, BTreeMap<String, usize>>,
}

/// The answer of `/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub layers: Vec<LayerStats>,
    /// `null` when the city has no shelters layer or the caller may not read it.
    pub shelters: Option<ShelterStats>,
    /// Staff only.
    pub detail: Option<Detail>,
    /// The fibre network's figures, for the roles that read the fibre layers.
    pub fibre: Option<crate::fibre::FibreFigures>,
    /// Residents' reports and incidents by state, category, kind and district, and the
    /// median time to resolve: for the roles that handle incidents.
    pub incidents: Option<crate::reports::IncidentStats>,
}

/// The figures of what `visible` may see; the detail when `detail`.
pub fn stats(twin: &Twin, visible: &Visible, detail: bool) -> Stats {
    let layers = twin.layers();
    let n = layers.len();
    let mut count = vec![0usize; n];
    let mut numbered = vec![0usize; n];
    let mut status: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new(); n];
    let shelters_layer = layers.by_name(LAYER).filter(|l| visible.has_layer(*l));
    let mut sh = ShelterStats::default();
    let mut districts: BTreeMap<String, DistrictStats> = BTreeMap::new();
    for o in twin.objects() {
        if !visible.shows(o) {
            continue;
        }
        let l = o.layer as usize;
        count[l] += 1;
        numbered[l] += usize::from(o.number.is_some());
        if detail {
            *status[l].entry(o.status.as_str().to_string()).or_insert(0) += 1;
        }
        if Some(o.layer) == shelters_layer && o.status != crate::model::Status::Removed {
            let i = ShelterInfo::of(o);
            sh.total += 1;
            *sh.by_status.entry(i.status.code().into()).or_insert(0) += 1;
            *sh.by_legal_type
                .entry(i.legal_type.code().into())
                .or_insert(0) += 1;
            match i.accessible {
                Some(true) => sh.accessible.yes += 1,
                Some(false) => sh.accessible.no += 1,
                None => sh.accessible.unknown += 1,
            }
            if let Some(c) = i.capacity {
                sh.capacity_total += u64::from(c);
                sh.capacity_known += 1;
            }
            if detail {
                let name = o
                    .attributes
                    .get("district")
                    .map(|v| v.as_text().trim().trim_matches('"').trim().to_string())
                    .unwrap_or_default();
                let d = districts
                    .entry(name.clone())
                    .or_insert_with(|| DistrictStats {
                        district: name,
                        ..Default::default()
                    });
                d.shelters += 1;
                d.accessible += usize::from(i.accessible == Some(true));
                d.open += usize::from(i.status == crate::shelters::ShelterStatus::Open);
                d.capacity_total += i.capacity.map_or(0, u64::from);
            }
        }
    }
    let layer_stats = layers
        .ids()
        .filter(|l| visible.has_layer(*l))
        .map(|l| {
            let d = layers.def(l);
            let i = l as usize;
            LayerStats {
                layer: d.name.clone(),
                title_uk: d.title_uk.clone(),
                title_en: d.title_en.clone(),
                count: count[i],
                numbered: d.numbered.then_some(numbered[i]),
                numbered_share: (d.numbered && count[i] > 0)
                    .then(|| numbered[i] as f64 / count[i] as f64),
            }
        })
        .collect();
    Stats {
        fibre: None,
        incidents: None,
        layers: layer_stats,
        shelters: shelters_layer.map(|_| sh),
        detail: detail.then(|| Detail {
            shelters_by_district: districts.into_values().collect(),
            layers_by_status: layers
                .ids()
                .filter(|l| visible.has_layer(*l))
                .map(|l| (layers.def(l).name.clone(), status[l as usize].clone()))
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Layers, Status, Value};
    use crate::twin::tests::obj;

    #[test]
    fn hidden_shelters_count_only_for_those_who_see_them() {
        let layers = Layers::default_city();
        let shelters = layers.by_name("shelters").unwrap();
        let mut a = obj(1, shelters, [30.5, 50.4], 100_001);
        a.attributes.insert("capacity".into(), Value::Int(100));
        a.attributes.insert("accessible".into(), Value::Bool(true));
        a.attributes
            .insert("district".into(), Value::text("Печерський"));
        a.status = Status::Ok;
        let mut b = obj(2, shelters, [30.51, 50.41], 0);
        b.number = None;
        b.attributes.insert("capacity".into(), Value::Int(40));
        b.attributes.insert("hidden".into(), Value::Bool(true));
        let t = Twin::build(layers.clone(), 6, vec![a, b]);
        let public = Visible {
            layers: layers.ids().collect(),
            hidden: false,
        };
        let s = stats(&t, &public, false);
        let sh = s.shelters.unwrap();
        assert_eq!(
            (sh.total, sh.capacity_total, sh.accessible.yes),
            (1, 100, 1)
        );
        assert_eq!(sh.by_status.get("open"), Some(&1));
        assert!(s.detail.is_none());
        let l = s.layers.iter().find(|l| l.layer == "shelters").unwrap();
        assert_eq!(
            (l.count, l.numbered, l.numbered_share),
            (1, Some(1), Some(1.0))
        );
        let staff = stats(&t, &Visible::all(&layers), true);
        let sh = staff.shelters.unwrap();
        assert_eq!((sh.total, sh.capacity_total), (2, 140));
        let d = staff.detail.unwrap();
        assert_eq!(d.shelters_by_district.len(), 2);
        let l = staff.layers.iter().find(|l| l.layer == "shelters").unwrap();
        assert_eq!(l.numbered_share, Some(0.5));
    }
}
