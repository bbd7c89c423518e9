//! One configuration: defaults ← TOML file ← `CITYTWIN_*` environment ← command line.

pub mod keys;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::model::{LayerDef, Layers};

/// Everything citytwin can be told.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the server listens on.
    pub bind: SocketAddr,
    /// Where objects are kept (`store`): a GeoPackage file (`store = "city.gpkg"`), or a
    /// PostGIS database (`[store] postgres = "postgresql://…"`).
    pub store: StoreConfig,
    /// SQLite's page cache during a bulk write (an import), in MiB: an upper bound on an
    /// import's cache memory; beyond it pages go to the file before the commit.
    pub bulk_cache_mib: u32,
    /// Digits in a serial for a new store (an existing store keeps its own).
    pub serial_width: u8,
    /// No two objects closer than this get confusable numbers.
    pub confusable_radius_m: f64,
    /// Seed file run on the first start of an empty store; empty string for none.
    pub seed: PathBuf,
    /// Layers; the built-in city layers when absent.
    pub layers: Option<Vec<LayerDef>>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest `limit` on object listings.
    pub max_page: usize,
    /// Who may read and write what (`[access]`): per-layer rules for the roles public,
    /// resident, dispatcher, engineer and admin.
    pub access: crate::access::AccessConfig,
    /// Request limits (`[limits]`).
    pub limits: Limits,
    /// How tiles are cut and cached (`[tiles]`).
    pub tiles: crate::tiles::TileSettings,
    /// Where maps open (`[city]`: `center = [lon, lat]`, `zoom`); what is unset comes from
    /// the densest area of the data.
    pub city: crate::tiles::focus::CitySettings,
    /// Nearest-shelter routing (`[shelters]`).
    #[serde(default)]
    pub shelters: crate::shelters::ShelterSettings,
    /// The fibre network's traces (`[fibre]`).
    #[serde(default)]
    pub fibre: crate::fibre::FibreSettings,
    /// Residents' reports and the rules that turn them into status (`[reports]`).
    #[serde(default)]
    pub reports: crate::reports::ReportSettings,
    /// The city's IoT platform: an MQTT broker whose messages set objects' status (`[mqtt]`).
    #[serde(default)]
    pub mqtt: crate::mqtt::MqttSettings,
    /// Attribution shown on maps and in TileJSON.
    pub attribution: String,
    /// The origin clients reach this server at (`https://map.example.org`), for the absolute
    /// URLs in TileJSON and styles; when unset, taken from each request's `Host`.
    pub public_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: StoreConfig::default(),
            bulk_cache_mib: crate::store::gpkg::DEFAULT_BULK_CACHE_MIB,
            serial_width: 6,
            confusable_radius_m: 1000.0,
            seed: PathBuf::from("seeds/demo.toml"),
            layers: None,
            max_body_bytes: 1 << 20,
            max_page: 1000,
            access: crate::access::AccessConfig::default(),
            limits: Limits::default(),
            tiles: crate::tiles::TileSettings::default(),
            city: crate::tiles::focus::CitySettings::default(),
            shelters: crate::shelters::ShelterSettings::default(),
            fibre: crate::fibre::FibreSettings::default(),
            reports: crate::reports::ReportSettings::default(),
            mqtt: crate::mqtt::MqttSettings::default(),
            public_url: None,
            attribution: "© OpenStreetMap contributors (ODbL); Kyiv shelter lists as republished in kulishA/shelters-map".into(),
        }
    }
}

/// Where objects are kept. Written as a file name (`store = "city.gpkg"`, or
/// `CITYTWIN_STORE=…`), or as a table (`[store]`: `file`, `postgres`, `postgres_pool`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoreConfig {
    /// The GeoPackage file, when no `postgres` is given.
    pub file: PathBuf,
    /// A PostgreSQL database with PostGIS (`postgresql://user@host:5432/city`): several
    /// citytwin instances may share it.
    pub postgres: Option<String>,
    /// Connections to PostgreSQL each instance keeps at most: keep instances × this below the
    /// server's `max_connections`.
    pub postgres_pool: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            file: PathBuf::from("data/citytwin.gpkg"),
            postgres: None,
            postgres_pool: crate::store::pg::DEFAULT_POOL,
        }
    }
}

impl<'de> Deserialize<'de> for StoreConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            file: Option<PathBuf>,
            postgres: Option<String>,
            postgres_pool: Option<usize>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            File(PathBuf),
            Table(Table),
        }
        let none = StoreConfig::default();
        Ok(match Either::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "store: a GeoPackage file name, or a table with file, postgres and postgres_pool",
            )
        })? {
            Either::File(file) => StoreConfig { file, ..none },
            Either::Table(t) => StoreConfig {
                file: t.file.unwrap_or(none.file),
                postgres: t.postgres.filter(|u| !u.is_empty()),
                postgres_pool: t.postgres_pool.unwrap_or(none.postgres_pool),
            },
        })
    }
}

/// Limits on requests: each gives a JSON error with its own status when reached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Longest query string, in bytes (longer: 414).
    pub max_query_bytes: usize,
    /// Largest `bbox` of `/objects`, in km² (larger: 400).
    pub max_bbox_km2: f64,
    /// Longest time a request may take, in milliseconds (longer: 503).
    pub timeout_ms: u64,
    /// Requests handled at once per feature (tiles, resolver, objects, audit, map, service);
    /// more: 503 at once, so one feature's load never holds up another.
    pub concurrency: usize,
    /// Listeners of `/events` at once (each holds a connection open); more: 503.
    #[serde(default = "default_event_listeners")]
    pub event_listeners: usize,
    /// One resolver limit for every role that has none of its own in the file or the
    /// environment (the single limit of earlier versions); folded into the roles' limits when
    /// the configuration is read.
    pub resolve_per_minute: Option<u32>,
    /// One write limit for every role likewise.
    pub writes_per_minute: Option<u32>,
    /// Callers without a token (`[limits.public]`), counted per address.
    pub public: RoleLimits,
    /// Callers with a resident's token, counted per token.
    pub resident: RoleLimits,
    /// Callers with a dispatcher's token, counted per token.
    pub dispatcher: RoleLimits,
    /// Callers with an engineer's token, counted per token.
    pub engineer: RoleLimits,
    /// Callers with an admin's token, counted per token.
    pub admin: RoleLimits,
    /// Addresses of the proxies in front of citytwin (a load balancer, a tile cache): from
    /// them the caller's address is read from `X-Forwarded-For` (the last address there that
    /// is not one of these), so that the public's limits count each caller, not the proxy.
    /// Empty: the connection's address, and `X-Forwarded-For` is ignored (anyone can send it).
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

fn default_event_listeners() -> usize {
    10_000
}

/// The rate limits of one role (`[limits.<role>]`); above either: 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleLimits {
    /// `/resolve`, `/nearest` and `/locate` per client and minute.
    pub resolve_per_minute: u32,
    /// Creates, changes and deletes of objects per client and minute.
    pub writes_per_minute: u32,
}

impl Default for Limits {
    /// The public is counted per address, and one address is often many people (a mobile
    /// operator's shared address, a shelter's Wi-Fi), so it keeps the earlier 600 a minute. A
    /// resident's token is one person or household: the same. A dispatcher's token may serve
    /// a whole dispatch centre's consoles or a 103/112 call-taking system that resolves every
    /// call's spoken number: 6000 resolver requests a minute (100 a second), as for the other
    /// staff (engineers, admins). Engineers and admins write in bulk from field tablets and
    /// GIS syncs: 6000 writes a minute; a dispatcher writes little (no layer by default).
    fn default() -> Self {
        let role = |resolve_per_minute, writes_per_minute| RoleLimits {
            resolve_per_minute,
            writes_per_minute,
        };
        Limits {
            max_query_bytes: 4096,
            max_bbox_km2: 2500.0,
            timeout_ms: 30_000,
            concurrency: 256,
            event_listeners: default_event_listeners(),
            resolve_per_minute: None,
            writes_per_minute: None,
            public: role(600, 600),
            resident: role(600, 600),
            dispatcher: role(6000, 600),
            engineer: role(6000, 6000),
            admin: role(6000, 6000),
            trusted_proxies: Vec::new(),
        }
    }
}

impl Limits {
    /// The rate limits of `role`.
    pub fn of(&self, role: Role) -> RoleLimits {
        match role {
            Role::Public => self.public,
            Role::Resident => self.resident,
            Role::Dispatcher => self.dispatcher,
            Role::Engineer => self.engineer,
            Role::Admin => self.admin,
        }
    }

    fn of_mut(&mut self, role: Role) -> &mut RoleLimits {
        match role {
            Role::Public => &mut self.public,
            Role::Resident => &mut self.resident,
            Role::Dispatcher => &mut self.dispatcher,
            Role::Engineer => &mut self.engineer,
            Role::Admin => &mut self.admin,
        }
    }

    /// Gives the one-for-every-role limits (`limits.resolve_per_minute`,
    /// `limits.writes_per_minute`) to each role that has none of its own (`given(role, key)`
    /// false: neither the file nor the environment sets it), and clears them.
    fn fold_shared(&mut self, given: impl Fn(Role, &str) -> bool) {
        let (resolve, writes) = (
            self.resolve_per_minute.take(),
            self.writes_per_minute.take(),
        );
        for role in Role::ALL {
            let l = self.of_mut(role);
            if let Some(n) = resolve
                && !given(role, "resolve_per_minute")
            {
                l.resolve_per_minute = n;
            }
            if let Some(n) = writes
                && !given(role, "writes_per_minute")
            {
                l.writes_per_minute = n;
            }
        }
    }
}

/// A configuration problem, said once at start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration file {0}: not found")]
    Missing(PathBuf),
    #[error("configuration: {0}")]
    Figment(#[from] Box<figment::Error>),
    /// Settings citytwin does not know: one line each, naming the nearest it does.
    #[error("{}", .0.join("\n"))]
    Unknown(Vec<String>),
}

impl Config {
    /// Reads defaults, then `file` (if given, it must exist), then `CITYTWIN_*` variables
    /// (e.g. `CITYTWIN_BIND=0.0.0.0:80`, `CITYTWIN_STORE=/var/lib/citytwin.gpkg`; a section's
    /// key with `__`: `CITYTWIN_LIMITS__TIMEOUT_MS=10000`). A setting it does not know, in the
    /// file or the environment, is an error naming it and the nearest one it knows.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        // What the file and the environment give, apart from the defaults.
        let mut given = Figment::new();
        let mut unknown = Vec::new();
        if let Some(f) = file {
            if !f.exists() {
                return Err(ConfigError::Missing(f.to_path_buf()));
            }
            // A file that is not TOML is left to the reader below, which says where.
            if let Ok(table) = std::fs::read_to_string(f)
                .map_err(|_| ())
                .and_then(|t| toml::from_str::<toml::Table>(&t).map_err(|_| ()))
            {
                unknown.extend(keys::unknown(
                    keys::Source::File(f),
                    &keys::file_settings(&table),
                ));
            }
            given = given.merge(Toml::file(f));
        }
        let vars = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
        unknown.extend(keys::unknown(keys::Source::Env, &keys::env_settings(vars)));
        if !unknown.is_empty() {
            return Err(ConfigError::Unknown(unknown));
        }
        let other: Vec<&str> = keys::OTHER_ENV
            .iter()
            .map(|v| &v[keys::ENV_PREFIX.len()..])
            .collect();
        given = given.merge(Env::prefixed(keys::ENV_PREFIX).ignore(&other).split("__"));
        let mut cfg: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(given.clone())
            .extract()
            .map_err(Box::new)?;
        cfg.limits
            .fold_shared(|role, key| given.find_value(&format!("limits.{role}.{key}")).is_ok());
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=256).contains(&self.store.postgres_pool) {
            return Err(ConfigError::Invalid(format!(
                "store.postgres_pool {} is outside 1..=256",
                self.store.postgres_pool
            )));
        }
        if !(1..=65_536).contains(&self.bulk_cache_mib) {
            return Err(ConfigError::Invalid(format!(
                "bulk_cache_mib {} is outside 1..=65536",
                self.bulk_cache_mib
            )));
        }
        if !(crate::numbering::MIN_WIDTH..=crate::numbering::MAX_WIDTH).contains(&self.serial_width)
        {
            return Err(ConfigError::Invalid(format!(
                "serial_width {} is outside {}..={}",
                self.serial_width,
                crate::numbering::MIN_WIDTH,
                crate::numbering::MAX_WIDTH
            )));
        }
        if !(self.confusable_radius_m.is_finite() && self.confusable_radius_m >= 0.0) {
            return Err(ConfigError::Invalid(
                "confusable_radius_m must be a finite number ≥ 0".into(),
            ));
        }
        if self.max_page == 0 {
            return Err(ConfigError::Invalid("max_page must be ≥ 1".into()));
        }
        self.tiles.validate().map_err(ConfigError::Invalid)?;
        self.city.validate().map_err(ConfigError::Invalid)?;
        self.shelters.validate().map_err(ConfigError::Invalid)?;
        let l = &self.limits;
        if l.max_query_bytes < 64
            || !(l.max_bbox_km2.is_finite() && l.max_bbox_km2 > 0.0)
            || l.timeout_ms == 0
            || l.concurrency == 0
        {
            return Err(ConfigError::Invalid(
                "limits: max_query_bytes ≥ 64; max_bbox_km2, timeout_ms and concurrency > 0".into(),
            ));
        }
        if l.resolve_per_minute == Some(0) || l.writes_per_minute == Some(0) {
            return Err(ConfigError::Invalid(
                "limits: resolve_per_minute and writes_per_minute must be > 0".into(),
            ));
        }
        for role in Role::ALL {
            let r = l.of(role);
            if r.resolve_per_minute == 0 || r.writes_per_minute == 0 {
                return Err(ConfigError::Invalid(format!(
                    "limits.{role}: resolve_per_minute and writes_per_minute must be > 0"
                )));
            }
        }
        let layers = self.layers()?;
        self.reports.check(&layers).map_err(ConfigError::Invalid)?;
        self.mqtt.check(&layers).map_err(ConfigError::Invalid)?;
        Ok(())
    }

    pub fn layers(&self) -> Result<Layers, ConfigError> {
        match &self.layers {
            None => Ok(Layers::default_city()),
            Some(defs) => {
                Layers::new(defs.clone()).map_err(|e| ConfigError::Invalid(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "bind = \"127.0.0.1:9999\"\nserial_width = 7\n").unwrap();
        let c = Config::load(Some(&f)).unwrap();
        assert_eq!(c.bind.port(), 9999);
        assert_eq!(c.serial_width, 7);
        std::fs::write(&f, "serial_width = 2\n").unwrap();
        assert!(
            Config::load(Some(&f))
                .unwrap_err()
                .to_string()
                .contains("serial_width")
        );
        std::fs::write(&f, "[city]\ncenter = [24.94, 60.17]\nzoom = 15.5\n").unwrap();
        let c = Config::load(Some(&f)).unwrap();
        assert_eq!(c.city.center, Some([24.94, 60.17]));
        assert_eq!(c.city.zoom, Some(15.5));
        std::fs::write(&f, "[city]\ncenter = [60.17, 124.94]\n").unwrap();
        let e = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("city.center"), "{e}");
        std::fs::write(&f, "nonsense = 1\n").unwrap();
        assert!(Config::load(Some(&f)).is_err());
        assert!(matches!(
            Config::load(Some(&dir.path().join("no.toml"))),
            Err(ConfigError::Missing(_))
        ));
    }

    #[test]
    fn the_store_is_a_file_name_or_a_table_naming_a_postgis_database() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "store = \"/var/lib/city.gpkg\"\n").unwrap();
        let s = Config::load(Some(&f)).unwrap().store;
        assert_eq!(s.file, PathBuf::from("/var/lib/city.gpkg"));
        assert_eq!(s.postgres, None);
        std::fs::write(
            &f,
            "[store]\npostgres = \"postgresql://ct@db:5432/city\"\npostgres_pool = 8\n",
        )
        .unwrap();
        let s = Config::load(Some(&f)).unwrap().store;
        assert_eq!(s.postgres.as_deref(), Some("postgresql://ct@db:5432/city"));
        assert_eq!(s.postgres_pool, 8);
        assert_eq!(s.file, StoreConfig::default().file);
        std::fs::write(&f, "[store]\npostgres_pool = 0\n").unwrap();
        let e = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("postgres_pool 0"), "{e}");
        std::fs::write(&f, "[store]\npostgress = \"x\"\n").unwrap();
        let e = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(
            e.contains("store.postgres"),
            "names the nearest setting: {e}"
        );
    }

    #[test]
    fn a_limit_for_every_role_gives_way_to_a_roles_own() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[limits]\nresolve_per_minute = 8\n[limits.public]\nresolve_per_minute = 5\n\
             [limits.dispatcher]\nwrites_per_minute = 3\n",
        )
        .unwrap();
        let l = Config::load(Some(&f)).unwrap().limits;
        assert_eq!((l.resolve_per_minute, l.writes_per_minute), (None, None));
        assert_eq!(l.of(Role::Public).resolve_per_minute, 5);
        assert_eq!(l.of(Role::Dispatcher).resolve_per_minute, 8);
        assert_eq!(l.of(Role::Admin).resolve_per_minute, 8);
        assert_eq!(l.of(Role::Dispatcher).writes_per_minute, 3);
        assert_eq!(
            l.of(Role::Engineer).writes_per_minute,
            Limits::default().engineer.writes_per_minute
        );
        std::fs::write(&f, "[limits.dispatcher]\nresolve_per_minute = 0\n").unwrap();
        let e = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("limits.dispatcher"), "{e}");
    }
}
