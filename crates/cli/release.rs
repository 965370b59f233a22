//! `sluice release pack|verify|publish|publish-keys`: turn an image into a
//! signed release directory, check one with public keys only, upload one, and
//! upload the key statement.
//!
//! A release directory holds `manifest` (the signed manifest file) and
//! `chunks/<sha256>` (each chunk, named by its lowercase hex digest).

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sluice_api::admin::releases::{KeyStatementStored, Published};
use sluice_protocol::{
    DEFAULT_CHUNK_SIZE, DeviceFacts, Limits, ManifestBuilder, ReleaseInfo, SignedManifest,
    VerifiedManifest, Verifier,
};

use crate::atomic_file::{self, Visibility};
use crate::keydir::KeyDir;
use crate::output::Format;
use crate::{byte_size, timestamps};

pub const MANIFEST_FILE: &str = "manifest";
pub const CHUNKS_DIR: &str = "chunks";

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Cut an image into chunks and sign its manifest, offline.
    Pack(PackArgs),
    /// Check a release directory with the public trust material only.
    Verify(VerifyArgs),
    /// Upload a release directory to a server: chunks first, then the manifest.
    Publish(PublishArgs),
    /// Upload the key directory's key statement (keys.statement) to a server,
    /// after `sluice keygen --rotate` or `--revoke`: the server refuses an
    /// older or equal version, and manifests it serves name the newest.
    PublishKeys(PublishKeysArgs),
}

#[derive(clap::Args, Debug)]
pub struct PublishKeysArgs {
    /// Key directory made by `sluice keygen` (only keys.statement is read).
    #[arg(long, value_name = "KEYDIR")]
    keys: PathBuf,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: crate::client::ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// Release directory written by `sluice release pack`.
    reldir: PathBuf,
    /// The image's file name for hawkBit DDI clients, e.g. `camera-2.0.swu` when
    /// the image is an SWUpdate archive (default `{version}.img`).
    #[arg(long, value_name = "NAME")]
    file_name: Option<String>,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    server: crate::client::ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct PackArgs {
    /// The firmware image.
    image: PathBuf,
    /// Key directory made by `sluice keygen` (uses signing.key and keys.statement).
    #[arg(long, value_name = "KEYDIR")]
    keys: PathBuf,
    /// Version string, e.g. 2.4.1.
    #[arg(long)]
    version: String,
    /// Hardware id the image is for (repeat for several).
    #[arg(long, required = true)]
    hardware: Vec<String>,
    /// Anti-rollback counter: devices that committed a higher one refuse this release.
    #[arg(long, value_name = "N")]
    security_version: u64,
    /// Release directory to write.
    #[arg(long, value_name = "RELDIR")]
    out: PathBuf,
    /// Chunk size (e.g. 256KiB, 1MiB).
    #[arg(long, default_value_t = DEFAULT_CHUNK_SIZE.into(), value_parser = byte_size::parse)]
    chunk_size: u64,
    /// How long devices may accept the manifest (e.g. 365d, 90d).
    #[arg(long, default_value = "365d", value_parser = crate::duration::parse)]
    expires_in: Duration,
    #[command(flatten)]
    format: Format,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Release directory written by `sluice release pack`.
    reldir: PathBuf,
    /// Key directory; only trust.json and keys.statement are read.
    #[arg(long, value_name = "KEYDIR")]
    keys: PathBuf,
    /// Also check the release would install on this hardware id.
    #[arg(long)]
    hardware: Option<String>,
    /// Also check against a device that committed this security version.
    #[arg(long, value_name = "N")]
    security_version: Option<u64>,
    /// Judge expiry at this instant (RFC 3339 or unix seconds) instead of now.
    #[arg(long, value_name = "TIME", value_parser = timestamps::parse)]
    at: Option<u64>,
    #[command(flatten)]
    format: Format,
}

/// `release pack --json` and `release verify --json`: what the release is.
#[derive(Serialize)]
struct ReleaseSummary {
    version: String,
    hardware: Vec<String>,
    security_version: u64,
    image_bytes: u64,
    chunks: usize,
    /// The signing key's id.
    signed_by: String,
    /// The key statement version it verified under (verify only).
    #[serde(skip_serializing_if = "Option::is_none")]
    key_statement_version: Option<u64>,
    expires_at: u64,
    manifest_id: String,
}

impl ReleaseSummary {
    fn of(
        manifest: &sluice_protocol::Manifest,
        id: impl ToString,
        key_statement_version: Option<u64>,
    ) -> ReleaseSummary {
        ReleaseSummary {
            version: manifest.version.clone(),
            hardware: manifest.hardware.clone(),
            security_version: manifest.security_version,
            image_bytes: manifest.image.size,
            chunks: manifest.chunks.len(),
            signed_by: manifest.key_id.to_string(),
            key_statement_version,
            expires_at: manifest.expires_at,
            manifest_id: id.to_string(),
        }
    }
}

/// `release publish --json`: the server's answer and the chunks sent.
#[derive(Serialize)]
struct PublishSummary {
    published: Published,
    chunks_uploaded: usize,
    chunks_already_present: usize,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Pack(args) => pack(args),
        Command::Verify(args) => verify(args),
        Command::Publish(args) => publish(args),
        Command::PublishKeys(args) => publish_keys(args),
    }
}

fn bar(len: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len).with_message(message);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>9} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn pack(args: PackArgs) -> Result<()> {
    let limits = Limits::default();
    if args.chunk_size == 0 || args.chunk_size > limits.max_chunk_size {
        bail!(
            "--chunk-size must be between 1 byte and {}",
            byte_size::format(limits.max_chunk_size)
        );
    }
    let keys = KeyDir::new(&args.keys);
    let public = keys.load_public()?;
    let signer = keys.load_signing_key()?;
    match public.statement.status(signer.key_id()) {
        sluice_protocol::KeyStatus::Certified(_) => {}
        status => bail!(
            "signing key {} is {} by {}; run `sluice keygen --keys {} --rotate`",
            signer.key_id(),
            if status == sluice_protocol::KeyStatus::Revoked {
                "revoked"
            } else {
                "not certified"
            },
            keys.file(crate::keydir::KEY_STATEMENT).display(),
            args.keys.display()
        ),
    }

    let mut image =
        File::open(&args.image).with_context(|| format!("opening {}", args.image.display()))?;
    let image_len = image.metadata().map(|m| m.len()).unwrap_or(0);
    let chunks_dir = args.out.join(CHUNKS_DIR);
    fs::create_dir_all(&chunks_dir)
        .with_context(|| format!("creating {}", chunks_dir.display()))?;

    let progress = bar(image_len, "packing");
    let mut builder = ManifestBuilder::new(limits);
    let mut buffer = vec![0u8; args.chunk_size as usize];
    loop {
        let n = read_full(&mut image, &mut buffer)
            .with_context(|| format!("reading {}", args.image.display()))?;
        if n == 0 {
            break;
        }
        let data = &buffer[..n];
        let digest = builder.add_chunk(data)?;
        let path = chunks_dir.join(digest.to_string());
        // Chunks are content-addressed: one already there with this name is this chunk.
        if !chunk_present(&path, n as u64) {
            atomic_file::write(&path, data, Visibility::Public)?;
        }
        progress.inc(n as u64);
        if n < buffer.len() {
            break;
        }
    }
    progress.finish_and_clear();

    let created_at = timestamps::now();
    let info = ReleaseInfo {
        version: args.version,
        hardware: args.hardware,
        security_version: args.security_version,
        created_at,
        expires_at: created_at.saturating_add(args.expires_in.as_secs().max(1)),
    };
    let manifest = builder.finish(info, signer.key_id())?;
    let signed = SignedManifest::sign(&manifest, &signer, public.statement_envelope)?;
    // The manifest goes last: a release directory with a manifest is complete.
    atomic_file::write(
        &args.out.join(MANIFEST_FILE),
        &signed.to_bytes(),
        Visibility::Public,
    )?;

    let summary = ReleaseSummary::of(&manifest, signed.id(), None);
    if args.format.document(&summary)? {
        return Ok(());
    }
    println!(
        "packed {} for {}: {} in {} chunks of up to {}, security version {}, signed by key {}, expires {}",
        manifest.version,
        manifest.hardware.join(","),
        byte_size::format(manifest.image.size),
        manifest.chunks.len(),
        byte_size::format(args.chunk_size),
        manifest.security_version,
        manifest.key_id,
        timestamps::format(manifest.expires_at),
    );
    println!("{}", signed.id());
    Ok(())
}

fn chunk_present(path: &Path, len: u64) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == len)
}

/// Reads until `buf` is full or the input ends.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads at most `limit + 1` bytes, so that an oversized file is detected without
/// reading all of it.
fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
}

fn verify(args: VerifyArgs) -> Result<()> {
    let keys = KeyDir::new(&args.keys);
    let public = keys.load_public()?;
    let verifier =
        Verifier::new(public.trust_root).with_key_statement(&public.statement_envelope)?;
    let manifest_path = args.reldir.join(MANIFEST_FILE);
    let bytes = read_capped(&manifest_path, verifier.limits().max_manifest_bytes as u64)?;
    let now = args.at.unwrap_or_else(timestamps::now);
    let release = verifier
        .verify(&bytes, now)
        .with_context(|| format!("{}", manifest_path.display()))?;
    let manifest = release.manifest();
    if args.hardware.is_some() || args.security_version.is_some() {
        let device = DeviceFacts {
            hardware: args
                .hardware
                .clone()
                .unwrap_or_else(|| manifest.hardware[0].clone()),
            committed_security_version: args.security_version.unwrap_or(0),
            now,
        };
        release
            .check_device(&device)
            .with_context(|| format!("{}", manifest_path.display()))?;
    }
    verify_chunks(&release, &args.reldir.join(CHUNKS_DIR))?;
    let summary = ReleaseSummary::of(
        manifest,
        release.id(),
        Some(release.key_statement_version()),
    );
    if args.format.document(&summary)? {
        return Ok(());
    }

    println!(
        "ok: {} for {}, {} in {} chunks, security version {}, signed by key {} (key statement v{}), expires {}, manifest {}",
        manifest.version,
        manifest.hardware.join(","),
        byte_size::format(manifest.image.size),
        manifest.chunks.len(),
        manifest.security_version,
        release.signed_by(),
        release.key_statement_version(),
        timestamps::format(manifest.expires_at),
        release.id(),
    );
    Ok(())
}

fn verify_chunks(release: &VerifiedManifest, dir: &Path) -> Result<()> {
    let manifest = release.manifest();
    let progress = bar(manifest.image.size, "verifying");
    let mut image = release.image_verifier();
    for (index, chunk) in manifest.chunks.iter().enumerate() {
        let path = dir.join(chunk.sha256.to_string());
        if !path.is_file() {
            bail!(
                "chunk {index} ({}) is missing: {}",
                chunk.sha256,
                path.display()
            );
        }
        let data = read_capped(&path, chunk.size)?;
        release
            .verify_chunk(index, &data)
            .with_context(|| format!("{}", path.display()))?;
        image.update(&data)?;
        progress.inc(chunk.size);
    }
    image.finish()?;
    progress.finish_and_clear();
    Ok(())
}

fn publish(args: PublishArgs) -> Result<()> {
    let client = crate::client::Client::new(&args.server)?;
    let manifest_path = args.reldir.join(MANIFEST_FILE);
    let bytes = read_capped(&manifest_path, Limits::default().max_manifest_bytes as u64)?;
    let signed = SignedManifest::from_bytes(&bytes, &Limits::default())
        .with_context(|| format!("{}", manifest_path.display()))?;
    let manifest: sluice_protocol::Manifest = serde_json::from_slice(&signed.manifest.payload)
        .with_context(|| format!("{}: manifest payload", manifest_path.display()))?;
    let mut chunks = manifest.chunks.clone();
    chunks.sort_by_key(|c| c.sha256);
    chunks.dedup_by_key(|c| c.sha256);
    let total: u64 = chunks.iter().map(|c| c.size).sum();

    let progress = bar(total, "uploading");
    let (mut uploaded, mut skipped) = (0usize, 0usize);
    for chunk in &chunks {
        let path = format!("/v1/admin/chunks/{}", chunk.sha256);
        if client.send("HEAD", &path, None)?.status == 200 {
            skipped += 1;
        } else {
            let file = args.reldir.join(CHUNKS_DIR).join(chunk.sha256.to_string());
            let data = read_capped(&file, chunk.size)?;
            client
                .send("PUT", &path, Some(&data))?
                .ok()
                .with_context(|| format!("uploading chunk {}", chunk.sha256))?;
            uploaded += 1;
        }
        progress.inc(chunk.size);
    }
    progress.finish_and_clear();
    let path = match &args.file_name {
        Some(name) => format!("/v1/admin/releases?file_name={name}"),
        None => "/v1/admin/releases".to_owned(),
    };
    let published: Published = client
        .send("POST", &path, Some(&bytes))?
        .typed()
        .context("publishing the manifest")?;
    let summary = PublishSummary {
        published,
        chunks_uploaded: uploaded,
        chunks_already_present: skipped,
    };
    if args.format.document(&summary)? {
        return Ok(());
    }
    let published = summary.published;
    println!(
        "published {} for {}: {uploaded} chunk(s) uploaded, {skipped} already on the server, manifest {}",
        manifest.version,
        manifest.hardware.join(","),
        published.manifest_id,
    );
    println!("{}", manifest.version);
    Ok(())
}

fn publish_keys(args: PublishKeysArgs) -> Result<()> {
    let client = crate::client::Client::new(&args.server)?;
    let keys = KeyDir::new(&args.keys);
    // Checked here first (the root signed it), so a broken directory fails
    // before anything is sent.
    keys.load_public()?;
    let path = keys.file(crate::keydir::KEY_STATEMENT);
    let statement = read_capped(&path, Limits::default().max_manifest_bytes as u64)?;
    let Some(stored) = client.answer_bytes::<KeyStatementStored>(
        args.format,
        "PUT",
        "/v1/admin/key-statement",
        Some(&statement),
    )?
    else {
        return Ok(());
    };
    println!(
        "the server now has key statement version {} ({})",
        stored.version,
        path.display()
    );
    Ok(())
}
