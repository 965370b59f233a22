//! The `hold` rollout policy: the emergency brake. Swapped in for the usual policy
//! (one line of `spin.toml`), it holds every campaign: no device is offered
//! anything, and devices are told to come back in an hour. Campaigns keep their
//! state and resume where they were once the usual policy is back.
//!
//! ```
//! use sluice_policy::*;
//! use sluice_policy_hold::Hold;
//! let d = Hold.decide(&Device::default(), &Campaign::default(), &Stats::default(), 0);
//! assert!(matches!(d, Decision::Defer { seconds: 3600, .. }));
//! ```

#[cfg(target_arch = "wasm32")]
mod component;

use sluice_policy::{Campaign, Decision, Description, Device, Policy, Stats, Verdict};

/// Seconds a held device waits before asking again.
pub const HOLD_SECONDS: u32 = 3600;

/// The hold policy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hold;

impl Policy for Hold {
    fn validate(&self, _config: &str) -> Result<(), String> {
        Ok(())
    }

    fn decide(&self, _: &Device, _: &Campaign, _: &Stats, _: u64) -> Decision {
        Decision::Defer {
            seconds: HOLD_SECONDS,
            reason: "all updates are on hold".into(),
        }
    }

    fn review(&self, _: &Campaign, _: &Stats, _: u64) -> Verdict {
        Verdict::Proceed
    }

    /// Nothing to judge: it offers nothing, so it neither halts on a rate nor
    /// keeps to windows.
    fn describe(&self, _config: &str) -> Result<Option<Description>, String> {
        Ok(Some(Description::default()))
    }
}
