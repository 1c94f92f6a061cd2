//! The built-in sample: the demo dataset in a private in-memory database, with a schema of its
//! own, so templates are checked and previewed against real query results without touching
//! (or showing) any customer's data.
use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::kinds::{NotificationKind, Subject};
use crate::auth::{Principal, Role};
use crate::db::Store;
use crate::db::entities::{order, order_line, return_, shipment, substitution};
use crate::error::{ServiceError, ServiceResult};
use crate::graphql::{SchemaState, TouchpointSchema, build_schema};
use crate::ids::CustomerId;

pub struct Sample {
    pub store: Store,
    pub schema: TouchpointSchema,
    /// What each kind's sample message is about, and whose it is.
    subjects: HashMap<NotificationKind, (Subject, CustomerId)>,
}

impl Sample {
    /// The sample subject of a kind and the customer who reads it.
    pub fn subject(&self, kind: NotificationKind) -> Option<(Subject, CustomerId)> {
        self.subjects.get(&kind).copied()
    }
}

fn failed(what: &str) -> ServiceError {
    ServiceError::Internal(format!("the email sample has no {what}"))
}

/// Seeds the sample database: the demo data, a return (the demo's) and a proposed
/// substitution on a click-and-collect order.
pub async fn build(
    policy: &crate::returns::ReturnPolicy,
    public_url: &str,
) -> ServiceResult<Sample> {
    let name: [u8; 12] = rand::random();
    let url = format!(
        "sqlite:file:touchpoint-sample-{}?mode=memory&cache=shared",
        name.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let store = Store::connect(&url, Default::default()).await?;
    crate::demo::seed_if_empty(&store, policy)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let service = Principal::Staff {
        role: Role::Service,
        sub: "email-sample".into(),
        scopes: None,
    };
    // The demo's return is on a delivered web order; its shipment stands for every shipment kind.
    let ret = return_::Entity::find()
        .order_by_asc(return_::Column::Id)
        .one(&store.db)
        .await?
        .ok_or_else(|| failed("return"))?;
    let delivered = shipment::Entity::find()
        .filter(shipment::Column::OrderId.eq(ret.order_id))
        .one(&store.db)
        .await?
        .ok_or_else(|| failed("shipment"))?;
    let delivered_order = order::Entity::find_by_id(ret.order_id)
        .one(&store.db)
        .await?
        .ok_or_else(|| failed("order"))?;
    let collect = order::Entity::find()
        .filter(order::Column::DeliveryMethod.eq("CLICK_AND_COLLECT"))
        .order_by_asc(order::Column::Id)
        .one(&store.db)
        .await?
        .ok_or_else(|| failed("click-and-collect order"))?;
    let line = order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(collect.id))
        .one(&store.db)
        .await?
        .ok_or_else(|| failed("order line"))?;
    let substitute = if line.sku == "TEE-BLK-M" {
        "TEE-WHT-M"
    } else {
        "TEE-BLK-M"
    };
    let proposed = crate::fulfilment::propose_substitution(
        &store,
        &service,
        crate::fulfilment::Proposal {
            order_line_id: line.id,
            substitute_sku: substitute.into(),
            substitute_name: None,
            quantity: 1,
            unit_price: None,
        },
        None,
    )
    .await;
    let substitution = match proposed {
        Ok(s) => s,
        Err(_) => substitution::Entity::find()
            .one(&store.db)
            .await?
            .ok_or_else(|| failed("substitution"))?,
    };
    let collection_shipment = shipment::Entity::find()
        .filter(shipment::Column::OrderId.eq(collect.id))
        .one(&store.db)
        .await?;
    if let Some(s) = &collection_shipment {
        // Ready at the store, as the customer would be told; the demo leaves it earlier.
        let _ = crate::fulfilment::mark_ready_for_collection(&store, &service, s.id, None).await;
    }
    // A late parcel: the demo's web order whose carrier estimate is past the promise.
    let late = shipment::Entity::find()
        .filter(shipment::Column::IsDelayed.eq(true))
        .order_by_asc(shipment::Column::Id)
        .one(&store.db)
        .await?
        .unwrap_or_else(|| delivered.clone());
    let received = received_return(&store, &service, &ret).await?;
    let cancelled = cancelled_order(&store).await?;
    let mut subjects = HashMap::new();
    for kind in NotificationKind::ALL.iter().copied() {
        use NotificationKind::*;
        let (order, shipment_id, return_id, substitution_id) = match kind {
            OrderConfirmation | OrderModified => (&delivered_order, None, None, None),
            OrderCancelled => (&cancelled, None, None, None),
            ShipmentDispatched | ShipmentDelayed | OutForDelivery => {
                (&late_order(&store, &late).await?, Some(late.id), None, None)
            }
            Delivered => (&delivered_order, Some(delivered.id), None, None),
            ReadyForCollection => (
                &collect,
                collection_shipment.as_ref().map(|s| s.id),
                None,
                None,
            ),
            SubstitutionProposed => (&collect, None, None, Some(substitution.id)),
            ReturnRequested => (&delivered_order, None, Some(ret.id), None),
            ReturnReceived | RefundIssued => (&delivered_order, None, Some(received.id), None),
        };
        let subject = Subject {
            order_id: order.id,
            shipment_id,
            return_id,
            substitution_id,
        };
        subjects.insert(kind, (subject, CustomerId(order.customer_id)));
    }
    let state = SchemaState {
        store: store.clone(),
        bus: crate::events::bus::Bus::new(16),
        metrics: crate::telemetry::Metrics::new(),
        routing: crate::routing::engine::Weights::default(),
        returns: policy.clone(),
        public_url: public_url.to_owned(),
        outbox: None,
    };
    let schema = build_schema(state, &crate::config::Limits::default(), false);
    Ok(Sample {
        store,
        schema,
        subjects,
    })
}

async fn late_order(store: &Store, late: &shipment::Model) -> ServiceResult<order::Model> {
    order::Entity::find_by_id(late.order_id)
        .one(&store.db)
        .await?
        .ok_or_else(|| failed("order"))
}

/// A second return on the demo's delivered order, brought to a store and refunded there.
async fn received_return(
    store: &Store,
    service: &Principal,
    first: &return_::Model,
) -> ServiceResult<return_::Model> {
    let policy = crate::returns::ReturnPolicy::default();
    let line = order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(first.order_id))
        .order_by_desc(order_line::Column::Id)
        .one(&store.db)
        .await?
        .ok_or_else(|| failed("order line"))?;
    let store_code = crate::db::entities::location::Entity::find()
        .filter(crate::db::entities::location::Column::ReturnPoint.eq(true))
        .filter(crate::db::entities::location::Column::Kind.eq("STORE"))
        .one(&store.db)
        .await?
        .map(|l| l.code)
        .ok_or_else(|| failed("return point"))?;
    let customer = Principal::Customer(CustomerId(first.customer_id));
    let requested = crate::returns::request_return(
        store,
        &customer,
        &policy,
        crate::returns::NewReturn {
            order_id: crate::ids::OrderId(first.order_id),
            lines: vec![crate::returns::RequestedLine {
                line_id: line.id,
                quantity: 1,
                reason: "Changed my mind".into(),
            }],
            method: crate::returns::ReturnMethod::InStore,
            return_location_code: Some(store_code.clone()),
            channel: None,
            override_reason: None,
            reason: None,
        },
        None,
    )
    .await?;
    crate::returns::receive_return(
        store,
        service,
        &policy,
        crate::returns::Receipt {
            return_id: crate::ids::ReturnId(requested.id),
            location_code: store_code,
            restock: Some(true),
            lines: None,
        },
        None,
    )
    .await
}

/// One of the demo's orders that nothing has left yet, cancelled at the customer's request.
async fn cancelled_order(store: &Store) -> ServiceResult<order::Model> {
    let placed = order::Entity::find()
        .filter(order::Column::Status.eq("PLACED"))
        .filter(order::Column::DeliveryMethod.eq("SHIP_TO_ADDRESS"))
        .order_by_desc(order::Column::Id)
        .one(&store.db)
        .await?
        .ok_or_else(|| failed("order to cancel"))?;
    let customer = Principal::Customer(CustomerId(placed.customer_id));
    crate::selfservice::cancel_order(
        store,
        &customer,
        crate::ids::OrderId(placed.id),
        crate::selfservice::ChangeContext {
            expected_version: None,
            reason: None,
            reason_code: None,
        },
        None,
    )
    .await
}
