//! Spin component: check-in (POST /v1/checkin). A thin adapter; the logic is
//! [`sluice_service::checkin::handle`].

use spin_sdk::http::{Request, Response};

#[spin_sdk::http_component]
fn handle(request: Request) -> Response {
    sluice_spin::serve(
        request,
        &sluice_spin::ImportedPolicy,
        sluice_service::checkin::handle,
    )
}
