//! `sluice conformance` against `sluice up`: on its embedded SQLite store, and
//! on two hosts sharing one Redis that the components talk to directly
//! (`store_redis_url`, as a Spin deployment on Redis must be set up). The same
//! run is what the README has operators point at released Spin.

use std::path::Path;

use serde_json::Value;

use crate::support::app::{Redis, admin};
use crate::support::cli::{scratch, sluice};
use crate::support::host::{Host, HostConfig};

/// Runs the conformance command against `hosts` (sharing `token`), printing
/// its report, and returns the JSON results.
fn conformance(dir: &Path, hosts: &[&Host], token_file: &str) -> Value {
    let mut args = vec!["conformance", "--keys", "keys", "--devices", "60", "--json"];
    for host in hosts {
        args.extend(["--server", host.url.as_str()]);
    }
    args.extend(["--token-file", token_file]);
    let run = sluice(dir, &args);
    eprintln!("{}", run.stderr);
    let run = run.success();
    assert!(
        run.stderr.contains("conformance: 9 passed, 0 failed"),
        "{}",
        run.stderr
    );
    let results: Value = serde_json::from_str(&run.stdout).expect("--json: the results alone");
    assert_eq!(results["failed"], 0, "{results}");
    results
}

fn fast(config: HostConfig, dir: &Path) -> HostConfig {
    config
        .variable(
            "trust_root",
            &format!("@{}", dir.join("keys/trust.json").display()),
        )
        .variable("poll_seconds", "1")
}

#[test]
fn the_conformance_run_passes_against_sluice_up_on_sqlite() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    let host = Host::start(fast(HostConfig::sluice(&dir.join("host")), &dir));
    let results = conformance(&dir, &[&host], &host.token_file());
    let steps: Vec<&str> = results["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps.len(), 9, "{steps:?}");
    host.stop();
}

#[test]
fn the_conformance_run_passes_on_two_hosts_whose_components_speak_to_redis_directly() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    let redis = Redis::start(&dir);
    let runtime_config = redis.runtime_config(&dir);
    let config = |name: &str| {
        fast(HostConfig::sluice(&dir.join(name)), &dir)
            .arg("--runtime-config")
            .arg(runtime_config.to_string_lossy())
            .variable("admin_token", "shared-token")
            .variable("store_redis_url", &redis.url)
            .variable("store_redis_origin", &redis.url)
    };
    let a = Host::start(config("a"));
    let b = Host::start(config("b"));
    std::fs::write(dir.join("token"), "shared-token").unwrap();
    conformance(&dir, &[&a, &b], &dir.join("token").to_string_lossy());

    // What the components wrote is in that Redis, under the keys Spin's own
    // Redis key-value backend uses (no prefix).
    let keys = std::process::Command::new("redis-cli")
        .args(["-u", &redis.url, "--scan", "--pattern", "device/conf-*"])
        .output()
        .expect("redis-cli comes with redis-server");
    assert!(
        String::from_utf8_lossy(&keys.stdout).lines().count() >= 60,
        "no device records in Redis:\n{}",
        String::from_utf8_lossy(&keys.stdout)
    );
    a.stop();
    b.stop();
}

#[test]
fn a_store_redis_url_the_components_may_not_reach_is_refused_with_what_to_set() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    let redis = Redis::start(&dir);
    // The URL is set, but store_redis_origin keeps its default, so
    // allowed_outbound_hosts does not grant it.
    let host = Host::start(
        fast(HostConfig::sluice(&dir.join("host")), &dir).variable("store_redis_url", &redis.url),
    );
    let answer = admin(
        &host,
        "POST",
        "/v1/admin/devices",
        Some(serde_json::json!({"devices": [{"id": "cam-1", "hardware": "cam-v2"}]})),
    );
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert!(
        answer.text().contains("store_redis_origin"),
        "{}",
        answer.text()
    );
    host.stop();
}
