//! Typed JSON records on the store, and the compare-and-swap update loop that
//! keeps them correct under concurrent requests.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::kernel::contention::Contention;
use crate::kernel::http::ApiError;
use crate::kernel::store::Store;

/// Decodes a stored record; a record that does not decode is a server fault.
pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal(format!("stored record {key} is corrupt: {e}")))
}

/// Encodes a record.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Reads and decodes the record at `key`.
pub fn read<T: DeserializeOwned>(store: &dyn Store, key: &str) -> Result<Option<T>, ApiError> {
    store.get(key)?.map(|b| decode(key, &b)).transpose()
}

/// Decodes an optional value read by `get_many`.
pub fn decode_opt<T: DeserializeOwned>(
    key: &str,
    bytes: Option<&Vec<u8>>,
) -> Result<Option<T>, ApiError> {
    bytes.map(|b| decode(key, b)).transpose()
}

/// Reads the records at `keys` in one round trip, skipping absent ones.
pub fn read_many<T: DeserializeOwned>(
    store: &dyn Store,
    keys: &[String],
) -> Result<Vec<T>, ApiError> {
    store
        .get_many(keys)?
        .iter()
        .zip(keys)
        .filter_map(|(value, key)| value.as_deref().map(|bytes| decode(key, bytes)))
        .collect()
}

/// Applies `change` to the record at `key` atomically: reads it, lets `change`
/// compute the new value (or refuse, or decide nothing changes), and writes it with
/// compare-and-swap, retrying from a fresh read if another request got there first
/// (backing off as [`Contention`] does; `503 contended` only after its budget).
///
/// `change` returns `Ok(Some(new))` to write, `Ok(None)` to leave the record as it
/// is. The result is the record as stored afterwards, and whether this call wrote it.
pub fn update<T, F>(
    store: &dyn Store,
    key: &str,
    mut change: F,
) -> Result<(Option<T>, bool), ApiError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<&T>) -> Result<Option<T>, ApiError>,
{
    let mut contention = Contention::new();
    loop {
        let raw = store.get(key)?;
        let current: Option<T> = raw.as_deref().map(|b| decode(key, b)).transpose()?;
        let Some(new) = change(current.as_ref())? else {
            return Ok((current, false));
        };
        if store.compare_and_swap(key, raw.as_deref(), &encode(&new))? {
            return Ok((Some(new), true));
        }
        if !contention.lost() {
            return Err(ApiError::new(
                503,
                "contended",
                format!("{key} is being changed by many requests at once; retry"),
            ));
        }
    }
}

/// Adds `item` to the list record at `key` (a JSON array of names: an
/// index, the active campaigns, a campaign's failure codes), once.
pub fn add_to_list(store: &dyn Store, key: &str, item: &str) -> Result<(), ApiError> {
    update::<Vec<String>, _>(store, key, |current| {
        let mut list = current.cloned().unwrap_or_default();
        if list.iter().any(|x| x == item) {
            return Ok(None);
        }
        list.push(item.to_owned());
        Ok(Some(list))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::memory_store::MemoryStore;

    #[test]
    fn concurrent_updates_of_one_record_all_land() {
        let store = MemoryStore::default();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let store = &store;
                scope.spawn(move || {
                    for _ in 0..100 {
                        update::<u64, _>(store, "n", |n| Ok(Some(n.copied().unwrap_or(0) + 1)))
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(read::<u64>(&store, "n").unwrap(), Some(800));
    }

    #[test]
    fn a_change_that_writes_nothing_leaves_the_record() {
        let store = MemoryStore::default();
        update::<u64, _>(&store, "n", |_| Ok(Some(7))).unwrap();
        let (stored, wrote) = update::<u64, _>(&store, "n", |_| Ok(None)).unwrap();
        assert_eq!((stored, wrote), (Some(7), false));
    }
}
