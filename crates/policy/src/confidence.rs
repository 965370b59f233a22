//! Confidence bounds on rates: the arithmetic behind "halt when the failure rate
//! is, with stated confidence, above the threshold".

/// The one-sided standard normal quantile for `confidence` (e.g. 0.95 → 1.645):
/// Acklam's rational approximation, accurate to about 1e-9.
pub fn z_for(confidence: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = confidence.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The Wilson score interval for `successes` out of `trials` at normal quantile
/// `z`: `(lower, upper)`. With no trials it is `(0, 1)`: nothing is known.
pub fn wilson(successes: u64, trials: u64, z: f64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let margin = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z2 / n;
    (
        ((centre - margin) / denominator).max(0.0),
        ((centre + margin) / denominator).min(1.0),
    )
}

/// Whether a count rose by more than `max_increase` (0.5 = 50%) from `before`
/// to `after` over equal exposure, with confidence `z`. Given the total, `after`
/// is binomial with p = r / (1 + r) where r is the ratio of the rates; the rise
/// is established when the lower bound of p exceeds the allowed ratio's p.
/// Needs `min_events` events in all before it says anything.
pub fn rose(before: u64, after: u64, max_increase: f64, z: f64, min_events: u64) -> bool {
    let total = before.saturating_add(after);
    if total < min_events.max(1) {
        return false;
    }
    let allowed = 1.0 + max_increase.max(0.0);
    let (lower, _) = wilson(after, total, z);
    lower > allowed / (1.0 + allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_match_the_tables() {
        for (confidence, z) in [
            (0.5, 0.0),
            (0.9, 1.281552),
            (0.95, 1.644854),
            (0.99, 2.326348),
            (0.999, 3.090232),
        ] {
            assert!(
                (z_for(confidence) - z).abs() < 1e-5,
                "{confidence}: {}",
                z_for(confidence)
            );
        }
        assert!((z_for(0.01) + 2.326348).abs() < 1e-5);
    }

    #[test]
    fn wilson_bounds_are_known_values() {
        // 1 failure in 1: never proof of a 5% failure rate at 95%... unless
        // the threshold is loose; the lower bound is about 0.27.
        let (lower, upper) = wilson(1, 1, 1.644854);
        assert!((lower - 0.2698).abs() < 1e-3, "{lower}");
        assert_eq!(upper, 1.0);
        // 0 of 100 at 95% one-sided: upper about 2.6%.
        let (lower, upper) = wilson(0, 100, 1.644854);
        assert_eq!(lower, 0.0);
        assert!((upper - 0.0264).abs() < 1e-3, "{upper}");
        // 20 of 100.
        let (lower, upper) = wilson(20, 100, 1.959964);
        assert!((lower - 0.1334).abs() < 1e-3 && (upper - 0.2888).abs() < 1e-3);
        assert_eq!(wilson(0, 0, 2.0), (0.0, 1.0));
        // More successes than trials cannot happen; it is clamped, not a panic.
        assert_eq!(wilson(5, 3, 2.0).1, 1.0);
    }

    #[test]
    fn a_rise_needs_evidence_and_size() {
        let z = z_for(0.95);
        // Doubling crashes, 100 → 200: established as a rise above +50%.
        assert!(rose(100, 200, 0.5, z, 10));
        // 40 → 80 doubles too, but 120 events cannot yet rule out +50% or less.
        assert!(!rose(40, 80, 0.5, z, 10));
        // 40 → 50 (+25%) is within +50%.
        assert!(!rose(40, 50, 0.5, z, 10));
        // 1 → 3 is too few events to say anything.
        assert!(!rose(1, 3, 0.5, z, 10));
        // From nothing to many is a rise.
        assert!(rose(0, 30, 0.5, z, 10));
        // Fewer after is never a rise.
        assert!(!rose(100, 10, 0.0, z, 10));
    }
}
