//! Admission: which requests the host takes on, and how it says "later".
//!
//! - **Capacity.** At most `running` requests hold a component instance at
//!   once; up to `waiting` more wait for one, each at most [`QUEUE_WAIT`].
//!   Past that the host is saturated and sheds the request at once: `503`
//!   with `Retry-After`, costing no instance, rather than queueing without
//!   bound (every waiter would only get slower).
//! - **Queueing delay.** Requests also wait before admission, for a thread
//!   to read them, when guests keep every thread busy: the host then sheds
//!   new requests while that delay stands above its target (see
//!   [`crate::queue_delay`]), so a CPU-bound host does not queue without
//!   bound either.
//! - **Device budgets.** Each device credential (`Authorization: Basic …` or
//!   hawkBit's `TargetToken …`) spends from its own token bucket, so a device
//!   stuck in a request loop is answered `429` with `Retry-After` before any
//!   instance runs, and costs the rest of the fleet nothing. Buckets are keyed
//!   by a digest of the whole header, so nobody can spend another device's
//!   budget without its secret. Operator requests (`Bearer`) and anonymous
//!   ones (public chunks) have no budget; capacity still bounds them.
//!
//! This is the host's own defence; under Spin, the platform in front of it
//! (a CDN, a proxy) plays this part.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::queue_delay::QueueDelay;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The longest a request waits for an instance before it is shed.
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// Most device buckets kept; past it, full (idle) buckets are dropped.
const MAX_BUCKETS: usize = 200_000;

/// Why a request was not admitted, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The host is saturated: `503`.
    Saturated { retry_after_secs: u64 },
    /// This device spent its budget: `429`.
    OverBudget { retry_after_secs: u64 },
}

/// A device's request budget: `rate` requests a second on average, up to
/// `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub rate: f64,
    pub burst: f64,
}

impl Budget {
    /// The default: 10 requests a second, bursts of 100 (a whole update's
    /// reports and chunk fetches fit in a burst).
    pub const DEFAULT: Budget = Budget {
        rate: 10.0,
        burst: 100.0,
    };
}

impl std::str::FromStr for Budget {
    type Err = String;

    /// `RATE/s` or `RATE/s:BURST`, e.g. `10/s:100`.
    fn from_str(text: &str) -> Result<Budget, String> {
        let (rate, burst) = match text.split_once(':') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (text, None),
        };
        let rate: f64 = rate
            .strip_suffix("/s")
            .and_then(|r| r.trim().parse().ok())
            .filter(|r: &f64| r.is_finite() && *r > 0.0)
            .ok_or_else(|| format!("budget {text:?}: expected RATE/s[:BURST], e.g. 10/s:100"))?;
        let burst = match burst {
            Some(b) => b
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|b| b.is_finite() && *b >= 1.0)
                .ok_or_else(|| format!("budget {text:?}: BURST must be a number of at least 1"))?,
            None => (rate * 10.0).max(1.0),
        };
        Ok(Budget { rate, burst })
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The host's admission control, shared by all connections.
pub struct Admission {
    instances: std::sync::Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    budget: Option<Budget>,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
    /// Spreads the `Retry-After` of shed requests so they do not all return
    /// in the same second.
    shed: AtomicUsize,
    /// The delay before admission; `serve` runs its probe.
    pub queue_delay: std::sync::Arc<QueueDelay>,
}

impl Admission {
    /// Admission for `running` concurrent instances with `waiting` more
    /// queued, and a device budget (`None`: no budgets).
    pub fn new(running: usize, waiting: usize, budget: Option<Budget>) -> Admission {
        Admission {
            instances: std::sync::Arc::new(Semaphore::new(running.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: waiting,
            budget,
            buckets: Mutex::new(HashMap::new()),
            shed: AtomicUsize::new(0),
            queue_delay: std::sync::Arc::new(QueueDelay::default()),
        }
    }

    /// Charges one request to the device its `authorization` header names, if
    /// it names one.
    pub fn charge(&self, authorization: Option<&[u8]>, now: Instant) -> Result<(), Refusal> {
        let (Some(budget), Some(header)) = (self.budget, authorization) else {
            return Ok(());
        };
        if !is_device_credential(header) {
            return Ok(());
        }
        let key: [u8; 32] = Sha256::digest(header).into();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
            // A full bucket is one nobody has used lately: forget it.
            buckets.retain(|_, b| refill(b, budget, now) < budget.burst);
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: budget.burst,
            at: now,
        });
        bucket.tokens = refill(bucket, budget, now);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / budget.rate;
            Err(Refusal::OverBudget {
                retry_after_secs: (wait.ceil() as u64).max(1),
            })
        }
    }

    /// Waits for an instance slot, or sheds the request when the host is
    /// saturated.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        if self.queue_delay.overloaded() {
            return Err(self.saturated());
        }
        if let Ok(permit) = self.instances.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(self.saturated());
        }
        let permit = tokio::time::timeout(QUEUE_WAIT, self.instances.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(self.saturated()),
        }
    }

    fn saturated(&self) -> Refusal {
        let n = self.shed.fetch_add(1, Ordering::Relaxed);
        Refusal::Saturated {
            retry_after_secs: 1 + (n % 5) as u64,
        }
    }
}

fn refill(bucket: &Bucket, budget: Budget, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * budget.rate).min(budget.burst)
}

/// Whether an `Authorization` header carries a device's credentials (HTTP
/// Basic, or hawkBit DDI's `TargetToken`).
fn is_device_credential(header: &[u8]) -> bool {
    let scheme = header.split(|b| *b == b' ').next().unwrap_or_default();
    scheme.eq_ignore_ascii_case(b"basic") || scheme.eq_ignore_ascii_case(b"targettoken")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_spends_its_burst_then_waits_for_its_rate() {
        let admission = Admission::new(
            4,
            4,
            Some(Budget {
                rate: 2.0,
                burst: 3.0,
            }),
        );
        let t0 = Instant::now();
        let looping = Some(&b"Basic Y2FtLTE6czNjcmV0"[..]);
        for _ in 0..3 {
            assert_eq!(admission.charge(looping, t0), Ok(()));
        }
        assert_eq!(
            admission.charge(looping, t0),
            Err(Refusal::OverBudget {
                retry_after_secs: 1
            })
        );
        // Another device, the operator and anonymous requests are untouched.
        assert_eq!(
            admission.charge(Some(b"Basic b3RoZXI6c2VjcmV0"), t0),
            Ok(())
        );
        assert_eq!(admission.charge(Some(b"TargetToken abc"), t0), Ok(()));
        for _ in 0..10 {
            assert_eq!(admission.charge(Some(b"Bearer admin"), t0), Ok(()));
            assert_eq!(admission.charge(None, t0), Ok(()));
        }
        // Half a second later one more request is in the budget.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(admission.charge(looping, later), Ok(()));
        assert!(admission.charge(looping, later).is_err());
    }

    #[test]
    fn no_budget_means_no_refusal() {
        let admission = Admission::new(1, 0, None);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(admission.charge(Some(b"Basic eA=="), t0), Ok(()));
        }
    }

    #[tokio::test]
    async fn a_saturated_host_sheds_at_once_instead_of_queueing() {
        let admission = std::sync::Arc::new(Admission::new(1, 1, None));
        let running = admission.admit().await.unwrap();
        // One may wait for the instance...
        let waiter = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit().await.map(|_| ()) })
        };
        while admission.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        // ...the next is shed at once, with a time to come back.
        match admission.admit().await {
            Err(Refusal::Saturated { retry_after_secs }) => {
                assert!((1..=5).contains(&retry_after_secs))
            }
            other => panic!("expected a shed request, got {other:?}"),
        }
        drop(running);
        assert_eq!(waiter.await.unwrap(), Ok(()), "the waiter got the instance");
    }

    #[test]
    fn budgets_parse() {
        assert_eq!(
            "10/s:100".parse(),
            Ok(Budget {
                rate: 10.0,
                burst: 100.0
            })
        );
        assert_eq!(
            "0.5/s".parse(),
            Ok(Budget {
                rate: 0.5,
                burst: 5.0
            })
        );
        for bad in ["10", "x/s", "0/s", "10/s:0", "10/s:x", "-1/s"] {
            assert!(bad.parse::<Budget>().is_err(), "{bad}");
        }
    }
}
