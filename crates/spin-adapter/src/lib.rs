//! Runs Sluice's service handlers inside a Spin HTTP component.
//!
//! Every component is one call to [`serve`]: it opens the `default` key-value
//! store through `wasi:keyvalue` (store, atomics and batch, `0.2.0-draft2`) — or,
//! when the `store_redis_url` variable names one, the Redis server behind it
//! through Spin's outbound Redis (Spin's own Redis backend loses concurrent
//! compare-and-swaps; see [`SpinStore`] and [`RedisStore`]) — reads
//! configuration from Spin variables, converts the request, runs one handler of
//! `sluice-service`, and converts the response back.
//!
//! ```no_run
//! use spin_sdk::http::{Request, Response};
//!
//! #[spin_sdk::http_component]
//! fn handle(request: Request) -> Response {
//!     sluice_spin::serve(request, &sluice_spin::ImportedPolicy, sluice_service::device_api::status::handle)
//! }
//! # fn main() {}
//! ```

mod component_store;
mod create_lock;
mod environment;
mod kv;
mod policy;
mod redis_store;

use futures::SinkExt;
use sluice_service::kernel::config::Webhook;
use sluice_service::kernel::streamed_body::Reply;
use sluice_service::ops::webhooks;
use sluice_service::{ApiError, Config, Service};
use spin_sdk::http::{Fields, OutgoingResponse, Request, Response, ResponseOutparam};

pub use component_store::ComponentStore;
pub use environment::WasiEnvironment;
pub use kv::{SPIN_REDIS_CAS_REFUSED, SpinStore, is_spin_redis_batch_failure};
pub use policy::{ImportedPolicy, NoPolicy};
pub use redis_store::RedisStore;

/// A handler of `sluice-service`.
pub type Handler = fn(&Service, &sluice_service::Request) -> sluice_service::Response;

/// Serves one request with `handler`.
pub fn serve(request: Request, policy: &dyn sluice_policy::Policy, handler: Handler) -> Response {
    let request = from_spin(request);
    let response = match setup() {
        Ok((store, config)) => {
            let service = Service {
                store: &store,
                policy,
                config: &config,
                env: &WasiEnvironment,
            };
            handler(&service, &request)
        }
        Err(error) => error.into_response(),
    };
    to_spin(response)
}

/// When a component delivers webhook events after answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// After every request (status reports, admin calls: they also retry a
    /// receiver that failed).
    Always,
    /// Only after a request that changed a campaign (check-in, the hot path:
    /// a quiet check-in costs nothing more).
    AfterChanges,
}

/// Serves one request with `handler`, then, once the response is sent,
/// delivers pending campaign events to the webhook (`webhook_url`), if one is
/// configured and `when` says so: a slow or dead receiver never delays the
/// client.
///
/// ```no_run
/// use spin_sdk::http::{Request, ResponseOutparam};
///
/// #[spin_sdk::http_component]
/// async fn handle(request: Request, response_out: ResponseOutparam) {
///     sluice_spin::serve_and_notify(
///         request,
///         response_out,
///         &sluice_spin::ImportedPolicy,
///         sluice_service::device_api::status::handle,
///         sluice_spin::Notify::Always,
///     )
///     .await
/// }
/// # fn main() {}
/// ```
pub async fn serve_and_notify(
    request: Request,
    out: ResponseOutparam,
    policy: &dyn sluice_policy::Policy,
    handler: Handler,
    when: Notify,
) {
    let request = from_spin(request);
    let (store, config) = match setup() {
        Ok(setup) => setup,
        Err(error) => return send_whole(out, error.into_response()).await,
    };
    let service = Service {
        store: &store,
        policy,
        config: &config,
        env: &WasiEnvironment,
    };
    send_whole(out, handler(&service, &request)).await;
    let due = match when {
        Notify::Always => true,
        Notify::AfterChanges => store.audited(),
    };
    if let Some(webhook) = config.webhook.as_ref().filter(|_| due) {
        deliver(&service, webhook).await;
    }
}

/// Sends the next events through Spin's outbound HTTP (the component's
/// `allowed_outbound_hosts` must name the receiver's origin).
async fn deliver(service: &Service<'_>, webhook: &Webhook) {
    let Ok(Some(batch)) = webhooks::take(service, webhook) else {
        return;
    };
    let mut accepted = 0;
    let mut error = None;
    for outgoing in &batch.requests {
        // Stop a little before the lease runs out, so no other deliverer sends
        // the same events at the same time.
        if sluice_service::Environment::now(&WasiEnvironment) + 10 >= batch.lease_until() {
            break;
        }
        let mut request = spin_sdk::http::Request::post(batch.url.as_str(), outgoing.body.clone());
        for (name, value) in &outgoing.headers {
            request.header(*name, value.as_str());
        }
        match spin_sdk::http::send::<_, Response>(request.build()).await {
            Ok(response) if (200..300).contains(response.status()) => accepted += 1,
            Ok(response) => {
                error = Some(format!("the receiver answered {}", response.status()));
                break;
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    // A store error here only delays the events: the lease runs out and the
    // next request delivers them again.
    let _ = webhooks::settle(service, batch, accepted, error);
}

/// A handler of `sluice-service` whose answer may be streamed.
pub type StreamingHandler = fn(&Service, &sluice_service::Request) -> Reply;

/// Serves one request with `handler`, sending a [`Reply::Streamed`] body part by
/// part: only one stored chunk is in memory at a time, whatever the image size.
///
/// ```no_run
/// use spin_sdk::http::{Request, ResponseOutparam};
///
/// #[spin_sdk::http_component]
/// async fn handle(request: Request, response_out: ResponseOutparam) {
///     sluice_spin::serve_streaming(request, response_out, sluice_service::ddi::handle).await
/// }
/// # fn main() {}
/// ```
pub async fn serve_streaming(request: Request, out: ResponseOutparam, handler: StreamingHandler) {
    let request = from_spin(request);
    let (store, config) = match setup() {
        Ok(setup) => setup,
        Err(error) => return send_whole(out, error.into_response()).await,
    };
    let service = Service {
        store: &store,
        policy: &ImportedPolicy,
        config: &config,
        env: &WasiEnvironment,
    };
    let streamed = match handler(&service, &request) {
        Reply::Whole(response) => return send_whole(out, response).await,
        Reply::Streamed(streamed) => streamed,
    };
    let response = OutgoingResponse::new(fields(&streamed.headers));
    if response.set_status_code(streamed.status).is_err() {
        return send_whole(out, ApiError::internal("bad status").into_response()).await;
    }
    let mut body = response.take_body();
    out.set(response);
    for part in &streamed.parts {
        // Past the headers an error can only cut the body short: the client
        // sees fewer bytes than Content-Length promised, and resumes.
        let Ok(bytes) = part.read(&store) else {
            return;
        };
        if body.send(bytes).await.is_err() {
            return;
        }
    }
}

fn fields(headers: &[(String, String)]) -> Fields {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| (name.clone(), value.as_bytes().to_vec()))
        .collect();
    Fields::from_list(&list).unwrap_or_else(|_| Fields::new())
}

async fn send_whole(out: ResponseOutparam, response: sluice_service::Response) {
    let outgoing = OutgoingResponse::new(fields(&response.headers));
    let _ = outgoing.set_status_code(response.status);
    // The client went away: nothing is left to tell it.
    let _ = out.set_with_body(outgoing, response.body).await;
}

fn setup() -> Result<(ComponentStore, Config), ApiError> {
    let store = ComponentStore::open(
        "default",
        spin_sdk::variables::get("store_redis_url").ok().as_deref(),
    )?;
    let config = Config::from_variables(|name| spin_sdk::variables::get(name).ok())
        .map_err(|e| ApiError::new(500, "bad_configuration", e))?;
    Ok((store, config))
}

fn from_spin(request: Request) -> sluice_service::Request {
    let method = request.method().to_string().to_ascii_uppercase();
    let path = request.path().to_owned();
    let query = request.query().to_owned();
    let headers = request
        .headers()
        .filter_map(|(name, value)| {
            value
                .as_str()
                .map(|v| (name.to_ascii_lowercase(), v.to_owned()))
        })
        .collect();
    sluice_service::Request {
        method,
        path,
        query,
        headers,
        body: request.into_body(),
    }
}

fn to_spin(response: sluice_service::Response) -> Response {
    let mut builder = Response::builder();
    builder.status(response.status);
    for (name, value) in &response.headers {
        builder.header(name.as_str(), value.as_str());
    }
    builder.body(response.body).build()
}
