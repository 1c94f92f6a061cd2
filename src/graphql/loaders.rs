//! The relations behind the batched reads (see `batch`): each loads any number of keys in one statement.
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use super::batch::RowCache;
use crate::db::Store;
use crate::db::entities::{
    communication, customer, customer_identity, location, order, order_line, product, return_,
    return_line, routing_decision, shipment, shipment_line, substitution, tracking_event,
};
use crate::error::ServiceError;
use crate::{catalog, communications, customers, fulfilment, orders, returns};

pub struct Loaders {
    pub store: Store,
    /// Where a query's batcher keeps what it read (None: it keeps nothing).
    pub kept: Option<Arc<RowCache>>,
}

pub type LoadError = Arc<ServiceError>;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CustomerKey(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct IdentitiesOf(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct LocationKey(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct OrderKey(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct LinesOf(pub i64);
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct ProductSku(pub String);

fn err(e: ServiceError) -> LoadError {
    Arc::new(e)
}

impl Loader<CustomerKey> for Loaders {
    type Value = customer::Model;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[CustomerKey],
    ) -> Result<HashMap<CustomerKey, customer::Model>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = customers::customers_by_id(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|(id, c)| (CustomerKey(id), c))
            .collect())
    }
}

impl Loader<IdentitiesOf> for Loaders {
    type Value = Vec<customer_identity::Model>;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[IdentitiesOf],
    ) -> Result<HashMap<IdentitiesOf, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut rows = customers::identities_by_customer(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(ids
            .into_iter()
            .map(|id| (IdentitiesOf(id), rows.remove(&id).unwrap_or_default()))
            .collect())
    }
}

impl Loader<LocationKey> for Loaders {
    type Value = location::Model;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[LocationKey],
    ) -> Result<HashMap<LocationKey, location::Model>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = catalog::locations_by_id(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|(id, l)| (LocationKey(id), l))
            .collect())
    }
}

impl Loader<OrderKey> for Loaders {
    type Value = order::Model;
    type Error = LoadError;
    async fn load(&self, keys: &[OrderKey]) -> Result<HashMap<OrderKey, order::Model>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = orders::orders_by_id(&self.store, &ids).await.map_err(err)?;
        Ok(rows.into_iter().map(|(id, o)| (OrderKey(id), o)).collect())
    }
}

impl Loader<LinesOf> for Loaders {
    type Value = Vec<order_line::Model>;
    type Error = LoadError;
    async fn load(&self, keys: &[LinesOf]) -> Result<HashMap<LinesOf, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut rows = orders::lines_by_order(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(ids
            .into_iter()
            .map(|id| (LinesOf(id), rows.remove(&id).unwrap_or_default()))
            .collect())
    }
}

impl Loader<ProductSku> for Loaders {
    type Value = product::Model;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[ProductSku],
    ) -> Result<HashMap<ProductSku, product::Model>, LoadError> {
        let skus: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = catalog::products_by_sku(&self.store, &skus)
            .await
            .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|(sku, p)| (ProductSku(sku), p))
            .collect())
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ShipmentsOf(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ShipmentKey(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ShipmentLinesOf(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct TrackingOf(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct OrderLineKey(pub i64);

impl Loader<ShipmentsOf> for Loaders {
    type Value = Vec<shipment::Model>;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[ShipmentsOf],
    ) -> Result<HashMap<ShipmentsOf, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut rows = match &self.kept {
            // A query's shipments come with their lines in the same statement, kept for
            // `Shipment.lines`: nearly every read of shipments shows what they hold.
            Some(kept) => {
                let (shipments, lines) =
                    fulfilment::shipments_with_lines_by_order(&self.store, &ids)
                        .await
                        .map_err(err)?;
                kept.keep(lines.into_iter().map(|(id, l)| (ShipmentLinesOf(id), l)));
                shipments
            }
            None => fulfilment::shipments_by_order(&self.store, &ids)
                .await
                .map_err(err)?,
        };
        Ok(ids
            .into_iter()
            .map(|id| (ShipmentsOf(id), rows.remove(&id).unwrap_or_default()))
            .collect())
    }
}

impl Loader<ShipmentKey> for Loaders {
    type Value = shipment::Model;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[ShipmentKey],
    ) -> Result<HashMap<ShipmentKey, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = fulfilment::shipments_by_id(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|(id, s)| (ShipmentKey(id), s))
            .collect())
    }
}

impl Loader<ShipmentLinesOf> for Loaders {
    type Value = Vec<shipment_line::Model>;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[ShipmentLinesOf],
    ) -> Result<HashMap<ShipmentLinesOf, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut rows = fulfilment::lines_by_shipment(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(ids
            .into_iter()
            .map(|id| (ShipmentLinesOf(id), rows.remove(&id).unwrap_or_default()))
            .collect())
    }
}

impl Loader<TrackingOf> for Loaders {
    type Value = Vec<tracking_event::Model>;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[TrackingOf],
    ) -> Result<HashMap<TrackingOf, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut rows = fulfilment::tracking_by_shipment(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(ids
            .into_iter()
            .map(|id| (TrackingOf(id), rows.remove(&id).unwrap_or_default()))
            .collect())
    }
}

impl Loader<OrderLineKey> for Loaders {
    type Value = order_line::Model;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[OrderLineKey],
    ) -> Result<HashMap<OrderLineKey, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = orders::lines_by_id(&self.store, &ids).await.map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|(id, l)| (OrderLineKey(id), l))
            .collect())
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct RoutingOf(pub i64);

impl Loader<RoutingOf> for Loaders {
    type Value = routing_decision::Model;
    type Error = LoadError;
    async fn load(&self, keys: &[RoutingOf]) -> Result<HashMap<RoutingOf, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = orders::routing_by_order(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(rows.into_iter().map(|(id, r)| (RoutingOf(id), r)).collect())
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct SubstitutionsOf(pub i64);

impl Loader<SubstitutionsOf> for Loaders {
    type Value = Vec<substitution::Model>;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[SubstitutionsOf],
    ) -> Result<HashMap<SubstitutionsOf, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut rows = fulfilment::substitutions_by_order(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(ids
            .into_iter()
            .map(|id| (SubstitutionsOf(id), rows.remove(&id).unwrap_or_default()))
            .collect())
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ReturnsOf(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ReturnKey(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ReturnLinesOf(pub i64);

impl Loader<ReturnsOf> for Loaders {
    type Value = Vec<return_::Model>;
    type Error = LoadError;
    async fn load(&self, keys: &[ReturnsOf]) -> Result<HashMap<ReturnsOf, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut rows = returns::returns_by_order(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(ids
            .into_iter()
            .map(|id| (ReturnsOf(id), rows.remove(&id).unwrap_or_default()))
            .collect())
    }
}

impl Loader<ReturnKey> for Loaders {
    type Value = return_::Model;
    type Error = LoadError;
    async fn load(&self, keys: &[ReturnKey]) -> Result<HashMap<ReturnKey, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = returns::returns_by_id(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(rows.into_iter().map(|(id, r)| (ReturnKey(id), r)).collect())
    }
}

impl Loader<ReturnLinesOf> for Loaders {
    type Value = Vec<return_line::Model>;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[ReturnLinesOf],
    ) -> Result<HashMap<ReturnLinesOf, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut rows = returns::lines_by_return(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(ids
            .into_iter()
            .map(|id| (ReturnLinesOf(id), rows.remove(&id).unwrap_or_default()))
            .collect())
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CommunicationsOf(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CommunicationKey(pub i64);

impl Loader<CommunicationsOf> for Loaders {
    type Value = Vec<communication::Model>;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[CommunicationsOf],
    ) -> Result<HashMap<CommunicationsOf, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut rows = communications::service::by_order(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(ids
            .into_iter()
            .map(|id| (CommunicationsOf(id), rows.remove(&id).unwrap_or_default()))
            .collect())
    }
}

impl Loader<CommunicationKey> for Loaders {
    type Value = communication::Model;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[CommunicationKey],
    ) -> Result<HashMap<CommunicationKey, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = communications::service::by_id(&self.store, &ids)
            .await
            .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|(id, c)| (CommunicationKey(id), c))
            .collect())
    }
}
