//! The PostGIS store's schema: versioned migrations applied on open, a table per layer, and
//! the `citytwin_numbers` view.

use super::{PgStore, WRITE_LOCK, pg_error};
use crate::model::{GeometryKind, LayerDef, Layers, ObjectId};
use crate::store::StoreError;

/// The schema's versions, oldest first: each applied once, in order, in the transaction that
/// opens the store, and recorded in `citytwin_migrations`. A store of a newer citytwin (a
/// version not listed here) is refused rather than written in a shape this one does not know.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "citytwin's tables: settings, serials, retired numbers, history, photos, tokens",
    "
CREATE TABLE citytwin_settings (
  key text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE citytwin_serials (
  block integer PRIMARY KEY,
  given bytea NOT NULL
);
CREATE TABLE citytwin_retired_numbers (
  serial integer PRIMARY KEY,
  layer text NOT NULL,
  object_id bigint NOT NULL,
  assigned text NOT NULL,
  retired text NOT NULL
);
CREATE TABLE citytwin_history (
  seq bigint PRIMARY KEY,
  at text NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  layer text,
  object_id bigint,
  number text,
  old text,
  new text,
  prev_hash text,
  hash text
);
CREATE INDEX citytwin_history_object ON citytwin_history (object_id);
CREATE INDEX citytwin_history_number ON citytwin_history (number);
CREATE INDEX citytwin_history_action ON citytwin_history (action, seq);
CREATE TABLE citytwin_photos (
  key text PRIMARY KEY,
  mime text NOT NULL,
  bytes bytea NOT NULL
);
CREATE TABLE citytwin_tokens (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL,
  hash text NOT NULL,
  created text NOT NULL,
  expires text,
  revoked text
);
",
)];

/// The columns of a layer's table that hold an object, in the order the store reads and
/// writes them.
pub(super) const COLUMNS: &str = "fid, geom, serial, number, check_digit, status, status_changed, \
     attributes, source_file, source_id, created, updated, number_assigned";

/// The PostGIS geometry type of a layer's table.
fn geometry_type(kind: GeometryKind) -> &'static str {
    match kind {
        GeometryKind::Point => "Point",
        GeometryKind::Line => "LineString",
        GeometryKind::Polygon => "MultiPolygon",
    }
}

/// A layer's table and its GiST index, if absent.
fn layer_table(def: &LayerDef) -> String {
    // Layer names are [a-z0-9_] (`Layers::new`), so quoting is enough.
    format!(
        "CREATE TABLE IF NOT EXISTS \"{n}\" (
           fid bigint PRIMARY KEY,
           geom geometry({g}, 4326) NOT NULL,
           serial integer,
           number text,
           check_digit boolean NOT NULL DEFAULT false,
           status text NOT NULL DEFAULT 'unknown',
           status_changed text, -- NULL while the status is as created
           attributes json,
           source_file text,
           source_id text,
           created text NOT NULL,
           updated text NOT NULL,
           number_assigned text -- NULL: the number was given when the object was created
         );
         {index};
         COMMENT ON TABLE \"{n}\" IS '{title}';",
        n = def.name,
        index = geom_index(&def.name),
        g = geometry_type(def.geometry),
        title = format!("{} / {}", def.title_en, def.title_uk).replace('\'', "''"),
    )
}

/// The statement that makes the GiST index of layer table `name` (its name: `{name}_geom`).
pub(super) fn geom_index(name: &str) -> String {
    format!("CREATE INDEX IF NOT EXISTS \"{name}_geom\" ON \"{name}\" USING gist (geom)")
}

/// The `citytwin_numbers` view: every number given, active ones from the layer tables and
/// retired ones from `citytwin_retired_numbers`.
fn numbers_view(layers: &Layers) -> String {
    let mut sql = String::from(
        "CREATE OR REPLACE VIEW citytwin_numbers(serial, layer, object_id, assigned, retired) AS\n",
    );
    for def in layers.defs() {
        sql += &format!(
            "SELECT serial, '{n}'::text, fid, coalesce(number_assigned, created), NULL::text \
             FROM \"{n}\" WHERE serial IS NOT NULL\nUNION ALL\n",
            n = def.name
        );
    }
    sql += "SELECT serial, layer, object_id, assigned, retired FROM citytwin_retired_numbers";
    sql
}

/// Brings the database up to date for `layers` in one transaction, under the write lock (so
/// that two instances starting at once do it one after the other); returns the store's serial
/// width (`width` for a new store) and its next free object id.
pub(super) async fn migrate(
    store: &PgStore,
    layers: &Layers,
    width: u8,
    pool: usize,
) -> Result<(u8, ObjectId), StoreError> {
    let p = store.shown.as_str();
    let e = |err| pg_error(p, err);
    let mut client = store.client().await?;
    // The pool and the feed's connection must fit below the server's limit, with room for
    // other instances and tools.
    let limits = client
        .query_one(
            "SELECT current_setting('max_connections')::int, \
             current_setting('superuser_reserved_connections')::int",
            &[],
        )
        .await
        .map_err(e)?;
    let (max, reserved): (i32, i32) = (limits.get(0), limits.get(1));
    let usable = usize::try_from(max - reserved).unwrap_or(0);
    if pool + 1 >= usable {
        return Err(StoreError::Invalid {
            path: p.to_string(),
            reason: format!(
                "postgres_pool {pool} and the connection that follows other instances' writes \
                 do not fit below the server's max_connections ({max}, {reserved} of them \
                 reserved): lower postgres_pool or raise max_connections"
            ),
        });
    }
    let tx = client.transaction().await.map_err(e)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await
        .map_err(e)?;
    let postgis = tx
        .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'postgis'", &[])
        .await
        .map_err(e)?;
    if postgis.is_none() {
        tx.batch_execute("CREATE EXTENSION IF NOT EXISTS postgis")
            .await
            .map_err(|err| StoreError::Invalid {
                path: p.to_string(),
                reason: format!(
                    "PostGIS is not in the database and cannot be added ({err}): install it \
                     (Debian: apt-get install postgresql-15-postgis-3) and run \
                     `CREATE EXTENSION postgis` as a superuser"
                ),
            })?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS citytwin_migrations (
           version integer PRIMARY KEY,
           description text NOT NULL,
           applied text NOT NULL
         )",
    )
    .await
    .map_err(e)?;
    let have: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM citytwin_migrations",
            &[],
        )
        .await
        .map_err(e)?
        .get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if have > newest {
        return Err(StoreError::Invalid {
            path: p.to_string(),
            reason: format!(
                "the store's schema is version {have}, newer than this citytwin knows \
                 ({newest}): run the citytwin that wrote it, or a newer one"
            ),
        });
    }
    let now = crate::store::format_ms(crate::model::now_ms());
    for (version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > have) {
        tx.batch_execute(sql).await.map_err(e)?;
        tx.execute(
            "INSERT INTO citytwin_migrations(version, description, applied) VALUES ($1, $2, $3)",
            &[version, description, &now],
        )
        .await
        .map_err(e)?;
        tracing::info!(store = p, version, description, "schema migration applied");
    }
    let setting = |key: &'static str| {
        let tx = &tx;
        async move {
            tx.query_opt(
                "SELECT value FROM citytwin_settings WHERE key = $1",
                &[&key],
            )
            .await
            .map(|r| r.map(|r| r.get::<_, String>(0)))
        }
    };
    let width = match setting("serial_width").await.map_err(e)? {
        Some(w) => w.parse().map_err(|_| StoreError::Invalid {
            path: p.to_string(),
            reason: format!("setting serial_width is {w:?}, not a number"),
        })?,
        None => {
            tx.execute(
                "INSERT INTO citytwin_settings(key, value) VALUES ('serial_width', $1), \
                 ('next_id', '1')",
                &[&width.to_string()],
            )
            .await
            .map_err(e)?;
            width
        }
    };
    let next_id = setting("next_id")
        .await
        .map_err(e)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for def in layers.defs() {
        tx.batch_execute(&layer_table(def)).await.map_err(e)?;
    }
    tx.batch_execute(&numbers_view(layers)).await.map_err(e)?;
    tx.commit().await.map_err(e)?;
    Ok((width, next_id))
}
