//! The customer timeline: every event about a customer, from the same rows the commands write,
//! with what each role may see of them.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::auth::{Principal, Role};
use crate::customers;
use crate::db::Store;
use crate::db::entities::{event, order};
use crate::error::{ServiceError, ServiceResult};
use crate::ids::{CustomerId, OrderId};
use crate::orders;
use crate::paging::{Page, PageRequest};

text_enum!(
    /// The kinds of entry a timeline shows.
    TimelineKind {
        OrderPlaced = "ORDER_PLACED",
        OrderModified = "ORDER_MODIFIED",
        OrderCancelled = "ORDER_CANCELLED",
        LinesCancelled = "LINES_CANCELLED",
        ShipmentUpdated = "SHIPMENT_UPDATED",
        ShipmentDelayed = "SHIPMENT_DELAYED",
        SubstitutionProposed = "SUBSTITUTION_PROPOSED",
        SubstitutionAnswered = "SUBSTITUTION_ANSWERED",
        ReturnRequested = "RETURN_REQUESTED",
        ReturnReceived = "RETURN_RECEIVED",
        ReturnRejected = "RETURN_REJECTED",
        ReturnCancelled = "RETURN_CANCELLED",
        RefundIssued = "REFUND_ISSUED",
        EmailSent = "EMAIL_SENT",
        EmailFailed = "EMAIL_FAILED",
        EmailOpened = "EMAIL_OPENED",
        NoteAdded = "NOTE_ADDED",
        StockChanged = "STOCK_CHANGED",
    }
);

/// Kinds customers never see on their own timeline.
const STAFF_ONLY: [TimelineKind; 2] = [TimelineKind::NoteAdded, TimelineKind::StockChanged];

/// What the viewer may see of one event: nothing, or the entry with actor and reason masked.
pub fn visible(principal: &Principal, event: &event::Model) -> bool {
    let Some(kind) = TimelineKind::parse(&event.kind) else {
        return false;
    };
    match principal {
        Principal::Customer(id) => event.customer_id == Some(id.0) && !STAFF_ONLY.contains(&kind),
        Principal::Staff {
            role: Role::Agent | Role::Admin,
            ..
        } => true,
        _ => false,
    }
}

/// Whether the viewer acted in this event themselves.
fn own_action(principal: &Principal, event: &event::Model) -> bool {
    principal.role().map(|r| r.as_str()) == Some(event.actor_role.as_str())
        && principal.actor_id() == event.actor_id
}

/// Customers see who acted only when it was themselves.
pub fn actor_id(principal: &Principal, event: &event::Model) -> Option<String> {
    if principal.is_staff_reader() || own_action(principal, event) {
        event.actor_id.clone()
    } else {
        None
    }
}

/// Customers see only reasons they gave.
pub fn reason(principal: &Principal, event: &event::Model) -> Option<String> {
    if principal.is_staff_reader() || own_action(principal, event) {
        event.reason.clone()
    } else {
        None
    }
}

fn payload(event: &event::Model) -> serde_json::Value {
    serde_json::from_str(&event.payload).unwrap_or_default()
}

/// A one-line human summary of the event.
pub fn summary(event: &event::Model) -> String {
    let p = payload(event);
    let text = |k: &str| {
        p.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let channel = event
        .channel
        .as_deref()
        .unwrap_or("an unknown channel")
        .to_lowercase();
    match TimelineKind::parse(&event.kind) {
        Some(TimelineKind::OrderPlaced) => {
            let lines = p.get("lines").and_then(|v| v.as_i64()).unwrap_or(0);
            format!(
                "Order {} placed via {channel}: {lines} line{}, {} {}",
                text("number"),
                if lines == 1 { "" } else { "s" },
                text("total"),
                text("currency")
            )
        }
        Some(TimelineKind::NoteAdded) => {
            let body = text("body");
            let short: String = body.chars().take(80).collect();
            let ellipsis = if body.chars().count() > 80 { "…" } else { "" };
            format!(
                "Note by {}: {short}{ellipsis}",
                event.actor_id.as_deref().unwrap_or("staff")
            )
        }
        Some(TimelineKind::StockChanged) => {
            let sku = event.sku.as_deref().unwrap_or("?");
            let on_hand = p.get("onHand").and_then(|v| v.as_i64()).unwrap_or(0);
            if let Some(missing) = p.get("discrepancy").and_then(|v| v.as_i64()) {
                format!(
                    "Stock discrepancy: {missing} × {sku} sold in order {} that the records did not hold; recount",
                    text("orderNumber")
                )
            } else if p.get("sold").is_some() {
                format!(
                    "{sku} sold at the till in order {}: {on_hand} on hand",
                    text("sold")
                )
            } else if let Some(delta) = p.get("delta").and_then(|v| v.as_i64()) {
                format!(
                    "Stock of {sku} {delta:+} ({}): {on_hand} on hand",
                    text("reason")
                )
            } else {
                format!("Stock of {sku}: {on_hand} on hand")
            }
        }
        Some(TimelineKind::ShipmentUpdated) => {
            let order = text("orderNumber");
            if let Some(moved) = p.get("rerouted").and_then(|v| v.as_i64()) {
                format!(
                    "Order {order}: {moved} × {} re-routed to another location after a short pick",
                    text("sku")
                )
            } else if let Some(tracking) = p.get("tracking").and_then(|v| v.as_str()) {
                let place = p
                    .get("location")
                    .and_then(|v| v.as_str())
                    .map(|l| format!(" at {l}"))
                    .unwrap_or_default();
                let history = if p.get("history").and_then(|v| v.as_bool()) == Some(true) {
                    " (an earlier event, kept in the history)"
                } else {
                    ""
                };
                format!(
                    "Order {order}: {} reports {}{place}{history}",
                    text("carrier"),
                    humanize(tracking)
                )
            } else {
                let by = match (
                    p.get("carrier").and_then(|v| v.as_str()),
                    p.get("trackingNumber").and_then(|v| v.as_str()),
                ) {
                    (Some(c), Some(t)) => format!(" with {c} ({t})"),
                    (Some(c), None) => format!(" with {c}"),
                    _ => String::new(),
                };
                format!("Order {order}: shipment {}{by}", humanize(&text("status")))
            }
        }
        Some(TimelineKind::ShipmentDelayed) => {
            let order = text("orderNumber");
            match p.get("estimatedDeliveryDate").and_then(|v| v.as_str()) {
                Some(estimate) => format!(
                    "Order {order} is late: now expected {estimate}, promised {}",
                    text("promisedDate")
                ),
                None => format!(
                    "Order {order} is late: it was not dispatched in time for {}",
                    text("promisedDate")
                ),
            }
        }
        Some(TimelineKind::SubstitutionProposed) => format!(
            "Order {}: the store offers {} × {} instead of {}",
            text("orderNumber"),
            p.get("quantity").and_then(|v| v.as_i64()).unwrap_or(0),
            text("substituteName"),
            text("name")
        ),
        Some(TimelineKind::SubstitutionAnswered) => format!(
            "Order {}: substitute {} {}",
            text("orderNumber"),
            text("substituteName"),
            if text("status") == "ACCEPTED" {
                "accepted"
            } else {
                "declined"
            }
        ),
        Some(TimelineKind::OrderModified) => format!(
            "Order {}: delivery address changed to {}, {}",
            text("orderNumber"),
            text("city"),
            text("countryCode")
        ),
        Some(TimelineKind::OrderCancelled) => {
            format!(
                "Order {} cancelled ({})",
                text("orderNumber"),
                humanize(&text("reasonCode"))
            )
        }
        Some(TimelineKind::LinesCancelled) => format!(
            "Order {}: {} cancelled ({})",
            text("orderNumber"),
            units(&p),
            humanize(&text("reasonCode"))
        ),
        Some(TimelineKind::ReturnRequested) => {
            let place = match p.get("location").and_then(|v| v.as_str()) {
                Some(l) if text("method") != "CARRIER" => format!(" at {l}"),
                _ => String::new(),
            };
            let overridden = if p.get("override").and_then(|v| v.as_bool()) == Some(true) {
                ", accepted by a policy override"
            } else {
                ""
            };
            format!(
                "Return {} requested for order {}: {} ({}{place}){overridden}; refund of {} {} expected by {}",
                text("rmaNumber"),
                text("orderNumber"),
                units(&p),
                humanize(&text("method")),
                text("refund"),
                text("currency"),
                text("expectedBy")
            )
        }
        Some(TimelineKind::ReturnReceived) => format!(
            "Return {} received at {}: {}",
            text("rmaNumber"),
            text("location"),
            units(&p)
        ),
        Some(TimelineKind::RefundIssued) => format!(
            "Refund of {} {} issued for return {} (order {})",
            text("refund"),
            text("currency"),
            text("rmaNumber"),
            text("orderNumber")
        ),
        Some(TimelineKind::ReturnRejected) => format!(
            "Return {} for order {} rejected",
            text("rmaNumber"),
            text("orderNumber")
        ),
        Some(TimelineKind::ReturnCancelled) => format!(
            "Return {} for order {} cancelled",
            text("rmaNumber"),
            text("orderNumber")
        ),
        _ => humanize(&event.kind),
    }
}

/// `2 × SKU-1, 1 × SKU-2` from a payload's `lines`.
fn units(p: &serde_json::Value) -> String {
    let lines = p
        .get("lines")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let what: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} × {}",
                l["quantity"].as_i64().unwrap_or(0),
                l["sku"].as_str().unwrap_or("?")
            )
        })
        .collect();
    what.join(", ")
}

/// `OUT_FOR_DELIVERY` → `out for delivery`.
fn humanize(code: &str) -> String {
    code.replace('_', " ").to_lowercase()
}

fn kinds_condition(kinds: Option<&[TimelineKind]>) -> Vec<&'static str> {
    match kinds {
        Some(k) if !k.is_empty() => k.iter().map(|k| k.as_str()).collect(),
        _ => TimelineKind::ALL.iter().map(|k| k.as_str()).collect(),
    }
}

/// Restricts a query to what the viewer may see.
fn for_viewer(principal: &Principal, kinds: Vec<&'static str>) -> Condition {
    let kinds: Vec<&str> = match principal {
        Principal::Customer(_) => kinds
            .into_iter()
            .filter(|k| !STAFF_ONLY.iter().any(|s| s.as_str() == *k))
            .collect(),
        _ => kinds,
    };
    Condition::all().add(event::Column::Kind.is_in(kinds))
}

/// Where a timeline page or a subscription resumes: pages go back in time order, a
/// subscription's replay follows the sequence events were written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimelineCursor {
    pub occurred_at: DateTime<Utc>,
    pub seq: i64,
}

impl TimelineCursor {
    pub fn of(event: &event::Model) -> TimelineCursor {
        TimelineCursor {
            occurred_at: event.occurred_at,
            seq: event.seq,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "t:{}:{}",
            self.occurred_at.timestamp_micros(),
            self.seq
        ))
    }

    pub fn decode(raw: &str) -> Result<TimelineCursor, ServiceError> {
        let text = URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let parsed = text
            .as_deref()
            .and_then(|t| t.strip_prefix("t:"))
            .and_then(|t| {
                let (micros, seq) = t.split_once(':')?;
                let occurred_at = DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?;
                Some(TimelineCursor {
                    occurred_at,
                    seq: seq.parse().ok()?,
                })
            });
        parsed.ok_or_else(|| ServiceError::BadInput("malformed cursor".into()))
    }
}

/// A page of a timeline: newest first by when things happened.
#[derive(Clone, Copy, Debug)]
pub struct TimelinePage {
    pub size: u64,
    pub before: Option<TimelineCursor>,
}

impl TimelinePage {
    pub fn parse(first: Option<i32>, after: Option<&str>) -> Result<TimelinePage, ServiceError> {
        let size = PageRequest::parse(first, None)?.size;
        Ok(TimelinePage {
            size,
            before: after.map(TimelineCursor::decode).transpose()?,
        })
    }
}

async fn page(
    store: &Store,
    condition: Condition,
    request: TimelinePage,
) -> ServiceResult<Page<event::Model>> {
    let snapshot = store.read_snapshot().await?;
    let total = event::Entity::find()
        .filter(condition.clone())
        .count(&snapshot)
        .await?;
    let mut query = event::Entity::find().filter(condition);
    if let Some(before) = request.before {
        query = query.filter(
            Condition::any()
                .add(event::Column::OccurredAt.lt(before.occurred_at))
                .add(
                    Condition::all()
                        .add(event::Column::OccurredAt.eq(before.occurred_at))
                        .add(event::Column::Seq.lt(before.seq)),
                ),
        );
    }
    let rows = query
        .order_by_desc(event::Column::OccurredAt)
        .order_by_desc(event::Column::Seq)
        .limit(request.size + 1)
        .all(&snapshot)
        .await?;
    snapshot.commit().await?;
    let rows = rows
        .into_iter()
        .map(|e| (TimelineCursor::of(&e).encode(), e))
        .collect();
    Ok(Page::from_cursors(
        rows,
        request.size,
        request.before.is_some(),
        total,
    ))
}

/// Whether this role reads timelines at all (services and marketing do not).
pub fn reads_timelines(principal: &Principal) -> bool {
    matches!(
        principal.role(),
        Some(Role::Customer | Role::Agent | Role::Admin)
    )
}

/// `Customer.timeline`: None for roles that do not read timelines.
pub async fn customer_timeline(
    store: &Store,
    principal: &Principal,
    customer: CustomerId,
    kinds: Option<&[TimelineKind]>,
    request: TimelinePage,
) -> ServiceResult<Option<Page<event::Model>>> {
    if !reads_timelines(principal) || !customers::may_read(principal, customer) {
        return Ok(None);
    }
    let condition =
        for_viewer(principal, kinds_condition(kinds)).add(event::Column::CustomerId.eq(customer.0));
    Ok(Some(page(store, condition, request).await?))
}

/// `Order.timeline`: None for roles that do not read timelines.
pub async fn order_timeline(
    store: &Store,
    principal: &Principal,
    order: &order::Model,
    kinds: Option<&[TimelineKind]>,
    request: TimelinePage,
) -> ServiceResult<Option<Page<event::Model>>> {
    if !reads_timelines(principal) || !customers::may_read(principal, CustomerId(order.customer_id))
    {
        return Ok(None);
    }
    let condition =
        for_viewer(principal, kinds_condition(kinds)).add(event::Column::OrderId.eq(order.id));
    Ok(Some(page(store, condition, request).await?))
}

/// One entry by its sequence number, for `node(id:)`.
pub async fn entry(
    store: &Store,
    principal: &Principal,
    seq: i64,
) -> ServiceResult<Option<event::Model>> {
    let row = event::Entity::find_by_id(seq).one(&store.db).await?;
    Ok(row.filter(|e| visible(principal, e)))
}

/// What a subscription follows.
#[derive(Clone, Copy, Debug)]
pub enum Feed {
    Order(OrderId),
    CustomerOrders(CustomerId),
    Customer(CustomerId),
}

impl Feed {
    pub fn matches(&self, event: &event::Model) -> bool {
        match self {
            Feed::Order(id) => event.order_id == Some(id.0),
            Feed::CustomerOrders(id) => event.customer_id == Some(id.0) && event.order_id.is_some(),
            Feed::Customer(id) => event.customer_id == Some(id.0),
        }
    }

    fn condition(&self) -> Condition {
        match self {
            Feed::Order(id) => Condition::all().add(event::Column::OrderId.eq(id.0)),
            Feed::CustomerOrders(id) => Condition::all()
                .add(event::Column::CustomerId.eq(id.0))
                .add(event::Column::OrderId.is_not_null()),
            Feed::Customer(id) => Condition::all().add(event::Column::CustomerId.eq(id.0)),
        }
    }
}

/// Who may follow an order's events at all. A subscription given an ID of another type checks
/// this too, so the ID is refused exactly like a missing order.
pub fn require_order_follower(principal: &Principal) -> ServiceResult<()> {
    principal.require(&[Role::Customer, Role::Agent])?;
    Ok(())
}

/// Checks that the principal may follow the feed. A feed of what is not theirs reads as missing.
pub async fn authorize_feed(
    store: &Store,
    principal: &Principal,
    feed: Feed,
) -> ServiceResult<bool> {
    match feed {
        Feed::Order(id) => {
            require_order_follower(principal)?;
            Ok(orders::get_order(store, principal, id).await?.is_some())
        }
        Feed::CustomerOrders(id) => {
            principal.require(&[Role::Customer])?;
            Ok(matches!(principal, Principal::Customer(own) if *own == id))
        }
        Feed::Customer(id) => {
            principal.require(&[Role::Agent])?;
            Ok(customers::get_customer(store, principal, id)
                .await?
                .is_some())
        }
    }
}

/// Entries of a feed after a cursor, oldest first (a subscription's replay).
pub async fn replay(
    store: &Store,
    principal: &Principal,
    feed: Feed,
    after: i64,
    limit: u64,
) -> ServiceResult<Vec<event::Model>> {
    let condition = for_viewer(principal, kinds_condition(None))
        .add(feed.condition())
        .add(event::Column::Seq.gt(after));
    Ok(event::Entity::find()
        .filter(condition)
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(&store.db)
        .await?)
}

/// The stock level an event recorded, as it was then.
pub fn stock_snapshot(event: &event::Model) -> Option<crate::inventory::StockView> {
    let (location_id, sku) = (event.location_id?, event.sku.clone()?);
    let p = payload(event);
    let count = |k: &str| p.get(k).and_then(|v| v.as_i64()).map(|v| v as i32);
    Some(crate::inventory::StockView {
        location_id,
        sku,
        on_hand: count("onHand")?,
        reserved: count("reserved")?,
    })
}
