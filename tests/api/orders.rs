//! Order intake (placeOrder): the happy paths per channel, idempotency, refusals that write
//! nothing, and the reads of an order.

use serde_json::{Value, json};

use crate::fixtures::{OrderBuilder, seed, str_of};
use crate::harness::{
    TestApp, assert_bad_input_or_user_error, assert_error_code, assert_not_internal,
    assert_user_error, assert_user_error_at, error_codes, expect_data, expect_ok, payload, pretty,
    top_level_errors,
};

/// Places `order`, expects it refused, and checks that nothing was written: the stock is as it
/// was and no order exists under its reference.
async fn assert_refused_without_writing(
    app: &TestApp,
    order: &OrderBuilder,
    check: impl FnOnce(&Value),
) {
    let before = app.stock_snapshot(&[seed::SHIRT, seed::TOTE]).await;
    let resp = order.place(app).await;
    check(&resp);
    if top_level_errors(&resp).is_empty() {
        assert_eq!(
            payload(&resp, "placeOrder")["order"],
            Value::Null,
            "a refused order is not returned"
        );
    }
    assert_eq!(
        app.stock_snapshot(&[seed::SHIRT, seed::TOTE]).await,
        before,
        "the stock is unchanged"
    );
    let input = order.input();
    let scope = input["marketplace"]
        .as_str()
        .or(input["storeCode"].as_str());
    let reference = str_of(&input["channelOrderRef"], "channelOrderRef");
    let channel = str_of(&input["channel"], "channel");
    assert_eq!(
        app.order_by_channel_ref(channel, reference, scope).await,
        Value::Null,
        "no order was written"
    );
}

fn money(amount: &str, currency: &str) -> Value {
    json!({ "amount": amount, "currencyCode": currency })
}

// ---------------------------------------------------------------------- placing

#[tokio::test]
async fn place_order_takes_a_web_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .channel_ref("WEB-1001")
        .line(seed::SHIRT, 2)
        .line(seed::TOTE, 1)
        .shipping_cost("4.95", "EUR")
        .place_ok(&app)
        .await;

    assert_eq!(order["channel"], "WEB");
    assert_eq!(order["channelOrderRef"], "WEB-1001");
    assert_eq!(order["status"], "PLACED");
    assert!(
        order["version"].is_i64(),
        "version is an Int: {}",
        pretty(&order)
    );
    assert!(!str_of(&order["number"], "number").is_empty());
    assert_eq!(order["delivery"]["method"], "SHIP_TO_ADDRESS");
    assert_eq!(order["customer"]["email"], "shopper@example.test");

    let lines = order["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["sku"], seed::SHIRT);
    assert_eq!(
        lines[0]["name"], "Linen shirt",
        "the name defaults to the product's"
    );
    assert_eq!(lines[0]["quantity"], 2);
    assert_eq!(
        lines[0]["unitPrice"],
        money("19.90", "EUR"),
        "the price defaults to the product's"
    );
    assert_eq!(lines[0]["total"], money("39.80", "EUR"));
    assert_eq!(lines[1]["name"], "Canvas tote");
    assert_eq!(lines[1]["total"], money("12.50", "EUR"));

    assert_eq!(order["totals"]["subtotal"], money("52.30", "EUR"));
    assert_eq!(order["totals"]["shipping"], money("4.95", "EUR"));
    assert_eq!(order["totals"]["total"], money("57.25", "EUR"));
}

#[tokio::test]
async fn place_order_keeps_a_given_line_name_and_price() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let mut input = OrderBuilder::new()
        .line_priced(seed::SHIRT, 1, "15.00", "EUR")
        .input();
    input["lines"][0]["name"] = json!("Linen shirt (sale)");
    let order = OrderBuilder::new()
        .set("lines", input["lines"].clone())
        .place_ok(&app)
        .await;
    assert_eq!(order["lines"][0]["name"], "Linen shirt (sale)");
    assert_eq!(order["lines"][0]["unitPrice"], money("15.00", "EUR"));
    assert_eq!(order["totals"]["subtotal"], money("15.00", "EUR"));
}

#[tokio::test]
async fn place_order_keeps_the_delivery_address() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let address = json!({
        "name": "Ada Lovelace", "line1": "Neude 11", "city": "Utrecht",
        "postalCode": "3512 AE", "countryCode": "NL",
    });
    let order = OrderBuilder::new()
        .ship_to(address)
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    assert_eq!(
        order["delivery"]["address"],
        json!({ "name": "Ada Lovelace", "line1": "Neude 11", "city": "Utrecht", "postalCode": "3512 AE", "countryCode": "NL" })
    );
}

#[tokio::test]
async fn place_order_reserves_stock() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let before = app.total_available(seed::SHIRT).await;
    OrderBuilder::new()
        .line(seed::SHIRT, 3)
        .place_ok(&app)
        .await;
    assert_eq!(app.total_available(seed::SHIRT).await, before - 3);

    let reserved: i64 = app
        .stock_snapshot(&[seed::SHIRT])
        .await
        .values()
        .map(|s| s.reserved)
        .sum();
    assert_eq!(reserved, 3);
}

#[tokio::test]
async fn place_order_replayed_with_the_same_content_returns_the_original() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .channel_ref("WEB-7")
        .line(seed::SHIRT, 2);
    let before = app.total_available(seed::SHIRT).await;

    let first = order.place(&app).await;
    let first = expect_ok(&first, "placeOrder");
    assert_eq!(first["replayed"], false);

    let replay = order.place(&app).await;
    let replay = expect_ok(&replay, "placeOrder");
    assert_eq!(replay["replayed"], true);
    assert_eq!(replay["order"]["id"], first["order"]["id"]);
    assert_eq!(replay["order"]["number"], first["order"]["number"]);

    assert_eq!(
        app.total_available(seed::SHIRT).await,
        before - 2,
        "stock is reserved once"
    );
}

#[tokio::test]
async fn place_order_with_a_reused_reference_and_other_content_is_duplicate() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    OrderBuilder::new()
        .channel_ref("WEB-7")
        .line(seed::SHIRT, 2)
        .place_ok(&app)
        .await;
    let before = app.stock_snapshot(&[seed::SHIRT]).await;

    let resp = OrderBuilder::new()
        .channel_ref("WEB-7")
        .line(seed::SHIRT, 3)
        .place(&app)
        .await;
    assert_user_error(&resp, "placeOrder", "DUPLICATE");
    assert_eq!(payload(&resp, "placeOrder")["order"], Value::Null);
    assert_eq!(
        app.stock_snapshot(&[seed::SHIRT]).await,
        before,
        "nothing more was reserved"
    );
}

#[tokio::test]
async fn marketplaces_may_reuse_each_others_references() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let amazon = OrderBuilder::new()
        .marketplace("amazon")
        .channel_ref("1001")
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let zalando = OrderBuilder::new()
        .marketplace("zalando")
        .channel_ref("1001")
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    assert_ne!(amazon["id"], zalando["id"]);
    assert_eq!(amazon["marketplace"], "amazon");
    assert_eq!(zalando["marketplace"], "zalando");

    let found = app
        .order_by_channel_ref("MARKETPLACE", "1001", Some("zalando"))
        .await;
    assert_eq!(found["id"], zalando["id"]);
    let found = app
        .order_by_channel_ref("MARKETPLACE", "1001", Some("amazon"))
        .await;
    assert_eq!(found["id"], amazon["id"]);
}

#[tokio::test]
async fn store_tills_may_reuse_each_others_references() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let a = OrderBuilder::new()
        .store_sale(seed::STORE_A)
        .channel_ref("T-0001")
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let b = OrderBuilder::new()
        .store_sale(seed::STORE_B)
        .channel_ref("T-0001")
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["store"]["code"], seed::STORE_A);
    assert_eq!(b["store"]["code"], seed::STORE_B);
    assert_eq!(
        app.order_by_channel_ref("STORE", "T-0001", Some(seed::STORE_B))
            .await["id"],
        b["id"]
    );
}

#[tokio::test]
async fn an_anonymous_carry_out_sale_decrements_on_hand_at_the_store() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .store_sale(seed::STORE_A)
        .anonymous()
        .line(seed::SHIRT, 2)
        .place_ok(&app)
        .await;
    assert_eq!(order["channel"], "STORE");
    assert_eq!(order["delivery"]["method"], "CARRY_OUT");
    assert_eq!(
        order["customer"]["email"],
        Value::Null,
        "a walk-in customer has no email"
    );

    let stock = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    assert_eq!(stock.on_hand, 3, "the goods left the store: 5 - 2");
    assert_eq!(
        stock.reserved, 0,
        "nothing is reserved for goods already gone"
    );
    assert_eq!(
        app.stock_at(seed::WAREHOUSE, seed::SHIRT).await.on_hand,
        50,
        "the warehouse is untouched"
    );
}

#[tokio::test]
async fn an_agent_places_a_phone_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new().channel("PHONE").line(seed::SHIRT, 1);
    let resp = order.place_with(&app, Some(&app.agent_token())).await;
    let placed = &expect_ok(&resp, "placeOrder")["order"];
    assert_eq!(placed["channel"], "PHONE");
    assert_eq!(placed["status"], "PLACED");
}

#[tokio::test]
async fn a_customer_token_cannot_place_an_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let customer = app
        .create_customer(json!({ "email": "shopper@example.test" }))
        .await;
    let token = app.customer_token(str_of(&customer["id"], "customer id"));
    let resp = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_with(&app, Some(&token))
        .await;
    assert_error_code(&resp, "FORBIDDEN");
}

// ---------------------------------------------------------------------- refusals

#[tokio::test]
async fn place_order_refuses_a_zero_quantity() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new().line(seed::SHIRT, 0);
    assert_refused_without_writing(&app, &order, |resp| {
        assert_user_error_at(
            resp,
            "placeOrder",
            &["INVALID"],
            &["lines", "0", "quantity"],
        );
    })
    .await;
}

#[tokio::test]
async fn place_order_refuses_a_negative_quantity() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line(seed::TOTE, 1)
        .line(seed::SHIRT, -2);
    assert_refused_without_writing(&app, &order, |resp| {
        assert_user_error_at(
            resp,
            "placeOrder",
            &["INVALID"],
            &["lines", "1", "quantity"],
        );
    })
    .await;
}

#[tokio::test]
async fn place_order_refuses_unknown_sku() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new().line("NO-SUCH-SKU", 1);
    assert_refused_without_writing(&app, &order, |resp| {
        assert_user_error_at(
            resp,
            "placeOrder",
            &["INVALID", "NOT_FOUND"],
            &["lines", "0", "sku"],
        );
    })
    .await;
}

#[tokio::test]
async fn place_order_refuses_an_unknown_store_code() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .store_sale("ST-404")
        .line(seed::SHIRT, 1);
    assert_refused_without_writing(&app, &order, |resp| {
        assert_user_error_at(
            resp,
            "placeOrder",
            &["INVALID", "NOT_FOUND"],
            &["storeCode"],
        );
    })
    .await;
}

#[tokio::test]
async fn place_order_refuses_a_malformed_unit_price() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new().line_priced(seed::SHIRT, 1, "12.345.6", "EUR");
    assert_refused_without_writing(&app, &order, |resp| {
        assert_bad_input_or_user_error(resp, "placeOrder", &["INVALID"]);
    })
    .await;
}

#[tokio::test]
async fn place_order_refuses_lines_in_different_currencies() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line_priced(seed::SHIRT, 1, "19.90", "EUR")
        .line_priced(seed::TOTE, 1, "12.50", "USD");
    assert_refused_without_writing(&app, &order, |resp| {
        assert_user_error_at(resp, "placeOrder", &["INVALID"], &["lines"]);
    })
    .await;
}

#[tokio::test]
async fn place_order_refuses_an_invalid_customer_email() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .customer_email("not-an-email")
        .line(seed::SHIRT, 1);
    assert_refused_without_writing(&app, &order, |resp| {
        assert_user_error_at(resp, "placeOrder", &["INVALID"], &["customer", "email"]);
    })
    .await;
    let customers = app
        .as_agent("{ customers { totalCount } }", json!({}))
        .await;
    assert_eq!(
        expect_data(&customers)["customers"]["totalCount"],
        0,
        "no customer was written"
    );
}

#[tokio::test]
async fn place_order_refuses_an_order_without_lines() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new();
    assert_refused_without_writing(&app, &order, |resp| {
        assert_user_error_at(resp, "placeOrder", &["INVALID"], &["lines"]);
    })
    .await;
}

#[tokio::test]
async fn place_order_refuses_a_web_order_without_a_customer() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new().anonymous().line(seed::SHIRT, 1);
    assert_refused_without_writing(&app, &order, |resp| {
        assert_user_error_at(resp, "placeOrder", &["INVALID"], &["customer"]);
    })
    .await;
}

#[tokio::test]
async fn place_order_refuses_more_than_is_in_stock() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    // 60 shirts are on hand in all; the tote line could be served but the order is refused whole.
    let order = OrderBuilder::new()
        .line(seed::TOTE, 1)
        .line(seed::SHIRT, 61);
    assert_refused_without_writing(&app, &order, |resp| {
        assert_user_error_at(resp, "placeOrder", &["OUT_OF_STOCK"], &["lines", "1"]);
    })
    .await;
}

#[tokio::test]
async fn place_order_refuses_a_marketplace_order_without_its_marketplace() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .channel("MARKETPLACE")
        .line(seed::SHIRT, 1);
    assert_refused_without_writing(&app, &order, |resp| {
        assert_user_error_at(resp, "placeOrder", &["INVALID"], &["marketplace"]);
    })
    .await;
}

// ---------------------------------------------------------------------- reads

const ORDER_BY_ID: &str = "query($id: ID!) { order(id: $id) { id number customer { id } } }";

#[tokio::test]
async fn the_owner_reads_their_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let owner = str_of(&order["customer"]["id"], "customer id");
    let resp = app
        .as_customer(owner, ORDER_BY_ID, json!({ "id": order["id"] }))
        .await;
    assert_eq!(expect_data(&resp)["order"]["id"], order["id"]);
}

#[tokio::test]
async fn another_customers_order_reads_as_null() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let stranger = app
        .create_customer(json!({ "email": "stranger@example.test" }))
        .await;
    let stranger = str_of(&stranger["id"], "customer id");

    let by_id = app
        .as_customer(stranger, ORDER_BY_ID, json!({ "id": order["id"] }))
        .await;
    assert_eq!(expect_data(&by_id)["order"], Value::Null);
    let by_number = app
        .as_customer(
            stranger,
            "query($n: String!) { orderByNumber(number: $n) { id } }",
            json!({ "n": order["number"] }),
        )
        .await;
    assert_eq!(expect_data(&by_number)["orderByNumber"], Value::Null);
}

#[tokio::test]
async fn an_agent_reads_any_order_by_id() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let resp = app
        .as_agent(ORDER_BY_ID, json!({ "id": order["id"] }))
        .await;
    assert_eq!(expect_data(&resp)["order"]["id"], order["id"]);
}

#[tokio::test]
async fn order_by_number_finds_the_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    OrderBuilder::new().line(seed::TOTE, 1).place_ok(&app).await;
    let query = "query($n: String!) { orderByNumber(number: $n) { id number } }";

    let resp = app.as_agent(query, json!({ "n": order["number"] })).await;
    assert_eq!(expect_data(&resp)["orderByNumber"]["id"], order["id"]);

    let owner = str_of(&order["customer"]["id"], "customer id");
    let resp = app
        .as_customer(owner, query, json!({ "n": order["number"] }))
        .await;
    assert_eq!(
        expect_data(&resp)["orderByNumber"]["id"],
        order["id"],
        "the owner finds it too"
    );

    let missing = app.as_agent(query, json!({ "n": "NO-SUCH-NUMBER" })).await;
    assert_eq!(expect_data(&missing)["orderByNumber"], Value::Null);
}

#[tokio::test]
async fn order_numbers_are_unique() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let a = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let b = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    assert_ne!(a["number"], b["number"]);
}

#[tokio::test]
async fn order_by_channel_ref_finds_the_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .channel_ref("WEB-55")
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    assert_eq!(
        app.order_by_channel_ref("WEB", "WEB-55", None).await["id"],
        order["id"]
    );
    assert_eq!(
        app.order_by_channel_ref("APP", "WEB-55", None).await,
        Value::Null,
        "another channel"
    );
    assert_eq!(
        app.order_by_channel_ref("WEB", "WEB-56", None).await,
        Value::Null
    );
}

const CUSTOMER_ORDERS: &str =
    "query($id: ID!, $first: Int, $after: String, $channel: Channel, $status: OrderStatus) {
    customer(id: $id) { orders(first: $first, after: $after, channel: $channel, status: $status) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { id channelOrderRef channel placedAt } } } } }";

/// Four orders for one customer, an hour apart: WEB-1, WEB-2, WEB-3, then APP-4 (newest).
async fn customer_with_four_orders(app: &TestApp) -> String {
    app.seed_catalog().await;
    let mut customer_id = String::new();
    for (i, channel) in ["WEB", "WEB", "WEB", "APP"].iter().enumerate() {
        let order = OrderBuilder::new()
            .channel(channel)
            .channel_ref(&format!("{channel}-{}", i + 1))
            .placed_at(&format!("2026-01-0{}T10:00:00Z", i + 1))
            .line(seed::TOTE, 1)
            .place_ok(app)
            .await;
        customer_id = str_of(&order["customer"]["id"], "customer id").to_string();
    }
    customer_id
}

fn refs(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            e["node"]["channelOrderRef"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn customer_orders_page_newest_first() {
    let app = TestApp::spawn().await;
    let id = customer_with_four_orders(&app).await;

    let resp = app
        .as_agent(CUSTOMER_ORDERS, json!({ "id": id, "first": 2 }))
        .await;
    let page = &expect_data(&resp)["customer"]["orders"];
    assert_eq!(page["totalCount"], 4);
    assert_eq!(refs(page), ["APP-4", "WEB-3"]);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["pageInfo"]["endCursor"], page["edges"][1]["cursor"]);

    let resp = app
        .as_agent(
            CUSTOMER_ORDERS,
            json!({ "id": id, "first": 2, "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    let next = &expect_data(&resp)["customer"]["orders"];
    assert_eq!(next["totalCount"], 4);
    assert_eq!(refs(next), ["WEB-2", "WEB-1"]);
    assert_eq!(next["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn a_page_past_the_last_order_is_empty_and_still_counts_them_all() {
    let app = TestApp::spawn().await;
    let id = customer_with_four_orders(&app).await;
    let resp = app
        .as_agent(CUSTOMER_ORDERS, json!({ "id": id, "first": 4 }))
        .await;
    let page = &expect_data(&resp)["customer"]["orders"];
    assert_eq!(refs(page), ["APP-4", "WEB-3", "WEB-2", "WEB-1"]);
    assert_eq!(page["pageInfo"]["hasNextPage"], false);

    let resp = app
        .as_agent(
            CUSTOMER_ORDERS,
            json!({ "id": id, "first": 2, "after": page["pageInfo"]["endCursor"], "channel": "WEB" }),
        )
        .await;
    let past = &expect_data(&resp)["customer"]["orders"];
    assert_eq!(past["edges"], json!([]));
    assert_eq!(
        past["totalCount"], 3,
        "the count follows the filter, not the cursor"
    );
    assert_eq!(past["pageInfo"]["hasNextPage"], false);
    assert_eq!(past["pageInfo"]["hasPreviousPage"], true);
}

#[tokio::test]
async fn customer_orders_filter_by_channel() {
    let app = TestApp::spawn().await;
    let id = customer_with_four_orders(&app).await;
    let resp = app
        .as_agent(CUSTOMER_ORDERS, json!({ "id": id, "channel": "WEB" }))
        .await;
    let page = &expect_data(&resp)["customer"]["orders"];
    assert_eq!(page["totalCount"], 3);
    assert_eq!(refs(page), ["WEB-3", "WEB-2", "WEB-1"]);
}

#[tokio::test]
async fn customer_orders_filter_by_status() {
    let app = TestApp::spawn().await;
    let id = customer_with_four_orders(&app).await;
    let placed = app
        .as_agent(CUSTOMER_ORDERS, json!({ "id": id, "status": "PLACED" }))
        .await;
    assert_eq!(expect_data(&placed)["customer"]["orders"]["totalCount"], 4);
    let cancelled = app
        .as_agent(CUSTOMER_ORDERS, json!({ "id": id, "status": "CANCELLED" }))
        .await;
    assert_eq!(
        expect_data(&cancelled)["customer"]["orders"]["totalCount"],
        0
    );
    assert_eq!(
        refs(&expect_data(&cancelled)["customer"]["orders"]),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn customer_orders_default_to_twenty() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    app.set_stock(seed::WAREHOUSE, seed::TOTE, 100).await;
    let mut customer_id = String::new();
    for _ in 0..21 {
        let order = OrderBuilder::new().line(seed::TOTE, 1).place_ok(&app).await;
        customer_id = str_of(&order["customer"]["id"], "customer id").to_string();
    }
    let resp = app
        .as_agent(CUSTOMER_ORDERS, json!({ "id": customer_id }))
        .await;
    let page = &expect_data(&resp)["customer"]["orders"];
    assert_eq!(page["totalCount"], 21);
    assert_eq!(page["edges"].as_array().map(Vec::len), Some(20));
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn asking_for_more_than_a_hundred_is_refused_or_clamped_never_internal() {
    let app = TestApp::spawn().await;
    let id = customer_with_four_orders(&app).await;
    let resp = app
        .as_agent(CUSTOMER_ORDERS, json!({ "id": id, "first": 101 }))
        .await;
    assert_not_internal(&resp);
    if !top_level_errors(&resp).is_empty() {
        assert_error_code(&resp, "BAD_USER_INPUT");
    } else {
        let edges = expect_data(&resp)["customer"]["orders"]["edges"]
            .as_array()
            .unwrap()
            .len();
        assert!(edges <= 100);
    }
}

#[tokio::test]
async fn a_negative_first_is_refused_as_bad_input_never_internal() {
    let app = TestApp::spawn().await;
    let id = customer_with_four_orders(&app).await;
    let resp = app
        .as_agent(CUSTOMER_ORDERS, json!({ "id": id, "first": -1 }))
        .await;
    assert_not_internal(&resp);
    if !top_level_errors(&resp).is_empty() {
        assert_error_code(&resp, "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn a_malformed_cursor_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let id = customer_with_four_orders(&app).await;
    let resp = app
        .as_agent(
            CUSTOMER_ORDERS,
            json!({ "id": id, "after": "%%not-a-cursor%%" }),
        )
        .await;
    assert!(
        error_codes(&resp) == ["BAD_USER_INPUT"],
        "expected one BAD_USER_INPUT error:\n{}",
        pretty(&resp)
    );
}

#[tokio::test]
async fn a_carry_out_sale_short_of_stock_is_still_recorded_and_on_hand_stops_at_zero() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    // The goods have left the store: the sale is a fact even though the records say 5.
    let order = OrderBuilder::new()
        .store_sale(seed::STORE_A)
        .anonymous()
        .line(seed::SHIRT, 7)
        .place_ok(&app)
        .await;
    assert_eq!(order["lines"][0]["quantity"], 7);
    let stock = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    assert_eq!(stock.on_hand, 0, "onHand falls no lower than zero");
    assert_eq!(stock.available, 0);
}

#[tokio::test]
async fn an_agent_may_place_phone_orders_only() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new().channel("WEB").line(seed::SHIRT, 1);
    let before = app.stock_snapshot(&[seed::SHIRT]).await;
    let resp = order.place_with(&app, Some(&app.agent_token())).await;
    if top_level_errors(&resp).is_empty() {
        assert_user_error_at(&resp, "placeOrder", &["INVALID"], &["channel"]);
    } else {
        assert_error_code(&resp, "FORBIDDEN");
    }
    assert_eq!(
        app.stock_snapshot(&[seed::SHIRT]).await,
        before,
        "nothing was reserved"
    );
}

#[tokio::test]
async fn a_customer_lists_their_own_orders_through_me() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let mine = OrderBuilder::new()
        .customer_email("me@example.test")
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    OrderBuilder::new()
        .customer_email("other@example.test")
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let me = str_of(&mine["customer"]["id"], "customer id");
    let resp = app
        .as_customer(
            me,
            "{ me { orders { totalCount edges { node { id } } } } }",
            json!({}),
        )
        .await;
    let orders = &expect_data(&resp)["me"]["orders"];
    assert_eq!(orders["totalCount"], 1);
    assert_eq!(orders["edges"][0]["node"]["id"], mine["id"]);
}

#[tokio::test]
async fn recommendations_are_related_products_in_stock_and_not_already_bought() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    for (sku, name) in [("BELT", "Leather belt"), ("SCARF", "Wool scarf")] {
        crate::fixtures::ProductBuilder::new(sku)
            .name(name)
            .price("25.00", "EUR")
            .create(&app)
            .await;
    }
    app.set_stock(seed::WAREHOUSE, "BELT", 3).await;
    // The scarf is related but nowhere in stock; the tote is related and already in the order.
    let mut shirt = crate::fixtures::ProductBuilder::new(seed::SHIRT)
        .name("Linen shirt")
        .price("19.90", "EUR")
        .input();
    shirt["relatedSkus"] = json!(["SCARF", seed::TOTE, "BELT"]);
    crate::fixtures::upsert_product(&app, shirt).await;
    let order = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .line(seed::TOTE, 1)
        .place_ok(&app)
        .await;
    let resp = app
        .as_agent(
            "query($id: ID!) { order(id: $id) { recommendations(first: 3) { sku name } } }",
            json!({ "id": order["id"] }),
        )
        .await;
    let recommended = &expect_data(&resp)["order"]["recommendations"];
    assert_eq!(
        recommended,
        &json!([{ "sku": "BELT", "name": "Leather belt" }]),
        "only the related product in stock and not bought:\n{}",
        pretty(&resp)
    );
}
