//! `sluice bench`: where Sluice stands, measured side by side in one run on
//! loopback.
//!
//! It seeds a SQLite store with a fleet and an active campaign (natively,
//! through the service's own admin API), then measures with the same load
//! generator:
//! - check-in through `sluice up` (the real host, fresh instance per request);
//! - the same service logic on the same store behind a plain native hyper
//!   server: the no-Wasm baseline, whose ratio to `sluice up` is the Wasm cost;
//! - a trivial hello component through `sluice up` and through `wasmtime serve`;
//! - chunk delivery of 1 MiB and of default-size (256 KiB) chunks through
//!   `sluice up`, and the same files from nginx;
//! - check-in p50 with 1,000 and with 1,000,000 devices in the store;
//! - the bytes a device and a campaign take in the store.
//!
//! References that are not installed (`wasmtime` 48.0.8, nginx) are reported as
//! missing rather than guessed; `scripts/bench` installs both.

pub mod load;
pub mod native_server;
pub mod native_store;
pub mod process_group;
pub mod references;
pub mod seed;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use serde::Serialize;
use sluice_service::Config;

use crate::load::{Load, MakeRequest, Measured};
use crate::native_server::Shared;
use crate::native_store::NativeStore;
use sluice_sample_release::{self as sample_release, SampleRelease};

/// What to measure, and how hard.
#[derive(Clone, Debug)]
pub struct Options {
    /// The application (`spin.toml`).
    pub manifest: PathBuf,
    /// The hello application (`tests/fixtures/hello/spin.toml`).
    pub hello_manifest: PathBuf,
    /// Devices in the store for the main check-in figures.
    pub devices: usize,
    /// Also grow the store to a million devices for the fleet-size comparison.
    pub million: bool,
    pub connections: usize,
    /// Connections for the overload figure (0: not measured).
    pub overload_connections: usize,
    /// `--max-concurrent` of the host the overload figure is measured on
    /// (`None`: the host's default).
    pub overload_max_concurrent: Option<usize>,
    pub warmup: Duration,
    pub duration: Duration,
    /// Build missing or stale components first.
    pub build: bool,
}

/// Every figure, as the JSON line prints them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub devices: usize,
    pub connections: usize,
    pub seconds_per_measurement: f64,
    pub cpus: usize,
    pub checkin_rps: f64,
    pub checkin_p50_ms: f64,
    pub checkin_p99_ms: f64,
    pub checkin_errors: u64,
    pub native_checkin_rps: f64,
    pub native_checkin_p50_ms: f64,
    pub native_checkin_p99_ms: f64,
    /// `checkin_rps / native_checkin_rps`.
    pub wasm_to_native: f64,
    pub hello_rps: f64,
    pub hello_p50_ms: f64,
    /// `wasmtime serve` with its best flags (the pooling allocator tuned as
    /// `sluice up` tunes it).
    pub wasmtime_serve_hello_rps: Option<f64>,
    pub wasmtime_serve_hello_p50_ms: Option<f64>,
    /// `wasmtime serve` with the pooling allocator's defaults.
    pub wasmtime_serve_default_hello_rps: Option<f64>,
    /// 1 MiB chunks through `sluice up`, MB/s.
    pub chunk_mbps: f64,
    /// Default-size (256 KiB) chunks through `sluice up`, MB/s.
    pub chunk_default_mbps: f64,
    pub nginx_mbps: Option<f64>,
    pub nginx_default_mbps: Option<f64>,
    pub checkin_p50_1k_ms: f64,
    pub checkin_p50_1m_ms: Option<f64>,
    pub bytes_per_device: f64,
    pub bytes_per_campaign: u64,
    pub seed_seconds: f64,
    /// Check-ins from 10,000 devices over `overload_connections` connections
    /// at once: requests/s served, the share shed with 503, the p99 of those
    /// served, and other errors (5xx or failed connections).
    pub overload_connections: usize,
    pub overload_max_concurrent: usize,
    pub overload_served_rps: Option<f64>,
    pub overload_shed_share: Option<f64>,
    pub overload_p99_ms: Option<f64>,
    pub overload_errors: Option<u64>,
    /// What could not be measured, and why.
    pub missing: Vec<String>,
}

/// A server running on its own runtime thread until stopped.
struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

/// Where a server thread reports its address, or why it could not start.
type Ready = std::sync::mpsc::Sender<Result<SocketAddr, String>>;

impl Running {
    /// Runs `serve` on a runtime of its own thread: it reports its address on
    /// `Ready` once listening, and serves until the receiver resolves.
    fn spawn<F, Fut>(serve: F) -> Result<Running>
    where
        F: FnOnce(tokio::runtime::Handle, Ready, tokio::sync::oneshot::Receiver<()>) -> Fut
            + Send
            + 'static,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let serving = serve(runtime.handle().clone(), ready_tx.clone(), stopped);
            let result = runtime.block_on(serving);
            if let Err(e) = &result {
                let _ = ready_tx.send(Err(format!("{e:#}")));
            }
            result
        });
        let addr = ready_rx
            .recv()
            .context("the server thread ended")?
            .map_err(anyhow::Error::msg)?;
        Ok(Running {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `sluice up` on `manifest` with its state in `state_dir`.
    fn sluice_up(
        manifest: &Path,
        state_dir: &Path,
        variables: BTreeMap<String, String>,
        build: bool,
    ) -> Result<Running> {
        Running::sluice_up_limited(manifest, state_dir, variables, build, None)
    }

    /// `sluice up`, with at most `max_concurrent` requests running (default:
    /// the host's).
    fn sluice_up_limited(
        manifest: &Path,
        state_dir: &Path,
        variables: BTreeMap<String, String>,
        build: bool,
        max_concurrent: Option<usize>,
    ) -> Result<Running> {
        let mut options = sluice_host::Options::new(manifest.to_owned());
        if let Some(limit) = max_concurrent {
            options.max_concurrent = limit;
        }
        // The bench measures capacity: its few devices poll far faster than
        // any device's budget allows.
        options.device_budget = None;
        options.state_dir = Some(state_dir.to_owned());
        options.variables = variables;
        options.build = build;
        Running::spawn(move |_, ready, stopped| async move {
            let prepared = sluice_host::prepare(&options).await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let _ = ready.send(Ok(listener.local_addr()?));
            prepared
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
        })
    }

    /// The native baseline on the SQLite store at `db`.
    fn native(db: &Path, config: Config) -> Result<Running> {
        let db = db.to_owned();
        Running::spawn(move |handle, ready, stopped| async move {
            let database = sluice_key_value_sqlite::Database::open(Some(&db))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let shared = Arc::new(Shared {
                store: NativeStore::new(database.store("default"), handle),
                config,
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let _ = ready.send(Ok(listener.local_addr()?));
            tokio::select! {
                () = native_server::serve(listener, shared) => {}
                _ = stopped => {}
            }
            Ok(())
        })
    }

    fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => anyhow::bail!("a server thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The load generator, on its own runtime.
struct Loader {
    runtime: tokio::runtime::Runtime,
    load: Load,
}

impl Loader {
    fn run(&self, addr: SocketAddr, make: MakeRequest) -> Measured {
        self.runtime.block_on(load::run(addr, self.load, make))
    }
}

fn checkins(devices: Arc<Vec<(String, String)>>) -> MakeRequest {
    let bodies: Arc<Vec<String>> = Arc::new(
        devices
            .iter()
            .map(|(id, secret)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
                )
            })
            .collect(),
    );
    let body = Bytes::from_static(
        br#"{"hardware":"cam-v2","version":"1.0.0","security_version":0,"telemetry":{"battery_percent":80,"utc_offset_minutes":60}}"#,
    );
    Arc::new(move |connection, n| {
        // Connections take turns through the devices, so each device polls in turn.
        let index = (connection as u64 + n * 997) as usize % bodies.len().max(1);
        hyper::Request::post("/v1/checkin")
            .header("host", "bench")
            .header("authorization", &bodies[index])
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .unwrap_or_default()
    })
}

fn gets(path: String) -> MakeRequest {
    Arc::new(move |_, _| {
        hyper::Request::get(path.as_str())
            .header("host", "bench")
            .body(Full::new(Bytes::new()))
            .unwrap_or_default()
    })
}

/// Runs the whole benchmark; `progress` hears what it is doing.
pub fn run(options: &Options, progress: impl Fn(&str)) -> Result<Report> {
    // Removed when dropped, on every path out of here.
    let scratch_dir = tempfile::Builder::new()
        .prefix("sluice-bench-")
        .tempdir()
        .context("creating a scratch directory")?;
    let scratch = scratch_dir.path();
    let state_dir = scratch.join("state");
    let db = state_dir.join("sqlite_key_value.db");
    let token = hex::encode(sample_release::random_bytes::<32>()?);
    let release = SampleRelease::generate("2.0.0", seed::HARDWARE, 1, 4 << 20, 256 << 10)?;
    let trust_json = String::from_utf8_lossy(&release.trust.to_json()).into_owned();
    let config = Config::from_variables(|name| match name {
        "admin_token" => Some(token.clone()),
        "trust_root" => Some(trust_json.clone()),
        _ => None,
    })
    .map_err(anyhow::Error::msg)?;
    let variables: BTreeMap<String, String> = [
        ("admin_token".to_owned(), token.clone()),
        ("trust_root".to_owned(), trust_json.clone()),
    ]
    .into();
    let mut report = Report {
        devices: options.devices,
        connections: options.connections,
        seconds_per_measurement: options.duration.as_secs_f64(),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        ..Report::default()
    };
    let loader = Loader {
        runtime: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
        load: Load {
            connections: options.connections,
            warmup: options.warmup,
            duration: options.duration,
        },
    };

    // Seeding runs the service natively on a runtime of its own.
    let seeding = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let database =
        sluice_key_value_sqlite::Database::open(Some(&db)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let shared = Shared {
        store: NativeStore::new(database.store("default"), seeding.handle().clone()),
        config: config.clone(),
    };
    let seed_started = Instant::now();
    progress("seeding: release, chunks, 1,000 devices, campaign");
    seed::publish(&shared, &token, &release)?;
    let one_mib = seed::chunk(&shared, &token, sample_release::noise(1 << 20)?)?;
    let default_chunk = release.chunks[0].0.clone();
    let mut devices = seed::enrol(&shared, &token, 0, 1000)?;
    let campaign = seed::campaign(&shared, &token, "2.0.0")?;
    let mut seed_seconds = seed_started.elapsed().as_secs_f64();
    let first_thousand = Arc::new(devices.clone());

    progress("check-in with 1,000 devices in the store");
    let host = Running::sluice_up(
        &options.manifest,
        &state_dir,
        variables.clone(),
        options.build,
    )?;
    report.checkin_p50_1k_ms = loader
        .run(host.addr, checkins(first_thousand.clone()))
        .p50_ms;
    host.stop()?;

    progress(&format!("seeding {} devices", options.devices));
    let started = Instant::now();
    let more = seed::enrol(&shared, &token, 1000, options.devices.max(1000))?;
    devices.extend(more.into_iter().take(9000));
    seed_seconds += started.elapsed().as_secs_f64();
    let polling = Arc::new(devices);

    progress("check-in, native baseline");
    let native = Running::native(&db, config.clone())?;
    let measured = loader.run(native.addr, checkins(polling.clone()));
    native.stop()?;
    report.native_checkin_rps = measured.rps;
    report.native_checkin_p50_ms = measured.p50_ms;
    report.native_checkin_p99_ms = measured.p99_ms;

    progress("check-in and chunks through sluice up");
    let host = Running::sluice_up(
        &options.manifest,
        &state_dir,
        variables.clone(),
        options.build,
    )?;
    let measured = loader.run(host.addr, checkins(polling.clone()));
    report.checkin_rps = measured.rps;
    report.checkin_p50_ms = measured.p50_ms;
    report.checkin_p99_ms = measured.p99_ms;
    report.checkin_errors = measured.errors;
    report.wasm_to_native = measured.rps / report.native_checkin_rps.max(1e-9);
    if options.overload_connections > 0 {
        progress(&format!(
            "overload: 10,000 devices over {} connections",
            options.overload_connections
        ));
        let limited = Running::sluice_up_limited(
            &options.manifest,
            &state_dir,
            variables.clone(),
            false,
            options.overload_max_concurrent,
        )?;
        let load = Load {
            connections: options.overload_connections,
            ..loader.load
        };
        let measured =
            loader
                .runtime
                .block_on(load::run(limited.addr, load, checkins(polling.clone())));
        limited.stop()?;
        report.overload_connections = options.overload_connections;
        report.overload_max_concurrent = options
            .overload_max_concurrent
            .unwrap_or(sluice_host::server::MAX_CONCURRENT);
        report.overload_served_rps = Some(measured.rps);
        report.overload_shed_share =
            Some(measured.shed as f64 / (measured.shed + measured.requests).max(1) as f64);
        report.overload_p99_ms = Some(measured.p99_ms);
        report.overload_errors = Some(measured.errors);
    }
    report.chunk_mbps = loader
        .run(host.addr, gets(format!("/v1/chunks/{one_mib}")))
        .mbps;
    report.chunk_default_mbps = loader
        .run(host.addr, gets(format!("/v1/chunks/{default_chunk}")))
        .mbps;
    host.stop()?;

    progress("nginx serving the same chunks");
    let files = scratch.join("files");
    std::fs::create_dir_all(&files)?;
    std::fs::write(files.join("one-mib"), seed_value(&shared, &one_mib)?)?;
    std::fs::write(files.join("default"), &release.chunks[0].1)?;
    match references::nginx(&files, scratch) {
        Ok(nginx) => {
            report.nginx_mbps = Some(loader.run(nginx.addr, gets("/one-mib".into())).mbps);
            report.nginx_default_mbps = Some(loader.run(nginx.addr, gets("/default".into())).mbps);
        }
        Err(e) => report.missing.push(format!("nginx: {e:#}")),
    }

    progress("hello through sluice up and wasmtime serve");
    let hello_state = scratch.join("hello-state");
    let hello = Running::sluice_up(
        &options.hello_manifest,
        &hello_state,
        BTreeMap::new(),
        options.build,
    )?;
    let measured = loader.run(hello.addr, gets("/hello".into()));
    hello.stop()?;
    report.hello_rps = measured.rps;
    report.hello_p50_ms = measured.p50_ms;
    let hello_wasm = hello_component(&options.hello_manifest)?;
    match references::find_wasmtime() {
        Some(wasmtime) => {
            let serve = references::wasmtime_serve(&wasmtime, &hello_wasm, true)?;
            let measured = loader.run(serve.addr, gets("/hello".into()));
            drop(serve);
            report.wasmtime_serve_hello_rps = Some(measured.rps);
            report.wasmtime_serve_hello_p50_ms = Some(measured.p50_ms);
            let serve = references::wasmtime_serve(&wasmtime, &hello_wasm, false)?;
            let measured = loader.run(serve.addr, gets("/hello".into()));
            report.wasmtime_serve_default_hello_rps = Some(measured.rps);
        }
        None => report.missing.push(format!(
            "wasmtime {}: not found (scripts/bench installs it into ~/.cache/sluice-tools)",
            references::WASMTIME_VERSION
        )),
    }

    let sample: Vec<String> = polling
        .iter()
        .take(1000)
        .flat_map(|(id, _)| {
            [
                sluice_service::kernel::keys::device(id),
                sluice_service::kernel::keys::state(id),
                sluice_service::kernel::keys::seen(id),
            ]
        })
        .collect();
    report.bytes_per_device =
        seed::stored_bytes(&shared, &sample)? as f64 / polling.len().min(1000) as f64;
    report.bytes_per_campaign = campaign_bytes(&shared, &database, &campaign, &seeding)?;

    if options.million {
        progress("seeding up to 1,000,000 devices");
        let started = Instant::now();
        seed::enrol(&shared, &token, options.devices.max(1000), 1_000_000)?;
        seed_seconds += started.elapsed().as_secs_f64();
        progress("check-in with 1,000,000 devices in the store");
        let host = Running::sluice_up(&options.manifest, &state_dir, variables, options.build)?;
        report.checkin_p50_1m_ms = Some(loader.run(host.addr, checkins(first_thousand)).p50_ms);
        host.stop()?;
    }
    report.seed_seconds = seed_seconds;
    drop(shared);
    drop(database);
    Ok(report)
}

fn seed_value(shared: &Shared, digest: &str) -> Result<Vec<u8>> {
    use sluice_service::Store;
    shared
        .store
        .get(&sluice_service::kernel::keys::chunk(digest))?
        .context("the chunk just stored is missing")
}

/// Bytes of the campaign record and every counter and list of the campaign.
fn campaign_bytes(
    shared: &Shared,
    database: &sluice_key_value_sqlite::Database,
    campaign: &str,
    runtime: &tokio::runtime::Runtime,
) -> Result<u64> {
    let keys = runtime
        .block_on(database.store("default").keys())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ours: Vec<String> = keys
        .into_iter()
        .filter(|k| {
            k == &sluice_service::kernel::keys::campaign(campaign)
                || k.starts_with(&format!("cnt/{campaign}/"))
                || k == &sluice_service::kernel::keys::failure_codes(campaign)
        })
        .collect();
    seed::stored_bytes(shared, &ours)
}

/// The hello component's file, from its manifest.
fn hello_component(manifest: &Path) -> Result<PathBuf> {
    let app = sluice_host::app::App::load(manifest)?;
    let component = app
        .manifest
        .component
        .values()
        .next()
        .context("the hello app has no component")?;
    Ok(app.dir.join(&component.source))
}
