//! The reference device agent: what a Linux device runs to update itself from
//! Sluice, and what `sluice sim` runs many of.
//!
//! Two slots (A/B): the device runs one and writes the update into the other. It
//! checks in at the interval the server gives (backing off on errors, honouring
//! `Retry-After`, stopping when refused), verifies the manifest against its trust
//! root, downloads chunk by chunk verifying each and persisting progress after
//! every one (a power cut resumes at the last verified chunk), reuses chunks its
//! active image already holds, checks the whole image, switches slots, runs the
//! health check, and commits or reverts on its own. Every state change is reported;
//! any verification failure is reported as `rejected` and nothing is installed.
//!
//! ```no_run
//! use sluice_device::*;
//! # fn f(trust: sluice_protocol::TrustRoot) {
//! struct AlwaysHealthy;
//! impl HealthCheck for AlwaysHealthy {
//!     fn check(&mut self, _version: &str) -> Result<(), String> { Ok(()) }
//! }
//! let dir = std::path::Path::new("/var/lib/sluice");
//! let mut agent = Agent::new(
//!     AgentState::factory("cam-v2", "1.0.0", 1),
//!     FileSlots::new(dir),
//!     HttpTransport::new("http://127.0.0.1:3000", "cam-0001", "secret"),
//!     AlwaysHealthy,
//!     trust,
//! );
//! loop {
//!     match agent.step() {
//!         Next::Wait(seconds) => std::thread::sleep(std::time::Duration::from_secs(seconds)),
//!         Next::Stop(reason) => { eprintln!("{reason}"); break; }
//!     }
//! }
//! # }
//! ```

mod agent;
mod health_watch;
pub mod sim;
mod slots;
mod transport;

pub use agent::{
    Agent, AgentState, AgentStats, DEFAULT_HEALTH_PERIOD_SECONDS, HealthCheck, Installed, Next,
    Pending, Stage,
};
pub use health_watch::{HealthCounters, HealthWatch};
pub use slots::{FileSlots, MemorySlots, Slot, Slots};
pub use transport::{HttpTransport, Transport, TransportError, ca_roots};
