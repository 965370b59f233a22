//! Devices: enrolment records, per-device rollout state, and last-seen records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
// Stored as the API shows them: a rollout, a history event, the last check-in.
pub use sluice_api::admin::devices::{
    Event, EventKind, HISTORY_DETAIL, Revocation, Rollout, Seen, TrackedState,
};

use crate::kernel::names::{MAX_NAME_LEN, valid_name};

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
        let matches = crate::kernel::credentials::secret_matches(secret, &self.credential);
        matches && self.revoked.is_none()
    }
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
    /// Counter increments of changes not yet applied (see [`crate::fleet::tally`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tallies: Vec<crate::fleet::tally::Tally>,
    /// Whether the device is in the directory ([`crate::fleet::directory`]): set
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

    /// What an operator is shown: the state without the service's
    /// bookkeeping (pending tallies, directory membership).
    pub fn view(self) -> TrackedState {
        let DeviceState {
            version,
            security_version,
            rollout,
            updated_at,
            tallies: _,
            listed: _,
            history,
        } = self;
        TrackedState {
            version,
            security_version,
            rollout,
            updated_at,
            history,
        }
    }
}

#[cfg(test)]
mod tag_tests {
    use super::valid_tag;
    use crate::kernel::names::valid_name;

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
    use sluice_api::status::{Failure, Phase};

    fn rollout(campaign: &str) -> Rollout {
        Rollout {
            campaign: campaign.into(),
            release: "2.0".into(),
            step: 1,
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
