//! The pass-through between the two versions' types.

wit_bindgen::generate!({
    path: "../../wit",
    world: "sluice:policy/upgrade-from-0-1@0.2.0",
    generate_all,
});

use exports::sluice::policy0_2_0::rollout as new;
use sluice::policy0_1_0::rollout as old;

struct Upgrade;

impl new::Guest for Upgrade {
    fn validate(config: String) -> Result<(), String> {
        old::validate(&config)
    }

    fn describe(config: String) -> Result<Option<new::Description>, String> {
        old::validate(&config).map(|()| None)
    }

    fn decide(
        device: new::Device,
        campaign: new::Campaign,
        stats: new::Stats,
        now: u64,
    ) -> new::Decision {
        match old::decide(
            &device_to_old(device),
            &campaign_to_old(campaign),
            stats_to_old(stats),
            now,
        ) {
            old::Decision::Offer => new::Decision::Offer,
            old::Decision::Defer(d) => new::Decision::Defer(new::Deferral {
                seconds: d.seconds,
                reason: d.reason,
            }),
            old::Decision::Skip(reason) => new::Decision::Skip(reason),
            old::Decision::Halt(reason) => new::Decision::Halt(reason),
        }
    }

    fn review(campaign: new::Campaign, stats: new::Stats, now: u64) -> new::Verdict {
        match old::review(&campaign_to_old(campaign), stats_to_old(stats), now) {
            old::Verdict::Proceed => new::Verdict::Proceed,
            old::Verdict::Advance(stage) => new::Verdict::Advance(stage),
            old::Verdict::Complete => new::Verdict::Complete,
            old::Verdict::Halt(reason) => new::Verdict::Halt(reason),
            old::Verdict::Rollback(reason) => new::Verdict::Rollback(reason),
        }
    }
}

fn device_to_old(d: new::Device) -> old::Device {
    old::Device {
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

fn campaign_to_old(c: new::Campaign) -> old::Campaign {
    old::Campaign {
        id: c.id,
        release: c.release,
        config: c.config,
        critical: c.critical,
        created_at: c.created_at,
        stage: c.stage,
        stage_started_at: c.stage_started_at,
    }
}

fn counts_to_old(c: new::OutcomeCounts) -> old::OutcomeCounts {
    old::OutcomeCounts {
        offered: c.offered,
        succeeded: c.succeeded,
        failed: c.failed,
        rolled_back: c.rolled_back,
        rejected: c.rejected,
    }
}

fn stats_to_old(s: new::Stats) -> old::Stats {
    let h = s.health;
    old::Stats {
        total: counts_to_old(s.total),
        stage: counts_to_old(s.step),
        in_flight: s.in_flight,
        health: old::HealthStats {
            devices: h.devices,
            reboots_before: h.reboots_before,
            reboots_after: h.reboots_after,
            crashes_before: h.crashes_before,
            crashes_after: h.crashes_after,
            metric_before: h.metric_before,
            metric_after: h.metric_after,
        },
    }
}

export!(Upgrade);
