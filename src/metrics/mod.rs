//! Experience metrics: how orders placed in a range of days fared, overall and per channel.
//! Aggregates only: nothing here names a customer.
//!
//! Every figure is about the orders placed in the range (UTC days, both ends included; an order
//! belongs to the day it was placed), and is computed by a few set-based statements over the
//! projection the events keep up to date ([`projection`]), whose per-channel results are added
//! up here.
pub mod projection;
pub mod sql;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};

use crate::auth::{Principal, Role};
use crate::db::Store;
use crate::error::{ServiceError, ServiceResult};
use crate::orders::Channel;
use sql::{Sql, judged, total, utc_day};

/// The windows the repeat-purchase figures count in, in days after the first order.
pub const REPEAT_WINDOWS: [u32; 3] = [30, 60, 90];

/// How long a query brings the projection up to date before it reads. Enough for any backlog
/// but the rebuild of a large history, which goes on in the background meanwhile.
pub const CATCH_UP: Duration = Duration::from_secs(2);

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
    /// Orders whose latest events the figures do not include yet (see [`CATCH_UP`]).
    pub orders_pending: i64,
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
        from: query.from,
        to: query.to,
        start,
        end,
        channel: query.channel,
        today: Utc::now().date_naive(),
    };
    let orders_pending = projection::refresh(store, Some(Instant::now() + CATCH_UP)).await?;
    let txn = store.read_snapshot().await?;
    let mut channels: BTreeMap<String, Figures> = BTreeMap::new();
    orders(&txn, &range, &mut channels).await?;
    cancellations(&txn, &range, &mut channels).await?;
    substitutions(&txn, &range, &mut channels).await?;
    refunds(&txn, &range, &mut channels).await?;
    emails(&txn, &range, &mut channels).await?;
    txn.commit().await?;

    let mut answer = ExperienceMetrics {
        orders_pending,
        ..Default::default()
    };
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
    from: NaiveDate,
    to: NaiveDate,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    channel: Option<Channel>,
    today: NaiveDate,
}

impl Range {
    /// `{alias}.placed_at` in the range (and `{alias}.channel` the channel asked for).
    fn filter(&self, sql: &mut Sql, alias: &str) {
        sql.push(&format!("{alias}.placed_at >= "))
            .bind(self.start)
            .push(&format!(" AND {alias}.placed_at < "))
            .bind(self.end);
        self.channel_filter(sql, alias);
    }

    /// The days of the range (for the per-day counts, aliased `{alias}`), and the channel.
    fn day_filter(&self, sql: &mut Sql, alias: &str) {
        sql.push(&format!("{alias}.day >= "))
            .bind(self.from)
            .push(&format!(" AND {alias}.day <= "))
            .bind(self.to);
        self.channel_filter(sql, alias);
    }

    fn channel_filter(&self, sql: &mut Sql, alias: &str) {
        if let Some(channel) = self.channel {
            sql.push(&format!(" AND {alias}.channel = "))
                .bind(channel.as_str());
        }
    }
}

type Channels = BTreeMap<String, Figures>;

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> ServiceResult<T> {
    Ok(row.try_get::<T>("", column)?)
}

fn flag(row: &QueryResult, column: &str) -> ServiceResult<bool> {
    Ok(get::<i32>(row, column)? == 1)
}

async fn rows(txn: &DatabaseTransaction, sql: &Sql) -> ServiceResult<Vec<QueryResult>> {
    Ok(txn.query_all_raw(sql.build()).await?)
}

/// Orders placed, shipments per order, on-time and proactive figures, orders cancelled, returns
/// and repeat purchase: one pass over the orders' projected facts, grouped by channel and by
/// the experience segments of repeat purchase.
///
/// Repeat purchase: each customer (not an anonymous walk-in sale) counts once, in the channel of
/// their first order in the range (the one with no earlier order of theirs in the range),
/// segmented by how that order fared; they repeated within N days when they placed another
/// order (in any channel) at most N days after it.
async fn orders(txn: &DatabaseTransaction, range: &Range, out: &mut Channels) -> ServiceResult<()> {
    let mut sql = Sql::new(txn.get_database_backend());
    let repeated: Vec<String> = REPEAT_WINDOWS
        .iter()
        .map(|days| {
            format!(
                "{} AS r{days}",
                total(&format!(
                    "CASE WHEN y.repeat_within <= {days} THEN 1 ELSE 0 END"
                ))
            )
        })
        .collect();
    sql.push(&format!(
        "SELECT y.channel, y.judged, y.delayed, y.told, y.returned, y.first_order, \
         COUNT(*) AS orders, {shipped} AS shipped, {single} AS single, \
         {shipments} AS shipments, {cancelled} AS cancelled, {returns} AS returns, \
         {cross} AS cross_channel, {repeated} \
         FROM (SELECT x.channel, x.live, x.cancelled, x.returns, x.cross_channel_returns, x.told, \
         x.repeat_within, CASE WHEN x.returns > 0 THEN 1 ELSE 0 END AS returned, \
         CASE WHEN x.late > 0 THEN 1 ELSE 0 END AS delayed, CASE WHEN ",
        shipped = total("CASE WHEN y.live > 0 THEN 1 ELSE 0 END"),
        single = total("CASE WHEN y.live = 1 THEN 1 ELSE 0 END"),
        shipments = total("y.live"),
        cancelled = total("y.cancelled"),
        returns = total("y.returns"),
        cross = total("y.cross_channel_returns"),
        repeated = repeated.join(", "),
    ));
    judged(&mut sql, range.today);
    sql.push(
        " THEN 1 ELSE 0 END AS judged, CASE WHEN x.customer_id IS NOT NULL \
         AND (x.prev_placed_at IS NULL OR x.prev_placed_at < ",
    )
    .bind(range.start)
    .push(") THEN 1 ELSE 0 END AS first_order FROM order_metrics x WHERE ");
    range.filter(&mut sql, "x");
    sql.push(") y GROUP BY y.channel, y.judged, y.delayed, y.told, y.returned, y.first_order");
    for row in rows(txn, &sql).await? {
        let f = out.entry(get::<String>(&row, "channel")?).or_default();
        let orders: i64 = get(&row, "orders")?;
        let judged = flag(&row, "judged")?;
        let delayed = judged && flag(&row, "delayed")?;
        let told = flag(&row, "told")?;
        let returned = flag(&row, "returned")?;
        f.orders_placed += orders;
        f.orders_shipped += get::<i64>(&row, "shipped")?;
        f.single_shipment_orders += get::<i64>(&row, "single")?;
        f.shipments += get::<i64>(&row, "shipments")?;
        f.orders_cancelled += get::<i64>(&row, "cancelled")?;
        f.returns += get::<i64>(&row, "returns")?;
        f.cross_channel_returns += get::<i64>(&row, "cross_channel")?;
        if judged {
            f.judged += orders;
            if !delayed {
                f.on_time += orders;
            } else if told {
                f.delayed_told += orders;
            }
        }
        if returned {
            f.orders_returned += orders;
        }
        if !flag(&row, "first_order")? {
            continue;
        }
        let counts = RepeatCounts {
            customers: orders,
            repeated: [get(&row, "r30")?, get(&row, "r60")?, get(&row, "r90")?],
        };
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

/// Cancellation events (whole orders and lines) by who cancelled and why, from the day counts.
async fn cancellations(
    txn: &DatabaseTransaction,
    range: &Range,
    out: &mut Channels,
) -> ServiceResult<()> {
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push(&format!(
        "SELECT d.channel, d.actor, d.reason, {n} AS n FROM metrics_cancellation_days d WHERE ",
        n = total("d.n")
    ));
    range.day_filter(&mut sql, "d");
    sql.push(" GROUP BY d.channel, d.actor, d.reason");
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

/// Substitutions proposed on the orders, by status. (Few orders have one: the substitutions
/// lead, hence the cross join, which fixes the join order on SQLite.)
async fn substitutions(
    txn: &DatabaseTransaction,
    range: &Range,
    out: &mut Channels,
) -> ServiceResult<()> {
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push(
        "SELECT o.channel, s.status, COUNT(*) AS n FROM substitutions s \
         CROSS JOIN orders o WHERE o.id = s.order_id AND ",
    );
    range.filter(&mut sql, "o");
    sql.push(" GROUP BY o.channel, s.status");
    for row in rows(txn, &sql).await? {
        let f = out.entry(get::<String>(&row, "channel")?).or_default();
        f.substitutions
            .insert(get::<String>(&row, "status")?, get::<i64>(&row, "n")?);
    }
    Ok(())
}

/// The refunds issued for returns of the orders: their times, for the percentiles. (The
/// returns lead, as for substitutions.)
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
         FROM returns r CROSS JOIN orders o \
         WHERE o.id = r.order_id AND r.refund_issued_at IS NOT NULL AND "
    ));
    range.filter(&mut sql, "o");
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
            by_expected: flag(&row, "by_expected")?,
        });
    }
    Ok(())
}

/// Emails about the orders, by kind: sent, failed and opened, from the day counts.
async fn emails(txn: &DatabaseTransaction, range: &Range, out: &mut Channels) -> ServiceResult<()> {
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push(&format!(
        "SELECT d.channel, d.kind, {sent} AS sent, {failed} AS failed, {opened} AS opened \
         FROM metrics_email_days d WHERE ",
        sent = total("d.sent"),
        failed = total("d.failed"),
        opened = total("d.opened"),
    ));
    range.day_filter(&mut sql, "d");
    sql.push(" GROUP BY d.channel, d.kind");
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
