//! The service's `Store` over a host key-value backend, for native code: the
//! no-Wasm baseline server and the seeding of a fleet. Calls block on a tokio
//! handle, so use it from blocking threads.

use std::sync::Arc;

use sluice_host_key_value::Backend;
use sluice_service::kernel::store::in_key_order;
use sluice_service::{Store, StoreError};
use tokio::runtime::Handle;

/// A backend seen as the service's synchronous store.
pub struct NativeStore {
    backend: Arc<dyn Backend>,
    handle: Handle,
}

fn err(e: sluice_host_key_value::Error) -> StoreError {
    StoreError(e.0)
}

impl NativeStore {
    pub fn new(backend: Arc<dyn Backend>, handle: Handle) -> NativeStore {
        NativeStore { backend, handle }
    }
}

impl Store for NativeStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.handle.block_on(self.backend.get(key)).map_err(err)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let found = self
            .handle
            .block_on(self.backend.get_many(keys.to_vec()))
            .map_err(err)?;
        Ok(in_key_order(keys, &found))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.handle
            .block_on(self.backend.set(key, value))
            .map_err(err)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.handle.block_on(self.backend.delete(key)).map_err(err)
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.handle.block_on(self.backend.exists(key)).map_err(err)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.handle
            .block_on(self.backend.increment(key, delta))
            .map_err(err)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        self.handle
            .block_on(self.backend.swap_if(key, expected, new))
            .map_err(err)
    }
}
