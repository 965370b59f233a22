//! A simulated fleet: many agents in one process, each running the real agent
//! logic against the real server on in-memory slots, driven by a pool of worker
//! threads in poll order, with failure injection.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use sluice_api::checkin::{CheckinAction, CheckinAnswer, CheckinReport, Telemetry};
use sluice_api::status::{ReportedState, StatusAnswer, StatusReport};
use sluice_protocol::{Digest, TrustRoot};

use crate::agent::{Agent, AgentState, HealthCheck, Next};
use crate::health_watch::HealthCounters;
use crate::slots::MemorySlots;
use crate::transport::{HttpTransport, Transport, TransportError};

/// One simulated device's identity and circumstances.
#[derive(Clone, Debug)]
pub struct SimDevice {
    pub id: String,
    pub secret: String,
    pub hardware: String,
    pub telemetry: Telemetry,
    /// Its health check fails after every update (a boot or health failure).
    pub fails_health: bool,
}

/// How the fleet misbehaves.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Probability that any one request is lost (network drop).
    pub drop_rate: f64,
    /// Probability that a download is cut once part-way (power loss).
    pub power_loss_rate: f64,
}

/// When the simulation stops.
#[derive(Clone, Copy, Debug)]
pub struct Until {
    /// Nothing has happened (no offer, no report, no update in progress) for this long.
    pub settled: Duration,
    /// Give up after this long in any case.
    pub timeout: Duration,
}

/// What happened.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    pub devices: usize,
    /// Devices offered an update at least once.
    pub offered: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rolled_back: u64,
    pub rejected: u64,
    /// Post-update health reports the server took.
    pub health_reports: u64,
    pub peak_concurrent_downloads: u64,
    pub bytes_downloaded: u64,
    /// Devices running each version at the end.
    pub versions: std::collections::BTreeMap<String, u64>,
    pub seconds: f64,
    /// Whether it stopped because the fleet settled (not the timeout).
    pub settled: bool,
}

#[derive(Default)]
struct Counters {
    succeeded: AtomicU64,
    failed: AtomicU64,
    rolled_back: AtomicU64,
    rejected: AtomicU64,
    health_reports: AtomicU64,
    downloading: AtomicU64,
    peak_downloading: AtomicU64,
    last_activity_ms: AtomicU64,
}

/// A deterministic pseudo-random fraction for (`seed`, `n`), so runs are reproducible.
pub fn fraction(seed: &str, n: u64) -> f64 {
    let digest = Digest::of(format!("{seed}/{n}").as_bytes());
    let b = digest.as_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64 / (u32::MAX as f64 + 1.0)
}

struct SimTransport {
    inner: HttpTransport,
    id: String,
    faults: Faults,
    counters: Arc<Counters>,
    offered: AtomicBool,
    downloading: AtomicBool,
    /// Chunk fetches left before this download's power cut (u64::MAX: none).
    cut_after: AtomicU64,
    requests: AtomicU64,
    start: Instant,
}

impl SimTransport {
    fn activity(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.counters
            .last_activity_ms
            .fetch_max(ms, Ordering::Relaxed);
    }

    fn begin_download(&self) {
        if !self.downloading.swap(true, Ordering::Relaxed) {
            let now = self.counters.downloading.fetch_add(1, Ordering::Relaxed) + 1;
            self.counters
                .peak_downloading
                .fetch_max(now, Ordering::Relaxed);
        }
    }

    fn maybe_drop(&self) -> Result<(), TransportError> {
        // Per device, so a device's faults do not depend on the other threads.
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        if self.faults.drop_rate > 0.0 && fraction(&self.id, n) < self.faults.drop_rate {
            return Err(TransportError::Temporary {
                message: "network dropped (simulated)".into(),
                retry_after: None,
            });
        }
        Ok(())
    }

    fn end_download(&self) {
        if self.downloading.swap(false, Ordering::Relaxed) {
            self.counters.downloading.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Transport for SimTransport {
    fn checkin(&self, report: &CheckinReport) -> Result<CheckinAnswer, TransportError> {
        self.maybe_drop()?;
        let answer = self.inner.checkin(report)?;
        if answer.action == CheckinAction::Update && !self.offered.swap(true, Ordering::Relaxed) {
            self.activity();
        }
        Ok(answer)
    }

    fn manifest(&self, release: &str) -> Result<Vec<u8>, TransportError> {
        self.maybe_drop()?;
        let manifest = self.inner.manifest(release)?;
        self.begin_download();
        let n = self.requests.load(Ordering::Relaxed);
        if self.faults.power_loss_rate > 0.0
            && fraction(&self.id, n ^ 0x5eed) < self.faults.power_loss_rate
        {
            self.cut_after.store(1 + (n % 3), Ordering::Relaxed);
        }
        Ok(manifest)
    }

    fn chunk(&self, digest: &str) -> Result<Vec<u8>, TransportError> {
        // A download resumed after a cut counts again while it runs.
        self.begin_download();
        self.maybe_drop()?;
        let left = self.cut_after.load(Ordering::Relaxed);
        if left == 0 {
            self.cut_after.store(u64::MAX, Ordering::Relaxed);
            return Err(TransportError::Temporary {
                message: "power lost mid-download (simulated)".into(),
                retry_after: Some(1),
            });
        }
        if left != u64::MAX {
            self.cut_after.store(left - 1, Ordering::Relaxed);
        }
        self.inner.chunk(digest)
    }

    fn status(&self, report: &StatusReport) -> Result<StatusAnswer, TransportError> {
        self.maybe_drop()?;
        let result = self.inner.status(report);
        if report.state == ReportedState::Health {
            if result.is_ok() {
                self.activity();
                self.counters.health_reports.fetch_add(1, Ordering::Relaxed);
            }
            return result;
        }
        if result.is_ok() || matches!(result, Err(TransportError::Refused { .. })) {
            self.activity();
            let counter = match report.state {
                ReportedState::Succeeded => Some(&self.counters.succeeded),
                ReportedState::Failed => Some(&self.counters.failed),
                ReportedState::RolledBack => Some(&self.counters.rolled_back),
                ReportedState::Rejected => Some(&self.counters.rejected),
                _ => None,
            };
            if let Some(counter) = counter.filter(|_| result.is_ok()) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            if matches!(
                report.state,
                ReportedState::Rebooting
                    | ReportedState::Succeeded
                    | ReportedState::Failed
                    | ReportedState::Rejected
                    | ReportedState::RolledBack
            ) {
                self.end_download();
            }
        }
        result
    }
}

/// How often simulated devices crash, before and after the update.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CrashModel {
    /// Crashes per device-hour before the update (0: the devices keep no counters).
    pub per_hour: f64,
    /// The update multiplies the rate by this (1: no change; 3: a regression).
    pub factor_after_update: f64,
    /// Seconds of health measured before and after the update.
    pub period_seconds: u64,
}

struct SimHealth {
    fails: bool,
    crashes: CrashModel,
    /// Where in its first crash interval this device starts (so devices differ).
    phase: f64,
    start: Instant,
    updated: Option<Instant>,
}

impl HealthCheck for SimHealth {
    fn check(&mut self, version: &str) -> Result<(), String> {
        if self.fails {
            Err(format!("{version} does not boot (simulated)"))
        } else {
            self.updated = Some(Instant::now());
            Ok(())
        }
    }

    fn counters(&mut self) -> Option<HealthCounters> {
        if self.crashes.per_hour <= 0.0 {
            return None;
        }
        let rate = self.crashes.per_hour / 3600.0;
        let now = Instant::now();
        let expected = match self.updated {
            None => now.duration_since(self.start).as_secs_f64() * rate,
            Some(at) => {
                at.duration_since(self.start).as_secs_f64() * rate
                    + now.duration_since(at).as_secs_f64() * rate * self.crashes.factor_after_update
            }
        };
        Some(HealthCounters {
            reboots: 0,
            crashes: (expected + self.phase) as u64,
            metric: 0,
        })
    }
}

type SimAgent = Agent<MemorySlots, SimTransport, SimHealth>;

/// A fleet to simulate.
pub struct Fleet {
    /// The server's URL.
    pub server: String,
    pub devices: Vec<SimDevice>,
    /// The version every device starts with.
    pub version: String,
    /// The security version of that factory image.
    pub security_version: u64,
    /// The trust root the devices verify against.
    pub trust: TrustRoot,
    pub faults: Faults,
    pub crashes: CrashModel,
    pub until: Until,
    /// Worker threads stepping devices.
    pub workers: usize,
}

/// Runs the fleet until it settles or the timeout. `progress` is called about
/// once a second with the counts so far.
pub fn run(fleet: Fleet, progress: impl Fn(&Summary) + Send + Sync) -> Summary {
    let Fleet {
        server,
        devices,
        version,
        security_version,
        trust,
        faults,
        crashes,
        until,
        workers,
    } = fleet;
    let start = Instant::now();
    let counters = Arc::new(Counters::default());
    let count = devices.len();
    let agents: Vec<Mutex<SimAgent>> = devices
        .into_iter()
        .map(|d| {
            let transport = SimTransport {
                inner: HttpTransport::new(&server, &d.id, &d.secret),
                id: d.id.clone(),
                faults,
                counters: counters.clone(),
                offered: AtomicBool::new(false),
                downloading: AtomicBool::new(false),
                cut_after: AtomicU64::new(u64::MAX),
                requests: AtomicU64::new(0),
                start,
            };
            // Each device has been running for a period already, with its
            // counters at zero then, so it has a baseline from its first poll.
            let period = Duration::from_secs(crashes.period_seconds);
            let health = SimHealth {
                fails: d.fails_health,
                crashes,
                phase: fraction(&d.id, 11),
                start: start.checked_sub(period).unwrap_or(start),
                updated: None,
            };
            let mut agent = Agent::new(
                AgentState::factory(&d.hardware, &version, security_version),
                MemorySlots::default(),
                transport,
                health,
                trust.clone(),
            );
            agent.telemetry = d.telemetry;
            if crashes.per_hour > 0.0 && crashes.period_seconds > 0 {
                agent.health_period = crashes.period_seconds;
                let unix_now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                agent.state.health.samples.push((
                    unix_now.saturating_sub(crashes.period_seconds),
                    HealthCounters::default(),
                ));
            }
            Mutex::new(agent)
        })
        .collect();
    // Spread the first check-ins over a second, as a real fleet's would be.
    let queue: Mutex<BinaryHeap<Reverse<(Instant, usize)>>> = Mutex::new(
        (0..count)
            .map(|i| {
                Reverse((
                    start + Duration::from_millis((i as u64 * 1000) / count.max(1) as u64),
                    i,
                ))
            })
            .collect(),
    );
    let wake = Condvar::new();
    let done = AtomicBool::new(false);
    let stepped = AtomicUsize::new(0);
    let snapshot = |settled: bool| -> Summary {
        let mut versions = std::collections::BTreeMap::new();
        let mut bytes = 0;
        let mut offered = 0;
        for agent in &agents {
            if let Ok(a) = agent.try_lock() {
                *versions.entry(a.state.version.clone()).or_insert(0) += 1;
                bytes += a.stats.bytes_downloaded;
                offered += u64::from(a.transport.offered.load(Ordering::Relaxed));
            }
        }
        Summary {
            devices: count,
            offered,
            succeeded: counters.succeeded.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            rolled_back: counters.rolled_back.load(Ordering::Relaxed),
            rejected: counters.rejected.load(Ordering::Relaxed),
            health_reports: counters.health_reports.load(Ordering::Relaxed),
            peak_concurrent_downloads: counters.peak_downloading.load(Ordering::Relaxed),
            bytes_downloaded: bytes,
            versions,
            seconds: start.elapsed().as_secs_f64(),
            settled,
        }
    };
    let mut settled = false;
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            if done.load(Ordering::Relaxed) {
                                return;
                            }
                            match q.peek() {
                                Some(Reverse((due, _))) if *due <= Instant::now() => {
                                    break q.pop().map(|Reverse((_, i))| i).unwrap_or(0);
                                }
                                Some(Reverse((due, _))) => {
                                    let wait = due
                                        .saturating_duration_since(Instant::now())
                                        .min(Duration::from_millis(100));
                                    q = wake
                                        .wait_timeout(q, wait)
                                        .map(|(g, _)| g)
                                        .unwrap_or_else(|e| e.into_inner().0);
                                }
                                None => {
                                    q = wake
                                        .wait_timeout(q, Duration::from_millis(100))
                                        .map(|(g, _)| g)
                                        .unwrap_or_else(|e| e.into_inner().0);
                                }
                            }
                        }
                    };
                    let next = {
                        let mut agent = agents[index].lock().unwrap_or_else(|e| e.into_inner());
                        let next = agent.step();
                        agent.transport.end_download();
                        next
                    };
                    stepped.fetch_add(1, Ordering::Relaxed);
                    if let Next::Wait(seconds) = next {
                        let due = Instant::now() + Duration::from_secs(seconds);
                        queue
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(Reverse((due, index)));
                        wake.notify_one();
                    }
                }
            });
        }
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let elapsed = start.elapsed();
            let idle = elapsed.saturating_sub(Duration::from_millis(
                counters.last_activity_ms.load(Ordering::Relaxed),
            ));
            let everyone_stepped = stepped.load(Ordering::Relaxed) >= count;
            // A device mid-update (or in backoff holding an unsent report) is not settled.
            let busy = || {
                agents.iter().any(|a| match a.try_lock() {
                    Ok(a) => {
                        a.state.pending.is_some()
                            || a.state.unreported.is_some()
                            || a.state.health.observing.is_some()
                    }
                    Err(_) => true,
                })
            };
            if everyone_stepped && idle >= until.settled && !busy() {
                settled = true;
                break;
            }
            if elapsed >= until.timeout {
                break;
            }
            if elapsed.as_millis() % 1000 < 250 {
                progress(&snapshot(false));
            }
        }
        done.store(true, Ordering::Relaxed);
        wake.notify_all();
    });
    snapshot(settled)
}

#[cfg(test)]
mod tests {
    use super::fraction;

    #[test]
    fn fractions_are_reproducible_and_spread() {
        assert_eq!(fraction("d1", 3), fraction("d1", 3));
        let mean: f64 = (0..1000).map(|n| fraction("x", n)).sum::<f64>() / 1000.0;
        assert!((0.45..0.55).contains(&mean), "{mean}");
    }
}
