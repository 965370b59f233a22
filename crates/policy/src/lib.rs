//! The rollout policy contract of `wit/policy.wit`, as plain Rust.
//!
//! The service talks to policies through the [`Policy`] trait. In a Spin component
//! the trait is implemented by calls to the imported `sluice:policy/rollout`
//! interface (satisfied by a policy component through
//! `[component.checkin.dependencies]`); natively (tests, the policy simulator) by a
//! policy's own Rust logic. The types mirror the WIT records field for field.
//!
//! ```
//! use sluice_policy::*;
//!
//! /// Offers everything, at once, to everyone: what Sluice exists to prevent.
//! struct YoloPolicy;
//! impl Policy for YoloPolicy {
//!     fn validate(&self, _config: &str) -> Result<(), String> { Ok(()) }
//!     fn decide(&self, _: &Device, _: &Campaign, _: &Stats, _now: u64) -> Decision { Decision::Offer }
//!     fn review(&self, _: &Campaign, _: &Stats, _now: u64) -> Verdict { Verdict::Proceed }
//! }
//! assert_eq!(YoloPolicy.decide(&Device::default(), &Campaign::default(), &Stats::default(), 0), Decision::Offer);
//! ```

pub mod calendar;
pub mod confidence;
mod description;
pub mod schedule;

pub use description::{Description, FailureGate, RateTest};

use serde::{Deserialize, Serialize};

/// Buckets run from 0 to `BUCKETS - 1`; a stage of p percent covers the buckets
/// below `p * BUCKETS / 100`.
pub const BUCKETS: u32 = 10_000;

/// The device asking for work.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub hardware: String,
    pub version: String,
    pub tags: Vec<String>,
    /// `0..BUCKETS`, from hash(campaign id, device id).
    pub bucket: u32,
    pub battery_percent: Option<u8>,
    pub charging: Option<bool>,
    pub utc_offset_minutes: Option<i16>,
    pub network: Option<String>,
}

/// The campaign being rolled out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: String,
    pub release: String,
    /// Policy configuration, JSON as given at creation.
    pub config: String,
    pub critical: bool,
    pub created_at: u64,
    pub stage: u32,
    pub stage_started_at: u64,
}

/// How many devices reached each outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OutcomeCounts {
    pub offered: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rolled_back: u64,
    pub rejected: u64,
}

impl OutcomeCounts {
    /// Devices that reached an end state (any outcome but still in progress).
    pub fn finished(&self) -> u64 {
        self.succeeded + self.failed + self.rolled_back + self.rejected
    }

    /// Devices whose update went wrong.
    pub fn unsuccessful(&self) -> u64 {
        self.failed + self.rolled_back + self.rejected
    }
}

/// Post-update health summed over the devices that reported it: the same
/// figures over equal periods just before each device's update and after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStats {
    /// Devices that reported post-update health.
    pub devices: u64,
    pub reboots_before: u64,
    pub reboots_after: u64,
    pub crashes_before: u64,
    pub crashes_after: u64,
    /// The vendor's metric: a non-negative count, lower is better.
    pub metric_before: u64,
    pub metric_after: u64,
}

/// Campaign statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub total: OutcomeCounts,
    /// Devices offered the release in the current step: the pilot ring while
    /// one is open, else the policy's current stage.
    pub step: OutcomeCounts,
    pub in_flight: u64,
    #[serde(default)]
    pub health: HealthStats,
}

/// The answer at check-in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Offer,
    /// Not now: ask again in `seconds`. A `reason` that starts with one of
    /// [`DEFER_CATEGORIES`] and a colon (`"battery: 12% is below 30%"`) is
    /// counted under that category in the service's metrics and dashboard;
    /// any other reason counts as `other`.
    Defer {
        seconds: u32,
        reason: String,
    },
    Skip(String),
    Halt(String),
}

/// The categories deferrals are counted under: a maintenance window not open,
/// a blackout period, low battery, the concurrency cap, the network, the
/// device's health, a change freeze (which the service itself imposes), and
/// anything else.
pub const DEFER_CATEGORIES: [&str; 8] = [
    "window", "blackout", "battery", "cap", "network", "health", "freeze", "other",
];

/// The category a deferral's reason names (see [`Decision::Defer`]).
///
/// ```
/// use sluice_policy::defer_category;
/// assert_eq!(defer_category("battery: 12% is below 30%"), "battery");
/// assert_eq!(defer_category("waiting for the moon"), "other");
/// assert_eq!(defer_category("Cap: 5 devices"), "other");
/// ```
pub fn defer_category(reason: &str) -> &'static str {
    let named = reason.split_once(':').map_or("", |(name, _)| name);
    DEFER_CATEGORIES
        .iter()
        .find(|category| **category == named)
        .copied()
        .unwrap_or("other")
}

/// The answer to a review of campaign statistics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Proceed,
    Advance(u32),
    Complete,
    Halt(String),
    Rollback(String),
}

/// A rollout policy.
pub trait Policy {
    /// Checks a campaign configuration; the error says what is wrong.
    fn validate(&self, config: &str) -> Result<(), String>;
    /// Whether to offer the release to `device` now.
    fn decide(&self, device: &Device, campaign: &Campaign, stats: &Stats, now: u64) -> Decision;
    /// Whether the campaign should advance, halt, roll back or carry on.
    fn review(&self, campaign: &Campaign, stats: &Stats, now: u64) -> Verdict;
    /// What the policy enforces under `config` (see [`Description`]); `None`
    /// unless the policy says, which is the default.
    fn describe(&self, config: &str) -> Result<Option<Description>, String> {
        self.validate(config).map(|()| None)
    }
}
