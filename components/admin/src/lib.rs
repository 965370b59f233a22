//! Spin component: the operator API (/v1/admin/...). A thin adapter; the logic is
//! [`sluice_service::admin::handle`], and for `POST /v1/admin/simulate` (a
//! campaign's preview, run with the policy this app really has)
//! [`sluice_policy_sim::preview::handle`].

use sluice_service::{Request, Response, Service};
use spin_sdk::http::{Request as SpinRequest, ResponseOutparam};

fn route(svc: &Service, request: &Request) -> Response {
    if request.path == sluice_policy_sim::preview::PATH {
        return sluice_policy_sim::preview::handle(svc, request);
    }
    sluice_service::admin::handle(svc, request)
}

/// Answers, then delivers pending campaign events to the webhook, if any.
#[spin_sdk::http_component]
async fn handle(request: SpinRequest, response_out: ResponseOutparam) {
    sluice_spin::serve_and_notify(
        request,
        response_out,
        &sluice_spin::ImportedPolicy,
        route,
        sluice_spin::Notify::Always,
    )
    .await
}
