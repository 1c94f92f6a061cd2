//! The metrics projection, kept up to date from the events.
//!
//! - `order_metrics`: one row per order with the facts the delivery, return and repeat-purchase
//!   figures are made of (see [`sql::order_facts`]), among them the time of the customer's
//!   previous order and how soon they ordered again.
//! - `metrics_email_days` and `metrics_cancellation_days`: per UTC day of placing and channel,
//!   messages by kind and outcome, and cancellation events by actor and reason.
//!
//! Appending an event about an order lists the order in `metrics_dirty`, in the same transaction
//! (a change to a customer lists all their orders). A pass of the projector recomputes the rows
//! of the listed orders and of their customers' other orders, and the day counts of the days
//! they were placed on, from the source tables; then it removes each entry unless a later event
//! listed the order again meanwhile. Passes run in the background after commits, and
//! `experienceMetrics` runs them before it reads, so it sees every committed event; only while a
//! large backlog is rebuilt (after the upgrade that adds the projection, or a bulk import) does
//! it stop after a while and say how many orders are not in its figures yet.
use std::collections::BTreeSet;
use std::fmt::Write;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use tokio_util::sync::CancellationToken;

use super::sql::{Sql, order_facts, reason_code, total, utc_day};
use crate::db::Store;
use crate::error::ServiceResult;
use crate::lifecycle::Lifecycle;

/// Orders taken per pass transaction: a pass holds the write lock (SQLite) and the projector's
/// lock (PostgreSQL), so it is kept short for the writers and the queries that wait behind it.
const BATCH: usize = 250;

/// How long the background projector lets commits gather before a pass.
const SETTLE: Duration = Duration::from_millis(500);

/// Lists an order as out of date; run in the transaction that appends event `seq` about it.
pub async fn mark_order(conn: &impl ConnectionTrait, order_id: i64, seq: i64) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    let mut sql = Sql::new(b);
    sql.push("INSERT INTO metrics_dirty (order_id, seq) VALUES (")
        .bind(order_id)
        .push(", ")
        .bind(seq)
        .push(") ON CONFLICT (order_id) DO UPDATE SET seq = excluded.seq");
    conn.execute_raw(sql.build()).await?;
    Ok(())
}

/// Lists every order of a customer as out of date (whether the customer is anonymous decides
/// whether their orders count in repeat purchase).
pub async fn mark_customer(
    conn: &impl ConnectionTrait,
    customer_id: i64,
    seq: i64,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("INSERT INTO metrics_dirty (order_id, seq) SELECT id, ")
        .bind(seq)
        .push(" FROM orders WHERE customer_id = ")
        .bind(customer_id)
        .push(" ON CONFLICT (order_id) DO UPDATE SET seq = excluded.seq");
    conn.execute_raw(sql.build()).await?;
    Ok(())
}

/// Brings the projection up to date with every event committed so far, or as far as it gets
/// by `deadline`; returns how many orders are still waiting (0 when up to date).
pub async fn refresh(store: &Store, deadline: Option<Instant>) -> ServiceResult<i64> {
    let b = store.backend();
    loop {
        // Most calls find nothing to do: ask before taking the write lock.
        let waiting = store
            .db
            .query_one_raw(Statement::from_string(
                b,
                "SELECT order_id FROM metrics_dirty LIMIT 1",
            ))
            .await?;
        if waiting.is_none() {
            return Ok(0);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let row = store
                .db
                .query_one_raw(Statement::from_string(
                    b,
                    "SELECT COUNT(*) AS n FROM metrics_dirty",
                ))
                .await?;
            return Ok(match row {
                Some(row) => row.try_get::<i64>("", "n")?,
                None => 0,
            });
        }
        pass(store, BATCH).await?;
    }
}

/// One transaction: recomputes up to `batch` listed orders, earliest placed first (so the day
/// counts of a large backlog are rebuilt about once per day), and removes their entries.
async fn pass(store: &Store, batch: usize) -> ServiceResult<()> {
    let b = store.backend();
    let txn = store.begin_write().await?;
    if b == DbBackend::Postgres {
        // One pass at a time across instances: two passes rebuilding the same day's counts
        // would collide on its keys.
        txn.execute_raw(Statement::from_string(
            b,
            "SELECT pg_advisory_xact_lock(7340001)",
        ))
        .await?;
    }
    // On PostgreSQL the entries are locked here, skipping those a writer holds (that writer's
    // commit lists the order again): a writer that then marks a taken entry waits for this
    // pass, and this pass never waits for a writer.
    let lock = if b == DbBackend::Postgres {
        " FOR UPDATE OF d SKIP LOCKED"
    } else {
        ""
    };
    let mut dirty = Vec::new();
    for row in txn
        .query_all_raw(Statement::from_string(
            b,
            format!(
                "SELECT d.order_id, d.seq FROM metrics_dirty d \
                 LEFT JOIN orders o ON o.id = d.order_id \
                 ORDER BY o.placed_at, d.order_id LIMIT {batch}{lock}"
            ),
        ))
        .await?
    {
        dirty.push((
            row.try_get::<i64>("", "order_id")?,
            row.try_get::<i64>("", "seq")?,
        ));
    }
    if dirty.is_empty() {
        txn.commit().await?;
        return Ok(());
    }
    let ids = list(dirty.iter().map(|(id, _)| *id));
    recompute_orders(&*txn, &ids).await?;
    for day in days_of(&*txn, &ids).await? {
        recompute_day(&*txn, day).await?;
    }
    let pairs = dirty
        .iter()
        .map(|(id, seq)| format!("({id}, {seq})"))
        .collect::<Vec<_>>()
        .join(", ");
    txn.execute_raw(Statement::from_string(
        b,
        format!("DELETE FROM metrics_dirty WHERE (order_id, seq) IN (VALUES {pairs})"),
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Runs passes in the background, shortly after commits, until the server stops.
pub fn start(store: Store, lifecycle: &Lifecycle) {
    let stopping = lifecycle.stopping.clone();
    lifecycle.spawn(crate::db::in_background(run(store, stopping)));
}

async fn run(store: Store, stopping: CancellationToken) {
    let mut commits = store.commits();
    loop {
        if let Err(e) = refresh(&store, None).await {
            tracing::warn!(error = %e, "the metrics projection could not be brought up to date");
        }
        tokio::select! {
            _ = stopping.cancelled() => return,
            changed = commits.changed() => if changed.is_err() { return },
        }
        tokio::select! {
            _ = stopping.cancelled() => return,
            _ = tokio::time::sleep(SETTLE) => {}
        }
    }
}

/// A comma-separated list of ids for `IN (…)` (integers, so written out rather than bound).
fn list(ids: impl Iterator<Item = i64>) -> String {
    let mut out = String::new();
    for (i, id) in ids.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{id}");
    }
    out
}

/// Rewrites the rows of the orders `ids` and of every other order of their customers.
async fn recompute_orders(conn: &impl ConnectionTrait, ids: &str) -> ServiceResult<()> {
    let b = conn.get_database_backend();
    let affected = format!(
        "SELECT o.id FROM orders o WHERE o.id IN ({ids}) OR o.customer_id IN \
         (SELECT customer_id FROM orders WHERE id IN ({ids}) AND customer_id IS NOT NULL)"
    );
    conn.execute_raw(Statement::from_string(
        b,
        format!("DELETE FROM order_metrics WHERE order_id IN ({affected})"),
    ))
    .await?;
    conn.execute_raw(Statement::from_string(
        b,
        format!(
            "INSERT INTO order_metrics (order_id, customer_id, channel, placed_at, \
             promised_date, cancelled, live, late, flagged, returns, cross_channel_returns, told, \
             prev_placed_at, repeat_within) \
             SELECT o.id, CASE WHEN cu.email IS NOT NULL OR EXISTS (SELECT 1 FROM \
             customer_identities ci WHERE ci.customer_id = cu.id) THEN o.customer_id END, \
             o.channel, o.placed_at, o.promised_date, \
             CASE WHEN o.status = 'CANCELLED' THEN 1 ELSE 0 END, {facts} \
             FROM orders o LEFT JOIN customers cu ON cu.id = o.customer_id \
             WHERE o.id IN ({affected})",
            facts = order_facts(b),
        ),
    ))
    .await?;
    Ok(())
}

/// The UTC days the orders `ids` were placed on.
async fn days_of(conn: &impl ConnectionTrait, ids: &str) -> ServiceResult<BTreeSet<NaiveDate>> {
    let b = conn.get_database_backend();
    let day = utc_day(b, "o.placed_at");
    let mut days = BTreeSet::new();
    for row in conn
        .query_all_raw(Statement::from_string(
            b,
            format!(
                "SELECT DISTINCT CAST({day} AS TEXT) AS day FROM orders o WHERE o.id IN ({ids})"
            ),
        ))
        .await?
    {
        let text: String = row.try_get("", "day")?;
        days.insert(text.parse().map_err(|e| {
            crate::error::ServiceError::Internal(format!("a day of placing `{text}`: {e}"))
        })?);
    }
    Ok(days)
}

/// Rewrites the message and cancellation counts of the orders placed on `day`.
async fn recompute_day(conn: &impl ConnectionTrait, day: NaiveDate) -> ServiceResult<()> {
    let b = conn.get_database_backend();
    let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = day
        .checked_add_days(Days::new(1))
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .unwrap_or(start);
    for table in ["metrics_email_days", "metrics_cancellation_days"] {
        let mut sql = Sql::new(b);
        sql.push(&format!("DELETE FROM {table} WHERE day = "))
            .bind(day);
        conn.execute_raw(sql.build()).await?;
    }
    let mut emails = Sql::new(b);
    emails
        .push("INSERT INTO metrics_email_days (day, channel, kind, sent, failed, opened) SELECT ")
        .bind(day)
        .push(&format!(
            ", o.channel, c.kind, {sent}, {failed}, {opened} FROM orders o \
             JOIN communications c ON c.order_id = o.id WHERE o.placed_at >= ",
            sent = total("CASE WHEN c.status = 'SENT' THEN 1 ELSE 0 END"),
            failed = total("CASE WHEN c.status = 'FAILED' THEN 1 ELSE 0 END"),
            opened =
                total("CASE WHEN c.status = 'SENT' AND c.opened_at IS NOT NULL THEN 1 ELSE 0 END"),
        ))
        .bind(start)
        .push(" AND o.placed_at < ")
        .bind(end)
        .push(" GROUP BY o.channel, c.kind");
    conn.execute_raw(emails.build()).await?;
    let reason = format!(
        "COALESCE({}, 'CUSTOMER_REQUEST')",
        reason_code(b, "e.payload")
    );
    let mut cancellations = Sql::new(b);
    cancellations
        .push("INSERT INTO metrics_cancellation_days (day, channel, actor, reason, n) SELECT ")
        .bind(day)
        .push(&format!(
            ", o.channel, e.actor_role, {reason}, COUNT(*) FROM orders o \
             JOIN events e ON e.order_id = o.id \
             WHERE e.kind IN ('ORDER_CANCELLED', 'LINES_CANCELLED') AND o.placed_at >= "
        ))
        .bind(start)
        .push(" AND o.placed_at < ")
        .bind(end)
        .push(&format!(" GROUP BY o.channel, e.actor_role, {reason}"));
    conn.execute_raw(cancellations.build()).await?;
    Ok(())
}
