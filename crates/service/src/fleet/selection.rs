//! Which devices a [`Selector`] picks (a campaign's, or a freeze's), and what
//! a selector may hold.

use sluice_api::admin::campaigns::Selector;

use crate::fleet::device::{ATTRIBUTE_RULE, DeviceRecord, valid_attributes, valid_tag};
use crate::kernel::http::ApiError;
use crate::kernel::names::valid_name;

/// Most entries in each selector list.
pub const MAX_SELECTOR_ENTRIES: usize = 10_000;

/// Whether `selector` picks `device`, currently running `version`.
pub fn matches(selector: &Selector, device: &DeviceRecord, version: &str) -> bool {
    (selector.hardware.is_empty() || selector.hardware.contains(&device.hardware))
        && selector.tags.iter().all(|t| device.tags.contains(t))
        && (selector.ids.is_empty() || selector.ids.contains(&device.id))
        && (selector.versions.is_empty() || selector.versions.iter().any(|v| v == version))
        && selector
            .attributes
            .iter()
            .all(|(k, v)| device.attributes.get(k) == Some(v))
}

/// Checks an operator's selector: valid names, bounded lists.
pub fn validate(selector: &Selector) -> Result<(), ApiError> {
    if !valid_attributes(&selector.attributes) {
        return Err(ApiError::bad_request(format!("selector.{ATTRIBUTE_RULE}")));
    }
    for (name, list) in [
        ("hardware", &selector.hardware),
        ("tags", &selector.tags),
        ("ids", &selector.ids),
        ("versions", &selector.versions),
    ] {
        if list.len() > MAX_SELECTOR_ENTRIES {
            return Err(ApiError::bad_request(format!(
                "selector.{name} has {} entries, the limit is {MAX_SELECTOR_ENTRIES}",
                list.len()
            )));
        }
        let valid = if name == "tags" {
            valid_tag
        } else {
            valid_name
        };
        if let Some(bad) = list.iter().find(|v| !valid(v)) {
            return Err(ApiError::bad_request(format!(
                "selector.{name}: {bad:?} is not a valid name"
            )));
        }
    }
    Ok(())
}
