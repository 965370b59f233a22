//! Spin component: the operator API (/v1/admin/...). A thin adapter; the logic is
//! [`sluice_service::admin::handle`].

use spin_sdk::http::{Request, ResponseOutparam};

/// Answers, then delivers pending campaign events to the webhook, if any.
#[spin_sdk::http_component]
async fn handle(request: Request, response_out: ResponseOutparam) {
    sluice_spin::serve_and_notify(
        request,
        response_out,
        &sluice_spin::ImportedPolicy,
        sluice_service::admin::handle,
        sluice_spin::Notify::Always,
    )
    .await
}
