//! The OSM PBF importer on any bytes.
#![no_main]

use std::sync::OnceLock;

use citytwin::import::{Format, Options};
use citytwin_fuzz::{import_all, options, write_input};
use libfuzzer_sys::fuzz_target;

fn all_options() -> &'static [Options] {
    static O: OnceLock<Vec<Options>> = OnceLock::new();
    O.get_or_init(|| vec![options(None, "")])
}

fuzz_target!(|data: &[u8]| {
    let path = write_input("osm.pbf", data);
    import_all(Format::Osm, path, all_options());
});
