//! The device protocol's handlers: check-in, status reports, manifests and
//! chunk downloads, with what they share (the batch a device request reads
//! first, poll jitter).
//!
//! It depends on [`crate::kernel`], [`crate::fleet`], [`crate::ops`] and
//! [`crate::campaigns`]; [`crate::ddi`] answers hawkBit devices through it.

pub mod checkin;
pub mod chunks;
pub mod jitter;
pub mod known_device;
pub mod manifest;
pub mod status;
