//! GraphQL over WebSocket with the graphql-transport-ws close codes: 4401 for a subscribe before
//! `connection_init`, 4403 for a refused token (and when the token expires), 4408 when no
//! `connection_init` comes in time, 1001 when the server stops. A connection runs a bounded
//! number of operations at once; mutations and over-deep documents are refused here.
use async_graphql::http::{WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage};
use async_graphql::parser::types::OperationType;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use futures_channel::mpsc;
use futures_util::{SinkExt, StreamExt};

use super::{HttpState, connection_init};
use crate::graphql::operation;

/// What the connection has seen of the handshake.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Handshake {
    Waiting,
    InitSent,
    Acknowledged,
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The envelope of a protocol message: its type and operation id, read without building the
/// payload (every result of a fan-out passes here once per subscriber).
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

impl<'a> Envelope<'a> {
    fn of(text: &'a str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

/// A subscription refused before its first result (validation, authorization) is reported as an
/// `error` message, which ends the operation. Errors later in a stream (LAGGED) stay results,
/// followed by `complete`.
fn as_error_message(
    text: String,
    ended: &mut HashSet<String>,
    started: &mut HashSet<String>,
) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return text;
    };
    let Some(id) = value["id"].as_str() else {
        return text;
    };
    let payload = &value["payload"];
    let first = value["type"] == "next" && started.insert(id.to_owned());
    let lagged = payload["errors"][0]["extensions"]["code"] == "LAGGED";
    let refused = first
        && !lagged
        && payload.get("data").is_none_or(|d| d.is_null())
        && payload["errors"].as_array().is_some_and(|e| !e.is_empty());
    if refused {
        started.remove(id);
        ended.insert(id.to_owned());
        return serde_json::json!({ "type": "error", "id": id, "payload": payload["errors"] })
            .to_string();
    }
    text
}

/// Whether this `complete` belongs to an operation that an `error` already ended.
fn is_ended(id: &str, ended: &mut HashSet<String>, started: &mut HashSet<String>) -> bool {
    started.remove(id);
    ended.remove(id)
}

/// Why an operation is refused before it reaches GraphQL: nesting deep enough to exhaust a
/// parser's stack, too many aliases, or a mutation (those travel by POST only).
fn refusal_reason(text: &str, state: &HttpState) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let payload = &value["payload"];
    let query = payload["query"].as_str()?;
    if super::bracket_depth(query) > state.max_bracket_depth {
        return Some("the query is nested too deeply".to_owned());
    }
    let document = crate::graphql::documents::parse(query)?;
    if let Some(refusal) = operation::alias_refusal(&document, state.max_aliases) {
        return Some(refusal);
    }
    let operation = operation::selected(&document, payload["operationName"].as_str())?;
    (operation.ty == OperationType::Mutation)
        .then(|| "send mutations with POST and Content-Type: application/json".to_owned())
}

/// The refusal of one operation; the connection and its other operations go on.
fn refusal(id: &str, message: &str, protocol: WebSocketProtocols) -> String {
    let errors = serde_json::json!([{
        "message": message,
        "extensions": { "code": "BAD_USER_INPUT" },
    }]);
    match protocol {
        WebSocketProtocols::GraphQLWS => {
            serde_json::json!({ "type": "error", "id": id, "payload": errors })
        }
        WebSocketProtocols::SubscriptionsTransportWS => {
            serde_json::json!({ "type": "error", "id": id, "payload": errors[0] })
        }
    }
    .to_string()
}

pub async fn serve(socket: WebSocket, state: HttpState, protocol: WebSocketProtocols) {
    let (mut sink, mut source) = socket.split();
    // A channel that allocates per message, not a block of slots up front: an idle connection
    // holds no buffer here.
    let (mut to_graphql, inbound) = mpsc::channel::<String>(16);
    let init_state = state.clone();
    let token_expires = Arc::new(std::sync::Mutex::new(None::<u64>));
    let init_expires = token_expires.clone();
    let mut graphql = GraphQLWebSocket::new(state.schema.clone(), inbound, protocol)
        .on_connection_init(move |payload| connection_init(init_state, payload, init_expires));
    // Operations running now, by id: at most `max_subscriptions` at once.
    let mut active: HashSet<String> = HashSet::new();
    // The token's end, once the connection is acknowledged: the connection ends with it.
    let expiry = tokio::time::sleep(std::time::Duration::MAX / 4);
    tokio::pin!(expiry);
    let mut expiring = false;
    let mut handshake = Handshake::Waiting;
    // Operations already ended by an `error` message: their `complete` is not sent.
    let mut ended: HashSet<String> = HashSet::new();
    // Operations that have sent at least one result.
    let mut started: HashSet<String> = HashSet::new();
    let deadline = tokio::time::sleep(state.ws_init_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            incoming = source.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text.to_string(),
                    Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                let (kind, id) = match Envelope::of(&text) {
                    Some(e) => (Some(e.kind.into_owned()), e.id.map(Cow::into_owned)),
                    None => (None, None),
                };
                match kind.as_deref() {
                    Some("subscribe" | "start") if handshake != Handshake::Acknowledged => {
                        let _ = sink.send(close(4401, "Unauthorized")).await;
                        break;
                    }
                    Some("subscribe" | "start") => {
                        let id = id.unwrap_or_default();
                        let refused = if !active.contains(&id) && active.len() >= state.max_subscriptions {
                            Some(format!("at most {} subscriptions may run on one connection", state.max_subscriptions))
                        } else {
                            refusal_reason(&text, &state)
                        };
                        if let Some(message) = refused {
                            let refusal = refusal(&id, &message, protocol);
                            if sink.send(Message::Text(refusal.into())).await.is_err() {
                                break;
                            }
                            continue;
                        }
                        active.insert(id);
                    }
                    Some("complete" | "stop") => {
                        if let Some(id) = id {
                            active.remove(&id);
                        }
                    }
                    Some("connection_init") if handshake == Handshake::Waiting => handshake = Handshake::InitSent,
                    _ => {}
                }
                if to_graphql.send(text).await.is_err() {
                    break;
                }
            }
            outgoing = graphql.next() => {
                let message = match outgoing {
                    Some(WsMessage::Text(text)) => {
                        let envelope = Envelope::of(&text);
                        let kind = envelope.as_ref().map(|e| e.kind.as_ref());
                        let id = envelope.as_ref().and_then(|e| e.id.as_deref());
                        match kind {
                            Some("connection_ack") => {
                                handshake = Handshake::Acknowledged;
                                let until = token_expires
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .take();
                                if let Some(until) = until {
                                    let left = until.saturating_sub(crate::auth::now_seconds());
                                    expiry.as_mut().reset(
                                        tokio::time::Instant::now()
                                            + std::time::Duration::from_secs(left),
                                    );
                                    expiring = true;
                                }
                            }
                            Some("complete" | "error") => {
                                if let Some(id) = id {
                                    active.remove(id);
                                }
                            }
                            _ => {}
                        }
                        if kind == Some("complete") && id.is_some_and(|id| is_ended(id, &mut ended, &mut started)) {
                            continue;
                        }
                        // Only an operation's first result can be a refusal (see `as_error_message`).
                        let first_result = kind == Some("next") && id.is_some_and(|id| !started.contains(id));
                        drop(envelope);
                        let text = match protocol {
                            WebSocketProtocols::GraphQLWS if first_result => as_error_message(text, &mut ended, &mut started),
                            _ => text,
                        };
                        Message::Text(text.into())
                    }
                    // A refused connection_init: the protocol says 4403 Forbidden.
                    Some(WsMessage::Close(1002, _)) if handshake == Handshake::InitSent => close(4403, "Forbidden"),
                    Some(WsMessage::Close(code, reason)) => close(code, &reason),
                    None => break,
                };
                let closing = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || closing {
                    break;
                }
            }
            _ = &mut expiry, if expiring => {
                let _ = sink.send(close(4403, "Forbidden: the token expired")).await;
                break;
            }
            _ = state.lifecycle.closing.cancelled() => {
                let _ = sink.send(close(1001, "Going Away: the server is stopping")).await;
                break;
            }
            _ = &mut deadline, if handshake == Handshake::Waiting => {
                let _ = sink.send(close(4408, "Connection initialisation timeout")).await;
                break;
            }
        }
    }
}
