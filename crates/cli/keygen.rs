//! `sluice keygen`: create the operator's keys, rotate the signing key, revoke keys.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use sluice_protocol::{KeyId, KeyStatement, SecretKey, TrustRoot};

use crate::keydir::{self, KeyDir};
use crate::output::Format;
use crate::timestamps;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Key directory to create, or to update with --rotate / --revoke
    /// (`--out` is an older name for it).
    #[arg(long, value_name = "KEYDIR", alias = "out")]
    keys: PathBuf,
    /// Certify a new signing key and make it the one `release pack` uses. The old
    /// key stays certified (releases it signed still verify) until revoked.
    #[arg(long)]
    rotate: bool,
    /// Revoke a signing key by id (repeatable). Devices refuse anything it signed as
    /// soon as they see the new key statement.
    #[arg(long, value_name = "KEYID")]
    revoke: Vec<KeyId>,
    #[command(flatten)]
    format: Format,
}

/// `sluice keygen --json`: what was made or changed.
#[derive(Serialize, Default)]
struct Keys {
    keys: PathBuf,
    /// The root key's id (when created).
    #[serde(skip_serializing_if = "Option::is_none")]
    root_key: Option<String>,
    /// The current signing key's id, when this run made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retired_key: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    revoked: Vec<String>,
    /// The version of the key statement now in the directory.
    key_statement_version: u64,
}

pub fn run(args: Args) -> Result<()> {
    let dir = KeyDir::new(&args.keys);
    let keys = if args.rotate || !args.revoke.is_empty() {
        update(&dir, args.rotate, &args.revoke, args.format)?
    } else {
        create(&dir, args.format)?
    };
    args.format.document(&Keys {
        keys: args.keys,
        ..keys
    })?;
    Ok(())
}

fn new_key() -> Result<SecretKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    Ok(SecretKey::from_seed(seed))
}

fn create(dir: &KeyDir, format: Format) -> Result<Keys> {
    if dir.has_keys() {
        bail!(
            "{} already holds keys; use --rotate or --revoke to change them",
            dir.file(keydir::ROOT_KEY).display()
        );
    }
    dir.create()?;
    let root = new_key()?;
    let signer = new_key()?;
    let trust = TrustRoot::new(vec![root.public_key()], 1)?;
    let statement = KeyStatement::new(1, timestamps::now(), vec![signer.public_key()], vec![])?;
    dir.write_root_key(&root)?;
    dir.write_signing_key(&signer)?;
    dir.write_trust_root(&trust)?;
    dir.write_statement(&statement.sign(&[&root]))?;
    format.say(format!(
        "root key       {}  {}  (secret: keep it offline)",
        root.key_id(),
        dir.file(keydir::ROOT_KEY).display()
    ));
    format.say(format!(
        "signing key    {}  {}  (secret)",
        signer.key_id(),
        dir.file(keydir::SIGNING_KEY).display()
    ));
    format.say(format!(
        "trust root     {}  (public: provision it on devices and the server)",
        dir.file(keydir::TRUST_ROOT).display()
    ));
    format.say(format!(
        "key statement  {}  (public, version 1)",
        dir.file(keydir::KEY_STATEMENT).display()
    ));
    Ok(Keys {
        root_key: Some(root.key_id().to_string()),
        signing_key: Some(signer.key_id().to_string()),
        key_statement_version: 1,
        ..Keys::default()
    })
}

fn update(dir: &KeyDir, rotate: bool, revoke: &[KeyId], format: Format) -> Result<Keys> {
    if !dir.has_keys() {
        bail!(
            "{} holds no keys; run `sluice keygen --keys {}` first",
            dir.file("").display(),
            dir.file("").display()
        );
    }
    let root = dir.load_root_key()?;
    let public = dir.load_public()?;
    if !public.trust_root.root_keys().contains(&root.public_key()) {
        bail!(
            "root key {} is not in {}",
            root.key_id(),
            dir.file(keydir::TRUST_ROOT).display()
        );
    }
    let current = dir.load_signing_key()?;
    let mut signing_keys = public.statement.signing_keys.clone();
    let mut revoked = public.statement.revoked.clone();
    let new_signer = if rotate { Some(new_key()?) } else { None };
    if let Some(key) = &new_signer {
        signing_keys.push(key.public_key());
    }
    for id in revoke {
        if !signing_keys.iter().any(|k| k.key_id() == *id) {
            let certified: Vec<String> = signing_keys
                .iter()
                .map(|k| k.key_id().to_string())
                .collect();
            bail!(
                "key {id} is not certified by {} (certified: {})",
                dir.file(keydir::KEY_STATEMENT).display(),
                certified.join(", ")
            );
        }
        if *id == current.key_id() && !rotate {
            bail!(
                "key {id} is the current signing key; add --rotate to replace it in the same step"
            );
        }
        signing_keys.retain(|k| k.key_id() != *id);
        revoked.push(*id);
    }
    let version = public.statement.version + 1;
    let statement = KeyStatement::new(version, timestamps::now(), signing_keys, revoked)
        .context("building the new key statement")?;
    // The statement first: it certifies the new key before anything signs with it.
    dir.write_statement(&statement.sign(&[&root]))?;
    if let Some(key) = &new_signer {
        let retired = dir.retire_signing_key(&current)?;
        dir.write_signing_key(key)?;
        format.say(format!(
            "signing key    {}  {}  (secret, now current)",
            key.key_id(),
            dir.file(keydir::SIGNING_KEY).display()
        ));
        format.say(format!(
            "retired key    {}  {}",
            current.key_id(),
            retired.display()
        ));
    }
    for id in revoke {
        format.say(format!("revoked key    {id}"));
    }
    format.say(format!(
        "key statement  {}  (public, version {version}): upload it with `sluice release publish-keys --keys {}`; the server then refuses releases a revoked key signed, and devices learn it from the next manifest they verify",
        dir.file(keydir::KEY_STATEMENT).display(),
        dir.file("").display()
    ));
    Ok(Keys {
        signing_key: new_signer.as_ref().map(|k| k.key_id().to_string()),
        retired_key: new_signer.as_ref().map(|_| current.key_id().to_string()),
        revoked: revoke.iter().map(ToString::to_string).collect(),
        key_statement_version: version,
        ..Keys::default()
    })
}
