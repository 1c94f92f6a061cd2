//! Who may call what: missing tokens, and roles without the right. Bad and foreign tokens are
//! in `tokens.rs`.
//!
//! Hand-made tokens use `jsonwebtoken`, a normal dependency of the crate (integration tests may
//! use those as well as dev-dependencies).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::fixtures::{OrderBuilder, ProductBuilder, USER_ERRORS};
use crate::harness::{TestApp, assert_error_code, expect_data};

const CUSTOMERS: &str = "{ customers(first: 5) { totalCount } }";
const ME: &str = "{ me { id email } }";

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims as DESIGN.md describes them, for an agent, valid for an hour.
pub(crate) fn agent_claims() -> Value {
    json!({
        "sub": "agent-handmade",
        "role": "agent",
        "iat": now(),
        "exp": now() + 3600,
        "iss": "touchpoint",
        "aud": "touchpoint-api",
    })
}

fn sign(algorithm: Algorithm, secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign a token")
}

#[tokio::test]
async fn me_without_a_token_is_unauthenticated() {
    let app = TestApp::spawn().await;
    assert_error_code(&app.anon(ME, json!({})).await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn customers_without_a_token_is_unauthenticated() {
    let app = TestApp::spawn().await;
    assert_error_code(&app.anon(CUSTOMERS, json!({})).await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_customer_cannot_upsert_products() {
    let app = TestApp::spawn().await;
    let customer = app
        .create_customer(json!({ "email": "c@example.test" }))
        .await;
    let token = app.customer_token(customer["id"].as_str().unwrap());
    let resp = app
        .gql(
            Some(&token),
            &format!("mutation($input: UpsertProductInput!) {{ upsertProduct(input: $input) {{ product {{ sku }} {USER_ERRORS} }} }}"),
            json!({ "input": ProductBuilder::new("SKU-X").input() }),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
    let products = app
        .as_service("{ products(skus: [\"SKU-X\"]) { sku } }", json!({}))
        .await;
    assert_eq!(
        expect_data(&products)["products"],
        json!([]),
        "nothing was written"
    );
}

#[tokio::test]
async fn an_agent_cannot_upsert_products() {
    let app = TestApp::spawn().await;
    let resp = app
        .as_agent(
            &format!("mutation($input: UpsertProductInput!) {{ upsertProduct(input: $input) {{ product {{ sku }} {USER_ERRORS} }} }}"),
            json!({ "input": ProductBuilder::new("SKU-X").input() }),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
}

#[tokio::test]
async fn marketing_cannot_list_customers() {
    let app = TestApp::spawn().await;
    assert_error_code(&app.as_marketing(CUSTOMERS, json!({})).await, "FORBIDDEN");
}

#[tokio::test]
async fn a_customer_cannot_list_customers() {
    let app = TestApp::spawn().await;
    let customer = app
        .create_customer(json!({ "email": "c@example.test" }))
        .await;
    let resp = app
        .as_customer(customer["id"].as_str().unwrap(), CUSTOMERS, json!({}))
        .await;
    assert_error_code(&resp, "FORBIDDEN");
}

#[tokio::test]
async fn an_admin_can_list_customers() {
    let app = TestApp::spawn().await;
    app.create_customer(json!({ "email": "c@example.test" }))
        .await;
    let resp = app.as_admin(CUSTOMERS, json!({})).await;
    assert_eq!(expect_data(&resp)["customers"]["totalCount"], 1);
}

#[tokio::test]
async fn anonymous_cannot_place_orders() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new().line("SKU-1", 1);
    assert_error_code(&order.place_with(&app, None).await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_customer_cannot_place_orders() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let customer = app
        .create_customer(json!({ "email": "shopper@example.test" }))
        .await;
    let token = app.customer_token(customer["id"].as_str().unwrap());
    let order = OrderBuilder::new().line("SKU-1", 1);
    assert_error_code(&order.place_with(&app, Some(&token)).await, "FORBIDDEN");
    assert_eq!(
        app.order_by_channel_ref(
            "WEB",
            order.input()["channelOrderRef"].as_str().unwrap(),
            None
        )
        .await,
        Value::Null
    );
}

#[tokio::test]
async fn marketing_cannot_place_orders() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new().line("SKU-1", 1);
    assert_error_code(
        &order.place_with(&app, Some(&app.marketing_token())).await,
        "FORBIDDEN",
    );
}

/// A service token limited by a `scope` claim.
fn scoped_service_token(app: &TestApp, scope: &str) -> String {
    let mut claims = agent_claims();
    claims["role"] = json!("service");
    claims["sub"] = json!("pos-till");
    claims["scope"] = json!(scope);
    sign(Algorithm::HS256, &app.jwt_secret, &claims)
}

const UPSERT_PRODUCT: &str = "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { product { sku } userErrors { code } } }";

#[tokio::test]
async fn a_service_token_scoped_to_stock_cannot_edit_the_catalogue() {
    let app = TestApp::spawn().await;
    let token = scoped_service_token(&app, "stock");
    let resp = app
        .gql(
            Some(&token),
            UPSERT_PRODUCT,
            json!({ "input": ProductBuilder::new("SKU-X").input() }),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
}

#[tokio::test]
async fn a_service_token_scoped_to_the_catalogue_may_edit_it() {
    let app = TestApp::spawn().await;
    let token = scoped_service_token(&app, "catalog stock");
    let resp = app
        .gql(
            Some(&token),
            UPSERT_PRODUCT,
            json!({ "input": ProductBuilder::new("SKU-X").input() }),
        )
        .await;
    assert_eq!(
        expect_data(&resp)["upsertProduct"]["product"]["sku"],
        "SKU-X"
    );
}
