//! Queueing delay: how long work that is ready to run waits for a thread.
//!
//! Admission's instance slots bound the requests that run, but not the ones
//! that wait *before* admission: when guests keep every worker thread busy,
//! new connections sit unread in the runtime's run queue, where no counter
//! sees them, and everyone only gets slower. So a probe task asks to be woken
//! every [`PROBE_EVERY`] and notes how late it was: that lateness is the
//! delay any request that became ready at the same moment suffered.
//!
//! As in CoDel, a burst is not overload; a queue that does not drain is. The
//! host counts as overloaded when even the *smallest* delay seen over an
//! [`INTERVAL`] is above [`TARGET`], and stops being so after the first
//! interval whose smallest delay is below it. While overloaded, admission
//! sheds new requests with `503` and `Retry-After`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sluice_host::queue_delay::{Window, INTERVAL, TARGET};
//!
//! let start = Instant::now();
//! let mut window = Window::default();
//! // A burst: one late wake-up among prompt ones is not a standing queue.
//! assert_eq!(window.observe(TARGET * 4, start), None);
//! let ms = Duration::from_millis;
//! assert_eq!(window.observe(ms(1), start + INTERVAL), Some(ms(1)));
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the probe asks to be woken.
pub const PROBE_EVERY: Duration = Duration::from_millis(10);
/// The span whose smallest delay decides.
pub const INTERVAL: Duration = Duration::from_millis(250);
/// The standing delay above which the host sheds.
pub const TARGET: Duration = Duration::from_millis(50);

/// The smallest delay seen since an interval began.
#[derive(Debug, Default)]
pub struct Window {
    started: Option<Instant>,
    smallest: Option<Duration>,
}

impl Window {
    /// Notes a delay seen at `now`; at the end of an interval, returns its
    /// smallest delay and starts the next.
    pub fn observe(&mut self, delay: Duration, now: Instant) -> Option<Duration> {
        let started = *self.started.get_or_insert(now);
        let smallest = self.smallest.map_or(delay, |s| s.min(delay));
        self.smallest = Some(smallest);
        if now.saturating_duration_since(started) < INTERVAL {
            return None;
        }
        self.started = Some(now);
        self.smallest = None;
        Some(smallest)
    }
}

/// The host's queueing delay, as the probe last judged it.
#[derive(Debug, Default)]
pub struct QueueDelay {
    overloaded: AtomicBool,
    standing_micros: AtomicU64,
}

impl QueueDelay {
    /// Whether ready work has been waiting longer than [`TARGET`] for a whole
    /// interval.
    pub fn overloaded(&self) -> bool {
        self.overloaded.load(Ordering::Relaxed)
    }

    /// The smallest delay of the last interval.
    pub fn standing(&self) -> Duration {
        Duration::from_micros(self.standing_micros.load(Ordering::Relaxed))
    }

    /// Records the smallest delay of an interval.
    pub fn judge(&self, standing: Duration) {
        let was = self.overloaded.swap(standing > TARGET, Ordering::Relaxed);
        if was != (standing > TARGET) {
            tracing::warn!(
                target: "sluice::admission",
                standing_ms = standing.as_millis() as u64,
                "{}",
                if was { "queueing delay back under target: admitting again" }
                else { "queueing delay stands above target: shedding new requests" }
            );
        }
        self.standing_micros.store(
            u64::try_from(standing.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The probe: runs until the task is dropped (spawn it on the runtime
    /// that serves requests).
    pub async fn watch(self: Arc<Self>) {
        let mut window = Window::default();
        loop {
            let asked = Instant::now();
            tokio::time::sleep(PROBE_EVERY).await;
            let now = Instant::now();
            // The timer's own granularity (a millisecond) is not delay.
            let late = now
                .saturating_duration_since(asked)
                .saturating_sub(PROBE_EVERY + Duration::from_millis(1));
            if let Some(standing) = window.observe(late, now) {
                self.judge(standing);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standing_queue_is_overload_and_a_drained_one_is_not() {
        let delay = QueueDelay::default();
        let mut window = Window::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut feed = |samples: &[(u64, u64)]| -> Vec<bool> {
            samples
                .iter()
                .filter_map(|(at, late)| window.observe(ms(*late), t0 + ms(*at)))
                .map(|standing| {
                    delay.judge(standing);
                    delay.overloaded()
                })
                .collect()
        };
        // Every wake-up 80 ms late for a whole interval: a standing queue.
        assert_eq!(feed(&[(0, 80), (100, 90), (250, 80)]), [true]);
        assert_eq!(delay.standing(), ms(80));
        // One prompt wake-up in the next interval: the queue drained.
        assert_eq!(feed(&[(300, 90), (400, 2), (500, 95)]), [false]);
        // Bursts alone never count.
        assert_eq!(feed(&[(600, 400), (700, 1), (750, 300)]), [false]);
    }
}
