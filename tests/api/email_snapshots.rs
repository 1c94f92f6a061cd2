//! Snapshots of every default email template (all twelve kinds) rendered against the built-in
//! sample through `previewEmail`: subject and text part in one snapshot, the HTML part in another.
//! The sample is the demo dataset in its own in-memory SQLite whatever the main database is, so
//! the same snapshots hold on SQLite and on PostgreSQL. Everything derived from "now" (dates,
//! timestamps) and from this server (its address) is redacted.
//!
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always cargo test --test api
//! email_snapshots` and read the diff of `tests/api/snapshots/`).

use serde_json::{Value, json};

use crate::harness::{TestApp, expect_data, pretty};

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

const PREVIEW: &str = "query($input: PreviewEmailInput!) { previewEmail(input: $input) {
    email { subject html text } userErrors { field code message location { part line column } } } }";

/// The published template of `kind` rendered against the sample, as marketing previews it.
async fn preview(app: &TestApp, kind: &str) -> Value {
    let resp = app
        .as_marketing(
            PREVIEW,
            json!({ "input": { "kind": kind, "locale": "en" } }),
        )
        .await;
    let preview = &expect_data(&resp)["previewEmail"];
    assert_eq!(
        preview["userErrors"],
        json!([]),
        "the default {kind} template renders against the sample:\n{}",
        pretty(&resp)
    );
    let email = preview["email"].clone();
    for part in ["subject", "html", "text"] {
        assert!(
            email[part].as_str().is_some_and(|s| !s.trim().is_empty()),
            "{kind}: the {part} part is not empty:\n{}",
            pretty(&resp)
        );
    }
    email
}

/// Redactions for what changes between runs: timestamps and dates (the sample is placed
/// relative to now), this server's address (port 0) and the random tokens in links.
fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?",
        "[timestamp]",
    );
    settings.add_filter(r"\b\d{4}-\d{2}-\d{2}\b", "[date]");
    settings.add_filter(r"https?://(127\.0\.0\.1|localhost|\[::1\]):\d+", "[server]");
    // Secrets minted per sample (return labels, tracking pages, open pixels).
    settings.add_filter(
        r"(/(?:returns/label|track|t/o)/)[A-Za-z0-9_-]{16,}",
        "${1}[token]",
    );
    settings
}

/// One kind: `<kind>.snap` (subject and text) and `<kind>_html.snap` (the HTML part).
async fn snapshot_kind(app: &TestApp, kind: &str) {
    let email = preview(app, kind).await;
    let subject = email["subject"].as_str().unwrap_or_default();
    let text = email["text"].as_str().unwrap_or_default();
    let html = email["html"].as_str().unwrap_or_default();
    let name = kind.to_lowercase();
    settings().bind(|| {
        insta::assert_snapshot!(
            name.clone(),
            format!("Subject: {subject}\n\n{text}"),
            &format!("{kind}: subject and text part")
        );
        // One element per line, so a change shows as a readable diff.
        insta::assert_snapshot!(
            format!("{name}_html"),
            html.replace("><", ">\n<"),
            &format!("{kind}: HTML part, a line break added between tags")
        );
    });
}

macro_rules! snapshot_tests {
    ($($test:ident => $kind:literal),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                let app = TestApp::spawn().await;
                snapshot_kind(&app, $kind).await;
            }
        )*

        /// Every kind of the contract has a snapshot test above.
        #[test]
        fn every_kind_has_a_snapshot() {
            let covered: Vec<&str> = vec![$($kind),*];
            assert_eq!(covered, KINDS.to_vec());
        }
    };
}

snapshot_tests! {
    order_confirmation => "ORDER_CONFIRMATION",
    order_modified => "ORDER_MODIFIED",
    order_cancelled => "ORDER_CANCELLED",
    shipment_dispatched => "SHIPMENT_DISPATCHED",
    shipment_delayed => "SHIPMENT_DELAYED",
    out_for_delivery => "OUT_FOR_DELIVERY",
    delivered => "DELIVERED",
    ready_for_collection => "READY_FOR_COLLECTION",
    substitution_proposed => "SUBSTITUTION_PROPOSED",
    return_requested => "RETURN_REQUESTED",
    return_received => "RETURN_RECEIVED",
    refund_issued => "REFUND_ISSUED",
}

/// Two previews of one kind on one server are the same message: nothing in a render depends on
/// the moment of the call beyond what the filters redact.
#[tokio::test]
async fn a_preview_renders_the_same_twice() {
    let app = TestApp::spawn().await;
    for kind in ["ORDER_CONFIRMATION", "SHIPMENT_DISPATCHED", "REFUND_ISSUED"] {
        let first = preview(&app, kind).await;
        let second = preview(&app, kind).await;
        assert_eq!(first, second, "{kind} renders the same twice");
    }
}
