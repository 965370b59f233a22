//! Devices: enrolment (`POST /v1/admin/devices`), one device's record
//! (`GET /v1/admin/devices/{id}`) and revocation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checkin::Telemetry;
use crate::status::{Failure, Phase};

/// Most devices one enrolment request may carry.
pub const MAX_ENROL: usize = 1000;

/// `POST /v1/admin/devices`: devices to enrol, at least one and at most
/// 1000 (`MAX_ENROL`).
///
/// ```
/// use sluice_api::admin::devices::{EnrolRequest, NewDevice};
///
/// let request = EnrolRequest { devices: vec![NewDevice::new("cam-1", "cam-v2")] };
/// assert_eq!(
///     serde_json::to_string(&request).unwrap(),
///     r#"{"devices":[{"id":"cam-1","hardware":"cam-v2"}]}"#
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    pub devices: Vec<NewDevice>,
}

/// One device to enrol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    pub id: String,
    pub hardware: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Facts about the device campaigns can select on (`site`, `hw_rev`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The version the device runs now, for devices whose check-ins do not say
    /// (hawkBit DDI clients); native devices report it at every check-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The security version it has committed (with `version`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub security_version: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl NewDevice {
    /// A device with an id and a hardware type and nothing else.
    pub fn new(id: impl Into<String>, hardware: impl Into<String>) -> NewDevice {
        NewDevice {
            id: id.into(),
            hardware: hardware.into(),
            ..NewDevice::default()
        }
    }
}

/// The answer to an enrolment: each device's secret, shown this once (the
/// server keeps only its digest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EnrolAnswer {
    pub devices: Vec<EnrolledDevice>,
}

/// An enrolled device and the secret it authenticates with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EnrolledDevice {
    pub id: String,
    pub secret: String,
}

/// When, by whom and why a device (or an operator's token) was revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Revocation {
    pub at: u64,
    pub by: String,
    pub reason: String,
}

/// What `POST /v1/admin/devices/{id}/revoke` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Revoked {
    pub id: String,
    pub revoked: Option<Revocation>,
}

/// `GET /v1/admin/devices/{id}`: who the device is, what the server tracks of
/// it, and when it last checked in.
///
/// ```
/// use sluice_api::admin::devices::DeviceDetail;
///
/// let d: DeviceDetail = serde_json::from_str(
///     r#"{"id":"cam-1","hardware":"cam-v2","tags":[],"attributes":{},"enrolled_at":1,
///         "revoked":null,"state":null,"seen":null}"#,
/// ).unwrap();
/// assert!(d.state.is_none(), "never checked in");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceDetail {
    pub id: String,
    pub hardware: String,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub enrolled_at: u64,
    pub revoked: Option<Revocation>,
    /// What the server tracks (absent before the device's first check-in or
    /// offer).
    pub state: Option<TrackedState>,
    /// Its last check-in (absent before the first).
    pub seen: Option<Seen>,
}

/// What the server tracks of a device: the version it runs, its latest
/// rollout and its recent history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TrackedState {
    /// The version the device last reported (empty before its first check-in).
    pub version: String,
    pub security_version: u64,
    #[serde(default)]
    pub rollout: Option<Rollout>,
    pub updated_at: u64,
    /// What happened to the device lately, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Event>,
}

/// A device's part in one campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rollout {
    pub campaign: String,
    pub release: String,
    /// The index of the step the device was offered in (its outcome counts
    /// there): pilot rings first, then the policy's stages.
    #[serde(alias = "stage")]
    pub step: u32,
    pub phase: Phase,
    pub offered_at: u64,
    /// The version the device ran when it was offered (what rollback returns to).
    pub from_version: String,
    /// Its security version then: a rollback never goes below what a device committed.
    #[serde(default)]
    pub from_security_version: u64,
    #[serde(default)]
    pub failure: Option<Failure>,
    /// Whether its post-update health was reported (counted once).
    #[serde(default)]
    pub health_reported: bool,
    /// A hawkBit DDI client acknowledged that the campaign was aborted and
    /// dropped the update (so its polls stop offering the cancellation).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub abandoned: bool,
    pub updated_at: u64,
}

/// What a history [`Event`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The rollout reached a phase (`offered` … `rejected`).
    Offered,
    Downloading,
    Downloaded,
    Installing,
    Rebooting,
    Succeeded,
    Failed,
    RolledBack,
    Rejected,
    /// The device's post-update health was counted.
    Health,
    /// The device reported running a new version.
    Version,
}

impl EventKind {
    /// The rollout phase the event records, if it records one.
    ///
    /// ```
    /// use sluice_api::admin::devices::EventKind;
    /// use sluice_api::status::Phase;
    ///
    /// assert_eq!(EventKind::from(Phase::RolledBack).phase(), Some(Phase::RolledBack));
    /// assert_eq!(EventKind::Health.phase(), None);
    /// ```
    pub fn phase(self) -> Option<Phase> {
        Some(match self {
            EventKind::Offered => Phase::Offered,
            EventKind::Downloading => Phase::Downloading,
            EventKind::Downloaded => Phase::Downloaded,
            EventKind::Installing => Phase::Installing,
            EventKind::Rebooting => Phase::Rebooting,
            EventKind::Succeeded => Phase::Succeeded,
            EventKind::Failed => Phase::Failed,
            EventKind::RolledBack => Phase::RolledBack,
            EventKind::Rejected => Phase::Rejected,
            EventKind::Health | EventKind::Version => return None,
        })
    }
}

impl From<Phase> for EventKind {
    fn from(phase: Phase) -> EventKind {
        match phase {
            Phase::Offered => EventKind::Offered,
            Phase::Downloading => EventKind::Downloading,
            Phase::Downloaded => EventKind::Downloaded,
            Phase::Installing => EventKind::Installing,
            Phase::Rebooting => EventKind::Rebooting,
            Phase::Succeeded => EventKind::Succeeded,
            Phase::Failed => EventKind::Failed,
            Phase::RolledBack => EventKind::RolledBack,
            Phase::Rejected => EventKind::Rejected,
        }
    }
}

/// Longest failure detail a history event keeps, in bytes.
pub const HISTORY_DETAIL: usize = 200;

/// One event in a device's history: a phase its rollout reached, its
/// post-update health counted, or a new version reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Event {
    pub at: u64,
    pub what: EventKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub campaign: String,
    /// The release offered, or the version reported.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The index of the step the device was offered in (rollout events).
    #[serde(default, alias = "stage", skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

impl Event {
    /// A rollout's move to `phase` (with the failure it reported, if any,
    /// its detail cut to [`HISTORY_DETAIL`] bytes).
    pub fn rollout(rollout: &Rollout, phase: Phase, at: u64) -> Event {
        let failure = rollout
            .failure
            .clone()
            .filter(|_| matches!(phase, Phase::Failed | Phase::Rejected));
        Event {
            at,
            what: phase.into(),
            campaign: rollout.campaign.clone(),
            version: rollout.release.clone(),
            step: Some(rollout.step),
            failure: failure.map(|mut f| {
                truncate(&mut f.detail, HISTORY_DETAIL);
                f
            }),
        }
    }

    /// The device reported running `version`.
    pub fn version(version: &str, at: u64) -> Event {
        Event {
            at,
            what: EventKind::Version,
            campaign: String::new(),
            version: version.to_owned(),
            step: None,
            failure: None,
        }
    }

    /// Whether the event is a rollout's end (what a recount needs longest).
    pub fn is_final(&self) -> bool {
        self.what.phase().is_some_and(Phase::is_final)
    }
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// When the device was last heard from, what it ran and what it said of itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Seen {
    pub at: u64,
    pub version: String,
    #[serde(default)]
    pub telemetry: Telemetry,
}

#[cfg(test)]
mod tests {
    use super::{Event, Rollout};

    /// Rollouts and history events stored before `step` was named so still
    /// decode, and are written with the new name.
    #[test]
    fn a_record_that_says_stage_decodes_as_step() {
        let rollout: Rollout = serde_json::from_str(
            r#"{"campaign":"c1","release":"2.0","stage":3,"phase":"offered","offered_at":5,"from_version":"1.0","updated_at":5}"#,
        )
        .unwrap();
        assert_eq!(rollout.step, 3);
        let written = serde_json::to_value(&rollout).unwrap();
        assert_eq!(
            (written["step"].as_u64(), written.get("stage")),
            (Some(3), None)
        );
        let event: Event =
            serde_json::from_str(r#"{"at":5,"what":"offered","campaign":"c1","stage":2}"#).unwrap();
        assert_eq!(event.step, Some(2));
    }
}
