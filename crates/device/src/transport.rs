//! How the agent talks to the server: check-in, manifest, chunks, status.

use base64::Engine as _;
use serde_json::Value;
use sluice_api::checkin::{CheckinAnswer, CheckinReport};
use sluice_api::error::ErrorAnswer;
use sluice_api::status::{StatusAnswer, StatusReport};

/// Why a request did not get a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Network trouble or a 5xx: retry with backoff (or after `retry_after`).
    #[error("temporary failure: {message}")]
    Temporary {
        message: String,
        retry_after: Option<u64>,
    },
    /// A 4xx: the server refuses this device's request; retrying would not help.
    #[error("refused ({status}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
}

/// The server, as the agent needs it.
pub trait Transport {
    fn checkin(&self, report: &CheckinReport) -> Result<CheckinAnswer, TransportError>;
    fn manifest(&self, release: &str) -> Result<Vec<u8>, TransportError>;
    fn chunk(&self, digest: &str) -> Result<Vec<u8>, TransportError>;
    /// A status report: a step of the update, or (`state: health`) the
    /// post-update health figures.
    fn status(&self, report: &StatusReport) -> Result<StatusAnswer, TransportError>;
}

/// Parses the certificate authorities a device trusts (PEM, one or more).
pub fn ca_roots(pem: &[u8]) -> Result<ureq::tls::RootCerts, String> {
    let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
            Ok(_) => None,
            Err(e) => Some(Err(e.to_string())),
        })
        .collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err("no PEM certificate in the CA file".into());
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

fn agent(roots: Option<ureq::tls::RootCerts>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(60)));
    if let Some(roots) = roots {
        config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
    }
    config.build().into()
}

/// The HTTP transport of a real device.
pub struct HttpTransport {
    base: String,
    authorization: String,
    agent: ureq::Agent,
}

impl HttpTransport {
    pub fn new(server: &str, device_id: &str, secret: &str) -> HttpTransport {
        let agent = agent(None);
        HttpTransport {
            base: server.trim_end_matches('/').to_owned(),
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{device_id}:{secret}"))
            ),
            agent,
        }
    }

    /// Trusts only the certificate authorities in `ca_pem` (PEM) for an
    /// `https` server, instead of the public web roots: a server whose
    /// certificate does not chain to one of them is refused.
    pub fn trusting(mut self, ca_pem: &[u8]) -> Result<HttpTransport, String> {
        self.agent = agent(Some(ca_roots(ca_pem)?));
        Ok(self)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        limit: u64,
    ) -> Result<Vec<u8>, TransportError> {
        let url = format!("{}{path}", self.base);
        let result = match body {
            Some(body) => self
                .agent
                .post(&url)
                .header("authorization", &self.authorization)
                .header("content-type", "application/json")
                .send(body.to_string().as_bytes()),
            None => self
                .agent
                .get(&url)
                .header("authorization", &self.authorization)
                .call(),
        };
        let mut response = result.map_err(|e| TransportError::Temporary {
            message: format!("{method} {path}: {e}"),
            retry_after: None,
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let bytes = response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| TransportError::Temporary {
                message: format!("{method} {path}: reading the answer: {e}"),
                retry_after: None,
            })?;
        match status {
            200..=299 => Ok(bytes),
            408 | 429 => Err(TransportError::Temporary {
                message: format!("{method} {path}: server answered {status}"),
                retry_after,
            }),
            400..=499 => {
                let body: ErrorAnswer = serde_json::from_slice(&bytes).unwrap_or_default();
                Err(TransportError::Refused {
                    status,
                    code: body.error,
                    message: body.message,
                })
            }
            _ => Err(TransportError::Temporary {
                message: format!("{method} {path}: server answered {status}"),
                retry_after,
            }),
        }
    }
}

impl Transport for HttpTransport {
    fn checkin(&self, report: &CheckinReport) -> Result<CheckinAnswer, TransportError> {
        let body = serde_json::to_value(report).unwrap_or(Value::Null);
        let bytes = self.call("POST", "/v1/checkin", Some(body), 64 * 1024)?;
        serde_json::from_slice(&bytes).map_err(|e| TransportError::Temporary {
            message: format!("check-in answer is not understood: {e}"),
            retry_after: None,
        })
    }

    fn manifest(&self, release: &str) -> Result<Vec<u8>, TransportError> {
        let limit = sluice_protocol::Limits::default().max_manifest_bytes as u64 + 1;
        self.call(
            "GET",
            &format!("/v1/releases/{release}/manifest"),
            None,
            limit,
        )
    }

    fn chunk(&self, digest: &str) -> Result<Vec<u8>, TransportError> {
        // One byte past the largest chunk: a verifier refuses anything longer.
        let limit = sluice_protocol::Limits::default().max_chunk_size + 1;
        self.call("GET", &format!("/v1/chunks/{digest}"), None, limit)
    }

    fn status(&self, report: &StatusReport) -> Result<StatusAnswer, TransportError> {
        let body = serde_json::to_value(report).unwrap_or(Value::Null);
        let bytes = self.call("POST", "/v1/status", Some(body), 64 * 1024)?;
        // An answer this agent does not understand still means "accepted".
        Ok(serde_json::from_slice(&bytes).unwrap_or_else(|_| StatusAnswer::go_on()))
    }
}
