//! Spin component: chunks (GET /v1/chunks/{sha256}). A thin adapter; the logic is
//! [`sluice_service::device_api::chunks::handle`].

use spin_sdk::http::{Request, Response};

#[spin_sdk::http_component]
fn handle(request: Request) -> Response {
    sluice_spin::serve(
        request,
        &sluice_spin::NoPolicy,
        sluice_service::device_api::chunks::handle,
    )
}
