//! The fleet through the admin API: `sluice fleet` (the counts) and `sluice
//! device enrol|list|show|revoke` (devices one by one).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use sluice_api::admin::devices::{
    DeviceDetail, EnrolAnswer, EnrolRequest, Event, EventKind, NewDevice, Revoked,
};
use sluice_api::admin::fleet::{Cursor, DeviceRow, DeviceSearch, FleetSummary, Liveness};
use sluice_api::admin::operators::RevokeRequest;

use crate::client::{Client, NO_BODY, ServerArgs};
use crate::output::Format;
use crate::timestamps;

/// `sluice fleet`.
#[derive(clap::Args, Debug)]
pub struct FleetArgs {
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

/// `sluice device enrol|list|show|revoke`: the server's records of devices (the
/// agent itself is `sluice device --server …`).
#[derive(clap::Subcommand, Debug)]
pub enum DeviceCommand {
    /// Enrol a device and print its secret, once (the server keeps only its
    /// digest): the secret on the last line, alone.
    Enrol(EnrolArgs),
    /// List devices whose id, hardware, tag or version contains every word of
    /// the query (all devices without one).
    List(ListArgs),
    /// Show one device: who it is, what it runs, its latest rollout and its
    /// recent history.
    Show(ShowArgs),
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
    #[command(flatten)]
    format: Format,
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
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The device's id.
    id: String,
    #[command(flatten)]
    format: Format,
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
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run_fleet(args: FleetArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let Some(fleet) =
        client.answer::<FleetSummary>(args.format, "GET", "/v1/admin/fleet", NO_BODY)?
    else {
        return Ok(());
    };
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
        DeviceCommand::Show(args) => show(args),
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
    let Some(answer) =
        client.answer::<EnrolAnswer>(args.format, "POST", "/v1/admin/devices", Some(&request))?
    else {
        return Ok(());
    };
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

/// `sluice device list --json`: the devices listed, every page in one document.
#[derive(serde::Serialize)]
struct Listed {
    devices: Vec<DeviceRow>,
}

fn list(args: ListArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let query = args.query.join(" ");
    let mut next: Option<Cursor> = None;
    let mut listed = Listed {
        devices: Vec::new(),
    };
    if !args.format.json {
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
        let room = args.limit - listed.devices.len();
        let full = page.devices.len() >= room;
        for device in page.devices.into_iter().take(room) {
            if !args.format.json {
                println!("{}", row(&device));
            }
            listed.devices.push(device);
        }
        match page.next {
            Some(cursor) if !full => next = Some(cursor),
            _ => break,
        }
    }
    args.format.document(&listed)?;
    Ok(())
}

fn show(args: ShowArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let path = format!("/v1/admin/devices/{}", args.id);
    let Some(d) = client.answer::<DeviceDetail>(args.format, "GET", &path, NO_BODY)? else {
        return Ok(());
    };
    println!(
        "device {} ({}), enrolled {}",
        d.id,
        d.hardware,
        timestamps::format(d.enrolled_at)
    );
    if let Some(r) = &d.revoked {
        println!(
            "  revoked by {} at {}: {}",
            r.by,
            timestamps::format(r.at),
            r.reason
        );
    }
    if !d.tags.is_empty() {
        println!("  tags: {}", d.tags.join(", "));
    }
    for (name, value) in &d.attributes {
        println!("  {name}: {value}");
    }
    let state = d.state.unwrap_or_default();
    let version = if state.version.is_empty() {
        "not reported yet"
    } else {
        &state.version
    };
    println!(
        "  runs {version} (security version {})",
        state.security_version
    );
    match &d.seen {
        Some(seen) => println!("  last check-in {}", timestamps::format(seen.at)),
        None => println!("  never checked in"),
    }
    match &state.rollout {
        Some(r) => println!(
            "  latest rollout: campaign {}, release {} from {}, {} (updated {}){}",
            r.campaign,
            r.release,
            r.from_version,
            r.phase.as_str(),
            timestamps::format(r.updated_at),
            r.failure
                .as_ref()
                .map(|f| format!(": {} in {}", f.code, f.phase))
                .unwrap_or_default()
        ),
        None => println!("  never offered an update"),
    }
    if !state.history.is_empty() {
        println!("  history, latest first:");
    }
    for event in state.history.iter().rev() {
        println!("    {}", history_line(event));
    }
    Ok(())
}

/// One history event for people.
fn history_line(e: &Event) -> String {
    let what = match (e.what, e.what.phase()) {
        (EventKind::Version, _) => format!("reported running {}", e.version),
        (EventKind::Health, _) => format!("health reported for {}", e.version),
        (_, Some(phase)) => format!("{} {}", phase.as_str(), e.version),
        (_, None) => String::new(),
    };
    let campaign = if e.campaign.is_empty() {
        String::new()
    } else {
        format!(" (campaign {})", e.campaign)
    };
    let failure = e
        .failure
        .as_ref()
        .map(|f| format!(": {} in {}", f.code, f.phase))
        .unwrap_or_default();
    format!("{} {what}{campaign}{failure}", timestamps::format(e.at))
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
    let Some(answer) = client.answer::<Revoked>(
        args.format,
        "POST",
        &format!("/v1/admin/devices/{}/revoke", args.id),
        Some(&RevokeRequest {
            reason: args.reason,
        }),
    )?
    else {
        return Ok(());
    };
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
