//! DDI JSON bodies, as hawkBit writes and reads them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A link: `{"href": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
}

impl Link {
    pub fn new(href: impl Into<String>) -> Self {
        Link { href: href.into() }
    }
}

/// The poll resource.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Poll {
    pub config: PollConfig,
    #[serde(rename = "_links")]
    pub links: BTreeMap<String, Link>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PollConfig {
    pub polling: Polling,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Polling {
    /// `HH:MM:SS`.
    pub sleep: String,
}

/// `deploymentBase/{id}` and `installedBase/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeploymentBase {
    pub id: String,
    pub deployment: Deployment,
    #[serde(rename = "actionHistory", skip_serializing_if = "Option::is_none")]
    pub action_history: Option<ActionHistory>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deployment {
    /// `skip`, `attempt` or `forced`.
    pub download: String,
    pub update: String,
    #[serde(rename = "maintenanceWindow", skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<String>,
    pub chunks: Vec<Chunk>,
}

/// A software module (DDI calls it a chunk; unrelated to Sluice's chunks).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Chunk {
    pub part: String,
    pub version: String,
    pub name: String,
    pub artifacts: Vec<ArtifactRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub filename: String,
    pub size: u64,
    pub hashes: Hashes,
    #[serde(rename = "_links")]
    pub links: BTreeMap<String, Link>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hashes {
    pub sha1: String,
    pub md5: String,
    pub sha256: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActionHistory {
    pub status: String,
    pub messages: Vec<String>,
}

/// `cancelAction/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CancelAction {
    pub id: String,
    #[serde(rename = "cancelAction")]
    pub cancel_action: StopId,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StopId {
    #[serde(rename = "stopId")]
    pub stop_id: String,
}

/// Feedback from a device. `id` and `time` (sent by older clients) are accepted
/// and ignored: the action is the one in the URL, the time is the server's.
#[derive(Clone, Debug, Deserialize)]
pub struct Feedback {
    #[serde(default)]
    #[allow(dead_code)]
    pub id: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    pub time: Option<String>,
    pub status: FeedbackStatus,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FeedbackStatus {
    pub execution: String,
    #[serde(default)]
    pub result: Option<FeedbackResult>,
    #[serde(default)]
    pub details: Vec<String>,
    /// A device-specific result code (newer clients).
    #[serde(default)]
    pub code: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FeedbackResult {
    #[serde(default)]
    pub finished: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub progress: Option<FeedbackProgress>,
}

/// Accepted as sent: SWUpdate reports `cnt` above `of` at times.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct FeedbackProgress {
    #[allow(dead_code)]
    pub cnt: u64,
    #[serde(default)]
    #[allow(dead_code)]
    pub of: Option<u64>,
}

/// `PUT configData`.
#[derive(Clone, Debug, Deserialize)]
pub struct ConfigData {
    pub data: BTreeMap<String, String>,
    /// `merge` (the default), `replace` or `remove`.
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub id: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    pub time: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub status: Option<serde_json::Value>,
}

/// `HH:MM:SS` for a number of seconds, at most `23:59:59` (hawkBit's limit).
pub fn sleep_text(seconds: u32) -> String {
    let s = seconds.clamp(1, 86_399);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
