//! Policy components run offline: `sluice policy simulate`, and the Wasm
//! adapter against the native policy it was built from.

use serde_json::Value;
use sluice_policy_sim::{Scenario, simulate};

use crate::cli::{scratch, sluice};
use crate::host::root;

fn component(name: &str) -> std::path::PathBuf {
    root().join(format!(
        "target/wasm32-wasip2/release/sluice_policy_{name}.wasm"
    ))
}

const PRODUCTION: &str = include_str!("../../policies/standard/examples/production.json");

#[test]
fn the_standard_component_decides_exactly_as_its_native_code() {
    let wasm = sluice_host_policy::WasmPolicy::load(&component("standard")).unwrap();
    for fail_rate in [0.0, 0.2] {
        let scenario = Scenario {
            devices: 5_000,
            fail_rate,
            config: PRODUCTION.into(),
            days: 5.0,
            ..Scenario::default()
        };
        let native = simulate(&sluice_policy_standard::Standard, &scenario);
        let through_wasm = simulate(&wasm, &scenario);
        assert_eq!(native, through_wasm, "fail rate {fail_rate}");
    }
}

#[test]
fn policy_simulate_reports_a_halt_and_draws_the_curve() {
    let (_guard, dir) = scratch();
    let config = dir.join("policy.json");
    std::fs::write(&config, PRODUCTION).unwrap();
    let plot = dir.join("curve.svg");
    let run = sluice(
        &dir,
        &[
            "policy",
            "simulate",
            component("standard").to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--fleet",
            "20000",
            "--fail-rate",
            "0.2",
            "--days",
            "3",
            "--start",
            "2026-11-30T00:00:00Z",
            "--plot",
            plot.to_str().unwrap(),
            "--json",
        ],
    )
    .success();
    let report: Value = serde_json::from_str(run.last_line()).unwrap();
    assert_eq!(report["halted"], true, "{report}");
    assert!(
        report["exposed_fraction"].as_f64().unwrap() <= 0.01,
        "{report}"
    );
    for key in [
        "fleet",
        "updated_fraction",
        "hours_to_50",
        "hours_to_90",
        "hours_to_99",
        "blackout_offers",
        "out_of_window_offers",
        "peak_concurrency",
        "concurrency_cap",
    ] {
        assert!(report.get(key).is_some(), "{key} missing: {report}");
    }
    assert!(run.stdout.contains("halted after"), "{}", run.stdout);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("halted"), "{svg}");
}

#[test]
fn policy_simulate_refuses_a_configuration_the_policy_refuses() {
    let (_guard, dir) = scratch();
    let config = dir.join("policy.json");
    std::fs::write(&config, r#"{"failures":{"min_sample":1}}"#).unwrap();
    sluice(
        &dir,
        &[
            "policy",
            "simulate",
            component("standard").to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    )
    .failure(&["the policy refuses", "min_sample"]);
    sluice(
        &dir,
        &[
            "policy",
            "simulate",
            dir.join("missing.wasm").to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    )
    .failure(&["missing.wasm"]);
}
