//! Operators and who may do what: `GET`, `POST /v1/admin/operators`, `GET
//! /v1/admin/operators/{name}`, `POST …/{name}/{revoke,rotate}` and `GET
//! /v1/admin/whoami`, with the scopes and roles they grant.
//!
//! ```
//! use sluice_api::admin::operators::{Role, Scope};
//!
//! assert!(Role::Approver.scopes().contains(&Scope::CampaignApprove));
//! assert!(!Role::ReleaseManager.scopes().contains(&Scope::CampaignApprove));
//! assert_eq!(Scope::parse("metrics:read"), Some(Scope::MetricsRead));
//! ```

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::admin::devices::Revocation;

/// One power over the fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read devices, releases, campaigns, freezes and the fleet summary.
    FleetRead,
    /// Read `/metrics` (and nothing else: what a Prometheus scraper needs).
    MetricsRead,
    /// Enrol devices (and receive their secrets).
    DeviceEnrol,
    /// Revoke devices.
    DeviceRevoke,
    /// Upload chunks and publish signed releases.
    ReleasePublish,
    /// Give the server a newer root-signed key statement.
    KeysManage,
    /// Create campaigns (and preview them).
    CampaignCreate,
    /// Pause, resume, abort, roll back and recount campaigns.
    CampaignOperate,
    /// Approve a campaign's gates and confirm a critical campaign.
    CampaignApprove,
    /// Declare change freezes, and ask to lift one.
    FreezeManage,
    /// Let a critical campaign pass a freeze, and confirm lifting an active one.
    FreezeOverride,
    /// Read and export the audit log.
    AuditRead,
    /// Create, rotate and revoke operators; set the four-eyes rule.
    OperatorManage,
}

impl Scope {
    /// Every scope, in the order the README's table lists them.
    pub const ALL: [Scope; 13] = [
        Scope::FleetRead,
        Scope::MetricsRead,
        Scope::DeviceEnrol,
        Scope::DeviceRevoke,
        Scope::ReleasePublish,
        Scope::KeysManage,
        Scope::CampaignCreate,
        Scope::CampaignOperate,
        Scope::CampaignApprove,
        Scope::FreezeManage,
        Scope::FreezeOverride,
        Scope::AuditRead,
        Scope::OperatorManage,
    ];

    /// The scope's name on the wire and in the README (`campaign:approve`).
    pub fn name(self) -> &'static str {
        match self {
            Scope::FleetRead => "fleet:read",
            Scope::MetricsRead => "metrics:read",
            Scope::DeviceEnrol => "device:enrol",
            Scope::DeviceRevoke => "device:revoke",
            Scope::ReleasePublish => "release:publish",
            Scope::KeysManage => "keys:manage",
            Scope::CampaignCreate => "campaign:create",
            Scope::CampaignOperate => "campaign:operate",
            Scope::CampaignApprove => "campaign:approve",
            Scope::FreezeManage => "freeze:manage",
            Scope::FreezeOverride => "freeze:override",
            Scope::AuditRead => "audit:read",
            Scope::OperatorManage => "operator:manage",
        }
    }

    /// The scope named `name`.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Scope::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("no scope {name:?}")))
    }
}

/// A named bundle of scopes, given to an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads the fleet, releases, campaigns and freezes.
    Viewer,
    /// Scrapes `/metrics`: a Prometheus server's account.
    Monitor,
    /// Publishes releases (a CI job's account).
    ReleaseManager,
    /// Enrols devices, runs campaigns, declares freezes.
    Operator,
    /// The second pair of eyes: approves gates, confirms critical campaigns
    /// and freeze overrides.
    Approver,
    /// Revokes devices, manages signing-key statements, overrides freezes,
    /// reads the audit log.
    SecurityOfficer,
    /// Reads and exports the audit log.
    Auditor,
    /// Everything, including managing operators.
    Owner,
}

impl Role {
    /// Every role, in the order the README's table lists them.
    pub const ALL: [Role; 8] = [
        Role::Viewer,
        Role::Monitor,
        Role::ReleaseManager,
        Role::Operator,
        Role::Approver,
        Role::SecurityOfficer,
        Role::Auditor,
        Role::Owner,
    ];

    /// The role's name (`release-manager`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Monitor => "monitor",
            Role::ReleaseManager => "release-manager",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::SecurityOfficer => "security-officer",
            Role::Auditor => "auditor",
            Role::Owner => "owner",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The scopes the role grants.
    pub fn scopes(self) -> &'static [Scope] {
        use Scope::*;
        match self {
            Role::Viewer => &[FleetRead],
            Role::Monitor => &[MetricsRead],
            Role::ReleaseManager => &[FleetRead, ReleasePublish],
            Role::Operator => &[
                FleetRead,
                MetricsRead,
                DeviceEnrol,
                CampaignCreate,
                CampaignOperate,
                FreezeManage,
            ],
            Role::Approver => &[FleetRead, CampaignApprove, FreezeOverride],
            Role::SecurityOfficer => &[
                FleetRead,
                DeviceRevoke,
                KeysManage,
                FreezeManage,
                FreezeOverride,
                AuditRead,
            ],
            Role::Auditor => &[FleetRead, AuditRead],
            Role::Owner => &Scope::ALL,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Role::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "no role {name:?}; roles are {}",
                Role::ALL.map(Role::name).join(", ")
            ))
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Scope {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scope".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names = Scope::ALL.map(Scope::name);
        schemars::json_schema!({"type": "string", "enum": names})
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Role {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Role".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names = Role::ALL.map(Role::name);
        schemars::json_schema!({"type": "string", "enum": names})
    }
}

/// The scopes of `roles`, together.
pub fn scopes_of(roles: &[Role]) -> BTreeSet<Scope> {
    roles
        .iter()
        .flat_map(|r| r.scopes().iter().copied())
        .collect()
}

/// Who a request's token stands for: what `GET /v1/admin/whoami` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WhoAmI {
    /// The name the audit log records: the operator's, or `owner`.
    pub name: String,
    /// What the token was granted.
    pub roles: Vec<Role>,
    pub scopes: BTreeSet<Scope>,
    /// The operator token's id; none for the owner token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When the token expires (unix seconds); none if it does not.
    pub expires_at: Option<u64>,
}

/// An operator as the operator routes show it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Operator {
    pub name: String,
    pub roles: Vec<Role>,
    pub scopes: BTreeSet<Scope>,
    /// The id of its current token (in clear in the token itself).
    pub token: String,
    pub state: TokenState,
    pub created_by: String,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub last_used_at: Option<u64>,
    pub revoked: Option<Revocation>,
}

/// Whether a token still authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

impl TokenState {
    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Expired => "expired",
            TokenState::Revoked => "revoked",
        }
    }
}

/// What `GET /v1/admin/operators` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OperatorList {
    pub operators: Vec<Operator>,
}

/// A new token (`POST /v1/admin/operators`, `…/rotate`): the operator and the
/// token text, shown this once.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Issued {
    pub operator: Operator,
    pub token: String,
}

/// What `POST /v1/admin/operators` takes.
///
/// ```
/// use sluice_api::admin::operators::{NewOperator, Role};
///
/// let request = NewOperator {
///     name: "ci-publisher".into(),
///     roles: vec![Role::ReleaseManager],
///     expires_in_seconds: Some(86_400),
///     never_expires: false,
/// };
/// assert_eq!(
///     serde_json::to_string(&request).unwrap(),
///     r#"{"name":"ci-publisher","roles":["release-manager"],"expires_in_seconds":86400}"#
/// );
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    pub name: String,
    pub roles: Vec<Role>,
    /// How long the token lives (default 90 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
    /// A token that never expires (instead of `expires_in_seconds`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_expires: bool,
}

/// What `POST …/operators/{name}/rotate` takes: how long the new token lives,
/// `expires_in_seconds` (default 90 days) or `"never_expires": true`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenLifetime {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
    /// A token that never expires (instead of `expires_in_seconds`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_expires: bool,
}

impl TokenLifetime {
    /// A token that lives `seconds`.
    pub fn seconds(seconds: u64) -> TokenLifetime {
        TokenLifetime {
            expires_in_seconds: Some(seconds),
            never_expires: false,
        }
    }

    /// A token that never expires.
    pub fn never() -> TokenLifetime {
        TokenLifetime {
            expires_in_seconds: None,
            never_expires: true,
        }
    }
}

/// What `POST …/operators/{name}/revoke` and `POST
/// /v1/admin/devices/{id}/revoke` take.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub reason: String,
}
