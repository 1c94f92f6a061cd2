//! Stock counts, movements, availability and atomic reservations.
use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::auth::{Principal, Role, Scope};
use crate::catalog::{self, GeoPoint};
use crate::clock;
use crate::db::Store;
use crate::db::entities::{location, product, stock_level, stock_movement};
use crate::error::{Refusal, RefusalCode, ServiceError, ServiceResult};
use crate::events::{self, EventKind, NewEvent};
use crate::idempotency;

/// A stock level with its location.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StockView {
    pub location_id: i64,
    pub sku: String,
    pub on_hand: i32,
    pub reserved: i32,
}

impl StockView {
    pub fn available(&self) -> i32 {
        std::cmp::max(self.on_hand - self.reserved, 0)
    }

    fn of(row: &stock_level::Model) -> StockView {
        StockView {
            location_id: row.location_id,
            sku: row.sku.clone(),
            on_hand: row.on_hand,
            reserved: row.reserved,
        }
    }
}

/// What `availability` returns for one sku.
#[derive(Clone, Debug)]
pub struct SkuAvailability {
    pub sku: String,
    pub available: i32,
    pub locations: Vec<StockView>,
}

pub struct SetStock {
    pub location_code: String,
    pub sku: String,
    pub on_hand: i32,
    pub expected_on_hand: Option<i32>,
}

#[derive(serde::Serialize)]
pub struct AdjustStock {
    pub location_code: String,
    pub sku: String,
    pub delta: i32,
    pub reason: String,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

const MAX_ON_HAND: i32 = 10_000_000;

async fn location_for(conn: &impl ConnectionTrait, code: &str) -> ServiceResult<location::Model> {
    location::Entity::find()
        .filter(location::Column::Code.eq(code))
        .one(conn)
        .await?
        .ok_or_else(|| {
            Refusal::not_found(&["locationCode"], format!("no location with code `{code}`")).into()
        })
}

/// Stock is kept only for skus in the catalogue.
async fn check_sku(conn: &impl ConnectionTrait, sku: &str) -> ServiceResult<()> {
    let known = product::Entity::find()
        .filter(product::Column::Sku.eq(sku))
        .one(conn)
        .await?
        .is_some();
    if known {
        Ok(())
    } else {
        Err(Refusal::invalid(&["sku"], format!("unknown sku `{sku}`")).into())
    }
}

async fn stock_row(
    conn: &impl ConnectionTrait,
    location_id: i64,
    sku: &str,
) -> ServiceResult<Option<stock_level::Model>> {
    Ok(stock_level::Entity::find()
        .filter(stock_level::Column::LocationId.eq(location_id))
        .filter(stock_level::Column::Sku.eq(sku))
        .one(conn)
        .await?)
}

/// Writes a count; refuses to go below what is reserved or to overwrite a count that moved.
#[tracing::instrument(skip_all, fields(location = %input.location_code, sku = %input.sku))]
pub async fn set_stock_level(
    store: &Store,
    principal: &Principal,
    input: SetStock,
) -> ServiceResult<StockView> {
    principal.require_with_scope(&[Role::Service], Scope::Stock)?;
    if !(0..=MAX_ON_HAND).contains(&input.on_hand) {
        return Err(Refusal::invalid(
            &["onHand"],
            format!("onHand must be between 0 and {MAX_ON_HAND}"),
        )
        .into());
    }
    let txn = store.begin_write().await?;
    let location = location_for(&*txn, &input.location_code).await?;
    check_sku(&*txn, &input.sku).await?;
    let current = stock_row(&*txn, location.id, &input.sku).await?;
    let (before, reserved) = current
        .as_ref()
        .map(|r| (r.on_hand, r.reserved))
        .unwrap_or((0, 0));
    if let Some(expected) = input.expected_on_hand
        && expected != before
    {
        return Err(Refusal::new(
            RefusalCode::VersionConflict,
            &["expectedOnHand"],
            format!(
                "onHand is {before} now, not {expected}: stock moved since the count was taken"
            ),
        )
        .into());
    }
    if input.on_hand < reserved {
        return Err(Refusal::invalid(
            &["onHand"],
            format!("{reserved} units are reserved for orders; cancel or short-pick them before counting lower"),
        )
        .into());
    }
    let row = put_on_hand(&*txn, current, location.id, &input.sku, input.on_hand).await?;
    record_movement(
        &*txn,
        principal,
        &row,
        input.on_hand - before,
        "count",
        None,
    )
    .await?;
    txn.commit().await?;
    Ok(StockView::of(&row))
}

/// Records goods received (positive) or written off (negative).
#[tracing::instrument(skip_all, fields(location = %input.location_code, sku = %input.sku, delta = input.delta))]
pub async fn adjust_stock_level(
    store: &Store,
    principal: &Principal,
    input: AdjustStock,
) -> ServiceResult<StockView> {
    principal.require_with_scope(&[Role::Service], Scope::Stock)?;
    if input.delta == 0 || !(-MAX_ON_HAND..=MAX_ON_HAND).contains(&input.delta) {
        return Err(
            Refusal::invalid(&["delta"], "delta must be a non-zero number of units").into(),
        );
    }
    let reason = catalog::check_text(&input.reason, "reason", 500)?;
    let txn = store.begin_write().await?;
    let claim = idempotency::claim(
        &*txn,
        principal,
        "adjustStockLevel",
        input.idempotency_key.as_deref(),
        &input,
    )
    .await?;
    if let idempotency::Claim::Replay(previous) = claim {
        return Ok(previous);
    }
    let location = location_for(&*txn, &input.location_code).await?;
    check_sku(&*txn, &input.sku).await?;
    let current = stock_row(&*txn, location.id, &input.sku).await?;
    let (on_hand, reserved) = current
        .as_ref()
        .map(|r| (r.on_hand, r.reserved))
        .unwrap_or((0, 0));
    let after = on_hand + input.delta;
    if after < reserved || after > MAX_ON_HAND {
        return Err(Refusal::invalid(
            &["delta"],
            format!(
                "onHand {on_hand} with {reserved} reserved cannot move by {}",
                input.delta
            ),
        )
        .into());
    }
    let row = put_on_hand(&*txn, current, location.id, &input.sku, after).await?;
    record_movement(&*txn, principal, &row, input.delta, &reason, None).await?;
    let view = StockView::of(&row);
    if let idempotency::Claim::First(key) = claim {
        idempotency::complete(&*txn, key, &view).await?;
    }
    txn.commit().await?;
    Ok(view)
}

/// Writes a stock row's new on-hand count, creating the row when the location had none.
async fn put_on_hand(
    conn: &impl ConnectionTrait,
    current: Option<stock_level::Model>,
    location_id: i64,
    sku: &str,
    on_hand: i32,
) -> ServiceResult<stock_level::Model> {
    let now = clock::now();
    Ok(match current {
        Some(row) => {
            let mut active: stock_level::ActiveModel = row.into();
            active.on_hand = Set(on_hand);
            active.updated_at = Set(now);
            active.update(conn).await?
        }
        None => {
            stock_level::ActiveModel {
                location_id: Set(location_id),
                sku: Set(sku.to_owned()),
                on_hand: Set(on_hand),
                reserved: Set(0),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(conn)
            .await?
        }
    })
}

/// Puts returned units back on sale at a location, inside the caller's transaction.
/// `sale` names the customer and order the units came back from.
pub async fn restock(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    location_id: i64,
    sku: &str,
    quantity: i32,
    reason: &str,
    sale: (i64, i64),
) -> ServiceResult<()> {
    let current = stock_row(conn, location_id, sku).await?;
    let on_hand = current.as_ref().map(|r| r.on_hand).unwrap_or(0);
    let after = std::cmp::min(on_hand + quantity, MAX_ON_HAND);
    let row = put_on_hand(conn, current, location_id, sku, after).await?;
    record_movement(conn, principal, &row, quantity, reason, Some(sale)).await
}

async fn record_movement(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    row: &stock_level::Model,
    delta: i32,
    reason: &str,
    sale: Option<(i64, i64)>,
) -> ServiceResult<()> {
    stock_movement::ActiveModel {
        location_id: Set(row.location_id),
        sku: Set(row.sku.clone()),
        delta: Set(delta),
        reason: Set(reason.to_owned()),
        actor: Set(principal.key()),
        created_at: Set(clock::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    stock_changed(
        conn,
        principal,
        row,
        sale,
        serde_json::json!({ "delta": delta, "reason": reason }),
    )
    .await
}

/// Appends a STOCK_CHANGED event for a stock row.
/// `sale` names the customer and order of a sale that moved the stock, so the entry reaches
/// that customer's timeline (for staff).
pub async fn stock_changed(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    row: &stock_level::Model,
    sale: Option<(i64, i64)>,
    mut payload: serde_json::Value,
) -> ServiceResult<()> {
    if let Some(map) = payload.as_object_mut() {
        map.insert("onHand".into(), row.on_hand.into());
        map.insert("reserved".into(), row.reserved.into());
    }
    let mut event = NewEvent::new(EventKind::StockChanged, principal);
    event.location_id = Some(row.location_id);
    event.sku = Some(&row.sku);
    event.customer_id = sale.map(|(customer, _)| customer);
    event.order_id = sale.map(|(_, order)| order);
    event.payload = payload;
    events::append(conn, event).await?;
    Ok(())
}

/// Stock rows for these skus (all locations).
pub async fn stock_for_skus(
    conn: &impl ConnectionTrait,
    skus: &[String],
) -> ServiceResult<Vec<stock_level::Model>> {
    Ok(stock_level::Entity::find()
        .filter(stock_level::Column::Sku.is_in(skus.iter().cloned()))
        .order_by_asc(stock_level::Column::Id)
        .all(conn)
        .await?)
}

/// Per-location and total availability, nearest first when `near` is given.
pub async fn availability(
    store: &Store,
    skus: &[String],
    near: Option<GeoPoint>,
) -> ServiceResult<(Vec<SkuAvailability>, HashMap<i64, location::Model>)> {
    let rows = stock_for_skus(&store.db, skus).await?;
    let location_ids: Vec<i64> = rows.iter().map(|r| r.location_id).collect();
    let locations = catalog::locations_by_id(store, &location_ids).await?;
    let distance = |id: i64| match (near, locations.get(&id)) {
        (Some(p), Some(l)) => p.distance_km(&GeoPoint {
            latitude: l.latitude,
            longitude: l.longitude,
        }),
        _ => 0.0,
    };
    let mut out = Vec::with_capacity(skus.len());
    for sku in skus {
        let mut levels: Vec<StockView> = rows
            .iter()
            .filter(|r| &r.sku == sku)
            .map(StockView::of)
            .collect();
        levels.sort_by(|a, b| distance(a.location_id).total_cmp(&distance(b.location_id)));
        let available = levels.iter().map(StockView::available).sum();
        out.push(SkuAvailability {
            sku: sku.clone(),
            available,
            locations: levels,
        });
    }
    Ok((out, locations))
}

/// Reserves `quantity` at a location if that much is available right now; false when not.
/// One conditional UPDATE, so two checkouts can never both take the last unit.
pub async fn try_reserve(
    conn: &impl ConnectionTrait,
    location_id: i64,
    sku: &str,
    quantity: i32,
) -> ServiceResult<bool> {
    let result = stock_level::Entity::update_many()
        .col_expr(
            stock_level::Column::Reserved,
            Expr::col(stock_level::Column::Reserved).add(quantity),
        )
        .col_expr(stock_level::Column::UpdatedAt, Expr::value(clock::now()))
        .filter(stock_level::Column::LocationId.eq(location_id))
        .filter(stock_level::Column::Sku.eq(sku))
        .filter(
            Expr::col(stock_level::Column::OnHand)
                .sub(Expr::col(stock_level::Column::Reserved))
                .gte(quantity),
        )
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Takes goods that left a store with the customer: onHand falls, never below zero.
/// Returns the row after the sale and the shortfall the records did not cover.
pub async fn record_carry_out(
    conn: &impl ConnectionTrait,
    location_id: i64,
    sku: &str,
    quantity: i32,
) -> ServiceResult<(stock_level::Model, i32)> {
    let now = clock::now();
    let row = match stock_row(conn, location_id, sku).await? {
        Some(row) => row,
        None => {
            stock_level::ActiveModel {
                location_id: Set(location_id),
                sku: Set(sku.to_owned()),
                on_hand: Set(0),
                reserved: Set(0),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(conn)
            .await?
        }
    };
    // Sell from what is free first; a shortfall means the records were wrong.
    let free = std::cmp::max(row.on_hand - row.reserved, 0);
    let shortfall = std::cmp::max(quantity - free, 0);
    let after = take_on_hand(conn, row, quantity).await?;
    Ok((after, shortfall))
}

/// Takes goods picked for an order off a location: the order's reservation is used up and onHand
/// falls by as much, never below zero. The store handing the goods over is a fact, like a
/// carry-out sale, so it is recorded even when a till has since sold units the reservation
/// counted on. Returns the row after and the shortfall: the units onHand did not cover.
/// A reservation that is not there is an inconsistency of the records, not of the store.
pub async fn take_reserved(
    conn: &impl ConnectionTrait,
    location_id: i64,
    sku: &str,
    quantity: i32,
) -> ServiceResult<(stock_level::Model, i32)> {
    // The reservation first: its conditional UPDATE also holds the row, so the count read next
    // is the one the goods are taken from.
    let released = stock_level::Entity::update_many()
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
    let missing = || {
        ServiceError::Internal(format!(
            "stock records at location {location_id} do not hold the reservation of {sku}"
        ))
    };
    if released.rows_affected != 1 {
        return Err(missing());
    }
    let row = stock_row(conn, location_id, sku)
        .await?
        .ok_or_else(missing)?;
    let shortfall = std::cmp::max(quantity - row.on_hand, 0);
    let after = take_on_hand(conn, row, quantity).await?;
    Ok((after, shortfall))
}

/// Takes goods that left a location off a row's onHand, stopping at zero; returns the row after.
async fn take_on_hand(
    conn: &impl ConnectionTrait,
    row: stock_level::Model,
    quantity: i32,
) -> ServiceResult<stock_level::Model> {
    let now = clock::now();
    let taken = stock_level::Entity::update_many()
        .col_expr(
            stock_level::Column::OnHand,
            Expr::col(stock_level::Column::OnHand).sub(quantity),
        )
        .col_expr(stock_level::Column::UpdatedAt, Expr::value(now))
        .filter(stock_level::Column::Id.eq(row.id))
        .filter(stock_level::Column::OnHand.gte(quantity))
        .exec(conn)
        .await?;
    if taken.rows_affected == 0 {
        stock_level::Entity::update_many()
            .col_expr(stock_level::Column::OnHand, Expr::value(0))
            .col_expr(stock_level::Column::UpdatedAt, Expr::value(now))
            .filter(stock_level::Column::Id.eq(row.id))
            .exec(conn)
            .await?;
    }
    Ok(stock_level::Entity::find_by_id(row.id)
        .one(conn)
        .await?
        .unwrap_or(row))
}

/// Puts units that left a location beyond what its records held on the timeline of the order
/// that took them (`sale`: customer and order), as a stock discrepancy for the store to recount.
pub async fn record_discrepancy(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    row: &stock_level::Model,
    shortfall: i32,
    sale: (i64, i64),
    order_number: &str,
) -> ServiceResult<()> {
    let payload = serde_json::json!({
        "discrepancy": shortfall,
        "orderNumber": order_number,
        "recount": true,
    });
    stock_changed(conn, principal, row, Some(sale), payload).await
}
