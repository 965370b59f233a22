//! Every key the service reads or writes, in one place.
//!
//! | key | value |
//! |---|---|
//! | `device/{id}` | enrolment: hardware, tags, attributes, credential hash |
//! | `state/{id}` | the device's version, its current rollout and the counts of its last changes not yet applied (CAS-updated; see [`crate::fleet::tally`]) |
//! | `seen/{id}` | last check-in time and telemetry (the one write a quiet poll makes) |
//! | `release/{version}` | the release and its manifests by hardware |
//! | `manifest/{manifest id}` | signed manifest bytes, exactly as published |
//! | `chunk/{sha256}` | chunk bytes |
//! | `campaign/{id}` | campaign record (CAS-updated) |
//! | `campaigns/active` | ids of campaigns not yet finished, oldest first |
//! | `index/releases`, `index/campaigns`, `index/versions`, `index/hardware` | small lists for admin views |
//! | `index/devices/{page}`, `index/devices/head` | every device id, in pages (see [`crate::fleet::directory`]) |
//! | `codes/{campaign}` | failure codes seen in a campaign |
//! | `recount/{campaign}` | held while a recount corrects the campaign's counters |
//! | `curve/{campaign}` | the campaign's totals over time (see [`crate::campaigns::curve`]) |
//! | `reviewed/{campaign}` | when a check-in last had the policy review it |
//! | `freezes` | the declared change freezes, one small list (see [`crate::campaigns::freeze`]) |
//! | `notify/progress` | how far webhook delivery has followed the audit log (see [`crate::ops::webhooks`]) |
//! | `keys/statement` | the newest key statement the server was given |
//! | `operator/{name}` | the id of the operator's current token (see [`crate::ops::operators`]) |
//! | `operator-token/{id}` | an operator token: its secret's hash, scopes, creator, expiry, last use, revocation |
//! | `index/operators` | operator names, in the order first added |
//! | `settings/four-eyes` | whether a second operator must confirm (see [`crate::ops::four_eyes`]; absent: it must) |
//! | `audit/{seq}` | audit entries, hash-chained; `audit/head` names the last (see [`crate::ops::audit`]) |
//! | `seq/campaign`, `seq/freeze` | counters numbering campaigns and freezes (`seq/audit` numbered audit entries before the chain) |
//! | `cnt/...` | atomic counters (see [`crate::kernel::counters`]) |

pub fn device(id: &str) -> String {
    format!("device/{id}")
}
pub fn state(id: &str) -> String {
    format!("state/{id}")
}
pub fn seen(id: &str) -> String {
    format!("seen/{id}")
}
pub fn release(version: &str) -> String {
    format!("release/{version}")
}
pub fn manifest(id: &str) -> String {
    format!("manifest/{id}")
}
pub fn chunk(sha256: &str) -> String {
    format!("chunk/{sha256}")
}
pub fn campaign(id: &str) -> String {
    format!("campaign/{id}")
}
/// When a check-in last had the policy review `campaign` (unix seconds, decimal).
pub fn reviewed(campaign: &str) -> String {
    format!("reviewed/{campaign}")
}
/// Held while a recount corrects `campaign` (unix seconds it is held until).
pub fn recount_lock(campaign: &str) -> String {
    format!("recount/{campaign}")
}
/// A campaign's rollout curve (see [`crate::campaigns::curve`]).
pub fn curve(campaign: &str) -> String {
    format!("curve/{campaign}")
}
pub fn failure_codes(campaign: &str) -> String {
    format!("codes/{campaign}")
}
pub fn audit(seq: i64) -> String {
    format!("audit/{seq:016}")
}
/// The id of operator `name`'s current token.
pub fn operator(name: &str) -> String {
    format!("operator/{name}")
}
/// An operator token's record, by its id.
pub fn operator_token(id: &str) -> String {
    format!("operator-token/{id}")
}
pub const OPERATOR_INDEX: &str = "index/operators";
pub const FOUR_EYES: &str = "settings/four-eyes";
pub const ACTIVE_CAMPAIGNS: &str = "campaigns/active";
pub const RELEASE_INDEX: &str = "index/releases";
pub const CAMPAIGN_INDEX: &str = "index/campaigns";
pub const VERSION_INDEX: &str = "index/versions";
/// The hardware names devices were enrolled with.
pub const HARDWARE_INDEX: &str = "index/hardware";
pub const KEY_STATEMENT: &str = "keys/statement";
/// Numbered audit entries before the log was chained; read only to continue
/// such a log.
pub const AUDIT_SEQ: &str = "seq/audit";
/// The audit log's head: the last entry's number and digest.
pub const AUDIT_HEAD: &str = "audit/head";
/// Whether `key` is an audit entry (what a store adapter watches for to learn
/// that a request changed something worth notifying).
pub fn is_audit_entry(key: &str) -> bool {
    key.strip_prefix("audit/")
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
}
pub const CAMPAIGN_SEQ: &str = "seq/campaign";
pub const FREEZES: &str = "freezes";
pub const FREEZE_SEQ: &str = "seq/freeze";
pub const NOTIFY: &str = "notify/progress";
