//! Catalogue, locations and stock: types, queries and mutations.
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::errors::{GqlResult, UserError, outcome};
use super::loaders::LocationKey;
use super::scalars::{Money, MoneyInput};
use super::{load_error, loader, principal, store};
use crate::auth::Role;
use crate::catalog::{
    self as service, GeoPoint as DomainPoint, LocationFilter, LocationInput, ProductInput,
};
use crate::db::entities::{location, product};
use crate::error::{Refusal, ServiceError};
use crate::ids::{LocationId, ProductId};
use crate::inventory::{self, AdjustStock, SetStock, StockView};
use crate::money::{self, Currency};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::catalog::LocationKind")]
pub enum LocationKind {
    Warehouse,
    Store,
    ThirdPartyLogistics,
    Dropship,
}

#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

impl From<DomainPoint> for GeoPoint {
    fn from(p: DomainPoint) -> Self {
        GeoPoint {
            latitude: p.latitude,
            longitude: p.longitude,
        }
    }
}

#[derive(InputObject, Clone, Copy, Debug)]
pub struct GeoPointInput {
    pub latitude: f64,
    pub longitude: f64,
}

impl GeoPointInput {
    pub fn parse(&self, field: &[&str]) -> Result<DomainPoint, Refusal> {
        DomainPoint::parse(self.latitude, self.longitude).ok_or_else(|| {
            Refusal::invalid(
                field,
                "latitude must be within ±90 and longitude within ±180",
            )
        })
    }
}

#[derive(Clone)]
pub struct Product(pub product::Model);

#[Object]
impl Product {
    pub async fn id(&self) -> ID {
        ID(ProductId(self.0.id).global())
    }
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }
    async fn image_url(&self) -> Option<&str> {
        self.0.image_url.as_deref()
    }
    async fn care_instructions(&self) -> Option<&str> {
        self.0.care_instructions.as_deref()
    }
    async fn returnable(&self) -> bool {
        self.0.returnable
    }
    async fn related_skus(&self) -> Vec<String> {
        service::related_skus(&self.0)
    }
    async fn price(&self) -> Option<Money> {
        let minor = self.0.price_minor?;
        let currency = Currency::stored(self.0.currency.as_deref()?);
        Some(money::Money::new(minor, currency).into())
    }
}

#[derive(Clone)]
pub struct Location(pub location::Model);

#[Object]
impl Location {
    pub async fn id(&self) -> ID {
        ID(LocationId(self.0.id).global())
    }
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn kind(&self) -> LocationKind {
        crate::catalog::LocationKind::parse(&self.0.kind)
            .unwrap_or(crate::catalog::LocationKind::Warehouse)
            .into()
    }
    async fn location(&self) -> GeoPoint {
        GeoPoint {
            latitude: self.0.latitude,
            longitude: self.0.longitude,
        }
    }
    async fn pickup_point(&self) -> bool {
        self.0.pickup_point
    }
    async fn return_point(&self) -> bool {
        self.0.return_point
    }
    async fn shipping_cost(&self) -> Money {
        money::Money::new(
            self.0.shipping_cost_minor,
            Currency::stored(&self.0.currency),
        )
        .into()
    }
    /// Days from order to dispatch at this location; transit time is added by distance.
    async fn handling_days(&self) -> i32 {
        self.0.handling_days
    }
    async fn country_code(&self) -> Option<&str> {
        self.0.country_code.as_deref()
    }
}

/// Loads a location through the request's batcher.
pub async fn load_location(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Location>> {
    Ok(loader(ctx)
        .load_one(LocationKey(id))
        .await
        .map_err(load_error)?
        .map(Location))
}

#[derive(Clone)]
pub struct StockLevel(pub StockView);

#[Object]
impl StockLevel {
    async fn location(&self, ctx: &Context<'_>) -> async_graphql::Result<Location> {
        load_location(ctx, self.0.location_id)
            .await?
            .ok_or_else(|| {
                super::errors::gql_error(ServiceError::Internal("stock without location".into()))
            })
    }
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    /// Null for anonymous callers and customers.
    async fn on_hand(&self, ctx: &Context<'_>) -> Option<i32> {
        sees_counts(ctx).then_some(self.0.on_hand)
    }
    /// Null for anonymous callers and customers.
    async fn reserved(&self, ctx: &Context<'_>) -> Option<i32> {
        sees_counts(ctx).then_some(self.0.reserved)
    }
    async fn available(&self) -> i32 {
        self.0.available()
    }
}

fn sees_counts(ctx: &Context<'_>) -> bool {
    !matches!(principal(ctx).role(), None | Some(Role::Customer))
}

#[derive(SimpleObject, Clone)]
pub struct SkuAvailability {
    pub sku: String,
    pub available: i32,
    pub locations: Vec<StockLevel>,
}

#[derive(InputObject)]
pub struct UpsertProductInput {
    pub sku: String,
    pub name: String,
    pub category: Option<String>,
    pub image_url: Option<String>,
    pub care_instructions: Option<String>,
    pub returnable: Option<bool>,
    pub related_skus: Option<Vec<String>>,
    pub price: Option<MoneyInput>,
}

impl UpsertProductInput {
    fn parse(self) -> Result<ProductInput, ServiceError> {
        let mut refusals = Vec::new();
        let sku = service::check_code(&self.sku, "sku")
            .map_err(|r| refusals.push(r))
            .ok();
        let name = service::check_text(&self.name, "name", 200)
            .map_err(|r| refusals.push(r))
            .ok();
        let price = self
            .price
            .as_ref()
            .and_then(|p| p.parse(&["price"]).map_err(|r| refusals.push(r)).ok());
        let related = self.related_skus.map(|skus| {
            skus.iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let index = i.to_string();
                    service::check_code(s, "relatedSkus")
                        .map_err(|_| {
                            refusals.push(Refusal::invalid(
                                &["relatedSkus", &index],
                                "not a valid sku",
                            ))
                        })
                        .ok()
                })
                .collect::<Vec<_>>()
        });
        let optional =
            |v: Option<String>, field: &str, max: usize, refusals: &mut Vec<Refusal>| match v {
                Some(s) if s.trim().is_empty() => None,
                Some(s) => service::check_text(&s, field, max)
                    .map_err(|r| refusals.push(r))
                    .ok(),
                None => None,
            };
        let category = optional(self.category, "category", 100, &mut refusals);
        let image_url = match self.image_url {
            Some(s) if s.trim().is_empty() => None,
            Some(s) => service::check_http_url(&s, "imageUrl", 2000)
                .map_err(|r| refusals.push(r))
                .ok(),
            None => None,
        };
        let care_instructions = optional(
            self.care_instructions,
            "careInstructions",
            4000,
            &mut refusals,
        );
        match (sku, name) {
            (Some(sku), Some(name)) if refusals.is_empty() => Ok(ProductInput {
                sku,
                name,
                category,
                image_url,
                care_instructions,
                returnable: self.returnable,
                related_skus: related,
                price,
            }),
            _ => Err(ServiceError::Refused(refusals)),
        }
    }
}

#[derive(SimpleObject)]
pub struct ProductPayload {
    pub product: Option<Product>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct UpsertLocationInput {
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    pub location: GeoPointInput,
    pub pickup_point: Option<bool>,
    pub return_point: Option<bool>,
    pub shipping_cost: Option<MoneyInput>,
    pub handling_days: Option<i32>,
    /// ISO 3166-1 alpha-2; routing prefers locations in the customer's country.
    pub country_code: Option<String>,
}

impl UpsertLocationInput {
    fn parse(self) -> Result<LocationInput, ServiceError> {
        let mut refusals = Vec::new();
        let code = service::check_code(&self.code, "code")
            .map_err(|r| refusals.push(r))
            .ok();
        let name = service::check_text(&self.name, "name", 200)
            .map_err(|r| refusals.push(r))
            .ok();
        let point = self
            .location
            .parse(&["location"])
            .map_err(|r| refusals.push(r))
            .ok();
        let shipping_cost = self.shipping_cost.as_ref().and_then(|m| {
            m.parse(&["shippingCost"])
                .map_err(|r| refusals.push(r))
                .ok()
        });
        if let Some(days) = self.handling_days
            && !(0..=60).contains(&days)
        {
            refusals.push(Refusal::invalid(
                &["handlingDays"],
                "handlingDays must be between 0 and 60",
            ));
        }
        let country_code = self
            .country_code
            .as_deref()
            .map(|c| c.trim().to_uppercase());
        if country_code
            .as_ref()
            .is_some_and(|c| c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
        {
            refusals.push(Refusal::invalid(
                &["countryCode"],
                "countryCode is two letters (ISO 3166-1)",
            ));
        }
        match (code, name, point) {
            (Some(code), Some(name), Some(point)) if refusals.is_empty() => Ok(LocationInput {
                code,
                name,
                kind: self.kind.into(),
                point,
                pickup_point: self.pickup_point,
                return_point: self.return_point,
                shipping_cost,
                handling_days: self.handling_days,
                country_code,
            }),
            _ => Err(ServiceError::Refused(refusals)),
        }
    }
}

#[derive(SimpleObject)]
pub struct LocationPayload {
    pub location: Option<Location>,
    pub user_errors: Vec<UserError>,
}

/// A stock count. onHand below the reserved quantity is INVALID.
#[derive(InputObject)]
pub struct SetStockLevelInput {
    pub location_code: String,
    pub sku: String,
    pub on_hand: i32,
    /// The onHand the count was taken against; a different current value is VERSION_CONFLICT.
    pub expected_on_hand: Option<i32>,
}

/// A movement: goods received (positive) or written off (negative).
#[derive(InputObject)]
pub struct AdjustStockLevelInput {
    pub location_code: String,
    pub sku: String,
    pub delta: i32,
    pub reason: String,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct StockLevelPayload {
    pub stock_level: Option<StockLevel>,
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// Anonymous callers must name the skus (at most 100).
    async fn products(
        &self,
        ctx: &Context<'_>,
        skus: Option<Vec<String>>,
    ) -> async_graphql::Result<Vec<Product>> {
        let rows = service::products(store(ctx), principal(ctx), skus)
            .await
            .gql()?;
        Ok(rows.into_iter().map(Product).collect())
    }

    /// Anonymous callers see pickup and return points only.
    async fn locations(
        &self,
        ctx: &Context<'_>,
        kinds: Option<Vec<LocationKind>>,
        pickup_point: Option<bool>,
        return_point: Option<bool>,
    ) -> async_graphql::Result<Vec<Location>> {
        let filter = LocationFilter {
            kinds: kinds.map(|k| k.into_iter().map(Into::into).collect()),
            pickup_point,
            return_point,
        };
        let rows = service::locations(store(ctx), principal(ctx), filter)
            .await
            .gql()?;
        Ok(rows.into_iter().map(Location).collect())
    }

    async fn availability(
        &self,
        ctx: &Context<'_>,
        skus: Vec<String>,
        near: Option<GeoPointInput>,
    ) -> async_graphql::Result<Vec<SkuAvailability>> {
        if skus.len() > service::MAX_ANONYMOUS_SKUS {
            return Err(super::errors::gql_error(ServiceError::BadInput(
                "ask for at most 100 skus".into(),
            )));
        }
        let near = match near {
            Some(p) => Some(
                p.parse(&["near"])
                    .map_err(|r| super::errors::gql_error(r.into()))?,
            ),
            None => None,
        };
        let (rows, _) = inventory::availability(store(ctx), &skus, near)
            .await
            .gql()?;
        Ok(rows
            .into_iter()
            .map(|a| SkuAvailability {
                sku: a.sku,
                available: a.available,
                locations: a.locations.into_iter().map(StockLevel).collect(),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    async fn upsert_product(
        &self,
        ctx: &Context<'_>,
        input: UpsertProductInput,
    ) -> async_graphql::Result<ProductPayload> {
        principal(ctx).require(&[Role::Service]).gql()?;
        let result = match input.parse() {
            Ok(input) => service::upsert_product(store(ctx), principal(ctx), input).await,
            Err(e) => Err(e),
        };
        let (product, user_errors) = outcome(result)?;
        Ok(ProductPayload {
            product: product.map(Product),
            user_errors,
        })
    }

    async fn upsert_location(
        &self,
        ctx: &Context<'_>,
        input: UpsertLocationInput,
    ) -> async_graphql::Result<LocationPayload> {
        principal(ctx).require(&[Role::Service]).gql()?;
        let result = match input.parse() {
            Ok(input) => service::upsert_location(store(ctx), principal(ctx), input).await,
            Err(e) => Err(e),
        };
        let (location, user_errors) = outcome(result)?;
        Ok(LocationPayload {
            location: location.map(Location),
            user_errors,
        })
    }

    async fn set_stock_level(
        &self,
        ctx: &Context<'_>,
        input: SetStockLevelInput,
    ) -> async_graphql::Result<StockLevelPayload> {
        let input = SetStock {
            location_code: input.location_code,
            sku: input.sku,
            on_hand: input.on_hand,
            expected_on_hand: input.expected_on_hand,
        };
        let (level, user_errors) =
            outcome(inventory::set_stock_level(store(ctx), principal(ctx), input).await)?;
        Ok(StockLevelPayload {
            stock_level: level.map(StockLevel),
            user_errors,
        })
    }

    async fn adjust_stock_level(
        &self,
        ctx: &Context<'_>,
        input: AdjustStockLevelInput,
    ) -> async_graphql::Result<StockLevelPayload> {
        let input = AdjustStock {
            location_code: input.location_code,
            sku: input.sku,
            delta: input.delta,
            reason: input.reason,
            idempotency_key: input.idempotency_key,
        };
        let (level, user_errors) =
            outcome(inventory::adjust_stock_level(store(ctx), principal(ctx), input).await)?;
        Ok(StockLevelPayload {
            stock_level: level.map(StockLevel),
            user_errors,
        })
    }
}
