//! The standard policy's production example on a simulated fleet of 100,000
//! devices: a bad release halts with at most 1% exposed; a good one reaches 99%
//! with no offer in a blackout or outside a window and never above the cap.

use sluice_policy_sim::{Report, Scenario, simulate};
use sluice_policy_standard::Standard;

const PRODUCTION: &str = include_str!("../../../policies/standard/examples/production.json");

fn run(fail_rate: f64) -> Report {
    let scenario = Scenario {
        devices: 100_000,
        fail_rate,
        config: PRODUCTION.into(),
        days: 14.0,
        ..Scenario::default()
    };
    let started = std::time::Instant::now();
    let report = simulate(&Standard, &scenario);
    let mut brief = report.clone();
    brief.curve.clear();
    println!(
        "fail rate {fail_rate}: {} ({:.1} s)",
        serde_json::to_string(&brief).unwrap(),
        started.elapsed().as_secs_f64()
    );
    report
}

#[test]
fn a_bad_release_halts_with_at_most_one_percent_of_the_fleet_exposed() {
    let report = run(0.2);
    assert!(report.halted, "{:?}", report.reason);
    assert!(
        report.exposed_fraction <= 0.01,
        "{}",
        report.exposed_fraction
    );
    assert_eq!(report.stage, 0, "halted in the canary");
    assert_eq!(report.blackout_offers, 0);
    assert_eq!(report.out_of_window_offers, 0);
}

#[test]
fn a_good_release_reaches_99_percent_inside_windows_and_under_the_cap() {
    let report = run(0.005);
    assert!(!report.halted && !report.rolled_back, "{:?}", report.reason);
    assert!(
        report.updated_fraction >= 0.99,
        "{}",
        report.updated_fraction
    );
    assert!(report.hours_to_99.is_some());
    assert_eq!(report.blackout_offers, 0);
    assert_eq!(report.out_of_window_offers, 0);
    assert!(
        report.peak_concurrency <= 2000,
        "{}",
        report.peak_concurrency
    );
    assert!(report.peak_concurrency > 0);
}
