//! Routing decisions: why an order ships from where it does, and side-effect-free simulations.
use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::catalog::{Location, load_location};
use super::errors::GqlResult;
use super::orders::{DeliveryInput, OrderLineInput};
use super::scalars::{DateTime, Money};
use super::{principal, state, store};
use crate::db::entities::{order, routing_decision};
use crate::error::ServiceError;
use crate::money::{Currency, Money as DomainMoney};
use crate::orders::{self as service, PlanRequest, StoredCandidate};

#[derive(SimpleObject, Clone)]
pub struct RoutingAllocation {
    pub location: Location,
    pub sku: String,
    pub quantity: i32,
}

pub struct RoutingCandidate {
    candidate: StoredCandidate,
    currency: String,
}

#[Object]
impl RoutingCandidate {
    async fn locations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Location>> {
        let mut out = Vec::new();
        for id in &self.candidate.locations {
            out.extend(load_location(ctx, *id).await?);
        }
        Ok(out)
    }
    /// Which location ships which quantity of which sku in this plan.
    async fn allocations(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<RoutingAllocation>> {
        let mut out = Vec::new();
        for (location_id, sku, quantity) in &self.candidate.allocations {
            if let Some(location) = load_location(ctx, *location_id).await? {
                out.push(RoutingAllocation {
                    location,
                    sku: sku.clone(),
                    quantity: *quantity,
                });
            }
        }
        Ok(out)
    }
    async fn shipments(&self) -> i32 {
        self.candidate.shipments
    }
    async fn score(&self) -> f64 {
        self.candidate.score
    }
    async fn distance_km(&self) -> f64 {
        (self.candidate.distance_km * 10.0).round() / 10.0
    }
    async fn cost(&self) -> Money {
        DomainMoney::new(self.candidate.cost_minor, Currency::stored(&self.currency)).into()
    }
    async fn meets_promise(&self) -> bool {
        self.candidate.meets_promise
    }
    async fn chosen(&self) -> bool {
        self.candidate.chosen
    }
    async fn explanation(&self) -> &str {
        &self.candidate.explanation
    }
}

#[derive(SimpleObject)]
pub struct RoutingDecision {
    pub strategy: String,
    pub decided_at: DateTime,
    pub candidates: Vec<RoutingCandidate>,
}

impl RoutingDecision {
    pub fn stored(row: routing_decision::Model, order: &order::Model) -> RoutingDecision {
        let candidates: Vec<StoredCandidate> =
            serde_json::from_str(&row.candidates).unwrap_or_default();
        RoutingDecision {
            strategy: row.strategy,
            decided_at: DateTime(row.decided_at),
            candidates: candidates
                .into_iter()
                .map(|candidate| RoutingCandidate {
                    candidate,
                    currency: order.currency.clone(),
                })
                .collect(),
        }
    }
}

#[derive(InputObject)]
pub struct RoutingPlanInput {
    pub lines: Vec<OrderLineInput>,
    pub delivery: DeliveryInput,
}

#[derive(Default)]
pub struct RoutingQuery;

#[Object]
impl RoutingQuery {
    /// A side-effect-free run of the routing engine.
    async fn routing_plan(
        &self,
        ctx: &Context<'_>,
        input: RoutingPlanInput,
    ) -> async_graphql::Result<RoutingDecision> {
        let delivery = input
            .delivery
            .parse()
            .map_err(|r| super::errors::gql_error(ServiceError::Refused(r)))?;
        let lines = input
            .lines
            .iter()
            .map(|l| service::LineInput {
                sku: l.sku.clone(),
                name: None,
                quantity: l.quantity,
                unit_price: None,
            })
            .collect();
        let request = PlanRequest { lines, delivery };
        let (candidates, strategy, currency) =
            service::simulate_routing(store(ctx), principal(ctx), request, &state(ctx).routing)
                .await
                .gql()?;
        Ok(RoutingDecision {
            strategy: strategy.as_str().to_owned(),
            decided_at: DateTime(chrono::Utc::now()),
            candidates: candidates
                .into_iter()
                .map(|candidate| RoutingCandidate {
                    candidate,
                    currency: currency.clone(),
                })
                .collect(),
        })
    }
}
