//! What the fuzz targets share: writing an input to a file, import options, and the checks an
//! import's outcome must pass (a failed check panics, which libFuzzer reports as a crash).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use citytwin::import::{self, Format, ImportError, Mapping, Options, Parsed};
use citytwin::model::Layers;

pub fn layers() -> &'static Layers {
    static L: OnceLock<Layers> = OnceLock::new();
    L.get_or_init(Layers::default_city)
}

/// Import options: a target layer (by name) and a mapping written in TOML.
pub fn options(layer: Option<&str>, mapping: &str) -> Options {
    Options {
        layer: layer.and_then(|l| layers().by_name(l)),
        crs: None,
        mapping: toml::from_str::<Mapping>(mapping).expect("a valid mapping"),
        strict: false,
    }
}

/// The file every input of this process is written to (one per process: libFuzzer may run
/// several jobs side by side).
pub fn input_path(ext: &str) -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("citytwin-fuzz-{}", std::process::id()))
            .join(format!("fuzz-input.{ext}"))
    })
}

pub fn write_input(ext: &str, data: &[u8]) -> &'static Path {
    let path = input_path(ext);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
    path
}

/// Imports the file with every option set and checks each outcome.
pub fn import_all(format: Format, path: &Path, opts: &[Options]) {
    for o in opts {
        let r = import::parse_file(path, format, layers(), o);
        check(format, path, o, &r);
    }
}

mod outcome;

/// Panics (a crash for libFuzzer) when the outcome breaks a rule of [`outcome::violation`].
pub fn check(format: Format, path: &Path, opts: &Options, r: &Result<Parsed, ImportError>) {
    if let Some(v) = outcome::violation(layers(), format, path, opts, r) {
        panic!("{v}");
    }
}
