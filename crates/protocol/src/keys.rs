//! Ed25519 keys and their identifiers.
//!
//! Key generation takes a 32-byte seed from the caller: this crate does no I/O and
//! gathers no randomness, so the CLI decides where entropy comes from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Digest, hex};

/// The length of an Ed25519 signature in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// A short, stable name for a public key: the first 8 bytes of the SHA-256 of the
/// key, as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    fn of(public_key: &[u8; 32]) -> Self {
        let digest = Digest::of(public_key);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest.as_bytes()[..8]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A string that is not a key id (16 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a key id (expected 16 lowercase hex digits): {0:?}")]
pub struct ParseKeyIdError(pub String);

impl FromStr for KeyId {
    type Err = ParseKeyIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex::decode_exact::<8>(s)
            .map(KeyId)
            .ok_or_else(|| ParseKeyIdError(s.chars().take(40).collect()))
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 public key, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_compact::PublicKey,
    id: KeyId,
}

impl PublicKey {
    /// Parses 32 raw public-key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PublicKey {
            key: ed25519_compact::PublicKey::new(bytes),
            id: KeyId::of(&bytes),
        }
    }

    /// This key's id.
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// Whether `signature` is a valid signature by this key over exactly `message`.
    ///
    /// Verification is strict: non-canonical signatures and small-order keys fail.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match ed25519_compact::Signature::from_slice(signature) {
            Ok(sig) => self.key.verify(message, &sig).is_ok(),
            Err(_) => false,
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.as_bytes()))
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode_exact::<32>(&text)
            .map(PublicKey::from_bytes)
            .ok_or_else(|| serde::de::Error::custom("public key must be 64 lowercase hex digits"))
    }
}

/// An Ed25519 secret key. Only the operator's offline tooling ever holds one; the
/// server and devices never do.
///
/// ```
/// use sluice_protocol::SecretKey;
/// let key = SecretKey::from_seed([7; 32]);
/// let sig = key.sign(b"firmware");
/// assert!(key.public_key().verifies(b"firmware", &sig));
/// assert!(!key.public_key().verifies(b"firmwarE", &sig));
/// ```
#[derive(Clone)]
pub struct SecretKey {
    pair: ed25519_compact::KeyPair,
    public: PublicKey,
}

impl SecretKey {
    /// Derives a key pair from 32 secret random bytes.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
        let public = PublicKey::from_bytes(*pair.pk);
        SecretKey { pair, public }
    }

    /// The seed this key was made from: what a key file stores.
    pub fn seed(&self) -> [u8; 32] {
        *self.pair.sk.seed()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The id of the matching public key.
    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// Signs exactly `message` (deterministic Ed25519).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        *self.pair.sk.sign(message, None)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, secret elided)", self.key_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_stable_and_parses() {
        let key = SecretKey::from_seed([1; 32]);
        let id = key.key_id();
        assert_eq!(id.to_string().len(), 16);
        assert_eq!(id.to_string().parse::<KeyId>().unwrap(), id);
        assert_eq!(SecretKey::from_seed(key.seed()).key_id(), id);
    }

    #[test]
    fn public_key_serde_round_trip() {
        let pk = SecretKey::from_seed([2; 32]).public_key();
        let json = serde_json::to_string(&pk).unwrap();
        let back: PublicKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back, pk);
        assert_eq!(back.key_id(), pk.key_id());
    }

    #[test]
    fn wrong_length_signature_fails() {
        let key = SecretKey::from_seed([3; 32]);
        let sig = key.sign(b"m");
        assert!(!key.public_key().verifies(b"m", &sig[..63]));
        assert!(!key.public_key().verifies(b"m", &[]));
    }

    #[test]
    fn debug_does_not_print_secret() {
        let key = SecretKey::from_seed([4; 32]);
        let text = format!("{key:?}");
        assert!(!text.contains(&hex::encode(&key.seed())));
    }
}
