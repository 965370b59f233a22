//! What a policy enforces under one configuration, as it states it through
//! `describe`: so that the service, the dashboard and the simulator show and
//! check a rollout against the policy's own rules, never by reading one
//! policy's configuration keys.

use serde::{Deserialize, Serialize};

use crate::OutcomeCounts;
use crate::schedule::{Blackout, Window};

/// A policy's rules under one configuration, defaults filled in.
///
/// ```
/// use sluice_policy::{Description, FailureGate, RateTest};
///
/// let described = Description {
///     failures: Some(FailureGate {
///         max_rate: 0.05,
///         min_sample: 20,
///         test: RateTest::Wilson(0.95),
///         counts_rejected: true,
///         counts_rolled_back: false,
///     }),
///     ..Description::default()
/// };
/// assert!(described.windows.is_empty(), "installs may start at any time");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Description {
    /// Halts a campaign whose failure rate, in its current step or over the
    /// whole campaign, is above this; `None`: never on a rate.
    pub failures: Option<FailureGate>,
    /// Installs start only inside these, in the device's local time; empty: at
    /// any time.
    pub windows: Vec<Window>,
    /// No install starts inside these.
    pub blackouts: Vec<Blackout>,
    /// The most devices of the campaign in flight at once (offered and not yet
    /// finished).
    pub max_in_flight: Option<u64>,
}

/// The failure rate at which a policy halts a campaign.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureGate {
    /// The highest failure rate, `0..=1`, a campaign may run at.
    pub max_rate: f64,
    /// Finished devices needed before the rate can halt anything.
    pub min_sample: u64,
    pub test: RateTest,
    /// Whether rejected devices count as failed.
    pub counts_rejected: bool,
    /// Whether rolled-back devices count as failed.
    pub counts_rolled_back: bool,
}

/// How a failure rate is held against its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateTest {
    /// The rate seen so far is above the threshold.
    Observed,
    /// The Wilson score interval at this confidence (between 0.5 and 1) lies
    /// wholly above the threshold.
    Wilson(f64),
}

impl FailureGate {
    /// The failed and the finished devices among `counts`, as this gate
    /// counts them.
    ///
    /// ```
    /// use sluice_policy::{FailureGate, OutcomeCounts, RateTest};
    /// let gate = FailureGate { max_rate: 0.1, min_sample: 1, test: RateTest::Observed,
    ///     counts_rejected: true, counts_rolled_back: false };
    /// let counts = OutcomeCounts { succeeded: 8, failed: 1, rejected: 1, rolled_back: 3, ..Default::default() };
    /// assert_eq!(gate.failed_of_finished(&counts), (2, 10));
    /// ```
    pub fn failed_of_finished(&self, counts: &OutcomeCounts) -> (u64, u64) {
        let failed = counts.failed
            + if self.counts_rejected {
                counts.rejected
            } else {
                0
            }
            + if self.counts_rolled_back {
                counts.rolled_back
            } else {
                0
            };
        (failed, counts.succeeded + failed)
    }
}
