//! Spin component: status reports (POST /v1/status). A thin adapter; the logic is
//! [`sluice_service::status::handle`].

use spin_sdk::http::{Request, Response};

#[spin_sdk::http_component]
fn handle(request: Request) -> Response {
    sluice_spin::serve(
        request,
        &sluice_spin::ImportedPolicy,
        sluice_service::status::handle,
    )
}
