//! A small client for the local API, used by numhubctl (and the benchmark): one
//! keep-alive HTTP/1.1 connection over the Unix socket for calls, and a WebSocket for
//! subscriptions. Errors say which path, which permission and which group when the
//! socket cannot be opened.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::api::{Method, Subscription};

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to {path}: {source}; {hint}")]
    Connect {
        path: String,
        #[source]
        source: std::io::Error,
        hint: String,
    },
    #[error("{message} (code {code})")]
    Rpc {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// The socket failed while a call or a subscription was under way.
    #[error("talking to numhubd: {0}")]
    Io(#[source] std::io::Error),
    /// A body that is not the JSON expected (`what` says whose).
    #[error("talking to numhubd: {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("talking to numhubd over WebSocket: {0}")]
    WebSocket(#[source] soketto::connection::Error),
    #[error("talking to numhubd: WebSocket handshake: {0}")]
    Handshake(#[source] soketto::handshake::Error),
    #[error("talking to numhubd: {0}")]
    Protocol(String),
}

impl ClientError {
    fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> ClientError {
        let what = what.into();
        move |source| ClientError::Json { what, source }
    }
}

pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    next_id: u64,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|e| connect_error(path, e))?;
        Ok(Client {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
            next_id: 1,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One call of method `M`: its typed result, or the JSON-RPC error.
    pub fn request<M: Method>(&mut self, params: &M::Params) -> Result<M::Result, ClientError> {
        self.exchange(M::NAME, params)
    }

    /// One call by name, for tests and raw use; the `result`, or the JSON-RPC error.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.exchange(method, &params)
    }

    fn exchange<P, R>(&mut self, method: &str, params: &P) -> Result<R, ClientError>
    where
        P: serde::Serialize,
        R: DeserializeOwned,
    {
        let id = self.next_id;
        self.next_id += 1;
        let body = serde_json::to_vec(&Request {
            jsonrpc: "2.0",
            id,
            method,
            params,
        })
        .map_err(ClientError::json(format!("{method}'s params")))?;
        let answer = self.post_raw(&body)?;
        let answer: Answer<R> = serde_json::from_slice(&answer)
            .map_err(ClientError::json(format!("{method}'s answer")))?;
        match answer {
            Answer {
                error: Some(err), ..
            } => Err(err.into()),
            Answer {
                result: Some(result),
                ..
            } => Ok(result),
            _ => Err(ClientError::Protocol(format!(
                "no result in {method}'s answer"
            ))),
        }
    }

    /// Sends a body on the kept-alive connection and reads one response.
    pub fn post(&mut self, body: &[u8]) -> Result<Value, ClientError> {
        let answer = self.post_raw(body)?;
        serde_json::from_slice(&answer).map_err(ClientError::json("the answer"))
    }

    /// Like [`post`](Self::post), but the response body unparsed.
    fn post_raw(&mut self, body: &[u8]) -> Result<Vec<u8>, ClientError> {
        let proto = ClientError::Io;
        // Head and body in one write: one syscall, one segment.
        let mut request = format!(
            "POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.reader.get_mut().write_all(&request).map_err(proto)?;
        let mut len = None;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).map_err(proto)? == 0 {
                return Err(ClientError::Protocol(
                    "numhubd closed the connection".into(),
                ));
            }
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse::<usize>().ok();
            }
        }
        let len =
            len.ok_or_else(|| ClientError::Protocol("response without content-length".into()))?;
        let mut buf = vec![0; len];
        self.reader.read_exact(&mut buf).map_err(proto)?;
        Ok(buf)
    }
}

#[derive(serde::Serialize)]
struct Request<'a, P> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: &'a P,
}

/// A JSON-RPC answer: `result` read straight into its type (no tree in between).
#[derive(Deserialize)]
struct Answer<R> {
    result: Option<R>,
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    data: Option<Value>,
}

impl From<WireError> for ClientError {
    fn from(e: WireError) -> ClientError {
        ClientError::Rpc {
            code: e.code,
            message: e.message,
            data: e.data,
        }
    }
}

/// Says what to do about a socket that cannot be opened.
fn connect_error(path: &Path, e: std::io::Error) -> ClientError {
    let hint = match e.kind() {
        std::io::ErrorKind::NotFound => {
            "no socket there: is numhubd running? (systemctl status numhubd; or pass --socket / NUMHUBD_SOCKET)".to_string()
        }
        std::io::ErrorKind::ConnectionRefused => {
            "a stale socket from a stopped numhubd: start it (systemctl start numhubd)".to_string()
        }
        std::io::ErrorKind::PermissionDenied => match std::fs::metadata(path) {
            Ok(meta) => {
                let group = group_name(meta.gid());
                format!(
                    "the socket is mode {:o}, group {group}: join that group (sudo usermod -aG {group} $USER, then log in again), or ask an admin",
                    meta.permissions().mode() & 0o777
                )
            }
            Err(_) => "a folder on the way is not open to you: check the permissions of its parents".to_string(),
        },
        _ => "check the path (--socket or NUMHUBD_SOCKET)".to_string(),
    };
    ClientError::Connect {
        path: path.display().to_string(),
        source: e,
        hint,
    }
}

fn group_name(gid: u32) -> String {
    // SAFETY: getgrgid(3) returns a pointer to static storage or null; read at once.
    let grp = unsafe { libc::getgrgid(gid) };
    if grp.is_null() {
        return gid.to_string();
    }
    // SAFETY: non-null group entry with a NUL-terminated name.
    unsafe { std::ffi::CStr::from_ptr((*grp).gr_name) }
        .to_string_lossy()
        .to_string()
}

/// A WebSocket subscription to `S` (e.g. `events.subscribe`); each item is passed to
/// `on_item` until it returns false or the connection ends. An item that does not
/// read as `S::Item` (a newer daemon's event kind) is passed as its error, and the
/// subscription goes on.
pub async fn follow<S: Subscription>(
    path: &Path,
    params: &S::Params,
    mut on_item: impl FnMut(Result<S::Item, ClientError>) -> bool,
) -> Result<(), ClientError> {
    let method = S::NAME;
    let (mut tx, mut rx) = websocket(path).await?;
    let request = serde_json::to_string(&Request {
        jsonrpc: "2.0",
        id: 1,
        method,
        params,
    })
    .map_err(ClientError::json(format!("{method}'s params")))?;
    tx.send_text(request)
        .await
        .map_err(ClientError::WebSocket)?;
    tx.flush().await.map_err(ClientError::WebSocket)?;
    loop {
        let mut data = Vec::new();
        match rx.receive_data(&mut data).await {
            Ok(_) => {}
            Err(soketto::connection::Error::Closed) => return Ok(()),
            Err(e) => return Err(ClientError::WebSocket(e)),
        }
        let frame: Frame = serde_json::from_slice(&data)
            .map_err(ClientError::json(format!("a {method} message")))?;
        if let Some(err) = frame.error {
            return Err(err.into());
        }
        // The first frame answers the subscription (its id); then one per item.
        if let Some(notice) = frame.params {
            let item = serde_json::from_value(notice.result)
                .map_err(ClientError::json(format!("a {method} item")));
            if !on_item(item) {
                return Ok(());
            }
        }
    }
}

type WsSender = soketto::Sender<tokio_util::compat::Compat<tokio::net::UnixStream>>;
type WsReceiver = soketto::Receiver<tokio_util::compat::Compat<tokio::net::UnixStream>>;

/// A WebSocket connection to the daemon's socket.
async fn websocket(path: &Path) -> Result<(WsSender, WsReceiver), ClientError> {
    use tokio_util::compat::TokioAsyncReadCompatExt;
    let stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|e| connect_error(path, e))?;
    let mut client = soketto::handshake::Client::new(stream.compat(), "localhost", "/");
    match client.handshake().await.map_err(ClientError::Handshake)? {
        soketto::handshake::ServerResponse::Accepted { .. } => {}
        other => {
            return Err(ClientError::Protocol(format!(
                "WebSocket refused: {other:?}"
            )))
        }
    }
    Ok(client.into_builder().finish())
}

/// One WebSocket message: the subscription's answer, an error, or a notification.
#[derive(Deserialize)]
struct Frame {
    error: Option<WireError>,
    params: Option<Notice>,
}

#[derive(Deserialize)]
struct Notice {
    result: Value,
}
