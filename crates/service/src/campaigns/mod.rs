//! Campaigns: their records and lifecycle, the rollout order of devices, steps
//! and rings, the curve of a staged rollout, change freezes, recounts, the
//! failure bound a policy describes, and a new campaign's reach.
//!
//! It depends on [`crate::kernel`], [`crate::fleet`] and [`crate::ops`].

pub mod campaign;
pub mod curve;
pub mod failure_bounds;
pub mod freeze;
pub mod order;
pub mod reach;
pub mod recount;
pub mod steps;
