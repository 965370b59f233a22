//! Building a manifest from an image, one chunk at a time, without holding the
//! image in memory.

use crate::{
    ChunkRef, Digest, DigestHasher, Error, ImageInfo, KeyId, Limits, MANIFEST_FORMAT, Manifest,
};

/// What the operator states about a release, beside the image itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseInfo {
    /// The version string.
    pub version: String,
    /// Hardware ids the image may be installed on.
    pub hardware: Vec<String>,
    /// The anti-rollback counter.
    pub security_version: u64,
    /// Signing time (unix seconds).
    pub created_at: u64,
    /// End of validity (unix seconds).
    pub expires_at: u64,
}

/// Accumulates an image's chunks into a [`Manifest`].
///
/// ```
/// use sluice_protocol::{Limits, ManifestBuilder, ReleaseInfo, SecretKey};
/// let image = vec![0xab; 600_000];
/// let mut builder = ManifestBuilder::new(Limits::default());
/// for chunk in image.chunks(256 * 1024) {
///     let digest = builder.add_chunk(chunk).unwrap();
///     // store `chunk` under `digest` here
/// }
/// let info = ReleaseInfo {
///     version: "1.0.0".into(),
///     hardware: vec!["cam-v2".into()],
///     security_version: 1,
///     created_at: 1_700_000_000,
///     expires_at: 1_800_000_000,
/// };
/// let signer = SecretKey::from_seed([3; 32]);
/// let manifest = builder.finish(info, signer.key_id()).unwrap();
/// assert_eq!(manifest.chunks.len(), 3);
/// assert_eq!(manifest.image.size, 600_000);
/// ```
pub struct ManifestBuilder {
    limits: Limits,
    chunks: Vec<ChunkRef>,
    size: u64,
    image: DigestHasher,
}

impl ManifestBuilder {
    /// A builder that enforces `limits`.
    pub fn new(limits: Limits) -> Self {
        ManifestBuilder {
            limits,
            chunks: Vec::new(),
            size: 0,
            image: Digest::hasher(),
        }
    }

    /// Appends the image's next chunk and returns its digest, the name it is
    /// stored and served under.
    pub fn add_chunk(&mut self, data: &[u8]) -> Result<Digest, Error> {
        let index = self.chunks.len();
        if data.is_empty() || data.len() as u64 > self.limits.max_chunk_size {
            return Err(Error::InvalidManifest {
                field: format!("chunks[{index}].size"),
                reason: format!(
                    "is {}, must be 1..={}",
                    data.len(),
                    self.limits.max_chunk_size
                ),
            });
        }
        if index >= self.limits.max_chunks {
            return Err(Error::InvalidManifest {
                field: "chunks".into(),
                reason: format!(
                    "the image needs more than {} chunks; use a larger chunk size",
                    self.limits.max_chunks
                ),
            });
        }
        let digest = Digest::of(data);
        self.image.update(data);
        self.chunks.push(ChunkRef {
            sha256: digest,
            offset: self.size,
            size: data.len() as u64,
        });
        self.size += data.len() as u64;
        Ok(digest)
    }

    /// Bytes added so far.
    pub fn image_size(&self) -> u64 {
        self.size
    }

    /// The finished, validated manifest, to be signed by `key_id`.
    pub fn finish(self, info: ReleaseInfo, key_id: KeyId) -> Result<Manifest, Error> {
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            version: info.version,
            hardware: info.hardware,
            security_version: info.security_version,
            created_at: info.created_at,
            expires_at: info.expires_at,
            key_id,
            image: ImageInfo {
                size: self.size,
                sha256: self.image.finish(),
            },
            chunks: self.chunks,
        };
        manifest.validate(&self.limits)?;
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ReleaseInfo {
        ReleaseInfo {
            version: "1".into(),
            hardware: vec!["hw".into()],
            security_version: 0,
            created_at: 1,
            expires_at: 2,
        }
    }

    #[test]
    fn empty_image_has_no_chunks() {
        let m = ManifestBuilder::new(Limits::default())
            .finish(info(), "0000000000000000".parse().unwrap())
            .unwrap();
        assert!(m.chunks.is_empty());
        assert_eq!(m.image.size, 0);
        assert_eq!(m.image.sha256, Digest::of(b""));
    }

    #[test]
    fn refuses_empty_oversized_and_too_many_chunks() {
        let limits = Limits {
            max_chunks: 2,
            max_chunk_size: 4,
            ..Limits::default()
        };
        let mut b = ManifestBuilder::new(limits);
        assert!(b.add_chunk(b"").is_err());
        assert!(b.add_chunk(b"12345").is_err());
        b.add_chunk(b"1234").unwrap();
        b.add_chunk(b"5").unwrap();
        assert!(matches!(
            b.add_chunk(b"6"),
            Err(Error::InvalidManifest { field, .. }) if field == "chunks"
        ));
    }
}
