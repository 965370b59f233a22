//! Policy components run offline: `sluice policy simulate`, and the Wasm
//! adapter against the native policy it was built from.

use serde_json::Value;
use sluice_policy_sim::{Scenario, simulate};

use crate::support::cli::{scratch, sluice};
use crate::support::host::root;

fn component(name: &str) -> std::path::PathBuf {
    root().join(format!(
        "target/wasm32-wasip2/release/sluice_policy_{name}.wasm"
    ))
}

/// The 0.1.0 policy component `name` after `sluice policy upgrade`, in `dir`.
pub fn upgraded(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let out = dir.join(format!("sluice_policy_{name}_upgraded.wasm"));
    sluice(
        dir,
        &[
            "policy",
            "upgrade",
            component(name).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .success();
    out
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
            "--policy",
            &format!("@{}", config.display()),
            "--devices",
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
    assert!(run.stderr.contains("halted after"), "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "--json: the report alone on stdout"
    );
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
            "--policy",
            &format!("@{}", config.display()),
        ],
    )
    .failure(&["the policy refuses", "min_sample"]);
    sluice(
        &dir,
        &[
            "policy",
            "simulate",
            dir.join("missing.wasm").to_str().unwrap(),
            "--policy",
            &format!("@{}", config.display()),
        ],
    )
    .failure(&["missing.wasm"]);
}

/// A room device as the policy sees it.
fn room(id: &str, tags: &[&str], utc_offset_minutes: i16) -> sluice_policy::Device {
    sluice_policy::Device {
        id: id.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        utc_offset_minutes: Some(utc_offset_minutes),
        ..Default::default()
    }
}

#[test]
fn the_python_vendor_policy_follows_its_rules() {
    use sluice_policy::{Campaign, Decision, OutcomeCounts, Policy, RateTest, Stats, Verdict};
    let policy = sluice_host_policy::WasmPolicy::load(&component("rings_py")).unwrap();
    assert!(policy.validate("{}").is_ok());
    let refused = policy.validate(r#"{"rings":[]}"#).unwrap_err();
    assert!(refused.contains("rings"), "{refused}");
    assert!(
        policy
            .validate(r#"{"ringz":["a"]}"#)
            .unwrap_err()
            .contains("ringz")
    );

    let campaign = |stage: u32| Campaign {
        id: "c1".into(),
        config: r#"{"rings":["lab","pilot","fleet"],"soak_hours":1,"min_finished":2}"#.into(),
        stage,
        stage_started_at: 1_796_169_600, // Wednesday 2026-12-02 00:00 UTC
        ..Campaign::default()
    };
    let night = 1_796_180_400; // 03:00 UTC
    let stats = Stats::default();
    let lab = room("lab-1", &["ring:lab"], 0);
    let office = room("room-9", &[], 0);
    assert_eq!(
        policy.decide(&lab, &campaign(0), &stats, night),
        Decision::Offer
    );
    assert!(matches!(
        policy.decide(&office, &campaign(0), &stats, night),
        Decision::Skip(r) if r.contains("ring fleet")
    ));
    assert_eq!(
        policy.decide(&office, &campaign(2), &stats, night),
        Decision::Offer
    );
    // 03:00 UTC is 12:00 in UTC+09:00: meeting hours on a Wednesday, back at 19:00.
    match policy.decide(
        &room("tokyo", &["ring:lab"], 540),
        &campaign(0),
        &stats,
        night,
    ) {
        Decision::Defer { seconds, reason } => {
            assert!((7 * 3600..7 * 3600 + 1800).contains(&seconds), "{seconds}");
            assert!(reason.contains("meeting hours"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    let ring = |succeeded, failed| Stats {
        step: OutcomeCounts {
            offered: succeeded + failed,
            succeeded,
            failed,
            ..Default::default()
        },
        ..Stats::default()
    };
    assert_eq!(
        policy.review(&campaign(0), &ring(2, 0), night),
        Verdict::Advance(1)
    );
    assert_eq!(
        policy.review(&campaign(0), &ring(1, 0), night),
        Verdict::Proceed
    );
    assert!(
        matches!(policy.review(&campaign(0), &ring(1, 1), night), Verdict::Halt(r) if r.contains("ring lab"))
    );

    // It describes what it enforces, so the simulator checks its offers
    // against its own windows (the hours outside meetings), not another
    // policy's keys.
    let described = policy
        .describe(r#"{"max_failure_rate":0.2,"min_finished":3}"#)
        .unwrap()
        .expect("the Python policy describes itself");
    let gate = described.failures.expect("it halts on a failure rate");
    assert_eq!(
        (gate.max_rate, gate.min_sample, gate.test),
        (0.2, 3, RateTest::Observed)
    );
    assert_eq!(described.windows.len(), 3, "{:?}", described.windows);
    assert!(policy.describe(r#"{"rings":[]}"#).is_err());
    let report = simulate(
        &policy,
        &Scenario {
            devices: 500,
            config: r#"{"rings":["fleet"],"min_finished":2}"#.into(),
            days: 3.0,
            ..Scenario::default()
        },
    );
    assert!(report.described);
    assert!(report.updated > 0, "{report:?}");
    assert_eq!(report.out_of_window_offers, 0);
}

#[test]
fn a_vendor_policy_in_python_is_swapped_in_by_one_line_of_spin_toml() {
    use crate::support::app::{admin, app_with_policy, checkin, host_for, publish, release};
    let (_guard, dir) = scratch();
    release(&dir);
    let host = host_for(&dir, &app_with_policy(&dir, "rings_py"));
    publish(&dir, &host);
    let create = |policy: Value| {
        admin(
            &host,
            "POST",
            "/v1/admin/campaigns",
            Some(
                serde_json::json!({"release": "1.2.0", "selector": {"hardware": ["cam-v2"]}, "policy": policy}),
            ),
        )
    };
    // The Python code's own validation answers.
    let refused = create(serde_json::json!({"rings": "lab"}));
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.text().contains("`rings` must be"),
        "{}",
        refused.text()
    );
    let created = create(serde_json::json!({"rings": ["lab", "fleet"], "meeting_hours": null}));
    assert_eq!(created.status, 201, "{}", created.text());

    let enrolled = admin(
        &host,
        "POST",
        "/v1/admin/devices",
        Some(serde_json::json!({"devices": [
            {"id": "lab-1", "hardware": "cam-v2", "tags": ["ring:lab"]},
            {"id": "room-1", "hardware": "cam-v2"},
        ]})),
    );
    assert_eq!(enrolled.status, 201, "{}", enrolled.text());
    let enrolled = enrolled.json();
    let device = |i: usize| {
        let d = &enrolled["devices"][i];
        (
            d["id"].as_str().unwrap().to_owned(),
            d["secret"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(checkin(&host.url, &device(0), "1.0.0")["action"], "update");
    assert_eq!(checkin(&host.url, &device(1), "1.0.0")["action"], "none");
    // The campaign page judges the failure rate by the threshold the Python
    // policy states (its default, 10%), through the composed component.
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let progress = admin(&host, "GET", &format!("/v1/admin/campaigns/{id}"), None).json();
    let bound = &progress["failure_bounds"][0];
    assert_eq!(bound["threshold"], 0.1, "{progress}");
    assert_eq!(bound["min_sample"], 5, "{progress}");
    host.stop();
}

/// `POST /v1/admin/simulate` through a real host: the preview the dashboard
/// shows before a campaign starts, run with the policy `spin.toml` plugs in.
#[test]
fn the_server_previews_a_campaign_with_the_policy_it_runs() {
    use crate::support::app::admin;
    use crate::support::host::{Host, HostConfig};
    use serde_json::json;

    let (_guard, dir) = scratch();
    let host = Host::start(HostConfig::sluice(&dir.join("state")));
    let policy = json!({"stages": [{"percent": 2, "soak": "2h"}, {"percent": 100}]});
    let started = std::time::Instant::now();
    let answer = admin(
        &host,
        "POST",
        "/v1/admin/simulate",
        Some(json!({"policy": policy, "devices": 10_000, "bad_fail_rate": 0.5})),
    );
    let elapsed = started.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let p = answer.json();
    eprintln!(
        "preview of 10,000 devices (two runs of 14 days) in {elapsed:?}: 99% after {} h; a bad release halted after {} h with {} exposed",
        p["good"]["hours_to_99"], p["bad"]["halted_at_hours"], p["bad"]["exposed"]
    );
    assert!(p["good"]["hours_to_99"].as_f64().is_some(), "{p}");
    assert_eq!(p["good"]["halted"], false);
    assert_eq!(p["bad"]["halted"], true, "{p}");
    let exposed = p["bad"]["exposed_fraction"].as_f64().unwrap();
    assert!(
        exposed <= 0.03,
        "a bad release reaches little more than the 2% canary: {exposed}"
    );
    // The native simulator with the native policy agrees on the bad release.
    let native = simulate(
        &sluice_policy_standard::Standard,
        &Scenario {
            devices: 10_000,
            fail_rate: 0.5,
            config: policy.to_string(),
            ..Scenario::default()
        },
    );
    assert!(native.halted);
    assert!(native.exposed_fraction <= 0.03);

    for (body, status) in [
        (json!({"policy": {"stages": "all"}}), 422),
        (json!({"devices": 0}), 400),
        (json!({"devices": 1_000_000}), 400),
        (json!({"bad_fail_rate": 0}), 400),
        (json!({"surprise": 1}), 400),
    ] {
        let answer = admin(&host, "POST", "/v1/admin/simulate", Some(body.clone()));
        assert_eq!(answer.status, status, "{body}: {}", answer.text());
    }
    let anonymous = crate::support::host::http(
        "POST",
        &format!("{}/v1/admin/simulate", host.url),
        &[],
        Some(b"{}"),
    );
    assert_eq!(anonymous.status, 401);
    host.stop();
}

/// A policy built against `sluice:policy` 0.1.0 (the `offer_now` fixture,
/// with its own 0.1.0 bindings) is refused as it is, with the way out named,
/// and works once `sluice policy upgrade` has wrapped it: every call passes
/// through, and it is undescribed, so nothing is judged by another policy's
/// rules.
#[test]
fn a_policy_from_before_0_2_keeps_working_once_upgraded() {
    use sluice_host_policy::WasmPolicy;
    use sluice_policy::{Campaign, Decision, Device, Policy, Stats};

    let (_guard, dir) = scratch();
    let old = component("offer_now");
    let refused = WasmPolicy::load(&old)
        .err()
        .expect("0.1.0 does not load as 0.2.0");
    assert!(
        refused.to_string().contains("sluice policy upgrade"),
        "{refused}"
    );

    let upgraded = upgraded(&dir, "offer_now");
    let policy = WasmPolicy::load(&upgraded).unwrap();
    assert_eq!(policy.validate("{}"), Ok(()));
    assert_eq!(policy.describe("{}"), Ok(None));
    assert_eq!(
        policy.decide(
            &Device::default(),
            &Campaign::default(),
            &Stats::default(),
            0
        ),
        Decision::Offer
    );
    let report = simulate(
        &policy,
        &Scenario {
            devices: 200,
            days: 1.0,
            ..Scenario::default()
        },
    );
    assert!(!report.described);
    assert_eq!(report.updated, 200, "{report:?}");

    // Upgrading what is not a 0.1.0 policy is refused and writes nothing.
    let again = dir.join("twice.wasm");
    sluice(
        &dir,
        &[
            "policy",
            "upgrade",
            component("standard").to_str().unwrap(),
            "--out",
            again.to_str().unwrap(),
        ],
    )
    .failure(&["not a sluice:policy 0.1.0 policy component"]);
    assert!(!again.exists());
}
