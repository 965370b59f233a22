//! The fleet views: `GET /v1/admin/fleet` (counts) and
//! `GET /v1/admin/devices?q=…&page=N&skip=K&limit=L` (a search, walked a few
//! directory pages per request).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::status::Phase;

/// `GET /v1/admin/fleet`: the fleet in counts.
///
/// ```
/// use sluice_api::admin::fleet::FleetSummary;
///
/// let summary: FleetSummary = serde_json::from_str(
///     r#"{"devices":2,"hardware":{"cam-v2":2},"versions":{"1.0.0":2},
///         "liveness":{"online":1,"late":0,"silent":0,"never":1,"revoked":0,"scanned":2,
///                     "sampled":false,"online_within":1800,"late_within":86400},
///         "now":1796169600}"#,
/// )
/// .unwrap();
/// assert_eq!(summary.hardware["cam-v2"], 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FleetSummary {
    /// Devices enrolled.
    pub devices: i64,
    /// Devices per hardware type.
    pub hardware: BTreeMap<String, i64>,
    /// Devices per version they report running.
    pub versions: BTreeMap<String, i64>,
    pub liveness: LivenessCounts,
    /// The server's clock (unix seconds) when it counted.
    pub now: u64,
}

/// Devices by when they were last heard from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LivenessCounts {
    pub online: u64,
    pub late: u64,
    pub silent: u64,
    pub never: u64,
    /// Revoked devices (not counted above).
    pub revoked: u64,
    /// Devices whose records were read: all of them, or a sample.
    pub scanned: u64,
    /// Whether the counts are estimated from a sample (scaled to the fleet).
    pub sampled: bool,
    /// Seconds since the last check-in within which a device is online, and late.
    pub online_within: u64,
    pub late_within: u64,
}

/// When a device was last heard from, in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// Within two poll intervals.
    Online,
    /// Within a day (or eight polls, if longer).
    Late,
    /// Longer ago.
    Silent,
    /// Never checked in.
    Never,
}

/// `GET /v1/admin/devices?q=…`: one page of a search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceSearch {
    pub devices: Vec<DeviceRow>,
    /// Where to go on (`page=` and `skip=`), if the walk is not over.
    pub next: Option<Cursor>,
    /// Devices looked at by this request.
    pub scanned: u64,
    /// Pages in the directory.
    pub pages: u64,
}

/// One device in a search answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceRow {
    pub id: String,
    pub hardware: String,
    pub tags: Vec<String>,
    /// The version it last reported (empty before its first check-in).
    pub version: String,
    pub seen_at: Option<u64>,
    pub liveness: Liveness,
    pub revoked: bool,
    /// Its latest rollout: campaign and phase.
    pub campaign: Option<String>,
    pub phase: Option<Phase>,
}

/// A place in the device directory: a page, and how many of its devices to
/// skip; sent back as `page=` and `skip=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Cursor {
    pub page: u64,
    pub skip: usize,
}

impl Cursor {
    /// The query parameters that continue a search from here.
    ///
    /// ```
    /// use sluice_api::admin::fleet::Cursor;
    /// assert_eq!(Cursor { page: 3, skip: 7 }.query(), "page=3&skip=7");
    /// ```
    pub fn query(&self) -> String {
        format!("page={}&skip={}", self.page, self.skip)
    }
}
