//! `sluice demo`: the whole story in one command, judged by its summary.

use serde_json::Value;

use crate::support::cli::{scratch, sluice};
use crate::support::host::root;

fn demo(devices: &str, extra: &[&str]) -> Value {
    let (_guard, dir) = scratch();
    let manifest = root().join("spin.toml");
    let mut args = vec![
        "demo",
        "-f",
        manifest.to_str().unwrap(),
        "--devices",
        devices,
        "--json",
    ];
    args.extend_from_slice(extra);
    let run = sluice(&dir, &args).success();
    assert!(
        run.stderr.contains("stage 1 of 3 (5%) opened"),
        "live per-stage progress: {}",
        run.stderr
    );
    serde_json::from_str(run.last_line()).expect("the last line is the JSON summary")
}

#[test]
fn the_demo_rolls_a_good_release_out_to_every_matching_device_in_stages() {
    let summary = demo("60", &[]);
    let targeted = summary["targeted"].as_u64().unwrap();
    let others = summary["devices"].as_u64().unwrap() - targeted;
    assert!(targeted > 0 && others > 0, "{summary}");
    assert_eq!(summary["halted"], false, "{summary}");
    assert_eq!(summary["succeeded"], targeted, "{summary}");
    assert_eq!(summary["offered"], targeted, "{summary}");
    assert_eq!(summary["installed_bad"], 0, "{summary}");
    assert_eq!(summary["stage"], 2, "reached the last stage: {summary}");
    assert!(
        summary["canary_size"].as_u64().unwrap() < targeted,
        "{summary}"
    );
    assert_eq!(
        summary["versions"],
        serde_json::json!({"1.0.0": others, "2.0.0": targeted}),
        "{summary}"
    );
    for key in ["rolled_back", "rejected", "failed"] {
        assert_eq!(summary[key], 0, "{key}: {summary}");
    }
    for key in ["peak_concurrent_downloads", "bytes_downloaded", "seconds"] {
        assert!(summary[key].as_f64().unwrap() > 0.0, "{key}: {summary}");
    }
}

#[test]
fn the_bad_demo_halts_in_the_canary_and_rolls_back_whoever_installed_it() {
    // Enough devices for a canary the failure gate can judge (3 finished).
    let summary = demo("150", &["--bad"]);
    assert_eq!(summary["halted"], true, "{summary}");
    assert_eq!(summary["stage"], 0, "halted in the canary stage: {summary}");
    assert_eq!(summary["campaign_state"], "rolled_back", "{summary}");
    let installed = summary["installed_bad"].as_u64().unwrap();
    let bound = summary["canary_size"].as_u64().unwrap()
        + summary["peak_concurrent_downloads"].as_u64().unwrap();
    assert!(installed >= 1 && installed <= bound, "{summary}");
    // Those that could not boot it reverted on their own; the rest were rolled back.
    assert_eq!(
        summary["failed"].as_u64().unwrap() + summary["rolled_back"].as_u64().unwrap(),
        installed,
        "{summary}"
    );
    assert_eq!(
        summary["versions"],
        serde_json::json!({"1.0.0": summary["devices"]}),
        "every device back on the old version: {summary}"
    );
}
