//! `sluice device enrol|list|revoke` and `sluice fleet` against a real host.

use serde_json::json;

use crate::support::app::{basic, checkin, operate, release, trust};
use crate::support::cli::scratch;
use crate::support::host::{Host, HostConfig, http};

#[test]
fn an_operator_enrols_lists_and_revokes_a_device_from_the_command_line() {
    let (_guard, dir) = scratch();
    release(&dir);
    let host =
        Host::start(HostConfig::sluice(&dir.join("state")).variable("trust_root", &trust(&dir)));

    let enrolled = operate(
        &dir,
        &host,
        &[
            "device",
            "enrol",
            "lobby-cam",
            "--hardware",
            "cam-v2",
            "--tag",
            "lobby",
            "--attribute",
            "site=berlin",
        ],
    );
    let device = ("lobby-cam".to_owned(), enrolled.last_line().to_owned());
    assert_eq!(device.1.len(), 64, "{}", enrolled.stdout);
    let answer = checkin(&host.url, &device, "1.0.0");
    assert_eq!(answer["action"], "none", "{answer}");
    operate(
        &dir,
        &host,
        &["device", "enrol", "door-1", "--hardware", "doorbell"],
    );

    let listed = operate(&dir, &host, &["device", "list", "cam"]);
    let rows: Vec<&str> = listed.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{}", listed.stdout);
    assert!(
        rows[0].starts_with("lobby-cam") && rows[0].contains("cam-v2") && rows[0].contains("1.0.0"),
        "{}",
        rows[0]
    );
    assert!(rows[0].contains("online"), "{}", rows[0]);
    let all = operate(&dir, &host, &["device", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    let ids: Vec<String> = listed["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].to_string())
        .collect();
    assert_eq!(ids, ["\"lobby-cam\"", "\"door-1\""], "{}", all.stdout);

    let fleet = operate(&dir, &host, &["fleet"]);
    assert!(
        fleet
            .stdout
            .starts_with("2 devices: 1 online, 0 late, 0 silent, 1 never checked in, 0 revoked"),
        "{}",
        fleet.stdout
    );
    assert!(
        fleet.stdout.contains("hardware: cam-v2 1, doorbell 1"),
        "{}",
        fleet.stdout
    );
    assert!(
        fleet.stdout.contains("versions: 1.0.0 1"),
        "{}",
        fleet.stdout
    );

    let revoked = operate(
        &dir,
        &host,
        &[
            "device",
            "revoke",
            "lobby-cam",
            "--reason",
            "stolen from the lobby",
        ],
    );
    assert!(
        revoked.stdout.contains("revoked by owner")
            && revoked.stdout.contains("stolen from the lobby"),
        "{}",
        revoked.stdout
    );
    let body = json!({"hardware": "cam-v2", "version": "1.0.0", "security_version": 1}).to_string();
    let refused = http(
        "POST",
        &format!("{}/v1/checkin", host.url),
        &[("authorization", &basic(&device.0, &device.1))],
        Some(body.as_bytes()),
    );
    assert_eq!(refused.status, 401, "{}", refused.text());
    host.stop();
}
