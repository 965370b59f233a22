//! Change freezes: fleet-wide periods (an all-hands, a trading day, a launch) in
//! which no campaign offers a covered device anything and no covered device
//! starts an install, whatever a campaign's policy says.
//!
//! Freezes are the fleet's rule, not a campaign's, so the service enforces them
//! around the policy call: a frozen device is never shown to the policy, and a
//! device that finishes a download inside a freeze is told to hold the install
//! (`"action": "hold"` in the answer to its `downloaded` report) until the
//! freeze ends. Only a critical campaign that names the freeze in an explicit,
//! audited override passes it.
//!
//! All freezes live in one small record (`freezes`), read in the same batch as
//! the device's own records, so checking them costs a check-in no round trip.

use serde_json::json;
use sluice_policy::calendar::format_instant;

use sluice_api::admin::four_eyes::Confirmation;
pub use sluice_api::admin::freezes::Freeze;
use sluice_api::admin::freezes::NewFreeze;

use crate::campaigns::campaign::CampaignRecord;
use crate::fleet::device::DeviceRecord;
use crate::kernel::http::ApiError;
use crate::kernel::service::Service;
use crate::ops::four_eyes;
use crate::{fleet::selection, kernel::keys, kernel::records, ops::audit};

/// Whether `freeze` holds `device` (now running `version`) at `now`.
pub fn holds(freeze: &Freeze, device: &DeviceRecord, version: &str, now: u64) -> bool {
    freeze.active(now) && selection::matches(&freeze.selector, device, version)
}

/// Most freezes stored at once (ended ones are dropped as new ones are added).
pub const MAX_FREEZES: usize = 64;
/// Longest reason, in bytes.
pub const MAX_REASON: usize = 500;
/// Default quiet time before a freeze starts: no new offers and no installs
/// start in the hour before an all-hands either.
pub const DEFAULT_LEAD_SECONDS: u64 = 3600;

/// Why a device must wait, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The freeze (the last of a chain of overlapping ones) that ends the wait.
    pub freeze: String,
    /// When the device is free (unix seconds).
    pub until: u64,
    /// For the device and the logs.
    pub reason: String,
}

/// Whether `freezes` hold `device` against `campaign` at `now`, and until when:
/// overlapping and back-to-back freezes are followed to the end of the chain. A
/// campaign passes only freezes its confirmed overrides name, and only if it
/// is critical (confirmed too).
pub fn hold(
    freezes: &[Freeze],
    campaign: Option<&CampaignRecord>,
    device: &DeviceRecord,
    version: &str,
    now: u64,
) -> Option<Hold> {
    let passes = |f: &Freeze| {
        campaign.is_some_and(|c| {
            c.is_critical()
                && c.freeze_overrides
                    .iter()
                    .any(|o| o.freeze == f.id && !o.pending)
        })
    };
    let mut at = now;
    let mut last: Option<&Freeze> = None;
    // Each step moves past one freeze's end, so this ends within MAX_FREEZES steps.
    for _ in 0..=freezes.len() {
        let Some(next) = freezes
            .iter()
            .filter(|f| holds(f, device, version, at) && !passes(f))
            .max_by_key(|f| f.end)
        else {
            break;
        };
        at = next.end;
        last = Some(next);
    }
    last.map(|f| Hold {
        freeze: f.id.clone(),
        until: at,
        reason: format!(
            "change freeze {} until {}: {}",
            f.id,
            format_instant(i64::try_from(at).unwrap_or(i64::MAX)),
            f.reason
        ),
    })
}

/// Reads the stored freezes.
pub fn list(svc: &Service) -> Result<Vec<Freeze>, ApiError> {
    Ok(records::read(svc.store, keys::FREEZES)?.unwrap_or_default())
}

/// Declares a freeze; ended freezes are dropped from the record as it is written.
pub fn add(svc: &Service, request: NewFreeze, by: &str) -> Result<Freeze, ApiError> {
    let now = svc.env.now();
    if request.reason.trim().is_empty() || request.reason.len() > MAX_REASON {
        return Err(ApiError::bad_request(format!(
            "reason: say why, in at most {MAX_REASON} bytes"
        )));
    }
    let (start, end) = (request.start.0, request.end.0);
    if end <= start {
        return Err(ApiError::bad_request("end must be after start"));
    }
    if end <= now {
        return Err(ApiError::bad_request("the freeze would already be over"));
    }
    let lead_seconds = request.lead_seconds.unwrap_or(DEFAULT_LEAD_SECONDS);
    if lead_seconds > 7 * 86_400 {
        return Err(ApiError::bad_request("lead_seconds is at most 7 days"));
    }
    selection::validate(&request.selector)?;
    let seq = svc.store.increment(keys::FREEZE_SEQ, 1)?;
    let freeze = Freeze {
        id: format!("f{seq}"),
        reason: request.reason,
        start,
        end,
        lead_seconds,
        selector: request.selector,
        created_at: now,
        created_by: by.to_owned(),
        lift_requested: None,
    };
    records::update::<Vec<Freeze>, _>(svc.store, keys::FREEZES, |current| {
        let mut freezes: Vec<Freeze> = current
            .into_iter()
            .flatten()
            .filter(|f| now < f.end)
            .cloned()
            .collect();
        if freezes.len() >= MAX_FREEZES {
            return Err(ApiError::conflict(format!(
                "{MAX_FREEZES} freezes are declared; remove one first"
            )));
        }
        freezes.push(freeze.clone());
        Ok(Some(freezes))
    })?;
    audit::append(
        svc.store,
        now,
        by,
        "freeze.add",
        &freeze.id,
        None,
        Some(json!(freeze)),
    )?;
    Ok(freeze)
}

/// What asking to lift a freeze did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lift {
    /// It is gone (it did not hold yet, or had ended, or the four-eyes rule is
    /// relaxed).
    Removed(Freeze),
    /// It holds now: it stays until another operator confirms
    /// ([`confirm_lift`]).
    Requested(Freeze),
}

/// Lifts a freeze: at once if it does not hold now (audited as
/// `freeze.remove`); if it does, records the request (audited as
/// `freeze.lift_request`) for a second operator to confirm.
pub fn remove(svc: &Service, id: &str, by: &str) -> Result<Lift, ApiError> {
    let now = svc.env.now();
    let at_once = !four_eyes::required(svc)?;
    let mut outcome = None;
    let (_, wrote) = records::update::<Vec<Freeze>, _>(svc.store, keys::FREEZES, |current| {
        let mut freezes = current.cloned().unwrap_or_default();
        let Some(at) = freezes.iter().position(|f| f.id == id) else {
            outcome = None;
            return Ok(None);
        };
        let freeze = freezes[at].clone();
        if at_once || !freeze.active(now) {
            outcome = Some(Lift::Removed(freeze));
            freezes.remove(at);
            return Ok(Some(freezes));
        }
        if freeze.lift_requested.is_some() {
            outcome = Some(Lift::Requested(freeze));
            return Ok(None);
        }
        freezes[at].lift_requested = Some(Confirmation {
            by: by.to_owned(),
            at: now,
        });
        outcome = Some(Lift::Requested(freezes[at].clone()));
        Ok(Some(freezes))
    })?;
    let outcome = outcome.ok_or_else(|| ApiError::not_found(format!("no freeze {id:?}")))?;
    match &outcome {
        Lift::Removed(freeze) => {
            audit::append(
                svc.store,
                now,
                by,
                "freeze.remove",
                id,
                Some(json!(freeze)),
                None,
            )?;
        }
        Lift::Requested(freeze) if wrote => {
            audit::append(
                svc.store,
                now,
                by,
                "freeze.lift_request",
                id,
                None,
                Some(json!({"reason": freeze.reason, "end": freeze.end})),
            )?;
        }
        Lift::Requested(_) => {}
    }
    Ok(outcome)
}

/// Confirms another operator's request to lift a freeze that holds, and lifts
/// it (audited as `freeze.remove`, naming who asked).
pub fn confirm_lift(svc: &Service, id: &str, by: &str) -> Result<Freeze, ApiError> {
    let mut removed = None;
    records::update::<Vec<Freeze>, _>(svc.store, keys::FREEZES, |current| {
        let freezes = current.cloned().unwrap_or_default();
        let freeze = freezes
            .iter()
            .find(|f| f.id == id)
            .ok_or_else(|| ApiError::not_found(format!("no freeze {id:?}")))?;
        let asked = freeze.lift_requested.as_ref().ok_or_else(|| {
            ApiError::conflict(format!(
                "nobody has asked to lift freeze {id}: ask first (sluice freeze remove {id})"
            ))
        })?;
        four_eyes::check(
            svc,
            &asked.by,
            by,
            &format!(
                "asked to lift freeze {id}: another operator with freeze:override must confirm it"
            ),
        )?;
        removed = Some(freeze.clone());
        Ok(Some(freezes.into_iter().filter(|f| f.id != id).collect()))
    })?;
    let removed = removed.ok_or_else(|| ApiError::not_found(format!("no freeze {id:?}")))?;
    audit::append(
        svc.store,
        svc.env.now(),
        by,
        "freeze.remove",
        id,
        Some(json!(removed)),
        None,
    )?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_api::admin::campaigns::Selector;

    fn freeze(id: &str, start: u64, end: u64, selector: Selector) -> Freeze {
        Freeze {
            id: id.into(),
            reason: "all-hands".into(),
            start,
            end,
            lead_seconds: 0,
            selector,
            created_at: 0,
            created_by: "admin".into(),
            lift_requested: None,
        }
    }

    fn device(tags: &[&str]) -> DeviceRecord {
        DeviceRecord {
            id: "d1".into(),
            hardware: "cam".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            attributes: Default::default(),
            credential: String::new(),
            enrolled_at: 0,
            revoked: None,
        }
    }

    #[test]
    fn a_freeze_holds_from_its_lead_to_its_end_and_only_the_devices_it_selects() {
        let mut f = freeze("f1", 1000, 2000, Selector::default());
        f.lead_seconds = 100;
        let d = device(&[]);
        assert!(!holds(&f, &d, "1", 899));
        assert!(holds(&f, &d, "1", 900));
        assert!(holds(&f, &d, "1", 1999));
        assert!(!holds(&f, &d, "1", 2000));
        let site = freeze(
            "f2",
            0,
            10,
            Selector {
                tags: vec!["site:berlin".into()],
                ..Selector::default()
            },
        );
        assert!(holds(&site, &device(&["site:berlin"]), "1", 5));
        assert!(!holds(&site, &device(&["site:paris"]), "1", 5));
    }

    #[test]
    fn a_hold_lasts_to_the_end_of_a_chain_of_freezes() {
        let freezes = [
            freeze("f1", 0, 100, Selector::default()),
            freeze("f2", 100, 200, Selector::default()),
            freeze("f3", 150, 300, Selector::default()),
            freeze("f4", 301, 400, Selector::default()),
        ];
        let hold = hold(&freezes, None, &device(&[]), "1", 50).unwrap();
        assert_eq!((hold.freeze.as_str(), hold.until), ("f3", 300));
        assert!(
            hold.reason
                .starts_with("change freeze f3 until 1970-01-01 00:05 UTC")
        );
        assert_eq!(super::hold(&freezes, None, &device(&[]), "1", 300), None);
    }

    #[test]
    fn only_a_critical_campaign_naming_the_freeze_passes_it() {
        let freezes = [freeze("f1", 0, 100, Selector::default())];
        let mut campaign: CampaignRecord = serde_json::from_value(serde_json::json!({
            "id": "c1", "release": "2", "manifests": {}, "selector": {}, "policy": "{}",
            "critical": false, "state": "running", "stage": 0, "stage_started_at": 0,
            "created_at": 0, "updated_at": 0,
            "freeze_overrides": [{"freeze": "f1", "reason": "CVE", "by": "admin", "at": 0}]
        }))
        .unwrap();
        let d = device(&[]);
        assert!(hold(&freezes, Some(&campaign), &d, "1", 5).is_some());
        campaign.critical = true;
        assert!(hold(&freezes, Some(&campaign), &d, "1", 5).is_none());
        campaign.freeze_overrides[0].freeze = "f2".into();
        assert!(hold(&freezes, Some(&campaign), &d, "1", 5).is_some());
    }
}
