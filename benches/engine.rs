//! What the GraphQL engine alone costs for scenario 1's query: a floor under the server's time
//! per request, with no database, no HTTP and no authorization.
//!
//! The schema here has scenario 1's shape (customer → orders connection → order with lines,
//! totals and shipments with their lines) and the server's scalars (`Decimal`, `Money`,
//! `DateTime`) and limits (depth, complexity, bracket depth, directives). Every value is ready
//! in memory, built once: one customer with the orders scenario 1 seeds (two warehouse lines,
//! a store line on every other order, a shipment per location, 3 orders in 5 dispatched).
//! Relations are async resolvers, as in the server, but they return what is already there.
//!
//! Each execution does what the server does with a request once it has read it: the cached
//! parsed document cloned into the request, the query and variables checked against the schema,
//! executed, and the response serialized to JSON bytes. Measured on one thread and on two
//! (one current-thread runtime each, the schema shared), each round a batch of about
//! `--round-ms`; the medians of the rounds are printed. The two-thread figure is the engine's
//! ceiling on a 2-core machine with nothing else running: the server's scenario 1 at 10
//! connections cannot exceed it.
//!
//! ```sh
//! cargo bench --bench engine                    # 5 and 50 orders, 7 rounds of ≈ 300 ms
//! cargo bench --bench engine -- --smoke         # 2 rounds of ≈ 20 ms
//! cargo bench --bench engine -- --rounds 11 --round-ms 500
//! ```

#[path = "common/mod.rs"]
mod common;
use common::queries::CUSTOMER_ORDERS_QUERY as QUERY;
use common::{invocation, median, micros, rate};

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Enum, ID, Object, Request, Schema, SimpleObject,
    Variables,
};
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal as Number;
use touchpoint::config::Limits;
use touchpoint::graphql::scalars::{DateTime, Decimal, Money};

// The server binary's allocator, so the figures are those the server would see.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Web,
    App,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
enum OrderStatus {
    Confirmed,
    Shipped,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
enum ShipmentStatus {
    Pending,
    Dispatched,
}

#[derive(Clone)]
struct Line {
    id: ID,
    sku: String,
    name: String,
    quantity: i32,
    unit_price: Money,
    total: Money,
}

#[Object]
impl Line {
    async fn id(&self) -> &ID {
        &self.id
    }
    async fn sku(&self) -> &str {
        &self.sku
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn quantity(&self) -> i32 {
        self.quantity
    }
    async fn unit_price(&self) -> &Money {
        &self.unit_price
    }
    async fn total(&self) -> &Money {
        &self.total
    }
}

#[derive(SimpleObject, Clone)]
struct Totals {
    subtotal: Money,
    shipping: Money,
    total: Money,
}

struct ShipmentLine {
    quantity: i32,
    line: Line,
}

#[Object]
impl ShipmentLine {
    async fn quantity(&self) -> i32 {
        self.quantity
    }
    async fn line(&self) -> &Line {
        &self.line
    }
}

struct Shipment {
    id: ID,
    status: ShipmentStatus,
    carrier: Option<String>,
    tracking_number: Option<String>,
    lines: Vec<ShipmentLine>,
}

#[Object]
impl Shipment {
    async fn id(&self) -> &ID {
        &self.id
    }
    async fn status(&self) -> ShipmentStatus {
        self.status
    }
    async fn carrier(&self) -> Option<&str> {
        self.carrier.as_deref()
    }
    async fn tracking_number(&self) -> Option<&str> {
        self.tracking_number.as_deref()
    }
    async fn lines(&self) -> &[ShipmentLine] {
        &self.lines
    }
}

struct Order {
    id: ID,
    number: String,
    channel: Channel,
    status: OrderStatus,
    placed_at: DateTime,
    lines: Vec<Line>,
    totals: Totals,
    shipments: Vec<Shipment>,
}

#[Object]
impl Order {
    async fn id(&self) -> &ID {
        &self.id
    }
    async fn number(&self) -> &str {
        &self.number
    }
    async fn channel(&self) -> Channel {
        self.channel
    }
    async fn status(&self) -> OrderStatus {
        self.status
    }
    async fn placed_at(&self) -> DateTime {
        self.placed_at
    }
    async fn lines(&self) -> &[Line] {
        &self.lines
    }
    async fn totals(&self) -> &Totals {
        &self.totals
    }
    async fn shipments(&self) -> &[Shipment] {
        &self.shipments
    }
}

struct OrderEdge<'a>(&'a Order);

#[Object]
impl OrderEdge<'_> {
    async fn node(&self) -> &Order {
        self.0
    }
}

struct OrderConnection<'a>(&'a [Order]);

#[Object]
impl OrderConnection<'_> {
    async fn total_count(&self) -> i32 {
        self.0.len() as i32
    }
    async fn edges(&self) -> Vec<OrderEdge<'_>> {
        self.0.iter().map(OrderEdge).collect()
    }
}

struct Customer {
    id: ID,
    first_name: String,
    last_name: String,
    email: String,
    orders: Vec<Order>,
}

#[Object]
impl Customer {
    async fn id(&self) -> &ID {
        &self.id
    }
    async fn first_name(&self) -> &str {
        &self.first_name
    }
    async fn last_name(&self) -> &str {
        &self.last_name
    }
    async fn email(&self) -> &str {
        &self.email
    }
    async fn orders(&self, first: Option<i32>) -> OrderConnection<'_> {
        let first = first.unwrap_or(20).clamp(0, 100) as usize;
        OrderConnection(&self.orders[..first.min(self.orders.len())])
    }
}

struct Query;

#[Object]
impl Query {
    async fn customer<'a>(&self, ctx: &Context<'a>, id: ID) -> Option<&'a Customer> {
        let customer = ctx.data_unchecked::<Customer>();
        (customer.id == id).then_some(customer)
    }
}

type EngineSchema = Schema<Query, EmptyMutation, EmptySubscription>;

fn money(amount: i64) -> Money {
    Money {
        amount: Decimal(Number::new(amount, 2)),
        currency_code: "EUR".into(),
    }
}

fn id(kind: &str, n: usize) -> ID {
    use base64::Engine as _;
    ID(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{}", 1_000 + n)))
}

/// One customer with `orders` orders shaped as scenario 1 seeds them.
fn customer(orders: usize) -> Customer {
    let placed = Utc.with_ymd_and_hms(2026, 11, 1, 9, 30, 0).unwrap();
    let mut next = 0;
    let mut fresh = || {
        next += 1;
        next
    };
    let orders = (0..orders)
        .map(|k| {
            let mut skus = vec![
                (format!("BENCH-W{}", k % 8 + 1), 1),
                (format!("BENCH-W{}", (k + 3) % 8 + 1), 2),
            ];
            if k % 2 == 0 {
                skus.push((format!("BENCH-B{}", k % 4 + 1), 1));
            }
            let lines: Vec<Line> = skus
                .into_iter()
                .map(|(sku, quantity)| Line {
                    id: id("OrderLine", fresh()),
                    name: format!("Bench product {sku}"),
                    sku,
                    quantity,
                    unit_price: money(1_995),
                    total: money(1_995 * i64::from(quantity)),
                })
                .collect();
            let dispatched = k % 5 < 3;
            let mut shipments = vec![(0..2).collect::<Vec<_>>()];
            if lines.len() == 3 {
                shipments.push(vec![2]);
            }
            let shipments = shipments
                .into_iter()
                .enumerate()
                .map(|(s, positions)| Shipment {
                    id: id("Shipment", fresh()),
                    status: if dispatched {
                        ShipmentStatus::Dispatched
                    } else {
                        ShipmentStatus::Pending
                    },
                    carrier: dispatched.then(|| "PostNL".into()),
                    tracking_number: dispatched.then(|| format!("BENCHB0X{k}X{s}")),
                    lines: positions
                        .into_iter()
                        .map(|p| ShipmentLine {
                            quantity: lines[p].quantity,
                            line: lines[p].clone(),
                        })
                        .collect(),
                })
                .collect();
            let subtotal = lines
                .iter()
                .map(|l| 1_995 * i64::from(l.quantity))
                .sum::<i64>();
            Order {
                id: id("Order", fresh()),
                number: format!("TP-{:06}", 1_000 + k),
                channel: if k % 3 == 2 {
                    Channel::App
                } else {
                    Channel::Web
                },
                status: if dispatched {
                    OrderStatus::Shipped
                } else {
                    OrderStatus::Confirmed
                },
                placed_at: DateTime(placed + chrono::Duration::minutes(k as i64)),
                totals: Totals {
                    subtotal: money(subtotal),
                    shipping: money(495),
                    total: money(subtotal + 495),
                },
                lines,
                shipments,
            }
        })
        .collect();
    Customer {
        id: id("Customer", 0),
        first_name: "Bench".into(),
        last_name: "Customer 0".into(),
        email: "bench-0@example.test".into(),
        orders,
    }
}

fn schema(orders: usize) -> (EngineSchema, ID) {
    let limits = Limits::default();
    let customer = customer(orders);
    let id = customer.id.clone();
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(customer)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(limits.max_bracket_depth)
        .limit_directives(20)
        .finish();
    (schema, id)
}

/// One request as the server runs it after reading it; the response's JSON bytes.
async fn execute(
    schema: &EngineSchema,
    document: &ExecutableDocument,
    variables: &Variables,
) -> Vec<u8> {
    let mut request = Request::new(QUERY).variables(variables.clone());
    request.set_parsed_query(document.clone());
    let response = schema.execute(request).await;
    serde_json::to_vec(&response).expect("a response serializes")
}

struct Options {
    rounds: usize,
    round: Duration,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut options = Options {
            rounds: 7,
            round: Duration::from_millis(300),
        };
        let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|v| *v > 0)
                    .ok_or_else(|| format!("{name} takes a positive number"))
            };
            match arg.as_str() {
                "--smoke" => {
                    options.rounds = 2;
                    options.round = Duration::from_millis(20);
                }
                "--rounds" => options.rounds = value("--rounds")? as usize,
                "--round-ms" => options.round = Duration::from_millis(value("--round-ms")?),
                other => return Err(format!("unknown argument {other}; see benches/engine.rs")),
            }
        }
        Ok(options)
    }
}

/// Seconds per request over a batch sized to about `round`, on `threads` threads at once
/// (wall time per request of all of them together).
fn round(
    schema: &Arc<EngineSchema>,
    document: &Arc<ExecutableDocument>,
    variables: &Variables,
    threads: usize,
    batch: usize,
) -> f64 {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async {
                    for _ in 0..batch {
                        std::hint::black_box(execute(schema, document, variables).await);
                    }
                });
            });
        }
    });
    start.elapsed().as_secs_f64() / (threads * batch) as f64
}

fn main() -> ExitCode {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let document = Arc::new(async_graphql::parser::parse_query(QUERY).expect("the query parses"));
    println!("{}", invocation("engine"));
    println!("| orders | response bytes | threads | µs per request | requests/s |");
    println!("|---:|---:|---:|---:|---:|");
    for orders in [5, 50] {
        let (schema, id) = schema(orders);
        let schema = Arc::new(schema);
        let variables = Variables::from_json(serde_json::json!({ "id": id.to_string() }));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let body = runtime.block_on(execute(&schema, &document, &variables));
        let answer: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let edges = answer["data"]["customer"]["orders"]["edges"]
            .as_array()
            .map_or(0, Vec::len);
        if answer.get("errors").is_some() || edges != orders {
            eprintln!("unexpected answer for {orders} orders: {answer}");
            return ExitCode::FAILURE;
        }
        // Size the batch to about one round, from a short calibration.
        let calibration = round(&schema, &document, &variables, 1, 50);
        let batch = ((options.round.as_secs_f64() / calibration) as usize).max(10);
        for threads in [1, 2] {
            let mut seconds: Vec<f64> = (0..options.rounds)
                .map(|_| round(&schema, &document, &variables, threads, batch))
                .collect();
            let per_request = median(&mut seconds);
            println!(
                "| {orders} | {} | {threads} | {} | {} |",
                body.len(),
                micros(per_request * threads as f64),
                rate(per_request)
            );
        }
    }
    println!(
        "\nµs per request is one thread's time for one request; requests/s counts every thread \
         (medians of {} rounds).",
        options.rounds
    );
    ExitCode::SUCCESS
}
