//! The GeoPackage's tables: the core tables, citytwin's own, a feature table per layer, and
//! the `citytwin_numbers` view.

use rusqlite::{OptionalExtension, params};

use crate::model::{LayerDef, Layers};

/// GeoPackage `application_id` ("GPKG") and `user_version` for version 1.3.0.
pub(super) const APPLICATION_ID: i32 = 0x4750_4B47;
pub(super) const USER_VERSION: i32 = 10300;
/// citytwin's own schema version, kept in `citytwin_settings`. 2: the numbers table became the
/// serial bitmap, the retired numbers table and the `citytwin_numbers` view. 3: every layer has
/// the GeoPackage spatial index (`gpkg_rtree_index`, see [`super::rtree`]).
pub(super) const SCHEMA_VERSION: &str = "3";

/// The GeoPackage core tables and citytwin's own.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL PRIMARY KEY,
  organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL,
  description TEXT
);
INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES
 ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
 ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
 ('WGS 84 geodetic', 4326, 'EPSG', 4326,
  'GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\",EAST],AUTHORITY[\"EPSG\",\"4326\"]]',
  'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY,
  data_type TEXT NOT NULL,
  identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
  srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id)
);
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL,
  column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL,
  z TINYINT NOT NULL,
  m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id)
);
CREATE TABLE IF NOT EXISTS gpkg_extensions (
  table_name TEXT,
  column_name TEXT,
  extension_name TEXT NOT NULL,
  definition TEXT NOT NULL,
  scope TEXT NOT NULL,
  CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name)
);
CREATE TABLE IF NOT EXISTS citytwin_settings (
  key TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS citytwin_serials (
  block INTEGER NOT NULL PRIMARY KEY,
  given BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS citytwin_retired_numbers (
  serial INTEGER NOT NULL PRIMARY KEY,
  layer TEXT NOT NULL,
  object_id INTEGER NOT NULL,
  assigned DATETIME NOT NULL,
  retired DATETIME NOT NULL
);
CREATE TABLE IF NOT EXISTS citytwin_history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at DATETIME NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  layer TEXT,
  object_id INTEGER,
  number TEXT,
  old TEXT,
  new TEXT,
  prev_hash TEXT,
  hash TEXT
);
CREATE INDEX IF NOT EXISTS citytwin_history_object ON citytwin_history(object_id);
CREATE INDEX IF NOT EXISTS citytwin_history_number ON citytwin_history(number);
CREATE TABLE IF NOT EXISTS citytwin_photos (
  key TEXT NOT NULL PRIMARY KEY,
  mime TEXT NOT NULL,
  bytes BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS citytwin_history_action ON citytwin_history(action, seq);
CREATE TABLE IF NOT EXISTS citytwin_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  hash TEXT NOT NULL,
  created DATETIME NOT NULL,
  expires DATETIME,
  revoked DATETIME
);
";

/// The `citytwin_numbers` view's definition: every number given, active ones from the layer
/// tables (given when the object was created unless `number_assigned` says otherwise) and
/// retired ones from `citytwin_retired_numbers`.
fn numbers_view(layers: &Layers) -> String {
    let mut sql = String::from(
        "CREATE VIEW citytwin_numbers(serial, layer, object_id, assigned, retired) AS\n",
    );
    for def in layers.defs() {
        // Layer names are [a-z0-9_] (`Layers::new`).
        sql += &format!(
            "SELECT serial, '{n}', fid, coalesce(number_assigned, created), NULL FROM \"{n}\" \
             WHERE serial IS NOT NULL\nUNION ALL\n",
            n = def.name
        );
    }
    sql += "SELECT serial, layer, object_id, assigned, retired FROM citytwin_retired_numbers";
    sql
}

/// Makes the `citytwin_numbers` view again when the layers changed.
pub(super) fn ensure_numbers_view(
    tx: &rusqlite::Transaction<'_>,
    layers: &Layers,
) -> rusqlite::Result<()> {
    let want = numbers_view(layers);
    let have: Option<String> = tx
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'citytwin_numbers' AND type = 'view'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if have.as_deref() != Some(want.as_str()) {
        tx.execute_batch("DROP VIEW IF EXISTS citytwin_numbers")?;
        tx.execute_batch(&want)?;
    }
    Ok(())
}

pub(super) const COLUMNS: &str = "fid, geom, serial, number, status, status_changed, attributes, source_file, source_id, created, updated";

pub(super) fn create_layer_table(
    tx: &rusqlite::Transaction<'_>,
    def: &LayerDef,
) -> rusqlite::Result<()> {
    let exists: i64 = tx.query_row(
        "SELECT count(*) FROM gpkg_contents WHERE table_name = ?1",
        [&def.name],
        |r| r.get(0),
    )?;
    if exists > 0 {
        return Ok(());
    }
    // Layer names are validated as [a-z0-9_] in `Layers::new`, so quoting is enough.
    tx.execute_batch(&format!(
        "CREATE TABLE \"{name}\" (
           fid INTEGER PRIMARY KEY,
           geom {gtype} NOT NULL,
           serial INTEGER,
           number TEXT,
           check_digit BOOLEAN NOT NULL DEFAULT 0,
           status TEXT NOT NULL DEFAULT 'unknown',
           status_changed DATETIME, -- NULL while the status is as created
           attributes TEXT,
           source_file TEXT,
           source_id TEXT,
           created DATETIME NOT NULL,
           updated DATETIME NOT NULL,
           number_assigned DATETIME -- NULL: the number was given when the object was created
         );",
        name = def.name,
        gtype = def.geometry.ogc_name(),
    ))?;
    tx.execute(
        "INSERT INTO gpkg_contents(table_name, data_type, identifier, description, srs_id) \
         VALUES (?1, 'features', ?1, ?2, 4326)",
        params![def.name, format!("{} / {}", def.title_en, def.title_uk)],
    )?;
    tx.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?1, 'geom', ?2, 4326, 0, 0)",
        params![def.name, def.geometry.ogc_name()],
    )?;
    Ok(())
}
