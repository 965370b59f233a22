//! `sluice operator add|list|show|revoke|rotate|whoami|roles|four-eyes`:
//! operators and service accounts, each with a token of its own.

use std::time::Duration;

use anyhow::Result;
use sluice_api::admin::four_eyes::{SetFourEyes, Setting};
use sluice_api::admin::operators::{
    Issued, NewOperator, Operator, OperatorList, RevokeRequest, Role, TokenLifetime, WhoAmI,
};

use crate::client::{Client, NO_BODY, ServerArgs};
use crate::output::Format;
use crate::timestamps;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Add an operator (a person, or a service account such as a CI job or
    /// Prometheus) and print its token, once.
    Add(AddArgs),
    /// List operators: roles, state, expiry, last use.
    List(PrintArgs),
    /// Show one operator.
    Show(NameArgs),
    /// Revoke an operator's token: refused from the next request on, on
    /// every host sharing the store.
    Revoke(RevokeArgs),
    /// Give an operator a new token (printed once) and revoke the old one.
    Rotate(RotateArgs),
    /// Who the token you are using belongs to, and what it may do.
    Whoami(PrintArgs),
    /// The roles and the scopes each grants.
    Roles(Format),
    /// Require (on, the default) or relax (off, for a one-person lab) a
    /// second operator's confirmation; audited.
    FourEyes(FourEyesArgs),
}

/// How long a token lives: `90d`, `12h`, or `never`.
#[derive(Clone, Copy, Debug)]
enum Lifetime {
    For(Duration),
    Never,
}

fn lifetime(text: &str) -> Result<Lifetime, String> {
    if text == "never" {
        return Ok(Lifetime::Never);
    }
    crate::duration::parse(text)
        .map(Lifetime::For)
        .map_err(|e| format!("{text:?}: a duration such as 90d or 12h, or never: {e}"))
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// The operator's name, as the audit log will record it (e.g. alice, ci-publisher).
    name: String,
    /// A role (repeatable): viewer, monitor, release-manager, operator,
    /// approver, security-officer, auditor, owner.
    #[arg(long = "role", required = true, value_name = "ROLE", value_parser = parse_role)]
    roles: Vec<Role>,
    /// How long the token lives, or `never`.
    #[arg(long, default_value = "90d", value_parser = lifetime)]
    expires: Lifetime,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| {
        format!(
            "{text:?} is not a role; roles are {}",
            Role::ALL.map(Role::name).join(", ")
        )
    })
}

/// Commands that only print: as text, or the server's answer as JSON.
#[derive(clap::Args, Debug)]
pub struct PrintArgs {
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct NameArgs {
    name: String,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    name: String,
    /// Why (kept with the revocation, and told to whoever presents the token).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct RotateArgs {
    name: String,
    /// How long the new token lives, or `never`.
    #[arg(long, default_value = "90d", value_parser = lifetime)]
    expires: Lifetime,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct FourEyesArgs {
    /// `on` (a second operator must confirm) or `off`.
    #[arg(value_parser = ["on", "off"])]
    setting: String,
    /// Why (audited).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Add(args) => add(args),
        Command::List(args) => list(args),
        Command::Show(args) => show(args),
        Command::Revoke(args) => revoke(args),
        Command::Rotate(args) => rotate(args),
        Command::Whoami(args) => whoami(args),
        Command::Roles(format) => roles(format),
        Command::FourEyes(args) => four_eyes(args),
    }
}

impl Lifetime {
    fn body(self) -> TokenLifetime {
        match self {
            Lifetime::For(d) => TokenLifetime::seconds(d.as_secs().max(1)),
            Lifetime::Never => TokenLifetime::never(),
        }
    }
}

fn add(args: AddArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let lifetime = args.expires.body();
    let body = NewOperator {
        name: args.name,
        roles: args.roles,
        expires_in_seconds: lifetime.expires_in_seconds,
        never_expires: lifetime.never_expires,
    };
    print_issued(&client, "/v1/admin/operators", &body, args.format, "added")
}

fn rotate(args: RotateArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    print_issued(
        &client,
        &format!("/v1/admin/operators/{}/rotate", args.name),
        &args.expires.body(),
        args.format,
        "rotated (the old token no longer works)",
    )
}

/// Asks for a new token and prints the operator and its token: the token on
/// the last line, alone, so a script can take it with `tail -n 1`.
fn print_issued(
    client: &Client,
    path: &str,
    body: &impl serde::Serialize,
    format: Format,
    what: &str,
) -> Result<()> {
    let Some(issued) = client.answer::<Issued>(format, "POST", path, Some(body))? else {
        return Ok(());
    };
    println!("{} {what}", describe(&issued.operator));
    println!("its token, shown this once (keep it in a file of mode 0600 or a secret store):");
    println!("{}", issued.token);
    Ok(())
}

fn list(args: PrintArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let Some(listed) =
        client.answer::<OperatorList>(args.format, "GET", "/v1/admin/operators", NO_BODY)?
    else {
        return Ok(());
    };
    if listed.operators.is_empty() {
        println!("no operators yet: add one with sluice operator add NAME --role ROLE");
    }
    for o in &listed.operators {
        println!("{}", describe(o));
    }
    Ok(())
}

fn show(args: NameArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let path = format!("/v1/admin/operators/{}", args.name);
    let Some(o) = client.answer::<Operator>(args.format, "GET", &path, NO_BODY)? else {
        return Ok(());
    };
    println!("{}", describe(&o));
    let scopes: Vec<&str> = o.scopes.iter().map(|s| s.name()).collect();
    println!("  scopes: {}", scopes.join(", "));
    println!(
        "  token {} created by {} at {}",
        o.token,
        o.created_by,
        timestamps::format(o.created_at)
    );
    if let Some(r) = &o.revoked {
        println!(
            "  revoked by {} at {}: {}",
            r.by,
            timestamps::format(r.at),
            r.reason
        );
    }
    Ok(())
}

fn revoke(args: RevokeArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let Some(o) = client.answer::<Operator>(
        args.format,
        "POST",
        &format!("/v1/admin/operators/{}/revoke", args.name),
        Some(&RevokeRequest {
            reason: args.reason,
        }),
    )?
    else {
        return Ok(());
    };
    println!("{}", describe(&o));
    Ok(())
}

fn whoami(args: PrintArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let Some(me) = client.answer::<WhoAmI>(args.format, "GET", "/v1/admin/whoami", NO_BODY)? else {
        return Ok(());
    };
    let roles: Vec<&str> = me.roles.iter().map(|r| r.name()).collect();
    let scopes: Vec<&str> = me.scopes.iter().map(|s| s.name()).collect();
    println!(
        "{} ({}), token {}\n  scopes: {}",
        me.name,
        roles.join(", "),
        expiry(me.expires_at),
        scopes.join(", ")
    );
    Ok(())
}

fn roles(format: Format) -> Result<()> {
    let grants: std::collections::BTreeMap<&str, Vec<&str>> = Role::ALL
        .iter()
        .map(|role| {
            (
                role.name(),
                role.scopes().iter().map(|s| s.name()).collect(),
            )
        })
        .collect();
    if format.document(&grants)? {
        return Ok(());
    }
    for role in Role::ALL {
        println!("{:<17} {}", role.name(), grants[role.name()].join(", "));
    }
    Ok(())
}

fn four_eyes(args: FourEyesArgs) -> Result<()> {
    let client = Client::new(&args.server)?;
    let Some(setting) = client.answer::<Setting>(
        args.format,
        "PUT",
        "/v1/admin/four-eyes",
        Some(&SetFourEyes {
            required: args.setting == "on",
            reason: args.reason,
        }),
    )?
    else {
        return Ok(());
    };
    if setting.required {
        println!(
            "four eyes: required (a second operator approves gates and confirms critical campaigns, freeze overrides and lifts)"
        );
    } else {
        println!(
            "four eyes: relaxed by {} (one operator may do everything alone)",
            setting.by
        );
    }
    Ok(())
}

fn expiry(at: Option<u64>) -> String {
    match at {
        Some(at) => format!("expires {}", timestamps::format(at)),
        None => "never expires".to_owned(),
    }
}

/// One line for people: name, roles, state, expiry, last use.
fn describe(o: &Operator) -> String {
    let roles: Vec<&str> = o.roles.iter().map(|r| r.name()).collect();
    let used = match o.last_used_at {
        Some(at) => format!("last used {}", timestamps::format(at)),
        None => "never used".to_owned(),
    };
    format!(
        "operator {} ({}) {}, {}, {used}",
        o.name,
        roles.join(", "),
        o.state.name(),
        expiry(o.expires_at)
    )
}
