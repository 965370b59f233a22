//! What the end-to-end tests share, kept apart from the tests themselves (as
//! wasmtime's `tests/all` keeps its helpers): running the `sluice` binary
//! (`cli`), a host on a free port (`host`), an application's set-up and
//! requests (`app`), and the OpenAPI document it serves (`openapi`).

pub mod app;
pub mod cli;
pub mod host;
pub mod openapi;
