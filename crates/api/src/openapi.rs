//! The OpenAPI 3.1 document of Sluice's device API and admin API, built from
//! this crate's types: what an integrator reads instead of the source.
//!
//! The document is generated (with the `schema` feature: schemars derives a
//! JSON Schema 2020-12 for every type here) and committed as
//! `crates/api/openapi.json`, so the components serve [`JSON`] without
//! carrying a schema generator. A unit test regenerates it and fails when the
//! committed file is stale (it rewrites the file, so running the test again
//! passes); the service checks that every admin route it serves is in it with
//! the scope it demands, and the end-to-end suite checks real answers against
//! it.
//!
//! The hawkBit DDI face (`/{tenant}/controller/v1/...`) is hawkBit's API and
//! is described by hawkBit's own documentation, not here.
//!
//! ```
//! let document: serde_json::Value = serde_json::from_str(sluice_api::openapi::JSON).unwrap();
//! assert_eq!(document["openapi"], "3.1.0");
//! assert!(document["paths"]["/v1/checkin"]["post"].is_object());
//! ```

/// Where the admin component serves the document (no token needed).
pub const PATH: &str = "/v1/openapi.json";

/// The document, as committed in `crates/api/openapi.json`.
pub const JSON: &str = include_str!("../openapi.json");

/// The security scheme of operator bearer tokens; an operation's entry lists
/// the scope it needs.
pub const OPERATOR_TOKEN: &str = "operatorToken";

/// The security scheme of device credentials (HTTP Basic `device-id:secret`).
pub const DEVICE_CREDENTIALS: &str = "deviceCredentials";

#[cfg(feature = "schema")]
pub use generate::document;

#[cfg(feature = "schema")]
mod generate {
    use std::collections::BTreeMap;

    use schemars::generate::{SchemaGenerator, SchemaSettings};
    use schemars::{JsonSchema, Schema};
    use serde_json::{Map, Value, json};

    use super::{DEVICE_CREDENTIALS, OPERATOR_TOKEN};
    use crate::admin::operators::Scope;
    use crate::admin::{
        audit, campaigns, devices, fleet, four_eyes, freezes, operators, preview, releases,
    };
    use crate::{checkin, error, status};

    type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

    fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<T>()
    }

    /// Who may call an operation.
    enum Access {
        Public,
        Device,
        /// An operator token; with the scope it must hold (`None`: any).
        Token(Option<Scope>),
    }

    /// A request or answer body.
    enum Body {
        None,
        /// JSON of a type in this crate.
        Json(SchemaFn),
        /// The same, or no body at all (the type's defaults).
        OptionalJson(SchemaFn),
        /// Bytes of another format (content type, what they are).
        Other(&'static str, &'static str),
    }

    struct Answer {
        status: u16,
        description: &'static str,
        body: Body,
    }

    const fn answer(status: u16, description: &'static str, body: Body) -> Answer {
        Answer {
            status,
            description,
            body,
        }
    }

    /// A query parameter: name, JSON type, description.
    type Query = (&'static str, &'static str, &'static str);

    struct Operation {
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        access: Access,
        query: &'static [Query],
        request: Body,
        answers: &'static [Answer],
    }

    /// The campaign operations that take no body and answer the campaign.
    const fn campaign_action(path: &'static str, summary: &'static str) -> Operation {
        Operation {
            method: "POST",
            path,
            summary,
            access: Access::Token(Some(Scope::CampaignOperate)),
            query: &[],
            request: Body::None,
            answers: &[CAMPAIGN],
        }
    }

    const CAMPAIGN: Answer = answer(
        200,
        "the campaign",
        Body::Json(schema::<campaigns::Campaign>),
    );
    const FREEZE: Answer = answer(200, "the freeze", Body::Json(schema::<freezes::Freeze>));
    const OPERATOR: Answer = answer(
        200,
        "the operator",
        Body::Json(schema::<operators::Operator>),
    );
    const CHUNK: &str = "application/octet-stream";

    /// Every operation, device API first, then the admin API in the order of
    /// the service's route table.
    const OPERATIONS: &[Operation] = {
        use Access::{Device, Public, Token};
        use Body::{Json, Other};
        use Scope::*;
        &[
            Operation {
                method: "POST",
                path: "/v1/checkin",
                summary: "A device checks in: what it runs and its telemetry; the answer says whether to update, roll back or do nothing, and when to poll next",
                access: Device,
                query: &[],
                request: Json(schema::<checkin::CheckinReport>),
                answers: &[answer(
                    200,
                    "what to do",
                    Json(schema::<checkin::CheckinAnswer>),
                )],
            },
            Operation {
                method: "POST",
                path: "/v1/status",
                summary: "A device reports an update's progress or outcome; a repeated report counts once",
                access: Device,
                query: &[],
                request: Json(schema::<status::StatusReport>),
                answers: &[answer(
                    200,
                    "whether to go on",
                    Json(schema::<status::StatusAnswer>),
                )],
            },
            Operation {
                method: "GET",
                path: "/v1/releases/{version}/manifest",
                summary: "The signed manifest of the release's image for the calling device's hardware",
                access: Device,
                query: &[],
                request: Body::None,
                answers: &[
                    answer(
                        200,
                        "the manifest exactly as the release was signed (verify it before reading it)",
                        Other(
                            "application/vnd.sluice.manifest+json",
                            "a signed manifest, as `sluice release pack` writes it",
                        ),
                    ),
                    answer(304, "not modified (If-None-Match)", Body::None),
                ],
            },
            Operation {
                method: "HEAD",
                path: "/v1/releases/{version}/manifest",
                summary: "The manifest's headers (its ETag), without its bytes",
                access: Device,
                query: &[],
                request: Body::None,
                answers: &[
                    answer(200, "the manifest's headers", Body::None),
                    answer(304, "not modified (If-None-Match)", Body::None),
                ],
            },
            Operation {
                method: "GET",
                path: "/v1/chunks/{sha256}",
                summary: "A chunk by the SHA-256 of its bytes; immutable, cacheable for ever, resumable with Range and If-Range",
                access: Public,
                query: &[],
                request: Body::None,
                answers: &[
                    answer(200, "the chunk", Other(CHUNK, "the chunk's bytes")),
                    answer(
                        206,
                        "the requested range",
                        Other(CHUNK, "bytes of the chunk"),
                    ),
                    answer(304, "not modified (If-None-Match)", Body::None),
                ],
            },
            Operation {
                method: "HEAD",
                path: "/v1/chunks/{sha256}",
                summary: "Whether a chunk is served, and its length",
                access: Public,
                query: &[],
                request: Body::None,
                answers: &[
                    answer(200, "the chunk's headers", Body::None),
                    answer(206, "the requested range's headers", Body::None),
                    answer(304, "not modified (If-None-Match)", Body::None),
                ],
            },
            Operation {
                method: "GET",
                path: super::PATH,
                summary: "This document",
                access: Public,
                query: &[],
                request: Body::None,
                answers: &[answer(
                    200,
                    "the OpenAPI document",
                    Other("application/json", "OpenAPI 3.1"),
                )],
            },
            Operation {
                method: "HEAD",
                path: super::PATH,
                summary: "This document's headers",
                access: Public,
                query: &[],
                request: Body::None,
                answers: &[answer(200, "the document's headers", Body::None)],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/devices",
                summary: "Enrol devices; their secrets are answered this once",
                access: Token(Some(DeviceEnrol)),
                query: &[],
                request: Json(schema::<devices::EnrolRequest>),
                answers: &[answer(
                    201,
                    "the enrolled devices and their secrets",
                    Json(schema::<devices::EnrolAnswer>),
                )],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/devices",
                summary: "Search the fleet",
                access: Token(Some(FleetRead)),
                query: &[
                    (
                        "q",
                        "string",
                        "words: `key:value` terms (hardware, version, tag, site, liveness...) and free text, all of which must match",
                    ),
                    (
                        "page",
                        "integer",
                        "where to go on: the `next` cursor's page",
                    ),
                    (
                        "skip",
                        "integer",
                        "where to go on: the `next` cursor's skip",
                    ),
                    ("limit", "integer", "most rows to answer (50 unless given)"),
                ],
                request: Body::None,
                answers: &[answer(
                    200,
                    "matching devices",
                    Json(schema::<fleet::DeviceSearch>),
                )],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/devices/{id}",
                summary: "A device's enrolment, rollout state, history and last check-in",
                access: Token(Some(FleetRead)),
                query: &[],
                request: Body::None,
                answers: &[answer(
                    200,
                    "the device",
                    Json(schema::<devices::DeviceDetail>),
                )],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/devices/{id}/revoke",
                summary: "Revoke a device: its secret opens nothing any more",
                access: Token(Some(DeviceRevoke)),
                query: &[],
                request: Json(schema::<operators::RevokeRequest>),
                answers: &[answer(
                    200,
                    "the revocation",
                    Json(schema::<devices::Revoked>),
                )],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/fleet",
                summary: "The fleet's summary: counts by version, hardware and liveness",
                access: Token(Some(FleetRead)),
                query: &[],
                request: Body::None,
                answers: &[answer(
                    200,
                    "the summary",
                    Json(schema::<fleet::FleetSummary>),
                )],
            },
            Operation {
                method: "PUT",
                path: "/v1/admin/chunks/{sha256}",
                summary: "Upload a chunk; refused unless its bytes hash to its name",
                access: Token(Some(ReleasePublish)),
                query: &[],
                request: Other(CHUNK, "the chunk's bytes"),
                answers: &[
                    answer(201, "stored", Json(schema::<releases::ChunkStored>)),
                    answer(200, "already stored", Json(schema::<releases::ChunkStored>)),
                ],
            },
            Operation {
                method: "HEAD",
                path: "/v1/admin/chunks/{sha256}",
                summary: "Whether a chunk is stored (200) or not (404)",
                access: Token(Some(ReleasePublish)),
                query: &[],
                request: Body::None,
                answers: &[
                    answer(200, "stored", Body::None),
                    answer(404, "not stored (no body)", Body::None),
                ],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/releases",
                summary: "Publish a signed manifest (its chunks uploaded first)",
                access: Token(Some(ReleasePublish)),
                query: &[(
                    "file_name",
                    "string",
                    "the image's file name for hawkBit DDI clients (e.g. `fw.swu`): letters, digits and `. _ - +`, not starting with a dot, at most 128 bytes, sent as is (not percent-encoded)",
                )],
                request: Other(
                    "application/json",
                    "the `manifest` file `sluice release pack` wrote",
                ),
                answers: &[
                    answer(201, "published", Json(schema::<releases::Published>)),
                    answer(
                        200,
                        "this exact manifest was published already",
                        Json(schema::<releases::Published>),
                    ),
                ],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/releases",
                summary: "Every release",
                access: Token(Some(FleetRead)),
                query: &[],
                request: Body::None,
                answers: &[answer(
                    200,
                    "the releases",
                    Json(schema::<releases::ReleaseList>),
                )],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/releases/{version}",
                summary: "One release",
                access: Token(Some(FleetRead)),
                query: &[],
                request: Body::None,
                answers: &[answer(
                    200,
                    "the release",
                    Json(schema::<releases::Release>),
                )],
            },
            Operation {
                method: "PUT",
                path: "/v1/admin/key-statement",
                summary: "Give the server a newer root-signed key statement",
                access: Token(Some(KeysManage)),
                query: &[],
                request: Other(
                    "application/json",
                    "a key statement signed by the root key, as `sluice keygen` writes it",
                ),
                answers: &[answer(
                    200,
                    "the version now stored",
                    Json(schema::<releases::KeyStatementStored>),
                )],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/campaigns",
                summary: "Create a campaign (a critical one waits for a second operator's confirmation)",
                access: Token(Some(CampaignCreate)),
                query: &[],
                request: Json(schema::<campaigns::NewCampaign>),
                answers: &[answer(
                    201,
                    "the campaign",
                    Json(schema::<campaigns::Campaign>),
                )],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/simulate",
                summary: "Preview a campaign: the policy this server runs, on a simulated fleet shaped like the real one",
                access: Token(Some(CampaignCreate)),
                query: &[],
                request: Json(schema::<preview::PreviewRequest>),
                answers: &[answer(200, "the preview", Json(schema::<preview::Preview>))],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/campaigns",
                summary: "Every campaign",
                access: Token(Some(FleetRead)),
                query: &[],
                request: Body::None,
                answers: &[answer(
                    200,
                    "the campaigns",
                    Json(schema::<campaigns::CampaignList>),
                )],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/campaigns/{id}",
                summary: "A campaign with its progress: counts, steps, failure codes, the policy's bound and estimate",
                access: Token(Some(FleetRead)),
                query: &[],
                request: Body::None,
                answers: &[answer(
                    200,
                    "the campaign's progress",
                    Json(schema::<campaigns::Progress>),
                )],
            },
            campaign_action(
                "/v1/admin/campaigns/{id}/pause",
                "Pause a campaign: no new offers",
            ),
            campaign_action(
                "/v1/admin/campaigns/{id}/resume",
                "Resume a paused or halted campaign",
            ),
            campaign_action(
                "/v1/admin/campaigns/{id}/abort",
                "Abort a campaign: devices are told to stop",
            ),
            campaign_action(
                "/v1/admin/campaigns/{id}/rollback",
                "Roll a campaign back: devices that installed it return to their previous image",
            ),
            Operation {
                method: "POST",
                path: "/v1/admin/campaigns/{id}/recount",
                summary: "Recount a campaign's counters from its devices' records (a dry run unless `apply`)",
                access: Token(Some(CampaignOperate)),
                query: &[],
                request: Body::OptionalJson(schema::<campaigns::RecountRequest>),
                answers: &[answer(
                    200,
                    "what the recount found",
                    Json(schema::<campaigns::Recount>),
                )],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/campaigns/{id}/approve",
                summary: "Open the step a gate holds; never by the campaign's creator",
                access: Token(Some(CampaignApprove)),
                query: &[],
                request: Body::OptionalJson(schema::<campaigns::ApproveRequest>),
                answers: &[CAMPAIGN],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/campaigns/{id}/confirm-critical",
                summary: "Confirm a critical campaign (a second operator)",
                access: Token(Some(CampaignApprove)),
                query: &[],
                request: Body::None,
                answers: &[CAMPAIGN],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/campaigns/{id}/override-freeze",
                summary: "Ask to let a critical campaign pass a freeze",
                access: Token(Some(FreezeOverride)),
                query: &[],
                request: Json(schema::<campaigns::OverrideFreezeRequest>),
                answers: &[CAMPAIGN],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/campaigns/{id}/confirm-override",
                summary: "Confirm a freeze override (a second operator)",
                access: Token(Some(FreezeOverride)),
                query: &[],
                request: Json(schema::<campaigns::ConfirmOverrideRequest>),
                answers: &[CAMPAIGN],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/freezes",
                summary: "Change freezes",
                access: Token(Some(FleetRead)),
                query: &[],
                request: Body::None,
                answers: &[answer(
                    200,
                    "the freezes",
                    Json(schema::<freezes::FreezeList>),
                )],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/freezes",
                summary: "Declare a change freeze",
                access: Token(Some(FreezeManage)),
                query: &[],
                request: Json(schema::<freezes::NewFreeze>),
                answers: &[answer(201, "the freeze", Json(schema::<freezes::Freeze>))],
            },
            Operation {
                method: "DELETE",
                path: "/v1/admin/freezes/{id}",
                summary: "Lift a freeze; one that holds now is only asked to be lifted (202) until a second operator confirms",
                access: Token(Some(FreezeManage)),
                query: &[],
                request: Body::None,
                answers: &[
                    answer(200, "lifted", Json(schema::<freezes::Freeze>)),
                    answer(
                        202,
                        "asked to lift: waiting for a second operator",
                        Json(schema::<freezes::Freeze>),
                    ),
                ],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/freezes/{id}/confirm-lift",
                summary: "Confirm lifting a freeze that holds (a second operator)",
                access: Token(Some(FreezeOverride)),
                query: &[],
                request: Body::None,
                answers: &[FREEZE],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/audit",
                summary: "The audit log, a page at a time, with the missing positions and the chain's head",
                access: Token(Some(AuditRead)),
                query: &[
                    (
                        "after",
                        "integer",
                        "answer entries after this position (0 unless given)",
                    ),
                    ("limit", "integer", "most entries to answer"),
                ],
                request: Body::None,
                answers: &[answer(
                    200,
                    "a page of the log",
                    Json(schema::<audit::Page>),
                )],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/operators",
                summary: "Every operator",
                access: Token(Some(OperatorManage)),
                query: &[],
                request: Body::None,
                answers: &[answer(
                    200,
                    "the operators",
                    Json(schema::<operators::OperatorList>),
                )],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/operators",
                summary: "Add an operator; the token is answered this once",
                access: Token(Some(OperatorManage)),
                query: &[],
                request: Json(schema::<operators::NewOperator>),
                answers: &[answer(
                    201,
                    "the operator and its token",
                    Json(schema::<operators::Issued>),
                )],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/operators/{name}",
                summary: "One operator",
                access: Token(Some(OperatorManage)),
                query: &[],
                request: Body::None,
                answers: &[OPERATOR],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/operators/{name}/revoke",
                summary: "Revoke an operator's token",
                access: Token(Some(OperatorManage)),
                query: &[],
                request: Json(schema::<operators::RevokeRequest>),
                answers: &[OPERATOR],
            },
            Operation {
                method: "POST",
                path: "/v1/admin/operators/{name}/rotate",
                summary: "Give an operator a new token (the old one stops working); answered this once",
                access: Token(Some(OperatorManage)),
                query: &[],
                request: Body::OptionalJson(schema::<operators::TokenLifetime>),
                answers: &[answer(
                    200,
                    "the operator and its new token",
                    Json(schema::<operators::Issued>),
                )],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/four-eyes",
                summary: "The four-eyes rule: which actions need a second operator",
                access: Token(Some(FleetRead)),
                query: &[],
                request: Body::None,
                answers: &[answer(200, "the rule", Json(schema::<four_eyes::FourEyes>))],
            },
            Operation {
                method: "PUT",
                path: "/v1/admin/four-eyes",
                summary: "Change the four-eyes rule",
                access: Token(Some(OperatorManage)),
                query: &[],
                request: Json(schema::<four_eyes::SetFourEyes>),
                answers: &[answer(
                    200,
                    "the setting now",
                    Json(schema::<four_eyes::Setting>),
                )],
            },
            Operation {
                method: "GET",
                path: "/v1/admin/whoami",
                summary: "The caller's name, roles, scopes and expiry",
                access: Token(None),
                query: &[],
                request: Body::None,
                answers: &[answer(
                    200,
                    "who the token stands for",
                    Json(schema::<operators::WhoAmI>),
                )],
            },
            Operation {
                method: "GET",
                path: "/metrics",
                summary: "The fleet's counters in the Prometheus text format",
                access: Token(Some(MetricsRead)),
                query: &[],
                request: Body::None,
                answers: &[answer(
                    200,
                    "the counters",
                    Other(
                        "text/plain; version=0.0.4; charset=utf-8",
                        "Prometheus text exposition",
                    ),
                )],
            },
        ]
    };

    /// Where schemas live in the document.
    const COMPONENTS: &str = "/components/schemas";

    /// Schemas of request bodies (as they are parsed) and of answers (as they
    /// are written); a type whose two schemas differ is named `NameInput` on
    /// the request side.
    struct Schemas {
        requests: SchemaGenerator,
        answers: SchemaGenerator,
    }

    impl Schemas {
        fn new() -> Schemas {
            let settings = SchemaSettings::draft2020_12().with(|s| {
                s.definitions_path = COMPONENTS.into();
                s.meta_schema = None;
            });
            Schemas {
                requests: settings.clone().for_deserialize().into_generator(),
                answers: settings.for_serialize().into_generator(),
            }
        }

        /// The `components.schemas` object, and the request-side names to
        /// rename in request schemas.
        fn finish(mut self) -> (Map<String, Value>, BTreeMap<String, String>) {
            let answers = self.answers.take_definitions(true);
            let requests = self.requests.take_definitions(true);
            // A type is renamed when its request schema differs, including
            // through a type it refers to that was renamed: repeat until no
            // more differ (the set only grows, so this ends).
            let mut renamed = BTreeMap::new();
            loop {
                let differing: BTreeMap<String, String> = requests
                    .iter()
                    .filter(|(name, schema)| {
                        let mut schema = (*schema).clone();
                        rename_refs(&mut schema, &renamed);
                        answers.get(*name).is_some_and(|a| *a != schema)
                    })
                    .map(|(name, _)| (name.clone(), format!("{name}Input")))
                    .collect();
                if differing == renamed {
                    break;
                }
                renamed = differing;
            }
            let mut all = answers;
            for (name, mut schema) in requests {
                rename_refs(&mut schema, &renamed);
                let name = renamed.get(&name).cloned().unwrap_or(name);
                all.entry(name).or_insert(schema);
            }
            (all.into_iter().collect(), renamed)
        }
    }

    /// Cuts the Rust examples out of descriptions taken from doc comments: an
    /// integrator reads prose, not doctests.
    fn prose_only(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    match v {
                        Value::String(text) if key == "description" => {
                            if let Some(at) = text.find("```") {
                                text.truncate(at);
                                text.truncate(text.trim_end().len());
                            }
                        }
                        _ => prose_only(v),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(prose_only),
            _ => {}
        }
    }

    /// Points `$ref`s at renamed schemas.
    fn rename_refs(value: &mut Value, renamed: &BTreeMap<String, String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if key == "$ref"
                        && let Value::String(target) = v
                        && let Some(name) = target.strip_prefix(&format!("#{COMPONENTS}/"))
                        && let Some(new) = renamed.get(name)
                    {
                        *target = format!("#{COMPONENTS}/{new}");
                    } else {
                        rename_refs(v, renamed);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renamed)),
            _ => {}
        }
    }

    fn content(body: &Body, generator: &mut SchemaGenerator) -> Option<Value> {
        match body {
            Body::None => None,
            Body::Json(schema) | Body::OptionalJson(schema) => {
                Some(json!({"application/json": {"schema": schema(generator)}}))
            }
            Body::Other(content_type, description) => Some(json!({
                *content_type: {"schema": {"description": description}}
            })),
        }
    }

    fn security(access: &Access) -> Value {
        match access {
            Access::Public => json!([]),
            Access::Device => json!([{ DEVICE_CREDENTIALS: [] }]),
            Access::Token(None) => json!([{ OPERATOR_TOKEN: [] }]),
            Access::Token(Some(scope)) => json!([{ OPERATOR_TOKEN: [scope.name()] }]),
        }
    }

    fn parameters(operation: &Operation) -> Vec<Value> {
        let path = operation
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            });
        let query = operation.query.iter().map(|(name, kind, description)| {
            let schema = if *kind == "integer" {
                json!({"type": "integer", "minimum": 0})
            } else {
                json!({"type": kind})
            };
            json!({"name": name, "in": "query", "description": description, "schema": schema})
        });
        path.chain(query).collect()
    }

    /// The OpenAPI 3.1 document, as committed in `crates/api/openapi.json`.
    pub fn document() -> Value {
        let mut schemas = Schemas::new();
        let mut paths: Map<String, Value> = Map::new();
        let mut request_bodies = Vec::new();
        for operation in OPERATIONS {
            let mut entry = Map::new();
            entry.insert("summary".into(), operation.summary.into());
            entry.insert("security".into(), security(&operation.access));
            let parameters = parameters(operation);
            if !parameters.is_empty() {
                entry.insert("parameters".into(), parameters.into());
            }
            if let Some(content) = content(&operation.request, &mut schemas.requests) {
                request_bodies.push((operation.path, operation.method));
                entry.insert(
                    "requestBody".into(),
                    json!({
                        "required": !matches!(operation.request, Body::OptionalJson(_)),
                        "content": content
                    }),
                );
            }
            let mut responses = Map::new();
            for answer in operation.answers {
                let mut response = Map::new();
                response.insert("description".into(), answer.description.into());
                if let Some(content) = content(&answer.body, &mut schemas.answers) {
                    response.insert("content".into(), content);
                }
                responses.insert(answer.status.to_string(), response.into());
            }
            let refused = content(
                &Body::Json(schema::<error::ErrorAnswer>),
                &mut schemas.answers,
            );
            responses.insert(
                "default".into(),
                json!({"description": "refused: a stable error code and a message for people", "content": refused}),
            );
            entry.insert("responses".into(), responses.into());
            let item = paths
                .entry(operation.path)
                .or_insert_with(|| Value::Object(Map::new()));
            item[operation.method.to_ascii_lowercase()] = entry.into();
        }
        let (mut components, renamed) = schemas.finish();
        components.values_mut().for_each(prose_only);
        for (path, method) in request_bodies {
            let body = &mut paths[path][method.to_ascii_lowercase()]["requestBody"];
            rename_refs(body, &renamed);
        }
        json!({
            "openapi": "3.1.0",
            "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
            "info": {
                "title": "Sluice",
                "version": env!("CARGO_PKG_VERSION"),
                "summary": "Over-the-air firmware updates: the device API and the operator API",
                "description": "Devices check in, fetch signed manifests and chunks, and report status with their own credentials; operators use bearer tokens whose scopes each operation names. Every refused request answers a JSON error with a stable code. Generated from the sluice-api crate.",
                "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
            },
            "paths": paths,
            "components": {
                "schemas": components,
                "securitySchemes": {
                    OPERATOR_TOKEN: {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "An operator token (`sluice operator add`) or the owner token; the operation's entry lists the scope it needs"
                    },
                    DEVICE_CREDENTIALS: {
                        "type": "http",
                        "scheme": "basic",
                        "description": "`device-id:secret`, the secret from enrolment"
                    }
                }
            }
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The committed document is the generated one. When it is not, the
        /// file is rewritten so that the next run passes and the change shows
        /// in `git diff`.
        #[test]
        fn the_committed_document_is_current() {
            let generated = serde_json::to_string_pretty(&document()).unwrap() + "\n";
            if generated != super::super::JSON {
                let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
                std::fs::write(path, &generated).unwrap();
                panic!("crates/api/openapi.json was stale and has been regenerated: commit it");
            }
        }

        #[test]
        fn every_reference_resolves() {
            let document = document();
            let mut refs = Vec::new();
            collect_refs(&document, &mut refs);
            assert!(!refs.is_empty());
            for target in refs {
                let pointer = target.strip_prefix('#').unwrap();
                assert!(
                    document.pointer(pointer).is_some(),
                    "{target} names nothing"
                );
            }
        }

        fn collect_refs(value: &Value, into: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (key, v) in map {
                        match v {
                            Value::String(s) if key == "$ref" => into.push(s.clone()),
                            _ => collect_refs(v, into),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
                _ => {}
            }
        }
    }
}
