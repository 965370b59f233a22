//! Four eyes: the changes one person must not make alone, enforced by the
//! server against the authenticated names of [`crate::ops::access`].
//!
//! | change | asked by | takes effect once confirmed by |
//! |---|---|---|
//! | opening a campaign's gate | (the gate) | anyone with `campaign:approve` but the campaign's creator |
//! | a critical campaign (passes windows, blackouts if its policy says so, freezes it has an override for) | its creator | another operator with `campaign:approve`; until then it runs as an ordinary campaign |
//! | letting a critical campaign pass a freeze | an operator with `freeze:override` | another operator with `freeze:override` |
//! | lifting a freeze that holds now | an operator with `freeze:manage` | another operator with `freeze:override` |
//!
//! A one-person lab may relax the rule with an explicit, audited setting
//! (`PUT /v1/admin/four-eyes {"required": false, "reason"}`, scope
//! `operator:manage`): then each change takes effect when it is asked for and
//! a creator may approve its own gates. The rule holds unless that is set.
//!
//! Campaigns created before operators had names of their own record no
//! creator (`created_by` is empty): their gates may be approved by anyone with
//! `campaign:approve`, as before.

use serde_json::json;
use sluice_api::admin::four_eyes::{SetFourEyes, Setting};

use crate::kernel::http::{ApiError, stated_reason};
use crate::kernel::service::Service;
use crate::ops::access::Principal;
use crate::{kernel::keys, kernel::records, ops::audit};

/// The setting as stored, if it was ever set.
pub fn setting(svc: &Service) -> Result<Option<Setting>, ApiError> {
    records::read(svc.store, keys::FOUR_EYES)
}

/// Whether a second operator must confirm (true unless relaxed).
pub fn required(svc: &Service) -> Result<bool, ApiError> {
    Ok(setting(svc)?.is_none_or(|s| s.required))
}

/// Sets the rule (audited as `four_eyes.require` or `four_eyes.relax`).
pub fn set(svc: &Service, by: &Principal, request: SetFourEyes) -> Result<Setting, ApiError> {
    let reason = stated_reason(&request.reason)?;
    let now = svc.env.now();
    let new = Setting {
        required: request.required,
        reason: reason.to_owned(),
        by: by.name.clone(),
        at: now,
    };
    let (_, wrote) = records::update::<Setting, _>(svc.store, keys::FOUR_EYES, |current| {
        let was = current.is_none_or(|s| s.required);
        Ok((was != new.required).then(|| new.clone()))
    })?;
    if wrote {
        audit::append(
            svc.store,
            now,
            &by.name,
            if new.required {
                "four_eyes.require"
            } else {
                "four_eyes.relax"
            },
            "four-eyes",
            None,
            Some(json!({"required": new.required, "reason": new.reason})),
        )?;
    }
    Ok(setting(svc)?.unwrap_or(new))
}

/// `Ok` unless the rule holds and `second` is `first`: then a 409 that says
/// why and who must act instead (`rule` follows the name: "created campaign
/// c3: another operator with campaign:approve must approve its gates").
pub fn check(svc: &Service, first: &str, second: &str, rule: &str) -> Result<(), ApiError> {
    if first != second || first.is_empty() || !required(svc)? {
        return Ok(());
    }
    Err(ApiError::new(
        409,
        "four_eyes",
        format!(
            "four eyes: {first} {rule} (a one-person lab may relax the rule: sluice operator four-eyes off --reason ...)"
        ),
    ))
}
