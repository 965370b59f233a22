//! The signed manifest file: what `sluice release pack` writes to `RELDIR/manifest`,
//! what the server stores and serves unchanged, and what a device verifies.

use serde::{Deserialize, Serialize};

use crate::{Digest, Envelope, Error, Limits, MANIFEST_TYPE, Manifest, SecretKey, canonical};

/// A manifest envelope together with the root-signed key statement that
/// certifies its signer, so that a device holding only the trust root can verify it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedManifest {
    /// The manifest's exact bytes and the signing key's signature over them.
    pub manifest: Envelope,
    /// The key statement current when the manifest was signed.
    pub key_statement: Envelope,
}

impl SignedManifest {
    /// Signs `manifest` with `key`, which must be the key the manifest names.
    pub fn sign(
        manifest: &Manifest,
        key: &SecretKey,
        key_statement: Envelope,
    ) -> Result<Self, Error> {
        if manifest.key_id != key.key_id() {
            return Err(Error::KeyIdMismatch {
                signed_by: key.key_id(),
                manifest_says: manifest.key_id,
            });
        }
        Ok(SignedManifest {
            manifest: Envelope::sign(MANIFEST_TYPE, canonical::to_vec(manifest), &[key]),
            key_statement,
        })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        canonical::to_vec(self)
    }

    /// Parses a signed manifest file, refusing oversized or non-canonical input
    /// before anything else. Signatures are checked by [`crate::Verifier`].
    pub fn from_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        if bytes.len() > limits.max_manifest_bytes {
            return Err(Error::ManifestTooLarge {
                size: bytes.len(),
                limit: limits.max_manifest_bytes,
            });
        }
        canonical::from_slice("signed manifest", bytes)
    }

    /// The manifest id: the SHA-256 of the signed manifest payload. It names the
    /// release content, whichever key statement travels with it.
    pub fn id(&self) -> Digest {
        Digest::of(&self.manifest.payload)
    }
}
