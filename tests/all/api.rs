//! The wire API crate against a real host: every answer a client reads, parsed
//! as the `sluice-api` type clients read it with and encoded again, is exactly
//! the JSON the server sent. A field the server sends that the type lacks, or
//! one the type names that the server leaves out, fails here, not in a
//! client's hands. Each answer and request body is also checked against the
//! OpenAPI document the host serves.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sluice_api::admin::audit::{ChainVerifier, Page};
use sluice_api::admin::campaigns::{
    Campaign, CampaignList, CampaignState, NewCampaign, Progress, Recount, Selector,
};
use sluice_api::admin::devices::{DeviceDetail, EventKind, Revoked};
use sluice_api::admin::fleet::{DeviceSearch, FleetSummary};
use sluice_api::admin::four_eyes::FourEyes;
use sluice_api::admin::freezes::{Freeze, FreezeList, NewFreeze};
use sluice_api::admin::operators::{Issued, NewOperator, Operator, OperatorList, Role, WhoAmI};
use sluice_api::admin::preview::{Preview, PreviewRequest};
use sluice_api::admin::releases::{Release, ReleaseList};
use sluice_api::checkin::{CheckinAction, CheckinAnswer};
use sluice_api::instant::Instant;
use sluice_api::status::{Phase, ReportedState, StatusReport};

use crate::support::app::{admin_with, basic, checkin, enrol, publish, release, trust};
use crate::support::cli::scratch;
use crate::support::host::{Answer, Host, HostConfig, http};
use crate::support::openapi::Described;

/// The answer as a `T`, checked to encode back to exactly what was sent.
#[track_caller]
fn exact<T: DeserializeOwned + Serialize>(answer: Answer, status: u16) -> T {
    assert_eq!(answer.status, status, "{}", answer.text());
    let sent: Value = answer.json();
    let parsed: T = serde_json::from_value(sent.clone())
        .unwrap_or_else(|e| panic!("not a {}: {e}\n{sent:#}", std::any::type_name::<T>()));
    let again = serde_json::to_value(&parsed).unwrap();
    assert_eq!(
        again,
        sent,
        "{} does not carry the answer whole",
        std::any::type_name::<T>()
    );
    parsed
}

fn body(value: &impl Serialize) -> Option<Value> {
    Some(serde_json::to_value(value).unwrap())
}

/// Sends admin requests with one token, checking each body and answer
/// against the OpenAPI document.
struct Caller<'a> {
    api: &'a Described,
    host: &'a Host,
    token: String,
}

impl Caller<'_> {
    #[track_caller]
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        if let Some(body) = &body {
            self.api.check_request(method, path, body);
        }
        let answer = admin_with(self.host, &self.token, method, path, body);
        self.api.check_answer(method, path, &answer);
        answer
    }
}

#[test]
fn every_admin_answer_is_exactly_its_api_type() {
    let (_guard, dir) = scratch();
    release(&dir);
    let host =
        Host::start(HostConfig::sluice(&dir.join("state")).variable("trust_root", &trust(&dir)));
    publish(&dir, &host);
    let devices = enrol(&host, &["cam-1".to_owned(), "cam-2".to_owned()]);
    let api = Described::fetch(&host);
    let refused = http("GET", &format!("{}/v1/admin/fleet", host.url), &[], None);
    assert_eq!(refused.status, 401);
    api.check_answer("GET", "/v1/admin/fleet", &refused);
    let owner = Caller {
        api: &api,
        host: &host,
        token: host.token(),
    };

    let releases: ReleaseList = exact(owner.call("GET", "/v1/admin/releases", None), 200);
    assert_eq!(releases.releases.len(), 1);
    let one: Release = exact(owner.call("GET", "/v1/admin/releases/1.2.0", None), 200);
    assert_eq!(one.version, "1.2.0");

    let new = NewCampaign {
        name: "api".into(),
        selector: Selector {
            hardware: vec!["cam-v2".into()],
            ..Selector::default()
        },
        policy: json!({"stages": [{"percent": 100}], "failures": {"max_rate": 0.99}}),
        end_at: Some(Instant(4_000_000_000)),
        ..NewCampaign::new("1.2.0")
    };
    let campaign: Campaign = exact(owner.call("POST", "/v1/admin/campaigns", body(&new)), 201);
    assert_eq!(campaign.state, CampaignState::Running);
    assert_eq!(campaign.end_at, Some(4_000_000_000));
    let path = format!("/v1/admin/campaigns/{}", campaign.id);

    // What `checkin` sends.
    api.check_request(
        "POST",
        "/v1/checkin",
        &json!({"hardware": "cam-v2", "version": "1.0.0", "security_version": 1}),
    );
    let offer = checkin(&host.url, &devices[0], "1.0.0");
    api.check_json("POST", "/v1/checkin", 200, Some(&offer));
    let offer: CheckinAnswer = serde_json::from_value(offer).expect("a check-in answer");
    assert_eq!(offer.action, CheckinAction::Update);

    let paused: Campaign = exact(owner.call("POST", &format!("{path}/pause"), None), 200);
    assert_eq!(paused.state, CampaignState::Paused);
    let resumed: Campaign = exact(owner.call("POST", &format!("{path}/resume"), None), 200);
    assert_eq!(resumed.state, CampaignState::Running);
    let list: CampaignList = exact(owner.call("GET", "/v1/admin/campaigns", None), 200);
    assert_eq!(list.campaigns.len(), 1);
    let progress: Progress = exact(owner.call("GET", &path, None), 200);
    assert_eq!(progress.total.offered, 1);
    let recount: Recount = exact(
        owner.call("POST", &format!("{path}/recount"), Some(json!({}))),
        200,
    );
    assert!(recount.differences.is_empty(), "{recount:?}");

    let freeze = NewFreeze {
        reason: "all-hands".into(),
        start: Instant(3_000_000_000),
        end: Instant(3_000_003_600),
        lead_seconds: None,
        selector: Selector {
            tags: vec!["lobby".into()],
            ..Selector::default()
        },
    };
    let added: Freeze = exact(owner.call("POST", "/v1/admin/freezes", body(&freeze)), 201);
    assert_eq!(added.lead_seconds, 3600);
    let freezes: FreezeList = exact(owner.call("GET", "/v1/admin/freezes", None), 200);
    assert_eq!(freezes.freezes, vec![added.clone()]);
    let _: Freeze = exact(
        owner.call("DELETE", &format!("/v1/admin/freezes/{}", added.id), None),
        200,
    );

    let operator = NewOperator {
        name: "alice".into(),
        roles: vec![Role::Viewer],
        expires_in_seconds: Some(3600),
        never_expires: false,
    };
    let issued: Issued = exact(
        owner.call("POST", "/v1/admin/operators", body(&operator)),
        201,
    );
    let as_alice = Caller {
        token: issued.token.clone(),
        ..owner
    };
    let operators: OperatorList = exact(owner.call("GET", "/v1/admin/operators", None), 200);
    assert_eq!(operators.operators, vec![issued.operator.clone()]);
    let alice: Operator = exact(owner.call("GET", "/v1/admin/operators/alice", None), 200);
    assert_eq!(alice.name, "alice");
    let me: WhoAmI = exact(as_alice.call("GET", "/v1/admin/whoami", None), 200);
    assert_eq!(
        (me.name.as_str(), me.roles.as_slice()),
        ("alice", &[Role::Viewer][..])
    );
    let rotated: Issued = exact(
        owner.call("POST", "/v1/admin/operators/alice/rotate", Some(json!({}))),
        200,
    );
    assert_ne!(rotated.token, issued.token);
    let gone: Operator = exact(
        owner.call(
            "POST",
            "/v1/admin/operators/alice/revoke",
            Some(json!({"reason": "left the team"})),
        ),
        200,
    );
    assert_eq!(gone.name, "alice");
    let metrics = owner.call("GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    let _: FourEyes = exact(owner.call("GET", "/v1/admin/four-eyes", None), 200);

    let fleet: FleetSummary = exact(owner.call("GET", "/v1/admin/fleet", None), 200);
    assert_eq!(fleet.hardware.get("cam-v2"), Some(&2));
    let search: DeviceSearch = exact(owner.call("GET", "/v1/admin/devices?q=cam", None), 200);
    assert_eq!(search.devices.len(), 2);
    let revoked: Revoked = exact(
        owner.call(
            "POST",
            "/v1/admin/devices/cam-2/revoke",
            Some(json!({"reason": "lost"})),
        ),
        200,
    );
    assert_eq!(revoked.revoked.map(|r| r.reason).as_deref(), Some("lost"));
    let offered: DeviceDetail = exact(owner.call("GET", "/v1/admin/devices/cam-1", None), 200);
    let state = offered.state.expect("cam-1 was offered an update");
    assert_eq!(state.rollout.map(|r| r.phase), Some(Phase::Offered));
    assert_eq!(
        state.history.last().map(|e| e.what),
        Some(EventKind::Offered)
    );
    assert_eq!(offered.seen.map(|s| s.version).as_deref(), Some("1.0.0"));
    let unseen: DeviceDetail = exact(owner.call("GET", "/v1/admin/devices/cam-2", None), 200);
    assert!(unseen.revoked.is_some() && unseen.seen.is_none());

    let report = serde_json::to_value(StatusReport {
        campaign: campaign.id.clone(),
        state: ReportedState::Downloading,
        progress: None,
        error: None,
        health: None,
    })
    .unwrap();
    api.check_request("POST", "/v1/status", &report);
    let reported = http(
        "POST",
        &format!("{}/v1/status", host.url),
        &[("authorization", &basic(&devices[0].0, &devices[0].1))],
        Some(report.to_string().as_bytes()),
    );
    assert_eq!(reported.status, 200, "{}", reported.text());
    api.check_answer("POST", "/v1/status", &reported);

    let preview = PreviewRequest {
        policy: json!({"stages": [{"percent": 10, "soak": "1h"}, {"percent": 100}]}),
        critical: false,
        devices: Some(200),
        days: Some(2.0),
        bad_fail_rate: None,
    };
    let previewed: Preview = exact(
        owner.call("POST", "/v1/admin/simulate", body(&preview)),
        200,
    );
    assert_eq!((previewed.devices, previewed.bad_fail_rate), (200, 0.2));
    assert!(previewed.bad.halted, "{previewed:?}");

    let page: Page = exact(owner.call("GET", "/v1/admin/audit?after=0", None), 200);
    let mut verifier = ChainVerifier::default();
    for (position, entry) in page.positioned(0) {
        verifier.push(position, entry);
    }
    let report = verifier.finish(Some(&page.head));
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(report.entries >= 8, "{report:?}");
    host.stop();
}
