//! A campaign's failure rate with its confidence interval, set against the
//! threshold its policy configuration names: what an operator needs to see
//! why a rollout halted, or may expand.
//!
//! The interval is a fact about the counts (Wilson's, at the configuration's
//! confidence or 95%), the same arithmetic the standard policy halts and
//! expands on ([`sluice_policy::confidence`]). The threshold is read from the
//! configuration when it names one (`failures.max_rate`, as the standard
//! policy's configurations do, or `max_failure_rate`, as the staged
//! policy's), and judged as that policy judges it (see [`bound`]); a
//! policy's own default is not visible to the service, and the answer says
//! so.
//!
//! ```
//! use sluice_policy::OutcomeCounts;
//! use sluice_service::failure_bounds::bound;
//!
//! let counts = OutcomeCounts { offered: 100, succeeded: 80, failed: 20, ..Default::default() };
//! let b = bound("this step", &counts, r#"{"failures": {"max_rate": 0.05}}"#);
//! assert!(b.lower > 0.05);
//! assert!(b.verdict.starts_with("above the threshold with 95% confidence"));
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_policy::OutcomeCounts;
use sluice_policy::confidence::{wilson, z_for};

/// The confidence used when the configuration names none.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// The failure rate of some devices, its interval and the threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureBound {
    /// `this step` or `the campaign`.
    pub scope: String,
    pub failed: u64,
    pub finished: u64,
    /// The interval the true failure rate lies in, with `confidence`.
    pub lower: f64,
    pub upper: f64,
    pub confidence: f64,
    /// The threshold the configuration names, if it names one.
    pub threshold: Option<f64>,
    /// The fewest finished devices the configuration lets a rate be judged on.
    pub min_sample: Option<u64>,
    /// The interval against the threshold, in words.
    pub verdict: String,
}

fn named(config: &Value, paths: &[&[&str]]) -> Option<f64> {
    paths.iter().find_map(|path| {
        path.iter()
            .try_fold(config, |v, key| v.get(key))
            .and_then(Value::as_f64)
    })
}

/// The bound for `counts` under the policy configuration `config` (JSON).
///
/// A configuration naming `failures.max_rate` is judged as the standard
/// policy judges it: failed and rejected devices, the Wilson interval wholly
/// above or below the threshold. One naming `max_failure_rate` is judged as
/// the staged policy judges it: failed, rolled back and rejected devices, the
/// plain rate against the threshold. Minimum samples count only when named.
pub fn bound(scope: &str, counts: &OutcomeCounts, config: &str) -> FailureBound {
    let config: Value = serde_json::from_str(config).unwrap_or(Value::Null);
    let standard = named(&config, &[&["failures", "max_rate"]]);
    let staged = named(&config, &[&["max_failure_rate"]]);
    let threshold = standard.or(staged);
    let min_sample = named(&config, &[&["failures", "min_sample"], &["min_sample"]])
        .filter(|n| *n >= 0.0)
        .map(|n| n as u64);
    let confidence = named(&config, &[&["failures", "confidence"]])
        .filter(|c| *c > 0.5 && *c < 1.0)
        .unwrap_or(DEFAULT_CONFIDENCE);
    let plain = standard.is_none() && staged.is_some();
    let failed = counts.failed + counts.rejected + if plain { counts.rolled_back } else { 0 };
    let finished = counts.succeeded + failed;
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
    let verdict = match (threshold, min_sample) {
        _ if finished == 0 => "no device has finished".to_owned(),
        (_, Some(min)) if finished < min => {
            format!("too few finished to judge ({finished} of the {min} needed)")
        }
        (None, _) => {
            "the configuration names no threshold (the policy's default applies)".to_owned()
        }
        (Some(t), _) if plain && rate > t => "above the threshold".to_owned(),
        (Some(_), _) if plain => "within the threshold".to_owned(),
        (Some(t), _) if lower > t => format!("above the threshold with {percent:.0}% confidence"),
        (Some(t), _) if upper <= t => format!("within the threshold with {percent:.0}% confidence"),
        (Some(_), _) => "not yet clear: the threshold lies inside the interval".to_owned(),
    };
    let verdict = if min_sample.is_none() && threshold.is_some() && finished > 0 {
        format!("{verdict} (once the policy's minimum sample is met)")
    } else {
        verdict
    };
    FailureBound {
        scope: scope.to_owned(),
        failed,
        finished,
        lower,
        upper,
        confidence,
        threshold,
        min_sample,
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

    #[test]
    fn the_interval_is_judged_against_the_named_threshold() {
        let standard = r#"{"failures": {"max_rate": 0.05, "min_sample": 20, "confidence": 0.9}}"#;
        let b = bound("this step", &counts(10, 1), standard);
        assert_eq!(b.verdict, "too few finished to judge (11 of the 20 needed)");
        let b = bound("this step", &counts(500, 2), standard);
        assert_eq!(b.verdict, "within the threshold with 90% confidence");
        assert!(b.upper <= 0.05 && b.confidence == 0.9);
        let b = bound("this step", &counts(30, 3), standard);
        assert_eq!(
            b.verdict,
            "not yet clear: the threshold lies inside the interval"
        );
        // The staged policy halts on the plain rate, rolled back included.
        let staged = r#"{"max_failure_rate": 0.05, "min_sample": 1}"#;
        let b = bound("x", &counts(9, 1), staged);
        assert_eq!(
            (b.threshold, b.verdict.as_str()),
            (Some(0.05), "above the threshold")
        );
        let rolled_back = OutcomeCounts {
            rolled_back: 1,
            ..counts(99, 0)
        };
        assert_eq!(bound("x", &rolled_back, staged).failed, 1);
        assert_eq!(bound("x", &rolled_back, standard).failed, 0);
        assert!(
            bound("x", &counts(1, 2), r#"{"failures": {"max_rate": 0.05}}"#)
                .verdict
                .ends_with("(once the policy's minimum sample is met)")
        );
        assert!(
            bound("x", &counts(10, 10), "{}")
                .verdict
                .contains("names no threshold")
        );
        assert_eq!(
            bound("x", &counts(0, 0), "{}").verdict,
            "no device has finished"
        );
    }
}
