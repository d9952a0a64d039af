//! The rate governor of a store one daemon owns (SQLite): one per NumHub account,
//! in memory, shared by every task that calls with it. NumHub counts a fixed window
//! (100 a minute) that starts at whichever request opens it; we cannot see where its
//! windows fall, so we keep a sliding one a little longer: a request starts only
//! while fewer than `limit` started within that span. Then no window of NumHub's,
//! wherever it falls, holds more than `limit` of ours.
//!
//! What the last span spent outlives a restart: [`Local::resumed`] starts from the
//! exchanges the audit table recorded in it (and holds a tenth of the limit back for
//! requests the old process sent but never recorded), and its first request goes
//! alone, so NumHub's `requests-remaining` (which counts those too) is known before
//! the rest follow. That header lowers what is left (other clients may share the
//! account); a 429 pauses the account for a whole span instead of hammering.
//! Interactive callers are served before background ones.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::Priority;

pub struct Local {
    limit: u32,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When each request of the last span started, oldest first.
    started: VecDeque<Instant>,
    /// NumHub's last `requests-remaining`, less what started since, and when its
    /// window has ended for sure.
    told: Option<(u32, Instant)>,
    /// After a 429: nothing starts before this.
    paused_until: Option<Instant>,
    /// A resumed governor's first request is out: the others wait for its answer
    /// (or this deadline, should that request be cancelled).
    probe: Probe,
    /// Interactive callers currently blocked; background callers yield to them.
    interactive_waiting: usize,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// Nothing to learn first: a fresh governor.
    #[default]
    Done,
    /// Resumed: the next request goes alone.
    Due,
    /// That request is out; the others wait until its answer or this instant.
    Out(Instant),
}

/// How often a caller held back by a probe looks whether its answer came.
const PROBE_LOOK: Duration = Duration::from_millis(10);

/// Keeps `interactive_waiting` right even when a waiting caller is cancelled.
struct Waiting<'a>(&'a Local);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.interactive_waiting = s.interactive_waiting.saturating_sub(1);
        }
    }
}

impl Local {
    /// `limit` 0 turns pacing off.
    pub fn new(limit: u32, window: Duration) -> Local {
        Local {
            limit,
            window,
            state: Mutex::new(State::default()),
        }
    }

    /// A governor for an account a previous process already spent from: `started`
    /// are its requests within the last [`super::span`] (from the audit table),
    /// and the first request goes alone to read NumHub's `requests-remaining`.
    /// A tenth of the limit is also held for a span from now: requests the old
    /// process had in flight when it was killed reached NumHub but left no row.
    pub fn resumed(limit: u32, window: Duration, started: Vec<Instant>) -> Local {
        let mut started: Vec<Instant> = started;
        let now = Instant::now();
        started.extend(std::iter::repeat_n(now, (limit / 10).max(1) as usize));
        started.sort();
        let state = State {
            started: started.into(),
            probe: Probe::Due,
            ..State::default()
        };
        Local {
            limit,
            window,
            state: Mutex::new(state),
        }
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
                let my_turn = priority == Priority::Interactive
                    || s.interactive_waiting == usize::from(waiting.is_some());
                match self.try_take(&mut s, Instant::now(), my_turn) {
                    None => return, // `waiting` drops and deregisters
                    Some(at) => at,
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

    /// Takes a permit (`None`) or says when to look again.
    fn try_take(&self, s: &mut State, now: Instant, my_turn: bool) -> Option<Instant> {
        let span = super::span(self.window);
        if let Some(p) = s.paused_until {
            if now < p {
                return Some(p);
            }
            s.paused_until = None;
        }
        while s.started.front().is_some_and(|t| now >= *t + span) {
            s.started.pop_front();
        }
        if s.told.is_some_and(|(_, until)| now >= until) {
            s.told = None;
        }
        if let Probe::Out(deadline) = s.probe {
            if now < deadline {
                return Some(deadline.min(now + PROBE_LOOK));
            }
            s.probe = Probe::Done;
        }
        let full = s.started.len() >= self.limit as usize;
        let told_none = s
            .told
            .filter(|(left, _)| *left == 0)
            .map(|(_, until)| until);
        if !full && told_none.is_none() {
            if !my_turn {
                // Background yields to a blocked interactive caller, which is about
                // to take the permit.
                return Some(now + Duration::from_millis(5));
            }
            s.started.push_back(now);
            if let Some((left, _)) = s.told.as_mut() {
                *left -= 1;
            }
            if s.probe == Probe::Due {
                s.probe = Probe::Out(now + self.window / 10);
            }
            return None;
        }
        let log_frees = full.then(|| s.started.front().map(|t| *t + span)).flatten();
        Some(log_frees.max(told_none).unwrap_or(now + PROBE_LOOK))
    }

    /// Learns from an answer: `requests-remaining` (when sent) and 429. Any outcome,
    /// even a failure, releases the callers a probe held back.
    pub fn observe(&self, status: Option<u16>, remaining: Option<u32>) {
        if self.limit == 0 {
            return;
        }
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if matches!(s.probe, Probe::Out(_)) {
            s.probe = Probe::Done;
        }
        let now = Instant::now();
        let span = super::span(self.window);
        if status == Some(429) {
            // We do not know when NumHub's window ends: wait a whole span.
            s.paused_until = Some(now + span);
            return;
        }
        if let Some(r) = remaining {
            s.told = match s.told {
                Some((left, until)) if now < until => Some((left.min(r), until)),
                _ => Some((r, now + span)),
            };
        }
    }
}

/// Each tenant's share of the calls its callers start over the socket, in memory: a
/// sliding minute of start times per tenant.
#[derive(Default)]
pub struct LocalShares {
    starts: Mutex<std::collections::HashMap<i64, std::collections::VecDeque<Instant>>>,
}

/// The minute a tenant's share is counted over.
const BUDGET_WINDOW: Duration = Duration::from_secs(60);

impl LocalShares {
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
        let g = std::sync::Arc::new(Local::new(2, Duration::from_secs(10)));
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

    /// A restart inside a spent window: the resumed governor waits for the span of
    /// the requests the last process started, then its first request goes alone until
    /// NumHub's answer says what is left.
    #[tokio::test(start_paused = true)]
    async fn resumed_waits_out_the_last_span_and_probes_first() {
        let window = Duration::from_secs(10);
        let start = Instant::now();
        let spent = vec![start - Duration::from_secs(2); 3];
        let g = std::sync::Arc::new(Local::resumed(3, window, spent));
        g.acquire(Priority::Background).await;
        let first = start.elapsed();
        assert!(
            first >= crate::numhub::governor::span(window) - Duration::from_secs(2),
            "{first:?}"
        );
        // The probe is out: a second caller waits for its answer.
        let second = {
            let g = g.clone();
            tokio::spawn(async move {
                g.acquire(Priority::Background).await;
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let answered = Instant::now();
        g.observe(Some(200), Some(1));
        let second = second.await.expect("second");
        assert!(second >= answered, "went before the probe's answer");
        // NumHub said one was left, and the second took it.
        let t = Instant::now();
        g.acquire(Priority::Background).await;
        assert!(t.elapsed() >= Duration::from_secs(9), "{:?}", t.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_header_and_429_pause() {
        let g = Local::new(100, Duration::from_secs(10));
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
