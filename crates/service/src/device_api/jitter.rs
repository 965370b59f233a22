//! When a device should ask again: the service's poll interval spread per
//! device, so a fleet never polls in lockstep.

use sluice_protocol::Digest;

/// `base` seconds spread over ±20% per device and per period, so a fleet never
/// polls in lockstep, yet the answer is reproducible.
pub fn jitter(base: u32, device: &str, now: u64) -> u32 {
    let base = base.max(1);
    let period = now / u64::from(base);
    let digest = Digest::of(format!("{device}\n{period}").as_bytes());
    let b = digest.as_bytes();
    let fraction = f64::from(u16::from_le_bytes([b[0], b[1]])) / f64::from(u16::MAX);
    // ±20%, but never more than ±10 minutes: a device deferred until a window
    // opens many hours ahead must not arrive hours late and miss it.
    let spread = (f64::from(base) * 0.2).min(MAX_JITTER_SECONDS);
    ((f64::from(base) + spread * (2.0 * fraction - 1.0)).round() as u32).max(1)
}

/// The most [`jitter`] moves an answer either way.
const MAX_JITTER_SECONDS: f64 = 600.0;

#[cfg(test)]
mod tests {
    use super::jitter;

    #[test]
    fn jitter_spreads_by_a_fifth_but_never_more_than_ten_minutes() {
        let polls: Vec<u32> = (0..200).map(|i| jitter(900, &format!("d{i}"), 0)).collect();
        assert!(polls.iter().all(|p| (720..=1080).contains(p)), "{polls:?}");
        assert!(polls.iter().any(|p| *p < 850) && polls.iter().any(|p| *p > 950));
        // Ten hours ahead (a maintenance window): within ten minutes of it.
        let far: Vec<u32> = (0..200)
            .map(|i| jitter(36_000, &format!("d{i}"), 0))
            .collect();
        assert!(far.iter().all(|s| (35_400..=36_600).contains(s)), "{far:?}");
        assert_eq!(jitter(0, "d", 0), 1);
    }
}
