//! The tracking page's data: `trackedOrder(token)`, the order an unguessable link opens, reduced
//! to what a stranger holding the link may see (no name, no address beyond the town, no email).
use super::catalog::{Location, load_location};
use super::errors::GqlResult;
use super::fulfilment::{ShipmentStatus, TrackingEvent, tracking_events};
use super::loaders::ProductSku;
use super::orders::{DeliveryMethod, Order, OrderStatus, delayed, estimated_delivery};
use super::scalars::{Date, DateTime};
use super::{load_error, loader, store};
use crate::db::entities::{order_line, shipment};
use async_graphql::{Context, Object};

pub struct TrackedLine(order_line::Model);

#[Object]
impl TrackedLine {
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Units still on the order (cancelled units left out).
    async fn quantity(&self) -> i32 {
        self.0.quantity - self.0.quantity_cancelled
    }
    async fn image_url(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(loader(ctx)
            .load_one(ProductSku(self.0.sku.clone()))
            .await
            .map_err(load_error)?
            .and_then(|p| p.image_url))
    }
}

pub struct TrackedShipment(shipment::Model);

#[Object]
impl TrackedShipment {
    async fn status(&self) -> ShipmentStatus {
        crate::fulfilment::ShipmentStatus::parse(&self.0.status)
            .unwrap_or(crate::fulfilment::ShipmentStatus::Pending)
            .into()
    }
    async fn carrier(&self) -> Option<&str> {
        self.0.carrier.as_deref()
    }
    async fn tracking_number(&self) -> Option<&str> {
        self.0.tracking_number.as_deref()
    }
    async fn tracking_url(&self) -> Option<&str> {
        self.0.tracking_url.as_deref()
    }
    async fn estimated_delivery_date(&self) -> Option<Date> {
        self.0.estimated_delivery_date.map(Date)
    }
    async fn is_delayed(&self) -> bool {
        self.0.is_delayed
    }
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TrackingEvent>> {
        tracking_events(ctx, self.0.id).await
    }
}

/// What the tracking link shows: nothing personal beyond the delivery town.
pub struct TrackedOrder(Order);

#[Object]
impl TrackedOrder {
    async fn number(&self) -> &str {
        &self.0.0.number
    }
    async fn status(&self) -> OrderStatus {
        crate::orders::OrderStatus::parse(&self.0.0.status)
            .unwrap_or(crate::orders::OrderStatus::Placed)
            .into()
    }
    async fn placed_at(&self) -> DateTime {
        DateTime(self.0.0.placed_at)
    }
    /// What was bought; lines cancelled in full are left out unless the whole order was.
    async fn lines(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TrackedLine>> {
        let lines = self.0.line_rows(ctx).await?;
        let open = lines.iter().any(|l| l.quantity > l.quantity_cancelled);
        Ok(lines
            .into_iter()
            .filter(|l| !open || l.quantity > l.quantity_cancelled)
            .map(|mut l| {
                if !open {
                    l.quantity_cancelled = 0;
                }
                TrackedLine(l)
            })
            .collect())
    }
    async fn delivery_method(&self) -> DeliveryMethod {
        crate::orders::DeliveryMethod::parse(&self.0.0.delivery_method)
            .unwrap_or(crate::orders::DeliveryMethod::ShipToAddress)
            .into()
    }
    /// The town of the delivery address; nothing else of it.
    async fn delivery_town(&self) -> Option<String> {
        crate::orders::address(&self.0.0).map(|a| a.city)
    }
    async fn collection_store(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Location>> {
        match self.0.0.collection_location_id {
            Some(id) => load_location(ctx, id).await,
            None => Ok(None),
        }
    }
    async fn promised_date(&self) -> Option<Date> {
        self.0.0.promised_date.map(Date)
    }
    async fn estimated_delivery_date(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Date>> {
        Ok(estimated_delivery(&self.0.shipment_rows(ctx).await?))
    }
    async fn is_delayed(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(delayed(&self.0.shipment_rows(ctx).await?))
    }
    async fn shipments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TrackedShipment>> {
        Ok(self
            .0
            .shipment_rows(ctx)
            .await?
            .into_iter()
            .map(TrackedShipment)
            .collect())
    }
    /// The last day anything on the order may still be sent back; null when nothing may.
    async fn returnable_until(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Date>> {
        Ok(super::returns::returnability(ctx, &self.0.0)
            .await?
            .into_iter()
            .filter(|(_, r)| r.quantity > 0)
            .filter_map(|(_, r)| r.until)
            .max()
            .map(Date))
    }
}

// ---------------------------------------------------------------- operations

#[derive(Default)]
pub struct TrackingQuery;

#[Object]
impl TrackingQuery {
    /// The tracking page's data, by the token in its link; no other credential needed.
    async fn tracked_order(
        &self,
        ctx: &Context<'_>,
        token: String,
    ) -> async_graphql::Result<Option<TrackedOrder>> {
        let row = crate::orders::order_by_tracking_token(store(ctx), &token)
            .await
            .gql()?;
        Ok(row.map(|o| TrackedOrder(Order(o))))
    }
}
