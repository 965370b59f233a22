//! Eclipse hawkBit's Direct Device Integration (DDI) API v1, so devices that
//! already speak it (SWUpdate's suricatta, rauc-hawkbit-updater, Zephyr's
//! hawkBit client) move to Sluice without a change.
//!
//! Everything maps onto the native model: a controller is an enrolled device,
//! its poll is a check-in (the same policy decision, the same single offer), an
//! action is the device's rollout in one campaign (or its rollback), feedback is
//! a status report, `configData` sets device attributes, and an artifact is the
//! release image streamed from its chunks.
//!
//! | method and path under `/{tenant}/controller/v1/{controllerId}` | does |
//! |---|---|
//! | `GET` | poll: `config.polling.sleep` and the links that apply |
//! | `GET /deploymentBase/{actionId}` | the deployment: chunks, artifacts, hashes, links |
//! | `POST /deploymentBase/{actionId}/feedback` | progress and result → status |
//! | `GET /cancelAction/{actionId}` | an aborted campaign's cancellation |
//! | `POST /cancelAction/{actionId}/feedback` | the device dropped the update |
//! | `PUT /configData` | device attributes (`merge`, `replace`, `remove`) |
//! | `GET /installedBase/{actionId}` | the deployment the device last installed |
//! | `GET|HEAD /softwaremodules/{moduleId}/artifacts/{fileName}` | the image: `Range` (one or several), `If-Match`, `If-Range` |
//!
//! Devices authenticate with `Authorization: TargetToken <secret>`, the secret
//! issued at enrolment, which opens only that controller's resources; a
//! `GatewayToken` (the `ddi_gateway_token` variable, when set) opens any
//! enrolled controller of the tenant.

mod artifact;
mod config_data;
mod deployment;
mod feedback;
mod poll;
mod wire;

use sluice_protocol::Digest;

use crate::campaigns::campaign::{CampaignRecord, CampaignState};
use crate::device_api::known_device::KnownDevice;
use crate::fleet::device::{DeviceRecord, DeviceState, Rollout};
use crate::kernel::credentials::token_matches;
use crate::kernel::http::{ApiError, Request, Response};
use crate::kernel::names::valid_name;
use crate::kernel::service::Service;
use crate::kernel::streamed_body::Reply;
use crate::{kernel::keys, kernel::records};
use sluice_api::status::Phase;

/// Largest feedback or configData body accepted: SWUpdate sends its whole
/// install log as feedback details (only the first 2 KiB are kept).
pub const MAX_BODY: usize = 256 * 1024;

/// Handles any request under `/{tenant}/controller/v1/`.
pub fn handle(svc: &Service, request: &Request) -> Reply {
    match route(svc, request) {
        Ok(reply) => reply,
        Err(error) => Reply::Whole(error.into_response()),
    }
}

fn route(svc: &Service, request: &Request) -> Result<Reply, ApiError> {
    let parts: Vec<&str> = request
        .path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let [tenant, "controller", "v1", controller, rest @ ..] = parts.as_slice() else {
        return Err(ApiError::not_found("not a DDI resource"));
    };
    let controller = authenticate(svc, request, tenant, controller)?;
    let method = request.method.as_str();
    let whole = |r: Result<Response, ApiError>| r.map(Reply::Whole);
    match (method, rest) {
        ("GET", []) => whole(poll::poll(svc, request, &controller)),
        ("GET", ["deploymentBase", action]) => whole(deployment::deployment_base(
            svc,
            request,
            &controller,
            action,
        )),
        ("POST", ["deploymentBase", action, "feedback"]) => {
            whole(feedback::deployment(svc, request, &controller, action))
        }
        ("GET", ["cancelAction", action]) => {
            whole(deployment::cancel_action(svc, &controller, action))
        }
        ("POST", ["cancelAction", action, "feedback"]) => {
            whole(feedback::cancel(svc, request, &controller, action))
        }
        ("PUT", ["configData"]) => whole(config_data::put(svc, request, &controller)),
        ("GET", ["installedBase", action]) => whole(deployment::installed_base(
            svc,
            request,
            &controller,
            action,
        )),
        ("GET" | "HEAD", ["softwaremodules", module, "artifacts", file]) => {
            artifact::download(svc, request, &controller, module, file)
        }
        (_, [] | ["configData"])
        | (_, ["deploymentBase" | "cancelAction" | "installedBase", _])
        | (_, ["deploymentBase" | "cancelAction", _, "feedback"])
        | (_, ["softwaremodules", _, "artifacts", _]) => {
            Err(ApiError::method_not_allowed(allowed(rest)))
        }
        _ => Err(ApiError::not_found("no such DDI resource")),
    }
}

fn allowed(rest: &[&str]) -> &'static str {
    match rest {
        [] | ["deploymentBase" | "cancelAction" | "installedBase", _] => "GET",
        ["configData"] => "PUT",
        ["softwaremodules", ..] => "GET, HEAD",
        _ => "POST",
    }
}

/// An authenticated controller: its enrolment, rollout state and the active
/// campaigns, read in one batch.
pub(crate) struct Controller {
    pub device: DeviceRecord,
    pub state: DeviceState,
    pub active: Vec<String>,
    /// The change freezes, read in the same batch (see [`crate::campaigns::freeze`]).
    pub freezes: Vec<crate::campaigns::freeze::Freeze>,
    pub tenant: String,
}

fn authenticate(
    svc: &Service,
    request: &Request,
    tenant: &str,
    controller: &str,
) -> Result<Controller, ApiError> {
    let expected = svc.config.ddi_tenant();
    if !tenant.eq_ignore_ascii_case(expected) {
        return Err(ApiError::not_found(format!("unknown tenant {tenant:?}")));
    }
    let header = request.header_value("authorization").ok_or_else(|| {
        ApiError::unauthorized("DDI credentials required (Authorization: TargetToken <secret>)")
    })?;
    let (scheme, token) = header.trim().split_once(' ').unwrap_or((header, ""));
    let token = token.trim();
    let unauthorized = || ApiError::unauthorized("unknown controller or wrong token");
    if !valid_name(controller) {
        return Err(unauthorized());
    }
    let gateway = scheme.eq_ignore_ascii_case("GatewayToken");
    if gateway {
        let configured = svc
            .config
            .ddi_gateway_token
            .as_deref()
            .ok_or_else(|| ApiError::unauthorized("gateway tokens are not enabled"))?;
        if !token_matches(token, configured) {
            return Err(ApiError::unauthorized("wrong gateway token"));
        }
    } else if !scheme.eq_ignore_ascii_case("TargetToken") {
        return Err(ApiError::unauthorized(
            "use Authorization: TargetToken <secret> (or GatewayToken)",
        ));
    }
    let known = KnownDevice::read(svc, controller)?;
    let device = match known.device {
        Some(device) if device.revoked.is_none() && (gateway || device.accepts(token)) => device,
        // The gateway may know that a controller is not enrolled; a target may not.
        None if gateway => {
            return Err(ApiError::not_found(format!(
                "controller {controller} is not enrolled"
            )));
        }
        _ => return Err(unauthorized()),
    };
    Ok(Controller {
        device,
        state: known.state,
        active: known.active,
        freezes: known.freezes,
        tenant: tenant.to_owned(),
    })
}

/// What an action does to the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ActionKind {
    /// Install the campaign's release.
    Update,
    /// Return to the version the device ran before the campaign.
    Rollback,
}

/// A numeric action id, stable for a device, campaign and kind (DDI clients
/// keep action ids as integers).
pub(crate) fn action_id(device: &str, campaign: &str, kind: ActionKind) -> u32 {
    let kind = match kind {
        ActionKind::Update => "update",
        ActionKind::Rollback => "rollback",
    };
    positive_id(&format!("ddi-action\n{kind}\n{campaign}\n{device}"))
}

/// A numeric software module id for a published image.
pub(crate) fn module_id(manifest_id: &str) -> u32 {
    positive_id(&format!("ddi-module\n{manifest_id}"))
}

fn positive_id(text: &str) -> u32 {
    let b = *Digest::of(text.as_bytes()).as_bytes();
    (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff).max(1)
}

/// An action id from a URL: digits only.
fn parse_action_id(text: &str) -> Result<u32, ApiError> {
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "action id {text:?} is not a number"
        )));
    }
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("action id {text:?} is out of range")))
}

/// One of the device's actions, with its campaign.
pub(crate) struct Action {
    pub id: u32,
    pub kind: ActionKind,
    pub campaign: CampaignRecord,
    pub rollout: Rollout,
}

impl Action {
    /// The version this action installs.
    pub fn release(&self) -> &str {
        match self.kind {
            ActionKind::Update => &self.rollout.release,
            ActionKind::Rollback => &self.rollout.from_version,
        }
    }

    /// Whether the device should still be working on it (feedback counts).
    pub fn is_open(&self) -> bool {
        match self.kind {
            ActionKind::Update => {
                self.rollout.phase.is_in_flight()
                    && !self.rollout.abandoned
                    && matches!(
                        self.campaign.state,
                        CampaignState::Running | CampaignState::Paused
                    )
            }
            ActionKind::Rollback => {
                self.campaign.state == CampaignState::RolledBack
                    && self.rollout.phase == Phase::Succeeded
            }
        }
    }

    /// Whether the campaign was aborted while the device was updating, and the
    /// device has not yet acknowledged it.
    pub fn to_cancel(&self) -> bool {
        self.kind == ActionKind::Update
            && self.campaign.state == CampaignState::Aborted
            && self.rollout.phase.is_in_flight()
            && !self.rollout.abandoned
    }
}

/// The device's action with id `id` (its current campaign's update, or that
/// campaign's rollback); 404 for any other id.
pub(crate) fn find_action(
    svc: &Service,
    controller: &Controller,
    id: &str,
) -> Result<Action, ApiError> {
    let id = parse_action_id(id)?;
    let missing = || {
        ApiError::not_found(format!(
            "controller {} has no action {id}",
            controller.device.id
        ))
    };
    let rollout = controller.state.rollout.clone().ok_or_else(missing)?;
    let device = &controller.device.id;
    let kind = if id == action_id(device, &rollout.campaign, ActionKind::Update) {
        ActionKind::Update
    } else if id == action_id(device, &rollout.campaign, ActionKind::Rollback)
        && !rollout.from_version.is_empty()
    {
        ActionKind::Rollback
    } else {
        return Err(missing());
    };
    let campaign: CampaignRecord =
        records::read(svc.store, &keys::campaign(&rollout.campaign))?.ok_or_else(missing)?;
    if kind == ActionKind::Rollback
        && !matches!(rollout.phase, Phase::Succeeded | Phase::RolledBack)
    {
        return Err(missing());
    }
    Ok(Action {
        id,
        kind,
        campaign,
        rollout,
    })
}

/// `scheme://authority` the device reached us at, for absolute links.
fn base_url(request: &Request) -> String {
    if let Some(full) = request.header_value("spin-full-url")
        && let Some((scheme, rest)) = full.split_once("://")
    {
        let authority = rest.split('/').next().unwrap_or_default();
        return format!("{scheme}://{authority}");
    }
    let host = request.header_value("host").unwrap_or("localhost");
    format!("http://{host}")
}

/// The controller's own URL: `{base}/{tenant}/controller/v1/{id}`.
fn controller_url(request: &Request, controller: &Controller) -> String {
    format!(
        "{}/{}/controller/v1/{}",
        base_url(request),
        controller.tenant,
        controller.device.id
    )
}

#[cfg(test)]
mod tests;
