//! The resolver on any query: the first byte picks the limit, the second where the caller is,
//! the rest is the number as heard.
#![no_main]

use std::sync::OnceLock;

use citytwin::model::{Geometry, GeometryKind, LayerId, Layers, Object, Source, Status, Value};
use citytwin::numbering::Number;
use citytwin::resolve::{ResolveQuery, resolve};
use citytwin::twin::Twin;
use libfuzzer_sys::fuzz_target;

fn object(id: u64, layer: LayerId, at: [f64; 2], number: Option<Number>) -> Object {
    Object {
        id,
        layer,
        number,
        geometry: Geometry::Point(at),
        status: Status::Ok,
        status_changed: 0,
        attributes: Default::default(),
        source: Source::default(),
        created: 0,
        updated: 0,
    }
}

/// Numbered objects on every numbered layer, some with source numbers only, and addresses.
fn twin() -> &'static Twin {
    static T: OnceLock<Twin> = OnceLock::new();
    T.get_or_init(|| {
        let l = Layers::default_city();
        let numbered: Vec<LayerId> = l.ids().filter(|&i| l.def(i).numbered).collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut objects = Vec::new();
        for id in 1..=300u64 {
            let layer = numbered[(next() % numbered.len() as u64) as usize];
            let at = [
                30.4 + (next() % 2000) as f64 * 1e-4,
                50.35 + (next() % 2000) as f64 * 1e-4,
            ];
            let serial = (next() % 1_000_000) as u32;
            let mut o = object(id, layer, at, Some(Number::scheme(serial, 6)));
            if l.def(layer).geometry == GeometryKind::Line {
                o.geometry = Geometry::Line(vec![at, [at[0] + 1e-3, at[1] + 1e-3]]);
            }
            objects.push(o);
        }
        let poles = l.by_name("poles").unwrap();
        for (i, s) in ["12", "ОП-17", "A 7", "№5", "Л-1/2", "1042735"]
            .iter()
            .enumerate()
        {
            let at = [30.5 + i as f64 * 1e-3, 50.45];
            objects.push(object(
                400 + i as u64,
                poles,
                at,
                Some(Number::Source((*s).into())),
            ));
        }
        let addresses = l.by_name("addresses").unwrap();
        for i in 0..50u64 {
            let at = [30.4 + i as f64 * 4e-3, 50.35 + i as f64 * 4e-3];
            let mut o = object(500 + i, addresses, at, None);
            o.attributes
                .set("addr:housenumber", Value::text(format!("{}", i + 1)));
            o.attributes.set("addr:street", Value::text("Хрещатик"));
            objects.push(o);
        }
        Twin::build(l, 6, objects)
    })
}

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let limit = usize::from(*a % 22);
    let near = match b % 4 {
        0 => None,
        1 => Some([30.5, 50.45]),
        2 => Some([f64::from(*b) - 100.0, 50.0]),
        _ => Some([f64::NAN, 50.0]),
    };
    let q = String::from_utf8_lossy(rest).into_owned();
    let rq = ResolveQuery {
        q: q.clone(),
        near,
        radius_m: 2000.0,
        layers: Vec::new(),
        visible: twin().layers().ids().collect(),
        limit,
    };
    match resolve(twin(), &rq) {
        Ok(r) => {
            assert_eq!(r.query, q);
            assert!(r.candidates.len() <= limit);
            for c in &r.candidates {
                assert!(c.confidence.is_finite() && (0.0..=1.0).contains(&c.confidence));
                assert!(!c.number.is_empty() && !c.rule.is_empty());
            }
        }
        Err(e) => {
            assert!(["q", "limit", "near"].contains(&e.field), "{e}");
            assert!(!e.reason.is_empty());
        }
    }
});
