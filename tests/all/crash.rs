//! Crash safety against a real `sluice up` on SQLite: the host is killed with
//! SIGKILL at seeded random moments while a release is published and while a
//! storm of status reports comes in; after a restart no release is visible
//! without all its chunks, the retried publish completes, and no report the
//! host acknowledged is lost.
//!
//! The SQLite store runs in WAL mode with `synchronous = NORMAL`: a commit is
//! in the WAL (the OS's page cache) before the host answers, so a killed
//! process loses nothing it acknowledged; only a power cut may lose the last
//! commits (set by `crates/key-value-sqlite`).
//!
//! With Redis as the store (AOF on), Redis is restarted under two hosts in the
//! middle of a campaign; the hosts reconnect by themselves, and once devices
//! have retried and polled again no count is lost (see `sluice_service::fleet::tally`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::app::{
    admin, basic, checkin, create_campaign, enrol, operate, publish_args, release, trust,
};
use crate::support::cli::scratch;
use crate::support::host::{Host, HostConfig, http};

/// A small seeded generator (xorshift), so a failing trial can be replayed
/// with `SLUICE_CRASH_SEED`.
struct Dice(u64);

impl Dice {
    fn from_env() -> Dice {
        let seed = std::env::var("SLUICE_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_u64);
        eprintln!("crash trials: SLUICE_CRASH_SEED={seed}");
        Dice(seed.max(1))
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[test]
fn a_release_is_never_visible_without_all_its_chunks_whatever_moment_the_host_dies() {
    let (_guard, dir) = scratch();
    release(&dir);
    let chunks: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("rel/chunks"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    let state = dir.join("state");
    let config = || HostConfig::sluice(&state).variable("trust_root", &trust(&dir));
    let sluice_bin = env!("CARGO_BIN_EXE_sluice");

    // How long a whole publish takes here, on a store of its own.
    let timing = dir.join("timing");
    let host = Host::start(HostConfig::sluice(&timing).variable("trust_root", &trust(&dir)));
    let started = Instant::now();
    crate::support::app::publish(&dir, &host);
    let full = started.elapsed();
    host.stop();

    let mut dice = Dice::from_env();
    let trials = 12;
    let mut visible_after_kill = 0;
    for trial in 0..trials {
        let host = Host::start(config());
        let mut publish = std::process::Command::new(sluice_bin)
            .args(publish_args(&host))
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_micros(dice.below(full.as_micros() as u64 * 12 / 10));
        std::thread::sleep(delay);
        host.kill();
        let _ = publish.wait();

        let host = Host::start(config());
        let answer = admin(&host, "GET", "/v1/admin/releases/1.2.0", None);
        match answer.status {
            404 => {}
            200 => {
                visible_after_kill += 1;
                for (name, bytes) in &chunks {
                    let chunk = http("GET", &format!("{}/v1/chunks/{name}", host.url), &[], None);
                    assert_eq!(
                        chunk.status, 200,
                        "trial {trial} ({delay:?}): chunk {name} missing"
                    );
                    assert_eq!(&chunk.body, bytes, "trial {trial}: chunk {name} corrupt");
                }
            }
            other => panic!("trial {trial}: {other}: {}", answer.text()),
        }
        // The retried publish completes.
        crate::support::app::publish(&dir, &host);
        assert_eq!(
            admin(&host, "GET", "/v1/admin/releases/1.2.0", None).status,
            200
        );
        host.stop();
        // Start each trial from an empty store.
        std::fs::remove_dir_all(&state).unwrap();
    }
    eprintln!(
        "crash trials: {trials} kills during publish (full publish {full:?}); release already whole after {visible_after_kill}"
    );
}

const STEPS: [&str; 4] = ["downloading", "downloaded", "installing", "succeeded"];

#[test]
fn no_status_report_the_host_acknowledged_is_lost_when_it_is_killed() {
    let (_guard, dir) = scratch();
    release(&dir);
    let state = dir.join("state");
    let config = || HostConfig::sluice(&state).variable("trust_root", &trust(&dir));
    let host = Host::start(config());
    crate::support::app::publish(&dir, &host);
    let campaign = create_campaign(
        &dir,
        &host,
        r#"{"stages":[{"percent":100}],"failures":{"max_rate":0.99}}"#,
    );
    let ids: Vec<String> = (0..300).map(|i| format!("cam-{i}")).collect();
    let devices = enrol(&host, &ids);
    for device in &devices {
        assert_eq!(checkin(&host.url, device, "1.0.0")["action"], "update");
    }

    let mut dice = Dice::from_env();
    // The last step each device had acknowledged, by index into STEPS.
    let acknowledged: Vec<Mutex<Option<usize>>> =
        devices.iter().map(|_| Mutex::new(None)).collect();
    let down = AtomicBool::new(false);
    let url = host.url.clone();
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let (devices, acknowledged, down, url, campaign) =
                (&devices, &acknowledged, &down, &url, &campaign);
            scope.spawn(move || {
                // Each device reports its whole update, one after another.
                for (i, device) in devices.iter().enumerate().filter(|(i, _)| i % 8 == worker) {
                    for (step, state) in STEPS.iter().enumerate() {
                        if down.load(Ordering::Acquire) {
                            return;
                        }
                        let body = json!({"campaign": campaign, "state": state}).to_string();
                        let agent: ureq::Agent = ureq::Agent::config_builder()
                            .http_status_as_error(false)
                            .build()
                            .into();
                        let answer = agent
                            .post(format!("{url}/v1/status"))
                            .header("authorization", &basic(&device.0, &device.1))
                            .send(body.as_bytes());
                        match answer {
                            Ok(answer) if answer.status() == 200 => {
                                *acknowledged[i].lock().unwrap() = Some(step);
                            }
                            _ => return,
                        }
                    }
                }
            });
        }
        // Kill the host in the middle of the storm.
        std::thread::sleep(Duration::from_millis(30 + dice.below(300)));
        down.store(true, Ordering::Release);
        host.kill();
    });

    let host = Host::start(config());
    let mut acknowledged_succeeded = 0;
    let mut stored_succeeded = 0;
    let mut checked = 0;
    for (device, acknowledged) in devices.iter().zip(&acknowledged) {
        let view = admin(
            &host,
            "GET",
            &format!("/v1/admin/devices/{}", device.0),
            None,
        )
        .json();
        let phase = view["state"]["rollout"]["phase"]
            .as_str()
            .unwrap()
            .to_owned();
        let stored = STEPS.iter().position(|s| *s == phase);
        if let Some(step) = *acknowledged.lock().unwrap() {
            checked += 1;
            assert!(
                stored.is_some_and(|s| s >= step),
                "{} acknowledged {} but the store says {phase}",
                device.0,
                STEPS[step]
            );
            acknowledged_succeeded += usize::from(step == 3);
        }
        stored_succeeded += usize::from(phase == "succeeded");
    }
    let progress = crate::device::progress(&host, &campaign);
    let counted = progress["total"]["succeeded"].as_u64().unwrap() as usize;
    assert!(
        counted >= acknowledged_succeeded && counted <= stored_succeeded,
        "counted {counted}, acknowledged {acknowledged_succeeded}, stored {stored_succeeded}"
    );
    eprintln!(
        "status storm: {checked} devices had acknowledged reports; {acknowledged_succeeded} acknowledged succeeded, {stored_succeeded} stored, {counted} counted"
    );
    assert!(checked > 0, "the storm reached the host before the kill");
    host.stop();
}

/// A redis-server with AOF on (`appendfsync everysec`, as production runs
/// it), restartable on the same port and data directory.
struct DurableRedis {
    child: Option<std::process::Child>,
    port: u16,
    dir: std::path::PathBuf,
}

impl DurableRedis {
    fn start(dir: &std::path::Path) -> DurableRedis {
        let mut redis = DurableRedis {
            child: None,
            port: crate::support::host::free_port(),
            dir: dir.to_owned(),
        };
        redis.spawn();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "everysec"])
            .current_dir(&self.dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is needed for this test (scripts/test installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not start");
    }

    /// Stops Redis as an operator's restart does (SIGTERM: it writes its AOF
    /// and exits), waits `down`, and starts it again on the same data.
    fn restart(&mut self, down: Duration) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        std::thread::sleep(down);
        self.spawn();
    }
}

impl Drop for DurableRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_redis_restart_mid_campaign_loses_no_count_and_the_hosts_recover_on_their_own() {
    let (_guard, dir) = scratch();
    release(&dir);
    let mut redis = DurableRedis::start(&dir);
    let runtime_config = dir.join("runtime-config.toml");
    std::fs::write(
        &runtime_config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let config = |name: &str| {
        HostConfig::sluice(&dir.join(name))
            .arg("--runtime-config")
            .arg(runtime_config.to_string_lossy())
            .arg("--device-budget")
            .arg("off")
            .variable("trust_root", &trust(&dir))
            .variable("admin_token", "shared-token")
    };
    let hosts = [Host::start(config("a")), Host::start(config("b"))];
    for host in &hosts {
        // Where the test helpers look for the token.
        std::fs::write(host.state_dir.join("admin-token"), "shared-token").unwrap();
    }
    crate::support::app::publish(&dir, &hosts[0]);
    let campaign = create_campaign(
        &dir,
        &hosts[1],
        r#"{"stages":[{"percent":100}],"failures":{"max_rate":0.99}}"#,
    );
    let ids: Vec<String> = (0..1000).map(|i| format!("cam-{i}")).collect();
    let devices = enrol(&hosts[0], &ids);

    // Each device updates through either host, retrying whatever fails
    // (as the agent does), while Redis restarts under them.
    let urls: Vec<String> = hosts.iter().map(|h| h.url.clone()).collect();
    let retries = std::sync::atomic::AtomicU64::new(0);
    let mut dice = Dice::from_env();
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let (devices, urls, campaign, retries) = (&devices, &urls, &campaign, &retries);
            scope.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                let send = |i: usize, path: &str, body: String, device: &(String, String)| loop {
                    let url = &urls[(i + retries.load(Ordering::Relaxed) as usize) % urls.len()];
                    let answer = agent
                        .post(format!("{url}{path}"))
                        .header("authorization", &basic(&device.0, &device.1))
                        .send(body.as_bytes());
                    match answer {
                        Ok(mut a) if a.status() == 200 => {
                            return a.body_mut().read_to_string().unwrap_or_default();
                        }
                        _ => {
                            retries.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                };
                for (i, device) in devices.iter().enumerate().filter(|(i, _)| i % 8 == worker) {
                    let offer = send(
                        i,
                        "/v1/checkin",
                        r#"{"hardware":"cam-v2","version":"1.0.0","security_version":1}"#.into(),
                        device,
                    );
                    assert!(offer.contains("\"update\""), "{offer}");
                    for state in STEPS {
                        let body = json!({"campaign": campaign, "state": state}).to_string();
                        send(i, "/v1/status", body, device);
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(200 + dice.below(400)));
        redis.restart(Duration::from_millis(500));
    });

    // Devices poll again later: a count whose request the restart cut short
    // is applied by then (once its tally's lease has run out).
    std::thread::sleep(Duration::from_secs(11));
    for (i, device) in devices.iter().enumerate() {
        let answer = crate::support::app::checkin(&hosts[i % 2].url, device, "1.2.0");
        assert_eq!(answer["action"], "none", "{answer}");
    }
    // The hosts were never restarted: they read the store back as it is.
    let mut stored = std::collections::BTreeMap::<String, u64>::new();
    for device in &devices {
        let view = admin(
            &hosts[0],
            "GET",
            &format!("/v1/admin/devices/{}", device.0),
            None,
        )
        .json();
        *stored
            .entry(
                view["state"]["rollout"]["phase"]
                    .as_str()
                    .unwrap_or("none")
                    .to_owned(),
            )
            .or_default() += 1;
    }
    let read_progress = || {
        admin(
            &hosts[1],
            "GET",
            &format!("/v1/admin/campaigns/{campaign}"),
            None,
        )
        .json()
    };
    let progress = read_progress();
    eprintln!(
        "redis restart: {} retries; stored phases {stored:?}; counted {}",
        retries.load(Ordering::Relaxed),
        progress["total"]
    );
    assert_eq!(
        stored.get("succeeded"),
        Some(&1000),
        "every device finished: {stored:?}"
    );
    // No count is lost. A request the restart cut off after Redis applied an
    // increment but before its answer came back cannot know it was applied, so
    // its retry may count it again: at most once per request that failed.
    let cut_off = retries.load(Ordering::Relaxed);
    for outcome in ["offered", "succeeded"] {
        let counted = progress["total"][outcome].as_u64().unwrap();
        assert!(
            (1000..=1000 + cut_off).contains(&counted),
            "{outcome}: counted {counted} for 1000 devices, {cut_off} requests cut off: {progress}"
        );
    }
    assert!(retries.load(Ordering::Relaxed) > 0, "the restart was felt");

    // The remedy for that one uncertain step: a recount from the devices'
    // states (`sluice campaign recount --apply`) leaves every count exact.
    let run = operate(
        &dir,
        &hosts[0],
        &["campaign", "recount", &campaign, "--apply", "--json"],
    );
    let recounted: serde_json::Value = serde_json::from_str(run.last_line()).unwrap();
    eprintln!(
        "redis restart: the recount read {} devices and corrected {}",
        recounted["scanned"], recounted["differences"]
    );
    let progress = read_progress();
    for outcome in ["offered", "succeeded"] {
        assert_eq!(progress["total"][outcome], 1000, "{progress}");
    }
    assert_eq!(progress["in_flight"], 0, "{progress}");
    for host in hosts {
        host.stop();
    }
}
