//! Shipments, tracking and collection: types, queries and the WMS/carrier mutations.
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::catalog::{Location, load_location};
use super::connection::connection;
use super::errors::{GqlResult, UserError, gql_error, malformed_id, outcome};
use super::loaders::{LinesOf, OrderKey, OrderLineKey, ShipmentLinesOf, TrackingOf};
use super::orders::{LineQuantityInput, Order, OrderLine};
use super::scalars::{Date, DateTime, Money, MoneyInput};
use super::{load_error, loader, principal, store};
use crate::db::entities::{shipment, substitution, tracking_event};
use crate::error::{Refusal, ServiceError};
use crate::fulfilment::{self as service, ShipmentFilter, StatusUpdate, TrackingUpdate};
use crate::ids::{GlobalId, NodeType};
use crate::money::{Currency, Money as DomainMoney};
use crate::paging::PageRequest;

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::fulfilment::ShipmentStatus")]
pub enum ShipmentStatus {
    Pending,
    Picking,
    Dispatched,
    InTransit,
    OutForDelivery,
    Delivered,
    Exception,
    ReadyForCollection,
    Collected,
    Cancelled,
}

#[derive(SimpleObject, Clone)]
pub struct TrackingEvent {
    pub status: ShipmentStatus,
    pub description: Option<String>,
    pub occurred_at: DateTime,
    pub location: Option<String>,
    pub estimated_delivery_date: Option<Date>,
}

impl From<tracking_event::Model> for TrackingEvent {
    fn from(e: tracking_event::Model) -> Self {
        TrackingEvent {
            status: crate::fulfilment::ShipmentStatus::parse(&e.status)
                .unwrap_or(crate::fulfilment::ShipmentStatus::InTransit)
                .into(),
            description: e.description,
            occurred_at: DateTime(e.occurred_at),
            location: e.location,
            estimated_delivery_date: e.estimated_delivery_date.map(Date),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct ShipmentLine {
    pub line: OrderLine,
    pub quantity: i32,
}

/// A shipment, with its order's currency when the order was at hand (saves loading it again).
#[derive(Clone)]
pub struct Shipment(pub shipment::Model, pub Option<String>);

impl Shipment {
    pub fn of(model: shipment::Model) -> Shipment {
        Shipment(model, None)
    }
}

connection!(ShipmentConnection, ShipmentEdge, Shipment);

fn internal(what: &str) -> async_graphql::Error {
    gql_error(ServiceError::Internal(what.to_owned()))
}

/// Tracking events of a shipment, oldest first.
pub async fn tracking_events(
    ctx: &Context<'_>,
    shipment: i64,
) -> async_graphql::Result<Vec<TrackingEvent>> {
    let rows = loader(ctx)
        .load_one(TrackingOf(shipment))
        .await
        .map_err(load_error)?
        .unwrap_or_default();
    Ok(rows.into_iter().map(Into::into).collect())
}

#[Object]
impl Shipment {
    pub async fn id(&self) -> ID {
        ID(GlobalId::new(NodeType::Shipment, self.0.id).encode())
    }
    async fn order(&self, ctx: &Context<'_>) -> async_graphql::Result<Order> {
        let order = loader(ctx)
            .load_one(OrderKey(self.0.order_id))
            .await
            .map_err(load_error)?;
        order
            .map(Order)
            .ok_or_else(|| internal("shipment without order"))
    }
    async fn location(&self, ctx: &Context<'_>) -> async_graphql::Result<Location> {
        load_location(ctx, self.0.location_id)
            .await?
            .ok_or_else(|| internal("shipment without location"))
    }
    async fn status(&self) -> ShipmentStatus {
        crate::fulfilment::ShipmentStatus::parse(&self.0.status)
            .unwrap_or(crate::fulfilment::ShipmentStatus::Pending)
            .into()
    }
    async fn lines(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ShipmentLine>> {
        let rows = loader(ctx)
            .load_one(ShipmentLinesOf(self.0.id))
            .await
            .map_err(load_error)?
            .unwrap_or_default();
        let currency = match &self.1 {
            Some(currency) => currency.clone(),
            None => loader(ctx)
                .load_one(OrderKey(self.0.order_id))
                .await
                .map_err(load_error)?
                .map(|o| o.currency)
                .unwrap_or_default(),
        };
        // A shipment ships lines of its own order: the order's lines, which a query that also
        // reads `Order.lines` has read already.
        let lines = loader(ctx)
            .load_one(LinesOf(self.0.order_id))
            .await
            .map_err(load_error)?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                lines
                    .iter()
                    .find(|line| line.id == r.order_line_id)
                    .map(|line| ShipmentLine {
                        line: OrderLine {
                            line: line.clone(),
                            currency: currency.clone(),
                        },
                        quantity: r.quantity,
                    })
            })
            .collect())
    }
    async fn carrier(&self) -> Option<&str> {
        self.0.carrier.as_deref()
    }
    async fn tracking_number(&self) -> Option<&str> {
        self.0.tracking_number.as_deref()
    }
    async fn tracking_url(&self) -> Option<&str> {
        self.0.tracking_url.as_deref()
    }
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TrackingEvent>> {
        tracking_events(ctx, self.0.id).await
    }
    async fn estimated_delivery_date(&self) -> Option<Date> {
        self.0.estimated_delivery_date.map(Date)
    }
    async fn is_delayed(&self) -> bool {
        self.0.is_delayed
    }
    /// The latest dispatch that still meets the promised date; a shipment not dispatched by then is delayed.
    async fn dispatch_by(&self) -> Option<DateTime> {
        self.0.dispatch_by.map(DateTime)
    }
    async fn dispatched_at(&self) -> Option<DateTime> {
        self.0.dispatched_at.map(DateTime)
    }
    async fn delivered_at(&self) -> Option<DateTime> {
        self.0.delivered_at.map(DateTime)
    }
}

#[derive(InputObject)]
pub struct UpdateShipmentStatusInput {
    pub shipment_id: ID,
    pub status: ShipmentStatus,
    /// On DISPATCHED after a short pick: the quantities actually dispatched; the rest is re-routed or cancelled.
    pub lines: Option<Vec<LineQuantityInput>>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub estimated_delivery_date: Option<Date>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct RecordTrackingEventInput {
    pub carrier: String,
    pub tracking_number: String,
    pub status: ShipmentStatus,
    pub occurred_at: DateTime,
    pub description: Option<String>,
    pub location: Option<String>,
    pub estimated_delivery_date: Option<Date>,
    /// The carrier's own event id; a repeated id is ignored.
    pub event_id: Option<String>,
}

#[derive(InputObject)]
pub struct MarkReadyForCollectionInput {
    pub shipment_id: ID,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct ShipmentPayload {
    pub shipment: Option<Shipment>,
    pub user_errors: Vec<UserError>,
}

/// A shipment ID argument: malformed is BAD_USER_INPUT; another type reads as missing.
pub fn shipment_id(raw: &ID) -> async_graphql::Result<Option<i64>> {
    Ok(GlobalId::decode(raw)
        .map_err(|_| malformed_id())?
        .of(NodeType::Shipment))
}

fn line_id(raw: &ID, index: usize) -> Result<i64, ServiceError> {
    let field = index.to_string();
    let refusal = || {
        Refusal::invalid(
            &["lines", &field, "lineId"],
            "not an order line of this shipment",
        )
    };
    GlobalId::decode(raw)
        .ok()
        .and_then(|g| g.of(NodeType::OrderLine))
        .ok_or_else(|| refusal().into())
}

fn missing_shipment() -> ServiceError {
    Refusal::not_found(&["shipmentId"], "no such shipment").into()
}

#[derive(Default)]
pub struct FulfilmentQuery;

#[Object]
impl FulfilmentQuery {
    async fn shipment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Shipment>> {
        let Some(id) = shipment_id(&id)? else {
            service::require_fulfilment_reader(principal(ctx)).gql()?;
            return Ok(None);
        };
        Ok(service::get_shipment(store(ctx), principal(ctx), id)
            .await
            .gql()?
            .map(Shipment::of))
    }

    /// Agents and services: the work queue of a location, delayed shipments, and so on.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn shipments(
        &self,
        ctx: &Context<'_>,
        location_code: Option<String>,
        status: Option<Vec<ShipmentStatus>>,
        is_delayed: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ShipmentConnection> {
        let page = PageRequest::parse(first, after.as_deref()).gql()?;
        let filter = ShipmentFilter {
            location_code,
            statuses: status.map(|s| s.into_iter().map(Into::into).collect()),
            is_delayed,
        };
        let rows = service::shipment_queue(store(ctx), principal(ctx), filter, page)
            .await
            .gql()?;
        Ok(ShipmentConnection::from_page(rows, Shipment::of))
    }
}

#[derive(Default)]
pub struct FulfilmentMutation;

#[Object]
impl FulfilmentMutation {
    async fn update_shipment_status(
        &self,
        ctx: &Context<'_>,
        input: UpdateShipmentStatusInput,
    ) -> async_graphql::Result<ShipmentPayload> {
        principal(ctx)
            .require(&[crate::auth::Role::Service])
            .gql()?;
        let lines = input.lines.as_ref().map(|lines| {
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| line_id(&l.line_id, i).map(|id| (id, l.quantity)))
                .collect()
        });
        let result = match (shipment_id(&input.shipment_id)?, lines.transpose()) {
            (None, _) => Err(missing_shipment()),
            (Some(_), Err(e)) => Err(e),
            (Some(id), Ok(lines)) => {
                let update = StatusUpdate {
                    shipment_id: id,
                    status: input.status.into(),
                    lines,
                    carrier: input.carrier.map(|c| c.trim().to_owned()),
                    tracking_number: input.tracking_number.map(|t| t.trim().to_owned()),
                    tracking_url: input.tracking_url,
                    estimated_delivery_date: input.estimated_delivery_date.map(|d| d.0),
                };
                let key = input.idempotency_key.as_deref();
                service::update_shipment_status(store(ctx), principal(ctx), update, key).await
            }
        };
        let (shipment, user_errors) = outcome(result)?;
        Ok(ShipmentPayload {
            shipment: shipment.map(Shipment::of),
            user_errors,
        })
    }

    async fn record_tracking_event(
        &self,
        ctx: &Context<'_>,
        input: RecordTrackingEventInput,
    ) -> async_graphql::Result<ShipmentPayload> {
        principal(ctx)
            .require(&[crate::auth::Role::Service])
            .gql()?;
        let update = TrackingUpdate {
            carrier: input.carrier.trim().to_owned(),
            tracking_number: input.tracking_number.trim().to_owned(),
            status: input.status.into(),
            occurred_at: input.occurred_at.0,
            description: input.description,
            location: input.location,
            estimated_delivery_date: input.estimated_delivery_date.map(|d| d.0),
            event_id: input.event_id,
        };
        let (shipment, user_errors) =
            outcome(service::record_tracking_event(store(ctx), principal(ctx), update).await)?;
        Ok(ShipmentPayload {
            shipment: shipment.map(Shipment::of),
            user_errors,
        })
    }

    async fn mark_ready_for_collection(
        &self,
        ctx: &Context<'_>,
        input: MarkReadyForCollectionInput,
    ) -> async_graphql::Result<ShipmentPayload> {
        principal(ctx)
            .require(&[crate::auth::Role::Service])
            .gql()?;
        let result = match shipment_id(&input.shipment_id)? {
            None => Err(missing_shipment()),
            Some(id) => {
                service::mark_ready_for_collection(
                    store(ctx),
                    principal(ctx),
                    id,
                    input.idempotency_key.as_deref(),
                )
                .await
            }
        };
        let (shipment, user_errors) = outcome(result)?;
        Ok(ShipmentPayload {
            shipment: shipment.map(Shipment::of),
            user_errors,
        })
    }
}

// ---------------------------------------------------------------- substitutions

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::fulfilment::SubstitutionStatus")]
pub enum SubstitutionStatus {
    Proposed,
    Accepted,
    Declined,
    Expired,
}

#[derive(Clone)]
pub struct Substitution(pub substitution::Model);

#[Object]
impl Substitution {
    pub async fn id(&self) -> ID {
        ID(GlobalId::new(NodeType::Substitution, self.0.id).encode())
    }
    async fn line(&self, ctx: &Context<'_>) -> async_graphql::Result<OrderLine> {
        let line = loader(ctx)
            .load_one(OrderLineKey(self.0.order_line_id))
            .await
            .map_err(load_error)?;
        let order = loader(ctx)
            .load_one(OrderKey(self.0.order_id))
            .await
            .map_err(load_error)?;
        match (line, order) {
            (Some(line), Some(order)) => Ok(OrderLine {
                line,
                currency: order.currency,
            }),
            _ => Err(internal("substitution without its line")),
        }
    }
    async fn substitute_sku(&self) -> &str {
        &self.0.substitute_sku
    }
    async fn substitute_name(&self) -> &str {
        &self.0.substitute_name
    }
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    async fn unit_price(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        let order = loader(ctx)
            .load_one(OrderKey(self.0.order_id))
            .await
            .map_err(load_error)?;
        let currency = order.map(|o| o.currency).unwrap_or_default();
        Ok(DomainMoney::new(self.0.unit_price_minor, Currency::stored(&currency)).into())
    }
    async fn status(&self) -> SubstitutionStatus {
        crate::fulfilment::SubstitutionStatus::parse(&self.0.status)
            .unwrap_or(crate::fulfilment::SubstitutionStatus::Proposed)
            .into()
    }
    async fn proposed_at(&self) -> DateTime {
        DateTime(self.0.proposed_at)
    }
    async fn responded_at(&self) -> Option<DateTime> {
        self.0.responded_at.map(DateTime)
    }
}

#[derive(InputObject)]
pub struct ProposeSubstitutionInput {
    pub order_line_id: ID,
    pub substitute_sku: String,
    pub substitute_name: Option<String>,
    pub quantity: i32,
    pub unit_price: Option<MoneyInput>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct RespondToSubstitutionInput {
    pub substitution_id: ID,
    pub accept: bool,
    /// Required when an agent answers for the customer.
    pub reason: Option<String>,
    pub expected_version: Option<i32>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct SubstitutionPayload {
    pub substitution: Option<Substitution>,
    pub user_errors: Vec<UserError>,
}

fn substitution_id(raw: &ID) -> async_graphql::Result<Option<i64>> {
    Ok(GlobalId::decode(raw)
        .map_err(|_| malformed_id())?
        .of(NodeType::Substitution))
}

#[derive(Default)]
pub struct SubstitutionQuery;

#[Object]
impl SubstitutionQuery {
    async fn substitution(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Substitution>> {
        let Some(id) = substitution_id(&id)? else {
            service::require_fulfilment_reader(principal(ctx)).gql()?;
            return Ok(None);
        };
        Ok(service::get_substitution(store(ctx), principal(ctx), id)
            .await
            .gql()?
            .map(Substitution))
    }
}

#[derive(Default)]
pub struct SubstitutionMutation;

#[Object]
impl SubstitutionMutation {
    async fn propose_substitution(
        &self,
        ctx: &Context<'_>,
        input: ProposeSubstitutionInput,
    ) -> async_graphql::Result<SubstitutionPayload> {
        principal(ctx)
            .require(&[crate::auth::Role::Service])
            .gql()?;
        let line = GlobalId::decode(&input.order_line_id)
            .map_err(|_| malformed_id())?
            .of(NodeType::OrderLine);
        let price = input.unit_price.as_ref().map(|m| m.parse(&["unitPrice"]));
        let result = match (line, price.transpose()) {
            (None, _) => Err(Refusal::not_found(&["orderLineId"], "no such order line").into()),
            (Some(_), Err(r)) => Err(r.into()),
            (Some(line), Ok(price)) => {
                let proposal = service::Proposal {
                    order_line_id: line,
                    substitute_sku: input.substitute_sku,
                    substitute_name: input.substitute_name,
                    quantity: input.quantity,
                    unit_price: price.map(|p| (p.minor, p.currency.code().to_owned())),
                };
                let key = input.idempotency_key.as_deref();
                service::propose_substitution(store(ctx), principal(ctx), proposal, key).await
            }
        };
        let (substitution, user_errors) = outcome(result)?;
        Ok(SubstitutionPayload {
            substitution: substitution.map(Substitution),
            user_errors,
        })
    }

    async fn respond_to_substitution(
        &self,
        ctx: &Context<'_>,
        input: RespondToSubstitutionInput,
    ) -> async_graphql::Result<SubstitutionPayload> {
        principal(ctx)
            .require(&[crate::auth::Role::Customer, crate::auth::Role::Agent])
            .gql()?;
        let result = match substitution_id(&input.substitution_id)? {
            None => Err(Refusal::not_found(&["substitutionId"], "no such substitution").into()),
            Some(id) => {
                let answer = service::Answer {
                    substitution_id: id,
                    accept: input.accept,
                    reason: input.reason,
                    expected_version: input.expected_version,
                };
                let key = input.idempotency_key.as_deref();
                service::respond_to_substitution(store(ctx), principal(ctx), answer, key).await
            }
        };
        let (substitution, user_errors) = outcome(result)?;
        Ok(SubstitutionPayload {
            substitution: substitution.map(Substitution),
            user_errors,
        })
    }
}
