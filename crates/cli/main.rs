//! `sluice`: the operator's and device engineer's command line for Sluice, an
//! over-the-air firmware-update service.
//!
//! Offline work (keys, packing and verifying releases) needs no server.

mod atomic_file;
mod audit;
mod bench;
mod byte_size;
mod campaign;
mod client;
mod conformance;
mod curve_plot;
mod demo;
mod device;
mod duration;
mod fleet;
mod freeze;
mod keydir;
mod keygen;
mod operator;
mod output;
mod policy;
mod policy_config;
mod release;
mod sim;
mod timestamps;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "sluice",
    version,
    about = "Staged, signed, resumable firmware updates for device fleets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a root key, a signing key certified by it, and the public trust material.
    Keygen(keygen::Args),
    /// Pack, verify and publish releases.
    #[command(subcommand)]
    Release(release::Command),
    /// Create, watch and steer rollout campaigns.
    #[command(subcommand)]
    Campaign(campaign::Command),
    /// Fleet-wide change freezes: no offers and no installs while one holds.
    #[command(subcommand)]
    Freeze(freeze::Command),
    /// Operators and service accounts, each with its own scoped, expiring token.
    #[command(subcommand)]
    Operator(operator::Command),
    /// Check the audit log's hash chain, or export it as JSON lines.
    #[command(subcommand)]
    Audit(audit::Command),
    /// The reference device agent (A/B slots in a directory, verified
    /// resumable updates); `enrol`, `list` and `revoke` manage the server's
    /// records of devices.
    Device(device::Args),
    /// The fleet in counts: devices by hardware, version and when last heard from.
    Fleet(fleet::FleetArgs),
    /// A simulated fleet against a server, with failure injection and a summary.
    Sim(sim::Args),
    /// Run spin.toml locally: builds missing components, then serves it.
    Up(up::Args),
    /// Measure check-in, hello and chunk throughput against a native baseline, wasmtime serve and nginx.
    Bench(bench::Args),
    /// Check rollout policy components before they touch a device.
    #[command(subcommand)]
    Policy(policy::Command),
    /// Watch a whole staged rollout on this machine: host, release, campaign and fleet in one command.
    Demo(demo::Args),
    /// Check a running deployment's key flows (enrol, publish, a staged
    /// rollout, exact counts, halt, rollback, DDI, metrics), on one or more
    /// hosts sharing a store.
    Conformance(conformance::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Release(command) => release::run(command),
        Command::Up(args) => up::run(args),
        Command::Campaign(command) => campaign::run(command),
        Command::Freeze(command) => freeze::run(command),
        Command::Audit(command) => audit::run(command),
        Command::Operator(command) => operator::run(command),
        Command::Device(args) => device::run(args),
        Command::Fleet(args) => fleet::run_fleet(args),
        Command::Sim(args) => sim::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Policy(command) => policy::run(command),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
