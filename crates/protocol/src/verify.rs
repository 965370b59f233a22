//! Device-side verification: a manifest against the trust root and the device's
//! state, then each chunk and the whole image as they arrive.

use crate::{
    ChunkRef, Digest, DigestHasher, Envelope, Error, KeyId, KeyStatement, KeyStatus, Limits,
    MANIFEST_TYPE, Manifest, SignedManifest, TrustRoot,
};

/// What a device knows about itself when it decides whether to accept a release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceFacts {
    /// The device's hardware id.
    pub hardware: String,
    /// The highest security version the device has committed (anti-rollback).
    pub committed_security_version: u64,
    /// The current time (unix seconds).
    pub now: u64,
}

/// Verifies signed manifests against a trust root.
///
/// ```
/// use sluice_protocol::*;
/// # let root = SecretKey::from_seed([1; 32]);
/// # let signer = SecretKey::from_seed([2; 32]);
/// # let trust = TrustRoot::new(vec![root.public_key()], 1).unwrap();
/// # let statement = KeyStatement::new(1, 0, vec![signer.public_key()], vec![]).unwrap().sign(&[&root]);
/// # let image = b"firmware".to_vec();
/// # let mut b = ManifestBuilder::new(Limits::default());
/// # b.add_chunk(&image).unwrap();
/// # let info = ReleaseInfo { version: "1.0".into(), hardware: vec!["cam".into()],
/// #     security_version: 3, created_at: 10, expires_at: 1000 };
/// # let manifest = b.finish(info, signer.key_id()).unwrap();
/// # let bytes = SignedManifest::sign(&manifest, &signer, statement).unwrap().to_bytes();
/// let verifier = Verifier::new(trust);
/// let device = DeviceFacts { hardware: "cam".into(), committed_security_version: 2, now: 100 };
/// let release = verifier.verify_for_device(&bytes, &device).unwrap();
///
/// // Then, as the image streams into the inactive slot:
/// let mut image_check = release.image_verifier();
/// image_check.update(&image).unwrap();
/// image_check.finish().unwrap();
///
/// // A device that committed security version 4 refuses it.
/// let newer = DeviceFacts { committed_security_version: 4, ..device };
/// assert!(matches!(
///     verifier.verify_for_device(&bytes, &newer),
///     Err(Error::SecurityVersionRollback { manifest: 3, committed: 4 })
/// ));
/// ```
#[derive(Clone, Debug)]
pub struct Verifier {
    trust: TrustRoot,
    known_statement: Option<KeyStatement>,
    limits: Limits,
}

impl Verifier {
    /// A verifier anchored in `trust`, with default limits.
    pub fn new(trust: TrustRoot) -> Self {
        Verifier {
            trust,
            known_statement: None,
            limits: Limits::default(),
        }
    }

    /// Uses other size caps.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Adopts the newest key statement the device holds. A manifest that travels
    /// with an older statement is then judged by this one: a key revoked here stays
    /// revoked.
    pub fn with_key_statement(mut self, envelope: &Envelope) -> Result<Self, Error> {
        let statement = self.trust.verify_statement(envelope)?;
        if self
            .known_statement
            .as_ref()
            .is_none_or(|known| statement.version > known.version)
        {
            self.known_statement = Some(statement);
        }
        Ok(self)
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks that `bytes` is a well-formed manifest, signed by a key the trust root
    /// certifies and has not revoked, and not expired at `now`. This is what the
    /// server checks when a release is published; devices use
    /// [`Verifier::verify_for_device`].
    pub fn verify(&self, bytes: &[u8], now: u64) -> Result<VerifiedManifest, Error> {
        let signed = SignedManifest::from_bytes(bytes, &self.limits)?;
        let embedded = self.trust.verify_statement(&signed.key_statement)?;
        let (statement, newer_key_statement) = match &self.known_statement {
            Some(known) if known.version >= embedded.version => (known.clone(), None),
            _ => (embedded, Some(signed.key_statement.clone())),
        };

        let envelope = &signed.manifest;
        if envelope.payload_type != MANIFEST_TYPE {
            return Err(Error::WrongPayloadType {
                what: "signed manifest",
                expected: MANIFEST_TYPE,
                found: envelope.payload_type.clone(),
            });
        }
        let [signature] = envelope.signatures.as_slice() else {
            return Err(Error::SignatureCount {
                found: envelope.signatures.len(),
            });
        };
        let key_id = signature.key_id;
        match statement.status(key_id) {
            KeyStatus::Revoked => {
                return Err(Error::RevokedSigningKey {
                    key_id,
                    statement_version: statement.version,
                });
            }
            KeyStatus::Unknown => return Err(Error::UncertifiedSigningKey { key_id }),
            KeyStatus::Certified(key) => {
                if !envelope.is_signed_by(signature, &key) {
                    return Err(Error::BadSignature { key_id });
                }
            }
        }

        let manifest: Manifest =
            serde_json::from_slice(&envelope.payload).map_err(|e| Error::Malformed {
                what: "manifest",
                reason: e.to_string(),
            })?;
        if manifest.key_id != key_id {
            return Err(Error::KeyIdMismatch {
                signed_by: key_id,
                manifest_says: manifest.key_id,
            });
        }
        manifest.validate(&self.limits)?;
        if now >= manifest.expires_at {
            return Err(Error::Expired {
                expires_at: manifest.expires_at,
                now,
            });
        }
        Ok(VerifiedManifest {
            id: signed.id(),
            manifest,
            signed_by: key_id,
            statement_version: statement.version,
            newer_key_statement,
        })
    }

    /// Everything [`Verifier::verify`] checks, and that the release is for this
    /// device's hardware and not below its committed security version.
    pub fn verify_for_device(
        &self,
        bytes: &[u8],
        device: &DeviceFacts,
    ) -> Result<VerifiedManifest, Error> {
        let verified = self.verify(bytes, device.now)?;
        verified.check_device(device)?;
        Ok(verified)
    }
}

/// A manifest whose signature, signer and validity have been checked.
#[derive(Clone, Debug)]
pub struct VerifiedManifest {
    id: Digest,
    manifest: Manifest,
    signed_by: KeyId,
    statement_version: u64,
    newer_key_statement: Option<Envelope>,
}

impl VerifiedManifest {
    /// The manifest id (SHA-256 of the signed payload).
    pub fn id(&self) -> Digest {
        self.id
    }

    /// The verified content.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The key that signed it.
    pub fn signed_by(&self) -> KeyId {
        self.signed_by
    }

    /// The version of the key statement it was judged by.
    pub fn key_statement_version(&self) -> u64 {
        self.statement_version
    }

    /// The key statement that came with the manifest, when it is newer than the one
    /// the verifier held: a device stores it and passes it to
    /// [`Verifier::with_key_statement`] from then on.
    pub fn newer_key_statement(&self) -> Option<&Envelope> {
        self.newer_key_statement.as_ref()
    }

    /// Checks hardware compatibility and anti-rollback for a device.
    pub fn check_device(&self, device: &DeviceFacts) -> Result<(), Error> {
        if !self.manifest.supports_hardware(&device.hardware) {
            return Err(Error::WrongHardware {
                device: device.hardware.clone(),
                supported: self.manifest.hardware.clone(),
            });
        }
        if self.manifest.security_version < device.committed_security_version {
            return Err(Error::SecurityVersionRollback {
                manifest: self.manifest.security_version,
                committed: device.committed_security_version,
            });
        }
        Ok(())
    }

    /// A streaming check of chunk `index`.
    pub fn chunk_verifier(&self, index: usize) -> Result<ChunkVerifier, Error> {
        let chunk = self.manifest.chunks.get(index).ok_or(Error::NoSuchChunk {
            index,
            count: self.manifest.chunks.len(),
        })?;
        Ok(ChunkVerifier::new(index, *chunk))
    }

    /// Checks a whole chunk at once.
    pub fn verify_chunk(&self, index: usize, data: &[u8]) -> Result<(), Error> {
        let mut check = self.chunk_verifier(index)?;
        check.update(data)?;
        check.finish()
    }

    /// A streaming check of the whole image, chunk by chunk as the bytes arrive.
    pub fn image_verifier(&self) -> ImageVerifier<'_> {
        ImageVerifier {
            manifest: &self.manifest,
            next_chunk: 0,
            current: None,
            received: 0,
            hasher: Digest::hasher(),
        }
    }
}

/// Checks one chunk as its bytes arrive: refuses the first byte past the stated
/// size, so an endless response is cut off at once.
pub struct ChunkVerifier {
    index: usize,
    chunk: ChunkRef,
    received: u64,
    hasher: DigestHasher,
}

impl ChunkVerifier {
    fn new(index: usize, chunk: ChunkRef) -> Self {
        ChunkVerifier {
            index,
            chunk,
            received: 0,
            hasher: Digest::hasher(),
        }
    }

    /// Bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.chunk.size - self.received
    }

    /// Feeds more of the chunk.
    pub fn update(&mut self, data: &[u8]) -> Result<(), Error> {
        if data.len() as u64 > self.remaining() {
            return Err(Error::ChunkTooLong {
                index: self.index,
                digest: self.chunk.sha256,
                expected: self.chunk.size,
            });
        }
        self.received += data.len() as u64;
        self.hasher.update(data);
        Ok(())
    }

    /// Checks length and digest once the chunk is complete.
    pub fn finish(self) -> Result<(), Error> {
        if self.received < self.chunk.size {
            return Err(Error::ChunkTooShort {
                index: self.index,
                digest: self.chunk.sha256,
                expected: self.chunk.size,
                actual: self.received,
            });
        }
        let actual = self.hasher.finish();
        if actual != self.chunk.sha256 {
            return Err(Error::ChunkDigestMismatch {
                index: self.index,
                expected: self.chunk.sha256,
                actual,
            });
        }
        Ok(())
    }
}

/// Checks an image streamed in order: every chunk as it completes, then the size
/// and digest of the whole.
pub struct ImageVerifier<'m> {
    manifest: &'m Manifest,
    next_chunk: usize,
    current: Option<ChunkVerifier>,
    received: u64,
    hasher: DigestHasher,
}

impl ImageVerifier<'_> {
    /// Feeds the next bytes of the image.
    pub fn update(&mut self, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            let check = match &mut self.current {
                Some(check) => check,
                None => {
                    let Some(chunk) = self.manifest.chunks.get(self.next_chunk) else {
                        return Err(Error::ImageTooLong {
                            expected: self.manifest.image.size,
                        });
                    };
                    self.next_chunk += 1;
                    self.current
                        .insert(ChunkVerifier::new(self.next_chunk - 1, *chunk))
                }
            };
            let take = usize::try_from(check.remaining())
                .unwrap_or(usize::MAX)
                .min(data.len());
            let (now, rest) = data.split_at(take);
            check.update(now)?;
            self.hasher.update(now);
            self.received += take as u64;
            if check.remaining() == 0
                && let Some(done) = self.current.take()
            {
                done.finish()?;
            }
            data = rest;
        }
        Ok(())
    }

    /// Bytes accepted so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Checks that the whole image arrived and matches its digest.
    pub fn finish(self) -> Result<(), Error> {
        let image = self.manifest.image;
        if self.current.is_some() || self.next_chunk < self.manifest.chunks.len() {
            return Err(Error::ImageTooShort {
                expected: image.size,
                actual: self.received,
            });
        }
        let actual = self.hasher.finish();
        if actual != image.sha256 {
            return Err(Error::ImageDigestMismatch {
                expected: image.sha256,
                actual,
            });
        }
        Ok(())
    }
}
