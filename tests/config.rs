//! The configuration through the real binary: a setting citytwin does not know, in the
//! environment or the file, stops it with one line naming the setting and the nearest one it
//! knows; the variables it reads outside the settings are not taken for settings.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

/// `citytwin layers` on a new store in `dir`, with `env` set.
fn layers(dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = cli_cmd(&dir.join("c.gpkg"), &["layers"]);
    // anyhow adds a backtrace to the error when these ask for one.
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run citytwin")
}

/// What citytwin said on stderr, when it failed.
fn refusal(out: &Output) -> String {
    assert!(!out.status.success(), "citytwin started: {out:?}");
    String::from_utf8_lossy(&out.stderr).trim_end().to_string()
}

#[test]
fn an_unknown_variable_is_one_line_naming_the_nearest_setting() {
    let dir = tempfile::tempdir().unwrap();
    let said = refusal(&layers(
        dir.path(),
        &[("CITYTWIN_LIMITS__RESOLVE_PER_MINUT", "5")],
    ));
    assert_eq!(
        said,
        "Error: unknown setting CITYTWIN_LIMITS__RESOLVE_PER_MINUT (environment); \
         did you mean CITYTWIN_LIMITS__RESOLVE_PER_MINUTE?"
    );
    // A section's key needs two underscores.
    let said = refusal(&layers(dir.path(), &[("CITYTWIN_SERIAL__WIDTH", "7")]));
    assert_eq!(
        said,
        "Error: unknown setting CITYTWIN_SERIAL__WIDTH (environment); \
         did you mean CITYTWIN_SERIAL_WIDTH?"
    );
    // A section left out.
    let said = refusal(&layers(dir.path(), &[("CITYTWIN_RESOLVE_PER_MINUT", "5")]));
    assert_eq!(
        said,
        "Error: unknown setting CITYTWIN_RESOLVE_PER_MINUT (environment); \
         did you mean CITYTWIN_LIMITS__RESOLVE_PER_MINUTE?"
    );
    // A setting that does not exist at all, with another that does: only it is named, and
    // nothing far from it is offered as what it meant.
    let said = refusal(&layers(
        dir.path(),
        &[
            ("CITYTWIN_ALLOW_WRITES", "1"),
            ("CITYTWIN_SERIAL_WIDTH", "7"),
        ],
    ));
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.starts_with(
            "Error: unknown setting CITYTWIN_ALLOW_WRITES (environment); \
             no setting has a name like it (the nearest is CITYTWIN_"
        ),
        "{said}"
    );
}

#[test]
fn an_unknown_key_in_the_file_is_named_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("citytwin.toml");
    std::fs::write(
        &file,
        "serial_width = 7\n[limits]\ntimeout_ms = 1000\nresolve_per_minut = 5\n[tile]\nmax_zoom = 20\n",
    )
    .unwrap();
    let said = refusal(&layers(
        dir.path(),
        &[("CITYTWIN_CONFIG", file.to_str().unwrap())],
    ));
    let f = file.display();
    assert_eq!(
        said.lines().collect::<Vec<_>>(),
        [
            format!(
                "Error: unknown setting limits.resolve_per_minut (in {f}); did you mean limits.resolve_per_minute?"
            ),
            format!("unknown setting tile.max_zoom (in {f}); did you mean tiles.max_zoom?"),
        ]
    );
}

#[test]
fn known_settings_and_the_programs_own_variables_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("citytwin.toml");
    std::fs::write(
        &file,
        "serial_width = 7\n[limits]\ntimeout_ms = 1000\n[access.layers.poles]\nread = [\"dispatcher\"]\n",
    )
    .unwrap();
    let out = layers(
        dir.path(),
        &[
            ("CITYTWIN_CONFIG", file.to_str().unwrap()),
            ("CITYTWIN_LOG", "error"),
            ("CITYTWIN_SERIAL_WIDTH", "7"),
            ("CITYTWIN_LIMITS__TIMEOUT_MS", "2000"),
            ("CITYTWIN_TILES__MAX_ZOOM", "20"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
