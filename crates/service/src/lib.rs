//! Sluice's update service, as plain Rust over an abstract key-value [`Store`].
//!
//! Each Spin component is a thin adapter: it turns its HTTP request into a
//! [`Request`], builds a [`Service`] from Spin's key-value store, the imported
//! rollout policy and Spin variables, calls one handler, and turns the
//! [`Response`] back. The same handlers run natively in tests on a
//! [`MemoryStore`](kernel::memory_store::MemoryStore).
//!
//! | handler | route |
//! |---|---|
//! | [`device_api::checkin::handle`] | `POST /v1/checkin` |
//! | [`device_api::manifest::handle_manifest`] | `GET /v1/releases/{version}/manifest` |
//! | [`device_api::chunks::handle`] | `GET /v1/chunks/{sha256}` |
//! | [`device_api::status::handle`] | `POST /v1/status` |
//! | [`admin::handle`] | `/v1/admin/...`, `GET /metrics` ([`admin::metrics`]) and `GET /v1/openapi.json` |
//! | [`ddi::handle`] | `/{tenant}/controller/v1/...` (hawkBit DDI) |
//!
//! The service holds no signing key: it verifies published manifests against the
//! trust root and stores their exact bytes.

pub mod admin;
pub mod campaigns;
pub mod ddi;
pub mod device_api;
pub mod fleet;
pub mod kernel;
pub mod ops;
pub mod releases;

pub use kernel::config::Config;
pub use kernel::http::{ApiError, Request, Response};
pub use kernel::service::{Environment, Service};
pub use kernel::store::{Store, StoreError};

/// Routes any request to its handler: what a single-process server (the native
/// baseline, tests) does with the same routes `spin.toml` declares.
pub fn route(svc: &Service, request: &Request) -> Response {
    let path = request.path.as_str();
    if path == "/v1/checkin" {
        return device_api::checkin::handle(svc, request);
    }
    if path == "/v1/status" {
        return device_api::status::handle(svc, request);
    }
    if path.starts_with("/v1/admin/") || path == sluice_api::openapi::PATH {
        return admin::handle(svc, request);
    }
    if path.starts_with("/v1/chunks/") {
        return device_api::chunks::handle(svc, request);
    }
    if path.starts_with("/v1/releases/") && path.ends_with("/manifest") {
        return device_api::manifest::handle_manifest(svc, request);
    }
    if path.split('/').nth(2) == Some("controller") {
        return ddi::handle(svc, request).into_response(svc.store);
    }
    Response::empty(404)
}
