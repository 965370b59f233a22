//! Runs Sluice's service handlers inside a Spin HTTP component.
//!
//! Every component is one call to [`serve`]: it opens the `default` key-value
//! store through `wasi:keyvalue` (store, atomics and batch, `0.2.0-draft2`), reads
//! configuration from Spin variables, converts the request, runs one handler of
//! `sluice-service`, and converts the response back.
//!
//! ```no_run
//! use spin_sdk::http::{Request, Response};
//!
//! #[spin_sdk::http_component]
//! fn handle(request: Request) -> Response {
//!     sluice_spin::serve(request, &sluice_spin::ImportedPolicy, sluice_service::status::handle)
//! }
//! # fn main() {}
//! ```

mod environment;
mod kv;
mod policy;

use sluice_service::{ApiError, Config, Service};
use spin_sdk::http::{Request, Response};

pub use environment::WasiEnvironment;
pub use kv::SpinStore;
pub use policy::{ImportedPolicy, NoPolicy};

/// A handler of `sluice-service`.
pub type Handler = fn(&Service, &sluice_service::Request) -> sluice_service::Response;

/// Serves one request with `handler`.
pub fn serve(request: Request, policy: &dyn sluice_policy::Policy, handler: Handler) -> Response {
    let request = from_spin(request);
    let response = match setup() {
        Ok((store, config)) => {
            let service = Service {
                store: &store,
                policy,
                config: &config,
                env: &WasiEnvironment,
            };
            handler(&service, &request)
        }
        Err(error) => error.into_response(),
    };
    to_spin(response)
}

fn setup() -> Result<(SpinStore, Config), ApiError> {
    let store = SpinStore::open("default")?;
    let config = Config::from_variables(|name| spin_sdk::variables::get(name).ok())
        .map_err(|e| ApiError::new(500, "bad_configuration", e))?;
    Ok((store, config))
}

fn from_spin(request: Request) -> sluice_service::Request {
    let method = request.method().to_string().to_ascii_uppercase();
    let path = request.path().to_owned();
    let query = request.query().to_owned();
    let headers = request
        .headers()
        .filter_map(|(name, value)| {
            value
                .as_str()
                .map(|v| (name.to_ascii_lowercase(), v.to_owned()))
        })
        .collect();
    sluice_service::Request {
        method,
        path,
        query,
        headers,
        body: request.into_body(),
    }
}

fn to_spin(response: sluice_service::Response) -> Response {
    let mut builder = Response::builder();
    builder.status(response.status);
    for (name, value) in &response.headers {
        builder.header(name.as_str(), value.as_str());
    }
    builder.body(response.body).build()
}
