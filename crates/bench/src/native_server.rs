//! The no-Wasm baseline: the same service logic and the same store behind a
//! plain hyper server, natively (the standard policy as Rust, not a component).
//! The ratio of `sluice up`'s figures to these is what WebAssembly costs.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sluice_service::{Config, Environment, Service, route};
use tokio::net::TcpListener;

use crate::native_store::NativeStore;

/// The system clock and randomness.
pub struct SystemEnvironment;

impl Environment for SystemEnvironment {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // Without randomness no secret may be made: fail loudly.
        getrandom::fill(buf).expect("system randomness");
    }
}

/// What every request shares.
pub struct Shared {
    pub store: NativeStore,
    pub config: Config,
}

/// Runs one request through the service, as the components do.
pub fn handle(shared: &Shared, request: sluice_service::Request) -> sluice_service::Response {
    let service = Service {
        store: &shared.store,
        policy: &sluice_policy_standard::Standard,
        config: &shared.config,
        env: &SystemEnvironment,
    };
    route(&service, &request)
}

async fn answer(
    shared: Arc<Shared>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, 20 << 20).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => {
            let mut too_large = hyper::Response::new(Full::new(Bytes::new()));
            *too_large.status_mut() = hyper::StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(too_large);
        }
    };
    let request = sluice_service::Request {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body,
    };
    let response = tokio::task::spawn_blocking(move || handle(&shared, request))
        .await
        .unwrap_or_else(|_| sluice_service::Response::json(500, &serde_json::json!({})));
    let mut out = hyper::Response::new(Full::new(Bytes::from(response.body)));
    *out.status_mut() =
        hyper::StatusCode::from_u16(response.status).unwrap_or(hyper::StatusCode::OK);
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            out.headers_mut().append(name, value);
        }
    }
    Ok(out)
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(shared.clone(), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
