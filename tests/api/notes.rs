//! Agent notes: `addCustomerNote` (agents and admins), its refusals and idempotency,
//! `Customer.notes` (null for every other role), and the NOTE_ADDED timeline entry.

use serde_json::{Value, json};

use crate::fixtures::{NOTE_FIELDS, kinds, nodes, str_of};
use crate::harness::{
    TestApp, assert_bad_input_or_user_error, assert_error_code, assert_user_error,
    assert_user_error_at, expect_data, expect_ok, payload, pretty,
};

fn notes_query() -> String {
    format!(
        "query($id: ID!, $first: Int, $after: String) {{ customer(id: $id) {{
            notes(first: $first, after: $after) {{
                totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
                edges {{ cursor node {{ {NOTE_FIELDS} }} }} }} }} }}"
    )
}

/// `Customer.notes` as read with `token`; the connection (null when withheld).
async fn notes_as(app: &TestApp, token: &str, customer_id: &str, args: Value) -> Value {
    let mut variables = args;
    variables["id"] = json!(customer_id);
    let resp = app.gql(Some(token), &notes_query(), variables).await;
    expect_data(&resp)["customer"]["notes"].clone()
}

async fn note_count(app: &TestApp, customer_id: &str) -> u64 {
    let notes = notes_as(app, &app.agent_token(), customer_id, json!({})).await;
    notes["totalCount"]
        .as_u64()
        .unwrap_or_else(|| panic!("an agent reads the notes: {notes}"))
}

async fn note_added_entries(app: &TestApp, customer_id: &str) -> usize {
    kinds(&app.agent_timeline(customer_id).await)
        .iter()
        .filter(|k| *k == "NOTE_ADDED")
        .count()
}

fn add(token: &str) -> Option<&str> {
    Some(token)
}

// ---------------------------------------------------------------------- adding and reading

#[tokio::test]
async fn an_agent_adds_a_note_to_a_customer() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let resp = app
        .add_note_with(
            add(&app.agent_token()),
            json!({ "customerId": customer, "body": "Called about a late parcel" }),
        )
        .await;
    let note = &expect_ok(&resp, "addCustomerNote")["note"];
    assert_eq!(note["body"], "Called about a late parcel");
    assert!(!str_of(&note["id"], "note id").is_empty());
    assert!(
        !str_of(&note["author"], "author").is_empty(),
        "a note names its author"
    );
    let created = str_of(&note["createdAt"], "createdAt");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "createdAt {created:?} is RFC 3339"
    );

    let listed = notes_as(&app, &app.agent_token(), &customer, json!({})).await;
    assert_eq!(listed["totalCount"], 1);
    assert_eq!(nodes(&listed)[0]["id"], note["id"]);
    assert_eq!(nodes(&listed)[0]["body"], "Called about a late parcel");
}

#[tokio::test]
async fn an_admin_adds_and_reads_notes() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let resp = app
        .add_note_with(
            add(&app.admin_token()),
            json!({ "customerId": customer, "body": "Escalated" }),
        )
        .await;
    expect_ok(&resp, "addCustomerNote");
    let listed = notes_as(&app, &app.admin_token(), &customer, json!({})).await;
    assert_eq!(listed["totalCount"], 1, "{listed}");
}

#[tokio::test]
async fn customer_notes_are_newest_first_and_page() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let first = app.add_note(&customer, "First").await;
    let second = app.add_note(&customer, "Second").await;
    let third = app.add_note(&customer, "Third").await;

    let page = notes_as(&app, &app.agent_token(), &customer, json!({ "first": 2 })).await;
    assert_eq!(page["totalCount"], 3);
    let bodies: Vec<Value> = nodes(&page).iter().map(|n| n["body"].clone()).collect();
    assert_eq!(bodies, [json!("Third"), json!("Second")]);
    assert_eq!(nodes(&page)[0]["id"], third["id"]);
    assert_eq!(nodes(&page)[1]["id"], second["id"]);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);

    let rest = notes_as(
        &app,
        &app.agent_token(),
        &customer,
        json!({ "first": 2, "after": page["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(rest["totalCount"], 3);
    assert_eq!(nodes(&rest).len(), 1);
    assert_eq!(nodes(&rest)[0]["id"], first["id"]);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn a_note_is_on_the_timeline_as_note_added_by_that_agent() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let token = app.token(touchpoint::auth::Role::Agent, "agent-7");
    let resp = app
        .add_note_with(
            add(&token),
            json!({ "customerId": customer, "body": "Prefers phone calls" }),
        )
        .await;
    expect_ok(&resp, "addCustomerNote");

    let entries = app.agent_timeline(&customer).await;
    let entry = entries
        .iter()
        .find(|e| e["kind"] == "NOTE_ADDED")
        .unwrap_or_else(|| panic!("no NOTE_ADDED entry:\n{}", pretty(&json!(entries))));
    assert_eq!(entry["actor"]["role"], "AGENT");
    assert_eq!(entry["actor"]["id"], "agent-7");
    assert!(
        entry["summary"].as_str().is_some_and(|s| !s.is_empty()),
        "{entry}"
    );
    assert_eq!(entry["order"], Value::Null);
    assert_eq!(entry["stockLevel"], Value::Null);
}

#[tokio::test]
async fn customers_and_services_read_notes_as_null_without_an_error() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    app.add_note(&customer, "Internal").await;

    let resp = app
        .as_customer(&customer, "{ me { id notes { totalCount } } }", json!({}))
        .await;
    let me = &expect_data(&resp)["me"];
    assert_eq!(me["id"], customer.as_str(), "{}", pretty(&resp));
    assert_eq!(
        me["notes"],
        Value::Null,
        "a customer never reads agent notes"
    );

    let resp = app
        .as_service(
            "query($id: ID!) { customer(id: $id) { id notes { totalCount } } }",
            json!({ "id": customer }),
        )
        .await;
    let read = &expect_data(&resp)["customer"];
    assert_eq!(read["id"], customer.as_str(), "{}", pretty(&resp));
    assert_eq!(read["notes"], Value::Null, "services never read notes");
}

#[tokio::test]
async fn a_note_is_a_node_for_agents_and_null_for_the_customer() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let note = app.add_note(&customer, "Internal").await;
    let query = "query($id: ID!) { node(id: $id) { __typename id ... on CustomerNote { body } } }";

    let resp = app.as_agent(query, json!({ "id": note["id"] })).await;
    let node = &expect_data(&resp)["node"];
    assert_eq!(node["__typename"], "CustomerNote", "{}", pretty(&resp));
    assert_eq!(node["body"], "Internal");

    let resp = app
        .as_customer(&customer, query, json!({ "id": note["id"] }))
        .await;
    assert_eq!(resp["data"]["node"], Value::Null, "{}", pretty(&resp));
}

// ---------------------------------------------------------------------- who may add

#[tokio::test]
async fn a_customer_may_not_add_a_note() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let resp = app
        .add_note_with(
            add(&app.customer_token(&customer)),
            json!({ "customerId": customer, "body": "I am lovely" }),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
    assert_eq!(note_count(&app, &customer).await, 0, "nothing was written");
}

#[tokio::test]
async fn a_service_may_not_add_a_note() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let resp = app
        .add_note_with(
            add(&app.service_token()),
            json!({ "customerId": customer, "body": "From the shop" }),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
    assert_eq!(note_count(&app, &customer).await, 0, "nothing was written");
}

#[tokio::test]
async fn marketing_may_not_add_a_note() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let resp = app
        .add_note_with(
            add(&app.marketing_token()),
            json!({ "customerId": customer, "body": "Send her a coupon" }),
        )
        .await;
    assert_error_code(&resp, "FORBIDDEN");
    assert_eq!(note_count(&app, &customer).await, 0, "nothing was written");
}

#[tokio::test]
async fn an_anonymous_caller_may_not_add_a_note() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let resp = app
        .add_note_with(None, json!({ "customerId": customer, "body": "Hello" }))
        .await;
    assert_error_code(&resp, "UNAUTHENTICATED");
    assert_eq!(note_count(&app, &customer).await, 0, "nothing was written");
}

// ---------------------------------------------------------------------- refusals

#[tokio::test]
async fn an_empty_note_is_invalid_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let resp = app
        .add_note_with(
            add(&app.agent_token()),
            json!({ "customerId": customer, "body": "" }),
        )
        .await;
    assert_user_error_at(&resp, "addCustomerNote", &["INVALID"], &["body"]);
    assert_eq!(payload(&resp, "addCustomerNote")["note"], Value::Null);
    assert_eq!(note_count(&app, &customer).await, 0);
    assert_eq!(note_added_entries(&app, &customer).await, 0);
}

#[tokio::test]
async fn a_note_over_5000_characters_is_invalid_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let resp = app
        .add_note_with(
            add(&app.agent_token()),
            json!({ "customerId": customer, "body": "a".repeat(5001) }),
        )
        .await;
    assert_user_error_at(&resp, "addCustomerNote", &["INVALID"], &["body"]);
    assert_eq!(note_count(&app, &customer).await, 0);
    assert_eq!(note_added_entries(&app, &customer).await, 0);
}

#[tokio::test]
async fn a_note_of_exactly_5000_characters_is_accepted() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let body = "a".repeat(5000);
    let note = app.add_note(&customer, &body).await;
    assert_eq!(note["body"].as_str().map(str::len), Some(5000));
}

#[tokio::test]
async fn the_5000_limit_counts_characters_not_bytes() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    // 5000 characters, 10000 bytes in UTF-8.
    let body = "é".repeat(5000);
    let note = app.add_note(&customer, &body).await;
    assert_eq!(note["body"].as_str().map(|b| b.chars().count()), Some(5000));
}

#[tokio::test]
async fn a_note_for_an_unknown_customer_is_not_found() {
    let app = TestApp::spawn().await;
    app.new_customer("ada@example.test").await;
    use base64::Engine as _;
    let missing = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("Customer:987654");
    let resp = app
        .add_note_with(
            add(&app.agent_token()),
            json!({ "customerId": missing, "body": "Hello" }),
        )
        .await;
    assert_user_error(&resp, "addCustomerNote", "NOT_FOUND");
    assert_eq!(payload(&resp, "addCustomerNote")["note"], Value::Null);
}

#[tokio::test]
async fn a_note_for_an_id_of_another_type_is_not_found() {
    let app = TestApp::spawn().await;
    let product = crate::fixtures::ProductBuilder::new("SKU-N")
        .create(&app)
        .await;
    let resp = app
        .add_note_with(
            add(&app.agent_token()),
            json!({ "customerId": product["id"], "body": "Hello" }),
        )
        .await;
    assert_user_error(&resp, "addCustomerNote", "NOT_FOUND");
}

#[tokio::test]
async fn a_note_for_a_malformed_id_is_refused_never_internal() {
    let app = TestApp::spawn().await;
    let resp = app
        .add_note_with(
            add(&app.agent_token()),
            json!({ "customerId": "not-an-id", "body": "Hello" }),
        )
        .await;
    assert_bad_input_or_user_error(&resp, "addCustomerNote", &["NOT_FOUND"]);
}

// ---------------------------------------------------------------------- idempotency

#[tokio::test]
async fn replaying_a_note_with_the_same_key_returns_the_same_note_and_writes_one() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let input =
        json!({ "customerId": customer, "body": "Refund promised", "idempotencyKey": "note-1" });
    let first = app
        .add_note_with(add(&app.agent_token()), input.clone())
        .await;
    let first = expect_ok(&first, "addCustomerNote")["note"].clone();
    let again = app.add_note_with(add(&app.agent_token()), input).await;
    let again = expect_ok(&again, "addCustomerNote")["note"].clone();
    assert_eq!(
        again["id"], first["id"],
        "the replay returns the first note"
    );
    assert_eq!(again["body"], "Refund promised");
    assert_eq!(note_count(&app, &customer).await, 1);
    assert_eq!(
        note_added_entries(&app, &customer).await,
        1,
        "one NOTE_ADDED event"
    );
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_invalid() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let resp = app
        .add_note_with(
            add(&app.agent_token()),
            json!({ "customerId": customer, "body": "First", "idempotencyKey": "note-1" }),
        )
        .await;
    expect_ok(&resp, "addCustomerNote");
    let resp = app
        .add_note_with(
            add(&app.agent_token()),
            json!({ "customerId": customer, "body": "Something else", "idempotencyKey": "note-1" }),
        )
        .await;
    assert_user_error(&resp, "addCustomerNote", "INVALID");
    assert_eq!(
        note_count(&app, &customer).await,
        1,
        "nothing more was written"
    );
    let listed = notes_as(&app, &app.agent_token(), &customer, json!({})).await;
    assert_eq!(nodes(&listed)[0]["body"], "First");
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_agent() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let other_agent = app.token(touchpoint::auth::Role::Agent, "agent-2");
    let resp = app
        .add_note_with(
            add(&app.agent_token()),
            json!({ "customerId": customer, "body": "Mine", "idempotencyKey": "shared" }),
        )
        .await;
    let mine = expect_ok(&resp, "addCustomerNote")["note"].clone();
    let resp = app
        .add_note_with(
            add(&other_agent),
            json!({ "customerId": customer, "body": "Theirs", "idempotencyKey": "shared" }),
        )
        .await;
    let theirs = expect_ok(&resp, "addCustomerNote")["note"].clone();
    assert_ne!(theirs["id"], mine["id"]);
    assert_eq!(theirs["body"], "Theirs");
    assert_eq!(note_count(&app, &customer).await, 2);
}

#[tokio::test]
async fn without_a_key_the_same_note_twice_is_two_notes() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("ada@example.test").await;
    let first = app.add_note(&customer, "Called").await;
    let second = app.add_note(&customer, "Called").await;
    assert_ne!(first["id"], second["id"]);
    assert_eq!(note_count(&app, &customer).await, 2);
}
