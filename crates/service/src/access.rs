//! Who is asking, and what they may do: scopes, the roles that bundle them, and
//! the principal a bearer token stands for.
//!
//! Every admin route, `/metrics` and the campaign preview take a bearer token,
//! one of two kinds:
//!
//! - an **operator token** (`sluice_op_{id}_{secret}`, see [`crate::operators`]),
//!   a person's or a service account's own credential: it carries the scopes
//!   of its roles, expires, and is revoked on its own;
//! - the **owner token** (the `admin_token` variable): the break-glass
//!   credential that creates the first operators. It holds every scope and
//!   acts as `owner`, so the audit log shows each change made with it.
//!
//! What a route needs is declared once, in [`crate::admin::ROUTES`].
//!
//! ```
//! use sluice_service::access::{Role, Scope};
//!
//! assert!(Role::Approver.scopes().contains(&Scope::CampaignApprove));
//! assert!(!Role::ReleaseManager.scopes().contains(&Scope::CampaignApprove));
//! assert_eq!(Scope::parse("metrics:read"), Some(Scope::MetricsRead));
//! ```

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::credentials::token_matches;
use crate::http::{ApiError, Request};
use crate::service::Service;

/// The actor the owner token acts as.
pub const OWNER: &str = "owner";

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

/// The scopes of `roles`, together.
pub fn scopes_of(roles: &[Role]) -> BTreeSet<Scope> {
    roles
        .iter()
        .flat_map(|r| r.scopes().iter().copied())
        .collect()
}

/// Who a request's token stands for (what `GET /v1/admin/whoami` answers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The name the audit log records: the operator's, or [`OWNER`].
    pub name: String,
    /// What the token was granted.
    pub roles: Vec<Role>,
    pub scopes: BTreeSet<Scope>,
    /// The operator token's id; none for the owner token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When the token expires (unix seconds); none if it does not.
    pub expires_at: Option<u64>,
    /// When the token was last noted as used (see [`crate::operators::note_use`]).
    #[serde(skip)]
    pub last_used_at: Option<u64>,
}

impl Principal {
    /// The owner token's principal: every scope.
    pub fn owner() -> Principal {
        Principal {
            name: OWNER.to_owned(),
            roles: vec![Role::Owner],
            scopes: Scope::ALL.into_iter().collect(),
            token: None,
            expires_at: None,
            last_used_at: None,
        }
    }

    /// Whether the token holds `scope`.
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// `Ok` if the token holds `scope`; otherwise a 403 that names the scope
    /// `what` needs and the caller's roles.
    pub fn require(&self, scope: Scope, what: &str) -> Result<(), ApiError> {
        if self.may(scope) {
            return Ok(());
        }
        Err(ApiError::new(
            403,
            "forbidden",
            format!(
                "{what} needs the scope {scope}, which {} ({}) does not hold",
                self.name,
                self.roles
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

/// The bearer token of `request`.
fn bearer(request: &Request) -> Result<&str, ApiError> {
    request
        .header_value("authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "a bearer token is required: an operator's own token (sluice operator add) or the owner token",
            )
        })
}

/// Who `request` comes from: the holder of a valid operator token or of the
/// owner token. Refuses anything else with 401 and says why (unknown, revoked
/// or expired), reading one record for an operator token and none for the
/// owner's.
pub fn authenticate(svc: &Service, request: &Request) -> Result<Principal, ApiError> {
    let token = bearer(request)?;
    if crate::operators::is_operator_token(token) {
        return crate::operators::authenticate(svc, token);
    }
    let Some(owner) = svc.config.admin_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(ApiError::new(
            503,
            "admin_disabled",
            "no owner token is configured (the admin_token variable) and this is not an operator token",
        ));
    };
    if token_matches(token, owner) {
        Ok(Principal::owner())
    } else {
        Err(ApiError::unauthorized("unknown token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.name()), Some(scope));
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), scope);
        }
        for role in Role::ALL {
            assert_eq!(Role::parse(role.name()), Some(role));
        }
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }

    #[test]
    fn no_role_but_the_owner_manages_operators_and_powers_are_split() {
        for role in Role::ALL {
            let scopes = role.scopes();
            assert_eq!(
                scopes.contains(&Scope::OperatorManage),
                role == Role::Owner,
                "{role}"
            );
            // Who runs campaigns never approves them: the four-eyes rule
            // holds by role as well as by name.
            if role != Role::Owner {
                assert!(
                    !(scopes.contains(&Scope::CampaignCreate)
                        && scopes.contains(&Scope::CampaignApprove)),
                    "{role}"
                );
            }
        }
        assert_eq!(Role::Monitor.scopes(), &[Scope::MetricsRead]);
        assert_eq!(scopes_of(&[Role::Owner]).len(), Scope::ALL.len());
    }

    #[test]
    fn a_missing_scope_is_refused_with_its_name() {
        let viewer = Principal {
            name: "vera".into(),
            roles: vec![Role::Viewer],
            scopes: scopes_of(&[Role::Viewer]),
            token: Some("0123456789abcdef".into()),
            expires_at: None,
            last_used_at: None,
        };
        assert!(viewer.require(Scope::FleetRead, "reading").is_ok());
        let refused = viewer
            .require(Scope::CampaignOperate, "POST /v1/admin/campaigns/c1/pause")
            .unwrap_err();
        assert_eq!(refused.status, 403);
        assert!(
            refused.message.contains("campaign:operate") && refused.message.contains("viewer"),
            "{}",
            refused.message
        );
        assert!(Principal::owner().may(Scope::OperatorManage));
    }
}
