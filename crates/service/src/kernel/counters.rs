//! Campaign and fleet counters, kept with atomic increments so they are exact
//! under concurrent reports, and read in one round trip, never by scanning.
//!
//! | key | counts |
//! |---|---|
//! | `cnt/{campaign}/total/{outcome}` | devices per outcome over the whole campaign |
//! | `cnt/{campaign}/stage/{n}/{outcome}` | the same, for devices offered in step n (rings first, then the policy's stages) |
//! | `cnt/{campaign}/inflight/{window}` | devices offered in that 10-minute window and not finished |
//! | `cnt/{campaign}/fail/{code}` | failures by code |
//! | `cnt/{campaign}/phase/{phase}` | devices whose rollout is now in an unfinished phase (`offered` … `rebooting`) |
//! | `cnt/{campaign}/deferred/{category}` | check-ins the campaign deferred, by [`sluice_policy::defer_category`] |
//! | `cnt/version/{version}` | devices running a version |
//! | `cnt/hardware/{hardware}` | devices enrolled with a hardware |
//! | `cnt/fleet/checkins` | check-ins (native and DDI polls) |
//! | `cnt/fleet/reports/{phase}` | status reports accepted, by the phase reported |
//!
//! In-flight devices are counted per offer window: a device that never reports
//! stops counting against the concurrency cap once its window is older than the
//! lease ([`LEASE_WINDOWS`] windows), so a dead device cannot block a rollout.

use sluice_policy::{HealthStats, OutcomeCounts, Stats};

use crate::kernel::http::ApiError;
use crate::kernel::store::Store;
use sluice_api::status::Phase;

/// One counter change: key and delta.
pub type Increment = (String, i64);

/// Width of an in-flight window.
pub const WINDOW_SECONDS: u64 = 600;
/// How many windows an offered device counts as in flight without reporting.
pub const LEASE_WINDOWS: u64 = 12;

/// The outcomes counted per campaign and step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Offered,
    Succeeded,
    Failed,
    RolledBack,
    Rejected,
}

const OUTCOMES: [Outcome; 5] = [
    Outcome::Offered,
    Outcome::Succeeded,
    Outcome::Failed,
    Outcome::RolledBack,
    Outcome::Rejected,
];

impl Outcome {
    /// The outcome a final phase counts as.
    pub fn of(phase: Phase) -> Option<Outcome> {
        match phase {
            Phase::Succeeded => Some(Outcome::Succeeded),
            Phase::Failed => Some(Outcome::Failed),
            Phase::RolledBack => Some(Outcome::RolledBack),
            Phase::Rejected => Some(Outcome::Rejected),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Outcome::Offered => "offered",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled_back",
            Outcome::Rejected => "rejected",
        }
    }
}

/// The in-flight window of an instant.
pub fn window(now: u64) -> u64 {
    now / WINDOW_SECONDS
}

fn total_key(campaign: &str, outcome: Outcome) -> String {
    format!("cnt/{campaign}/total/{}", outcome.name())
}

/// A step's outcome counter (the key says `stage` for every step, rings
/// included: it predates rings and stored counters keep it).
fn step_key(campaign: &str, step: u32, outcome: Outcome) -> String {
    format!("cnt/{campaign}/stage/{step}/{}", outcome.name())
}

/// The post-update health figures a device reports, in `HealthStats` order
/// (after `devices`).
pub const HEALTH_FIELDS: [&str; 6] = [
    "reboots_before",
    "reboots_after",
    "crashes_before",
    "crashes_after",
    "metric_before",
    "metric_after",
];

/// The counter of post-update health `field` (`devices` or one of [`HEALTH_FIELDS`]).
pub fn health_key(campaign: &str, field: &str) -> String {
    format!("cnt/{campaign}/health/{field}")
}

fn health(values: &[i64]) -> HealthStats {
    let v = |i: usize| values.get(i).copied().unwrap_or(0).max(0) as u64;
    HealthStats {
        devices: v(0),
        reboots_before: v(1),
        reboots_after: v(2),
        crashes_before: v(3),
        crashes_after: v(4),
        metric_before: v(5),
        metric_after: v(6),
    }
}

/// Key of the counter of devices offered in `window` and not finished.
pub fn in_flight_key(campaign: &str, window: u64) -> String {
    format!("cnt/{campaign}/inflight/{window}")
}

/// The unfinished phases counted per campaign ([`phase_key`]).
pub const IN_FLIGHT_PHASES: [Phase; 5] = [
    Phase::Offered,
    Phase::Downloading,
    Phase::Downloaded,
    Phase::Installing,
    Phase::Rebooting,
];

/// Key of the counter of `campaign`'s devices now in unfinished `phase`.
pub fn phase_key(campaign: &str, phase: Phase) -> String {
    format!("cnt/{campaign}/phase/{}", phase.as_str())
}

/// The increments of a rollout moving from phase `from` (`None`: a new
/// offer) to `to`: out of one unfinished phase, into another.
pub fn phase_increments(campaign: &str, from: Option<Phase>, to: Phase) -> Vec<Increment> {
    let mut increments = Vec::new();
    if let Some(from) = from.filter(|p| !p.is_final()) {
        increments.push((phase_key(campaign, from), -1));
    }
    if !to.is_final() {
        increments.push((phase_key(campaign, to), 1));
    }
    increments
}

/// Devices of `campaign` in each unfinished phase now (one round trip).
pub fn read_phases(
    store: &dyn Store,
    campaign: &str,
) -> Result<std::collections::BTreeMap<String, i64>, ApiError> {
    let keys: Vec<String> = IN_FLIGHT_PHASES
        .iter()
        .map(|p| phase_key(campaign, *p))
        .collect();
    let values = store.counters(&keys)?;
    Ok(IN_FLIGHT_PHASES
        .iter()
        .map(|p| p.as_str().to_owned())
        .zip(values.into_iter().map(|v| v.max(0)))
        .collect())
}

/// Key of the counter of failures with `code`.
pub fn failure_key(campaign: &str, code: &str) -> String {
    format!("cnt/{campaign}/fail/{code}")
}

/// Key of the counter of the check-ins `campaign` deferred for `category`
/// (one of [`sluice_policy::DEFER_CATEGORIES`]).
pub fn deferral_key(campaign: &str, category: &str) -> String {
    format!("cnt/{campaign}/deferred/{category}")
}

/// Key of the counter of check-ins.
pub const CHECKINS: &str = "cnt/fleet/checkins";

/// Key of the counter of accepted status reports of `phase`.
pub fn report_key(phase: &str) -> String {
    format!("cnt/fleet/reports/{phase}")
}

/// Counts a deferral of a check-in by `campaign`, under the category its
/// reason names.
pub fn record_deferral(store: &dyn Store, campaign: &str, reason: &str) -> Result<(), ApiError> {
    store.increment(
        &deferral_key(campaign, sluice_policy::defer_category(reason)),
        1,
    )?;
    Ok(())
}

/// Key of the counter of devices enrolled with `hardware`.
pub fn hardware_key(hardware: &str) -> String {
    format!("cnt/hardware/{hardware}")
}

/// Key of the counter of devices running `version`.
pub fn version_key(version: &str) -> String {
    format!("cnt/version/{version}")
}

fn counts(values: &[i64]) -> OutcomeCounts {
    let v = |i: usize| values.get(i).copied().unwrap_or(0).max(0) as u64;
    OutcomeCounts {
        offered: v(0),
        succeeded: v(1),
        failed: v(2),
        rolled_back: v(3),
        rejected: v(4),
    }
}

/// Reads a campaign's statistics for step `step` at `now`: one store round trip.
pub fn read_stats(
    store: &dyn Store,
    campaign: &str,
    step: u32,
    now: u64,
) -> Result<Stats, ApiError> {
    let mut keys: Vec<String> = OUTCOMES.iter().map(|o| total_key(campaign, *o)).collect();
    keys.extend(OUTCOMES.iter().map(|o| step_key(campaign, step, *o)));
    keys.push(health_key(campaign, "devices"));
    keys.extend(HEALTH_FIELDS.iter().map(|f| health_key(campaign, f)));
    keys.extend(
        leased_windows(now)
            .into_iter()
            .map(|w| in_flight_key(campaign, w)),
    );
    let values = store.counters(&keys)?;
    let n = OUTCOMES.len();
    let h = 2 * n + 1 + HEALTH_FIELDS.len();
    let in_flight: i64 = values[h..].iter().copied().map(|v| v.max(0)).sum();
    Ok(Stats {
        total: counts(&values[..n]),
        step: counts(&values[n..2 * n]),
        in_flight: in_flight as u64,
        health: health(&values[2 * n..h]),
    })
}

/// Per-step counts for steps `0..=last` (admin progress reports).
pub fn read_steps(
    store: &dyn Store,
    campaign: &str,
    last: u32,
) -> Result<Vec<OutcomeCounts>, ApiError> {
    let keys: Vec<String> = (0..=last)
        .flat_map(|s| OUTCOMES.iter().map(move |o| step_key(campaign, s, *o)))
        .collect();
    let values = store.counters(&keys)?;
    Ok(values.chunks(OUTCOMES.len()).map(counts).collect())
}

/// Counts an offer made in step `step` at in-flight `window`.
pub fn record_offer(
    store: &dyn Store,
    campaign: &str,
    step: u32,
    window: u64,
) -> Result<(), ApiError> {
    apply(store, &offer_increments(campaign, step, window))
}

/// Adds `delta` to an outcome's campaign and step counters.
pub fn record_outcome(
    store: &dyn Store,
    campaign: &str,
    step: u32,
    outcome: Outcome,
    delta: i64,
) -> Result<(), ApiError> {
    apply(store, &outcome_increments(campaign, step, outcome, delta))
}

/// Takes a device that finished out of its offer window's in-flight count.
pub fn leave_flight(store: &dyn Store, campaign: &str, window: u64) -> Result<(), ApiError> {
    apply(store, &[leave_flight_increment(campaign, window)])
}

/// The increments an offer in step `step` at `window` makes.
pub fn offer_increments(campaign: &str, step: u32, window: u64) -> Vec<Increment> {
    vec![
        (total_key(campaign, Outcome::Offered), 1),
        (step_key(campaign, step, Outcome::Offered), 1),
        (in_flight_key(campaign, window), 1),
    ]
}

/// The increments that add `delta` to an outcome's campaign and step counters.
pub fn outcome_increments(
    campaign: &str,
    step: u32,
    outcome: Outcome,
    delta: i64,
) -> Vec<Increment> {
    vec![
        (total_key(campaign, outcome), delta),
        (step_key(campaign, step, outcome), delta),
    ]
}

/// Every outcome counter of `campaign` for steps `0..=last_step`: what a
/// recount compares.
pub fn outcome_keys(campaign: &str, last_step: u32) -> Vec<String> {
    let mut keys: Vec<String> = OUTCOMES.iter().map(|o| total_key(campaign, *o)).collect();
    for step in 0..=last_step {
        keys.extend(OUTCOMES.iter().map(|o| step_key(campaign, step, *o)));
    }
    keys
}

/// The in-flight windows that count at `now` (the lease), newest first.
pub fn leased_windows(now: u64) -> Vec<u64> {
    let current = window(now);
    (0..LEASE_WINDOWS)
        .filter_map(|back| current.checked_sub(back))
        .collect()
}

/// The increment that takes a finished device out of its window's in-flight count.
pub fn leave_flight_increment(campaign: &str, window: u64) -> Increment {
    (in_flight_key(campaign, window), -1)
}

fn apply(store: &dyn Store, increments: &[Increment]) -> Result<(), ApiError> {
    for (key, delta) in increments {
        store.increment(key, *delta)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::memory_store::MemoryStore;

    #[test]
    fn stats_read_back_what_was_recorded_in_one_round_trip() {
        let store = MemoryStore::new();
        let now = 10 * WINDOW_SECONDS;
        record_offer(&store, "c1", 0, window(now)).unwrap();
        record_offer(&store, "c1", 0, window(now)).unwrap();
        record_outcome(&store, "c1", 0, Outcome::Succeeded, 1).unwrap();
        leave_flight(&store, "c1", window(now)).unwrap();
        let before = store.ops().reads;
        let stats = read_stats(&store, "c1", 0, now).unwrap();
        assert_eq!(store.ops().reads, before + 1);
        assert_eq!(stats.total.offered, 2);
        assert_eq!(stats.step.succeeded, 1);
        assert_eq!(stats.in_flight, 1);
        assert_eq!(
            read_stats(&store, "c1", 1, now).unwrap().step,
            OutcomeCounts::default()
        );
    }

    #[test]
    fn in_flight_expires_after_the_lease() {
        let store = MemoryStore::new();
        record_offer(&store, "c1", 0, window(0)).unwrap();
        assert_eq!(read_stats(&store, "c1", 0, 0).unwrap().in_flight, 1);
        let later = LEASE_WINDOWS * WINDOW_SECONDS;
        assert_eq!(read_stats(&store, "c1", 0, later).unwrap().in_flight, 0);
    }
}
