//! The statements behind the experience metrics: one SQL text per figure group, with the few
//! date and JSON expressions that differ between SQLite and PostgreSQL chosen by backend.
//!
//! SQLite stores timestamps as RFC 3339 text in UTC (`2026-11-27T10:00:00.123+00:00`) and dates
//! as `YYYY-MM-DD`; PostgreSQL as `timestamptz` and `date`.
use sea_orm::{DbBackend, Statement, Value};

/// Builds one statement: SQL text written with `?` placeholders (numbered `$n` for PostgreSQL)
/// and its values in order.
pub struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Sql {
        Sql {
            backend,
            text: String::new(),
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Sql {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => {
                let n = self.values.len();
                self.text.push_str(&format!("${n}"));
            }
            _ => self.text.push('?'),
        }
        self
    }

    pub fn build(&self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text.clone(), self.values.clone())
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }
}

/// The UTC day of a timestamp column, comparable with a date column.
pub fn utc_day(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("(({column}) AT TIME ZONE 'UTC')::date"),
        _ => format!("substr({column}, 1, 10)"),
    }
}

/// Whether timestamp `later` is at most `days` days after timestamp `earlier` (to the
/// millisecond on SQLite, which keeps timestamps as text).
pub fn within_days(backend: DbBackend, later: &str, earlier: &str, days: u32) -> String {
    match backend {
        DbBackend::Postgres => {
            format!("{later} <= {earlier} + interval '{} hours'", days * 24)
        }
        _ => format!(
            "strftime('%Y-%m-%dT%H:%M:%f', {later}) <= \
             strftime('%Y-%m-%dT%H:%M:%f', {earlier}, '+{days} days')"
        ),
    }
}

/// The reason code an order or lines cancellation event carries in its JSON payload.
pub fn reason_code(backend: DbBackend, payload: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("(({payload})::jsonb ->> 'reasonCode')"),
        _ => format!("json_extract({payload}, '$.reasonCode')"),
    }
}

/// A sum that reads as a 64-bit integer on both backends (PostgreSQL sums bigints as numeric).
pub fn total(expr: &str) -> String {
    format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)")
}

/// The facts `order_metrics` keeps for each order the alias `o` ranges over, in the order of its
/// columns:
/// - `live`: shipments not cancelled;
/// - `late`: shipments not cancelled that were not delivered or collected by the end of the
///   promised date;
/// - `flagged`: shipments not cancelled, not yet delivered, and known to be late (a carrier
///   estimate past the promise, or a missed dispatch deadline);
/// - `returns`: returns that were not cancelled, and `cross_channel_returns` those of them
///   started in another channel than the sale;
/// - `told`: 1 when a SHIPMENT_DELAYED email about the order was SENT by the end of the promised
///   date;
/// - `prev_placed_at`: when the customer placed their order before this one (by time, then id);
/// - `repeat_within`: the shortest of [`REPEAT_WINDOWS`](super::REPEAT_WINDOWS) within which the
///   customer placed another order at or after this one's time, if any.
pub fn order_facts(backend: DbBackend) -> String {
    let delivered_day = utc_day(backend, "s.delivered_at");
    let sent_day = utc_day(backend, "c.sent_at");
    let windows: String = super::REPEAT_WINDOWS
        .iter()
        .map(|days| {
            format!(
                " WHEN EXISTS (SELECT 1 FROM orders o2 WHERE o2.customer_id = o.customer_id \
                 AND o2.id <> o.id AND o2.placed_at >= o.placed_at AND {}) THEN {days}",
                within_days(backend, "o2.placed_at", "o.placed_at", *days)
            )
        })
        .collect();
    format!(
        "(SELECT COUNT(*) FROM shipments s WHERE s.order_id = o.id AND s.status <> 'CANCELLED'), \
         (SELECT COUNT(*) FROM shipments s WHERE s.order_id = o.id AND s.status <> 'CANCELLED' \
           AND (s.delivered_at IS NULL OR {delivered_day} > o.promised_date)), \
         (SELECT COUNT(*) FROM shipments s WHERE s.order_id = o.id AND s.status <> 'CANCELLED' \
           AND s.delivered_at IS NULL AND s.is_delayed), \
         (SELECT COUNT(*) FROM returns r WHERE r.order_id = o.id AND r.status <> 'CANCELLED'), \
         (SELECT COUNT(*) FROM returns r WHERE r.order_id = o.id AND r.status <> 'CANCELLED' \
           AND r.channel <> o.channel), \
         CASE WHEN o.promised_date IS NOT NULL AND EXISTS (SELECT 1 FROM communications c \
           WHERE c.order_id = o.id AND c.kind = 'SHIPMENT_DELAYED' AND c.status = 'SENT' \
           AND c.sent_at IS NOT NULL AND {sent_day} <= o.promised_date) THEN 1 ELSE 0 END, \
         (SELECT MAX(o2.placed_at) FROM orders o2 WHERE o2.customer_id = o.customer_id \
           AND (o2.placed_at < o.placed_at OR (o2.placed_at = o.placed_at AND o2.id < o.id))), \
         CASE WHEN o.customer_id IS NULL THEN NULL{windows} END"
    )
}

/// Over the facts aliased `x` (with `promised_date`): the condition for an order to count in
/// the on-time figures. It has a promise and something to deliver, and either everything was
/// delivered or collected, or its promised date is before `today` (bound here), or a shipment
/// still on its way is known to be late.
pub fn judged(sql: &mut Sql, today: chrono::NaiveDate) {
    sql.push("x.promised_date IS NOT NULL AND x.live > 0 AND (x.late = 0 OR x.promised_date < ");
    sql.bind(today);
    sql.push(" OR x.flagged > 0)");
}
