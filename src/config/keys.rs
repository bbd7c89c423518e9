//! The names of the settings, to refuse an unknown one (a typo, or a setting that does not
//! exist) with one line naming it and the nearest valid name, before anything else reads the
//! configuration.

use super::Config;

/// The prefix of the environment variables that set settings.
pub const ENV_PREFIX: &str = "CITYTWIN_";

/// `CITYTWIN_*` variables that citytwin reads itself, outside the settings: the configuration
/// file (`CITYTWIN_CONFIG`) and the log filter (`CITYTWIN_LOG`).
pub const OTHER_ENV: [&str; 2] = ["CITYTWIN_CONFIG", "CITYTWIN_LOG"];

/// Where the settings may be written, as far as names go.
#[derive(Debug)]
enum Shape {
    /// A value (a number, a string, a list of values): nothing below it has a name.
    Value,
    /// A table with fixed keys.
    Table(Vec<(String, Shape)>),
    /// A table whose keys are names the user picks (layer names), each holding the same shape.
    Map(&'static str, Box<Shape>),
    /// A list of tables of one shape (`[[layers]]`).
    List(Box<Shape>),
}

impl Shape {
    /// The shape of a serialised value: its tables, down to the values.
    fn of(v: &serde_json::Value) -> Shape {
        match v {
            serde_json::Value::Object(m) => {
                Shape::Table(m.iter().map(|(k, v)| (k.clone(), Shape::of(v))).collect())
            }
            _ => Shape::Value,
        }
    }

    fn child_mut(&mut self, key: &str) -> Option<&mut Shape> {
        match self {
            Shape::Table(fields) => fields.iter_mut().find(|(k, _)| k == key).map(|(_, s)| s),
            _ => None,
        }
    }

    /// Whether `path` names this shape or something inside it.
    fn knows(&self, path: &[String]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return true;
        };
        match self {
            Shape::Value => false,
            Shape::Table(fields) => fields.iter().any(|(k, s)| k == first && s.knows(rest)),
            Shape::Map(_, s) => s.knows(rest),
            Shape::List(s) => first.parse::<usize>().is_ok() && s.knows(rest),
        }
    }

    /// Every valid path to a value, for suggestions. A map's key or a list's index is taken
    /// from `path` where `path` leads there, else it is a placeholder; with `lists` false, a
    /// list is one value (as the environment gives it).
    fn leaves(
        &self,
        path: &[String],
        lists: bool,
        prefix: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        let own = |prefix: &[String]| {
            path.get(prefix.len())
                .filter(|_| path.starts_with(prefix))
                .cloned()
        };
        match self {
            Shape::Value => out.push(prefix.clone()),
            Shape::Table(fields) => {
                for (k, s) in fields {
                    prefix.push(k.clone());
                    s.leaves(path, lists, prefix, out);
                    prefix.pop();
                }
            }
            Shape::Map(what, s) => {
                prefix.push(own(prefix).unwrap_or_else(|| format!("<{what}>")));
                s.leaves(path, lists, prefix, out);
                prefix.pop();
            }
            Shape::List(_) if !lists => out.push(prefix.clone()),
            Shape::List(s) => {
                let i = own(prefix).filter(|i| i.parse::<usize>().is_ok());
                prefix.push(i.unwrap_or_else(|| "0".into()));
                s.leaves(path, lists, prefix, out);
                prefix.pop();
            }
        }
    }
}

/// The shape of [`Config`], read off its defaults.
fn schema() -> Shape {
    let json = |v: serde_json::Result<serde_json::Value>| {
        Shape::of(&v.expect("the defaults serialise to JSON"))
    };
    let mut shape = json(serde_json::to_value(Config::default()));
    let rule = json(serde_json::to_value(
        &crate::access::AccessConfig::default().default,
    ));
    if let Some(access) = shape.child_mut("access")
        && let Some(layers) = access.child_mut("layers")
    {
        *layers = Shape::Map("layer", Box::new(rule));
    }
    // What residents may report is listed per layer, by name.
    if let Some(reports) = shape.child_mut("reports")
        && let Some(kinds) = reports.child_mut("kinds")
    {
        *kinds = Shape::Map("layer", Box::new(Shape::Value));
    }
    let def = json(serde_json::to_value(
        &crate::model::Layers::default_city().defs()[0],
    ));
    if let Some(layers) = shape.child_mut("layers") {
        *layers = Shape::List(Box::new(def));
    }
    shape
}

/// Where a setting was given, which is how its name is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source<'a> {
    /// A `CITYTWIN_*` environment variable: `CITYTWIN_LIMITS__TIMEOUT_MS`.
    Env,
    /// The configuration file: `limits.timeout_ms`, `layers[0].name`.
    File(&'a std::path::Path),
}

impl Source<'_> {
    fn name(self, path: &[String]) -> String {
        match self {
            Source::Env => env_name(path),
            Source::File(_) => file_name(path),
        }
    }

    fn said(self) -> String {
        match self {
            Source::Env => "environment".into(),
            Source::File(f) => format!("in {}", f.display()),
        }
    }
}

/// `CITYTWIN_LIMITS__TIMEOUT_MS` for `limits.timeout_ms`.
fn env_name(path: &[String]) -> String {
    format!("{ENV_PREFIX}{}", path.join("__").to_ascii_uppercase())
}

/// `limits.timeout_ms`, `layers[0].name`.
fn file_name(path: &[String]) -> String {
    let mut s = String::new();
    for p in path {
        if p.parse::<usize>().is_ok() {
            s.push_str(&format!("[{p}]"));
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(p);
        }
    }
    s
}

/// Every setting's environment variable, sorted (a layer's rule
/// is under `CITYTWIN_ACCESS__LAYERS__<LAYER>__…`; `layers` takes a whole list).
pub fn env_names() -> Vec<String> {
    let mut out = Vec::new();
    schema().leaves(&[], false, &mut Vec::new(), &mut out);
    out.iter().map(|p| env_name(p)).collect()
}

/// One line for each setting in `given` (paths, as the source names them) that citytwin does
/// not know, naming the nearest one it does.
pub fn unknown(source: Source<'_>, given: &[(String, Vec<String>)]) -> Vec<String> {
    let shape = schema();
    let mut lines = Vec::new();
    for (as_given, path) in given {
        if shape.knows(path) {
            continue;
        }
        let mut leaves = Vec::new();
        let lists = matches!(source, Source::File(_));
        shape.leaves(path, lists, &mut Vec::new(), &mut leaves);
        let wrote = source.name(path);
        let nearest = leaves
            .iter()
            .min_by_key(|l| strsim::damerau_levenshtein(&wrote, &source.name(l)));
        let mut line = format!("unknown setting {as_given} ({})", source.said());
        match nearest {
            Some(n) if alike(path, n, source) => {
                line.push_str(&format!("; did you mean {}?", source.name(n)));
            }
            Some(n) => line.push_str(&format!(
                "; no setting has a name like it (the nearest is {})",
                source.name(n)
            )),
            None => {}
        }
        lines.push(line);
    }
    lines
}

/// Whether the setting at `known` is likely what `path` meant: its whole name is a few edits
/// away (a typo, a missing `__`), or its last part is (a section left out).
fn alike(path: &[String], known: &[String], source: Source<'_>) -> bool {
    let near = |a: &str, b: &str| strsim::damerau_levenshtein(a, b) <= (a.len() / 4).max(1);
    near(&source.name(path), &source.name(known))
        || path
            .last()
            .zip(known.last())
            .is_some_and(|(a, b)| near(a, b))
}

/// The `CITYTWIN_*` variables of `vars` that set settings, each with its path (lower case,
/// split at `__`, as the environment provider reads it).
pub fn env_settings(vars: impl IntoIterator<Item = String>) -> Vec<(String, Vec<String>)> {
    vars.into_iter()
        .filter(|name| {
            name.get(..ENV_PREFIX.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
                && !OTHER_ENV.iter().any(|o| o.eq_ignore_ascii_case(name))
        })
        .map(|name| {
            let path = name[ENV_PREFIX.len()..]
                .to_ascii_lowercase()
                .split("__")
                .map(str::to_string)
                .collect();
            (name, path)
        })
        .collect()
}

/// Every path in a TOML file down to its values (through tables and lists of tables).
pub fn file_settings(table: &toml::Table) -> Vec<(String, Vec<String>)> {
    fn walk(v: &toml::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            toml::Value::Table(t) if !t.is_empty() => {
                for (k, v) in t {
                    path.push(k.clone());
                    walk(v, path, out);
                    path.pop();
                }
            }
            toml::Value::Array(a) if !a.is_empty() && a.iter().all(toml::Value::is_table) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(i.to_string());
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => out.push(path.clone()),
        }
    }
    let mut out = Vec::new();
    walk(
        &toml::Value::Table(table.clone()),
        &mut Vec::new(),
        &mut out,
    );
    out.into_iter().map(|p| (file_name(&p), p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(names: &[&str]) -> Vec<String> {
        unknown(
            Source::Env,
            &env_settings(names.iter().map(|s| s.to_string())),
        )
    }

    #[test]
    fn known_variables_pass_and_others_are_named_with_the_nearest() {
        assert!(
            env(&[
                "CITYTWIN_BIND",
                "CITYTWIN_SERIAL_WIDTH",
                "CITYTWIN_LIMITS__TIMEOUT_MS",
                "CITYTWIN_TILES__MAX_ZOOM",
                "CITYTWIN_ACCESS__LAYERS__POLES__READ",
                "CITYTWIN_ACCESS__DEFAULT",
                "CITYTWIN_LIMITS",
                "CITYTWIN_LOG",
                "CITYTWIN_CONFIG",
                "HOME",
            ])
            .is_empty()
        );
        assert_eq!(
            env(&["CITYTWIN_LIMITS__TIMEOUT_M"]),
            [
                "unknown setting CITYTWIN_LIMITS__TIMEOUT_M (environment); did you mean CITYTWIN_LIMITS__TIMEOUT_MS?"
            ]
        );
        // One underscore where a section needs two.
        assert_eq!(
            env(&["CITYTWIN_LIMITS_TIMEOUT_MS"]),
            [
                "unknown setting CITYTWIN_LIMITS_TIMEOUT_MS (environment); did you mean CITYTWIN_LIMITS__TIMEOUT_MS?"
            ]
        );
        assert_eq!(
            env(&["CITYTWIN_ACCESS__LAYERS__POLES__REED"]),
            [
                "unknown setting CITYTWIN_ACCESS__LAYERS__POLES__REED (environment); did you mean CITYTWIN_ACCESS__LAYERS__POLES__READ?"
            ]
        );
        assert_eq!(env(&["CITYTWIN_SERIAL_WIDTH__X", "CITYTWIN_NOPE"]).len(), 2);
    }

    #[test]
    fn file_keys_are_checked_down_to_lists_of_tables() {
        let t: toml::Table = toml::from_str(
            "bind = \"127.0.0.1:1\"\n[limits]\ntimeout_ms = 1\n[access.layers.poles]\nread = []\n\
             [[layers]]\nname = \"a\"\ngeometry = \"point\"\n[[layers]]\nname = \"b\"\ntitel_en = \"B\"\n",
        )
        .unwrap();
        let f = std::path::Path::new("c.toml");
        assert_eq!(
            unknown(Source::File(f), &file_settings(&t)),
            ["unknown setting layers[1].titel_en (in c.toml); did you mean layers[1].title_en?"]
        );
    }

    #[test]
    fn every_setting_has_a_variable() {
        let names = env_names();
        for n in [
            "CITYTWIN_BIND",
            "CITYTWIN_PUBLIC_URL",
            "CITYTWIN_LAYERS",
            "CITYTWIN_LIMITS__TIMEOUT_MS",
            "CITYTWIN_ACCESS__LAYERS__<LAYER>__READ",
            "CITYTWIN_TILES__GZIP_LEVEL",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} not in {names:?}");
        }
        assert!(!names.iter().any(|x| x.starts_with("CITYTWIN_LAYERS__")));
    }
}
