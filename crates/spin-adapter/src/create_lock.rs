//! Creating a key safely on a store whose compare-and-swap from "absent" is an
//! unconditional write, as Spin 4.0.2's SQLite key-value store's is (its swap
//! after an absent `current` is `INSERT … ON CONFLICT DO UPDATE`): two requests
//! creating the same key at once would both be told they won.
//!
//! Such a store's other atomic operations are sound: `increment` creates a
//! counter atomically, and a compare-and-swap from a present value is a
//! conditional `UPDATE`. So creations take a lease on one lock record, a
//! counter holding the lease's expiry in milliseconds (0: free), which only
//! `increment` creates and only compare-and-swaps from a present value change.
//! Under the lease a creation checks that the key is absent and writes it. A
//! holder that dies leaves the lease to expire; a creation takes a few
//! microseconds of it.

use sluice_service::kernel::contention::Contention;
use sluice_service::{Store, StoreError};

/// The lock record: a counter, so that `increment` creates it atomically.
pub const CREATE_LOCK: &str = "sluice/lock/create";

/// How long a lease lasts: far longer than the two store operations it covers.
pub const LEASE_MS: i64 = 5_000;

/// The lock's value as stored: a little-endian i64 where the store keeps
/// counters so (SQLite), else decimal text (Redis).
fn decode(raw: &[u8]) -> Option<i64> {
    match <[u8; 8]>::try_from(raw) {
        Ok(bytes) => Some(i64::from_le_bytes(bytes)),
        Err(_) => std::str::from_utf8(raw).ok()?.parse().ok(),
    }
}

/// `value` in the format `like` is in.
fn encode_like(like: &[u8], value: i64) -> Vec<u8> {
    if like.len() == 8 {
        value.to_le_bytes().to_vec()
    } else {
        value.to_string().into_bytes()
    }
}

/// Writes `value` at `key` if it is absent, under the creation lease; returns
/// whether it did. `now_ms` is the wall clock in milliseconds.
pub fn create_if_absent(
    store: &dyn Store,
    key: &str,
    value: &[u8],
    now_ms: &dyn Fn() -> i64,
) -> Result<bool, StoreError> {
    let mut contention = Contention::new();
    loop {
        // Creates the lock at 0 (free) if it is absent; changes nothing else.
        store.increment(CREATE_LOCK, 0)?;
        let raw = store
            .get(CREATE_LOCK)?
            .ok_or_else(|| StoreError(format!("{CREATE_LOCK} vanished")))?;
        let held_until =
            decode(&raw).ok_or_else(|| StoreError(format!("{CREATE_LOCK} is not a counter")))?;
        let now = now_ms();
        if held_until <= now {
            let ours = encode_like(&raw, now + LEASE_MS);
            if store.compare_and_swap(CREATE_LOCK, Some(&raw), &ours)? {
                let created = match store.get(key) {
                    Ok(Some(_)) => Ok(false),
                    Ok(None) => store.set(key, value).map(|()| true),
                    Err(e) => Err(e),
                };
                // Losing this only means the lease ran out and another took it.
                let _ = store.compare_and_swap(CREATE_LOCK, Some(&ours), &encode_like(&raw, 0));
                return created;
            }
        }
        if !contention.lost() {
            return Err(StoreError(format!(
                "{key} could not be created: the creation lock stayed taken"
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// Spin 4.0.2's SQLite key-value store as its source behaves: counters are
    /// little-endian i64 values beside the others, `increment` panics on a
    /// value that is not 8 bytes, and a compare-and-swap from "absent" writes
    /// whatever is there.
    #[derive(Default)]
    struct SpinSqlite {
        values: Mutex<HashMap<String, Vec<u8>>>,
    }

    impl Store for SpinSqlite {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.values.lock().unwrap().get(key).cloned())
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
            self.values
                .lock()
                .unwrap()
                .insert(key.to_owned(), value.to_vec());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.values.lock().unwrap().remove(key);
            Ok(())
        }
        fn exists(&self, key: &str) -> Result<bool, StoreError> {
            Ok(self.values.lock().unwrap().contains_key(key))
        }
        fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
            let mut values = self.values.lock().unwrap();
            let old = values.get(key).map_or(0, |v| {
                i64::from_le_bytes(v.as_slice().try_into().expect("incorrect length"))
            });
            values.insert(key.to_owned(), (old + delta).to_le_bytes().to_vec());
            Ok(old + delta)
        }
        fn compare_and_swap(
            &self,
            key: &str,
            expected: Option<&[u8]>,
            new: &[u8],
        ) -> Result<bool, StoreError> {
            let mut values = self.values.lock().unwrap();
            match expected {
                None => {
                    values.insert(key.to_owned(), new.to_vec());
                    Ok(true)
                }
                Some(old) if values.get(key).map(Vec::as_slice) == Some(old) => {
                    values.insert(key.to_owned(), new.to_vec());
                    Ok(true)
                }
                Some(_) => Ok(false),
            }
        }
    }

    fn clock() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    #[test]
    fn of_many_concurrent_creators_of_one_key_exactly_one_wins() {
        let store = SpinSqlite::default();
        for round in 0..50 {
            let key = format!("audit/{round}");
            let wins: usize = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|t| {
                        let (store, key) = (&store, &key);
                        scope.spawn(move || {
                            create_if_absent(store, key, format!("{t}").as_bytes(), &clock).unwrap()
                                as usize
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(wins, 1, "round {round}");
        }
        // The lock is free again and still a counter (increment would panic on
        // anything else).
        assert_eq!(store.increment(CREATE_LOCK, 0).unwrap(), 0);
    }

    #[test]
    fn the_upsert_alone_lets_two_creators_win() {
        // What the lock prevents: both creators read "absent", both swap.
        let store = SpinSqlite::default();
        assert!(store.compare_and_swap("k", None, b"first").unwrap());
        assert!(store.compare_and_swap("k", None, b"second").unwrap());
    }

    #[test]
    fn a_present_key_is_left_as_it_is() {
        let store = SpinSqlite::default();
        store.set("k", b"there").unwrap();
        assert!(!create_if_absent(&store, "k", b"new", &clock).unwrap());
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"there"[..]));
    }

    #[test]
    fn a_lease_left_by_a_holder_that_died_expires() {
        let store = SpinSqlite::default();
        store.increment(CREATE_LOCK, 0).unwrap();
        let stale = (clock() - 1).to_le_bytes();
        let raw = store.get(CREATE_LOCK).unwrap().unwrap();
        assert!(
            store
                .compare_and_swap(CREATE_LOCK, Some(&raw), &stale)
                .unwrap()
        );
        assert!(create_if_absent(&store, "k", b"v", &clock).unwrap());
        // A live lease holds creations back until the contention budget is spent.
        let live = (clock() + 60_000).to_le_bytes();
        assert!(
            store
                .compare_and_swap(CREATE_LOCK, Some(&[0; 8]), &live)
                .unwrap()
        );
        assert!(create_if_absent(&store, "other", b"v", &clock).is_err());
        assert_eq!(store.get("other").unwrap(), None);
    }
}
