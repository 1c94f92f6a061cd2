//! Carrier tracking: events by carrier and tracking number (late, out of order, repeated),
//! delivery, delays from a carrier's estimate and from a missed dispatch deadline.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::{
    LocationBuilder, OrderBuilder, ProductBuilder, at_hours, day, my_timeline_query, nodes,
    only_shipment, parse_time, seed, shipment_at, str_of, tracking_number,
};
use crate::harness::{
    TestApp, assert_error_code, assert_user_error, assert_user_error_at, expect_data, expect_ok,
    payload, pretty,
};
use crate::ws::WsClient;

const CARRIER: &str = "PostNL";

/// A seeded app with one order of `quantity` shirts (shipped from ST-1), dispatched with a fresh
/// tracking number; returns (order, shipment id, tracking number).
async fn dispatched_order(app: &TestApp, order: OrderBuilder) -> (Value, Value, String) {
    let order = app.place_fulfilment(&order).await;
    let id = only_shipment(&order)["id"].clone();
    let number = tracking_number();
    app.dispatch(&id, CARRIER, &number).await;
    (order, id, number)
}

async fn shirt_dispatched(app: &TestApp) -> (Value, Value, String) {
    app.seed_catalog().await;
    dispatched_order(app, OrderBuilder::new().line(seed::SHIRT, 2)).await
}

/// Dispatched, with a promised date three days out.
async fn promised_in_three_days(app: &TestApp) -> (Value, Value, String) {
    app.seed_catalog().await;
    dispatched_order(
        app,
        OrderBuilder::new()
            .line(seed::SHIRT, 1)
            .placed_at(&at_hours(0))
            .promised(&day(3)),
    )
    .await
}

fn event(number: &str, status: &str, occurred_at: &str) -> Value {
    json!({ "carrier": CARRIER, "trackingNumber": number, "status": status, "occurredAt": occurred_at })
}

fn statuses(shipment: &Value) -> Vec<String> {
    shipment["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events: {shipment}"))
        .iter()
        .map(|e| e["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

// ---------------------------------------------------------------------- the flow

#[tokio::test]
async fn the_tracking_flow_moves_the_order_to_delivered() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2))
        .await;
    let id = only_shipment(&order)["id"].clone();
    async fn status_of(app: &TestApp, order_id: &Value) -> Value {
        app.fulfilment_order(order_id).await["status"].clone()
    }
    assert_eq!(status_of(&app, &order["id"]).await, "PLACED");

    app.move_shipment(&id, "PICKING").await;
    assert_eq!(status_of(&app, &order["id"]).await, "PROCESSING");

    let number = tracking_number();
    app.dispatch(&id, CARRIER, &number).await;
    assert_eq!(status_of(&app, &order["id"]).await, "DISPATCHED");

    let s = app
        .track(CARRIER, &number, "IN_TRANSIT", &at_hours(-3))
        .await;
    assert_eq!(s["status"], "IN_TRANSIT");
    assert_eq!(status_of(&app, &order["id"]).await, "DISPATCHED");

    let s = app
        .track(CARRIER, &number, "OUT_FOR_DELIVERY", &at_hours(-2))
        .await;
    assert_eq!(s["status"], "OUT_FOR_DELIVERY");

    let s = app
        .track(CARRIER, &number, "DELIVERED", &at_hours(-1))
        .await;
    assert_eq!(s["status"], "DELIVERED");

    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["status"], "DELIVERED");
    assert_eq!(order["lines"][0]["quantityDispatched"], 2);
    assert_eq!(order["lines"][0]["quantityDelivered"], 2);
    let shipment = only_shipment(&order);
    assert_eq!(
        statuses(&shipment),
        vec!["IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]
    );
    // The stock left ST-1 at dispatch, once.
    let stock = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    assert_eq!((stock.on_hand, stock.reserved), (3, 0));
}

#[tokio::test]
async fn delivery_is_dated_by_the_carrier_event() {
    let app = TestApp::spawn().await;
    let (order, _, number) = shirt_dispatched(&app).await;
    let delivered_at = at_hours(-5);
    let resp = app
        .record_tracking(json!({
            "carrier": CARRIER, "trackingNumber": number, "status": "DELIVERED",
            "occurredAt": delivered_at, "description": "Delivered at the door",
            "location": "Amsterdam", "eventId": "ev-1",
        }))
        .await;
    let shipment = expect_ok(&resp, "recordTrackingEvent")["shipment"].clone();
    assert_eq!(
        parse_time(&shipment["deliveredAt"]),
        parse_time(&json!(delivered_at)),
        "deliveredAt is the event's own time, not when it was recorded"
    );
    let event = &shipment["events"][0];
    assert_eq!(event["status"], "DELIVERED");
    assert_eq!(event["description"], "Delivered at the door");
    assert_eq!(event["location"], "Amsterdam");
    assert_eq!(
        parse_time(&event["occurredAt"]),
        parse_time(&json!(delivered_at))
    );
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["status"], "DELIVERED");
}

#[tokio::test]
async fn delivering_one_of_two_shipments_is_partially_delivered() {
    let app = TestApp::spawn().await;
    ProductBuilder::new("SKU-R")
        .price("80.00", "EUR")
        .create(&app)
        .await;
    for (code, lat, lon) in [("AMS", 52.37, 4.90), ("UTR", 52.09, 5.12)] {
        LocationBuilder::warehouse(code)
            .at(lat, lon)
            .create(&app)
            .await;
        app.set_stock(code, "SKU-R", 3).await;
    }
    let order = app
        .place_fulfilment(&OrderBuilder::new().line("SKU-R", 5))
        .await;
    let (a, b) = (tracking_number(), tracking_number());
    app.dispatch(&shipment_at(&order, "AMS")["id"], CARRIER, &a)
        .await;
    app.dispatch(&shipment_at(&order, "UTR")["id"], CARRIER, &b)
        .await;
    assert_eq!(
        app.fulfilment_order(&order["id"]).await["status"],
        "DISPATCHED"
    );

    app.track(CARRIER, &a, "DELIVERED", &at_hours(-1)).await;
    let read = app.fulfilment_order(&order["id"]).await;
    assert_eq!(read["status"], "PARTIALLY_DELIVERED");
    app.track(CARRIER, &b, "DELIVERED", &at_hours(0)).await;
    let read = app.fulfilment_order(&order["id"]).await;
    assert_eq!(read["status"], "DELIVERED");
    assert_eq!(read["lines"][0]["quantityDelivered"], 5);
}

// ---------------------------------------------------------------------- refusals

#[tokio::test]
async fn an_unknown_tracking_number_is_not_found() {
    let app = TestApp::spawn().await;
    let (order, _, _) = shirt_dispatched(&app).await;
    let resp = app
        .record_tracking(event("NO-SUCH-NUMBER", "IN_TRANSIT", &at_hours(-1)))
        .await;
    assert_user_error_at(
        &resp,
        "recordTrackingEvent",
        &["NOT_FOUND"],
        &["trackingNumber"],
    );
    assert_eq!(
        payload(&resp, "recordTrackingEvent")["shipment"],
        Value::Null
    );
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["events"], json!([]));
}

#[tokio::test]
async fn a_known_number_at_another_carrier_is_not_found() {
    let app = TestApp::spawn().await;
    let (_, _, number) = shirt_dispatched(&app).await;
    let resp = app
        .record_tracking(json!({
            "carrier": "DHL", "trackingNumber": number, "status": "IN_TRANSIT",
            "occurredAt": at_hours(-1),
        }))
        .await;
    assert_user_error_at(
        &resp,
        "recordTrackingEvent",
        &["NOT_FOUND"],
        &["trackingNumber"],
    );
}

#[tokio::test]
async fn a_warehouse_status_from_a_carrier_is_invalid() {
    let app = TestApp::spawn().await;
    let (order, _, number) = shirt_dispatched(&app).await;
    for status in ["PICKING", "PENDING", "CANCELLED", "COLLECTED", "DISPATCHED"] {
        let resp = app
            .record_tracking(event(&number, status, &at_hours(-1)))
            .await;
        assert_user_error(&resp, "recordTrackingEvent", "INVALID");
    }
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["status"], "DISPATCHED");
    assert_eq!(only_shipment(&order)["events"], json!([]));
}

#[tokio::test]
async fn a_customer_may_not_record_tracking_events() {
    let app = TestApp::spawn().await;
    let (order, _, number) = shirt_dispatched(&app).await;
    let customer = str_of(&order["customer"]["id"], "customer id");
    let resp = app
        .record_tracking_with(
            Some(&app.customer_token(customer)),
            event(&number, "DELIVERED", &at_hours(-1)),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["status"], "DISPATCHED");
}

// ---------------------------------------------------------------------- late, out of order, repeated

#[tokio::test]
async fn an_older_event_is_kept_in_the_history_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (order, _, number) = shirt_dispatched(&app).await;
    app.track(CARRIER, &number, "OUT_FOR_DELIVERY", &at_hours(-1))
        .await;
    // Arrives later, happened earlier.
    let shipment = app
        .track(CARRIER, &number, "IN_TRANSIT", &at_hours(-6))
        .await;
    assert_eq!(
        shipment["status"],
        "OUT_FOR_DELIVERY",
        "{}",
        pretty(&shipment)
    );
    assert_eq!(
        statuses(&shipment),
        vec!["IN_TRANSIT", "OUT_FOR_DELIVERY"],
        "kept, in the order they happened"
    );
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["status"], "OUT_FOR_DELIVERY");
}

#[tokio::test]
async fn an_event_older_than_the_delivery_does_not_reopen_it() {
    let app = TestApp::spawn().await;
    let (order, _, number) = shirt_dispatched(&app).await;
    app.track(CARRIER, &number, "DELIVERED", &at_hours(-1))
        .await;
    let shipment = app
        .track(CARRIER, &number, "IN_TRANSIT", &at_hours(-8))
        .await;
    assert_eq!(shipment["status"], "DELIVERED");
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["status"], "DELIVERED");
    assert_eq!(order["lines"][0]["quantityDelivered"], 2, "counted once");
    assert_eq!(
        statuses(&only_shipment(&order)),
        vec!["IN_TRANSIT", "DELIVERED"]
    );
}

#[tokio::test]
async fn a_repeated_event_id_is_ignored() {
    let app = TestApp::spawn().await;
    let (order, _, number) = shirt_dispatched(&app).await;
    let mut first = event(&number, "IN_TRANSIT", &at_hours(-2));
    first["eventId"] = json!("carrier-ev-1");
    let resp = app.record_tracking(first.clone()).await;
    expect_ok(&resp, "recordTrackingEvent");
    let resp = app.record_tracking(first).await;
    let shipment = expect_ok(&resp, "recordTrackingEvent")["shipment"].clone();
    assert_eq!(
        statuses(&shipment),
        vec!["IN_TRANSIT"],
        "{}",
        pretty(&shipment)
    );

    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(statuses(&only_shipment(&order)), vec!["IN_TRANSIT"]);
}

#[tokio::test]
async fn a_repeated_event_id_with_other_content_changes_nothing() {
    let app = TestApp::spawn().await;
    let (order, _, number) = shirt_dispatched(&app).await;
    let mut first = event(&number, "IN_TRANSIT", &at_hours(-2));
    first["eventId"] = json!("carrier-ev-1");
    expect_ok(&app.record_tracking(first).await, "recordTrackingEvent");
    let mut again = event(&number, "DELIVERED", &at_hours(-1));
    again["eventId"] = json!("carrier-ev-1");
    let resp = app.record_tracking(again).await;
    assert!(
        crate::harness::top_level_errors(&resp).is_empty(),
        "{}",
        pretty(&resp)
    );
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["status"], "IN_TRANSIT");
    assert_eq!(order["status"], "DISPATCHED");
    assert_eq!(statuses(&only_shipment(&order)), vec!["IN_TRANSIT"]);
}

#[tokio::test]
async fn the_shipment_updated_entry_carries_the_carriers_time() {
    let app = TestApp::spawn().await;
    let (order, id, number) = shirt_dispatched(&app).await;
    let when = at_hours(-30);
    app.track(CARRIER, &number, "IN_TRANSIT", &when).await;
    let entries = app.order_entries(&order["id"], "SHIPMENT_UPDATED").await;
    let scan = entries
        .iter()
        .find(|e| parse_time(&e["occurredAt"]) == parse_time(&json!(when)))
        .unwrap_or_else(|| panic!("no entry at {when}:\n{}", pretty(&json!(entries))));
    assert_eq!(scan["shipment"]["id"], id);
}

// ---------------------------------------------------------------------- delays

#[tokio::test]
async fn a_late_carrier_estimate_marks_the_shipment_and_the_order_delayed() {
    let app = TestApp::spawn().await;
    let (order, _, number) = promised_in_three_days(&app).await;
    assert_eq!(app.fulfilment_order(&order["id"]).await["isDelayed"], false);

    let mut late = event(&number, "IN_TRANSIT", &at_hours(-1));
    late["estimatedDeliveryDate"] = json!(day(5));
    let resp = app.record_tracking(late).await;
    let shipment = expect_ok(&resp, "recordTrackingEvent")["shipment"].clone();
    assert_eq!(shipment["isDelayed"], true, "{}", pretty(&shipment));
    assert_eq!(shipment["estimatedDeliveryDate"], day(5));

    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["isDelayed"], true);
    assert_eq!(order["estimatedDeliveryDate"], day(5));
    assert_eq!(order["delivery"]["promisedDate"], day(3));
}

#[tokio::test]
async fn a_late_carrier_estimate_writes_one_shipment_delayed_entry() {
    let app = TestApp::spawn().await;
    let (order, id, number) = promised_in_three_days(&app).await;
    let mut late = event(&number, "IN_TRANSIT", &at_hours(-1));
    late["estimatedDeliveryDate"] = json!(day(5));
    expect_ok(&app.record_tracking(late).await, "recordTrackingEvent");

    let delays = app.order_entries(&order["id"], "SHIPMENT_DELAYED").await;
    assert_eq!(delays.len(), 1, "{}", pretty(&json!(delays)));
    assert_eq!(delays[0]["kind"], "SHIPMENT_DELAYED");
    assert_eq!(delays[0]["shipment"]["id"], id, "the shipment is attached");
    assert_eq!(delays[0]["order"]["id"], order["id"]);
}

#[tokio::test]
async fn a_second_late_estimate_writes_no_second_delay_entry() {
    let app = TestApp::spawn().await;
    let (order, _, number) = promised_in_three_days(&app).await;
    let mut late = event(&number, "IN_TRANSIT", &at_hours(-2));
    late["estimatedDeliveryDate"] = json!(day(5));
    expect_ok(&app.record_tracking(late).await, "recordTrackingEvent");
    let mut later = event(&number, "IN_TRANSIT", &at_hours(-1));
    later["estimatedDeliveryDate"] = json!(day(6));
    expect_ok(&app.record_tracking(later).await, "recordTrackingEvent");

    assert_eq!(
        app.order_entries(&order["id"], "SHIPMENT_DELAYED")
            .await
            .len(),
        1
    );
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(
        order["estimatedDeliveryDate"],
        day(6),
        "the latest estimate"
    );
}

#[tokio::test]
async fn an_estimate_within_the_promise_is_not_a_delay() {
    let app = TestApp::spawn().await;
    let (order, _, number) = promised_in_three_days(&app).await;
    let mut on_time = event(&number, "IN_TRANSIT", &at_hours(-1));
    on_time["estimatedDeliveryDate"] = json!(day(3));
    let resp = app.record_tracking(on_time).await;
    assert_eq!(
        expect_ok(&resp, "recordTrackingEvent")["shipment"]["isDelayed"],
        false
    );
    let order_read = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order_read["isDelayed"], false);
    assert_eq!(order_read["estimatedDeliveryDate"], day(3));
    assert!(
        app.order_entries(&order["id"], "SHIPMENT_DELAYED")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_customer_sees_the_delay_on_her_timeline() {
    let app = TestApp::spawn().await;
    let (order, id, number) = promised_in_three_days(&app).await;
    let mut late = event(&number, "IN_TRANSIT", &at_hours(-1));
    late["estimatedDeliveryDate"] = json!(day(5));
    expect_ok(&app.record_tracking(late).await, "recordTrackingEvent");

    let customer = str_of(&order["customer"]["id"], "customer id");
    let resp = app
        .as_customer(
            customer,
            "{ me { timeline(first: 100, kinds: [SHIPMENT_DELAYED]) { edges { node {
                kind order { id } shipment { id isDelayed } } } } } }",
            json!({}),
        )
        .await;
    let entries = nodes(&expect_data(&resp)["me"]["timeline"]);
    assert_eq!(entries.len(), 1, "{}", pretty(&resp));
    assert_eq!(entries[0]["shipment"]["id"], id);
    assert_eq!(entries[0]["shipment"]["isDelayed"], true);
    assert_eq!(entries[0]["order"]["id"], order["id"]);
    // And among everything else she sees.
    let all = app
        .as_customer(customer, &my_timeline_query(), json!({ "first": 100 }))
        .await;
    assert!(
        nodes(&expect_data(&all)["me"]["timeline"])
            .iter()
            .any(|e| e["kind"] == "SHIPMENT_DELAYED")
    );
}

const DELAY_SELECTION: &str = "kind order { id } shipment { id isDelayed }";

#[tokio::test]
async fn my_order_events_delivers_the_delay_to_the_customer() {
    let app = TestApp::spawn().await;
    let (order, id, number) = promised_in_three_days(&app).await;
    let customer = str_of(&order["customer"]["id"], "customer id");
    let mut ws = WsClient::connect(&app, Some(&app.customer_token(customer))).await;
    ws.subscribe(
        "mine",
        &format!("subscription {{ myOrderEvents {{ {DELAY_SELECTION} }} }}"),
        json!({}),
    )
    .await;
    ws.settle().await;

    let mut late = event(&number, "IN_TRANSIT", &at_hours(-1));
    late["estimatedDeliveryDate"] = json!(day(5));
    expect_ok(&app.record_tracking(late).await, "recordTrackingEvent");

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let data = ws.expect_next("mine", left).await;
        let entry = &data["myOrderEvents"];
        if entry["kind"] == "SHIPMENT_DELAYED" {
            assert_eq!(entry["shipment"]["id"], id, "{}", pretty(&data));
            assert_eq!(entry["order"]["id"], order["id"]);
            break;
        }
    }
}

#[tokio::test]
async fn order_events_delivers_the_delay_to_an_agent() {
    let app = TestApp::spawn().await;
    let (order, id, number) = promised_in_three_days(&app).await;
    let mut ws = WsClient::connect(&app, Some(&app.agent_token())).await;
    ws.subscribe(
        "order",
        &format!("subscription($id: ID!) {{ orderEvents(orderId: $id) {{ {DELAY_SELECTION} }} }}"),
        json!({ "id": order["id"] }),
    )
    .await;
    ws.settle().await;

    let mut late = event(&number, "IN_TRANSIT", &at_hours(-1));
    late["estimatedDeliveryDate"] = json!(day(5));
    expect_ok(&app.record_tracking(late).await, "recordTrackingEvent");

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let data = ws.expect_next("order", left).await;
        if data["orderEvents"]["kind"] == "SHIPMENT_DELAYED" {
            assert_eq!(data["orderEvents"]["shipment"]["id"], id);
            break;
        }
    }
}

#[tokio::test]
async fn the_shipments_queue_filters_delayed_shipments() {
    let app = TestApp::spawn().await;
    let (_, late_id, number) = promised_in_three_days(&app).await;
    let on_time = app
        .place_fulfilment(&OrderBuilder::new().line(seed::TOTE, 1))
        .await;
    let mut late = event(&number, "IN_TRANSIT", &at_hours(-1));
    late["estimatedDeliveryDate"] = json!(day(5));
    expect_ok(&app.record_tracking(late).await, "recordTrackingEvent");

    let query = "query($d: Boolean) { shipments(isDelayed: $d) { totalCount edges { node { id isDelayed } } } }";
    let delayed = app.as_agent(query, json!({ "d": true })).await;
    let conn = &expect_data(&delayed)["shipments"];
    assert_eq!(conn["totalCount"], 1, "{}", pretty(&delayed));
    assert_eq!(conn["edges"][0]["node"]["id"], late_id);

    let fine = app.as_service(query, json!({ "d": false })).await;
    let conn = &expect_data(&fine)["shipments"];
    assert_eq!(conn["totalCount"], 1, "{}", pretty(&fine));
    assert_eq!(
        conn["edges"][0]["node"]["id"],
        only_shipment(&on_time)["id"]
    );
}

// ---------------------------------------------------------------------- missed dispatch deadline

/// Placed five days ago, promised yesterday: ST-1's dispatch deadline (yesterday minus a travel
/// day, end of day) has passed.
fn overdue_order() -> OrderBuilder {
    OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .placed_at(&at_hours(-5 * 24))
        .promised(&day(-1))
}

async fn fast_deadline_app() -> TestApp {
    TestApp::spawn_with(|cfg| cfg.deadline_check = Duration::from_millis(200)).await
}

/// Polls the order until its only shipment is delayed (at most 5 s); returns the order.
async fn wait_until_delayed(app: &TestApp, order_id: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let order = app.fulfilment_order(order_id).await;
        if only_shipment(&order)["isDelayed"] == true || Instant::now() > deadline {
            return order;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_missed_dispatch_deadline_marks_the_shipment_delayed() {
    let app = fast_deadline_app().await;
    app.seed_catalog().await;
    let order = app.place_fulfilment(&overdue_order()).await;
    let dispatch_by = parse_time(&only_shipment(&order)["dispatchBy"]);
    assert!(
        dispatch_by < chrono::Utc::now(),
        "the deadline has passed: {dispatch_by}"
    );

    let order = wait_until_delayed(&app, &order["id"]).await;
    let shipment = only_shipment(&order);
    assert_eq!(shipment["isDelayed"], true, "{}", pretty(&order));
    assert_eq!(shipment["status"], "PENDING");
    assert_eq!(order["isDelayed"], true);
}

#[tokio::test]
async fn a_missed_dispatch_deadline_writes_one_delay_entry() {
    let app = fast_deadline_app().await;
    app.seed_catalog().await;
    let order = app.place_fulfilment(&overdue_order()).await;
    let id = only_shipment(&order)["id"].clone();
    wait_until_delayed(&app, &order["id"]).await;
    // Several more checks run.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let delays = app.order_entries(&order["id"], "SHIPMENT_DELAYED").await;
    assert_eq!(delays.len(), 1, "once: {}", pretty(&json!(delays)));
    assert_eq!(delays[0]["shipment"]["id"], id);
}

#[tokio::test]
async fn a_shipment_with_time_left_is_not_flagged() {
    let app = fast_deadline_app().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(
            &OrderBuilder::new()
                .line(seed::SHIRT, 1)
                .placed_at(&at_hours(0))
                .promised(&day(5)),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["isDelayed"], false);
    assert!(
        app.order_entries(&order["id"], "SHIPMENT_DELAYED")
            .await
            .is_empty()
    );
}
