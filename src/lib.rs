//! citytwin: the digital twin of a city's numbered objects.
//!
//! Data flows one way: `import` → `store` → `twin` → features → `http`.

pub mod access;
pub mod assets;
pub mod config;
pub mod districts;
pub mod events;
pub mod export;
pub mod fibre;
pub mod generate;
pub mod http;
pub mod import;
pub mod model;
pub mod mqtt;
pub mod numbering;
pub mod registry;
pub mod reports;
pub mod resolve;
pub mod seed;
pub mod shelters;
pub mod stats;
pub mod store;
pub mod tiles;
pub mod twin;
pub mod walk;
