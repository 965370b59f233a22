//! Devices: enrolment records, per-device rollout state, and last-seen records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
pub use sluice_api::admin::devices::Revocation;
use sluice_api::checkin::Telemetry;
use sluice_api::status::{Failure, Phase};

use crate::names::{MAX_NAME_LEN, valid_name};

/// Most attributes a device may carry.
pub const MAX_ATTRIBUTES: usize = 64;
/// Longest attribute value, in bytes.
pub const MAX_ATTRIBUTE_VALUE: usize = 256;
/// [`valid_attributes`] in words, for error messages.
pub const ATTRIBUTE_RULE: &str =
    "attributes: at most 64, names letters, digits and . _ - + ~, values at most 256 bytes";

/// Whether a device's attributes (set at enrolment, or by a DDI client's
/// `configData`) are within bounds.
pub fn valid_attributes(attributes: &std::collections::BTreeMap<String, String>) -> bool {
    attributes.len() <= MAX_ATTRIBUTES
        && attributes
            .iter()
            .all(|(k, v)| valid_name(k) && v.len() <= MAX_ATTRIBUTE_VALUE)
}

/// Tags are never keys, so they may also hold `:`, `/`, `=` and `@`, for the
/// usual `key:value` tags (`ring:pilot`, `site:berlin`, `utc-offset:+05:30`).
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_NAME_LEN
        && tag.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '.' | '_' | '-' | '+' | '~' | ':' | '/' | '=' | '@')
        })
}

/// What an operator enrolled: who the device is and how it proves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub id: String,
    pub hardware: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// SHA-256 of the device secret.
    pub credential: String,
    pub enrolled_at: u64,
    /// Set when an operator revoked the device: it authenticates no more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

impl DeviceRecord {
    /// Whether `secret` proves this device: it matches (compared in constant
    /// time) and the device is not revoked.
    pub fn accepts(&self, secret: &str) -> bool {
        // Compare even for a revoked device, so timing does not tell them apart.
        let matches = crate::credentials::secret_matches(secret, &self.credential);
        matches && self.revoked.is_none()
    }
}

/// A device's part in one campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub campaign: String,
    pub release: String,
    /// The stage the device was offered in (its outcome counts there).
    pub stage: u32,
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

/// The device's state as the service tracks it; changed only by compare-and-swap.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    /// The version the device last reported (empty before its first check-in).
    pub version: String,
    pub security_version: u64,
    #[serde(default)]
    pub rollout: Option<Rollout>,
    pub updated_at: u64,
    /// Counter increments of changes not yet applied (see [`crate::tally`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tallies: Vec<crate::tally::Tally>,
    /// Whether the device is in the directory ([`crate::directory`]): set
    /// at enrolment, or at the first offer of a device enrolled before the
    /// directory existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub listed: bool,
    /// What happened to the device lately, oldest first (at most
    /// [`HISTORY_LEN`] events; see [`DeviceState::record`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Event>,
}

/// Most events a device's history keeps.
pub const HISTORY_LEN: usize = 24;
/// Longest failure detail a history event keeps, in bytes.
pub const HISTORY_DETAIL: usize = 200;

/// One event in a device's history: a phase its rollout reached (`offered`,
/// `downloading`, … `succeeded`, `failed`), `health` (its post-update health
/// was counted), or `version` (it reported running a new version).
///
/// It rides in the device's state record, which every such change writes
/// anyway, so keeping a history costs no extra write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: u64,
    pub what: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub campaign: String,
    /// The release offered, or the version reported.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The step the device was offered in (rollout events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

impl Event {
    /// A rollout's move to `phase` (with the failure it reported, if any).
    pub fn rollout(rollout: &Rollout, phase: Phase, at: u64) -> Event {
        let failure = rollout
            .failure
            .clone()
            .filter(|_| matches!(phase, Phase::Failed | Phase::Rejected));
        Event {
            at,
            what: phase.as_str().to_owned(),
            campaign: rollout.campaign.clone(),
            version: rollout.release.clone(),
            stage: Some(rollout.stage),
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
            what: "version".to_owned(),
            campaign: String::new(),
            version: version.to_owned(),
            stage: None,
            failure: None,
        }
    }

    /// Whether the event is a rollout's end (what a recount needs longest).
    pub fn is_final(&self) -> bool {
        matches!(
            self.what.as_str(),
            "succeeded" | "failed" | "rolled_back" | "rejected"
        )
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

impl DeviceState {
    /// Adds `event` to the history. Past [`HISTORY_LEN`] the oldest event
    /// goes, but a rollout's end outlives the steps before it: the oldest
    /// event that is not an end goes first.
    pub fn record(&mut self, event: Event) {
        self.history.push(event);
        while self.history.len() > HISTORY_LEN {
            let oldest = self.history.iter().position(|e| !e.is_final()).unwrap_or(0);
            self.history.remove(oldest);
        }
    }
}

/// The small record a check-in writes: when the device was last heard from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub at: u64,
    pub version: String,
    #[serde(default)]
    pub telemetry: Telemetry,
}

#[cfg(test)]
mod tag_tests {
    use super::valid_tag;
    use crate::names::valid_name;

    #[test]
    fn tags_may_be_key_value_pairs_but_ids_may_not_hold_colons() {
        for tag in [
            "lab",
            "ring:pilot",
            "site:berlin/3",
            "utc-offset:+05:30",
            "owner=ops@acme",
        ] {
            assert!(valid_tag(tag), "{tag}");
        }
        for tag in ["", "a b", "ring:é", "x\n", &"t".repeat(200)] {
            assert!(!valid_tag(tag), "{tag:?}");
        }
        assert!(
            !valid_name("ring:pilot"),
            "a colon would break Basic credentials"
        );
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    fn rollout(campaign: &str) -> Rollout {
        Rollout {
            campaign: campaign.into(),
            release: "2.0".into(),
            stage: 1,
            phase: Phase::Offered,
            offered_at: 0,
            from_version: "1.0".into(),
            from_security_version: 0,
            failure: Some(Failure {
                phase: "install".into(),
                code: "E_FLASH".into(),
                detail: "é".repeat(300),
            }),
            health_reported: false,
            abandoned: false,
            updated_at: 0,
        }
    }

    #[test]
    fn history_is_capped_and_keeps_outcomes_longest() {
        let mut state = DeviceState::default();
        for c in 0..10 {
            let r = rollout(&format!("c{c}"));
            for phase in [
                Phase::Offered,
                Phase::Downloading,
                Phase::Installing,
                Phase::Failed,
            ] {
                state.record(Event::rollout(&r, phase, c));
            }
        }
        assert_eq!(state.history.len(), HISTORY_LEN);
        let ends: Vec<&str> = state
            .history
            .iter()
            .filter(|e| e.is_final())
            .map(|e| e.campaign.as_str())
            .collect();
        assert_eq!(ends.len(), 10, "every campaign's outcome is kept");
        assert_eq!(state.history.last().unwrap().campaign, "c9");
        let failure = state.history.last().unwrap().failure.as_ref().unwrap();
        assert_eq!(failure.code, "E_FLASH");
        assert!(failure.detail.len() <= HISTORY_DETAIL);
        assert!(
            state.history[0].failure.is_none() || state.history[0].is_final(),
            "only ends carry failures"
        );
    }

    #[test]
    fn only_failures_carry_the_failure() {
        let r = rollout("c");
        assert!(Event::rollout(&r, Phase::Downloading, 1).failure.is_none());
        assert!(Event::rollout(&r, Phase::Rejected, 1).failure.is_some());
    }
}
