//! Email security, end to end against a real SMTP server (see `smtp.rs`): what customers,
//! services and marketing type can reach emails, and nothing they type changes who receives a
//! message, adds a header, runs in a mail client or reads what the template was not given.
//!
//! * Header injection: CR/LF (and every other line break a client or a library might honour)
//!   in customer names and email addresses (on `placeOrder` and on profile updates), shipping
//!   address lines, product names, the brand name and the template's own subject. Each value is
//!   either refused at the mutation with a clear userError or arrives neutralised: the SMTP
//!   envelope (RCPT TO) names only the customer, no header is added, the subject is one line.
//! * HTML in customer data is escaped in the HTML part (no live tag or attribute) and reads as
//!   typed in the text part.
//! * `javascript:` and other unsafe URLs are refused where they are saved (brand, product image,
//!   tracking link), and whatever a template puts in an `href` or `src` (its data or its own
//!   markup) leaves only safe schemes in the sent HTML and in previews.
//! * A marketing template reaches nothing but its data: no files, no environment, no secret,
//!   no other root of the API, and no way to make the renderer recurse without end.
//!
//! Every test prints how many payloads it tried and what became of them (`--nocapture`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::fixtures::{
    OrderBuilder, ProductBuilder, USER_ERRORS, only_shipment, seed, str_of, tracking_number,
    upsert_product,
};
use crate::harness::{TestApp, expect_data, expect_ok, field_path, payload, pretty, user_errors};
use crate::smtp::{Mail, SmtpServer};

/// The address every injection tries to add.
const ATTACKER: &str = "attacker@evil.test";

/// The brand's default sender.
const SUPPORT: &str = "support@touchpoint.example";

/// How long to wait for a message (the outbox polls every 200 ms in the test configuration;
/// a batch of payload orders is rendered and sent one after the other).
const WAIT: Duration = Duration::from_secs(30);

/// Values that try to end a header line and start another: CR and LF alone and together, a
/// folded continuation, an empty line that would start the body, the percent-encoded and
/// backslash-escaped spellings (characters, not line breaks: they must stay as typed), the
/// Unicode line and paragraph separators, NEL, vertical tab, form feed, NUL, and RFC 2047
/// encoded words that decode to CRLF.
const HEADER_PAYLOADS: [&str; 17] = [
    "Eve\r\nBcc: attacker@evil.test",
    "Eve\nBcc: attacker@evil.test",
    "Eve\rBcc: attacker@evil.test",
    "x\nSubject: hi",
    "Eve\r\n Bcc: attacker@evil.test",
    "Eve\r\n\r\n<p>a body of my own</p>",
    "Eve%0d%0aBcc: attacker@evil.test",
    "Eve%0D%0ABcc:%20attacker@evil.test",
    "Eve\\r\\nBcc: attacker@evil.test",
    "Eve\u{2028}Bcc: attacker@evil.test",
    "Eve\u{2029}Bcc: attacker@evil.test",
    "Eve\u{0085}Bcc: attacker@evil.test",
    "Eve\u{000B}Bcc: attacker@evil.test",
    "Eve\u{000C}Bcc: attacker@evil.test",
    "Eve\u{0000}\r\nBcc: attacker@evil.test",
    "=?utf-8?Q?Eve=0D=0ABcc:_attacker@evil.test?=",
    "=?utf-8?Q?Eve=0D=0ABcc=3A_attacker=40evil.test?=",
];

/// Email addresses that try to add a recipient: header and SMTP command injection, lists,
/// display names, comments, a group; the last two are valid addresses whose odd characters
/// are just characters (literal percent-encoding, an encoded word) and must be used as typed.
const EMAIL_PAYLOADS: [&str; 17] = [
    "eve@example.test\r\nBcc: attacker@evil.test",
    "eve@example.test\nBcc: attacker@evil.test",
    "eve@example.test\rBcc: attacker@evil.test",
    "eve@example.test\r\n\r\nhello",
    "eve@example.test\r\nRCPT TO:<attacker@evil.test>",
    "eve@example.test>\r\nRCPT TO:<attacker@evil.test",
    "eve@example.test%0d%0aBcc:attacker@evil.test",
    "eve@example.test,attacker@evil.test",
    "eve@example.test;attacker@evil.test",
    "Eve <eve@example.test>, attacker@evil.test",
    "eve@example.test\u{2028}Bcc: attacker@evil.test",
    "eve@example.test\u{0085}Bcc: attacker@evil.test",
    "\"eve\r\nbcc: attacker@evil.test\"@example.test",
    "eve(attacker@evil.test)@example.test",
    "eve;bcc:attacker=evil.test@example.test",
    "eve%0d%0abcc@example.test",
    "=?utf-8?q?eve=0d=0a?=@example.test",
];

/// Brand names that try to break out of the From display name.
const BRAND_PAYLOADS: [&str; 6] = [
    "Acme\" <attacker@evil.test>",
    "Acme <attacker@evil.test>",
    "Acme, attacker@evil.test",
    "\"Acme\" <attacker@evil.test>, \"x",
    "Acme\\\" <attacker@evil.test>",
    "=?utf-8?q?Acme?= <attacker@evil.test>",
];

/// Markup and script in customer data.
const XSS_PAYLOADS: [&str; 12] = [
    "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "\"><svg onload=alert(1)>",
    "' onmouseover='alert(1)' x='",
    "<a href=\"javascript:alert(1)\">click</a>",
    "</mj-text><mj-raw><script>alert(1)</script></mj-raw><mj-text>",
    "{{brand.name}}{{{order.number}}}",
    "<style>*{background:url(javascript:alert(1))}</style>",
    "<!--<script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<iframe src=javascript:alert(1)></iframe>",
    "<body onload=alert(1)>",
];

/// URLs no email may link to or load, in the spellings browsers and mail clients accept.
const URL_PAYLOADS: [&str; 15] = [
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "&#106;avascript:alert(1)",
    "&#x6A;avascript&colon;alert(1)",
    "javascript&colon;alert(1)",
    "jav&#x09;ascript:alert(1)",
    "\u{2028}javascript:alert(1)",
    "JAVASCRIPT:alert(1)//https://shop.example.test/",
    "data:text/html,<script>alert(1)</script>",
    "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "  javascript:alert(1)",
];

/// What became of a family of payloads.
#[derive(Default)]
struct Tally {
    tried: usize,
    refused: usize,
    delivered: usize,
}

impl Tally {
    fn report(&self, what: &str) {
        println!(
            "email_security: {what}: {} payloads tried, {} refused at the mutation, {} delivered neutralised",
            self.tried, self.refused, self.delivered
        );
    }
}

// ---------------------------------------------------------------------- helpers

async fn app_sending_to(server: &SmtpServer) -> TestApp {
    let url = server.url();
    TestApp::spawn_with(move |config| config.smtp_url = Some(url)).await
}

/// An address of the form `NAME@example.test` that no other order of the test uses.
fn mailbox(prefix: &str, i: usize) -> String {
    format!("{prefix}{i}@example.test")
}

/// An address with every line set to `value`.
fn address_of(value: &str) -> Value {
    json!({
        "name": value,
        "line1": value,
        "line2": value,
        "city": value,
        "postalCode": "1012 LG",
        "countryCode": "NL",
    })
}

/// The customer and address fields `address_of` and a named customer fill.
const PERSONAL_FIELDS: [&[&str]; 6] = [
    &["customer", "firstName"],
    &["customer", "lastName"],
    &["delivery", "address", "name"],
    &["delivery", "address", "line1"],
    &["delivery", "address", "line2"],
    &["delivery", "address", "city"],
];

/// A refusal: userErrors only, each INVALID with a message and a field among `fields`, and
/// every field of `must_name` named by one of them.
#[track_caller]
fn assert_refused(resp: &Value, mutation: &str, fields: &[&[&str]], must_name: &[&[&str]]) {
    let errors = user_errors(resp, mutation);
    assert!(
        !errors.is_empty(),
        "{mutation} refuses it with a userError:\n{}",
        pretty(resp)
    );
    for e in &errors {
        assert_eq!(e["code"], "INVALID", "{}", pretty(resp));
        assert!(
            !str_of(&e["message"], "message").trim().is_empty(),
            "the refusal says why:\n{}",
            pretty(resp)
        );
        let path = field_path(e);
        assert!(
            fields.iter().any(|f| path == *f),
            "the userError names a field that was given: {path:?}\n{}",
            pretty(resp)
        );
    }
    for field in must_name {
        assert!(
            errors.iter().any(|e| field_path(e) == *field),
            "{field:?} is refused on its own:\n{}",
            pretty(resp)
        );
    }
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

/// Waits for the one message about order `number`.
async fn mail_about(server: &SmtpServer, number: &str) -> Mail {
    let found = server
        .wait_for_matching(1, WAIT, &format!("about {number}"), |m| {
            mentions(m.subject(), number)
        })
        .await;
    assert_eq!(found.len(), 1, "one message about {number}: {found:#?}");
    found[0].clone()
}

/// The header section of a raw message, unfolded: (lowercase name, value) in order.
fn header_fields(raw: &str) -> Vec<(String, String)> {
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.1.push_str(line);
            }
            continue;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        fields.push((name.to_ascii_lowercase(), value.to_string()));
    }
    fields
}

/// The headers a message of Touchpoint's carries.
const HEADERS: [&str; 9] = [
    "message-id",
    "from",
    "reply-to",
    "to",
    "subject",
    "mime-version",
    "date",
    "content-type",
    "content-transfer-encoding",
];

fn line_break(c: char) -> bool {
    matches!(
        c,
        '\r' | '\n' | '\u{2028}' | '\u{2029}' | '\u{0085}' | '\u{000B}' | '\u{000C}'
    )
}

/// The message went to `recipient` only, from the brand's `sender`, with Touchpoint's headers
/// and nothing else, each once, every line ended by CRLF, and a one-line subject.
#[track_caller]
fn assert_clean_message(mail: &Mail, recipient: &str, sender: &str, what: &str) {
    let show = || format!("{what}:\n{}", mail.raw);
    assert_eq!(
        mail.envelope_to,
        vec![recipient.to_string()],
        "RCPT TO names the customer only: {}",
        show()
    );
    assert_eq!(
        mail.envelope_from,
        sender,
        "MAIL FROM is the brand: {}",
        show()
    );
    let head = mail.raw.split("\r\n\r\n").next().unwrap_or("");
    let bare = head.char_indices().any(|(i, c)| match c {
        '\n' => i == 0 || head.as_bytes()[i - 1] != b'\r',
        '\r' => head.as_bytes().get(i + 1) != Some(&b'\n'),
        _ => false,
    });
    assert!(!bare, "header lines end with CRLF only: {}", show());
    assert!(
        !head
            .chars()
            .any(|c| line_break(c) && c != '\r' && c != '\n'),
        "no other line break in the header section: {}",
        show()
    );
    let fields = header_fields(&mail.raw);
    for (name, _) in &fields {
        assert!(
            HEADERS.contains(&name.as_str()),
            "no header of its own (`{name}`): {}",
            show()
        );
    }
    for single in ["from", "reply-to", "to", "subject", "message-id"] {
        assert_eq!(
            fields.iter().filter(|(n, _)| n == single).count(),
            1,
            "one {single} header: {}",
            show()
        );
    }
    let parsed = mail_parser::MessageParser::default()
        .parse(mail.raw.as_bytes())
        .unwrap_or_else(|| panic!("the message parses: {}", show()));
    let addresses = |a: Option<&mail_parser::Address>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .map(|m| m.address().unwrap_or("<none>").to_lowercase())
                .collect()
        })
        .unwrap_or_default()
    };
    let to: Vec<&String> = fields
        .iter()
        .filter(|(n, _)| n == "to")
        .map(|(_, v)| v)
        .collect();
    assert!(
        to.iter()
            .all(|v| [recipient.to_string(), format!("<{recipient}>")]
                .contains(&v.trim().to_string())),
        "To is the customer's address as stored: {}",
        show()
    );
    let parsed_to = addresses(parsed.to());
    assert!(
        parsed_to.len() == 1 && !parsed_to[0].contains(ATTACKER),
        "one To mailbox: {parsed_to:?} {}",
        show()
    );
    assert!(addresses(parsed.cc()).is_empty(), "no Cc: {}", show());
    assert!(addresses(parsed.bcc()).is_empty(), "no Bcc: {}", show());
    assert_eq!(
        addresses(parsed.from()),
        vec![sender.to_string()],
        "one From mailbox, the brand's: {}",
        show()
    );
    assert_eq!(
        addresses(parsed.reply_to()),
        vec![sender.to_string()],
        "Reply-To is the brand: {}",
        show()
    );
    assert!(
        !mail.subject().chars().any(line_break) && !mail.subject().is_empty(),
        "the subject is one line: {:?}\n{}",
        mail.subject(),
        show()
    );
    assert!(
        !mail
            .from_name
            .as_deref()
            .unwrap_or("")
            .chars()
            .any(line_break),
        "the sender's name is one line: {}",
        show()
    );
}

/// Nothing received so far was addressed to the attacker, at the SMTP level or in a header.
#[track_caller]
fn assert_attacker_got_nothing(server: &SmtpServer) {
    for mail in server.attempts() {
        assert!(
            !mail.envelope_to.iter().any(|a| a.contains(ATTACKER)),
            "RCPT TO never names the attacker: {}",
            mail.raw
        );
        assert!(
            !mail.to.iter().any(|a| a.contains(ATTACKER)),
            "{}",
            mail.raw
        );
    }
}

// ---------------------------------------------------------------------- templates

const SAVE: &str = "mutation($input: SaveEmailTemplateDraftInput!) { saveEmailTemplateDraft(input: $input) {
    template { draft { version } } userErrors { field code message location { part line column } } } }";

const PUBLISH: &str =
    "mutation($input: PublishEmailTemplateInput!) { publishEmailTemplate(input: $input) {
    template { published { version } } userErrors { field code message } } }";

const PREVIEW: &str = "query($input: PreviewEmailInput!) { previewEmail(input: $input) {
    email { subject html text } context userErrors { field code message location { part line column } } } }";

/// MJML body content in the shipped layout.
fn layout(body: &str) -> String {
    format!("{{{{#> email_html}}}}\n{body}\n{{{{/email_html}}}}")
}

/// Saves a draft of ORDER_CONFIRMATION as marketing; the whole response.
async fn save_draft(app: &TestApp, input: Value) -> Value {
    let mut input = input;
    input["kind"] = json!("ORDER_CONFIRMATION");
    input["locale"] = json!("en");
    app.as_marketing(SAVE, json!({ "input": input })).await
}

/// Saves and publishes an ORDER_CONFIRMATION draft; asserts both succeed.
async fn publish(app: &TestApp, input: Value) {
    let resp = save_draft(app, input).await;
    let version = expect_ok(&resp, "saveEmailTemplateDraft")["template"]["draft"]["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("a draft version: {}", pretty(&resp)));
    let resp = app
        .as_marketing(
            PUBLISH,
            json!({ "input": { "kind": "ORDER_CONFIRMATION", "locale": "en", "version": version } }),
        )
        .await;
    expect_ok(&resp, "publishEmailTemplate");
}

/// `previewEmail` of ORDER_CONFIRMATION as marketing; the EmailPreview.
async fn preview(app: &TestApp, input: Value) -> Value {
    let mut input = input;
    input["kind"] = json!("ORDER_CONFIRMATION");
    input["locale"] = json!("en");
    let resp = app.as_marketing(PREVIEW, json!({ "input": input })).await;
    let preview = expect_data(&resp)["previewEmail"].clone();
    assert!(preview.is_object(), "{}", pretty(&resp));
    preview
}

/// A preview that rendered; its HTML.
#[track_caller]
fn preview_html(preview: &Value, what: &str) -> String {
    assert_eq!(
        preview["userErrors"],
        json!([]),
        "{what} renders:\n{}",
        pretty(preview)
    );
    str_of(&preview["email"]["html"], "preview html").to_string()
}

/// The data query of the templates below: every customer-typed value an order carries.
const PERSONAL_QUERY: &str = "query Personal($orderId: ID!) {
  order(id: $orderId) {
    number
    customer { firstName lastName }
    delivery { address { name line1 line2 city } }
    lines { name }
  }
}";

/// An ORDER_CONFIRMATION that puts every customer-typed value in the subject, in HTML text and
/// in attributes, and in the text part.
fn personal_template() -> Value {
    let values = "{{order.customer.firstName}} {{order.customer.lastName}} / {{order.delivery.address.name}} / {{order.delivery.address.line1}} / {{order.delivery.address.line2}} / {{order.delivery.address.city}} / {{#each order.lines}}{{name}} {{/each}}";
    json!({
        "subject": format!("Order {{{{order.number}}}} for {values}"),
        "html": layout(
            r#"<mj-section><mj-column>
<mj-text>Hi {{order.customer.firstName}} {{order.customer.lastName}}</mj-text>
<mj-text><span title="{{order.delivery.address.name}}">{{order.delivery.address.name}}</span><br />{{order.delivery.address.line1}}<br />{{order.delivery.address.line2}}<br />{{order.delivery.address.city}}</mj-text>
{{#each order.lines}}<mj-image src="https://img.example.test/p.png" alt="{{name}}" title="{{name}}" href="https://shop.example.test/p?name={{name}}" />
<mj-text><strong>{{name}}</strong></mj-text>{{/each}}
<mj-button href="https://shop.example.test/hi?n={{order.customer.firstName}}">{{order.customer.firstName}}</mj-button>
</mj-column></mj-section>"#,
        ),
        "text": format!("Order {{{{order.number}}}}\n{values}\n"),
        "dataQuery": PERSONAL_QUERY,
    })
}

// ---------------------------------------------------------------------- header injection

#[tokio::test]
async fn line_breaks_in_customer_data_never_reach_a_header_or_the_envelope() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    publish(&app, personal_template()).await;
    // (order number, the address it must go to, what was tried, the value typed)
    let mut expected: Vec<(String, String, String, &str)> = Vec::new();

    // The customer's email address on placeOrder.
    let mut emails = Tally::default();
    for (i, email) in EMAIL_PAYLOADS.iter().enumerate() {
        emails.tried += 1;
        let resp = OrderBuilder::new()
            .customer(json!({ "email": email, "firstName": format!("Mail{i}") }))
            .line(seed::SHIRT, 1)
            .place(&app)
            .await;
        if payload(&resp, "placeOrder")["order"].is_null() {
            emails.refused += 1;
            assert_refused(
                &resp,
                "placeOrder",
                &[&["customer", "email"]],
                &[&["customer", "email"]],
            );
            continue;
        }
        let order = &expect_ok(&resp, "placeOrder")["order"];
        let stored = str_of(&order["customer"]["email"], "customer email").to_string();
        assert!(
            !stored.contains(ATTACKER) && !stored.chars().any(line_break),
            "an address that passes is one address: {stored:?} from {email:?}"
        );
        expected.push((
            str_of(&order["number"], "number").to_string(),
            stored,
            format!("email {email:?}"),
            "",
        ));
    }

    // Names and every address line on placeOrder, all at once: a refusal names each field.
    let mut personal = Tally::default();
    for (i, value) in HEADER_PAYLOADS.iter().enumerate() {
        personal.tried += 1;
        let email = mailbox("names", i);
        let resp = OrderBuilder::new()
            .customer(json!({ "email": email, "firstName": value, "lastName": value }))
            .ship_to(address_of(value))
            .line(seed::SHIRT, 1)
            .place(&app)
            .await;
        if payload(&resp, "placeOrder")["order"].is_null() {
            personal.refused += 1;
            assert_refused(&resp, "placeOrder", &PERSONAL_FIELDS, &PERSONAL_FIELDS);
            continue;
        }
        let order = &expect_ok(&resp, "placeOrder")["order"];
        expected.push((
            str_of(&order["number"], "number").to_string(),
            email,
            format!("names and address {value:?}"),
            value,
        ));
    }

    // A customer's names changed on their profile, then an order.
    let mut profiles = Tally::default();
    for (i, value) in HEADER_PAYLOADS.iter().enumerate() {
        profiles.tried += 1;
        let email = mailbox("profile", i);
        let customer = app.new_customer(&email).await;
        let resp = app
            .as_agent(
                &format!(
                    "mutation($input: UpdateCustomerInput!) {{ updateCustomer(input: $input) {{
                        customer {{ id firstName lastName }} {USER_ERRORS} }} }}"
                ),
                json!({ "input": { "customerId": customer, "firstName": value, "lastName": value } }),
            )
            .await;
        if payload(&resp, "updateCustomer")["customer"].is_null() {
            profiles.refused += 1;
            let names: [&[&str]; 2] = [&["firstName"], &["lastName"]];
            assert_refused(&resp, "updateCustomer", &names, &names);
            continue;
        }
        expect_ok(&resp, "updateCustomer");
        let order = OrderBuilder::new()
            .customer_email(&email)
            .line(seed::SHIRT, 1)
            .place_ok(&app)
            .await;
        expected.push((
            str_of(&order["number"], "number").to_string(),
            email,
            format!("profile names {value:?}"),
            value,
        ));
    }

    // Product names (from the catalogue service) in the lines.
    let mut products = Tally::default();
    for (i, value) in HEADER_PAYLOADS.iter().enumerate() {
        products.tried += 1;
        let sku = format!("INJ-{i}");
        let resp = upsert_product(
            &app,
            ProductBuilder::new(&sku)
                .name(value)
                .price("5.00", "EUR")
                .input(),
        )
        .await;
        if payload(&resp, "upsertProduct")["product"].is_null() {
            products.refused += 1;
            assert_refused(&resp, "upsertProduct", &[&["name"]], &[&["name"]]);
            continue;
        }
        expect_ok(&resp, "upsertProduct");
        app.set_stock(seed::WAREHOUSE, &sku, 10).await;
        let email = mailbox("product", i);
        let order = OrderBuilder::new()
            .customer_email(&email)
            .line(&sku, 1)
            .place_ok(&app)
            .await;
        expected.push((
            str_of(&order["number"], "number").to_string(),
            email,
            format!("product name {value:?}"),
            value,
        ));
    }

    for (number, recipient, what, value) in &expected {
        let mail = mail_about(&server, number).await;
        assert_clean_message(&mail, recipient, SUPPORT, what);
        // What is not a line break or an encoded word is shown as typed: `%0d%0a` and `\r\n`
        // spelled out stay characters.
        let plain = !value.chars().any(|c| c.is_whitespace() && c != ' ') && !value.contains("=?");
        if plain {
            assert!(
                mail.subject().contains(value),
                "{what}: the subject shows {value:?} as typed: {:?}",
                mail.subject()
            );
        }
    }
    assert_attacker_got_nothing(&server);
    assert_eq!(
        server.received().len(),
        expected.len(),
        "one message per order and nothing else"
    );
    let delivered = |t: &mut Tally, prefix: &str| {
        t.delivered = expected.iter().filter(|e| e.2.starts_with(prefix)).count();
    };
    delivered(&mut emails, "email");
    delivered(&mut personal, "names");
    delivered(&mut profiles, "profile");
    delivered(&mut products, "product");
    emails.report("header injection, customer email on placeOrder");
    personal.report("header injection, names and address lines on placeOrder");
    profiles.report("header injection, names on updateCustomer");
    products.report("header injection, product names");
}

#[tokio::test]
async fn the_brand_name_and_the_template_subject_cannot_add_a_header_or_a_recipient() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let mut sent = 0;

    // The brand name is the From display name.
    let mut brand = Tally::default();
    let names = HEADER_PAYLOADS.iter().chain(BRAND_PAYLOADS.iter());
    for (i, name) in names.enumerate() {
        brand.tried += 1;
        let resp = app
            .as_marketing(
                &format!(
                    "mutation($input: UpdateBrandInput!) {{ updateBrand(input: $input) {{
                        brand {{ name }} {USER_ERRORS} }} }}"
                ),
                json!({ "input": { "name": name } }),
            )
            .await;
        if payload(&resp, "updateBrand")["brand"].is_null() {
            brand.refused += 1;
            assert_refused(&resp, "updateBrand", &[&["name"]], &[&["name"]]);
            continue;
        }
        expect_ok(&resp, "updateBrand");
        let email = mailbox("brand", i);
        let order = OrderBuilder::new()
            .customer(json!({ "email": email, "firstName": "Ada" }))
            .line(seed::SHIRT, 1)
            .place_ok(&app)
            .await;
        let mail = mail_about(&server, str_of(&order["number"], "number")).await;
        assert_clean_message(&mail, &email, SUPPORT, &format!("brand name {name:?}"));
        sent += 1;
        brand.delivered += 1;
    }

    // Marketing's own subject text around the data.
    let mut subjects = Tally::default();
    for (i, text) in HEADER_PAYLOADS.iter().enumerate() {
        subjects.tried += 1;
        let resp = save_draft(
            &app,
            json!({
                "subject": format!("Order {{{{order.number}}}} {text}"),
                "html": layout("<mj-section><mj-column><mj-text>Order {{order.number}}</mj-text></mj-column></mj-section>"),
                "text": "Order {{order.number}}\n",
            }),
        )
        .await;
        if payload(&resp, "saveEmailTemplateDraft")["template"].is_null() {
            subjects.refused += 1;
            let errors = user_errors(&resp, "saveEmailTemplateDraft");
            assert!(
                errors
                    .iter()
                    .any(|e| e["code"] == "TEMPLATE_INVALID" && field_path(e) == ["subject"]),
                "refused as an invalid subject:\n{}",
                pretty(&resp)
            );
            continue;
        }
        let version =
            expect_ok(&resp, "saveEmailTemplateDraft")["template"]["draft"]["version"].clone();
        let resp = app
            .as_marketing(
                PUBLISH,
                json!({ "input": { "kind": "ORDER_CONFIRMATION", "locale": "en", "version": version } }),
            )
            .await;
        expect_ok(&resp, "publishEmailTemplate");
        let email = mailbox("subject", i);
        let order = OrderBuilder::new()
            .customer_email(&email)
            .line(seed::SHIRT, 1)
            .place_ok(&app)
            .await;
        let mail = mail_about(&server, str_of(&order["number"], "number")).await;
        assert_clean_message(&mail, &email, SUPPORT, &format!("subject text {text:?}"));
        sent += 1;
        subjects.delivered += 1;
    }

    assert_attacker_got_nothing(&server);
    assert_eq!(server.received().len(), sent, "nothing else was sent");
    brand.report("header injection, brand name (From)");
    subjects.report("header injection, template subject text");
}

// ---------------------------------------------------------------------- HTML in the data

/// Every element and attribute of an HTML document (markup inside comments is not markup).
fn markup(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    use lol_html::{RewriteStrSettings, element, rewrite_str};
    let found = std::cell::RefCell::new(Vec::new());
    rewrite_str(
        html,
        RewriteStrSettings::new().append_element_content_handler(element!("*", |el| {
            found.borrow_mut().push((
                el.tag_name(),
                el.attributes()
                    .iter()
                    .map(|a| (a.name(), a.value()))
                    .collect(),
            ));
            Ok(())
        })),
    )
    .expect("the HTML part parses");
    found.into_inner()
}

/// No tag or attribute in the HTML part came from the data: no script, no embedded document,
/// no MJML left over, no event handler, images only from `images` (any image when empty), and
/// only safe URLs.
#[track_caller]
fn assert_no_live_markup(html: &str, images: &[&str], what: &str) {
    for (tag, attributes) in markup(html) {
        assert!(
            !matches!(
                tag.as_str(),
                "script" | "svg" | "iframe" | "object" | "embed" | "frame" | "frameset"
            ) && !tag.starts_with("mj-"),
            "{what}: no <{tag}> from the data:\n{html}"
        );
        for (name, value) in &attributes {
            assert!(
                !name.starts_with("on"),
                "{what}: no event handler ({name}={value:?}) on <{tag}>:\n{html}"
            );
            if tag == "img" && name == "src" && !images.is_empty() {
                assert!(
                    images.iter().any(|i| value.starts_with(i)),
                    "{what}: an image the template loads, not {value:?}:\n{html}"
                );
            }
        }
    }
    assert_only_safe_urls(html, what);
}

/// The text a reader sees in an HTML part, markup and entities undone.
fn visible_text(html: &str) -> String {
    html2text::from_read(html.as_bytes(), 100_000).unwrap_or_default()
}

#[tokio::test]
async fn markup_in_customer_data_is_escaped_in_the_html_part_and_plain_in_the_text_part() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;
    let image = "https://img.example.test/product.png";
    let mut tally = Tally::default();

    let mut orders = Vec::new();
    for (i, value) in XSS_PAYLOADS.iter().enumerate() {
        tally.tried += 1;
        let sku = format!("XSS-{i}");
        let mut product = ProductBuilder::new(&sku)
            .name(value)
            .price("7.00", "EUR")
            .input();
        product["imageUrl"] = json!(image);
        product["careInstructions"] = json!(value);
        expect_ok(&upsert_product(&app, product).await, "upsertProduct");
        app.set_stock(seed::WAREHOUSE, &sku, 20).await;
        let email = mailbox("xss", i);
        let order = OrderBuilder::new()
            .customer(json!({ "email": email, "firstName": value, "lastName": value }))
            .ship_to(address_of(value))
            .line(&sku, 1)
            .place_ok(&app)
            .await;
        orders.push((order, email, value));
    }

    // The factory confirmation: name, address lines, product name (also an image's alt) and
    // care instructions.
    let pixel = format!("{}/t/o/", app.base_url);
    let images = [image, pixel.as_str()];
    for (order, email, value) in &orders {
        let number = str_of(&order["number"], "number");
        let mail = mail_about(&server, number).await;
        let what = format!("factory confirmation with {value:?}");
        assert_clean_message(&mail, email, SUPPORT, &what);
        let html = mail.html();
        assert_no_live_markup(&html, &images, &what);
        let seen = visible_text(&html);
        assert!(
            seen.matches(*value).count() >= 3,
            "{what}: the HTML part shows the value as typed (name, address, product):\n{seen}"
        );
        let text = mail.text();
        assert!(
            text.matches(*value).count() >= 3,
            "{what}: the text part reads as typed:\n{text}"
        );
        tally.delivered += 1;
    }

    // A template that also puts the values in attributes (title, alt, a link's query).
    publish(&app, personal_template()).await;
    for (i, (_, _, value)) in orders.iter().enumerate() {
        let email = mailbox("xss-attr", i);
        let order = OrderBuilder::new()
            .customer(json!({ "email": email, "firstName": value, "lastName": value }))
            .ship_to(address_of(value))
            .line(&format!("XSS-{i}"), 1)
            .place_ok(&app)
            .await;
        let mail = mail_about(&server, str_of(&order["number"], "number")).await;
        let what = format!("values in attributes with {value:?}");
        assert_clean_message(&mail, &email, SUPPORT, &what);
        let html = mail.html();
        assert_no_live_markup(
            &html,
            &["https://img.example.test/p.png", pixel.as_str()],
            &what,
        );
        let titles: Vec<String> = markup(&html)
            .into_iter()
            .flat_map(|(_, attributes)| attributes)
            .filter(|(name, _)| name == "title" || name == "alt")
            .map(|(_, v)| v)
            .collect();
        assert!(
            !titles.is_empty(),
            "{what}: the values are in attributes:\n{html}"
        );
        assert!(
            mail.text().contains(*value),
            "{what}: the text part reads as typed:\n{}",
            mail.text()
        );

        // Marketing's preview of the real order shows the same escaping.
        let previewed = preview(&app, json!({ "orderId": order["id"] })).await;
        assert_no_live_markup(
            &preview_html(&previewed, &what),
            &["https://img.example.test/p.png"],
            &format!("preview, {what}"),
        );
        tally.delivered += 1;
    }
    assert_eq!(server.received().len(), 2 * orders.len());
    tally.report("HTML and script in customer data (twice each: factory and attribute template)");
}

// ---------------------------------------------------------------------- unsafe URLs

/// The attributes a client follows or fetches.
const URL_ATTRIBUTES: [&str; 10] = [
    "href",
    "src",
    "action",
    "formaction",
    "background",
    "poster",
    "srcset",
    "data",
    "lowsrc",
    "dynsrc",
];

/// The URLs in a piece of CSS (`url(…)`), as written.
fn css_urls(css: &str) -> Vec<String> {
    let compact: String = css
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    compact
        .match_indices("url(")
        .map(|(at, _)| {
            let inner = compact[at + 4..].trim_start_matches(['\'', '"']);
            let end = inner.find([')', '\'', '"']).unwrap_or(inner.len());
            inner[..end].to_string()
        })
        .collect()
}

/// Every URL a client may follow or fetch in `html`, as written: the URL attributes of every
/// element, `url(…)` in style attributes and style elements, and the same inside conditional
/// comments, which Outlook renders. (where, URL)
fn urls_in(html: &str) -> Vec<(String, String)> {
    use lol_html::{RewriteStrSettings, doc_comments, element, rewrite_str, text};
    use std::cell::RefCell;
    let found = RefCell::new(Vec::new());
    let comments = RefCell::new(Vec::new());
    let styles = RefCell::new(String::new());
    rewrite_str(
        html,
        RewriteStrSettings::new()
            .append_element_content_handler(element!("*", |el| {
                let tag = el.tag_name();
                for attribute in el.attributes() {
                    let (name, value) = (attribute.name(), attribute.value());
                    let place = format!("<{tag} {name}>");
                    if name == "style" {
                        for url in css_urls(&value) {
                            found.borrow_mut().push((place.clone(), url));
                        }
                    } else if name.ends_with("srcset") {
                        for candidate in value.split(',') {
                            let url = candidate.split_whitespace().next().unwrap_or("");
                            found.borrow_mut().push((place.clone(), url.to_string()));
                        }
                    } else if URL_ATTRIBUTES.contains(&name.as_str()) || name.ends_with(":href") {
                        found.borrow_mut().push((place, value));
                    }
                }
                Ok(())
            }))
            .append_element_content_handler(text!("style", |t| {
                styles.borrow_mut().push_str(t.as_str());
                Ok(())
            }))
            .append_document_content_handler(doc_comments!(|c| {
                comments.borrow_mut().push(c.text());
                Ok(())
            })),
    )
    .expect("the HTML parses");
    let mut found = found.into_inner();
    for url in css_urls(&styles.into_inner()) {
        found.push(("<style>".to_string(), url));
    }
    for comment in comments.into_inner() {
        if let Some(rest) = comment.strip_prefix("[if")
            && let Some((_, inner)) = rest.split_once('>')
        {
            let inner = inner.rsplit_once("<![endif]").map_or(inner, |(i, _)| i);
            for (place, url) in urls_in(inner) {
                found.push((format!("conditional comment {place}"), url));
            }
        }
    }
    found
}

/// An attribute value as a browser reads it: character references decoded (numeric ones, with
/// or without `;`, and the named ones that can spell a scheme's letters or delimiters). None
/// when it has a named reference this does not know: that is not judged safe.
fn as_browser_reads(raw: &str) -> Option<String> {
    const NAMED: [(&str, char); 12] = [
        ("amp;", '&'),
        ("lt;", '<'),
        ("gt;", '>'),
        ("quot;", '"'),
        ("apos;", '\''),
        ("colon;", ':'),
        ("sol;", '/'),
        ("num;", '#'),
        ("quest;", '?'),
        ("Tab;", '\t'),
        ("NewLine;", '\n'),
        ("nbsp;", '\u{a0}'),
    ];
    let mut out = String::new();
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(number) = rest.strip_prefix('#') {
            let (digits, radix) = match number.strip_prefix(['x', 'X']) {
                Some(hex) => (hex, 16),
                None => (number, 10),
            };
            let len = digits
                .find(|c: char| !c.is_digit(radix))
                .unwrap_or(digits.len());
            if len == 0 {
                out.push('&');
                continue;
            }
            let value = u32::from_str_radix(&digits[..len], radix).ok()?;
            out.push(char::from_u32(value).unwrap_or('\u{fffd}'));
            rest = &digits[len..];
            rest = rest.strip_prefix(';').unwrap_or(rest);
        } else if let Some((name, c)) = NAMED.iter().find(|(n, _)| rest.starts_with(n)) {
            out.push(*c);
            rest = &rest[name.len()..];
        } else if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        } else {
            out.push('&');
        }
    }
    out.push_str(rest);
    Some(out)
}

/// Whether a URL attribute, as a browser reads it, is safe: tabs and line breaks dropped and
/// blanks trimmed as browsers do, then either a safe scheme or no scheme at all (relative).
fn safe_url(raw: &str) -> bool {
    let Some(decoded) = as_browser_reads(raw) else {
        return false;
    };
    let url: String = decoded
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    if url.chars().any(char::is_control) {
        return false;
    }
    match url.find([':', '/', '?', '#']) {
        Some(at) if url[at..].starts_with(':') => ["http", "https", "mailto", "tel", "cid"]
            .contains(&url[..at].to_ascii_lowercase().as_str()),
        _ => true,
    }
}

/// Every href, src (…), CSS `url(…)`, conditional comments included, has only a safe scheme.
#[track_caller]
fn assert_only_safe_urls(html: &str, what: &str) {
    let urls = urls_in(html);
    assert!(!urls.is_empty(), "{what}: the HTML has links:\n{html}");
    for (place, url) in urls {
        assert!(
            safe_url(&url),
            "{what}: {place} {url:?} is not a safe URL:\n{html}"
        );
    }
}

/// `value` written into an HTML attribute as-is, save what would end the attribute.
fn in_attribute(value: &str) -> String {
    value
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An ORDER_CONFIRMATION whose links and images come from customer-typed values, and whose own
/// markup carries every unsafe URL (in MJML attributes, in HTML, in raw HTML, as a section
/// background that MJML writes into Outlook's conditional markup).
fn url_template() -> Value {
    let literals: String = URL_PAYLOADS
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let url = in_attribute(url);
            format!(r#"<a href="{url}">link {i}</a> <img src="{url}" alt="" /> "#)
        })
        .collect();
    let mj_buttons: String = URL_PAYLOADS
        .iter()
        .map(|url| {
            let url = in_attribute(url);
            format!(r#"<mj-button href="{url}">Go</mj-button><mj-image src="{url}" href="{url}" alt="" />"#)
        })
        .collect();
    let html = layout(&format!(
        r##"<mj-section background-url="javascript:alert(1)"><mj-column>
<mj-text>Order {{{{order.number}}}}</mj-text>
<mj-image src="{{{{order.delivery.address.line1}}}}" href="{{{{order.customer.firstName}}}}" alt="" />
<mj-button href="{{{{order.delivery.address.city}}}}">Go</mj-button>
<mj-text><a href="{{{{order.customer.lastName}}}}">last</a> <img src="{{{{order.delivery.address.name}}}}" alt="" /> <a href="{{{{order.delivery.address.line2}}}}">line2</a>{{{{#each order.lines}}}} <a href="{{{{name}}}}">{{{{name}}}}</a> <img src="{{{{name}}}}" alt="" />{{{{/each}}}}</mj-text>
<mj-text>{literals}</mj-text>
{mj_buttons}
<mj-raw><a href="javascript:alert(2)">raw</a><form action="javascript:alert(3)"><button formaction="javascript:alert(4)">x</button></form><iframe src="javascript:alert(5)"></iframe><script>alert(6)</script><img src="x" onerror="alert(7)" srcset="javascript:alert(8) 2x" /></mj-raw>
<mj-text><a href="https://shop.example.test/ok">ok</a> <a href="mailto:help@shop.example.test">mail</a> <a href="#top">top</a></mj-text>
</mj-column></mj-section>"##
    ));
    json!({
        "subject": "Order {{order.number}}",
        "html": html,
        "text": "Order {{order.number}}\n",
        "dataQuery": PERSONAL_QUERY,
    })
}

#[tokio::test]
async fn unsafe_urls_are_refused_where_saved_and_never_reach_an_href_or_src() {
    let server = SmtpServer::start().await;
    let app = app_sending_to(&server).await;
    app.seed_catalog().await;

    // Where URLs are saved: the brand's logo and website, a product's image, a tracking link.
    let mut saved = Tally::default();
    let placed = app
        .place_fulfilment(
            &OrderBuilder::new()
                .customer_email("tracked@example.test")
                .line(seed::SHIRT, 1),
        )
        .await;
    let shipment = only_shipment(&placed)["id"].clone();
    for url in URL_PAYLOADS {
        for field in ["logoUrl", "websiteUrl"] {
            saved.tried += 1;
            let resp = app
                .as_marketing(
                    &format!(
                        "mutation($input: UpdateBrandInput!) {{ updateBrand(input: $input) {{
                            brand {{ logoUrl websiteUrl }} {USER_ERRORS} }} }}"
                    ),
                    json!({ "input": { field: url } }),
                )
                .await;
            assert_refused(&resp, "updateBrand", &[&[field]], &[&[field]]);
            saved.refused += 1;
        }
        saved.tried += 1;
        let mut product = ProductBuilder::new("URL-IMG").price("3.00", "EUR").input();
        product["imageUrl"] = json!(url);
        let resp = upsert_product(&app, product).await;
        assert_refused(&resp, "upsertProduct", &[&["imageUrl"]], &[&["imageUrl"]]);
        saved.refused += 1;

        saved.tried += 1;
        let resp = app
            .update_shipment(json!({
                "shipmentId": shipment,
                "status": "DISPATCHED",
                "carrier": "PostNL",
                "trackingNumber": tracking_number(),
                "trackingUrl": url,
            }))
            .await;
        assert_refused(
            &resp,
            "updateShipmentStatus",
            &[&["trackingUrl"]],
            &[&["trackingUrl"]],
        );
        saved.refused += 1;
    }
    saved.report(
        "unsafe URLs where they are saved (brand logo and website, product image, tracking link)",
    );

    // What a template puts in links and images.
    let mut rendered = Tally::default();
    let draft = url_template();
    let resp = save_draft(&app, draft.clone()).await;
    expect_ok(&resp, "saveEmailTemplateDraft");
    let sample = preview(&app, json!({ "draft": {
        "subject": draft["subject"], "html": draft["html"], "text": draft["text"], "dataQuery": draft["dataQuery"],
    } }))
    .await;
    let sample_html = preview_html(&sample, "the URL template against the sample");
    assert_only_safe_urls(&sample_html, "preview against the sample");
    assert!(
        sample_html.contains(r#"href="https://shop.example.test/ok""#)
            && sample_html.contains(r#"href="mailto:help@shop.example.test""#)
            && sample_html.contains(r##"href="#top""##),
        "safe links stay as written:\n{sample_html}"
    );
    publish(&app, draft).await;

    let mut orders = Vec::new();
    for (i, url) in URL_PAYLOADS.iter().enumerate() {
        rendered.tried += 1;
        let sku = format!("URL-{i}");
        let resp = upsert_product(
            &app,
            ProductBuilder::new(&sku)
                .name(url)
                .price("4.00", "EUR")
                .input(),
        )
        .await;
        let product_ok = !payload(&resp, "upsertProduct")["product"].is_null();
        if product_ok {
            app.set_stock(seed::WAREHOUSE, &sku, 10).await;
        }
        let email = mailbox("url", i);
        let resp = OrderBuilder::new()
            .customer(json!({ "email": email, "firstName": url, "lastName": url }))
            .ship_to(address_of(url))
            .line(if product_ok { &sku } else { seed::SHIRT }, 1)
            .place(&app)
            .await;
        if payload(&resp, "placeOrder")["order"].is_null() {
            // Line breaks and controls are not names: the URL is then only in the template.
            rendered.refused += 1;
            assert_refused(&resp, "placeOrder", &PERSONAL_FIELDS, &PERSONAL_FIELDS);
            continue;
        }
        let order = expect_ok(&resp, "placeOrder")["order"].clone();
        orders.push((order, email, *url));
    }
    for (order, email, url) in &orders {
        let mail = mail_about(&server, str_of(&order["number"], "number")).await;
        let what = format!("names and address {url:?}");
        assert_clean_message(&mail, email, SUPPORT, &what);
        assert_only_safe_urls(&mail.html(), &what);
        assert_no_live_markup(&mail.html(), &[], &what);
        let previewed = preview(&app, json!({ "orderId": order["id"] })).await;
        assert_only_safe_urls(
            &preview_html(&previewed, &what),
            &format!("preview of the real order, {what}"),
        );
        rendered.delivered += 1;
    }

    // A test send of the same template.
    let resp = app
        .as_marketing(
            &format!(
                "mutation($input: SendTestEmailInput!) {{ sendTestEmail(input: $input) {{
                    communication {{ id subject }} {USER_ERRORS} }} }}"
            ),
            json!({ "input": { "kind": "ORDER_CONFIRMATION", "locale": "en", "to": "marketer@example.test" } }),
        )
        .await;
    expect_ok(&resp, "sendTestEmail");
    let test = server
        .wait_for_matching(1, WAIT, "the test send", |m| {
            m.envelope_to == ["marketer@example.test"]
        })
        .await
        .remove(0);
    assert_only_safe_urls(&test.html(), "the test send");
    assert_attacker_got_nothing(&server);
    rendered.report(&format!(
        "unsafe URLs in the data of a template's links and images (and {} more written into the template itself, each 4 ways)",
        URL_PAYLOADS.len()
    ));
}

// ---------------------------------------------------------------------- the template sandbox

/// Template parts that try to read a file, the environment, a helper that is not there, or
/// the whole context.
const TEMPLATE_PAYLOADS: [(&str, &str); 30] = [
    ("html", "{{> ../../etc/passwd}}"),
    ("html", "{{> /etc/passwd}}"),
    ("html", "{{> [../../../../etc/passwd]}}"),
    ("html", "{{> templates/email/layouts/email_html.hbs}}"),
    ("html", "{{> (lookup @root \"x\")}}"),
    ("html", "{{> html}}"),
    ("html", "{{env \"HOME\"}}"),
    ("html", "{{env.HOME}}"),
    ("html", "{{process.env.HOME}}"),
    ("html", "{{lookup}}"),
    ("html", "{{lookup @root \"brand\"}}"),
    ("html", "{{log order.number}}"),
    ("html", "{{json @root}}"),
    ("html", "{{include \"/etc/passwd\"}}"),
    ("html", "{{#each @root}}{{@key}}={{this}};{{/each}}"),
    ("html", "{{this}}"),
    ("html", "{{@root}}"),
    ("html", "{{{@root}}}"),
    ("html", "{{../this}}"),
    ("html", "{{@root.jwt}}"),
    ("html", "{{@root.__proto__}}"),
    (
        "html",
        "{{#with @root}}{{#each this}}{{@key}};{{/each}}{{/with}}",
    ),
    ("html", "{{#each this}}{{@key}}={{this}};{{/each}}"),
    ("html", "{{#each order}}{{@key}}={{this}};{{/each}}"),
    ("html", "{{{{raw}}}}{{@root}}{{{{/raw}}}}"),
    ("subject", "{{order.number}} {{> /etc/passwd}}"),
    ("subject", "{{order.number}} {{env \"PATH\"}}"),
    (
        "subject",
        "{{order.number}} {{#each this}}{{@key}}={{this}} {{/each}}",
    ),
    ("text", "{{#each this}}{{@key}}={{this}}\n{{/each}}"),
    ("text", "{{> email_text}}{{> ../../../etc/passwd}}"),
];

/// Data queries that ask for what a template is not given: other roots, introspection, other
/// customers, agents' notes.
const QUERY_PAYLOADS: [&str; 13] = [
    "query Q($orderId: ID!) { order(id: $orderId) { number } me { email } }",
    "query Q($orderId: ID!) { order(id: $orderId) { number } customers(first: 5) { edges { node { email } } } }",
    "query Q($orderId: ID!) { order(id: $orderId) { number } __schema { types { name } } }",
    "query Q($orderId: ID!) { order(id: $orderId) { number } __type(name: \"Query\") { fields { name } } }",
    "query Q($orderId: ID!) { order(id: $orderId) { number } node(id: $orderId) { id } }",
    "query Q($orderId: ID!) { order: me { email } }",
    "query Q($orderId: ID!) { order(id: $orderId) { number } ...F } fragment F on Query { me { email } }",
    "query Q($orderId: ID!) { order(id: $orderId) { number } ... on Query { me { email } } }",
    "query Q($orderId: ID!) { order(id: $orderId) { number } } query R { me { email } }",
    "subscription S($orderId: ID!) { orderUpdated(orderId: $orderId) { number } }",
    "query Q($orderId: ID!) { order(id: $orderId) { number customer { notes(first: 10) { edges { node { body } } } } } }",
    "query Q($orderId: ID!) { order(id: $orderId) { number customer { timeline(first: 50) { edges { node { kind summary } } } } } }",
    "query Q($orderId: ID!) { order(id: $orderId) { number customer { email orders(first: 10) { edges { node { number customer { email } } } } } } }",
];

/// Things that must never be in an email or a preview: the JWT secret and tokens signed with
/// it, the database's address, an agent's note, files on the machine, the environment.
fn secrets(app: &TestApp, note: &str) -> Vec<(String, String)> {
    let mut secrets = vec![
        ("the JWT secret".to_string(), app.jwt_secret.clone()),
        ("a staff token".to_string(), app.marketing_token()),
        ("a service token".to_string(), app.service_token()),
        (
            "the database URL".to_string(),
            app.database_url().to_string(),
        ),
        ("an agent's note".to_string(), note.to_string()),
        ("/etc/passwd".to_string(), "root:x:0:0".to_string()),
    ];
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd")
        && let Some(first) = passwd.lines().next()
    {
        secrets.push(("/etc/passwd".into(), first.to_string()));
    }
    for key in [
        "PATH",
        "HOME",
        "PWD",
        "CARGO_MANIFEST_DIR",
        "CARGO_HOME",
        "RUSTUP_HOME",
    ] {
        if let Ok(value) = std::env::var(key)
            && value.len() >= 6
        {
            secrets.push((format!("${key}"), value));
        }
    }
    if let Ok(dir) = std::env::current_dir() {
        secrets.push(("the working directory".into(), dir.display().to_string()));
    }
    secrets
}

#[track_caller]
fn assert_no_secret(secrets: &[(String, String)], output: &str, what: &str) {
    for (name, secret) in secrets {
        assert!(
            !output.contains(secret.as_str()),
            "{what}: {name} is in the output:\n{output}"
        );
    }
}

/// A refusal as TEMPLATE_INVALID at the part, with a place in it when the parser gives one.
#[track_caller]
fn assert_template_invalid(resp: &Value, part: &str, what: &str) {
    let errors = user_errors(resp, "saveEmailTemplateDraft");
    let error = errors
        .iter()
        .find(|e| e["code"] == "TEMPLATE_INVALID")
        .unwrap_or_else(|| panic!("{what}: TEMPLATE_INVALID:\n{}", pretty(resp)));
    assert_eq!(
        field_path(error),
        vec![part.to_string()],
        "{what}: {}",
        pretty(resp)
    );
    assert!(
        !str_of(&error["message"], "message").trim().is_empty(),
        "{what}: {}",
        pretty(resp)
    );
    assert_eq!(
        error["location"]["part"],
        part,
        "{what}: the location names the part:\n{}",
        pretty(resp)
    );
    assert!(
        error["location"]["line"].as_i64().is_some_and(|l| l >= 1),
        "{what}: the location has a line:\n{}",
        pretty(resp)
    );
}

#[tokio::test]
async fn a_marketing_template_reaches_nothing_but_its_data() {
    let server = SmtpServer::start().await;
    let url = server.url();
    let jwt_marker = format!("jwt-secret-marker-{}", std::process::id());
    let app = TestApp::spawn_with(move |config| {
        config.smtp_url = Some(url);
        config.jwt_secret = jwt_marker;
    })
    .await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .customer(json!({ "email": "sandy@example.test", "firstName": "Sandy" }))
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let note = "NOTE-MARKER-agents-only-7f3a";
    app.add_note(str_of(&order["customer"]["id"], "customer id"), note)
        .await;
    let secrets = secrets(&app, note);
    let mut tally = Tally::default();
    let mut saved = Vec::new();

    let base = json!({
        "subject": "Order {{order.number}}",
        "html": layout("<mj-section><mj-column><mj-text>Order {{order.number}}</mj-text></mj-column></mj-section>"),
        "text": "Order {{order.number}}\n",
    });
    for (part, source) in TEMPLATE_PAYLOADS {
        tally.tried += 1;
        let mut input = base.clone();
        input[part] = match part {
            "html" => json!(layout(&format!(
                "<mj-section><mj-column><mj-text>Order {{{{order.number}}}} {source}</mj-text></mj-column></mj-section>"
            ))),
            _ => json!(source),
        };
        let what = format!("{part} {source:?}");
        let resp = save_draft(&app, input.clone()).await;
        if payload(&resp, "saveEmailTemplateDraft")["template"].is_null() {
            tally.refused += 1;
            assert_template_invalid(&resp, part, &what);
            let message = user_errors(&resp, "saveEmailTemplateDraft")[0]["message"].to_string();
            assert_no_secret(&secrets, &message, &what);
        } else {
            println!("email_security: template sandbox: saved (renders its data only): {what}");
            saved.push((input, what));
        }
    }
    for query in QUERY_PAYLOADS {
        tally.tried += 1;
        let mut input = base.clone();
        input["dataQuery"] = json!(query);
        input["html"] = json!(layout(
            "<mj-section><mj-column><mj-text>Order {{order.number}} {{#each order}}{{@key}}={{this}}; {{/each}}</mj-text></mj-column></mj-section>"
        ));
        let what = format!("data query {query:?}");
        let resp = save_draft(&app, input.clone()).await;
        if payload(&resp, "saveEmailTemplateDraft")["template"].is_null() {
            tally.refused += 1;
            assert_template_invalid(&resp, "dataQuery", &what);
        } else {
            println!("email_security: template sandbox: saved (renders its data only): {what}");
            saved.push((input, what));
        }
    }

    // What was saved renders its declared data only: in previews (the sample and the real
    // order) and in the email the customer gets.
    for (input, what) in &saved {
        let draft = json!({
            "subject": input["subject"], "html": input["html"], "text": input["text"],
            "dataQuery": input.get("dataQuery").cloned().unwrap_or(Value::Null),
        });
        for target in [json!({}), json!({ "orderId": order["id"] })] {
            let mut request = target.clone();
            request["draft"] = draft.clone();
            let previewed = preview(&app, request).await;
            let output = previewed.to_string();
            assert_no_secret(&secrets, &output, &format!("preview of {what}"));
            if let Some(context) = previewed["context"].as_object() {
                for key in context.keys() {
                    assert!(
                        ["order", "brand"].contains(&key.as_str()),
                        "{what}: the preview's context is the declared data and the brand, not `{key}`"
                    );
                }
            }
        }
        publish(&app, input.clone()).await;
        let order = OrderBuilder::new()
            .customer(json!({ "email": "sandy@example.test" }))
            .line(seed::SHIRT, 1)
            .place_ok(&app)
            .await;
        let mail = mail_about(&server, str_of(&order["number"], "number")).await;
        assert_no_secret(&secrets, &mail.raw, &format!("the email of {what}"));
        tally.delivered += 1;
    }

    // The server is still up and renders the factory template.
    let resp = app.as_marketing("{ brand { name } }", json!({})).await;
    assert_eq!(expect_data(&resp)["brand"]["name"], "Touchpoint Store");
    tally.report("template sandbox (partials, helpers, context dumps, data queries)");
}

/// Whole template parts that include themselves, directly or through a layout's block or
/// inline partials: rendered, each would recurse until the stack ran out and the process
/// aborted (the draft is rendered against the sample when it is saved or previewed).
const RECURSION_PAYLOADS: [(&str, &str); 9] = [
    ("html", "{{#> email_html}}{{> html}}{{/email_html}}"),
    ("html", "{{#> email_html}}{{> email_html}}{{/email_html}}"),
    (
        "html",
        "{{#> email_html}}{{#each order.lines}}{{> email_html}}{{/each}}{{/email_html}}",
    ),
    ("html", "{{#> email_text}}{{> email_html}}{{/email_text}}"),
    (
        "html",
        "{{#*inline \"a\"}}{{> b}}{{/inline}}{{#*inline \"b\"}}{{> a}}{{/inline}}{{> a}}",
    ),
    (
        "html",
        "{{#*inline \"dump\"}}{{#each this}}{{@key}}={{> dump}}{{/each}}{{/inline}}{{> dump}}",
    ),
    ("text", "{{#> email_text}}{{> text}}{{/email_text}}"),
    ("text", "{{#> email_text}}{{> email_text}}{{/email_text}}"),
    ("subject", "{{order.number}} {{> subject}}"),
];

#[tokio::test]
async fn a_template_that_includes_itself_is_refused_and_the_server_stays_up() {
    let test = "email_security::a_template_that_includes_itself_is_refused_and_the_server_stays_up";
    if !crate::limits::in_isolated_process(test).await {
        return;
    }
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .customer_email("loop@example.test")
        .line(seed::SHIRT, 1)
        .place_ok(&app)
        .await;
    let mut tally = Tally::default();
    for (part, source) in RECURSION_PAYLOADS {
        tally.tried += 1;
        let what = format!("{part} {source:?}");
        let mut input = json!({
            "subject": "Order {{order.number}}",
            "html": layout("<mj-section><mj-column><mj-text>Order {{order.number}}</mj-text></mj-column></mj-section>"),
            "text": "Order {{order.number}}\n",
        });
        input[part] = json!(source);
        let resp = save_draft(&app, input.clone()).await;
        assert_template_invalid(&resp, part, &what);
        for target in [json!({}), json!({ "orderId": order["id"] })] {
            let mut request = target;
            request["draft"] = input.clone();
            let previewed = preview(&app, request).await;
            assert!(
                previewed["userErrors"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|e| e["code"] == "TEMPLATE_INVALID")),
                "{what}: the preview is refused too:\n{}",
                pretty(&previewed)
            );
        }
        tally.refused += 1;
    }
    let resp = app.as_marketing("{ brand { name } }", json!({})).await;
    assert_eq!(expect_data(&resp)["brand"]["name"], "Touchpoint Store");
    tally.report("templates that include themselves (saved and previewed twice each)");
}
