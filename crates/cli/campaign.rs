//! `sluice campaign create|list|status|pause|resume|abort|rollback|override-freeze|approve|recount`,
//! and the second operator's `confirm-critical` and `confirm-override`.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::client::{Client, ServerArgs};
use crate::timestamps;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Start rolling a release out.
    Create(Box<CreateArgs>),
    /// List campaigns.
    List(ServerOnly),
    /// Show a campaign's progress.
    Status(StatusArgs),
    /// Stop new offers; devices already updating carry on.
    Pause(ActionArgs),
    /// Resume a paused or halted campaign.
    Resume(ActionArgs),
    /// Stop the campaign; devices still updating are told to stop.
    Abort(ActionArgs),
    /// Send devices that installed the release back to their previous version.
    Rollback(ActionArgs),
    /// Ask to let a critical campaign pass one change freeze (audited, with a
    /// reason); a second operator confirms it.
    OverrideFreeze(OverrideArgs),
    /// Confirm another operator's request to let a critical campaign pass a freeze.
    ConfirmOverride(ConfirmOverrideArgs),
    /// Confirm that a campaign another operator created critical is critical.
    ConfirmCritical(ActionArgs),
    /// Open the step a campaign waits to have approved (the ring or stage
    /// after a gate); never by the campaign's creator.
    Approve(ApproveArgs),
    /// Rebuild a campaign's counters from its devices' states: shows what
    /// differs; `--apply` corrects it (audited).
    Recount(RecountArgs),
}

#[derive(clap::Args, Debug)]
pub struct RecountArgs {
    /// Campaign id.
    id: String,
    /// Add the differences to the counters (without it, only show them).
    #[arg(long)]
    apply: bool,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct ServerOnly {
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The release (version) to roll out.
    #[arg(long)]
    release: String,
    /// Policy configuration: JSON, or @FILE. Default: the policy's own defaults.
    #[arg(long, value_name = "JSON|@FILE")]
    policy: Option<String>,
    /// Only devices of this hardware (repeatable).
    #[arg(long)]
    hardware: Vec<String>,
    /// Only devices with this tag (repeatable: all must match).
    #[arg(long)]
    tag: Vec<String>,
    /// Only this device (repeatable).
    #[arg(long)]
    device: Vec<String>,
    /// Only devices now running this version (repeatable).
    #[arg(long)]
    from_version: Vec<String>,
    /// Mark the campaign critical (e.g. a security fix).
    #[arg(long)]
    critical: bool,
    /// A name for people.
    #[arg(long, default_value = "")]
    name: String,
    /// No offers before this instant (RFC 3339, e.g. 2026-12-01T22:00:00Z, or unix seconds).
    #[arg(long, value_name = "TIME", value_parser = timestamps::parse)]
    start_at: Option<u64>,
    /// No new offers from this instant on; the campaign then ends.
    #[arg(long, value_name = "TIME", value_parser = timestamps::parse)]
    end_at: Option<u64>,
    /// A pilot ring, NAME=ID,ID,... (repeatable; rings open in order, before
    /// the policy's stages).
    #[arg(long, value_name = "NAME=IDS")]
    ring: Vec<String>,
    /// Wait for an operator's approval after this ring, or after stage:N
    /// (repeatable).
    #[arg(long, value_name = "RING|stage:N")]
    approve_after: Vec<String>,
    /// How long a ring soaks before it may close without devices that never
    /// took part.
    #[arg(long, value_name = "DURATION")]
    ring_soak: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct ApproveArgs {
    /// Campaign id.
    id: String,
    /// What you saw and why you approve (kept with the approval).
    #[arg(long, default_value = "")]
    note: String,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct OverrideArgs {
    /// Campaign id (a critical campaign).
    id: String,
    /// The freeze it may pass.
    #[arg(long)]
    freeze: String,
    /// Why it must (recorded in the audit log).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct ConfirmOverrideArgs {
    /// Campaign id.
    id: String,
    /// The freeze whose override you confirm.
    #[arg(long)]
    freeze: String,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Campaign id.
    id: String,
    /// Print the raw progress report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct ActionArgs {
    /// Campaign id.
    id: String,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Create(args) => create(*args),
        Command::List(args) => list(args),
        Command::Status(args) => status(args),
        Command::Pause(args) => action(args, "pause"),
        Command::Resume(args) => action(args, "resume"),
        Command::Abort(args) => action(args, "abort"),
        Command::Rollback(args) => action(args, "rollback"),
        Command::OverrideFreeze(args) => override_freeze(args),
        Command::ConfirmOverride(args) => confirm_override(args),
        Command::ConfirmCritical(args) => confirm_critical(args),
        Command::Approve(args) => approve(args),
        Command::Recount(args) => recount(args),
    }
}

fn recount(args: RecountArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let r = client.json(
        "POST",
        &format!("/v1/admin/campaigns/{}/recount", args.id),
        Some(&json!({"apply": args.apply})),
    )?;
    if args.json {
        println!("{r}");
        return Ok(());
    }
    let differences = r["differences"].as_array().cloned().unwrap_or_default();
    println!(
        "campaign {}: {} devices offered, among {} read",
        args.id, r["devices"], r["scanned"]
    );
    if r["without_history"].as_u64().unwrap_or(0) > 0 {
        println!(
            "  {} devices have no history for it: failure codes left as they are",
            r["without_history"]
        );
    }
    if differences.is_empty() {
        println!("  every counter matches");
    }
    for d in &differences {
        println!(
            "  {}: stored {}, counted {}",
            d["counter"].as_str().unwrap_or("?"),
            d["stored"],
            d["counted"]
        );
    }
    if !differences.is_empty() {
        if args.apply {
            println!("  corrected (audited as campaign.recount)");
        } else {
            println!("  run again with --apply to correct them");
        }
    }
    Ok(())
}

fn create(args: CreateArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let policy: Value = match &args.policy {
        None => json!({}),
        Some(text) => {
            let text = match text.strip_prefix('@') {
                Some(path) => {
                    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
                }
                None => text.clone(),
            };
            serde_json::from_str(&text).context("--policy is not JSON")?
        }
    };
    let mut body = json!({
        "release": args.release,
        "name": args.name,
        "critical": args.critical,
        "policy": policy,
        "selector": {"hardware": args.hardware, "tags": args.tag, "ids": args.device, "versions": args.from_version},
    });
    if let Some(start) = args.start_at {
        body["start_at"] = json!(start);
    }
    if let Some(end) = args.end_at {
        body["end_at"] = json!(end);
    }
    let (rings, approve_stages) =
        rings(&args.ring, &args.approve_after, args.ring_soak.as_deref())?;
    if !rings.is_empty() {
        body["rings"] = json!(rings);
    }
    if !approve_stages.is_empty() {
        body["approve_stages"] = json!(approve_stages);
    }
    let campaign = client.json("POST", "/v1/admin/campaigns", Some(&body))?;
    let id = campaign["id"].as_str().unwrap_or_default();
    let hardware: Vec<&str> = campaign["manifests"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    println!(
        "campaign {id} is rolling {} out to hardware {}{}",
        campaign["release"].as_str().unwrap_or("?"),
        hardware.join(","),
        schedule(&campaign)
    );
    if campaign["critical_pending"].as_bool() == Some(true) {
        println!(
            "it runs as an ordinary campaign until a second operator confirms that it is critical: sluice campaign confirm-critical {id}"
        );
    }
    println!("{id}");
    Ok(())
}

fn list(args: ServerOnly) -> Result<()> {
    let client = Client::new(&args.server)?;
    let reply = client.json("GET", "/v1/admin/campaigns", None)?;
    for c in reply["campaigns"].as_array().into_iter().flatten() {
        println!(
            "{:<6} {:<12} {:<12} stage {}  {}",
            c["id"].as_str().unwrap_or("?"),
            c["release"].as_str().unwrap_or("?"),
            c["state"].as_str().unwrap_or("?"),
            c["stage"],
            c["name"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

fn counts(c: &Value) -> String {
    format!(
        "offered {}, succeeded {}, failed {}, rolled back {}, rejected {}",
        c["offered"], c["succeeded"], c["failed"], c["rolled_back"], c["rejected"]
    )
}

fn status(args: StatusArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let p = client.json("GET", &format!("/v1/admin/campaigns/{}", args.id), None)?;
    if args.json {
        println!("{p}");
        return Ok(());
    }
    let c = &p["campaign"];
    println!(
        "campaign {} ({}): release {}, {}, stage {}",
        c["id"].as_str().unwrap_or("?"),
        c["name"].as_str().unwrap_or(""),
        c["release"].as_str().unwrap_or("?"),
        c["state"].as_str().unwrap_or("?"),
        c["stage"]
    );
    if let Some(reason) = c["reason"].as_str() {
        println!("  reason: {reason}");
    }
    let when = schedule(c);
    if !when.is_empty() {
        println!("  schedule: {}", when.trim_start_matches(", "));
    }
    let e = &p["estimate"];
    if let Some(remaining) = e["remaining"].as_u64() {
        match (e["seconds"].as_u64(), e["why_not"].as_str()) {
            (Some(seconds), _) => println!(
                "  {remaining} devices to go: about {} at the pace of the last {} min ({:.0} an hour)",
                timestamps::span(seconds),
                e["over_seconds"].as_u64().unwrap_or(0) / 60,
                e["per_hour"].as_f64().unwrap_or(0.0)
            ),
            (None, why) => println!(
                "  {remaining} devices to go; no estimate: {}",
                why.unwrap_or("?")
            ),
        }
    }
    if c["critical_pending"].as_bool() == Some(true) {
        println!(
            "  critical once a second operator confirms it (sluice campaign confirm-critical {}); ordinary until then",
            c["id"].as_str().unwrap_or("?")
        );
    }
    for o in c["freeze_overrides"].as_array().into_iter().flatten() {
        let pending = if o["pending"].as_bool() == Some(true) {
            ", waiting for a second operator's confirmation"
        } else {
            ""
        };
        println!(
            "  passes freeze {} ({}, asked by {}{pending})",
            o["freeze"].as_str().unwrap_or("?"),
            o["reason"].as_str().unwrap_or(""),
            o["by"].as_str().unwrap_or("?")
        );
    }
    println!(
        "  total: {}; in flight {}",
        counts(&p["total"]),
        p["in_flight"]
    );
    let names = p["steps"].as_array().cloned().unwrap_or_default();
    for (i, stage) in p["stages"].as_array().into_iter().flatten().enumerate() {
        let name = names
            .get(i)
            .and_then(Value::as_str)
            .map_or_else(|| format!("stage {i}"), str::to_owned);
        println!("  {name}: {}", counts(stage));
    }
    if let Some(gate) = c.get("waiting").filter(|g| g.is_object()) {
        println!(
            "  waiting since {} for an operator to approve {} after {} (sluice campaign approve {})",
            timestamps::format(gate["since"].as_u64().unwrap_or(0)),
            gate["opens"].as_str().unwrap_or("?"),
            gate["after"].as_str().unwrap_or("?"),
            c["id"].as_str().unwrap_or("?")
        );
    }
    for a in c["approvals"].as_array().into_iter().flatten() {
        println!(
            "  approved {} after {} by {} at {} ({}){}",
            a["opened"].as_str().unwrap_or("?"),
            a["after"].as_str().unwrap_or("?"),
            a["by"].as_str().unwrap_or("?"),
            timestamps::format(a["at"].as_u64().unwrap_or(0)),
            counts(&a["figures"]),
            a["note"]
                .as_str()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        );
    }
    if let Some(codes) = p["failure_codes"].as_object().filter(|m| !m.is_empty()) {
        let mut codes: Vec<_> = codes.iter().collect();
        codes.sort_by_key(|(_, n)| std::cmp::Reverse(n.as_i64().unwrap_or(0)));
        let text: Vec<String> = codes
            .iter()
            .map(|(code, n)| format!("{code} ×{n}"))
            .collect();
        println!("  failures: {}", text.join(", "));
    }
    if let Some(versions) = p["versions"].as_object().filter(|m| !m.is_empty()) {
        let text: Vec<String> = versions.iter().map(|(v, n)| format!("{v}: {n}")).collect();
        println!("  fleet versions: {}", text.join(", "));
    }
    Ok(())
}

/// ", from T" / ", until T" for a scheduled campaign; empty otherwise.
fn schedule(c: &Value) -> String {
    let mut text = String::new();
    if let Some(start) = c["start_at"].as_u64() {
        text.push_str(&format!(", from {}", timestamps::format(start)));
    }
    if let Some(end) = c["end_at"].as_u64() {
        text.push_str(&format!(", until {}", timestamps::format(end)));
    }
    text
}

/// `--ring NAME=IDS` and `--approve-after` as the API's rings and gated stages.
fn rings(
    specs: &[String],
    approve_after: &[String],
    soak: Option<&str>,
) -> Result<(Vec<Value>, Vec<u32>)> {
    let mut rings = Vec::new();
    for spec in specs {
        let (name, ids) = spec
            .split_once('=')
            .with_context(|| format!("--ring {spec:?}: expected NAME=ID,ID,..."))?;
        let ids: Vec<&str> = ids.split(',').filter(|id| !id.is_empty()).collect();
        let mut ring = json!({"name": name, "ids": ids,
                              "approve": approve_after.iter().any(|a| a == name)});
        if let Some(soak) = soak {
            ring["soak"] = json!(soak);
        }
        rings.push(ring);
    }
    let mut stages = Vec::new();
    for gate in approve_after {
        if let Some(n) = gate.strip_prefix("stage:") {
            stages.push(
                n.parse::<u32>()
                    .with_context(|| format!("--approve-after {gate:?}: expected stage:N"))?,
            );
        } else if !specs
            .iter()
            .any(|s| s.split_once('=').is_some_and(|(name, _)| name == gate))
        {
            anyhow::bail!("--approve-after {gate:?}: no --ring of that name (or use stage:N)");
        }
    }
    Ok((rings, stages))
}

fn approve(args: ApproveArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let body = json!({"note": args.note});
    let c = client.json(
        "POST",
        &format!("/v1/admin/campaigns/{}/approve", args.id),
        Some(&body),
    )?;
    if let Some(a) = c["approvals"].as_array().and_then(|a| a.last()) {
        println!(
            "approved {} after {} ({})",
            a["opened"].as_str().unwrap_or("?"),
            a["after"].as_str().unwrap_or("?"),
            counts(&a["figures"])
        );
    }
    Ok(())
}

fn override_freeze(args: OverrideArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let body = json!({"freeze": args.freeze, "reason": args.reason});
    let c = client.json(
        "POST",
        &format!("/v1/admin/campaigns/{}/override-freeze", args.id),
        Some(&body),
    )?;
    let pending = c["freeze_overrides"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|o| o["freeze"] == args.freeze.as_str() && o["pending"].as_bool() == Some(true));
    if pending {
        println!(
            "asked to let campaign {} pass freeze {}: it does once a second operator confirms (sluice campaign confirm-override {} --freeze {})",
            args.id, args.freeze, args.id, args.freeze
        );
    } else {
        println!("campaign {} may pass freeze {}", args.id, args.freeze);
    }
    Ok(())
}

fn confirm_override(args: ConfirmOverrideArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    client.json(
        "POST",
        &format!("/v1/admin/campaigns/{}/confirm-override", args.id),
        Some(&json!({"freeze": args.freeze})),
    )?;
    println!("campaign {} may pass freeze {}", args.id, args.freeze);
    Ok(())
}

fn confirm_critical(args: ActionArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let c = client.json(
        "POST",
        &format!("/v1/admin/campaigns/{}/confirm-critical", args.id),
        None,
    )?;
    println!(
        "campaign {} is critical, confirmed by {}",
        args.id,
        c["critical_confirmed"]["by"].as_str().unwrap_or("?")
    );
    Ok(())
}

fn action(args: ActionArgs, action: &str) -> Result<()> {
    let client = Client::new(&args.server)?;
    let c = client.json(
        "POST",
        &format!("/v1/admin/campaigns/{}/{action}", args.id),
        None,
    )?;
    println!(
        "campaign {} is now {}",
        c["id"].as_str().unwrap_or("?"),
        c["state"].as_str().unwrap_or("?")
    );
    Ok(())
}
