//! `sluice campaign create|list|status|pause|resume|abort|rollback|override-freeze|approve|recount`,
//! and the second operator's `confirm-critical` and `confirm-override`.

use anyhow::{Context, Result};
use serde_json::Value;
use sluice_api::admin::campaigns::{
    ApproveRequest, Campaign, CampaignList, ConfirmOverrideRequest, NewCampaign, NewRing,
    OverrideFreezeRequest, Progress, Recount, RecountRequest, Selector,
};
use sluice_api::instant::Instant;
use sluice_policy::OutcomeCounts;

use crate::client::{Client, NO_BODY, ServerArgs};
use crate::output::Format;
use crate::policy_config;
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
    Pause(CampaignIdArgs),
    /// Resume a paused or halted campaign.
    Resume(CampaignIdArgs),
    /// Stop the campaign; devices still updating are told to stop.
    Abort(CampaignIdArgs),
    /// Send devices that installed the release back to their previous version.
    Rollback(CampaignIdArgs),
    /// Ask to let a critical campaign pass one change freeze (audited, with a
    /// reason); a second operator confirms it.
    OverrideFreeze(OverrideArgs),
    /// Confirm another operator's request to let a critical campaign pass a freeze.
    ConfirmOverride(ConfirmOverrideArgs),
    /// Confirm that a campaign another operator created critical is critical.
    ConfirmCritical(CampaignIdArgs),
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
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct ServerOnly {
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The release (version) to roll out.
    #[arg(long)]
    release: String,
    /// Policy configuration: JSON, or @FILE. Default: the policy's own defaults.
    #[arg(long, value_name = policy_config::VALUE_NAME)]
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
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::checked)]
    ring_soak: Option<String>,
    #[command(flatten)]
    format: Format,
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
    format: Format,
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
    format: Format,
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
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Campaign id.
    id: String,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct CampaignIdArgs {
    /// Campaign id.
    id: String,
    #[command(flatten)]
    format: Format,
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
    let path = format!("/v1/admin/campaigns/{}/recount", args.id);
    let body = RecountRequest { apply: args.apply };
    let Some(r) = client.answer::<Recount>(args.format, "POST", &path, Some(&body))? else {
        return Ok(());
    };
    println!(
        "campaign {}: {} devices offered, among {} read",
        args.id, r.devices, r.scanned
    );
    if r.without_history > 0 {
        println!(
            "  {} devices have no history for it: failure codes left as they are",
            r.without_history
        );
    }
    if r.differences.is_empty() {
        println!("  every counter matches");
    }
    for d in &r.differences {
        println!(
            "  {}: stored {}, counted {}",
            d.counter, d.stored, d.counted
        );
    }
    if !r.differences.is_empty() {
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
        None => Value::Object(serde_json::Map::new()),
        Some(text) => policy_config::parse(text)?,
    };
    let (rings, approve_stages) =
        rings(&args.ring, &args.approve_after, args.ring_soak.as_deref())?;
    let body = NewCampaign {
        release: args.release,
        name: args.name,
        selector: Selector {
            hardware: args.hardware,
            tags: args.tag,
            ids: args.device,
            versions: args.from_version,
            attributes: Default::default(),
        },
        policy,
        critical: args.critical,
        start_at: args.start_at.map(Instant),
        end_at: args.end_at.map(Instant),
        rings,
        approve_stages,
    };
    let Some(campaign) =
        client.answer::<Campaign>(args.format, "POST", "/v1/admin/campaigns", Some(&body))?
    else {
        return Ok(());
    };
    let id = &campaign.id;
    let hardware: Vec<&str> = campaign.images.keys().map(String::as_str).collect();
    println!(
        "campaign {id} is rolling {} out to hardware {}{}",
        campaign.release,
        hardware.join(","),
        schedule(&campaign)
    );
    if campaign.critical_pending {
        println!(
            "it runs as an ordinary campaign until a second operator confirms that it is critical: sluice campaign confirm-critical {id}"
        );
    }
    println!("{id}");
    Ok(())
}

fn list(args: ServerOnly) -> Result<()> {
    let client = Client::new(&args.server)?;
    let Some(reply) =
        client.answer::<CampaignList>(args.format, "GET", "/v1/admin/campaigns", NO_BODY)?
    else {
        return Ok(());
    };
    for c in &reply.campaigns {
        println!(
            "{:<6} {:<12} {:<12} {:<14} {}",
            c.id,
            c.release,
            c.state.as_str(),
            c.step,
            c.name
        );
    }
    Ok(())
}

fn counts(c: &OutcomeCounts) -> String {
    format!(
        "offered {}, succeeded {}, failed {}, rolled back {}, rejected {}",
        c.offered, c.succeeded, c.failed, c.rolled_back, c.rejected
    )
}

fn status(args: StatusArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let path = format!("/v1/admin/campaigns/{}", args.id);
    let Some(p) = client.answer::<Progress>(args.format, "GET", &path, NO_BODY)? else {
        return Ok(());
    };
    let c = &p.campaign;
    println!(
        "campaign {} ({}): release {}, {}, {}",
        c.id,
        c.name,
        c.release,
        c.state.as_str(),
        c.step
    );
    if let Some(reason) = &c.reason {
        println!("  reason: {reason}");
    }
    let when = schedule(c);
    if !when.is_empty() {
        println!("  schedule: {}", when.trim_start_matches(", "));
    }
    if let Some(e) = &p.estimate {
        match (e.seconds, &e.why_not) {
            (Some(seconds), _) => println!(
                "  {} devices to go: about {} at the pace of the last {} min ({:.0} an hour)",
                e.remaining,
                timestamps::span(seconds),
                e.over_seconds / 60,
                e.per_hour
            ),
            (None, why) => println!(
                "  {} devices to go; no estimate: {}",
                e.remaining,
                why.as_deref().unwrap_or("no pace yet")
            ),
        }
    }
    if c.critical_pending {
        println!(
            "  critical once a second operator confirms it (sluice campaign confirm-critical {}); ordinary until then",
            c.id
        );
    }
    for o in &c.freeze_overrides {
        let pending = if o.pending {
            ", waiting for a second operator's confirmation"
        } else {
            ""
        };
        println!(
            "  passes freeze {} ({}, asked by {}{pending})",
            o.freeze, o.reason, o.by
        );
    }
    println!("  total: {}; in flight {}", counts(&p.total), p.in_flight);
    for step in &p.steps {
        println!("  {}: {}", step.name, counts(&step.counts));
    }
    if let Some(gate) = &c.waiting {
        println!(
            "  waiting since {} for an operator to approve {} after {} (sluice campaign approve {})",
            timestamps::format(gate.since),
            gate.opens,
            gate.after,
            c.id
        );
    }
    for a in &c.approvals {
        let note = if a.note.is_empty() {
            String::new()
        } else {
            format!(": {}", a.note)
        };
        println!(
            "  approved {} after {} by {} at {} ({}){note}",
            a.opened,
            a.after,
            a.by,
            timestamps::format(a.at),
            counts(&a.figures),
        );
    }
    if !p.failure_codes.is_empty() {
        let mut codes: Vec<_> = p.failure_codes.iter().collect();
        codes.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
        let text: Vec<String> = codes
            .iter()
            .map(|(code, n)| format!("{code} ×{n}"))
            .collect();
        println!("  failures: {}", text.join(", "));
    }
    if !p.versions.is_empty() {
        let text: Vec<String> = p
            .versions
            .iter()
            .map(|(v, n)| format!("{v}: {n}"))
            .collect();
        println!("  fleet versions: {}", text.join(", "));
    }
    Ok(())
}

/// ", from T" / ", until T" for a scheduled campaign; empty otherwise.
fn schedule(c: &Campaign) -> String {
    let mut text = String::new();
    if let Some(start) = c.start_at {
        text.push_str(&format!(", from {}", timestamps::format(start)));
    }
    if let Some(end) = c.end_at {
        text.push_str(&format!(", until {}", timestamps::format(end)));
    }
    text
}

/// `--ring NAME=IDS` and `--approve-after` as the API's rings and gated stages.
fn rings(
    specs: &[String],
    approve_after: &[String],
    soak: Option<&str>,
) -> Result<(Vec<NewRing>, Vec<u32>)> {
    let mut rings = Vec::new();
    for spec in specs {
        let (name, ids) = spec
            .split_once('=')
            .with_context(|| format!("--ring {spec:?}: expected NAME=ID,ID,..."))?;
        rings.push(NewRing {
            name: name.to_owned(),
            ids: ids
                .split(',')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect(),
            approve: approve_after.iter().any(|a| a == name),
            soak: soak.map(str::to_owned),
        });
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
    let Some(c) = client.answer::<Campaign>(
        args.format,
        "POST",
        &format!("/v1/admin/campaigns/{}/approve", args.id),
        Some(&ApproveRequest { note: args.note }),
    )?
    else {
        return Ok(());
    };
    if let Some(a) = c.approvals.last() {
        println!(
            "approved {} after {} ({})",
            a.opened,
            a.after,
            counts(&a.figures)
        );
    }
    Ok(())
}

fn override_freeze(args: OverrideArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let Some(c) = client.answer::<Campaign>(
        args.format,
        "POST",
        &format!("/v1/admin/campaigns/{}/override-freeze", args.id),
        Some(&OverrideFreezeRequest {
            freeze: args.freeze.clone(),
            reason: args.reason,
        }),
    )?
    else {
        return Ok(());
    };
    let pending = c
        .freeze_overrides
        .iter()
        .any(|o| o.freeze == args.freeze && o.pending);
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
    let Some(_) = client.answer::<Campaign>(
        args.format,
        "POST",
        &format!("/v1/admin/campaigns/{}/confirm-override", args.id),
        Some(&ConfirmOverrideRequest {
            freeze: args.freeze.clone(),
        }),
    )?
    else {
        return Ok(());
    };
    println!("campaign {} may pass freeze {}", args.id, args.freeze);
    Ok(())
}

fn confirm_critical(args: CampaignIdArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let path = format!("/v1/admin/campaigns/{}/confirm-critical", args.id);
    let Some(c) = client.answer::<Campaign>(args.format, "POST", &path, NO_BODY)? else {
        return Ok(());
    };
    let by = c.critical_confirmed.map(|c| c.by).unwrap_or_default();
    println!("campaign {} is critical, confirmed by {by}", args.id);
    Ok(())
}

fn action(args: CampaignIdArgs, action: &str) -> Result<()> {
    let client = Client::new(&args.server)?;
    let path = format!("/v1/admin/campaigns/{}/{action}", args.id);
    let Some(c) = client.answer::<Campaign>(args.format, "POST", &path, NO_BODY)? else {
        return Ok(());
    };
    println!("campaign {} is now {}", c.id, c.state.as_str());
    Ok(())
}
