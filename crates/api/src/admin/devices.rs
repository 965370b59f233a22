//! Enrolment: `POST /v1/admin/devices`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most devices one enrolment request may carry.
pub const MAX_ENROL: usize = 1000;

/// `POST /v1/admin/devices`: devices to enrol (1 to [`MAX_ENROL`]).
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
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    pub devices: Vec<NewDevice>,
}

/// One device to enrol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct EnrolAnswer {
    pub devices: Vec<EnrolledDevice>,
}

/// An enrolled device and the secret it authenticates with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledDevice {
    pub id: String,
    pub secret: String,
}

/// When, by whom and why a device (or an operator's token) was revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub at: u64,
    pub by: String,
    pub reason: String,
}

/// What `POST /v1/admin/devices/{id}/revoke` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub id: String,
    pub revoked: Option<Revocation>,
}
