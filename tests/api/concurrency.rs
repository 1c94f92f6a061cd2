//! Two checkouts for the last unit cannot both win.

use futures_util::future::join_all;
use serde_json::json;

use crate::fixtures::{LocationBuilder, OrderBuilder, ProductBuilder, Stock};
use crate::harness::{TestApp, pretty, top_level_errors};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_simultaneous_orders_for_ten_units_reserve_exactly_ten() {
    let app = TestApp::spawn().await;
    ProductBuilder::new("HOT-1")
        .name("Limited sneaker")
        .price("129.00", "EUR")
        .create(&app)
        .await;
    LocationBuilder::warehouse("WH-1").create(&app).await;
    app.set_stock("WH-1", "HOT-1", 10).await;

    let orders: Vec<OrderBuilder> = (0..30)
        .map(|i| {
            OrderBuilder::new()
                .channel_ref(&format!("DROP-{i}"))
                .customer(json!({ "email": format!("fan{i}@example.test") }))
                .line("HOT-1", 1)
        })
        .collect();
    let responses = join_all(orders.iter().map(|order| order.place(&app))).await;

    let mut placed = 0;
    let mut out_of_stock = 0;
    for resp in &responses {
        assert!(
            top_level_errors(resp).is_empty(),
            "no request may fail outright:\n{}",
            pretty(resp)
        );
        let payload = &resp["data"]["placeOrder"];
        let errors = payload["userErrors"].as_array().expect("userErrors");
        if errors.is_empty() {
            assert!(payload["order"]["id"].is_string(), "{}", pretty(resp));
            placed += 1;
        } else if errors.iter().all(|e| e["code"] == "OUT_OF_STOCK") {
            assert!(payload["order"].is_null(), "{}", pretty(resp));
            out_of_stock += 1;
        } else {
            panic!("unexpected refusal:\n{}", pretty(resp));
        }
    }
    assert_eq!((placed, out_of_stock), (10, 20), "exactly ten orders win");

    assert_eq!(
        app.stock_at("WH-1", "HOT-1").await,
        Stock {
            on_hand: 10,
            reserved: 10,
            available: 0
        }
    );
    assert_eq!(app.total_available("HOT-1").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_order_sent_twice_at_once_is_placed_once() {
    let app = TestApp::spawn().await;
    ProductBuilder::new("HOT-1")
        .price("129.00", "EUR")
        .create(&app)
        .await;
    LocationBuilder::warehouse("WH-1").create(&app).await;
    app.set_stock("WH-1", "HOT-1", 10).await;

    let order = OrderBuilder::new()
        .channel_ref("DOUBLE-CLICK")
        .line("HOT-1", 1);
    let responses = join_all((0..5).map(|_| order.place(&app))).await;

    let mut ids = Vec::new();
    for resp in &responses {
        assert!(
            top_level_errors(resp).is_empty(),
            "no request may fail outright:\n{}",
            pretty(resp)
        );
        let payload = &resp["data"]["placeOrder"];
        assert_eq!(payload["userErrors"], json!([]), "{}", pretty(resp));
        ids.push(payload["order"]["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every call returns the same order");
    let replays = responses
        .iter()
        .filter(|r| r["data"]["placeOrder"]["replayed"] == true)
        .count();
    assert_eq!(replays, 4, "one placement, four replays");
    assert_eq!(
        app.stock_at("WH-1", "HOT-1").await.reserved,
        1,
        "stock is reserved once"
    );
}
