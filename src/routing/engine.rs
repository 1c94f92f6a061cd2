//! The scoring routing engine: which locations ship which order lines, and why.
//!
//! Pure: no database, no async, no GraphQL. The caller hands it the order lines, the fulfilment
//! nodes, the available stock per (location, sku), the destination, the promised date and today;
//! it returns the chosen plan and the scored alternatives, each with a one-line explanation.
//!
//! # Score
//!
//! Every candidate plan gets one score (lower is better):
//!
//! ```text
//! per_km × Σ distance(location, destination)          (0 when the destination has no point)
//! + per_cost_unit × Σ shipping_cost_minor / 100
//! + per_extra_shipment × (shipments − 1)
//! + missed_promise × (1 when some parcel arrives after the promised date)
//! + other_country × (locations in another country than the destination, when both are known)
//! ```
//!
//! The default weights make an extra shipment (2,000) cost more than any distance difference
//! within a country (≈ 1,500 km at 1 per km) but less than missing the promised date (100,000):
//! one parcel when one location can ship everything in time, a split only when nothing else
//! keeps the promise or no single location holds the stock.
//!
//! # Allocation rules
//!
//! * A line is split across locations only when no single location of the plan holds its whole
//!   quantity (after what the plan's other lines of the same sku took there).
//! * Lines of the same sku compete: stock taken by one line is gone for the other.
//! * A plan's score depends only on the set of locations it ships from, so the search is over
//!   location sets. Only *minimal* sets are candidates: a set some location of which could be
//!   left out while the rest still holds everything is never better (with non-negative weights)
//!   and is not offered as an alternative.
//!
//! # Search
//!
//! While at most [`Weights::exact_max_nodes`] locations hold any of the requested stock, the
//! search is exact: location sets are enumerated by size (1, 2, 3, …), with a lower bound per
//! size (extra-shipment penalty + the cheapest locations) that stops the growth once no larger
//! set can beat the best plan found (or, for alternatives, the kept candidates). Beyond that it
//! is greedy: from each of the best few (`max_candidates`) single locations, add the location
//! with the best marginal score per share of the still-missing demand until every line is
//! covered, drop locations that became redundant, then improve by local search (replace two
//! locations by one, or one by a cheaper one, while the score drops). The greedy result is not
//! guaranteed optimal (on random networks of up to 12 locations it matched the exact search
//! every time), and the explanation says "greedy search". The exact search considers
//! `C(n, k)` sets per size `k`: keep `exact_max_nodes` small.
//!
//! # Time
//!
//! A location's transit time is its `handling_days` plus one day per started
//! [`Weights::km_per_transit_day`] kilometres (one day when the distance is unknown); its parcel
//! arrives `today + transit` (see [`transit_days`]). [`dispatch_by`] is the promised date minus
//! the travel days, so a plan meets the promise exactly when `today + handling_days ≤ dispatch_by`
//! for each of its locations.
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{Days, NaiveDate};

use crate::catalog::{GeoPoint, LocationKind};

/// A fulfilment node that holds stock.
#[derive(Clone, Debug)]
pub struct Node {
    pub location_id: i64,
    pub code: String,
    pub point: GeoPoint,
    pub country_code: Option<String>,
    pub shipping_cost_minor: i64,
    pub handling_days: i32,
    pub kind: LocationKind,
}

/// One order line's need.
#[derive(Clone, Debug)]
pub struct Line {
    pub index: usize,
    pub sku: String,
    pub quantity: i32,
}

/// Where the parcel goes: a point when known, and the country when known.
#[derive(Clone, Debug, Default)]
pub struct Destination {
    pub point: Option<GeoPoint>,
    pub country_code: Option<String>,
}

/// Everything one routing decision needs.
pub struct Request<'a> {
    pub lines: &'a [Line],
    pub nodes: &'a [Node],
    /// Available units per (location_id, sku).
    pub stock: &'a HashMap<(i64, String), i32>,
    pub destination: &'a Destination,
    pub promised_date: Option<NaiveDate>,
    /// The day the order is placed (transit is counted from it).
    pub today: NaiveDate,
}

/// Configuration; `Default` gives the documented defaults. Weights are meant to be
/// non-negative; with a negative one the search still works but stops pruning.
#[derive(Clone, Debug)]
pub struct Weights {
    /// Score per km of distance from each shipping location to the destination.
    pub per_km: f64,
    /// Score per major currency unit of shipping cost (`cost_minor / 100`).
    pub per_cost_unit: f64,
    /// Score for each shipment beyond the first.
    pub per_extra_shipment: f64,
    /// Score when the plan cannot meet the promised date.
    pub missed_promise: f64,
    /// Score per location in another country than the destination (when both are known).
    pub other_country: f64,
    /// Transit: handling days + one day per started `km_per_transit_day` km.
    pub km_per_transit_day: f64,
    /// Exact search while at most this many locations hold any of the requested stock; greedy
    /// beyond. The exact search is exponential in this number: keep it small.
    pub exact_max_nodes: usize,
    /// How many scored candidates a decision keeps (the chosen one included; at least 1).
    pub max_candidates: usize,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            per_km: 1.0,
            per_cost_unit: 10.0,
            per_extra_shipment: 2_000.0,
            missed_promise: 100_000.0,
            other_country: 1_000.0,
            km_per_transit_day: 500.0,
            exact_max_nodes: 12,
            max_candidates: 8,
        }
    }
}

/// Which search produced a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Exact,
    Greedy,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Exact => "exact",
            Strategy::Greedy => "greedy",
        }
    }
}

/// Units of one line shipped from one location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub line: usize,
    pub location_id: i64,
    pub quantity: i32,
}

/// One scored candidate.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Ordered by line (in the request's order), a split line's parts largest first.
    pub allocations: Vec<Allocation>,
    /// Distinct, in the order of first use.
    pub locations: Vec<i64>,
    /// `locations.len()`.
    pub shipments: i32,
    pub score: f64,
    /// Sum over locations of the distance to the destination (0 when unknown).
    pub distance_km: f64,
    /// Sum of the locations' `shipping_cost_minor`.
    pub cost_minor: i64,
    /// True when there is no promised date.
    pub meets_promise: bool,
    pub chosen: bool,
    /// One line a person understands.
    pub explanation: String,
    /// Per location (in `locations` order): days from today to delivery.
    pub transit_days: Vec<(i64, i32)>,
}

/// The chosen plan and the scored alternatives.
#[derive(Clone, Debug)]
pub struct Decision {
    pub strategy: Strategy,
    pub distance_known: bool,
    /// Best first; exactly one is chosen: the first.
    pub candidates: Vec<Plan>,
}

/// The first line that cannot be filled from the stock there is (taking all lines together).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    pub line: usize,
}

/// `handling_days + ceil(km / km_per_transit_day)`: at least the handling days (0 km adds no
/// day); one travel day when the destination has no point. A non-positive or non-finite
/// `km_per_transit_day` is read as the default 500; negative handling days as 0.
pub fn transit_days(node: &Node, destination: &Destination, weights: &Weights) -> i32 {
    let km = destination.point.map(|p| node.point.distance_km(&p));
    node.handling_days
        .max(0)
        .saturating_add(travel_days(km, weights))
}

/// The latest day a parcel may leave `node` (be handed to the carrier) and still arrive by
/// `promised`: the promised date minus the travel days (`transit_days − handling_days`).
/// An order placed `today` meets the promise from this node exactly when
/// `today + handling_days ≤ dispatch_by`. (Orders without a promised date have no dispatch-by.)
pub fn dispatch_by(
    promised: NaiveDate,
    node: &Node,
    destination: &Destination,
    weights: &Weights,
) -> NaiveDate {
    let travel = transit_days(node, destination, weights) - node.handling_days.max(0);
    promised
        .checked_sub_days(Days::new(travel.max(0) as u64))
        .unwrap_or(NaiveDate::MIN)
}

/// Routes the order: the best plan first, then the alternatives, or the first line the stock
/// cannot fill.
pub fn decide(request: &Request<'_>, weights: &Weights) -> Result<Decision, Shortfall> {
    let problem = Problem::new(request, weights)?;
    let strategy = if problem.sites.len() <= weights.exact_max_nodes {
        Strategy::Exact
    } else {
        Strategy::Greedy
    };
    let mut kept = Kept::new(weights.max_candidates.max(1));
    if !problem.needs.is_empty() {
        match strategy {
            Strategy::Exact => problem.exact(&mut kept),
            Strategy::Greedy => problem.greedy(&mut kept),
        }
        if kept.drafts.is_empty() {
            // Not expected (the stock covers every line, so some set is complete); never
            // return a decision without a chosen plan.
            let all: Vec<usize> = (0..problem.sites.len()).collect();
            if let Some(draft) = problem.draft(&all) {
                kept.offer(draft);
            }
        }
    }
    let candidates = if problem.needs.is_empty() {
        vec![Plan {
            allocations: Vec::new(),
            locations: Vec::new(),
            shipments: 0,
            score: 0.0,
            distance_km: 0.0,
            cost_minor: 0,
            meets_promise: true,
            chosen: true,
            explanation: "Nothing to ship".to_string(),
            transit_days: Vec::new(),
        }]
    } else {
        let context = problem.context(strategy);
        kept.drafts
            .iter()
            .enumerate()
            .map(|(i, draft)| problem.plan(draft, i == 0, &context))
            .collect()
    };
    Ok(Decision {
        strategy,
        distance_known: request.destination.point.is_some(),
        candidates,
    })
}

// ------------------------------------------------------------------------------ internals

fn travel_days(km: Option<f64>, weights: &Weights) -> i32 {
    let per_day = if weights.km_per_transit_day.is_finite() && weights.km_per_transit_day > 0.0 {
        weights.km_per_transit_day
    } else {
        500.0
    };
    match km {
        None => 1,
        Some(km) => {
            let days = (km.max(0.0) / per_day).ceil();
            if days.is_nan() {
                1
            } else {
                days.min(i32::MAX as f64) as i32
            }
        }
    }
}

fn same_country(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// One positive order line.
struct Need<'a> {
    line: &'a Line,
    sku: usize,
}

/// A location that holds some of the requested stock, with its part of the score.
struct Site<'a> {
    node: &'a Node,
    km: Option<f64>,
    transit: i32,
    misses: bool,
    foreign: bool,
    /// per_km × km + per_cost_unit × cost + other_country × foreign.
    base: f64,
    /// Available units per requested sku (indexed like `Problem::skus`).
    row: Vec<i32>,
    /// The non-zero entries of `row`.
    holdings: Vec<(usize, i32)>,
}

/// A scored location set with its allocation (indices into `Problem::needs` / `sites`).
struct Draft {
    /// Sorted site indices.
    sites: Vec<usize>,
    allocations: Vec<(usize, usize, i32)>,
    score: f64,
    misses: bool,
    distance: f64,
    cost: i64,
    /// Sorted location ids (the last tie-break).
    ids: Vec<i64>,
}

fn compare(a: &Draft, b: &Draft) -> Ordering {
    a.score
        .total_cmp(&b.score)
        .then(a.sites.len().cmp(&b.sites.len()))
        .then(a.distance.total_cmp(&b.distance))
        .then(a.cost.cmp(&b.cost))
        .then_with(|| a.ids.cmp(&b.ids))
}

/// The best `capacity` drafts, best first, one per location set.
struct Kept {
    capacity: usize,
    drafts: Vec<Draft>,
    seen: HashSet<Vec<usize>>,
}

impl Kept {
    fn new(capacity: usize) -> Kept {
        Kept {
            capacity,
            drafts: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// The score a new draft must not exceed to be kept.
    fn threshold(&self) -> f64 {
        if self.drafts.len() < self.capacity {
            f64::INFINITY
        } else {
            self.drafts.last().map_or(f64::INFINITY, |d| d.score)
        }
    }

    fn best(&self) -> Option<f64> {
        self.drafts.first().map(|d| d.score)
    }

    fn offer(&mut self, draft: Draft) {
        if !self.seen.insert(draft.sites.clone()) {
            return;
        }
        let at = self
            .drafts
            .partition_point(|d| compare(d, &draft) != Ordering::Greater);
        if at < self.capacity {
            self.drafts.insert(at, draft);
            self.drafts.truncate(self.capacity);
        }
    }
}

/// What the explanations need to know about the decision as a whole.
struct Context {
    strategy: Strategy,
    /// The best location that could ship everything alone: (site, its single-parcel score).
    best_single: Option<(usize, f64)>,
    /// Whether some single location could ship everything and keep the promise.
    single_meets: bool,
    /// Why no single location can ship everything (when none can).
    no_single: String,
}

struct Problem<'a> {
    request: &'a Request<'a>,
    weights: &'a Weights,
    needs: Vec<Need<'a>>,
    skus: Vec<&'a str>,
    /// Units requested per sku, all lines together.
    demand: Vec<i64>,
    /// Per sku: indices into `needs`, largest quantity first (then in line order).
    by_sku: Vec<Vec<usize>>,
    /// Sorted by `base` (cheapest first), then by the request's node order.
    sites: Vec<Site<'a>>,
    /// Whether the lower bounds are valid (no negative weight).
    prunable: bool,
}

impl<'a> Problem<'a> {
    fn new(request: &'a Request<'a>, weights: &'a Weights) -> Result<Problem<'a>, Shortfall> {
        let mut sku_index: HashMap<&str, usize> = HashMap::new();
        let mut skus: Vec<&str> = Vec::new();
        let mut needs = Vec::new();
        for line in request.lines.iter().filter(|l| l.quantity > 0) {
            let sku = *sku_index.entry(line.sku.as_str()).or_insert_with(|| {
                skus.push(line.sku.as_str());
                skus.len() - 1
            });
            needs.push(Need { line, sku });
        }
        let s = skus.len();

        let mut ids = HashSet::new();
        let nodes: Vec<&Node> = request
            .nodes
            .iter()
            .filter(|n| ids.insert(n.location_id))
            .collect();
        let mut rows = vec![0i32; nodes.len() * s];
        if request.stock.len() <= nodes.len() * s {
            let node_index: HashMap<i64, usize> = nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.location_id, i))
                .collect();
            for ((location, sku), &units) in request.stock {
                if let (Some(&i), Some(&k)) =
                    (node_index.get(location), sku_index.get(sku.as_str()))
                {
                    rows[i * s + k] = units.max(0);
                }
            }
        } else {
            let mut key = (0i64, String::new());
            for (i, node) in nodes.iter().enumerate() {
                for (k, sku) in skus.iter().enumerate() {
                    key.0 = node.location_id;
                    key.1.clear();
                    key.1.push_str(sku);
                    if let Some(&units) = request.stock.get(&key) {
                        rows[i * s + k] = units.max(0);
                    }
                }
            }
        }

        // The first line the stock cannot fill, taking the lines in order.
        let mut total = vec![0i64; s];
        for (i, units) in rows.iter().enumerate() {
            total[i % s.max(1)] += i64::from(*units);
        }
        let mut demand = vec![0i64; s];
        for need in &needs {
            demand[need.sku] += i64::from(need.line.quantity);
            if demand[need.sku] > total[need.sku] {
                return Err(Shortfall {
                    line: need.line.index,
                });
            }
        }

        let destination = request.destination;
        let mut sites: Vec<Site<'a>> = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let row = rows[i * s..(i + 1) * s].to_vec();
            let holdings: Vec<(usize, i32)> = row
                .iter()
                .enumerate()
                .filter(|(_, u)| **u > 0)
                .map(|(k, u)| (k, *u))
                .collect();
            if holdings.is_empty() {
                continue;
            }
            let km = destination.point.map(|p| node.point.distance_km(&p));
            let transit = transit_days(node, destination, weights);
            let misses = request.promised_date.is_some_and(|promised| {
                request
                    .today
                    .checked_add_days(Days::new(transit.max(0) as u64))
                    .is_none_or(|arrives| arrives > promised)
            });
            let foreign = matches!(
                (&node.country_code, &destination.country_code),
                (Some(a), Some(b)) if !same_country(a, b)
            );
            let base = weights.per_km * km.unwrap_or(0.0)
                + weights.per_cost_unit * node.shipping_cost_minor as f64 / 100.0
                + if foreign { weights.other_country } else { 0.0 };
            sites.push(Site {
                node,
                km,
                transit,
                misses,
                foreign,
                base,
                row,
                holdings,
            });
        }
        // Stable: equal bases keep the request's node order.
        sites.sort_by(|a, b| a.base.total_cmp(&b.base));

        let mut by_sku: Vec<Vec<usize>> = vec![Vec::new(); s];
        for (i, need) in needs.iter().enumerate() {
            by_sku[need.sku].push(i);
        }
        for list in &mut by_sku {
            list.sort_by(|&a, &b| needs[b].line.quantity.cmp(&needs[a].line.quantity));
        }
        let prunable = sites.iter().all(|site| site.base >= 0.0)
            && weights.per_extra_shipment >= 0.0
            && weights.missed_promise >= 0.0;
        Ok(Problem {
            request,
            weights,
            needs,
            skus,
            demand,
            by_sku,
            sites,
            prunable,
        })
    }

    /// Whether the locations together hold every requested unit.
    fn complete(&self, set: &[usize], sums: &mut [i64]) -> bool {
        sums.fill(0);
        for &site in set {
            for &(k, units) in &self.sites[site].holdings {
                sums[k] += i64::from(units);
            }
        }
        sums.iter()
            .zip(&self.demand)
            .all(|(have, need)| have >= need)
    }

    /// Complete, and no location can be left out.
    fn minimal(&self, set: &[usize], sums: &mut [i64], scratch: &mut Vec<usize>) -> bool {
        if !self.complete(set, sums) {
            return false;
        }
        if set.len() < 2 {
            return true;
        }
        (0..set.len()).all(|skip| {
            scratch.clear();
            scratch.extend(
                set.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, s)| *s),
            );
            !self.complete(scratch, sums)
        })
    }

    fn score(&self, set: &[usize]) -> f64 {
        let base: f64 = set.iter().map(|&i| self.sites[i].base).sum();
        let misses = set.iter().any(|&i| self.sites[i].misses);
        base + self.weights.per_extra_shipment * (set.len().saturating_sub(1)) as f64
            + if misses {
                self.weights.missed_promise
            } else {
                0.0
            }
    }

    /// A lower bound of the score of any `size`-location set.
    fn lower_bound(&self, size: usize) -> f64 {
        if !self.prunable {
            return f64::NEG_INFINITY;
        }
        let cheapest: f64 = self.sites.iter().take(size).map(|s| s.base).sum();
        // When every location misses the promise, so does every plan.
        let missed = if self.sites.iter().all(|s| s.misses) {
            self.weights.missed_promise
        } else {
            0.0
        };
        cheapest + self.weights.per_extra_shipment * (size.saturating_sub(1)) as f64 + missed
    }

    /// Fills every line from the locations of `set` (sorted site indices): a line whole from
    /// the location with the least stock that still holds all of it (keeping the large
    /// holdings for the lines that need them), split largest holding first only when none
    /// does. Lines of one sku are served largest first.
    fn allocate(&self, set: &[usize]) -> Option<Vec<(usize, usize, i32)>> {
        let mut used = vec![false; set.len()];
        let mut left = vec![0i32; set.len()];
        let mut out = Vec::with_capacity(self.needs.len());
        let mut order: Vec<usize> = Vec::with_capacity(set.len());
        for (k, lines) in self.by_sku.iter().enumerate() {
            for (j, &site) in set.iter().enumerate() {
                left[j] = self.sites[site].row[k];
            }
            for &n in lines {
                let quantity = self.needs[n].line.quantity;
                let whole = (0..set.len())
                    .filter(|&j| left[j] >= quantity)
                    .min_by_key(|&j| (left[j], !used[j], j));
                if let Some(j) = whole {
                    left[j] -= quantity;
                    used[j] = true;
                    out.push((n, set[j], quantity));
                    continue;
                }
                order.clear();
                order.extend((0..set.len()).filter(|&j| left[j] > 0));
                order.sort_by_key(|&j| (std::cmp::Reverse(left[j]), !used[j], j));
                let mut missing = quantity;
                for &j in &order {
                    let take = left[j].min(missing);
                    left[j] -= take;
                    used[j] = true;
                    out.push((n, set[j], take));
                    missing -= take;
                    if missing == 0 {
                        break;
                    }
                }
                if missing > 0 {
                    return None;
                }
            }
        }
        // Stable: a split line keeps its parts largest first.
        out.sort_by_key(|&(n, _, _)| n);
        Some(out)
    }

    fn draft(&self, set: &[usize]) -> Option<Draft> {
        let mut sites = set.to_vec();
        sites.sort_unstable();
        let allocations = self.allocate(&sites)?;
        // A minimal set uses all its locations; keep only the used ones in any case.
        let mut used: Vec<usize> = allocations.iter().map(|a| a.1).collect();
        used.sort_unstable();
        used.dedup();
        let distance = used.iter().map(|&i| self.sites[i].km.unwrap_or(0.0)).sum();
        let cost = used
            .iter()
            .map(|&i| self.sites[i].node.shipping_cost_minor)
            .sum();
        let mut ids: Vec<i64> = used
            .iter()
            .map(|&i| self.sites[i].node.location_id)
            .collect();
        ids.sort_unstable();
        Some(Draft {
            score: self.score(&used),
            misses: used.iter().any(|&i| self.sites[i].misses),
            sites: used,
            allocations,
            distance,
            cost,
            ids,
        })
    }

    /// Every minimal location set by size, while a larger set can still beat the best plan
    /// (or, one size beyond the first complete one, enter the kept alternatives).
    fn exact(&self, kept: &mut Kept) {
        let n = self.sites.len();
        let mut sums = vec![0i64; self.skus.len()];
        let mut scratch = Vec::new();
        let mut first_complete: Option<usize> = None;
        for size in 1..=n {
            let bound = self.lower_bound(size);
            if let Some(best) = kept.best() {
                let for_best = bound < best;
                let for_alternatives = bound <= kept.threshold()
                    && first_complete.is_some_and(|first| size <= first + 1);
                if !for_best && !for_alternatives {
                    break;
                }
            }
            let mut set: Vec<usize> = (0..size).collect();
            loop {
                let partial = if self.prunable {
                    set.iter().map(|&i| self.sites[i].base).sum::<f64>()
                        + self.weights.per_extra_shipment * (size - 1) as f64
                } else {
                    f64::NEG_INFINITY
                };
                if partial <= kept.threshold()
                    && self.minimal(&set, &mut sums, &mut scratch)
                    && let Some(draft) = self.draft(&set)
                {
                    first_complete.get_or_insert(size);
                    kept.offer(draft);
                }
                // The next combination in lexicographic order.
                let mut i = size;
                let mut advanced = false;
                while i > 0 {
                    i -= 1;
                    if set[i] != i + n - size {
                        set[i] += 1;
                        for j in i + 1..size {
                            set[j] = set[j - 1] + 1;
                        }
                        advanced = true;
                        break;
                    }
                }
                if !advanced {
                    break;
                }
            }
        }
    }

    /// Every single location that holds everything, and from each of the best few single
    /// locations: add the location with the lowest marginal score per share of the missing
    /// demand it covers until nothing is missing, drop the locations that became redundant
    /// (offered as a candidate), then improve by local search (offered too).
    fn greedy(&self, kept: &mut Kept) {
        let n = self.sites.len();
        let s = self.skus.len();
        let mut sums = vec![0i64; s];
        for i in 0..n {
            if self.complete(&[i], &mut sums)
                && let Some(draft) = self.draft(&[i])
            {
                kept.offer(draft);
            }
        }
        let missed = |site: &Site<'_>, already: bool| {
            if site.misses && !already {
                self.weights.missed_promise
            } else {
                0.0
            }
        };
        let gain = |site: &Site<'_>, missing: &[i64]| -> f64 {
            site.holdings
                .iter()
                .filter(|(k, _)| missing[*k] > 0)
                .map(|&(k, units)| i64::from(units).min(missing[k]) as f64 / self.demand[k] as f64)
                .sum()
        };
        let mut seeds: Vec<(f64, usize)> = (0..n)
            .map(|i| {
                let site = &self.sites[i];
                let ratio = (site.base + missed(site, false)) / gain(site, &self.demand);
                (ratio, i)
            })
            .collect();
        seeds.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));

        let mut missing = vec![0i64; s];
        let mut in_set = vec![false; n];
        for &(_, seed) in seeds.iter().take(kept.capacity) {
            missing.copy_from_slice(&self.demand);
            in_set.fill(false);
            let mut set = Vec::new();
            let mut misses = false;
            let add = |i: usize,
                       set: &mut Vec<usize>,
                       in_set: &mut [bool],
                       missing: &mut [i64],
                       misses: &mut bool| {
                in_set[i] = true;
                set.push(i);
                *misses |= self.sites[i].misses;
                for &(k, units) in &self.sites[i].holdings {
                    missing[k] = (missing[k] - i64::from(units)).max(0);
                }
            };
            add(seed, &mut set, &mut in_set, &mut missing, &mut misses);
            while missing.iter().any(|m| *m > 0) {
                let mut best: Option<(f64, usize)> = None;
                for (i, site) in self.sites.iter().enumerate() {
                    if in_set[i] {
                        continue;
                    }
                    let covered = gain(site, &missing);
                    if covered <= 0.0 {
                        continue;
                    }
                    let marginal =
                        site.base + self.weights.per_extra_shipment + missed(site, misses);
                    let ratio = marginal / covered;
                    if best.is_none_or(|(r, _)| ratio < r) {
                        best = Some((ratio, i));
                    }
                }
                let Some((_, next)) = best else { break };
                add(next, &mut set, &mut in_set, &mut missing, &mut misses);
            }
            if missing.iter().any(|m| *m > 0) {
                continue; // cannot happen: the shortfall check passed
            }
            // Drop what became redundant, the most expensive first: the greedy plan itself is
            // an alternative; then the local search's, when it finds a better one.
            let mut order = set.clone();
            order.sort_by(|&a, &b| self.sites[b].base.total_cmp(&self.sites[a].base));
            for drop in order {
                if set.len() < 2 {
                    break;
                }
                let rest: Vec<usize> = set.iter().copied().filter(|&i| i != drop).collect();
                if self.complete(&rest, &mut sums) && self.score(&rest) <= self.score(&set) {
                    set = rest;
                }
            }
            if let Some(draft) = self.draft(&set) {
                kept.offer(draft);
            }
            self.improve(&mut set);
            if let Some(draft) = self.draft(&set) {
                kept.offer(draft);
            }
        }
    }

    /// Local search on a complete set: while it lowers the score, drop a location that
    /// became redundant, replace two locations by one, or one by another.
    fn improve(&self, set: &mut Vec<usize>) {
        let n = self.sites.len();
        let mut in_set = vec![false; n];
        let mut total = vec![0i64; self.skus.len()];
        let mut deficits: Vec<(usize, i64)> = Vec::new();
        let mut rest: Vec<usize> = Vec::new();
        for _ in 0..64 {
            in_set.fill(false);
            total.fill(0);
            for &i in set.iter() {
                in_set[i] = true;
                for &(k, units) in &self.sites[i].holdings {
                    total[k] += i64::from(units);
                }
            }
            let current = self.score(set);
            let mut best: Option<(f64, Vec<usize>)> = None;
            let consider = |candidate: &[usize], best: &mut Option<(f64, Vec<usize>)>| {
                let score = self.score(candidate);
                if score < current && best.as_ref().is_none_or(|(b, _)| score < *b) {
                    *best = Some((score, candidate.to_vec()));
                }
            };
            for a in 0..set.len() {
                for b in a..set.len() {
                    // b == a: one location out; b > a: two out.
                    let (ra, rb) = (&self.sites[set[a]].row, &self.sites[set[b]].row);
                    deficits.clear();
                    for (k, need) in self.demand.iter().enumerate() {
                        let mut have = total[k] - i64::from(ra[k]);
                        if b != a {
                            have -= i64::from(rb[k]);
                        }
                        if have < *need {
                            deficits.push((k, need - have));
                        }
                    }
                    rest.clear();
                    rest.extend(
                        set.iter()
                            .enumerate()
                            .filter(|(j, _)| *j != a && *j != b)
                            .map(|(_, i)| *i),
                    );
                    if deficits.is_empty() {
                        consider(&rest, &mut best);
                        continue;
                    }
                    for (l, site) in self.sites.iter().enumerate() {
                        if !in_set[l]
                            && deficits
                                .iter()
                                .all(|&(k, need)| i64::from(site.row[k]) >= need)
                        {
                            rest.push(l);
                            consider(&rest, &mut best);
                            rest.pop();
                        }
                    }
                }
            }
            match best {
                Some((_, better)) => *set = better,
                None => break,
            }
        }
    }

    fn context(&self, strategy: Strategy) -> Context {
        let mut sums = vec![0i64; self.skus.len()];
        let mut best_single: Option<(usize, f64)> = None;
        let mut single_meets = false;
        for i in 0..self.sites.len() {
            if self.complete(&[i], &mut sums) {
                let score = self.score(&[i]);
                single_meets |= !self.sites[i].misses;
                if best_single.is_none_or(|(_, s)| score < s) {
                    best_single = Some((i, score));
                }
            }
        }
        let most = |k: usize| self.sites.iter().map(|s| s.row[k]).max().unwrap_or(0);
        let no_single = if let Some(need) = self
            .needs
            .iter()
            .find(|need| most(need.sku) < need.line.quantity)
        {
            format!(
                "no single location holds {} × {}",
                need.line.quantity, need.line.sku
            )
        } else if let Some(k) = (0..self.skus.len()).find(|&k| i64::from(most(k)) < self.demand[k])
        {
            let lines = self.needs.iter().filter(|n| n.sku == k).count();
            format!(
                "no single location holds {} × {} for its {lines} lines",
                self.demand[k], self.skus[k]
            )
        } else {
            format!("no single location holds all {} lines", self.needs.len())
        };
        Context {
            strategy,
            best_single,
            single_meets,
            no_single,
        }
    }

    fn plan(&self, draft: &Draft, chosen: bool, context: &Context) -> Plan {
        let mut locations: Vec<usize> = Vec::new();
        for &(_, site, _) in &draft.allocations {
            if !locations.contains(&site) {
                locations.push(site);
            }
        }
        let allocations = draft
            .allocations
            .iter()
            .map(|&(n, site, quantity)| Allocation {
                line: self.needs[n].line.index,
                location_id: self.sites[site].node.location_id,
                quantity,
            })
            .collect();
        Plan {
            allocations,
            locations: locations
                .iter()
                .map(|&i| self.sites[i].node.location_id)
                .collect(),
            shipments: locations.len() as i32,
            score: draft.score,
            distance_km: draft.distance,
            cost_minor: draft.cost,
            meets_promise: !draft.misses,
            chosen,
            explanation: self.explain(draft, &locations, context),
            transit_days: locations
                .iter()
                .map(|&i| (self.sites[i].node.location_id, self.sites[i].transit))
                .collect(),
        }
    }

    fn explain(&self, draft: &Draft, locations: &[usize], context: &Context) -> String {
        let known = self.request.destination.point.is_some();
        let promised = self.request.promised_date;
        let mut out = String::new();
        let mut details: Vec<String> = Vec::new();
        let latest = locations
            .iter()
            .map(|&i| self.sites[i].transit)
            .max()
            .unwrap_or(0);
        let about = if known { "" } else { "about " };
        if let [only] = locations {
            let site = &self.sites[*only];
            let _ = write!(out, "Ships in one parcel from {}", site.node.code);
            if let Some(km) = site.km {
                details.push(format!("{km:.0} km"));
            }
            details.push(match latest {
                0 => "arrives today".to_string(),
                1 => format!("arrives in {about}1 day"),
                d => format!("arrives in {about}{d} days"),
            });
        } else {
            let reason = match context.best_single {
                None => context.no_single.clone(),
                Some((single, _)) if !draft.misses && !context.single_meets => {
                    let site = &self.sites[single];
                    format!(
                        "one parcel from {} would arrive in {} and miss the promised date",
                        site.node.code,
                        days(site.transit)
                    )
                }
                Some((single, score)) if draft.score < score => format!(
                    "cheaper in total than one parcel from {}",
                    self.sites[single].node.code
                ),
                Some((single, _)) => format!(
                    "one parcel from {} is possible and scores better",
                    self.sites[single].node.code
                ),
            };
            let _ = write!(
                out,
                "Split over {} parcels: {reason}; {}",
                locations.len(),
                self.parcels(draft, locations)
            );
            if known {
                details.push(format!("{:.0} km in total", draft.distance));
            }
            details.push(match latest {
                0 => "all arrive today".to_string(),
                d => format!("the last parcel arrives in {about}{}", days(d)),
            });
        }
        if promised.is_some() {
            details.push(if draft.misses {
                "misses the promised date".to_string()
            } else {
                "meets the promised date".to_string()
            });
        }
        let foreign = locations.iter().filter(|&&i| self.sites[i].foreign).count();
        match (foreign, locations.len()) {
            (0, _) => {}
            (1, 1) => details.push("from another country".to_string()),
            (f, _) => details.push(format!("{f} from another country")),
        }
        let _ = write!(out, " ({})", details.join(", "));
        if !known {
            out.push_str(
                "; distance unknown (the address has no coordinates): ranked by country, cost \
                 and shipments",
            );
        }
        if context.strategy == Strategy::Greedy {
            let _ = write!(out, "; greedy search over {} locations", self.sites.len());
        }
        out
    }

    /// "ST-PAR 3, WH-MAD 2" for a one-line order; otherwise what each parcel holds.
    fn parcels(&self, draft: &Draft, locations: &[usize]) -> String {
        let parts: Vec<String> = locations
            .iter()
            .map(|&site| {
                let code = &self.sites[site].node.code;
                let here: Vec<&(usize, usize, i32)> =
                    draft.allocations.iter().filter(|a| a.1 == site).collect();
                if self.needs.len() == 1 {
                    let units: i32 = here.iter().map(|a| a.2).sum();
                    format!("{code} {units}")
                } else if here.len() <= 3 {
                    let items: Vec<String> = here
                        .iter()
                        .map(|&&(n, _, q)| format!("{q} × {}", self.needs[n].line.sku))
                        .collect();
                    format!("{code} ({})", items.join(", "))
                } else {
                    let units: i64 = here.iter().map(|a| i64::from(a.2)).sum();
                    format!("{code} ({} lines, {units} units)", here.len())
                }
            })
            .collect();
        parts.join(", ")
    }
}

fn days(d: i32) -> String {
    if d == 1 {
        "1 day".to_string()
    } else {
        format!("{d} days")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERLIN: GeoPoint = GeoPoint {
        latitude: 52.520,
        longitude: 13.405,
    };
    const POTSDAM: GeoPoint = GeoPoint {
        latitude: 52.391,
        longitude: 13.064,
    };
    const SPANDAU: GeoPoint = GeoPoint {
        latitude: 52.535,
        longitude: 13.200,
    };
    const LEIPZIG: GeoPoint = GeoPoint {
        latitude: 51.340,
        longitude: 12.375,
    };
    const HAMBURG: GeoPoint = GeoPoint {
        latitude: 53.551,
        longitude: 9.994,
    };
    const MUNICH: GeoPoint = GeoPoint {
        latitude: 48.137,
        longitude: 11.576,
    };

    fn node(id: i64, code: &str, point: GeoPoint, handling_days: i32) -> Node {
        Node {
            location_id: id,
            code: code.to_string(),
            point,
            country_code: Some("DE".to_string()),
            shipping_cost_minor: 500,
            handling_days,
            kind: LocationKind::Warehouse,
        }
    }

    fn line(index: usize, sku: &str, quantity: i32) -> Line {
        Line {
            index,
            sku: sku.to_string(),
            quantity,
        }
    }

    fn stock(entries: &[(i64, &str, i32)]) -> HashMap<(i64, String), i32> {
        entries
            .iter()
            .map(|&(id, sku, units)| ((id, sku.to_string()), units))
            .collect()
    }

    fn to(point: GeoPoint) -> Destination {
        Destination {
            point: Some(point),
            country_code: Some("DE".to_string()),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, 10).unwrap()
    }

    fn run(
        lines: &[Line],
        nodes: &[Node],
        stock: &HashMap<(i64, String), i32>,
        destination: &Destination,
        promised_date: Option<NaiveDate>,
        weights: &Weights,
    ) -> Result<Decision, Shortfall> {
        let request = Request {
            lines,
            nodes,
            stock,
            destination,
            promised_date,
            today: today(),
        };
        let decision = decide(&request, weights)?;
        check(&request, &decision);
        Ok(decision)
    }

    /// The invariants every decision keeps.
    fn check(request: &Request<'_>, decision: &Decision) {
        assert!(!decision.candidates.is_empty());
        assert!(decision.candidates[0].chosen);
        assert!(decision.candidates[1..].iter().all(|p| !p.chosen));
        for pair in decision.candidates.windows(2) {
            assert!(pair[0].score <= pair[1].score, "{decision:#?}");
        }
        let mut sets = HashSet::new();
        for plan in &decision.candidates {
            let mut set = plan.locations.clone();
            set.sort_unstable();
            assert!(sets.insert(set), "a location set offered twice");
            assert_eq!(plan.shipments as usize, plan.locations.len());
            assert_eq!(plan.transit_days.len(), plan.locations.len());
            let mut first_use = Vec::new();
            for a in &plan.allocations {
                assert!(a.quantity > 0);
                if !first_use.contains(&a.location_id) {
                    first_use.push(a.location_id);
                }
            }
            assert_eq!(first_use, plan.locations);
            // Every line filled exactly.
            for l in request.lines.iter().filter(|l| l.quantity > 0) {
                let got: i32 = plan
                    .allocations
                    .iter()
                    .filter(|a| a.line == l.index)
                    .map(|a| a.quantity)
                    .sum();
                assert_eq!(got, l.quantity, "line {} in {plan:#?}", l.index);
            }
            // No location gives more than it has, all lines of a sku together.
            let sku_of = |i: usize| &request.lines.iter().find(|l| l.index == i).unwrap().sku;
            let mut taken: HashMap<(i64, &String), i32> = HashMap::new();
            for a in &plan.allocations {
                *taken.entry((a.location_id, sku_of(a.line))).or_default() += a.quantity;
            }
            for ((location, sku), units) in &taken {
                let have = request
                    .stock
                    .get(&(*location, (*sku).clone()))
                    .copied()
                    .unwrap_or(0);
                assert!(*units <= have, "{location} gives {units} × {sku} of {have}");
            }
            // A split line: no location of the plan held its quantity besides the other lines.
            for l in request.lines.iter().filter(|l| l.quantity > 0) {
                let parts = plan
                    .allocations
                    .iter()
                    .filter(|a| a.line == l.index)
                    .count();
                if parts < 2 {
                    continue;
                }
                for &location in &plan.locations {
                    let have = request
                        .stock
                        .get(&(location, l.sku.clone()))
                        .copied()
                        .unwrap_or(0);
                    let others: i32 = plan
                        .allocations
                        .iter()
                        .filter(|a| {
                            a.location_id == location
                                && a.line != l.index
                                && sku_of(a.line) == &l.sku
                        })
                        .map(|a| a.quantity)
                        .sum();
                    assert!(
                        have - others < l.quantity,
                        "line {} split although {location} held it",
                        l.index
                    );
                }
            }
        }
    }

    #[test]
    fn nearest_full_stock_location_wins_in_one_shipment() {
        let nodes = [
            node(1, "WH-HAM", HAMBURG, 1),
            node(2, "ST-POT", POTSDAM, 0),
            node(3, "WH-MUC", MUNICH, 1),
            node(4, "ST-SPA", SPANDAU, 0),
        ];
        let stock = stock(&[
            (1, "SKU-1", 9),
            (1, "SKU-2", 9),
            (2, "SKU-1", 5),
            (2, "SKU-2", 5),
            (3, "SKU-1", 9),
            (3, "SKU-2", 9),
            (4, "SKU-1", 5),
        ]);
        let lines = [line(0, "SKU-1", 3), line(1, "SKU-2", 2)];
        let decision = run(
            &lines,
            &nodes,
            &stock,
            &to(BERLIN),
            None,
            &Weights::default(),
        )
        .unwrap();
        assert_eq!(decision.strategy, Strategy::Exact);
        assert!(decision.distance_known);
        let chosen = &decision.candidates[0];
        assert_eq!(chosen.locations, vec![2]);
        assert_eq!(chosen.shipments, 1);
        assert!(chosen.meets_promise);
        assert_eq!(
            chosen.allocations,
            vec![
                Allocation {
                    line: 0,
                    location_id: 2,
                    quantity: 3
                },
                Allocation {
                    line: 1,
                    location_id: 2,
                    quantity: 2
                },
            ]
        );
        assert!(
            chosen
                .explanation
                .starts_with("Ships in one parcel from ST-POT (27 km, arrives in 1 day)"),
            "{}",
            chosen.explanation
        );
        assert!(!chosen.explanation.contains("greedy"));
        // The alternatives are the other full-stock locations, nearest first. The Spandau store
        // lacks SKU-2, and every location that has SKU-2 holds everything alone, so no split
        // is a candidate (it would ship a parcel for nothing).
        assert_eq!(decision.candidates[1].locations, vec![1]);
        assert_eq!(decision.candidates[2].locations, vec![3]);
        assert_eq!(decision.candidates.len(), 3);
        // Score = km + 10 per currency unit of cost.
        let expected = POTSDAM.distance_km(&BERLIN) + 10.0 * 5.0;
        assert!((chosen.score - expected).abs() < 1e-9);
        assert!((chosen.distance_km - POTSDAM.distance_km(&BERLIN)).abs() < 1e-9);
        assert_eq!(chosen.cost_minor, 500);
        assert_eq!(chosen.transit_days, vec![(2, 1)]);
    }

    #[test]
    fn split_only_when_no_single_location_fills_and_minimal() {
        let nodes = [
            node(1, "ST-POT", POTSDAM, 0),
            node(2, "ST-SPA", SPANDAU, 0),
            node(3, "WH-LEJ", LEIPZIG, 0),
            node(4, "WH-HAM", HAMBURG, 0),
        ];
        let stock = stock(&[
            (1, "SKU-1", 2),
            (2, "SKU-1", 2),
            (3, "SKU-1", 3),
            (4, "SKU-1", 1),
        ]);
        let weights = Weights::default();

        // 3 units: Leipzig holds them all; the two near stores (2 + 1) would be a needless split.
        let decision = run(
            &[line(0, "SKU-1", 3)],
            &nodes,
            &stock,
            &to(BERLIN),
            None,
            &weights,
        )
        .unwrap();
        assert_eq!(decision.candidates[0].locations, vec![3]);
        assert_eq!(decision.candidates[0].allocations.len(), 1);

        // 5 units: nobody holds 5; nearest-first would take 2 + 2 + 1 (3 parcels), the minimal
        // split is 2 parcels with Leipzig's 3.
        let decision = run(
            &[line(0, "SKU-1", 5)],
            &nodes,
            &stock,
            &to(BERLIN),
            None,
            &weights,
        )
        .unwrap();
        let chosen = &decision.candidates[0];
        assert_eq!(chosen.shipments, 2, "{chosen:#?}");
        assert!(chosen.locations.contains(&3));
        // The nearest-first 3-parcel plan is only an alternative, behind every 2-parcel one.
        let shipments: Vec<i32> = decision.candidates.iter().map(|p| p.shipments).collect();
        assert_eq!(shipments, vec![2, 2, 3]);
        let mut three = decision.candidates[2].locations.clone();
        three.sort_unstable();
        assert_eq!(three, vec![1, 2, 4]);
        assert!(
            chosen.explanation.starts_with(
                "Split over 2 parcels: no single location holds 5 × SKU-1; WH-LEJ 3, "
            ),
            "{}",
            chosen.explanation
        );
        assert!(chosen.explanation.contains("km in total"));
    }

    #[test]
    fn far_location_holding_everything_beats_two_near_ones() {
        let nodes = [
            node(1, "ST-POT", POTSDAM, 0),
            node(2, "ST-SPA", SPANDAU, 0),
            node(3, "WH-MUC", MUNICH, 1),
        ];
        let stock = stock(&[(1, "SKU-1", 2), (2, "SKU-1", 2), (3, "SKU-1", 4)]);
        let decision = run(
            &[line(0, "SKU-1", 4)],
            &nodes,
            &stock,
            &to(BERLIN),
            None,
            &Weights::default(),
        )
        .unwrap();
        let chosen = &decision.candidates[0];
        assert_eq!(chosen.locations, vec![3]);
        assert!(chosen.distance_km > 450.0);
        let split = &decision.candidates[1];
        assert_eq!(split.shipments, 2);
        assert!(split.distance_km < 50.0);
        assert!(
            split
                .explanation
                .contains("one parcel from WH-MUC is possible and scores better"),
            "{}",
            split.explanation
        );
    }

    #[test]
    fn split_wins_when_one_parcel_would_miss_the_promised_date() {
        let nodes = [
            node(1, "ST-POT", POTSDAM, 0),
            node(2, "ST-SPA", SPANDAU, 0),
            node(3, "WH-MUC", MUNICH, 1),
        ];
        let stock = stock(&[(1, "SKU-1", 2), (2, "SKU-1", 2), (3, "SKU-1", 4)]);
        // Munich: 1 handling day + 2 travel days (≈ 505 km) = 3 days; the stores: 1 day.
        let promised = today() + Days::new(2);
        let decision = run(
            &[line(0, "SKU-1", 4)],
            &nodes,
            &stock,
            &to(BERLIN),
            Some(promised),
            &Weights::default(),
        )
        .unwrap();
        let chosen = &decision.candidates[0];
        assert_eq!(chosen.shipments, 2);
        assert!(chosen.meets_promise);
        let mut locations = chosen.locations.clone();
        locations.sort_unstable();
        assert_eq!(locations, vec![1, 2]);
        assert!(
            chosen.explanation.contains(
                "one parcel from WH-MUC would arrive in 3 days and miss the promised date"
            ),
            "{}",
            chosen.explanation
        );
        assert!(chosen.explanation.contains("meets the promised date"));
        let single = &decision.candidates[1];
        assert_eq!(single.locations, vec![3]);
        assert!(!single.meets_promise);
        assert_eq!(single.transit_days, vec![(3, 3)]);
        assert!(single.explanation.contains("misses the promised date"));
        // With a day more the one parcel keeps the promise and wins again.
        let decision = run(
            &[line(0, "SKU-1", 4)],
            &nodes,
            &stock,
            &to(BERLIN),
            Some(promised + Days::new(1)),
            &Weights::default(),
        )
        .unwrap();
        assert_eq!(decision.candidates[0].locations, vec![3]);
        assert!(decision.candidates[0].meets_promise);
    }

    #[test]
    fn unknown_coordinates_rank_by_country_cost_and_shipments() {
        let mut cheap_abroad = node(1, "WH-FR", MUNICH, 0);
        cheap_abroad.country_code = Some("FR".to_string());
        cheap_abroad.shipping_cost_minor = 100;
        let mut dear_home = node(2, "WH-DE", HAMBURG, 0);
        dear_home.shipping_cost_minor = 2_000;
        let mut dearer_home = node(3, "WH-DE2", POTSDAM, 0);
        dearer_home.shipping_cost_minor = 2_500;
        let half_a = node(4, "ST-A", SPANDAU, 0);
        let half_b = node(5, "ST-B", BERLIN, 0);
        let nodes = [cheap_abroad, dear_home, dearer_home, half_a, half_b];
        let stock = stock(&[
            (1, "SKU-1", 4),
            (2, "SKU-1", 4),
            (3, "SKU-1", 4),
            (4, "SKU-1", 2),
            (5, "SKU-1", 2),
        ]);
        let destination = Destination {
            point: None,
            country_code: Some("de".to_string()),
        };
        let promised = today() + Days::new(1);
        let decision = run(
            &[line(7, "SKU-1", 4)],
            &nodes,
            &stock,
            &destination,
            Some(promised),
            &Weights::default(),
        )
        .unwrap();
        assert!(!decision.distance_known);
        let order: Vec<Vec<i64>> = decision
            .candidates
            .iter()
            .map(|p| p.locations.clone())
            .collect();
        // Scores: home 20.00 → 200; home 25.00 → 250; abroad 1.00 → 10 + 1,000; two home
        // parcels of 5.00 → 50 + 50 + 2,000.
        assert_eq!(order[0], vec![2]);
        assert_eq!(order[1], vec![3]);
        assert_eq!(order[2], vec![1]);
        assert_eq!(order[3].len(), 2);
        let chosen = &decision.candidates[0];
        assert_eq!(chosen.distance_km, 0.0);
        assert!((chosen.score - 200.0).abs() < 1e-9);
        assert_eq!(chosen.transit_days, vec![(2, 1)]); // one day when the distance is unknown
        assert!(chosen.meets_promise);
        assert!(
            chosen.explanation.contains("distance unknown"),
            "{}",
            chosen.explanation
        );
        assert!(
            !chosen.explanation.contains(" km"),
            "{}",
            chosen.explanation
        );
        assert!(
            decision.candidates[2]
                .explanation
                .contains("from another country"),
            "{}",
            decision.candidates[2].explanation
        );
    }

    #[test]
    fn two_lines_of_the_same_sku_compete_for_stock() {
        let nodes = [node(1, "ST-POT", POTSDAM, 0), node(2, "WH-LEJ", LEIPZIG, 0)];
        let lines = [line(0, "SKU-1", 3), line(1, "SKU-1", 3)];
        // Potsdam holds 4: not enough for both lines.
        let s = stock(&[(1, "SKU-1", 4), (2, "SKU-1", 3)]);
        let decision = run(&lines, &nodes, &s, &to(BERLIN), None, &Weights::default()).unwrap();
        let chosen = &decision.candidates[0];
        assert_eq!(chosen.shipments, 2);
        assert_eq!(
            chosen.allocations.len(),
            2,
            "no line needs splitting: {chosen:#?}"
        );
        assert!(
            chosen
                .explanation
                .contains("no single location holds 6 × SKU-1 for its 2 lines"),
            "{}",
            chosen.explanation
        );
        // Potsdam holds 6: one parcel with both lines.
        let s = stock(&[(1, "SKU-1", 6), (2, "SKU-1", 3)]);
        let decision = run(&lines, &nodes, &s, &to(BERLIN), None, &Weights::default()).unwrap();
        assert_eq!(decision.candidates[0].locations, vec![1]);
        assert_eq!(decision.candidates[0].allocations.len(), 2);
        // Only 5 in all: the second line is short.
        let s = stock(&[(1, "SKU-1", 3), (2, "SKU-1", 2)]);
        assert_eq!(
            run(&lines, &nodes, &s, &to(BERLIN), None, &Weights::default()).unwrap_err(),
            Shortfall { line: 1 }
        );
    }

    #[test]
    fn shortfall_names_the_first_line_that_cannot_be_filled() {
        let nodes = [node(1, "ST-POT", POTSDAM, 0), node(2, "WH-LEJ", LEIPZIG, 0)];
        let s = stock(&[
            (1, "SKU-1", 2),
            (2, "SKU-1", 1),
            (2, "SKU-2", 5),
            (9, "SKU-3", 9),
        ]);
        let lines = [
            line(10, "SKU-2", 1),
            line(11, "SKU-1", 2),
            line(12, "SKU-1", 2),
            line(13, "SKU-3", 1),
        ];
        let result = run(&lines, &nodes, &s, &to(BERLIN), None, &Weights::default());
        assert_eq!(result.unwrap_err(), Shortfall { line: 12 });
        // Stock at a location that is not among the nodes does not count.
        let result = run(
            &lines[3..],
            &nodes,
            &s,
            &to(BERLIN),
            None,
            &Weights::default(),
        );
        assert_eq!(result.unwrap_err(), Shortfall { line: 13 });
        // Negative availability is none.
        let s = stock(&[(1, "SKU-1", -4), (2, "SKU-1", 3)]);
        let result = run(
            &lines[1..2],
            &nodes,
            &s,
            &to(BERLIN),
            None,
            &Weights::default(),
        );
        assert_eq!(result.unwrap().candidates[0].locations, vec![2]);
    }

    #[test]
    fn nothing_to_ship_is_one_empty_plan() {
        let nodes = [node(1, "ST-POT", POTSDAM, 0)];
        let decision = run(
            &[line(0, "SKU-1", 0)],
            &nodes,
            &HashMap::new(),
            &to(BERLIN),
            Some(today()),
            &Weights::default(),
        )
        .unwrap();
        assert_eq!(decision.candidates.len(), 1);
        assert_eq!(decision.candidates[0].shipments, 0);
        assert!(decision.candidates[0].meets_promise);
    }

    #[test]
    fn greedy_above_exact_max_nodes_still_fills() {
        let mut nodes = Vec::new();
        let mut entries = Vec::new();
        let skus = ["A", "B", "C", "D", "E", "F"];
        for i in 0..8i64 {
            let point = GeoPoint {
                latitude: 50.0 + i as f64 * 0.3,
                longitude: 8.0 + i as f64 * 0.5,
            };
            nodes.push(node(i + 1, &format!("N{i}"), point, 0));
            for (k, sku) in skus.iter().enumerate() {
                if !(i as usize + k).is_multiple_of(3) {
                    entries.push((i + 1, *sku, 2 + (i as i32 + k as i32) % 3));
                }
            }
        }
        let s = stock(&entries);
        let lines: Vec<Line> = skus
            .iter()
            .enumerate()
            .map(|(k, sku)| line(k, sku, 3))
            .collect();
        let weights = Weights {
            exact_max_nodes: 3,
            ..Weights::default()
        };
        let decision = run(&lines, &nodes, &s, &to(BERLIN), None, &weights).unwrap();
        assert_eq!(decision.strategy, Strategy::Greedy);
        assert_eq!(decision.strategy.as_str(), "greedy");
        let chosen = &decision.candidates[0];
        assert!(
            chosen
                .explanation
                .ends_with("; greedy search over 8 locations"),
            "{}",
            chosen.explanation
        );
        // The same input searched exactly: the greedy plan needs no more parcels.
        let exact = run(&lines, &nodes, &s, &to(BERLIN), None, &Weights::default()).unwrap();
        assert_eq!(exact.strategy, Strategy::Exact);
        assert_eq!(exact.strategy.as_str(), "exact");
        assert_eq!(chosen.shipments, exact.candidates[0].shipments);
        assert!(exact.candidates[0].score <= chosen.score + 1e-9);
    }

    #[test]
    fn transit_and_dispatch_by_arithmetic() {
        let weights = Weights::default();
        let at = |lat: f64| GeoPoint {
            latitude: lat,
            longitude: 0.0,
        };
        let wh = node(1, "WH", at(0.0), 2);
        let here = Destination {
            point: Some(at(0.0)),
            country_code: None,
        };
        let near = Destination {
            point: Some(at(4.0)), // ≈ 445 km
            country_code: None,
        };
        let far = Destination {
            point: Some(at(5.0)), // ≈ 556 km
            country_code: None,
        };
        let farther = Destination {
            point: Some(at(14.0)), // ≈ 1,557 km
            country_code: None,
        };
        let unknown = Destination::default();
        assert_eq!(transit_days(&wh, &here, &weights), 2);
        assert_eq!(transit_days(&wh, &near, &weights), 3);
        assert_eq!(transit_days(&wh, &far, &weights), 4);
        assert_eq!(transit_days(&wh, &farther, &weights), 6);
        assert_eq!(transit_days(&wh, &unknown, &weights), 3);
        let shorter = Weights {
            km_per_transit_day: 200.0,
            ..Weights::default()
        };
        assert_eq!(transit_days(&wh, &near, &shorter), 5);

        let promised = NaiveDate::from_ymd_opt(2025, 3, 20).unwrap();
        assert_eq!(dispatch_by(promised, &wh, &here, &weights), promised);
        assert_eq!(
            dispatch_by(promised, &wh, &far, &weights),
            NaiveDate::from_ymd_opt(2025, 3, 18).unwrap()
        );
        assert_eq!(
            dispatch_by(promised, &wh, &unknown, &weights),
            NaiveDate::from_ymd_opt(2025, 3, 19).unwrap()
        );
        // Over a month boundary.
        let first = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
        assert_eq!(
            dispatch_by(first, &wh, &farther, &weights),
            NaiveDate::from_ymd_opt(2025, 2, 25).unwrap()
        );
        // meets ⇔ today + handling ≤ dispatch_by.
        let nodes = [wh.clone()];
        let s = stock(&[(1, "SKU-1", 1)]);
        for promised_in in 0..8u64 {
            let promised = today() + Days::new(promised_in);
            let decision = run(
                &[line(0, "SKU-1", 1)],
                &nodes,
                &s,
                &far,
                Some(promised),
                &weights,
            )
            .unwrap();
            let by = dispatch_by(promised, &wh, &far, &weights);
            assert_eq!(
                decision.candidates[0].meets_promise,
                today() + Days::new(2) <= by,
                "promised in {promised_in} days"
            );
            assert_eq!(decision.candidates[0].meets_promise, promised_in >= 4);
        }
    }

    /// A small linear congruential generator: deterministic data without a crate.
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
    }

    #[test]
    fn exact_search_finds_the_best_location_set_and_greedy_stays_valid() {
        let mut rng = Lcg(7);
        let mut checked = 0;
        for _ in 0..300 {
            let n = 2 + rng.below(7) as i64;
            let skus = 1 + rng.below(4) as usize;
            let mut nodes = Vec::new();
            let mut entries: Vec<(i64, String, i32)> = Vec::new();
            for id in 1..=n {
                let point = GeoPoint {
                    latitude: 47.0 + rng.below(700) as f64 / 100.0,
                    longitude: 6.0 + rng.below(900) as f64 / 100.0,
                };
                let mut nd = node(id, &format!("N{id}"), point, rng.below(3) as i32);
                nd.shipping_cost_minor = rng.below(2_000) as i64;
                if rng.below(5) == 0 {
                    nd.country_code = Some("AT".to_string());
                }
                nodes.push(nd);
                for k in 0..skus {
                    if rng.below(3) != 0 {
                        entries.push((id, format!("S{k}"), rng.below(6) as i32));
                    }
                }
            }
            let stock: HashMap<(i64, String), i32> = entries
                .into_iter()
                .map(|(id, sku, units)| ((id, sku), units))
                .collect();
            let lines: Vec<Line> = (0..1 + rng.below(4) as usize)
                .map(|i| {
                    line(
                        i,
                        &format!("S{}", rng.below(skus as u64)),
                        1 + rng.below(4) as i32,
                    )
                })
                .collect();
            let destination = to(BERLIN);
            let promised = (rng.below(2) == 0).then(|| today() + Days::new(1 + rng.below(3)));
            let weights = Weights::default();
            let Ok(decision) = run(&lines, &nodes, &stock, &destination, promised, &weights) else {
                continue;
            };
            checked += 1;
            // Brute force over every location set that holds everything.
            let mut best = f64::INFINITY;
            for mask in 1u32..(1 << n) {
                let set: Vec<&Node> = nodes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, nd)| nd)
                    .collect();
                let holds = lines.iter().all(|l| {
                    let need: i32 = lines
                        .iter()
                        .filter(|o| o.sku == l.sku)
                        .map(|o| o.quantity)
                        .sum();
                    let have: i32 = set
                        .iter()
                        .map(|nd| {
                            stock
                                .get(&(nd.location_id, l.sku.clone()))
                                .copied()
                                .unwrap_or(0)
                        })
                        .sum();
                    have >= need
                });
                if !holds {
                    continue;
                }
                let mut score = weights.per_extra_shipment * (set.len() - 1) as f64;
                let mut misses = false;
                for nd in &set {
                    score += nd.point.distance_km(&BERLIN) * weights.per_km
                        + nd.shipping_cost_minor as f64 / 100.0 * weights.per_cost_unit;
                    if nd.country_code.as_deref() != Some("DE") {
                        score += weights.other_country;
                    }
                    let arrives =
                        today() + Days::new(transit_days(nd, &destination, &weights) as u64);
                    misses |= promised.is_some_and(|p| arrives > p);
                }
                if misses {
                    score += weights.missed_promise;
                }
                best = best.min(score);
            }
            let chosen = &decision.candidates[0];
            assert!(
                (chosen.score - best).abs() < 1e-6,
                "exact {} vs brute force {best}: {decision:#?}",
                chosen.score
            );
            // The greedy search on the same input: valid, and never better than exact.
            let greedy = Weights {
                exact_max_nodes: 0,
                ..Weights::default()
            };
            let g = run(&lines, &nodes, &stock, &destination, promised, &greedy).unwrap();
            assert_eq!(g.strategy, Strategy::Greedy);
            assert!(g.candidates[0].score >= best - 1e-6);
        }
        assert!(checked > 100, "only {checked} feasible instances");
    }

    #[test]
    fn greedy_search_matches_exact_on_small_networks() {
        let mut rng = Lcg(99);
        let (mut compared, mut same) = (0, 0);
        for _ in 0..400 {
            let n = 6 + rng.below(7) as i64;
            let skus = 3 + rng.below(8) as usize;
            let mut nodes = Vec::new();
            let mut stock = HashMap::new();
            for id in 1..=n {
                let point = GeoPoint {
                    latitude: 47.0 + rng.below(700) as f64 / 100.0,
                    longitude: 6.0 + rng.below(900) as f64 / 100.0,
                };
                let mut nd = node(id, &format!("N{id}"), point, rng.below(3) as i32);
                nd.shipping_cost_minor = rng.below(2_000) as i64;
                nodes.push(nd);
                for k in 0..skus {
                    if rng.below(10) < 4 {
                        stock.insert((id, format!("S{k}")), rng.below(8) as i32);
                    }
                }
            }
            let lines: Vec<Line> = (0..skus)
                .map(|i| {
                    line(
                        i,
                        &format!("S{}", rng.below(skus as u64)),
                        1 + rng.below(4) as i32,
                    )
                })
                .collect();
            let promised = (rng.below(2) == 0).then(|| today() + Days::new(1 + rng.below(3)));
            let destination = to(BERLIN);
            let exact = Weights::default();
            let Ok(e) = run(&lines, &nodes, &stock, &destination, promised, &exact) else {
                continue;
            };
            assert_eq!(e.strategy, Strategy::Exact);
            let greedy = Weights {
                exact_max_nodes: 0,
                ..Weights::default()
            };
            let g = run(&lines, &nodes, &stock, &destination, promised, &greedy).unwrap();
            compared += 1;
            assert!(g.candidates[0].score >= e.candidates[0].score - 1e-6);
            if (g.candidates[0].score - e.candidates[0].score).abs() < 1e-6 {
                same += 1;
            }
        }
        // Greedy plus local search is a heuristic; on these networks it has found the optimum
        // every time so far.
        assert!(compared > 200, "only {compared} feasible instances");
        assert!(
            same * 100 >= compared * 95,
            "greedy optimal in {same} of {compared}"
        );
    }
}
