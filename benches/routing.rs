//! Micro-benchmark of the routing engine (`touchpoint::routing::engine::decide`).
//!
//! Reports routing decisions per second for
//!
//! * (a) a 10-line order over 20 locations,
//! * (b) a 50-line order over 50 locations,
//! * (c) a 10-line order over 12 locations (the largest the exact search takes by default),
//! * (d) scenario (a) searched exactly (`exact_max_nodes = 20`), to show what greedy saves,
//!
//! and, in the same run and on the same inputs, the simple allocator it replaces
//! (`touchpoint::routing::allocate`, nearest whole-line location first) as the baseline. The
//! baseline scores nothing and offers no alternatives; the ratio is what the scoring costs.
//!
//! Inputs are deterministic pseudo-random data (a small LCG): locations in a box around
//! Germany (every tenth abroad), each holding 40 % of the order's skus (1–12 units), lines of
//! 1–4 units drawn from as many skus as lines (so some skus are on two lines), a destination in
//! the box and a promised date three days out. Every location holds some of the stock.
//!
//! Rounds are interleaved (every scenario and the baseline in round 1, then round 2, …); each
//! round times a batch sized to about `--round-ms`; the table shows the median round.
//!
//! ```sh
//! cargo bench --bench routing                  # 9 rounds of ≈ 250 ms per measurement
//! cargo bench --bench routing -- --smoke       # 3 rounds of ≈ 20 ms; well under 10 s
//! cargo bench --bench routing -- --rounds 15 --round-ms 500
//! ```
//!
//! The exit status is non-zero when a decision fails or a plan does not fill the order.

#[path = "common/mod.rs"]
mod common;
use common::{median, micros, rate};

use std::collections::HashMap;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use touchpoint::catalog::{GeoPoint, LocationKind};
use touchpoint::routing::engine::{
    Decision, Destination, Line, Node, Request, Strategy, Weights, decide,
};
use touchpoint::routing::{Demand, StockOption, allocate};

/// A small linear congruential generator (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        self.below(1_000_000) as f64 / 1_000_000.0
    }
}

struct Scenario {
    name: String,
    weights: Weights,
    lines: Vec<Line>,
    nodes: Vec<Node>,
    stock: HashMap<(i64, String), i32>,
    destination: Destination,
    promised: NaiveDate,
    today: NaiveDate,
    demands: Vec<Demand>,
    options: HashMap<String, Vec<StockOption>>,
}

impl Scenario {
    fn generate(name: &str, lines: usize, locations: usize, weights: Weights) -> Scenario {
        // The first seed whose stock can fill the order (the engine must decide, not refuse).
        for seed in 1u64.. {
            let scenario = Scenario::with_seed(name, lines, locations, weights.clone(), seed);
            if scenario.decide().is_ok() {
                return scenario;
            }
        }
        unreachable!()
    }

    fn with_seed(
        name: &str,
        line_count: usize,
        locations: usize,
        weights: Weights,
        seed: u64,
    ) -> Scenario {
        let mut rng = Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ line_count as u64);
        let point = |rng: &mut Lcg| GeoPoint {
            latitude: 47.3 + rng.unit() * 7.6,
            longitude: 6.0 + rng.unit() * 9.0,
        };
        let skus: Vec<String> = (0..line_count).map(|k| format!("SKU-{k:03}")).collect();
        let mut nodes = Vec::with_capacity(locations);
        let mut stock = HashMap::new();
        for i in 0..locations {
            let id = 1_000 + i as i64;
            let kind = LocationKind::ALL[i % LocationKind::ALL.len()];
            nodes.push(Node {
                location_id: id,
                code: format!("{}-{i:02}", &kind.as_str()[..2]),
                point: point(&mut rng),
                country_code: Some(if i % 10 == 9 { "AT" } else { "DE" }.to_string()),
                shipping_cost_minor: 300 + rng.below(1_200) as i64,
                handling_days: rng.below(3) as i32,
                kind,
            });
            let mut holds_any = false;
            for sku in &skus {
                if rng.below(10) < 4 {
                    stock.insert((id, sku.clone()), 1 + rng.below(12) as i32);
                    holds_any = true;
                }
            }
            if !holds_any {
                stock.insert((id, skus[i % skus.len()].clone()), 1);
            }
        }
        let lines: Vec<Line> = (0..line_count)
            .map(|index| Line {
                index,
                sku: skus[rng.below(line_count as u64) as usize].clone(),
                quantity: 1 + rng.below(4) as i32,
            })
            .collect();
        let destination = Destination {
            point: Some(point(&mut rng)),
            country_code: Some("DE".to_string()),
        };
        let today = NaiveDate::from_ymd_opt(2025, 6, 2).unwrap();
        let demands = lines
            .iter()
            .map(|l| Demand {
                line: l.index,
                sku: l.sku.clone(),
                quantity: l.quantity,
            })
            .collect();
        let mut options: HashMap<String, Vec<StockOption>> = HashMap::new();
        for l in &lines {
            if options.contains_key(&l.sku) {
                continue;
            }
            let at: Vec<StockOption> = nodes
                .iter()
                .filter_map(|n| {
                    let available = *stock.get(&(n.location_id, l.sku.clone()))?;
                    (available > 0).then_some(StockOption {
                        location_id: n.location_id,
                        point: n.point,
                        available,
                    })
                })
                .collect();
            options.insert(l.sku.clone(), at);
        }
        Scenario {
            name: name.to_string(),
            weights,
            lines,
            nodes,
            stock,
            destination,
            promised: today.checked_add_days(Days::new(3)).unwrap(),
            today,
            demands,
            options,
        }
    }

    fn decide(&self) -> Result<Decision, touchpoint::routing::engine::Shortfall> {
        let request = Request {
            lines: &self.lines,
            nodes: &self.nodes,
            stock: &self.stock,
            destination: &self.destination,
            promised_date: Some(self.promised),
            today: self.today,
        };
        decide(&request, &self.weights)
    }

    fn baseline(&self) -> usize {
        allocate(&self.demands, &self.options, self.destination.point)
            .map(|a| a.len())
            .unwrap_or(0)
    }

    fn holding(&self) -> usize {
        let mut ids: Vec<i64> = self
            .stock
            .iter()
            .filter(|(_, units)| **units > 0)
            .map(|((id, _), _)| *id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }
}

/// Checks the chosen plan fills every line exactly; returns its parcel count.
fn validate(scenario: &Scenario, decision: &Decision) -> Result<i32, String> {
    let chosen = decision
        .candidates
        .first()
        .ok_or_else(|| format!("{}: no candidate", scenario.name))?;
    for line in &scenario.lines {
        let got: i32 = chosen
            .allocations
            .iter()
            .filter(|a| a.line == line.index)
            .map(|a| a.quantity)
            .sum();
        if got != line.quantity {
            return Err(format!(
                "{}: line {} gets {got} of {}",
                scenario.name, line.index, line.quantity
            ));
        }
    }
    Ok(chosen.shipments)
}

/// Times `f` over a batch; returns seconds per call.
fn time_batch(batch: u64, f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..batch {
        f();
    }
    start.elapsed().as_secs_f64() / batch as f64
}

/// A batch size that takes about `target`.
fn calibrate(target: Duration, f: &mut dyn FnMut()) -> u64 {
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            f();
        }
        let took = start.elapsed();
        if took >= target / 4 || batch >= 1 << 30 {
            let per = took.as_secs_f64() / batch as f64;
            return ((target.as_secs_f64() / per.max(1e-12)) as u64).clamp(1, 1 << 32);
        }
        batch *= 4;
    }
}

struct Options {
    smoke: bool,
    rounds: usize,
    round: Duration,
}

fn options() -> Result<Options, String> {
    let mut smoke = false;
    let mut rounds = None;
    let mut round_ms = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--rounds" => rounds = Some(number(args.next(), "--rounds")?),
            "--round-ms" => round_ms = Some(number(args.next(), "--round-ms")?),
            "--bench" => {} // passed by `cargo bench`
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Options {
        smoke,
        rounds: rounds.unwrap_or(if smoke { 3 } else { 9 }).max(1) as usize,
        round: Duration::from_millis(round_ms.unwrap_or(if smoke { 20 } else { 250 }).max(1)),
    })
}

fn number(raw: Option<String>, flag: &str) -> Result<u64, String> {
    raw.and_then(|r| r.parse().ok())
        .ok_or_else(|| format!("{flag} needs a number"))
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("routing bench: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let scenarios = [
        Scenario::generate("(a) 10 lines × 20 locations", 10, 20, Weights::default()),
        Scenario::generate("(b) 50 lines × 50 locations", 50, 50, Weights::default()),
        Scenario::generate("(c) 10 lines × 12 locations", 10, 12, Weights::default()),
        Scenario::generate(
            "(d) = (a), exact forced (`exact_max_nodes = 20`)",
            10,
            20,
            Weights {
                exact_max_nodes: 20,
                ..Weights::default()
            },
        ),
    ];

    let mut rows = Vec::new();
    let mut engine_times: Vec<Vec<f64>> = vec![Vec::new(); scenarios.len()];
    let mut baseline_times: Vec<Vec<f64>> = vec![Vec::new(); scenarios.len()];
    let mut engine_batches = Vec::new();
    let mut baseline_batches = Vec::new();
    for scenario in &scenarios {
        let decision = match scenario.decide() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("routing bench: {}: shortfall {e:?}", scenario.name);
                return ExitCode::FAILURE;
            }
        };
        let parcels = match validate(scenario, &decision) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("routing bench: {e}");
                return ExitCode::FAILURE;
            }
        };
        if scenario.baseline() == 0 {
            eprintln!("routing bench: {}: the baseline refused", scenario.name);
            return ExitCode::FAILURE;
        }
        let baseline_parcels = {
            let mut ids: Vec<i64> = allocate(
                &scenario.demands,
                &scenario.options,
                scenario.destination.point,
            )
            .unwrap_or_default()
            .iter()
            .map(|a| a.location_id)
            .collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len()
        };
        rows.push((
            decision.strategy,
            parcels,
            baseline_parcels,
            decision.candidates.len(),
            decision.candidates[0].score,
        ));
        engine_batches.push(calibrate(options.round, &mut || {
            black_box(scenario.decide().ok());
        }));
        baseline_batches.push(calibrate(options.round, &mut || {
            black_box(scenario.baseline());
        }));
    }
    for _ in 0..options.rounds {
        for (i, scenario) in scenarios.iter().enumerate() {
            engine_times[i].push(time_batch(engine_batches[i], &mut || {
                black_box(black_box(scenario).decide().ok());
            }));
            baseline_times[i].push(time_batch(baseline_batches[i], &mut || {
                black_box(black_box(scenario).baseline());
            }));
        }
    }

    println!(
        "\nRouting decisions per second (median of {} rounds of ≈ {} ms each{}; one thread)\n",
        options.rounds,
        options.round.as_millis(),
        if options.smoke { ", smoke" } else { "" }
    );
    println!(
        "| scenario | holding stock | search | parcels (engine / baseline) | chosen score | candidates | engine decisions/s | engine µs/decision | baseline `allocate` decisions/s | baseline µs | engine ÷ baseline time |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, scenario) in scenarios.iter().enumerate() {
        let engine = median(&mut engine_times[i]);
        let baseline = median(&mut baseline_times[i]);
        let (strategy, parcels, baseline_parcels, candidates, score) = &rows[i];
        println!(
            "| {} | {} | {} | {} / {} | {:.0} | {} | {} | {} | {} | {} | {:.1}× |",
            scenario.name,
            scenario.holding(),
            match strategy {
                Strategy::Exact => "exact",
                Strategy::Greedy => "greedy",
            },
            parcels,
            baseline_parcels,
            score,
            candidates,
            rate(engine),
            micros(engine),
            rate(baseline),
            micros(baseline),
            engine / baseline
        );
    }
    println!(
        "\nBaseline: `routing::allocate` (nearest location holding the whole line, else the \
         largest holdings; no score, no promise, no alternatives). Total run time {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
