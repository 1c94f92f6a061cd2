//! Returns and refunds: the return policy, what may still be returned (`returnableLines`,
//! `allowedActions.requestReturn`), requestReturn by every role and method, receipt at a return
//! point (refund and restock), rejection, cancellation, early refunds by agents, reads, the
//! timeline and the live order events.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::fixtures::{
    LocationBuilder, OrderBuilder, ProductBuilder, USER_ERRORS, at_hours, cents, day, nodes,
    parse_time, seed, shipments_of, str_of, tracking_number,
};
use crate::harness::{
    TestApp, assert_error_code, assert_user_error_at, expect_data, expect_ok, field_path, payload,
    pretty, top_level_errors, user_errors,
};
use crate::ws::WsClient;

const CARRIER: &str = "PostNL";
const AGENT_REASON: &str = "Customer called about the return";
const OVERRIDE_REASON: &str = "Goodwill: loyal customer, manager approved";

/// Silver earrings, 24.00 EUR: the policy does not take them back. 5 at ST-1.
const EARRINGS: &str = "SKU-E";
/// A warehouse that takes carrier returns (a return point); holds no stock.
const RETURNS_WAREHOUSE: &str = "WH-R";

const RETURN_FIELDS: &str = "id rmaNumber status channel method returnLocation { code }
    lines { line { id sku } quantity reason }
    refund { amount { amount currencyCode } status expectedBy issuedAt }
    labelUrl createdAt order { id }";

/// An order as the return suites read it.
const ORDER_FIELDS: &str = "id status version customer { id }
    lines { id sku quantity quantityDelivered quantityReturned unitPrice { amount currencyCode } }
    totals { total { amount currencyCode } refunded { amount currencyCode } }
    returnableLines { line { id sku } quantityReturnable returnableUntil reason }
    allowedActions { requestReturn { allowed reason code } }
    returns { id rmaNumber status }";

/// A timeline entry with its return.
const RETURN_ENTRY_FIELDS: &str = "id kind summary reason occurredAt actor { role id }
    order { id } return { id rmaNumber status }";

const RETURN_KINDS: [&str; 5] = [
    "RETURN_REQUESTED",
    "RETURN_RECEIVED",
    "REFUND_ISSUED",
    "RETURN_REJECTED",
    "RETURN_CANCELLED",
];

// ---------------------------------------------------------------------- mutations

fn mutation(name: &str, input_type: &str) -> String {
    format!(
        "mutation($input: {input_type}!) {{ {name}(input: $input) {{
            return {{ {RETURN_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

/// Runs the return mutation `name` (its input type is `<Name>Input`) with `token`.
async fn step(app: &TestApp, token: Option<&str>, name: &str, input: Value) -> Value {
    let input_type = format!("{}{}Input", name[..1].to_uppercase(), &name[1..]);
    let query = mutation(name, &input_type);
    app.gql(token, &query, json!({ "input": input })).await
}

async fn request_with(app: &TestApp, token: Option<&str>, input: Value) -> Value {
    step(app, token, "requestReturn", input).await
}

async fn receive_with(app: &TestApp, token: &str, input: Value) -> Value {
    step(app, Some(token), "receiveReturn", input).await
}

async fn reject_with(app: &TestApp, token: &str, input: Value) -> Value {
    step(app, Some(token), "rejectReturn", input).await
}

async fn cancel_with(app: &TestApp, token: &str, input: Value) -> Value {
    step(app, Some(token), "cancelReturn", input).await
}

async fn refund_with(app: &TestApp, token: &str, input: Value) -> Value {
    step(app, Some(token), "issueRefund", input).await
}

/// requestReturn with `token`; asserts success and returns the return.
async fn request_ok(app: &TestApp, token: &str, input: Value) -> Value {
    let resp = request_with(app, Some(token), input).await;
    let ret = expect_ok(&resp, "requestReturn")["return"].clone();
    assert!(
        ret.is_object(),
        "requestReturn returns the return:\n{}",
        pretty(&resp)
    );
    ret
}

/// receiveReturn as a service at `location`, restocking everything; asserts success.
async fn receive_ok(app: &TestApp, ret: &Value, location: &str) -> Value {
    let resp = receive_with(
        app,
        &app.service_token(),
        json!({ "returnId": ret["id"], "locationCode": location, "restock": true }),
    )
    .await;
    let received = expect_ok(&resp, "receiveReturn")["return"].clone();
    assert!(received.is_object(), "{}", pretty(&resp));
    received
}

/// A refusal: a userError with `code` at exactly `path` (a leading "input" ignored), and no
/// return in the payload.
#[track_caller]
fn assert_refused(resp: &Value, mutation: &str, code: &str, path: &[&str]) -> Value {
    let error = assert_user_error_at(resp, mutation, &[code], path);
    assert_eq!(
        field_path(&error),
        path.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "the userError names exactly {path:?}:\n{}",
        pretty(resp)
    );
    assert!(
        !error["message"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .is_empty(),
        "the refusal says why:\n{}",
        pretty(resp)
    );
    assert_eq!(
        payload(resp, mutation)["return"],
        Value::Null,
        "a refused call returns no return:\n{}",
        pretty(resp)
    );
    error
}

// ---------------------------------------------------------------------- inputs

/// One return line of `qty` units of the `sku` line of `order`.
fn return_line(order: &Value, sku: &str, qty: i64) -> Value {
    json!({ "lineId": line_id(order, sku), "quantity": qty, "reason": "Does not fit" })
}

/// A requestReturn input for `qty` of the `sku` line, by `method`.
fn return_input(order: &Value, sku: &str, qty: i64, method: &str) -> Value {
    json!({
        "orderId": order["id"],
        "method": method,
        "lines": [return_line(order, sku, qty)],
    })
}

/// An IN_STORE return of `qty` of the `sku` line at `store`.
fn in_store(order: &Value, sku: &str, qty: i64, store: &str) -> Value {
    let mut input = return_input(order, sku, qty, "IN_STORE");
    input["returnLocationCode"] = json!(store);
    input
}

fn with(mut input: Value, key: &str, value: Value) -> Value {
    input[key] = value;
    input
}

// ---------------------------------------------------------------------- setup

/// The seeded catalogue, plus non-returnable earrings (5 at ST-1) and a warehouse that is a
/// return point.
async fn setup(app: &TestApp) {
    app.seed_catalog().await;
    ProductBuilder::new(EARRINGS)
        .name("Silver earrings")
        .price("24.00", "EUR")
        .returnable(false)
        .create(app)
        .await;
    app.set_stock(seed::STORE_A, EARRINGS, 5).await;
    LocationBuilder::warehouse(RETURNS_WAREHOUSE)
        .at(52.10, 5.00)
        .return_point(true)
        .create(app)
        .await;
}

/// An order after delivery.
struct Delivered {
    order: Value,
    customer: String,
    delivered_at: String,
}

impl Delivered {
    fn token(&self, app: &TestApp) -> String {
        app.customer_token(&self.customer)
    }
}

/// Places `order`, dispatches every shipment and records DELIVERED at `delivered_at` for each;
/// returns the order as an agent reads it.
async fn deliver(app: &TestApp, order: OrderBuilder, delivered_at: &str) -> Delivered {
    let placed = app.place_fulfilment(&order).await;
    for shipment in shipments_of(&placed) {
        let number = tracking_number();
        app.dispatch(&shipment["id"], CARRIER, &number).await;
        app.track(CARRIER, &number, "DELIVERED", delivered_at).await;
    }
    let order = read_order(app, &app.agent_token(), &placed["id"]).await;
    assert_eq!(order["status"], "DELIVERED", "{}", pretty(&order));
    let customer = str_of(&order["customer"]["id"], "customer id").to_string();
    Delivered {
        order,
        customer,
        delivered_at: delivered_at.to_string(),
    }
}

/// Setup, and a WEB order of 2 shirts (19.90) and 1 tote (12.50), shipped from ST-1 and
/// delivered two hours ago.
async fn delivered_order(app: &TestApp) -> Delivered {
    setup(app).await;
    deliver(
        app,
        OrderBuilder::new().line(seed::SHIRT, 2).line(seed::TOTE, 1),
        &at_hours(-2),
    )
    .await
}

/// The order as `token` reads it (null when it reads as null).
async fn read_order(app: &TestApp, token: &str, order_id: &Value) -> Value {
    let resp = app
        .gql(
            Some(token),
            &format!("query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"),
            json!({ "id": order_id }),
        )
        .await;
    expect_data(&resp)["order"].clone()
}

async fn reread(app: &TestApp, order: &Value) -> Value {
    let read = read_order(app, &app.agent_token(), &order["id"]).await;
    assert!(read.is_object(), "an agent reads the order");
    read
}

#[track_caller]
fn line(order: &Value, sku: &str) -> Value {
    order["lines"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["sku"] == sku).cloned())
        .unwrap_or_else(|| panic!("no {sku} line:\n{}", pretty(order)))
}

#[track_caller]
fn line_id(order: &Value, sku: &str) -> Value {
    line(order, sku)["id"].clone()
}

/// The returnable line of `sku`.
#[track_caller]
fn returnable(order: &Value, sku: &str) -> Value {
    let lines = order["returnableLines"]
        .as_array()
        .unwrap_or_else(|| panic!("no returnableLines:\n{}", pretty(order)));
    lines
        .iter()
        .find(|l| l["line"]["sku"] == sku)
        .cloned()
        .unwrap_or_else(|| panic!("no returnable line for {sku}:\n{}", pretty(order)))
}

/// The line may not be returned: 0 and a reason.
#[track_caller]
fn assert_not_returnable_line(order: &Value, sku: &str) -> Value {
    let entry = returnable(order, sku);
    assert_eq!(
        entry["quantityReturnable"],
        0,
        "{sku} is not returnable:\n{}",
        pretty(order)
    );
    assert!(
        !entry["reason"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .is_empty(),
        "{sku} says why it cannot be returned:\n{}",
        pretty(order)
    );
    entry
}

#[track_caller]
fn request_allowance(order: &Value) -> Value {
    let a = order["allowedActions"]["requestReturn"].clone();
    assert!(
        a.is_object(),
        "no allowedActions.requestReturn:\n{}",
        pretty(order)
    );
    a
}

#[track_caller]
fn assert_return_allowed(order: &Value) {
    let a = request_allowance(order);
    assert_eq!(
        a["allowed"],
        true,
        "requestReturn is allowed:\n{}",
        pretty(order)
    );
    assert_eq!(a["reason"], Value::Null);
    assert_eq!(a["code"], Value::Null);
}

#[track_caller]
fn assert_return_not_allowed(order: &Value) {
    let a = request_allowance(order);
    assert_eq!(
        a["allowed"],
        false,
        "requestReturn is not allowed:\n{}",
        pretty(order)
    );
    assert_eq!(a["code"], "NOT_RETURNABLE", "{}", pretty(order));
    assert!(
        !a["reason"].as_str().unwrap_or_default().trim().is_empty(),
        "it says why:\n{}",
        pretty(order)
    );
}

/// The UTC day of an RFC 3339 time plus `days`, as `YYYY-MM-DD`.
fn date_plus(rfc3339: &str, days: i64) -> String {
    (parse_time(&json!(rfc3339)).date_naive() + chrono::Duration::days(days)).to_string()
}

#[track_caller]
fn amount_cents(money: &Value) -> i64 {
    assert_eq!(money["currencyCode"], "EUR", "in euros: {money}");
    cents(&money["amount"])
}

#[track_caller]
fn refunded_cents(order: &Value) -> i64 {
    amount_cents(&order["totals"]["refunded"])
}

/// The returns listed on the order, as ids.
fn return_ids(order: &Value) -> Vec<Value> {
    order["returns"]
        .as_array()
        .unwrap_or_else(|| panic!("no returns list:\n{}", pretty(order)))
        .iter()
        .map(|r| r["id"].clone())
        .collect()
}

/// The order still has no return and everything delivered is still returnable as before.
async fn assert_nothing_returned(app: &TestApp, before: &Value) {
    let now = reread(app, before).await;
    assert_eq!(
        now["returns"],
        json!([]),
        "no return was made:\n{}",
        pretty(&now)
    );
    assert_eq!(
        now["returnableLines"], before["returnableLines"],
        "returnable as before"
    );
    assert_eq!(now["lines"], before["lines"], "lines unchanged");
    assert_eq!(now["totals"], before["totals"], "totals unchanged");
}

fn missing_id(type_name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{type_name}:987654"))
}

/// The order's timeline entries of `kind` as `token` reads them, newest first.
async fn order_entries(app: &TestApp, token: &str, order_id: &Value, kind: &str) -> Vec<Value> {
    let resp = app
        .gql(
            Some(token),
            &format!(
                "query($id: ID!, $kinds: [TimelineKind!]) {{ order(id: $id) {{
                    timeline(first: 100, kinds: $kinds) {{ edges {{ node {{ {RETURN_ENTRY_FIELDS} }} }} }} }} }}"
            ),
            json!({ "id": order_id, "kinds": [kind] }),
        )
        .await;
    let connection = &expect_data(&resp)["order"]["timeline"];
    assert!(
        connection.is_object(),
        "the timeline reads:\n{}",
        pretty(&resp)
    );
    nodes(connection)
}

#[track_caller]
fn only_entry(entries: &[Value], kind: &str) -> Value {
    assert_eq!(
        entries.len(),
        1,
        "exactly one {kind} entry:\n{}",
        pretty(&json!(entries))
    );
    entries[0].clone()
}

/// GET a URL the API printed (absolute, or a path on this server), without a token.
async fn get_link(app: &TestApp, link: &str) -> reqwest::Response {
    let url = if link.starts_with("http://") || link.starts_with("https://") {
        link.to_string()
    } else {
        app.url(link)
    };
    app.client
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

// ---------------------------------------------------------------------- the policy

#[tokio::test]
async fn the_return_policy_is_readable_anonymously_with_its_defaults() {
    let app = TestApp::spawn().await;
    let resp = app
        .anon(
            "{ returnPolicy { windowDays inStoreRefundDays carrierRefundDays dropOffRefundDays } }",
            json!({}),
        )
        .await;
    assert_eq!(
        expect_data(&resp)["returnPolicy"],
        json!({ "windowDays": 30, "inStoreRefundDays": 0, "carrierRefundDays": 10, "dropOffRefundDays": 7 }),
        "{}",
        pretty(&resp)
    );
}

// ---------------------------------------------------------------------- what may be returned

#[tokio::test]
async fn an_undelivered_order_has_nothing_to_return_and_says_why() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let placed = OrderBuilder::new()
        .line(seed::SHIRT, 2)
        .line(seed::TOTE, 1)
        .place_ok(&app)
        .await;
    let customer = str_of(&placed["customer"]["id"], "customer id").to_string();
    let mine = read_order(&app, &app.customer_token(&customer), &placed["id"]).await;
    assert!(mine.is_object(), "the owner reads her order");
    assert_eq!(
        mine["returnableLines"].as_array().map(Vec::len),
        Some(2),
        "one entry per order line:\n{}",
        pretty(&mine)
    );
    for sku in [seed::SHIRT, seed::TOTE] {
        let entry = assert_not_returnable_line(&mine, sku);
        assert_eq!(entry["returnableUntil"], Value::Null, "{}", pretty(&mine));
        assert_eq!(entry["line"]["id"], line_id(&mine, sku));
    }
    assert_return_not_allowed(&mine);
}

#[tokio::test]
async fn a_delivered_line_is_returnable_for_thirty_days_from_its_delivery() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let mine = read_order(&app, &delivered.token(&app), &delivered.order["id"]).await;
    let until = date_plus(&delivered.delivered_at, 30);
    for (sku, quantity) in [(seed::SHIRT, 2), (seed::TOTE, 1)] {
        let entry = returnable(&mine, sku);
        assert_eq!(entry["quantityReturnable"], quantity, "{}", pretty(&mine));
        assert_eq!(
            entry["returnableUntil"],
            until.as_str(),
            "{}",
            pretty(&mine)
        );
        assert_eq!(entry["reason"], Value::Null, "{}", pretty(&mine));
    }
    assert_return_allowed(&mine);
}

#[tokio::test]
async fn the_window_counts_from_the_carriers_delivery_time_not_from_when_it_was_reported() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    // Delivered 20 days ago, reported only now.
    let delivered_at = at_hours(-20 * 24);
    let delivered = deliver(
        &app,
        OrderBuilder::new()
            .line(seed::SHIRT, 1)
            .placed_at(&at_hours(-22 * 24)),
        &delivered_at,
    )
    .await;
    let entry = returnable(&delivered.order, seed::SHIRT);
    assert_eq!(
        entry["quantityReturnable"],
        1,
        "{}",
        pretty(&delivered.order)
    );
    assert_eq!(
        entry["returnableUntil"],
        date_plus(&delivered_at, 30).as_str()
    );
    assert_eq!(entry["returnableUntil"], day(10).as_str());
}

#[tokio::test]
async fn a_non_returnable_product_is_never_returnable() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered = deliver(
        &app,
        OrderBuilder::new().line(seed::SHIRT, 1).line(EARRINGS, 1),
        &at_hours(-2),
    )
    .await;
    let mine = read_order(&app, &delivered.token(&app), &delivered.order["id"]).await;
    let earrings = assert_not_returnable_line(&mine, EARRINGS);
    assert_eq!(
        earrings["returnableUntil"],
        Value::Null,
        "{}",
        pretty(&mine)
    );
    assert_eq!(returnable(&mine, seed::SHIRT)["quantityReturnable"], 1);
    assert_return_allowed(&mine);
}

#[tokio::test]
async fn an_order_of_only_non_returnable_products_may_not_be_returned() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered = deliver(&app, OrderBuilder::new().line(EARRINGS, 2), &at_hours(-2)).await;
    let mine = read_order(&app, &delivered.token(&app), &delivered.order["id"]).await;
    assert_not_returnable_line(&mine, EARRINGS);
    assert_return_not_allowed(&mine);
}

#[tokio::test]
async fn once_the_window_has_passed_nothing_is_returnable() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered_at = at_hours(-40 * 24);
    let delivered = deliver(
        &app,
        OrderBuilder::new()
            .line(seed::SHIRT, 1)
            .placed_at(&at_hours(-45 * 24)),
        &delivered_at,
    )
    .await;
    let mine = read_order(&app, &delivered.token(&app), &delivered.order["id"]).await;
    let entry = assert_not_returnable_line(&mine, seed::SHIRT);
    assert_eq!(
        entry["returnableUntil"],
        date_plus(&delivered_at, 30).as_str(),
        "the day the window closed:\n{}",
        pretty(&mine)
    );
    assert_eq!(entry["returnableUntil"], day(-10).as_str());
    assert_return_not_allowed(&mine);
}

#[tokio::test]
async fn a_carry_out_sale_is_returnable_from_the_day_it_was_sold() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let sold_at = at_hours(0);
    let sale = OrderBuilder::new()
        .store_sale(seed::STORE_A)
        .line(seed::SHIRT, 1)
        .placed_at(&sold_at)
        .place_ok(&app)
        .await;
    let read = reread(&app, &sale).await;
    let entry = returnable(&read, seed::SHIRT);
    assert_eq!(entry["quantityReturnable"], 1, "{}", pretty(&read));
    assert_eq!(entry["returnableUntil"], date_plus(&sold_at, 30).as_str());
    assert_eq!(entry["reason"], Value::Null);
    assert_return_allowed(&read);
}

#[tokio::test]
async fn a_carry_out_sale_of_forty_days_ago_is_past_the_window() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let sold_at = at_hours(-40 * 24);
    let sale = OrderBuilder::new()
        .store_sale(seed::STORE_A)
        .line(seed::SHIRT, 1)
        .placed_at(&sold_at)
        .place_ok(&app)
        .await;
    let read = reread(&app, &sale).await;
    let entry = assert_not_returnable_line(&read, seed::SHIRT);
    assert_eq!(entry["returnableUntil"], date_plus(&sold_at, 30).as_str());
    assert_return_not_allowed(&read);
}

#[tokio::test]
async fn a_collected_order_is_returnable_from_its_collection() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let order = app
        .place_fulfilment(
            &OrderBuilder::new()
                .collect_at(seed::STORE_B)
                .line(seed::SHIRT, 1),
        )
        .await;
    let id = shipments_of(&order)[0]["id"].clone();
    expect_ok(&app.mark_ready(&id).await, "markReadyForCollection");
    let collected = app.move_shipment(&id, "COLLECTED").await;
    let collected_at = str_of(&collected["deliveredAt"], "deliveredAt").to_string();
    let read = reread(&app, &order).await;
    let entry = returnable(&read, seed::SHIRT);
    assert_eq!(entry["quantityReturnable"], 1, "{}", pretty(&read));
    assert_eq!(
        entry["returnableUntil"],
        date_plus(&collected_at, 30).as_str()
    );
    assert_return_allowed(&read);
}

#[tokio::test]
async fn units_in_a_requested_return_are_no_longer_returnable() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let mine = read_order(&app, &token, &delivered.order["id"]).await;
    let shirt = returnable(&mine, seed::SHIRT);
    assert_eq!(
        shirt["quantityReturnable"],
        1,
        "one of two is on its way back:\n{}",
        pretty(&mine)
    );
    assert_eq!(shirt["reason"], Value::Null);
    assert_eq!(returnable(&mine, seed::TOTE)["quantityReturnable"], 1);
    assert_return_allowed(&mine);
}

#[tokio::test]
async fn a_fully_returned_order_has_nothing_left_to_return() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    request_ok(
        &app,
        &token,
        json!({
            "orderId": delivered.order["id"], "method": "CARRIER",
            "lines": [
                return_line(&delivered.order, seed::SHIRT, 2),
                return_line(&delivered.order, seed::TOTE, 1),
            ],
        }),
    )
    .await;
    let mine = read_order(&app, &token, &delivered.order["id"]).await;
    assert_not_returnable_line(&mine, seed::SHIRT);
    assert_not_returnable_line(&mine, seed::TOTE);
    assert_return_not_allowed(&mine);
}

// ---------------------------------------------------------------------- requesting a return

#[tokio::test]
async fn a_customer_returns_by_carrier_and_gets_a_label() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 2, "CARRIER"),
    )
    .await;
    assert_eq!(ret["status"], "REQUESTED", "{}", pretty(&ret));
    assert!(
        str_of(&ret["rmaNumber"], "rmaNumber").starts_with("RMA-"),
        "{}",
        pretty(&ret)
    );
    assert_eq!(
        ret["channel"], "WEB",
        "a customer's return starts on the web"
    );
    assert_eq!(ret["method"], "CARRIER");
    assert_eq!(
        ret["returnLocation"]["code"],
        RETURNS_WAREHOUSE,
        "carrier returns go to the warehouse that takes returns:\n{}",
        pretty(&ret)
    );
    assert_eq!(
        ret["lines"],
        json!([{
            "line": { "id": line_id(&delivered.order, seed::SHIRT), "sku": seed::SHIRT },
            "quantity": 2,
            "reason": "Does not fit",
        }])
    );
    let refund = &ret["refund"];
    assert_eq!(
        amount_cents(&refund["amount"]),
        2 * 1990,
        "{}",
        pretty(&ret)
    );
    assert_eq!(refund["status"], "PENDING");
    assert_eq!(
        refund["expectedBy"],
        day(10).as_str(),
        "ten days for a carrier return"
    );
    assert_eq!(refund["issuedAt"], Value::Null);
    assert!(
        !str_of(&ret["labelUrl"], "labelUrl").trim().is_empty(),
        "a carrier return has a label"
    );
    let created = parse_time(&ret["createdAt"]);
    assert!(
        (chrono::Utc::now() - created).num_minutes().abs() < 5,
        "created just now: {created}"
    );
    assert_eq!(ret["order"]["id"], delivered.order["id"]);

    let order = reread(&app, &delivered.order).await;
    assert_eq!(return_ids(&order), vec![ret["id"].clone()]);
    assert_eq!(order["returns"][0]["status"], "REQUESTED");
    assert_eq!(refunded_cents(&order), 0, "nothing refunded before receipt");
    assert_eq!(line(&order, seed::SHIRT)["quantityReturned"], 0);
}

#[tokio::test]
async fn the_carrier_label_is_a_page_with_the_rma_number() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::TOTE, 1, "CARRIER"),
    )
    .await;
    let rma = str_of(&ret["rmaNumber"], "rmaNumber");
    let response = get_link(&app, str_of(&ret["labelUrl"], "labelUrl")).await;
    assert_eq!(response.status(), 200, "the label answers without a token");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/html"),
        "the label is an HTML page: {content_type}"
    );
    let body = response.text().await.expect("read the label");
    assert!(body.contains(rma), "the label shows {rma}:\n{body}");
}

#[tokio::test]
async fn a_carrier_return_may_name_its_return_point() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        with(
            return_input(&delivered.order, seed::TOTE, 1, "CARRIER"),
            "returnLocationCode",
            json!(seed::STORE_B),
        ),
    )
    .await;
    assert_eq!(
        ret["returnLocation"]["code"],
        seed::STORE_B,
        "{}",
        pretty(&ret)
    );
    assert!(ret["labelUrl"].is_string(), "{}", pretty(&ret));
}

#[tokio::test]
async fn a_drop_off_return_is_refunded_within_seven_days_and_has_no_label() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        with(
            return_input(&delivered.order, seed::TOTE, 1, "DROP_OFF"),
            "returnLocationCode",
            json!(seed::STORE_B),
        ),
    )
    .await;
    assert_eq!(ret["method"], "DROP_OFF");
    assert_eq!(ret["returnLocation"]["code"], seed::STORE_B);
    assert_eq!(
        ret["refund"]["expectedBy"],
        day(7).as_str(),
        "{}",
        pretty(&ret)
    );
    assert_eq!(amount_cents(&ret["refund"]["amount"]), 1250);
    assert_eq!(ret["labelUrl"], Value::Null, "no label without a carrier");
}

#[tokio::test]
async fn an_in_store_return_expects_its_refund_the_same_day_and_has_no_label() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::SHIRT, 1, seed::STORE_B),
    )
    .await;
    assert_eq!(ret["method"], "IN_STORE");
    assert_eq!(ret["returnLocation"]["code"], seed::STORE_B);
    assert_eq!(
        ret["refund"]["expectedBy"],
        day(0).as_str(),
        "{}",
        pretty(&ret)
    );
    assert_eq!(ret["refund"]["status"], "PENDING");
    assert_eq!(ret["labelUrl"], Value::Null);
}

#[tokio::test]
async fn the_refund_sums_every_returned_line() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        json!({
            "orderId": delivered.order["id"], "method": "CARRIER",
            "lines": [
                return_line(&delivered.order, seed::SHIRT, 2),
                return_line(&delivered.order, seed::TOTE, 1),
            ],
        }),
    )
    .await;
    assert_eq!(
        amount_cents(&ret["refund"]["amount"]),
        2 * 1990 + 1250,
        "{}",
        pretty(&ret)
    );
    assert_eq!(ret["lines"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn every_return_gets_its_own_rma_number() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let first = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let second = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let third = request_ok(
        &app,
        &token,
        in_store(&delivered.order, seed::TOTE, 1, seed::STORE_A),
    )
    .await;
    let mut rmas: Vec<&str> = [&first, &second, &third]
        .iter()
        .map(|r| str_of(&r["rmaNumber"], "rmaNumber"))
        .collect();
    assert!(rmas.iter().all(|r| r.starts_with("RMA-")), "{rmas:?}");
    rmas.sort();
    rmas.dedup();
    assert_eq!(rmas.len(), 3, "unique: {rmas:?}");
    let order = reread(&app, &delivered.order).await;
    assert_eq!(return_ids(&order).len(), 3, "{}", pretty(&order));
}

#[tokio::test]
async fn an_agent_starts_a_return_by_phone_with_a_reason() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &app.agent_token(),
        with(
            return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
            "reason",
            json!(AGENT_REASON),
        ),
    )
    .await;
    assert_eq!(ret["channel"], "PHONE", "{}", pretty(&ret));
    assert_eq!(ret["status"], "REQUESTED");
    let entry = only_entry(
        &order_entries(
            &app,
            &app.agent_token(),
            &delivered.order["id"],
            "RETURN_REQUESTED",
        )
        .await,
        "RETURN_REQUESTED",
    );
    assert_eq!(entry["actor"]["role"], "AGENT", "{}", pretty(&entry));
    assert_eq!(entry["reason"], AGENT_REASON);
}

#[tokio::test]
async fn an_agent_must_say_why() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let input = return_input(&delivered.order, seed::SHIRT, 1, "CARRIER");
    let resp = request_with(&app, Some(&app.agent_token()), input.clone()).await;
    assert_refused(&resp, "requestReturn", "INVALID", &["reason"]);
    let resp = request_with(
        &app,
        Some(&app.agent_token()),
        with(input, "reason", json!("   ")),
    )
    .await;
    assert_refused(&resp, "requestReturn", "INVALID", &["reason"]);
    assert_nothing_returned(&app, &delivered.order).await;
}

#[tokio::test]
async fn a_till_starts_an_in_store_return_on_the_store_channel() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &app.service_token(),
        in_store(&delivered.order, seed::TOTE, 1, seed::STORE_A),
    )
    .await;
    assert_eq!(ret["channel"], "STORE", "{}", pretty(&ret));
    assert_eq!(ret["returnLocation"]["code"], seed::STORE_A);
}

#[tokio::test]
async fn the_channel_given_overrides_the_default() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        with(
            return_input(&delivered.order, seed::TOTE, 1, "CARRIER"),
            "channel",
            json!("APP"),
        ),
    )
    .await;
    assert_eq!(ret["channel"], "APP", "{}", pretty(&ret));
}

#[tokio::test]
async fn an_admin_may_start_a_return() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &app.admin_token(),
        with(
            return_input(&delivered.order, seed::TOTE, 1, "CARRIER"),
            "reason",
            json!("Back office correction"),
        ),
    )
    .await;
    assert_eq!(ret["status"], "REQUESTED", "{}", pretty(&ret));
}

#[tokio::test]
async fn marketing_and_anonymous_callers_may_not_start_a_return() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let input = with(
        return_input(&delivered.order, seed::TOTE, 1, "CARRIER"),
        "reason",
        json!("Because"),
    );
    let resp = request_with(&app, Some(&app.marketing_token()), input.clone()).await;
    assert_error_code(&resp, "FORBIDDEN");
    let resp = request_with(&app, None, input).await;
    assert_error_code(&resp, "UNAUTHENTICATED");
    assert_nothing_returned(&app, &delivered.order).await;
}

// ---------------------------------------------------------------------- refusals

#[tokio::test]
async fn another_customers_order_is_not_found() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let eve = app.new_customer("eve@example.test").await;
    let resp = request_with(
        &app,
        Some(&app.customer_token(&eve)),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    assert_refused(&resp, "requestReturn", "NOT_FOUND", &["orderId"]);
    assert_nothing_returned(&app, &delivered.order).await;
}

#[tokio::test]
async fn an_unknown_order_is_not_found() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let input = with(
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
        "orderId",
        json!(missing_id("Order")),
    );
    let resp = request_with(&app, Some(&delivered.token(&app)), input).await;
    assert_refused(&resp, "requestReturn", "NOT_FOUND", &["orderId"]);
    assert_nothing_returned(&app, &delivered.order).await;
}

#[tokio::test]
async fn a_return_of_no_lines_is_invalid() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let input = with(
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
        "lines",
        json!([]),
    );
    let resp = request_with(&app, Some(&delivered.token(&app)), input).await;
    assert_refused(&resp, "requestReturn", "INVALID", &["lines"]);
    assert_nothing_returned(&app, &delivered.order).await;
}

#[tokio::test]
async fn a_quantity_of_zero_or_less_is_invalid() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    for quantity in [0, -1] {
        let resp = request_with(
            &app,
            Some(&delivered.token(&app)),
            return_input(&delivered.order, seed::SHIRT, quantity, "CARRIER"),
        )
        .await;
        assert_refused(
            &resp,
            "requestReturn",
            "INVALID",
            &["lines", "0", "quantity"],
        );
    }
    assert_nothing_returned(&app, &delivered.order).await;
}

#[tokio::test]
async fn a_line_of_another_order_is_not_found() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let other = deliver(
        &app,
        OrderBuilder::new().line(seed::SHIRT, 1),
        &at_hours(-2),
    )
    .await;
    let mut input = return_input(&delivered.order, seed::SHIRT, 1, "CARRIER");
    input["lines"][0]["lineId"] = line_id(&other.order, seed::SHIRT);
    // The same customer owns both orders: the line is hers, but not on this order.
    assert_eq!(other.customer, delivered.customer);
    let resp = request_with(&app, Some(&delivered.token(&app)), input).await;
    assert_refused(
        &resp,
        "requestReturn",
        "NOT_FOUND",
        &["lines", "0", "lineId"],
    );
    assert_nothing_returned(&app, &delivered.order).await;
    assert_nothing_returned(&app, &other.order).await;
}

#[tokio::test]
async fn a_blank_line_reason_is_invalid() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let mut input = return_input(&delivered.order, seed::SHIRT, 1, "CARRIER");
    input["lines"][0]["reason"] = json!("  ");
    let resp = request_with(&app, Some(&delivered.token(&app)), input).await;
    assert_refused(&resp, "requestReturn", "INVALID", &["lines", "0", "reason"]);
    assert_nothing_returned(&app, &delivered.order).await;
}

#[tokio::test]
async fn more_than_was_delivered_is_invalid() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let resp = request_with(
        &app,
        Some(&delivered.token(&app)),
        return_input(&delivered.order, seed::SHIRT, 3, "CARRIER"),
    )
    .await;
    assert_refused(
        &resp,
        "requestReturn",
        "INVALID",
        &["lines", "0", "quantity"],
    );
    assert_nothing_returned(&app, &delivered.order).await;
}

#[tokio::test]
async fn units_already_on_their_way_back_may_not_be_returned_twice() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 2, "CARRIER"),
    )
    .await;
    let before = reread(&app, &delivered.order).await;
    let resp = request_with(
        &app,
        Some(&token),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    assert_refused(
        &resp,
        "requestReturn",
        "INVALID",
        &["lines", "0", "quantity"],
    );
    let after = reread(&app, &delivered.order).await;
    assert_eq!(after["returns"], before["returns"], "still one return");
}

#[tokio::test]
async fn a_non_returnable_product_is_refused() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered = deliver(
        &app,
        OrderBuilder::new().line(seed::SHIRT, 1).line(EARRINGS, 1),
        &at_hours(-2),
    )
    .await;
    let resp = request_with(
        &app,
        Some(&delivered.token(&app)),
        return_input(&delivered.order, EARRINGS, 1, "CARRIER"),
    )
    .await;
    assert_refused(
        &resp,
        "requestReturn",
        "NOT_RETURNABLE",
        &["lines", "0", "lineId"],
    );
    assert_nothing_returned(&app, &delivered.order).await;
}

#[tokio::test]
async fn a_return_after_the_window_is_refused() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered = deliver(
        &app,
        OrderBuilder::new()
            .line(seed::SHIRT, 1)
            .placed_at(&at_hours(-45 * 24)),
        &at_hours(-40 * 24),
    )
    .await;
    let resp = request_with(
        &app,
        Some(&delivered.token(&app)),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    assert_refused(
        &resp,
        "requestReturn",
        "NOT_RETURNABLE",
        &["lines", "0", "lineId"],
    );
    assert_nothing_returned(&app, &delivered.order).await;
}

#[tokio::test]
async fn a_return_before_delivery_is_refused() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let placed = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    app.dispatch(&shipments_of(&placed)[0]["id"], CARRIER, &tracking_number())
        .await;
    let order = reread(&app, &placed).await;
    let customer = str_of(&order["customer"]["id"], "customer id");
    let resp = request_with(
        &app,
        Some(&app.customer_token(customer)),
        return_input(&order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    assert_refused(
        &resp,
        "requestReturn",
        "NOT_RETURNABLE",
        &["lines", "0", "lineId"],
    );
    assert_nothing_returned(&app, &order).await;
}

#[tokio::test]
async fn in_store_and_drop_off_returns_need_a_return_location() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    for method in ["IN_STORE", "DROP_OFF"] {
        let resp = request_with(
            &app,
            Some(&delivered.token(&app)),
            return_input(&delivered.order, seed::SHIRT, 1, method),
        )
        .await;
        assert_refused(&resp, "requestReturn", "INVALID", &["returnLocationCode"]);
    }
    assert_nothing_returned(&app, &delivered.order).await;
}

#[tokio::test]
async fn a_location_that_takes_no_returns_is_invalid() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    for (method, code) in [
        ("IN_STORE", seed::WAREHOUSE),
        ("DROP_OFF", seed::WAREHOUSE),
        ("CARRIER", seed::WAREHOUSE),
        ("IN_STORE", "NO-SUCH-STORE"),
    ] {
        let resp = request_with(
            &app,
            Some(&delivered.token(&app)),
            with(
                return_input(&delivered.order, seed::SHIRT, 1, method),
                "returnLocationCode",
                json!(code),
            ),
        )
        .await;
        assert_refused(&resp, "requestReturn", "INVALID", &["returnLocationCode"]);
    }
    assert_nothing_returned(&app, &delivered.order).await;
}

#[tokio::test]
async fn only_agents_may_override_the_policy() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered = deliver(&app, OrderBuilder::new().line(EARRINGS, 1), &at_hours(-2)).await;
    let input = with(
        in_store(&delivered.order, EARRINGS, 1, seed::STORE_A),
        "override",
        json!({ "reason": OVERRIDE_REASON }),
    );
    for token in [delivered.token(&app), app.service_token()] {
        let resp = request_with(&app, Some(&token), input.clone()).await;
        assert_refused(&resp, "requestReturn", "INVALID", &["override"]);
    }
    assert_nothing_returned(&app, &delivered.order).await;
}

// ---------------------------------------------------------------------- agent overrides

#[tokio::test]
async fn an_agent_overrides_the_policy_for_a_non_returnable_product_and_it_is_recorded() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered = deliver(&app, OrderBuilder::new().line(EARRINGS, 1), &at_hours(-2)).await;
    let ret = request_ok(
        &app,
        &app.agent_token(),
        json!({
            "orderId": delivered.order["id"],
            "method": "CARRIER",
            "lines": [return_line(&delivered.order, EARRINGS, 1)],
            "reason": AGENT_REASON,
            "override": { "reason": OVERRIDE_REASON },
        }),
    )
    .await;
    assert_eq!(ret["status"], "REQUESTED", "{}", pretty(&ret));
    assert_eq!(amount_cents(&ret["refund"]["amount"]), 2400);

    let entry = only_entry(
        &order_entries(
            &app,
            &app.agent_token(),
            &delivered.order["id"],
            "RETURN_REQUESTED",
        )
        .await,
        "RETURN_REQUESTED",
    );
    assert_eq!(entry["reason"], OVERRIDE_REASON, "{}", pretty(&entry));
    assert_eq!(entry["actor"]["role"], "AGENT");
    assert!(
        str_of(&entry["summary"], "summary")
            .to_lowercase()
            .contains("override"),
        "the summary says the policy was overridden:\n{}",
        pretty(&entry)
    );
    assert_eq!(entry["return"]["rmaNumber"], ret["rmaNumber"]);
}

#[tokio::test]
async fn an_agent_overrides_a_closed_window() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered = deliver(
        &app,
        OrderBuilder::new()
            .line(seed::SHIRT, 2)
            .placed_at(&at_hours(-45 * 24)),
        &at_hours(-40 * 24),
    )
    .await;
    let ret = request_ok(
        &app,
        &app.agent_token(),
        with(
            with(
                return_input(&delivered.order, seed::SHIRT, 2, "CARRIER"),
                "reason",
                json!(AGENT_REASON),
            ),
            "override",
            json!({ "reason": OVERRIDE_REASON }),
        ),
    )
    .await;
    assert_eq!(ret["status"], "REQUESTED", "{}", pretty(&ret));
    assert_eq!(ret["lines"][0]["quantity"], 2);
}

#[tokio::test]
async fn an_override_does_not_return_more_than_was_delivered() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered = deliver(&app, OrderBuilder::new().line(EARRINGS, 1), &at_hours(-2)).await;
    let resp = request_with(
        &app,
        Some(&app.agent_token()),
        json!({
            "orderId": delivered.order["id"],
            "method": "CARRIER",
            "lines": [return_line(&delivered.order, EARRINGS, 2)],
            "reason": AGENT_REASON,
            "override": { "reason": OVERRIDE_REASON },
        }),
    )
    .await;
    assert_refused(
        &resp,
        "requestReturn",
        "INVALID",
        &["lines", "0", "quantity"],
    );
    assert_nothing_returned(&app, &delivered.order).await;
}

// ---------------------------------------------------------------------- idempotency and races

#[tokio::test]
async fn a_replayed_request_returns_the_same_return_once() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let input = with(
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
        "idempotencyKey",
        json!("return-shirt-1"),
    );
    let first = request_ok(&app, &token, input.clone()).await;
    let replay = request_ok(&app, &token, input).await;
    assert_eq!(replay["id"], first["id"], "the first result");
    assert_eq!(replay["rmaNumber"], first["rmaNumber"]);
    let order = reread(&app, &delivered.order).await;
    assert_eq!(return_ids(&order), vec![first["id"].clone()], "one return");
    assert_eq!(returnable(&order, seed::SHIRT)["quantityReturnable"], 1);
}

#[tokio::test]
async fn a_replayed_key_with_another_input_is_invalid() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let first = request_ok(
        &app,
        &token,
        with(
            return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
            "idempotencyKey",
            json!("k-1"),
        ),
    )
    .await;
    let resp = request_with(
        &app,
        Some(&token),
        with(
            return_input(&delivered.order, seed::SHIRT, 2, "CARRIER"),
            "idempotencyKey",
            json!("k-1"),
        ),
    )
    .await;
    let errors = user_errors(&resp, "requestReturn");
    assert!(
        errors.iter().any(|e| e["code"] == "INVALID"),
        "{}",
        pretty(&resp)
    );
    assert_eq!(payload(&resp, "requestReturn")["return"], Value::Null);
    let order = reread(&app, &delivered.order).await;
    assert_eq!(return_ids(&order), vec![first["id"].clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_returns_of_the_last_unit_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered = deliver(
        &app,
        OrderBuilder::new().line(seed::SHIRT, 1),
        &at_hours(-2),
    )
    .await;
    let token = delivered.token(&app);
    let input = return_input(&delivered.order, seed::SHIRT, 1, "CARRIER");
    let (first, second) = tokio::join!(
        request_with(&app, Some(&token), input.clone()),
        request_with(&app, Some(&token), input.clone()),
    );
    let mut won = 0;
    let mut lost = 0;
    for resp in [&first, &second] {
        assert!(
            top_level_errors(resp).is_empty(),
            "no request may fail outright:\n{}",
            pretty(resp)
        );
        if user_errors(resp, "requestReturn").is_empty() {
            won += 1;
        } else {
            assert_refused(
                resp,
                "requestReturn",
                "INVALID",
                &["lines", "0", "quantity"],
            );
            lost += 1;
        }
    }
    assert_eq!((won, lost), (1, 1), "exactly one return");
    let order = reread(&app, &delivered.order).await;
    assert_eq!(return_ids(&order).len(), 1, "{}", pretty(&order));
    assert_not_returnable_line(&order, seed::SHIRT);
}

// ---------------------------------------------------------------------- receiving

/// The flagship: bought online, shipped from the warehouse, brought back to a store, refunded
/// there at once and put back on that store's shelf.
#[tokio::test]
async fn a_web_order_from_the_warehouse_is_returned_in_store_refunded_at_once_and_restocked() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    // Only the warehouse holds shirts, so the order ships from there.
    app.set_stock(seed::STORE_A, seed::SHIRT, 0).await;
    app.set_stock(seed::STORE_B, seed::SHIRT, 0).await;
    let delivered = deliver(
        &app,
        OrderBuilder::new().channel("WEB").line(seed::SHIRT, 1),
        &at_hours(-24),
    )
    .await;
    let placed = app.fulfilment_order(&delivered.order["id"]).await;
    assert_eq!(
        shipments_of(&placed)[0]["location"]["code"],
        seed::WAREHOUSE,
        "shipped from the warehouse:\n{}",
        pretty(&placed)
    );
    let warehouse_before = app.stock_at(seed::WAREHOUSE, seed::SHIRT).await;
    let store_before = app.stock_at(seed::STORE_B, seed::SHIRT).await;

    // The customer starts the return online: she will bring it to ST-2.
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::SHIRT, 1, seed::STORE_B),
    )
    .await;
    assert_eq!(ret["status"], "REQUESTED");
    assert_eq!(ret["channel"], "WEB");

    // The till at ST-2 takes it back.
    let received = receive_ok(&app, &ret, seed::STORE_B).await;
    assert_eq!(received["id"], ret["id"]);
    assert_eq!(received["status"], "REFUNDED", "{}", pretty(&received));
    let refund = &received["refund"];
    assert_eq!(refund["status"], "ISSUED");
    assert_eq!(
        refund["expectedBy"],
        day(0).as_str(),
        "an in-store return refunds the same day"
    );
    assert_eq!(amount_cents(&refund["amount"]), 1990);
    let issued = parse_time(&refund["issuedAt"]);
    assert!(
        (chrono::Utc::now() - issued).num_minutes().abs() < 5,
        "issued just now: {issued}"
    );

    let order = reread(&app, &delivered.order).await;
    assert_eq!(
        refunded_cents(&order),
        1990,
        "the line price is refunded:\n{}",
        pretty(&order)
    );
    assert_eq!(line(&order, seed::SHIRT)["quantityReturned"], 1);
    assert_eq!(order["returns"][0]["status"], "REFUNDED");
    assert_not_returnable_line(&order, seed::SHIRT);

    let store_after = app.stock_at(seed::STORE_B, seed::SHIRT).await;
    assert_eq!(
        store_after.on_hand,
        store_before.on_hand + 1,
        "back on the shelf of the store that took it"
    );
    assert_eq!(
        app.stock_at(seed::WAREHOUSE, seed::SHIRT).await,
        warehouse_before,
        "the warehouse it came from is unchanged"
    );
}

#[tokio::test]
async fn a_receipt_without_restock_leaves_the_stock_alone() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::SHIRT, 2, seed::STORE_A),
    )
    .await;
    let before = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    let resp = receive_with(
        &app,
        &app.service_token(),
        json!({ "returnId": ret["id"], "locationCode": seed::STORE_A, "restock": false }),
    )
    .await;
    let received = expect_ok(&resp, "receiveReturn")["return"].clone();
    assert_eq!(received["status"], "REFUNDED", "{}", pretty(&resp));
    assert_eq!(amount_cents(&received["refund"]["amount"]), 2 * 1990);
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        before,
        "not restocked"
    );
    let order = reread(&app, &delivered.order).await;
    assert_eq!(line(&order, seed::SHIRT)["quantityReturned"], 2);
    assert_eq!(refunded_cents(&order), 2 * 1990);
}

#[tokio::test]
async fn a_carrier_return_is_refunded_and_restocked_when_the_warehouse_receives_it() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        json!({
            "orderId": delivered.order["id"], "method": "CARRIER",
            "lines": [
                return_line(&delivered.order, seed::SHIRT, 2),
                return_line(&delivered.order, seed::TOTE, 1),
            ],
        }),
    )
    .await;
    let shirts_before = app.stock_at(RETURNS_WAREHOUSE, seed::SHIRT).await;
    let totes_before = app.stock_at(RETURNS_WAREHOUSE, seed::TOTE).await;
    let received = receive_ok(&app, &ret, RETURNS_WAREHOUSE).await;
    assert_eq!(received["status"], "REFUNDED", "{}", pretty(&received));
    assert_eq!(received["refund"]["status"], "ISSUED");
    assert!(received["refund"]["issuedAt"].is_string());
    assert_eq!(amount_cents(&received["refund"]["amount"]), 2 * 1990 + 1250);
    assert_eq!(
        app.stock_at(RETURNS_WAREHOUSE, seed::SHIRT).await.on_hand,
        shirts_before.on_hand + 2
    );
    assert_eq!(
        app.stock_at(RETURNS_WAREHOUSE, seed::TOTE).await.on_hand,
        totes_before.on_hand + 1
    );
    let order = reread(&app, &delivered.order).await;
    assert_eq!(line(&order, seed::SHIRT)["quantityReturned"], 2);
    assert_eq!(line(&order, seed::TOTE)["quantityReturned"], 1);
    assert_eq!(refunded_cents(&order), 2 * 1990 + 1250);
    assert_return_not_allowed(&order);
}

#[tokio::test]
async fn a_partial_receipt_refunds_what_arrived_and_the_rest_is_returnable_again() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::SHIRT, 2, seed::STORE_A),
    )
    .await;
    let before = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    let resp = receive_with(
        &app,
        &app.service_token(),
        json!({
            "returnId": ret["id"], "locationCode": seed::STORE_A,
            "lines": [{ "lineId": line_id(&delivered.order, seed::SHIRT), "quantity": 1, "restock": true }],
        }),
    )
    .await;
    let received = expect_ok(&resp, "receiveReturn")["return"].clone();
    assert_eq!(
        amount_cents(&received["refund"]["amount"]),
        1990,
        "{}",
        pretty(&resp)
    );
    assert_eq!(received["refund"]["status"], "ISSUED");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await.on_hand,
        before.on_hand + 1
    );
    let order = reread(&app, &delivered.order).await;
    assert_eq!(line(&order, seed::SHIRT)["quantityReturned"], 1);
    assert_eq!(refunded_cents(&order), 1990);
    let shirt = returnable(&order, seed::SHIRT);
    assert_eq!(
        shirt["quantityReturnable"],
        1,
        "the unit that never arrived may be returned again:\n{}",
        pretty(&order)
    );
    assert_eq!(shirt["reason"], Value::Null);
}

#[tokio::test]
async fn per_line_restock_decisions_are_followed() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        json!({
            "orderId": delivered.order["id"], "method": "IN_STORE", "returnLocationCode": seed::STORE_A,
            "lines": [
                return_line(&delivered.order, seed::SHIRT, 1),
                return_line(&delivered.order, seed::TOTE, 1),
            ],
        }),
    )
    .await;
    let shirts = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    let totes = app.stock_at(seed::STORE_A, seed::TOTE).await;
    let resp = receive_with(
        &app,
        &app.service_token(),
        json!({
            "returnId": ret["id"], "locationCode": seed::STORE_A,
            "lines": [
                { "lineId": line_id(&delivered.order, seed::SHIRT), "quantity": 1, "restock": true },
                { "lineId": line_id(&delivered.order, seed::TOTE), "quantity": 1, "restock": false },
            ],
        }),
    )
    .await;
    let received = expect_ok(&resp, "receiveReturn")["return"].clone();
    assert_eq!(amount_cents(&received["refund"]["amount"]), 1990 + 1250);
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await.on_hand,
        shirts.on_hand + 1,
        "the shirt is restocked"
    );
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::TOTE).await,
        totes,
        "the damaged tote is not"
    );
}

#[tokio::test]
async fn an_admin_may_receive_a_return() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::TOTE, 1, seed::STORE_A),
    )
    .await;
    let resp = receive_with(
        &app,
        &app.admin_token(),
        json!({ "returnId": ret["id"], "locationCode": seed::STORE_A, "restock": true }),
    )
    .await;
    assert_eq!(
        expect_ok(&resp, "receiveReturn")["return"]["status"],
        "REFUNDED"
    );
}

#[tokio::test]
async fn a_receipt_at_a_location_that_takes_no_returns_is_invalid() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let before = app.stock_at(seed::WAREHOUSE, seed::SHIRT).await;
    let resp = receive_with(
        &app,
        &app.service_token(),
        json!({ "returnId": ret["id"], "locationCode": seed::WAREHOUSE, "restock": true }),
    )
    .await;
    assert_refused(&resp, "receiveReturn", "INVALID", &["locationCode"]);
    assert_eq!(app.stock_at(seed::WAREHOUSE, seed::SHIRT).await, before);
    let order = reread(&app, &delivered.order).await;
    assert_eq!(order["returns"][0]["status"], "REQUESTED");
    assert_eq!(refunded_cents(&order), 0);
}

#[tokio::test]
async fn a_return_is_received_only_once() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::SHIRT, 1, seed::STORE_A),
    )
    .await;
    receive_ok(&app, &ret, seed::STORE_A).await;
    let stock = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    let resp = receive_with(
        &app,
        &app.service_token(),
        json!({ "returnId": ret["id"], "locationCode": seed::STORE_A, "restock": true }),
    )
    .await;
    assert_refused(&resp, "receiveReturn", "NOT_MODIFIABLE", &["returnId"]);
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        stock,
        "restocked once"
    );
    let order = reread(&app, &delivered.order).await;
    assert_eq!(refunded_cents(&order), 1990, "refunded once");
    assert_eq!(line(&order, seed::SHIRT)["quantityReturned"], 1);
}

#[tokio::test]
async fn a_rejected_or_cancelled_return_cannot_be_received() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let rejected = request_ok(
        &app,
        &token,
        in_store(&delivered.order, seed::SHIRT, 1, seed::STORE_A),
    )
    .await;
    let resp = reject_with(
        &app,
        &app.service_token(),
        json!({ "returnId": rejected["id"], "reason": "Worn and washed" }),
    )
    .await;
    expect_ok(&resp, "rejectReturn");
    let cancelled = request_ok(
        &app,
        &token,
        in_store(&delivered.order, seed::TOTE, 1, seed::STORE_A),
    )
    .await;
    let resp = cancel_with(&app, &token, json!({ "returnId": cancelled["id"] })).await;
    expect_ok(&resp, "cancelReturn");

    let stock = app.stock_snapshot(&[seed::SHIRT, seed::TOTE]).await;
    for ret in [&rejected, &cancelled] {
        let resp = receive_with(
            &app,
            &app.service_token(),
            json!({ "returnId": ret["id"], "locationCode": seed::STORE_A, "restock": true }),
        )
        .await;
        assert_refused(&resp, "receiveReturn", "NOT_MODIFIABLE", &["returnId"]);
    }
    assert_eq!(app.stock_snapshot(&[seed::SHIRT, seed::TOTE]).await, stock);
    assert_eq!(refunded_cents(&reread(&app, &delivered.order).await), 0);
}

#[tokio::test]
async fn an_unknown_return_cannot_be_received() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let resp = receive_with(
        &app,
        &app.service_token(),
        json!({ "returnId": missing_id("Return"), "locationCode": seed::STORE_A, "restock": true }),
    )
    .await;
    assert_refused(&resp, "receiveReturn", "NOT_FOUND", &["returnId"]);
}

#[tokio::test]
async fn receiving_more_than_was_requested_is_invalid() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::SHIRT, 1, seed::STORE_A),
    )
    .await;
    let stock = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    let resp = receive_with(
        &app,
        &app.service_token(),
        json!({
            "returnId": ret["id"], "locationCode": seed::STORE_A,
            "lines": [{ "lineId": line_id(&delivered.order, seed::SHIRT), "quantity": 2, "restock": true }],
        }),
    )
    .await;
    assert_refused(
        &resp,
        "receiveReturn",
        "INVALID",
        &["lines", "0", "quantity"],
    );
    assert_eq!(app.stock_at(seed::STORE_A, seed::SHIRT).await, stock);
    let order = reread(&app, &delivered.order).await;
    assert_eq!(order["returns"][0]["status"], "REQUESTED");
    assert_eq!(line(&order, seed::SHIRT)["quantityReturned"], 0);
}

#[tokio::test]
async fn a_customer_may_not_receive_a_return() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let ret = request_ok(
        &app,
        &token,
        in_store(&delivered.order, seed::SHIRT, 1, seed::STORE_A),
    )
    .await;
    let resp = receive_with(
        &app,
        &token,
        json!({ "returnId": ret["id"], "locationCode": seed::STORE_A, "restock": true }),
    )
    .await;
    assert_error_code(&resp, "FORBIDDEN");
    let order = reread(&app, &delivered.order).await;
    assert_eq!(order["returns"][0]["status"], "REQUESTED");
    assert_eq!(refunded_cents(&order), 0);
}

#[tokio::test]
async fn a_replayed_receipt_returns_the_first_result_and_restocks_once() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::SHIRT, 1, seed::STORE_A),
    )
    .await;
    let before = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    let input = json!({
        "returnId": ret["id"], "locationCode": seed::STORE_A, "restock": true,
        "idempotencyKey": "till-7-receipt-1",
    });
    let first = receive_with(&app, &app.service_token(), input.clone()).await;
    let first = expect_ok(&first, "receiveReturn")["return"].clone();
    let replay = receive_with(&app, &app.service_token(), input).await;
    let replay = expect_ok(&replay, "receiveReturn")["return"].clone();
    assert_eq!(replay["id"], first["id"], "{}", pretty(&replay));
    assert_eq!(replay["status"], "REFUNDED");
    assert_eq!(replay["refund"], first["refund"], "the first result");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await.on_hand,
        before.on_hand + 1,
        "restocked once"
    );
    let order = reread(&app, &delivered.order).await;
    assert_eq!(refunded_cents(&order), 1990, "refunded once");
    assert_eq!(line(&order, seed::SHIRT)["quantityReturned"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_receipts_of_one_return_apply_once() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::SHIRT, 2, seed::STORE_A),
    )
    .await;
    let before = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    let token = app.service_token();
    let input = json!({ "returnId": ret["id"], "locationCode": seed::STORE_A, "restock": true });
    let (first, second) = tokio::join!(
        receive_with(&app, &token, input.clone()),
        receive_with(&app, &token, input.clone()),
    );
    let mut applied = 0;
    let mut refused = 0;
    for resp in [&first, &second] {
        assert!(
            top_level_errors(resp).is_empty(),
            "no request may fail outright:\n{}",
            pretty(resp)
        );
        if user_errors(resp, "receiveReturn").is_empty() {
            applied += 1;
        } else {
            assert_refused(resp, "receiveReturn", "NOT_MODIFIABLE", &["returnId"]);
            refused += 1;
        }
    }
    assert_eq!((applied, refused), (1, 1), "exactly one receipt");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await.on_hand,
        before.on_hand + 2,
        "restocked once"
    );
    let order = reread(&app, &delivered.order).await;
    assert_eq!(refunded_cents(&order), 2 * 1990, "refunded once");
    assert_eq!(line(&order, seed::SHIRT)["quantityReturned"], 2);
}

// ---------------------------------------------------------------------- rejecting

#[tokio::test]
async fn a_store_rejects_a_return_and_the_units_are_returnable_again() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::SHIRT, 2, seed::STORE_A),
    )
    .await;
    let stock = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    let resp = reject_with(
        &app,
        &app.service_token(),
        json!({ "returnId": ret["id"], "reason": "Worn and washed" }),
    )
    .await;
    let rejected = expect_ok(&resp, "rejectReturn")["return"].clone();
    assert_eq!(rejected["status"], "REJECTED", "{}", pretty(&resp));
    assert_eq!(
        rejected["refund"],
        Value::Null,
        "no refund for a rejected return"
    );
    assert_eq!(app.stock_at(seed::STORE_A, seed::SHIRT).await, stock);
    let order = reread(&app, &delivered.order).await;
    assert_eq!(
        returnable(&order, seed::SHIRT)["quantityReturnable"],
        2,
        "{}",
        pretty(&order)
    );
    assert_eq!(refunded_cents(&order), 0);
    assert_eq!(line(&order, seed::SHIRT)["quantityReturned"], 0);
}

#[tokio::test]
async fn an_agent_may_reject_a_return_but_a_customer_may_not() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let input = json!({ "returnId": ret["id"], "reason": "Outside our goodwill" });
    let resp = reject_with(&app, &delivered.token(&app), input.clone()).await;
    assert_error_code(&resp, "FORBIDDEN");
    let resp = reject_with(&app, &app.agent_token(), input).await;
    assert_eq!(
        expect_ok(&resp, "rejectReturn")["return"]["status"],
        "REJECTED"
    );
}

#[tokio::test]
async fn a_rejection_needs_a_reason() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let resp = reject_with(
        &app,
        &app.service_token(),
        json!({ "returnId": ret["id"], "reason": "  " }),
    )
    .await;
    assert_refused(&resp, "rejectReturn", "INVALID", &["reason"]);
    assert_eq!(
        reread(&app, &delivered.order).await["returns"][0]["status"],
        "REQUESTED"
    );
}

#[tokio::test]
async fn only_a_requested_return_may_be_rejected() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let rejected = request_ok(
        &app,
        &token,
        in_store(&delivered.order, seed::SHIRT, 1, seed::STORE_A),
    )
    .await;
    let input = json!({ "returnId": rejected["id"], "reason": "Worn" });
    expect_ok(
        &reject_with(&app, &app.service_token(), input.clone()).await,
        "rejectReturn",
    );
    let received = request_ok(
        &app,
        &token,
        in_store(&delivered.order, seed::TOTE, 1, seed::STORE_A),
    )
    .await;
    receive_ok(&app, &received, seed::STORE_A).await;

    let resp = reject_with(&app, &app.service_token(), input).await;
    assert_refused(&resp, "rejectReturn", "NOT_MODIFIABLE", &["returnId"]);
    let resp = reject_with(
        &app,
        &app.service_token(),
        json!({ "returnId": received["id"], "reason": "Worn" }),
    )
    .await;
    assert_refused(&resp, "rejectReturn", "NOT_MODIFIABLE", &["returnId"]);
    let order = reread(&app, &delivered.order).await;
    assert_eq!(
        refunded_cents(&order),
        1250,
        "the received tote stays refunded"
    );
}

// ---------------------------------------------------------------------- cancelling

#[tokio::test]
async fn an_admin_may_reject_and_cancel_returns() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let first = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let second = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::TOTE, 1, "CARRIER"),
    )
    .await;
    let resp = reject_with(
        &app,
        &app.admin_token(),
        json!({ "returnId": first["id"], "reason": "Back office: worn" }),
    )
    .await;
    assert_eq!(
        expect_ok(&resp, "rejectReturn")["return"]["status"],
        "REJECTED"
    );
    let resp = cancel_with(
        &app,
        &app.admin_token(),
        json!({ "returnId": second["id"], "reason": "Back office: duplicate" }),
    )
    .await;
    assert_eq!(
        expect_ok(&resp, "cancelReturn")["return"]["status"],
        "CANCELLED"
    );
}

#[tokio::test]
async fn a_customer_cancels_her_return_and_the_units_are_returnable_again() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let ret = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 2, "CARRIER"),
    )
    .await;
    let resp = cancel_with(
        &app,
        &token,
        json!({ "returnId": ret["id"], "reason": "Kept them after all" }),
    )
    .await;
    let cancelled = expect_ok(&resp, "cancelReturn")["return"].clone();
    assert_eq!(cancelled["status"], "CANCELLED", "{}", pretty(&resp));
    assert_eq!(cancelled["refund"], Value::Null);
    let mine = read_order(&app, &token, &delivered.order["id"]).await;
    assert_eq!(
        returnable(&mine, seed::SHIRT)["quantityReturnable"],
        2,
        "{}",
        pretty(&mine)
    );
    assert_return_allowed(&mine);
}

#[tokio::test]
async fn another_customers_return_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let eve = app.new_customer("eve@example.test").await;
    let resp = cancel_with(
        &app,
        &app.customer_token(&eve),
        json!({ "returnId": ret["id"] }),
    )
    .await;
    assert_refused(&resp, "cancelReturn", "NOT_FOUND", &["returnId"]);
    assert_eq!(
        reread(&app, &delivered.order).await["returns"][0]["status"],
        "REQUESTED"
    );
}

#[tokio::test]
async fn an_agent_cancels_a_return_with_a_reason() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let resp = cancel_with(&app, &app.agent_token(), json!({ "returnId": ret["id"] })).await;
    assert_refused(&resp, "cancelReturn", "INVALID", &["reason"]);
    let resp = cancel_with(
        &app,
        &app.agent_token(),
        json!({ "returnId": ret["id"], "reason": AGENT_REASON }),
    )
    .await;
    assert_eq!(
        expect_ok(&resp, "cancelReturn")["return"]["status"],
        "CANCELLED"
    );
}

#[tokio::test]
async fn a_service_may_not_cancel_a_return() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let resp = cancel_with(
        &app,
        &app.service_token(),
        json!({ "returnId": ret["id"], "reason": "Integration" }),
    )
    .await;
    assert_error_code(&resp, "FORBIDDEN");
    assert_eq!(
        reread(&app, &delivered.order).await["returns"][0]["status"],
        "REQUESTED"
    );
}

#[tokio::test]
async fn only_a_requested_return_may_be_cancelled() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let cancelled = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    expect_ok(
        &cancel_with(&app, &token, json!({ "returnId": cancelled["id"] })).await,
        "cancelReturn",
    );
    let received = request_ok(
        &app,
        &token,
        in_store(&delivered.order, seed::TOTE, 1, seed::STORE_A),
    )
    .await;
    receive_ok(&app, &received, seed::STORE_A).await;
    for ret in [&cancelled, &received] {
        let resp = cancel_with(&app, &token, json!({ "returnId": ret["id"] })).await;
        assert_refused(&resp, "cancelReturn", "NOT_MODIFIABLE", &["returnId"]);
    }
    let order = reread(&app, &delivered.order).await;
    assert_eq!(refunded_cents(&order), 1250);
}

// ---------------------------------------------------------------------- early refunds

#[tokio::test]
async fn an_agent_refunds_before_the_goods_arrive() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 2, "CARRIER"),
    )
    .await;
    let resp = refund_with(
        &app,
        &app.agent_token(),
        json!({ "returnId": ret["id"], "reason": OVERRIDE_REASON }),
    )
    .await;
    let refunded = expect_ok(&resp, "issueRefund")["return"].clone();
    assert_eq!(refunded["status"], "REFUNDED", "{}", pretty(&resp));
    assert_eq!(refunded["refund"]["status"], "ISSUED");
    assert!(refunded["refund"]["issuedAt"].is_string());
    assert_eq!(amount_cents(&refunded["refund"]["amount"]), 2 * 1990);

    let order = reread(&app, &delivered.order).await;
    assert_eq!(refunded_cents(&order), 2 * 1990, "{}", pretty(&order));

    let entry = only_entry(
        &order_entries(
            &app,
            &app.agent_token(),
            &delivered.order["id"],
            "REFUND_ISSUED",
        )
        .await,
        "REFUND_ISSUED",
    );
    assert_eq!(entry["reason"], OVERRIDE_REASON, "{}", pretty(&entry));
    assert_eq!(entry["actor"]["role"], "AGENT");
    assert_eq!(entry["return"]["rmaNumber"], ret["rmaNumber"]);
}

#[tokio::test]
async fn an_admin_may_refund_early() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::TOTE, 1, "CARRIER"),
    )
    .await;
    let resp = refund_with(
        &app,
        &app.admin_token(),
        json!({ "returnId": ret["id"], "reason": "Back office" }),
    )
    .await;
    assert_eq!(
        expect_ok(&resp, "issueRefund")["return"]["refund"]["status"],
        "ISSUED"
    );
}

#[tokio::test]
async fn customers_and_services_may_not_refund_early() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let input = json!({ "returnId": ret["id"], "reason": "Please" });
    for token in [delivered.token(&app), app.service_token()] {
        let resp = refund_with(&app, &token, input.clone()).await;
        assert_error_code(&resp, "FORBIDDEN");
    }
    let order = reread(&app, &delivered.order).await;
    assert_eq!(refunded_cents(&order), 0);
    assert_eq!(order["returns"][0]["status"], "REQUESTED");
}

#[tokio::test]
async fn an_early_refund_needs_a_reason() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let resp = refund_with(
        &app,
        &app.agent_token(),
        json!({ "returnId": ret["id"], "reason": " " }),
    )
    .await;
    assert_refused(&resp, "issueRefund", "INVALID", &["reason"]);
    assert_eq!(refunded_cents(&reread(&app, &delivered.order).await), 0);
}

#[tokio::test]
async fn a_refunded_rejected_or_cancelled_return_cannot_be_refunded() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered = deliver(
        &app,
        OrderBuilder::new().line(seed::SHIRT, 3),
        &at_hours(-2),
    )
    .await;
    let token = delivered.token(&app);
    let agent = app.agent_token();
    let refunded = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    expect_ok(
        &refund_with(
            &app,
            &agent,
            json!({ "returnId": refunded["id"], "reason": "Goodwill" }),
        )
        .await,
        "issueRefund",
    );
    let rejected = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    expect_ok(
        &reject_with(
            &app,
            &agent,
            json!({ "returnId": rejected["id"], "reason": "Worn" }),
        )
        .await,
        "rejectReturn",
    );
    let cancelled = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    expect_ok(
        &cancel_with(&app, &token, json!({ "returnId": cancelled["id"] })).await,
        "cancelReturn",
    );
    for ret in [&refunded, &rejected, &cancelled] {
        let resp = refund_with(
            &app,
            &agent,
            json!({ "returnId": ret["id"], "reason": "Again" }),
        )
        .await;
        assert_refused(&resp, "issueRefund", "NOT_MODIFIABLE", &["returnId"]);
    }
    assert_eq!(
        refunded_cents(&reread(&app, &delivered.order).await),
        1990,
        "refunded once"
    );
}

#[tokio::test]
async fn goods_refunded_early_are_still_received_but_not_refunded_twice() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::SHIRT, 2, seed::STORE_A),
    )
    .await;
    expect_ok(
        &refund_with(
            &app,
            &app.agent_token(),
            json!({ "returnId": ret["id"], "reason": OVERRIDE_REASON }),
        )
        .await,
        "issueRefund",
    );
    let before = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    let received = receive_ok(&app, &ret, seed::STORE_A).await;
    assert_eq!(received["status"], "REFUNDED", "{}", pretty(&received));
    assert_eq!(received["refund"]["status"], "ISSUED");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await.on_hand,
        before.on_hand + 2,
        "restocked on receipt"
    );
    let order = reread(&app, &delivered.order).await;
    assert_eq!(line(&order, seed::SHIRT)["quantityReturned"], 2);
    assert_eq!(
        refunded_cents(&order),
        2 * 1990,
        "refunded once:\n{}",
        pretty(&order)
    );
}

// ---------------------------------------------------------------------- reads

#[tokio::test]
async fn an_order_lists_its_returns() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let first = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let second = request_ok(
        &app,
        &token,
        in_store(&delivered.order, seed::TOTE, 1, seed::STORE_A),
    )
    .await;
    let mine = read_order(&app, &token, &delivered.order["id"]).await;
    let mut listed = return_ids(&mine);
    listed.sort_by_key(|v| v.to_string());
    let mut expected = vec![first["id"].clone(), second["id"].clone()];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(listed, expected, "{}", pretty(&mine));
}

const CUSTOMER_RETURNS: &str = "query($id: ID!, $first: Int, $after: String) {
    customer(id: $id) { returns(first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { cursor node { id rmaNumber order { id } } } } } }";

#[tokio::test]
async fn a_customers_returns_page_newest_first() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let other = deliver(&app, OrderBuilder::new().line(seed::TOTE, 1), &at_hours(-1)).await;
    let token = delivered.token(&app);
    let older = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let newer = request_ok(
        &app,
        &token,
        return_input(&other.order, seed::TOTE, 1, "CARRIER"),
    )
    .await;

    for reader in [token.clone(), app.agent_token()] {
        let resp = app
            .gql(
                Some(&reader),
                CUSTOMER_RETURNS,
                json!({ "id": delivered.customer, "first": 1 }),
            )
            .await;
        let page = &expect_data(&resp)["customer"]["returns"];
        assert_eq!(page["totalCount"], 2, "{}", pretty(&resp));
        let first_page = nodes(page);
        assert_eq!(first_page.len(), 1);
        assert_eq!(
            first_page[0]["id"],
            newer["id"],
            "newest first:\n{}",
            pretty(&resp)
        );
        assert_eq!(page["pageInfo"]["hasNextPage"], true);

        let resp = app
            .gql(
                Some(&reader),
                CUSTOMER_RETURNS,
                json!({ "id": delivered.customer, "first": 1, "after": page["pageInfo"]["endCursor"] }),
            )
            .await;
        let page = &expect_data(&resp)["customer"]["returns"];
        let second_page = nodes(page);
        assert_eq!(second_page.len(), 1, "{}", pretty(&resp));
        assert_eq!(second_page[0]["id"], older["id"]);
        assert_eq!(page["pageInfo"]["hasNextPage"], false);
    }
}

#[tokio::test]
async fn a_customer_sees_only_her_own_returns() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let eve = app.new_customer("eve@example.test").await;
    let resp = app
        .as_customer(
            &eve,
            "{ me { returns { totalCount edges { node { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        expect_data(&resp)["me"]["returns"]["totalCount"],
        0,
        "{}",
        pretty(&resp)
    );
}

const READ_RETURN: &str = "query($id: ID!, $rma: String!) {
    byId: return(id: $id) { id rmaNumber status order { id } }
    byRma: returnByRma(rmaNumber: $rma) { id rmaNumber }
    node(id: $id) { id ... on Return { rmaNumber status } } }";

#[tokio::test]
async fn the_owner_agents_and_services_read_a_return_by_id_rma_and_node() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    for reader in [
        delivered.token(&app),
        app.agent_token(),
        app.service_token(),
        app.admin_token(),
    ] {
        let resp = app
            .gql(
                Some(&reader),
                READ_RETURN,
                json!({ "id": ret["id"], "rma": ret["rmaNumber"] }),
            )
            .await;
        let data = expect_data(&resp);
        assert_eq!(data["byId"]["id"], ret["id"], "{}", pretty(&resp));
        assert_eq!(data["byId"]["rmaNumber"], ret["rmaNumber"]);
        assert_eq!(data["byId"]["status"], "REQUESTED");
        assert_eq!(data["byId"]["order"]["id"], delivered.order["id"]);
        assert_eq!(data["byRma"]["id"], ret["id"]);
        assert_eq!(data["node"]["id"], ret["id"]);
        assert_eq!(data["node"]["rmaNumber"], ret["rmaNumber"]);
    }
}

#[tokio::test]
async fn another_customers_return_reads_like_a_missing_one() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let eve = app.new_customer("eve@example.test").await;
    let theirs = app
        .as_customer(
            &eve,
            READ_RETURN,
            json!({ "id": ret["id"], "rma": ret["rmaNumber"] }),
        )
        .await;
    let missing = app
        .as_customer(
            &eve,
            READ_RETURN,
            json!({ "id": missing_id("Return"), "rma": "RMA-NO-SUCH" }),
        )
        .await;
    let expected = json!({ "byId": null, "byRma": null, "node": null });
    assert_eq!(expect_data(&theirs), &expected, "{}", pretty(&theirs));
    assert_eq!(expect_data(&missing), &expected, "{}", pretty(&missing));
}

#[tokio::test]
async fn marketing_reads_no_return() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    for query in [
        "query($id: ID!) { return(id: $id) { id rmaNumber } }",
        "query($rma: String!) { returnByRma(rmaNumber: $rma) { id rmaNumber } }",
    ] {
        let resp = app
            .as_marketing(query, json!({ "id": ret["id"], "rma": ret["rmaNumber"] }))
            .await;
        for code in crate::harness::error_codes(&resp) {
            assert_eq!(code, "FORBIDDEN", "{}", pretty(&resp));
        }
        let data = &resp["data"];
        assert!(
            data.is_null()
                || data
                    .as_object()
                    .is_some_and(|d| d.values().all(Value::is_null)),
            "marketing reads null:\n{}",
            pretty(&resp)
        );
    }
}

// ---------------------------------------------------------------------- timeline and events

async fn entries_of_kinds(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
    at: &[&str],
) -> Vec<Value> {
    let resp = app.gql(Some(token), query, variables).await;
    let mut connection = expect_data(&resp);
    for key in at {
        connection = &connection[*key];
    }
    assert!(
        connection.is_object(),
        "the timeline reads:\n{}",
        pretty(&resp)
    );
    nodes(connection)
}

/// Every return kind once on one order: REQUESTED (x4), RECEIVED and REFUND_ISSUED (receipt),
/// REJECTED, CANCELLED, and an agent's early REFUND_ISSUED. Returns (order, rma numbers).
async fn every_return_kind(app: &TestApp) -> (Delivered, Vec<String>) {
    setup(app).await;
    let delivered = deliver(app, OrderBuilder::new().line(seed::SHIRT, 4), &at_hours(-2)).await;
    let token = delivered.token(app);
    let mut rmas = Vec::new();
    let next = || in_store(&delivered.order, seed::SHIRT, 1, seed::STORE_A);
    let received = request_ok(app, &token, next()).await;
    receive_ok(app, &received, seed::STORE_A).await;
    let rejected = request_ok(app, &token, next()).await;
    expect_ok(
        &reject_with(
            app,
            &app.service_token(),
            json!({ "returnId": rejected["id"], "reason": "Worn" }),
        )
        .await,
        "rejectReturn",
    );
    let cancelled = request_ok(app, &token, next()).await;
    expect_ok(
        &cancel_with(app, &token, json!({ "returnId": cancelled["id"] })).await,
        "cancelReturn",
    );
    let early = request_ok(app, &token, next()).await;
    expect_ok(
        &refund_with(
            app,
            &app.agent_token(),
            json!({ "returnId": early["id"], "reason": "Goodwill" }),
        )
        .await,
        "issueRefund",
    );
    for ret in [&received, &rejected, &cancelled, &early] {
        rmas.push(str_of(&ret["rmaNumber"], "rmaNumber").to_string());
    }
    (delivered, rmas)
}

/// The rma numbers the entries of `kind` carry.
fn rmas_of(entries: &[Value], kind: &str) -> Vec<String> {
    let mut rmas: Vec<String> = entries
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| {
            e["return"]["rmaNumber"]
                .as_str()
                .unwrap_or("<no return>")
                .to_string()
        })
        .collect();
    rmas.sort();
    rmas
}

#[track_caller]
fn assert_every_return_kind(entries: &[Value], rmas: &[String]) {
    let [received, rejected, cancelled, early] = rmas else {
        panic!("four returns: {rmas:?}");
    };
    let mut all = rmas.to_vec();
    all.sort();
    let shown = pretty(&json!(entries));
    assert_eq!(rmas_of(entries, "RETURN_REQUESTED"), all, "{shown}");
    assert_eq!(
        rmas_of(entries, "RETURN_RECEIVED"),
        vec![received.clone()],
        "{shown}"
    );
    assert_eq!(
        rmas_of(entries, "RETURN_REJECTED"),
        vec![rejected.clone()],
        "{shown}"
    );
    assert_eq!(
        rmas_of(entries, "RETURN_CANCELLED"),
        vec![cancelled.clone()],
        "{shown}"
    );
    let refunds = rmas_of(entries, "REFUND_ISSUED");
    assert!(
        refunds.contains(early),
        "the early refund is on the timeline: {shown}"
    );
}

fn order_timeline_with_returns() -> String {
    format!(
        "query($id: ID!, $kinds: [TimelineKind!]) {{ order(id: $id) {{
            timeline(first: 100, kinds: $kinds) {{ edges {{ node {{ {RETURN_ENTRY_FIELDS} }} }} }} }} }}"
    )
}

fn customer_timeline_with_returns() -> String {
    format!(
        "query($id: ID!, $kinds: [TimelineKind!]) {{ customer(id: $id) {{
            timeline(first: 100, kinds: $kinds) {{ edges {{ node {{ {RETURN_ENTRY_FIELDS} }} }} }} }} }}"
    )
}

fn my_timeline_with_returns() -> String {
    format!(
        "query($kinds: [TimelineKind!]) {{ me {{
            timeline(first: 100, kinds: $kinds) {{ edges {{ node {{ {RETURN_ENTRY_FIELDS} }} }} }} }} }}"
    )
}

#[tokio::test]
async fn every_return_step_is_on_the_order_timeline_with_its_return() {
    let app = TestApp::spawn().await;
    let (delivered, rmas) = every_return_kind(&app).await;
    let entries = entries_of_kinds(
        &app,
        &app.agent_token(),
        &order_timeline_with_returns(),
        json!({ "id": delivered.order["id"], "kinds": RETURN_KINDS }),
        &["order", "timeline"],
    )
    .await;
    assert_every_return_kind(&entries, &rmas);
    for entry in &entries {
        assert_eq!(
            entry["order"]["id"],
            delivered.order["id"],
            "{}",
            pretty(entry)
        );
    }
}

#[tokio::test]
async fn every_return_step_is_on_the_customer_timeline() {
    let app = TestApp::spawn().await;
    let (delivered, rmas) = every_return_kind(&app).await;
    let entries = entries_of_kinds(
        &app,
        &app.agent_token(),
        &customer_timeline_with_returns(),
        json!({ "id": delivered.customer, "kinds": RETURN_KINDS }),
        &["customer", "timeline"],
    )
    .await;
    assert_every_return_kind(&entries, &rmas);
}

#[tokio::test]
async fn the_customer_sees_her_return_steps_on_her_own_timeline() {
    let app = TestApp::spawn().await;
    let (delivered, rmas) = every_return_kind(&app).await;
    let token = delivered.token(&app);
    let entries = entries_of_kinds(
        &app,
        &token,
        &my_timeline_with_returns(),
        json!({ "kinds": RETURN_KINDS }),
        &["me", "timeline"],
    )
    .await;
    assert_every_return_kind(&entries, &rmas);
    // And through the order's timeline, as its owner.
    let on_order = entries_of_kinds(
        &app,
        &token,
        &order_timeline_with_returns(),
        json!({ "id": delivered.order["id"], "kinds": RETURN_KINDS }),
        &["order", "timeline"],
    )
    .await;
    assert_every_return_kind(&on_order, &rmas);
}

#[tokio::test]
async fn a_receipt_puts_the_refund_on_the_timeline_too() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let ret = request_ok(
        &app,
        &delivered.token(&app),
        in_store(&delivered.order, seed::SHIRT, 1, seed::STORE_A),
    )
    .await;
    receive_ok(&app, &ret, seed::STORE_A).await;
    let entries = entries_of_kinds(
        &app,
        &app.agent_token(),
        &order_timeline_with_returns(),
        json!({ "id": delivered.order["id"], "kinds": ["RETURN_RECEIVED", "REFUND_ISSUED"] }),
        &["order", "timeline"],
    )
    .await;
    let rma = vec![str_of(&ret["rmaNumber"], "rmaNumber").to_string()];
    assert_eq!(
        rmas_of(&entries, "RETURN_RECEIVED"),
        rma,
        "{}",
        pretty(&json!(entries))
    );
    assert_eq!(
        rmas_of(&entries, "REFUND_ISSUED"),
        rma,
        "{}",
        pretty(&json!(entries))
    );
    let received = entries
        .iter()
        .find(|e| e["kind"] == "RETURN_RECEIVED")
        .expect("a RETURN_RECEIVED entry");
    assert_eq!(received["actor"]["role"], "SERVICE", "{}", pretty(received));
}

#[tokio::test]
async fn a_customers_return_request_is_on_the_timeline_as_hers() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let ret = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;
    let entry = only_entry(
        &order_entries(&app, &token, &delivered.order["id"], "RETURN_REQUESTED").await,
        "RETURN_REQUESTED",
    );
    assert_eq!(entry["actor"]["role"], "CUSTOMER", "{}", pretty(&entry));
    assert_eq!(entry["return"]["id"], ret["id"]);
    assert_eq!(entry["return"]["rmaNumber"], ret["rmaNumber"]);
    assert_eq!(entry["return"]["status"], "REQUESTED");
}

#[tokio::test]
async fn the_customer_sees_an_agents_override_without_the_agents_reason() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let delivered = deliver(&app, OrderBuilder::new().line(EARRINGS, 1), &at_hours(-2)).await;
    let ret = request_ok(
        &app,
        &app.agent_token(),
        json!({
            "orderId": delivered.order["id"],
            "method": "CARRIER",
            "lines": [return_line(&delivered.order, EARRINGS, 1)],
            "reason": AGENT_REASON,
            "override": { "reason": OVERRIDE_REASON },
        }),
    )
    .await;
    let entry = only_entry(
        &order_entries(
            &app,
            &delivered.token(&app),
            &delivered.order["id"],
            "RETURN_REQUESTED",
        )
        .await,
        "RETURN_REQUESTED",
    );
    assert_eq!(
        entry["return"]["rmaNumber"],
        ret["rmaNumber"],
        "{}",
        pretty(&entry)
    );
    assert_eq!(entry["actor"]["role"], "AGENT");
    assert_eq!(
        entry["actor"]["id"],
        Value::Null,
        "customers do not see who the agent was"
    );
    assert_eq!(entry["reason"], Value::Null, "nor the agent's reason");
}

#[tokio::test]
async fn order_events_deliver_the_return_request_to_its_owner() {
    let app = TestApp::spawn().await;
    let delivered = delivered_order(&app).await;
    let token = delivered.token(&app);
    let mut ws = WsClient::connect(&app, Some(&token)).await;
    ws.subscribe(
        "order",
        "subscription($id: ID!) { orderEvents(orderId: $id) { kind order { id } return { rmaNumber } } }",
        json!({ "id": delivered.order["id"] }),
    )
    .await;
    ws.settle().await;

    let ret = request_ok(
        &app,
        &token,
        return_input(&delivered.order, seed::SHIRT, 1, "CARRIER"),
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let data = ws.expect_next("order", left).await;
        let entry = &data["orderEvents"];
        if entry["kind"] == "RETURN_REQUESTED" {
            assert_eq!(
                entry["return"]["rmaNumber"],
                ret["rmaNumber"],
                "{}",
                pretty(&data)
            );
            assert_eq!(entry["order"]["id"], delivered.order["id"]);
            break;
        }
    }
}
