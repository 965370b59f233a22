//! The trust root and root-signed key statements.
//!
//! Devices are provisioned once with a [`TrustRoot`]: the root public keys and how
//! many of them must sign. Roots sign [`KeyStatement`]s naming the signing keys that
//! may sign manifests and the ones that are revoked. A statement carries a version;
//! a device keeps the newest one it has seen, so rotating or revoking a signing key
//! is a new statement and never a change on the device, and an old statement
//! cannot be replayed to un-revoke a key.

use serde::{Deserialize, Serialize};

use crate::{Envelope, Error, KeyId, PublicKey, SecretKey, canonical};

/// Payload type of a key statement envelope.
pub const KEY_STATEMENT_TYPE: &str = "application/vnd.sluice.key-statement.v1+json";

const TRUST_ROOT_FORMAT: u32 = 1;
const KEY_STATEMENT_FORMAT: u32 = 1;

/// The keys a device trusts absolutely: provisioned at manufacture, public.
///
/// ```
/// use sluice_protocol::{SecretKey, TrustRoot};
/// let root = SecretKey::from_seed([1; 32]);
/// let trust = TrustRoot::new(vec![root.public_key()], 1).unwrap();
/// let json = trust.to_json();
/// assert_eq!(TrustRoot::from_json(&json).unwrap(), trust);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRoot {
    format: u32,
    /// How many distinct root keys must sign a key statement.
    threshold: u32,
    root_keys: Vec<PublicKey>,
}

impl TrustRoot {
    /// A trust root requiring `threshold` of `root_keys` on every key statement.
    pub fn new(root_keys: Vec<PublicKey>, threshold: u32) -> Result<Self, Error> {
        let root = TrustRoot {
            format: TRUST_ROOT_FORMAT,
            threshold,
            root_keys,
        };
        root.validate()?;
        Ok(root)
    }

    /// Parses and validates a trust root file.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let root: TrustRoot = serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
            what: "trust root",
            reason: e.to_string(),
        })?;
        root.validate()?;
        Ok(root)
    }

    /// The trust root file, pretty-printed for the people who provision devices.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// The root public keys.
    pub fn root_keys(&self) -> &[PublicKey] {
        &self.root_keys
    }

    fn validate(&self) -> Result<(), Error> {
        if self.format != TRUST_ROOT_FORMAT {
            return Err(Error::UnsupportedFormat {
                what: "trust root",
                found: self.format,
                supported: TRUST_ROOT_FORMAT,
            });
        }
        if self.root_keys.is_empty() {
            return Err(Error::InvalidTrustRoot("no root keys".into()));
        }
        let mut ids: Vec<KeyId> = self.root_keys.iter().map(PublicKey::key_id).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != self.root_keys.len() {
            return Err(Error::InvalidTrustRoot("a root key is listed twice".into()));
        }
        if self.threshold == 0 || self.threshold as usize > self.root_keys.len() {
            return Err(Error::InvalidTrustRoot(format!(
                "threshold {} must be between 1 and the {} root key(s)",
                self.threshold,
                self.root_keys.len()
            )));
        }
        Ok(())
    }

    /// Checks a key statement envelope against this root and returns its content.
    pub fn verify_statement(&self, envelope: &Envelope) -> Result<KeyStatement, Error> {
        if envelope.payload_type != KEY_STATEMENT_TYPE {
            return Err(Error::WrongPayloadType {
                what: "key statement",
                expected: KEY_STATEMENT_TYPE,
                found: envelope.payload_type.clone(),
            });
        }
        let mut signers: Vec<KeyId> = Vec::new();
        for sig in &envelope.signatures {
            let Some(root) = self.root_keys.iter().find(|k| k.key_id() == sig.key_id) else {
                continue;
            };
            if envelope.is_signed_by(sig, root) && !signers.contains(&sig.key_id) {
                signers.push(sig.key_id);
            }
        }
        if signers.len() < self.threshold as usize {
            return Err(Error::KeyStatementNotTrusted {
                valid: signers.len(),
                threshold: self.threshold,
            });
        }
        let statement: KeyStatement =
            serde_json::from_slice(&envelope.payload).map_err(|e| Error::Malformed {
                what: "key statement",
                reason: e.to_string(),
            })?;
        statement.validate()?;
        Ok(statement)
    }
}

/// A root-signed list of the keys allowed to sign manifests, and of revoked ones.
///
/// ```
/// use sluice_protocol::{KeyStatement, KeyStatus, SecretKey, TrustRoot};
/// let root = SecretKey::from_seed([1; 32]);
/// let signer = SecretKey::from_seed([2; 32]);
/// let trust = TrustRoot::new(vec![root.public_key()], 1).unwrap();
/// let statement = KeyStatement::new(1, 1_700_000_000, vec![signer.public_key()], vec![]).unwrap();
/// let envelope = statement.sign(&[&root]);
/// let checked = trust.verify_statement(&envelope).unwrap();
/// assert!(matches!(checked.status(signer.key_id()), KeyStatus::Certified(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStatement {
    format: u32,
    /// Monotonic: a device never goes back to a lower version.
    pub version: u64,
    /// When the root signed it (unix seconds).
    pub issued_at: u64,
    /// Keys that may sign manifests.
    pub signing_keys: Vec<PublicKey>,
    /// Keys that must no longer be trusted, whatever older statements said.
    pub revoked: Vec<KeyId>,
}

/// What a key statement says of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// The key may sign manifests.
    Certified(PublicKey),
    /// The key was revoked.
    Revoked,
    /// The statement does not mention the key.
    Unknown,
}

impl KeyStatement {
    /// A statement certifying `signing_keys` and revoking `revoked`.
    pub fn new(
        version: u64,
        issued_at: u64,
        signing_keys: Vec<PublicKey>,
        revoked: Vec<KeyId>,
    ) -> Result<Self, Error> {
        let statement = KeyStatement {
            format: KEY_STATEMENT_FORMAT,
            version,
            issued_at,
            signing_keys,
            revoked,
        };
        statement.validate()?;
        Ok(statement)
    }

    fn validate(&self) -> Result<(), Error> {
        if self.format != KEY_STATEMENT_FORMAT {
            return Err(Error::UnsupportedFormat {
                what: "key statement",
                found: self.format,
                supported: KEY_STATEMENT_FORMAT,
            });
        }
        for key in &self.signing_keys {
            if self.revoked.contains(&key.key_id()) {
                return Err(Error::InvalidKeyStatement(format!(
                    "key {} is both certified and revoked",
                    key.key_id()
                )));
            }
        }
        Ok(())
    }

    /// Signs this statement with root keys.
    pub fn sign(&self, roots: &[&SecretKey]) -> Envelope {
        Envelope::sign(KEY_STATEMENT_TYPE, canonical::to_vec(self), roots)
    }

    /// Whether `key_id` is certified, revoked or unknown.
    pub fn status(&self, key_id: KeyId) -> KeyStatus {
        if self.revoked.contains(&key_id) {
            return KeyStatus::Revoked;
        }
        match self.signing_keys.iter().find(|k| k.key_id() == key_id) {
            Some(key) => KeyStatus::Certified(*key),
            None => KeyStatus::Unknown,
        }
    }
}

/// Encodes a key statement envelope as a standalone file (canonical JSON).
pub fn encode_statement_file(envelope: &Envelope) -> Vec<u8> {
    canonical::to_vec(envelope)
}

/// Decodes a standalone key statement file; the caller still verifies it with
/// [`TrustRoot::verify_statement`].
pub fn decode_statement_file(bytes: &[u8]) -> Result<Envelope, Error> {
    canonical::from_slice("key statement", bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    #[test]
    fn threshold_must_be_met_by_distinct_root_keys() {
        let (r1, r2) = (key(1), key(2));
        let trust = TrustRoot::new(vec![r1.public_key(), r2.public_key()], 2).unwrap();
        let st = KeyStatement::new(1, 0, vec![key(3).public_key()], vec![]).unwrap();
        assert!(trust.verify_statement(&st.sign(&[&r1, &r2])).is_ok());
        assert_eq!(
            trust.verify_statement(&st.sign(&[&r1, &r1])),
            Err(Error::KeyStatementNotTrusted {
                valid: 1,
                threshold: 2
            })
        );
        assert_eq!(
            trust.verify_statement(&st.sign(&[&r1, &key(9)])),
            Err(Error::KeyStatementNotTrusted {
                valid: 1,
                threshold: 2
            })
        );
    }

    #[test]
    fn bad_trust_roots_are_refused() {
        assert!(matches!(
            TrustRoot::new(vec![], 1),
            Err(Error::InvalidTrustRoot(_))
        ));
        let k = key(1).public_key();
        assert!(matches!(
            TrustRoot::new(vec![k], 2),
            Err(Error::InvalidTrustRoot(_))
        ));
        assert!(matches!(
            TrustRoot::new(vec![k, k], 1),
            Err(Error::InvalidTrustRoot(_))
        ));
        assert!(matches!(
            TrustRoot::new(vec![k], 0),
            Err(Error::InvalidTrustRoot(_))
        ));
        assert!(matches!(
            TrustRoot::from_json(b"{\"format\":1}"),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn statement_signed_by_a_signing_key_is_not_trusted() {
        let trust = TrustRoot::new(vec![key(1).public_key()], 1).unwrap();
        let signer = key(2);
        let st = KeyStatement::new(1, 0, vec![signer.public_key()], vec![]).unwrap();
        assert!(matches!(
            trust.verify_statement(&st.sign(&[&signer])),
            Err(Error::KeyStatementNotTrusted { valid: 0, .. })
        ));
    }

    #[test]
    fn a_key_cannot_be_both_certified_and_revoked() {
        let k = key(2).public_key();
        assert!(matches!(
            KeyStatement::new(1, 0, vec![k], vec![k.key_id()]),
            Err(Error::InvalidKeyStatement(_))
        ));
    }

    #[test]
    fn statement_file_round_trip() {
        let st = KeyStatement::new(4, 5, vec![key(2).public_key()], vec![key(3).key_id()]).unwrap();
        let env = st.sign(&[&key(1)]);
        let bytes = encode_statement_file(&env);
        assert_eq!(decode_statement_file(&bytes).unwrap(), env);
    }
}
