//! The reference servers `sluice bench` measures Sluice against, run as child
//! processes on loopback, each in a process group of its own that is stopped
//! whole when dropped: `wasmtime serve` (the engine's own server, for the
//! host's per-request cost) and nginx (what a user would pick to serve files;
//! its master and its workers go together).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process_group::ProcessGroup;

/// The wasmtime-cli version the host is built on.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// A server serving on `addr`, stopped with everything it started when
/// dropped.
pub struct Reference {
    _server: ProcessGroup,
    pub addr: SocketAddr,
}

fn free_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Waits for `server` to listen on `addr`; on failure the server (dropped)
/// is stopped with its whole group.
fn wait_until_listening(server: ProcessGroup, addr: SocketAddr, what: &str) -> Result<Reference> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return Ok(Reference {
                _server: server,
                addr,
            });
        }
        if server.has_exited() {
            bail!("{what} exited before listening");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not listen on {addr} within a minute")
}

/// `wasmtime` 48.0.8: `$SLUICE_WASMTIME`, then `~/.cache/sluice-tools/bin`
/// (where `scripts/bench` installs it), then `PATH`.
pub fn find_wasmtime() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("SLUICE_WASMTIME") {
        candidates.push(PathBuf::from(path));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cache/sluice-tools/bin/wasmtime"));
    }
    candidates.push(PathBuf::from("wasmtime"));
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(WASMTIME_VERSION))
    })
}

/// The pooling-allocator flags `sluice up` itself uses, for `wasmtime serve`'s
/// best run: memory kept resident and reset with memset, batched decommits.
const TUNED: [&str; 4] = [
    "pooling-memory-keep-resident=4194304",
    "pooling-table-keep-resident=65536",
    "pooling-pagemap-scan=auto",
    "pooling-decommit-batch-size=16",
];

/// `wasmtime serve` on `component`, a fresh instance per request (its only
/// mode), with the pooling allocator; `tuned` adds [`TUNED`].
pub fn wasmtime_serve(wasmtime: &Path, component: &Path, tuned: bool) -> Result<Reference> {
    let addr = free_addr()?;
    let mut command = Command::new(wasmtime);
    command
        .arg("serve")
        .arg("--addr")
        .arg(addr.to_string())
        .arg("-O")
        .arg("pooling-allocator=y");
    if tuned {
        for flag in TUNED {
            command.arg("-O").arg(flag);
        }
    }
    command
        .arg("-S")
        .arg("cli=y")
        .arg(component)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = ProcessGroup::spawn(&mut command)
        .with_context(|| format!("starting {}", wasmtime.display()))?;
    wait_until_listening(server, addr, "wasmtime serve")
}

/// nginx serving `root` (files at `/NAME`), with the settings a user would
/// start from: one worker per core, sendfile, no access log.
pub fn nginx(root: &Path, scratch: &Path) -> Result<Reference> {
    let nginx = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|c| Command::new(c).arg("-v").output().is_ok())
        .context("nginx is not installed (scripts/bench installs it)")?;
    let addr = free_addr()?;
    let prefix = scratch.join("nginx");
    std::fs::create_dir_all(prefix.join("logs"))?;
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes auto;\n\
             error_log {logs}/error.log warn;\n\
             pid {logs}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n\
               access_log off;\n\
               sendfile on;\n\
               tcp_nopush on;\n\
               keepalive_requests 1000000;\n\
               client_body_temp_path {logs};\n\
               proxy_temp_path {logs};\n\
               fastcgi_temp_path {logs};\n\
               uwsgi_temp_path {logs};\n\
               scgi_temp_path {logs};\n\
               server {{ listen {addr}; root {root}; }}\n\
             }}\n",
            logs = prefix.join("logs").display(),
            root = root.display(),
        ),
    )?;
    let mut command = Command::new(nginx);
    command
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .arg("-g")
        .arg("daemon off;")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = ProcessGroup::spawn(&mut command).context("starting nginx")?;
    wait_until_listening(server, addr, "nginx")
}
