//! The tracking page: every order has an unguessable link (`Order.trackingPageUrl`) that opens
//! `/track/<token>`, whose data (`trackedOrder(token)`) needs no other credential and shows
//! nothing personal beyond the delivery town. Shipment emails carry the link.

use serde_json::{Value, json};

use crate::fixtures::{
    OrderBuilder, at_hours, day, default_address, only_shipment, seed, str_of, tracking_number,
};
use crate::harness::{TestApp, expect_data, expect_ok, pretty};

const CARRIER: &str = "PostNL";

/// Every field of `TrackedOrder`.
const TRACKED: &str = "number status placedAt lines { name quantity imageUrl } deliveryMethod
    deliveryTown collectionStore { code name } promisedDate estimatedDeliveryDate isDelayed
    shipments { status carrier trackingNumber trackingUrl estimatedDeliveryDate isDelayed
        events { status description occurredAt location estimatedDeliveryDate } }
    returnableUntil";

async fn tracked(app: &TestApp, token: &str) -> Value {
    let resp = app
        .anon(
            &format!("query($t: String!) {{ trackedOrder(token: $t) {{ {TRACKED} }} }}"),
            json!({ "t": token }),
        )
        .await;
    expect_data(&resp)["trackedOrder"].clone()
}

/// The order's tracking page URL as `token` reads it (null when it may not).
async fn page_url_as(app: &TestApp, token: &str, order_id: &Value) -> Value {
    let resp = app
        .gql(
            Some(token),
            "query($id: ID!) { order(id: $id) { trackingPageUrl } }",
            json!({ "id": order_id }),
        )
        .await;
    expect_data(&resp)["order"]["trackingPageUrl"].clone()
}

/// The token at the end of the order's tracking page URL, read by an agent; asserts the URL is
/// this server's `/track/<token>`.
async fn token_of(app: &TestApp, order_id: &Value) -> String {
    let url = page_url_as(app, &app.agent_token(), order_id).await;
    let url = str_of(&url, "trackingPageUrl");
    let prefix = app.url("/track/");
    let token = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{url} is not under {prefix}"));
    assert!(
        token.len() >= 32
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "an unguessable, URL-safe token: {token}"
    );
    token.to_string()
}

/// Each line's name and quantity.
fn names_and_quantities(order: &Value) -> Vec<(String, i64)> {
    order["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                str_of(&l["name"], "name").to_string(),
                l["quantity"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

/// A shirt and a tote shipped to Amsterdam for Sam, promised in three days.
fn sams_order() -> OrderBuilder {
    OrderBuilder::new()
        .customer(
            json!({ "email": "sam@example.test", "firstName": "Sam", "lastName": "Shopper",
            "phone": "+31 6 1234 5678" }),
        )
        .line(seed::SHIRT, 2)
        .line(seed::TOTE, 1)
        .ship_to(default_address())
        .placed_at(&at_hours(0))
        .promised(&day(3))
}

/// Sam's order, dispatched with a fresh tracking number; returns (order, page token, number).
async fn sams_order_dispatched(app: &TestApp) -> (Value, String, String) {
    app.seed_catalog().await;
    let order = app.place_fulfilment(&sams_order()).await;
    let token = token_of(app, &order["id"]).await;
    let number = tracking_number();
    app.dispatch(&only_shipment(&order)["id"], CARRIER, &number)
        .await;
    (order, token, number)
}

// ---------------------------------------------------------------------- the link

#[tokio::test]
async fn an_order_opens_its_tracking_page_with_what_was_bought_and_where_it_goes() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.place_fulfilment(&sams_order()).await;
    let token = token_of(&app, &order["id"]).await;

    let page = tracked(&app, &token).await;
    assert_eq!(page["number"], order["number"], "{}", pretty(&page));
    assert_eq!(page["status"], order["status"]);
    assert_eq!(page["placedAt"], order["placedAt"]);
    assert_eq!(page["deliveryMethod"], "SHIP_TO_ADDRESS");
    assert_eq!(page["deliveryTown"], "Amsterdam");
    assert_eq!(page["promisedDate"], day(3));
    assert_eq!(page["isDelayed"], false);
    assert_eq!(page["collectionStore"], Value::Null);
    assert_eq!(
        page["returnableUntil"],
        Value::Null,
        "nothing delivered yet"
    );
    assert_eq!(names_and_quantities(&page), names_and_quantities(&order));
    assert_eq!(
        page["shipments"].as_array().map(Vec::len),
        order["shipments"].as_array().map(Vec::len)
    );
}

#[tokio::test]
async fn the_page_and_its_data_hold_nothing_personal_beyond_the_town() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.place_fulfilment(&sams_order()).await;
    let page = tracked(&app, &token_of(&app, &order["id"]).await).await;
    let all = page.to_string();
    for personal in [
        "sam@example.test",
        "Sam",
        "Shopper",
        "Damrak",
        "1012 LG",
        "1234 5678",
        "52.376",
    ] {
        assert!(
            !all.contains(personal),
            "{personal:?} is on the tracking page: {all}"
        );
    }

    // The type itself has no field that could carry more.
    let resp = app
        .anon(
            r#"{ __type(name: "TrackedOrder") { fields { name } } }"#,
            json!({}),
        )
        .await;
    let mut fields: Vec<String> = expect_data(&resp)["__type"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["name"].as_str().unwrap_or("").to_string())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "collectionStore",
            "deliveryMethod",
            "deliveryTown",
            "estimatedDeliveryDate",
            "isDelayed",
            "lines",
            "number",
            "placedAt",
            "promisedDate",
            "returnableUntil",
            "shipments",
            "status",
        ]
    );
}

#[tokio::test]
async fn each_order_has_its_own_token_and_a_token_opens_only_its_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let first = app.place_fulfilment(&sams_order()).await;
    let second = app
        .place_fulfilment(&OrderBuilder::new().line(seed::TOTE, 1))
        .await;
    let (a, b) = (
        token_of(&app, &first["id"]).await,
        token_of(&app, &second["id"]).await,
    );
    assert_ne!(a, b);
    assert_eq!(tracked(&app, &a).await["number"], first["number"]);
    assert_eq!(tracked(&app, &b).await["number"], second["number"]);
    // The link stays the same on every read.
    assert_eq!(token_of(&app, &first["id"]).await, a);
}

#[tokio::test]
async fn an_unknown_or_malformed_token_opens_nothing_and_says_nothing() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.place_fulfilment(&sams_order()).await;
    let token = token_of(&app, &order["id"]).await;
    let mut altered = token.clone().into_bytes();
    altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ascii");
    for probe in [
        altered.as_str(),
        &token[..token.len() - 1],
        "",
        "t-1",
        "' OR 1=1 --",
        &"x".repeat(5000),
        str_of(&order["number"], "number"),
    ] {
        let resp = app
            .anon(
                "query($t: String!) { trackedOrder(token: $t) { number } }",
                json!({ "t": probe }),
            )
            .await;
        assert!(
            resp.get("errors").is_none(),
            "no error, no hint: {}",
            pretty(&resp)
        );
        assert_eq!(
            resp["data"]["trackedOrder"],
            Value::Null,
            "{probe:?} opened an order"
        );
    }
}

#[tokio::test]
async fn staff_services_and_the_customer_get_the_link_and_marketing_does_not() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.place_fulfilment(&sams_order()).await;
    let url = page_url_as(&app, &app.agent_token(), &order["id"]).await;
    let customer = str_of(&order["customer"]["id"], "customer id").to_string();
    for token in [
        app.service_token(),
        app.admin_token(),
        app.customer_token(&customer),
    ] {
        assert_eq!(page_url_as(&app, &token, &order["id"]).await, url);
    }
    // Marketing cannot read orders at all; through a preview against the order, the link is
    // masked like other personal data.
    let resp = app
        .as_marketing(
            "query($n: String!) { previewEmail(input: { kind: SHIPMENT_DISPATCHED, orderNumber: $n }) {
                context userErrors { code message } } }",
            json!({ "n": order["number"] }),
        )
        .await;
    let context = expect_data(&resp)["previewEmail"]["context"].to_string();
    assert!(
        !context.contains(str_of(&url, "url")),
        "the link reached marketing: {context}"
    );
}

// ---------------------------------------------------------------------- what the page follows

#[tokio::test]
async fn a_dispatched_and_delayed_shipment_shows_its_carrier_new_estimate_and_events() {
    let app = TestApp::spawn().await;
    let (_, token, number) = sams_order_dispatched(&app).await;
    expect_ok(
        &app.record_tracking(json!({
            "carrier": CARRIER, "trackingNumber": number, "status": "IN_TRANSIT",
            "occurredAt": at_hours(-1), "estimatedDeliveryDate": day(5), "location": "Utrecht hub",
        }))
        .await,
        "recordTrackingEvent",
    );

    let page = tracked(&app, &token).await;
    assert_eq!(page["isDelayed"], true, "{}", pretty(&page));
    assert_eq!(page["estimatedDeliveryDate"], day(5));
    assert_eq!(page["promisedDate"], day(3));
    let shipped = &page["shipments"][0];
    assert_eq!(shipped["status"], "IN_TRANSIT");
    assert_eq!(shipped["carrier"], CARRIER);
    assert_eq!(shipped["trackingNumber"], number.as_str());
    assert_eq!(
        shipped["trackingUrl"],
        format!("https://track.example.test/{number}")
    );
    assert_eq!(shipped["isDelayed"], true);
    assert_eq!(shipped["estimatedDeliveryDate"], day(5));
    let last = shipped["events"]
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["status"], "IN_TRANSIT", "{}", pretty(shipped));
    assert_eq!(last["location"], "Utrecht hub");
}

#[tokio::test]
async fn after_delivery_the_page_says_until_when_it_may_be_returned() {
    let app = TestApp::spawn().await;
    let (order, token, number) = sams_order_dispatched(&app).await;
    app.track(CARRIER, &number, "DELIVERED", &at_hours(-1))
        .await;

    let resp = app
        .as_agent(
            "query($id: ID!) { order(id: $id) { returnableLines { quantityReturnable returnableUntil } } }",
            json!({ "id": order["id"] }),
        )
        .await;
    let until = expect_data(&resp)["order"]["returnableLines"]
        .as_array()
        .expect("returnable lines")
        .iter()
        .filter(|l| l["quantityReturnable"].as_i64().unwrap_or(0) > 0)
        .filter_map(|l| l["returnableUntil"].as_str().map(String::from))
        .max()
        .expect("something is returnable after delivery");
    let page = tracked(&app, &token).await;
    assert_eq!(page["status"], "DELIVERED", "{}", pretty(&page));
    assert_eq!(page["returnableUntil"], until.as_str());
    assert_eq!(page["shipments"][0]["status"], "DELIVERED");
}

#[tokio::test]
async fn click_and_collect_shows_the_store_and_no_town() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(
            &OrderBuilder::new()
                .line(seed::SHIRT, 1)
                .collect_at(seed::STORE_B),
        )
        .await;
    let page = tracked(&app, &token_of(&app, &order["id"]).await).await;
    assert_eq!(
        page["deliveryMethod"],
        "CLICK_AND_COLLECT",
        "{}",
        pretty(&page)
    );
    assert_eq!(page["collectionStore"]["code"], seed::STORE_B);
    assert_eq!(page["deliveryTown"], Value::Null);
}

#[tokio::test]
async fn lines_cancelled_in_full_leave_the_page() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.place_fulfilment(&sams_order()).await;
    let tote = order["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["sku"] == seed::TOTE)
        .expect("the tote line")["id"]
        .clone();
    let resp = app
        .as_agent(
            "mutation($input: CancelOrderLinesInput!) { cancelOrderLines(input: $input) {
                userErrors { code message } } }",
            json!({ "input": { "orderId": order["id"], "lines": [{ "lineId": tote, "quantity": 1 }],
                "reason": "customer asked by phone" } }),
        )
        .await;
    expect_ok(&resp, "cancelOrderLines");
    let page = tracked(&app, &token_of(&app, &order["id"]).await).await;
    let names: Vec<&str> = page["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(names.len(), 1, "{}", pretty(&page));
    assert!(!names.iter().any(|n| n.contains("tote")), "{names:?}");
}

// ---------------------------------------------------------------------- the pages themselves

#[tokio::test]
async fn the_tracking_link_opens_the_page_with_a_strict_policy_and_no_referrer() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.place_fulfilment(&sams_order()).await;
    let token = token_of(&app, &order["id"]).await;
    for path in [format!("/track/{token}"), "/track/not-a-token".to_string()] {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), 200, "{path}");
        let headers = resp.headers().clone();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert!(header("content-type").starts_with("text/html"));
        assert_eq!(
            header("referrer-policy"),
            "no-referrer",
            "the token stays on this site"
        );
        let csp = header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        let body = resp.text().await.expect("body");
        assert!(
            !body.contains(str_of(&order["number"], "number")),
            "the page's data comes from the API"
        );
        assert!(
            !body.contains("src=\"http"),
            "no remote scripts or images: {body}"
        );
    }
}

#[tokio::test]
async fn the_studio_and_its_assets_are_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let resp = app.get("/studio").await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.expect("body");
    assert!(body.contains("<html"), "{body}");
    // Every script and stylesheet the page names is served here, from this origin.
    let assets: Vec<String> = body
        .split(['"', '\''])
        .filter(|s| s.starts_with("/assets/"))
        .map(String::from)
        .collect();
    assert!(!assets.is_empty(), "the studio loads its bundle: {body}");
    for asset in assets {
        let resp = app.get(&asset).await;
        assert_eq!(resp.status(), 200, "{asset}");
        assert_eq!(
            resp.headers()
                .get("x-content-type-options")
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..])
        );
    }
    assert_eq!(app.get("/assets/nothing-here.js").await.status(), 404);
}
