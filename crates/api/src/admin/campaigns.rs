//! Campaigns: `POST /v1/admin/campaigns`, `GET /v1/admin/campaigns[/{id}]` and
//! the operator actions under `/v1/admin/campaigns/{id}/`.
//!
//! A campaign is answered as [`Campaign`]; the service stores a record of its
//! own beside it (with what only the service needs: whether a scheduled start
//! was audited, whether its counters may be recounted), and the values both
//! share ([`Selector`], [`Ring`], [`Gate`], [`Approval`], …) are defined here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_policy::OutcomeCounts;

use crate::admin::four_eyes::Confirmation;
use crate::admin::freezes::FreezeOverride;
use crate::instant::Instant;

/// How long a ring soaks when its creator names no soak.
pub const DEFAULT_RING_SOAK_SECONDS: u64 = 3600;

/// A campaign's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Offering the release as the policy allows.
    Running,
    /// Paused by an operator: no new offers; devices already updating carry on.
    Paused,
    /// Stopped by the policy (failures rose): no new offers.
    Halted,
    /// Stopped by an operator: devices still updating are told to stop.
    Aborted,
    /// Devices that installed the release are sent back to their previous version.
    RolledBack,
    /// Every stage done.
    Completed,
    /// Its end time passed: no new offers; devices already updating finish.
    Ended,
}

impl CampaignState {
    /// Still listed among active campaigns (check-in looks at it).
    pub fn is_active(self) -> bool {
        !matches!(
            self,
            CampaignState::Aborted | CampaignState::Completed | CampaignState::Ended
        )
    }

    /// Its name on the wire.
    ///
    /// ```
    /// # use sluice_api::admin::campaigns::CampaignState;
    /// assert_eq!(CampaignState::RolledBack.as_str(), "rolled_back");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Halted => "halted",
            CampaignState::Aborted => "aborted",
            CampaignState::RolledBack => "rolled_back",
            CampaignState::Completed => "completed",
            CampaignState::Ended => "ended",
        }
    }
}

/// Which devices a campaign (or a freeze) targets. Empty lists match
/// everything; every non-empty list must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Hardware ids (the release must also have an image for the device's hardware).
    #[serde(default)]
    pub hardware: Vec<String>,
    /// Tags the device must all have (from enrolment).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Explicit device ids.
    #[serde(default)]
    pub ids: Vec<String>,
    /// Versions the device must currently run.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Attribute values the device must all have (from enrolment, or reported by
    /// a DDI client's `configData`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// The image a campaign installs on one hardware id, fixed at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImageRef {
    pub manifest_id: String,
    pub security_version: u64,
    pub size: u64,
}

/// A pilot ring: devices named one by one, opened before the policy's stages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Ring {
    pub name: String,
    pub ids: Vec<String>,
    /// Whether an operator must approve before the next step opens.
    #[serde(default)]
    pub approve: bool,
    /// After this long, the ring may close without the devices that never
    /// took part (none may still be updating, and one must have finished).
    #[serde(default = "default_soak")]
    pub soak_seconds: u64,
}

fn default_soak() -> u64 {
    DEFAULT_RING_SOAK_SECONDS
}

/// A ring as an operator writes it (`soak` as `"30m"`, `"2h"`, `"1d"`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRing {
    pub name: String,
    pub ids: Vec<String>,
    #[serde(default)]
    pub approve: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<String>,
}

/// A closed gate: the campaign waits for an operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Gate {
    /// The step that is done, e.g. `ring pilot` or `stage 0`.
    pub after: String,
    /// The step approval opens, e.g. `ring customer`, `stage 0`.
    pub opens: String,
    /// The percentage stage approval opens, when it opens one after a stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_stage: Option<u32>,
    /// Since when it waits.
    pub since: u64,
    /// The finished step's figures when it closed.
    pub figures: OutcomeCounts,
}

/// An approval, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Approval {
    pub after: String,
    pub opened: String,
    pub by: String,
    pub at: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The approved step's figures at the moment of approval.
    pub figures: OutcomeCounts,
    /// The campaign's figures then.
    pub total: OutcomeCounts,
}

/// How many devices a campaign could reach when it was created: enrolled, not
/// revoked, of a hardware it has an image for, matching its selector, not
/// already on its release, and not past its security version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Reach {
    pub devices: u64,
    /// Counted over a sample of the fleet (scaled), not every device.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

/// A campaign, as every campaign route answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Campaign {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// The release version.
    pub release: String,
    /// The release's images, by hardware id, fixed at creation (on the wire
    /// under the name the first releases gave them).
    #[serde(rename = "manifests")]
    pub images: BTreeMap<String, ImageRef>,
    pub selector: Selector,
    /// The policy configuration, JSON text as given.
    pub policy: String,
    /// Asked for by its creator; in effect unless it still waits for a second
    /// operator's confirmation.
    pub critical: bool,
    /// Critical, waiting for a second operator to confirm; until then it runs
    /// as an ordinary campaign.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub critical_pending: bool,
    /// Who confirmed that it is critical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_confirmed: Option<Confirmation>,
    /// The operator who created it (empty for campaigns created before
    /// operators had names of their own).
    #[serde(default)]
    pub created_by: String,
    pub state: CampaignState,
    /// Why it was halted, rolled back or aborted.
    #[serde(default)]
    pub reason: Option<String>,
    /// The current step: `ring NAME` while a pilot ring is open, else
    /// `stage N`.
    pub step: String,
    /// The policy's percentage stage (0 while pilot rings are open).
    pub stage: u32,
    /// When the current step began: a ring's opening, a gate's approval or
    /// the policy's last advance (the name is older than rings).
    pub stage_started_at: u64,
    pub created_at: u64,
    pub updated_at: u64,
    /// No offers before this instant (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<u64>,
    /// No new offers from this instant on; the campaign then ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<u64>,
    /// Counts the campaign's changes (webhook receivers order its events by it).
    #[serde(default)]
    pub revision: u64,
    /// Freezes this (critical) campaign may pass, each named by an operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze_overrides: Vec<FreezeOverride>,
    /// Pilot rings, before the policy's stages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rings: Vec<Ring>,
    /// The open ring; `rings.len()` once the percentage stages run.
    #[serde(default)]
    pub ring: u32,
    /// Percentage stages after which an operator must approve the next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approve_stages: Vec<u32>,
    /// The gate the campaign waits at, for an operator's approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Gate>,
    /// Approvals given, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Approval>,
    /// The devices it could reach when it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<Reach>,
}

/// What `GET /v1/admin/campaigns` answers: every campaign, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CampaignList {
    pub campaigns: Vec<Campaign>,
}

/// What `POST /v1/admin/campaigns` takes; it answers the new [`Campaign`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    pub release: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub selector: Selector,
    /// The policy configuration (any JSON value; passed to the policy as text).
    #[serde(default = "empty_object")]
    pub policy: serde_json::Value,
    #[serde(default)]
    pub critical: bool,
    /// No offers before this instant (unix seconds or RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<Instant>,
    /// No new offers from this instant on (unix seconds or RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<Instant>,
    /// Pilot rings: explicit device lists, opened one after the other before
    /// the policy's stages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rings: Vec<NewRing>,
    /// Percentage stages after which an operator must approve the next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approve_stages: Vec<u32>,
}

impl NewCampaign {
    /// A campaign of `release` over every device with an image in it, under
    /// the policy's defaults: set the other fields on it.
    ///
    /// ```
    /// use sluice_api::admin::campaigns::{NewCampaign, Selector};
    ///
    /// let campaign = NewCampaign {
    ///     selector: Selector { hardware: vec!["cam-v2".into()], ..Selector::default() },
    ///     ..NewCampaign::new("2.0.0")
    /// };
    /// assert_eq!(
    ///     serde_json::to_value(&campaign).unwrap(),
    ///     serde_json::json!({
    ///         "release": "2.0.0", "name": "", "policy": {}, "critical": false,
    ///         "selector": {"hardware": ["cam-v2"], "tags": [], "ids": [], "versions": []},
    ///     })
    /// );
    /// ```
    pub fn new(release: impl Into<String>) -> NewCampaign {
        NewCampaign {
            release: release.into(),
            name: String::new(),
            selector: Selector::default(),
            policy: empty_object(),
            critical: false,
            start_at: None,
            end_at: None,
            rings: Vec::new(),
            approve_stages: Vec::new(),
        }
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// What `POST …/{id}/approve` takes (an empty body: no note).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    #[serde(default)]
    pub note: String,
}

/// What `POST …/{id}/override-freeze` takes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OverrideFreezeRequest {
    pub freeze: String,
    pub reason: String,
}

/// What `POST …/{id}/confirm-override` takes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfirmOverrideRequest {
    pub freeze: String,
}

/// What `POST …/{id}/recount` takes (an empty body: only report).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RecountRequest {
    /// Add the differences to the counters (otherwise only report them).
    #[serde(default)]
    pub apply: bool,
}

/// What a recount found, and whether it corrected it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Recount {
    pub campaign: String,
    /// Devices whose state was read.
    pub scanned: u64,
    /// Of them, devices offered the campaign.
    pub devices: u64,
    /// Counters whose stored value differs from the recount.
    pub differences: Vec<Difference>,
    /// Whether the differences were added to the counters.
    pub applied: bool,
    /// Devices in the campaign whose history does not say which failure codes
    /// they reported (states from before histories were kept); failure codes
    /// are then left as they are.
    pub without_history: u64,
    /// Leftover counts of requests that were gone, applied before counting.
    pub settled: u64,
}

/// One counter that does not match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Difference {
    pub counter: String,
    pub stored: i64,
    pub counted: i64,
}

/// One step of a campaign and the outcomes of the devices offered in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StepCounts {
    /// `ring NAME` for a pilot ring, `stage N` for the policy's stage `N`.
    pub name: String,
    pub counts: OutcomeCounts,
}

/// What `GET /v1/admin/campaigns/{id}` answers: the campaign and its figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Progress {
    pub campaign: Campaign,
    pub total: OutcomeCounts,
    pub in_flight: u64,
    /// Each step reached so far, in order: pilot rings first, then the
    /// policy's stages from 0.
    pub steps: Vec<StepCounts>,
    pub failure_codes: BTreeMap<String, i64>,
    /// Check-ins the campaign deferred, by the category of the policy's reason
    /// (`sluice_policy::DEFER_CATEGORIES`).
    #[serde(default)]
    pub deferrals: BTreeMap<String, i64>,
    /// Devices per version across the fleet.
    pub versions: BTreeMap<String, i64>,
    /// Devices of the campaign in each unfinished phase now (`offered`,
    /// `downloading`, `downloaded`, `installing`, `rebooting`).
    #[serde(default)]
    pub phases: BTreeMap<String, i64>,
    /// The failure rate of the current step and of the whole campaign, with
    /// its confidence interval against the threshold the policy states.
    #[serde(default)]
    pub failure_bounds: Vec<FailureBound>,
    /// The campaign's totals over its life, ending now.
    #[serde(default)]
    pub curve: Option<Curve>,
    /// When it should finish, at its recent pace (for campaigns created
    /// since reach is counted).
    #[serde(default)]
    pub estimate: Option<Estimate>,
}

/// The failure rate of some devices, its interval and the threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FailureBound {
    /// `this step` or `the campaign`.
    pub scope: String,
    pub failed: u64,
    pub finished: u64,
    /// The interval the true failure rate lies in, with `confidence`.
    pub lower: f64,
    pub upper: f64,
    pub confidence: f64,
    /// The threshold the policy states, if it states one.
    pub threshold: Option<f64>,
    /// The fewest finished devices the policy judges a rate on.
    pub min_sample: Option<u64>,
    /// The interval against the threshold, in words.
    pub verdict: String,
}

/// A campaign's totals over time (stored as it is answered).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Curve {
    /// Seconds between points, at least.
    pub resolution: u64,
    pub points: Vec<Point>,
}

/// The campaign's totals at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Point {
    pub at: u64,
    pub offered: u64,
    pub succeeded: u64,
    /// Failed, rolled back or rejected.
    pub unsuccessful: u64,
}

impl Point {
    /// Devices that finished, either way.
    pub fn finished(&self) -> u64 {
        self.succeeded + self.unsuccessful
    }
}

/// When a campaign should be done, at its recent pace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Estimate {
    /// Devices the campaign can reach that have not finished.
    pub remaining: u64,
    /// Devices finished per hour over the span the pace is taken from.
    pub per_hour: f64,
    /// Seconds the pace was measured over (about half an hour, or the
    /// campaign's age if it is younger).
    pub over_seconds: u64,
    /// Seconds to go at that pace; `None` when nothing finished lately or
    /// the campaign does not run.
    pub seconds: Option<u64>,
    /// Why there is no figure, when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}
