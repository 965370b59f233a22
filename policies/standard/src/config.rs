//! The standard policy's configuration: the JSON an operator writes per campaign,
//! checked and turned into the rules the policy applies.

use serde::Deserialize;
use sluice_policy::{FailureGate, RateTest};

use crate::calendar::{
    parse_duration, parse_instant, parse_offset, parse_time_of_day, parse_weekday,
};
use crate::schedule::{Blackout, Schedule, Window};

/// Most stages a campaign may have.
pub const MAX_STAGES: usize = 32;
/// Most maintenance windows and blackouts.
pub const MAX_WINDOWS: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    stages: Option<Vec<RawStage>>,
    exponential: Option<RawExponential>,
    #[serde(default)]
    failures: RawFailures,
    post_update_health: Option<RawHealth>,
    #[serde(default)]
    maintenance_windows: Vec<RawWindow>,
    default_utc_offset: Option<String>,
    #[serde(default)]
    blackouts: Vec<RawBlackout>,
    #[serde(default)]
    critical: RawCritical,
    power: Option<RawPower>,
    max_in_flight: Option<u64>,
    install_time: Option<String>,
    retry_after: Option<String>,
}

/// A stage as written. (serde's `flatten` cannot be combined with
/// `deny_unknown_fields`, so the gate fields are spelled out twice.)
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    percent: f64,
    soak: Option<String>,
    min_soak: Option<String>,
    min_devices: Option<u64>,
    min_success_rate: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExponential {
    start_percent: f64,
    factor: f64,
    soak: Option<String>,
    min_soak: Option<String>,
    min_devices: Option<u64>,
    min_success_rate: Option<f64>,
}

/// What a stage needs before the next opens, as written.
#[derive(Debug, Default)]
struct RawGate<'a> {
    soak: Option<&'a str>,
    min_soak: Option<&'a str>,
    min_devices: Option<u64>,
    min_success_rate: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawFailures {
    max_rate: f64,
    confidence: f64,
    min_sample: u64,
    halt_on_rejected: bool,
}

impl Default for RawFailures {
    fn default() -> Self {
        RawFailures {
            max_rate: 0.05,
            confidence: 0.95,
            min_sample: 20,
            halt_on_rejected: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    #[serde(default = "default_health_devices")]
    min_devices: u64,
    #[serde(default = "default_max_increase")]
    max_increase: f64,
    #[serde(default = "default_confidence")]
    confidence: f64,
    #[serde(default = "default_min_events")]
    min_events: u64,
    #[serde(default)]
    on_regression: OnRegression,
}

fn default_health_devices() -> u64 {
    20
}
fn default_max_increase() -> f64 {
    0.5
}
fn default_confidence() -> f64 {
    0.95
}
fn default_min_events() -> u64 {
    10
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(default)]
    days: Vec<String>,
    start: String,
    end: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlackout {
    start: String,
    end: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCritical {
    bypass_windows: bool,
    bypass_blackouts: bool,
}

impl Default for RawCritical {
    fn default() -> Self {
        RawCritical {
            bypass_windows: true,
            bypass_blackouts: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPower {
    min_battery_percent: u8,
    #[serde(default = "yes")]
    allow_charging: bool,
}

fn yes() -> bool {
    true
}

/// What a post-update health regression does to the campaign.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRegression {
    #[default]
    Halt,
    Rollback,
}

/// One stage: how far it reaches and what it needs before the next opens.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    /// Share of the targeted fleet reached once this stage is open.
    pub percent: f64,
    /// Seconds the stage runs before the next may open.
    pub soak: u64,
    /// Seconds after which a confidently healthy stage may open the next early.
    pub min_soak: u64,
    /// Finished devices the stage needs before the next opens (never fewer than 1).
    pub min_devices: u64,
    /// Share of the stage's finished devices that must have succeeded.
    pub min_success_rate: f64,
}

/// When failures halt the campaign.
#[derive(Clone, Debug, PartialEq)]
pub struct Failures {
    /// The failure rate the fleet must not exceed.
    pub max_rate: f64,
    /// How sure the policy must be that it is exceeded before halting.
    pub confidence: f64,
    /// Finished devices needed before the rate can halt anything.
    pub min_sample: u64,
    /// Halt at the first device that rejects the release (a security signal).
    pub halt_on_rejected: bool,
}

/// When post-update health halts (or rolls back) the campaign.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthGate {
    pub min_devices: u64,
    /// Allowed relative rise of crashes, reboots or the vendor metric (0.5 = +50%).
    pub max_increase: f64,
    pub confidence: f64,
    /// Events (before and after together) needed before a rise counts.
    pub min_events: u64,
    pub on_regression: OnRegression,
}

impl Failures {
    /// This rule as the policy states it through `describe` and counts by:
    /// failed and rejected devices, the Wilson interval at `confidence`.
    pub fn gate(&self) -> FailureGate {
        FailureGate {
            max_rate: self.max_rate,
            min_sample: self.min_sample,
            test: RateTest::Wilson(self.confidence),
            counts_rejected: true,
            counts_rolled_back: false,
        }
    }
}

/// A checked configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub stages: Vec<Stage>,
    pub failures: Failures,
    pub health: Option<HealthGate>,
    pub schedule: Schedule,
    /// Minutes east of UTC for devices that report no offset.
    pub default_utc_offset: i32,
    pub critical_bypasses_windows: bool,
    pub critical_bypasses_blackouts: bool,
    /// Minimum battery, and whether charging devices may go below it.
    pub power: Option<(u8, bool)>,
    pub max_in_flight: Option<u64>,
    /// Seconds a device deferred by the battery or the cap waits (before spread).
    pub retry_after: u64,
}

fn gate(raw: &RawGate, percent: f64, last: bool) -> Result<Stage, String> {
    let soak = match raw.soak {
        Some(text) => parse_duration(text)?,
        None if last => 0,
        None => 3600,
    };
    let min_soak = match raw.min_soak {
        Some(text) => parse_duration(text)?,
        None => soak,
    };
    if min_soak > soak {
        return Err(format!(
            "stage at {percent}%: `min_soak` is longer than `soak`"
        ));
    }
    let min_success_rate = raw.min_success_rate.unwrap_or(0.95);
    if !(0.0..=1.0).contains(&min_success_rate) {
        return Err(format!(
            "stage at {percent}%: `min_success_rate` must be between 0 and 1"
        ));
    }
    Ok(Stage {
        percent,
        soak,
        min_soak,
        min_devices: raw.min_devices.unwrap_or(5).max(1),
        min_success_rate,
    })
}

fn stages(raw: &Raw) -> Result<Vec<Stage>, String> {
    let stages = match (&raw.stages, &raw.exponential) {
        (Some(_), Some(_)) => return Err("give `stages` or `exponential`, not both".into()),
        (Some(list), None) => list
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let raw = RawGate {
                    soak: s.soak.as_deref(),
                    min_soak: s.min_soak.as_deref(),
                    min_devices: s.min_devices,
                    min_success_rate: s.min_success_rate,
                };
                gate(&raw, s.percent, i + 1 == list.len())
            })
            .collect::<Result<Vec<_>, _>>()?,
        (None, Some(e)) => {
            if !(e.start_percent > 0.0 && e.start_percent <= 100.0) {
                return Err("`exponential.start_percent` must be above 0 and at most 100".into());
            }
            if !(e.factor > 1.0 && e.factor <= 100.0) {
                return Err(
                    "`exponential.factor` must be above 1 (e.g. 2 doubles each stage)".into(),
                );
            }
            let mut percents = vec![e.start_percent];
            while percents.len() < MAX_STAGES && percents[percents.len() - 1] < 100.0 {
                percents.push((percents[percents.len() - 1] * e.factor).min(100.0));
            }
            let n = percents.len();
            let raw = RawGate {
                soak: e.soak.as_deref(),
                min_soak: e.min_soak.as_deref(),
                min_devices: e.min_devices,
                min_success_rate: e.min_success_rate,
            };
            percents
                .into_iter()
                .enumerate()
                .map(|(i, p)| gate(&raw, p, i + 1 == n))
                .collect::<Result<Vec<_>, _>>()?
        }
        (None, None) => [1.0, 10.0, 50.0, 100.0]
            .into_iter()
            .enumerate()
            .map(|(i, p)| gate(&RawGate::default(), p, i == 3))
            .collect::<Result<Vec<_>, _>>()?,
    };
    if stages.is_empty() || stages.len() > MAX_STAGES {
        return Err(format!("between 1 and {MAX_STAGES} stages"));
    }
    let mut previous = 0.0;
    for s in &stages {
        if !(s.percent > previous && s.percent <= 100.0) {
            return Err(format!(
                "stage percentages must rise and stay within 100 (got {} after {previous})",
                s.percent
            ));
        }
        previous = s.percent;
    }
    Ok(stages)
}

fn check_confidence(name: &str, value: f64) -> Result<(), String> {
    if !(0.5..1.0).contains(&value) {
        return Err(format!(
            "`{name}` must be at least 0.5 and below 1 (e.g. 0.95)"
        ));
    }
    Ok(())
}

impl Config {
    /// Parses and checks a configuration; the error says which field is wrong.
    pub fn parse(json: &str) -> Result<Config, String> {
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| format!("invalid standard policy configuration: {e}"))?;
        let stages = stages(&raw)?;

        let f = &raw.failures;
        if !(f.max_rate > 0.0 && f.max_rate < 1.0) {
            return Err("`failures.max_rate` must be between 0 and 1 (e.g. 0.05)".into());
        }
        check_confidence("failures.confidence", f.confidence)?;
        if f.min_sample < 3 {
            return Err(
                "`failures.min_sample` must be at least 3: one unlucky device is not evidence"
                    .into(),
            );
        }
        let health = match &raw.post_update_health {
            None => None,
            Some(h) => {
                check_confidence("post_update_health.confidence", h.confidence)?;
                if !(h.max_increase >= 0.0 && h.max_increase.is_finite()) {
                    return Err(
                        "`post_update_health.max_increase` must be 0 or more (0.5 = +50%)".into(),
                    );
                }
                Some(HealthGate {
                    min_devices: h.min_devices.max(1),
                    max_increase: h.max_increase,
                    confidence: h.confidence,
                    min_events: h.min_events.max(1),
                    on_regression: h.on_regression,
                })
            }
        };

        let install = i64::try_from(parse_duration(
            raw.install_time.as_deref().unwrap_or("30m"),
        )?)
        .map_err(|_| "`install_time` is too long")?;
        if raw.maintenance_windows.len() > MAX_WINDOWS || raw.blackouts.len() > MAX_WINDOWS {
            return Err(format!(
                "at most {MAX_WINDOWS} maintenance windows and {MAX_WINDOWS} blackouts"
            ));
        }
        let mut windows = Vec::new();
        for w in &raw.maintenance_windows {
            let days = w
                .days
                .iter()
                .map(|d| parse_weekday(d))
                .collect::<Result<Vec<_>, _>>()?;
            let (start, end) = (parse_time_of_day(&w.start)?, parse_time_of_day(&w.end)?);
            if start == 1440 || start == end {
                return Err(format!(
                    "maintenance window {}–{}: start must be before 24:00 and differ from end",
                    w.start, w.end
                ));
            }
            let window = Window { days, start, end };
            if window.seconds() < install {
                return Err(format!(
                    "maintenance window {}–{} is shorter than `install_time`",
                    w.start, w.end
                ));
            }
            windows.push(window);
        }
        let mut blackouts = Vec::new();
        for b in &raw.blackouts {
            let (start, end) = (parse_instant(&b.start)?, parse_instant(&b.end)?);
            if end <= start {
                return Err(format!(
                    "blackout {} – {}: the end is not after the start",
                    b.start, b.end
                ));
            }
            let reason = if b.reason.trim().is_empty() {
                "blackout".to_owned()
            } else {
                b.reason.clone()
            };
            blackouts.push(Blackout { start, end, reason });
        }
        let default_utc_offset = match &raw.default_utc_offset {
            Some(text) => parse_offset(text)?,
            None => 0,
        };
        let power = match &raw.power {
            Some(p) if p.min_battery_percent > 100 => {
                return Err("`power.min_battery_percent` must be at most 100".into());
            }
            Some(p) => Some((p.min_battery_percent, p.allow_charging)),
            None => None,
        };
        if raw.max_in_flight == Some(0) {
            return Err("`max_in_flight` must be at least 1".into());
        }
        let retry_after = parse_duration(raw.retry_after.as_deref().unwrap_or("15m"))?.max(1);
        Ok(Config {
            stages,
            failures: Failures {
                max_rate: f.max_rate,
                confidence: f.confidence,
                min_sample: f.min_sample,
                halt_on_rejected: f.halt_on_rejected,
            },
            health,
            schedule: Schedule {
                windows,
                blackouts,
                install,
            },
            default_utc_offset,
            critical_bypasses_windows: raw.critical.bypass_windows,
            critical_bypasses_blackouts: raw.critical.bypass_blackouts,
            power,
            max_in_flight: raw.max_in_flight,
            retry_after,
        })
    }

    /// The stage at `index`, or the last one past the end.
    pub fn stage(&self, index: u32) -> &Stage {
        let last = self.stages.len() - 1;
        &self.stages[(index as usize).min(last)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_safe() {
        let c = Config::parse("{}").unwrap();
        let percents: Vec<f64> = c.stages.iter().map(|s| s.percent).collect();
        assert_eq!(percents, [1.0, 10.0, 50.0, 100.0]);
        assert_eq!((c.stages[0].soak, c.stages[3].soak), (3600, 0));
        assert_eq!(c.failures.min_sample, 20);
        assert!(c.critical_bypasses_windows && !c.critical_bypasses_blackouts);
        assert_eq!(c.schedule.install, 1800);
    }

    #[test]
    fn an_exponential_schedule_becomes_stages() {
        let c = Config::parse(
            r#"{"exponential":{"start_percent":1,"factor":3,"soak":"2h","min_soak":"30m"}}"#,
        )
        .unwrap();
        let percents: Vec<f64> = c.stages.iter().map(|s| s.percent).collect();
        assert_eq!(percents, [1.0, 3.0, 9.0, 27.0, 81.0, 100.0]);
        assert_eq!((c.stages[0].soak, c.stages[0].min_soak), (7200, 1800));
    }

    #[test]
    fn every_bad_field_is_named() {
        for (json, needle) in [
            (r#"{"stages":[{"percent":10},{"percent":5}]}"#, "rise"),
            (
                r#"{"stages":[{"percent":10}],"exponential":{"start_percent":1,"factor":2}}"#,
                "not both",
            ),
            (
                r#"{"exponential":{"start_percent":1,"factor":1}}"#,
                "factor",
            ),
            (
                r#"{"stages":[{"percent":10,"soak":"1h","min_soak":"2h"},{"percent":100}]}"#,
                "min_soak",
            ),
            (r#"{"failures":{"min_sample":1}}"#, "unlucky"),
            (r#"{"failures":{"confidence":1.2}}"#, "confidence"),
            (r#"{"failures":{"max_rate":0}}"#, "max_rate"),
            (
                r#"{"maintenance_windows":[{"start":"02:00","end":"02:10"}]}"#,
                "install_time",
            ),
            (
                r#"{"maintenance_windows":[{"start":"02:00","end":"02:00"}]}"#,
                "differ",
            ),
            (
                r#"{"maintenance_windows":[{"days":["funday"],"start":"02:00","end":"05:00"}]}"#,
                "weekday",
            ),
            (
                r#"{"blackouts":[{"start":"2026-12-01T18:00:00Z","end":"2026-12-01T14:00:00Z"}]}"#,
                "not after",
            ),
            (
                r#"{"blackouts":[{"start":"2026-12-01 14:00","end":"2026-12-01T18:00:00Z"}]}"#,
                "UTC offset",
            ),
            (r#"{"default_utc_offset":"+15:00"}"#, "14:00"),
            (
                r#"{"power":{"min_battery_percent":101}}"#,
                "min_battery_percent",
            ),
            (r#"{"max_in_flight":0}"#, "max_in_flight"),
            (r#"{"install_time":"soon"}"#, "duration"),
            (r#"{"stagez":[]}"#, "unknown field"),
            ("not json", "invalid"),
        ] {
            let error = Config::parse(json).unwrap_err();
            assert!(error.contains(needle), "{json}: {error}");
        }
    }
}
