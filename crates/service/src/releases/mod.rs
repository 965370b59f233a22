//! Releases as an operator publishes them: signed manifests verified against
//! the trust root and refused unless every chunk is stored, and the key
//! statement they are checked against. Devices fetch manifests through
//! [`crate::device_api::manifest`].
//!
//! It depends only on [`crate::kernel`] and [`crate::ops`].

pub mod key_statement;
pub mod publish;
