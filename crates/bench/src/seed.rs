//! Seeds a store with a fleet natively, through the service's own admin API (so
//! the records are exactly what the service writes), much faster than over
//! HTTP and Wasm.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sluice_api::admin::devices::{EnrolAnswer, EnrolRequest, MAX_ENROL, NewDevice};
use sluice_service::{Request, Response};

use crate::native_server::{Shared, handle};
use sluice_sample_release::SampleRelease;

/// The hardware of the seeded fleet.
pub const HARDWARE: &str = "cam-v2";

/// Runs one admin request.
pub fn admin(
    shared: &Shared,
    token: &str,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<Value> {
    let response: Response = handle(
        shared,
        Request::new(method, path)
            .header("authorization", &format!("Bearer {token}"))
            .body(body),
    );
    let value: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    if !(200..300).contains(&response.status) {
        bail!("{method} {path}: {} {value}", response.status);
    }
    Ok(value)
}

/// Publishes `release`: its chunks, then its manifest.
pub fn publish(shared: &Shared, token: &str, release: &SampleRelease) -> Result<()> {
    for (digest, data) in &release.chunks {
        admin(
            shared,
            token,
            "PUT",
            &format!("/v1/admin/chunks/{digest}"),
            data.clone(),
        )?;
    }
    admin(
        shared,
        token,
        "POST",
        "/v1/admin/releases",
        release.manifest.clone(),
    )
    .context("publishing the release")?;
    Ok(())
}

/// Stores one chunk (content-addressed) and returns its digest.
pub fn chunk(shared: &Shared, token: &str, data: Vec<u8>) -> Result<String> {
    let digest = sluice_protocol::Digest::of(&data).to_string();
    admin(
        shared,
        token,
        "PUT",
        &format!("/v1/admin/chunks/{digest}"),
        data,
    )?;
    Ok(digest)
}

/// Enrols devices `dev-{from}` .. `dev-{to - 1}`; returns their `(id, secret)`.
pub fn enrol(
    shared: &Shared,
    token: &str,
    from: usize,
    to: usize,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(to.saturating_sub(from));
    let mut start = from;
    while start < to {
        let end = (start + MAX_ENROL).min(to);
        let request = EnrolRequest {
            devices: (start..end)
                .map(|i| NewDevice::new(format!("dev-{i}"), HARDWARE))
                .collect(),
        };
        let enrolled: EnrolAnswer = serde_json::from_value(admin(
            shared,
            token,
            "POST",
            "/v1/admin/devices",
            serde_json::to_vec(&request)?,
        )?)?;
        out.extend(enrolled.devices.into_iter().map(|d| (d.id, d.secret)));
        start = end;
    }
    Ok(out)
}

/// Creates the campaign check-ins meet: the standard policy's canary (1%) with
/// a long soak, so most devices are told "not yet", as in a real rollout.
pub fn campaign(shared: &Shared, token: &str, release: &str) -> Result<String> {
    let created = admin(
        shared,
        token,
        "POST",
        "/v1/admin/campaigns",
        json!({
            "release": release,
            "selector": {"hardware": [HARDWARE]},
            "policy": {"stages": [{"percent": 1, "soak": "30d"}, {"percent": 100}]},
        })
        .to_string()
        .into_bytes(),
    )?;
    Ok(created["id"].as_str().unwrap_or_default().to_owned())
}

/// Bytes of keys and values stored under `keys` (absent ones count 0).
pub fn stored_bytes(shared: &Shared, keys: &[String]) -> Result<u64> {
    use sluice_service::Store;
    let values = shared.store.get_many(keys)?;
    Ok(keys
        .iter()
        .zip(values)
        .map(|(k, v)| (k.len() + v.map(|v| v.len()).unwrap_or(0)) as u64)
        .sum())
}
