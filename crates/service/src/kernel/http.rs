//! Plain HTTP request and response values, so the service's behaviour (status
//! codes, headers, JSON errors) is defined and tested without any HTTP stack.
//! Components convert Spin's types to and from these.

use serde::Serialize;

/// An HTTP request as the service sees it.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// The path, without query string, e.g. `/v1/checkin`.
    pub path: String,
    /// The query string without `?` (may be empty).
    pub query: String,
    /// Header names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: &str, path: &str) -> Self {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        Request {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            ..Request::default()
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of query parameter `name`, if present.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The value of query parameter `name` as a number; one that does not
    /// parse is a bad request.
    pub fn query_number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.query_param(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| ApiError::bad_request(format!("{name} must be a number")))
            })
            .transpose()
    }

    /// The value of query parameter `name` as text: percent escapes decoded
    /// and `+` read as a space, as a browser's form or `URLSearchParams`
    /// writes it. A value that is not UTF-8 is a bad request.
    ///
    /// ```
    /// use sluice_service::Request;
    /// let r = Request::new("GET", "/x?q=site%3Dberlin+lamp");
    /// assert_eq!(r.query_text("q").unwrap().as_deref(), Some("site=berlin lamp"));
    /// assert!(Request::new("GET", "/x?q=%ff").query_text("q").is_err());
    /// ```
    pub fn query_text(&self, name: &str) -> Result<Option<String>, ApiError> {
        let Some(raw) = self.query_param(name) else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(raw.len());
        let mut rest = raw.as_bytes();
        while let Some((&b, tail)) = rest.split_first() {
            rest = tail;
            match b {
                b'+' => bytes.push(b' '),
                b'%' => {
                    let hex = rest
                        .get(..2)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| {
                            ApiError::bad_request(format!("{name}: a % must start an escape"))
                        })?;
                    bytes.push(hex);
                    rest = &rest[2..];
                }
                _ => bytes.push(b),
            }
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("{name} is not UTF-8 text")))
    }
}

/// An HTTP response from the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a status and no body.
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        let mut body = serde_json::to_vec(value).unwrap_or_default();
        body.push(b'\n');
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (for tests and clients).
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A request the service refuses or cannot serve: a status, a stable
/// machine-readable code, and a message for people. Rendered as
/// `{"error": code, "message": message}`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "conflict", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    pub fn method_not_allowed(allowed: &str) -> Self {
        Self::new(405, "method_not_allowed", format!("use {allowed}"))
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "body_too_large",
            format!("request body is above the limit of {limit} bytes"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }

    /// The JSON response for this error.
    pub fn into_response(self) -> Response {
        let response = Response::json(
            self.status,
            &sluice_api::error::ErrorAnswer {
                error: self.code.to_owned(),
                message: self.message,
            },
        );
        if self.status == 401 {
            response.with_header("www-authenticate", "Basic realm=\"sluice\", Bearer")
        } else {
            response
        }
    }
}

impl From<crate::kernel::store::StoreError> for ApiError {
    fn from(e: crate::kernel::store::StoreError) -> Self {
        ApiError::new(503, "store_unavailable", e.to_string())
    }
}

/// Parses a JSON body, refusing bodies above `limit` bytes.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    limit: usize,
) -> Result<T, ApiError> {
    if body.len() > limit {
        return Err(ApiError::too_large(limit));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::new(400, "malformed_json", e.to_string()))
}

/// Longest reason an operator gives for a revocation or a setting, in bytes.
pub const MAX_REASON: usize = 500;

/// The reason an operator gave, trimmed; refused when empty or longer than
/// [`MAX_REASON`].
pub fn stated_reason(reason: &str) -> Result<&str, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > MAX_REASON {
        return Err(ApiError::bad_request(format!(
            "reason: say why, in at most {MAX_REASON} bytes"
        )));
    }
    Ok(reason)
}

/// Turns a handler result into a response.
pub fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}
