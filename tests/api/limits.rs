//! Request limits: depth, aliases, hostile nesting, body size, content type and batching.

use serde_json::{Value, json};

use crate::harness::{TestApp, assert_error_code, expect_data, pretty};

/// `customers { ... orders { ... customer { ... } } }` nested `repeats` times; the query is
/// 3 + 4 * repeats + 1 fields deep.
fn nested_customer_query(repeats: usize) -> String {
    let mut query = String::from("{ customers(first: 1) { edges { node { ");
    for _ in 0..repeats {
        query.push_str("orders(first: 1) { edges { node { customer { ");
    }
    query.push_str("id ");
    for _ in 0..repeats {
        query.push_str("} } } } ");
    }
    query.push_str("} } } }");
    query
}

#[tokio::test]
async fn a_query_within_the_depth_limit_runs() {
    let app = TestApp::spawn().await;
    let resp = app.as_agent(&nested_customer_query(2), json!({})).await; // 12 deep
    expect_data(&resp);
}

#[tokio::test]
async fn a_query_deeper_than_fifteen_levels_is_refused() {
    let app = TestApp::spawn().await;
    let resp = app.as_agent(&nested_customer_query(4), json!({})).await; // 20 deep
    assert_error_code(&resp, "BAD_USER_INPUT");
    assert!(
        resp["data"].is_null(),
        "a refused query runs nothing:\n{}",
        pretty(&resp)
    );
}

fn aliased_products(count: usize) -> String {
    let fields: Vec<String> = (0..count)
        .map(|i| format!(r#"a{i}: products(skus: ["SKU-1"]) {{ sku }}"#))
        .collect();
    format!("{{ {} }}", fields.join(" "))
}

#[tokio::test]
async fn a_few_aliases_are_fine() {
    let app = TestApp::spawn().await;
    expect_data(&app.anon(&aliased_products(5), json!({})).await);
}

#[tokio::test]
async fn more_than_a_hundred_aliases_are_refused() {
    let app = TestApp::spawn().await;
    let resp = app.anon(&aliased_products(101), json!({})).await;
    assert_error_code(&resp, "BAD_USER_INPUT");
    assert!(
        resp["data"].is_null(),
        "a refused query runs nothing:\n{}",
        pretty(&resp)
    );
}

#[tokio::test]
async fn more_than_a_hundred_aliases_in_a_subscription_are_refused_and_the_connection_goes_on() {
    let app = TestApp::spawn().await;
    let mut ws = crate::ws::WsClient::connect(&app, Some(&app.agent_token())).await;
    let fields: Vec<String> = (0..101).map(|i| format!("a{i}: kind")).collect();
    let query = format!(
        r#"subscription {{ customerTimeline(customerId: "Q3VzdG9tZXI6MQ") {{ {} }} }}"#,
        fields.join(" ")
    );
    ws.subscribe("many", &query, json!({})).await;
    let errors = ws
        .expect_error("many", std::time::Duration::from_secs(5))
        .await;
    assert_eq!(crate::ws::codes_of(&errors), ["BAD_USER_INPUT"]);
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("101 aliases")),
        "the refusal says why: {errors:?}"
    );
    ws.ping_pong().await;
}

/// Runs the calling test again in a child process, so a crash of the server (a stack overflow
/// aborts the whole process) fails that one test instead of the whole suite. Returns true in
/// the child, where the test body should run.
pub(crate) async fn in_isolated_process(test_path: &str) -> bool {
    const CHILD: &str = "TOUCHPOINT_TEST_ISOLATED_CHILD";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let test_path = test_path.to_string();
    let inherited = crate::harness::child_process_env().await;
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                test_path.as_str(),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .envs(inherited)
            .env(CHILD, "1")
            .output()
            .expect("run the test binary again")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the isolated run failed ({:?}); a signal here means the server crashed:\n{stdout}\n{stderr}",
        output.status
    );
    false
}

#[tokio::test]
async fn a_deeply_nested_argument_literal_gets_a_clean_error() {
    if !in_isolated_process("limits::a_deeply_nested_argument_literal_gets_a_clean_error").await {
        return;
    }
    let app = TestApp::spawn().await;
    let depth = 10_000;
    let query = format!(
        "{{ products(skus: {}\"x\"{}) {{ sku }} }}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("the server answers instead of dropping the connection");
    let status = response.status();
    let body = response.text().await.expect("a body");
    if status.is_success() {
        let parsed: Value = serde_json::from_str(&body).expect("a JSON body");
        assert_error_code(&parsed, "BAD_USER_INPUT");
    } else {
        assert!(status.is_client_error(), "a 4xx, not {status}: {body}");
    }

    let after = app
        .anon(r#"{ products(skus: ["SKU-1"]) { sku } }"#, json!({}))
        .await;
    expect_data(&after);
}

#[tokio::test]
async fn a_deeply_nested_selection_set_gets_a_clean_error() {
    if !in_isolated_process("limits::a_deeply_nested_selection_set_gets_a_clean_error").await {
        return;
    }
    let app = TestApp::spawn().await;
    let depth = 10_000;
    let query = format!("{}{}", "{ a ".repeat(depth), "}".repeat(depth));
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("the server answers instead of dropping the connection");
    let status = response.status();
    let body = response.text().await.expect("a body");
    if status.is_success() {
        let parsed: Value = serde_json::from_str(&body).expect("a JSON body");
        assert_error_code(&parsed, "BAD_USER_INPUT");
    } else {
        assert!(status.is_client_error(), "a 4xx, not {status}: {body}");
    }
    expect_data(
        &app.anon(r#"{ products(skus: ["SKU-1"]) { sku } }"#, json!({}))
            .await,
    );
}

#[tokio::test]
async fn a_post_that_is_not_json_is_refused() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "text/plain")
        .body(json!({ "query": r#"{ products(skus: ["SKU-1"]) { sku } }"# }).to_string())
        .send()
        .await
        .expect("POST /graphql");
    let status = response.status();
    assert!(
        status.is_client_error(),
        "text/plain must be refused with a 4xx, got {status}"
    );
}

#[tokio::test]
async fn a_batched_request_is_refused() {
    let app = TestApp::spawn().await;
    let one = json!({ "query": r#"{ products(skus: ["SKU-1"]) { sku } }"# });
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!([one, one]))
        .send()
        .await
        .expect("POST /graphql");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status.is_client_error() {
        return;
    }
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert!(
        parsed.is_object() && parsed["errors"].is_array() && parsed["data"].is_null(),
        "a batch must be refused (4xx or an error response), got {status}: {body}"
    );
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413() {
    let app = TestApp::spawn().await;
    let padding = "x".repeat(1024 * 1024 + 1024);
    let body =
        json!({ "query": "{ __typename }", "variables": { "padding": padding } }).to_string();
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST /graphql");
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn a_body_just_under_the_limit_is_accepted() {
    let app = TestApp::spawn().await;
    let padding = "x".repeat(1024 * 1024 - 4096);
    let body =
        json!({ "query": "{ __typename }", "variables": { "padding": padding } }).to_string();
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST /graphql");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_deeply_nested_subscription_over_a_websocket_gets_a_clean_error() {
    if !in_isolated_process(
        "limits::a_deeply_nested_subscription_over_a_websocket_gets_a_clean_error",
    )
    .await
    {
        return;
    }
    let app = TestApp::spawn().await;
    let mut ws = crate::ws::WsClient::connect(&app, Some(&app.agent_token())).await;
    let depth = 3_000;
    for (id, query) in [
        (
            "lists",
            format!(
                "subscription {{ customerTimeline(customerId: {}\"x\"{}) {{ kind }} }}",
                "[".repeat(depth),
                "]".repeat(depth)
            ),
        ),
        (
            "objects",
            format!(
                "subscription {{ customerTimeline(customerId: {}1{}) {{ kind }} }}",
                "{a: ".repeat(depth),
                "}".repeat(depth)
            ),
        ),
        (
            "selections",
            format!("subscription {}{}", "{ a ".repeat(depth), "}".repeat(depth)),
        ),
    ] {
        ws.subscribe(id, &query, json!({})).await;
        let errors = ws.expect_error(id, std::time::Duration::from_secs(5)).await;
        assert_eq!(crate::ws::codes_of(&errors), ["BAD_USER_INPUT"], "{id}");
    }
    // The connection and the server are still there.
    ws.ping_pong().await;
    expect_data(
        &app.anon(r#"{ products(skus: ["SKU-1"]) { sku } }"#, json!({}))
            .await,
    );
}
