//! What the benchmarks share: medians and how figures are printed, percentiles (`stats`), the
//! server process the load benchmarks drive (`server`), GraphQL over HTTP for their setup
//! (`api`) and the queries several of them send (`queries`). Each bench includes this module
//! with `#[path = "common/mod.rs"] mod common;` and uses a part of it.
#![allow(dead_code)]

pub mod api;
pub mod queries;
pub mod server;
pub mod stats;

/// The median (the mean of the middle two for an even count); NaN for no values.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The median of the values that are numbers (NaN stands for "not measured"); NaN for none.
pub fn median_of(mut values: Vec<f64>) -> f64 {
    values.retain(|v| !v.is_nan());
    median(&mut values)
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

/// How this run was started, for the report: `cargo bench --bench NAME -- ARGS`, with URLs
/// (which may carry credentials) written as `URL`.
pub fn invocation(bench: &str) -> String {
    let passed: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .map(|a| if a.contains("://") { "URL".into() } else { a })
        .collect();
    if passed.is_empty() {
        format!("cargo bench --bench {bench}")
    } else {
        format!("cargo bench --bench {bench} -- {}", passed.join(" "))
    }
}
