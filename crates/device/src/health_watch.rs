//! Post-update health, as the agent measures it: it samples the device's
//! cumulative counters (reboots, crashes, a vendor metric) as it goes, notes the
//! change over the period before an update, and once the update has run for as
//! long reports both changes, once. The server adds them up per campaign and the
//! policy compares after against before.

use serde::{Deserialize, Serialize};
use sluice_api::status::HealthReport;

/// The largest count one report carries (the server refuses more).
pub const MAX_REPORTED: u64 = 10_000;

/// A device's cumulative counters since it was made (or since they were reset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCounters {
    pub reboots: u64,
    pub crashes: u64,
    /// The vendor's own count, lower is better.
    #[serde(default)]
    pub metric: u64,
}

impl HealthCounters {
    /// The change since `earlier`; a counter that went down was reset, so all
    /// of its current value is new.
    pub fn since(&self, earlier: &HealthCounters) -> HealthCounters {
        let change = |now: u64, then: u64| if now >= then { now - then } else { now };
        HealthCounters {
            reboots: change(self.reboots, earlier.reboots).min(MAX_REPORTED),
            crashes: change(self.crashes, earlier.crashes).min(MAX_REPORTED),
            metric: change(self.metric, earlier.metric).min(MAX_REPORTED),
        }
    }
}

/// The change over the period before an update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    pub campaign: String,
    pub change: HealthCounters,
    /// Seconds the change was measured over.
    pub span: u64,
}

/// A committed update being watched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub campaign: String,
    /// When the update was committed.
    pub since: u64,
    /// How long to watch: as long as the baseline was measured.
    pub span: u64,
    pub before: HealthCounters,
    pub at_commit: HealthCounters,
}

/// What the agent remembers about health, across power loss.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthWatch {
    /// `(unix seconds, counters)`, oldest first.
    #[serde(default)]
    pub samples: Vec<(u64, HealthCounters)>,
    #[serde(default)]
    pub baseline: Option<Baseline>,
    #[serde(default)]
    pub observing: Option<Observation>,
}

impl HealthWatch {
    /// Records `counters` at `now`, keeping about two `period`s of history (and
    /// always one sample at least a period old, once there is one).
    pub fn sample(&mut self, now: u64, counters: HealthCounters, period: u64) {
        let spacing = (period / 16).max(1);
        match self.samples.last() {
            Some((at, _)) if now < at.saturating_add(spacing) => {}
            _ => self.samples.push((now, counters)),
        }
        let horizon = now.saturating_sub(period);
        // Drop samples older than the newest one that is at least a period old.
        if let Some(keep) = self.samples.iter().rposition(|(at, _)| *at <= horizon) {
            self.samples.drain(..keep);
        }
    }

    /// An update of `campaign` starts: note the change over the period before
    /// it (or over the history there is, if shorter).
    pub fn start_update(
        &mut self,
        campaign: &str,
        now: u64,
        counters: HealthCounters,
        period: u64,
    ) {
        let horizon = now.saturating_sub(period);
        let from = self
            .samples
            .iter()
            .rev()
            .find(|(at, _)| *at <= horizon)
            .or_else(|| self.samples.first());
        self.baseline = from
            .filter(|(at, _)| *at < now)
            .map(|(at, earlier)| Baseline {
                campaign: campaign.to_owned(),
                change: counters.since(earlier),
                span: now - at,
            });
    }

    /// The update of `campaign` was committed at `now`: watch it as long as the
    /// baseline was measured.
    pub fn committed(&mut self, campaign: &str, now: u64, counters: HealthCounters) {
        if let Some(b) = self.baseline.take().filter(|b| b.campaign == campaign) {
            self.observing = Some(Observation {
                campaign: b.campaign,
                since: now,
                span: b.span,
                before: b.change,
                at_commit: counters,
            });
        }
    }

    /// The report to send now, if the watch is over.
    pub fn due(&self, now: u64, counters: HealthCounters) -> Option<(String, HealthReport)> {
        let o = self.observing.as_ref()?;
        if now < o.since.saturating_add(o.span) {
            return None;
        }
        let after = counters.since(&o.at_commit);
        Some((
            o.campaign.clone(),
            HealthReport {
                reboots_before: o.before.reboots,
                reboots_after: after.reboots,
                crashes_before: o.before.crashes,
                crashes_after: after.crashes,
                metric_before: o.before.metric,
                metric_after: after.metric,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(crashes: u64) -> HealthCounters {
        HealthCounters {
            reboots: 1,
            crashes,
            metric: 0,
        }
    }

    #[test]
    fn before_and_after_cover_equal_periods() {
        let mut w = HealthWatch::default();
        // Crashes grow by 1 per 100 s before the update.
        for t in (0..=2000).step_by(50) {
            w.sample(t, c(t / 100), 1000);
        }
        assert!(
            w.samples.len() < 40,
            "history is bounded: {}",
            w.samples.len()
        );
        w.start_update("c1", 2000, c(20), 1000);
        let b = w.baseline.clone().unwrap();
        assert_eq!((b.span, b.change.crashes), (1000, 10));
        w.committed("c1", 2100, c(21));
        assert!(
            w.due(3099, c(50)).is_none(),
            "watching for as long as the baseline"
        );
        let (campaign, report) = w.due(3100, c(51)).unwrap();
        assert_eq!(campaign, "c1");
        assert_eq!((report.crashes_before, report.crashes_after), (10, 30));
    }

    #[test]
    fn a_short_history_gives_a_short_equal_watch_and_resets_are_not_negative() {
        let mut w = HealthWatch::default();
        w.sample(100, c(5), 1000);
        w.start_update("c1", 400, c(8), 1000);
        assert_eq!(w.baseline.as_ref().unwrap().span, 300);
        w.committed("c2", 500, c(8));
        assert!(
            w.observing.is_none(),
            "another campaign's baseline is not used"
        );
        w.start_update("c1", 400, c(8), 1000);
        w.committed("c1", 500, c(8));
        // The counters were reset by the update: all of 2 is new.
        let (_, report) = w.due(800, c(2)).unwrap();
        assert_eq!(report.crashes_after, 2);
        assert_eq!(
            HealthCounters {
                crashes: u64::MAX,
                ..c(0)
            }
            .since(&c(0))
            .crashes,
            MAX_REPORTED
        );
        // No history at all: nothing to compare with.
        let mut empty = HealthWatch::default();
        empty.start_update("c1", 400, c(8), 1000);
        assert!(empty.baseline.is_none());
    }
}
