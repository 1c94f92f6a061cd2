//! GraphQL over WebSocket with the graphql-transport-ws close codes: 4401 for a subscribe before
//! `connection_init`, 4403 for a refused token, 4408 when no `connection_init` comes in time.
use async_graphql::http::{WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{HttpState, connection_init};

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

fn message_type(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("type")?.as_str().map(str::to_owned)
}

pub async fn serve(socket: WebSocket, state: HttpState, protocol: WebSocketProtocols) {
    let (mut sink, mut source) = socket.split();
    let (to_graphql, inbound) = mpsc::channel::<String>(64);
    let init_state = state.clone();
    let mut graphql =
        GraphQLWebSocket::new(state.schema.clone(), ReceiverStream::new(inbound), protocol)
            .on_connection_init(move |payload| connection_init(init_state, payload));
    let mut handshake = Handshake::Waiting;
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
                match message_type(&text).as_deref() {
                    Some("subscribe" | "start") if handshake != Handshake::Acknowledged => {
                        let _ = sink.send(close(4401, "Unauthorized")).await;
                        break;
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
                        if message_type(&text).as_deref() == Some("connection_ack") {
                            handshake = Handshake::Acknowledged;
                        }
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
            _ = &mut deadline, if handshake == Handshake::Waiting => {
                let _ = sink.send(close(4408, "Connection initialisation timeout")).await;
                break;
            }
        }
    }
}
