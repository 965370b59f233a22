//! Change management end to end: `sluice freeze`, scheduled campaigns and
//! gated pilot rings against a real `sluice up`, with a simulated fleet running
//! the real agent.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::sim::{rollout, sim};
use crate::support::app::{add_operator, admin, operate, operate_with, token_file};
use crate::support::cli::{Run, sluice};
use crate::support::host::Host;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A host running `spin.toml` with the reckless `offer_now` vendor policy (a
/// 0.1.0 policy, through `sluice policy upgrade`) swapped in (one line), devices polling every second, release 1.2.0
/// published, and a campaign for it.
fn reckless_rollout() -> (tempfile::TempDir, std::path::PathBuf, Host, String) {
    let (guard, dir) = crate::support::cli::scratch();
    crate::support::app::release(&dir);
    let host = Host::start(crate::support::host::HostConfig {
        manifest: crate::support::app::app_with_policy_at(
            &dir,
            "offer_now",
            &crate::policy::upgraded(&dir, "offer_now"),
        ),
        state_dir: dir.join("state"),
        args: vec![
            "--no-build".into(),
            "--variable".into(),
            format!("trust_root={}", crate::support::app::trust(&dir)),
            "--variable".into(),
            "poll_seconds=1".into(),
        ],
    });
    crate::support::app::publish(&dir, &host);
    let id = crate::support::app::create_campaign(&dir, &host, "{}");
    // A 0.1.0 policy states no rules: its campaign is said to be undescribed,
    // never judged by the standard policy's threshold.
    let progress =
        crate::support::app::admin(&host, "GET", &format!("/v1/admin/campaigns/{id}"), None);
    let verdict = progress.json()["failure_bounds"][0]["verdict"].clone();
    assert!(
        verdict
            .as_str()
            .is_some_and(|v| v.contains("does not describe itself")),
        "{verdict}"
    );
    (guard, dir, host, id)
}

/// Aborts the campaign `rollout` made (`other`), then creates the one under
/// test with `extra` arguments.
fn campaign_instead(dir: &Path, host: &Host, other: &str, extra: &[&str]) -> Run {
    operate(dir, host, &["campaign", "abort", other]);
    create_campaign(dir, host, extra)
}

/// Creates a campaign for release 1.2.0 at one 100% stage, with `extra`
/// arguments; what `sluice campaign create` printed.
fn create_campaign(dir: &Path, host: &Host, extra: &[&str]) -> Run {
    let mut create = vec![
        "campaign",
        "create",
        "--release",
        "1.2.0",
        "--policy",
        r#"{"stages":[{"percent":100}]}"#,
    ];
    create.extend_from_slice(extra);
    operate(dir, host, &create)
}

/// When the policy offered each of the sim's `count` devices the update.
fn offered_at(host: &Host, count: usize) -> Vec<u64> {
    (0..count)
        .map(|i| {
            let device = admin(host, "GET", &format!("/v1/admin/devices/sim-{i}"), None).json();
            device["state"]["rollout"]["offered_at"]
                .as_u64()
                .unwrap_or_else(|| panic!("sim-{i} was never offered: {device}"))
        })
        .collect()
}

/// The first audit entry for `action`.
fn audited(host: &Host, action: &str) -> Value {
    admin(host, "GET", "/v1/admin/audit?limit=1000", None).json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} in the audit log"))
        .clone()
}

#[test]
fn a_fleet_wide_freeze_holds_a_reckless_policy_and_the_rollout_resumes_by_itself_after_it() {
    // The vendor policy plugged in offers every device at once, always.
    let (_guard, dir, host, campaign) = reckless_rollout();
    let end = now() + 5;
    let add = [
        "freeze",
        "add",
        "--start",
        "0",
        "--end",
        &end.to_string(),
        "--lead",
        "0s",
        "--reason",
        "all-hands",
    ];
    // Alice declares it with her own token; the audit log names her.
    let alice = token_file(&dir, "alice", &add_operator(&host, "alice", &["operator"]));
    let run = operate_with(&dir, &host, &alice, &add).success();
    assert_eq!(run.last_line(), "f1", "{}", run.stdout);
    let listed = operate(&dir, &host, &["freeze", "list"]);
    assert!(
        listed.stdout.contains("freeze f1") && listed.stdout.contains("all-hands"),
        "{}",
        listed.stdout
    );

    // The fleet polls every second through the freeze; nobody is offered
    // anything before it ends, then everyone updates with no operator action.
    let summary = sim(&dir, &host, &["--devices", "20", "--settle", "8s"]);
    assert_eq!(summary["succeeded"], 20, "{summary}");
    let offered = offered_at(&host, 20);
    assert!(
        offered.iter().all(|at| *at >= end),
        "freeze ended at {end}: {offered:?}"
    );
    let progress = admin(
        &host,
        "GET",
        &format!("/v1/admin/campaigns/{campaign}"),
        None,
    )
    .json();
    assert_eq!(progress["total"]["succeeded"], 20, "{progress}");
    assert_eq!(audited(&host, "freeze.add")["actor"], "alice");
    host.stop();
}

#[test]
fn a_scheduled_campaign_starts_by_itself_and_offers_nothing_before() {
    let (_guard, dir, host, other) = rollout(r#"{"stages":[{"percent":100}]}"#);
    let start = now() + 5;
    let created = campaign_instead(&dir, &host, &other, &["--start-at", &start.to_string()]);
    let id = created.last_line().to_owned();
    assert!(created.stdout.contains(", from "), "{}", created.stdout);

    let summary = sim(&dir, &host, &["--devices", "10", "--settle", "8s"]);
    assert_eq!(summary["succeeded"], 10, "{summary}");
    let offered = offered_at(&host, 10);
    assert!(
        offered.iter().all(|at| *at >= start),
        "start {start}: {offered:?}"
    );
    let shown = operate(&dir, &host, &["campaign", "status", &id]);
    assert!(
        shown.stdout.contains("  schedule: from "),
        "{}",
        shown.stdout
    );
    host.stop();
}

#[test]
fn a_gated_pilot_ring_stops_a_reckless_policy_until_an_operator_approves() {
    // The vendor policy plugged in offers to everyone and asks to advance at
    // every review; the gate holds anyway.
    let (_guard, dir, host, other) = reckless_rollout();
    let gated = ["--ring", "lab=sim-0,sim-1,sim-2", "--approve-after", "lab"];
    let id = campaign_instead(&dir, &host, &other, &gated)
        .last_line()
        .to_owned();

    // The fleet runs in the background while the operator watches.
    let fleet = {
        let (dir, url, token_file) = (dir.clone(), host.url.clone(), host.token_file());
        std::thread::spawn(move || {
            let trust = dir.join("keys/trust.json").to_string_lossy().into_owned();
            let args = [
                "sim",
                "--server",
                &url,
                "--token-file",
                &token_file,
                "--trust",
                &trust,
                "--json",
                "--devices",
                "12",
                "--settle",
                "10s",
            ];
            let run = sluice(&dir, &args).success();
            serde_json::from_str::<Value>(run.last_line()).unwrap()
        })
    };
    let progress = || admin(&host, "GET", &format!("/v1/admin/campaigns/{id}"), None).json();
    let started = Instant::now();
    while progress()["campaign"].get("waiting").is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the lab ring never closed: {}",
            progress()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The gate holds: the rest of the fleet polls every second and gets nothing.
    std::thread::sleep(Duration::from_secs(3));
    let waiting = progress();
    assert_eq!(waiting["total"]["offered"], 3, "{waiting}");
    assert_eq!(waiting["campaign"]["waiting"]["after"], "ring lab");
    let shown = operate(&dir, &host, &["campaign", "status", &id]);
    assert!(
        shown
            .stdout
            .contains("for an operator to approve stage 0 after ring lab"),
        "{}",
        shown.stdout
    );

    let approve = ["campaign", "approve", &id, "--note", "lab is green"];
    // Whoever created the campaign (the owner, here) cannot open its gate.
    let own = operate_with(&dir, &host, &host.token_file(), &approve);
    own.failure(&["409 four_eyes", "owner created campaign"]);
    let dave = token_file(&dir, "dave", &add_operator(&host, "dave", &["approver"]));
    let approved = operate_with(&dir, &host, &dave, &approve).success();
    assert!(
        approved.stdout.contains("succeeded 3"),
        "{}",
        approved.stdout
    );

    let summary = fleet.join().unwrap();
    assert_eq!(summary["succeeded"], 12, "{summary}");
    let entry = audited(&host, "campaign.approve");
    assert_eq!(entry["actor"], "dave");
    assert_eq!(audited(&host, "campaign.create")["actor"], "owner");
    let approval = &entry["after"]["detail"]["approval"];
    assert_eq!(approval["figures"]["succeeded"], 3, "{entry}");
    assert_eq!(approval["note"], "lab is green");
    host.stop();
}

/// A webhook receiver on loopback: records each request's headers and body and
/// answers 204.
struct Receiver {
    got: std::sync::Arc<Received>,
}

impl Receiver {
    fn start(listener: std::net::TcpListener) -> Receiver {
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || serve_receiver(stream, &record));
            }
        });
        Receiver { got }
    }

    fn events(&self) -> Vec<Value> {
        let got = self.got.lock().unwrap();
        got.iter()
            .map(|(_, body)| serde_json::from_slice(body).unwrap())
            .collect()
    }
}

/// What a receiver got: each request's headers and body.
type Received = std::sync::Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>;

fn serve_receiver(stream: std::net::TcpStream, record: &Received) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("not a header: {line:?}"));
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or_else(|| panic!("Sluice sends Content-Length: {headers:?}"));
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        record.lock().unwrap().push((headers, body));
        writer
            .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
    }
}

#[test]
fn campaign_events_reach_a_signed_webhook_in_order_and_a_dead_receiver_delays_nothing() {
    let (_guard, dir) = crate::support::cli::scratch();
    crate::support::app::release(&dir);
    // A port with nothing listening yet: the receiver is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "webhook-secret-for-the-test";
    let host = Host::start(
        crate::support::host::HostConfig::sluice(&dir.join("state"))
            .variable("trust_root", &crate::support::app::trust(&dir))
            .variable("webhook_origin", &format!("http://127.0.0.1:{port}"))
            .variable(
                "webhook_url",
                &format!("http://127.0.0.1:{port}/hooks/sluice"),
            )
            .variable("webhook_secret", secret),
    );
    crate::support::app::publish(&dir, &host);
    let id = crate::support::app::create_campaign(&dir, &host, r#"{"stages":[{"percent":100}]}"#);
    for action in ["pause", "resume"] {
        let answer = admin(
            &host,
            "POST",
            &format!("/v1/admin/campaigns/{id}/{action}"),
            None,
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
    }

    // Up again: the events come with later requests, after the backoff.
    let receiver = Receiver::start(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    let wait_for = |count: usize| {
        let started = Instant::now();
        while receiver.events().len() < count {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{:?}",
                receiver.events()
            );
            admin(&host, "GET", &format!("/v1/admin/campaigns/{id}"), None);
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    wait_for(3);
    operate(&dir, &host, &["campaign", "abort", &id]);
    wait_for(4);

    // A scheduled campaign starts at a device's check-in, which delivers the
    // event itself (no admin request or status report comes after it).
    let start = now() + 2;
    let scheduled = create_campaign(&dir, &host, &["--start-at", &start.to_string()])
        .last_line()
        .to_owned();
    let device = &crate::support::app::enrol(&host, &["cam-1".to_owned()])[0];
    while now() < start + 1 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let answer = crate::support::app::checkin(&host.url, device, "1.0.0");
    assert_eq!(answer["action"], "update", "{answer}");
    let started = Instant::now();
    while receiver.events().len() < 6 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            receiver.events()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let events = receiver.events();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["campaign"].as_str().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("started", id.as_str()),
        ("paused", &id),
        ("resumed", &id),
        ("aborted", &id),
        ("scheduled", &scheduled),
        ("started", &scheduled),
    ];
    assert_eq!(kinds, expected, "{events:?}");
    let got = receiver.got.lock().unwrap();
    for (headers, body) in got.iter() {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {name}: {headers:?}"))
        };
        let timestamp: u64 = header("x-sluice-timestamp").parse().unwrap();
        assert_eq!(
            header("x-sluice-signature"),
            sluice_service::ops::webhooks::signature(secret, timestamp, body),
            "signed with the shared secret"
        );
    }
    host.stop();
}
