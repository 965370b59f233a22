//! Sluice's wire API: the JSON bodies that cross the network, defined once.
//!
//! The service serialises answers from these types and parses requests into
//! them; the device agent, the CLI and the simulator do the opposite with the
//! same types, so a renamed field fails a build instead of a fleet. Closed sets
//! of values (`update`/`rollback`/`none`, a device's reported phase) are enums.
//!
//! Where the service keeps something an answer must not show (a device's
//! credential hash and pending counts, a campaign's recount flags), it stores
//! a record of its own and answers through these types; where a stored value
//! is exactly what is answered (a freeze, a release, a campaign's curve, the
//! values a campaign record is made of), the service stores the type from
//! here, so changing one of those changes what is stored as well. The crate
//! holds no logic beyond naming and looking up its own values; it depends on
//! `serde`, `serde_json` (a campaign's policy configuration is any JSON) and
//! `sluice-policy` (the outcome counts and calendar both sides share).
//!
//! Modules follow the routes:
//! - [`checkin`]: `POST /v1/checkin`;
//! - [`status`]: `POST /v1/status`;
//! - [`error`]: the body of every refused request;
//! - [`admin`]: the operator API under `/v1/admin/`, one module per area;
//! - [`instant`]: instants as operators write them (seconds or RFC 3339);
//! - [`openapi`]: the OpenAPI 3.1 document of all of it, served at
//!   `GET /v1/openapi.json`.
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
pub mod instant;
pub mod openapi;
pub mod status;
