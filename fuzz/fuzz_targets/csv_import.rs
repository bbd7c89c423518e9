//! The CSV importer on any bytes, under the mappings real files use.
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
            // The mapping the demo city imports the Kyiv shelter lists with.
            options(
                Some("shelters"),
                include_str!("../../seeds/kyiv-shelters.toml"),
            ),
            options(
                None,
                "layer = \"layer\"\nnumber = \"number\"\nname = \"name\"\nstatus = \"status\"",
            ),
            options(
                None,
                "number = \"number\"\nstatus = \"status\"\nlayer = \"layer\"\nid = \"source_id\"\n\
                 attributes = \"attributes\"\nskip = [\"id\", \"wkt\"]",
            ),
            options(
                Some("poles"),
                "number = \"Номер\"\nname = \"Назва\"\nstatus = \"Стан\"",
            ),
            strict,
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let path = write_input("csv", data);
    import_all(Format::Csv, path, all_options());
});
