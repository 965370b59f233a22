//! Artifact downloads: the release image, streamed chunk by chunk from the
//! store, with `Range` (one range, or several as `multipart/byteranges`),
//! `If-Match` and `If-Range` against the image's SHA-256 as a strong ETag.

use sluice_protocol::{Limits, Manifest, SignedManifest};

use super::deployment::image_for;
use super::{Controller, module_id};
use crate::kernel::byte_ranges::{self, ByteRange, Ranges};
use crate::kernel::http::{ApiError, Request, Response};
use crate::kernel::keys;
use crate::kernel::service::Service;
use crate::kernel::streamed_body::{BodyPart, Reply, StreamedResponse};

/// `GET|HEAD softwaremodules/{moduleId}/artifacts/{fileName}` (and
/// `{fileName}.MD5SUM`).
pub(crate) fn download(
    svc: &Service,
    request: &Request,
    controller: &Controller,
    module: &str,
    file: &str,
) -> Result<Reply, ApiError> {
    let missing = || ApiError::not_found(format!("no artifact {file:?} in module {module}"));
    let module: u32 = module.parse().map_err(|_| missing())?;
    // A device may fetch what it is asked to install, what it would roll back
    // to, and what it runs: never another release's image.
    let state = &controller.state;
    let mut candidates: Vec<&str> = vec![state.version.as_str()];
    if let Some(rollout) = &state.rollout {
        candidates.push(&rollout.release);
        candidates.push(&rollout.from_version);
    }
    candidates.retain(|v| !v.is_empty());
    candidates.dedup();
    let (file, md5sum) = match file.strip_suffix(".MD5SUM") {
        Some(name) => (name, true),
        None => (file, false),
    };
    for version in candidates {
        let Ok((image, artifact)) = image_for(svc, version, &controller.device.hardware) else {
            continue;
        };
        if module_id(&image.manifest_id) != module || artifact.file_name != file {
            continue;
        }
        if md5sum {
            let body = format!("{}  {}\n", artifact.md5, artifact.file_name).into_bytes();
            let length = body.len().to_string();
            return Ok(Reply::Whole(
                Response {
                    status: 200,
                    headers: vec![("content-type".into(), "text/plain".into())],
                    body,
                }
                .with_header("content-length", length),
            ));
        }
        let manifest = stored_manifest(svc, &image.manifest_id)?;
        return serve(request, &manifest, &artifact.sha256);
    }
    Err(missing())
}

fn stored_manifest(svc: &Service, manifest_id: &str) -> Result<Manifest, ApiError> {
    let bytes = svc
        .store
        .get(&keys::manifest(manifest_id))?
        .ok_or_else(|| ApiError::internal("published manifest is missing from the store"))?;
    let signed = SignedManifest::from_bytes(&bytes, &Limits::default())
        .map_err(|e| ApiError::internal(format!("stored manifest: {e}")))?;
    serde_json::from_slice(&signed.manifest.payload)
        .map_err(|e| ApiError::internal(format!("stored manifest: {e}")))
}

fn serve(request: &Request, manifest: &Manifest, sha256: &str) -> Result<Reply, ApiError> {
    let len = manifest.image.size;
    let etag = format!("\"{sha256}\"");
    let matches = |header: &str| {
        header
            .split(',')
            .any(|t| t.trim() == "*" || t.trim() == etag)
    };
    if let Some(header) = request.header_value("if-match")
        && !matches(header)
    {
        return Err(ApiError::new(
            412,
            "precondition_failed",
            format!("the artifact's ETag is {etag}"),
        ));
    }
    let ranges = match request.header_value("if-range") {
        // A resumed download of an image that changed starts again.
        Some(validator) if validator.trim() != etag => Ranges::Full,
        _ => byte_ranges::parse(request.header_value("range"), len),
    };
    let common = vec![
        ("etag".to_owned(), etag.clone()),
        ("accept-ranges".to_owned(), "bytes".to_owned()),
        (
            "cache-control".to_owned(),
            "private, max-age=31536000, immutable".to_owned(),
        ),
    ];
    let head = request.method == "HEAD";
    let (status, mut headers, parts) = match ranges {
        Ranges::Unsatisfiable => {
            return Ok(Reply::Whole(
                ApiError::new(
                    416,
                    "range_not_satisfiable",
                    format!("the artifact is {len} bytes long"),
                )
                .into_response()
                .with_header("content-range", format!("bytes */{len}")),
            ));
        }
        Ranges::Full => (
            200,
            vec![(
                "content-type".to_owned(),
                "application/octet-stream".to_owned(),
            )],
            slices(
                manifest,
                ByteRange {
                    start: 0,
                    end: len.saturating_sub(1),
                },
                len,
            ),
        ),
        Ranges::Satisfiable(ranges) if ranges.len() == 1 => (
            206,
            vec![
                (
                    "content-type".to_owned(),
                    "application/octet-stream".to_owned(),
                ),
                ("content-range".to_owned(), ranges[0].content_range(len)),
            ],
            slices(manifest, ranges[0], len),
        ),
        Ranges::Satisfiable(ranges) => {
            let boundary = format!("sluice-{}", &sha256[..sha256.len().min(24)]);
            let mut parts = Vec::new();
            for range in &ranges {
                parts.push(BodyPart::Bytes(
                    format!(
                        "\r\n--{boundary}\r\ncontent-type: application/octet-stream\r\ncontent-range: {}\r\n\r\n",
                        range.content_range(len)
                    )
                    .into_bytes(),
                ));
                parts.extend(slices(manifest, *range, len));
            }
            parts.push(BodyPart::Bytes(
                format!("\r\n--{boundary}--\r\n").into_bytes(),
            ));
            (
                206,
                vec![(
                    "content-type".to_owned(),
                    format!("multipart/byteranges; boundary={boundary}"),
                )],
                parts,
            )
        }
    };
    let length: u64 = parts.iter().map(BodyPart::len).sum();
    headers.extend(common);
    headers.push(("content-length".to_owned(), length.to_string()));
    Ok(Reply::Streamed(StreamedResponse {
        status,
        headers,
        parts: if head { Vec::new() } else { parts },
    }))
}

/// The slices of the image's chunks that make up `range` (empty for an empty image).
fn slices(manifest: &Manifest, range: ByteRange, len: u64) -> Vec<BodyPart> {
    if len == 0 {
        return Vec::new();
    }
    manifest
        .chunks
        .iter()
        .filter(|c| c.offset <= range.end && c.offset + c.size > range.start)
        .map(|c| BodyPart::ChunkSlice {
            digest: c.sha256.to_string(),
            start: (range.start.max(c.offset) - c.offset) as usize,
            end: (range.end.min(c.offset + c.size - 1) - c.offset + 1) as usize,
        })
        .collect()
}
