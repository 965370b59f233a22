//! Spin's key-value store through `wasi:keyvalue@0.2.0-draft2`.

use sluice_service::{Store, StoreError};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

/// A bucket of Spin's key-value store.
pub struct SpinStore {
    bucket: store::Bucket,
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
        })
    }
}

/// Decodes a counter as Spin's backends store it: SQLite keeps a little-endian
/// i64, Redis (`INCRBY`) decimal text.
fn decode_counter(bytes: &[u8]) -> i64 {
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

impl Store for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket.get(key).map_err(err)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let found = batch::get_many(&self.bucket, keys).map_err(err)?;
        // The batch answer need not keep order or list absent keys: match by key.
        Ok(keys
            .iter()
            .map(|k| {
                found
                    .iter()
                    .find(|(fk, _)| fk == k)
                    .and_then(|(_, v)| v.clone())
            })
            .collect())
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

    fn counters(&self, keys: &[String]) -> Result<Vec<i64>, StoreError> {
        Ok(self
            .get_many(keys)?
            .iter()
            .map(|v| v.as_deref().map(decode_counter).unwrap_or(0))
            .collect())
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
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(err(e)),
        }
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
