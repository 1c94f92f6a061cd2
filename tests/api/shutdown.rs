//! A clean stop: on SIGTERM the server stops taking connections, finishes the requests it is
//! reading or running, closes every WebSocket with a close frame (1001, going away), and stores
//! the dispatcher's cursor, so a restart resumes exactly where this run stopped.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::json;

use crate::crash::{ServerProcess, place_order, seed_catalogue};
use crate::fixtures::seed;
use crate::harness::TestDatabase;
use crate::smtp::SmtpServer;
use crate::ws::WsClient;

/// Sends SIGTERM, as an orchestrator stopping the service does.
fn sigterm(server: &ServerProcess) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

#[tokio::test]
async fn sigterm_finishes_requests_in_flight_closes_subscriptions_and_stores_the_cursor() {
    let database = TestDatabase::create().await;
    let smtp = SmtpServer::start().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut server =
        ServerProcess::start("stopping", database.url(), &smtp.url(), dir.path()).await;
    seed_catalogue(&server, 50).await;
    for i in 0..5 {
        place_order(&server, &format!("stop-{i}@example.com")).await;
    }

    // A subscriber, live before the stop.
    let mut subscriber = WsClient::connect_url(&server.base_url, None).await;
    subscriber
        .subscribe(
            "stock",
            "subscription($skus: [String!]!) { stockLevels(skus: $skus) { sku available } }",
            json!({ "skus": [seed::SHIRT] }),
        )
        .await;
    subscriber.ping_pong().await;

    // A request in flight: its headers and half its body are in when the signal comes.
    let body = json!({ "query": "{ products(skus: [\"SKU-SHIRT\"]) { sku name } }" }).to_string();
    let body = body.replace("SKU-SHIRT", seed::SHIRT);
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let mut in_flight = std::net::TcpStream::connect(&address).expect("connect");
    write!(
        in_flight,
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..body.len() / 2]
    )
    .expect("send the first half");
    in_flight.flush().expect("flush");
    tokio::time::sleep(Duration::from_millis(200)).await;

    sigterm(&server);

    // The subscriber is told the server is going away.
    let deadline = Instant::now() + Duration::from_secs(10);
    while subscriber.closed().is_none() && Instant::now() < deadline {
        subscriber.next_message(Duration::from_millis(200)).await;
    }
    let Some((code, reason)) = subscriber.closed().cloned() else {
        panic!(
            "the subscriber was not closed within 10 s; the server's output:\n{}",
            server.log_tail()
        );
    };
    assert_eq!(code, 1001, "close reason: {reason}");

    // New connections are no longer taken.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(&address).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The request in flight is finished and answered.
    in_flight
        .write_all(&body.as_bytes()[body.len() / 2..])
        .expect("send the second half");
    let mut answer = String::new();
    in_flight
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    in_flight
        .read_to_string(&mut answer)
        .expect("read the answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(seed::SHIRT), "{answer}");

    // The process ends by itself, successfully.
    let status = server.wait_for_exit(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "exit status {status:?}; output:\n{}",
        server.log_tail()
    );

    // Every event was dispatched and the cursor says so.
    let db = sea_orm::Database::connect(database.url())
        .await
        .expect("connect");
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT (SELECT MAX(seq) FROM events) AS last, \
             (SELECT position FROM dispatcher_cursors WHERE name = 'events') AS cursor",
        ))
        .await
        .expect("read the cursor")
        .expect("a row");
    let last: i64 = row.try_get("", "last").expect("last");
    let cursor: i64 = row.try_get("", "cursor").expect("cursor");
    assert_eq!(
        cursor, last,
        "the dispatcher's cursor is stored up to the last event"
    );
}
