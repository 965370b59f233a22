//! Recounting a campaign: its counters rebuilt from its devices' states.
//!
//! Counting is exact but for one step (see [`crate::fleet::tally`]): an increment
//! the store applied but could not acknowledge (a Redis restart, a killed
//! host) is applied again by the device's next request, so it may count once
//! more. Spin's key-value stores have no transactions to close that gap; a
//! recount is the remedy. It walks the device directory, derives from each
//! device's state (its current rollout, or its history for a campaign it has
//! moved on from) what the campaign's outcome counters, failure codes,
//! in-flight counts and devices per unfinished phase should be, compares
//! them with the stored counters, and, when asked, adds the differences.
//!
//! The counters keep moving while devices report, so the figures are taken
//! only from a consistent moment: the states are read twice, the counters in
//! between, and both readings must agree and show no change still being
//! counted (a fresh tally); otherwise the recount answers `409` and can be
//! retried (pausing the campaign quietens it). Tallies left by requests that
//! are gone are applied first, as a device's next request would. Because the
//! correction is added (not written over), reports counted meanwhile stay
//! counted.
//!
//! A correction needs everything that was counted to be visible: a campaign
//! created before devices kept histories and were listed in the directory
//! (without `recountable`) can be checked but not corrected, nor can one
//! with a device whose history lost it; and two corrections of a campaign
//! never run at once (`recount/{campaign}` holds it). A device enrolled
//! before the directory existed is listed at its first offer since, so every
//! device a campaign created since has reached is in the directory.
//!
//! Not recounted: post-update health (a device's figures are added to the
//! counters and not kept), and the fleet-wide report and check-in counters.
//! A device whose history no longer holds the campaign (more than
//! [`crate::fleet::device::HISTORY_LEN`] events since) is counted as never offered,
//! so the recount says how many states lacked a history for the campaign's
//! failure codes and leaves those codes alone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::campaigns::campaign::CampaignRecord;
use crate::fleet::device::{DeviceState, EventKind};
use crate::fleet::tally;
use crate::kernel::counters::Increment;
use crate::kernel::counters::{self, Outcome};
use crate::kernel::http::ApiError;
use crate::kernel::names::valid_name;
use crate::kernel::service::Service;
use crate::{fleet::directory, kernel::keys, kernel::records, ops::audit};
use sluice_api::admin::campaigns::{Difference, Recount};

/// Most directory pages (of 1,000 devices) one recount walks.
pub const MAX_PAGES: u64 = 200;
/// Readings taken before giving up on a campaign that keeps changing.
const ATTEMPTS: u32 = 3;
/// How long a correction holds its campaign against another (if its request
/// dies, the next may correct after this).
const LOCK_SECONDS: u64 = 60;

/// One reading of the campaign's devices.
#[derive(Default, PartialEq, Eq)]
struct Reading {
    counts: BTreeMap<String, i64>,
    devices: u64,
    scanned: u64,
    without_history: u64,
    /// Changes written and not yet counted.
    pending: u64,
}

/// What one device's state says it contributed to `campaign`'s counters.
fn contribution(campaign: &str, state: &DeviceState, now: u64) -> (Vec<Increment>, bool) {
    let mut increments = Vec::new();
    let current = state.rollout.as_ref().filter(|r| r.campaign == campaign);
    let events: Vec<_> = state
        .history
        .iter()
        .filter(|e| e.campaign == campaign)
        .collect();
    let (step, offered_at, phase, now_in) = match current {
        Some(r) => (r.step, Some(r.offered_at), Some(r.phase), Some(r.phase)),
        None => {
            let Some(step) = events.iter().find_map(|e| e.step) else {
                return (increments, false);
            };
            let offered_at = events
                .iter()
                .find(|e| e.what == EventKind::Offered)
                .map(|e| e.at);
            let phase = events
                .iter()
                .rev()
                .find(|e| e.is_final())
                .and_then(|e| e.what.phase());
            // Where its last event left it (a rollout it never finished).
            let now_in = events.last().and_then(|e| e.what.phase());
            (step, offered_at, phase, now_in)
        }
    };
    if let Some(unfinished) = now_in.filter(|p| !p.is_final()) {
        increments.push((counters::phase_key(campaign, unfinished), 1));
    }
    // The in-flight count is read over the lease only; older windows no
    // longer matter (and an offer that old may have left the history).
    let window = offered_at.map(counters::window);
    let leased = counters::leased_windows(now);
    let in_lease = window.filter(|w| leased.contains(w));
    for (key, delta) in counters::offer_increments(campaign, step, window.unwrap_or(0)) {
        if !key.contains("/inflight/") || in_lease.is_some() {
            increments.push((key, delta));
        }
    }
    if let Some(outcome) = phase.and_then(Outcome::of) {
        increments.extend(counters::outcome_increments(campaign, step, outcome, 1));
        if let Some(w) = in_lease {
            increments.push(counters::leave_flight_increment(campaign, w));
        }
    }
    for event in &events {
        if let (Some(failure), EventKind::Failed | EventKind::Rejected) =
            (&event.failure, event.what)
        {
            increments.push((counters::failure_key(campaign, &failure.code), 1));
        }
    }
    (increments, events.is_empty())
}

/// Reads the campaign's devices, page by page; with `settle`, applies tallies
/// left by requests that are gone (and says how many).
fn read(
    svc: &Service,
    campaign: &str,
    last_page: u64,
    now: u64,
    settle: bool,
) -> Result<(Reading, u64), ApiError> {
    let mut reading = Reading::default();
    let mut settled = 0;
    let marker = format!("cnt/{campaign}/");
    for page in 0..=last_page {
        let ids = directory::read_pages(svc.store, page..page + 1)?;
        let keys: Vec<String> = ids.iter().map(|id| keys::state(id)).collect();
        for ((id, key), value) in ids.iter().zip(&keys).zip(svc.store.get_many(&keys)?) {
            let Some(state) = records::decode_opt::<DeviceState>(key, value.as_ref())? else {
                continue;
            };
            reading.scanned += 1;
            let counting = state
                .tallies
                .iter()
                .filter(|t| t.increments.iter().any(|(k, _)| k.starts_with(&marker)));
            for tally in counting {
                if settle && tally.is_stale(now) {
                    tally::take_over(svc, id, &state, now)?;
                    settled += 1;
                }
                reading.pending += 1;
            }
            let (increments, no_history) = contribution(campaign, &state, now);
            if increments.is_empty() {
                continue;
            }
            reading.devices += 1;
            if no_history {
                reading.without_history += 1;
            }
            for (key, delta) in increments {
                *reading.counts.entry(key).or_default() += delta;
            }
        }
    }
    Ok((reading, settled))
}

/// Recounts campaign `id`; with `apply`, adds the differences to its counters
/// (audited as `campaign.recount` by `actor`).
pub fn recount(svc: &Service, id: &str, apply: bool, actor: &str) -> Result<Recount, ApiError> {
    if !valid_name(id) {
        return Err(ApiError::not_found("no such campaign"));
    }
    let campaign: CampaignRecord = records::read(svc.store, &keys::campaign(id))?
        .ok_or_else(|| ApiError::not_found(format!("no campaign {id:?}")))?;
    let Some(last_page) = directory::last_page(svc.store)? else {
        return Ok(Recount {
            campaign: campaign.id,
            ..Recount::default()
        });
    };
    if last_page >= MAX_PAGES {
        return Err(ApiError::new(
            413,
            "fleet_too_large",
            format!(
                "a recount walks at most {} devices in one request",
                MAX_PAGES * directory::PAGE_SIZE as u64
            ),
        ));
    }
    let now = svc.env.now();
    let mut settled = 0;
    for _ in 0..ATTEMPTS {
        let (first, just_settled) = read(svc, id, last_page, now, true)?;
        settled += just_settled;
        if first.pending > 0 {
            continue;
        }
        // The counters to compare: every one the campaign may have, and any
        // the devices say it should.
        let codes: Vec<String> =
            records::read(svc.store, &keys::failure_codes(id))?.unwrap_or_default();
        let mut names: BTreeSet<String> = counters::outcome_keys(id, campaign.step_index())
            .into_iter()
            .chain(codes.iter().map(|c| counters::failure_key(id, c)))
            .chain(
                counters::leased_windows(now)
                    .into_iter()
                    .map(|w| counters::in_flight_key(id, w)),
            )
            .chain(
                counters::IN_FLIGHT_PHASES
                    .iter()
                    .map(|p| counters::phase_key(id, *p)),
            )
            .collect();
        names.extend(first.counts.keys().cloned());
        if first.without_history > 0 {
            names.retain(|k| !k.starts_with(&format!("cnt/{id}/fail/")));
        }
        let names: Vec<String> = names.into_iter().collect();
        let stored = svc.store.counters(&names)?;
        let (second, _) = read(svc, id, last_page, now, false)?;
        if second != first {
            continue;
        }
        let differences: Vec<Difference> = names
            .into_iter()
            .zip(stored)
            .filter_map(|(counter, stored)| {
                let counted = first.counts.get(&counter).copied().unwrap_or(0);
                (counted != stored).then_some(Difference {
                    counter,
                    stored,
                    counted,
                })
            })
            .collect();
        // An enrolment during the walk may have listed a device the readings
        // missed.
        if directory::last_page(svc.store)? != Some(last_page) {
            continue;
        }
        let applying = apply && !differences.is_empty();
        if applying {
            if !campaign.recountable || first.without_history > 0 {
                return Err(ApiError::conflict(format!(
                    "campaign {id} began before devices kept the history a correction needs ({} of its devices have none): its counters can be checked, not corrected",
                    first.without_history
                )));
            }
            let lock = keys::recount_lock(id);
            let (_, locked) = records::update::<u64, _>(svc.store, &lock, |until| match until {
                Some(until) if *until > now => Ok(None),
                _ => Ok(Some(now + LOCK_SECONDS)),
            })?;
            if !locked {
                return Err(ApiError::conflict(format!(
                    "another recount of campaign {id} is correcting it; retry in a minute"
                )));
            }
            let applied = differences.iter().try_for_each(|d| {
                svc.store
                    .increment(&d.counter, d.counted - d.stored)
                    .map(|_| ())
            });
            svc.store.delete(&lock)?;
            applied?;
            audit::append(
                svc.store,
                now,
                actor,
                "campaign.recount",
                id,
                None,
                Some(json!({ "differences": differences })),
            )?;
        }
        return Ok(Recount {
            campaign: campaign.id,
            scanned: first.scanned,
            devices: first.devices,
            differences,
            applied: applying,
            without_history: first.without_history,
            settled,
        });
    }
    Err(ApiError::conflict(format!(
        "campaign {id} kept changing while it was recounted (reports still being counted): retry, or pause it first"
    )))
}
