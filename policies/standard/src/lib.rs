//! The `standard` rollout policy: what a fleet operator should run by default.
//! Per campaign (JSON configuration, every field optional) it combines:
//!
//! - **stages** of growing percentages (or an `exponential` schedule), each
//!   soaking before the next opens, and opening early (after `min_soak`) when the
//!   stage is *confidently* healthy: the upper confidence bound of its failure
//!   rate is below the threshold;
//! - **maintenance windows** in the device's local time (its reported UTC offset,
//!   else a `utc-offset:+05:30` tag, else `default_utc_offset`), with room for the
//!   whole install before the window closes, and absolute **blackouts** that no
//!   install may overlap. A `critical` campaign passes windows (unless
//!   `critical.bypass_windows` is false) but never blackouts unless
//!   `critical.bypass_blackouts` says so;
//! - **power**: a minimum battery, unless charging;
//! - a **cap** on devices in flight at once (offered and not yet finished);
//! - **failure gates** with real statistics: halt when the lower Wilson bound of
//!   the failure rate is above `failures.max_rate` at `failures.confidence`, once
//!   `failures.min_sample` devices finished, in the current step or the campaign (never
//!   on one unlucky device), and at once on any rejected (tampered) release;
//! - **post-update health**: crashes, reboots and a vendor metric after the
//!   update against the same devices' figures before it; a rise beyond
//!   `max_increase` established with confidence halts or rolls back.
//!
//! Deferred devices are told when to come back: when the window opens or the
//! blackout ends, spread over the window by device so they do not return in
//! lockstep. Every reason starts with what held the device (`window:`,
//! `blackout:`, `battery:`, `cap:`), so the service can count them.
//!
//! See `examples/production.json` for a documented configuration.
//!
//! ```
//! use sluice_policy::*;
//! use sluice_policy_standard::Standard;
//!
//! let campaign = Campaign {
//!     config: r#"{"stages":[{"percent":5,"soak":"1h"},{"percent":100}],
//!                 "maintenance_windows":[{"start":"02:00","end":"05:00"}]}"#.into(),
//!     ..Campaign::default()
//! };
//! let canary = Device { bucket: 42, utc_offset_minutes: Some(60), ..Device::default() };
//! // 2026-12-02 01:30 UTC is 02:30 for this device: inside its window.
//! let now = 1_796_175_000;
//! assert_eq!(Standard.decide(&canary, &campaign, &Stats::default(), now), Decision::Offer);
//! // Three hours later its window has closed: come back tomorrow night.
//! assert!(matches!(
//!     Standard.decide(&canary, &campaign, &Stats::default(), now + 3 * 3600),
//!     Decision::Defer { .. }
//! ));
//! ```

pub use sluice_policy::calendar;
/// The confidence arithmetic, shared with the service (which shows operators
/// the same bounds): [`sluice_policy::confidence`].
pub use sluice_policy::confidence;
pub mod config;
pub use sluice_policy::schedule;

#[cfg(target_arch = "wasm32")]
mod component;

use sluice_policy::{
    BUCKETS, Campaign, Decision, Description, Device, OutcomeCounts, Policy, Stats, Verdict,
};

use crate::calendar::{format_instant, parse_offset};
use crate::confidence::{rose, wilson, z_for};
use crate::config::{Config, OnRegression};
use crate::schedule::Wait;

/// Longest spread of devices deferred to the same instant.
const MAX_SPREAD_SECONDS: i64 = 3600;
/// The most the service's jitter moves a deferral (see `sluice_service::device_api::jitter::jitter`).
const SERVICE_JITTER_SECONDS: i64 = 600;

/// The highest bucket (exclusive) a stage of `percent` reaches.
pub fn bucket_limit(percent: f64) -> u32 {
    ((percent * f64::from(BUCKETS) / 100.0).round() as u32).min(BUCKETS)
}

/// A stable fraction in [0, 1) per device (FNV-1a of its id, then the
/// splitmix64 finaliser so that similar ids land far apart), to spread devices
/// that would otherwise come back at the same moment.
fn spread_fraction(device: &str) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in device.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^= hash >> 31;
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// The device's local offset from UTC in minutes.
fn utc_offset(device: &Device, config: &Config) -> i32 {
    if let Some(minutes) = device.utc_offset_minutes {
        return i32::from(minutes);
    }
    device
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("utc-offset:"))
        .and_then(|text| parse_offset(text).ok())
        .unwrap_or(config.default_utc_offset)
}

/// Failures for the rate, as [`config::Failures::gate`] counts them: devices
/// whose update went wrong on their own (a rollback ordered by the operator is
/// not the release failing).
fn failures(config: &Config, c: &OutcomeCounts) -> (u64, u64) {
    config.failures.gate().failed_of_finished(c)
}

/// Why the campaign must halt on its outcome counts, if it must.
fn failure_halt(config: &Config, stats: &Stats) -> Option<String> {
    let f = &config.failures;
    if f.halt_on_rejected && stats.total.rejected > 0 {
        return Some(format!(
            "{} device(s) rejected the release: it failed verification",
            stats.total.rejected
        ));
    }
    let z = z_for(f.confidence);
    // The policy cannot name the step (a pilot ring has a name only the
    // service knows), so it says which one it means.
    for (label, counts) in [
        ("the current step", &stats.step),
        ("the campaign", &stats.total),
    ] {
        let (failed, finished) = failures(config, counts);
        if finished < f.min_sample {
            continue;
        }
        let (lower, _) = wilson(failed, finished, z);
        if lower > f.max_rate {
            return Some(format!(
                "failure rate in {label} is above {:.1}% with {:.0}% confidence: {failed} of {finished} failed (at least {:.1}%)",
                f.max_rate * 100.0,
                f.confidence * 100.0,
                lower * 100.0
            ));
        }
    }
    None
}

/// A post-update health regression, if one is established.
fn health_regression(config: &Config, stats: &Stats) -> Option<(OnRegression, String)> {
    let gate = config.health.as_ref()?;
    let h = &stats.health;
    if h.devices < gate.min_devices {
        return None;
    }
    let z = z_for(gate.confidence);
    for (what, before, after) in [
        ("crashes", h.crashes_before, h.crashes_after),
        ("reboots", h.reboots_before, h.reboots_after),
        ("the vendor metric", h.metric_before, h.metric_after),
    ] {
        if rose(before, after, gate.max_increase, z, gate.min_events) {
            return Some((
                gate.on_regression,
                format!(
                    "post-update health regressed: {what} rose from {before} to {after} on {} devices (more than +{:.0}% with {:.0}% confidence)",
                    h.devices,
                    gate.max_increase * 100.0,
                    gate.confidence * 100.0
                ),
            ));
        }
    }
    None
}

/// The standard policy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Standard;

impl Policy for Standard {
    fn validate(&self, config: &str) -> Result<(), String> {
        Config::parse(config).map(|_| ())
    }

    fn decide(&self, device: &Device, campaign: &Campaign, stats: &Stats, now: u64) -> Decision {
        let config = match Config::parse(&campaign.config) {
            Ok(config) => config,
            Err(e) => return Decision::Skip(e),
        };
        if let Some(reason) = failure_halt(&config, stats) {
            return Decision::Halt(reason);
        }
        let stage = config.stage(campaign.stage);
        if device.bucket >= bucket_limit(stage.percent) {
            return Decision::Skip(format!(
                "not in the rollout yet: stage {} reaches {}% of devices",
                campaign.stage, stage.percent
            ));
        }

        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let offset = utc_offset(device, &config);
        let spread = spread_fraction(&device.id);
        let windows = !(campaign.critical && config.critical_bypasses_windows);
        let blackouts = !(campaign.critical && config.critical_bypasses_blackouts);
        if let Err(wait) = config.schedule.check(now, offset, windows, blackouts) {
            let (until, reason) = match wait {
                Wait::Blackout { until, reason } => (
                    until,
                    format!("blackout: {reason}, until {}", format_instant(until)),
                ),
                Wait::Window { until } => (
                    until,
                    format!(
                        "window: outside the maintenance window, next at {}",
                        format_instant(until)
                    ),
                ),
            };
            // The service moves the answer by up to ten minutes either way:
            // leave that much room, so a late device still fits its install.
            let room = config
                .schedule
                .room(until, offset)
                .saturating_sub(SERVICE_JITTER_SECONDS)
                .min(MAX_SPREAD_SECONDS);
            let seconds = (until - now) + (spread * room as f64) as i64;
            return Decision::Defer {
                seconds: u32::try_from(seconds.max(1)).unwrap_or(u32::MAX),
                reason,
            };
        }
        let retry = |reason: String| Decision::Defer {
            seconds: u32::try_from(
                config.retry_after + (spread * config.retry_after as f64 / 2.0) as u64,
            )
            .unwrap_or(u32::MAX),
            reason,
        };
        if let (Some((min, allow_charging)), Some(battery)) = (config.power, device.battery_percent)
            && battery < min
            && !(allow_charging && device.charging == Some(true))
        {
            return retry(format!(
                "battery: {battery}% is below {min}% and the device is not charging"
            ));
        }
        if let Some(cap) = config.max_in_flight
            && stats.in_flight >= cap
        {
            return retry(format!(
                "cap: {} devices are updating, the cap is {cap}",
                stats.in_flight
            ));
        }
        Decision::Offer
    }

    fn describe(&self, config: &str) -> Result<Option<Description>, String> {
        let config = Config::parse(config)?;
        Ok(Some(Description {
            failures: Some(config.failures.gate()),
            windows: config.schedule.windows,
            blackouts: config.schedule.blackouts,
            max_in_flight: config.max_in_flight,
        }))
    }

    fn review(&self, campaign: &Campaign, stats: &Stats, now: u64) -> Verdict {
        let config = match Config::parse(&campaign.config) {
            Ok(config) => config,
            Err(e) => return Verdict::Halt(e),
        };
        if let Some(reason) = failure_halt(&config, stats) {
            return Verdict::Halt(reason);
        }
        if let Some((action, reason)) = health_regression(&config, stats) {
            return match action {
                OnRegression::Halt => Verdict::Halt(reason),
                OnRegression::Rollback => Verdict::Rollback(reason),
            };
        }
        let index = campaign.stage as usize;
        if index + 1 >= config.stages.len() {
            return Verdict::Proceed;
        }
        let stage = &config.stages[index];
        // Never advance without evidence from this stage's own devices.
        let (failed, finished) = failures(&config, &stats.step);
        if finished < stage.min_devices || finished == 0 {
            return Verdict::Proceed;
        }
        let success = (finished - failed) as f64 / finished as f64;
        if success < stage.min_success_rate {
            return Verdict::Proceed;
        }
        let elapsed = now.saturating_sub(campaign.stage_started_at);
        let soaked = elapsed >= stage.soak;
        // Expand early while confidently healthy: even the pessimistic bound of
        // the failure rate is within the threshold.
        let confident = elapsed >= stage.min_soak
            && finished >= config.failures.min_sample
            && wilson(failed, finished, z_for(config.failures.confidence)).1
                <= config.failures.max_rate;
        if soaked || confident {
            Verdict::Advance(campaign.stage + 1)
        } else {
            Verdict::Proceed
        }
    }
}

#[cfg(test)]
mod tests {
    use sluice_policy::{HealthStats, RateTest};

    use super::*;
    use crate::calendar::parse_instant;

    #[test]
    fn it_describes_what_its_configuration_enforces() {
        let production = include_str!("../examples/production.json");
        let config = Config::parse(production).unwrap();
        let described = Standard.describe(production).unwrap().unwrap();
        let gate = described.failures.unwrap();
        assert_eq!(gate.max_rate, config.failures.max_rate);
        assert_eq!(gate.min_sample, config.failures.min_sample);
        assert_eq!(gate.test, RateTest::Wilson(config.failures.confidence));
        assert!(gate.counts_rejected && !gate.counts_rolled_back);
        assert_eq!(described.windows, config.schedule.windows);
        assert_eq!(described.blackouts, config.schedule.blackouts);
        assert_eq!(described.max_in_flight, Some(2000));
        assert!(Standard.describe(r#"{"stages":"all"}"#).is_err());
    }

    fn at(text: &str) -> u64 {
        parse_instant(text).unwrap() as u64
    }

    fn campaign(config: &str, stage: u32) -> Campaign {
        Campaign {
            id: "c1".into(),
            release: "2.0".into(),
            config: config.into(),
            stage,
            stage_started_at: at("2026-12-01T00:00:00Z"),
            ..Campaign::default()
        }
    }

    fn device(id: &str, bucket: u32) -> Device {
        Device {
            id: id.into(),
            bucket,
            ..Device::default()
        }
    }

    fn counts(succeeded: u64, failed: u64) -> OutcomeCounts {
        OutcomeCounts {
            offered: succeeded + failed,
            succeeded,
            failed,
            ..OutcomeCounts::default()
        }
    }

    fn stats(stage: OutcomeCounts) -> Stats {
        Stats {
            total: stage,
            step: stage,
            ..Stats::default()
        }
    }

    fn deferral(d: Decision) -> (u32, String) {
        match d {
            Decision::Defer { seconds, reason } => (seconds, reason),
            other => panic!("expected a deferral, got {other:?}"),
        }
    }

    const NOON: &str = "2026-12-02T12:00:00Z";

    #[test]
    fn a_stage_reaches_only_its_buckets() {
        let c = campaign(r#"{"stages":[{"percent":1},{"percent":100}]}"#, 0);
        let now = at(NOON);
        assert_eq!(
            Standard.decide(&device("a", 99), &c, &Stats::default(), now),
            Decision::Offer
        );
        assert!(matches!(
            Standard.decide(&device("a", 100), &c, &Stats::default(), now),
            Decision::Skip(r) if r.contains("stage 0 reaches 1%")
        ));
        let c = campaign(r#"{"stages":[{"percent":1},{"percent":100}]}"#, 1);
        assert_eq!(
            Standard.decide(&device("a", 9999), &c, &Stats::default(), now),
            Decision::Offer
        );
    }

    const WINDOWS: &str = r#"{"stages":[{"percent":100}],
        "maintenance_windows":[{"start":"22:00","end":"04:00"}], "install_time":"1h"}"#;

    #[test]
    fn devices_wait_for_their_local_window_and_come_back_spread_out() {
        let c = campaign(WINDOWS, 0);
        let now = at(NOON);
        // UTC+10 at 12:00 UTC is 22:00 local: open.
        let east = Device {
            utc_offset_minutes: Some(600),
            ..device("east", 1)
        };
        assert_eq!(
            Standard.decide(&east, &c, &Stats::default(), now),
            Decision::Offer
        );
        // UTC-10 is 02:00 local: open with two hours left.
        let west = Device {
            utc_offset_minutes: Some(-600),
            ..device("west", 1)
        };
        assert_eq!(
            Standard.decide(&west, &c, &Stats::default(), now),
            Decision::Offer
        );
        // UTC at 12:00: wait ten hours, spread over up to an hour after that.
        let (a, reason) = deferral(Standard.decide(&device("a", 1), &c, &Stats::default(), now));
        let (b, _) = deferral(Standard.decide(&device("b", 1), &c, &Stats::default(), now));
        assert!(
            reason.starts_with("window:") && reason.contains("2026-12-02 22:00 UTC"),
            "{reason}"
        );
        for s in [a, b] {
            assert!((36_000..36_000 + 3600).contains(&s), "{s}");
        }
        assert_ne!(a, b, "two devices do not come back in lockstep");
        // A tag gives the offset when the device reports none.
        let tagged = Device {
            tags: vec!["utc-offset:+10:00".into()],
            ..device("t", 1)
        };
        assert_eq!(
            Standard.decide(&tagged, &c, &Stats::default(), now),
            Decision::Offer
        );
        // So does the configured default.
        let c = campaign(
            &WINDOWS.replace(
                "\"install_time\"",
                "\"default_utc_offset\":\"+10:00\",\"install_time\"",
            ),
            0,
        );
        assert_eq!(
            Standard.decide(&device("x", 1), &c, &Stats::default(), now),
            Decision::Offer
        );
    }

    #[test]
    fn a_short_window_leaves_room_for_the_service_jitter() {
        // 02:00-03:00 with a 30-minute install: deferred devices spread over at
        // most 20 minutes, so even ten minutes late they fit.
        let c = campaign(
            r#"{"stages":[{"percent":100}],"maintenance_windows":[{"start":"02:00","end":"03:00"}]}"#,
            0,
        );
        let now = at(NOON);
        for i in 0..50 {
            let (s, _) =
                deferral(Standard.decide(&device(&format!("d{i}"), 1), &c, &Stats::default(), now));
            assert!((50_400..50_400 + 1200).contains(&s), "{s}");
        }
    }

    const BLACKOUT: &str = r#"{"stages":[{"percent":100}],
        "blackouts":[{"start":"2026-12-01T14:00:00Z","end":"2026-12-01T18:00:00Z","reason":"all-hands"}]}"#;

    #[test]
    fn no_install_overlaps_a_blackout_and_critical_campaigns_pass_only_when_told() {
        let c = campaign(BLACKOUT, 0);
        let d = device("a", 1);
        // 30 minutes of install from 13:31 would run into it.
        let (seconds, reason) =
            deferral(Standard.decide(&d, &c, &Stats::default(), at("2026-12-01T13:31:00Z")));
        assert!(
            reason.starts_with("blackout: all-hands, until 2026-12-01 18:00 UTC"),
            "{reason}"
        );
        assert!(seconds >= 4 * 3600 + 29 * 60, "{seconds}");
        assert_eq!(
            Standard.decide(&d, &c, &Stats::default(), at("2026-12-01T13:30:00Z")),
            Decision::Offer
        );
        assert_eq!(
            Standard.decide(&d, &c, &Stats::default(), at("2026-12-01T18:00:00Z")),
            Decision::Offer
        );

        let mut critical = campaign(BLACKOUT, 0);
        critical.critical = true;
        assert!(
            matches!(
                Standard.decide(&d, &critical, &Stats::default(), at("2026-12-01T15:00:00Z")),
                Decision::Defer { .. }
            ),
            "critical alone does not pass a blackout"
        );
        critical.config = BLACKOUT.replace(
            "\"blackouts\"",
            "\"critical\":{\"bypass_blackouts\":true},\"blackouts\"",
        );
        assert_eq!(
            Standard.decide(&d, &critical, &Stats::default(), at("2026-12-01T15:00:00Z")),
            Decision::Offer
        );

        // Critical passes windows by default, not when told otherwise.
        let mut critical = campaign(WINDOWS, 0);
        critical.critical = true;
        assert_eq!(
            Standard.decide(&d, &critical, &Stats::default(), at(NOON)),
            Decision::Offer
        );
        critical.config = WINDOWS.replace(
            "\"install_time\"",
            "\"critical\":{\"bypass_windows\":false},\"install_time\"",
        );
        assert!(matches!(
            Standard.decide(&d, &critical, &Stats::default(), at(NOON)),
            Decision::Defer { .. }
        ));
    }

    #[test]
    fn low_battery_waits_unless_charging() {
        let c = campaign(
            r#"{"stages":[{"percent":100}],"power":{"min_battery_percent":40}}"#,
            0,
        );
        let now = at(NOON);
        let low = Device {
            battery_percent: Some(39),
            ..device("a", 1)
        };
        let (seconds, reason) = deferral(Standard.decide(&low, &c, &Stats::default(), now));
        assert!(reason.starts_with("battery: 39% is below 40%"), "{reason}");
        assert!((900..1350).contains(&seconds), "{seconds}");
        let charging = Device {
            charging: Some(true),
            ..low.clone()
        };
        assert_eq!(
            Standard.decide(&charging, &c, &Stats::default(), now),
            Decision::Offer
        );
        let enough = Device {
            battery_percent: Some(40),
            ..low.clone()
        };
        assert_eq!(
            Standard.decide(&enough, &c, &Stats::default(), now),
            Decision::Offer
        );
        let mains = device("mains", 1);
        assert_eq!(
            Standard.decide(&mains, &c, &Stats::default(), now),
            Decision::Offer
        );
        let strict = campaign(
            r#"{"stages":[{"percent":100}],"power":{"min_battery_percent":40,"allow_charging":false}}"#,
            0,
        );
        assert!(matches!(
            Standard.decide(&charging, &strict, &Stats::default(), now),
            Decision::Defer { .. }
        ));
    }

    #[test]
    fn the_cap_defers_exactly_when_reached() {
        let c = campaign(
            r#"{"stages":[{"percent":100}],"max_in_flight":3,"retry_after":"5m"}"#,
            0,
        );
        let now = at(NOON);
        let with = |in_flight| Stats {
            in_flight,
            ..Stats::default()
        };
        assert_eq!(
            Standard.decide(&device("a", 1), &c, &with(2), now),
            Decision::Offer
        );
        let (seconds, reason) = deferral(Standard.decide(&device("a", 1), &c, &with(3), now));
        assert!(
            reason.starts_with("cap: 3 devices are updating"),
            "{reason}"
        );
        assert!((300..450).contains(&seconds), "{seconds}");
        let (other, _) = deferral(Standard.decide(&device("b", 1), &c, &with(3), now));
        assert_ne!(seconds, other, "jittered per device");
    }

    const GATED: &str = r#"{"stages":[{"percent":1,"soak":"4h","min_soak":"1h","min_devices":5},{"percent":100}],
        "failures":{"max_rate":0.05,"confidence":0.95,"min_sample":20}}"#;

    #[test]
    fn failures_halt_only_when_confidently_above_the_threshold() {
        let c = campaign(GATED, 0);
        let now = at("2026-12-01T00:30:00Z");
        // One device failing alone is not evidence.
        assert_eq!(
            Standard.review(&c, &stats(counts(0, 1)), now),
            Verdict::Proceed
        );
        // 3 failures in 19: under the minimum sample.
        assert_eq!(
            Standard.review(&c, &stats(counts(16, 3)), now),
            Verdict::Proceed
        );
        // 3 in 20 (15%): the lower bound, about 6%, is above 5%.
        assert!(
            matches!(Standard.review(&c, &stats(counts(17, 3)), now), Verdict::Halt(r) if r.contains("3 of 20"))
        );
        // 2 in 20 (10%): the lower bound, about 3%, is not.
        assert_eq!(
            Standard.review(&c, &stats(counts(18, 2)), now),
            Verdict::Proceed
        );
        // 60 in 1000 (6%): confidently above 5%? lower ≈ 4.9%: not yet.
        assert_eq!(
            Standard.review(&c, &stats(counts(940, 60)), now),
            Verdict::Proceed
        );
        // 80 in 1000 (8%): yes.
        assert!(matches!(
            Standard.review(&c, &stats(counts(920, 80)), now),
            Verdict::Halt(_)
        ));
        // decide halts too, so no device is offered after the evidence is in.
        assert!(matches!(
            Standard.decide(&device("a", 1), &c, &stats(counts(17, 3)), now),
            Decision::Halt(_)
        ));
        // A rejected release halts at once.
        let rejected = Stats {
            total: OutcomeCounts {
                offered: 1,
                rejected: 1,
                ..OutcomeCounts::default()
            },
            ..Stats::default()
        };
        assert!(
            matches!(Standard.review(&c, &rejected, now), Verdict::Halt(r) if r.contains("rejected"))
        );
        // An operator's rollback is not a failure of the release.
        let rolled = OutcomeCounts {
            offered: 20,
            rolled_back: 20,
            ..OutcomeCounts::default()
        };
        assert_eq!(Standard.review(&c, &stats(rolled), now), Verdict::Proceed);
    }

    #[test]
    fn stages_advance_after_the_soak_or_early_when_confidently_healthy() {
        let c = campaign(GATED, 0);
        let start = at("2026-12-01T00:00:00Z");
        // Healthy but few devices: waits for the full soak (4 h).
        assert_eq!(
            Standard.review(&c, &stats(counts(10, 0)), start + 3 * 3600),
            Verdict::Proceed
        );
        assert_eq!(
            Standard.review(&c, &stats(counts(10, 0)), start + 4 * 3600),
            Verdict::Advance(1)
        );
        // Fewer finished than `min_devices`: never advances, however long.
        assert_eq!(
            Standard.review(&c, &stats(counts(4, 0)), start + 100 * 3600),
            Verdict::Proceed
        );
        // Nobody finished (e.g. all outside their windows): no evidence, no advance.
        assert_eq!(
            Standard.review(&c, &Stats::default(), start + 100 * 3600),
            Verdict::Proceed
        );
        // 60 of 60 succeeded: the upper bound (about 4.3%) is within 5%: open the
        // next stage after the minimum soak (1 h), not the full 4 h.
        assert_eq!(
            Standard.review(&c, &stats(counts(60, 0)), start + 3599),
            Verdict::Proceed
        );
        assert_eq!(
            Standard.review(&c, &stats(counts(60, 0)), start + 3600),
            Verdict::Advance(1)
        );
        // 40 of 40 is not yet confident (upper bound about 6.3%).
        assert_eq!(
            Standard.review(&c, &stats(counts(40, 0)), start + 3600),
            Verdict::Proceed
        );
        // Below the stage's success rate (95%): waits, even after the soak.
        assert_eq!(
            Standard.review(&c, &stats(counts(18, 1)), start + 5 * 3600),
            Verdict::Proceed
        );
        // The last stage just proceeds.
        assert_eq!(
            Standard.review(
                &campaign(GATED, 1),
                &stats(counts(60, 0)),
                start + 99 * 3600
            ),
            Verdict::Proceed
        );
    }

    #[test]
    fn a_post_update_health_regression_halts_or_rolls_back() {
        let config = r#"{"stages":[{"percent":100}],
            "post_update_health":{"min_devices":20,"max_increase":0.5,"on_regression":"rollback"}}"#;
        let c = campaign(config, 0);
        let now = at(NOON);
        let with = |devices, crashes_before, crashes_after| Stats {
            health: HealthStats {
                devices,
                crashes_before,
                crashes_after,
                ..HealthStats::default()
            },
            ..Stats::default()
        };
        assert_eq!(
            Standard.review(&c, &with(50, 40, 50), now),
            Verdict::Proceed,
            "+25% is within +50%"
        );
        assert!(
            matches!(Standard.review(&c, &with(50, 40, 100), now), Verdict::Rollback(r) if r.contains("crashes rose from 40 to 100"))
        );
        assert_eq!(
            Standard.review(&c, &with(10, 40, 100), now),
            Verdict::Proceed,
            "too few devices reported"
        );
        let halt = campaign(&config.replace("rollback", "halt"), 0);
        assert!(matches!(
            Standard.review(&halt, &with(50, 40, 100), now),
            Verdict::Halt(_)
        ));
    }

    #[test]
    fn a_broken_configuration_offers_nothing() {
        let c = campaign("{\"stages\":5}", 0);
        assert!(Standard.validate(&c.config).is_err());
        assert!(matches!(
            Standard.decide(&device("a", 1), &c, &Stats::default(), 0),
            Decision::Skip(_)
        ));
        assert!(matches!(
            Standard.review(&c, &Stats::default(), 0),
            Verdict::Halt(_)
        ));
    }
}
