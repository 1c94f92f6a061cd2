//! Subscriptions over graphql-transport-ws on /graphql: prompt delivery, per-subscriber
//! authorization, replay after a cursor, the protocol's close codes, refusals that leave the
//! connection usable, slow subscribers (LAGGED), delivery across server processes (PostgreSQL),
//! and the dispatcher's metrics.
//!
//! "Promptly" means within 5 s of the mutation's response; each delivery prints its real delay.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::{
    ENTRY_FIELDS, OrderBuilder, add_note_mutation, my_timeline_query, nodes, place_order_mutation,
    seed, str_of,
};
use crate::harness::{TestApp, expect_data, expect_ok, metric_sum, note_postgres_only, pretty};
use crate::timeline::wait_for_email_outcomes;
use crate::ws::{WsClient, codes_of};

/// How long after the mutation's response an event may take to arrive.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the tests watch for something that must not arrive.
const QUIET: Duration = Duration::from_millis(700);

fn customer_timeline_subscription() -> String {
    format!(
        "subscription($customerId: ID!, $after: String) {{
            customerTimeline(customerId: $customerId, after: $after) {{ {ENTRY_FIELDS} }} }}"
    )
}

fn order_events_subscription() -> String {
    format!(
        "subscription($orderId: ID!, $after: String) {{
            orderEvents(orderId: $orderId, after: $after) {{ {ENTRY_FIELDS} }} }}"
    )
}

fn my_order_events_subscription() -> String {
    format!("subscription($after: String) {{ myOrderEvents(after: $after) {{ {ENTRY_FIELDS} }} }}")
}

const STOCK_LEVELS: &str = "subscription($skus: [String!]!) {
    stockLevels(skus: $skus) { sku available onHand location { code } } }";

/// The next `next` of `id`, which must arrive within 5 s of `since` (the mutation's response);
/// prints the delay it took.
async fn expect_event(ws: &mut WsClient, id: &str, since: Instant, what: &str) -> Value {
    let left = EVENT_TIMEOUT.saturating_sub(since.elapsed());
    let data = ws.expect_next(id, left).await;
    eprintln!(
        "delivery delay ({what}): {} ms after the mutation's response",
        since.elapsed().as_millis()
    );
    data
}

fn customer_of(order: &Value) -> String {
    str_of(&order["customer"]["id"], "customer id").to_string()
}

/// The customer's own timeline (as she reads it), newest first.
async fn customer_sees(app: &TestApp, customer_id: &str) -> Vec<Value> {
    let resp = app
        .as_customer(customer_id, &my_timeline_query(), json!({ "first": 100 }))
        .await;
    nodes(&expect_data(&resp)["me"]["timeline"])
}

/// The ORDER_PLACED entry of `order` among `entries`.
#[track_caller]
fn order_placed_entry(entries: &[Value], order: &Value) -> Value {
    entries
        .iter()
        .find(|e| e["kind"] == "ORDER_PLACED" && e["order"]["id"] == order["id"])
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no ORDER_PLACED entry for {} among:\n{}",
                order["number"],
                pretty(&json!(entries))
            )
        })
}

// ---------------------------------------------------------------------- live delivery

#[tokio::test]
async fn customer_timeline_delivers_a_note_promptly() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let mut ws = WsClient::connect(&app, Some(&app.agent_token())).await;
    ws.subscribe(
        "timeline",
        &customer_timeline_subscription(),
        json!({ "customerId": customer }),
    )
    .await;
    ws.settle().await;

    app.add_note(&customer, "Called about a late parcel").await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "timeline", since, "customerTimeline, note").await;
    let entry = &data["customerTimeline"];
    assert_eq!(entry["kind"], "NOTE_ADDED", "{}", pretty(&data));
    assert_eq!(entry["actor"]["role"], "AGENT");
    assert_eq!(entry["actor"]["id"], "agent-1", "agents see who acted");
    assert!(entry["summary"].as_str().is_some_and(|s| !s.is_empty()));
}

#[tokio::test]
async fn an_event_arrives_without_waiting_for_the_fallback_poll() {
    let app = TestApp::spawn_with(|cfg| cfg.dispatch_poll = Duration::from_secs(60)).await;
    let customer = app.new_customer("ada@example.test").await;
    let mut ws = WsClient::connect(&app, Some(&app.agent_token())).await;
    ws.subscribe(
        "timeline",
        &customer_timeline_subscription(),
        json!({ "customerId": customer }),
    )
    .await;
    ws.settle().await;

    app.add_note(&customer, "Woken by the commit").await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "timeline", since, "customerTimeline, 60 s poll").await;
    assert_eq!(
        data["customerTimeline"]["kind"],
        "NOTE_ADDED",
        "{}",
        pretty(&data)
    );
}

#[tokio::test]
async fn customer_timeline_delivers_an_order_placed_with_the_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let customer = app.new_customer("ada@example.test").await;
    let mut ws = WsClient::connect(&app, Some(&app.agent_token())).await;
    ws.subscribe(
        "timeline",
        &customer_timeline_subscription(),
        json!({ "customerId": customer }),
    )
    .await;
    ws.settle().await;

    let order = app.order_for("ada@example.test").await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "timeline", since, "customerTimeline, order").await;
    let entry = &data["customerTimeline"];
    assert_eq!(entry["kind"], "ORDER_PLACED", "{}", pretty(&data));
    assert_eq!(entry["order"]["id"], order["id"]);
    assert_eq!(entry["order"]["number"], order["number"]);
    assert_eq!(entry["channel"], "WEB");
    assert_eq!(entry["actor"]["id"], "web-shop");
    let number = str_of(&order["number"], "number");
    assert!(
        entry["summary"]
            .as_str()
            .is_some_and(|s| s.contains(number)),
        "the summary names the order: {entry}"
    );
}

#[tokio::test]
async fn a_live_entry_is_the_entry_the_timeline_shows() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let mut ws = WsClient::connect(&app, Some(&app.agent_token())).await;
    ws.subscribe(
        "timeline",
        &customer_timeline_subscription(),
        json!({ "customerId": customer }),
    )
    .await;
    ws.settle().await;

    app.add_note(&customer, "Same entry everywhere").await;
    let since = Instant::now();
    let live = expect_event(&mut ws, "timeline", since, "customerTimeline, note").await
        ["customerTimeline"]
        .clone();
    let stored = app.agent_timeline(&customer).await;
    assert_eq!(stored.len(), 1, "{}", pretty(&json!(stored)));
    for field in [
        "id",
        "cursor",
        "kind",
        "occurredAt",
        "summary",
        "actor",
        "reason",
    ] {
        assert_eq!(
            live[field], stored[0][field],
            "{field} of the live entry and of the timeline's entry"
        );
    }
}

#[tokio::test]
async fn my_order_events_delivers_a_new_order_to_its_customer_promptly() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let customer = app.new_customer("ada@example.test").await;
    let mut ws = WsClient::connect(&app, Some(&app.customer_token(&customer))).await;
    ws.subscribe("mine", &my_order_events_subscription(), json!({}))
        .await;
    ws.settle().await;

    let order = app.order_for("ada@example.test").await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "mine", since, "myOrderEvents, order").await;
    let entry = &data["myOrderEvents"];
    assert_eq!(entry["kind"], "ORDER_PLACED", "{}", pretty(&data));
    assert_eq!(entry["order"]["id"], order["id"]);
    assert_eq!(entry["actor"]["role"], "SERVICE");
    assert_eq!(
        entry["actor"]["id"],
        Value::Null,
        "a customer does not see which service acted"
    );
}

#[tokio::test]
async fn my_order_events_never_delivers_another_customers_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let ada = app.new_customer("ada@example.test").await;
    app.new_customer("bob@example.test").await;
    let mut ws = WsClient::connect(&app, Some(&app.customer_token(&ada))).await;
    ws.subscribe("mine", &my_order_events_subscription(), json!({}))
        .await;
    ws.settle().await;

    let bobs = app.order_for("bob@example.test").await; // first: must never reach Ada
    let hers = app.order_for("ada@example.test").await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "mine", since, "myOrderEvents, order").await;
    assert_eq!(
        data["myOrderEvents"]["order"]["id"],
        hers["id"],
        "the first event Ada receives is her own order, not Bob's:\n{}",
        pretty(&data)
    );
    // Bob's email entry is written too: it must not reach Ada either. Only the email entries
    // about her own order may follow.
    wait_for_email_outcomes(&app, &[&bobs]).await;
    ws.expect_nothing_but_own_emails_for("mine", QUIET, &[hers["id"].clone()])
        .await;
}

#[tokio::test]
async fn my_order_events_does_not_deliver_agent_notes() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let ada = app.new_customer("ada@example.test").await;
    let mut ws = WsClient::connect(&app, Some(&app.customer_token(&ada))).await;
    ws.subscribe("mine", &my_order_events_subscription(), json!({}))
        .await;
    ws.settle().await;

    app.add_note(&ada, "Internal: difficult customer").await;
    let hers = app.order_for("ada@example.test").await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "mine", since, "myOrderEvents, order").await;
    assert_eq!(
        data["myOrderEvents"]["kind"],
        "ORDER_PLACED",
        "the note never reaches the customer:\n{}",
        pretty(&data)
    );
    assert_eq!(data["myOrderEvents"]["order"]["id"], hers["id"]);
    // Nothing more: not the note; only the email entries about her order.
    ws.expect_nothing_but_own_emails_for("mine", QUIET, &[hers["id"].clone()])
        .await;
}

#[tokio::test]
async fn my_order_events_does_not_deliver_a_stock_discrepancy_of_her_sale() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let ada = app.new_customer("ada@example.test").await;
    let mut ws = WsClient::connect(&app, Some(&app.customer_token(&ada))).await;
    ws.subscribe("mine", &my_order_events_subscription(), json!({}))
        .await;
    ws.settle().await;

    // 7 leave a store whose records say 5: ORDER_PLACED and a STOCK_CHANGED discrepancy.
    let sale = OrderBuilder::new()
        .store_sale(seed::STORE_A)
        .customer_email("ada@example.test")
        .line(seed::SHIRT, 7)
        .place_ok(&app)
        .await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "mine", since, "myOrderEvents, carry-out sale").await;
    assert_eq!(
        data["myOrderEvents"]["kind"],
        "ORDER_PLACED",
        "{}",
        pretty(&data)
    );
    assert_eq!(data["myOrderEvents"]["order"]["id"], sale["id"]);
    // Nothing more: not the STOCK_CHANGED; only the email entries about her sale.
    ws.expect_nothing_but_own_emails_for("mine", QUIET, &[sale["id"].clone()])
        .await;
}

#[tokio::test]
async fn one_event_is_shaped_for_each_subscriber() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let ada = app.new_customer("ada@example.test").await;
    let mut agent = WsClient::connect(&app, Some(&app.agent_token())).await;
    agent
        .subscribe(
            "timeline",
            &customer_timeline_subscription(),
            json!({ "customerId": ada }),
        )
        .await;
    agent.settle().await;
    let mut customer = WsClient::connect(&app, Some(&app.customer_token(&ada))).await;
    customer
        .subscribe("mine", &my_order_events_subscription(), json!({}))
        .await;
    customer.settle().await;

    let resp = OrderBuilder::new()
        .channel("PHONE")
        .customer_email("ada@example.test")
        .line(seed::SHIRT, 1)
        .place_with(&app, Some(&app.agent_token()))
        .await;
    expect_ok(&resp, "placeOrder");
    let since = Instant::now();
    let for_agent = expect_event(&mut agent, "timeline", since, "agent, phone order").await;
    let for_customer = expect_event(&mut customer, "mine", since, "customer, phone order").await;
    assert_eq!(
        for_agent["customerTimeline"]["actor"],
        json!({ "role": "AGENT", "id": "agent-1" }),
        "{}",
        pretty(&for_agent)
    );
    assert_eq!(
        for_customer["myOrderEvents"]["actor"],
        json!({ "role": "AGENT", "id": null }),
        "the customer never sees the agent's id:\n{}",
        pretty(&for_customer)
    );
    assert_eq!(
        for_agent["customerTimeline"]["id"],
        for_customer["myOrderEvents"]["id"]
    );
}

#[tokio::test]
async fn concurrent_writes_are_all_delivered_once() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let mut ws = WsClient::connect(&app, Some(&app.agent_token())).await;
    ws.subscribe(
        "timeline",
        &customer_timeline_subscription(),
        json!({ "customerId": customer }),
    )
    .await;
    ws.settle().await;

    const WRITES: usize = 30;
    let token = app.agent_token();
    let writes = (0..WRITES).map(|i| {
        app.add_note_with(
            Some(&token),
            json!({ "customerId": customer, "body": format!("Concurrent {i}") }),
        )
    });
    for resp in futures_util::future::join_all(writes).await {
        expect_ok(&resp, "addCustomerNote");
    }
    let since = Instant::now();
    let mut delivered = std::collections::BTreeSet::new();
    for _ in 0..WRITES {
        let data = expect_event(&mut ws, "timeline", since, "concurrent notes").await;
        let id = data["customerTimeline"]["id"].to_string();
        assert!(
            delivered.insert(id.clone()),
            "entry {id} was delivered twice"
        );
    }
    ws.expect_nothing_for("timeline", QUIET).await;
    let stored: std::collections::BTreeSet<String> = app
        .agent_timeline(&customer)
        .await
        .iter()
        .map(|e| e["id"].to_string())
        .collect();
    assert_eq!(delivered, stored, "every committed entry was delivered");
}

#[tokio::test]
async fn order_events_for_another_customers_order_is_an_error_like_a_missing_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let ada = app.new_customer("ada@example.test").await;
    let bobs = app.order_for("bob@example.test").await;
    let mut ws = WsClient::connect(&app, Some(&app.customer_token(&ada))).await;

    use base64::Engine as _;
    let missing = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("Order:987654");
    ws.subscribe(
        "missing",
        &order_events_subscription(),
        json!({ "orderId": missing }),
    )
    .await;
    let missing_errors = ws.expect_error("missing", EVENT_TIMEOUT).await;

    ws.subscribe(
        "bobs",
        &order_events_subscription(),
        json!({ "orderId": bobs["id"] }),
    )
    .await;
    let errors = ws.expect_error("bobs", EVENT_TIMEOUT).await;
    assert!(!errors.is_empty());
    assert!(
        !codes_of(&errors).iter().any(|c| c == "INTERNAL"),
        "{errors:?}"
    );
    assert_eq!(
        codes_of(&errors),
        codes_of(&missing_errors),
        "another customer's order is refused exactly like a missing one"
    );

    // Bob's world moves on; nothing of it reaches Ada on that operation.
    app.order_for("bob@example.test").await;
    ws.expect_no_next_for("bobs", QUIET).await;
}

#[tokio::test]
async fn a_customer_may_not_subscribe_to_a_customer_timeline() {
    let app = TestApp::spawn().await;
    let ada = app.new_customer("ada@example.test").await;
    let mut ws = WsClient::connect(&app, Some(&app.customer_token(&ada))).await;
    ws.subscribe(
        "timeline",
        &customer_timeline_subscription(),
        json!({ "customerId": ada }),
    )
    .await;
    let errors = ws.expect_error("timeline", EVENT_TIMEOUT).await;
    assert_eq!(codes_of(&errors), ["FORBIDDEN"], "{errors:?}");
    app.add_note(&ada, "Internal").await;
    ws.expect_no_next_for("timeline", QUIET).await;
}

// ---------------------------------------------------------------------- replay after a cursor

#[tokio::test]
async fn customer_timeline_replays_after_a_cursor_oldest_first_then_goes_live() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    for body in ["N1", "N2", "N3", "N4"] {
        app.add_note(&customer, body).await;
    }
    let stored = app.agent_timeline(&customer).await; // N4 N3 N2 N1
    assert_eq!(stored.len(), 4, "{}", pretty(&json!(stored)));
    let after_n1 = stored[3]["cursor"].clone();

    let mut ws = WsClient::connect(&app, Some(&app.agent_token())).await;
    ws.subscribe(
        "timeline",
        &customer_timeline_subscription(),
        json!({ "customerId": customer, "after": after_n1 }),
    )
    .await;
    for (i, expected) in [&stored[2], &stored[1], &stored[0]].into_iter().enumerate() {
        let data = ws.expect_next("timeline", EVENT_TIMEOUT).await;
        assert_eq!(
            data["customerTimeline"]["id"],
            expected["id"],
            "replayed entry {i} (oldest first: N2, N3, N4):\n{}",
            pretty(&data)
        );
    }
    ws.settle().await;

    app.add_note(&customer, "N5").await;
    let since = Instant::now();
    let live = expect_event(&mut ws, "timeline", since, "customerTimeline after replay").await;
    let newest = app.agent_timeline(&customer).await[0].clone();
    assert_eq!(
        live["customerTimeline"]["id"], newest["id"],
        "after the replay the live entry N5 follows, once"
    );
    ws.expect_nothing_for("timeline", QUIET).await;
}

#[tokio::test]
async fn order_events_replays_only_that_orders_entries_for_its_owner() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let first = app.order_for("ada@example.test").await;
    let second = app.order_for("ada@example.test").await;
    let third = app.order_for("ada@example.test").await;
    let ada = customer_of(&first);
    let before_second =
        order_placed_entry(&customer_sees(&app, &ada).await, &first)["cursor"].clone();

    let mut ws = WsClient::connect(&app, Some(&app.customer_token(&ada))).await;
    ws.subscribe(
        "order",
        &order_events_subscription(),
        json!({ "orderId": second["id"], "after": before_second }),
    )
    .await;
    let data = ws.expect_next("order", EVENT_TIMEOUT).await;
    let entry = &data["orderEvents"];
    assert_eq!(entry["kind"], "ORDER_PLACED", "{}", pretty(&data));
    assert_eq!(entry["order"]["id"], second["id"]);
    // Nothing of her other orders, whose email entries are written too; only the email entries
    // about this one.
    wait_for_email_outcomes(&app, &[&first, &third]).await;
    ws.expect_nothing_but_own_emails_for("order", QUIET, &[second["id"].clone()])
        .await;
}

#[tokio::test]
async fn an_agent_may_follow_any_orders_events() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let first = app.order_for("ada@example.test").await;
    let second = app.order_for("ada@example.test").await;
    let stored = app.agent_timeline(&customer_of(&first)).await;
    let after_first = order_placed_entry(&stored, &first)["cursor"].clone();

    let mut ws = WsClient::connect(&app, Some(&app.agent_token())).await;
    ws.subscribe(
        "order",
        &order_events_subscription(),
        json!({ "orderId": second["id"], "after": after_first }),
    )
    .await;
    let data = ws.expect_next("order", EVENT_TIMEOUT).await;
    assert_eq!(
        data["orderEvents"]["order"]["id"],
        second["id"],
        "{}",
        pretty(&data)
    );
    assert_eq!(data["orderEvents"]["actor"]["id"], "web-shop");
}

#[tokio::test]
async fn my_order_events_replays_only_what_the_customer_may_see() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let first = app.order_for("ada@example.test").await;
    let ada = customer_of(&first);
    app.add_note(&ada, "Internal").await;
    let bobs = app.order_for("bob@example.test").await;
    let second = app.order_for("ada@example.test").await;
    let after_first =
        order_placed_entry(&customer_sees(&app, &ada).await, &first)["cursor"].clone();

    let mut ws = WsClient::connect(&app, Some(&app.customer_token(&ada))).await;
    ws.subscribe(
        "mine",
        &my_order_events_subscription(),
        json!({ "after": after_first }),
    )
    .await;
    // The email entries about her orders (the first one's may come before the second order)
    // are hers to see; anything else is not passed over.
    let hers = [first["id"].clone(), second["id"].clone()];
    let data = ws
        .expect_next_skipping_own_emails("mine", EVENT_TIMEOUT, &hers)
        .await;
    assert_eq!(
        data["myOrderEvents"]["order"]["id"],
        second["id"],
        "only her second order is replayed (no note, nothing of Bob):\n{}",
        pretty(&data)
    );
    assert_eq!(data["myOrderEvents"]["kind"], "ORDER_PLACED");
    wait_for_email_outcomes(&app, &[&bobs]).await;
    ws.expect_nothing_but_own_emails_for("mine", QUIET, &hers)
        .await;
}

// ---------------------------------------------------------------------- stock levels

#[tokio::test]
async fn stock_levels_yields_a_stock_count_without_a_token() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let mut ws = WsClient::connect(&app, None).await;
    ws.subscribe("stock", STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
        .await;
    ws.settle().await;

    app.set_stock(seed::WAREHOUSE, seed::SHIRT, 42).await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "stock", since, "stockLevels, count").await;
    let level = &data["stockLevels"];
    assert_eq!(level["sku"], seed::SHIRT, "{}", pretty(&data));
    assert_eq!(level["location"]["code"], seed::WAREHOUSE);
    assert_eq!(level["available"], 42);
    assert_eq!(
        level["onHand"],
        Value::Null,
        "onHand is null for anonymous callers"
    );
}

#[tokio::test]
async fn stock_levels_yields_an_adjustment() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let mut ws = WsClient::connect(&app, None).await;
    ws.subscribe("stock", STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
        .await;
    ws.settle().await;

    let resp = app
        .as_service(
            "mutation($input: AdjustStockLevelInput!) { adjustStockLevel(input: $input) { userErrors { code message } } }",
            json!({ "input": { "locationCode": seed::WAREHOUSE, "sku": seed::SHIRT, "delta": 3, "reason": "delivery" } }),
        )
        .await;
    expect_ok(&resp, "adjustStockLevel");
    let since = Instant::now();
    let data = expect_event(&mut ws, "stock", since, "stockLevels, adjustment").await;
    let level = &data["stockLevels"];
    assert_eq!(
        level["location"]["code"],
        seed::WAREHOUSE,
        "{}",
        pretty(&data)
    );
    assert_eq!(level["available"], 53, "50 + 3");
}

#[tokio::test]
async fn stock_levels_yields_a_reservation_by_an_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let before = app.stock_snapshot(&[seed::SHIRT]).await;
    let mut ws = WsClient::connect(&app, None).await;
    ws.subscribe("stock", STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
        .await;
    ws.settle().await;

    OrderBuilder::new()
        .line(seed::SHIRT, 2)
        .place_ok(&app)
        .await;
    let since = Instant::now();
    let after = app.stock_snapshot(&[seed::SHIRT]).await;
    let changed: Vec<(String, i64)> = after
        .iter()
        .filter(|(key, stock)| before.get(key) != Some(stock))
        .map(|((_, location), stock)| (location.clone(), stock.available))
        .collect();
    assert!(!changed.is_empty(), "the order reserved stock somewhere");

    let mut seen = Vec::new();
    while seen.len() < changed.len() {
        let data = expect_event(&mut ws, "stock", since, "stockLevels, reservation").await;
        let level = &data["stockLevels"];
        assert_eq!(level["sku"], seed::SHIRT, "{}", pretty(&data));
        let entry = (
            level["location"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            level["available"].as_i64().unwrap_or(-1),
        );
        assert!(
            changed.contains(&entry),
            "a stock level the order changed, with its new availability; expected one of {changed:?}, got {entry:?}"
        );
        seen.push(entry);
    }
}

#[tokio::test]
async fn stock_levels_yields_only_the_skus_asked_for() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let mut ws = WsClient::connect(&app, None).await;
    ws.subscribe("stock", STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
        .await;
    ws.settle().await;

    app.set_stock(seed::WAREHOUSE, seed::TOTE, 11).await; // not asked for
    app.set_stock(seed::STORE_B, seed::SHIRT, 3).await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "stock", since, "stockLevels, count").await;
    assert_eq!(data["stockLevels"]["sku"], seed::SHIRT, "{}", pretty(&data));
    assert_eq!(data["stockLevels"]["location"]["code"], seed::STORE_B);
    assert_eq!(data["stockLevels"]["available"], 3);
    ws.expect_nothing_for("stock", QUIET).await;
}

#[tokio::test]
async fn stock_levels_shows_on_hand_to_a_service_subscriber() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let mut ws = WsClient::connect(&app, Some(&app.service_token())).await;
    ws.subscribe("stock", STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
        .await;
    ws.settle().await;

    app.set_stock(seed::WAREHOUSE, seed::SHIRT, 42).await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "stock", since, "stockLevels, count").await;
    assert_eq!(data["stockLevels"]["onHand"], 42, "{}", pretty(&data));
}

// ---------------------------------------------------------------------- the protocol

#[tokio::test]
async fn an_invalid_token_in_connection_init_closes_with_4403() {
    let app = TestApp::spawn().await;
    let forged = touchpoint::auth::mint_token(
        "not-the-secret",
        touchpoint::auth::Role::Agent,
        "agent-1",
        Duration::from_secs(3600),
    );
    for token in [forged.as_str(), "garbage"] {
        let mut ws = WsClient::connect_raw(&app).await;
        ws.init(Some(token)).await;
        let (code, reason) = ws.expect_close(Duration::from_secs(5)).await;
        assert_eq!(
            code, 4403,
            "token {token:.12}…: closed with {code} {reason:?}"
        );
    }
}

#[tokio::test]
async fn a_subscribe_before_connection_init_closes_with_4401() {
    let app = TestApp::spawn().await;
    let mut ws = WsClient::connect_raw(&app).await;
    ws.subscribe("stock", STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
        .await;
    let (code, reason) = ws.expect_close(Duration::from_secs(5)).await;
    assert_eq!(code, 4401, "closed with {code} {reason:?}");
}

#[tokio::test]
async fn no_connection_init_within_the_timeout_closes_with_4408() {
    let app = TestApp::spawn_with(|cfg| cfg.ws_init_timeout = Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut ws = WsClient::connect_raw(&app).await;
    let (code, reason) = ws.expect_close(Duration::from_secs(5)).await;
    let waited = started.elapsed();
    assert_eq!(code, 4408, "closed with {code} {reason:?} after {waited:?}");
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}, before the 1 s allowed for connection_init"
    );
}

#[tokio::test]
async fn a_protected_subscription_without_a_token_is_unauthenticated_and_the_connection_stays_usable()
 {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.order_for("ada@example.test").await;
    let mut ws = WsClient::connect(&app, None).await;

    let refused = [
        (
            "timeline",
            customer_timeline_subscription(),
            json!({ "customerId": customer_of(&order) }),
        ),
        (
            "order",
            order_events_subscription(),
            json!({ "orderId": order["id"] }),
        ),
        ("mine", my_order_events_subscription(), json!({})),
    ];
    for (id, query, variables) in &refused {
        ws.subscribe(id, query, variables.clone()).await;
        let errors = ws.expect_error(id, EVENT_TIMEOUT).await;
        assert_eq!(
            codes_of(&errors).first().map(String::as_str),
            Some("UNAUTHENTICATED"),
            "{id}: {errors:?}"
        );
    }

    ws.subscribe("stock", STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
        .await;
    ws.settle().await;
    app.set_stock(seed::WAREHOUSE, seed::SHIRT, 41).await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "stock", since, "stockLevels after refusals").await;
    assert_eq!(data["stockLevels"]["available"], 41, "{}", pretty(&data));
}

#[tokio::test]
async fn an_unknown_subscription_field_is_an_error_and_the_connection_stays_usable() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let mut ws = WsClient::connect(&app, None).await;
    ws.subscribe("bad", "subscription { noSuchField { id } }", json!({}))
        .await;
    let errors = ws.expect_error("bad", EVENT_TIMEOUT).await;
    assert!(!errors.is_empty());
    assert!(
        !codes_of(&errors).iter().any(|c| c == "INTERNAL"),
        "{errors:?}"
    );

    ws.subscribe("stock", STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
        .await;
    ws.settle().await;
    app.set_stock(seed::WAREHOUSE, seed::SHIRT, 40).await;
    let since = Instant::now();
    let data = expect_event(&mut ws, "stock", since, "stockLevels after an error").await;
    assert_eq!(data["stockLevels"]["available"], 40, "{}", pretty(&data));
    assert!(ws.closed().is_none());
}

// ---------------------------------------------------------------------- slow subscribers

const WRITES_WHILE_NOT_READING: usize = 40;

/// A customer with ten notes of 5000 characters, stock for many orders, and a subscription
/// selection that repeats her notes five times per entry: each ORDER_PLACED entry is some
/// 250 KB, so a subscriber that stops reading backs the server up within a few entries instead
/// of being absorbed by socket buffers.
async fn customer_with_heavy_entries(app: &TestApp) -> String {
    app.seed_catalog().await;
    app.set_stock(seed::WAREHOUSE, seed::TOTE, 500).await;
    let customer = app.new_customer("slow@example.test").await;
    for i in 0..10 {
        app.add_note(&customer, &format!("{i}{}", "x".repeat(4999)))
            .await;
    }
    customer
}

fn heavy_timeline_subscription() -> String {
    let notes = "order { customer { notes(first: 10) { edges { node { body } } } } }";
    format!(
        "subscription($customerId: ID!) {{ customerTimeline(customerId: $customerId) {{
            id kind a: {notes} b: {notes} c: {notes} d: {notes} e: {notes} }} }}"
    )
}

/// Places one order and waits for every `(client, id)` to receive it: the subscriptions are live.
/// Returns the order.
async fn sync_on_one_order(app: &TestApp, subscribers: &mut [(&mut WsClient, &str)]) -> Value {
    let order = app.order_for("slow@example.test").await;
    let since = Instant::now();
    for (ws, id) in subscribers.iter_mut() {
        expect_event(ws, id, since, "first order").await;
    }
    order
}

/// Reads the entries `id` still delivers until its LAGGED error (an `error` message, or a `next`
/// carrying errors), each within 10 s; returns how many entries came first, and that message.
async fn read_until_lagged(ws: &mut WsClient, id: &str) -> (usize, Value) {
    let mut delivered = 0;
    let lagged = loop {
        let Some(message) = ws.next_for(id, Duration::from_secs(10)).await else {
            panic!(
                "after {delivered} entries: no LAGGED error within 10 s (closed: {:?})",
                ws.closed()
            );
        };
        match message["type"].as_str() {
            Some("next") if message["payload"]["errors"].is_array() => break message,
            Some("next") => delivered += 1,
            Some("error") => break message,
            _ => panic!(
                "after {delivered} entries, expected an entry or a LAGGED error, got:\n{}",
                pretty(&message)
            ),
        }
    };
    let errors = crate::ws::errors_of(&lagged)
        .or_else(|| lagged["payload"]["errors"].as_array().cloned())
        .unwrap_or_default();
    assert!(
        codes_of(&errors).iter().any(|c| c == "LAGGED"),
        "after {delivered} entries, an error with extensions.code LAGGED:\n{}",
        pretty(&lagged)
    );
    (delivered, lagged)
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_lagged_and_completed() {
    let app = TestApp::spawn_with(|cfg| cfg.subscription_buffer = 4).await;
    let customer = customer_with_heavy_entries(&app).await;
    let mut slow =
        WsClient::connect_with_small_receive_buffer(&app, Some(&app.agent_token())).await;
    slow.subscribe(
        "slow",
        &heavy_timeline_subscription(),
        json!({ "customerId": customer }),
    )
    .await;
    slow.settle().await;
    sync_on_one_order(&app, &mut [(&mut slow, "slow")]).await;

    // The subscriber stops reading while 40 events are written.
    for _ in 0..WRITES_WHILE_NOT_READING {
        app.order_for("slow@example.test").await;
    }

    let (delivered, lagged) = read_until_lagged(&mut slow, "slow").await;
    assert!(
        delivered < WRITES_WHILE_NOT_READING,
        "{delivered} entries arrived before the error: the subscriber did not fall behind"
    );
    slow.expect_complete("slow", Duration::from_secs(5)).await;
    eprintln!(
        "lagging subscriber: {delivered} entries, then LAGGED (as a `{}` message) and complete",
        lagged["type"].as_str().unwrap_or_default()
    );
}

#[tokio::test]
async fn a_lagging_subscriber_does_not_hold_back_others() {
    // Every order's email entry follows it a moment later, so some 80 events are written here,
    // and the dispatcher often publishes several at once (an order's entry with earlier orders'
    // email entries). With room for 4, a burst of 5 would fail even a subscriber that reads: with
    // room for 16 the reading one keeps up, and the one that stops reading, which socket buffers
    // spare a dozen entries or so, still falls behind (checked below).
    let app = TestApp::spawn_with(|cfg| cfg.subscription_buffer = 16).await;
    let customer = customer_with_heavy_entries(&app).await;
    let mut slow =
        WsClient::connect_with_small_receive_buffer(&app, Some(&app.agent_token())).await;
    slow.subscribe(
        "slow",
        &heavy_timeline_subscription(),
        json!({ "customerId": customer }),
    )
    .await;
    slow.settle().await;
    let mut fast = WsClient::connect(&app, Some(&app.agent_token())).await;
    fast.subscribe(
        "fast",
        "subscription($customerId: ID!) { customerTimeline(customerId: $customerId) {
            id kind order { id } } }",
        json!({ "customerId": customer }),
    )
    .await;
    fast.settle().await;
    let synced = sync_on_one_order(&app, &mut [(&mut slow, "slow"), (&mut fast, "fast")]).await;

    // Each order's email entry follows its ORDER_PLACED a moment later, on the same timeline: the
    // reader passes over email entries about orders whose ORDER_PLACED it has already had (and
    // the first order's), and fails on anything else.
    let reader = tokio::spawn(async move {
        let mut own_orders = vec![synced["id"].clone()];
        let mut entries = Vec::new();
        for _ in 0..WRITES_WHILE_NOT_READING {
            let data = fast
                .expect_next_skipping_own_emails("fast", EVENT_TIMEOUT, &own_orders)
                .await;
            let entry = data["customerTimeline"].clone();
            own_orders.push(entry["order"]["id"].clone());
            entries.push(entry);
        }
        fast.expect_no_next_but_own_emails_for("fast", Duration::from_millis(300), &own_orders)
            .await;
        entries
    });
    let started = Instant::now();
    let mut placed = Vec::new();
    for _ in 0..WRITES_WHILE_NOT_READING {
        placed.push(app.order_for("slow@example.test").await["id"].clone());
    }
    let written = started.elapsed();
    let entries = tokio::time::timeout(EVENT_TIMEOUT, reader)
        .await
        .unwrap_or_else(|_| {
            panic!("the reading subscriber did not get all {WRITES_WHILE_NOT_READING} entries within 5 s of the last write")
        })
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    assert_eq!(
        entries
            .iter()
            .map(|e| e["kind"].clone())
            .collect::<Vec<_>>(),
        vec![json!("ORDER_PLACED"); WRITES_WHILE_NOT_READING]
    );
    assert_eq!(
        entries
            .iter()
            .map(|e| e["order"]["id"].clone())
            .collect::<Vec<_>>(),
        placed,
        "the reading subscriber got each order's entry, in the order they were placed"
    );
    // The other one did fall behind meanwhile: it is told LAGGED once it reads again.
    let (delivered, _) = read_until_lagged(&mut slow, "slow").await;
    slow.expect_complete("slow", Duration::from_secs(5)).await;
    eprintln!(
        "reading subscriber got all {WRITES_WHILE_NOT_READING} entries (writes took {} ms) while another lagged after {delivered}",
        written.as_millis()
    );
}

// ---------------------------------------------------------------------- across instances

/// A `touchpoint serve` process on a test's database; killed when dropped (also on a panic).
struct ServerProcess {
    child: std::process::Child,
    base_url: String,
    _dir: tempfile::TempDir,
    log: std::path::PathBuf,
}

impl ServerProcess {
    /// Starts the binary and reads the port from its "GraphiQL:" line.
    fn start(database_url: &str, jwt_secret: &str) -> ServerProcess {
        use std::io::BufRead as _;
        let dir = tempfile::TempDir::new().expect("a temporary directory");
        let log = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&log).expect("create the log file");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_touchpoint"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--no-demo",
                "--database-url",
                database_url,
                "--jwt-secret",
                jwt_secret,
                // Only the wake-up after a commit (NOTIFY) can deliver within the test's 5 s.
                "--dispatch-poll",
                "60s",
            ])
            .env("TOUCHPOINT_MAIL_DIR", dir.path().join("mail"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start the touchpoint binary");
        let stdout = child.stdout.take().expect("the child's stdout");
        let (found, port) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(url) = line.trim().strip_prefix("GraphiQL:") {
                    let base = url.trim().trim_end_matches("/graphql").to_string();
                    let _ = found.send(base);
                    sent = true;
                }
            }
        });
        let mut process = ServerProcess {
            child,
            base_url: String::new(),
            _dir: dir,
            log,
        };
        match port.recv_timeout(Duration::from_secs(30)) {
            Ok(base_url) => process.base_url = base_url,
            Err(_) => panic!(
                "the server process printed no GraphiQL line within 30 s; its stderr:\n{}",
                process.log_tail()
            ),
        }
        process
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn an_event_committed_through_one_instance_reaches_a_subscriber_on_another() {
    let app = TestApp::spawn().await;
    if !app.is_postgres() {
        note_postgres_only(
            "subscriptions::an_event_committed_through_one_instance_reaches_a_subscriber_on_another",
        );
        return;
    }
    app.seed_catalog().await;
    let customer = app.new_customer("ada@example.test").await;
    let a = ServerProcess::start(app.database_url(), &app.jwt_secret);
    let b = ServerProcess::start(app.database_url(), &app.jwt_secret);

    let mut ws = WsClient::connect_url(&a.base_url, Some(&app.agent_token())).await;
    ws.subscribe(
        "timeline",
        &customer_timeline_subscription(),
        json!({ "customerId": customer }),
    )
    .await;
    ws.settle().await;

    let resp = app
        .gql_at(
            &b.base_url,
            Some(&app.agent_token()),
            &add_note_mutation(),
            json!({ "input": { "customerId": customer, "body": "Written through B" } }),
        )
        .await;
    expect_ok(&resp, "addCustomerNote");
    let since = Instant::now();
    let data = ws.next_for("timeline", EVENT_TIMEOUT).await.unwrap_or_else(|| {
        panic!(
            "the note written through B did not reach the subscriber on A within 5 s.\nA's stderr:\n{}\nB's stderr:\n{}",
            a.log_tail(),
            b.log_tail()
        )
    });
    eprintln!(
        "delivery delay (across instances, note): {} ms after the mutation's response",
        since.elapsed().as_millis()
    );
    assert_eq!(data["type"], "next", "{}", pretty(&data));
    assert_eq!(
        data["payload"]["data"]["customerTimeline"]["kind"],
        "NOTE_ADDED",
        "{}",
        pretty(&data)
    );

    let order = OrderBuilder::new()
        .customer_email("ada@example.test")
        .line(seed::TOTE, 1);
    let resp = app
        .gql_at(
            &b.base_url,
            Some(&app.service_token()),
            &place_order_mutation(),
            json!({ "input": order.input() }),
        )
        .await;
    let placed = expect_ok(&resp, "placeOrder")["order"].clone();
    let since = Instant::now();
    let data = expect_event(&mut ws, "timeline", since, "across instances, order").await;
    assert_eq!(
        data["customerTimeline"]["kind"],
        "ORDER_PLACED",
        "{}",
        pretty(&data)
    );
    assert_eq!(data["customerTimeline"]["order"]["id"], placed["id"]);
}

// ---------------------------------------------------------------------- metrics

/// Polls /metrics until `metric` satisfies `ok` (or `within` passes); returns the last value.
async fn wait_for_metric(
    app: &TestApp,
    metric: &str,
    within: Duration,
    ok: impl Fn(f64) -> bool,
) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let text = app.metrics().await;
        let value = metric_sum(&text, metric)
            .unwrap_or_else(|| panic!("{metric} is missing from /metrics:\n{text}"));
        if ok(value) || Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_live_subscriptions_gauge_counts_open_subscriptions() {
    let app = TestApp::spawn().await;
    let metric = "touchpoint_live_subscriptions";
    let before = wait_for_metric(&app, metric, Duration::ZERO, |_| true).await;

    let mut ws = WsClient::connect(&app, None).await;
    ws.subscribe("shirts", STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
        .await;
    ws.subscribe("totes", STOCK_LEVELS, json!({ "skus": [seed::TOTE] }))
        .await;
    ws.settle().await;
    let open = wait_for_metric(&app, metric, Duration::from_secs(3), |v| v >= before + 2.0).await;
    assert_eq!(
        open,
        before + 2.0,
        "{metric} counts the two open subscriptions: {before} -> {open}"
    );

    ws.stop("totes").await;
    let one = wait_for_metric(&app, metric, Duration::from_secs(3), |v| v <= before + 1.0).await;
    assert_eq!(
        one,
        before + 1.0,
        "{metric} goes down when the client completes one: {open} -> {one}"
    );

    ws.close().await;
    let closed = wait_for_metric(&app, metric, Duration::from_secs(5), |v| v <= before).await;
    assert_eq!(
        closed, before,
        "{metric} comes back down once the connection is closed: {one} -> {closed}"
    );
}

#[tokio::test]
async fn events_dispatched_grows_after_a_mutation() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let metric = "touchpoint_events_dispatched_total";
    // Let the customer's own event be dispatched first: wait until the count holds still.
    let mut before = wait_for_metric(&app, metric, Duration::ZERO, |_| true).await;
    let settled_by = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settled_by {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = wait_for_metric(&app, metric, Duration::ZERO, |_| true).await;
        if now == before {
            break;
        }
        before = now;
    }
    app.add_note(&customer, "Counted").await;
    let after = wait_for_metric(&app, metric, Duration::from_secs(5), |v| v > before).await;
    assert!(after > before, "{metric}: {before} -> {after}");
}

#[tokio::test]
async fn the_dispatcher_lag_is_exported() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    app.add_note(&customer, "Something to dispatch").await;
    let text = app.metrics().await;
    let lag = metric_sum(&text, "touchpoint_dispatcher_lag_seconds")
        .unwrap_or_else(|| panic!("touchpoint_dispatcher_lag_seconds is missing:\n{text}"));
    assert!(lag.is_finite() && lag >= 0.0, "lag {lag}");
}

#[tokio::test]
async fn a_connection_runs_at_most_the_configured_number_of_subscriptions() {
    let app = TestApp::spawn_with(|cfg| cfg.max_subscriptions_per_connection = 2).await;
    app.seed_catalog().await;
    let mut ws = WsClient::connect(&app, Some(&app.service_token())).await;
    for id in ["a", "b", "c"] {
        ws.subscribe(id, STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
            .await;
    }
    let errors = ws.expect_error("c", Duration::from_secs(5)).await;
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 2")),
        "the third is refused and says why: {errors:?}"
    );
    // The first two still run, and ending one makes room for another.
    app.set_stock(seed::WAREHOUSE, seed::SHIRT, 41).await;
    ws.expect_next("a", Duration::from_secs(5)).await;
    ws.expect_next("b", Duration::from_secs(5)).await;
    ws.stop("a").await;
    ws.subscribe("d", STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
        .await;
    app.set_stock(seed::WAREHOUSE, seed::SHIRT, 40).await;
    ws.expect_next("d", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_connection_ends_when_its_token_expires() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let short = touchpoint::auth::mint_token(
        "test-secret",
        touchpoint::auth::Role::Service,
        "service-short",
        Duration::from_secs(2),
    );
    let started = Instant::now();
    let mut ws = WsClient::connect(&app, Some(&short)).await;
    ws.subscribe("stock", STOCK_LEVELS, json!({ "skus": [seed::SHIRT] }))
        .await;
    app.set_stock(seed::WAREHOUSE, seed::SHIRT, 39).await;
    ws.expect_next("stock", Duration::from_secs(5)).await;
    let (code, reason) = ws.expect_close(Duration::from_secs(10)).await;
    assert_eq!(code, 4403, "closed with {code} {reason:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed after {:?}, before the token expired",
        started.elapsed()
    );
}
