//! `POST /v1/admin/simulate`: a campaign's preview before it starts, run by
//! the server with the policy it really has over a simulated fleet and clock.

use serde::{Deserialize, Serialize};

/// What to preview.
///
/// ```
/// use sluice_api::admin::preview::PreviewRequest;
///
/// let request: PreviewRequest = serde_json::from_str(
///     r#"{"policy": {"stages": [{"percent": 5}, {"percent": 100}]}, "devices": 500}"#,
/// ).unwrap();
/// assert_eq!(request.devices, Some(500));
/// assert!(serde_json::from_str::<PreviewRequest>(r#"{"fleet": 500}"#).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The policy configuration the campaign would carry.
    #[serde(default = "empty_object")]
    pub policy: serde_json::Value,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub critical: bool,
    /// Devices in the simulated fleet (default 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<usize>,
    /// Simulated days (default 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<f64>,
    /// The share of installs a bad release fails (default 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_fail_rate: Option<f64>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// The preview: a good release's run and a bad one's over the same fleet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Preview {
    pub devices: usize,
    pub days: f64,
    pub poll_seconds: u32,
    /// How long until 50, 90 and 99% of the fleet run a release that fails
    /// nowhere.
    pub good: Outcome,
    pub bad_fail_rate: f64,
    /// How many devices install a release that fails on `bad_fail_rate` of
    /// them before the policy stops it (the worst exposure).
    pub bad: Outcome,
}

/// One run's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Outcome {
    pub hours_to_50: Option<f64>,
    pub hours_to_90: Option<f64>,
    pub hours_to_99: Option<f64>,
    pub halted: bool,
    pub rolled_back: bool,
    pub reason: Option<String>,
    pub halted_at_hours: Option<f64>,
    /// Devices that installed the release.
    pub exposed: u64,
    pub exposed_fraction: f64,
    pub updated_fraction: f64,
    pub peak_concurrency: u64,
    /// Hourly.
    pub curve: Vec<Point>,
}

/// One point of a rollout curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "PreviewPoint"))]
pub struct Point {
    pub hours: f64,
    /// Share of the fleet running the release.
    pub updated: f64,
    /// Share of the fleet that installed it (succeeded or failed).
    pub exposed: f64,
    /// Devices in flight: offered and not yet finished.
    pub in_flight: u64,
}
