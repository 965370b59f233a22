//! Change management: fleet-wide freezes (enforced around the policy call, so a
//! permissive vendor policy cannot break them), install holds, critical
//! overrides, and scheduled campaigns.

use std::sync::atomic::AtomicU64;

use sluice_policy::{Campaign, Decision, Device, Policy, Stats, Verdict};

use super::*;

/// A vendor policy that says "offer now" to everyone, always, and counts how
/// often it was asked.
struct OfferNow {
    asked: AtomicU64,
}

impl Policy for OfferNow {
    fn validate(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn decide(&self, _: &Device, _: &Campaign, _: &Stats, _: u64) -> Decision {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Decision::Offer
    }
    fn review(&self, _: &Campaign, _: &Stats, _: u64) -> Verdict {
        Verdict::Proceed
    }
}

fn permissive_fleet() -> (Fleet, &'static OfferNow) {
    let policy: &'static OfferNow = Box::leak(Box::new(OfferNow {
        asked: AtomicU64::new(0),
    }));
    (Fleet::new().with_policy(policy), policy)
}

const HOUR: u64 = 3600;

impl Fleet {
    fn freeze(&self, body: Value) -> Response {
        let alice = self.operator("alice", &["operator"]);
        self.admin_as(&alice, "POST", "/v1/admin/freezes", body.to_string())
    }

    fn audit_actions(&self) -> Vec<(String, String)> {
        self.admin("GET", "/v1/admin/audit?limit=1000", "")
            .json_body()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["actor"].as_str().unwrap().to_owned(),
                    e["action"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn offered(fleet: &Fleet, campaign: &str) -> u64 {
    fleet.progress(campaign)["total"]["offered"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_fleet_wide_freeze_holds_every_offer_whatever_the_policy_says_then_lets_go() {
    let (fleet, policy) = permissive_fleet();
    let devs = fleet.enrol_many("d", 5);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0"}));
    let r = fleet.freeze(json!({
        "reason": "all-hands", "start": T0 + HOUR, "end": T0 + 3 * HOUR,
    }));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let freeze = r.json_body();
    assert_eq!(freeze["id"], "f1");
    assert_eq!(freeze["created_by"], "alice");
    assert_eq!(freeze["lead_seconds"], 3600, "an hour's lead by default");

    // From the lead (an hour before the start) to the end: nothing is offered,
    // and the policy is never asked.
    for step in [0, HOUR, 2 * HOUR, 3 * HOUR - 1] {
        fleet.env.now.store(T0 + step, Ordering::SeqCst);
        for dev in &devs {
            let answer = fleet.checkin(dev, "1.0");
            assert_eq!(answer["action"], "none", "{answer}");
            let reason = answer["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("change freeze f1 until ") && reason.ends_with(": all-hands"),
                "{reason}"
            );
            let left = T0 + 3 * HOUR - (T0 + step);
            let next = answer["next_poll_seconds"].as_u64().unwrap();
            assert!(
                next <= 720 && next as f64 <= left as f64 * 1.2 + 1.0,
                "{next} vs {left}"
            );
        }
    }
    assert_eq!(offered(&fleet, &c), 0);
    assert_eq!(policy.asked.load(Ordering::SeqCst), 0);

    // After it, the rollout goes on by itself.
    fleet.env.now.store(T0 + 3 * HOUR, Ordering::SeqCst);
    for dev in &devs {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
    }
    assert_eq!(offered(&fleet, &c), 5);
    assert!(
        fleet
            .audit_actions()
            .contains(&("alice".into(), "freeze.add".into()))
    );
}

#[test]
fn a_freeze_on_one_tag_leaves_the_other_devices_updating() {
    let (fleet, _) = permissive_fleet();
    let berlin = fleet.enrol(&["b1", "b2"], "cam-v2", &["site:berlin"]);
    let paris = fleet.enrol(&["p1", "p2"], "cam-v2", &["site:paris"]);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0"}));
    let r = fleet.freeze(json!({
        "reason": "Berlin launch", "start": "2027-01-15T08:00:00Z", "end": T0 + 10 * HOUR,
        "lead_seconds": 0, "selector": {"tags": ["site:berlin"]},
    }));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    for dev in &berlin {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "none");
    }
    for dev in &paris {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
    }
    assert_eq!(offered(&fleet, &c), 2);
    // Lifting a freeze that holds takes two: alice asks, and nothing changes
    // until a second operator confirms; she cannot confirm her own request.
    let alice = fleet.operator("alice", &["operator"]);
    let r = fleet.admin_as(&alice, "DELETE", "/v1/admin/freezes/f1", "");
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json_body()["lift_requested"]["by"], "alice");
    for dev in &berlin {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "none");
    }
    let confirm =
        |token: &str| fleet.admin_as(token, "POST", "/v1/admin/freezes/f1/confirm-lift", "");
    let refused = confirm(&fleet.operator("alice2", &["operator"]));
    assert_eq!(refused.status, 403, "confirming needs freeze:override");
    let sam = fleet.operator("sam", &["security-officer", "operator"]);
    let selfish = fleet.admin_as(&sam, "DELETE", "/v1/admin/freezes/f1", "");
    assert_eq!(
        selfish.json_body()["lift_requested"]["by"],
        "alice",
        "asked once"
    );
    let r = confirm(&sam);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let lifted: Vec<(String, String)> = fleet
        .audit_actions()
        .into_iter()
        .filter(|(_, action)| action.starts_with("freeze.lift") || action == "freeze.remove")
        .collect();
    assert_eq!(
        lifted,
        [
            ("alice".to_owned(), "freeze.lift_request".to_owned()),
            ("sam".to_owned(), "freeze.remove".to_owned())
        ]
    );
    // Lifted early: Berlin updates at its next check-in.
    for dev in &berlin {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
    }
}

#[test]
fn a_download_that_ends_inside_a_freeze_holds_its_install_until_the_freeze_ends() {
    let (fleet, _) = permissive_fleet();
    let dev = &fleet.enrol(&["d1"], "cam-v2", &[])[0];
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0"}));
    assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
    assert_eq!(fleet.status(dev, &c, "downloading").status, 200);
    fleet.freeze(json!({"reason": "trading day", "start": T0, "end": T0 + 2 * HOUR}));

    // The download may finish (a resumed one is still offered) ...
    assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
    // ... but the install waits, and the device is told for how long at most.
    let held = fleet.status(dev, &c, "downloaded").json_body();
    assert_eq!(held["action"], "hold", "{held}");
    assert!(held["hold_seconds"].as_u64().unwrap() <= 720, "{held}");
    assert!(held["reason"].as_str().unwrap().contains("trading day"));
    // Asking again is a duplicate report, and still held.
    fleet.advance(HOUR);
    let again = fleet.status(dev, &c, "downloaded").json_body();
    assert_eq!(
        (again["action"].as_str(), again["duplicate"].as_bool()),
        (Some("hold"), Some(true))
    );
    assert_eq!(fleet.progress(&c)["total"]["offered"], 1);

    fleet.advance(HOUR);
    let go = fleet.status(dev, &c, "downloaded").json_body();
    assert_eq!(go["action"], "continue", "{go}");
    assert!(go.get("hold_seconds").is_none());
    for state in ["installing", "rebooting", "succeeded"] {
        assert_eq!(fleet.status(dev, &c, state).status, 200);
    }
    assert_eq!(fleet.progress(&c)["total"]["succeeded"], 1);
}

#[test]
fn only_a_critical_campaign_with_a_named_audited_override_passes_a_freeze() {
    let (fleet, policy) = permissive_fleet();
    let dev = &fleet.enrol(&["d1"], "cam-v2", &[])[0];
    fleet.publish("2.0", &["cam-v2"], 1);
    fleet.publish("2.1", &["cam-v2"], 1);
    let normal = fleet.campaign(json!({"release": "2.0"}));
    let critical = fleet.campaign(json!({"release": "2.1", "critical": true}));
    fleet.freeze(json!({"reason": "quarter close", "start": T0, "end": T0 + 2 * HOUR}));
    fleet.freeze(json!({"reason": "all-hands", "start": T0, "end": T0 + HOUR}));

    // A critical campaign is no exception by itself.
    assert_eq!(fleet.checkin(dev, "1.0")["action"], "none");
    let bob = fleet.operator("bob", &["security-officer"]);
    let carol = fleet.operator("carol", &["approver"]);
    let grant = |campaign: &str, body: Value| {
        fleet.admin_as(
            &bob,
            "POST",
            &format!("/v1/admin/campaigns/{campaign}/override-freeze"),
            body.to_string(),
        )
    };
    let confirm = |token: &str, freeze: &str| {
        fleet.admin_as(
            token,
            "POST",
            &format!("/v1/admin/campaigns/{critical}/confirm-override"),
            json!({"freeze": freeze}).to_string(),
        )
    };
    let r = grant(&normal, json!({"freeze": "f1", "reason": "CVE-2026-0001"}));
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        grant(&critical, json!({"freeze": "f9", "reason": "x"})).status,
        404
    );
    assert_eq!(
        grant(&critical, json!({"freeze": "f1", "reason": " "})).status,
        400
    );
    assert_eq!(grant(&critical, json!({"freeze": "f1"})).status, 400);
    assert!(
        fleet.progress(&critical)["campaign"]
            .get("freeze_overrides")
            .is_none()
    );

    // Bob asks to pass f1: pending until another operator confirms it.
    let r = grant(
        &critical,
        json!({"freeze": "f1", "reason": "CVE-2026-0001"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json_body()["freeze_overrides"][0]["by"], "bob");
    assert_eq!(r.json_body()["freeze_overrides"][0]["pending"], true);
    // Whoever asked cannot confirm it; nobody confirms what was not asked.
    let own = confirm(&bob, "f1");
    assert_eq!(own.status, 409, "{}", String::from_utf8_lossy(&own.body));
    assert_eq!(own.json_body()["error"], "four_eyes");
    assert_eq!(confirm(&carol, "f2").status, 404, "f2 was not asked for");

    // The campaign's criticality waits for a second operator too: its
    // creator (the owner) cannot confirm it; carol can.
    let path = format!("/v1/admin/campaigns/{critical}/confirm-critical");
    let own = fleet.admin("POST", &path, "");
    assert_eq!(own.status, 409, "{}", String::from_utf8_lossy(&own.body));
    let r = fleet.admin_as(&carol, "POST", &path, "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json_body()["critical_confirmed"]["by"], "carol");

    // With both overrides asked for and neither confirmed, nothing passes.
    assert_eq!(
        grant(
            &critical,
            json!({"freeze": "f2", "reason": "CVE-2026-0001"})
        )
        .status,
        200
    );
    let answer = fleet.checkin(dev, "1.0");
    assert_eq!(
        answer["action"], "none",
        "pending overrides pass nothing: {answer}"
    );
    // Passing one of two overlapping freezes is not enough.
    assert_eq!(confirm(&carol, "f1").status, 200);
    let answer = fleet.checkin(dev, "1.0");
    assert_eq!(answer["action"], "none", "{answer}");
    assert_eq!(policy.asked.load(Ordering::SeqCst), 0);
    assert_eq!(confirm(&carol, "f2").status, 200);
    let answer = fleet.checkin(dev, "1.0");
    assert_eq!(
        (answer["action"].as_str(), answer["campaign"].as_str()),
        (Some("update"), Some(critical.as_str()))
    );
    assert_eq!(offered(&fleet, &normal), 0);
    let overrides: Vec<_> = fleet
        .audit_actions()
        .into_iter()
        .filter(|(_, action)| action == "campaign.override_freeze")
        .collect();
    assert_eq!(overrides.len(), 2);
    assert!(overrides.iter().all(|(actor, _)| actor == "bob"));
    let confirmations: Vec<_> = fleet
        .audit_actions()
        .into_iter()
        .filter(|(_, action)| action.starts_with("campaign.confirm"))
        .collect();
    assert_eq!(confirmations.len(), 3, "{confirmations:?}");
    assert!(confirmations.iter().all(|(actor, _)| actor == "carol"));
}

#[test]
fn bad_freezes_are_refused_and_change_nothing() {
    let (fleet, _) = permissive_fleet();
    for (body, why) in [
        (
            json!({"reason": "x", "start": T0 + 10, "end": T0 + 10}),
            "end must be after start",
        ),
        (
            json!({"reason": "x", "start": T0 - 100, "end": T0 - 10}),
            "already be over",
        ),
        (json!({"reason": "", "start": T0, "end": T0 + 10}), "reason"),
        (
            json!({"reason": "x", "start": "next tuesday", "end": T0 + 10}),
            "instant",
        ),
        (
            json!({"reason": "x", "start": "2026-02-30T00:00:00Z", "end": T0 + 10}),
            "no such date",
        ),
        (
            json!({"reason": "x", "start": T0, "end": T0 + 10, "lead_seconds": 999_999_999}),
            "lead_seconds",
        ),
        (
            json!({"reason": "x", "start": T0, "end": T0 + 10, "selector": {"ids": ["a b"]}}),
            "selector",
        ),
        (
            json!({"reason": "x", "start": T0, "end": T0 + 10, "colour": "red"}),
            "colour",
        ),
    ] {
        let r = fleet.freeze(body.clone());
        assert_eq!(r.status, 400, "{body}");
        let message = r.json_body()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(why), "{body}: {message}");
    }
    let viewer = fleet.operator("vera", &["viewer"]);
    let r = fleet.admin_as(
        &viewer,
        "POST",
        "/v1/admin/freezes",
        json!({"reason": "x", "start": T0, "end": T0 + 10}).to_string(),
    );
    assert_eq!(r.status, 403, "a viewer declares no freeze");
    assert_eq!(
        fleet.admin("DELETE", "/v1/admin/freezes/f1", "").status,
        404
    );
    assert_eq!(
        fleet.call(Request::new("GET", "/v1/admin/freezes")).status,
        401,
        "the admin token guards freezes"
    );
    let list = fleet.admin("GET", "/v1/admin/freezes", "").json_body();
    assert_eq!(list["freezes"], json!([]));
    assert!(
        fleet
            .audit_actions()
            .iter()
            .all(|(_, a)| !a.starts_with("freeze"))
    );
}

#[test]
fn a_scheduled_campaign_offers_nothing_before_its_start_and_nothing_new_after_its_end() {
    let (fleet, policy) = permissive_fleet();
    let devs = fleet.enrol_many("d", 3);
    fleet.publish("2.0", &["cam-v2"], 1);
    for (body, why) in [
        (
            json!({"release": "2.0", "start_at": T0 + 100, "end_at": T0 + 50}),
            "end_at must be after start_at",
        ),
        (
            json!({"release": "2.0", "end_at": T0 - 1}),
            "already passed",
        ),
        (json!({"release": "2.0", "start_at": "soon"}), "instant"),
    ] {
        let r = fleet.admin("POST", "/v1/admin/campaigns", body.to_string());
        assert_eq!(r.status, 400, "{body}");
        assert!(
            r.json_body()["message"].as_str().unwrap().contains(why),
            "{body}"
        );
    }
    let c = fleet
        .campaign(json!({"release": "2.0", "start_at": T0 + 2 * HOUR, "end_at": T0 + 4 * HOUR}));
    let created = fleet.progress(&c)["campaign"].clone();
    assert_eq!(created["state"], "running");
    assert_eq!(
        created["stage_started_at"],
        T0 + 2 * HOUR,
        "the first stage soaks from the start"
    );

    fleet.advance(2 * HOUR - 1);
    for dev in &devs {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "none");
    }
    assert_eq!(policy.asked.load(Ordering::SeqCst), 0);
    assert_eq!(offered(&fleet, &c), 0);

    fleet.advance(1);
    assert_eq!(fleet.checkin(&devs[0], "1.0")["action"], "update");
    assert!(
        fleet
            .audit_actions()
            .contains(&("schedule".into(), "campaign.start".into()))
    );
    assert_eq!(fleet.status(&devs[0], &c, "downloading").status, 200);

    // At its end: no new offers; the device already updating finishes; the
    // campaign says how far it got.
    fleet.advance(2 * HOUR);
    assert_eq!(fleet.checkin(&devs[1], "1.0")["action"], "none");
    let ended = fleet.progress(&c)["campaign"].clone();
    assert_eq!(ended["state"], "ended", "{ended}");
    let reason = ended["reason"].as_str().unwrap();
    assert!(reason.contains("1 offered, 0 succeeded"), "{reason}");
    fleet.finish(&devs[0], &c, "succeeded");
    assert_eq!(fleet.progress(&c)["total"]["succeeded"], 1);
    assert_eq!(fleet.checkin(&devs[2], "1.0")["action"], "none");
    assert_eq!(offered(&fleet, &c), 1);
    assert!(
        fleet
            .audit_actions()
            .contains(&("schedule".into(), "campaign.end".into()))
    );
    // It can no longer be resumed, but it can still be rolled back.
    assert_eq!(
        fleet
            .admin("POST", &format!("/v1/admin/campaigns/{c}/resume"), "")
            .status,
        409
    );
    assert_eq!(
        fleet
            .admin("POST", &format!("/v1/admin/campaigns/{c}/rollback"), "")
            .status,
        200
    );
}

#[test]
fn a_ddi_device_caught_by_a_freeze_may_download_but_not_install() {
    let fleet = Fleet::new();
    let dev = fleet.enrol_ddi("ddi-1", "1.0");
    fleet.publish_swu("2.0", "fw.swu");
    fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    let poll = fleet.poll(&dev);
    let deployment = super::ddi::path_of(&poll["_links"]["deploymentBase"]["href"]);
    let base = |fleet: &Fleet| {
        let r = fleet.ddi_as(&super::ddi::target(&dev), "GET", &deployment, "");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json_body()["deployment"].clone()
    };
    assert_eq!(base(&fleet)["maintenanceWindow"], "available");

    fleet.freeze(json!({"reason": "all-hands", "start": T0, "end": T0 + HOUR}));
    let held = base(&fleet);
    assert_eq!(
        (
            held["download"].as_str(),
            held["update"].as_str(),
            held["maintenanceWindow"].as_str()
        ),
        (Some("attempt"), Some("skip"), Some("unavailable")),
        "{held}"
    );
    fleet.advance(HOUR);
    let free = base(&fleet);
    assert_eq!(
        (free["update"].as_str(), free["maintenanceWindow"].as_str()),
        (Some("attempt"), Some("available"))
    );
}

// The reckless vendor policy the end-to-end tests plug in: offers to everyone
// and always wants the next stage.
use sluice_policy_offer_now::OfferNow as Reckless;

impl Fleet {
    /// Carol (an approver, not the campaigns' creator) approves.
    fn approve(&self, campaign: &str, body: &str) -> Response {
        let carol = self.operator("carol", &["approver"]);
        self.admin_as(
            &carol,
            "POST",
            &format!("/v1/admin/campaigns/{campaign}/approve"),
            body.to_owned(),
        )
    }
}

#[test]
fn pilot_rings_open_in_turn_and_a_gate_waits_for_an_operator_whatever_the_policy_wants() {
    let fleet = Fleet::new().with_policy(&Reckless);
    let lab = fleet.enrol(&["lab1", "lab2"], "cam-v2", &[]);
    let pilot = fleet.enrol(&["p1", "p2", "p3"], "cam-v2", &[]);
    let rest = fleet.enrol_many("d", 4);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({
        "release": "2.0",
        "rings": [{"name": "lab", "ids": ["lab1", "lab2"]},
                  {"name": "pilot", "ids": ["p1", "p2", "p3"], "approve": true}],
        "approve_stages": [0],
    }));
    // Only the lab ring is open.
    assert_eq!(fleet.checkin(&rest[0], "1.0")["action"], "none");
    assert_eq!(fleet.checkin(&pilot[0], "1.0")["action"], "none");
    for dev in &lab {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
        fleet.finish(dev, &c, "succeeded");
    }
    // The lab is done: the pilot ring opens by itself (no gate after the lab).
    let progress = fleet.progress(&c);
    assert_eq!(progress["campaign"]["ring"], 1, "{progress}");
    assert_eq!(step_names(&progress), json!(["ring lab", "ring pilot"]));
    assert_eq!(fleet.checkin(&rest[0], "1.0")["action"], "none");
    for (dev, outcome) in pilot.iter().zip(["succeeded", "failed", "succeeded"]) {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
        fleet.finish(dev, &c, outcome);
    }

    // The pilot is done and gated: nothing more opens, for as long as it takes,
    // though the policy asks to advance at every review.
    let waiting = fleet.progress(&c);
    let gate = &waiting["campaign"]["waiting"];
    assert_eq!(
        (gate["after"].as_str(), gate["opens"].as_str()),
        (Some("ring pilot"), Some("stage 0")),
        "{waiting}"
    );
    assert_eq!(gate["figures"]["failed"], 1);
    for _ in 0..5 {
        fleet.advance(86_400);
        for dev in &rest {
            assert_eq!(fleet.checkin(dev, "1.0")["action"], "none");
        }
    }
    assert_eq!(fleet.progress(&c)["campaign"]["ring"], 1);
    assert_eq!(fleet.progress(&c)["steps"][1]["counts"]["offered"], 3);

    // An operator approves, with a note; the figures at that moment are kept.
    assert_eq!(
        fleet
            .approve(&c, &json!({"note": "x".repeat(1001)}).to_string())
            .status,
        400
    );
    assert_eq!(fleet.approve("c99", "").status, 404);
    let r = fleet.approve(&c, r#"{"note": "pilot looks fine"}"#);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let approved = r.json_body();
    assert_eq!(approved["ring"], 2);
    assert!(approved.get("waiting").is_none(), "{approved}");
    let approval = &approved["approvals"][0];
    assert_eq!(approval["by"], "carol");
    assert_eq!(approval["after"], "ring pilot");
    assert_eq!(approval["note"], "pilot looks fine");
    assert_eq!(
        (
            approval["figures"]["succeeded"].as_u64(),
            approval["figures"]["failed"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(fleet.approve(&c, "").status, 409, "nothing waits now");
    let audit = fleet
        .admin("GET", "/v1/admin/audit?limit=1000", "")
        .json_body();
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "campaign.approve")
        .expect("audited");
    assert_eq!(entry["actor"], "carol");
    assert_eq!(entry["after"]["detail"]["approval"]["figures"]["failed"], 1);

    // Stage 0 is open; it is gated too, so the policy's advance after the first
    // outcome stops at the gate.
    assert_eq!(fleet.checkin(&rest[0], "1.0")["action"], "update");
    fleet.finish(&rest[0], &c, "succeeded");
    let gated = fleet.progress(&c);
    assert_eq!(gated["campaign"]["stage"], 0, "{gated}");
    assert_eq!(gated["campaign"]["waiting"]["opens"], "stage 1");
    assert_eq!(
        step_names(&gated),
        json!(["ring lab", "ring pilot", "stage 0"])
    );
    assert_eq!(gated["steps"][2]["counts"]["succeeded"], 1);
    assert_eq!(fleet.approve(&c, "").status, 200);
    assert_eq!(fleet.progress(&c)["campaign"]["stage"], 1);
}

#[test]
fn a_ring_with_a_silent_device_closes_after_its_soak() {
    let fleet = Fleet::new().with_policy(&Reckless);
    let lab = fleet.enrol(&["lab1", "lab2"], "cam-v2", &[]);
    let rest = fleet.enrol_many("d", 1);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({
        "release": "2.0", "rings": [{"name": "lab", "ids": ["lab1", "lab2"], "soak": "2h"}],
    }));
    assert_eq!(fleet.checkin(&lab[0], "1.0")["action"], "update");
    fleet.finish(&lab[0], &c, "succeeded");
    fleet.advance(3600);
    assert_eq!(
        fleet.checkin(&rest[0], "1.0")["action"],
        "none",
        "lab2 may still come"
    );
    fleet.advance(3600);
    // The next review (at a check-in) closes the ring.
    fleet.checkin(&rest[0], "1.0");
    assert_eq!(fleet.progress(&c)["campaign"]["ring"], 1);
    assert_eq!(fleet.checkin(&rest[0], "1.0")["action"], "update");
}

#[test]
fn bad_rings_are_refused_and_create_nothing() {
    let fleet = Fleet::new();
    fleet.publish("2.0", &["cam-v2"], 1);
    let ring = |name: &str, ids: &[&str]| json!({"name": name, "ids": ids});
    for (rings, why) in [
        (json!([ring("lab", &[])]), "ids"),
        (json!([ring("lab", &["a b"])]), "not a valid device id"),
        (
            json!([ring("lab", &["a"]), ring("pilot", &["a"])]),
            "named twice",
        ),
        (json!([ring("lab", &["a", "a"])]), "named twice"),
        (json!([ring("lab", &["a"]), ring("lab", &["b"])]), "unique"),
        (
            json!([{"name": "lab", "ids": ["a"], "soak": "soon"}]),
            "soak",
        ),
        (
            json!(
                (0..9)
                    .map(|i| ring(&format!("r{i}"), &["x"]))
                    .collect::<Vec<_>>()
            ),
            "at most 8",
        ),
    ] {
        let body = json!({"release": "2.0", "rings": rings});
        let r = fleet.admin("POST", "/v1/admin/campaigns", body.to_string());
        assert_eq!(r.status, 400, "{body}");
        let message = r.json_body()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(why), "{body}: {message}");
    }
    let list = fleet.admin("GET", "/v1/admin/campaigns", "").json_body();
    assert_eq!(list["campaigns"], json!([]));
}

/// The outage Sluice exists to prevent, as a test: a fleet across several UTC
/// offsets, a change freeze over an all-hands, a release that fails on one
/// device in five, a gated pilot ring and the standard policy with maintenance
/// windows. Nobody is offered anything and nobody installs during the
/// all-hands; the failures show in the pilot ring; no percentage stage opens.
#[test]
fn the_all_hands_scenario_no_offers_in_the_freeze_failures_in_the_pilot_no_stage_opens() {
    let fleet = Fleet::new().with_policy(&sluice_policy_standard::Standard);
    let offsets = ["-08:00", "-05:00", "+00:00", "+05:30", "+09:00"];
    let devs: Vec<Dev> = (0..100)
        .flat_map(|i| {
            let tag = format!("utc-offset:{}", offsets[i % offsets.len()]);
            fleet.enrol(&[&format!("d{i}")], "cam-v2", &[&tag])
        })
        .collect();
    fleet.publish("2.0", &["cam-v2"], 1);
    let pilot: Vec<String> = (0..20).map(|i| format!("d{i}")).collect();
    let c = fleet.campaign(json!({
        "release": "2.0",
        "rings": [{"name": "pilot", "ids": pilot, "approve": true}],
        "policy": {"maintenance_windows": [{"start": "01:00", "end": "05:00"}],
                   "install_time": "20m", "failures": {"min_sample": 10}},
    }));
    // T0 is 08:00 UTC; the all-hands is 18:00-20:00 UTC, frozen from 17:00.
    let (all_hands, end) = (T0 + 10 * HOUR, T0 + 12 * HOUR);
    let r = fleet.freeze(json!({"reason": "all-hands", "start": all_hands, "end": end}));
    assert_eq!(r.status, 201);
    let frozen = |t: u64| (all_hands - HOUR..end).contains(&t);

    // Each device polls when told; an offered one downloads for ten minutes,
    // then installs when its `downloaded` report is not held.
    enum Step {
        Idle,
        Downloading,
        Done,
    }
    let mut next = vec![T0; devs.len()];
    let mut step: Vec<Step> = devs.iter().map(|_| Step::Idle).collect();
    let (mut offers, mut installs, mut holds) = (Vec::new(), Vec::new(), 0);
    while fleet.env.now() < T0 + 48 * HOUR {
        let now = fleet.env.now();
        for (i, dev) in devs.iter().enumerate() {
            if next[i] > now {
                continue;
            }
            match step[i] {
                Step::Idle => {
                    let answer = fleet.checkin(dev, "1.0");
                    if answer["action"] == "update" {
                        offers.push((now, dev.id.clone()));
                        assert_eq!(fleet.status(dev, &c, "downloading").status, 200);
                        step[i] = Step::Downloading;
                        next[i] = now + 600;
                    } else {
                        next[i] = now + answer["next_poll_seconds"].as_u64().unwrap();
                    }
                }
                Step::Downloading => {
                    let answer = fleet.status(dev, &c, "downloaded").json_body();
                    if answer["action"] == "hold" {
                        holds += 1;
                        next[i] = now + answer["hold_seconds"].as_u64().unwrap();
                        continue;
                    }
                    installs.push((now, dev.id.clone()));
                    let outcome = if i % 5 == 4 { "failed" } else { "succeeded" };
                    for state in ["installing", "rebooting", outcome] {
                        assert_eq!(fleet.status(dev, &c, state).status, 200);
                    }
                    step[i] = Step::Done;
                }
                Step::Done => next[i] = u64::MAX,
            }
        }
        fleet.advance(60);
    }

    assert!(!offers.is_empty());
    assert!(
        offers.iter().all(|(t, _)| !frozen(*t)),
        "offers in the freeze: {offers:?}"
    );
    assert!(
        installs.iter().all(|(t, _)| !frozen(*t)),
        "installs in the freeze: {installs:?}"
    );
    assert!(
        offers.iter().all(|(_, id)| pilot.contains(id)),
        "only the pilot ring is offered anything: {offers:?}"
    );
    let progress = fleet.progress(&c);
    let campaign = &progress["campaign"];
    assert_eq!(
        campaign["ring"], 0,
        "no percentage stage opened: {progress}"
    );
    assert!(
        campaign["state"] == "halted" || campaign["waiting"]["opens"] == "stage 0",
        "{progress}"
    );
    assert_eq!(step_names(&progress), json!(["ring pilot"]));
    assert!(
        progress["steps"][0]["counts"]["failed"].as_u64().unwrap() >= 1,
        "{progress}"
    );
    eprintln!(
        "all-hands scenario: {} offers, {} installs, {} held installs, campaign {} ({})",
        offers.len(),
        installs.len(),
        holds,
        campaign["state"],
        campaign["reason"]
    );
}

/// A vendor policy that jumps three stages at every review.
struct Jumper;

impl Policy for Jumper {
    fn validate(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn decide(&self, _: &Device, _: &Campaign, _: &Stats, _: u64) -> Decision {
        Decision::Offer
    }
    fn review(&self, campaign: &Campaign, _: &Stats, _: u64) -> Verdict {
        Verdict::Advance(campaign.stage + 3)
    }
}

#[test]
fn a_policy_that_jumps_stages_stops_at_each_gate_in_turn() {
    let fleet = Fleet::new().with_policy(&Jumper);
    let devs = fleet.enrol_many("d", 4);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "approve_stages": [1, 2]}));
    let step = |dev: &Dev| {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
        fleet.finish(dev, &c, "succeeded");
        fleet.progress(&c)["campaign"].clone()
    };
    // From stage 0 the jump to 3 stops at gated stage 1, whose gate then closes.
    let at = step(&devs[0]);
    assert_eq!(at["stage"], 1, "{at}");
    let at = step(&devs[1]);
    assert_eq!(
        (at["stage"].as_u64(), at["waiting"]["opens"].as_str()),
        (Some(1), Some("stage 2")),
        "{at}"
    );
    assert_eq!(fleet.approve(&c, "").status, 200);
    // Stage 2 is gated too: one approval never passes two gates.
    let at = step(&devs[2]);
    assert_eq!(
        (at["stage"].as_u64(), at["waiting"]["opens"].as_str()),
        (Some(2), Some("stage 3")),
        "{at}"
    );
}

#[test]
fn four_eyes_hold_by_default_and_relax_only_by_an_audited_setting() {
    let fleet = Fleet::new().with_policy(&Jumper);
    let devs = fleet.enrol_many("d", 2);
    fleet.publish("2.0", &["cam-v2"], 1);
    let olga = fleet.operator("olga", &["operator", "approver"]);
    let create = |body: Value| {
        let r = fleet.admin_as(&olga, "POST", "/v1/admin/campaigns", body.to_string());
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json_body()
    };
    let c = create(json!({"release": "2.0", "approve_stages": [0], "critical": true}));
    let id = c["id"].as_str().unwrap().to_owned();
    assert_eq!(c["created_by"], "olga");
    assert_eq!(c["critical_pending"], true);
    assert_eq!(fleet.checkin(&devs[0], "1.0")["action"], "update");
    fleet.finish(&devs[0], &id, "succeeded");
    let approve = |token: &str| {
        fleet.admin_as(
            token,
            "POST",
            &format!("/v1/admin/campaigns/{id}/approve"),
            "",
        )
    };
    // Olga holds campaign:approve, but created the campaign.
    let own = approve(&olga);
    assert_eq!(own.status, 409, "{}", String::from_utf8_lossy(&own.body));
    let message = own.json_body()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("olga created campaign") && message.contains("campaign:approve"),
        "{message}"
    );
    let confirm = format!("/v1/admin/campaigns/{id}/confirm-critical");
    assert_eq!(fleet.admin_as(&olga, "POST", &confirm, "").status, 409);

    // Relaxing takes operator:manage and a reason, and is audited.
    let relax = json!({"required": false, "reason": "one-person lab"}).to_string();
    assert_eq!(
        fleet
            .admin_as(&olga, "PUT", "/v1/admin/four-eyes", relax.clone())
            .status,
        403
    );
    let no_reason = json!({"required": false, "reason": " "}).to_string();
    assert_eq!(
        fleet.admin("PUT", "/v1/admin/four-eyes", no_reason).status,
        400
    );
    let r = fleet.admin("PUT", "/v1/admin/four-eyes", relax);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        fleet.admin("GET", "/v1/admin/four-eyes", "").json_body()["required"],
        false
    );
    assert_eq!(approve(&olga).status, 200);
    assert_eq!(fleet.admin_as(&olga, "POST", &confirm, "").status, 200);
    let relaxed: Vec<_> = fleet
        .audit_actions()
        .into_iter()
        .filter(|(_, a)| a.starts_with("four_eyes"))
        .collect();
    assert_eq!(
        relaxed,
        [("owner".to_owned(), "four_eyes.relax".to_owned())]
    );

    // Relaxed, a new critical campaign is critical at once.
    let quick = create(json!({"release": "2.0", "critical": true}));
    assert!(quick.get("critical_pending").is_none(), "{quick}");
    let on = json!({"required": true, "reason": "the team grew"}).to_string();
    assert_eq!(fleet.admin("PUT", "/v1/admin/four-eyes", on).status, 200);
    let strict = create(json!({"release": "2.0", "critical": true}));
    assert_eq!(strict["critical_pending"], true);
}

/// The names of a campaign's steps, from its progress.
fn step_names(progress: &Value) -> Value {
    progress["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["name"].clone())
        .collect()
}
