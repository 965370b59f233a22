//! The fleet as a whole, for an operator: how many devices of each hardware
//! and version, how many were heard from lately, and device search.
//!
//! Counts by hardware and by version are counters (one round trip whatever
//! the fleet's size). Whether devices are online needs their last-seen
//! records: the summary reads them for the whole fleet up to
//! [`LIVENESS_PAGES`] directory pages, and beyond that for that many pages
//! spread over the directory, and says it estimated. Search walks the
//! directory a few pages per request and says where to go on.

use std::collections::BTreeMap;

use sluice_api::admin::fleet::{
    Cursor, DeviceRow, DeviceSearch, FleetSummary, Liveness, LivenessCounts,
};
use sluice_api::status::Phase;

use crate::fleet::device::{DeviceRecord, DeviceState, Seen};
use crate::kernel::http::ApiError;
use crate::kernel::service::Service;
use crate::{fleet::directory, kernel::counters, kernel::keys, kernel::records};

/// Directory pages whose devices' last-seen records the summary reads
/// (every device of a fleet up to 10,000; a sample of 10,000 beyond).
pub const LIVENESS_PAGES: u64 = 10;
/// Directory pages one search request walks.
pub const SEARCH_PAGES: u64 = 5;
/// Most devices one search answer lists.
pub const MAX_RESULTS: usize = 100;
/// Longest search query, in bytes.
pub const MAX_QUERY: usize = 512;

/// How long ago a device may last have checked in and still be online, and late.
pub fn thresholds(poll_seconds: u32) -> (u64, u64) {
    let poll = u64::from(poll_seconds);
    (2 * poll, (8 * poll).max(86_400))
}

/// The liveness of a device last seen at `seen_at`.
pub fn liveness(seen_at: Option<u64>, now: u64, poll_seconds: u32) -> Liveness {
    let (online, late) = thresholds(poll_seconds);
    match seen_at.map(|at| now.saturating_sub(at)) {
        None => Liveness::Never,
        Some(age) if age <= online => Liveness::Online,
        Some(age) if age <= late => Liveness::Late,
        Some(_) => Liveness::Silent,
    }
}

/// The fleet summary.
pub fn summary(svc: &Service) -> Result<FleetSummary, ApiError> {
    let now = svc.env.now();
    let lists = svc.store.get_many(&[
        keys::HARDWARE_INDEX.to_owned(),
        keys::VERSION_INDEX.to_owned(),
    ])?;
    let hardware: Vec<String> =
        records::decode_opt(keys::HARDWARE_INDEX, lists[0].as_ref())?.unwrap_or_default();
    let versions: Vec<String> =
        records::decode_opt(keys::VERSION_INDEX, lists[1].as_ref())?.unwrap_or_default();
    let mut counter_keys: Vec<String> =
        hardware.iter().map(|h| counters::hardware_key(h)).collect();
    counter_keys.extend(versions.iter().map(|v| counters::version_key(v)));
    let values = svc.store.counters(&counter_keys)?;
    let (hardware_counts, version_counts) = values.split_at(hardware.len());
    let positive = |names: Vec<String>, counts: &[i64]| -> BTreeMap<String, i64> {
        names
            .into_iter()
            .zip(counts.iter().copied())
            .filter(|(_, n)| *n > 0)
            .collect()
    };
    let hardware = positive(hardware, hardware_counts);
    let versions = positive(versions, version_counts);
    let devices: i64 = hardware.values().sum();

    let (online_within, late_within) = thresholds(svc.config.poll_seconds);
    let mut counts = LivenessCounts {
        online_within,
        late_within,
        ..LivenessCounts::default()
    };
    if let Some(last) = directory::last_page(svc.store)? {
        let pages = directory::sample_pages(last, LIVENESS_PAGES);
        counts.sampled = pages.len() as u64 <= last;
        let ids = directory::read_pages(svc.store, pages.iter().copied())?;
        let mut keys = Vec::with_capacity(ids.len() * 2);
        for id in &ids {
            keys.push(keys::device(id));
            keys.push(keys::seen(id));
        }
        let values = svc.store.get_many(&keys)?;
        for (pair, key) in values.chunks(2).zip(keys.chunks(2)) {
            let Some(device) = records::decode_opt::<DeviceRecord>(&key[0], pair[0].as_ref())?
            else {
                continue;
            };
            counts.scanned += 1;
            if device.revoked.is_some() {
                counts.revoked += 1;
                continue;
            }
            let seen: Option<Seen> = records::decode_opt(&key[1], pair[1].as_ref())?;
            match liveness(seen.map(|s| s.at), now, svc.config.poll_seconds) {
                Liveness::Online => counts.online += 1,
                Liveness::Late => counts.late += 1,
                Liveness::Silent => counts.silent += 1,
                Liveness::Never => counts.never += 1,
            }
        }
        if counts.sampled && counts.scanned > 0 {
            let scale = |n: u64| (n as f64 * devices as f64 / counts.scanned as f64).round() as u64;
            counts.online = scale(counts.online);
            counts.late = scale(counts.late);
            counts.silent = scale(counts.silent);
            counts.never = scale(counts.never);
            counts.revoked = scale(counts.revoked);
        }
    }
    Ok(FleetSummary {
        devices,
        hardware,
        versions,
        liveness: counts,
        now,
    })
}

/// A search query: words that must all match (case-insensitive).
///
/// A word matches a device when it is part of its id, or equals one of its
/// tags, its hardware, its version, its campaign, its rollout phase or its
/// liveness (`online`, `late`, `silent`, `never`, `revoked`); `name=value`
/// matches an attribute.
///
/// ```
/// use sluice_service::fleet::views::Query;
/// let q = Query::parse("lamp site=berlin").unwrap();
/// assert_eq!(q.words().len(), 2);
/// assert!(Query::parse(&"x".repeat(600)).is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Query {
    words: Vec<String>,
}

impl Query {
    pub fn parse(text: &str) -> Result<Query, ApiError> {
        if text.len() > MAX_QUERY {
            return Err(ApiError::bad_request(format!(
                "q: at most {MAX_QUERY} bytes"
            )));
        }
        Ok(Query {
            words: text.split_whitespace().map(str::to_lowercase).collect(),
        })
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    fn matches(&self, device: &DeviceRecord, row: &DeviceRow) -> bool {
        self.words.iter().all(|word| {
            let is = |text: &str| text.eq_ignore_ascii_case(word);
            device.id.to_lowercase().contains(word.as_str())
                || device.tags.iter().any(|t| is(t))
                || is(&device.hardware)
                || (!row.version.is_empty() && is(&row.version))
                || row.campaign.as_deref().is_some_and(is)
                || row.phase.map(Phase::as_str).is_some_and(is)
                || is(liveness_name(row))
                || word.split_once('=').is_some_and(|(name, value)| {
                    device
                        .attributes
                        .iter()
                        .any(|(k, v)| k.eq_ignore_ascii_case(name) && v.to_lowercase() == value)
                })
        })
    }
}

fn liveness_name(row: &DeviceRow) -> &'static str {
    if row.revoked {
        return "revoked";
    }
    match row.liveness {
        Liveness::Online => "online",
        Liveness::Late => "late",
        Liveness::Silent => "silent",
        Liveness::Never => "never",
    }
}

/// Walks up to [`SEARCH_PAGES`] directory pages from `from`, listing the
/// devices `query` matches (at most `limit`, up to [`MAX_RESULTS`]).
pub fn search(
    svc: &Service,
    query: &Query,
    from: Cursor,
    limit: usize,
) -> Result<DeviceSearch, ApiError> {
    let now = svc.env.now();
    let limit = limit.clamp(1, MAX_RESULTS);
    let Some(last) = directory::last_page(svc.store)? else {
        return Ok(DeviceSearch {
            devices: Vec::new(),
            next: None,
            scanned: 0,
            pages: 0,
        });
    };
    let mut found = Vec::new();
    let mut scanned = 0;
    let mut page = from.page;
    let mut skip = from.skip;
    let mut stopped = None;
    'walk: while page <= last && page < from.page.saturating_add(SEARCH_PAGES) {
        let ids = directory::read_pages(svc.store, page..page + 1)?;
        let ids = ids.get(skip..).unwrap_or_default();
        let mut keys = Vec::with_capacity(ids.len() * 3);
        for id in ids {
            keys.extend([keys::device(id), keys::state(id), keys::seen(id)]);
        }
        let values = svc.store.get_many(&keys)?;
        for (i, (triple, key)) in values.chunks(3).zip(keys.chunks(3)).enumerate() {
            let Some(device) = records::decode_opt::<DeviceRecord>(&key[0], triple[0].as_ref())?
            else {
                continue;
            };
            scanned += 1;
            let state: DeviceState =
                records::decode_opt(&key[1], triple[1].as_ref())?.unwrap_or_default();
            let seen: Option<Seen> = records::decode_opt(&key[2], triple[2].as_ref())?;
            let row = DeviceRow {
                id: device.id.clone(),
                hardware: device.hardware.clone(),
                tags: device.tags.clone(),
                version: state.version.clone(),
                seen_at: seen.as_ref().map(|s| s.at),
                liveness: liveness(seen.map(|s| s.at), now, svc.config.poll_seconds),
                revoked: device.revoked.is_some(),
                campaign: state.rollout.as_ref().map(|r| r.campaign.clone()),
                phase: state.rollout.as_ref().map(|r| r.phase),
            };
            if query.matches(&device, &row) {
                found.push(row);
                if found.len() == limit {
                    stopped = Some(Cursor {
                        page,
                        skip: skip + i + 1,
                    });
                    break 'walk;
                }
            }
        }
        page += 1;
        skip = 0;
    }
    let next = stopped.or_else(|| (page <= last).then_some(Cursor { page, skip: 0 }));
    Ok(DeviceSearch {
        devices: found,
        next,
        scanned,
        pages: last + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_follows_the_poll_interval() {
        let now = 1_000_000;
        assert_eq!(liveness(None, now, 900), Liveness::Never);
        assert_eq!(liveness(Some(now - 1800), now, 900), Liveness::Online);
        assert_eq!(liveness(Some(now - 1801), now, 900), Liveness::Late);
        assert_eq!(liveness(Some(now - 86_400), now, 900), Liveness::Late);
        assert_eq!(liveness(Some(now - 86_401), now, 900), Liveness::Silent);
        assert_eq!(thresholds(86_400).1, 8 * 86_400);
    }
}
