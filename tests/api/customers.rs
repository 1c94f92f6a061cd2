//! Customers: upserts by email and identity, identity resolution on order intake, who reads
//! whom, search, and updates.

use serde_json::{Value, json};

use crate::fixtures::{OrderBuilder, USER_ERRORS, str_of};
use crate::harness::{
    TestApp, assert_user_error, assert_user_error_at, expect_data, expect_ok, pretty,
};

const CUSTOMER_FIELDS: &str =
    "id email firstName lastName phone locale identities { channel externalId }";

async fn upsert_customer(app: &TestApp, input: Value) -> Value {
    app.as_service(
        &format!(
            "mutation($input: CustomerInput!) {{ upsertCustomer(input: $input) {{ customer {{ {CUSTOMER_FIELDS} }} {USER_ERRORS} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

async fn update_customer(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(
        Some(token),
        &format!(
            "mutation($input: UpdateCustomerInput!) {{ updateCustomer(input: $input) {{ customer {{ {CUSTOMER_FIELDS} }} {USER_ERRORS} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

fn has_identity(customer: &Value, channel: &str, external_id: &str) -> bool {
    customer["identities"].as_array().is_some_and(|ids| {
        ids.iter()
            .any(|i| i["channel"] == channel && i["externalId"] == external_id)
    })
}

async fn read_customer_as_agent(app: &TestApp, id: &str) -> Value {
    let resp = app
        .as_agent(
            &format!("query($id: ID!) {{ customer(id: $id) {{ {CUSTOMER_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await;
    expect_data(&resp)["customer"].clone()
}

#[tokio::test]
async fn upsert_customer_by_email_creates_then_updates_the_same_customer() {
    let app = TestApp::spawn().await;
    let created = app
        .create_customer(json!({ "email": "ada@example.test", "firstName": "Ada" }))
        .await;
    assert_eq!(created["email"], "ada@example.test");
    assert_eq!(created["firstName"], "Ada");

    let updated = app
        .create_customer(json!({ "email": "ada@example.test", "lastName": "Lovelace" }))
        .await;
    assert_eq!(
        updated["id"], created["id"],
        "the same email is the same customer"
    );
    assert_eq!(updated["lastName"], "Lovelace");
    assert_eq!(
        updated["firstName"], "Ada",
        "a field the upsert did not mention stays"
    );
}

#[tokio::test]
async fn upsert_customer_by_identity_creates_then_updates_the_same_customer() {
    let app = TestApp::spawn().await;
    let identity = json!({ "channel": "STORE", "externalId": "LOYALTY-42" });
    let created = app
        .create_customer(json!({ "identity": identity, "firstName": "Bob" }))
        .await;
    assert!(has_identity(&created, "STORE", "LOYALTY-42"), "{created}");
    assert_eq!(created["email"], Value::Null);

    let updated = app
        .create_customer(json!({ "identity": identity, "email": "bob@example.test" }))
        .await;
    assert_eq!(
        updated["id"], created["id"],
        "the same identity is the same customer"
    );
    assert_eq!(updated["email"], "bob@example.test");
    assert_eq!(updated["firstName"], "Bob");
}

#[tokio::test]
async fn upsert_customer_with_a_new_identity_and_a_known_email_adds_the_identity() {
    let app = TestApp::spawn().await;
    let created = app
        .create_customer(json!({ "email": "cy@example.test" }))
        .await;
    let updated = app
        .create_customer(json!({ "email": "cy@example.test", "identity": { "channel": "APP", "externalId": "app-cy" } }))
        .await;
    assert_eq!(updated["id"], created["id"]);
    assert!(has_identity(&updated, "APP", "app-cy"), "{updated}");
}

#[tokio::test]
async fn upsert_customer_refuses_an_invalid_email() {
    let app = TestApp::spawn().await;
    let resp = upsert_customer(&app, json!({ "email": "not-an-email", "firstName": "Eve" })).await;
    assert_user_error_at(&resp, "upsertCustomer", &["INVALID"], &["email"]);
    let all = app
        .as_agent("{ customers { totalCount } }", json!({}))
        .await;
    assert_eq!(
        expect_data(&all)["customers"]["totalCount"],
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn upsert_customer_needs_an_email_or_an_identity() {
    let app = TestApp::spawn().await;
    let resp = upsert_customer(&app, json!({ "firstName": "Nobody" })).await;
    assert_user_error(&resp, "upsertCustomer", "INVALID");
}

#[tokio::test]
async fn an_order_with_a_known_identity_attaches_to_that_customer() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let ann = app
        .create_customer(json!({ "email": "ann@example.test", "identity": { "channel": "WEB", "externalId": "web-ann" } }))
        .await;

    let order = OrderBuilder::new()
        .customer(json!({ "identity": { "channel": "WEB", "externalId": "web-ann" } }))
        .line("SKU-1", 1)
        .place_ok(&app)
        .await;
    assert_eq!(order["customer"]["id"], ann["id"]);
}

#[tokio::test]
async fn an_order_matches_by_identity_before_email() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let ann = app
        .create_customer(json!({ "email": "ann@example.test", "identity": { "channel": "WEB", "externalId": "web-ann" } }))
        .await;
    app.create_customer(json!({ "email": "ben@example.test" }))
        .await;

    let order = OrderBuilder::new()
        .customer(json!({ "email": "ben@example.test", "identity": { "channel": "WEB", "externalId": "web-ann" } }))
        .line("SKU-1", 1)
        .place_ok(&app)
        .await;
    assert_eq!(
        order["customer"]["id"], ann["id"],
        "the identity wins over the email"
    );
}

#[tokio::test]
async fn an_order_with_a_new_identity_and_a_known_email_attaches_and_adds_the_identity() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let ann = app
        .create_customer(json!({ "email": "ann@example.test", "identity": { "channel": "WEB", "externalId": "web-ann" } }))
        .await;

    let order = OrderBuilder::new()
        .channel("APP")
        .customer(json!({ "email": "ann@example.test", "identity": { "channel": "APP", "externalId": "app-ann" } }))
        .line("SKU-1", 1)
        .place_ok(&app)
        .await;
    assert_eq!(order["customer"]["id"], ann["id"]);

    let customer = read_customer_as_agent(&app, str_of(&ann["id"], "customer id")).await;
    assert!(
        has_identity(&customer, "WEB", "web-ann"),
        "{}",
        pretty(&customer)
    );
    assert!(
        has_identity(&customer, "APP", "app-ann"),
        "the new identity was added: {}",
        pretty(&customer)
    );
}

#[tokio::test]
async fn an_order_from_an_unknown_shopper_creates_a_customer() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .customer(json!({ "email": "new@example.test", "firstName": "Nia" }))
        .line("SKU-1", 1)
        .place_ok(&app)
        .await;
    let customer =
        read_customer_as_agent(&app, str_of(&order["customer"]["id"], "customer id")).await;
    assert_eq!(customer["email"], "new@example.test");
    assert_eq!(customer["firstName"], "Nia");
}

#[tokio::test]
async fn me_returns_the_calling_customer() {
    let app = TestApp::spawn().await;
    let customer = app
        .create_customer(json!({ "email": "me@example.test", "firstName": "Mo" }))
        .await;
    let id = str_of(&customer["id"], "customer id");
    let resp = app
        .as_customer(id, "{ me { id email firstName } }", json!({}))
        .await;
    assert_eq!(
        expect_data(&resp)["me"],
        json!({ "id": id, "email": "me@example.test", "firstName": "Mo" })
    );
}

#[tokio::test]
async fn a_customer_reads_their_own_customer_by_id() {
    let app = TestApp::spawn().await;
    let customer = app
        .create_customer(json!({ "email": "me@example.test" }))
        .await;
    let id = str_of(&customer["id"], "customer id");
    let resp = app
        .as_customer(
            id,
            "query($id: ID!) { customer(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(expect_data(&resp)["customer"]["id"], id);
}

#[tokio::test]
async fn another_customer_reads_as_null() {
    let app = TestApp::spawn().await;
    let me = app
        .create_customer(json!({ "email": "me@example.test" }))
        .await;
    let other = app
        .create_customer(json!({ "email": "other@example.test" }))
        .await;
    let resp = app
        .as_customer(
            str_of(&me["id"], "customer id"),
            "query($id: ID!) { customer(id: $id) { id email } }",
            json!({ "id": other["id"] }),
        )
        .await;
    assert_eq!(
        expect_data(&resp)["customer"],
        Value::Null,
        "reported exactly like a missing one"
    );
}

/// Three customers an agent can tell apart by name, email, phone and identity.
async fn three_customers(app: &TestApp) -> (Value, Value, Value) {
    let grace = app
        .create_customer(json!({ "email": "grace@example.test", "firstName": "Grace", "lastName": "Hopper", "phone": "+31 20 555 0101" }))
        .await;
    let alan = app
        .create_customer(json!({ "email": "alan@example.test", "firstName": "Alan", "lastName": "Turing", "phone": "+44 20 7946 0002",
            "identity": { "channel": "MARKETPLACE", "externalId": "amzn-buyer-7781" } }))
        .await;
    let edsger = app
        .create_customer(json!({ "email": "edsger@example.test", "firstName": "Edsger", "lastName": "Dijkstra" }))
        .await;
    (grace, alan, edsger)
}

async fn search(app: &TestApp, query: &str) -> Vec<Value> {
    let resp = app
        .as_agent(
            "query($q: String) { customers(query: $q) { totalCount edges { node { id email } } } }",
            json!({ "q": query }),
        )
        .await;
    let connection = &expect_data(&resp)["customers"];
    let ids: Vec<Value> = connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect();
    assert_eq!(
        connection["totalCount"],
        ids.len(),
        "totalCount matches the edges: {}",
        pretty(&resp)
    );
    ids
}

#[tokio::test]
async fn agents_find_customers_by_name() {
    let app = TestApp::spawn().await;
    let (grace, _, _) = three_customers(&app).await;
    assert_eq!(search(&app, "Hopper").await, [grace["id"].clone()]);
    assert_eq!(
        search(&app, "grace").await,
        [grace["id"].clone()],
        "case does not matter"
    );
}

#[tokio::test]
async fn agents_find_customers_by_email() {
    let app = TestApp::spawn().await;
    let (_, alan, _) = three_customers(&app).await;
    assert_eq!(
        search(&app, "alan@example.test").await,
        [alan["id"].clone()]
    );
}

#[tokio::test]
async fn agents_find_customers_by_phone() {
    let app = TestApp::spawn().await;
    let (grace, _, _) = three_customers(&app).await;
    assert_eq!(search(&app, "+31 20 555 0101").await, [grace["id"].clone()]);
}

#[tokio::test]
async fn agents_find_customers_by_identity_external_id() {
    let app = TestApp::spawn().await;
    let (_, alan, _) = three_customers(&app).await;
    assert_eq!(search(&app, "amzn-buyer-7781").await, [alan["id"].clone()]);
}

#[tokio::test]
async fn agents_list_every_customer_without_a_query() {
    let app = TestApp::spawn().await;
    three_customers(&app).await;
    let resp = app
        .as_agent(
            "{ customers { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(expect_data(&resp)["customers"]["totalCount"], 3);
}

#[tokio::test]
async fn customer_by_identity_finds_the_customer() {
    let app = TestApp::spawn().await;
    let (_, alan, _) = three_customers(&app).await;
    let query = "query($channel: Channel!, $id: String!) { customerByIdentity(channel: $channel, externalId: $id) { id email } }";
    let resp = app
        .as_agent(
            query,
            json!({ "channel": "MARKETPLACE", "id": "amzn-buyer-7781" }),
        )
        .await;
    assert_eq!(expect_data(&resp)["customerByIdentity"]["id"], alan["id"]);

    let unknown = app
        .as_agent(query, json!({ "channel": "MARKETPLACE", "id": "nobody" }))
        .await;
    assert_eq!(expect_data(&unknown)["customerByIdentity"], Value::Null);
    let wrong_channel = app
        .as_agent(query, json!({ "channel": "WEB", "id": "amzn-buyer-7781" }))
        .await;
    assert_eq!(
        expect_data(&wrong_channel)["customerByIdentity"],
        Value::Null,
        "an identity belongs to its channel"
    );
}

#[tokio::test]
async fn a_customer_updates_their_own_details() {
    let app = TestApp::spawn().await;
    let customer = app
        .create_customer(json!({ "email": "me@example.test", "firstName": "Mo", "lastName": "Salah", "phone": "+31 6 1234 5678" }))
        .await;
    let id = str_of(&customer["id"], "customer id");
    let resp = update_customer(
        &app,
        &app.customer_token(id),
        json!({ "customerId": id, "firstName": "Mohamed" }),
    )
    .await;
    let updated = &expect_ok(&resp, "updateCustomer")["customer"];
    assert_eq!(updated["firstName"], "Mohamed");
    assert_eq!(
        updated["lastName"], "Salah",
        "an omitted field stays as it is"
    );
    assert_eq!(
        updated["phone"], "+31 6 1234 5678",
        "an omitted field stays as it is"
    );

    let stored = read_customer_as_agent(&app, id).await;
    assert_eq!(stored["firstName"], "Mohamed");
}

#[tokio::test]
async fn update_customer_with_null_clears_the_phone() {
    let app = TestApp::spawn().await;
    let customer = app
        .create_customer(
            json!({ "email": "me@example.test", "firstName": "Mo", "phone": "+31 6 1234 5678" }),
        )
        .await;
    let id = str_of(&customer["id"], "customer id");
    let resp = update_customer(
        &app,
        &app.customer_token(id),
        json!({ "customerId": id, "phone": null }),
    )
    .await;
    let updated = &expect_ok(&resp, "updateCustomer")["customer"];
    assert_eq!(updated["phone"], Value::Null);
    assert_eq!(updated["firstName"], "Mo");
    assert_eq!(read_customer_as_agent(&app, id).await["phone"], Value::Null);
}

#[tokio::test]
async fn a_customer_cannot_update_another_customer() {
    let app = TestApp::spawn().await;
    let me = app
        .create_customer(json!({ "email": "me@example.test" }))
        .await;
    let other = app
        .create_customer(json!({ "email": "other@example.test", "firstName": "Olga" }))
        .await;
    let token = app.customer_token(str_of(&me["id"], "customer id"));
    let resp = update_customer(
        &app,
        &token,
        json!({ "customerId": other["id"], "firstName": "Hacked" }),
    )
    .await;
    assert_user_error(&resp, "updateCustomer", "NOT_FOUND");
    let stored = read_customer_as_agent(&app, str_of(&other["id"], "customer id")).await;
    assert_eq!(stored["firstName"], "Olga", "nothing changed");
}

#[tokio::test]
async fn update_customer_changes_communication_preferences() {
    let app = TestApp::spawn().await;
    let customer = app
        .create_customer(json!({ "email": "me@example.test" }))
        .await;
    let id = str_of(&customer["id"], "customer id");
    let token = app.customer_token(id);
    let resp = update_customer(
        &app,
        &token,
        json!({ "customerId": id, "orderUpdatesByEmail": false }),
    )
    .await;
    expect_ok(&resp, "updateCustomer");
    let me = app
        .gql(
            Some(&token),
            "{ me { communicationPreferences { orderUpdatesByEmail } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        expect_data(&me)["me"]["communicationPreferences"]["orderUpdatesByEmail"],
        false
    );
}

#[tokio::test]
async fn an_order_matches_the_customer_email_whatever_its_case() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let ann = app
        .create_customer(json!({ "email": "ann@example.test" }))
        .await;
    let order = OrderBuilder::new()
        .customer_email("ANN@Example.TEST")
        .line("SKU-1", 1)
        .place_ok(&app)
        .await;
    assert_eq!(
        order["customer"]["id"], ann["id"],
        "an email address is matched without regard to case"
    );
}

#[tokio::test]
async fn a_customer_cannot_upsert_customers() {
    let app = TestApp::spawn().await;
    let me = app
        .create_customer(json!({ "email": "me@example.test" }))
        .await;
    let resp = app
        .as_customer(
            str_of(&me["id"], "customer id"),
            &format!("mutation($input: CustomerInput!) {{ upsertCustomer(input: $input) {{ customer {{ id }} {USER_ERRORS} }} }}"),
            json!({ "input": { "email": "someone@example.test" } }),
        )
        .await;
    crate::harness::assert_error_code(&resp, "FORBIDDEN");
}
