//! Change freezes: `GET`, `POST /v1/admin/freezes`, `DELETE
//! /v1/admin/freezes/{id}`, `POST …/{id}/confirm-lift`, and a campaign's leave
//! to pass one.

use serde::{Deserialize, Serialize};

use crate::admin::campaigns::Selector;
use crate::admin::four_eyes::Confirmation;
use crate::instant::Instant;

/// A declared freeze (stored as it is answered). `DELETE` answers it with 200
/// when it is gone, 202 when it holds now and waits for a second operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Freeze {
    pub id: String,
    pub reason: String,
    /// When the freeze starts (unix seconds).
    pub start: u64,
    /// When it ends (unix seconds, exclusive).
    pub end: u64,
    /// It already holds this many seconds before `start`.
    pub lead_seconds: u64,
    /// The devices it covers; an empty selector covers the whole fleet.
    pub selector: Selector,
    pub created_at: u64,
    pub created_by: String,
    /// Who asked to lift it while it held, waiting for a second operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lift_requested: Option<Confirmation>,
}

impl Freeze {
    /// Whether it holds anyone at `now` (its lead time included).
    pub fn active(&self, now: u64) -> bool {
        self.start.saturating_sub(self.lead_seconds) <= now && now < self.end
    }
}

/// What `GET /v1/admin/freezes` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FreezeList {
    pub freezes: Vec<Freeze>,
    /// The server's clock (unix seconds), to tell which freezes hold.
    pub now: u64,
}

/// What `POST /v1/admin/freezes` takes; it answers the new [`Freeze`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewFreeze {
    pub reason: String,
    pub start: Instant,
    pub end: Instant,
    /// Seconds before `start` from which it already holds (default one hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_seconds: Option<u64>,
    #[serde(default)]
    pub selector: Selector,
}

/// A critical campaign's leave to pass one freeze: asked for by one operator,
/// in effect once another confirms it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FreezeOverride {
    pub freeze: String,
    pub reason: String,
    pub by: String,
    pub at: u64,
    /// Waiting for a second operator's confirmation (no effect until then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    /// Who confirmed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<Confirmation>,
}
