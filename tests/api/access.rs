//! Object-level access: another customer's orders, lines, shipments, returns, substitutions,
//! communications, notes, customer record and timeline read, change and subscribe exactly like
//! objects that do not exist.
//!
//! Every case is asked twice with the same query: once naming Ada's object and once naming an
//! object of the same type that does not exist (a well-formed ID, order number, RMA number,
//! channel reference, identity or tracking number that names nothing). The two whole responses
//! must be equal, carry nothing of Ada's, and raise no INTERNAL error. Bob (another customer),
//! anonymous callers and marketing ask. A witness (Ada herself, an agent or marketing) first reads
//! each object through the same query, so no case passes because the query itself is broken.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::fixtures::{
    OrderBuilder, USER_ERRORS, at_hours, nodes, seed, shipments_of, str_of, tracking_number,
};
use crate::harness::{TestApp, assert_not_internal, expect_data, expect_ok, pretty};
use crate::ws::WsClient;

const CARRIER: &str = "PostNL";
const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------- selections

const ORDER_SEL: &str = "id number channel channelOrderRef status version placedAt isDelayed
    customer { id email firstName lastName }
    delivery { method address { name line1 city } }
    lines { id sku name quantity quantityCancelled cancellableQuantity }
    totals { total { amount currencyCode } }
    shipments { id status trackingNumber }
    returns { id rmaNumber status }
    substitutions { id status }
    communications { id kind subject to }
    timeline(first: 20) { totalCount edges { node { id kind summary } } }
    allowedActions { cancel { allowed code } requestReturn { allowed code } }
    returnableLines { quantityReturnable line { id } }
    routing { strategy }";

const SHIPMENT_SEL: &str = "id status carrier trackingNumber trackingUrl dispatchedAt deliveredAt
    location { code } lines { quantity line { id sku } } events { status occurredAt }
    order { id number customer { email } }";

const RETURN_SEL: &str = "id rmaNumber status channel method createdAt labelUrl
    lines { quantity reason line { id sku } } refund { amount { amount } status }
    returnLocation { code } order { id number customer { email } }";

const COMMUNICATION_SEL: &str = "id kind to subject html text status isTest order { id number }";

const SUBSTITUTION_SEL: &str = "id status quantity substituteSku substituteName line { id sku }";

const LINE_SEL: &str = "id sku name quantity unitPrice { amount }";

const CUSTOMER_SEL: &str = "id email firstName lastName identities { channel externalId }
    communicationPreferences { orderUpdatesByEmail }
    orders(first: 10) { totalCount edges { cursor node { id number } } }
    returns(first: 10) { totalCount edges { node { id rmaNumber } } }
    communications(first: 10) { totalCount edges { node { id subject } } }
    timeline(first: 20) { totalCount edges { node { id kind } } }
    notes(first: 10) { totalCount edges { node { id body } } }";

const NOTE_SEL: &str = "id body author createdAt";

const ENTRY_SEL: &str = "id kind cursor summary reason actor { role id } order { id number }
    shipment { id trackingNumber } return { id rmaNumber } communication { id subject }";

/// How the seeding reads each order back (as an agent).
const ORDER_READ: &str = "id number channelOrderRef status version customer { id }
    lines { id sku quantity }
    shipments { id status trackingNumber location { code } }
    returns { id rmaNumber status }
    substitutions { id status }
    communications { id kind status subject }";

/// What must not change when someone else tries to change it (read as an agent).
const SNAPSHOT_SEL: &str = "id status version
    delivery { method address { name line1 city postalCode } }
    lines { id quantity quantityCancelled quantityDispatched quantityReturned }
    shipments { id status carrier trackingNumber lines { quantity line { id } } }
    returns { id status closingReason refund { status } }
    substitutions { id status respondedAt }
    communications { id kind status }";

/// An ID of `type_name` that is well formed and names nothing.
fn missing_id(type_name: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{type_name}:987654321"))
}

// ---------------------------------------------------------------------- the two customers

struct Persona {
    first: &'static str,
    last: &'static str,
    email: &'static str,
    external_id: &'static str,
    street: &'static str,
    note: &'static str,
}

const ADA: Persona = Persona {
    first: "Ada Marie",
    last: "Lovelace Ames",
    email: "ada.marie@example.test",
    external_id: "app-ada-7731",
    street: "Adastraat 11",
    note: "Ada prefers calls after six",
};

const BOB: Persona = Persona {
    first: "Bob Olav",
    last: "Brink Berg",
    email: "bob.olav@example.test",
    external_id: "app-bob-4410",
    street: "Bobweg 22",
    note: "Bob asked for gift wrapping",
};

/// One customer and everything of theirs: a delivered order (two shipments' worth of lines,
/// dispatched with tracking) with a requested return, an open order nothing has left, a
/// click-and-collect order with a proposed substitution, a note, the emails all of that sent and
/// the timeline entries it wrote.
struct Party {
    customer: String,
    email: String,
    external_id: String,
    /// Personal data and references that must not reach another caller.
    secrets: Vec<String>,
    delivered: Value,
    open: Value,
    collect: Value,
    ret: Value,
    substitution: Value,
    note: Value,
    communications: Vec<Value>,
    entries: Vec<Value>,
}

impl Party {
    fn token(&self, app: &TestApp) -> String {
        app.customer_token(&self.customer)
    }

    fn orders(&self) -> [&Value; 3] {
        [&self.delivered, &self.open, &self.collect]
    }

    fn order_ids(&self) -> Vec<Value> {
        self.orders().iter().map(|o| o["id"].clone()).collect()
    }

    fn lines(&self) -> Vec<Value> {
        self.orders()
            .iter()
            .flat_map(|o| o["lines"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    fn shipments(&self) -> Vec<Value> {
        self.orders().iter().flat_map(|o| shipments_of(o)).collect()
    }

    fn line(&self, order: &Value, sku: &str) -> Value {
        order["lines"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["sku"] == sku))
            .map(|l| l["id"].clone())
            .unwrap_or_else(|| panic!("no {sku} line:\n{}", pretty(order)))
    }

    /// One object of each type, by type name: (type, ID).
    fn one_of_each(&self) -> [(&'static str, Value); 7] {
        [
            ("Order", self.open["id"].clone()),
            ("OrderLine", self.open["lines"][0]["id"].clone()),
            ("Shipment", shipments_of(&self.delivered)[0]["id"].clone()),
            ("Return", self.ret["id"].clone()),
            ("Substitution", self.substitution["id"].clone()),
            ("Communication", self.communications[0]["id"].clone()),
            ("Customer", json!(self.customer)),
        ]
    }

    /// Every global ID of this customer's objects.
    fn ids(&self) -> BTreeSet<String> {
        let mut ids = BTreeSet::from([self.customer.clone()]);
        let mut add = |v: &Value| {
            if let Some(s) = v.as_str() {
                ids.insert(s.to_string());
            }
        };
        for order in self.orders() {
            add(&order["id"]);
        }
        for line in self.lines() {
            add(&line["id"]);
        }
        for shipment in self.shipments() {
            add(&shipment["id"]);
        }
        add(&self.ret["id"]);
        add(&self.substitution["id"]);
        add(&self.note["id"]);
        for c in &self.communications {
            add(&c["id"]);
        }
        for e in &self.entries {
            add(&e["id"]);
        }
        ids
    }
}

fn request_return_mutation() -> String {
    format!(
        "mutation($input: RequestReturnInput!) {{ requestReturn(input: $input) {{
            return {{ id rmaNumber status }} {USER_ERRORS} }} }}"
    )
}

fn propose_substitution_mutation() -> String {
    format!(
        "mutation($input: ProposeSubstitutionInput!) {{ proposeSubstitution(input: $input) {{
            substitution {{ id status }} {USER_ERRORS} }} }}"
    )
}

/// Places and moves everything of `p`'s (see `Party`); the orders are read back by `finish`.
async fn seed_party(app: &TestApp, p: &Persona) -> Party {
    let customer = json!({
        "email": p.email, "firstName": p.first, "lastName": p.last,
        "identity": { "channel": "APP", "externalId": p.external_id },
    });
    let address = json!({
        "name": format!("{} {}", p.first, p.last), "line1": p.street, "city": "Amsterdam",
        "postalCode": "1012 LG", "countryCode": "NL",
        "location": { "latitude": 52.376, "longitude": 4.895 },
    });

    let delivered = app
        .place_fulfilment(
            &OrderBuilder::new()
                .customer(customer.clone())
                .ship_to(address.clone())
                .line(seed::SHIRT, 2)
                .line(seed::TOTE, 1),
        )
        .await;
    for shipment in shipments_of(&delivered) {
        let number = tracking_number();
        app.dispatch(&shipment["id"], CARRIER, &number).await;
        app.track(CARRIER, &number, "DELIVERED", &at_hours(-2))
            .await;
    }
    let customer_id = str_of(&delivered["customer"]["id"], "customer id").to_string();
    let token = app.customer_token(&customer_id);
    let shirt = delivered["lines"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["sku"] == seed::SHIRT))
        .map(|l| l["id"].clone())
        .expect("a shirt line");
    let resp = app
        .gql(
            Some(&token),
            &request_return_mutation(),
            json!({ "input": {
                "orderId": delivered["id"], "method": "IN_STORE", "returnLocationCode": seed::STORE_A,
                "lines": [{ "lineId": shirt, "quantity": 1, "reason": "Too small" }],
            } }),
        )
        .await;
    let ret = expect_ok(&resp, "requestReturn")["return"].clone();
    assert_eq!(ret["status"], "REQUESTED", "{}", pretty(&resp));

    let open = OrderBuilder::new()
        .customer(customer.clone())
        .ship_to(address.clone())
        .line(seed::TOTE, 1)
        .place_ok(app)
        .await;

    let collect = OrderBuilder::new()
        .customer(customer.clone())
        .collect_at(seed::STORE_A)
        .line(seed::SHIRT, 1)
        .place_ok(app)
        .await;
    let resp = app
        .as_service(
            &propose_substitution_mutation(),
            json!({ "input": {
                "orderLineId": collect["lines"][0]["id"], "substituteSku": seed::TOTE,
                "substituteName": "Canvas tote", "quantity": 1,
            } }),
        )
        .await;
    let substitution = expect_ok(&resp, "proposeSubstitution")["substitution"].clone();
    assert_eq!(substitution["status"], "PROPOSED", "{}", pretty(&resp));

    let note = app.add_note(&customer_id, p.note).await;

    Party {
        customer: customer_id,
        email: p.email.to_string(),
        external_id: p.external_id.to_string(),
        secrets: vec![
            p.email.to_string(),
            p.first.to_string(),
            p.last.to_string(),
            p.street.to_string(),
            p.external_id.to_string(),
            p.note.to_string(),
        ],
        delivered,
        open,
        collect,
        ret,
        substitution,
        note,
        communications: Vec::new(),
        entries: Vec::new(),
    }
}

/// `order(id)` as an agent reads it with `selection`.
async fn agent_order(app: &TestApp, id: &Value, selection: &str) -> Value {
    let resp = app
        .as_agent(
            &format!("query($id: ID!) {{ order(id: $id) {{ {selection} }} }}"),
            json!({ "id": id }),
        )
        .await;
    let order = expect_data(&resp)["order"].clone();
    assert!(order.is_object(), "an agent reads {id}: {}", pretty(&resp));
    order
}

/// Waits until the outbox has settled: every order has its confirmation, the delivered orders
/// their dispatch email and the collect orders their substitution email, nothing is queued or
/// retrying, and two reads 700 ms apart agree.
async fn settle_mail(app: &TestApp, parties: &[&Party]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut previous: Option<Vec<Value>> = None;
    loop {
        let mut seen = Vec::new();
        let mut complete = true;
        for party in parties {
            for (order, needs) in [
                (
                    &party.delivered,
                    &["ORDER_CONFIRMATION", "SHIPMENT_DISPATCHED"][..],
                ),
                (&party.open, &["ORDER_CONFIRMATION"][..]),
                (
                    &party.collect,
                    &["ORDER_CONFIRMATION", "SUBSTITUTION_PROPOSED"][..],
                ),
            ] {
                let read =
                    agent_order(app, &order["id"], "communications { id kind status }").await;
                let list = read["communications"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                complete &= needs.iter().all(|k| list.iter().any(|c| c["kind"] == *k));
                complete &= list.iter().all(|c| {
                    ["SENT", "SUPPRESSED", "FAILED"]
                        .iter()
                        .any(|s| c["status"] == *s)
                });
                seen.extend(list);
            }
        }
        if complete && previous.as_ref() == Some(&seen) {
            return;
        }
        previous = complete.then_some(seen);
        assert!(
            Instant::now() < deadline,
            "the outbox did not settle within 30 s: {}",
            pretty(&json!(previous))
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

/// Reads the orders back (as an agent), with the communications and timeline entries.
async fn finish(app: &TestApp, party: &mut Party) {
    party.delivered = agent_order(app, &party.delivered["id"], ORDER_READ).await;
    party.open = agent_order(app, &party.open["id"], ORDER_READ).await;
    party.collect = agent_order(app, &party.collect["id"], ORDER_READ).await;
    assert_eq!(
        party.delivered["status"],
        "DELIVERED",
        "{}",
        pretty(&party.delivered)
    );
    party.ret["rmaNumber"] = party.delivered["returns"][0]["rmaNumber"].clone();
    party.communications = party
        .orders()
        .iter()
        .flat_map(|o| o["communications"].as_array().cloned().unwrap_or_default())
        .collect();
    let resp = app
        .as_agent(
            "query($id: ID!) { customer(id: $id) { timeline(first: 100) {
                edges { node { id kind cursor order { id } } } } } }",
            json!({ "id": party.customer }),
        )
        .await;
    party.entries = nodes(&expect_data(&resp)["customer"]["timeline"]);
    let references: Vec<String> = party
        .orders()
        .iter()
        .flat_map(|o| ["number", "channelOrderRef"].map(|k| str_of(&o[k], k).to_string()))
        .collect();
    party.secrets.extend(references);
    party
        .secrets
        .push(str_of(&party.ret["rmaNumber"], "rma").to_string());
    for shipment in party.shipments() {
        if let Some(number) = shipment["trackingNumber"].as_str() {
            party.secrets.push(number.to_string());
        }
    }
    for c in &party.communications {
        party
            .secrets
            .push(str_of(&c["subject"], "subject").to_string());
    }
}

/// Ada and Bob, everything seeded and every email sent.
async fn two_parties(app: &TestApp) -> (Party, Party) {
    app.seed_catalog().await;
    for sku in [seed::SHIRT, seed::TOTE] {
        app.set_stock(seed::STORE_A, sku, 40).await;
    }
    let mut ada = seed_party(app, &ADA).await;
    let mut bob = seed_party(app, &BOB).await;
    settle_mail(app, &[&ada, &bob]).await;
    finish(app, &mut ada).await;
    finish(app, &mut bob).await;
    assert!(
        ada.communications.len() >= 5,
        "Ada's emails: {}",
        pretty(&json!(ada.communications))
    );
    let kinds: BTreeSet<&str> = ada
        .entries
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in [
        "ORDER_PLACED",
        "SHIPMENT_UPDATED",
        "RETURN_REQUESTED",
        "SUBSTITUTION_PROPOSED",
        "EMAIL_SENT",
        "NOTE_ADDED",
    ] {
        assert!(kinds.contains(kind), "Ada's timeline has {kind}: {kinds:?}");
    }
    (ada, bob)
}

// ---------------------------------------------------------------------- the comparison

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// Another customer (Bob).
    Customer,
    Anonymous,
    Marketing,
}

const EVERYONE: &[Caller] = &[Caller::Customer, Caller::Anonymous, Caller::Marketing];
const NOT_MARKETING: &[Caller] = &[Caller::Customer, Caller::Anonymous];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Witness {
    /// Ada herself reads it.
    Owner,
    /// An agent reads it (notes, staff-only entries).
    Agent,
    /// Marketing reads it (email previews against real orders).
    Marketing,
    /// A change: nobody is asked to make it.
    Nobody,
}

/// One case: the same operation naming Ada's object and naming nothing.
struct Case {
    object: &'static str,
    path: String,
    /// The root field (query or mutation) whose value the witness must read.
    root: &'static str,
    query: String,
    owned: Value,
    missing: Value,
    witness: Witness,
    callers: &'static [Caller],
}

impl Case {
    fn new(
        object: &'static str,
        root: &'static str,
        query: String,
        owned: Value,
        missing: Value,
    ) -> Case {
        Case {
            object,
            path: root.to_string(),
            root,
            query,
            owned,
            missing,
            witness: Witness::Owner,
            callers: EVERYONE,
        }
    }

    fn path(mut self, path: impl Into<String>) -> Case {
        self.path = path.into();
        self
    }

    fn witness(mut self, witness: Witness) -> Case {
        self.witness = witness;
        self
    }

    fn callers(mut self, callers: &'static [Caller]) -> Case {
        self.callers = callers;
        self
    }
}

/// Every string value anywhere in `value`.
fn strings(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// What of `party` a response shows: their IDs (as whole values) and their secrets (anywhere).
fn traces_of(resp: &Value, party: &Party) -> Vec<String> {
    let mut values = BTreeSet::new();
    strings(resp, &mut values);
    let ids = party.ids();
    let text = resp.to_string();
    let mut found: Vec<String> = values.intersection(&ids).cloned().collect();
    found.extend(
        party
            .secrets
            .iter()
            .filter(|s| text.contains(s.as_str()))
            .cloned(),
    );
    found
}

struct Checker<'a> {
    app: &'a TestApp,
    victim: &'a Party,
    attacker: String,
    marketing: String,
    cases: usize,
    leaks: Vec<String>,
}

impl<'a> Checker<'a> {
    fn new(app: &'a TestApp, victim: &'a Party, attacker: &Party) -> Checker<'a> {
        Checker {
            app,
            victim,
            attacker: attacker.token(app),
            marketing: app.marketing_token(),
            cases: 0,
            leaks: Vec::new(),
        }
    }

    fn token(&self, caller: Caller) -> Option<String> {
        match caller {
            Caller::Customer => Some(self.attacker.clone()),
            Caller::Anonymous => None,
            Caller::Marketing => Some(self.marketing.clone()),
        }
    }

    /// The witness reads the object through the case's own query.
    async fn witness(&self, case: &Case) {
        let token = match case.witness {
            Witness::Owner => self.victim.token(self.app),
            Witness::Agent => self.app.agent_token(),
            Witness::Marketing => self.marketing.clone(),
            Witness::Nobody => return,
        };
        let resp = self
            .app
            .gql(Some(&token), &case.query, case.owned.clone())
            .await;
        let value = &expect_data(&resp)[case.root];
        assert!(
            value.is_object(),
            "{} via {}: the witness ({:?}) reads it, so the query is sound:\n{}",
            case.object,
            case.path,
            case.witness,
            pretty(&resp)
        );
        if case.root == "previewEmail" {
            assert!(value["email"].is_object(), "{}", pretty(&resp));
        }
    }

    async fn check(&mut self, case: &Case) {
        self.witness(case).await;
        for &caller in case.callers {
            let token = self.token(caller);
            let owned = post(self.app, token.as_deref(), &case.query, &case.owned).await;
            let missing = post(self.app, token.as_deref(), &case.query, &case.missing).await;
            self.cases += 1;
            assert_not_internal(&owned.1);
            assert_not_internal(&missing.1);
            let what = format!("{} via {} as {caller:?}", case.object, case.path);
            if owned != missing {
                self.leaks.push(format!(
                    "{what}: another customer's object answers HTTP {}\n{}\nwhere a missing one answers HTTP {}\n{}",
                    owned.0,
                    pretty(&owned.1),
                    missing.0,
                    pretty(&missing.1)
                ));
            }
            let traces = traces_of(&owned.1, self.victim);
            if !traces.is_empty() {
                self.leaks.push(format!(
                    "{what}: the answer shows {traces:?}:\n{}",
                    pretty(&owned.1)
                ));
            }
        }
    }

    #[track_caller]
    fn report(&self, what: &str) {
        eprintln!(
            "access: {what}: {} (object, path, caller) cases compared",
            self.cases
        );
        assert!(
            self.leaks.is_empty(),
            "{} of {} cases tell another customer's object from a missing one:\n\n{}",
            self.leaks.len(),
            self.cases,
            self.leaks.join("\n\n")
        );
    }
}

/// POST /graphql: the HTTP status and the whole body.
async fn post(app: &TestApp, token: Option<&str>, query: &str, variables: &Value) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST /graphql");
    let status = response.status().as_u16();
    let text = response.text().await.expect("read the body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| {
        panic!("POST /graphql answered {status} with a body that is not JSON:\n{text}")
    });
    (status, body)
}

fn by_id(object: &'static str, root: &'static str, selection: &str, owned: &Value) -> Case {
    Case::new(
        object,
        root,
        format!("query($id: ID!) {{ {root}(id: $id) {{ {selection} }} }}"),
        json!({ "id": owned }),
        json!({ "id": missing_id(object) }),
    )
    .path(format!("{root}(id:)"))
}

fn by_node(object: &'static str, selection: &str, owned: &Value) -> Case {
    Case::new(
        object,
        "node",
        format!("query($id: ID!) {{ node(id: $id) {{ id ... on {object} {{ {selection} }} }} }}"),
        json!({ "id": owned }),
        json!({ "id": missing_id(object) }),
    )
    .path("node(id:)")
}

fn by_text(
    object: &'static str,
    root: &'static str,
    call: &str,
    selection: &str,
    owned: &Value,
    missing: &str,
) -> Case {
    Case::new(
        object,
        root,
        format!("query($v: String!) {{ {root}({call}) {{ {selection} }} }}"),
        json!({ "v": owned }),
        json!({ "v": missing }),
    )
    .path(format!("{root}({call})"))
}

fn preview(object: &'static str, key: &'static str, owned: &Value, missing: Value) -> Case {
    let query = format!(
        "query($input: PreviewEmailInput!) {{ previewEmail(input: $input) {{
            email {{ subject html text }} context {USER_ERRORS} }} }}"
    );
    let kind = match object {
        "Return" => "RETURN_REQUESTED",
        "Substitution" => "SUBSTITUTION_PROPOSED",
        "Shipment" => "SHIPMENT_DISPATCHED",
        _ => "ORDER_CONFIRMATION",
    };
    Case::new(
        object,
        "previewEmail",
        query,
        json!({ "input": { "kind": kind, key: owned } }),
        json!({ "input": { "kind": kind, key: missing } }),
    )
    .path(format!("previewEmail(input: {{ {key} }})"))
    .witness(Witness::Marketing)
    .callers(NOT_MARKETING)
}

/// Every read of Ada's objects: the root fields, `node(id:)` and the email preview.
fn reads(ada: &Party) -> Vec<Case> {
    let mut cases = Vec::new();
    for order in ada.orders() {
        cases.push(by_id("Order", "order", ORDER_SEL, &order["id"]));
        cases.push(by_node("Order", ORDER_SEL, &order["id"]));
        cases.push(by_text(
            "Order",
            "orderByNumber",
            "number: $v",
            ORDER_SEL,
            &order["number"],
            "TP-987654321",
        ));
        cases.push(by_text(
            "Order",
            "orderByChannelRef",
            "channel: WEB, channelOrderRef: $v",
            ORDER_SEL,
            &order["channelOrderRef"],
            "REF-987654321",
        ));
        cases.push(preview(
            "Order",
            "orderId",
            &order["id"],
            json!(missing_id("Order")),
        ));
        cases.push(preview(
            "Order",
            "orderNumber",
            &order["number"],
            json!("TP-987654321"),
        ));
    }
    for line in ada.lines() {
        cases.push(by_node("OrderLine", LINE_SEL, &line["id"]));
    }
    for shipment in ada.shipments() {
        cases.push(by_id("Shipment", "shipment", SHIPMENT_SEL, &shipment["id"]));
        cases.push(by_node("Shipment", SHIPMENT_SEL, &shipment["id"]));
    }
    let dispatched = &shipments_of(&ada.delivered)[0]["id"];
    cases.push(preview(
        "Shipment",
        "shipmentId",
        dispatched,
        json!(missing_id("Shipment")),
    ));
    cases.push(by_id("Return", "return", RETURN_SEL, &ada.ret["id"]));
    cases.push(by_node("Return", RETURN_SEL, &ada.ret["id"]));
    cases.push(by_text(
        "Return",
        "returnByRma",
        "rmaNumber: $v",
        RETURN_SEL,
        &ada.ret["rmaNumber"],
        "RMA-987654321-1",
    ));
    cases.push(preview(
        "Return",
        "returnId",
        &ada.ret["id"],
        json!(missing_id("Return")),
    ));
    cases.push(by_id(
        "Substitution",
        "substitution",
        SUBSTITUTION_SEL,
        &ada.substitution["id"],
    ));
    cases.push(by_node(
        "Substitution",
        SUBSTITUTION_SEL,
        &ada.substitution["id"],
    ));
    cases.push(preview(
        "Substitution",
        "substitutionId",
        &ada.substitution["id"],
        json!(missing_id("Substitution")),
    ));
    for c in &ada.communications {
        cases.push(by_node("Communication", COMMUNICATION_SEL, &c["id"]));
    }
    cases.push(by_id(
        "Customer",
        "customer",
        CUSTOMER_SEL,
        &json!(ada.customer),
    ));
    cases.push(by_node("Customer", CUSTOMER_SEL, &json!(ada.customer)));
    cases.push(
        Case::new(
            "Customer",
            "customerByIdentity",
            format!(
                "query($v: String!) {{ customerByIdentity(channel: APP, externalId: $v) {{ {CUSTOMER_SEL} }} }}"
            ),
            json!({ "v": ada.external_id }),
            json!({ "v": "app-nobody-987654321" }),
        )
        .path("customerByIdentity(channel:, externalId:)")
        .witness(Witness::Agent),
    );
    cases.push(by_node("CustomerNote", NOTE_SEL, &ada.note["id"]).witness(Witness::Agent));
    // A root field given the ID of another of Ada's objects of another type.
    let others = ada.one_of_each();
    for (object, root, selection) in [
        ("Order", "order", ORDER_SEL),
        ("Shipment", "shipment", SHIPMENT_SEL),
        ("Return", "return", RETURN_SEL),
        ("Substitution", "substitution", SUBSTITUTION_SEL),
        ("Customer", "customer", CUSTOMER_SEL),
    ] {
        for (other, id) in others.iter().filter(|(t, _)| *t != object) {
            cases.push(
                by_id(object, root, selection, id)
                    .path(format!("{root}(id: a {other} ID)"))
                    .witness(Witness::Nobody),
            );
        }
    }
    for entry in &ada.entries {
        let staff_only = ["NOTE_ADDED", "STOCK_CHANGED"]
            .iter()
            .any(|k| entry["kind"] == *k);
        let case = by_node("TimelineEntry", ENTRY_SEL, &entry["id"]).path(format!(
            "node(id:) [{}]",
            entry["kind"].as_str().unwrap_or("?")
        ));
        cases.push(if staff_only {
            case.witness(Witness::Agent)
        } else {
            case
        });
    }
    cases
}

// ---------------------------------------------------------------------- reads

#[tokio::test]
async fn reading_another_customers_objects_answers_exactly_like_missing_ones() {
    let app = TestApp::spawn().await;
    let (ada, bob) = two_parties(&app).await;
    let mut checker = Checker::new(&app, &ada, &bob);
    for case in reads(&ada) {
        checker.check(&case).await;
    }
    checker.report("reads");
}

#[tokio::test]
async fn marketing_previews_of_real_orders_show_no_personal_data() {
    let app = TestApp::spawn().await;
    let (ada, _bob) = two_parties(&app).await;
    let mut shown = Vec::new();
    for case in reads(&ada).iter().filter(|c| c.root == "previewEmail") {
        let resp = app.as_marketing(&case.query, case.owned.clone()).await;
        assert!(
            expect_data(&resp)["previewEmail"]["email"].is_object(),
            "{}",
            pretty(&resp)
        );
        let text = resp.to_string();
        for secret in [ada.email.as_str(), ADA.first, ADA.last, ADA.street] {
            if text.contains(secret) {
                shown.push(format!("{} shows {secret:?}", case.path));
            }
        }
    }
    assert!(shown.is_empty(), "marketing sees personal data: {shown:#?}");
}

// ---------------------------------------------------------------------- nested edges

const NESTED_ORDER_SEL: &str = "id number
    lines { id sku }
    shipments { id trackingNumber order { id } lines { line { id } } }
    returns { id rmaNumber order { id } lines { line { id } } }
    substitutions { id line { id } }
    communications { id subject to order { id } }
    returnableLines { line { id } }
    timeline(first: 50) { totalCount edges { cursor node { id kind order { id }
        shipment { id } return { id } communication { id } } } }";

fn nested_customer_sel() -> String {
    format!(
        "id email
        orders(first: 20) {{ totalCount edges {{ cursor node {{ {NESTED_ORDER_SEL} }} }} }}
        returns(first: 20) {{ totalCount edges {{ node {{ id rmaNumber order {{ id }} }} }} }}
        communications(first: 50) {{ totalCount edges {{ node {{ id subject order {{ id }} }} }} }}
        timeline(first: 100) {{ totalCount edges {{ cursor node {{ id kind order {{ id }}
            shipment {{ id }} return {{ id }} communication {{ id }} }} }} }}
        notes(first: 10) {{ totalCount }}"
    )
}

#[tokio::test]
async fn a_customers_own_objects_never_lead_to_another_customers() {
    let app = TestApp::spawn().await;
    let (ada, bob) = two_parties(&app).await;
    let token = bob.token(&app);
    let ada_cursor_of_orders = {
        let resp = app
            .as_agent(
                "query($id: ID!) { customer(id: $id) { orders(first: 10) { edges { cursor } } } }",
                json!({ "id": ada.customer }),
            )
            .await;
        expect_data(&resp)["customer"]["orders"]["edges"][0]["cursor"].clone()
    };
    // Ada's newest entry: Bob's page after it would hold anything older, of anyone's.
    let ada_first_entry = ada.entries.first().expect("Ada has entries")["cursor"].clone();

    let mut reads: Vec<(String, String, Value)> = vec![
        (
            "me".into(),
            format!("{{ me {{ {} }} }}", nested_customer_sel()),
            json!({}),
        ),
        (
            "customer(id: own)".into(),
            format!("query($id: ID!) {{ customer(id: $id) {{ {} }} }}", nested_customer_sel()),
            json!({ "id": bob.customer }),
        ),
        (
            "me.orders after another customer's cursor".into(),
            "query($after: String) { me { orders(first: 20, after: $after) { totalCount edges { node { id } } } } }"
                .into(),
            json!({ "after": ada_cursor_of_orders }),
        ),
        (
            "me.timeline after another customer's cursor".into(),
            "query($after: String) { me { timeline(first: 100, after: $after) { edges { node { id order { id } } } } } }"
                .into(),
            json!({ "after": ada_first_entry }),
        ),
    ];
    for order in bob.orders() {
        reads.push((
            "order(id: own)".into(),
            format!("query($id: ID!) {{ order(id: $id) {{ {NESTED_ORDER_SEL} }} }}"),
            json!({ "id": order["id"] }),
        ));
    }
    for shipment in bob.shipments() {
        reads.push((
            "shipment(id: own)".into(),
            format!(
                "query($id: ID!) {{ shipment(id: $id) {{ id order {{ {NESTED_ORDER_SEL} }} }} }}"
            ),
            json!({ "id": shipment["id"] }),
        ));
    }
    reads.push((
        "return(id: own)".into(),
        format!("query($id: ID!) {{ return(id: $id) {{ id lines {{ line {{ id }} }} order {{ {NESTED_ORDER_SEL} }} }} }}"),
        json!({ "id": bob.ret["id"] }),
    ));
    reads.push((
        "substitution(id: own)".into(),
        "query($id: ID!) { substitution(id: $id) { id line { id sku } } }".into(),
        json!({ "id": bob.substitution["id"] }),
    ));
    for c in &bob.communications {
        reads.push((
            "node(id: own communication)".into(),
            format!(
                "query($id: ID!) {{ node(id: $id) {{ id ... on Communication {{ id order {{ {NESTED_ORDER_SEL} }} }} }} }}"
            ),
            json!({ "id": c["id"] }),
        ));
    }
    for e in &bob.entries {
        reads.push((
            "node(id: own entry)".into(),
            "query($id: ID!) { node(id: $id) { id ... on TimelineEntry { order { id } shipment { id order { id } }
                return { id order { id } } communication { id order { id } } } } }"
                .into(),
            json!({ "id": e["id"] }),
        ));
    }

    let mut seen_own = BTreeSet::new();
    let mut leaks = Vec::new();
    for (what, query, variables) in &reads {
        let resp = app.gql(Some(&token), query, variables.clone()).await;
        expect_data(&resp);
        strings(&resp, &mut seen_own);
        let traces = traces_of(&resp, &ada);
        if !traces.is_empty() {
            leaks.push(format!("{what} shows {traces:?}:\n{}", pretty(&resp)));
        }
    }
    eprintln!(
        "access: nested: {} reads of Bob's own objects scanned",
        reads.len()
    );
    assert!(leaks.is_empty(), "{}", leaks.join("\n\n"));

    // Not vacuous: Bob's reads show every object of his a customer may see (not his note, nor
    // the entry it wrote).
    let staff_only: BTreeSet<String> = bob
        .entries
        .iter()
        .filter(|e| e["kind"] == "NOTE_ADDED")
        .map(|e| e["id"].clone())
        .chain([bob.note["id"].clone()])
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let unseen: Vec<String> = bob
        .ids()
        .into_iter()
        .filter(|id| !staff_only.contains(id) && !seen_own.contains(id))
        .collect();
    assert!(unseen.is_empty(), "Bob's reads miss his own {unseen:?}");

    let counts = expect_data(
        &app.gql(
            Some(&token),
            "{ me { orders { totalCount } returns { totalCount } communications { totalCount } } }",
            json!({}),
        )
        .await,
    )["me"]
        .clone();
    assert_eq!(counts["orders"]["totalCount"], 3, "{}", pretty(&counts));
    assert_eq!(counts["returns"]["totalCount"], 1, "{}", pretty(&counts));
    assert_eq!(
        counts["communications"]["totalCount"],
        bob.communications.len(),
        "{}",
        pretty(&counts)
    );
}

// ---------------------------------------------------------------------- changes

fn mutation(name: &'static str, selection: &str) -> String {
    let input_type = format!("{}{}Input", name[..1].to_uppercase(), &name[1..]);
    format!(
        "mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} {USER_ERRORS} }} }}"
    )
}

const ORDER_PAYLOAD: &str = "order { id number status version customer { email } }";
const RETURN_PAYLOAD: &str = "return { id rmaNumber status }";
const SUBSTITUTION_PAYLOAD: &str = "substitution { id status }";
const SHIPMENT_PAYLOAD: &str = "shipment { id status trackingNumber }";

fn change(
    object: &'static str,
    name: &'static str,
    selection: &str,
    owned: Value,
    missing: Value,
) -> Case {
    Case::new(
        object,
        name,
        mutation(name, selection),
        json!({ "input": owned }),
        json!({ "input": missing }),
    )
    .witness(Witness::Nobody)
}

/// Every mutation that names an order, line, shipment, return, substitution or customer, aimed at
/// Ada's by Bob (and anonymous callers and marketing).
fn changes(ada: &Party, bob: &Party) -> Vec<Case> {
    let missing_order = json!(missing_id("Order"));
    let missing_line = json!(missing_id("OrderLine"));
    let missing_return = json!(missing_id("Return"));
    let missing_substitution = json!(missing_id("Substitution"));
    let missing_shipment = json!(missing_id("Shipment"));
    let address = json!({
        "name": "Mallory", "line1": "Mallorystraat 6", "city": "Utrecht",
        "postalCode": "3512 AE", "countryCode": "NL",
    });
    let mut cases = Vec::new();
    for (label, order) in [
        ("delivered", &ada.delivered),
        ("open", &ada.open),
        ("collect", &ada.collect),
    ] {
        let line = order["lines"][0]["id"].clone();
        cases.push(
            change(
                "Order",
                "cancelOrder",
                ORDER_PAYLOAD,
                json!({ "orderId": order["id"] }),
                json!({ "orderId": missing_order }),
            )
            .path(format!("cancelOrder [{label}]")),
        );
        cases.push(
            change(
                "Order",
                "cancelOrder",
                ORDER_PAYLOAD,
                json!({ "orderId": order["id"], "expectedVersion": order["version"],
                        "reasonCode": "CUSTOMER_REQUEST", "reason": "changed my mind" }),
                json!({ "orderId": missing_order, "expectedVersion": order["version"],
                        "reasonCode": "CUSTOMER_REQUEST", "reason": "changed my mind" }),
            )
            .path(format!("cancelOrder with expectedVersion [{label}]")),
        );
        cases.push(
            change(
                "Order",
                "cancelOrderLines",
                ORDER_PAYLOAD,
                json!({ "orderId": order["id"], "lines": [{ "lineId": line, "quantity": 1 }] }),
                json!({ "orderId": missing_order, "lines": [{ "lineId": missing_line, "quantity": 1 }] }),
            )
            .path(format!("cancelOrderLines [{label}]")),
        );
        cases.push(
            change(
                "Order",
                "changeShippingAddress",
                ORDER_PAYLOAD,
                json!({ "orderId": order["id"], "address": address }),
                json!({ "orderId": missing_order, "address": address }),
            )
            .path(format!("changeShippingAddress [{label}]")),
        );
        cases.push(
            change(
                "Order",
                "changeShippingAddress",
                ORDER_PAYLOAD,
                json!({ "orderId": order["id"], "address": address, "expectedVersion": order["version"] }),
                json!({ "orderId": missing_order, "address": address, "expectedVersion": order["version"] }),
            )
            .path(format!("changeShippingAddress with expectedVersion [{label}]")),
        );
        cases.push(
            change(
                "OrderLine",
                "proposeSubstitution",
                SUBSTITUTION_PAYLOAD,
                json!({ "orderLineId": line, "substituteSku": seed::TOTE, "quantity": 1 }),
                json!({ "orderLineId": missing_line, "substituteSku": seed::TOTE, "quantity": 1 }),
            )
            .path(format!("proposeSubstitution [{label}]")),
        );
        for (key, owned, missing) in [
            ("orderId", order["id"].clone(), missing_order.clone()),
            (
                "orderNumber",
                order["number"].clone(),
                json!("TP-987654321"),
            ),
        ] {
            let input = |v: &Value| json!({ "kind": "ORDER_CONFIRMATION", "to": "mallory@example.test", key: v });
            cases.push(
                change(
                    "Order",
                    "sendTestEmail",
                    "communication { id subject to }",
                    input(&owned),
                    input(&missing),
                )
                .path(format!("sendTestEmail({key}) [{label}]"))
                .callers(NOT_MARKETING),
            );
        }
    }
    // Bob's own open order, Ada's line.
    cases.push(
        change(
            "OrderLine",
            "cancelOrderLines",
            ORDER_PAYLOAD,
            json!({ "orderId": bob.open["id"], "lines": [{ "lineId": ada.open["lines"][0]["id"], "quantity": 1 }] }),
            json!({ "orderId": bob.open["id"], "lines": [{ "lineId": missing_line, "quantity": 1 }] }),
        )
        .path("cancelOrderLines on one's own order"),
    );
    let return_input = |order: &Value, line: &Value| {
        json!({
            "orderId": order, "method": "IN_STORE", "returnLocationCode": seed::STORE_A,
            "lines": [{ "lineId": line, "quantity": 1, "reason": "Does not fit" }],
        })
    };
    let ada_tote = ada.line(&ada.delivered, seed::TOTE);
    cases.push(
        change(
            "Order",
            "requestReturn",
            RETURN_PAYLOAD,
            return_input(&ada.delivered["id"], &ada_tote),
            return_input(&missing_order, &missing_line),
        )
        .path("requestReturn"),
    );
    cases.push(
        change(
            "OrderLine",
            "requestReturn",
            RETURN_PAYLOAD,
            return_input(&bob.delivered["id"], &ada_tote),
            return_input(&bob.delivered["id"], &missing_line),
        )
        .path("requestReturn on one's own order"),
    );
    cases.push(change(
        "Return",
        "cancelReturn",
        RETURN_PAYLOAD,
        json!({ "returnId": ada.ret["id"] }),
        json!({ "returnId": missing_return }),
    ));
    cases.push(
        change(
            "Return",
            "cancelReturn",
            RETURN_PAYLOAD,
            json!({ "returnId": ada.ret["id"], "reason": "no longer needed" }),
            json!({ "returnId": missing_return, "reason": "no longer needed" }),
        )
        .path("cancelReturn with a reason"),
    );
    cases.push(change(
        "Return",
        "receiveReturn",
        RETURN_PAYLOAD,
        json!({ "returnId": ada.ret["id"], "locationCode": seed::STORE_A, "restock": true }),
        json!({ "returnId": missing_return, "locationCode": seed::STORE_A, "restock": true }),
    ));
    cases.push(change(
        "Return",
        "rejectReturn",
        RETURN_PAYLOAD,
        json!({ "returnId": ada.ret["id"], "reason": "worn" }),
        json!({ "returnId": missing_return, "reason": "worn" }),
    ));
    cases.push(change(
        "Return",
        "issueRefund",
        RETURN_PAYLOAD,
        json!({ "returnId": ada.ret["id"], "reason": "goodwill" }),
        json!({ "returnId": missing_return, "reason": "goodwill" }),
    ));
    for accept in [true, false] {
        cases.push(
            change(
                "Substitution",
                "respondToSubstitution",
                SUBSTITUTION_PAYLOAD,
                json!({ "substitutionId": ada.substitution["id"], "accept": accept }),
                json!({ "substitutionId": missing_substitution, "accept": accept }),
            )
            .path(format!("respondToSubstitution(accept: {accept})")),
        );
    }
    cases.push(
        change(
            "Substitution",
            "respondToSubstitution",
            SUBSTITUTION_PAYLOAD,
            json!({ "substitutionId": ada.substitution["id"], "accept": true,
                    "expectedVersion": ada.collect["version"] }),
            json!({ "substitutionId": missing_substitution, "accept": true,
                    "expectedVersion": ada.collect["version"] }),
        )
        .path("respondToSubstitution with expectedVersion"),
    );
    for shipment in ada.shipments() {
        let label = shipment["status"].as_str().unwrap_or("?").to_string();
        for status in ["PICKING", "DISPATCHED", "CANCELLED"] {
            cases.push(
                change(
                    "Shipment",
                    "updateShipmentStatus",
                    SHIPMENT_PAYLOAD,
                    json!({ "shipmentId": shipment["id"], "status": status }),
                    json!({ "shipmentId": missing_shipment, "status": status }),
                )
                .path(format!("updateShipmentStatus({status}) [{label}]")),
            );
        }
        cases.push(
            change(
                "Shipment",
                "markReadyForCollection",
                SHIPMENT_PAYLOAD,
                json!({ "shipmentId": shipment["id"] }),
                json!({ "shipmentId": missing_shipment }),
            )
            .path(format!("markReadyForCollection [{label}]")),
        );
        if let Some(number) = shipment["trackingNumber"].as_str() {
            let occurred_at = at_hours(0);
            let event = |n: &str| {
                json!({ "carrier": CARRIER, "trackingNumber": n, "status": "EXCEPTION",
                        "occurredAt": occurred_at })
            };
            cases.push(
                change(
                    "Shipment",
                    "recordTrackingEvent",
                    SHIPMENT_PAYLOAD,
                    event(number),
                    event("3SMISSING987654321"),
                )
                .path("recordTrackingEvent(trackingNumber)"),
            );
        }
    }
    cases.push(change(
        "Customer",
        "updateCustomer",
        "customer { id email firstName }",
        json!({ "customerId": ada.customer, "firstName": "Mallory" }),
        json!({ "customerId": missing_id("Customer"), "firstName": "Mallory" }),
    ));
    cases.push(
        change(
            "Customer",
            "updateCustomer",
            "customer { id email firstName }",
            json!({ "customerId": ada.customer, "orderUpdatesByEmail": false }),
            json!({ "customerId": missing_id("Customer"), "orderUpdatesByEmail": false }),
        )
        .path("updateCustomer(orderUpdatesByEmail)"),
    );
    // A change given the ID of another of Ada's objects of another type.
    let address_for = address.clone();
    type Input = Box<dyn Fn(&Value) -> Value>;
    let wrong_type: [(&'static str, &'static str, &str, &str, Input); 6] = [
        (
            "Order",
            "cancelOrder",
            ORDER_PAYLOAD,
            "orderId",
            Box::new(|id| json!({ "orderId": id })),
        ),
        (
            "Order",
            "changeShippingAddress",
            ORDER_PAYLOAD,
            "orderId",
            Box::new(move |id| json!({ "orderId": id, "address": address_for })),
        ),
        (
            "Return",
            "cancelReturn",
            RETURN_PAYLOAD,
            "returnId",
            Box::new(|id| json!({ "returnId": id })),
        ),
        (
            "Substitution",
            "respondToSubstitution",
            SUBSTITUTION_PAYLOAD,
            "substitutionId",
            Box::new(|id| json!({ "substitutionId": id, "accept": true })),
        ),
        (
            "Customer",
            "updateCustomer",
            "customer { id email firstName }",
            "customerId",
            Box::new(|id| json!({ "customerId": id, "firstName": "Mallory" })),
        ),
        (
            "Shipment",
            "updateShipmentStatus",
            SHIPMENT_PAYLOAD,
            "shipmentId",
            Box::new(|id| json!({ "shipmentId": id, "status": "PICKING" })),
        ),
    ];
    for (object, name, selection, key, input) in &wrong_type {
        for (other, id) in ada.one_of_each().iter().filter(|(t, _)| t != object) {
            cases.push(
                change(
                    object,
                    name,
                    selection,
                    input(id),
                    input(&json!(missing_id(object))),
                )
                .path(format!("{name}({key}: a {other} ID)")),
            );
        }
    }

    // The same changes with an idempotency key (each call its own key).
    let keyed: Vec<Case> = cases
        .iter()
        .filter(|c| {
            [
                "cancelOrder",
                "cancelOrderLines",
                "changeShippingAddress",
                "requestReturn",
                "cancelReturn",
                "respondToSubstitution",
            ]
            .contains(&c.root)
        })
        .map(|c| {
            let mut owned = c.owned.clone();
            let mut missing = c.missing.clone();
            owned["input"]["idempotencyKey"] = json!(format!("owned-{}", c.path));
            missing["input"]["idempotencyKey"] = json!(format!("missing-{}", c.path));
            Case {
                object: c.object,
                path: format!("{} with an idempotencyKey", c.path),
                root: c.root,
                query: c.query.clone(),
                owned,
                missing,
                witness: c.witness,
                callers: c.callers,
            }
        })
        .collect();
    cases.extend(keyed);
    cases.push(change(
        "Customer",
        "addCustomerNote",
        "note { id body }",
        json!({ "customerId": ada.customer, "body": "Mallory was here" }),
        json!({ "customerId": missing_id("Customer"), "body": "Mallory was here" }),
    ));
    cases
}

/// Everything of `party` a change could touch, as an agent reads it, and the stock.
async fn snapshot(app: &TestApp, party: &Party) -> Value {
    let mut orders = Vec::new();
    for order in party.orders() {
        orders.push(agent_order(app, &order["id"], SNAPSHOT_SEL).await);
    }
    let resp = app
        .as_agent(
            "query($id: ID!) { customer(id: $id) { email firstName lastName locale
                communicationPreferences { orderUpdatesByEmail }
                notes(first: 50) { totalCount edges { node { id body } } }
                communications(first: 50) { totalCount }
                timeline(first: 100) { totalCount edges { node { id kind } } } } }",
            json!({ "id": party.customer }),
        )
        .await;
    let stock = app.stock_snapshot(&[seed::SHIRT, seed::TOTE]).await;
    json!({
        "orders": orders,
        "customer": expect_data(&resp)["customer"],
        "stock": format!("{stock:?}"),
    })
}

#[tokio::test]
async fn changing_another_customers_objects_answers_like_missing_ones_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (ada, bob) = two_parties(&app).await;

    // Ada herself may still do these things, so a missing check would show.
    let ada_open = app
        .self_service_order(&ada.token(&app), &ada.open["id"])
        .await;
    for action in ["cancel", "cancelLines", "changeShippingAddress"] {
        assert_eq!(
            ada_open["allowedActions"][action]["allowed"],
            true,
            "{action}: {}",
            pretty(&ada_open)
        );
    }
    let ada_delivered = app
        .self_service_order(&ada.token(&app), &ada.delivered["id"])
        .await;
    assert_eq!(
        ada_delivered["allowedActions"]["requestReturn"]["allowed"],
        true,
        "{}",
        pretty(&ada_delivered)
    );
    assert_eq!(ada.substitution["status"], "PROPOSED");
    assert_eq!(ada.delivered["returns"][0]["status"], "REQUESTED");

    let before = (snapshot(&app, &ada).await, snapshot(&app, &bob).await);
    let mut checker = Checker::new(&app, &ada, &bob);
    for case in changes(&ada, &bob) {
        checker.check(&case).await;
    }
    // Whatever a change would have set off (emails, re-routing) has had time to happen.
    tokio::time::sleep(QUIET).await;
    let after = (snapshot(&app, &ada).await, snapshot(&app, &bob).await);
    assert_eq!(
        before.0,
        after.0,
        "Ada's objects are unchanged:\nbefore {}\nafter {}",
        pretty(&before.0),
        pretty(&after.0)
    );
    assert_eq!(
        before.1,
        after.1,
        "Bob's objects are unchanged:\nbefore {}\nafter {}",
        pretty(&before.1),
        pretty(&after.1)
    );
    checker.report("changes");
}

// ---------------------------------------------------------------------- subscriptions

const ENTRY_WS: &str = "id kind cursor order { id }";

fn order_events() -> String {
    format!(
        "subscription($id: ID!, $after: String) {{ orderEvents(orderId: $id, after: $after) {{ {ENTRY_WS} }} }}"
    )
}

fn customer_timeline() -> String {
    format!(
        "subscription($id: ID!, $after: String) {{ customerTimeline(customerId: $id, after: $after) {{ {ENTRY_WS} }} }}"
    )
}

fn my_order_events() -> String {
    format!("subscription($after: String) {{ myOrderEvents(after: $after) {{ {ENTRY_WS} }} }}")
}

/// The first message for `op` (without its operation id), or None when none comes.
async fn first_message(ws: &mut WsClient, op: &str) -> Value {
    match ws.next_for(op, WAIT).await {
        Some(mut message) => {
            if let Some(m) = message.as_object_mut() {
                m.remove("id");
            }
            message
        }
        None => Value::Null,
    }
}

/// The ids of the orders of the entries in `messages`.
fn entry_orders(messages: &[Value]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| crate::ws::entry_of(m)["order"]["id"].clone())
        .collect()
}

/// Every `next` for `op` until nothing comes for `QUIET`.
async fn drain(ws: &mut WsClient, op: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    while let Some(message) = ws.next_for(op, QUIET).await {
        assert_eq!(message["type"], "next", "{}", pretty(&message));
        messages.push(message);
    }
    messages
}

#[tokio::test]
async fn subscribing_to_another_customers_objects_answers_like_missing_ones_and_carries_none_of_their_events()
 {
    let app = TestApp::spawn().await;
    let (ada, bob) = two_parties(&app).await;
    let ada_cursor = ada.entries.last().expect("Ada has entries")["cursor"].clone();

    let mut subscriptions: Vec<(String, String, Value, Value)> = Vec::new();
    for order in ada.orders() {
        subscriptions.push((
            "orderEvents(orderId:)".into(),
            order_events(),
            json!({ "id": order["id"] }),
            json!({ "id": missing_id("Order") }),
        ));
        subscriptions.push((
            "orderEvents(orderId:, after:)".into(),
            order_events(),
            json!({ "id": order["id"], "after": ada_cursor }),
            json!({ "id": missing_id("Order"), "after": ada_cursor }),
        ));
    }
    for (other, id) in ada.one_of_each().iter().filter(|(t, _)| *t != "Order") {
        subscriptions.push((
            format!("orderEvents(orderId: a {other} ID)"),
            order_events(),
            json!({ "id": id }),
            json!({ "id": missing_id("Order") }),
        ));
    }
    subscriptions.push((
        "customerTimeline(customerId:)".into(),
        customer_timeline(),
        json!({ "id": ada.customer }),
        json!({ "id": missing_id("Customer") }),
    ));
    subscriptions.push((
        "customerTimeline(customerId:, after:)".into(),
        customer_timeline(),
        json!({ "id": ada.customer, "after": ada_cursor }),
        json!({ "id": missing_id("Customer"), "after": ada_cursor }),
    ));

    let bob_token = bob.token(&app);
    let marketing = app.marketing_token();
    let mut sockets = Vec::new();
    let mut cases = 0;
    let mut leaks = Vec::new();
    for (caller, token) in [
        ("customer", Some(bob_token.as_str())),
        ("anonymous", None),
        ("marketing", Some(marketing.as_str())),
    ] {
        let mut ws = WsClient::connect(&app, token).await;
        let mut refused = Vec::new();
        for (n, (path, query, owned, missing)) in subscriptions.iter().enumerate() {
            let (own_op, missing_op) = (format!("own-{n}"), format!("missing-{n}"));
            ws.subscribe(&own_op, query, owned.clone()).await;
            let own_answer = first_message(&mut ws, &own_op).await;
            ws.subscribe(&missing_op, query, missing.clone()).await;
            let missing_answer = first_message(&mut ws, &missing_op).await;
            cases += 1;
            assert!(
                !own_answer.to_string().contains("INTERNAL"),
                "{}",
                pretty(&own_answer)
            );
            if own_answer != missing_answer || own_answer["type"] != "error" {
                leaks.push(format!(
                    "{path} as {caller}: another customer's object answers\n{}\nwhere a missing one answers\n{}",
                    pretty(&own_answer),
                    pretty(&missing_answer)
                ));
            }
            let traces = traces_of(&own_answer, &ada);
            if !traces.is_empty() {
                leaks.push(format!("{path} as {caller}: the answer shows {traces:?}"));
            }
            refused.push(own_op);
        }
        sockets.push((caller, ws, refused));
    }
    eprintln!("access: subscriptions: {cases} (object, path, caller) cases compared");
    assert!(leaks.is_empty(), "{}", leaks.join("\n\n"));

    // Bob follows his own orders, replayed from before Ada's first entry: only his own come.
    let bob_orders = bob.order_ids();
    let mut bob_ws = WsClient::connect(&app, Some(&bob_token)).await;
    bob_ws
        .subscribe("mine", &my_order_events(), json!({ "after": ada_cursor }))
        .await;
    bob_ws
        .subscribe("own-open", &order_events(), json!({ "id": bob.open["id"] }))
        .await;
    let replayed = drain(&mut bob_ws, "mine").await;
    assert!(!replayed.is_empty(), "Bob's own entries are replayed");
    for (message, order) in replayed.iter().zip(entry_orders(&replayed)) {
        assert!(
            bob_orders.contains(&order) && traces_of(message, &ada).is_empty(),
            "myOrderEvents replays only Bob's own entries:\n{}",
            pretty(message)
        );
    }
    bob_ws.settle().await;

    // An agent follows Ada's open order: Ada's changes do happen live.
    let mut agent_ws = WsClient::connect(&app, Some(&app.agent_token())).await;
    agent_ws
        .subscribe("ada-open", &order_events(), json!({ "id": ada.open["id"] }))
        .await;
    agent_ws.settle().await;

    let address = json!({
        "name": "Ada Marie Lovelace Ames", "line1": "Adastraat 13", "city": "Amsterdam",
        "postalCode": "1012 LG", "countryCode": "NL",
    });
    let resp = app
        .change_address_with(
            &app.agent_token(),
            json!({ "orderId": ada.open["id"], "address": address, "reason": "Customer moved" }),
        )
        .await;
    expect_ok(&resp, "changeShippingAddress");
    let resp = app
        .cancel_order_with(&ada.token(&app), json!({ "orderId": ada.open["id"] }))
        .await;
    expect_ok(&resp, "cancelOrder");
    let seen = read_until(
        &mut agent_ws,
        "ada-open",
        "ORDER_CANCELLED",
        &ada.order_ids(),
    )
    .await;
    assert!(
        seen.iter().any(|e| e["kind"] == "ORDER_MODIFIED"),
        "the agent saw Ada's change: {}",
        pretty(&json!(seen))
    );

    // Then Bob's own order moves: his feeds carry his change, and nothing of Ada's before it.
    let resp = app
        .change_address_with(
            &app.agent_token(),
            json!({ "orderId": bob.open["id"], "address": address, "reason": "Customer moved" }),
        )
        .await;
    expect_ok(&resp, "changeShippingAddress");
    for op in ["mine", "own-open"] {
        read_until(&mut bob_ws, op, "ORDER_MODIFIED", &bob_orders).await;
    }
    // Ada's emails about her changes go out too; none of their entries reach Bob.
    wait_for_cancellation_email(&app, &ada).await;
    for op in ["mine", "own-open"] {
        let late = drain(&mut bob_ws, op).await;
        for (message, order) in late.iter().zip(entry_orders(&late)) {
            assert!(
                bob_orders.contains(&order) && traces_of(message, &ada).is_empty(),
                "{op} carries only Bob's own entries:\n{}",
                pretty(message)
            );
        }
    }
    for (caller, mut ws, refused) in sockets {
        for op in &refused {
            if let Some(message) = ws.next_for(op, Duration::from_millis(200)).await {
                assert_ne!(
                    message["type"],
                    "next",
                    "{caller}: a refused subscription ({op}) carried:\n{}",
                    pretty(&message)
                );
            }
        }
        // The socket itself still works.
        ws.ping_pong().await;
    }
}

/// Reads `next`s for `op` until an entry of `kind`; every entry must be about one of `orders`.
/// Returns the entries read.
async fn read_until(ws: &mut WsClient, op: &str, kind: &str, orders: &[Value]) -> Vec<Value> {
    let mut entries = Vec::new();
    loop {
        let message = ws
            .next_for(op, WAIT)
            .await
            .unwrap_or_else(|| panic!("no {kind} entry for {op} within {WAIT:?}"));
        assert_eq!(message["type"], "next", "{}", pretty(&message));
        let entry = crate::ws::entry_of(&message).clone();
        assert!(
            orders.contains(&entry["order"]["id"]),
            "{op} carries only entries about {orders:?}:\n{}",
            pretty(&message)
        );
        entries.push(entry.clone());
        if entry["kind"] == kind {
            return entries;
        }
    }
}

/// Waits until Ada's cancellation email was sent (and so its EMAIL_SENT entry written).
async fn wait_for_cancellation_email(app: &TestApp, ada: &Party) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let read = agent_order(app, &ada.open["id"], "communications { kind status }").await;
        let sent = read["communications"].as_array().is_some_and(|l| {
            l.iter()
                .any(|c| c["kind"] == "ORDER_CANCELLED" && c["status"] == "SENT")
        });
        if sent {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no cancellation email: {}",
            pretty(&read)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
