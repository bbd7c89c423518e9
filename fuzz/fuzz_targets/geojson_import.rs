//! The GeoJSON importer on any bytes, under the mappings real files use.
#![no_main]

use std::sync::OnceLock;

use citytwin::import::{Format, Options};
use citytwin_fuzz::{import_all, options, write_input};
use libfuzzer_sys::fuzz_target;

fn all_options() -> &'static [Options] {
    static O: OnceLock<Vec<Options>> = OnceLock::new();
    O.get_or_init(|| {
        let mut strict = options(Some("poles"), "");
        strict.strict = true;
        vec![
            options(Some("poles"), ""),
            options(
                Some("poles"),
                r#"
number = "Інв. номер"
name = "  НАЗВА "
status = "Стан опори"
id = "ext_id"
skip = ["junk"]
[rename]
"Висота, м" = "height_m"
"#,
            ),
            options(
                None,
                "number = \"number\"\nstatus = \"status\"\nlayer = \"layer\"\nid = \"source_id\"\n\
                 attributes = \"attributes\"",
            ),
            options(None, "layer = \"kind\""),
            strict,
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let path = write_input("geojson", data);
    import_all(Format::Geojson, path, all_options());
});
