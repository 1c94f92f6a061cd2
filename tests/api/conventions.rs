//! The contract's conventions: opaque global IDs and `node`, IDs that are malformed or of
//! the wrong type, money at the currency's scale, and UTC date-times.

use serde_json::{Value, json};

use crate::fixtures::{OrderBuilder, ProductBuilder, seed, str_of};
use crate::harness::{
    TestApp, assert_error_code, assert_not_internal, expect_data, pretty, top_level_errors,
};

/// One placed order, and the IDs of one object of each type.
struct Ids {
    customer: String,
    order: String,
    line: String,
    product: String,
    location: String,
}

async fn placed_order_ids(app: &TestApp) -> Ids {
    app.seed_catalog().await;
    let order = OrderBuilder::new().line(seed::SHIRT, 1).place_ok(app).await;
    let catalogue = app
        .as_service(
            r#"{ products(skus: ["SKU-1"]) { id } locations { id code } }"#,
            json!({}),
        )
        .await;
    let data = expect_data(&catalogue);
    Ids {
        customer: str_of(&order["customer"]["id"], "customer id").to_string(),
        order: str_of(&order["id"], "order id").to_string(),
        line: str_of(&order["lines"][0]["id"], "line id").to_string(),
        product: str_of(&data["products"][0]["id"], "product id").to_string(),
        location: str_of(&data["locations"][0]["id"], "location id").to_string(),
    }
}

const NODE: &str = "query($id: ID!) { node(id: $id) { __typename id
    ... on Customer { email }
    ... on Order { number }
    ... on OrderLine { sku }
    ... on Product { sku }
    ... on Location { code } } }";

#[tokio::test]
async fn global_ids_are_opaque_and_differ_across_types() {
    let app = TestApp::spawn().await;
    let ids = placed_order_ids(&app).await;
    let all = [
        &ids.customer,
        &ids.order,
        &ids.line,
        &ids.product,
        &ids.location,
    ];
    for id in all {
        assert!(
            id.parse::<i64>().is_err(),
            "an ID must not be a plain integer: {id}"
        );
        assert!(!id.is_empty());
    }
    // The first row of each table shares a database key; their global IDs must still differ.
    let mut distinct: Vec<&String> = all.to_vec();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), all.len(), "IDs encode their type: {all:?}");
}

#[tokio::test]
async fn node_returns_each_implemented_type() {
    let app = TestApp::spawn().await;
    let ids = placed_order_ids(&app).await;
    for (id, typename) in [
        (&ids.customer, "Customer"),
        (&ids.order, "Order"),
        (&ids.line, "OrderLine"),
        (&ids.product, "Product"),
        (&ids.location, "Location"),
    ] {
        let resp = app.as_agent(NODE, json!({ "id": id })).await;
        let node = &expect_data(&resp)["node"];
        assert_eq!(node["__typename"], typename, "{}", pretty(&resp));
        assert_eq!(node["id"], id.as_str());
    }
}

#[tokio::test]
async fn node_of_another_customers_order_reads_as_null() {
    let app = TestApp::spawn().await;
    let ids = placed_order_ids(&app).await;
    let stranger = app
        .create_customer(json!({ "email": "stranger@example.test" }))
        .await;
    let stranger = str_of(&stranger["id"], "customer id");
    for id in [&ids.order, &ids.line, &ids.customer] {
        let resp = app.as_customer(stranger, NODE, json!({ "id": id })).await;
        assert_eq!(
            expect_data(&resp)["node"],
            Value::Null,
            "{id} is not the stranger's: {}",
            pretty(&resp)
        );
    }
}

#[tokio::test]
async fn node_of_a_missing_object_reads_as_null() {
    let app = TestApp::spawn().await;
    let ids = placed_order_ids(&app).await;
    // The same type as a real order, from another database: a well-formed ID that matches nothing.
    let other = app.spawn_another().await;
    other.seed_catalog().await;
    for _ in 0..3 {
        OrderBuilder::new()
            .line(seed::SHIRT, 1)
            .place_ok(&other)
            .await;
    }
    let third = other
        .as_agent(
            "{ customers { edges { node { orders { edges { node { id } } } } } } }",
            json!({}),
        )
        .await;
    let missing =
        expect_data(&third)["customers"]["edges"][0]["node"]["orders"]["edges"][0]["node"]["id"]
            .clone();
    assert_ne!(missing.as_str(), Some(ids.order.as_str()));
    let resp = app.as_agent(NODE, json!({ "id": missing })).await;
    assert_eq!(expect_data(&resp)["node"], Value::Null, "{}", pretty(&resp));
}

#[tokio::test]
async fn a_malformed_id_is_bad_user_input_never_internal() {
    let app = TestApp::spawn().await;
    placed_order_ids(&app).await;
    for malformed in ["not-an-id", "%%%", "", "1", "T3JkZXI6bm90LWEtbnVtYmVy"] {
        for query in [
            "query($id: ID!) { node(id: $id) { id } }",
            "query($id: ID!) { order(id: $id) { id } }",
            "query($id: ID!) { customer(id: $id) { id } }",
        ] {
            let resp = app.as_agent(query, json!({ "id": malformed })).await;
            assert_not_internal(&resp);
            if top_level_errors(&resp).is_empty() {
                let data = expect_data(&resp);
                let value = data
                    .as_object()
                    .and_then(|o| o.values().next())
                    .cloned()
                    .unwrap_or(Value::Null);
                assert_eq!(
                    value,
                    Value::Null,
                    "{malformed:?} must not find anything: {}",
                    pretty(&resp)
                );
            } else {
                assert_error_code(&resp, "BAD_USER_INPUT");
            }
        }
    }
}

#[tokio::test]
async fn an_id_of_the_wrong_type_reads_as_null() {
    let app = TestApp::spawn().await;
    let ids = placed_order_ids(&app).await;

    let resp = app
        .as_agent(
            "query($id: ID!) { order(id: $id) { id } }",
            json!({ "id": ids.customer }),
        )
        .await;
    assert_eq!(expect_data(&resp)["order"], Value::Null);
    let resp = app
        .as_agent(
            "query($id: ID!) { customer(id: $id) { id } }",
            json!({ "id": ids.order }),
        )
        .await;
    assert_eq!(expect_data(&resp)["customer"], Value::Null);
    let resp = app
        .as_agent(
            "query($id: ID!) { order(id: $id) { id } }",
            json!({ "id": ids.line }),
        )
        .await;
    assert_eq!(expect_data(&resp)["order"], Value::Null);
}

#[tokio::test]
async fn money_is_printed_at_the_currency_minor_unit_scale() {
    let app = TestApp::spawn().await;
    let product = ProductBuilder::new("SKU-1")
        .price("19.9", "EUR")
        .create(&app)
        .await;
    assert_eq!(
        product["price"],
        json!({ "amount": "19.90", "currencyCode": "EUR" })
    );
    let whole = ProductBuilder::new("SKU-2")
        .price("20", "EUR")
        .create(&app)
        .await;
    assert_eq!(whole["price"]["amount"], "20.00");
}

#[tokio::test]
async fn yen_amounts_have_no_minor_units() {
    let app = TestApp::spawn().await;
    let product = ProductBuilder::new("SKU-JP")
        .price("1500", "JPY")
        .create(&app)
        .await;
    assert_eq!(
        product["price"],
        json!({ "amount": "1500", "currencyCode": "JPY" })
    );
}

#[tokio::test]
async fn order_totals_are_printed_at_the_currency_scale() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line_priced(seed::SHIRT, 3, "10.1", "EUR")
        .shipping_cost("5", "EUR")
        .place_ok(&app)
        .await;
    assert_eq!(order["lines"][0]["unitPrice"]["amount"], "10.10");
    assert_eq!(order["lines"][0]["total"]["amount"], "30.30");
    assert_eq!(order["totals"]["subtotal"]["amount"], "30.30");
    assert_eq!(order["totals"]["shipping"]["amount"], "5.00");
    assert_eq!(order["totals"]["total"]["amount"], "35.30");
}

#[tokio::test]
async fn date_times_are_printed_in_utc_with_a_z() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .placed_at("2026-03-01T10:30:00+01:00")
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let placed_at = str_of(&order["placedAt"], "placedAt");
    assert!(placed_at.ends_with('Z'), "DateTime ends in Z: {placed_at}");
    let parsed = chrono::DateTime::parse_from_rfc3339(placed_at).expect("RFC 3339");
    let expected = chrono::DateTime::parse_from_rfc3339("2026-03-01T09:30:00Z").unwrap();
    assert_eq!(parsed, expected, "the same instant, in UTC");
}

#[tokio::test]
async fn date_times_default_to_now_in_utc() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let placed_at = str_of(&order["placedAt"], "placedAt");
    assert!(placed_at.ends_with('Z'), "DateTime ends in Z: {placed_at}");
    let parsed = chrono::DateTime::parse_from_rfc3339(placed_at).expect("RFC 3339");
    let age = chrono::Utc::now().signed_duration_since(parsed);
    assert!(
        age.num_seconds().abs() < 120,
        "placedAt defaults to now: {placed_at}"
    );
}
