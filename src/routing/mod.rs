//! Where each order line ships from. Pure: no database; the orders service feeds it stock.
//!
//! `engine` is the scoring engine placement uses. `allocate` is the simple nearest-first
//! allocator it replaced, kept as the routing benchmark's baseline.
pub mod engine;

use std::collections::HashMap;

use crate::catalog::GeoPoint;

/// Stock one location can give for a sku.
#[derive(Clone, Debug)]
pub struct StockOption {
    pub location_id: i64,
    pub point: GeoPoint,
    pub available: i32,
}

/// One order line's need.
#[derive(Clone, Debug)]
pub struct Demand {
    pub line: usize,
    pub sku: String,
    pub quantity: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub line: usize,
    pub location_id: i64,
    pub quantity: i32,
}

/// The line that cannot be filled from the stock there is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    pub line: usize,
}

/// Allocates every demand, or names the first line that cannot be filled.
pub fn allocate(
    demands: &[Demand],
    options: &HashMap<String, Vec<StockOption>>,
    destination: Option<GeoPoint>,
) -> Result<Vec<Allocation>, Shortfall> {
    let mut left: HashMap<(i64, &str), i32> = HashMap::new();
    for (sku, opts) in options {
        for o in opts {
            left.insert((o.location_id, sku.as_str()), o.available.max(0));
        }
    }
    let mut out = Vec::new();
    for demand in demands {
        let mut candidates: Vec<&StockOption> = options
            .get(&demand.sku)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let distance =
            |o: &StockOption| destination.map(|d| d.distance_km(&o.point)).unwrap_or(0.0);
        candidates.sort_by(|a, b| {
            distance(a)
                .total_cmp(&distance(b))
                .then(a.location_id.cmp(&b.location_id))
        });
        let free = |o: &StockOption, left: &HashMap<(i64, &str), i32>| {
            *left
                .get(&(o.location_id, demand.sku.as_str()))
                .unwrap_or(&0)
        };
        // A line is split only when no single location holds its quantity.
        if let Some(whole) = candidates
            .iter()
            .find(|o| free(o, &left) >= demand.quantity)
        {
            *left
                .entry((whole.location_id, demand.sku.as_str()))
                .or_default() -= demand.quantity;
            out.push(Allocation {
                line: demand.line,
                location_id: whole.location_id,
                quantity: demand.quantity,
            });
            continue;
        }
        // Split over as few locations as possible: the largest holdings first, nearest on a tie.
        candidates.sort_by(|a, b| {
            free(b, &left)
                .cmp(&free(a, &left))
                .then(distance(a).total_cmp(&distance(b)))
        });
        let mut needed = demand.quantity;
        for o in &candidates {
            let take = free(o, &left).min(needed);
            if take > 0 {
                *left
                    .entry((o.location_id, demand.sku.as_str()))
                    .or_default() -= take;
                out.push(Allocation {
                    line: demand.line,
                    location_id: o.location_id,
                    quantity: take,
                });
                needed -= take;
            }
            if needed == 0 {
                break;
            }
        }
        if needed > 0 {
            return Err(Shortfall { line: demand.line });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(id: i64, lat: f64, available: i32) -> StockOption {
        StockOption {
            location_id: id,
            point: GeoPoint {
                latitude: lat,
                longitude: 0.0,
            },
            available,
        }
    }

    #[test]
    fn nearest_whole_then_split() {
        let mut options = HashMap::new();
        options.insert(
            "A".to_string(),
            vec![opt(1, 10.0, 5), opt(2, 1.0, 2), opt(3, 2.0, 5)],
        );
        let near = Some(GeoPoint {
            latitude: 0.0,
            longitude: 0.0,
        });
        let d = |q| {
            vec![Demand {
                line: 0,
                sku: "A".into(),
                quantity: q,
            }]
        };
        assert_eq!(
            allocate(&d(2), &options, near).unwrap(),
            vec![Allocation {
                line: 0,
                location_id: 2,
                quantity: 2
            }]
        );
        assert_eq!(
            allocate(&d(4), &options, near).unwrap(),
            vec![Allocation {
                line: 0,
                location_id: 3,
                quantity: 4
            }]
        );
        assert_eq!(allocate(&d(9), &options, near).unwrap().len(), 2);
        assert_eq!(allocate(&d(13), &options, near), Err(Shortfall { line: 0 }));
    }

    #[test]
    fn two_lines_share_the_same_stock() {
        let mut options = HashMap::new();
        options.insert("A".to_string(), vec![opt(1, 0.0, 3)]);
        let demands = vec![
            Demand {
                line: 0,
                sku: "A".into(),
                quantity: 2,
            },
            Demand {
                line: 1,
                sku: "A".into(),
                quantity: 2,
            },
        ];
        assert_eq!(
            allocate(&demands, &options, None),
            Err(Shortfall { line: 1 })
        );
    }
}
