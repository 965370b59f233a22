//! The storage kernel every handler stands on: the [`Store`](store::Store)
//! abstraction and its in-memory implementation, stored records and the key
//! schema, names, device credentials, counters, configuration, the service
//! context handed to handlers, and the HTTP model (requests, responses, errors,
//! byte ranges, streamed bodies).
//!
//! It depends on nothing else in this crate.

pub mod byte_ranges;
pub mod config;
pub mod contention;
pub mod counters;
pub mod credentials;
pub mod http;
pub mod keys;
pub mod memory_store;
pub mod names;
pub mod records;
pub mod service;
pub mod store;
pub mod streamed_body;
