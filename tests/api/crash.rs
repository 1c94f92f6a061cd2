//! Email delivery survives `kill -9`: after a crash and a restart, no message recorded as sent
//! goes out again and no pending one is lost. Delivery is at-least-once with a stable
//! Message-ID; the only duplicate window is between the SMTP server's acceptance and the
//! database's record, and this scenario keeps the crash out of it (the SMTP server is down while
//! the pending messages wait), so exactly one copy of each message must arrive.
//!
//! The server runs as real `touchpoint serve` child processes on one database: a fresh
//! PostgreSQL database when TOUCHPOINT_TEST_POSTGRES_URL is set, else a SQLite file (see
//! `TestDatabase` in harness.rs).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use touchpoint::auth::{Role, mint_token};

use crate::fixtures::{
    LocationBuilder, OrderBuilder, ProductBuilder, USER_ERRORS, place_order_mutation, seed, str_of,
};
use crate::harness::{TestDatabase, expect_data, expect_ok, pretty};
use crate::smtp::{Mail, SmtpServer};

/// The secret of `Config::for_tests`, passed to the processes with `--jwt-secret`.
pub(crate) const JWT_SECRET: &str = "test-secret";

/// How long a process may take to answer /healthz after it was started.
const STARTUP: Duration = Duration::from_secs(60);

/// How long messages and statuses may take to get where they should (the outbox polls every
/// 200 ms, retries after 100 ms doubling, and a dead sender's claim lapses after 3 s).
const WITHIN: Duration = Duration::from_secs(20);

/// How long to keep watching for a second copy once every message arrived: longer than the
/// claim (3 s) plus a poll, so a message sent but not recorded would be sent again meanwhile.
const SETTLE: Duration = Duration::from_secs(4);

const KIND: &str = "ORDER_CONFIRMATION";

// ---------------------------------------------------------------------- the server process

/// A `touchpoint serve` child process; killed (SIGKILL) and reaped when dropped, on every path.
/// Other suites (reliability.rs) run the binary through it too.
pub(crate) struct ServerProcess {
    pub(crate) name: String,
    child: Child,
    pub(crate) base_url: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl ServerProcess {
    /// Starts the binary on a free port with the given database and SMTP server and waits until
    /// it answers /healthz. Retries on another port when the process exits before (the free
    /// port may have been taken meanwhile).
    pub(crate) async fn start(
        name: &str,
        database_url: &str,
        smtp_url: &str,
        dir: &Path,
    ) -> ServerProcess {
        let mail = [
            "--smtp-url",
            smtp_url,
            "--mail-retry-base",
            "100ms",
            "--mail-poll",
            "200ms",
            "--mail-claim",
            "3s",
        ];
        Self::start_with(name, database_url, &mail, dir).await
    }

    /// Like `start`, with other flags than the database, listen address and secret.
    pub(crate) async fn start_with(
        name: &str,
        database_url: &str,
        flags: &[&str],
        dir: &Path,
    ) -> ServerProcess {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build the HTTP client");
        for attempt in 1..=3 {
            let port = free_port();
            let log = dir.join(format!("{name}-{attempt}.log"));
            let out = File::create(&log).expect("create the process's log file");
            let err = out.try_clone().expect("clone the log file's handle");
            let child = Command::new(server_binary())
                .args([
                    "serve",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--database-url",
                    database_url,
                    "--no-demo",
                    "--jwt-secret",
                    JWT_SECRET,
                ])
                .args(flags)
                // Nothing the process writes relative to its directory lands in the repository.
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("start the touchpoint binary");
            let mut process = ServerProcess {
                name: name.to_owned(),
                child,
                base_url: format!("http://127.0.0.1:{port}"),
                log,
                client: client.clone(),
            };
            if process.wait_until_healthy().await {
                return process;
            }
            if attempt == 3 {
                panic!(
                    "{name} exited before answering /healthz, three times; its output:\n{}",
                    process.log_tail()
                );
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// Polls /healthz; false when the process exited first, a panic when it takes too long.
    async fn wait_until_healthy(&mut self) -> bool {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let health = self
                .client
                .get(format!("{}/healthz", self.base_url))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return true;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not answer /healthz within {STARTUP:?}; its output:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -9` (Child::kill is SIGKILL on Unix), then reaps the process.
    pub(crate) fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL the server process");
        let status = self.child.wait().expect("reap the server process");
        assert!(
            !status.success(),
            "{} was killed, yet exited successfully",
            self.name
        );
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (it is reaped then).
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the process to end by itself; a panic when it is still running after `limit`.
    pub(crate) async fn wait_for_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still runs {limit:?} later; its output:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// POST /graphql; the whole response.
    pub(crate) async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        match self.try_gql(token, query, variables).await {
            Ok((_, body)) => body,
            Err(e) => panic!("POST {}/graphql: {e}", self.base_url),
        }
    }

    /// POST /graphql; the HTTP status and the JSON body, or why there was no answer (the
    /// connection failed or was cut). A body that is not JSON is a panic.
    pub(crate) async fn try_gql(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> Result<(u16, Value), reqwest::Error> {
        let response = self
            .client
            .post(format!("{}/graphql", self.base_url))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or_else(|_| {
            panic!(
                "{}: POST /graphql answered {status} with a body that is not JSON:\n{text}",
                self.name
            )
        });
        Ok((status.as_u16(), body))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `touchpoint` binary the processes run: the one built with this test, or the one
/// TOUCHPOINT_TEST_BIN names (e.g. a copy taken right after the build, or a release build).
pub(crate) fn server_binary() -> PathBuf {
    std::env::var_os("TOUCHPOINT_TEST_BIN")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_touchpoint")))
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

pub(crate) fn service_token() -> String {
    mint_token(
        JWT_SECRET,
        Role::Service,
        "web-shop",
        Duration::from_secs(3600),
    )
}

pub(crate) fn agent_token() -> String {
    mint_token(
        JWT_SECRET,
        Role::Agent,
        "agent-1",
        Duration::from_secs(3600),
    )
}

// ---------------------------------------------------------------------- the API, as fixtures.rs uses it

/// One product (SKU-1) with `on_hand` in one warehouse (WH-1).
pub(crate) async fn seed_catalogue(server: &ServerProcess, on_hand: i64) {
    let token = service_token();
    let product = ProductBuilder::new(seed::SHIRT)
        .name("Linen shirt")
        .price("19.90", "EUR")
        .input();
    let resp = server
        .gql(
            &token,
            &format!(
                "mutation($input: UpsertProductInput!) {{ upsertProduct(input: $input) {{
                    product {{ id sku }} {USER_ERRORS} }} }}"
            ),
            json!({ "input": product }),
        )
        .await;
    expect_ok(&resp, "upsertProduct");
    let location = LocationBuilder::warehouse(seed::WAREHOUSE)
        .at(51.92, 4.48)
        .input();
    let resp = server
        .gql(
            &token,
            &format!(
                "mutation($input: UpsertLocationInput!) {{ upsertLocation(input: $input) {{
                    location {{ id code }} {USER_ERRORS} }} }}"
            ),
            json!({ "input": location }),
        )
        .await;
    expect_ok(&resp, "upsertLocation");
    let resp = server
        .gql(
            &token,
            &format!(
                "mutation($input: SetStockLevelInput!) {{ setStockLevel(input: $input) {{
                    stockLevel {{ sku onHand }} {USER_ERRORS} }} }}"
            ),
            json!({ "input": { "locationCode": seed::WAREHOUSE, "sku": seed::SHIRT, "onHand": on_hand } }),
        )
        .await;
    expect_ok(&resp, "setStockLevel");
}

/// An order of one shirt for `email`; returns it.
pub(crate) async fn place_order(server: &ServerProcess, email: &str) -> Value {
    let input = OrderBuilder::new()
        .customer(json!({ "email": email, "firstName": "Sam" }))
        .line(seed::SHIRT, 1)
        .input();
    let resp = server
        .gql(
            &service_token(),
            &place_order_mutation(),
            json!({ "input": input }),
        )
        .await;
    expect_ok(&resp, "placeOrder")["order"].clone()
}

/// The order's communications as agent-1 reads them.
pub(crate) async fn communications(server: &ServerProcess, order_id: &Value) -> Vec<Value> {
    let resp = server
        .gql(
            &agent_token(),
            "query($id: ID!) { order(id: $id) { communications {
                id kind to subject status attempts lastError sentAt } } }",
            json!({ "id": order_id }),
        )
        .await;
    expect_data(&resp)["order"]["communications"]
        .as_array()
        .unwrap_or_else(|| {
            panic!(
                "an agent reads the order's communications:\n{}",
                pretty(&resp)
            )
        })
        .clone()
}

/// Polls (at most `WITHIN`) until each order has exactly one confirmation and it reads one of
/// `statuses`; returns them, in the orders' order.
async fn wait_for_statuses(
    server: &ServerProcess,
    orders: &[Value],
    statuses: &[&str],
) -> Vec<Value> {
    let deadline = Instant::now() + WITHIN;
    loop {
        let mut found = Vec::new();
        for order in orders {
            found.push(communications(server, &order["id"]).await);
        }
        let done = found.iter().all(|list| {
            list.iter().filter(|c| c["kind"] == KIND).count() == 1
                && list
                    .iter()
                    .any(|c| c["kind"] == KIND && statuses.iter().any(|s| c["status"] == *s))
        });
        if done {
            return found
                .into_iter()
                .map(|list| {
                    list.into_iter()
                        .find(|c| c["kind"] == KIND)
                        .expect("the confirmation")
                })
                .collect();
        }
        if Instant::now() >= deadline {
            panic!(
                "{}: the orders' confirmations did not all read {statuses:?} within {WITHIN:?}:\n{}\n{}'s output:\n{}",
                server.name,
                pretty(&json!(found)),
                server.name,
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `haystack` mentions the order number `number` (not as part of a longer one).
pub(crate) fn mentions(haystack: &str, number: &str) -> bool {
    haystack.match_indices(number).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + number.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

fn summary(mails: &[Mail]) -> Vec<(String, Vec<String>, Option<String>)> {
    mails
        .iter()
        .map(|m| (m.subject().to_owned(), m.to.clone(), m.message_id.clone()))
        .collect()
}

// ---------------------------------------------------------------------- the test

#[tokio::test]
async fn after_kill_9_and_a_restart_nothing_sent_goes_out_again_and_nothing_pending_is_lost() {
    // Declared first, so the processes (declared later) are killed before it is dropped.
    let db = TestDatabase::create().await;
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let smtp = SmtpServer::start().await;

    let mut first = ServerProcess::start("first", db.url(), &smtp.url(), dir.path()).await;
    seed_catalogue(&first, 50).await;
    let emails: Vec<String> = (1..=5)
        .map(|i| format!("shopper{i}@example.test"))
        .collect();

    // Three orders whose confirmations go out and are recorded SENT.
    let mut orders = Vec::new();
    for email in &emails[..3] {
        orders.push(place_order(&first, email).await);
    }
    smtp.wait_for(3, WITHIN).await;
    wait_for_statuses(&first, &orders, &["SENT"]).await;
    let sent_before = smtp.received();
    assert_eq!(
        sent_before.len(),
        3,
        "one confirmation per order before the crash: {:#?}",
        summary(&sent_before)
    );

    // The SMTP server goes away (connections refused); two more orders wait in the outbox.
    smtp.stop().await;
    for email in &emails[3..] {
        orders.push(place_order(&first, email).await);
    }
    let pending = wait_for_statuses(&first, &orders[3..], &["RETRYING", "QUEUED"]).await;
    eprintln!(
        "at the crash ({}): the pending confirmations read {:?}",
        if db.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        pending
            .iter()
            .map(|c| format!("{} after {} attempt(s)", c["status"], c["attempts"]))
            .collect::<Vec<_>>()
    );

    // kill -9, the SMTP server back on its port, a second process on the same database.
    first.kill9();
    smtp.resume().await;
    let second = ServerProcess::start("second", db.url(), &smtp.url(), dir.path()).await;

    smtp.wait_for(5, WITHIN).await;
    let confirmations = wait_for_statuses(&second, &orders, &["SENT"]).await;
    // Long enough for a copy sent again to show up.
    tokio::time::sleep(SETTLE).await;

    let received = smtp.received();
    let attempts = smtp.attempts();
    assert_eq!(
        received.len(),
        5,
        "exactly five messages ever accepted, the three sent before the crash never again: {:#?}\n\
         second's output:\n{}",
        summary(&received),
        second.log_tail()
    );
    assert_eq!(
        attempts.len(),
        5,
        "exactly five messages ever handed to the SMTP server: {:#?}",
        summary(&attempts)
    );
    for (before, now) in sent_before.iter().zip(&received) {
        assert_eq!(
            before.message_id, now.message_id,
            "the messages sent before the crash stay the first ones received"
        );
    }

    let mut ids: Vec<String> = received
        .iter()
        .map(|m| {
            m.message_id
                .clone()
                .unwrap_or_else(|| panic!("a message without a Message-ID: {:#?}", m.raw))
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "five distinct Message-IDs: {ids:#?}");

    for ((order, email), confirmation) in orders.iter().zip(&emails).zip(&confirmations) {
        let number = str_of(&order["number"], "order number");
        let about: Vec<&Mail> = received
            .iter()
            .filter(|m| mentions(m.subject(), number))
            .collect();
        assert_eq!(
            about.len(),
            1,
            "order {number} is in exactly one message: {:#?}",
            summary(&received)
        );
        assert_eq!(
            about[0].to,
            vec![email.clone()],
            "order {number}'s recipient"
        );
        assert_eq!(
            about[0].envelope_to,
            vec![email.clone()],
            "order {number}'s envelope"
        );
        assert_eq!(
            confirmation["status"],
            "SENT",
            "order {number}'s confirmation through the second process:\n{}",
            pretty(confirmation)
        );
        assert_eq!(
            confirmation["subject"].as_str(),
            Some(about[0].subject()),
            "order {number}: the subject recorded is the one that arrived"
        );
    }
    for confirmation in &confirmations[..3] {
        assert_eq!(
            confirmation["attempts"],
            1,
            "sent once before the crash, never attempted again:\n{}",
            pretty(confirmation)
        );
    }
}
