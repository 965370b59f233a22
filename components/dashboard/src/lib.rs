//! Spin component: the operator dashboard's page and assets (every path not
//! served by another route). A thin adapter; the logic is
//! [`sluice_dashboard::serve`]. It reads no store and holds no secret: the page
//! calls the admin API with the token the operator types in.

use spin_sdk::http::{Request, Response};

#[spin_sdk::http_component]
fn handle(request: Request) -> Response {
    let method = request.method().to_string().to_ascii_uppercase();
    let if_none_match = request.header("if-none-match").and_then(|v| v.as_str());
    let reply = sluice_dashboard::serve(&method, request.path(), if_none_match);
    let mut builder = Response::builder();
    builder.status(reply.status);
    for (name, value) in &reply.headers {
        builder.header(*name, value.as_str());
    }
    builder.body(reply.body.to_vec()).build()
}
