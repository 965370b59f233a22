//! Spin component: status reports (POST /v1/status). A thin adapter; the logic is
//! [`sluice_service::device_api::status::handle`].

use spin_sdk::http::{Request, ResponseOutparam};

/// Answers, then delivers pending campaign events to the webhook, if any.
#[spin_sdk::http_component]
async fn handle(request: Request, response_out: ResponseOutparam) {
    sluice_spin::serve_and_notify(
        request,
        response_out,
        &sluice_spin::ImportedPolicy,
        sluice_service::device_api::status::handle,
        sluice_spin::Notify::Always,
    )
    .await
}
