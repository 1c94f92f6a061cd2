//! Configuration: command-line flags with environment fallbacks, safe defaults.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// The development JWT secret; `--production` refuses to start with it.
pub const DEV_JWT_SECRET: &str = "touchpoint-dev-secret-change-me";

#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "TOUCHPOINT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// sqlite://FILE?mode=rwc or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://touchpoint.db?mode=rwc"
    )]
    pub database_url: String,
    /// Database connections kept open at most; unset: 8 for SQLite (one thread each), 16 for
    /// PostgreSQL.
    #[arg(long, env = "TOUCHPOINT_DB_POOL_SIZE")]
    pub db_pool_size: Option<u32>,
    /// HS256 secret for bearer tokens.
    #[arg(long, env = "TOUCHPOINT_JWT_SECRET", default_value = DEV_JWT_SECRET, hide_default_value = true)]
    pub jwt_secret: String,
    /// A PEM file with an RSA public key: tokens are then verified as RS256.
    #[arg(long, env = "TOUCHPOINT_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// SMTP server for outgoing email, e.g. smtp://127.0.0.1:2525; unset: .eml files.
    #[arg(long, env = "TOUCHPOINT_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Where .eml files go when no SMTP server is configured.
    #[arg(long, env = "TOUCHPOINT_MAIL_DIR", default_value = "./var/mail")]
    pub mail_dir: PathBuf,
    /// Base of links the API hands out (emails, return labels); unset: the listen address.
    #[arg(long, env = "TOUCHPOINT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How often the email outbox looks for due messages (it also wakes after each commit).
    #[arg(long, env = "TOUCHPOINT_MAIL_POLL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub mail_poll: std::time::Duration,
    /// The first retry delay of a message that failed transiently; it doubles each attempt.
    #[arg(long, env = "TOUCHPOINT_MAIL_RETRY_BASE", default_value = "2s", value_parser = humantime::parse_duration)]
    pub mail_retry_base: std::time::Duration,
    /// Attempts before a message that keeps failing is FAILED.
    #[arg(long, env = "TOUCHPOINT_MAIL_MAX_ATTEMPTS", default_value_t = 8)]
    pub mail_max_attempts: i32,
    /// How long a sender holds a message it took; a sender that died lets it go after this.
    #[arg(long, env = "TOUCHPOINT_MAIL_CLAIM", default_value = "2m", value_parser = humantime::parse_duration)]
    pub mail_claim: std::time::Duration,
    /// Seed demo data into an empty database.
    #[arg(
        long = "demo",
        env = "TOUCHPOINT_DEMO",
        default_value_t = true,
        overrides_with = "no_demo"
    )]
    pub demo: bool,
    /// Start without demo data.
    #[arg(long = "no-demo", overrides_with = "demo")]
    pub no_demo: bool,
    /// Strict mode: no GraphiQL, no introspection, no development secret.
    #[arg(long, env = "TOUCHPOINT_PRODUCTION")]
    pub production: bool,
    /// A web origin (scheme://host[:port]) whose pages may call the API from a browser;
    /// repeat the flag, or separate origins with commas. None by default.
    #[arg(
        long = "cors-origin",
        env = "TOUCHPOINT_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// How long a stopping server (SIGTERM, Ctrl-C) waits for work in flight to finish.
    #[arg(long, env = "TOUCHPOINT_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: std::time::Duration,
    #[command(flatten)]
    pub limits: Limits,
    /// How long a WebSocket may wait before sending `connection_init` (closed with 4408 after).
    #[arg(long, env = "TOUCHPOINT_WS_INIT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub ws_init_timeout: std::time::Duration,
    /// Most subscriptions one WebSocket connection may hold at once.
    #[arg(
        long,
        env = "TOUCHPOINT_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        default_value_t = 50
    )]
    pub max_subscriptions_per_connection: usize,
    /// Events a subscriber may fall behind by before it is told LAGGED and completed.
    #[arg(long, env = "TOUCHPOINT_SUBSCRIPTION_BUFFER", default_value_t = 1024)]
    pub subscription_buffer: usize,
    /// How often shipments are checked against their dispatch deadline.
    #[arg(long, env = "TOUCHPOINT_DEADLINE_CHECK", default_value = "60s", value_parser = humantime::parse_duration)]
    pub deadline_check: std::time::Duration,
    #[command(flatten)]
    pub routing: RoutingConfig,
    #[command(flatten)]
    pub returns: ReturnsConfig,
    /// The dispatcher's fallback poll interval (it is woken at once after each commit).
    #[arg(long, env = "TOUCHPOINT_DISPATCH_POLL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub dispatch_poll: std::time::Duration,
    /// Benchmarks only: mounts `POST /bench/fixed`, which answers a fixed JSON body of this many
    /// bytes without touching the database (the HTTP ceiling of `cargo bench --bench http`).
    /// Unset (the default): the route does not exist.
    #[arg(long, env = "TOUCHPOINT_BENCH_FIXED_RESPONSE_BYTES", hide = true)]
    pub bench_fixed_response_bytes: Option<usize>,
}

/// Request limits.
#[derive(Clone, Debug, Args)]
pub struct Limits {
    /// Deepest selection nesting a query may have.
    #[arg(long, env = "TOUCHPOINT_MAX_DEPTH", default_value_t = 15)]
    pub max_depth: usize,
    /// Highest query complexity (list fields cost `first` times their children).
    #[arg(long, env = "TOUCHPOINT_MAX_COMPLEXITY", default_value_t = 20_000)]
    pub max_complexity: usize,
    /// Most aliases in one query.
    #[arg(long, env = "TOUCHPOINT_MAX_ALIASES", default_value_t = 100)]
    pub max_aliases: usize,
    /// Largest request body, in bytes.
    #[arg(long, env = "TOUCHPOINT_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Deepest nesting of brackets in a query text, checked before parsing.
    #[arg(long, env = "TOUCHPOINT_MAX_BRACKET_DEPTH", default_value_t = 64)]
    pub max_bracket_depth: usize,
    /// Longest a query or mutation may run; it is then abandoned (a mutation rolls back).
    #[arg(long, env = "TOUCHPOINT_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 15,
            max_complexity: 20_000,
            max_aliases: 100,
            max_body_bytes: 1024 * 1024,
            max_bracket_depth: 64,
            request_timeout: std::time::Duration::from_secs(30),
        }
    }
}

impl Config {
    /// Whether to seed demo data into an empty database.
    pub fn seeds_demo(&self) -> bool {
        self.demo && !self.no_demo
    }

    /// A configuration for tests: port 0, the given database, no demo data, a fixed secret.
    pub fn for_tests(database_url: String) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url,
            db_pool_size: None,
            jwt_secret: "test-secret".into(),
            jwt_public_key: None,
            smtp_url: None,
            mail_dir: std::env::temp_dir().join("touchpoint-test-mail"),
            public_url: None,
            mail_poll: std::time::Duration::from_millis(200),
            mail_retry_base: std::time::Duration::from_millis(100),
            mail_max_attempts: 8,
            mail_claim: std::time::Duration::from_secs(5),
            demo: false,
            no_demo: true,
            production: false,
            cors_origins: Vec::new(),
            shutdown_grace: std::time::Duration::from_secs(30),
            limits: Limits::default(),
            ws_init_timeout: std::time::Duration::from_secs(10),
            subscription_buffer: 1024,
            max_subscriptions_per_connection: 50,
            dispatch_poll: std::time::Duration::from_secs(1),
            deadline_check: std::time::Duration::from_secs(60),
            routing: RoutingConfig::default(),
            returns: ReturnsConfig::default(),
            bench_fixed_response_bytes: None,
        }
    }
}

/// The routing engine's weights (DESIGN.md, "Routing").
#[derive(Clone, Debug, Args)]
pub struct RoutingConfig {
    /// Score per km from a shipping location to the customer.
    #[arg(
        long = "routing-per-km",
        env = "TOUCHPOINT_ROUTING_PER_KM",
        default_value_t = 1.0
    )]
    pub per_km: f64,
    /// Score per currency unit of shipping cost.
    #[arg(
        long = "routing-per-cost-unit",
        env = "TOUCHPOINT_ROUTING_PER_COST_UNIT",
        default_value_t = 10.0
    )]
    pub per_cost_unit: f64,
    /// Score of each shipment beyond the first.
    #[arg(
        long = "routing-extra-shipment",
        env = "TOUCHPOINT_ROUTING_EXTRA_SHIPMENT",
        default_value_t = 2000.0
    )]
    pub per_extra_shipment: f64,
    /// Score of a plan that misses the promised date.
    #[arg(
        long = "routing-missed-promise",
        env = "TOUCHPOINT_ROUTING_MISSED_PROMISE",
        default_value_t = 100000.0
    )]
    pub missed_promise: f64,
    /// Kilometres a parcel travels per transit day.
    #[arg(
        long = "routing-km-per-day",
        env = "TOUCHPOINT_ROUTING_KM_PER_DAY",
        default_value_t = 500.0
    )]
    pub km_per_transit_day: f64,
    /// Exact search while at most this many locations hold the stock; greedy beyond.
    #[arg(
        long = "routing-exact-max-nodes",
        env = "TOUCHPOINT_ROUTING_EXACT_MAX_NODES",
        default_value_t = 12
    )]
    pub exact_max_nodes: usize,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        let w = crate::routing::engine::Weights::default();
        RoutingConfig {
            per_km: w.per_km,
            per_cost_unit: w.per_cost_unit,
            per_extra_shipment: w.per_extra_shipment,
            missed_promise: w.missed_promise,
            km_per_transit_day: w.km_per_transit_day,
            exact_max_nodes: w.exact_max_nodes,
        }
    }
}

impl RoutingConfig {
    pub fn weights(&self) -> crate::routing::engine::Weights {
        crate::routing::engine::Weights {
            per_km: self.per_km,
            per_cost_unit: self.per_cost_unit,
            per_extra_shipment: self.per_extra_shipment,
            missed_promise: self.missed_promise,
            km_per_transit_day: self.km_per_transit_day,
            exact_max_nodes: self.exact_max_nodes,
            ..crate::routing::engine::Weights::default()
        }
    }
}

/// The return policy every channel applies (DESIGN.md, "Return").
#[derive(Clone, Debug, Args)]
pub struct ReturnsConfig {
    /// Days after delivery or collection during which items may be returned.
    #[arg(
        long = "return-window-days",
        env = "TOUCHPOINT_RETURN_WINDOW_DAYS",
        default_value_t = 30
    )]
    pub window_days: u32,
    /// Days until the refund of an in-store return arrives, from the visit.
    #[arg(
        long = "return-in-store-refund-days",
        env = "TOUCHPOINT_RETURN_IN_STORE_REFUND_DAYS",
        default_value_t = 0
    )]
    pub in_store_refund_days: u32,
    /// Days until the refund of a carrier return arrives, from the request.
    #[arg(
        long = "return-carrier-refund-days",
        env = "TOUCHPOINT_RETURN_CARRIER_REFUND_DAYS",
        default_value_t = 10
    )]
    pub carrier_refund_days: u32,
    /// Days until the refund of a drop-off return arrives, from the request.
    #[arg(
        long = "return-drop-off-refund-days",
        env = "TOUCHPOINT_RETURN_DROP_OFF_REFUND_DAYS",
        default_value_t = 7
    )]
    pub drop_off_refund_days: u32,
    /// Product categories that are never returnable (comma-separated), besides products marked so.
    #[arg(
        long = "return-excluded-categories",
        env = "TOUCHPOINT_RETURN_EXCLUDED_CATEGORIES",
        value_delimiter = ','
    )]
    pub excluded_categories: Vec<String>,
}

impl Default for ReturnsConfig {
    fn default() -> Self {
        let p = crate::returns::ReturnPolicy::default();
        ReturnsConfig {
            window_days: p.window_days,
            in_store_refund_days: p.in_store_refund_days,
            carrier_refund_days: p.carrier_refund_days,
            drop_off_refund_days: p.drop_off_refund_days,
            excluded_categories: p.non_returnable_categories,
        }
    }
}

impl ReturnsConfig {
    pub fn policy(&self) -> crate::returns::ReturnPolicy {
        crate::returns::ReturnPolicy {
            window_days: self.window_days,
            in_store_refund_days: self.in_store_refund_days,
            carrier_refund_days: self.carrier_refund_days,
            drop_off_refund_days: self.drop_off_refund_days,
            non_returnable_categories: self
                .excluded_categories
                .iter()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect(),
        }
    }
}
