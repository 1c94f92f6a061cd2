//! A small graphql-transport-ws client for the subscription tests: `connection_init` with the
//! token, `subscribe`, and waits for `next` / `error` / `complete` messages or the close frame.
//!
//! Messages for other operation ids that arrive while a test waits for one id are kept and handed
//! out later, so several subscriptions can share one socket. Protocol-level `ping`s are answered.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::harness::{TestApp, pretty};

pub const SUBPROTOCOL: &str = "graphql-transport-ws";

/// `ws://HOST:PORT/graphql` for a server at `http://HOST:PORT`.
pub fn ws_url(base_url: &str) -> String {
    format!("{}/graphql", base_url.replacen("http://", "ws://", 1))
}

pub struct WsClient {
    socket: WebSocketStream<TcpStream>,
    /// Messages read while waiting for another id (or for a close), oldest first.
    buffered: VecDeque<Value>,
    /// The close frame (code, reason) once the server closed; 1006 when it just went away.
    closed: Option<(u16, String)>,
}

impl WsClient {
    /// Connects, sends `connection_init` (with `{"authorization": "Bearer …"}` when a token is
    /// given, an empty payload otherwise) and waits for `connection_ack`.
    pub async fn connect(app: &TestApp, token: Option<&str>) -> WsClient {
        Self::connect_url(&app.base_url, token).await
    }

    /// `connect` against any server (another process).
    pub async fn connect_url(base_url: &str, token: Option<&str>) -> WsClient {
        let mut client = Self::open(base_url, None).await;
        client.init(token).await;
        client.expect_ack(Duration::from_secs(5)).await;
        client
    }

    /// Like `connect`, with a tiny socket receive buffer: when the test stops reading, the
    /// server's writes back up after a few kilobytes instead of a few hundred.
    pub async fn connect_with_small_receive_buffer(app: &TestApp, token: Option<&str>) -> WsClient {
        let mut client = Self::open(&app.base_url, Some(4096)).await;
        client.init(token).await;
        client.expect_ack(Duration::from_secs(5)).await;
        client
    }

    /// The WebSocket handshake only (subprotocol graphql-transport-ws); no `connection_init`.
    pub async fn connect_raw(app: &TestApp) -> WsClient {
        Self::open(&app.base_url, None).await
    }

    async fn open(base_url: &str, receive_buffer: Option<u32>) -> WsClient {
        let url = ws_url(base_url);
        let mut request = url
            .as_str()
            .into_client_request()
            .unwrap_or_else(|e| panic!("bad WebSocket URL {url}: {e}"));
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        let host_port = base_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let addr: std::net::SocketAddr = tokio::net::lookup_host(&host_port)
            .await
            .unwrap_or_else(|e| panic!("resolve {host_port}: {e}"))
            .next()
            .unwrap_or_else(|| panic!("{host_port} resolves to nothing"));
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .expect("create a TCP socket");
        if let Some(size) = receive_buffer {
            socket
                .set_recv_buffer_size(size)
                .expect("set the socket receive buffer");
        }
        let connected = async {
            let stream = socket.connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        };
        let stream = tokio::time::timeout(Duration::from_secs(10), connected)
            .await
            .unwrap_or_else(|_| panic!("TCP connect to {addr} timed out"))
            .unwrap_or_else(|e| panic!("TCP connect to {addr}: {e}"));
        let (socket, response) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::client_async(request, stream),
        )
        .await
        .unwrap_or_else(|_| panic!("WebSocket handshake with {url} timed out"))
        .unwrap_or_else(|e| panic!("WebSocket handshake with {url} failed: {e}"));
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            protocol, SUBPROTOCOL,
            "the server must answer with the graphql-transport-ws subprotocol"
        );
        WsClient {
            socket,
            buffered: VecDeque::new(),
            closed: None,
        }
    }

    // ------------------------------------------------------------------ sending

    /// Sends one JSON message as a text frame.
    pub async fn send_json(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap_or_else(|e| panic!("send {message}: {e}"));
    }

    /// `connection_init`, with the bearer token when there is one.
    pub async fn init(&mut self, token: Option<&str>) {
        let payload = match token {
            Some(token) => json!({ "authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        self.send_json(json!({ "type": "connection_init", "payload": payload }))
            .await;
    }

    /// `subscribe` with operation id `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send_json(json!({
            "type": "subscribe",
            "id": id,
            "payload": { "query": query, "variables": variables },
        }))
        .await;
    }

    /// The client ends operation `id` (`complete` from the client side).
    pub async fn stop(&mut self, id: &str) {
        self.send_json(json!({ "type": "complete", "id": id }))
            .await;
    }

    /// Sends `ping` and waits for the `pong`: the server has read everything sent before it.
    pub async fn ping_pong(&mut self) {
        self.send_json(json!({ "type": "ping" })).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let Some(message) = self.read_socket(deadline).await else {
                panic!(
                    "no pong within 5 s (closed: {:?}); kept: {:?}",
                    self.closed, self.buffered
                );
            };
            if message["type"] == "pong" {
                return;
            }
            self.buffered.push_back(message);
        }
    }

    /// After a `subscribe`: waits until the server has read it (ping/pong) and then a moment
    /// more, so the subscription is in place before the test writes the event it waits for.
    pub async fn settle(&mut self) {
        self.ping_pong().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // ------------------------------------------------------------------ receiving

    /// The next message of any kind (kept ones first), or None on timeout or once closed.
    pub async fn next_message(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(message) = self.buffered.pop_front() {
            return Some(message);
        }
        self.read_socket(Instant::now() + timeout).await
    }

    /// The next message for operation `id` (kept ones first); messages for other ids are kept.
    pub async fn next_for(&mut self, id: &str, timeout: Duration) -> Option<Value> {
        if let Some(i) = self.buffered.iter().position(|m| m["id"] == id) {
            return self.buffered.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let message = self.read_socket(deadline).await?;
            if message["id"] == id {
                return Some(message);
            }
            self.buffered.push_back(message);
        }
    }

    /// Reads one text message from the socket (answering protocol pings), or None on timeout,
    /// close or a broken connection (then `closed` is set).
    async fn read_socket(&mut self, deadline: Instant) -> Option<Value> {
        if self.closed.is_some() {
            return None;
        }
        loop {
            let frame = tokio::time::timeout_at(deadline.into(), self.socket.next())
                .await
                .ok()?;
            match frame {
                None => {
                    self.closed = Some((1006, "the connection ended without a close frame".into()));
                    return None;
                }
                Some(Err(e)) => {
                    self.closed = Some((1006, format!("connection error: {e}")));
                    return None;
                }
                Some(Ok(Message::Close(frame))) => {
                    self.closed = Some(match frame {
                        Some(frame) => (u16::from(frame.code), frame.reason.to_string()),
                        None => (1005, String::new()),
                    });
                    return None;
                }
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(text.as_str()).unwrap_or_else(|e| {
                        panic!("the server sent a text frame that is not JSON ({e}): {text}")
                    });
                    if message["type"] == "ping" {
                        self.send_json(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return Some(message);
                }
                Some(Ok(Message::Binary(bytes))) => {
                    panic!("the server sent a binary frame: {bytes:?}")
                }
                Some(Ok(_)) => continue, // WebSocket-level ping/pong frames
            }
        }
    }

    async fn expect_ack(&mut self, timeout: Duration) {
        let message = self.next_message(timeout).await;
        match message {
            Some(m) if m["type"] == "connection_ack" => {}
            Some(m) => panic!("expected connection_ack, got:\n{}", pretty(&m)),
            None => panic!(
                "no connection_ack within {timeout:?} (closed: {:?})",
                self.closed
            ),
        }
    }

    /// Waits for a `next` for `id` and returns its `payload.data`; panics on a timeout, an
    /// `error`, a `complete`, or a `next` that carries errors.
    pub async fn expect_next(&mut self, id: &str, timeout: Duration) -> Value {
        let started = Instant::now();
        let message = self.next_for(id, timeout).await.unwrap_or_else(|| {
            panic!(
                "no `next` for {id:?} within {timeout:?} (closed: {:?}; other messages kept: {})",
                self.closed,
                self.describe_buffered()
            )
        });
        Self::data_of_next(id, &message, started)
    }

    /// Like `expect_next`, but first passes over `next`s that carry an email entry about one of
    /// `order_ids` (see `is_email_about`): the first other message must be an error-free `next`.
    /// An email entry about any other order is not passed over and fails like any other message.
    pub async fn expect_next_skipping_own_emails(
        &mut self,
        id: &str,
        timeout: Duration,
        order_ids: &[Value],
    ) -> Value {
        let started = Instant::now();
        let deadline = started + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.next_for(id, left).await.unwrap_or_else(|| {
                panic!(
                    "no `next` for {id:?} but email entries about {order_ids:?} within {timeout:?} \
                     (closed: {:?}; other messages kept: {})",
                    self.closed,
                    self.describe_buffered()
                )
            });
            if !is_email_about(&message, order_ids) {
                return Self::data_of_next(id, &message, started);
            }
        }
    }

    /// The `payload.data` of an error-free `next`; panics on any other message.
    fn data_of_next(id: &str, message: &Value, started: Instant) -> Value {
        match message["type"].as_str() {
            Some("next") => {
                let errors = &message["payload"]["errors"];
                assert!(
                    errors.is_null() || errors.as_array().is_some_and(Vec::is_empty),
                    "`next` for {id:?} carries errors (after {:?}):\n{}",
                    started.elapsed(),
                    pretty(message)
                );
                message["payload"]["data"].clone()
            }
            _ => panic!(
                "expected a `next` for {id:?}, got (after {:?}):\n{}",
                started.elapsed(),
                pretty(message)
            ),
        }
    }

    /// Waits for an `error` message for `id` (graphql-transport-ws: payload is a list of
    /// GraphQL errors) and returns the errors. A `next` carrying errors is not an `error` message.
    pub async fn expect_error(&mut self, id: &str, timeout: Duration) -> Vec<Value> {
        let message = self.next_for(id, timeout).await.unwrap_or_else(|| {
            panic!(
                "no `error` for {id:?} within {timeout:?} (closed: {:?}; other messages kept: {})",
                self.closed,
                self.describe_buffered()
            )
        });
        match message["type"].as_str() {
            Some("error") => errors_of(&message).unwrap_or_else(|| {
                panic!(
                    "an `error` message without a list of errors:\n{}",
                    pretty(&message)
                )
            }),
            Some("next") if message["payload"]["errors"].is_array() => panic!(
                "expected an `error` message for {id:?}; the server sent a `next` carrying errors instead:\n{}",
                pretty(&message)
            ),
            _ => panic!(
                "expected an `error` message for {id:?}, got:\n{}",
                pretty(&message)
            ),
        }
    }

    /// Waits for the server's `complete` for `id`.
    pub async fn expect_complete(&mut self, id: &str, timeout: Duration) {
        let message = self.next_for(id, timeout).await.unwrap_or_else(|| {
            panic!(
                "no `complete` for {id:?} within {timeout:?} (closed: {:?})",
                self.closed
            )
        });
        assert_eq!(
            message["type"],
            "complete",
            "expected `complete` for {id:?}, got:\n{}",
            pretty(&message)
        );
    }

    /// Nothing at all arrives for `id` during `window`.
    pub async fn expect_nothing_for(&mut self, id: &str, window: Duration) {
        if let Some(message) = self.next_for(id, window).await {
            panic!(
                "expected nothing more for {id:?}, got:\n{}",
                pretty(&message)
            );
        }
    }

    /// Nothing arrives for `id` during `window` but `next`s carrying an email entry about one of
    /// `order_ids` (see `is_email_about`): the orders the subscriber may see, whose messages the
    /// outbox sends a moment after their events. Anything else fails, as in `expect_nothing_for`:
    /// an email entry about another order, an entry of any other kind, an error, a `complete`.
    /// Returns the email entries that arrived.
    pub async fn expect_nothing_but_own_emails_for(
        &mut self,
        id: &str,
        window: Duration,
        order_ids: &[Value],
    ) -> Vec<Value> {
        let deadline = Instant::now() + window;
        let mut emails = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_for(id, left).await {
                None => return emails,
                Some(m) if is_email_about(&m, order_ids) => emails.push(entry_of(&m).clone()),
                Some(m) => panic!(
                    "expected nothing more for {id:?} but email entries about {order_ids:?}, got:\n{}",
                    pretty(&m)
                ),
            }
        }
    }

    /// No `next` for `id` during `window` (a `complete` is allowed).
    pub async fn expect_no_next_for(&mut self, id: &str, window: Duration) {
        let deadline = Instant::now() + window;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.next_for(id, left).await {
                None => return,
                Some(m) if m["type"] == "next" => {
                    panic!("expected no `next` for {id:?}, got:\n{}", pretty(&m))
                }
                Some(_) => {}
            }
        }
    }

    /// Like `expect_no_next_for`, but a `next` carrying an email entry about one of `order_ids`
    /// (see `is_email_about`) is allowed; any other `next` fails. Returns those email entries.
    pub async fn expect_no_next_but_own_emails_for(
        &mut self,
        id: &str,
        window: Duration,
        order_ids: &[Value],
    ) -> Vec<Value> {
        let deadline = Instant::now() + window;
        let mut emails = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_for(id, left).await {
                None => return emails,
                Some(m) if is_email_about(&m, order_ids) => emails.push(entry_of(&m).clone()),
                Some(m) if m["type"] == "next" => panic!(
                    "expected no `next` for {id:?} but email entries about {order_ids:?}, got:\n{}",
                    pretty(&m)
                ),
                Some(_) => {}
            }
        }
    }

    /// Waits for the server to close the connection; returns (code, reason). Messages that
    /// arrive first are kept (and shown if no close comes).
    pub async fn expect_close(&mut self, timeout: Duration) -> (u16, String) {
        let deadline = Instant::now() + timeout;
        while self.closed.is_none() && Instant::now() < deadline {
            if let Some(message) = self.read_socket(deadline).await {
                self.buffered.push_back(message);
            }
        }
        self.closed.clone().unwrap_or_else(|| {
            panic!(
                "the server did not close the connection within {timeout:?}; messages: {}",
                self.describe_buffered()
            )
        })
    }

    /// The close frame, if the server closed the connection.
    pub fn closed(&self) -> Option<&(u16, String)> {
        self.closed.as_ref()
    }

    /// Closes the connection from the client side.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    fn describe_buffered(&self) -> String {
        if self.buffered.is_empty() {
            "none".into()
        } else {
            self.buffered
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

/// The GraphQL errors of an `error` message (a list; an object with `errors` is tolerated).
pub fn errors_of(message: &Value) -> Option<Vec<Value>> {
    let payload = &message["payload"];
    payload
        .as_array()
        .cloned()
        .or_else(|| payload["errors"].as_array().cloned())
}

/// The `extensions.code` of each error.
pub fn codes_of(errors: &[Value]) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            e["extensions"]["code"]
                .as_str()
                .unwrap_or("<no code>")
                .to_string()
        })
        .collect()
}

/// The kinds of entry the email outbox writes about a message it sent, failed to send, or saw
/// opened: a moment after the event the message is about, on the same customer's timeline.
pub const EMAIL_KINDS: [&str; 3] = ["EMAIL_SENT", "EMAIL_FAILED", "EMAIL_OPENED"];

/// Whether a timeline entry is one of the outbox's EMAIL_* entries.
pub fn is_email_entry(entry: &Value) -> bool {
    EMAIL_KINDS.iter().any(|kind| entry["kind"] == *kind)
}

/// The timeline entry a `next` carries: the one field of its `payload.data` (`customerTimeline`,
/// `orderEvents`, `myOrderEvents`); null when there is not exactly one.
pub fn entry_of(message: &Value) -> &Value {
    match message["payload"]["data"].as_object() {
        Some(data) if data.len() == 1 => data.values().next().unwrap_or(&Value::Null),
        _ => &Value::Null,
    }
}

/// Whether `message` is an error-free `next` carrying an EMAIL_* entry whose `order { id }` is
/// one of `order_ids`. The subscription must select `order { id }`: an entry without it is about
/// no order the test allowed.
pub fn is_email_about(message: &Value, order_ids: &[Value]) -> bool {
    let errors = &message["payload"]["errors"];
    let entry = entry_of(message);
    let order_id = &entry["order"]["id"];
    message["type"] == "next"
        && (errors.is_null() || errors.as_array().is_some_and(Vec::is_empty))
        && is_email_entry(entry)
        && order_id.is_string()
        && order_ids.contains(order_id)
}
