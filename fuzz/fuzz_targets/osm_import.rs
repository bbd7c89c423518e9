//! The OSM PBF importer on any bytes.
#![no_main]

use std::sync::{Once, OnceLock};

use citytwin::import::{Format, Options};
use citytwin_fuzz::{import_all, options, write_input};
use libfuzzer_sys::fuzz_target;

fn all_options() -> &'static [Options] {
    static O: OnceLock<Vec<Options>> = OnceLock::new();
    O.get_or_init(|| vec![options(None, "")])
}

/// libFuzzer's panic hook aborts on every panic, even one that is caught. The importer
/// catches the PBF decoder's overflow panics and reports the file as unreadable (see
/// `src/import/osm.rs`), so panics raised inside the decoder are let through to that; any
/// other panic still aborts.
fn let_decoder_panics_unwind() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info
                .location()
                .is_some_and(|l| l.file().contains("/osmpbf-"))
            {
                abort(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_decoder_panics_unwind();
    let path = write_input("osm.pbf", data);
    import_all(Format::Osm, path, all_options());
});
