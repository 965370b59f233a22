//! The operator's API under `/v1/admin/`, behind a bearer token.
//!
//! | method and path | does |
//! |---|---|
//! | `POST /v1/admin/devices` | enrol devices: `{"devices":[{"id","hardware","tags","attributes","version","security_version"}]}` → their secrets, shown once |
//! | `GET /v1/admin/devices/{id}` | a device's enrolment, rollout state and last check-in |
//! | `POST /v1/admin/devices/{id}/revoke` | revoke a device (`{"reason"}`): its secret opens nothing any more |
//! | `PUT /v1/admin/chunks/{sha256}` | upload a chunk (`HEAD`: is it stored?) |
//! | `POST /v1/admin/releases[?file_name=NAME]` | publish a signed manifest (body: the `manifest` file); `file_name` names the image for hawkBit DDI clients (e.g. `fw.swu`) |
//! | `GET /v1/admin/releases[/{version}]` | list releases, or one |
//! | `PUT /v1/admin/key-statement` | give the server a newer root-signed key statement |
//! | `POST /v1/admin/campaigns` | create a campaign |
//! | `GET /v1/admin/campaigns[/{id}]` | list campaigns, or one with its progress |
//! | `POST /v1/admin/campaigns/{id}/{pause,resume,abort,rollback}` | operator actions |
//! | `POST /v1/admin/campaigns/{id}/approve` | open the step a gate holds: `{"note"}` (optional) |
//! | `POST /v1/admin/campaigns/{id}/override-freeze` | let a critical campaign pass a freeze: `{"freeze", "reason"}` |
//! | `GET /v1/admin/freezes`, `POST /v1/admin/freezes` | change freezes: `{"reason", "start", "end", "lead_seconds", "selector"}` |
//! | `DELETE /v1/admin/freezes/{id}` | lift a freeze |
//! | `GET /metrics` | the fleet's counters in the Prometheus text format (see [`metrics`]) |
//! | `GET /v1/admin/audit?after=N&limit=M` | the audit log: entries at positions N+1..N+M, the `missing` positions, `next` (where the next page starts) and the chain's `head` |
//!
//! Changes are audited as `admin`, or as `admin:NAME` when the request names its
//! operator in an `X-Sluice-Operator: NAME` header (the CLI sends the user's
//! name). The name is what the holder of the admin token says it is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::campaign::{Action, CampaignRecord, CreateCampaign};
use crate::credentials::{SECRET_BYTES, check_admin, hash_secret, new_secret};
use crate::device::{
    ATTRIBUTE_RULE, DeviceRecord, DeviceState, Revocation, Seen, valid_attributes, valid_id,
    valid_tag,
};
use crate::http::{ApiError, Request, Response, parse_json, respond};
use crate::release::ReleaseRecord;
use crate::service::Service;
use crate::{
    audit, campaign, chunks, counters, directory, fleet, freeze, keys, metrics, records, recount,
    release, steps,
};

/// Largest JSON body accepted by the admin API.
pub const MAX_JSON_BODY: usize = 1024 * 1024;
/// Most devices one enrolment request may carry.
pub const MAX_ENROL: usize = 1000;

/// Handles any request under `/v1/admin/`, and `/metrics` (see [`metrics`]).
pub fn handle(svc: &Service, request: &Request) -> Response {
    if request.path == "/metrics" {
        return respond(metrics::handle(svc, request));
    }
    respond(route(svc, request))
}

fn route(svc: &Service, request: &Request) -> Result<Response, ApiError> {
    check_admin(request, svc.config.admin_token.as_deref())?;
    let rest = request
        .path
        .strip_prefix("/v1/admin/")
        .ok_or_else(|| ApiError::not_found("no such admin resource"))?;
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let method = request.method.as_str();
    match (method, parts.as_slice()) {
        ("POST", ["devices"]) => enrol(svc, request),
        ("GET", ["devices"]) => search_devices(svc, request),
        ("GET", ["devices", id]) => show_device(svc, id),
        ("GET", ["fleet"]) => Ok(Response::json(200, &fleet::summary(svc)?)),
        ("POST", ["devices", id, "revoke"]) => revoke_device(svc, id, request),
        (_, ["chunks", digest]) => chunks::upload(svc, request, digest),
        ("POST", ["releases"]) => {
            let published = release::publish(svc, &request.body, request.query_param("file_name"))?;
            let status = if published.created { 201 } else { 200 };
            Ok(Response::json(status, &published))
        }
        ("GET", ["releases"]) => list_releases(svc),
        ("GET", ["releases", version]) => show_release(svc, version),
        ("PUT", ["key-statement"]) => {
            let version = release::put_key_statement(svc, &request.body)?;
            Ok(Response::json(200, &json!({"version": version})))
        }
        ("POST", ["campaigns"]) => {
            let body: CreateCampaign = parse_json(&request.body, MAX_JSON_BODY)?;
            let record = campaign::create(svc, body, &operator(request)?)?;
            Ok(Response::json(201, &record))
        }
        ("GET", ["campaigns"]) => list_campaigns(svc),
        ("POST", ["campaigns", id, "approve"]) => {
            let body: steps::Approve = if request.body.is_empty() {
                steps::Approve::default()
            } else {
                parse_json(&request.body, MAX_JSON_BODY)?
            };
            let record = steps::approve(svc, id, body, &operator(request)?)?;
            Ok(Response::json(200, &record))
        }
        ("POST", ["campaigns", id, "recount"]) => {
            let body: RecountRequest = if request.body.is_empty() {
                RecountRequest::default()
            } else {
                parse_json(&request.body, MAX_JSON_BODY)?
            };
            let result = recount::recount(svc, id, body.apply, &operator(request)?)?;
            Ok(Response::json(200, &result))
        }
        ("POST", ["campaigns", id, "override-freeze"]) => {
            let body: campaign::OverrideFreeze = parse_json(&request.body, MAX_JSON_BODY)?;
            let record = campaign::override_freeze(svc, id, body, &operator(request)?)?;
            Ok(Response::json(200, &record))
        }
        ("GET", ["freezes"]) => Ok(Response::json(
            200,
            &json!({"freezes": freeze::list(svc)?, "now": svc.env.now()}),
        )),
        ("POST", ["freezes"]) => {
            let body: freeze::NewFreeze = parse_json(&request.body, MAX_JSON_BODY)?;
            let freeze = freeze::add(svc, body, &operator(request)?)?;
            Ok(Response::json(201, &freeze))
        }
        ("DELETE", ["freezes", id]) => {
            let freeze = freeze::remove(svc, id, &operator(request)?)?;
            Ok(Response::json(200, &freeze))
        }
        ("GET", ["campaigns", id]) => progress(svc, id).map(|p| Response::json(200, &p)),
        ("POST", ["campaigns", id, action]) => {
            let action = Action::parse(action).ok_or_else(|| {
                ApiError::not_found("actions are pause, resume, abort and rollback")
            })?;
            let record = campaign::apply_action(svc, id, action, &operator(request)?)?;
            Ok(Response::json(200, &record))
        }
        ("GET", ["audit"]) => {
            let number = |name: &str, default: i64| -> Result<i64, ApiError> {
                Ok(request.query_number(name)?.unwrap_or(default))
            };
            let after = number("after", 0)?;
            let limit = number("limit", 100)?.clamp(1, audit::MAX_PAGE as i64) as usize;
            Ok(Response::json(200, &audit::read(svc.store, after, limit)?))
        }
        _ => Err(ApiError::not_found(format!(
            "no admin resource {method} {}",
            request.path
        ))),
    }
}

/// Who made a change, for the audit log: `admin`, or `admin:NAME` when the
/// request names its operator in `X-Sluice-Operator`.
pub fn operator(request: &Request) -> Result<String, ApiError> {
    match request
        .header_value("x-sluice-operator")
        .filter(|name| !name.is_empty())
    {
        None => Ok("admin".to_owned()),
        Some(name) if valid_id(name) => Ok(format!("admin:{name}")),
        Some(_) => Err(ApiError::bad_request(
            "X-Sluice-Operator must be a short name (letters, digits, . _ - + ~)",
        )),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RecountRequest {
    /// Add the differences to the counters (otherwise only report them).
    #[serde(default)]
    apply: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolRequest {
    devices: Vec<NewDevice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDevice {
    id: String,
    hardware: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    /// The version the device runs now, for devices whose check-ins do not say
    /// (hawkBit DDI clients); native devices report it at every check-in.
    #[serde(default)]
    version: Option<String>,
    /// The security version it has committed (with `version`).
    #[serde(default)]
    security_version: u64,
}

#[derive(Serialize)]
struct Enrolled {
    id: String,
    secret: String,
}

fn enrol(svc: &Service, request: &Request) -> Result<Response, ApiError> {
    let body: EnrolRequest = parse_json(&request.body, MAX_JSON_BODY)?;
    let actor = operator(request)?;
    if body.devices.is_empty() || body.devices.len() > MAX_ENROL {
        return Err(ApiError::bad_request(format!(
            "enrol 1 to {MAX_ENROL} devices per request"
        )));
    }
    for (i, d) in body.devices.iter().enumerate() {
        let bad = |what: &str| ApiError::bad_request(format!("devices[{i}].{what}"));
        if !valid_id(&d.id) {
            return Err(bad("id is not a valid name (letters, digits, . _ - + ~)"));
        }
        if !valid_id(&d.hardware) {
            return Err(bad("hardware is not a valid name"));
        }
        if d.tags.len() > 64 || d.tags.iter().any(|t| !valid_tag(t)) {
            return Err(bad(
                "tags: at most 64, each letters, digits and . _ - + ~ : / = @",
            ));
        }
        if !valid_attributes(&d.attributes) {
            return Err(bad(ATTRIBUTE_RULE));
        }
        if d.version.as_deref().is_some_and(|v| !valid_id(v)) {
            return Err(bad("version is not a valid name"));
        }
        if body.devices[..i].iter().any(|o| o.id == d.id) {
            return Err(bad("id appears twice"));
        }
    }
    let device_keys: Vec<String> = body.devices.iter().map(|d| keys::device(&d.id)).collect();
    let existing: Vec<&str> = svc
        .store
        .get_many(&device_keys)?
        .iter()
        .zip(&body.devices)
        .filter(|(v, _)| v.is_some())
        .map(|(_, d)| d.id.as_str())
        .collect();
    if !existing.is_empty() {
        return Err(ApiError::conflict(format!(
            "already enrolled: {}",
            existing
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let now = svc.env.now();
    // Listed first, so no device is ever enrolled and missing from the list.
    let ids: Vec<String> = body.devices.iter().map(|d| d.id.clone()).collect();
    directory::append(svc.store, &ids)?;
    let mut hardware: BTreeMap<String, i64> = BTreeMap::new();
    for d in &body.devices {
        *hardware.entry(d.hardware.clone()).or_default() += 1;
    }
    let mut enrolled = Vec::with_capacity(body.devices.len());
    for d in body.devices {
        let mut random = [0u8; SECRET_BYTES];
        svc.env.fill_random(&mut random);
        let secret = new_secret(random);
        let record = DeviceRecord {
            id: d.id.clone(),
            hardware: d.hardware,
            tags: d.tags,
            attributes: d.attributes,
            credential: hash_secret(&secret),
            enrolled_at: now,
            revoked: None,
        };
        // The state record exists from the start, so every later change to it is a
        // compare-and-swap against a present value.
        svc.store.set(
            &keys::state(&d.id),
            &records::encode(&DeviceState {
                updated_at: now,
                listed: true,
                ..DeviceState::default()
            }),
        )?;
        svc.store
            .set(&keys::device(&d.id), &records::encode(&record))?;
        if let Some(version) = &d.version {
            crate::checkin::note_version(svc, &d.id, version, d.security_version, now)?;
        }
        enrolled.push(Enrolled { id: d.id, secret });
    }
    for (name, count) in hardware {
        campaign::add_to_list(svc, keys::HARDWARE_INDEX, &name)?;
        svc.store.increment(&counters::hardware_key(&name), count)?;
    }
    let ids: Vec<&str> = enrolled.iter().map(|e| e.id.as_str()).collect();
    audit::append(
        svc.store,
        now,
        &actor,
        "device.enrol",
        &format!("{} device(s)", ids.len()),
        None,
        Some(json!({"ids": ids})),
    )?;
    Ok(Response::json(201, &json!({"devices": enrolled})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    reason: String,
}

/// Longest revocation reason, in bytes.
const MAX_REASON: usize = 500;

/// Revokes a device: from now on its secret authenticates nothing (check-in,
/// status, manifests, DDI). Revoking a revoked device changes nothing.
fn revoke_device(svc: &Service, id: &str, request: &Request) -> Result<Response, ApiError> {
    let body: RevokeRequest = parse_json(&request.body, MAX_JSON_BODY)?;
    let actor = operator(request)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.len() > MAX_REASON {
        return Err(ApiError::bad_request(format!(
            "reason: say why, in at most {MAX_REASON} bytes"
        )));
    }
    if !valid_id(id) {
        return Err(ApiError::not_found("no such device"));
    }
    let now = svc.env.now();
    let (device, revoked) =
        records::update::<DeviceRecord, _>(svc.store, &keys::device(id), |d| {
            let Some(d) = d else {
                return Err(ApiError::not_found(format!("no device {id:?}")));
            };
            if d.revoked.is_some() {
                return Ok(None);
            }
            Ok(Some(DeviceRecord {
                revoked: Some(Revocation {
                    at: now,
                    by: actor.clone(),
                    reason: reason.to_owned(),
                }),
                ..d.clone()
            }))
        })?;
    let revocation = device.and_then(|d| d.revoked);
    if revoked {
        audit::append(
            svc.store,
            now,
            &actor,
            "device.revoke",
            id,
            None,
            Some(json!({"reason": reason})),
        )?;
    }
    Ok(Response::json(
        200,
        &json!({"id": id, "revoked": revocation}),
    ))
}

fn show_device(svc: &Service, id: &str) -> Result<Response, ApiError> {
    if !valid_id(id) {
        return Err(ApiError::not_found("no such device"));
    }
    let keys = [keys::device(id), keys::state(id), keys::seen(id)];
    let values = svc.store.get_many(&keys)?;
    let device: DeviceRecord = records::decode_opt(&keys[0], values[0].as_ref())?
        .ok_or_else(|| ApiError::not_found(format!("no device {id:?}")))?;
    // Pending counter increments are the service's business, not the operator's.
    let state: Option<DeviceState> =
        records::decode_opt::<DeviceState>(&keys[1], values[1].as_ref())?.map(|s| DeviceState {
            tallies: Vec::new(),
            ..s
        });
    let seen: Option<Seen> = records::decode_opt(&keys[2], values[2].as_ref())?;
    Ok(Response::json(
        200,
        &json!({
            "id": device.id, "hardware": device.hardware, "tags": device.tags,
            "attributes": device.attributes, "enrolled_at": device.enrolled_at,
            "revoked": device.revoked, "state": state, "seen": seen,
        }),
    ))
}

/// `GET /v1/admin/devices?q=WORDS&page=N&skip=K&limit=L` (see [`fleet::Query`]).
fn search_devices(svc: &Service, request: &Request) -> Result<Response, ApiError> {
    let query = fleet::Query::parse(&request.query_text("q")?.unwrap_or_default())?;
    let number = |name: &str| request.query_number::<u64>(name);
    let from = fleet::Cursor {
        page: number("page")?.unwrap_or(0),
        skip: usize::try_from(number("skip")?.unwrap_or(0)).unwrap_or(usize::MAX),
    };
    let limit = usize::try_from(number("limit")?.unwrap_or(50)).unwrap_or(fleet::MAX_RESULTS);
    Ok(Response::json(
        200,
        &fleet::search(svc, &query, from, limit)?,
    ))
}

fn read_list(svc: &Service, key: &str) -> Result<Vec<String>, ApiError> {
    Ok(records::read(svc.store, key)?.unwrap_or_default())
}

fn list_releases(svc: &Service) -> Result<Response, ApiError> {
    let versions = read_list(svc, keys::RELEASE_INDEX)?;
    let keys: Vec<String> = versions.iter().map(|v| keys::release(v)).collect();
    let releases: Vec<ReleaseRecord> = records::read_many(svc.store, &keys)?;
    Ok(Response::json(200, &json!({"releases": releases})))
}

fn show_release(svc: &Service, version: &str) -> Result<Response, ApiError> {
    if !valid_id(version) {
        return Err(ApiError::not_found("no such release"));
    }
    let record: ReleaseRecord = records::read(svc.store, &keys::release(version))?
        .ok_or_else(|| ApiError::not_found(format!("no release {version:?}")))?;
    Ok(Response::json(200, &record))
}

fn list_campaigns(svc: &Service) -> Result<Response, ApiError> {
    let ids = read_list(svc, keys::CAMPAIGN_INDEX)?;
    let keys: Vec<String> = ids.iter().map(|id| keys::campaign(id)).collect();
    let campaigns: Vec<CampaignRecord> = records::read_many(svc.store, &keys)?;
    Ok(Response::json(200, &json!({"campaigns": campaigns})))
}

/// A campaign's progress report.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Progress {
    pub campaign: CampaignRecord,
    pub total: sluice_policy::OutcomeCounts,
    pub in_flight: u64,
    /// Per step reached so far: pilot rings first, then stages from 0.
    pub stages: Vec<sluice_policy::OutcomeCounts>,
    /// The names of those steps: `ring NAME`, `stage N`.
    #[serde(default)]
    pub steps: Vec<String>,
    pub failure_codes: BTreeMap<String, i64>,
    /// Check-ins the campaign deferred, by the category of the policy's reason
    /// ([`sluice_policy::DEFER_CATEGORIES`]).
    #[serde(default)]
    pub deferrals: BTreeMap<String, i64>,
    /// Devices per version across the fleet.
    pub versions: BTreeMap<String, i64>,
    /// Devices of the campaign in each unfinished phase now (`offered`,
    /// `downloading`, `downloaded`, `installing`, `rebooting`).
    #[serde(default)]
    pub phases: BTreeMap<String, i64>,
    /// The failure rate of the current step and of the whole campaign, with
    /// its confidence interval against the configured threshold.
    #[serde(default)]
    pub failure_bounds: Vec<crate::failure_bounds::FailureBound>,
    /// The campaign's totals over its life, ending now.
    #[serde(default)]
    pub curve: Option<crate::curve::Curve>,
    /// When it should finish, at its recent pace (for campaigns created
    /// since reach is counted).
    #[serde(default)]
    pub estimate: Option<crate::curve::Estimate>,
}

/// Reads a campaign's progress: a handful of round trips, none proportional to
/// the fleet.
pub fn progress(svc: &Service, id: &str) -> Result<Progress, ApiError> {
    if !valid_id(id) {
        return Err(ApiError::not_found("no such campaign"));
    }
    let campaign: CampaignRecord = records::read(svc.store, &keys::campaign(id))?
        .ok_or_else(|| ApiError::not_found(format!("no campaign {id:?}")))?;
    let now = svc.env.now();
    let campaign = campaign::follow_schedule(svc, &campaign, now)?;
    let step = campaign.counter_stage();
    let stats = counters::read_stats(svc.store, id, step, now)?;
    let stages = counters::read_stages(svc.store, id, step)?;
    let steps = (0..=step).map(|s| steps::step_name(&campaign, s)).collect();
    let codes = read_list(svc, &keys::failure_codes(id))?;
    let code_counts = svc.store.counters(
        &codes
            .iter()
            .map(|c| counters::failure_key(id, c))
            .collect::<Vec<_>>(),
    )?;
    let deferral_counts = svc.store.counters(
        &sluice_policy::DEFER_CATEGORIES
            .iter()
            .map(|c| counters::deferral_key(id, c))
            .collect::<Vec<_>>(),
    )?;
    let versions = read_list(svc, keys::VERSION_INDEX)?;
    let version_counts = svc.store.counters(
        &versions
            .iter()
            .map(|v| counters::version_key(v))
            .collect::<Vec<_>>(),
    )?;
    let phases = counters::read_phases(svc.store, id)?;
    let curve = crate::curve::read(svc, id, &stats.total, now)?;
    let estimate = crate::curve::estimate(&campaign, &curve);
    let failure_bounds = vec![
        crate::failure_bounds::bound("this step", &stats.stage, &campaign.policy),
        crate::failure_bounds::bound("the campaign", &stats.total, &campaign.policy),
    ];
    Ok(Progress {
        failure_bounds,
        phases,
        estimate,
        curve: Some(curve),
        campaign,
        total: stats.total,
        in_flight: stats.in_flight,
        stages,
        steps,
        failure_codes: codes.into_iter().zip(code_counts).collect(),
        deferrals: sluice_policy::DEFER_CATEGORIES
            .iter()
            .map(|c| (*c).to_owned())
            .zip(deferral_counts)
            .collect(),
        versions: versions
            .into_iter()
            .zip(version_counts)
            .filter(|(_, n)| *n > 0)
            .collect(),
    })
}
