//! `experienceMetrics`: a known history, seeded through the API (orders in several channels over
//! forty days, deliveries on time and late, delay emails before and after the promise,
//! cancellations by a customer, an agent and a warehouse, substitutions, returns with refunds,
//! repeat orders), and every figure checked exactly. Who may read the figures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::{
    LocationBuilder, OrderBuilder, ProductBuilder, USER_ERRORS, day, only_shipment, parse_time,
    seed, shipments_of, str_of, tracking_number,
};
use crate::harness::{TestApp, assert_error_code, expect_data, expect_ok, pretty};
use crate::smtp::{SmtpServer, Stage};

const CARRIER: &str = "PostNL";

/// Only at WH-1, two units: a short pick of it cannot be re-routed.
const SCARCE: &str = "SKU-X";
/// One unit at ST-1 and one at ST-2: an order of two is split in two shipments.
const SPLIT: &str = "SKU-Y";
/// A warehouse that takes carrier returns; holds no stock.
const RETURNS_WAREHOUSE: &str = "WH-R";

const RETURN_FIELDS: &str = "id channel method createdAt receivedAt refund { expectedBy issuedAt }";

const SEGMENT: &str = "customers repeatedWithin30Days repeatedWithin60Days repeatedWithin90Days
    rate30Days rate60Days rate90Days";

const REFUND_TIMES: &str = "method refunds fromRequestP50Seconds fromRequestP90Seconds
    fromReceiptP50Seconds fromReceiptP90Seconds refundedByExpectedBy refundedByExpectedByRate";

fn figures_selection() -> String {
    format!(
        "ordersPlaced
        fulfilment {{ ordersShipped singleShipmentOrders shipments singleShipmentRate averageShipmentsPerOrder }}
        delivery {{ ordersJudged onTime delayed toldProactively onTimeRate delayedRate proactiveRate }}
        cancellations {{ cancellations ordersCancelled byActor {{ actor count }} byReason {{ reasonCode count }} }}
        substitutions {{ proposed accepted declined expired awaitingAnswer acceptanceRate }}
        returns {{ returns ordersReturned returnRate crossChannelReturns crossChannelRate refundsIssued
            refundedByExpectedBy refundedByExpectedByRate
            refunds {{ {REFUND_TIMES} }} byMethod {{ {REFUND_TIMES} }} }}
        emails {{ sent failed opened openRate byKind {{ kind sent failed opened openRate }} }}
        repeatPurchase {{ all {{ {SEGMENT} }} firstOrderOnTime {{ {SEGMENT} }}
            firstOrderDelayed {{ {SEGMENT} }} firstOrderDelayedToldProactively {{ {SEGMENT} }}
            firstOrderDelayedNotTold {{ {SEGMENT} }} firstOrderReturned {{ {SEGMENT} }}
            firstOrderNotReturned {{ {SEGMENT} }} }}"
    )
}

fn metrics_query() -> String {
    let figures = figures_selection();
    format!(
        "query($from: Date!, $to: Date!, $channel: Channel) {{
            experienceMetrics(from: $from, to: $to, channel: $channel) {{
                from to channel
                overall {{ {figures} }}
                byChannel {{ channel figures {{ {figures} }} }} }} }}"
    )
}

/// `experienceMetrics` with `token`; the whole response.
async fn metrics_with(app: &TestApp, token: Option<&str>, variables: Value) -> Value {
    app.gql(token, &metrics_query(), variables).await
}

/// The range the history is read in: forty days ago to today.
fn range() -> Value {
    json!({ "from": day(-40), "to": day(0) })
}

/// `days` from today at `time` (HH:MM:SS), UTC, as RFC 3339.
fn at(days: i64, time: &str) -> String {
    format!("{}T{time}Z", day(days))
}

/// `value` as the tests read the API's JSON: serde_json's default float parsing is not always
/// correctly rounded, so an expected float goes through the same printing and parsing as the
/// API's answer (shortest round-trip text, then parsed).
fn exact(value: Value) -> Value {
    serde_json::from_str(&value.to_string()).expect("JSON")
}

fn rate(numerator: i64, denominator: i64) -> Value {
    if denominator == 0 {
        Value::Null
    } else {
        exact(json!(numerator as f64 / denominator as f64))
    }
}

/// A repeat-purchase segment: customers, and those who ordered again within 30, 60, 90 days.
fn segment(customers: i64, r30: i64, r60: i64, r90: i64) -> Value {
    exact(json!({
        "customers": customers,
        "repeatedWithin30Days": r30,
        "repeatedWithin60Days": r60,
        "repeatedWithin90Days": r90,
        "rate30Days": rate(r30, customers),
        "rate60Days": rate(r60, customers),
        "rate90Days": rate(r90, customers),
    }))
}

/// A list of `{ key: ..., count: ... }` objects as a map, for comparing regardless of order.
fn counts_by(list: &Value, key: &str) -> BTreeMap<String, i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| {
            (
                str_of(&e[key], key).to_string(),
                e["count"].as_i64().expect("count"),
            )
        })
        .collect()
}

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The figures of `channel` in `metrics.byChannel`.
#[track_caller]
fn channel_figures<'a>(metrics: &'a Value, channel: &str) -> &'a Value {
    &metrics["byChannel"]
        .as_array()
        .expect("byChannel")
        .iter()
        .find(|c| c["channel"] == channel)
        .unwrap_or_else(|| panic!("no {channel} figures: {}", pretty(metrics)))["figures"]
}

fn channels_of(metrics: &Value) -> Vec<String> {
    metrics["byChannel"]
        .as_array()
        .expect("byChannel")
        .iter()
        .map(|c| str_of(&c["channel"], "channel").to_string())
        .collect()
}

// ---------------------------------------------------------------------- the history

/// The orders of the history, by name.
struct History {
    orders: BTreeMap<&'static str, Value>,
    /// The returns, as read back after their refunds.
    returns: Vec<Value>,
}

async fn app_sending_to(server: &SmtpServer) -> TestApp {
    let url = server.url();
    TestApp::spawn_with(move |config| {
        config.smtp_url = Some(url);
        // The history's past promises must not be flagged by the deadline rule meanwhile.
        config.deadline_check = Duration::from_secs(3600);
    })
    .await
}

async fn setup(app: &TestApp) {
    app.seed_catalog().await;
    ProductBuilder::new(SCARCE)
        .name("Scarce scarf")
        .price("30.00", "EUR")
        .create(app)
        .await;
    app.set_stock(seed::WAREHOUSE, SCARCE, 2).await;
    ProductBuilder::new(SPLIT)
        .name("Split socks")
        .price("5.00", "EUR")
        .create(app)
        .await;
    app.set_stock(seed::STORE_A, SPLIT, 1).await;
    app.set_stock(seed::STORE_B, SPLIT, 1).await;
    LocationBuilder::warehouse(RETURNS_WAREHOUSE)
        .at(52.10, 5.00)
        .return_point(true)
        .create(app)
        .await;
}

fn shirt_for(email: &str, placed_at: &str) -> OrderBuilder {
    OrderBuilder::new()
        .customer_email(email)
        .line(seed::SHIRT, 1)
        .placed_at(placed_at)
}

/// Dispatches the order's only shipment with a fresh tracking number; returns the number.
async fn dispatch_only(app: &TestApp, order: &Value) -> String {
    let number = tracking_number();
    app.dispatch(&only_shipment(order)["id"], CARRIER, &number)
        .await;
    number
}

async fn tracking(app: &TestApp, number: &str, status: &str, occurred_at: &str, eta: Option<&str>) {
    let mut input = json!({
        "carrier": CARRIER, "trackingNumber": number, "status": status, "occurredAt": occurred_at,
    });
    if let Some(eta) = eta {
        input["estimatedDeliveryDate"] = json!(eta);
    }
    expect_ok(&app.record_tracking(input).await, "recordTrackingEvent");
}

async fn return_step(
    app: &TestApp,
    token: &str,
    name: &str,
    input_type: &str,
    input: Value,
) -> Value {
    let resp = app
        .gql(
            Some(token),
            &format!(
                "mutation($input: {input_type}!) {{ {name}(input: $input) {{
                    return {{ {RETURN_FIELDS} }} {USER_ERRORS} }} }}"
            ),
            json!({ "input": input }),
        )
        .await;
    expect_ok(&resp, name)["return"].clone()
}

async fn respond(app: &TestApp, token: &str, substitution: &Value, accept: bool) {
    let resp = app
        .gql(
            Some(token),
            &format!(
                "mutation($input: RespondToSubstitutionInput!) {{ respondToSubstitution(input: $input) {{
                    substitution {{ id status }} {USER_ERRORS} }} }}"
            ),
            json!({ "input": { "substitutionId": substitution["id"], "accept": accept } }),
        )
        .await;
    expect_ok(&resp, "respondToSubstitution");
}

async fn propose(app: &TestApp, line: &Value, sku: &str) -> Value {
    let resp = app
        .as_service(
            &format!(
                "mutation($input: ProposeSubstitutionInput!) {{ proposeSubstitution(input: $input) {{
                    substitution {{ id status }} {USER_ERRORS} }} }}"
            ),
            json!({ "input": {
                "orderLineId": line["id"], "substituteSku": sku, "quantity": 1,
                "unitPrice": { "amount": "12.50", "currencyCode": "EUR" },
            } }),
        )
        .await;
    expect_ok(&resp, "proposeSubstitution")["substitution"].clone()
}

fn customer_of(order: &Value) -> String {
    str_of(&order["customer"]["id"], "customer id").to_string()
}

/// The history (see the module's comment and each step below). The first email sent, the
/// confirmation of gus's first order, is refused for good (550).
async fn seed_history(app: &TestApp, server: &SmtpServer) -> History {
    setup(app).await;
    let mut orders = BTreeMap::new();

    // gus: his first order in the range is placed on its first day, just after midnight; its
    // confirmation fails. An order a second before the range is not his first in it.
    server.fail_next(Stage::DataEnd, 1, 550);
    let g1 = app
        .place_fulfilment(&shirt_for("gus@example.test", &at(-40, "00:00:00")))
        .await;
    wait_for_statuses(app, &[&g1], &["FAILED"]).await;
    let g0 = app
        .place_fulfilment(&shirt_for("gus@example.test", &at(-41, "23:59:59")))
        .await;

    // bob: a WEB order promised 30 days ago, late: the carrier's estimate (27 days ago) comes in
    // now, so the delay email goes out after the promise; delivered 27 days ago. He returns it
    // by carrier, and orders again in the APP 33 days after the first order.
    let b1 = app
        .place_fulfilment(&shirt_for("bob@example.test", &at(-35, "09:00:00")).promised(&day(-30)))
        .await;
    let number = dispatch_only(app, &b1).await;
    tracking(
        app,
        &number,
        "IN_TRANSIT",
        &at(-31, "08:00:00"),
        Some(&day(-27)),
    )
    .await;
    tracking(app, &number, "DELIVERED", &at(-27, "15:00:00"), None).await;

    // ada: a WEB order promised 20 days ago, delivered the day before; returned in a store (a
    // STORE return of a WEB sale); she orders again 15 days after it.
    let a1 = app
        .place_fulfilment(&shirt_for("ada@example.test", &at(-25, "09:00:00")).promised(&day(-20)))
        .await;
    let number = dispatch_only(app, &a1).await;
    tracking(app, &number, "DELIVERED", &at(-21, "12:00:00"), None).await;

    // dan: a PHONE order he cancels himself; an hour later a WEB order of a shirt and a tote,
    // whose tote an agent cancels.
    let d1 = app
        .place_fulfilment(&shirt_for("dan@example.test", &at(-20, "09:00:00")).channel("PHONE"))
        .await;
    let resp = app
        .cancel_order_with(
            &app.customer_token(&customer_of(&d1)),
            json!({ "orderId": d1["id"] }),
        )
        .await;
    expect_ok(&resp, "cancelOrder");
    let d2 = app
        .place_fulfilment(&shirt_for("dan@example.test", &at(-20, "10:00:00")).line(seed::TOTE, 1))
        .await;
    let tote = d2["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["sku"] == seed::TOTE)
        .expect("the tote line")
        .clone();
    let resp = app
        .cancel_lines_with(
            &app.agent_token(),
            json!({
                "orderId": d2["id"],
                "lines": [{ "lineId": tote["id"], "quantity": 1 }],
                "reason": "The customer called: no tote after all",
                "reasonCode": "OTHER",
            }),
        )
        .await;
    expect_ok(&resp, "cancelOrderLines");

    // eve: two scarves, only one found at picking: the other is cancelled OUT_OF_STOCK_AT_PICK.
    let e1 = app
        .place_fulfilment(
            &OrderBuilder::new()
                .customer_email("eve@example.test")
                .line(SCARCE, 2)
                .placed_at(&at(-15, "09:00:00")),
        )
        .await;
    let resp = app
        .update_shipment(json!({
            "shipmentId": only_shipment(&e1)["id"],
            "status": "DISPATCHED",
            "carrier": CARRIER,
            "trackingNumber": tracking_number(),
            "lines": [{ "lineId": e1["lines"][0]["id"], "quantity": 1 }],
        }))
        .await;
    expect_ok(&resp, "updateShipmentStatus");

    // fay: click and collect of a shirt and a tote; she accepts one substitution and declines
    // the other.
    let f1 = app
        .place_fulfilment(
            &OrderBuilder::new()
                .customer_email("fay@example.test")
                .collect_at(seed::STORE_A)
                .line(seed::SHIRT, 1)
                .line(seed::TOTE, 1)
                .placed_at(&at(-12, "09:00:00")),
        )
        .await;
    let fay = app.customer_token(&customer_of(&f1));
    let accepted = propose(app, &f1["lines"][0], seed::TOTE).await;
    respond(app, &fay, &accepted, true).await;
    let declined = propose(app, &f1["lines"][1], seed::SHIRT).await;
    respond(app, &fay, &declined, false).await;

    // hal: two pairs of socks, one per store: two shipments.
    let h1 = app
        .place_fulfilment(
            &OrderBuilder::new()
                .customer_email("hal@example.test")
                .line(SPLIT, 2)
                .placed_at(&at(-8, "09:00:00")),
        )
        .await;
    assert_eq!(shipments_of(&h1).len(), 2, "{}", pretty(&h1));

    let a2 = app
        .place_fulfilment(&shirt_for("ada@example.test", &at(-10, "09:00:00")))
        .await;

    // An anonymous carry-out sale at ST-1.
    let s1 = app
        .place_fulfilment(
            &OrderBuilder::new()
                .anonymous()
                .store_sale(seed::STORE_A)
                .line(seed::TOTE, 1)
                .placed_at(&at(-5, "09:00:00")),
        )
        .await;

    let b2 = app
        .place_fulfilment(&shirt_for("bob@example.test", &at(-2, "09:00:00")).channel("APP"))
        .await;

    // cleo: an APP order promised in three days; the carrier's estimate of six days comes in
    // now, so she is told before the promise.
    let c1 = app
        .place_fulfilment(
            &shirt_for("cleo@example.test", &at(-1, "09:00:00"))
                .channel("APP")
                .promised(&day(3)),
        )
        .await;
    let number = dispatch_only(app, &c1).await;
    let an_hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    tracking(app, &number, "IN_TRANSIT", &an_hour_ago, Some(&day(6))).await;

    // The returns: ada's in store at ST-1 (started at the till), bob's by carrier.
    let service = app.service_token();
    let ada_return = return_step(
        app,
        &service,
        "requestReturn",
        "RequestReturnInput",
        json!({
            "orderId": a1["id"], "method": "IN_STORE", "channel": "STORE",
            "returnLocationCode": seed::STORE_A,
            "lines": [{ "lineId": a1["lines"][0]["id"], "quantity": 1, "reason": "Too small" }],
        }),
    )
    .await;
    let bob_return = return_step(
        app,
        &app.customer_token(&customer_of(&b1)),
        "requestReturn",
        "RequestReturnInput",
        json!({
            "orderId": b1["id"], "method": "CARRIER",
            "lines": [{ "lineId": b1["lines"][0]["id"], "quantity": 1, "reason": "Too late" }],
        }),
    )
    .await;
    let mut returns = Vec::new();
    for (ret, location) in [
        (&ada_return, seed::STORE_A),
        (&bob_return, RETURNS_WAREHOUSE),
    ] {
        returns.push(
            return_step(
                app,
                &service,
                "receiveReturn",
                "ReceiveReturnInput",
                json!({ "returnId": ret["id"], "locationCode": location, "restock": true }),
            )
            .await,
        );
    }

    for (name, order) in [
        ("g0", g0),
        ("g1", g1),
        ("b1", b1),
        ("a1", a1),
        ("d1", d1),
        ("d2", d2),
        ("e1", e1),
        ("f1", f1),
        ("h1", h1),
        ("a2", a2),
        ("s1", s1),
        ("b2", b2),
        ("c1", c1),
    ] {
        orders.insert(name, order);
    }
    History { orders, returns }
}

/// The order's communications as an agent reads them.
async fn communications(app: &TestApp, order: &Value) -> Vec<Value> {
    let resp = app
        .as_agent(
            "query($id: ID!) { order(id: $id) { number communications { id kind status subject openedAt } } }",
            json!({ "id": order["id"] }),
        )
        .await;
    expect_data(&resp)["order"]["communications"]
        .as_array()
        .unwrap_or_else(|| panic!("communications: {}", pretty(&resp)))
        .clone()
}

/// Waits (at most 10 s) until each order has a communication in one of `statuses`.
async fn wait_for_statuses(app: &TestApp, orders: &[&Value], statuses: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for order in orders {
        loop {
            let list = communications(app, order).await;
            if list
                .iter()
                .any(|c| statuses.iter().any(|s| c["status"] == *s))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no communication with a status in {statuses:?} for {}: {}",
                order["number"],
                pretty(&json!(list))
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits until every email about the orders has its final status and nothing new has come for
/// a while (at most 20 s); returns them by order name.
async fn settled_communications(
    app: &TestApp,
    history: &History,
) -> BTreeMap<&'static str, Vec<Value>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut previous: Option<BTreeMap<&'static str, Vec<Value>>> = None;
    loop {
        let mut now = BTreeMap::new();
        for (name, order) in &history.orders {
            now.insert(*name, communications(app, order).await);
        }
        let all_final = now.values().flatten().all(|c| {
            ["SENT", "FAILED", "SUPPRESSED"]
                .iter()
                .any(|s| c["status"] == *s)
        });
        if all_final && previous.as_ref() == Some(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the emails did not settle: {}",
            pretty(&json!(now))
        );
        previous = Some(now);
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

/// The email figures the communications of `orders` make: (sent, failed, opened) by kind.
fn email_counts(
    comms: &BTreeMap<&'static str, Vec<Value>>,
    orders: &[&str],
) -> BTreeMap<String, (i64, i64, i64)> {
    let mut by = BTreeMap::new();
    for name in orders {
        for c in &comms[name] {
            let e: &mut (i64, i64, i64) = by
                .entry(str_of(&c["kind"], "kind").to_string())
                .or_default();
            if c["status"] == "SENT" {
                e.0 += 1;
                if c["openedAt"].is_string() {
                    e.2 += 1;
                }
            }
            if c["status"] == "FAILED" {
                e.1 += 1;
            }
        }
    }
    by.retain(|_, (s, f, _)| *s + *f > 0);
    by
}

#[track_caller]
fn assert_emails(figures: &Value, expected: &BTreeMap<String, (i64, i64, i64)>) {
    let emails = &figures["emails"];
    let (sent, failed, opened) = expected
        .values()
        .fold((0, 0, 0), |a, e| (a.0 + e.0, a.1 + e.1, a.2 + e.2));
    assert_eq!(emails["sent"], sent, "{}", pretty(emails));
    assert_eq!(emails["failed"], failed, "{}", pretty(emails));
    assert_eq!(emails["opened"], opened, "{}", pretty(emails));
    assert_eq!(emails["openRate"], rate(opened, sent));
    let by_kind: BTreeMap<String, Value> = emails["byKind"]
        .as_array()
        .expect("byKind")
        .iter()
        .filter(|k| k["sent"].as_i64().unwrap_or(0) + k["failed"].as_i64().unwrap_or(0) > 0)
        .map(|k| (str_of(&k["kind"], "kind").to_string(), k.clone()))
        .collect();
    let want: BTreeMap<String, Value> = expected
        .iter()
        .map(|(kind, (s, f, o))| {
            (
                kind.clone(),
                json!({ "kind": kind, "sent": s, "failed": f, "opened": o, "openRate": rate(*o, *s) }),
            )
        })
        .collect();
    assert_eq!(by_kind, want, "{}", pretty(emails));
}

/// Refund times as the API's own timestamps give them (milliseconds, the precision it prints).
fn millis_between(from: &Value, to: &Value) -> i64 {
    parse_time(to).timestamp_millis() - parse_time(from).timestamp_millis()
}

fn nearest_rank(sorted: &[i64], p: usize) -> i64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn refund_times(method: Option<&str>, returns: &[&Value]) -> Value {
    let mut from_request: Vec<i64> = returns
        .iter()
        .map(|r| millis_between(&r["createdAt"], &r["refund"]["issuedAt"]))
        .collect();
    let mut from_receipt: Vec<i64> = returns
        .iter()
        .map(|r| millis_between(&r["receivedAt"], &r["refund"]["issuedAt"]))
        .collect();
    from_request.sort_unstable();
    from_receipt.sort_unstable();
    let by_expected = returns
        .iter()
        .filter(|r| {
            parse_time(&r["refund"]["issuedAt"])
                .date_naive()
                .to_string()
                .as_str()
                <= str_of(&r["refund"]["expectedBy"], "expectedBy")
        })
        .count() as i64;
    let seconds = |v: &[i64], p| json!(nearest_rank(v, p) as f64 / 1000.0);
    exact(json!({
        "method": method,
        "refunds": returns.len(),
        "fromRequestP50Seconds": seconds(&from_request, 50),
        "fromRequestP90Seconds": seconds(&from_request, 90),
        "fromReceiptP50Seconds": seconds(&from_receipt, 50),
        "fromReceiptP90Seconds": seconds(&from_receipt, 90),
        "refundedByExpectedBy": by_expected,
        "refundedByExpectedByRate": rate(by_expected, returns.len() as i64),
    }))
}

// ---------------------------------------------------------------------- the figures

#[tokio::test]
async fn every_figure_of_a_known_history_is_exact() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    let history = seed_history(&app, &server).await;

    // One email is opened: the confirmation of ada's first order.
    let comms = settled_communications(&app, &history).await;
    let confirmation = comms["a1"]
        .iter()
        .find(|c| c["kind"] == "ORDER_CONFIRMATION" && c["status"] == "SENT")
        .unwrap_or_else(|| panic!("ada's confirmation: {}", pretty(&json!(comms["a1"]))));
    let subject = str_of(&confirmation["subject"], "subject");
    let mail = server
        .received_matching(|m| m.subject() == subject)
        .pop()
        .expect("the confirmation arrived");
    let html = mail.html();
    let at = html.find("/t/o/").expect("an open-tracking pixel");
    let start = html[..at].rfind('"').expect("the pixel's src") + 1;
    let end = at + html[at..].find('"').expect("the end of the pixel's src");
    let pixel = &html[start..end];
    let response = app.client.get(pixel).send().await.expect("GET the pixel");
    assert_eq!(response.status(), 200);
    let comms = settled_communications(&app, &history).await;

    let resp = metrics_with(&app, Some(&app.marketing_token()), range()).await;
    let metrics = expect_data(&resp)["experienceMetrics"].clone();
    assert_eq!(metrics["from"], day(-40));
    assert_eq!(metrics["to"], day(0));
    assert_eq!(metrics["channel"], Value::Null);
    assert_eq!(
        channels_of(&metrics),
        ["WEB", "APP", "STORE", "PHONE"],
        "every channel with orders in the range, in the enum's order"
    );
    let overall = &metrics["overall"];
    let web = channel_figures(&metrics, "WEB");
    let app_ = channel_figures(&metrics, "APP");
    let store = channel_figures(&metrics, "STORE");
    let phone = channel_figures(&metrics, "PHONE");

    // Orders placed: gus's order a second before the range is not counted.
    assert_eq!(overall["ordersPlaced"], 12, "{}", pretty(overall));
    for (figures, n) in [(web, 8), (app_, 2), (store, 1), (phone, 1)] {
        assert_eq!(figures["ordersPlaced"], n, "{}", pretty(figures));
    }

    // Shipments: dan's cancelled PHONE order has none left; hal's order has two.
    assert_eq!(
        overall["fulfilment"],
        exact(json!({
            "ordersShipped": 11, "singleShipmentOrders": 10, "shipments": 12,
            "singleShipmentRate": 10.0 / 11.0, "averageShipmentsPerOrder": 12.0 / 11.0,
        }))
    );
    assert_eq!(
        web["fulfilment"],
        exact(json!({
            "ordersShipped": 8, "singleShipmentOrders": 7, "shipments": 9,
            "singleShipmentRate": 7.0 / 8.0, "averageShipmentsPerOrder": 9.0 / 8.0,
        }))
    );
    assert_eq!(
        phone["fulfilment"],
        exact(json!({
            "ordersShipped": 0, "singleShipmentOrders": 0, "shipments": 0,
            "singleShipmentRate": null, "averageShipmentsPerOrder": null,
        }))
    );

    // Delivery: ada's order on time, bob's late (told after the promise), cleo's known to be
    // late (told before it).
    assert_eq!(
        overall["delivery"],
        exact(json!({
            "ordersJudged": 3, "onTime": 1, "delayed": 2, "toldProactively": 1,
            "onTimeRate": 1.0 / 3.0, "delayedRate": 2.0 / 3.0, "proactiveRate": 0.5,
        }))
    );
    assert_eq!(
        web["delivery"],
        exact(json!({
            "ordersJudged": 2, "onTime": 1, "delayed": 1, "toldProactively": 0,
            "onTimeRate": 0.5, "delayedRate": 0.5, "proactiveRate": 0.0,
        }))
    );
    assert_eq!(
        app_["delivery"],
        exact(json!({
            "ordersJudged": 1, "onTime": 0, "delayed": 1, "toldProactively": 1,
            "onTimeRate": 0.0, "delayedRate": 1.0, "proactiveRate": 1.0,
        }))
    );
    assert_eq!(
        store["delivery"],
        exact(json!({
            "ordersJudged": 0, "onTime": 0, "delayed": 0, "toldProactively": 0,
            "onTimeRate": null, "delayedRate": null, "proactiveRate": null,
        }))
    );

    // Cancellations: dan (customer), an agent, and the warehouse's short pick.
    let cancellations = &overall["cancellations"];
    assert_eq!(
        cancellations["cancellations"],
        3,
        "{}",
        pretty(cancellations)
    );
    assert_eq!(cancellations["ordersCancelled"], 1);
    assert_eq!(
        counts_by(&cancellations["byActor"], "actor"),
        counts(&[("AGENT", 1), ("CUSTOMER", 1), ("SERVICE", 1)])
    );
    assert_eq!(
        counts_by(&cancellations["byReason"], "reasonCode"),
        counts(&[
            ("CUSTOMER_REQUEST", 1),
            ("OTHER", 1),
            ("OUT_OF_STOCK_AT_PICK", 1)
        ])
    );
    assert_eq!(
        counts_by(&web["cancellations"]["byReason"], "reasonCode"),
        counts(&[("OTHER", 1), ("OUT_OF_STOCK_AT_PICK", 1)])
    );
    assert_eq!(web["cancellations"]["ordersCancelled"], 0);
    assert_eq!(
        counts_by(&phone["cancellations"]["byActor"], "actor"),
        counts(&[("CUSTOMER", 1)])
    );
    assert_eq!(phone["cancellations"]["ordersCancelled"], 1);

    // Substitutions: one accepted, one declined.
    let substitutions = exact(json!({
        "proposed": 2, "accepted": 1, "declined": 1, "expired": 0, "awaitingAnswer": 0,
        "acceptanceRate": 0.5,
    }));
    assert_eq!(overall["substitutions"], substitutions);
    assert_eq!(web["substitutions"], substitutions);
    assert_eq!(
        app_["substitutions"],
        exact(json!({
            "proposed": 0, "accepted": 0, "declined": 0, "expired": 0, "awaitingAnswer": 0,
            "acceptanceRate": null,
        }))
    );

    // Returns: two WEB orders returned, ada's in a store; refund times from the API's own
    // timestamps.
    let returns = &overall["returns"];
    let (ada_return, bob_return) = (&history.returns[0], &history.returns[1]);
    assert_eq!(ada_return["channel"], "STORE");
    assert_eq!(bob_return["channel"], "WEB");
    let expected_returns = exact(json!({
        "returns": 2, "ordersReturned": 2, "returnRate": 2.0 / 12.0,
        "crossChannelReturns": 1, "crossChannelRate": 0.5,
        "refundsIssued": 2,
        "refundedByExpectedBy": 2, "refundedByExpectedByRate": 1.0,
        "refunds": refund_times(None, &[ada_return, bob_return]),
        "byMethod": [
            refund_times(Some("IN_STORE"), &[ada_return]),
            refund_times(Some("CARRIER"), &[bob_return]),
        ],
    }));
    assert_eq!(*returns, expected_returns, "{}", pretty(returns));
    let mut web_returns = expected_returns.clone();
    web_returns["returnRate"] = rate(2, 8);
    assert_eq!(web["returns"], web_returns);
    assert_eq!(app_["returns"]["returns"], 0);
    assert_eq!(app_["returns"]["returnRate"], 0.0);
    assert_eq!(
        app_["returns"]["refunds"]["fromRequestP50Seconds"],
        Value::Null
    );
    assert_eq!(app_["returns"]["byMethod"], json!([]));

    // Emails: as the orders' communications say, with gus's failed confirmation, the two delay
    // emails and the one open.
    let in_range = [
        "g1", "b1", "a1", "d1", "d2", "e1", "f1", "h1", "a2", "s1", "b2", "c1",
    ];
    let expected_emails = email_counts(&comms, &in_range);
    assert_eq!(
        expected_emails["ORDER_CONFIRMATION"].1, 1,
        "gus's confirmation failed"
    );
    assert_eq!(
        expected_emails["ORDER_CONFIRMATION"].2, 1,
        "ada's was opened"
    );
    assert_eq!(
        expected_emails["SHIPMENT_DELAYED"].0, 2,
        "bob and cleo were told"
    );
    assert_emails(overall, &expected_emails);
    assert_emails(
        web,
        &email_counts(&comms, &["g1", "b1", "a1", "d2", "e1", "f1", "h1", "a2"]),
    );
    assert_emails(app_, &email_counts(&comms, &["b2", "c1"]));
    assert_emails(phone, &email_counts(&comms, &["d1"]));
    assert_emails(store, &email_counts(&comms, &["s1"]));

    // Repeat purchase: eight customers (the anonymous sale is left out); ada within 15 days,
    // dan within an hour, bob within 33 days.
    assert_eq!(
        overall["repeatPurchase"],
        exact(json!({
            "all": segment(8, 2, 3, 3),
            "firstOrderOnTime": segment(1, 1, 1, 1),
            "firstOrderDelayed": segment(2, 0, 1, 1),
            "firstOrderDelayedToldProactively": segment(1, 0, 0, 0),
            "firstOrderDelayedNotTold": segment(1, 0, 1, 1),
            "firstOrderReturned": segment(2, 1, 2, 2),
            "firstOrderNotReturned": segment(6, 1, 1, 1),
        })),
        "{}",
        pretty(&overall["repeatPurchase"])
    );
    assert_eq!(web["repeatPurchase"]["all"], segment(6, 1, 2, 2));
    assert_eq!(app_["repeatPurchase"]["all"], segment(1, 0, 0, 0));
    assert_eq!(
        app_["repeatPurchase"]["firstOrderDelayedToldProactively"],
        segment(1, 0, 0, 0)
    );
    assert_eq!(phone["repeatPurchase"]["all"], segment(1, 1, 1, 1));
    assert_eq!(store["repeatPurchase"]["all"], segment(0, 0, 0, 0));

    // Agents and admins read the same figures.
    for token in [app.agent_token(), app.admin_token()] {
        let again = metrics_with(&app, Some(&token), range()).await;
        assert_eq!(expect_data(&again)["experienceMetrics"], metrics);
    }

    // One channel: its figures, and the overall figures are its own.
    let mut variables = range();
    variables["channel"] = json!("APP");
    let resp = metrics_with(&app, Some(&app.agent_token()), variables).await;
    let only_app = expect_data(&resp)["experienceMetrics"].clone();
    assert_eq!(only_app["channel"], "APP");
    assert_eq!(channels_of(&only_app), ["APP"]);
    assert_eq!(only_app["overall"], *app_);
    assert_eq!(*channel_figures(&only_app, "APP"), *app_);

    // A channel without orders reads as zeros.
    let mut variables = range();
    variables["channel"] = json!("MARKETPLACE");
    let resp = metrics_with(&app, Some(&app.agent_token()), variables).await;
    let none = expect_data(&resp)["experienceMetrics"].clone();
    assert_eq!(channels_of(&none), ["MARKETPLACE"]);
    assert_eq!(none["overall"]["ordersPlaced"], 0);
    assert_eq!(none["overall"]["delivery"]["onTimeRate"], Value::Null);
    assert_eq!(
        none["overall"]["repeatPurchase"]["all"],
        segment(0, 0, 0, 0)
    );

    // The range's ends are whole UTC days: the day before the range holds gus's first order.
    let resp = metrics_with(
        &app,
        Some(&app.agent_token()),
        json!({ "from": day(-41), "to": day(-41) }),
    )
    .await;
    let before = expect_data(&resp)["experienceMetrics"].clone();
    assert_eq!(before["overall"]["ordersPlaced"], 1);
    assert_eq!(
        before["overall"]["repeatPurchase"]["all"],
        segment(1, 1, 1, 1)
    );
}

// ---------------------------------------------------------------------- who may read them

#[tokio::test]
async fn customers_services_and_anonymous_callers_may_not_read_the_figures() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.order_for("ada@example.test").await;
    let customer = app.customer_token(&customer_of(&order));

    assert_error_code(&metrics_with(&app, None, range()).await, "UNAUTHENTICATED");
    assert_error_code(
        &metrics_with(&app, Some(&customer), range()).await,
        "FORBIDDEN",
    );
    assert_error_code(
        &metrics_with(&app, Some(&app.service_token()), range()).await,
        "FORBIDDEN",
    );
    let resp = metrics_with(&app, Some(&app.marketing_token()), range()).await;
    assert_eq!(
        expect_data(&resp)["experienceMetrics"]["overall"]["ordersPlaced"],
        1
    );
}

#[tokio::test]
async fn a_range_that_ends_before_it_starts_is_bad_input() {
    let app = TestApp::spawn().await;
    let resp = metrics_with(
        &app,
        Some(&app.agent_token()),
        json!({ "from": day(0), "to": day(-1) }),
    )
    .await;
    assert_error_code(&resp, "BAD_USER_INPUT");
}

// ---------------------------------------------------------------------- over time

#[tokio::test]
async fn a_weekly_series_cuts_the_range_at_mondays_and_its_periods_add_up() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    // 2026-10-07 is a Wednesday: the series is cut on Monday 12 and Monday 19 October.
    for (email, placed_at, channel) in [
        ("ada@example.test", "2026-10-07T09:00:00Z", "WEB"),
        ("bo@example.test", "2026-10-11T23:59:59Z", "APP"),
        ("cy@example.test", "2026-10-12T00:00:00Z", "WEB"),
        ("ada@example.test", "2026-10-20T12:00:00Z", "WEB"),
    ] {
        shirt_for(email, placed_at)
            .channel(channel)
            .place_ok(&app)
            .await;
    }
    let resp = app
        .as_marketing(
            "query { experienceMetrics(from: \"2026-10-07\", to: \"2026-10-21\") {
                overall { ordersPlaced }
                series(interval: WEEK) { from to overall { ordersPlaced }
                    byChannel { channel figures { ordersPlaced } } } } }",
            json!({}),
        )
        .await;
    let metrics = &expect_data(&resp)["experienceMetrics"];
    let periods: Vec<(String, String, i64)> = metrics["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|p| {
            (
                str_of(&p["from"], "from").to_string(),
                str_of(&p["to"], "to").to_string(),
                p["overall"]["ordersPlaced"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let expected = [
        ("2026-10-07", "2026-10-11", 2),
        ("2026-10-12", "2026-10-18", 1),
        ("2026-10-19", "2026-10-21", 1),
    ]
    .map(|(f, t, n)| (f.to_string(), t.to_string(), n));
    assert_eq!(periods, expected, "{}", pretty(metrics));
    assert_eq!(metrics["overall"]["ordersPlaced"], 4);
    assert_eq!(
        channels_of(&metrics["series"][0]),
        ["WEB", "APP"].map(String::from),
        "{}",
        pretty(&metrics["series"][0])
    );

    // Too many periods for one answer.
    let resp = app
        .as_marketing(
            "query { experienceMetrics(from: \"2026-01-01\", to: \"2026-12-31\") {
                series(interval: DAY) { from } } }",
            json!({}),
        )
        .await;
    assert_error_code(&resp, "BAD_USER_INPUT");
}

// ---------------------------------------------------------------------- kept up to date

#[tokio::test]
async fn the_figures_follow_what_happens_after_they_were_read() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let query = "query($from: Date!, $to: Date!) { experienceMetrics(from: $from, to: $to) {
        ordersPending
        overall { ordersPlaced
            cancellations { cancellations byActor { actor count } }
            repeatPurchase { all { customers repeatedWithin30Days } } }
        byChannel { channel figures { ordersPlaced
            repeatPurchase { all { customers repeatedWithin30Days } } } } } }";
    let read = || async {
        let resp = app.as_marketing(query, range()).await;
        expect_data(&resp)["experienceMetrics"].clone()
    };
    let repeat_of = |figures: &Value| {
        let all = &figures["repeatPurchase"]["all"];
        (
            all["customers"].as_i64().unwrap_or(-1),
            all["repeatedWithin30Days"].as_i64().unwrap_or(-1),
        )
    };

    shirt_for("ada@example.test", &at(-10, "09:00:00"))
        .place_ok(&app)
        .await;
    let metrics = read().await;
    assert_eq!(
        metrics["overall"]["ordersPlaced"],
        1,
        "{}",
        pretty(&metrics)
    );
    assert_eq!(repeat_of(&metrics["overall"]), (1, 0));

    // A second order three days later: Ada ordered again within 30 days.
    let later = shirt_for("ada@example.test", &at(-7, "09:00:00"))
        .channel("APP")
        .place_ok(&app)
        .await;
    let metrics = read().await;
    assert_eq!(
        metrics["overall"]["ordersPlaced"],
        2,
        "{}",
        pretty(&metrics)
    );
    assert_eq!(repeat_of(&metrics["overall"]), (1, 1));
    assert_eq!(repeat_of(channel_figures(&metrics, "WEB")), (1, 1));

    // A PHONE order placed before both, recorded only now: it becomes her first order in the
    // range, so she counts in PHONE, not in WEB.
    shirt_for("ada@example.test", &at(-12, "09:00:00"))
        .channel("PHONE")
        .place_ok(&app)
        .await;
    let metrics = read().await;
    assert_eq!(
        metrics["overall"]["ordersPlaced"],
        3,
        "{}",
        pretty(&metrics)
    );
    assert_eq!(metrics["ordersPending"], 0);
    assert_eq!(repeat_of(&metrics["overall"]), (1, 1));
    assert_eq!(repeat_of(channel_figures(&metrics, "PHONE")), (1, 1));
    assert_eq!(repeat_of(channel_figures(&metrics, "WEB")), (0, 0));

    // She cancels the APP order: one cancellation by a customer.
    let resp = app
        .cancel_order_with(
            &app.customer_token(&customer_of(&later)),
            json!({ "orderId": later["id"] }),
        )
        .await;
    expect_ok(&resp, "cancelOrder");
    let metrics = read().await;
    let cancellations = &metrics["overall"]["cancellations"];
    assert_eq!(cancellations["cancellations"], 1, "{}", pretty(&metrics));
    assert_eq!(
        counts_by(&cancellations["byActor"], "actor"),
        counts(&[("CUSTOMER", 1)])
    );
    assert_eq!(channel_figures(&metrics, "WEB")["ordersPlaced"], 1);
}
