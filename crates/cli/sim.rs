//! `sluice sim`: a simulated fleet against a real server (see `sluice_device::sim`).

use sluice_api::admin::devices::{EnrolAnswer, EnrolRequest, EnrolledDevice, MAX_ENROL, NewDevice};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sluice_api::checkin::Telemetry;
use sluice_device::sim::{self, CrashModel, Faults, SimDevice, Until, fraction};
use sluice_protocol::TrustRoot;

use crate::client::{Client, ServerArgs};
use crate::output::Format;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// How many devices to simulate (enrolled first, as PREFIX-0, PREFIX-1, ...).
    #[arg(long, default_value_t = 100)]
    devices: usize,
    /// Hardware ids and their shares, e.g. cam-v2=0.9,doorbell=0.1.
    #[arg(long, default_value = "cam-v2")]
    hardware_mix: String,
    /// Share of devices whose update fails to boot (health check fails; they revert).
    #[arg(long, default_value_t = 0.0)]
    fail_rate: f64,
    /// Probability that any one request is lost.
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Probability that a download is cut part-way by a power loss.
    #[arg(long, default_value_t = 0.0)]
    power_loss_rate: f64,
    /// Crashes per device-hour before the update; devices then report
    /// post-update health (0: they keep no counters).
    #[arg(long, default_value_t = 0.0)]
    crash_rate: f64,
    /// The update multiplies the crash rate by this (e.g. 3: a regression).
    #[arg(long, default_value_t = 1.0)]
    crash_factor: f64,
    /// How long post-update health is measured, before and after the update.
    #[arg(long, default_value = "30s", value_parser = crate::duration::parse)]
    health_period: Duration,
    /// Battery levels, LOW-HIGH percent, spread over the fleet (e.g. 10-100).
    #[arg(long)]
    battery: Option<String>,
    /// UTC offsets in minutes, assigned round-robin (e.g. -300,0,60).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    utc_offsets: Vec<i16>,
    /// The version every device starts with.
    #[arg(long, default_value = "1.0.0")]
    version: String,
    /// The security version of the image every device starts with.
    #[arg(long, value_name = "N", default_value_t = 0)]
    security_version: u64,
    /// The trust root devices verify against (trust.json).
    #[arg(long, value_name = "FILE")]
    trust: PathBuf,
    /// Device id prefix.
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// Stop once nothing has happened for this long.
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse)]
    settle: Duration,
    /// Stop after this long in any case.
    #[arg(long, default_value = "10m", value_parser = crate::duration::parse)]
    timeout: Duration,
    /// Worker threads stepping devices.
    #[arg(long, default_value_t = 32)]
    workers: usize,
    #[command(flatten)]
    format: Format,
}

fn parse_mix(text: &str) -> Result<Vec<(String, f64)>> {
    let mut mix = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (hw, share) = match part.split_once('=') {
            Some((hw, share)) => (
                hw,
                share
                    .parse::<f64>()
                    .with_context(|| format!("--hardware-mix {part:?}"))?,
            ),
            None => (part, 1.0),
        };
        if share <= 0.0 {
            bail!("--hardware-mix {part:?}: shares must be positive");
        }
        mix.push((hw.to_owned(), share));
    }
    if mix.is_empty() {
        bail!("--hardware-mix names no hardware");
    }
    Ok(mix)
}

fn hardware_for(mix: &[(String, f64)], index: usize, count: usize) -> String {
    let total: f64 = mix.iter().map(|(_, s)| s).sum();
    let position = (index as f64 + 0.5) / count.max(1) as f64 * total;
    let mut cumulative = 0.0;
    for (hw, share) in mix {
        cumulative += share;
        if position < cumulative {
            return hw.clone();
        }
    }
    mix[mix.len() - 1].0.clone()
}

/// What a simulated fleet is like.
pub struct FleetShape<'a> {
    pub count: usize,
    pub prefix: &'a str,
    pub mix: &'a [(String, f64)],
    /// Battery levels LOW-HIGH percent, spread over the fleet.
    pub battery: Option<(u8, u8)>,
    /// Assigned round-robin.
    pub utc_offsets: &'a [i16],
    /// Share of devices whose updates fail to boot.
    pub fail_rate: f64,
}

/// Enrols the fleet (1,000 devices per request) and describes each device for
/// the simulator.
pub fn enrol(client: &Client, shape: &FleetShape) -> Result<Vec<SimDevice>> {
    let mut devices = Vec::with_capacity(shape.count);
    let ids: Vec<String> = (0..shape.count)
        .map(|i| format!("{}-{i}", shape.prefix))
        .collect();
    for (batch_no, batch) in ids.chunks(MAX_ENROL).enumerate() {
        let request = EnrolRequest {
            devices: batch
                .iter()
                .enumerate()
                .map(|(j, id)| {
                    NewDevice::new(
                        id.as_str(),
                        hardware_for(shape.mix, batch_no * MAX_ENROL + j, shape.count),
                    )
                })
                .collect(),
        };
        let enrolled: EnrolAnswer = client
            .post("/v1/admin/devices", &request)
            .context("enrolling the simulated devices (use another --prefix if they exist)")?;
        for (j, EnrolledDevice { id, secret }) in enrolled.devices.into_iter().enumerate() {
            let index = batch_no * MAX_ENROL + j;
            devices.push(SimDevice {
                secret,
                hardware: hardware_for(shape.mix, index, shape.count),
                telemetry: Telemetry {
                    battery_percent: shape.battery.map(|(low, high)| {
                        low + (fraction(&id, 7) * f64::from(high - low + 1))
                            .min(f64::from(high - low)) as u8
                    }),
                    utc_offset_minutes: (!shape.utc_offsets.is_empty())
                        .then(|| shape.utc_offsets[index % shape.utc_offsets.len()]),
                    ..Telemetry::default()
                },
                fails_health: fraction(&id, 1) < shape.fail_rate,
                id,
            });
        }
    }
    Ok(devices)
}

pub fn run(args: Args) -> Result<()> {
    let mix = parse_mix(&args.hardware_mix)?;
    let battery = match &args.battery {
        Some(text) => {
            let (low, high) = text.split_once('-').context("--battery LOW-HIGH")?;
            let (low, high): (u8, u8) = (low.parse()?, high.parse()?);
            if low > high || high > 100 {
                bail!("--battery {text}: LOW-HIGH within 0-100");
            }
            Some((low, high))
        }
        None => None,
    };
    let trust = TrustRoot::from_json(
        &std::fs::read(&args.trust).with_context(|| format!("reading {}", args.trust.display()))?,
    )?;
    let client = Client::new(&args.server)?;
    let devices = enrol(
        &client,
        &FleetShape {
            count: args.devices,
            prefix: &args.prefix,
            mix: &mix,
            battery,
            utc_offsets: &args.utc_offsets,
            fail_rate: args.fail_rate,
        },
    )?;

    let fleet = sim::Fleet {
        server: args.server.server.clone(),
        devices,
        version: args.version.clone(),
        security_version: args.security_version,
        trust,
        faults: Faults {
            drop_rate: args.drop_rate,
            power_loss_rate: args.power_loss_rate,
        },
        crashes: CrashModel {
            per_hour: args.crash_rate,
            factor_after_update: args.crash_factor,
            period_seconds: args.health_period.as_secs().max(1),
        },
        until: Until {
            settled: args.settle,
            timeout: args.timeout,
        },
        workers: args.workers,
    };
    let summary = sim::run(fleet, |s| {
        eprintln!(
            "[{:>5.1}s] offered {} succeeded {} failed {} rolled back {} rejected {} downloading peak {}",
            s.seconds,
            s.offered,
            s.succeeded,
            s.failed,
            s.rolled_back,
            s.rejected,
            s.peak_concurrent_downloads
        );
    });
    args.format.say(summary_line(&summary));
    args.format.document(&summary)?;
    Ok(())
}

/// The one-line human summary of a simulated run.
pub fn summary_line(summary: &sim::Summary) -> String {
    let versions: Vec<String> = summary
        .versions
        .iter()
        .map(|(v, n)| format!("{v}: {n}"))
        .collect();
    format!(
        "{} devices in {:.1} s{}: offered {}, succeeded {}, failed {}, rolled back {}, rejected {}; peak {} concurrent downloads, {} downloaded; versions {}",
        summary.devices,
        summary.seconds,
        if summary.settled {
            ""
        } else {
            " (timed out before the fleet settled)"
        },
        summary.offered,
        summary.succeeded,
        summary.failed,
        summary.rolled_back,
        summary.rejected,
        summary.peak_concurrent_downloads,
        crate::byte_size::format(summary.bytes_downloaded),
        versions.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_mix_assigns_shares() {
        let mix = parse_mix("a=0.75,b=0.25").unwrap();
        let a = (0..100)
            .filter(|i| hardware_for(&mix, *i, 100) == "a")
            .count();
        assert_eq!(a, 75);
        assert_eq!(hardware_for(&parse_mix("x").unwrap(), 5, 10), "x");
        assert!(parse_mix("a=0").is_err());
        assert!(parse_mix("a=x").is_err());
    }
}
