//! Click-and-collect (from the store's own stock, or a transfer to it) and carry-out at a till.

use serde_json::{Value, json};

use crate::fixtures::{
    OrderBuilder, Stock, nodes, only_shipment, parse_time, seed, shipments_of, str_of,
    tracking_number,
};
use crate::harness::{
    TestApp, assert_error_code, assert_user_error, assert_user_error_at, expect_data, expect_ok,
    payload, pretty,
};

async fn collect_order(app: &TestApp, store: &str, quantity: i64) -> Value {
    app.place_fulfilment(
        &OrderBuilder::new()
            .collect_at(store)
            .line(seed::SHIRT, quantity),
    )
    .await
}

// ---------------------------------------------------------------------- from the store's stock

#[tokio::test]
async fn click_and_collect_ships_from_the_collection_stores_own_stock() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    // ST-2 (Utrecht); the customer's address is not what counts.
    let order = collect_order(&app, seed::STORE_B, 2).await;
    let shipment = only_shipment(&order);
    assert_eq!(
        shipment["location"]["code"],
        seed::STORE_B,
        "{}",
        pretty(&order)
    );
    assert_eq!(shipment["status"], "PENDING");
    assert_eq!(shipment["lines"][0]["quantity"], 2);
    assert_eq!(order["delivery"]["method"], "CLICK_AND_COLLECT");
    assert_eq!(
        app.stock_at(seed::STORE_B, seed::SHIRT).await,
        Stock {
            on_hand: 5,
            reserved: 2,
            available: 3
        }
    );
}

#[tokio::test]
async fn ready_for_collection_takes_the_goods_off_the_store_stock() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = collect_order(&app, seed::STORE_B, 2).await;
    let resp = app.mark_ready(&only_shipment(&order)["id"]).await;
    let shipment = expect_ok(&resp, "markReadyForCollection")["shipment"].clone();
    assert_eq!(shipment["status"], "READY_FOR_COLLECTION");

    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["status"], "READY_FOR_COLLECTION");
    assert_eq!(
        app.stock_at(seed::STORE_B, seed::SHIRT).await,
        Stock {
            on_hand: 3,
            reserved: 0,
            available: 3
        },
        "onHand and reserved drop when the goods are set aside"
    );
}

#[tokio::test]
async fn collected_delivers_the_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = collect_order(&app, seed::STORE_B, 2).await;
    let id = only_shipment(&order)["id"].clone();
    expect_ok(&app.mark_ready(&id).await, "markReadyForCollection");
    let shipment = app.move_shipment(&id, "COLLECTED").await;
    assert_eq!(shipment["status"], "COLLECTED");
    parse_time(&shipment["deliveredAt"]);

    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["status"], "DELIVERED");
    assert_eq!(order["lines"][0]["quantityDelivered"], 2);
    assert_eq!(
        app.stock_at(seed::STORE_B, seed::SHIRT).await,
        Stock {
            on_hand: 3,
            reserved: 0,
            available: 3
        },
        "collection moves no more stock"
    );
}

#[tokio::test]
async fn collected_before_ready_is_invalid() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = collect_order(&app, seed::STORE_B, 1).await;
    let resp = app
        .update_shipment(
            json!({ "shipmentId": only_shipment(&order)["id"], "status": "COLLECTED" }),
        )
        .await;
    let error = assert_user_error(&resp, "updateShipmentStatus", "INVALID");
    let message = str_of(&error["message"], "message");
    assert!(
        message.contains("PENDING") && message.contains("COLLECTED"),
        "{message}"
    );
}

// ---------------------------------------------------------------------- transfers

#[tokio::test]
async fn click_and_collect_without_store_stock_is_a_transfer_from_elsewhere() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    app.set_stock(seed::STORE_B, seed::SHIRT, 0).await;
    let order = collect_order(&app, seed::STORE_B, 2).await;
    let shipment = only_shipment(&order);
    let from = str_of(&shipment["location"]["code"], "code").to_string();
    assert_ne!(from, seed::STORE_B, "{}", pretty(&order));
    assert_eq!(app.stock_at(&from, seed::SHIRT).await.reserved, 2);
}

#[tokio::test]
async fn a_transfer_is_dispatched_then_ready_then_collected() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    app.set_stock(seed::STORE_B, seed::SHIRT, 0).await;
    let order = collect_order(&app, seed::STORE_B, 2).await;
    let shipment = only_shipment(&order);
    let id = shipment["id"].clone();
    let from = str_of(&shipment["location"]["code"], "code").to_string();
    let before = app.stock_at(&from, seed::SHIRT).await;

    app.dispatch(&id, "PostNL", &tracking_number()).await;
    let read = app.fulfilment_order(&order["id"]).await;
    assert_eq!(read["status"], "DISPATCHED");
    assert_eq!(
        app.stock_at(&from, seed::SHIRT).await,
        Stock {
            on_hand: before.on_hand - 2,
            reserved: before.reserved - 2,
            available: before.available
        },
        "the goods left {from}"
    );

    let ready = expect_ok(&app.mark_ready(&id).await, "markReadyForCollection")["shipment"].clone();
    assert_eq!(ready["status"], "READY_FOR_COLLECTION");
    let read = app.fulfilment_order(&order["id"]).await;
    assert_eq!(read["status"], "READY_FOR_COLLECTION");
    assert_eq!(
        app.stock_at(seed::STORE_B, seed::SHIRT).await,
        Stock {
            on_hand: 0,
            reserved: 0,
            available: 0
        },
        "a transfer is not counted into the store's stock"
    );
    assert_eq!(
        app.stock_at(&from, seed::SHIRT).await.on_hand,
        before.on_hand - 2,
        "and leaves its source once"
    );

    app.move_shipment(&id, "COLLECTED").await;
    let read = app.fulfilment_order(&order["id"]).await;
    assert_eq!(read["status"], "DELIVERED");
    assert_eq!(read["lines"][0]["quantityDelivered"], 2);
}

// ---------------------------------------------------------------------- refusals

#[tokio::test]
async fn collection_at_a_location_that_is_not_a_pickup_point_is_invalid() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let before = app.stock_snapshot(&[seed::SHIRT]).await;
    let builder = OrderBuilder::new()
        .collect_at(seed::WAREHOUSE)
        .line(seed::SHIRT, 1);
    let resp = builder.place(&app).await;
    assert_user_error_at(
        &resp,
        "placeOrder",
        &["INVALID"],
        &["delivery", "collectionStoreCode"],
    );
    assert_eq!(payload(&resp, "placeOrder")["order"], Value::Null);
    assert_eq!(app.stock_snapshot(&[seed::SHIRT]).await, before);
    let reference = str_of(&builder.input()["channelOrderRef"], "ref").to_string();
    assert_eq!(
        app.order_by_channel_ref("WEB", &reference, None).await,
        Value::Null
    );
}

#[tokio::test]
async fn collection_at_an_unknown_store_is_invalid() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let resp = OrderBuilder::new()
        .collect_at("NO-SUCH-STORE")
        .line(seed::SHIRT, 1)
        .place(&app)
        .await;
    assert_user_error_at(
        &resp,
        "placeOrder",
        &["INVALID", "NOT_FOUND"],
        &["delivery", "collectionStoreCode"],
    );
}

#[tokio::test]
async fn collecting_an_order_shipped_to_an_address_is_invalid() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let id = only_shipment(&order)["id"].clone();
    let number = tracking_number();
    app.dispatch(&id, "PostNL", &number).await;
    app.track(
        "PostNL",
        &number,
        "OUT_FOR_DELIVERY",
        &crate::fixtures::at_hours(-1),
    )
    .await;
    let resp = app
        .update_shipment(json!({ "shipmentId": id, "status": "COLLECTED" }))
        .await;
    assert_user_error(&resp, "updateShipmentStatus", "INVALID");
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["status"], "DISPATCHED");
    assert_eq!(order["lines"][0]["quantityDelivered"], 0);
}

#[tokio::test]
async fn ready_for_collection_of_an_order_shipped_to_an_address_is_invalid() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    let resp = app.mark_ready(&only_shipment(&order)["id"]).await;
    assert_user_error(&resp, "markReadyForCollection", "INVALID");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 5,
            reserved: 1,
            available: 4
        }
    );
}

#[tokio::test]
async fn a_customer_may_not_mark_a_shipment_ready() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = collect_order(&app, seed::STORE_B, 1).await;
    let customer = str_of(&order["customer"]["id"], "customer id");
    let resp = app
        .mark_ready_with(
            Some(&app.customer_token(customer)),
            &only_shipment(&order)["id"],
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(only_shipment(&order)["status"], "PENDING");
}

#[tokio::test]
async fn a_customer_may_not_mark_her_order_collected() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = collect_order(&app, seed::STORE_B, 1).await;
    let id = only_shipment(&order)["id"].clone();
    expect_ok(&app.mark_ready(&id).await, "markReadyForCollection");
    let customer = str_of(&order["customer"]["id"], "customer id");
    let resp = app
        .update_shipment_with(
            Some(&app.customer_token(customer)),
            json!({ "shipmentId": id, "status": "COLLECTED" }),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
}

// ---------------------------------------------------------------------- carry-out

fn carry_out(quantity: i64) -> OrderBuilder {
    OrderBuilder::new()
        .store_sale(seed::STORE_A)
        .line(seed::SHIRT, quantity)
}

#[tokio::test]
async fn a_carry_out_sale_is_delivered_at_placement() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.place_fulfilment(&carry_out(2)).await;
    assert_eq!(order["status"], "DELIVERED", "{}", pretty(&order));
    let shipment = only_shipment(&order);
    assert_eq!(shipment["status"], "DELIVERED");
    assert_eq!(shipment["location"]["code"], seed::STORE_A);
    assert_eq!(shipment["lines"][0]["quantity"], 2);
    assert_eq!(
        parse_time(&shipment["deliveredAt"]),
        parse_time(&order["placedAt"]),
        "delivered when it was sold"
    );
    assert_eq!(order["lines"][0]["quantityDelivered"], 2);
}

#[tokio::test]
async fn a_carry_out_sale_takes_the_store_stock_at_once() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    app.place_fulfilment(&carry_out(2)).await;
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 3,
            reserved: 0,
            available: 3
        }
    );
    assert_eq!(
        app.stock_at(seed::WAREHOUSE, seed::SHIRT).await,
        Stock {
            on_hand: 50,
            reserved: 0,
            available: 50
        },
        "no other location is touched"
    );
}

#[tokio::test]
async fn a_click_and_collect_transfer_may_leave_without_a_carrier() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    app.set_stock(seed::STORE_B, seed::SHIRT, 0).await;
    let order = collect_order(&app, seed::STORE_B, 1).await;
    let resp = app
        .update_shipment(
            json!({ "shipmentId": only_shipment(&order)["id"], "status": "DISPATCHED" }),
        )
        .await;
    let shipment = expect_ok(&resp, "updateShipmentStatus")["shipment"].clone();
    assert_eq!(shipment["status"], "DISPATCHED");
    assert_eq!(shipment["carrier"], Value::Null);
}

// ---------------------------------------------------------------------- a till sold reserved units

/// The STOCK_CHANGED entries of an order's timeline as agent-1 reads them, newest first.
async fn stock_entries_of(app: &TestApp, order_id: &Value) -> Vec<Value> {
    let resp = app
        .as_agent(
            "query($id: ID!) { order(id: $id) {
                timeline(first: 100, kinds: [STOCK_CHANGED]) { edges { node {
                    kind summary order { id number }
                    stockLevel { sku onHand reserved available location { code } } } } } } }",
            json!({ "id": order_id }),
        )
        .await;
    nodes(&expect_data(&resp)["order"]["timeline"])
}

/// A click-and-collect order of 2 shirts at ST-1, then a till at ST-1 selling 4 of its 5:
/// the records keep 1 on hand against the 2 reserved.
async fn collection_undercut_by_a_till(app: &TestApp) -> Value {
    let order = collect_order(app, seed::STORE_A, 2).await;
    assert_eq!(only_shipment(&order)["location"]["code"], seed::STORE_A);
    app.place_fulfilment(&carry_out(4)).await;
    order
}

#[tokio::test]
async fn a_till_selling_reserved_units_leaves_nothing_available_and_nothing_negative() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    collection_undercut_by_a_till(&app).await;
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 1,
            reserved: 2,
            available: 0
        },
        "available reads 0, not -1"
    );
    assert_eq!(
        app.total_available(seed::SHIRT).await,
        50 + 5,
        "the store adds nothing to the total: the warehouse and ST-2 only"
    );
}

#[tokio::test]
async fn ready_for_collection_after_a_till_sold_the_reserved_units_consumes_the_reservation() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = collection_undercut_by_a_till(&app).await;
    let id = only_shipment(&order)["id"].clone();

    let resp = app.mark_ready(&id).await;
    let shipment = expect_ok(&resp, "markReadyForCollection")["shipment"].clone();
    assert_eq!(
        shipment["status"],
        "READY_FOR_COLLECTION",
        "{}",
        pretty(&resp)
    );
    let read = app.fulfilment_order(&order["id"]).await;
    assert_eq!(read["status"], "READY_FOR_COLLECTION");
    assert_eq!(read["lines"][0]["quantityDispatched"], 2);
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 0,
            reserved: 0,
            available: 0
        },
        "the reservation is used up and onHand stops at zero"
    );

    // The one unit the records did not hold is a discrepancy for the store to recount.
    let entries = stock_entries_of(&app, &order["id"]).await;
    assert_eq!(entries.len(), 1, "{}", pretty(&json!(entries)));
    let discrepancy = &entries[0];
    let summary = str_of(&discrepancy["summary"], "summary");
    let number = str_of(&order["number"], "number");
    assert!(
        summary.contains("Stock discrepancy")
            && summary.contains(&format!("1 × {}", seed::SHIRT))
            && summary.contains(number)
            && summary.contains("recount"),
        "{summary}"
    );
    assert_eq!(discrepancy["order"]["id"], order["id"]);
    assert_eq!(discrepancy["stockLevel"]["location"]["code"], seed::STORE_A);
    assert_eq!(discrepancy["stockLevel"]["sku"], seed::SHIRT);
    assert_eq!(discrepancy["stockLevel"]["onHand"], 0);
    assert_eq!(discrepancy["stockLevel"]["reserved"], 0);
    assert_eq!(discrepancy["stockLevel"]["available"], 0);
    let customer = str_of(&order["customer"]["id"], "customer id");
    let on_customer = app.agent_timeline(customer).await;
    assert!(
        on_customer
            .iter()
            .any(|e| e["kind"] == "STOCK_CHANGED" && str_of(&e["summary"], "summary") == summary),
        "the discrepancy is on the customer's timeline for staff:\n{}",
        pretty(&json!(on_customer))
    );

    // The order goes on as usual.
    app.move_shipment(&id, "COLLECTED").await;
    let read = app.fulfilment_order(&order["id"]).await;
    assert_eq!(read["status"], "DELIVERED");
    assert_eq!(read["lines"][0]["quantityDelivered"], 2);
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock::default(),
        "collection moves no more stock"
    );
}

#[tokio::test]
async fn a_store_short_of_reserved_units_gets_no_new_orders_for_them() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    collection_undercut_by_a_till(&app).await;
    // ST-1 is the nearest to the default address and the collection store, yet holds nothing free.
    let shipped = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 1))
        .await;
    assert_ne!(
        only_shipment(&shipped)["location"]["code"],
        seed::STORE_A,
        "{}",
        pretty(&shipped)
    );
    let collected = collect_order(&app, seed::STORE_A, 1).await;
    assert_ne!(
        only_shipment(&collected)["location"]["code"],
        seed::STORE_A,
        "a transfer from elsewhere: {}",
        pretty(&collected)
    );
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 1,
            reserved: 2,
            available: 0
        },
        "nothing more reserved at ST-1"
    );
}

#[tokio::test]
async fn dispatch_after_a_till_sold_the_reserved_units_consumes_the_reservation() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    // Shipped to the default address in Amsterdam: from ST-1, the nearest.
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2))
        .await;
    let shipment = only_shipment(&order);
    assert_eq!(shipment["location"]["code"], seed::STORE_A);
    app.place_fulfilment(&carry_out(4)).await;

    let dispatched = app
        .dispatch(&shipment["id"], "PostNL", &tracking_number())
        .await;
    assert_eq!(dispatched["status"], "DISPATCHED");
    let read = app.fulfilment_order(&order["id"]).await;
    assert_eq!(read["status"], "DISPATCHED");
    assert_eq!(read["lines"][0]["quantityDispatched"], 2);
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock::default(),
        "the reservation is used up and onHand stops at zero"
    );
    let entries = stock_entries_of(&app, &order["id"]).await;
    assert_eq!(entries.len(), 1, "{}", pretty(&json!(entries)));
    let summary = str_of(&entries[0]["summary"], "summary");
    assert!(
        summary.contains("Stock discrepancy") && summary.contains(&format!("1 × {}", seed::SHIRT)),
        "{summary}"
    );
    assert_eq!(entries[0]["stockLevel"]["location"]["code"], seed::STORE_A);
}

#[tokio::test]
async fn a_short_pick_after_a_till_sold_the_reserved_units_records_no_discrepancy() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2))
        .await;
    let shipment = only_shipment(&order);
    assert_eq!(shipment["location"]["code"], seed::STORE_A);
    app.place_fulfilment(&carry_out(4)).await;

    // The store finds the one unit its records hold and dispatches that.
    let resp = app
        .update_shipment(json!({
            "shipmentId": shipment["id"], "status": "DISPATCHED",
            "carrier": "PostNL", "trackingNumber": tracking_number(),
            "lines": [{ "lineId": order["lines"][0]["id"], "quantity": 1 }],
        }))
        .await;
    expect_ok(&resp, "updateShipmentStatus");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock::default()
    );
    let read = app.fulfilment_order(&order["id"]).await;
    assert_eq!(read["lines"][0]["quantityDispatched"], 1);
    assert_eq!(
        shipments_of(&read).len(),
        2,
        "the other unit is re-routed: {}",
        pretty(&read)
    );
    assert!(
        stock_entries_of(&app, &order["id"]).await.is_empty(),
        "the records held what was dispatched"
    );
}

#[tokio::test]
async fn ready_for_collection_after_a_till_sold_only_free_units_records_no_discrepancy() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = collect_order(&app, seed::STORE_A, 2).await;
    // 3 of the 5 are free: the reservation stays whole.
    app.place_fulfilment(&carry_out(3)).await;
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock {
            on_hand: 2,
            reserved: 2,
            available: 0
        }
    );
    let resp = app.mark_ready(&only_shipment(&order)["id"]).await;
    let shipment = expect_ok(&resp, "markReadyForCollection")["shipment"].clone();
    assert_eq!(shipment["status"], "READY_FOR_COLLECTION");
    assert_eq!(
        app.stock_at(seed::STORE_A, seed::SHIRT).await,
        Stock::default()
    );
    assert!(
        stock_entries_of(&app, &order["id"]).await.is_empty(),
        "nothing was missing"
    );
}
