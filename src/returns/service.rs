//! Returns from any channel: requests, receipts (with restocking), refunds, rejections and
//! cancellations. Each step locks its order, so concurrent steps on one order apply one at a time.
use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Serialize;

use super::policy::{
    self, LineFacts, RefundStatus, ReturnMethod, ReturnPolicy, ReturnStatus, Returnability,
};
use crate::auth::{Principal, Role, Scope};
use crate::catalog::check_text;
use crate::clock;
use crate::db::Store;
use crate::db::entities::{
    location, order, order_line, product, return_, return_line, shipment, shipment_line,
};
use crate::error::{Refusal, RefusalCode, ServiceError, ServiceResult};
use crate::events::{self, EventKind, NewEvent};
use crate::fulfilment::ShipmentStatus;
use crate::idempotency::{self, Claim};
use crate::ids::{CustomerId, OrderId, ReturnId};
use crate::money::{Currency, Money};
use crate::orders::{self, Channel};
use crate::paging::{Page, PageRequest};

/// The steps of a return, each with the roles that may take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Customers online, agents on the phone, tills (services).
    Request,
    /// Tills and warehouses.
    Receive,
    /// Tills, warehouses and agents.
    Reject,
    /// Customers (their own) and agents.
    Cancel,
    /// Agents, before the goods arrive.
    Refund,
}

/// Whether the caller may take this step at all; which role they act in.
pub fn authorize(principal: &Principal, step: Step) -> ServiceResult<Role> {
    match step {
        Step::Request => principal.require_with_scope(
            &[Role::Customer, Role::Agent, Role::Service],
            Scope::Returns,
        ),
        Step::Receive => principal.require_with_scope(&[Role::Service], Scope::Returns),
        Step::Reject => principal.require_with_scope(&[Role::Service, Role::Agent], Scope::Returns),
        Step::Cancel => principal.require(&[Role::Customer, Role::Agent]),
        Step::Refund => principal.require(&[Role::Agent]),
    }
}

/// Units of an order line that a return still holds against the policy: what is on its way
/// back, or what arrived.
pub fn claimed(ret: &return_::Model, line: &return_line::Model) -> i32 {
    match ReturnStatus::parse(&ret.status) {
        Some(ReturnStatus::Rejected | ReturnStatus::Cancelled) => 0,
        _ if ret.received_at.is_some() => line.quantity_received,
        _ => line.quantity,
    }
}

/// Delivered shipments are those a customer has: delivered or collected, with the day they were.
pub fn delivered_day(shipment: &shipment::Model) -> Option<NaiveDate> {
    match ShipmentStatus::parse(&shipment.status) {
        Some(ShipmentStatus::Delivered | ShipmentStatus::Collected) => {
            shipment.delivered_at.map(|t| t.date_naive())
        }
        _ => None,
    }
}

/// What the policy needs about each line, from rows the caller loaded.
pub fn line_facts(
    policy: &ReturnPolicy,
    lines: &[order_line::Model],
    products: &HashMap<String, product::Model>,
    shipments: &[(shipment::Model, Vec<shipment_line::Model>)],
    returns: &[(return_::Model, Vec<return_line::Model>)],
) -> Vec<LineFacts> {
    lines
        .iter()
        .map(|line| {
            let product_returnable = products
                .get(&line.sku)
                .is_none_or(|p| policy.product_returnable(p.returnable, p.category.as_deref()));
            let deliveries = shipments
                .iter()
                .filter_map(|(s, sl)| delivered_day(s).map(|day| (sl, day)))
                .flat_map(|(sl, day)| {
                    sl.iter()
                        .filter(|l| l.order_line_id == line.id && l.quantity > 0)
                        .map(move |l| (l.quantity, day))
                })
                .collect();
            let claimed = returns
                .iter()
                .flat_map(|(r, rl)| rl.iter().map(move |l| (r, l)))
                .filter(|(_, l)| l.order_line_id == line.id)
                .map(|(r, l)| claimed(r, l))
                .sum();
            LineFacts {
                line_id: line.id,
                quantity_ordered: line.quantity,
                quantity_cancelled: line.quantity_cancelled,
                product_returnable,
                deliveries,
                claimed,
            }
        })
        .collect()
}

/// Everything about an order the policy looks at, read in the caller's transaction.
struct OrderFacts {
    lines: Vec<order_line::Model>,
    returnability: Vec<Returnability>,
    returns: usize,
}

async fn order_facts(
    conn: &impl ConnectionTrait,
    policy: &ReturnPolicy,
    order: &order::Model,
) -> ServiceResult<OrderFacts> {
    let lines = order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(order.id))
        .order_by_asc(order_line::Column::Position)
        .all(conn)
        .await?;
    let products: HashMap<String, product::Model> = product::Entity::find()
        .filter(product::Column::Sku.is_in(lines.iter().map(|l| l.sku.clone())))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.sku.clone(), p))
        .collect();
    let shipments = shipment::Entity::find()
        .filter(shipment::Column::OrderId.eq(order.id))
        .all(conn)
        .await?;
    let mut shipment_lines = crate::db::group_by(
        shipment_line::Entity::find()
            .filter(shipment_line::Column::ShipmentId.is_in(shipments.iter().map(|s| s.id)))
            .all(conn)
            .await?,
        |l| l.shipment_id,
    );
    let shipments: Vec<_> = shipments
        .into_iter()
        .map(|s| {
            let lines = shipment_lines.remove(&s.id).unwrap_or_default();
            (s, lines)
        })
        .collect();
    let returns = return_::Entity::find()
        .filter(return_::Column::OrderId.eq(order.id))
        .all(conn)
        .await?;
    let mut return_lines = crate::db::group_by(
        return_line::Entity::find()
            .filter(return_line::Column::ReturnId.is_in(returns.iter().map(|r| r.id)))
            .all(conn)
            .await?,
        |l| l.return_id,
    );
    let returns: Vec<_> = returns
        .into_iter()
        .map(|r| {
            let lines = return_lines.remove(&r.id).unwrap_or_default();
            (r, lines)
        })
        .collect();
    let today = clock::now().date_naive();
    let returnability = line_facts(policy, &lines, &products, &shipments, &returns)
        .iter()
        .map(|f| policy::returnability(policy, f, today))
        .collect();
    Ok(OrderFacts {
        lines,
        returnability,
        returns: returns.len(),
    })
}

/// Reads the order for a return step and holds its row until the step commits (PostgreSQL;
/// SQLite writes are serialised already).
async fn lock_order(conn: &impl ConnectionTrait, order_id: i64) -> ServiceResult<order::Model> {
    order::Entity::find_by_id(order_id)
        .lock_exclusive()
        .one(conn)
        .await?
        .ok_or_else(|| ServiceError::Internal(format!("order {order_id} vanished")))
}

/// The order changed: its returns or refunds.
async fn bump_version(conn: &impl ConnectionTrait, order: &order::Model) -> ServiceResult<()> {
    order::Entity::update_many()
        .col_expr(
            order::Column::Version,
            Expr::col(order::Column::Version).add(1),
        )
        .col_expr(order::Column::UpdatedAt, Expr::value(clock::now()))
        .filter(order::Column::Id.eq(order.id))
        .exec(conn)
        .await?;
    Ok(())
}

fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn money(ret: &return_::Model, minor: i64) -> Money {
    Money::new(minor, Currency::stored(&ret.currency))
}

/// Writes a return event: the order's customer sees it on their timeline.
async fn return_event(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    kind: EventKind,
    ret: &return_::Model,
    order: &order::Model,
    reason: Option<&str>,
    mut payload: serde_json::Value,
) -> ServiceResult<()> {
    if let Some(map) = payload.as_object_mut() {
        map.insert("orderNumber".into(), order.number.clone().into());
        map.insert("rmaNumber".into(), ret.rma_number.clone().into());
        map.insert("method".into(), ret.method.clone().into());
    }
    let mut event = NewEvent::new(kind, principal);
    event.channel = Some(&ret.channel);
    event.customer_id = Some(order.customer_id);
    event.order_id = Some(order.id);
    event.return_id = Some(ret.id);
    event.location_id = ret.received_location_id.or(ret.return_location_id);
    event.reason = given(reason);
    event.payload = payload;
    events::append(conn, event).await?;
    Ok(())
}

/// A requested line of a return.
#[derive(Clone, Debug, Serialize)]
pub struct RequestedLine {
    pub line_id: i64,
    pub quantity: i32,
    pub reason: String,
}

/// `requestReturn`'s input.
#[derive(Clone, Debug, Serialize)]
pub struct NewReturn {
    pub order_id: OrderId,
    pub lines: Vec<RequestedLine>,
    pub method: ReturnMethod,
    pub return_location_code: Option<String>,
    pub channel: Option<Channel>,
    pub override_reason: Option<String>,
    pub reason: Option<String>,
}

/// Checks what can be checked before reading anything; refusals carry their field paths.
fn check_new_return(role: Role, input: &NewReturn) -> ServiceResult<()> {
    if role == Role::Agent && given(input.reason.as_deref()).is_none() {
        return Err(Refusal::invalid(
            &["reason"],
            "an agent starting a return for a customer gives a reason",
        )
        .into());
    }
    if input.override_reason.is_some() && !matches!(role, Role::Agent | Role::Admin) {
        return Err(Refusal::invalid(
            &["override"],
            "only an agent may override the return policy",
        )
        .into());
    }
    if let Some(reason) = &input.override_reason {
        check_text(reason, "reason", 500).map_err(|e| e.under(&["override"]))?;
    }
    if input.lines.is_empty() {
        return Err(Refusal::invalid(&["lines"], "name at least one line to return").into());
    }
    if input.lines.len() > 100 {
        return Err(Refusal::invalid(&["lines"], "a return takes at most 100 lines").into());
    }
    let mut refusals = Vec::new();
    for (i, line) in input.lines.iter().enumerate() {
        let index = i.to_string();
        if line.quantity <= 0 {
            refusals.push(Refusal::invalid(
                &["lines", &index, "quantity"],
                "return at least one unit",
            ));
        }
        if let Err(e) = check_text(&line.reason, "reason", 500) {
            refusals.push(e.under(&["lines", &index]));
        }
        if input.lines[..i].iter().any(|l| l.line_id == line.line_id) {
            refusals.push(Refusal::invalid(
                &["lines", &index, "lineId"],
                "name each line once",
            ));
        }
    }
    let needs_location = matches!(input.method, ReturnMethod::InStore | ReturnMethod::DropOff);
    if needs_location && given(input.return_location_code.as_deref()).is_none() {
        refusals.push(Refusal::invalid(
            &["returnLocationCode"],
            "an in-store or drop-off return names the return point it goes to",
        ));
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Refused(refusals))
    }
}

/// The return point a return goes to: the one named, or for CARRIER returns the first warehouse
/// that takes returns.
async fn return_point(
    conn: &impl ConnectionTrait,
    code: Option<&str>,
    method: ReturnMethod,
    field: &str,
) -> ServiceResult<Option<location::Model>> {
    match given(code) {
        Some(code) => {
            let found = location::Entity::find()
                .filter(location::Column::Code.eq(code))
                .one(conn)
                .await?;
            match found {
                Some(l) if l.return_point => Ok(Some(l)),
                Some(_) => Err(Refusal::invalid(
                    &[field],
                    format!("`{code}` does not take returns; choose a return point"),
                )
                .into()),
                None => Err(Refusal::invalid(
                    &[field],
                    format!("no return point with code `{code}`"),
                )
                .into()),
            }
        }
        None if method == ReturnMethod::Carrier => Ok(location::Entity::find()
            .filter(location::Column::ReturnPoint.eq(true))
            .filter(location::Column::Kind.eq(crate::catalog::LocationKind::Warehouse.as_str()))
            .order_by_asc(location::Column::Id)
            .one(conn)
            .await?),
        None => Ok(None),
    }
}

/// `requestReturn`: checks every line against the policy (or an agent's override), then records
/// the return with its RMA number and a pending refund due by the policy's date.
#[tracing::instrument(skip_all, fields(order = input.order_id.0))]
pub async fn request_return(
    store: &Store,
    principal: &Principal,
    policy: &ReturnPolicy,
    input: NewReturn,
    idempotency_key: Option<&str>,
) -> ServiceResult<return_::Model> {
    let role = authorize(principal, Step::Request)?;
    check_new_return(role, &input)?;
    let txn = store.begin_write().await?;
    let claim =
        idempotency::claim::<i64>(&*txn, principal, "requestReturn", idempotency_key, &input)
            .await?;
    if let Claim::Replay(id) = claim {
        return replayed(&*txn, id).await;
    }
    let missing = || ServiceError::from(Refusal::not_found(&["orderId"], "no such order"));
    let order = order::Entity::find_by_id(input.order_id.0)
        .one(&*txn)
        .await?
        .ok_or_else(missing)?;
    if !orders::may_read(principal, &order) {
        return Err(missing());
    }
    let order = lock_order(&*txn, order.id).await?;
    let location = return_point(
        &*txn,
        input.return_location_code.as_deref(),
        input.method,
        "returnLocationCode",
    )
    .await?;
    let facts = order_facts(&*txn, policy, &order).await?;
    let overriding = input.override_reason.is_some();
    let mut refusals = Vec::new();
    let mut taken: Vec<(&order_line::Model, &RequestedLine)> = Vec::new();
    for (i, requested) in input.lines.iter().enumerate() {
        let index = i.to_string();
        let found = facts
            .lines
            .iter()
            .zip(&facts.returnability)
            .find(|(l, _)| l.id == requested.line_id);
        let Some((line, r)) = found else {
            refusals.push(Refusal::not_found(
                &["lines", &index, "lineId"],
                "no such line on this order",
            ));
            continue;
        };
        let limit = if r.refused() && overriding {
            r.overridable
        } else if r.refused() || (r.quantity == 0 && r.until.is_none()) {
            let reason = r.reason.clone().unwrap_or_default();
            refusals.push(Refusal::new(
                RefusalCode::NotReturnable,
                &["lines", &index, "lineId"],
                reason,
            ));
            continue;
        } else {
            r.quantity
        };
        if requested.quantity > limit {
            refusals.push(Refusal::invalid(
                &["lines", &index, "quantity"],
                match limit {
                    0 => "every unit of this item delivered is already returned or on its way back"
                        .to_owned(),
                    n => format!("only {n} of this item can be returned"),
                },
            ));
            continue;
        }
        taken.push((line, requested));
    }
    if !refusals.is_empty() {
        return Err(ServiceError::Refused(refusals));
    }
    let overridden = taken.iter().any(|(line, _)| {
        facts
            .lines
            .iter()
            .zip(&facts.returnability)
            .any(|(l, r)| l.id == line.id && r.refused())
    });
    let now = clock::now();
    let channel = input.channel.unwrap_or(match role {
        Role::Customer => Channel::Web,
        Role::Service => Channel::Store,
        _ => Channel::Phone,
    });
    let refund_minor: i64 = taken
        .iter()
        .map(|(l, r)| l.unit_price_minor * i64::from(r.quantity))
        .sum();
    let rma_number = format!(
        "RMA-{}-{}",
        order.number.trim_start_matches("TP-"),
        facts.returns + 1
    );
    let label_token = (input.method == ReturnMethod::Carrier).then(|| crate::ids::random_token(24));
    let ret = return_::ActiveModel {
        order_id: Set(order.id),
        customer_id: Set(order.customer_id),
        rma_number: Set(rma_number),
        status: Set(ReturnStatus::Requested.as_str().to_owned()),
        channel: Set(channel.as_str().to_owned()),
        method: Set(input.method.as_str().to_owned()),
        return_location_id: Set(location.as_ref().map(|l| l.id)),
        received_location_id: Set(None),
        label_token: Set(label_token),
        override_reason: Set(if overridden {
            input.override_reason.clone()
        } else {
            None
        }),
        closing_reason: Set(None),
        currency: Set(order.currency.clone()),
        refund_minor: Set(refund_minor),
        refund_status: Set(RefundStatus::Pending.as_str().to_owned()),
        refund_expected_by: Set(policy.refund_expected_by(input.method, now.date_naive())),
        refund_issued_at: Set(None),
        received_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    return_line::Entity::insert_many(taken.iter().map(|(line, requested)| {
        return_line::ActiveModel {
            return_id: Set(ret.id),
            order_line_id: Set(line.id),
            quantity: Set(requested.quantity),
            quantity_received: Set(0),
            quantity_restocked: Set(0),
            reason: Set(requested.reason.trim().to_owned()),
            ..Default::default()
        }
    }))
    .exec_without_returning(&*txn)
    .await?;
    bump_version(&*txn, &order).await?;
    let reason = if overridden {
        input.override_reason.as_deref()
    } else {
        input.reason.as_deref()
    };
    let payload = serde_json::json!({
        "lines": taken.iter().map(|(l, r)| serde_json::json!({ "sku": l.sku, "quantity": r.quantity })).collect::<Vec<_>>(),
        "location": location.as_ref().map(|l| l.name.clone()),
        "override": overridden,
        "refund": money(&ret, refund_minor).amount().to_string(),
        "currency": ret.currency,
        "expectedBy": ret.refund_expected_by.to_string(),
    });
    return_event(
        &*txn,
        principal,
        EventKind::ReturnRequested,
        &ret,
        &order,
        reason,
        payload,
    )
    .await?;
    if let Claim::First(key) = claim {
        idempotency::complete(&*txn, key, &ret.id).await?;
    }
    txn.commit().await?;
    Ok(ret)
}

async fn replayed(conn: &impl ConnectionTrait, id: i64) -> ServiceResult<return_::Model> {
    return_::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| ServiceError::Internal("an idempotent return vanished".into()))
}

/// Loads a return and its order for a step, with the order locked; a return the caller may not
/// read is missing.
async fn return_for_step(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: ReturnId,
) -> ServiceResult<(return_::Model, order::Model)> {
    let missing = || ServiceError::from(Refusal::not_found(&["returnId"], "no such return"));
    let ret = return_::Entity::find_by_id(id.0)
        .one(conn)
        .await?
        .ok_or_else(missing)?;
    let order = lock_order(conn, ret.order_id).await?;
    if !orders::may_read(principal, &order) {
        return Err(missing());
    }
    // Read again under the lock: a concurrent step may have moved it meanwhile.
    let ret = return_::Entity::find_by_id(id.0)
        .one(conn)
        .await?
        .ok_or_else(missing)?;
    Ok((ret, order))
}

fn status(ret: &return_::Model) -> ReturnStatus {
    ReturnStatus::parse(&ret.status).unwrap_or(ReturnStatus::Requested)
}

fn refund_issued(ret: &return_::Model) -> bool {
    ret.refund_status == RefundStatus::Issued.as_str()
}

fn not_modifiable(message: impl Into<String>) -> ServiceError {
    Refusal::new(RefusalCode::NotModifiable, &["returnId"], message).into()
}

/// Why a return can no longer take this step, in its own words.
fn closed(ret: &return_::Model) -> Option<ServiceError> {
    match status(ret) {
        ReturnStatus::Rejected => Some(not_modifiable("this return was rejected")),
        ReturnStatus::Cancelled => Some(not_modifiable("this return was cancelled")),
        _ => None,
    }
}

/// A receipt line: an order line of the return, the units that arrived, and whether they go
/// back on sale.
#[derive(Clone, Debug, Serialize)]
pub struct ReceivedLine {
    pub line_id: i64,
    pub quantity: i32,
    pub restock: bool,
}

/// `receiveReturn`'s input.
#[derive(Clone, Debug, Serialize)]
pub struct Receipt {
    pub return_id: ReturnId,
    pub location_code: String,
    pub restock: Option<bool>,
    pub lines: Option<Vec<ReceivedLine>>,
}

/// `receiveReturn`: records what arrived where, restocks what may be sold again, and issues the
/// refund for what arrived (at once: an in-store return refunds on the spot).
#[tracing::instrument(skip_all, fields(ret = input.return_id.0))]
pub async fn receive_return(
    store: &Store,
    principal: &Principal,
    policy: &ReturnPolicy,
    input: Receipt,
    idempotency_key: Option<&str>,
) -> ServiceResult<return_::Model> {
    authorize(principal, Step::Receive)?;
    let txn = store.begin_write().await?;
    let claim =
        idempotency::claim::<i64>(&*txn, principal, "receiveReturn", idempotency_key, &input)
            .await?;
    if let Claim::Replay(id) = claim {
        return replayed(&*txn, id).await;
    }
    let (ret, order) = return_for_step(&*txn, principal, input.return_id).await?;
    if let Some(refusal) = closed(&ret) {
        return Err(refusal);
    }
    if ret.received_at.is_some() {
        return Err(not_modifiable("this return was already received"));
    }
    let location = return_point(
        &*txn,
        Some(&input.location_code),
        ReturnMethod::InStore,
        "locationCode",
    )
    .await?
    .ok_or_else(|| {
        ServiceError::from(Refusal::invalid(
            &["locationCode"],
            "name the return point the goods arrived at",
        ))
    })?;
    let return_lines = return_line::Entity::find()
        .filter(return_line::Column::ReturnId.eq(ret.id))
        .order_by_asc(return_line::Column::Id)
        .all(&*txn)
        .await?;
    let plan = receipt_plan(&input, &return_lines)?;
    let order_lines: HashMap<i64, order_line::Model> = order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(order.id))
        .all(&*txn)
        .await?
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    let now = clock::now();
    let mut received_minor = 0;
    let mut received = Vec::new();
    for (line, quantity, restock) in &plan {
        let Some(order_line) = order_lines.get(&line.order_line_id) else {
            continue;
        };
        let restocked = if *restock { *quantity } else { 0 };
        let mut active: return_line::ActiveModel = (*line).clone().into();
        active.quantity_received = Set(*quantity);
        active.quantity_restocked = Set(restocked);
        active.update(&*txn).await?;
        if *quantity == 0 {
            continue;
        }
        order_line::Entity::update_many()
            .col_expr(
                order_line::Column::QuantityReturned,
                Expr::col(order_line::Column::QuantityReturned).add(*quantity),
            )
            .filter(order_line::Column::Id.eq(order_line.id))
            .exec(&*txn)
            .await?;
        if restocked > 0 {
            crate::inventory::restock(
                &*txn,
                principal,
                location.id,
                &order_line.sku,
                restocked,
                &format!("return {}", ret.rma_number),
                (order.customer_id, order.id),
            )
            .await?;
        }
        received_minor += order_line.unit_price_minor * i64::from(*quantity);
        received.push(serde_json::json!({
            "sku": order_line.sku,
            "quantity": quantity,
            "restocked": restocked,
        }));
    }
    let refunding = !refund_issued(&ret);
    let mut active: return_::ActiveModel = ret.clone().into();
    active.received_at = Set(Some(now));
    active.received_location_id = Set(Some(location.id));
    active.updated_at = Set(now);
    if refunding {
        let method = ReturnMethod::parse(&ret.method).unwrap_or(ReturnMethod::Carrier);
        if method == ReturnMethod::InStore {
            active.refund_expected_by = Set(policy.refund_expected_by(method, now.date_naive()));
        }
        active.refund_minor = Set(received_minor);
        active.refund_status = Set(RefundStatus::Issued.as_str().to_owned());
        active.refund_issued_at = Set(Some(now));
        add_refund(&*txn, &order, received_minor).await?;
    }
    active.status = Set(ReturnStatus::Refunded.as_str().to_owned());
    let ret = active.update(&*txn).await?;
    bump_version(&*txn, &order).await?;
    let payload = serde_json::json!({
        "location": location.name,
        "lines": received,
    });
    return_event(
        &*txn,
        principal,
        EventKind::ReturnReceived,
        &ret,
        &order,
        None,
        payload,
    )
    .await?;
    if refunding {
        refund_event(&*txn, principal, &ret, &order, None).await?;
    }
    if let Claim::First(key) = claim {
        idempotency::complete(&*txn, key, &ret.id).await?;
    }
    txn.commit().await?;
    Ok(ret)
}

/// What a receipt takes in: every requested unit, or the lines it names.
fn receipt_plan<'a>(
    input: &Receipt,
    return_lines: &'a [return_line::Model],
) -> ServiceResult<Vec<(&'a return_line::Model, i32, bool)>> {
    let restock_all = input.restock.unwrap_or(false);
    let Some(named) = &input.lines else {
        return Ok(return_lines
            .iter()
            .map(|l| (l, l.quantity, restock_all))
            .collect());
    };
    let mut refusals = Vec::new();
    let mut plan: Vec<(&return_line::Model, i32, bool)> =
        return_lines.iter().map(|l| (l, 0, false)).collect();
    for (i, received) in named.iter().enumerate() {
        let index = i.to_string();
        let Some(entry) = plan
            .iter_mut()
            .find(|(l, _, _)| l.order_line_id == received.line_id)
        else {
            refusals.push(Refusal::not_found(
                &["lines", &index, "lineId"],
                "this line is not part of the return",
            ));
            continue;
        };
        if named[..i].iter().any(|l| l.line_id == received.line_id) {
            refusals.push(Refusal::invalid(
                &["lines", &index, "lineId"],
                "name each line once",
            ));
            continue;
        }
        if received.quantity < 0 || received.quantity > entry.0.quantity {
            refusals.push(Refusal::invalid(
                &["lines", &index, "quantity"],
                format!(
                    "between 0 and the {} requested units can arrive",
                    entry.0.quantity
                ),
            ));
            continue;
        }
        entry.1 = received.quantity;
        entry.2 = received.restock;
    }
    if refusals.is_empty() && plan.iter().all(|(_, q, _)| *q == 0) {
        refusals.push(Refusal::invalid(&["lines"], "receive at least one unit"));
    }
    if refusals.is_empty() {
        Ok(plan)
    } else {
        Err(ServiceError::Refused(refusals))
    }
}

async fn add_refund(
    conn: &impl ConnectionTrait,
    order: &order::Model,
    minor: i64,
) -> ServiceResult<()> {
    order::Entity::update_many()
        .col_expr(
            order::Column::RefundedMinor,
            Expr::col(order::Column::RefundedMinor).add(minor),
        )
        .filter(order::Column::Id.eq(order.id))
        .exec(conn)
        .await?;
    Ok(())
}

async fn refund_event(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ret: &return_::Model,
    order: &order::Model,
    reason: Option<&str>,
) -> ServiceResult<()> {
    let payload = serde_json::json!({
        "refund": money(ret, ret.refund_minor).amount().to_string(),
        "currency": ret.currency,
        "expectedBy": ret.refund_expected_by.to_string(),
    });
    return_event(
        conn,
        principal,
        EventKind::RefundIssued,
        ret,
        order,
        reason,
        payload,
    )
    .await
}

/// `issueRefund`: an agent refunds before the goods arrive, with a reason.
#[tracing::instrument(skip_all, fields(ret = return_id.0))]
pub async fn issue_refund(
    store: &Store,
    principal: &Principal,
    return_id: ReturnId,
    reason: &str,
    idempotency_key: Option<&str>,
) -> ServiceResult<return_::Model> {
    authorize(principal, Step::Refund)?;
    let reason = check_text(reason, "reason", 500)?;
    let txn = store.begin_write().await?;
    let request = (return_id.0, &reason);
    let claim =
        idempotency::claim::<i64>(&*txn, principal, "issueRefund", idempotency_key, &request)
            .await?;
    if let Claim::Replay(id) = claim {
        return replayed(&*txn, id).await;
    }
    let (ret, order) = return_for_step(&*txn, principal, return_id).await?;
    if let Some(refusal) = closed(&ret) {
        return Err(refusal);
    }
    if refund_issued(&ret) {
        return Err(not_modifiable("this return was already refunded"));
    }
    let now = clock::now();
    let mut active: return_::ActiveModel = ret.clone().into();
    active.refund_status = Set(RefundStatus::Issued.as_str().to_owned());
    active.refund_issued_at = Set(Some(now));
    active.status = Set(ReturnStatus::Refunded.as_str().to_owned());
    active.updated_at = Set(now);
    let ret = active.update(&*txn).await?;
    add_refund(&*txn, &order, ret.refund_minor).await?;
    bump_version(&*txn, &order).await?;
    refund_event(&*txn, principal, &ret, &order, Some(&reason)).await?;
    if let Claim::First(key) = claim {
        idempotency::complete(&*txn, key, &ret.id).await?;
    }
    txn.commit().await?;
    Ok(ret)
}

/// How a return ends before anything arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closing {
    /// `rejectReturn`: the retailer will not take it (services, agents).
    Reject,
    /// `cancelReturn`: the customer no longer returns it (customers, agents).
    Cancel,
}

/// `rejectReturn` and `cancelReturn`: a return still waiting for the goods ends; its units may
/// be returned again.
#[tracing::instrument(skip_all, fields(ret = return_id.0))]
pub async fn close_return(
    store: &Store,
    principal: &Principal,
    closing: Closing,
    return_id: ReturnId,
    reason: Option<&str>,
    idempotency_key: Option<&str>,
) -> ServiceResult<return_::Model> {
    let (role, operation, status, kind) = match closing {
        Closing::Reject => (
            authorize(principal, Step::Reject)?,
            "rejectReturn",
            ReturnStatus::Rejected,
            EventKind::ReturnRejected,
        ),
        Closing::Cancel => (
            authorize(principal, Step::Cancel)?,
            "cancelReturn",
            ReturnStatus::Cancelled,
            EventKind::ReturnCancelled,
        ),
    };
    let reason = match given(reason) {
        Some(r) => Some(check_text(r, "reason", 500)?),
        None if closing == Closing::Reject => {
            return Err(Refusal::invalid(&["reason"], "say why the return is rejected").into());
        }
        None if role == Role::Agent => {
            return Err(Refusal::invalid(
                &["reason"],
                "an agent cancelling a customer's return gives a reason",
            )
            .into());
        }
        None => None,
    };
    let txn = store.begin_write().await?;
    let request = (return_id.0, &reason);
    let claim =
        idempotency::claim::<i64>(&*txn, principal, operation, idempotency_key, &request).await?;
    if let Claim::Replay(id) = claim {
        return replayed(&*txn, id).await;
    }
    let (ret, order) = return_for_step(&*txn, principal, return_id).await?;
    if let Some(refusal) = closed(&ret) {
        return Err(refusal);
    }
    if ret.received_at.is_some() {
        return Err(not_modifiable("this return was already received"));
    }
    if refund_issued(&ret) {
        return Err(not_modifiable("this return was already refunded"));
    }
    let now = clock::now();
    let mut active: return_::ActiveModel = ret.into();
    active.status = Set(status.as_str().to_owned());
    active.closing_reason = Set(reason.clone());
    active.updated_at = Set(now);
    let ret = active.update(&*txn).await?;
    bump_version(&*txn, &order).await?;
    return_event(
        &*txn,
        principal,
        kind,
        &ret,
        &order,
        reason.as_deref(),
        serde_json::json!({}),
    )
    .await?;
    if let Claim::First(key) = claim {
        idempotency::complete(&*txn, key, &ret.id).await?;
    }
    txn.commit().await?;
    Ok(ret)
}

/// Who may read returns at all: customers (their own), agents and services.
fn may_read_returns(principal: &Principal) -> bool {
    matches!(
        principal.role(),
        Some(Role::Customer | Role::Agent | Role::Service | Role::Admin)
    )
}

/// Whether the viewer may read this return: as they may read its order.
pub fn may_read(principal: &Principal, ret: &return_::Model) -> bool {
    match principal {
        Principal::Customer(id) => id.0 == ret.customer_id,
        _ => may_read_returns(principal),
    }
}

/// Who may ask for returns: anyone signed in (what they see is `may_read`'s). A root field given
/// an ID of another type checks this too, so the ID reads exactly like a missing return.
pub fn require_return_reader(principal: &Principal) -> ServiceResult<()> {
    if principal.role().is_none() {
        return Err(ServiceError::Unauthenticated);
    }
    Ok(())
}

/// `return(id)`: null when missing or not the caller's.
pub async fn get_return(
    store: &Store,
    principal: &Principal,
    id: ReturnId,
) -> ServiceResult<Option<return_::Model>> {
    require_return_reader(principal)?;
    let row = return_::Entity::find_by_id(id.0).one(&store.db).await?;
    Ok(row.filter(|r| may_read(principal, r)))
}

/// `returnByRma`: what a till looks up when the customer brings the goods.
pub async fn return_by_rma(
    store: &Store,
    principal: &Principal,
    rma_number: &str,
) -> ServiceResult<Option<return_::Model>> {
    require_return_reader(principal)?;
    let row = return_::Entity::find()
        .filter(return_::Column::RmaNumber.eq(rma_number.trim().to_uppercase()))
        .one(&store.db)
        .await?;
    Ok(row.filter(|r| may_read(principal, r)))
}

/// `Customer.returns`, newest first.
pub async fn returns_of_customer(
    store: &Store,
    principal: &Principal,
    customer: CustomerId,
    page: PageRequest,
) -> ServiceResult<Page<return_::Model>> {
    if !crate::customers::may_read(principal, customer) || !may_read_returns(principal) {
        return Ok(Page {
            items: vec![],
            has_next: false,
            has_previous: false,
            total: 0,
        });
    }
    let query = return_::Entity::find().filter(return_::Column::CustomerId.eq(customer.0));
    let total = query.clone().count(&store.db).await?;
    let mut query = query;
    if let Some(before) = page.before_key {
        query = query.filter(return_::Column::Id.lt(before));
    }
    let rows = query
        .order_by_desc(return_::Column::Id)
        .limit(page.size + 1)
        .all(&store.db)
        .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.id, r)).collect(),
        page,
        total,
    ))
}

pub async fn returns_by_order(
    store: &Store,
    order_ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<return_::Model>>> {
    let rows = return_::Entity::find()
        .filter(return_::Column::OrderId.is_in(order_ids.iter().copied()))
        .order_by_asc(return_::Column::Id)
        .all(&store.db)
        .await?;
    Ok(crate::db::group_by(rows, |r| r.order_id))
}

pub async fn returns_by_id(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, return_::Model>> {
    let rows = return_::Entity::find()
        .filter(return_::Column::Id.is_in(ids.iter().copied()))
        .all(&store.db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

pub async fn lines_by_return(
    store: &Store,
    return_ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<return_line::Model>>> {
    let rows = return_line::Entity::find()
        .filter(return_line::Column::ReturnId.is_in(return_ids.iter().copied()))
        .order_by_asc(return_line::Column::Id)
        .all(&store.db)
        .await?;
    Ok(crate::db::group_by(rows, |l| l.return_id))
}

/// A CARRIER return's label, by the unguessable token in its link: the return, its order and
/// where the parcel goes.
pub async fn label(
    store: &Store,
    token: &str,
) -> ServiceResult<Option<(return_::Model, order::Model, Option<location::Model>)>> {
    if token.is_empty() || token.len() > 64 {
        return Ok(None);
    }
    let Some(ret) = return_::Entity::find()
        .filter(return_::Column::LabelToken.eq(token))
        .one(&store.db)
        .await?
    else {
        return Ok(None);
    };
    let order = order::Entity::find_by_id(ret.order_id)
        .one(&store.db)
        .await?;
    let location = match ret.return_location_id {
        Some(id) => location::Entity::find_by_id(id).one(&store.db).await?,
        None => None,
    };
    Ok(order.map(|o| (ret, o, location)))
}
