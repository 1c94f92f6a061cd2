//! The HTTP surface besides GraphQL itself: health, readiness, metrics and GraphiQL.

use serde_json::json;

use crate::harness::{TestApp, expect_data, metric_sum};

#[tokio::test]
async fn healthz_answers_200() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn readyz_answers_200_with_a_database() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn metrics_count_graphql_requests_by_root_field() {
    let app = TestApp::spawn().await;
    expect_data(
        &app.anon(r#"{ products(skus: ["SKU-1"]) { sku } }"#, json!({}))
            .await,
    );

    let metrics = app.metrics().await;
    let total = metric_sum(&metrics, "touchpoint_graphql_requests_total");
    assert!(
        total.is_some_and(|t| t >= 1.0),
        "touchpoint_graphql_requests_total is missing:\n{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("touchpoint_graphql_requests_total{")
                && l.contains("=\"products\"")),
        "no series labelled with the root field \"products\":\n{metrics}"
    );
}

#[tokio::test]
async fn metrics_never_carry_a_client_supplied_operation_name() {
    let app = TestApp::spawn().await;
    let resp = app
        .gql_body(
            None,
            json!({
                "query": r#"query evil_name_123 { products(skus: ["SKU-1"]) { sku } }"#,
                "operationName": "evil_name_123",
            }),
        )
        .await;
    expect_data(&resp);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("touchpoint_graphql_requests_total"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("evil_name_123"),
        "a client-chosen name became a label:\n{metrics}"
    );
}

#[tokio::test]
async fn metrics_never_carry_an_unknown_field_name() {
    let app = TestApp::spawn().await;
    // An invalid query names a field that does not exist; labels must stay a bounded set.
    let resp = app.anon("{ evil_field_456 }", json!({})).await;
    assert!(resp["errors"].is_array());
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains("evil_field_456"),
        "a client-chosen name became a label:\n{metrics}"
    );
}

#[tokio::test]
async fn get_graphql_from_a_browser_serves_graphiql() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET /graphql");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/html"),
        "content-type: {content_type}"
    );
    let body = response.text().await.expect("a page");
    assert!(
        body.to_lowercase().contains("graphiql"),
        "not the GraphiQL page:\n{body}"
    );
}

#[tokio::test]
async fn the_benchmark_endpoint_is_absent_by_default() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/bench/fixed"))
        .json(&json!({ "query": "{ brand { name } }" }))
        .send()
        .await
        .expect("POST /bench/fixed");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_benchmark_endpoint_answers_a_fixed_json_body_of_the_configured_size() {
    let app = TestApp::spawn_with(|c| c.bench_fixed_response_bytes = Some(3_600)).await;
    let response = app
        .client
        .post(app.url("/bench/fixed"))
        .json(&json!({ "query": "{ brand { name } }" }))
        .send()
        .await
        .expect("POST /bench/fixed");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body = response.bytes().await.expect("body");
    assert_eq!(body.len(), 3_600);
    let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert!(value["data"]["fixed"].is_string());
}
