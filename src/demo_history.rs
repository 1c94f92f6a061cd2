//! `touchpoint demo-history`: months of believable past, written through the services at
//! simulated times (see `clock`), so an experience dashboard has something real to show.
//!
//! Orders arrive over the chosen number of days in every channel. Each then lives its life one
//! timed step at a time, all orders interleaved in time order: picking, dispatch, carrier
//! events (some late, some late news), collection, substitutions, cancellations by customers,
//! agents and integrations, short picks, returns in any channel and refunds. The outbox turns
//! the events into emails and sends them every quarter of an hour of simulated time; customers
//! open some. Customers come back more often after a good experience than after a late one.
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::auth::{Principal, Role};
use crate::catalog::{self, GeoPoint, LocationInput, LocationKind, ProductInput};
use crate::clock;
use crate::communications::mailer::Mailer;
use crate::communications::{DeliveryConfig, Outbox};
use crate::customers::{CustomerInput, CustomerUpdate, Email, Identity};
use crate::db::Store;
use crate::db::entities::{communication, order, order_line, shipment, shipment_line};
use crate::error::ServiceError;
use crate::fulfilment::{self, Answer, Proposal, ShipmentStatus, StatusUpdate, TrackingUpdate};
use crate::ids::{CustomerId, OrderId, ReturnId};
use crate::inventory::{self, SetStock};
use crate::money::Money;
use crate::orders::{
    self, Address, Channel, DeliveryInput, DeliveryMethod, LineInput, PlaceOrder, SellerOfRecord,
};
use crate::returns::{NewReturn, Receipt, RequestedLine, ReturnMethod, ReturnPolicy};
use crate::selfservice::{self, ChangeContext};

/// What `demo-history` is asked for.
#[derive(Clone, Debug)]
pub struct Options {
    pub orders: usize,
    pub seed: u64,
    /// How many days the history spans, ending at the start of today (UTC).
    pub days: u32,
    /// Add to a database that already has orders.
    pub append: bool,
    /// Where the emails go (.eml files).
    pub mail_dir: PathBuf,
    /// The base of links in the emails.
    pub public_url: String,
    /// Print progress every this many orders (0: quiet).
    pub progress_every: usize,
}

/// What was written.
#[derive(Debug, Default)]
pub struct Summary {
    pub orders: usize,
    pub new_customers: usize,
    pub repeat_orders: usize,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// Steps the services refused (the order then stops where it is), by step.
    pub refused: HashMap<&'static str, usize>,
    /// The first refusal of each step, for the curious.
    pub refused_example: HashMap<&'static str, String>,
    pub elapsed: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(
        "the database already has {0} orders: run demo-history on a fresh database, or pass --append"
    )]
    NotEmpty(u64),
    #[error("{0}")]
    Service(#[from] ServiceError),
    #[error("{0}")]
    Setup(String),
}

impl From<sea_orm::DbErr> for HistoryError {
    fn from(e: sea_orm::DbErr) -> Self {
        HistoryError::Service(e.into())
    }
}

// ---------------------------------------------------------------- the world

const CURRENCY: &str = "EUR";
/// Simulated minutes between two runs of the outbox.
const OUTBOX_EVERY_MINUTES: i64 = 15;
/// Attempts of a message before it is FAILED, and the first retry delay: with the outbox running
/// every 15 minutes, a message caught by a relay outage fails after its third attempt.
const MAX_ATTEMPTS: i32 = 3;
const RETRY_BASE_MINUTES: u64 = 10;
/// A file where the outage's mailer expects its directory, so every write fails.
const OUTAGE_DIR: &str = "relay-outage";

struct Place {
    code: &'static str,
    name: &'static str,
    kind: LocationKind,
    lat: f64,
    lon: f64,
    country: &'static str,
    cost: &'static str,
    handling_days: i32,
}

const LOCATIONS: &[Place] = &[
    Place {
        code: "WH-BER",
        name: "Berlin warehouse",
        kind: LocationKind::Warehouse,
        lat: 52.52,
        lon: 13.40,
        country: "DE",
        cost: "4.90",
        handling_days: 1,
    },
    Place {
        code: "WH-MAD",
        name: "Madrid warehouse",
        kind: LocationKind::Warehouse,
        lat: 40.42,
        lon: -3.70,
        country: "ES",
        cost: "5.90",
        handling_days: 1,
    },
    Place {
        code: "ST-PAR",
        name: "Paris Rivoli store",
        kind: LocationKind::Store,
        lat: 48.86,
        lon: 2.35,
        country: "FR",
        cost: "6.90",
        handling_days: 0,
    },
    Place {
        code: "ST-MUC",
        name: "Munich Kaufingerstrasse store",
        kind: LocationKind::Store,
        lat: 48.14,
        lon: 11.57,
        country: "DE",
        cost: "5.90",
        handling_days: 0,
    },
    Place {
        code: "ST-AMS",
        name: "Amsterdam Kalverstraat store",
        kind: LocationKind::Store,
        lat: 52.37,
        lon: 4.89,
        country: "NL",
        cost: "5.90",
        handling_days: 0,
    },
    Place {
        code: "ST-BCN",
        name: "Barcelona Passeig de Gracia store",
        kind: LocationKind::Store,
        lat: 41.39,
        lon: 2.17,
        country: "ES",
        cost: "5.90",
        handling_days: 0,
    },
];

struct Item {
    sku: &'static str,
    name: &'static str,
    category: &'static str,
    price: &'static str,
    returnable: bool,
    /// Where it is stocked: every location, or only these.
    only: &'static [&'static str],
    /// How likely it comes back.
    return_rate: f64,
    /// What a store offers instead when it cannot pick it.
    substitute: Option<&'static str>,
}

const ITEMS: &[Item] = &[
    Item {
        sku: "TEE-WHT-M",
        name: "Organic cotton tee, white, M",
        category: "Tops",
        price: "29.90",
        returnable: true,
        only: &[],
        return_rate: 0.10,
        substitute: Some("TEE-BLK-M"),
    },
    Item {
        sku: "TEE-BLK-M",
        name: "Organic cotton tee, black, M",
        category: "Tops",
        price: "29.90",
        returnable: true,
        only: &[],
        return_rate: 0.10,
        substitute: Some("TEE-WHT-M"),
    },
    Item {
        sku: "CHINO-BEI-32",
        name: "Slim chinos, beige, 32",
        category: "Trousers",
        price: "69.00",
        returnable: true,
        only: &[],
        return_rate: 0.22,
        substitute: Some("CHINO-NVY-32"),
    },
    Item {
        sku: "CHINO-NVY-32",
        name: "Slim chinos, navy, 32",
        category: "Trousers",
        price: "69.00",
        returnable: true,
        only: &[],
        return_rate: 0.22,
        substitute: Some("CHINO-BEI-32"),
    },
    Item {
        sku: "BELT-BRN",
        name: "Leather belt, brown",
        category: "Accessories",
        price: "39.50",
        returnable: true,
        only: &["WH-BER", "ST-MUC"],
        return_rate: 0.05,
        substitute: None,
    },
    Item {
        sku: "SNEAK-WHT-42",
        name: "Court sneakers, white, 42",
        category: "Shoes",
        price: "119.00",
        returnable: true,
        only: &["WH-MAD", "ST-BCN", "ST-AMS"],
        return_rate: 0.25,
        substitute: None,
    },
    Item {
        sku: "SOCK-3PK",
        name: "Merino socks, three pairs",
        category: "Accessories",
        price: "19.90",
        returnable: false,
        only: &[],
        return_rate: 0.0,
        substitute: None,
    },
    Item {
        sku: "JACKET-OLV-M",
        name: "Waxed field jacket, olive, M",
        category: "Outerwear",
        price: "189.00",
        returnable: true,
        only: &["WH-BER", "WH-MAD"],
        return_rate: 0.18,
        substitute: None,
    },
    Item {
        sku: "DRESS-LIN-38",
        name: "Linen summer dress, 38",
        category: "Dresses",
        price: "89.00",
        returnable: true,
        only: &["WH-MAD", "ST-BCN"],
        return_rate: 0.28,
        substitute: None,
    },
    Item {
        sku: "CAP-LTD-01",
        name: "Limited edition cap, numbered",
        category: "Accessories",
        price: "45.00",
        returnable: true,
        only: &["WH-BER"],
        return_rate: 0.04,
        substitute: None,
    },
];

struct City {
    name: &'static str,
    country: &'static str,
    locale: &'static str,
    lat: f64,
    lon: f64,
    postal: &'static str,
    street: &'static str,
    tld: &'static str,
    dial: &'static str,
    store: &'static str,
}

const CITIES: &[City] = &[
    City {
        name: "Berlin",
        country: "DE",
        locale: "de-DE",
        lat: 52.52,
        lon: 13.39,
        postal: "10117",
        street: "Friedrichstrasse",
        tld: "de",
        dial: "+49",
        store: "ST-MUC",
    },
    City {
        name: "Munich",
        country: "DE",
        locale: "de-DE",
        lat: 48.14,
        lon: 11.58,
        postal: "80331",
        street: "Sendlinger Strasse",
        tld: "de",
        dial: "+49",
        store: "ST-MUC",
    },
    City {
        name: "Hamburg",
        country: "DE",
        locale: "de-DE",
        lat: 53.55,
        lon: 9.99,
        postal: "20095",
        street: "Mönckebergstrasse",
        tld: "de",
        dial: "+49",
        store: "ST-MUC",
    },
    City {
        name: "Paris",
        country: "FR",
        locale: "fr-FR",
        lat: 48.86,
        lon: 2.35,
        postal: "75001",
        street: "rue de Rivoli",
        tld: "fr",
        dial: "+33",
        store: "ST-PAR",
    },
    City {
        name: "Lyon",
        country: "FR",
        locale: "fr-FR",
        lat: 45.76,
        lon: 4.84,
        postal: "69002",
        street: "rue de la République",
        tld: "fr",
        dial: "+33",
        store: "ST-PAR",
    },
    City {
        name: "Amsterdam",
        country: "NL",
        locale: "nl-NL",
        lat: 52.37,
        lon: 4.90,
        postal: "1012 AB",
        street: "Damrak",
        tld: "nl",
        dial: "+31",
        store: "ST-AMS",
    },
    City {
        name: "Rotterdam",
        country: "NL",
        locale: "nl-NL",
        lat: 51.92,
        lon: 4.48,
        postal: "3011 AA",
        street: "Coolsingel",
        tld: "nl",
        dial: "+31",
        store: "ST-AMS",
    },
    City {
        name: "Madrid",
        country: "ES",
        locale: "es-ES",
        lat: 40.42,
        lon: -3.70,
        postal: "28013",
        street: "Gran Vía",
        tld: "es",
        dial: "+34",
        store: "ST-BCN",
    },
    City {
        name: "Barcelona",
        country: "ES",
        locale: "es-ES",
        lat: 41.39,
        lon: 2.17,
        postal: "08007",
        street: "Passeig de Gràcia",
        tld: "es",
        dial: "+34",
        store: "ST-BCN",
    },
];

const FIRST_NAMES: &[&str] = &[
    "Anna", "Lukas", "Marie", "Jonas", "Sofia", "Louis", "Emma", "Hugo", "Lea", "Daan", "Julia",
    "Pablo", "Lucia", "Finn", "Chloe", "Mateo", "Sara", "Noah", "Ines", "Milan", "Clara", "Adam",
    "Eva", "Leon",
];
const LAST_NAMES: &[&str] = &[
    "Schmidt",
    "Dubois",
    "de Jong",
    "García",
    "Müller",
    "Martin",
    "Bakker",
    "López",
    "Weber",
    "Bernard",
    "Visser",
    "Martínez",
    "Fischer",
    "Petit",
    "Smit",
    "Sánchez",
    "Wagner",
    "Moreau",
];

fn carrier_for(country: &str, k: usize) -> &'static str {
    match (country, k % 2) {
        ("DE", 0) => "DHL",
        ("DE", _) => "DPD",
        ("FR", 0) => "Colissimo",
        ("FR", _) => "DPD",
        ("NL", 0) => "PostNL",
        ("NL", _) => "DHL",
        ("ES", 0) => "Correos",
        _ => "GLS",
    }
}

fn eur(amount: &str) -> Money {
    Money::from_decimal(Decimal::from_str(amount).unwrap_or_default(), CURRENCY)
        .unwrap_or_else(|_| Money::new(0, crate::money::Currency::stored(CURRENCY)))
}

fn staff(role: Role, sub: &str) -> Principal {
    Principal::Staff {
        role,
        sub: sub.into(),
        scopes: None,
    }
}

// ---------------------------------------------------------------- the simulation's state

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Experience {
    Good,
    Late,
    Cancelled,
}

struct Person {
    id: Option<i64>,
    first: &'static str,
    last: &'static str,
    email: Option<String>,
    city: usize,
    channel: Channel,
    external: String,
    orders: usize,
}

struct ShipPlan {
    id: i64,
    /// Picked at the collection store itself (click-and-collect from its own shelves).
    in_store: bool,
    carrier: Option<&'static str>,
    tracking: Option<String>,
    late: bool,
    /// The day a late parcel arrives, which the carrier's late news announces.
    arrival: Option<NaiveDate>,
    status: ShipmentStatus,
}

struct Sale {
    id: i64,
    customer: usize,
    channel: Channel,
    method: DeliveryMethod,
    promised: Option<NaiveDate>,
    shipments: Vec<ShipPlan>,
    /// Shipments still on their way; the order's experience is known when it reaches zero.
    open: usize,
    late: bool,
    settled: bool,
    stopped: bool,
}

#[derive(Clone, Debug)]
enum Step {
    Place,
    Pick(usize, usize),
    Propose(usize, usize),
    Answer(usize, usize, i64, bool),
    Dispatch(usize, usize),
    Transit(usize, usize),
    LateNews(usize, usize),
    OutForDelivery(usize, usize),
    Deliver(usize, usize),
    Ready(usize, usize),
    Collect(usize, usize),
    Cancel(usize, Canceller),
    CancelLine(usize),
    OptOut(usize),
    Return(usize, Channel, ReturnMethod),
    Receive(usize, i64, &'static str),
    GoodwillRefund(i64),
    Open(String),
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Place => "placeOrder",
            Step::Pick(..) => "picking",
            Step::Propose(..) => "proposeSubstitution",
            Step::Answer(..) => "respondToSubstitution",
            Step::Dispatch(..) => "dispatch",
            Step::Transit(..) | Step::LateNews(..) | Step::OutForDelivery(..) => {
                "recordTrackingEvent"
            }
            Step::Deliver(..) => "delivered",
            Step::Ready(..) => "markReadyForCollection",
            Step::Collect(..) => "collected",
            Step::Cancel(..) => "cancelOrder",
            Step::CancelLine(..) => "cancelOrderLines",
            Step::OptOut(..) => "updateCustomer",
            Step::Return(..) => "requestReturn",
            Step::Receive(..) => "receiveReturn",
            Step::GoodwillRefund(..) => "issueRefund",
            Step::Open(..) => "recordOpen",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Canceller {
    Customer,
    Agent,
    Service(&'static str),
}

struct Sim {
    store: Store,
    rng: StdRng,
    policy: ReturnPolicy,
    weights: crate::routing::engine::Weights,
    end: DateTime<Utc>,
    tag: String,
    people: Vec<Person>,
    sales: Vec<Sale>,
    queue: BinaryHeap<Reverse<(DateTime<Utc>, u64)>>,
    steps: HashMap<u64, Step>,
    next_step: u64,
    /// Customers who will order again, by when.
    due: BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
    summary: Summary,
    service: Principal,
    agent: Principal,
    /// The last communication looked at for opens.
    seen_communication: i64,
    /// Messages wait for another attempt.
    retrying: bool,
}

impl Sim {
    fn schedule(&mut self, at: DateTime<Utc>, step: Step) {
        if at >= self.end {
            return;
        }
        let id = self.next_step;
        self.next_step += 1;
        self.queue.push(Reverse((at, id)));
        self.steps.insert(id, step);
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    fn minutes(&mut self, from: i64, to: i64) -> Duration {
        Duration::minutes(self.rng.random_range(from..=to))
    }

    fn pick<T: Copy>(&mut self, options: &[(T, u32)]) -> T {
        let total: u32 = options.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.random_range(0..total);
        for (value, weight) in options {
            if roll < *weight {
                return *value;
            }
            roll -= weight;
        }
        options[0].0
    }
}

/// Day `d` at hh:mm (UTC).
fn at_time(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(
        &day.and_hms_opt(hour.min(23), minute.min(59), 0)
            .unwrap_or_default(),
    )
}

// ---------------------------------------------------------------- entry point

/// Writes the history; refuses a database with orders unless `append`.
pub async fn generate(store: &Store, options: Options) -> Result<Summary, HistoryError> {
    let started = std::time::Instant::now();
    let existing = order::Entity::find().count(&store.db).await?;
    if existing > 0 && !options.append {
        return Err(HistoryError::NotEmpty(existing));
    }
    let today = Utc::now().date_naive();
    let end = at_time(today, 0, 0);
    let start = end - Duration::days(i64::from(options.days.max(7)));
    let outboxes = outboxes(store, &options).await?;
    clock::at(
        start - Duration::days(1),
        setup(store, options.orders, existing > 0),
    )
    .await?;
    let mut sim = Sim {
        store: store.clone(),
        rng: StdRng::seed_from_u64(options.seed),
        policy: ReturnPolicy::default(),
        weights: crate::routing::engine::Weights::default(),
        end,
        tag: format!("H{}", existing),
        people: Vec::new(),
        sales: Vec::new(),
        queue: BinaryHeap::new(),
        steps: HashMap::new(),
        next_step: 0,
        due: BinaryHeap::new(),
        summary: Summary::default(),
        service: staff(Role::Service, "history-integration"),
        agent: staff(Role::Agent, "agent-history"),
        seen_communication: communication::Entity::find()
            .order_by_desc(communication::Column::Id)
            .one(&store.db)
            .await?
            .map(|c| c.id)
            .unwrap_or(0),
        retrying: false,
    };
    for t in arrivals(&mut sim.rng, options.orders, start, options.days.max(7)) {
        sim.schedule(t, Step::Place);
    }
    // Two relay outages: the messages caught in them are retried, and some fail for good.
    let span = (end - start).num_days();
    let outages = [
        (
            start + Duration::days(span * 2 / 5) + Duration::hours(8),
            Duration::hours(5),
        ),
        (
            start + Duration::days(span * 4 / 5) + Duration::hours(13),
            Duration::hours(3),
        ),
    ];
    let mut next_outbox = start + Duration::minutes(OUTBOX_EVERY_MINUTES);
    // The outbox runs only when something was committed since, or messages wait for a retry.
    let mut commits = store.commits();
    let mut next_deadline_check = at_time(start.date_naive(), 6, 0) + Duration::days(1);
    while let Some(Reverse((t, id))) = sim.queue.pop() {
        let Some(step) = sim.steps.remove(&id) else {
            continue;
        };
        while next_outbox <= t || next_deadline_check <= t {
            if next_deadline_check < next_outbox {
                clock::at(
                    next_deadline_check,
                    fulfilment::flag_missed_dispatch_deadlines(store),
                )
                .await?;
                next_deadline_check += Duration::days(1);
            } else {
                if sim.retrying || commits.has_changed().unwrap_or(true) {
                    commits.borrow_and_update();
                    let down = outages
                        .iter()
                        .any(|(from, long)| next_outbox >= *from && next_outbox < *from + *long);
                    run_outbox(&mut sim, &outboxes, down, next_outbox).await?;
                }
                next_outbox += Duration::minutes(OUTBOX_EVERY_MINUTES);
            }
        }
        let name = step.name();
        let placed = matches!(step, Step::Place);
        match clock::at(t, run_step(&mut sim, t, step)).await {
            Ok(()) => {}
            Err(e) if is_refusal(&e) => {
                tracing::debug!(step = name, error = %e, "a step was refused");
                *sim.summary.refused.entry(name).or_default() += 1;
                sim.summary
                    .refused_example
                    .entry(name)
                    .or_insert_with(|| e.to_string());
            }
            Err(e) => return Err(e.into()),
        }
        if placed
            && options.progress_every > 0
            && sim.summary.orders > 0
            && sim.summary.orders.is_multiple_of(options.progress_every)
        {
            println!(
                "{:>7} orders  (up to {})  {:.1}s",
                sim.summary.orders,
                t.format("%Y-%m-%d"),
                started.elapsed().as_secs_f64()
            );
        }
    }
    // The last quarter-hours before the end: what is left goes out.
    while next_outbox <= end {
        run_outbox(&mut sim, &outboxes, false, next_outbox).await?;
        next_outbox += Duration::minutes(OUTBOX_EVERY_MINUTES);
    }
    let _ = std::fs::remove_file(options.mail_dir.join(OUTAGE_DIR));
    let mut summary = sim.summary;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Whether the history goes on after a failed step: anything but a database failure stops only
/// that order (an internal error is reported with the refusals: it is a finding about the rules).
fn is_refusal(e: &ServiceError) -> bool {
    !matches!(e, ServiceError::Database(_))
}

/// The outbox as the server runs it, sending .eml files; and the same one during a relay
/// outage, whose mail directory cannot be written.
async fn outboxes(store: &Store, options: &Options) -> Result<[Arc<Outbox>; 2], HistoryError> {
    crate::communications::templates::ensure_defaults(store).await?;
    let config = DeliveryConfig {
        poll: std::time::Duration::from_secs(1),
        retry_base: std::time::Duration::from_secs(RETRY_BASE_MINUTES * 60),
        max_attempts: MAX_ATTEMPTS,
        claim: std::time::Duration::from_secs(120),
        public_url: options.public_url.trim_end_matches('/').to_owned(),
    };
    let mailer = Mailer::new(None, options.mail_dir.clone()).map_err(HistoryError::Setup)?;
    let unreachable = options.mail_dir.join(OUTAGE_DIR);
    std::fs::write(
        &unreachable,
        "a file where a directory should be: sending fails\n",
    )
    .map_err(|e| HistoryError::Setup(format!("{unreachable:?}: {e}")))?;
    let broken = Mailer::Files(
        lettre::AsyncFileTransport::<lettre::Tokio1Executor>::new(&unreachable),
        unreachable.clone(),
    );
    let returns = ReturnPolicy::default();
    let mut built = Vec::new();
    for mailer in [mailer, broken] {
        let outbox = Outbox::new(store.clone(), mailer, config.clone(), returns.clone());
        let state = crate::graphql::SchemaState {
            store: store.clone(),
            bus: crate::events::bus::Bus::new(16),
            metrics: crate::telemetry::Metrics::new(),
            routing: crate::routing::engine::Weights::default(),
            returns: returns.clone(),
            public_url: config.public_url.clone(),
            outbox: Some(outbox.clone()),
        };
        outbox.set_schema(crate::graphql::build_schema(
            state,
            &crate::config::Limits::default(),
            false,
        ));
        built.push(outbox);
    }
    let broken = built.pop();
    let working = built.pop();
    match (working, broken) {
        (Some(w), Some(b)) => Ok([w, b]),
        _ => Err(HistoryError::Setup("building the outbox".into())),
    }
}

/// A message as the opens see it: id, kind, status, when it was sent, its open token.
type Outcome = (i64, String, String, Option<DateTime<Utc>>, String);

/// Runs the outbox at `t`, then lets customers open some of what it sent.
async fn run_outbox(
    sim: &mut Sim,
    outboxes: &[Arc<Outbox>; 2],
    down: bool,
    t: DateTime<Utc>,
) -> Result<(), HistoryError> {
    let outbox = &outboxes[usize::from(down)];
    clock::at(t, crate::db::in_background(outbox.run_once())).await?;
    // Only what the customers' opens need: not the rendered bodies.
    let sent: Vec<Outcome> = communication::Entity::find()
        .select_only()
        .column(communication::Column::Id)
        .column(communication::Column::Kind)
        .column(communication::Column::Status)
        .column(communication::Column::SentAt)
        .column(communication::Column::OpenToken)
        .filter(communication::Column::Id.gt(sim.seen_communication))
        .filter(communication::Column::Status.is_in(["SENT", "FAILED", "SUPPRESSED"]))
        .order_by_asc(communication::Column::Id)
        .into_tuple()
        .all(&sim.store.db)
        .await?;
    // Messages still waiting (queued, retrying) are looked at again next time.
    let waiting: Option<i64> = communication::Entity::find()
        .select_only()
        .column(communication::Column::Id)
        .filter(communication::Column::Id.gt(sim.seen_communication))
        .filter(communication::Column::Status.is_in(["QUEUED", "RETRYING"]))
        .order_by_asc(communication::Column::Id)
        .into_tuple()
        .one(&sim.store.db)
        .await?;
    for (id, kind, status, sent_at, open_token) in sent {
        if waiting.is_some_and(|w| id > w) {
            break;
        }
        sim.seen_communication = id;
        let (Some(at), "SENT") = (sent_at, status.as_str()) else {
            continue;
        };
        let likely = match kind.as_str() {
            "SHIPMENT_DELAYED" => 0.72,
            "REFUND_ISSUED" => 0.66,
            "READY_FOR_COLLECTION" => 0.7,
            "ORDER_CONFIRMATION" => 0.58,
            "SHIPMENT_DISPATCHED" | "OUT_FOR_DELIVERY" => 0.5,
            "SUBSTITUTION_PROPOSED" => 0.8,
            _ => 0.4,
        };
        if sim.chance(likely) {
            let after = if sim.chance(0.6) {
                sim.minutes(2, 180)
            } else {
                sim.minutes(180, 60 * 48)
            };
            sim.schedule(at + after, Step::Open(open_token));
        }
    }
    if let Some(w) = waiting {
        sim.seen_communication = sim.seen_communication.max(w - 1);
    }
    // Everything before the first waiting message was looked at; a retry waits at or after it.
    sim.retrying = waiting.is_some();
    Ok(())
}

/// Locations, products and stock for the volume asked for.
async fn setup(store: &Store, orders: usize, append: bool) -> Result<(), ServiceError> {
    let admin = staff(Role::Admin, "history-setup");
    for p in LOCATIONS {
        let store_like = p.kind == LocationKind::Store;
        catalog::upsert_location(
            store,
            &admin,
            LocationInput {
                code: p.code.into(),
                name: p.name.into(),
                kind: p.kind,
                point: GeoPoint {
                    latitude: p.lat,
                    longitude: p.lon,
                },
                pickup_point: Some(store_like),
                return_point: Some(true),
                shipping_cost: Some(eur(p.cost)),
                handling_days: Some(p.handling_days),
                country_code: Some(p.country.into()),
            },
        )
        .await?;
    }
    let per_warehouse = i32::try_from(orders / 2 + 200).unwrap_or(i32::MAX / 4);
    let per_store = i32::try_from(orders / 25 + 20).unwrap_or(i32::MAX / 4);
    for item in ITEMS {
        catalog::upsert_product(
            store,
            &admin,
            ProductInput {
                sku: item.sku.into(),
                name: item.name.into(),
                category: Some(item.category.into()),
                image_url: Some(format!(
                    "https://images.touchpoint.example/{}.jpg",
                    item.sku.to_lowercase()
                )),
                care_instructions: Some("Machine wash at 30°C. Do not tumble dry.".into()),
                returnable: Some(item.returnable),
                related_skus: Some(item.substitute.into_iter().map(String::from).collect()),
                price: Some(eur(item.price)),
            },
        )
        .await?;
        let held = inventory::stock_for_skus(&store.db, &[item.sku.to_owned()]).await?;
        for p in LOCATIONS {
            if !item.only.is_empty() && !item.only.contains(&p.code) {
                continue;
            }
            let add = if p.kind == LocationKind::Warehouse {
                per_warehouse
            } else {
                per_store
            };
            let location = catalog::location_by_code(store, p.code).await?;
            let on_hand = if append {
                held.iter()
                    .find(|s| location.as_ref().is_some_and(|l| l.id == s.location_id))
                    .map(|s| s.on_hand)
                    .unwrap_or(0)
                    .saturating_add(add)
            } else {
                add
            };
            inventory::set_stock_level(
                store,
                &admin,
                SetStock {
                    location_code: p.code.into(),
                    sku: item.sku.into(),
                    on_hand,
                    expected_on_hand: None,
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// When the orders arrive: more towards the end, more at weekends online, a busy last week,
/// in shop hours and evenings.
fn arrivals(
    rng: &mut StdRng,
    orders: usize,
    start: DateTime<Utc>,
    days: u32,
) -> Vec<DateTime<Utc>> {
    let weights: Vec<f64> = (0..days)
        .map(|d| {
            let day = start.date_naive() + Duration::days(i64::from(d));
            let growth = 1.0 + 0.6 * f64::from(d) / f64::from(days);
            let weekday = match day.weekday() {
                Weekday::Sat => 1.25,
                Weekday::Sun => 1.1,
                Weekday::Mon => 1.05,
                _ => 0.9,
            };
            let peak = if days - d <= 7 { 1.6 } else { 1.0 };
            growth * weekday * peak
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let mut times = Vec::with_capacity(orders);
    let mut carried = 0.0;
    for (d, w) in weights.iter().enumerate() {
        let exact = orders as f64 * w / total + carried;
        let mut count = exact.floor() as usize;
        carried = exact - count as f64;
        if d + 1 == weights.len() {
            count = orders - times.len();
        }
        let day = start + Duration::days(d as i64);
        for _ in 0..count {
            let hour = match rng.random_range(0..100) {
                0..=4 => rng.random_range(0..7),
                5..=44 => rng.random_range(8..13),
                45..=74 => rng.random_range(13..18),
                _ => rng.random_range(18..23),
            };
            times.push(day + Duration::hours(hour) + Duration::seconds(rng.random_range(0..3600)));
        }
    }
    times.sort();
    times.truncate(orders);
    times
}

// ---------------------------------------------------------------- the steps

async fn run_step(sim: &mut Sim, t: DateTime<Utc>, step: Step) -> Result<(), ServiceError> {
    match step {
        Step::Place => place(sim, t).await,
        Step::Pick(o, s) => pick(sim, t, o, s).await,
        Step::Propose(o, s) => propose(sim, t, o, s).await,
        Step::Answer(o, s, id, accept) => answer(sim, t, o, s, id, accept).await,
        Step::Dispatch(o, s) => dispatch(sim, t, o, s).await,
        Step::Transit(o, s) => transit(sim, t, o, s).await,
        Step::LateNews(o, s) => late_news(sim, t, o, s).await,
        Step::OutForDelivery(o, s) => tracking(sim, t, o, s, ShipmentStatus::OutForDelivery, None)
            .await
            .map(|_| ()),
        Step::Deliver(o, s) => deliver(sim, t, o, s).await,
        Step::Ready(o, s) => ready(sim, t, o, s).await,
        Step::Collect(o, s) => collect(sim, t, o, s).await,
        Step::Cancel(o, who) => cancel(sim, t, o, who).await,
        Step::CancelLine(o) => cancel_line(sim, o).await,
        Step::OptOut(c) => opt_out(sim, c).await,
        Step::Return(o, channel, method) => start_return(sim, t, o, channel, method).await,
        Step::Receive(o, id, code) => receive(sim, o, id, code).await,
        Step::GoodwillRefund(id) => crate::returns::issue_refund(
            &sim.store,
            &sim.agent,
            ReturnId(id),
            "Goodwill: refunded before the parcel arrived, after a late delivery",
            None,
        )
        .await
        .map(|_| ()),
        Step::Open(token) => crate::communications::service::record_open(&sim.store, &token).await,
    }
}

/// Who orders now: someone coming back, or someone new.
fn next_customer(sim: &mut Sim, t: DateTime<Utc>) -> usize {
    if let Some(Reverse((due, who))) = sim.due.peek().copied()
        && due <= t
    {
        sim.due.pop();
        sim.summary.repeat_orders += 1;
        return who;
    }
    let n = sim.people.len();
    let city = sim.rng.random_range(0..CITIES.len());
    let first = FIRST_NAMES[sim.rng.random_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[sim.rng.random_range(0..LAST_NAMES.len())];
    let channel = sim.pick(&[
        (Channel::Web, 38),
        (Channel::App, 22),
        (Channel::Store, 20),
        (Channel::Marketplace, 14),
        (Channel::Phone, 6),
    ]);
    // Some loyalty-card shoppers never gave an email address.
    let email = (channel != Channel::Store || sim.chance(0.75)).then(|| {
        let local: String = format!("{first}.{last}")
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        format!(
            "{local}.{}{n}@example.{}",
            sim.tag.to_lowercase(),
            CITIES[city].tld
        )
    });
    let external = match channel {
        Channel::Store => format!("LOYALTY-{}-{n}", sim.tag),
        Channel::Marketplace => format!("MKT-{}-{n}", sim.tag),
        Channel::Phone => format!("PHONE-{}-{n}", sim.tag),
        _ => format!("web-{}-{n}", sim.tag.to_lowercase()),
    };
    sim.people.push(Person {
        id: None,
        first,
        last,
        email,
        city,
        channel,
        external,
        orders: 0,
    });
    sim.summary.new_customers += 1;
    n
}

async fn place(sim: &mut Sim, t: DateTime<Utc>) -> Result<(), ServiceError> {
    let who = next_customer(sim, t);
    let person = &sim.people[who];
    let city = &CITIES[person.city];
    // Returning customers mostly stay with their channel.
    let channel = if person.orders == 0 || sim.rng.random_bool(0.7) {
        person.channel
    } else {
        sim.pick(&[
            (Channel::Web, 40),
            (Channel::App, 30),
            (Channel::Store, 20),
            (Channel::Phone, 10),
        ])
    };
    let person = &sim.people[who];
    let number = sim.summary.orders;
    let customer = CustomerInput {
        email: person
            .email
            .as_deref()
            .and_then(|e| Email::parse(e, "email").ok()),
        first_name: Some(person.first.into()),
        last_name: Some(person.last.into()),
        phone: Some(format!(
            "{} 600 {:03} {:03}",
            city.dial,
            who % 1000,
            number % 1000
        )),
        locale: Some(city.locale.into()),
        identity: Some(Identity {
            channel: person.channel,
            external_id: person.external.clone(),
        }),
    };
    let address = Address {
        name: format!("{} {}", person.first, person.last),
        line1: format!("{} {}", city.street, 1 + who % 120),
        line2: None,
        city: city.name.into(),
        postal_code: city.postal.into(),
        country_code: city.country.into(),
        phone: None,
        location: Some(GeoPoint {
            latitude: city.lat,
            longitude: city.lon,
        }),
    };
    let store_code = city.store;
    let method = match channel {
        Channel::Store if sim.chance(0.85) => DeliveryMethod::CarryOut,
        Channel::Web | Channel::App if sim.chance(0.22) => DeliveryMethod::ClickAndCollect,
        _ => DeliveryMethod::ShipToAddress,
    };
    // Lines: one to three items, store sales only what stores carry.
    let count = sim.pick(&[(1usize, 50), (2, 32), (3, 18)]);
    let mut lines: Vec<LineInput> = Vec::new();
    for _ in 0..count {
        let item = &ITEMS[sim.rng.random_range(0..ITEMS.len())];
        let carried = |code: &str| item.only.is_empty() || item.only.contains(&code);
        if method != DeliveryMethod::ShipToAddress && !carried(store_code) {
            continue;
        }
        if lines.iter().any(|l| l.sku == item.sku) {
            continue;
        }
        let quantity = if item.sku == "SOCK-3PK" || sim.chance(0.12) {
            2
        } else {
            1
        };
        lines.push(LineInput {
            sku: item.sku.into(),
            name: None,
            quantity,
            unit_price: None,
        });
    }
    if lines.is_empty() {
        lines.push(LineInput {
            sku: "TEE-BLK-M".into(),
            name: None,
            quantity: 1,
            unit_price: None,
        });
    }
    let days = match method {
        DeliveryMethod::CarryOut => None,
        DeliveryMethod::ClickAndCollect => Some(2),
        DeliveryMethod::ShipToAddress => Some(sim.pick(&[(2, 30), (3, 45), (4, 25)])),
    };
    let promised = days.map(|d| (t + Duration::days(d)).date_naive());
    let marketplace = (channel == Channel::Marketplace)
        .then(|| sim.pick(&[("zalando", 60), ("amazon", 40)]).to_owned());
    let seller = (channel == Channel::Marketplace).then(|| {
        sim.pick(&[
            (SellerOfRecord::Retailer, 80),
            (SellerOfRecord::ThirdParty, 20),
        ])
    });
    let reference = match channel {
        Channel::Web => format!("WEB-{}-{number}", sim.tag),
        Channel::App => format!("APP-{}-{number}", sim.tag),
        Channel::Store => format!("TILL-{}-{number}", sim.tag),
        Channel::Marketplace => format!("MKT-{}-{number}", sim.tag),
        Channel::Phone => format!("CALL-{}-{number}", sim.tag),
    };
    let input = PlaceOrder {
        channel,
        channel_order_ref: reference,
        store_code: (channel == Channel::Store).then(|| store_code.to_owned()),
        marketplace,
        seller_of_record: seller,
        customer: Some(customer),
        lines,
        delivery: DeliveryInput {
            method,
            address: (method == DeliveryMethod::ShipToAddress).then_some(address),
            collection_store_code: (method == DeliveryMethod::ClickAndCollect)
                .then(|| store_code.to_owned()),
            promised_date: promised,
        },
        shipping_cost: None,
        placed_at: Some(t),
    };
    let principal = if channel == Channel::Phone {
        sim.agent.clone()
    } else {
        sim.service.clone()
    };
    sim.summary.orders += 1;
    sim.summary.first = Some(sim.summary.first.map_or(t, |f| f.min(t)));
    sim.summary.last = Some(t);
    let placed = match orders::place_order(&sim.store, &principal, input, &sim.weights).await {
        Ok(p) => p.order,
        Err(e) => {
            // The customer shops again another day.
            schedule_return_visit(sim, who, t, Experience::Cancelled);
            return Err(e);
        }
    };
    let first_order = sim.people[who].id.is_none();
    sim.people[who].id = Some(placed.customer_id);
    sim.people[who].orders += 1;
    if first_order && sim.people[who].email.is_some() && sim.chance(0.06) {
        let later = t + sim.minutes(60, 60 * 24 * 5);
        sim.schedule(later, Step::OptOut(who));
    }
    let shipments = fulfilment::shipments_by_order(&sim.store, &[placed.id])
        .await?
        .remove(&placed.id)
        .unwrap_or_default();
    let index = sim.sales.len();
    let plans: Vec<ShipPlan> = shipments
        .iter()
        .map(|s| ShipPlan {
            id: s.id,
            in_store: placed.collection_location_id == Some(s.location_id),
            carrier: None,
            tracking: None,
            late: false,
            arrival: None,
            status: ShipmentStatus::parse(&s.status).unwrap_or(ShipmentStatus::Pending),
        })
        .collect();
    sim.sales.push(Sale {
        id: placed.id,
        customer: who,
        channel,
        method,
        promised,
        open: plans.len(),
        shipments: plans,
        late: false,
        settled: false,
        stopped: false,
    });
    if method == DeliveryMethod::CarryOut {
        sim.sales[index].open = 0;
        settle(sim, index, t, Experience::Good);
        maybe_return(sim, index, t);
        return Ok(());
    }
    // A few orders are cancelled before anything leaves, by whoever has a reason to.
    let roll = sim.rng.random_range(0..1000);
    let cancel = match (channel, roll) {
        (Channel::Marketplace, 0..=24) => Some(Canceller::Service("MARKETPLACE_CANCELLED")),
        (_, 0..=24) => Some(Canceller::Customer),
        (_, 25..=36) => Some(Canceller::Agent),
        (Channel::Web | Channel::App, 37..=44) => Some(Canceller::Service("PAYMENT_FAILED")),
        (Channel::Web, 45..=47) => Some(Canceller::Service("FRAUD")),
        _ => None,
    };
    if let Some(who) = cancel {
        let soon = t + sim.minutes(5, 150);
        sim.schedule(soon, Step::Cancel(index, who));
        return Ok(());
    }
    if count > 1 && sim.chance(0.03) {
        let soon = t + sim.minutes(5, 90);
        sim.schedule(soon, Step::CancelLine(index));
    }
    // The warehouse starts picking within hours; a slow day misses the dispatch deadline.
    for s in 0..sim.sales[index].shipments.len() {
        let wait = if sim.chance(0.04) {
            sim.minutes(60 * 30, 60 * 60)
        } else {
            sim.minutes(100, 60 * 16)
        };
        sim.schedule(t + wait, Step::Pick(index, s));
    }
    Ok(())
}

fn live(sim: &Sim, o: usize, s: usize) -> bool {
    let sale = &sim.sales[o];
    !sale.stopped
        && sale.shipments[s].status != ShipmentStatus::Cancelled
        && sale.shipments[s].status != ShipmentStatus::Delivered
}

async fn refresh(sim: &mut Sim, o: usize, s: usize) -> Result<ShipmentStatus, ServiceError> {
    let id = sim.sales[o].shipments[s].id;
    let row = shipment::Entity::find_by_id(id).one(&sim.store.db).await?;
    let status = row
        .and_then(|r| ShipmentStatus::parse(&r.status))
        .unwrap_or(ShipmentStatus::Cancelled);
    sim.sales[o].shipments[s].status = status;
    Ok(status)
}

async fn pick(sim: &mut Sim, t: DateTime<Utc>, o: usize, s: usize) -> Result<(), ServiceError> {
    if refresh(sim, o, s).await? != ShipmentStatus::Pending {
        return shipment_ended(sim, t, o, s);
    }
    let update = status_update(sim.sales[o].shipments[s].id, ShipmentStatus::Picking);
    let moved = fulfilment::update_shipment_status(&sim.store, &sim.service, update, None).await;
    if let Err(e) = moved {
        stop(sim, o, t);
        return Err(e);
    }
    sim.sales[o].shipments[s].status = ShipmentStatus::Picking;
    let sale = &sim.sales[o];
    if sale.method == DeliveryMethod::ClickAndCollect && sale.shipments[s].in_store {
        let next = t + sim.minutes(20, 180);
        if sim.chance(0.12) {
            sim.schedule(next, Step::Propose(o, s));
        } else {
            sim.schedule(next, Step::Ready(o, s));
        }
    } else {
        let next = t + sim.minutes(30, 300);
        sim.schedule(next, Step::Dispatch(o, s));
    }
    Ok(())
}

fn status_update(shipment_id: i64, status: ShipmentStatus) -> StatusUpdate {
    StatusUpdate {
        shipment_id,
        status,
        lines: None,
        carrier: None,
        tracking_number: None,
        tracking_url: None,
        estimated_delivery_date: None,
    }
}

/// What a shipment of sale `o` holds, and that sale's order lines.
async fn shipment_lines(
    sim: &Sim,
    o: usize,
    shipment_id: i64,
) -> Result<(Vec<shipment_line::Model>, Vec<order_line::Model>), ServiceError> {
    let order_id = sim.sales[o].id;
    let lines = fulfilment::lines_by_shipment(&sim.store, &[shipment_id])
        .await?
        .remove(&shipment_id)
        .unwrap_or_default();
    let order_lines = orders::lines_by_order(&sim.store, &[order_id])
        .await?
        .remove(&order_id)
        .unwrap_or_default();
    Ok((lines, order_lines))
}

async fn propose(sim: &mut Sim, t: DateTime<Utc>, o: usize, s: usize) -> Result<(), ServiceError> {
    let shipment_id = sim.sales[o].shipments[s].id;
    let (lines, order_lines) = shipment_lines(sim, o, shipment_id).await?;
    let candidate = lines.iter().find_map(|l| {
        let line = order_lines.iter().find(|ol| ol.id == l.order_line_id)?;
        let item = ITEMS.iter().find(|i| i.sku == line.sku)?;
        item.substitute.map(|sku| (line.id, sku, l.quantity))
    });
    let Some((line_id, sku, quantity)) = candidate else {
        sim.schedule(t + sim_minutes(10), Step::Ready(o, s));
        return Ok(());
    };
    let proposal = Proposal {
        order_line_id: line_id,
        substitute_sku: sku.into(),
        substitute_name: None,
        quantity,
        unit_price: None,
    };
    let proposed = fulfilment::propose_substitution(&sim.store, &sim.service, proposal, None).await;
    let proposed = match proposed {
        Ok(p) => p,
        Err(e) => {
            sim.schedule(t + sim_minutes(10), Step::Ready(o, s));
            return Err(e);
        }
    };
    let accept = sim.chance(0.64);
    let after = sim.minutes(10, 600);
    sim.schedule(t + after, Step::Answer(o, s, proposed.id, accept));
    Ok(())
}

fn sim_minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

async fn answer(
    sim: &mut Sim,
    t: DateTime<Utc>,
    o: usize,
    s: usize,
    id: i64,
    accept: bool,
) -> Result<(), ServiceError> {
    let customer = sim.people[sim.sales[o].customer].id.unwrap_or_default();
    let reply = Answer {
        substitution_id: id,
        accept,
        reason: None,
        expected_version: None,
    };
    let result = fulfilment::respond_to_substitution(
        &sim.store,
        &Principal::Customer(CustomerId(customer)),
        reply,
        None,
    )
    .await;
    let next = t + sim.minutes(15, 120);
    sim.schedule(next, Step::Ready(o, s));
    result.map(|_| ())
}

async fn ready(sim: &mut Sim, t: DateTime<Utc>, o: usize, s: usize) -> Result<(), ServiceError> {
    if !live(sim, o, s) {
        return Ok(());
    }
    let status = refresh(sim, o, s).await?;
    if status == ShipmentStatus::Cancelled {
        return shipment_ended(sim, t, o, s);
    }
    let id = sim.sales[o].shipments[s].id;
    let done = fulfilment::mark_ready_for_collection(&sim.store, &sim.service, id, None).await;
    if let Err(e) = done {
        stop(sim, o, t);
        return Err(e);
    }
    sim.sales[o].shipments[s].status = ShipmentStatus::ReadyForCollection;
    if sim.sales[o].promised.is_some_and(|p| t.date_naive() > p) {
        sim.sales[o].late = true;
    }
    let wait = if sim.chance(0.8) {
        sim.minutes(60, 60 * 30)
    } else {
        sim.minutes(60 * 30, 60 * 24 * 6)
    };
    sim.schedule(t + wait, Step::Collect(o, s));
    Ok(())
}

async fn collect(sim: &mut Sim, t: DateTime<Utc>, o: usize, s: usize) -> Result<(), ServiceError> {
    if !live(sim, o, s) {
        return Ok(());
    }
    let id = sim.sales[o].shipments[s].id;
    let update = status_update(id, ShipmentStatus::Collected);
    let done = fulfilment::update_shipment_status(&sim.store, &sim.service, update, None).await;
    if let Err(e) = done {
        stop(sim, o, t);
        return Err(e);
    }
    sim.sales[o].shipments[s].status = ShipmentStatus::Delivered;
    shipment_ended(sim, t, o, s)
}

async fn dispatch(sim: &mut Sim, t: DateTime<Utc>, o: usize, s: usize) -> Result<(), ServiceError> {
    if !live(sim, o, s) {
        return Ok(());
    }
    let shipment_id = sim.sales[o].shipments[s].id;
    let country = CITIES[sim.people[sim.sales[o].customer].city].country;
    let carrier = carrier_for(country, o);
    let tracking_number = format!(
        "{}{}{:08}",
        carrier.to_uppercase().replace(' ', ""),
        sim.tag,
        shipment_id
    );
    // The WMS finds fewer limited caps on the shelf than its records said, now and then.
    let mut short = None;
    if sim.chance(0.12) {
        let (lines, order_lines) = shipment_lines(sim, o, shipment_id).await?;
        let limited = |line_id: i64| {
            order_lines
                .iter()
                .any(|ol| ol.id == line_id && ol.sku == "CAP-LTD-01")
        };
        if lines.iter().any(|l| limited(l.order_line_id)) {
            short = Some(
                lines
                    .iter()
                    .map(|l| {
                        let q = if limited(l.order_line_id) {
                            0
                        } else {
                            l.quantity
                        };
                        (l.order_line_id, q)
                    })
                    .collect::<Vec<_>>(),
            );
        }
    }
    let update = StatusUpdate {
        shipment_id,
        status: ShipmentStatus::Dispatched,
        lines: short,
        carrier: Some(carrier.into()),
        tracking_number: Some(tracking_number.clone()),
        tracking_url: Some(format!(
            "https://tracking.example/{}/{tracking_number}",
            carrier.to_lowercase()
        )),
        estimated_delivery_date: sim.sales[o].promised,
    };
    let sent = fulfilment::update_shipment_status(&sim.store, &sim.service, update, None).await;
    let sent = match sent {
        Ok(s) => s,
        Err(e) => {
            stop(sim, o, t);
            return Err(e);
        }
    };
    let status = ShipmentStatus::parse(&sent.status).unwrap_or(ShipmentStatus::Dispatched);
    sim.sales[o].shipments[s].status = status;
    if status == ShipmentStatus::Cancelled {
        return shipment_ended(sim, t, o, s);
    }
    sim.sales[o].shipments[s].carrier = Some(carrier);
    sim.sales[o].shipments[s].tracking = Some(tracking_number);
    let next = t + sim.minutes(240, 900);
    sim.schedule(next, Step::Transit(o, s));
    Ok(())
}

async fn tracking(
    sim: &mut Sim,
    t: DateTime<Utc>,
    o: usize,
    s: usize,
    status: ShipmentStatus,
    estimate: Option<NaiveDate>,
) -> Result<Option<shipment::Model>, ServiceError> {
    if !live(sim, o, s) {
        return Ok(None);
    }
    let plan = &sim.sales[o].shipments[s];
    let (Some(carrier), Some(number)) = (plan.carrier, plan.tracking.clone()) else {
        return Ok(None);
    };
    let hub = match status {
        ShipmentStatus::InTransit => "Sorting hub",
        ShipmentStatus::OutForDelivery => "Local depot",
        _ => "Doorstep",
    };
    let update = TrackingUpdate {
        carrier: carrier.into(),
        tracking_number: number,
        status,
        occurred_at: t,
        description: None,
        location: Some(hub.into()),
        estimated_delivery_date: estimate,
        event_id: None,
    };
    match fulfilment::record_tracking_event(&sim.store, &sim.service, update).await {
        Ok(row) => {
            sim.sales[o].shipments[s].status = ShipmentStatus::parse(&row.status).unwrap_or(status);
            Ok(Some(row))
        }
        Err(e) => {
            stop(sim, o, t);
            Err(e)
        }
    }
}

/// How late carriers run: a busy season before the end, and a storm week in the middle.
fn delay_rate(sim: &Sim, t: DateTime<Utc>) -> f64 {
    let to_end = (sim.end - t).num_days();
    let span_mid = to_end % 45;
    if to_end <= 10 {
        0.24
    } else if (20..27).contains(&span_mid) && to_end > 45 {
        0.2
    } else {
        0.08
    }
}

async fn transit(sim: &mut Sim, t: DateTime<Utc>, o: usize, s: usize) -> Result<(), ServiceError> {
    let promised = sim.sales[o].promised;
    let late = sim.chance(delay_rate(sim, t));
    // Most delays are known at the first scan; some only once the promise has passed.
    let known_now = late && sim.chance(0.75);
    let estimate = match (promised, known_now) {
        (Some(p), true) => {
            let days = sim.pick(&[(1, 55), (2, 30), (3, 10), (4, 5)]);
            Some(p + Duration::days(days))
        }
        (p, _) => p.filter(|_| sim.chance(0.5)),
    };
    let row = tracking(sim, t, o, s, ShipmentStatus::InTransit, estimate).await?;
    if row.is_none() {
        return Ok(());
    }
    if sim.chance(0.01) {
        let when = t + sim.minutes(120, 600);
        sim.schedule(when, Step::LateNews(o, s));
    }
    let arrival = match (late, known_now, estimate, promised) {
        (true, true, Some(e), _) => e,
        (true, false, _, Some(p)) => {
            // The carrier says so only the morning after the promised day.
            sim.sales[o].shipments[s].late = true;
            let news = at_time(p + Duration::days(1), 7, 0) + sim.minutes(0, 240);
            sim.schedule(news.max(t + sim_minutes(60)), Step::LateNews(o, s));
            let arrival = p + Duration::days(sim.pick(&[(2, 70), (3, 30)]));
            sim.sales[o].shipments[s].arrival = Some(arrival);
            arrival
        }
        (_, _, _, Some(p)) => {
            let early = sim.pick(&[(0, 75), (1, 25)]);
            (p - Duration::days(early)).max((t + Duration::hours(12)).date_naive())
        }
        _ => (t + Duration::days(2)).date_naive(),
    };
    if known_now {
        sim.sales[o].shipments[s].late = true;
    }
    sim.sales[o].late |= sim.sales[o].shipments[s].late;
    let out = at_time(arrival, 6, 30) + sim.minutes(0, 120);
    let out = out.max(t + sim_minutes(90));
    sim.schedule(out, Step::OutForDelivery(o, s));
    let home = out + sim.minutes(90, 600);
    sim.schedule(home, Step::Deliver(o, s));
    Ok(())
}

/// A later scan: on a delayed parcel it brings the new estimate past the promise; otherwise an
/// exception (a failed attempt) the carrier then clears.
async fn late_news(
    sim: &mut Sim,
    t: DateTime<Utc>,
    o: usize,
    s: usize,
) -> Result<(), ServiceError> {
    match sim.sales[o].shipments[s].arrival {
        Some(estimate) if sim.sales[o].shipments[s].late => {
            tracking(sim, t, o, s, ShipmentStatus::InTransit, Some(estimate)).await?;
        }
        // The delivery already scheduled clears the exception.
        _ => {
            tracking(sim, t, o, s, ShipmentStatus::Exception, None).await?;
        }
    }
    Ok(())
}

async fn deliver(sim: &mut Sim, t: DateTime<Utc>, o: usize, s: usize) -> Result<(), ServiceError> {
    if tracking(sim, t, o, s, ShipmentStatus::Delivered, None)
        .await?
        .is_none()
    {
        return Ok(());
    }
    sim.sales[o].shipments[s].status = ShipmentStatus::Delivered;
    if sim.sales[o].promised.is_some_and(|p| t.date_naive() > p) {
        sim.sales[o].late = true;
    }
    shipment_ended(sim, t, o, s)
}

/// A shipment reached its end; when all have, the order's experience is known.
fn shipment_ended(
    sim: &mut Sim,
    t: DateTime<Utc>,
    o: usize,
    _s: usize,
) -> Result<(), ServiceError> {
    let sale = &mut sim.sales[o];
    sale.open = sale.open.saturating_sub(1);
    if sale.open > 0 || sale.settled {
        return Ok(());
    }
    let any_delivered = sale
        .shipments
        .iter()
        .any(|p| p.status == ShipmentStatus::Delivered);
    let experience = match (any_delivered, sale.late) {
        (false, _) => Experience::Cancelled,
        (true, true) => Experience::Late,
        (true, false) => Experience::Good,
    };
    settle(sim, o, t, experience);
    if any_delivered {
        maybe_return(sim, o, t);
    }
    Ok(())
}

/// The order is over for the customer; whether and when they come back depends on how it went.
fn settle(sim: &mut Sim, o: usize, t: DateTime<Utc>, experience: Experience) {
    if sim.sales[o].settled {
        return;
    }
    sim.sales[o].settled = true;
    let who = sim.sales[o].customer;
    schedule_return_visit(sim, who, t, experience);
}

fn schedule_return_visit(sim: &mut Sim, who: usize, t: DateTime<Utc>, experience: Experience) {
    let likely = match experience {
        Experience::Good => 0.6,
        Experience::Late => 0.28,
        Experience::Cancelled => 0.22,
    };
    if !sim.chance(likely) {
        return;
    }
    let days = match sim.rng.random_range(0..100) {
        0..=54 => sim.rng.random_range(3..30),
        55..=84 => sim.rng.random_range(30..60),
        _ => sim.rng.random_range(60..110),
    };
    let at = t + Duration::days(days) + sim.minutes(0, 600);
    sim.due.push(Reverse((at, who)));
}

/// Some deliveries come back: online, at a store whatever the channel of the sale, or by phone.
fn maybe_return(sim: &mut Sim, o: usize, t: DateTime<Utc>) {
    if sim.sales[o].channel == Channel::Marketplace && sim.chance(0.5) {
        return;
    }
    if !sim.chance(0.22) {
        return;
    }
    let sale_channel = sim.sales[o].channel;
    let channel = match sale_channel {
        Channel::Store => sim.pick(&[
            (Channel::Store, 75),
            (Channel::Web, 20),
            (Channel::Phone, 5),
        ]),
        _ => sim.pick(&[
            (sale_channel, 50),
            (Channel::Store, 28),
            (Channel::Web, 12),
            (Channel::Phone, 10),
        ]),
    };
    let method = match channel {
        Channel::Store => ReturnMethod::InStore,
        Channel::Phone => ReturnMethod::Carrier,
        _ => sim.pick(&[(ReturnMethod::Carrier, 65), (ReturnMethod::DropOff, 35)]),
    };
    let after = Duration::days(sim.rng.random_range(1..24)) + sim.minutes(0, 600);
    sim.schedule(t + after, Step::Return(o, channel, method));
}

async fn start_return(
    sim: &mut Sim,
    t: DateTime<Utc>,
    o: usize,
    channel: Channel,
    method: ReturnMethod,
) -> Result<(), ServiceError> {
    let order_id = sim.sales[o].id;
    let lines = orders::lines_by_order(&sim.store, &[order_id])
        .await?
        .remove(&order_id)
        .unwrap_or_default();
    let mut requested = Vec::new();
    for line in &lines {
        let Some(item) = ITEMS.iter().find(|i| i.sku == line.sku) else {
            continue;
        };
        if line.quantity_delivered > 0 && item.returnable && sim.chance(item.return_rate * 3.0) {
            let reason = sim.pick(&[
                ("Too small", 30),
                ("Too big", 25),
                ("Not as pictured", 15),
                ("Changed my mind", 20),
                ("Arrived damaged", 10),
            ]);
            requested.push(RequestedLine {
                line_id: line.id,
                quantity: line.quantity_delivered,
                reason: reason.into(),
            });
        }
    }
    // The customer decided to send something back: at least the first returnable line.
    if requested.is_empty()
        && let Some(line) = lines.iter().find(|l| {
            l.quantity_delivered > 0 && ITEMS.iter().any(|i| i.sku == l.sku && i.returnable)
        })
    {
        requested.push(RequestedLine {
            line_id: line.id,
            quantity: 1,
            reason: "Changed my mind".into(),
        });
    }
    if requested.is_empty() {
        return Ok(());
    }
    let customer = sim.people[sim.sales[o].customer].id.unwrap_or_default();
    let store_code = CITIES[sim.people[sim.sales[o].customer].city].store;
    let (principal, reason) = match channel {
        Channel::Store => (sim.service.clone(), None),
        Channel::Phone => (
            sim.agent.clone(),
            Some("Customer called to send items back".to_owned()),
        ),
        _ => (Principal::Customer(CustomerId(customer)), None),
    };
    let request = NewReturn {
        order_id: OrderId(order_id),
        lines: requested,
        method,
        // Drop-offs go to a return point too: the store's parcel desk, then on to a warehouse.
        return_location_code: (method != ReturnMethod::Carrier).then(|| store_code.to_owned()),
        channel: Some(channel),
        override_reason: None,
        reason,
    };
    let ret =
        crate::returns::request_return(&sim.store, &principal, &sim.policy, request, None).await?;
    let (wait, at) = match method {
        ReturnMethod::InStore => (sim.minutes(1, 8), store_code),
        ReturnMethod::DropOff => (sim.minutes(60 * 24 * 2, 60 * 24 * 6), "WH-BER"),
        ReturnMethod::Carrier => (sim.minutes(60 * 24 * 3, 60 * 24 * 9), "WH-BER"),
    };
    let at = if at == "WH-BER" && CITIES[sim.people[sim.sales[o].customer].city].country == "ES" {
        "WH-MAD"
    } else {
        at
    };
    if method != ReturnMethod::InStore && sim.sales[o].late && sim.chance(0.3) {
        let soon = t + sim.minutes(30, 60 * 24);
        sim.schedule(soon, Step::GoodwillRefund(ret.id));
    }
    sim.schedule(t + wait, Step::Receive(o, ret.id, at));
    Ok(())
}

async fn receive(
    sim: &mut Sim,
    _o: usize,
    id: i64,
    code: &'static str,
) -> Result<(), ServiceError> {
    let receipt = Receipt {
        return_id: ReturnId(id),
        location_code: code.into(),
        restock: Some(true),
        lines: None,
    };
    crate::returns::receive_return(&sim.store, &sim.service, &sim.policy, receipt, None).await?;
    Ok(())
}

async fn cancel(
    sim: &mut Sim,
    t: DateTime<Utc>,
    o: usize,
    who: Canceller,
) -> Result<(), ServiceError> {
    let customer = sim.people[sim.sales[o].customer].id.unwrap_or_default();
    let (principal, context) = match who {
        Canceller::Customer => (
            Principal::Customer(CustomerId(customer)),
            ChangeContext {
                expected_version: None,
                reason: None,
                reason_code: None,
            },
        ),
        Canceller::Agent => (
            sim.agent.clone(),
            ChangeContext {
                expected_version: None,
                reason: Some("Customer called: ordered the wrong size".into()),
                reason_code: None,
            },
        ),
        Canceller::Service(code) => (
            sim.service.clone(),
            ChangeContext {
                expected_version: None,
                reason: None,
                reason_code: Some(code.into()),
            },
        ),
    };
    let done = selfservice::cancel_order(
        &sim.store,
        &principal,
        OrderId(sim.sales[o].id),
        context,
        None,
    )
    .await;
    stop(sim, o, t);
    done.map(|_| ())
}

async fn cancel_line(sim: &mut Sim, o: usize) -> Result<(), ServiceError> {
    let order_id = sim.sales[o].id;
    let lines = orders::lines_by_order(&sim.store, &[order_id])
        .await?
        .remove(&order_id)
        .unwrap_or_default();
    let Some(last) = lines.last() else {
        return Ok(());
    };
    let customer = sim.people[sim.sales[o].customer].id.unwrap_or_default();
    selfservice::cancel_order_lines(
        &sim.store,
        &Principal::Customer(CustomerId(customer)),
        OrderId(order_id),
        vec![(last.id, last.quantity)],
        ChangeContext {
            expected_version: None,
            reason: None,
            reason_code: None,
        },
        None,
    )
    .await?;
    // A shipment left with nothing is cancelled; its pick step will find that.
    Ok(())
}

async fn opt_out(sim: &mut Sim, who: usize) -> Result<(), ServiceError> {
    let Some(id) = sim.people[who].id else {
        return Ok(());
    };
    crate::customers::update_customer(
        &sim.store,
        &Principal::Customer(CustomerId(id)),
        CustomerId(id),
        CustomerUpdate {
            order_updates_by_email: Some(false),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// The order will see no more steps (cancelled, or a step was refused).
fn stop(sim: &mut Sim, o: usize, t: DateTime<Utc>) {
    if sim.sales[o].stopped {
        return;
    }
    sim.sales[o].stopped = true;
    let delivered = sim.sales[o]
        .shipments
        .iter()
        .any(|p| p.status == ShipmentStatus::Delivered);
    let experience = if delivered {
        Experience::Good
    } else {
        Experience::Cancelled
    };
    settle(sim, o, t, experience);
}
