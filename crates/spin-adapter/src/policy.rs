//! The rollout policy as the component imports it: `sluice:policy/rollout`,
//! satisfied by a policy component through `[component.X.dependencies]`.

use sluice_policy::schedule::{Blackout, Window};
use sluice_policy::{
    Campaign, Decision, Description, Device, FailureGate, OutcomeCounts, Policy, RateTest, Stats,
    Verdict,
};

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../wit",
        world: "sluice:policy/policy-client@0.2.0",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
    });
}

use bindings::sluice::policy0_2_0::rollout;
use bindings::sluice::policy0_2_0::rollout as types;

/// The policy this component was composed with.
pub struct ImportedPolicy;

impl Policy for ImportedPolicy {
    fn validate(&self, config: &str) -> Result<(), String> {
        rollout::validate(config)
    }

    fn describe(&self, config: &str) -> Result<Option<Description>, String> {
        Ok(rollout::describe(config)?.map(description_from_wit))
    }

    fn decide(&self, device: &Device, campaign: &Campaign, stats: &Stats, now: u64) -> Decision {
        match rollout::decide(
            &device_to_wit(device),
            &campaign_to_wit(campaign),
            stats_to_wit(stats),
            now,
        ) {
            types::Decision::Offer => Decision::Offer,
            types::Decision::Defer(d) => Decision::Defer {
                seconds: d.seconds,
                reason: d.reason,
            },
            types::Decision::Skip(reason) => Decision::Skip(reason),
            types::Decision::Halt(reason) => Decision::Halt(reason),
        }
    }

    fn review(&self, campaign: &Campaign, stats: &Stats, now: u64) -> Verdict {
        match rollout::review(&campaign_to_wit(campaign), stats_to_wit(stats), now) {
            types::Verdict::Proceed => Verdict::Proceed,
            types::Verdict::Advance(stage) => Verdict::Advance(stage),
            types::Verdict::Complete => Verdict::Complete,
            types::Verdict::Halt(reason) => Verdict::Halt(reason),
            types::Verdict::Rollback(reason) => Verdict::Rollback(reason),
        }
    }
}

/// For components whose handlers never consult a policy (manifests, chunks): it
/// keeps the policy import out of them.
pub struct NoPolicy;

impl Policy for NoPolicy {
    fn validate(&self, _config: &str) -> Result<(), String> {
        Err("this component has no rollout policy".into())
    }
    fn decide(&self, _: &Device, _: &Campaign, _: &Stats, _: u64) -> Decision {
        Decision::Skip("this component has no rollout policy".into())
    }
    fn review(&self, _: &Campaign, _: &Stats, _: u64) -> Verdict {
        Verdict::Proceed
    }
}

fn device_to_wit(d: &Device) -> types::Device {
    types::Device {
        id: d.id.clone(),
        hardware: d.hardware.clone(),
        version: d.version.clone(),
        tags: d.tags.clone(),
        bucket: d.bucket,
        battery_percent: d.battery_percent,
        charging: d.charging,
        utc_offset_minutes: d.utc_offset_minutes,
        network: d.network.clone(),
    }
}

fn campaign_to_wit(c: &Campaign) -> types::Campaign {
    types::Campaign {
        id: c.id.clone(),
        release: c.release.clone(),
        config: c.config.clone(),
        critical: c.critical,
        created_at: c.created_at,
        stage: c.stage,
        stage_started_at: c.stage_started_at,
    }
}

fn counts_to_wit(c: &OutcomeCounts) -> types::OutcomeCounts {
    types::OutcomeCounts {
        offered: c.offered,
        succeeded: c.succeeded,
        failed: c.failed,
        rolled_back: c.rolled_back,
        rejected: c.rejected,
    }
}

fn stats_to_wit(s: &Stats) -> types::Stats {
    types::Stats {
        total: counts_to_wit(&s.total),
        step: counts_to_wit(&s.step),
        in_flight: s.in_flight,
        health: types::HealthStats {
            devices: s.health.devices,
            reboots_before: s.health.reboots_before,
            reboots_after: s.health.reboots_after,
            crashes_before: s.health.crashes_before,
            crashes_after: s.health.crashes_after,
            metric_before: s.health.metric_before,
            metric_after: s.health.metric_after,
        },
    }
}

fn description_from_wit(d: types::Description) -> Description {
    Description {
        failures: d.failures.map(|f| FailureGate {
            max_rate: f.max_rate,
            min_sample: f.min_sample,
            test: match f.test {
                types::RateTest::Observed => RateTest::Observed,
                types::RateTest::Wilson(confidence) => RateTest::Wilson(confidence),
            },
            counts_rejected: f.counts_rejected,
            counts_rolled_back: f.counts_rolled_back,
        }),
        windows: d
            .windows
            .into_iter()
            // Minutes past the end of a day are read as its end and days
            // past Sunday dropped, so no window runs longer than a day.
            .map(|w| Window {
                days: w
                    .days
                    .into_iter()
                    .filter(|d| *d < 7)
                    .map(u32::from)
                    .collect(),
                start: u32::from(w.start_minute.min(1440)),
                end: u32::from(w.end_minute.min(1440)),
            })
            .collect(),
        blackouts: d
            .blackouts
            .into_iter()
            .map(|b| Blackout {
                start: i64::try_from(b.start).unwrap_or(i64::MAX),
                end: i64::try_from(b.end).unwrap_or(i64::MAX),
                reason: b.reason,
            })
            .collect(),
        max_in_flight: d.max_in_flight,
    }
}
