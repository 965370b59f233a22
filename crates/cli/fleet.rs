//! The fleet through the admin API: `sluice fleet` (the counts) and `sluice
//! device enrol|list|revoke` (devices one by one).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use sluice_api::admin::devices::{EnrolAnswer, EnrolRequest, NewDevice, Revoked};
use sluice_api::admin::fleet::{Cursor, DeviceRow, DeviceSearch, FleetSummary, Liveness};
use sluice_api::admin::operators::RevokeRequest;

use crate::client::{Client, ServerArgs};
use crate::timestamps;

/// `sluice fleet`.
#[derive(clap::Args, Debug)]
pub struct FleetArgs {
    /// Print the server's answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `sluice device enrol|list|revoke`: the server's records of devices (the
/// agent itself is `sluice device --server …`).
#[derive(clap::Subcommand, Debug)]
pub enum DeviceCommand {
    /// Enrol a device and print its secret, once (the server keeps only its
    /// digest): the secret on the last line, alone.
    Enrol(EnrolArgs),
    /// List devices whose id, hardware, tag or version contains every word of
    /// the query (all devices without one).
    List(ListArgs),
    /// Revoke a device: its secret opens nothing any more (audited).
    Revoke(RevokeArgs),
}

#[derive(clap::Args, Debug)]
pub struct EnrolArgs {
    /// The device's id.
    id: String,
    /// Its hardware id (a release installs on the hardware it names).
    #[arg(long)]
    hardware: String,
    /// A tag campaigns and freezes can select on (repeatable).
    #[arg(long)]
    tag: Vec<String>,
    /// A fact campaigns can select on, NAME=VALUE (repeatable), e.g. site=berlin.
    #[arg(long, value_name = "NAME=VALUE", value_parser = attribute)]
    attribute: Vec<(String, String)>,
    /// Print the server's answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

fn attribute(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?}: expected NAME=VALUE"))
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Words every listed device matches (id, hardware, tag or version).
    #[arg(default_value = "")]
    query: Vec<String>,
    /// List at most this many.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    /// Print one JSON object a device instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    /// The device's id.
    id: String,
    /// Why (kept with the revocation and in the audit log).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run_fleet(args: FleetArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    if args.json {
        println!(
            "{}",
            client.raw_json("GET", "/v1/admin/fleet", None::<&()>)?
        );
        return Ok(());
    }
    let fleet: FleetSummary = client.get("/v1/admin/fleet")?;
    let l = &fleet.liveness;
    println!(
        "{} devices{}: {} online, {} late, {} silent, {} never checked in, {} revoked",
        fleet.devices,
        if l.sampled {
            format!(" (liveness estimated from {})", l.scanned)
        } else {
            String::new()
        },
        l.online,
        l.late,
        l.silent,
        l.never,
        l.revoked
    );
    println!("  hardware: {}", counts(&fleet.hardware));
    println!("  versions: {}", counts(&fleet.versions));
    Ok(())
}

fn counts(counts: &BTreeMap<String, i64>) -> String {
    if counts.is_empty() {
        return "none".to_owned();
    }
    let mut sorted: Vec<_> = counts.iter().collect();
    sorted.sort_by_key(|(name, n)| (std::cmp::Reverse(**n), name.as_str()));
    let text: Vec<String> = sorted
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    text.join(", ")
}

pub fn run_device(command: DeviceCommand) -> Result<()> {
    match command {
        DeviceCommand::Enrol(args) => enrol(args),
        DeviceCommand::List(args) => list(args),
        DeviceCommand::Revoke(args) => revoke(args),
    }
}

fn enrol(args: EnrolArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let request = EnrolRequest {
        devices: vec![NewDevice {
            tags: args.tag,
            attributes: args.attribute.into_iter().collect(),
            ..NewDevice::new(args.id, args.hardware)
        }],
    };
    if args.json {
        println!(
            "{}",
            client.raw_json("POST", "/v1/admin/devices", Some(&request))?
        );
        return Ok(());
    }
    let answer: EnrolAnswer = client.post("/v1/admin/devices", &request)?;
    let Some(device) = answer.devices.into_iter().next() else {
        bail!("the server enrolled nothing");
    };
    println!(
        "device {} enrolled; its secret, shown this once (give it to the device: sluice device --secret, or SLUICE_DEVICE_SECRET):",
        device.id
    );
    println!("{}", device.secret);
    Ok(())
}

fn list(args: ListArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let query = args.query.join(" ");
    let mut next: Option<Cursor> = None;
    let mut listed = 0;
    if !args.json {
        println!(
            "{:<24} {:<12} {:<10} {:<8} {:<20} rollout",
            "device", "hardware", "version", "seen", "when"
        );
    }
    loop {
        let mut path = format!(
            "/v1/admin/devices?q={}&limit={}",
            query_text(&query),
            args.limit.clamp(1, 500)
        );
        if let Some(cursor) = &next {
            path.push('&');
            path.push_str(&cursor.query());
        }
        let page: DeviceSearch = client.get(&path)?;
        for device in &page.devices {
            if listed == args.limit {
                return Ok(());
            }
            listed += 1;
            if args.json {
                println!("{}", serde_json::to_string(device).context("encoding")?);
            } else {
                println!("{}", row(device));
            }
        }
        match page.next {
            Some(cursor) => next = Some(cursor),
            None => return Ok(()),
        }
    }
}

/// A query as a URL query value: words joined by `+`, anything but letters,
/// digits and `-._~` percent-encoded.
fn query_text(query: &str) -> String {
    let mut out = String::new();
    for byte in query.trim().bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn row(d: &DeviceRow) -> String {
    let liveness = if d.revoked {
        "revoked"
    } else {
        match d.liveness {
            Liveness::Online => "online",
            Liveness::Late => "late",
            Liveness::Silent => "silent",
            Liveness::Never => "never",
        }
    };
    let seen = d.seen_at.map(timestamps::format).unwrap_or_default();
    let rollout = match (&d.campaign, d.phase) {
        (Some(campaign), Some(phase)) => format!("{campaign} {}", phase.as_str()),
        (Some(campaign), None) => campaign.clone(),
        _ => String::new(),
    };
    let version = if d.version.is_empty() {
        "-"
    } else {
        &d.version
    };
    format!(
        "{:<24} {:<12} {:<10} {:<8} {:<20} {rollout}",
        d.id, d.hardware, version, liveness, seen
    )
}

fn revoke(args: RevokeArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let answer: Revoked = client.post(
        &format!("/v1/admin/devices/{}/revoke", args.id),
        &RevokeRequest {
            reason: args.reason,
        },
    )?;
    match answer.revoked {
        Some(r) => println!(
            "device {} revoked by {} at {}: {}",
            answer.id,
            r.by,
            timestamps::format(r.at),
            r.reason
        ),
        None => bail!("the server did not revoke device {}", answer.id),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::query_text;

    #[test]
    fn a_query_is_sent_as_words_and_escapes() {
        assert_eq!(query_text(" cam-v2 1.0 "), "cam-v2+1.0");
        assert_eq!(query_text("a&b=c"), "a%26b%3Dc");
        assert_eq!(query_text(""), "");
    }
}
