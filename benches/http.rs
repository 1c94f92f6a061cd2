//! HTTP load benchmark (issue 8, scenarios 1, 2, 3 and 6): closed-loop clients over loopback
//! against the release server, run as a separate process on a fresh database.
//!
//! 1. **Customer orders read**: an agent reads one customer with 5 orders (their lines, totals,
//!    shipments and shipment lines); the same with 50 orders per customer ("1 (50 orders)").
//! 2. **Customer self-service read**: `me { orders(first: 10) { … shipments { events … } } }`
//!    with the customer's own token.
//! 3. **Order intake**: `placeOrder` (routing, reservations, the event row, all in one
//!    transaction) with 8 clients, on SQLite and, when a PostgreSQL URL is given, on PostgreSQL.
//! 6. **Ceiling**: `POST /bench/fixed` of the same server (mounted by the hidden flag
//!    `--bench-fixed-response-bytes`), a fixed JSON body of the size of scenario 1's response,
//!    through the same HTTP layers but without GraphQL or the database. Scenario 1 is reported as
//!    a fraction of it.
//!
//! Load: exactly C HTTP/1.1 keep-alive connections (hyper), one task per connection, each
//! sending its next request as soon as the previous answer is read (closed loop). Each
//! measurement opens its connections, warms up (`--warmup`, not counted), then counts for
//! `--duration`: the requests that finished inside that window, each latency recorded (from just
//! before the request is written to the last byte of the answer), sorted, nearest-rank p50/p99. Measurements are interleaved: round 1 of every (scenario,
//! connections), then round 2, …, and the table shows the median of the rounds, so a burst of
//! load from something else on the machine does not land on one scenario only.
//!
//! The read dataset is seeded over the API (service token, concurrent requests): a warehouse and
//! two stores, 12 products with stock, `--customers` customers with 5 orders each and
//! `--big-customers` with 50 orders each (`placeOrder`; every other order holds a store-only
//! product and so ships in two shipments), 3 orders of every 5 dispatched with a carrier and a
//! tracking number, and one of those with an IN_TRANSIT carrier event. Requests rotate over the
//! customers. Every read response is checked: its size must equal the size of the response that
//! was validated field by field before the load (same customer), and it must carry no
//! `"errors"`; every placeOrder answer is parsed and must have an order and no userErrors.
//!
//! The server then stops and starts again on the same SQLite file with the ceiling route mounted
//! (its size is only known once the data exist). SQL statements per request for scenarios 1 and
//! 2 come from the server's `touchpoint_db_statements_total` (/metrics) around sequential
//! requests. Order intake runs on servers of its own (fresh databases); after each intake
//! measurement the bench waits until the server is idle again (the email outbox renders the
//! confirmations), and reports that time too.
//!
//! ```sh
//! cargo bench --bench http                                  # 3 rounds × 5 s per measurement
//! cargo bench --bench http -- --smoke                       # 1 round × 1 s, small data; CI
//! cargo bench --bench http -- --postgres-url postgres://postgres@127.0.0.1:5432/postgres
//! cargo bench --bench http -- --scenarios 1,6 --connections 10 --rounds 5 --duration 10
//! ```
//!
//! PostgreSQL: `--postgres-url URL` or TOUCHPOINT_BENCH_POSTGRES_URL names a server where the
//! bench may create (and afterwards drop) a database of its own; without it the PostgreSQL
//! intake is skipped and the report says so.
//!
//! The exit status is non-zero when any request fails (transport error, a status other than
//! 200, a GraphQL error, a userError, a response of the wrong size) or when the setup fails.
//! Only 127.0.0.1 (and the PostgreSQL URL given) is contacted; the servers are killed at the
//! end, also on failure (Drop guards).

#[path = "common/mod.rs"]
mod common;
use common::api::{mutate, set_stock_level, upsert_location, upsert_product};
use common::median_of as median;
use common::queries::CUSTOMER_ORDERS_QUERY;
use common::server::{JWT_SECRET, Server, TICKS_PER_SECOND, cpu_ticks, loadavg, server_binary};
use common::stats::percentiles;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use touchpoint::auth::{Role, mint_token};

const AGENT: &str = "bench-agent";
const STATEMENTS: &str = "touchpoint_db_statements_total";
/// Products the warehouse holds (and the stores do not).
const WAREHOUSE_SKUS: [&str; 8] = [
    "BENCH-A1", "BENCH-A2", "BENCH-A3", "BENCH-A4", "BENCH-A5", "BENCH-A6", "BENCH-A7", "BENCH-A8",
];
/// Products only the stores hold: an order with one of them ships in two shipments.
const STORE_SKUS: [&str; 4] = ["BENCH-B1", "BENCH-B2", "BENCH-B3", "BENCH-B4"];
/// Customers intake orders are placed for (the first order of each creates it).
const INTAKE_CUSTOMERS: u64 = 1_000;

const SELF_SERVICE_QUERY: &str = "query { me {
    id firstName
    orders(first: 10) { edges { node {
        id number status placedAt
        lines { sku name quantity total { amount currencyCode } }
        totals { total { amount currencyCode } }
        shipments { status carrier trackingNumber trackingUrl estimatedDeliveryDate
            lines { quantity line { sku } }
            events { status occurredAt description location } }
    } } } } }";

const PLACE_ORDER: &str = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
    replayed order { id number status shipments { id status } } userErrors { field code message } } }";

// ------------------------------------------------------------------------------------ options

#[derive(Clone, Debug)]
struct Options {
    smoke: bool,
    connections: Vec<usize>,
    intake_clients: usize,
    rounds: usize,
    duration: Duration,
    warmup: Duration,
    customers: usize,
    big_customers: usize,
    scenarios: Vec<String>,
    postgres_url: Option<String>,
    server_bin: Option<PathBuf>,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut o = Options {
            smoke: false,
            connections: vec![1, 10, 64],
            intake_clients: 8,
            rounds: 3,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            customers: 200,
            big_customers: 10,
            scenarios: vec!["1".into(), "2".into(), "3".into(), "6".into()],
            postgres_url: std::env::var("TOUCHPOINT_BENCH_POSTGRES_URL")
                .ok()
                .filter(|u| !u.trim().is_empty()),
            server_bin: None,
        };
        let (mut rounds, mut duration, mut warmup, mut customers, mut big) =
            (None, None, None, None, None);
        let mut args = std::env::args().skip(1);
        let number = |name: &str, value: Option<String>| -> Result<usize, String> {
            let value = value.ok_or_else(|| format!("{name} needs a value"))?;
            value
                .replace('_', "")
                .parse::<usize>()
                .map_err(|e| format!("{name} {value}: {e}"))
        };
        let seconds = |name: &str, value: Option<String>| -> Result<Duration, String> {
            let value = value.ok_or_else(|| format!("{name} needs a value in seconds"))?;
            value
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("{name} {value}: not a positive number of seconds"))
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--smoke" => o.smoke = true,
                "--connections" => {
                    let value = args
                        .next()
                        .ok_or("--connections needs a value, e.g. 1,10,64")?;
                    o.connections = value
                        .split(',')
                        .map(|s| s.trim().parse::<usize>())
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("--connections {value}: {e}"))?;
                }
                "--intake-clients" => o.intake_clients = number(&arg, args.next())?,
                "--rounds" => rounds = Some(number(&arg, args.next())?),
                "--duration" => duration = Some(seconds(&arg, args.next())?),
                "--warmup" => warmup = Some(seconds(&arg, args.next())?),
                "--customers" => customers = Some(number(&arg, args.next())?),
                "--big-customers" => big = Some(number(&arg, args.next())?),
                "--scenarios" => {
                    let value = args
                        .next()
                        .ok_or("--scenarios needs a value, e.g. 1,2,3,6")?;
                    o.scenarios = value.split(',').map(|s| s.trim().to_owned()).collect();
                    if let Some(bad) = o
                        .scenarios
                        .iter()
                        .find(|s| !["1", "2", "3", "6"].contains(&s.as_str()))
                    {
                        return Err(format!("--scenarios: no scenario {bad:?} (1, 2, 3, 6)"));
                    }
                }
                "--postgres-url" => {
                    o.postgres_url = Some(args.next().ok_or("--postgres-url needs a URL")?)
                }
                "--server-bin" => {
                    o.server_bin = Some(args.next().ok_or("--server-bin needs a path")?.into())
                }
                // cargo passes --bench to harness = false benches.
                "--bench" => {}
                "-h" | "--help" => {
                    println!(
                        "usage: cargo bench --bench http -- [--smoke] [--scenarios 1,2,3,6] \
                         [--connections 1,10,64] [--intake-clients 8] [--rounds 3] [--duration 5] \
                         [--warmup 1] [--customers 200] [--big-customers 10] \
                         [--postgres-url URL] [--server-bin PATH]"
                    );
                    std::process::exit(0);
                }
                other => eprintln!("note: ignoring argument {other:?}"),
            }
        }
        let smoke = o.smoke;
        o.rounds = rounds.unwrap_or(if smoke { 1 } else { 3 });
        o.duration = duration.unwrap_or(Duration::from_secs(if smoke { 1 } else { 5 }));
        o.warmup = warmup.unwrap_or(Duration::from_millis(if smoke { 300 } else { 1000 }));
        o.customers = customers.unwrap_or(if smoke { 20 } else { 200 });
        o.big_customers = big.unwrap_or(if smoke { 2 } else { 10 });
        o.connections.retain(|&c| c > 0);
        o.connections.sort_unstable();
        o.connections.dedup();
        if o.connections.is_empty()
            || o.rounds == 0
            || o.customers == 0
            || o.big_customers == 0
            || o.intake_clients == 0
        {
            return Err(
                "connections, rounds, customers, big customers and intake clients must be positive"
                    .into(),
            );
        }
        Ok(o)
    }

    fn runs(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

// ------------------------------------------------------------------------------------ PostgreSQL

/// A database of the bench's own on the PostgreSQL server of `--postgres-url`, dropped at the end.
struct PostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    async fn create(admin_url: &str) -> Result<PostgresDatabase, String> {
        use sea_orm::ConnectionTrait as _;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("tp_bench_{}_{nanos}", std::process::id());
        let admin = sea_orm::Database::connect(admin_url)
            .await
            .map_err(|e| format!("connect to {admin_url}: {e}"))?;
        admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await
            .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        let _ = admin.close().await;
        let url = touchpoint::db::with_database_name(admin_url, &name);
        Ok(PostgresDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Best effort, on a thread of its own: Drop cannot await (and may run inside a runtime).
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                use sea_orm::ConnectionTrait as _;
                let admin = sea_orm::Database::connect(admin_url).await.ok()?;
                let _ = admin
                    .execute_unprepared(&format!(
                        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                    ))
                    .await;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

// ------------------------------------------------------------------------------------ seeding

fn ship_to() -> Value {
    json!({
        "name": "Bench Customer",
        "line1": "Damrak 1",
        "city": "Amsterdam",
        "postalCode": "1012 LG",
        "countryCode": "NL",
        "location": { "latitude": 52.376, "longitude": 4.895 },
    })
}

/// A warehouse near Rotterdam holding the A products, two stores (Amsterdam, Utrecht) holding
/// the B products; a million of each, so intake never runs out.
async fn seed_catalog(http: &reqwest::Client, base: &str, service: &str) -> Result<(), String> {
    let locations = [
        ("BENCH-WH", "WAREHOUSE", 51.92, 4.48, false),
        ("BENCH-ST1", "STORE", 52.37, 4.90, true),
        ("BENCH-ST2", "STORE", 52.09, 5.12, true),
    ];
    for (code, kind, latitude, longitude, store) in locations {
        upsert_location(
            http,
            base,
            service,
            json!({ "code": code, "name": format!("Bench {code}"), "kind": kind,
                    "location": { "latitude": latitude, "longitude": longitude },
                    "pickupPoint": store, "returnPoint": store,
                    "shippingCost": { "amount": "4.95", "currencyCode": "EUR" },
                    "handlingDays": 1 }),
        )
        .await?;
    }
    let products = WAREHOUSE_SKUS
        .iter()
        .map(|sku| (*sku, "BENCH-WH"))
        .chain(STORE_SKUS.iter().map(|sku| (*sku, "BENCH-ST1")))
        .chain(STORE_SKUS.iter().map(|sku| (*sku, "BENCH-ST2")));
    for (i, (sku, location)) in products.enumerate() {
        if location != "BENCH-ST2" {
            upsert_product(
                http,
                base,
                service,
                json!({ "sku": sku, "name": format!("Bench product {sku}"), "returnable": true,
                        "price": { "amount": format!("{}.90", 9 + i * 3), "currencyCode": "EUR" } }),
            )
            .await?;
        }
        set_stock_level(http, base, service, location, sku, 1_000_000).await?;
    }
    Ok(())
}

/// The lines of order `k` of customer `c`: two warehouse products, and on every other order a
/// store product too (two shipments).
fn order_lines(c: usize, k: usize) -> Value {
    let mut lines = vec![
        json!({ "sku": WAREHOUSE_SKUS[(c + k) % WAREHOUSE_SKUS.len()], "quantity": 1 }),
        json!({ "sku": WAREHOUSE_SKUS[(c + k + 3) % WAREHOUSE_SKUS.len()], "quantity": 2 }),
    ];
    if k.is_multiple_of(2) {
        lines.push(json!({ "sku": STORE_SKUS[(c + k) % STORE_SKUS.len()], "quantity": 1 }));
    }
    Value::Array(lines)
}

/// Places `orders` orders for a new customer (`label` makes its email unique), dispatches the
/// shipments of 3 orders in 5 and gives the first of every 5 an IN_TRANSIT carrier event.
/// Returns the customer's global ID.
async fn seed_customer(
    http: &reqwest::Client,
    base: &str,
    service: &str,
    label: &str,
    c: usize,
    orders: usize,
) -> Result<String, String> {
    let mut customer_id = None;
    let occurred_at = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    for k in 0..orders {
        let input = json!({
            "channel": if k % 3 == 2 { "APP" } else { "WEB" },
            "channelOrderRef": format!("{label}-{c}-{k}"),
            "customer": { "email": format!("{label}-{c}@example.test"),
                          "firstName": "Bench", "lastName": format!("Customer {c}") },
            "lines": order_lines(c, k),
            "delivery": { "method": "SHIP_TO_ADDRESS", "address": ship_to() },
        });
        let payload = mutate(
            http,
            base,
            service,
            "placeOrder",
            "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
                order { id customer { id } shipments { id } } userErrors { field code message } } }",
            input,
        )
        .await?;
        let order = &payload["order"];
        customer_id = order["customer"]["id"].as_str().map(str::to_owned);
        if k % 5 >= 3 {
            continue;
        }
        let shipments = order["shipments"].as_array().cloned().unwrap_or_default();
        for (s, shipment) in shipments.iter().enumerate() {
            let tracking = format!("BENCH{label}{c}X{k}X{s}").replace('-', "");
            mutate(
                http,
                base,
                service,
                "updateShipmentStatus",
                "mutation($input: UpdateShipmentStatusInput!) { updateShipmentStatus(input: $input) {
                    shipment { id status } userErrors { field code message } } }",
                json!({ "shipmentId": shipment["id"], "status": "DISPATCHED", "carrier": "PostNL",
                        "trackingNumber": tracking,
                        "trackingUrl": format!("https://track.example.test/{tracking}") }),
            )
            .await?;
            if k % 5 == 0 {
                mutate(
                    http,
                    base,
                    service,
                    "recordTrackingEvent",
                    "mutation($input: RecordTrackingEventInput!) { recordTrackingEvent(input: $input) {
                        shipment { id status } userErrors { field code message } } }",
                    json!({ "carrier": "PostNL", "trackingNumber": tracking, "status": "IN_TRANSIT",
                            "occurredAt": occurred_at, "description": "Sorted at the hub",
                            "location": "Nieuwegein" }),
                )
                .await?;
            }
        }
    }
    customer_id.ok_or_else(|| format!("no customer id for {label}-{c}"))
}

/// Seeds `count` customers with `orders` orders each, 8 customers at a time.
async fn seed_customers(
    http: &reqwest::Client,
    base: &str,
    service: &str,
    label: &str,
    count: usize,
    orders: usize,
) -> Result<Vec<String>, String> {
    let results: Vec<Result<String, String>> = futures_util::stream::iter(0..count)
        .map(|c| seed_customer(http, base, service, label, c, orders))
        .buffered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

// ------------------------------------------------------------------------------------ requests

/// One prepared request: its JSON body, its bearer token and the size its answer must have.
#[derive(Clone)]
struct Call {
    body: Bytes,
    authorization: HeaderValue,
    expected_len: usize,
}

fn bearer(token: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| format!("token header: {e}"))
}

/// What a load sends: prepared reads (rotated), or fresh placeOrder inputs.
enum Work {
    Reads(Vec<Call>),
    Intake {
        authorization: HeaderValue,
        prefix: String,
        next: AtomicU64,
    },
}

struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    path: &'static str,
    work: Work,
}

impl Target {
    fn new(addr: SocketAddr, path: &'static str, work: Work) -> Result<Target, String> {
        Ok(Target {
            addr,
            host: HeaderValue::from_str(&addr.to_string()).map_err(|e| format!("host: {e}"))?,
            path,
            work,
        })
    }
}

/// The JSON body of placeOrder number `n` of an intake run.
fn intake_body(prefix: &str, n: u64) -> Bytes {
    let c = n % INTAKE_CUSTOMERS;
    let k = (n / INTAKE_CUSTOMERS) as usize;
    let body = json!({
        "query": PLACE_ORDER,
        "variables": { "input": {
            "channel": "WEB",
            "channelOrderRef": format!("{prefix}-{n}"),
            "customer": { "email": format!("intake-{c}@example.test"), "firstName": "Intake" },
            "lines": order_lines(c as usize, k + c as usize),
            "delivery": { "method": "SHIP_TO_ADDRESS", "address": ship_to() },
        } },
    });
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// Why an answer is not what it should be; None when it is.
fn check_read(status: hyper::StatusCode, body: &[u8], expected_len: usize) -> Option<String> {
    if status != hyper::StatusCode::OK {
        return Some(format!("status {status}: {}", snippet(body)));
    }
    if memchr::memmem::find(body, br#""errors":"#).is_some() {
        return Some(format!("GraphQL errors: {}", snippet(body)));
    }
    if body.len() != expected_len {
        return Some(format!(
            "{} bytes where the validated answer had {expected_len}: {}",
            body.len(),
            snippet(body)
        ));
    }
    None
}

fn check_intake(status: hyper::StatusCode, body: &[u8]) -> Option<String> {
    if status != hyper::StatusCode::OK {
        return Some(format!("status {status}: {}", snippet(body)));
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Some(format!("not JSON: {}", snippet(body)));
    };
    let payload = &v["data"]["placeOrder"];
    let clean = v.get("errors").is_none_or(Value::is_null)
        && payload["order"]["id"].is_string()
        && payload["replayed"] == false
        && payload["userErrors"].as_array().is_some_and(Vec::is_empty);
    (!clean).then(|| format!("placeOrder: {}", snippet(body)))
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
    if body.len() > 400 {
        format!("{text}…")
    } else {
        text
    }
}

// ------------------------------------------------------------------------------------ load

/// What one connection measured.
#[derive(Default)]
struct ClientResult {
    /// Latencies (ms) of the requests that finished in the measured window.
    latencies: Vec<f64>,
    failures: usize,
    first_failure: Option<String>,
}

impl ClientResult {
    fn fail(&mut self, what: String) {
        self.failures += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(what);
        }
    }
}

/// One closed-loop client on its own HTTP/1.1 connection, until `stop`.
async fn client(
    target: Arc<Target>,
    index: usize,
    measure_from: Instant,
    stop: Instant,
) -> ClientResult {
    let mut result = ClientResult::default();
    let stream = match TcpStream::connect(target.addr).await {
        Ok(s) => s,
        Err(e) => {
            result.fail(format!("connect: {e}"));
            return result;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(e) => {
                result.fail(format!("HTTP handshake: {e}"));
                return result;
            }
        };
    let connection = tokio::spawn(connection);
    // Each client starts at another place in the rotation.
    let mut n = index * 7_919;
    loop {
        if Instant::now() >= stop {
            break;
        }
        let (body, authorization, expected_len) = match &target.work {
            Work::Reads(calls) => {
                let call = &calls[n % calls.len()];
                (
                    call.body.clone(),
                    call.authorization.clone(),
                    Some(call.expected_len),
                )
            }
            Work::Intake {
                authorization,
                prefix,
                next,
            } => (
                intake_body(prefix, next.fetch_add(1, Ordering::Relaxed)),
                authorization.clone(),
                None,
            ),
        };
        n += 1;
        let request = hyper::Request::post(target.path)
            .header(HOST, target.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(AUTHORIZATION, authorization)
            .body(Full::new(body));
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                result.fail(format!("request: {e}"));
                break;
            }
        };
        if let Err(e) = sender.ready().await {
            result.fail(format!("connection lost: {e}"));
            break;
        }
        let started = Instant::now();
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                result.fail(format!("send: {e}"));
                break;
            }
        };
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                result.fail(format!("read the answer: {e}"));
                break;
            }
        };
        let done = Instant::now();
        let problem = match expected_len {
            Some(len) => check_read(status, &body, len),
            None => check_intake(status, &body),
        };
        if let Some(problem) = problem {
            result.fail(problem);
        } else if done >= measure_from && done <= stop {
            result.latencies.push((done - started).as_secs_f64() * 1e3);
        }
    }
    drop(sender);
    connection.abort();
    result
}

/// One measurement's figures.
#[derive(Clone, Copy, Default)]
struct Sample {
    requests: usize,
    per_second: f64,
    p50: f64,
    p99: f64,
    /// Server CPU seconds per wall second in the window (1.0 = one core busy).
    server_cores: f64,
    /// This process's CPU seconds per wall second (the clients).
    bench_cores: f64,
    /// Intake: how long the server stayed busy after the load (the email outbox); seconds.
    settle: f64,
}

/// Runs `connections` clients against `target` for warm-up + duration.
async fn measure(
    target: &Arc<Target>,
    server: &Server,
    connections: usize,
    options: &Options,
) -> (Sample, usize, Option<String>) {
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + options.warmup;
    let stop = measure_from + options.duration;
    let clients: Vec<_> = (0..connections)
        .map(|i| tokio::spawn(client(target.clone(), i, measure_from, stop)))
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let (server_before, bench_before) = (server.cpu_ticks(), cpu_ticks("self"));
    let window_start = Instant::now();
    tokio::time::sleep_until(stop.into()).await;
    let (server_after, bench_after) = (server.cpu_ticks(), cpu_ticks("self"));
    let window = window_start.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    let mut failures = 0;
    let mut first_failure = None;
    for handle in clients {
        match handle.await {
            Ok(r) => {
                latencies.extend(r.latencies);
                failures += r.failures;
                if first_failure.is_none() {
                    first_failure = r.first_failure;
                }
            }
            Err(e) => {
                failures += 1;
                first_failure.get_or_insert_with(|| format!("client task: {e}"));
            }
        }
    }
    let cores = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) => a.saturating_sub(b) as f64 / TICKS_PER_SECOND / window,
        _ => f64::NAN,
    };
    let requests = latencies.len();
    let p = percentiles(latencies);
    let sample = Sample {
        requests,
        per_second: requests as f64 / options.duration.as_secs_f64(),
        p50: p.p50,
        p99: p.p99,
        server_cores: cores(server_before, server_after),
        bench_cores: cores(bench_before, bench_after),
        settle: f64::NAN,
    };
    (sample, failures, first_failure)
}

// ------------------------------------------------------------------------------------ plan

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    CustomerOrders,
    CustomerOrders50,
    SelfService,
    Ceiling,
    IntakeSqlite,
    IntakePostgres,
}

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::CustomerOrders => "1 customer orders (5 orders)",
            Scenario::CustomerOrders50 => "1 customer orders (50 orders)",
            Scenario::SelfService => "2 self-service `me` (first: 10)",
            Scenario::Ceiling => "6 ceiling (fixed body)",
            Scenario::IntakeSqlite => "3 order intake, SQLite",
            Scenario::IntakePostgres => "3 order intake, PostgreSQL",
        }
    }

    fn is_intake(self) -> bool {
        matches!(self, Scenario::IntakeSqlite | Scenario::IntakePostgres)
    }
}

struct Measurement {
    scenario: Scenario,
    connections: usize,
    target: Arc<Target>,
    /// Index into the servers.
    server: usize,
    samples: Vec<Sample>,
    failures: usize,
    first_failure: Option<String>,
}

// ------------------------------------------------------------------------------------ main

fn main() {
    common::server::run_to_exit(Options::parse(), run);
}

/// What the reads were validated with, per customer: the prepared calls.
struct ReadCalls {
    customer_orders: Vec<Call>,
    customer_orders_50: Vec<Call>,
    self_service: Vec<Call>,
}

async fn run(options: Options) -> Result<i32, String> {
    let command = common::invocation("http");
    let bin = server_binary(options.server_bin.as_deref())?;
    let started = Instant::now();
    let elapsed = || started.elapsed().as_secs_f64();

    println!(
        "# HTTP load benchmark ({})",
        if options.smoke { "smoke" } else { "full" }
    );
    println!();
    println!("command: `{command}`");
    println!("server: {} serve --no-demo", bin.display());
    println!(
        "machine: {} cores, load average {} at the start",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    println!(
        "plan: scenarios {:?}; connections {:?} (intake: {}); {} round(s) × ({:.1} s warm-up + {:.1} s); \
         {} customers × 5 orders, {} × 50 orders",
        options.scenarios,
        options.connections,
        options.intake_clients,
        options.rounds,
        options.warmup.as_secs_f64(),
        options.duration.as_secs_f64(),
        options.customers,
        options.big_customers
    );
    println!();

    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(16)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let ttl = Duration::from_secs(4 * 3600);
    let service = mint_token(JWT_SECRET, Role::Service, "bench", ttl);
    let agent = mint_token(JWT_SECRET, Role::Agent, AGENT, ttl);

    let reads_wanted = options.runs("1") || options.runs("2") || options.runs("6");
    let mut servers: Vec<(String, Server)> = Vec::new();
    let mut measurements: Vec<Measurement> = Vec::new();
    let mut statements: Vec<StatementCount> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let data_dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let mut fixed_bytes = 0usize;

    if reads_wanted {
        // ---- the read dataset, on a server without the ceiling route
        let db_url = format!(
            "sqlite://{}?mode=rwc",
            data_dir.path().join("reads.db").display()
        );
        eprintln!("[{:>6.1}s] reads: starting a server, seeding", elapsed());
        let seeding = Server::start_with(&bin, &http, Some(&db_url), &[]).await?;
        let seeded_at = Instant::now();
        let seed = async {
            seed_catalog(&http, &seeding.base, &service).await?;
            let small =
                seed_customers(&http, &seeding.base, &service, "c5", options.customers, 5).await?;
            let big = seed_customers(
                &http,
                &seeding.base,
                &service,
                "c50",
                options.big_customers,
                50,
            )
            .await?;
            Ok::<_, String>((small, big))
        };
        let (small, big) = seed
            .await
            .map_err(|e| format!("seeding: {e}\nserver log:\n{}", seeding.log_tail(20)))?;
        let orders = options.customers * 5 + options.big_customers * 50;
        eprintln!(
            "[{:>6.1}s] reads: {orders} orders seeded in {:.1} s ({:.0} orders/s with their dispatches)",
            elapsed(),
            seeded_at.elapsed().as_secs_f64(),
            orders as f64 / seeded_at.elapsed().as_secs_f64()
        );
        let calls = prepare_reads(&http, &seeding, &agent, &small, &big).await?;
        fixed_bytes = median(
            calls
                .customer_orders
                .iter()
                .map(|c| c.expected_len as f64)
                .collect(),
        )
        .round() as usize;
        // The outbox renders the seeded orders' emails; let it finish before the restart.
        if seeding
            .settle(0.1, Duration::from_secs(180))
            .await
            .is_none()
        {
            notes.push("the seeding server was still busy 180 s after seeding".into());
        }
        drop(seeding);

        // ---- the same database, served with the ceiling route mounted
        let reads = Server::start_with(
            &bin,
            &http,
            Some(&db_url),
            &[
                "--bench-fixed-response-bytes".into(),
                fixed_bytes.to_string(),
            ],
        )
        .await?;
        eprintln!(
            "[{:>6.1}s] reads: restarted with POST /bench/fixed = {fixed_bytes} bytes",
            elapsed()
        );
        check_fixed(&http, &reads, fixed_bytes).await?;
        statements = count_statements(&http, &reads, &calls, &options).await?;

        let index = servers.len();
        let addr = reads.addr;
        servers.push(("reads".into(), reads));
        let mut add = |scenario: Scenario, path: &'static str, calls: &Vec<Call>| {
            let target = Arc::new(Target::new(addr, path, Work::Reads(calls.clone()))?);
            for &connections in &options.connections {
                measurements.push(Measurement {
                    scenario,
                    connections,
                    target: target.clone(),
                    server: index,
                    samples: Vec::new(),
                    failures: 0,
                    first_failure: None,
                });
            }
            Ok::<_, String>(())
        };
        if options.runs("1") {
            add(Scenario::CustomerOrders, "/graphql", &calls.customer_orders)?;
            add(
                Scenario::CustomerOrders50,
                "/graphql",
                &calls.customer_orders_50,
            )?;
        }
        if options.runs("2") {
            add(Scenario::SelfService, "/graphql", &calls.self_service)?;
        }
        // Scenario 1 is reported as a fraction of the ceiling: measured whenever 1 or 6 runs.
        let fixed: Vec<Call> = calls
            .customer_orders
            .iter()
            .map(|c| Call {
                expected_len: fixed_bytes,
                ..c.clone()
            })
            .collect();
        if options.runs("1") || options.runs("6") {
            add(Scenario::Ceiling, "/bench/fixed", &fixed)?;
        }
    }

    // ---- order intake, each on a fresh database of its own
    let mut postgres_db = None;
    if options.runs("3") {
        let mut backends = vec![(Scenario::IntakeSqlite, None)];
        match &options.postgres_url {
            Some(admin_url) => {
                let db = PostgresDatabase::create(admin_url).await?;
                backends.push((Scenario::IntakePostgres, Some(db.url.clone())));
                postgres_db = Some(db);
            }
            None => notes.push(
                "PostgreSQL intake skipped: give --postgres-url URL or TOUCHPOINT_BENCH_POSTGRES_URL"
                    .into(),
            ),
        }
        for (scenario, url) in backends {
            eprintln!(
                "[{:>6.1}s] {}: starting a server",
                elapsed(),
                scenario.label()
            );
            let server = Server::start_with(&bin, &http, url.as_deref(), &[]).await?;
            seed_catalog(&http, &server.base, &service)
                .await
                .map_err(|e| format!("intake setup: {e}\nserver log:\n{}", server.log_tail(20)))?;
            let target = Arc::new(Target::new(
                server.addr,
                "/graphql",
                Work::Intake {
                    authorization: bearer(&service)?,
                    prefix: format!("INTAKE-{}-{}", std::process::id(), measurements.len()),
                    next: AtomicU64::new(0),
                },
            )?);
            measurements.push(Measurement {
                scenario,
                connections: options.intake_clients,
                target,
                server: servers.len(),
                samples: Vec::new(),
                failures: 0,
                first_failure: None,
            });
            servers.push((scenario.label().into(), server));
        }
    }

    // ---- rounds, interleaved
    for round in 0..options.rounds {
        let count = measurements.len();
        for k in 0..count {
            let m = &mut measurements[(k + round) % count];
            let server = &servers[m.server].1;
            let (mut sample, failures, first_failure) =
                measure(&m.target, server, m.connections, &options).await;
            if m.scenario.is_intake() {
                sample.settle = server
                    .settle(0.1, Duration::from_secs(120))
                    .await
                    .map_or(f64::NAN, |d| d.as_secs_f64());
            }
            eprintln!(
                "[{:>6.1}s] round {}: {} × {}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, server {:.2} cores, bench {:.2} cores{}{}",
                elapsed(),
                round + 1,
                m.scenario.label(),
                m.connections,
                sample.per_second,
                sample.p50,
                sample.p99,
                sample.server_cores,
                sample.bench_cores,
                if m.scenario.is_intake() {
                    format!(", idle again {:.1} s later", sample.settle)
                } else {
                    String::new()
                },
                if failures > 0 {
                    format!(
                        "; {failures} FAILED, first: {}",
                        first_failure.as_deref().unwrap_or("?")
                    )
                } else {
                    String::new()
                }
            );
            m.samples.push(sample);
            m.failures += failures;
            if m.first_failure.is_none() {
                m.first_failure = first_failure;
            }
        }
    }

    print_report(&measurements, &statements, fixed_bytes, &notes, &options);
    println!();
    println!(
        "Total time {:.0} s; load average at the end {}.",
        elapsed(),
        loadavg()
    );
    println!("command: `{command}`");
    drop(servers);
    drop(postgres_db);
    let failed: Vec<&Measurement> = measurements.iter().filter(|m| m.failures > 0).collect();
    if failed.is_empty() {
        Ok(0)
    } else {
        println!();
        for m in failed {
            println!(
                "FAILED: {} × {}: {} failed requests; first: {}",
                m.scenario.label(),
                m.connections,
                m.failures,
                m.first_failure.as_deref().unwrap_or("?")
            );
        }
        Ok(1)
    }
}

/// Reads every customer once with the reqwest client, checks the answers field by field, and
/// prepares the calls of scenarios 1 and 2 with the size each answer must have.
async fn prepare_reads(
    http: &reqwest::Client,
    server: &Server,
    agent: &str,
    small: &[String],
    big: &[String],
) -> Result<ReadCalls, String> {
    let agent_header = bearer(agent)?;
    let ttl = Duration::from_secs(4 * 3600);
    let mut calls = ReadCalls {
        customer_orders: Vec::new(),
        customer_orders_50: Vec::new(),
        self_service: Vec::new(),
    };
    for (customers, orders) in [(small, 5usize), (big, 50)] {
        for id in customers {
            let body = serde_json::to_vec(
                &json!({ "query": CUSTOMER_ORDERS_QUERY, "variables": { "id": id } }),
            )
            .map_err(|e| e.to_string())?;
            let answer = raw_post(http, server, agent, &body).await?;
            validate_customer_orders(&answer, orders)
                .map_err(|e| format!("scenario 1 answer for {id}: {e}"))?;
            let call = Call {
                body: Bytes::from(body),
                authorization: agent_header.clone(),
                expected_len: answer.len(),
            };
            if orders == 5 {
                calls.customer_orders.push(call);
            } else {
                calls.customer_orders_50.push(call);
            }
        }
    }
    for id in small {
        let token = mint_token(JWT_SECRET, Role::Customer, id, ttl);
        let body = serde_json::to_vec(&json!({ "query": SELF_SERVICE_QUERY }))
            .map_err(|e| e.to_string())?;
        let answer = raw_post(http, server, &token, &body).await?;
        validate_self_service(&answer, id, 5)
            .map_err(|e| format!("scenario 2 answer for {id}: {e}"))?;
        calls.self_service.push(Call {
            body: Bytes::from(body),
            authorization: bearer(&token)?,
            expected_len: answer.len(),
        });
    }
    Ok(calls)
}

async fn raw_post(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    body: &[u8],
) -> Result<Bytes, String> {
    let response = http
        .post(format!("{}/graphql", server.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("POST /graphql: {e}"))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("POST /graphql body: {e}"))?;
    if !status.is_success() {
        return Err(format!("POST /graphql: {status}: {}", snippet(&bytes)));
    }
    Ok(bytes)
}

fn no_errors(v: &Value) -> Result<(), String> {
    match v.get("errors") {
        Some(e) if !e.is_null() => Err(format!("errors: {e}")),
        _ => Ok(()),
    }
}

fn validate_customer_orders(answer: &[u8], orders: usize) -> Result<(), String> {
    let v: Value = serde_json::from_slice(answer).map_err(|e| format!("not JSON: {e}"))?;
    no_errors(&v)?;
    let connection = &v["data"]["customer"]["orders"];
    let edges = connection["edges"]
        .as_array()
        .ok_or_else(|| format!("no orders: {}", snippet(answer)))?;
    if edges.len() != orders || connection["totalCount"] != orders {
        return Err(format!("{} orders, expected {orders}", edges.len()));
    }
    let mut dispatched = 0;
    for edge in edges {
        let order = &edge["node"];
        let lines = order["lines"].as_array().map_or(0, Vec::len);
        let shipments = order["shipments"].as_array().cloned().unwrap_or_default();
        if lines < 2 || shipments.is_empty() || order["totals"]["total"]["amount"].is_null() {
            return Err(format!(
                "an order without lines, totals or shipments: {order}"
            ));
        }
        for shipment in &shipments {
            if shipment["lines"].as_array().is_none_or(Vec::is_empty) {
                return Err(format!("a shipment without lines: {shipment}"));
            }
            if shipment["carrier"].is_string() {
                dispatched += 1;
            }
        }
    }
    if dispatched == 0 {
        return Err("no dispatched shipment".into());
    }
    Ok(())
}

fn validate_self_service(answer: &[u8], id: &str, orders: usize) -> Result<(), String> {
    let v: Value = serde_json::from_slice(answer).map_err(|e| format!("not JSON: {e}"))?;
    no_errors(&v)?;
    let me = &v["data"]["me"];
    if me["id"] != id {
        return Err(format!("me is {}, not {id}", me["id"]));
    }
    let edges = me["orders"]["edges"]
        .as_array()
        .ok_or_else(|| format!("no orders: {}", snippet(answer)))?;
    if edges.len() != orders.min(10) {
        return Err(format!(
            "{} orders, expected {}",
            edges.len(),
            orders.min(10)
        ));
    }
    let events: usize = edges
        .iter()
        .flat_map(|e| {
            e["node"]["shipments"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|s| s["events"].as_array().map_or(0, Vec::len))
        .sum();
    if events == 0 {
        return Err("no tracking events on any shipment".into());
    }
    Ok(())
}

/// POST /bench/fixed answers `bytes` bytes of JSON.
async fn check_fixed(http: &reqwest::Client, server: &Server, bytes: usize) -> Result<(), String> {
    let response = http
        .post(format!("{}/bench/fixed", server.base))
        .header("content-type", "application/json")
        .body(r#"{"query":"{ brand { name } }"}"#)
        .send()
        .await
        .map_err(|e| format!("POST /bench/fixed: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() || body.len() != bytes {
        return Err(format!(
            "POST /bench/fixed: {status}, {} bytes (expected {bytes}): is the server built with \
             --bench-fixed-response-bytes?",
            body.len()
        ));
    }
    Ok(())
}

/// SQL statements per request of the read scenarios, from `touchpoint_db_statements_total`
/// read before and after each of 20 sequential requests (rotating over the customers, after 3
/// unmeasured ones).
async fn count_statements(
    http: &reqwest::Client,
    server: &Server,
    calls: &ReadCalls,
    options: &Options,
) -> Result<Vec<StatementCount>, String> {
    const REQUESTS: usize = 20;
    let mut counts = Vec::new();
    let sets = [
        (
            Scenario::CustomerOrders,
            &calls.customer_orders,
            options.runs("1"),
        ),
        (
            Scenario::CustomerOrders50,
            &calls.customer_orders_50,
            options.runs("1"),
        ),
        (
            Scenario::SelfService,
            &calls.self_service,
            options.runs("2"),
        ),
    ];
    for (scenario, calls, wanted) in sets {
        if !wanted || calls.is_empty() {
            continue;
        }
        for call in calls.iter().take(3) {
            statement_call(http, server, call).await?;
        }
        let mut per_request = Vec::with_capacity(REQUESTS);
        for call in calls.iter().cycle().take(REQUESTS) {
            let before = server
                .metric(http, STATEMENTS)
                .await?
                .ok_or_else(|| format!("GET /metrics has no {STATEMENTS}"))?;
            statement_call(http, server, call).await?;
            let after = server.metric(http, STATEMENTS).await?.unwrap_or(before);
            per_request.push(after - before);
        }
        counts.push(StatementCount {
            scenario,
            requests: REQUESTS,
            mean: per_request.iter().sum::<f64>() / REQUESTS as f64,
            min: per_request.iter().copied().fold(f64::INFINITY, f64::min),
            max: per_request.iter().copied().fold(0.0, f64::max),
        });
    }
    Ok(counts)
}

/// Statements per request of one read scenario.
struct StatementCount {
    scenario: Scenario,
    requests: usize,
    mean: f64,
    min: f64,
    max: f64,
}

async fn statement_call(
    http: &reqwest::Client,
    server: &Server,
    call: &Call,
) -> Result<(), String> {
    let response = http
        .post(format!("{}/graphql", server.base))
        .header("authorization", call.authorization.clone())
        .header("content-type", "application/json")
        .body(call.body.clone())
        .send()
        .await
        .map_err(|e| format!("POST /graphql: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    match check_read(
        hyper::StatusCode::from_u16(status.as_u16()).unwrap_or(hyper::StatusCode::OK),
        &body,
        call.expected_len,
    ) {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

// ------------------------------------------------------------------------------------ report

fn summarize(samples: &[Sample]) -> Sample {
    let m = |f: &dyn Fn(&Sample) -> f64| median(samples.iter().map(f).collect());
    Sample {
        requests: samples.iter().map(|s| s.requests).sum(),
        per_second: m(&|s| s.per_second),
        p50: m(&|s| s.p50),
        p99: m(&|s| s.p99),
        server_cores: m(&|s| s.server_cores),
        bench_cores: m(&|s| s.bench_cores),
        settle: m(&|s| s.settle),
    }
}

fn print_report(
    measurements: &[Measurement],
    statements: &[StatementCount],
    fixed_bytes: usize,
    notes: &[String],
    options: &Options,
) {
    println!();
    println!(
        "## Throughput and latency (median of {} round(s) × {:.1} s; closed loop, HTTP/1.1 keep-alive)",
        options.rounds,
        options.duration.as_secs_f64()
    );
    println!();
    println!(
        "| scenario | connections | req/s | p50 ms | p99 ms | vs ceiling | server cores | bench cores | requests |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ceiling = |connections: usize| {
        measurements
            .iter()
            .find(|m| m.scenario == Scenario::Ceiling && m.connections == connections)
            .map(|m| summarize(&m.samples).per_second)
    };
    for m in measurements {
        let s = summarize(&m.samples);
        let ratio = match (m.scenario, ceiling(m.connections)) {
            (Scenario::Ceiling, _) => "100%".to_string(),
            (s2, Some(c)) if !s2.is_intake() && c > 0.0 => {
                format!("{:.1}%", 100.0 * s.per_second / c)
            }
            _ => "—".to_string(),
        };
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {}{} |",
            m.scenario.label(),
            m.connections,
            s.per_second,
            s.p50,
            s.p99,
            ratio,
            s.server_cores,
            s.bench_cores,
            s.requests,
            if m.failures > 0 {
                format!(" ({} FAILED)", m.failures)
            } else {
                String::new()
            }
        );
    }
    println!();
    if fixed_bytes > 0 {
        println!(
            "Ceiling: POST /bench/fixed on the same server, a fixed {fixed_bytes}-byte JSON body (the median \
             size of scenario 1's answer at 5 orders), same request body and HTTP layers, no GraphQL, \
             no database. \"vs ceiling\" compares with it at the same connection count (for the \
             50-order and self-service reads the body sizes differ)."
        );
    }
    let intake: Vec<&Measurement> = measurements
        .iter()
        .filter(|m| m.scenario.is_intake())
        .collect();
    if !intake.is_empty() {
        println!();
        println!(
            "Order intake: orders/s = placeOrder answers per second. After each intake measurement \
             the server stays busy with the emails it queued (ORDER_CONFIRMATION rendered and \
             written by the outbox):"
        );
        println!();
        println!(
            "| scenario | clients | orders/s | idle again after | orders/s including that work |"
        );
        println!("|---|---:|---:|---:|---:|");
        for m in intake {
            let s = summarize(&m.samples);
            let orders = s.per_second * options.duration.as_secs_f64();
            println!(
                "| {} | {} | {:.0} | {:.1} s | {:.0} |",
                m.scenario.label(),
                m.connections,
                s.per_second,
                s.settle,
                orders / (options.duration.as_secs_f64() + s.settle)
            );
        }
    }
    if !statements.is_empty() {
        println!();
        println!(
            "## SQL statements per request (touchpoint_db_statements_total before and after each request; sequential)"
        );
        println!();
        println!("| scenario | requests | mean | min | max |");
        println!("|---|---:|---:|---:|---:|");
        for c in statements {
            println!(
                "| {} | {} | {:.1} | {:.0} | {:.0} |",
                c.scenario.label(),
                c.requests,
                c.mean,
                c.min,
                c.max
            );
        }
        let at = |scenario: Scenario| statements.iter().find(|c| c.scenario == scenario);
        if let (Some(five), Some(fifty)) =
            (at(Scenario::CustomerOrders), at(Scenario::CustomerOrders50))
            && fifty.max > five.max
        {
            println!();
            println!(
                "note: scenario 1 issued up to {:.0} statements at 50 orders, up to {:.0} at 5",
                fifty.max, five.max
            );
        }
    }
    println!();
    println!(
        "Server and bench share the machine's {} cores; \"server cores\" and \"bench cores\" are \
         CPU seconds per second during the measured window (/proc/<pid>/stat).",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for note in notes {
        println!("note: {note}");
    }
    let skipped: Vec<&str> = ["1", "2", "3", "6"]
        .into_iter()
        .filter(|s| !options.runs(s))
        .collect();
    if !skipped.is_empty() {
        println!(
            "note: scenarios not run (--scenarios): {}",
            skipped.join(", ")
        );
    }
}
