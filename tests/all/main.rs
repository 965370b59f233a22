//! End-to-end tests: the real `sluice` binary, driven as an operator would drive it.
//!
//! One test binary (as wasmtime does it) so that the workspace links it once.

mod api;
mod audit;
mod auth;
mod bench;
mod change;
mod clients;
mod conformance;
mod crash;
mod dashboard;
mod ddi;
mod demo;
mod device;
mod fleet;
mod imports;
mod metrics;
mod operators;
mod overload;
mod policy;
mod release;
mod sim;
mod support;
mod tls;
mod up;
