//! Spin's key-value store through `wasi:keyvalue@0.2.0-draft2`, working around
//! what released Spin's backends get wrong.
//!
//! Spin 4.0.2's Redis backend answers `batch.get-many` with the Redis `KEYS`
//! command: two keys or more fail ("wrong number of arguments for 'keys'
//! command"), one key answers key names rather than values. Its compare-and-swap
//! (`WATCH`, then `MULTI`/`SET`/`EXEC`, then `UNWATCH key`) reads an aborted
//! transaction's nil reply as success, so of two requests changing one record
//! at once both are told they won and one change is lost; and as Redis refuses
//! `UNWATCH` with an argument, it reports every swap as failed, also one that
//! wrote, so a retry applies a change twice. So here:
//! - a batch of one key is a plain `get`, on every backend;
//! - a batch that fails as that backend fails is read key by key, and the rest
//!   of the request reads key by key too;
//! - compare-and-swap is refused on that backend with an error that says what to
//!   configure (`store_redis_url`: the components then run their atomic steps
//!   in Redis itself, see `redis_store`), rather than losing a count.
//!
//! Spin 4.0.2's SQLite backend makes a compare-and-swap from "absent" an
//! unconditional write. Which way a store creates keys is found once, by a
//! probe, and kept in the store (`sluice/store/create`); where it writes
//! unconditionally, keys are created under a lease (`create_lock`).

use std::cell::Cell;

use sluice_service::kernel::store::in_key_order;
use sluice_service::{Store, StoreError};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

/// A bucket of Spin's key-value store.
pub struct SpinStore {
    bucket: store::Bucket,
    batch: Cell<BatchReads>,
    /// Whether a compare-and-swap from "absent" is conditional here, once known.
    creates_conditionally: Cell<Option<bool>>,
}

/// Where the store's way of creating keys is kept once probed.
pub const CREATE_PROFILE: &str = "sluice/store/create";
const CONDITIONAL: &[u8] = b"conditional";
const UNCONDITIONAL: &[u8] = b"unconditional";

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
     compare-and-swap safely (Spin 4.0.2 reads an aborted transaction as success and \
     reports every swap as failed, so changes would be lost or made twice): set the \
     variables store_redis_url (the same Redis) \
     and store_redis_origin, so that Sluice runs its atomic steps in Redis itself \
     (README: Deploying with Spin)";

impl SpinStore {
    /// Opens the store labelled `label` (listed in the component's `key_value_stores`).
    pub fn open(label: &str) -> Result<SpinStore, StoreError> {
        Ok(SpinStore {
            bucket: store::open(label).map_err(err)?,
            batch: Cell::new(BatchReads::Untried),
            creates_conditionally: Cell::new(None),
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

    /// Whether a compare-and-swap from "absent" fails when the key was
    /// created meanwhile: as the store says, else probed once and noted there.
    fn creates_conditionally(&self) -> Result<bool, StoreError> {
        if let Some(known) = self.creates_conditionally.get() {
            return Ok(known);
        }
        let known = match self.get(CREATE_PROFILE)? {
            Some(noted) => noted == CONDITIONAL,
            None => {
                let probed = self.probe_creation()?;
                self.set(
                    CREATE_PROFILE,
                    if probed { CONDITIONAL } else { UNCONDITIONAL },
                )?;
                probed
            }
        };
        self.creates_conditionally.set(Some(known));
        Ok(known)
    }

    /// Begins a compare-and-swap on a fresh key, creates the key meanwhile,
    /// and sees whether the swap from "absent" still succeeds.
    fn probe_creation(&self) -> Result<bool, StoreError> {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| StoreError(format!("no randomness: {e}")))?;
        let probe = format!("sluice/probe/create-{:016x}", u64::from_le_bytes(nonce));
        let cas = atomics::Cas::new(&self.bucket, &probe).map_err(err)?;
        cas.current().map_err(err)?;
        self.set(&probe, b"created meanwhile")?;
        let conditional = match atomics::swap(cas, b"swapped") {
            Ok(()) => false,
            Err(atomics::CasError::CasFailed(_)) => true,
            Err(atomics::CasError::StoreError(e)) => return Err(err(e)),
        };
        self.delete(&probe)?;
        Ok(conditional)
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
        if expected.is_none() && !self.creates_conditionally()? {
            return crate::create_lock::create_if_absent(self, key, new, &now_ms);
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
