//! Marketing's email templates: the factory versions and who may read them, drafts checked
//! before they are saved (Handlebars syntax, the data query, a strict render against the sample),
//! publishing and rolling back, previews against the sample and against a real order (masked),
//! test sends, and a published edit reaching the next email.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::{OrderBuilder, seed, str_of};
use crate::harness::{
    TestApp, assert_error_code, expect_data, expect_ok, field_path, payload, pretty, user_errors,
};

/// Every NotificationKind of the contract.
const KINDS: [&str; 12] = [
    "ORDER_CONFIRMATION",
    "ORDER_MODIFIED",
    "ORDER_CANCELLED",
    "SHIPMENT_DISPATCHED",
    "SHIPMENT_DELAYED",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "READY_FOR_COLLECTION",
    "SUBSTITUTION_PROPOSED",
    "RETURN_REQUESTED",
    "RETURN_RECEIVED",
    "REFUND_ISSUED",
];

const VERSION_FIELDS: &str = "version subject html text dataQuery author createdAt publishedAt";

const USER_ERROR_FIELDS: &str = "userErrors { field code message location { part line column } }";

const COMMUNICATION_FIELDS: &str =
    "id kind to subject html text status templateVersion isTest order { id }";

/// How long to wait for the outbox (it polls every 200 ms in the test configuration).
const WAIT: Duration = Duration::from_secs(15);

fn template_fields() -> String {
    format!(
        "kind locale published {{ {VERSION_FIELDS} }} draft {{ {VERSION_FIELDS} }} versions {{ {VERSION_FIELDS} }}"
    )
}

fn templates_query() -> String {
    format!("{{ emailTemplates {{ {} }} }}", template_fields())
}

fn template_query() -> String {
    format!(
        "query($kind: NotificationKind!, $locale: String) {{ emailTemplate(kind: $kind, locale: $locale) {{ {} }} }}",
        template_fields()
    )
}

fn save_mutation() -> String {
    format!(
        "mutation($input: SaveEmailTemplateDraftInput!) {{ saveEmailTemplateDraft(input: $input) {{
            template {{ {} }} {USER_ERROR_FIELDS} }} }}",
        template_fields()
    )
}

fn publish_mutation() -> String {
    format!(
        "mutation($input: PublishEmailTemplateInput!) {{ publishEmailTemplate(input: $input) {{
            template {{ {} }} {USER_ERROR_FIELDS} }} }}",
        template_fields()
    )
}

fn preview_query() -> String {
    format!(
        "query($input: PreviewEmailInput!) {{ previewEmail(input: $input) {{
            email {{ subject html text }} context {USER_ERROR_FIELDS} }} }}"
    )
}

fn send_test_mutation() -> String {
    format!(
        "mutation($input: SendTestEmailInput!) {{ sendTestEmail(input: $input) {{
            communication {{ {COMMUNICATION_FIELDS} }} {USER_ERROR_FIELDS} }} }}"
    )
}

// ---------------------------------------------------------------------- calls

/// `emailTemplate(kind, locale: "en")` as marketing; asserts it is there.
async fn template(app: &TestApp, kind: &str) -> Value {
    let resp = app
        .as_marketing(&template_query(), json!({ "kind": kind, "locale": "en" }))
        .await;
    let template = expect_data(&resp)["emailTemplate"].clone();
    assert!(
        template.is_object(),
        "{kind} (en) exists:\n{}",
        pretty(&resp)
    );
    template
}

/// The version numbers of a template, as listed (newest first).
fn version_numbers(template: &Value) -> Vec<i64> {
    template["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("no versions list: {}", pretty(template)))
        .iter()
        .map(|v| v["version"].as_i64().unwrap_or(-1))
        .collect()
}

async fn save_with(app: &TestApp, token: Option<&str>, input: Value) -> Value {
    app.gql(token, &save_mutation(), json!({ "input": input }))
        .await
}

async fn save(app: &TestApp, input: Value) -> Value {
    save_with(app, Some(&app.marketing_token()), input).await
}

/// Saves a draft as marketing, asserting success; returns the template.
async fn save_ok(app: &TestApp, input: Value) -> Value {
    let resp = save(app, input).await;
    let template = expect_ok(&resp, "saveEmailTemplateDraft")["template"].clone();
    assert!(template.is_object(), "{}", pretty(&resp));
    template
}

async fn publish_with(app: &TestApp, token: Option<&str>, kind: &str, version: i64) -> Value {
    app.gql(
        token,
        &publish_mutation(),
        json!({ "input": { "kind": kind, "locale": "en", "version": version } }),
    )
    .await
}

/// Publishes a version as marketing, asserting success; returns the template.
async fn publish_ok(app: &TestApp, kind: &str, version: i64) -> Value {
    let resp = publish_with(app, Some(&app.marketing_token()), kind, version).await;
    let template = expect_ok(&resp, "publishEmailTemplate")["template"].clone();
    assert!(template.is_object(), "{}", pretty(&resp));
    template
}

async fn preview_with(app: &TestApp, token: Option<&str>, input: Value) -> Value {
    app.gql(token, &preview_query(), json!({ "input": input }))
        .await
}

/// `previewEmail` as marketing; returns the EmailPreview (asserting no top-level errors).
async fn preview(app: &TestApp, input: Value) -> Value {
    let resp = preview_with(app, Some(&app.marketing_token()), input).await;
    let preview = expect_data(&resp)["previewEmail"].clone();
    assert!(preview.is_object(), "{}", pretty(&resp));
    preview
}

/// `previewEmail` as marketing that must render: no userErrors, every part non-empty.
#[track_caller]
fn rendered(preview: &Value, what: &str) -> (String, String, String) {
    assert_eq!(
        preview["userErrors"],
        json!([]),
        "{what} renders:\n{}",
        pretty(preview)
    );
    let part = |name: &str| {
        let s = preview["email"][name]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            !s.trim().is_empty(),
            "{what}: the {name} part is not empty:\n{}",
            pretty(preview)
        );
        s
    };
    (part("subject"), part("html"), part("text"))
}

async fn send_test_with(app: &TestApp, token: Option<&str>, input: Value) -> Value {
    app.gql(token, &send_test_mutation(), json!({ "input": input }))
        .await
}

async fn send_test(app: &TestApp, input: Value) -> Value {
    send_test_with(app, Some(&app.marketing_token()), input).await
}

/// A Communication read with `node(id)` by `token`; `Value::Null` when it reads null.
async fn communication_node(app: &TestApp, token: &str, id: &Value) -> Value {
    let resp = app
        .gql(
            Some(token),
            &format!(
                "query($id: ID!) {{ node(id: $id) {{ ... on Communication {{ {COMMUNICATION_FIELDS} }} }} }}"
            ),
            json!({ "id": id }),
        )
        .await;
    expect_data(&resp)["node"].clone()
}

/// The order's communications as agent-1 reads them.
async fn order_communications(app: &TestApp, order_id: &Value) -> Vec<Value> {
    let resp = app
        .as_agent(
            &format!(
                "query($id: ID!) {{ order(id: $id) {{ communications {{ {COMMUNICATION_FIELDS} }} }} }}"
            ),
            json!({ "id": order_id }),
        )
        .await;
    expect_data(&resp)["order"]["communications"]
        .as_array()
        .unwrap_or_else(|| panic!("an agent reads the order's communications: {resp}"))
        .clone()
}

/// Polls the order's communications (as an agent) until one of `kind` is there; returns it.
async fn wait_for_email(app: &TestApp, order_id: &Value, kind: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = order_communications(app, order_id).await;
        if let Some(found) = list.iter().find(|c| c["kind"] == kind) {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} communication for order {order_id} within {WAIT:?}: {}",
            pretty(&json!(list))
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The (subject, recipients) of every `.eml` file in `dir`.
fn mails_in(dir: &std::path::Path) -> Vec<(String, Vec<String>)> {
    std::fs::read_dir(dir)
        .expect("read the mail directory")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|raw| {
            let message = mail_parser::MessageParser::default().parse(&raw)?;
            let subject = message.subject().unwrap_or_default().to_string();
            let to = message
                .to()
                .map(|a| {
                    a.iter()
                        .filter_map(|a| a.address().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Some((subject, to))
        })
        .collect()
}

// ---------------------------------------------------------------------- inputs

/// MJML body content wrapped in the shipped layout.
fn layout(body: &str) -> String {
    format!("{{{{#> email_html}}}}\n{body}\n{{{{/email_html}}}}")
}

/// A valid ORDER_CONFIRMATION draft: a recognisable subject, a short body and a text part.
fn draft_input(subject: &str) -> Value {
    json!({
        "kind": "ORDER_CONFIRMATION",
        "locale": "en",
        "subject": subject,
        "html": layout("<mj-section><mj-column><mj-text>Hello {{order.number}}</mj-text></mj-column></mj-section>"),
        "text": "Hello {{order.number}}\n",
    })
}

fn with(mut input: Value, key: &str, value: Value) -> Value {
    input[key] = value;
    input
}

/// A refusal as TEMPLATE_INVALID at exactly `field`, with a message, pointing at `part`;
/// returns the userError.
#[track_caller]
fn assert_template_invalid(resp: &Value, operation: &str, field: &str, part: &str) -> Value {
    let errors = if operation == "previewEmail" {
        expect_data(resp)["previewEmail"]["userErrors"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    } else {
        user_errors(resp, operation)
    };
    let error = errors
        .iter()
        .find(|e| e["code"] == "TEMPLATE_INVALID")
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "expected TEMPLATE_INVALID from {operation}:\n{}",
                pretty(resp)
            )
        });
    assert_eq!(
        field_path(&error),
        vec![field.to_string()],
        "the userError names the {field} input:\n{}",
        pretty(resp)
    );
    assert!(
        !str_of(&error["message"], "message").trim().is_empty(),
        "the refusal says why:\n{}",
        pretty(resp)
    );
    assert_eq!(
        error["location"]["part"],
        part,
        "the location names the {part} part:\n{}",
        pretty(resp)
    );
    error
}

/// The template's versions are exactly `before`'s (nothing was saved or published).
#[track_caller]
fn assert_unchanged(before: &Value, after: &Value) {
    assert_eq!(
        before,
        after,
        "a refused draft changes nothing:\nbefore: {}\nafter: {}",
        pretty(before),
        pretty(after)
    );
}

// ---------------------------------------------------------------------- reading

#[tokio::test]
async fn every_kind_has_factory_version_1_published_in_english() {
    let app = TestApp::spawn().await;
    for token in [app.marketing_token(), app.admin_token()] {
        let resp = app.gql(Some(&token), &templates_query(), json!({})).await;
        let list = expect_data(&resp)["emailTemplates"]
            .as_array()
            .unwrap_or_else(|| panic!("a list of templates: {}", pretty(&resp)))
            .clone();
        let english: Vec<&Value> = list.iter().filter(|t| t["locale"] == "en").collect();
        let mut kinds: Vec<&str> = english
            .iter()
            .map(|t| t["kind"].as_str().unwrap_or_default())
            .collect();
        kinds.sort_unstable();
        let mut expected = KINDS.to_vec();
        expected.sort_unstable();
        assert_eq!(
            kinds,
            expected,
            "one English template per kind:\n{}",
            pretty(&resp)
        );
        for t in english {
            let kind = t["kind"].as_str().unwrap_or_default();
            let published = &t["published"];
            assert_eq!(published["version"], 1, "{kind}: {}", pretty(t));
            assert_eq!(published["author"], "factory", "{kind}: {}", pretty(t));
            assert!(
                published["publishedAt"].is_string(),
                "{kind} is published: {}",
                pretty(t)
            );
            assert!(published["createdAt"].is_string(), "{kind}: {}", pretty(t));
            for part in ["subject", "html", "text", "dataQuery"] {
                assert!(
                    published[part]
                        .as_str()
                        .is_some_and(|s| !s.trim().is_empty()),
                    "{kind}: the factory {part} is there: {}",
                    pretty(t)
                );
            }
            assert!(
                str_of(&published["html"], "html").contains("email_html"),
                "{kind}: the factory HTML uses the layout: {}",
                pretty(t)
            );
            assert_eq!(
                t["draft"],
                Value::Null,
                "{kind} has no draft: {}",
                pretty(t)
            );
            assert_eq!(
                t["versions"],
                json!([published.clone()]),
                "{kind}: version 1 is the whole history"
            );
        }
    }

    // One template by kind, with the locale or without it (English by default).
    let listed = template(&app, "ORDER_CONFIRMATION").await;
    assert_eq!(listed["kind"], "ORDER_CONFIRMATION");
    assert_eq!(listed["locale"], "en");
    let resp = app
        .as_marketing(&template_query(), json!({ "kind": "ORDER_CONFIRMATION" }))
        .await;
    assert_eq!(
        expect_data(&resp)["emailTemplate"],
        listed,
        "the default locale is en"
    );
    let resp = app
        .as_admin(
            &template_query(),
            json!({ "kind": "REFUND_ISSUED", "locale": "en" }),
        )
        .await;
    assert_eq!(
        expect_data(&resp)["emailTemplate"]["published"]["version"],
        1,
        "admins read one template too: {}",
        pretty(&resp)
    );
}

#[tokio::test]
async fn only_marketing_and_admins_read_templates_and_previews() {
    let app = TestApp::spawn().await;
    let customer = app.new_customer("reader@example.test").await;
    let others = [
        ("agent", Some(app.agent_token()), "FORBIDDEN"),
        ("customer", Some(app.customer_token(&customer)), "FORBIDDEN"),
        ("service", Some(app.service_token()), "FORBIDDEN"),
        ("anonymous", None, "UNAUTHENTICATED"),
    ];
    for (who, token, code) in &others {
        let token = token.as_deref();
        let resp = app.gql(token, &templates_query(), json!({})).await;
        assert_error_code(&resp, code);
        assert!(
            resp["data"].is_null() || resp["data"]["emailTemplates"].is_null(),
            "{who} reads no templates:\n{}",
            pretty(&resp)
        );

        let resp = app
            .gql(
                token,
                &template_query(),
                json!({ "kind": "ORDER_CONFIRMATION", "locale": "en" }),
            )
            .await;
        assert_error_code(&resp, code);
        assert!(
            resp["data"].is_null() || resp["data"]["emailTemplate"].is_null(),
            "{who} reads no template:\n{}",
            pretty(&resp)
        );

        let resp = preview_with(&app, token, json!({ "kind": "ORDER_CONFIRMATION" })).await;
        assert_error_code(&resp, code);
        assert!(
            resp["data"].is_null() || resp["data"]["previewEmail"].is_null(),
            "{who} previews nothing:\n{}",
            pretty(&resp)
        );
    }
}

#[tokio::test]
async fn other_roles_may_not_save_publish_or_send_tests() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = app.order_for("someone@example.test").await;
    let customer = str_of(&order["customer"]["id"], "customer id").to_string();
    // A draft to publish, so a refused publish would have something to change.
    let draft = save_ok(&app, draft_input("Marketing draft {{order.number}}")).await;
    assert_eq!(draft["draft"]["version"], 2);
    let before = template(&app, "ORDER_CONFIRMATION").await;

    let others = [
        ("agent", Some(app.agent_token()), "FORBIDDEN"),
        ("customer", Some(app.customer_token(&customer)), "FORBIDDEN"),
        ("service", Some(app.service_token()), "FORBIDDEN"),
        ("anonymous", None, "UNAUTHENTICATED"),
    ];
    for (who, token, code) in &others {
        let token = token.as_deref();
        let resp = save_with(&app, token, draft_input("Sneaky {{order.number}}")).await;
        assert_error_code(&resp, code);
        assert!(
            resp["data"].is_null() || resp["data"]["saveEmailTemplateDraft"].is_null(),
            "{who} saves nothing:\n{}",
            pretty(&resp)
        );

        let resp = publish_with(&app, token, "ORDER_CONFIRMATION", 2).await;
        assert_error_code(&resp, code);
        assert!(
            resp["data"].is_null() || resp["data"]["publishEmailTemplate"].is_null(),
            "{who} publishes nothing:\n{}",
            pretty(&resp)
        );

        let resp = send_test_with(
            &app,
            token,
            json!({ "kind": "ORDER_CONFIRMATION", "locale": "en", "to": "qa@example.test", "orderId": order["id"] }),
        )
        .await;
        assert_error_code(&resp, code);
        assert!(
            resp["data"].is_null() || resp["data"]["sendTestEmail"].is_null(),
            "{who} sends no test:\n{}",
            pretty(&resp)
        );
    }
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);
}

// ---------------------------------------------------------------------- drafts

#[tokio::test]
async fn a_valid_draft_is_saved_as_the_next_version_by_its_author() {
    let app = TestApp::spawn().await;
    let factory = template(&app, "ORDER_CONFIRMATION").await;
    let input = draft_input("Your order {{order.number}} is in");
    let saved = save_ok(&app, input.clone()).await;

    let draft = &saved["draft"];
    assert_eq!(draft["version"], 2, "{}", pretty(&saved));
    assert_eq!(draft["author"], "marketer-1", "the marketing token's sub");
    assert_eq!(draft["publishedAt"], Value::Null);
    assert!(draft["createdAt"].is_string());
    assert_eq!(draft["subject"], input["subject"]);
    assert_eq!(draft["html"], input["html"]);
    assert_eq!(draft["text"], input["text"]);
    assert_eq!(
        draft["dataQuery"], factory["published"]["dataQuery"],
        "without a dataQuery the draft keeps the current one"
    );
    assert_eq!(
        saved["published"], factory["published"],
        "saving a draft publishes nothing"
    );
    assert_eq!(version_numbers(&saved), vec![2, 1], "newest first");
    assert_eq!(&saved["versions"][0], draft);
    assert_eq!(
        template(&app, "ORDER_CONFIRMATION").await,
        saved,
        "what was saved reads back"
    );

    // A data query of its own is kept; the next draft is version 3 and is the draft now.
    let query = "query Q($orderId: ID!) {\n  order(id: $orderId) {\n    number\n  }\n}\n";
    let second = save_ok(&app, with(input.clone(), "dataQuery", json!(query))).await;
    assert_eq!(version_numbers(&second), vec![3, 2, 1]);
    assert_eq!(second["draft"]["version"], 3);
    assert_eq!(second["draft"]["dataQuery"], query);
    assert_eq!(second["published"]["version"], 1);

    // Admins may save too; the author is theirs.
    let resp = save_with(&app, Some(&app.admin_token()), input).await;
    let by_admin = &expect_ok(&resp, "saveEmailTemplateDraft")["template"];
    assert_eq!(by_admin["draft"]["version"], 4, "{}", pretty(&resp));
    assert_eq!(by_admin["draft"]["author"], "admin-1");
    assert_eq!(
        by_admin["draft"]["dataQuery"], query,
        "an omitted dataQuery keeps the newest one"
    );

    // Other kinds are untouched.
    let other = template(&app, "ORDER_CANCELLED").await;
    assert_eq!(version_numbers(&other), vec![1]);
}

#[tokio::test]
async fn a_handlebars_syntax_error_is_refused_with_its_place_and_nothing_is_saved() {
    let app = TestApp::spawn().await;
    let before = template(&app, "ORDER_CONFIRMATION").await;

    // An unclosed expression on line 3 of the HTML part.
    let html = "{{#> email_html}}\n<mj-section><mj-column>\n<mj-text>Hello {{order.number</mj-text>\n</mj-column></mj-section>\n{{/email_html}}";
    let resp = save(&app, with(draft_input("Hi"), "html", json!(html))).await;
    let error = assert_template_invalid(&resp, "saveEmailTemplateDraft", "html", "html");
    assert_eq!(
        error["location"]["line"],
        3,
        "the error is on line 3:\n{}",
        pretty(&resp)
    );
    assert!(
        error["location"]["column"].as_i64().is_some_and(|c| c >= 1),
        "with a column:\n{}",
        pretty(&resp)
    );
    assert_eq!(
        payload(&resp, "saveEmailTemplateDraft")["template"],
        Value::Null
    );
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);

    // A block opened and never closed in the subject.
    let resp = save(
        &app,
        draft_input("{{#if order.number}}Order {{order.number}}"),
    )
    .await;
    let error = assert_template_invalid(&resp, "saveEmailTemplateDraft", "subject", "subject");
    assert_eq!(error["location"]["line"], 1, "{}", pretty(&resp));
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);

    // A mismatched closing block on line 2 of the text part.
    let text = "Hello {{order.number}}\n{{#each order.lines}}{{name}}{{/if}}\n";
    let resp = save(&app, with(draft_input("Hi"), "text", json!(text))).await;
    let error = assert_template_invalid(&resp, "saveEmailTemplateDraft", "text", "text");
    assert_eq!(error["location"]["line"], 2, "{}", pretty(&resp));
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);
}

#[tokio::test]
async fn an_unknown_field_in_the_data_query_is_refused_with_its_place() {
    let app = TestApp::spawn().await;
    let before = template(&app, "ORDER_CONFIRMATION").await;
    let query = "query Q($orderId: ID!) {\n  order(id: $orderId) {\n    number\n    favouriteColour\n  }\n}\n";
    let resp = save(&app, with(draft_input("Hi"), "dataQuery", json!(query))).await;
    let error = assert_template_invalid(&resp, "saveEmailTemplateDraft", "dataQuery", "dataQuery");
    assert_eq!(
        (&error["location"]["line"], &error["location"]["column"]),
        (&json!(4), &json!(5)),
        "the unknown field is at 4:5:\n{}",
        pretty(&resp)
    );
    assert!(
        str_of(&error["message"], "message").contains("favouriteColour"),
        "the message names the field:\n{}",
        pretty(&resp)
    );
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);

    // Not even a query: a syntax error in the data query is placed too.
    let resp = save(
        &app,
        with(
            draft_input("Hi"),
            "dataQuery",
            json!("query Q($orderId: ID!) {\n  order(id: $orderId) {\n    number\n"),
        ),
    )
    .await;
    let error = assert_template_invalid(&resp, "saveEmailTemplateDraft", "dataQuery", "dataQuery");
    assert!(
        error["location"]["line"].as_i64().is_some(),
        "{}",
        pretty(&resp)
    );
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);
}

#[tokio::test]
async fn a_data_query_may_read_only_its_own_roots_by_its_own_variables() {
    let app = TestApp::spawn().await;
    let before = template(&app, "ORDER_CONFIRMATION").await;
    let forbidden = [
        (
            "me",
            "query Q($orderId: ID!) {\n  order(id: $orderId) { number }\n  me { email }\n}\n",
        ),
        (
            "customers",
            "query Q($orderId: ID!) {\n  order(id: $orderId) { number }\n  customers(first: 5) { edges { node { email } } }\n}\n",
        ),
        (
            "an order by a literal id",
            "query Q {\n  order(id: \"T3JkZXI6MQ\") { number }\n}\n",
        ),
        (
            "a variable the kind does not get",
            "query Q($orderId: ID!, $returnId: ID!) {\n  order(id: $orderId) { number }\n  return(id: $returnId) { rmaNumber }\n}\n",
        ),
        (
            "a mutation",
            "mutation M($orderId: ID!) {\n  cancelOrder(input: { orderId: $orderId }) { userErrors { code } }\n}\n",
        ),
    ];
    for (what, query) in forbidden {
        let resp = save(&app, with(draft_input("Hi"), "dataQuery", json!(query))).await;
        let error =
            assert_template_invalid(&resp, "saveEmailTemplateDraft", "dataQuery", "dataQuery");
        assert!(
            error["location"].is_object(),
            "{what}: placed in the data query:\n{}",
            pretty(&resp)
        );
        assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);
    }
    // The forbidden root is where the query says so.
    let resp = save(
        &app,
        with(draft_input("Hi"), "dataQuery", json!(forbidden[0].1)),
    )
    .await;
    let error = assert_template_invalid(&resp, "saveEmailTemplateDraft", "dataQuery", "dataQuery");
    assert_eq!(
        error["location"]["line"],
        3,
        "`me` is on line 3: {}",
        pretty(&resp)
    );

    // brand is allowed beside the kind's roots.
    let ok = "query Q($orderId: ID!) {\n  order(id: $orderId) { number }\n  brand { name }\n}\n";
    let mut input = with(
        draft_input("{{brand.name}}: {{order.number}}"),
        "dataQuery",
        json!(ok),
    );
    input["text"] = json!("{{brand.name}} {{order.number}}\n");
    let saved = save_ok(&app, input).await;
    assert_eq!(saved["draft"]["version"], 2);
}

#[tokio::test]
async fn an_unknown_variable_fails_the_strict_render_against_the_sample() {
    let app = TestApp::spawn().await;
    let before = template(&app, "ORDER_CONFIRMATION").await;

    let html = "{{#> email_html}}\n<mj-section><mj-column>\n<mj-text>Hello {{order.number}}</mj-text>\n<mj-text>{{order.nope}}</mj-text>\n</mj-column></mj-section>\n{{/email_html}}";
    let resp = save(&app, with(draft_input("Hi"), "html", json!(html))).await;
    let error = assert_template_invalid(&resp, "saveEmailTemplateDraft", "html", "html");
    assert_eq!(
        (&error["location"]["line"], &error["location"]["column"]),
        (&json!(4), &json!(10)),
        "`order.nope` is at 4:10 of the HTML:\n{}",
        pretty(&resp)
    );
    assert!(
        str_of(&error["message"], "message").contains("order.nope"),
        "the message names the variable:\n{}",
        pretty(&resp)
    );
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);

    // In the subject and in the text part too.
    let resp = save(&app, draft_input("Order {{order.nope}}")).await;
    let error = assert_template_invalid(&resp, "saveEmailTemplateDraft", "subject", "subject");
    assert_eq!(
        (&error["location"]["line"], &error["location"]["column"]),
        (&json!(1), &json!(7)),
        "{}",
        pretty(&resp)
    );
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);

    let text = "Hello {{order.number}}\n\nYour coupon: {{order.coupon}}\n";
    let resp = save(&app, with(draft_input("Hi"), "text", json!(text))).await;
    let error = assert_template_invalid(&resp, "saveEmailTemplateDraft", "text", "text");
    assert_eq!(
        (&error["location"]["line"], &error["location"]["column"]),
        (&json!(3), &json!(14)),
        "{}",
        pretty(&resp)
    );
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);

    // A field the template uses but its data query does not select is unknown too.
    let query = "query Q($orderId: ID!) {\n  order(id: $orderId) {\n    status\n  }\n}\n";
    let resp = save(&app, with(draft_input("Hi"), "dataQuery", json!(query))).await;
    assert_template_invalid(&resp, "saveEmailTemplateDraft", "html", "html");
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);
}

// ---------------------------------------------------------------------- publishing

#[tokio::test]
async fn publishing_a_draft_and_rolling_back_to_version_1() {
    let app = TestApp::spawn().await;
    let factory = template(&app, "ORDER_CONFIRMATION").await;
    let saved = save_ok(&app, draft_input("Version two for {{order.number}}")).await;
    assert_eq!(saved["draft"]["version"], 2);

    let published = publish_ok(&app, "ORDER_CONFIRMATION", 2).await;
    assert_eq!(
        published["published"]["version"],
        2,
        "{}",
        pretty(&published)
    );
    assert!(published["published"]["publishedAt"].is_string());
    assert_eq!(
        published["published"]["subject"],
        "Version two for {{order.number}}"
    );
    assert_eq!(
        published["draft"],
        Value::Null,
        "the newest version is published"
    );
    assert_eq!(version_numbers(&published), vec![2, 1]);
    assert_eq!(template(&app, "ORDER_CONFIRMATION").await, published);
    let (subject, _, _) = rendered(
        &preview(&app, json!({ "kind": "ORDER_CONFIRMATION" })).await,
        "the published version 2",
    );
    assert!(subject.starts_with("Version two for "), "{subject}");

    // The rollback: version 1 again.
    let rolled_back = publish_ok(&app, "ORDER_CONFIRMATION", 1).await;
    assert_eq!(
        rolled_back["published"]["version"],
        1,
        "{}",
        pretty(&rolled_back)
    );
    assert_eq!(
        rolled_back["published"]["subject"],
        factory["published"]["subject"]
    );
    assert!(rolled_back["published"]["publishedAt"].is_string());
    assert_eq!(
        rolled_back["draft"],
        Value::Null,
        "version 2 was published once: it is history, not a draft"
    );
    assert_eq!(
        version_numbers(&rolled_back),
        vec![2, 1],
        "nothing is deleted"
    );
    let (subject, _, _) = rendered(
        &preview(&app, json!({ "kind": "ORDER_CONFIRMATION" })).await,
        "the published version 1",
    );
    assert!(
        !subject.starts_with("Version two"),
        "the factory subject is back: {subject}"
    );

    // A draft saved after the published version is the draft; publishing an older one keeps it.
    let third = save_ok(&app, draft_input("Version three {{order.number}}")).await;
    assert_eq!(third["draft"]["version"], 3);
    let again = publish_ok(&app, "ORDER_CONFIRMATION", 2).await;
    assert_eq!(again["published"]["version"], 2);
    assert_eq!(again["draft"]["version"], 3, "{}", pretty(&again));
}

#[tokio::test]
async fn publishing_a_version_that_does_not_exist_is_not_found() {
    let app = TestApp::spawn().await;
    let before = template(&app, "SHIPMENT_DISPATCHED").await;
    for version in [2, 99, 0, -1] {
        let resp = publish_with(
            &app,
            Some(&app.marketing_token()),
            "SHIPMENT_DISPATCHED",
            version,
        )
        .await;
        let errors = user_errors(&resp, "publishEmailTemplate");
        let error = errors
            .iter()
            .find(|e| e["code"] == "NOT_FOUND")
            .unwrap_or_else(|| panic!("version {version}: NOT_FOUND:\n{}", pretty(&resp)));
        assert_eq!(field_path(error), vec!["version"], "{}", pretty(&resp));
        assert_eq!(
            payload(&resp, "publishEmailTemplate")["template"],
            Value::Null
        );
        assert_unchanged(&before, &template(&app, "SHIPMENT_DISPATCHED").await);
    }
    // Another kind's version 2 is not this kind's.
    save_ok(&app, draft_input("Mine {{order.number}}")).await;
    let resp = publish_with(&app, Some(&app.marketing_token()), "SHIPMENT_DISPATCHED", 2).await;
    assert!(
        user_errors(&resp, "publishEmailTemplate")
            .iter()
            .any(|e| e["code"] == "NOT_FOUND"),
        "{}",
        pretty(&resp)
    );
    assert_unchanged(&before, &template(&app, "SHIPMENT_DISPATCHED").await);
}

// ---------------------------------------------------------------------- previews

#[tokio::test]
async fn every_kind_previews_against_the_sample() {
    let app = TestApp::spawn().await;
    for kind in KINDS {
        let shown = preview(&app, json!({ "kind": kind, "locale": "en" })).await;
        let (subject, html, text) = rendered(&shown, kind);
        let context = &shown["context"];
        let number = str_of(&context["order"]["number"], "the sample order's number");
        assert!(
            subject.contains(number) || text.contains(number),
            "{kind} names the order {number}:\n{subject}\n{text}"
        );
        assert!(
            text.contains(number) && html.contains(number),
            "{kind}: both parts name the order {number}"
        );
        assert!(
            context["brand"]["name"].is_string(),
            "{kind}: the context has the brand: {}",
            pretty(context)
        );
        assert!(
            html.contains("<html") && !html.contains("<mj-"),
            "{kind}: the HTML part is MJML compiled to HTML"
        );
        assert!(
            !subject.contains('\n') && !subject.contains('\r'),
            "{kind}: one subject line: {subject:?}"
        );
        assert!(
            !html.contains("/t/o/"),
            "{kind}: a preview carries no open-tracking pixel"
        );
    }
}

#[tokio::test]
async fn a_draft_previews_without_being_saved() {
    let app = TestApp::spawn().await;
    let before = template(&app, "ORDER_CONFIRMATION").await;
    let draft = json!({
        "subject": "Preview of {{order.number}} from {{brand.name}}",
        "html": layout("<mj-section><mj-column><mj-text>Draft body for {{order.number}}</mj-text></mj-column></mj-section>"),
        "text": "Draft text for {{order.number}}\n",
    });
    let shown = preview(
        &app,
        json!({ "kind": "ORDER_CONFIRMATION", "draft": draft }),
    )
    .await;
    let (subject, html, text) = rendered(&shown, "the draft");
    let number = str_of(&shown["context"]["order"]["number"], "order number");
    let brand = str_of(&shown["context"]["brand"]["name"], "brand name");
    assert_eq!(subject, format!("Preview of {number} from {brand}"));
    assert!(html.contains(&format!("Draft body for {number}")), "{html}");
    assert_eq!(text.trim(), format!("Draft text for {number}"));
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);

    // Without a text part the text is derived from the HTML.
    let mut no_text = draft.clone();
    no_text.as_object_mut().map(|d| d.remove("text"));
    let preview_no_text = preview(
        &app,
        json!({ "kind": "ORDER_CONFIRMATION", "draft": no_text }),
    )
    .await;
    let (_, _, text) = rendered(&preview_no_text, "the draft without text");
    assert!(text.contains(&format!("Draft body for {number}")), "{text}");

    // A broken draft is a userError with its place, and no email.
    let mut broken = draft.clone();
    broken["html"] = json!(layout(
        "<mj-section><mj-column>\n<mj-text>{{order.nope}}</mj-text>\n</mj-column></mj-section>"
    ));
    let resp = preview_with(
        &app,
        Some(&app.marketing_token()),
        json!({ "kind": "ORDER_CONFIRMATION", "draft": broken }),
    )
    .await;
    assert_template_invalid(&resp, "previewEmail", "html", "html");
    assert_eq!(
        resp["data"]["previewEmail"]["email"],
        Value::Null,
        "{}",
        pretty(&resp)
    );

    let mut bad_syntax = draft;
    bad_syntax["subject"] = json!("{{#if order.number}}unclosed");
    let resp = preview_with(
        &app,
        Some(&app.marketing_token()),
        json!({ "kind": "ORDER_CONFIRMATION", "draft": bad_syntax }),
    )
    .await;
    assert_template_invalid(&resp, "previewEmail", "subject", "subject");
    assert_eq!(
        resp["data"]["previewEmail"]["email"],
        Value::Null,
        "{}",
        pretty(&resp)
    );
    assert_unchanged(&before, &template(&app, "ORDER_CONFIRMATION").await);
}

/// Personal data of the real customer in `preview_against_a_real_order_is_masked`.
const REAL_FIRST: &str = "Rosalind";
const REAL_LAST: &str = "Franklinova";
const REAL_EMAIL: &str = "rosalind.franklinova@example.test";
const REAL_PHONE: &str = "+31 6 5550 1234";
const REAL_LINE1: &str = "Keizersgracht 123";
const REAL_LINE2: &str = "Achterhuis 4B";

#[tokio::test]
async fn a_preview_against_a_real_order_is_masked() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .customer(json!({
            "email": REAL_EMAIL, "firstName": REAL_FIRST, "lastName": REAL_LAST, "phone": REAL_PHONE,
        }))
        .ship_to(json!({
            "name": format!("{REAL_FIRST} {REAL_LAST}"),
            "line1": REAL_LINE1,
            "line2": REAL_LINE2,
            "city": "Amsterdam",
            "postalCode": "1016 DK",
            "countryCode": "NL",
            "phone": REAL_PHONE,
        }))
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let number = str_of(&order["number"], "order number").to_string();
    let secrets = [
        REAL_FIRST,
        REAL_LAST,
        REAL_EMAIL,
        "rosalind",
        REAL_PHONE,
        "5550 1234",
        REAL_LINE1,
        "Keizersgracht",
        REAL_LINE2,
    ];
    let assert_masked = |preview: &Value, what: &str| {
        let (subject, html, text) = rendered(preview, what);
        let context = preview["context"].to_string();
        for secret in secrets {
            for (part, body) in [
                ("subject", &subject),
                ("html", &html),
                ("text", &text),
                ("context", &context),
            ] {
                assert!(
                    !body.contains(secret),
                    "{what}: {secret:?} appears in the {part}:\n{body}"
                );
            }
        }
        assert!(
            subject.contains(&number) || text.contains(&number),
            "{what} is about the real order {number}"
        );
        assert_eq!(
            preview["context"]["order"]["number"],
            json!(number),
            "{what}"
        );
        assert!(
            preview["context"]["brand"]["name"].is_string(),
            "{what}: {}",
            pretty(&preview["context"])
        );
    };

    // The published template, by order id and by order number.
    let by_id = preview(
        &app,
        json!({ "kind": "ORDER_CONFIRMATION", "orderId": order["id"] }),
    )
    .await;
    assert_masked(&by_id, "the published confirmation by order id");
    let (subject, html, text) = rendered(&by_id, "by id");
    assert!(subject.contains("Alex"), "the sample first name: {subject}");
    assert!(html.contains("1 Sample Street") && text.contains("1 Sample Street"));
    assert!(text.contains("Amsterdam"), "the city is not masked: {text}");
    assert!(text.contains("Linen shirt"), "the real lines are: {text}");
    let by_number = preview(
        &app,
        json!({ "kind": "ORDER_CONFIRMATION", "orderNumber": number }),
    )
    .await;
    assert_masked(&by_number, "the published confirmation by order number");

    // A draft that reads every personal field sees them masked, in the render and the context.
    let query = "query Q($orderId: ID!) {
  order(id: $orderId) {
    number
    customer { firstName lastName email phone }
    delivery { address { name line1 line2 city phone } }
  }
}";
    let draft = json!({
        "subject": "For {{order.customer.firstName}} {{order.customer.lastName}} ({{order.number}})",
        "html": layout("<mj-section><mj-column><mj-text>{{order.customer.email}} {{order.delivery.address.name}} {{order.delivery.address.line1}} {{order.delivery.address.city}}</mj-text></mj-column></mj-section>"),
        "text": "{{order.customer.email}}\n{{order.delivery.address.line1}}\n{{order.delivery.address.city}}\n",
        "dataQuery": query,
    });
    let masked = preview(
        &app,
        json!({ "kind": "ORDER_CONFIRMATION", "orderId": order["id"], "draft": draft }),
    )
    .await;
    assert_masked(&masked, "a draft reading every personal field");
    let (subject, _, text) = rendered(&masked, "the personal draft");
    assert_eq!(subject, format!("For Alex Sample ({number})"));
    assert!(text.contains("alex.sample@example.com"), "{text}");
    let customer = &masked["context"]["order"]["customer"];
    assert_eq!(customer["firstName"], "Alex");
    assert_eq!(customer["lastName"], "Sample");
    assert_eq!(customer["email"], "alex.sample@example.com");
    assert_eq!(
        masked["context"]["order"]["delivery"]["address"]["line1"],
        "1 Sample Street"
    );
    assert_eq!(
        masked["context"]["order"]["delivery"]["address"]["city"],
        "Amsterdam"
    );
}

// ---------------------------------------------------------------------- test sends

#[tokio::test]
async fn a_test_send_is_marked_masked_sent_and_belongs_to_no_order() {
    let mail_dir = tempfile::TempDir::new().expect("a mail directory");
    let dir = mail_dir.path().to_path_buf();
    let app = TestApp::spawn_with(move |config| config.mail_dir = dir).await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .customer(json!({ "email": REAL_EMAIL, "firstName": REAL_FIRST, "lastName": REAL_LAST }))
        .line(seed::TOTE, 1)
        .place_ok(&app)
        .await;
    let number = str_of(&order["number"], "order number").to_string();
    let customer = order["customer"]["id"].clone();
    // The customer's own confirmation first, so the test send is not mistaken for it.
    wait_for_email(&app, &order["id"], "ORDER_CONFIRMATION").await;

    let resp = send_test(
        &app,
        json!({
            "kind": "ORDER_CONFIRMATION", "locale": "en", "to": "qa@example.test",
            "orderId": order["id"], "idempotencyKey": "test-send-1",
        }),
    )
    .await;
    let sent = expect_ok(&resp, "sendTestEmail")["communication"].clone();
    assert!(sent.is_object(), "{}", pretty(&resp));
    assert_eq!(sent["isTest"], true);
    assert_eq!(
        sent["order"],
        Value::Null,
        "a test send belongs to no order"
    );
    assert_eq!(sent["to"], "qa@example.test");
    assert_eq!(sent["kind"], "ORDER_CONFIRMATION");
    assert_eq!(sent["templateVersion"], 1);
    let subject = str_of(&sent["subject"], "subject").to_string();
    assert!(subject.starts_with("[TEST] "), "{subject}");
    assert!(
        subject.contains(&number),
        "about the order named: {subject}"
    );
    for part in ["subject", "html", "text"] {
        let body = sent[part].as_str().unwrap_or_default();
        assert!(
            !body.contains(REAL_FIRST) && !body.contains(REAL_EMAIL),
            "the test send is masked ({part}):\n{body}"
        );
    }

    // The same idempotency key is the same send.
    let replay = send_test(
        &app,
        json!({
            "kind": "ORDER_CONFIRMATION", "locale": "en", "to": "qa@example.test",
            "orderId": order["id"], "idempotencyKey": "test-send-1",
        }),
    )
    .await;
    assert_eq!(
        expect_ok(&replay, "sendTestEmail")["communication"]["id"],
        sent["id"],
        "{}",
        pretty(&replay)
    );

    // Marketing reads it back by id until it is SENT.
    let marketing = app.marketing_token();
    let deadline = Instant::now() + WAIT;
    let read = loop {
        let read = communication_node(&app, &marketing, &sent["id"]).await;
        assert_eq!(
            read["id"], sent["id"],
            "marketing reads its test send: {read}"
        );
        if read["status"] == "SENT" {
            break read;
        }
        assert!(
            Instant::now() < deadline,
            "the test send is SENT within {WAIT:?}: {}",
            pretty(&read)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(read["isTest"], true);
    assert_eq!(read["subject"], json!(subject));

    // It went out: an .eml file with the [TEST] subject, to the address given.
    let mails = mails_in(mail_dir.path());
    let test_mails: Vec<&(String, Vec<String>)> =
        mails.iter().filter(|(s, _)| *s == subject).collect();
    assert_eq!(
        test_mails.len(),
        1,
        "one test message in the mail directory; there: {mails:?}"
    );
    assert_eq!(test_mails[0].1, vec!["qa@example.test".to_string()]);

    // Not on the order, the customer or the timeline.
    let id = str_of(&sent["id"], "communication id");
    let on_order = order_communications(&app, &order["id"]).await;
    assert!(
        on_order
            .iter()
            .all(|c| c["id"] != sent["id"] && c["isTest"] == false),
        "the order's communications hold no test send: {}",
        pretty(&json!(on_order))
    );
    let resp = app
        .as_agent(
            "query($id: ID!) { customer(id: $id) {
                communications(first: 100) { edges { node { id isTest } } }
                timeline(first: 100) { edges { node { kind communication { id } } } } } }",
            json!({ "id": customer }),
        )
        .await;
    let text = expect_data(&resp).to_string();
    assert!(
        !text.contains(id),
        "the customer's communications and timeline hold no test send:\n{}",
        pretty(&resp)
    );
    let timeline = app
        .as_agent(
            "query($id: ID!) { order(id: $id) { timeline(first: 100) { edges { node { kind communication { id } } } } } }",
            json!({ "id": order["id"] }),
        )
        .await;
    assert!(
        !expect_data(&timeline).to_string().contains(id),
        "the order's timeline holds no test send:\n{}",
        pretty(&timeline)
    );

    // Against the sample, with no order at all.
    let resp = send_test(
        &app,
        json!({ "kind": "DELIVERED", "to": "qa@example.test" }),
    )
    .await;
    let sample = &expect_ok(&resp, "sendTestEmail")["communication"];
    assert_eq!(sample["isTest"], true, "{}", pretty(&resp));
    assert_eq!(sample["order"], Value::Null);
    assert!(str_of(&sample["subject"], "subject").starts_with("[TEST] "));
}

#[tokio::test]
async fn a_test_send_refuses_a_bad_address_and_a_missing_draft_and_can_use_the_draft() {
    let app = TestApp::spawn().await;
    for to in [
        "not-an-address",
        "",
        "qa@example.test\r\nBcc: x@example.test",
    ] {
        let resp = send_test(&app, json!({ "kind": "ORDER_CONFIRMATION", "to": to })).await;
        let errors = user_errors(&resp, "sendTestEmail");
        let error = errors
            .iter()
            .find(|e| e["code"] == "INVALID")
            .unwrap_or_else(|| panic!("{to:?} is INVALID:\n{}", pretty(&resp)));
        assert_eq!(field_path(error), vec!["to"], "{}", pretty(&resp));
        assert_eq!(
            payload(&resp, "sendTestEmail")["communication"],
            Value::Null
        );
    }

    let resp = send_test(
        &app,
        json!({ "kind": "ORDER_CONFIRMATION", "to": "qa@example.test", "useDraft": true }),
    )
    .await;
    let errors = user_errors(&resp, "sendTestEmail");
    let error = errors
        .iter()
        .find(|e| e["code"] == "NOT_FOUND")
        .unwrap_or_else(|| panic!("no draft: NOT_FOUND:\n{}", pretty(&resp)));
    assert_eq!(field_path(error), vec!["useDraft"], "{}", pretty(&resp));
    assert_eq!(
        payload(&resp, "sendTestEmail")["communication"],
        Value::Null
    );

    // With a draft, useDraft sends the draft; without it, the published version.
    save_ok(&app, draft_input("Draft subject {{order.number}}")).await;
    let resp = send_test(
        &app,
        json!({ "kind": "ORDER_CONFIRMATION", "to": "qa@example.test", "useDraft": true }),
    )
    .await;
    let draft_send = &expect_ok(&resp, "sendTestEmail")["communication"];
    assert!(
        str_of(&draft_send["subject"], "subject").starts_with("[TEST] Draft subject "),
        "{}",
        pretty(&resp)
    );
    let resp = send_test(
        &app,
        json!({ "kind": "ORDER_CONFIRMATION", "to": "qa@example.test" }),
    )
    .await;
    let published_send = &expect_ok(&resp, "sendTestEmail")["communication"];
    let subject = str_of(&published_send["subject"], "subject");
    assert!(
        subject.starts_with("[TEST] ") && !subject.contains("Draft subject"),
        "{}",
        pretty(&resp)
    );
    assert_eq!(published_send["templateVersion"], 1);
}

// ---------------------------------------------------------------------- the next email

#[tokio::test]
async fn a_published_edit_changes_the_next_email_and_only_the_next() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let first = app.order_for("first@example.test").await;
    let before = wait_for_email(&app, &first["id"], "ORDER_CONFIRMATION").await;
    assert_eq!(before["templateVersion"], 1, "{}", pretty(&before));
    let factory_subject = str_of(&before["subject"], "subject").to_string();

    // A draft that is not published changes nothing.
    let mut input = draft_input("Fresh from the workshop: {{order.number}}");
    input["html"] = json!(layout(
        "<mj-section><mj-column><mj-text>Workshop news for {{order.number}}</mj-text></mj-column></mj-section>"
    ));
    save_ok(&app, input).await;
    let second = app.order_for("second@example.test").await;
    let unpublished = wait_for_email(&app, &second["id"], "ORDER_CONFIRMATION").await;
    assert_eq!(
        unpublished["templateVersion"],
        1,
        "{}",
        pretty(&unpublished)
    );
    assert!(
        !str_of(&unpublished["subject"], "subject").contains("workshop"),
        "a draft is not sent: {}",
        pretty(&unpublished)
    );

    publish_ok(&app, "ORDER_CONFIRMATION", 2).await;
    let third = app.order_for("third@example.test").await;
    let after = wait_for_email(&app, &third["id"], "ORDER_CONFIRMATION").await;
    let number = str_of(&third["number"], "order number");
    assert_eq!(after["templateVersion"], 2, "{}", pretty(&after));
    assert_eq!(
        after["subject"],
        json!(format!("Fresh from the workshop: {number}")),
        "{}",
        pretty(&after)
    );
    assert!(
        str_of(&after["html"], "html").contains(&format!("Workshop news for {number}")),
        "{}",
        pretty(&after)
    );

    // Earlier orders keep what they were sent.
    let earlier = wait_for_email(&app, &first["id"], "ORDER_CONFIRMATION").await;
    assert_eq!(earlier["subject"], json!(factory_subject));
    assert_eq!(earlier["templateVersion"], 1);

    // After a rollback the next email is version 1 again.
    publish_ok(&app, "ORDER_CONFIRMATION", 1).await;
    let fourth = app.order_for("fourth@example.test").await;
    let rolled_back = wait_for_email(&app, &fourth["id"], "ORDER_CONFIRMATION").await;
    assert_eq!(
        rolled_back["templateVersion"],
        1,
        "{}",
        pretty(&rolled_back)
    );
    assert!(!str_of(&rolled_back["subject"], "subject").contains("workshop"));
}

#[tokio::test]
async fn html_in_a_customers_name_is_escaped_in_the_html_part() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .customer(json!({ "email": "eve@example.test", "firstName": "Eve <b>bold</b> & Co" }))
        .line(seed::TOTE, 1)
        .place_ok(&app)
        .await;
    let sent = wait_for_email(&app, &order["id"], "ORDER_CONFIRMATION").await;
    let html = str_of(&sent["html"], "html");
    assert!(
        html.contains("Eve &lt;b&gt;bold&lt;/b&gt; &amp; Co"),
        "the name is escaped in the HTML part: {html}"
    );
    assert!(!html.contains("<b>bold"), "and not interpreted: {html}");
    let text = str_of(&sent["text"], "text");
    assert!(
        text.contains("Eve <b>bold</b> & Co"),
        "the text part reads as typed: {text}"
    );
}

#[tokio::test]
async fn a_preview_of_an_order_number_that_does_not_exist_names_it() {
    let app = TestApp::spawn().await;
    let preview = preview(
        &app,
        json!({ "kind": "ORDER_CONFIRMATION", "orderNumber": " TP-999999 " }),
    )
    .await;
    assert_eq!(preview["email"], Value::Null, "{}", pretty(&preview));
    let errors = preview["userErrors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(errors.len(), 1, "{}", pretty(&preview));
    assert_eq!(errors[0]["code"], "NOT_FOUND");
    assert_eq!(field_path(&errors[0]), ["orderNumber"]);
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("TP-999999"),
        "the message names the number: {}",
        pretty(&errors[0])
    );
}
