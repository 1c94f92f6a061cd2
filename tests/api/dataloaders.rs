//! No N+1: the SQL statements behind a customer's order history do not grow with the number of
//! orders. Counted with the `touchpoint_db_statements_total` metric.

use serde_json::json;

use crate::fixtures::{OrderBuilder, seed, str_of};
use crate::harness::{TestApp, expect_data, metric_sum};

const HISTORY: &str =
    "query($id: ID!) { customer(id: $id) { orders(first: 50) { totalCount edges { node {
    id number lines { sku quantity product { name } } customer { email } } } } } }";

/// Places `count` two-line orders for `email`; returns the customer's ID.
async fn customer_with_orders(app: &TestApp, email: &str, count: usize) -> String {
    let mut customer_id = String::new();
    for _ in 0..count {
        let order = OrderBuilder::new()
            .customer_email(email)
            .line(seed::SHIRT, 1)
            .line(seed::TOTE, 1)
            .place_ok(app)
            .await;
        customer_id = str_of(&order["customer"]["id"], "customer id").to_string();
    }
    customer_id
}

async fn statements(app: &TestApp) -> f64 {
    let metrics = app.metrics().await;
    metric_sum(&metrics, "touchpoint_db_statements_total").unwrap_or_else(|| {
        panic!("touchpoint_db_statements_total is missing from /metrics:\n{metrics}")
    })
}

/// The statements one history query costs: the least of a few runs, so background work of the
/// server cannot inflate the figure.
async fn statements_for_history(app: &TestApp, customer_id: &str, expected_orders: usize) -> f64 {
    let mut least = f64::INFINITY;
    for _ in 0..5 {
        let before = statements(app).await;
        let resp = app.as_agent(HISTORY, json!({ "id": customer_id })).await;
        let after = statements(app).await;
        let orders = &expect_data(&resp)["customer"]["orders"];
        assert_eq!(orders["totalCount"], expected_orders);
        let edges = orders["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), expected_orders);
        assert!(
            edges
                .iter()
                .all(|e| e["node"]["lines"].as_array().map(Vec::len) == Some(2))
        );
        assert!(
            edges
                .iter()
                .all(|e| e["node"]["lines"][0]["product"]["name"].is_string())
        );
        least = least.min(after - before);
    }
    least
}

#[tokio::test]
async fn an_order_history_costs_the_same_statements_for_5_or_50_orders() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    app.set_stock(seed::WAREHOUSE, seed::SHIRT, 1000).await;
    app.set_stock(seed::WAREHOUSE, seed::TOTE, 1000).await;
    let many = customer_with_orders(&app, "many@example.test", 50).await;
    let few = customer_with_orders(&app, "few@example.test", 5).await;

    // Batching waits a moment for keys to gather; measure with no other test loading the CPU.
    let (for_many, for_few) = app
        .quietly(async {
            (
                statements_for_history(&app, &many, 50).await,
                statements_for_history(&app, &few, 5).await,
            )
        })
        .await;
    eprintln!("SQL statements for an order history: {for_many} with 50 orders, {for_few} with 5");

    assert!(
        for_many <= 10.0,
        "50 orders took {for_many} statements; DataLoaders should batch them (<= 10)"
    );
    assert_eq!(
        for_many, for_few,
        "the statement count must not depend on the number of orders"
    );
}
