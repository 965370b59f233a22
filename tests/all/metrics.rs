//! `GET /metrics` end to end: a real host, a small campaign, and the scrape
//! read back with a Prometheus text-format parser.

use std::collections::HashMap;

use prometheus_parse::{Scrape, Value as Sample};
use serde_json::json;

use crate::support::app::{
    add_operator, admin, basic, create_campaign, enrol, publish, release, status, trust,
};
use crate::support::cli::scratch;
use crate::support::host::{Host, HostConfig, http};

/// A scrape: (metric name, sorted labels) → value.
type Samples = HashMap<(String, Vec<(String, String)>), f64>;

/// Scrapes the host's `/metrics` with `token` (a monitor's, as Prometheus would).
fn scrape(host: &Host, token: &str) -> Samples {
    let answer = http(
        "GET",
        &format!("{}/metrics", host.url),
        &[("authorization", &format!("Bearer {token}"))],
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = answer.text();
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let parsed = Scrape::parse(lines).expect("the exposition parses");
    // Every sample belongs to a family with a TYPE and HELP line.
    for sample in &parsed.samples {
        assert!(
            parsed.docs.contains_key(&sample.metric),
            "{} has no HELP",
            sample.metric
        );
    }
    parsed
        .samples
        .into_iter()
        .map(|sample| {
            let mut labels: Vec<(String, String)> = sample
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            labels.sort();
            let value = match sample.value {
                Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => v,
                other => panic!("{}: unexpected {other:?}", sample.metric),
            };
            ((sample.metric, labels), value)
        })
        .collect()
}

fn get(metrics: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    *metrics
        .get(&(name.to_owned(), labels.clone()))
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
}

#[test]
fn metrics_count_a_campaign_and_parse_as_prometheus_text() {
    let (_guard, dir) = scratch();
    release(&dir);
    // Every check-in counted (by default one in 16 is, as 16).
    let host = Host::start(
        HostConfig::sluice(&dir.join("state"))
            .variable("trust_root", &trust(&dir))
            .variable("checkin_sampling", "1"),
    );
    publish(&dir, &host);
    // A cap of one: the first device is offered, the second deferred for the cap.
    let campaign = create_campaign(
        &dir,
        &host,
        r#"{"stages":[{"percent":100}],"max_in_flight":1,"failures":{"max_rate":0.99}}"#,
    );
    let devices = enrol(&host, &["cam-1".to_owned(), "cam-2".to_owned()]);

    let ask = |device: &(String, String), battery: u8| {
        let body = json!({
            "hardware": "cam-v2", "version": "1.0.0", "security_version": 1,
            "telemetry": {"battery_percent": battery},
        })
        .to_string();
        let answer = http(
            "POST",
            &format!("{}/v1/checkin", host.url),
            &[("authorization", &basic(&device.0, &device.1))],
            Some(body.as_bytes()),
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()
    };
    assert_eq!(ask(&devices[0], 90)["action"], "update");
    let deferred = ask(&devices[1], 90);
    assert_eq!(deferred["action"], "none", "{deferred}");
    assert!(
        deferred["reason"].as_str().unwrap().starts_with("cap:"),
        "{deferred}"
    );
    for state in ["downloading", "installing", "failed"] {
        assert_eq!(status(&host.url, &devices[0], &campaign, state), 200);
    }
    // A repeated report moves nothing and is not counted again.
    assert_eq!(status(&host.url, &devices[0], &campaign, "failed"), 200);

    // Prometheus scrapes with a token that can read /metrics and nothing else.
    let monitor = add_operator(&host, "prometheus", &["monitor"]);
    let metrics = scrape(&host, &monitor);
    let c = campaign.as_str();
    assert_eq!(get(&metrics, "sluice_checkins_total", &[]), 2.0);
    assert_eq!(
        get(
            &metrics,
            "sluice_deferrals_total",
            &[("campaign", c), ("reason", "cap")]
        ),
        1.0
    );
    assert_eq!(
        get(
            &metrics,
            "sluice_deferrals_total",
            &[("campaign", c), ("reason", "battery")]
        ),
        0.0
    );
    for (phase, count) in [
        ("downloading", 1.0),
        ("installing", 1.0),
        ("failed", 1.0),
        ("succeeded", 0.0),
    ] {
        assert_eq!(
            get(&metrics, "sluice_status_reports_total", &[("phase", phase)]),
            count,
            "{phase}"
        );
    }
    for (outcome, count) in [("offered", 1.0), ("failed", 1.0), ("succeeded", 0.0)] {
        assert_eq!(
            get(
                &metrics,
                "sluice_campaign_devices_total",
                &[("campaign", c), ("outcome", outcome)]
            ),
            count,
            "{outcome}"
        );
    }
    assert_eq!(
        get(
            &metrics,
            "sluice_campaign_failures_total",
            &[("campaign", c), ("code", "unspecified")]
        ),
        1.0
    );
    assert_eq!(
        get(&metrics, "sluice_campaign_in_flight", &[("campaign", c)]),
        0.0
    );
    assert_eq!(
        get(
            &metrics,
            "sluice_campaign_state",
            &[("campaign", c), ("state", "running")]
        ),
        1.0
    );
    assert_eq!(
        get(
            &metrics,
            "sluice_campaign_state",
            &[("campaign", c), ("state", "paused")]
        ),
        0.0
    );
    assert_eq!(
        get(&metrics, "sluice_devices", &[("version", "1.0.0")]),
        2.0
    );
    let entries = get(&metrics, "sluice_audit_entries", &[]);
    assert!(entries >= 2.0, "{entries}");

    // A pause shows, and is one more audit entry.
    let paused = admin(
        &host,
        "POST",
        &format!("/v1/admin/campaigns/{c}/pause"),
        None,
    );
    assert_eq!(paused.status, 200, "{}", paused.text());
    let metrics = scrape(&host, &monitor);
    assert_eq!(
        get(
            &metrics,
            "sluice_campaign_state",
            &[("campaign", c), ("state", "paused")]
        ),
        1.0
    );
    assert_eq!(get(&metrics, "sluice_audit_entries", &[]), entries + 1.0);

    // The sample Grafana dashboard asks only for metrics that exist.
    let names: std::collections::HashSet<&str> =
        metrics.keys().map(|(name, _)| name.as_str()).collect();
    let grafana = std::fs::read_to_string(
        crate::support::host::root().join("examples/grafana/sluice-rollouts.json"),
    )
    .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&grafana).unwrap();
    let mut asked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("sluice_") {
                    assert!(
                        names.contains(word),
                        "the Grafana dashboard asks for {word}, which /metrics lacks"
                    );
                    asked += 1;
                }
            }
        }
    }
    assert!(asked >= 10, "{asked}");

    // Only a token with metrics:read opens it; a viewer's does not.
    let viewer = add_operator(&host, "vera", &["viewer"]);
    let answer = http(
        "GET",
        &format!("{}/metrics", host.url),
        &[("authorization", &format!("Bearer {viewer}"))],
        None,
    );
    assert_eq!(answer.status, 403, "{}", answer.text());
    for auth in [
        None,
        Some(basic(&devices[1].0, &devices[1].1)),
        Some("Bearer wrong".to_owned()),
    ] {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let answer = http("GET", &format!("{}/metrics", host.url), &headers, None);
        assert_eq!(answer.status, 401, "{auth:?}: {}", answer.text());
    }
}
