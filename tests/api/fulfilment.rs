//! Fulfilment: routing at placement (and as a simulation), shipments and their status moves from
//! a WMS or store, the stock they move, short picks, and the shipments work queue.

use serde_json::{Value, json};

use crate::fixtures::{
    LocationBuilder, OrderBuilder, ProductBuilder, ROUTING_FIELDS, SHIPMENT_FIELDS, Stock,
    at_hours, day, default_address, only_shipment, parse_time, seed, shipment_at,
    shipment_locations, shipments_of, str_of, tracking_number,
};
use crate::harness::{
    TestApp, assert_error_code, assert_user_error, assert_user_error_at, expect_data, expect_ok,
    payload, pretty,
};

/// The sku of the routing scenarios (not in the seed catalogue).
const JACKET: &str = "SKU-R";

// Points around the default delivery address (Damrak, Amsterdam: 52.376, 4.895).
const AMSTERDAM: (f64, f64) = (52.37, 4.90); // < 1 km
const HAARLEM: (f64, f64) = (52.38, 4.64); // ~ 17 km
const UTRECHT: (f64, f64) = (52.09, 5.12); // ~ 35 km
const GRONINGEN: (f64, f64) = (53.22, 6.57); // ~ 145 km
const MADRID: (f64, f64) = (40.42, -3.70); // ~ 1480 km: 3 started 500 km legs

async fn jacket(app: &TestApp) {
    ProductBuilder::new(JACKET)
        .name("Rain jacket")
        .price("80.00", "EUR")
        .create(app)
        .await;
}

/// A warehouse at `at` holding `stock` jackets.
async fn jacket_site(app: &TestApp, code: &str, at: (f64, f64), stock: i64) {
    jacket_site_with(app, LocationBuilder::warehouse(code).at(at.0, at.1), stock).await;
}

async fn jacket_site_with(app: &TestApp, location: LocationBuilder, stock: i64) {
    let code = str_of(&location.input()["code"], "code").to_string();
    location.create(app).await;
    app.set_stock(&code, JACKET, stock).await;
}

/// The chosen candidate of a decision; asserts there is exactly one and that it is the first.
#[track_caller]
fn chosen(decision: &Value) -> Value {
    let candidates = decision["candidates"]
        .as_array()
        .unwrap_or_else(|| panic!("no candidates: {}", pretty(decision)));
    let chosen: Vec<&Value> = candidates.iter().filter(|c| c["chosen"] == true).collect();
    assert_eq!(
        chosen.len(),
        1,
        "exactly one candidate is chosen:\n{}",
        pretty(decision)
    );
    assert_eq!(
        candidates[0]["chosen"],
        true,
        "the chosen candidate is the first:\n{}",
        pretty(decision)
    );
    candidates[0].clone()
}

fn codes(candidate: &Value) -> Vec<String> {
    let mut codes: Vec<String> = candidate["locations"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|l| l["code"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    codes.sort();
    codes
}

/// The routing of an order as agent-1 reads it.
async fn routing_as_agent(app: &TestApp, order: &Value) -> Value {
    let resp = app.routing_of(&app.agent_token(), &order["id"]).await;
    let routing = expect_data(&resp)["order"]["routing"].clone();
    assert!(
        routing.is_object(),
        "an agent reads routing:\n{}",
        pretty(&resp)
    );
    routing
}

fn shipment_quantity(shipment: &Value) -> i64 {
    shipment["lines"]
        .as_array()
        .map(|l| l.iter().map(|l| l["quantity"].as_i64().unwrap_or(0)).sum())
        .unwrap_or(0)
}

fn routing_plan_query() -> String {
    format!(
        "query($input: RoutingPlanInput!) {{ routingPlan(input: $input) {{ {ROUTING_FIELDS} }} }}"
    )
}

fn line_of(order: &Value, sku: &str) -> Value {
    order["lines"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["sku"] == sku).cloned())
        .unwrap_or_else(|| panic!("no {sku} line:\n{}", pretty(order)))
}

async fn shipments_query(app: &TestApp, token: &str, args: Value) -> Value {
    app.gql(
        Some(token),
        "query($locationCode: String, $status: [ShipmentStatus!], $isDelayed: Boolean,
               $first: Int, $after: String) {
            shipments(locationCode: $locationCode, status: $status, isDelayed: $isDelayed,
                      first: $first, after: $after) {
                totalCount pageInfo { hasNextPage endCursor }
                edges { cursor node { id status location { code } order { id } } } } }",
        args,
    )
    .await
}

fn queue_ids(resp: &Value) -> Vec<String> {
    expect_data(resp)["shipments"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no shipments connection:\n{}", pretty(resp)))
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn id_of(shipment: &Value) -> String {
    str_of(&shipment["id"], "shipment id").to_string()
}

// ---------------------------------------------------------------------- routing at placement

#[tokio::test]
async fn the_nearest_location_holding_everything_ships_it_in_one_parcel() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    // Amsterdam: ST-1 is < 1 km away, ST-2 and WH-1 further; all hold 2 shirts.
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2))
        .await;

    let shipment = only_shipment(&order);
    assert_eq!(
        shipment["location"]["code"],
        seed::STORE_A,
        "{}",
        pretty(&order)
    );
    assert_eq!(shipment["status"], "PENDING");
    assert_eq!(shipment["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(shipment["lines"][0]["line"]["sku"], seed::SHIRT);
    assert_eq!(shipment["lines"][0]["line"]["id"], order["lines"][0]["id"]);
    assert_eq!(shipment["lines"][0]["quantity"], 2);

    assert_eq!(app.stock_at(seed::STORE_A, seed::SHIRT).await.reserved, 2);
    assert_eq!(app.stock_at(seed::STORE_B, seed::SHIRT).await.reserved, 0);
    assert_eq!(app.stock_at(seed::WAREHOUSE, seed::SHIRT).await.reserved, 0);
}

#[tokio::test]
async fn a_forced_split_uses_as_few_locations_as_possible() {
    let app = TestApp::spawn().await;
    jacket(&app).await;
    // 7 jackets: nobody holds 7. Nearest first would take 3 + 2 + 2 (three parcels); AMS + UTR
    // fill it in two.
    jacket_site(&app, "AMS", AMSTERDAM, 3).await;
    jacket_site(&app, "HLM", HAARLEM, 2).await;
    jacket_site(&app, "UTR", UTRECHT, 4).await;

    let order = app
        .place_fulfilment(&OrderBuilder::new().line(JACKET, 7))
        .await;
    assert_eq!(
        shipment_locations(&order),
        vec!["AMS", "UTR"],
        "two parcels, not three:\n{}",
        pretty(&order)
    );
    assert_eq!(shipment_quantity(&shipment_at(&order, "AMS")), 3);
    assert_eq!(shipment_quantity(&shipment_at(&order, "UTR")), 4);
    assert!(
        shipments_of(&order)
            .iter()
            .all(|s| s["status"] == "PENDING")
    );
    assert_eq!(app.stock_at("HLM", JACKET).await.reserved, 0);
}

#[tokio::test]
async fn a_forced_split_is_explained() {
    let app = TestApp::spawn().await;
    jacket(&app).await;
    jacket_site(&app, "AMS", AMSTERDAM, 3).await;
    jacket_site(&app, "HLM", HAARLEM, 2).await;
    jacket_site(&app, "UTR", UTRECHT, 4).await;
    let order = OrderBuilder::new().line(JACKET, 7).place_ok(&app).await;

    let routing = routing_as_agent(&app, &order).await;
    let chosen = chosen(&routing);
    assert_eq!(chosen["shipments"], 2, "{}", pretty(&routing));
    assert_eq!(codes(&chosen), vec!["AMS", "UTR"]);
    let explanation = str_of(&chosen["explanation"], "explanation").to_lowercase();
    assert!(
        explanation.contains("split"),
        "the chosen plan says why it splits: {explanation}"
    );
    let mut allocations: Vec<(String, String, i64)> = chosen["allocations"]
        .as_array()
        .expect("allocations")
        .iter()
        .map(|a| {
            (
                a["location"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                a["sku"].as_str().unwrap_or_default().to_string(),
                a["quantity"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    allocations.sort();
    assert_eq!(
        allocations,
        vec![
            ("AMS".to_string(), JACKET.to_string(), 3),
            ("UTR".to_string(), JACKET.to_string(), 4)
        ]
    );
}

#[tokio::test]
async fn one_farther_location_beats_two_nearer_ones() {
    let app = TestApp::spawn().await;
    jacket(&app).await;
    jacket_site(&app, "AMS", AMSTERDAM, 2).await;
    jacket_site(&app, "HLM", HAARLEM, 2).await;
    jacket_site(&app, "GRO", GRONINGEN, 4).await;

    let order = app
        .place_fulfilment(&OrderBuilder::new().line(JACKET, 4))
        .await;
    let shipment = only_shipment(&order);
    assert_eq!(shipment["location"]["code"], "GRO", "{}", pretty(&order));
    assert_eq!(shipment["lines"][0]["quantity"], 4);
    assert_eq!(app.stock_at("AMS", JACKET).await.reserved, 0);
    assert_eq!(app.stock_at("HLM", JACKET).await.reserved, 0);
}

#[tokio::test]
async fn a_split_wins_when_one_parcel_would_miss_the_promised_date() {
    let app = TestApp::spawn().await;
    jacket(&app).await;
    jacket_site(&app, "AMS", AMSTERDAM, 2).await;
    jacket_site(&app, "HLM", HAARLEM, 2).await;
    // Holds everything, close by, but takes 6 days to hand over.
    jacket_site_with(
        &app,
        LocationBuilder::warehouse("SLOW")
            .at(UTRECHT.0, UTRECHT.1)
            .handling_days(6),
        4,
    )
    .await;

    let order = app
        .place_fulfilment(
            &OrderBuilder::new()
                .line(JACKET, 4)
                .placed_at(&at_hours(0))
                .promised(&day(3)),
        )
        .await;
    assert_eq!(
        shipment_locations(&order),
        vec!["AMS", "HLM"],
        "two parcels that keep the promise beat one that misses it:\n{}",
        pretty(&order)
    );
    let routing = routing_as_agent(&app, &order).await;
    let chosen = chosen(&routing);
    assert_eq!(chosen["meetsPromise"], true, "{}", pretty(&routing));
    assert!(
        str_of(&chosen["explanation"], "explanation")
            .to_lowercase()
            .contains("split"),
        "{}",
        pretty(&chosen)
    );
}

#[tokio::test]
async fn an_agent_reads_the_stored_decision_with_one_chosen_candidate() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line(seed::SHIRT, 2)
        .place_ok(&app)
        .await;
    let routing = routing_as_agent(&app, &order).await;
    assert!(
        !str_of(&routing["strategy"], "strategy").is_empty(),
        "{}",
        pretty(&routing)
    );
    parse_time(&routing["decidedAt"]);
    let chosen = chosen(&routing);
    assert_eq!(codes(&chosen), vec![seed::STORE_A]);
    assert_eq!(chosen["shipments"], 1);
    assert_eq!(chosen["allocations"][0]["sku"], seed::SHIRT);
    assert_eq!(chosen["allocations"][0]["quantity"], 2);
    assert_eq!(chosen["cost"]["currencyCode"], "EUR");
    assert!(!str_of(&chosen["explanation"], "explanation").is_empty());
    let candidates = routing["candidates"].as_array().expect("candidates");
    assert!(
        candidates.len() > 1,
        "the scored alternatives are kept too:\n{}",
        pretty(&routing)
    );
    assert!(
        candidates
            .iter()
            .all(|c| !str_of(&c["explanation"], "explanation").is_empty()),
        "each candidate has an explanation"
    );
}

#[tokio::test]
async fn a_service_reads_the_routing() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let resp = app.routing_of(&app.service_token(), &order["id"]).await;
    let routing = &expect_data(&resp)["order"]["routing"];
    assert_eq!(codes(&chosen(routing)), vec![seed::STORE_A]);
}

#[tokio::test]
async fn a_customer_reads_routing_as_null() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let customer = str_of(&order["customer"]["id"], "customer id");
    let resp = app
        .routing_of(&app.customer_token(customer), &order["id"])
        .await;
    let read = &expect_data(&resp)["order"];
    assert_eq!(read["id"], order["id"], "the owner reads her order");
    assert_eq!(read["routing"], Value::Null, "{}", pretty(&resp));
}

// ---------------------------------------------------------------------- routingPlan

fn plan_input(sku: &str, quantity: i64) -> Value {
    json!({
        "lines": [{ "sku": sku, "quantity": quantity }],
        "delivery": { "method": "SHIP_TO_ADDRESS", "address": default_address() },
    })
}

#[tokio::test]
async fn routing_plan_reserves_nothing() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let before = app.stock_snapshot(&[seed::SHIRT, seed::TOTE]).await;

    let resp = app
        .as_agent(
            &routing_plan_query(),
            json!({ "input": plan_input(seed::SHIRT, 3) }),
        )
        .await;
    let plan = &expect_data(&resp)["routingPlan"];
    assert_eq!(
        codes(&chosen(plan)),
        vec![seed::STORE_A],
        "{}",
        pretty(plan)
    );

    assert_eq!(
        app.stock_snapshot(&[seed::SHIRT, seed::TOTE]).await,
        before,
        "a simulation reserves nothing"
    );
    let queue = shipments_query(&app, &app.service_token(), json!({})).await;
    assert_eq!(
        expect_data(&queue)["shipments"]["totalCount"],
        0,
        "and creates no shipment"
    );
    let orders = app
        .as_agent("{ customers(first: 10) { totalCount } }", json!({}))
        .await;
    assert_eq!(
        expect_data(&orders)["customers"]["totalCount"],
        0,
        "nor an order (or its customer)"
    );
}

#[tokio::test]
async fn routing_plan_as_a_service_splits_like_placement() {
    let app = TestApp::spawn().await;
    jacket(&app).await;
    jacket_site(&app, "AMS", AMSTERDAM, 3).await;
    jacket_site(&app, "HLM", HAARLEM, 2).await;
    jacket_site(&app, "UTR", UTRECHT, 4).await;
    let resp = app
        .as_service(
            &routing_plan_query(),
            json!({ "input": plan_input(JACKET, 7) }),
        )
        .await;
    let plan = &expect_data(&resp)["routingPlan"];
    let chosen = chosen(plan);
    assert_eq!(codes(&chosen), vec!["AMS", "UTR"], "{}", pretty(plan));
    assert_eq!(chosen["shipments"], 2);
    assert_eq!(app.stock_at("AMS", JACKET).await.reserved, 0);
}

#[tokio::test]
async fn a_customer_may_not_run_routing_plan() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let customer = app.new_customer("ada@example.test").await;
    let resp = app
        .as_customer(
            &customer,
            &routing_plan_query(),
            json!({ "input": plan_input(seed::SHIRT, 1) }),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
}

// ---------------------------------------------------------------------- dates

#[tokio::test]
async fn the_estimate_is_the_placement_day_plus_handling_and_a_day_per_started_500_km() {
    let app = TestApp::spawn().await;
    jacket(&app).await;
    // ~1480 km: 3 days on the road, plus 2 days' handling.
    jacket_site_with(
        &app,
        LocationBuilder::warehouse("MAD")
            .at(MADRID.0, MADRID.1)
            .handling_days(2),
        10,
    )
    .await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(JACKET, 1).placed_at(&at_hours(0)))
        .await;
    let shipment = only_shipment(&order);
    let placed = parse_time(&order["placedAt"]).date_naive();
    assert_eq!(
        shipment["estimatedDeliveryDate"],
        (placed + chrono::Duration::days(5)).to_string(),
        "{}",
        pretty(&shipment)
    );
    assert_eq!(
        shipment["dispatchBy"],
        Value::Null,
        "no promised date, no dispatch deadline"
    );
}

#[tokio::test]
async fn dispatch_by_is_the_promised_date_minus_the_travel_days_at_the_end_of_that_day() {
    let app = TestApp::spawn().await;
    jacket(&app).await;
    jacket_site_with(
        &app,
        LocationBuilder::warehouse("MAD")
            .at(MADRID.0, MADRID.1)
            .handling_days(2),
        10,
    )
    .await;
    let order = app
        .place_fulfilment(
            &OrderBuilder::new()
                .line(JACKET, 1)
                .placed_at(&at_hours(0))
                .promised(&day(10)),
        )
        .await;
    let shipment = only_shipment(&order);
    let dispatch_by = parse_time(&shipment["dispatchBy"]);
    let promised = chrono::NaiveDate::parse_from_str(&day(10), "%Y-%m-%d").unwrap();
    assert_eq!(
        dispatch_by.date_naive(),
        promised - chrono::Duration::days(3),
        "the promised date minus 3 travel days: {}",
        pretty(&shipment)
    );
    assert!(
        dispatch_by.format("%H:%M:%S").to_string() == "23:59:59",
        "the end of that day, UTC: {dispatch_by}"
    );
    assert_eq!(order["delivery"]["promisedDate"], day(10));
}

#[tokio::test]
async fn a_promised_date_before_the_placement_day_is_invalid() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let before = app.stock_snapshot(&[seed::SHIRT]).await;
    let resp = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .placed_at(&at_hours(-48))
        .promised(&day(-4))
        .place(&app)
        .await;
    assert_user_error_at(
        &resp,
        "placeOrder",
        &["INVALID"],
        &["delivery", "promisedDate"],
    );
    assert_eq!(payload(&resp, "placeOrder")["order"], Value::Null);
    assert_eq!(app.stock_snapshot(&[seed::SHIRT]).await, before);
}

// ---------------------------------------------------------------------- status moves and stock

#[tokio::test]
async fn picking_makes_the_order_processing() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    assert_eq!(order["status"], "PLACED");
    let shipment = app
        .move_shipment(&only_shipment(&order)["id"], "PICKING")
        .await;
    assert_eq!(shipment["status"], "PICKING");
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["status"], "PROCESSING");
}

#[tokio::test]
async fn dispatch_moves_the_stock_out_and_the_order_to_dispatched() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2))
        .await;
    let shipment = only_shipment(&order);
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 5,
            reserved: 2,
            available: 3
        }
    );

    let number = tracking_number();
    let dispatched = app.dispatch(&shipment["id"], "PostNL", &number).await;
    assert_eq!(dispatched["status"], "DISPATCHED");
    assert_eq!(dispatched["carrier"], "PostNL");
    assert_eq!(dispatched["trackingNumber"], number.as_str());
    assert_eq!(
        dispatched["trackingUrl"],
        format!("https://track.example.test/{number}")
    );
    parse_time(&dispatched["dispatchedAt"]);

    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 3,
            reserved: 0,
            available: 3
        },
        "onHand and reserved both drop by 2"
    );
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["status"], "DISPATCHED");
    assert_eq!(order["lines"][0]["quantityDispatched"], 2);
}

#[tokio::test]
async fn dispatching_one_of_two_shipments_is_partially_dispatched() {
    let app = TestApp::spawn().await;
    jacket(&app).await;
    jacket_site(&app, "AMS", AMSTERDAM, 3).await;
    jacket_site(&app, "UTR", UTRECHT, 4).await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(JACKET, 7))
        .await;
    app.dispatch(
        &shipment_at(&order, "AMS")["id"],
        "PostNL",
        &tracking_number(),
    )
    .await;
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["status"], "PARTIALLY_DISPATCHED");
    assert_eq!(order["lines"][0]["quantityDispatched"], 3);
    assert_eq!(shipment_at(&order, "UTR")["status"], "PENDING");
}

#[tokio::test]
async fn dispatch_to_an_address_without_a_carrier_is_invalid() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let resp = app
        .update_shipment(
            json!({ "shipmentId": only_shipment(&order)["id"], "status": "DISPATCHED" }),
        )
        .await;
    assert_user_error(&resp, "updateShipmentStatus", "INVALID");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 5,
            reserved: 1,
            available: 4
        },
        "nothing moved"
    );
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["status"], "PENDING");
}

#[tokio::test]
async fn an_impossible_transition_is_invalid_and_names_both_states() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let id = only_shipment(&order)["id"].clone();
    app.dispatch(&id, "PostNL", &tracking_number()).await;

    let resp = app
        .update_shipment(json!({ "shipmentId": id, "status": "PICKING" }))
        .await;
    let error = assert_user_error(&resp, "updateShipmentStatus", "INVALID");
    let message = str_of(&error["message"], "message");
    assert!(
        message.contains("DISPATCHED") && message.contains("PICKING"),
        "the message names both states: {message}"
    );
    assert_eq!(
        payload(&resp, "updateShipmentStatus")["shipment"],
        Value::Null
    );
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["status"], "DISPATCHED");
    assert_eq!(order["status"], "DISPATCHED");
}

#[tokio::test]
async fn nothing_moves_a_delivered_shipment() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let id = only_shipment(&order)["id"].clone();
    let number = tracking_number();
    app.dispatch(&id, "PostNL", &number).await;
    app.track("PostNL", &number, "DELIVERED", &at_hours(-1))
        .await;

    let resp = app
        .update_shipment(json!({ "shipmentId": id, "status": "CANCELLED" }))
        .await;
    let error = assert_user_error(&resp, "updateShipmentStatus", "INVALID");
    let message = str_of(&error["message"], "message");
    assert!(
        message.contains("DELIVERED") && message.contains("CANCELLED"),
        "the message names both states: {message}"
    );
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["status"], "DELIVERED");
    assert_eq!(order["lines"][0]["quantityCancelled"], 0);
}

#[tokio::test]
async fn carrier_statuses_are_refused_from_a_wms() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let id = only_shipment(&order)["id"].clone();
    app.dispatch(&id, "PostNL", &tracking_number()).await;
    for status in [
        "IN_TRANSIT",
        "OUT_FOR_DELIVERY",
        "DELIVERED",
        "EXCEPTION",
        "PENDING",
    ] {
        let resp = app
            .update_shipment(json!({ "shipmentId": id, "status": status }))
            .await;
        assert_user_error(&resp, "updateShipmentStatus", "INVALID");
    }
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["status"], "DISPATCHED");
}

#[tokio::test]
async fn cancelling_a_shipment_releases_its_reservation() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2))
        .await;
    let shipment = app
        .move_shipment(&only_shipment(&order)["id"], "CANCELLED")
        .await;
    assert_eq!(shipment["status"], "CANCELLED");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 5,
            reserved: 0,
            available: 5
        },
        "the reservation is released; nothing left the shelf"
    );
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["lines"][0]["quantityCancelled"], 2);
    assert_eq!(order["lines"][0]["quantityDispatched"], 0);
    assert_eq!(order["status"], "CANCELLED");
}

#[tokio::test]
async fn a_tracking_number_on_another_shipment_of_the_carrier_is_duplicate() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let first = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let second = app
        .place_fulfilment(&OrderBuilder::new().line(seed::TOTE, 1))
        .await;
    let number = tracking_number();
    app.dispatch(&only_shipment(&first)["id"], "PostNL", &number)
        .await;
    let before = app.stock_at(seed::STORE_A, seed::TOTE).await;

    let resp = app
        .update_shipment(json!({
            "shipmentId": only_shipment(&second)["id"], "status": "DISPATCHED",
            "carrier": "PostNL", "trackingNumber": number,
        }))
        .await;
    assert_user_error(&resp, "updateShipmentStatus", "DUPLICATE");
    let second = app.fulfilment_order(&second["id"]).await;
    assert_eq!(only_shipment(&second)["status"], "PENDING");
    assert_eq!(second["lines"][0]["quantityDispatched"], 0);
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::TOTE).await,
        before,
        "no stock moved"
    );
}

#[tokio::test]
async fn the_same_tracking_number_at_another_carrier_is_accepted() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let first = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let second = app
        .place_fulfilment(&OrderBuilder::new().line(seed::TOTE, 1))
        .await;
    let number = tracking_number();
    app.dispatch(&only_shipment(&first)["id"], "PostNL", &number)
        .await;
    let shipment = app
        .dispatch(&only_shipment(&second)["id"], "DHL", &number)
        .await;
    assert_eq!(shipment["status"], "DISPATCHED");
}

#[tokio::test]
async fn an_unknown_shipment_is_not_found() {
    let app = TestApp::spawn().await;
    use base64::Engine as _;
    let missing = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("Shipment:987654");
    let resp = app
        .update_shipment(json!({ "shipmentId": missing, "status": "PICKING" }))
        .await;
    assert_user_error(&resp, "updateShipmentStatus", "NOT_FOUND");
    assert_eq!(
        payload(&resp, "updateShipmentStatus")["shipment"],
        Value::Null
    );
}

#[tokio::test]
async fn a_shipment_id_of_another_type_is_not_found() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let resp = app
        .update_shipment(json!({ "shipmentId": order["id"], "status": "PICKING" }))
        .await;
    assert_user_error(&resp, "updateShipmentStatus", "NOT_FOUND");
}

#[tokio::test]
async fn a_customer_may_not_update_a_shipment() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let customer = str_of(&order["customer"]["id"], "customer id");
    let resp = app
        .update_shipment_with(
            Some(&app.customer_token(customer)),
            json!({ "shipmentId": only_shipment(&order)["id"], "status": "PICKING" }),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["status"], "PENDING");
}

#[tokio::test]
async fn an_agent_may_not_update_a_shipment() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let resp = app
        .update_shipment_with(
            Some(&app.agent_token()),
            json!({ "shipmentId": only_shipment(&order)["id"], "status": "PICKING" }),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
}

#[tokio::test]
async fn every_shipment_step_writes_a_shipment_updated_entry() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let id = only_shipment(&order)["id"].clone();
    app.move_shipment(&id, "PICKING").await;
    let number = tracking_number();
    app.dispatch(&id, "PostNL", &number).await;
    app.track("PostNL", &number, "IN_TRANSIT", &at_hours(-1))
        .await;

    let entries = app.order_entries(&order["id"], "SHIPMENT_UPDATED").await;
    assert_eq!(entries.len(), 3, "{}", pretty(&json!(entries)));
    for entry in &entries {
        assert_eq!(entry["kind"], "SHIPMENT_UPDATED");
        assert_eq!(entry["shipment"]["id"], id, "the shipment is attached");
        assert_eq!(entry["order"]["id"], order["id"]);
    }
}

// ---------------------------------------------------------------------- short picks

#[tokio::test]
async fn a_short_pick_dispatches_what_was_picked_and_reroutes_the_rest() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 3))
        .await;
    let shipment = only_shipment(&order);
    assert_eq!(shipment["location"]["code"], seed::STORE_A);
    let line_id = order["lines"][0]["id"].clone();

    let resp = app
        .update_shipment(json!({
            "shipmentId": shipment["id"], "status": "DISPATCHED",
            "carrier": "PostNL", "trackingNumber": tracking_number(),
            "lines": [{ "lineId": line_id, "quantity": 1 }],
        }))
        .await;
    let dispatched = expect_ok(&resp, "updateShipmentStatus")["shipment"].clone();
    assert_eq!(dispatched["status"], "DISPATCHED");
    assert_eq!(
        dispatched["lines"][0]["quantity"],
        1,
        "{}",
        pretty(&dispatched)
    );
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 4,
            reserved: 0,
            available: 4
        },
        "one left the store; the reservation of the other two is released"
    );

    let order = app.fulfilment_order(&order["id"]).await;
    let shipments = shipments_of(&order);
    assert_eq!(shipments.len(), 2, "{}", pretty(&order));
    let rerouted = shipments
        .iter()
        .find(|s| s["id"] != shipment["id"])
        .expect("a new shipment");
    assert_eq!(rerouted["status"], "PENDING");
    assert_ne!(rerouted["location"]["code"], seed::STORE_A);
    assert_eq!(rerouted["lines"][0]["line"]["id"], line_id);
    assert_eq!(rerouted["lines"][0]["quantity"], 2);
    let at = str_of(&rerouted["location"]["code"], "code");
    assert_eq!(app.stock_at(at, seed::SHIRT).await.reserved, 2);

    assert_eq!(order["lines"][0]["quantityDispatched"], 1);
    assert_eq!(order["lines"][0]["quantityCancelled"], 0);
    assert_eq!(order["status"], "PARTIALLY_DISPATCHED");
}

#[tokio::test]
async fn a_short_pick_no_other_location_can_fill_is_cancelled() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    app.set_stock(seed::WAREHOUSE, seed::SHIRT, 0).await;
    app.set_stock(seed::STORE_B, seed::SHIRT, 0).await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 3))
        .await;
    let shipment = only_shipment(&order);
    let line_id = order["lines"][0]["id"].clone();

    let resp = app
        .update_shipment(json!({
            "shipmentId": shipment["id"], "status": "DISPATCHED",
            "carrier": "PostNL", "trackingNumber": tracking_number(),
            "lines": [{ "lineId": line_id, "quantity": 1 }],
        }))
        .await;
    expect_ok(&resp, "updateShipmentStatus");

    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(
        shipments_of(&order).len(),
        1,
        "nothing re-routed:\n{}",
        pretty(&order)
    );
    assert_eq!(order["lines"][0]["quantityDispatched"], 1);
    assert_eq!(order["lines"][0]["quantityCancelled"], 2);
    assert_eq!(order["status"], "DISPATCHED");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 4,
            reserved: 0,
            available: 4
        }
    );
    let cancelled = app.order_entries(&order["id"], "LINES_CANCELLED").await;
    assert_eq!(
        cancelled.len(),
        1,
        "the customer is told: {}",
        pretty(&json!(cancelled))
    );
}

#[tokio::test]
async fn a_short_pick_of_more_than_the_shipment_holds_is_invalid() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2))
        .await;
    let resp = app
        .update_shipment(json!({
            "shipmentId": only_shipment(&order)["id"], "status": "DISPATCHED",
            "carrier": "PostNL", "trackingNumber": tracking_number(),
            "lines": [{ "lineId": order["lines"][0]["id"], "quantity": 3 }],
        }))
        .await;
    assert_user_error(&resp, "updateShipmentStatus", "INVALID");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 5,
            reserved: 2,
            available: 3
        }
    );
}

// ---------------------------------------------------------------------- reads and the work queue

/// Three orders shipped from three places: Amsterdam (ST-1), Rotterdam (WH-1), Utrecht (ST-2).
async fn three_shipments(app: &TestApp) -> (Value, Value, Value) {
    app.seed_catalog().await;
    let to = |city: &str, lat: f64, lon: f64| {
        let mut address = default_address();
        address["city"] = json!(city);
        address["location"] = json!({ "latitude": lat, "longitude": lon });
        address
    };
    let ams = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let rtm = app
        .place_fulfilment(
            &OrderBuilder::new()
                .ship_to(to("Rotterdam", 51.921, 4.481))
                .line(seed::SHIRT, 1),
        )
        .await;
    let utr = app
        .place_fulfilment(
            &OrderBuilder::new()
                .ship_to(to("Utrecht", 52.091, 5.121))
                .line(seed::SHIRT, 1),
        )
        .await;
    let (a, r, u) = (
        only_shipment(&ams),
        only_shipment(&rtm),
        only_shipment(&utr),
    );
    assert_eq!(a["location"]["code"], seed::STORE_A);
    assert_eq!(r["location"]["code"], seed::WAREHOUSE);
    assert_eq!(u["location"]["code"], seed::STORE_B);
    (a, r, u)
}

#[tokio::test]
async fn the_shipments_queue_filters_by_location() {
    let app = TestApp::spawn().await;
    let (_, rtm, _) = three_shipments(&app).await;
    let resp = shipments_query(
        &app,
        &app.service_token(),
        json!({ "locationCode": seed::WAREHOUSE }),
    )
    .await;
    assert_eq!(queue_ids(&resp), vec![id_of(&rtm)]);
    assert_eq!(expect_data(&resp)["shipments"]["totalCount"], 1);
}

#[tokio::test]
async fn the_shipments_queue_filters_by_status() {
    let app = TestApp::spawn().await;
    let (ams, rtm, utr) = three_shipments(&app).await;
    app.dispatch(&utr["id"], "PostNL", &tracking_number()).await;
    app.move_shipment(&rtm["id"], "PICKING").await;

    let dispatched = shipments_query(
        &app,
        &app.agent_token(),
        json!({ "status": ["DISPATCHED"] }),
    )
    .await;
    assert_eq!(queue_ids(&dispatched), vec![id_of(&utr)]);

    let open = shipments_query(
        &app,
        &app.service_token(),
        json!({ "status": ["PENDING", "PICKING"] }),
    )
    .await;
    let mut ids = queue_ids(&open);
    ids.sort();
    let mut expected = vec![id_of(&ams), id_of(&rtm)];
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn the_shipments_queue_combines_location_and_status() {
    let app = TestApp::spawn().await;
    let (ams, _, utr) = three_shipments(&app).await;
    app.dispatch(&utr["id"], "PostNL", &tracking_number()).await;
    let resp = shipments_query(
        &app,
        &app.service_token(),
        json!({ "locationCode": seed::STORE_B, "status": ["PENDING"] }),
    )
    .await;
    assert_eq!(queue_ids(&resp), Vec::<String>::new());
    let resp = shipments_query(
        &app,
        &app.service_token(),
        json!({ "locationCode": seed::STORE_A, "status": ["PENDING"] }),
    )
    .await;
    assert_eq!(queue_ids(&resp), vec![id_of(&ams)]);
}

#[tokio::test]
async fn the_shipments_queue_pages_newest_first() {
    let app = TestApp::spawn().await;
    let (ams, rtm, utr) = three_shipments(&app).await;
    let first = shipments_query(&app, &app.service_token(), json!({ "first": 2 })).await;
    assert_eq!(queue_ids(&first), vec![id_of(&utr), id_of(&rtm)]);
    let page = &expect_data(&first)["shipments"];
    assert_eq!(page["totalCount"], 3);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let after = page["pageInfo"]["endCursor"].clone();
    let rest = shipments_query(
        &app,
        &app.service_token(),
        json!({ "first": 2, "after": after }),
    )
    .await;
    assert_eq!(queue_ids(&rest), vec![id_of(&ams)]);
    assert_eq!(
        expect_data(&rest)["shipments"]["pageInfo"]["hasNextPage"],
        false
    );
}

#[tokio::test]
async fn a_customer_may_not_read_the_shipments_queue() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let customer = str_of(&order["customer"]["id"], "customer id");
    let resp = shipments_query(&app, &app.customer_token(customer), json!({})).await;
    assert_error_code(&resp, "FORBIDDEN");
}

const SHIPMENT_QUERY: &str =
    "query($id: ID!) { shipment(id: $id) { id status location { code } order { id } } }";

#[tokio::test]
async fn a_customer_reads_her_own_shipment() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let shipment = only_shipment(&order);
    let customer = str_of(&order["customer"]["id"], "customer id");
    let resp = app
        .as_customer(customer, SHIPMENT_QUERY, json!({ "id": shipment["id"] }))
        .await;
    let read = &expect_data(&resp)["shipment"];
    assert_eq!(read["id"], shipment["id"]);
    assert_eq!(read["status"], "PENDING");
    assert_eq!(read["order"]["id"], order["id"]);

    let mine = app
        .as_customer(
            customer,
            &format!(
                "query($id: ID!) {{ order(id: $id) {{ shipments {{ {SHIPMENT_FIELDS} }} }} }}"
            ),
            json!({ "id": order["id"] }),
        )
        .await;
    assert_eq!(
        expect_data(&mine)["order"]["shipments"][0]["id"],
        shipment["id"],
        "and through her order"
    );
}

#[tokio::test]
async fn another_customers_shipment_reads_as_null() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let other = app.new_customer("eve@example.test").await;
    let resp = app
        .as_customer(
            &other,
            SHIPMENT_QUERY,
            json!({ "id": only_shipment(&order)["id"] }),
        )
        .await;
    assert_eq!(
        expect_data(&resp)["shipment"],
        Value::Null,
        "{}",
        pretty(&resp)
    );
    let node = app
        .as_customer(
            &other,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": only_shipment(&order)["id"] }),
        )
        .await;
    assert_eq!(expect_data(&node)["node"], Value::Null);
}

#[tokio::test]
async fn an_agent_reads_a_shipment_by_node() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let shipment = only_shipment(&order);
    let resp = app
        .as_agent(
            "query($id: ID!) { node(id: $id) { __typename id ... on Shipment { status location { code } } } }",
            json!({ "id": shipment["id"] }),
        )
        .await;
    let node = &expect_data(&resp)["node"];
    assert_eq!(node["__typename"], "Shipment", "{}", pretty(&resp));
    assert_eq!(node["id"], shipment["id"]);
    assert_eq!(node["status"], "PENDING");
    assert_eq!(node["location"]["code"], seed::STORE_A);
}

#[tokio::test]
async fn an_unknown_shipment_reads_as_null() {
    let app = TestApp::spawn().await;
    use base64::Engine as _;
    let missing = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("Shipment:987654");
    let resp = app.as_agent(SHIPMENT_QUERY, json!({ "id": missing })).await;
    assert_eq!(expect_data(&resp)["shipment"], Value::Null);
}

#[tokio::test]
async fn order_lines_show_the_fulfilled_quantities_per_line() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2).line(seed::TOTE, 1))
        .await;
    let shipment = only_shipment(&order);
    assert_eq!(shipment["lines"].as_array().map(Vec::len), Some(2));
    app.dispatch(&shipment["id"], "PostNL", &tracking_number())
        .await;
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(line_of(&order, seed::SHIRT)["quantityDispatched"], 2);
    assert_eq!(line_of(&order, seed::TOTE)["quantityDispatched"], 1);
    assert_eq!(line_of(&order, seed::TOTE)["quantityDelivered"], 0);
}

// ---------------------------------------------------------------------- more routing

#[tokio::test]
async fn an_address_without_coordinates_is_routed_and_the_explanation_says_so() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let mut address = default_address();
    address.as_object_mut().expect("address").remove("location");
    let order = app
        .place_fulfilment(&OrderBuilder::new().ship_to(address).line(seed::SHIRT, 1))
        .await;
    assert_eq!(
        shipments_of(&order).len(),
        1,
        "one parcel: {}",
        pretty(&order)
    );
    let routing = routing_as_agent(&app, &order).await;
    let explanation = str_of(&chosen(&routing)["explanation"], "explanation").to_lowercase();
    assert!(
        explanation.contains("unknown"),
        "the explanation says the distance was unknown: {explanation}"
    );
}

#[tokio::test]
async fn many_locations_use_the_greedy_search_and_say_so() {
    let app = TestApp::spawn().await;
    jacket(&app).await;
    for i in 0..15 {
        jacket_site(
            &app,
            &format!("N{i:02}"),
            (52.0 + f64::from(i) * 0.05, 4.5 + f64::from(i) * 0.05),
            3,
        )
        .await;
    }
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(JACKET, 2))
        .await;
    assert_eq!(shipments_of(&order).len(), 1, "{}", pretty(&order));
    let routing = routing_as_agent(&app, &order).await;
    assert_eq!(routing["strategy"], "greedy", "{}", pretty(&routing));
    let explanation = str_of(&chosen(&routing)["explanation"], "explanation").to_lowercase();
    assert!(explanation.contains("greedy"), "{explanation}");
}

#[tokio::test]
async fn the_order_estimate_is_the_latest_shipment_estimate() {
    let app = TestApp::spawn().await;
    jacket(&app).await;
    jacket_site(&app, "AMS", AMSTERDAM, 3).await;
    jacket_site_with(
        &app,
        LocationBuilder::warehouse("MAD")
            .at(MADRID.0, MADRID.1)
            .handling_days(2),
        4,
    )
    .await;
    // 7: AMS 3 (2 days) + MAD 4 (5 days).
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(JACKET, 7).placed_at(&at_hours(0)))
        .await;
    assert_eq!(
        shipment_locations(&order),
        vec!["AMS", "MAD"],
        "{}",
        pretty(&order)
    );
    let placed = parse_time(&order["placedAt"]).date_naive();
    assert_eq!(
        shipment_at(&order, "AMS")["estimatedDeliveryDate"],
        (placed + chrono::Duration::days(2)).to_string()
    );
    assert_eq!(
        order["estimatedDeliveryDate"],
        (placed + chrono::Duration::days(5)).to_string()
    );
}

// ---------------------------------------------------------------------- more status moves

#[tokio::test]
async fn a_replayed_idempotency_key_returns_the_first_result_and_moves_stock_once() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2))
        .await;
    let input = json!({
        "shipmentId": only_shipment(&order)["id"], "status": "DISPATCHED",
        "carrier": "PostNL", "trackingNumber": tracking_number(),
        "idempotencyKey": "wms-dispatch-1",
    });
    let first = app.update_shipment(input.clone()).await;
    let first = expect_ok(&first, "updateShipmentStatus")["shipment"].clone();
    let replay = app.update_shipment(input).await;
    let replay = expect_ok(&replay, "updateShipmentStatus")["shipment"].clone();
    assert_eq!(replay["id"], first["id"]);
    assert_eq!(replay["status"], "DISPATCHED");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 3,
            reserved: 0,
            available: 3
        },
        "the stock moved once"
    );
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["lines"][0]["quantityDispatched"], 2);
}

#[tokio::test]
async fn a_reused_idempotency_key_with_other_input_is_invalid() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let id = only_shipment(&order)["id"].clone();
    let resp = app
        .update_shipment(json!({ "shipmentId": id, "status": "PICKING", "idempotencyKey": "k-1" }))
        .await;
    expect_ok(&resp, "updateShipmentStatus");
    let resp = app
        .update_shipment(
            json!({ "shipmentId": id, "status": "CANCELLED", "idempotencyKey": "k-1" }),
        )
        .await;
    assert_user_error(&resp, "updateShipmentStatus", "INVALID");
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["status"], "PICKING");
}

#[tokio::test]
async fn a_short_pick_naming_a_line_not_in_the_shipment_is_invalid() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2))
        .await;
    let other = app
        .place_fulfilment(&OrderBuilder::new().line(seed::TOTE, 1))
        .await;
    let resp = app
        .update_shipment(json!({
            "shipmentId": only_shipment(&order)["id"], "status": "DISPATCHED",
            "carrier": "PostNL", "trackingNumber": tracking_number(),
            "lines": [{ "lineId": other["lines"][0]["id"], "quantity": 1 }],
        }))
        .await;
    assert_user_error(&resp, "updateShipmentStatus", "INVALID");
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["status"], "PENDING");
}
