//! Operations: who may do what, and telling others what was done. Access
//! (tokens, scopes, authentication), operators and their tokens, the
//! four-eyes rule, the audit log, and webhook delivery of campaign events.
//!
//! It depends only on [`crate::kernel`].

pub mod access;
pub mod audit;
pub mod four_eyes;
pub mod operators;
pub mod webhooks;
