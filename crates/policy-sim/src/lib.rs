//! Runs a rollout policy offline against a simulated fleet and a simulated
//! clock, calling it as the service does: at each check-in of a device not yet
//! in the campaign, `decide`, after a `review` if none happened at a check-in
//! in the last two seconds; after each final report, `review`. It reports what a policy vendor or an operator needs to know before
//! the policy touches a device: the rollout curve, time to 50/90/99% of the fleet,
//! the blast radius of a bad release, offers made in blackouts or outside
//! maintenance windows, and peak concurrency.
//!
//! The simulator is independent of how the policy is implemented: anything that
//! implements [`Policy`] (native Rust, or a Wasm component behind an adapter).
//! It is deterministic: the same scenario gives the same report.
//!
//! ```
//! use sluice_policy_sim::{Scenario, simulate};
//! use sluice_policy_standard::Standard;
//!
//! let scenario = Scenario {
//!     devices: 2_000,
//!     fail_rate: 0.2,
//!     config: r#"{"stages":[{"percent":2,"soak":"2h"},{"percent":100}]}"#.into(),
//!     ..Scenario::default()
//! };
//! let report = simulate(&Standard, &scenario);
//! assert!(report.halted);
//! assert!(report.exposed_fraction <= 0.02);
//! ```

mod fleet;
pub mod preview;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::Serialize;
use sluice_policy::schedule::{Blackout, Schedule, Window};
use sluice_policy::{
    Campaign, Decision, Description, Device, OutcomeCounts, Policy, Stats, Verdict,
};
use sluice_service::device_api::checkin::REVIEW_INTERVAL_SECONDS;
use sluice_service::device_api::jitter::jitter;

pub use crate::fleet::SimDevice;

/// The campaign id the simulation uses (buckets depend on it).
pub const CAMPAIGN_ID: &str = "sim";
const HOUR: f64 = 3600.0;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Devices in the fleet (all targeted by the campaign).
    pub devices: usize,
    /// Probability that an install fails (boot or health check).
    pub fail_rate: f64,
    /// The campaign's policy configuration (JSON).
    pub config: String,
    /// Whether the campaign is marked critical.
    pub critical: bool,
    /// Simulated start, unix seconds.
    pub start: u64,
    /// How long to simulate.
    pub days: f64,
    /// Seconds between polls (the service jitters each answer).
    pub poll_seconds: u32,
    /// Download plus install takes between these many seconds.
    pub install_seconds: (u32, u32),
    /// UTC offsets (minutes) devices are spread over.
    pub utc_offsets: Vec<i16>,
    /// Share of devices on battery (the rest report none).
    pub battery_share: f64,
    /// Probability that a battery device is charging at a check-in.
    pub charging_share: f64,
    /// Windows and blackouts to check offers against (by default those the
    /// policy states for `config` through `describe`).
    pub rules: Rules,
    /// The cap to check peak concurrency against (by default the one the
    /// policy states).
    pub concurrency_cap: Option<u64>,
    /// Varies device circumstances and failures between runs.
    pub seed: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            devices: 10_000,
            fail_rate: 0.0,
            config: "{}".into(),
            critical: false,
            // Monday 2026-11-30 00:00 UTC.
            start: 1_795_996_800,
            days: 14.0,
            poll_seconds: 900,
            install_seconds: (600, 1800),
            utc_offsets: vec![-480, -300, 0, 60, 330, 480, 540, 600],
            battery_share: 0.3,
            charging_share: 0.3,
            rules: Rules::default(),
            concurrency_cap: None,
            seed: 1,
        }
    }
}

/// Maintenance windows and blackouts an offer must respect, for counting
/// violations (independent of what the policy itself does).
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub windows: Vec<Window>,
    pub blackouts: Vec<Blackout>,
}

impl Rules {
    /// The windows and blackouts `described` states.
    pub fn of(described: &Description) -> Rules {
        Rules {
            windows: described.windows.clone(),
            blackouts: described.blackouts.clone(),
        }
    }

    fn in_blackout(&self, at: i64) -> bool {
        self.blackouts.iter().any(|b| b.start <= at && at < b.end)
    }

    fn outside_windows(&self, at: i64, offset_minutes: i16) -> bool {
        if self.windows.is_empty() {
            return false;
        }
        let schedule = Schedule {
            windows: self.windows.clone(),
            blackouts: Vec::new(),
            install: 0,
        };
        schedule
            .check(at, i32::from(offset_minutes), true, false)
            .is_err()
    }
}

pub use sluice_api::admin::preview::Point;

/// What happened.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub fleet: usize,
    /// Whether the policy described its rules (`describe`) for the
    /// configuration; if not, offers are checked only against the scenario's
    /// own `rules` and `concurrency_cap`.
    pub described: bool,
    pub halted: bool,
    pub rolled_back: bool,
    /// Why it halted or rolled back.
    pub reason: Option<String>,
    /// Hours from the start to the halt.
    pub halted_at_hours: Option<f64>,
    /// The stage reached (from 0) and how many there are, if known.
    pub stage: u32,
    /// Devices that installed the release (the blast radius of a bad one).
    pub exposed: u64,
    pub exposed_fraction: f64,
    pub updated: u64,
    pub updated_fraction: f64,
    pub failed: u64,
    pub hours_to_50: Option<f64>,
    pub hours_to_90: Option<f64>,
    pub hours_to_99: Option<f64>,
    pub blackout_offers: u64,
    pub out_of_window_offers: u64,
    pub peak_concurrency: u64,
    pub concurrency_cap: Option<u64>,
    /// Deferrals by the first word of their reason (`window`, `battery`, …).
    pub deferrals: std::collections::BTreeMap<String, u64>,
    pub decide_calls: u64,
    pub review_calls: u64,
    /// Hourly.
    pub curve: Vec<Point>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The device checks in.
    Checkin(usize),
    /// Its install ends; `true` if it failed.
    Finish(usize, bool),
    /// The service reviews the campaign (a busy fleet's check-ins do this constantly).
    Review,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    Halted,
    RolledBack,
}

struct Sim<'a> {
    policy: &'a dyn Policy,
    scenario: &'a Scenario,
    devices: Vec<SimDevice>,
    campaign: Campaign,
    state: State,
    reason: Option<String>,
    halted_at: Option<u64>,
    total: OutcomeCounts,
    stages: Vec<OutcomeCounts>,
    in_flight: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Event)>>,
    sequence: u64,
    /// Devices told "not yet" (skipped), re-woken when a stage opens.
    parked: Vec<usize>,
    /// When a check-in last had the policy review the campaign.
    last_checkin_review: u64,
    report: Report,
}

impl Sim<'_> {
    fn schedule(&mut self, at: u64, event: Event) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence, event)));
    }

    fn stats(&self) -> Stats {
        Stats {
            total: self.total,
            step: self
                .stages
                .get(self.campaign.stage as usize)
                .copied()
                .unwrap_or_default(),
            in_flight: self.in_flight,
            ..Stats::default()
        }
    }

    fn apply(&mut self, verdict: Verdict, now: u64) {
        match verdict {
            Verdict::Proceed | Verdict::Complete => {}
            Verdict::Advance(stage) if stage > self.campaign.stage => {
                self.campaign.stage = stage;
                self.campaign.stage_started_at = now;
                // Skipped devices would see the new stage at their next poll.
                let poll = u64::from(self.scenario.poll_seconds);
                for device in std::mem::take(&mut self.parked) {
                    let at = now + 1 + self.devices[device].phase(poll);
                    self.schedule(at, Event::Checkin(device));
                }
            }
            Verdict::Advance(_) => {}
            Verdict::Halt(reason) => self.stop(State::Halted, reason, now),
            Verdict::Rollback(reason) => self.stop(State::RolledBack, reason, now),
        }
    }

    fn stop(&mut self, state: State, reason: String, now: u64) {
        if self.state == State::Running {
            self.state = state;
            self.reason = Some(reason);
            self.halted_at = Some(now);
        }
    }

    fn review(&mut self, now: u64) {
        if self.state != State::Running {
            return;
        }
        self.report.review_calls += 1;
        let verdict = self.policy.review(&self.campaign, &self.stats(), now);
        self.apply(verdict, now);
    }

    fn checkin(&mut self, index: usize, now: u64) {
        if self.state != State::Running {
            return;
        }
        // As the service: at most one check-in per interval has the policy review.
        if now >= self.last_checkin_review + REVIEW_INTERVAL_SECONDS {
            self.last_checkin_review = now;
            self.review(now);
        }
        if self.state != State::Running {
            return;
        }
        let view = self.devices[index].view(now, self.scenario);
        self.report.decide_calls += 1;
        match self
            .policy
            .decide(&view, &self.campaign, &self.stats(), now)
        {
            Decision::Offer => self.offer(index, &view, now),
            Decision::Defer { seconds, reason } => {
                let kind = reason
                    .split([':', ' '])
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                *self.report.deferrals.entry(kind).or_insert(0) += 1;
                let wait = jitter(seconds.max(1), &view.id, now);
                self.schedule(now + u64::from(wait), Event::Checkin(index));
            }
            Decision::Skip(_) => self.parked.push(index),
            Decision::Halt(reason) => self.stop(State::Halted, reason, now),
        }
    }

    fn offer(&mut self, index: usize, view: &Device, now: u64) {
        let at = i64::try_from(now).unwrap_or(i64::MAX);
        if self.scenario.rules.in_blackout(at) {
            self.report.blackout_offers += 1;
        }
        if self
            .scenario
            .rules
            .outside_windows(at, view.utc_offset_minutes.unwrap_or(0))
        {
            self.report.out_of_window_offers += 1;
        }
        let stage = self.campaign.stage as usize;
        if self.stages.len() <= stage {
            self.stages.resize(stage + 1, OutcomeCounts::default());
        }
        self.stages[stage].offered += 1;
        self.total.offered += 1;
        self.in_flight += 1;
        self.report.peak_concurrency = self.report.peak_concurrency.max(self.in_flight);
        let device = &mut self.devices[index];
        device.stage = self.campaign.stage;
        let duration = device.install_seconds(self.scenario);
        let fails = device.fails(self.scenario);
        self.schedule(now + duration, Event::Finish(index, fails));
    }

    fn finish(&mut self, index: usize, failed: bool, now: u64) {
        self.in_flight -= 1;
        let stage = self.devices[index].stage as usize;
        if failed {
            self.total.failed += 1;
            self.stages[stage].failed += 1;
            self.report.failed += 1;
        } else {
            self.total.succeeded += 1;
            self.stages[stage].succeeded += 1;
            self.report.updated += 1;
        }
        self.report.exposed += 1;
        self.review(now);
    }
}

/// Runs `policy` through `scenario`.
pub fn simulate(policy: &dyn Policy, scenario: &Scenario) -> Report {
    let mut scenario = scenario.clone();
    let described = policy.describe(&scenario.config).ok().flatten();
    if let Some(described) = &described {
        if scenario.rules.windows.is_empty() && scenario.rules.blackouts.is_empty() {
            scenario.rules = Rules::of(described);
        }
        if scenario.concurrency_cap.is_none() {
            scenario.concurrency_cap = described.max_in_flight;
        }
    }
    let scenario = &scenario;
    let devices: Vec<SimDevice> = (0..scenario.devices)
        .map(|i| SimDevice::new(i, scenario))
        .collect();
    let mut sim = Sim {
        policy,
        scenario,
        campaign: Campaign {
            id: CAMPAIGN_ID.into(),
            release: "2.0.0".into(),
            config: scenario.config.clone(),
            critical: scenario.critical,
            created_at: scenario.start,
            stage: 0,
            stage_started_at: scenario.start,
        },
        state: State::Running,
        reason: None,
        halted_at: None,
        total: OutcomeCounts::default(),
        stages: vec![OutcomeCounts::default()],
        in_flight: 0,
        queue: BinaryHeap::with_capacity(devices.len() + 16),
        sequence: 0,
        parked: Vec::new(),
        last_checkin_review: 0,
        report: Report {
            fleet: scenario.devices,
            described: described.is_some(),
            halted: false,
            rolled_back: false,
            reason: None,
            halted_at_hours: None,
            stage: 0,
            exposed: 0,
            exposed_fraction: 0.0,
            updated: 0,
            updated_fraction: 0.0,
            failed: 0,
            hours_to_50: None,
            hours_to_90: None,
            hours_to_99: None,
            blackout_offers: 0,
            out_of_window_offers: 0,
            peak_concurrency: 0,
            concurrency_cap: scenario.concurrency_cap,
            deferrals: Default::default(),
            decide_calls: 0,
            review_calls: 0,
            curve: Vec::new(),
        },
        devices,
    };
    let poll = u64::from(scenario.poll_seconds.max(1));
    for index in 0..sim.devices.len() {
        let at = scenario.start + sim.devices[index].phase(poll);
        sim.schedule(at, Event::Checkin(index));
    }
    let end = scenario.start + (scenario.days.max(0.0) * 24.0 * HOUR) as u64;
    sim.schedule(scenario.start + 60, Event::Review);
    let fleet = scenario.devices.max(1) as f64;
    let mut next_sample = scenario.start;
    let mut thresholds = [(0.5, None), (0.9, None), (0.99, None)];
    while let Some(Reverse((at, _, event))) = sim.queue.pop() {
        if at > end {
            break;
        }
        while next_sample <= at {
            sim.report.curve.push(Point {
                hours: (next_sample - scenario.start) as f64 / HOUR,
                updated: sim.report.updated as f64 / fleet,
                exposed: sim.report.exposed as f64 / fleet,
                in_flight: sim.in_flight,
            });
            next_sample += HOUR as u64;
        }
        match event {
            Event::Checkin(index) => sim.checkin(index, at),
            Event::Finish(index, failed) => sim.finish(index, failed, at),
            Event::Review => {
                sim.review(at);
                let busy = sim.state == State::Running || sim.in_flight > 0;
                if busy {
                    sim.schedule(at + 60, Event::Review);
                }
            }
        }
        let updated = sim.report.updated as f64 / fleet;
        for (share, reached) in &mut thresholds {
            if reached.is_none() && updated >= *share {
                *reached = Some((at - scenario.start) as f64 / HOUR);
            }
        }
    }
    let mut report = sim.report;
    report.halted = sim.state == State::Halted;
    report.rolled_back = sim.state == State::RolledBack;
    report.reason = sim.reason;
    report.halted_at_hours = sim.halted_at.map(|t| (t - scenario.start) as f64 / HOUR);
    report.stage = sim.campaign.stage;
    report.exposed_fraction = report.exposed as f64 / fleet;
    report.updated_fraction = report.updated as f64 / fleet;
    [report.hours_to_50, report.hours_to_90, report.hours_to_99] =
        thresholds.map(|(_, reached)| reached);
    report
}
