//! The HTTP server: one fresh component instance per request from a
//! pre-instantiated `ProxyPre`, Spin's routing and headers, a request body limit,
//! admission control (see [`crate::admission`]), deadlines for slow clients, a
//! 500 (and the host keeps serving) when a component traps, structured request
//! logs, and graceful shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HOST};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

use crate::admission::{Admission, Budget, Refusal};
use crate::engine::{Body, HostState, MAX_INSTANCES, REQUEST_DEADLINE_TICKS};
use crate::outbound::{AllowedHosts, OutboundHttp};
use crate::routes::Router;

/// A component ready to serve.
pub struct Serving {
    pub pre: ProxyPre<HostState>,
    pub kv: sluice_host_key_value::KeyValue,
    pub variables: sluice_host_variables::Variables,
    pub environment: Vec<(String, String)>,
    /// Where its outbound HTTP may go.
    pub allowed_hosts: Arc<AllowedHosts>,
    /// Its outbound Redis (to the same origins), with the connections kept open.
    pub redis: sluice_host_redis::OutboundRedis,
}

/// Everything the server shares between requests.
pub struct Shared {
    pub router: Router,
    pub components: HashMap<String, Serving>,
    pub max_body_bytes: usize,
    pub admission: Admission,
    /// Serves HTTPS with this, when set.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Most requests that run at once: below the pooling allocator's instance
/// count.
pub const MAX_CONCURRENT: usize = MAX_INSTANCES as usize * 9 / 10;

/// The longest a client may take to send a request's headers (and the
/// longest a kept-alive connection may sit idle): a client that sends one
/// byte a second is cut off, and holds no instance meanwhile.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a client may take to send a request's body (`408` after).
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

impl Shared {
    pub fn new(
        router: Router,
        components: HashMap<String, Serving>,
        max_body_bytes: usize,
        max_concurrent: usize,
        device_budget: Option<Budget>,
    ) -> Shared {
        // Stay below the pooling allocator's instance count; as many again
        // may wait a moment for one.
        let running = max_concurrent.clamp(1, MAX_CONCURRENT);
        Shared {
            router,
            components,
            max_body_bytes,
            admission: Admission::new(running, running, device_budget),
            tls: None,
        }
    }
}

fn plain(status: u16, body: &'static str) -> hyper::Response<Body> {
    let mut response = hyper::Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if !body.is_empty() {
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
    }
    response
}

/// Serves connections from `listener` until `shutdown` resolves, then lets
/// requests in flight finish (up to 10 seconds).
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Measures how long ready work waits for a thread (admission sheds on it).
    let probe = tokio::spawn(shared.admission.queue_delay.clone().watch());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, client) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Small responses must not wait for the peer's delayed ACK.
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let watcher = graceful.watcher();
                // The TLS handshake runs in the connection's own task, under
                // the header deadline, so a slow handshake delays nobody.
                tokio::spawn(async move {
                    let Some(acceptor) = shared.tls.clone() else {
                        return serve_connection(stream, shared, client, watcher, false).await;
                    };
                    match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, shared, client, watcher, true).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {client}: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {client} timed out"),
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    probe.abort();
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("stopping with requests still in flight"),
    }
    Ok(())
}

/// Serves HTTP/1.1 on one accepted connection (plain, or TLS when `https`).
async fn serve_connection<S>(
    stream: S,
    shared: Arc<Shared>,
    client: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
    https: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |request| handle(shared.clone(), request, client, https));
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!("connection from {client}: {e}");
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: hyper::Request<Incoming>,
    client: SocketAddr,
    https: bool,
) -> Result<hyper::Response<Body>, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let (response, component) = respond(&shared, request, client, https).await;
    tracing::info!(
        target: "sluice::request",
        %method,
        path,
        component = component.unwrap_or("-"),
        status = response.status().as_u16(),
        ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
        client = %client,
    );
    Ok(response)
}

async fn respond(
    shared: &Shared,
    request: hyper::Request<Incoming>,
    client: SocketAddr,
    https: bool,
) -> (hyper::Response<Body>, Option<&str>) {
    let Some(matched) = shared.router.route(request.uri().path()) else {
        // As Spin: 404 with an empty body.
        return (plain(404, ""), None);
    };
    let Some((id, serving)) = shared.components.get_key_value(&matched.component) else {
        return (plain(500, ""), None);
    };
    let id = id.as_str();
    // A device over its budget costs nothing more: not even its body is read.
    let authorization = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if let Err(refusal) = shared.admission.charge(authorization, Instant::now()) {
        return (refused(refusal), Some(id));
    }

    let limit = shared.max_body_bytes;
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return (too_large(), Some(id));
    }
    let (mut parts, body) = request.into_parts();
    let body = match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, limit).collect()).await {
        Err(_) => {
            return (
                plain(
                    408,
                    "{\"error\":\"request_timeout\",\"message\":\"the request body took too long to arrive\"}\n",
                ),
                Some(id),
            );
        }
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return (too_large(), Some(id));
        }
        Ok(Err(e)) => {
            tracing::debug!("reading request body from {client}: {e}");
            return (plain(400, ""), Some(id));
        }
    };

    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let scheme = if https { "https" } else { "http" };
    let full_url = format!("{scheme}://{host}{path_and_query}");
    match hyper::Uri::builder()
        .scheme(scheme)
        .authority(host.as_str())
        .path_and_query(path_and_query.as_str())
        .build()
    {
        Ok(uri) => parts.uri = uri,
        Err(_) => return (plain(400, ""), Some(id)),
    }
    parts.headers.remove(hyper::header::CONNECTION);
    for (name, value) in matched.headers(&full_url, &client.to_string()) {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            parts.headers.insert(name, value);
        }
    }
    let request = hyper::Request::from_parts(
        parts,
        Full::new(body).map_err(|e: Infallible| -> wasmtime_wasi_http::Error { match e {} }),
    );

    let permit = match shared.admission.admit().await {
        Ok(permit) => permit,
        Err(refusal) => return (refused(refusal), Some(id)),
    };
    match run_component(serving, request, permit, https).await {
        Ok(response) => (response, Some(id)),
        Err(e) => {
            tracing::error!(target: "sluice::component", component = id, "request failed: {e:#}");
            // As Spin: 500 with an empty body.
            (plain(500, ""), Some(id))
        }
    }
}

/// `429` or `503`, with `Retry-After` and the API's error shape.
fn refused(refusal: Refusal) -> hyper::Response<Body> {
    let (status, retry_after, body) = match refusal {
        Refusal::OverBudget { retry_after_secs } => (
            429,
            retry_after_secs,
            format!(
                "{{\"error\":\"too_many_requests\",\"message\":\"this device sent more requests than its budget; retry in {retry_after_secs} s\"}}\n"
            ),
        ),
        Refusal::Saturated { retry_after_secs } => (
            503,
            retry_after_secs,
            format!(
                "{{\"error\":\"overloaded\",\"message\":\"the server is at capacity; retry in {retry_after_secs} s\"}}\n"
            ),
        ),
    };
    let mut response = hyper::Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::SERVICE_UNAVAILABLE);
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    headers.insert(hyper::header::RETRY_AFTER, retry_after.into());
    response
}

fn too_large() -> hyper::Response<Body> {
    plain(
        413,
        "{\"error\":\"body_too_large\",\"message\":\"request body is above the host's limit\"}\n",
    )
}

async fn run_component<B>(
    serving: &Serving,
    request: hyper::Request<B>,
    permit: tokio::sync::OwnedSemaphorePermit,
    https: bool,
) -> Result<hyper::Response<Body>>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdout().inherit_stderr();
    for (k, v) in &serving.environment {
        wasi.env(k, v);
    }
    let state = HostState {
        table: ResourceTable::new(),
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        hooks: OutboundHttp {
            allowed: serving.allowed_hosts.clone(),
        },
        kv: serving.kv.clone(),
        redis: serving.redis.clone(),
        variables: serving.variables.clone(),
        limits: StoreLimitsBuilder::new()
            .memory_size(512 << 20)
            .trap_on_grow_failure(true)
            .build(),
    };
    let mut store = Store::new(serving.pre.engine(), state);
    store.limiter(|s| &mut s.limits);
    // Yield every epoch tick (a looping guest cannot hold a thread) and trap once
    // the request has lived REQUEST_DEADLINE_TICKS.
    store.set_epoch_deadline(1);
    let mut ticks = 0u64;
    store.epoch_deadline_callback(move |_| {
        ticks += 1;
        if ticks >= REQUEST_DEADLINE_TICKS {
            Ok(wasmtime::UpdateDeadline::Interrupt)
        } else {
            Ok(wasmtime::UpdateDeadline::Yield(1))
        }
    });
    let (sender, receiver) = oneshot::channel();
    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(if https { Scheme::Https } else { Scheme::Http }, request)?;
    let outparam = store.data_mut().http().new_response_outparam(sender)?;
    let pre = serving.pre.clone();
    let task = tokio::spawn(async move {
        // The instance counts against the pool until it is gone, body streaming included.
        let _permit = permit;
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, incoming, outparam)
            .await
    });
    match receiver.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => anyhow::bail!("component answered with error {code:?}"),
        Err(_) => match task.await {
            Ok(Ok(())) => anyhow::bail!("component returned without setting a response"),
            Ok(Err(trap)) => Err(anyhow::Error::from(trap)),
            Err(join) => anyhow::bail!("component task failed: {join}"),
        },
    }
}
