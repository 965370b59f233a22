//! Operators and service accounts: named principals with their own tokens.
//!
//! A token is `sluice_op_{id}_{secret}`: 16 hex digits of id, in clear, and
//! 64 hex digits (256 bits) of secret. The prefix lets secret scanners spot a
//! leaked one. The store keeps, per token, only the secret's SHA-256, the
//! scopes it was granted, who created it and when, when it expires and when it
//! was last used; authenticating reads that one record by id, so a revoked or
//! expired token is refused on the very next request on every host sharing the
//! store.
//!
//! An operator (`alice`, `ci-publisher`, `prometheus`) has one live token at a
//! time: `rotate` replaces it (the old one is revoked at once), `revoke` ends
//! it. A name whose token was revoked or has expired may be added again.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /v1/admin/operators` | every operator, without secrets |
//! | `POST /v1/admin/operators` | `{"name", "roles", "expires_in_seconds"}` (default 90 days; `"never_expires": true` for none) → the operator and its token, shown once |
//! | `GET /v1/admin/operators/{name}` | one operator |
//! | `POST /v1/admin/operators/{name}/revoke` | `{"reason"}` |
//! | `POST /v1/admin/operators/{name}/rotate` | `{"expires_in_seconds"}` → a new token, shown once; the old one stops working |
//! | `GET /v1/admin/whoami` | the caller's name, roles, scopes and expiry |

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sluice_policy::calendar::format_instant;

use sluice_api::admin::devices::Revocation;
use sluice_api::admin::operators::{
    Issued, NewOperator, Operator, RevokeRequest, Role, Scope, TokenLifetime, TokenState, scopes_of,
};

use crate::kernel::credentials::{constant_time_eq, hash_secret};
use crate::kernel::http::{ApiError, stated_reason};
use crate::kernel::names::valid_name;
use crate::kernel::service::Service;
use crate::ops::access::{OWNER, Principal};
use crate::{kernel::keys, kernel::records, ops::audit};

/// What every operator token starts with.
pub const TOKEN_PREFIX: &str = "sluice_op_";
/// Random bytes in a token's id.
const ID_BYTES: usize = 8;
/// Random bytes in a token's secret.
const SECRET_BYTES: usize = 32;
/// A token's lifetime when the request names none: 90 days.
pub const DEFAULT_LIFETIME_SECONDS: u64 = 90 * 24 * 3600;
/// `last_used_at` is written at most this often per token, so reads through
/// the admin API do not each cost a store write.
pub const LAST_USED_RESOLUTION_SECONDS: u64 = 60;
/// Names the service's own actors use, which no operator may take.
pub const RESERVED_NAMES: [&str; 5] = [OWNER, "admin", "policy", "schedule", "system"];
/// Most roles one operator may hold.
const MAX_ROLES: usize = 8;

/// One operator token, as stored at [`keys::operator_token`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    /// The operator it authenticates.
    pub operator: String,
    pub roles: Vec<Role>,
    /// What it was granted, fixed at issue (a later change of a role's
    /// scopes does not widen a token already out).
    pub scopes: BTreeSet<Scope>,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    pub created_by: String,
    pub created_at: u64,
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub last_used_at: Option<u64>,
    #[serde(default)]
    pub revoked: Option<Revocation>,
}

impl TokenRecord {
    fn expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// Whether it still authenticates at `now`.
    pub fn live(&self, now: u64) -> bool {
        self.revoked.is_none() && !self.expired(now)
    }

    /// The operator as the API shows it: everything but the secret's hash.
    pub fn view(&self, now: u64) -> Operator {
        Operator {
            name: self.operator.clone(),
            roles: self.roles.clone(),
            scopes: self.scopes.clone(),
            token: self.id.clone(),
            state: if self.revoked.is_some() {
                TokenState::Revoked
            } else if self.expired(now) {
                TokenState::Expired
            } else {
                TokenState::Active
            },
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked: self.revoked.clone(),
        }
    }
}

/// When a token issued at `now` expires, from a request's
/// `expires_in_seconds` and `never_expires`.
fn expiry(
    expires_in_seconds: Option<u64>,
    never_expires: bool,
    now: u64,
) -> Result<Option<u64>, ApiError> {
    match (expires_in_seconds, never_expires) {
        (Some(_), true) => Err(ApiError::bad_request(
            "give expires_in_seconds or never_expires, not both",
        )),
        (Some(0), false) => Err(ApiError::bad_request("expires_in_seconds must be positive")),
        (Some(seconds), false) => Ok(Some(now.saturating_add(seconds))),
        (None, true) => Ok(None),
        (None, false) => Ok(Some(now + DEFAULT_LIFETIME_SECONDS)),
    }
}

/// Whether `token` has an operator token's shape (rather than the owner's).
pub fn is_operator_token(token: &str) -> bool {
    token.starts_with(TOKEN_PREFIX)
}

/// The id and secret of an operator token.
fn parse_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(TOKEN_PREFIX)?.split_once('_')?;
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    (hex(id, ID_BYTES * 2) && hex(secret, SECRET_BYTES * 2)).then_some((id, secret))
}

fn date(at: u64) -> String {
    format_instant(i64::try_from(at).unwrap_or(i64::MAX))
}

/// Who an operator token stands for; 401 with the reason when it is unknown,
/// revoked or expired. Reads one record and writes nothing (see [`note_use`]).
pub fn authenticate(svc: &Service, token: &str) -> Result<Principal, ApiError> {
    let (id, secret) =
        parse_token(token).ok_or_else(|| ApiError::unauthorized("malformed operator token"))?;
    let key = keys::operator_token(id);
    let record: TokenRecord =
        records::read(svc.store, &key)?.ok_or_else(|| ApiError::unauthorized("unknown token"))?;
    // The secret is checked before anything about the token is told.
    if !constant_time_eq(
        hash_secret(secret).as_bytes(),
        record.secret_hash.as_bytes(),
    ) {
        return Err(ApiError::unauthorized("unknown token"));
    }
    let now = svc.env.now();
    if let Some(revoked) = &record.revoked {
        return Err(ApiError::unauthorized(format!(
            "token revoked by {} on {}: {}",
            revoked.by,
            date(revoked.at),
            revoked.reason
        )));
    }
    if let Some(at) = record.expires_at.filter(|at| now >= *at) {
        return Err(ApiError::unauthorized(format!(
            "token expired on {}",
            date(at)
        )));
    }
    Ok(Principal {
        name: record.operator,
        roles: record.roles,
        scopes: record.scopes,
        token: Some(record.id),
        expires_at: record.expires_at,
        last_used_at: record.last_used_at,
    })
}

/// Notes that `principal`'s token was used now, for a request it may make:
/// at most once per [`LAST_USED_RESOLUTION_SECONDS`], so reads do not each
/// cost a write. Best effort: a lost race or a busy store does not refuse the
/// caller.
pub fn note_use(svc: &Service, principal: &Principal) {
    let Some(id) = &principal.token else {
        return;
    };
    let now = svc.env.now();
    if principal
        .last_used_at
        .is_some_and(|at| now < at + LAST_USED_RESOLUTION_SECONDS)
    {
        return;
    }
    let _ = records::update::<TokenRecord, _>(svc.store, &keys::operator_token(id), |current| {
        Ok(current
            .filter(|c| c.last_used_at < Some(now))
            .map(|c| TokenRecord {
                last_used_at: Some(now),
                ..c.clone()
            }))
    });
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if !valid_name(name) {
        return Err(ApiError::bad_request(
            "name: letters, digits and . _ - + ~ (at most 128)",
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(ApiError::bad_request(format!(
            "name: {name:?} is reserved for the service's own actors"
        )));
    }
    Ok(())
}

/// Scopes of `roles` the caller may grant: only ones it holds itself.
fn grantable(by: &Principal, roles: &[Role]) -> Result<BTreeSet<Scope>, ApiError> {
    if roles.is_empty() || roles.len() > MAX_ROLES {
        return Err(ApiError::bad_request(format!(
            "roles: 1 to {MAX_ROLES} of {}",
            Role::ALL.map(Role::name).join(", ")
        )));
    }
    let scopes = scopes_of(roles);
    let beyond: Vec<&str> = scopes
        .iter()
        .filter(|s| !by.may(**s))
        .map(|s| s.name())
        .collect();
    if !beyond.is_empty() {
        return Err(ApiError::new(
            403,
            "forbidden",
            format!(
                "{} cannot grant scopes it does not hold: {}",
                by.name,
                beyond.join(", ")
            ),
        ));
    }
    Ok(scopes)
}

/// A fresh token for `operator`: its record (not yet stored) and its text.
fn issue(
    svc: &Service,
    operator: &str,
    roles: Vec<Role>,
    scopes: BTreeSet<Scope>,
    by: &Principal,
    expires_at: Option<u64>,
) -> (TokenRecord, String) {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    svc.env.fill_random(&mut id);
    svc.env.fill_random(&mut secret);
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    let (id, secret) = (hex(&id), hex(&secret));
    let record = TokenRecord {
        id: id.clone(),
        operator: operator.to_owned(),
        roles,
        scopes,
        secret_hash: hash_secret(&secret),
        created_by: by.name.clone(),
        created_at: svc.env.now(),
        expires_at,
        last_used_at: None,
        revoked: None,
    };
    (record, format!("{TOKEN_PREFIX}{id}_{secret}"))
}

/// Stores a token record under its (random, fresh) id.
fn store_token(svc: &Service, record: &TokenRecord) -> Result<(), ApiError> {
    let created = svc.store.compare_and_swap(
        &keys::operator_token(&record.id),
        None,
        &records::encode(record),
    )?;
    if created {
        Ok(())
    } else {
        Err(ApiError::new(
            503,
            "retry",
            "a token id was drawn twice; retry",
        ))
    }
}

/// The current token of operator `name`.
fn current(svc: &Service, name: &str) -> Result<Option<TokenRecord>, ApiError> {
    let Some(id) = records::read::<String>(svc.store, &keys::operator(name))? else {
        return Ok(None);
    };
    records::read(svc.store, &keys::operator_token(&id))
}

fn no_operator(name: &str) -> ApiError {
    ApiError::not_found(format!("no operator {name:?}"))
}

/// Adds an operator with a new token (audited as `operator.add`).
pub fn add(svc: &Service, by: &Principal, request: NewOperator) -> Result<Issued, ApiError> {
    check_name(&request.name)?;
    let now = svc.env.now();
    let expires_at = expiry(request.expires_in_seconds, request.never_expires, now)?;
    let scopes = grantable(by, &request.roles)?;
    let mut roles = request.roles;
    roles.sort();
    roles.dedup();
    let (record, token) = issue(svc, &request.name, roles, scopes, by, expires_at);
    store_token(svc, &record)?;
    let named = records::update::<String, _>(svc.store, &keys::operator(&request.name), |old| {
        if let Some(old) = old {
            let old: Option<TokenRecord> = records::read(svc.store, &keys::operator_token(old))?;
            if old.is_some_and(|o| o.live(now)) {
                return Err(ApiError::conflict(format!(
                    "operator {:?} exists with a live token: rotate or revoke it",
                    request.name
                )));
            }
        }
        Ok(Some(record.id.clone()))
    });
    if let Err(e) = named {
        svc.store.delete(&keys::operator_token(&record.id))?;
        return Err(e);
    }
    records::add_to_list(svc.store, keys::OPERATOR_INDEX, &request.name)?;
    let view = record.view(now);
    audit::append(
        svc.store,
        now,
        &by.name,
        "operator.add",
        &view.name,
        None,
        Some(
            json!({"roles": view.roles, "scopes": view.scopes, "token": view.token,
                    "expires_at": view.expires_at}),
        ),
    )?;
    Ok(Issued {
        operator: view,
        token,
    })
}

/// Every operator, in the order they were first added.
pub fn list(svc: &Service) -> Result<Vec<Operator>, ApiError> {
    let names: Vec<String> = records::read(svc.store, keys::OPERATOR_INDEX)?.unwrap_or_default();
    let name_keys: Vec<String> = names.iter().map(|n| keys::operator(n)).collect();
    let ids: Vec<String> = records::read_many(svc.store, &name_keys)?;
    let token_keys: Vec<String> = ids.iter().map(|id| keys::operator_token(id)).collect();
    let tokens: Vec<TokenRecord> = records::read_many(svc.store, &token_keys)?;
    let now = svc.env.now();
    Ok(tokens.iter().map(|t| t.view(now)).collect())
}

/// One operator.
pub fn show(svc: &Service, name: &str) -> Result<Operator, ApiError> {
    if !valid_name(name) {
        return Err(no_operator(name));
    }
    Ok(current(svc, name)?
        .ok_or_else(|| no_operator(name))?
        .view(svc.env.now()))
}

/// Revokes an operator's token (audited as `operator.revoke`); revoking a
/// revoked one changes nothing.
pub fn revoke(
    svc: &Service,
    by: &Principal,
    name: &str,
    request: RevokeRequest,
) -> Result<Operator, ApiError> {
    let reason = stated_reason(&request.reason)?;
    let token = current(svc, name)?.ok_or_else(|| no_operator(name))?;
    let now = svc.env.now();
    let (record, wrote) = revoke_token(svc, &token.id, &by.name, reason, now)?;
    if wrote {
        audit::append(
            svc.store,
            now,
            &by.name,
            "operator.revoke",
            name,
            None,
            Some(json!({"token": token.id, "reason": reason})),
        )?;
    }
    Ok(record.view(now))
}

fn revoke_token(
    svc: &Service,
    id: &str,
    by: &str,
    reason: &str,
    now: u64,
) -> Result<(TokenRecord, bool), ApiError> {
    let (record, wrote) =
        records::update::<TokenRecord, _>(svc.store, &keys::operator_token(id), |current| {
            let current = current.ok_or_else(|| ApiError::internal("token record vanished"))?;
            if current.revoked.is_some() {
                return Ok(None);
            }
            Ok(Some(TokenRecord {
                revoked: Some(Revocation {
                    at: now,
                    by: by.to_owned(),
                    reason: reason.to_owned(),
                }),
                ..current.clone()
            }))
        })?;
    Ok((
        record.ok_or_else(|| ApiError::internal("token record vanished"))?,
        wrote,
    ))
}

/// Gives an operator a new token with the same roles and revokes the old one
/// at once (audited as `operator.rotate`). An expired token may be rotated; a
/// revoked one may not (add the operator again).
pub fn rotate(
    svc: &Service,
    by: &Principal,
    name: &str,
    request: TokenLifetime,
) -> Result<Issued, ApiError> {
    let old = current(svc, name)?.ok_or_else(|| no_operator(name))?;
    if old.revoked.is_some() {
        return Err(ApiError::conflict(format!(
            "operator {name:?} was revoked: add it again to give it a token"
        )));
    }
    let now = svc.env.now();
    let expires_at = expiry(request.expires_in_seconds, request.never_expires, now)?;
    let scopes = grantable(by, &old.roles)?;
    let (record, token) = issue(svc, name, old.roles.clone(), scopes, by, expires_at);
    store_token(svc, &record)?;
    // The old token goes first: a failure from here on leaves the operator
    // with a revoked token (add it again), never a live one nothing names.
    let revoked = revoke_token(
        svc,
        &old.id,
        &by.name,
        &format!("rotated: replaced by token {}", record.id),
        now,
    );
    if !matches!(revoked, Ok((_, true))) {
        svc.store.delete(&keys::operator_token(&record.id))?;
        return Err(revoked.err().unwrap_or_else(|| {
            ApiError::conflict(format!(
                "operator {name:?} was revoked meanwhile: add it again to give it a token"
            ))
        }));
    }
    records::update::<String, _>(svc.store, &keys::operator(name), |current| {
        if current != Some(&old.id) {
            return Err(ApiError::conflict(format!(
                "operator {name:?} changed meanwhile; look at it again"
            )));
        }
        Ok(Some(record.id.clone()))
    })?;
    let view = record.view(now);
    audit::append(
        svc.store,
        now,
        &by.name,
        "operator.rotate",
        name,
        Some(json!({"token": old.id})),
        Some(json!({"token": view.token, "expires_at": view.expires_at})),
    )?;
    Ok(Issued {
        operator: view,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::config::Config;
    use crate::kernel::memory_store::MemoryStore;
    use crate::kernel::service::Environment;
    use std::cell::Cell;

    struct Clock {
        now: Cell<u64>,
        seed: Cell<u8>,
    }

    impl Environment for Clock {
        fn now(&self) -> u64 {
            self.now.get()
        }
        fn fill_random(&self, buf: &mut [u8]) {
            for b in buf {
                self.seed.set(self.seed.get().wrapping_add(1));
                *b = self.seed.get();
            }
        }
    }

    fn with_service(test: impl FnOnce(&Service, &Clock)) {
        let store = MemoryStore::default();
        let config = Config::default();
        let clock = Clock {
            now: Cell::new(1_800_000_000),
            seed: Cell::new(0),
        };
        let svc = Service {
            store: &store,
            policy: &sluice_policy_staged::Staged,
            config: &config,
            env: &clock,
        };
        test(&svc, &clock);
    }

    fn new(name: &str, roles: &[Role], seconds: Option<u64>) -> NewOperator {
        NewOperator {
            name: name.into(),
            roles: roles.to_vec(),
            expires_in_seconds: seconds,
            never_expires: false,
        }
    }

    #[test]
    fn a_token_authenticates_until_it_expires_or_is_revoked() {
        with_service(|svc, clock| {
            let owner = Principal::owner();
            let issued = add(svc, &owner, new("alice", &[Role::Viewer], Some(3600))).unwrap();
            assert!(issued.token.starts_with(TOKEN_PREFIX));
            assert_eq!(issued.token.len(), TOKEN_PREFIX.len() + 16 + 1 + 64);
            let alice = authenticate(svc, &issued.token).unwrap();
            assert_eq!(alice.name, "alice");
            assert_eq!(show(svc, "alice").unwrap().last_used_at, None);
            note_use(svc, &alice);
            assert_eq!(
                show(svc, "alice").unwrap().last_used_at,
                Some(clock.now.get())
            );
            assert!(alice.may(Scope::FleetRead) && !alice.may(Scope::CampaignOperate));

            // A wrong secret under a real id says nothing about the token.
            let wrong = format!("{}0", &issued.token[..issued.token.len() - 1]);
            let wrong = if wrong == issued.token {
                format!("{}1", &issued.token[..issued.token.len() - 1])
            } else {
                wrong
            };
            assert_eq!(
                authenticate(svc, &wrong).unwrap_err().message,
                "unknown token"
            );

            clock.now.set(clock.now.get() + 3600);
            let expired = authenticate(svc, &issued.token).unwrap_err();
            assert_eq!(expired.status, 401);
            assert!(
                expired.message == "token expired on 2027-01-15 09:00 UTC",
                "{}",
                expired.message
            );

            let bob = add(svc, &owner, new("bob", &[Role::Operator], None)).unwrap();
            revoke(
                svc,
                &owner,
                "bob",
                RevokeRequest {
                    reason: "left".into(),
                },
            )
            .unwrap();
            let revoked = authenticate(svc, &bob.token).unwrap_err();
            assert!(
                revoked.message.starts_with("token revoked by owner on ")
                    && revoked.message.ends_with(": left"),
                "{}",
                revoked.message
            );
        });
    }

    #[test]
    fn rotation_replaces_the_token_and_names_stay_unique() {
        with_service(|svc, _| {
            let owner = Principal::owner();
            let first = add(svc, &owner, new("ci", &[Role::ReleaseManager], None)).unwrap();
            let taken = add(svc, &owner, new("ci", &[Role::Viewer], None)).unwrap_err();
            assert_eq!(taken.status, 409, "{}", taken.message);
            let second = rotate(svc, &owner, "ci", TokenLifetime::default()).unwrap();
            assert_ne!(first.token, second.token);
            assert!(
                authenticate(svc, &first.token)
                    .unwrap_err()
                    .message
                    .contains("rotated: replaced by token")
            );
            assert_eq!(authenticate(svc, &second.token).unwrap().name, "ci");
            assert_eq!(show(svc, "ci").unwrap().roles, vec![Role::ReleaseManager]);
            assert_eq!(list(svc).unwrap().len(), 1);
            // A revoked operator's name may be given a new token by adding it.
            revoke(
                svc,
                &owner,
                "ci",
                RevokeRequest {
                    reason: "leak".into(),
                },
            )
            .unwrap();
            assert_eq!(
                rotate(svc, &owner, "ci", TokenLifetime::default())
                    .unwrap_err()
                    .status,
                409
            );
            let again = add(svc, &owner, new("ci", &[Role::ReleaseManager], None)).unwrap();
            assert_eq!(authenticate(svc, &again.token).unwrap().name, "ci");
        });
    }

    #[test]
    fn nobody_grants_what_they_do_not_hold_and_reserved_names_are_refused() {
        with_service(|svc, _| {
            let owner = Principal::owner();
            assert_eq!(
                add(svc, &owner, new("owner", &[Role::Viewer], None))
                    .unwrap_err()
                    .status,
                400
            );
            assert_eq!(
                add(svc, &owner, new("admin:x", &[Role::Viewer], None))
                    .unwrap_err()
                    .status,
                400
            );
            assert_eq!(
                add(svc, &owner, new("empty", &[], None))
                    .unwrap_err()
                    .status,
                400
            );
            let operator = Principal {
                name: "olga".into(),
                roles: vec![Role::Operator],
                scopes: scopes_of(&[Role::Operator, Role::Owner]),
                token: None,
                expires_at: None,
                last_used_at: None,
            };
            let mut limited = operator.clone();
            limited.scopes = scopes_of(&[Role::Operator])
                .into_iter()
                .chain([Scope::OperatorManage])
                .collect();
            let refused = add(svc, &limited, new("eve", &[Role::Approver], None)).unwrap_err();
            assert_eq!(refused.status, 403);
            assert!(
                refused.message.contains("campaign:approve"),
                "{}",
                refused.message
            );
            assert!(add(svc, &limited, new("oscar", &[Role::Viewer], None)).is_ok());
            assert!(add(svc, &operator, new("amy", &[Role::Approver], None)).is_ok());
        });
    }

    #[test]
    fn malformed_tokens_are_refused_before_the_store_is_read() {
        for token in [
            "sluice_op_",
            "sluice_op_0123456789abcdef",
            "sluice_op_0123456789ABCDEF_00",
            "sluice_op_xyz_0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(parse_token(token).is_none(), "{token}");
        }
        let good = format!("sluice_op_{}_{}", "a".repeat(16), "0".repeat(64));
        assert!(parse_token(&good).is_some());
    }
}
