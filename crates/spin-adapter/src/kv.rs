//! Spin's key-value store through `wasi:keyvalue@0.2.0-draft2`, working around
//! what released Spin's backends get wrong.
//!
//! Spin 4.0.2's Redis backend answers `batch.get-many` with the Redis `KEYS`
//! command: two keys or more fail ("wrong number of arguments for 'keys'
//! command"), one key answers key names rather than values. Its compare-and-swap
//! (`WATCH`, then `MULTI`/`SET`/`EXEC`) reads an aborted transaction's nil reply
//! as success, so of two requests changing one record at once both are told
//! they won and one change is lost. So here:
//! - a batch of one key is a plain `get`, on every backend;
//! - a batch that fails as that backend fails is read key by key, and the rest
//!   of the request reads key by key too;
//! - compare-and-swap is refused on that backend with an error that says what to
//!   configure (`store_redis_url`: the components then run their atomic steps
//!   in Redis itself, see `redis_store`), rather than losing a count.

use std::cell::Cell;

use sluice_service::store::in_key_order;
use sluice_service::{Store, StoreError};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

/// A bucket of Spin's key-value store.
pub struct SpinStore {
    bucket: store::Bucket,
    batch: Cell<BatchReads>,
}

/// What this request has learnt of the backend's batch reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BatchReads {
    /// None tried yet.
    Untried,
    /// One answered.
    Work,
    /// One failed as Spin's Redis backend fails them.
    SpinRedis,
}

fn err(e: store::Error) -> StoreError {
    StoreError(match e {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied (is the store in key_value_stores?)".into(),
        store::Error::Other(message) => message,
    })
}

/// Whether a batch read failed as Spin's Redis backend fails every batch of
/// two keys or more (it sends them to `KEYS`).
///
/// ```
/// # use sluice_spin::is_spin_redis_batch_failure;
/// assert!(is_spin_redis_batch_failure(
///     "An error was signalled by the server - ResponseError: \
///      wrong number of arguments for 'keys' command"
/// ));
/// assert!(!is_spin_redis_batch_failure("connection refused"));
/// ```
pub fn is_spin_redis_batch_failure(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("wrong number of arguments for 'keys' command")
}

/// The answer to a compare-and-swap on Spin's Redis backend.
pub const SPIN_REDIS_CAS_REFUSED: &str = "this Spin's Redis key-value backend cannot \
     compare-and-swap safely (Spin 4.0.2 reads an aborted transaction as success, so \
     concurrent changes would be lost): set the variables store_redis_url (the same Redis) \
     and store_redis_origin, so that Sluice runs its atomic steps in Redis itself \
     (README: Deploying with Spin)";

impl SpinStore {
    /// Opens the store labelled `label` (listed in the component's `key_value_stores`).
    pub fn open(label: &str) -> Result<SpinStore, StoreError> {
        Ok(SpinStore {
            bucket: store::open(label).map_err(err)?,
            batch: Cell::new(BatchReads::Untried),
        })
    }

    fn get_each(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Reads `keys` (two or more) in one batch, learning from its failure.
    fn get_batch(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        match batch::get_many(&self.bucket, keys) {
            Ok(found) => {
                self.batch.set(BatchReads::Work);
                Ok(in_key_order(keys, &found))
            }
            Err(store::Error::Other(message)) if is_spin_redis_batch_failure(&message) => {
                self.batch.set(BatchReads::SpinRedis);
                self.get_each(keys)
            }
            Err(e) => Err(err(e)),
        }
    }

    /// Whether the backend is Spin's Redis one, trying a batch read of two
    /// absent keys if nothing this request did has told yet.
    fn on_spin_redis(&self) -> Result<bool, StoreError> {
        if self.batch.get() == BatchReads::Untried {
            self.get_batch(&["sluice/probe/a".to_owned(), "sluice/probe/b".to_owned()])?;
        }
        Ok(self.batch.get() == BatchReads::SpinRedis)
    }
}

impl Store for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket.get(key).map_err(err)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        match (keys.len(), self.batch.get()) {
            (0, _) => Ok(Vec::new()),
            (1, _) | (_, BatchReads::SpinRedis) => self.get_each(keys),
            _ => self.get_batch(keys),
        }
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
        if self.on_spin_redis()? {
            return Err(StoreError(SPIN_REDIS_CAS_REFUSED.into()));
        }
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
