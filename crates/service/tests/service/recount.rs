//! Recounting a campaign from its devices' states: the remedy for an
//! increment counted twice (the store applied it, its answer was lost).

use sluice_service::Store;

use super::*;

fn recount(fleet: &Fleet, campaign: &str, apply: bool) -> Response {
    fleet.admin(
        "POST",
        &format!("/v1/admin/campaigns/{campaign}/recount"),
        json!({ "apply": apply }).to_string(),
    )
}

fn differences(r: &Response) -> Vec<(String, i64, i64)> {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json_body()["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["counter"].as_str().unwrap().to_owned(),
                d["stored"].as_i64().unwrap(),
                d["counted"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// A campaign with every kind of outcome: 6 succeeded (one rolled back
/// since), 2 failed, 1 rejected, 3 still updating.
fn busy_campaign() -> (Fleet, Vec<Dev>, String) {
    let fleet = Fleet::new();
    let devices = fleet.enrol_many("d", 12);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": {
        "stages": [{"percent": 100}], "halt_on_rejected": false,
        "max_failure_rate": 1.0}}));
    for dev in &devices {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
    }
    for dev in &devices[..6] {
        fleet.finish(dev, &c, "succeeded");
    }
    for dev in &devices[6..8] {
        fleet.finish(dev, &c, "failed");
    }
    let r = fleet.status(&devices[8], &c, "rejected");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(fleet.status(&devices[0], &c, "rolled_back").status, 200);
    assert_eq!(fleet.status(&devices[9], &c, "downloading").status, 200);
    (fleet, devices, c)
}

#[test]
fn an_exact_campaign_recounts_to_itself() {
    let (fleet, _, c) = busy_campaign();
    let r = recount(&fleet, &c, false);
    assert_eq!(differences(&r), []);
    let body = r.json_body();
    assert_eq!(
        (&body["devices"], &body["scanned"]),
        (&json!(12), &json!(12))
    );
    assert_eq!(body["without_history"], 0);
    // Where the three still updating are.
    assert_eq!(
        fleet.progress(&c)["phases"],
        json!({"offered": 2, "downloading": 1, "downloaded": 0, "installing": 0, "rebooting": 0})
    );
}

#[test]
fn a_count_applied_twice_is_found_and_corrected_once() {
    let (fleet, _, c) = busy_campaign();
    let before = fleet.progress(&c);
    // What a lost answer leaves: the same tally applied twice.
    for (key, delta) in [
        (format!("cnt/{c}/total/succeeded"), 1),
        (format!("cnt/{c}/stage/0/succeeded"), 1),
        (format!("cnt/{c}/fail/E_BOOT"), 1),
        (format!("cnt/{c}/total/offered"), 2),
    ] {
        fleet.store.increment(&key, delta).unwrap();
    }
    let found = differences(&recount(&fleet, &c, false));
    assert_eq!(
        found,
        [
            (format!("cnt/{c}/fail/E_BOOT"), 3, 2),
            (format!("cnt/{c}/stage/0/succeeded"), 6, 5),
            (format!("cnt/{c}/total/offered"), 14, 12),
            (format!("cnt/{c}/total/succeeded"), 6, 5),
        ]
    );
    // Without --apply nothing changes.
    assert_eq!(fleet.progress(&c)["total"]["succeeded"], 6);

    assert_eq!(differences(&recount(&fleet, &c, true)).len(), 4);
    let after = fleet.progress(&c);
    assert_eq!(after["total"], before["total"]);
    assert_eq!(after["steps"], before["steps"]);
    assert_eq!(after["failure_codes"], before["failure_codes"]);
    assert_eq!(differences(&recount(&fleet, &c, true)), []);
    let audit = fleet
        .admin("GET", "/v1/admin/audit?limit=1000", "")
        .json_body();
    let recounts: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "campaign.recount")
        .collect();
    assert_eq!(recounts.len(), 1, "only the correction is audited");
    assert_eq!(recounts[0]["target"], c.as_str());
}

#[test]
fn a_device_that_moved_on_still_counts_for_the_campaign_it_finished() {
    let (fleet, devices, c1) = busy_campaign();
    fleet.publish("3.0", &["cam-v2"], 1);
    let c2 = fleet.campaign(json!({"release": "3.0", "policy": all_at_once()}));
    // A device that succeeded runs 2.0 and is offered 3.0.
    assert_eq!(fleet.checkin(&devices[1], "2.0")["action"], "update");
    fleet.finish(&devices[1], &c2, "succeeded");
    // A device that failed c1 takes part in c2, fails again, and is never
    // offered c1's release a second time.
    assert_eq!(fleet.checkin(&devices[6], "1.0")["action"], "update");
    fleet.finish(&devices[6], &c2, "failed");
    assert_eq!(fleet.checkin(&devices[6], "1.0")["action"], "none");
    assert_eq!(fleet.progress(&c1)["total"]["offered"], 12);
    assert_eq!(differences(&recount(&fleet, &c1, false)), []);
    assert_eq!(differences(&recount(&fleet, &c2, false)), []);
    assert_eq!(recount(&fleet, &c2, false).json_body()["devices"], 2);
}

#[test]
fn a_change_still_being_counted_waits_and_a_leftover_is_settled_first() {
    let (fleet, devices, c) = busy_campaign();
    // A report whose request is still counting (its tally is fresh).
    let key = format!("state/{}", devices[10].id);
    let mut state: Value =
        serde_json::from_slice(&fleet.store.get(&key).unwrap().unwrap()).unwrap();
    state["tallies"] =
        json!([{"at": T0, "token": 7, "increments": [[format!("cnt/{c}/total/succeeded"), 1]]}]);
    state["rollout"]["phase"] = json!("succeeded");
    fleet.store.set(&key, state.to_string().as_bytes()).unwrap();
    assert_error(&recount(&fleet, &c, true), 409, "conflict");
    assert_eq!(fleet.progress(&c)["total"]["succeeded"], 5);

    // Its request died: the recount applies the leftover, then counts.
    fleet.advance(60);
    let r = recount(&fleet, &c, false);
    assert_eq!(
        differences(&r),
        [
            (format!("cnt/{c}/inflight/{}", T0 / 600), 3, 2),
            (format!("cnt/{c}/phase/offered"), 2, 1),
            (format!("cnt/{c}/stage/0/succeeded"), 5, 6),
        ]
    );
    assert_eq!(r.json_body()["settled"], 1);
    assert_eq!(fleet.progress(&c)["total"]["succeeded"], 6);
}

#[test]
fn a_correction_needs_a_campaign_that_kept_histories_and_no_other_correction_running() {
    let (fleet, _, c) = busy_campaign();
    fleet
        .store
        .increment(&format!("cnt/{c}/total/offered"), 1)
        .unwrap();
    // Another recount holds the campaign.
    fleet
        .store
        .set(&format!("recount/{c}"), (T0 + 30).to_string().as_bytes())
        .unwrap();
    assert_error(&recount(&fleet, &c, true), 409, "conflict");
    assert_eq!(
        fleet.progress(&c)["total"]["offered"],
        13,
        "nothing changed"
    );
    fleet.advance(60);
    assert_eq!(differences(&recount(&fleet, &c, true)).len(), 1);
    assert_eq!(fleet.progress(&c)["total"]["offered"], 12);

    // A campaign from before histories were kept: checked, not corrected.
    let key = format!("campaign/{c}");
    let mut record: Value =
        serde_json::from_slice(&fleet.store.get(&key).unwrap().unwrap()).unwrap();
    record.as_object_mut().unwrap().remove("recountable");
    fleet
        .store
        .set(&key, record.to_string().as_bytes())
        .unwrap();
    fleet
        .store
        .increment(&format!("cnt/{c}/total/offered"), 1)
        .unwrap();
    assert_eq!(differences(&recount(&fleet, &c, false)).len(), 1);
    assert_error(&recount(&fleet, &c, true), 409, "conflict");
    assert_eq!(fleet.progress(&c)["total"]["offered"], 13);
}

#[test]
fn a_device_enrolled_before_the_directory_is_listed_at_its_first_offer() {
    let fleet = Fleet::new();
    let devices = fleet.enrol_many("d", 3);
    // As a store from before the directory: d0 is not listed, and its state
    // does not say it is.
    fleet
        .store
        .set(
            "index/devices/00000000",
            json!(["d1", "d2"]).to_string().as_bytes(),
        )
        .unwrap();
    fleet
        .store
        .set(
            "state/d0",
            json!({"version": "", "security_version": 0, "updated_at": T0})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    for dev in &devices {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
    }
    let r = recount(&fleet, &c, true);
    assert_eq!(differences(&r), []);
    assert_eq!(
        r.json_body()["devices"],
        3,
        "d0 was listed when it was offered"
    );
    let listed = fleet.admin("GET", "/v1/admin/devices?q=d0", "").json_body();
    assert_eq!(listed["devices"][0]["id"], "d0");
}

#[test]
fn a_bad_recount_is_refused() {
    let (fleet, _, c) = busy_campaign();
    assert_error(&recount(&fleet, "nope", true), 404, "not_found");
    let r = fleet.admin(
        "POST",
        &format!("/v1/admin/campaigns/{c}/recount"),
        "{\"apply\": \"yes\"}",
    );
    assert_error(&r, 400, "malformed_json");
    let r = fleet.call(Request::new(
        "POST",
        &format!("/v1/admin/campaigns/{c}/recount"),
    ));
    assert_eq!(r.status, 401);
}
