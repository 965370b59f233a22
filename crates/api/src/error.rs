//! The body of every refused request: a stable code for programs, a message for
//! people.

use serde::{Deserialize, Serialize};

/// `{"error": code, "message": message}`, the answer to any request the server
/// refuses or cannot serve (4xx and 5xx).
///
/// ```
/// use sluice_api::error::ErrorAnswer;
///
/// let body: ErrorAnswer =
///     serde_json::from_str(r#"{"error":"campaign_aborted","message":"stop"}"#).unwrap();
/// assert_eq!(body.error, "campaign_aborted");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ErrorAnswer {
    /// A stable, machine-readable code such as `unauthorized` or
    /// `campaign_aborted`.
    pub error: String,
    /// What went wrong and what to do, for people.
    pub message: String,
}
