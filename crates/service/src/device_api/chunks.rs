//! Chunks: immutable, content-addressed bytes, served with HTTP Range so a
//! download resumes where it stopped, and cacheable forever by any CDN.

use sluice_api::admin::releases::ChunkStored;
use sluice_protocol::{Digest, Limits};

use crate::kernel::byte_ranges::{self, Ranges};
use crate::kernel::http::{ApiError, Request, Response};
use crate::kernel::keys;
use crate::kernel::service::Service;

fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    text.parse::<Digest>().map_err(|_| {
        ApiError::bad_request("a chunk is named by its SHA-256: 64 lowercase hex digits")
    })
}

/// Handles `/v1/chunks/{sha256}`.
pub fn handle(svc: &Service, request: &Request) -> Response {
    let name = request.path.strip_prefix("/v1/chunks/").unwrap_or_default();
    crate::kernel::http::respond(serve(svc, request, name))
}

/// `GET|HEAD /v1/chunks/{sha256}`.
pub fn serve(svc: &Service, request: &Request, name: &str) -> Result<Response, ApiError> {
    if request.method != "GET" && request.method != "HEAD" {
        return Err(ApiError::method_not_allowed("GET"));
    }
    let digest = parse_digest(name)?;
    let bytes = svc
        .store
        .get(&keys::chunk(name))?
        .ok_or_else(|| ApiError::not_found(format!("no chunk {digest}")))?;
    let etag = format!("\"{digest}\"");
    let common = |response: Response| {
        response
            .with_header("etag", etag.clone())
            .with_header("cache-control", "public, max-age=31536000, immutable")
            .with_header("accept-ranges", "bytes")
    };
    if request
        .header_value("if-none-match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok(common(Response::empty(304)));
    }
    let len = bytes.len() as u64;
    let range = match request.header_value("if-range") {
        // A resumed download whose validator no longer matches gets the whole chunk.
        Some(validator) if validator.trim() != etag => Ranges::Full,
        _ => byte_ranges::parse(request.header_value("range"), len),
    };
    let head = request.method == "HEAD";
    let response = match range {
        Ranges::Satisfiable(ranges) if ranges.len() == 1 => {
            let range = ranges[0];
            Response {
                status: 206,
                headers: vec![("content-type".into(), "application/octet-stream".into())],
                body: if head {
                    Vec::new()
                } else {
                    bytes[range.start as usize..=range.end as usize].to_vec()
                },
            }
            .with_header("content-range", range.content_range(len))
            .with_header("content-length", range.len().to_string())
        }
        Ranges::Unsatisfiable => ApiError::new(
            416,
            "range_not_satisfiable",
            format!("the chunk is {len} bytes long"),
        )
        .into_response()
        .with_header("content-range", format!("bytes */{len}")),
        // A chunk is small: several ranges get the whole chunk, as RFC 9110 allows.
        Ranges::Full | Ranges::Satisfiable(_) => Response {
            status: 200,
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            body: if head { Vec::new() } else { bytes },
        }
        .with_header("content-length", len.to_string()),
    };
    Ok(common(response))
}

/// `PUT /v1/admin/chunks/{sha256}`: stores a chunk if its content matches its name.
/// `HEAD` answers whether it is stored (so uploads skip what the server has).
pub fn upload(svc: &Service, request: &Request, name: &str) -> Result<Response, ApiError> {
    let digest = parse_digest(name)?;
    let key = keys::chunk(name);
    match request.method.as_str() {
        "HEAD" | "GET" => {
            let status = if svc.store.exists(&key)? { 200 } else { 404 };
            Ok(Response::empty(status))
        }
        "PUT" => {
            let limit = Limits::default().max_chunk_size as usize;
            if request.body.len() > limit {
                return Err(ApiError::too_large(limit));
            }
            let actual = Digest::of(&request.body);
            if actual != digest {
                return Err(ApiError::new(
                    422,
                    "digest_mismatch",
                    format!("the body's SHA-256 is {actual}, not {digest}"),
                ));
            }
            if svc.store.exists(&key)? {
                return Ok(Response::json(200, &ChunkStored { stored: false }));
            }
            svc.store.set(&key, &request.body)?;
            Ok(Response::json(201, &ChunkStored { stored: true }))
        }
        _ => Err(ApiError::method_not_allowed("PUT or HEAD")),
    }
}
