//! Order types.
use chrono::{DateTime, NaiveDate, Utc};

use crate::catalog::GeoPoint;
use crate::customers::CustomerInput;
use crate::money::Money;

text_enum!(
    /// Where an order came from.
    Channel { Web = "WEB", App = "APP", Store = "STORE", Marketplace = "MARKETPLACE", Phone = "PHONE" }
);

text_enum!(
    /// Who sold the goods, and so owns service and returns.
    SellerOfRecord { Brand = "BRAND", Retailer = "RETAILER", ThirdParty = "THIRD_PARTY" }
);

text_enum!(
    DeliveryMethod {
        ShipToAddress = "SHIP_TO_ADDRESS",
        ClickAndCollect = "CLICK_AND_COLLECT",
        CarryOut = "CARRY_OUT",
    }
);

text_enum!(
    /// Derived from the lines and shipments.
    OrderStatus {
        Placed = "PLACED",
        Processing = "PROCESSING",
        PartiallyDispatched = "PARTIALLY_DISPATCHED",
        Dispatched = "DISPATCHED",
        ReadyForCollection = "READY_FOR_COLLECTION",
        PartiallyDelivered = "PARTIALLY_DELIVERED",
        Delivered = "DELIVERED",
        Cancelled = "CANCELLED",
    }
);

/// A postal address, validated.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// One line as the channel sent it; name and price default from the product.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LineInput {
    pub sku: String,
    pub name: Option<String>,
    pub quantity: i32,
    pub unit_price: Option<MoneyInput>,
}

/// Money as given, before it is checked against the order's currency.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MoneyInput {
    pub minor: i64,
    pub currency: String,
}

impl From<&Money> for MoneyInput {
    fn from(m: &Money) -> Self {
        MoneyInput {
            minor: m.minor,
            currency: m.currency.code().to_owned(),
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DeliveryInput {
    pub method: DeliveryMethod,
    pub address: Option<Address>,
    pub collection_store_code: Option<String>,
    pub promised_date: Option<NaiveDate>,
}

/// `placeOrder`, parsed at the edge.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PlaceOrder {
    pub channel: Channel,
    pub channel_order_ref: String,
    pub store_code: Option<String>,
    pub marketplace: Option<String>,
    pub seller_of_record: Option<SellerOfRecord>,
    pub customer: Option<CustomerInput>,
    pub lines: Vec<LineInput>,
    pub delivery: DeliveryInput,
    pub shipping_cost: Option<MoneyInput>,
    pub placed_at: Option<DateTime<Utc>>,
}

/// Filters of `Customer.orders`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OrderFilter {
    pub channel: Option<Channel>,
    pub status: Option<OrderStatus>,
}

pub const MAX_LINES: usize = 200;
pub const MAX_LINE_QUANTITY: i32 = 10_000;
