//! How many devices a new campaign could reach: counted over a sample of the
//! directory when the fleet is large, and said to be an estimate.

use std::collections::BTreeMap;

use sluice_api::admin::campaigns::{ImageRef, Reach, Selector};

use crate::fleet::device::{DeviceRecord, DeviceState};
use crate::kernel::http::ApiError;
use crate::kernel::service::Service;
use crate::{fleet::directory, fleet::selection, kernel::keys, kernel::records};

/// Directory pages a campaign's reach is counted over (a sample, scaled,
/// beyond).
pub const REACH_PAGES: u64 = 50;

/// Counts the devices a new campaign could reach (see [`Reach`]).
pub fn reach(
    svc: &Service,
    selector: &Selector,
    images: &BTreeMap<String, ImageRef>,
    release: &str,
) -> Result<Reach, ApiError> {
    let Some(last) = directory::last_page(svc.store)? else {
        return Ok(Reach {
            devices: 0,
            estimated: false,
        });
    };
    let pages = directory::sample_pages(last, REACH_PAGES);
    let estimated = pages.len() as u64 <= last;
    let ids = directory::read_pages(svc.store, pages.iter().copied())?;
    let mut keys = Vec::with_capacity(ids.len() * 2);
    for id in &ids {
        keys.push(keys::device(id));
        keys.push(keys::state(id));
    }
    let values = svc.store.get_many(&keys)?;
    let (mut scanned, mut reached) = (0u64, 0u64);
    for (pair, key) in values.chunks(2).zip(keys.chunks(2)) {
        let Some(device) = records::decode_opt::<DeviceRecord>(&key[0], pair[0].as_ref())? else {
            continue;
        };
        scanned += 1;
        let state: DeviceState =
            records::decode_opt(&key[1], pair[1].as_ref())?.unwrap_or_default();
        let reachable = device.revoked.is_none()
            && state.version != release
            && selection::matches(selector, &device, &state.version)
            && images
                .get(&device.hardware)
                .is_some_and(|image| state.security_version <= image.security_version);
        if reachable {
            reached += 1;
        }
    }
    let devices = if estimated && scanned > 0 {
        // Every page but the last is full.
        (reached as f64 * (last + 1) as f64 / pages.len() as f64).round() as u64
    } else {
        reached
    };
    Ok(Reach { devices, estimated })
}
