//! Domain events: appended to the `events` table inside the command's own transaction, then
//! read back in order by the dispatcher, which feeds the subscription bus.
pub mod bus;
pub mod dispatcher;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, Set, Statement};

use crate::auth::Principal;
use crate::clock;
use crate::db::entities::event;

/// The kinds of event the commands write. Timeline kinds share their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    OrderPlaced,
    StockChanged,
    CustomerUpdated,
    CatalogChanged,
    NoteAdded,
    LinesCancelled,
    OrderModified,
    OrderCancelled,
    ShipmentUpdated,
    ShipmentDelayed,
    SubstitutionProposed,
    SubstitutionAnswered,
    ReturnRequested,
    ReturnReceived,
    ReturnRejected,
    ReturnCancelled,
    RefundIssued,
    EmailSent,
    EmailFailed,
    EmailOpened,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::OrderPlaced => "ORDER_PLACED",
            EventKind::StockChanged => "STOCK_CHANGED",
            EventKind::CustomerUpdated => "CUSTOMER_UPDATED",
            EventKind::CatalogChanged => "CATALOG_CHANGED",
            EventKind::NoteAdded => "NOTE_ADDED",
            EventKind::LinesCancelled => "LINES_CANCELLED",
            EventKind::OrderModified => "ORDER_MODIFIED",
            EventKind::OrderCancelled => "ORDER_CANCELLED",
            EventKind::ShipmentUpdated => "SHIPMENT_UPDATED",
            EventKind::ShipmentDelayed => "SHIPMENT_DELAYED",
            EventKind::SubstitutionProposed => "SUBSTITUTION_PROPOSED",
            EventKind::SubstitutionAnswered => "SUBSTITUTION_ANSWERED",
            EventKind::ReturnRequested => "RETURN_REQUESTED",
            EventKind::ReturnReceived => "RETURN_RECEIVED",
            EventKind::ReturnRejected => "RETURN_REJECTED",
            EventKind::ReturnCancelled => "RETURN_CANCELLED",
            EventKind::RefundIssued => "REFUND_ISSUED",
            EventKind::EmailSent => "EMAIL_SENT",
            EventKind::EmailFailed => "EMAIL_FAILED",
            EventKind::EmailOpened => "EMAIL_OPENED",
        }
    }
}

/// One event to append; the keys are columns so readers can filter and authorize on them.
pub struct NewEvent<'a> {
    pub kind: EventKind,
    pub occurred_at: DateTime<Utc>,
    pub actor: &'a Principal,
    pub channel: Option<&'a str>,
    pub customer_id: Option<i64>,
    pub order_id: Option<i64>,
    pub location_id: Option<i64>,
    pub shipment_id: Option<i64>,
    pub return_id: Option<i64>,
    pub communication_id: Option<i64>,
    pub sku: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub payload: serde_json::Value,
}

impl<'a> NewEvent<'a> {
    pub fn new(kind: EventKind, actor: &'a Principal) -> NewEvent<'a> {
        NewEvent {
            kind,
            occurred_at: clock::now(),
            actor,
            channel: None,
            customer_id: None,
            order_id: None,
            location_id: None,
            shipment_id: None,
            return_id: None,
            communication_id: None,
            sku: None,
            reason: None,
            payload: serde_json::Value::Null,
        }
    }
}

/// Appends the event; call it with the command's transaction.
pub async fn append(conn: &impl ConnectionTrait, event: NewEvent<'_>) -> Result<i64, DbErr> {
    let row = event::ActiveModel {
        kind: Set(event.kind.as_str().to_owned()),
        occurred_at: Set(event.occurred_at),
        recorded_at: Set(clock::now()),
        actor_role: Set(event
            .actor
            .role()
            .map(|r| r.as_str())
            .unwrap_or("system")
            .to_owned()),
        actor_id: Set(event.actor.actor_id()),
        channel: Set(event.channel.map(str::to_owned)),
        customer_id: Set(event.customer_id),
        order_id: Set(event.order_id),
        location_id: Set(event.location_id),
        shipment_id: Set(event.shipment_id),
        return_id: Set(event.return_id),
        communication_id: Set(event.communication_id),
        sku: Set(event.sku.map(str::to_owned)),
        reason: Set(event.reason.map(str::to_owned)),
        payload: Set(event.payload.to_string()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    match (row.order_id, row.customer_id) {
        (Some(order_id), _) => {
            crate::metrics::projection::mark_order(conn, order_id, row.seq).await?
        }
        (None, Some(customer_id)) if event.kind == EventKind::CustomerUpdated => {
            crate::metrics::projection::mark_customer(conn, customer_id, row.seq).await?
        }
        _ => {}
    }
    if conn.get_database_backend() == DbBackend::Postgres {
        // Delivered on commit to every instance listening, so their dispatchers wake at once.
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), row.seq.to_string().into()],
        ))
        .await?;
    }
    Ok(row.seq)
}

/// The PostgreSQL notification channel that carries new event sequence numbers.
pub const CHANNEL: &str = "touchpoint_events";
