//! The key statement: the root-signed list of signing keys and revocations that
//! publishing checks releases against.

use serde_json::json;
use sluice_protocol::Envelope;

use crate::kernel::http::ApiError;
use crate::kernel::service::Service;
use crate::{kernel::keys, ops::audit};

/// Stores a newer root-signed key statement, so that publishing refuses keys it
/// revokes and devices can be given it.
pub fn put_key_statement(svc: &Service, body: &[u8], by: &str) -> Result<u64, ApiError> {
    let trust =
        svc.config.trust_root.as_ref().ok_or_else(|| {
            ApiError::new(503, "no_trust_root", "set the trust_root variable first")
        })?;
    let envelope: Envelope = sluice_protocol::decode_statement_file(body)
        .map_err(|e| ApiError::new(422, "statement_refused", e.to_string()))?;
    let statement = trust
        .verify_statement(&envelope)
        .map_err(|e| ApiError::new(422, "statement_refused", e.to_string()))?;
    let now = svc.env.now();
    let current = match svc.store.get(keys::KEY_STATEMENT)? {
        Some(bytes) => sluice_protocol::decode_statement_file(&bytes)
            .ok()
            .and_then(|e| trust.verify_statement(&e).ok())
            .map(|s| s.version),
        None => None,
    };
    if let Some(version) = current
        && version >= statement.version
    {
        return Err(ApiError::conflict(format!(
            "the server already has key statement version {version}; this one is version {}",
            statement.version
        )));
    }
    svc.store.set(keys::KEY_STATEMENT, body)?;
    audit::append(
        svc.store,
        now,
        by,
        "keys.statement",
        &format!("v{}", statement.version),
        current.map(|v| json!({"version": v})),
        Some(json!({"version": statement.version, "revoked": statement.revoked})),
    )?;
    Ok(statement.version)
}
