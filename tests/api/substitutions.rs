//! Substitutions: a store proposes a replacement for a line it cannot pick; the customer (or an
//! agent for her, with a reason) accepts or declines before the goods leave.

use serde_json::{Value, json};

use crate::fixtures::{
    OrderBuilder, USER_ERRORS, nodes, only_shipment, seed, str_of, tracking_number,
};
use crate::harness::{
    TestApp, assert_error_code, assert_user_error, expect_data, expect_ok, payload, pretty,
};

const SUBSTITUTION_FIELDS: &str = "id status quantity substituteSku substituteName
    unitPrice { amount currencyCode } proposedAt respondedAt line { id sku }";

fn propose_mutation() -> String {
    format!(
        "mutation($input: ProposeSubstitutionInput!) {{ proposeSubstitution(input: $input) {{
            substitution {{ {SUBSTITUTION_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

fn respond_mutation() -> String {
    format!(
        "mutation($input: RespondToSubstitutionInput!) {{ respondToSubstitution(input: $input) {{
            substitution {{ {SUBSTITUTION_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

fn money(amount: &str) -> Value {
    json!({ "amount": amount, "currencyCode": "EUR" })
}

/// A click-and-collect order of two shirts (19.90 each) at ST-1, read with its shipments.
async fn collect_two_shirts(app: &TestApp) -> Value {
    app.seed_catalog().await;
    app.place_fulfilment(
        &OrderBuilder::new()
            .collect_at(seed::STORE_A)
            .line(seed::SHIRT, 2),
    )
    .await
}

/// Two totes (12.50) for the shirt line.
fn tote_for(order: &Value) -> Value {
    json!({
        "orderLineId": order["lines"][0]["id"],
        "substituteSku": seed::TOTE,
        "substituteName": "Canvas tote",
        "quantity": 2,
        "unitPrice": money("12.50"),
    })
}

async fn propose_with(app: &TestApp, token: Option<&str>, input: Value) -> Value {
    app.gql(token, &propose_mutation(), json!({ "input": input }))
        .await
}

async fn propose(app: &TestApp, input: Value) -> Value {
    propose_with(app, Some(&app.service_token()), input).await
}

async fn propose_ok(app: &TestApp, order: &Value) -> Value {
    let resp = propose(app, tote_for(order)).await;
    expect_ok(&resp, "proposeSubstitution")["substitution"].clone()
}

async fn respond_with(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(Some(token), &respond_mutation(), json!({ "input": input }))
        .await
}

fn customer_token(app: &TestApp, order: &Value) -> String {
    app.customer_token(str_of(&order["customer"]["id"], "customer id"))
}

async fn order_substitutions(app: &TestApp, token: &str, order: &Value) -> Value {
    let resp = app
        .gql(
            Some(token),
            &format!("query($id: ID!) {{ order(id: $id) {{ substitutions {{ {SUBSTITUTION_FIELDS} }} }} }}"),
            json!({ "id": order["id"] }),
        )
        .await;
    expect_data(&resp)["order"]["substitutions"].clone()
}

// ---------------------------------------------------------------------- proposing

#[tokio::test]
async fn a_store_proposes_a_substitution_for_a_line_not_yet_shipped() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let substitution = propose_ok(&app, &order).await;
    assert_eq!(
        substitution["status"],
        "PROPOSED",
        "{}",
        pretty(&substitution)
    );
    assert_eq!(substitution["substituteSku"], seed::TOTE);
    assert_eq!(substitution["substituteName"], "Canvas tote");
    assert_eq!(substitution["quantity"], 2);
    assert_eq!(substitution["unitPrice"], money("12.50"));
    assert_eq!(substitution["line"]["id"], order["lines"][0]["id"]);
    assert_eq!(substitution["respondedAt"], Value::Null);

    let listed = order_substitutions(&app, &customer_token(&app, &order), &order).await;
    assert_eq!(
        listed
            .as_array()
            .map(|l| l.iter().map(|s| s["id"].clone()).collect::<Vec<_>>()),
        Some(vec![substitution["id"].clone()]),
        "the customer sees it on her order: {}",
        pretty(&listed)
    );
}

#[tokio::test]
async fn a_substitution_may_be_proposed_while_picking() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    app.move_shipment(&only_shipment(&order)["id"], "PICKING")
        .await;
    let substitution = propose_ok(&app, &order).await;
    assert_eq!(substitution["status"], "PROPOSED");
}

#[tokio::test]
async fn a_proposal_writes_a_substitution_proposed_entry_the_customer_sees() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    propose_ok(&app, &order).await;

    assert_eq!(
        app.order_entries(&order["id"], "SUBSTITUTION_PROPOSED")
            .await
            .len(),
        1
    );
    let resp = app
        .gql(
            Some(&customer_token(&app, &order)),
            "{ me { timeline(first: 50, kinds: [SUBSTITUTION_PROPOSED]) { edges { node { kind order { id } } } } } }",
            json!({}),
        )
        .await;
    let entries = nodes(&expect_data(&resp)["me"]["timeline"]);
    assert_eq!(entries.len(), 1, "{}", pretty(&resp));
    assert_eq!(entries[0]["order"]["id"], order["id"]);
}

#[tokio::test]
async fn a_substitution_for_a_dispatched_line_is_not_modifiable() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2))
        .await;
    app.dispatch(&only_shipment(&order)["id"], "PostNL", &tracking_number())
        .await;
    let resp = propose(&app, tote_for(&order)).await;
    assert_user_error(&resp, "proposeSubstitution", "NOT_MODIFIABLE");
    assert_eq!(
        payload(&resp, "proposeSubstitution")["substitution"],
        Value::Null
    );
    assert_eq!(
        order_substitutions(&app, &app.service_token(), &order).await,
        json!([])
    );
}

#[tokio::test]
async fn a_substitute_that_is_not_in_the_catalogue_is_invalid() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let mut input = tote_for(&order);
    input["substituteSku"] = json!("NO-SUCH-SKU");
    let resp = propose(&app, input).await;
    assert_user_error(&resp, "proposeSubstitution", "INVALID");
    assert_eq!(
        order_substitutions(&app, &app.service_token(), &order).await,
        json!([])
    );
}

#[tokio::test]
async fn a_customer_may_not_propose_a_substitution() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let resp = propose_with(&app, Some(&customer_token(&app, &order)), tote_for(&order)).await;
    assert_error_code(&resp, "FORBIDDEN");
}

// ---------------------------------------------------------------------- answering

#[tokio::test]
async fn an_accepted_substitution_changes_the_line_and_the_totals() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    assert_eq!(order["totals"]["subtotal"], money("39.80"));
    let substitution = propose_ok(&app, &order).await;

    let resp = respond_with(
        &app,
        &customer_token(&app, &order),
        json!({ "substitutionId": substitution["id"], "accept": true }),
    )
    .await;
    let answered = expect_ok(&resp, "respondToSubstitution")["substitution"].clone();
    assert_eq!(answered["status"], "ACCEPTED");
    assert!(answered["respondedAt"].is_string(), "{}", pretty(&answered));

    let order = app.fulfilment_order(&order["id"]).await;
    let line = &order["lines"][0];
    assert_eq!(line["sku"], seed::TOTE, "{}", pretty(&order));
    assert_eq!(line["name"], "Canvas tote");
    assert_eq!(line["unitPrice"], money("12.50"));
    assert_eq!(line["total"], money("25.00"));
    assert_eq!(line["quantityCancelled"], 0);
    assert_eq!(order["totals"]["subtotal"], money("25.00"));
}

#[tokio::test]
async fn a_declined_substitution_cancels_the_line() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let substitution = propose_ok(&app, &order).await;
    let resp = respond_with(
        &app,
        &customer_token(&app, &order),
        json!({ "substitutionId": substitution["id"], "accept": false }),
    )
    .await;
    let answered = expect_ok(&resp, "respondToSubstitution")["substitution"].clone();
    assert_eq!(answered["status"], "DECLINED");

    let order = app.fulfilment_order(&order["id"]).await;
    let line = &order["lines"][0];
    assert_eq!(line["sku"], seed::SHIRT, "the line keeps its product");
    assert_eq!(line["quantityCancelled"], 2, "{}", pretty(&order));
}

#[tokio::test]
async fn an_answer_writes_a_substitution_answered_entry() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let substitution = propose_ok(&app, &order).await;
    let resp = respond_with(
        &app,
        &customer_token(&app, &order),
        json!({ "substitutionId": substitution["id"], "accept": true }),
    )
    .await;
    expect_ok(&resp, "respondToSubstitution");
    assert_eq!(
        app.order_entries(&order["id"], "SUBSTITUTION_ANSWERED")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn an_agent_answers_for_the_customer_with_a_reason() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let substitution = propose_ok(&app, &order).await;
    let resp = respond_with(
        &app,
        &app.agent_token(),
        json!({
            "substitutionId": substitution["id"], "accept": true,
            "reason": "Customer agreed on the phone",
        }),
    )
    .await;
    let answered = expect_ok(&resp, "respondToSubstitution")["substitution"].clone();
    assert_eq!(answered["status"], "ACCEPTED");
}

#[tokio::test]
async fn an_agent_without_a_reason_is_invalid() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let substitution = propose_ok(&app, &order).await;
    let resp = respond_with(
        &app,
        &app.agent_token(),
        json!({ "substitutionId": substitution["id"], "accept": true }),
    )
    .await;
    assert_user_error(&resp, "respondToSubstitution", "INVALID");
    let listed = order_substitutions(&app, &app.agent_token(), &order).await;
    assert_eq!(
        listed[0]["status"],
        "PROPOSED",
        "unanswered: {}",
        pretty(&listed)
    );
}

#[tokio::test]
async fn another_customers_substitution_is_not_found() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let substitution = propose_ok(&app, &order).await;
    let eve = app.new_customer("eve@example.test").await;
    let resp = respond_with(
        &app,
        &app.customer_token(&eve),
        json!({ "substitutionId": substitution["id"], "accept": true }),
    )
    .await;
    assert_user_error(&resp, "respondToSubstitution", "NOT_FOUND");
    let order_read = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order_read["lines"][0]["sku"], seed::SHIRT);
}

#[tokio::test]
async fn a_substitution_answered_twice_is_not_modifiable() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let substitution = propose_ok(&app, &order).await;
    let token = customer_token(&app, &order);
    let first = respond_with(
        &app,
        &token,
        json!({ "substitutionId": substitution["id"], "accept": true }),
    )
    .await;
    expect_ok(&first, "respondToSubstitution");
    let second = respond_with(
        &app,
        &token,
        json!({ "substitutionId": substitution["id"], "accept": false }),
    )
    .await;
    assert_user_error(&second, "respondToSubstitution", "NOT_MODIFIABLE");
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(
        order["lines"][0]["sku"],
        seed::TOTE,
        "the first answer stands"
    );
    assert_eq!(order["lines"][0]["quantityCancelled"], 0);
}

#[tokio::test]
async fn an_accepted_substitution_reserves_the_substitute_instead() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let substitution = propose_ok(&app, &order).await;
    let resp = respond_with(
        &app,
        &customer_token(&app, &order),
        json!({ "substitutionId": substitution["id"], "accept": true }),
    )
    .await;
    expect_ok(&resp, "respondToSubstitution");
    assert_eq!(app.stock_at(seed::STORE_A, seed::SHIRT).await.reserved, 0);
    assert_eq!(app.stock_at(seed::STORE_A, seed::TOTE).await.reserved, 2);
    let order = app.fulfilment_order(&order["id"]).await;
    let shipment = only_shipment(&order);
    assert_eq!(
        shipment["lines"][0]["line"]["sku"],
        seed::TOTE,
        "{}",
        pretty(&order)
    );
    assert_eq!(shipment["lines"][0]["quantity"], 2);
}

#[tokio::test]
async fn a_declined_substitution_releases_the_reservation() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let substitution = propose_ok(&app, &order).await;
    let resp = respond_with(
        &app,
        &customer_token(&app, &order),
        json!({ "substitutionId": substitution["id"], "accept": false }),
    )
    .await;
    expect_ok(&resp, "respondToSubstitution");
    let stock = app.stock_at(seed::STORE_A, seed::SHIRT).await;
    assert_eq!((stock.on_hand, stock.reserved), (5, 0));
}

#[tokio::test]
async fn an_answer_after_the_line_left_is_not_modifiable() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(&OrderBuilder::new().line(seed::SHIRT, 2))
        .await;
    let substitution = propose_ok(&app, &order).await;
    app.dispatch(&only_shipment(&order)["id"], "PostNL", &tracking_number())
        .await;
    let resp = respond_with(
        &app,
        &customer_token(&app, &order),
        json!({ "substitutionId": substitution["id"], "accept": true }),
    )
    .await;
    assert_user_error(&resp, "respondToSubstitution", "NOT_MODIFIABLE");
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["lines"][0]["sku"], seed::SHIRT);
}

#[tokio::test]
async fn an_answer_against_a_stale_order_version_is_a_version_conflict() {
    let app = TestApp::spawn().await;
    let order = collect_two_shirts(&app).await;
    let substitution = propose_ok(&app, &order).await;
    let version = app.fulfilment_order(&order["id"]).await["version"]
        .as_i64()
        .expect("version");
    let resp = respond_with(
        &app,
        &customer_token(&app, &order),
        json!({ "substitutionId": substitution["id"], "accept": true, "expectedVersion": version - 1 }),
    )
    .await;
    assert_user_error(&resp, "respondToSubstitution", "VERSION_CONFLICT");
    let order = app.fulfilment_order(&order["id"]).await;
    assert_eq!(order["lines"][0]["sku"], seed::SHIRT);
}
