//! An operator and a device that speak to the server only through Sluice's own
//! typed clients: the `sluice` command line for every admin call (its `--json`
//! documents read as `sluice-api` types) and the reference agent for the
//! device (`sluice device`, on `sluice_device::HttpTransport`). No request in
//! this test is written by hand.

use sluice_api::admin::campaigns::{Campaign, Progress};
use sluice_api::admin::devices::DeviceDetail;
use sluice_api::status::Phase;

use crate::device::device_args;
use crate::support::app::{operate, publish, release, trust};
use crate::support::cli::{scratch, sluice};
use crate::support::host::{Host, HostConfig};

/// The JSON document a `--json` command printed, as a `T`.
#[track_caller]
fn document<T: serde::de::DeserializeOwned>(stdout: &str) -> T {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("not a {}: {e}\n{stdout}", std::any::type_name::<T>()))
}

#[test]
fn a_rollout_runs_through_the_command_line_and_the_agent_alone() {
    let (_guard, dir) = scratch();
    release(&dir);
    let host =
        Host::start(HostConfig::sluice(&dir.join("state")).variable("trust_root", &trust(&dir)));
    publish(&dir, &host);
    let enrolled = operate(
        &dir,
        &host,
        &["device", "enrol", "lobby-cam", "--hardware", "cam-v2"],
    );
    let secret = enrolled.last_line().to_owned();

    let created = operate(
        &dir,
        &host,
        &[
            "campaign",
            "create",
            "--release",
            "1.2.0",
            "--policy",
            r#"{"stages":[{"percent":100}]}"#,
            "--json",
        ],
    );
    let campaign: Campaign = document(&created.stdout);
    assert_eq!(campaign.step, "stage 0", "{}", created.stdout);
    assert!(campaign.images.contains_key("cam-v2"), "{}", created.stdout);

    let trust_file = dir.join("keys/trust.json").to_string_lossy().into_owned();
    let state_dir = dir.join("lobby-cam").to_string_lossy().into_owned();
    let run = sluice(
        &dir,
        &device_args(&host, "lobby-cam", &secret, &trust_file, &state_dir),
    )
    .success();
    assert!(run.stdout.contains("committed 1.2.0"), "{}", run.stdout);
    // Its next step checks in on the new version: nothing to do.
    let run = sluice(
        &dir,
        &device_args(&host, "lobby-cam", &secret, &trust_file, &state_dir),
    )
    .success();
    assert!(run.stdout.contains("running 1.2.0"), "{}", run.stdout);

    let status = operate(&dir, &host, &["campaign", "status", &campaign.id, "--json"]);
    let progress: Progress = document(&status.stdout);
    assert_eq!(progress.total.succeeded, 1, "{}", status.stdout);
    let names: Vec<&str> = progress.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["stage 0"], "{}", status.stdout);
    assert_eq!(progress.steps[0].counts.succeeded, 1, "{}", status.stdout);

    let shown = operate(&dir, &host, &["device", "show", "lobby-cam", "--json"]);
    let device: DeviceDetail = document(&shown.stdout);
    let state = device.state.expect("the device has a state");
    assert_eq!(state.version, "1.2.0", "{}", shown.stdout);
    let rollout = state.rollout.expect("the device took part in the campaign");
    assert_eq!(
        (rollout.campaign.as_str(), rollout.phase, rollout.step),
        (campaign.id.as_str(), Phase::Succeeded, 0),
        "{}",
        shown.stdout
    );
    host.stop();
}
