//! A campaign's preview, before it starts: what `sluice policy simulate`
//! predicts for a policy configuration, run by the server with the policy it
//! really has (`POST /v1/admin/simulate`, operator only).
//!
//! Two runs over the same simulated fleet and clock: a good release (how long
//! until 50, 90 and 99% of the fleet run it) and a bad one that fails on
//! `bad_fail_rate` of devices (how many install it before the policy stops
//! it: the worst exposure). The admin component routes the path here; the
//! service itself stays free of the simulator.
//!
//! ```
//! use sluice_policy_sim::preview::{PreviewRequest, preview};
//! use sluice_policy_standard::Standard;
//!
//! let request: PreviewRequest = serde_json::from_str(
//!     r#"{"policy": {"stages": [{"percent": 5, "soak": "1h"}, {"percent": 100}]}, "devices": 500}"#,
//! ).unwrap();
//! let p = preview(&Standard, &request, 900, 1_795_996_800).unwrap();
//! assert!(p.good.hours_to_99.is_some());
//! assert!(p.bad.halted && p.bad.exposed_fraction < 0.2);
//! ```

pub use sluice_api::admin::preview::{Outcome, Preview, PreviewRequest};
use sluice_policy::Policy;
use sluice_service::Service;
use sluice_service::kernel::http::{ApiError, Request, Response, parse_json, respond};

use crate::{Scenario, simulate};

/// Most devices a preview simulates.
pub const MAX_DEVICES: usize = 10_000;
/// Longest a preview simulates, in days.
pub const MAX_DAYS: f64 = 60.0;
/// Largest request body.
const MAX_BODY: usize = 64 * 1024;

fn outcome(report: crate::Report) -> Outcome {
    Outcome {
        hours_to_50: report.hours_to_50,
        hours_to_90: report.hours_to_90,
        hours_to_99: report.hours_to_99,
        halted: report.halted,
        rolled_back: report.rolled_back,
        reason: report.reason,
        halted_at_hours: report.halted_at_hours,
        exposed: report.exposed,
        exposed_fraction: report.exposed_fraction,
        updated_fraction: report.updated_fraction,
        peak_concurrency: report.peak_concurrency,
        curve: report.curve,
    }
}

/// Runs the preview of `request` with `policy`, polls every `poll_seconds`,
/// from `start` (unix seconds).
pub fn preview(
    policy: &dyn Policy,
    request: &PreviewRequest,
    poll_seconds: u32,
    start: u64,
) -> Result<Preview, ApiError> {
    let devices = request.devices.unwrap_or(1000);
    if devices == 0 || devices > MAX_DEVICES {
        return Err(ApiError::bad_request(format!(
            "devices: 1 to {MAX_DEVICES}"
        )));
    }
    let days = request.days.unwrap_or(14.0);
    if !(days > 0.0 && days <= MAX_DAYS) {
        return Err(ApiError::bad_request(format!(
            "days: more than 0, at most {MAX_DAYS}"
        )));
    }
    let bad_fail_rate = request.bad_fail_rate.unwrap_or(0.2);
    if !(bad_fail_rate > 0.0 && bad_fail_rate <= 1.0) {
        return Err(ApiError::bad_request(
            "bad_fail_rate: a share above 0, at most 1",
        ));
    }
    let config = request.policy.to_string();
    policy
        .validate(&config)
        .map_err(|e| ApiError::new(422, "invalid_policy_config", e))?;
    let scenario = Scenario {
        devices,
        fail_rate: 0.0,
        config,
        critical: request.critical,
        start,
        days,
        poll_seconds: poll_seconds.max(1),
        ..Scenario::default()
    };
    let good = simulate(policy, &scenario);
    let bad = simulate(
        policy,
        &Scenario {
            fail_rate: bad_fail_rate,
            ..scenario
        },
    );
    Ok(Preview {
        devices,
        days,
        poll_seconds,
        good: outcome(good),
        bad_fail_rate,
        bad: outcome(bad),
    })
}

/// `POST /v1/admin/simulate`: the preview, for the operator.
pub fn handle(svc: &Service, request: &Request) -> Response {
    respond((|| {
        let (_, call) = sluice_service::admin::authorize(svc, request)?;
        let body: PreviewRequest = parse_json(&request.body, MAX_BODY)?;
        let preview = preview(svc.policy, &body, svc.config.poll_seconds, svc.env.now())?;
        sluice_service::ops::operators::note_use(svc, &call.principal);
        Ok(Response::json(200, &preview))
    })())
}

/// The path [`handle`] answers.
pub const PATH: &str = "/v1/admin/simulate";
