//! Chunks: immutable, content-addressed bytes, served with HTTP Range so a
//! download resumes where it stopped, and cacheable forever by any CDN.

use sluice_protocol::{Digest, Limits};

use crate::http::{ApiError, Request, Response};
use crate::keys;
use crate::service::Service;

/// What a `Range` header asks of a body of known length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range (or one the server ignores, such as several ranges): the whole body.
    Full,
    /// Bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// A range that cannot be satisfied: 416.
    Unsatisfiable,
}

/// Parses a single-range `Range: bytes=...` header against a body of `len` bytes.
/// Several ranges are answered with the whole body, as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(header) = header else {
        return RangeRequest::Full;
    };
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Unsatisfiable;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match number(last) {
            Some(n) if n > 0 && len > 0 => RangeRequest::Partial {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            _ => RangeRequest::Unsatisfiable,
        },
        // bytes=N-: from N to the end.
        (false, true) => match number(first) {
            Some(start) if start < len => RangeRequest::Partial {
                start,
                end: len - 1,
            },
            _ => RangeRequest::Unsatisfiable,
        },
        // bytes=N-M
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end && start < len => RangeRequest::Partial {
                start,
                end: end.min(len - 1),
            },
            _ => RangeRequest::Unsatisfiable,
        },
        (true, true) => RangeRequest::Unsatisfiable,
    }
}

fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    text.parse::<Digest>().map_err(|_| {
        ApiError::bad_request("a chunk is named by its SHA-256: 64 lowercase hex digits")
    })
}

/// Handles `/v1/chunks/{sha256}`.
pub fn handle(svc: &Service, request: &Request) -> Response {
    let name = request.path.strip_prefix("/v1/chunks/").unwrap_or_default();
    crate::http::respond(serve(svc, request, name))
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
        Some(validator) if validator.trim() != etag => RangeRequest::Full,
        _ => parse_range(request.header_value("range"), len),
    };
    let head = request.method == "HEAD";
    let response = match range {
        RangeRequest::Full => Response {
            status: 200,
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            body: if head { Vec::new() } else { bytes },
        }
        .with_header("content-length", len.to_string()),
        RangeRequest::Partial { start, end } => Response {
            status: 206,
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            body: if head {
                Vec::new()
            } else {
                bytes[start as usize..=end as usize].to_vec()
            },
        }
        .with_header("content-range", format!("bytes {start}-{end}/{len}"))
        .with_header("content-length", (end - start + 1).to_string()),
        RangeRequest::Unsatisfiable => ApiError::new(
            416,
            "range_not_satisfiable",
            format!("the chunk is {len} bytes long"),
        )
        .into_response()
        .with_header("content-range", format!("bytes */{len}")),
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
                return Ok(Response::json(200, &serde_json::json!({"stored": false})));
            }
            svc.store.set(&key, &request.body)?;
            Ok(Response::json(201, &serde_json::json!({"stored": true})))
        }
        _ => Err(ApiError::method_not_allowed("PUT or HEAD")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(
            parse_range(Some("bytes=0-3"), 10),
            Partial { start: 0, end: 3 }
        );
        assert_eq!(
            parse_range(Some("bytes=4-"), 10),
            Partial { start: 4, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=-3"), 10),
            Partial { start: 7, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=-30"), 10),
            Partial { start: 0, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=5-100"), 10),
            Partial { start: 5, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=abc"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=+1-2"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Unsatisfiable);
    }
}
