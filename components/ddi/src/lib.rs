//! Spin component: hawkBit DDI (`/{tenant}/controller/v1/...`). A thin adapter;
//! the logic is [`sluice_service::ddi::handle`]. Artifact downloads stream the
//! image chunk by chunk.

use spin_sdk::http::{Request, ResponseOutparam};

#[spin_sdk::http_component]
async fn handle(request: Request, response_out: ResponseOutparam) {
    sluice_spin::serve_streaming(request, response_out, sluice_service::ddi::handle).await
}
