//! The OFDS (fibre network package) importer on any bytes.
#![no_main]

use std::sync::OnceLock;

use citytwin::import::{Format, Options};
use citytwin_fuzz::{import_all, options, write_input};
use libfuzzer_sys::fuzz_target;

fn all_options() -> &'static [Options] {
    static O: OnceLock<Vec<Options>> = OnceLock::new();
    O.get_or_init(|| {
        let mut strict = options(None, "");
        strict.strict = true;
        vec![options(None, ""), strict]
    })
}

fuzz_target!(|data: &[u8]| {
    let path = write_input("ofds.json", data);
    import_all(Format::Ofds, path, all_options());
});
