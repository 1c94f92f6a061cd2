//! Fixture builders. Everything goes through the public API with a service token.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::harness::{TestApp, expect_data, expect_ok};

pub const USER_ERRORS: &str = "userErrors { field code message }";

pub const ORDER_FIELDS: &str = "id number channel channelOrderRef marketplace status version placedAt
    store { code }
    customer { id email identities { channel externalId } }
    lines { id sku name quantity unitPrice { amount currencyCode } total { amount currencyCode } }
    totals { subtotal { amount currencyCode } shipping { amount currencyCode } total { amount currencyCode } }
    delivery { method address { name line1 city postalCode countryCode } }";

pub fn place_order_mutation() -> String {
    format!(
        "mutation($input: PlaceOrderInput!) {{ placeOrder(input: $input) {{ replayed order {{ {ORDER_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

/// The catalogue `seed_catalog` creates.
pub mod seed {
    /// Linen shirt, 19.90 EUR.
    pub const SHIRT: &str = "SKU-1";
    /// Canvas tote, 12.50 EUR.
    pub const TOTE: &str = "SKU-2";
    /// Warehouse near Rotterdam; neither a pickup nor a return point. 50 of each sku.
    pub const WAREHOUSE: &str = "WH-1";
    /// Store in Amsterdam; pickup and return point. 5 of each sku.
    pub const STORE_A: &str = "ST-1";
    /// Store in Utrecht; pickup and return point. 5 of each sku.
    pub const STORE_B: &str = "ST-2";
}

impl TestApp {
    /// Two products, a warehouse and two stores, with stock everywhere (see `seed`).
    pub async fn seed_catalog(&self) {
        ProductBuilder::new(seed::SHIRT)
            .name("Linen shirt")
            .price("19.90", "EUR")
            .create(self)
            .await;
        ProductBuilder::new(seed::TOTE)
            .name("Canvas tote")
            .price("12.50", "EUR")
            .create(self)
            .await;
        LocationBuilder::warehouse(seed::WAREHOUSE)
            .at(51.92, 4.48)
            .create(self)
            .await;
        LocationBuilder::store(seed::STORE_A)
            .at(52.37, 4.90)
            .create(self)
            .await;
        LocationBuilder::store(seed::STORE_B)
            .at(52.09, 5.12)
            .create(self)
            .await;
        for sku in [seed::SHIRT, seed::TOTE] {
            self.set_stock(seed::WAREHOUSE, sku, 50).await;
            self.set_stock(seed::STORE_A, sku, 5).await;
            self.set_stock(seed::STORE_B, sku, 5).await;
        }
    }

    /// `setStockLevel` as a service; asserts it succeeded and returns the stock level.
    pub async fn set_stock(&self, location_code: &str, sku: &str, on_hand: i64) -> Value {
        let resp = self
            .as_service(
                &format!(
                    "mutation($input: SetStockLevelInput!) {{ setStockLevel(input: $input) {{
                        stockLevel {{ sku onHand reserved available location {{ code }} }} {USER_ERRORS} }} }}"
                ),
                json!({ "input": { "locationCode": location_code, "sku": sku, "onHand": on_hand } }),
            )
            .await;
        expect_ok(&resp, "setStockLevel")["stockLevel"].clone()
    }

    /// Every stock level of `skus` as a service sees it: (sku, location code) -> stock.
    pub async fn stock_snapshot(&self, skus: &[&str]) -> BTreeMap<(String, String), Stock> {
        let resp = self
            .as_service(
                "query($skus: [String!]!) { availability(skus: $skus) {
                    sku available locations { location { code } sku onHand reserved available } } }",
                json!({ "skus": skus }),
            )
            .await;
        let mut snapshot = BTreeMap::new();
        for sku in expect_data(&resp)["availability"]
            .as_array()
            .expect("availability list")
        {
            for level in sku["locations"].as_array().expect("locations list") {
                let key = (
                    level["sku"].as_str().unwrap_or_default().to_string(),
                    level["location"]["code"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
                snapshot.insert(key, Stock::from_json(level));
            }
        }
        snapshot
    }

    /// One stock level as a service sees it (zeros when the location holds none of the sku).
    pub async fn stock_at(&self, location_code: &str, sku: &str) -> Stock {
        self.stock_snapshot(&[sku])
            .await
            .remove(&(sku.to_string(), location_code.to_string()))
            .unwrap_or_default()
    }

    /// `SkuAvailability.available`: the total over every location.
    pub async fn total_available(&self, sku: &str) -> i64 {
        let resp = self
            .as_service(
                "query($skus: [String!]!) { availability(skus: $skus) { sku available } }",
                json!({ "skus": [sku] }),
            )
            .await;
        expect_data(&resp)["availability"][0]["available"]
            .as_i64()
            .unwrap_or_else(|| panic!("no availability for {sku}: {resp}"))
    }

    /// `orderByChannelRef` as a service; `Value::Null` when there is no such order.
    pub async fn order_by_channel_ref(
        &self,
        channel: &str,
        reference: &str,
        scope: Option<&str>,
    ) -> Value {
        let resp = self
            .as_service(
                "query($channel: Channel!, $ref: String!, $scope: String) {
                    orderByChannelRef(channel: $channel, channelOrderRef: $ref, scope: $scope) { id channelOrderRef } }",
                json!({ "channel": channel, "ref": reference, "scope": scope }),
            )
            .await;
        expect_data(&resp)["orderByChannelRef"].clone()
    }

    /// `upsertCustomer` as a service; asserts success and returns the customer.
    pub async fn create_customer(&self, input: Value) -> Value {
        let resp = self
            .as_service(
                &format!(
                    "mutation($input: CustomerInput!) {{ upsertCustomer(input: $input) {{
                        customer {{ id email firstName lastName phone locale identities {{ channel externalId }} }}
                        {USER_ERRORS} }} }}"
                ),
                json!({ "input": input }),
            )
            .await;
        expect_ok(&resp, "upsertCustomer")["customer"].clone()
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stock {
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

impl Stock {
    fn from_json(level: &Value) -> Stock {
        Stock {
            on_hand: level["onHand"].as_i64().unwrap_or(-1),
            reserved: level["reserved"].as_i64().unwrap_or(-1),
            available: level["available"].as_i64().unwrap_or(-1),
        }
    }
}

// -------------------------------------------------------------------------- products

pub struct ProductBuilder {
    input: Value,
}

impl ProductBuilder {
    pub fn new(sku: &str) -> Self {
        ProductBuilder {
            input: json!({ "sku": sku, "name": format!("Product {sku}"), "returnable": true }),
        }
    }

    pub fn name(mut self, name: &str) -> Self {
        self.input["name"] = json!(name);
        self
    }

    pub fn price(mut self, amount: &str, currency: &str) -> Self {
        self.input["price"] = json!({ "amount": amount, "currencyCode": currency });
        self
    }

    /// Whether the return policy takes the product back (`true` unless told otherwise).
    pub fn returnable(mut self, yes: bool) -> Self {
        self.input["returnable"] = json!(yes);
        self
    }

    pub fn input(&self) -> Value {
        self.input.clone()
    }

    /// Creates (or updates) the product and returns it; asserts success.
    pub async fn create(self, app: &TestApp) -> Value {
        let resp = upsert_product(app, self.input).await;
        expect_ok(&resp, "upsertProduct")["product"].clone()
    }
}

/// `upsertProduct` as a service; the whole response.
pub async fn upsert_product(app: &TestApp, input: Value) -> Value {
    app.as_service(
        &format!(
            "mutation($input: UpsertProductInput!) {{ upsertProduct(input: $input) {{
                product {{ id sku name category returnable relatedSkus price {{ amount currencyCode }} }}
                {USER_ERRORS} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

// -------------------------------------------------------------------------- locations

pub struct LocationBuilder {
    input: Value,
}

impl LocationBuilder {
    pub fn new(code: &str, kind: &str) -> Self {
        LocationBuilder {
            input: json!({
                "code": code,
                "name": format!("Location {code}"),
                "kind": kind,
                "location": { "latitude": 52.0, "longitude": 5.0 },
                "pickupPoint": false,
                "returnPoint": false,
                "shippingCost": { "amount": "4.95", "currencyCode": "EUR" },
                "handlingDays": 1,
            }),
        }
    }

    /// Neither a pickup nor a return point.
    pub fn warehouse(code: &str) -> Self {
        Self::new(code, "WAREHOUSE")
    }

    /// A pickup and return point.
    pub fn store(code: &str) -> Self {
        Self::new(code, "STORE")
            .pickup_point(true)
            .return_point(true)
    }

    pub fn at(mut self, latitude: f64, longitude: f64) -> Self {
        self.input["location"] = json!({ "latitude": latitude, "longitude": longitude });
        self
    }

    pub fn handling_days(mut self, days: i64) -> Self {
        self.input["handlingDays"] = json!(days);
        self
    }

    pub fn pickup_point(mut self, yes: bool) -> Self {
        self.input["pickupPoint"] = json!(yes);
        self
    }

    pub fn return_point(mut self, yes: bool) -> Self {
        self.input["returnPoint"] = json!(yes);
        self
    }

    pub fn input(&self) -> Value {
        self.input.clone()
    }

    /// Creates (or updates) the location and returns it; asserts success.
    pub async fn create(self, app: &TestApp) -> Value {
        let resp = upsert_location(app, self.input).await;
        expect_ok(&resp, "upsertLocation")["location"].clone()
    }
}

pub async fn upsert_location(app: &TestApp, input: Value) -> Value {
    app.as_service(
        &format!(
            "mutation($input: UpsertLocationInput!) {{ upsertLocation(input: $input) {{
                location {{ id code name kind location {{ latitude longitude }} pickupPoint returnPoint
                    shippingCost {{ amount currencyCode }} handlingDays }}
                {USER_ERRORS} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

// -------------------------------------------------------------------------- orders

/// A `placeOrder` input: a WEB order shipped to an address in Amsterdam, for
/// `shopper@example.test`, with a fresh channelOrderRef, unless told otherwise.
pub struct OrderBuilder {
    input: Value,
}

impl Default for OrderBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl OrderBuilder {
    pub fn new() -> Self {
        static NEXT_REF: AtomicU64 = AtomicU64::new(1);
        let reference = format!("REF-{}", NEXT_REF.fetch_add(1, Ordering::Relaxed));
        OrderBuilder {
            input: json!({
                "channel": "WEB",
                "channelOrderRef": reference,
                "customer": { "email": "shopper@example.test" },
                "lines": [],
                "delivery": { "method": "SHIP_TO_ADDRESS", "address": default_address() },
            }),
        }
    }

    pub fn channel(mut self, channel: &str) -> Self {
        self.input["channel"] = json!(channel);
        self
    }

    pub fn channel_ref(mut self, reference: &str) -> Self {
        self.input["channelOrderRef"] = json!(reference);
        self
    }

    pub fn marketplace(mut self, marketplace: &str) -> Self {
        self.input["channel"] = json!("MARKETPLACE");
        self.input["marketplace"] = json!(marketplace);
        self
    }

    /// A STORE sale at a till of `store_code`, carried out of the store.
    pub fn store_sale(mut self, store_code: &str) -> Self {
        self.input["channel"] = json!("STORE");
        self.input["storeCode"] = json!(store_code);
        self.input["delivery"] = json!({ "method": "CARRY_OUT" });
        self
    }

    pub fn line(mut self, sku: &str, quantity: i64) -> Self {
        push_line(&mut self.input, json!({ "sku": sku, "quantity": quantity }));
        self
    }

    pub fn line_priced(mut self, sku: &str, quantity: i64, amount: &str, currency: &str) -> Self {
        push_line(
            &mut self.input,
            json!({ "sku": sku, "quantity": quantity, "unitPrice": { "amount": amount, "currencyCode": currency } }),
        );
        self
    }

    pub fn customer_email(mut self, email: &str) -> Self {
        self.input["customer"] = json!({ "email": email });
        self
    }

    /// Replaces the whole CustomerInput.
    pub fn customer(mut self, customer: Value) -> Self {
        self.input["customer"] = customer;
        self
    }

    /// No customer at all (an anonymous sale at a till).
    pub fn anonymous(mut self) -> Self {
        if let Some(input) = self.input.as_object_mut() {
            input.remove("customer");
        }
        self
    }

    pub fn ship_to(mut self, address: Value) -> Self {
        self.input["delivery"] = json!({ "method": "SHIP_TO_ADDRESS", "address": address });
        self
    }

    pub fn shipping_cost(mut self, amount: &str, currency: &str) -> Self {
        self.input["shippingCost"] = json!({ "amount": amount, "currencyCode": currency });
        self
    }

    /// CLICK_AND_COLLECT at `store_code`.
    pub fn collect_at(mut self, store_code: &str) -> Self {
        self.input["delivery"] =
            json!({ "method": "CLICK_AND_COLLECT", "collectionStoreCode": store_code });
        self
    }

    /// Sets `delivery.promisedDate` (YYYY-MM-DD) on whatever delivery the order has.
    pub fn promised(mut self, date: &str) -> Self {
        self.input["delivery"]["promisedDate"] = json!(date);
        self
    }

    pub fn placed_at(mut self, rfc3339: &str) -> Self {
        self.input["placedAt"] = json!(rfc3339);
        self
    }

    /// Sets any input field directly.
    pub fn set(mut self, key: &str, value: Value) -> Self {
        self.input[key] = value;
        self
    }

    pub fn input(&self) -> Value {
        self.input.clone()
    }

    /// `placeOrder` as a service; the whole response.
    pub async fn place(&self, app: &TestApp) -> Value {
        self.place_with(app, Some(&app.service_token())).await
    }

    /// `placeOrder` with any token (or none); the whole response.
    pub async fn place_with(&self, app: &TestApp, token: Option<&str>) -> Value {
        app.gql(
            token,
            &place_order_mutation(),
            json!({ "input": self.input }),
        )
        .await
    }

    /// Places as a service, asserts success, and returns the order.
    pub async fn place_ok(&self, app: &TestApp) -> Value {
        let resp = self.place(app).await;
        expect_ok(&resp, "placeOrder")["order"].clone()
    }
}

fn push_line(input: &mut Value, line: Value) {
    input["lines"]
        .as_array_mut()
        .expect("lines is a list")
        .push(line);
}

pub fn default_address() -> Value {
    json!({
        "name": "Sam Shopper",
        "line1": "Damrak 1",
        "city": "Amsterdam",
        "postalCode": "1012 LG",
        "countryCode": "NL",
        "location": { "latitude": 52.376, "longitude": 4.895 },
    })
}

/// `s` as a string, or a panic naming what was missing.
#[track_caller]
pub fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"))
}

// -------------------------------------------------------------------------- timeline and notes

/// The TimelineEntry fields the suites read (every role may select them).
pub const ENTRY_FIELDS: &str = "id cursor kind occurredAt channel actor { role id } summary reason
    order { id number placedAt } stockLevel { sku available location { code } }";

pub const NOTE_FIELDS: &str = "id body author createdAt";

pub fn add_note_mutation() -> String {
    format!(
        "mutation($input: AddCustomerNoteInput!) {{ addCustomerNote(input: $input) {{
            note {{ {NOTE_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

/// `customer(id:) { timeline(...) }` with paging and kinds.
pub fn customer_timeline_query() -> String {
    format!(
        "query($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!]) {{
            customer(id: $id) {{ timeline(first: $first, after: $after, kinds: $kinds) {{
                totalCount
                pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
                edges {{ cursor node {{ {ENTRY_FIELDS} }} }} }} }} }}"
    )
}

/// `me { timeline(...) }` for a customer token.
pub fn my_timeline_query() -> String {
    format!(
        "query($first: Int, $after: String, $kinds: [TimelineKind!]) {{
            me {{ timeline(first: $first, after: $after, kinds: $kinds) {{
                totalCount
                pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
                edges {{ cursor node {{ {ENTRY_FIELDS} }} }} }} }} }}"
    )
}

/// `order(id:) { timeline(...) }`.
pub fn order_timeline_query() -> String {
    format!(
        "query($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!]) {{
            order(id: $id) {{ timeline(first: $first, after: $after, kinds: $kinds) {{
                totalCount
                pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
                edges {{ cursor node {{ {ENTRY_FIELDS} }} }} }} }} }}"
    )
}

/// The nodes of a connection's edges, in order.
#[track_caller]
pub fn nodes(connection: &Value) -> Vec<Value> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// The `kind` of each entry.
pub fn kinds(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("<no kind>").to_string())
        .collect()
}

impl TestApp {
    /// A customer with this email (through `upsertCustomer`); returns its global ID.
    pub async fn new_customer(&self, email: &str) -> String {
        let customer = self.create_customer(json!({ "email": email })).await;
        str_of(&customer["id"], "customer id").to_string()
    }

    /// Places a WEB order of one tote for the customer with this email, as a service; returns
    /// the order.
    pub async fn order_for(&self, email: &str) -> Value {
        OrderBuilder::new()
            .customer_email(email)
            .line(seed::TOTE, 1)
            .place_ok(self)
            .await
    }

    /// `addCustomerNote` with any token (or none); the whole response.
    pub async fn add_note_with(&self, token: Option<&str>, input: Value) -> Value {
        self.gql(token, &add_note_mutation(), json!({ "input": input }))
            .await
    }

    /// `addCustomerNote` as agent-1; asserts success and returns the note.
    pub async fn add_note(&self, customer_id: &str, body: &str) -> Value {
        let resp = self
            .add_note_with(
                Some(&self.agent_token()),
                json!({ "customerId": customer_id, "body": body }),
            )
            .await;
        expect_ok(&resp, "addCustomerNote")["note"].clone()
    }

    /// The customer's timeline as agent-1 reads it (`first: 100`), newest first.
    pub async fn agent_timeline(&self, customer_id: &str) -> Vec<Value> {
        let resp = self
            .as_agent(
                &customer_timeline_query(),
                json!({ "id": customer_id, "first": 100 }),
            )
            .await;
        let connection = &expect_data(&resp)["customer"]["timeline"];
        assert!(
            connection.is_object(),
            "an agent reads the timeline: {}",
            crate::harness::pretty(&resp)
        );
        nodes(connection)
    }
}

// -------------------------------------------------------------------------- fulfilment

/// The Shipment fields the fulfilment suites read.
pub const SHIPMENT_FIELDS: &str = "id status carrier trackingNumber trackingUrl
    estimatedDeliveryDate dispatchBy dispatchedAt deliveredAt isDelayed
    location { code }
    lines { line { id sku } quantity }
    events { status occurredAt description location estimatedDeliveryDate }";

/// An order as the fulfilment suites read it (with its shipments).
pub fn fulfilment_order_fields() -> String {
    format!(
        "id number status version isDelayed estimatedDeliveryDate placedAt customer {{ id }}
        delivery {{ method promisedDate }}
        lines {{ id sku name quantity quantityCancelled quantityDispatched quantityDelivered
            unitPrice {{ amount currencyCode }} total {{ amount currencyCode }} }}
        totals {{ subtotal {{ amount currencyCode }} shipping {{ amount currencyCode }} total {{ amount currencyCode }} }}
        shipments {{ {SHIPMENT_FIELDS} }}"
    )
}

/// A RoutingDecision selection.
pub const ROUTING_FIELDS: &str = "strategy decidedAt candidates { chosen shipments score distanceKm
    cost { amount currencyCode } meetsPromise explanation locations { code }
    allocations { location { code } sku quantity } }";

pub fn update_shipment_status_mutation() -> String {
    format!(
        "mutation($input: UpdateShipmentStatusInput!) {{ updateShipmentStatus(input: $input) {{
            shipment {{ {SHIPMENT_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

pub fn record_tracking_event_mutation() -> String {
    format!(
        "mutation($input: RecordTrackingEventInput!) {{ recordTrackingEvent(input: $input) {{
            shipment {{ {SHIPMENT_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

pub fn mark_ready_for_collection_mutation() -> String {
    format!(
        "mutation($input: MarkReadyForCollectionInput!) {{ markReadyForCollection(input: $input) {{
            shipment {{ {SHIPMENT_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

/// A fresh tracking number (unique within the process).
pub fn tracking_number() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("3STEST{:06}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Today (UTC) plus `days` (negative for the past), as `YYYY-MM-DD`.
pub fn day(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string()
}

/// Now (UTC) plus `hours` (negative for the past), RFC 3339 with whole seconds.
pub fn at_hours(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Parses a DateTime the API printed.
#[track_caller]
pub fn parse_time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    let s = str_of(value, "DateTime");
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s} is not RFC 3339: {e}"))
        .with_timezone(&chrono::Utc)
}

/// `order.shipments`, as a list.
#[track_caller]
pub fn shipments_of(order: &Value) -> Vec<Value> {
    order["shipments"]
        .as_array()
        .unwrap_or_else(|| panic!("no shipments list: {order}"))
        .clone()
}

/// The only shipment of `order`.
#[track_caller]
pub fn only_shipment(order: &Value) -> Value {
    let shipments = shipments_of(order);
    assert_eq!(
        shipments.len(),
        1,
        "expected exactly one shipment:\n{}",
        crate::harness::pretty(order)
    );
    shipments[0].clone()
}

/// The shipment of `order` at `location_code`.
#[track_caller]
pub fn shipment_at(order: &Value, location_code: &str) -> Value {
    shipments_of(order)
        .into_iter()
        .find(|s| s["location"]["code"] == location_code)
        .unwrap_or_else(|| {
            panic!(
                "no shipment at {location_code}:\n{}",
                crate::harness::pretty(order)
            )
        })
}

/// The location codes of `order`'s shipments, sorted.
pub fn shipment_locations(order: &Value) -> Vec<String> {
    let mut codes: Vec<String> = shipments_of(order)
        .iter()
        .map(|s| {
            s["location"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    codes.sort();
    codes
}

impl TestApp {
    /// `order(id)` with the fulfilment fields, as a service.
    pub async fn fulfilment_order(&self, order_id: &Value) -> Value {
        let resp = self
            .as_service(
                &format!(
                    "query($id: ID!) {{ order(id: $id) {{ {} }} }}",
                    fulfilment_order_fields()
                ),
                json!({ "id": order_id }),
            )
            .await;
        let order = expect_data(&resp)["order"].clone();
        assert!(order.is_object(), "no order {order_id}: {resp}");
        order
    }

    /// Places `order` as a service (asserting success) and reads it back with its shipments.
    pub async fn place_fulfilment(&self, order: &OrderBuilder) -> Value {
        let placed = order.place_ok(self).await;
        self.fulfilment_order(&placed["id"]).await
    }

    /// `updateShipmentStatus` as a service; the whole response.
    pub async fn update_shipment(&self, input: Value) -> Value {
        self.update_shipment_with(Some(&self.service_token()), input)
            .await
    }

    /// `updateShipmentStatus` with any token; the whole response.
    pub async fn update_shipment_with(&self, token: Option<&str>, input: Value) -> Value {
        self.gql(
            token,
            &update_shipment_status_mutation(),
            json!({ "input": input }),
        )
        .await
    }

    /// Moves a shipment to `status` (no other input) as a service; asserts success.
    pub async fn move_shipment(&self, shipment_id: &Value, status: &str) -> Value {
        let resp = self
            .update_shipment(json!({ "shipmentId": shipment_id, "status": status }))
            .await;
        expect_ok(&resp, "updateShipmentStatus")["shipment"].clone()
    }

    /// DISPATCHED with a carrier and tracking number as a service; asserts success.
    pub async fn dispatch(&self, shipment_id: &Value, carrier: &str, tracking: &str) -> Value {
        let resp = self
            .update_shipment(json!({
                "shipmentId": shipment_id,
                "status": "DISPATCHED",
                "carrier": carrier,
                "trackingNumber": tracking,
                "trackingUrl": format!("https://track.example.test/{tracking}"),
            }))
            .await;
        expect_ok(&resp, "updateShipmentStatus")["shipment"].clone()
    }

    /// `recordTrackingEvent` as a service; the whole response.
    pub async fn record_tracking(&self, input: Value) -> Value {
        self.record_tracking_with(Some(&self.service_token()), input)
            .await
    }

    pub async fn record_tracking_with(&self, token: Option<&str>, input: Value) -> Value {
        self.gql(
            token,
            &record_tracking_event_mutation(),
            json!({ "input": input }),
        )
        .await
    }

    /// A carrier event (carrier, number, status, occurredAt) as a service; asserts success.
    pub async fn track(
        &self,
        carrier: &str,
        number: &str,
        status: &str,
        occurred_at: &str,
    ) -> Value {
        let resp = self
            .record_tracking(json!({
                "carrier": carrier, "trackingNumber": number,
                "status": status, "occurredAt": occurred_at,
            }))
            .await;
        expect_ok(&resp, "recordTrackingEvent")["shipment"].clone()
    }

    /// `markReadyForCollection` with any token; the whole response.
    pub async fn mark_ready_with(&self, token: Option<&str>, shipment_id: &Value) -> Value {
        self.gql(
            token,
            &mark_ready_for_collection_mutation(),
            json!({ "input": { "shipmentId": shipment_id } }),
        )
        .await
    }

    /// `markReadyForCollection` as a service; the whole response.
    pub async fn mark_ready(&self, shipment_id: &Value) -> Value {
        self.mark_ready_with(Some(&self.service_token()), shipment_id)
            .await
    }

    /// The order's timeline entries of `kind` as agent-1 reads them, newest first, each with
    /// `shipment { id status }`.
    pub async fn order_entries(&self, order_id: &Value, kind: &str) -> Vec<Value> {
        let resp = self
            .as_agent(
                "query($id: ID!, $kinds: [TimelineKind!]) { order(id: $id) {
                    timeline(first: 100, kinds: $kinds) { edges { node {
                        id kind summary occurredAt order { id } shipment { id status } } } } } }",
                json!({ "id": order_id, "kinds": [kind] }),
            )
            .await;
        nodes(&expect_data(&resp)["order"]["timeline"])
    }

    /// `order(id) { routing }` with `token`; the whole response.
    pub async fn routing_of(&self, token: &str, order_id: &Value) -> Value {
        self.gql(
            Some(token),
            &format!(
                "query($id: ID!) {{ order(id: $id) {{ id routing {{ {ROUTING_FIELDS} }} }} }}"
            ),
            json!({ "id": order_id }),
        )
        .await
    }
}

// -------------------------------------------------------------------------- self-service changes

/// An order as the self-service suites read it: lines with what may still be cancelled,
/// totals, shipments and what the viewer may do.
pub const SELF_SERVICE_ORDER_FIELDS: &str = "id number status version customer { id }
    delivery { method address { name line1 city postalCode countryCode } }
    lines { id sku quantity quantityCancelled quantityDispatched cancellableQuantity
        unitPrice { amount currencyCode } }
    totals { subtotal { amount currencyCode } shipping { amount currencyCode } total { amount currencyCode } }
    shipments { id status location { code } lines { line { id sku } quantity } }
    allowedActions {
        changeShippingAddress { allowed reason code }
        cancel { allowed reason code }
        cancelLines { allowed reason code }
        requestReturn { allowed reason code } }";

pub fn change_shipping_address_mutation() -> String {
    format!(
        "mutation($input: ChangeShippingAddressInput!) {{ changeShippingAddress(input: $input) {{
            order {{ {SELF_SERVICE_ORDER_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

pub fn cancel_order_lines_mutation() -> String {
    format!(
        "mutation($input: CancelOrderLinesInput!) {{ cancelOrderLines(input: $input) {{
            order {{ {SELF_SERVICE_ORDER_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

pub fn cancel_order_mutation() -> String {
    format!(
        "mutation($input: CancelOrderInput!) {{ cancelOrder(input: $input) {{
            order {{ {SELF_SERVICE_ORDER_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

impl TestApp {
    /// `order(id)` with the self-service fields as `token` reads it; `Value::Null` when it
    /// reads as null.
    pub async fn self_service_order(&self, token: &str, order_id: &Value) -> Value {
        let resp = self
            .gql(
                Some(token),
                &format!("query($id: ID!) {{ order(id: $id) {{ {SELF_SERVICE_ORDER_FIELDS} }} }}"),
                json!({ "id": order_id }),
            )
            .await;
        expect_data(&resp)["order"].clone()
    }

    /// `changeShippingAddress` with `token`; the whole response.
    pub async fn change_address_with(&self, token: &str, input: Value) -> Value {
        self.gql(
            Some(token),
            &change_shipping_address_mutation(),
            json!({ "input": input }),
        )
        .await
    }

    /// `cancelOrderLines` with `token`; the whole response.
    pub async fn cancel_lines_with(&self, token: &str, input: Value) -> Value {
        self.gql(
            Some(token),
            &cancel_order_lines_mutation(),
            json!({ "input": input }),
        )
        .await
    }

    /// `cancelOrder` with `token`; the whole response.
    pub async fn cancel_order_with(&self, token: &str, input: Value) -> Value {
        self.gql(
            Some(token),
            &cancel_order_mutation(),
            json!({ "input": input }),
        )
        .await
    }
}

/// An address in Utrecht (next to ST-2), with coordinates.
pub fn utrecht_address() -> Value {
    json!({
        "name": "Sam Shopper",
        "line1": "Neude 11",
        "city": "Utrecht",
        "postalCode": "3512 AE",
        "countryCode": "NL",
        "location": { "latitude": 52.0907, "longitude": 5.1214 },
    })
}

/// A Decimal the API printed, in minor units ("19.90" -> 1990).
#[track_caller]
pub fn cents(amount: &Value) -> i64 {
    let s = str_of(amount, "Decimal");
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let negative = whole.starts_with('-');
    let whole: i64 = whole
        .trim_start_matches('-')
        .parse()
        .unwrap_or_else(|_| panic!("{s} is not a decimal"));
    let mut fraction = fraction.to_string();
    while fraction.len() < 2 {
        fraction.push('0');
    }
    let fraction: i64 = fraction[..2]
        .parse()
        .unwrap_or_else(|_| panic!("{s} is not a decimal"));
    let value = whole * 100 + fraction;
    if negative { -value } else { value }
}
