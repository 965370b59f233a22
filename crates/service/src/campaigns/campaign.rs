//! Campaigns: a release rolled out to a selection of devices under a policy.
//!
//! A campaign's record is changed only by compare-and-swap: by operators (pause,
//! resume, abort, roll back) and by the policy's verdicts (advance, halt, roll back,
//! complete). Each change is audited. Campaigns not yet finished are listed in
//! `campaigns/active`, which check-in reads to find work without scanning.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sluice_policy::Verdict;

use sluice_api::admin::campaigns::{
    Approval, Campaign, ConfirmOverrideRequest, Gate, ImageRef, NewCampaign, OverrideFreezeRequest,
    Reach, Ring,
};
pub use sluice_api::admin::campaigns::{CampaignState, Selector};
use sluice_api::admin::four_eyes::Confirmation;
use sluice_api::admin::freezes::FreezeOverride;

use crate::campaigns::freeze;
use crate::kernel::http::ApiError;
use crate::kernel::service::Service;
use crate::ops::four_eyes;
use crate::{campaigns::steps, fleet::selection, kernel::keys, kernel::records, ops::audit};

/// Most campaigns that may be unfinished at once (bounds check-in's work).
pub const MAX_ACTIVE: usize = 16;

/// A campaign as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRecord {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// The release version.
    pub release: String,
    /// The release's images, by hardware id, fixed at creation (stored under
    /// the name the first releases gave them).
    #[serde(rename = "manifests")]
    pub images: BTreeMap<String, ImageRef>,
    pub selector: Selector,
    /// The policy configuration, JSON text as given.
    pub policy: String,
    /// Asked for by its creator; in effect (see [`CampaignRecord::is_critical`])
    /// unless it still waits for a second operator's confirmation.
    pub critical: bool,
    /// Critical, waiting for a second operator to confirm (see
    /// [`crate::ops::four_eyes`]); until then it runs as an ordinary campaign.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub critical_pending: bool,
    /// Who confirmed that it is critical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_confirmed: Option<Confirmation>,
    /// The operator who created it (empty for campaigns created before
    /// operators had names of their own).
    #[serde(default)]
    pub created_by: String,
    pub state: CampaignState,
    /// Why it was halted, rolled back or aborted.
    #[serde(default)]
    pub reason: Option<String>,
    pub stage: u32,
    pub stage_started_at: u64,
    pub created_at: u64,
    pub updated_at: u64,
    /// No offers before this instant (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<u64>,
    /// No new offers from this instant on; the campaign then ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<u64>,
    /// Counts the record's changes: a webhook receiver orders one campaign's
    /// events by it (their delivery follows the audit log, whose appends may
    /// interleave between concurrent requests).
    #[serde(default)]
    pub revision: u64,
    /// Whether a scheduled campaign's start has been reached (and audited).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub start_reached: bool,
    /// Freezes this (critical) campaign may pass, each named by an operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze_overrides: Vec<FreezeOverride>,
    /// Pilot rings, before the policy's stages (see [`crate::campaigns::steps`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rings: Vec<Ring>,
    /// The open ring; `rings.len()` once the percentage stages run.
    #[serde(default)]
    pub ring: u32,
    /// Percentage stages after which an operator must approve the next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approve_stages: Vec<u32>,
    /// The gate the campaign waits at, for an operator's approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Gate>,
    /// Approvals given, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Approval>,
    /// The devices it could reach when it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<Reach>,
    /// Created since devices keep a history and are listed in the directory:
    /// a recount can tell everything that was counted for it, so it may
    /// correct its counters (see [`crate::campaigns::recount`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recountable: bool,
}

impl CampaignRecord {
    /// The campaign as the API answers it: everything but what only the
    /// service needs (whether its scheduled start was audited, whether its
    /// counters may be recounted).
    pub fn view(&self) -> Campaign {
        let CampaignRecord {
            id,
            name,
            release,
            images,
            selector,
            policy,
            critical,
            critical_pending,
            critical_confirmed,
            created_by,
            state,
            reason,
            stage,
            stage_started_at,
            created_at,
            updated_at,
            start_at,
            end_at,
            revision,
            start_reached: _,
            freeze_overrides,
            rings,
            ring,
            approve_stages,
            waiting,
            approvals,
            reach,
            recountable: _,
        } = self.clone();
        let step = crate::campaigns::steps::step_name(self, self.step_index());
        Campaign {
            step,
            id,
            name,
            release,
            images,
            selector,
            policy,
            critical,
            critical_pending,
            critical_confirmed,
            created_by,
            state,
            reason,
            stage,
            stage_started_at,
            created_at,
            updated_at,
            start_at,
            end_at,
            revision,
            freeze_overrides,
            rings,
            ring,
            approve_stages,
            waiting,
            approvals,
            reach,
        }
    }

    /// Whether it is critical in effect: asked for and confirmed.
    pub fn is_critical(&self) -> bool {
        self.critical && !self.critical_pending
    }

    /// The campaign as the policy sees it.
    pub fn policy_view(&self) -> sluice_policy::Campaign {
        sluice_policy::Campaign {
            id: self.id.clone(),
            release: self.release.clone(),
            config: self.policy.clone(),
            critical: self.is_critical(),
            created_at: self.created_at,
            stage: self.stage,
            stage_started_at: self.stage_started_at,
        }
    }

    /// Whether its start time is still ahead at `now`.
    pub fn not_started(&self, now: u64) -> bool {
        self.start_at.is_some_and(|start| now < start)
    }

    /// Whether its end time has come at `now`.
    pub fn past_end(&self, now: u64) -> bool {
        self.end_at.is_some_and(|end| now >= end)
    }

    fn summary(&self) -> serde_json::Value {
        let mut summary = json!({"state": self.state.as_str(), "stage": self.stage,
                                 "reason": self.reason, "revision": self.revision});
        if !self.rings.is_empty() {
            summary["ring"] = json!(self.ring);
        }
        if let Some(gate) = &self.waiting {
            summary["waiting"] = json!(gate);
        }
        summary
    }

    /// Whether a pilot ring is still open (the percentage stages are not).
    pub fn in_rings(&self) -> bool {
        (self.ring as usize) < self.rings.len()
    }

    /// The index of the current step, where it counts its outcomes: ring `i`
    /// is step `i`; the policy's stage `s` is step `rings + s`.
    pub fn step_index(&self) -> u32 {
        if self.in_rings() {
            self.ring
        } else {
            self.rings.len() as u32 + self.stage
        }
    }
}

/// What an operator can do to a running campaign (the audit entry is
/// `campaign.NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    Abort,
    Rollback,
}

impl Action {
    pub fn parse(text: &str) -> Option<Action> {
        Some(match text {
            "pause" => Action::Pause,
            "resume" => Action::Resume,
            "abort" => Action::Abort,
            "rollback" => Action::Rollback,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Abort => "abort",
            Action::Rollback => "rollback",
        }
    }
}

/// Creates a campaign. The policy checks its configuration first.
pub fn create(svc: &Service, request: NewCampaign, by: &str) -> Result<CampaignRecord, ApiError> {
    selection::validate(&request.selector)?;
    if request.name.len() > 200 {
        return Err(ApiError::bad_request("name is longer than 200 characters"));
    }
    let (start_at, end_at) = (request.start_at.map(|i| i.0), request.end_at.map(|i| i.0));
    let now = svc.env.now();
    if let (Some(start), Some(end)) = (start_at, end_at)
        && end <= start
    {
        return Err(ApiError::bad_request("end_at must be after start_at"));
    }
    if end_at.is_some_and(|end| end <= now) {
        return Err(ApiError::bad_request("end_at has already passed"));
    }
    let rings = steps::validate(request.rings, &request.approve_stages)?;
    let config = request.policy.to_string();
    svc.policy
        .validate(&config)
        .map_err(|e| ApiError::new(422, "invalid_policy_config", e))?;
    let release: sluice_api::admin::releases::Release =
        records::read(svc.store, &keys::release(&request.release))?.ok_or_else(|| {
            ApiError::not_found(format!(
                "no release {:?} has been published",
                request.release
            ))
        })?;
    let images: BTreeMap<String, ImageRef> = release
        .images
        .iter()
        .flat_map(|image| {
            image.hardware.iter().map(|hw| {
                (
                    hw.clone(),
                    ImageRef {
                        manifest_id: image.manifest_id.clone(),
                        security_version: image.security_version,
                        size: image.size,
                    },
                )
            })
        })
        .filter(|(hw, _)| {
            request.selector.hardware.is_empty() || request.selector.hardware.contains(hw)
        })
        .collect();
    if images.is_empty() {
        return Err(ApiError::new(
            422,
            "no_matching_image",
            "the release has no image for any hardware the selector names",
        ));
    }
    let active: Vec<String> = records::read(svc.store, keys::ACTIVE_CAMPAIGNS)?.unwrap_or_default();
    if active.len() >= MAX_ACTIVE {
        return Err(ApiError::conflict(format!(
            "{MAX_ACTIVE} campaigns are already unfinished; abort or finish one first"
        )));
    }

    let reach = crate::campaigns::reach::reach(svc, &request.selector, &images, &request.release)?;
    let critical_pending = request.critical && four_eyes::required(svc)?;
    let seq = svc.store.increment(keys::CAMPAIGN_SEQ, 1)?;
    let record = CampaignRecord {
        id: format!("c{seq}"),
        name: request.name,
        release: request.release,
        images,
        selector: request.selector,
        policy: config,
        critical: request.critical,
        critical_pending,
        critical_confirmed: None,
        created_by: by.to_owned(),
        state: CampaignState::Running,
        reason: None,
        stage: 0,
        // A scheduled campaign's first stage starts (and soaks) from its start.
        stage_started_at: start_at.map_or(now, |start| start.max(now)),
        created_at: now,
        updated_at: now,
        start_at,
        end_at,
        start_reached: false,
        revision: 0,
        freeze_overrides: Vec::new(),
        rings,
        ring: 0,
        approve_stages: request.approve_stages,
        waiting: None,
        approvals: Vec::new(),
        reach: Some(reach),
        recountable: true,
    };
    crate::campaigns::curve::start(svc, &record.id, now)?;
    svc.store
        .set(&keys::campaign(&record.id), &records::encode(&record))?;
    records::add_to_list(svc.store, keys::ACTIVE_CAMPAIGNS, &record.id)?;
    records::add_to_list(svc.store, keys::CAMPAIGN_INDEX, &record.id)?;
    audit::append(
        svc.store,
        now,
        by,
        "campaign.create",
        &record.id,
        None,
        Some(
            json!({"release": record.release, "selector": record.selector, "policy": request.policy,
                    "critical": record.critical, "critical_pending": record.critical_pending,
                    "start_at": record.start_at, "end_at": record.end_at,
                    "rings": record.rings, "approve_stages": record.approve_stages}),
        ),
    )?;
    Ok(record)
}

fn remove_from_active(svc: &Service, id: &str) -> Result<(), ApiError> {
    records::update::<Vec<String>, _>(svc.store, keys::ACTIVE_CAMPAIGNS, |current| {
        let list = current.cloned().unwrap_or_default();
        if !list.iter().any(|x| x == id) {
            return Ok(None);
        }
        Ok(Some(list.into_iter().filter(|x| x != id).collect()))
    })?;
    Ok(())
}

/// Applies an operator action, refusing ones that make no sense in the current state.
pub fn apply_action(
    svc: &Service,
    id: &str,
    action: Action,
    by: &str,
) -> Result<CampaignRecord, ApiError> {
    let now = svc.env.now();
    let audited = format!("campaign.{}", action.name());
    transition(svc, id, by, &audited, now, None, |current| {
        use CampaignState::*;
        let next = match (action, current.state) {
            (Action::Pause, Running) => Paused,
            (Action::Resume, Paused | Halted) => Running,
            (Action::Abort, Running | Paused | Halted | RolledBack | Ended) => Aborted,
            (Action::Rollback, Running | Paused | Halted | Completed | Ended) => RolledBack,
            (_, state) => {
                return Err(ApiError::conflict(format!(
                    "campaign {id} is {}; it cannot {}",
                    state.as_str(),
                    action.name()
                )));
            }
        };
        let mut updated = current.clone();
        updated.state = next;
        updated.reason = match action {
            Action::Resume => None,
            _ => Some(format!("{} by operator", action.name())),
        };
        Ok(Some(updated))
    })
}

/// Changes a campaign's record by compare-and-swap: `change` returns the new
/// record, or `None` to leave it. When this call wrote it, the campaign is
/// listed among (or removed from) the active ones and the change is audited as
/// `entry` (an audit entry name, e.g. `campaign.pause`) by `actor`, with
/// `detail` beside the new state. Returns the
/// campaign as it now stands.
pub(crate) fn transition(
    svc: &Service,
    id: &str,
    actor: &str,
    entry: &str,
    now: u64,
    detail: Option<serde_json::Value>,
    mut change: impl FnMut(&CampaignRecord) -> Result<Option<CampaignRecord>, ApiError>,
) -> Result<CampaignRecord, ApiError> {
    let mut before = None;
    let (record, wrote) =
        records::update::<CampaignRecord, _>(svc.store, &keys::campaign(id), |current| {
            let current =
                current.ok_or_else(|| ApiError::not_found(format!("no campaign {id:?}")))?;
            let Some(mut updated) = change(current)? else {
                return Ok(None);
            };
            before = Some(current.summary());
            updated.updated_at = now;
            updated.revision = current.revision + 1;
            Ok(Some(updated))
        })?;
    let record = record.ok_or_else(|| ApiError::not_found(format!("no campaign {id:?}")))?;
    if wrote {
        finish_change(svc, &record, actor, entry, before, detail, now)?;
    }
    Ok(record)
}

/// Applies a policy verdict to a campaign (advance, halt, roll back, complete) and
/// returns the campaign as it now stands. Concurrent requests reviewing the same
/// statistics apply it once.
pub fn apply_verdict(
    svc: &Service,
    campaign: &CampaignRecord,
    verdict: &Verdict,
) -> Result<CampaignRecord, ApiError> {
    let entry = match verdict {
        Verdict::Proceed => return Ok(campaign.clone()),
        Verdict::Advance(_) => "campaign.advance",
        Verdict::Complete => "campaign.complete",
        Verdict::Halt(_) => "campaign.halt",
        Verdict::Rollback(_) => "campaign.rollback",
    };
    let now = svc.env.now();
    let seen_stage = campaign.stage;
    transition(svc, &campaign.id, "policy", entry, now, None, |current| {
        // Only a running campaign, at the stage that was reviewed, takes the verdict.
        if current.state != CampaignState::Running || current.stage != seen_stage {
            return Ok(None);
        }
        let mut updated = current.clone();
        match verdict {
            Verdict::Proceed => return Ok(None),
            Verdict::Advance(stage) if *stage > current.stage => {
                updated.stage = *stage;
                updated.stage_started_at = now;
            }
            Verdict::Advance(_) => return Ok(None),
            Verdict::Complete => updated.state = CampaignState::Completed,
            Verdict::Halt(reason) => {
                updated.state = CampaignState::Halted;
                updated.reason = Some(reason.clone());
            }
            Verdict::Rollback(reason) => {
                updated.state = CampaignState::RolledBack;
                updated.reason = Some(reason.clone());
            }
        }
        Ok(Some(updated))
    })
}

fn finish_change(
    svc: &Service,
    record: &CampaignRecord,
    actor: &str,
    entry: &str,
    before: Option<serde_json::Value>,
    detail: Option<serde_json::Value>,
    now: u64,
) -> Result<(), ApiError> {
    let mut after = record.summary();
    if let Some(detail) = detail {
        after["detail"] = detail;
    }
    // The figures at the moment of the change, for the log and its webhooks.
    after["total"] = json!(
        crate::kernel::counters::read_stats(svc.store, &record.id, record.step_index(), now)?.total
    );
    if record.state.is_active() {
        // e.g. a completed campaign rolled back: check-in must see it again.
        records::add_to_list(svc.store, keys::ACTIVE_CAMPAIGNS, &record.id)?;
    } else {
        remove_from_active(svc, &record.id)?;
    }
    audit::append(
        svc.store,
        now,
        actor,
        entry,
        &record.id,
        before,
        Some(after),
    )?;
    Ok(())
}

/// Follows a scheduled campaign's clock, and returns it as it now stands: its
/// start, once reached, is audited (`campaign.start`, so receivers hear of it);
/// at its end, see `end_if_due`. Concurrent callers do each once.
pub fn follow_schedule(
    svc: &Service,
    campaign: &CampaignRecord,
    now: u64,
) -> Result<CampaignRecord, ApiError> {
    let starts = |c: &CampaignRecord| {
        c.state == CampaignState::Running
            && !c.start_reached
            && c.start_at.is_some_and(|start| now >= start)
    };
    if !starts(campaign) {
        return end_if_due(svc, campaign, now);
    }
    let started = transition(
        svc,
        &campaign.id,
        "schedule",
        "campaign.start",
        now,
        None,
        |current| {
            if !starts(current) {
                return Ok(None);
            }
            let mut updated = current.clone();
            updated.start_reached = true;
            Ok(Some(updated))
        },
    )?;
    end_if_due(svc, &started, now)
}

/// Ends a running or paused campaign whose end time has come, and returns it as
/// it now stands: no new offers from then on, devices already updating finish,
/// and the reason says how far it got. Concurrent callers end it once.
fn end_if_due(
    svc: &Service,
    campaign: &CampaignRecord,
    now: u64,
) -> Result<CampaignRecord, ApiError> {
    let due = |c: &CampaignRecord| {
        matches!(c.state, CampaignState::Running | CampaignState::Paused) && c.past_end(now)
    };
    if !due(campaign) {
        return Ok(campaign.clone());
    }
    let total =
        crate::kernel::counters::read_stats(svc.store, &campaign.id, campaign.step_index(), now)?
            .total;
    let end = i64::try_from(campaign.end_at.unwrap_or(now)).unwrap_or(i64::MAX);
    let reason = format!(
        "its end time {} passed in {}: {} offered, {} succeeded, {} failed, {} rolled back, {} rejected",
        sluice_policy::calendar::format_instant(end),
        steps::step_name(campaign, campaign.step_index()),
        total.offered,
        total.succeeded,
        total.failed,
        total.rolled_back,
        total.rejected
    );
    transition(
        svc,
        &campaign.id,
        "schedule",
        "campaign.end",
        now,
        None,
        |current| {
            if !due(current) {
                return Ok(None);
            }
            let mut updated = current.clone();
            updated.state = CampaignState::Ended;
            updated.reason = Some(reason.clone());
            Ok(Some(updated))
        },
    )
}

/// Asks to let a critical campaign pass one named freeze, for a stated reason
/// (audited as `campaign.override_freeze`); it takes effect once another
/// operator confirms it ([`confirm_override`]), or at once where the
/// four-eyes rule is relaxed.
pub fn override_freeze(
    svc: &Service,
    id: &str,
    request: OverrideFreezeRequest,
    by: &str,
) -> Result<CampaignRecord, ApiError> {
    if request.reason.trim().is_empty() || request.reason.len() > freeze::MAX_REASON {
        return Err(ApiError::bad_request(format!(
            "reason: say why the campaign must pass the freeze, in at most {} bytes",
            freeze::MAX_REASON
        )));
    }
    if !freeze::list(svc)?.iter().any(|f| f.id == request.freeze) {
        return Err(ApiError::not_found(format!(
            "no freeze {:?} is declared",
            request.freeze
        )));
    }
    let now = svc.env.now();
    let granted = FreezeOverride {
        freeze: request.freeze.clone(),
        reason: request.reason.clone(),
        by: by.to_owned(),
        at: now,
        pending: four_eyes::required(svc)?,
        confirmed: None,
    };
    let (record, wrote) =
        records::update::<CampaignRecord, _>(svc.store, &keys::campaign(id), |current| {
            let current =
                current.ok_or_else(|| ApiError::not_found(format!("no campaign {id:?}")))?;
            if !current.critical {
                return Err(ApiError::conflict(format!(
                    "campaign {id} is not critical: only a critical campaign may pass a freeze"
                )));
            }
            if current
                .freeze_overrides
                .iter()
                .any(|o| o.freeze == granted.freeze)
            {
                return Ok(None);
            }
            let mut updated = current.clone();
            updated.freeze_overrides.push(granted.clone());
            updated.updated_at = now;
            Ok(Some(updated))
        })?;
    let record = record.ok_or_else(|| ApiError::internal("campaign vanished"))?;
    if wrote {
        audit::append(
            svc.store,
            now,
            by,
            "campaign.override_freeze",
            id,
            None,
            Some(json!({"freeze": granted.freeze, "reason": granted.reason,
                        "pending": granted.pending})),
        )?;
    }
    Ok(record)
}

/// Confirms another operator's request to let a critical campaign pass a
/// freeze (audited as `campaign.confirm_override`); confirming a confirmed
/// one changes nothing.
pub fn confirm_override(
    svc: &Service,
    id: &str,
    request: ConfirmOverrideRequest,
    by: &str,
) -> Result<CampaignRecord, ApiError> {
    let now = svc.env.now();
    let mut asked_by = String::new();
    let (record, wrote) = records::update::<CampaignRecord, _>(
        svc.store,
        &keys::campaign(id),
        |current| {
            let current =
                current.ok_or_else(|| ApiError::not_found(format!("no campaign {id:?}")))?;
            let Some(at) = current
                .freeze_overrides
                .iter()
                .position(|o| o.freeze == request.freeze)
            else {
                return Err(ApiError::not_found(format!(
                    "campaign {id} has asked for no override of freeze {:?}",
                    request.freeze
                )));
            };
            let asked = &current.freeze_overrides[at];
            if !asked.pending {
                return Ok(None);
            }
            four_eyes::check(
                svc,
                &asked.by,
                by,
                &format!(
                    "asked to let campaign {id} pass freeze {}: another operator with freeze:override must confirm it",
                    asked.freeze
                ),
            )?;
            asked_by = asked.by.clone();
            let mut updated = current.clone();
            updated.freeze_overrides[at].pending = false;
            updated.freeze_overrides[at].confirmed = Some(Confirmation {
                by: by.to_owned(),
                at: now,
            });
            updated.updated_at = now;
            Ok(Some(updated))
        },
    )?;
    let record = record.ok_or_else(|| ApiError::internal("campaign vanished"))?;
    if wrote {
        audit::append(
            svc.store,
            now,
            by,
            "campaign.confirm_override",
            id,
            None,
            Some(json!({"freeze": request.freeze, "asked_by": asked_by})),
        )?;
    }
    Ok(record)
}

/// Confirms that a campaign its creator made critical is critical (audited
/// as `campaign.confirm_critical`): from then on the policy sees it as
/// critical. The creator cannot confirm it while the four-eyes rule holds.
pub fn confirm_critical(svc: &Service, id: &str, by: &str) -> Result<CampaignRecord, ApiError> {
    let now = svc.env.now();
    transition(
        svc,
        id,
        by,
        "campaign.confirm_critical",
        now,
        None,
        |current| {
            if !current.critical {
                return Err(ApiError::conflict(format!(
                    "campaign {id} was not created critical"
                )));
            }
            if !current.critical_pending {
                return Ok(None);
            }
            four_eyes::check(
                svc,
                &current.created_by,
                by,
                &format!(
                    "created campaign {id}: another operator with campaign:approve must confirm that it is critical"
                ),
            )?;
            let mut updated = current.clone();
            updated.critical_pending = false;
            updated.critical_confirmed = Some(Confirmation {
                by: by.to_owned(),
                at: now,
            });
            Ok(Some(updated))
        },
    )
}
