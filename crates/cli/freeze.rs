//! `sluice freeze add|list|remove|confirm-lift`: fleet-wide change freezes.

use anyhow::Result;
use sluice_api::admin::campaigns::Selector;
use sluice_api::admin::freezes::{Freeze, FreezeList, NewFreeze};
use sluice_api::instant::Instant;

use crate::client::{Client, NO_BODY, ServerArgs};
use crate::output::Format;
use crate::timestamps;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Declare a freeze: no campaign offers a covered device anything, and no
    /// covered device starts an install, from LEAD before START until END.
    Add(AddArgs),
    /// List declared freezes.
    List(ListArgs),
    /// Lift a freeze: at once if it does not hold yet; one that holds now is
    /// lifted when a second operator confirms (`confirm-lift`).
    Remove(RemoveArgs),
    /// Confirm another operator's request to lift a freeze that holds.
    ConfirmLift(RemoveArgs),
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// When it starts (RFC 3339, e.g. 2026-12-03T16:00:00Z, or unix seconds).
    #[arg(long, value_name = "TIME", value_parser = timestamps::parse)]
    start: u64,
    /// When it ends.
    #[arg(long, value_name = "TIME", value_parser = timestamps::parse)]
    end: u64,
    /// Why (shown to operators and in device logs).
    #[arg(long)]
    reason: String,
    /// It already holds this long before START (no new installs just before it).
    #[arg(long, default_value = "1h", value_parser = crate::duration::parse)]
    lead: std::time::Duration,
    /// Only devices with this tag (repeatable: all must match). Default: the whole fleet.
    #[arg(long)]
    tag: Vec<String>,
    /// Only this device (repeatable).
    #[arg(long)]
    device: Vec<String>,
    /// Only devices of this hardware (repeatable).
    #[arg(long)]
    hardware: Vec<String>,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct RemoveArgs {
    /// Freeze id (e.g. f3).
    id: String,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Add(args) => add(args),
        Command::List(args) => list(args),
        Command::Remove(args) => remove(args),
        Command::ConfirmLift(args) => confirm_lift(args),
    }
}

fn add(args: AddArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let body = NewFreeze {
        reason: args.reason,
        start: Instant(args.start),
        end: Instant(args.end),
        lead_seconds: Some(args.lead.as_secs()),
        selector: Selector {
            tags: args.tag,
            ids: args.device,
            hardware: args.hardware,
            ..Selector::default()
        },
    };
    let Some(freeze) =
        client.answer::<Freeze>(args.format, "POST", "/v1/admin/freezes", Some(&body))?
    else {
        return Ok(());
    };
    println!("{}", describe(&freeze, None));
    println!("{}", freeze.id);
    Ok(())
}

fn list(args: ListArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let Some(reply) =
        client.answer::<FreezeList>(args.format, "GET", "/v1/admin/freezes", NO_BODY)?
    else {
        return Ok(());
    };
    if reply.freezes.is_empty() {
        println!("no freezes");
    }
    for f in &reply.freezes {
        println!("{}", describe(f, Some(reply.now)));
    }
    Ok(())
}

fn remove(args: RemoveArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let reply = client
        .send("DELETE", &format!("/v1/admin/freezes/{}", args.id), None)?
        .ok()?;
    if args.format.json {
        reply.print();
        return Ok(());
    }
    let asked = reply.status == 202;
    let freeze: Freeze = reply.typed()?;
    if asked {
        println!(
            "freeze {} holds now: lifting it waits for a second operator (asked by {}): sluice freeze confirm-lift {}",
            args.id,
            freeze.lift_requested.map(|l| l.by).unwrap_or_default(),
            args.id
        );
    } else {
        println!("freeze {} lifted", args.id);
    }
    Ok(())
}

fn confirm_lift(args: RemoveArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let path = format!("/v1/admin/freezes/{}/confirm-lift", args.id);
    let Some(_) = client.answer::<Freeze>(args.format, "POST", &path, NO_BODY)? else {
        return Ok(());
    };
    println!("freeze {} lifted", args.id);
    Ok(())
}

/// One line for people: id, span, scope, reason, and (given the server's
/// clock) whether it holds now.
fn describe(f: &Freeze, now: Option<u64>) -> String {
    let mut scope: Vec<String> = Vec::new();
    for (values, label) in [
        (&f.selector.tags, "tag"),
        (&f.selector.ids, "device"),
        (&f.selector.hardware, "hardware"),
    ] {
        scope.extend(values.iter().map(|v| format!("{label} {v}")));
    }
    let scope = if scope.is_empty() {
        "the whole fleet".to_owned()
    } else {
        scope.join(" and ")
    };
    let state = match now {
        Some(now) if f.active(now) => " [holding now]",
        Some(now) if now < f.start => " [ahead]",
        Some(_) => " [over]",
        None => "",
    };
    format!(
        "freeze {} {} → {} (from {} min before) over {scope}: {}{state}",
        f.id,
        timestamps::format(f.start),
        timestamps::format(f.end),
        f.lead_seconds / 60,
        f.reason
    )
}
