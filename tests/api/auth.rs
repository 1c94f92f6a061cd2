//! Who may call what: missing, bad and foreign tokens, and roles without the right.
//!
//! Hand-made tokens use `jsonwebtoken`, a normal dependency of the crate (integration tests may
//! use those as well as dev-dependencies).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use touchpoint::auth::{Role, mint_token};

use crate::fixtures::{OrderBuilder, ProductBuilder, USER_ERRORS};
use crate::harness::{TestApp, assert_error_code, expect_data};

const CUSTOMERS: &str = "{ customers(first: 5) { totalCount } }";
const ME: &str = "{ me { id email } }";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims as DESIGN.md describes them, for an agent, valid for an hour.
fn agent_claims() -> Value {
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
async fn a_garbage_token_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let resp = app.gql(Some("not-a-jwt"), CUSTOMERS, json!({})).await;
    assert_error_code(&resp, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let token = mint_token(
        "other-secret",
        Role::Agent,
        "agent-1",
        Duration::from_secs(3600),
    );
    assert_error_code(
        &app.gql(Some(&token), CUSTOMERS, json!({})).await,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn a_handmade_token_with_the_documented_claims_is_accepted() {
    // The control for the refusals below: the same claims, correctly signed, work.
    let app = TestApp::spawn().await;
    let token = sign(Algorithm::HS256, &app.jwt_secret, &agent_claims());
    let resp = app.gql(Some(&token), CUSTOMERS, json!({})).await;
    assert_eq!(expect_data(&resp)["customers"]["totalCount"], 0);
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let mut claims = agent_claims();
    claims["iat"] = json!(now() - 7200);
    claims["exp"] = json!(now() - 3600);
    let token = sign(Algorithm::HS256, &app.jwt_secret, &claims);
    assert_error_code(
        &app.gql(Some(&token), CUSTOMERS, json!({})).await,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn a_token_with_alg_none_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(agent_claims().to_string());
    let token = format!("{header}.{claims}.");
    assert_error_code(
        &app.gql(Some(&token), CUSTOMERS, json!({})).await,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn a_token_signed_with_another_algorithm_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let token = sign(Algorithm::HS512, &app.jwt_secret, &agent_claims());
    assert_error_code(
        &app.gql(Some(&token), CUSTOMERS, json!({})).await,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn a_token_with_the_wrong_issuer_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let mut claims = agent_claims();
    claims["iss"] = json!("someone-else");
    let token = sign(Algorithm::HS256, &app.jwt_secret, &claims);
    assert_error_code(
        &app.gql(Some(&token), CUSTOMERS, json!({})).await,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn a_token_with_the_wrong_audience_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let mut claims = agent_claims();
    claims["aud"] = json!("another-api");
    let token = sign(Algorithm::HS256, &app.jwt_secret, &claims);
    assert_error_code(
        &app.gql(Some(&token), CUSTOMERS, json!({})).await,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn a_token_with_an_unknown_role_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let mut claims = agent_claims();
    claims["role"] = json!("superuser");
    let token = sign(Algorithm::HS256, &app.jwt_secret, &claims);
    assert_error_code(
        &app.gql(Some(&token), CUSTOMERS, json!({})).await,
        "UNAUTHENTICATED",
    );
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

#[tokio::test]
async fn a_token_not_valid_before_a_future_time_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let mut claims = agent_claims();
    claims["nbf"] = json!(now() + 600);
    let early = sign(Algorithm::HS256, "test-secret", &claims);
    assert_error_code(
        &app.gql(Some(&early), CUSTOMERS, json!({})).await,
        "UNAUTHENTICATED",
    );
    // The same token without the future `nbf` is fine: the refusal is about `nbf` alone.
    claims["nbf"] = json!(now() - 60);
    let current = sign(Algorithm::HS256, "test-secret", &claims);
    expect_data(&app.gql(Some(&current), CUSTOMERS, json!({})).await);
}
