//! `POST /v1/checkin`: a device says what it runs; the service answers nothing to
//! do, update, or roll back, with when to ask again.
//!
//! Key-value work is bounded and independent of fleet size: one `get_many` of the
//! device's records, the active campaign list and the change freezes, one of the
//! active campaigns, one of the matched campaign's counters (only when a decision
//! is needed), and one small last-seen write. State changes (an offer, a new version) are
//! compare-and-swap writes that happen once per change, not per poll.

use sluice_api::checkin::{CheckinAction, CheckinAnswer, CheckinReport};
use sluice_policy::{Decision, Verdict};
use sluice_protocol::Digest;

use crate::campaigns::campaign::{CampaignRecord, CampaignState};
use crate::campaigns::freeze::{self, Freeze, Hold};
use crate::campaigns::order::bucket;
use crate::device_api::jitter::jitter;
use crate::device_api::known_device::KnownDevice;
use crate::fleet::device::{DeviceRecord, DeviceState, Event, Rollout, Seen};
use crate::fleet::versions::note_version;
use crate::kernel::counters;
use crate::kernel::credentials::device_credentials;
use crate::kernel::http::{ApiError, Request, Response, parse_json, respond};
use crate::kernel::names::valid_name;
use crate::kernel::service::Service;
use crate::{campaigns::campaign, campaigns::steps, fleet::tally, kernel::keys, kernel::records};
use sluice_api::status::Phase;

/// Largest check-in body accepted.
pub const MAX_BODY: usize = 16 * 1024;
/// Most tags a device may report.
const MAX_TAGS: usize = 64;

/// A check-in answer with nothing to do now.
fn nothing(next_poll_seconds: u32, reason: Option<String>) -> CheckinAnswer {
    CheckinAnswer {
        action: CheckinAction::None,
        campaign: None,
        release: None,
        manifest_url: None,
        reason,
        next_poll_seconds,
    }
}

/// A check-in answer offering `campaign`'s release.
fn update(campaign: &CampaignRecord, next_poll_seconds: u32) -> CheckinAnswer {
    CheckinAnswer {
        action: CheckinAction::Update,
        campaign: Some(campaign.id.clone()),
        release: Some(campaign.release.clone()),
        manifest_url: Some(manifest_url(&campaign.release)),
        reason: None,
        next_poll_seconds,
    }
}

fn manifest_url(release: &str) -> String {
    format!("/v1/releases/{release}/manifest")
}

/// Whether the check-in of `device` at `now` is one of the one in `sampling`
/// counted (as `sampling`) for `/metrics`: random across devices and instants,
/// so the count is an unbiased estimate.
fn counted(device: &str, now: u64, sampling: u32) -> bool {
    if sampling <= 1 {
        return true;
    }
    let digest = Digest::of(format!("{device}\n{now}\ncounted").as_bytes());
    let b = digest.as_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_multiple_of(sampling)
}

/// Handles a check-in.
pub fn handle(svc: &Service, request: &Request) -> Response {
    respond(checkin(svc, request).map(|answer| Response::json(200, &answer)))
}

fn checkin(svc: &Service, request: &Request) -> Result<CheckinAnswer, ApiError> {
    if request.method != "POST" {
        return Err(ApiError::method_not_allowed("POST"));
    }
    let (device_id, secret) = device_credentials(request)?;
    let body: CheckinReport = parse_json(&request.body, MAX_BODY)?;
    for (field, value) in [("hardware", &body.hardware), ("version", &body.version)] {
        if !valid_name(value) {
            return Err(ApiError::bad_request(format!(
                "{field} {value:?} is not a valid name"
            )));
        }
    }
    if body
        .telemetry
        .slot
        .as_deref()
        .is_some_and(|s| !valid_name(s))
    {
        return Err(ApiError::bad_request(
            "telemetry.slot is not a valid name (letters, digits, . _ - + ~)",
        ));
    }
    // Reported tags are plain names: `key:value` tags (`ring:lab`,
    // `utc-offset:+05:30`) steer policies, so only the operator sets them.
    if body.tags.len() > MAX_TAGS || body.tags.iter().any(|t| !valid_name(t)) {
        return Err(ApiError::bad_request(format!(
            "tags: at most {MAX_TAGS} plain names (key:value tags are set at enrolment)"
        )));
    }
    let now = svc.env.now();
    let known = KnownDevice::read(svc, &device_id)?;
    let device = known
        .device
        .as_ref()
        .filter(|d| d.accepts(&secret))
        .ok_or_else(|| ApiError::unauthorized("unknown device or wrong secret"))?;
    // The counts of a change whose request is gone are applied now.
    tally::take_over(svc, &device_id, &known.state, now)?;
    if body.hardware != device.hardware {
        return Err(ApiError::new(
            409,
            "hardware_mismatch",
            format!(
                "device {device_id} is enrolled as hardware {:?}, not {:?}",
                device.hardware, body.hardware
            ),
        ));
    }
    answer(
        svc,
        device,
        known.state,
        &known.active,
        &known.freezes,
        &body,
        now,
    )
}

/// The answer to an authenticated device's check-in: records when it was seen
/// and what it runs, then asks its own rollout and the active campaigns. The
/// hawkBit DDI poll asks the same question.
pub(crate) fn answer(
    svc: &Service,
    device: &DeviceRecord,
    mut state: DeviceState,
    active: &[String],
    freezes: &[Freeze],
    body: &CheckinReport,
    now: u64,
) -> Result<CheckinAnswer, ApiError> {
    let device_id = &device.id;
    let seen = Seen {
        at: now,
        version: body.version.clone(),
        telemetry: body.telemetry.clone(),
    };
    svc.store
        .set(&keys::seen(device_id), &records::encode(&seen))?;
    let sampling = svc.config.checkin_sampling.max(1);
    if counted(device_id, now, sampling) {
        svc.store
            .increment(counters::CHECKINS, i64::from(sampling))?;
    }
    if state.version != body.version || state.security_version != body.security_version {
        state = note_version(svc, device_id, &body.version, body.security_version, now)?;
    }
    let poll = jitter(svc.config.poll_seconds, device_id, now);
    if active.is_empty() {
        return Ok(nothing(poll, None));
    }
    // The campaigns, and when each was last reviewed at a check-in, in one read.
    let mut campaign_keys: Vec<String> = active.iter().map(|id| keys::campaign(id)).collect();
    campaign_keys.extend(active.iter().map(|id| keys::reviewed(id)));
    let values = svc.store.get_many(&campaign_keys)?;
    let (records, reviewed) = values.split_at(active.len());
    let mut campaigns: Vec<CampaignRecord> = Vec::with_capacity(active.len());
    let mut review_due = Vec::with_capacity(active.len());
    for ((key, value), last) in campaign_keys.iter().zip(records).zip(reviewed) {
        if let Some(bytes) = value {
            let campaign: CampaignRecord = records::decode(key, bytes)?;
            campaigns.push(campaign::follow_schedule(svc, &campaign, now)?);
            let last = last
                .as_deref()
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(0);
            review_due.push(now >= last.saturating_add(REVIEW_INTERVAL_SECONDS));
        }
    }

    if let Some(answer) = continue_rollout(device, &state, body, &campaigns, poll) {
        return Ok(answer);
    }
    let mut frozen: Option<Hold> = None;
    for (campaign, review) in campaigns.iter().zip(review_due) {
        let checkin = Consider {
            device,
            state: &state,
            body,
            freezes,
            now,
            poll,
            review,
        };
        match consider(svc, campaign, &checkin)? {
            Considered::Answer(answer) => return Ok(answer),
            Considered::Frozen(hold) => {
                if frozen.is_none() {
                    svc.store
                        .increment(&counters::deferral_key(&campaign.id, "freeze"), 1)?;
                    frozen = Some(hold);
                }
            }
            Considered::Pass => {}
        }
    }
    Ok(match frozen {
        // Back when the freeze ends, or at the usual poll if that comes first
        // (the freeze may be lifted early).
        Some(hold) => {
            let left = u32::try_from(hold.until.saturating_sub(now)).unwrap_or(u32::MAX);
            nothing(poll.min(jitter(left, device_id, now)), Some(hold.reason))
        }
        None => nothing(poll, None),
    })
}

/// The device's own rollout, when its campaign is still active: resume it, hold
/// it, or roll it back.
fn continue_rollout(
    device: &DeviceRecord,
    state: &DeviceState,
    body: &CheckinReport,
    campaigns: &[CampaignRecord],
    poll: u32,
) -> Option<CheckinAnswer> {
    let rollout = state.rollout.as_ref()?;
    let campaign = campaigns.iter().find(|c| c.id == rollout.campaign)?;
    let installed = body.version == campaign.release;
    match campaign.state {
        CampaignState::RolledBack
            if installed
                && rollout.phase != Phase::RolledBack
                && rollout.from_security_version >= body.security_version =>
        {
            Some(CheckinAnswer {
                action: CheckinAction::Rollback,
                campaign: Some(campaign.id.clone()),
                release: Some(rollout.from_version.clone()),
                manifest_url: Some(manifest_url(&rollout.from_version)),
                reason: campaign.reason.clone(),
                next_poll_seconds: poll,
            })
        }
        CampaignState::Running | CampaignState::Paused
            if rollout.phase.is_in_flight() && !installed =>
        {
            // Offered earlier: the device resumes (a pause only stops new offers),
            // unless it has since committed a higher security version than the image.
            let acceptable = campaign
                .images
                .get(&device.hardware)
                .is_some_and(|image| body.security_version <= image.security_version);
            acceptable.then(|| update(campaign, poll))
        }
        _ if rollout.phase.is_in_flight() => Some(nothing(
            poll,
            Some(format!(
                "campaign {} is {}",
                campaign.id,
                campaign.state.as_str()
            )),
        )),
        _ => None,
    }
}

/// At most one check-in per this many seconds has the policy review a
/// campaign (advancing stages by time); status reports review it at every
/// final outcome regardless, and `decide` sees the same statistics.
pub const REVIEW_INTERVAL_SECONDS: u64 = 2;

/// The check-in a campaign is considered for.
struct Consider<'a> {
    device: &'a DeviceRecord,
    state: &'a DeviceState,
    body: &'a CheckinReport,
    freezes: &'a [Freeze],
    now: u64,
    poll: u32,
    /// Whether this check-in has the policy review the campaign first.
    review: bool,
}

/// What one campaign has for a device.
enum Considered {
    /// This is the answer.
    Answer(CheckinAnswer),
    /// It would ask its policy, but a change freeze holds the device.
    Frozen(Hold),
    /// Nothing: look further.
    Pass,
}

/// Whether `campaign` has something for this device.
fn consider(
    svc: &Service,
    campaign: &CampaignRecord,
    checkin: &Consider,
) -> Result<Considered, ApiError> {
    let Consider {
        device,
        state,
        body,
        freezes,
        now,
        poll,
        review,
    } = *checkin;
    if campaign.state != CampaignState::Running
        || campaign.not_started(now)
        || !crate::fleet::selection::matches(&campaign.selector, device, &body.version)
    {
        return Ok(Considered::Pass);
    }
    // Never an image for other hardware, never below the device's security version.
    let Some(image) = campaign.images.get(&device.hardware) else {
        return Ok(Considered::Pass);
    };
    if body.version == campaign.release || body.security_version > image.security_version {
        return Ok(Considered::Pass);
    }
    if state
        .rollout
        .as_ref()
        .is_some_and(|r| r.campaign == campaign.id)
        || state.history.iter().any(|e| e.campaign == campaign.id)
    {
        // This device already took part and finished (successfully or not),
        // in this campaign or in it before a later one: a campaign offers a
        // device its release once.
        return Ok(Considered::Pass);
    }

    // The fleet's change freezes hold whatever the policy would say: a frozen
    // device is never shown to it (and costs no counter read).
    if let Some(hold) = freeze::hold(freezes, Some(campaign), device, &body.version, now) {
        return Ok(Considered::Frozen(hold));
    }

    let mut campaign = campaign.clone();
    if review {
        svc.store
            .set(&keys::reviewed(&campaign.id), now.to_string().as_bytes())?;
        campaign = steps::review(svc, &campaign, now)?;
        crate::campaigns::curve::note(svc, &campaign.id, now)?;
        if campaign.state != CampaignState::Running {
            return Ok(Considered::Answer(nothing(poll, None)));
        }
    }
    // While pilot rings are open, only their devices (after the review, so
    // any device's check-in can close a ring whose soak is over).
    if !steps::admits(&campaign, &device.id) {
        return Ok(Considered::Pass);
    }
    let stats = counters::read_stats(svc.store, &campaign.id, campaign.step_index(), now)?;

    let view = sluice_policy::Device {
        id: device.id.clone(),
        hardware: device.hardware.clone(),
        version: body.version.clone(),
        tags: device.tags.iter().chain(&body.tags).cloned().collect(),
        // A pilot ring's device is in the first stage's cohort: the policy
        // still gates it (windows, battery, cap), but does not pick it.
        bucket: if campaign.in_rings() {
            0
        } else {
            bucket(&campaign.id, &device.id)
        },
        battery_percent: body.telemetry.battery_percent,
        charging: body.telemetry.charging,
        utc_offset_minutes: body.telemetry.utc_offset_minutes,
        network: body.telemetry.network.clone(),
    };
    match svc
        .policy
        .decide(&view, &campaign.policy_view(), &stats, now)
    {
        Decision::Offer => {
            // A device enrolled before the directory existed is listed at its
            // first offer since, so a recount sees every device a campaign
            // reached.
            if !state.listed {
                crate::fleet::directory::append(svc.store, std::slice::from_ref(&device.id))?;
            }
            offer(svc, &campaign, device, body, now, poll).map(Considered::Answer)
        }
        Decision::Defer { seconds, reason } => {
            counters::record_deferral(svc.store, &campaign.id, &reason)?;
            Ok(Considered::Answer(nothing(
                jitter(seconds.max(1), &device.id, now),
                Some(reason),
            )))
        }
        // Not this device yet: a later campaign may still have something for it.
        Decision::Skip(_) => Ok(Considered::Pass),
        Decision::Halt(reason) => {
            campaign::apply_verdict(svc, &campaign, &Verdict::Halt(reason))?;
            Ok(Considered::Answer(nothing(poll, None)))
        }
    }
}

/// Records the offer (once, even if the device checks in twice at the same time)
/// and answers `update`.
fn offer(
    svc: &Service,
    campaign: &CampaignRecord,
    device: &DeviceRecord,
    body: &CheckinReport,
    now: u64,
    poll: u32,
) -> Result<CheckinAnswer, ApiError> {
    let rollout = Rollout {
        campaign: campaign.id.clone(),
        release: campaign.release.clone(),
        step: steps::step_index_for(campaign, &device.id),
        phase: Phase::Offered,
        offered_at: now,
        from_version: body.version.clone(),
        from_security_version: body.security_version,
        failure: None,
        health_reported: false,
        abandoned: false,
        updated_at: now,
    };
    tally::update(svc, &device.id, now, |current| {
        let mut state = current.cloned().unwrap_or_default();
        if state
            .rollout
            .as_ref()
            .is_some_and(|r| r.campaign == campaign.id)
        {
            return Ok(None);
        }
        state.rollout = Some(rollout.clone());
        state.listed = true;
        state.record(Event::rollout(&rollout, Phase::Offered, now));
        state.updated_at = now;
        let mut increments =
            counters::offer_increments(&campaign.id, rollout.step, counters::window(now));
        increments.extend(counters::phase_increments(
            &campaign.id,
            None,
            Phase::Offered,
        ));
        Ok(Some((state, increments)))
    })?;
    Ok(update(campaign, poll))
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn sampled_check_in_counts_estimate_the_true_count() {
        // 100,000 check-ins by 10,000 devices over time, one in 16 counted as 16.
        let mut estimate = 0u64;
        for device in 0..10_000 {
            for poll in 0..10u64 {
                if counted(
                    &format!("cam-{device}"),
                    1_700_000_000 + poll * 907 + device,
                    16,
                ) {
                    estimate += 16;
                }
            }
        }
        let error = (estimate as f64 - 100_000.0).abs() / 100_000.0;
        assert!(error < 0.03, "estimated {estimate} of 100,000");
        // Sampling 1 (or 0, the default of a hand-built Config) counts every one.
        assert!((0..100).all(|i| counted(&format!("d{i}"), i, 1) && counted("d", i, 0)));
    }
}
