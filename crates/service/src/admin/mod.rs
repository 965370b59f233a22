//! The operator's API under `/v1/admin/`, and `/metrics`, behind bearer tokens.
//!
//! Every route is one row of [`ROUTES`]: its method, path and the scope a token
//! must hold (see [`crate::ops::access`]). A request is authenticated first (401
//! for a missing, unknown, revoked or expired token), then matched (404), then
//! its scope is checked (403), and only then is its body read.
//!
//! | method and path | scope | does |
//! |---|---|---|
//! | `POST /v1/admin/devices` | `device:enrol` | enrol devices: `{"devices":[{"id","hardware","tags","attributes","version","security_version"}]}` → their secrets, shown once |
//! | `GET /v1/admin/devices?q=` | `fleet:read` | search the fleet |
//! | `GET /v1/admin/devices/{id}` | `fleet:read` | a device's enrolment, rollout state and last check-in |
//! | `POST /v1/admin/devices/{id}/revoke` | `device:revoke` | revoke a device (`{"reason"}`): its secret opens nothing any more |
//! | `GET /v1/admin/fleet` | `fleet:read` | the fleet's summary |
//! | `PUT`, `HEAD /v1/admin/chunks/{sha256}` | `release:publish` | upload a chunk, or ask whether it is stored |
//! | `POST /v1/admin/releases[?file_name=NAME]` | `release:publish` | publish a signed manifest (body: the `manifest` file); `file_name` names the image for hawkBit DDI clients (e.g. `fw.swu`) |
//! | `GET /v1/admin/releases[/{version}]` | `fleet:read` | list releases, or one |
//! | `PUT /v1/admin/key-statement` | `keys:manage` | give the server a newer root-signed key statement |
//! | `POST /v1/admin/campaigns` | `campaign:create` | create a campaign (a critical one waits for a second operator's confirmation) |
//! | `POST /v1/admin/simulate` | `campaign:create` | a campaign's preview (answered by `sluice-policy-sim`) |
//! | `GET /v1/admin/campaigns[/{id}]` | `fleet:read` | list campaigns, or one with its progress |
//! | `POST /v1/admin/campaigns/{id}/{pause,resume,abort,rollback,recount}` | `campaign:operate` | operator actions |
//! | `POST /v1/admin/campaigns/{id}/approve` | `campaign:approve` | open the step a gate holds: `{"note"}` (optional); never by the campaign's creator |
//! | `POST /v1/admin/campaigns/{id}/confirm-critical` | `campaign:approve` | confirm a critical campaign (a second operator) |
//! | `POST /v1/admin/campaigns/{id}/override-freeze` | `freeze:override` | ask to let a critical campaign pass a freeze: `{"freeze", "reason"}` |
//! | `POST /v1/admin/campaigns/{id}/confirm-override` | `freeze:override` | confirm it (a second operator): `{"freeze"}` |
//! | `GET /v1/admin/freezes` | `fleet:read` | change freezes |
//! | `POST /v1/admin/freezes` | `freeze:manage` | declare one: `{"reason", "start", "end", "lead_seconds", "selector"}` |
//! | `DELETE /v1/admin/freezes/{id}` | `freeze:manage` | lift a freeze (one that holds now: ask to) |
//! | `POST /v1/admin/freezes/{id}/confirm-lift` | `freeze:override` | confirm lifting a freeze that holds (a second operator) |
//! | `GET /v1/admin/audit?after=N&limit=M` | `audit:read` | the audit log: entries at positions N+1..N+M, the `missing` positions, `next` (where the next page starts) and the chain's `head` |
//! | `GET`, `POST /v1/admin/operators`, `GET /v1/admin/operators/{name}`, `POST …/{name}/{revoke,rotate}` | `operator:manage` | operators and their tokens (see [`crate::ops::operators`]) |
//! | `GET`, `PUT /v1/admin/four-eyes` | `fleet:read`, `operator:manage` | the four-eyes rule (see [`crate::ops::four_eyes`]) |
//! | `GET /v1/admin/whoami` | any token | the caller's name, roles, scopes and expiry |
//! | `GET /metrics` | `metrics:read` | the fleet's counters in the Prometheus text format (see [`metrics`]) |
//! | `GET /v1/openapi.json` | none | the OpenAPI 3.1 document of the device and admin APIs ([`sluice_api::openapi`]) |
//!
//! Every change is audited under the authenticated name: the operator's, or
//! `owner` for the owner token. No header the caller writes changes that.

use std::collections::BTreeMap;

use serde_json::json;
use sluice_api::admin::campaigns::{
    ApproveRequest, CampaignList, Progress, RecountRequest, StepCounts,
};
use sluice_api::admin::devices::{
    DeviceDetail, EnrolAnswer, EnrolRequest, EnrolledDevice, MAX_ENROL, Revocation, Revoked,
};
use sluice_api::admin::four_eyes::FourEyes;
use sluice_api::admin::freezes::FreezeList;
use sluice_api::admin::operators::{OperatorList, RevokeRequest};
use sluice_api::admin::releases::{KeyStatementStored, Release, ReleaseList};

use crate::campaigns::campaign::{Action, CampaignRecord};
use crate::fleet::device::{
    ATTRIBUTE_RULE, DeviceRecord, DeviceState, Seen, valid_attributes, valid_tag,
};
use crate::kernel::credentials::{SECRET_BYTES, hash_secret, new_secret};
use crate::kernel::http::{ApiError, Request, Response, parse_json, respond, stated_reason};
use crate::kernel::names::valid_name;
use crate::kernel::service::Service;
use crate::ops::access::{Principal, Scope};
use crate::{
    campaigns::campaign, campaigns::freeze, campaigns::recount, campaigns::steps,
    device_api::chunks, fleet::directory, fleet::views, kernel::counters, kernel::keys,
    kernel::records, ops::access, ops::audit, ops::four_eyes, ops::operators,
    releases::key_statement, releases::publish,
};

pub mod metrics;

/// Largest JSON body accepted by the admin API.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// One admin route: what it answers, and the scope a token must hold.
pub struct Route {
    pub method: &'static str,
    /// The path; a `{name}` segment stands for any one segment.
    pub path: &'static str,
    /// The scope it needs; `None`: any valid token.
    pub scope: Option<Scope>,
    /// Who answers it; `None`: a component that routes it to another crate
    /// before this one (the preview, in `sluice-policy-sim`), after
    /// [`authorize`].
    handler: Option<Handler>,
}

type Handler = fn(&Service, &Call) -> Result<Response, ApiError>;

/// An authorized request: who asks, and the route's `{…}` segments in order.
pub struct Call<'a> {
    pub request: &'a Request,
    pub principal: Principal,
    pub params: Vec<&'a str>,
}

impl Call<'_> {
    fn param(&self, i: usize) -> &str {
        self.params.get(i).copied().unwrap_or_default()
    }

    /// The name changes are audited under.
    fn actor(&self) -> &str {
        &self.principal.name
    }

    fn body<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.request.body, MAX_JSON_BODY)
    }

    /// The body, or `T::default()` when there is none.
    fn body_or_default<T: serde::de::DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.request.body.is_empty() {
            Ok(T::default())
        } else {
            self.body()
        }
    }
}

const fn route(
    method: &'static str,
    path: &'static str,
    scope: Option<Scope>,
    handler: Handler,
) -> Route {
    Route {
        method,
        path,
        scope,
        handler: Some(handler),
    }
}

/// Every admin route and the scope it needs: the one place access is decided.
pub const ROUTES: &[Route] = {
    use Scope::*;
    &[
        route("POST", "/v1/admin/devices", Some(DeviceEnrol), enrol),
        route("GET", "/v1/admin/devices", Some(FleetRead), search_devices),
        route(
            "GET",
            "/v1/admin/devices/{id}",
            Some(FleetRead),
            show_device,
        ),
        route(
            "POST",
            "/v1/admin/devices/{id}/revoke",
            Some(DeviceRevoke),
            revoke_device,
        ),
        route("GET", "/v1/admin/fleet", Some(FleetRead), |svc, _| {
            Ok(Response::json(200, &views::summary(svc)?))
        }),
        route(
            "PUT",
            "/v1/admin/chunks/{sha256}",
            Some(ReleasePublish),
            upload_chunk,
        ),
        route(
            "HEAD",
            "/v1/admin/chunks/{sha256}",
            Some(ReleasePublish),
            upload_chunk,
        ),
        route("POST", "/v1/admin/releases", Some(ReleasePublish), publish),
        route("GET", "/v1/admin/releases", Some(FleetRead), |svc, _| {
            list_releases(svc)
        }),
        route(
            "GET",
            "/v1/admin/releases/{version}",
            Some(FleetRead),
            |svc, call| show_release(svc, call.param(0)),
        ),
        route(
            "PUT",
            "/v1/admin/key-statement",
            Some(KeysManage),
            |svc, call| {
                let version =
                    key_statement::put_key_statement(svc, &call.request.body, call.actor())?;
                Ok(Response::json(200, &KeyStatementStored { version }))
            },
        ),
        route(
            "POST",
            "/v1/admin/campaigns",
            Some(CampaignCreate),
            |svc, call| {
                let record = campaign::create(svc, call.body()?, call.actor())?;
                Ok(Response::json(201, &record.view()))
            },
        ),
        Route {
            method: "POST",
            path: "/v1/admin/simulate",
            scope: Some(CampaignCreate),
            handler: None,
        },
        route("GET", "/v1/admin/campaigns", Some(FleetRead), |svc, _| {
            list_campaigns(svc)
        }),
        route(
            "GET",
            "/v1/admin/campaigns/{id}",
            Some(FleetRead),
            |svc, call| progress(svc, call.param(0)).map(|p| Response::json(200, &p)),
        ),
        route(
            "POST",
            "/v1/admin/campaigns/{id}/pause",
            Some(CampaignOperate),
            |svc, call| act(svc, call, Action::Pause),
        ),
        route(
            "POST",
            "/v1/admin/campaigns/{id}/resume",
            Some(CampaignOperate),
            |svc, call| act(svc, call, Action::Resume),
        ),
        route(
            "POST",
            "/v1/admin/campaigns/{id}/abort",
            Some(CampaignOperate),
            |svc, call| act(svc, call, Action::Abort),
        ),
        route(
            "POST",
            "/v1/admin/campaigns/{id}/rollback",
            Some(CampaignOperate),
            |svc, call| act(svc, call, Action::Rollback),
        ),
        route(
            "POST",
            "/v1/admin/campaigns/{id}/recount",
            Some(CampaignOperate),
            |svc, call| {
                let body: RecountRequest = call.body_or_default()?;
                let result = recount::recount(svc, call.param(0), body.apply, call.actor())?;
                Ok(Response::json(200, &result))
            },
        ),
        route(
            "POST",
            "/v1/admin/campaigns/{id}/approve",
            Some(CampaignApprove),
            |svc, call| {
                let body: ApproveRequest = call.body_or_default()?;
                let record = steps::approve(svc, call.param(0), body, call.actor())?;
                Ok(Response::json(200, &record.view()))
            },
        ),
        route(
            "POST",
            "/v1/admin/campaigns/{id}/confirm-critical",
            Some(CampaignApprove),
            |svc, call| {
                let record = campaign::confirm_critical(svc, call.param(0), call.actor())?;
                Ok(Response::json(200, &record.view()))
            },
        ),
        route(
            "POST",
            "/v1/admin/campaigns/{id}/override-freeze",
            Some(FreezeOverride),
            |svc, call| {
                let record =
                    campaign::override_freeze(svc, call.param(0), call.body()?, call.actor())?;
                Ok(Response::json(200, &record.view()))
            },
        ),
        route(
            "POST",
            "/v1/admin/campaigns/{id}/confirm-override",
            Some(FreezeOverride),
            |svc, call| {
                let record =
                    campaign::confirm_override(svc, call.param(0), call.body()?, call.actor())?;
                Ok(Response::json(200, &record.view()))
            },
        ),
        route("GET", "/v1/admin/freezes", Some(FleetRead), |svc, _| {
            Ok(Response::json(
                200,
                &FreezeList {
                    freezes: freeze::list(svc)?,
                    now: svc.env.now(),
                },
            ))
        }),
        route(
            "POST",
            "/v1/admin/freezes",
            Some(FreezeManage),
            |svc, call| {
                let freeze = freeze::add(svc, call.body()?, call.actor())?;
                Ok(Response::json(201, &freeze))
            },
        ),
        route(
            "DELETE",
            "/v1/admin/freezes/{id}",
            Some(FreezeManage),
            |svc, call| {
                Ok(match freeze::remove(svc, call.param(0), call.actor())? {
                    freeze::Lift::Removed(freeze) => Response::json(200, &freeze),
                    freeze::Lift::Requested(freeze) => Response::json(202, &freeze),
                })
            },
        ),
        route(
            "POST",
            "/v1/admin/freezes/{id}/confirm-lift",
            Some(FreezeOverride),
            |svc, call| {
                let freeze = freeze::confirm_lift(svc, call.param(0), call.actor())?;
                Ok(Response::json(200, &freeze))
            },
        ),
        route("GET", "/v1/admin/audit", Some(AuditRead), read_audit),
        route(
            "GET",
            "/v1/admin/operators",
            Some(OperatorManage),
            |svc, _| {
                Ok(Response::json(
                    200,
                    &OperatorList {
                        operators: operators::list(svc)?,
                    },
                ))
            },
        ),
        route(
            "POST",
            "/v1/admin/operators",
            Some(OperatorManage),
            |svc, call| {
                let issued = operators::add(svc, &call.principal, call.body()?)?;
                Ok(Response::json(201, &issued))
            },
        ),
        route(
            "GET",
            "/v1/admin/operators/{name}",
            Some(OperatorManage),
            |svc, call| Ok(Response::json(200, &operators::show(svc, call.param(0))?)),
        ),
        route(
            "POST",
            "/v1/admin/operators/{name}/revoke",
            Some(OperatorManage),
            |svc, call| {
                let view = operators::revoke(svc, &call.principal, call.param(0), call.body()?)?;
                Ok(Response::json(200, &view))
            },
        ),
        route(
            "POST",
            "/v1/admin/operators/{name}/rotate",
            Some(OperatorManage),
            |svc, call| {
                let body: sluice_api::admin::operators::TokenLifetime = call.body_or_default()?;
                let issued = operators::rotate(svc, &call.principal, call.param(0), body)?;
                Ok(Response::json(200, &issued))
            },
        ),
        route("GET", "/v1/admin/four-eyes", Some(FleetRead), |svc, _| {
            Ok(Response::json(
                200,
                &FourEyes {
                    required: four_eyes::required(svc)?,
                    setting: four_eyes::setting(svc)?,
                },
            ))
        }),
        route(
            "PUT",
            "/v1/admin/four-eyes",
            Some(OperatorManage),
            |svc, call| {
                let setting = four_eyes::set(svc, &call.principal, call.body()?)?;
                Ok(Response::json(200, &setting))
            },
        ),
        route("GET", "/v1/admin/whoami", None, |_, call| {
            Ok(Response::json(200, &call.principal.view()))
        }),
        route("GET", "/metrics", Some(MetricsRead), |svc, _| {
            metrics::answer(svc)
        }),
    ]
};

/// The route `method` `path` goes to, and its `{…}` segments; or, when only
/// the method is wrong, the methods the path takes.
pub fn find<'p>(
    method: &str,
    path: &'p str,
) -> Result<(&'static Route, Vec<&'p str>), Vec<&'static str>> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut methods = Vec::new();
    for route in ROUTES {
        let pattern: Vec<&str> = route.path.split('/').collect();
        if pattern.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let matches = pattern.iter().zip(&segments).all(|(p, s)| {
            if p.starts_with('{') {
                params.push(*s);
                !s.is_empty()
            } else {
                p == s
            }
        });
        if !matches {
            continue;
        }
        if route.method == method {
            return Ok((route, params));
        }
        methods.push(route.method);
    }
    Err(methods)
}

/// Authenticates `request` (401), finds its route in [`ROUTES`] (404, 405)
/// and checks the scope the route needs (403), before anything reads its body.
pub fn authorize<'r>(
    svc: &Service,
    request: &'r Request,
) -> Result<(&'static Route, Call<'r>), ApiError> {
    let principal = access::authenticate(svc, request)?;
    let (route, params) = match find(&request.method, &request.path) {
        Ok(found) => found,
        Err(methods) if !methods.is_empty() => {
            return Err(ApiError::method_not_allowed(&methods.join(" or ")));
        }
        Err(_) => {
            return Err(ApiError::not_found(format!(
                "no admin resource {} {}",
                request.method, request.path
            )));
        }
    };
    if let Some(scope) = route.scope {
        principal.require(scope, &format!("{} {}", route.method, route.path))?;
    }
    Ok((
        route,
        Call {
            request,
            principal,
            params,
        },
    ))
}

/// Handles any request under `/v1/admin/`, `/metrics` (see [`metrics`]) and
/// the API's description at `/v1/openapi.json`.
pub fn handle(svc: &Service, request: &Request) -> Response {
    if request.path == sluice_api::openapi::PATH {
        return respond(openapi(request));
    }
    respond((|| {
        let (route, call) = authorize(svc, request)?;
        let handler = route.handler.ok_or_else(|| {
            ApiError::not_found(format!(
                "{} {} is not served here",
                route.method, route.path
            ))
        })?;
        let response = handler(svc, &call)?;
        // Only once it succeeded: a refused request writes nothing.
        if response.status < 400 {
            operators::note_use(svc, &call.principal);
        }
        Ok(response)
    })())
}

/// `GET /v1/openapi.json`: the OpenAPI document of the device and admin
/// APIs, to anyone (it is the same for every server of this version).
fn openapi(request: &Request) -> Result<Response, ApiError> {
    if request.method != "GET" && request.method != "HEAD" {
        return Err(ApiError::method_not_allowed("GET"));
    }
    let body = if request.method == "HEAD" {
        Vec::new()
    } else {
        sluice_api::openapi::JSON.as_bytes().to_vec()
    };
    Ok(Response {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "public, max-age=3600".into()),
        ],
        body,
    })
}

fn act(svc: &Service, call: &Call, action: Action) -> Result<Response, ApiError> {
    let record = campaign::apply_action(svc, call.param(0), action, call.actor())?;
    Ok(Response::json(200, &record.view()))
}

fn upload_chunk(svc: &Service, call: &Call) -> Result<Response, ApiError> {
    chunks::upload(svc, call.request, call.param(0))
}

fn publish(svc: &Service, call: &Call) -> Result<Response, ApiError> {
    let published = publish::publish(
        svc,
        &call.request.body,
        call.request.query_param("file_name"),
        call.actor(),
    )?;
    let status = if published.created { 201 } else { 200 };
    Ok(Response::json(status, &published))
}

fn read_audit(svc: &Service, call: &Call) -> Result<Response, ApiError> {
    let number = |name: &str, default: i64| -> Result<i64, ApiError> {
        Ok(call.request.query_number(name)?.unwrap_or(default))
    };
    let after = number("after", 0)?;
    let limit = number("limit", 100)?.clamp(1, audit::MAX_PAGE as i64) as usize;
    Ok(Response::json(200, &audit::read(svc.store, after, limit)?))
}

fn enrol(svc: &Service, call: &Call) -> Result<Response, ApiError> {
    let body: EnrolRequest = call.body()?;
    let actor = call.actor();
    if body.devices.is_empty() || body.devices.len() > MAX_ENROL {
        return Err(ApiError::bad_request(format!(
            "enrol 1 to {MAX_ENROL} devices per request"
        )));
    }
    for (i, d) in body.devices.iter().enumerate() {
        let bad = |what: &str| ApiError::bad_request(format!("devices[{i}].{what}"));
        if !valid_name(&d.id) {
            return Err(bad("id is not a valid name (letters, digits, . _ - + ~)"));
        }
        if !valid_name(&d.hardware) {
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
        if d.version.as_deref().is_some_and(|v| !valid_name(v)) {
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
            crate::fleet::versions::note_version(svc, &d.id, version, d.security_version, now)?;
        }
        enrolled.push(EnrolledDevice { id: d.id, secret });
    }
    for (name, count) in hardware {
        records::add_to_list(svc.store, keys::HARDWARE_INDEX, &name)?;
        svc.store.increment(&counters::hardware_key(&name), count)?;
    }
    let ids: Vec<&str> = enrolled.iter().map(|e| e.id.as_str()).collect();
    audit::append(
        svc.store,
        now,
        actor,
        "device.enrol",
        &format!("{} device(s)", ids.len()),
        None,
        Some(json!({"ids": ids})),
    )?;
    Ok(Response::json(201, &EnrolAnswer { devices: enrolled }))
}

/// Revokes a device: from now on its secret authenticates nothing (check-in,
/// status, manifests, DDI). Revoking a revoked device changes nothing.
fn revoke_device(svc: &Service, call: &Call) -> Result<Response, ApiError> {
    let id = call.param(0);
    let body: RevokeRequest = call.body()?;
    let actor = call.actor();
    let reason = stated_reason(&body.reason)?;
    if !valid_name(id) {
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
                    by: actor.to_owned(),
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
            actor,
            "device.revoke",
            id,
            None,
            Some(json!({"reason": reason})),
        )?;
    }
    Ok(Response::json(
        200,
        &Revoked {
            id: id.to_owned(),
            revoked: revocation,
        },
    ))
}

fn show_device(svc: &Service, call: &Call) -> Result<Response, ApiError> {
    let id = call.param(0);
    if !valid_name(id) {
        return Err(ApiError::not_found("no such device"));
    }
    let keys = [keys::device(id), keys::state(id), keys::seen(id)];
    let values = svc.store.get_many(&keys)?;
    let device: DeviceRecord = records::decode_opt(&keys[0], values[0].as_ref())?
        .ok_or_else(|| ApiError::not_found(format!("no device {id:?}")))?;
    let state: Option<DeviceState> = records::decode_opt(&keys[1], values[1].as_ref())?;
    let seen: Option<Seen> = records::decode_opt(&keys[2], values[2].as_ref())?;
    let DeviceRecord {
        id,
        hardware,
        tags,
        attributes,
        credential: _,
        enrolled_at,
        revoked,
    } = device;
    let detail = DeviceDetail {
        id,
        hardware,
        tags,
        attributes,
        enrolled_at,
        revoked,
        state: state.map(DeviceState::view),
        seen,
    };
    // Through a JSON value, whose keys are sorted: the bytes this route has
    // always answered.
    let sorted = serde_json::to_value(&detail)
        .map_err(|e| ApiError::internal(format!("encoding device {}: {e}", detail.id)))?;
    Ok(Response::json(200, &sorted))
}

/// `GET /v1/admin/devices?q=WORDS&page=N&skip=K&limit=L` (see [`fleet::Query`]).
fn search_devices(svc: &Service, call: &Call) -> Result<Response, ApiError> {
    let request = call.request;
    let query = views::Query::parse(&request.query_text("q")?.unwrap_or_default())?;
    let number = |name: &str| request.query_number::<u64>(name);
    let from = sluice_api::admin::fleet::Cursor {
        page: number("page")?.unwrap_or(0),
        skip: usize::try_from(number("skip")?.unwrap_or(0)).unwrap_or(usize::MAX),
    };
    let limit = usize::try_from(number("limit")?.unwrap_or(50)).unwrap_or(views::MAX_RESULTS);
    Ok(Response::json(
        200,
        &views::search(svc, &query, from, limit)?,
    ))
}

fn read_list(svc: &Service, key: &str) -> Result<Vec<String>, ApiError> {
    Ok(records::read(svc.store, key)?.unwrap_or_default())
}

fn list_releases(svc: &Service) -> Result<Response, ApiError> {
    let versions = read_list(svc, keys::RELEASE_INDEX)?;
    let keys: Vec<String> = versions.iter().map(|v| keys::release(v)).collect();
    let releases: Vec<Release> = records::read_many(svc.store, &keys)?;
    Ok(Response::json(200, &ReleaseList { releases }))
}

fn show_release(svc: &Service, version: &str) -> Result<Response, ApiError> {
    if !valid_name(version) {
        return Err(ApiError::not_found("no such release"));
    }
    let record: Release = records::read(svc.store, &keys::release(version))?
        .ok_or_else(|| ApiError::not_found(format!("no release {version:?}")))?;
    Ok(Response::json(200, &record))
}

fn list_campaigns(svc: &Service) -> Result<Response, ApiError> {
    let ids = read_list(svc, keys::CAMPAIGN_INDEX)?;
    let keys: Vec<String> = ids.iter().map(|id| keys::campaign(id)).collect();
    let campaigns: Vec<CampaignRecord> = records::read_many(svc.store, &keys)?;
    Ok(Response::json(
        200,
        &CampaignList {
            campaigns: campaigns.iter().map(CampaignRecord::view).collect(),
        },
    ))
}

/// Reads a campaign's progress: a handful of round trips, none proportional to
/// the fleet.
pub fn progress(svc: &Service, id: &str) -> Result<Progress, ApiError> {
    if !valid_name(id) {
        return Err(ApiError::not_found("no such campaign"));
    }
    let campaign: CampaignRecord = records::read(svc.store, &keys::campaign(id))?
        .ok_or_else(|| ApiError::not_found(format!("no campaign {id:?}")))?;
    let now = svc.env.now();
    let campaign = campaign::follow_schedule(svc, &campaign, now)?;
    let step = campaign.step_index();
    let stats = counters::read_stats(svc.store, id, step, now)?;
    let steps = counters::read_steps(svc.store, id, step)?
        .into_iter()
        .zip(0..)
        .map(|(counts, index)| StepCounts {
            name: steps::step_name(&campaign, index),
            counts,
        })
        .collect();
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
    let curve = crate::campaigns::curve::read(svc, id, &stats.total, now)?;
    let estimate = crate::campaigns::curve::estimate(&campaign, &curve);
    // A configuration the policy refuses now (it accepted it at creation) is
    // shown as undescribed rather than failing the whole page.
    let described = svc.policy.describe(&campaign.policy).ok().flatten();
    let failure_bounds = vec![
        crate::campaigns::failure_bounds::bound("this step", &stats.step, described.as_ref()),
        crate::campaigns::failure_bounds::bound("the campaign", &stats.total, described.as_ref()),
    ];
    Ok(Progress {
        failure_bounds,
        phases,
        estimate,
        curve: Some(curve),
        campaign: campaign.view(),
        total: stats.total,
        in_flight: stats.in_flight,
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

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_api::openapi::{JSON, OPERATOR_TOKEN};

    /// The OpenAPI document describes exactly the admin routes served here,
    /// each with the scope this table demands.
    #[test]
    fn the_openapi_document_names_every_route_and_its_scope() {
        let document: serde_json::Value = serde_json::from_str(JSON).unwrap();
        let mut described = BTreeMap::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            if !(path.starts_with("/v1/admin/") || path == "/metrics") {
                continue;
            }
            for (method, operation) in item.as_object().unwrap() {
                let scopes = &operation["security"][0][OPERATOR_TOKEN];
                let scope = scopes.as_array().unwrap().first().map(|s| s.to_string());
                described.insert((method.to_ascii_uppercase(), path.clone()), scope);
            }
        }
        let served: BTreeMap<_, _> = ROUTES
            .iter()
            .map(|route| {
                let scope = route.scope.map(|s| format!("{:?}", s.name()));
                ((route.method.to_owned(), route.path.to_owned()), scope)
            })
            .collect();
        assert_eq!(described, served);
    }
}
