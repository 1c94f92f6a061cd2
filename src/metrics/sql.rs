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

/// The per-order facts the delivery and repeat-purchase figures are made of, for the orders the
/// alias `o` ranges over:
/// - `live`: shipments not cancelled;
/// - `late`: shipments not cancelled that were not delivered or collected by the end of the
///   promised date;
/// - `flagged`: shipments not cancelled, not yet delivered, and known to be late (a carrier
///   estimate past the promise, or a missed dispatch deadline);
/// - `returned`: 1 when the order has a return that was not cancelled;
/// - `told`: 1 when a SHIPMENT_DELAYED email about the order was SENT by the end of the promised
///   date.
pub fn order_facts(backend: DbBackend) -> String {
    let delivered_day = utc_day(backend, "s.delivered_at");
    let sent_day = utc_day(backend, "c.sent_at");
    format!(
        "(SELECT COUNT(*) FROM shipments s WHERE s.order_id = o.id AND s.status <> 'CANCELLED') \
           AS live, \
         (SELECT COUNT(*) FROM shipments s WHERE s.order_id = o.id AND s.status <> 'CANCELLED' \
           AND (s.delivered_at IS NULL OR {delivered_day} > o.promised_date)) AS late, \
         (SELECT COUNT(*) FROM shipments s WHERE s.order_id = o.id AND s.status <> 'CANCELLED' \
           AND s.delivered_at IS NULL AND s.is_delayed) AS flagged, \
         CASE WHEN EXISTS (SELECT 1 FROM returns r WHERE r.order_id = o.id \
           AND r.status <> 'CANCELLED') THEN 1 ELSE 0 END AS returned, \
         CASE WHEN o.promised_date IS NOT NULL AND EXISTS (SELECT 1 FROM communications c \
           WHERE c.order_id = o.id AND c.kind = 'SHIPMENT_DELAYED' AND c.status = 'SENT' \
           AND c.sent_at IS NOT NULL AND {sent_day} <= o.promised_date) THEN 1 ELSE 0 END AS told"
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
