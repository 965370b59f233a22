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
        self.call(
            Request::new("POST", "/v1/admin/freezes")
                .header("authorization", &format!("Bearer {TOKEN}"))
                .header("x-sluice-operator", "alice")
                .body(body.to_string()),
        )
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
    assert_eq!(freeze["created_by"], "admin:alice");
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
            .contains(&("admin:alice".into(), "freeze.add".into()))
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
    // Lifted early: Berlin updates at its next check-in.
    let r = fleet.admin("DELETE", "/v1/admin/freezes/f1", "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    for dev in &berlin {
        assert_eq!(fleet.checkin(dev, "1.0")["action"], "update");
    }
    let actions = fleet.audit_actions();
    assert!(actions.contains(&("admin".into(), "freeze.remove".into())));
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
    fleet.freeze(json!({"reason": "all-hands", "start": T0, "end": T0 + HOUR}));
    fleet.freeze(json!({"reason": "quarter close", "start": T0, "end": T0 + 2 * HOUR}));

    // A critical campaign is no exception by itself.
    assert_eq!(fleet.checkin(dev, "1.0")["action"], "none");
    let grant = |campaign: &str, body: Value| {
        fleet.call(
            Request::new(
                "POST",
                &format!("/v1/admin/campaigns/{campaign}/override-freeze"),
            )
            .header("authorization", &format!("Bearer {TOKEN}"))
            .header("x-sluice-operator", "bob")
            .body(body.to_string()),
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

    // Passing one of two overlapping freezes is not enough.
    let r = grant(
        &critical,
        json!({"freeze": "f1", "reason": "CVE-2026-0001"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json_body()["freeze_overrides"][0]["by"], "admin:bob");
    let answer = fleet.checkin(dev, "1.0");
    assert_eq!(answer["action"], "none");
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .starts_with("change freeze f2")
    );
    assert_eq!(policy.asked.load(Ordering::SeqCst), 0);

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
    assert!(overrides.iter().all(|(actor, _)| actor == "admin:bob"));
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
    let r = fleet.call(
        Request::new("POST", "/v1/admin/freezes")
            .header("authorization", &format!("Bearer {TOKEN}"))
            .header("x-sluice-operator", "eve:admin")
            .body(json!({"reason": "x", "start": T0, "end": T0 + 10}).to_string()),
    );
    assert_eq!(r.status, 400);
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
