//! Self-service order changes (customers on their own orders, agents with a reason, services
//! with a reason code): the modification policy and `allowedActions`, changeShippingAddress
//! (with re-routing), cancelOrderLines, cancelOrder, optimistic concurrency and idempotency keys.

use serde_json::{Value, json};

use crate::fixtures::{
    LocationBuilder, OrderBuilder, ProductBuilder, Stock, cents, nodes, order_timeline_query, seed,
    str_of, tracking_number, utrecht_address,
};
use crate::harness::{
    TestApp, assert_error_code, assert_user_error, assert_user_error_at, expect_data, expect_ok,
    payload, pretty, top_level_errors,
};

const CARRIER: &str = "PostNL";
const AGENT_REASON: &str = "Customer called: moved house";

/// The sku of the split scenarios (not in the seed catalogue).
const JACKET: &str = "SKU-R";

// ---------------------------------------------------------------------- helpers

/// Places `order` as a service and reads it back (as agent-1) with the self-service fields;
/// returns (order, customer id).
async fn place(app: &TestApp, order: OrderBuilder) -> (Value, String) {
    let placed = order.place_ok(app).await;
    let order = app
        .self_service_order(&app.agent_token(), &placed["id"])
        .await;
    assert!(order.is_object(), "an agent reads the order: {placed}");
    let customer = str_of(&order["customer"]["id"], "customer id").to_string();
    (order, customer)
}

/// Seeded catalogue; a WEB order of 3 shirts and 1 tote (both from ST-1, one shipment) with
/// shipping fixed at 4.95 EUR.
async fn shirts_and_tote(app: &TestApp) -> (Value, String) {
    app.seed_catalog().await;
    place(
        app,
        OrderBuilder::new()
            .line(seed::SHIRT, 3)
            .line(seed::TOTE, 1)
            .shipping_cost("4.95", "EUR"),
    )
    .await
}

/// 7 jackets from two warehouses: AMS (Amsterdam, holds 3) and UTR (Utrecht, holds 4); nobody
/// holds 7, so the one line is split over two shipments.
async fn split_jackets(app: &TestApp) -> (Value, String) {
    ProductBuilder::new(JACKET)
        .name("Rain jacket")
        .price("80.00", "EUR")
        .create(app)
        .await;
    LocationBuilder::warehouse("AMS")
        .at(52.37, 4.90)
        .create(app)
        .await;
    LocationBuilder::warehouse("UTR")
        .at(52.09, 5.12)
        .create(app)
        .await;
    app.set_stock("AMS", JACKET, 3).await;
    app.set_stock("UTR", JACKET, 4).await;
    let (order, customer) = place(app, OrderBuilder::new().line(JACKET, 7)).await;
    assert_eq!(
        shipment_codes(&order),
        vec!["AMS", "UTR"],
        "the jackets are split over AMS and UTR:\n{}",
        pretty(&order)
    );
    (order, customer)
}

fn shipment_codes(order: &Value) -> Vec<String> {
    let mut codes: Vec<String> = shipments(order)
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

#[track_caller]
fn shipments(order: &Value) -> Vec<Value> {
    order["shipments"]
        .as_array()
        .unwrap_or_else(|| panic!("no shipments:\n{}", pretty(order)))
        .clone()
}

/// The shipment of `order` at `code`.
#[track_caller]
fn shipment_at(order: &Value, code: &str) -> Value {
    shipments(order)
        .into_iter()
        .find(|s| s["location"]["code"] == code)
        .unwrap_or_else(|| panic!("no shipment at {code}:\n{}", pretty(order)))
}

/// The only shipment of `order`.
#[track_caller]
fn the_shipment(order: &Value) -> Value {
    let all = shipments(order);
    assert_eq!(all.len(), 1, "one shipment:\n{}", pretty(order));
    all[0].clone()
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

#[track_caller]
fn version(order: &Value) -> i64 {
    order["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("no version:\n{}", pretty(order)))
}

#[track_caller]
fn allowance(order: &Value, action: &str) -> Value {
    let a = order["allowedActions"][action].clone();
    assert!(
        a.is_object(),
        "no allowedActions.{action}:\n{}",
        pretty(order)
    );
    a
}

#[track_caller]
fn assert_allowed(order: &Value, action: &str) {
    let a = allowance(order, action);
    assert_eq!(
        a["allowed"],
        true,
        "{action} is allowed:\n{}",
        pretty(order)
    );
    assert_eq!(a["reason"], Value::Null, "no reason when allowed: {action}");
    assert_eq!(a["code"], Value::Null, "no code when allowed: {action}");
}

#[track_caller]
fn assert_not_modifiable_allowance(order: &Value, action: &str) {
    let a = allowance(order, action);
    assert_eq!(
        a["allowed"],
        false,
        "{action} is not allowed:\n{}",
        pretty(order)
    );
    assert_eq!(a["code"], "NOT_MODIFIABLE", "{action}:\n{}", pretty(order));
    let reason = a["reason"].as_str().unwrap_or_default();
    assert!(
        !reason.trim().is_empty(),
        "{action} says why not:\n{}",
        pretty(order)
    );
}

/// A userError of `mutation` with `code`, with a message that says something.
#[track_caller]
fn assert_refused_with_message(resp: &Value, mutation: &str, code: &str) {
    let error = assert_user_error(resp, mutation, code);
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
        payload(resp, mutation)["order"],
        Value::Null,
        "a refused change returns no order:\n{}",
        pretty(resp)
    );
}

/// The order as agent-1 reads it now.
async fn reread(app: &TestApp, order: &Value) -> Value {
    let read = app
        .self_service_order(&app.agent_token(), &order["id"])
        .await;
    assert!(read.is_object(), "an agent reads the order");
    read
}

/// Asserts the order (as an agent reads it) is exactly as `before` left it.
async fn assert_unchanged(app: &TestApp, before: &Value) {
    let now = reread(app, before).await;
    assert_eq!(version(&now), version(before), "version unchanged");
    assert_eq!(now["status"], before["status"], "status unchanged");
    assert_eq!(now["delivery"], before["delivery"], "delivery unchanged");
    assert_eq!(now["lines"], before["lines"], "lines unchanged");
    assert_eq!(now["totals"], before["totals"], "totals unchanged");
    assert_eq!(now["shipments"], before["shipments"], "shipments unchanged");
}

async fn skus_snapshot(app: &TestApp) -> std::collections::BTreeMap<(String, String), Stock> {
    app.stock_snapshot(&[seed::SHIRT, seed::TOTE]).await
}

/// Timeline entries of `kind` on the order as `token` reads them, newest first.
async fn entries_as(app: &TestApp, token: &str, order: &Value, kind: &str) -> Vec<Value> {
    let resp = app
        .gql(
            Some(token),
            &order_timeline_query(),
            json!({ "id": order["id"], "first": 100, "kinds": [kind] }),
        )
        .await;
    let connection = &expect_data(&resp)["order"]["timeline"];
    assert!(
        connection.is_object(),
        "the order's timeline reads:\n{}",
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

/// The sum of `reserved` of `sku` over every location.
async fn total_reserved(app: &TestApp, sku: &str) -> i64 {
    app.stock_snapshot(&[sku])
        .await
        .values()
        .map(|s| s.reserved)
        .sum()
}

async fn dispatch_all(app: &TestApp, order: &Value) {
    for shipment in shipments(order) {
        app.dispatch(&shipment["id"], CARRIER, &tracking_number())
            .await;
    }
}

fn changed_address() -> Value {
    json!({
        "name": "Sam Shopper",
        "line1": "Prinsengracht 263",
        "city": "Amsterdam",
        "postalCode": "1016 GV",
        "countryCode": "NL",
        "location": { "latitude": 52.375, "longitude": 4.884 },
    })
}

fn address_view(address: &Value) -> Value {
    json!({
        "name": address["name"], "line1": address["line1"], "city": address["city"],
        "postalCode": address["postalCode"], "countryCode": address["countryCode"],
    })
}

// ---------------------------------------------------------------------- allowedActions

#[tokio::test]
async fn a_pending_order_allows_every_change_to_its_customer() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let mine = app
        .self_service_order(&app.customer_token(&customer), &order["id"])
        .await;
    assert!(mine.is_object(), "the owner reads her order");
    assert_allowed(&mine, "changeShippingAddress");
    assert_allowed(&mine, "cancel");
    assert_allowed(&mine, "cancelLines");
    let request_return = allowance(&mine, "requestReturn");
    assert_eq!(
        request_return["allowed"], false,
        "nothing delivered, nothing to return"
    );
    assert_eq!(
        request_return["code"],
        "NOT_RETURNABLE",
        "{}",
        pretty(&mine)
    );
}

#[tokio::test]
async fn every_unit_of_a_pending_line_is_cancellable() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let mine = app
        .self_service_order(&app.customer_token(&customer), &order["id"])
        .await;
    assert_eq!(line(&mine, seed::SHIRT)["cancellableQuantity"], 3);
    assert_eq!(line(&mine, seed::TOTE)["cancellableQuantity"], 1);
}

#[tokio::test]
async fn once_picking_starts_lines_are_no_longer_cancellable_but_the_order_and_address_are() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    app.move_shipment(&the_shipment(&order)["id"], "PICKING")
        .await;
    let mine = app
        .self_service_order(&app.customer_token(&customer), &order["id"])
        .await;
    assert_not_modifiable_allowance(&mine, "cancelLines");
    assert_allowed(&mine, "cancel");
    assert_allowed(&mine, "changeShippingAddress");
    assert_eq!(line(&mine, seed::SHIRT)["cancellableQuantity"], 0);
    assert_eq!(line(&mine, seed::TOTE)["cancellableQuantity"], 0);
}

#[tokio::test]
async fn a_dispatched_order_allows_no_change_and_says_why() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    dispatch_all(&app, &order).await;
    for token in [app.customer_token(&customer), app.agent_token()] {
        let read = app.self_service_order(&token, &order["id"]).await;
        assert_not_modifiable_allowance(&read, "changeShippingAddress");
        assert_not_modifiable_allowance(&read, "cancel");
        assert_not_modifiable_allowance(&read, "cancelLines");
        assert_eq!(line(&read, seed::SHIRT)["cancellableQuantity"], 0);
    }
}

#[tokio::test]
async fn a_click_and_collect_order_may_not_change_its_address_but_may_be_cancelled() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let (order, customer) = place(
        &app,
        OrderBuilder::new()
            .line(seed::SHIRT, 1)
            .collect_at(seed::STORE_A),
    )
    .await;
    let mine = app
        .self_service_order(&app.customer_token(&customer), &order["id"])
        .await;
    assert_not_modifiable_allowance(&mine, "changeShippingAddress");
    assert_allowed(&mine, "cancel");
}

#[tokio::test]
async fn cancellable_quantity_counts_only_units_in_pending_shipments() {
    let app = TestApp::spawn().await;
    let (order, customer) = split_jackets(&app).await;
    app.move_shipment(&shipment_at(&order, "AMS")["id"], "PICKING")
        .await;
    let mine = app
        .self_service_order(&app.customer_token(&customer), &order["id"])
        .await;
    assert_eq!(
        line(&mine, JACKET)["cancellableQuantity"],
        4,
        "the 4 at UTR are still pending, the 3 at AMS are being picked:\n{}",
        pretty(&mine)
    );
    assert_allowed(&mine, "cancelLines");
}

#[tokio::test]
async fn a_partially_dispatched_order_may_be_neither_cancelled_nor_readdressed() {
    let app = TestApp::spawn().await;
    let (order, customer) = split_jackets(&app).await;
    app.dispatch(
        &shipment_at(&order, "AMS")["id"],
        CARRIER,
        &tracking_number(),
    )
    .await;
    let mine = app
        .self_service_order(&app.customer_token(&customer), &order["id"])
        .await;
    assert_not_modifiable_allowance(&mine, "changeShippingAddress");
    assert_not_modifiable_allowance(&mine, "cancel");
    assert_eq!(line(&mine, JACKET)["cancellableQuantity"], 4);
}

// ---------------------------------------------------------------------- changeShippingAddress

#[tokio::test]
async fn a_customer_changes_the_address_of_her_pending_order() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let resp = app
        .change_address_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "address": changed_address() }),
        )
        .await;
    let changed = expect_ok(&resp, "changeShippingAddress")["order"].clone();
    assert_eq!(
        changed["delivery"]["address"],
        address_view(&changed_address())
    );
    assert_eq!(changed["delivery"]["method"], "SHIP_TO_ADDRESS");
    assert_eq!(version(&changed), version(&order) + 1, "version increments");

    let read = app
        .self_service_order(&app.customer_token(&customer), &order["id"])
        .await;
    assert_eq!(
        read["delivery"]["address"],
        address_view(&changed_address())
    );
    assert_eq!(version(&read), version(&order) + 1);
}

#[tokio::test]
async fn an_agent_changes_the_address_with_a_reason() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let resp = app
        .change_address_with(
            &app.agent_token(),
            json!({ "orderId": order["id"], "address": changed_address(), "reason": AGENT_REASON }),
        )
        .await;
    let changed = expect_ok(&resp, "changeShippingAddress")["order"].clone();
    assert_eq!(
        changed["delivery"]["address"],
        address_view(&changed_address())
    );
    assert_eq!(version(&changed), version(&order) + 1);
}

#[tokio::test]
async fn the_address_may_change_while_the_shipment_is_being_picked() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    app.move_shipment(&the_shipment(&order)["id"], "PICKING")
        .await;
    let resp = app
        .change_address_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "address": changed_address() }),
        )
        .await;
    let changed = expect_ok(&resp, "changeShippingAddress")["order"].clone();
    assert_eq!(
        changed["delivery"]["address"],
        address_view(&changed_address())
    );
}

#[tokio::test]
async fn a_new_address_reroutes_the_pending_shipment_and_moves_its_reservation() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let (order, customer) = place(&app, OrderBuilder::new().line(seed::SHIRT, 2)).await;
    assert_eq!(
        shipment_codes(&order),
        vec![seed::STORE_A],
        "Amsterdam first"
    );
    assert_eq!(app.stock_at(seed::STORE_A, seed::SHIRT).await.reserved, 2);
    let reserved_before = total_reserved(&app, seed::SHIRT).await;

    let resp = app
        .change_address_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "address": utrecht_address() }),
        )
        .await;
    expect_ok(&resp, "changeShippingAddress");

    // The old shipment may stay on the order as CANCELLED history; what is still to ship is
    // one PENDING shipment from ST-2 with both shirts.
    let read = reread(&app, &order).await;
    let live: Vec<Value> = shipments(&read)
        .into_iter()
        .filter(|s| s["status"] != "CANCELLED")
        .collect();
    assert_eq!(
        live.len(),
        1,
        "one shipment left to ship:\n{}",
        pretty(&read)
    );
    let shipment = &live[0];
    assert_eq!(
        shipment["location"]["code"],
        seed::STORE_B,
        "re-routed to the store in Utrecht:\n{}",
        pretty(&read)
    );
    assert_eq!(shipment["status"], "PENDING");
    assert_eq!(
        shipment["lines"][0]["line"]["id"],
        line_id(&order, seed::SHIRT)
    );
    assert_eq!(shipment["lines"][0]["quantity"], 2);
    assert_eq!(app.stock_at(seed::STORE_A, seed::SHIRT).await.reserved, 0);
    assert_eq!(app.stock_at(seed::STORE_B, seed::SHIRT).await.reserved, 2);
    assert_eq!(
        total_reserved(&app, seed::SHIRT).await,
        reserved_before,
        "the total reserved is the same"
    );
}

#[tokio::test]
async fn a_new_address_reports_the_new_routing_decision() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let (order, customer) = place(&app, OrderBuilder::new().line(seed::SHIRT, 2)).await;
    let resp = app
        .change_address_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "address": utrecht_address() }),
        )
        .await;
    expect_ok(&resp, "changeShippingAddress");

    let resp = app.routing_of(&app.agent_token(), &order["id"]).await;
    let routing = expect_data(&resp)["order"]["routing"].clone();
    let candidates = routing["candidates"]
        .as_array()
        .unwrap_or_else(|| panic!("an agent reads the routing:\n{}", pretty(&resp)));
    let chosen: Vec<&Value> = candidates.iter().filter(|c| c["chosen"] == true).collect();
    assert_eq!(
        chosen.len(),
        1,
        "one chosen candidate:\n{}",
        pretty(&routing)
    );
    let codes: Vec<&str> = chosen[0]["locations"]
        .as_array()
        .map(|l| l.iter().filter_map(|l| l["code"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        codes,
        vec![seed::STORE_B],
        "the decision is the new one:\n{}",
        pretty(&routing)
    );
}

#[tokio::test]
async fn an_agents_address_change_is_on_the_timeline_with_the_agent_and_the_reason() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let resp = app
        .change_address_with(
            &app.agent_token(),
            json!({ "orderId": order["id"], "address": changed_address(), "reason": AGENT_REASON }),
        )
        .await;
    expect_ok(&resp, "changeShippingAddress");
    let entries = entries_as(&app, &app.agent_token(), &order, "ORDER_MODIFIED").await;
    let entry = only_entry(&entries, "ORDER_MODIFIED");
    assert_eq!(entry["actor"]["role"], "AGENT");
    assert_eq!(entry["actor"]["id"], "agent-1");
    assert_eq!(entry["reason"], AGENT_REASON);
    assert_eq!(entry["order"]["id"], order["id"]);
}

#[tokio::test]
async fn the_customer_sees_an_agents_address_change_without_the_agent_or_the_reason() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let resp = app
        .change_address_with(
            &app.agent_token(),
            json!({ "orderId": order["id"], "address": changed_address(), "reason": AGENT_REASON }),
        )
        .await;
    expect_ok(&resp, "changeShippingAddress");
    let entries = entries_as(
        &app,
        &app.customer_token(&customer),
        &order,
        "ORDER_MODIFIED",
    )
    .await;
    let entry = only_entry(&entries, "ORDER_MODIFIED");
    assert_eq!(entry["actor"]["role"], "AGENT");
    assert_eq!(
        entry["actor"]["id"],
        Value::Null,
        "no staff id for customers"
    );
    assert_eq!(entry["reason"], Value::Null, "not her reason");
}

#[tokio::test]
async fn a_customers_own_address_change_is_on_her_timeline() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let resp = app
        .change_address_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "address": changed_address() }),
        )
        .await;
    expect_ok(&resp, "changeShippingAddress");
    let entries = entries_as(
        &app,
        &app.customer_token(&customer),
        &order,
        "ORDER_MODIFIED",
    )
    .await;
    let entry = only_entry(&entries, "ORDER_MODIFIED");
    assert_eq!(entry["actor"]["role"], "CUSTOMER");
}

#[tokio::test]
async fn an_agent_without_a_reason_may_not_change_the_address() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let resp = app
        .change_address_with(
            &app.agent_token(),
            json!({ "orderId": order["id"], "address": changed_address() }),
        )
        .await;
    assert_user_error_at(&resp, "changeShippingAddress", &["INVALID"], &["reason"]);
    assert_unchanged(&app, &order).await;
}

#[tokio::test]
async fn a_service_may_not_change_an_address() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let resp = app
        .change_address_with(
            &app.service_token(),
            json!({ "orderId": order["id"], "address": changed_address() }),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
    assert_unchanged(&app, &order).await;
}

#[tokio::test]
async fn another_customers_order_is_not_found_for_an_address_change() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let eve = app.new_customer("eve@example.test").await;
    let resp = app
        .change_address_with(
            &app.customer_token(&eve),
            json!({ "orderId": order["id"], "address": changed_address() }),
        )
        .await;
    assert_user_error(&resp, "changeShippingAddress", "NOT_FOUND");
    assert_eq!(
        payload(&resp, "changeShippingAddress")["order"],
        Value::Null
    );
    assert_unchanged(&app, &order).await;
}

#[tokio::test]
async fn a_malformed_order_id_is_bad_user_input_for_an_address_change() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let resp = app
        .change_address_with(
            &app.agent_token(),
            json!({ "orderId": "not-an-id", "address": changed_address(), "reason": AGENT_REASON }),
        )
        .await;
    assert_error_code(&resp, "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_dispatched_order_may_not_change_its_address() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    dispatch_all(&app, &order).await;
    let before = reread(&app, &order).await;
    let resp = app
        .change_address_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "address": changed_address() }),
        )
        .await;
    assert_refused_with_message(&resp, "changeShippingAddress", "NOT_MODIFIABLE");
    assert_unchanged(&app, &before).await;
}

#[tokio::test]
async fn a_partially_dispatched_order_may_not_change_its_address() {
    let app = TestApp::spawn().await;
    let (order, customer) = split_jackets(&app).await;
    app.dispatch(
        &shipment_at(&order, "AMS")["id"],
        CARRIER,
        &tracking_number(),
    )
    .await;
    let before = reread(&app, &order).await;
    let resp = app
        .change_address_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "address": changed_address() }),
        )
        .await;
    assert_refused_with_message(&resp, "changeShippingAddress", "NOT_MODIFIABLE");
    assert_unchanged(&app, &before).await;
}

#[tokio::test]
async fn a_click_and_collect_order_may_not_change_its_address() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let (order, customer) = place(
        &app,
        OrderBuilder::new()
            .line(seed::SHIRT, 1)
            .collect_at(seed::STORE_A),
    )
    .await;
    let resp = app
        .change_address_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "address": changed_address() }),
        )
        .await;
    assert_refused_with_message(&resp, "changeShippingAddress", "NOT_MODIFIABLE");
    assert_unchanged(&app, &order).await;
}

#[tokio::test]
async fn an_address_without_a_first_line_is_invalid() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let mut address = changed_address();
    address["line1"] = json!("");
    let resp = app
        .change_address_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "address": address }),
        )
        .await;
    assert_user_error_at(
        &resp,
        "changeShippingAddress",
        &["INVALID"],
        &["address", "line1"],
    );
    assert_unchanged(&app, &order).await;
}

#[tokio::test]
async fn an_address_with_a_bad_country_code_is_invalid() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let mut address = changed_address();
    address["countryCode"] = json!("Netherlands");
    let resp = app
        .change_address_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "address": address }),
        )
        .await;
    assert_user_error_at(
        &resp,
        "changeShippingAddress",
        &["INVALID"],
        &["address", "countryCode"],
    );
    assert_unchanged(&app, &order).await;
}

// ---------------------------------------------------------------------- cancelOrderLines

#[tokio::test]
async fn a_customer_cancels_part_of_a_line() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 1 }] }),
        )
        .await;
    let changed = expect_ok(&resp, "cancelOrderLines")["order"].clone();
    let shirt = line(&changed, seed::SHIRT);
    assert_eq!(shirt["quantityCancelled"], 1);
    assert_eq!(shirt["cancellableQuantity"], 2);
    assert_eq!(line(&changed, seed::TOTE)["quantityCancelled"], 0);
    assert_ne!(changed["status"], "CANCELLED");
    assert_eq!(version(&changed), version(&order) + 1, "version increments");
}

#[tokio::test]
async fn cancelling_a_line_lowers_the_totals_by_its_value() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 2 }] }),
        )
        .await;
    expect_ok(&resp, "cancelOrderLines");
    let read = reread(&app, &order).await;
    let before = &order["totals"];
    let after = &read["totals"];
    assert_eq!(
        cents(&before["subtotal"]["amount"]) - cents(&after["subtotal"]["amount"]),
        2 * 1990,
        "subtotal drops by two shirts:\n{}",
        pretty(&read)
    );
    assert_eq!(
        cents(&before["total"]["amount"]) - cents(&after["total"]["amount"]),
        2 * 1990,
        "total drops by two shirts:\n{}",
        pretty(&read)
    );
    assert_eq!(after["subtotal"]["currencyCode"], "EUR");
}

#[tokio::test]
async fn cancelling_a_line_releases_its_reservation() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let before = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    assert_eq!(before.reserved, 3);
    let total_before = app.total_available(seed::SHIRT).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 2 }] }),
        )
        .await;
    expect_ok(&resp, "cancelOrderLines");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: before.on_hand,
            reserved: before.reserved - 2,
            available: before.available + 2,
        }
    );
    assert_eq!(app.total_available(seed::SHIRT).await, total_before + 2);
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::TOTE).await.reserved,
        1,
        "the tote stays reserved"
    );
}

#[tokio::test]
async fn cancelling_lines_writes_a_lines_cancelled_entry_with_the_agent_and_reason() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.agent_token(),
            json!({
                "orderId": order["id"],
                "lines": [{ "lineId": line_id(&order, seed::TOTE), "quantity": 1 }],
                "reason": "Customer called: no tote after all",
            }),
        )
        .await;
    expect_ok(&resp, "cancelOrderLines");
    let entries = entries_as(&app, &app.agent_token(), &order, "LINES_CANCELLED").await;
    let entry = only_entry(&entries, "LINES_CANCELLED");
    assert_eq!(entry["actor"]["role"], "AGENT");
    assert_eq!(entry["actor"]["id"], "agent-1");
    assert_eq!(entry["reason"], "Customer called: no tote after all");
}

#[tokio::test]
async fn cancelling_every_unit_of_every_line_cancels_the_order() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [
                { "lineId": line_id(&order, seed::SHIRT), "quantity": 3 },
                { "lineId": line_id(&order, seed::TOTE), "quantity": 1 },
            ] }),
        )
        .await;
    let changed = expect_ok(&resp, "cancelOrderLines")["order"].clone();
    assert_eq!(changed["status"], "CANCELLED", "{}", pretty(&changed));
    assert_eq!(app.stock_at(seed::STORE_A, seed::SHIRT).await.reserved, 0);
    assert_eq!(app.stock_at(seed::STORE_A, seed::TOTE).await.reserved, 0);
}

#[tokio::test]
async fn a_service_cancels_lines_with_a_reason_code() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let (order, _) = place(
        &app,
        OrderBuilder::new()
            .marketplace("bol")
            .line(seed::SHIRT, 2)
            .line(seed::TOTE, 1),
    )
    .await;
    let resp = app
        .cancel_lines_with(
            &app.service_token(),
            json!({
                "orderId": order["id"],
                "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 1 }],
                "reasonCode": "MARKETPLACE_CANCELLED",
            }),
        )
        .await;
    let changed = expect_ok(&resp, "cancelOrderLines")["order"].clone();
    assert_eq!(line(&changed, seed::SHIRT)["quantityCancelled"], 1);
    assert_eq!(version(&changed), version(&order) + 1);
}

#[tokio::test]
async fn a_service_without_a_reason_code_may_not_cancel_lines() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let stock = skus_snapshot(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.service_token(),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 1 }] }),
        )
        .await;
    assert_user_error_at(&resp, "cancelOrderLines", &["INVALID"], &["reasonCode"]);
    assert_unchanged(&app, &order).await;
    assert_eq!(skus_snapshot(&app).await, stock, "no stock released");
}

#[tokio::test]
async fn an_agent_without_a_reason_may_not_cancel_lines() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let stock = skus_snapshot(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.agent_token(),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 1 }] }),
        )
        .await;
    assert_user_error_at(&resp, "cancelOrderLines", &["INVALID"], &["reason"]);
    assert_unchanged(&app, &order).await;
    assert_eq!(skus_snapshot(&app).await, stock, "no stock released");
}

#[tokio::test]
async fn cancelling_more_than_the_line_holds_is_invalid() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let stock = skus_snapshot(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 4 }] }),
        )
        .await;
    assert_user_error_at(&resp, "cancelOrderLines", &["INVALID"], &["lines", "0"]);
    assert_unchanged(&app, &order).await;
    assert_eq!(skus_snapshot(&app).await, stock, "no stock released");
}

#[tokio::test]
async fn cancelling_more_than_remains_after_an_earlier_cancellation_is_invalid() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let token = app.customer_token(&customer);
    let shirt = line_id(&order, seed::SHIRT);
    let resp = app
        .cancel_lines_with(
            &token,
            json!({ "orderId": order["id"], "lines": [{ "lineId": shirt, "quantity": 2 }] }),
        )
        .await;
    expect_ok(&resp, "cancelOrderLines");
    let before = reread(&app, &order).await;
    let stock = skus_snapshot(&app).await;
    let resp = app
        .cancel_lines_with(
            &token,
            json!({ "orderId": order["id"], "lines": [{ "lineId": shirt, "quantity": 2 }] }),
        )
        .await;
    assert_user_error_at(&resp, "cancelOrderLines", &["INVALID"], &["lines", "0"]);
    assert_unchanged(&app, &before).await;
    assert_eq!(skus_snapshot(&app).await, stock, "no stock released");
}

#[tokio::test]
async fn cancelling_a_zero_quantity_is_invalid() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 0 }] }),
        )
        .await;
    assert_user_error_at(
        &resp,
        "cancelOrderLines",
        &["INVALID"],
        &["lines", "0", "quantity"],
    );
    assert_unchanged(&app, &order).await;
}

#[tokio::test]
async fn cancelling_a_negative_quantity_is_invalid() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let stock = skus_snapshot(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [
                { "lineId": line_id(&order, seed::TOTE), "quantity": 1 },
                { "lineId": line_id(&order, seed::SHIRT), "quantity": -1 },
            ] }),
        )
        .await;
    assert_user_error_at(
        &resp,
        "cancelOrderLines",
        &["INVALID"],
        &["lines", "1", "quantity"],
    );
    assert_unchanged(&app, &order).await;
    assert_eq!(skus_snapshot(&app).await, stock, "nothing half-written");
}

#[tokio::test]
async fn a_line_of_another_order_is_refused() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let (other, _) = place(&app, OrderBuilder::new().line(seed::SHIRT, 1)).await;
    let stock = skus_snapshot(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&other, seed::SHIRT), "quantity": 1 }] }),
        )
        .await;
    assert_user_error_at(
        &resp,
        "cancelOrderLines",
        &["INVALID", "NOT_FOUND"],
        &["lines", "0", "lineId"],
    );
    assert_unchanged(&app, &order).await;
    assert_unchanged(&app, &other).await;
    assert_eq!(skus_snapshot(&app).await, stock, "no stock released");
}

#[tokio::test]
async fn a_line_being_picked_may_not_be_cancelled() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    app.move_shipment(&the_shipment(&order)["id"], "PICKING")
        .await;
    let before = reread(&app, &order).await;
    let stock = skus_snapshot(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 1 }] }),
        )
        .await;
    assert_refused_with_message(&resp, "cancelOrderLines", "NOT_MODIFIABLE");
    assert_unchanged(&app, &before).await;
    assert_eq!(skus_snapshot(&app).await, stock, "no stock released");
}

#[tokio::test]
async fn a_dispatched_line_may_not_be_cancelled() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    dispatch_all(&app, &order).await;
    let before = reread(&app, &order).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 1 }] }),
        )
        .await;
    assert_refused_with_message(&resp, "cancelOrderLines", "NOT_MODIFIABLE");
    assert_unchanged(&app, &before).await;
}

#[tokio::test]
async fn the_pending_part_of_a_split_line_may_be_cancelled_while_the_rest_is_picked() {
    let app = TestApp::spawn().await;
    let (order, customer) = split_jackets(&app).await;
    app.move_shipment(&shipment_at(&order, "AMS")["id"], "PICKING")
        .await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, JACKET), "quantity": 4 }] }),
        )
        .await;
    let changed = expect_ok(&resp, "cancelOrderLines")["order"].clone();
    let jacket = line(&changed, JACKET);
    assert_eq!(jacket["quantityCancelled"], 4);
    assert_eq!(jacket["cancellableQuantity"], 0);
    assert_ne!(changed["status"], "CANCELLED");
    assert_eq!(app.stock_at("UTR", JACKET).await.reserved, 0);
    assert_eq!(
        app.stock_at("AMS", JACKET).await.reserved,
        3,
        "still being picked"
    );
}

#[tokio::test]
async fn cancelling_more_than_the_pending_part_of_a_split_line_is_invalid() {
    let app = TestApp::spawn().await;
    let (order, customer) = split_jackets(&app).await;
    app.move_shipment(&shipment_at(&order, "AMS")["id"], "PICKING")
        .await;
    let before = reread(&app, &order).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, JACKET), "quantity": 5 }] }),
        )
        .await;
    // More than the 4 pending units remain cancellable.
    assert_user_error_at(&resp, "cancelOrderLines", &["INVALID"], &["lines", "0"]);
    assert_unchanged(&app, &before).await;
    assert_eq!(app.stock_at("UTR", JACKET).await.reserved, 4);
}

#[tokio::test]
async fn another_customers_order_lines_are_not_found() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let eve = app.new_customer("eve@example.test").await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&eve),
            json!({ "orderId": order["id"], "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 1 }] }),
        )
        .await;
    assert_user_error(&resp, "cancelOrderLines", "NOT_FOUND");
    assert_eq!(payload(&resp, "cancelOrderLines")["order"], Value::Null);
    assert_unchanged(&app, &order).await;
}

// ---------------------------------------------------------------------- cancelOrder

#[tokio::test]
async fn a_customer_cancels_her_pending_order() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let resp = app
        .cancel_order_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"] }),
        )
        .await;
    let cancelled = expect_ok(&resp, "cancelOrder")["order"].clone();
    assert_eq!(cancelled["status"], "CANCELLED");
    for sku in [seed::SHIRT, seed::TOTE] {
        let l = line(&cancelled, sku);
        assert_eq!(
            l["quantityCancelled"], l["quantity"],
            "{sku} fully cancelled"
        );
        assert_eq!(l["cancellableQuantity"], 0);
    }
    assert_not_modifiable_allowance(&cancelled, "cancel");
    assert_eq!(version(&cancelled), version(&order) + 1);
}

#[tokio::test]
async fn cancelling_an_order_releases_every_reservation() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let untouched = skus_snapshot(&app).await;
    let (order, customer) = place(
        &app,
        OrderBuilder::new().line(seed::SHIRT, 3).line(seed::TOTE, 1),
    )
    .await;
    assert_ne!(
        skus_snapshot(&app).await,
        untouched,
        "the order reserved stock"
    );
    let resp = app
        .cancel_order_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"] }),
        )
        .await;
    expect_ok(&resp, "cancelOrder");
    assert_eq!(
        skus_snapshot(&app).await,
        untouched,
        "every reservation released"
    );
}

#[tokio::test]
async fn an_order_being_picked_may_still_be_cancelled() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    app.move_shipment(&the_shipment(&order)["id"], "PICKING")
        .await;
    let resp = app
        .cancel_order_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"] }),
        )
        .await;
    let cancelled = expect_ok(&resp, "cancelOrder")["order"].clone();
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(app.stock_at(seed::STORE_A, seed::SHIRT).await.reserved, 0);
    assert_eq!(app.stock_at(seed::STORE_A, seed::TOTE).await.reserved, 0);
}

#[tokio::test]
async fn a_dispatched_order_may_not_be_cancelled() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    dispatch_all(&app, &order).await;
    let before = reread(&app, &order).await;
    let resp = app
        .cancel_order_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"] }),
        )
        .await;
    assert_refused_with_message(&resp, "cancelOrder", "NOT_MODIFIABLE");
    assert_unchanged(&app, &before).await;
}

#[tokio::test]
async fn a_partially_dispatched_order_may_not_be_cancelled() {
    let app = TestApp::spawn().await;
    let (order, customer) = split_jackets(&app).await;
    app.dispatch(
        &shipment_at(&order, "AMS")["id"],
        CARRIER,
        &tracking_number(),
    )
    .await;
    let before = reread(&app, &order).await;
    let resp = app
        .cancel_order_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"] }),
        )
        .await;
    assert_refused_with_message(&resp, "cancelOrder", "NOT_MODIFIABLE");
    assert_unchanged(&app, &before).await;
    assert_eq!(app.stock_at("UTR", JACKET).await.reserved, 4);
}

#[tokio::test]
async fn a_cancelled_order_may_not_be_cancelled_again() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let token = app.customer_token(&customer);
    let resp = app
        .cancel_order_with(&token, json!({ "orderId": order["id"] }))
        .await;
    expect_ok(&resp, "cancelOrder");
    let before = reread(&app, &order).await;
    let resp = app
        .cancel_order_with(&token, json!({ "orderId": order["id"] }))
        .await;
    assert_refused_with_message(&resp, "cancelOrder", "NOT_MODIFIABLE");
    assert_unchanged(&app, &before).await;
}

#[tokio::test]
async fn a_service_cancels_an_order_with_a_reason_code_on_the_timeline() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let resp = app
        .cancel_order_with(
            &app.service_token(),
            json!({ "orderId": order["id"], "reasonCode": "PAYMENT_FAILED" }),
        )
        .await;
    let cancelled = expect_ok(&resp, "cancelOrder")["order"].clone();
    assert_eq!(cancelled["status"], "CANCELLED");
    let entries = entries_as(&app, &app.agent_token(), &order, "ORDER_CANCELLED").await;
    let entry = only_entry(&entries, "ORDER_CANCELLED");
    assert_eq!(entry["actor"]["role"], "SERVICE");
    let said = format!(
        "{} {}",
        entry["summary"].as_str().unwrap_or_default(),
        entry["reason"].as_str().unwrap_or_default()
    )
    .to_lowercase()
    .replace('_', " ");
    assert!(
        said.contains("payment failed"),
        "the reason code is on the entry:\n{}",
        pretty(&entry)
    );
}

#[tokio::test]
async fn a_service_without_a_reason_code_may_not_cancel_an_order() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let stock = skus_snapshot(&app).await;
    let resp = app
        .cancel_order_with(&app.service_token(), json!({ "orderId": order["id"] }))
        .await;
    assert_user_error_at(&resp, "cancelOrder", &["INVALID"], &["reasonCode"]);
    assert_unchanged(&app, &order).await;
    assert_eq!(skus_snapshot(&app).await, stock, "no stock released");
}

#[tokio::test]
async fn an_agent_without_a_reason_may_not_cancel_an_order() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let stock = skus_snapshot(&app).await;
    let resp = app
        .cancel_order_with(&app.agent_token(), json!({ "orderId": order["id"] }))
        .await;
    assert_user_error_at(&resp, "cancelOrder", &["INVALID"], &["reason"]);
    assert_unchanged(&app, &order).await;
    assert_eq!(skus_snapshot(&app).await, stock, "no stock released");
}

#[tokio::test]
async fn an_agents_cancellation_is_on_the_timeline_with_the_agent_and_reason() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let resp = app
        .cancel_order_with(
            &app.agent_token(),
            json!({ "orderId": order["id"], "reason": "Customer called: ordered twice" }),
        )
        .await;
    expect_ok(&resp, "cancelOrder");
    let entries = entries_as(&app, &app.agent_token(), &order, "ORDER_CANCELLED").await;
    let entry = only_entry(&entries, "ORDER_CANCELLED");
    assert_eq!(entry["actor"]["role"], "AGENT");
    assert_eq!(entry["actor"]["id"], "agent-1");
    assert_eq!(entry["reason"], "Customer called: ordered twice");

    let hers = entries_as(
        &app,
        &app.customer_token(&customer),
        &order,
        "ORDER_CANCELLED",
    )
    .await;
    let entry = only_entry(&hers, "ORDER_CANCELLED");
    assert_eq!(entry["actor"]["id"], Value::Null);
    assert_eq!(entry["reason"], Value::Null);
}

#[tokio::test]
async fn another_customers_order_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    let (order, _) = shirts_and_tote(&app).await;
    let eve = app.new_customer("eve@example.test").await;
    let resp = app
        .cancel_order_with(&app.customer_token(&eve), json!({ "orderId": order["id"] }))
        .await;
    assert_user_error(&resp, "cancelOrder", "NOT_FOUND");
    assert_eq!(payload(&resp, "cancelOrder")["order"], Value::Null);
    assert_unchanged(&app, &order).await;
}

#[tokio::test]
async fn a_malformed_order_id_is_bad_user_input_for_a_cancellation() {
    let app = TestApp::spawn().await;
    let resp = app
        .cancel_order_with(
            &app.agent_token(),
            json!({ "orderId": "not-an-id", "reason": "test" }),
        )
        .await;
    assert_error_code(&resp, "BAD_USER_INPUT");
}

// ---------------------------------------------------------------------- optimistic concurrency

#[tokio::test]
async fn the_current_expected_version_is_accepted() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({
                "orderId": order["id"], "expectedVersion": version(&order),
                "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 1 }],
            }),
        )
        .await;
    let changed = expect_ok(&resp, "cancelOrderLines")["order"].clone();
    assert_eq!(version(&changed), version(&order) + 1);
}

#[tokio::test]
async fn a_stale_expected_version_cancels_no_lines() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let token = app.customer_token(&customer);
    let stale = version(&order);
    let resp = app
        .cancel_lines_with(
            &token,
            json!({
                "orderId": order["id"], "expectedVersion": stale,
                "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 1 }],
            }),
        )
        .await;
    expect_ok(&resp, "cancelOrderLines");
    let before = reread(&app, &order).await;
    let stock = skus_snapshot(&app).await;

    let resp = app
        .cancel_lines_with(
            &token,
            json!({
                "orderId": order["id"], "expectedVersion": stale,
                "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 1 }],
            }),
        )
        .await;
    assert_refused_with_message(&resp, "cancelOrderLines", "VERSION_CONFLICT");
    assert_unchanged(&app, &before).await;
    assert_eq!(skus_snapshot(&app).await, stock, "no stock released");
}

#[tokio::test]
async fn a_stale_expected_version_changes_no_address() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let token = app.customer_token(&customer);
    let stale = version(&order);
    let resp = app
        .change_address_with(
            &token,
            json!({ "orderId": order["id"], "address": changed_address(), "expectedVersion": stale }),
        )
        .await;
    expect_ok(&resp, "changeShippingAddress");
    let before = reread(&app, &order).await;
    let resp = app
        .change_address_with(
            &token,
            json!({ "orderId": order["id"], "address": utrecht_address(), "expectedVersion": stale }),
        )
        .await;
    assert_refused_with_message(&resp, "changeShippingAddress", "VERSION_CONFLICT");
    assert_unchanged(&app, &before).await;
}

#[tokio::test]
async fn a_stale_expected_version_cancels_no_order() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let token = app.customer_token(&customer);
    let stale = version(&order);
    let resp = app
        .change_address_with(
            &token,
            json!({ "orderId": order["id"], "address": changed_address() }),
        )
        .await;
    expect_ok(&resp, "changeShippingAddress");
    let before = reread(&app, &order).await;
    let stock = skus_snapshot(&app).await;
    let resp = app
        .cancel_order_with(
            &token,
            json!({ "orderId": order["id"], "expectedVersion": stale }),
        )
        .await;
    assert_refused_with_message(&resp, "cancelOrder", "VERSION_CONFLICT");
    assert_unchanged(&app, &before).await;
    assert_eq!(skus_snapshot(&app).await, stock, "no stock released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_cancellations_of_the_same_line_apply_once() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let token = app.customer_token(&customer);
    let before = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    let input = json!({
        "orderId": order["id"],
        "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 3 }],
    });
    let (first, second) = futures_util::join!(
        app.cancel_lines_with(&token, input.clone()),
        app.cancel_lines_with(&token, input.clone()),
    );

    let mut applied = 0;
    let mut refused = 0;
    for resp in [&first, &second] {
        assert!(
            top_level_errors(resp).is_empty(),
            "no request may fail outright:\n{}",
            pretty(resp)
        );
        let errors = crate::harness::user_errors(resp, "cancelOrderLines");
        if errors.is_empty() {
            applied += 1;
        } else if errors
            .iter()
            .all(|e| e["code"] == "INVALID" || e["code"] == "VERSION_CONFLICT")
        {
            refused += 1;
        } else {
            panic!("unexpected refusal:\n{}", pretty(resp));
        }
    }
    assert_eq!((applied, refused), (1, 1), "exactly one applies");

    let read = reread(&app, &order).await;
    assert_eq!(line(&read, seed::SHIRT)["quantityCancelled"], 3);
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: before.on_hand,
            reserved: before.reserved - 3,
            available: before.available + 3,
        },
        "released once"
    );
    let entries = entries_as(&app, &app.agent_token(), &order, "LINES_CANCELLED").await;
    only_entry(&entries, "LINES_CANCELLED");
    assert_eq!(version(&read), version(&order) + 1, "one change");
}

// ---------------------------------------------------------------------- idempotency keys

#[tokio::test]
async fn a_replayed_line_cancellation_returns_the_first_result() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let token = app.customer_token(&customer);
    let input = json!({
        "orderId": order["id"], "idempotencyKey": "cancel-shirt-1",
        "lines": [{ "lineId": line_id(&order, seed::SHIRT), "quantity": 1 }],
    });
    let first = app.cancel_lines_with(&token, input.clone()).await;
    let first = expect_ok(&first, "cancelOrderLines")["order"].clone();
    let stock = skus_snapshot(&app).await;

    let replay = app.cancel_lines_with(&token, input).await;
    let replay = expect_ok(&replay, "cancelOrderLines")["order"].clone();
    assert_eq!(version(&replay), version(&first), "the first result");
    assert_eq!(line(&replay, seed::SHIRT)["quantityCancelled"], 1);

    let read = reread(&app, &order).await;
    assert_eq!(
        line(&read, seed::SHIRT)["quantityCancelled"],
        1,
        "not twice"
    );
    assert_eq!(skus_snapshot(&app).await, stock, "released once");
    assert_eq!(version(&read), version(&order) + 1);
}

#[tokio::test]
async fn a_replayed_key_with_another_input_is_invalid() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let token = app.customer_token(&customer);
    let shirt = line_id(&order, seed::SHIRT);
    let resp = app
        .cancel_lines_with(
            &token,
            json!({ "orderId": order["id"], "idempotencyKey": "k-1", "lines": [{ "lineId": shirt, "quantity": 1 }] }),
        )
        .await;
    expect_ok(&resp, "cancelOrderLines");
    let before = reread(&app, &order).await;
    let stock = skus_snapshot(&app).await;
    let resp = app
        .cancel_lines_with(
            &token,
            json!({ "orderId": order["id"], "idempotencyKey": "k-1", "lines": [{ "lineId": shirt, "quantity": 2 }] }),
        )
        .await;
    assert_user_error(&resp, "cancelOrderLines", "INVALID");
    assert_unchanged(&app, &before).await;
    assert_eq!(skus_snapshot(&app).await, stock);
}

#[tokio::test]
async fn a_replayed_address_change_returns_the_first_result() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let token = app.customer_token(&customer);
    let input =
        json!({ "orderId": order["id"], "address": changed_address(), "idempotencyKey": "move-1" });
    let first = app.change_address_with(&token, input.clone()).await;
    let first = expect_ok(&first, "changeShippingAddress")["order"].clone();
    let replay = app.change_address_with(&token, input).await;
    let replay = expect_ok(&replay, "changeShippingAddress")["order"].clone();
    assert_eq!(version(&replay), version(&first));
    assert_eq!(replay["delivery"], first["delivery"]);
    assert_eq!(version(&reread(&app, &order).await), version(&order) + 1);
    let entries = entries_as(&app, &app.agent_token(), &order, "ORDER_MODIFIED").await;
    only_entry(&entries, "ORDER_MODIFIED");
}

#[tokio::test]
async fn a_replayed_order_cancellation_returns_the_first_result() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let token = app.customer_token(&customer);
    let input = json!({ "orderId": order["id"], "idempotencyKey": "cancel-all" });
    let first = app.cancel_order_with(&token, input.clone()).await;
    let first = expect_ok(&first, "cancelOrder")["order"].clone();
    let replay = app.cancel_order_with(&token, input).await;
    let replay = expect_ok(&replay, "cancelOrder")["order"].clone();
    assert_eq!(replay["status"], "CANCELLED");
    assert_eq!(version(&replay), version(&first));
    let entries = entries_as(&app, &app.agent_token(), &order, "ORDER_CANCELLED").await;
    only_entry(&entries, "ORDER_CANCELLED");
}

#[tokio::test]
async fn an_idempotency_key_is_scoped_to_the_caller() {
    let app = TestApp::spawn().await;
    let (order, customer) = shirts_and_tote(&app).await;
    let shirt = line_id(&order, seed::SHIRT);
    let resp = app
        .cancel_lines_with(
            &app.customer_token(&customer),
            json!({ "orderId": order["id"], "idempotencyKey": "same-key", "lines": [{ "lineId": shirt, "quantity": 1 }] }),
        )
        .await;
    expect_ok(&resp, "cancelOrderLines");
    let resp = app
        .cancel_lines_with(
            &app.agent_token(),
            json!({
                "orderId": order["id"], "idempotencyKey": "same-key", "reason": "Customer called",
                "lines": [{ "lineId": shirt, "quantity": 1 }],
            }),
        )
        .await;
    let changed = expect_ok(&resp, "cancelOrderLines")["order"].clone();
    assert_eq!(
        line(&changed, seed::SHIRT)["quantityCancelled"],
        2,
        "the agent's call is its own:\n{}",
        pretty(&changed)
    );
    assert_eq!(version(&changed), version(&order) + 2);
}
