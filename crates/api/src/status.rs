//! `POST /v1/status`: the device reports how its update is going; the server
//! answers whether to go on.

use serde::{Deserialize, Serialize};

/// A status report: a phase the update reached, its failure, or the post-update
/// health figures.
///
/// ```
/// use sluice_api::status::{ReportedState, StatusReport};
///
/// let report: StatusReport =
///     serde_json::from_str(r#"{"campaign":"c1","state":"downloading"}"#).unwrap();
/// assert_eq!(report.state, ReportedState::Downloading);
/// let refused = serde_json::from_str::<StatusReport>(r#"{"campaign":"c1","state":"done"}"#);
/// assert!(refused.unwrap_err().to_string().contains("unknown state \"done\""));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    pub campaign: String,
    pub state: ReportedState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<DownloadProgress>,
    /// For `failed` and `rejected`: where and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// For `health`: the figures before and after the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthReport>,
}

/// What a status report says: the phase the device reached, or `health` for
/// the one post-update health report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum ReportedState {
    Downloading,
    Downloaded,
    Installing,
    Rebooting,
    Succeeded,
    Failed,
    RolledBack,
    Rejected,
    Health,
}

impl ReportedState {
    /// Every state a device may report.
    pub const ALL: [ReportedState; 9] = [
        ReportedState::Downloading,
        ReportedState::Downloaded,
        ReportedState::Installing,
        ReportedState::Rebooting,
        ReportedState::Succeeded,
        ReportedState::Failed,
        ReportedState::RolledBack,
        ReportedState::Rejected,
        ReportedState::Health,
    ];

    /// The rollout phase this report moves the device to; `None` for `health`.
    pub fn phase(self) -> Option<Phase> {
        Some(match self {
            ReportedState::Downloading => Phase::Downloading,
            ReportedState::Downloaded => Phase::Downloaded,
            ReportedState::Installing => Phase::Installing,
            ReportedState::Rebooting => Phase::Rebooting,
            ReportedState::Succeeded => Phase::Succeeded,
            ReportedState::Failed => Phase::Failed,
            ReportedState::RolledBack => Phase::RolledBack,
            ReportedState::Rejected => Phase::Rejected,
            ReportedState::Health => return None,
        })
    }

    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        self.phase().map_or("health", Phase::as_str)
    }
}

impl TryFrom<String> for ReportedState {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        ReportedState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown state {text:?}: use downloading, downloaded, installing, rebooting, succeeded, failed, rolled_back, rejected or health"
                )
            })
    }
}

/// Parsed from text (for its error message), but a closed set all the same.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for ReportedState {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ReportedState".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names = ReportedState::ALL.map(ReportedState::as_str);
        schemars::json_schema!({
            "description": "What a status report says: the phase the device reached, or `health` for the one post-update health report.",
            "type": "string",
            "enum": names
        })
    }
}

/// Where a device is in its rollout of one campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The server offered the update; the device has not reported yet.
    Offered,
    Downloading,
    Downloaded,
    Installing,
    Rebooting,
    Succeeded,
    Failed,
    RolledBack,
    Rejected,
}

impl Phase {
    /// The phases a device may report (all but `offered`, which only the
    /// server sets).
    pub fn parse_reported(text: &str) -> Option<Phase> {
        Some(match text {
            "downloading" => Phase::Downloading,
            "downloaded" => Phase::Downloaded,
            "installing" => Phase::Installing,
            "rebooting" => Phase::Rebooting,
            "succeeded" => Phase::Succeeded,
            "failed" => Phase::Failed,
            "rolled_back" => Phase::RolledBack,
            "rejected" => Phase::Rejected,
            _ => return None,
        })
    }

    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Offered => "offered",
            Phase::Downloading => "downloading",
            Phase::Downloaded => "downloaded",
            Phase::Installing => "installing",
            Phase::Rebooting => "rebooting",
            Phase::Succeeded => "succeeded",
            Phase::Failed => "failed",
            Phase::RolledBack => "rolled_back",
            Phase::Rejected => "rejected",
        }
    }

    /// A final phase of the device's rollout.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Succeeded | Phase::Failed | Phase::RolledBack | Phase::Rejected
        )
    }

    /// Offered and not yet finished: counts against concurrency caps.
    pub fn is_in_flight(self) -> bool {
        !self.is_final()
    }
}

/// Download progress, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DownloadProgress {
    pub bytes: u64,
    pub total: u64,
}

/// Where and why an update failed or was rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Failure {
    /// Where it failed (`download`, `verify`, `install`, `health`, …): a part of
    /// the update, not a rollout [`Phase`].
    pub phase: String,
    /// A short, stable code, counted per campaign.
    pub code: String,
    /// Free text for people.
    #[serde(default)]
    pub detail: String,
}

/// Post-update health: the same counts over equal periods just before the
/// update and after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HealthReport {
    pub reboots_before: u64,
    pub reboots_after: u64,
    pub crashes_before: u64,
    pub crashes_after: u64,
    /// The vendor's metric: a count, lower is better.
    #[serde(default)]
    pub metric_before: u64,
    #[serde(default)]
    pub metric_after: u64,
}

/// The answer to a status report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StatusAnswer {
    pub accepted: bool,
    /// The report repeated one already counted.
    pub duplicate: bool,
    pub action: StatusAction,
    /// For `hold`: when to report `downloaded` again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_seconds: Option<u32>,
    /// Why the install is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StatusAnswer {
    /// An accepted report that changes nothing about what the device does.
    pub fn go_on() -> StatusAnswer {
        StatusAnswer {
            accepted: true,
            duplicate: false,
            action: StatusAction::Continue,
            hold_seconds: None,
            reason: None,
        }
    }
}

/// What a status answer asks the device to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum StatusAction {
    /// Go on with the update.
    Continue,
    /// Return to the previous version: the campaign was rolled back.
    Rollback,
    /// (To `downloaded`.) A change freeze holds the install: keep the image,
    /// report `downloaded` again after `hold_seconds`, and install only once
    /// that report answers `continue`.
    Hold,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reported_state_reads_back_as_written() {
        for state in ReportedState::ALL {
            let text = serde_json::to_string(&state).unwrap();
            assert_eq!(text, format!("\"{}\"", state.as_str()));
            assert_eq!(serde_json::from_str::<ReportedState>(&text).unwrap(), state);
        }
        assert!(serde_json::from_str::<ReportedState>("\"offered\"").is_err());
    }

    #[test]
    fn a_failure_without_detail_reads_as_empty_detail() {
        let failure: Failure =
            serde_json::from_str(r#"{"phase":"install","code":"no_space"}"#).unwrap();
        assert_eq!(failure.detail, "");
    }
}
