//! Who is asking, and what they may do: scopes, the roles that bundle them, and
//! the principal a bearer token stands for.
//!
//! Every admin route, `/metrics` and the campaign preview take a bearer token,
//! one of two kinds:
//!
//! - an **operator token** (`sluice_op_{id}_{secret}`, see [`crate::ops::operators`]),
//!   a person's or a service account's own credential: it carries the scopes
//!   of its roles, expires, and is revoked on its own;
//! - the **owner token** (the `admin_token` variable): the break-glass
//!   credential that creates the first operators. It holds every scope and
//!   acts as `owner`, so the audit log shows each change made with it.
//!
//! What a route needs is declared once, in [`crate::admin::ROUTES`].
//!
//! ```
//! use sluice_service::ops::access::{Role, Scope};
//!
//! assert!(Role::Approver.scopes().contains(&Scope::CampaignApprove));
//! assert!(!Role::ReleaseManager.scopes().contains(&Scope::CampaignApprove));
//! assert_eq!(Scope::parse("metrics:read"), Some(Scope::MetricsRead));
//! ```

use std::collections::BTreeSet;

use sluice_api::admin::operators::WhoAmI;
pub use sluice_api::admin::operators::{Role, Scope, scopes_of};

use crate::kernel::credentials::token_matches;
use crate::kernel::http::{ApiError, Request};
use crate::kernel::service::Service;

/// The actor the owner token acts as.
pub const OWNER: &str = "owner";

/// Who a request's token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The name the audit log records: the operator's, or [`OWNER`].
    pub name: String,
    /// What the token was granted.
    pub roles: Vec<Role>,
    pub scopes: BTreeSet<Scope>,
    /// The operator token's id; none for the owner token.
    pub token: Option<String>,
    /// When the token expires (unix seconds); none if it does not.
    pub expires_at: Option<u64>,
    /// When the token was last noted as used (see [`crate::ops::operators::note_use`]).
    pub last_used_at: Option<u64>,
}

impl Principal {
    /// What `GET /v1/admin/whoami` answers about it.
    pub fn view(&self) -> WhoAmI {
        WhoAmI {
            name: self.name.clone(),
            roles: self.roles.clone(),
            scopes: self.scopes.clone(),
            token: self.token.clone(),
            expires_at: self.expires_at,
        }
    }

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
    if crate::ops::operators::is_operator_token(token) {
        return crate::ops::operators::authenticate(svc, token);
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
