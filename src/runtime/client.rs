//! The client side of the agent protocol: connect, authenticate with `hello`, send requests,
//! and receive the agent's notifications.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::protocol::{
    LoadedModule, ModuleList, PROTOCOL_VERSION, ProcessInfo, ReloadParams, ReloadResult,
};

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("cannot connect to the runtime at {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unsupported runtime endpoint `{0}` (expected unix:<path> or tcp:<host:port>)")]
    Endpoint(String),
    #[error("the runtime refused the request: {message} (code {code})")]
    Refused { code: i64, message: String },
    #[error("the runtime closed the connection")]
    Closed,
    #[error("unexpected answer from the runtime: {0}")]
    Protocol(String),
    #[error("cannot write to the runtime: {0}")]
    Write(#[source] std::io::Error),
}

/// A message the agent sends on its own.
#[derive(Debug, Clone)]
pub enum AgentNotification {
    ModulesLoaded(Vec<LoadedModule>),
    ReloadFinished(Box<ReloadResult>),
}

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Result<Value, AgentError>>>>>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// One authenticated connection to a running agent.
pub struct AgentClient {
    writer: Mutex<Writer>,
    pending: Pending,
    next_id: AtomicU64,
    info: ProcessInfo,
}

impl AgentClient {
    /// Connects and authenticates. Notifications arrive on the returned receiver until the
    /// connection closes.
    pub async fn connect(
        endpoint: &str,
        token: &str,
    ) -> Result<(Self, mpsc::UnboundedReceiver<AgentNotification>), AgentError> {
        let (reader, writer) = open(endpoint).await?;
        let pending: Pending = Arc::default();
        let (notify_tx, notify_rx) = mpsc::unbounded_channel();
        tokio::spawn(read_loop(reader, Arc::clone(&pending), notify_tx));
        let mut client = Self {
            writer: Mutex::new(writer),
            pending,
            next_id: AtomicU64::new(1),
            info: ProcessInfo {
                protocol: 0,
                pid: 0,
                cwd: Default::default(),
                argv: Vec::new(),
                node: String::new(),
                endpoint: endpoint.to_owned(),
                esm_hooks: String::new(),
                modules: 0,
            },
        };
        let info: ProcessInfo = client
            .request(
                "hello",
                json!({ "token": token, "protocol": PROTOCOL_VERSION, "client": concat!("modgraph ", env!("CARGO_PKG_VERSION")) }),
            )
            .await?;
        if info.protocol != PROTOCOL_VERSION {
            return Err(AgentError::Protocol(format!(
                "the agent speaks protocol {}, this modgraph speaks {PROTOCOL_VERSION}",
                info.protocol
            )));
        }
        client.info = info;
        Ok((client, notify_rx))
    }

    pub fn info(&self) -> &ProcessInfo {
        &self.info
    }

    pub async fn modules(&self) -> Result<Vec<LoadedModule>, AgentError> {
        let list: ModuleList = self.request("modules/list", json!({})).await?;
        Ok(list.modules)
    }

    pub async fn reload(&self, params: &ReloadParams) -> Result<ReloadResult, AgentError> {
        let params =
            serde_json::to_value(params).map_err(|e| AgentError::Protocol(e.to_string()))?;
        self.request("reload", params).await
    }

    pub async fn request<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, AgentError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id, tx);
        }
        let mut line = serde_json::to_vec(
            &json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }),
        )
        .map_err(|e| AgentError::Protocol(e.to_string()))?;
        line.push(b'\n');
        {
            let mut writer = self.writer.lock().await;
            writer.write_all(&line).await.map_err(AgentError::Write)?;
            writer.flush().await.map_err(AgentError::Write)?;
        }
        let value = rx.await.map_err(|_| AgentError::Closed)??;
        serde_json::from_value(value).map_err(|e| AgentError::Protocol(format!("{method}: {e}")))
    }
}

async fn open(endpoint: &str) -> Result<(Box<dyn AsyncRead + Unpin + Send>, Writer), AgentError> {
    let connect_error = |source| AgentError::Connect {
        endpoint: endpoint.to_owned(),
        source,
    };
    if let Some(path) = endpoint.strip_prefix("unix:") {
        #[cfg(unix)]
        {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(connect_error)?;
            let (read, write) = stream.into_split();
            return Ok((Box::new(read), Box::new(write)));
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            return Err(AgentError::Endpoint(endpoint.to_owned()));
        }
    }
    if let Some(address) = endpoint.strip_prefix("tcp:") {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(connect_error)?;
        let (read, write) = stream.into_split();
        return Ok((Box::new(read), Box::new(write)));
    }
    Err(AgentError::Endpoint(endpoint.to_owned()))
}

async fn read_loop(
    reader: Box<dyn AsyncRead + Unpin + Send>,
    pending: Pending,
    notifications: mpsc::UnboundedSender<AgentNotification>,
) {
    let mut reader = BufReader::new(reader);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        match decode(&line) {
            Incoming::Answer { id, outcome } => {
                let waiter = pending.lock().ok().and_then(|mut p| p.remove(&id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(outcome);
                }
            }
            Incoming::RefusedUnread(text) => {
                // An error about a message the agent could not read: every waiter gets it.
                if let Ok(mut p) = pending.lock() {
                    for (_, waiter) in p.drain() {
                        let _ = waiter.send(Err(AgentError::Refused {
                            code: -32600,
                            message: text.clone(),
                        }));
                    }
                }
            }
            Incoming::Notification(notification) => {
                let _ = notifications.send(notification);
            }
            Incoming::Ignored => tracing::debug!("ignoring a line from the agent"),
        }
    }
    if let Ok(mut p) = pending.lock() {
        p.clear(); // dropping the senders answers every waiter with `Closed`
    }
}

/// One line from the agent, decoded.
#[derive(Debug)]
pub enum Incoming {
    /// The answer to request `id`.
    Answer {
        id: u64,
        outcome: Result<Value, AgentError>,
    },
    /// An error about a message the agent could not read (no id to answer).
    RefusedUnread(String),
    Notification(AgentNotification),
    /// Not JSON-RPC, or a notification this client does not know.
    Ignored,
}

/// Decodes one line of the protocol. Never panics, whatever the line holds.
pub fn decode(line: &str) -> Incoming {
    let Ok(message) = serde_json::from_str::<Value>(line) else {
        return Incoming::Ignored;
    };
    if let Some(id) = message.get("id").and_then(Value::as_u64) {
        let outcome = match (message.get("result"), message.get("error")) {
            (Some(result), _) => Ok(result.clone()),
            (None, Some(error)) => Err(AgentError::Refused {
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            }),
            (None, None) => Err(AgentError::Protocol(
                "an answer with neither result nor error".into(),
            )),
        };
        return Incoming::Answer { id, outcome };
    }
    if message.get("id").is_some_and(Value::is_null) {
        let text = message
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        return Incoming::RefusedUnread(text);
    }
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    let notification = match message.get("method").and_then(Value::as_str) {
        Some("modules/loaded") => serde_json::from_value::<ModuleList>(params)
            .ok()
            .map(|list| AgentNotification::ModulesLoaded(list.modules)),
        Some("reload/finished") => serde_json::from_value::<ReloadResult>(params)
            .ok()
            .map(|result| AgentNotification::ReloadFinished(Box::new(result))),
        _ => None,
    };
    notification.map_or(Incoming::Ignored, Incoming::Notification)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_decode_to_answers_refusals_and_notifications() {
        assert!(matches!(
            decode(r#"{"jsonrpc":"2.0","id":3,"result":{"a":1}}"#),
            Incoming::Answer {
                id: 3,
                outcome: Ok(_)
            }
        ));
        assert!(matches!(
            decode(r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32001,"message":"no"}}"#),
            Incoming::Answer {
                id: 4,
                outcome: Err(AgentError::Refused { code: -32001, .. })
            }
        ));
        assert!(
            matches!(decode(r#"{"jsonrpc":"2.0","id":null,"error":{"message":"bad"}}"#), Incoming::RefusedUnread(m) if m == "bad")
        );
        assert!(matches!(
            decode(r#"{"jsonrpc":"2.0","method":"modules/loaded","params":{"modules":[{"path":"/a.mjs","format":"esm","hash":"h"}]}}"#),
            Incoming::Notification(AgentNotification::ModulesLoaded(m)) if m.len() == 1
        ));
        assert!(matches!(decode("garbage"), Incoming::Ignored));
        assert!(matches!(
            decode(r#"{"method":"modules/loaded","params":{"modules":7}}"#),
            Incoming::Ignored
        ));
    }
}
