//! Feedback: a DDI client's progress and result, mapped onto status reports so
//! that campaign counters, the policy's review and the audit see DDI devices
//! exactly as native ones.

use super::wire::Feedback;
use super::{Action, ActionKind, Controller, MAX_BODY, find_action};
use crate::fleet::versions;
use crate::kernel::http::{ApiError, Request, Response, parse_json};
use crate::kernel::service::Service;
use crate::{device_api::status, kernel::keys, kernel::records};
use sluice_api::status::{Failure, Phase};

/// Longest failure detail kept (the details a client sends, joined).
const MAX_DETAIL: usize = 2048;

/// What a feedback asks for, once validated.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// Progress that moves the rollout to this phase.
    Progress(Phase),
    /// Closed with success.
    Success,
    /// Closed with failure, or rejected by the device.
    Failure { rejected: bool },
    /// Accepted and changes nothing (`scheduled`, `canceled` on a deployment).
    Nothing,
}

fn outcome(feedback: &Feedback) -> Result<Outcome, ApiError> {
    let status = &feedback.status;
    let finished = status
        .result
        .as_ref()
        .and_then(|r| r.finished.as_deref())
        .unwrap_or("none");
    if !matches!(finished, "success" | "failure" | "none") {
        return Err(ApiError::bad_request(format!(
            "status.result.finished {finished:?}: use success, failure or none"
        )));
    }
    Ok(match status.execution.as_str() {
        "closed" => match finished {
            "success" => Outcome::Success,
            "failure" => Outcome::Failure { rejected: false },
            _ => {
                return Err(ApiError::bad_request(
                    "a closed action needs status.result.finished success or failure",
                ));
            }
        },
        "rejected" => Outcome::Failure { rejected: true },
        _ if finished == "failure" => Outcome::Failure { rejected: false },
        "proceeding" | "resumed" | "download" => Outcome::Progress(Phase::Downloading),
        "downloaded" => Outcome::Progress(Phase::Downloaded),
        "scheduled" | "canceled" => Outcome::Nothing,
        other => {
            return Err(ApiError::bad_request(format!(
                "status.execution {other:?}: use proceeding, closed, canceled, scheduled, rejected, resumed, downloaded or download"
            )));
        }
    })
}

/// SWUpdate forwards its log lines as details, raw newlines included: control
/// characters become spaces (outside strings they are whitespace anyway).
fn read_feedback(request: &Request) -> Result<Feedback, ApiError> {
    let cleaned: Vec<u8> = request
        .body
        .iter()
        .map(|&b| if b < 0x20 { b' ' } else { b })
        .collect();
    parse_json(&cleaned, MAX_BODY)
}

/// The feedback, what it asks for, and the action it is about: validated
/// before the action is looked up, so a malformed body is a 400 whatever the id.
fn read(
    svc: &Service,
    request: &Request,
    controller: &Controller,
    id: &str,
) -> Result<(Feedback, Outcome, Action), ApiError> {
    let feedback = read_feedback(request)?;
    let outcome = outcome(&feedback)?;
    let action = find_action(svc, controller, id)?;
    Ok((feedback, outcome, action))
}

fn failure(feedback: &Feedback, rejected: bool) -> Failure {
    let mut detail = feedback.status.details.join("; ");
    if detail.len() > MAX_DETAIL {
        let mut cut = MAX_DETAIL;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
    }
    let code = match (rejected, feedback.status.code) {
        (true, _) => "ddi-rejected".to_owned(),
        (false, Some(code)) => format!("ddi-{code}"),
        (false, None) => "ddi-failure".to_owned(),
    };
    Failure {
        phase: if rejected { "offer" } else { "install" }.to_owned(),
        code,
        detail,
    }
}

/// `POST deploymentBase/{actionId}/feedback`.
pub(crate) fn deployment(
    svc: &Service,
    request: &Request,
    controller: &Controller,
    id: &str,
) -> Result<Response, ApiError> {
    let (feedback, outcome, action) = read(svc, request, controller, id)?;
    if !action.is_open() {
        return Err(ApiError::new(
            410,
            "action_closed",
            format!(
                "action {} is no longer active ({}, campaign {} is {})",
                action.id,
                action.rollout.phase.as_str(),
                action.campaign.id,
                action.campaign.state.as_str()
            ),
        ));
    }
    let now = svc.env.now();
    match (action.kind, outcome) {
        (_, Outcome::Nothing) => {}
        (ActionKind::Update, Outcome::Progress(phase)) => {
            apply(svc, controller, &action, phase, None, now)?;
        }
        (ActionKind::Update, Outcome::Success) => {
            apply(svc, controller, &action, Phase::Succeeded, None, now)?;
            let security_version = action
                .campaign
                .images
                .get(&controller.device.hardware)
                .map_or(controller.state.security_version, |m| m.security_version);
            versions::note_version(
                svc,
                &controller.device.id,
                &action.rollout.release,
                security_version,
                now,
            )?;
        }
        (ActionKind::Update, Outcome::Failure { rejected }) => {
            let phase = if rejected {
                Phase::Rejected
            } else {
                Phase::Failed
            };
            let failure = failure(&feedback, rejected);
            apply(svc, controller, &action, phase, Some(failure), now)?;
        }
        (ActionKind::Rollback, Outcome::Success) => {
            apply(svc, controller, &action, Phase::RolledBack, None, now)?;
            versions::note_version(
                svc,
                &controller.device.id,
                &action.rollout.from_version,
                action.rollout.from_security_version,
                now,
            )?;
        }
        // A rollback in progress, or one that failed: the device still runs the
        // campaign's release, which is what the state already says.
        (ActionKind::Rollback, _) => {}
    }
    Ok(Response::empty(200))
}

fn apply(
    svc: &Service,
    controller: &Controller,
    action: &Action,
    phase: Phase,
    failure: Option<Failure>,
    now: u64,
) -> Result<(), ApiError> {
    status::apply(
        svc,
        &controller.device.id,
        &controller.state,
        &action.campaign,
        phase,
        failure,
        now,
    )
    .map(|_| ())
}

/// `POST cancelAction/{actionId}/feedback`: the device confirms (or refuses)
/// dropping an update whose campaign was aborted; either way the cancellation
/// is no longer offered.
pub(crate) fn cancel(
    svc: &Service,
    request: &Request,
    controller: &Controller,
    id: &str,
) -> Result<Response, ApiError> {
    let (feedback, outcome, action) = read(svc, request, controller, id)?;
    if !action.to_cancel() {
        return Err(ApiError::new(
            410,
            "action_closed",
            format!("action {} is not being cancelled", action.id),
        ));
    }
    let ends = matches!(
        (feedback.status.execution.as_str(), &outcome),
        ("closed" | "canceled" | "rejected", _) | (_, Outcome::Success | Outcome::Failure { .. })
    );
    if ends {
        let now = svc.env.now();
        let campaign = action.campaign.id.clone();
        records::update::<crate::fleet::device::DeviceState, _>(
            svc.store,
            &keys::state(&controller.device.id),
            |current| {
                let Some(mut state) = current.cloned() else {
                    return Ok(None);
                };
                let Some(rollout) = state.rollout.as_mut().filter(|r| r.campaign == campaign)
                else {
                    return Ok(None);
                };
                if rollout.abandoned {
                    return Ok(None);
                }
                rollout.abandoned = true;
                rollout.updated_at = now;
                state.updated_at = now;
                Ok(Some(state))
            },
        )?;
    }
    Ok(Response::empty(200))
}
