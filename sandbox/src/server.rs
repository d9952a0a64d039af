//! The accept loop: our own, rather than `axum::serve`, so a handler can make its
//! connection end with a TCP reset (SO_LINGER 0) instead of an answer, and so shutdown
//! can drain connections.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Put into every request's extensions: lets a handler ask for its connection to be reset.
#[derive(Debug, Default)]
pub struct ConnCtl {
    reset: Notify,
}

impl ConnCtl {
    /// The caller should then never answer (await a pending future); the connection task
    /// drops the request and resets the socket.
    pub fn reset(&self) {
        self.reset.notify_one();
    }
}

pub async fn serve(listener: TcpListener, app: Router, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(connection(stream, app.clone(), stop.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("numhub-sandbox: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.shutdown().await;
    }
}

async fn connection(stream: TcpStream, app: Router, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    // A second descriptor for the same socket: SO_LINGER is per socket, so setting it on
    // the duplicate makes the final close send RST, while hyper owns the original.
    let (stream, twin) = match duplicate(stream) {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("numhub-sandbox: cannot set up connection: {e}");
            return;
        }
    };
    let ctl = Arc::new(ConnCtl::default());
    let svc_ctl = ctl.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(svc_ctl.clone());
        app.clone().oneshot(req)
    });
    let mut conn = Box::pin(
        hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), svc),
    );
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = ctl.reset.notified() => {
                let _ = socket2::SockRef::from(&twin).set_linger(Some(Duration::ZERO));
                drop(conn);
                drop(twin);
                return;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

fn duplicate(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let twin = std_stream.try_clone()?;
    let stream = TcpStream::from_std(std_stream)?;
    Ok((stream, twin))
}
