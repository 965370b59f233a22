//! Outbound HTTP (and Redis), as Spin grants it: a component may send requests
//! only to the origins its manifest lists in `allowed_outbound_hosts`
//! (`scheme://host[:port]`, where scheme, host and port may be `*`, a host may
//! be `*.example.com`, a missing port is the scheme's default, and `{{ name }}`
//! is an application variable). Everything else is refused with
//! `HttpRequestDenied`, as Spin does.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use http::uri::Scheme;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// The longest a guest waits for a connection, and for a response's first byte,
/// whatever it asks for: a receiver that hangs cannot hold an instance long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a whole exchange may take, from connecting to the response's
/// last byte: a receiver that drips one byte every few seconds is cut off too.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// One allowed origin.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    /// `None` for any scheme.
    scheme: Option<String>,
    host: HostPattern,
    /// `None` for any port; `Some(None)` for the scheme's default.
    port: Option<Option<u16>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com`: any subdomain of it.
    Subdomain(String),
}

/// A component's allowed origins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    origins: Vec<Origin>,
}

impl AllowedHosts {
    /// Parses `allowed_outbound_hosts`, resolving `{{ name }}` with `variable`.
    pub fn parse(
        entries: &[String],
        variable: impl Fn(&str) -> Option<String>,
    ) -> Result<AllowedHosts> {
        let mut origins = Vec::with_capacity(entries.len());
        for entry in entries {
            let resolved = resolve(entry, &variable)?;
            origins.push(
                parse_origin(&resolved)
                    .map_err(|e| anyhow::anyhow!("allowed_outbound_hosts entry {entry:?}: {e}"))?,
            );
        }
        Ok(AllowedHosts { origins })
    }

    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            "redis" | "rediss" => 6379,
            _ => return false,
        };
        let port = port.unwrap_or(default_port);
        let host = host.to_ascii_lowercase();
        self.origins.iter().any(|o| {
            o.scheme.as_deref().is_none_or(|s| s == scheme)
                && match &o.host {
                    HostPattern::Any => true,
                    HostPattern::Exact(h) => *h == host,
                    HostPattern::Subdomain(d) => host
                        .strip_suffix(d.as_str())
                        .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
                }
                && match o.port {
                    None => true,
                    Some(None) => port == default_port,
                    Some(Some(p)) => port == p,
                }
        })
    }
}

fn resolve(entry: &str, variable: &impl Fn(&str) -> Option<String>) -> Result<String> {
    let mut out = String::new();
    let mut rest = entry;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            bail!("allowed_outbound_hosts entry {entry:?}: unclosed {{{{");
        };
        out.push_str(&rest[..start]);
        let name = rest[start + 2..start + end].trim();
        let Some(value) = variable(name) else {
            bail!("allowed_outbound_hosts entry {entry:?}: no variable {name:?}");
        };
        out.push_str(&value);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_origin(text: &str) -> Result<Origin, String> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or("expected scheme://host[:port]")?;
    let scheme = match scheme {
        "*" => None,
        "http" | "https" | "redis" | "rediss" => Some(scheme.to_owned()),
        other => {
            return Err(format!(
                "scheme {other:?} is not http, https, redis, rediss or *"
            ));
        }
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err("an origin has no path".into());
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, "*")) => (host, None),
        Some((host, port)) => (
            host,
            Some(Some(
                port.parse::<u16>()
                    .map_err(|_| format!("port {port:?} is not a number"))?,
            )),
        ),
        None => (rest, Some(None)),
    };
    let host = host.to_ascii_lowercase();
    let host = if host == "*" {
        HostPattern::Any
    } else if let Some(domain) = host.strip_prefix("*.") {
        HostPattern::Subdomain(domain.to_owned())
    } else if host.is_empty() || host.contains('*') {
        return Err(format!("host {host:?} is not a name, *.name or *"));
    } else {
        HostPattern::Exact(host)
    };
    Ok(Origin { scheme, host, port })
}

/// The outbound HTTP a request's instance gets: its component's origins.
pub struct OutboundHttp {
    pub allowed: Arc<AllowedHosts>,
}

type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ),
    wasmtime_wasi_http::Error,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let uri = request.uri();
        let scheme = uri.scheme().unwrap_or(&Scheme::HTTPS).as_str().to_owned();
        let allowed = uri
            .host()
            .is_some_and(|host| self.allowed.allows(&scheme, host, uri.port_u16()));
        if !allowed {
            tracing::warn!(uri = %uri, "outbound request refused: not in allowed_outbound_hosts");
            return Box::new(async { Err(ErrorCode::HttpRequestDenied.into()) });
        }
        let cap =
            |asked: Option<Duration>, most: Duration| Some(asked.map_or(most, |a| a.min(most)));
        let options = RequestOptions {
            connect_timeout: cap(options.and_then(|o| o.connect_timeout), CONNECT_TIMEOUT),
            first_byte_timeout: cap(
                options.and_then(|o| o.first_byte_timeout),
                FIRST_BYTE_TIMEOUT,
            ),
            between_bytes_timeout: cap(
                options.and_then(|o| o.between_bytes_timeout),
                BETWEEN_BYTES_TIMEOUT,
            ),
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            let deadline = tokio::time::Instant::now() + EXCHANGE_TIMEOUT;
            let (response, io) = tokio::time::timeout_at(
                deadline,
                wasmtime_wasi_http::default_send_request(request, Some(options)),
            )
            .await
            .map_err(|_| wasmtime_wasi_http::Error::ConnectionReadTimeout)??;
            Ok((
                response.map(|body| {
                    BodyExt::boxed_unsync(Deadline {
                        body: BodyExt::boxed_unsync(body),
                        deadline: Box::pin(tokio::time::sleep_until(deadline)),
                    })
                }),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// A response body that ends in `ConnectionReadTimeout` once its exchange's
/// deadline passes.
struct Deadline<B> {
    body: B,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<B> http_body::Body for Deadline<B>
where
    B: http_body::Body<Data = bytes::Bytes, Error = wasmtime_wasi_http::Error> + Unpin,
{
    type Data = bytes::Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Some(Err(
                wasmtime_wasi_http::Error::ConnectionReadTimeout,
            )));
        }
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        AllowedHosts::parse(&entries, |name| {
            (name == "hook_host").then(|| "hooks.example.com".to_owned())
        })
        .unwrap()
    }

    #[test]
    fn origins_match_as_spin_writes_them() {
        let a = allowed(&["https://hooks.example.com", "http://127.0.0.1:8080"]);
        assert!(a.allows("https", "hooks.example.com", None));
        assert!(a.allows("https", "HOOKS.example.com", Some(443)));
        assert!(!a.allows("https", "hooks.example.com", Some(8443)));
        assert!(!a.allows("http", "hooks.example.com", None));
        assert!(a.allows("http", "127.0.0.1", Some(8080)));
        assert!(!a.allows("http", "127.0.0.1", Some(8081)));
        assert!(!a.allows("https", "evil.example.com", None));

        let wild = allowed(&["*://*.example.com:*"]);
        assert!(wild.allows("http", "a.example.com", Some(1)));
        assert!(wild.allows("https", "a.b.example.com", None));
        assert!(!wild.allows("https", "example.com", None));
        assert!(!wild.allows("https", "badexample.com", None));

        assert!(allowed(&["https://{{ hook_host }}"]).allows("https", "hooks.example.com", None));
        assert!(!AllowedHosts::default().allows("https", "hooks.example.com", None));

        let redis = allowed(&["redis://127.0.0.1", "rediss://cache.example.com:6380"]);
        assert!(redis.allows("redis", "127.0.0.1", Some(6379)));
        assert!(!redis.allows("redis", "127.0.0.1", Some(6380)));
        assert!(!redis.allows("http", "127.0.0.1", Some(6379)));
        assert!(redis.allows("rediss", "cache.example.com", Some(6380)));
        assert!(!redis.allows("redis", "cache.example.com", Some(6380)));
    }

    #[tokio::test]
    async fn a_dripping_body_is_cut_off_at_the_deadline() {
        use http_body_util::BodyExt;
        // A body that never ends and never sends: what a hanging receiver gives.
        let endless = http_body_util::StreamBody::new(futures::stream::pending::<
            Result<http_body::Frame<bytes::Bytes>, wasmtime_wasi_http::Error>,
        >());
        let mut body = Deadline {
            body: endless.boxed_unsync(),
            deadline: Box::pin(tokio::time::sleep(Duration::from_millis(20))),
        };
        match body.frame().await {
            Some(Err(wasmtime_wasi_http::Error::ConnectionReadTimeout)) => {}
            other => panic!("expected a read timeout, got {other:?}"),
        }
    }

    #[test]
    fn bad_entries_are_refused_with_the_entry_named() {
        for entry in [
            "hooks.example.com",
            "ftp://x.example.com",
            "https://x.example.com/path",
            "https://x.example.com:port",
            "https://*x.example.com",
            "https://{{ nope }}",
            "https://{{ hook_host",
        ] {
            let e = AllowedHosts::parse(&[entry.to_owned()], |_| None).unwrap_err();
            assert!(e.to_string().contains(entry), "{entry}: {e}");
        }
    }
}
