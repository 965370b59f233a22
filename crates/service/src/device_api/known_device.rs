//! The batch a device request reads first: the device's record and state, the
//! active campaigns and the change freezes, in one `get_many`.

use crate::campaigns::freeze::Freeze;
use crate::fleet::device::{DeviceRecord, DeviceState};
use crate::kernel::http::ApiError;
use crate::kernel::service::Service;
use crate::{kernel::keys, kernel::records};

/// What a check-in reads first, in one batch: the device's record and state, the
/// active campaigns and the change freezes.
pub(crate) struct KnownDevice {
    /// `None` for a device that is not enrolled.
    pub device: Option<DeviceRecord>,
    pub state: DeviceState,
    pub active: Vec<String>,
    pub freezes: Vec<Freeze>,
}

impl KnownDevice {
    pub(crate) fn read(svc: &Service, device_id: &str) -> Result<KnownDevice, ApiError> {
        let keys = [
            keys::device(device_id),
            keys::state(device_id),
            keys::ACTIVE_CAMPAIGNS.to_owned(),
            keys::FREEZES.to_owned(),
        ];
        let values = svc.store.get_many(&keys)?;
        Ok(KnownDevice {
            device: records::decode_opt(&keys[0], values[0].as_ref())?,
            state: records::decode_opt(&keys[1], values[1].as_ref())?.unwrap_or_default(),
            active: records::decode_opt(&keys[2], values[2].as_ref())?.unwrap_or_default(),
            freezes: records::decode_opt(&keys[3], values[3].as_ref())?.unwrap_or_default(),
        })
    }
}
