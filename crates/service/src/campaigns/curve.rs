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
//! use sluice_api::admin::campaigns::Point;
//! use sluice_service::campaigns::curve;
//! let mut points = curve::empty();
//! for at in (0..100_000).step_by(5) {
//!     curve::push(&mut points, Point { at, offered: at, succeeded: at / 2, unsuccessful: 0 });
//! }
//! let curve = points;
//! assert!(curve.points.len() <= sluice_service::campaigns::curve::MAX_POINTS);
//! assert_eq!(curve.points[0].at, 0);
//! ```

use sluice_api::admin::campaigns::{CampaignState, Curve, Estimate, Point};

use crate::campaigns::campaign::CampaignRecord;
use crate::kernel::http::ApiError;
use crate::kernel::service::Service;
use crate::{kernel::counters, kernel::keys, kernel::records};

/// Most points a curve keeps.
pub const MAX_POINTS: usize = 240;
/// The first resolution, in seconds.
pub const FIRST_RESOLUTION: u64 = 10;
/// The span the completion estimate takes its pace from, at least.
pub const PACE_SECONDS: u64 = 1800;

/// A curve with no points yet, at the first resolution.
pub fn empty() -> Curve {
    Curve {
        resolution: FIRST_RESOLUTION,
        points: Vec::new(),
    }
}

fn point_of(totals: &sluice_policy::OutcomeCounts, at: u64) -> Point {
    Point {
        at,
        offered: totals.offered,
        succeeded: totals.succeeded,
        unsuccessful: totals.unsuccessful(),
    }
}

/// Whether a point taken at `now` would be kept.
pub fn due(curve: &Curve, now: u64) -> bool {
    curve
        .points
        .last()
        .is_none_or(|last| now >= last.at.saturating_add(curve.resolution))
}

/// Adds `point` if it is due, thinning the curve past [`MAX_POINTS`].
pub fn push(curve: &mut Curve, point: Point) {
    if !due(curve, point.at) {
        return;
    }
    curve.points.push(point);
    // Sparse points may all be far enough apart already: double until
    // enough go (at worst the first and the last stay).
    while curve.points.len() > MAX_POINTS {
        curve.resolution *= 2;
        let last = curve.points.len() - 1;
        let mut kept: Vec<Point> = Vec::with_capacity(MAX_POINTS);
        for (i, p) in curve.points.iter().enumerate() {
            let spaced = kept
                .last()
                .is_none_or(|k| p.at >= k.at.saturating_add(curve.resolution));
            if spaced || i == last {
                kept.push(*p);
            }
        }
        curve.points = kept;
    }
}

/// Starts a campaign's curve at zero (at creation).
pub fn start(svc: &Service, campaign: &str, at: u64) -> Result<(), ApiError> {
    let mut curve = empty();
    push(
        &mut curve,
        Point {
            at,
            ..Point::default()
        },
    );
    svc.store
        .set(&keys::curve(campaign), &records::encode(&curve))?;
    Ok(())
}

/// Adds a point to `campaign`'s curve if one is due (what a review does).
pub fn note(svc: &Service, campaign: &str, now: u64) -> Result<(), ApiError> {
    let key = keys::curve(campaign);
    let curve: Curve = records::read(svc.store, &key)?.unwrap_or_else(empty);
    if !due(&curve, now) {
        return Ok(());
    }
    let totals = counters::read_stats(svc.store, campaign, 0, now)?.total;
    let point = point_of(&totals, now);
    records::update::<Curve, _>(svc.store, &key, |current| {
        let mut curve = current.cloned().unwrap_or_else(empty);
        if !due(&curve, now) {
            return Ok(None);
        }
        push(&mut curve, point);
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
    let mut curve: Curve = records::read(svc.store, &keys::curve(campaign))?.unwrap_or_else(empty);
    let live = point_of(totals, now);
    if curve.points.last().is_some_and(|p| p.at >= now) {
        curve.points.pop();
    }
    curve.points.push(live);
    Ok(curve)
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
        let mut curve = empty();
        push(&mut curve, point(0, 0));
        push(&mut curve, point(5, 1));
        assert_eq!(curve.points.len(), 1, "within the resolution");
        for at in (10..=10 * MAX_POINTS as u64).step_by(10) {
            push(&mut curve, point(at, at));
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
        let mut curve = empty();
        // Five days, a device finishing every minute: points grow sparse.
        for minute in 0..5 * 24 * 60u64 {
            push(&mut curve, point(minute * 60, minute));
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
        campaign.reach = Some(sluice_api::admin::campaigns::Reach {
            devices: 10_000,
            estimated: false,
        });
        let e = estimate(&campaign, &curve).unwrap();
        assert_eq!(e.why_not, None);
        assert!(e.over_seconds >= PACE_SECONDS, "{e:?}");
        assert!((e.per_hour - 60.0).abs() < 1.0, "{e:?}");
    }
}
