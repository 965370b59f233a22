//! `sluice up`: runs a Spin application manifest (`spin.toml`) locally on
//! wasmtime, with Spin's semantics, so that what runs here runs unchanged under
//! `spin up` and SpinKube.
//!
//! It reads HTTP routes, components, `key_value_stores`, variables and
//! `[component.X.dependencies]` (composed with `wac-graph`); builds components
//! whose source is missing or stale; serves WASI 0.2 HTTP with one fresh instance
//! per request from a pre-instantiated component on the pooling allocator; and
//! provides Spin's key-value interfaces over SQLite (default, at
//! `.spin/sqlite_key_value.db`) or Redis (runtime config `type = "redis"`),
//! and outbound HTTP to the origins in `allowed_outbound_hosts`.
//!
//! The host knows nothing about firmware.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let options = sluice_host::Options::new("spin.toml".into());
//! let app = sluice_host::prepare(&options).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! app.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod admission;
pub mod builder;
pub mod compose;
pub mod engine;
pub mod outbound;
pub mod queue_delay;
pub mod server;
pub mod tls;

pub use sluice_spin_manifest::{app, routes, runtime_config};

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use sluice_host_key_value::Backend;
use tokio::net::TcpListener;

use crate::app::{App, DependencyDecl, RouteDecl};
use crate::runtime_config::{RuntimeConfig, StoreLocation};

/// Default largest request body, in bytes.
pub const DEFAULT_MAX_BODY: usize = 20 << 20;

/// How to run an application.
#[derive(Debug, Clone)]
pub struct Options {
    /// `spin.toml`.
    pub manifest: PathBuf,
    /// A Spin runtime-config file.
    pub runtime_config: Option<PathBuf>,
    /// Where local state lives (default `.spin` beside `spin.toml`).
    pub state_dir: Option<PathBuf>,
    /// Application variable overrides (beside `SPIN_VARIABLE_*`).
    pub variables: BTreeMap<String, String>,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Each device credential's request budget (`None`: no budgets); see
    /// [`admission`].
    pub device_budget: Option<admission::Budget>,
    /// Serve HTTPS with this certificate and key.
    pub tls: Option<tls::TlsFiles>,
    /// Most requests running at once (at most [`server::MAX_CONCURRENT`]); as
    /// many again may wait up to [`admission::QUEUE_WAIT`], the rest get 503.
    pub max_concurrent: usize,
    /// Build missing or stale components first.
    pub build: bool,
    /// Where compiled components are cached.
    pub cache_dir: PathBuf,
}

impl Options {
    /// Defaults for `manifest`.
    pub fn new(manifest: PathBuf) -> Options {
        Options {
            manifest,
            runtime_config: None,
            state_dir: None,
            variables: BTreeMap::new(),
            max_body_bytes: DEFAULT_MAX_BODY,
            device_budget: Some(admission::Budget::DEFAULT),
            max_concurrent: server::MAX_CONCURRENT,
            tls: None,
            build: true,
            cache_dir: engine::default_cache_dir(),
        }
    }
}

/// An application loaded and compiled, ready to serve.
pub struct Prepared {
    pub app: App,
    pub runtime: RuntimeConfig,
    shared: Arc<server::Shared>,
}

impl Prepared {
    /// The routes, as `(route, component)`.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.shared
            .router
            .routes()
            .iter()
            .map(|r| (r.raw.clone(), r.component.clone()))
            .collect()
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        server::serve(listener, self.shared, shutdown).await
    }
}

async fn open_stores(
    app: &App,
    runtime: &RuntimeConfig,
) -> Result<HashMap<String, Arc<dyn Backend>>> {
    let mut labels: Vec<&String> = app
        .manifest
        .component
        .values()
        .flat_map(|c| &c.key_value_stores)
        .collect();
    labels.sort();
    labels.dedup();
    let mut databases: HashMap<Option<PathBuf>, sluice_key_value_sqlite::Database> = HashMap::new();
    let mut stores: HashMap<String, Arc<dyn Backend>> = HashMap::new();
    for label in labels {
        let Some(location) = runtime.stores.get(label) else {
            bail!(
                "unknown key_value_stores label {label:?}: configure it in the runtime-config file"
            );
        };
        let backend: Arc<dyn Backend> = match location {
            StoreLocation::Sqlite(path) => {
                let db = match databases.get(path) {
                    Some(db) => db.clone(),
                    None => {
                        let db = sluice_key_value_sqlite::Database::open(path.as_deref())
                            .with_context(|| format!("opening key-value store {label:?}"))?;
                        databases.insert(path.clone(), db.clone());
                        db
                    }
                };
                db.store(label)
            }
            StoreLocation::Redis(url) => Arc::new(
                sluice_key_value_redis::RedisStore::connect(url)
                    .await
                    .with_context(|| format!("connecting key-value store {label:?} to {url}"))?,
            ),
        };
        stores.insert(label.clone(), backend);
    }
    Ok(stores)
}

/// Loads, builds (if asked), composes and compiles the application.
pub async fn prepare(options: &Options) -> Result<Prepared> {
    let app = App::load(&options.manifest)?;
    let runtime = RuntimeConfig::load(
        options.runtime_config.as_deref(),
        options.state_dir.as_deref(),
        &app.dir,
    )?;
    if options.build {
        let app = app.clone();
        tokio::task::spawn_blocking(move || builder::build_stale(&app)).await??;
    }
    let application_variables = sluice_host_variables::resolve_application(
        &app.manifest
            .variables
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    sluice_host_variables::Declaration {
                        default: v.default.clone(),
                        required: v.required,
                    },
                )
            })
            .collect(),
        &options.variables,
        |name| std::env::var(name).ok(),
    )?;
    let stores = open_stores(&app, &runtime).await?;

    let engine = engine::engine()?;
    let linker = engine::linker(&engine)?;
    let mut routes = Vec::new();
    let mut components = HashMap::new();
    for trigger in &app.manifest.trigger.http {
        let RouteDecl::Path(route) = &trigger.route else {
            // Private routes are reachable only by service chaining, which
            // `sluice up` does not offer.
            continue;
        };
        routes.push(routes::Route::parse(route, &trigger.component)?);
        if components.contains_key(&trigger.component) {
            continue;
        }
        let id = &trigger.component;
        let decl = &app.manifest.component[id];
        let read = |relative: &str| {
            let path = app.path(relative);
            std::fs::read(&path)
                .with_context(|| format!("component {id:?}: reading {}", path.display()))
        };
        let main = read(&decl.source)?;
        let mut dependencies = Vec::new();
        for (name, dep) in &decl.dependencies {
            let (bytes, export) = match dep {
                DependencyDecl::Path { path, export } => (read(path)?, export.clone()),
                DependencyDecl::Component { component, export } => (
                    read(&app.manifest.component[component].source)?,
                    export.clone(),
                ),
            };
            dependencies.push(compose::Dependency {
                name: name.clone(),
                bytes,
                export,
            });
        }
        let composed =
            compose::compose(&main, dependencies, decl.dependencies_inherit_configuration)
                .with_context(|| format!("component {id:?}: composing dependencies"))?;
        let cache_dir = options.cache_dir.clone();
        let engine_for_compile = engine.clone();
        let component = tokio::task::spawn_blocking(move || {
            engine::load_component(&engine_for_compile, &composed, &cache_dir)
        })
        .await?
        .with_context(|| format!("component {id:?}"))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component {id:?}: linking"))?;
        let pre = wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component {id:?} is not a wasi:http component"))?;
        let variables =
            sluice_host_variables::render_component(&decl.variables, &application_variables)
                .with_context(|| format!("component {id:?}"))?;
        let allowed_hosts = Arc::new(
            outbound::AllowedHosts::parse(&decl.allowed_outbound_hosts, |name| {
                application_variables.get(name).cloned()
            })
            .with_context(|| format!("component {id:?}"))?,
        );
        components.insert(
            id.clone(),
            server::Serving {
                pre,
                kv: sluice_host_key_value::KeyValue::new(
                    stores.clone(),
                    decl.key_value_stores.iter().cloned(),
                ),
                variables: sluice_host_variables::Variables::new(variables),
                environment: decl.environment.clone().into_iter().collect(),
                redis: sluice_host_redis::OutboundRedis::new({
                    let allowed = allowed_hosts.clone();
                    Arc::new(move |scheme: &str, host: &str, port: u16| {
                        allowed.allows(scheme, host, Some(port))
                    })
                }),
                allowed_hosts,
            },
        );
    }
    let mut shared = server::Shared::new(
        routes::Router::new(routes),
        components,
        options.max_body_bytes,
        options.max_concurrent,
        options.device_budget,
    );
    shared.tls = options.tls.as_ref().map(tls::acceptor).transpose()?;
    let shared = Arc::new(shared);
    Ok(Prepared {
        app,
        runtime,
        shared,
    })
}
