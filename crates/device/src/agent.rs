//! The agent's state machine, driven one [`Agent::step`] at a time: a real device
//! loops `step` then sleeps; the fleet simulator drives many agents from a pool.

use std::collections::HashMap;
use std::io;

use serde::{Deserialize, Serialize};
use sluice_protocol::{DeviceFacts, Manifest, SignedManifest, TrustRoot, Verifier};

use crate::health_watch::{HealthCounters, HealthWatch};
use crate::slots::{Slot, Slots};
use sluice_api::checkin::{CheckinAction, CheckinReport, Telemetry};
use sluice_api::status::{Failure, ReportedState, StatusAction, StatusAnswer, StatusReport};

use crate::transport::{Transport, TransportError};

/// Longest wait between retries after failures.
pub const MAX_BACKOFF_SECONDS: u64 = 900;
/// First wait after a failure; it doubles each time.
pub const FIRST_BACKOFF_SECONDS: u64 = 5;
/// The longest the agent waits because an answer told it to (the next poll,
/// a held install): the answers are not signed, so one forged answer must not
/// park a device for longer. A legitimate longer wait (a window days away)
/// costs one more check-in a day.
pub const MAX_WAIT_SECONDS: u64 = 24 * 3600;
/// Bytes read back at a time when checking the whole written image.
const READ_BACK: usize = 1 << 20;

/// Everything the agent must remember across power loss.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    pub hardware: String,
    /// The slot the device boots from.
    pub active: Slot,
    /// The committed version and security version (anti-rollback counter).
    pub version: String,
    pub security_version: u64,
    /// The signed manifest of the active image, if it came from Sluice (lets the
    /// agent reuse chunks it already holds).
    #[serde(default)]
    pub active_manifest: Option<String>,
    /// What the other slot holds, for an operator rollback.
    #[serde(default)]
    pub previous: Option<Installed>,
    /// The newest key statement seen (file bytes).
    #[serde(default)]
    pub key_statement: Option<String>,
    /// An update in progress.
    #[serde(default)]
    pub pending: Option<Pending>,
    /// A final report the server has not acknowledged yet.
    #[serde(default)]
    pub unreported: Option<StatusReport>,
    /// Campaigns this device is done with (failed, rejected, rolled back).
    #[serde(default)]
    pub finished_campaigns: Vec<String>,
    /// Post-update health being measured.
    #[serde(default)]
    pub health: HealthWatch,
}

/// An image that was installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub version: String,
    pub security_version: u64,
    #[serde(default)]
    pub manifest: Option<String>,
}

/// Where an update stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Chunks `0..next_chunk` are written and verified in the inactive slot.
    Downloading,
    /// Switched to the new slot; waiting for the health check to commit or revert.
    Rebooted,
}

/// An update in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub campaign: String,
    pub release: String,
    pub manifest: String,
    pub next_chunk: usize,
    pub stage: Stage,
}

impl AgentState {
    /// A device that runs `version` from slot A and has never updated.
    pub fn factory(hardware: &str, version: &str, security_version: u64) -> AgentState {
        AgentState {
            hardware: hardware.to_owned(),
            active: Slot::A,
            version: version.to_owned(),
            security_version,
            active_manifest: None,
            previous: None,
            key_statement: None,
            pending: None,
            unreported: None,
            finished_campaigns: Vec::new(),
            health: HealthWatch::default(),
        }
    }
}

/// Decides whether a newly booted image is healthy, and counts how the device
/// fares.
pub trait HealthCheck {
    fn check(&mut self, version: &str) -> Result<(), String>;

    /// The device's cumulative reboots, crashes and vendor metric, if it keeps
    /// them; the agent then reports post-update health.
    fn counters(&mut self) -> Option<HealthCounters> {
        None
    }
}

/// How long post-update health is measured before and after an update, by default.
pub const DEFAULT_HEALTH_PERIOD_SECONDS: u64 = 24 * 3600;

/// Counters a simulator or operator cares about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentStats {
    pub bytes_downloaded: u64,
    pub chunks_downloaded: u64,
    pub chunks_reused: u64,
}

/// Saves the agent's state durably (a file on a device, memory in a simulator).
pub type Persist = Box<dyn FnMut(&AgentState) -> io::Result<()> + Send>;

/// What the agent wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Step again after this many seconds.
    Wait(u64),
    /// The server refused this device (4xx at check-in): stop, do not retry.
    Stop(String),
}

/// The device agent.
pub struct Agent<S: Slots, T: Transport, H: HealthCheck> {
    pub state: AgentState,
    pub slots: S,
    pub transport: T,
    pub health: H,
    pub stats: AgentStats,
    pub telemetry: Telemetry,
    /// Seconds of post-update health measured before and after an update.
    pub health_period: u64,
    trust: TrustRoot,
    persist: Persist,
    events: Box<dyn FnMut(&str) + Send>,
    clock: fn() -> u64,
    failures: u32,
}

/// The report that `campaign` reached `state`.
fn status_report(campaign: &str, state: ReportedState, error: Option<Failure>) -> StatusReport {
    StatusReport {
        campaign: campaign.to_owned(),
        state,
        progress: None,
        error,
        health: None,
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Names a verification error for reports (`CHUNK_DIGEST_MISMATCH`, ...).
fn error_code(e: &sluice_protocol::Error) -> String {
    let debug = format!("{e:?}");
    let name = debug.split([' ', '{', '(']).next().unwrap_or("VERIFY");
    let mut code = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            code.push('_');
        }
        code.push(c.to_ascii_uppercase());
    }
    code
}

impl<S: Slots, T: Transport, H: HealthCheck> Agent<S, T, H> {
    pub fn new(state: AgentState, slots: S, transport: T, health: H, trust: TrustRoot) -> Self {
        Agent {
            state,
            slots,
            transport,
            health,
            stats: AgentStats::default(),
            telemetry: Telemetry::default(),
            health_period: DEFAULT_HEALTH_PERIOD_SECONDS,
            trust,
            persist: Box::new(|_| Ok(())),
            events: Box::new(|_| {}),
            clock: now_unix,
            failures: 0,
        }
    }

    /// Called with the state after every change that must survive power loss.
    pub fn on_persist(
        mut self,
        persist: impl FnMut(&AgentState) -> io::Result<()> + Send + 'static,
    ) -> Self {
        self.persist = Box::new(persist);
        self
    }

    /// Called with a line for people at every state change.
    pub fn on_event(mut self, events: impl FnMut(&str) + Send + 'static) -> Self {
        self.events = Box::new(events);
        self
    }

    fn event(&mut self, text: &str) {
        (self.events)(text);
    }

    fn save(&mut self) -> io::Result<()> {
        (self.persist)(&self.state)
    }

    /// A wait an answer asked for, at least a second and at most
    /// [`MAX_WAIT_SECONDS`] (said as an event when it is cut).
    fn bounded_wait(&mut self, what: &str, asked: u64) -> u64 {
        if asked > MAX_WAIT_SECONDS {
            self.event(&format!(
                "{what}: the server asked to wait {asked} s; waiting at most {MAX_WAIT_SECONDS} s"
            ));
        }
        asked.clamp(1, MAX_WAIT_SECONDS)
    }

    fn backoff(&mut self, retry_after: Option<u64>) -> Next {
        self.failures = self.failures.saturating_add(1);
        let exponential =
            FIRST_BACKOFF_SECONDS.saturating_mul(1 << self.failures.min(10).saturating_sub(1));
        Next::Wait(
            retry_after
                .unwrap_or(exponential)
                .clamp(1, MAX_BACKOFF_SECONDS),
        )
    }

    /// One step: finish what is pending, or check in and act on the answer.
    pub fn step(&mut self) -> Next {
        match self.try_step() {
            Ok(next) => next,
            Err(e) => {
                self.event(&format!("local storage error: {e}"));
                self.backoff(None)
            }
        }
    }

    fn try_step(&mut self) -> io::Result<Next> {
        if let Err(TransportError::Temporary { retry_after, .. }) = self.send_unreported()? {
            return Ok(self.backoff(retry_after));
        }
        self.watch_health()?;
        if let Some(pending) = self.state.pending.clone() {
            return match pending.stage {
                Stage::Downloading => {
                    // A resumed download: ask before fetching more whether the
                    // campaign still wants it (an abort answers 410).
                    if let Err(reason) = self.report(&pending.campaign, ReportedState::Downloading)
                    {
                        return self.abandon(&reason);
                    }
                    self.download()
                }
                Stage::Rebooted => self.after_reboot(),
            };
        }
        let report = CheckinReport {
            hardware: self.state.hardware.clone(),
            version: self.state.version.clone(),
            security_version: self.state.security_version,
            tags: Vec::new(),
            telemetry: Telemetry {
                slot: Some(self.state.active.name().to_owned()),
                ..self.telemetry.clone()
            },
        };
        let answer = match self.transport.checkin(&report) {
            Ok(answer) => answer,
            Err(TransportError::Temporary {
                message,
                retry_after,
            }) => {
                self.event(&format!("check-in failed, backing off: {message}"));
                return Ok(self.backoff(retry_after));
            }
            Err(TransportError::Refused {
                status, message, ..
            }) => {
                return Ok(Next::Stop(format!(
                    "server refused check-in ({status}): {message}"
                )));
            }
        };
        self.failures = 0;
        let poll = self.bounded_wait("next poll", u64::from(answer.next_poll_seconds));
        match (answer.action, answer.campaign, answer.release) {
            (CheckinAction::Update, Some(campaign), Some(release)) => {
                self.start_update(campaign, release, poll)
            }
            (CheckinAction::Rollback, Some(campaign), Some(release)) => {
                self.rollback(campaign, release, poll)
            }
            _ => Ok(Next::Wait(poll)),
        }
    }

    /// Samples the health counters, and sends the post-update health report once
    /// its watch is over (kept until the server answers).
    fn watch_health(&mut self) -> io::Result<()> {
        let Some(counters) = self.health.counters() else {
            return Ok(());
        };
        let now = (self.clock)();
        let before = self.state.health.clone();
        self.state.health.sample(now, counters, self.health_period);
        if let Some((campaign, report)) = self.state.health.due(now, counters) {
            match self.transport.status(&StatusReport {
                campaign: campaign.clone(),
                state: ReportedState::Health,
                progress: None,
                error: None,
                health: Some(report),
            }) {
                Ok(_) | Err(TransportError::Refused { .. }) => {
                    self.event(&format!(
                        "reported post-update health for campaign {campaign}: crashes {} → {}, reboots {} → {}",
                        report.crashes_before,
                        report.crashes_after,
                        report.reboots_before,
                        report.reboots_after
                    ));
                    self.state.health.observing = None;
                }
                Err(e) => self.event(&format!("health report not delivered: {e}")),
            }
        }
        if self.state.health != before {
            self.save()?;
        }
        Ok(())
    }

    /// Notes the health baseline as an update of `campaign` starts.
    fn health_baseline(&mut self, campaign: &str) {
        if let Some(counters) = self.health.counters() {
            let now = (self.clock)();
            self.state
                .health
                .start_update(campaign, now, counters, self.health_period);
        }
    }

    /// Sends a report and returns the server's answer; a refused one (the
    /// campaign was aborted) abandons the update.
    fn report(&mut self, campaign: &str, state: ReportedState) -> Result<StatusAnswer, String> {
        match self.transport.status(&status_report(campaign, state, None)) {
            Ok(answer) => Ok(answer),
            Err(TransportError::Refused { code, message, .. }) if code == "campaign_aborted" => {
                Err(message)
            }
            Err(e) => {
                self.event(&format!("report {} not delivered: {e}", state.as_str()));
                Ok(StatusAnswer::go_on())
            }
        }
    }

    /// A final report: saved first, then sent, and retried at the next step until
    /// the server takes it.
    fn report_final(
        &mut self,
        campaign: &str,
        state: ReportedState,
        error: Option<Failure>,
    ) -> io::Result<()> {
        self.state.unreported = Some(status_report(campaign, state, error));
        self.save()?;
        self.send_unreported().map(|_| ())
    }

    /// Sends the saved final report, if any; forgets it once the server answered.
    fn send_unreported(&mut self) -> io::Result<Result<(), TransportError>> {
        let Some(report) = self.state.unreported.clone() else {
            return Ok(Ok(()));
        };
        match self.transport.status(&report) {
            Ok(_) | Err(TransportError::Refused { .. }) => {
                self.state.unreported = None;
                self.save()?;
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    fn verify(
        &self,
        manifest: &[u8],
    ) -> Result<sluice_protocol::VerifiedManifest, sluice_protocol::Error> {
        let mut verifier = Verifier::new(self.trust.clone());
        if let Some(statement) = &self.state.key_statement
            && let Ok(envelope) = sluice_protocol::decode_statement_file(statement.as_bytes())
        {
            verifier = verifier.with_key_statement(&envelope)?;
        }
        verifier.verify_for_device(
            manifest,
            &DeviceFacts {
                hardware: self.state.hardware.clone(),
                committed_security_version: self.state.security_version,
                now: (self.clock)(),
            },
        )
    }

    fn reject(
        &mut self,
        campaign: &str,
        phase: &str,
        error: &sluice_protocol::Error,
    ) -> io::Result<Next> {
        self.event(&format!(
            "rejected the release of campaign {campaign}: {error}"
        ));
        self.state.pending = None;
        self.state.finished_campaigns.push(campaign.to_owned());
        self.report_final(
            campaign,
            ReportedState::Rejected,
            Some(Failure {
                phase: phase.into(),
                code: error_code(error),
                detail: error.to_string(),
            }),
        )?;
        Ok(Next::Wait(60))
    }

    fn start_update(&mut self, campaign: String, release: String, poll: u64) -> io::Result<Next> {
        if self.state.finished_campaigns.contains(&campaign) {
            return Ok(Next::Wait(poll));
        }
        let manifest = match self.transport.manifest(&release) {
            Ok(bytes) => bytes,
            Err(TransportError::Temporary { retry_after, .. }) => {
                return Ok(self.backoff(retry_after));
            }
            Err(e) => {
                self.event(&format!("manifest of {release} refused: {e}"));
                return Ok(Next::Wait(poll));
            }
        };
        let verified = match self.verify(&manifest) {
            Ok(verified) => verified,
            Err(e) => return self.reject(&campaign, "verify", &e),
        };
        if let Some(newer) = verified.newer_key_statement() {
            self.state.key_statement = Some(
                String::from_utf8_lossy(&sluice_protocol::encode_statement_file(newer))
                    .into_owned(),
            );
        }
        if verified.manifest().version != release {
            let error = sluice_protocol::Error::InvalidManifest {
                field: "version".into(),
                reason: format!(
                    "is {:?}, but the server offered {release:?}",
                    verified.manifest().version
                ),
            };
            return self.reject(&campaign, "verify", &error);
        }
        self.health_baseline(&campaign);
        // The inactive slot is about to be overwritten: it no longer holds a
        // version to roll back to, and that must be on disk before the first write.
        self.state.previous = None;
        self.save()?;
        let inactive = self.state.active.other();
        self.slots.clear(inactive)?;
        self.state.pending = Some(Pending {
            campaign: campaign.clone(),
            release: release.clone(),
            manifest: String::from_utf8_lossy(&manifest).into_owned(),
            next_chunk: 0,
            stage: Stage::Downloading,
        });
        self.save()?;
        self.event(&format!("updating to {release} (campaign {campaign})"));
        if let Err(reason) = self.report(&campaign, ReportedState::Downloading) {
            return self.abandon(&reason);
        }
        self.download()
    }

    fn abandon(&mut self, reason: &str) -> io::Result<Next> {
        self.event(&format!("update abandoned: {reason}"));
        if let Some(p) = self.state.pending.take() {
            self.state.finished_campaigns.push(p.campaign);
        }
        self.save()?;
        Ok(Next::Wait(60))
    }

    /// Chunks this device already holds in its active slot, by digest.
    fn held_chunks(&self) -> HashMap<String, (u64, u64)> {
        let Some(text) = &self.state.active_manifest else {
            return HashMap::new();
        };
        let Ok(signed) =
            SignedManifest::from_bytes(text.as_bytes(), &sluice_protocol::Limits::default())
        else {
            return HashMap::new();
        };
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&signed.manifest.payload) else {
            return HashMap::new();
        };
        manifest
            .chunks
            .iter()
            .map(|c| (c.sha256.to_string(), (c.offset, c.size)))
            .collect()
    }

    fn download(&mut self) -> io::Result<Next> {
        let Some(pending) = self.state.pending.clone() else {
            return Ok(Next::Wait(1));
        };
        let verified = match self.verify(pending.manifest.as_bytes()) {
            Ok(v) => v,
            Err(e) => return self.reject(&pending.campaign, "verify", &e),
        };
        let manifest = verified.manifest().clone();
        let inactive = self.state.active.other();
        let held = self.held_chunks();
        for (index, chunk) in manifest.chunks.iter().enumerate().skip(pending.next_chunk) {
            let digest = chunk.sha256.to_string();
            let reused = match held.get(&digest) {
                Some((offset, size)) if *size == chunk.size => self
                    .slots
                    .read_at(self.state.active, *offset, *size as usize)
                    .ok(),
                _ => None,
            };
            let data = match reused {
                Some(data) => {
                    self.stats.chunks_reused += 1;
                    data
                }
                None => match self.transport.chunk(&digest) {
                    Ok(data) => {
                        self.stats.bytes_downloaded += data.len() as u64;
                        self.stats.chunks_downloaded += 1;
                        data
                    }
                    Err(TransportError::Temporary {
                        retry_after,
                        message,
                    }) => {
                        self.event(&format!(
                            "chunk {index} not fetched, will resume: {message}"
                        ));
                        return Ok(self.backoff(retry_after));
                    }
                    Err(e) => {
                        self.event(&format!("chunk {index} refused, will retry: {e}"));
                        return Ok(self.backoff(None));
                    }
                },
            };
            if let Err(e) = verified.verify_chunk(index, &data) {
                return self.reject(&pending.campaign, "download", &e);
            }
            self.slots.write_at(inactive, chunk.offset, &data)?;
            if let Some(p) = self.state.pending.as_mut() {
                p.next_chunk = index + 1;
            }
            self.save()?;
        }
        // The whole image, read back from the slot.
        let mut image = verified.image_verifier();
        let mut offset = 0u64;
        let total = manifest.image.size;
        while offset < total {
            let len = READ_BACK.min((total - offset) as usize);
            let data = self.slots.read_at(inactive, offset, len)?;
            if let Err(e) = image.update(&data) {
                return self.reject(&pending.campaign, "install", &e);
            }
            offset += len as u64;
        }
        if let Err(e) = image.finish() {
            return self.reject(&pending.campaign, "install", &e);
        }
        // The install starts only on the server's go-ahead. A change freeze
        // answers `hold`: keep the verified image and ask again later (the
        // next step resumes the download, which has nothing left to fetch,
        // verifies the image again and reports `downloaded` again). A report
        // that does not get through (a network cut, an overloaded server)
        // could have been answered `hold` too, so it is asked again as well.
        match self.transport.status(&status_report(
            &pending.campaign,
            ReportedState::Downloaded,
            None,
        )) {
            Ok(answer) if answer.action == StatusAction::Hold => {
                let wait =
                    self.bounded_wait("held install", u64::from(answer.hold_seconds.unwrap_or(60)));
                self.event(&format!(
                    "install of {} held for {wait} s: {}",
                    pending.release,
                    answer
                        .reason
                        .as_deref()
                        .unwrap_or("the server asked to wait")
                ));
                return Ok(Next::Wait(wait));
            }
            Ok(_) => {}
            Err(TransportError::Refused { code, message, .. }) if code == "campaign_aborted" => {
                return self.abandon(&message);
            }
            Err(TransportError::Refused { .. }) => {}
            Err(TransportError::Temporary {
                message,
                retry_after,
            }) => {
                self.event(&format!(
                    "report downloaded not delivered, will ask again before installing: {message}"
                ));
                return Ok(self.backoff(retry_after));
            }
        }
        for state in [ReportedState::Installing, ReportedState::Rebooting] {
            if let Err(reason) = self.report(&pending.campaign, state) {
                return self.abandon(&reason);
            }
        }
        // "Reboot" into the new slot; remember what the old one holds.
        self.state.previous = Some(Installed {
            version: self.state.version.clone(),
            security_version: self.state.security_version,
            manifest: self.state.active_manifest.clone(),
        });
        self.state.active = inactive;
        if let Some(p) = self.state.pending.as_mut() {
            p.stage = Stage::Rebooted;
        }
        self.save()?;
        self.event(&format!(
            "rebooted into slot {inactive:?} with {}",
            pending.release
        ));
        self.after_reboot()
    }

    fn after_reboot(&mut self) -> io::Result<Next> {
        let Some(pending) = self.state.pending.clone() else {
            return Ok(Next::Wait(1));
        };
        let manifest: Option<Manifest> =
            SignedManifest::from_bytes(pending.manifest.as_bytes(), &Default::default())
                .ok()
                .and_then(|s| serde_json::from_slice(&s.manifest.payload).ok());
        match self.health.check(&pending.release) {
            Ok(()) => {
                self.state.version = pending.release.clone();
                if let Some(m) = &manifest {
                    self.state.security_version =
                        self.state.security_version.max(m.security_version);
                }
                self.state.active_manifest = Some(pending.manifest.clone());
                self.state.pending = None;
                if let Some(counters) = self.health.counters() {
                    let now = (self.clock)();
                    self.state
                        .health
                        .committed(&pending.campaign, now, counters);
                }
                self.save()?;
                self.event(&format!("committed {}", pending.release));
                self.report_final(&pending.campaign, ReportedState::Succeeded, None)?;
            }
            Err(why) => {
                // Revert on our own: boot the slot that worked.
                self.state.active = self.state.active.other();
                self.state.previous = None;
                self.state.pending = None;
                self.state.finished_campaigns.push(pending.campaign.clone());
                self.save()?;
                self.event(&format!(
                    "health check failed, reverted to {}: {why}",
                    self.state.version
                ));
                self.report_final(
                    &pending.campaign,
                    ReportedState::Failed,
                    Some(Failure {
                        phase: "health".into(),
                        code: "HEALTH_CHECK".into(),
                        detail: why,
                    }),
                )?;
            }
        }
        Ok(Next::Wait(1))
    }

    /// Checks that `slot` holds exactly the image `manifest` describes (its
    /// signature is not re-judged: it was verified when installed).
    fn verify_slot(&self, slot: Slot, manifest: &[u8]) -> Result<(), String> {
        let signed = SignedManifest::from_bytes(manifest, &sluice_protocol::Limits::default())
            .map_err(|e| e.to_string())?;
        let manifest: Manifest =
            serde_json::from_slice(&signed.manifest.payload).map_err(|e| e.to_string())?;
        let total = manifest.image.size;
        let mut hasher = sluice_protocol::Digest::hasher();
        let mut offset = 0u64;
        while offset < total {
            let len = READ_BACK.min((total - offset) as usize);
            hasher.update(
                &self
                    .slots
                    .read_at(slot, offset, len)
                    .map_err(|e| e.to_string())?,
            );
            offset += len as u64;
        }
        if self.slots.len(slot).map_err(|e| e.to_string())? != total
            || hasher.finish() != manifest.image.sha256
        {
            return Err("image does not match its manifest".into());
        }
        Ok(())
    }

    fn rollback(&mut self, campaign: String, release: String, poll: u64) -> io::Result<Next> {
        let Some(previous) = self.state.previous.clone().filter(|p| p.version == release) else {
            self.event(&format!(
                "asked to roll back to {release}, which the other slot does not hold"
            ));
            return Ok(Next::Wait(poll));
        };
        if previous.security_version < self.state.security_version {
            self.event(&format!(
                "refusing to roll back to {release}: below the committed security version"
            ));
            self.state.finished_campaigns.push(campaign.clone());
            self.report_final(
                &campaign,
                ReportedState::Failed,
                Some(Failure {
                    phase: "rollback".into(),
                    code: "ANTI_ROLLBACK".into(),
                    detail: format!(
                        "{release} has security version {}",
                        previous.security_version
                    ),
                }),
            )?;
            return Ok(Next::Wait(poll));
        }
        if let Some(manifest) = &previous.manifest
            && let Err(e) = self.verify_slot(self.state.active.other(), manifest.as_bytes())
        {
            self.event(&format!(
                "refusing to roll back to {release}: the other slot does not verify: {e}"
            ));
            return Ok(Next::Wait(poll));
        }
        let current = Installed {
            version: self.state.version.clone(),
            security_version: self.state.security_version,
            manifest: self.state.active_manifest.clone(),
        };
        self.state.active = self.state.active.other();
        self.state.version = previous.version;
        self.state.active_manifest = previous.manifest;
        self.state.previous = Some(current);
        self.state.finished_campaigns.push(campaign.clone());
        // The release is gone: its health is no longer this device's.
        self.state.health.observing = None;
        self.save()?;
        self.event(&format!("rolled back to {release}"));
        self.report_final(&campaign, ReportedState::RolledBack, None)?;
        Ok(Next::Wait(poll))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use sluice_protocol::{KeyStatement, Limits, ManifestBuilder, ReleaseInfo, SecretKey};

    use super::*;
    use crate::slots::MemorySlots;
    use sluice_api::checkin::CheckinAnswer;

    /// A server in memory: one answer to check-in, manifests by release, chunks by digest.
    #[derive(Default)]
    struct FakeServer {
        answer: RefCell<Option<CheckinAnswer>>,
        manifests: HashMap<String, Vec<u8>>,
        chunks: RefCell<HashMap<String, Vec<u8>>>,
        reports: RefCell<Vec<(String, Option<String>)>>,
        /// How many more `downloaded` reports to answer `hold` (a change freeze).
        holds: std::cell::Cell<u32>,
        /// How long a hold asks to wait (1200 s when unset).
        hold_seconds: std::cell::Cell<Option<u32>>,
    }

    impl Transport for &FakeServer {
        fn checkin(&self, _: &CheckinReport) -> Result<CheckinAnswer, TransportError> {
            Ok(self.answer.borrow().clone().unwrap())
        }
        fn manifest(&self, release: &str) -> Result<Vec<u8>, TransportError> {
            Ok(self.manifests[release].clone())
        }
        fn chunk(&self, digest: &str) -> Result<Vec<u8>, TransportError> {
            Ok(self.chunks.borrow()[digest].clone())
        }
        fn status(&self, report: &StatusReport) -> Result<StatusAnswer, TransportError> {
            if let Some(health) = report.health {
                self.reports.borrow_mut().push((
                    "health".into(),
                    Some(format!(
                        "{}->{}",
                        health.crashes_before, health.crashes_after
                    )),
                ));
                return Ok(StatusAnswer::go_on());
            }
            self.reports.borrow_mut().push((
                report.state.as_str().to_owned(),
                report.error.as_ref().map(|e| e.code.clone()),
            ));
            if report.state == ReportedState::Downloaded && self.holds.get() > 0 {
                self.holds.set(self.holds.get() - 1);
                return Ok(StatusAnswer {
                    action: StatusAction::Hold,
                    hold_seconds: Some(self.hold_seconds.get().unwrap_or(1200)),
                    reason: Some("change freeze f1".into()),
                    ..StatusAnswer::go_on()
                });
            }
            Ok(StatusAnswer::go_on())
        }
    }

    struct Healthy;
    impl HealthCheck for Healthy {
        fn check(&mut self, _: &str) -> Result<(), String> {
            Ok(())
        }
    }

    /// A trust root, and a signing key certified under it.
    fn keys() -> (TrustRoot, SecretKey, sluice_protocol::Envelope) {
        let root = SecretKey::from_seed([1; 32]);
        let signer = SecretKey::from_seed([2; 32]);
        let trust = TrustRoot::new(vec![root.public_key()], 1).unwrap();
        let statement = KeyStatement::new(1, 0, vec![signer.public_key()], vec![])
            .unwrap()
            .sign(&[&root]);
        (trust, signer, statement)
    }

    fn answer(action: CheckinAction, campaign: &str, release: &str) -> CheckinAnswer {
        CheckinAnswer {
            action,
            campaign: Some(campaign.into()),
            release: Some(release.into()),
            manifest_url: None,
            reason: None,
            next_poll_seconds: 60,
        }
    }

    /// Signs `image` as `version`, stores its chunks on `server`, returns the manifest.
    fn publish(
        server: &FakeServer,
        signer: &SecretKey,
        statement: &sluice_protocol::Envelope,
        version: &str,
        image: &[u8],
    ) -> Vec<u8> {
        let mut builder = ManifestBuilder::new(Limits::default());
        for chunk in image.chunks(100) {
            let digest = builder.add_chunk(chunk).unwrap();
            server
                .chunks
                .borrow_mut()
                .insert(digest.to_string(), chunk.to_vec());
        }
        let info = ReleaseInfo {
            version: version.into(),
            hardware: vec!["cam".into()],
            security_version: 1,
            created_at: 0,
            expires_at: u64::MAX,
        };
        let manifest = builder.finish(info, signer.key_id()).unwrap();
        SignedManifest::sign(&manifest, signer, statement.clone())
            .unwrap()
            .to_bytes()
    }

    #[test]
    fn a_manifest_for_another_version_than_offered_is_rejected_and_a_new_download_clears_the_rollback_target()
     {
        let (trust, signer, statement) = keys();
        let mut server = FakeServer::default();
        let v2 = publish(&server, &signer, &statement, "2.0", &[2u8; 250]);
        let v3 = publish(&server, &signer, &statement, "3.0", &[3u8; 250]);
        server.manifests.insert("2.0".into(), v2.clone());
        // The server offers "9.9" but serves the (validly signed) 2.0 manifest.
        server.manifests.insert("9.9".into(), v2);
        server.manifests.insert("3.0".into(), v3);
        let mut agent = Agent::new(
            AgentState::factory("cam", "1.0", 0),
            MemorySlots::default(),
            &server,
            Healthy,
            trust,
        );

        *server.answer.borrow_mut() = Some(answer(CheckinAction::Update, "c1", "9.9"));
        agent.step();
        assert_eq!(agent.state.version, "1.0");
        assert_eq!(
            server.reports.borrow().last().unwrap(),
            &("rejected".to_string(), Some("INVALID_MANIFEST".to_string()))
        );

        *server.answer.borrow_mut() = Some(answer(CheckinAction::Update, "c2", "2.0"));
        agent.step();
        assert_eq!(agent.state.version, "2.0");
        assert_eq!(agent.state.previous.as_ref().unwrap().version, "1.0");

        // Updating to 3.0 overwrites the slot that held 1.0; the download fails.
        let bad = sluice_protocol::Digest::of(&[3u8; 100]).to_string();
        server.chunks.borrow_mut().insert(bad, vec![0; 100]);
        *server.answer.borrow_mut() = Some(answer(CheckinAction::Update, "c3", "3.0"));
        agent.step();
        assert_eq!(agent.state.version, "2.0");
        assert!(
            agent.state.previous.is_none(),
            "the overwritten slot is no rollback target"
        );
        // So a rollback to 1.0 is refused rather than booting a half-written slot.
        *server.answer.borrow_mut() = Some(answer(CheckinAction::Rollback, "c2", "1.0"));
        agent.step();
        assert_eq!(
            (agent.state.active, agent.state.version.as_str()),
            (Slot::B, "2.0")
        );
    }

    #[test]
    fn a_forged_answer_parks_a_device_no_longer_than_the_cap() {
        let (trust, signer, statement) = keys();
        let mut server = FakeServer::default();
        let v2 = publish(&server, &signer, &statement, "2.0", &[2u8; 250]);
        server.manifests.insert("2.0".into(), v2);
        let mut agent = Agent::new(
            AgentState::factory("cam", "1.0", 0),
            MemorySlots::default(),
            &server,
            Healthy,
            trust,
        );
        // "Nothing to do, ask again in 136 years."
        let nothing = |next_poll_seconds| CheckinAnswer {
            next_poll_seconds,
            ..answer(CheckinAction::None, "", "")
        };
        *server.answer.borrow_mut() = Some(nothing(u32::MAX));
        assert_eq!(agent.step(), Next::Wait(MAX_WAIT_SECONDS));
        // A hold as long: the install is asked about again within the cap.
        server.holds.set(1);
        server.hold_seconds.set(Some(u32::MAX));
        *server.answer.borrow_mut() = Some(answer(CheckinAction::Update, "c1", "2.0"));
        assert_eq!(agent.step(), Next::Wait(MAX_WAIT_SECONDS));
        assert_eq!(agent.state.active, Slot::A, "held, nothing installed");
        // And a zero asks again after a second, not in a busy loop.
        *server.answer.borrow_mut() = Some(nothing(0));
        agent.step();
        assert_eq!(agent.step(), Next::Wait(1));
    }

    #[test]
    fn a_held_install_keeps_the_verified_image_and_installs_once_the_server_lets_it() {
        let (trust, signer, statement) = keys();
        let mut server = FakeServer::default();
        let v2 = publish(&server, &signer, &statement, "2.0", &[2u8; 250]);
        server.manifests.insert("2.0".into(), v2);
        server.holds.set(2);
        let mut agent = Agent::new(
            AgentState::factory("cam", "1.0", 0),
            MemorySlots::default(),
            &server,
            Healthy,
            trust,
        );
        *server.answer.borrow_mut() = Some(answer(CheckinAction::Update, "c1", "2.0"));
        let states = |server: &FakeServer| -> Vec<String> {
            server
                .reports
                .borrow()
                .iter()
                .map(|(s, _)| s.clone())
                .collect()
        };
        assert_eq!(
            agent.step(),
            Next::Wait(1200),
            "waits as long as it is told"
        );
        assert_eq!(states(&server), ["downloading", "downloaded"]);
        assert_eq!(agent.state.version, "1.0");
        assert_eq!(agent.state.active, Slot::A, "nothing installed");
        // Asks again without fetching anything, and is held again.
        server.chunks.borrow_mut().clear();
        assert_eq!(agent.step(), Next::Wait(1200));
        assert_eq!(agent.state.active, Slot::A);
        // Let go: installs the image it kept.
        agent.step();
        assert_eq!(
            states(&server),
            [
                "downloading",
                "downloaded",
                "downloading",
                "downloaded",
                "downloading",
                "downloaded",
                "installing",
                "rebooting",
                "succeeded"
            ]
        );
        assert_eq!(
            (agent.state.active, agent.state.version.as_str()),
            (Slot::B, "2.0")
        );
    }

    #[test]
    fn error_codes_are_screaming_snake_case() {
        let e = sluice_protocol::Error::ImageTooLong { expected: 1 };
        assert_eq!(error_code(&e), "IMAGE_TOO_LONG");
    }

    static NOW: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    fn test_clock() -> u64 {
        NOW.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Healthy, with a crash counter the test moves.
    struct Counting(std::rc::Rc<std::cell::Cell<u64>>);
    impl HealthCheck for Counting {
        fn check(&mut self, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn counters(&mut self) -> Option<HealthCounters> {
            Some(HealthCounters {
                reboots: 0,
                crashes: self.0.get(),
                metric: 0,
            })
        }
    }

    #[test]
    fn post_update_health_is_reported_once_over_a_period_equal_to_the_baseline() {
        let (trust, signer, statement) = keys();
        let mut server = FakeServer::default();
        let v2 = publish(&server, &signer, &statement, "2.0", &[2u8; 250]);
        server.manifests.insert("2.0".into(), v2);
        let crashes = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut agent = Agent::new(
            AgentState::factory("cam", "1.0", 0),
            MemorySlots::default(),
            &server,
            Counting(crashes.clone()),
            trust,
        );
        agent.clock = test_clock;
        agent.health_period = 100;
        let at = |t: u64, c: u64| {
            NOW.store(t, std::sync::atomic::Ordering::SeqCst);
            crashes.set(c);
        };
        let health_reports = |s: &FakeServer| {
            s.reports
                .borrow()
                .iter()
                .filter(|(state, _)| state == "health")
                .cloned()
                .collect::<Vec<_>>()
        };

        let mut nothing = answer(CheckinAction::None, "c0", "1.0");
        nothing.campaign = None;
        *server.answer.borrow_mut() = Some(nothing.clone());
        at(1000, 0);
        agent.step();
        // A period later, with 10 crashes since: the update installs and commits.
        at(1100, 10);
        *server.answer.borrow_mut() = Some(answer(CheckinAction::Update, "c1", "2.0"));
        agent.step();
        assert_eq!(agent.state.version, "2.0");
        *server.answer.borrow_mut() = Some(nothing);
        at(1150, 40);
        agent.step();
        assert!(
            health_reports(&server).is_empty(),
            "not before a full period"
        );
        at(1200, 50);
        agent.step();
        assert_eq!(
            health_reports(&server),
            [("health".to_string(), Some("10->40".to_string()))]
        );
        at(1300, 90);
        agent.step();
        assert_eq!(health_reports(&server).len(), 1, "once");
    }
}
