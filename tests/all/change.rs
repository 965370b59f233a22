//! Change management end to end: `sluice freeze` and scheduled campaigns
//! against a real `sluice up`, with a simulated fleet running the real agent.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::cli::sluice;
use crate::host::Host;
use crate::sim::{rollout, sim};
use crate::up::admin;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// When the policy offered each of the sim's `count` devices the update.
fn offered_at(host: &Host, count: usize) -> Vec<u64> {
    (0..count)
        .map(|i| {
            let device = admin(host, "GET", &format!("/v1/admin/devices/sim-{i}"), None).json();
            device["state"]["rollout"]["offered_at"]
                .as_u64()
                .unwrap_or_else(|| panic!("sim-{i} was never offered: {device}"))
        })
        .collect()
}

fn audit(host: &Host) -> Vec<Value> {
    admin(host, "GET", "/v1/admin/audit?limit=1000", None).json()["entries"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_fleet_wide_freeze_holds_every_offer_and_the_rollout_resumes_by_itself_after_it() {
    let (_guard, dir, host, campaign) = rollout(r#"{"stages":[{"percent":100}]}"#);
    let end = now() + 5;
    let server = ["--server", &host.url, "--token-file", &host.token_file()];
    let end_text = end.to_string();
    let mut add = vec![
        "freeze",
        "add",
        "--start",
        "0",
        "--end",
        &end_text,
        "--lead",
        "0s",
        "--reason",
        "all-hands",
        "--operator",
        "alice",
    ];
    add.extend_from_slice(&server);
    let run = sluice(&dir, &add).success();
    assert_eq!(run.last_line(), "f1", "{}", run.stdout);

    let mut list = vec!["freeze", "list"];
    list.extend_from_slice(&server);
    let listed = sluice(&dir, &list).success();
    assert!(
        listed.stdout.contains("freeze f1") && listed.stdout.contains("all-hands"),
        "{}",
        listed.stdout
    );

    // The fleet polls every second through the freeze; nobody is offered
    // anything before it ends, then everyone updates with no operator action.
    let summary = sim(&dir, &host, &["--devices", "20", "--settle", "8s"]);
    assert_eq!(summary["succeeded"], 20, "{summary}");
    let offered = offered_at(&host, 20);
    assert!(
        offered.iter().all(|at| *at >= end),
        "freeze ended at {end}: {offered:?}"
    );
    let progress = admin(
        &host,
        "GET",
        &format!("/v1/admin/campaigns/{campaign}"),
        None,
    )
    .json();
    assert_eq!(progress["total"]["succeeded"], 20, "{progress}");
    let added = audit(&host)
        .into_iter()
        .find(|e| e["action"] == "freeze.add")
        .expect("the freeze is audited");
    assert_eq!(added["actor"], "admin:alice");
    host.stop();
}

#[test]
fn a_scheduled_campaign_starts_by_itself_and_offers_nothing_before() {
    let (_guard, dir, host, other) = rollout(r#"{"stages":[{"percent":100}]}"#);
    // The campaign `rollout` made is not the one under test.
    let server = ["--server", &host.url, "--token-file", &host.token_file()];
    let mut abort = vec!["campaign", "abort", &other];
    abort.extend_from_slice(&server);
    sluice(&dir, &abort).success();

    let start = now() + 5;
    let start_text = start.to_string();
    let mut create = vec![
        "campaign",
        "create",
        "--release",
        "1.2.0",
        "--policy",
        r#"{"stages":[{"percent":100}]}"#,
        "--start-at",
        &start_text,
    ];
    create.extend_from_slice(&server);
    let created = sluice(&dir, &create).success();
    let id = created.last_line().to_owned();
    assert!(created.stdout.contains(", from "), "{}", created.stdout);

    let summary = sim(&dir, &host, &["--devices", "10", "--settle", "8s"]);
    assert_eq!(summary["succeeded"], 10, "{summary}");
    let offered = offered_at(&host, 10);
    assert!(
        offered.iter().all(|at| *at >= start),
        "start {start}: {offered:?}"
    );

    let mut status = vec!["campaign", "status", &id];
    status.extend_from_slice(&server);
    let shown = sluice(&dir, &status).success();
    assert!(
        shown.stdout.contains("  schedule: from "),
        "{}",
        shown.stdout
    );
    host.stop();
}
