//! Spin's key-value store through `wasi:keyvalue@0.2.0-draft2`.

use sluice_service::store::in_key_order;
use sluice_service::{Store, StoreError};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

/// A bucket of Spin's key-value store.
pub struct SpinStore {
    bucket: store::Bucket,
    /// Whether this request appended to the audit log (so there may be
    /// campaign events to deliver).
    audited: std::cell::Cell<bool>,
}

fn err(e: store::Error) -> StoreError {
    StoreError(match e {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied (is the store in key_value_stores?)".into(),
        store::Error::Other(message) => message,
    })
}

impl SpinStore {
    /// Opens the store labelled `label` (listed in the component's `key_value_stores`).
    pub fn open(label: &str) -> Result<SpinStore, StoreError> {
        Ok(SpinStore {
            bucket: store::open(label).map_err(err)?,
            audited: std::cell::Cell::new(false),
        })
    }

    /// Whether this request appended to the audit log.
    pub fn audited(&self) -> bool {
        self.audited.get()
    }
}

/// Decodes a counter as Spin's backends store it: SQLite keeps a little-endian
/// i64, Redis (`INCRBY`) decimal text.
impl Store for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket.get(key).map_err(err)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let found = batch::get_many(&self.bucket, keys).map_err(err)?;
        Ok(in_key_order(keys, &found))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket.set(key, value).map_err(err)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bucket.delete(key).map_err(err)
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.bucket.exists(key).map_err(err)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.bucket, key, delta).map_err(err)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(err)?;
        if cas.current().map_err(err)?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => {
                if sluice_service::keys::is_audit_entry(key) {
                    self.audited.set(true);
                }
                Ok(true)
            }
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(err(e)),
        }
    }
}
