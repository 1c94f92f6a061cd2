//! Logs (tracing) and Prometheus metrics.
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

/// Installs the log subscriber once; `RUST_LOG` picks the level (info by default).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false)
        .try_init();
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FieldLabels {
    /// A root field of the schema: a bounded set, never a client-chosen name.
    pub field: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: u16,
}

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    pub graphql_requests: Family<FieldLabels, Counter>,
    pub graphql_latency: Family<FieldLabels, Histogram>,
    pub http_requests: Family<RouteLabels, Counter>,
    pub db_statements: Counter,
    pub db_background_statements: Counter,
    pub live_subscriptions: Gauge,
    pub events_dispatched: Counter,
    pub dispatcher_lag: Gauge<f64, AtomicU64>,
}

impl Metrics {
    /// The counters a store counts its statements on.
    pub fn statement_counters(&self) -> crate::db::StatementCounters {
        crate::db::StatementCounters {
            requests: self.db_statements.clone(),
            background: self.db_background_statements.clone(),
        }
    }

    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("touchpoint");
        let graphql_requests = Family::<FieldLabels, Counter>::default();
        let graphql_latency = Family::<FieldLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let http_requests = Family::<RouteLabels, Counter>::default();
        let db_statements = Counter::default();
        let db_background_statements = Counter::default();
        let live_subscriptions = Gauge::default();
        let events_dispatched = Counter::default();
        let dispatcher_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "graphql_requests",
            "GraphQL root fields resolved",
            graphql_requests.clone(),
        );
        registry.register(
            "graphql_field_seconds",
            "Time to resolve a GraphQL root field",
            graphql_latency.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        registry.register(
            "db_statements",
            "SQL statements executed for requests (background work such as event dispatch and the email outbox excluded)",
            db_statements.clone(),
        );
        registry.register(
            "db_background_statements",
            "SQL statements executed by background work (event dispatch, the email outbox)",
            db_background_statements.clone(),
        );
        registry.register(
            "live_subscriptions",
            "Open GraphQL subscriptions",
            live_subscriptions.clone(),
        );
        registry.register(
            "events_dispatched",
            "Events the dispatcher published",
            events_dispatched.clone(),
        );
        registry.register(
            "dispatcher_lag_seconds",
            "Time from an event's commit to its dispatch, for the latest event",
            dispatcher_lag.clone(),
        );
        Arc::new(Metrics {
            registry,
            graphql_requests,
            graphql_latency,
            http_requests,
            db_statements,
            db_background_statements,
            live_subscriptions,
            events_dispatched,
            dispatcher_lag,
        })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
