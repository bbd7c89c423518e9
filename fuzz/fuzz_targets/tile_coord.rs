//! The tile address parser: the first byte is the largest zoom served, the rest `z/x/y`.
#![no_main]

use citytwin::tiles::TileId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&max_zoom, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '/');
    let (z, x, y) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    match TileId::parse(z, x, y, max_zoom) {
        Ok(t) => {
            assert!(t.z <= max_zoom);
            assert!(u64::from(t.x) < 1u64 << t.z && u64::from(t.y) < 1u64 << t.z);
            assert_eq!(z.parse::<u64>().ok(), Some(u64::from(t.z)));
            assert_eq!(x.parse::<u64>().ok(), Some(u64::from(t.x)));
            assert_eq!(y.parse::<u64>().ok(), Some(u64::from(t.y)));
            assert!(t.bounds(4096, 64.0).iter().all(|v| v.is_finite()));
        }
        Err(e) => assert!(["z", "x", "y"].contains(&e.field()), "{e}"),
    }
});
