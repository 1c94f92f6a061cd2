//! Names from later issues exist in the schema but answer NOT_IMPLEMENTED, never made-up data.

use serde_json::{Value, json};

use crate::harness::{TestApp, assert_error_code, pretty};

#[track_caller]
fn assert_not_implemented(resp: &Value, field: &str) {
    assert_error_code(resp, "NOT_IMPLEMENTED");
    let data = &resp["data"];
    assert!(
        data.is_null() || data[field].is_null(),
        "{field} answered with data:\n{}",
        pretty(resp)
    );
}

#[tokio::test]
async fn return_policy_is_not_implemented() {
    let app = TestApp::spawn().await;
    let resp = app.anon("{ returnPolicy { windowDays } }", json!({})).await;
    assert_not_implemented(&resp, "returnPolicy");
}

#[tokio::test]
async fn brand_is_not_implemented() {
    let app = TestApp::spawn().await;
    let resp = app.anon("{ brand { name } }", json!({})).await;
    assert_not_implemented(&resp, "brand");
}

#[tokio::test]
async fn return_by_rma_is_not_implemented() {
    let app = TestApp::spawn().await;
    let resp = app
        .as_agent(r#"{ returnByRma(rmaNumber: "RMA-1") { id } }"#, json!({}))
        .await;
    assert_not_implemented(&resp, "returnByRma");
}

#[tokio::test]
async fn request_return_is_not_implemented() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = crate::fixtures::OrderBuilder::new()
        .line(crate::fixtures::seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let resp = app
        .as_agent(
            "mutation($input: RequestReturnInput!) { requestReturn(input: $input) { return { id } userErrors { code } } }",
            json!({ "input": {
                "orderId": order["id"],
                "lines": [{ "lineId": order["lines"][0]["id"], "quantity": 1, "reason": "Too small" }],
                "method": "CARRIER",
                "reason": "Customer asked",
            } }),
        )
        .await;
    assert_not_implemented(&resp, "requestReturn");
}
