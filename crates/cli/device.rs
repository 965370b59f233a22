//! `sluice device`: the reference device agent (see the `sluice-device` crate),
//! and, as its subcommands, the server's records of devices (`enrol`, `list`,
//! `revoke`, in [`crate::fleet`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sluice_device::{Agent, AgentState, FileSlots, HealthCheck, HttpTransport, Next};
use sluice_protocol::TrustRoot;

use crate::atomic_file::{self, Visibility};

pub const STATE_FILE: &str = "agent.json";
const TRUST_FILE: &str = "trust.json";
const SECRET_FILE: &str = "secret";

/// `sluice device --server URL --id ID --state-dir DIR …` runs the agent;
/// `sluice device enrol|list|revoke …` manages the server's records.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    records: Option<crate::fleet::DeviceCommand>,
    #[command(flatten)]
    agent: Option<AgentArgs>,
}

/// The agent's arguments.
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// The Sluice server.
    #[arg(long)]
    server: String,
    /// This device's id.
    #[arg(long)]
    id: String,
    /// Where the slots (slot-a, slot-b) and the agent's state live.
    #[arg(long, value_name = "DIR")]
    state_dir: PathBuf,
    /// The device secret from enrolment (kept in DIR/secret after the first run).
    #[arg(long, env = "SLUICE_DEVICE_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The trust root (trust.json from `sluice keygen`); kept in DIR after the first run.
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,
    /// For an https server: trust only the certificate authorities in FILE
    /// (PEM), not the public web roots; a server they do not vouch for is refused.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Hardware id (first run).
    #[arg(long)]
    hardware: Option<String>,
    /// Version of the image already in slot A (first run).
    #[arg(long, default_value = "0.0.0")]
    version: String,
    /// Security version of the image already in slot A (first run).
    #[arg(long, value_name = "N", default_value_t = 0)]
    security_version: u64,
    /// Command run after switching slots; exit status 0 means healthy. It sees the
    /// new version in $SLUICE_VERSION. Without one, booting counts as healthy.
    #[arg(long)]
    health_cmd: Option<String>,
    /// Command printing the device's cumulative counters as JSON,
    /// {"reboots": N, "crashes": N, "metric": N}: the agent then reports
    /// post-update health (the change over equal periods before and after).
    #[arg(long, value_name = "CMD")]
    health_counters_cmd: Option<String>,
    /// How long post-update health is measured, before and after an update.
    #[arg(long, default_value = "24h", value_parser = crate::duration::parse)]
    health_period: Duration,
    /// Take one step (check in and act on the answer) and exit.
    #[arg(long)]
    once: bool,
}

struct CommandHealth {
    check: Option<String>,
    counters: Option<String>,
}

impl HealthCheck for CommandHealth {
    fn counters(&mut self) -> Option<sluice_device::HealthCounters> {
        let cmd = self.counters.as_ref()?;
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        match serde_json::from_slice(&output.stdout) {
            Ok(counters) => Some(counters),
            Err(e) => {
                eprintln!("--health-counters-cmd printed no counters: {e}");
                None
            }
        }
    }

    fn check(&mut self, version: &str) -> Result<(), String> {
        let Some(cmd) = &self.check else {
            return Ok(());
        };
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .env("SLUICE_VERSION", version)
            .status()
            .map_err(|e| format!("running health check: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("health check `{cmd}` exited with {status}"))
        }
    }
}

fn keep_file(
    dir: &Path,
    name: &str,
    given: Option<Vec<u8>>,
    visibility: Visibility,
    what: &str,
) -> Result<Vec<u8>> {
    let path = dir.join(name);
    match given {
        Some(bytes) => {
            atomic_file::write(&path, &bytes, visibility)?;
            Ok(bytes)
        }
        None => std::fs::read(&path)
            .with_context(|| format!("no {what}: pass it on the first run ({})", path.display())),
    }
}

pub fn run(args: Args) -> Result<()> {
    match (args.records, args.agent) {
        (Some(command), _) => crate::fleet::run_device(command),
        (None, Some(agent)) => run_agent(agent),
        (None, None) => bail!(
            "give the agent's --server, --id and --state-dir, or a subcommand (sluice device --help)"
        ),
    }
}

fn run_agent(args: AgentArgs) -> Result<()> {
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("creating {}", args.state_dir.display()))?;
    let dir = args.state_dir.clone();
    let trust_bytes = args
        .trust
        .as_ref()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let trust = TrustRoot::from_json(&keep_file(
        &dir,
        TRUST_FILE,
        trust_bytes,
        Visibility::Public,
        "trust root (--trust)",
    )?)
    .context("trust root")?;
    let secret = keep_file(
        &dir,
        SECRET_FILE,
        args.secret.map(String::into_bytes),
        Visibility::Secret,
        "device secret (--secret)",
    )?;
    let secret = String::from_utf8_lossy(&secret).trim().to_owned();

    let state_path = dir.join(STATE_FILE);
    let state = match std::fs::read(&state_path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("{}", state_path.display()))?
        }
        Err(_) => {
            let Some(hardware) = &args.hardware else {
                bail!("first run: --hardware is required");
            };
            AgentState::factory(hardware, &args.version, args.security_version)
        }
    };
    if let Some(hw) = &args.hardware
        && *hw != state.hardware
    {
        bail!("this device is {:?}, not {hw:?}", state.hardware);
    }
    let persist_path = state_path.clone();
    let mut transport = HttpTransport::new(&args.server, &args.id, &secret);
    if let Some(ca) = &args.ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        transport = transport
            .trusting(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?;
    }
    let mut agent = Agent::new(
        state,
        FileSlots::new(&dir),
        transport,
        CommandHealth {
            check: args.health_cmd,
            counters: args.health_counters_cmd,
        },
        trust,
    )
    .on_persist(move |state| {
        let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        atomic_file::write(&persist_path, &bytes, Visibility::Secret).map_err(std::io::Error::other)
    })
    .on_event(|line| println!("{line}"));
    agent.health_period = args.health_period.as_secs().max(1);
    // Persist the first-run state before anything else happens.
    let bytes = serde_json::to_vec_pretty(&agent.state)?;
    atomic_file::write(&state_path, &bytes, Visibility::Secret)?;

    loop {
        match agent.step() {
            Next::Wait(seconds) => {
                if args.once {
                    println!(
                        "running {} (next check-in in {seconds} s)",
                        agent.state.version
                    );
                    return Ok(());
                }
                std::thread::sleep(Duration::from_secs(seconds));
            }
            Next::Stop(reason) => bail!("{reason}"),
        }
    }
}
