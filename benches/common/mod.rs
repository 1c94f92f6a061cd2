//! What the benchmarks share: medians and how figures are printed.

/// The median (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Operations per second for a time per operation, e.g. `12.5k`.
pub fn rate(seconds: f64) -> String {
    let per_second = 1.0 / seconds;
    if per_second >= 100_000.0 {
        format!("{:.0}k", per_second / 1_000.0)
    } else if per_second >= 1_000.0 {
        format!("{:.1}k", per_second / 1_000.0)
    } else {
        format!("{per_second:.0}")
    }
}

/// Microseconds for a time in seconds, with sensible precision.
pub fn micros(seconds: f64) -> String {
    let us = seconds * 1e6;
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 10.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.2}")
    }
}
