//! Exports a Rust [`Policy`] as a `sluice:policy/policy` component: the guest side
//! of `wit/policy.wit`, so that a policy crate's component is one line.
//!
//! ```ignore
//! // src/component.rs of a policy crate, compiled for wasm32-wasip2 only:
//! sluice_policy_guest::export_policy!(crate::Staged);
//! ```
//!
//! The conversions between the WIT types and `sluice_policy`'s are the only code
//! here; a policy's logic stays plain Rust, tested natively.

use sluice_policy::{
    Campaign, Decision, Description, Device, HealthStats, OutcomeCounts, Policy, RateTest, Stats,
    Verdict,
};

/// The bindings of world `sluice:policy/policy`.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "sluice:policy/policy@0.2.0",
        pub_export_macro: true,
        export_macro_name: "export_rollout",
        default_bindings_module: "sluice_policy_guest::bindings",
    });
}

use bindings::exports::sluice::policy0_2_0::rollout as wit;

/// Implements the exported interface with `$policy` (an expression whose type
/// implements [`Policy`]) and exports it.
#[macro_export]
macro_rules! export_policy {
    ($policy:expr) => {
        struct SluicePolicyExport;

        impl $crate::bindings::exports::sluice::policy0_2_0::rollout::Guest for SluicePolicyExport {
            fn validate(config: String) -> Result<(), String> {
                $crate::validate(&$policy, config)
            }

            fn describe(
                config: String,
            ) -> Result<
                Option<$crate::bindings::exports::sluice::policy0_2_0::rollout::Description>,
                String,
            > {
                $crate::describe(&$policy, config)
            }

            fn decide(
                device: $crate::bindings::exports::sluice::policy0_2_0::rollout::Device,
                campaign: $crate::bindings::exports::sluice::policy0_2_0::rollout::Campaign,
                stats: $crate::bindings::exports::sluice::policy0_2_0::rollout::Stats,
                now: u64,
            ) -> $crate::bindings::exports::sluice::policy0_2_0::rollout::Decision {
                $crate::decide(&$policy, device, campaign, stats, now)
            }

            fn review(
                campaign: $crate::bindings::exports::sluice::policy0_2_0::rollout::Campaign,
                stats: $crate::bindings::exports::sluice::policy0_2_0::rollout::Stats,
                now: u64,
            ) -> $crate::bindings::exports::sluice::policy0_2_0::rollout::Verdict {
                $crate::review(&$policy, campaign, stats, now)
            }
        }

        $crate::bindings::export_rollout!(SluicePolicyExport with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub fn validate(policy: &impl Policy, config: String) -> Result<(), String> {
    policy.validate(&config)
}

#[doc(hidden)]
pub fn describe(policy: &impl Policy, config: String) -> Result<Option<wit::Description>, String> {
    Ok(policy.describe(&config)?.map(description_to_wit))
}

#[doc(hidden)]
pub fn decide(
    policy: &impl Policy,
    device: wit::Device,
    campaign: wit::Campaign,
    stats: wit::Stats,
    now: u64,
) -> wit::Decision {
    match policy.decide(
        &device_from_wit(device),
        &campaign_from_wit(campaign),
        &stats_from_wit(stats),
        now,
    ) {
        Decision::Offer => wit::Decision::Offer,
        Decision::Defer { seconds, reason } => {
            wit::Decision::Defer(wit::Deferral { seconds, reason })
        }
        Decision::Skip(reason) => wit::Decision::Skip(reason),
        Decision::Halt(reason) => wit::Decision::Halt(reason),
    }
}

#[doc(hidden)]
pub fn review(
    policy: &impl Policy,
    campaign: wit::Campaign,
    stats: wit::Stats,
    now: u64,
) -> wit::Verdict {
    match policy.review(&campaign_from_wit(campaign), &stats_from_wit(stats), now) {
        Verdict::Proceed => wit::Verdict::Proceed,
        Verdict::Advance(stage) => wit::Verdict::Advance(stage),
        Verdict::Complete => wit::Verdict::Complete,
        Verdict::Halt(reason) => wit::Verdict::Halt(reason),
        Verdict::Rollback(reason) => wit::Verdict::Rollback(reason),
    }
}

fn device_from_wit(d: wit::Device) -> Device {
    Device {
        id: d.id,
        hardware: d.hardware,
        version: d.version,
        tags: d.tags,
        bucket: d.bucket,
        battery_percent: d.battery_percent,
        charging: d.charging,
        utc_offset_minutes: d.utc_offset_minutes,
        network: d.network,
    }
}

fn campaign_from_wit(c: wit::Campaign) -> Campaign {
    Campaign {
        id: c.id,
        release: c.release,
        config: c.config,
        critical: c.critical,
        created_at: c.created_at,
        stage: c.stage,
        stage_started_at: c.stage_started_at,
    }
}

fn counts_from_wit(c: wit::OutcomeCounts) -> OutcomeCounts {
    OutcomeCounts {
        offered: c.offered,
        succeeded: c.succeeded,
        failed: c.failed,
        rolled_back: c.rolled_back,
        rejected: c.rejected,
    }
}

fn stats_from_wit(s: wit::Stats) -> Stats {
    Stats {
        total: counts_from_wit(s.total),
        step: counts_from_wit(s.step),
        in_flight: s.in_flight,
        health: HealthStats {
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

fn description_to_wit(d: Description) -> wit::Description {
    wit::Description {
        failures: d.failures.map(|f| wit::FailureGate {
            max_rate: f.max_rate,
            min_sample: f.min_sample,
            test: match f.test {
                RateTest::Observed => wit::RateTest::Observed,
                RateTest::Wilson(confidence) => wit::RateTest::Wilson(confidence),
            },
            counts_rejected: f.counts_rejected,
            counts_rolled_back: f.counts_rolled_back,
        }),
        // A checked configuration's days are below 7 and its minutes below
        // 1440, so these conversions only saturate on a policy's own bug.
        windows: d
            .windows
            .into_iter()
            .map(|w| wit::Window {
                days: w
                    .days
                    .into_iter()
                    .map(|d| u8::try_from(d).unwrap_or(u8::MAX))
                    .collect(),
                start_minute: u16::try_from(w.start).unwrap_or(u16::MAX),
                end_minute: u16::try_from(w.end).unwrap_or(u16::MAX),
            })
            .collect(),
        blackouts: d
            .blackouts
            .into_iter()
            .map(|b| wit::Blackout {
                start: u64::try_from(b.start).unwrap_or(0),
                end: u64::try_from(b.end).unwrap_or(0),
                reason: b.reason,
            })
            .collect(),
        max_in_flight: d.max_in_flight,
    }
}
