//! Experience metrics: how orders placed in a range of days fared, overall and per channel.
//! Aggregates only: nothing here names a customer.
//!
//! Every figure is about the orders placed in the range (UTC days, both ends included; an order
//! belongs to the day it was placed), and is computed by a few set-based statements whose
//! per-channel results are added up here.
pub mod sql;

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};

use crate::auth::{Principal, Role};
use crate::db::Store;
use crate::error::{ServiceError, ServiceResult};
use crate::orders::Channel;
use sql::{Sql, judged, order_facts, reason_code, total, utc_day, within_days};

/// The windows the repeat-purchase figures count in, in days after the first order.
pub const REPEAT_WINDOWS: [u32; 3] = [30, 60, 90];

/// The longest range one request may ask for, in days.
pub const MAX_RANGE_DAYS: i64 = 3660;

/// What the caller asked for.
#[derive(Clone, Copy, Debug)]
pub struct MetricsQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub channel: Option<Channel>,
}

/// Emails of one kind about the orders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmailCounts {
    pub sent: i64,
    pub failed: i64,
    pub opened: i64,
}

/// One refund issued for a return of one of the orders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    pub method: String,
    /// Milliseconds from the return's request to the refund.
    pub from_request_ms: i64,
    /// Milliseconds from the goods' receipt to the refund; none when no receipt was recorded.
    pub from_receipt_ms: Option<i64>,
    /// Whether the refund was issued by the end of its `expectedBy` day.
    pub by_expected: bool,
}

/// Customers whose first order in the range falls in a segment, and how many ordered again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepeatCounts {
    pub customers: i64,
    /// Per window of [`REPEAT_WINDOWS`]: customers with another order within it.
    pub repeated: [i64; 3],
}

impl RepeatCounts {
    fn add(&mut self, other: &RepeatCounts) {
        self.customers += other.customers;
        for (a, b) in self.repeated.iter_mut().zip(other.repeated) {
            *a += b;
        }
    }
}

/// The repeat-purchase segments, by the experience of the customer's first order in the range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepeatFigures {
    pub all: RepeatCounts,
    pub on_time: RepeatCounts,
    pub delayed: RepeatCounts,
    pub delayed_told: RepeatCounts,
    pub delayed_not_told: RepeatCounts,
    pub returned: RepeatCounts,
    pub not_returned: RepeatCounts,
}

impl RepeatFigures {
    fn add(&mut self, o: &RepeatFigures) {
        self.all.add(&o.all);
        self.on_time.add(&o.on_time);
        self.delayed.add(&o.delayed);
        self.delayed_told.add(&o.delayed_told);
        self.delayed_not_told.add(&o.delayed_not_told);
        self.returned.add(&o.returned);
        self.not_returned.add(&o.not_returned);
    }
}

/// The figures of one channel, or of all of them added up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub orders_placed: i64,
    /// Orders with at least one shipment that was not cancelled.
    pub orders_shipped: i64,
    pub single_shipment_orders: i64,
    /// Shipments (not cancelled) of the shipped orders.
    pub shipments: i64,
    /// Orders that count in the on-time figures.
    pub judged: i64,
    pub on_time: i64,
    /// Delayed orders whose customer was told before the promised date passed.
    pub delayed_told: i64,
    /// Orders whose status is CANCELLED.
    pub orders_cancelled: i64,
    /// Cancellation events by (actor role, reason code).
    pub cancellations: BTreeMap<(String, String), i64>,
    /// Substitutions by status.
    pub substitutions: BTreeMap<String, i64>,
    /// Returns that were not cancelled.
    pub returns: i64,
    pub cross_channel_returns: i64,
    pub orders_returned: i64,
    pub refunds: Vec<Refund>,
    /// Emails by kind.
    pub emails: BTreeMap<String, EmailCounts>,
    pub repeat: RepeatFigures,
}

impl Figures {
    pub fn delayed(&self) -> i64 {
        self.judged - self.on_time
    }

    fn add(&mut self, o: &Figures) {
        self.orders_placed += o.orders_placed;
        self.orders_shipped += o.orders_shipped;
        self.single_shipment_orders += o.single_shipment_orders;
        self.shipments += o.shipments;
        self.judged += o.judged;
        self.on_time += o.on_time;
        self.delayed_told += o.delayed_told;
        self.orders_cancelled += o.orders_cancelled;
        for (k, v) in &o.cancellations {
            *self.cancellations.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.substitutions {
            *self.substitutions.entry(k.clone()).or_default() += v;
        }
        self.returns += o.returns;
        self.cross_channel_returns += o.cross_channel_returns;
        self.orders_returned += o.orders_returned;
        self.refunds.extend(o.refunds.iter().cloned());
        for (k, v) in &o.emails {
            let e = self.emails.entry(k.clone()).or_default();
            e.sent += v.sent;
            e.failed += v.failed;
            e.opened += v.opened;
        }
        self.repeat.add(&o.repeat);
    }

    /// Cancellation events by who cancelled (an actor role, or "system").
    pub fn cancellations_by_actor(&self) -> BTreeMap<&str, i64> {
        let mut by = BTreeMap::new();
        for ((actor, _), n) in &self.cancellations {
            *by.entry(actor.as_str()).or_default() += n;
        }
        by
    }

    /// Cancellation events by reason code.
    pub fn cancellations_by_reason(&self) -> BTreeMap<&str, i64> {
        let mut by = BTreeMap::new();
        for ((_, reason), n) in &self.cancellations {
            *by.entry(reason.as_str()).or_default() += n;
        }
        by
    }
}

/// The answer: the channels' figures and their sum.
#[derive(Clone, Debug, Default)]
pub struct ExperienceMetrics {
    pub overall: Figures,
    pub by_channel: Vec<(Channel, Figures)>,
}

/// How a range is cut into periods for a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
}

/// The most periods one series may have.
pub const MAX_PERIODS: usize = 120;

/// The periods of `from..=to`, each clipped to the range (the first and the last may be short).
pub fn periods(
    from: NaiveDate,
    to: NaiveDate,
    interval: Interval,
) -> ServiceResult<Vec<(NaiveDate, NaiveDate)>> {
    use chrono::Datelike;
    let mut periods = Vec::new();
    let mut start = from;
    while start <= to {
        let natural_end = match interval {
            Interval::Day => start,
            Interval::Week => {
                start
                    + chrono::Duration::days(6 - i64::from(start.weekday().num_days_from_monday()))
            }
            Interval::Month => {
                let first_of_next = if start.month() == 12 {
                    NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)
                };
                first_of_next
                    .and_then(|d| d.pred_opt())
                    .ok_or_else(|| ServiceError::BadInput("the range is out of bounds".into()))?
            }
        };
        let end = natural_end.min(to);
        periods.push((start, end));
        if periods.len() > MAX_PERIODS {
            return Err(ServiceError::BadInput(format!(
                "a series has at most {MAX_PERIODS} periods: choose a longer interval or a shorter range"
            )));
        }
        start = match end.succ_opt() {
            Some(next) => next,
            None => break,
        };
    }
    Ok(periods)
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted values; none when there are none.
pub fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (p as usize * n).div_ceil(100).clamp(1, n);
    Some(sorted[rank - 1])
}

/// `numerator / denominator`, or none when the denominator is 0.
pub fn rate(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator != 0).then(|| numerator as f64 / denominator as f64)
}

/// Agents, marketing and admins: the experience figures of the orders placed from `from` to `to`.
#[tracing::instrument(skip_all, fields(from = %query.from, to = %query.to))]
pub async fn experience_metrics(
    store: &Store,
    principal: &Principal,
    query: MetricsQuery,
) -> ServiceResult<ExperienceMetrics> {
    principal.require(&[Role::Agent, Role::Marketing])?;
    if query.to < query.from {
        return Err(ServiceError::BadInput("`to` is before `from`".into()));
    }
    if (query.to - query.from).num_days() >= MAX_RANGE_DAYS {
        return Err(ServiceError::BadInput(format!(
            "a range spans at most {MAX_RANGE_DAYS} days"
        )));
    }
    let start = day_start(query.from);
    let end = query
        .to
        .checked_add_days(Days::new(1))
        .map(day_start)
        .ok_or_else(|| ServiceError::BadInput("`to` is out of range".into()))?;
    let range = Range {
        start,
        end,
        channel: query.channel,
        today: Utc::now().date_naive(),
    };
    let txn = store.read_snapshot().await?;
    let mut channels: BTreeMap<String, Figures> = BTreeMap::new();
    orders(&txn, &range, &mut channels).await?;
    cancellations(&txn, &range, &mut channels).await?;
    substitutions(&txn, &range, &mut channels).await?;
    returns(&txn, &range, &mut channels).await?;
    refunds(&txn, &range, &mut channels).await?;
    emails(&txn, &range, &mut channels).await?;
    repeat_purchase(&txn, &range, &mut channels).await?;
    txn.commit().await?;

    let mut answer = ExperienceMetrics::default();
    for channel in Channel::ALL {
        let figures = channels.remove(channel.as_str());
        if figures.is_none() && query.channel != Some(*channel) {
            continue;
        }
        let mut figures = figures.unwrap_or_default();
        figures.refunds.sort_by_key(|r| r.from_request_ms);
        answer.overall.add(&figures);
        answer.by_channel.push((*channel, figures));
    }
    Ok(answer)
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

struct Range {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    channel: Option<Channel>,
    today: NaiveDate,
}

impl Range {
    /// `o.placed_at` in the range (and `o.channel` the channel asked for).
    fn filter(&self, sql: &mut Sql) {
        sql.push("o.placed_at >= ")
            .bind(self.start)
            .push(" AND o.placed_at < ")
            .bind(self.end);
        if let Some(channel) = self.channel {
            sql.push(" AND o.channel = ").bind(channel.as_str());
        }
    }
}

type Channels = BTreeMap<String, Figures>;

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> ServiceResult<T> {
    Ok(row.try_get::<T>("", column)?)
}

async fn rows(txn: &DatabaseTransaction, sql: &Sql) -> ServiceResult<Vec<QueryResult>> {
    Ok(txn.query_all_raw(sql.build()).await?)
}

/// Orders placed, shipments per order, on-time and proactive figures, orders cancelled and
/// returned: one pass over the orders.
async fn orders(txn: &DatabaseTransaction, range: &Range, out: &mut Channels) -> ServiceResult<()> {
    let mut sql = Sql::new(txn.get_database_backend());
    let b = sql.backend();
    sql.push(&format!(
        "SELECT y.channel, COUNT(*) AS orders, {shipped} AS shipped, {single} AS single, \
         {shipments} AS shipments, {judged} AS judged, {on_time} AS on_time, {told} AS told, \
         {cancelled} AS cancelled, {returned} AS returned \
         FROM (SELECT x.*, CASE WHEN ",
        shipped = total("CASE WHEN y.live > 0 THEN 1 ELSE 0 END"),
        single = total("CASE WHEN y.live = 1 THEN 1 ELSE 0 END"),
        shipments = total("y.live"),
        judged = total("y.judged"),
        on_time = total("CASE WHEN y.judged = 1 AND y.late = 0 THEN 1 ELSE 0 END"),
        told = total("CASE WHEN y.judged = 1 AND y.late > 0 AND y.told = 1 THEN 1 ELSE 0 END"),
        cancelled = total("CASE WHEN y.status = 'CANCELLED' THEN 1 ELSE 0 END"),
        returned = total("y.returned"),
    ));
    judged(&mut sql, range.today);
    sql.push(&format!(
        " THEN 1 ELSE 0 END AS judged FROM (SELECT o.channel, o.status, o.promised_date, {} \
         FROM orders o WHERE ",
        order_facts(b)
    ));
    range.filter(&mut sql);
    sql.push(") x) y GROUP BY y.channel");
    for row in rows(txn, &sql).await? {
        let f = out.entry(get::<String>(&row, "channel")?).or_default();
        f.orders_placed = get(&row, "orders")?;
        f.orders_shipped = get(&row, "shipped")?;
        f.single_shipment_orders = get(&row, "single")?;
        f.shipments = get(&row, "shipments")?;
        f.judged = get(&row, "judged")?;
        f.on_time = get(&row, "on_time")?;
        f.delayed_told = get(&row, "told")?;
        f.orders_cancelled = get(&row, "cancelled")?;
        f.orders_returned = get(&row, "returned")?;
    }
    Ok(())
}

/// Cancellation events (whole orders and lines) by who cancelled and why.
async fn cancellations(
    txn: &DatabaseTransaction,
    range: &Range,
    out: &mut Channels,
) -> ServiceResult<()> {
    let mut sql = Sql::new(txn.get_database_backend());
    let reason = reason_code(sql.backend(), "e.payload");
    sql.push(&format!(
        "SELECT o.channel, e.actor_role AS actor, COALESCE({reason}, 'CUSTOMER_REQUEST') AS reason, \
         COUNT(*) AS n FROM orders o JOIN events e ON e.order_id = o.id \
         WHERE e.kind IN ('ORDER_CANCELLED', 'LINES_CANCELLED') AND "
    ));
    range.filter(&mut sql);
    sql.push(" GROUP BY o.channel, e.actor_role, ");
    sql.push(&format!("COALESCE({reason}, 'CUSTOMER_REQUEST')"));
    for row in rows(txn, &sql).await? {
        let f = out.entry(get::<String>(&row, "channel")?).or_default();
        let key = (
            get::<String>(&row, "actor")?,
            get::<String>(&row, "reason")?,
        );
        *f.cancellations.entry(key).or_default() += get::<i64>(&row, "n")?;
    }
    Ok(())
}

/// Substitutions proposed on the orders, by status.
async fn substitutions(
    txn: &DatabaseTransaction,
    range: &Range,
    out: &mut Channels,
) -> ServiceResult<()> {
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push(
        "SELECT o.channel, s.status, COUNT(*) AS n FROM orders o \
         JOIN substitutions s ON s.order_id = o.id WHERE ",
    );
    range.filter(&mut sql);
    sql.push(" GROUP BY o.channel, s.status");
    for row in rows(txn, &sql).await? {
        let f = out.entry(get::<String>(&row, "channel")?).or_default();
        f.substitutions
            .insert(get::<String>(&row, "status")?, get::<i64>(&row, "n")?);
    }
    Ok(())
}

/// Returns of the orders (not cancelled), and those started in another channel than the sale.
async fn returns(
    txn: &DatabaseTransaction,
    range: &Range,
    out: &mut Channels,
) -> ServiceResult<()> {
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push(&format!(
        "SELECT o.channel, COUNT(*) AS n, {cross} AS cross_channel FROM orders o \
         JOIN returns r ON r.order_id = o.id WHERE r.status <> 'CANCELLED' AND ",
        cross = total("CASE WHEN r.channel <> o.channel THEN 1 ELSE 0 END"),
    ));
    range.filter(&mut sql);
    sql.push(" GROUP BY o.channel");
    for row in rows(txn, &sql).await? {
        let f = out.entry(get::<String>(&row, "channel")?).or_default();
        f.returns = get(&row, "n")?;
        f.cross_channel_returns = get(&row, "cross_channel")?;
    }
    Ok(())
}

/// The refunds issued for returns of the orders: their times, for the percentiles.
async fn refunds(
    txn: &DatabaseTransaction,
    range: &Range,
    out: &mut Channels,
) -> ServiceResult<()> {
    let mut sql = Sql::new(txn.get_database_backend());
    let issued_day = utc_day(sql.backend(), "r.refund_issued_at");
    sql.push(&format!(
        "SELECT o.channel, r.method, r.created_at, r.received_at, r.refund_issued_at, \
         CASE WHEN {issued_day} <= r.refund_expected_by THEN 1 ELSE 0 END AS by_expected \
         FROM orders o JOIN returns r ON r.order_id = o.id \
         WHERE r.refund_issued_at IS NOT NULL AND "
    ));
    range.filter(&mut sql);
    for row in rows(txn, &sql).await? {
        let f = out.entry(get::<String>(&row, "channel")?).or_default();
        let requested: DateTime<Utc> = get(&row, "created_at")?;
        let received: Option<DateTime<Utc>> = get(&row, "received_at")?;
        let issued: DateTime<Utc> = get(&row, "refund_issued_at")?;
        let millis = |from: DateTime<Utc>| issued.timestamp_millis() - from.timestamp_millis();
        f.refunds.push(Refund {
            method: get(&row, "method")?,
            from_request_ms: millis(requested),
            from_receipt_ms: received.map(millis),
            by_expected: get::<i32>(&row, "by_expected")? == 1,
        });
    }
    Ok(())
}

/// Emails about the orders, by kind: sent, failed and opened.
async fn emails(txn: &DatabaseTransaction, range: &Range, out: &mut Channels) -> ServiceResult<()> {
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push(&format!(
        "SELECT o.channel, c.kind, {sent} AS sent, {failed} AS failed, {opened} AS opened \
         FROM orders o JOIN communications c ON c.order_id = o.id WHERE ",
        sent = total("CASE WHEN c.status = 'SENT' THEN 1 ELSE 0 END"),
        failed = total("CASE WHEN c.status = 'FAILED' THEN 1 ELSE 0 END"),
        opened = total("CASE WHEN c.status = 'SENT' AND c.opened_at IS NOT NULL THEN 1 ELSE 0 END"),
    ));
    range.filter(&mut sql);
    sql.push(" GROUP BY o.channel, c.kind");
    for row in rows(txn, &sql).await? {
        let f = out.entry(get::<String>(&row, "channel")?).or_default();
        f.emails.insert(
            get(&row, "kind")?,
            EmailCounts {
                sent: get(&row, "sent")?,
                failed: get(&row, "failed")?,
                opened: get(&row, "opened")?,
            },
        );
    }
    Ok(())
}

/// Repeat purchase: each customer (not an anonymous walk-in sale) counts once, in the channel of
/// their first order in the range, segmented by how that order fared; they repeated within N
/// days when they placed another order (in any channel) at most N days after it.
async fn repeat_purchase(
    txn: &DatabaseTransaction,
    range: &Range,
    out: &mut Channels,
) -> ServiceResult<()> {
    let mut sql = Sql::new(txn.get_database_backend());
    let b = sql.backend();
    let windows: Vec<String> = REPEAT_WINDOWS
        .iter()
        .map(|days| {
            format!(
                "CASE WHEN EXISTS (SELECT 1 FROM orders o2 WHERE o2.customer_id = o.customer_id \
                 AND o2.id <> o.id AND o2.placed_at >= o.placed_at AND {}) THEN 1 ELSE 0 END \
                 AS r{days}",
                within_days(b, "o2.placed_at", "o.placed_at", *days)
            )
        })
        .collect();
    sql.push(&format!(
        "SELECT y.channel, y.judged, CASE WHEN y.late > 0 THEN 1 ELSE 0 END AS delayed, y.told, \
         y.returned, COUNT(*) AS customers, {r30} AS r30, {r60} AS r60, {r90} AS r90 \
         FROM (SELECT x.*, CASE WHEN ",
        r30 = total("y.r30"),
        r60 = total("y.r60"),
        r90 = total("y.r90"),
    ));
    judged(&mut sql, range.today);
    sql.push(&format!(
        " THEN 1 ELSE 0 END AS judged FROM (SELECT o.channel, o.promised_date, {facts}, {windows} \
         FROM (SELECT f.id, f.customer_id, f.channel, f.placed_at, f.promised_date FROM \
         (SELECT o.id, o.customer_id, o.channel, o.placed_at, o.promised_date, \
         ROW_NUMBER() OVER (PARTITION BY o.customer_id ORDER BY o.placed_at, o.id) AS rn \
         FROM orders o JOIN customers cu ON cu.id = o.customer_id \
         WHERE (cu.email IS NOT NULL OR EXISTS (SELECT 1 FROM customer_identities ci \
         WHERE ci.customer_id = cu.id)) AND o.placed_at >= ",
        facts = order_facts(b),
        windows = windows.join(", "),
    ));
    sql.bind(range.start)
        .push(" AND o.placed_at < ")
        .bind(range.end)
        .push(") f WHERE f.rn = 1");
    if let Some(channel) = range.channel {
        sql.push(" AND f.channel = ").bind(channel.as_str());
    }
    sql.push(
        ") o) x) y GROUP BY y.channel, y.judged, CASE WHEN y.late > 0 THEN 1 ELSE 0 END, \
         y.told, y.returned",
    );
    for row in rows(txn, &sql).await? {
        let f = out.entry(get::<String>(&row, "channel")?).or_default();
        let counts = RepeatCounts {
            customers: get(&row, "customers")?,
            repeated: [get(&row, "r30")?, get(&row, "r60")?, get(&row, "r90")?],
        };
        let judged = get::<i32>(&row, "judged")? == 1;
        let delayed = judged && get::<i32>(&row, "delayed")? == 1;
        let told = get::<i32>(&row, "told")? == 1;
        let returned = get::<i32>(&row, "returned")? == 1;
        let r = &mut f.repeat;
        r.all.add(&counts);
        if judged && !delayed {
            r.on_time.add(&counts);
        }
        if delayed {
            r.delayed.add(&counts);
            if told {
                r.delayed_told.add(&counts);
            } else {
                r.delayed_not_told.add(&counts);
            }
        }
        if returned {
            r.returned.add(&counts);
        } else {
            r.not_returned.add(&counts);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        assert_eq!(nearest_rank(&[1, 2], 50), Some(1));
        assert_eq!(nearest_rank(&[1, 2], 90), Some(2));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 50), Some(5));
        assert_eq!(nearest_rank(&ten, 90), Some(9));
        let eleven: Vec<i64> = (1..=11).collect();
        assert_eq!(nearest_rank(&eleven, 50), Some(6));
        assert_eq!(nearest_rank(&eleven, 90), Some(10));
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    #[test]
    fn series_periods_are_clipped_to_the_range() {
        // 2026-11-04 is a Wednesday.
        let weeks = periods(day("2026-11-04"), day("2026-11-20"), Interval::Week).expect("weeks");
        assert_eq!(
            weeks,
            [
                (day("2026-11-04"), day("2026-11-08")),
                (day("2026-11-09"), day("2026-11-15")),
                (day("2026-11-16"), day("2026-11-20")),
            ]
        );
        let months =
            periods(day("2026-11-15"), day("2027-01-10"), Interval::Month).expect("months");
        assert_eq!(
            months,
            [
                (day("2026-11-15"), day("2026-11-30")),
                (day("2026-12-01"), day("2026-12-31")),
                (day("2027-01-01"), day("2027-01-10")),
            ]
        );
        let days = periods(day("2026-02-27"), day("2026-03-01"), Interval::Day).expect("days");
        assert_eq!(days.len(), 3);
        assert_eq!(days[2], (day("2026-03-01"), day("2026-03-01")));
        assert!(periods(day("2026-01-01"), day("2026-12-31"), Interval::Day).is_err());
        assert!(
            periods(day("2026-01-02"), day("2026-01-01"), Interval::Day)
                .expect("empty")
                .is_empty()
        );
    }

    #[test]
    fn rates_without_a_denominator_are_none() {
        assert_eq!(rate(1, 0), None);
        assert_eq!(rate(1, 4), Some(0.25));
    }

    #[test]
    fn placeholders_follow_the_backend() {
        let mut pg = Sql::new(DbBackend::Postgres);
        pg.push("a = ").bind(1i64).push(" AND b = ").bind(2i64);
        assert_eq!(pg.build().sql, "a = $1 AND b = $2");
        let mut lite = Sql::new(DbBackend::Sqlite);
        lite.push("a = ").bind(1i64);
        assert_eq!(lite.build().sql, "a = ?");
    }
}
