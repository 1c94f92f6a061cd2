//! What a hostile web page, a prober or a heavy query can do, and what it cannot: cross-site
//! requests (CSRF), CORS, the time limit per request, query cost, and production mode (no
//! introspection, no suggestions, no GraphiQL, no development secret, no leaked internals).

use std::time::Duration;

use serde_json::{Value, json};
use touchpoint::config::{Config, DEV_JWT_SECRET};

use crate::fixtures::upsert_product;
use crate::harness::{TestApp, assert_error_code, expect_data, pretty, top_level_errors};

/// An admin's mutation creating product `sku`, as a GraphQL request body.
fn create_product_body(sku: &str) -> Value {
    json!({
        "query": "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { product { sku } } }",
        "variables": { "input": { "sku": sku, "name": "Planted", "price": { "amount": "1.00", "currencyCode": "EUR" } } },
    })
}

async fn product_exists(app: &TestApp, sku: &str) -> bool {
    let resp = app
        .anon(
            "query($skus: [String!]!) { products(skus: $skus) { sku } }",
            json!({ "skus": [sku] }),
        )
        .await;
    !expect_data(&resp)["products"]
        .as_array()
        .expect("products is a list")
        .is_empty()
}

/// The server goes on answering after whatever a test threw at it.
async fn assert_still_serving(app: &TestApp) {
    assert_eq!(app.get("/healthz").await.status(), 200);
    expect_data(&app.anon("{ __typename }", json!({})).await);
}

#[tokio::test]
async fn the_same_admin_mutation_as_json_works() {
    // The control for the refusals below: the request itself is fine when sent as JSON.
    let app = TestApp::spawn().await;
    let resp = app
        .gql_body(
            Some(&app.admin_token()),
            create_product_body("CSRF-CONTROL"),
        )
        .await;
    expect_data(&resp);
    assert!(product_exists(&app, "CSRF-CONTROL").await);
}

#[tokio::test]
async fn mutations_sent_as_a_form_text_or_multipart_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token();
    let body = create_product_body("CSRF-1");
    let query = body["query"].as_str().unwrap().to_owned();
    let operations = body.to_string();
    let attempts: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "text/plain",
            app.client
                .post(app.url("/graphql"))
                .header("content-type", "text/plain")
                .body(operations.clone()),
        ),
        (
            "no content type",
            app.client
                .post(app.url("/graphql"))
                .body(operations.clone()),
        ),
        (
            "form-encoded",
            app.client.post(app.url("/graphql")).form(&[
                ("query", query.as_str()),
                ("variables", &body["variables"].to_string()),
            ]),
        ),
        (
            "multipart (GraphQL multipart request)",
            app.client.post(app.url("/graphql")).multipart(
                reqwest::multipart::Form::new()
                    .text("operations", operations.clone())
                    .text("map", "{}"),
            ),
        ),
        (
            "application/json in a parameter only",
            app.client
                .post(app.url("/graphql"))
                .header("content-type", "text/plain; a=application/json")
                .body(operations.clone()),
        ),
    ];
    for (what, request) in attempts {
        let response = request.bearer_auth(&admin).send().await.expect("POST");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(
            status, 415,
            "{what} must be refused with 415, got {status}: {text}"
        );
        let parsed: Value = serde_json::from_str(&text).expect("a JSON error body");
        assert_error_code(&parsed, "BAD_USER_INPUT");
    }
    assert!(
        !product_exists(&app, "CSRF-1").await,
        "a refused request changed something"
    );
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_mutation_in_a_get_link_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let body = create_product_body("CSRF-GET");
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("query", body["query"].as_str().unwrap()),
            ("variables", &body["variables"].to_string()),
        ])
        .bearer_auth(app.admin_token())
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 405);
    let parsed: Value = response.json().await.expect("a JSON error body");
    assert_error_code(&parsed, "BAD_USER_INPUT");
    assert!(!product_exists(&app, "CSRF-GET").await);

    // A query by GET is refused too: operations travel by POST only.
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn a_mutation_over_a_websocket_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token();
    let mut ws = crate::ws::WsClient::connect(&app, Some(&admin)).await;
    let body = create_product_body("WS-MUTATION");
    ws.subscribe(
        "m1",
        body["query"].as_str().unwrap(),
        body["variables"].clone(),
    )
    .await;
    let errors = ws.expect_error("m1", Duration::from_secs(5)).await;
    assert_eq!(crate::ws::codes_of(&errors), ["BAD_USER_INPUT"]);
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("POST"),
        "the refusal says how to send it: {errors:?}"
    );
    ws.ping_pong().await;
    assert!(!product_exists(&app, "WS-MUTATION").await);
}

/// A CORS preflight from `origin` for a POST with a bearer token.
async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("OPTIONS /graphql")
}

fn allowed_origin(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn no_origin_may_call_from_a_browser_by_default() {
    let app = TestApp::spawn().await;
    let response = preflight(&app, "https://shop.example").await;
    assert_eq!(allowed_origin(&response), None);
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("origin", "https://shop.example")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(allowed_origin(&response), None);
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
}

#[tokio::test]
async fn only_the_configured_origins_may_call_from_a_browser() {
    let app = TestApp::spawn_with(|config| {
        config.cors_origins = vec![
            "https://shop.example".into(),
            "http://localhost:5173".into(),
        ];
    })
    .await;
    for origin in ["https://shop.example", "http://localhost:5173"] {
        let response = preflight(&app, origin).await;
        assert!(response.status().is_success(), "{}", response.status());
        assert_eq!(allowed_origin(&response).as_deref(), Some(origin));
        let methods = response.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .to_ascii_uppercase();
        assert!(methods.contains("POST"), "{methods}");
        let headers = response.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(headers.contains("authorization") && headers.contains("content-type"));
        assert!(
            response
                .headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
    }
    for origin in [
        "https://evil.example",
        "https://shop.example.evil.example",
        "null",
    ] {
        let response = preflight(&app, origin).await;
        assert_eq!(
            allowed_origin(&response),
            None,
            "{origin} must not be allowed"
        );
    }
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("origin", "https://shop.example")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(
        allowed_origin(&response).as_deref(),
        Some("https://shop.example")
    );
}

/// A database URL for a server that is built but never started.
fn scratch_sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    (dir, url)
}

#[tokio::test]
async fn a_wildcard_or_malformed_cors_origin_is_refused_at_start() {
    for origin in [
        "*",
        "https://*.example",
        "shop.example",
        "https://shop example",
    ] {
        let (_dir, url) = scratch_sqlite();
        let mut config = Config::for_tests(url);
        config.cors_origins = vec![origin.into()];
        let Err(e) = touchpoint::App::build(config).await else {
            panic!("--cors-origin {origin} must be refused");
        };
        assert!(e.to_string().contains("cors-origin"), "{e}");
    }
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_abandoned_and_the_server_goes_on() {
    let app = TestApp::spawn_with(|config| {
        config.limits.request_timeout = Duration::from_millis(300);
    })
    .await;
    // Another client holds the database's write lock, so the mutation cannot finish in time.
    let lock = app.hold_writes().await;
    let started = std::time::Instant::now();
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(app.admin_token())
        .json(&create_product_body("SLOW-1"))
        .send()
        .await
        .expect("POST");
    let waited = started.elapsed();
    assert_eq!(response.status(), 503);
    let parsed: Value = response.json().await.expect("a JSON error body");
    assert_error_code(&parsed, "TIMEOUT");
    assert!(parsed["data"].is_null());
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
    lock.commit().await.expect("release the lock");
    // Abandoned before it committed: nothing of it is kept, and the server goes on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!product_exists(&app, "SLOW-1").await);
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_query_whose_lists_multiply_past_the_complexity_limit_is_refused() {
    let app = TestApp::spawn().await;
    // 100 customers × 100 orders × their fields: far over the limit, though shallow.
    let query = "{ customers(first: 100) { edges { node { id orders(first: 100) { edges { node { id number status } } } } } } }";
    let resp = app.as_agent(query, json!({})).await;
    assert_error_code(&resp, "BAD_USER_INPUT");
    assert!(resp["data"].is_null(), "{}", pretty(&resp));
    let message = top_level_errors(&resp)[0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.to_lowercase().contains("complex"), "{message}");
    // The same shape with small pages is fine.
    let query = "{ customers(first: 5) { edges { node { id orders(first: 5) { edges { node { id number status } } } } } } }";
    expect_data(&app.as_agent(query, json!({})).await);
}

// ------------------------------------------------------------------ production mode

async fn production_app() -> TestApp {
    TestApp::spawn_with(|config| config.production = true).await
}

#[tokio::test]
async fn production_mode_answers_no_introspection() {
    let app = production_app().await;
    for query in [
        "{ __schema { types { name } } }",
        r#"{ __type(name: "Order") { fields { name } } }"#,
        "query { a: __schema { queryType { name } } }",
    ] {
        let resp = app.as_admin(query, json!({})).await;
        // Introspection fields answer null (or the document is refused): nothing of the schema.
        let answered = resp["data"]
            .as_object()
            .is_some_and(|fields| fields.values().any(|v| !v.is_null()));
        assert!(!answered, "{query}: {}", pretty(&resp));
        let text = resp.to_string();
        assert!(
            !text.contains("placeOrder") && !text.contains("\"Order\""),
            "{text}"
        );
    }
    // Ordinary queries still work.
    expect_data(&app.anon("{ __typename }", json!({})).await);
}

#[tokio::test]
async fn production_mode_suggests_no_field_names() {
    let app = production_app().await;
    let resp = app
        .as_admin(
            "{ ordr(id: \"x\") { id } custmers { totalCount } }",
            json!({}),
        )
        .await;
    assert!(!top_level_errors(&resp).is_empty());
    let text = resp.to_string();
    assert!(!text.contains("Did you mean"), "{text}");
    assert!(
        !text.contains("\"order\"") && !text.contains("customers"),
        "{text}"
    );

    // A development server does suggest, so the test above is not vacuous.
    let dev = app.spawn_another().await;
    let resp = dev.as_admin("{ custmers { totalCount } }", json!({})).await;
    assert!(
        resp.to_string().contains("Did you mean"),
        "{}",
        pretty(&resp)
    );
}

#[tokio::test]
async fn production_mode_serves_no_graphiql() {
    let app = production_app().await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET /graphql");
    assert_eq!(response.status(), 404);
    let body = response.text().await.unwrap_or_default();
    assert!(!body.to_lowercase().contains("graphiql.min"), "{body}");
}

#[tokio::test]
async fn production_mode_refuses_the_development_secret() {
    let (_dir, url) = scratch_sqlite();
    let mut config = Config::for_tests(url.clone());
    config.production = true;
    config.jwt_secret = DEV_JWT_SECRET.into();
    let Err(e) = touchpoint::App::build(config).await else {
        panic!("production with the development secret must not start");
    };
    assert!(e.to_string().contains("development JWT secret"), "{e}");

    // The real command line too: it exits with the reason, without serving.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_touchpoint"))
        .args([
            "serve",
            "--production",
            "--listen",
            "127.0.0.1:0",
            "--no-demo",
        ])
        .env("DATABASE_URL", &url)
        .env_remove("TOUCHPOINT_JWT_SECRET")
        .output()
        .await
        .expect("run touchpoint");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("development JWT secret"), "{stderr}");
}

/// Words that would tell a client about the server's insides.
const INSIDES: &[&str] = &[
    "SELECT",
    "select ",
    "sqlx",
    "sea_orm",
    "sqlite",
    "SQLITE",
    "postgres",
    "relation",
    "no such table",
    "panicked",
    "src/",
    ".rs:",
    "/home",
    "/root",
    "/tmp",
    "backtrace",
    "stack backtrace",
    "DbErr",
];

#[track_caller]
fn assert_tells_nothing(resp: &Value) {
    let text = resp["errors"].to_string();
    for word in INSIDES {
        assert!(
            !text.contains(word),
            "an error leaks {word:?}: {}",
            pretty(resp)
        );
    }
}

#[tokio::test]
async fn production_errors_never_carry_sql_paths_or_internals() {
    let app = production_app().await;
    upsert_product(
        &app,
        json!({ "sku": "LEAK-1", "name": "Lamp", "price": { "amount": "5.00", "currencyCode": "EUR" } }),
    )
    .await;
    // The database breaks under the server: a table it reads is gone (renamed away).
    let db = sea_orm::Database::connect(app.database_url())
        .await
        .expect("connect to the test database");
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        "ALTER TABLE products RENAME TO products_gone",
    )
    .await
    .expect("rename a table");
    let resp = app
        .anon(r#"{ products(skus: ["LEAK-1"]) { sku name } }"#, json!({}))
        .await;
    assert_tells_nothing(&resp);
    assert_error_code(&resp, "INTERNAL");
    assert_eq!(top_level_errors(&resp)[0]["message"], "internal error");

    let orders = app
        .as_agent(
            r#"{ node(id: "T3JkZXI6OTk5") { id } search: customers(first: 3, query: "x'; DROP TABLE orders; --") { totalCount } }"#,
            json!({}),
        )
        .await;
    assert_tells_nothing(&orders);

    // Malformed requests of every kind.
    for query in [
        "{ products(skus: [\"LEAK-1\"]) { sku ",
        "{ products(skus: 5) { sku } }",
        "mutation { upsertProduct(input: {}) { product { sku } } }",
        "{ node(id: \"%%%\") { id } }",
        "{ order(id: \"T3JkZXI6LTE=\") { id } }",
        "query($a: Int!) { products(skus: []) { sku } }",
    ] {
        let resp = app.as_admin(query, json!({})).await;
        assert!(!top_level_errors(&resp).is_empty(), "{query}");
        assert_tells_nothing(&resp);
    }
    assert_still_serving(&app).await;
}
