//! Every way a release can fail to be built or to verify, each with its own variant
//! so that callers (and tests) can tell them apart, and each message naming the
//! chunk, field or key at fault.

use crate::{Digest, KeyId};

/// Why a signed file, a manifest, a chunk or an image was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The signed manifest is larger than the cap; it was not parsed.
    #[error("signed manifest is {size} bytes, above the limit of {limit}")]
    ManifestTooLarge { size: usize, limit: usize },

    /// Bytes that do not parse as the named file.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },

    /// A signed file that parses but is not byte-for-byte in canonical form.
    #[error("{what} is not in canonical form (it was altered after signing)")]
    NotCanonical { what: &'static str },

    /// A format version this code does not understand.
    #[error("{what} has format {found}, this verifier understands format {supported}")]
    UnsupportedFormat {
        what: &'static str,
        found: u32,
        supported: u32,
    },

    /// An envelope carrying a payload of the wrong type.
    #[error("{what} has payload type {found:?}, expected {expected:?}")]
    WrongPayloadType {
        what: &'static str,
        expected: &'static str,
        found: String,
    },

    /// A trust root that cannot anchor anything (no keys, bad threshold).
    #[error("invalid trust root: {0}")]
    InvalidTrustRoot(String),

    /// A key statement without enough valid root signatures.
    #[error(
        "key statement is not signed by the trust root: {valid} valid root signature(s), {threshold} required"
    )]
    KeyStatementNotTrusted { valid: usize, threshold: u32 },

    /// A root-signed key statement whose content is inconsistent.
    #[error("invalid key statement: {0}")]
    InvalidKeyStatement(String),

    /// A manifest envelope without exactly one signature.
    #[error("signed manifest must carry exactly one signature, found {found}")]
    SignatureCount { found: usize },

    /// A manifest signed by a key that no trusted key statement certifies.
    #[error("manifest is signed by key {key_id}, which the trust root has not certified")]
    UncertifiedSigningKey { key_id: KeyId },

    /// A manifest signed by a key the root has revoked.
    #[error(
        "manifest is signed by key {key_id}, revoked by key statement version {statement_version}"
    )]
    RevokedSigningKey {
        key_id: KeyId,
        statement_version: u64,
    },

    /// A signature that does not verify.
    #[error("manifest signature by key {key_id} does not verify (manifest or signature altered)")]
    BadSignature { key_id: KeyId },

    /// The manifest names a different key than the one that signed it.
    #[error("manifest says it is signed by key {manifest_says}, but key {signed_by} signed it")]
    KeyIdMismatch {
        signed_by: KeyId,
        manifest_says: KeyId,
    },

    /// A manifest field that is out of range or inconsistent with the others.
    #[error("manifest field `{field}`: {reason}")]
    InvalidManifest { field: String, reason: String },

    /// The manifest's validity has ended.
    #[error("manifest expired at {expires_at} (unix seconds); it is now {now}")]
    Expired { expires_at: u64, now: u64 },

    /// The release is not built for this device's hardware.
    #[error("release is for hardware {supported:?}, not for this device's {device:?}")]
    WrongHardware {
        device: String,
        supported: Vec<String>,
    },

    /// Anti-rollback: the release is older, security-wise, than what the device committed.
    #[error(
        "release has security version {manifest}, below the device's committed security version {committed}"
    )]
    SecurityVersionRollback { manifest: u64, committed: u64 },

    /// A chunk index past the end of the chunk list.
    #[error("chunk {index} does not exist (the manifest lists {count} chunks)")]
    NoSuchChunk { index: usize, count: usize },

    /// More bytes arrived for a chunk than the manifest states.
    #[error("chunk {index} ({digest}) is longer than the {expected} bytes the manifest states")]
    ChunkTooLong {
        index: usize,
        digest: Digest,
        expected: u64,
    },

    /// Fewer bytes arrived for a chunk than the manifest states.
    #[error(
        "chunk {index} ({digest}) is {actual} bytes, shorter than the {expected} the manifest states"
    )]
    ChunkTooShort {
        index: usize,
        digest: Digest,
        expected: u64,
        actual: u64,
    },

    /// A chunk whose content does not match its digest.
    #[error("chunk {index} has SHA-256 {actual}, the manifest states {expected}")]
    ChunkDigestMismatch {
        index: usize,
        expected: Digest,
        actual: Digest,
    },

    /// More image bytes arrived than the manifest states.
    #[error("image is longer than the {expected} bytes the manifest states")]
    ImageTooLong { expected: u64 },

    /// The image ended early.
    #[error("image is {actual} bytes, shorter than the {expected} the manifest states")]
    ImageTooShort { expected: u64, actual: u64 },

    /// The assembled image does not match the manifest's image digest.
    #[error("image has SHA-256 {actual}, the manifest states {expected}")]
    ImageDigestMismatch { expected: Digest, actual: Digest },
}
