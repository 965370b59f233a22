//! Releases: `POST /v1/admin/releases`, `GET /v1/admin/releases[/{version}]`,
//! and the key statement the server verifies them with
//! (`PUT /v1/admin/key-statement`).

use serde::{Deserialize, Serialize};

/// A release: a version and its images, one per set of hardware ids (stored
/// as it is answered).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Release {
    pub version: String,
    /// Its images (on the wire under the name the first releases gave them).
    #[serde(rename = "manifests")]
    pub images: Vec<ReleaseImage>,
}

impl Release {
    /// The image for `hardware`, if the release has one.
    pub fn for_hardware(&self, hardware: &str) -> Option<&ReleaseImage> {
        self.images
            .iter()
            .find(|m| m.hardware.iter().any(|h| h == hardware))
    }
}

/// One image of a release, as published: its signed manifest's facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReleaseImage {
    pub manifest_id: String,
    pub hardware: Vec<String>,
    pub security_version: u64,
    pub size: u64,
    pub chunks: u64,
    pub key_id: String,
    pub created_at: u64,
    pub expires_at: u64,
    pub published_at: u64,
    /// The image as hawkBit DDI clients download it (releases published before
    /// DDI support have none until published again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
}

/// The image as one downloadable file, with the digests DDI clients check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Artifact {
    /// The file name clients expect, e.g. `camera-2.0.swu` for SWUpdate.
    pub file_name: String,
    pub sha256: String,
    pub sha1: String,
    pub md5: String,
}

/// What `GET /v1/admin/releases` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReleaseList {
    pub releases: Vec<Release>,
}

/// What `POST /v1/admin/releases` answers: 201 when the image is new, 200
/// when this exact manifest was already published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Published {
    pub release: String,
    pub manifest_id: String,
    pub hardware: Vec<String>,
    /// False when this exact manifest was already published.
    pub created: bool,
}

/// What `PUT /v1/admin/key-statement` answers: the version now stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeyStatementStored {
    pub version: u64,
}

/// What `PUT /v1/admin/chunks/{sha256}` answers: whether this upload stored
/// the chunk (`false`: it was stored already).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ChunkStored {
    pub stored: bool,
}
