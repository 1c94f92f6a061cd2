//! Who may do what, table-driven so it is complete: every mutation of the schema with the roles
//! that may call it; every other role is FORBIDDEN, anonymous callers UNAUTHENTICATED, and
//! nothing changes. Marketing reads no customer, order, timeline or note; a service token's
//! `scope` limits what it may do, and no service token reads timelines, notes or message bodies;
//! marketing never reaches a customer's personal data through template data queries, previews or
//! test sends.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::fixtures::{
    LocationBuilder, OrderBuilder, ProductBuilder, at_hours, nodes, seed, shipments_of, str_of,
    tracking_number,
};
use crate::harness::{
    TestApp, assert_error_code, expect_data, expect_ok, pretty, top_level_errors,
};
use crate::ws::{WsClient, codes_of};

/// Who calls: anonymous or a token of one role (admins may do everything and are the control).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Customer,
    Agent,
    Marketing,
    Service,
}

use Caller::{Agent, Customer, Marketing, Service};

const CALLERS: [Caller; 5] = [Caller::Anonymous, Customer, Agent, Marketing, Service];

impl Caller {
    fn token(self, app: &TestApp, world: &World) -> Option<String> {
        match self {
            Caller::Anonymous => None,
            Customer => Some(app.customer_token(&world.customer)),
            Agent => Some(app.agent_token()),
            Marketing => Some(app.marketing_token()),
            Service => Some(app.service_token()),
        }
    }

    /// The refusal this caller gets for what its role may not do.
    fn refusal(self) -> &'static str {
        match self {
            Caller::Anonymous => "UNAUTHENTICATED",
            _ => "FORBIDDEN",
        }
    }
}

// ---------------------------------------------------------------------- the world

const CARRIER: &str = "PostNL";
const OWNER_EMAIL: &str = "owner@example.test";

/// Something of everything the mutations act on, all of one customer's.
struct World {
    /// The customer's global ID.
    customer: String,
    /// A WEB order of two shirts, delivered two hours ago, with one shirt's return requested.
    delivered: Value,
    delivered_tracking: String,
    /// A click-and-collect order of two shirts at ST-1 with a proposed substitution.
    collect: Value,
    return_id: Value,
    substitution_id: Value,
}

impl World {
    async fn build(app: &TestApp) -> World {
        app.seed_catalog().await;
        let placed = app
            .place_fulfilment(
                &OrderBuilder::new()
                    .customer_email(OWNER_EMAIL)
                    .line(seed::SHIRT, 2),
            )
            .await;
        let mut delivered_tracking = String::new();
        for shipment in shipments_of(&placed) {
            delivered_tracking = tracking_number();
            app.dispatch(&shipment["id"], CARRIER, &delivered_tracking)
                .await;
            app.track(CARRIER, &delivered_tracking, "DELIVERED", &at_hours(-2))
                .await;
        }
        let delivered = app.fulfilment_order(&placed["id"]).await;
        let customer = str_of(&delivered["customer"]["id"], "customer id").to_string();

        let resp = app
            .as_customer(
                &customer,
                "mutation($input: RequestReturnInput!) { requestReturn(input: $input) {
                    return { id } userErrors { field code message } } }",
                json!({ "input": {
                    "orderId": delivered["id"],
                    "lines": [{ "lineId": delivered["lines"][0]["id"], "quantity": 1, "reason": "Too small" }],
                    "method": "CARRIER",
                } }),
            )
            .await;
        let return_id = expect_ok(&resp, "requestReturn")["return"]["id"].clone();

        let collect = app
            .place_fulfilment(
                &OrderBuilder::new()
                    .customer_email(OWNER_EMAIL)
                    .collect_at(seed::STORE_A)
                    .line(seed::SHIRT, 2),
            )
            .await;
        let resp = app
            .as_service(
                "mutation($input: ProposeSubstitutionInput!) { proposeSubstitution(input: $input) {
                    substitution { id } userErrors { field code message } } }",
                json!({ "input": {
                    "orderLineId": collect["lines"][0]["id"],
                    "substituteSku": seed::TOTE,
                    "quantity": 1,
                } }),
            )
            .await;
        let substitution_id = expect_ok(&resp, "proposeSubstitution")["substitution"]["id"].clone();

        // A marketing draft, so a refused publish would have something to publish.
        let resp = app
            .as_marketing(
                "mutation($input: SaveEmailTemplateDraftInput!) { saveEmailTemplateDraft(input: $input) {
                    template { draft { version } } userErrors { field code message } } }",
                json!({ "input": template_draft("Draft {{order.number}}") }),
            )
            .await;
        assert_eq!(
            expect_ok(&resp, "saveEmailTemplateDraft")["template"]["draft"]["version"],
            2
        );

        World {
            customer,
            delivered,
            delivered_tracking,
            collect,
            return_id,
            substitution_id,
        }
    }

    fn collect_shipment(&self) -> Value {
        shipments_of(&self.collect)[0]["id"].clone()
    }
}

fn template_draft(subject: &str) -> Value {
    json!({
        "kind": "ORDER_CONFIRMATION",
        "locale": "en",
        "subject": subject,
        "html": "{{#> email_html}}<mj-section><mj-column><mj-text>Hello {{order.number}}</mj-text></mj-column></mj-section>{{/email_html}}",
        "text": "Hello {{order.number}}\n",
    })
}

/// Everything a refused mutation could have changed, as an admin reads it (in a few queries, each
/// within the complexity limit).
async fn snapshot(app: &TestApp, world: &World) -> Value {
    let read = |query: &'static str, variables: Value| async move {
        let resp = app.as_admin(query, variables).await;
        expect_data(&resp).clone()
    };
    let customers = read(
        "{ customers(first: 20) { totalCount edges { node {
            id email firstName lastName phone locale
            communicationPreferences { orderUpdatesByEmail } } } } }",
        json!({}),
    )
    .await;
    let mut per_customer = Vec::new();
    for customer in nodes(&customers["customers"]) {
        per_customer.push(
            read(
                "query($id: ID!) { customer(id: $id) {
                    notes(first: 20) { totalCount edges { node { id body } } }
                    orders(first: 20) { totalCount edges { node { id status version } } }
                    returns(first: 20) { totalCount edges { node { id status } } } } }",
                json!({ "id": customer["id"] }),
            )
            .await,
        );
    }
    let orders = read(
        "query($a: ID!, $b: ID!, $ret: ID!, $sub: ID!) {
            a: order(id: $a) { ...O }
            b: order(id: $b) { ...O }
            return(id: $ret) { id status closingReason refund { amount { amount } } }
            substitution(id: $sub) { id status }
        }
        fragment O on Order {
            id status version
            delivery { method address { name line1 city } }
            lines { id sku quantity quantityCancelled }
            shipments { id status carrier trackingNumber events { status occurredAt } }
            returns { id status }
            substitutions { id status }
        }",
        json!({
            "a": world.delivered["id"],
            "b": world.collect["id"],
            "ret": world.return_id,
            "sub": world.substitution_id,
        }),
    )
    .await;
    let catalogue = read(
        "query($skus: [String!]!) {
            availability(skus: $skus) { sku locations { location { code } onHand reserved } }
            products(skus: $skus) { sku name price { amount currencyCode } }
            locations { code name kind }
        }",
        json!({ "skus": [seed::SHIRT, seed::TOTE, "SKU-ROLES"] }),
    )
    .await;
    let communications = read(
        "{ emailTemplates { kind locale published { version } versions { version } }
           brand { name logoUrl primaryColor supportEmail supportPhone websiteUrl } }",
        json!({}),
    )
    .await;
    json!({
        "customers": customers,
        "perCustomer": per_customer,
        "orders": orders,
        "catalogue": catalogue,
        "communications": communications,
    })
}

// ---------------------------------------------------------------------- the table

/// A mutation, the roles (besides admin) that may call it, and an input that names the world's
/// objects (so a refusal that slipped through would change something).
struct MutationCase {
    name: &'static str,
    allowed: &'static [Caller],
    input: fn(&World) -> Value,
}

const MUTATIONS: &[MutationCase] = &[
    MutationCase {
        name: "addCustomerNote",
        allowed: &[Agent],
        input: |w| json!({ "customerId": w.customer, "body": "Should not be written" }),
    },
    MutationCase {
        name: "adjustStockLevel",
        allowed: &[Service],
        input: |_| json!({ "locationCode": seed::WAREHOUSE, "sku": seed::SHIRT, "delta": -10, "reason": "shrinkage" }),
    },
    MutationCase {
        name: "cancelOrder",
        allowed: &[Customer, Agent, Service],
        input: |w| json!({ "orderId": w.collect["id"], "reasonCode": "CUSTOMER_REQUEST", "reason": "Changed their mind" }),
    },
    MutationCase {
        name: "cancelOrderLines",
        allowed: &[Customer, Agent, Service],
        input: |w| {
            json!({
                "orderId": w.collect["id"],
                "lines": [{ "lineId": w.collect["lines"][0]["id"], "quantity": 1 }],
                "reasonCode": "CUSTOMER_REQUEST",
                "reason": "One is enough",
            })
        },
    },
    MutationCase {
        name: "cancelReturn",
        allowed: &[Customer, Agent],
        input: |w| json!({ "returnId": w.return_id, "reason": "Keeping it" }),
    },
    MutationCase {
        name: "changeShippingAddress",
        allowed: &[Customer, Agent],
        input: |w| {
            json!({
                "orderId": w.delivered["id"],
                "address": {
                    "name": "Mallory", "line1": "Elsewhere 1", "city": "Rotterdam",
                    "postalCode": "3011 AA", "countryCode": "NL",
                },
                "reason": "Asked by phone",
            })
        },
    },
    MutationCase {
        name: "issueRefund",
        allowed: &[Agent],
        input: |w| json!({ "returnId": w.return_id, "reason": "Goodwill" }),
    },
    MutationCase {
        name: "markReadyForCollection",
        allowed: &[Service],
        input: |w| json!({ "shipmentId": w.collect_shipment() }),
    },
    MutationCase {
        name: "placeOrder",
        allowed: &[Agent, Service],
        input: |_| {
            OrderBuilder::new()
                .channel("PHONE")
                .customer_email(OWNER_EMAIL)
                .line(seed::TOTE, 1)
                .input()
        },
    },
    MutationCase {
        name: "proposeSubstitution",
        allowed: &[Service],
        input: |w| json!({ "orderLineId": w.collect["lines"][0]["id"], "substituteSku": seed::TOTE, "quantity": 1 }),
    },
    MutationCase {
        name: "publishEmailTemplate",
        allowed: &[Marketing],
        input: |_| json!({ "kind": "ORDER_CONFIRMATION", "locale": "en", "version": 2 }),
    },
    MutationCase {
        name: "receiveReturn",
        allowed: &[Service],
        input: |w| json!({ "returnId": w.return_id, "locationCode": seed::WAREHOUSE, "restock": true }),
    },
    MutationCase {
        name: "recordTrackingEvent",
        allowed: &[Service],
        input: |w| {
            json!({
                "carrier": CARRIER, "trackingNumber": w.delivered_tracking,
                "status": "EXCEPTION", "occurredAt": at_hours(0), "eventId": "roles-1",
            })
        },
    },
    MutationCase {
        name: "rejectReturn",
        allowed: &[Agent, Service],
        input: |w| json!({ "returnId": w.return_id, "reason": "Worn" }),
    },
    MutationCase {
        name: "requestReturn",
        allowed: &[Customer, Agent, Service],
        input: |w| {
            json!({
                "orderId": w.delivered["id"],
                "lines": [{ "lineId": w.delivered["lines"][0]["id"], "quantity": 1, "reason": "Too big" }],
                "method": "CARRIER",
                "reason": "Asked by phone",
            })
        },
    },
    MutationCase {
        name: "respondToSubstitution",
        allowed: &[Customer, Agent],
        input: |w| json!({ "substitutionId": w.substitution_id, "accept": true, "reason": "Asked by phone" }),
    },
    MutationCase {
        name: "saveEmailTemplateDraft",
        allowed: &[Marketing],
        input: |_| template_draft("Hijacked {{order.number}}"),
    },
    MutationCase {
        name: "sendTestEmail",
        allowed: &[Marketing],
        input: |w| json!({ "kind": "ORDER_CONFIRMATION", "locale": "en", "to": "qa@example.test", "orderId": w.delivered["id"] }),
    },
    MutationCase {
        name: "setStockLevel",
        allowed: &[Service],
        input: |_| json!({ "locationCode": seed::WAREHOUSE, "sku": seed::SHIRT, "onHand": 0 }),
    },
    MutationCase {
        name: "updateBrand",
        allowed: &[Marketing],
        input: |_| json!({ "name": "Hijacked", "supportEmail": "phish@example.test" }),
    },
    MutationCase {
        name: "updateCustomer",
        allowed: &[Customer, Agent],
        input: |w| json!({ "customerId": w.customer, "firstName": "Mallory", "orderUpdatesByEmail": false }),
    },
    MutationCase {
        name: "updateShipmentStatus",
        allowed: &[Service],
        input: |w| json!({ "shipmentId": w.collect_shipment(), "status": "PICKING" }),
    },
    MutationCase {
        name: "upsertCustomer",
        allowed: &[Agent, Service],
        input: |_| json!({ "email": "newcomer@example.test", "firstName": "New" }),
    },
    MutationCase {
        name: "upsertLocation",
        allowed: &[Service],
        input: |_| LocationBuilder::warehouse("WH-ROLES").at(52.0, 5.0).input(),
    },
    MutationCase {
        name: "upsertProduct",
        allowed: &[Service],
        input: |_| ProductBuilder::new("SKU-ROLES").name("Roles tee").input(),
    },
];

/// Each mutation of the generated schema with the name of its input type.
fn schema_mutations() -> Vec<(String, String)> {
    let sdl = touchpoint::graphql::schema_sdl();
    let body = sdl
        .split("\ntype Mutation {\n")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("the schema has a Mutation type");
    let mut in_doc = false;
    let mut mutations = Vec::new();
    for line in body.lines().map(str::trim) {
        if line.starts_with("\"\"\"") {
            // A one-line description opens and closes on the same line.
            if !(line.len() > 3 && line.ends_with("\"\"\"")) {
                in_doc = !in_doc;
            }
            continue;
        }
        if in_doc || line.is_empty() {
            continue;
        }
        let (name, rest) = line
            .split_once('(')
            .unwrap_or_else(|| panic!("a mutation without arguments: {line}"));
        let input_type = rest
            .strip_prefix("input: ")
            .and_then(|r| r.split(['!', ')']).next())
            .unwrap_or_else(|| panic!("a mutation without an `input` argument: {line}"));
        mutations.push((name.to_string(), input_type.to_string()));
    }
    mutations
}

fn case(name: &str) -> &'static MutationCase {
    MUTATIONS
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the role table"))
}

fn mutation_document(name: &str, input_type: &str) -> String {
    format!("mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename }} }}")
}

#[test]
fn the_role_table_covers_every_mutation_of_the_schema() {
    let in_schema: BTreeSet<String> = schema_mutations().into_iter().map(|(n, _)| n).collect();
    let in_table: BTreeSet<String> = MUTATIONS.iter().map(|c| c.name.to_string()).collect();
    let missing: Vec<&String> = in_schema.difference(&in_table).collect();
    let stale: Vec<&String> = in_table.difference(&in_schema).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "the role table must list every mutation of the schema exactly: missing {missing:?}, not in the schema {stale:?}"
    );
    assert_eq!(in_table.len(), MUTATIONS.len(), "each mutation once");
    assert!(in_schema.len() >= 25, "{in_schema:?}");
}

#[tokio::test]
async fn every_mutation_refuses_the_roles_without_the_right_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let world = World::build(&app).await;
    let before = snapshot(&app, &world).await;

    let mut checked = 0;
    for (name, input_type) in schema_mutations() {
        let case = case(&name);
        let document = mutation_document(&name, &input_type);
        for caller in CALLERS {
            if case.allowed.contains(&caller) {
                continue;
            }
            let token = caller.token(&app, &world);
            let resp = app
                .gql(
                    token.as_deref(),
                    &document,
                    json!({ "input": (case.input)(&world) }),
                )
                .await;
            let errors = top_level_errors(&resp);
            assert!(
                !errors.is_empty()
                    && errors[0]["extensions"]["code"] == caller.refusal()
                    && (resp["data"].is_null() || resp["data"][&name].is_null()),
                "{name} as {caller:?} must be refused with {}:\n{}",
                caller.refusal(),
                pretty(&resp)
            );
            checked += 1;
        }
    }
    let after = snapshot(&app, &world).await;
    assert_eq!(
        before,
        after,
        "refused mutations changed something:\nbefore: {}\nafter: {}",
        pretty(&before),
        pretty(&after)
    );
    eprintln!(
        "roles: {checked} refused (mutation, caller) pairs checked over {} mutations × {} callers",
        MUTATIONS.len(),
        CALLERS.len()
    );

    // The control: the same inputs are well-formed and reach the service for an admin.
    for (name, input_type) in schema_mutations() {
        let resp = app
            .as_admin(
                &mutation_document(&name, &input_type),
                json!({ "input": (case(&name).input)(&world) }),
            )
            .await;
        assert!(
            top_level_errors(&resp).is_empty(),
            "{name} as an admin (the control) is not refused:\n{}",
            pretty(&resp)
        );
    }
}

// ---------------------------------------------------------------------- marketing reads

#[tokio::test]
async fn marketing_reads_no_customer_order_timeline_or_note() {
    let app = TestApp::spawn().await;
    let world = World::build(&app).await;
    let note = app
        .add_note(&world.customer, "Prefers phone calls, lives at Damrak 1")
        .await;
    let entries = app.agent_timeline(&world.customer).await;
    assert!(!entries.is_empty());
    let number = str_of(&world.delivered["number"], "order number").to_string();
    let rma = {
        let resp = app
            .as_agent(
                "query($id: ID!) { return(id: $id) { rmaNumber } }",
                json!({ "id": world.return_id }),
            )
            .await;
        str_of(&expect_data(&resp)["return"]["rmaNumber"], "rma").to_string()
    };

    // What names a customer or an order is FORBIDDEN; what the contract documents as "null
    // otherwise" (returns, shipments, substitutions) may read as null instead.
    let forbidden: Vec<(&str, &str, Value, bool)> = vec![
        (
            "customers",
            "{ customers(first: 10) { edges { node { email } } } }",
            json!({}),
            false,
        ),
        (
            "customer(id) with timeline and notes",
            "query($id: ID!) { customer(id: $id) { email phone
                timeline(first: 10) { edges { node { summary } } }
                notes(first: 10) { edges { node { body } } } } }",
            json!({ "id": world.customer }),
            false,
        ),
        (
            "customerByIdentity",
            "{ customerByIdentity(channel: WEB, externalId: \"x\") { email } }",
            json!({}),
            false,
        ),
        (
            "order(id) with its timeline",
            "query($id: ID!) { order(id: $id) { number customer { email }
                delivery { address { line1 } } timeline(first: 10) { edges { node { summary } } } } }",
            json!({ "id": world.delivered["id"] }),
            false,
        ),
        (
            "orderByNumber",
            "query($n: String!) { orderByNumber(number: $n) { customer { email } } }",
            json!({ "n": number }),
            false,
        ),
        (
            "orderByChannelRef",
            "query($r: String!) { orderByChannelRef(channel: WEB, channelOrderRef: $r) { customer { email } } }",
            json!({ "r": world.delivered_channel_ref(&app).await }),
            false,
        ),
        (
            "shipment(id)",
            "query($id: ID!) { shipment(id: $id) { order { customer { email } } } }",
            json!({ "id": shipments_of(&world.delivered)[0]["id"] }),
            true,
        ),
        (
            "shipments",
            "{ shipments(first: 10) { edges { node { order { customer { email } } } } } }",
            json!({}),
            false,
        ),
        (
            "return(id)",
            "query($id: ID!) { return(id: $id) { order { customer { email } } } }",
            json!({ "id": world.return_id }),
            true,
        ),
        (
            "returnByRma",
            "query($rma: String!) { returnByRma(rmaNumber: $rma) { order { customer { email } } } }",
            json!({ "rma": rma }),
            true,
        ),
        (
            "substitution(id)",
            "query($id: ID!) { substitution(id: $id) { line { id } } }",
            json!({ "id": world.substitution_id }),
            true,
        ),
    ];
    let marketing = app.marketing_token();
    for (what, query, variables, may_read_null) in &forbidden {
        let resp = app.gql(Some(&marketing), query, variables.clone()).await;
        let refused = top_level_errors(&resp)
            .first()
            .is_some_and(|e| e["extensions"]["code"] == "FORBIDDEN");
        let null = resp["data"]
            .as_object()
            .is_some_and(|d| d.values().all(Value::is_null));
        assert!(
            refused || (*may_read_null && null),
            "{what} as marketing is FORBIDDEN{}:\n{}",
            if *may_read_null { " or null" } else { "" },
            pretty(&resp)
        );
        assert_no_personal_data(&resp, what);
    }

    // By global ID: refused or null, never the object.
    let ids = [
        ("the customer", json!(world.customer)),
        ("the order", world.delivered["id"].clone()),
        ("the note", note["id"].clone()),
        ("a timeline entry", entries[0]["id"].clone()),
        ("the return", world.return_id.clone()),
    ];
    for (what, id) in &ids {
        let resp = app
            .gql(
                Some(&marketing),
                "query($id: ID!) { node(id: $id) { id __typename } }",
                json!({ "id": id }),
            )
            .await;
        let refused = top_level_errors(&resp)
            .first()
            .is_some_and(|e| e["extensions"]["code"] == "FORBIDDEN");
        assert!(
            refused || resp["data"]["node"].is_null(),
            "node({what}) as marketing is refused or null:\n{}",
            pretty(&resp)
        );
    }

    // Nor live: the timeline subscriptions refuse marketing.
    let mut ws = WsClient::connect(&app, Some(&marketing)).await;
    ws.subscribe(
        "customer",
        "subscription($id: ID!) { customerTimeline(customerId: $id) { summary } }",
        json!({ "id": world.customer }),
    )
    .await;
    ws.subscribe(
        "order",
        "subscription($id: ID!) { orderEvents(orderId: $id) { summary } }",
        json!({ "id": world.delivered["id"] }),
    )
    .await;
    for id in ["customer", "order"] {
        let errors = ws.expect_error(id, Duration::from_secs(5)).await;
        assert_eq!(codes_of(&errors), vec!["FORBIDDEN"], "{id}: {errors:?}");
    }
    ws.close().await;
    eprintln!(
        "roles: marketing refused {} customer/order reads, {} node reads, 2 subscriptions",
        forbidden.len(),
        ids.len()
    );
}

impl World {
    async fn delivered_channel_ref(&self, app: &TestApp) -> String {
        let resp = app
            .as_agent(
                "query($id: ID!) { order(id: $id) { channelOrderRef } }",
                json!({ "id": self.delivered["id"] }),
            )
            .await;
        str_of(&expect_data(&resp)["order"]["channelOrderRef"], "ref").to_string()
    }
}

#[track_caller]
fn assert_no_personal_data(resp: &Value, what: &str) {
    let text = resp["data"].to_string();
    for secret in [OWNER_EMAIL, "Damrak"] {
        assert!(
            !text.contains(secret),
            "{what}: {secret:?} in the data:\n{}",
            pretty(resp)
        );
    }
}

// ---------------------------------------------------------------------- service scopes

const SCOPES: [&str; 6] = [
    "catalog",
    "stock",
    "orders",
    "fulfilment",
    "tracking",
    "returns",
];

/// The scope each mutation a service may call needs.
const SERVICE_SCOPES: &[(&str, &str)] = &[
    ("upsertProduct", "catalog"),
    ("upsertLocation", "catalog"),
    ("setStockLevel", "stock"),
    ("adjustStockLevel", "stock"),
    ("placeOrder", "orders"),
    ("upsertCustomer", "orders"),
    ("cancelOrder", "orders"),
    ("cancelOrderLines", "orders"),
    ("updateShipmentStatus", "fulfilment"),
    ("markReadyForCollection", "fulfilment"),
    ("proposeSubstitution", "fulfilment"),
    ("recordTrackingEvent", "tracking"),
    ("requestReturn", "returns"),
    ("receiveReturn", "returns"),
    ("rejectReturn", "returns"),
];

fn service_token_with_scope(app: &TestApp, scope: Option<&str>) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": "pos-till-7",
        "role": "service",
        "iat": now,
        "exp": now + 3600,
        "iss": "touchpoint",
        "aud": "touchpoint-api",
    });
    if let Some(scope) = scope {
        claims["scope"] = json!(scope);
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(app.jwt_secret.as_bytes()),
    )
    .expect("sign a token")
}

#[test]
fn the_scope_table_covers_every_mutation_a_service_may_call() {
    let service: BTreeSet<&str> = MUTATIONS
        .iter()
        .filter(|c| c.allowed.contains(&Service))
        .map(|c| c.name)
        .collect();
    let scoped: BTreeSet<&str> = SERVICE_SCOPES.iter().map(|(m, _)| *m).collect();
    assert_eq!(service, scoped, "every service mutation has its scope");
    assert!(SERVICE_SCOPES.iter().all(|(_, s)| SCOPES.contains(s)));
}

#[tokio::test]
async fn a_tracking_only_service_token_cannot_place_orders_or_set_stock() {
    let app = TestApp::spawn().await;
    let world = World::build(&app).await;
    let tracking = service_token_with_scope(&app, Some("tracking"));
    let stock_before = app.stock_snapshot(&[seed::SHIRT, seed::TOTE]).await;
    let order = OrderBuilder::new().line(seed::SHIRT, 1);

    let resp = order.place_with(&app, Some(&tracking)).await;
    assert_error_code(&resp, "FORBIDDEN");
    assert_eq!(
        app.order_by_channel_ref(
            "WEB",
            order.input()["channelOrderRef"].as_str().unwrap(),
            None
        )
        .await,
        Value::Null,
        "no order was placed"
    );
    for name in ["setStockLevel", "adjustStockLevel"] {
        let resp = app
            .gql(
                Some(&tracking),
                &mutation_document(name, &format!("{}Input", capitalised(name))),
                json!({ "input": (case(name).input)(&world) }),
            )
            .await;
        assert_error_code(&resp, "FORBIDDEN");
    }
    assert_eq!(
        app.stock_snapshot(&[seed::SHIRT, seed::TOTE]).await,
        stock_before,
        "stock did not change"
    );

    // What it is for, it may do.
    let resp = app
        .gql(
            Some(&tracking),
            "mutation($input: RecordTrackingEventInput!) { recordTrackingEvent(input: $input) {
                shipment { status } userErrors { code } } }",
            json!({ "input": {
                "carrier": CARRIER, "trackingNumber": world.delivered_tracking,
                "status": "DELIVERED", "occurredAt": at_hours(-1), "eventId": "scope-ok",
            } }),
        )
        .await;
    expect_ok(&resp, "recordTrackingEvent");
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_scoped_service_token_may_call_only_the_mutations_of_its_scopes() {
    let app = TestApp::spawn().await;
    let world = World::build(&app).await;
    let before = snapshot(&app, &world).await;
    let inputs: std::collections::HashMap<String, String> =
        schema_mutations().into_iter().collect();
    let mut checked = 0;
    for scope in SCOPES {
        let token = service_token_with_scope(&app, Some(scope));
        for (name, needs) in SERVICE_SCOPES {
            if *needs == scope {
                continue;
            }
            let resp = app
                .gql(
                    Some(&token),
                    &mutation_document(name, &inputs[*name]),
                    json!({ "input": (case(name).input)(&world) }),
                )
                .await;
            let refused = top_level_errors(&resp)
                .first()
                .is_some_and(|e| e["extensions"]["code"] == "FORBIDDEN");
            assert!(
                refused,
                "{name} with a service token scoped to {scope:?} (it needs {needs:?}) is FORBIDDEN:\n{}",
                pretty(&resp)
            );
            checked += 1;
        }
    }
    assert_eq!(
        before,
        snapshot(&app, &world).await,
        "refused scoped calls changed nothing"
    );
    eprintln!(
        "roles: {checked} (scope, mutation) refusals checked over {} scopes × {} service mutations",
        SCOPES.len(),
        SERVICE_SCOPES.len()
    );
}

// ---------------------------------------------------------------------- services read no bodies

/// A service token of every kind: no scope, each scope, all scopes.
fn every_service_token(app: &TestApp) -> Vec<(String, String)> {
    let mut tokens = vec![
        ("no scope".to_string(), service_token_with_scope(app, None)),
        (
            "every scope".to_string(),
            service_token_with_scope(app, Some(&SCOPES.join(" "))),
        ),
    ];
    for scope in SCOPES {
        tokens.push((
            format!("scope {scope}"),
            service_token_with_scope(app, Some(scope)),
        ));
    }
    tokens
}

/// The world, an agent's note and the order confirmation sent (its body readable by an agent).
async fn world_with_note_and_email(app: &TestApp) -> (World, Value, Value) {
    let world = World::build(app).await;
    let note = app
        .add_note(&world.customer, "Called about a refund; lives at Damrak 1")
        .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let email = loop {
        let resp = app
            .as_agent(
                "query($id: ID!) { order(id: $id) { communications { id kind html text } } }",
                json!({ "id": world.delivered["id"] }),
            )
            .await;
        let sent = expect_data(&resp)["order"]["communications"]
            .as_array()
            .and_then(|list| list.iter().find(|c| c["html"].is_string()).cloned());
        if let Some(sent) = sent {
            break sent;
        }
        assert!(
            Instant::now() < deadline,
            "no communication for the order within 15 s: {}",
            pretty(&resp)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    (world, note, email)
}

#[tokio::test]
async fn no_service_token_reads_a_customers_timeline() {
    let app = TestApp::spawn().await;
    let (world, _, _) = world_with_note_and_email(&app).await;
    assert!(!app.agent_timeline(&world.customer).await.is_empty());
    for (what, token) in every_service_token(&app) {
        let resp = app
            .gql(
                Some(&token),
                "query($id: ID!) { customer(id: $id) { id timeline(first: 50) { totalCount edges { node { summary } } } } }",
                json!({ "id": world.customer }),
            )
            .await;
        let customer = &expect_data(&resp)["customer"];
        assert_eq!(customer["id"], json!(world.customer), "{what}: {resp}");
        assert!(
            customer["timeline"].is_null(),
            "a service token ({what}) reads no customer timeline:\n{}",
            pretty(&resp)
        );
    }
}

#[tokio::test]
async fn no_service_token_reads_an_orders_timeline() {
    let app = TestApp::spawn().await;
    let (world, _, _) = world_with_note_and_email(&app).await;
    let entries = app.agent_timeline(&world.customer).await;
    for (what, token) in every_service_token(&app) {
        let resp = app
            .gql(
                Some(&token),
                "query($id: ID!) { order(id: $id) { id timeline(first: 50) { totalCount edges { node { summary } } } } }",
                json!({ "id": world.delivered["id"] }),
            )
            .await;
        let order = &expect_data(&resp)["order"];
        assert_eq!(order["id"], world.delivered["id"], "{what}: {resp}");
        assert!(
            order["timeline"].is_null(),
            "a service token ({what}) reads no order timeline:\n{}",
            pretty(&resp)
        );
        for entry in &entries {
            let resp = app
                .gql(
                    Some(&token),
                    "query($id: ID!) { node(id: $id) { id } }",
                    json!({ "id": entry["id"] }),
                )
                .await;
            let refused = !top_level_errors(&resp).is_empty();
            assert!(
                refused || resp["data"]["node"].is_null(),
                "a service token ({what}) reads no timeline entry by id:\n{}",
                pretty(&resp)
            );
        }
        // Nor live.
        let mut ws = WsClient::connect(&app, Some(&token)).await;
        ws.subscribe(
            "order",
            "subscription($id: ID!) { orderEvents(orderId: $id) { summary } }",
            json!({ "id": world.delivered["id"] }),
        )
        .await;
        ws.subscribe(
            "customer",
            "subscription($id: ID!) { customerTimeline(customerId: $id) { summary } }",
            json!({ "id": world.customer }),
        )
        .await;
        for id in ["order", "customer"] {
            let errors = ws.expect_error(id, Duration::from_secs(5)).await;
            assert_eq!(
                codes_of(&errors),
                vec!["FORBIDDEN"],
                "{what} {id}: {errors:?}"
            );
        }
        ws.close().await;
    }
}

#[tokio::test]
async fn no_service_token_reads_notes() {
    let app = TestApp::spawn().await;
    let (world, note, _) = world_with_note_and_email(&app).await;
    for (what, token) in every_service_token(&app) {
        let resp = app
            .gql(
                Some(&token),
                "query($id: ID!) { customer(id: $id) { id notes(first: 50) { totalCount edges { node { body } } } } }",
                json!({ "id": world.customer }),
            )
            .await;
        let customer = &expect_data(&resp)["customer"];
        assert_eq!(customer["id"], json!(world.customer), "{what}: {resp}");
        assert!(
            customer["notes"].is_null(),
            "a service token ({what}) reads no notes:\n{}",
            pretty(&resp)
        );
        let resp = app
            .gql(
                Some(&token),
                "query($id: ID!) { node(id: $id) { id ... on CustomerNote { body } } }",
                json!({ "id": note["id"] }),
            )
            .await;
        assert!(
            !resp.to_string().contains("Called about a refund"),
            "a service token ({what}) reads no note by id:\n{}",
            pretty(&resp)
        );
    }
}

#[tokio::test]
async fn no_service_token_reads_message_bodies() {
    let app = TestApp::spawn().await;
    let (world, _, email) = world_with_note_and_email(&app).await;
    let body_fields = "id kind subject status html text";
    for (what, token) in every_service_token(&app) {
        let resp = app
            .gql(
                Some(&token),
                &format!(
                    "query($order: ID!, $customer: ID!, $id: ID!) {{
                        order(id: $order) {{ communications {{ {body_fields} }} }}
                        customer(id: $customer) {{ communications(first: 50) {{ edges {{ node {{ {body_fields} }} }} }} }}
                        node(id: $id) {{ ... on Communication {{ {body_fields} }} }}
                    }}"
                ),
                json!({ "order": world.delivered["id"], "customer": world.customer, "id": email["id"] }),
            )
            .await;
        let data = expect_data(&resp);
        let mut seen = data["order"]["communications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        seen.extend(nodes(&data["customer"]["communications"]));
        if data["node"].is_object() {
            seen.push(data["node"].clone());
        }
        assert!(
            seen.iter().any(|c| c["id"] == email["id"]),
            "a service ({what}) sees that the message exists (integrations do):\n{}",
            pretty(&resp)
        );
        for message in &seen {
            assert!(
                message["html"].is_null() && message["text"].is_null(),
                "a service token ({what}) reads no message body:\n{}",
                pretty(message)
            );
        }
    }
}

// ---------------------------------------------------------------------- marketing and personal data

const REAL_FIRST: &str = "Griselda";
const REAL_LAST: &str = "Vanderkamp";
const REAL_EMAIL: &str = "griselda.vanderkamp@example.test";
const REAL_PHONE: &str = "+31 6 5550 9876";
const REAL_LINE1: &str = "Prinsengracht 263";
const REAL_LINE2: &str = "Zolder 3";
const REAL_IDENTITY: &str = "web-account-4711";

/// Pieces of the real customer's personal data that must never reach marketing.
const SECRETS: [&str; 11] = [
    REAL_FIRST,
    REAL_LAST,
    REAL_EMAIL,
    "griselda",
    REAL_PHONE,
    "5550 9876",
    REAL_LINE1,
    REAL_LINE2,
    REAL_IDENTITY,
    "52.375217",
    "4.883988",
];

/// An order of the real customer, with the confirmation already sent to them.
async fn real_order(app: &TestApp) -> Value {
    app.seed_catalog().await;
    let order = OrderBuilder::new()
        .customer(json!({
            "email": REAL_EMAIL, "firstName": REAL_FIRST, "lastName": REAL_LAST, "phone": REAL_PHONE,
            "identity": { "channel": "WEB", "externalId": REAL_IDENTITY },
        }))
        .ship_to(json!({
            "name": format!("{REAL_FIRST} {REAL_LAST}"),
            "line1": REAL_LINE1,
            "line2": REAL_LINE2,
            "city": "Amsterdam",
            "postalCode": "1016 GV",
            "countryCode": "NL",
            "phone": REAL_PHONE,
            "location": { "latitude": 52.375_217, "longitude": 4.883_988 },
        }))
        .line(seed::SHIRT, 1)
        .place_ok(app)
        .await;
    // The customer's own confirmation, with their name and address in its body.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = app
            .as_agent(
                "query($id: ID!) { order(id: $id) { communications { status html } } }",
                json!({ "id": order["id"] }),
            )
            .await;
        let sent = expect_data(&resp)["order"]["communications"]
            .as_array()
            .is_some_and(|l| {
                l.iter()
                    .any(|c| c["html"].as_str().is_some_and(|h| h.contains(REAL_LINE1)))
            });
        if sent {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the confirmation with the address is there within 15 s: {}",
            pretty(&resp)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    order
}

/// Data queries that try to read the real customer's personal data past the masking, each with
/// a body that prints what it read.
fn prying_queries() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "aliased personal fields",
            "query Q($orderId: ID!) { order(id: $orderId) { number
                customer { given: firstName family: lastName mail: email tel: phone }
                delivery { address { who: name street: line1 more: line2 city tel: phone } } } }",
            "{{order.customer.given}} {{order.customer.family}} {{order.customer.mail}} {{order.customer.tel}}
             {{order.delivery.address.who}} {{order.delivery.address.street}} {{order.delivery.address.more}} {{order.delivery.address.tel}}",
        ),
        (
            "a named fragment",
            "query Q($orderId: ID!) { order(id: $orderId) { number customer { ...Who } delivery { address { ...Where } } } }
             fragment Who on Customer { firstName lastName email phone }
             fragment Where on Address { name line1 line2 phone }",
            "{{order.customer.firstName}} {{order.customer.email}} {{order.delivery.address.line1}}",
        ),
        (
            "aliases inside an inline fragment",
            "query Q($orderId: ID!) { order(id: $orderId) { number customer { ... on Customer { x: email y: lastName } } } }",
            "{{order.customer.x}} {{order.customer.y}}",
        ),
        (
            "aliases inside a named fragment",
            "query Q($orderId: ID!) { order(id: $orderId) { number customer { ...Who } } }
             fragment Who on Customer { x: email y: lastName }",
            "{{order.customer.x}} {{order.customer.y}}",
        ),
        (
            "the messages sent to the customer",
            "query Q($orderId: ID!) { order(id: $orderId) { number
                communications { to subject html text } } }",
            "{{#each order.communications}}{{to}} {{subject}} {{html}} {{text}}{{/each}}",
        ),
        (
            "the customer's messages",
            "query Q($orderId: ID!) { order(id: $orderId) { number
                customer { communications(first: 10) { edges { node { to subject html text } } } } } }",
            "{{#each order.customer.communications.edges}}{{node.to}} {{node.html}} {{node.text}}{{/each}}",
        ),
        (
            "the customer's other orders, aliased",
            "query Q($orderId: ID!) { order(id: $orderId) { number
                customer { orders(first: 10) { edges { node { delivery { address { a: line1 b: name } } } } } } } }",
            "{{#each order.customer.orders.edges}}{{node.delivery.address.a}} {{node.delivery.address.b}}{{/each}}",
        ),
        (
            "the order's timeline",
            "query Q($orderId: ID!) { order(id: $orderId) { number
                timeline(first: 50) { edges { node { summary reason communication { to html text } } } } } }",
            "{{#each order.timeline.edges}}{{node.summary}} {{#if node.communication}}{{node.communication.to}} {{node.communication.text}}{{/if}}{{/each}}",
        ),
        (
            "the address's name alone, and where it is",
            "query Q($orderId: ID!) { order(id: $orderId) { number
                delivery { address { name city location { latitude longitude } } } } }",
            "{{order.delivery.address.name}} {{#if order.delivery.address.location}}{{order.delivery.address.location.latitude}}{{/if}}",
        ),
        (
            "the customer's channel identities",
            "query Q($orderId: ID!) { order(id: $orderId) { number customer { identities { channel id: externalId } } } }",
            "{{#each order.customer.identities}}{{channel}} {{id}}{{/each}}",
        ),
        (
            "an aliased root",
            "query Q($orderId: ID!) { o: order(id: $orderId) { number c: customer { e: email } } }",
            "{{o.number}} {{o.c.e}}",
        ),
    ]
}

/// A draft that prints `body` in its html and text parts.
fn prying_draft(query: &str, body: &str) -> Value {
    json!({
        "subject": "Preview for {{brand.name}}",
        "html": format!("{{{{#> email_html}}}}<mj-section><mj-column><mj-text>{body}</mj-text></mj-column></mj-section>{{{{/email_html}}}}"),
        "text": format!("{body}\n"),
        "dataQuery": query,
    })
}

#[track_caller]
fn assert_nothing_personal(text: &str, what: &str) {
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{what}: {secret:?} reached marketing:\n{text}"
        );
    }
}

fn preview_query() -> &'static str {
    "query($input: PreviewEmailInput!) { previewEmail(input: $input) {
        email { subject html text } context userErrors { field code message } } }"
}

#[tokio::test]
async fn a_preview_never_shows_a_customers_personal_data_whatever_the_data_query_asks() {
    let app = TestApp::spawn().await;
    let order = real_order(&app).await;
    let number = str_of(&order["number"], "number").to_string();
    let marketing = app.marketing_token();
    let (mut tried, mut shown, mut refusals) = (0, 0, Vec::new());
    for (what, query, body) in prying_queries() {
        for target in [
            json!({ "orderId": order["id"] }),
            json!({ "orderNumber": number }),
        ] {
            let mut input =
                json!({ "kind": "ORDER_CONFIRMATION", "draft": prying_draft(query, body) });
            for (k, v) in target.as_object().unwrap() {
                input[k] = v.clone();
            }
            let resp = app
                .gql(Some(&marketing), preview_query(), json!({ "input": input }))
                .await;
            assert_nothing_personal(&resp.to_string(), &format!("preview with {what}"));
            let preview = &resp["data"]["previewEmail"];
            let rendered = preview["email"]["html"].is_string();
            let refused = preview["userErrors"][0]["code"] == "TEMPLATE_INVALID";
            assert!(
                rendered || refused,
                "preview with {what}: rendered (masked) or refused as TEMPLATE_INVALID:\n{}",
                pretty(&resp)
            );
            if rendered {
                shown += 1;
            } else {
                refusals.push(format!("{what}: {}", preview["userErrors"][0]["message"]));
            }
            tried += 1;
        }
    }
    eprintln!(
        "roles: {tried} prying previews tried ({shown} rendered masked, the rest refused: {refusals:?}), none showed personal data"
    );
}

#[tokio::test]
async fn a_saved_draft_cannot_carry_personal_data_into_a_test_send() {
    let app = TestApp::spawn().await;
    let order = real_order(&app).await;
    let marketing = app.marketing_token();
    let (mut tried, mut unsaved) = (0, Vec::new());
    for (what, query, body) in prying_queries() {
        let mut draft = prying_draft(query, body);
        draft["kind"] = json!("ORDER_CONFIRMATION");
        draft["locale"] = json!("en");
        let resp = app
            .gql(
                Some(&marketing),
                "mutation($input: SaveEmailTemplateDraftInput!) { saveEmailTemplateDraft(input: $input) {
                    template { draft { version } } userErrors { field code message } } }",
                json!({ "input": draft }),
            )
            .await;
        assert_nothing_personal(&resp.to_string(), &format!("saving {what}"));
        let saved = top_level_errors(&resp).is_empty()
            && resp["data"]["saveEmailTemplateDraft"]["userErrors"] == json!([]);
        if !saved {
            // Refused when saved: it can be sent nowhere.
            unsaved.push(what);
            continue;
        }
        let resp = app
            .gql(
                Some(&marketing),
                "mutation($input: SendTestEmailInput!) { sendTestEmail(input: $input) {
                    communication { id subject html text to } userErrors { field code message } } }",
                json!({ "input": {
                    "kind": "ORDER_CONFIRMATION", "locale": "en", "to": "qa@example.test",
                    "orderId": order["id"], "useDraft": true,
                } }),
            )
            .await;
        assert_nothing_personal(&resp.to_string(), &format!("a test send with {what}"));
        if let Some(id) = resp["data"]["sendTestEmail"]["communication"]["id"].as_str() {
            let read = app
                .gql(
                    Some(&marketing),
                    "query($id: ID!) { node(id: $id) { ... on Communication { subject html text } } }",
                    json!({ "id": id }),
                )
                .await;
            assert_nothing_personal(&read.to_string(), &format!("the test send of {what}"));
        }
        tried += 1;
    }
    for must in [
        "aliased personal fields",
        "the messages sent to the customer",
    ] {
        assert!(
            !unsaved.contains(&must),
            "the draft reading {must} saves (the sample has it), so its test send is tried"
        );
    }
    eprintln!(
        "roles: {tried} prying drafts saved and test-sent (refused when saved: {unsaved:?}), none carried personal data"
    );
}

#[tokio::test]
async fn a_data_query_reaches_no_other_customer() {
    let app = TestApp::spawn().await;
    let order = real_order(&app).await;
    // Another customer's order, with the real customer's order named in the preview.
    let other = OrderBuilder::new()
        .customer_email("neighbour@example.test")
        .line(seed::TOTE, 1)
        .place_ok(&app)
        .await;
    let other_id = str_of(&other["id"], "id").to_string();
    let queries = [
        format!("query Q {{ order(id: \"{other_id}\") {{ number customer {{ email }} }} }}"),
        "query Q($orderId: ID!) { order(id: $orderId) { number } node(id: $orderId) { id } }"
            .to_string(),
        "query Q($orderId: ID!) { order(id: $orderId) { number } customer(id: $orderId) { email } }"
            .to_string(),
        "query Q($orderId: ID!) { order(id: $orderId) { number } orderByNumber(number: \"TP-100001\") { customer { email } } }"
            .to_string(),
        "query Q($orderId: ID!) { order(id: $orderId) { number } customers(first: 50) { edges { node { email } } } }"
            .to_string(),
        "query Q($orderId: ID!) { order(id: $orderId) { number } __schema { types { name } } }"
            .to_string(),
        "query Q($orderId: ID!, $shipmentId: ID!) { order(id: $orderId) { number } shipment(id: $shipmentId) { order { customer { email } } } }"
            .to_string(),
    ];
    let marketing = app.marketing_token();
    for query in &queries {
        let mut draft = prying_draft(query, "{{brand.name}}");
        draft["kind"] = json!("ORDER_CONFIRMATION");
        let resp = app
            .gql(
                Some(&marketing),
                "mutation($input: SaveEmailTemplateDraftInput!) { saveEmailTemplateDraft(input: $input) {
                    template { draft { version } } userErrors { field code } } }",
                json!({ "input": draft }),
            )
            .await;
        let errors = &resp["data"]["saveEmailTemplateDraft"]["userErrors"];
        assert_eq!(
            errors[0]["code"],
            "TEMPLATE_INVALID",
            "a data query reaching past its order is refused when saved:\n{query}\n{}",
            pretty(&resp)
        );
        let resp = app
            .gql(
                Some(&marketing),
                preview_query(),
                json!({ "input": {
                    "kind": "ORDER_CONFIRMATION", "orderId": order["id"],
                    "draft": prying_draft(query, "{{brand.name}}"),
                } }),
            )
            .await;
        let text = resp.to_string();
        assert!(
            !text.contains("neighbour@example.test"),
            "{query}: another customer's email reached marketing:\n{}",
            pretty(&resp)
        );
        assert_nothing_personal(&text, query);
        assert!(
            resp["data"]["previewEmail"]["email"].is_null(),
            "{query}: the preview is refused:\n{}",
            pretty(&resp)
        );
    }
    eprintln!(
        "roles: {} data queries reaching past their order tried, all refused",
        queries.len()
    );
}
