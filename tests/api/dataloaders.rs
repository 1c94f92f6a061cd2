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

/// The statements one query costs: the least of a few runs, so background work of the server
/// cannot inflate the figure. `check` asserts on each answer's data.
async fn least_statements(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: serde_json::Value,
    check: impl Fn(&serde_json::Value),
) -> f64 {
    let mut least = f64::INFINITY;
    for _ in 0..5 {
        let before = statements(app).await;
        let resp = app.gql(Some(token), query, variables.clone()).await;
        let after = statements(app).await;
        check(expect_data(&resp));
        least = least.min(after - before);
    }
    least
}

async fn statements_for_history(app: &TestApp, customer_id: &str, expected_orders: usize) -> f64 {
    least_statements(
        app,
        &app.agent_token(),
        HISTORY,
        json!({ "id": customer_id }),
        |data| {
            let orders = &data["customer"]["orders"];
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
        },
    )
    .await
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

/// Benchmark scenario 1 (BENCHMARKS.md): an agent reads one customer's orders with their lines,
/// totals, and shipments with their lines.
const AGENT_CUSTOMER_READ: &str = "query($id: ID!) { customer(id: $id) { id email firstName lastName
    orders(first: 50) { totalCount edges { node { id number status placedAt
      lines { id sku name quantity unitPrice { amount currencyCode } total { amount currencyCode } }
      totals { subtotal { amount currencyCode } shipping { amount currencyCode } total { amount currencyCode } }
      shipments { id status carrier trackingNumber location { code } lines { quantity line { id sku } } }
    } } } } }";

/// Benchmark scenario 2: a customer's own latest orders with their shipments' tracking events.
const SELF_SERVICE_READ: &str = "{ me { orders(first: 10) { totalCount edges { node { id number
    status lines { sku quantity } shipments { id status trackingNumber
      events { status occurredAt description } } } } } } }";

/// Places `count` orders for `email` and dispatches each one's shipments with a tracking
/// number; returns the customer's ID.
async fn customer_with_dispatched_orders(app: &TestApp, email: &str, count: usize) -> String {
    let mut customer_id = String::new();
    for _ in 0..count {
        let order = app
            .place_fulfilment(
                &OrderBuilder::new()
                    .customer_email(email)
                    .line(seed::SHIRT, 1)
                    .line(seed::TOTE, 1),
            )
            .await;
        for shipment in crate::fixtures::shipments_of(&order) {
            app.dispatch(&shipment["id"], "DHL", &crate::fixtures::tracking_number())
                .await;
        }
        customer_id = str_of(&order["customer"]["id"], "customer id").to_string();
    }
    customer_id
}

#[tokio::test]
async fn the_benchmarked_reads_cost_a_few_statements_whatever_the_number_of_orders() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    app.set_stock(seed::WAREHOUSE, seed::SHIRT, 1000).await;
    app.set_stock(seed::WAREHOUSE, seed::TOTE, 1000).await;
    let many = customer_with_dispatched_orders(&app, "many@example.test", 50).await;
    let few = customer_with_dispatched_orders(&app, "few@example.test", 5).await;
    let agent = app.agent_token();
    let agent_read = |customer: &str, orders: usize| {
        let agent = agent.clone();
        let id = customer.to_owned();
        let app = &app;
        async move {
            least_statements(
                app,
                &agent,
                AGENT_CUSTOMER_READ,
                json!({ "id": id }),
                |data| {
                    let edges = data["customer"]["orders"]["edges"]
                        .as_array()
                        .expect("edges");
                    assert_eq!(edges.len(), orders);
                    for edge in edges {
                        let order = &edge["node"];
                        assert_eq!(order["lines"].as_array().map(Vec::len), Some(2));
                        assert!(order["totals"]["total"]["amount"].is_string());
                        let shipments = order["shipments"].as_array().expect("shipments");
                        assert!(!shipments.is_empty());
                        assert!(shipments.iter().all(|s| s["status"] == "DISPATCHED"
                            && !s["lines"].as_array().expect("lines").is_empty()));
                    }
                },
            )
            .await
        }
    };
    let own_read = |customer: &str, orders: usize| {
        let token = app.customer_token(customer);
        let app = &app;
        async move {
            least_statements(app, &token, SELF_SERVICE_READ, json!({}), |data| {
                let edges = data["me"]["orders"]["edges"].as_array().expect("edges");
                assert_eq!(edges.len(), orders);
                assert!(edges.iter().all(|e| {
                    e["node"]["shipments"]
                        .as_array()
                        .is_some_and(|s| s.iter().all(|s| s["events"].is_array()))
                }));
            })
            .await
        }
    };
    let (agent_many, agent_few, own_many, own_few) = app
        .quietly(async {
            (
                agent_read(&many, 50).await,
                agent_read(&few, 5).await,
                own_read(&many, 10).await,
                own_read(&few, 5).await,
            )
        })
        .await;
    eprintln!(
        "SQL statements per read: agent's customer read {agent_many} with 50 orders, {agent_few} \
         with 5; customer's own orders {own_many} with 10 shown, {own_few} with 5"
    );
    assert!(
        agent_many <= 8.0,
        "scenario 1 took {agent_many} statements (at most 8)"
    );
    assert_eq!(
        agent_many, agent_few,
        "scenario 1 must not grow with the orders"
    );
    assert_eq!(
        own_many, own_few,
        "scenario 2 must not grow with the orders"
    );
}
