//! Webhook notifications: each campaign event (scheduled, started, advanced, waiting for
//! approval, approved, halted, rolled back, finished, paused, resumed,
//! aborted) as a signed JSON `POST` to the operator's receiver, in order.
//!
//! The audit log is the outbox: every campaign change is already an audit
//! entry, written in the same request that made the change, so no event can be
//! lost or invented. [`deliver`] follows the log from a cursor, one deliverer
//! at a time (a short lease taken by compare-and-swap), and moves the cursor
//! only past events the receiver accepted with a 2xx; a receiver that fails
//! is retried with exponential backoff. It is called after a response has been
//! sent, so a slow or dead receiver never delays a device. Delivery is at
//! least once (a deliverer stopped between sending and moving the cursor sends
//! again): each event carries its audit sequence number as `id`, which
//! receivers use to drop repeats.
//!
//! Each body is signed as webhook senders commonly do: header
//! `X-Sluice-Signature: sha256=HEX`, the HMAC-SHA256 of `TIMESTAMP.BODY` under
//! the shared secret, with `X-Sluice-Timestamp: TIMESTAMP` (unix seconds), so a
//! receiver can also refuse replays.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::kernel::config::Webhook;
use crate::kernel::http::ApiError;
use crate::kernel::service::Service;
use crate::ops::audit::{self, Entry};
use crate::{kernel::keys, kernel::records};

/// Most events one call delivers.
pub const MAX_BATCH: usize = 20;
/// How long a deliverer holds the lease; it stops sending a little before.
pub const LEASE_SECONDS: u64 = 60;
/// The longest wait between attempts at a failing receiver.
pub const MAX_BACKOFF_SECONDS: u64 = 600;

/// Sends one webhook request: the component's outbound HTTP, or a test double.
pub trait Sender {
    /// POSTs `body` to `url` with `headers`; the response status, or why
    /// there was none.
    fn post(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String>;
}

/// Delivery state, one small record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The last audit sequence number looked at (delivered, or not an event).
    pub cursor: i64,
    /// Consecutive failed attempts.
    #[serde(default)]
    pub failures: u32,
    /// No attempt before this (unix seconds).
    #[serde(default)]
    pub retry_at: u64,
    /// The last failure, for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A deliverer holds the log until this (unix seconds); also the lease's
    /// token, so a deliverer whose lease ran out writes nothing.
    #[serde(default)]
    pub leased_until: u64,
    /// The audit entry after the cursor was missing when first looked at then
    /// (its writer may still be writing it): `(seq, unix seconds)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<(i64, u64)>,
}

/// How long a missing audit entry may hold delivery up before it is skipped
/// (its writer stopped between taking the number and writing the entry).
pub const GAP_GRACE_SECONDS: u64 = 30;

/// The event an audit entry is, if it is one a receiver hears about.
pub fn event_of(entry: &Entry) -> Option<Value> {
    let kind = match entry.action.as_str() {
        "campaign.create" => {
            let scheduled = entry
                .after
                .as_ref()
                .is_some_and(|a| !a["start_at"].is_null());
            if scheduled { "scheduled" } else { "started" }
        }
        "campaign.start" => "started",
        "campaign.advance" => "advanced",
        "campaign.wait_for_approval" => "waiting_for_approval",
        "campaign.approve" => "approved",
        "campaign.halt" => "halted",
        "campaign.rollback" => "rolled_back",
        "campaign.complete" | "campaign.end" => "finished",
        "campaign.pause" => "paused",
        "campaign.resume" => "resumed",
        "campaign.abort" => "aborted",
        _ => return None,
    };
    Some(json!({
        "id": entry.seq,
        "event": kind,
        "campaign": entry.target,
        "at": entry.at,
        "by": entry.actor,
        "before": entry.before,
        "after": entry.after,
        // The entry's digest: a receiver that keeps it can later check the
        // server's log against it (`sluice audit verify --anchor ID:DIGEST`).
        "audit_digest": entry.digest(),
    }))
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; this cannot happen.
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What one call to [`deliver`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Events the receiver accepted.
    pub sent: usize,
    /// Whether an attempt failed (and was scheduled again).
    pub failed: bool,
}

/// One webhook request, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The audit sequence number of its event.
    pub seq: i64,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Events taken for delivery under the lease; hand it back to [`settle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub url: String,
    pub requests: Vec<Outgoing>,
    /// The last audit entry looked at (events or not).
    last_seq: i64,
    progress: Progress,
}

/// Takes the next events to deliver, unless another deliverer holds the log,
/// the receiver is backing off, or nothing is new (then it costs two reads).
pub fn take(svc: &Service, webhook: &Webhook) -> Result<Option<Batch>, ApiError> {
    let now = svc.env.now();
    let last = audit::head(svc.store)?.seq;
    let progress: Progress = records::read(svc.store, keys::NOTIFY)?.unwrap_or_default();
    if progress.cursor >= last || progress.retry_at > now || progress.leased_until > now {
        return Ok(None);
    }
    // Take the lease; another deliverer that got there first wins.
    let (leased, took) = records::update::<Progress, _>(svc.store, keys::NOTIFY, |current| {
        let current = current.cloned().unwrap_or_default();
        if current.leased_until > now || current.retry_at > now {
            return Ok(None);
        }
        Ok(Some(Progress {
            leased_until: now + LEASE_SECONDS,
            ..current
        }))
    })?;
    if !took {
        return Ok(None);
    }
    let mut progress = leased.unwrap_or_default();
    let mut entries = contiguous(
        audit::read(svc.store, progress.cursor, MAX_BATCH)?.entries,
        progress.cursor,
    );
    if entries.is_empty() {
        // The next entry is missing: deleted behind the service's back (the
        // chained log never shows a number before its entry is written), or a
        // gap of a log written before chaining. Wait a little, then skip it.
        let missing = progress.cursor + 1;
        match progress.gap {
            Some((seq, seen)) if seq == missing && now >= seen + GAP_GRACE_SECONDS => {
                progress.cursor = missing;
                progress.gap = None;
                entries = contiguous(
                    audit::read(svc.store, progress.cursor, MAX_BATCH)?.entries,
                    progress.cursor,
                );
            }
            Some((seq, _)) if seq == missing => {}
            _ => progress.gap = Some((missing, now)),
        }
    }
    let last_seq = entries.last().map_or(progress.cursor, |e| e.seq);
    let requests = entries
        .iter()
        .filter_map(|entry| {
            let event = event_of(entry)?;
            let body = event.to_string().into_bytes();
            let kind = event["event"].as_str().unwrap_or("").to_owned();
            let headers = vec![
                ("content-type", "application/json".to_owned()),
                // Some receivers refuse chunked bodies; this one is whole.
                ("content-length", body.len().to_string()),
                ("x-sluice-event", kind),
                ("x-sluice-timestamp", now.to_string()),
                ("x-sluice-signature", signature(&webhook.secret, now, &body)),
            ];
            Some(Outgoing {
                seq: entry.seq,
                headers,
                body,
            })
        })
        .collect();
    Ok(Some(Batch {
        url: webhook.url.clone(),
        requests,
        last_seq,
        progress,
    }))
}

/// The entries that follow `cursor` without a gap: delivery does not pass a
/// missing entry before its grace is up.
fn contiguous(entries: Vec<Entry>, cursor: i64) -> Vec<Entry> {
    entries
        .into_iter()
        .enumerate()
        .take_while(|(i, e)| e.seq == cursor + 1 + *i as i64)
        .map(|(_, e)| e)
        .collect()
}

impl Batch {
    /// When its lease runs out: stop sending a little before.
    pub fn lease_until(&self) -> u64 {
        self.progress.leased_until
    }
}

/// Records how a batch went: the receiver accepted its first `accepted`
/// requests, then failed with `error` (or accepted them all), and releases the
/// lease. After a failure the next attempt waits, twice as long each time.
pub fn settle(
    svc: &Service,
    batch: Batch,
    accepted: usize,
    error: Option<String>,
) -> Result<Delivered, ApiError> {
    let now = svc.env.now();
    let mut progress = batch.progress;
    let failed = error.is_some() && accepted < batch.requests.len();
    if let Some(unsent) = batch.requests.get(accepted) {
        // Past the accepted events, up to (not including) the first unsent
        // one: it failed, or the lease ran short before it was sent.
        progress.cursor = unsent.seq - 1;
        if let Some(error) = error {
            progress.failures = progress.failures.saturating_add(1);
            let backoff = (1u64 << progress.failures.min(10)).min(MAX_BACKOFF_SECONDS);
            progress.retry_at = now + backoff;
            progress.last_error = Some(error);
        }
    } else {
        progress.cursor = batch.last_seq;
        progress.failures = 0;
        progress.last_error = None;
    }
    if progress.gap.is_some_and(|(seq, _)| seq <= progress.cursor) {
        progress.gap = None;
    }
    // Only while the lease is still ours: a deliverer that outlived it (a slow
    // receiver) writes nothing, and its successor resends from the cursor.
    let token = progress.leased_until;
    progress.leased_until = 0;
    records::update::<Progress, _>(svc.store, keys::NOTIFY, |current| {
        Ok((current.map(|c| c.leased_until) == Some(token)).then(|| progress.clone()))
    })?;
    Ok(Delivered {
        sent: accepted,
        failed,
    })
}

/// Delivers pending events through a blocking `sender` (an embedder without
/// async, the tests): [`take`], send in order until one fails, [`settle`].
pub fn deliver(
    svc: &Service,
    webhook: &Webhook,
    sender: &dyn Sender,
) -> Result<Delivered, ApiError> {
    let Some(batch) = take(svc, webhook)? else {
        return Ok(Delivered::default());
    };
    let mut accepted = 0;
    let mut error = None;
    for request in &batch.requests {
        if svc.env.now() + 10 >= batch.lease_until() {
            break;
        }
        match sender.post(&batch.url, &request.headers, &request.body) {
            Ok(status) if (200..300).contains(&status) => accepted += 1,
            Ok(status) => {
                error = Some(format!("the receiver answered {status}"));
                break;
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    settle(svc, batch, accepted, error)
}
