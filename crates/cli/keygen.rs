//! `sluice keygen`: create the operator's keys, rotate the signing key, revoke keys.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sluice_protocol::{KeyId, KeyStatement, SecretKey, TrustRoot};

use crate::keydir::{self, KeyDir};
use crate::timestamps;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Key directory to create, or to update with --rotate / --revoke.
    #[arg(long, value_name = "KEYDIR")]
    out: PathBuf,
    /// Certify a new signing key and make it the one `release pack` uses. The old
    /// key stays certified (releases it signed still verify) until revoked.
    #[arg(long)]
    rotate: bool,
    /// Revoke a signing key by id (repeatable). Devices refuse anything it signed as
    /// soon as they see the new key statement.
    #[arg(long, value_name = "KEYID")]
    revoke: Vec<KeyId>,
}

pub fn run(args: Args) -> Result<()> {
    let dir = KeyDir::new(&args.out);
    if args.rotate || !args.revoke.is_empty() {
        update(&dir, args.rotate, &args.revoke)
    } else {
        create(&dir)
    }
}

fn new_key() -> Result<SecretKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    Ok(SecretKey::from_seed(seed))
}

fn create(dir: &KeyDir) -> Result<()> {
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
    println!(
        "root key       {}  {}  (secret: keep it offline)",
        root.key_id(),
        dir.file(keydir::ROOT_KEY).display()
    );
    println!(
        "signing key    {}  {}  (secret)",
        signer.key_id(),
        dir.file(keydir::SIGNING_KEY).display()
    );
    println!(
        "trust root     {}  (public: provision it on devices and the server)",
        dir.file(keydir::TRUST_ROOT).display()
    );
    println!(
        "key statement  {}  (public, version 1)",
        dir.file(keydir::KEY_STATEMENT).display()
    );
    Ok(())
}

fn update(dir: &KeyDir, rotate: bool, revoke: &[KeyId]) -> Result<()> {
    if !dir.has_keys() {
        bail!(
            "{} holds no keys; run `sluice keygen --out {}` first",
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
        println!(
            "signing key    {}  {}  (secret, now current)",
            key.key_id(),
            dir.file(keydir::SIGNING_KEY).display()
        );
        println!("retired key    {}  {}", current.key_id(), retired.display());
    }
    for id in revoke {
        println!("revoked key    {id}");
    }
    println!(
        "key statement  {}  (public, version {version}: publish it to the server so devices learn it)",
        dir.file(keydir::KEY_STATEMENT).display()
    );
    Ok(())
}
