//! A release signed with freshly generated keys: what `sluice demo`,
//! `sluice conformance` and `sluice bench` publish. Nothing here is kept: the keys live only as long as
//! the run.

use anyhow::Result;
use sluice_protocol::{
    Envelope, KeyStatement, Limits, ManifestBuilder, ReleaseInfo, SecretKey, SignedManifest,
    TrustRoot,
};

/// A signed release, ready to publish.
pub struct SampleRelease {
    pub trust: TrustRoot,
    /// The signed manifest file.
    pub manifest: Vec<u8>,
    /// `(sha256, bytes)` of every chunk, in order.
    pub chunks: Vec<(String, Vec<u8>)>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `N` bytes from the system's randomness.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    Ok(bytes)
}

/// Pseudo-random bytes (xorshift from a random seed): no two chunks alike.
pub fn noise(len: usize) -> Result<Vec<u8>> {
    let mut state = u64::from_le_bytes(random_bytes()?) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Ok(out)
}

impl SampleRelease {
    /// Fresh keys, and an image of `image_bytes` in chunks of `chunk_bytes`,
    /// signed as `version` for `hardware` with `security_version`.
    pub fn generate(
        version: &str,
        hardware: &str,
        security_version: u64,
        image_bytes: usize,
        chunk_bytes: usize,
    ) -> Result<SampleRelease> {
        let root = SecretKey::from_seed(random_bytes()?);
        let signer = SecretKey::from_seed(random_bytes()?);
        let statement =
            KeyStatement::new(1, unix_now(), vec![signer.public_key()], vec![])?.sign(&[&root]);
        SampleRelease::signed(
            TrustRoot::new(vec![root.public_key()], 1)?,
            &signer,
            &statement,
            version,
            hardware,
            security_version,
            image_bytes,
            chunk_bytes,
        )
    }

    /// An image like [`SampleRelease::generate`]'s, signed with `signer`, whose
    /// key `statement` (signed by `trust`'s root keys) vouches for.
    #[allow(clippy::too_many_arguments)]
    pub fn signed(
        trust: TrustRoot,
        signer: &SecretKey,
        statement: &Envelope,
        version: &str,
        hardware: &str,
        security_version: u64,
        image_bytes: usize,
        chunk_bytes: usize,
    ) -> Result<SampleRelease> {
        let now = unix_now();
        let image = noise(image_bytes)?;
        let mut builder = ManifestBuilder::new(Limits::default());
        let mut chunks = Vec::new();
        for data in image.chunks(chunk_bytes.max(1)) {
            let digest = builder.add_chunk(data)?;
            chunks.push((digest.to_string(), data.to_vec()));
        }
        let manifest = builder.finish(
            ReleaseInfo {
                version: version.into(),
                hardware: vec![hardware.into()],
                security_version,
                created_at: now,
                expires_at: now + 86_400,
            },
            signer.key_id(),
        )?;
        let signed = SignedManifest::sign(&manifest, signer, statement.clone())?;
        Ok(SampleRelease {
            trust,
            manifest: signed.to_bytes(),
            chunks,
        })
    }
}
