//! `POST /v1/status`: a device reports how its update is going.
//!
//! Reports move the device's rollout forward (compare-and-swap, so a report sent
//! twice, or two sent at once, count once); each change to a final outcome updates
//! the campaign's counters, and then the policy reviews the campaign, which may
//! advance, halt or roll it back.
//!
//! After a device has committed the update it reports its health once
//! (`state: "health"`): crashes, reboots and a vendor metric over equal periods
//! before and after the update. These add to the campaign's health counters,
//! which the policy compares (post-update regression).

use sluice_api::status::{
    Failure, HealthReport, Phase, ReportedState, StatusAction, StatusAnswer, StatusReport,
};

use crate::campaigns::campaign::{CampaignRecord, CampaignState};
use crate::campaigns::freeze::{self, Freeze};
use crate::device_api::jitter::jitter;
use crate::fleet::device::{DeviceRecord, DeviceState, Event, EventKind};
use crate::fleet::tally;
use crate::kernel::counters::Increment;
use crate::kernel::counters::{self, Outcome};
use crate::kernel::credentials::device_credentials;
use crate::kernel::http::{ApiError, Request, Response, parse_json, respond};
use crate::kernel::names::valid_name;
use crate::kernel::service::Service;
use crate::{campaigns::steps, kernel::keys, kernel::records};

/// Largest status body accepted.
pub const MAX_BODY: usize = 16 * 1024;
const MAX_DETAIL: usize = 2048;

/// The largest count a health report may carry; larger reports are refused.
pub const MAX_HEALTH_COUNT: u64 = 10_000;

/// The most one device adds to any of the campaign's health counters: a device
/// that crashes a thousand times weighs as much as one that crashes twenty, so
/// one broken or malicious device cannot roll a campaign back on its own.
pub const HEALTH_WEIGHT_PER_DEVICE: u64 = 20;

/// The figures of `report` in [`counters::HEALTH_FIELDS`] order.
fn health_values(report: &HealthReport) -> [u64; 6] {
    [
        report.reboots_before,
        report.reboots_after,
        report.crashes_before,
        report.crashes_after,
        report.metric_before,
        report.metric_after,
    ]
}

/// A report whose body is JSON but whose `state` is none of the known ones is
/// a bad request naming them, not malformed JSON: looked at only once the
/// typed parse has failed, so a good report is parsed once.
fn unknown_state(body: &[u8]) -> Option<ApiError> {
    #[derive(serde::Deserialize)]
    struct StateOnly {
        state: String,
    }
    let StateOnly { state } = serde_json::from_slice(body).ok()?;
    ReportedState::try_from(state)
        .err()
        .map(ApiError::bad_request)
}

/// Handles a status report.
pub fn handle(svc: &Service, request: &Request) -> Response {
    respond(report(svc, request).map(|answer| Response::json(200, &answer)))
}

fn report(svc: &Service, request: &Request) -> Result<StatusAnswer, ApiError> {
    if request.method != "POST" {
        return Err(ApiError::method_not_allowed("POST"));
    }
    let (device_id, secret) = device_credentials(request)?;
    let body: StatusReport = parse_json(&request.body, MAX_BODY).map_err(|e| {
        // An oversized body stays refused as such, never parsed.
        if request.body.len() <= MAX_BODY {
            unknown_state(&request.body).unwrap_or(e)
        } else {
            e
        }
    })?;
    if !valid_name(&body.campaign) {
        return Err(ApiError::bad_request("campaign is not a valid id"));
    }
    let Some(phase) = body.state.phase() else {
        return health(svc, &device_id, &secret, &body);
    };
    let failure = match (&body.error, phase) {
        (Some(e), _) => {
            if !valid_name(&e.code) || !valid_name(&e.phase) || e.detail.len() > MAX_DETAIL {
                return Err(ApiError::bad_request(format!(
                    "error.phase and error.code must be short names; error.detail at most {MAX_DETAIL} bytes"
                )));
            }
            Some(e.clone())
        }
        (None, Phase::Failed | Phase::Rejected) => Some(Failure {
            phase: "unknown".into(),
            code: "unspecified".into(),
            detail: String::new(),
        }),
        (None, _) => None,
    };
    let now = svc.env.now();

    let keys = [
        keys::device(&device_id),
        keys::state(&device_id),
        keys::campaign(&body.campaign),
        keys::FREEZES.to_owned(),
    ];
    let values = svc.store.get_many(&keys)?;
    let device: DeviceRecord = records::decode_opt(&keys[0], values[0].as_ref())?
        .filter(|d: &DeviceRecord| d.accepts(&secret))
        .ok_or_else(|| ApiError::unauthorized("unknown device or wrong secret"))?;
    let state: DeviceState = records::decode_opt(&keys[1], values[1].as_ref())?.unwrap_or_default();
    let campaign: CampaignRecord = records::decode_opt(&keys[2], values[2].as_ref())?
        .ok_or_else(|| ApiError::not_found(format!("no campaign {:?}", body.campaign)))?;
    let freezes: Vec<Freeze> =
        records::decode_opt(&keys[3], values[3].as_ref())?.unwrap_or_default();
    let mut answer = apply(svc, &device_id, &state, &campaign, phase, failure, now)?;
    // A download that ends inside a change freeze waits to install until the
    // freeze is over (or lifted: the device asks again at least every poll).
    if phase == Phase::Downloaded
        && answer.action == StatusAction::Continue
        && let Some(hold) = freeze::hold(&freezes, Some(&campaign), &device, &state.version, now)
    {
        let left = u32::try_from(hold.until.saturating_sub(now)).unwrap_or(u32::MAX);
        answer.action = StatusAction::Hold;
        answer.hold_seconds = Some(jitter(left.min(svc.config.poll_seconds), &device_id, now));
        answer.reason = Some(hold.reason);
    }
    Ok(answer)
}

/// Moves an authenticated device's rollout in `campaign` to `phase`, counting
/// the change once; what a native status report and a hawkBit DDI feedback do.
pub(crate) fn apply(
    svc: &Service,
    device_id: &str,
    state: &DeviceState,
    campaign: &CampaignRecord,
    phase: Phase,
    failure: Option<Failure>,
    now: u64,
) -> Result<StatusAnswer, ApiError> {
    if state
        .rollout
        .as_ref()
        .is_none_or(|r| r.campaign != campaign.id)
    {
        return Err(ApiError::conflict(format!(
            "device {device_id} was not offered campaign {}",
            campaign.id
        )));
    }
    if campaign.state == CampaignState::Aborted {
        return Err(ApiError::new(
            410,
            "campaign_aborted",
            format!(
                "campaign {} was aborted: stop, discard the download and keep the current version",
                campaign.id
            ),
        ));
    }

    let (_, wrote) = tally::update(svc, device_id, now, |current| {
        let Some(mut state) = current.cloned() else {
            return Ok(None);
        };
        let Some(rollout) = state.rollout.as_mut().filter(|r| r.campaign == campaign.id) else {
            return Ok(None);
        };
        if !transition_allowed(rollout.phase, phase)? {
            return Ok(None);
        }
        let increments = transition_increments(
            &campaign.id,
            rollout.step,
            rollout.offered_at,
            rollout.phase,
            phase,
            failure.as_ref(),
        );
        rollout.phase = phase;
        if failure.is_some() {
            rollout.failure = failure.clone();
        }
        rollout.updated_at = now;
        let event = Event::rollout(rollout, phase, now);
        state.record(event);
        state.updated_at = now;
        Ok(Some((state, increments)))
    })?;

    let action = if campaign.state == CampaignState::RolledBack && phase != Phase::RolledBack {
        StatusAction::Rollback
    } else {
        StatusAction::Continue
    };
    if !wrote {
        return Ok(StatusAnswer {
            duplicate: true,
            action,
            ..StatusAnswer::go_on()
        });
    }
    if let (Some(failure), Phase::Failed | Phase::Rejected) = (failure.as_ref(), phase) {
        records::add_to_list(svc.store, &keys::failure_codes(&campaign.id), &failure.code)?;
    }
    if phase.is_final() {
        review(svc, campaign, now)?;
    }
    Ok(StatusAnswer {
        action,
        ..StatusAnswer::go_on()
    })
}

/// Whether a report moving `from` to `to` changes anything; an error for one that
/// makes no sense.
fn transition_allowed(from: Phase, to: Phase) -> Result<bool, ApiError> {
    if from == to {
        return Ok(false);
    }
    if from.is_final() {
        return match (from, to) {
            (Phase::Succeeded | Phase::Failed, Phase::RolledBack) => Ok(true),
            _ => Err(ApiError::conflict(format!(
                "the update already ended as {}; {} cannot follow",
                from.as_str(),
                to.as_str()
            ))),
        };
    }
    // In flight: final outcomes and forward progress count; going back (a
    // download resumed after power loss) is accepted and changes nothing.
    Ok(to.is_final() || to > from)
}

/// The counter increments of a device's rollout moving `from` to `to`.
fn transition_increments(
    campaign: &str,
    step: u32,
    offered_at: u64,
    from: Phase,
    to: Phase,
    failure: Option<&Failure>,
) -> Vec<Increment> {
    let mut increments = vec![(counters::report_key(to.as_str()), 1)];
    increments.extend(counters::phase_increments(campaign, Some(from), to));
    if let Some(outcome) = Outcome::of(to) {
        increments.extend(counters::outcome_increments(campaign, step, outcome, 1));
    }
    if from.is_final() {
        // Succeeded or failed, then rolled back: it counts once, as rolled back.
        if let Some(outcome) = Outcome::of(from) {
            increments.extend(counters::outcome_increments(campaign, step, outcome, -1));
        }
    } else if to.is_final() {
        increments.push(counters::leave_flight_increment(
            campaign,
            counters::window(offered_at),
        ));
    }
    if let (Some(failure), Phase::Failed | Phase::Rejected) = (failure, to) {
        increments.push((counters::failure_key(campaign, &failure.code), 1));
    }
    increments
}

/// A post-update health report: once per device and campaign, after success.
fn health(
    svc: &Service,
    device_id: &str,
    secret: &str,
    body: &StatusReport,
) -> Result<StatusAnswer, ApiError> {
    let report = body
        .health
        .ok_or_else(|| ApiError::bad_request("state health needs a `health` object"))?;
    if health_values(&report).iter().any(|v| *v > MAX_HEALTH_COUNT) {
        return Err(ApiError::bad_request(format!(
            "health counts are at most {MAX_HEALTH_COUNT}"
        )));
    }
    let now = svc.env.now();
    let keys = [
        keys::device(device_id),
        keys::state(device_id),
        keys::campaign(&body.campaign),
    ];
    let values = svc.store.get_many(&keys)?;
    let _device: DeviceRecord = records::decode_opt(&keys[0], values[0].as_ref())?
        .filter(|d: &DeviceRecord| d.accepts(secret))
        .ok_or_else(|| ApiError::unauthorized("unknown device or wrong secret"))?;
    let campaign: CampaignRecord = records::decode_opt(&keys[2], values[2].as_ref())?
        .ok_or_else(|| ApiError::not_found(format!("no campaign {:?}", body.campaign)))?;
    let mut refused = None;
    // The health counters move with the state change that marks the report
    // counted, as a tally: a request cut short between the two loses nothing.
    let mut increments: Vec<Increment> = vec![(counters::health_key(&campaign.id, "devices"), 1)];
    for (field, value) in counters::HEALTH_FIELDS.iter().zip(health_values(&report)) {
        let value = value.min(HEALTH_WEIGHT_PER_DEVICE);
        if value > 0 {
            increments.push((
                counters::health_key(&campaign.id, field),
                i64::try_from(value).unwrap_or(i64::MAX),
            ));
        }
    }
    let (_, wrote) = tally::update(svc, device_id, now, |current| {
        // Called again when the compare-and-swap loses a race: only the last
        // call's verdict stands.
        refused = None;
        let Some(mut state) = current.cloned() else {
            return Ok(None);
        };
        let Some(rollout) = state.rollout.as_mut().filter(|r| r.campaign == campaign.id) else {
            refused = Some("was not offered this campaign");
            return Ok(None);
        };
        if rollout.phase != Phase::Succeeded {
            refused = Some("has not committed this campaign's release");
            return Ok(None);
        }
        if rollout.health_reported {
            return Ok(None);
        }
        rollout.health_reported = true;
        let event = Event {
            what: EventKind::Health,
            ..Event::rollout(rollout, Phase::Succeeded, now)
        };
        state.record(event);
        state.updated_at = now;
        Ok(Some((state, increments.clone())))
    })?;
    if let Some(why) = refused {
        return Err(ApiError::conflict(format!(
            "device {device_id} {why}: health is reported after the update succeeded"
        )));
    }
    let action = if campaign.state == CampaignState::RolledBack {
        StatusAction::Rollback
    } else {
        StatusAction::Continue
    };
    if !wrote {
        return Ok(StatusAnswer {
            duplicate: true,
            action,
            ..StatusAnswer::go_on()
        });
    }
    review(svc, &campaign, now)?;
    Ok(StatusAnswer {
        action,
        ..StatusAnswer::go_on()
    })
}

fn review(svc: &Service, campaign: &CampaignRecord, now: u64) -> Result<(), ApiError> {
    let current: CampaignRecord = records::read(svc.store, &keys::campaign(&campaign.id))?
        .unwrap_or_else(|| campaign.clone());
    steps::review(svc, &current, now)?;
    crate::campaigns::curve::note(svc, &campaign.id, now)?;
    Ok(())
}
