//! The reference device agent against a real `sluice up`.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use sluice_api::checkin::{CheckinAction, CheckinAnswer, CheckinReport};
use sluice_api::status::{StatusAnswer, StatusReport};
use sluice_device::{
    Agent, AgentState, HealthCheck, HttpTransport, MemorySlots, Next, Slot, Slots, Transport,
    TransportError,
};

use crate::support::app::{admin, create_campaign, enrol, publish, release, trust};
use crate::support::cli::{scratch, sluice};
use crate::support::host::{Host, HostConfig};

/// Everything at once, and no halting on failures (the tests inject them).
const ALL_AT_ONCE: &str = r#"{"stages":[{"percent":100}],"failures":{"max_rate":0.99}}"#;

fn image(dir: &std::path::Path) -> Vec<u8> {
    std::fs::read(dir.join("image")).unwrap()
}

/// The arguments of `sluice device --once` for a `cam-v2` device on 1.0.0.
pub fn device_args<'a>(
    host: &'a Host,
    id: &'a str,
    secret: &'a str,
    trust_file: &'a str,
    state: &'a str,
) -> Vec<&'a str> {
    vec![
        "device",
        "--server",
        &host.url,
        "--id",
        id,
        "--secret",
        secret,
        "--trust",
        trust_file,
        "--hardware",
        "cam-v2",
        "--version",
        "1.0.0",
        "--state-dir",
        state,
        "--once",
    ]
}

/// A host with release 1.2.0 published, a campaign created with `policy`, and
/// devices `cam-1..=n` enrolled.
struct Fixture {
    _guard: tempfile::TempDir,
    dir: std::path::PathBuf,
    host: Host,
    campaign: String,
    devices: Vec<(String, String)>,
}

fn fixture(policy: &str, devices: usize) -> Fixture {
    let (guard, dir) = scratch();
    release(&dir);
    let host =
        Host::start(HostConfig::sluice(&dir.join("state")).variable("trust_root", &trust(&dir)));
    publish(&dir, &host);
    let campaign = create_campaign(&dir, &host, policy);
    let ids: Vec<String> = (1..=devices).map(|i| format!("cam-{i}")).collect();
    let devices = enrol(&host, &ids);
    Fixture {
        _guard: guard,
        dir,
        host,
        campaign,
        devices,
    }
}

pub fn progress(host: &Host, campaign: &str) -> Value {
    admin(
        host,
        "GET",
        &format!("/v1/admin/campaigns/{campaign}"),
        None,
    )
    .json()
}

#[test]
fn a_device_downloads_verifies_commits_and_reverts_on_a_failed_health_check() {
    let Fixture {
        _guard,
        dir,
        host,
        campaign,
        devices,
    } = fixture(ALL_AT_ONCE, 2);
    let trust_file = dir.join("keys/trust.json").to_string_lossy().into_owned();
    let d1 = dir.join("dev1").to_string_lossy().into_owned();

    let run = sluice(
        &dir,
        &device_args(&host, &devices[0].0, &devices[0].1, &trust_file, &d1),
    )
    .success();
    assert!(run.stdout.contains("committed 1.2.0"), "{}", run.stdout);
    assert_eq!(
        std::fs::read(dir.join("dev1/slot-b")).unwrap(),
        image(&dir),
        "the new image is in slot B"
    );
    let state = agent_state(&dir, "dev1");
    assert_eq!(
        (state.active, state.version.as_str(), state.security_version),
        (Slot::B, "1.2.0", 1)
    );
    // The next step only checks in: nothing to do.
    let run = sluice(
        &dir,
        &device_args(&host, &devices[0].0, &devices[0].1, &trust_file, &d1),
    )
    .success();
    assert!(run.stdout.contains("running 1.2.0"), "{}", run.stdout);

    // A device whose health check fails reverts on its own and says so.
    let d2 = dir.join("dev2").to_string_lossy().into_owned();
    let mut args = device_args(&host, &devices[1].0, &devices[1].1, &trust_file, &d2);
    args.extend(["--health-cmd", "test \"$SLUICE_VERSION\" != 1.2.0"]);
    let run = sluice(&dir, &args).success();
    assert!(
        run.stdout
            .contains("health check failed, reverted to 1.0.0"),
        "{}",
        run.stdout
    );
    let state = agent_state(&dir, "dev2");
    assert_eq!((state.active, state.version.as_str()), (Slot::A, "1.0.0"));

    let p = progress(&host, &campaign);
    assert_eq!(p["total"]["succeeded"], 1, "{p}");
    assert_eq!(p["total"]["failed"], 1, "{p}");
    assert_eq!(p["failure_codes"]["HEALTH_CHECK"], 1, "{p}");
    host.stop();
}

#[test]
fn a_tampered_chunk_is_rejected_nothing_is_installed_and_the_campaign_halts() {
    let Fixture {
        _guard,
        dir,
        host,
        campaign,
        devices,
    } = fixture(r#"{"stages":[{"percent":100}]}"#, 1);
    // Flip a byte of one stored chunk, behind the server's back.
    let chunk = std::fs::read_dir(dir.join("rel/chunks"))
        .unwrap()
        .nth(3)
        .unwrap()
        .unwrap();
    let mut bad = std::fs::read(chunk.path()).unwrap();
    bad[1000] ^= 0xff;
    let db = sluice_key_value_sqlite::Database::open(Some(&dir.join("state/sqlite_key_value.db")))
        .unwrap();
    let key = format!("chunk/{}", chunk.file_name().into_string().unwrap());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.store("default").set(&key, &bad))
        .unwrap();

    let trust_file = dir.join("keys/trust.json").to_string_lossy().into_owned();
    let d1 = dir.join("dev1").to_string_lossy().into_owned();
    let run = sluice(
        &dir,
        &device_args(&host, &devices[0].0, &devices[0].1, &trust_file, &d1),
    )
    .success();
    assert!(run.stdout.contains("rejected"), "{}", run.stdout);
    let state = agent_state(&dir, "dev1");
    assert_eq!(
        (state.active, state.version.as_str()),
        (Slot::A, "1.0.0"),
        "nothing installed"
    );
    let p = progress(&host, &campaign);
    assert_eq!(p["total"]["rejected"], 1, "{p}");
    assert_eq!(p["campaign"]["state"], "halted", "{p}");
    assert_eq!(p["failure_codes"]["CHUNK_DIGEST_MISMATCH"], 1, "{p}");
    host.stop();
}

/// A transport that loses power (fails, never to come back) after `budget` chunks.
struct FlakyPower {
    inner: HttpTransport,
    budget: Arc<Mutex<u32>>,
    fetched: Arc<Mutex<Vec<String>>>,
}

impl Transport for FlakyPower {
    fn checkin(&self, report: &CheckinReport) -> Result<CheckinAnswer, TransportError> {
        self.inner.checkin(report)
    }
    fn manifest(&self, release: &str) -> Result<Vec<u8>, TransportError> {
        self.inner.manifest(release)
    }
    fn chunk(&self, digest: &str) -> Result<Vec<u8>, TransportError> {
        let mut budget = self.budget.lock().unwrap();
        if *budget == 0 {
            return Err(TransportError::Temporary {
                message: "power lost".into(),
                retry_after: None,
            });
        }
        *budget -= 1;
        self.fetched.lock().unwrap().push(digest.to_owned());
        self.inner.chunk(digest)
    }
    fn status(&self, report: &StatusReport) -> Result<StatusAnswer, TransportError> {
        self.inner.status(report)
    }
}

struct Healthy;
impl HealthCheck for Healthy {
    fn check(&mut self, _: &str) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn a_power_cut_mid_download_resumes_without_refetching_verified_chunks() {
    let Fixture {
        _guard,
        dir,
        host,
        campaign,
        devices,
    } = fixture(ALL_AT_ONCE, 1);
    let trust_root =
        sluice_protocol::TrustRoot::from_json(&std::fs::read(dir.join("keys/trust.json")).unwrap())
            .unwrap();
    let saved: Arc<Mutex<Option<AgentState>>> = Arc::default();
    let fetched: Arc<Mutex<Vec<String>>> = Arc::default();
    let agent = |state: AgentState, slots: MemorySlots, budget: u32| {
        let saved = saved.clone();
        Agent::new(
            state,
            slots,
            FlakyPower {
                inner: HttpTransport::new(&host.url, &devices[0].0, &devices[0].1),
                budget: Arc::new(Mutex::new(budget)),
                fetched: fetched.clone(),
            },
            Healthy,
            trust_root.clone(),
        )
        .on_persist(move |s| {
            *saved.lock().unwrap() = Some(s.clone());
            Ok(())
        })
    };
    // Power is lost after 4 of 10 chunks; whatever was persisted survives.
    let mut first = agent(
        AgentState::factory("cam-v2", "1.0.0", 0),
        MemorySlots::default(),
        4,
    );
    assert!(matches!(first.step(), Next::Wait(_)));
    let downloaded_before = first.stats.bytes_downloaded;
    let disk = first.slots.clone();
    drop(first);
    let state = saved.lock().unwrap().clone().unwrap();
    assert_eq!(
        state.pending.as_ref().unwrap().next_chunk,
        4,
        "progress persisted per verified chunk"
    );

    let mut second = agent(state, disk, u32::MAX);
    assert!(matches!(second.step(), Next::Wait(_)));
    assert_eq!(second.state.version, "1.2.0");
    let image = image(&dir);
    assert_eq!(
        second.slots.read_at(Slot::B, 0, image.len()).unwrap(),
        image
    );
    let total = downloaded_before + second.stats.bytes_downloaded;
    assert!(
        total <= image.len() as u64 + 64 * 1024,
        "downloaded {total} bytes for a {} byte image",
        image.len()
    );
    let fetched = fetched.lock().unwrap();
    let mut unique = fetched.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        fetched.len(),
        "no verified chunk was fetched twice"
    );
    assert_eq!(progress(&host, &campaign)["total"]["succeeded"], 1);
    host.stop();
}

/// A device whose factory image has `security_version` installs 1.2.0 (security
/// version 1); the operator rolls the campaign back; the device checks in again.
/// Returns the fixture and what that last check-in printed.
fn install_then_roll_back(security_version: &str) -> (Fixture, String) {
    let fixture = fixture(ALL_AT_ONCE, 1);
    let (dir, host) = (&fixture.dir, &fixture.host);
    let trust_file = dir.join("keys/trust.json").to_string_lossy().into_owned();
    let d1 = dir.join("dev1").to_string_lossy().into_owned();
    let (id, secret) = &fixture.devices[0];
    let mut args = device_args(host, id, secret, &trust_file, &d1);
    args.extend(["--security-version", security_version]);
    let run = sluice(dir, &args).success();
    assert!(run.stdout.contains("committed 1.2.0"), "{}", run.stdout);
    sluice(
        dir,
        &[
            "campaign",
            "rollback",
            &fixture.campaign,
            "--server",
            &host.url,
            "--token-file",
            &host.token_file(),
        ],
    )
    .success();
    let after = sluice(dir, &args).success().stdout;
    (fixture, after)
}

/// The agent state `sluice device` persisted in `dir/device`.
fn agent_state(dir: &std::path::Path, device: &str) -> AgentState {
    serde_json::from_slice(&std::fs::read(dir.join(device).join("agent.json")).unwrap()).unwrap()
}

#[test]
fn an_operator_rollback_brings_an_updated_device_back_to_its_previous_version() {
    // The factory image already has the release's security version (1), so going
    // back to it does not break anti-rollback.
    let (fixture, after) = install_then_roll_back("1");
    assert!(after.contains("rolled back to 1.0.0"), "{after}");
    let state = agent_state(&fixture.dir, "dev1");
    assert_eq!((state.active, state.version.as_str()), (Slot::A, "1.0.0"));
    let p = progress(&fixture.host, &fixture.campaign);
    assert_eq!(p["total"]["rolled_back"], 1, "{p}");
    assert_eq!(
        p["total"]["succeeded"], 0,
        "counted once, as rolled back: {p}"
    );
    fixture.host.stop();
}

#[test]
fn an_operator_rollback_below_the_committed_security_version_is_never_offered() {
    // Factory image at security version 0; the release raised it to 1.
    let (fixture, after) = install_then_roll_back("0");
    assert!(after.contains("running 1.2.0"), "stays on 1.2.0: {after}");
    let state = agent_state(&fixture.dir, "dev1");
    assert_eq!(
        (state.version.as_str(), state.security_version),
        ("1.2.0", 1)
    );
    fixture.host.stop();
}

/// Runs `sluice campaign ACTION ID` against the fixture's host.
fn campaign_action(fixture: &Fixture, action: &str) {
    sluice(
        &fixture.dir,
        &[
            "campaign",
            action,
            &fixture.campaign,
            "--server",
            &fixture.host.url,
            "--token-file",
            &fixture.host.token_file(),
        ],
    )
    .success();
}

#[test]
fn pause_stops_new_offers_at_once_and_resume_carries_on_from_where_it_was() {
    let fixture = fixture(ALL_AT_ONCE, 2);
    let dir = &fixture.dir;
    let trust_file = dir.join("keys/trust.json").to_string_lossy().into_owned();
    let device = |n: usize| {
        let state = dir.join(format!("dev{n}")).to_string_lossy().into_owned();
        let (id, secret) = &fixture.devices[n - 1];
        sluice(
            dir,
            &device_args(&fixture.host, id, secret, &trust_file, &state),
        )
        .success()
        .stdout
    };
    assert!(device(1).contains("committed 1.2.0"));

    campaign_action(&fixture, "pause");
    let paused = device(2);
    assert!(paused.contains("running 1.0.0"), "no offer: {paused}");
    let p = progress(&fixture.host, &fixture.campaign);
    assert_eq!(
        (
            p["campaign"]["state"].as_str(),
            p["total"]["offered"].as_u64()
        ),
        (Some("paused"), Some(1)),
        "{p}"
    );

    campaign_action(&fixture, "resume");
    let resumed = device(2);
    assert!(resumed.contains("committed 1.2.0"), "{resumed}");
    let p = progress(&fixture.host, &fixture.campaign);
    assert_eq!(p["campaign"]["state"], "running", "{p}");
    assert_eq!(p["total"]["succeeded"], 2, "{p}");
    fixture.host.stop();
}

#[test]
fn abort_tells_a_device_mid_download_to_stop_and_keep_its_version() {
    let fixture = fixture(ALL_AT_ONCE, 1);
    let trust_root = sluice_protocol::TrustRoot::from_json(
        &std::fs::read(fixture.dir.join("keys/trust.json")).unwrap(),
    )
    .unwrap();
    let fetched: Arc<Mutex<Vec<String>>> = Arc::default();
    let budget = Arc::new(Mutex::new(4));
    let (id, secret) = &fixture.devices[0];
    let mut agent = Agent::new(
        AgentState::factory("cam-v2", "1.0.0", 0),
        MemorySlots::default(),
        FlakyPower {
            inner: HttpTransport::new(&fixture.host.url, id, secret),
            budget: budget.clone(),
            fetched: fetched.clone(),
        },
        Healthy,
        trust_root,
    );
    // The download is cut after 4 chunks; the operator aborts meanwhile.
    assert!(matches!(agent.step(), Next::Wait(_)));
    assert!(agent.state.pending.is_some(), "mid-download");
    campaign_action(&fixture, "abort");

    *budget.lock().unwrap() = u32::MAX;
    assert!(matches!(agent.step(), Next::Wait(_)));
    assert!(agent.state.pending.is_none(), "the download is abandoned");
    assert_eq!(
        fetched.lock().unwrap().len(),
        4,
        "nothing more fetched once aborted"
    );
    assert_eq!(
        (agent.state.active, agent.state.version.as_str()),
        (Slot::A, "1.0.0")
    );
    // And the aborted campaign offers nothing again.
    assert!(matches!(agent.step(), Next::Wait(_)));
    assert_eq!(agent.state.version, "1.0.0");
    assert_eq!(fetched.lock().unwrap().len(), 4);
    let p = progress(&fixture.host, &fixture.campaign);
    assert_eq!(p["campaign"]["state"], "aborted", "{p}");
    assert_eq!(p["total"]["succeeded"], 0, "{p}");
    fixture.host.stop();
}

/// A compromised or buggy server: offers the campaign's release to anyone.
struct OffersAnyway {
    inner: FlakyPower,
    campaign: String,
}

impl Transport for OffersAnyway {
    fn checkin(&self, _: &CheckinReport) -> Result<CheckinAnswer, TransportError> {
        Ok(CheckinAnswer {
            action: CheckinAction::Update,
            campaign: Some(self.campaign.clone()),
            release: Some("1.2.0".into()),
            manifest_url: None,
            reason: None,
            next_poll_seconds: 60,
        })
    }
    fn manifest(&self, release: &str) -> Result<Vec<u8>, TransportError> {
        self.inner.manifest(release)
    }
    fn chunk(&self, digest: &str) -> Result<Vec<u8>, TransportError> {
        self.inner.chunk(digest)
    }
    fn status(&self, report: &StatusReport) -> Result<StatusAnswer, TransportError> {
        self.inner.status(report)
    }
}

#[test]
fn a_release_below_the_committed_security_version_is_never_installed() {
    // The release has security version 1; this device already committed 2.
    let fixture = fixture(ALL_AT_ONCE, 1);
    let dir = &fixture.dir;
    let trust_file = dir.join("keys/trust.json").to_string_lossy().into_owned();
    let state_dir = dir.join("dev1").to_string_lossy().into_owned();
    let (id, secret) = &fixture.devices[0];
    let mut args = device_args(&fixture.host, id, secret, &trust_file, &state_dir);
    args.extend(["--security-version", "2"]);
    let run = sluice(dir, &args).success();
    assert!(
        run.stdout.contains("running 1.0.0"),
        "the server does not offer it: {}",
        run.stdout
    );
    assert_eq!(
        progress(&fixture.host, &fixture.campaign)["total"]["offered"],
        0
    );

    // Even a server that offers it anyway cannot get it installed.
    let fetched: Arc<Mutex<Vec<String>>> = Arc::default();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = events.clone();
    let mut agent = Agent::new(
        AgentState::factory("cam-v2", "1.0.0", 2),
        MemorySlots::default(),
        OffersAnyway {
            inner: FlakyPower {
                inner: HttpTransport::new(&fixture.host.url, id, secret),
                budget: Arc::new(Mutex::new(u32::MAX)),
                fetched: fetched.clone(),
            },
            campaign: fixture.campaign.clone(),
        },
        Healthy,
        sluice_protocol::TrustRoot::from_json(&std::fs::read(&trust_file).unwrap()).unwrap(),
    )
    .on_event(move |line| log.lock().unwrap().push(line.to_owned()));
    assert!(matches!(agent.step(), Next::Wait(_)));
    let events = events.lock().unwrap().join("\n");
    assert!(
        events.contains("rejected") && events.contains("security version"),
        "{events}"
    );
    assert!(fetched.lock().unwrap().is_empty(), "no chunk fetched");
    assert_eq!(
        (agent.state.version.as_str(), agent.state.security_version),
        ("1.0.0", 2)
    );
    assert!(agent.state.pending.is_none());
    fixture.host.stop();
}
