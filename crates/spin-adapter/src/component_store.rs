//! The store a component's handlers run on, whichever way it is reached.

use std::cell::Cell;

use sluice_service::{Store, StoreError};

use crate::{RedisStore, SpinStore};

/// The `default` store: Spin's key-value store, or the Redis server behind it
/// when `store_redis_url` is set. It notes whether this request appended to
/// the audit log (so there may be campaign events to deliver).
pub struct ComponentStore {
    store: Box<dyn Store>,
    audited: Cell<bool>,
}

impl ComponentStore {
    /// Opens the key-value store labelled `label`, or the Redis server at
    /// `redis_url` (when given and not empty).
    pub fn open(label: &str, redis_url: Option<&str>) -> Result<ComponentStore, StoreError> {
        let store: Box<dyn Store> = match redis_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Box::new(RedisStore::open(url)?),
            None => Box::new(SpinStore::open(label)?),
        };
        Ok(ComponentStore {
            store,
            audited: Cell::new(false),
        })
    }

    /// Whether this request appended to the audit log.
    pub fn audited(&self) -> bool {
        self.audited.get()
    }
}

impl Store for ComponentStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(key)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.store.get_many(keys)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.store.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store.delete(key)
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.store.exists(key)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.store.increment(key, delta)
    }

    fn counters(&self, keys: &[String]) -> Result<Vec<i64>, StoreError> {
        self.store.counters(keys)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let swapped = self.store.compare_and_swap(key, expected, new)?;
        if swapped && sluice_service::kernel::keys::is_audit_entry(key) {
            self.audited.set(true);
        }
        Ok(swapped)
    }
}
