//! Checkouts racing for the last units cannot oversell: fifty at once for ten units, exactly
//! ten win. (Replays of one order at once: reliability.rs.)

use futures_util::future::join_all;
use serde_json::json;

use crate::fixtures::{LocationBuilder, OrderBuilder, ProductBuilder, Stock};
use crate::harness::{TestApp, pretty, top_level_errors};

/// `count` orders of one unit of `sku`, each for a customer of its own: channel references
/// `{reference}-0`…, emails `{who}0@example.test`….
fn one_unit_orders(count: usize, reference: &str, who: &str, sku: &str) -> Vec<OrderBuilder> {
    (0..count)
        .map(|i| {
            OrderBuilder::new()
                .channel_ref(&format!("{reference}-{i}"))
                .customer(json!({ "email": format!("{who}{i}@example.test") }))
                .line(sku, 1)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_simultaneous_orders_for_ten_units_reserve_exactly_ten() {
    let app = TestApp::spawn().await;
    ProductBuilder::new("HOT-1")
        .name("Limited sneaker")
        .price("129.00", "EUR")
        .create(&app)
        .await;
    LocationBuilder::warehouse("WH-1").create(&app).await;
    app.set_stock("WH-1", "HOT-1", 10).await;

    let orders = one_unit_orders(50, "DROP", "fan", "HOT-1");
    let started = std::time::Instant::now();
    let responses = join_all(orders.iter().map(|order| order.place(&app))).await;
    eprintln!(
        "50 concurrent checkouts for 10 units answered in {:?}",
        started.elapsed()
    );

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
    assert_eq!((placed, out_of_stock), (10, 40), "exactly ten orders win");

    assert_eq!(
        app.stock_at("WH-1", "HOT-1").await,
        Stock {
            on_hand: 10,
            reserved: 10,
            available: 0
        }
    );
    assert_eq!(app.total_available("HOT-1").await, 0);

    // The ten winners are the ten orders that exist, each holding its unit.
    let mut found = 0;
    for (order, resp) in orders.iter().zip(&responses) {
        let reference = order.input()["channelOrderRef"].clone();
        let stored = app
            .order_by_channel_ref("WEB", reference.as_str().unwrap_or_default(), None)
            .await;
        let won = resp["data"]["placeOrder"]["order"]["id"].is_string();
        assert_eq!(
            stored.is_object(),
            won,
            "{reference}: an order exists exactly when its checkout won:\n{}",
            pretty(resp)
        );
        if won {
            assert_eq!(stored["id"], resp["data"]["placeOrder"]["order"]["id"]);
            found += 1;
        }
    }
    assert_eq!(found, 10, "ten orders exist");
}

/// Placements plan their routing before they queue to write, so several plan on the same stock;
/// the ones that lose the nearest warehouse's last units plan again and ship from the other.
/// None is refused while stock is left, and none oversells.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_racing_for_one_warehouse_ship_from_the_other_when_it_runs_out() {
    let app = TestApp::spawn().await;
    ProductBuilder::new("HOT-2")
        .name("Limited jacket")
        .price("89.00", "EUR")
        .create(&app)
        .await;
    LocationBuilder::warehouse("WH-A").create(&app).await;
    LocationBuilder::warehouse("WH-B").create(&app).await;
    app.set_stock("WH-A", "HOT-2", 6).await;
    app.set_stock("WH-B", "HOT-2", 6).await;

    let orders = one_unit_orders(10, "RACE", "racer", "HOT-2");
    let responses = join_all(orders.iter().map(|order| order.place(&app))).await;
    for resp in &responses {
        assert!(top_level_errors(resp).is_empty(), "{}", pretty(resp));
        let payload = &resp["data"]["placeOrder"];
        assert_eq!(
            payload["userErrors"],
            json!([]),
            "12 units for 10 orders: every order is placed:\n{}",
            pretty(resp)
        );
        assert!(payload["order"]["id"].is_string(), "{}", pretty(resp));
    }
    let a = app.stock_at("WH-A", "HOT-2").await;
    let b = app.stock_at("WH-B", "HOT-2").await;
    assert_eq!(a.reserved + b.reserved, 10, "one unit held per order");
    assert!(a.reserved <= 6 && b.reserved <= 6, "neither oversold");
    assert_eq!(app.total_available("HOT-2").await, 2);
}
