//! The fleet views: the summary (hardware, versions, who was heard from),
//! device search over the directory, and a device's own page and history.

use super::*;

fn search(fleet: &Fleet, query: &str) -> Value {
    let r = fleet.admin("GET", &format!("/v1/admin/devices?{query}"), "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json_body()
}

fn ids(page: &Value) -> Vec<String> {
    page["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_summary_counts_hardware_versions_and_who_was_heard_from() {
    let fleet = Fleet::new();
    let cams = fleet.enrol_many("cam", 6);
    fleet.enrol(&["hub-1", "hub-2"], "hub-v1", &[]);
    // Two cameras check in now, one an hour ago (late), one two days ago
    // (silent), two never.
    fleet.checkin(&cams[3], "1.0");
    fleet.advance(2 * 86_400 - 3600);
    fleet.checkin(&cams[2], "1.0");
    fleet.advance(3600);
    fleet.checkin(&cams[0], "1.0");
    fleet.checkin(&cams[1], "1.1");
    let r = fleet.admin(
        "POST",
        "/v1/admin/devices/cam5/revoke",
        json!({"reason": "stolen"}).to_string(),
    );
    assert_eq!(r.status, 200);

    let summary = fleet.admin("GET", "/v1/admin/fleet", "").json_body();
    assert_eq!(summary["devices"], 8);
    assert_eq!(summary["hardware"], json!({"cam-v2": 6, "hub-v1": 2}));
    assert_eq!(summary["versions"], json!({"1.0": 3, "1.1": 1}));
    let l = &summary["liveness"];
    assert_eq!(
        (
            &l["online"],
            &l["late"],
            &l["silent"],
            &l["never"],
            &l["revoked"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(3), &json!(1)),
        "{l}"
    );
    assert_eq!(l["scanned"], 8);
    assert_eq!(l["sampled"], false);
    assert_eq!(l["online_within"], 1200, "two polls of 600 s");
}

#[test]
fn a_large_fleet_is_sampled_and_says_so() {
    let fleet = Fleet::new();
    let devices = fleet.enrol_many("d", 12_500);
    for dev in devices.iter().step_by(2) {
        fleet.checkin(dev, "1.0");
    }
    let summary = fleet.admin("GET", "/v1/admin/fleet", "").json_body();
    let l = &summary["liveness"];
    assert_eq!(summary["devices"], 12_500);
    assert_eq!(l["sampled"], true);
    assert_eq!(l["scanned"], 10_000, "ten pages of a thousand");
    let online = l["online"].as_u64().unwrap();
    assert!((6000..=6500).contains(&online), "half of 12,500: {online}");
}

#[test]
fn search_finds_by_id_tag_attribute_state_and_walks_the_directory() {
    let fleet = Fleet::new();
    fleet.enrol_many("d", 2300);
    let r = fleet.admin(
        "POST",
        "/v1/admin/devices",
        json!({"devices": [
            {"id": "lobby-cam", "hardware": "cam-v2", "tags": ["ring:pilot"], "attributes": {"site": "Berlin"}},
            {"id": "roof-cam", "hardware": "cam-v2", "attributes": {"site": "Oslo"}},
        ]})
        .to_string(),
    );
    assert_eq!(r.status, 201);
    let secrets = r.json_body()["devices"].clone();
    let lobby = Dev {
        id: "lobby-cam".into(),
        secret: secrets[0]["secret"].as_str().unwrap().into(),
        hardware: "cam-v2".into(),
    };
    fleet.checkin(&lobby, "1.0");

    assert_eq!(ids(&search(&fleet, "q=cam")), ["lobby-cam", "roof-cam"]);
    assert_eq!(ids(&search(&fleet, "q=ring%3Apilot")), ["lobby-cam"]);
    assert_eq!(ids(&search(&fleet, "q=site%3Dberlin")), ["lobby-cam"]);
    assert_eq!(ids(&search(&fleet, "q=site%3Doslo+cam")), ["roof-cam"]);
    assert_eq!(ids(&search(&fleet, "q=online")), ["lobby-cam"]);
    assert_eq!(ids(&search(&fleet, "q=1.0")), ["lobby-cam"]);
    assert!(ids(&search(&fleet, "q=site%3Dlima")).is_empty());

    // Everything, 100 at a time, following the cursor: each device once.
    let mut seen = Vec::new();
    let mut query = "limit=100".to_owned();
    let mut requests = 0;
    loop {
        let page = search(&fleet, &query);
        requests += 1;
        seen.extend(ids(&page));
        match page["next"].as_object() {
            Some(next) => query = format!("limit=100&page={}&skip={}", next["page"], next["skip"]),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2302);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 2302, "no device twice");
    assert_eq!(requests, 24);

    // A search that matches little walks a few pages per request and says where to go on.
    let first = search(&fleet, "q=nothing-matches");
    assert_eq!(first["scanned"], 2302);
    assert!(first["next"].is_null());
}

#[test]
fn a_bad_search_is_refused() {
    let fleet = Fleet::new();
    fleet.enrol(&["a"], "cam-v2", &[]);
    for query in ["q=%zz", "q=%ff", "page=x", "skip=-1", "limit=many"] {
        let r = fleet.admin("GET", &format!("/v1/admin/devices?{query}"), "");
        assert_error(&r, 400, "bad_request");
    }
    let long = format!("q={}", "x".repeat(600));
    assert_error(
        &fleet.admin("GET", &format!("/v1/admin/devices?{long}"), ""),
        400,
        "bad_request",
    );
    assert_eq!(
        fleet.call(Request::new("GET", "/v1/admin/fleet")).status,
        401
    );
}

#[test]
fn a_device_page_shows_its_slot_and_history_of_reports_and_errors() {
    let fleet = Fleet::new();
    let dev = fleet.enrol(&["cam-1"], "cam-v2", &[]).remove(0);
    fleet.publish("2.0", &["cam-v2"], 1);
    let campaign = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    let r = fleet.call(
        Request::new("POST", "/v1/checkin")
            .header("authorization", &basic_header(&dev.id, &dev.secret))
            .body(
                json!({"hardware": "cam-v2", "version": "1.0", "security_version": 1,
                       "telemetry": {"slot": "a", "battery_percent": 80}})
                .to_string(),
            ),
    );
    assert_eq!(r.json_body()["action"], "update");
    for state in ["downloading", "downloaded", "installing", "failed"] {
        assert_eq!(fleet.status(&dev, &campaign, state).status, 200);
    }
    let page = fleet
        .admin("GET", "/v1/admin/devices/cam-1", "")
        .json_body();
    assert_eq!(page["seen"]["telemetry"]["slot"], "a");
    let history = page["state"]["history"].as_array().unwrap();
    let what: Vec<&str> = history
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        what,
        [
            "version",
            "offered",
            "downloading",
            "downloaded",
            "installing",
            "failed"
        ]
    );
    assert_eq!(history[1]["campaign"], campaign);
    assert_eq!(history[1]["version"], "2.0");
    assert_eq!(history[5]["failure"]["code"], "E_BOOT");
    assert!(page["state"].get("tallies").is_none());

    let bad_slot = fleet.call(
        Request::new("POST", "/v1/checkin")
            .header("authorization", &basic_header(&dev.id, &dev.secret))
            .body(
                json!({"hardware": "cam-v2", "version": "1.0", "security_version": 1,
                       "telemetry": {"slot": "a b"}})
                .to_string(),
            ),
    );
    assert_error(&bad_slot, 400, "bad_request");
}

#[test]
fn a_campaign_keeps_its_curve_and_estimates_when_it_finishes() {
    let fleet = Fleet::new();
    let devices = fleet.enrol_many("d", 20);
    fleet.enrol(&["other"], "hub-v1", &[]);
    fleet.publish("2.0", &["cam-v2"], 1);
    // Already on the release: not in reach.
    fleet.checkin(&devices[19], "2.0");
    let c = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    let p = fleet.progress(&c);
    assert_eq!(p["campaign"]["reach"], json!({"devices": 19}));
    assert_eq!(
        p["estimate"]["why_not"],
        "too early to judge its pace (less than a minute of it)"
    );

    // Five devices a minute in, five ten minutes later.
    for (minute, batch) in [(1, &devices[..5]), (11, &devices[5..10])] {
        fleet.advance(if minute == 1 { 60 } else { 600 });
        for dev in batch {
            assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
            fleet.finish(dev, &c, "succeeded");
        }
    }
    let p = fleet.progress(&c);
    let points = p["curve"]["points"].as_array().unwrap();
    assert_eq!(points[0]["succeeded"], 0);
    assert_eq!(points.last().unwrap()["succeeded"], 10);
    assert!(points.len() >= 3, "{points:?}");
    let finished: Vec<u64> = points
        .iter()
        .map(|p| p["succeeded"].as_u64().unwrap())
        .collect();
    assert!(finished.windows(2).all(|w| w[1] >= w[0]), "{finished:?}");
    let e = &p["estimate"];
    assert_eq!(e["remaining"], 9);
    // Ten devices in the 11 minutes since the campaign began.
    assert_eq!(e["over_seconds"], 660);
    let per_hour = e["per_hour"].as_f64().unwrap();
    assert!(
        (per_hour - 10.0 * 3600.0 / 660.0).abs() < 0.01,
        "{per_hour}"
    );
    assert_eq!(e["seconds"], (9.0 * 660.0f64 / 10.0).ceil() as u64);

    let r = fleet.admin("POST", &format!("/v1/admin/campaigns/{c}/pause"), "");
    assert_eq!(r.status, 200);
    let e = &fleet.progress(&c)["estimate"];
    assert_eq!(e["why_not"], "the campaign is paused");
    assert!(e["seconds"].is_null());
}
