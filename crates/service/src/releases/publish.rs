//! Publishing a release: a signed manifest, verified against the trust root and
//! the stored key statement, refused unless every chunk is already stored.

use serde_json::json;
use sluice_api::admin::releases::{Artifact, Published, Release, ReleaseImage};
use sluice_protocol::{Limits, Verifier};

use crate::kernel::http::ApiError;
use crate::kernel::service::Service;
use crate::{kernel::keys, kernel::records, ops::audit};

/// Longest artifact file name.
pub const MAX_FILE_NAME: usize = 128;

/// Whether `name` is a plain file name: letters, digits and `. _ - +`, not
/// starting with a dot, at most [`MAX_FILE_NAME`] bytes.
pub fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

fn verifier(svc: &Service) -> Result<Verifier, ApiError> {
    let trust = svc.config.trust_root.clone().ok_or_else(|| {
        ApiError::new(
            503,
            "no_trust_root",
            "publishing is disabled: set the trust_root variable",
        )
    })?;
    let mut verifier = Verifier::new(trust);
    if let Some(bytes) = svc.store.get(keys::KEY_STATEMENT)? {
        let envelope = sluice_protocol::decode_statement_file(&bytes)
            .map_err(|e| ApiError::internal(format!("stored key statement: {e}")))?;
        verifier = verifier
            .with_key_statement(&envelope)
            .map_err(|e| ApiError::internal(format!("stored key statement: {e}")))?;
    }
    Ok(verifier)
}

/// Publishes a signed manifest: verifies it, checks that every chunk is stored
/// and that they reassemble to the signed image, then makes it visible.
/// Idempotent for the same manifest; publishing it again with another
/// `file_name` renames its DDI artifact.
pub fn publish(
    svc: &Service,
    body: &[u8],
    file_name: Option<&str>,
    by: &str,
) -> Result<Published, ApiError> {
    if let Some(name) = file_name
        && !valid_file_name(name)
    {
        return Err(ApiError::bad_request(format!(
            "file_name {name:?}: at most {MAX_FILE_NAME} letters, digits and . _ - +, not starting with a dot"
        )));
    }
    let limit = Limits::default().max_manifest_bytes;
    if body.len() > limit {
        return Err(ApiError::too_large(limit));
    }
    let now = svc.env.now();
    let verified = verifier(svc)?
        .verify(body, now)
        .map_err(|e| ApiError::new(422, "manifest_refused", e.to_string()))?;
    let manifest = verified.manifest();

    let mut digests: Vec<String> = manifest
        .chunks
        .iter()
        .map(|c| c.sha256.to_string())
        .collect();
    digests.sort();
    digests.dedup();
    let mut missing = Vec::new();
    for digest in &digests {
        if !svc.store.exists(&keys::chunk(digest))? {
            missing.push(digest.clone());
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::new(
            409,
            "chunks_missing",
            format!(
                "{} of {} chunks are not uploaded yet (first: {}); upload them, then publish again",
                missing.len(),
                digests.len(),
                missing[0]
            ),
        ));
    }

    let manifest_id = verified.id().to_string();
    let artifact = artifact_of(
        svc,
        manifest,
        file_name.map_or_else(|| format!("{}.img", manifest.version), str::to_owned),
    )?;
    let entry = ReleaseImage {
        manifest_id: manifest_id.clone(),
        hardware: manifest.hardware.clone(),
        security_version: manifest.security_version,
        size: manifest.image.size,
        chunks: manifest.chunks.len() as u64,
        key_id: manifest.key_id.to_string(),
        created_at: manifest.created_at,
        expires_at: manifest.expires_at,
        published_at: now,
        artifact: Some(artifact),
    };
    let version = manifest.version.clone();
    // Refuse a clash before writing anything; then the manifest bytes, and last
    // the release record that makes them visible.
    let existing: Option<Release> = records::read(svc.store, &keys::release(&version))?;
    if let Some(record) = &existing {
        check_clash(record, &entry)?;
    }
    svc.store.set(&keys::manifest(&manifest_id), body)?;
    let mut added = false;
    let (_, wrote) =
        records::update::<Release, _>(svc.store, &keys::release(&version), |current| {
            let mut record = current.cloned().unwrap_or_else(|| Release {
                version: version.clone(),
                images: Vec::new(),
            });
            if !check_clash(&record, &entry)? {
                // Already published: only a new file name (or the artifact of a
                // release published before DDI support) changes anything.
                let Some(existing) = record
                    .images
                    .iter_mut()
                    .find(|m| m.manifest_id == entry.manifest_id)
                else {
                    return Ok(None);
                };
                let renamed = file_name.is_some() && existing.artifact != entry.artifact;
                if !renamed && existing.artifact.is_some() {
                    return Ok(None);
                }
                existing.artifact = entry.artifact.clone();
                return Ok(Some(record));
            }
            record.images.push(entry.clone());
            added = true;
            Ok(Some(record))
        })?;
    let created = wrote && added;
    if wrote && !added {
        audit::append(
            svc.store,
            now,
            by,
            "release.artifact",
            &version,
            None,
            Some(json!({"manifest_id": manifest_id, "artifact": entry.artifact})),
        )?;
    }
    if created {
        records::add_to_list(svc.store, keys::RELEASE_INDEX, &version)?;
        audit::append(
            svc.store,
            now,
            by,
            "release.publish",
            &version,
            None,
            Some(
                json!({"manifest_id": manifest_id, "hardware": entry.hardware,
                        "security_version": entry.security_version, "key_id": entry.key_id}),
            ),
        )?;
    }
    Ok(Published {
        release: version,
        manifest_id,
        hardware: entry.hardware,
        created,
    })
}

/// Reads the image's chunks in order, one at a time, to compute the digests DDI
/// clients check; refuses chunks that do not reassemble to the signed image.
fn artifact_of(
    svc: &Service,
    manifest: &sluice_protocol::Manifest,
    file_name: String,
) -> Result<Artifact, ApiError> {
    use md5::Digest as _;
    let mut sha256 = sluice_protocol::Digest::hasher();
    let mut sha1 = sha1::Sha1::new();
    let mut md5 = md5::Md5::new();
    for chunk in &manifest.chunks {
        let bytes = svc
            .store
            .get(&keys::chunk(&chunk.sha256.to_string()))?
            .ok_or_else(|| {
                ApiError::new(
                    409,
                    "chunks_missing",
                    format!("chunk {} disappeared while publishing", chunk.sha256),
                )
            })?;
        if bytes.len() as u64 != chunk.size {
            return Err(ApiError::new(
                422,
                "manifest_refused",
                format!(
                    "chunk {} is {} bytes, the manifest says {}",
                    chunk.sha256,
                    bytes.len(),
                    chunk.size
                ),
            ));
        }
        sha256.update(&bytes);
        sha1.update(&bytes);
        md5.update(&bytes);
    }
    let sha256 = sha256.finish();
    if sha256 != manifest.image.sha256 {
        return Err(ApiError::new(
            422,
            "manifest_refused",
            format!(
                "the chunks reassemble to an image with SHA-256 {sha256}, the manifest says {}",
                manifest.image.sha256
            ),
        ));
    }
    Ok(Artifact {
        file_name,
        sha256: sha256.to_string(),
        sha1: hex_of(&sha1.finalize()),
        md5: hex_of(&md5.finalize()),
    })
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `entry` is new to `record` (`false`: already published); a conflict if
/// the release already has a different image for any of its hardware.
fn check_clash(record: &Release, entry: &ReleaseImage) -> Result<bool, ApiError> {
    if record
        .images
        .iter()
        .any(|m| m.manifest_id == entry.manifest_id)
    {
        return Ok(false);
    }
    if let Some(clash) = record
        .images
        .iter()
        .find(|m| m.hardware.iter().any(|h| entry.hardware.contains(h)))
    {
        return Err(ApiError::conflict(format!(
            "release {} already has a different image ({}) for hardware {:?}; releases are immutable, publish a new version",
            record.version, clash.manifest_id, clash.hardware
        )));
    }
    Ok(true)
}
