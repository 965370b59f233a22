//! `sluice policy`: check a rollout policy component before it touches a device.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sluice_host_policy::WasmPolicy;
use sluice_policy::Policy;
use sluice_policy_sim::{Scenario, simulate};
use sluice_policy_standard::calendar::parse_instant;

use crate::curve_plot;
use crate::output::Format;
use crate::policy_config;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Run a policy component against a simulated fleet and clock.
    Simulate(SimulateArgs),
    /// Make a `sluice:policy` 0.1.0 component a 0.2.0 one that the check-in,
    /// status and admin components can be composed with (its `describe`
    /// answers that it does not describe itself).
    Upgrade(UpgradeArgs),
}

#[derive(clap::Args, Debug)]
pub struct UpgradeArgs {
    /// The 0.1.0 policy component.
    #[arg(value_name = "COMPONENT")]
    policy: PathBuf,
    /// Where to write the 0.2.0 component.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The adapter component (default: sluice_policy_upgrade.wasm in the
    /// wasm32-wasip2 release build beside this binary, or under ./target).
    #[arg(long, value_name = "FILE")]
    adapter: Option<PathBuf>,
    #[command(flatten)]
    format: Format,
}

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// The policy component (e.g. target/wasm32-wasip2/release/sluice_policy_standard.wasm).
    #[arg(value_name = "COMPONENT")]
    component: PathBuf,
    /// The campaign's policy configuration: JSON, or @FILE (default: the
    /// policy's own defaults).
    #[arg(long, value_name = policy_config::VALUE_NAME)]
    policy: Option<String>,
    /// Devices in the simulated fleet.
    #[arg(long, default_value_t = 10_000)]
    devices: usize,
    /// Share of installs that fail (a bad release: e.g. 0.2).
    #[arg(long, default_value_t = 0.0)]
    fail_rate: f64,
    /// Simulated days.
    #[arg(long, default_value_t = 14.0)]
    days: f64,
    /// Simulated start, RFC 3339 (default: now).
    #[arg(long)]
    start: Option<String>,
    /// Mark the campaign critical.
    #[arg(long)]
    critical: bool,
    /// How often devices poll.
    #[arg(long, default_value = "15m", value_parser = crate::duration::parse)]
    poll: Duration,
    /// UTC offsets in minutes the fleet is spread over (default: eight from -08:00 to +10:00).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    utc_offsets: Vec<i16>,
    /// Share of devices on battery.
    #[arg(long, default_value_t = 0.3)]
    battery_share: f64,
    /// Varies device circumstances and failures.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also draw the rollout curve into this SVG file.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    #[command(flatten)]
    format: Format,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Simulate(args) => simulate_command(args),
        Command::Upgrade(args) => upgrade_command(args),
    }
}

const ADAPTER: &str = "wasm32-wasip2/release/sluice_policy_upgrade.wasm";

/// The adapter next to this binary's build (`target/{debug,release}/sluice`),
/// else under `./target`.
fn default_adapter() -> Result<PathBuf> {
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|target| target.join(ADAPTER)));
    beside_binary
        .into_iter()
        .chain([PathBuf::from("target").join(ADAPTER)])
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "no {ADAPTER} here: build it with `cargo build --target wasm32-wasip2 --release -p sluice-policy-upgrade`, or name it with --adapter"
            )
        })
}

fn upgrade_command(args: UpgradeArgs) -> Result<()> {
    let adapter_path = match args.adapter {
        Some(path) => path,
        None => default_adapter()?,
    };
    let adapter = std::fs::read(&adapter_path)
        .with_context(|| format!("reading {}", adapter_path.display()))?;
    let policy = std::fs::read(&args.policy)
        .with_context(|| format!("reading {}", args.policy.display()))?;
    let upgraded = sluice_host::compose::compose(
        &adapter,
        vec![sluice_host::compose::Dependency {
            name: "sluice:policy/rollout@0.1.0".into(),
            bytes: policy,
            export: None,
        }],
        false,
    )
    .with_context(|| {
        format!(
            "{} is not a sluice:policy 0.1.0 policy component",
            args.policy.display()
        )
    })?;
    std::fs::write(&args.out, &upgraded)
        .with_context(|| format!("writing {}", args.out.display()))?;
    // What was written must load as a 0.2.0 policy, or it is no use.
    WasmPolicy::load(&args.out)?;
    if args.format.document(&serde_json::json!({
        "wrote": args.out, "from": args.policy, "interface": "sluice:policy/rollout@0.2.0",
        "describes_itself": false,
    }))? {
        return Ok(());
    }
    println!(
        "wrote {}: {} as a sluice:policy 0.2.0 policy (it does not describe itself)",
        args.out.display(),
        args.policy.display()
    );
    Ok(())
}

fn hours(h: Option<f64>) -> String {
    h.map(|h| format!("after {h:.1} h"))
        .unwrap_or_else(|| "never reached".into())
}

fn simulate_command(args: SimulateArgs) -> Result<()> {
    if let Some(plot) = &args.plot
        && plot.extension().is_none_or(|e| e != "svg")
    {
        bail!("--plot writes SVG: name the file *.svg");
    }
    if !(0.0..=1.0).contains(&args.fail_rate) || !(0.0..=1.0).contains(&args.battery_share) {
        bail!("--fail-rate and --battery-share are shares between 0 and 1");
    }
    if args.devices == 0 || !(args.days > 0.0 && args.days <= 366.0) {
        bail!("--devices must be at least 1 and --days between 0 and 366");
    }
    let config = match &args.policy {
        Some(text) => policy_config::parse(text)?.to_string(),
        None => "{}".to_owned(),
    };
    let policy = WasmPolicy::load(&args.component)?;
    policy.validate(&config).map_err(|e| {
        anyhow::anyhow!(
            "the policy refuses {}: {e}",
            args.policy.as_deref().unwrap_or("its defaults")
        )
    })?;
    let start = match &args.start {
        Some(text) => u64::try_from(parse_instant(text).map_err(anyhow::Error::msg)?)
            .context("--start is before 1970")?,
        None => crate::timestamps::now(),
    };
    let mut scenario = Scenario {
        devices: args.devices,
        fail_rate: args.fail_rate,
        config,
        critical: args.critical,
        start,
        days: args.days,
        poll_seconds: u32::try_from(args.poll.as_secs().max(1)).unwrap_or(u32::MAX),
        battery_share: args.battery_share,
        seed: args.seed,
        ..Scenario::default()
    };
    if !args.utc_offsets.is_empty() {
        scenario.utc_offsets = args.utc_offsets.clone();
    }

    let began = Instant::now();
    let report = simulate(&policy, &scenario);
    let seconds = began.elapsed().as_secs_f64();

    args.format
        .say(curve_plot::text(&report, 72, 12).trim_end());
    args.format.say(format!(
        "{} devices, {} simulated days, {}% of installs failing: {}",
        report.fleet,
        args.days,
        args.fail_rate * 100.0,
        match (&report.reason, report.halted_at_hours) {
            (Some(reason), Some(at)) if report.rolled_back =>
                format!("rolled back after {at:.1} h: {reason}"),
            (Some(reason), Some(at)) => format!("halted after {at:.1} h: {reason}"),
            _ => format!("not halted; reached stage {}", report.stage),
        }
    ));
    args.format.say(format!(
        "  installed by {} devices ({:.2}% of the fleet), running on {} ({:.2}%), failed on {}",
        report.exposed,
        report.exposed_fraction * 100.0,
        report.updated,
        report.updated_fraction * 100.0,
        report.failed
    ));
    args.format.say(format!(
        "  50% of the fleet {}, 90% {}, 99% {}",
        hours(report.hours_to_50),
        hours(report.hours_to_90),
        hours(report.hours_to_99)
    ));
    args.format.say(format!(
        "  offers in blackouts: {}, outside maintenance windows: {}; peak concurrency {}{}",
        report.blackout_offers,
        report.out_of_window_offers,
        report.peak_concurrency,
        report
            .concurrency_cap
            .map(|c| format!(" (cap {c})"))
            .unwrap_or_default()
    ));
    if !report.described {
        args.format.say(
            "  the policy does not describe itself: offers were not checked against its windows, blackouts or cap",
        );
    }
    let deferrals: Vec<String> = report
        .deferrals
        .iter()
        .map(|(why, n)| format!("{why} {n}"))
        .collect();
    args.format.say(format!(
        "  deferrals: {}; {} decide and {} review calls in {seconds:.1} s",
        if deferrals.is_empty() {
            "none".into()
        } else {
            deferrals.join(", ")
        },
        report.decide_calls,
        report.review_calls
    ));
    if let Some(path) = &args.plot {
        let title = format!(
            "{} on {} devices, {}% failing",
            args.component
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            report.fleet,
            args.fail_rate * 100.0
        );
        std::fs::write(path, curve_plot::svg(&report, &title))
            .with_context(|| format!("writing {}", path.display()))?;
        args.format
            .say(format!("  rollout curve: {}", path.display()));
    }
    let mut value = serde_json::to_value(&report)?;
    if let Some(object) = value.as_object_mut() {
        object.remove("curve");
        object.insert("seconds".into(), serde_json::json!(seconds));
    }
    args.format.document(&value)?;
    Ok(())
}
