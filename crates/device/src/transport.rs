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

/// The slowest answer a device keeps reading, on average over the answer so
/// far once [`RATE_GRACE`] has passed: a server that drips bytes (a slow
/// retrieval attack, or a link about to fail) is given up and asked again later,
/// keeping the chunks already verified. At this rate a 256 KiB chunk takes a
/// minute, the longest any request may take.
pub const MIN_BYTES_PER_SECOND: u64 = 4 * 1024;
/// How long an answer may take before its rate is judged.
pub const RATE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP transport of a real device.
pub struct HttpTransport {
    base: String,
    authorization: String,
    agent: ureq::Agent,
    min_rate: u64,
    grace: std::time::Duration,
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
            min_rate: MIN_BYTES_PER_SECOND,
            grace: RATE_GRACE,
        }
    }

    /// Gives up an answer slower than `bytes_per_second` on average once
    /// `grace` has passed (by default [`MIN_BYTES_PER_SECOND`] after
    /// [`RATE_GRACE`]).
    pub fn with_min_rate(mut self, bytes_per_second: u64, grace: std::time::Duration) -> Self {
        self.min_rate = bytes_per_second;
        self.grace = grace;
        self
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
        // The rate is the body's: a server slow to answer is the global
        // timeout's business.
        let started = std::time::Instant::now();
        let expected = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut reader = response.body_mut().with_config().limit(limit).reader();
        let rate = MinRate {
            started,
            bytes_per_second: self.min_rate,
            grace: self.grace,
        };
        let bytes = rate
            .read(&mut reader, expected)
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

/// The slowest a body may arrive: `bytes_per_second` on average since
/// `started`, judged once `grace` has passed.
struct MinRate {
    started: std::time::Instant,
    bytes_per_second: u64,
    grace: std::time::Duration,
}

impl MinRate {
    /// Reads `reader` to its end (or to `expected` bytes, when the length is
    /// known), refusing to go on while the body is incomplete and too slow.
    fn read(
        &self,
        reader: &mut impl std::io::Read,
        expected: Option<u64>,
    ) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(bytes);
            }
            bytes.extend_from_slice(&buf[..n]);
            if expected.is_some_and(|len| bytes.len() as u64 >= len) {
                continue;
            }
            let elapsed = self.started.elapsed();
            if elapsed > self.grace
                && (bytes.len() as f64) < self.bytes_per_second as f64 * elapsed.as_secs_f64()
            {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "too slow: {} bytes in {:.1} s, below {} bytes/s",
                        bytes.len(),
                        elapsed.as_secs_f64(),
                        self.bytes_per_second
                    ),
                ));
            }
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    use super::{HttpTransport, Transport, TransportError};

    /// Serves one request: headers for 100,000 bytes, then the body, all at
    /// once or a byte every 20 ms until the client goes away.
    fn serve_once(drip: bool) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\nconnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            if !drip {
                let _ = stream.write_all(&[7u8; 100_000]);
                return;
            }
            for _ in 0..100_000 {
                if stream
                    .write_all(&[7])
                    .and_then(|()| stream.flush())
                    .is_err()
                {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        (url, server)
    }

    #[test]
    fn a_dripping_server_is_given_up_and_a_prompt_one_is_read() {
        let (url, server) = serve_once(true);
        let transport =
            HttpTransport::new(&url, "d", "s").with_min_rate(4096, Duration::from_millis(300));
        match transport.chunk("x") {
            Err(TransportError::Temporary { message, .. }) => {
                assert!(message.contains("too slow"), "{message}")
            }
            other => panic!("expected a temporary failure, got {other:?}"),
        }
        drop(transport);
        server.join().unwrap();

        let (url, server) = serve_once(false);
        let transport =
            HttpTransport::new(&url, "d", "s").with_min_rate(4096, Duration::from_millis(300));
        assert_eq!(transport.chunk("x").unwrap().len(), 100_000);
        server.join().unwrap();
    }

    /// A small answer that comes late but whole is read: the rate judges a
    /// body still arriving, never a complete one.
    #[test]
    fn a_late_but_complete_answer_is_not_too_slow() {
        struct Late(Option<Vec<u8>>);
        impl Read for Late {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some(body) = self.0.take() else {
                    return Ok(0);
                };
                std::thread::sleep(Duration::from_millis(30));
                buf[..body.len()].copy_from_slice(&body);
                Ok(body.len())
            }
        }
        let rate = super::MinRate {
            started: std::time::Instant::now(),
            bytes_per_second: 4096,
            grace: Duration::from_millis(10),
        };
        let read = rate.read(&mut Late(Some(vec![1; 100])), Some(100)).unwrap();
        assert_eq!(read.len(), 100);
        let refused = rate.read(&mut Late(Some(vec![1; 100])), Some(200));
        assert!(refused.unwrap_err().to_string().contains("too slow"));
    }
}
