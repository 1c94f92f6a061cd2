//! The catalogue and the locations: upserts, who reads what, and refused inputs.

use serde_json::json;

use crate::fixtures::{LocationBuilder, ProductBuilder, upsert_location, upsert_product};
use crate::harness::{
    TestApp, assert_bad_input_or_user_error, assert_clean_error, assert_user_error_at, expect_data,
    expect_ok,
};

#[tokio::test]
async fn upsert_product_creates_then_updates_the_same_sku() {
    let app = TestApp::spawn().await;
    let created = ProductBuilder::new("SKU-1")
        .name("Linen shirt")
        .price("19.90", "EUR")
        .create(&app)
        .await;
    assert_eq!(created["sku"], "SKU-1");
    assert_eq!(created["name"], "Linen shirt");

    let updated = ProductBuilder::new("SKU-1")
        .name("Linen shirt, blue")
        .price("24.90", "EUR")
        .create(&app)
        .await;
    assert_eq!(
        updated["id"], created["id"],
        "the same sku is the same product"
    );
    assert_eq!(updated["name"], "Linen shirt, blue");
    assert_eq!(
        updated["price"],
        json!({ "amount": "24.90", "currencyCode": "EUR" })
    );

    let resp = app
        .anon(r#"{ products(skus: ["SKU-1"]) { id name } }"#, json!({}))
        .await;
    assert_eq!(
        expect_data(&resp)["products"],
        json!([{ "id": created["id"], "name": "Linen shirt, blue" }])
    );
}

#[tokio::test]
async fn anonymous_callers_read_products_by_sku() {
    let app = TestApp::spawn().await;
    ProductBuilder::new("SKU-1")
        .name("Linen shirt")
        .price("19.90", "EUR")
        .create(&app)
        .await;
    ProductBuilder::new("SKU-2")
        .name("Canvas tote")
        .price("12.50", "EUR")
        .create(&app)
        .await;

    let resp = app
        .anon(r#"{ products(skus: ["SKU-2"]) { sku name returnable price { amount currencyCode } } }"#, json!({}))
        .await;
    assert_eq!(
        expect_data(&resp)["products"],
        json!([{ "sku": "SKU-2", "name": "Canvas tote", "returnable": true,
                 "price": { "amount": "12.50", "currencyCode": "EUR" } }])
    );
}

#[tokio::test]
async fn anonymous_callers_must_name_the_skus() {
    let app = TestApp::spawn().await;
    ProductBuilder::new("SKU-1").create(&app).await;
    let resp = app.anon("{ products { sku } }", json!({})).await;
    assert_clean_error(&resp);
}

#[tokio::test]
async fn a_service_lists_every_product() {
    let app = TestApp::spawn().await;
    ProductBuilder::new("SKU-1").create(&app).await;
    ProductBuilder::new("SKU-2").create(&app).await;
    let resp = app.as_service("{ products { sku } }", json!({})).await;
    let mut skus: Vec<_> = expect_data(&resp)["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_string())
        .collect();
    skus.sort();
    assert_eq!(skus, ["SKU-1", "SKU-2"]);
}

#[tokio::test]
async fn upsert_location_creates_then_updates_the_same_code() {
    let app = TestApp::spawn().await;
    let created = LocationBuilder::store("ST-1")
        .at(52.37, 4.9)
        .create(&app)
        .await;
    assert_eq!(created["code"], "ST-1");
    assert_eq!(created["kind"], "STORE");
    assert_eq!(created["pickupPoint"], true);
    assert_eq!(created["returnPoint"], true);
    assert_eq!(
        created["location"],
        json!({ "latitude": 52.37, "longitude": 4.9 })
    );
    assert_eq!(
        created["shippingCost"],
        json!({ "amount": "4.95", "currencyCode": "EUR" })
    );
    assert_eq!(created["handlingDays"], 1);

    let updated = LocationBuilder::store("ST-1")
        .pickup_point(false)
        .create(&app)
        .await;
    assert_eq!(
        updated["id"], created["id"],
        "the same code is the same location"
    );
    assert_eq!(updated["pickupPoint"], false);
}

#[tokio::test]
async fn anonymous_callers_see_only_pickup_and_return_points() {
    let app = TestApp::spawn().await;
    LocationBuilder::warehouse("WH-1").create(&app).await;
    LocationBuilder::store("ST-1").create(&app).await;
    LocationBuilder::new("RP-1", "THIRD_PARTY_LOGISTICS")
        .return_point(true)
        .create(&app)
        .await;
    LocationBuilder::new("PU-1", "STORE")
        .pickup_point(true)
        .create(&app)
        .await;

    let resp = app.anon("{ locations { code } }", json!({})).await;
    let mut seen = codes_of(&expect_data(&resp)["locations"]);
    seen.sort();
    assert_eq!(
        seen,
        ["PU-1", "RP-1", "ST-1"],
        "the warehouse is hidden from storefronts"
    );
}

#[tokio::test]
async fn a_service_sees_every_location() {
    let app = TestApp::spawn().await;
    LocationBuilder::warehouse("WH-1").create(&app).await;
    LocationBuilder::store("ST-1").create(&app).await;

    let resp = app.as_service("{ locations { code } }", json!({})).await;
    let mut seen = codes_of(&expect_data(&resp)["locations"]);
    seen.sort();
    assert_eq!(seen, ["ST-1", "WH-1"]);
}

fn codes_of(locations: &serde_json::Value) -> Vec<String> {
    locations
        .as_array()
        .expect("a list of locations")
        .iter()
        .map(|l| l["code"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn upsert_product_refuses_a_price_that_is_not_a_number() {
    let app = TestApp::spawn().await;
    let resp = upsert_product(
        &app,
        ProductBuilder::new("SKU-1").price("abc", "EUR").input(),
    )
    .await;
    assert_bad_input_or_user_error(&resp, "upsertProduct", &["INVALID"]);
    let products = app
        .as_service(r#"{ products(skus: ["SKU-1"]) { sku } }"#, json!({}))
        .await;
    assert_eq!(
        expect_data(&products)["products"],
        json!([]),
        "nothing was written"
    );
}

#[tokio::test]
async fn upsert_product_refuses_a_negative_price() {
    let app = TestApp::spawn().await;
    let resp = upsert_product(
        &app,
        ProductBuilder::new("SKU-1").price("-1.00", "EUR").input(),
    )
    .await;
    assert_user_error_at(&resp, "upsertProduct", &["INVALID"], &["price"]);
    let products = app
        .as_service(r#"{ products(skus: ["SKU-1"]) { sku } }"#, json!({}))
        .await;
    assert_eq!(
        expect_data(&products)["products"],
        json!([]),
        "nothing was written"
    );
}

#[tokio::test]
async fn upsert_product_refuses_an_empty_sku() {
    let app = TestApp::spawn().await;
    let resp = upsert_product(&app, ProductBuilder::new("").input()).await;
    assert_user_error_at(&resp, "upsertProduct", &["INVALID"], &["sku"]);
    let products = app.as_service("{ products { sku } }", json!({})).await;
    assert_eq!(
        expect_data(&products)["products"],
        json!([]),
        "nothing was written"
    );
}

#[tokio::test]
async fn upsert_location_refuses_an_empty_code() {
    let app = TestApp::spawn().await;
    let resp = upsert_location(&app, LocationBuilder::store("").input()).await;
    assert_user_error_at(&resp, "upsertLocation", &["INVALID"], &["code"]);
}

#[tokio::test]
async fn upsert_location_refuses_an_impossible_latitude() {
    let app = TestApp::spawn().await;
    let resp = upsert_location(&app, LocationBuilder::store("ST-1").at(123.0, 4.9).input()).await;
    assert_user_error_at(&resp, "upsertLocation", &["INVALID"], &["location"]);
    let locations = app.as_service("{ locations { code } }", json!({})).await;
    assert_eq!(
        expect_data(&locations)["locations"],
        json!([]),
        "nothing was written"
    );
}

#[tokio::test]
async fn upsert_product_returns_the_product_with_its_fields() {
    let app = TestApp::spawn().await;
    let mut input = ProductBuilder::new("SKU-9")
        .name("Wool scarf")
        .price("35.00", "EUR")
        .input();
    input["category"] = json!("Accessories");
    input["returnable"] = json!(false);
    input["relatedSkus"] = json!(["SKU-1", "SKU-2"]);
    let resp = upsert_product(&app, input).await;
    let product = &expect_ok(&resp, "upsertProduct")["product"];
    assert_eq!(product["category"], "Accessories");
    assert_eq!(product["returnable"], false);
    assert_eq!(product["relatedSkus"], json!(["SKU-1", "SKU-2"]));
}
