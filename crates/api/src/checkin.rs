//! `POST /v1/checkin`: the device says what it runs; the server answers what to
//! do and when to ask again.

use serde::{Deserialize, Serialize};

/// What a device reports at check-in.
///
/// ```
/// use sluice_api::checkin::{CheckinReport, Telemetry};
///
/// let report = CheckinReport {
///     hardware: "cam-v2".into(),
///     version: "1.0.0".into(),
///     security_version: 1,
///     tags: Vec::new(),
///     telemetry: Telemetry { battery_percent: Some(80), ..Telemetry::default() },
/// };
/// assert_eq!(
///     serde_json::to_string(&report).unwrap(),
///     r#"{"hardware":"cam-v2","version":"1.0.0","security_version":1,"telemetry":{"battery_percent":80}}"#
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckinReport {
    pub hardware: String,
    /// The version the device runs.
    pub version: String,
    /// The security version it committed: it refuses any image below it.
    pub security_version: u64,
    /// Tags the device reports (enrolment tags are the server's own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub telemetry: Telemetry,
}

/// What a device tells about itself at check-in, for the policy's gates
/// (battery, network, local time) and for operators. Every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging: Option<bool>,
    /// The kind of network it is on (`wifi`, `ethernet`, `cellular`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Its local time's offset from UTC, for maintenance windows in local time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset_minutes: Option<i16>,
    /// The slot the device runs from (`a` or `b` for an A/B device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
}

/// What the server answers a check-in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CheckinAnswer {
    pub action: CheckinAction,
    /// The campaign the update or rollback belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The release (version) to install, or to return to on rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Where the signed manifest of `release` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_url: Option<String>,
    /// Why there is nothing to do now, when there is a reason worth telling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When to check in next, already jittered for this device.
    pub next_poll_seconds: u32,
}

/// What a check-in answer asks the device to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckinAction {
    /// Nothing now: ask again after `next_poll_seconds`.
    None,
    /// Install `release` for `campaign`.
    Update,
    /// Return to `release`: the campaign was rolled back.
    Rollback,
}

impl CheckinAction {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckinAction::None => "none",
            CheckinAction::Update => "update",
            CheckinAction::Rollback => "rollback",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_telemetry_field_is_refused_and_a_missing_one_is_none() {
        let parsed: CheckinReport = serde_json::from_str(
            r#"{"hardware":"h","version":"1","security_version":0,"telemetry":{"network":"wifi"}}"#,
        )
        .unwrap();
        assert_eq!(parsed.telemetry.network.as_deref(), Some("wifi"));
        assert_eq!(parsed.telemetry.battery_percent, None);
        let refused = serde_json::from_str::<CheckinReport>(
            r#"{"hardware":"h","version":"1","security_version":0,"telemetry":{"speed":9}}"#,
        );
        assert!(refused.unwrap_err().to_string().contains("unknown field"));
    }

    #[test]
    fn an_answer_with_nothing_to_do_carries_only_the_action_and_the_poll() {
        let answer = CheckinAnswer {
            action: CheckinAction::None,
            campaign: None,
            release: None,
            manifest_url: None,
            reason: None,
            next_poll_seconds: 300,
        };
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            r#"{"action":"none","next_poll_seconds":300}"#
        );
        for action in [
            CheckinAction::None,
            CheckinAction::Update,
            CheckinAction::Rollback,
        ] {
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                serde_json::Value::from(action.as_str())
            );
        }
    }
}
