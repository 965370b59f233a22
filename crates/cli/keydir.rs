//! The operator's key directory, as `sluice keygen` lays it out:
//!
//! | file             | what                                             | mode |
//! |------------------|--------------------------------------------------|------|
//! | `root.key`       | root secret key: keep offline                    | 0600 |
//! | `signing.key`    | current signing secret key                       | 0600 |
//! | `trust.json`     | trust root: provisioned on devices and the server | 0644 |
//! | `keys.statement` | root-signed statement of the signing keys        | 0644 |
//! | `retired/*.key`  | signing keys replaced by `--rotate`              | 0600 |
//!
//! Commands that only verify read the two public files and nothing else.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sluice_protocol::{Envelope, KeyId, KeyStatement, SecretKey, TrustRoot};

use crate::atomic_file::{self, Visibility};

pub const ROOT_KEY: &str = "root.key";
pub const SIGNING_KEY: &str = "signing.key";
pub const TRUST_ROOT: &str = "trust.json";
pub const KEY_STATEMENT: &str = "keys.statement";
pub const RETIRED: &str = "retired";

const ROOT_KIND: &str = "sluice-root-key";
const SIGNING_KIND: &str = "sluice-signing-key";

/// A secret key file: which role, which key, and its seed.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretKeyFile {
    kind: String,
    key_id: KeyId,
    seed: String,
}

/// A key directory on disk.
pub struct KeyDir {
    path: PathBuf,
}

/// The public half of a key directory: what verification needs.
pub struct PublicTrust {
    pub trust_root: TrustRoot,
    pub statement_envelope: Envelope,
    pub statement: KeyStatement,
}

impl KeyDir {
    pub fn new(path: &Path) -> Self {
        KeyDir {
            path: path.to_owned(),
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn has_keys(&self) -> bool {
        self.file(ROOT_KEY).exists()
    }

    /// Reads the trust root and key statement, and checks that the root signed it.
    pub fn load_public(&self) -> Result<PublicTrust> {
        let trust_path = self.file(TRUST_ROOT);
        let trust_root = TrustRoot::from_json(&read(&trust_path)?)
            .with_context(|| format!("{}", trust_path.display()))?;
        let statement_path = self.file(KEY_STATEMENT);
        let statement_envelope = sluice_protocol::decode_statement_file(&read(&statement_path)?)
            .with_context(|| format!("{}", statement_path.display()))?;
        let statement = trust_root
            .verify_statement(&statement_envelope)
            .with_context(|| format!("{}", statement_path.display()))?;
        Ok(PublicTrust {
            trust_root,
            statement_envelope,
            statement,
        })
    }

    pub fn load_root_key(&self) -> Result<SecretKey> {
        self.load_secret(&self.file(ROOT_KEY), ROOT_KIND)
    }

    pub fn load_signing_key(&self) -> Result<SecretKey> {
        self.load_secret(&self.file(SIGNING_KEY), SIGNING_KIND)
    }

    fn load_secret(&self, path: &Path, kind: &str) -> Result<SecretKey> {
        let file: SecretKeyFile = serde_json::from_slice(&read(path)?)
            .with_context(|| format!("{} is not a Sluice key file", path.display()))?;
        if file.kind != kind {
            bail!(
                "{} holds a {}, expected a {kind}",
                path.display(),
                file.kind
            );
        }
        let seed: [u8; 32] = hex::decode(&file.seed)
            .ok()
            .and_then(|s| s.try_into().ok())
            .with_context(|| format!("{}: seed is not 64 hex digits", path.display()))?;
        let key = SecretKey::from_seed(seed);
        if key.key_id() != file.key_id {
            bail!(
                "{}: seed gives key {}, the file says {}",
                path.display(),
                key.key_id(),
                file.key_id
            );
        }
        Ok(key)
    }

    pub fn write_root_key(&self, key: &SecretKey) -> Result<()> {
        write_secret(&self.file(ROOT_KEY), ROOT_KIND, key)
    }

    pub fn write_signing_key(&self, key: &SecretKey) -> Result<()> {
        write_secret(&self.file(SIGNING_KEY), SIGNING_KIND, key)
    }

    /// Keeps a replaced signing key under `retired/` rather than destroying it.
    pub fn retire_signing_key(&self, key: &SecretKey) -> Result<PathBuf> {
        let dir = self.file(RETIRED);
        create_private_dir(&dir)?;
        let path = dir.join(format!("{}.key", key.key_id()));
        write_secret(&path, SIGNING_KIND, key)?;
        Ok(path)
    }

    pub fn write_trust_root(&self, trust: &TrustRoot) -> Result<()> {
        atomic_file::write(&self.file(TRUST_ROOT), &trust.to_json(), Visibility::Public)
    }

    pub fn write_statement(&self, envelope: &Envelope) -> Result<()> {
        atomic_file::write(
            &self.file(KEY_STATEMENT),
            &sluice_protocol::encode_statement_file(envelope),
            Visibility::Public,
        )
    }

    pub fn create(&self) -> Result<()> {
        create_private_dir(&self.path)
    }
}

fn write_secret(path: &Path, kind: &str, key: &SecretKey) -> Result<()> {
    let file = SecretKeyFile {
        kind: kind.to_owned(),
        key_id: key.key_id(),
        seed: hex::encode(key.seed()),
    };
    let mut bytes = serde_json::to_vec_pretty(&file)?;
    bytes.push(b'\n');
    atomic_file::write(path, &bytes, Visibility::Secret)
}

fn create_private_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}
