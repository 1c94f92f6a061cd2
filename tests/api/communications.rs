//! Email communications, end to end: every test runs its own SMTP server (see `smtp.rs`) and
//! checks what arrives there against what the API says was sent: the confirmation and its
//! content, retries through 451s and an SMTP outage, permanent 550 failures, the shipment
//! emails, suppression, escaping, open tracking, several instances on one database, who reads
//! communications, the brand, and the timeline entries sending writes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::{
    LocationBuilder, OrderBuilder, ProductBuilder, USER_ERRORS, at_hours, day, nodes,
    only_shipment, seed, str_of, tracking_number, upsert_product,
};
use crate::harness::{
    TestApp, assert_error_code, assert_not_internal, assert_user_error_at, expect_data, expect_ok,
    metric_sum, pretty,
};
use crate::smtp::{Mail, SmtpServer, Stage, WAIT};

const CARRIER: &str = "PostNL";

/// Every Communication field the suites read.
const COMMUNICATION_FIELDS: &str = "id kind to subject html text status lastError attempts
    templateVersion isTest createdAt sentAt openedAt order { id }";

const BRAND_FIELDS: &str = "name logoUrl primaryColor supportEmail supportPhone websiteUrl";

const SHIRT_CARE: &str = "Wash at 30 degrees, inside out. Iron while damp.";
const TOTE_CARE: &str = "Spot clean only. Do not tumble dry.";

/// How long to keep watching for a second copy of a message that must arrive once: the outbox
/// polls every 200 ms and retries after 100 ms in the test configuration.
const SETTLE: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------- helpers

/// An app that sends its email to `server`.
async fn app_sending_to(server: &SmtpServer) -> TestApp {
    let url = server.url();
    TestApp::spawn_with(move |config| config.smtp_url = Some(url)).await
}

/// The seeded catalogue, with care instructions on both products.
async fn seed_with_care(app: &TestApp) {
    app.seed_catalog().await;
    for (sku, name, price, care) in [
        (seed::SHIRT, "Linen shirt", "19.90", SHIRT_CARE),
        (seed::TOTE, "Canvas tote", "12.50", TOTE_CARE),
    ] {
        let mut input = ProductBuilder::new(sku)
            .name(name)
            .price(price, "EUR")
            .input();
        input["careInstructions"] = json!(care);
        expect_ok(&upsert_product(app, input).await, "upsertProduct");
    }
}

/// An order for `email` (first name `first_name`) of one shirt and one tote; returns it.
async fn order_for(app: &TestApp, email: &str, first_name: &str) -> Value {
    OrderBuilder::new()
        .customer(json!({ "email": email, "firstName": first_name }))
        .line(seed::SHIRT, 1)
        .line(seed::TOTE, 1)
        .place_ok(app)
        .await
}

/// `order(id) { communications }` read with `token`; `Value::Null` when the order reads null.
async fn communications_as(app: &TestApp, token: &str, order_id: &Value) -> Value {
    let resp = app
        .gql(
            Some(token),
            &format!(
                "query($id: ID!) {{ order(id: $id) {{ communications {{ {COMMUNICATION_FIELDS} }} }} }}"
            ),
            json!({ "id": order_id }),
        )
        .await;
    let order = &expect_data(&resp)["order"];
    if order.is_null() {
        return Value::Null;
    }
    order["communications"].clone()
}

/// The order's communications as agent-1 reads them, oldest first.
async fn communications(app: &TestApp, order_id: &Value) -> Vec<Value> {
    let list = communications_as(app, &app.agent_token(), order_id).await;
    list.as_array()
        .unwrap_or_else(|| panic!("an agent reads the order's communications: {list}"))
        .clone()
}

fn of_kind(list: &[Value], kind: &str) -> Vec<Value> {
    list.iter().filter(|c| c["kind"] == kind).cloned().collect()
}

fn kinds_of(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|c| c["kind"].as_str().unwrap_or("<no kind>").to_string())
        .collect()
}

/// Polls the order's communications (as an agent, at most 10 s) until the one of `kind` has one
/// of `statuses`; returns it.
async fn wait_for_communication(
    app: &TestApp,
    order_id: &Value,
    kind: &str,
    statuses: &[&str],
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = communications(app, order_id).await;
        if let Some(found) = of_kind(&list, kind)
            .into_iter()
            .find(|c| statuses.iter().any(|s| c["status"] == *s))
        {
            return found;
        }
        if Instant::now() >= deadline {
            panic!(
                "no {kind} communication with a status in {statuses:?} within {WAIT:?}; the order's communications:\n{}",
                pretty(&json!(list))
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_until_sent(app: &TestApp, order_id: &Value, kind: &str) -> Value {
    wait_for_communication(app, order_id, kind, &["SENT"]).await
}

/// Whether `haystack` mentions the order number `number` (not as part of a longer one).
fn mentions(haystack: &str, number: &str) -> bool {
    haystack.match_indices(number).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + number.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// The messages received so far whose subject mentions the order number.
fn mails_about(server: &SmtpServer, number: &str) -> Vec<Mail> {
    server.received_matching(|m| mentions(m.subject(), number))
}

/// The received message whose subject is the communication's.
#[track_caller]
fn mail_for(server: &SmtpServer, communication: &Value) -> Mail {
    let subject = str_of(&communication["subject"], "subject");
    let found = server.received_matching(|m| m.subject() == subject);
    assert_eq!(
        found.len(),
        1,
        "exactly one message with the subject {subject:?} arrived; got {found:#?}"
    );
    found[0].clone()
}

/// The open-tracking pixel's URL in a sent HTML part.
#[track_caller]
fn pixel_url(html: &str) -> String {
    let at = html
        .find("/t/o/")
        .unwrap_or_else(|| panic!("no open-tracking pixel (/t/o/) in the HTML:\n{html}"));
    let start = html[..at]
        .rfind('"')
        .map(|q| q + 1)
        .expect("the pixel's src attribute");
    let end = at + html[at..].find('"').expect("the end of the pixel's src");
    html[start..end].to_string()
}

/// The order's timeline entries of `kind` as agent-1 reads them, with their communication.
async fn order_email_entries(app: &TestApp, order_id: &Value, kind: &str) -> Vec<Value> {
    let resp = app
        .as_agent(
            "query($id: ID!, $kinds: [TimelineKind!]) { order(id: $id) {
                timeline(first: 100, kinds: $kinds) { edges { node {
                    id kind summary occurredAt order { id }
                    communication { id kind subject status } } } } } }",
            json!({ "id": order_id, "kinds": [kind] }),
        )
        .await;
    nodes(&expect_data(&resp)["order"]["timeline"])
}

/// A shirt order promised in three days, dispatched from ST-1; returns (order, shipment id,
/// tracking number).
async fn dispatched_promised_order(app: &TestApp, customer: Value) -> (Value, Value, String) {
    let order = app
        .place_fulfilment(
            &OrderBuilder::new()
                .customer(customer)
                .line(seed::SHIRT, 1)
                .placed_at(&at_hours(0))
                .promised(&day(3)),
        )
        .await;
    let shipment = only_shipment(&order)["id"].clone();
    let number = tracking_number();
    app.dispatch(&shipment, CARRIER, &number).await;
    (order, shipment, number)
}

/// The carrier reports an estimate two days past the promise of `dispatched_promised_order`.
async fn report_late_estimate(app: &TestApp, number: &str, estimate: &str) {
    let resp = app
        .record_tracking(json!({
            "carrier": CARRIER, "trackingNumber": number, "status": "IN_TRANSIT",
            "occurredAt": at_hours(-1), "estimatedDeliveryDate": estimate,
        }))
        .await;
    let shipment = &expect_ok(&resp, "recordTrackingEvent")["shipment"];
    assert_eq!(shipment["isDelayed"], true, "{}", pretty(shipment));
}

async fn update_customer(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(
        Some(token),
        &format!(
            "mutation($input: UpdateCustomerInput!) {{ updateCustomer(input: $input) {{
                customer {{ id communicationPreferences {{ orderUpdatesByEmail }} }} {USER_ERRORS} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

// ---------------------------------------------------------------------- the confirmation

#[tokio::test]
async fn the_confirmation_arrives_once_with_the_order_its_lines_care_and_brand() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    seed_with_care(&app).await;
    let order = OrderBuilder::new()
        .customer(json!({ "email": "ada@example.test", "firstName": "Ada" }))
        .line(seed::SHIRT, 2)
        .line(seed::TOTE, 1)
        .place_ok(&app)
        .await;
    let number = str_of(&order["number"], "order number").to_string();

    let mail = server
        .wait_for_matching(1, WAIT, &format!("about {number}"), |m| {
            mentions(m.subject(), &number)
        })
        .await
        .remove(0);
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        mails_about(&server, &number).len(),
        1,
        "the confirmation arrives once: {:#?}",
        server.received()
    );
    assert_eq!(server.received().len(), 1, "nothing else is sent");

    // What the customer reads.
    assert_eq!(mail.to, vec!["ada@example.test".to_string()]);
    assert_eq!(mail.envelope_to, vec!["ada@example.test".to_string()]);
    assert_eq!(mail.from_name.as_deref(), Some("Touchpoint Store"));
    assert_eq!(
        mail.from_address.as_deref(),
        Some("support@touchpoint.example")
    );
    assert!(
        mail.message_id.as_deref().is_some_and(|id| !id.is_empty()),
        "a Message-ID: {}",
        mail.raw
    );
    assert_eq!(
        mail.content_type.as_deref(),
        Some("multipart/alternative"),
        "a text and an HTML part"
    );
    assert!(mail.subject().contains("Ada"), "{}", mail.subject());
    let (text, html) = (mail.text(), mail.html());
    assert!(!text.is_empty() && !html.is_empty(), "{}", mail.raw);
    for part in [&text, &html] {
        for needle in [
            number.as_str(),
            "Ada",
            "Linen shirt",
            "Canvas tote",
            SHIRT_CARE,
            TOTE_CARE,
            "Touchpoint Store",
        ] {
            assert!(part.contains(needle), "{needle:?} is missing from:\n{part}");
        }
    }

    // What the API says was sent.
    let list = communications(&app, &order["id"]).await;
    assert_eq!(
        kinds_of(&list),
        vec!["ORDER_CONFIRMATION"],
        "{}",
        pretty(&json!(list))
    );
    let sent = &list[0];
    assert_eq!(sent["status"], "SENT", "{}", pretty(sent));
    assert_eq!(sent["attempts"], 1);
    assert_eq!(sent["templateVersion"], 1);
    assert_eq!(sent["isTest"], false);
    assert_eq!(sent["lastError"], Value::Null);
    assert!(
        sent["sentAt"].is_string(),
        "sentAt is set: {}",
        pretty(sent)
    );
    assert_eq!(sent["openedAt"], Value::Null);
    assert_eq!(sent["to"], "ada@example.test");
    assert_eq!(sent["subject"], mail.subject(), "the subject as sent");
    assert_eq!(sent["order"]["id"], order["id"]);
    let api_text = str_of(&sent["text"], "text").replace("\r\n", "\n");
    assert_eq!(
        api_text.trim_end(),
        text.trim_end(),
        "Communication.text is the text part as sent"
    );
    let api_html = str_of(&sent["html"], "html");
    assert!(api_html.contains(SHIRT_CARE) && api_html.contains(&number));
}

// ---------------------------------------------------------------------- retries and failures

#[tokio::test]
async fn a_message_refused_with_451_twice_is_retried_and_arrives_once() {
    let server = SmtpServer::start().await;
    server.fail_next(Stage::DataEnd, 2, 451);
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let order = order_for(&app, "ada@example.test", "Ada").await;
    let number = str_of(&order["number"], "order number").to_string();

    wait_until_sent(&app, &order["id"], "ORDER_CONFIRMATION").await;
    tokio::time::sleep(SETTLE).await;
    let arrived = mails_about(&server, &number);
    assert_eq!(arrived.len(), 1, "it arrives once: {arrived:#?}");
    let tried = server.attempts();
    assert_eq!(
        tried.len(),
        3,
        "two refused attempts and one accepted: {tried:#?}"
    );
    let sent = communications(&app, &order["id"]).await[0].clone();
    assert_eq!(sent["status"], "SENT", "{}", pretty(&sent));
    assert!(
        sent["attempts"].as_i64().unwrap_or(0) >= 3,
        "two failures and a success are three attempts: {}",
        pretty(&sent)
    );
    assert_eq!(
        sent["attempts"].as_i64(),
        Some(tried.len() as i64),
        "attempts counts what the server saw"
    );
    assert_eq!(sent["lastError"], Value::Null, "{}", pretty(&sent));
    assert!(sent["sentAt"].is_string());
    let id = arrived[0].message_id.clone();
    assert!(id.is_some(), "a Message-ID");
    for attempt in &tried {
        assert_eq!(
            attempt.message_id, id,
            "every attempt carries the same Message-ID"
        );
        assert_eq!(attempt.subject(), arrived[0].subject());
    }
    assert!(
        order_email_entries(&app, &order["id"], "EMAIL_FAILED")
            .await
            .is_empty(),
        "a retried message did not fail"
    );
}

#[tokio::test]
async fn a_message_placed_while_smtp_is_down_retries_and_arrives_when_it_is_back() {
    let server = SmtpServer::reserve();
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let order = order_for(&app, "ada@example.test", "Ada").await;
    let number = str_of(&order["number"], "order number").to_string();

    let retrying =
        wait_for_communication(&app, &order["id"], "ORDER_CONFIRMATION", &["RETRYING"]).await;
    assert!(
        retrying["lastError"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "lastError says why: {}",
        pretty(&retrying)
    );
    assert!(retrying["attempts"].as_i64().unwrap_or(0) >= 1);
    assert_eq!(retrying["sentAt"], Value::Null);
    assert!(server.received().is_empty());

    server.resume().await;
    let sent = wait_until_sent(&app, &order["id"], "ORDER_CONFIRMATION").await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        mails_about(&server, &number).len(),
        1,
        "it arrives once: {:#?}",
        server.received()
    );
    let sent = communications(&app, &order["id"])
        .await
        .into_iter()
        .find(|c| c["id"] == sent["id"])
        .expect("the same communication");
    assert_eq!(sent["status"], "SENT");
    assert!(
        sent["attempts"].as_i64().unwrap_or(0) >= 2,
        "{}",
        pretty(&sent)
    );
    assert_eq!(sent["lastError"], Value::Null);
    assert!(sent["sentAt"].is_string());
    assert_eq!(
        order_email_entries(&app, &order["id"], "EMAIL_SENT")
            .await
            .len(),
        1
    );
    assert!(
        order_email_entries(&app, &order["id"], "EMAIL_FAILED")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_message_refused_with_550_fails_for_good_and_the_order_timeline_says_so() {
    let server = SmtpServer::start().await;
    server.fail_next(Stage::DataEnd, 1, 550);
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let order = order_for(&app, "ada@example.test", "Ada").await;

    let failed =
        wait_for_communication(&app, &order["id"], "ORDER_CONFIRMATION", &["FAILED"]).await;
    assert!(
        failed["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("550")),
        "lastError carries the server's answer: {}",
        pretty(&failed)
    );
    assert_eq!(failed["attempts"], 1, "a 5xx is not retried");
    assert_eq!(failed["sentAt"], Value::Null);

    tokio::time::sleep(SETTLE).await;
    assert!(server.received().is_empty(), "nothing arrives");
    assert_eq!(server.attempts().len(), 1, "no second attempt");
    let entries = order_email_entries(&app, &order["id"], "EMAIL_FAILED").await;
    assert_eq!(entries.len(), 1, "{}", pretty(&json!(entries)));
    assert_eq!(entries[0]["communication"]["id"], failed["id"]);
    assert_eq!(entries[0]["communication"]["status"], "FAILED");
    assert!(
        order_email_entries(&app, &order["id"], "EMAIL_SENT")
            .await
            .is_empty()
    );
    let still = communications(&app, &order["id"]).await;
    assert_eq!(still.len(), 1);
    assert_eq!(still[0]["status"], "FAILED", "FAILED is final");
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_failed_after_its_attempts() {
    let server = SmtpServer::reserve();
    let url = server.url();
    let app = TestApp::spawn_with(move |config| {
        config.smtp_url = Some(url);
        config.mail_max_attempts = 3;
    })
    .await;
    app.seed_catalog().await;
    let order = order_for(&app, "ada@example.test", "Ada").await;

    let failed =
        wait_for_communication(&app, &order["id"], "ORDER_CONFIRMATION", &["FAILED"]).await;
    assert_eq!(failed["attempts"], 3, "{}", pretty(&failed));
    assert!(
        failed["lastError"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        pretty(&failed)
    );
    assert_eq!(failed["sentAt"], Value::Null);
    let entries = order_email_entries(&app, &order["id"], "EMAIL_FAILED").await;
    assert_eq!(entries.len(), 1, "{}", pretty(&json!(entries)));
    assert_eq!(entries[0]["communication"]["id"], failed["id"]);

    // FAILED is final: a server that comes back gets nothing.
    server.resume().await;
    tokio::time::sleep(SETTLE).await;
    assert!(server.received().is_empty(), "{:#?}", server.received());
    assert_eq!(communications(&app, &order["id"]).await[0]["attempts"], 3);
}

#[tokio::test]
async fn a_server_that_goes_away_and_comes_back_gets_the_next_message() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let first = order_for(&app, "ada@example.test", "Ada").await;
    wait_until_sent(&app, &first["id"], "ORDER_CONFIRMATION").await;
    assert_eq!(server.received().len(), 1);

    // The connection the sender keeps open is closed under it.
    server.stop().await;
    let second = order_for(&app, "ada@example.test", "Ada").await;
    wait_for_communication(&app, &second["id"], "ORDER_CONFIRMATION", &["RETRYING"]).await;
    server.resume().await;
    let sent = wait_until_sent(&app, &second["id"], "ORDER_CONFIRMATION").await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(server.received().len(), 2, "{:#?}", server.received());
    mail_for(&server, &sent);
    assert_eq!(
        mails_about(&server, str_of(&second["number"], "number")).len(),
        1
    );
}

// ---------------------------------------------------------------------- shipment emails

#[tokio::test]
async fn dispatch_sends_the_dispatch_email_with_the_tracking_link() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let (order, _, number) = dispatched_promised_order(
        &app,
        json!({ "email": "ada@example.test", "firstName": "Ada" }),
    )
    .await;
    let order_number = str_of(&order["number"], "order number").to_string();

    let dispatched = wait_until_sent(&app, &order["id"], "SHIPMENT_DISPATCHED").await;
    let confirmation = wait_until_sent(&app, &order["id"], "ORDER_CONFIRMATION").await;
    let mail = mail_for(&server, &dispatched);
    let link = format!("https://track.example.test/{number}");
    assert!(mail.text().contains(&link), "{}", mail.text());
    assert!(
        mail.html().contains(&format!("href=\"{link}\"")),
        "a tracking button: {}",
        mail.html()
    );
    for part in [mail.text(), mail.html()] {
        assert!(part.contains(&number), "the tracking number");
        assert!(part.contains(CARRIER), "the carrier");
        assert!(mentions(&part, &order_number), "the order number");
    }
    assert!(mentions(mail.subject(), &order_number));
    // The button leads to the order's own tracking page, the carrier's page is linked too.
    let resp = app
        .as_agent(
            "query($id: ID!) { order(id: $id) { trackingPageUrl } }",
            json!({ "id": order["id"] }),
        )
        .await;
    let page = str_of(
        &expect_data(&resp)["order"]["trackingPageUrl"],
        "trackingPageUrl",
    )
    .to_string();
    assert!(page.starts_with(&app.url("/track/")), "{page}");
    assert!(mail.text().contains(&page), "{}", mail.text());
    assert!(
        mail.html().contains(&format!("href=\"{page}\"")),
        "{}",
        mail.html()
    );
    assert_eq!(dispatched["attempts"], 1);
    assert_eq!(dispatched["templateVersion"], 1);
    assert_ne!(
        mail.message_id,
        mail_for(&server, &confirmation).message_id,
        "each message has its own Message-ID"
    );
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        kinds_of(&communications(&app, &order["id"]).await),
        vec!["ORDER_CONFIRMATION", "SHIPMENT_DISPATCHED"]
    );
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn a_late_carrier_estimate_sends_the_delay_email_on_its_own() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let (order, _, number) = dispatched_promised_order(
        &app,
        json!({ "email": "ada@example.test", "firstName": "Ada" }),
    )
    .await;
    wait_until_sent(&app, &order["id"], "SHIPMENT_DISPATCHED").await;

    report_late_estimate(&app, &number, &day(5)).await;
    let delayed = wait_until_sent(&app, &order["id"], "SHIPMENT_DELAYED").await;
    let mail = mail_for(&server, &delayed);
    let text = mail.text();
    assert!(text.contains(&day(3)), "the promised date: {text}");
    assert!(text.contains(&day(5)), "the new estimate: {text}");
    assert!(text.contains(&number), "the tracking number: {text}");
    assert!(mail.html().contains(&day(5)));
    assert!(mentions(
        mail.subject(),
        str_of(&order["number"], "order number")
    ));

    // A later estimate is the same delay: no second email.
    report_late_estimate(&app, &number, &day(6)).await;
    tokio::time::sleep(SETTLE).await;
    let list = communications(&app, &order["id"]).await;
    assert_eq!(
        kinds_of(&list),
        vec![
            "ORDER_CONFIRMATION",
            "SHIPMENT_DISPATCHED",
            "SHIPMENT_DELAYED"
        ],
        "the IN_TRANSIT events send nothing besides the one delay email: {}",
        pretty(&json!(list))
    );
    assert_eq!(server.received().len(), 3, "{:#?}", server.received());
}

#[tokio::test]
async fn carrier_events_send_out_for_delivery_and_delivered_once_and_history_sends_nothing() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let (order, _, number) = dispatched_promised_order(
        &app,
        json!({ "email": "ada@example.test", "firstName": "Ada" }),
    )
    .await;
    app.track(CARRIER, &number, "IN_TRANSIT", &at_hours(-4))
        .await;
    app.track(CARRIER, &number, "OUT_FOR_DELIVERY", &at_hours(-2))
        .await;
    app.track(CARRIER, &number, "DELIVERED", &at_hours(-1))
        .await;
    // Late and repeated events: kept in the history, nothing new for the customer.
    app.track(CARRIER, &number, "OUT_FOR_DELIVERY", &at_hours(-3))
        .await;
    app.track(CARRIER, &number, "IN_TRANSIT", &at_hours(-5))
        .await;

    wait_until_sent(&app, &order["id"], "OUT_FOR_DELIVERY").await;
    wait_until_sent(&app, &order["id"], "DELIVERED").await;
    tokio::time::sleep(SETTLE).await;
    let list = communications(&app, &order["id"]).await;
    assert_eq!(
        kinds_of(&list),
        vec![
            "ORDER_CONFIRMATION",
            "SHIPMENT_DISPATCHED",
            "OUT_FOR_DELIVERY",
            "DELIVERED"
        ],
        "{}",
        pretty(&json!(list))
    );
    assert!(list.iter().all(|c| c["status"] == "SENT"));
    assert_eq!(server.received().len(), 4, "{:#?}", server.received());
}

#[tokio::test]
async fn ready_for_collection_sends_the_collection_email_with_the_store() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let order = app
        .place_fulfilment(
            &OrderBuilder::new()
                .customer(json!({ "email": "ada@example.test", "firstName": "Ada" }))
                .collect_at(seed::STORE_A)
                .line(seed::SHIRT, 1),
        )
        .await;
    expect_ok(
        &app.mark_ready(&only_shipment(&order)["id"]).await,
        "markReadyForCollection",
    );
    let ready = wait_until_sent(&app, &order["id"], "READY_FOR_COLLECTION").await;
    let mail = mail_for(&server, &ready);
    let store = format!("Location {}", seed::STORE_A);
    assert!(mail.subject().contains(&store), "{}", mail.subject());
    assert!(mail.text().contains(&store), "{}", mail.text());
    assert!(mentions(mail.subject(), str_of(&order["number"], "number")));
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        kinds_of(&communications(&app, &order["id"]).await),
        vec!["ORDER_CONFIRMATION", "READY_FOR_COLLECTION"]
    );
}

#[tokio::test]
async fn cancelling_lines_and_then_the_order_sends_a_modification_and_a_cancellation() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let order = order_for(&app, "ada@example.test", "Ada").await;
    let customer = str_of(&order["customer"]["id"], "customer id");
    let token = app.customer_token(customer);
    // Changes are not optional updates: they are sent whatever the preference says.
    let resp = update_customer(
        &app,
        &token,
        json!({ "customerId": customer, "orderUpdatesByEmail": false }),
    )
    .await;
    expect_ok(&resp, "updateCustomer");
    let tote = order["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["sku"] == seed::TOTE)
        .expect("the tote line")["id"]
        .clone();
    let resp = app
        .cancel_lines_with(
            &token,
            json!({ "orderId": order["id"], "lines": [{ "lineId": tote, "quantity": 1 }] }),
        )
        .await;
    expect_ok(&resp, "cancelOrderLines");
    let modified = wait_until_sent(&app, &order["id"], "ORDER_MODIFIED").await;
    let resp = app
        .cancel_order_with(&token, json!({ "orderId": order["id"] }))
        .await;
    expect_ok(&resp, "cancelOrder");
    let cancelled = wait_until_sent(&app, &order["id"], "ORDER_CANCELLED").await;

    let mail = mail_for(&server, &modified);
    assert!(mail.text().contains("Canvas tote"), "{}", mail.text());
    let mail = mail_for(&server, &cancelled);
    assert!(
        mail.subject().to_lowercase().contains("cancelled"),
        "{}",
        mail.subject()
    );
    assert!(mentions(mail.subject(), str_of(&order["number"], "number")));
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        kinds_of(&communications(&app, &order["id"]).await),
        vec!["ORDER_CONFIRMATION", "ORDER_MODIFIED", "ORDER_CANCELLED"]
    );
    assert_eq!(server.received().len(), 3, "{:#?}", server.received());
}

#[tokio::test]
async fn a_return_sends_its_request_receipt_and_refund_with_the_refund_date() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    LocationBuilder::warehouse("WH-R")
        .at(52.10, 5.00)
        .return_point(true)
        .create(&app)
        .await;
    let order = app
        .place_fulfilment(
            &OrderBuilder::new()
                .customer(json!({ "email": "ada@example.test", "firstName": "Ada" }))
                .line(seed::SHIRT, 1),
        )
        .await;
    let number = tracking_number();
    app.dispatch(&only_shipment(&order)["id"], CARRIER, &number)
        .await;
    app.track(CARRIER, &number, "DELIVERED", &at_hours(-2))
        .await;
    let customer = str_of(&order["customer"]["id"], "customer id");
    let return_fields = "id rmaNumber refund { amount { amount currencyCode } expectedBy }";
    let resp = app
        .as_customer(
            customer,
            &format!(
                "mutation($input: RequestReturnInput!) {{ requestReturn(input: $input) {{
                    return {{ {return_fields} }} {USER_ERRORS} }} }}"
            ),
            json!({ "input": {
                "orderId": order["id"],
                "method": "CARRIER",
                "lines": [{ "lineId": order["lines"][0]["id"], "quantity": 1, "reason": "Does not fit" }],
            } }),
        )
        .await;
    let ret = expect_ok(&resp, "requestReturn")["return"].clone();
    let rma = str_of(&ret["rmaNumber"], "rmaNumber").to_string();
    let expected_by = str_of(&ret["refund"]["expectedBy"], "expectedBy").to_string();
    let requested = wait_until_sent(&app, &order["id"], "RETURN_REQUESTED").await;
    assert!(mail_for(&server, &requested).text().contains(&rma));

    let resp = app
        .as_service(
            &format!(
                "mutation($input: ReceiveReturnInput!) {{ receiveReturn(input: $input) {{
                    return {{ {return_fields} }} {USER_ERRORS} }} }}"
            ),
            json!({ "input": { "returnId": ret["id"], "locationCode": "WH-R", "restock": true } }),
        )
        .await;
    expect_ok(&resp, "receiveReturn");
    let received = wait_until_sent(&app, &order["id"], "RETURN_RECEIVED").await;
    let refunded = wait_until_sent(&app, &order["id"], "REFUND_ISSUED").await;
    assert!(mail_for(&server, &received).text().contains(&rma));
    let mail = mail_for(&server, &refunded);
    for part in [mail.text(), mail.html()] {
        assert!(part.contains(&rma), "{part}");
        assert!(part.contains("19.90"), "the amount: {part}");
        assert!(
            part.contains(&expected_by),
            "the refund date {expected_by}: {part}"
        );
    }
    tokio::time::sleep(SETTLE).await;
    let list = communications(&app, &order["id"]).await;
    assert_eq!(
        kinds_of(&list),
        vec![
            "ORDER_CONFIRMATION",
            "SHIPMENT_DISPATCHED",
            "DELIVERED",
            "RETURN_REQUESTED",
            "RETURN_RECEIVED",
            "REFUND_ISSUED"
        ],
        "{}",
        pretty(&json!(list))
    );
    assert_eq!(server.received().len(), list.len());
}

// ---------------------------------------------------------------------- suppression

#[tokio::test]
async fn a_customer_who_turned_order_updates_off_gets_no_dispatch_email_but_the_rest() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let customer = app
        .create_customer(json!({ "email": "quiet@example.test", "firstName": "Quinn" }))
        .await;
    let customer_id = str_of(&customer["id"], "customer id");
    let resp = update_customer(
        &app,
        &app.customer_token(customer_id),
        json!({ "customerId": customer_id, "orderUpdatesByEmail": false }),
    )
    .await;
    let updated = &expect_ok(&resp, "updateCustomer")["customer"];
    assert_eq!(
        updated["communicationPreferences"]["orderUpdatesByEmail"],
        false
    );

    let (order, _, number) =
        dispatched_promised_order(&app, json!({ "email": "quiet@example.test" })).await;
    assert_eq!(order["customer"]["id"], customer_id);
    wait_until_sent(&app, &order["id"], "ORDER_CONFIRMATION").await;
    let suppressed =
        wait_for_communication(&app, &order["id"], "SHIPMENT_DISPATCHED", &["SUPPRESSED"]).await;
    assert!(
        suppressed["lastError"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "lastError says why: {}",
        pretty(&suppressed)
    );
    assert_eq!(suppressed["sentAt"], Value::Null);
    assert_eq!(suppressed["attempts"], 0, "{}", pretty(&suppressed));

    // A delay is not an optional update: it is sent all the same.
    report_late_estimate(&app, &number, &day(5)).await;
    let delayed = wait_until_sent(&app, &order["id"], "SHIPMENT_DELAYED").await;
    tokio::time::sleep(SETTLE).await;
    let list = communications(&app, &order["id"]).await;
    let sent_subjects: Vec<String> = list
        .iter()
        .filter(|c| c["status"] == "SENT")
        .map(|c| c["subject"].as_str().unwrap_or_default().to_string())
        .collect();
    let received: Vec<String> = server
        .received()
        .iter()
        .map(|m| m.subject().to_string())
        .collect();
    assert_eq!(
        received, sent_subjects,
        "only the confirmation and the delay arrive"
    );
    assert_eq!(received.len(), 2);
    mail_for(&server, &delayed);
    assert_eq!(
        of_kind(&list, "SHIPMENT_DISPATCHED")[0]["status"],
        "SUPPRESSED",
        "suppressed for good"
    );
}

#[tokio::test]
async fn a_proposed_substitution_is_emailed_unless_updates_are_off() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let quiet = app
        .create_customer(json!({ "email": "quiet@example.test", "firstName": "Quinn" }))
        .await;
    let quiet_id = str_of(&quiet["id"], "customer id");
    let resp = update_customer(
        &app,
        &app.customer_token(quiet_id),
        json!({ "customerId": quiet_id, "orderUpdatesByEmail": false }),
    )
    .await;
    expect_ok(&resp, "updateCustomer");

    let mut orders = Vec::new();
    for email in ["ada@example.test", "quiet@example.test"] {
        let order = app
            .place_fulfilment(
                &OrderBuilder::new()
                    .customer(json!({ "email": email, "firstName": "Ada" }))
                    .collect_at(seed::STORE_A)
                    .line(seed::SHIRT, 2),
            )
            .await;
        let resp = app
            .as_service(
                &format!(
                    "mutation($input: ProposeSubstitutionInput!) {{ proposeSubstitution(input: $input) {{
                        substitution {{ id }} {USER_ERRORS} }} }}"
                ),
                json!({ "input": {
                    "orderLineId": order["lines"][0]["id"],
                    "substituteSku": seed::TOTE,
                    "substituteName": "Canvas tote",
                    "quantity": 2,
                    "unitPrice": { "amount": "12.50", "currencyCode": "EUR" },
                } }),
            )
            .await;
        expect_ok(&resp, "proposeSubstitution");
        orders.push(order);
    }

    let proposed = wait_until_sent(&app, &orders[0]["id"], "SUBSTITUTION_PROPOSED").await;
    let mail = mail_for(&server, &proposed);
    assert_eq!(mail.to, vec!["ada@example.test".to_string()]);
    assert!(mail.subject().contains("Linen shirt"), "{}", mail.subject());
    assert!(mail.text().contains("Canvas tote"), "{}", mail.text());
    let suppressed = wait_for_communication(
        &app,
        &orders[1]["id"],
        "SUBSTITUTION_PROPOSED",
        &["SUPPRESSED"],
    )
    .await;
    assert!(
        suppressed["lastError"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    wait_until_sent(&app, &orders[1]["id"], "ORDER_CONFIRMATION").await;
    tokio::time::sleep(SETTLE).await;
    let to_quinn = server.received_matching(|m| m.to == ["quiet@example.test"]);
    assert_eq!(
        to_quinn.len(),
        1,
        "only the confirmation reaches Quinn: {to_quinn:#?}"
    );
}

#[tokio::test]
async fn a_customer_without_an_email_address_is_suppressed() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .customer(json!({
            "identity": { "channel": "WEB", "externalId": "web-account-77" },
            "firstName": "Nomail",
        }))
        .line(seed::TOTE, 1)
        .place_ok(&app)
        .await;
    assert_eq!(
        order["customer"]["email"],
        Value::Null,
        "{}",
        pretty(&order)
    );

    let suppressed =
        wait_for_communication(&app, &order["id"], "ORDER_CONFIRMATION", &["SUPPRESSED"]).await;
    assert!(
        suppressed["lastError"]
            .as_str()
            .is_some_and(|e| e.to_lowercase().contains("email")),
        "lastError says there is no email address: {}",
        pretty(&suppressed)
    );
    assert_eq!(suppressed["sentAt"], Value::Null);
    tokio::time::sleep(SETTLE).await;
    assert!(server.received().is_empty(), "{:#?}", server.received());
    assert_eq!(
        communications(&app, &order["id"]).await[0]["status"],
        "SUPPRESSED"
    );
}

#[tokio::test]
async fn a_third_party_seller_of_record_owns_the_contact_and_nothing_is_sent() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let third_party = OrderBuilder::new()
        .marketplace("Bol")
        .set("sellerOfRecord", json!("THIRD_PARTY"))
        .customer_email("buyer@example.test")
        .line(seed::TOTE, 1)
        .place_ok(&app)
        .await;
    let ours = OrderBuilder::new()
        .marketplace("Bol")
        .customer_email("buyer@example.test")
        .line(seed::TOTE, 1)
        .place_ok(&app)
        .await;

    let suppressed = wait_for_communication(
        &app,
        &third_party["id"],
        "ORDER_CONFIRMATION",
        &["SUPPRESSED"],
    )
    .await;
    assert!(
        suppressed["lastError"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{}",
        pretty(&suppressed)
    );
    let sent = wait_until_sent(&app, &ours["id"], "ORDER_CONFIRMATION").await;
    tokio::time::sleep(SETTLE).await;
    let received = server.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    assert_eq!(received[0].subject(), sent["subject"].as_str().unwrap());
    assert!(mentions(
        received[0].subject(),
        str_of(&ours["number"], "number")
    ));
    assert!(mails_about(&server, str_of(&third_party["number"], "number")).is_empty());
}

// ---------------------------------------------------------------------- escaping

#[tokio::test]
async fn html_in_a_first_name_is_escaped_in_the_html_part() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let order = order_for(&app, "eve@example.test", "Eve <b>x</b>").await;
    let sent = wait_until_sent(&app, &order["id"], "ORDER_CONFIRMATION").await;
    let mail = mail_for(&server, &sent);

    let html = mail.html();
    assert!(
        html.contains("Eve &lt;b&gt;x&lt;/b&gt;"),
        "the name is escaped: {html}"
    );
    assert!(!html.contains("<b>x</b>"), "and not interpreted: {html}");
    let api_html = str_of(&sent["html"], "html");
    assert!(api_html.contains("Eve &lt;b&gt;x&lt;/b&gt;"));
    assert!(!api_html.contains("<b>x</b>"));
    // Plain text is not HTML: it reads as typed.
    assert!(mail.text().contains("Eve <b>x</b>"), "{}", mail.text());
    assert!(
        !mail.subject().contains("&lt;"),
        "the subject is plain text: {}",
        mail.subject()
    );
}

// ---------------------------------------------------------------------- open tracking

#[tokio::test]
async fn fetching_the_pixel_records_one_open() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let order = order_for(&app, "ada@example.test", "Ada").await;
    let sent = wait_until_sent(&app, &order["id"], "ORDER_CONFIRMATION").await;
    let mail = mail_for(&server, &sent);
    let pixel = pixel_url(&mail.html());
    assert!(
        pixel.starts_with(&format!("{}/t/o/", app.base_url)) && pixel.ends_with(".gif"),
        "the pixel is served by the API: {pixel}"
    );
    let api_html = str_of(&sent["html"], "html");
    assert!(
        !api_html.contains("/t/o/"),
        "Communication.html has no pixel: {api_html}"
    );
    let token = pixel.rsplit('/').next().unwrap().trim_end_matches(".gif");
    assert!(!api_html.contains(token));
    // Otherwise it is the HTML as sent.
    let sent_html = mail.html();
    let tag_start = sent_html
        .find(&format!("<img src=\"{pixel}\""))
        .expect("the pixel's img tag");
    let tag_end = tag_start
        + sent_html[tag_start..]
            .find('>')
            .expect("the end of the tag")
        + 1;
    let without_pixel = format!("{}{}", &sent_html[..tag_start], &sent_html[tag_end..]);
    assert_eq!(
        api_html.replace("\r\n", "\n").trim_end(),
        without_pixel.trim_end(),
        "Communication.html is the HTML as sent, less the pixel"
    );

    async fn fetch(app: &TestApp, url: &str) {
        let response = app
            .client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(response.status(), 200, "GET {url}");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("image/gif")
        );
        let body = response.bytes().await.expect("the image");
        assert!(body.starts_with(b"GIF8"), "a GIF: {body:?}");
    }

    // A token of no message: the same image, and nothing recorded.
    fetch(&app, &app.url("/t/o/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.gif")).await;
    fetch(&app, &app.url("/t/o/not-a-token.gif")).await;
    let read = communications(&app, &order["id"]).await[0].clone();
    assert_eq!(read["openedAt"], Value::Null, "{}", pretty(&read));
    assert!(
        order_email_entries(&app, &order["id"], "EMAIL_OPENED")
            .await
            .is_empty()
    );

    fetch(&app, &pixel).await;
    let opened = communications(&app, &order["id"]).await[0].clone();
    let opened_at = opened["openedAt"].clone();
    assert!(
        opened_at.is_string(),
        "openedAt is set: {}",
        pretty(&opened)
    );
    let entries = order_email_entries(&app, &order["id"], "EMAIL_OPENED").await;
    assert_eq!(entries.len(), 1, "{}", pretty(&json!(entries)));
    assert_eq!(entries[0]["communication"]["id"], sent["id"]);

    fetch(&app, &pixel).await;
    let again = communications(&app, &order["id"]).await[0].clone();
    assert_eq!(again["openedAt"], opened_at, "the first open counts");
    assert_eq!(
        order_email_entries(&app, &order["id"], "EMAIL_OPENED")
            .await
            .len(),
        1,
        "one EMAIL_OPENED entry however often it is fetched"
    );
    // Reading the message in the API is not an open either.
    assert_eq!(again["status"], "SENT");
}

// ---------------------------------------------------------------------- several instances

#[tokio::test]
async fn two_instances_on_one_database_send_each_confirmation_once() {
    let server = SmtpServer::start().await;
    let a = app_sending_to(&server).await;
    let url = server.url();
    let b = a
        .spawn_sharing(move |config| config.smtp_url = Some(url))
        .await;
    a.seed_catalog().await;

    let mut orders = Vec::new();
    for (i, app) in [&a, &b, &a, &b].into_iter().enumerate() {
        orders.push(order_for(app, &format!("shopper{i}@example.test"), "Sam").await);
    }
    server.wait_for(orders.len(), WAIT).await;
    tokio::time::sleep(SETTLE * 2).await;

    let received = server.received();
    assert_eq!(
        received.len(),
        orders.len(),
        "one confirmation per order: {:#?}",
        received
            .iter()
            .map(|m| m.subject().to_string())
            .collect::<Vec<_>>()
    );
    let mut ids: Vec<Option<String>> = received.iter().map(|m| m.message_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), orders.len(), "distinct Message-IDs");
    for order in &orders {
        let number = str_of(&order["number"], "order number");
        assert_eq!(mails_about(&server, number).len(), 1, "order {number}");
        for app in [&a, &b] {
            let list = communications(app, &order["id"]).await;
            assert_eq!(
                kinds_of(&list),
                vec!["ORDER_CONFIRMATION"],
                "{}",
                pretty(&json!(list))
            );
            assert_eq!(list[0]["status"], "SENT");
            assert_eq!(list[0]["attempts"], 1);
        }
        assert_eq!(
            order_email_entries(&a, &order["id"], "EMAIL_SENT")
                .await
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn an_instance_started_later_does_not_send_again_what_was_sent() {
    let server = SmtpServer::start().await;
    let a = app_sending_to(&server).await;
    a.seed_catalog().await;
    let order = order_for(&a, "ada@example.test", "Ada").await;
    wait_until_sent(&a, &order["id"], "ORDER_CONFIRMATION").await;

    let url = server.url();
    let b = a
        .spawn_sharing(move |config| config.smtp_url = Some(url))
        .await;
    // B reads the recent events again (they may have committed late) and finds them handled.
    let later = order_for(&b, "bob@example.test", "Bob").await;
    wait_until_sent(&b, &later["id"], "ORDER_CONFIRMATION").await;
    tokio::time::sleep(SETTLE * 2).await;
    assert_eq!(
        mails_about(&server, str_of(&order["number"], "number")).len(),
        1,
        "{:#?}",
        server.received()
    );
    assert_eq!(server.received().len(), 2);
    assert_eq!(communications(&b, &order["id"]).await.len(), 1);
}

// ---------------------------------------------------------------------- reads and access

/// Ada with two orders, the second one dispatched, and Bob with one order; every message sent.
/// Returns (ada's id, ada's first order, ada's second order, bob's id).
async fn two_customers(app: &TestApp) -> (String, Value, Value, String) {
    app.seed_catalog().await;
    let first = order_for(app, "ada@example.test", "Ada").await;
    wait_until_sent(app, &first["id"], "ORDER_CONFIRMATION").await;
    let (second, _, _) = dispatched_promised_order(
        app,
        json!({ "email": "ada@example.test", "firstName": "Ada" }),
    )
    .await;
    wait_until_sent(app, &second["id"], "ORDER_CONFIRMATION").await;
    wait_until_sent(app, &second["id"], "SHIPMENT_DISPATCHED").await;
    let bobs = order_for(app, "bob@example.test", "Bob").await;
    wait_until_sent(app, &bobs["id"], "ORDER_CONFIRMATION").await;
    let ada = str_of(&first["customer"]["id"], "customer id").to_string();
    assert_eq!(second["customer"]["id"], ada.as_str());
    let bob = str_of(&bobs["customer"]["id"], "customer id").to_string();
    (ada, first, second, bob)
}

fn customer_communications_query() -> String {
    format!(
        "query($id: ID!, $first: Int, $after: String) {{ customer(id: $id) {{
            communications(first: $first, after: $after) {{
                totalCount pageInfo {{ hasNextPage endCursor }}
                edges {{ cursor node {{ {COMMUNICATION_FIELDS} }} }} }} }} }}"
    )
}

fn node_query() -> String {
    format!(
        "query($id: ID!) {{ node(id: $id) {{ id ... on Communication {{ {COMMUNICATION_FIELDS} }} }} }}"
    )
}

#[tokio::test]
async fn the_owner_and_agents_read_the_communications_of_orders_and_customers() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    let (ada, first, second, _) = two_customers(&app).await;
    let owner = app.customer_token(&ada);

    // Order.communications, oldest first, with bodies.
    for token in [owner.clone(), app.agent_token(), app.admin_token()] {
        let list = communications_as(&app, &token, &second["id"]).await;
        let list = list
            .as_array()
            .expect("the owner and staff read them")
            .clone();
        assert_eq!(
            kinds_of(&list),
            vec!["ORDER_CONFIRMATION", "SHIPMENT_DISPATCHED"]
        );
        for c in &list {
            assert!(
                c["html"].as_str().is_some_and(|h| !h.is_empty()),
                "{}",
                pretty(c)
            );
            assert!(c["text"].as_str().is_some_and(|t| !t.is_empty()));
            assert_eq!(c["order"]["id"], second["id"]);
            assert_eq!(c["to"], "ada@example.test");
        }
    }

    // Customer.communications: newest first, counted, paged.
    let all = expect_data(
        &app.gql(
            Some(&owner),
            &customer_communications_query(),
            json!({ "id": ada, "first": 10 }),
        )
        .await,
    )["customer"]["communications"]
        .clone();
    assert_eq!(all["totalCount"], 3, "{}", pretty(&all));
    let listed = nodes(&all);
    assert_eq!(
        kinds_of(&listed),
        vec![
            "SHIPMENT_DISPATCHED",
            "ORDER_CONFIRMATION",
            "ORDER_CONFIRMATION"
        ]
    );
    assert_eq!(listed[1]["order"]["id"], second["id"]);
    assert_eq!(listed[2]["order"]["id"], first["id"]);
    let mine = expect_data(
        &app.gql(
            Some(&owner),
            "{ me { communications(first: 10) { totalCount edges { node { id } } } } }",
            json!({}),
        )
        .await,
    )["me"]["communications"]
        .clone();
    assert_eq!(mine["totalCount"], 3);
    let page = expect_data(
        &app.gql(
            Some(&owner),
            &customer_communications_query(),
            json!({ "id": ada, "first": 1 }),
        )
        .await,
    )["customer"]["communications"]
        .clone();
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(nodes(&page)[0]["id"], listed[0]["id"]);
    let rest = expect_data(
        &app.gql(
            Some(&owner),
            &customer_communications_query(),
            json!({ "id": ada, "first": 5, "after": page["pageInfo"]["endCursor"] }),
        )
        .await,
    )["customer"]["communications"]
        .clone();
    let rest_ids: Vec<Value> = nodes(&rest).iter().map(|c| c["id"].clone()).collect();
    assert_eq!(
        rest_ids,
        vec![listed[1]["id"].clone(), listed[2]["id"].clone()]
    );
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);

    let agent_view = expect_data(
        &app.as_agent(
            &customer_communications_query(),
            json!({ "id": ada, "first": 10 }),
        )
        .await,
    )["customer"]["communications"]
        .clone();
    assert_eq!(agent_view["totalCount"], 3);
    assert_eq!(
        nodes(&agent_view),
        listed,
        "agents read what the owner reads"
    );

    // node(id:)
    for token in [owner, app.agent_token()] {
        let resp = app
            .gql(
                Some(&token),
                &node_query(),
                json!({ "id": listed[0]["id"] }),
            )
            .await;
        let node = &expect_data(&resp)["node"];
        assert_eq!(node["id"], listed[0]["id"]);
        assert_eq!(node["subject"], listed[0]["subject"]);
        assert_eq!(node["kind"], "SHIPMENT_DISPATCHED");
        assert!(node["html"].is_string());
    }
}

#[tokio::test]
async fn another_customer_reads_none_of_them() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    let (ada, _, second, bob) = two_customers(&app).await;
    let bob_token = app.customer_token(&bob);
    let adas = communications(&app, &second["id"]).await;

    assert_eq!(
        communications_as(&app, &bob_token, &second["id"]).await,
        Value::Null,
        "another customer's order reads null"
    );
    for c in &adas {
        let resp = app
            .gql(Some(&bob_token), &node_query(), json!({ "id": c["id"] }))
            .await;
        assert_eq!(
            expect_data(&resp)["node"],
            Value::Null,
            "another customer's communication reads null"
        );
    }
    let resp = app
        .gql(
            Some(&bob_token),
            &customer_communications_query(),
            json!({ "id": ada, "first": 10 }),
        )
        .await;
    assert_not_internal(&resp);
    let text = resp.to_string();
    for c in &adas {
        assert!(
            !text.contains(str_of(&c["id"], "id")),
            "nothing of Ada's is listed for Bob: {}",
            pretty(&resp)
        );
    }
    let mine = expect_data(
        &app.gql(
            Some(&bob_token),
            "{ me { communications { totalCount edges { node { id to order { id } } } } } }",
            json!({}),
        )
        .await,
    )["me"]["communications"]
        .clone();
    assert_eq!(mine["totalCount"], 1, "only his own: {}", pretty(&mine));
    assert_eq!(nodes(&mine)[0]["to"], "bob@example.test");
}

#[tokio::test]
async fn services_read_communications_without_their_bodies() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    let (_, _, second, _) = two_customers(&app).await;
    let list = communications_as(&app, &app.service_token(), &second["id"]).await;
    let list = list.as_array().expect("services read them").clone();
    assert_eq!(
        kinds_of(&list),
        vec!["ORDER_CONFIRMATION", "SHIPMENT_DISPATCHED"]
    );
    for c in &list {
        assert_eq!(c["html"], Value::Null, "{}", pretty(c));
        assert_eq!(c["text"], Value::Null, "{}", pretty(c));
        assert_eq!(c["status"], "SENT");
        assert!(c["subject"].as_str().is_some_and(|s| !s.is_empty()));
    }
    let resp = app
        .as_service(&node_query(), json!({ "id": list[0]["id"] }))
        .await;
    let node = &expect_data(&resp)["node"];
    assert_eq!(node["id"], list[0]["id"]);
    assert_eq!(node["html"], Value::Null);
    assert_eq!(node["text"], Value::Null);
}

#[tokio::test]
async fn marketing_reads_none_of_a_customers_communications() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    let (ada, _, second, _) = two_customers(&app).await;
    let adas = communications(&app, &second["id"]).await;
    let marketing = app.marketing_token();
    let mut responses = Vec::new();
    for c in &adas {
        let resp = app
            .gql(Some(&marketing), &node_query(), json!({ "id": c["id"] }))
            .await;
        assert_not_internal(&resp);
        assert_eq!(resp["data"]["node"], Value::Null, "{}", pretty(&resp));
        responses.push(resp);
    }
    responses.push(
        app.gql(
            Some(&marketing),
            &format!(
                "query($id: ID!) {{ order(id: $id) {{ communications {{ {COMMUNICATION_FIELDS} }} }} }}"
            ),
            json!({ "id": second["id"] }),
        )
        .await,
    );
    responses.push(
        app.gql(
            Some(&marketing),
            &customer_communications_query(),
            json!({ "id": ada, "first": 10 }),
        )
        .await,
    );
    for resp in &responses {
        assert_not_internal(resp);
        let text = resp.to_string();
        for c in &adas {
            assert!(
                !text.contains(str_of(&c["id"], "id"))
                    && !text.contains(str_of(&c["subject"], "subject")),
                "marketing reads none of a customer's communications: {}",
                pretty(resp)
            );
        }
    }
}

// ---------------------------------------------------------------------- the timeline

#[tokio::test]
async fn email_sent_is_on_the_customers_timeline_with_its_communication() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let order = order_for(&app, "ada@example.test", "Ada").await;
    let sent = wait_until_sent(&app, &order["id"], "ORDER_CONFIRMATION").await;
    let customer = str_of(&order["customer"]["id"], "customer id");

    let fields = "edges { node { kind occurredAt order { id }
        communication { id subject status kind } } }";
    let resp = app
        .as_agent(
            &format!(
                "query($id: ID!) {{ customer(id: $id) {{
                    timeline(first: 100, kinds: [EMAIL_SENT]) {{ {fields} }} }} }}"
            ),
            json!({ "id": customer }),
        )
        .await;
    let entries = nodes(&expect_data(&resp)["customer"]["timeline"]);
    assert_eq!(entries.len(), 1, "{}", pretty(&resp));
    let entry = &entries[0];
    assert_eq!(entry["kind"], "EMAIL_SENT");
    assert_eq!(entry["order"]["id"], order["id"]);
    assert_eq!(entry["communication"]["id"], sent["id"]);
    assert_eq!(entry["communication"]["subject"], sent["subject"]);
    assert_eq!(entry["communication"]["status"], "SENT");
    assert_eq!(entry["communication"]["kind"], "ORDER_CONFIRMATION");

    // The customer sees it on her own timeline too.
    let resp = app
        .as_customer(
            customer,
            &format!("{{ me {{ timeline(first: 100, kinds: [EMAIL_SENT]) {{ {fields} }} }} }}"),
            json!({}),
        )
        .await;
    let mine = nodes(&expect_data(&resp)["me"]["timeline"]);
    assert_eq!(mine.len(), 1, "{}", pretty(&resp));
    assert_eq!(mine[0]["communication"]["id"], sent["id"]);
    assert_eq!(mine[0]["communication"]["subject"], sent["subject"]);

    let on_order = order_email_entries(&app, &order["id"], "EMAIL_SENT").await;
    assert_eq!(on_order.len(), 1);
    assert_eq!(on_order[0]["communication"]["id"], sent["id"]);
}

// ---------------------------------------------------------------------- the brand

fn update_brand_mutation() -> String {
    format!(
        "mutation($input: UpdateBrandInput!) {{ updateBrand(input: $input) {{
            brand {{ {BRAND_FIELDS} }} {USER_ERRORS} }} }}"
    )
}

async fn brand(app: &TestApp) -> Value {
    let resp = app
        .anon(&format!("{{ brand {{ {BRAND_FIELDS} }} }}"), json!({}))
        .await;
    expect_data(&resp)["brand"].clone()
}

fn default_brand() -> Value {
    json!({
        "name": "Touchpoint Store",
        "logoUrl": null,
        "primaryColor": "#0F766E",
        "supportEmail": "support@touchpoint.example",
        "supportPhone": null,
        "websiteUrl": null,
    })
}

#[tokio::test]
async fn anyone_reads_the_default_brand() {
    let app = TestApp::spawn().await;
    assert_eq!(brand(&app).await, default_brand());
    for token in [
        app.service_token(),
        app.marketing_token(),
        app.agent_token(),
    ] {
        let resp = app
            .gql(
                Some(&token),
                &format!("{{ brand {{ {BRAND_FIELDS} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(expect_data(&resp)["brand"], default_brand());
    }
}

#[tokio::test]
async fn only_marketing_and_admins_update_the_brand() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    for token in [
        app.agent_token(),
        app.service_token(),
        app.customer_token(&customer),
    ] {
        let resp = app
            .gql(
                Some(&token),
                &update_brand_mutation(),
                json!({ "input": { "name": "Hijacked" } }),
            )
            .await;
        assert_error_code(&resp, "FORBIDDEN");
    }
    let resp = app
        .anon(
            &update_brand_mutation(),
            json!({ "input": { "name": "Hijacked" } }),
        )
        .await;
    assert!(
        !crate::harness::top_level_errors(&resp).is_empty(),
        "anonymous callers may not: {}",
        pretty(&resp)
    );
    assert_not_internal(&resp);
    assert_eq!(brand(&app).await, default_brand(), "nothing changed");

    let resp = app
        .as_marketing(
            &update_brand_mutation(),
            json!({ "input": { "name": "Acme Outfitters" } }),
        )
        .await;
    assert_eq!(
        expect_ok(&resp, "updateBrand")["brand"]["name"],
        "Acme Outfitters"
    );
    let resp = app
        .as_admin(
            &update_brand_mutation(),
            json!({ "input": { "name": "Acme Admins" } }),
        )
        .await;
    assert_eq!(
        expect_ok(&resp, "updateBrand")["brand"]["name"],
        "Acme Admins"
    );
    assert_eq!(brand(&app).await["name"], "Acme Admins");
}

#[tokio::test]
async fn update_brand_refuses_invalid_values_and_changes_nothing() {
    let app = TestApp::spawn().await;
    for (input, field) in [
        (json!({ "primaryColor": "teal" }), "primaryColor"),
        (json!({ "primaryColor": "#0F766" }), "primaryColor"),
        (json!({ "primaryColor": "#GGGGGG" }), "primaryColor"),
        (json!({ "supportEmail": "not an email" }), "supportEmail"),
        (json!({ "supportEmail": "help@" }), "supportEmail"),
        (
            json!({ "logoUrl": "ftp://acme.example/logo.png" }),
            "logoUrl",
        ),
        (json!({ "logoUrl": "javascript:alert(1)" }), "logoUrl"),
        (json!({ "websiteUrl": "acme.example" }), "websiteUrl"),
        (json!({ "websiteUrl": "javascript:alert(1)" }), "websiteUrl"),
        // A valid change beside an invalid one is not applied either.
        (
            json!({ "name": "Half Written", "primaryColor": "red" }),
            "primaryColor",
        ),
    ] {
        let resp = app
            .as_marketing(&update_brand_mutation(), json!({ "input": input }))
            .await;
        assert_user_error_at(&resp, "updateBrand", &["INVALID"], &[field]);
        assert_eq!(
            brand(&app).await,
            default_brand(),
            "a refused {input} changes nothing"
        );
    }
}

#[tokio::test]
async fn update_brand_sets_and_clears_fields() {
    let app = TestApp::spawn().await;
    let resp = app
        .as_marketing(
            &update_brand_mutation(),
            json!({ "input": {
                "name": "Acme Outfitters",
                "logoUrl": "https://acme.example/logo.png",
                "primaryColor": "#1A2B3C",
                "supportEmail": "help@acme.example",
                "supportPhone": "+31 20 555 0101",
                "websiteUrl": "https://acme.example",
            } }),
        )
        .await;
    let updated = expect_ok(&resp, "updateBrand")["brand"].clone();
    let expected = json!({
        "name": "Acme Outfitters",
        "logoUrl": "https://acme.example/logo.png",
        "primaryColor": "#1A2B3C",
        "supportEmail": "help@acme.example",
        "supportPhone": "+31 20 555 0101",
        "websiteUrl": "https://acme.example",
    });
    assert_eq!(updated, expected);
    assert_eq!(brand(&app).await, expected, "anyone reads the new brand");

    // An omitted field stays; an empty optional one is cleared.
    let resp = app
        .as_marketing(
            &update_brand_mutation(),
            json!({ "input": { "logoUrl": "", "supportPhone": "" } }),
        )
        .await;
    expect_ok(&resp, "updateBrand");
    let mut cleared = expected.clone();
    cleared["logoUrl"] = Value::Null;
    cleared["supportPhone"] = Value::Null;
    assert_eq!(brand(&app).await, cleared);
}

#[tokio::test]
async fn the_next_email_wears_the_new_brand() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let before = order_for(&app, "ada@example.test", "Ada").await;
    let first = wait_until_sent(&app, &before["id"], "ORDER_CONFIRMATION").await;
    let old = mail_for(&server, &first);
    assert_eq!(old.from_name.as_deref(), Some("Touchpoint Store"));

    let resp = app
        .as_marketing(
            &update_brand_mutation(),
            json!({ "input": {
                "name": "Acme Outfitters",
                "supportEmail": "help@acme.example",
                "websiteUrl": "https://acme.example",
            } }),
        )
        .await;
    expect_ok(&resp, "updateBrand");

    let after = order_for(&app, "ada@example.test", "Ada").await;
    let second = wait_until_sent(&app, &after["id"], "ORDER_CONFIRMATION").await;
    let mail = mail_for(&server, &second);
    assert_eq!(mail.from_name.as_deref(), Some("Acme Outfitters"));
    assert_eq!(mail.from_address.as_deref(), Some("help@acme.example"));
    for part in [mail.text(), mail.html()] {
        assert!(part.contains("Acme Outfitters"), "{part}");
        assert!(part.contains("help@acme.example"), "{part}");
        assert!(part.contains("https://acme.example"), "{part}");
        assert!(!part.contains("Touchpoint Store"), "{part}");
    }
    assert!(str_of(&second["html"], "html").contains("Acme Outfitters"));
    // What was sent before stays as it was sent.
    let first_again = communications(&app, &before["id"]).await[0].clone();
    assert_eq!(first_again["html"], first["html"]);
}

/// Once its mail is out, the outbox waits: it polls (every 200 ms here) and wakes on commits,
/// but an empty poll must not wake it again. A loop that woke itself would keep issuing
/// statements as fast as the database answers.
#[tokio::test]
async fn once_its_mail_is_sent_the_server_goes_quiet() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    seed_with_care(&app).await;
    let mut orders = Vec::new();
    for (email, name) in [
        ("quiet-1@example.test", "Ada"),
        ("quiet-2@example.test", "Bo"),
    ] {
        orders.push(order_for(&app, email, name).await);
    }
    for order in &orders {
        wait_until_sent(&app, &order["id"], "ORDER_CONFIRMATION").await;
    }
    tokio::time::sleep(SETTLE).await;

    let statements = |metrics: String| {
        metric_sum(&metrics, "touchpoint_db_background_statements_total").unwrap_or_else(|| {
            panic!("touchpoint_db_background_statements_total is missing:\n{metrics}")
        })
    };
    let before = statements(app.metrics().await);
    let window = Duration::from_secs(2);
    tokio::time::sleep(window).await;
    let after = statements(app.metrics().await);
    // Ten polls in the window, a few statements each (about 30 in all); a loop that woke itself
    // issued thousands.
    assert!(
        after - before <= 200.0,
        "an idle server issued {} SQL statements in {window:?}",
        after - before
    );
    assert_eq!(server.received().len(), 2, "two confirmations, no more");
}
