//! Operations: who may do what, and telling others what was done. Access
//! (tokens, scopes, authentication), operators and their tokens, the
//! four-eyes rule, and webhook delivery of campaign events.
//!
//! The flat paths (`crate::access`, `crate::operators`, `crate::four_eyes`,
//! `crate::notify`) stay as re-exports in the crate root while the service
//! moves into folders.

pub mod access;
pub mod four_eyes;
pub mod operators;
pub mod webhooks;
