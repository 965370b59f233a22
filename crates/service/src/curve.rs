//! A campaign's rollout curve over its whole life, and the estimate of when
//! it finishes.
//!
//! The curve is one small record, `curve/{campaign}`: the campaign's totals
//! (offered, succeeded, unsuccessful) at most every `resolution` seconds. A
//! status report's review and a check-in's review (at most every 2 s) add a
//! point when one is due, so a point costs one read, and one counter read and
//! one write per resolution; past [`MAX_POINTS`] every other point goes and
//! the resolution doubles, so a campaign of any length fits in one record.
//!
//! ```
//! use sluice_service::curve::{Curve, Point};
//! let mut curve = Curve::default();
//! for at in (0..100_000).step_by(5) {
//!     curve.push(Point { at, offered: at, succeeded: at / 2, unsuccessful: 0 });
//! }
//! assert!(curve.points.len() <= sluice_service::curve::MAX_POINTS);
//! assert_eq!(curve.points[0].at, 0);
//! ```

use serde::{Deserialize, Serialize};

use crate::campaign::{CampaignRecord, CampaignState};
use crate::http::ApiError;
use crate::service::Service;
use crate::{counters, keys, records};

/// Most points a curve keeps.
pub const MAX_POINTS: usize = 240;
/// The first resolution, in seconds.
pub const FIRST_RESOLUTION: u64 = 10;
/// The span the completion estimate takes its pace from, at least.
pub const PACE_SECONDS: u64 = 1800;

/// The campaign's totals at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    pub at: u64,
    pub offered: u64,
    pub succeeded: u64,
    /// Failed, rolled back or rejected.
    pub unsuccessful: u64,
}

impl Point {
    /// Devices that finished, either way.
    pub fn finished(&self) -> u64 {
        self.succeeded + self.unsuccessful
    }

    fn of(totals: &sluice_policy::OutcomeCounts, at: u64) -> Point {
        Point {
            at,
            offered: totals.offered,
            succeeded: totals.succeeded,
            unsuccessful: totals.failed + totals.rolled_back + totals.rejected,
        }
    }
}

/// A campaign's curve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Curve {
    /// Seconds between points, at least.
    pub resolution: u64,
    pub points: Vec<Point>,
}

impl Default for Curve {
    fn default() -> Curve {
        Curve {
            resolution: FIRST_RESOLUTION,
            points: Vec::new(),
        }
    }
}

impl Curve {
    /// Whether a point taken at `now` would be kept.
    pub fn due(&self, now: u64) -> bool {
        self.points
            .last()
            .is_none_or(|last| now >= last.at.saturating_add(self.resolution))
    }

    /// Adds `point` if it is due, thinning the curve past [`MAX_POINTS`].
    pub fn push(&mut self, point: Point) {
        if !self.due(point.at) {
            return;
        }
        self.points.push(point);
        // Sparse points may all be far enough apart already: double until
        // enough go (at worst the first and the last stay).
        while self.points.len() > MAX_POINTS {
            self.resolution *= 2;
            let last = self.points.len() - 1;
            let mut kept: Vec<Point> = Vec::with_capacity(MAX_POINTS);
            for (i, p) in self.points.iter().enumerate() {
                let spaced = kept
                    .last()
                    .is_none_or(|k| p.at >= k.at.saturating_add(self.resolution));
                if spaced || i == last {
                    kept.push(*p);
                }
            }
            self.points = kept;
        }
    }
}

/// Starts a campaign's curve at zero (at creation).
pub fn start(svc: &Service, campaign: &str, at: u64) -> Result<(), ApiError> {
    let mut curve = Curve::default();
    curve.push(Point {
        at,
        ..Point::default()
    });
    svc.store
        .set(&keys::curve(campaign), &records::encode(&curve))?;
    Ok(())
}

/// Adds a point to `campaign`'s curve if one is due (what a review does).
pub fn note(svc: &Service, campaign: &str, now: u64) -> Result<(), ApiError> {
    let key = keys::curve(campaign);
    let curve: Curve = records::read(svc.store, &key)?.unwrap_or_default();
    if !curve.due(now) {
        return Ok(());
    }
    let totals = counters::read_stats(svc.store, campaign, 0, now)?.total;
    let point = Point::of(&totals, now);
    records::update::<Curve, _>(svc.store, &key, |current| {
        let mut curve = current.cloned().unwrap_or_default();
        if !curve.due(now) {
            return Ok(None);
        }
        curve.push(point);
        Ok(Some(curve))
    })?;
    Ok(())
}

/// Reads `campaign`'s curve and ends it with its totals `now`.
pub fn read(
    svc: &Service,
    campaign: &str,
    totals: &sluice_policy::OutcomeCounts,
    now: u64,
) -> Result<Curve, ApiError> {
    let mut curve: Curve = records::read(svc.store, &keys::curve(campaign))?.unwrap_or_default();
    let live = Point::of(totals, now);
    if curve.points.last().is_some_and(|p| p.at >= now) {
        curve.points.pop();
    }
    curve.points.push(live);
    Ok(curve)
}

/// When a campaign should be done, at its recent pace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Devices the campaign can reach that have not finished.
    pub remaining: u64,
    /// Devices finished per hour over the span the pace is taken from.
    pub per_hour: f64,
    /// Seconds the pace was measured over: [`PACE_SECONDS`] or a little
    /// more, or the campaign's age if it is younger.
    pub over_seconds: u64,
    /// Seconds to go at that pace; `None` when nothing finished lately or
    /// the campaign does not run.
    pub seconds: Option<u64>,
    /// Why there is no figure, when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}

/// Estimates when `campaign` finishes from its `curve` (ending now) and the
/// devices it could reach when it was created.
pub fn estimate(campaign: &CampaignRecord, curve: &Curve) -> Option<Estimate> {
    let reach = campaign.reach.as_ref()?;
    let live = *curve.points.last()?;
    let remaining = reach.devices.saturating_sub(live.finished());
    // The latest point at least half an hour old (a long campaign's points
    // are sparse: the span may then be longer), or the first.
    let from = curve
        .points
        .iter()
        .rev()
        .find(|p| p.at.saturating_add(PACE_SECONDS) <= live.at)
        .or(curve.points.first())
        .copied()
        .unwrap_or(live);
    let over_seconds = live.at.saturating_sub(from.at);
    let finished = live.finished().saturating_sub(from.finished());
    let per_hour = if over_seconds == 0 {
        0.0
    } else {
        finished as f64 * 3600.0 / over_seconds as f64
    };
    let why_not = match campaign.state {
        _ if remaining == 0 => Some("every device it could reach has finished".to_owned()),
        CampaignState::Running if campaign.waiting.is_some() => {
            Some("waiting for an operator's approval".to_owned())
        }
        CampaignState::Running if over_seconds < 60 => {
            Some("too early to judge its pace (less than a minute of it)".to_owned())
        }
        CampaignState::Running if finished == 0 => {
            Some("no device finished in the last half hour".to_owned())
        }
        CampaignState::Running => None,
        state => Some(format!("the campaign is {}", state.as_str())),
    };
    let seconds = why_not
        .is_none()
        .then(|| (remaining as f64 * 3600.0 / per_hour).ceil() as u64);
    Some(Estimate {
        remaining,
        per_hour,
        over_seconds,
        seconds,
        why_not,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at: u64, finished: u64) -> Point {
        Point {
            at,
            offered: finished,
            succeeded: finished,
            unsuccessful: 0,
        }
    }

    #[test]
    fn points_come_at_most_every_resolution_and_thin_out() {
        let mut curve = Curve::default();
        curve.push(point(0, 0));
        curve.push(point(5, 1));
        assert_eq!(curve.points.len(), 1, "within the resolution");
        for at in (10..=10 * MAX_POINTS as u64).step_by(10) {
            curve.push(point(at, at));
        }
        assert!(curve.points.len() <= MAX_POINTS);
        assert_eq!(curve.resolution, 20);
        assert_eq!(curve.points[0].at, 0);
        assert_eq!(curve.points.last().unwrap().at, 10 * MAX_POINTS as u64);
        assert!(
            curve.points.windows(2).all(|w| w[1].at > w[0].at),
            "in order"
        );
    }

    #[test]
    fn a_long_campaign_takes_its_pace_from_its_last_half_hour_or_so() {
        let mut curve = Curve::default();
        // Five days, a device finishing every minute: points grow sparse.
        for minute in 0..5 * 24 * 60u64 {
            curve.push(point(minute * 60, minute));
        }
        assert!(curve.resolution > PACE_SECONDS);
        let now = 5 * 86_400 + 30;
        curve.points.push(point(now, now / 60));
        let mut campaign: CampaignRecord = serde_json::from_value(serde_json::json!({
            "id": "c1", "release": "2.0", "manifests": {}, "selector": {},
            "policy": "{}", "critical": false, "state": "running", "stage": 0,
            "stage_started_at": 0, "created_at": 0, "updated_at": 0
        }))
        .unwrap();
        campaign.reach = Some(crate::campaign::Reach {
            devices: 10_000,
            estimated: false,
        });
        let e = estimate(&campaign, &curve).unwrap();
        assert_eq!(e.why_not, None);
        assert!(e.over_seconds >= PACE_SECONDS, "{e:?}");
        assert!((e.per_hour - 60.0).abs() < 1.0, "{e:?}");
    }
}
