//! The store: one connection pool, migrations, and write transactions.
pub mod entities;

use std::sync::Arc;
use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use prometheus_client::metrics::counter::Counter;
use sea_orm::sea_query::Expr;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, FromQueryResult, IsolationLevel,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, Select,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use crate::paging::{Page, PageRequest};

/// How long a readiness check waits for the database.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

tokio::task_local! {
    /// Set in background workers (the email outbox), whose statements are not requests'.
    static BACKGROUND: ();
}

/// Runs a background worker: its statements are left out of the request statement count.
pub async fn in_background<F: std::future::Future>(work: F) -> F::Output {
    BACKGROUND.scope((), work).await
}

/// The database handle every service uses.
#[derive(Clone)]
pub struct Store {
    pub db: DatabaseConnection,
    /// SQLite allows one writer at a time: writers queue here instead of spinning on SQLITE_BUSY.
    write_gate: Option<Arc<Mutex<()>>>,
    /// Counts commits, so the event dispatcher and the email workers read new rows at once.
    committed: Arc<watch::Sender<u64>>,
}

/// A write transaction; dropping it without `commit` rolls it back.
pub struct WriteTx {
    txn: DatabaseTransaction,
    _gate: Option<OwnedMutexGuard<()>>,
    committed: Arc<watch::Sender<u64>>,
}

impl std::ops::Deref for WriteTx {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await?;
        self.committed.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }
}

/// What counts the SQL statements a store runs, for /metrics: those of requests, and those of
/// background work (event dispatch, the email outbox) on their own.
#[derive(Clone, Default)]
pub struct StatementCounters {
    pub requests: Counter,
    pub background: Counter,
}

impl Store {
    /// Connects (creating an SQLite file when the URL asks for it) and applies every migration.
    /// `statements` counts every SQL statement run, for /metrics.
    pub async fn connect(url: &str, statements: StatementCounters) -> Result<Store, DbErr> {
        Self::connect_pooled(url, statements, None).await
    }

    /// [`Store::connect`] with at most `pool_size` connections (unset: 8 for SQLite, 16 for
    /// PostgreSQL).
    pub async fn connect_pooled(
        url: &str,
        statements: StatementCounters,
        pool_size: Option<u32>,
    ) -> Result<Store, DbErr> {
        Self::connect_with(url, statements, pool_size, false).await
    }

    /// [`Store::connect`] for a one-off bulk load (`demo-history`) into a database nothing else
    /// writes meanwhile: on SQLite this process's connections do not wait for the disk (after a crash
    /// of the machine the database may be damaged: the load is started again on a fresh one)
    /// and keep a larger page cache. The settings last as long as the connections; the server's own are the usual.
    pub async fn connect_for_bulk_load(
        url: &str,
        statements: StatementCounters,
    ) -> Result<Store, DbErr> {
        Self::connect_with(url, statements, None, true).await
    }

    async fn connect_with(
        url: &str,
        statements: StatementCounters,
        pool_size: Option<u32>,
        bulk: bool,
    ) -> Result<Store, DbErr> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30));
        let sqlite = url.starts_with("sqlite:");
        if sqlite {
            // A file, not a network peer: a pooled connection cannot have gone stale, so taking
            // one from the pool needs no ping (which would double every statement's round trip
            // to SQLite's worker thread).
            options
                .max_connections(pool_size.unwrap_or(8))
                .min_connections(1)
                .test_before_acquire(false)
                .map_sqlx_sqlite_opts(move |o| {
                    let o = o
                        .journal_mode(SqliteJournalMode::Wal)
                        .busy_timeout(Duration::from_secs(30))
                        .foreign_keys(true);
                    if bulk {
                        o.synchronous(SqliteSynchronous::Off)
                            .pragma("cache_size", "-65536")
                    } else {
                        o.synchronous(SqliteSynchronous::Normal)
                    }
                });
        } else {
            options
                .max_connections(pool_size.unwrap_or(16))
                .min_connections(1);
        }
        let mut db = Database::connect(options).await?;
        db.set_metric_callback(move |m| {
            if BACKGROUND.try_with(|_| ()).is_err() {
                // RUST_LOG=touchpoint::sql=trace lists the statements requests run.
                tracing::trace!(target: "touchpoint::sql", sql = %m.statement.sql);
                statements.requests.inc();
            } else {
                statements.background.inc();
            }
        });
        Migrator::up(&db, None).await?;
        Ok(Store {
            db,
            write_gate: sqlite.then(|| Arc::new(Mutex::new(()))),
            committed: Arc::new(watch::channel(0).0),
        })
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Starts the one transaction a command runs in.
    pub async fn begin_write(&self) -> Result<WriteTx, DbErr> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                isolation_level: None,
                access_mode: None,
                sqlite_transaction_mode: gate.as_ref().map(|_| SqliteTransactionMode::Immediate),
            })
            .await?;
        Ok(WriteTx {
            txn,
            _gate: gate,
            committed: self.committed.clone(),
        })
    }

    /// A read-only transaction whose reads all see one snapshot, so a count and the page it
    /// counts agree while others write.
    pub async fn read_snapshot(&self) -> Result<DatabaseTransaction, DbErr> {
        let postgres = self.backend() == DbBackend::Postgres;
        self.db
            .begin_with_options(TransactionOptions {
                isolation_level: postgres.then_some(IsolationLevel::RepeatableRead),
                access_mode: postgres.then_some(AccessMode::ReadOnly),
                sqlite_transaction_mode: None,
            })
            .await
    }

    /// A receiver that sees every later commit: `changed()` resolves after the next one (or at
    /// once if one happened since it last looked).
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Tells every commit watcher of a commit seen through another channel.
    pub fn wake(&self) {
        self.committed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether the database answers, within `PING_TIMEOUT`: while it is down, taking a
    /// connection waits (and retries) for as long as the pool's acquire timeout, far longer than
    /// a readiness probe waits.
    pub async fn ping(&self) -> Result<(), DbErr> {
        match tokio::time::timeout(PING_TIMEOUT, self.db.ping()).await {
            Ok(answer) => answer,
            Err(_) => Err(DbErr::Custom(format!(
                "the database did not answer within {PING_TIMEOUT:?}"
            ))),
        }
    }
}

/// Groups rows by a key (a parent id), keeping their order: what a one-to-many loader returns.
pub fn group_by<T>(
    rows: Vec<T>,
    key: impl Fn(&T) -> i64,
) -> std::collections::HashMap<i64, Vec<T>> {
    let mut map: std::collections::HashMap<i64, Vec<T>> = std::collections::HashMap::new();
    for row in rows {
        map.entry(key(&row)).or_default().push(row);
    }
    map
}

/// A row with the count of every row its query matches, read in the same statement.
struct Counted<M> {
    row: M,
    total: i64,
}

impl<M: FromQueryResult> FromQueryResult for Counted<M> {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Counted {
            row: M::from_query_result(res, pre)?,
            total: res.try_get(pre, "matching_rows")?,
        })
    }
}

/// A page of `query`'s rows, highest `key` first, below the page's cursor, with the number of
/// all the rows `query` matches: one statement, so the count and the page agree and a
/// connection's `totalCount` costs no round trip of its own. (A page past the last row has no
/// row to carry the count; that case counts on its own.)
pub async fn newest_first<E>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    key: E::Column,
    key_of: impl Fn(&E::Model) -> i64,
    page: PageRequest,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
{
    let count = query
        .clone()
        .select_only()
        .expr(Expr::cust("COUNT(*)"))
        .into_query();
    let mut rows_query = query.clone();
    if let Some(before) = page.before_key {
        rows_query = rows_query.filter(key.lt(before));
    }
    let rows: Vec<Counted<E::Model>> = rows_query
        .column_as(
            Expr::SubQuery(None, Box::new(count.into())),
            "matching_rows",
        )
        .order_by_desc(key)
        .limit(page.size + 1)
        .into_model::<Counted<E::Model>>()
        .all(db)
        .await?;
    let total = match rows.first() {
        Some(first) => u64::try_from(first.total).unwrap_or_default(),
        None if page.before_key.is_none() => 0,
        None => query.count(db).await?,
    };
    Ok(Page::from_rows(
        rows.into_iter().map(|c| (key_of(&c.row), c.row)).collect(),
        page,
        total,
    ))
}

/// A database URL: `admin_url` with its database name replaced by `name` (the query string kept).
pub fn with_database_name(admin_url: &str, name: &str) -> String {
    let scheme_end = admin_url.find("://").map(|i| i + 3).unwrap_or(0);
    let (base, query) = match admin_url.find('?') {
        Some(i) => (&admin_url[..i], &admin_url[i..]),
        None => (admin_url, ""),
    };
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}
