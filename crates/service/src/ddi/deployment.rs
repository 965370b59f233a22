//! `deploymentBase`, `installedBase` and `cancelAction`: what an action asks
//! the device to do.

use std::collections::BTreeMap;

use super::wire::{
    ActionHistory, ArtifactRef, CancelAction, Chunk, Deployment, DeploymentBase, Hashes, Link,
    StopId,
};
use super::{Action, ActionKind, Controller, controller_url, find_action, module_id};
use crate::kernel::http::{ApiError, Request, Response};
use crate::kernel::service::Service;
use crate::{kernel::keys, kernel::records};
use sluice_api::admin::releases::{Artifact, Release, ReleaseImage};
use sluice_api::status::Phase;

/// `GET deploymentBase/{actionId}`: the deployment, for open and closed actions
/// alike (a closed one says so in its history).
pub(crate) fn deployment_base(
    svc: &Service,
    request: &Request,
    controller: &Controller,
    id: &str,
) -> Result<Response, ApiError> {
    let action = find_action(svc, controller, id)?;
    deployment(svc, request, controller, &action)
}

/// `GET installedBase/{actionId}`: the deployment the device last installed.
pub(crate) fn installed_base(
    svc: &Service,
    request: &Request,
    controller: &Controller,
    id: &str,
) -> Result<Response, ApiError> {
    let action = find_action(svc, controller, id)?;
    let installed = match action.kind {
        ActionKind::Update => action.rollout.phase == Phase::Succeeded,
        ActionKind::Rollback => action.rollout.phase == Phase::RolledBack,
    };
    if !installed {
        return Err(ApiError::not_found(format!(
            "action {} was not installed",
            action.id
        )));
    }
    deployment(svc, request, controller, &action)
}

/// `GET cancelAction/{actionId}`: only for an update its campaign's abort stopped.
pub(crate) fn cancel_action(
    svc: &Service,
    controller: &Controller,
    id: &str,
) -> Result<Response, ApiError> {
    let action = find_action(svc, controller, id)?;
    if !action.to_cancel() {
        return Err(ApiError::not_found(format!(
            "action {} is not being cancelled",
            action.id
        )));
    }
    let id = action.id.to_string();
    Ok(Response::json(
        200,
        &CancelAction {
            id: id.clone(),
            cancel_action: StopId { stop_id: id },
        },
    ))
}

fn deployment(
    svc: &Service,
    request: &Request,
    controller: &Controller,
    action: &Action,
) -> Result<Response, ApiError> {
    let hardware = &controller.device.hardware;
    let version = action.release();
    let (image, artifact) = image_for(svc, version, hardware)?;
    let module = module_id(&image.manifest_id);
    let url = format!(
        "{}/softwaremodules/{module}/artifacts/{}",
        controller_url(request, controller),
        artifact.file_name
    );
    let links = BTreeMap::from([
        ("download-http".to_owned(), Link::new(url.clone())),
        ("download".to_owned(), Link::new(url.clone())),
        ("md5sum-http".to_owned(), Link::new(format!("{url}.MD5SUM"))),
        ("md5sum".to_owned(), Link::new(format!("{url}.MD5SUM"))),
    ]);
    // Security-critical campaigns are forced; others are attempted (a client
    // may ask its user first). Offers happen only inside the policy's windows,
    // so an action a device may see is always inside one; but a change freeze
    // that began since holds the install: download now, install after it
    // (hawkBit's unavailable maintenance window, with `update: skip`).
    let mode = if action.campaign.is_critical() {
        "forced"
    } else {
        "attempt"
    };
    let frozen = action.kind == ActionKind::Update
        && action.is_open()
        && crate::campaigns::freeze::hold(
            &controller.freezes,
            Some(&action.campaign),
            &controller.device,
            &controller.state.version,
            svc.env.now(),
        )
        .is_some();
    let (update, window) = if frozen {
        ("skip", "unavailable")
    } else {
        (mode, "available")
    };
    let (status, message) = if action.is_open() {
        (
            "proceeding",
            format!("{} {version}", kind_word(action.kind)),
        )
    } else {
        (
            "finished",
            format!(
                "{} {version}: {} (campaign {} is {})",
                kind_word(action.kind),
                action.rollout.phase.as_str(),
                action.campaign.id,
                action.campaign.state.as_str()
            ),
        )
    };
    Ok(Response::json(
        200,
        &DeploymentBase {
            id: action.id.to_string(),
            deployment: Deployment {
                download: mode.to_owned(),
                update: update.to_owned(),
                maintenance_window: Some(window.to_owned()),
                chunks: vec![Chunk {
                    part: "os".to_owned(),
                    version: version.to_owned(),
                    name: hardware.clone(),
                    artifacts: vec![ArtifactRef {
                        filename: artifact.file_name.clone(),
                        size: image.size,
                        hashes: Hashes {
                            sha1: artifact.sha1.clone(),
                            md5: artifact.md5.clone(),
                            sha256: artifact.sha256.clone(),
                        },
                        links,
                    }],
                }],
            },
            action_history: Some(ActionHistory {
                status: status.to_owned(),
                messages: vec![message],
            }),
        },
    ))
}

fn kind_word(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Update => "update to",
        ActionKind::Rollback => "roll back to",
    }
}

/// The published image of `version` for `hardware`, with its DDI artifact.
pub(crate) fn image_for(
    svc: &Service,
    version: &str,
    hardware: &str,
) -> Result<(ReleaseImage, Artifact), ApiError> {
    let release: Release = records::read(svc.store, &keys::release(version))?
        .ok_or_else(|| ApiError::not_found(format!("no release {version:?}")))?;
    let image = release.for_hardware(hardware).cloned().ok_or_else(|| {
        ApiError::not_found(format!(
            "release {version} has no image for hardware {hardware:?}"
        ))
    })?;
    let artifact = image.artifact.clone().ok_or_else(|| {
        ApiError::new(
            409,
            "no_artifact",
            format!(
                "release {version} was published before DDI support: publish its manifest again"
            ),
        )
    })?;
    Ok((image, artifact))
}
