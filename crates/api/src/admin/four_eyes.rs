//! The four-eyes rule: `GET`, `PUT /v1/admin/four-eyes`, and the confirmations
//! a second operator gives wherever it holds.

use serde::{Deserialize, Serialize};

/// Who confirmed a change, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Confirmation {
    pub by: String,
    pub at: u64,
}

/// The rule as last set: by whom, when and why (stored as it is answered).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Setting {
    pub required: bool,
    pub reason: String,
    pub by: String,
    pub at: u64,
}

/// What `PUT /v1/admin/four-eyes` takes; it answers the new [`Setting`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetFourEyes {
    pub required: bool,
    pub reason: String,
}

/// What `GET /v1/admin/four-eyes` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FourEyes {
    /// Whether a second operator must confirm (true unless relaxed).
    pub required: bool,
    /// The setting, if the rule was ever set.
    pub setting: Option<Setting>,
}
