//! The key-value store the service runs on: Spin's key-value (with `wasi:keyvalue`
//! atomics and batch) in a component, an in-memory map in native tests.

/// Reads a counter as either backend stores it: decimal text (Redis `INCRBY`)
/// or a little-endian `i64` (Spin's SQLite store). Anything else counts as 0.
///
/// ```
/// use sluice_service::kernel::store::decode_counter;
/// assert_eq!(decode_counter(&42i64.to_le_bytes()), 42);
/// assert_eq!(decode_counter(b"-5"), -5);
/// ```
pub fn decode_counter(bytes: &[u8]) -> i64 {
    // Decimal text first: an 8-byte decimal ("12345678") is not a binary counter.
    // (A binary counter made only of ASCII digits would exceed 3.4e18.)
    let decimal = !bytes.is_empty()
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 0 && *b == b'-'));
    if decimal && let Some(n) = std::str::from_utf8(bytes).ok().and_then(|s| s.parse().ok()) {
        return n;
    }
    <[u8; 8]>::try_from(bytes)
        .map(i64::from_le_bytes)
        .unwrap_or(0)
}

/// Puts a batch answer in the order of `keys`: a backend's batch read need not
/// keep order or list absent keys, so values are matched by key.
pub fn in_key_order(keys: &[String], found: &[(String, Option<Vec<u8>>)]) -> Vec<Option<Vec<u8>>> {
    keys.iter()
        .map(|k| {
            found
                .iter()
                .find(|(fk, _)| fk == k)
                .and_then(|(_, v)| v.clone())
        })
        .collect()
}

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

    /// The current values of counters, in order (absent counts as 0). By
    /// default one `get_many`, decoded with [`decode_counter`].
    fn counters(&self, keys: &[String]) -> Result<Vec<i64>, StoreError> {
        Ok(self
            .get_many(keys)?
            .iter()
            .map(|v| v.as_deref().map(decode_counter).unwrap_or(0))
            .collect())
    }

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

#[cfg(test)]
mod tests {
    use super::decode_counter;

    #[test]
    fn counters_decode_from_both_backends() {
        assert_eq!(decode_counter(&42i64.to_le_bytes()), 42);
        assert_eq!(decode_counter(&(-3i64).to_le_bytes()), -3);
        assert_eq!(decode_counter(b"17"), 17);
        assert_eq!(decode_counter(b"-5"), -5);
        assert_eq!(decode_counter(b"junk"), 0);
        assert_eq!(decode_counter(b"12345678"), 12_345_678, "8 decimal digits");
        assert_eq!(decode_counter(b"-1000000"), -1_000_000);
    }
}
