//! The `staged` policy exported as `sluice:policy/rollout`.

use sluice_policy::{Campaign, Decision, Device, OutcomeCounts, Policy, Stats, Verdict};

use crate::Staged;

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "sluice:policy/policy",
    });
}

use bindings::exports::sluice::policy::rollout as types;
use bindings::exports::sluice::policy::rollout::Guest;

struct Component;

impl Guest for Component {
    fn validate(config: String) -> Result<(), String> {
        Staged.validate(&config)
    }

    fn decide(
        device: types::Device,
        campaign: types::Campaign,
        stats: types::Stats,
        now: u64,
    ) -> types::Decision {
        match Staged.decide(
            &device_from_wit(device),
            &campaign_from_wit(campaign),
            &stats_from_wit(stats),
            now,
        ) {
            Decision::Offer => types::Decision::Offer,
            Decision::Defer { seconds, reason } => {
                types::Decision::Defer(types::Deferral { seconds, reason })
            }
            Decision::Skip(reason) => types::Decision::Skip(reason),
            Decision::Halt(reason) => types::Decision::Halt(reason),
        }
    }

    fn review(campaign: types::Campaign, stats: types::Stats, now: u64) -> types::Verdict {
        match Staged.review(&campaign_from_wit(campaign), &stats_from_wit(stats), now) {
            Verdict::Proceed => types::Verdict::Proceed,
            Verdict::Advance(stage) => types::Verdict::Advance(stage),
            Verdict::Complete => types::Verdict::Complete,
            Verdict::Halt(reason) => types::Verdict::Halt(reason),
            Verdict::Rollback(reason) => types::Verdict::Rollback(reason),
        }
    }
}

bindings::export!(Component with_types_in bindings);

fn device_from_wit(d: types::Device) -> Device {
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

fn campaign_from_wit(c: types::Campaign) -> Campaign {
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

fn counts_from_wit(c: types::OutcomeCounts) -> OutcomeCounts {
    OutcomeCounts {
        offered: c.offered,
        succeeded: c.succeeded,
        failed: c.failed,
        rolled_back: c.rolled_back,
        rejected: c.rejected,
    }
}

fn stats_from_wit(s: types::Stats) -> Stats {
    Stats {
        total: counts_from_wit(s.total),
        stage: counts_from_wit(s.stage),
        in_flight: s.in_flight,
    }
}
