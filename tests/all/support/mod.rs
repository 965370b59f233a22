//! What the end-to-end tests share, kept apart from the tests themselves (as
//! wasmtime's `tests/all` keeps its helpers): running the `sluice` binary
//! (`cli`), a host on a free port (`host`), and an application's set-up and
//! requests (`app`).

pub mod app;
pub mod cli;
pub mod host;
