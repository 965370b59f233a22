//! `sluice sim` against a real `sluice up`: whole rollouts, good and bad.

use serde_json::Value;

use crate::support::app::{admin, create_campaign, publish, release, trust};
use crate::support::cli::{scratch, sluice};
use crate::support::host::{Host, HostConfig};

pub fn sim(dir: &std::path::Path, host: &Host, extra: &[&str]) -> Value {
    let trust_file = dir.join("keys/trust.json").to_string_lossy().into_owned();
    let token_file = host.token_file();
    let mut args = vec![
        "sim",
        "--server",
        &host.url,
        "--token-file",
        &token_file,
        "--trust",
        &trust_file,
        "--json",
    ];
    args.extend_from_slice(extra);
    let run = sluice(dir, &args).success();
    serde_json::from_str(run.last_line())
        .unwrap_or_else(|_| panic!("{}\n{}", run.stdout, run.stderr))
}

/// A scratch dir, a host with release 1.2.0 published, and a campaign for it
/// under `policy`.
pub fn rollout(policy: &str) -> (tempfile::TempDir, std::path::PathBuf, Host, String) {
    let (guard, dir) = scratch();
    release(&dir);
    let host = host(&dir);
    publish(&dir, &host);
    let id = create_campaign(&dir, &host, policy);
    (guard, dir, host, id)
}

fn host(dir: &std::path::Path) -> Host {
    Host::start(
        HostConfig::sluice(&dir.join("state"))
            .variable("trust_root", &trust(dir))
            .variable("poll_seconds", "1"),
    )
}

#[test]
fn a_good_staged_rollout_reaches_every_matching_device_and_no_other() {
    let (_guard, dir, host, id) =
        rollout(r#"{"stages":[{"percent":25,"soak":"2s","min_devices":1},{"percent":100}]}"#);
    let summary = sim(
        &dir,
        &host,
        &[
            "--devices",
            "40",
            "--hardware-mix",
            "cam-v2=0.75,doorbell=0.25",
            "--settle",
            "4s",
            "--power-loss-rate",
            "0.3",
            "--drop-rate",
            "0.05",
        ],
    );
    assert_eq!(summary["devices"], 40, "{summary}");
    assert_eq!(summary["settled"], true, "{summary}");
    assert_eq!(
        summary["offered"], 30,
        "only the 30 cam-v2 devices: {summary}"
    );
    assert_eq!(summary["succeeded"], 30, "{summary}");
    assert_eq!(
        summary["versions"],
        serde_json::json!({"1.2.0": 30, "1.0.0": 10}),
        "{summary}"
    );
    let image = std::fs::metadata(dir.join("image")).unwrap().len();
    let bytes = summary["bytes_downloaded"].as_u64().unwrap();
    // Power cuts and drops cost at most a chunk each, never a whole re-download.
    assert!(
        bytes <= 30 * (image + 3 * 64 * 1024),
        "{bytes} bytes for 30 devices of a {image} byte image"
    );
    let progress = admin(&host, "GET", &format!("/v1/admin/campaigns/{id}"), None).json();
    assert_eq!(progress["campaign"]["stage"], 1, "{progress}");
    assert_eq!(progress["total"]["succeeded"], 30, "{progress}");
    host.stop();
}

#[test]
fn a_bad_release_halts_in_the_canary_and_the_fleet_stays_on_the_old_version() {
    let (_guard, dir, host, id) = rollout(
        r#"{"stages":[{"percent":10,"soak":"1h"},{"percent":100}],"failures":{"min_sample":3}}"#,
    );
    let summary = sim(
        &dir,
        &host,
        &["--devices", "60", "--fail-rate", "1.0", "--settle", "3s"],
    );
    let progress = admin(&host, "GET", &format!("/v1/admin/campaigns/{id}"), None).json();
    assert_eq!(progress["campaign"]["state"], "halted", "{progress}");
    assert_eq!(
        progress["campaign"]["stage"], 0,
        "halted in the canary stage: {progress}"
    );
    // 10% of 60 is the canary; devices offered before the halt are the only ones
    // that installed it, and each reverted on its own.
    let installed = summary["failed"].as_u64().unwrap();
    let canary = 6;
    assert!(
        installed >= 1
            && installed <= canary + summary["peak_concurrent_downloads"].as_u64().unwrap(),
        "{summary}"
    );
    assert_eq!(summary["succeeded"], 0, "{summary}");
    assert_eq!(
        summary["versions"],
        serde_json::json!({"1.0.0": 60}),
        "everyone on the old version: {summary}"
    );
    host.stop();
}

#[test]
fn a_post_update_crash_regression_rolls_the_campaign_back() {
    let (_guard, dir, host, id) = rollout(
        r#"{"stages":[{"percent":100}],"failures":{"max_rate":0.99},
            "post_update_health":{"min_devices":10,"max_increase":0.5,"min_events":10,
                                  "on_regression":"rollback"}}"#,
    );
    // One crash a second before the update, four after: measured over 3 s each.
    let summary = sim(
        &dir,
        &host,
        &[
            "--devices",
            "20",
            "--security-version",
            "1",
            "--crash-rate",
            "3600",
            "--crash-factor",
            "4",
            "--health-period",
            "3s",
            "--settle",
            "4s",
        ],
    );
    let progress = admin(&host, "GET", &format!("/v1/admin/campaigns/{id}"), None).json();
    assert_eq!(progress["campaign"]["state"], "rolled_back", "{progress}");
    let reason = progress["campaign"]["reason"].as_str().unwrap();
    assert!(reason.contains("crashes rose"), "{reason}");
    assert!(
        summary["health_reports"].as_u64().unwrap() >= 10,
        "{summary}"
    );
    assert_eq!(
        summary["versions"],
        serde_json::json!({"1.0.0": 20}),
        "every device rolled back: {summary}"
    );
    host.stop();
}
