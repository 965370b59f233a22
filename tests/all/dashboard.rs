//! The dashboard in a real browser: headless Chromium, driven by Playwright
//! (`tests/browser/dashboard.mjs`), against `sluice up` with a fleet updating
//! in the background. Screenshots go to `target/dashboard-screenshots/`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::app::{
    add_operator, admin, checkin, enrol_records, publish, release, status, trust,
};
use crate::support::cli::scratch;
use crate::support::host::{Host, HostConfig, http, root};

/// Enrols `ids` with `tag`; returns (id, secret) pairs.
fn enrol_tagged(host: &Host, ids: &[String], tag: &str) -> Vec<(String, String)> {
    let devices: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "hardware": "cam-v2", "tags": [tag]}))
        .collect();
    enrol_records(&host.url, &host.token(), devices)
}

fn create(host: &Host, tag: &str, policy: Value) -> String {
    let body = json!({"release": "1.2.0", "name": format!("{tag} devices"), "selector": {"tags": [tag]}, "policy": policy});
    let answer = admin(host, "POST", "/v1/admin/campaigns", Some(body));
    assert_eq!(answer.status, 201, "{}", answer.text());
    answer.json()["id"].as_str().unwrap().to_owned()
}

fn campaign(host: &Host, id: &str) -> Value {
    let answer = admin(host, "GET", &format!("/v1/admin/campaigns/{id}"), None);
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

/// Installs the browser test's npm packages when they are missing.
fn npm_packages(dir: &Path) {
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    let run = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .expect("npm (Node.js) is needed for the browser tests; scripts/test installs it");
    assert!(run.success(), "npm ci in {}", dir.display());
}

#[test]
fn an_operator_watches_a_rollout_pauses_it_and_finds_the_pause_in_the_audit_log() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: scripts/test installs Debian's chromium"
    );
    let browser_dir = root().join("tests/browser");
    npm_packages(&browser_dir);

    let (_guard, dir) = scratch();
    release(&dir);
    let host = Host::start(
        HostConfig::sluice(&dir.join("state"))
            .variable("trust_root", &trust(&dir))
            .variable("poll_seconds", "60"),
    );
    publish(&dir, &host);
    // The fleet view judges "online" by the poll interval the app sets.
    let fleet = admin(&host, "GET", "/v1/admin/fleet", None).json();
    assert_eq!(fleet["liveness"]["online_within"], 120, "{fleet}");

    // A lab campaign its policy halts: one device rejects the release.
    let lab = enrol_tagged(&host, &["lab-0".to_owned()], "lab");
    let halted = create(&host, "lab", json!({"stages": [{"percent": 100}]}));
    assert_eq!(checkin(&host.url, &lab[0], "1.0.0")["action"], "update");
    assert_eq!(status(&host.url, &lab[0], &halted, "rejected"), 200);
    assert_eq!(campaign(&host, &halted)["campaign"]["state"], "halted");

    // The field campaign, updated by a fleet in the background.
    let ids: Vec<String> = (0..400).map(|i| format!("field-{i:03}")).collect();
    let mut field = enrol_tagged(&host, &ids, "field");
    let probe = field.pop().unwrap();
    let running = create(
        &host,
        "field",
        json!({"stages": [{"percent": 100}], "failures": {"max_rate": 0.99}}),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let fleet = {
        let (url, campaign, stop) = (host.url.clone(), running.clone(), stop.clone());
        let devices = field.clone();
        std::thread::spawn(move || {
            let mut updated = 0;
            for device in devices.iter().take(300) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if checkin(&url, device, "1.0.0")["action"] != "update" {
                    continue;
                }
                for state in ["downloading", "installing", "succeeded"] {
                    status(&url, device, &campaign, state);
                    std::thread::sleep(Duration::from_millis(60));
                }
                updated += 1;
            }
            updated
        })
    };

    // Alice runs campaigns and reads the audit log; Vera only looks.
    let alice = add_operator(&host, "alice", &["operator", "auditor"]);
    let vera = add_operator(&host, "vera", &["viewer"]);
    let shots = root().join("target/dashboard-screenshots");
    let run = Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(&browser_dir)
        .env("SLUICE_URL", &host.url)
        .env("SLUICE_TOKEN", &alice)
        .env("VIEWER_TOKEN", &vera)
        .env("CAMPAIGN", &running)
        .env("HALTED", &halted)
        .env("PROBE", format!("{}:{}", probe.0, probe.1))
        .env("SCREENSHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "the browser test failed:\n{stderr}\n{stdout}"
    );
    let figures: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("figures");
    println!("dashboard figures: {figures}");

    // Through the API: the pause pressed in the page holds. Devices never
    // offered the release are offered nothing now, and no offer is counted.
    stop.store(true, Ordering::Relaxed);
    let updated = fleet.join().unwrap();
    let progress = campaign(&host, &running);
    assert_eq!(progress["campaign"]["state"], "paused");
    let offered = progress["total"]["offered"].as_u64().unwrap();
    assert!(
        offered > 1 && updated >= 1,
        "offered {offered}, updated {updated}"
    );
    let never_offered: Vec<_> = field.iter().skip(300).take(10).collect();
    for device in &never_offered {
        let answer = checkin(&host.url, device, "1.0.0");
        assert_eq!(answer["action"], "none", "{answer}");
    }
    assert_eq!(
        campaign(&host, &running)["total"]["offered"]
            .as_u64()
            .unwrap(),
        offered
    );

    // The audit log has the pause, by the name the operator signed in with.
    let audit = admin(&host, "GET", "/v1/admin/audit?limit=1000", None).json();
    let pause = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "campaign.pause")
        .expect("the pause is audited");
    assert_eq!(pause["actor"], "alice");
    assert_eq!(pause["target"], running.as_str());

    // Without the token: the page and its assets, nothing else.
    for path in ["/", "/assets/app.js", "/assets/app.css"] {
        let answer = http("GET", &format!("{}{path}", host.url), &[], None);
        assert_eq!(answer.status, 200, "{path}");
        let csp = answer.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
    }
    for path in [
        &format!("/v1/admin/campaigns/{running}"),
        "/metrics",
        "/v1/admin/audit",
    ] {
        let answer = http("GET", &format!("{}{path}", host.url), &[], None);
        assert_eq!(answer.status, 401, "{path}");
    }
    for shot in figures["screenshots"].as_array().unwrap() {
        assert!(Path::new(shot.as_str().unwrap()).exists(), "{shot}");
    }
}
