//! Reliability under faults: edits racing on one order, replays storming one checkout, `kill -9`
//! of the server under load, an SMTP outage, a PostgreSQL restart and a database write lock.
//! Every test injects its fault from the outside and then checks, through the API, that nothing
//! acknowledged was lost, nothing was done twice and the server recovered by itself.
//!
//! The oversell race (fifty checkouts for ten units) is in concurrency.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::crash::{
    ServerProcess, agent_token, communications, mentions, seed_catalogue, service_token,
};
use crate::fixtures::{
    ENTRY_FIELDS, OrderBuilder, Stock, nodes, place_order_mutation, seed, str_of, utrecht_address,
};
use crate::harness::{
    POSTGRES_URL_ENV, TestApp, TestDatabase, assert_user_error, error_codes, expect_data,
    expect_ok, pretty, top_level_errors, user_errors,
};
use crate::smtp::{Mail, SmtpServer};
use crate::ws::WsClient;

const CONFIRMATION: &str = "ORDER_CONFIRMATION";

// ---------------------------------------------------------------------- lost updates

fn address_on(street: &str) -> Value {
    json!({
        "name": "Sam Shopper",
        "line1": street,
        "city": "Amsterdam",
        "postalCode": "1016 GV",
        "countryCode": "NL",
        "location": { "latitude": 52.375, "longitude": 4.884 },
    })
}

async fn order_as(app: &TestApp, token: &str, order_id: &Value) -> Value {
    let order = app.self_service_order(token, order_id).await;
    assert!(order.is_object(), "the order reads back: {order}");
    order
}

/// Splits answers into the ones that applied and the ones refused with VERSION_CONFLICT;
/// anything else fails the test.
#[track_caller]
fn winners_and_conflicts(responses: &[(usize, Value)], mutation: &str) -> (Vec<usize>, usize) {
    let mut won = Vec::new();
    let mut conflicts = 0;
    for (i, resp) in responses {
        assert!(
            top_level_errors(resp).is_empty(),
            "no edit may fail outright:\n{}",
            pretty(resp)
        );
        let errors = user_errors(resp, mutation);
        if errors.is_empty() {
            won.push(*i);
        } else {
            assert_user_error(resp, mutation, "VERSION_CONFLICT");
            assert!(
                resp["data"][mutation]["order"].is_null(),
                "a refused edit returns no order:\n{}",
                pretty(resp)
            );
            conflicts += 1;
        }
    }
    (won, conflicts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_racing_on_one_version_apply_exactly_one_and_refuse_the_rest() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let placed = OrderBuilder::new()
        .line(seed::SHIRT, 3)
        .line(seed::TOTE, 1)
        .place_ok(&app)
        .await;
    let customer = str_of(&placed["customer"]["id"], "customer id").to_owned();
    let token = app.customer_token(&customer);
    let order = order_as(&app, &token, &placed["id"]).await;
    let version = order["version"].as_i64().expect("version");

    // Round one: eight address changes, all against the same version.
    let streets: Vec<String> = (1..=8).map(|i| format!("Keizersgracht {i}")).collect();
    let edits = streets.iter().enumerate().map(|(i, street)| {
        let input = json!({
            "orderId": order["id"], "expectedVersion": version, "address": address_on(street),
        });
        let (app, token) = (&app, &token);
        async move { (i, app.change_address_with(token, input).await) }
    });
    let responses = join_all(edits).await;
    let (won, conflicts) = winners_and_conflicts(&responses, "changeShippingAddress");
    assert_eq!(
        (won.len(), conflicts),
        (1, 7),
        "one of eight edits of version {version} wins"
    );
    let winner = &streets[won[0]];
    let after = order_as(&app, &token, &order["id"]).await;
    assert_eq!(
        after["delivery"]["address"]["line1"], *winner,
        "the order shows the winner's address"
    );
    assert_eq!(after["version"], version + 1, "one edit, one version step");
    let winning = &responses[won[0]].1["data"]["changeShippingAddress"]["order"];
    assert_eq!(winning["version"], version + 1);
    assert_eq!(winning["delivery"]["address"]["line1"], *winner);
    let modified = app.order_entries(&order["id"], "ORDER_MODIFIED").await;
    assert_eq!(
        modified.len(),
        1,
        "one change on the timeline: {}",
        pretty(&json!(modified))
    );

    // Round two: two different edits of the new version at once, a line cancellation and an
    // address change; exactly one of them shows.
    let stock_before = app.stock_snapshot(&[seed::SHIRT]).await;
    let version = version + 1;
    let shirt_line = after["lines"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["sku"] == seed::SHIRT))
        .map(|l| l["id"].clone())
        .expect("the shirt line");
    let (cancel, readdress) = futures_util::join!(
        app.cancel_lines_with(
            &token,
            json!({
                "orderId": order["id"], "expectedVersion": version,
                "lines": [{ "lineId": shirt_line, "quantity": 1 }],
            }),
        ),
        app.change_address_with(
            &token,
            json!({ "orderId": order["id"], "expectedVersion": version, "address": utrecht_address() }),
        ),
    );
    let cancelled = user_errors(&cancel, "cancelOrderLines").is_empty();
    let readdressed = user_errors(&readdress, "changeShippingAddress").is_empty();
    assert!(
        cancelled ^ readdressed,
        "exactly one of two edits of version {version} applies:\n{}\n{}",
        pretty(&cancel),
        pretty(&readdress)
    );
    let loser = if cancelled {
        (&readdress, "changeShippingAddress")
    } else {
        (&cancel, "cancelOrderLines")
    };
    assert_user_error(loser.0, loser.1, "VERSION_CONFLICT");
    let last = order_as(&app, &token, &order["id"]).await;
    assert_eq!(last["version"], version + 1);
    let shirt = last["lines"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["sku"] == seed::SHIRT))
        .cloned()
        .expect("the shirt line");
    let reserved_before: i64 = stock_before.values().map(|s| s.reserved).sum();
    let reserved_after: i64 = app
        .stock_snapshot(&[seed::SHIRT])
        .await
        .values()
        .map(|s| s.reserved)
        .sum();
    if cancelled {
        assert_eq!(shirt["quantityCancelled"], 1, "{}", pretty(&last));
        assert_eq!(
            last["delivery"]["address"]["line1"], *winner,
            "the address is untouched"
        );
        assert_eq!(reserved_after, reserved_before - 1, "one shirt released");
    } else {
        assert_eq!(shirt["quantityCancelled"], 0, "{}", pretty(&last));
        assert_eq!(last["delivery"]["address"]["city"], "Utrecht");
        assert_eq!(reserved_after, reserved_before, "no stock released");
    }
    eprintln!(
        "lost update: 8 racing address edits -> 1 applied, 7 VERSION_CONFLICT; then {} won over {}",
        if cancelled {
            "a line cancellation"
        } else {
            "an address change"
        },
        loser.1
    );
}

// ---------------------------------------------------------------------- idempotency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_replays_of_one_checkout_place_one_order() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    let stock_before = app.stock_snapshot(&[seed::SHIRT]).await;
    let order = OrderBuilder::new()
        .marketplace("Bol")
        .channel_ref("BOL-STORM-1")
        .customer_email("storm@example.test")
        .line(seed::SHIRT, 2);
    let started = Instant::now();
    let responses = join_all((0..20).map(|_| order.place(&app))).await;
    let elapsed = started.elapsed();

    let mut ids = BTreeSet::new();
    let mut numbers = BTreeSet::new();
    let mut replays = 0;
    for resp in &responses {
        let placed = expect_ok(resp, "placeOrder");
        ids.insert(str_of(&placed["order"]["id"], "order id").to_owned());
        numbers.insert(str_of(&placed["order"]["number"], "order number").to_owned());
        if placed["replayed"] == true {
            replays += 1;
        }
    }
    assert_eq!(ids.len(), 1, "every answer names one order: {ids:?}");
    assert_eq!(
        numbers.len(),
        1,
        "every answer names one number: {numbers:?}"
    );
    assert_eq!(replays, 19, "one placement, nineteen replays");
    let id = ids.into_iter().next().expect("the order id");

    let found = app
        .order_by_channel_ref("MARKETPLACE", "BOL-STORM-1", Some("Bol"))
        .await;
    assert_eq!(found["id"], id.as_str());
    let customer = app
        .as_agent(
            "query($id: ID!) { order(id: $id) { customer { orders(first: 50) { totalCount } } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        expect_data(&customer)["order"]["customer"]["orders"]["totalCount"],
        1,
        "the customer has one order"
    );
    let reserved = |snapshot: &BTreeMap<(String, String), Stock>| -> i64 {
        snapshot.values().map(|s| s.reserved).sum()
    };
    assert_eq!(
        reserved(&app.stock_snapshot(&[seed::SHIRT]).await),
        reserved(&stock_before) + 2,
        "two shirts reserved, once"
    );
    let placed = app.order_entries(&json!(id), "ORDER_PLACED").await;
    assert_eq!(placed.len(), 1, "one ORDER_PLACED on the timeline");

    // A late replay still answers the same order.
    let late = order.place(&app).await;
    let late = expect_ok(&late, "placeOrder");
    assert_eq!(late["order"]["id"], id.as_str());
    assert_eq!(late["replayed"], true);
    eprintln!("idempotency: 20 parallel replays answered in {elapsed:?}; 1 order, 19 replays");
}

// ---------------------------------------------------------------------- load clients

/// An order a load client placed and got an answer for.
#[derive(Clone, Debug)]
struct Acked {
    reference: String,
    id: Value,
    number: String,
}

/// What one load client saw.
#[derive(Default, Debug)]
struct LoadLog {
    acked: Vec<Acked>,
    /// References whose request got no answer (the connection failed or was cut).
    unanswered: Vec<String>,
    /// Answers without an order, with the reference.
    refused: Vec<(String, Value)>,
    /// Answers by HTTP status.
    statuses: BTreeMap<u16, usize>,
}

fn load_order(reference: &str, client: usize) -> Value {
    OrderBuilder::new()
        .channel_ref(reference)
        .customer(json!({ "email": format!("client{client}@example.test"), "firstName": "Sam" }))
        .line(seed::SHIRT, 1)
        .input()
}

/// One `placeOrder` of `reference` against `server`: the order when it was acknowledged,
/// otherwise records why not.
async fn place_once(
    server: &ServerProcess,
    reference: &str,
    client: usize,
    log: &mut LoadLog,
) -> Option<Acked> {
    let answer = server
        .try_gql(
            &service_token(),
            &place_order_mutation(),
            json!({ "input": load_order(reference, client) }),
        )
        .await;
    match answer {
        Err(_) => {
            log.unanswered.push(reference.to_owned());
            None
        }
        Ok((status, body)) => {
            *log.statuses.entry(status).or_default() += 1;
            let payload = &body["data"]["placeOrder"];
            let ok = top_level_errors(&body).is_empty()
                && payload["userErrors"] == json!([])
                && payload["order"]["id"].is_string();
            if ok {
                Some(Acked {
                    reference: reference.to_owned(),
                    id: payload["order"]["id"].clone(),
                    number: str_of(&payload["order"]["number"], "order number").to_owned(),
                })
            } else {
                log.refused.push((reference.to_owned(), body));
                None
            }
        }
    }
}

/// `clients` load clients on `server`: the flag that stops them, the count of orders they got
/// acknowledged so far, and their logs to come.
fn start_load(
    server: &Arc<ServerProcess>,
    clients: usize,
    persist: bool,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    Vec<tokio::task::JoinHandle<LoadLog>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let acked_total = Arc::new(AtomicUsize::new(0));
    let handles = (0..clients)
        .map(|client| {
            tokio::spawn(load_client(
                server.clone(),
                client,
                stop.clone(),
                acked_total.clone(),
                persist,
            ))
        })
        .collect();
    (stop, acked_total, handles)
}

/// A client placing orders one after another until `stop`; with `persist`, an order without an
/// answer is sent again (same reference, as an integration retries) until it is acknowledged,
/// otherwise the client gives up at the first request without an answer.
async fn load_client(
    server: Arc<ServerProcess>,
    client: usize,
    stop: Arc<AtomicBool>,
    acked_total: Arc<AtomicUsize>,
    persist: bool,
) -> LoadLog {
    let mut log = LoadLog::default();
    let deadline = Instant::now() + Duration::from_secs(90);
    for n in 1.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let reference = format!("LOAD-{client}-{n}");
        loop {
            if let Some(acked) = place_once(&server, &reference, client, &mut log).await {
                log.acked.push(acked);
                acked_total.fetch_add(1, Ordering::SeqCst);
                break;
            }
            if !persist {
                if log.unanswered.last() == Some(&reference) {
                    return log;
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "client {client}: {reference} was not acknowledged within 90 s: {:#?}",
                log.refused.last()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    log
}

/// The order with this channelOrderRef as an agent reads it, with its lines, shipments (the
/// stock it holds), its ORDER_PLACED entries and its confirmations; Null when there is none.
async fn order_in_full(server: &ServerProcess, reference: &str) -> Value {
    let found = server
        .gql(
            &service_token(),
            "query($ref: String!) { orderByChannelRef(channel: WEB, channelOrderRef: $ref) { id } }",
            json!({ "ref": reference }),
        )
        .await;
    let id = expect_data(&found)["orderByChannelRef"]["id"].clone();
    if id.is_null() {
        return Value::Null;
    }
    let resp = server
        .gql(
            &agent_token(),
            "query($id: ID!) { order(id: $id) { id number status channelOrderRef
                lines { sku quantity quantityCancelled }
                shipments { status location { code } lines { quantity } }
                timeline(first: 20, kinds: [ORDER_PLACED]) { edges { node { kind order { id } } } } } }",
            json!({ "id": id }),
        )
        .await;
    expect_data(&resp)["order"].clone()
}

/// An order is whole: one line of one shirt, the shirt held by a shipment, one ORDER_PLACED.
#[track_caller]
fn assert_whole(order: &Value, what: &str) {
    let lines = order["lines"].as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 1, "{what}: one line:\n{}", pretty(order));
    assert_eq!(lines[0]["sku"], seed::SHIRT, "{what}");
    assert_eq!(lines[0]["quantity"], 1, "{what}");
    let held: i64 = order["shipments"]
        .as_array()
        .map(|shipments| {
            shipments
                .iter()
                .flat_map(|s| s["lines"].as_array().cloned().unwrap_or_default())
                .map(|l| l["quantity"].as_i64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(
        held,
        1,
        "{what}: its unit is reserved in a shipment:\n{}",
        pretty(order)
    );
    let placed = nodes(&order["timeline"]);
    assert_eq!(
        placed.len(),
        1,
        "{what}: one ORDER_PLACED on its timeline:\n{}",
        pretty(order)
    );
}

/// Reserved SKU-1 at WH-1, and onHand, as a service reads them through `server`.
async fn warehouse_stock(server: &ServerProcess) -> (i64, i64) {
    let resp = server
        .gql(
            &service_token(),
            "query { availability(skus: [\"SKU-1\"]) { locations { location { code } onHand reserved } } }",
            json!({}),
        )
        .await;
    let level = expect_data(&resp)["availability"][0]["locations"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["location"]["code"] == seed::WAREHOUSE))
        .cloned()
        .unwrap_or_else(|| panic!("no stock at WH-1: {}", pretty(&resp)));
    (
        level["onHand"].as_i64().unwrap_or(-1),
        level["reserved"].as_i64().unwrap_or(-1),
    )
}

/// How many orders exist at all: the orders of every customer.
async fn count_orders(server: &ServerProcess) -> i64 {
    let resp = server
        .gql(
            &agent_token(),
            "query { customers(first: 50) { totalCount edges { node { orders(first: 1) { totalCount } } } } }",
            json!({}),
        )
        .await;
    let customers = &expect_data(&resp)["customers"];
    assert!(
        customers["totalCount"].as_i64().unwrap_or(99) <= 50,
        "more customers than one page: {}",
        pretty(&resp)
    );
    nodes(customers)
        .iter()
        .map(|c| c["orders"]["totalCount"].as_i64().unwrap_or(0))
        .sum()
}

/// Waits until each of the orders (by id) has exactly one confirmation and it is SENT.
async fn wait_until_confirmed(server: &ServerProcess, ids: &[Value], within: Duration) {
    let deadline = Instant::now() + within;
    let mut pending: Vec<Value> = ids.to_vec();
    loop {
        let mut still = Vec::new();
        for id in &pending {
            let list = communications(server, id).await;
            let confirmations: Vec<&Value> =
                list.iter().filter(|c| c["kind"] == CONFIRMATION).collect();
            assert!(
                confirmations.len() <= 1,
                "order {id}: more than one confirmation recorded: {}",
                pretty(&json!(list))
            );
            if confirmations.len() != 1 || confirmations[0]["status"] != "SENT" {
                still.push((id.clone(), json!(list)));
            }
        }
        if still.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "{} of {} orders have no SENT confirmation after {within:?}, e.g. {}\n{}'s output:\n{}",
                still.len(),
                ids.len(),
                pretty(&still[0].1),
                server.name,
                server.log_tail()
            );
        }
        pending = still.into_iter().map(|(id, _)| id).collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn message_ids(mails: &[Mail]) -> Vec<String> {
    mails
        .iter()
        .map(|m| {
            m.message_id
                .clone()
                .unwrap_or_else(|| panic!("a message without a Message-ID: {:#?}", m.raw))
        })
        .collect()
}

// ---------------------------------------------------------------------- kill -9 under load

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_order_and_no_confirmation() {
    let started = Instant::now();
    let db = TestDatabase::create().await;
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let smtp = SmtpServer::start().await;
    let first = Arc::new(ServerProcess::start("first", db.url(), &smtp.url(), dir.path()).await);
    seed_catalogue(&first, 10_000).await;

    // Four clients place orders in a loop; after 30 acknowledgements the server is killed.
    const CLIENTS: usize = 4;
    let (stop, acked_total, clients) = start_load(&first, CLIENTS, false);
    let wait_from = Instant::now();
    while acked_total.load(Ordering::SeqCst) < 30 {
        assert!(
            wait_from.elapsed() < Duration::from_secs(40),
            "the load did not reach 30 orders in 40 s; first's output:\n{}",
            first.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // SIGKILL while the clients' requests are on their way.
    kill_by_pid(&first);
    let killed_at = Instant::now();
    stop.store(true, Ordering::SeqCst);
    let mut logs = Vec::new();
    for client in clients {
        logs.push(client.await.expect("a load client"));
    }
    // Reaped: nothing of it runs any more, so nothing more reaches the SMTP server from it.
    Arc::into_inner(first)
        .expect("the clients let the process go")
        .kill9();
    // What the process wrote before it died may still be in the SMTP server's socket: let the
    // server finish reading it before taking stock of what was accepted.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent_before_kill = smtp.received();
    let acked: Vec<Acked> = logs.iter().flat_map(|l| l.acked.clone()).collect();
    let unanswered: Vec<String> = logs.iter().flat_map(|l| l.unanswered.clone()).collect();
    for log in &logs {
        assert!(
            log.refused.is_empty(),
            "no order was refused before the kill: {:#?}",
            log.refused
        );
    }

    // The same database, a new process.
    let second = ServerProcess::start("second", db.url(), &smtp.url(), dir.path()).await;
    let mut ids = Vec::new();
    for order in &acked {
        let found = order_in_full(&second, &order.reference).await;
        assert!(
            found.is_object(),
            "acknowledged order {} ({}) is gone after the restart",
            order.number,
            order.reference
        );
        assert_eq!(found["id"], order.id, "{}", order.reference);
        assert_eq!(found["number"], order.number.as_str());
        assert_whole(&found, &order.reference);
        ids.push(found["id"].clone());
    }
    // An order whose answer the kill cut off is either whole or absent; sent again with the same
    // reference it is then placed (or found) exactly once.
    let mut committed_unanswered = 0;
    let mut log = LoadLog::default();
    for (i, reference) in unanswered.iter().enumerate() {
        let found = order_in_full(&second, reference).await;
        if found.is_object() {
            assert_whole(&found, reference);
            committed_unanswered += 1;
        }
        let client: usize = reference
            .split('-')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(i);
        let replay = place_once(&second, reference, client, &mut log)
            .await
            .unwrap_or_else(|| panic!("{reference} sent again: {:#?}", log.refused));
        if found.is_object() {
            assert_eq!(
                replay.id, found["id"],
                "{reference} is replayed, not placed again"
            );
        }
        ids.push(replay.id.clone());
    }
    let total = ids.len() as i64;
    assert_eq!(
        count_orders(&second).await,
        total,
        "no order exists besides those the clients placed"
    );
    let (on_hand, reserved) = warehouse_stock(&second).await;
    assert_eq!(
        (on_hand, reserved),
        (10_000, total),
        "stock reserved is the sum of the open orders' lines"
    );

    // The dispatcher resumed: a new order reaches a live subscription.
    let customer = second
        .gql(
            &agent_token(),
            "query($id: ID!) { order(id: $id) { customer { id } } }",
            json!({ "id": ids[0] }),
        )
        .await;
    let customer_id = expect_data(&customer)["order"]["customer"]["id"].clone();
    let mut ws = WsClient::connect_url(&second.base_url, Some(&agent_token())).await;
    ws.subscribe(
        "timeline",
        &format!(
            "subscription($customerId: ID!) {{ customerTimeline(customerId: $customerId) {{ {ENTRY_FIELDS} }} }}"
        ),
        json!({ "customerId": customer_id }),
    )
    .await;
    ws.settle().await;
    let client: usize = acked
        .first()
        .and_then(|a| a.reference.split('-').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let fresh = place_once(&second, "AFTER-RESTART-1", client, &mut log)
        .await
        .unwrap_or_else(|| panic!("an order after the restart: {:#?}", log.refused));
    let live_from = Instant::now();
    loop {
        let left = Duration::from_secs(15).saturating_sub(live_from.elapsed());
        let data = ws.expect_next("timeline", left).await;
        let entry = &data["customerTimeline"];
        if entry["kind"] == "ORDER_PLACED" && entry["order"]["id"] == fresh.id {
            break;
        }
    }
    ids.push(fresh.id.clone());
    ws.close().await;

    // Every order gets exactly one confirmation, the ones sent before the kill included.
    wait_until_confirmed(&second, &ids, Duration::from_secs(45)).await;
    // Longer than the claim (3 s) plus a poll: a message sent but not recorded would go again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let received = smtp.received();
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for id in message_ids(&received) {
        *copies.entry(id).or_default() += 1;
    }
    let before: BTreeSet<String> = message_ids(&sent_before_kill).into_iter().collect();
    let resent: Vec<&String> = copies
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    // The only duplicate window is between the SMTP server's acceptance and the record of it:
    // only the one message being sent at the kill may come twice, with its Message-ID.
    assert!(
        resent.len() <= 1
            && resent
                .iter()
                .all(|id| before.contains(*id) && copies[*id] == 2),
        "messages sent more than once: {resent:?} ({} accepted before the kill)",
        before.len()
    );
    assert_eq!(
        copies.len(),
        ids.len(),
        "one distinct message per order ({} orders, {} messages)",
        ids.len(),
        received.len()
    );
    let mut numbers = Vec::new();
    for id in &ids {
        let resp = second
            .gql(
                &agent_token(),
                "query($id: ID!) { order(id: $id) { number } }",
                json!({ "id": id }),
            )
            .await;
        numbers.push(str_of(&expect_data(&resp)["order"]["number"], "number").to_owned());
    }
    for number in &numbers {
        let about: BTreeSet<&str> = received
            .iter()
            .filter(|m| mentions(m.subject(), number))
            .filter_map(|m| m.message_id.as_deref())
            .collect();
        assert_eq!(
            about.len(),
            1,
            "order {number} has exactly one confirmation message"
        );
    }
    eprintln!(
        "kill -9 ({}): 1 kill after {} acknowledged orders ({} unanswered at the kill, {} of them \
         committed); {} orders found, 0 lost; {} messages before the kill, {} distinct after, {} \
         sent twice (same Message-ID); kill to all confirmed {:?}; test {:?}",
        if db.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        acked.len(),
        unanswered.len(),
        committed_unanswered,
        total,
        sent_before_kill.len(),
        copies.len(),
        resent.len(),
        killed_at.elapsed(),
        started.elapsed()
    );
}

/// SIGKILL by process id, for a process whose handle is shared with the clients.
fn kill_by_pid(process: &ServerProcess) {
    let status = std::process::Command::new("kill")
        .args(["-9", &process.pid().to_string()])
        .status()
        .expect("run kill -9");
    assert!(status.success(), "kill -9 {}", process.pid());
}

// ---------------------------------------------------------------------- SMTP outage

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_longer_than_several_retries_delivers_every_message_once() {
    let started = Instant::now();
    let smtp = SmtpServer::reserve();
    let url = smtp.url();
    let app = TestApp::spawn_with(|config| {
        config.smtp_url = Some(url);
        config.mail_retry_base = Duration::from_millis(100);
        config.mail_poll = Duration::from_millis(100);
        config.mail_max_attempts = 30;
    })
    .await;
    app.seed_catalog().await;

    // The SMTP listener is down (connections refused) while six orders are placed.
    let mut orders = Vec::new();
    for i in 1..=6 {
        orders.push(
            OrderBuilder::new()
                .customer_email(&format!("outage{i}@example.test"))
                .line(seed::TOTE, 1)
                .place_ok(&app)
                .await,
        );
    }
    // Down until every confirmation failed at least four times (100, 200 and 400 ms apart).
    let outage = Instant::now();
    let mut attempts = Vec::new();
    loop {
        attempts.clear();
        for order in &orders {
            let list = agent_communications(&app, &order["id"]).await;
            let confirmations: Vec<&Value> =
                list.iter().filter(|c| c["kind"] == CONFIRMATION).collect();
            assert!(confirmations.len() <= 1, "{}", pretty(&json!(list)));
            if let Some(c) = confirmations.first() {
                assert!(
                    c["status"] == "RETRYING" || c["status"] == "QUEUED",
                    "while SMTP is down a confirmation waits: {}",
                    pretty(c)
                );
                attempts.push(c["attempts"].as_i64().unwrap_or(0));
            } else {
                attempts.push(0);
            }
        }
        if attempts.iter().all(|a| *a >= 4) {
            break;
        }
        assert!(
            outage.elapsed() < Duration::from_secs(30),
            "the confirmations were not retried four times in 30 s: {attempts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two more orders meanwhile.
    for i in 7..=8 {
        orders.push(
            OrderBuilder::new()
                .customer_email(&format!("outage{i}@example.test"))
                .line(seed::TOTE, 1)
                .place_ok(&app)
                .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let down_for = outage.elapsed();
    assert!(
        smtp.received().is_empty(),
        "nothing was delivered while down"
    );

    // The listener comes back on the same port.
    smtp.resume().await;
    let back = Instant::now();
    smtp.wait_for(8, Duration::from_secs(30)).await;
    let delivered_in = back.elapsed();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut statuses;
    loop {
        statuses = Vec::new();
        for order in &orders {
            let list = agent_communications(&app, &order["id"]).await;
            let confirmations: Vec<Value> = list
                .into_iter()
                .filter(|c| c["kind"] == CONFIRMATION)
                .collect();
            assert_eq!(confirmations.len(), 1, "{}", pretty(&json!(confirmations)));
            statuses.push(confirmations[0].clone());
        }
        if statuses.iter().all(|c| c["status"] == "SENT") || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for c in &statuses {
        assert_eq!(c["status"], "SENT", "{}", pretty(c));
        assert!(c["sentAt"].is_string(), "{}", pretty(c));
    }
    // Several retry intervals (and a poll) later, still one copy of each.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = smtp.received();
    assert_eq!(received.len(), 8, "eight messages accepted");
    assert_eq!(
        smtp.attempts().len(),
        8,
        "eight messages handed to the SMTP server"
    );
    let distinct: BTreeSet<String> = message_ids(&received).into_iter().collect();
    assert_eq!(distinct.len(), 8, "eight distinct Message-IDs");
    for order in &orders {
        let number = str_of(&order["number"], "number");
        let about = received
            .iter()
            .filter(|m| mentions(m.subject(), number))
            .count();
        assert_eq!(about, 1, "order {number} is in exactly one message");
    }
    let most = statuses
        .iter()
        .map(|c| c["attempts"].as_i64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    eprintln!(
        "SMTP outage: listener down {down_for:?} (confirmations failed {attempts:?} times); \
         8 orders, 8 messages delivered {delivered_in:?} after it came back, 0 duplicates, \
         at most {most} attempts; test {:?}",
        started.elapsed()
    );
}

async fn agent_communications(app: &TestApp, order_id: &Value) -> Vec<Value> {
    let resp = app
        .as_agent(
            "query($id: ID!) { order(id: $id) { communications {
                id kind status attempts lastError sentAt } } }",
            json!({ "id": order_id }),
        )
        .await;
    expect_data(&resp)["order"]["communications"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("communications: {}", pretty(&resp)))
}

// ---------------------------------------------------------------------- PostgreSQL restart

/// A throwaway PostgreSQL of this test's own (as .ci/test starts one): initdb into a temporary
/// directory, listening on 127.0.0.1 on a free port; stopped and deleted when dropped.
struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    fn binaries() -> Option<PathBuf> {
        ["/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin"]
            .iter()
            .map(PathBuf::from)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    }

    async fn start() -> Option<OwnPostgres> {
        let bin = Self::binaries()?;
        let dir = tempfile::Builder::new()
            .prefix("touchpoint-pg-restart")
            .tempdir()
            .expect("a temporary directory");
        if is_root() {
            run(
                Path::new("/bin/chown"),
                &["postgres", &dir.path().display().to_string()],
                false,
            )
            .await;
        }
        let pg = OwnPostgres {
            bin,
            port: crate::crash::free_port(),
            dir,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"],
        )
        .await;
        pg.start_server().await;
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    async fn run(&self, tool: &str, args: &[&str]) {
        run(&self.bin.join(tool), args, is_root()).await;
    }

    async fn start_server(&self) {
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-w", "-o", &options, "start"],
        )
        .await;
    }

    async fn stop_server(&self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])
            .await;
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl").display().to_string();
        let data = self.data();
        let args = [pg_ctl.as_str(), "-D", &data, "-m", "immediate", "stop"];
        let mut command = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).args(args);
            c
        } else {
            let mut c = std::process::Command::new(args[0]);
            c.args(&args[1..]);
            c
        };
        let _ = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a command (as user postgres when `as_postgres`), asserting it succeeded.
async fn run(program: &Path, args: &[&str], as_postgres: bool) {
    let mut command = if as_postgres {
        let mut c = tokio::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        tokio::process::Command::new(program)
    };
    let output = command
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}\n{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// GET /readyz with a short timeout: the status, or None when it did not answer in time.
/// GET /readyz; None when no answer comes within 10 s (a probe's answer may be slow on a
/// loaded machine, but must come).
async fn readyz(server: &ServerProcess) -> Option<u16> {
    reqwest::Client::new()
        .get(format!("{}/readyz", server.base_url))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_loses_nothing_and_the_server_recovers_by_itself() {
    // It brings its own PostgreSQL, so it runs once: in the pass without a shared one.
    if std::env::var(POSTGRES_URL_ENV).is_ok_and(|u| !u.trim().is_empty()) {
        return;
    }
    let started = Instant::now();
    // Only for this test's share of the machine (see `TestApp::quietly`): an SQLite file.
    let _share = TestDatabase::create().await;
    let Some(pg) = OwnPostgres::start().await else {
        assert!(
            std::env::var("TOUCHPOINT_TEST_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "TOUCHPOINT_TEST_REQUIRE_POSTGRES=1 but initdb/pg_ctl were not found"
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "NOTE: the PostgreSQL restart test did not run: initdb/pg_ctl not found"
        );
        return;
    };
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let mail_dir = dir.path().join("mail").display().to_string();
    let shared = Arc::new(
        ServerProcess::start_with("server", &pg.url(), &["--mail-dir", &mail_dir], dir.path())
            .await,
    );
    seed_catalogue(&shared, 10_000).await;
    assert_eq!(readyz(&shared).await, Some(200), "ready before the restart");
    let server_pid = shared.pid();

    const CLIENTS: usize = 3;
    let (stop, acked_total, clients) = start_load(&shared, CLIENTS, true);
    while acked_total.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // PostgreSQL goes down (fast shutdown: sessions are cut) and stays down for a while.
    let acked_before = acked_total.load(Ordering::SeqCst);
    pg.stop_server().await;
    let down = Instant::now();
    let mut not_ready = None;
    while down.elapsed() < Duration::from_secs(3) {
        let asked = Instant::now();
        let status = readyz(&shared).await;
        assert_eq!(
            status,
            Some(503),
            "/readyz answers 503 (within 10 s) while the database is down; it took {:?}; output:\n{}",
            asked.elapsed(),
            shared.log_tail()
        );
        not_ready.get_or_insert(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !has_exited(&shared),
        "the server process stays up while the database is down"
    );
    pg.start_server().await;
    let up = Instant::now();
    let recovered = loop {
        if readyz(&shared).await == Some(200) {
            break up.elapsed();
        }
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "/readyz is not 200 again 30 s after the database came back; output:\n{}",
            shared.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Orders go through again.
    let acked_at_recovery = acked_total.load(Ordering::SeqCst);
    let resumed = Instant::now();
    while acked_total.load(Ordering::SeqCst) < acked_at_recovery + 10 {
        assert!(
            resumed.elapsed() < Duration::from_secs(30),
            "no orders placed after the database came back; output:\n{}",
            shared.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut logs = Vec::new();
    for client in clients {
        logs.push(client.await.expect("a load client"));
    }
    let mut server = Arc::into_inner(shared).expect("the clients let the server go");
    assert!(
        server.exited().is_none(),
        "the server process (pid {server_pid}) never exits; output:\n{}",
        server.log_tail()
    );

    // Every acknowledged order is there, once.
    let acked: Vec<Acked> = logs.iter().flat_map(|l| l.acked.clone()).collect();
    let mut refusal_codes: BTreeMap<String, usize> = BTreeMap::new();
    for log in &logs {
        assert!(
            log.unanswered.is_empty(),
            "every request got an answer: {:?}",
            log.unanswered
        );
        for (reference, body) in &log.refused {
            let codes = error_codes(body);
            assert!(
                user_errors_or_empty(body).is_empty() && codes.iter().all(|c| c == "INTERNAL"),
                "{reference}: while the database is down a request fails as INTERNAL only:\n{}",
                pretty(body)
            );
            for code in codes {
                *refusal_codes.entry(code).or_default() += 1;
            }
        }
    }
    for order in &acked {
        let found = order_in_full(&server, &order.reference).await;
        assert!(
            found.is_object(),
            "acknowledged order {} is gone",
            order.reference
        );
        assert_eq!(found["id"], order.id);
        assert_whole(&found, &order.reference);
    }
    let total = acked.len() as i64;
    assert_eq!(
        count_orders(&server).await,
        total,
        "one order per reference"
    );
    assert_eq!(warehouse_stock(&server).await, (10_000, total));
    let statuses: BTreeMap<u16, usize> = logs.iter().fold(BTreeMap::new(), |mut all, l| {
        for (status, n) in &l.statuses {
            *all.entry(*status).or_default() += n;
        }
        all
    });
    eprintln!(
        "PostgreSQL restart: 1 stop (-m fast) for {:?}, /readyz 503 within {:?}, 200 again {recovered:?} \
         after the start; {acked_before} orders acknowledged before the stop, {total} in all, all \
         {total} found, 0 lost; answers by HTTP status {statuses:?}, failures {refusal_codes:?}; \
         test {:?}",
        up.duration_since(down),
        not_ready.unwrap_or_default(),
        started.elapsed()
    );
    server.kill9();
    drop(pg);
}

fn user_errors_or_empty(body: &Value) -> Vec<Value> {
    body["data"]["placeOrder"]["userErrors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Whether a shared server process has exited, by its pid (it is the test's child: until it
/// is reaped, an exited one is a zombie).
fn has_exited(process: &ServerProcess) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", process.pid()));
    match stat {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

// ---------------------------------------------------------------------- a write lock held

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_wait_out_a_write_lock_on_the_database_and_succeed() {
    let app = TestApp::spawn().await;
    app.seed_catalog().await;
    const HOLD: Duration = Duration::from_secs(2);

    let lock = app.hold_writes().await;
    let locked_at = Instant::now();
    let holder = tokio::spawn(async move {
        tokio::time::sleep(HOLD).await;
        lock.commit().await.expect("release the lock");
        Instant::now()
    });

    let orders: Vec<OrderBuilder> = (1..=3)
        .map(|i| {
            OrderBuilder::new()
                .customer_email(&format!("locked{i}@example.test"))
                .line(seed::SHIRT, 1)
        })
        .collect();
    let placing = join_all(orders.iter().map(|o| async {
        let resp = o.place(&app).await;
        (resp, locked_at.elapsed())
    }));
    let restock = async {
        let resp = app
            .as_service(
                "mutation { setStockLevel(input: { locationCode: \"WH-1\", sku: \"SKU-2\", onHand: 77 }) {
                    stockLevel { onHand } userErrors { code message } } }",
                json!({}),
            )
            .await;
        (resp, locked_at.elapsed())
    };
    let (placed, (restocked, restock_took)) = futures_util::join!(placing, restock);
    let released = holder.await.expect("the lock holder");
    let held = released.duration_since(locked_at);

    let mut took = Vec::new();
    for (resp, elapsed) in &placed {
        let order = expect_ok(resp, "placeOrder");
        assert!(order["order"]["id"].is_string(), "{}", pretty(resp));
        took.push(*elapsed);
    }
    assert_eq!(
        expect_ok(&restocked, "setStockLevel")["stockLevel"]["onHand"],
        77
    );
    took.push(restock_took);
    for elapsed in &took {
        assert!(
            *elapsed + Duration::from_millis(200) >= held,
            "a mutation finished ({elapsed:?}) before the lock was released ({held:?}): it did not wait"
        );
    }
    let stock = app.stock_at(seed::WAREHOUSE, seed::SHIRT).await;
    let reserved_total: i64 = app
        .stock_snapshot(&[seed::SHIRT])
        .await
        .values()
        .map(|s| s.reserved)
        .sum();
    assert_eq!(reserved_total, 3, "three shirts reserved: {stock:?}");
    eprintln!(
        "write lock ({}): held {held:?}; 4 mutations sent meanwhile, 4 succeeded after \
         {took:?}, 0 errors",
        if app.is_postgres() {
            "PostgreSQL EXCLUSIVE"
        } else {
            "SQLite BEGIN IMMEDIATE"
        }
    );
}
