//! An in-memory [`Store`] for native tests and the policy simulator. Counters and
//! values live in separate maps, as in stores that keep counters natively.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::kernel::store::{Store, StoreError};

/// A thread-safe in-memory store. It also counts operations, so tests can check
/// that a request does bounded key-value work.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    values: HashMap<String, Vec<u8>>,
    counters: HashMap<String, i64>,
    ops: OpCounts,
}

/// Every value and counter at one moment, sorted by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub values: Vec<(String, Vec<u8>)>,
    pub counters: Vec<(String, i64)>,
}

/// How many store operations were made, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Round trips that read (`get`, `get_many`, `exists`, `counters`).
    pub reads: u64,
    /// Keys read across all of them.
    pub keys_read: u64,
    /// Writes (`set`, `delete`, successful or failed `compare_and_swap`).
    pub writes: u64,
    /// Counter increments.
    pub increments: u64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Operations so far.
    pub fn ops(&self) -> OpCounts {
        self.lock().ops
    }

    /// A copy of every value and counter, to check that a request changed nothing.
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        let mut values: Vec<_> = inner
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut counters: Vec<_> = inner
            .counters
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        values.sort();
        counters.sort();
        Snapshot { values, counters }
    }

    /// A store holding exactly `snapshot` (operation counts start at zero).
    pub fn from_snapshot(snapshot: &Snapshot) -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(Inner {
                values: snapshot.values.iter().cloned().collect(),
                counters: snapshot.counters.iter().cloned().collect(),
                ops: OpCounts::default(),
            }),
        }
    }

    /// Number of stored values (counters excluded).
    pub fn len(&self) -> usize {
        self.lock().values.len()
    }

    /// Whether no value is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total bytes of keys and values whose key starts with `prefix`.
    pub fn bytes_under(&self, prefix: &str) -> usize {
        self.lock()
            .values
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| k.len() + v.len())
            .sum()
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut inner = self.lock();
        inner.ops.reads += 1;
        inner.ops.keys_read += 1;
        Ok(inner.values.get(key).cloned())
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut inner = self.lock();
        inner.ops.reads += 1;
        inner.ops.keys_read += keys.len() as u64;
        Ok(keys.iter().map(|k| inner.values.get(k).cloned()).collect())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.ops.writes += 1;
        inner.values.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.ops.writes += 1;
        inner.values.remove(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        inner.ops.reads += 1;
        inner.ops.keys_read += 1;
        Ok(inner.values.contains_key(key))
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut inner = self.lock();
        inner.ops.increments += 1;
        let value = inner.counters.entry(key.to_owned()).or_insert(0);
        *value += delta;
        Ok(*value)
    }

    fn counters(&self, keys: &[String]) -> Result<Vec<i64>, StoreError> {
        let mut inner = self.lock();
        inner.ops.reads += 1;
        inner.ops.keys_read += keys.len() as u64;
        Ok(keys
            .iter()
            .map(|k| inner.counters.get(k).copied().unwrap_or(0))
            .collect())
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        inner.ops.writes += 1;
        if inner.values.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        inner.values.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }
}
