//! The Sluice release format and its verification.
//!
//! A release is a firmware image cut into content-addressed chunks and a
//! [`Manifest`] listing them, signed offline with Ed25519 by the operator. The
//! server stores and serves the signed bytes but holds no key: devices verify
//! everything themselves against a [`TrustRoot`] provisioned at manufacture.
//!
//! Trust has two levels, as in TUF and Uptane: root keys sign a [`KeyStatement`]
//! naming the signing keys (and revoked ones); signing keys sign manifests. Rotating
//! or revoking a signing key is a new root-signed statement, not a device update.
//!
//! This crate is plain Rust with no I/O, no clock and no randomness: it builds for
//! `wasm32-wasip2` (the server components) and for the host (CLI, device agent).
//! Every input is size-capped ([`Limits`]) and every failure is a distinct
//! [`Error`] variant naming what is wrong.
//!
//! ```
//! use sluice_protocol::*;
//!
//! // Operator, offline: a root key certifies a signing key.
//! let root = SecretKey::from_seed([1; 32]);
//! let signer = SecretKey::from_seed([2; 32]);
//! let trust = TrustRoot::new(vec![root.public_key()], 1).unwrap();
//! let statement = KeyStatement::new(1, 1_700_000_000, vec![signer.public_key()], vec![])
//!     .unwrap()
//!     .sign(&[&root]);
//!
//! // Pack: chunk the image and sign the manifest.
//! let image = vec![7u8; 1_000_000];
//! let mut builder = ManifestBuilder::new(Limits::default());
//! for chunk in image.chunks(DEFAULT_CHUNK_SIZE as usize) {
//!     builder.add_chunk(chunk).unwrap();
//! }
//! let info = ReleaseInfo {
//!     version: "2.0.0".into(),
//!     hardware: vec!["cam-v2".into()],
//!     security_version: 5,
//!     created_at: 1_700_000_000,
//!     expires_at: 1_900_000_000,
//! };
//! let manifest = builder.finish(info, signer.key_id()).unwrap();
//! let signed = SignedManifest::sign(&manifest, &signer, statement).unwrap().to_bytes();
//!
//! // Device: verify the manifest, then every chunk as it arrives.
//! let device = DeviceFacts {
//!     hardware: "cam-v2".into(),
//!     committed_security_version: 5,
//!     now: 1_800_000_000,
//! };
//! let release = Verifier::new(trust).verify_for_device(&signed, &device).unwrap();
//! for (i, chunk) in image.chunks(DEFAULT_CHUNK_SIZE as usize).enumerate() {
//!     release.verify_chunk(i, chunk).unwrap();
//! }
//! ```

mod builder;
mod canonical;
mod digest;
mod envelope;
mod error;
mod hex;
mod keys;
mod limits;
mod manifest;
mod signed;
mod trust;
mod verify;

pub use builder::{ManifestBuilder, ReleaseInfo};
pub use digest::{Digest, DigestHasher, ParseDigestError};
pub use envelope::{Envelope, EnvelopeSignature, signed_message};
pub use error::Error;
pub use keys::{KeyId, ParseKeyIdError, PublicKey, SIGNATURE_LEN, SecretKey};
pub use limits::{DEFAULT_CHUNK_SIZE, Limits};
pub use manifest::{ChunkRef, ImageInfo, MANIFEST_FORMAT, MANIFEST_TYPE, Manifest, is_valid_name};
pub use signed::SignedManifest;
pub use trust::{
    KEY_STATEMENT_TYPE, KeyStatement, KeyStatus, TrustRoot, decode_statement_file,
    encode_statement_file,
};
pub use verify::{ChunkVerifier, DeviceFacts, ImageVerifier, VerifiedManifest, Verifier};
