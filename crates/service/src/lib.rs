//! Sluice's update service, as plain Rust over an abstract key-value [`Store`].
//!
//! Each Spin component is a thin adapter: it turns its HTTP request into a
//! [`Request`], builds a [`Service`] from Spin's key-value store, the imported
//! rollout policy and Spin variables, calls one handler, and turns the
//! [`Response`] back. The same handlers run natively in tests on a
//! [`MemoryStore`](memory_store::MemoryStore).
//!
//! | handler | route |
//! |---|---|
//! | [`checkin::handle`] | `POST /v1/checkin` |
//! | [`release::handle_manifest`] | `GET /v1/releases/{version}/manifest` |
//! | [`chunks::handle`] | `GET /v1/chunks/{sha256}` |
//! | [`status::handle`] | `POST /v1/status` |
//! | [`admin::handle`] | `/v1/admin/...`, `GET /metrics` ([`metrics`]) and `GET /v1/openapi.json` |
//! | [`ddi::handle`] | `/{tenant}/controller/v1/...` (hawkBit DDI) |
//!
//! The service holds no signing key: it verifies published manifests against the
//! trust root and stores their exact bytes.

pub mod admin;
pub mod audit;
pub mod byte_ranges;
pub mod campaign;
pub mod checkin;
pub mod chunks;
pub mod contention;
pub mod counters;
pub mod credentials;
pub mod curve;
pub mod ddi;
pub mod device;
pub mod directory;
pub mod failure_bounds;
pub mod fleet;
pub mod freeze;
pub mod http;
pub mod keys;
pub mod memory_store;
pub mod names;
pub mod ops;
pub mod records;
pub mod recount;
pub mod release;
pub mod selection;
pub mod service;
pub mod status;
pub mod steps;
pub mod store;
pub mod streamed_body;
pub mod tally;

pub use admin::metrics;
pub use http::{ApiError, Request, Response};
pub use ops::webhooks as notify;
pub use ops::{access, four_eyes, operators};
pub use service::{Config, Environment, Service};
pub use store::{Store, StoreError};

/// Routes any request to its handler: what a single-process server (the native
/// baseline, tests) does with the same routes `spin.toml` declares.
pub fn route(svc: &Service, request: &Request) -> Response {
    let path = request.path.as_str();
    if path == "/v1/checkin" {
        return checkin::handle(svc, request);
    }
    if path == "/v1/status" {
        return status::handle(svc, request);
    }
    if path.starts_with("/v1/admin/") || path == sluice_api::openapi::PATH {
        return admin::handle(svc, request);
    }
    if path.starts_with("/v1/chunks/") {
        return chunks::handle(svc, request);
    }
    if path.starts_with("/v1/releases/") && path.ends_with("/manifest") {
        return release::handle_manifest(svc, request);
    }
    if path.split('/').nth(2) == Some("controller") {
        return ddi::handle(svc, request).into_response(svc.store);
    }
    Response::empty(404)
}
