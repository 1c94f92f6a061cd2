//! Names from later issues exist in the schema but answer NOT_IMPLEMENTED, never made-up data.
//! (Returns and emails have landed: see `returns.rs`, `communications.rs` and `templates.rs`.)

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
async fn tracked_order_is_not_implemented() {
    let app = TestApp::spawn().await;
    let resp = app
        .anon(r#"{ trackedOrder(token: "t-1") { number } }"#, json!({}))
        .await;
    assert_not_implemented(&resp, "trackedOrder");
}
