//! Load benchmark for GraphQL subscriptions (graphql-transport-ws on `/graphql`).
//!
//! It runs the release server as a separate process (so its RSS can be read from
//! `/proc/<pid>/status`), one server and one fresh SQLite database per subscriber count, and
//! reports:
//!
//! 1. memory: the server's RSS before and after opening N idle `customerTimeline`
//!    subscriptions (one WebSocket connection each), divided by N;
//! 2. delay from commit to delivery: the bench performs `addCustomerNote` mutations one at a time
//!    (each yields one NOTE_ADDED event for every subscriber) and measures, for every delivery,
//!    the time from the moment the mutation's HTTP response arrived (the commit is done by then)
//!    and from just before the request was sent, to the moment the subscriber read the `next`
//!    frame; p50/p99/max over all deliveries, and throughput (deliveries/s).
//!
//! N = 1 is the baseline, run in the same invocation, so the other counts are also shown as
//! ratios. Rounds are interleaved across the counts (round 1 of every N, then round 2, ...) and
//! the table shows the median of the rounds, so a burst of load from something else on the
//! machine does not land on one count only.
//!
//! ```sh
//! cargo bench --bench subscriptions                 # N = 1, 1,000, 10,000; 5 rounds × 20 events
//! cargo bench --bench subscriptions -- --smoke      # N = 1 and 50, 3 events; < 60 s; CI
//! cargo bench --bench subscriptions -- --sizes 1,2000 --rounds 3 --events 10 --batch 200
//! cargo bench --bench subscriptions -- --smoke --sizes 1 --events 8 --trace   # per-event timings
//! ```
//!
//! `cargo bench` builds the package's binaries for benches, so the server it runs
//! (`CARGO_BIN_EXE_touchpoint`, i.e. target/release/touchpoint) is the current code; with
//! `--server-bin PATH` another build can be measured. Each N gets one warm-up event first
//! (`--warmup`; its misses count, its timings do not). The report also shows the CPU the server
//! and this process spent per delivery (/proc/<pid>/stat): both share the same cores, so the
//! figures are for "server and clients on one machine".
//!
//! The exit status is non-zero when any subscriber misses an event (or gets an error, a
//! `complete` or a closed connection), or when the server cannot be started or set up.
//! Every loop is bounded by count and by time; only 127.0.0.1 is contacted; the server
//! processes are killed at the end, also on failure (a Drop guard).

#[path = "common/mod.rs"]
mod common;
use common::api::{mutate, set_stock_level, upsert_location, upsert_product};
use common::median_of as median;
use common::server::{
    JWT_SECRET, Server, TICKS_PER_SECOND, cpu_ticks, loadavg, open_files_limit, proc_status_kb,
    server_binary,
};
use common::stats::{Percentiles, ms, percentiles};

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use touchpoint::auth::{Role, mint_token};

const AGENT: &str = "bench-agent";
const SUBPROTOCOL: &str = "graphql-transport-ws";
const LIVE_GAUGE: &str = "touchpoint_live_subscriptions";
/// File descriptors kept free for everything that is not a subscriber socket.
const FD_MARGIN: usize = 200;

type Ws = WebSocketStream<TcpStream>;

// ------------------------------------------------------------------------------------ options

#[derive(Clone, Debug)]
struct Options {
    smoke: bool,
    sizes: Vec<usize>,
    rounds: usize,
    events: usize,
    warmup: usize,
    batch: usize,
    /// How long one event may take to reach every subscriber.
    event_timeout: Duration,
    /// The whole measurement (after the servers are up) stops by then.
    budget: Duration,
    server_bin: Option<PathBuf>,
}

/// `--trace`: print every event's timing (diagnostics).
static TRACE: AtomicBool = AtomicBool::new(false);

impl Options {
    fn parse() -> Result<Options, String> {
        let mut o = Options {
            smoke: false,
            sizes: vec![1, 1_000, 10_000],
            rounds: 5,
            events: 20,
            warmup: 1,
            batch: 200,
            event_timeout: Duration::from_secs(30),
            budget: Duration::from_secs(30 * 60),
            server_bin: None,
        };
        let mut explicit_sizes = false;
        let mut explicit_rounds = false;
        let mut explicit_events = false;
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
                "--sizes" => {
                    let value = args.next().ok_or("--sizes needs a value, e.g. 1,1000")?;
                    o.sizes = value
                        .split(',')
                        .map(|s| s.trim().replace('_', "").parse::<usize>())
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("--sizes {value}: {e}"))?;
                    explicit_sizes = true;
                }
                "--rounds" => {
                    o.rounds = number("--rounds", args.next())?;
                    explicit_rounds = true;
                }
                "--events" => {
                    o.events = number("--events", args.next())?;
                    explicit_events = true;
                }
                "--batch" => o.batch = number("--batch", args.next())?,
                "--warmup" => o.warmup = number("--warmup", args.next())?,
                "--server-bin" => {
                    o.server_bin = Some(args.next().ok_or("--server-bin needs a path")?.into())
                }
                // cargo passes --bench to harness = false benches.
                "--trace" => TRACE.store(true, Ordering::Relaxed),
                "--bench" => {}
                "-h" | "--help" => {
                    println!(
                        "usage: cargo bench --bench subscriptions -- [--smoke] [--sizes 1,1000,10000] \
                         [--rounds 5] [--events 20] [--batch 200] [--warmup 1] [--server-bin PATH] [--trace]"
                    );
                    std::process::exit(0);
                }
                other => eprintln!("note: ignoring argument {other:?}"),
            }
        }
        if o.smoke {
            if !explicit_sizes {
                o.sizes = vec![1, 50];
            }
            if !explicit_rounds {
                o.rounds = 1;
            }
            if !explicit_events {
                o.events = 3;
            }
            o.event_timeout = Duration::from_secs(5);
            o.budget = Duration::from_secs(40);
        }
        o.sizes.retain(|&n| n > 0);
        o.sizes.sort_unstable();
        o.sizes.dedup();
        if o.sizes.is_empty() || o.rounds == 0 || o.events == 0 || o.batch == 0 {
            return Err("sizes, rounds, events and batch must be positive".into());
        }
        Ok(o)
    }
}

/// A warehouse with coordinates, a product with a price, stock, and the customer whose
/// timeline the subscribers watch. Returns the customer id.
async fn seed(http: &reqwest::Client, base: &str, service: &str) -> Result<String, String> {
    upsert_location(
        http,
        base,
        service,
        json!({ "code": "BENCH-WH", "name": "Bench warehouse", "kind": "WAREHOUSE",
                "location": { "latitude": 48.85, "longitude": 2.35 } }),
    )
    .await?;
    upsert_product(
        http,
        base,
        service,
        json!({ "sku": "BENCH-TEE", "name": "Bench tee",
                "price": { "amount": "10.00", "currencyCode": "EUR" } }),
    )
    .await?;
    set_stock_level(http, base, service, "BENCH-WH", "BENCH-TEE", 100).await?;
    let customer = mutate(
        http,
        base,
        service,
        "upsertCustomer",
        "mutation($input: CustomerInput!) { upsertCustomer(input: $input) {
            customer { id } userErrors { field code message } } }",
        json!({ "email": "bench@example.com", "firstName": "Bench" }),
    )
    .await?;
    customer["customer"]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("upsertCustomer returned no id: {customer}"))
}

/// The server's count of live subscriptions (the `touchpoint_live_subscriptions` gauge).
async fn live_subscriptions(
    server: &Server,
    http: &reqwest::Client,
) -> Result<Option<u64>, String> {
    Ok(server.metric(http, LIVE_GAUGE).await?.map(|v| v as u64))
}

// ------------------------------------------------------------------------------------ subscribers

/// Receive instants of every subscriber, keyed by the note body of the event.
struct Recorder {
    expected: usize,
    arrivals: Mutex<HashMap<String, Vec<(u32, Instant)>>>,
    notify: tokio::sync::Notify,
    problems: Mutex<Vec<String>>,
    problem_count: AtomicUsize,
    closing: AtomicBool,
}

impl Recorder {
    fn new(expected: usize) -> Recorder {
        Recorder {
            expected,
            arrivals: Mutex::new(HashMap::new()),
            notify: tokio::sync::Notify::new(),
            problems: Mutex::new(Vec::new()),
            problem_count: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
        }
    }

    fn arrive(&self, key: &str, subscriber: u32, at: Instant) {
        let mut arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        let list = match arrivals.get_mut(key) {
            Some(list) => list,
            None => arrivals.entry(key.to_owned()).or_default(),
        };
        list.push((subscriber, at));
        if list.len() >= self.expected {
            self.notify.notify_one();
        }
    }

    fn problem(&self, what: String) {
        if self.closing.load(Ordering::Relaxed) {
            return;
        }
        if self.problem_count.fetch_add(1, Ordering::Relaxed) < 20 {
            self.problems
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(what);
        }
    }

    fn count(&self, key: &str) -> usize {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .map_or(0, Vec::len)
    }

    /// Waits until every subscriber received `key` or the deadline; returns the arrivals.
    async fn wait_for(&self, key: &str, deadline: Instant) -> Vec<(u32, Instant)> {
        while self.count(key) < self.expected {
            let notified = self.notify.notified();
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                break;
            }
        }
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
            .unwrap_or_default()
    }
}

/// The note body in a NOTE_ADDED summary ("Note by bench-agent: bench n1000 17").
fn body_of(summary: &str) -> Option<&str> {
    summary
        .rsplit_once(": ")
        .map(|(_, body)| body)
        .filter(|b| b.starts_with("bench "))
}

/// TCP connect, WebSocket handshake (graphql-transport-ws), connection_init with the token,
/// connection_ack, subscribe. Bounded by `timeout` overall.
async fn open_subscriber(
    addr: std::net::SocketAddr,
    token: &str,
    customer_id: &str,
    timeout: Duration,
) -> Result<Ws, String> {
    let work = async {
        let url = format!("ws://{addr}/graphql");
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("request {url}: {e}"))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("TCP connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(|e| format!("WebSocket handshake: {e}"))?;
        let init = json!({ "type": "connection_init",
                           "payload": { "authorization": format!("Bearer {token}") } });
        ws.send(Message::text(init.to_string()))
            .await
            .map_err(|e| format!("send connection_init: {e}"))?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(text.as_str())
                        .map_err(|e| format!("not JSON ({e}): {text}"))?;
                    match v["type"].as_str() {
                        Some("connection_ack") => break,
                        Some("ping") => ws
                            .send(Message::text(json!({"type": "pong"}).to_string()))
                            .await
                            .map_err(|e| format!("send pong: {e}"))?,
                        _ => return Err(format!("expected connection_ack, got {v}")),
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(format!("closed before connection_ack: {frame:?}"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("before connection_ack: {e}")),
                None => return Err("connection ended before connection_ack".into()),
            }
        }
        let query = format!(
            "subscription {{ customerTimeline(customerId: \"{customer_id}\") {{ kind occurredAt summary }} }}"
        );
        let subscribe = json!({ "type": "subscribe", "id": "1", "payload": { "query": query } });
        ws.send(Message::text(subscribe.to_string()))
            .await
            .map_err(|e| format!("send subscribe: {e}"))?;
        Ok(ws)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("connect + init + subscribe took over {timeout:?}"))?
}

/// One task per connection: reads frames and records when each event arrived.
async fn read_frames(mut ws: Ws, subscriber: u32, recorder: Arc<Recorder>) {
    loop {
        let frame = ws.next().await;
        let at = Instant::now();
        match frame {
            Some(Ok(Message::Text(text))) => {
                let v: Value = match serde_json::from_str(text.as_str()) {
                    Ok(v) => v,
                    Err(e) => {
                        recorder
                            .problem(format!("subscriber {subscriber}: not JSON ({e}): {text}"));
                        continue;
                    }
                };
                match v["type"].as_str() {
                    Some("next") => {
                        let errors = &v["payload"]["errors"];
                        if errors.as_array().is_some_and(|e| !e.is_empty()) {
                            recorder.problem(format!(
                                "subscriber {subscriber}: `next` with errors: {v}"
                            ));
                            continue;
                        }
                        let entry = &v["payload"]["data"]["customerTimeline"];
                        match (
                            entry["kind"].as_str(),
                            entry["summary"].as_str().and_then(body_of),
                        ) {
                            (Some("NOTE_ADDED"), Some(body)) => {
                                recorder.arrive(body, subscriber, at)
                            }
                            _ => recorder
                                .problem(format!("subscriber {subscriber}: unexpected event {v}")),
                        }
                    }
                    Some("ping") => {
                        let _ = ws
                            .send(Message::text(json!({"type": "pong"}).to_string()))
                            .await;
                    }
                    Some("pong") => {}
                    Some("complete") => {
                        recorder.problem(format!(
                            "subscriber {subscriber}: the server completed the subscription: {v}"
                        ));
                        return;
                    }
                    _ => recorder.problem(format!("subscriber {subscriber}: {v}")),
                }
            }
            Some(Ok(Message::Close(frame))) => {
                recorder.problem(format!(
                    "subscriber {subscriber}: the server closed the connection: {frame:?}"
                ));
                return;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                recorder.problem(format!("subscriber {subscriber}: connection error: {e}"));
                return;
            }
            None => {
                recorder.problem(format!("subscriber {subscriber}: the connection ended"));
                return;
            }
        }
    }
}

// ------------------------------------------------------------------------------------ a fleet

/// One server with N subscribers on one customer's timeline.
struct Fleet {
    n: usize,
    label: String,
    customer_id: String,
    agent_token: String,
    recorder: Arc<Recorder>,
    readers: Vec<JoinHandle<()>>,
    memory: Memory,
    rounds: Vec<RoundStats>,
    next_event: usize,
    missed: usize,
    duplicates: usize,
    aborted: Option<String>,
    // Last, so it is dropped (killed) after the readers were aborted in Drop.
    server: Server,
}

#[derive(Clone, Copy, Default)]
struct Memory {
    rss_before_kb: u64,
    rss_idle_kb: u64,
    rss_after_events_kb: u64,
    hwm_kb: u64,
    open_seconds: f64,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.recorder.closing.store(true, Ordering::Relaxed);
        for reader in &self.readers {
            reader.abort();
        }
    }
}

impl Fleet {
    async fn open(
        n: usize,
        bin: &Path,
        http: &reqwest::Client,
        options: &Options,
    ) -> Result<Fleet, String> {
        let server = Server::start(bin, http).await?;
        let ttl = Duration::from_secs(4 * 3600);
        let service = mint_token(JWT_SECRET, Role::Service, "bench", ttl);
        let agent_token = mint_token(JWT_SECRET, Role::Agent, AGENT, ttl);
        let customer_id = seed(http, &server.base, &service)
            .await
            .map_err(|e| format!("setup: {e}\nserver log:\n{}", server.log_tail(20)))?;
        let recorder = Arc::new(Recorder::new(n));
        let mut fleet = Fleet {
            n,
            label: format!("n{n}"),
            customer_id,
            agent_token,
            recorder,
            readers: Vec::with_capacity(n),
            memory: Memory::default(),
            rounds: Vec::new(),
            next_event: 0,
            missed: 0,
            duplicates: 0,
            aborted: None,
            server,
        };
        // Let start-up work settle before the baseline reading.
        tokio::time::sleep(Duration::from_millis(500)).await;
        fleet.memory.rss_before_kb = fleet.server.rss_kb();

        let started = Instant::now();
        let open_deadline =
            started + Duration::from_secs(60) + Duration::from_millis(20 * n as u64);
        let mut opened = 0usize;
        while opened < n {
            if Instant::now() > open_deadline {
                return Err(format!(
                    "opening {n} subscriptions: only {opened} after {:?}",
                    started.elapsed()
                ));
            }
            let batch = options.batch.min(n - opened);
            let results = futures_util::future::join_all((0..batch).map(|_| {
                open_subscriber(
                    fleet.server.addr,
                    &fleet.agent_token,
                    &fleet.customer_id,
                    Duration::from_secs(30),
                )
            }))
            .await;
            for result in results {
                let ws = result.map_err(|e| {
                    format!(
                        "subscriber {opened} of {n}: {e}\nserver log:\n{}",
                        fleet.server.log_tail(20)
                    )
                })?;
                let recorder = fleet.recorder.clone();
                let index = opened as u32;
                fleet
                    .readers
                    .push(tokio::spawn(read_frames(ws, index, recorder)));
                opened += 1;
            }
        }
        // Every subscription is live once the server's gauge counts it.
        let ready_deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let live = live_subscriptions(&fleet.server, http).await?;
            match live {
                Some(live) if live as usize >= n => break,
                None => {
                    return Err(format!(
                        "GET /metrics has no {LIVE_GAUGE} gauge; cannot tell when subscriptions are live"
                    ));
                }
                Some(live) if Instant::now() > ready_deadline => {
                    return Err(format!(
                        "{LIVE_GAUGE} is {live}, not {n}, 60 s after opening {n} subscriptions; \
                         first problems: {:?}\nserver log:\n{}",
                        fleet.problems(),
                        fleet.server.log_tail(20)
                    ));
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        fleet.memory.open_seconds = started.elapsed().as_secs_f64();
        // Idle: let the server finish whatever it does after subscribing, then read RSS.
        tokio::time::sleep(Duration::from_secs(1)).await;
        fleet.memory.rss_idle_kb = fleet.server.rss_kb();
        Ok(fleet)
    }

    fn problems(&self) -> Vec<String> {
        self.recorder
            .problems
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One addCustomerNote, then waits until every subscriber got its event.
    async fn event(
        &mut self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<EventTiming, String> {
        let body = format!("bench {} {}", self.label, self.next_event);
        self.next_event += 1;
        let request = json!({
            "query": "mutation($input: AddCustomerNoteInput!) { addCustomerNote(input: $input) {
                        note { id } userErrors { code } } }",
            "variables": { "input": { "customerId": self.customer_id, "body": body } },
        });
        let url = format!("{}/graphql", self.server.base);
        let sent = Instant::now();
        let response = http
            .post(&url)
            .bearer_auth(&self.agent_token)
            .json(&request)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| format!("addCustomerNote: {e}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("addCustomerNote body: {e}"))?;
        let answered = Instant::now();
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("addCustomerNote ({status}): not JSON ({e})"))?;
        let payload = &v["data"]["addCustomerNote"];
        if !status.is_success()
            || v.get("errors").is_some_and(|e| !e.is_null())
            || payload["note"]["id"].is_null()
            || payload["userErrors"]
                .as_array()
                .is_none_or(|e| !e.is_empty())
        {
            return Err(format!("addCustomerNote ({status}): {v}"));
        }
        let arrivals = self.recorder.wait_for(&body, answered + timeout).await;
        let mut seen = HashSet::with_capacity(arrivals.len());
        let mut delivered = Vec::with_capacity(arrivals.len());
        for (subscriber, at) in arrivals {
            if seen.insert(subscriber) {
                delivered.push(at);
            } else {
                self.duplicates += 1;
            }
        }
        let missed = self.n - delivered.len();
        self.missed += missed;
        if TRACE.load(Ordering::Relaxed) {
            let first = delivered
                .iter()
                .min()
                .map_or(f64::NAN, |&at| ms(at, answered));
            let last = delivered
                .iter()
                .max()
                .map_or(f64::NAN, |&at| ms(at, answered));
            eprintln!(
                "  {body}: response after {:.2} ms; deliveries {first:.2} … {last:.2} ms after the response; {missed} missed",
                ms(answered, sent)
            );
        }
        Ok(EventTiming {
            sent,
            answered,
            delivered,
            missed,
        })
    }

    /// One round: `events` mutations one at a time.
    async fn round(
        &mut self,
        http: &reqwest::Client,
        options: &Options,
        deadline: Instant,
    ) -> Result<(), String> {
        let mut timings = Vec::with_capacity(options.events);
        let server_pid = self.server.pid.to_string();
        let server_cpu_before = cpu_ticks(&server_pid);
        let bench_cpu_before = cpu_ticks("self");
        for _ in 0..options.events {
            if Instant::now() > deadline {
                return Err("the time budget ran out".into());
            }
            let timing = self.event(http, options.event_timeout).await?;
            if timing.delivered.is_empty() {
                return Err(format!(
                    "an event reached none of the {} subscribers within {:?}; first problems: {:?}",
                    self.n,
                    options.event_timeout,
                    self.problems()
                ));
            }
            timings.push(timing);
        }
        let mut stats = RoundStats::of(&timings);
        let cpu_seconds = |before: Option<u64>, after: Option<u64>| match (before, after) {
            (Some(b), Some(a)) => a.saturating_sub(b) as f64 / TICKS_PER_SECOND,
            _ => f64::NAN,
        };
        let server_cpu = cpu_seconds(server_cpu_before, cpu_ticks(&server_pid));
        let bench_cpu = cpu_seconds(bench_cpu_before, cpu_ticks("self"));
        let deliveries = stats.deliveries.max(1) as f64;
        stats.server_cpu_us_per_delivery = server_cpu * 1e6 / deliveries;
        stats.bench_cpu_us_per_delivery = bench_cpu * 1e6 / deliveries;
        stats.server_cpu_share = server_cpu / stats.wall_seconds;
        self.rounds.push(stats);
        Ok(())
    }
}

// ------------------------------------------------------------------------------------ statistics

struct EventTiming {
    sent: Instant,
    answered: Instant,
    delivered: Vec<Instant>,
    missed: usize,
}

#[derive(Clone, Copy, Default)]
struct RoundStats {
    deliveries: usize,
    missed: usize,
    /// From the mutation's response (commit done) to the delivery, ms (may be negative: the
    /// event can reach a subscriber before the response reaches the bench).
    after_response: Percentiles,
    /// From just before sending the mutation to the delivery, ms.
    after_send: Percentiles,
    /// The mutation's own round trip, ms (median).
    mutation_ms: f64,
    /// Deliveries per second while fanning out: deliveries / Σ(last delivery − send).
    throughput: f64,
    /// Wall time of the round (first send to last delivery), s.
    wall_seconds: f64,
    /// Server process CPU (user + system) per delivery during the round, µs; includes the
    /// mutations themselves.
    server_cpu_us_per_delivery: f64,
    /// This bench process's CPU per delivery (clients, JSON, HTTP), µs.
    bench_cpu_us_per_delivery: f64,
    /// Server CPU seconds per wall second during the round (1.0 = one core busy).
    server_cpu_share: f64,
}

impl RoundStats {
    fn of(events: &[EventTiming]) -> RoundStats {
        let mut after_response = Vec::new();
        let mut after_send = Vec::new();
        let mut fan_out_seconds = 0.0;
        for e in events {
            for &at in &e.delivered {
                after_response.push(ms(at, e.answered));
                after_send.push(ms(at, e.sent));
            }
            if let Some(&last) = e.delivered.iter().max() {
                fan_out_seconds += (last.max(e.answered) - e.sent).as_secs_f64();
            }
        }
        let deliveries = after_send.len();
        let first = events.iter().map(|e| e.sent).min();
        let last = events
            .iter()
            .flat_map(|e| e.delivered.iter().copied().chain([e.answered]))
            .max();
        let wall_seconds = match (first, last) {
            (Some(f), Some(l)) => (l - f).as_secs_f64(),
            _ => f64::NAN,
        };
        RoundStats {
            deliveries,
            missed: events.iter().map(|e| e.missed).sum(),
            after_response: percentiles(after_response),
            after_send: percentiles(after_send),
            mutation_ms: median(events.iter().map(|e| ms(e.answered, e.sent)).collect()),
            throughput: if fan_out_seconds > 0.0 {
                deliveries as f64 / fan_out_seconds
            } else {
                f64::NAN
            },
            wall_seconds,
            server_cpu_us_per_delivery: f64::NAN,
            bench_cpu_us_per_delivery: f64::NAN,
            server_cpu_share: f64::NAN,
        }
    }
}

/// The median over rounds of each figure.
fn summarize(rounds: &[RoundStats]) -> RoundStats {
    let m = |f: &dyn Fn(&RoundStats) -> f64| median(rounds.iter().map(f).collect());
    RoundStats {
        deliveries: rounds.iter().map(|r| r.deliveries).sum(),
        missed: rounds.iter().map(|r| r.missed).sum(),
        after_response: Percentiles {
            p50: m(&|r| r.after_response.p50),
            p99: m(&|r| r.after_response.p99),
            max: m(&|r| r.after_response.max),
        },
        after_send: Percentiles {
            p50: m(&|r| r.after_send.p50),
            p99: m(&|r| r.after_send.p99),
            max: m(&|r| r.after_send.max),
        },
        mutation_ms: m(&|r| r.mutation_ms),
        throughput: m(&|r| r.throughput),
        wall_seconds: m(&|r| r.wall_seconds),
        server_cpu_us_per_delivery: m(&|r| r.server_cpu_us_per_delivery),
        bench_cpu_us_per_delivery: m(&|r| r.bench_cpu_us_per_delivery),
        server_cpu_share: m(&|r| r.server_cpu_share),
    }
}

fn ratio(value: f64, baseline: f64) -> String {
    if baseline.is_nan() || value.is_nan() || baseline <= 0.05 {
        "n/a".into()
    } else {
        format!("{:.1}×", value / baseline)
    }
}

fn mib(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

fn per_subscription_kib(after_kb: u64, before_kb: u64, n: usize) -> String {
    format!("{:.1}", (after_kb as f64 - before_kb as f64) / n as f64)
}

// ------------------------------------------------------------------------------------ main

fn main() {
    common::server::run_to_exit(Options::parse(), run);
}

async fn run(mut options: Options) -> Result<i32, String> {
    let command = common::invocation("subscriptions");
    let bin = server_binary(options.server_bin.as_deref())?;
    let (soft, hard) = open_files_limit("self").unwrap_or((1024, 1024));
    // One socket per subscriber in this process and one in the server (a separate process
    // whose soft limit is raised to the hard one at spawn).
    let ceiling = soft.min(hard).saturating_sub(FD_MARGIN);
    let mut notes = Vec::new();
    for n in &mut options.sizes {
        if *n > ceiling {
            notes.push(format!(
                "N = {n} capped to {ceiling}: the open-files limit is {soft} (raise it with `ulimit -n`)"
            ));
            *n = ceiling;
        }
    }
    options.sizes.dedup();
    // All servers at once (rounds interleaved) when this process can hold every socket.
    let together = options.sizes.iter().sum::<usize>() <= ceiling;
    if !together {
        notes.push(format!(
            "the sizes together exceed the open-files limit ({soft}): one size at a time, rounds not interleaved"
        ));
    }

    println!(
        "# Subscription load benchmark ({})",
        if options.smoke { "smoke" } else { "full" }
    );
    println!();
    println!("command: `{command}`");
    println!(
        "server: {} serve --no-demo (SQLite in a temp dir), one process per N",
        bin.display()
    );
    println!(
        "machine: {} cores, open-files limit {soft}/{hard}, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    println!(
        "plan: N = {:?}; {} round(s) × {} events (+{} warm-up) per N; connections opened {} at a time",
        options.sizes, options.rounds, options.events, options.warmup, options.batch
    );
    for note in &notes {
        println!("note: {note}");
    }
    println!();

    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(4)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let started = Instant::now();
    let deadline = started + options.budget;
    let groups: Vec<Vec<usize>> = if together {
        vec![options.sizes.clone()]
    } else {
        options.sizes.iter().map(|&n| vec![n]).collect()
    };
    let mut finished: Vec<FleetResult> = Vec::new();
    for group in groups {
        let mut fleets = Vec::new();
        for &n in &group {
            eprintln!(
                "[{:>6.1}s] N = {n}: starting a server, opening {n} subscriptions",
                started.elapsed().as_secs_f64()
            );
            let fleet = Fleet::open(n, &bin, &http, &options).await?;
            eprintln!(
                "[{:>6.1}s] N = {n}: {n} live in {:.1} s; RSS {} → {} MiB",
                started.elapsed().as_secs_f64(),
                fleet.memory.open_seconds,
                mib(fleet.memory.rss_before_kb),
                mib(fleet.memory.rss_idle_kb)
            );
            fleets.push(fleet);
        }
        // Warm-up events (not counted in the figures, but misses are).
        for fleet in &mut fleets {
            for _ in 0..options.warmup {
                let timing = fleet.event(&http, options.event_timeout).await?;
                if timing.delivered.is_empty() {
                    fleet.aborted = Some(format!(
                        "the warm-up event reached none of the {} subscribers within {:?}; first problems: {:?}; server log:\n{}",
                        fleet.n,
                        options.event_timeout,
                        fleet.problems(),
                        fleet.server.log_tail(20)
                    ));
                    break;
                }
            }
        }
        for round in 0..options.rounds {
            // Rotate the order so no N always runs right after the biggest one.
            let count = fleets.len();
            for k in 0..count {
                let fleet = &mut fleets[(k + round) % count];
                if fleet.aborted.is_some() {
                    continue;
                }
                if let Err(e) = fleet.round(&http, &options, deadline).await {
                    fleet.aborted = Some(format!("round {}: {e}", round + 1));
                    continue;
                }
                let last = fleet.rounds.last().copied().unwrap_or_default();
                eprintln!(
                    "[{:>6.1}s] N = {}: round {}: p50 {:.2} ms, p99 {:.2} ms after the response; {:.0} deliveries/s; {} missed",
                    started.elapsed().as_secs_f64(),
                    fleet.n,
                    round + 1,
                    last.after_response.p50,
                    last.after_response.p99,
                    last.throughput,
                    last.missed
                );
            }
        }
        for mut fleet in fleets {
            fleet.memory.rss_after_events_kb = fleet.server.rss_kb();
            fleet.memory.hwm_kb = proc_status_kb(fleet.server.pid, "VmHWM").unwrap_or(0);
            // Problems recorded so far (errors, completes, closes) before shutting down.
            let problems = fleet.problems();
            let problem_count = fleet.recorder.problem_count.load(Ordering::Relaxed);
            let live_at_end = live_subscriptions(&fleet.server, &http)
                .await
                .ok()
                .flatten();
            finished.push(FleetResult {
                n: fleet.n,
                memory: fleet.memory,
                summary: summarize(&fleet.rounds),
                rounds: fleet.rounds.len(),
                missed: fleet.missed,
                duplicates: fleet.duplicates,
                problems,
                problem_count,
                live_at_end,
                aborted: fleet.aborted.clone(),
            });
            drop(fleet); // aborts its readers, then kills its server
        }
    }

    print_report(&finished, &options, started.elapsed());
    println!();
    println!("command: `{command}`");
    let failed = finished.iter().any(|f| {
        f.missed > 0
            || f.duplicates > 0
            || f.problem_count > 0
            || f.aborted.is_some()
            || f.rounds < options.rounds
    });
    if failed {
        println!("\nFAILED: some subscribers missed events or saw errors (details above)");
        Ok(1)
    } else {
        Ok(0)
    }
}

struct FleetResult {
    n: usize,
    memory: Memory,
    summary: RoundStats,
    rounds: usize,
    missed: usize,
    duplicates: usize,
    problems: Vec<String>,
    problem_count: usize,
    live_at_end: Option<u64>,
    aborted: Option<String>,
}

fn print_report(results: &[FleetResult], options: &Options, elapsed: Duration) {
    println!();
    println!("## Idle subscriptions and server memory");
    println!();
    println!(
        "| subscribers | opened in | RSS before | RSS with N idle | per subscription | RSS after events | peak RSS |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        println!(
            "| {} | {:.1} s | {} MiB | {} MiB | {} KiB | {} MiB | {} MiB |",
            r.n,
            r.memory.open_seconds,
            mib(r.memory.rss_before_kb),
            mib(r.memory.rss_idle_kb),
            if r.n < 100 {
                format!(
                    "({}, noise)",
                    per_subscription_kib(r.memory.rss_idle_kb, r.memory.rss_before_kb, r.n)
                )
            } else {
                per_subscription_kib(r.memory.rss_idle_kb, r.memory.rss_before_kb, r.n)
            },
            mib(r.memory.rss_after_events_kb),
            mib(r.memory.hwm_kb),
        );
    }
    println!();
    println!(
        "## Commit → delivery (median of {} round(s) × {} events; ms)",
        options.rounds, options.events
    );
    println!();
    println!(
        "\"after response\": from the moment the addCustomerNote response arrived (commit done) to the `next` frame;"
    );
    println!(
        "\"after send\": from just before the request was sent. Ratios: against N = {} on \"after send\".",
        results.first().map_or(0, |r| r.n)
    );
    println!();
    println!(
        "| subscribers | deliveries | missed | p50 after response | p99 after response | max after response | p50 after send | p99 after send | max after send | mutation round trip | deliveries/s | p50 vs baseline | p99 vs baseline |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let baseline = results.first().map(|r| r.summary);
    for r in results {
        let s = &r.summary;
        let (b50, b99) = baseline.map_or((f64::NAN, f64::NAN), |b| {
            (b.after_send.p50, b.after_send.p99)
        });
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {} | {} |",
            r.n,
            s.deliveries,
            r.missed,
            s.after_response.p50,
            s.after_response.p99,
            s.after_response.max,
            s.after_send.p50,
            s.after_send.p99,
            s.after_send.max,
            s.mutation_ms,
            s.throughput,
            ratio(s.after_send.p50, b50),
            ratio(s.after_send.p99, b99),
        );
    }
    println!();
    println!(
        "Throughput: deliveries ÷ Σ over events of (last delivery − send). Deliveries count the \
         measured rounds; misses also count the warm-up events."
    );
    println!();
    println!("## CPU while delivering (median of rounds)");
    println!();
    println!(
        "| subscribers | server CPU per delivery (incl. the mutation) | bench CPU per delivery | server busy (cores) during a round |"
    );
    println!("|---:|---:|---:|---:|");
    for r in results {
        let s = &r.summary;
        println!(
            "| {} | {:.1} µs | {:.1} µs | {:.2} |",
            r.n, s.server_cpu_us_per_delivery, s.bench_cpu_us_per_delivery, s.server_cpu_share
        );
    }
    println!();
    println!(
        "CPU from /proc/<pid>/stat (10 ms ticks; coarse for N = 1). The server and this bench share \
         the machine's {} cores. Total time {:.0} s; load average now {}.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        elapsed.as_secs_f64(),
        loadavg()
    );
    for r in results {
        if r.rounds < options.rounds || r.aborted.is_some() {
            println!(
                "\nN = {}: {} of {} rounds ran. {}",
                r.n,
                r.rounds,
                options.rounds,
                r.aborted.as_deref().unwrap_or("")
            );
        }
        if r.duplicates > 0 {
            println!("\nN = {}: {} duplicate deliveries", r.n, r.duplicates);
        }
        if r.problem_count > 0 {
            println!(
                "\nN = {}: {} subscriber problems (errors, completes, closes, unexpected frames); first ones:",
                r.n, r.problem_count
            );
            for p in &r.problems {
                println!("  - {p}");
            }
        }
        if let Some(live) = r.live_at_end
            && live as usize != r.n
        {
            println!(
                "\nN = {}: the server's {LIVE_GAUGE} was {live} at the end (expected {})",
                r.n, r.n
            );
        }
    }
}
