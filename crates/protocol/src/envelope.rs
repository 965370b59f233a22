//! Signed envelopes: a typed payload, kept as the exact bytes that were signed,
//! with one or more Ed25519 signatures over it.
//!
//! What is signed is not the payload alone but a pre-authentication encoding that
//! binds the payload type: a key statement can never be replayed as a manifest, nor
//! the other way round, even if the same key signed both.

use serde::{Deserialize, Serialize};

use crate::canonical::base64_bytes;
use crate::{KeyId, PublicKey, SecretKey};

const DOMAIN: &[u8] = b"sluice-signature-v1\n";

/// A payload and the signatures over it, as stored in signed files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// What the payload is, e.g. [`crate::MANIFEST_TYPE`].
    pub payload_type: String,
    /// The exact signed bytes.
    #[serde(with = "base64_bytes")]
    pub payload: Vec<u8>,
    /// Signatures over [`signed_message`] of the type and payload.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature in an [`Envelope`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// The id of the key that made it.
    pub key_id: KeyId,
    /// The 64-byte Ed25519 signature.
    #[serde(with = "base64_bytes")]
    pub sig: Vec<u8>,
}

/// The bytes a signature covers: a domain tag, then the type and the payload, each
/// prefixed by its length as a little-endian u64.
pub fn signed_message(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 16 + payload_type.len() + payload.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&(payload_type.len() as u64).to_le_bytes());
    m.extend_from_slice(payload_type.as_bytes());
    m.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    m.extend_from_slice(payload);
    m
}

impl Envelope {
    /// Signs `payload` as `payload_type` with each of `keys`.
    pub fn sign(payload_type: &str, payload: Vec<u8>, keys: &[&SecretKey]) -> Self {
        let message = signed_message(payload_type, &payload);
        let signatures = keys
            .iter()
            .map(|k| EnvelopeSignature {
                key_id: k.key_id(),
                sig: k.sign(&message).to_vec(),
            })
            .collect();
        Envelope {
            payload_type: payload_type.to_owned(),
            payload,
            signatures,
        }
    }

    /// Whether `signature` is a valid signature by `key` over this envelope.
    pub fn is_signed_by(&self, signature: &EnvelopeSignature, key: &PublicKey) -> bool {
        signature.key_id == key.key_id()
            && key.verifies(
                &signed_message(&self.payload_type, &self.payload),
                &signature.sig,
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_binds_the_payload_type() {
        let key = SecretKey::from_seed([9; 32]);
        let env = Envelope::sign("a", b"payload".to_vec(), &[&key]);
        assert!(env.is_signed_by(&env.signatures[0], &key.public_key()));
        let retyped = Envelope {
            payload_type: "b".into(),
            ..env.clone()
        };
        assert!(!retyped.is_signed_by(&env.signatures[0], &key.public_key()));
    }

    #[test]
    fn length_prefixes_prevent_boundary_shifts() {
        assert_ne!(signed_message("ab", b"c"), signed_message("a", b"bc"));
    }
}
