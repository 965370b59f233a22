//! `sluice up`: run `spin.toml` locally (see the `sluice-host` crate).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sluice_host::runtime_config::{RuntimeConfig, StoreLocation};

use crate::atomic_file::{self, Visibility};
use crate::byte_size;

/// The file `sluice up` keeps the generated admin token in, inside the state dir.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// A Spin runtime-config file, e.g. to keep key-value in Redis.
    #[arg(long, value_name = "FILE")]
    runtime_config: Option<PathBuf>,
    /// Directory for local state (default: .spin beside spin.toml).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The application manifest.
    #[arg(long, short = 'f', default_value = "spin.toml")]
    from: PathBuf,
    /// Set an application variable: NAME=VALUE, or NAME=@FILE to read the value
    /// from a file (e.g. trust_root=@keys/trust.json).
    #[arg(long = "variable", value_name = "NAME=VALUE")]
    variables: Vec<String>,
    /// Largest request body accepted (larger ones get 413).
    #[arg(long, default_value = "20MiB", value_parser = byte_size::parse)]
    max_body: u64,
    /// Each device's request budget, RATE/s[:BURST] (default 10/s:100), or
    /// `off`. A device past it gets 429 with Retry-After, before any instance
    /// runs.
    #[arg(long, value_name = "BUDGET", default_value = "10/s:100", value_parser = parse_budget)]
    device_budget: Budget,
    /// Most requests served at once (at most 900). As many again wait up to
    /// 2 s for a turn; past that the server is saturated and answers 503 with
    /// Retry-After instead of queueing.
    #[arg(long, value_name = "N", default_value_t = sluice_host::server::MAX_CONCURRENT)]
    max_concurrent: usize,
    /// Serve HTTPS with this PEM certificate (chain); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's PEM private key; needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Do not build missing or stale components first.
    #[arg(long)]
    no_build: bool,
    /// Request log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

/// `--device-budget`: `off` or a [`sluice_host::admission::Budget`].
#[derive(Clone, Debug)]
struct Budget(Option<sluice_host::admission::Budget>);

fn parse_budget(text: &str) -> Result<Budget, String> {
    if text == "off" {
        return Ok(Budget(None));
    }
    text.parse().map(|b| Budget(Some(b)))
}

fn parse_variables(items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in items {
        let Some((name, value)) = item.split_once('=') else {
            bail!("--variable {item:?}: expected NAME=VALUE");
        };
        let value = match value.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("--variable {name}: reading {path}"))?,
            None => value.to_owned(),
        };
        out.insert(name.to_owned(), value);
    }
    Ok(out)
}

/// Reads the admin token from the state dir, creating one (mode 0600) if needed.
fn admin_token(state_dir: &Path) -> Result<(String, PathBuf)> {
    let path = state_dir.join(ADMIN_TOKEN_FILE);
    if let Ok(token) = std::fs::read_to_string(&path) {
        let token = token.trim().to_owned();
        if !token.is_empty() {
            return Ok((token, path));
        }
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    let token = hex::encode(random);
    atomic_file::write(&path, format!("{token}\n").as_bytes(), Visibility::Secret)?;
    Ok((token, path))
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub fn run(args: Args) -> Result<()> {
    init_logs(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<()> {
    let mut options = sluice_host::Options::new(args.from.clone());
    options.runtime_config = args.runtime_config.clone();
    options.state_dir = args.state_dir.clone();
    options.max_body_bytes = usize::try_from(args.max_body).unwrap_or(usize::MAX);
    options.device_budget = args.device_budget.0;
    options.max_concurrent = args.max_concurrent;
    options.tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(sluice_host::tls::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    options.build = !args.no_build;
    options.variables = parse_variables(&args.variables)?;

    // The same state dir the host will use (the runtime-config file may set it).
    let app_dir = args
        .from
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let runtime = RuntimeConfig::load(
        args.runtime_config.as_deref(),
        args.state_dir.as_deref(),
        app_dir,
    )?;
    let mut token_file = None;
    if !options.variables.contains_key("admin_token")
        && std::env::var_os("SPIN_VARIABLE_ADMIN_TOKEN").is_none()
    {
        let (token, path) = admin_token(&runtime.state_dir)?;
        options.variables.insert("admin_token".into(), token);
        token_file = Some(path);
    }

    let prepared = sluice_host::prepare(&options).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    println!("listening on {scheme}://{address}");
    for (route, component) in prepared.routes() {
        println!("  {route:<24} {component}");
    }
    for (label, location) in &prepared.runtime.stores {
        match location {
            StoreLocation::Sqlite(Some(path)) => {
                println!("key-value store {label:?}: SQLite {}", path.display())
            }
            StoreLocation::Sqlite(None) => println!("key-value store {label:?}: in memory"),
            StoreLocation::Redis(url) => println!("key-value store {label:?}: Redis {url}"),
        }
    }
    if let Some(path) = &token_file {
        println!(
            "owner token: {}  (sluice commands read it from there; give people their own: sluice operator add NAME --role ROLE)",
            path.display()
        );
    }
    use std::io::Write as _;
    std::io::stdout().flush()?;

    prepared.serve(listener, shutdown_signal()).await?;
    println!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}
