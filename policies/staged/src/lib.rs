//! The `staged` rollout policy: a release reaches the fleet in stages of growing
//! percentages (e.g. 1% → 10% → 50% → 100%), each stage soaking for a while and
//! meeting a success threshold before the next opens, and the campaign halts as
//! soon as failures in a stage rise above a threshold or any device rejects the
//! release.
//!
//! Which stage a device belongs to is fixed by its bucket (hash of campaign and
//! device), so the canary is always the same devices.
//!
//! Configuration (JSON, every field optional; `{}` gives 1% → 10% → 50% → 100%,
//! each stage soaking an hour):
//!
//! ```json
//! {
//!   "stages": [
//!     {"percent": 1,   "soak_seconds": 3600, "min_success_rate": 0.99, "min_devices": 5},
//!     {"percent": 10,  "soak_seconds": 3600},
//!     {"percent": 100}
//!   ],
//!   "max_failure_rate": 0.05,
//!   "min_sample": 1,
//!   "halt_on_rejected": true,
//!   "max_in_flight": 500
//! }
//! ```
//!
//! ```
//! use sluice_policy::*;
//! use sluice_policy_staged::Staged;
//!
//! let campaign = Campaign {
//!     config: r#"{"stages":[{"percent":1,"soak_seconds":60},{"percent":100}]}"#.into(),
//!     ..Campaign::default()
//! };
//! let canary = Device { bucket: 42, ..Device::default() };
//! let later = Device { bucket: 4200, ..Device::default() };
//! assert_eq!(Staged.decide(&canary, &campaign, &Stats::default(), 0), Decision::Offer);
//! assert!(matches!(Staged.decide(&later, &campaign, &Stats::default(), 0), Decision::Skip(_)));
//! ```

#[cfg(target_arch = "wasm32")]
mod component;

use serde::Deserialize;
use sluice_policy::{
    BUCKETS, Campaign, Decision, Description, Device, FailureGate, Policy, RateTest, Stats, Verdict,
};

/// Most stages a campaign may have.
pub const MAX_STAGES: usize = 16;

/// Seconds a device waits when the in-flight cap is reached.
const CAP_DEFER_SECONDS: u32 = 300;

/// The staged policy's configuration.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Stages in order; percentages strictly increasing, at most 100.
    #[serde(default = "default_stages")]
    pub stages: Vec<Stage>,
    /// Halt when a stage's unsuccessful share of finished devices exceeds this.
    #[serde(default = "default_max_failure_rate")]
    pub max_failure_rate: f64,
    /// Finished devices a stage needs before its failure rate can halt it.
    #[serde(default = "default_min_sample")]
    pub min_sample: u64,
    /// Halt as soon as any device rejects the release (a security signal).
    #[serde(default = "default_true")]
    pub halt_on_rejected: bool,
    /// Devices of this campaign in flight at once (offered and not yet finished).
    #[serde(default)]
    pub max_in_flight: Option<u64>,
}

/// One stage of the rollout.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Share of the targeted fleet reached once this stage is open.
    pub percent: f64,
    /// How long the stage runs before the next may open.
    #[serde(default)]
    pub soak_seconds: u64,
    /// Share of the stage's finished devices that must have succeeded to advance.
    #[serde(default = "default_min_success_rate")]
    pub min_success_rate: f64,
    /// Finished devices the stage needs to advance (capped by how many were offered).
    #[serde(default = "default_min_devices")]
    pub min_devices: u64,
}

/// 1% → 10% → 50% → 100%, an hour of soak between stages.
pub fn default_stages() -> Vec<Stage> {
    [1.0, 10.0, 50.0, 100.0]
        .into_iter()
        .map(|percent| Stage {
            percent,
            soak_seconds: 3600,
            min_success_rate: default_min_success_rate(),
            min_devices: default_min_devices(),
        })
        .collect()
}

fn default_max_failure_rate() -> f64 {
    0.05
}
fn default_min_sample() -> u64 {
    1
}
fn default_true() -> bool {
    true
}
fn default_min_success_rate() -> f64 {
    0.95
}
fn default_min_devices() -> u64 {
    1
}

impl Config {
    /// Parses and checks a configuration.
    pub fn parse(json: &str) -> Result<Config, String> {
        let config: Config = serde_json::from_str(json)
            .map_err(|e| format!("invalid staged policy configuration: {e}"))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if self.stages.is_empty() || self.stages.len() > MAX_STAGES {
            return Err(format!("`stages` must have 1 to {MAX_STAGES} stages"));
        }
        let mut previous = 0.0;
        for (i, stage) in self.stages.iter().enumerate() {
            if !(stage.percent > previous && stage.percent <= 100.0) {
                return Err(format!(
                    "stages[{i}].percent is {}: percentages must increase, each above 0 and at most 100",
                    stage.percent
                ));
            }
            if !(0.0..=1.0).contains(&stage.min_success_rate) {
                return Err(format!(
                    "stages[{i}].min_success_rate must be between 0 and 1"
                ));
            }
            previous = stage.percent;
        }
        if !(0.0..=1.0).contains(&self.max_failure_rate) {
            return Err("`max_failure_rate` must be between 0 and 1".into());
        }
        if self.max_in_flight == Some(0) {
            return Err("`max_in_flight` must be at least 1".into());
        }
        Ok(())
    }

    fn stage(&self, index: u32) -> &Stage {
        let last = self.stages.len() - 1;
        &self.stages[(index as usize).min(last)]
    }

    /// Why the campaign must halt given these statistics, if it must.
    fn halt_reason(&self, stats: &Stats) -> Option<String> {
        if self.halt_on_rejected && stats.total.rejected > 0 {
            return Some(format!(
                "{} device(s) rejected the release (signature or compatibility refusal)",
                stats.total.rejected
            ));
        }
        let step = &stats.step;
        let finished = step.finished();
        if finished >= self.min_sample.max(1) {
            let rate = step.unsuccessful() as f64 / finished as f64;
            if rate > self.max_failure_rate {
                return Some(format!(
                    "the current step's failure rate {:.1}% ({} of {}) is above {:.1}%",
                    rate * 100.0,
                    step.unsuccessful(),
                    finished,
                    self.max_failure_rate * 100.0
                ));
            }
        }
        None
    }
}

/// The highest bucket (exclusive) a stage reaches.
pub fn bucket_limit(percent: f64) -> u32 {
    ((percent * f64::from(BUCKETS) / 100.0).round() as u32).min(BUCKETS)
}

/// The staged policy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Staged;

impl Policy for Staged {
    fn validate(&self, config: &str) -> Result<(), String> {
        Config::parse(config).map(|_| ())
    }

    /// The plain failure rate of the current step, every unsuccessful outcome
    /// counted (as [`Config`]'s halt reason counts it); no windows.
    fn describe(&self, config: &str) -> Result<Option<Description>, String> {
        let config = Config::parse(config)?;
        Ok(Some(Description {
            failures: Some(FailureGate {
                max_rate: config.max_failure_rate,
                min_sample: config.min_sample.max(1),
                test: RateTest::Observed,
                counts_rejected: true,
                counts_rolled_back: true,
            }),
            max_in_flight: config.max_in_flight,
            ..Description::default()
        }))
    }

    fn decide(&self, device: &Device, campaign: &Campaign, stats: &Stats, _now: u64) -> Decision {
        let config = match Config::parse(&campaign.config) {
            Ok(config) => config,
            Err(e) => return Decision::Skip(e),
        };
        if let Some(reason) = config.halt_reason(stats) {
            return Decision::Halt(reason);
        }
        let stage = config.stage(campaign.stage);
        if device.bucket >= bucket_limit(stage.percent) {
            return Decision::Skip(format!(
                "not in the rollout yet: stage {} reaches {}% of devices",
                campaign.stage, stage.percent
            ));
        }
        if let Some(cap) = config.max_in_flight
            && stats.in_flight >= cap
        {
            return Decision::Defer {
                seconds: CAP_DEFER_SECONDS,
                reason: format!("cap: {cap} devices are already updating (the concurrency cap)"),
            };
        }
        Decision::Offer
    }

    fn review(&self, campaign: &Campaign, stats: &Stats, now: u64) -> Verdict {
        let config = match Config::parse(&campaign.config) {
            Ok(config) => config,
            Err(e) => return Verdict::Halt(e),
        };
        if let Some(reason) = config.halt_reason(stats) {
            return Verdict::Halt(reason);
        }
        let index = campaign.stage as usize;
        if index + 1 >= config.stages.len() {
            return Verdict::Proceed;
        }
        let stage = &config.stages[index];
        if now < campaign.stage_started_at.saturating_add(stage.soak_seconds) {
            return Verdict::Proceed;
        }
        let s = &stats.step;
        if s.offered == 0 {
            // Nobody in this stage's share of the fleet showed up: nothing to wait for.
            return Verdict::Advance(campaign.stage + 1);
        }
        let needed = stage.min_devices.max(1).min(s.offered);
        if s.finished() < needed {
            return Verdict::Proceed;
        }
        let success = s.succeeded as f64 / s.finished() as f64;
        if success >= stage.min_success_rate {
            Verdict::Advance(campaign.stage + 1)
        } else {
            Verdict::Proceed
        }
    }
}

#[cfg(test)]
mod tests {
    use sluice_policy::OutcomeCounts;

    use super::*;

    #[test]
    fn it_describes_the_rate_it_halts_on_and_its_cap() {
        let described = Staged
            .describe(r#"{"stages":[{"percent":100}],"max_failure_rate":0.2,"min_sample":4,"max_in_flight":7}"#)
            .unwrap()
            .unwrap();
        let gate = described.failures.unwrap();
        assert_eq!(
            (gate.max_rate, gate.min_sample, gate.test),
            (0.2, 4, RateTest::Observed)
        );
        assert!(gate.counts_rejected && gate.counts_rolled_back);
        assert_eq!(described.max_in_flight, Some(7));
        assert!(described.windows.is_empty());
        assert!(Staged.describe(r#"{"stages":[]}"#).is_err());
    }

    const CONFIG: &str = r#"{"stages":[
        {"percent":1,"soak_seconds":100,"min_success_rate":0.9,"min_devices":3},
        {"percent":10,"soak_seconds":100},
        {"percent":100}],
        "max_failure_rate":0.2,"min_sample":3}"#;

    fn campaign(stage: u32) -> Campaign {
        Campaign {
            id: "c1".into(),
            release: "2.0".into(),
            config: CONFIG.into(),
            stage,
            stage_started_at: 1000,
            ..Campaign::default()
        }
    }

    fn device(bucket: u32) -> Device {
        Device {
            bucket,
            ..Device::default()
        }
    }

    fn stage_stats(offered: u64, succeeded: u64, failed: u64) -> Stats {
        let counts = OutcomeCounts {
            offered,
            succeeded,
            failed,
            ..OutcomeCounts::default()
        };
        Stats {
            total: counts,
            step: counts,
            in_flight: offered - succeeded - failed,
            ..Stats::default()
        }
    }

    #[test]
    fn only_the_current_stages_buckets_are_offered() {
        let stats = Stats::default();
        assert_eq!(
            Staged.decide(&device(0), &campaign(0), &stats, 0),
            Decision::Offer
        );
        assert_eq!(
            Staged.decide(&device(99), &campaign(0), &stats, 0),
            Decision::Offer
        );
        assert!(matches!(
            Staged.decide(&device(100), &campaign(0), &stats, 0),
            Decision::Skip(_)
        ));
        assert_eq!(
            Staged.decide(&device(999), &campaign(1), &stats, 0),
            Decision::Offer
        );
        assert!(matches!(
            Staged.decide(&device(1000), &campaign(1), &stats, 0),
            Decision::Skip(_)
        ));
        assert_eq!(
            Staged.decide(&device(9999), &campaign(2), &stats, 0),
            Decision::Offer
        );
    }

    #[test]
    fn advances_only_after_soak_and_success() {
        let good = stage_stats(5, 5, 0);
        assert_eq!(
            Staged.review(&campaign(0), &good, 1099),
            Verdict::Proceed,
            "still soaking"
        );
        assert_eq!(
            Staged.review(&campaign(0), &good, 1100),
            Verdict::Advance(1)
        );
        let too_few = stage_stats(5, 2, 0);
        assert_eq!(
            Staged.review(&campaign(0), &too_few, 5000),
            Verdict::Proceed,
            "min_devices"
        );
        let nobody = stage_stats(0, 0, 0);
        assert_eq!(
            Staged.review(&campaign(0), &nobody, 1100),
            Verdict::Advance(1)
        );
        assert_eq!(
            Staged.review(&campaign(2), &good, 9999),
            Verdict::Proceed,
            "last stage"
        );
    }

    #[test]
    fn halts_when_failures_rise_above_the_threshold() {
        let bad = stage_stats(10, 3, 2);
        assert!(matches!(
            Staged.review(&campaign(0), &bad, 5000),
            Verdict::Halt(_)
        ));
        assert!(matches!(
            Staged.decide(&device(0), &campaign(0), &bad, 5000),
            Decision::Halt(_)
        ));
        // Below min_sample: no verdict from one unlucky device.
        let one = stage_stats(10, 0, 1);
        assert_eq!(Staged.review(&campaign(0), &one, 0), Verdict::Proceed);
    }

    #[test]
    fn any_rejection_halts() {
        let mut stats = stage_stats(10, 5, 0);
        stats.total.rejected = 1;
        assert!(
            matches!(Staged.review(&campaign(1), &stats, 0), Verdict::Halt(r) if r.contains("rejected"))
        );
    }

    #[test]
    fn the_in_flight_cap_defers() {
        let config = r#"{"stages":[{"percent":100}],"max_in_flight":2}"#;
        let c = Campaign {
            config: config.into(),
            ..Campaign::default()
        };
        let stats = Stats {
            in_flight: 2,
            ..Stats::default()
        };
        assert!(matches!(
            Staged.decide(&device(0), &c, &stats, 0),
            Decision::Defer { .. }
        ));
    }

    #[test]
    fn bad_configurations_are_explained() {
        for (config, needle) in [
            (r#"{"stages":[]}"#, "stages"),
            (
                r#"{"stages":[{"percent":10},{"percent":5}]}"#,
                "stages[1].percent",
            ),
            (r#"{"stages":[{"percent":101}]}"#, "stages[0].percent"),
            (r#"{"stages":[{"percent":0}]}"#, "stages[0].percent"),
            (
                r#"{"stages":[{"percent":10,"min_success_rate":2}]}"#,
                "min_success_rate",
            ),
            (
                r#"{"stages":[{"percent":10}],"max_failure_rate":-1}"#,
                "max_failure_rate",
            ),
            (r#"{"stages":[{"percent":10}],"surprise":1}"#, "surprise"),
            ("not json", "invalid"),
        ] {
            let err = Staged.validate(config).unwrap_err();
            assert!(err.contains(needle), "{config}: {err}");
        }
        assert!(Staged.validate(CONFIG).is_ok());
        let defaults = Config::parse("{}").unwrap();
        assert_eq!(defaults.stages.len(), 4);
        assert_eq!(defaults.stages[0].percent, 1.0);
    }

    #[test]
    fn same_input_same_answer() {
        let stats = stage_stats(5, 5, 0);
        for bucket in [0, 50, 500, 5000] {
            let a = Staged.decide(&device(bucket), &campaign(1), &stats, 7);
            let b = Staged.decide(&device(bucket), &campaign(1), &stats, 7);
            assert_eq!(a, b);
        }
    }
}
