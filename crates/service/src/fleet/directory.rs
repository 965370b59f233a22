//! The device directory: every enrolled device's id, in pages of at most
//! [`PAGE_SIZE`], in enrolment order.
//!
//! No handler lists keys (Spin's key-value stores can, but only by a scan of
//! the whole store), so the views that need the fleet as a whole (the fleet
//! summary, device search, a recount) walk these pages instead. Enrolment
//! appends to the last page by compare-and-swap and starts the next page when
//! it is full; `index/devices/head` names the last page. Pages are written
//! before the device records, so a device is never enrolled without being
//! listed; an enrolment cut short may leave an id whose record does not exist,
//! which readers skip (and a retried enrolment does not list twice).
//!
//! Check-in never reads the directory. It appends to it once for a device
//! enrolled before the directory existed (a store from an earlier version),
//! at that device's first offer since, so every device a campaign reaches is
//! listed.
//!
//! ```
//! use sluice_service::fleet::directory;
//! use sluice_service::kernel::memory_store::MemoryStore;
//!
//! let store = MemoryStore::default();
//! directory::append(&store, &["lamp-1".to_owned(), "lamp-2".to_owned()]).unwrap();
//! assert_eq!(directory::last_page(&store).unwrap(), Some(0));
//! assert_eq!(directory::read_pages(&store, 0..1).unwrap(), vec!["lamp-1", "lamp-2"]);
//! ```

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::kernel::http::ApiError;
use crate::kernel::records;
use crate::kernel::store::Store;

/// Most ids in one page.
pub const PAGE_SIZE: usize = 1000;

const HEAD: &str = "index/devices/head";

fn page_key(page: u64) -> String {
    format!("index/devices/{page:08}")
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Head {
    /// The page enrolments append to.
    last: u64,
}

/// The number of the last page, or `None` before the first enrolment.
pub fn last_page(store: &dyn Store) -> Result<Option<u64>, ApiError> {
    Ok(records::read::<Head>(store, HEAD)?.map(|h| h.last))
}

/// Appends `ids` (new devices, not yet in the directory) to the last pages.
pub fn append(store: &dyn Store, ids: &[String]) -> Result<(), ApiError> {
    let mut page = last_page(store)?.unwrap_or(0);
    let mut rest = ids;
    while !rest.is_empty() {
        let mut taken = 0;
        records::update::<Vec<String>, _>(store, &page_key(page), |current| {
            let mut list = current.cloned().unwrap_or_default();
            taken = rest.len().min(PAGE_SIZE.saturating_sub(list.len()));
            // A retried enrolment (the first was cut short) lists nobody twice.
            let listed: HashSet<&String> = list.iter().collect();
            let new: Vec<String> = rest[..taken]
                .iter()
                .filter(|id| !listed.contains(id))
                .cloned()
                .collect();
            if new.is_empty() {
                return Ok(None);
            }
            list.extend(new);
            Ok(Some(list))
        })?;
        rest = &rest[taken..];
        if !rest.is_empty() {
            page += 1;
        }
    }
    records::update::<Head, _>(store, HEAD, |current| match current {
        Some(head) if head.last >= page => Ok(None),
        _ => Ok(Some(Head { last: page })),
    })?;
    Ok(())
}

/// The ids on `pages` (in one round trip), in their order.
pub fn read_pages(
    store: &dyn Store,
    pages: impl IntoIterator<Item = u64>,
) -> Result<Vec<String>, ApiError> {
    let keys: Vec<String> = pages.into_iter().map(page_key).collect();
    Ok(records::read_many::<Vec<String>>(store, &keys)?
        .into_iter()
        .flatten()
        .collect())
}

/// The pages an estimate reads when the directory has more than `budget`
/// pages: `budget` of them, evenly spread (all of them otherwise).
pub fn sample_pages(last: u64, budget: u64) -> Vec<u64> {
    let pages = last + 1;
    if pages <= budget {
        return (0..pages).collect();
    }
    (0..budget).map(|i| i * pages / budget).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::memory_store::MemoryStore;

    fn ids(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}-{i}")).collect()
    }

    #[test]
    fn a_full_page_spills_into_the_next() {
        let store = MemoryStore::default();
        append(&store, &ids("a", 700)).unwrap();
        append(&store, &ids("b", 700)).unwrap();
        append(&store, &ids("c", 1000)).unwrap();
        assert_eq!(last_page(&store).unwrap(), Some(2));
        let all = read_pages(&store, 0..3).unwrap();
        assert_eq!(all.len(), 2400);
        assert_eq!(all[699], "a-699");
        assert_eq!(all[700], "b-0");
        assert_eq!(all[1000], "b-300");
        assert_eq!(all[2399], "c-999");
        assert_eq!(read_pages(&store, 2..3).unwrap().len(), 400);
    }

    #[test]
    fn a_retried_enrolment_is_listed_once() {
        let store = MemoryStore::default();
        append(&store, &ids("a", 10)).unwrap();
        append(&store, &ids("a", 10)).unwrap();
        assert_eq!(read_pages(&store, 0..1).unwrap(), ids("a", 10));
    }

    #[test]
    fn concurrent_enrolments_list_every_device_once() {
        let store = MemoryStore::default();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let store = &store;
                scope.spawn(move || {
                    for batch in 0..10 {
                        append(store, &ids(&format!("t{t}-{batch}"), 130)).unwrap();
                    }
                });
            }
        });
        let last = last_page(&store).unwrap().unwrap();
        let mut all = read_pages(&store, 0..last + 1).unwrap();
        assert_eq!(all.len(), 4 * 10 * 130);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 4 * 10 * 130);
        assert_eq!(last, 5, "5,200 ids fill 6 pages");
    }

    #[test]
    fn samples_spread_over_the_directory() {
        assert_eq!(sample_pages(3, 10), vec![0, 1, 2, 3]);
        let pages = sample_pages(999, 10);
        assert_eq!(pages.len(), 10);
        assert_eq!(pages[0], 0);
        assert_eq!(pages[9], 900);
    }
}
