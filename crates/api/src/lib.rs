//! Sluice's wire API: the JSON bodies that cross the network, defined once.
//!
//! The service serialises answers from these types and parses requests into
//! them; the device agent, the CLI and the simulator do the opposite with the
//! same types, so a renamed field fails a build instead of a fleet. Closed sets
//! of values (`update`/`rollback`/`none`, a device's reported phase) are enums.
//!
//! The service's key-value records are its own types, answered through these;
//! a few embed small values from here (a device's telemetry, a rollout's phase
//! and failure), so changing one of those changes what is stored as well. The
//! crate holds no logic and depends only on `serde`.
//!
//! Modules follow the routes:
//! - [`checkin`]: `POST /v1/checkin`;
//! - [`status`]: `POST /v1/status`;
//! - [`error`]: the body of every refused request;
//! - [`admin`]: the operator API under `/v1/admin/` (being moved here area by
//!   area; so far enrolment and the fleet views).
//!
//! ```
//! use sluice_api::checkin::{CheckinAction, CheckinAnswer};
//!
//! let answer: CheckinAnswer = serde_json::from_str(
//!     r#"{"action":"update","campaign":"c1","release":"2.0.0",
//!         "manifest_url":"/v1/releases/2.0.0/manifest","next_poll_seconds":300}"#,
//! )
//! .unwrap();
//! assert_eq!(answer.action, CheckinAction::Update);
//! ```

pub mod admin;
pub mod checkin;
pub mod error;
pub mod status;
