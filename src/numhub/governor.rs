//! The rate governor: one per NumHub account, shared by every task that calls with
//! it. A fixed window like NumHub's (100 a minute): at most `limit` requests start
//! per window. NumHub's `requests-remaining` header lowers what is left (other
//! clients may share the account); a 429 pauses the account for a whole window
//! instead of hammering. Interactive callers are served before background ones.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Who is waiting: a person at the socket, or the sync engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Interactive,
    Background,
}

pub struct Governor {
    limit: u32,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Our window's end; `None` until the first request after a reset.
    window_end: Option<Instant>,
    remaining: u32,
    /// After a 429: nothing starts before this.
    paused_until: Option<Instant>,
    /// Interactive callers currently blocked; background callers yield to them.
    interactive_waiting: usize,
}

/// Keeps `interactive_waiting` right even when a waiting caller is cancelled.
struct Waiting<'a>(&'a Governor);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.interactive_waiting = s.interactive_waiting.saturating_sub(1);
        }
    }
}

impl Governor {
    /// `limit` 0 turns pacing off.
    pub fn new(limit: u32, window: Duration) -> Governor {
        Governor {
            limit,
            window,
            state: Mutex::new(State::default()),
        }
    }

    /// Our window starts when we take its first permit, which is a little before
    /// NumHub sees that request; the margin keeps our next window from opening
    /// while NumHub's is still running.
    fn window_len(&self) -> Duration {
        self.window + self.window / 20 + Duration::from_millis(100)
    }

    /// Waits for a permit to send one request.
    pub async fn acquire(&self, priority: Priority) {
        if self.limit == 0 {
            return;
        }
        let mut waiting: Option<Waiting<'_>> = None;
        loop {
            let wake_at = {
                let Ok(mut s) = self.state.lock() else {
                    return; // a poisoned lock only means another caller panicked
                };
                let now = Instant::now();
                if s.paused_until.is_some_and(|p| now >= p) {
                    s.paused_until = None;
                    s.window_end = None;
                }
                if let Some(p) = s.paused_until {
                    p
                } else {
                    if s.window_end.is_none_or(|e| now >= e) {
                        s.window_end = Some(now + self.window_len());
                        s.remaining = self.limit;
                    }
                    let end = s.window_end.unwrap_or(now);
                    let my_turn = priority == Priority::Interactive
                        || s.interactive_waiting == usize::from(waiting.is_some());
                    if s.remaining > 0 && my_turn {
                        s.remaining -= 1;
                        return; // `waiting` drops and deregisters
                    }
                    if s.remaining > 0 {
                        // Background yields to a blocked interactive caller, which is
                        // about to take the permit.
                        now + Duration::from_millis(5)
                    } else {
                        end
                    }
                }
            };
            if priority == Priority::Interactive && waiting.is_none() {
                if let Ok(mut s) = self.state.lock() {
                    s.interactive_waiting += 1;
                }
                waiting = Some(Waiting(self));
            }
            tokio::time::sleep_until(wake_at).await;
        }
    }

    /// Learns from an answer: `requests-remaining` (when sent) and 429.
    pub fn observe(&self, status: Option<u16>, remaining: Option<u32>) {
        if self.limit == 0 {
            return;
        }
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if status == Some(429) {
            // We do not know when NumHub's window ends: wait a whole one.
            s.paused_until = Some(Instant::now() + self.window_len());
            s.remaining = 0;
            return;
        }
        if let Some(r) = remaining {
            s.remaining = s.remaining.min(r);
        }
    }
}

/// Each tenant's share of the calls its callers start over the socket: a sliding
/// minute of start times per tenant. The governor paces the account for everyone;
/// this keeps one tenant's callers from taking all of it.
#[derive(Default)]
pub struct TenantBudget {
    starts: Mutex<std::collections::HashMap<i64, std::collections::VecDeque<Instant>>>,
}

/// The minute a tenant's share is counted over.
const BUDGET_WINDOW: Duration = Duration::from_secs(60);

impl TenantBudget {
    /// Takes one of the tenant's `per_min` starts, or says how long until one is
    /// free again.
    pub fn spend(&self, tenant_id: i64, per_min: u32) -> Result<(), Duration> {
        let mut map = match self.starts.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let now = Instant::now();
        let starts = map.entry(tenant_id).or_default();
        while starts
            .front()
            .is_some_and(|t| now.duration_since(*t) >= BUDGET_WINDOW)
        {
            starts.pop_front();
        }
        if starts.len() >= per_min as usize {
            let oldest = starts.front().copied().unwrap_or(now);
            return Err(BUDGET_WINDOW.saturating_sub(now.duration_since(oldest)));
        }
        starts.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn at_most_limit_per_window_and_interactive_first() {
        let g = std::sync::Arc::new(Governor::new(2, Duration::from_secs(10)));
        let start = Instant::now();
        g.acquire(Priority::Background).await;
        g.acquire(Priority::Background).await;
        assert!(start.elapsed() < Duration::from_secs(1));
        let bg = {
            let g = g.clone();
            tokio::spawn(async move {
                g.acquire(Priority::Background).await;
                Instant::now()
            })
        };
        tokio::task::yield_now().await;
        let fg = {
            let g = g.clone();
            tokio::spawn(async move {
                g.acquire(Priority::Interactive).await;
                g.acquire(Priority::Interactive).await;
                Instant::now()
            })
        };
        let (bg, fg) = (bg.await.expect("bg"), fg.await.expect("fg"));
        // Both interactive permits of the second window went first; background waited
        // for the third window.
        assert!(fg < bg, "interactive {fg:?} background {bg:?}");
        assert!(bg - start >= Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_header_and_429_pause() {
        let g = Governor::new(100, Duration::from_secs(10));
        let start = Instant::now();
        g.acquire(Priority::Background).await;
        g.observe(Some(200), Some(0));
        g.acquire(Priority::Background).await;
        assert!(start.elapsed() >= Duration::from_secs(10));
        let t = Instant::now();
        g.observe(Some(429), None);
        g.acquire(Priority::Background).await;
        assert!(t.elapsed() >= Duration::from_secs(10));
    }
}
