//! Waiting out a lost compare-and-swap race.
//!
//! Writers that lose a race on one key retry from a fresh read. Retrying at
//! once is right the first few times (the winner is done), but a writer that
//! keeps losing to many others (a slow instance on a busy host, say) must back
//! off, or it can lose every round until its budget is gone while the others
//! make progress. [`Contention`] sleeps a random time that doubles with every
//! loss, up to a cap, and gives up only after a time budget, so a busy key
//! slows its writers down rather than failing them.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

/// Losses retried at once, before any pause.
const IMMEDIATE_RETRIES: u32 = 3;
/// The first pause's upper bound.
const FIRST_PAUSE: Duration = Duration::from_micros(200);
/// The longest single pause.
const LONGEST_PAUSE: Duration = Duration::from_millis(50);

/// How long a writer keeps retrying a contended key, in all.
pub const BUDGET: Duration = Duration::from_secs(3);

/// The retry state of one writer on one key.
///
/// ```
/// use sluice_service::kernel::contention::Contention;
/// let mut contention = Contention::new();
/// let mut tries = 0;
/// loop {
///     tries += 1;
///     let won = tries == 5; // a compare-and-swap that wins on its fifth try
///     if won || !contention.lost() {
///         break;
///     }
/// }
/// assert_eq!(tries, 5);
/// ```
pub struct Contention {
    started: Instant,
    budget: Duration,
    losses: u32,
    random: RandomState,
}

impl Default for Contention {
    fn default() -> Self {
        Self::new()
    }
}

impl Contention {
    /// A writer about to make its first attempt, with the default [`BUDGET`].
    pub fn new() -> Self {
        Self::with_budget(BUDGET)
    }

    /// A writer that gives up after `budget`.
    pub fn with_budget(budget: Duration) -> Self {
        Self {
            started: Instant::now(),
            budget,
            losses: 0,
            random: RandomState::new(),
        }
    }

    /// Records a lost race and waits before the next attempt. Returns `false`
    /// when the budget is spent and the writer should give up.
    pub fn lost(&mut self) -> bool {
        match self.pause_after_loss(self.started.elapsed()) {
            Some(pause) => {
                if !pause.is_zero() {
                    // `sleep` is a WASI clock wait inside a component.
                    std::thread::sleep(pause);
                }
                true
            }
            None => false,
        }
    }

    /// Counts a loss `elapsed` after the first attempt and says how long to
    /// wait before the next one, or `None` to give up.
    fn pause_after_loss(&mut self, elapsed: Duration) -> Option<Duration> {
        self.losses += 1;
        if self.losses <= IMMEDIATE_RETRIES {
            return Some(Duration::ZERO);
        }
        if elapsed >= self.budget {
            return None;
        }
        let doublings = (self.losses - IMMEDIATE_RETRIES - 1).min(16);
        let bound = FIRST_PAUSE
            .saturating_mul(1 << doublings)
            .min(LONGEST_PAUSE)
            .min(self.budget - elapsed);
        Some(self.jitter(bound))
    }

    /// A random duration in `[bound / 2, bound]`: random so that writers that
    /// lost together do not retry together, never much less than the bound so
    /// that the pauses still grow.
    fn jitter(&self, bound: Duration) -> Duration {
        let mut hasher = self.random.build_hasher();
        hasher.write_u32(self.losses);
        let nanos = bound.as_nanos() as u64;
        let half = nanos / 2;
        Duration::from_nanos(half + hasher.finish() % (nanos - half + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_losses_retry_at_once_then_pauses_grow_to_the_cap() {
        let mut contention = Contention::new();
        for _ in 0..IMMEDIATE_RETRIES {
            assert_eq!(
                contention.pause_after_loss(Duration::ZERO),
                Some(Duration::ZERO)
            );
        }
        for i in 0..12 {
            let bound = FIRST_PAUSE.saturating_mul(1 << i).min(LONGEST_PAUSE);
            let pause = contention.pause_after_loss(Duration::ZERO).unwrap();
            assert!(
                pause >= bound / 2 && pause <= bound,
                "pause {i}: {pause:?}, bound {bound:?}"
            );
        }
    }

    #[test]
    fn no_pause_outlasts_the_budget_and_a_spent_budget_gives_up() {
        let budget = Duration::from_millis(100);
        let mut contention = Contention::with_budget(budget);
        contention.losses = 40;
        let nearly_spent = budget - Duration::from_millis(1);
        let pause = contention.pause_after_loss(nearly_spent).unwrap();
        assert!(pause <= Duration::from_millis(1), "{pause:?}");
        assert_eq!(contention.pause_after_loss(budget), None);
    }

    #[test]
    fn a_writer_that_keeps_losing_gives_up_after_its_budget() {
        let mut contention = Contention::with_budget(Duration::from_millis(20));
        let mut losses = 0;
        while contention.lost() {
            losses += 1;
            assert!(losses < 10_000, "never gave up");
        }
        assert!(losses > IMMEDIATE_RETRIES);
    }

    #[test]
    fn jitter_stays_within_half_the_bound_and_the_bound() {
        let mut contention = Contention::new();
        let bound = Duration::from_micros(1000);
        for losses in 0..200 {
            contention.losses = losses;
            let pause = contention.jitter(bound);
            assert!(pause >= bound / 2 && pause <= bound, "{pause:?}");
        }
    }
}
