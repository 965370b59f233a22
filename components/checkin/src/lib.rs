//! Spin component: check-in (POST /v1/checkin). A thin adapter; the logic is
//! [`sluice_service::device_api::checkin::handle`].

use spin_sdk::http::{Request, ResponseOutparam};

/// Answers; a check-in that changed a campaign (a halt, a stage opening, a
/// scheduled start) then delivers its webhook events.
#[spin_sdk::http_component]
async fn handle(request: Request, response_out: ResponseOutparam) {
    sluice_spin::serve_and_notify(
        request,
        response_out,
        &sluice_spin::ImportedPolicy,
        sluice_service::device_api::checkin::handle,
        sluice_spin::Notify::AfterChanges,
    )
    .await
}
