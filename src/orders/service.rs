//! Order intake and reads. Every channel and role places and reads orders through here.
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::model::*;
use crate::auth::{Principal, Role, Scope};
use crate::catalog::{self, GeoPoint, LocationKind, check_code, check_text};
use crate::clock;
use crate::customers;
use crate::db::Store;
use crate::db::entities::{allocation, location, order, order_line, product, routing_decision};
use crate::error::{Refusal, RefusalCode, ServiceError, ServiceResult, is_unique_violation};
use crate::events::{self, EventKind, NewEvent};
use crate::fulfilment;
use crate::idempotency::fingerprint;
use crate::ids::{CustomerId, OrderId};
use crate::inventory;
use crate::money::{Currency, Money};
use crate::paging::{Page, PageRequest};
use crate::routing;
use crate::routing::engine::{self, Weights};

/// What `placeOrder` returns.
pub struct Placed {
    pub order: order::Model,
    pub replayed: bool,
}

/// A placement attempt that lost a race for stock is tried again this many times.
const RESERVATION_ATTEMPTS: usize = 4;

#[tracing::instrument(skip_all, fields(channel = input.channel.as_str(), channel_order_ref = %input.channel_order_ref))]
pub async fn place_order(
    store: &Store,
    principal: &Principal,
    input: PlaceOrder,
    weights: &Weights,
) -> ServiceResult<Placed> {
    let role = principal.require_with_scope(&[Role::Service, Role::Agent], Scope::Orders)?;
    if role == Role::Agent && input.channel != Channel::Phone {
        return Err(ServiceError::Forbidden);
    }
    let scope = check_shape(&input)?;
    let content_hash = fingerprint(&input);
    if let Some(replay) = find_replay(&store.db, &input, &scope, &content_hash).await? {
        return Ok(replay);
    }
    let prepared = prepare(store, &input).await?;
    for attempt in 1..=RESERVATION_ATTEMPTS {
        // The last attempt plans inside its write transaction, on stock no one else is moving
        // (on SQLite, where writers queue), so a placement is not refused for losing races.
        let plan_inside = attempt == RESERVATION_ATTEMPTS;
        match try_place(
            store,
            principal,
            &input,
            &scope,
            &content_hash,
            &prepared,
            weights,
            plan_inside,
        )
        .await
        {
            Err(Attempt::LostRace) => continue,
            Err(Attempt::Duplicate) => {
                return find_replay(&store.db, &input, &scope, &content_hash)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::Internal("order vanished after a duplicate insert".into())
                    });
            }
            Err(Attempt::Failed(e)) => return Err(e),
            Ok(order) => {
                return Ok(Placed {
                    order,
                    replayed: false,
                });
            }
        }
    }
    Err(out_of_stock(0))
}

fn out_of_stock(line: usize) -> ServiceError {
    let index = line.to_string();
    Refusal::new(
        RefusalCode::OutOfStock,
        &["lines", &index, "quantity"],
        "not enough stock to fill this line; nothing was reserved",
    )
    .into()
}

/// Checks what can be checked without the database; returns the idempotency scope.
fn check_shape(input: &PlaceOrder) -> ServiceResult<String> {
    let mut refusals = Vec::new();
    if input.channel_order_ref.trim().is_empty() || input.channel_order_ref.len() > 100 {
        refusals.push(Refusal::invalid(
            &["channelOrderRef"],
            "channelOrderRef must be 1 to 100 characters",
        ));
    }
    let scope = match input.channel {
        Channel::Store => match &input.store_code {
            Some(code) => scope_of(Channel::Store, Some(code)),
            None => {
                refusals.push(Refusal::invalid(
                    &["storeCode"],
                    "a STORE order needs the storeCode of its till",
                ));
                String::new()
            }
        },
        Channel::Marketplace => match input
            .marketplace
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            Some(m) => scope_of(Channel::Marketplace, Some(m)),
            None => {
                refusals.push(Refusal::invalid(
                    &["marketplace"],
                    "a MARKETPLACE order needs the marketplace name",
                ));
                String::new()
            }
        },
        _ => String::new(),
    };
    if input.lines.is_empty() {
        refusals.push(Refusal::invalid(
            &["lines"],
            "an order needs at least one line",
        ));
    }
    if input.lines.len() > MAX_LINES {
        refusals.push(Refusal::invalid(
            &["lines"],
            format!("an order has at most {MAX_LINES} lines"),
        ));
    }
    for (i, line) in input.lines.iter().enumerate() {
        let index = i.to_string();
        if !(1..=MAX_LINE_QUANTITY).contains(&line.quantity) {
            refusals.push(Refusal::invalid(
                &["lines", &index, "quantity"],
                format!("quantity must be between 1 and {MAX_LINE_QUANTITY}"),
            ));
        }
        if let Err(r) = check_code(&line.sku, "sku") {
            refusals.push(r.under(&["lines", &index]));
        }
    }
    let carry_out = input.delivery.method == DeliveryMethod::CarryOut;
    if carry_out && input.channel != Channel::Store {
        refusals.push(Refusal::invalid(
            &["delivery", "method"],
            "CARRY_OUT is for sales at a store till",
        ));
    }
    if input.customer.is_none() && !carry_out {
        refusals.push(Refusal::invalid(
            &["customer"],
            "a customer is required except for anonymous carry-out sales",
        ));
    }
    if let Some(c) = &input.customer
        && let Err(r) = customers::check_customer_input(c)
    {
        refusals.push(r.under(&["customer"]));
    }
    match input.delivery.method {
        DeliveryMethod::ShipToAddress if input.delivery.address.is_none() => {
            refusals.push(Refusal::invalid(
                &["delivery", "address"],
                "SHIP_TO_ADDRESS needs an address",
            ));
        }
        DeliveryMethod::ClickAndCollect if input.delivery.collection_store_code.is_none() => {
            refusals.push(Refusal::invalid(
                &["delivery", "collectionStoreCode"],
                "CLICK_AND_COLLECT needs the collection store",
            ));
        }
        _ => {}
    }
    let placed_at = input.placed_at.unwrap_or_else(clock::now);
    if placed_at > clock::now() + Duration::minutes(5) {
        refusals.push(Refusal::invalid(&["placedAt"], "placedAt is in the future"));
    }
    if let Some(promised) = input.delivery.promised_date
        && promised < placed_at.date_naive()
    {
        refusals.push(Refusal::invalid(
            &["delivery", "promisedDate"],
            "the promised date is before the order",
        ));
    }
    if refusals.is_empty() {
        Ok(scope)
    } else {
        Err(ServiceError::Refused(refusals))
    }
}

async fn find_replay(
    conn: &impl ConnectionTrait,
    input: &PlaceOrder,
    scope: &str,
    content_hash: &str,
) -> ServiceResult<Option<Placed>> {
    let existing = order::Entity::find()
        .filter(order::Column::Channel.eq(input.channel.as_str()))
        .filter(order::Column::Scope.eq(scope))
        .filter(order::Column::ChannelOrderRef.eq(&input.channel_order_ref))
        .one(conn)
        .await?;
    match existing {
        Some(order) if order.content_hash == content_hash => Ok(Some(Placed {
            order,
            replayed: true,
        })),
        Some(order) => Err(Refusal::new(
            RefusalCode::Duplicate,
            &["channelOrderRef"],
            format!(
                "{} was already used for order {} with different content",
                input.channel_order_ref, order.number
            ),
        )
        .into()),
        None => Ok(None),
    }
}

/// What the database says about the order's references, read before the transaction.
struct Prepared {
    lines: Vec<PreparedLine>,
    currency: Currency,
    store: Option<location::Model>,
    collection: Option<location::Model>,
    shipping: Option<Money>,
}

struct PreparedLine {
    sku: String,
    name: String,
    quantity: i32,
    unit_price: Money,
}

async fn prepare(store: &Store, input: &PlaceOrder) -> ServiceResult<Prepared> {
    let skus: Vec<String> = input
        .lines
        .iter()
        .map(|l| l.sku.trim().to_owned())
        .collect();
    let products = catalog::products_by_sku(store, &skus).await?;
    let mut refusals = Vec::new();
    let mut lines = Vec::new();
    let mut currency: Option<Currency> = None;
    for (i, line) in input.lines.iter().enumerate() {
        let index = i.to_string();
        let sku = line.sku.trim();
        let Some(product) = products.get(sku) else {
            refusals.push(Refusal::invalid(
                &["lines", &index, "sku"],
                format!("unknown sku `{sku}`"),
            ));
            continue;
        };
        let price = match (&line.unit_price, product_price(product)) {
            (Some(given), _) => match Currency::parse(&given.currency) {
                Some(c) => Money::new(given.minor, c),
                None => {
                    refusals.push(Refusal::invalid(
                        &["lines", &index, "unitPrice", "currencyCode"],
                        "not an ISO 4217 currency code",
                    ));
                    continue;
                }
            },
            (None, Some(price)) => price,
            (None, None) => {
                refusals.push(Refusal::invalid(
                    &["lines", &index, "unitPrice"],
                    format!("`{sku}` has no catalogue price; give unitPrice"),
                ));
                continue;
            }
        };
        match &currency {
            None => currency = Some(price.currency.clone()),
            Some(c) if *c != price.currency => {
                refusals.push(Refusal::invalid(
                    &["lines", &index, "unitPrice", "currencyCode"],
                    format!("every line must be in {}", c.code()),
                ));
                continue;
            }
            Some(_) => {}
        }
        let name = match &line.name {
            Some(n) => match check_text(n, "name", 200) {
                Ok(n) => n,
                Err(r) => {
                    refusals.push(r.under(&["lines", &index]));
                    continue;
                }
            },
            None => product.name.clone(),
        };
        lines.push(PreparedLine {
            sku: sku.to_owned(),
            name,
            quantity: line.quantity,
            unit_price: price,
        });
    }
    let store_location = match &input.store_code {
        Some(code) => match catalog::location_by_code(store, code).await? {
            Some(l) if l.kind == LocationKind::Store.as_str() => Some(l),
            _ => {
                refusals.push(Refusal::invalid(
                    &["storeCode"],
                    format!("no store with code `{code}`"),
                ));
                None
            }
        },
        None => None,
    };
    let collection = match &input.delivery.collection_store_code {
        Some(code) if input.delivery.method == DeliveryMethod::ClickAndCollect => {
            match catalog::location_by_code(store, code).await? {
                Some(l) if l.pickup_point => Some(l),
                _ => {
                    refusals.push(Refusal::invalid(
                        &["delivery", "collectionStoreCode"],
                        format!("no pickup point with code `{code}`"),
                    ));
                    None
                }
            }
        }
        _ => None,
    };
    let shipping = match (&input.shipping_cost, &currency) {
        (Some(given), Some(c)) if given.currency != c.code() => {
            refusals.push(Refusal::invalid(
                &["shippingCost", "currencyCode"],
                format!("must be in {}", c.code()),
            ));
            None
        }
        (Some(given), Some(c)) => Some(Money::new(given.minor, c.clone())),
        _ => None,
    };
    if !refusals.is_empty() {
        return Err(ServiceError::Refused(refusals));
    }
    let currency =
        currency.ok_or_else(|| ServiceError::Internal("order without a currency".into()))?;
    Ok(Prepared {
        lines,
        currency,
        store: store_location,
        collection,
        shipping,
    })
}

fn product_price(product: &product::Model) -> Option<Money> {
    Some(Money::new(
        product.price_minor?,
        Currency::parse(product.currency.as_deref()?)?,
    ))
}

enum Attempt {
    LostRace,
    Duplicate,
    Failed(ServiceError),
}

impl<E: Into<ServiceError>> From<E> for Attempt {
    fn from(e: E) -> Self {
        match e.into() {
            // Another placement created the same order or customer first: look again.
            ServiceError::Database(db) if is_unique_violation(&db) => Attempt::Duplicate,
            // PostgreSQL broke a lock cycle between two placements: try again.
            ServiceError::Database(db) if db.to_string().contains("deadlock detected") => {
                Attempt::LostRace
            }
            other => Attempt::Failed(other),
        }
    }
}

/// The stock a shipped order takes and what its shipping costs: routing over the stock as read,
/// and the shipping cost of the locations it ships from.
struct Plan {
    lines: Vec<engine::Line>,
    routed: Routed,
    shipping_minor: i64,
}

/// Routes a shipped order. Reads only: the reservations that follow are conditional, so a plan
/// made on stock that moved meanwhile fails to reserve and is made again.
async fn plan(
    conn: &impl ConnectionTrait,
    input: &PlaceOrder,
    prepared: &Prepared,
    placed_at: DateTime<Utc>,
    weights: &Weights,
) -> Result<Plan, Attempt> {
    let lines: Vec<engine::Line> = prepared
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| engine::Line {
            index: i,
            sku: l.sku.clone(),
            quantity: l.quantity,
        })
        .collect();
    let destination = destination_of(input, prepared.collection.as_ref());
    let routed = route(
        conn,
        &lines,
        &destination,
        input.delivery.promised_date,
        placed_at.date_naive(),
        weights,
    )
    .await?
    .map_err(|short| Attempt::Failed(out_of_stock(short.line)))?;
    let chosen = routed
        .decision
        .candidates
        .first()
        .ok_or(Attempt::Failed(out_of_stock(0)))?;
    let shipping_minor = match (&prepared.shipping, input.delivery.method) {
        (Some(given), _) => given.minor,
        (None, DeliveryMethod::ShipToAddress) => {
            let ids: BTreeSet<i64> = chosen.allocations.iter().map(|a| a.location_id).collect();
            let rows = location::Entity::find()
                .filter(location::Column::Id.is_in(ids))
                .all(conn)
                .await?;
            rows.iter()
                .filter(|l| l.currency == prepared.currency.code())
                .map(|l| l.shipping_cost_minor)
                .sum()
        }
        (None, _) => 0,
    };
    Ok(Plan {
        lines,
        routed,
        shipping_minor,
    })
}

#[allow(clippy::too_many_arguments)]
async fn try_place(
    store: &Store,
    principal: &Principal,
    input: &PlaceOrder,
    scope: &str,
    content_hash: &str,
    prepared: &Prepared,
    weights: &Weights,
    plan_inside: bool,
) -> Result<order::Model, Attempt> {
    let now = clock::now();
    let placed_at = input.placed_at.unwrap_or(now);
    let carry_out = input.delivery.method == DeliveryMethod::CarryOut;
    // Planning reads outside the write transaction, so placements plan side by side and only
    // their writes queue for the database.
    let early = if carry_out || plan_inside {
        None
    } else {
        Some(plan(&store.db, input, prepared, placed_at, weights).await?)
    };
    let txn = store.begin_write().await?;
    let customer = match &input.customer {
        Some(c) => customers::resolve_customer(&*txn, c).await?,
        None => customers::create_walk_in(&*txn).await?,
    };

    // Reserve (or, for carry-out, take) the stock.
    let mut allocations = Vec::new();
    let mut discrepancies = Vec::new();
    let mut routing: Option<Plan> = None;
    if carry_out {
        let store_id = prepared
            .store
            .as_ref()
            .map(|s| s.id)
            .ok_or(Attempt::Failed(
                Refusal::invalid(&["storeCode"], "a carry-out sale needs its store").into(),
            ))?;
        for (i, line) in prepared.lines.iter().enumerate() {
            let (row, shortfall) =
                inventory::record_carry_out(&*txn, store_id, &line.sku, line.quantity).await?;
            allocations.push(routing::Allocation {
                line: i,
                location_id: store_id,
                quantity: line.quantity,
            });
            discrepancies.push((row, shortfall));
        }
    } else {
        let planned = match early {
            Some(planned) => planned,
            None => plan(&*txn, input, prepared, placed_at, weights).await?,
        };
        let chosen = planned
            .routed
            .decision
            .candidates
            .first()
            .ok_or(Attempt::Failed(out_of_stock(0)))?;
        // Reserve in one global order so concurrent placements cannot deadlock.
        let mut ordered: Vec<&engine::Allocation> = chosen.allocations.iter().collect();
        ordered.sort_by(|a, b| {
            (a.location_id, &prepared.lines[a.line].sku)
                .cmp(&(b.location_id, &prepared.lines[b.line].sku))
        });
        for a in ordered {
            if !inventory::try_reserve(
                &*txn,
                a.location_id,
                &prepared.lines[a.line].sku,
                a.quantity,
            )
            .await?
            {
                return Err(Attempt::LostRace);
            }
        }
        allocations = chosen
            .allocations
            .iter()
            .map(|a| routing::Allocation {
                line: a.line,
                location_id: a.location_id,
                quantity: a.quantity,
            })
            .collect();
        routing = Some(planned);
    }

    let subtotal: i64 = prepared
        .lines
        .iter()
        .map(|l| l.unit_price.times(l.quantity).minor)
        .sum();
    // A carry-out sale ships nothing: only a shipping cost the channel gave counts.
    let shipping = match &routing {
        Some(planned) => planned.shipping_minor,
        None => prepared.shipping.as_ref().map_or(0, |given| given.minor),
    };
    let status = if carry_out {
        OrderStatus::Delivered
    } else {
        OrderStatus::Placed
    };
    let address = input
        .delivery
        .address
        .as_ref()
        .map(|a| serde_json::to_string(a).unwrap_or_default());
    let inserted = order::ActiveModel {
        number: Set(format!("pending-{content_hash}")),
        channel: Set(input.channel.as_str().to_owned()),
        scope: Set(scope.to_owned()),
        channel_order_ref: Set(input.channel_order_ref.clone()),
        content_hash: Set(content_hash.to_owned()),
        marketplace: Set(input.marketplace.clone()),
        store_location_id: Set(prepared.store.as_ref().map(|s| s.id)),
        seller_of_record: Set(input
            .seller_of_record
            .unwrap_or(SellerOfRecord::Brand)
            .as_str()
            .to_owned()),
        customer_id: Set(customer.id),
        status: Set(status.as_str().to_owned()),
        currency: Set(prepared.currency.code().to_owned()),
        subtotal_minor: Set(subtotal),
        shipping_minor: Set(shipping),
        refunded_minor: Set(0),
        delivery_method: Set(input.delivery.method.as_str().to_owned()),
        delivery_address: Set(address),
        collection_location_id: Set(prepared.collection.as_ref().map(|l| l.id)),
        promised_date: Set(input.delivery.promised_date),
        version: Set(1),
        tracking_token: Set(Some(crate::ids::random_token(24))),
        placed_at: Set(placed_at),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&*txn)
    .await;
    let mut active: order::ActiveModel = inserted?.into();
    active.number = Set(order_number(*active.id.as_ref()));
    let order = active.update(&*txn).await?;

    // One statement for the lines and one for the allocations. RETURNING gives rows in no set
    // order, so the ids are matched to the lines by position.
    let mut lines =
        order_line::Entity::insert_many(prepared.lines.iter().enumerate().map(|(i, line)| {
            order_line::ActiveModel {
                order_id: Set(order.id),
                position: Set(i as i32),
                sku: Set(line.sku.clone()),
                name: Set(line.name.clone()),
                quantity: Set(line.quantity),
                quantity_cancelled: Set(0),
                quantity_dispatched: Set(if carry_out { line.quantity } else { 0 }),
                quantity_delivered: Set(if carry_out { line.quantity } else { 0 }),
                quantity_returned: Set(0),
                unit_price_minor: Set(line.unit_price.minor),
                ..Default::default()
            }
        }))
        .exec_with_returning(&*txn)
        .await?;
    lines.sort_by_key(|l| l.position);
    let line_ids: Vec<i64> = lines.iter().map(|l| l.id).collect();
    if !carry_out {
        allocation::Entity::insert_many(allocations.iter().map(|a| allocation::ActiveModel {
            order_id: Set(order.id),
            order_line_id: Set(line_ids[a.line]),
            location_id: Set(a.location_id),
            sku: Set(prepared.lines[a.line].sku.clone()),
            quantity: Set(a.quantity),
            ..Default::default()
        }))
        .exec_without_returning(&*txn)
        .await?;
    }

    match &routing {
        Some(planned) => {
            record_routing(
                &*txn,
                &order,
                &line_ids,
                &planned.lines,
                &planned.routed,
                &allocations,
                weights,
                now,
            )
            .await?
        }
        None => {
            // A carry-out sale: the goods left the store with the customer.
            let store_id = prepared.store.as_ref().map(|s| s.id).unwrap_or_default();
            let new = fulfilment::NewShipment {
                location_id: store_id,
                lines: line_ids
                    .iter()
                    .zip(&prepared.lines)
                    .map(|(id, l)| (*id, l.quantity))
                    .collect(),
                status: fulfilment::ShipmentStatus::Delivered,
                estimated_delivery_date: Some(placed_at.date_naive()),
                dispatch_by: None,
                delivered_at: Some(placed_at),
            };
            fulfilment::create_shipment(&*txn, &order, new).await?;
        }
    }

    let mut event = NewEvent::new(EventKind::OrderPlaced, principal);
    event.occurred_at = placed_at;
    event.channel = Some(input.channel.as_str());
    event.customer_id = Some(customer.id);
    event.order_id = Some(order.id);
    event.payload = serde_json::json!({
        "number": order.number,
        "lines": prepared.lines.len(),
        "total": Money::new(subtotal + shipping, prepared.currency.clone()).amount().to_string(),
        "currency": prepared.currency.code(),
    });
    events::append(&*txn, event).await?;
    for (row, shortfall) in &discrepancies {
        let sale = (customer.id, order.id);
        if *shortfall > 0 {
            inventory::record_discrepancy(&*txn, principal, row, *shortfall, sale, &order.number)
                .await?;
        } else {
            let payload = serde_json::json!({ "sold": order.number });
            inventory::stock_changed(&*txn, principal, row, Some(sale), payload).await?;
        }
    }
    txn.commit().await?;
    Ok(order)
}

fn order_number(id: i64) -> String {
    format!("TP-{}", 100_000 + id)
}

/// Who may read an order: its customer, and staff that read orders.
pub fn may_read(principal: &Principal, order: &order::Model) -> bool {
    match principal {
        Principal::Customer(id) => id.0 == order.customer_id,
        Principal::Staff { role, .. } => matches!(role, Role::Agent | Role::Admin | Role::Service),
        Principal::Anonymous | Principal::System => false,
    }
}

/// Who may read orders at all. A root field given an ID of another type checks this too, so the
/// ID reads exactly like a missing order.
pub fn require_order_reader(principal: &Principal) -> ServiceResult<()> {
    principal.require(&[Role::Customer, Role::Agent, Role::Service])?;
    Ok(())
}

/// `order(id)`: null when missing or not the caller's.
pub async fn get_order(
    store: &Store,
    principal: &Principal,
    id: OrderId,
) -> ServiceResult<Option<order::Model>> {
    require_order_reader(principal)?;
    let row = order::Entity::find_by_id(id.0).one(&store.db).await?;
    Ok(row.filter(|o| may_read(principal, o)))
}

pub async fn order_by_number(
    store: &Store,
    principal: &Principal,
    number: &str,
) -> ServiceResult<Option<order::Model>> {
    require_order_reader(principal)?;
    let row = order::Entity::find()
        .filter(order::Column::Number.eq(number.trim()))
        .one(&store.db)
        .await?;
    Ok(row.filter(|o| may_read(principal, o)))
}

/// The order's tracking page, `<public_url>/track/<token>`, for whoever may hold the link: its
/// customer, staff and services, but not marketing (the link is a credential to the order).
pub fn tracking_page_url(
    principal: &Principal,
    order: &order::Model,
    public_url: &str,
) -> Option<String> {
    if principal.role() == Some(Role::Marketing) {
        return None;
    }
    let token = order.tracking_token.as_deref()?;
    Some(format!("{public_url}/track/{token}"))
}

/// The order a tracking link opens. The token is its own credential, so anyone may ask; a
/// string that cannot be a token is not looked up.
pub async fn order_by_tracking_token(
    store: &Store,
    token: &str,
) -> ServiceResult<Option<order::Model>> {
    let plausible = (16..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plausible {
        return Ok(None);
    }
    Ok(order::Entity::find()
        .filter(order::Column::TrackingToken.eq(token))
        .one(&store.db)
        .await?)
}

pub async fn order_by_channel_ref(
    store: &Store,
    principal: &Principal,
    channel: Channel,
    channel_order_ref: &str,
    scope: Option<&str>,
) -> ServiceResult<Option<order::Model>> {
    require_order_reader(principal)?;
    let scope = scope_of(channel, scope);
    let row = order::Entity::find()
        .filter(order::Column::Channel.eq(channel.as_str()))
        .filter(order::Column::Scope.eq(scope))
        .filter(order::Column::ChannelOrderRef.eq(channel_order_ref))
        .one(&store.db)
        .await?;
    Ok(row.filter(|o| may_read(principal, o)))
}

/// `Customer.orders`: newest first.
pub async fn orders_of_customer(
    store: &Store,
    principal: &Principal,
    customer: CustomerId,
    filter: OrderFilter,
    page: PageRequest,
) -> ServiceResult<Page<order::Model>> {
    if !customers::may_read(principal, customer) {
        return Ok(Page {
            items: vec![],
            has_next: false,
            has_previous: false,
            total: 0,
        });
    }
    let mut query = order::Entity::find().filter(order::Column::CustomerId.eq(customer.0));
    if let Some(channel) = filter.channel {
        query = query.filter(order::Column::Channel.eq(channel.as_str()));
    }
    if let Some(status) = filter.status {
        query = query.filter(order::Column::Status.eq(status.as_str()));
    }
    Ok(crate::db::newest_first(&store.db, query, order::Column::Id, |o| o.id, page).await?)
}

pub async fn orders_by_id(store: &Store, ids: &[i64]) -> ServiceResult<HashMap<i64, order::Model>> {
    let rows = order::Entity::find()
        .filter(order::Column::Id.is_in(ids.iter().copied()))
        .all(&store.db)
        .await?;
    Ok(rows.into_iter().map(|o| (o.id, o)).collect())
}

pub async fn lines_by_order(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<order_line::Model>>> {
    let rows = order_line::Entity::find()
        .filter(order_line::Column::OrderId.is_in(ids.iter().copied()))
        .order_by_asc(order_line::Column::OrderId)
        .order_by_asc(order_line::Column::Position)
        .all(&store.db)
        .await?;
    Ok(crate::db::group_by(rows, |r| r.order_id))
}

pub async fn lines_by_id(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, order_line::Model>> {
    let rows = order_line::Entity::find()
        .filter(order_line::Column::Id.is_in(ids.iter().copied()))
        .all(&store.db)
        .await?;
    Ok(rows.into_iter().map(|l| (l.id, l)).collect())
}

/// An order line by id, with its order, for `node(id:)`.
pub async fn get_line(
    store: &Store,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<order_line::Model>> {
    require_order_reader(principal)?;
    let Some(line) = order_line::Entity::find_by_id(id).one(&store.db).await? else {
        return Ok(None);
    };
    Ok(may_read_order_of(store, principal, line.order_id)
        .await?
        .then_some(line))
}

/// Whether the caller may read what belongs to this order (its lines, shipments, substitutions).
pub async fn may_read_order_of(
    store: &Store,
    principal: &Principal,
    order_id: i64,
) -> ServiceResult<bool> {
    let order = order::Entity::find_by_id(order_id).one(&store.db).await?;
    Ok(order.is_some_and(|o| may_read(principal, &o)))
}

/// Products related to what the order holds, not already in it.
pub async fn recommendations(
    store: &Store,
    order_id: i64,
    first: usize,
) -> ServiceResult<Vec<product::Model>> {
    let lines = lines_by_order(store, &[order_id])
        .await?
        .remove(&order_id)
        .unwrap_or_default();
    let ordered: BTreeSet<String> = lines.iter().map(|l| l.sku.clone()).collect();
    let products =
        catalog::products_by_sku(store, &ordered.iter().cloned().collect::<Vec<_>>()).await?;
    let mut related = Vec::new();
    for line in &lines {
        if let Some(p) = products.get(&line.sku) {
            for sku in catalog::related_skus(p) {
                if !ordered.contains(&sku) && !related.contains(&sku) {
                    related.push(sku);
                }
            }
        }
    }
    // Only what can be bought now: somewhere, more on hand than is reserved.
    let in_stock: BTreeSet<String> = crate::inventory::stock_for_skus(&store.db, &related)
        .await?
        .into_iter()
        .filter(|r| r.on_hand > r.reserved)
        .map(|r| r.sku)
        .collect();
    related.retain(|sku| in_stock.contains(sku));
    related.truncate(first);
    let found = catalog::products_by_sku(store, &related).await?;
    Ok(related
        .iter()
        .filter_map(|s| found.get(s).cloned())
        .collect())
}

/// Money of an order's currency.
pub fn money(order: &order::Model, minor: i64) -> Money {
    Money::new(minor, Currency::stored(&order.currency))
}

/// Reads the stored address.
pub fn address(order: &order::Model) -> Option<Address> {
    order
        .delivery_address
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
}

/// The stored idempotency scope for a channel and optional scope argument.
fn scope_of(channel: Channel, scope: Option<&str>) -> String {
    match channel {
        Channel::Marketplace => scope.unwrap_or_default().trim().to_lowercase(),
        Channel::Store => scope.unwrap_or_default().trim().to_owned(),
        _ => String::new(),
    }
}

/// A routing decision with the nodes it was made over.
pub struct Routed {
    pub decision: engine::Decision,
    pub nodes: Vec<engine::Node>,
    pub destination: engine::Destination,
    pub promised_date: Option<NaiveDate>,
}

/// Where the parcels go: the collection store, or the address.
fn destination_of(input: &PlaceOrder, collection: Option<&location::Model>) -> engine::Destination {
    destination_for(&input.delivery, collection)
}

pub fn destination_for(
    delivery: &DeliveryInput,
    collection: Option<&location::Model>,
) -> engine::Destination {
    match (delivery.method, collection) {
        (DeliveryMethod::ClickAndCollect, Some(store)) => engine::Destination {
            point: Some(GeoPoint {
                latitude: store.latitude,
                longitude: store.longitude,
            }),
            country_code: store.country_code.clone(),
        },
        _ => engine::Destination {
            point: delivery.address.as_ref().and_then(|a| a.location),
            country_code: delivery.address.as_ref().map(|a| a.country_code.clone()),
        },
    }
}

/// Runs the routing engine over the stock there is now; reserves nothing.
pub async fn route(
    conn: &impl ConnectionTrait,
    lines: &[engine::Line],
    destination: &engine::Destination,
    promised_date: Option<NaiveDate>,
    today: NaiveDate,
    weights: &Weights,
) -> ServiceResult<Result<Routed, engine::Shortfall>> {
    let skus: Vec<String> = lines
        .iter()
        .map(|l| l.sku.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rows = inventory::stock_for_skus(conn, &skus).await?;
    let ids: BTreeSet<i64> = rows.iter().map(|r| r.location_id).collect();
    let locations = location::Entity::find()
        .filter(location::Column::Id.is_in(ids))
        .all(conn)
        .await?;
    let nodes: Vec<engine::Node> = locations
        .iter()
        .map(|l| engine::Node {
            location_id: l.id,
            code: l.code.clone(),
            point: GeoPoint {
                latitude: l.latitude,
                longitude: l.longitude,
            },
            country_code: l.country_code.clone(),
            // Goods already where they are collected travel for free.
            shipping_cost_minor: if destination.point
                == Some(GeoPoint {
                    latitude: l.latitude,
                    longitude: l.longitude,
                }) {
                0
            } else {
                l.shipping_cost_minor
            },
            handling_days: l.handling_days,
            kind: crate::catalog::LocationKind::parse(&l.kind)
                .unwrap_or(crate::catalog::LocationKind::Warehouse),
        })
        .collect();
    let stock: HashMap<(i64, String), i32> = rows
        .iter()
        .map(|r| {
            (
                (r.location_id, r.sku.clone()),
                (r.on_hand - r.reserved).max(0),
            )
        })
        .collect();
    let request = engine::Request {
        lines,
        nodes: &nodes,
        stock: &stock,
        destination,
        promised_date,
        today,
    };
    Ok(engine::decide(&request, weights).map(|decision| Routed {
        decision,
        nodes: nodes.clone(),
        destination: destination.clone(),
        promised_date,
    }))
}

/// One stored candidate of a routing decision.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCandidate {
    pub locations: Vec<i64>,
    /// (location id, sku, quantity)
    pub allocations: Vec<(i64, String, i32)>,
    pub shipments: i32,
    pub score: f64,
    pub distance_km: f64,
    pub cost_minor: i64,
    pub meets_promise: bool,
    pub chosen: bool,
    pub explanation: String,
}

/// The decision as it is stored and shown.
pub fn stored_candidates(routed: &Routed, lines: &[engine::Line]) -> Vec<StoredCandidate> {
    let sku = |line: usize| {
        lines
            .iter()
            .find(|l| l.index == line)
            .map(|l| l.sku.clone())
            .unwrap_or_default()
    };
    let mut note = String::new();
    if !routed.decision.distance_known {
        note.push_str(" (distance unknown: no coordinates)");
    }
    if routed.decision.strategy == engine::Strategy::Greedy {
        note.push_str(" (greedy search)");
    }
    routed
        .decision
        .candidates
        .iter()
        .map(|p| StoredCandidate {
            locations: p.locations.clone(),
            allocations: p
                .allocations
                .iter()
                .map(|a| (a.location_id, sku(a.line), a.quantity))
                .collect(),
            shipments: p.shipments,
            score: p.score,
            distance_km: p.distance_km,
            cost_minor: p.cost_minor,
            meets_promise: p.meets_promise,
            chosen: p.chosen,
            explanation: if p.explanation.contains("unknown") || p.explanation.contains("greedy") {
                p.explanation.clone()
            } else {
                format!("{}{note}", p.explanation)
            },
        })
        .collect()
}

/// Stores the decision and opens one PENDING shipment per chosen location.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_routing(
    conn: &impl ConnectionTrait,
    order: &order::Model,
    line_ids: &[i64],
    lines: &[engine::Line],
    routed: &Routed,
    allocations: &[routing::Allocation],
    weights: &Weights,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    routing_decision::ActiveModel {
        order_id: Set(order.id),
        strategy: Set(routed.decision.strategy.as_str().to_owned()),
        candidates: Set(serde_json::to_string(&stored_candidates(routed, lines))
            .unwrap_or_else(|_| "[]".into())),
        decided_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    let chosen = routed.decision.candidates.first();
    for location_id in chosen.map(|p| p.locations.clone()).unwrap_or_default() {
        let mut per_line: Vec<(i64, i32)> = Vec::new();
        for a in allocations.iter().filter(|a| a.location_id == location_id) {
            let id = line_ids[a.line];
            match per_line.iter_mut().find(|(l, _)| *l == id) {
                Some(entry) => entry.1 += a.quantity,
                None => per_line.push((id, a.quantity)),
            }
        }
        let node = routed.nodes.iter().find(|n| n.location_id == location_id);
        let transit = node
            .map(|n| engine::transit_days(n, &routed.destination, weights))
            .unwrap_or(1);
        let placed = order.placed_at.date_naive();
        let estimate = placed.checked_add_days(chrono::Days::new(transit.max(0) as u64));
        let dispatch_by = match (routed.promised_date, node) {
            (Some(promised), Some(n)) => {
                engine::dispatch_by(promised, n, &routed.destination, weights)
                    .and_hms_opt(23, 59, 59)
                    .map(|d| d.and_utc())
            }
            _ => None,
        };
        let new = fulfilment::NewShipment {
            location_id,
            lines: per_line,
            status: fulfilment::ShipmentStatus::Pending,
            estimated_delivery_date: estimate,
            dispatch_by,
            delivered_at: None,
        };
        fulfilment::create_shipment(conn, order, new).await?;
    }
    Ok(())
}

/// Routing decisions are for agents and services; customers and marketing read none.
pub fn may_read_routing(principal: &Principal) -> bool {
    matches!(
        principal.role(),
        Some(Role::Agent | Role::Service | Role::Admin)
    )
}

/// The latest routing decision of each order.
pub async fn routing_by_order(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, routing_decision::Model>> {
    let rows = routing_decision::Entity::find()
        .filter(routing_decision::Column::OrderId.is_in(ids.iter().copied()))
        .order_by_asc(routing_decision::Column::Id)
        .all(&store.db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.order_id, r)).collect())
}

/// What `routingPlan` simulates.
pub struct PlanRequest {
    pub lines: Vec<LineInput>,
    pub delivery: DeliveryInput,
}

/// `routingPlan`: the placement's routing over today's stock, without reserving anything.
pub async fn simulate_routing(
    store: &Store,
    principal: &Principal,
    request: PlanRequest,
    weights: &Weights,
) -> ServiceResult<(Vec<StoredCandidate>, engine::Strategy, String)> {
    principal.require(&[Role::Agent, Role::Service])?;
    if request.lines.is_empty() || request.lines.len() > MAX_LINES {
        return Err(Refusal::invalid(&["lines"], format!("1 to {MAX_LINES} lines")).into());
    }
    let mut lines = Vec::new();
    for (i, line) in request.lines.iter().enumerate() {
        let index = i.to_string();
        if !(1..=MAX_LINE_QUANTITY).contains(&line.quantity) {
            return Err(Refusal::invalid(
                &["lines", &index, "quantity"],
                format!("between 1 and {MAX_LINE_QUANTITY}"),
            )
            .into());
        }
        lines.push(engine::Line {
            index: i,
            sku: line.sku.trim().to_owned(),
            quantity: line.quantity,
        });
    }
    let collection = match (
        &request.delivery.collection_store_code,
        request.delivery.method,
    ) {
        (Some(code), DeliveryMethod::ClickAndCollect) => {
            match catalog::location_by_code(store, code).await? {
                Some(l) if l.pickup_point => Some(l),
                _ => {
                    return Err(Refusal::invalid(
                        &["delivery", "collectionStoreCode"],
                        format!("no pickup point with code `{code}`"),
                    )
                    .into());
                }
            }
        }
        (None, DeliveryMethod::ClickAndCollect) => {
            return Err(Refusal::invalid(
                &["delivery", "collectionStoreCode"],
                "CLICK_AND_COLLECT needs the collection store",
            )
            .into());
        }
        _ => None,
    };
    let destination = destination_for(&request.delivery, collection.as_ref());
    let today = clock::now().date_naive();
    let routed = route(
        &store.db,
        &lines,
        &destination,
        request.delivery.promised_date,
        today,
        weights,
    )
    .await?
    .map_err(|short| out_of_stock(short.line))?;
    let first_location = routed
        .decision
        .candidates
        .first()
        .and_then(|p| p.locations.first().copied());
    let currency = first_location
        .and_then(|id| routed.nodes.iter().find(|n| n.location_id == id))
        .map(|n| n.code.clone());
    let currency = match currency {
        Some(code) => catalog::location_by_code(store, &code)
            .await?
            .map(|l| l.currency)
            .unwrap_or_else(|| "EUR".into()),
        None => "EUR".into(),
    };
    Ok((
        stored_candidates(&routed, &lines),
        routed.decision.strategy,
        currency,
    ))
}
