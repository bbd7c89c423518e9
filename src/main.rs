//! The `citytwin` command: parse the command line, call the library, print.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use citytwin::config::Config;
use citytwin::import::{self, Mapping};
use citytwin::registry::Registry;
use citytwin::store::Store;
use citytwin::store::gpkg::GpkgStore;
use citytwin::store::pg::PgStore;
use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: the twin holds tens of millions of small
/// allocations made on several loader threads, where glibc's per-thread arenas grow in small
/// `mprotect` steps and keep freed memory resident. Without transparent huge pages (`no_thp`):
/// on these virtual machines zeroing fresh 2 MiB pages made a cold start of 10M objects ~40%
/// slower.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "citytwin",
    version,
    about = "Digital twin of a city's numbered objects"
)]
struct Cli {
    /// Configuration file (TOML); `CITYTWIN_*` environment variables override it.
    #[arg(long, global = true, env = "CITYTWIN_CONFIG")]
    config: Option<PathBuf>,
    /// The GeoPackage store (default data/citytwin.gpkg).
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    /// A PostGIS store instead of the file: a PostgreSQL URL (`postgresql://user@host:5432/city`).
    #[arg(long, global = true, value_name = "URL")]
    postgres: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (seeds an empty store with the demo city first).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// Seed file for an empty store; `none` to start empty.
        #[arg(long)]
        seed: Option<PathBuf>,
    },
    /// Move a whole store between a GeoPackage file and a PostGIS database, either way: every
    /// object, number given and retired, the history chain, tokens, photos and settings, as
    /// stored; the target must be empty (a new file, or a database without citytwin's data).
    Migrate {
        /// The store to read: a GeoPackage file or a `postgresql://` URL.
        #[arg(long)]
        from: String,
        /// The store to fill: a GeoPackage file or a `postgresql://` URL.
        #[arg(long)]
        to: String,
    },
    /// Import objects from files (all or nothing).
    Import {
        /// Files to import (several files of one format are one import).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Target layer (CSV, GeoJSON, GeoPackage without a layer field).
        #[arg(long)]
        layer: Option<String>,
        /// osm, csv, geojson, gpkg or ofds; guessed from the file name when absent.
        #[arg(long)]
        format: Option<String>,
        /// Source CRS, e.g. EPSG:32636; WGS84 when absent.
        #[arg(long)]
        crs: Option<String>,
        /// Mapping file (TOML) naming the number, name, status, id, lon/lat fields; `citytwin`
        /// for citytwin's own exports.
        #[arg(long)]
        mapping: Option<String>,
        /// Rejects report (CSV); default: `<store folder>/rejects/<first file>.rejects.csv`.
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Fail when any record would be rejected.
        #[arg(long)]
        strict: bool,
        /// Do not number new objects (run `citytwin number` later).
        #[arg(long)]
        no_number: bool,
    },
    /// Export a layer (geojson, csv, gpkg), or vector tiles of layers as a PMTiles archive to
    /// publish (pmtiles: the tiles the role sees, exactly as the server serves them).
    Export {
        /// The layer (geojson, csv, gpkg).
        #[arg(long)]
        layer: Option<String>,
        /// Comma list of layers (pmtiles).
        #[arg(long)]
        layers: Option<String>,
        /// geojson, csv, gpkg or pmtiles.
        #[arg(long, default_value = "geojson")]
        format: String,
        /// Output file.
        #[arg(long, short)]
        out: PathBuf,
        /// Whose view is exported: objects hidden from this role are left out (and, in
        /// pmtiles, attributes it may not see). Default: admin for files, public for pmtiles.
        #[arg(long)]
        role: Option<String>,
        /// pmtiles: the area, west,south,east,north (default: the layers' extent).
        #[arg(long)]
        bbox: Option<String>,
        /// pmtiles: lowest zoom.
        #[arg(long, default_value_t = 10)]
        min_zoom: u8,
        /// pmtiles: highest zoom.
        #[arg(long, default_value_t = 16)]
        max_zoom: u8,
        /// pmtiles: leave out the basemap (buildings, water, green, railways…), which is
        /// otherwise drawn under the layers in every tile of the area.
        #[arg(long)]
        no_basemap: bool,
    },
    /// Give numbers to objects of numbered layers that have none.
    Number,
    /// Print the layers with counts and extents (JSON).
    Layers,
    /// List objects closer than a distance whose numbers are confusable, with new numbers to
    /// suggest (nothing is changed).
    AuditNumbers {
        /// Pairs closer than this, metres.
        #[arg(long, default_value_t = 1000.0)]
        within_m: f64,
        /// json or table.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Audit a shelter list: rows with no coordinates, shelters stacked on one point,
    /// outside the city, listed twice at one address, without capacity or readable hours.
    /// With FILES, the files are read as `import` would read them (nothing is stored);
    /// without, the store's shelters are audited, with the rows their imports rejected.
    AuditShelters {
        /// Shelter files to audit before importing them.
        files: Vec<PathBuf>,
        /// Layer of the files' records (as for `import`; default shelters).
        #[arg(long, default_value = "shelters")]
        layer: String,
        /// osm, csv, geojson, gpkg; guessed from the first file's name when absent.
        #[arg(long)]
        format: Option<String>,
        /// Mapping file (TOML), as for `import`.
        #[arg(long)]
        mapping: Option<String>,
        /// json or table.
        #[arg(long, default_value = "table")]
        out_format: String,
    },
    /// Resolve a painted number as heard (misheard or half-read) to the objects it can be.
    Resolve {
        /// The number as heard, e.g. "опора 104273-5" or OP1042735.
        query: String,
        /// The caller's area as lat,lon.
        #[arg(long)]
        near: Option<String>,
        /// How far from --near the caller may be, metres.
        #[arg(long, default_value_t = 2000.0)]
        radius_m: f64,
        /// Comma list of layers to consider.
        #[arg(long)]
        layers: Option<String>,
        /// Most candidates.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// json (the /resolve answer) or table.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// How well the resolver hears this city: a seeded set of noisy queries drawn from its
    /// own objects (every kind of mistake, numbers in words, layer words in any case, the
    /// caller's area 300 m off), with top-1 and top-3 per kind (a Markdown table, or JSON).
    ResolveEval {
        /// Objects drawn; each gives one query of every kind that applies.
        #[arg(long, default_value_t = 2000)]
        objects: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How far the caller's area is from the object, metres.
        #[arg(long, default_value_t = 300.0)]
        near_m: f64,
        /// table (Markdown) or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Traces over the fibre network (JSON, as the /fibre/* routes answer): path FROM TO,
    /// isolate SPAN…, bridges, connected NODE. Nodes and spans by OFDS id, number or lon,lat.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// API tokens: create (printed once), list, revoke.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The tamper-evident change history.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Write a synthetic street grid and shelters (GeoJSON) for the walking benchmarks.
    GenerateWalk {
        /// About how many way pieces (block sides).
        #[arg(long)]
        edges: usize,
        /// How many shelters.
        #[arg(long, default_value_t = 3000)]
        shelters: usize,
        /// Folder for streets.geojson and shelters.geojson.
        #[arg(long, short)]
        out: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write a synthetic city fibre network (GeoJSON) for the trace benchmarks.
    GenerateFibre {
        /// About how many spans (cables).
        #[arg(long)]
        spans: usize,
        /// Folder for nodes.geojson and spans.geojson.
        #[arg(long, short)]
        out: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write a synthetic numbered city (CSV) for benchmarks.
    Generate {
        /// How many objects.
        #[arg(long)]
        objects: u64,
        /// Output CSV file.
        #[arg(long, short)]
        out: PathBuf,
        /// Serial width (digits); 6 holds up to ~1M numbers, use 7 for 10M.
        #[arg(long)]
        width: Option<u8>,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum TraceCommand {
    /// The shortest path by cable length between two nodes.
    Path { from: String, to: String },
    /// What a cut of the spans leaves without a way to the core.
    Isolate {
        /// Spans (OFDS ids, numbers, or lon,lat for the nearest span).
        #[arg(required = true)]
        spans: Vec<String>,
    },
    /// Bridges, articulation nodes, each node's redundancy, and the data's topology problems.
    Bridges,
    /// Everything reachable from a node.
    Connected { node: String },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token for a role and print it (only this once: the store keeps its hash).
    Create {
        /// resident, dispatcher, engineer or admin.
        #[arg(long)]
        role: String,
        /// Who or what holds it, e.g. dispatch-console-3.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. 90d, 12h, 30m; no expiry when absent.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        /// json or table.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Revoke a token by its id; it stops working within seconds, also on a running server.
    Revoke {
        /// The token's id (the number after `ct_`, as `token list` shows).
        id: i64,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of the change history: names every edited, deleted or reordered
    /// entry; exits 1 when it finds any.
    Verify {
        /// json or table.
        #[arg(long, default_value = "table")]
        format: String,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CITYTWIN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(s) = cli.store {
        config.store.file = s;
    }
    if let Some(url) = cli.postgres {
        config.store.postgres = Some(url);
    }
    match cli.command {
        Command::Serve { bind, seed } => {
            if let Some(b) = bind {
                config.bind = b;
            }
            if let Some(s) = seed {
                config.seed = if s.as_os_str() == "none" {
                    PathBuf::new()
                } else {
                    s
                };
            }
            serve(config)
        }
        Command::Import {
            files,
            layer,
            format,
            crs,
            mapping,
            rejects,
            strict,
            no_number,
        } => {
            let registry = open(&config)?;
            let layers = registry.twin().layers().clone();
            let format = match format {
                Some(f) => import::Format::parse(&f).with_context(|| {
                    format!("unknown format {f:?}; use osm, csv, geojson, gpkg or ofds")
                })?,
                None => guess_format(&files[0])?,
            };
            let layer = match layer {
                Some(name) => Some(layers.by_name(&name).with_context(|| {
                    let known: Vec<&str> = layers.defs().iter().map(|d| d.name.as_str()).collect();
                    format!("unknown layer {name:?}; known: {}", known.join(", "))
                })?),
                None => None,
            };
            let mapping = match mapping.as_deref() {
                None => Mapping::default(),
                // citytwin's GeoPackages are recognised by their columns, no mapping needed.
                Some("citytwin") if format == import::Format::Gpkg => Mapping::default(),
                Some("citytwin") => Mapping::citytwin(),
                Some(p) => Mapping::from_file(Path::new(p)).map_err(anyhow::Error::msg)?,
            };
            let opts = import::Options {
                layer,
                crs,
                mapping,
                strict,
            };
            let started = std::time::Instant::now();
            let rejects_path = rejects.unwrap_or_else(|| {
                let dir = config
                    .store
                    .file
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join("rejects");
                let name = files[0]
                    .file_name()
                    .map(|f| f.to_string_lossy().to_string())
                    .unwrap_or_default();
                dir.join(format!("{name}.rejects.csv"))
            });
            let summary = serde_json::json!({
                "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                "format": format,
            });
            // Only decides whether the store prepares for a bulk write.
            let expected = import::records_estimate(&files);
            let workers = import::workers_beside_writer();
            let progress = spinner(&format!("importing {} file(s)", files.len()));
            registry.stop_following();
            let (report, rejected) = registry.import_from(
                expected,
                |sink| import::read_files(&files, format, &layers, &opts, workers, sink),
                "cli",
                summary,
                !no_number,
            )?;
            progress.finish_and_clear();
            let read = report.created + report.updated + report.unchanged;
            if !rejected.is_empty() {
                import::write_rejects(&rejects_path, &rejected)?;
                eprintln!(
                    "{} record(s) rejected: see {}",
                    rejected.len(),
                    rejects_path.display()
                );
            }
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "imported {read} records in {secs:.2} s ({:.0} records/s)",
                read as f64 / secs.max(1e-9)
            );
            let mut out = serde_json::to_value(&report)?;
            // An import into the fibre network is checked as a network: what is wrong with
            // its topology, by id, and how many objects it serves.
            let fibre_layers = [citytwin::fibre::graph::NODES, citytwin::fibre::graph::SPANS];
            let touched_fibre = format == import::Format::Ofds
                || layer.is_some_and(|l| {
                    let name = layers.def(l).name.as_str();
                    fibre_layers.contains(&name)
                        || config.fibre.linked_layers.iter().any(|n| n == name)
                });
            if touched_fibre {
                // The import does not keep this process's twin current: read the store again.
                drop(registry);
                let registry = open(&config)?;
                let twin = registry.twin();
                let service = citytwin::fibre::FibreService::new(config.fibre.clone());
                let g = service.graph(&twin, &citytwin::access::Visible::all(twin.layers()));
                for p in &g.problems {
                    eprintln!("fibre topology: {} {}: {}", p.kind, p.object, p.detail);
                }
                let served: usize = (0..g.nodes.len() as u32).map(|v| g.linked(v).len()).sum();
                // Objects of the linked layers that no node serves (none named, none near).
                let servable: usize = config
                    .fibre
                    .linked_layers
                    .iter()
                    .filter_map(|n| twin.layers().by_name(n))
                    .map(|l| twin.count(l))
                    .sum();
                if servable > served {
                    eprintln!(
                        "fibre: {} object(s) of {} served by no node (no fibre_node, none within {} m)",
                        servable - served,
                        config.fibre.linked_layers.join(", "),
                        config.fibre.link_m
                    );
                }
                out["fibre"] = serde_json::json!({
                    "nodes": g.nodes.len(),
                    "spans": g.edges.len(),
                    "served": served,
                    "unserved": servable.saturating_sub(served),
                    "problems": g.problems,
                });
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::Export {
            layer,
            layers,
            format,
            out,
            role,
            bbox,
            min_zoom,
            max_zoom,
            no_basemap,
        } => {
            let registry = open(&config)?;
            let twin = registry.twin();
            let pmtiles = format.eq_ignore_ascii_case("pmtiles");
            let role = match role.as_deref() {
                Some(r) => citytwin::access::Role::parse(r).with_context(|| {
                    format!("--role {r:?}: use public, resident, dispatcher, engineer or admin")
                })?,
                None if pmtiles => citytwin::access::Role::Public,
                None => citytwin::access::Role::Admin,
            };
            let policy = citytwin::access::Policy::new(&config.access, twin.layers());
            let view = policy.view(role);
            if pmtiles {
                let list = layers
                    .or(layer)
                    .context("--layers: name the layers of the archive, e.g. shelters,streets")?;
                let layers = citytwin::tiles::parse_layers(&list, twin.layers())?;
                let bbox = bbox
                    .as_deref()
                    .map(|b| -> Result<[f64; 4]> {
                        let v: Vec<f64> = b
                            .split(',')
                            .map(|p| p.trim().parse::<f64>())
                            .collect::<Result<_, _>>()
                            .with_context(|| format!("--bbox {b:?}: give west,south,east,north"))?;
                        match v.as_slice() {
                            [w, s, e, n] if w < e && s < n => Ok([*w, *s, *e, *n]),
                            _ => bail!("--bbox {b:?}: give west,south,east,north with west < east, south < north"),
                        }
                    })
                    .transpose()?;
                let basemap = if no_basemap {
                    Vec::new()
                } else {
                    twin.layers()
                        .basemap()
                        .into_iter()
                        .filter(|l| view.can_read(*l) && twin.count(*l) > 0)
                        .collect()
                };
                let plan = citytwin::export::pmtiles::PmtilesPlan {
                    layers,
                    basemap,
                    bbox,
                    min_zoom,
                    max_zoom,
                };
                let report = citytwin::export::pmtiles::write_pmtiles(
                    &twin,
                    &plan,
                    &config.tiles,
                    &view,
                    &config.attribution,
                    &out,
                )?;
                eprintln!(
                    "exported {} tiles ({} bytes) of {list} as {role} sees them to {}",
                    report.tiles,
                    report.bytes,
                    out.display()
                );
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(());
            }
            let layer = layer.context("--layer: name the layer to export")?;
            let l = twin
                .layers()
                .by_name(&layer)
                .with_context(|| format!("unknown layer {layer:?}"))?;
            if !view.can_read(l) {
                bail!("layer {layer} is not readable by role {role}");
            }
            let f = citytwin::export::Format::parse(&format).with_context(|| {
                format!("unknown export format {format:?}; use geojson, csv, gpkg or pmtiles")
            })?;
            let visible = view.visible();
            let objects: Vec<_> = twin
                .ids_after(l, 0)
                .filter_map(|id| twin.get(id))
                .filter(|o| visible.shows(o))
                .collect();
            citytwin::export::write(&out, f, &objects, twin.layers(), twin.serial_width())?;
            eprintln!(
                "exported {} objects of {layer} to {}",
                objects.len(),
                out.display()
            );
            Ok(())
        }
        Command::Token { command } => token(&config, command),
        Command::Migrate { from, to } => migrate(&config, &from, &to),
        Command::Audit {
            command: AuditCommand::Verify { format },
        } => {
            let mut store = open_store(&config)?;
            let v = store.verify_history()?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&v)?),
                "table" => {
                    let head = v
                        .head
                        .as_ref()
                        .map_or_else(|| "none".to_string(), |(s, h)| format!("entry {s} {h}"));
                    println!("history: {} entries; head: {head}", v.entries);
                    for p in &v.problems {
                        println!("entry {:>8}  {:<10} {}", p.seq, p.kind, p.detail);
                    }
                    if v.ok() {
                        println!("ok: the chain is intact");
                    }
                }
                other => bail!("--format {other:?}: use json or table"),
            }
            if !v.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::AuditShelters {
            files,
            layer,
            format,
            mapping,
            out_format,
        } => {
            let a = audit_shelters(&config, &files, &layer, format, mapping)?;
            match out_format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&a)?),
                "table" => print_shelter_audit(&a),
                other => bail!("--out-format {other:?}: use json or table"),
            }
            Ok(())
        }
        Command::GenerateWalk {
            edges,
            shelters,
            out,
            seed,
        } => {
            let stats = citytwin::generate::walking_city(&out, edges, shelters, seed)?;
            println!("{}", serde_json::to_string(&stats)?);
            Ok(())
        }
        Command::GenerateFibre { spans, out, seed } => {
            let stats = citytwin::fibre::generate::write(&out, spans, seed)?;
            println!("{}", serde_json::to_string(&stats)?);
            Ok(())
        }
        Command::Layers => {
            let registry = open(&config)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&registry.twin().layer_infos(true))?
            );
            Ok(())
        }
        Command::AuditNumbers { within_m, format } => {
            if !(within_m.is_finite() && within_m > 0.0 && within_m <= 100_000.0) {
                anyhow::bail!("--within-m {within_m}: give metres in (0, 100000]");
            }
            let registry = open(&config)?;
            let pairs = registry.audit_numbers(within_m)?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&pairs)?),
                "table" => {
                    println!("{} confusable pair(s) within {within_m} m", pairs.len());
                    for p in &pairs {
                        println!(
                            "{:>8.1} m  {} ({}) ~ {} ({})  suggest {} for {}",
                            p.distance_m,
                            p.a.number,
                            p.a.layer,
                            p.b.number,
                            p.b.layer,
                            p.suggestion.as_deref().unwrap_or("-"),
                            p.b.number
                        );
                    }
                }
                other => anyhow::bail!("--format {other:?}: use json or table"),
            }
            Ok(())
        }
        Command::Resolve {
            query,
            near,
            radius_m,
            layers,
            limit,
            format,
        } => {
            let registry = open(&config)?;
            let twin = registry.twin();
            let near = match near.as_deref() {
                None => None,
                Some(s) => {
                    let (lat, lon) = s
                        .split_once(',')
                        .ok_or_else(|| anyhow::anyhow!("--near {s:?}: give lat,lon"))?;
                    Some([lon.trim().parse::<f64>()?, lat.trim().parse::<f64>()?])
                }
            };
            let layers = match layers.as_deref() {
                None => Vec::new(),
                Some(list) => citytwin::tiles::parse_layers(list, twin.layers())?,
            };
            let q = citytwin::resolve::ResolveQuery {
                q: query,
                near,
                radius_m,
                layers,
                // The command line reads the store file itself: it sees every layer.
                visible: citytwin::access::Visible::all(twin.layers()),
                limit,
                streets: Some(std::sync::Arc::new(
                    citytwin::resolve::streets::StreetCache::new(
                        config.city.renamings().map_err(anyhow::Error::msg)?,
                    ),
                )),
            };
            let r = citytwin::resolve::resolve(&twin, &q)?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&r)?),
                "table" => print!("{}", citytwin::resolve::number::table(&r)),
                other => anyhow::bail!("--format {other:?}: use json or table"),
            }
            Ok(())
        }
        Command::ResolveEval {
            objects,
            seed,
            near_m,
            format,
        } => {
            let registry = open(&config)?;
            let twin = registry.twin();
            let streets = std::sync::Arc::new(citytwin::resolve::streets::StreetCache::new(
                config.city.renamings().map_err(anyhow::Error::msg)?,
            ));
            let settings = citytwin::resolve::eval::EvalSettings {
                objects,
                seed,
                near_m,
            };
            let report = citytwin::resolve::eval::run(&twin, Some(streets), &settings);
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&report)?),
                "table" => {
                    println!(
                        "resolve-eval: {} objects drawn, seed {}, caller's area {near_m} m off",
                        report.objects, report.seed
                    );
                    print!("{}", citytwin::resolve::eval::table(&report));
                }
                other => anyhow::bail!("--format {other:?}: use table or json"),
            }
            Ok(())
        }
        Command::Trace { command } => {
            let registry = open(&config)?;
            let twin = registry.twin();
            let service = citytwin::fibre::FibreService::new(config.fibre.clone());
            // The command line reads the store file itself: it sees every layer.
            let g = service.graph(&twin, &citytwin::access::Visible::all(twin.layers()));
            let answer = match command {
                TraceCommand::Path { from, to } => {
                    serde_json::to_value(citytwin::fibre::path(&twin, &g, &from, &to)?)?
                }
                TraceCommand::Isolate { spans } => {
                    let core = service.core(&twin, &g)?;
                    serde_json::to_value(citytwin::fibre::isolate(&twin, &g, &core, &spans)?)?
                }
                TraceCommand::Bridges => {
                    let core = service.core(&twin, &g)?;
                    serde_json::to_value(citytwin::fibre::bridges(&twin, &g, &core))?
                }
                TraceCommand::Connected { node } => {
                    serde_json::to_value(citytwin::fibre::connected(&twin, &g, &node)?)?
                }
            };
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(())
        }
        Command::Number => {
            let registry = open(&config)?;
            let n = registry.number_missing("cli")?;
            println!("{n} object(s) numbered");
            Ok(())
        }
        Command::Generate {
            objects,
            out,
            width,
            seed,
        } => {
            let width = width.unwrap_or(if objects > 800_000 {
                7
            } else {
                config.serial_width
            });
            let started = std::time::Instant::now();
            let stats = citytwin::generate::write_csv(&out, objects, width, seed)?;
            eprintln!(
                "wrote {} objects to {} in {:.1} s ({} numbers confusable with a neighbour)",
                stats.objects,
                out.display(),
                started.elapsed().as_secs_f64(),
                stats.fallbacks
            );
            Ok(())
        }
    }
}

/// The shelter audit of `files` as an import would read them, or of the store's shelters.
fn audit_shelters(
    config: &Config,
    files: &[PathBuf],
    layer: &str,
    format: Option<String>,
    mapping: Option<String>,
) -> Result<citytwin::shelters::audit::ShelterAudit> {
    use citytwin::shelters::audit::{RejectedRow, audit};
    let registry = open(config)?;
    if files.is_empty() {
        let rejects = registry.recent_rejects(5000)?;
        let twin = registry.twin();
        let all = citytwin::access::Visible::all(twin.layers());
        return Ok(citytwin::shelters::audit_twin(
            &twin,
            &all,
            &rejects,
            config.city.bounds,
        )?);
    }
    let layers = registry.twin().layers().clone();
    let l = layers
        .by_name(layer)
        .with_context(|| format!("unknown layer {layer:?}"))?;
    let format = match format {
        Some(f) => import::Format::parse(&f)
            .with_context(|| format!("unknown format {f:?}; use osm, csv, geojson or gpkg"))?,
        None => guess_format(&files[0])?,
    };
    let mapping = match mapping.as_deref() {
        None => Mapping::default(),
        Some(p) => Mapping::from_file(Path::new(p)).map_err(anyhow::Error::msg)?,
    };
    let opts = import::Options {
        layer: Some(l),
        crs: None,
        mapping,
        strict: false,
    };
    let mut drafts = Vec::new();
    let mut rejects = Vec::new();
    import::read_files(
        files,
        format,
        &layers,
        &opts,
        1,
        &mut |p: import::Parsed| {
            drafts.extend(p.drafts.into_iter().filter(|d| d.layer == l));
            rejects.extend(p.rejects);
            Ok::<(), import::ImportError>(())
        },
    )?;
    let objects: Vec<citytwin::model::Object> = drafts
        .into_iter()
        .enumerate()
        .map(|(i, d)| citytwin::model::Object {
            id: i as u64 + 1,
            layer: d.layer,
            number: None,
            geometry: d.geometry,
            status: d.status,
            status_changed: 0,
            attributes: d.attributes,
            source: d.source,
            created: 0,
            updated: 0,
        })
        .collect();
    let rows: Vec<RejectedRow> = rejects
        .into_iter()
        .map(|r| RejectedRow {
            file: r.file,
            line: r.line,
            field: r.field,
            reason: r.reason,
        })
        .collect();
    Ok(audit(
        objects.iter().map(|o| (o, None)),
        &rows,
        config.city.bounds,
    ))
}

fn print_shelter_audit(a: &citytwin::shelters::audit::ShelterAudit) {
    println!("{} shelter(s) audited", a.shelters);
    println!(
        "{:>6} row(s) with no usable coordinates (not on the map)",
        a.no_coordinates.count
    );
    for r in &a.no_coordinates.items {
        println!("         {}:{} {}: {}", r.file, r.line, r.field, r.reason);
    }
    println!(
        "{:>6} row(s) rejected otherwise",
        a.rejected_otherwise.count
    );
    println!(
        "{:>6} point(s) with {} or more shelters stacked ({} shelters)",
        a.stacked.count,
        citytwin::shelters::audit::STACK,
        a.stacked_shelters
    );
    for s in &a.stacked.items {
        println!("         {} at {:.6},{:.6}", s.count, s.lat, s.lon);
    }
    match (&a.outside_city, a.city_bounds) {
        (Some(f), Some(b)) => println!(
            "{:>6} outside the city [{:.4}, {:.4}, {:.4}, {:.4}]",
            f.count, b[0], b[1], b[2], b[3]
        ),
        _ => println!("     - outside the city: no city bounds known (set [city] bounds)"),
    }
    println!(
        "{:>6} address(es) listed more than once",
        a.duplicate_addresses.count
    );
    for d in a.duplicate_addresses.items.iter().take(20) {
        println!("         {} × {}", d.count, d.address);
    }
    println!("{:>6} without capacity", a.missing_capacity.count);
    println!("{:>6} without address", a.missing_address.count);
    println!(
        "{:>6} with step-free access not stated",
        a.accessibility_unknown
    );
    println!(
        "{:>6} with opening hours that cannot be read",
        a.unreadable_hours.count
    );
}

fn guess_format(path: &Path) -> Result<import::Format> {
    let f = import::Format::from_path(path).with_context(|| {
        format!(
            "{}: cannot tell the format from the name; pass --format",
            path.display()
        )
    })?;
    // OFDS network packages are JSON with a `networks` array.
    if f == import::Format::Geojson {
        let head =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let start = String::from_utf8_lossy(&head[..head.len().min(4096)]).to_string();
        if start.contains("\"networks\"") {
            return Ok(import::Format::Ofds);
        }
    }
    Ok(f)
}

fn spinner(msg: &str) -> indicatif::ProgressBar {
    // indicatif draws nothing when stderr is not a terminal.
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// The store alone, without loading the twin (for commands that do not need it).
/// The configured store: PostGIS when `postgres` is given, else the GeoPackage file.
fn open_store(config: &Config) -> Result<Box<dyn Store>> {
    let layers = config.layers()?;
    if let Some(url) = &config.store.postgres {
        let store = PgStore::open(
            url,
            &layers,
            config.serial_width,
            config.store.postgres_pool,
        )?;
        tracing::info!(store = store.shown(), "PostGIS store");
        return Ok(Box::new(store));
    }
    let mut store = GpkgStore::open(&config.store.file, &layers, config.serial_width)?;
    store.set_bulk_cache_mib(config.bulk_cache_mib);
    Ok(Box::new(store))
}

/// Whether a store's name is a PostgreSQL URL rather than a file.
fn is_postgres(store: &str) -> bool {
    store.starts_with("postgresql://") || store.starts_with("postgres://")
}

/// Opens a store named on the command line; a file that should exist is not created.
fn open_named(config: &Config, store: &str, width: u8, exists: bool) -> Result<Box<dyn Store>> {
    let layers = config.layers()?;
    if is_postgres(store) {
        return Ok(Box::new(PgStore::open(
            store,
            &layers,
            width,
            config.store.postgres_pool,
        )?));
    }
    let path = Path::new(store);
    if exists && !path.exists() {
        bail!("{store}: no such GeoPackage file");
    }
    if !exists && path.exists() {
        bail!("{store} exists already: migrate fills a new file, so that nothing is overwritten");
    }
    Ok(Box::new(GpkgStore::open(path, &layers, width)?))
}

/// `citytwin migrate`: reads every table of one store and fills an empty one with them, then
/// reads the new store back and compares checksums of every table's content.
fn migrate(config: &Config, from: &str, to: &str) -> Result<()> {
    use sha2::{Digest, Sha256};
    let mut source = open_named(config, from, config.serial_width, true)?;
    let width = source.serial_width();
    let read =
        |store: &mut dyn Store| -> Result<(citytwin::store::Kept, Vec<citytwin::model::Object>)> {
            let mut objects = Vec::new();
            for plan in store.plan()? {
                objects.extend(store.load_layer(&plan)?.into_iter().flatten());
            }
            objects.sort_by_key(|o| o.id);
            Ok((store.kept()?, objects))
        };
    let (kept, objects) = read(&mut *source)?;
    drop(source);
    let mut target = open_named(config, to, width, false)?;
    if target.serial_width() != width {
        bail!(
            "{to} has {}-digit serials, {from} {width}-digit ones: numbers cannot move between them",
            target.serial_width()
        );
    }
    target.fill(&kept, &objects)?;
    let (kept_there, objects_there) = read(&mut *target)?;
    // One checksum per table, over its content as read back from each store.
    // The text is hashed as it is written, never held whole (10M objects would be gigabytes).
    struct Hashing(Sha256);
    impl std::fmt::Write for Hashing {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.update(s.as_bytes());
            Ok(())
        }
    }
    let sum = |v: &dyn std::fmt::Debug| {
        let mut h = Hashing(Sha256::new());
        let _ = std::fmt::Write::write_fmt(&mut h, format_args!("{v:?}"));
        hex::encode(h.0.finalize())
    };
    let tables: [(&str, String, String); 8] = [
        ("objects", sum(&objects), sum(&objects_there)),
        (
            "numbers given",
            sum(&kept.serials),
            sum(&kept_there.serials),
        ),
        (
            "numbers retired",
            sum(&kept.retired),
            sum(&kept_there.retired),
        ),
        (
            "numbers' dates",
            sum(&kept.assigned),
            sum(&kept_there.assigned),
        ),
        ("history", sum(&kept.history), sum(&kept_there.history)),
        ("tokens", sum(&kept.tokens), sum(&kept_there.tokens)),
        ("photos", sum(&kept.photos), sum(&kept_there.photos)),
        ("settings", sum(&kept.settings), sum(&kept_there.settings)),
    ];
    let counts = [
        objects.len(),
        kept.serials
            .iter()
            .map(|(_, b)| b.iter().map(|x| x.count_ones() as usize).sum::<usize>())
            .sum(),
        kept.retired.len(),
        kept.assigned.len(),
        kept.history.len(),
        kept.tokens.len(),
        kept.photos.len(),
        kept.settings.len(),
    ];
    let mut differ = Vec::new();
    for ((name, a, b), n) in tables.iter().zip(counts) {
        println!(
            "{name:<16} {n:>10}  sha256 {}  {}",
            &a[..16],
            if a == b { "equal" } else { "DIFFERENT" }
        );
        if a != b {
            differ.push(*name);
        }
    }
    if !differ.is_empty() {
        bail!(
            "the new store differs from {from} in: {}",
            differ.join(", ")
        );
    }
    let verdict = target.verify_history()?;
    if !verdict.ok() {
        bail!(
            "the history chain in {to} is broken: {:?}",
            verdict.problems
        );
    }
    eprintln!("moved {from} to {to}: every table equal, the history chain intact");
    Ok(())
}

/// Who runs a command, as the history records it.
fn cli_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

fn token(config: &Config, command: TokenCommand) -> Result<()> {
    use citytwin::access::{Role, tokens};
    let mut store = open_store(config)?;
    match command {
        TokenCommand::Create {
            role,
            name,
            expires_in,
        } => {
            let role = Role::parse(&role)
                .filter(|r| *r != Role::Public)
                .with_context(|| {
                    format!("--role {role:?}: use resident, dispatcher, engineer or admin")
                })?;
            let name = name.unwrap_or_else(|| role.as_str().to_string());
            tokens::check_name(&name)?;
            let expires = expires_in
                .as_deref()
                .map(tokens::parse_lifetime)
                .transpose()?
                .map(|ms| citytwin::model::now_ms() + ms);
            let secret = tokens::new_secret()?;
            let hash = tokens::hash_secret(&secret)?;
            let id = store.add_token(
                &tokens::NewToken {
                    name: name.clone(),
                    role,
                    hash,
                    expires,
                },
                &cli_actor(),
            )?;
            eprintln!(
                "token #{id} for {role} ({name}){}; shown only now:",
                expires.map_or(String::new(), |e| format!(
                    ", expires {}",
                    citytwin::store::format_ms(e)
                ))
            );
            println!("{}", tokens::format_token(id, &secret));
            Ok(())
        }
        TokenCommand::List { format } => {
            let list = store.tokens()?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&list)?),
                "table" => {
                    let now = citytwin::model::now_ms();
                    println!(
                        "{:>5}  {:<24} {:<10} {:<24} state",
                        "id", "name", "role", "created"
                    );
                    for t in &list {
                        let state = t.unusable(now).map_or_else(
                            || {
                                t.expires.map_or("active".to_string(), |e| {
                                    format!("active until {}", citytwin::store::format_ms(e))
                                })
                            },
                            |why| {
                                if t.revoked.is_some() {
                                    "revoked".to_string()
                                } else {
                                    why
                                }
                            },
                        );
                        println!(
                            "{:>5}  {:<24} {:<10} {:<24} {state}",
                            t.id,
                            t.name,
                            t.role.as_str(),
                            citytwin::store::format_ms(t.created)
                        );
                    }
                }
                other => bail!("--format {other:?}: use json or table"),
            }
            Ok(())
        }
        TokenCommand::Revoke { id } => match store.revoke_token(id, &cli_actor())? {
            Some(t) => {
                eprintln!("token #{} ({}, {}) is revoked", t.id, t.name, t.role);
                Ok(())
            }
            None => bail!("no token #{id}; `citytwin token list` shows them"),
        },
    }
}

fn open(config: &Config) -> Result<Registry> {
    let store = open_store(config)?;
    Ok(Registry::open(store, config.confusable_radius_m)?)
}

fn serve(config: Config) -> Result<()> {
    let started = std::time::Instant::now();
    let registry = open(&config)?;
    if !config.seed.as_os_str().is_empty() && registry.twin().is_empty() {
        if !config.seed.exists() {
            bail!(
                "seed file {} not found (use --seed none to start empty)",
                config.seed.display()
            );
        }
        tracing::info!(seed = %config.seed.display(), "empty store: seeding the demo city");
        let report = citytwin::seed::seed_if_empty(&registry, &config.seed)?;
        if let Some(r) = report {
            tracing::info!(
                created = r.created,
                numbered = r.numbered,
                rejected = r.rejected,
                "seeded"
            );
        }
    }
    let objects = registry.twin().len();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, objects, ready_in_ms = started.elapsed().as_millis() as u64, "citytwin listening");
        // Tests and scripts read this line to learn the port when binding to :0.
        println!("listening on http://{addr}");
        let registry = Arc::new(registry);
        if let Some(url) = &config.store.postgres {
            // Other instances share the store: follow their writes.
            let r = registry.clone();
            let feed = citytwin::store::pg::listen::follow(
                url,
                Arc::new(move || {
                    if let Err(err) = r.catch_up() {
                        tracing::warn!(%err, "could not follow other instances' writes");
                    }
                }),
            )?;
            let _ = registry.feed.set(feed);
        }
        let state = citytwin::http::AppState::new(registry, Arc::new(config))
            .context("reading the incidents from the store's history")?;
        citytwin::http::serve(listener, state, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
