//! Which version each device runs, and the fleet's counts by version, kept
//! exact as devices report.

use crate::fleet::device::{DeviceState, Event};
use crate::kernel::counters;
use crate::kernel::http::ApiError;
use crate::kernel::service::Service;
use crate::{fleet::tally, kernel::keys, kernel::records};

/// The device reports a version (or security version) the service has not seen:
/// record it and keep the fleet's version counts exact. The counts move with
/// the state change, as a tally ([`tally::update`]), so a request cut short
/// between the two loses nothing.
pub(crate) fn note_version(
    svc: &Service,
    device_id: &str,
    version: &str,
    security_version: u64,
    now: u64,
) -> Result<DeviceState, ApiError> {
    // Listed first: a version in the index that no device runs yet counts 0.
    let known: Vec<String> = records::read(svc.store, keys::VERSION_INDEX)?.unwrap_or_default();
    if !known.iter().any(|v| v == version) {
        records::add_to_list(svc.store, keys::VERSION_INDEX, version)?;
    }
    let (state, _) = tally::update(svc, device_id, now, |current| {
        let mut state = current.cloned().unwrap_or_default();
        if state.version == version && state.security_version == security_version {
            return Ok(None);
        }
        let mut increments: Vec<counters::Increment> = Vec::new();
        if state.version != version {
            if !state.version.is_empty() {
                increments.push((counters::version_key(&state.version), -1));
            }
            increments.push((counters::version_key(version), 1));
            state.record(Event::version(version, now));
        }
        state.version = version.to_owned();
        state.security_version = security_version;
        state.updated_at = now;
        Ok(Some((state, increments)))
    })?;
    Ok(state.unwrap_or_default())
}
