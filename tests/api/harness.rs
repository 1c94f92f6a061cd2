//! The test server: one `App` per test on port 0 with its own database, plus tokens per role,
//! a GraphQL client and the assertions every suite uses.

use std::io::Write as _;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use touchpoint::auth::{Role, mint_token};
use touchpoint::config::Config;

pub const POSTGRES_URL_ENV: &str = "TOUCHPOINT_TEST_POSTGRES_URL";

/// A running server with its own database. Dropping it stops the server and deletes the database.
pub struct TestApp {
    pub base_url: String,
    pub jwt_secret: String,
    /// The URL this test's database is reached at (SQLite file or PostgreSQL database), so a
    /// test can start more server processes on the same data.
    database_url: String,
    pub client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    db: TestDb,
    /// This test's share of the machine; see `quietly`. None for a second app of one test.
    share: std::sync::Mutex<Option<tokio::sync::OwnedRwLockReadGuard<()>>>,
}

/// Tests run side by side holding a read share; `TestApp::quietly` takes the write side so a
/// measurement sees no other test's load.
static MACHINE: std::sync::LazyLock<std::sync::Arc<tokio::sync::RwLock<()>>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::RwLock::new(())));

enum TestDb {
    /// Kept alive so the SQLite file outlives the server.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another test app's database; that app owns (and drops) it.
    Shared,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with `Config::for_tests`, adjusted by `tweak` (shorter intervals, other limits...).
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let share = MACHINE.clone().read_owned().await;
        let app = Self::start(tweak).await;
        *app.share.lock().unwrap_or_else(|e| e.into_inner()) = Some(share);
        app
    }

    /// A second, independent server (and database) for the same test. It takes no share of
    /// its own: taking a second one could wait forever behind a queued `quietly`.
    pub async fn spawn_another(&self) -> TestApp {
        Self::start(|_| {}).await
    }

    /// A second server on this test's database (another instance of the same deployment),
    /// with `Config::for_tests` adjusted by `tweak`. Declare it after `self` so it stops first;
    /// the database stays `self`'s. Like `spawn_another`, it takes no share of its own.
    pub async fn spawn_sharing(&self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::start_on(Some(self.database_url.clone()), tweak).await
    }

    /// Runs `measurement` while no other test of this process runs: waits for the running ones
    /// to finish and holds new ones back until it is done.
    pub async fn quietly<T>(&self, measurement: impl std::future::Future<Output = T>) -> T {
        let own = self.share.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(own);
        let exclusive = MACHINE.clone().write_owned().await;
        let result = measurement.await;
        drop(exclusive);
        let share = MACHINE.clone().read_owned().await;
        *self.share.lock().unwrap_or_else(|e| e.into_inner()) = Some(share);
        result
    }

    async fn start(tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::start_on(None, tweak).await
    }

    /// Starts a server on `shared` (another app's database) or on a fresh database.
    async fn start_on(shared: Option<String>, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let (database_url, db) = if let Some(url) = shared {
            (url, TestDb::Shared)
        } else if let Some(admin_url) = postgres_admin_url() {
            let name = create_postgres_database(&admin_url).await;
            (
                touchpoint::db::with_database_name(&admin_url, &name),
                TestDb::Postgres { admin_url, name },
            )
        } else {
            note_sqlite_only();
            let dir = tempfile::TempDir::new().expect("create a temporary directory");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("touchpoint.db").display()
            );
            (url, TestDb::Sqlite(dir))
        };

        let mut config = Config::for_tests(database_url.clone());
        tweak(&mut config);
        let jwt_secret = config.jwt_secret.clone();
        let app = touchpoint::App::build(config)
            .await
            .unwrap_or_else(|e| panic!("App::build failed: {e:?}"));
        let addr = app.local_addr();
        let server = tokio::spawn(async move {
            if let Err(e) = app.run().await {
                panic!("server stopped with an error: {e}");
            }
        });

        TestApp {
            base_url: format!("http://{addr}"),
            jwt_secret,
            database_url,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("build the HTTP client"),
            server,
            db,
            share: std::sync::Mutex::new(None),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// This test's database URL (for a second server process on the same data).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Whether this test runs on PostgreSQL (TOUCHPOINT_TEST_POSTGRES_URL set).
    pub fn is_postgres(&self) -> bool {
        match self.db {
            TestDb::Postgres { .. } => true,
            TestDb::Sqlite(_) => false,
            TestDb::Shared => self.database_url.starts_with("postgres"),
        }
    }

    // ------------------------------------------------------------------ GraphQL

    /// POST /graphql; returns the whole response body (data and errors).
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.gql_body(token, json!({ "query": query, "variables": variables }))
            .await
    }

    /// POST /graphql with a body of your own (operationName, extensions...).
    pub async fn gql_body(&self, token: Option<&str>, body: Value) -> Value {
        let mut request = self.client.post(self.url("/graphql")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST /graphql");
        let status = response.status();
        let text = response.text().await.expect("read the response body");
        serde_json::from_str(&text).unwrap_or_else(|_| {
            panic!("POST /graphql answered {status} with a body that is not JSON:\n{text}")
        })
    }

    /// POST /graphql to another server (a second process on this test's database).
    pub async fn gql_at(
        &self,
        base_url: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let mut request = self
            .client
            .post(format!("{base_url}/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {base_url}/graphql: {e}"));
        let status = response.status();
        let text = response.text().await.expect("read the response body");
        serde_json::from_str(&text).unwrap_or_else(|_| {
            panic!(
                "POST {base_url}/graphql answered {status} with a body that is not JSON:\n{text}"
            )
        })
    }

    pub async fn anon(&self, query: &str, variables: Value) -> Value {
        self.gql(None, query, variables).await
    }

    pub async fn as_agent(&self, query: &str, variables: Value) -> Value {
        self.gql(Some(&self.agent_token()), query, variables).await
    }

    pub async fn as_service(&self, query: &str, variables: Value) -> Value {
        self.gql(Some(&self.service_token()), query, variables)
            .await
    }

    pub async fn as_marketing(&self, query: &str, variables: Value) -> Value {
        self.gql(Some(&self.marketing_token()), query, variables)
            .await
    }

    pub async fn as_admin(&self, query: &str, variables: Value) -> Value {
        self.gql(Some(&self.admin_token()), query, variables).await
    }

    pub async fn as_customer(&self, customer_id: &str, query: &str, variables: Value) -> Value {
        self.gql(Some(&self.customer_token(customer_id)), query, variables)
            .await
    }

    // ------------------------------------------------------------------ tokens

    pub fn token(&self, role: Role, sub: &str) -> String {
        mint_token(&self.jwt_secret, role, sub, Duration::from_secs(3600))
    }

    pub fn agent_token(&self) -> String {
        self.token(Role::Agent, "agent-1")
    }

    pub fn service_token(&self) -> String {
        self.token(Role::Service, "web-shop")
    }

    pub fn marketing_token(&self) -> String {
        self.token(Role::Marketing, "marketer-1")
    }

    pub fn admin_token(&self) -> String {
        self.token(Role::Admin, "admin-1")
    }

    /// `customer_id` is the customer's global ID as the API shows it (`Customer.id`).
    pub fn customer_token(&self, customer_id: &str) -> String {
        self.token(Role::Customer, customer_id)
    }

    // ------------------------------------------------------------------ plain HTTP

    /// Another client of this test's database takes the write lock and holds it until the
    /// returned transaction ends: on SQLite BEGIN IMMEDIATE (the file's one writer), on
    /// PostgreSQL an EXCLUSIVE lock on the tables orders, stock changes and products write.
    pub async fn hold_writes(&self) -> sea_orm::DatabaseTransaction {
        use sea_orm::TransactionTrait as _;
        let other = sea_orm::Database::connect(self.database_url())
            .await
            .expect("connect to the test's database");
        if self.is_postgres() {
            let txn = other.begin().await.expect("BEGIN");
            txn.execute_unprepared("LOCK TABLE orders, stock_levels, products IN EXCLUSIVE MODE")
                .await
                .expect("LOCK TABLE");
            txn
        } else {
            other
                .begin_with_options(sea_orm::TransactionOptions {
                    isolation_level: None,
                    access_mode: None,
                    sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                })
                .await
                .expect("BEGIN IMMEDIATE")
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GET /metrics as text, asserting it answers 200.
    pub async fn metrics(&self) -> String {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), 200, "GET /metrics");
        response.text().await.expect("read /metrics")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        if let TestDb::Postgres { admin_url, name } = &self.db {
            if std::env::var_os("TOUCHPOINT_TEST_KEEP_DB").is_some() {
                return;
            }
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Best effort, on a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let admin = sea_orm::Database::connect(admin_url).await.ok()?;
                    let forced = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    if admin.execute_unprepared(&forced).await.is_err() {
                        let _ = admin
                            .execute_unprepared(&terminate_sessions_sql(&name))
                            .await;
                        let _ = admin
                            .execute_unprepared(&format!(r#"DROP DATABASE IF EXISTS "{name}""#))
                            .await;
                    }
                    admin.close().await.ok()
                })
            })
            .join();
        }
    }
}

// ---------------------------------------------------------------------- databases

fn postgres_admin_url() -> Option<String> {
    std::env::var(POSTGRES_URL_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// Says once per process, on the real stderr (the test harness captures `eprintln!`), that the
/// PostgreSQL pass did not run; CI can insist on it.
fn note_sqlite_only() {
    let required = std::env::var_os("CI").is_some()
        && std::env::var("TOUCHPOINT_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1");
    if required {
        panic!(
            "CI requires the PostgreSQL pass (TOUCHPOINT_TEST_REQUIRE_POSTGRES=1) but {POSTGRES_URL_ENV} is unset"
        );
    }
    static NOTE: Once = Once::new();
    NOTE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "NOTE: PostgreSQL pass NOT run: {POSTGRES_URL_ENV} is unset; these tests ran on SQLite only"
        );
    });
}

/// Says on the real stderr (the test harness captures `eprintln!`) that `test` only runs on
/// PostgreSQL and was skipped.
pub fn note_postgres_only(test: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "NOTE: {test} only runs on PostgreSQL ({POSTGRES_URL_ENV} is unset); skipped"
    );
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn terminate_sessions_sql(name: &str) -> String {
    format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
}

async fn admin_execute(admin_url: &str, sql: &str) {
    let admin = sea_orm::Database::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("connect to {POSTGRES_URL_ENV}: {e}"));
    admin
        .execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = admin.close().await;
}

/// A fresh database: a copy of a migrated template made once per process, or an empty one
/// (which `App::build` migrates) when TOUCHPOINT_TEST_PG_TEMPLATE=0.
async fn create_postgres_database(admin_url: &str) -> String {
    let name = unique_name("tp_test");
    if std::env::var("TOUCHPOINT_TEST_PG_TEMPLATE").as_deref() == Ok("0") {
        admin_execute(admin_url, &format!(r#"CREATE DATABASE "{name}""#)).await;
    } else {
        let template = migrated_template(admin_url).await;
        admin_execute(
            admin_url,
            &format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#),
        )
        .await;
    }
    name
}

/// A fresh database with no server of this process on it, for a test that runs `touchpoint
/// serve` processes of its own: a SQLite file in a temporary directory, or a PostgreSQL database
/// (copied from the migrated template) when TOUCHPOINT_TEST_POSTGRES_URL is set. It holds this
/// test's share of the machine (see `TestApp::quietly`); dropping it deletes the database, so
/// declare it before the processes that use it (they are then stopped first).
pub struct TestDatabase {
    url: String,
    db: TestDb,
    _share: Option<tokio::sync::OwnedRwLockReadGuard<()>>,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let share = MACHINE.clone().read_owned().await;
        Self::create_with(Some(share)).await
    }

    /// A second database for the same test. It takes no share of its own: taking a second one
    /// could wait forever behind a queued `quietly` (see `TestApp::spawn_another`).
    pub async fn create_another(&self) -> TestDatabase {
        Self::create_with(None).await
    }

    async fn create_with(share: Option<tokio::sync::OwnedRwLockReadGuard<()>>) -> TestDatabase {
        let (url, db) = if let Some(admin_url) = postgres_admin_url() {
            let name = create_postgres_database(&admin_url).await;
            (
                touchpoint::db::with_database_name(&admin_url, &name),
                TestDb::Postgres { admin_url, name },
            )
        } else {
            note_sqlite_only();
            let dir = tempfile::TempDir::new().expect("create a temporary directory");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("touchpoint.db").display()
            );
            (url, TestDb::Sqlite(dir))
        };
        TestDatabase {
            url,
            db,
            _share: share,
        }
    }

    /// What `--database-url` should be.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, TestDb::Postgres { .. })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let TestDb::Postgres { admin_url, name } = &self.db else {
            return;
        };
        if std::env::var_os("TOUCHPOINT_TEST_KEEP_DB").is_some() {
            return;
        }
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Best effort, on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = sea_orm::Database::connect(admin_url).await.ok()?;
                let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                admin.execute_unprepared(&sql).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

/// Set for a child test process (see `child_process_env`): the template its parent built.
const TEMPLATE_NAME_ENV: &str = "TOUCHPOINT_TEST_PG_TEMPLATE_NAME";

/// What a test process started by this one should inherit: the PostgreSQL template, so the
/// child does not build (and leave behind) one of its own.
pub async fn child_process_env() -> Vec<(&'static str, String)> {
    match postgres_admin_url() {
        Some(admin_url) if std::env::var("TOUCHPOINT_TEST_PG_TEMPLATE").as_deref() != Ok("0") => {
            vec![(TEMPLATE_NAME_ENV, migrated_template(&admin_url).await)]
        }
        _ => Vec::new(),
    }
}

async fn migrated_template(admin_url: &str) -> String {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            if let Ok(inherited) = std::env::var(TEMPLATE_NAME_ENV) {
                return inherited;
            }
            drop_leftovers_of_dead_runs(admin_url).await;
            let name = unique_name("tp_tmpl");
            admin_execute(admin_url, &format!(r#"CREATE DATABASE "{name}""#)).await;
            let url = touchpoint::db::with_database_name(admin_url, &name);
            // Build (and so migrate) on a runtime of its own, dropped afterwards, so nothing the
            // app spawned keeps a session open on the template.
            let built = tokio::task::spawn_blocking(move || {
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()
                        .expect("template runtime");
                    runtime.block_on(async {
                        let app = touchpoint::App::build(Config::for_tests(url))
                            .await
                            .unwrap_or_else(|e| {
                                panic!("App::build on the template database: {e:?}")
                            });
                        drop(app);
                    });
                    runtime.shutdown_timeout(Duration::from_secs(5));
                })
                .join()
            })
            .await
            .expect("join the template builder");
            if built.is_err() {
                panic!("building the migrated template database failed (see the panic above)");
            }
            // No one may connect to the template any more, so copying it never finds a session.
            admin_execute(
                admin_url,
                &format!(r#"ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false"#),
            )
            .await;
            admin_execute(admin_url, &terminate_sessions_sql(&name)).await;
            name
        })
        .await
        .clone()
}

/// Drops the templates and test databases of test processes on this machine that no longer
/// run (each name carries its process id). Only where /proc tells which processes run.
async fn drop_leftovers_of_dead_runs(admin_url: &str) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(admin) = sea_orm::Database::connect(admin_url).await else {
        return;
    };
    let listing = sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT datname FROM pg_database WHERE datname LIKE 'tp\\_tmpl\\_%' OR datname LIKE 'tp\\_test\\_%'",
    );
    let rows = admin.query_all_raw(listing).await.unwrap_or_default();
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = admin
            .execute_unprepared(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
            .await;
    }
    let _ = admin.close().await;
}

// ---------------------------------------------------------------------- assertions

pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

pub fn top_level_errors(resp: &Value) -> Vec<Value> {
    resp["errors"].as_array().cloned().unwrap_or_default()
}

pub fn error_codes(resp: &Value) -> Vec<String> {
    top_level_errors(resp)
        .iter()
        .map(|e| {
            e["extensions"]["code"]
                .as_str()
                .unwrap_or("<no code>")
                .to_string()
        })
        .collect()
}

/// The response has no top-level errors; returns `data`.
#[track_caller]
pub fn expect_data(resp: &Value) -> &Value {
    assert!(
        top_level_errors(resp).is_empty(),
        "expected no top-level errors, got:\n{}",
        pretty(resp)
    );
    &resp["data"]
}

/// Top-level `errors[0].extensions.code` is `code`.
#[track_caller]
pub fn assert_error_code(resp: &Value, code: &str) {
    let errors = top_level_errors(resp);
    assert!(
        !errors.is_empty(),
        "expected a top-level error {code}, got none:\n{}",
        pretty(resp)
    );
    assert_eq!(
        errors[0]["extensions"]["code"].as_str(),
        Some(code),
        "expected errors[0].extensions.code = {code}:\n{}",
        pretty(resp)
    );
}

/// The response carries at least one top-level error, none of them INTERNAL.
#[track_caller]
pub fn assert_clean_error(resp: &Value) {
    assert!(
        !top_level_errors(resp).is_empty(),
        "expected a top-level error:\n{}",
        pretty(resp)
    );
    assert_not_internal(resp);
}

#[track_caller]
pub fn assert_not_internal(resp: &Value) {
    assert!(
        !error_codes(resp).iter().any(|c| c == "INTERNAL"),
        "the server reported an INTERNAL error:\n{}",
        pretty(resp)
    );
}

/// The mutation payload `data[mutation]`, asserting there were no top-level errors.
#[track_caller]
pub fn payload<'a>(resp: &'a Value, mutation: &str) -> &'a Value {
    let payload = &expect_data(resp)[mutation];
    assert!(
        payload.is_object(),
        "no payload for {mutation}:\n{}",
        pretty(resp)
    );
    payload
}

/// `data[mutation].userErrors`, asserting there were no top-level errors.
#[track_caller]
pub fn user_errors(resp: &Value, mutation: &str) -> Vec<Value> {
    payload(resp, mutation)["userErrors"]
        .as_array()
        .unwrap_or_else(|| panic!("{mutation} has no userErrors list:\n{}", pretty(resp)))
        .clone()
}

/// The payload of a mutation that must have succeeded: no top-level errors, no userErrors.
#[track_caller]
pub fn expect_ok<'a>(resp: &'a Value, mutation: &str) -> &'a Value {
    let errors = user_errors(resp, mutation);
    assert!(errors.is_empty(), "{mutation} refused:\n{}", pretty(resp));
    payload(resp, mutation)
}

/// Some userError of `mutation` has `code`; returns it.
#[track_caller]
pub fn assert_user_error(resp: &Value, mutation: &str, code: &str) -> Value {
    let errors = user_errors(resp, mutation);
    errors
        .iter()
        .find(|e| e["code"] == code)
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "expected a {code} userError from {mutation}, got:\n{}",
                pretty(resp)
            )
        })
}

/// Some userError of `mutation` has one of `codes` and a `field` path that starts with
/// `path` (a leading "input" segment is ignored); returns it.
#[track_caller]
pub fn assert_user_error_at(resp: &Value, mutation: &str, codes: &[&str], path: &[&str]) -> Value {
    let errors = user_errors(resp, mutation);
    errors
        .iter()
        .find(|e| codes.iter().any(|c| e["code"] == *c) && field_starts_with(e, path))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "expected a userError from {mutation} with code in {codes:?} and field starting with {path:?}, got:\n{}",
                pretty(resp)
            )
        })
}

pub fn field_path(user_error: &Value) -> Vec<String> {
    let mut path: Vec<String> = user_error["field"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    if path.first().map(String::as_str) == Some("input") {
        path.remove(0);
    }
    path
}

fn field_starts_with(user_error: &Value, path: &[&str]) -> bool {
    let actual = field_path(user_error);
    actual.len() >= path.len() && actual.iter().zip(path).all(|(a, p)| a == p)
}

/// A mutation refused either as a malformed request (top-level BAD_USER_INPUT) or as a
/// userError with one of `codes`.
#[track_caller]
pub fn assert_bad_input_or_user_error(resp: &Value, mutation: &str, codes: &[&str]) {
    if !top_level_errors(resp).is_empty() {
        assert_error_code(resp, "BAD_USER_INPUT");
        return;
    }
    let errors = user_errors(resp, mutation);
    assert!(
        errors.iter().any(|e| codes.iter().any(|c| e["code"] == *c)),
        "expected BAD_USER_INPUT or a userError with a code in {codes:?}:\n{}",
        pretty(resp)
    );
}

/// The sum of every series of a Prometheus metric (`name` or `name{...}`).
pub fn metric_sum(metrics: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in metrics.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let value = if rest.starts_with('{') {
            rest.rsplit_once('}').map(|(_, v)| v).unwrap_or_default()
        } else {
            rest
        };
        if let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}
