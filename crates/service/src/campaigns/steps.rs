//! A campaign's steps: its pilot rings (explicit device lists: the lab, then a
//! customer's pilot group), then its policy's percentage stages, with approval
//! gates between them.
//!
//! Rings and gates are the service's, not the policy's, so they hold whatever
//! the policy says:
//!
//! - While a ring is open, only the devices of the rings opened so far are
//!   considered; the policy still gates each of them (windows, battery, cap),
//!   seeing it in its first stage's cohort, and may halt or roll back the
//!   campaign, but none of its stages opens.
//! - A ring is done when all its devices have finished, or when its soak has
//!   passed with at least one finished and none still updating.
//! - A gate after a ring, or after a percentage stage, stops the next step from
//!   opening until an operator approves it (`POST .../approve`); the figures at
//!   that moment and who approved are kept and audited. A gate never opens by
//!   itself: while a campaign waits, a policy's advance is ignored.
//!
//! Steps are numbered in order, and each counts its outcomes in its own
//! counters: ring `i` is step `i`, the policy's stage `s` is step `rings + s`
//! ([`CampaignRecord::step_index`]).

use serde_json::json;
use sluice_policy::{OutcomeCounts, Verdict};

use sluice_api::admin::campaigns::{
    Approval, ApproveRequest, CampaignState, DEFAULT_RING_SOAK_SECONDS, Gate, NewRing, Ring,
};

use crate::campaigns::campaign::{self, CampaignRecord};
use crate::fleet::selection::MAX_SELECTOR_ENTRIES;
use crate::kernel::counters;
use crate::kernel::http::ApiError;
use crate::kernel::names::valid_name;
use crate::kernel::service::Service;

/// Most pilot rings a campaign may have.
pub const MAX_RINGS: usize = 8;
/// Most gated percentage stages.
pub const MAX_GATED_STAGES: usize = 32;
/// Longest approval note, in bytes.
pub const MAX_NOTE: usize = 1000;

/// Checks a campaign's rings and gated stages; returns the rings as stored.
pub fn validate(rings: Vec<NewRing>, gated_stages: &[u32]) -> Result<Vec<Ring>, ApiError> {
    if rings.len() > MAX_RINGS {
        return Err(ApiError::bad_request(format!("at most {MAX_RINGS} rings")));
    }
    if gated_stages.len() > MAX_GATED_STAGES {
        return Err(ApiError::bad_request(format!(
            "approve_stages: at most {MAX_GATED_STAGES}"
        )));
    }
    let mut stored: Vec<Ring> = Vec::with_capacity(rings.len());
    for (i, ring) in rings.into_iter().enumerate() {
        let bad = |what: String| ApiError::bad_request(format!("rings[{i}].{what}"));
        if !valid_name(&ring.name) || stored.iter().any(|r| r.name == ring.name) {
            return Err(bad("name: a unique short name".into()));
        }
        if ring.ids.is_empty() || ring.ids.len() > MAX_SELECTOR_ENTRIES {
            return Err(bad(format!("ids: 1 to {MAX_SELECTOR_ENTRIES} devices")));
        }
        if let Some(id) = ring.ids.iter().find(|id| !valid_name(id)) {
            return Err(bad(format!("ids: {id:?} is not a valid device id")));
        }
        if let Some(id) = ring
            .ids
            .iter()
            .enumerate()
            .find(|(j, id)| {
                ring.ids[..*j].contains(id) || stored.iter().any(|r| r.ids.contains(id))
            })
            .map(|(_, id)| id)
        {
            return Err(bad(format!("ids: {id:?} is named twice")));
        }
        let soak_seconds = match &ring.soak {
            Some(text) => sluice_policy::calendar::parse_duration(text)
                .map_err(|e| bad(format!("soak: {e}")))?,
            None => DEFAULT_RING_SOAK_SECONDS,
        };
        stored.push(Ring {
            name: ring.name,
            ids: ring.ids,
            approve: ring.approve,
            soak_seconds,
        });
    }
    Ok(stored)
}

/// Where an offer to `device` counts: while rings are open, in the ring that
/// names it (a straggler of an earlier ring counts there, not in the open
/// one); otherwise in the campaign's current step.
pub fn step_index_for(campaign: &CampaignRecord, device: &str) -> u32 {
    if !campaign.in_rings() {
        return campaign.step_index();
    }
    campaign
        .rings
        .iter()
        .position(|r| r.ids.iter().any(|id| id == device))
        .map_or(campaign.step_index(), |i| i as u32)
}

/// Whether the campaign considers `device` now: while rings are open, only the
/// devices of the rings opened so far.
pub fn admits(campaign: &CampaignRecord, device: &str) -> bool {
    if !campaign.in_rings() {
        return true;
    }
    let open = (campaign.ring as usize + 1).min(campaign.rings.len());
    campaign.rings[..open]
        .iter()
        .any(|r| r.ids.iter().any(|id| id == device))
}

/// The name of step `index` of `campaign`: `ring NAME` or `stage N`.
pub fn step_name(campaign: &CampaignRecord, index: u32) -> String {
    match campaign.rings.get(index as usize) {
        Some(ring) => format!("ring {}", ring.name),
        None => format!("stage {}", index as usize - campaign.rings.len()),
    }
}

/// Has the policy review the campaign, then applies what the campaign's steps
/// allow of its verdict: a halt or rollback always; an advance or completion
/// only outside rings and gates (an advance past a gated stage closes the gate
/// instead). A ring that is done closes (the next step opens, or its gate
/// closes). Returns the campaign as it now stands.
pub fn review(
    svc: &Service,
    campaign: &CampaignRecord,
    now: u64,
) -> Result<CampaignRecord, ApiError> {
    if campaign.state != CampaignState::Running {
        return Ok(campaign.clone());
    }
    let stats = counters::read_stats(svc.store, &campaign.id, campaign.step_index(), now)?;
    let verdict = svc.policy.review(&campaign.policy_view(), &stats, now);
    let free = !campaign.in_rings() && campaign.waiting.is_none();
    let verdict = match verdict {
        Verdict::Halt(_) | Verdict::Rollback(_) => verdict,
        Verdict::Advance(next)
            if free
                && next > campaign.stage
                && campaign.approve_stages.contains(&campaign.stage) =>
        {
            // One stage at a time past a gate, however far the policy jumps.
            let next = campaign.stage + 1;
            let gate = Gate {
                after: format!("stage {}", campaign.stage),
                opens: format!("stage {next}"),
                next_stage: Some(next),
                since: now,
                figures: stats.step,
            };
            return close_gate(svc, campaign, gate, now);
        }
        // A jump over a gated stage stops at it: its gate closes in turn.
        Verdict::Advance(next) if free && next > campaign.stage => {
            let stop = campaign
                .approve_stages
                .iter()
                .copied()
                .filter(|g| *g > campaign.stage && *g < next)
                .min();
            Verdict::Advance(stop.unwrap_or(next))
        }
        Verdict::Complete if free => verdict,
        _ => Verdict::Proceed,
    };
    let campaign = campaign::apply_verdict(svc, campaign, &verdict)?;
    if campaign.state == CampaignState::Running
        && campaign.in_rings()
        && campaign.waiting.is_none()
        && ring_done(&campaign, &stats.step, now)
    {
        return close_ring(svc, &campaign, stats.step, now);
    }
    Ok(campaign)
}

/// Whether the open ring is done, given its figures.
fn ring_done(campaign: &CampaignRecord, figures: &OutcomeCounts, now: u64) -> bool {
    let Some(ring) = campaign.rings.get(campaign.ring as usize) else {
        return false;
    };
    let finished = figures.finished();
    finished >= ring.ids.len() as u64
        || (now >= campaign.stage_started_at.saturating_add(ring.soak_seconds)
            && finished >= 1
            && figures.offered <= finished)
}

/// What opens after the open ring: the next ring, or the percentage stages.
fn after_ring(campaign: &CampaignRecord) -> String {
    match campaign.rings.get(campaign.ring as usize + 1) {
        Some(next) => format!("ring {}", next.name),
        None => "stage 0".to_owned(),
    }
}

fn close_ring(
    svc: &Service,
    campaign: &CampaignRecord,
    figures: OutcomeCounts,
    now: u64,
) -> Result<CampaignRecord, ApiError> {
    let ring = &campaign.rings[campaign.ring as usize];
    if ring.approve {
        let gate = Gate {
            after: format!("ring {}", ring.name),
            opens: after_ring(campaign),
            next_stage: None,
            since: now,
            figures,
        };
        return close_gate(svc, campaign, gate, now);
    }
    let seen = campaign.ring;
    let detail = json!({"after": format!("ring {}", ring.name), "opens": after_ring(campaign), "figures": figures});
    campaign::transition(
        svc,
        &campaign.id,
        "policy",
        "campaign.advance",
        now,
        Some(detail),
        |current| {
            if current.state != CampaignState::Running
                || current.ring != seen
                || current.waiting.is_some()
            {
                return Ok(None);
            }
            let mut updated = current.clone();
            updated.ring += 1;
            updated.stage_started_at = now;
            Ok(Some(updated))
        },
    )
}

fn close_gate(
    svc: &Service,
    campaign: &CampaignRecord,
    gate: Gate,
    now: u64,
) -> Result<CampaignRecord, ApiError> {
    let (ring, stage) = (campaign.ring, campaign.stage);
    let detail = json!({"waiting": gate});
    campaign::transition(
        svc,
        &campaign.id,
        "policy",
        "campaign.wait_for_approval",
        now,
        Some(detail),
        |current| {
            if current.state != CampaignState::Running
                || current.waiting.is_some()
                || current.ring != ring
                || current.stage != stage
            {
                return Ok(None);
            }
            let mut updated = current.clone();
            updated.waiting = Some(gate.clone());
            Ok(Some(updated))
        },
    )
}

/// What an operator sends to approve.
/// An operator's approval: opens the step the campaign waits for, recording
/// who approved and the figures at that moment. The campaign's creator may
/// not approve it (see [`crate::ops::four_eyes`]).
pub fn approve(
    svc: &Service,
    id: &str,
    request: ApproveRequest,
    by: &str,
) -> Result<CampaignRecord, ApiError> {
    if request.note.len() > MAX_NOTE {
        return Err(ApiError::bad_request(format!(
            "note: at most {MAX_NOTE} bytes"
        )));
    }
    let now = svc.env.now();
    let current: CampaignRecord =
        crate::kernel::records::read(svc.store, &crate::kernel::keys::campaign(id))?
            .ok_or_else(|| ApiError::not_found(format!("no campaign {id:?}")))?;
    let Some(gate) = current.waiting.clone() else {
        return Err(ApiError::conflict(format!(
            "campaign {id} is {} and not waiting for approval",
            current.state.as_str()
        )));
    };
    if current.state != CampaignState::Running {
        return Err(ApiError::conflict(format!(
            "campaign {id} is {}: resume it before approving {}",
            current.state.as_str(),
            gate.opens
        )));
    }
    crate::ops::four_eyes::check(
        svc,
        &current.created_by,
        by,
        &format!(
            "created campaign {id}: another operator with campaign:approve must approve {}",
            gate.opens
        ),
    )?;
    let stats = counters::read_stats(svc.store, id, current.step_index(), now)?;
    let approval = Approval {
        after: gate.after.clone(),
        opened: gate.opens.clone(),
        by: by.to_owned(),
        at: now,
        note: request.note,
        figures: stats.step,
        total: stats.total,
    };
    let detail = json!({"approval": approval});
    campaign::transition(
        svc,
        id,
        by,
        "campaign.approve",
        now,
        Some(detail),
        |current| {
            if current.waiting.as_ref() != Some(&gate) || current.state != CampaignState::Running {
                return Err(ApiError::conflict(format!(
                    "campaign {id} changed while it was being approved; look at it again"
                )));
            }
            let mut updated = current.clone();
            match gate.next_stage {
                Some(next) => updated.stage = next,
                None => updated.ring += 1,
            }
            updated.stage_started_at = now;
            updated.waiting = None;
            updated.approvals.push(approval.clone());
            Ok(Some(updated))
        },
    )
}
