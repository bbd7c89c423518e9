//! Open Fibre Data Standard (OFDS) importer: a network package `{"networks": [...]}`.
//!
//! Nodes go to layer `fibre_nodes` (point from `location`), spans to layer `fibre_spans` (line
//! from `route`); both layers must exist. Source ids are `<networkId>/<id>`, and a span's
//! `start` / `end` attributes use the same form, so they match its nodes' source ids. Order is
//! deterministic: every network's nodes in file order, then every network's spans.
//!
//! OFDS status → [`Status`]: `operational` → ok, `inactive` → closed, `decommissioned` →
//! removed; `proposed`, `planned` and `underConstruction` (not in service yet, but not broken
//! either) → unknown. The OFDS word itself is kept as attribute `status`.
//!
//! In rejects, `line` is the 1-based index of the node or span in its network's array and the
//! field says which (`nodes/location`, `spans/start`, …).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value as Json;

use super::csv::{json_attr, json_text, kind_mismatch, nothing_importable, pick_crs};
use super::geojson::{declared_crs, geometry, raw_json};
use super::{ImportError, Options, Parsed, Reject};
use crate::model::{Attributes, Draft, LayerId, Layers, Source, Status, Value};

/// The layers OFDS objects go to.
pub const NODES_LAYER: &str = "fibre_nodes";
pub const SPANS_LAYER: &str = "fibre_spans";

/// Maps an OFDS status code to a [`Status`].
pub fn ofds_status(code: &str) -> Status {
    match code {
        "operational" => Status::Ok,
        "inactive" => Status::Closed,
        "decommissioned" => Status::Removed,
        _ => Status::Unknown,
    }
}

fn layer(layers: &Layers, name: &str, file: &str) -> Result<LayerId, ImportError> {
    layers.by_name(name).ok_or_else(|| {
        let known: Vec<&str> = layers.defs().iter().map(|d| d.name.as_str()).collect();
        ImportError::file(
            file,
            format!(
                "OFDS import needs the layers {NODES_LAYER} and {SPANS_LAYER}; layer {name:?} is not \
                 configured (known: {})",
                known.join(", ")
            ),
        )
    })
}

/// A list of strings (or one string) joined with ", ".
fn joined(v: Option<&Json>) -> Option<Value> {
    let s = match v? {
        Json::Array(items) => items
            .iter()
            .filter_map(json_text)
            .collect::<Vec<_>>()
            .join(", "),
        other => json_text(other)?,
    };
    (!s.is_empty()).then_some(Value::text(s))
}

/// The `name` of an organisation reference, or of each in a list, joined.
fn org_names(v: Option<&Json>) -> Option<Value> {
    let name = |o: &Json| o.get("name").and_then(json_text);
    let s = match v? {
        Json::Array(items) => items.iter().filter_map(name).collect::<Vec<_>>().join(", "),
        other => name(other)?,
    };
    (!s.is_empty()).then_some(Value::text(s))
}

/// Sets an attribute when the value is present.
fn put(attrs: &mut Attributes, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        attrs.insert(key.to_string(), v);
    }
}

struct Network<'j> {
    id: String,
    name: Option<String>,
    json: &'j Json,
}

pub fn parse(path: &Path, layers: &Layers, opts: &Options) -> Result<Parsed, ImportError> {
    let (shown, source_file, docs) = super::geojson::read_json_file(path)?;
    let nodes_layer = layer(layers, NODES_LAYER, &shown)?;
    let spans_layer = layer(layers, SPANS_LAYER, &shown)?;
    let doc = match docs.as_slice() {
        [d] => d,
        _ => {
            return Err(ImportError::file(
                &shown,
                format!(
                    "expected one JSON document (an OFDS network package), found {}",
                    docs.len()
                ),
            ));
        }
    };
    let networks = doc
        .get("networks")
        .and_then(Json::as_array)
        .ok_or_else(|| {
            ImportError::file(
                &shown,
                "not an OFDS network package: no `networks` array at the top level",
            )
        })?;

    let mut nets = Vec::new();
    for (i, n) in networks.iter().enumerate() {
        let id = n.get("id").and_then(json_text).ok_or_else(|| {
            ImportError::at(&shown, i as u64 + 1, "networks/id", "the network has no id")
        })?;
        if nets.iter().any(|o: &Network| o.id == id) {
            return Err(ImportError::at(
                &shown,
                i as u64 + 1,
                "networks/id",
                format!("network id {id:?} is used twice"),
            ));
        }
        nets.push(Network {
            name: n.get("name").and_then(json_text),
            id,
            json: n,
        });
    }

    let mut out = Parsed::default();
    let reject = |out: &mut Parsed, line: usize, field: &str, reason: String, raw: &Json| {
        out.rejects.push(Reject {
            file: source_file.to_string(),
            line: line as u64 + 1,
            field: field.to_string(),
            reason,
            raw: raw_json(raw),
        });
    };
    let common = |net: &Network, item: &Json| {
        let mut a = Attributes::new();
        put(
            &mut a,
            "name",
            item.get("name").and_then(json_text).map(Value::text),
        );
        put(
            &mut a,
            "status",
            item.get("status").and_then(json_text).map(Value::text),
        );
        put(&mut a, "network_id", Some(Value::text(net.id.clone())));
        put(&mut a, "network_name", net.name.clone().map(Value::text));
        put(
            &mut a,
            "network_providers",
            org_names(item.get("networkProviders")),
        );
        put(
            &mut a,
            "physical_infrastructure_provider",
            org_names(item.get("physicalInfrastructureProvider")),
        );
        a
    };
    let status = |item: &Json| {
        item.get("status")
            .and_then(Json::as_str)
            .map_or(Status::Unknown, ofds_status)
    };

    // Per network: node id → whether it became a draft.
    let mut imported: Vec<HashMap<String, bool>> = Vec::with_capacity(nets.len());
    let mut crss = Vec::with_capacity(nets.len());
    for net in &nets {
        let declared = declared_crs(net.json, &shown)?;
        crss.push(pick_crs(
            &shown,
            opts.crs.as_deref(),
            declared.as_deref(),
            true,
        )?);
    }

    for (net, crs) in nets.iter().zip(&crss) {
        let mut ids: HashMap<String, bool> = HashMap::new();
        let nodes = net
            .json
            .get("nodes")
            .and_then(Json::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (i, node) in nodes.iter().enumerate() {
            let Some(id) = node.get("id").and_then(json_text) else {
                reject(&mut out, i, "nodes/id", "the node has no id".into(), node);
                continue;
            };
            if ids.contains_key(&id) {
                reject(
                    &mut out,
                    i,
                    "nodes/id",
                    format!("node id {id:?} is used twice in the network"),
                    node,
                );
                continue;
            }
            ids.insert(id.clone(), false);
            let g = match geometry(node.get("location"), crs.as_ref()) {
                Ok(g) => g,
                Err((_, reason)) => {
                    let reason = if node.get("location").is_none_or(Json::is_null) {
                        "the node has no location".to_string()
                    } else {
                        reason
                    };
                    reject(&mut out, i, "nodes/location", reason, node);
                    continue;
                }
            };
            if let Some(why) = kind_mismatch(layers, nodes_layer, &g) {
                reject(&mut out, i, "nodes/location", why, node);
                continue;
            }
            let mut a = common(net, node);
            put(&mut a, "type", joined(node.get("type")));
            put(
                &mut a,
                "access_point",
                node.get("accessPoint").and_then(json_attr),
            );
            put(&mut a, "power", node.get("power").and_then(json_attr));
            ids.insert(id.clone(), true);
            out.drafts.push(Draft {
                layer: nodes_layer,
                geometry: g,
                status: status(node),
                attributes: a,
                source: Source {
                    file: source_file.clone(),
                    id: format!("{}/{id}", net.id).into(),
                },
                source_number: None,
            });
        }
        imported.push(ids);
    }

    for ((net, crs), ids) in nets.iter().zip(&crss).zip(&imported) {
        let spans = net
            .json
            .get("spans")
            .and_then(Json::as_array)
            .map_or(&[][..], Vec::as_slice);
        let mut seen: HashSet<String> = HashSet::new();
        for (i, span) in spans.iter().enumerate() {
            let Some(id) = span.get("id").and_then(json_text) else {
                reject(&mut out, i, "spans/id", "the span has no id".into(), span);
                continue;
            };
            if !seen.insert(id.clone()) {
                reject(
                    &mut out,
                    i,
                    "spans/id",
                    format!("span id {id:?} is used twice in the network"),
                    span,
                );
                continue;
            }
            let mut ends = Vec::with_capacity(2);
            let mut failed = None;
            for end in ["start", "end"] {
                match span.get(end).and_then(json_text) {
                    None => failed = Some((end, format!("the span has no {end} node"))),
                    Some(n) => match ids.get(&n) {
                        None => {
                            failed = Some((
                                end,
                                format!("{end} node {n:?} is not a node of network {:?}", net.id),
                            ))
                        }
                        Some(false) => {
                            failed = Some((end, format!("{end} node {n:?} was itself rejected")))
                        }
                        Some(true) => ends.push(format!("{}/{n}", net.id)),
                    },
                }
                if failed.is_some() {
                    break;
                }
            }
            if let Some((end, reason)) = failed {
                reject(&mut out, i, &format!("spans/{end}"), reason, span);
                continue;
            }
            let g = match geometry(span.get("route"), crs.as_ref()) {
                Ok(g) => g,
                Err((_, reason)) => {
                    let reason = if span.get("route").is_none_or(Json::is_null) {
                        "the span has no route".to_string()
                    } else {
                        reason
                    };
                    reject(&mut out, i, "spans/route", reason, span);
                    continue;
                }
            };
            if let Some(why) = kind_mismatch(layers, spans_layer, &g) {
                reject(&mut out, i, "spans/route", why, span);
                continue;
            }
            let mut a = common(net, span);
            let mut ends = ends.into_iter().map(Value::text);
            put(&mut a, "start", ends.next());
            put(&mut a, "end", ends.next());
            put(
                &mut a,
                "fibre_count",
                span.get("fibreCount").and_then(json_attr),
            );
            put(
                &mut a,
                "fibre_type",
                span.get("fibreType").and_then(json_attr),
            );
            put(&mut a, "deployment", joined(span.get("deployment")));
            put(
                &mut a,
                "dark_fibre",
                span.get("darkFibre").and_then(json_attr),
            );
            put(&mut a, "directed", span.get("directed").and_then(json_attr));
            put(
                &mut a,
                "fibre_length",
                span.get("fibreLength").and_then(json_attr),
            );
            put(&mut a, "capacity", span.get("capacity").and_then(json_attr));
            put(
                &mut a,
                "transmission_medium",
                joined(span.get("transmissionMedium")),
            );
            out.drafts.push(Draft {
                layer: spans_layer,
                geometry: g,
                status: status(span),
                attributes: a,
                source: Source {
                    file: source_file.clone(),
                    id: format!("{}/{id}", net.id).into(),
                },
                source_number: None,
            });
        }
    }
    if out.drafts.is_empty() {
        return Err(nothing_importable(&shown, "item", &out.rejects));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::Mapping;
    use crate::model::Geometry;
    use std::path::PathBuf;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
    }

    fn opts() -> Options {
        Options {
            layer: None,
            crs: None,
            mapping: Mapping::default(),
            strict: false,
        }
    }

    fn check_graph(p: &Parsed, layers: &Layers) {
        let nodes = layers.by_name(NODES_LAYER).unwrap();
        let ids: HashSet<&str> = p
            .drafts
            .iter()
            .filter(|d| d.layer == nodes)
            .map(|d| &*d.source.id)
            .collect();
        for d in p.drafts.iter().filter(|d| d.layer != nodes) {
            for end in ["start", "end"] {
                match d.attributes.get(end) {
                    Some(Value::Text(t)) => assert!(ids.contains(t.as_str()), "{t}"),
                    other => panic!("span {} has {end} = {other:?}", d.source.id),
                }
            }
        }
        // Nodes first, then spans.
        let first_span = p.drafts.iter().position(|d| d.layer != nodes).unwrap();
        assert!(p.drafts[first_span..].iter().all(|d| d.layer != nodes));
    }

    #[test]
    fn nz_backbone() {
        let layers = Layers::default_city();
        let p = parse(&data("data/fibre/nz_chorus_ofds.json"), &layers, &opts()).unwrap();
        let nodes = layers.by_name(NODES_LAYER).unwrap();
        let spans = layers.by_name(SPANS_LAYER).unwrap();
        assert_eq!(p.drafts.iter().filter(|d| d.layer == nodes).count(), 45);
        assert_eq!(p.drafts.iter().filter(|d| d.layer == spans).count(), 56);
        assert!(p.rejects.is_empty(), "{:?}", p.rejects);
        check_graph(&p, &layers);
        let auckland = &p.drafts[0];
        assert_eq!(
            &*auckland.source.id,
            "b67de754-2c1f-4d19-8276-16a8b9482d00/b9ed44fa-3b16-4978-9004-59868c0a4c36"
        );
        assert_eq!(auckland.status, Status::Ok);
        assert_eq!(
            auckland.attributes.get("name"),
            Some(&Value::Text("Auckland".into()))
        );
        assert_eq!(
            auckland.attributes.get("network_name"),
            Some(&Value::Text("Chorus National Fibre Backbone".into()))
        );
        assert_eq!(
            auckland.attributes.get("network_providers"),
            Some(&Value::Text("Chorus Limited".into()))
        );
        assert!(
            matches!(auckland.geometry, Geometry::Point([x, y]) if (x - 174.7595).abs() < 1e-3 && y < 0.0)
        );
        let span = &p.drafts[45];
        assert!(matches!(&span.geometry, Geometry::Line(l) if l.len() == 5));
        assert_eq!(
            span.attributes.get("name"),
            Some(&Value::Text("Auckland - Mount Eden".into()))
        );
    }

    #[test]
    fn reference_example() {
        let layers = Layers::default_city();
        let p = parse(
            &data("data/fibre/example_network-package.json"),
            &layers,
            &opts(),
        )
        .unwrap();
        assert_eq!(p.drafts.len(), 3);
        assert!(p.rejects.is_empty());
        check_graph(&p, &layers);
        let accra = &p.drafts[0];
        assert_eq!(
            accra.attributes.get("type"),
            Some(&Value::Text("pop".into()))
        );
        assert_eq!(
            accra.attributes.get("access_point"),
            Some(&Value::Bool(true))
        );
        assert_eq!(accra.attributes.get("power"), Some(&Value::Bool(true)));
        assert_eq!(
            accra.attributes.get("physical_infrastructure_provider"),
            Some(&Value::Text("FibreCo".into()))
        );
        let span = &p.drafts[2];
        let net = "a096d627-72e1-4f9b-b129-951b1737bff4";
        assert_eq!(&*span.source.id, format!("{net}/1"));
        assert_eq!(
            span.attributes.get("start"),
            Some(&Value::text(format!("{net}/1")))
        );
        assert_eq!(
            span.attributes.get("end"),
            Some(&Value::text(format!("{net}/2")))
        );
        assert_eq!(span.attributes.get("fibre_count"), Some(&Value::Int(24)));
        assert_eq!(
            span.attributes.get("fibre_type"),
            Some(&Value::Text("G.652".into()))
        );
        assert_eq!(
            span.attributes.get("deployment"),
            Some(&Value::Text("belowGround".into()))
        );
        assert_eq!(span.attributes.get("dark_fibre"), Some(&Value::Bool(true)));
        assert_eq!(span.attributes.get("directed"), Some(&Value::Bool(false)));
        assert_eq!(
            span.attributes.get("fibre_length"),
            Some(&Value::Int(276000))
        );
        assert_eq!(span.attributes.get("capacity"), Some(&Value::Float(4.976)));
        assert_eq!(
            span.attributes.get("transmission_medium"),
            Some(&Value::Text("fibre".into()))
        );
    }

    #[test]
    fn dangling_spans_and_bad_nodes() {
        let layers = Layers::default_city();
        let p = parse(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import/dangling.ofds.json"),
            &layers,
            &opts(),
        )
        .unwrap();
        let got: Vec<(u64, &str, &str)> = p
            .rejects
            .iter()
            .map(|r| (r.line, r.field.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(p.drafts.len(), 3, "{got:#?}");
        assert_eq!(p.drafts[0].status, Status::Unknown);
        assert_eq!(p.drafts[1].status, Status::Removed);
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(got[0] == (3, "nodes/location", got[0].2) && got[0].2.contains("no location"));
        assert!(
            got[1].0 == 2 && got[1].1 == "spans/end" && got[1].2.contains("\"zz\" is not a node")
        );
        assert!(
            got[2].0 == 3 && got[2].1 == "spans/start" && got[2].2.contains("was itself rejected")
        );
        assert!(got[3].0 == 4 && got[3].1 == "spans/route" && got[3].2.contains("no route"));
        check_graph(&p, &layers);

        let mut fewer = Layers::default_city().defs().to_vec();
        fewer.retain(|d| d.name != SPANS_LAYER);
        let e = parse(
            &data("data/fibre/example_network-package.json"),
            &Layers::new(fewer).unwrap(),
            &opts(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("fibre_spans"), "{e}");
    }
}
