//! `sluice bench`: the benchmark harness (see the `sluice-bench` crate).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::output::Format;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Devices in the store for the main check-in figures.
    #[arg(long, default_value_t = 100_000)]
    devices: usize,
    /// Skip growing the store to 1,000,000 devices (no checkin_p50_1m_ms).
    #[arg(long)]
    no_million: bool,
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Connections for the overload figure: 10,000 devices checking in at once
    /// (0 skips it).
    #[arg(long, default_value_t = 2000)]
    overload_connections: usize,
    /// The host's --max-concurrent for the overload figure (default: its own).
    #[arg(long, value_name = "N")]
    overload_max_concurrent: Option<usize>,
    /// How long each measurement runs (after a one-second warm-up).
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse)]
    duration: Duration,
    /// The application manifest.
    #[arg(long, short = 'f', default_value = "spin.toml")]
    from: PathBuf,
    /// Do not build missing or stale components first.
    #[arg(long)]
    no_build: bool,
    #[command(flatten)]
    format: Format,
}

pub fn run(args: Args) -> Result<()> {
    let dir = args
        .from
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let options = sluice_bench::Options {
        hello_manifest: dir.join("tests/fixtures/hello/spin.toml"),
        manifest: args.from,
        devices: args.devices.max(1000),
        million: !args.no_million,
        connections: args.connections.max(1),
        overload_connections: args.overload_connections,
        overload_max_concurrent: args.overload_max_concurrent,
        warmup: Duration::from_secs(1),
        duration: args.duration,
        build: !args.no_build,
    };
    let report = sluice_bench::run(&options, |step| eprintln!("bench: {step}"))?;
    let ms = |v: f64| format!("{v:.2} ms");
    let optional = |v: Option<f64>, unit: &str| {
        v.map(|v| format!("{v:.0} {unit}"))
            .unwrap_or_else(|| "not measured".into())
    };
    args.format.say(format!(
        "{} devices, {} connections, {} s per measurement, {} CPUs",
        report.devices, report.connections, report.seconds_per_measurement, report.cpus
    ));
    args.format.say(format!(
        "check-in via sluice up   {:>8.0} req/s  p50 {}  p99 {}  ({} errors)",
        report.checkin_rps,
        ms(report.checkin_p50_ms),
        ms(report.checkin_p99_ms),
        report.checkin_errors
    ));
    args.format.say(format!(
        "check-in native          {:>8.0} req/s  p50 {}  p99 {}  (Wasm/native {:.2})",
        report.native_checkin_rps,
        ms(report.native_checkin_p50_ms),
        ms(report.native_checkin_p99_ms),
        report.wasm_to_native
    ));
    args.format.say(format!(
        "hello via sluice up      {:>8.0} req/s  p50 {}",
        report.hello_rps,
        ms(report.hello_p50_ms)
    ));
    args.format.say(format!(
        "hello via wasmtime serve {} (best flags), {} (pooling defaults)",
        optional(report.wasmtime_serve_hello_rps, "req/s"),
        optional(report.wasmtime_serve_default_hello_rps, "req/s")
    ));
    args.format.say(format!(
        "chunks via sluice up     1 MiB {:.0} MB/s, 256 KiB {:.0} MB/s",
        report.chunk_mbps, report.chunk_default_mbps
    ));
    args.format.say(format!(
        "chunks via nginx         1 MiB {}, 256 KiB {}",
        optional(report.nginx_mbps, "MB/s"),
        optional(report.nginx_default_mbps, "MB/s")
    ));
    args.format.say(format!(
        "check-in p50             1k devices {}, 1M devices {}",
        ms(report.checkin_p50_1k_ms),
        report
            .checkin_p50_1m_ms
            .map(ms)
            .unwrap_or_else(|| "not measured".into())
    ));
    args.format.say(format!(
        "store                    {:.0} bytes per device, {} bytes per campaign",
        report.bytes_per_device, report.bytes_per_campaign
    ));
    if let (Some(rps), Some(shed), Some(p99), Some(errors)) = (
        report.overload_served_rps,
        report.overload_shed_share,
        report.overload_p99_ms,
        report.overload_errors,
    ) {
        args.format.say(format!(
            "overload ({} conns, {} slots) {:>6.0} req/s served, {:.1}% shed with 503, p99 of served {}  ({} errors)",
            report.overload_connections,
            report.overload_max_concurrent,
            rps,
            shed * 100.0,
            ms(p99),
            errors
        ));
    }
    for missing in &report.missing {
        args.format.say(format!("missing: {missing}"));
    }
    args.format.document(&report)?;
    Ok(())
}
