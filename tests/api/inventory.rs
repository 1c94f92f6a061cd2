//! Stock: counts, movements, availability per role, and the refusals that keep it consistent.

use serde_json::{Value, json};

use crate::fixtures::{LocationBuilder, OrderBuilder, ProductBuilder, Stock, USER_ERRORS};
use crate::harness::{
    TestApp, assert_user_error, assert_user_error_at, expect_data, expect_ok, pretty,
};

const SKU: &str = "INV-1";

/// One product stocked at one warehouse (10 on hand) and a store that holds none.
async fn stocked_app() -> TestApp {
    let app = TestApp::spawn().await;
    ProductBuilder::new(SKU)
        .name("Enamel mug")
        .price("9.50", "EUR")
        .create(&app)
        .await;
    LocationBuilder::warehouse("WH-1")
        .at(51.92, 4.48)
        .create(&app)
        .await;
    LocationBuilder::store("ST-1")
        .at(52.37, 4.90)
        .create(&app)
        .await;
    app.set_stock("WH-1", SKU, 10).await;
    app
}

async fn set_stock_level(app: &TestApp, input: Value) -> Value {
    app.as_service(
        &format!(
            "mutation($input: SetStockLevelInput!) {{ setStockLevel(input: $input) {{
                stockLevel {{ sku onHand reserved available location {{ code }} }} {USER_ERRORS} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

async fn adjust_stock_level(app: &TestApp, input: Value) -> Value {
    app.as_service(
        &format!(
            "mutation($input: AdjustStockLevelInput!) {{ adjustStockLevel(input: $input) {{
                stockLevel {{ sku onHand reserved available location {{ code }} }} {USER_ERRORS} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

fn adjust(delta: i64, key: Option<&str>) -> Value {
    json!({ "locationCode": "WH-1", "sku": SKU, "delta": delta, "reason": "cycle count", "idempotencyKey": key })
}

/// Reserves `quantity` at WH-1 by placing a WEB order.
async fn reserve(app: &TestApp, quantity: i64) {
    OrderBuilder::new().line(SKU, quantity).place_ok(app).await;
}

const AVAILABILITY: &str = "query($skus: [String!]!, $near: GeoPointInput) {
    availability(skus: $skus, near: $near) { sku available locations { location { code } sku onHand reserved available } } }";

#[tokio::test]
async fn set_stock_level_sets_on_hand() {
    let app = stocked_app().await;
    let resp = set_stock_level(
        &app,
        json!({ "locationCode": "WH-1", "sku": SKU, "onHand": 7 }),
    )
    .await;
    let level = &expect_ok(&resp, "setStockLevel")["stockLevel"];
    assert_eq!(level["onHand"], 7);
    assert_eq!(level["reserved"], 0);
    assert_eq!(level["available"], 7);
    assert_eq!(level["location"]["code"], "WH-1");
    assert_eq!(
        app.stock_at("WH-1", SKU).await,
        Stock {
            on_hand: 7,
            reserved: 0,
            available: 7
        }
    );
}

#[tokio::test]
async fn availability_gives_each_location_and_the_total() {
    let app = stocked_app().await;
    reserve(&app, 2).await; // only WH-1 holds stock yet
    app.set_stock("ST-1", SKU, 3).await;

    let resp = app
        .as_service(
            AVAILABILITY,
            json!({ "skus": [SKU], "near": { "latitude": 52.37, "longitude": 4.90 } }),
        )
        .await;
    let availability = &expect_data(&resp)["availability"];
    assert_eq!(
        availability.as_array().map(Vec::len),
        Some(1),
        "{}",
        pretty(&resp)
    );
    assert_eq!(availability[0]["sku"], SKU);
    assert_eq!(
        availability[0]["available"], 11,
        "10 + 3 on hand, 2 reserved"
    );

    let per_location: i64 = availability[0]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["available"].as_i64().unwrap())
        .sum();
    assert_eq!(per_location, 11, "the total is the sum of the locations");
    let store = availability[0]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["location"]["code"] == "ST-1")
        .expect("the store is listed");
    assert_eq!(store["available"], 3);
}

#[tokio::test]
async fn anonymous_callers_see_available_but_not_on_hand_or_reserved() {
    let app = stocked_app().await;
    reserve(&app, 2).await;
    let resp = app.anon(AVAILABILITY, json!({ "skus": [SKU] })).await;
    let availability = &expect_data(&resp)["availability"][0];
    assert_eq!(availability["available"], 8);
    for level in availability["locations"].as_array().unwrap() {
        assert_eq!(level["onHand"], Value::Null, "{}", pretty(&resp));
        assert_eq!(level["reserved"], Value::Null, "{}", pretty(&resp));
        assert!(level["available"].is_i64());
    }
}

#[tokio::test]
async fn customers_see_available_but_not_on_hand_or_reserved() {
    let app = stocked_app().await;
    let customer = app
        .create_customer(json!({ "email": "c@example.test" }))
        .await;
    let resp = app
        .as_customer(
            customer["id"].as_str().unwrap(),
            AVAILABILITY,
            json!({ "skus": [SKU] }),
        )
        .await;
    let availability = &expect_data(&resp)["availability"][0];
    assert_eq!(availability["available"], 10);
    for level in availability["locations"].as_array().unwrap() {
        assert_eq!(level["onHand"], Value::Null, "{}", pretty(&resp));
        assert_eq!(level["reserved"], Value::Null, "{}", pretty(&resp));
    }
}

#[tokio::test]
async fn set_stock_level_with_a_stale_expected_on_hand_is_a_version_conflict() {
    let app = stocked_app().await;
    let resp = set_stock_level(
        &app,
        json!({ "locationCode": "WH-1", "sku": SKU, "onHand": 4, "expectedOnHand": 9 }),
    )
    .await;
    assert_user_error(&resp, "setStockLevel", "VERSION_CONFLICT");
    assert_eq!(
        app.stock_at("WH-1", SKU).await.on_hand,
        10,
        "nothing changed"
    );
}

#[tokio::test]
async fn set_stock_level_with_the_current_expected_on_hand_applies() {
    let app = stocked_app().await;
    let resp = set_stock_level(
        &app,
        json!({ "locationCode": "WH-1", "sku": SKU, "onHand": 4, "expectedOnHand": 10 }),
    )
    .await;
    expect_ok(&resp, "setStockLevel");
    assert_eq!(app.stock_at("WH-1", SKU).await.on_hand, 4);
}

#[tokio::test]
async fn set_stock_level_below_reserved_is_invalid() {
    let app = stocked_app().await;
    reserve(&app, 3).await;
    let resp = set_stock_level(
        &app,
        json!({ "locationCode": "WH-1", "sku": SKU, "onHand": 2 }),
    )
    .await;
    assert_user_error(&resp, "setStockLevel", "INVALID");
    assert_eq!(
        app.stock_at("WH-1", SKU).await,
        Stock {
            on_hand: 10,
            reserved: 3,
            available: 7
        },
        "nothing changed"
    );
}

#[tokio::test]
async fn set_stock_level_refuses_a_negative_count() {
    let app = stocked_app().await;
    let resp = set_stock_level(
        &app,
        json!({ "locationCode": "WH-1", "sku": SKU, "onHand": -1 }),
    )
    .await;
    assert_user_error_at(&resp, "setStockLevel", &["INVALID"], &["onHand"]);
    assert_eq!(
        app.stock_at("WH-1", SKU).await.on_hand,
        10,
        "nothing changed"
    );
}

#[tokio::test]
async fn set_stock_level_at_an_unknown_location_names_the_location_code() {
    let app = stocked_app().await;
    let resp = set_stock_level(
        &app,
        json!({ "locationCode": "NOWHERE", "sku": SKU, "onHand": 5 }),
    )
    .await;
    assert_user_error_at(
        &resp,
        "setStockLevel",
        &["NOT_FOUND", "INVALID"],
        &["locationCode"],
    );
}

#[tokio::test]
async fn set_stock_level_of_an_unknown_sku_names_the_sku() {
    let app = stocked_app().await;
    let resp = set_stock_level(
        &app,
        json!({ "locationCode": "WH-1", "sku": "NO-SUCH-SKU", "onHand": 5 }),
    )
    .await;
    assert_user_error_at(&resp, "setStockLevel", &["NOT_FOUND", "INVALID"], &["sku"]);
}

#[tokio::test]
async fn adjust_stock_level_receives_and_writes_off() {
    let app = stocked_app().await;
    let resp = adjust_stock_level(&app, adjust(5, None)).await;
    assert_eq!(
        expect_ok(&resp, "adjustStockLevel")["stockLevel"]["onHand"],
        15
    );
    let resp = adjust_stock_level(&app, adjust(-2, None)).await;
    assert_eq!(
        expect_ok(&resp, "adjustStockLevel")["stockLevel"]["onHand"],
        13
    );
    assert_eq!(
        app.stock_at("WH-1", SKU).await,
        Stock {
            on_hand: 13,
            reserved: 0,
            available: 13
        }
    );
}

#[tokio::test]
async fn adjust_stock_level_below_zero_is_invalid() {
    let app = stocked_app().await;
    let resp = adjust_stock_level(&app, adjust(-11, None)).await;
    assert_user_error(&resp, "adjustStockLevel", "INVALID");
    assert_eq!(
        app.stock_at("WH-1", SKU).await.on_hand,
        10,
        "nothing changed"
    );
}

#[tokio::test]
async fn adjust_stock_level_below_reserved_is_invalid() {
    let app = stocked_app().await;
    reserve(&app, 3).await;
    let resp = adjust_stock_level(&app, adjust(-8, None)).await;
    assert_user_error(&resp, "adjustStockLevel", "INVALID");
    assert_eq!(
        app.stock_at("WH-1", SKU).await,
        Stock {
            on_hand: 10,
            reserved: 3,
            available: 7
        },
        "nothing changed"
    );
}

#[tokio::test]
async fn adjust_stock_level_replayed_with_the_same_key_applies_once() {
    let app = stocked_app().await;
    let first = adjust_stock_level(&app, adjust(5, Some("receipt-42"))).await;
    assert_eq!(
        expect_ok(&first, "adjustStockLevel")["stockLevel"]["onHand"],
        15
    );
    let replay = adjust_stock_level(&app, adjust(5, Some("receipt-42"))).await;
    assert_eq!(
        expect_ok(&replay, "adjustStockLevel")["stockLevel"]["onHand"],
        15,
        "the replay returns the first result"
    );
    assert_eq!(app.stock_at("WH-1", SKU).await.on_hand, 15, "applied once");
}

#[tokio::test]
async fn adjust_stock_level_with_a_reused_key_and_another_input_is_invalid() {
    let app = stocked_app().await;
    let first = adjust_stock_level(&app, adjust(5, Some("receipt-42"))).await;
    expect_ok(&first, "adjustStockLevel");
    let other = adjust_stock_level(&app, adjust(3, Some("receipt-42"))).await;
    assert_user_error(&other, "adjustStockLevel", "INVALID");
    assert_eq!(
        app.stock_at("WH-1", SKU).await.on_hand,
        15,
        "only the first applied"
    );
}

#[tokio::test]
async fn placing_an_order_reserves_stock_without_touching_on_hand() {
    let app = stocked_app().await;
    reserve(&app, 4).await;
    assert_eq!(
        app.stock_at("WH-1", SKU).await,
        Stock {
            on_hand: 10,
            reserved: 4,
            available: 6
        }
    );
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_caller() {
    let app = stocked_app().await;
    let mutation = format!(
        "mutation($input: AdjustStockLevelInput!) {{ adjustStockLevel(input: $input) {{ stockLevel {{ onHand }} {USER_ERRORS} }} }}"
    );
    let warehouse = app.token(touchpoint::auth::Role::Service, "wms-north");
    let other = app.token(touchpoint::auth::Role::Service, "wms-south");
    let first = app
        .gql(
            Some(&warehouse),
            &mutation,
            json!({ "input": adjust(5, Some("receipt-1")) }),
        )
        .await;
    assert_eq!(
        expect_ok(&first, "adjustStockLevel")["stockLevel"]["onHand"],
        15
    );
    let second = app
        .gql(
            Some(&other),
            &mutation,
            json!({ "input": adjust(5, Some("receipt-1")) }),
        )
        .await;
    assert_eq!(
        expect_ok(&second, "adjustStockLevel")["stockLevel"]["onHand"],
        20,
        "another caller's key of the same name is its own"
    );
}

#[tokio::test]
async fn adjust_stock_level_by_the_smallest_int_is_invalid() {
    let app = stocked_app().await;
    let resp = adjust_stock_level(&app, adjust(i64::from(i32::MIN), None)).await;
    assert_user_error(&resp, "adjustStockLevel", "INVALID");
    let resp = adjust_stock_level(&app, adjust(i64::from(i32::MAX), None)).await;
    assert_user_error(&resp, "adjustStockLevel", "INVALID");
    assert_eq!(
        app.stock_at("WH-1", SKU).await.on_hand,
        10,
        "nothing changed"
    );
}
