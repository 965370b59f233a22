//! `PUT configData`: attributes a DDI client reports about itself, stored as
//! device attributes that campaign selectors can match.

use super::wire::ConfigData;
use super::{Controller, MAX_BODY};
use crate::fleet::device::{ATTRIBUTE_RULE, DeviceRecord, valid_attributes};
use crate::kernel::http::{ApiError, Request, Response, parse_json};
use crate::kernel::service::Service;
use crate::{kernel::keys, kernel::records};

pub(crate) fn put(
    svc: &Service,
    request: &Request,
    controller: &Controller,
) -> Result<Response, ApiError> {
    let body: ConfigData = parse_json(&request.body, MAX_BODY)?;
    let mode = body.mode.as_deref().unwrap_or("merge");
    if !matches!(mode, "merge" | "replace" | "remove") {
        return Err(ApiError::bad_request(format!(
            "mode {mode:?}: use merge, replace or remove"
        )));
    }
    if !valid_attributes(&body.data) {
        return Err(ApiError::bad_request(format!("data: {ATTRIBUTE_RULE}")));
    }
    let mut invalid = false;
    records::update::<DeviceRecord, _>(
        svc.store,
        &keys::device(&controller.device.id),
        |current| {
            let Some(mut device) = current.cloned() else {
                return Ok(None);
            };
            let before = device.attributes.clone();
            match mode {
                "replace" => device.attributes = body.data.clone(),
                "remove" => device.attributes.retain(|k, _| !body.data.contains_key(k)),
                _ => device.attributes.extend(body.data.clone()),
            }
            if !valid_attributes(&device.attributes) {
                invalid = true;
                return Ok(None);
            }
            Ok((device.attributes != before).then_some(device))
        },
    )?;
    if invalid {
        return Err(ApiError::bad_request(format!(
            "the merged attributes break the limits: {ATTRIBUTE_RULE}"
        )));
    }
    Ok(Response::empty(200))
}
