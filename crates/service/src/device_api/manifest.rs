//! `GET /v1/releases/{version}/manifest`: the signed manifest of a release's
//! image for the asking device's hardware.

use sluice_api::admin::releases::Release;

use crate::fleet::device::DeviceRecord;
use crate::kernel::credentials::device_credentials;
use crate::kernel::http::{ApiError, Request, Response};
use crate::kernel::service::Service;
use crate::{kernel::keys, kernel::records};

/// Handles `/v1/releases/{version}/manifest`.
pub fn handle_manifest(svc: &Service, request: &Request) -> Response {
    let version = request
        .path
        .strip_prefix("/v1/releases/")
        .and_then(|rest| rest.strip_suffix("/manifest"))
        .unwrap_or_default();
    crate::kernel::http::respond(serve_manifest(svc, request, version))
}

/// `GET /v1/releases/{version}/manifest`: the signed manifest of the release's
/// image for the authenticated device's hardware.
pub fn serve_manifest(
    svc: &Service,
    request: &Request,
    version: &str,
) -> Result<Response, ApiError> {
    if request.method != "GET" && request.method != "HEAD" {
        return Err(ApiError::method_not_allowed("GET"));
    }
    let (device_id, secret) = device_credentials(request)?;
    if !crate::kernel::names::valid_name(version) {
        return Err(ApiError::not_found("no such release"));
    }
    let keys = [keys::device(&device_id), keys::release(version)];
    let values = svc.store.get_many(&keys)?;
    let device: DeviceRecord = records::decode_opt(&keys[0], values[0].as_ref())?
        .filter(|d: &DeviceRecord| d.accepts(&secret))
        .ok_or_else(|| ApiError::unauthorized("unknown device or wrong secret"))?;
    let release: Release = records::decode_opt(&keys[1], values[1].as_ref())?
        .ok_or_else(|| ApiError::not_found(format!("no release {version:?}")))?;
    let image = release.for_hardware(&device.hardware).ok_or_else(|| {
        ApiError::new(
            404,
            "no_image_for_hardware",
            format!(
                "release {version} has no image for hardware {:?}",
                device.hardware
            ),
        )
    })?;
    let bytes = svc
        .store
        .get(&keys::manifest(&image.manifest_id))?
        .ok_or_else(|| ApiError::internal("published manifest is missing from the store"))?;
    let etag = format!("\"{}\"", image.manifest_id);
    if request.header_value("if-none-match") == Some(etag.as_str()) {
        return Ok(Response::empty(304).with_header("etag", etag));
    }
    let body = if request.method == "HEAD" {
        Vec::new()
    } else {
        bytes
    };
    Ok(Response {
        status: 200,
        headers: vec![
            (
                "content-type".into(),
                "application/vnd.sluice.manifest+json".into(),
            ),
            ("etag".into(), etag),
            ("cache-control".into(), "no-cache".into()),
        ],
        body,
    })
}
