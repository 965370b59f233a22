//! `sluice audit verify|export`: check the audit log's hash chain, and copy the
//! log out as JSON lines.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sluice_api::admin::audit::{Anchor, ChainVerifier, Entry, Head, MAX_PAGE, Page, Report};

use crate::atomic_file;
use crate::client::{Client, ServerArgs};
use crate::output::Format;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Check that no entry was edited, reordered or deleted: each entry names the
    /// digest of the one before it, and the log's head names the last.
    Verify(VerifyArgs),
    /// Write the log as JSON lines, one entry a line, oldest first.
    Export(ExportArgs),
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Check an export (`sluice audit export`) instead of the server's log.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// A digest noted earlier, which entry SEQ must still have (repeatable; as
    /// verify prints it, or from a webhook event's `id` and `audit_digest`).
    /// Catches a log rewritten consistently from some entry on.
    #[arg(long, value_name = "SEQ:DIGEST")]
    anchor: Vec<Anchor>,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

/// `sluice audit verify --json`: the verdict.
#[derive(serde::Serialize)]
struct Verdict<'r> {
    intact: bool,
    entries: u64,
    unlinked: u64,
    /// The last entry checked (note it to pass later as an anchor).
    last: Option<&'r Head>,
    /// What is wrong, in log order, for people.
    findings: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Only entries after this one.
    #[arg(long, default_value_t = 0)]
    after: i64,
    /// Write here (replaced whole, only once complete) instead of to stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Verify(args) => verify(args),
        Command::Export(args) => export(args),
    }
}

/// Reads the server's log page by page from `after`, handing each entry with
/// its position to `each`; returns the head as of the last page.
fn follow(
    client: &Client,
    mut after: i64,
    mut each: impl FnMut(i64, &Entry) -> Result<()>,
) -> Result<Head> {
    loop {
        let page: Page = client.get(&format!("/v1/admin/audit?after={after}&limit={MAX_PAGE}"))?;
        for (position, entry) in page.positioned(after) {
            each(position, entry)?;
        }
        for position in &page.missing {
            eprintln!("warning: the server's log has no entry {position}");
        }
        if page.next <= after {
            return Ok(page.head);
        }
        after = page.next;
    }
}

fn verify(args: VerifyArgs) -> Result<()> {
    let mut verifier = ChainVerifier::with_anchors(&args.anchor);
    let report = match &args.file {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
            let mut start = None;
            for (line_number, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line.with_context(|| format!("reading {}", path.display()))?;
                if line.trim().is_empty() {
                    continue;
                }
                let entry: Entry = serde_json::from_str(&line).with_context(|| {
                    format!(
                        "{} line {}: not an audit entry",
                        path.display(),
                        line_number + 1
                    )
                })?;
                // An export is consecutive from its first entry.
                let first = *start.get_or_insert(entry.seq);
                verifier.push(first + line_number as i64, &entry);
            }
            verifier.finish(None)
        }
        None => verify_with(&Client::new(&args.server)?, verifier)?,
    };
    args.format.document(&Verdict {
        intact: report.findings.is_empty(),
        entries: report.entries,
        unlinked: report.unlinked,
        last: report.last.as_ref(),
        findings: report.findings.iter().map(ToString::to_string).collect(),
    })?;
    conclude(&report, args.format)
}

/// Checks the server's whole log with `verifier`.
fn verify_with(client: &Client, mut verifier: ChainVerifier) -> Result<Report> {
    let head = follow(client, 0, |position, entry| {
        verifier.push(position, entry);
        Ok(())
    })?;
    Ok(verifier.finish(Some(&head)))
}

/// Checks the server's whole log (no anchors).
pub fn verify_server(client: &Client) -> Result<Report> {
    verify_with(client, ChainVerifier::with_anchors(&[]))
}

/// How many entries after position `after` record `action`.
pub fn count_after(client: &Client, after: i64, action: &str) -> Result<usize> {
    let mut found = 0;
    follow(client, after, |_, entry| {
        found += usize::from(entry.action == action);
        Ok(())
    })?;
    Ok(found)
}

fn conclude(report: &Report, format: Format) -> Result<()> {
    if !report.findings.is_empty() {
        for finding in &report.findings {
            eprintln!("{finding}");
        }
        bail!(
            "the audit log was changed outside Sluice: {} finding(s) in {} entries",
            report.findings.len(),
            report.entries
        );
    }
    let Some(last) = &report.last else {
        format.say("ok: the audit log is empty");
        return Ok(());
    };
    let unlinked = if report.unlinked > 0 {
        format!(
            " ({} from before the log was chained, which cannot be checked)",
            report.unlinked
        )
    } else {
        String::new()
    };
    format.say(format!(
        "ok: {} entries, each following the one before{unlinked}\nTo check later that nothing up to here was rewritten, keep:\n  --anchor {}:{}",
        report.entries, last.seq, last.digest
    ));
    Ok(())
}

fn export(args: ExportArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let mut lines = Vec::new();
    let mut write = |_: i64, entry: &Entry| -> Result<()> {
        serde_json::to_writer(&mut lines, entry)?;
        lines.push(b'\n');
        Ok(())
    };
    let head = follow(&client, args.after, &mut write)?;
    match &args.output {
        Some(path) => {
            // Who did what to the fleet: readable by the owner only.
            atomic_file::write(path, &lines, atomic_file::Visibility::Secret)?;
            eprintln!(
                "wrote {} ({} bytes, up to entry {})",
                path.display(),
                lines.len(),
                head.seq
            );
        }
        None => std::io::stdout().write_all(&lines)?,
    }
    Ok(())
}
