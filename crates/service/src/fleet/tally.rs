//! Counting a device's state change exactly once, without transactions.
//!
//! A state change (an offer, a report) implies counter increments, but the
//! store changes one key at a time: a request that fails (a store outage, a
//! killed host) after changing the state and before the counters would lose
//! the count, and the device's retry, finding the state already changed,
//! would not count it again. So the change writes its increments into the
//! device's state in the same compare-and-swap (a [`Tally`]), applies them,
//! then clears them. A tally still there after [`LEASE_SECONDS`] belongs to a
//! request that is gone: the device's next request claims it and applies it.
//!
//! Each change keeps its own tally (concurrent changes of one device do not
//! wait for each other), and clears only its own. An increment the store
//! refuses is tried again for about 3 s (a restarting store comes back); if it
//! still fails, the tally is cut down to what was not applied, if the store
//! takes that write. What remains is one uncertain step: a writer that dies,
//! or loses the store for longer, between an increment and recording it leaves
//! a tally that will be applied again, so that step may count twice.

use serde::{Deserialize, Serialize};

use crate::fleet::device::DeviceState;
use crate::kernel::counters::Increment;
use crate::kernel::http::ApiError;
use crate::kernel::keys;
use crate::kernel::records;
use crate::kernel::service::Service;

/// How long a tally belongs to the request that wrote it.
pub const LEASE_SECONDS: u64 = 10;

/// Counter increments written with a state change and not yet applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// When its writer wrote (or claimed) it.
    pub at: u64,
    /// Tells the writer's tally from the others.
    pub token: u64,
    pub increments: Vec<Increment>,
}

impl Tally {
    /// Whether its writer is gone.
    pub fn is_stale(&self, now: u64) -> bool {
        now >= self.at.saturating_add(LEASE_SECONDS)
    }
}

fn token(svc: &Service) -> u64 {
    let mut bytes = [0u8; 8];
    svc.env.fill_random(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// Changes device `device_id`'s state by `change` (which returns the new
/// state and the increments the change implies, or `None` for no change) and
/// applies the increments once; stale tallies found on the way are applied
/// too. Returns the state as stored and whether `change` changed it.
pub fn update<F>(
    svc: &Service,
    device_id: &str,
    now: u64,
    mut change: F,
) -> Result<(Option<DeviceState>, bool), ApiError>
where
    F: FnMut(Option<&DeviceState>) -> Result<Option<(DeviceState, Vec<Increment>)>, ApiError>,
{
    let token = token(svc);
    let mut changed = false;
    let (state, wrote) =
        records::update::<DeviceState, _>(svc.store, &keys::state(device_id), |current| {
            // Tallies left by requests that are gone are taken over.
            let stale: Vec<Increment> = current
                .into_iter()
                .flat_map(|s| s.tallies.iter())
                .filter(|t| t.is_stale(now))
                .flat_map(|t| t.increments.iter().cloned())
                .collect();
            let (mut state, increments) = match change(current)? {
                Some((state, increments)) => {
                    changed = true;
                    (state, increments)
                }
                None if stale.is_empty() => {
                    changed = false;
                    return Ok(None);
                }
                None => {
                    changed = false;
                    (current.cloned().unwrap_or_default(), Vec::new())
                }
            };
            state.tallies.retain(|t| !t.is_stale(now));
            let increments: Vec<Increment> = stale.into_iter().chain(increments).collect();
            if !increments.is_empty() {
                state.tallies.push(Tally {
                    at: now,
                    token,
                    increments,
                });
            }
            Ok(Some(state))
        })?;
    if wrote
        && let Some(tally) = state
            .as_ref()
            .and_then(|s| s.tallies.iter().find(|t| t.token == token))
    {
        settle(svc, device_id, tally)?;
    }
    let state = state.map(|mut s| {
        s.tallies.retain(|t| t.token != token);
        s
    });
    Ok((state, changed && wrote))
}

/// Claims and applies the stale tallies of `state` (what a check-in does when
/// it finds one); nothing when there is none.
pub fn take_over(
    svc: &Service,
    device_id: &str,
    state: &DeviceState,
    now: u64,
) -> Result<(), ApiError> {
    if state.tallies.iter().any(|t| t.is_stale(now)) {
        update(svc, device_id, now, |_| Ok(None))?;
    }
    Ok(())
}

/// Applies `tally`, then removes it from the device's state. If an increment
/// fails, the tally is cut down to the increments not yet applied, if the
/// store takes that write.
fn settle(svc: &Service, device_id: &str, tally: &Tally) -> Result<(), ApiError> {
    for (applied, (key, delta)) in tally.increments.iter().enumerate() {
        if let Err(error) = patiently(|| Ok(svc.store.increment(key, *delta)?)) {
            if applied > 0 {
                let _ = keep_only(svc, device_id, tally.token, &tally.increments[applied..]);
            }
            return Err(error);
        }
    }
    // Clearing it is as patient: a tally left behind is applied again.
    patiently(|| keep_only(svc, device_id, tally.token, &[]))
}

/// Pauses between tries of a write the store refused: a store that restarts
/// (Redis, in about a second) is waited for rather than left with half a
/// tally applied.
const RETRY_PAUSES_MS: [u64; 6] = [50, 100, 200, 400, 800, 1600];

/// Runs `write` until it succeeds or the pauses run out (about 3 s).
fn patiently<T>(mut write: impl FnMut() -> Result<T, ApiError>) -> Result<T, ApiError> {
    let mut pauses = RETRY_PAUSES_MS.iter();
    loop {
        match write() {
            Ok(value) => return Ok(value),
            Err(error) => match pauses.next() {
                // `sleep` is a WASI clock wait inside a component.
                Some(ms) => std::thread::sleep(std::time::Duration::from_millis(*ms)),
                None => return Err(error),
            },
        }
    }
}

/// Leaves `remaining` as the increments of the tally `token` (removing it
/// when none remain).
fn keep_only(
    svc: &Service,
    device_id: &str,
    token: u64,
    remaining: &[Increment],
) -> Result<(), ApiError> {
    records::update::<DeviceState, _>(
        svc.store,
        &keys::state(device_id),
        |current| match current {
            Some(state) if state.tallies.iter().any(|t| t.token == token) => {
                let mut state = state.clone();
                if remaining.is_empty() {
                    state.tallies.retain(|t| t.token != token);
                } else if let Some(tally) = state.tallies.iter_mut().find(|t| t.token == token) {
                    tally.increments = remaining.to_vec();
                }
                Ok(Some(state))
            }
            _ => Ok(None),
        },
    )?;
    Ok(())
}
