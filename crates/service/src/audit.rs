//! The append-only audit log: every admin action (and every automatic campaign
//! decision), who made it, when, and the state before and after.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::ApiError;
use crate::keys;
use crate::records;
use crate::store::Store;

/// Most entries one read returns.
pub const MAX_PAGE: usize = 1000;

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: i64,
    pub at: u64,
    /// `admin` for the operator's token, `policy` for automatic decisions.
    pub actor: String,
    pub action: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// Appends an entry. Sequence numbers come from an atomic counter, so concurrent
/// writers never overwrite each other; entries are never rewritten.
pub fn append(
    store: &dyn Store,
    at: u64,
    actor: &str,
    action: &str,
    target: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<i64, ApiError> {
    let seq = store.increment(keys::AUDIT_SEQ, 1)?;
    let entry = Entry {
        seq,
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        before,
        after,
    };
    store.set(&keys::audit(seq), &records::encode(&entry))?;
    Ok(seq)
}

/// Up to `limit` entries with sequence numbers above `after`, oldest first.
pub fn read(store: &dyn Store, after: i64, limit: usize) -> Result<Vec<Entry>, ApiError> {
    let last = store.counters(&[keys::AUDIT_SEQ.to_owned()])?[0];
    let first = after.max(0) + 1;
    let end = last.min(after.max(0).saturating_add(limit.min(MAX_PAGE) as i64));
    if end < first {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = (first..=end).map(keys::audit).collect();
    let values = store.get_many(&keys)?;
    keys.iter()
        .zip(values)
        .filter_map(|(k, v)| v.map(|v| records::decode(k, &v)))
        .collect()
}
