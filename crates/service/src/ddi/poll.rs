//! The poll: a check-in with what the server knows of the device, answered
//! with the links that apply (one request per poll when there is nothing to do).

use std::collections::BTreeMap;

use super::wire::{Link, Poll, PollConfig, Polling, sleep_text};
use super::{ActionKind, Controller, action_id, controller_url, find_action};
use crate::device_api::checkin;
use crate::kernel::http::{ApiError, Request, Response};
use crate::kernel::service::Service;
use sluice_api::checkin::{CheckinAction, CheckinReport, Telemetry};
use sluice_api::status::Phase;

/// `GET /{tenant}/controller/v1/{id}`.
pub(crate) fn poll(
    svc: &Service,
    request: &Request,
    controller: &Controller,
) -> Result<Response, ApiError> {
    let device = &controller.device;
    let state = &controller.state;
    // A DDI poll says nothing about the device: it runs what it last reported
    // installing (or what it was enrolled with), and sends no telemetry.
    let body = CheckinReport {
        hardware: device.hardware.clone(),
        version: state.version.clone(),
        security_version: state.security_version,
        tags: Vec::new(),
        telemetry: Telemetry::default(),
    };
    let now = svc.env.now();
    let answer = checkin::answer(
        svc,
        device,
        state.clone(),
        &controller.active,
        &controller.freezes,
        &body,
        now,
    )?;
    let base = controller_url(request, controller);
    let mut links = BTreeMap::new();
    let campaign = answer.campaign.as_deref();
    match (answer.action, campaign) {
        (CheckinAction::Update, Some(campaign)) => {
            let id = action_id(&device.id, campaign, ActionKind::Update);
            links.insert(
                "deploymentBase".to_owned(),
                Link::new(format!("{base}/deploymentBase/{id}")),
            );
        }
        (CheckinAction::Rollback, Some(campaign)) => {
            let id = action_id(&device.id, campaign, ActionKind::Rollback);
            links.insert(
                "deploymentBase".to_owned(),
                Link::new(format!("{base}/deploymentBase/{id}")),
            );
        }
        _ => {
            // Only a device caught mid-update by an abort costs a campaign read.
            if let Some(rollout) = &state.rollout
                && rollout.phase.is_in_flight()
                && !rollout.abandoned
            {
                let id = action_id(&device.id, &rollout.campaign, ActionKind::Update);
                let action = find_action(svc, controller, &id.to_string())?;
                if action.to_cancel() {
                    links.insert(
                        "cancelAction".to_owned(),
                        Link::new(format!("{base}/cancelAction/{id}")),
                    );
                }
            }
        }
    }
    if let Some(rollout) = &state.rollout {
        let installed = match rollout.phase {
            Phase::Succeeded if state.version == rollout.release => Some(ActionKind::Update),
            Phase::RolledBack if state.version == rollout.from_version => {
                Some(ActionKind::Rollback)
            }
            _ => None,
        };
        if let Some(kind) = installed {
            let id = action_id(&device.id, &rollout.campaign, kind);
            links.insert(
                "installedBase".to_owned(),
                Link::new(format!("{base}/installedBase/{id}")),
            );
        }
    }
    if device.attributes.is_empty() {
        links.insert(
            "configData".to_owned(),
            Link::new(format!("{base}/configData")),
        );
    }
    Ok(Response::json(
        200,
        &Poll {
            config: PollConfig {
                polling: Polling {
                    sleep: sleep_text(answer.next_poll_seconds),
                },
            },
            links,
        },
    ))
}
