//! Experience-metrics benchmark: how long `experienceMetrics` takes for a 90-day range on a
//! database of 100,000 orders placed over those 90 days and their history, against the release
//! server, measured from the client. The issue's target: under 300 ms on SQLite.
//!
//! **Dataset.** A fresh database is migrated (the library's `Store::connect`) and then filled
//! directly with SQL (multi-row INSERTs, a transaction per 2,000 orders), not over the API, from a
//! pseudo-random generator with a fixed seed and times relative to the start of the run (both
//! backends of a run get the same rows; another run differs where the clock cuts the history): 6
//! locations, 24 products; customers about 40% as many as the orders (most with an email, some
//! marketplace buyers known only by a channel identity, one anonymous walk-in customer per
//! anonymous till sale), a tenth of them loyal buyers who place many of the orders; `--orders`
//! orders placed evenly over the last `--days` days in every channel (WEB, APP, STORE, MARKETPLACE,
//! PHONE), shipped, collected or carried out, about 60% with a promised date; their lines;
//! shipments (10% of the orders in two) dispatched, delivered or collected before or after the
//! promise, some flagged delayed by a carrier estimate or a missed dispatch deadline, those of
//! cancelled orders cancelled, the youngest still on their way; the emails the outbox would have
//! sent (ORDER_CONFIRMATION, SHIPMENT_DISPATCHED, READY_FOR_COLLECTION, DELIVERED, SHIPMENT_DELAYED
//! — sent before or after the promise —, ORDER_CANCELLED, SUBSTITUTION_PROPOSED, RETURN_REQUESTED,
//! RETURN_RECEIVED, REFUND_ISSUED), SENT or FAILED, some opened, with an HTML body of
//! `--body-bytes` and a text body of a quarter of that; the events the services append
//! (ORDER_PLACED, SHIPMENT_UPDATED, SHIPMENT_DELAYED, ORDER_CANCELLED and LINES_CANCELLED with a
//! `reasonCode` by a customer, agent, service or the system, SUBSTITUTION_*, RETURN_*,
//! REFUND_ISSUED, EMAIL_SENT, EMAIL_FAILED, EMAIL_OPENED); returns of about 10% of the orders (a
//! quarter in another channel than the sale, received, refunded, some rejected or cancelled);
//! substitutions on about 1% of the orders. The event dispatcher's and the outbox's cursors are set
//! past the seeded events (a server that was running all along would have read them), and every
//! order is marked in `metrics_dirty` so the server builds its metrics projection from the rows.
//!
//! **Measurement.** The release server is started on the seeded database; its background pass
//! starts rebuilding the projection at once. The first `experienceMetrics` query is sent as soon
//! as the server is ready and timed on its own: it catches the projection up for a while, then
//! answers with the orders it has and `ordersPending`; the bench then polls `ordersPending`
//! until it is 0 and reports how long after the first query that was. Then `--rounds` rounds of,
//! in an order rotated per round: the whole range with every figure (overall and by channel);
//! the same with `channel: WEB`; the same figures as a `series(interval: WEEK)`; and, as the
//! baseline, `{ __typename }` with the same token on the same server. Latency is taken from just
//! before the request is sent to the parsed answer (reqwest, keep-alive, one request at a time);
//! the table shows the median and p90 (nearest rank) of the rounds. Every answer must carry no
//! `errors` and `ordersPending` 0, and `ordersPlaced` (overall, each channel and each period)
//! must equal the number of orders the bench seeded there.
//!
//! ```sh
//! cargo bench --bench metrics                               # 100,000 orders, 15 rounds
//! cargo bench --bench metrics -- --smoke                    # 2,000 orders, 2 rounds; CI
//! cargo bench --bench metrics -- --postgres-url postgres://postgres@127.0.0.1:5432/postgres
//! cargo bench --bench metrics -- --orders 20000 --days 30 --rounds 5 --body-bytes 8192
//! ```
//!
//! PostgreSQL: `--postgres-url URL` or TOUCHPOINT_BENCH_POSTGRES_URL names a server where the
//! bench may create (and afterwards drop) a database of its own; with it the same dataset is
//! seeded and measured there too, after SQLite.
//!
//! The exit status is non-zero when an answer fails its check or the setup fails. Only
//! 127.0.0.1 (and the PostgreSQL URL given) is contacted; servers are killed and the scratch
//! databases removed at the end, also on failure (Drop guards).

#[path = "common/mod.rs"]
mod common;
use common::api::graphql;
use common::median_of as median;
use common::server::{JWT_SECRET, Server, loadavg, server_binary};
use common::stats::{percentile, percentiles};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
use serde_json::{Value, json};
use touchpoint::auth::{Role, mint_token};

/// The issue's target for a 90-day range on SQLite.
const TARGET_MS: f64 = 300.0;
/// The generator's seed: every run seeds the same rows (but for the times, relative to now).
const SEED: u64 = 20_261_128;
const AGENT: &str = "bench-agent";
/// Orders per transaction while seeding.
const ORDERS_PER_TRANSACTION: usize = 2_000;
/// Rows per INSERT statement.
const ROWS_PER_INSERT: usize = 250;

const CHANNELS: [&str; 5] = ["WEB", "APP", "STORE", "MARKETPLACE", "PHONE"];
/// How the orders spread over the channels (per mille, in the order of CHANNELS).
const CHANNEL_SHARE: [u32; 5] = [400, 250, 150, 120, 80];
const MARKETPLACES: [&str; 3] = ["bol.com", "amazon", "zalando"];
const CARRIERS: [&str; 4] = ["PostNL", "DHL", "DPD", "UPS"];

const REFUND_TIMES: &str = "method refunds fromRequestP50Seconds fromRequestP90Seconds
    fromReceiptP50Seconds fromReceiptP90Seconds refundedByExpectedBy refundedByExpectedByRate";
const SEGMENT: &str = "customers repeatedWithin30Days repeatedWithin60Days repeatedWithin90Days
    rate30Days rate60Days rate90Days";

/// Every figure of `ExperienceFigures` (the selection tests/api/metrics.rs checks).
fn figures_selection() -> String {
    format!(
        "ordersPlaced
        fulfilment {{ ordersShipped singleShipmentOrders shipments singleShipmentRate averageShipmentsPerOrder }}
        delivery {{ ordersJudged onTime delayed toldProactively onTimeRate delayedRate proactiveRate }}
        cancellations {{ cancellations ordersCancelled byActor {{ actor count }} byReason {{ reasonCode count }} }}
        substitutions {{ proposed accepted declined expired awaitingAnswer acceptanceRate }}
        returns {{ returns ordersReturned returnRate crossChannelReturns crossChannelRate refundsIssued
            refundedByExpectedBy refundedByExpectedByRate
            refunds {{ {REFUND_TIMES} }} byMethod {{ {REFUND_TIMES} }} }}
        emails {{ sent failed opened openRate byKind {{ kind sent failed opened openRate }} }}
        repeatPurchase {{ all {{ {SEGMENT} }} firstOrderOnTime {{ {SEGMENT} }}
            firstOrderDelayed {{ {SEGMENT} }} firstOrderDelayedToldProactively {{ {SEGMENT} }}
            firstOrderDelayedNotTold {{ {SEGMENT} }} firstOrderReturned {{ {SEGMENT} }}
            firstOrderNotReturned {{ {SEGMENT} }} }}"
    )
}

/// The range with every figure, overall and by channel (optionally limited to `$channel`).
fn metrics_query() -> String {
    let figures = figures_selection();
    format!(
        "query($from: Date!, $to: Date!, $channel: Channel) {{
            experienceMetrics(from: $from, to: $to, channel: $channel) {{
                from to channel ordersPending
                overall {{ {figures} }}
                byChannel {{ channel figures {{ {figures} }} }} }} }}"
    )
}

/// The same figures week by week.
fn series_query() -> String {
    let figures = figures_selection();
    format!(
        "query($from: Date!, $to: Date!) {{
            experienceMetrics(from: $from, to: $to) {{
                series(interval: WEEK) {{ from to
                    overall {{ {figures} }}
                    byChannel {{ channel figures {{ {figures} }} }} }} }} }}"
    )
}

const BASELINE_QUERY: &str = "{ __typename }";

/// How many orders the projection has yet to take in.
const PENDING_QUERY: &str =
    "query($from: Date!, $to: Date!) { experienceMetrics(from: $from, to: $to) { ordersPending } }";

// ------------------------------------------------------------------------------------ options

#[derive(Clone, Debug)]
struct Options {
    smoke: bool,
    orders: usize,
    days: u32,
    rounds: usize,
    body_bytes: usize,
    postgres_url: Option<String>,
    server_bin: Option<PathBuf>,
    /// The present of the seeded history: the same for both backends of a run.
    now: DateTime<Utc>,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut o = Options {
            smoke: false,
            orders: 0,
            days: 90,
            rounds: 0,
            body_bytes: 2048,
            postgres_url: std::env::var("TOUCHPOINT_BENCH_POSTGRES_URL")
                .ok()
                .filter(|u| !u.trim().is_empty()),
            server_bin: None,
            now: Utc::now(),
        };
        let (mut orders, mut rounds) = (None, None);
        let mut args = std::env::args().skip(1);
        let number = |name: &str, value: Option<String>| -> Result<usize, String> {
            let value = value.ok_or_else(|| format!("{name} needs a value"))?;
            value
                .replace('_', "")
                .parse::<usize>()
                .map_err(|e| format!("{name} {value}: {e}"))
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--smoke" => o.smoke = true,
                "--orders" => orders = Some(number(&arg, args.next())?),
                "--days" => {
                    o.days = u32::try_from(number(&arg, args.next())?)
                        .map_err(|_| "--days: too many days")?
                }
                "--rounds" => rounds = Some(number(&arg, args.next())?),
                "--body-bytes" => o.body_bytes = number(&arg, args.next())?,
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
                        "usage: cargo bench --bench metrics -- [--smoke] [--orders 100000] \
                         [--days 90] [--rounds 15] [--body-bytes 2048] [--postgres-url URL] \
                         [--server-bin PATH]"
                    );
                    std::process::exit(0);
                }
                other => eprintln!("note: ignoring argument {other:?}"),
            }
        }
        let smoke = o.smoke;
        o.orders = orders.unwrap_or(if smoke { 2_000 } else { 100_000 });
        o.rounds = rounds.unwrap_or(if smoke { 2 } else { 15 });
        if o.orders == 0 || o.rounds == 0 || o.days == 0 {
            return Err("orders, days and rounds must be positive".into());
        }
        if o.days > 365 {
            return Err("--days: at most 365 (a series has at most 120 periods)".into());
        }
        Ok(o)
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
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("tp_bench_metrics_{}_{nanos}", std::process::id());
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

    /// The size of the database, e.g. "812 MB".
    async fn size(&self) -> Option<String> {
        let db = sea_orm::Database::connect(&self.url).await.ok()?;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_size_pretty(pg_database_size(current_database())) AS size",
            ))
            .await
            .ok()??;
        let _ = db.close().await;
        row.try_get::<String>("", "size").ok()
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

// ------------------------------------------------------------------------------------ SQL text

/// A text literal.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn q_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "NULL".into(), q)
}

/// A timestamp as sea-orm writes a `DateTime<Utc>` (RFC 3339, UTC offset, as many fraction
/// digits as needed); PostgreSQL reads the same text as a timestamptz.
fn ts(t: DateTime<Utc>) -> String {
    q(&t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
}

fn ts_opt(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "NULL".into(), ts)
}

fn date(d: NaiveDate) -> String {
    q(&d.format("%Y-%m-%d").to_string())
}

fn date_opt(d: Option<NaiveDate>) -> String {
    d.map_or_else(|| "NULL".into(), date)
}

fn boolean(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

fn int_opt(i: Option<i64>) -> String {
    i.map_or_else(|| "NULL".into(), |i| i.to_string())
}

/// Rows for one table, each a parenthesised list of literals, inserted in multi-row INSERTs.
struct Table {
    name: &'static str,
    columns: &'static str,
    rows: Vec<String>,
    total: usize,
}

impl Table {
    fn new(name: &'static str, columns: &'static str) -> Table {
        Table {
            name,
            columns,
            rows: Vec::new(),
            total: 0,
        }
    }

    fn push(&mut self, values: &[&str]) {
        let mut row = String::with_capacity(values.iter().map(|v| v.len() + 2).sum::<usize>() + 2);
        row.push('(');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                row.push_str(", ");
            }
            row.push_str(v);
        }
        row.push(')');
        self.rows.push(row);
        self.total += 1;
    }

    async fn flush(&mut self, conn: &impl ConnectionTrait) -> Result<(), String> {
        for chunk in self.rows.chunks(ROWS_PER_INSERT) {
            let mut sql = format!("INSERT INTO {} ({}) VALUES ", self.name, self.columns);
            sql.push_str(&chunk.join(", "));
            conn.execute_unprepared(&sql)
                .await
                .map_err(|e| format!("INSERT INTO {}: {e}", self.name))?;
        }
        self.rows.clear();
        Ok(())
    }
}

/// Every table the bench fills, in an order that satisfies the foreign keys.
struct Tables {
    customers: Table,
    identities: Table,
    locations: Table,
    products: Table,
    orders: Table,
    lines: Table,
    shipments: Table,
    shipment_lines: Table,
    substitutions: Table,
    returns: Table,
    return_lines: Table,
    communications: Table,
    events: Table,
}

impl Tables {
    fn new() -> Tables {
        Tables {
            customers: Table::new(
                "customers",
                "id, email, first_name, last_name, phone, locale, order_updates_by_email, \
                 created_at, updated_at",
            ),
            identities: Table::new(
                "customer_identities",
                "id, customer_id, channel, external_id, created_at",
            ),
            locations: Table::new(
                "locations",
                "id, code, name, kind, latitude, longitude, pickup_point, return_point, \
                 shipping_cost_minor, currency, handling_days, updated_at, country_code",
            ),
            products: Table::new(
                "products",
                "id, sku, name, category, image_url, care_instructions, returnable, related_skus, \
                 price_minor, currency, updated_at",
            ),
            orders: Table::new(
                "orders",
                "id, number, channel, scope, channel_order_ref, content_hash, marketplace, \
                 store_location_id, seller_of_record, customer_id, status, currency, \
                 subtotal_minor, shipping_minor, refunded_minor, delivery_method, \
                 delivery_address, collection_location_id, promised_date, version, placed_at, \
                 created_at, updated_at, tracking_token",
            ),
            lines: Table::new(
                "order_lines",
                "id, order_id, position, sku, name, quantity, quantity_cancelled, \
                 quantity_dispatched, quantity_delivered, quantity_returned, unit_price_minor",
            ),
            shipments: Table::new(
                "shipments",
                "id, order_id, location_id, status, carrier, tracking_number, tracking_url, \
                 estimated_delivery_date, promised_date, dispatch_by, is_delayed, dispatched_at, \
                 delivered_at, last_event_at, created_at, updated_at",
            ),
            shipment_lines: Table::new(
                "shipment_lines",
                "id, shipment_id, order_line_id, quantity",
            ),
            substitutions: Table::new(
                "substitutions",
                "id, order_id, order_line_id, substitute_sku, substitute_name, quantity, \
                 unit_price_minor, status, proposed_at, responded_at",
            ),
            returns: Table::new(
                "returns",
                "id, order_id, customer_id, rma_number, status, channel, method, \
                 return_location_id, received_location_id, label_token, override_reason, \
                 closing_reason, currency, refund_minor, refund_status, refund_expected_by, \
                 refund_issued_at, received_at, created_at, updated_at",
            ),
            return_lines: Table::new(
                "return_lines",
                "id, return_id, order_line_id, quantity, quantity_received, quantity_restocked, \
                 reason",
            ),
            communications: Table::new(
                "communications",
                "id, event_seq, kind, recipient, customer_id, order_id, shipment_id, return_id, \
                 substitution_id, locale, template_version, subject, html, text, status, \
                 attempts, last_error, next_attempt_at, claimed_until, message_id, open_token, \
                 is_test, requested_by, created_at, sent_at, opened_at",
            ),
            events: Table::new(
                "events",
                "seq, kind, occurred_at, recorded_at, actor_role, actor_id, channel, customer_id, \
                 order_id, location_id, sku, reason, payload, shipment_id, return_id, \
                 communication_id",
            ),
        }
    }

    fn all(&mut self) -> [&mut Table; 13] {
        [
            &mut self.customers,
            &mut self.identities,
            &mut self.locations,
            &mut self.products,
            &mut self.orders,
            &mut self.lines,
            &mut self.shipments,
            &mut self.shipment_lines,
            &mut self.substitutions,
            &mut self.returns,
            &mut self.return_lines,
            &mut self.communications,
            &mut self.events,
        ]
    }

    async fn flush(&mut self, conn: &impl ConnectionTrait) -> Result<(), String> {
        for table in self.all() {
            table.flush(conn).await?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------ the dataset

struct Location {
    id: i64,
    code: &'static str,
}

static WAREHOUSES: [Location; 2] = [
    Location {
        id: 1,
        code: "WH-NL",
    },
    Location {
        id: 2,
        code: "WH-DE",
    },
];
static STORES: [Location; 4] = [
    Location {
        id: 3,
        code: "ST-AMS",
    },
    Location {
        id: 4,
        code: "ST-UTR",
    },
    Location {
        id: 5,
        code: "ST-RTM",
    },
    Location {
        id: 6,
        code: "ST-BER",
    },
];

const PRODUCTS: usize = 24;
const PRODUCT_NAMES: [&str; 8] = [
    "Merino crew jumper",
    "Linen shirt",
    "Selvedge jeans",
    "Canvas sneaker",
    "Rain jacket",
    "Wool scarf",
    "Leather belt",
    "Cotton tee",
];

fn product(k: usize) -> (String, String, i64) {
    let sku = format!("TP-{:04}", 1001 + k);
    let name = format!(
        "{} {}",
        PRODUCT_NAMES[k % 8],
        ["navy", "sand", "black"][k % 3]
    );
    let price = 1495 + (k as i64 * 731) % 11_000;
    (sku, name, price)
}

struct Customer {
    id: i64,
    email: Option<String>,
    first_name: &'static str,
    emails: bool,
}

const FIRST_NAMES: [&str; 12] = [
    "Anna", "Bram", "Chloé", "Daan", "Emma", "Finn", "Greta", "Hugo", "Iris", "Jonas", "Lotte",
    "Milan",
];
const LAST_NAMES: [&str; 10] = [
    "de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meyer", "Schulz", "Peters", "Mulder", "Bos",
];

/// One order as planned before its history is written.
struct Planned {
    id: i64,
    placed_at: DateTime<Utc>,
    channel: usize,
    /// An index into the customers; None for an anonymous walk-in sale.
    customer: Option<usize>,
}

/// What the bench knows of the seeded orders: how many were placed per day and channel.
#[derive(Default)]
struct Seeded {
    per_day: BTreeMap<NaiveDate, [i64; 5]>,
    orders: usize,
    customers: usize,
    rows: Vec<(&'static str, usize)>,
    from: NaiveDate,
    to: NaiveDate,
}

impl Seeded {
    /// Orders placed from `from` to `to` (both included), in `channel` or in all of them.
    fn placed(&self, from: NaiveDate, to: NaiveDate, channel: Option<usize>) -> i64 {
        self.per_day
            .range(from..=to)
            .map(|(_, c)| channel.map_or(c.iter().sum(), |k| c[k]))
            .sum()
    }
}

/// Writes the rows of the planned orders, with a fixed seed.
struct Generator {
    rng: StdRng,
    now: DateTime<Utc>,
    body_bytes: usize,
    filler: String,
    customers: Vec<Customer>,
    line: i64,
    shipment: i64,
    shipment_line: i64,
    substitution: i64,
    return_: i64,
    return_line: i64,
    communication: i64,
    seq: i64,
    tracking: i64,
    t: Tables,
}

/// A shipment as simulated, before its row is written.
struct Ship {
    id: i64,
    location: i64,
    status: &'static str,
    carrier: Option<&'static str>,
    tracking: Option<String>,
    estimate: Option<NaiveDate>,
    dispatch_by: Option<DateTime<Utc>>,
    delayed: bool,
    dispatched: Option<DateTime<Utc>>,
    delivered: Option<DateTime<Utc>>,
    last_event: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    lines: Vec<(i64, i64)>,
}

/// The order a history belongs to, for the events and emails about it.
struct OrderRef<'a> {
    id: i64,
    number: &'a str,
    channel: &'static str,
    customer_id: i64,
    customer: Option<&'a Customer>,
}

/// The last millisecond of a UTC day (PostgreSQL keeps microseconds: a time in the day's last
/// microsecond would round up into the next day there).
fn end_of_day(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::MIN).and_utc() + chrono::Duration::days(1)
        - chrono::Duration::milliseconds(1)
}

impl Generator {
    fn new(now: DateTime<Utc>, body_bytes: usize) -> Generator {
        let filler = "<tr><td style=\"padding:8px 24px;font-family:Helvetica,Arial,sans-serif;\
             font-size:14px;line-height:20px;color:#333333\">"
            .repeat(body_bytes / 100 + 1);
        Generator {
            rng: StdRng::seed_from_u64(SEED),
            now,
            body_bytes,
            filler,
            customers: Vec::new(),
            line: 0,
            shipment: 0,
            shipment_line: 0,
            substitution: 0,
            return_: 0,
            return_line: 0,
            communication: 0,
            seq: 0,
            tracking: 0,
            t: Tables::new(),
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    /// A time `min_hours` to `max_hours` after `t`, to the nanosecond.
    fn after(&mut self, t: DateTime<Utc>, min_hours: f64, max_hours: f64) -> DateTime<Utc> {
        let nanos = self
            .rng
            .random_range(min_hours * 3.6e12..=max_hours.max(min_hours) * 3.6e12);
        t + chrono::Duration::nanoseconds(nanos as i64)
    }

    /// URL-safe random text of `bytes` random bytes, like the server's tokens.
    fn token(&mut self, bytes: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..bytes * 4 / 3)
            .map(|_| ALPHABET[self.rng.random_range(0..64)] as char)
            .collect()
    }

    fn hex(&mut self, bytes: usize) -> String {
        (0..bytes).fold(String::new(), |mut s, _| {
            let _ = write!(s, "{:02x}", self.rng.random::<u8>());
            s
        })
    }

    fn static_rows(&mut self) {
        let updated = self.now - chrono::Duration::days(400);
        let places = [
            (
                "WH-NL",
                "Warehouse Rotterdam",
                "WAREHOUSE",
                51.92,
                4.48,
                "NL",
                1,
            ),
            (
                "WH-DE",
                "Warehouse Duisburg",
                "WAREHOUSE",
                51.43,
                6.76,
                "DE",
                2,
            ),
            ("ST-AMS", "Store Amsterdam", "STORE", 52.37, 4.90, "NL", 0),
            ("ST-UTR", "Store Utrecht", "STORE", 52.09, 5.12, "NL", 0),
            ("ST-RTM", "Store Rotterdam", "STORE", 51.92, 4.47, "NL", 0),
            ("ST-BER", "Store Berlin", "STORE", 52.52, 13.40, "DE", 0),
        ];
        for (k, (code, name, kind, lat, lon, country, days)) in places.into_iter().enumerate() {
            let store = kind == "STORE";
            self.t.locations.push(&[
                &(k + 1).to_string(),
                &q(code),
                &q(name),
                &q(kind),
                &lat.to_string(),
                &lon.to_string(),
                boolean(store),
                boolean(true),
                if store { "0" } else { "495" },
                "'EUR'",
                &days.to_string(),
                &ts(updated),
                &q(country),
            ]);
        }
        for k in 0..PRODUCTS {
            let (sku, name, price) = product(k);
            let related = json!([product((k + 1) % PRODUCTS).0, product((k + 5) % PRODUCTS).0]);
            self.t.products.push(&[
                &(k + 1).to_string(),
                &q(&sku),
                &q(&name),
                &q([
                    "Knitwear",
                    "Shirts",
                    "Denim",
                    "Shoes",
                    "Outerwear",
                    "Accessories",
                ][k % 6]),
                &q(&format!("https://cdn.example.com/products/{sku}.jpg")),
                &q("Wash at 30 °C inside out. Do not tumble dry."),
                boolean(k % 7 != 6),
                &q(&related.to_string()),
                &price.to_string(),
                "'EUR'",
                &ts(updated),
            ]);
        }
    }

    /// Customers about 40% as many as the orders: named ones (some known only by a marketplace
    /// identity), then one walk-in customer per anonymous till sale. Plans the orders.
    fn plan(&mut self, orders: usize, days: u32) -> (Vec<Planned>, NaiveDate) {
        let today = self.now.date_naive();
        let from = today - Days::new(u64::from(days) - 1);
        let start = from.and_time(NaiveTime::MIN).and_utc();
        let span = (self.now - chrono::Duration::minutes(1) - start)
            .num_nanoseconds()
            .unwrap_or(i64::MAX)
            .max(1);
        let mut times: Vec<DateTime<Utc>> = (0..orders)
            .map(|_| start + chrono::Duration::nanoseconds(self.rng.random_range(0..span)))
            .collect();
        times.sort_unstable();
        let mut channels = Vec::with_capacity(orders);
        let mut walk_ins = 0;
        for _ in 0..orders {
            let mut pick = self.rng.random_range(0..1000);
            let mut channel = 0;
            while pick >= CHANNEL_SHARE[channel] {
                pick -= CHANNEL_SHARE[channel];
                channel += 1;
            }
            // A third of the till sales are anonymous.
            let anonymous = channel == 2 && self.chance(1.0 / 3.0);
            walk_ins += usize::from(anonymous);
            channels.push((channel, anonymous));
        }
        let named = (orders * 2 / 5).saturating_sub(walk_ins).max(1);
        let loyal = (named / 10).max(1);
        for k in 0..named {
            let first = FIRST_NAMES[self.rng.random_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[self.rng.random_range(0..LAST_NAMES.len())];
            let created = self.after(start, -24.0 * 700.0, 24.0 * f64::from(days) * 0.5);
            let id = k as i64 + 1;
            // Marketplace buyers are masked: known by their marketplace identity only.
            let masked = self.chance(0.05);
            let email = (!masked).then(|| {
                format!(
                    "{}.{}{}@example.com",
                    first.to_lowercase().replace('é', "e"),
                    last.to_lowercase().replace(' ', ""),
                    id
                )
            });
            let locale = if self.chance(0.7) { "nl-NL" } else { "en-GB" };
            let emails = email.is_some() && self.chance(0.93);
            let phone = self
                .chance(0.4)
                .then(|| format!("+316{:08}", self.rng.random_range(0..100_000_000)));
            self.t.customers.push(&[
                &id.to_string(),
                &q_opt(email.as_deref()),
                &q(first),
                &q(last),
                &q_opt(phone.as_deref()),
                &q(locale),
                boolean(emails),
                &ts(created),
                &ts(created),
            ]);
            if masked || self.chance(0.1) {
                let marketplace = MARKETPLACES[self.rng.random_range(0..MARKETPLACES.len())];
                let external = format!("{marketplace}:{}", self.hex(6));
                self.t.identities.push(&[
                    &(self.t.identities.total + 1).to_string(),
                    &id.to_string(),
                    "'MARKETPLACE'",
                    &q(&external),
                    &ts(created),
                ]);
            }
            self.customers.push(Customer {
                id,
                email,
                first_name: first,
                emails,
            });
        }
        let mut planned = Vec::with_capacity(orders);
        for (k, (placed_at, (channel, anonymous))) in times.into_iter().zip(channels).enumerate() {
            let customer = if anonymous {
                let id = (self.customers.len() + 1) as i64;
                self.t.customers.push(&[
                    &id.to_string(),
                    "NULL",
                    "NULL",
                    "NULL",
                    "NULL",
                    "'en-GB'",
                    boolean(false),
                    &ts(placed_at),
                    &ts(placed_at),
                ]);
                self.customers.push(Customer {
                    id,
                    email: None,
                    first_name: "",
                    emails: false,
                });
                None
            } else if self.chance(0.4) {
                Some(self.rng.random_range(0..loyal))
            } else {
                Some(self.rng.random_range(0..named))
            };
            planned.push(Planned {
                id: k as i64 + 1,
                placed_at,
                channel,
                customer,
            });
        }
        // Walk-in customers were pushed after the named ones: their index is their id - 1.
        let mut walk_in = named;
        for p in &mut planned {
            if p.customer.is_none() {
                p.customer = Some(walk_in);
                walk_in += 1;
            }
        }
        (planned, from)
    }

    /// Appends an event; returns its sequence number.
    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        kind: &str,
        at: DateTime<Utc>,
        actor: (&str, Option<&str>),
        order: &OrderRef,
        shipment: Option<i64>,
        return_id: Option<i64>,
        communication: Option<i64>,
        location: Option<i64>,
        reason: Option<&str>,
        payload: Value,
    ) -> i64 {
        self.seq += 1;
        let recorded = self.after(at, 0.0, 0.0005);
        self.t.events.push(&[
            &self.seq.to_string(),
            &q(kind),
            &ts(at),
            &ts(recorded),
            &q(actor.0),
            &q_opt(actor.1),
            &q(order.channel),
            &order.customer_id.to_string(),
            &order.id.to_string(),
            &int_opt(location),
            "NULL",
            &q_opt(reason),
            &q(&payload.to_string()),
            &int_opt(shipment),
            &int_opt(return_id),
            &int_opt(communication),
        ]);
        self.seq
    }

    /// The email the outbox sends for an event (when the customer takes emails), with its
    /// EMAIL_SENT or EMAIL_FAILED event and maybe EMAIL_OPENED. Returns when it was sent, if it
    /// was.
    #[allow(clippy::too_many_arguments)]
    fn email(
        &mut self,
        kind: &str,
        order: &OrderRef,
        event_seq: i64,
        at: DateTime<Utc>,
        shipment: Option<i64>,
        return_id: Option<i64>,
        substitution: Option<i64>,
    ) -> Option<DateTime<Utc>> {
        let customer = order.customer?;
        let recipient = customer.email.clone()?;
        if !customer.emails {
            return None;
        }
        let sent = self.after(at, 0.0005, 0.02);
        if sent >= self.now {
            return None;
        }
        self.communication += 1;
        let id = self.communication;
        let failed = self.chance(0.015);
        let attempts = if failed {
            5
        } else if self.chance(0.03) {
            2
        } else {
            1
        };
        let opened = if !failed && self.chance(0.45) {
            Some(self.after(sent, 0.02, 60.0)).filter(|t| *t < self.now)
        } else {
            None
        };
        let subject = match kind {
            "ORDER_CONFIRMATION" => format!("Thank you for your order {}", order.number),
            "SHIPMENT_DISPATCHED" => format!("Your order {} is on its way", order.number),
            "READY_FOR_COLLECTION" => format!("Your order {} is ready to collect", order.number),
            "DELIVERED" => format!("Your order {} has been delivered", order.number),
            "SHIPMENT_DELAYED" => format!("Your order {} is running late", order.number),
            "ORDER_CANCELLED" => format!("Your order {} has been cancelled", order.number),
            "SUBSTITUTION_PROPOSED" => format!("A substitute for your order {}", order.number),
            "RETURN_REQUESTED" => format!("Your return for order {}", order.number),
            "RETURN_RECEIVED" => format!("We received your return for order {}", order.number),
            _ => format!("Your refund for order {}", order.number),
        };
        let html = self.html(&subject, customer.first_name, order);
        let text = html_text(&subject, customer.first_name, self.body_bytes / 4);
        let message_id = format!("<{}.{}@touchpoint.example.com>", self.hex(8), id);
        let open_token = self.token(24);
        self.t.communications.push(&[
            &id.to_string(),
            &event_seq.to_string(),
            &q(kind),
            &q(&recipient),
            &customer.id.to_string(),
            &order.id.to_string(),
            &int_opt(shipment),
            &int_opt(return_id),
            &int_opt(substitution),
            "'en'",
            "1",
            &q(&subject),
            &q(&html),
            &q(&text),
            if failed { "'FAILED'" } else { "'SENT'" },
            &attempts.to_string(),
            &q_opt(failed.then_some("550 5.1.1 mailbox unavailable")),
            &ts(sent),
            "NULL",
            &q(&message_id),
            &q(&open_token),
            boolean(false),
            "NULL",
            &ts(at),
            &ts_opt((!failed).then_some(sent)),
            &ts_opt(opened),
        ]);
        let system = ("system", None);
        let outcome = if failed { "EMAIL_FAILED" } else { "EMAIL_SENT" };
        let payload = json!({
            "kind": kind,
            "subject": subject,
            "attempts": attempts,
            "error": failed.then_some("550 5.1.1 mailbox unavailable"),
        });
        self.event(
            outcome,
            sent,
            system,
            order,
            shipment,
            return_id,
            Some(id),
            None,
            None,
            payload.clone(),
        );
        if let Some(opened) = opened {
            self.event(
                "EMAIL_OPENED",
                opened,
                system,
                order,
                shipment,
                return_id,
                Some(id),
                None,
                None,
                payload,
            );
        }
        (!failed).then_some(sent)
    }

    /// An HTML body of about `body_bytes`.
    fn html(&self, subject: &str, first_name: &str, order: &OrderRef) -> String {
        let head = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{subject}</title></head>\
             <body style=\"margin:0;background:#f4f4f4\"><table role=\"presentation\" width=\"100%\">\
             <tr><td><h1 style=\"font-size:22px\">{subject}</h1><p>Hello {first_name},</p>\
             <p>Order <a href=\"https://shop.example.com/orders/{}\">{}</a></p>",
            order.id, order.number
        );
        let tail = "</td></tr></table></body></html>";
        let room = self.body_bytes.saturating_sub(head.len() + tail.len());
        let mut html = String::with_capacity(self.body_bytes + 16);
        html.push_str(&head);
        let mut end = room.min(self.filler.len());
        while !self.filler.is_char_boundary(end) {
            end -= 1;
        }
        html.push_str(&self.filler[..end]);
        html.push_str(tail);
        html
    }

    /// Every row of one order and its history.
    fn order(&mut self, p: &Planned) {
        let now = self.now;
        let placed = p.placed_at;
        let channel = CHANNELS[p.channel];
        let customer_index = p.customer.unwrap_or(0);
        let customer_id = self.customers[customer_index].id;
        let anonymous = self.customers[customer_index].first_name.is_empty();
        let number = format!("TP-{}", 100_000 + p.id);

        // How it is delivered, and the promise.
        let method = match channel {
            "STORE" if self.chance(0.9) => "CARRY_OUT",
            "WEB" | "APP" if self.chance(0.2) => "CLICK_AND_COLLECT",
            _ => "SHIP_TO_ADDRESS",
        };
        let store = &STORES[self.rng.random_range(0..STORES.len())];
        let promised = (method != "CARRY_OUT" && self.chance(0.72)).then(|| {
            let days = if method == "CLICK_AND_COLLECT" {
                self.rng.random_range(1..=3)
            } else {
                self.rng.random_range(2..=5)
            };
            placed.date_naive() + Days::new(days)
        });

        // Lines; an order in two shipments has at least two.
        let two_shipments = method != "CARRY_OUT" && self.chance(0.1);
        let mut count = [1, 1, 1, 1, 1, 2, 2, 2, 3, 4][self.rng.random_range(0..10)];
        if two_shipments {
            count = count.max(2);
        }
        struct Line {
            id: i64,
            sku: String,
            name: String,
            quantity: i64,
            price: i64,
            cancelled: i64,
            returned: i64,
        }
        let mut lines: Vec<Line> = (0..count)
            .map(|_| {
                self.line += 1;
                let (sku, name, price) = product(self.rng.random_range(0..PRODUCTS));
                Line {
                    id: self.line,
                    sku,
                    name,
                    quantity: if self.chance(0.85) { 1 } else { 2 },
                    price,
                    cancelled: 0,
                    returned: 0,
                }
            })
            .collect();
        let subtotal: i64 = lines.iter().map(|l| l.quantity * l.price).sum();
        let shipping = if method == "SHIP_TO_ADDRESS" { 495 } else { 0 };

        let order_customer = &self.customers[customer_index];
        let customer_ref = (!anonymous).then_some(order_customer);
        // A borrow of self.customers would outlive the &mut self calls below: copy what is used.
        let customer_copy = customer_ref.map(|c| Customer {
            id: c.id,
            email: c.email.clone(),
            first_name: c.first_name,
            emails: c.emails,
        });
        let order = OrderRef {
            id: p.id,
            number: &number,
            channel,
            customer_id,
            customer: customer_copy.as_ref(),
        };
        let intake = match channel {
            "PHONE" => ("agent", Some("agent-7")),
            "STORE" => ("service", Some("till")),
            _ => ("service", Some("shop")),
        };
        let placed_seq = self.event(
            "ORDER_PLACED",
            placed,
            intake,
            &order,
            None,
            None,
            None,
            (channel == "STORE").then_some(store.id),
            None,
            json!({
                "number": number,
                "lines": lines.len(),
                "total": format!("{:.2}", (subtotal + shipping) as f64 / 100.0),
                "currency": "EUR",
            }),
        );
        let mut updated = placed;
        if method != "CARRY_OUT" {
            self.email(
                "ORDER_CONFIRMATION",
                &order,
                placed_seq,
                placed,
                None,
                None,
                None,
            );
        }

        // Shipments: planned dispatch, delivery against the promise.
        let dispatch_by = self.after(placed, 24.0, 48.0);
        let mut ships: Vec<Ship> = Vec::new();
        let shipments = if two_shipments { 2 } else { 1 };
        for k in 0..shipments {
            self.shipment += 1;
            let location = match (method, k) {
                ("CARRY_OUT", _) | ("CLICK_AND_COLLECT", _) => store.id,
                (_, 0) => WAREHOUSES[usize::from(self.chance(0.25))].id,
                _ => STORES[self.rng.random_range(0..STORES.len())].id,
            };
            let created = self.after(placed, 0.0001, 0.01);
            let mut lines_of = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                if shipments == 1 || i % 2 == k {
                    lines_of.push((l.id, l.quantity));
                }
            }
            ships.push(Ship {
                id: self.shipment,
                location,
                status: "PENDING",
                carrier: None,
                tracking: None,
                estimate: None,
                dispatch_by: (method != "CARRY_OUT").then_some(dispatch_by),
                delayed: false,
                dispatched: None,
                delivered: None,
                last_event: None,
                created,
                updated: created,
                lines: lines_of,
            });
        }

        // A whole-order cancellation happens before anything is dispatched.
        let cancelled_at = (method != "CARRY_OUT" && self.chance(0.035))
            .then(|| self.after(placed, 0.1, 20.0))
            .filter(|t| *t < now);
        let status;
        if method == "CARRY_OUT" {
            let s = &mut ships[0];
            s.status = "DELIVERED";
            s.estimate = Some(placed.date_naive());
            s.dispatched = Some(placed);
            s.delivered = Some(placed);
            s.last_event = Some(placed);
            status = "DELIVERED";
        } else if let Some(at) = cancelled_at {
            let (actor, reason) = match self.rng.random_range(0..100) {
                0..45 => (("customer", None), "CUSTOMER_REQUEST"),
                45..65 => (
                    ("agent", Some("agent-3")),
                    ["OTHER", "FRAUD", "PAYMENT_FAILED", "CUSTOMER_REQUEST"]
                        [self.rng.random_range(0..4)],
                ),
                65..90 if channel == "MARKETPLACE" => {
                    (("service", Some("marketplace")), "MARKETPLACE_CANCELLED")
                }
                65..90 => (("service", Some("wms")), "OUT_OF_STOCK_AT_PICK"),
                _ => (("system", None), "PAYMENT_FAILED"),
            };
            for s in &mut ships {
                s.status = "CANCELLED";
                s.updated = at;
            }
            for l in &mut lines {
                l.cancelled = l.quantity;
            }
            let payload = json!({
                "orderNumber": number,
                "reasonCode": reason,
                "lines": lines.iter().map(|l| json!({ "sku": l.sku, "quantity": l.quantity })).collect::<Vec<_>>(),
            });
            let seq = self.event(
                "ORDER_CANCELLED",
                at,
                (actor.0, actor.1),
                &order,
                None,
                None,
                None,
                None,
                None,
                payload,
            );
            self.email("ORDER_CANCELLED", &order, seq, at, None, None, None);
            updated = at;
            status = "CANCELLED";
        } else {
            let mut delivered_all = true;
            let mut dispatched_all = true;
            let mut dispatched_any = false;
            let mut delivered_any = false;
            let mut ready_any = false;
            for s in ships.iter_mut() {
                self.ship(s, method, promised, placed, &order);
                updated = updated.max(s.updated);
                delivered_all &= s.delivered.is_some();
                delivered_any |= s.delivered.is_some();
                dispatched_all &= s.dispatched.is_some();
                dispatched_any |= s.dispatched.is_some();
                ready_any |= s.status == "READY_FOR_COLLECTION";
            }
            status = if delivered_all {
                "DELIVERED"
            } else if delivered_any {
                "PARTIALLY_DELIVERED"
            } else if ready_any {
                "READY_FOR_COLLECTION"
            } else if dispatched_all {
                "DISPATCHED"
            } else if dispatched_any {
                "PARTIALLY_DISPATCHED"
            } else if ships.iter().any(|s| s.status == "PICKING") {
                "PROCESSING"
            } else {
                "PLACED"
            };
        }

        // A substitution for a line a store could not pick (before dispatch).
        if method != "CARRY_OUT" && cancelled_at.is_none() && self.chance(0.012) {
            let proposed = self.after(placed, 0.5, 6.0);
            if proposed < now {
                self.substitution += 1;
                let sub = self.substitution;
                let line = self.rng.random_range(0..lines.len());
                let (sku, name, price) = product(self.rng.random_range(0..PRODUCTS));
                let answer = self.after(proposed, 0.2, 30.0);
                let state = if answer >= now {
                    "PROPOSED"
                } else {
                    [
                        "ACCEPTED", "ACCEPTED", "ACCEPTED", "DECLINED", "DECLINED", "EXPIRED",
                    ][self.rng.random_range(0..6)]
                };
                let responded = (state != "PROPOSED").then_some(answer);
                self.t.substitutions.push(&[
                    &sub.to_string(),
                    &p.id.to_string(),
                    &lines[line].id.to_string(),
                    &q(&sku),
                    &q(&name),
                    &lines[line].quantity.to_string(),
                    &price.to_string(),
                    &q(state),
                    &ts(proposed),
                    &ts_opt(responded),
                ]);
                let seq = self.event(
                    "SUBSTITUTION_PROPOSED",
                    proposed,
                    ("agent", Some("store-staff")),
                    &order,
                    Some(ships[0].id),
                    None,
                    None,
                    Some(ships[0].location),
                    None,
                    json!({ "orderNumber": number, "sku": lines[line].sku, "substituteSku": sku }),
                );
                self.email(
                    "SUBSTITUTION_PROPOSED",
                    &order,
                    seq,
                    proposed,
                    Some(ships[0].id),
                    None,
                    Some(sub),
                );
                if let Some(at) = responded {
                    let actor = if state == "EXPIRED" {
                        ("system", None)
                    } else {
                        ("customer", None)
                    };
                    self.event(
                        "SUBSTITUTION_ANSWERED",
                        at,
                        actor,
                        &order,
                        Some(ships[0].id),
                        None,
                        None,
                        None,
                        None,
                        json!({ "orderNumber": number, "status": state }),
                    );
                    if state != "ACCEPTED" && lines.len() > 1 {
                        // The line the store could not pick is cancelled.
                        lines[line].cancelled = lines[line].quantity;
                        let reason = "OUT_OF_STOCK_AT_PICK";
                        self.event(
                            "LINES_CANCELLED",
                            at,
                            actor,
                            &order,
                            None,
                            None,
                            None,
                            None,
                            None,
                            json!({
                                "orderNumber": number,
                                "reasonCode": reason,
                                "lines": [{ "sku": lines[line].sku, "quantity": lines[line].quantity }],
                            }),
                        );
                    }
                }
            }
        }

        // Some customers cancel a line before dispatch.
        if cancelled_at.is_none() && lines.len() > 1 && self.chance(0.02) {
            let at = self.after(placed, 0.1, 10.0);
            let k = lines.len() - 1;
            if at < now
                && lines[k].cancelled == 0
                && ships.iter().all(|s| s.dispatched.is_none_or(|d| d > at))
            {
                lines[k].cancelled = lines[k].quantity;
                let (actor, reason) = if self.chance(0.7) {
                    (("customer", None), "CUSTOMER_REQUEST")
                } else {
                    (("agent", Some("agent-3")), "OTHER")
                };
                self.event(
                    "LINES_CANCELLED",
                    at,
                    actor,
                    &order,
                    None,
                    None,
                    None,
                    None,
                    None,
                    json!({
                        "orderNumber": number,
                        "reasonCode": reason,
                        "lines": [{ "sku": lines[k].sku, "quantity": lines[k].quantity }],
                    }),
                );
            }
        }

        // A return for about 10% of the delivered orders.
        let delivered_first = ships.iter().filter_map(|s| s.delivered).min();
        let mut refunded = 0;
        if let Some(delivered) = delivered_first
            && self.chance(0.1)
        {
            let requested = self.after(delivered, 2.0, 24.0 * 21.0);
            if requested < now && lines.iter().any(|l| l.cancelled == 0) {
                self.return_ += 1;
                let rid = self.return_;
                let cross = self.chance(0.25);
                let return_channel = match (channel, cross) {
                    ("STORE", true) => "WEB",
                    (_, true) => "STORE",
                    (c, false) => c,
                };
                let method = if return_channel == "STORE" {
                    "IN_STORE"
                } else if self.chance(0.75) {
                    "CARRIER"
                } else {
                    "DROP_OFF"
                };
                let (return_location, days) = match method {
                    "IN_STORE" => (STORES[self.rng.random_range(0..STORES.len())].id, 0),
                    "CARRIER" => (WAREHOUSES[0].id, 10),
                    _ => (WAREHOUSES[0].id, 7),
                };
                let expected_by = requested.date_naive() + Days::new(days);
                let returned: Vec<usize> = (0..lines.len())
                    .filter(|&i| lines[i].cancelled == 0)
                    .take(if self.chance(0.7) { 1 } else { 2 })
                    .collect();
                let amount: i64 = returned
                    .iter()
                    .map(|&i| lines[i].price * lines[i].quantity)
                    .sum();
                let cancelled = self.chance(0.04);
                let received = (if method == "IN_STORE" {
                    Some(requested)
                } else {
                    Some(self.after(requested, 24.0, 24.0 * 7.0))
                })
                .filter(|t| *t < now && !cancelled);
                let rejected = received.is_some() && self.chance(0.03);
                let issued = received.filter(|_| !rejected).map(|r| {
                    if method == "IN_STORE" {
                        self.after(r, 0.01, 0.2)
                    } else if self.chance(0.9) {
                        self.after(r, 1.0, 24.0 * 4.0)
                    } else {
                        self.after(r, 24.0 * 5.0, 24.0 * 14.0)
                    }
                });
                let issued = issued.filter(|t| *t < now);
                let (state, closed) = if cancelled {
                    (
                        "CANCELLED",
                        Some(self.after(requested, 1.0, 48.0)).filter(|t| *t < now),
                    )
                } else if rejected {
                    ("REJECTED", received)
                } else if issued.is_some() {
                    ("REFUNDED", issued)
                } else if received.is_some() {
                    ("RECEIVED", received)
                } else {
                    ("REQUESTED", None)
                };
                let state = if cancelled && closed.is_none() {
                    "REQUESTED"
                } else {
                    state
                };
                if issued.is_some() {
                    refunded = amount;
                    for &i in &returned {
                        lines[i].returned = lines[i].quantity;
                    }
                }
                let label = (method == "CARRIER").then(|| self.token(18));
                self.t.returns.push(&[
                    &rid.to_string(),
                    &p.id.to_string(),
                    &customer_id.to_string(),
                    &q(&format!("RMA-{}-{rid}", 100_000 + p.id)),
                    &q(state),
                    &q(return_channel),
                    &q(method),
                    &return_location.to_string(),
                    &int_opt(received.map(|_| return_location)),
                    &q_opt(label.as_deref()),
                    "NULL",
                    &q_opt((state == "REJECTED").then_some("Worn and without labels")),
                    "'EUR'",
                    &amount.to_string(),
                    if issued.is_some() {
                        "'ISSUED'"
                    } else {
                        "'PENDING'"
                    },
                    &date(expected_by),
                    &ts_opt(issued),
                    &ts_opt(received),
                    &ts(requested),
                    &ts(closed.unwrap_or(requested)),
                ]);
                for &i in &returned {
                    self.return_line += 1;
                    let got = if received.is_some() {
                        lines[i].quantity
                    } else {
                        0
                    };
                    self.t.return_lines.push(&[
                        &self.return_line.to_string(),
                        &rid.to_string(),
                        &lines[i].id.to_string(),
                        &lines[i].quantity.to_string(),
                        &got.to_string(),
                        &(if issued.is_some() { got } else { 0 }).to_string(),
                        &q([
                            "Too small",
                            "Too large",
                            "Not as pictured",
                            "Changed my mind",
                        ][self.rng.random_range(0..4)]),
                    ]);
                }
                let by = if method == "IN_STORE" {
                    ("agent", Some("store-staff"))
                } else {
                    ("customer", None)
                };
                let seq = self.event(
                    "RETURN_REQUESTED",
                    requested,
                    by,
                    &OrderRef {
                        channel: return_channel,
                        ..order
                    },
                    None,
                    Some(rid),
                    None,
                    Some(return_location),
                    None,
                    json!({ "orderNumber": number, "method": method, "expectedBy": expected_by.to_string() }),
                );
                self.email(
                    "RETURN_REQUESTED",
                    &order,
                    seq,
                    requested,
                    None,
                    Some(rid),
                    None,
                );
                if let Some(at) = received {
                    let seq = self.event(
                        "RETURN_RECEIVED",
                        at,
                        ("agent", Some("returns-desk")),
                        &order,
                        None,
                        Some(rid),
                        None,
                        Some(return_location),
                        None,
                        json!({ "orderNumber": number }),
                    );
                    if method != "IN_STORE" {
                        self.email("RETURN_RECEIVED", &order, seq, at, None, Some(rid), None);
                    }
                }
                if rejected && let Some(at) = received {
                    self.event(
                        "RETURN_REJECTED",
                        at,
                        ("agent", Some("returns-desk")),
                        &order,
                        None,
                        Some(rid),
                        None,
                        None,
                        Some("Worn and without labels"),
                        json!({ "orderNumber": number }),
                    );
                }
                if let Some(at) = issued {
                    let seq = self.event(
                        "REFUND_ISSUED",
                        at,
                        ("service", Some("payments")),
                        &order,
                        None,
                        Some(rid),
                        None,
                        None,
                        None,
                        json!({ "orderNumber": number, "amount": format!("{:.2}", amount as f64 / 100.0), "currency": "EUR" }),
                    );
                    self.email("REFUND_ISSUED", &order, seq, at, None, Some(rid), None);
                }
                if state == "CANCELLED"
                    && let Some(at) = closed
                {
                    self.event(
                        "RETURN_CANCELLED",
                        at,
                        ("customer", None),
                        &order,
                        None,
                        Some(rid),
                        None,
                        None,
                        None,
                        json!({ "orderNumber": number }),
                    );
                }
                if let Some(at) = closed {
                    updated = updated.max(at);
                }
            }
        }

        // The rows of the order, its lines and shipments.
        let version = 1 + ships.len() as i64 + i64::from(status == "CANCELLED");
        let scope = match channel {
            "STORE" => store.code.to_owned(),
            "MARKETPLACE" => MARKETPLACES[p.id as usize % MARKETPLACES.len()].to_owned(),
            _ => String::new(),
        };
        let city = ["Amsterdam", "Utrecht", "Rotterdam", "Berlin"][p.id as usize % 4];
        let address = (method == "SHIP_TO_ADDRESS").then(|| {
            json!({
                "name": order.customer.map_or("Customer", |c| c.first_name),
                "line1": format!("Keizersgracht {}", 1 + p.id % 700),
                "line2": null,
                "city": city,
                "postal_code": "1015 CJ",
                "country_code": if p.id % 4 == 3 { "DE" } else { "NL" },
                "phone": null,
                "location": { "latitude": 52.37, "longitude": 4.89 },
            })
            .to_string()
        });
        let content_hash = self.hex(32);
        let tracking_token = self.token(24);
        self.t.orders.push(&[
            &p.id.to_string(),
            &q(&number),
            &q(channel),
            &q(&scope),
            &q(&format!("{}-{:08}", &channel[..1], p.id * 7 + 13)),
            &q(&content_hash),
            &q_opt((channel == "MARKETPLACE").then_some(scope.as_str())),
            &int_opt((channel == "STORE").then_some(store.id)),
            if channel == "MARKETPLACE" {
                "'THIRD_PARTY'"
            } else {
                "'BRAND'"
            },
            &customer_id.to_string(),
            &q(status),
            "'EUR'",
            &subtotal.to_string(),
            &shipping.to_string(),
            &refunded.to_string(),
            &q(method),
            &q_opt(address.as_deref()),
            &int_opt((method == "CLICK_AND_COLLECT").then_some(store.id)),
            &date_opt(promised),
            &version.to_string(),
            &ts(placed),
            &ts(placed),
            &ts(updated),
            &q(&tracking_token),
        ]);
        for (position, l) in lines.iter().enumerate() {
            let live = l.quantity - l.cancelled;
            let dispatched = if ships
                .iter()
                .any(|s| s.dispatched.is_some() && s.lines.iter().any(|(id, _)| *id == l.id))
            {
                live
            } else {
                0
            };
            let delivered = if ships
                .iter()
                .any(|s| s.delivered.is_some() && s.lines.iter().any(|(id, _)| *id == l.id))
            {
                live
            } else {
                0
            };
            self.t.lines.push(&[
                &l.id.to_string(),
                &p.id.to_string(),
                &position.to_string(),
                &q(&l.sku),
                &q(&l.name),
                &l.quantity.to_string(),
                &l.cancelled.to_string(),
                &dispatched.to_string(),
                &delivered.to_string(),
                &l.returned.to_string(),
                &l.price.to_string(),
            ]);
        }
        for s in &ships {
            self.t.shipments.push(&[
                &s.id.to_string(),
                &p.id.to_string(),
                &s.location.to_string(),
                &q(s.status),
                &q_opt(s.carrier),
                &q_opt(s.tracking.as_deref()),
                &q_opt(
                    s.tracking
                        .as_ref()
                        .map(|t| format!("https://track.example.com/{t}"))
                        .as_deref(),
                ),
                &date_opt(s.estimate),
                &date_opt(promised),
                &ts_opt(s.dispatch_by),
                boolean(s.delayed),
                &ts_opt(s.dispatched),
                &ts_opt(s.delivered),
                &ts_opt(s.last_event),
                &ts(s.created),
                &ts(s.updated),
            ]);
            for (line, quantity) in &s.lines {
                self.shipment_line += 1;
                self.t.shipment_lines.push(&[
                    &self.shipment_line.to_string(),
                    &s.id.to_string(),
                    &line.to_string(),
                    &quantity.to_string(),
                ]);
            }
        }
    }

    /// One shipment's journey up to now: picking, dispatch (maybe past its deadline), transit
    /// and delivery or collection on time or late, a delay flagged by the carrier's estimate.
    fn ship(
        &mut self,
        s: &mut Ship,
        method: &str,
        promised: Option<NaiveDate>,
        placed: DateTime<Utc>,
        order: &OrderRef,
    ) {
        let now = self.now;
        let collect = method == "CLICK_AND_COLLECT";
        let dispatch_by = s.dispatch_by.unwrap_or(placed);
        let late_dispatch = self.chance(0.05);
        let dispatch = if late_dispatch {
            self.after(dispatch_by, 2.0, 48.0)
        } else {
            self.after(
                placed,
                2.0,
                (dispatch_by - placed).num_minutes() as f64 / 60.0 - 1.0,
            )
        };
        let shipment_event =
            |g: &mut Generator, s: &Ship, at: DateTime<Utc>, status: &str, extra: Value| {
                let mut payload = json!({
                    "status": status,
                    "orderNumber": order.number,
                });
                if let (Some(map), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
                    map.extend(extra.clone());
                    if let Some(c) = s.carrier {
                        map.insert("carrier".into(), c.into());
                    }
                    if let Some(t) = &s.tracking {
                        map.insert("trackingNumber".into(), t.clone().into());
                    }
                }
                let actor = if collect {
                    ("agent", Some("store-staff"))
                } else {
                    ("service", Some("carrier-hub"))
                };
                g.event(
                    "SHIPMENT_UPDATED",
                    at,
                    actor,
                    order,
                    Some(s.id),
                    None,
                    None,
                    Some(s.location),
                    None,
                    payload,
                )
            };
        // A missed dispatch deadline is flagged by the deadline watch.
        if late_dispatch && dispatch_by < now {
            let at = self.after(dispatch_by, 0.0, 0.02);
            if at < now {
                s.delayed = true;
                s.updated = at;
                self.event(
                    "SHIPMENT_DELAYED",
                    at,
                    ("system", None),
                    order,
                    Some(s.id),
                    None,
                    None,
                    Some(s.location),
                    None,
                    json!({
                        "dispatchBy": dispatch_by.to_rfc3339(),
                        "promisedDate": promised.map(|d| d.to_string()),
                        "cause": "dispatch deadline missed",
                        "status": "PENDING",
                        "orderNumber": order.number,
                    }),
                );
            }
        }
        if dispatch >= now {
            s.status = if now > placed + chrono::Duration::hours(2) {
                "PICKING"
            } else {
                "PENDING"
            };
            return;
        }
        s.dispatched = Some(dispatch);
        s.last_event = Some(dispatch);
        s.updated = dispatch;
        if collect {
            s.status = "READY_FOR_COLLECTION";
        } else {
            self.tracking += 1;
            s.carrier = Some(CARRIERS[self.rng.random_range(0..CARRIERS.len())]);
            s.tracking = Some(format!(
                "{}{:09}",
                s.carrier.map_or("", |c| &c[..3]).to_uppercase(),
                470_000_000 + self.tracking
            ));
            s.status = "DISPATCHED";
        }
        // When it arrives (or is collected): on time, unless it is one of the late ones.
        let late = self.chance(if late_dispatch { 0.6 } else { 0.13 });
        let natural = if collect {
            self.after(dispatch, 2.0, 72.0)
        } else {
            self.after(dispatch, 16.0, 60.0)
        };
        let arrival = match promised {
            Some(p) if late => {
                let after = end_of_day(p).max(natural);
                self.after(after, 6.0, 24.0 * 3.0)
            }
            Some(p) if natural > end_of_day(p) => {
                let earliest = dispatch + chrono::Duration::hours(4);
                let day = p.and_time(NaiveTime::MIN).and_utc();
                self.after(day.max(earliest), 9.0, 18.0)
                    .min(end_of_day(p))
                    .max(earliest)
            }
            _ => natural,
        };
        s.estimate = Some(if late {
            arrival.date_naive()
        } else {
            promised.unwrap_or(arrival.date_naive()).min(
                arrival
                    .date_naive()
                    .max((dispatch + chrono::Duration::hours(36)).date_naive()),
            )
        });
        let kind = if collect {
            "READY_FOR_COLLECTION"
        } else {
            "SHIPMENT_DISPATCHED"
        };
        let status = s.status;
        let seq = shipment_event(self, s, dispatch, status, json!({}));
        self.email(kind, order, seq, dispatch, Some(s.id), None, None);
        // The carrier's estimate moves past the promise: flagged, and the customer is told.
        if late && !collect && promised.is_some() && self.chance(0.7) {
            let at = self.after(
                dispatch,
                1.0,
                (arrival - dispatch).num_minutes() as f64 / 60.0 - 1.0,
            );
            if at < now {
                s.delayed = true;
                s.updated = at;
                s.last_event = Some(at);
                let seq = self.event(
                    "SHIPMENT_DELAYED",
                    at,
                    ("service", Some("carrier-hub")),
                    order,
                    Some(s.id),
                    None,
                    None,
                    Some(s.location),
                    None,
                    json!({
                        "estimatedDeliveryDate": s.estimate.map(|d| d.to_string()),
                        "promisedDate": promised.map(|d| d.to_string()),
                        "cause": "carrier estimate",
                        "status": "IN_TRANSIT",
                        "orderNumber": order.number,
                    }),
                );
                self.email("SHIPMENT_DELAYED", order, seq, at, Some(s.id), None, None);
            }
        }
        if !collect {
            let transit = self.after(dispatch, 2.0, 8.0);
            if transit < now && transit < arrival {
                s.status = "IN_TRANSIT";
                s.last_event = Some(transit);
                s.updated = s.updated.max(transit);
                shipment_event(
                    self,
                    s,
                    transit,
                    "IN_TRANSIT",
                    json!({ "tracking": "IN_TRANSIT", "description": null, "location": "Hub", "history": false }),
                );
            }
            let out = arrival - chrono::Duration::hours(4);
            if out < now && out > dispatch {
                s.status = "OUT_FOR_DELIVERY";
                s.last_event = Some(out);
                s.updated = s.updated.max(out);
                shipment_event(
                    self,
                    s,
                    out,
                    "OUT_FOR_DELIVERY",
                    json!({ "tracking": "OUT_FOR_DELIVERY", "description": null, "location": null, "history": false }),
                );
            }
        }
        if arrival >= now {
            return;
        }
        s.status = if collect { "COLLECTED" } else { "DELIVERED" };
        s.delivered = Some(arrival);
        s.last_event = Some(arrival);
        s.updated = s.updated.max(arrival);
        let status = s.status;
        let seq = shipment_event(
            self,
            s,
            arrival,
            status,
            json!({ "tracking": status, "history": false }),
        );
        if !collect {
            self.email("DELIVERED", order, seq, arrival, Some(s.id), None, None);
        }
    }
}

/// A plain-text body of about `bytes`.
fn html_text(subject: &str, first_name: &str, bytes: usize) -> String {
    let mut text = format!("{subject}\n\nHello {first_name},\n\n");
    while text.len() < bytes {
        text.push_str("You can follow your order and manage it in your account at any time. ");
    }
    text.truncate(bytes.max(subject.len()));
    while !text.is_char_boundary(text.len()) {
        text.pop();
    }
    text
}

/// Migrates a fresh database at `url` and fills it; returns what was seeded.
async fn seed(url: &str, options: &Options, now: DateTime<Utc>) -> Result<Seeded, String> {
    let store = touchpoint::db::Store::connect(url, Default::default())
        .await
        .map_err(|e| format!("migrate {url}: {e}"))?;
    let db = &store.db;
    let backend = db.get_database_backend();
    let mut g = Generator::new(now, options.body_bytes);
    g.static_rows();
    let (planned, from) = g.plan(options.orders, options.days);
    let mut seeded = Seeded {
        orders: planned.len(),
        customers: g.customers.len(),
        from,
        to: now.date_naive(),
        ..Seeded::default()
    };
    for p in &planned {
        seeded.per_day.entry(p.placed_at.date_naive()).or_default()[p.channel] += 1;
    }
    let txn = db.begin().await.map_err(|e| format!("begin: {e}"))?;
    g.t.flush(&txn).await?;
    txn.commit().await.map_err(|e| format!("commit: {e}"))?;
    for chunk in planned.chunks(ORDERS_PER_TRANSACTION) {
        for p in chunk {
            g.order(p);
        }
        let txn = db.begin().await.map_err(|e| format!("begin: {e}"))?;
        g.t.flush(&txn).await?;
        txn.commit().await.map_err(|e| format!("commit: {e}"))?;
    }
    // A server that ran all along would have read every event: its cursors are past them.
    let max_seq = g.seq;
    let cursors = format!(
        "INSERT INTO dispatcher_cursors (name, position, updated_at) VALUES \
         ('events', {max_seq}, {now}), ('notifications', {max_seq}, {now})",
        now = ts(now)
    );
    db.execute_unprepared(&cursors)
        .await
        .map_err(|e| format!("dispatcher cursors: {e}"))?;
    if backend == DbBackend::Postgres {
        // Explicit ids were written: move the sequences past them.
        for (table, column) in [
            ("customers", "id"),
            ("customer_identities", "id"),
            ("locations", "id"),
            ("products", "id"),
            ("orders", "id"),
            ("order_lines", "id"),
            ("shipments", "id"),
            ("shipment_lines", "id"),
            ("substitutions", "id"),
            ("returns", "id"),
            ("return_lines", "id"),
            ("communications", "id"),
            ("events", "seq"),
        ] {
            db.execute_unprepared(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                 (SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}), false)"
            ))
            .await
            .map_err(|e| format!("sequence of {table}: {e}"))?;
        }
    }
    // Rows written behind the services' back: list every order for the metrics projection,
    // as the migration that added it does for the orders it found.
    db.execute_unprepared("INSERT INTO metrics_dirty (order_id, seq) SELECT id, 0 FROM orders")
        .await
        .map_err(|e| format!("metrics_dirty: {e}"))?;
    if backend == DbBackend::Postgres {
        // What autovacuum would do shortly after a bulk load.
        db.execute_unprepared("ANALYZE")
            .await
            .map_err(|e| format!("ANALYZE: {e}"))?;
    }
    // Closed before the server opens the file (SQLite checkpoints its log on close).
    let _ = store.db.close().await;
    for table in g.t.all() {
        seeded.rows.push((table.name, table.total));
    }
    Ok(seeded)
}

// ------------------------------------------------------------------------------------ measuring

/// `ordersPlaced` of a figures object.
fn placed_of(figures: &Value) -> Option<i64> {
    figures["ordersPlaced"].as_i64()
}

/// Checks an answer of the range query: overall and each channel as seeded.
fn check_range(data: &Value, seeded: &Seeded, channel: Option<usize>) -> Result<(), String> {
    let m = &data["experienceMetrics"];
    if m["ordersPending"].as_i64() != Some(0) {
        return Err(format!("ordersPending {}", m["ordersPending"]));
    }
    let (from, to) = (seeded.from, seeded.to);
    let want = seeded.placed(from, to, channel);
    if placed_of(&m["overall"]) != Some(want) {
        return Err(format!(
            "overall ordersPlaced {} where {want} were seeded",
            m["overall"]["ordersPlaced"]
        ));
    }
    let by = m["byChannel"].as_array().ok_or("no byChannel list")?;
    for entry in by {
        let name = entry["channel"]
            .as_str()
            .ok_or("a byChannel entry without channel")?;
        let k = CHANNELS
            .iter()
            .position(|c| *c == name)
            .ok_or_else(|| format!("unknown channel {name}"))?;
        let want = seeded.placed(from, to, Some(k));
        if placed_of(&entry["figures"]) != Some(want) {
            return Err(format!(
                "{name}: ordersPlaced {} where {want} were seeded",
                entry["figures"]["ordersPlaced"]
            ));
        }
    }
    let channels = if channel.is_some() { 1 } else { 5 };
    if by.len() != channels {
        return Err(format!(
            "{} byChannel entries, expected {channels}",
            by.len()
        ));
    }
    Ok(())
}

/// Checks an answer of the series query: every period's orders as seeded, the periods covering
/// the range.
fn check_series(data: &Value, seeded: &Seeded) -> Result<(), String> {
    let series = data["experienceMetrics"]["series"]
        .as_array()
        .ok_or("no series list")?;
    let mut total = 0;
    for period in series {
        let day = |k: &str| {
            period[k]
                .as_str()
                .and_then(|s| s.parse::<NaiveDate>().ok())
                .ok_or_else(|| format!("a period without {k}"))
        };
        let (from, to) = (day("from")?, day("to")?);
        let want = seeded.placed(from, to, None);
        if placed_of(&period["overall"]) != Some(want) {
            return Err(format!(
                "period {from}..{to}: ordersPlaced {} where {want} were seeded",
                period["overall"]["ordersPlaced"]
            ));
        }
        total += want;
    }
    let weeks = series.len();
    let span = (seeded.to - seeded.from).num_days() + 1;
    let expected_weeks = {
        let first_monday_offset = i64::from(seeded.from.weekday().num_days_from_monday());
        ((first_monday_offset + span) + 6) / 7
    };
    if weeks as i64 != expected_weeks || total != seeded.orders as i64 {
        return Err(format!(
            "{weeks} weeks with {total} orders; expected {expected_weeks} weeks, {} orders",
            seeded.orders
        ));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Range,
    Web,
    Series,
    Baseline,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Range, Kind::Web, Kind::Series, Kind::Baseline];

    fn label(self) -> &'static str {
        match self {
            Kind::Range => "range, every figure, overall + byChannel",
            Kind::Web => "the same, channel: WEB",
            Kind::Series => "series(interval: WEEK), every figure",
            Kind::Baseline => "baseline { __typename }",
        }
    }
}

struct Measured {
    backend: &'static str,
    seeding_s: f64,
    size: String,
    ready_s: f64,
    first_ms: f64,
    first_bytes: usize,
    /// ordersPending in the first answer.
    first_pending: i64,
    /// Seconds from sending the first query until ordersPending was 0.
    complete_s: f64,
    /// The overall figures of the range, as last answered.
    overall: Value,
    samples: BTreeMap<&'static str, Vec<f64>>,
    bytes: BTreeMap<&'static str, usize>,
    load: String,
}

/// One request, timed from the client: (milliseconds, data, response bytes).
async fn timed(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<(f64, Value, usize), String> {
    let started = Instant::now();
    let data = graphql(http, base, token, query, variables).await?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let bytes = data.to_string().len();
    Ok((ms, data, bytes))
}

/// The first query on a fresh server, which may build the projection first: up to 10 minutes.
async fn first_query(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    variables: Value,
) -> Result<(f64, Value), String> {
    let started = Instant::now();
    let response = http
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": metrics_query(), "variables": variables }))
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .map_err(|e| format!("first query: {e}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("first query ({status}): {e}"))?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if !status.is_success() || body.get("errors").is_some_and(|e| !e.is_null()) {
        return Err(format!("first query ({status}): {body}"));
    }
    Ok((ms, body["data"].clone()))
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    backend: &'static str,
    url: &str,
    bin: &std::path::Path,
    http: &reqwest::Client,
    agent: &str,
    options: &Options,
    size: impl std::future::Future<Output = String>,
    elapsed: &dyn Fn() -> f64,
) -> Result<Measured, String> {
    eprintln!(
        "[{:>6.1}s] {backend}: seeding {} orders over {} days",
        elapsed(),
        options.orders,
        options.days
    );
    let seeding = Instant::now();
    let seeded = seed(url, options, options.now).await?;
    let seeding_s = seeding.elapsed().as_secs_f64();
    let size = size.await;
    eprintln!(
        "[{:>6.1}s] {backend}: seeded in {seeding_s:.1} s ({} customers), {size}: {}",
        elapsed(),
        seeded.customers,
        seeded
            .rows
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let starting = Instant::now();
    let server = Server::start_with(bin, http, Some(url), &[]).await?;
    let ready_s = starting.elapsed().as_secs_f64();
    let range = json!({ "from": seeded.from.to_string(), "to": seeded.to.to_string() });
    let web =
        json!({ "from": seeded.from.to_string(), "to": seeded.to.to_string(), "channel": "WEB" });
    // The first query catches the projection up for a while, then answers with what it has
    // and says how many orders it is missing; the server's background pass goes on meanwhile.
    let ready = Instant::now();
    let (first_ms, data) = first_query(http, &server.base, agent, range.clone())
        .await
        .map_err(|e| format!("{e}\nserver log:\n{}", server.log_tail(20)))?;
    let first_bytes = data.to_string().len();
    let first_pending = data["experienceMetrics"]["ordersPending"]
        .as_i64()
        .ok_or("the first query answered no ordersPending")?;
    let placed = data["experienceMetrics"]["overall"]["ordersPlaced"]
        .as_i64()
        .unwrap_or(-1);
    if first_pending == 0 {
        check_range(&data, &seeded, None).map_err(|e| format!("{backend}: first query: {e}"))?;
    } else if !(0..=seeded.orders as i64).contains(&placed) {
        return Err(format!(
            "{backend}: first query: ordersPlaced {placed} of {} seeded",
            seeded.orders
        ));
    }
    eprintln!(
        "[{:>6.1}s] {backend}: first query {first_ms:.0} ms ({first_bytes} bytes), \
         {first_pending} orders pending, {placed} placed",
        elapsed()
    );
    // Then until the projection holds every order.
    let mut pending = first_pending;
    while pending > 0 {
        if ready.elapsed() > Duration::from_secs(1800) {
            return Err(format!(
                "{backend}: {pending} orders still pending 30 minutes after the first query"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let data = graphql(http, &server.base, agent, PENDING_QUERY, range.clone()).await?;
        pending = data["experienceMetrics"]["ordersPending"]
            .as_i64()
            .ok_or("no ordersPending")?;
    }
    let complete_s = ready.elapsed().as_secs_f64();
    if first_pending > 0 {
        eprintln!(
            "[{:>6.1}s] {backend}: projection complete {complete_s:.1} s after the first query \
             was sent",
            elapsed()
        );
    }
    let (metrics, series) = (metrics_query(), series_query());
    let mut samples: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut bytes = BTreeMap::new();
    let mut overall = Value::Null;
    for round in 0..options.rounds {
        let mut line = Vec::new();
        for k in 0..Kind::ALL.len() {
            let kind = Kind::ALL[(k + round) % Kind::ALL.len()];
            let (ms, data, size) = match kind {
                Kind::Range => timed(http, &server.base, agent, &metrics, range.clone()).await,
                Kind::Web => timed(http, &server.base, agent, &metrics, web.clone()).await,
                Kind::Series => timed(http, &server.base, agent, &series, range.clone()).await,
                Kind::Baseline => timed(http, &server.base, agent, BASELINE_QUERY, json!({})).await,
            }
            .map_err(|e| format!("{backend}: round {}: {e}", round + 1))?;
            match kind {
                Kind::Range => check_range(&data, &seeded, None),
                Kind::Web => check_range(&data, &seeded, Some(0)),
                Kind::Series => check_series(&data, &seeded),
                Kind::Baseline => {
                    if data["__typename"] == "Query" {
                        Ok(())
                    } else {
                        Err(format!("baseline answered {data}"))
                    }
                }
            }
            .map_err(|e| format!("{backend}: round {}: {}: {e}", round + 1, kind.label()))?;
            if kind == Kind::Range {
                overall = data["experienceMetrics"]["overall"].clone();
            }
            samples.entry(kind.label()).or_default().push(ms);
            bytes.insert(kind.label(), size);
            line.push(format!("{:?} {ms:.1} ms", kind));
        }
        eprintln!(
            "[{:>6.1}s] {backend}: round {}: {}",
            elapsed(),
            round + 1,
            line.join(", ")
        );
    }
    let load = loadavg();
    drop(server);
    Ok(Measured {
        backend,
        seeding_s,
        size,
        ready_s,
        first_ms,
        first_bytes,
        first_pending,
        complete_s,
        overall,
        samples,
        bytes,
        load,
    })
}

fn main() {
    common::server::run_to_exit(Options::parse(), run);
}

async fn run(options: Options) -> Result<i32, String> {
    let command = common::invocation("metrics");
    let bin = server_binary(options.server_bin.as_deref())?;
    let started = Instant::now();
    let elapsed = || started.elapsed().as_secs_f64();

    println!(
        "# Experience-metrics benchmark ({})",
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
        "plan: {} orders over {} days, {}-byte email bodies; the first query, then {} round(s) \
         of each query; SQLite{}",
        options.orders,
        options.days,
        options.body_bytes,
        options.rounds,
        if options.postgres_url.is_some() {
            " and PostgreSQL"
        } else {
            ""
        }
    );
    println!();

    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let agent = mint_token(
        JWT_SECRET,
        Role::Agent,
        AGENT,
        Duration::from_secs(4 * 3600),
    );
    let mut notes = Vec::new();
    let mut results = Vec::new();

    let data_dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let file = data_dir.path().join("metrics.db");
    let sqlite_url = format!("sqlite://{}?mode=rwc", file.display());
    let sqlite_size = async {
        // The main file and what is left in the write-ahead log.
        let size: u64 = ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{}{s}", file.display())).ok())
            .map(|m| m.len())
            .sum();
        format!("{:.0} MB", size as f64 / 1e6)
    };
    results.push(
        measure(
            "SQLite",
            &sqlite_url,
            &bin,
            &http,
            &agent,
            &options,
            sqlite_size,
            &elapsed,
        )
        .await?,
    );
    drop(data_dir);

    let mut postgres_db = None;
    match &options.postgres_url {
        Some(admin_url) => {
            let db = PostgresDatabase::create(admin_url).await?;
            let url = db.url.clone();
            let size = async { db.size().await.unwrap_or_else(|| "?".into()) };
            let measured = measure(
                "PostgreSQL",
                &url,
                &bin,
                &http,
                &agent,
                &options,
                size,
                &elapsed,
            )
            .await;
            postgres_db = Some(db);
            results.push(measured?);
        }
        None => notes.push(
            "PostgreSQL skipped: give --postgres-url URL or TOUCHPOINT_BENCH_POSTGRES_URL".into(),
        ),
    }
    drop(postgres_db);

    print_report(&results, &notes, &options);
    println!();
    println!(
        "Total time {:.0} s; load average at the end {}.",
        elapsed(),
        loadavg()
    );
    println!("command: `{command}`");
    Ok(0)
}

fn print_report(results: &[Measured], notes: &[String], options: &Options) {
    println!();
    println!(
        "## experienceMetrics over {} days, {} orders (from the client, one request at a time; {} rounds)",
        options.days, options.orders, options.rounds
    );
    println!();
    println!(
        "| backend | query | median ms | p90 ms | min ms | vs {TARGET_MS:.0} ms target | vs baseline | response bytes |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for r in results {
        let baseline = median(
            r.samples
                .get(Kind::Baseline.label())
                .cloned()
                .unwrap_or_default(),
        );
        println!(
            "| {} | first query ({} orders pending in its answer) | {:.1} | — | — | {:.2}× | {:.0}× | {} |",
            r.backend,
            r.first_pending,
            r.first_ms,
            r.first_ms / TARGET_MS,
            r.first_ms / baseline,
            r.first_bytes
        );
        for kind in Kind::ALL {
            let Some(values) = r.samples.get(kind.label()) else {
                continue;
            };
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let p = percentiles(values.clone());
            let med = median(values.clone());
            println!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {} |",
                r.backend,
                kind.label(),
                med,
                percentile(&sorted, 90.0),
                sorted.first().copied().unwrap_or(f64::NAN),
                if kind == Kind::Baseline {
                    "—".to_string()
                } else {
                    format!("{:.2}×", med / TARGET_MS)
                },
                if kind == Kind::Baseline {
                    format!("1× (p99 {:.2})", p.p99)
                } else {
                    format!("{:.0}×", med / baseline)
                },
                r.bytes.get(kind.label()).copied().unwrap_or(0)
            );
        }
    }
    println!();
    for r in results {
        println!(
            "{}: seeded in {:.1} s, database {}; server ready {:.1} s after start; projection \
             complete {:.1} s after the first query was sent; load average {} after the rounds.",
            r.backend, r.seeding_s, r.size, r.ready_s, r.complete_s, r.load
        );
    }
    for r in results {
        let o = &r.overall;
        let rate = |v: &Value| {
            v.as_f64()
                .map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
        };
        println!(
            "{} figures of the range: {} orders placed, {} shipped ({} avg shipments), on time {}, \
             told proactively {} of the delayed, {} cancellations, return rate {} ({} cross-channel), \
             {} refunds, {} emails sent (open rate {}), {} substitutions, repeat within 30 days {}.",
            r.backend,
            o["ordersPlaced"],
            o["fulfilment"]["ordersShipped"],
            o["fulfilment"]["averageShipmentsPerOrder"]
                .as_f64()
                .map_or("—".into(), |v| format!("{v:.2}")),
            rate(&o["delivery"]["onTimeRate"]),
            rate(&o["delivery"]["proactiveRate"]),
            o["cancellations"]["cancellations"],
            rate(&o["returns"]["returnRate"]),
            rate(&o["returns"]["crossChannelRate"]),
            o["returns"]["refundsIssued"],
            o["emails"]["sent"],
            rate(&o["emails"]["openRate"]),
            o["substitutions"]["proposed"],
            rate(&o["repeatPurchase"]["all"]["rate30Days"]),
        );
    }
    println!();
    println!(
        "\"vs {TARGET_MS:.0} ms target\" is the median over the issue's target (below 1× meets it); \
         \"vs baseline\" the median over that of `{{ __typename }}` with the same token on the same \
         server. Server and bench share the machine's {} cores.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for note in notes {
        println!("note: {note}");
    }
}
