//! A connection's deadlines: a request's headers and body must arrive within
//! `[rpc] header_timeout_ms` (from the connect, or from the first byte of the next
//! request), and a kept-alive connection may sit without a request for
//! `idle_timeout_secs`. While a request is being answered there is no deadline (a
//! `wait_s` call may take a minute). [`ConnIo`] is the stream as hyper reads it: its
//! reads and writes move the clock, and it holds the connection's admission
//! [`Ticket`], so the place is given back whenever the stream is dropped — also after
//! a WebSocket upgrade, when hyper hands the stream to jsonrpsee's task.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::admission::Ticket;

/// Which deadline ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// A request's headers and body did not arrive in time.
    Header,
    /// No request came on a kept-alive connection.
    Idle,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for (the rest of) a request.
    Head { deadline: Instant },
    /// Between requests.
    Idle { deadline: Instant },
    /// Requests being answered.
    Busy { calls: u32 },
}

pub struct Clock {
    phase: Mutex<Phase>,
    /// Woken when a request ends while the waiter has no deadline to sleep to.
    changed: Notify,
    /// The waiter is parked on `changed` without a timer (requests were in flight).
    /// Only then does the end of a request wake it: a wake-up per request (a task
    /// switch, a timer re-armed) was most of what the local API cost per call
    /// around its method.
    parked: AtomicBool,
    header: Duration,
    idle: Duration,
}

impl Clock {
    pub fn new(header: Duration, idle: Duration) -> Arc<Clock> {
        Arc::new(Clock {
            phase: Mutex::new(Phase::Head {
                deadline: Instant::now() + header,
            }),
            changed: Notify::new(),
            parked: AtomicBool::new(false),
            header,
            idle,
        })
    }

    fn update(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        *phase = f(*phase);
    }

    /// Bytes came in: between requests, that starts the next request's header clock.
    /// The waiter is not woken: while idle it never sleeps longer than `header`, so
    /// it sees the nearer deadline in time.
    fn read_some(&self) {
        self.update(|p| match p {
            Phase::Idle { .. } => Phase::Head {
                deadline: Instant::now() + self.header,
            },
            p => p,
        });
    }

    /// Bytes went out: an answer still being written is not idleness.
    fn wrote_some(&self) {
        self.update(|p| match p {
            Phase::Idle { .. } => Phase::Idle {
                deadline: Instant::now() + self.idle,
            },
            p => p,
        });
    }

    /// A request has arrived whole: no deadline until it is answered.
    pub fn request_started(&self) {
        self.update(|p| match p {
            Phase::Busy { calls } => Phase::Busy { calls: calls + 1 },
            _ => Phase::Busy { calls: 1 },
        });
    }

    /// A request was answered; the last one starts the idle clock.
    pub fn request_finished(&self) {
        self.update(|p| match p {
            Phase::Busy { calls } if calls > 1 => Phase::Busy { calls: calls - 1 },
            _ => Phase::Idle {
                deadline: Instant::now() + self.idle,
            },
        });
        if self.parked.load(Ordering::SeqCst) {
            self.changed.notify_one();
        }
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves when a deadline has passed (checked again after each wake-up, so a
    /// deadline moved later is waited for).
    pub async fn expired(&self) -> Expired {
        loop {
            let (deadline, which) = match self.phase() {
                Phase::Busy { .. } => {
                    self.park().await;
                    continue;
                }
                Phase::Head { deadline } => (deadline, Expired::Header),
                Phase::Idle { deadline } => (deadline, Expired::Idle),
            };
            let now = Instant::now();
            if deadline <= now {
                return which;
            }
            // Idle, a request's first byte may start a header clock at any moment
            // without waking us: look again within that clock's length.
            let wake = match which {
                Expired::Idle => deadline.min(now + self.header),
                Expired::Header => deadline,
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Waits, without a timer, for the requests in flight to end.
    async fn park(&self) {
        self.parked.store(true, Ordering::SeqCst);
        // Look again once parked: a request that ended meanwhile did not wake us.
        if matches!(self.phase(), Phase::Busy { .. }) {
            self.changed.notified().await;
        }
        self.parked.store(false, Ordering::SeqCst);
    }
}

/// The accepted stream, as hyper (and after an upgrade jsonrpsee) uses it.
pub struct ConnIo<S> {
    inner: S,
    clock: Arc<Clock>,
    _ticket: Ticket,
}

impl<S> ConnIo<S> {
    pub fn new(inner: S, clock: Arc<Clock>, ticket: Ticket) -> ConnIo<S> {
        ConnIo {
            inner,
            clock,
            _ticket: ticket,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ConnIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.read_some();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ConnIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote_some();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_the_requests() {
        let clock = Clock::new(Duration::from_millis(100), Duration::from_secs(5));
        // Nothing sent after the connect: the header deadline.
        assert_eq!(clock.expired().await, Expired::Header);
        clock.request_started();
        let waiting = tokio::spawn({
            let clock = clock.clone();
            async move { clock.expired().await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(
            !waiting.is_finished(),
            "no deadline while a request is answered"
        );
        clock.request_finished();
        let start = Instant::now();
        assert_eq!(waiting.await.ok(), Some(Expired::Idle));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        // The next request's first byte: the header deadline again.
        clock.read_some();
        assert_eq!(clock.expired().await, Expired::Header);
    }
}
