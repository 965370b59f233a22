//! `sluice demo`: the newcomer's first look at a rollout. One command runs the
//! whole story on this machine: a host serving `spin.toml` in this process on a
//! temporary store, freshly generated keys, a signed release, a campaign with
//! quick stages (`examples/quick-stages.json`), and a simulated fleet running the
//! real device agent, with live per-stage progress and a summary at the end.
//!
//! `--bad` ships a release that half the devices fail to boot: the canary halts
//! the campaign, the devices that failed revert on their own, and the demo, as
//! the operator, rolls back the ones that had committed it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sluice_api::admin::campaigns::{Campaign, CampaignState, NewCampaign, Progress, Selector};
use sluice_api::admin::releases::Published;
use sluice_device::sim::{self, Faults, Until};
use sluice_policy_standard::bucket_limit;
use sluice_policy_standard::config::Config as StandardConfig;
use sluice_sample_release::{SampleRelease as Release, random_bytes};

use crate::client::Client;
use crate::output::Format;
use crate::policy_config;
use crate::sim::{FleetShape, enrol, summary_line};

/// The quick configuration of the standard policy the demo uses unless given another.
pub const QUICK_STAGES: &str = include_str!("../../examples/quick-stages.json");

/// The hardware the release is for, and one it is not for.
const TARGET_HARDWARE: &str = "cam-v2";
const OTHER_HARDWARE: &str = "doorbell";
const FROM_VERSION: &str = "1.0.0";
const RELEASE_VERSION: &str = "2.0.0";
const IMAGE_BYTES: usize = 2 << 20;
const CHUNK_BYTES: usize = 128 << 10;
/// Share of devices that cannot boot the `--bad` release.
const BAD_FAIL_RATE: f64 = 0.5;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Simulated devices (a tenth of them are other hardware, never offered the release).
    #[arg(long, default_value_t = 200)]
    devices: usize,
    /// Ship a release half the fleet cannot boot, to watch the halt and the rollback.
    #[arg(long)]
    bad: bool,
    /// The campaign's standard-policy configuration: JSON, or @FILE
    /// (default: examples/quick-stages.json).
    #[arg(long, value_name = policy_config::VALUE_NAME)]
    policy: Option<String>,
    /// The application manifest (default: spin.toml here, else this checkout's).
    #[arg(long, short = 'f')]
    from: Option<PathBuf>,
    /// Do not build missing or stale components first.
    #[arg(long)]
    no_build: bool,
    #[command(flatten)]
    format: Format,
}

fn manifest_path(from: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(path) = from {
        return Ok(path);
    }
    let here = PathBuf::from("spin.toml");
    if here.is_file() {
        return Ok(here);
    }
    let checkout = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/spin.toml"));
    if checkout.is_file() {
        return Ok(checkout);
    }
    bail!("no spin.toml here; run the demo from a Sluice checkout or pass -f PATH/spin.toml")
}

/// Fresh keys, and a 2 MiB image in 16 chunks signed with them. Its security
/// version is 0 (not a security fix), so the operator can roll it back: a
/// release that raises the security version can never be rolled back below it.
fn make_release() -> Result<Release> {
    Release::generate(
        RELEASE_VERSION,
        TARGET_HARDWARE,
        0,
        IMAGE_BYTES,
        CHUNK_BYTES,
    )
}

fn publish(client: &Client, release: &Release) -> Result<()> {
    for (digest, data) in &release.chunks {
        client
            .send("PUT", &format!("/v1/admin/chunks/{digest}"), Some(data))?
            .ok()
            .with_context(|| format!("uploading chunk {digest}"))?;
    }
    let _: Published = client
        .send("POST", "/v1/admin/releases", Some(&release.manifest))?
        .typed()
        .context("publishing the release")?;
    Ok(())
}

/// What the live view has seen so far.
#[derive(Default)]
struct Watch {
    stage: Option<u64>,
    state: String,
    halted: bool,
    halt_reason: String,
    rolled_back: bool,
    /// The last progress line printed (an unchanged one is not repeated).
    line: String,
}

struct Stages {
    percents: Vec<f64>,
}

impl Stages {
    fn label(&self, stage: u64) -> String {
        let percent = self
            .percents
            .get(stage as usize)
            .map(|p| format!(" ({p}%)"))
            .unwrap_or_default();
        format!("stage {} of {}{percent}", stage + 1, self.percents.len())
    }
}

/// One live update: a line for every stage opened or state changed, and the
/// current counts. As the operator, rolls a halted `--bad` campaign back.
fn observe(
    client: &Client,
    campaign: &str,
    stages: &Stages,
    bad: bool,
    watch: &Mutex<Watch>,
    fleet: &sim::Summary,
) {
    let Ok(progress) = client.get::<Progress>(&format!("/v1/admin/campaigns/{campaign}")) else {
        return;
    };
    let mut watch = watch.lock().unwrap_or_else(|e| e.into_inner());
    let stage = u64::from(progress.campaign.stage);
    let state = progress.campaign.state.as_str().to_owned();
    if watch.stage != Some(stage) {
        eprintln!("[{:>5.1}s] {} opened", fleet.seconds, stages.label(stage));
        watch.stage = Some(stage);
    }
    if watch.state != state {
        let reason = progress.campaign.reason.as_deref().unwrap_or_default();
        eprintln!(
            "[{:>5.1}s] campaign {campaign} is {state}{}",
            fleet.seconds,
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            }
        );
        if state == "halted" && !watch.halted {
            watch.halted = true;
            watch.halt_reason = reason.to_owned();
        }
        watch.state = state.clone();
    }
    let total = &progress.total;
    let line = format!(
        "{}: offered {} succeeded {} failed {} rolled back {} rejected {} | in flight {} | fleet {}",
        stages.label(stage),
        total.offered,
        total.succeeded,
        total.failed,
        total.rolled_back,
        total.rejected,
        progress.in_flight,
        versions(&progress.versions),
    );
    if line != watch.line {
        eprintln!("[{:>5.1}s] {line}", fleet.seconds);
        watch.line = line;
    }
    if bad && state == "halted" && !watch.rolled_back {
        let installed = progress.total.succeeded;
        eprintln!(
            "[{:>5.1}s] operator: rolling back campaign {campaign} ({installed} device(s) committed {RELEASE_VERSION}): sluice campaign rollback {campaign}",
            fleet.seconds
        );
        match client.post_empty::<Campaign>(&format!("/v1/admin/campaigns/{campaign}/rollback")) {
            Ok(_) => watch.rolled_back = true,
            Err(e) => eprintln!("rollback failed, will retry: {e:#}"),
        }
    }
}

fn versions(counts: &BTreeMap<String, i64>) -> String {
    counts
        .iter()
        .map(|(v, n)| format!("{v}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(args: Args) -> Result<()> {
    let manifest = manifest_path(args.from.clone())?;
    let policy: Value = match &args.policy {
        Some(text) => policy_config::parse(text)?,
        None => serde_json::from_str(QUICK_STAGES)?,
    };
    let config = StandardConfig::parse(&policy.to_string()).map_err(anyhow::Error::msg)?;
    if args.devices == 0 {
        bail!("--devices must be at least 1");
    }

    let started = Instant::now();
    let state_dir = tempfile::Builder::new()
        .prefix("sluice-demo-")
        .tempdir()
        .context("creating a temporary store")?;
    let release = make_release()?;
    let token = hex::encode(random_bytes::<32>()?);

    let mut options = sluice_host::Options::new(manifest);
    options.state_dir = Some(state_dir.path().to_owned());
    options.build = !args.no_build;
    options
        .variables
        .insert("admin_token".into(), token.clone());
    options.variables.insert(
        "trust_root".into(),
        String::from_utf8_lossy(&release.trust.to_json()).into_owned(),
    );
    options.variables.insert("poll_seconds".into(), "1".into());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let prepared = runtime.block_on(sluice_host::prepare(&options))?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(prepared.serve(listener, async {
        let _ = stopped.await;
    }));
    eprintln!(
        "Sluice is serving {} on {url} (store in {})",
        options.manifest.display(),
        state_dir.path().display()
    );

    let outcome = rollout(&args, &url, token, &release, config, policy);
    let _ = stop.send(());
    runtime
        .block_on(server)
        .context("the host stopped abnormally")??;
    let mut summary = outcome?;
    summary["total_seconds"] = json!(round(started.elapsed().as_secs_f64()));
    args.format.document(&summary)?;
    Ok(())
}

fn round(seconds: f64) -> f64 {
    (seconds * 100.0).round() / 100.0
}

/// Publishes, enrols, creates the campaign, runs the fleet; returns the summary.
fn rollout(
    args: &Args,
    url: &str,
    token: String,
    release: &Release,
    config: StandardConfig,
    policy: Value,
) -> Result<Value> {
    let client = Client::with_token(url, token);
    publish(&client, release)?;
    eprintln!(
        "published {RELEASE_VERSION} for {TARGET_HARDWARE}: {} in {} signed chunks{}",
        crate::byte_size::format(IMAGE_BYTES as u64),
        release.chunks.len(),
        if args.bad {
            " (bad: half the devices cannot boot it)"
        } else {
            ""
        }
    );

    let mix = [
        (TARGET_HARDWARE.to_owned(), 0.9),
        (OTHER_HARDWARE.to_owned(), 0.1),
    ];
    let devices = enrol(
        &client,
        &FleetShape {
            count: args.devices,
            prefix: "demo",
            mix: &mix,
            battery: None,
            utc_offsets: &[],
            fail_rate: if args.bad { BAD_FAIL_RATE } else { 0.0 },
        },
    )?;
    let campaign: Campaign = client.post(
        "/v1/admin/campaigns",
        &NewCampaign {
            name: "sluice demo".to_owned(),
            selector: Selector {
                hardware: vec![TARGET_HARDWARE.to_owned()],
                ..Selector::default()
            },
            policy,
            ..NewCampaign::new(RELEASE_VERSION)
        },
    )?;
    let id = campaign.id;
    let targeted: Vec<String> = devices
        .iter()
        .filter(|d| d.hardware == TARGET_HARDWARE)
        .map(|d| d.id.clone())
        .collect();
    let canary_limit = bucket_limit(config.stages[0].percent);
    let canary_size = targeted
        .iter()
        .filter(|d| sluice_service::campaigns::order::bucket(&id, d) < canary_limit)
        .count();
    let stages = Stages {
        percents: config.stages.iter().map(|s| s.percent).collect(),
    };
    eprintln!(
        "campaign {id}: {} devices, {} of them {TARGET_HARDWARE}; {} stages, the canary is {canary_size} device(s)",
        devices.len(),
        targeted.len(),
        stages.percents.len()
    );

    let longest_soak = config.stages.iter().map(|s| s.soak).max().unwrap_or(0);
    let watch = Mutex::new(Watch::default());
    let fleet = sim::Fleet {
        server: url.to_owned(),
        devices,
        version: FROM_VERSION.into(),
        security_version: 0,
        trust: release.trust.clone(),
        faults: Faults::default(),
        crashes: sluice_device::sim::CrashModel::default(),
        until: Until {
            // Quiet while a stage soaks is not the end.
            settled: Duration::from_secs(longest_soak + 4),
            timeout: Duration::from_secs(600),
        },
        workers: 16,
    };
    let summary = sim::run(fleet, |s| {
        observe(&client, &id, &stages, args.bad, &watch, s)
    });

    let progress: Progress = client.get(&format!("/v1/admin/campaigns/{id}"))?;
    let watch = watch.into_inner().unwrap_or_else(|e| e.into_inner());
    let state = progress.campaign.state;
    let halted = watch.halted || state == CampaignState::Halted;
    let total = &progress.total;
    // Devices that booted the bad image: committed it, failed to boot it, or
    // committed it and were rolled back.
    let installed_bad = if args.bad {
        total.succeeded + total.failed + total.rolled_back
    } else {
        0
    };
    let stage = u64::from(progress.campaign.stage);

    for (index, counts) in progress.steps.iter().map(|s| &s.counts).enumerate() {
        args.format.say(format!(
            "{:<22} offered {:>5}  succeeded {:>5}  failed {:>4}  rolled back {:>4}  rejected {:>4}",
            stages.label(index as u64),
            counts.offered,
            counts.succeeded,
            counts.failed,
            counts.rolled_back,
            counts.rejected,
        ));
    }
    args.format.say(summary_line(&summary));
    if halted {
        args.format.say(format!(
            "The campaign halted in {} ({}): {installed_bad} device(s) had installed {RELEASE_VERSION} (the canary is {canary_size}); {} reverted on their own and {} were rolled back by the operator.",
            stages.label(stage),
            if watch.halt_reason.is_empty() {
                progress
                    .campaign
                    .reason
                    .as_deref()
                    .unwrap_or("no reason given")
            } else {
                &watch.halt_reason
            },
            summary.failed,
            summary.rolled_back,
        ));
    } else {
        args.format.say(format!(
            "The campaign reached {} ({}): {} of {} {TARGET_HARDWARE} devices run {RELEASE_VERSION}; the {} {OTHER_HARDWARE} devices were never offered it.",
            stages.label(stage),
            state.as_str(),
            summary.versions.get(RELEASE_VERSION).copied().unwrap_or(0),
            targeted.len(),
            summary.devices - targeted.len(),
        ));
    }

    let mut out = serde_json::to_value(&summary)?;
    out["seconds"] = json!(round(summary.seconds));
    out["campaign"] = json!(id);
    out["campaign_state"] = json!(state);
    out["stage"] = json!(stage);
    out["targeted"] = json!(targeted.len());
    out["halted"] = json!(halted);
    out["installed_bad"] = json!(installed_bad);
    out["canary_size"] = json!(canary_size);
    Ok(out)
}
