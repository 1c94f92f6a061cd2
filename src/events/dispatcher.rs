//! The event dispatcher: tails `events` by sequence with a durable cursor and feeds the bus.
//!
//! On PostgreSQL sequence values can commit out of order, so a sequence skipped over is kept as
//! a gap and looked for again for a while; a late commit is then still dispatched.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use tokio_util::sync::CancellationToken;

use super::bus::{Bus, LiveEvent};
use crate::db::Store;
use crate::db::entities::{allocation, dispatcher_cursor, event, order, stock_level};
use crate::inventory::StockView;
use crate::lifecycle::Lifecycle;
use crate::telemetry::Metrics;

const CURSOR: &str = "events";
const BATCH: u64 = 500;
/// How long a skipped sequence number is looked for before it is taken as rolled back.
const GAP_PATIENCE: Duration = Duration::from_secs(30);
const MAX_GAPS: usize = 10_000;
const PERSIST_EVERY: Duration = Duration::from_millis(500);

pub struct Dispatcher {
    store: Store,
    bus: Bus,
    metrics: Arc<Metrics>,
    poll: Duration,
    cursor: i64,
    gaps: BTreeMap<i64, Instant>,
    persisted: i64,
    persisted_at: Instant,
}

impl Dispatcher {
    /// Starts from the stored cursor, so a restart resumes where the last run stopped.
    pub async fn start(
        store: Store,
        bus: Bus,
        metrics: Arc<Metrics>,
        poll: Duration,
        lifecycle: &Lifecycle,
    ) -> Result<(), DbErr> {
        let cursor = dispatcher_cursor::Entity::find_by_id(CURSOR.to_owned())
            .one(&store.db)
            .await?
            .map(|c| c.position)
            .unwrap_or(0);
        if store.backend() == DbBackend::Postgres {
            spawn_listener(store.clone()).await?;
        }
        let dispatcher = Dispatcher {
            store,
            bus,
            metrics,
            poll,
            cursor,
            gaps: BTreeMap::new(),
            persisted: cursor,
            persisted_at: Instant::now(),
        };
        lifecycle.spawn_last(dispatcher.run(lifecycle.finishing.clone()));
        Ok(())
    }

    /// Dispatches until `stopping`; then dispatches what has committed and stores the cursor.
    async fn run(mut self, stopping: CancellationToken) {
        let mut commits = self.store.commits();
        loop {
            tokio::select! {
                _ = commits.changed() => {}
                _ = tokio::time::sleep(self.poll) => {}
                _ = stopping.cancelled() => {}
            }
            loop {
                match self.dispatch_batch().await {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, "event dispatch failed; retrying");
                        tokio::time::sleep(self.poll).await;
                        break;
                    }
                }
            }
            let last = stopping.is_cancelled();
            if let Err(e) = self.persist_cursor(last).await {
                tracing::warn!(error = %e, "could not store the dispatcher cursor");
            }
            if last {
                tracing::info!(cursor = self.cursor, "dispatcher stopped");
                return;
            }
        }
    }

    /// Reads and publishes the next events; returns how many.
    async fn dispatch_batch(&mut self) -> Result<usize, DbErr> {
        let now = Instant::now();
        self.gaps
            .retain(|_, seen| now.duration_since(*seen) < GAP_PATIENCE);
        let mut condition = Condition::any().add(event::Column::Seq.gt(self.cursor));
        if !self.gaps.is_empty() {
            condition = condition
                .add(event::Column::Seq.is_in(self.gaps.keys().copied().collect::<Vec<_>>()));
        }
        let rows = event::Entity::find()
            .filter(condition)
            .order_by_asc(event::Column::Seq)
            .limit(BATCH)
            .all(&self.store.db)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let live = self.preload(rows).await?;
        let count = live.len();
        for item in live {
            let seq = item.event.seq;
            if seq > self.cursor {
                for missing in (self.cursor + 1)..seq {
                    if self.gaps.len() < MAX_GAPS {
                        self.gaps.insert(missing, Instant::now());
                    }
                }
                self.cursor = seq;
            } else {
                self.gaps.remove(&seq);
            }
            let lag = (Utc::now() - item.event.recorded_at)
                .num_microseconds()
                .unwrap_or(0) as f64
                / 1e6;
            self.metrics.dispatcher_lag.set(lag.max(0.0));
            self.metrics.events_dispatched.inc();
            self.bus.publish(Arc::new(item));
        }
        Ok(count)
    }

    /// Loads each event's order and changed stock once for every subscriber.
    async fn preload(&self, rows: Vec<event::Model>) -> Result<Vec<LiveEvent>, DbErr> {
        let order_ids: BTreeSet<i64> = rows.iter().filter_map(|e| e.order_id).collect();
        let orders: HashMap<i64, order::Model> = if order_ids.is_empty() {
            HashMap::new()
        } else {
            order::Entity::find()
                .filter(order::Column::Id.is_in(order_ids.iter().copied()))
                .all(&self.store.db)
                .await?
                .into_iter()
                .map(|o| (o.id, o))
                .collect()
        };
        // Orders placed in this batch changed the stock they reserved.
        let placed: Vec<i64> = rows
            .iter()
            .filter(|e| e.kind == "ORDER_PLACED")
            .filter_map(|e| e.order_id)
            .collect();
        let mut reserved_by_order: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
        let mut stock: HashMap<(i64, String), StockView> = HashMap::new();
        if !placed.is_empty() {
            let allocations = allocation::Entity::find()
                .filter(allocation::Column::OrderId.is_in(placed))
                .all(&self.store.db)
                .await?;
            let mut keys = Condition::any();
            for a in &allocations {
                reserved_by_order
                    .entry(a.order_id)
                    .or_default()
                    .push((a.location_id, a.sku.clone()));
                keys = keys.add(
                    Condition::all()
                        .add(stock_level::Column::LocationId.eq(a.location_id))
                        .add(stock_level::Column::Sku.eq(a.sku.clone())),
                );
            }
            if !allocations.is_empty() {
                for row in stock_level::Entity::find()
                    .filter(keys)
                    .all(&self.store.db)
                    .await?
                {
                    stock.insert(
                        (row.location_id, row.sku.clone()),
                        StockView {
                            location_id: row.location_id,
                            sku: row.sku,
                            on_hand: row.on_hand,
                            reserved: row.reserved,
                        },
                    );
                }
            }
        }
        Ok(rows
            .into_iter()
            .map(|event| {
                let mut changed: Vec<StockView> = crate::timeline::stock_snapshot(&event)
                    .into_iter()
                    .collect();
                if event.kind == "ORDER_PLACED"
                    && let Some(keys) = event.order_id.and_then(|id| reserved_by_order.get(&id))
                {
                    changed.extend(keys.iter().filter_map(|k| stock.get(k).cloned()));
                }
                LiveEvent {
                    order: event.order_id.and_then(|id| orders.get(&id).cloned()),
                    stock: changed,
                    event,
                }
            })
            .collect())
    }

    async fn persist_cursor(&mut self, force: bool) -> Result<(), DbErr> {
        if self.cursor == self.persisted || (!force && self.persisted_at.elapsed() < PERSIST_EVERY)
        {
            return Ok(());
        }
        // The durable cursor never moves back, whichever instance writes it.
        let lowest_open_gap = self
            .gaps
            .keys()
            .next()
            .copied()
            .map(|g| g - 1)
            .unwrap_or(self.cursor);
        let position = std::cmp::min(lowest_open_gap, self.cursor);
        let updated = dispatcher_cursor::Entity::update_many()
            .col_expr(dispatcher_cursor::Column::Position, Expr::value(position))
            .col_expr(
                dispatcher_cursor::Column::UpdatedAt,
                Expr::value(Utc::now()),
            )
            .filter(dispatcher_cursor::Column::Name.eq(CURSOR))
            .filter(Expr::col(dispatcher_cursor::Column::Position).lt(position))
            .exec(&self.store.db)
            .await?;
        if updated.rows_affected == 0 {
            let exists = dispatcher_cursor::Entity::find_by_id(CURSOR.to_owned())
                .one(&self.store.db)
                .await?
                .is_some();
            if !exists {
                let row = dispatcher_cursor::ActiveModel {
                    name: Set(CURSOR.to_owned()),
                    position: Set(position),
                    updated_at: Set(Utc::now()),
                };
                if let Err(e) = row.insert(&self.store.db).await
                    && !crate::error::is_unique_violation(&e)
                {
                    return Err(e);
                }
            }
        }
        self.persisted = self.cursor;
        self.persisted_at = Instant::now();
        Ok(())
    }
}

/// Wakes this instance's dispatcher when any instance commits an event.
async fn spawn_listener(store: Store) -> Result<(), DbErr> {
    use sea_orm::sqlx::postgres::PgListener;
    let pool = store.db.get_postgres_connection_pool().clone();
    let mut listener = PgListener::connect_with(&pool)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    listener
        .listen(super::CHANNEL)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(_) => store.wake(),
                Err(e) => {
                    // PgListener reconnects on the next recv; the poll covers the meantime.
                    tracing::warn!(error = %e, "event notification listener interrupted");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(())
}
