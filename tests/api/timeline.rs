//! The timeline: `Customer.timeline` and `Order.timeline`, newest first, built from the events the
//! commands write; what each role sees of it; paging, cursors and the `kinds` filter; entries
//! as nodes.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::{Value, json};

use crate::fixtures::{
    ENTRY_FIELDS, OrderBuilder, customer_timeline_query, kinds, my_timeline_query, nodes,
    order_timeline_query, seed, str_of,
};
use crate::harness::{
    TestApp, assert_error_code, assert_not_internal, error_codes, expect_data, pretty,
    top_level_errors,
};
use crate::ws::is_email_entry;

/// `customer(id:).timeline` read with `token`; returns the connection (null when withheld).
async fn timeline_as(app: &TestApp, token: &str, customer_id: &str, args: Value) -> Value {
    let mut variables = args;
    variables["id"] = json!(customer_id);
    let resp = app
        .gql(Some(token), &customer_timeline_query(), variables)
        .await;
    expect_data(&resp)["customer"]["timeline"].clone()
}

async fn agent_page(app: &TestApp, customer_id: &str, args: Value) -> Value {
    let connection = timeline_as(app, &app.agent_token(), customer_id, args).await;
    assert!(connection.is_object(), "an agent reads the timeline");
    connection
}

/// `me.timeline` read by the customer; returns the connection.
async fn my_timeline(app: &TestApp, customer_id: &str, args: Value) -> Value {
    let resp = app
        .as_customer(customer_id, &my_timeline_query(), args)
        .await;
    let connection = expect_data(&resp)["me"]["timeline"].clone();
    assert!(
        connection.is_object(),
        "a customer reads their own timeline:\n{}",
        pretty(&resp)
    );
    connection
}

fn time(value: &Value) -> DateTime<Utc> {
    let raw = str_of(value, "a DateTime");
    DateTime::parse_from_rfc3339(raw)
        .unwrap_or_else(|e| panic!("{raw:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

fn customer_of(order: &Value) -> String {
    str_of(&order["customer"]["id"], "customer id").to_string()
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
                "no ORDER_PLACED entry for order {} among:\n{}",
                order["number"],
                pretty(&json!(entries))
            )
        })
}

/// Waits until the outbox has recorded how the email about each of `orders` went (an EMAIL_SENT
/// or EMAIL_FAILED entry about it, as an agent reads the order's timeline). Those entries are
/// written a moment after the order's event; after this, nothing more is coming for these orders
/// until something else happens to them. Panics when one has none within 5 s.
pub async fn wait_for_email_outcomes(app: &TestApp, orders: &[&Value]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    for order in orders {
        loop {
            let resp = app
                .as_agent(
                    "query($id: ID!) { order(id: $id) {
                        timeline(first: 10, kinds: [EMAIL_SENT, EMAIL_FAILED]) { totalCount } } }",
                    json!({ "id": order["id"] }),
                )
                .await;
            let count = expect_data(&resp)["order"]["timeline"]["totalCount"].as_u64();
            if count.is_some_and(|n| n > 0) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no EMAIL_SENT or EMAIL_FAILED entry about order {} within 5 s:\n{}",
                order["number"],
                pretty(&resp)
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

// ---------------------------------------------------------------------- what is on it

#[tokio::test]
async fn an_order_placed_appears_on_the_customers_timeline_with_the_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.order_for("ada@example.test").await;
    let entries = app.agent_timeline(&customer_of(&order)).await;
    let entry = order_placed_entry(&entries, &order);

    assert_eq!(entry["channel"], "WEB");
    assert_eq!(entry["order"]["number"], order["number"]);
    assert_eq!(
        time(&entry["occurredAt"]),
        time(&order["placedAt"]),
        "an ORDER_PLACED entry happened when the order was placed"
    );
    let summary = str_of(&entry["summary"], "summary");
    let number = str_of(&order["number"], "order number");
    assert!(
        summary.contains(number),
        "the summary {summary:?} names the order number {number}"
    );
    assert_eq!(entry["reason"], Value::Null);
    assert_eq!(entry["stockLevel"], Value::Null);
    assert!(!str_of(&entry["id"], "entry id").is_empty());
    assert!(!str_of(&entry["cursor"], "entry cursor").is_empty());
}

#[tokio::test]
async fn an_agent_sees_which_service_placed_an_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.order_for("ada@example.test").await;
    let entries = app.agent_timeline(&customer_of(&order)).await;
    let entry = order_placed_entry(&entries, &order);
    assert_eq!(entry["actor"]["role"], "SERVICE");
    assert_eq!(
        entry["actor"]["id"], "web-shop",
        "agents see the sub of whoever acted"
    );
}

#[tokio::test]
async fn an_agent_sees_which_agent_placed_a_phone_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let resp = OrderBuilder::new()
        .channel("PHONE")
        .customer_email("ada@example.test")
        .line(seed::SHIRT, 1)
        .place_with(&app, Some(&app.agent_token()))
        .await;
    let order = crate::harness::expect_ok(&resp, "placeOrder")["order"].clone();
    let entries = app.agent_timeline(&customer_of(&order)).await;
    let entry = order_placed_entry(&entries, &order);
    assert_eq!(entry["channel"], "PHONE");
    assert_eq!(entry["actor"]["role"], "AGENT");
    assert_eq!(entry["actor"]["id"], "agent-1");
}

#[tokio::test]
async fn the_timeline_is_newest_first_across_orders_and_notes() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let first_order = app.order_for("ada@example.test").await;
    let customer = customer_of(&first_order);
    app.add_note(&customer, "Asked about sizes").await;
    let second_order = app.order_for("ada@example.test").await;
    app.add_note(&customer, "Called back").await;

    let entries = app.agent_timeline(&customer).await;
    let notes_and_orders: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "ORDER_PLACED" || e["kind"] == "NOTE_ADDED")
        .collect();
    assert_eq!(
        notes_and_orders
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["NOTE_ADDED", "ORDER_PLACED", "NOTE_ADDED", "ORDER_PLACED"],
        "{}",
        pretty(&json!(entries))
    );
    assert_eq!(notes_and_orders[1]["order"]["id"], second_order["id"]);
    assert_eq!(notes_and_orders[3]["order"]["id"], first_order["id"]);
    assert!(
        notes_and_orders[0]["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    let times: Vec<DateTime<Utc>> = entries.iter().map(|e| time(&e["occurredAt"])).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "occurredAt never increases down the timeline: {times:?}"
    );
}

#[tokio::test]
async fn an_order_placed_with_an_earlier_placed_at_is_older_on_the_timeline() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let recent = app.order_for("ada@example.test").await;
    let two_days_ago = (Utc::now() - ChronoDuration::days(2)).to_rfc3339();
    let backdated = OrderBuilder::new()
        .customer_email("ada@example.test")
        .placed_at(&two_days_ago)
        .line(seed::TOTE, 1)
        .place_ok(&app)
        .await;

    let entries = app.agent_timeline(&customer_of(&recent)).await;
    let placed: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "ORDER_PLACED")
        .collect();
    assert_eq!(placed.len(), 2, "{}", pretty(&json!(entries)));
    assert_eq!(
        placed[0]["order"]["id"], recent["id"],
        "the order placed now is the newer one, although it was recorded first"
    );
    assert_eq!(placed[1]["order"]["id"], backdated["id"]);
    assert_eq!(
        time(&placed[1]["occurredAt"]),
        time(&backdated["placedAt"]),
        "occurredAt is the order's placedAt"
    );
}

#[tokio::test]
async fn a_carry_out_sale_short_of_stock_puts_a_stock_discrepancy_on_the_customers_timeline() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    // The store's records say 5; 7 left the store.
    let order = OrderBuilder::new()
        .store_sale(seed::STORE_A)
        .customer_email("walkin@example.test")
        .line(seed::SHIRT, 7)
        .place_ok(&app)
        .await;
    let entries = app.agent_timeline(&customer_of(&order)).await;
    let discrepancy = entries
        .iter()
        .find(|e| e["kind"] == "STOCK_CHANGED")
        .unwrap_or_else(|| {
            panic!(
                "no STOCK_CHANGED entry on the customer's timeline:\n{}",
                pretty(&json!(entries))
            )
        });
    assert_eq!(discrepancy["stockLevel"]["sku"], seed::SHIRT);
    assert_eq!(discrepancy["stockLevel"]["location"]["code"], seed::STORE_A);
    assert!(
        discrepancy["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{discrepancy}"
    );
    order_placed_entry(&entries, &order);
}

#[tokio::test]
async fn a_stock_count_is_on_no_customers_timeline() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.order_for("ada@example.test").await;
    let customer = customer_of(&order);
    let stock_entries = |entries: &[Value]| {
        entries
            .iter()
            .filter(|e| e["kind"] == "STOCK_CHANGED")
            .count()
    };
    let before = stock_entries(&app.agent_timeline(&customer).await);
    app.set_stock(seed::WAREHOUSE, seed::TOTE, 80).await;
    let resp = app
        .as_service(
            "mutation($input: AdjustStockLevelInput!) { adjustStockLevel(input: $input) { userErrors { code } } }",
            json!({ "input": { "locationCode": seed::WAREHOUSE, "sku": seed::TOTE, "delta": -1, "reason": "damaged" } }),
        )
        .await;
    crate::harness::expect_ok(&resp, "adjustStockLevel");
    let after = stock_entries(&app.agent_timeline(&customer).await);
    assert_eq!(
        after, before,
        "a count or adjustment tied to no customer is on no customer's timeline"
    );
}

// ---------------------------------------------------------------------- Order.timeline

#[tokio::test]
async fn an_orders_timeline_has_that_orders_entries_only() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let first = app.order_for("ada@example.test").await;
    let second = app.order_for("ada@example.test").await;
    app.add_note(&customer_of(&first), "About the first order")
        .await;
    // Both orders' email entries are written a moment later: once they are, the first order's
    // timeline holds still (its totalCount and its page agree) and shows where each one went.
    wait_for_email_outcomes(&app, &[&first, &second]).await;

    let resp = app
        .as_agent(&order_timeline_query(), json!({ "id": first["id"] }))
        .await;
    let connection = &expect_data(&resp)["order"]["timeline"];
    assert!(connection.is_object(), "{}", pretty(&resp));
    let entries = nodes(connection);
    order_placed_entry(&entries, &first);
    for entry in &entries {
        assert_ne!(
            entry["kind"], "NOTE_ADDED",
            "a customer note is not an order's event"
        );
        assert!(
            entry["order"].is_null() || entry["order"]["id"] == first["id"],
            "an entry of another order on this order's timeline:\n{}",
            pretty(entry)
        );
    }
    assert!(
        !entries.iter().any(|e| e["order"]["id"] == second["id"]),
        "the second order's entries are not on the first's timeline"
    );
    assert_eq!(
        connection["totalCount"].as_u64(),
        Some(entries.len() as u64)
    );
}

#[tokio::test]
async fn a_customer_reads_their_own_orders_timeline() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.order_for("ada@example.test").await;
    let resp = app
        .as_customer(
            &customer_of(&order),
            &order_timeline_query(),
            json!({ "id": order["id"] }),
        )
        .await;
    let connection = &expect_data(&resp)["order"]["timeline"];
    assert!(connection.is_object(), "{}", pretty(&resp));
    let entry = order_placed_entry(&nodes(connection), &order);
    assert_eq!(
        entry["actor"]["id"],
        Value::Null,
        "a customer does not see which service acted"
    );
}

// ---------------------------------------------------------------------- paging

/// Five orders for one customer, a day apart: REF-T1 (oldest) .. REF-T5 (newest).
async fn customer_with_five_orders(app: &TestApp) -> (String, Vec<Value>) {
    app.seed_catalog().await;
    let mut orders = Vec::new();
    for i in 1..=5 {
        let order = OrderBuilder::new()
            .customer_email("pager@example.test")
            .channel_ref(&format!("REF-T{i}"))
            .placed_at(&format!("2026-01-0{i}T10:00:00Z"))
            .line(seed::TOTE, 1)
            .place_ok(app)
            .await;
        orders.push(order);
    }
    (customer_of(&orders[0]), orders)
}

fn order_ids(entries: &[Value]) -> Vec<Value> {
    entries.iter().map(|e| e["order"]["id"].clone()).collect()
}

#[tokio::test]
async fn the_timeline_pages_with_first_and_after() {
    let app = TestApp::spawn().await;
    let (customer, orders) = customer_with_five_orders(&app).await;
    let args = |after: Value| json!({ "first": 2, "after": after, "kinds": ["ORDER_PLACED"] });

    let page1 = agent_page(&app, &customer, args(Value::Null)).await;
    assert_eq!(page1["totalCount"], 5);
    assert_eq!(
        order_ids(&nodes(&page1)),
        [orders[4]["id"].clone(), orders[3]["id"].clone()]
    );
    assert_eq!(page1["pageInfo"]["hasNextPage"], true);
    assert_eq!(page1["pageInfo"]["endCursor"], page1["edges"][1]["cursor"]);
    assert_eq!(
        page1["pageInfo"]["startCursor"],
        page1["edges"][0]["cursor"]
    );

    let page2 = agent_page(
        &app,
        &customer,
        args(page1["pageInfo"]["endCursor"].clone()),
    )
    .await;
    assert_eq!(page2["totalCount"], 5);
    assert_eq!(
        order_ids(&nodes(&page2)),
        [orders[2]["id"].clone(), orders[1]["id"].clone()]
    );
    assert_eq!(page2["pageInfo"]["hasNextPage"], true);

    let page3 = agent_page(
        &app,
        &customer,
        args(page2["pageInfo"]["endCursor"].clone()),
    )
    .await;
    assert_eq!(order_ids(&nodes(&page3)), [orders[0]["id"].clone()]);
    assert_eq!(page3["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn an_entrys_own_cursor_resumes_a_page_after_it() {
    let app = TestApp::spawn().await;
    let (customer, orders) = customer_with_five_orders(&app).await;
    let all = nodes(&agent_page(&app, &customer, json!({ "kinds": ["ORDER_PLACED"] })).await);
    assert_eq!(all.len(), 5);
    let page = agent_page(
        &app,
        &customer,
        json!({ "first": 2, "after": all[1]["cursor"], "kinds": ["ORDER_PLACED"] }),
    )
    .await;
    assert_eq!(
        order_ids(&nodes(&page)),
        [orders[2]["id"].clone(), orders[1]["id"].clone()],
        "TimelineEntry.cursor resumes a page after that entry"
    );
}

#[tokio::test]
async fn the_timeline_defaults_to_twenty_entries() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("chatty@example.test").await;
    for i in 0..21 {
        app.add_note(&customer, &format!("Note {i}")).await;
    }
    let page = agent_page(&app, &customer, json!({})).await;
    assert_eq!(page["totalCount"], 21);
    assert_eq!(page["edges"].as_array().map(Vec::len), Some(20));
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn the_kinds_filter_keeps_only_those_kinds() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.order_for("ada@example.test").await;
    let customer = customer_of(&order);
    app.add_note(&customer, "One").await;
    app.order_for("ada@example.test").await;
    app.add_note(&customer, "Two").await;
    app.add_note(&customer, "Three").await;

    let notes = agent_page(&app, &customer, json!({ "kinds": ["NOTE_ADDED"] })).await;
    assert_eq!(notes["totalCount"], 3);
    assert_eq!(kinds(&nodes(&notes)), ["NOTE_ADDED"; 3]);

    let placed = agent_page(&app, &customer, json!({ "kinds": ["ORDER_PLACED"] })).await;
    assert_eq!(placed["totalCount"], 2);
    assert_eq!(kinds(&nodes(&placed)), ["ORDER_PLACED"; 2]);

    let both = agent_page(
        &app,
        &customer,
        json!({ "kinds": ["ORDER_PLACED", "NOTE_ADDED"] }),
    )
    .await;
    assert_eq!(both["totalCount"], 5);
}

#[tokio::test]
async fn asking_the_timeline_for_more_than_a_hundred_is_refused_or_clamped_never_internal() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    app.add_note(&customer, "One").await;
    let resp = app
        .as_agent(
            &customer_timeline_query(),
            json!({ "id": customer, "first": 101 }),
        )
        .await;
    assert_not_internal(&resp);
    if !top_level_errors(&resp).is_empty() {
        assert_error_code(&resp, "BAD_USER_INPUT");
    } else {
        let edges = nodes(&expect_data(&resp)["customer"]["timeline"]).len();
        assert!(edges <= 100);
    }
}

#[tokio::test]
async fn a_malformed_timeline_cursor_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    app.add_note(&customer, "One").await;
    let resp = app
        .as_agent(
            &customer_timeline_query(),
            json!({ "id": customer, "after": "%%not-a-cursor%%" }),
        )
        .await;
    assert!(
        error_codes(&resp) == ["BAD_USER_INPUT"],
        "expected one BAD_USER_INPUT error:\n{}",
        pretty(&resp)
    );
}

// ---------------------------------------------------------------------- who sees what

#[tokio::test]
async fn a_customer_reads_their_own_timeline_without_notes_or_stock_changes() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let web = app.order_for("ada@example.test").await;
    let customer = customer_of(&web);
    app.add_note(&customer, "Internal: wants a discount").await;
    // A carry-out sale short of stock: a stock discrepancy on her timeline (agents see it).
    let till = OrderBuilder::new()
        .store_sale(seed::STORE_A)
        .customer_email("ada@example.test")
        .line(seed::SHIRT, 7)
        .place_ok(&app)
        .await;
    let agent_kinds = kinds(&app.agent_timeline(&customer).await);
    assert!(
        agent_kinds.iter().any(|k| k == "NOTE_ADDED")
            && agent_kinds.iter().any(|k| k == "STOCK_CHANGED"),
        "the agent sees the note and the stock change: {agent_kinds:?}"
    );

    // Her orders' emails leave EMAIL_* entries about those orders, a moment after each order:
    // hers to see. Besides them, only her two orders; no note, no stock change.
    let mine = my_timeline(&app, &customer, json!({})).await;
    let (emails, entries): (Vec<Value>, Vec<Value>) =
        nodes(&mine).into_iter().partition(is_email_entry);
    let her_orders = [web["id"].clone(), till["id"].clone()];
    for email in &emails {
        assert!(
            her_orders.contains(&email["order"]["id"]),
            "an email entry about an order that is not hers:\n{}",
            pretty(&mine)
        );
    }
    assert_eq!(
        kinds(&entries),
        ["ORDER_PLACED", "ORDER_PLACED"],
        "{}",
        pretty(&mine)
    );
    assert_eq!(entries[0]["order"]["id"], till["id"]);
    assert_eq!(entries[1]["order"]["id"], web["id"]);

    // The email entries may still be coming, so totalCount is read for the other kinds.
    let asked = my_timeline(
        &app,
        &customer,
        json!({ "kinds": ["ORDER_PLACED", "NOTE_ADDED", "STOCK_CHANGED"] }),
    )
    .await;
    assert_eq!(
        kinds(&nodes(&asked)),
        ["ORDER_PLACED", "ORDER_PLACED"],
        "{}",
        pretty(&asked)
    );
    assert_eq!(asked["totalCount"], 2, "totalCount counts what she sees");

    let only_notes = my_timeline(
        &app,
        &customer,
        json!({ "kinds": ["NOTE_ADDED", "STOCK_CHANGED"] }),
    )
    .await;
    assert_eq!(only_notes["totalCount"], 0);
    assert_eq!(nodes(&only_notes), Vec::<Value>::new());
}

#[tokio::test]
async fn a_customer_does_not_see_who_acted_for_a_service_or_an_agent() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let web = app.order_for("ada@example.test").await;
    let resp = OrderBuilder::new()
        .channel("PHONE")
        .customer_email("ada@example.test")
        .line(seed::SHIRT, 1)
        .place_with(&app, Some(&app.agent_token()))
        .await;
    let phone = crate::harness::expect_ok(&resp, "placeOrder")["order"].clone();

    let entries = nodes(&my_timeline(&app, &customer_of(&web), json!({})).await);
    let by_service = order_placed_entry(&entries, &web);
    assert_eq!(by_service["actor"]["role"], "SERVICE");
    assert_eq!(by_service["actor"]["id"], Value::Null);
    assert_eq!(by_service["reason"], Value::Null);
    let by_agent = order_placed_entry(&entries, &phone);
    assert_eq!(by_agent["actor"]["role"], "AGENT");
    assert_eq!(
        by_agent["actor"]["id"],
        Value::Null,
        "a customer never sees a staff id"
    );
}

#[tokio::test]
async fn a_customer_cannot_read_another_customers_timeline() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let mine = app.order_for("ada@example.test").await;
    let theirs = app.order_for("bob@example.test").await;
    let resp = app
        .as_customer(
            &customer_of(&mine),
            &customer_timeline_query(),
            json!({ "id": customer_of(&theirs) }),
        )
        .await;
    assert_not_internal(&resp);
    assert_eq!(
        resp["data"]["customer"],
        Value::Null,
        "another customer reads as missing:\n{}",
        pretty(&resp)
    );
    let resp = app
        .as_customer(
            &customer_of(&mine),
            &order_timeline_query(),
            json!({ "id": theirs["id"] }),
        )
        .await;
    assert_eq!(resp["data"]["order"], Value::Null, "{}", pretty(&resp));
}

#[tokio::test]
async fn a_service_reads_timelines_as_null_without_an_error() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.order_for("ada@example.test").await;
    let resp = app
        .as_service(
            "query($id: ID!) { customer(id: $id) { id timeline { totalCount } } }",
            json!({ "id": customer_of(&order) }),
        )
        .await;
    let customer = &expect_data(&resp)["customer"];
    assert_eq!(customer["id"], order["customer"]["id"], "{}", pretty(&resp));
    assert_eq!(customer["timeline"], Value::Null);

    let resp = app
        .as_service(
            "query($id: ID!) { order(id: $id) { id timeline { totalCount } } }",
            json!({ "id": order["id"] }),
        )
        .await;
    let read = &expect_data(&resp)["order"];
    assert_eq!(read["id"], order["id"], "{}", pretty(&resp));
    assert_eq!(read["timeline"], Value::Null);
}

// ---------------------------------------------------------------------- entries as nodes

fn node_query() -> String {
    format!(
        "query($id: ID!) {{ node(id: $id) {{ __typename id ... on TimelineEntry {{ {ENTRY_FIELDS} }} }} }}"
    )
}

#[tokio::test]
async fn a_timeline_entry_is_a_node_for_the_agent_and_the_owner() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.order_for("ada@example.test").await;
    let customer = customer_of(&order);
    let entry = order_placed_entry(&app.agent_timeline(&customer).await, &order);

    let resp = app
        .as_agent(&node_query(), json!({ "id": entry["id"] }))
        .await;
    let node = &expect_data(&resp)["node"];
    assert_eq!(node["__typename"], "TimelineEntry", "{}", pretty(&resp));
    assert_eq!(node["id"], entry["id"]);
    assert_eq!(node["kind"], "ORDER_PLACED");
    assert_eq!(node["order"]["id"], order["id"]);

    let resp = app
        .as_customer(&customer, &node_query(), json!({ "id": entry["id"] }))
        .await;
    let node = &expect_data(&resp)["node"];
    assert_eq!(node["__typename"], "TimelineEntry", "{}", pretty(&resp));
    assert_eq!(node["id"], entry["id"]);
    assert_eq!(node["actor"]["id"], Value::Null);
}

#[tokio::test]
async fn a_timeline_entry_node_is_null_for_readers_who_may_not_see_it() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.order_for("ada@example.test").await;
    let customer = customer_of(&order);
    let other = app.new_customer("bob@example.test").await;
    app.add_note(&customer, "Internal").await;
    let entries = app.agent_timeline(&customer).await;
    let placed = order_placed_entry(&entries, &order);
    let note = entries
        .iter()
        .find(|e| e["kind"] == "NOTE_ADDED")
        .cloned()
        .expect("the note's entry");

    for (who, token, entry) in [
        ("another customer", app.customer_token(&other), &placed),
        ("a service", app.service_token(), &placed),
        (
            "the customer, for an agent's note",
            app.customer_token(&customer),
            &note,
        ),
    ] {
        let resp = app
            .gql(Some(&token), &node_query(), json!({ "id": entry["id"] }))
            .await;
        assert_not_internal(&resp);
        assert_eq!(
            resp["data"]["node"],
            Value::Null,
            "{who} must not read entry {}:\n{}",
            entry["kind"],
            pretty(&resp)
        );
    }
}
