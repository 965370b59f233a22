//! The key-value store the service runs on: Spin's key-value (with `wasi:keyvalue`
//! atomics and batch) in a component, an in-memory map in native tests.

/// A failure of the store itself (not of the request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct StoreError(pub String);

/// The operations the service needs. Every request does a bounded number of
/// them; none lists keys.
pub trait Store {
    /// The value at `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The values at `keys`, in order, in one round trip where the store allows.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Stores `value` at `key`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Removes `key` (no error if absent).
    fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Whether `key` holds a value.
    fn exists(&self, key: &str) -> Result<bool, StoreError>;

    /// Atomically adds `delta` to the counter at `key` (absent counts as 0) and
    /// returns the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;

    /// The current values of counters, in order (absent counts as 0).
    fn counters(&self, keys: &[String]) -> Result<Vec<i64>, StoreError>;

    /// Atomically replaces the value at `key` with `new` if it is still `expected`
    /// (`None`: absent). Returns whether it did.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError>;
}

impl<S: Store + ?Sized> Store for &S {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        (**self).get_many(keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        (**self).set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        (**self).delete(key)
    }
    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        (**self).exists(key)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        (**self).increment(key, delta)
    }
    fn counters(&self, keys: &[String]) -> Result<Vec<i64>, StoreError> {
        (**self).counters(keys)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        (**self).compare_and_swap(key, expected, new)
    }
}
