//! Self-service changes: what the viewer may still do to an order, and the changes themselves.
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::errors::{GqlResult, UserError, UserErrorCode, outcome};
use super::loaders::{ShipmentLinesOf, ShipmentsOf};
use super::orders::{AddressInput, LineQuantityInput, Order, order_id};
use super::{load_error, loader, principal, state, store};
use crate::db::entities::order;
use crate::error::{Refusal, ServiceError};
use crate::fulfilment::ShipmentStatus;
use crate::ids::{GlobalId, NodeType};
use crate::selfservice::{self as service, Allowance, ChangeContext, ShipmentState};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::selfservice::CancellationReason")]
pub enum CancellationReason {
    CustomerRequest,
    OutOfStockAtPick,
    MarketplaceCancelled,
    PaymentFailed,
    Fraud,
    Other,
}

#[derive(SimpleObject, Clone)]
pub struct ActionAllowance {
    pub allowed: bool,
    /// Why not, in words a customer understands; null when allowed.
    pub reason: Option<String>,
    /// The code the mutation would refuse with; null when allowed.
    pub code: Option<UserErrorCode>,
}

impl From<Allowance> for ActionAllowance {
    fn from(a: Allowance) -> Self {
        ActionAllowance {
            allowed: a.allowed,
            reason: a.reason,
            code: a.code.map(Into::into),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct OrderActions {
    pub change_shipping_address: ActionAllowance,
    pub cancel: ActionAllowance,
    pub cancel_lines: ActionAllowance,
    pub request_return: ActionAllowance,
}

/// The order's shipments as the policy sees them, through the request's loaders.
pub async fn shipment_states(
    ctx: &Context<'_>,
    order_id: i64,
) -> async_graphql::Result<Vec<ShipmentState>> {
    let shipments = loader(ctx)
        .load_one(ShipmentsOf(order_id))
        .await
        .map_err(load_error)?
        .unwrap_or_default();
    let keys: Vec<ShipmentLinesOf> = shipments.iter().map(|s| ShipmentLinesOf(s.id)).collect();
    let mut lines = loader(ctx).load_many(keys).await.map_err(load_error)?;
    Ok(shipments
        .iter()
        .map(|s| ShipmentState {
            status: ShipmentStatus::parse(&s.status).unwrap_or(ShipmentStatus::Pending),
            lines: lines
                .remove(&ShipmentLinesOf(s.id))
                .unwrap_or_default()
                .iter()
                .map(|l| (l.order_line_id, l.quantity))
                .collect(),
        })
        .collect())
}

/// `Order.allowedActions`.
pub async fn allowed_actions(
    ctx: &Context<'_>,
    order: &order::Model,
) -> async_graphql::Result<OrderActions> {
    let states = shipment_states(ctx, order.id).await?;
    let status = crate::orders::OrderStatus::parse(&order.status)
        .unwrap_or(crate::orders::OrderStatus::Placed);
    let method = crate::orders::DeliveryMethod::parse(&order.delivery_method)
        .unwrap_or(crate::orders::DeliveryMethod::ShipToAddress);
    let actions = crate::selfservice::actions(status, method, &states);
    Ok(OrderActions {
        change_shipping_address: actions.change_shipping_address.into(),
        cancel: actions.cancel.into(),
        cancel_lines: actions.cancel_lines.into(),
        request_return: super::returns::request_return_allowance(ctx, order)
            .await?
            .into(),
    })
}

/// `OrderLine.cancellableQuantity`.
pub async fn cancellable_quantity(
    ctx: &Context<'_>,
    order_id: i64,
    line_id: i64,
) -> async_graphql::Result<i32> {
    Ok(crate::selfservice::cancellable_quantity(
        line_id,
        &shipment_states(ctx, order_id).await?,
    ))
}

#[derive(InputObject)]
pub struct ChangeShippingAddressInput {
    pub order_id: ID,
    pub address: AddressInput,
    pub expected_version: Option<i32>,
    /// Required when an agent acts.
    pub reason: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct CancelOrderLinesInput {
    pub order_id: ID,
    pub lines: Vec<LineQuantityInput>,
    pub reason_code: Option<CancellationReason>,
    pub reason: Option<String>,
    pub expected_version: Option<i32>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct CancelOrderInput {
    pub order_id: ID,
    pub reason_code: Option<CancellationReason>,
    pub reason: Option<String>,
    pub expected_version: Option<i32>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct OrderPayload {
    pub order: Option<Order>,
    pub user_errors: Vec<UserError>,
}

fn missing_order() -> ServiceError {
    Refusal::not_found(&["orderId"], "no such order").into()
}

fn context(
    expected_version: Option<i32>,
    reason: Option<String>,
    code: Option<CancellationReason>,
) -> ChangeContext {
    let reason_code = code.map(|c| {
        crate::selfservice::CancellationReason::from(c)
            .as_str()
            .to_owned()
    });
    ChangeContext {
        expected_version,
        reason,
        reason_code,
    }
}

fn payload(result: Result<order::Model, ServiceError>) -> async_graphql::Result<OrderPayload> {
    let (order, user_errors) = outcome(result)?;
    Ok(OrderPayload {
        order: order.map(Order),
        user_errors,
    })
}

#[derive(Default)]
pub struct SelfServiceMutation;

#[Object]
impl SelfServiceMutation {
    async fn change_shipping_address(
        &self,
        ctx: &Context<'_>,
        input: ChangeShippingAddressInput,
    ) -> async_graphql::Result<OrderPayload> {
        principal(ctx)
            .require(&[crate::auth::Role::Customer, crate::auth::Role::Agent])
            .gql()?;
        let id = order_id(&input.order_id)?;
        let result = match (id, input.address.parse(&["address"])) {
            (None, _) => Err(missing_order()),
            (Some(_), Err(refusals)) => Err(ServiceError::Refused(refusals)),
            (Some(id), Ok(address)) => {
                let context = context(input.expected_version, input.reason, None);
                let key = input.idempotency_key.as_deref();
                let weights = &state(ctx).routing;
                service::change_shipping_address(
                    store(ctx),
                    principal(ctx),
                    id,
                    address,
                    context,
                    key,
                    weights,
                )
                .await
            }
        };
        payload(result)
    }

    async fn cancel_order_lines(
        &self,
        ctx: &Context<'_>,
        input: CancelOrderLinesInput,
    ) -> async_graphql::Result<OrderPayload> {
        principal(ctx)
            .require(&[
                crate::auth::Role::Customer,
                crate::auth::Role::Agent,
                crate::auth::Role::Service,
            ])
            .gql()?;
        let id = order_id(&input.order_id)?;
        let lines: Result<Vec<(i64, i32)>, ServiceError> = input
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let index = i.to_string();
                GlobalId::decode(&l.line_id)
                    .ok()
                    .and_then(|g| g.of(NodeType::OrderLine))
                    .map(|line| (line, l.quantity))
                    .ok_or_else(|| {
                        Refusal::not_found(
                            &["lines", &index, "lineId"],
                            "no such line on this order",
                        )
                        .into()
                    })
            })
            .collect();
        let result = match (id, lines) {
            (None, _) => Err(missing_order()),
            (Some(_), Err(e)) => Err(e),
            (Some(id), Ok(lines)) => {
                let context = context(input.expected_version, input.reason, input.reason_code);
                service::cancel_order_lines(
                    store(ctx),
                    principal(ctx),
                    id,
                    lines,
                    context,
                    input.idempotency_key.as_deref(),
                )
                .await
            }
        };
        payload(result)
    }

    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        input: CancelOrderInput,
    ) -> async_graphql::Result<OrderPayload> {
        principal(ctx)
            .require(&[
                crate::auth::Role::Customer,
                crate::auth::Role::Agent,
                crate::auth::Role::Service,
            ])
            .gql()?;
        let result = match order_id(&input.order_id)? {
            None => Err(missing_order()),
            Some(id) => {
                let context = context(input.expected_version, input.reason, input.reason_code);
                service::cancel_order(
                    store(ctx),
                    principal(ctx),
                    id,
                    context,
                    input.idempotency_key.as_deref(),
                )
                .await
            }
        };
        payload(result)
    }
}
