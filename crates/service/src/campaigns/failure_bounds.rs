//! A campaign's failure rate with its confidence interval, set against the
//! threshold its policy states: what an operator needs to see why a rollout
//! halted, or may expand.
//!
//! The interval is a fact about the counts (Wilson's, at the policy's
//! confidence or 95%), the same arithmetic the standard policy halts and
//! expands on ([`sluice_policy::confidence`]). The threshold, the minimum
//! sample, which outcomes count as failed and how the rate is judged are what
//! the policy says through `describe` ([`FailureGate`]); a policy that does
//! not describe itself is said to be undescribed, never judged by another
//! policy's rules.
//!
//! ```
//! use sluice_policy::{Description, FailureGate, OutcomeCounts, RateTest};
//! use sluice_service::campaigns::failure_bounds::bound;
//!
//! let counts = OutcomeCounts { offered: 100, succeeded: 80, failed: 20, ..Default::default() };
//! let gate = FailureGate { max_rate: 0.05, min_sample: 20, test: RateTest::Wilson(0.95),
//!     counts_rejected: true, counts_rolled_back: false };
//! let described = Description { failures: Some(gate), ..Description::default() };
//! let b = bound("this step", &counts, Some(&described));
//! assert!(b.lower > 0.05);
//! assert!(b.verdict.starts_with("above the threshold with 95% confidence"));
//! ```

use sluice_api::admin::campaigns::FailureBound;
use sluice_policy::confidence::{wilson, z_for};
use sluice_policy::{Description, FailureGate, OutcomeCounts, RateTest};

/// The confidence of the interval when the policy judges by none.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// The bound for `counts` under what the policy says it enforces
/// (`described`; `None` when the policy does not describe itself).
///
/// With a gate, failed devices are counted as the gate counts them and the
/// rate is judged as it judges it: the Wilson interval wholly above or below
/// the threshold, or the plain rate against it. Without one, every
/// unsuccessful outcome is counted and nothing is judged.
pub fn bound(scope: &str, counts: &OutcomeCounts, described: Option<&Description>) -> FailureBound {
    let gate: Option<&FailureGate> = described.and_then(|d| d.failures.as_ref());
    let (failed, finished) = match gate {
        Some(gate) => gate.failed_of_finished(counts),
        None => (counts.unsuccessful(), counts.finished()),
    };
    let confidence = match gate.map(|g| g.test) {
        Some(RateTest::Wilson(c)) if c > 0.5 && c < 1.0 => c,
        _ => DEFAULT_CONFIDENCE,
    };
    let (lower, upper) = if finished == 0 {
        (0.0, 1.0)
    } else {
        wilson(failed, finished, z_for(confidence))
    };
    let rate = if finished == 0 {
        0.0
    } else {
        failed as f64 / finished as f64
    };
    let percent = confidence * 100.0;
    let verdict = match gate {
        None if described.is_none() => {
            "the policy does not describe itself: no threshold to judge against".to_owned()
        }
        None => "the policy halts on no failure rate".to_owned(),
        Some(_) if finished == 0 => "no device has finished".to_owned(),
        Some(g) if finished < g.min_sample => format!(
            "too few finished to judge ({finished} of the {} needed)",
            g.min_sample
        ),
        Some(g) => match g.test {
            RateTest::Observed if rate > g.max_rate => "above the threshold".to_owned(),
            RateTest::Observed => "within the threshold".to_owned(),
            RateTest::Wilson(_) if lower > g.max_rate => {
                format!("above the threshold with {percent:.0}% confidence")
            }
            RateTest::Wilson(_) if upper <= g.max_rate => {
                format!("within the threshold with {percent:.0}% confidence")
            }
            RateTest::Wilson(_) => {
                "not yet clear: the threshold lies inside the interval".to_owned()
            }
        },
    };
    FailureBound {
        scope: scope.to_owned(),
        failed,
        finished,
        lower,
        upper,
        confidence,
        threshold: gate.map(|g| g.max_rate),
        min_sample: gate.map(|g| g.min_sample),
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(succeeded: u64, failed: u64) -> OutcomeCounts {
        OutcomeCounts {
            offered: succeeded + failed,
            succeeded,
            failed,
            ..OutcomeCounts::default()
        }
    }

    fn described(gate: FailureGate) -> Description {
        Description {
            failures: Some(gate),
            ..Description::default()
        }
    }

    /// As the standard policy describes `{"failures": {"max_rate": 0.05,
    /// "min_sample": 20, "confidence": 0.9}}`.
    fn interval_gate() -> Description {
        described(FailureGate {
            max_rate: 0.05,
            min_sample: 20,
            test: RateTest::Wilson(0.9),
            counts_rejected: true,
            counts_rolled_back: false,
        })
    }

    /// As the staged policy describes `{"max_failure_rate": 0.05, "min_sample": 1}`.
    fn plain_gate() -> Description {
        described(FailureGate {
            max_rate: 0.05,
            min_sample: 1,
            test: RateTest::Observed,
            counts_rejected: true,
            counts_rolled_back: true,
        })
    }

    #[test]
    fn the_interval_is_judged_against_the_stated_threshold() {
        let standard = interval_gate();
        let b = bound("this step", &counts(10, 1), Some(&standard));
        assert_eq!(b.verdict, "too few finished to judge (11 of the 20 needed)");
        let b = bound("this step", &counts(500, 2), Some(&standard));
        assert_eq!(b.verdict, "within the threshold with 90% confidence");
        assert!(b.upper <= 0.05 && b.confidence == 0.9);
        let b = bound("this step", &counts(30, 3), Some(&standard));
        assert_eq!(
            b.verdict,
            "not yet clear: the threshold lies inside the interval"
        );
        // The staged policy halts on the plain rate, rolled back included.
        let staged = plain_gate();
        let b = bound("x", &counts(9, 1), Some(&staged));
        assert_eq!(
            (b.threshold, b.verdict.as_str()),
            (Some(0.05), "above the threshold")
        );
        let rolled_back = OutcomeCounts {
            rolled_back: 1,
            ..counts(99, 0)
        };
        assert_eq!(bound("x", &rolled_back, Some(&staged)).failed, 1);
        assert_eq!(bound("x", &rolled_back, Some(&standard)).failed, 0);
        assert_eq!(
            bound("x", &counts(0, 0), Some(&standard)).verdict,
            "no device has finished"
        );
    }

    #[test]
    fn an_undescribed_policy_is_said_to_be_and_never_judged() {
        let b = bound("x", &counts(10, 10), None);
        assert_eq!(
            b.verdict,
            "the policy does not describe itself: no threshold to judge against"
        );
        assert_eq!((b.threshold, b.min_sample), (None, None));
        assert_eq!((b.failed, b.finished), (10, 20));
        let no_gate = Description::default();
        assert_eq!(
            bound("x", &counts(10, 10), Some(&no_gate)).verdict,
            "the policy halts on no failure rate"
        );
    }
}
