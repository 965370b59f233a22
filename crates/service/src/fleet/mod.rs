//! The fleet: enrolled devices and their state, counted changes of that state
//! (tallies), the directory of all devices, selectors, the versions devices
//! run, and the operator's views of the whole fleet (summary, search).
//!
//! It depends only on [`crate::kernel`].

pub mod device;
pub mod directory;
pub mod selection;
pub mod tally;
pub mod versions;
pub mod views;
