//! `touchpoint demo-history`: the real binary writes months of history into a fresh database,
//! and a server on that database shows what a user would look for: orders in every channel over
//! several months, late shipments, returns with refunds, emails sent in the past, customers who
//! came back; the same seed writes the same history; a database with orders is refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use touchpoint::auth::{Role, mint_token};

use crate::crash::{JWT_SECRET, ServerProcess, server_binary};
use crate::harness::{TestDatabase, child_process_env, expect_data};

const ORDERS: usize = 300;

async fn demo_history(database_url: &str, dir: &Path, extra: &[&str]) -> Output {
    let mail = dir.join("mail");
    let mut command = Command::new(server_binary());
    command
        .args([
            "demo-history",
            "--orders",
            &ORDERS.to_string(),
            "--seed",
            "7",
            "--database-url",
            database_url,
            "--mail-dir",
        ])
        .arg(&mail)
        .args(extra)
        .current_dir(dir);
    for (name, value) in child_process_env().await {
        command.env(name, value);
    }
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join the demo-history process")
        .expect("run the touchpoint binary")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const ORDERS_PAGE: &str = r#"
query Page($after: String) {
  customers(first: 20, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { orders(first: 10) { totalCount edges { node {
      channel placedAt status
      delivery { promisedDate }
      shipments { isDelayed status }
      returns { method channel refund { status issuedAt } }
      communications { kind status sentAt openedAt }
    } } } } }
  }
}"#;

/// Every order of every customer, as an agent reads them.
async fn orders_of_everyone(server: &ServerProcess, token: &str) -> Vec<Vec<Value>> {
    let mut customers = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = server
            .gql(token, ORDERS_PAGE, json!({ "after": after }))
            .await;
        let data = expect_data(&body);
        let page = &data["customers"];
        for edge in page["edges"].as_array().cloned().unwrap_or_default() {
            let orders = &edge["node"]["orders"];
            let list: Vec<Value> = orders["edges"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e["node"].clone())
                .collect();
            assert!(
                orders["totalCount"].as_u64() == Some(list.len() as u64),
                "a customer with more than 10 orders; raise `first`"
            );
            customers.push(list);
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return customers;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The figures a dashboard would show, computed from what the API returns.
fn figures(customers: &[Vec<Value>]) -> BTreeMap<String, i64> {
    let mut f = BTreeMap::new();
    let mut add = |key: String, n: i64| *f.entry(key).or_insert(0) += n;
    for orders in customers {
        add("customers".into(), 1);
        if orders.len() > 1 {
            add("customers with more than one order".into(), 1);
        }
        for o in orders {
            add("orders".into(), 1);
            add(
                format!("orders {}", o["channel"].as_str().unwrap_or("?")),
                1,
            );
            add(format!("status {}", o["status"].as_str().unwrap_or("?")), 1);
            let shipments = o["shipments"].as_array().cloned().unwrap_or_default();
            add("shipments".into(), shipments.len() as i64);
            let delayed = shipments.iter().filter(|s| s["isDelayed"] == json!(true));
            add("delayed shipments".into(), delayed.count() as i64);
            for r in o["returns"].as_array().cloned().unwrap_or_default() {
                add(
                    format!("returns {}", r["method"].as_str().unwrap_or("?")),
                    1,
                );
                if r["channel"] != o["channel"] {
                    add("returns in another channel".into(), 1);
                }
                if r["refund"]["status"] == json!("ISSUED") {
                    add("refunds issued".into(), 1);
                }
            }
            for c in o["communications"].as_array().cloned().unwrap_or_default() {
                let kind = c["kind"].as_str().unwrap_or("?");
                add(
                    format!("emails {kind} {}", c["status"].as_str().unwrap_or("?")),
                    1,
                );
                if !c["openedAt"].is_null() {
                    add("emails opened".into(), 1);
                }
            }
            // When, to the second: the same seed writes the same times.
            if let Some(t) = time(&o["placedAt"]) {
                add("placedAt checksum".into(), t.timestamp() % 1_000_003);
            }
        }
    }
    f
}

fn agent() -> String {
    mint_token(
        JWT_SECRET,
        Role::Agent,
        "agent-history-test",
        std::time::Duration::from_secs(3600),
    )
}

#[tokio::test]
async fn demo_history_writes_months_of_believable_history_and_the_same_seed_writes_it_again() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let database = TestDatabase::create().await;
    let run = demo_history(database.url(), dir.path(), &[]).await;
    assert!(run.status.success(), "demo-history failed:\n{}", text(&run));
    assert!(
        text(&run).contains(&format!("Done: {ORDERS} orders")),
        "it reports what it wrote:\n{}",
        text(&run)
    );

    // A database with orders is left alone unless --append is given.
    let again = demo_history(database.url(), dir.path(), &[]).await;
    assert!(
        !again.status.success() && text(&again).contains("--append"),
        "a second run on the same database is refused:\n{}",
        text(&again)
    );

    let server = ServerProcess::start_with("history", database.url(), &[], dir.path()).await;
    let token = agent();
    let customers = orders_of_everyone(&server, &token).await;
    let f = figures(&customers);
    let n = |key: &str| f.get(key).copied().unwrap_or(0);
    let summary = format!("{f:#?}");
    assert_eq!(n("orders"), ORDERS as i64, "{summary}");

    // Every channel, spread over several months, all in the past.
    for channel in ["WEB", "APP", "STORE", "MARKETPLACE", "PHONE"] {
        assert!(
            n(&format!("orders {channel}")) > 0,
            "no {channel} orders: {summary}"
        );
    }
    let placed: Vec<DateTime<Utc>> = customers
        .iter()
        .flatten()
        .filter_map(|o| time(&o["placedAt"]))
        .collect();
    let (first, last) = (
        placed.iter().min().copied().expect("orders"),
        placed.iter().max().copied().expect("orders"),
    );
    assert!(
        last - first > Duration::days(90),
        "placed from {first} to {last}: not several months"
    );
    assert!(last < Utc::now(), "an order placed in the future: {last}");

    // Delays, cancellations, returns (some in another channel than the sale) and refunds.
    assert!(n("delayed shipments") > 0, "{summary}");
    assert!(n("status CANCELLED") > 0, "{summary}");
    assert!(
        n("returns CARRIER") > 0 && n("returns IN_STORE") > 0,
        "{summary}"
    );
    assert!(n("returns in another channel") > 0, "{summary}");
    assert!(n("refunds issued") > 0, "{summary}");

    // Emails really went out, at the time they were about, and some were opened.
    let sent: Vec<DateTime<Utc>> = customers
        .iter()
        .flatten()
        .flat_map(|o| o["communications"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["status"] == json!("SENT"))
        .filter_map(|c| time(&c["sentAt"]))
        .collect();
    assert!(sent.len() > ORDERS, "{} emails sent: {summary}", sent.len());
    assert!(
        sent.iter().all(|t| *t < Utc::now()),
        "an email sent in the future"
    );
    assert!(
        sent.iter().any(|t| *t < Utc::now() - Duration::days(60)),
        "no email older than two months"
    );
    assert!(n("emails SHIPMENT_DELAYED SENT") > 0, "{summary}");
    assert!(n("emails opened") > 0, "{summary}");
    // Customers came back.
    assert!(n("customers with more than one order") > 0, "{summary}");
    drop(server);

    // The same seed on another fresh database: the same history.
    let other = database.create_another().await;
    let other_dir = tempfile::TempDir::new().expect("a temporary directory");
    let rerun = demo_history(other.url(), other_dir.path(), &[]).await;
    assert!(
        rerun.status.success(),
        "the second run failed:\n{}",
        text(&rerun)
    );
    let server = ServerProcess::start_with("history-2", other.url(), &[], other_dir.path()).await;
    let twin = figures(&orders_of_everyone(&server, &token).await);
    assert_eq!(
        twin, f,
        "the same seed wrote different figures (the runs straddled midnight UTC?)"
    );
}
