//! Shipment commands and reads. WMS, stores and carriers reach the same rules here.
use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationDef, Set,
};

use super::model::*;
use crate::auth::{Principal, Role, Scope};
use crate::clock;
use crate::db::Store;
use crate::db::entities::{
    location, order, order_line, shipment, shipment_line, stock_level, substitution, tracking_event,
};
use crate::error::{Refusal, RefusalCode, ServiceError, ServiceResult};
use crate::events::{self, EventKind, NewEvent};
use crate::orders::{self, OrderStatus};
use crate::paging::{Page, PageRequest};

/// A shipment to create at placement (or when a short pick is re-routed).
pub struct NewShipment {
    pub location_id: i64,
    /// (order line id, quantity)
    pub lines: Vec<(i64, i32)>,
    pub status: ShipmentStatus,
    pub estimated_delivery_date: Option<NaiveDate>,
    pub dispatch_by: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

pub async fn create_shipment(
    conn: &impl ConnectionTrait,
    order: &order::Model,
    new: NewShipment,
) -> ServiceResult<shipment::Model> {
    let now = clock::now();
    let row = shipment::ActiveModel {
        order_id: Set(order.id),
        location_id: Set(new.location_id),
        status: Set(new.status.as_str().to_owned()),
        estimated_delivery_date: Set(new.estimated_delivery_date),
        promised_date: Set(order.promised_date),
        dispatch_by: Set(new.dispatch_by),
        is_delayed: Set(false),
        dispatched_at: Set(new.delivered_at),
        delivered_at: Set(new.delivered_at),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    shipment_line::Entity::insert_many(new.lines.into_iter().map(|(line_id, quantity)| {
        shipment_line::ActiveModel {
            shipment_id: Set(row.id),
            order_line_id: Set(line_id),
            quantity: Set(quantity),
            ..Default::default()
        }
    }))
    .exec_without_returning(conn)
    .await?;
    Ok(row)
}

// ---------------------------------------------------------------- reads

/// Who may read shipments and substitutions at all. A root field given an ID of another type
/// checks this too, so the ID reads exactly like a missing one.
pub fn require_fulfilment_reader(principal: &Principal) -> ServiceResult<()> {
    principal.require(&[Role::Customer, Role::Agent, Role::Service])?;
    Ok(())
}

/// `shipment(id)`: null when missing or not the caller's.
pub async fn get_shipment(
    store: &Store,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<shipment::Model>> {
    require_fulfilment_reader(principal)?;
    let Some(row) = shipment::Entity::find_by_id(id).one(&store.db).await? else {
        return Ok(None);
    };
    Ok(orders::may_read_order_of(store, principal, row.order_id)
        .await?
        .then_some(row))
}

pub async fn shipments_by_order(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<shipment::Model>>> {
    let rows = shipment::Entity::find()
        .filter(shipment::Column::OrderId.is_in(ids.iter().copied()))
        .order_by_asc(shipment::Column::Id)
        .all(&store.db)
        .await?;
    Ok(crate::db::group_by(rows, |r| r.order_id))
}

/// The shipments of orders, by order, and the lines of each of them, by shipment (a shipment
/// without lines has an empty list): one statement.
pub async fn shipments_with_lines_by_order(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<(
    HashMap<i64, Vec<shipment::Model>>,
    HashMap<i64, Vec<shipment_line::Model>>,
)> {
    let belongs: RelationDef = shipment_line::Entity::belongs_to(shipment::Entity)
        .from(shipment_line::Column::ShipmentId)
        .to(shipment::Column::Id)
        .into();
    let rows = shipment::Entity::find()
        .filter(shipment::Column::OrderId.is_in(ids.iter().copied()))
        .join(JoinType::LeftJoin, belongs.rev())
        .select_also(shipment_line::Entity)
        .order_by_asc(shipment::Column::Id)
        .order_by_asc(shipment_line::Column::Id)
        .all(&store.db)
        .await?;
    let mut shipments: Vec<shipment::Model> = Vec::new();
    let mut lines: HashMap<i64, Vec<shipment_line::Model>> = HashMap::new();
    for (shipment, line) in rows {
        let held = lines.entry(shipment.id).or_default();
        held.extend(line);
        if shipments.last().is_none_or(|s| s.id != shipment.id) {
            shipments.push(shipment);
        }
    }
    Ok((crate::db::group_by(shipments, |r| r.order_id), lines))
}

pub async fn shipments_by_id(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, shipment::Model>> {
    let rows = shipment::Entity::find()
        .filter(shipment::Column::Id.is_in(ids.iter().copied()))
        .all(&store.db)
        .await?;
    Ok(rows.into_iter().map(|s| (s.id, s)).collect())
}

pub async fn lines_by_shipment(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<shipment_line::Model>>> {
    let rows = shipment_line::Entity::find()
        .filter(shipment_line::Column::ShipmentId.is_in(ids.iter().copied()))
        .order_by_asc(shipment_line::Column::Id)
        .all(&store.db)
        .await?;
    Ok(crate::db::group_by(rows, |r| r.shipment_id))
}

pub async fn tracking_by_shipment(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<tracking_event::Model>>> {
    let rows = tracking_event::Entity::find()
        .filter(tracking_event::Column::ShipmentId.is_in(ids.iter().copied()))
        .order_by_asc(tracking_event::Column::OccurredAt)
        .order_by_asc(tracking_event::Column::Id)
        .all(&store.db)
        .await?;
    Ok(crate::db::group_by(rows, |r| r.shipment_id))
}

/// Filters of the `shipments` work queue.
#[derive(Clone, Debug, Default)]
pub struct ShipmentFilter {
    pub location_code: Option<String>,
    pub statuses: Option<Vec<ShipmentStatus>>,
    pub is_delayed: Option<bool>,
}

/// `shipments(...)`: the work queue of a location, delayed shipments, and so on.
pub async fn shipment_queue(
    store: &Store,
    principal: &Principal,
    filter: ShipmentFilter,
    page: PageRequest,
) -> ServiceResult<Page<shipment::Model>> {
    principal.require(&[Role::Agent, Role::Service])?;
    let mut condition = Condition::all();
    if let Some(code) = &filter.location_code {
        let Some(loc) = location::Entity::find()
            .filter(location::Column::Code.eq(code))
            .one(&store.db)
            .await?
        else {
            return Ok(Page {
                items: vec![],
                has_next: false,
                has_previous: false,
                total: 0,
            });
        };
        condition = condition.add(shipment::Column::LocationId.eq(loc.id));
    }
    if let Some(statuses) = &filter.statuses {
        condition =
            condition.add(shipment::Column::Status.is_in(statuses.iter().map(|s| s.as_str())));
    }
    if let Some(delayed) = filter.is_delayed {
        condition = condition.add(shipment::Column::IsDelayed.eq(delayed));
    }
    let total = shipment::Entity::find()
        .filter(condition.clone())
        .count(&store.db)
        .await?;
    let mut query = shipment::Entity::find().filter(condition);
    if let Some(before) = page.before_key {
        query = query.filter(shipment::Column::Id.lt(before));
    }
    let rows = query
        .order_by_desc(shipment::Column::Id)
        .limit(page.size + 1)
        .all(&store.db)
        .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|s| (s.id, s)).collect(),
        page,
        total,
    ))
}

// ---------------------------------------------------------------- commands

/// `updateShipmentStatus`, parsed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StatusUpdate {
    pub shipment_id: i64,
    pub status: ShipmentStatus,
    /// On DISPATCHED after a short pick: (order line id, quantity dispatched).
    pub lines: Option<Vec<(i64, i32)>>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub estimated_delivery_date: Option<NaiveDate>,
}

fn status_of(row: &shipment::Model) -> ShipmentStatus {
    ShipmentStatus::parse(&row.status).unwrap_or(ShipmentStatus::Pending)
}

fn invalid_move(from: ShipmentStatus, to: ShipmentStatus) -> ServiceError {
    Refusal::invalid(
        &["status"],
        format!(
            "a shipment cannot move from {} to {}",
            from.as_str(),
            to.as_str()
        ),
    )
    .into()
}

async fn load_for_update(
    conn: &impl ConnectionTrait,
    id: i64,
) -> ServiceResult<(shipment::Model, order::Model)> {
    let shipment = shipment::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| {
            ServiceError::from(Refusal::not_found(&["shipmentId"], "no such shipment"))
        })?;
    let order = order::Entity::find_by_id(shipment.order_id)
        .one(conn)
        .await?
        .ok_or_else(|| ServiceError::Internal("shipment without order".into()))?;
    Ok((shipment, order))
}

async fn shipment_lines(
    conn: &impl ConnectionTrait,
    shipment_id: i64,
) -> ServiceResult<Vec<shipment_line::Model>> {
    Ok(shipment_line::Entity::find()
        .filter(shipment_line::Column::ShipmentId.eq(shipment_id))
        .order_by_asc(shipment_line::Column::Id)
        .all(conn)
        .await?)
}

async fn line_sku(conn: &impl ConnectionTrait, line_id: i64) -> ServiceResult<order_line::Model> {
    order_line::Entity::find_by_id(line_id)
        .one(conn)
        .await?
        .ok_or_else(|| ServiceError::Internal("shipment line without order line".into()))
}

/// Moves stock for goods picked for `order` leaving a location: the reservation is used up and
/// onHand falls, never below zero. Units the records did not hold (a till sold them meanwhile)
/// go on the order's timeline as a stock discrepancy for the store to recount, as a carry-out
/// sale's do.
async fn take_picked(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    order: &order::Model,
    location_id: i64,
    sku: &str,
    quantity: i32,
) -> ServiceResult<()> {
    let (row, shortfall) =
        crate::inventory::take_reserved(conn, location_id, sku, quantity).await?;
    if shortfall > 0 {
        let sale = (order.customer_id, order.id);
        crate::inventory::record_discrepancy(conn, principal, &row, shortfall, sale, &order.number)
            .await?;
    }
    Ok(())
}

/// Gives a reservation back.
pub async fn release(
    conn: &impl ConnectionTrait,
    location_id: i64,
    sku: &str,
    quantity: i32,
) -> ServiceResult<()> {
    stock_level::Entity::update_many()
        .col_expr(
            stock_level::Column::Reserved,
            Expr::col(stock_level::Column::Reserved).sub(quantity),
        )
        .col_expr(stock_level::Column::UpdatedAt, Expr::value(clock::now()))
        .filter(stock_level::Column::LocationId.eq(location_id))
        .filter(stock_level::Column::Sku.eq(sku))
        .filter(stock_level::Column::Reserved.gte(quantity))
        .exec(conn)
        .await?;
    Ok(())
}

async fn add_to_line(
    conn: &impl ConnectionTrait,
    line_id: i64,
    column: order_line::Column,
    quantity: i32,
) -> ServiceResult<()> {
    order_line::Entity::update_many()
        .col_expr(column, Expr::col(column).add(quantity))
        .filter(order_line::Column::Id.eq(line_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Writes a SHIPMENT_UPDATED (or another shipment kind) event.
#[allow(clippy::too_many_arguments)]
async fn shipment_event(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    kind: EventKind,
    order: &order::Model,
    shipment: &shipment::Model,
    occurred_at: DateTime<Utc>,
    reason: Option<&str>,
    mut payload: serde_json::Value,
) -> ServiceResult<()> {
    if let Some(map) = payload.as_object_mut() {
        map.insert("status".into(), shipment.status.clone().into());
        map.insert("orderNumber".into(), order.number.clone().into());
        if let Some(carrier) = &shipment.carrier {
            map.insert("carrier".into(), carrier.clone().into());
        }
        if let Some(tracking) = &shipment.tracking_number {
            map.insert("trackingNumber".into(), tracking.clone().into());
        }
    }
    let mut event = NewEvent::new(kind, principal);
    event.occurred_at = occurred_at;
    event.channel = Some(&order.channel);
    event.customer_id = Some(order.customer_id);
    event.order_id = Some(order.id);
    event.shipment_id = Some(shipment.id);
    event.location_id = Some(shipment.location_id);
    event.reason = reason;
    event.payload = payload;
    events::append(conn, event).await?;
    Ok(())
}

/// Derives the order's status and subtotal from its lines and shipments, and moves its version
/// on when they change, unless the command already did (`version_taken`).
pub async fn refresh_order(
    conn: &impl ConnectionTrait,
    order_id: i64,
    version_taken: bool,
) -> ServiceResult<order::Model> {
    let order = order::Entity::find_by_id(order_id)
        .one(conn)
        .await?
        .ok_or_else(|| ServiceError::Internal("order vanished".into()))?;
    let lines = order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(order_id))
        .all(conn)
        .await?;
    let shipments = shipment::Entity::find()
        .filter(shipment::Column::OrderId.eq(order_id))
        .all(conn)
        .await?;
    let status = derive_status(&lines, &shipments.iter().map(status_of).collect::<Vec<_>>());
    let subtotal: i64 = lines
        .iter()
        .map(|l| l.unit_price_minor * i64::from(l.quantity - l.quantity_cancelled))
        .sum();
    if status.as_str() == order.status && subtotal == order.subtotal_minor {
        return Ok(order);
    }
    let mut active: order::ActiveModel = order.clone().into();
    active.status = Set(status.as_str().to_owned());
    active.subtotal_minor = Set(subtotal);
    if !version_taken {
        active.version = Set(order.version + 1);
    }
    active.updated_at = Set(clock::now());
    Ok(active.update(conn).await?)
}

/// The order status that its lines and shipments add up to.
pub fn derive_status(lines: &[order_line::Model], shipments: &[ShipmentStatus]) -> OrderStatus {
    let ordered: i32 = lines
        .iter()
        .map(|l| l.quantity - l.quantity_cancelled)
        .sum();
    if ordered <= 0 {
        return OrderStatus::Cancelled;
    }
    let live: Vec<ShipmentStatus> = shipments
        .iter()
        .copied()
        .filter(|s| *s != ShipmentStatus::Cancelled)
        .collect();
    if live.is_empty() {
        return if shipments.is_empty() {
            OrderStatus::Placed
        } else {
            OrderStatus::Cancelled
        };
    }
    let delivered = live
        .iter()
        .filter(|s| matches!(s, ShipmentStatus::Delivered | ShipmentStatus::Collected))
        .count();
    let ready = live
        .iter()
        .filter(|s| **s == ShipmentStatus::ReadyForCollection)
        .count();
    let left = live.iter().filter(|s| !s.is_unshipped()).count();
    let picking = live.contains(&ShipmentStatus::Picking);
    if delivered == live.len() {
        OrderStatus::Delivered
    } else if delivered > 0 {
        OrderStatus::PartiallyDelivered
    } else if ready > 0 && ready + delivered == live.len() {
        OrderStatus::ReadyForCollection
    } else if left == live.len() {
        OrderStatus::Dispatched
    } else if left > 0 {
        OrderStatus::PartiallyDispatched
    } else if picking {
        OrderStatus::Processing
    } else {
        OrderStatus::Placed
    }
}

fn check_label(value: &Option<String>, field: &str) -> Result<(), Refusal> {
    match value {
        Some(v) if v.trim().is_empty() || v.len() > 200 || v.chars().any(char::is_control) => Err(
            Refusal::invalid(&[field], format!("{field} must be 1 to 200 characters")),
        ),
        _ => Ok(()),
    }
}

/// `updateShipmentStatus`: the WMS or a store moves a shipment on.
#[tracing::instrument(skip_all, fields(shipment = input.shipment_id, status = input.status.as_str()))]
pub async fn update_shipment_status(
    store: &Store,
    principal: &Principal,
    input: StatusUpdate,
    idempotency_key: Option<&str>,
) -> ServiceResult<shipment::Model> {
    principal.require_with_scope(&[Role::Service], Scope::Fulfilment)?;
    use ShipmentStatus::*;
    if !matches!(
        input.status,
        Picking | Dispatched | Cancelled | ReadyForCollection | Collected
    ) {
        return Err(Refusal::invalid(
            &["status"],
            format!(
                "{} comes from the carrier: use recordTrackingEvent",
                input.status.as_str()
            ),
        )
        .into());
    }
    check_label(&input.carrier, "carrier")?;
    check_label(&input.tracking_number, "trackingNumber")?;
    if let Some(url) = &input.tracking_url {
        crate::catalog::check_http_url(url, "trackingUrl", 500)?;
    }
    if input.lines.is_some() && input.status != Dispatched {
        return Err(Refusal::invalid(
            &["lines"],
            "lines are given only with DISPATCHED, after a short pick",
        )
        .into());
    }
    let txn = store.begin_write().await?;
    let claim = crate::idempotency::claim::<i64>(
        &*txn,
        principal,
        "updateShipmentStatus",
        idempotency_key,
        &input,
    )
    .await?;
    if let crate::idempotency::Claim::Replay(id) = claim {
        return shipment::Entity::find_by_id(id)
            .one(&*txn)
            .await?
            .ok_or_else(|| ServiceError::Internal("an idempotent shipment vanished".into()));
    }
    let (shipment, order) = load_for_update(&*txn, input.shipment_id).await?;
    let from = status_of(&shipment);
    if from == input.status || !from.may_become(input.status) {
        return Err(invalid_move(from, input.status));
    }
    if input.status == ReadyForCollection && order.collection_location_id.is_none() {
        return Err(
            Refusal::invalid(&["status"], "only click-and-collect orders are collected").into(),
        );
    }
    if input.status == Collected && order.collection_location_id.is_none() {
        return Err(
            Refusal::invalid(&["status"], "only click-and-collect orders are collected").into(),
        );
    }
    let now = clock::now();
    let lines = shipment_lines(&*txn, shipment.id).await?;
    let mut active: shipment::ActiveModel = shipment.clone().into();
    active.status = Set(input.status.as_str().to_owned());
    active.updated_at = Set(now);
    let mut payload = serde_json::json!({});
    match input.status {
        Dispatched => {
            if shipment.carrier.is_none()
                && input.carrier.is_none()
                && order.collection_location_id.is_none()
            {
                return Err(Refusal::invalid(&["carrier"], "a dispatch names its carrier").into());
            }
            let dispatched = dispatched_quantities(&lines, input.lines.as_deref())?;
            for (line, quantity) in &dispatched {
                let order_line = line_sku(&*txn, line.order_line_id).await?;
                if *quantity > 0 {
                    take_picked(
                        &*txn,
                        principal,
                        &order,
                        shipment.location_id,
                        &order_line.sku,
                        *quantity,
                    )
                    .await?;
                    add_to_line(
                        &*txn,
                        order_line.id,
                        order_line::Column::QuantityDispatched,
                        *quantity,
                    )
                    .await?;
                }
                let short = line.quantity - quantity;
                if short > 0 {
                    shipment_line::Entity::update_many()
                        .col_expr(shipment_line::Column::Quantity, Expr::value(*quantity))
                        .filter(shipment_line::Column::Id.eq(line.id))
                        .exec(&*txn)
                        .await?;
                    release(&*txn, shipment.location_id, &order_line.sku, short).await?;
                    reroute_short_pick(
                        &*txn,
                        principal,
                        &order,
                        shipment.location_id,
                        &order_line,
                        short,
                    )
                    .await?;
                }
            }
            if input.carrier.is_some() {
                active.carrier = Set(input.carrier.clone());
            }
            if input.tracking_number.is_some() {
                active.tracking_number = Set(input.tracking_number.clone());
            }
            if input.tracking_url.is_some() {
                active.tracking_url = Set(input.tracking_url.clone());
            }
            if input.estimated_delivery_date.is_some() {
                active.estimated_delivery_date = Set(input.estimated_delivery_date);
            }
            active.dispatched_at = Set(Some(now));
            if dispatched.iter().all(|(_, q)| *q == 0) {
                active.status = Set(Cancelled.as_str().to_owned());
            }
        }
        Cancelled => {
            for line in &lines {
                let order_line = line_sku(&*txn, line.order_line_id).await?;
                release(&*txn, shipment.location_id, &order_line.sku, line.quantity).await?;
                add_to_line(
                    &*txn,
                    order_line.id,
                    order_line::Column::QuantityCancelled,
                    line.quantity,
                )
                .await?;
            }
        }
        Collected => {
            for line in &lines {
                add_to_line(
                    &*txn,
                    line.order_line_id,
                    order_line::Column::QuantityDelivered,
                    line.quantity,
                )
                .await?;
            }
            active.delivered_at = Set(Some(now));
        }
        ReadyForCollection => {
            if from.is_unshipped() {
                // Picked from the collection store's own shelves: the goods leave stock now.
                for line in &lines {
                    let order_line = line_sku(&*txn, line.order_line_id).await?;
                    take_picked(
                        &*txn,
                        principal,
                        &order,
                        shipment.location_id,
                        &order_line.sku,
                        line.quantity,
                    )
                    .await?;
                    add_to_line(
                        &*txn,
                        order_line.id,
                        order_line::Column::QuantityDispatched,
                        line.quantity,
                    )
                    .await?;
                }
            }
            payload["collectionStoreId"] = order.collection_location_id.into();
        }
        _ => {}
    }
    if let (Some(carrier), Some(number)) = (&input.carrier, &input.tracking_number) {
        let taken = shipment::Entity::find()
            .filter(shipment::Column::Carrier.eq(carrier))
            .filter(shipment::Column::TrackingNumber.eq(number))
            .filter(shipment::Column::Id.ne(shipment.id))
            .count(&*txn)
            .await?;
        if taken > 0 {
            return Err(Refusal::new(
                RefusalCode::Duplicate,
                &["trackingNumber"],
                "this tracking number is on another shipment",
            )
            .into());
        }
    }
    let updated = active.update(&*txn).await?;
    refresh_order(&*txn, order.id, false).await?;
    shipment_event(
        &*txn,
        principal,
        EventKind::ShipmentUpdated,
        &order,
        &updated,
        now,
        None,
        payload,
    )
    .await?;
    if let crate::idempotency::Claim::First(key) = claim {
        crate::idempotency::complete(&*txn, key, &updated.id).await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// What a dispatch sends of each shipment line: everything, or the short-picked quantities.
fn dispatched_quantities<'a>(
    lines: &'a [shipment_line::Model],
    given: Option<&[(i64, i32)]>,
) -> ServiceResult<Vec<(&'a shipment_line::Model, i32)>> {
    let Some(given) = given else {
        return Ok(lines.iter().map(|l| (l, l.quantity)).collect());
    };
    for (i, (line_id, quantity)) in given.iter().enumerate() {
        let index = i.to_string();
        let Some(line) = lines.iter().find(|l| l.order_line_id == *line_id) else {
            return Err(Refusal::invalid(
                &["lines", &index, "lineId"],
                "this line is not in the shipment",
            )
            .into());
        };
        if *quantity < 0 || *quantity > line.quantity {
            return Err(Refusal::invalid(
                &["lines", &index, "quantity"],
                format!(
                    "between 0 and the {} units the shipment holds",
                    line.quantity
                ),
            )
            .into());
        }
    }
    Ok(lines
        .iter()
        .map(|l| {
            (
                l,
                given
                    .iter()
                    .find(|(id, _)| *id == l.order_line_id)
                    .map(|(_, q)| *q)
                    .unwrap_or(0),
            )
        })
        .collect())
}

/// The rest of a short pick goes to another location that can fill it, or is cancelled.
async fn reroute_short_pick(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    order: &order::Model,
    short_location: i64,
    line: &order_line::Model,
    short: i32,
) -> ServiceResult<()> {
    let candidates = stock_level::Entity::find()
        .filter(stock_level::Column::Sku.eq(&line.sku))
        .filter(stock_level::Column::LocationId.ne(short_location))
        .filter(
            Expr::col(stock_level::Column::OnHand)
                .sub(Expr::col(stock_level::Column::Reserved))
                .gte(short),
        )
        .all(conn)
        .await?;
    let ids: Vec<i64> = candidates.iter().map(|c| c.location_id).collect();
    let locations = location::Entity::find()
        .filter(location::Column::Id.is_in(ids))
        .all(conn)
        .await?;
    let destination = orders::address(order).and_then(|a| a.location);
    let nearest = locations.iter().min_by(|a, b| {
        let d = |l: &location::Model| {
            destination
                .map(|p| {
                    p.distance_km(&crate::catalog::GeoPoint {
                        latitude: l.latitude,
                        longitude: l.longitude,
                    })
                })
                .unwrap_or(0.0)
        };
        d(a).total_cmp(&d(b))
    });
    if let Some(target) = nearest
        && crate::inventory::try_reserve(conn, target.id, &line.sku, short).await?
    {
        let new = NewShipment {
            location_id: target.id,
            lines: vec![(line.id, short)],
            status: ShipmentStatus::Pending,
            estimated_delivery_date: None,
            dispatch_by: None,
            delivered_at: None,
        };
        let created = create_shipment(conn, order, new).await?;
        let payload =
            serde_json::json!({ "rerouted": short, "sku": line.sku, "from": short_location });
        shipment_event(
            conn,
            principal,
            EventKind::ShipmentUpdated,
            order,
            &created,
            clock::now(),
            None,
            payload,
        )
        .await?;
        return Ok(());
    }
    add_to_line(conn, line.id, order_line::Column::QuantityCancelled, short).await?;
    let mut event = NewEvent::new(EventKind::LinesCancelled, principal);
    event.channel = Some(&order.channel);
    event.customer_id = Some(order.customer_id);
    event.order_id = Some(order.id);
    event.payload = serde_json::json!({
        "orderNumber": order.number,
        "reasonCode": "OUT_OF_STOCK_AT_PICK",
        "lines": [{ "sku": line.sku, "quantity": short }],
    });
    events::append(conn, event).await?;
    Ok(())
}

/// `recordTrackingEvent`, parsed.
#[derive(Clone, Debug)]
pub struct TrackingUpdate {
    pub carrier: String,
    pub tracking_number: String,
    pub status: ShipmentStatus,
    pub occurred_at: DateTime<Utc>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub estimated_delivery_date: Option<NaiveDate>,
    pub event_id: Option<String>,
}

/// `recordTrackingEvent`: carriers report by carrier and tracking number, late and out of order.
#[tracing::instrument(skip_all, fields(carrier = %input.carrier, status = input.status.as_str()))]
pub async fn record_tracking_event(
    store: &Store,
    principal: &Principal,
    input: TrackingUpdate,
) -> ServiceResult<shipment::Model> {
    principal.require_with_scope(&[Role::Service], Scope::Tracking)?;
    use ShipmentStatus::*;
    if !matches!(
        input.status,
        InTransit | OutForDelivery | Delivered | Exception
    ) {
        return Err(Refusal::invalid(
            &["status"],
            "a carrier reports IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED or EXCEPTION",
        )
        .into());
    }
    if input.occurred_at > clock::now() + chrono::Duration::minutes(10) {
        return Err(Refusal::invalid(&["occurredAt"], "occurredAt is in the future").into());
    }
    let txn = store.begin_write().await?;
    let shipment = shipment::Entity::find()
        .filter(shipment::Column::Carrier.eq(&input.carrier))
        .filter(shipment::Column::TrackingNumber.eq(&input.tracking_number))
        .one(&*txn)
        .await?
        .ok_or_else(|| {
            ServiceError::from(Refusal::not_found(
                &["trackingNumber"],
                format!(
                    "no shipment with {} tracking number {}",
                    input.carrier, input.tracking_number
                ),
            ))
        })?;
    if let Some(event_id) = &input.event_id {
        let seen = tracking_event::Entity::find()
            .filter(tracking_event::Column::ShipmentId.eq(shipment.id))
            .filter(tracking_event::Column::CarrierEventId.eq(event_id))
            .count(&*txn)
            .await?;
        if seen > 0 {
            return Ok(shipment);
        }
    }
    let order = order::Entity::find_by_id(shipment.order_id)
        .one(&*txn)
        .await?
        .ok_or_else(|| ServiceError::Internal("shipment without order".into()))?;
    tracking_event::ActiveModel {
        shipment_id: Set(shipment.id),
        status: Set(input.status.as_str().to_owned()),
        description: Set(input.description.clone()),
        occurred_at: Set(input.occurred_at),
        location: Set(input.location.clone()),
        estimated_delivery_date: Set(input.estimated_delivery_date),
        carrier_event_id: Set(input.event_id.clone()),
        recorded_at: Set(clock::now()),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    let from = status_of(&shipment);
    // An event older than the newest one is history: it changes nothing.
    let newest = shipment
        .last_event_at
        .is_none_or(|last| input.occurred_at >= last);
    let moves = newest && !from.is_final() && from.may_become(input.status);
    let mut active: shipment::ActiveModel = shipment.clone().into();
    let mut changed = false;
    if moves {
        active.status = Set(input.status.as_str().to_owned());
        active.last_event_at = Set(Some(input.occurred_at));
        changed = true;
        if input.status == Delivered {
            active.delivered_at = Set(Some(input.occurred_at));
            for line in shipment_lines(&*txn, shipment.id).await? {
                add_to_line(
                    &*txn,
                    line.order_line_id,
                    order_line::Column::QuantityDelivered,
                    line.quantity,
                )
                .await?;
            }
        }
    }
    let mut became_delayed = false;
    if newest
        && !from.is_final()
        && let Some(estimate) = input.estimated_delivery_date
    {
        active.estimated_delivery_date = Set(Some(estimate));
        let late = shipment.promised_date.is_some_and(|p| estimate > p);
        became_delayed = late && !shipment.is_delayed;
        active.is_delayed = Set(late || (shipment.is_delayed && shipment.dispatched_at.is_none()));
        changed = true;
    }
    let updated = if changed {
        active.update(&*txn).await?
    } else {
        shipment.clone()
    };
    if moves {
        refresh_order(&*txn, order.id, false).await?;
    }
    let payload = serde_json::json!({
        "tracking": input.status.as_str(),
        "description": input.description,
        "location": input.location,
        "history": !moves,
    });
    shipment_event(
        &*txn,
        principal,
        EventKind::ShipmentUpdated,
        &order,
        &updated,
        input.occurred_at,
        None,
        payload,
    )
    .await?;
    if became_delayed {
        let payload = serde_json::json!({
            "estimatedDeliveryDate": updated.estimated_delivery_date.map(|d| d.to_string()),
            "promisedDate": updated.promised_date.map(|d| d.to_string()),
            "cause": "carrier estimate",
        });
        shipment_event(
            &*txn,
            principal,
            EventKind::ShipmentDelayed,
            &order,
            &updated,
            clock::now(),
            None,
            payload,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// `markReadyForCollection`.
pub async fn mark_ready_for_collection(
    store: &Store,
    principal: &Principal,
    shipment_id: i64,
    idempotency_key: Option<&str>,
) -> ServiceResult<shipment::Model> {
    let input = StatusUpdate {
        shipment_id,
        status: ShipmentStatus::ReadyForCollection,
        lines: None,
        carrier: None,
        tracking_number: None,
        tracking_url: None,
        estimated_delivery_date: None,
    };
    update_shipment_status(store, principal, input, idempotency_key).await
}

/// Marks shipments that missed their dispatch deadline as delayed, once each.
pub async fn flag_missed_dispatch_deadlines(store: &Store) -> ServiceResult<usize> {
    let system = Principal::System;
    let overdue = shipment::Entity::find()
        .filter(shipment::Column::Status.is_in([
            ShipmentStatus::Pending.as_str(),
            ShipmentStatus::Picking.as_str(),
        ]))
        .filter(shipment::Column::IsDelayed.eq(false))
        .filter(shipment::Column::DispatchBy.lt(clock::now()))
        .limit(500)
        .all(&store.db)
        .await?;
    let mut flagged = 0;
    for candidate in overdue {
        let txn = store.begin_write().await?;
        let flipped = shipment::Entity::update_many()
            .col_expr(shipment::Column::IsDelayed, Expr::value(true))
            .col_expr(shipment::Column::UpdatedAt, Expr::value(clock::now()))
            .filter(shipment::Column::Id.eq(candidate.id))
            .filter(shipment::Column::IsDelayed.eq(false))
            .exec(&*txn)
            .await?;
        if flipped.rows_affected == 0 {
            continue;
        }
        let (shipment, order) = load_for_update(&*txn, candidate.id).await?;
        let payload = serde_json::json!({
            "dispatchBy": shipment.dispatch_by.map(|d| d.to_rfc3339()),
            "promisedDate": shipment.promised_date.map(|d| d.to_string()),
            "cause": "dispatch deadline missed",
        });
        shipment_event(
            &*txn,
            &system,
            EventKind::ShipmentDelayed,
            &order,
            &shipment,
            clock::now(),
            None,
            payload,
        )
        .await?;
        txn.commit().await?;
        flagged += 1;
    }
    Ok(flagged)
}

/// Runs the time-driven rules on a schedule.
pub fn spawn_deadline_watch(store: Store, every: std::time::Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = flag_missed_dispatch_deadlines(&store).await {
                tracing::warn!(error = %e, "dispatch deadline check failed");
            }
        }
    });
}

// ---------------------------------------------------------------- substitutions

/// `proposeSubstitution`, parsed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Proposal {
    pub order_line_id: i64,
    pub substitute_sku: String,
    pub substitute_name: Option<String>,
    pub quantity: i32,
    /// Minor units in the order's currency, and that currency as given.
    pub unit_price: Option<(i64, String)>,
}

fn not_modifiable(field: &str, message: impl Into<String>) -> ServiceError {
    Refusal::new(RefusalCode::NotModifiable, &[field], message).into()
}

/// Unshipped shipment lines of an order line, with their shipments.
async fn open_shipment_lines(
    conn: &impl ConnectionTrait,
    order_line_id: i64,
) -> ServiceResult<(Vec<(shipment_line::Model, shipment::Model)>, bool)> {
    let rows = shipment_line::Entity::find()
        .filter(shipment_line::Column::OrderLineId.eq(order_line_id))
        .all(conn)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.shipment_id).collect();
    let shipments: HashMap<i64, shipment::Model> = shipment::Entity::find()
        .filter(shipment::Column::Id.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let mut open = Vec::new();
    let mut shipped = false;
    for row in rows {
        let Some(s) = shipments.get(&row.shipment_id) else {
            continue;
        };
        match status_of(s) {
            ShipmentStatus::Cancelled => {}
            status if status.is_unshipped() => open.push((row, s.clone())),
            _ => shipped = true,
        }
    }
    Ok((open, shipped))
}

/// `proposeSubstitution`: a store offers a replacement for a line it cannot pick.
#[tracing::instrument(skip_all, fields(line = input.order_line_id))]
pub async fn propose_substitution(
    store: &Store,
    principal: &Principal,
    input: Proposal,
    idempotency_key: Option<&str>,
) -> ServiceResult<substitution::Model> {
    principal.require_with_scope(&[Role::Service], Scope::Fulfilment)?;
    if !(1..=crate::orders::MAX_LINE_QUANTITY).contains(&input.quantity) {
        return Err(Refusal::invalid(&["quantity"], "quantity must be at least 1").into());
    }
    let txn = store.begin_write().await?;
    let claim = crate::idempotency::claim::<i64>(
        &*txn,
        principal,
        "proposeSubstitution",
        idempotency_key,
        &input,
    )
    .await?;
    if let crate::idempotency::Claim::Replay(id) = claim {
        return substitution::Entity::find_by_id(id)
            .one(&*txn)
            .await?
            .ok_or_else(|| ServiceError::Internal("an idempotent substitution vanished".into()));
    }
    let line = order_line::Entity::find_by_id(input.order_line_id)
        .one(&*txn)
        .await?
        .ok_or_else(|| {
            ServiceError::from(Refusal::not_found(&["orderLineId"], "no such order line"))
        })?;
    let order = order::Entity::find_by_id(line.order_id)
        .one(&*txn)
        .await?
        .ok_or_else(|| ServiceError::Internal("line without order".into()))?;
    let (open, shipped) = open_shipment_lines(&*txn, line.id).await?;
    if shipped
        || open.is_empty()
        || line.quantity_dispatched > 0
        || line.quantity_cancelled >= line.quantity
    {
        return Err(not_modifiable(
            "orderLineId",
            "this line has left the store or was cancelled; it cannot be substituted",
        ));
    }
    let pending = substitution::Entity::find()
        .filter(substitution::Column::OrderLineId.eq(line.id))
        .filter(substitution::Column::Status.eq(SubstitutionStatus::Proposed.as_str()))
        .count(&*txn)
        .await?;
    if pending > 0 {
        return Err(not_modifiable(
            "orderLineId",
            "a substitution for this line is waiting for the customer's answer",
        ));
    }
    let product = crate::db::entities::product::Entity::find()
        .filter(crate::db::entities::product::Column::Sku.eq(input.substitute_sku.trim()))
        .one(&*txn)
        .await?
        .ok_or_else(|| {
            ServiceError::from(Refusal::invalid(
                &["substituteSku"],
                format!("unknown sku `{}`", input.substitute_sku.trim()),
            ))
        })?;
    let unit_price = match &input.unit_price {
        Some((_, currency)) if *currency != order.currency => {
            return Err(Refusal::invalid(
                &["unitPrice", "currencyCode"],
                format!("must be in {}", order.currency),
            )
            .into());
        }
        Some((minor, _)) => *minor,
        None if product.currency.as_deref() == Some(order.currency.as_str()) => {
            product.price_minor.unwrap_or(line.unit_price_minor)
        }
        None => line.unit_price_minor,
    };
    let name = match input.substitute_name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => crate::catalog::check_text(n, "substituteName", 200)?,
        _ => product.name.clone(),
    };
    let row = substitution::ActiveModel {
        order_id: Set(order.id),
        order_line_id: Set(line.id),
        substitute_sku: Set(product.sku.clone()),
        substitute_name: Set(name),
        quantity: Set(input.quantity),
        unit_price_minor: Set(unit_price),
        status: Set(SubstitutionStatus::Proposed.as_str().to_owned()),
        proposed_at: Set(clock::now()),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    substitution_event(
        &*txn,
        principal,
        EventKind::SubstitutionProposed,
        &order,
        &line,
        &row,
        None,
        open.first().map(|(_, s)| s.id),
    )
    .await?;
    if let crate::idempotency::Claim::First(key) = claim {
        crate::idempotency::complete(&*txn, key, &row.id).await?;
    }
    txn.commit().await?;
    Ok(row)
}

#[allow(clippy::too_many_arguments)]
async fn substitution_event(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    kind: EventKind,
    order: &order::Model,
    line: &order_line::Model,
    substitution: &substitution::Model,
    reason: Option<&str>,
    shipment_id: Option<i64>,
) -> ServiceResult<()> {
    let mut event = NewEvent::new(kind, principal);
    event.channel = Some(&order.channel);
    event.customer_id = Some(order.customer_id);
    event.order_id = Some(order.id);
    event.shipment_id = shipment_id;
    event.reason = reason;
    event.payload = serde_json::json!({
        "orderNumber": order.number,
        "substitutionId": substitution.id,
        "sku": line.sku,
        "name": line.name,
        "substituteSku": substitution.substitute_sku,
        "substituteName": substitution.substitute_name,
        "quantity": substitution.quantity,
        "status": substitution.status,
    });
    events::append(conn, event).await?;
    Ok(())
}

/// `respondToSubstitution`, parsed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Answer {
    pub substitution_id: i64,
    pub accept: bool,
    pub reason: Option<String>,
    pub expected_version: Option<i32>,
}

/// `respondToSubstitution`: the customer (or an agent for them, with a reason) answers before
/// collection. Accepting swaps the line; declining cancels it.
#[tracing::instrument(skip_all, fields(substitution = input.substitution_id, accept = input.accept))]
pub async fn respond_to_substitution(
    store: &Store,
    principal: &Principal,
    input: Answer,
    idempotency_key: Option<&str>,
) -> ServiceResult<substitution::Model> {
    let role = principal.require(&[Role::Customer, Role::Agent])?;
    let reason = input
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if role != Role::Customer && reason.is_none() {
        return Err(Refusal::invalid(
            &["reason"],
            "an agent answering for the customer gives a reason",
        )
        .into());
    }
    let txn = store.begin_write().await?;
    let claim = crate::idempotency::claim::<i64>(
        &*txn,
        principal,
        "respondToSubstitution",
        idempotency_key,
        &input,
    )
    .await?;
    if let crate::idempotency::Claim::Replay(id) = claim {
        return substitution::Entity::find_by_id(id)
            .one(&*txn)
            .await?
            .ok_or_else(|| ServiceError::Internal("an idempotent substitution vanished".into()));
    }
    let missing = || {
        ServiceError::from(Refusal::not_found(
            &["substitutionId"],
            "no such substitution",
        ))
    };
    let sub = substitution::Entity::find_by_id(input.substitution_id)
        .one(&*txn)
        .await?
        .ok_or_else(missing)?;
    let order = order::Entity::find_by_id(sub.order_id)
        .one(&*txn)
        .await?
        .ok_or_else(missing)?;
    if !orders::may_read(principal, &order) {
        return Err(missing());
    }
    if sub.status != SubstitutionStatus::Proposed.as_str() {
        return Err(not_modifiable(
            "substitutionId",
            format!("this substitution was already answered ({})", sub.status),
        ));
    }
    if let Some(expected) = input.expected_version
        && expected != order.version
    {
        return Err(Refusal::new(
            RefusalCode::VersionConflict,
            &["expectedVersion"],
            format!("the order is at version {}, not {expected}", order.version),
        )
        .into());
    }
    let line = order_line::Entity::find_by_id(sub.order_line_id)
        .one(&*txn)
        .await?
        .ok_or_else(missing)?;
    let (open, shipped) = open_shipment_lines(&*txn, line.id).await?;
    if shipped || open.is_empty() {
        return Err(not_modifiable(
            "substitutionId",
            "the line has already left the store",
        ));
    }
    for (row, shipment) in &open {
        release(&*txn, shipment.location_id, &line.sku, row.quantity).await?;
    }
    let (keep, rest) = open
        .split_first()
        .map(|(k, r)| (Some(k), r))
        .unwrap_or((None, &[]));
    for (row, _) in rest {
        shipment_line::Entity::delete_by_id(row.id)
            .exec(&*txn)
            .await?;
    }
    let status = if input.accept {
        SubstitutionStatus::Accepted
    } else {
        SubstitutionStatus::Declined
    };
    if let Some((row, shipment)) = keep {
        if input.accept {
            if !crate::inventory::try_reserve(
                &*txn,
                shipment.location_id,
                &sub.substitute_sku,
                sub.quantity,
            )
            .await?
            {
                return Err(Refusal::new(
                    RefusalCode::OutOfStock,
                    &["substitutionId"],
                    "the substitute is no longer in stock at the store",
                )
                .into());
            }
            shipment_line::Entity::update_many()
                .col_expr(shipment_line::Column::Quantity, Expr::value(sub.quantity))
                .filter(shipment_line::Column::Id.eq(row.id))
                .exec(&*txn)
                .await?;
            let mut active: order_line::ActiveModel = line.clone().into();
            active.sku = Set(sub.substitute_sku.clone());
            active.name = Set(sub.substitute_name.clone());
            active.quantity = Set(sub.quantity);
            active.unit_price_minor = Set(sub.unit_price_minor);
            active.update(&*txn).await?;
        } else {
            shipment_line::Entity::delete_by_id(row.id)
                .exec(&*txn)
                .await?;
            add_to_line(
                &*txn,
                line.id,
                order_line::Column::QuantityCancelled,
                line.quantity - line.quantity_cancelled,
            )
            .await?;
        }
    }
    // A shipment left without lines has nothing to send.
    for (_, shipment) in &open {
        if shipment_lines(&*txn, shipment.id).await?.is_empty() {
            shipment::Entity::update_many()
                .col_expr(
                    shipment::Column::Status,
                    Expr::value(ShipmentStatus::Cancelled.as_str()),
                )
                .filter(shipment::Column::Id.eq(shipment.id))
                .exec(&*txn)
                .await?;
        }
    }
    let mut active: substitution::ActiveModel = sub.into();
    active.status = Set(status.as_str().to_owned());
    active.responded_at = Set(Some(clock::now()));
    let answered = active.update(&*txn).await?;
    let order = refresh_order(&*txn, order.id, false).await?;
    substitution_event(
        &*txn,
        principal,
        EventKind::SubstitutionAnswered,
        &order,
        &line,
        &answered,
        reason,
        keep.map(|(_, s)| s.id),
    )
    .await?;
    if let crate::idempotency::Claim::First(key) = claim {
        crate::idempotency::complete(&*txn, key, &answered.id).await?;
    }
    txn.commit().await?;
    Ok(answered)
}

/// `substitution(id)`: null when missing or not the caller's.
pub async fn get_substitution(
    store: &Store,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<substitution::Model>> {
    require_fulfilment_reader(principal)?;
    let Some(row) = substitution::Entity::find_by_id(id).one(&store.db).await? else {
        return Ok(None);
    };
    Ok(orders::may_read_order_of(store, principal, row.order_id)
        .await?
        .then_some(row))
}

pub async fn substitutions_by_order(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<substitution::Model>>> {
    let rows = substitution::Entity::find()
        .filter(substitution::Column::OrderId.is_in(ids.iter().copied()))
        .order_by_asc(substitution::Column::Id)
        .all(&store.db)
        .await?;
    Ok(crate::db::group_by(rows, |r| r.order_id))
}
