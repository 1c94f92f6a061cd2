//! Address changes and cancellations: optimistic concurrency, idempotency keys, agent reasons.
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::policy::{self, ShipmentState};
use crate::auth::{Principal, Role, Scope};
use crate::clock;
use crate::db::Store;
use crate::db::entities::{order, order_line, shipment, shipment_line};
use crate::error::{Refusal, RefusalCode, ServiceError, ServiceResult};
use crate::events::{self, EventKind, NewEvent};
use crate::fulfilment::{self, ShipmentStatus};
use crate::idempotency::{self, Claim};
use crate::ids::OrderId;
use crate::orders::{self, Address, DeliveryMethod, OrderStatus};
use crate::routing::engine::{self, Weights};

/// Who asks for a change, and the reason or code their role must give.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ChangeContext {
    pub expected_version: Option<i32>,
    pub reason: Option<String>,
    pub reason_code: Option<String>,
}

/// An order's shipments as the policy sees them.
pub async fn shipment_states(
    conn: &impl ConnectionTrait,
    order_id: i64,
) -> ServiceResult<Vec<(shipment::Model, ShipmentState)>> {
    let shipments = shipment::Entity::find()
        .filter(shipment::Column::OrderId.eq(order_id))
        .order_by_asc(shipment::Column::Id)
        .all(conn)
        .await?;
    let ids: Vec<i64> = shipments.iter().map(|s| s.id).collect();
    let mut lines = crate::db::group_by(
        shipment_line::Entity::find()
            .filter(shipment_line::Column::ShipmentId.is_in(ids))
            .all(conn)
            .await?,
        |l| l.shipment_id,
    );
    Ok(shipments
        .into_iter()
        .map(|s| {
            let state = ShipmentState {
                status: ShipmentStatus::parse(&s.status).unwrap_or(ShipmentStatus::Pending),
                lines: lines
                    .remove(&s.id)
                    .unwrap_or_default()
                    .iter()
                    .map(|l| (l.order_line_id, l.quantity))
                    .collect(),
            };
            (s, state)
        })
        .collect())
}

fn status_of(order: &order::Model) -> OrderStatus {
    OrderStatus::parse(&order.status).unwrap_or(OrderStatus::Placed)
}

fn method_of(order: &order::Model) -> DeliveryMethod {
    DeliveryMethod::parse(&order.delivery_method).unwrap_or(DeliveryMethod::ShipToAddress)
}

/// Checks the caller's role and what it must give; loads the order it may change.
async fn order_for_change(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    order_id: OrderId,
    context: &ChangeContext,
    services_may: bool,
) -> ServiceResult<order::Model> {
    let roles: &[Role] = if services_may {
        &[Role::Customer, Role::Agent, Role::Service]
    } else {
        &[Role::Customer, Role::Agent]
    };
    let role = principal.require_with_scope(roles, Scope::Orders)?;
    let given = |v: &Option<String>| v.as_deref().map(str::trim).is_some_and(|r| !r.is_empty());
    if role == Role::Agent && !given(&context.reason) {
        return Err(Refusal::invalid(
            &["reason"],
            "an agent acting on a customer's order gives a reason",
        )
        .into());
    }
    if role == Role::Service && context.reason_code.is_none() {
        return Err(Refusal::invalid(
            &["reasonCode"],
            "an integration cancelling an order gives a reasonCode",
        )
        .into());
    }
    let missing = || ServiceError::from(Refusal::not_found(&["orderId"], "no such order"));
    let order = order::Entity::find_by_id(order_id.0)
        .one(conn)
        .await?
        .ok_or_else(missing)?;
    if !orders::may_read(principal, &order) {
        return Err(missing());
    }
    if let Some(expected) = context.expected_version
        && expected != order.version
    {
        return Err(version_conflict(order.version, expected));
    }
    Ok(order)
}

fn version_conflict(current: i32, expected: i32) -> ServiceError {
    Refusal::new(
        RefusalCode::VersionConflict,
        &["expectedVersion"],
        format!("the order changed meanwhile: it is at version {current}, not {expected}"),
    )
    .into()
}

/// Takes the order for this change: moves its version on only if nobody else did first.
/// On PostgreSQL the row stays locked until the change commits, so a concurrent change waits
/// and then finds the version moved.
async fn claim_version(conn: &impl ConnectionTrait, order: &order::Model) -> ServiceResult<bool> {
    let result = order::Entity::update_many()
        .col_expr(
            order::Column::Version,
            Expr::col(order::Column::Version).add(1),
        )
        .col_expr(order::Column::UpdatedAt, Expr::value(clock::now()))
        .filter(order::Column::Id.eq(order.id))
        .filter(order::Column::Version.eq(order.version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

#[allow(clippy::too_many_arguments)]
async fn order_event(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    kind: EventKind,
    order: &order::Model,
    reason: Option<&str>,
    payload: serde_json::Value,
) -> ServiceResult<()> {
    let mut event = NewEvent::new(kind, principal);
    event.channel = Some(&order.channel);
    event.customer_id = Some(order.customer_id);
    event.order_id = Some(order.id);
    event.reason = reason.map(str::trim).filter(|r| !r.is_empty());
    event.payload = payload;
    events::append(conn, event).await?;
    Ok(())
}

/// A change attempt lost a race with another change of the same order.
const ATTEMPTS: usize = 3;

/// Runs `change` until it does not lose a race; a stale `expectedVersion` is a conflict at once.
macro_rules! with_retries {
    ($context:expr, $body:expr) => {{
        let mut outcome = None;
        for _ in 0..ATTEMPTS {
            match $body {
                Ok(Some(order)) => {
                    outcome = Some(order);
                    break;
                }
                Ok(None) if $context.expected_version.is_some() => {
                    return Err(Refusal::new(
                        RefusalCode::VersionConflict,
                        &["expectedVersion"],
                        "the order changed meanwhile; read it again",
                    )
                    .into());
                }
                Ok(None) => continue,
                Err(e) => return Err(e),
            }
        }
        outcome.ok_or_else(|| {
            ServiceError::from(Refusal::new(
                RefusalCode::VersionConflict,
                &["orderId"],
                "the order kept changing; read it again",
            ))
        })
    }};
}

#[derive(serde::Serialize)]
struct AddressRequest<'a> {
    order: i64,
    address: &'a Address,
    context: &'a ChangeContext,
}

/// `changeShippingAddress`: while nothing has left, the address changes and shipments that
/// nobody has started picking are routed again for it.
#[tracing::instrument(skip_all, fields(order = order_id.0))]
pub async fn change_shipping_address(
    store: &Store,
    principal: &Principal,
    order_id: OrderId,
    address: Address,
    context: ChangeContext,
    idempotency_key: Option<&str>,
    weights: &Weights,
) -> ServiceResult<order::Model> {
    with_retries!(
        context,
        try_change_address(
            store,
            principal,
            order_id,
            &address,
            &context,
            idempotency_key,
            weights
        )
        .await
    )
}

async fn try_change_address(
    store: &Store,
    principal: &Principal,
    order_id: OrderId,
    address: &Address,
    context: &ChangeContext,
    idempotency_key: Option<&str>,
    weights: &Weights,
) -> ServiceResult<Option<order::Model>> {
    let txn = store.begin_write().await?;
    let request = AddressRequest {
        order: order_id.0,
        address,
        context,
    };
    let claim = idempotency::claim::<i64>(
        &*txn,
        principal,
        "changeShippingAddress",
        idempotency_key,
        &request,
    )
    .await?;
    if let Claim::Replay(id) = claim {
        return Ok(order::Entity::find_by_id(id).one(&*txn).await?);
    }
    let order = order_for_change(&*txn, principal, order_id, context, false).await?;
    let states = shipment_states(&*txn, order.id).await?;
    let plain: Vec<ShipmentState> = states.iter().map(|(_, s)| s.clone()).collect();
    let allowed =
        policy::actions(status_of(&order), method_of(&order), &plain).change_shipping_address;
    if let Some(refusal) = allowed.refusal("orderId") {
        return Err(refusal.into());
    }
    if !claim_version(&*txn, &order).await? {
        return Ok(None);
    }
    let mut active: order::ActiveModel = order.clone().into();
    active.delivery_address = Set(Some(serde_json::to_string(address).unwrap_or_default()));
    let moved = active.update(&*txn).await?;
    reroute_pending(&*txn, &moved, &states, weights).await?;
    let order = fulfilment::refresh_order(&*txn, moved.id, true).await?;
    let payload = serde_json::json!({
        "orderNumber": order.number,
        "change": "address",
        "city": address.city,
        "countryCode": address.country_code,
    });
    order_event(
        &*txn,
        principal,
        EventKind::OrderModified,
        &order,
        context.reason.as_deref(),
        payload,
    )
    .await?;
    if let Claim::First(key) = claim {
        idempotency::complete(&*txn, key, &order.id).await?;
    }
    txn.commit().await?;
    Ok(Some(order))
}

/// Routes the lines of PENDING shipments again for the order's (new) address. When the stock
/// cannot serve them elsewhere, they stay where they are.
async fn reroute_pending(
    conn: &impl ConnectionTrait,
    order: &order::Model,
    states: &[(shipment::Model, ShipmentState)],
    weights: &Weights,
) -> ServiceResult<()> {
    let pending: Vec<&(shipment::Model, ShipmentState)> = states
        .iter()
        .filter(|(_, s)| s.status == ShipmentStatus::Pending)
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let lines = order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(order.id))
        .all(conn)
        .await?;
    let sku_of = |id: i64| {
        lines
            .iter()
            .find(|l| l.id == id)
            .map(|l| l.sku.clone())
            .unwrap_or_default()
    };
    // Give back what the pending shipments hold, then route those units afresh.
    let mut demands: Vec<(i64, i32)> = Vec::new();
    for (shipment, state) in &pending {
        for (line_id, quantity) in &state.lines {
            fulfilment::release(conn, shipment.location_id, &sku_of(*line_id), *quantity).await?;
            match demands.iter_mut().find(|(l, _)| l == line_id) {
                Some(d) => d.1 += quantity,
                None => demands.push((*line_id, *quantity)),
            }
        }
    }
    let engine_lines: Vec<engine::Line> = demands
        .iter()
        .enumerate()
        .map(|(i, (line_id, quantity))| engine::Line {
            index: i,
            sku: sku_of(*line_id),
            quantity: *quantity,
        })
        .collect();
    let delivery = orders::DeliveryInput {
        method: DeliveryMethod::ShipToAddress,
        address: orders::address(order),
        collection_store_code: None,
        promised_date: order.promised_date,
    };
    let destination = orders::destination_for(&delivery, None);
    let today = clock::now().date_naive();
    let routed = orders::route(
        conn,
        &engine_lines,
        &destination,
        order.promised_date,
        today,
        weights,
    )
    .await?;
    let Ok(routed) = routed else {
        // Nowhere else can serve them: keep the shipments as they were.
        for (shipment, state) in &pending {
            for (line_id, quantity) in &state.lines {
                crate::inventory::try_reserve(
                    conn,
                    shipment.location_id,
                    &sku_of(*line_id),
                    *quantity,
                )
                .await?;
            }
        }
        return Ok(());
    };
    let chosen = routed.decision.candidates.first().cloned();
    let Some(chosen) = chosen else { return Ok(()) };
    for a in &chosen.allocations {
        if !crate::inventory::try_reserve(
            conn,
            a.location_id,
            &engine_lines[a.line].sku,
            a.quantity,
        )
        .await?
        {
            return Err(ServiceError::Internal(
                "stock moved while re-routing".into(),
            ));
        }
    }
    for (shipment, _) in &pending {
        shipment::Entity::update_many()
            .col_expr(
                shipment::Column::Status,
                Expr::value(ShipmentStatus::Cancelled.as_str()),
            )
            .col_expr(shipment::Column::UpdatedAt, Expr::value(clock::now()))
            .filter(shipment::Column::Id.eq(shipment.id))
            .exec(conn)
            .await?;
    }
    let line_ids: Vec<i64> = demands.iter().map(|(id, _)| *id).collect();
    let allocations: Vec<crate::routing::Allocation> = chosen
        .allocations
        .iter()
        .map(|a| crate::routing::Allocation {
            line: a.line,
            location_id: a.location_id,
            quantity: a.quantity,
        })
        .collect();
    orders::record_routing(
        conn,
        order,
        &line_ids,
        &engine_lines,
        &routed,
        &allocations,
        weights,
        clock::now(),
    )
    .await
}

#[derive(serde::Serialize)]
struct CancelRequest<'a> {
    order: i64,
    lines: &'a [(i64, i32)],
    context: &'a ChangeContext,
}

/// `cancelOrderLines`: units still in PENDING shipments are cancelled and their stock released.
#[tracing::instrument(skip_all, fields(order = order_id.0))]
pub async fn cancel_order_lines(
    store: &Store,
    principal: &Principal,
    order_id: OrderId,
    lines: Vec<(i64, i32)>,
    context: ChangeContext,
    idempotency_key: Option<&str>,
) -> ServiceResult<order::Model> {
    if lines.is_empty() {
        return Err(Refusal::invalid(&["lines"], "name at least one line to cancel").into());
    }
    for (i, (_, quantity)) in lines.iter().enumerate() {
        if *quantity <= 0 {
            let index = i.to_string();
            return Err(Refusal::invalid(
                &["lines", &index, "quantity"],
                "cancel at least one unit",
            )
            .into());
        }
    }
    with_retries!(
        context,
        try_cancel(
            store,
            principal,
            order_id,
            Some(&lines),
            &context,
            idempotency_key
        )
        .await
    )
}

/// `cancelOrder`: while nothing has been dispatched, everything is cancelled and released.
#[tracing::instrument(skip_all, fields(order = order_id.0))]
pub async fn cancel_order(
    store: &Store,
    principal: &Principal,
    order_id: OrderId,
    context: ChangeContext,
    idempotency_key: Option<&str>,
) -> ServiceResult<order::Model> {
    with_retries!(
        context,
        try_cancel(store, principal, order_id, None, &context, idempotency_key).await
    )
}

async fn try_cancel(
    store: &Store,
    principal: &Principal,
    order_id: OrderId,
    requested: Option<&[(i64, i32)]>,
    context: &ChangeContext,
    idempotency_key: Option<&str>,
) -> ServiceResult<Option<order::Model>> {
    let txn = store.begin_write().await?;
    let operation = if requested.is_some() {
        "cancelOrderLines"
    } else {
        "cancelOrder"
    };
    let request = CancelRequest {
        order: order_id.0,
        lines: requested.unwrap_or_default(),
        context,
    };
    let claim =
        idempotency::claim::<i64>(&*txn, principal, operation, idempotency_key, &request).await?;
    if let Claim::Replay(id) = claim {
        return Ok(order::Entity::find_by_id(id).one(&*txn).await?);
    }
    let order = order_for_change(&*txn, principal, order_id, context, true).await?;
    let states = shipment_states(&*txn, order.id).await?;
    let plain: Vec<ShipmentState> = states.iter().map(|(_, s)| s.clone()).collect();
    let actions = policy::actions(status_of(&order), method_of(&order), &plain);
    let lines = order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(order.id))
        .all(&*txn)
        .await?;
    // What to cancel: (line, quantity), checked against the policy.
    let plan: Vec<(order_line::Model, i32)> = match requested {
        None => {
            if let Some(refusal) = actions.cancel.refusal("orderId") {
                return Err(refusal.into());
            }
            lines
                .iter()
                .map(|l| (l.clone(), l.quantity - l.quantity_cancelled))
                .filter(|(_, q)| *q > 0)
                .collect()
        }
        Some(requested) => {
            let mut plan = Vec::new();
            for (i, (line_id, quantity)) in requested.iter().enumerate() {
                let index = i.to_string();
                let Some(line) = lines.iter().find(|l| l.id == *line_id) else {
                    return Err(Refusal::not_found(
                        &["lines", &index, "lineId"],
                        "no such line on this order",
                    )
                    .into());
                };
                let already: i32 = plan
                    .iter()
                    .filter(|(l, _): &&(order_line::Model, i32)| l.id == line.id)
                    .map(|(_, q)| *q)
                    .sum();
                let cancellable = policy::cancellable_quantity(line.id, &plain) - already;
                if cancellable <= 0 && line.quantity - line.quantity_cancelled > 0 {
                    return Err(Refusal::new(
                        RefusalCode::NotModifiable,
                        &["lines", &index, "lineId"],
                        "this item is already being picked or has left us, so it can no longer be cancelled",
                    )
                    .into());
                }
                if *quantity > cancellable {
                    return Err(Refusal::invalid(
                        &["lines", &index, "quantity"],
                        format!(
                            "only {} of this line can still be cancelled",
                            std::cmp::max(cancellable, 0)
                        ),
                    )
                    .into());
                }
                plan.push((line.clone(), *quantity));
            }
            plan
        }
    };
    if !claim_version(&*txn, &order).await? {
        return Ok(None);
    }
    let whole = requested.is_none();
    for (line, quantity) in &plan {
        let mut left = *quantity;
        for (shipment, state) in &states {
            let cancellable_here = if whole {
                state.status.is_unshipped()
            } else {
                state.status == ShipmentStatus::Pending
            };
            if !cancellable_here || left == 0 {
                continue;
            }
            for (line_id, held) in &state.lines {
                if *line_id != line.id || left == 0 {
                    continue;
                }
                let take = std::cmp::min(*held, left);
                fulfilment::release(&*txn, shipment.location_id, &line.sku, take).await?;
                shipment_line::Entity::update_many()
                    .col_expr(
                        shipment_line::Column::Quantity,
                        Expr::col(shipment_line::Column::Quantity).sub(take),
                    )
                    .filter(shipment_line::Column::ShipmentId.eq(shipment.id))
                    .filter(shipment_line::Column::OrderLineId.eq(line.id))
                    .exec(&*txn)
                    .await?;
                left -= take;
            }
        }
        order_line::Entity::update_many()
            .col_expr(
                order_line::Column::QuantityCancelled,
                Expr::col(order_line::Column::QuantityCancelled).add(*quantity),
            )
            .filter(order_line::Column::Id.eq(line.id))
            .exec(&*txn)
            .await?;
    }
    // Shipments left with nothing to send are cancelled.
    shipment_line::Entity::delete_many()
        .filter(shipment_line::Column::ShipmentId.is_in(states.iter().map(|(s, _)| s.id)))
        .filter(shipment_line::Column::Quantity.lte(0))
        .exec(&*txn)
        .await?;
    for (shipment, state) in &states {
        if state.status.is_unshipped() {
            let remaining = shipment_line::Entity::find()
                .filter(shipment_line::Column::ShipmentId.eq(shipment.id))
                .all(&*txn)
                .await?;
            if remaining.is_empty() {
                let mut active: shipment::ActiveModel = shipment.clone().into();
                active.status = Set(ShipmentStatus::Cancelled.as_str().to_owned());
                active.updated_at = Set(clock::now());
                active.update(&*txn).await?;
            }
        }
    }
    let order = fulfilment::refresh_order(&*txn, order.id, true).await?;
    let kind = if whole {
        EventKind::OrderCancelled
    } else {
        EventKind::LinesCancelled
    };
    let payload = serde_json::json!({
        "orderNumber": order.number,
        "reasonCode": context.reason_code.clone().unwrap_or_else(|| "CUSTOMER_REQUEST".into()),
        "lines": plan.iter().map(|(l, q)| serde_json::json!({ "sku": l.sku, "quantity": q })).collect::<Vec<_>>(),
    });
    order_event(
        &*txn,
        principal,
        kind,
        &order,
        context.reason.as_deref(),
        payload,
    )
    .await?;
    if let Claim::First(key) = claim {
        idempotency::complete(&*txn, key, &order.id).await?;
    }
    txn.commit().await?;
    Ok(Some(order))
}
