//! Spin component: signed manifests (GET /v1/releases/{version}/manifest). A thin adapter; the logic is
//! [`sluice_service::device_api::manifest::handle_manifest`].

use spin_sdk::http::{Request, Response};

#[spin_sdk::http_component]
fn handle(request: Request) -> Response {
    sluice_spin::serve(
        request,
        &sluice_spin::NoPolicy,
        sluice_service::device_api::manifest::handle_manifest,
    )
}
