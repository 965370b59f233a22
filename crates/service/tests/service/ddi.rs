//! hawkBit DDI: each endpoint's JSON shape, the mapping onto campaigns, and
//! every bad input.

use md5::Digest as _;

use super::*;

const BASE: &str = "/DEFAULT/controller/v1";

pub(crate) fn target(dev: &Dev) -> String {
    format!("TargetToken {}", dev.secret)
}

impl Fleet {
    fn ddi(&self, dev: &Dev, method: &str, rest: &str, body: &str) -> Response {
        self.ddi_as(
            &target(dev),
            method,
            &format!("{BASE}/{}{rest}", dev.id),
            body,
        )
    }

    pub(crate) fn ddi_as(
        &self,
        authorization: &str,
        method: &str,
        path: &str,
        body: &str,
    ) -> Response {
        self.call(
            Request::new(method, path)
                .header("authorization", authorization)
                .header("host", "sluice.test")
                .body(body.to_owned()),
        )
    }

    pub(crate) fn enrol_ddi(&self, id: &str, version: &str) -> Dev {
        let r = self.admin(
            "POST",
            "/v1/admin/devices",
            json!({"devices": [{"id": id, "hardware": "cam-v2", "version": version, "security_version": 1}]})
                .to_string(),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        Dev {
            id: id.into(),
            secret: r.json_body()["devices"][0]["secret"]
                .as_str()
                .unwrap()
                .into(),
            hardware: "cam-v2".into(),
        }
    }

    /// Publishes `version` for cam-v2 under a DDI file name; returns its image.
    pub(crate) fn publish_swu(&self, version: &str, file_name: &str) -> Vec<u8> {
        let image = image(version, 3500);
        let (manifest, chunks) = self.pack(version, &["cam-v2"], 1, &image);
        self.upload(&chunks);
        let r = self.admin(
            "POST",
            &format!("/v1/admin/releases?file_name={file_name}"),
            manifest,
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        image
    }

    pub(crate) fn poll(&self, dev: &Dev) -> Value {
        let r = self.ddi(dev, "GET", "", "");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json_body()
    }

    fn state_of(&self, dev: &Dev) -> Value {
        self.admin("GET", &format!("/v1/admin/devices/{}", dev.id), "")
            .json_body()["state"]
            .clone()
    }
}

/// The path of an absolute link from a DDI answer.
pub(crate) fn path_of(href: &Value) -> String {
    let href = href.as_str().expect("href");
    let rest = href
        .strip_prefix("http://sluice.test")
        .unwrap_or_else(|| panic!("{href} is not absolute on the request's host"));
    rest.to_owned()
}

fn feedback(execution: &str, finished: &str) -> String {
    json!({"id": "1", "time": "20261125T120000",
           "status": {"execution": execution, "result": {"finished": finished}, "details": ["step"]}})
    .to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_ddi_controller_polls_downloads_and_reports_success() {
    let fleet = Fleet::new();
    let dev = fleet.enrol_ddi("ddi-1", "1.0");
    let image = fleet.publish_swu("2.0", "fw.swu");

    // Nothing to do: one poll, no deployment link, a jittered sleep.
    let idle = fleet.poll(&dev);
    let sleep = idle["config"]["polling"]["sleep"].as_str().unwrap();
    assert!(
        sleep.len() == 8 && sleep.as_bytes()[2] == b':' && sleep.as_bytes()[5] == b':',
        "{sleep}"
    );
    assert!(idle["_links"].get("deploymentBase").is_none(), "{idle}");
    assert!(idle["_links"]["configData"]["href"].is_string(), "{idle}");

    let campaign = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    let poll = fleet.poll(&dev);
    let deployment_path = path_of(&poll["_links"]["deploymentBase"]["href"]);
    assert!(
        deployment_path.starts_with("/DEFAULT/controller/v1/ddi-1/deploymentBase/"),
        "{deployment_path}"
    );
    assert_eq!(fleet.progress(&campaign)["total"]["offered"], 1);

    let r = fleet.ddi_as(&target(&dev), "GET", &deployment_path, "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let d = r.json_body();
    let action = d["id"].as_str().unwrap().to_owned();
    assert!(action.parse::<u32>().is_ok(), "{d}");
    assert!(deployment_path.ends_with(&format!("/{action}")));
    assert_eq!(d["deployment"]["download"], "attempt");
    assert_eq!(d["deployment"]["update"], "attempt");
    assert_eq!(d["deployment"]["maintenanceWindow"], "available");
    let chunk = &d["deployment"]["chunks"][0];
    assert_eq!(chunk["part"], "os");
    assert_eq!(chunk["version"], "2.0");
    assert_eq!(chunk["name"], "cam-v2");
    let artifact = &chunk["artifacts"][0];
    assert_eq!(artifact["filename"], "fw.swu");
    assert_eq!(artifact["size"], 3500);
    assert_eq!(
        artifact["hashes"]["sha256"],
        sluice_protocol::Digest::of(&image).to_string()
    );
    assert_eq!(artifact["hashes"]["sha1"], hex(&sha1::Sha1::digest(&image)));
    assert_eq!(artifact["hashes"]["md5"], hex(&md5::Md5::digest(&image)));
    let download = path_of(&artifact["_links"]["download-http"]["href"]);
    assert_eq!(
        artifact["_links"]["download"],
        artifact["_links"]["download-http"]
    );

    // The whole image, then ranges.
    let r = fleet.ddi_as(&target(&dev), "GET", &download, "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, image);
    assert_eq!(r.header("content-length"), Some("3500"));
    let etag = r.header("etag").unwrap().to_owned();
    let ranged = |range: &str, extra: Option<(&str, &str)>| {
        let mut request = Request::new("GET", &download)
            .header("authorization", &target(&dev))
            .header("range", range);
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        fleet.call(request)
    };
    let r = ranged("bytes=990-1009", None);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &image[990..1010], "a range across a chunk boundary");
    assert_eq!(r.header("content-range"), Some("bytes 990-1009/3500"));
    let r = ranged("bytes=0-1,3498-", None);
    assert_eq!(r.status, 206);
    let content_type = r.header("content-type").unwrap().to_owned();
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap();
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(text.matches(&format!("--{boundary}")).count(), 3, "{text}");
    assert!(text.contains("content-range: bytes 0-1/3500"));
    assert!(text.contains("content-range: bytes 3498-3499/3500"));
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    assert_eq!(ranged("bytes=4000-", None).status, 416);
    let r = ranged("bytes=0-9", Some(("if-range", "\"stale\"")));
    assert_eq!((r.status, r.body.len()), (200, 3500));
    let r = ranged("bytes=0-9", Some(("if-range", &etag)));
    assert_eq!((r.status, r.body.len()), (206, 10));
    assert_eq!(
        ranged("bytes=0-9", Some(("if-match", "\"other\""))).status,
        412
    );
    assert_eq!(ranged("bytes=0-9", Some(("if-match", &etag))).status, 206);
    let r = fleet.ddi_as(&target(&dev), "HEAD", &download, "");
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(r.header("content-length"), Some("3500"));
    let r = fleet.ddi_as(&target(&dev), "GET", &format!("{download}.MD5SUM"), "");
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        format!("{}  fw.swu\n", hex(&md5::Md5::digest(&image)))
    );

    // Feedback: progress, then success.
    let feedback_path = format!("{deployment_path}/feedback");
    for execution in ["proceeding", "download", "downloaded"] {
        let r = fleet.ddi_as(
            &target(&dev),
            "POST",
            &feedback_path,
            &feedback(execution, "none"),
        );
        assert_eq!(
            r.status,
            200,
            "{execution}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(fleet.state_of(&dev)["rollout"]["phase"], "downloaded");
    let r = fleet.ddi_as(
        &target(&dev),
        "POST",
        &feedback_path,
        &feedback("closed", "success"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(fleet.progress(&campaign)["total"]["succeeded"], 1);
    assert_eq!(fleet.state_of(&dev)["version"], "2.0");
    // The action is closed: more feedback is gone.
    let r = fleet.ddi_as(
        &target(&dev),
        "POST",
        &feedback_path,
        &feedback("closed", "success"),
    );
    assert_error(&r, 410, "action_closed");

    // Up to date: no deployment, and the installed base.
    let poll = fleet.poll(&dev);
    assert!(poll["_links"].get("deploymentBase").is_none(), "{poll}");
    let installed = path_of(&poll["_links"]["installedBase"]["href"]);
    assert!(installed.ends_with(&format!("/installedBase/{action}")));
    let r = fleet.ddi_as(&target(&dev), "GET", &installed, "");
    assert_eq!(r.status, 200);
    assert_eq!(r.json_body()["deployment"]["chunks"][0]["version"], "2.0");
}

#[test]
fn failure_feedback_counts_for_the_campaign() {
    let fleet = Fleet::new();
    let dev = fleet.enrol_ddi("ddi-1", "1.0");
    fleet.publish_swu("2.0", "fw.swu");
    let campaign = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    let path = path_of(&fleet.poll(&dev)["_links"]["deploymentBase"]["href"]);
    let body = json!({"status": {"execution": "closed", "result": {"finished": "failure"},
                                 "code": 7, "details": ["image hash mismatch"]}});
    let r = fleet.ddi_as(
        &target(&dev),
        "POST",
        &format!("{path}/feedback"),
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let progress = fleet.progress(&campaign);
    assert_eq!(progress["total"]["failed"], 1, "{progress}");
    let state = fleet.state_of(&dev);
    assert_eq!(state["rollout"]["failure"]["code"], "ddi-7");
    assert_eq!(state["rollout"]["failure"]["detail"], "image hash mismatch");
    assert_eq!(state["version"], "1.0");
}

#[test]
fn bad_ddi_requests_get_clear_errors_and_change_nothing() {
    let fleet = Fleet::new();
    let a = fleet.enrol_ddi("ddi-a", "1.0");
    let b = fleet.enrol_ddi("ddi-b", "1.0");
    fleet.publish_swu("2.0", "fw.swu");
    fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    let poll_a = |auth: &str, path: &str| fleet.ddi_as(auth, "GET", path, "");

    // Authentication: missing, wrong scheme, wrong token, another controller's
    // token, an unknown controller, an unknown tenant.
    let r = fleet.call(Request::new("GET", &format!("{BASE}/ddi-a")));
    assert_error(&r, 401, "unauthorized");
    assert_error(
        &poll_a(&format!("Bearer {}", a.secret), &format!("{BASE}/ddi-a")),
        401,
        "unauthorized",
    );
    assert_error(
        &poll_a("TargetToken nope", &format!("{BASE}/ddi-a")),
        401,
        "unauthorized",
    );
    assert_error(
        &poll_a(&target(&b), &format!("{BASE}/ddi-a")),
        401,
        "unauthorized",
    );
    assert_error(
        &poll_a(&target(&a), &format!("{BASE}/ghost")),
        401,
        "unauthorized",
    );
    assert_error(
        &poll_a(&target(&a), "/OTHER/controller/v1/ddi-a"),
        404,
        "not_found",
    );
    // A gateway token is refused unless configured.
    assert_error(
        &poll_a("GatewayToken gw", &format!("{BASE}/ddi-a")),
        401,
        "unauthorized",
    );
    assert_eq!(
        fleet.progress_offers(),
        0,
        "no failed request made an offer"
    );

    let path = path_of(&fleet.poll(&a)["_links"]["deploymentBase"]["href"]);
    // Another controller cannot read or report on a's action.
    let b_path = path.replace("/ddi-a/", "/ddi-b/");
    assert_error(
        &fleet.ddi_as(&target(&b), "GET", &b_path, ""),
        404,
        "not_found",
    );
    assert_error(
        &fleet.ddi_as(&target(&b), "GET", &path, ""),
        401,
        "unauthorized",
    );
    // Bad action ids.
    assert_error(
        &fleet.ddi(&a, "GET", "/deploymentBase/abc", ""),
        400,
        "bad_request",
    );
    assert_error(
        &fleet.ddi(&a, "GET", "/deploymentBase/99999999999", ""),
        400,
        "bad_request",
    );
    assert_error(
        &fleet.ddi(&a, "GET", "/deploymentBase/12345", ""),
        404,
        "not_found",
    );
    assert_error(
        &fleet.ddi(&a, "GET", "/cancelAction/12345", ""),
        404,
        "not_found",
    );
    assert_error(
        &fleet.ddi(&a, "GET", "/installedBase/12345", ""),
        404,
        "not_found",
    );
    // Malformed feedback.
    let fb = format!("{path}/feedback");
    for (body, why) in [
        ("{", "not JSON"),
        ("{}", "no status"),
        (r#"{"status": {}}"#, "no execution"),
        (
            r#"{"status": {"execution": "exploded"}}"#,
            "unknown execution",
        ),
        (
            r#"{"status": {"execution": "closed"}}"#,
            "closed without a result",
        ),
        (
            r#"{"status": {"execution": "closed", "result": {"finished": "maybe"}}}"#,
            "unknown result",
        ),
    ] {
        let r = fleet.ddi_as(&target(&a), "POST", &fb, body);
        assert_eq!(r.status, 400, "{why}: {}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(fleet.state_of(&a)["rollout"]["phase"], "offered");
    // SWUpdate's raw newlines inside details, and cnt above of, are accepted.
    let swupdate = "{\"id\": 7, \"status\": {\"execution\": \"proceeding\", \"result\": {\"finished\": \"none\", \"progress\": {\"cnt\": 5, \"of\": 2}}, \"details\": [\"line one\nline two\"]}}";
    let r = fleet.ddi_as(&target(&a), "POST", &fb, swupdate);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let huge = format!(
        r#"{{"status": {{"execution": "proceeding", "details": ["{}"]}}}}"#,
        "x".repeat(300_000)
    );
    assert_eq!(fleet.ddi_as(&target(&a), "POST", &fb, &huge).status, 413);
    // Wrong methods and unknown resources.
    assert_eq!(fleet.ddi(&a, "POST", "", "").status, 405);
    assert_eq!(fleet.ddi(&a, "GET", "/configData", "").status, 405);
    assert_error(&fleet.ddi(&a, "GET", "/nothing", ""), 404, "not_found");
    // Artifacts of other modules or names.
    assert_error(
        &fleet.ddi(&a, "GET", "/softwaremodules/1/artifacts/fw.swu", ""),
        404,
        "not_found",
    );
    assert_error(
        &fleet.ddi(&a, "GET", "/softwaremodules/x/artifacts/fw.swu", ""),
        404,
        "not_found",
    );
}

impl Fleet {
    fn progress_offers(&self) -> u64 {
        let campaigns = self.admin("GET", "/v1/admin/campaigns", "").json_body();
        campaigns["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                self.progress(c["id"].as_str().unwrap())["total"]["offered"]
                    .as_u64()
                    .unwrap()
            })
            .sum()
    }
}

#[test]
fn config_data_sets_attributes_that_campaigns_select_on() {
    let fleet = Fleet::new();
    let dev = fleet.enrol_ddi("ddi-1", "1.0");
    let other = fleet.enrol_ddi("ddi-2", "1.0");
    let put = |dev: &Dev, body: Value| fleet.ddi(dev, "PUT", "/configData", &body.to_string());
    assert_eq!(
        put(&dev, json!({"data": {"board": "rev-c", "site": "berlin"}})).status,
        200
    );
    let attributes = |dev: &Dev| {
        fleet
            .admin("GET", &format!("/v1/admin/devices/{}", dev.id), "")
            .json_body()["attributes"]
            .clone()
    };
    assert_eq!(
        attributes(&dev),
        json!({"board": "rev-c", "site": "berlin"})
    );
    assert!(fleet.poll(&dev)["_links"].get("configData").is_none());
    assert_eq!(
        put(&dev, json!({"mode": "merge", "data": {"site": "paris"}})).status,
        200
    );
    assert_eq!(attributes(&dev), json!({"board": "rev-c", "site": "paris"}));
    assert_eq!(
        put(&dev, json!({"mode": "remove", "data": {"site": ""}})).status,
        200
    );
    assert_eq!(attributes(&dev), json!({"board": "rev-c"}));
    assert_eq!(
        put(&dev, json!({"mode": "replace", "data": {"board": "rev-d"}})).status,
        200
    );
    assert_eq!(attributes(&dev), json!({"board": "rev-d"}));
    // Bad bodies change nothing.
    assert_error(
        &put(&dev, json!({"mode": "append", "data": {}})),
        400,
        "bad_request",
    );
    assert_error(
        &put(&dev, json!({"data": {"bad key": "x"}})),
        400,
        "bad_request",
    );
    assert_error(
        &put(&dev, json!({"data": {"k": "x".repeat(300)}})),
        400,
        "bad_request",
    );
    assert_error(&put(&dev, json!({"data": "nope"})), 400, "malformed_json");
    assert_eq!(attributes(&dev), json!({"board": "rev-d"}));

    fleet.publish_swu("2.0", "fw.swu");
    fleet.campaign(json!({"release": "2.0", "policy": all_at_once(),
                          "selector": {"attributes": {"board": "rev-d"}}}));
    assert!(fleet.poll(&dev)["_links"]["deploymentBase"].is_object());
    assert!(fleet.poll(&other)["_links"].get("deploymentBase").is_none());
}

#[test]
fn an_abort_cancels_the_action_and_a_rollback_is_a_deployment() {
    let fleet = Fleet::new();
    let caught = fleet.enrol_ddi("ddi-1", "1.0");
    fleet.publish_swu("1.0", "fw-1.swu");
    fleet.publish_swu("2.0", "fw-2.swu");
    let campaign = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    let path = path_of(&fleet.poll(&caught)["_links"]["deploymentBase"]["href"]);
    let action = path.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        fleet
            .admin("POST", &format!("/v1/admin/campaigns/{campaign}/abort"), "")
            .status,
        200
    );
    let poll = fleet.poll(&caught);
    let cancel = path_of(&poll["_links"]["cancelAction"]["href"]);
    assert!(poll["_links"].get("deploymentBase").is_none(), "{poll}");
    let r = fleet.ddi_as(&target(&caught), "GET", &cancel, "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json_body(),
        json!({"id": action, "cancelAction": {"stopId": action}})
    );
    // Feedback on the aborted deployment is gone; the cancellation is acknowledged once.
    let r = fleet.ddi_as(
        &target(&caught),
        "POST",
        &format!("{path}/feedback"),
        &feedback("proceeding", "none"),
    );
    assert_error(&r, 410, "action_closed");
    let r = fleet.ddi_as(
        &target(&caught),
        "POST",
        &format!("{cancel}/feedback"),
        &feedback("closed", "success"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(fleet.poll(&caught)["_links"].get("cancelAction").is_none());
    let r = fleet.ddi_as(
        &target(&caught),
        "POST",
        &format!("{cancel}/feedback"),
        &feedback("closed", "success"),
    );
    assert_error(&r, 410, "action_closed");

    // A device that installed 2.0 is sent back to 1.0 when the campaign is rolled back.
    let fleet = Fleet::new();
    let dev = fleet.enrol_ddi("ddi-1", "1.0");
    fleet.publish_swu("1.0", "fw-1.swu");
    fleet.publish_swu("2.0", "fw-2.swu");
    let campaign = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    let update = path_of(&fleet.poll(&dev)["_links"]["deploymentBase"]["href"]);
    let r = fleet.ddi_as(
        &target(&dev),
        "POST",
        &format!("{update}/feedback"),
        &feedback("closed", "success"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        fleet
            .admin(
                "POST",
                &format!("/v1/admin/campaigns/{campaign}/rollback"),
                json!({"reason": "bad"}).to_string()
            )
            .status,
        200
    );
    let rollback = path_of(&fleet.poll(&dev)["_links"]["deploymentBase"]["href"]);
    assert_ne!(rollback, update);
    let d = fleet
        .ddi_as(&target(&dev), "GET", &rollback, "")
        .json_body();
    assert_eq!(d["deployment"]["chunks"][0]["version"], "1.0");
    assert_eq!(
        d["deployment"]["chunks"][0]["artifacts"][0]["filename"],
        "fw-1.swu"
    );
    let r = fleet.ddi_as(
        &target(&dev),
        "POST",
        &format!("{rollback}/feedback"),
        &feedback("closed", "success"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(fleet.state_of(&dev)["version"], "1.0");
    assert_eq!(fleet.state_of(&dev)["rollout"]["phase"], "rolled_back");
    assert_eq!(fleet.progress(&campaign)["total"]["rolled_back"], 1);
    assert!(fleet.poll(&dev)["_links"].get("deploymentBase").is_none());
}

#[test]
fn a_gateway_token_opens_every_enrolled_controller_when_configured() {
    let mut fleet = Fleet::new();
    fleet.config.ddi_gateway_token = Some("gateway-secret".into());
    fleet.enrol_ddi("ddi-1", "1.0");
    let r = fleet.ddi_as(
        "GatewayToken gateway-secret",
        "GET",
        &format!("{BASE}/ddi-1"),
        "",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_error(
        &fleet.ddi_as(
            "GatewayToken gateway-secret",
            "GET",
            &format!("{BASE}/ghost"),
            "",
        ),
        404,
        "not_found",
    );
    assert_error(
        &fleet.ddi_as("GatewayToken wrong", "GET", &format!("{BASE}/ddi-1"), ""),
        401,
        "unauthorized",
    );
    // The tenant is case-insensitive, and configurable.
    let r = fleet.ddi_as(
        "GatewayToken gateway-secret",
        "GET",
        "/default/controller/v1/ddi-1",
        "",
    );
    assert_eq!(r.status, 200);
}
