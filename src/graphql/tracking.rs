//! Contract names whose capabilities land in a later issue (the tracking page). Each answers
//! NOT_IMPLEMENTED until its issue lands; none returns data.
use async_graphql::{Object, SimpleObject};

use super::catalog::Location;
use super::errors::not_implemented;
use super::fulfilment::{ShipmentStatus, TrackingEvent};
use super::orders::{DeliveryMethod, OrderStatus};
use super::scalars::{Date, DateTime};

#[derive(SimpleObject, Clone)]
pub struct TrackedLine {
    pub name: String,
    pub quantity: i32,
    pub image_url: Option<String>,
}

#[derive(SimpleObject, Clone)]
pub struct TrackedShipment {
    pub status: ShipmentStatus,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub estimated_delivery_date: Option<Date>,
    pub is_delayed: bool,
    pub events: Vec<TrackingEvent>,
}

/// What the tracking link shows: nothing personal beyond the delivery town.
#[derive(SimpleObject, Clone)]
pub struct TrackedOrder {
    pub number: String,
    pub status: OrderStatus,
    pub placed_at: DateTime,
    pub lines: Vec<TrackedLine>,
    pub delivery_method: DeliveryMethod,
    pub delivery_town: Option<String>,
    pub collection_store: Option<Location>,
    pub promised_date: Option<Date>,
    pub estimated_delivery_date: Option<Date>,
    pub is_delayed: bool,
    pub shipments: Vec<TrackedShipment>,
    pub returnable_until: Option<Date>,
}

// ---------------------------------------------------------------- operations

#[derive(Default)]
pub struct LaterQuery;

#[Object]
impl LaterQuery {
    /// The tracking page's data, by the token in its link; no other credential needed.
    async fn tracked_order(&self, token: String) -> async_graphql::Result<Option<TrackedOrder>> {
        let _ = token;
        not_implemented("trackedOrder")
    }
}
