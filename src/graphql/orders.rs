//! Orders: intake from every channel and the order graph the portals and desks read.
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::catalog::{GeoPoint, GeoPointInput, Location, Product, load_location};
use super::communications::Communication;
use super::connection::connection;
use super::customers::{Channel, Customer, CustomerInput};
use super::errors::{GqlResult, UserError, gql_error, malformed_id, outcome};
use super::fulfilment::Shipment;
use super::fulfilment::Substitution;
use super::loaders::{CustomerKey, LinesOf, ProductSku};
use super::returns::{Return, ReturnableLine};
use super::routing::RoutingDecision;
use super::scalars::{Date, DateTime, Money, MoneyInput};
use super::selfservice::OrderActions;
use super::timeline::{TimelineConnection, TimelineKind};
use super::{load_error, loader, principal, state, store};
use crate::catalog::check_text;
use crate::db::entities::{order, order_line, shipment};
use crate::error::{Refusal, ServiceError};
use crate::ids::{GlobalId, NodeType, OrderId, OrderLineId};
use crate::money::Currency;
use crate::orders::{self as service, PlaceOrder};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::orders::SellerOfRecord")]
pub enum SellerOfRecord {
    Brand,
    Retailer,
    ThirdParty,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::orders::DeliveryMethod")]
pub enum DeliveryMethod {
    ShipToAddress,
    ClickAndCollect,
    CarryOut,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::orders::OrderStatus")]
pub enum OrderStatus {
    Placed,
    Processing,
    PartiallyDispatched,
    Dispatched,
    ReadyForCollection,
    PartiallyDelivered,
    Delivered,
    Cancelled,
}

#[derive(SimpleObject, Clone)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country_code: String,
    pub phone: Option<String>,
    pub location: Option<GeoPoint>,
}

impl From<service::Address> for Address {
    fn from(a: service::Address) -> Self {
        Address {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country_code: a.country_code,
            phone: a.phone,
            location: a.location.map(Into::into),
        }
    }
}

#[derive(InputObject, Clone)]
pub struct AddressInput {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country_code: String,
    pub phone: Option<String>,
    pub location: Option<GeoPointInput>,
}

impl AddressInput {
    pub fn parse(&self, prefix: &[&str]) -> Result<service::Address, Vec<Refusal>> {
        let mut refusals = Vec::new();
        let mut keep =
            |r: Result<String, Refusal>| r.map_err(|e| refusals.push(e.under(prefix))).ok();
        let name = keep(check_text(&self.name, "name", 200));
        let line1 = keep(check_text(&self.line1, "line1", 200));
        let line2 = match self.line2.as_deref().map(str::trim) {
            Some("") | None => None,
            Some(v) => keep(check_text(v, "line2", 200)),
        };
        let city = keep(check_text(&self.city, "city", 100));
        let postal_code = keep(check_text(&self.postal_code, "postalCode", 20));
        let phone = self
            .phone
            .as_deref()
            .and_then(|p| keep(crate::customers::check_phone(p, "phone")));
        let country_code = self.country_code.trim().to_uppercase();
        if country_code.len() != 2 || !country_code.chars().all(|c| c.is_ascii_alphabetic()) {
            refusals.push(
                Refusal::invalid(&["countryCode"], "countryCode is two letters (ISO 3166-1)")
                    .under(prefix),
            );
        }
        let location = self.location.and_then(|p| {
            p.parse(&["location"])
                .map_err(|e| refusals.push(e.under(prefix)))
                .ok()
        });
        match (name, line1, city, postal_code) {
            (Some(name), Some(line1), Some(city), Some(postal_code)) if refusals.is_empty() => {
                Ok(service::Address {
                    name,
                    line1,
                    line2,
                    city,
                    postal_code,
                    country_code,
                    phone,
                    location,
                })
            }
            _ => Err(refusals),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct Delivery {
    pub method: DeliveryMethod,
    pub address: Option<Address>,
    pub collection_store: Option<Location>,
    pub promised_date: Option<Date>,
}

#[derive(InputObject, Clone)]
pub struct DeliveryInput {
    pub method: DeliveryMethod,
    pub address: Option<AddressInput>,
    pub collection_store_code: Option<String>,
    pub promised_date: Option<Date>,
}

impl DeliveryInput {
    /// Parses the delivery; refusals are placed under `delivery`.
    pub fn parse(&self) -> Result<service::DeliveryInput, Vec<Refusal>> {
        let address = match &self.address {
            Some(a) => Some(a.parse(&["delivery", "address"])?),
            None => None,
        };
        Ok(service::DeliveryInput {
            method: self.method.into(),
            address,
            collection_store_code: self
                .collection_store_code
                .as_ref()
                .map(|s| s.trim().to_owned()),
            promised_date: self.promised_date.map(|d| d.0),
        })
    }
}

#[derive(SimpleObject, Clone)]
pub struct OrderTotals {
    pub subtotal: Money,
    pub shipping: Money,
    pub total: Money,
    pub refunded: Money,
}

#[derive(Clone)]
pub struct OrderLine {
    pub line: order_line::Model,
    pub currency: String,
}

#[Object]
impl OrderLine {
    pub async fn id(&self) -> ID {
        ID(OrderLineId(self.line.id).global())
    }
    async fn sku(&self) -> &str {
        &self.line.sku
    }
    async fn name(&self) -> &str {
        &self.line.name
    }
    async fn quantity(&self) -> i32 {
        self.line.quantity
    }
    async fn quantity_cancelled(&self) -> i32 {
        self.line.quantity_cancelled
    }
    async fn quantity_dispatched(&self) -> i32 {
        self.line.quantity_dispatched
    }
    async fn quantity_delivered(&self) -> i32 {
        self.line.quantity_delivered
    }
    async fn quantity_returned(&self) -> i32 {
        self.line.quantity_returned
    }
    /// How many of this line may still be cancelled now, by this viewer.
    async fn cancellable_quantity(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        super::selfservice::cancellable_quantity(ctx, self.line.order_id, self.line.id).await
    }
    async fn unit_price(&self) -> Money {
        crate::money::Money::new(self.line.unit_price_minor, Currency::stored(&self.currency))
            .into()
    }
    async fn total(&self) -> Money {
        crate::money::Money::new(self.line.unit_price_minor, Currency::stored(&self.currency))
            .times(self.line.quantity)
            .into()
    }
    async fn product(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Product>> {
        Ok(loader(ctx)
            .load_one(ProductSku(self.line.sku.clone()))
            .await
            .map_err(load_error)?
            .map(Product))
    }
}

#[derive(Clone)]
pub struct Order(pub order::Model);

connection!(OrderConnection, OrderEdge, Order);

/// The latest estimate of the shipments still on their way or delivered.
pub(crate) fn estimated_delivery(shipments: &[shipment::Model]) -> Option<Date> {
    shipments
        .iter()
        .filter(|s| s.status != crate::fulfilment::ShipmentStatus::Cancelled.as_str())
        .filter_map(|s| s.estimated_delivery_date)
        .max()
        .map(Date)
}

/// True while any shipment is delayed.
pub(crate) fn delayed(shipments: &[shipment::Model]) -> bool {
    shipments.iter().any(|s| {
        s.is_delayed
            && !crate::fulfilment::ShipmentStatus::parse(&s.status).is_some_and(|st| st.is_final())
    })
}

impl Order {
    pub(crate) async fn shipment_rows(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<shipment::Model>> {
        let rows = loader(ctx)
            .load_one(super::loaders::ShipmentsOf(self.0.id))
            .await
            .map_err(load_error)?;
        Ok(rows.unwrap_or_default())
    }

    pub(crate) async fn line_rows(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<order_line::Model>> {
        Ok(loader(ctx)
            .load_one(LinesOf(self.0.id))
            .await
            .map_err(load_error)?
            .unwrap_or_default())
    }
}

#[Object]
impl Order {
    pub async fn id(&self) -> ID {
        ID(OrderId(self.0.id).global())
    }
    async fn number(&self) -> &str {
        &self.0.number
    }
    async fn channel(&self) -> Channel {
        crate::orders::Channel::parse(&self.0.channel)
            .unwrap_or(crate::orders::Channel::Web)
            .into()
    }
    async fn channel_order_ref(&self) -> &str {
        &self.0.channel_order_ref
    }
    async fn marketplace(&self) -> Option<&str> {
        self.0.marketplace.as_deref()
    }
    async fn store(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Location>> {
        match self.0.store_location_id {
            Some(id) => load_location(ctx, id).await,
            None => Ok(None),
        }
    }
    async fn seller_of_record(&self) -> SellerOfRecord {
        crate::orders::SellerOfRecord::parse(&self.0.seller_of_record)
            .unwrap_or(crate::orders::SellerOfRecord::Brand)
            .into()
    }
    async fn status(&self) -> OrderStatus {
        crate::orders::OrderStatus::parse(&self.0.status)
            .unwrap_or(crate::orders::OrderStatus::Placed)
            .into()
    }
    async fn placed_at(&self) -> DateTime {
        DateTime(self.0.placed_at)
    }
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        loader(ctx)
            .load_one(CustomerKey(self.0.customer_id))
            .await
            .map_err(load_error)?
            .map(Customer)
            .ok_or_else(|| {
                gql_error(ServiceError::Internal(format!(
                    "order {} has no customer",
                    self.0.id
                )))
            })
    }
    async fn lines(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OrderLine>> {
        let currency = self.0.currency.clone();
        Ok(self
            .line_rows(ctx)
            .await?
            .into_iter()
            .map(|line| OrderLine {
                line,
                currency: currency.clone(),
            })
            .collect())
    }
    async fn delivery(&self, ctx: &Context<'_>) -> async_graphql::Result<Delivery> {
        let collection_store = match self.0.collection_location_id {
            Some(id) => load_location(ctx, id).await?,
            None => None,
        };
        Ok(Delivery {
            method: crate::orders::DeliveryMethod::parse(&self.0.delivery_method)
                .unwrap_or(crate::orders::DeliveryMethod::ShipToAddress)
                .into(),
            address: service::address(&self.0).map(Into::into),
            collection_store,
            promised_date: self.0.promised_date.map(Date),
        })
    }
    /// The latest estimate of the shipments still on their way or delivered.
    async fn estimated_delivery_date(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Date>> {
        Ok(estimated_delivery(&self.shipment_rows(ctx).await?))
    }
    /// True while any shipment is delayed.
    async fn is_delayed(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(delayed(&self.shipment_rows(ctx).await?))
    }
    async fn totals(&self) -> OrderTotals {
        let o = &self.0;
        OrderTotals {
            subtotal: service::money(o, o.subtotal_minor).into(),
            shipping: service::money(o, o.shipping_minor).into(),
            total: service::money(o, o.subtotal_minor + o.shipping_minor).into(),
            refunded: service::money(o, o.refunded_minor).into(),
        }
    }
    async fn shipments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Shipment>> {
        Ok(self
            .shipment_rows(ctx)
            .await?
            .into_iter()
            .map(|s| Shipment(s, Some(self.0.currency.clone())))
            .collect())
    }
    async fn returns(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Return>> {
        super::returns::order_returns(ctx, self.0.id).await
    }
    /// What was sent about the order, oldest first, exactly as sent.
    async fn communications(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Communication>> {
        super::communications::order_communications(ctx, self.0.id).await
    }
    /// Null for services.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        kinds: Option<Vec<TimelineKind>>,
    ) -> async_graphql::Result<Option<TimelineConnection>> {
        super::timeline::order_timeline(ctx, &self.0, first, after, kinds).await
    }
    async fn substitutions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Substitution>> {
        let rows = loader(ctx)
            .load_one(super::loaders::SubstitutionsOf(self.0.id))
            .await
            .map_err(load_error)?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(Substitution)
            .collect())
    }
    /// Agents and services; null for customers.
    async fn routing(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<RoutingDecision>> {
        if !service::may_read_routing(principal(ctx)) {
            return Ok(None);
        }
        let row = loader(ctx)
            .load_one(super::loaders::RoutingOf(self.0.id))
            .await
            .map_err(load_error)?;
        Ok(row.map(|r| RoutingDecision::stored(r, &self.0)))
    }
    /// What this order allows now, and why not, in words a customer understands.
    async fn allowed_actions(&self, ctx: &Context<'_>) -> async_graphql::Result<OrderActions> {
        super::selfservice::allowed_actions(ctx, &self.0).await
    }
    /// What each line may still return under the policy: how many, until when, or why not.
    async fn returnable_lines(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ReturnableLine>> {
        super::returns::returnable_lines(ctx, &self.0).await
    }
    /// Products related to what the order holds, in stock somewhere, not already in it.
    async fn recommendations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<Product>> {
        let first = first.unwrap_or(4).clamp(0, 20) as usize;
        let rows = service::recommendations(store(ctx), self.0.id, first)
            .await
            .gql()?;
        Ok(rows.into_iter().map(Product).collect())
    }
    /// The branded tracking page for this order (an unguessable, order-scoped link); null for marketing.
    async fn tracking_page_url(&self, ctx: &Context<'_>) -> Option<String> {
        service::tracking_page_url(principal(ctx), &self.0, &state(ctx).public_url)
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

#[derive(InputObject, Clone)]
pub struct OrderLineInput {
    pub sku: String,
    /// Defaults to the product's name.
    pub name: Option<String>,
    pub quantity: i32,
    /// Defaults to the product's price.
    pub unit_price: Option<MoneyInput>,
}

#[derive(InputObject, Clone)]
pub struct PlaceOrderInput {
    pub channel: Channel,
    /// Unique within (channel, scope): the scope is the marketplace name for MARKETPLACE orders and
    /// the store code for STORE orders (none for the others). A replay with the same content returns
    /// the original order with replayed: true; the same reference with different content is DUPLICATE.
    pub channel_order_ref: String,
    /// The store where a STORE order was placed.
    pub store_code: Option<String>,
    pub marketplace: Option<String>,
    pub seller_of_record: Option<SellerOfRecord>,
    /// Required except for anonymous CARRY_OUT sales at a till.
    pub customer: Option<CustomerInput>,
    pub lines: Vec<OrderLineInput>,
    pub delivery: DeliveryInput,
    pub shipping_cost: Option<MoneyInput>,
    pub placed_at: Option<DateTime>,
}

impl PlaceOrderInput {
    fn parse(self) -> Result<PlaceOrder, ServiceError> {
        let mut refusals = Vec::new();
        let customer = self
            .customer
            .as_ref()
            .and_then(|c| c.parse(&["customer"]).map_err(|r| refusals.extend(r)).ok());
        let mut lines = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            let index = i.to_string();
            let unit_price = match &line.unit_price {
                Some(m) => match m.parse(&["lines", &index, "unitPrice"]) {
                    Ok(m) => Some((&m).into()),
                    Err(r) => {
                        refusals.push(r);
                        continue;
                    }
                },
                None => None,
            };
            lines.push(service::LineInput {
                sku: line.sku.clone(),
                name: line.name.clone(),
                quantity: line.quantity,
                unit_price,
            });
        }
        let delivery = self.delivery.parse().map_err(|r| refusals.extend(r)).ok();
        let shipping_cost = self
            .shipping_cost
            .as_ref()
            .and_then(|m| {
                m.parse(&["shippingCost"])
                    .map_err(|r| refusals.push(r))
                    .ok()
            })
            .map(|m| (&m).into());
        let (Some(delivery), true) = (delivery, refusals.is_empty()) else {
            return Err(ServiceError::Refused(refusals));
        };
        Ok(PlaceOrder {
            channel: self.channel.into(),
            channel_order_ref: self.channel_order_ref.trim().to_owned(),
            store_code: self.store_code.map(|s| s.trim().to_owned()),
            marketplace: self.marketplace.map(|s| s.trim().to_owned()),
            seller_of_record: self.seller_of_record.map(Into::into),
            customer,
            lines,
            delivery,
            shipping_cost,
            placed_at: self.placed_at.map(|d| d.0),
        })
    }
}

#[derive(SimpleObject)]
pub struct PlaceOrderPayload {
    pub order: Option<Order>,
    /// True when this call replayed an order placed before.
    pub replayed: bool,
    pub user_errors: Vec<UserError>,
}

/// Decodes an order ID argument: malformed is BAD_USER_INPUT, another type is None.
pub fn order_id(raw: &ID) -> async_graphql::Result<Option<OrderId>> {
    let id = GlobalId::decode(raw).map_err(|_| malformed_id())?;
    Ok(id.of(NodeType::Order).map(OrderId))
}

#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    async fn order(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Order>> {
        let Some(id) = order_id(&id)? else {
            service::require_order_reader(principal(ctx)).gql()?;
            return Ok(None);
        };
        Ok(service::get_order(store(ctx), principal(ctx), id)
            .await
            .gql()?
            .map(Order))
    }

    async fn order_by_number(
        &self,
        ctx: &Context<'_>,
        number: String,
    ) -> async_graphql::Result<Option<Order>> {
        Ok(
            service::order_by_number(store(ctx), principal(ctx), &number)
                .await
                .gql()?
                .map(Order),
        )
    }

    /// The order an integration placed; scope is the marketplace name or store code when the channel has several.
    async fn order_by_channel_ref(
        &self,
        ctx: &Context<'_>,
        channel: Channel,
        channel_order_ref: String,
        scope: Option<String>,
    ) -> async_graphql::Result<Option<Order>> {
        let found = service::order_by_channel_ref(
            store(ctx),
            principal(ctx),
            channel.into(),
            &channel_order_ref,
            scope.as_deref(),
        )
        .await
        .gql()?;
        Ok(found.map(Order))
    }
}

#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
    async fn place_order(
        &self,
        ctx: &Context<'_>,
        input: PlaceOrderInput,
    ) -> async_graphql::Result<PlaceOrderPayload> {
        principal(ctx)
            .require(&[crate::auth::Role::Service, crate::auth::Role::Agent])
            .gql()?;
        let result = match input.parse() {
            Ok(input) => {
                service::place_order(
                    store(ctx),
                    principal(ctx),
                    input,
                    &super::state(ctx).routing,
                )
                .await
            }
            Err(e) => Err(e),
        };
        let (placed, user_errors) = outcome(result)?;
        Ok(PlaceOrderPayload {
            replayed: placed.as_ref().is_some_and(|p| p.replayed),
            order: placed.map(|p| Order(p.order)),
            user_errors,
        })
    }
}

/// A quantity of one order line: with cancelOrderLines, the quantity to cancel.
#[derive(InputObject, Clone)]
pub struct LineQuantityInput {
    pub line_id: ID,
    pub quantity: i32,
}

pub type LineQuantityInputs = Option<Vec<LineQuantityInput>>;
