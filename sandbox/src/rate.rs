//! Fixed-window rate limiting per account (the Email for token calls, the token's user
//! otherwise), on real time so tests with a 1-2 s window stay quick. Each account's
//! finished windows are kept as the number of requests each counted, so a test can
//! show a budget was both respected and used ([`RateLimiter::windows`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What `requests-remaining` says when the limit is off (rate limit 0).
pub const UNLIMITED_REMAINING: u32 = i32::MAX as u32;

#[derive(Debug)]
pub struct RateLimiter {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    limit: u32,
    window: Duration,
    windows: HashMap<String, (Instant, u32)>,
    /// Per account, the requests counted in each of its finished windows, in order.
    closed: HashMap<String, Vec<u32>>,
}

/// One account's windows: the finished ones' counts in order, and the open one's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccountWindows {
    pub closed: Vec<u32>,
    pub current: u32,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            inner: Mutex::new(Inner {
                limit,
                window,
                windows: HashMap::new(),
                closed: HashMap::new(),
            }),
        }
    }

    /// Starts every account on a fresh window.
    pub fn configure(&self, limit: u32, window: Duration) {
        let mut g = self.lock();
        g.limit = limit;
        g.window = window;
        g.windows.clear();
        g.closed.clear();
    }

    pub fn settings(&self) -> (u32, Duration) {
        let g = self.lock();
        (g.limit, g.window)
    }

    /// What `requests-remaining` says on an answer that was not counted (e.g. a 401).
    pub fn full(&self) -> u32 {
        match self.lock().limit {
            0 => UNLIMITED_REMAINING,
            n => n,
        }
    }

    /// What `requests-remaining` says for `key` without counting a request.
    pub fn peek(&self, key: &str) -> u32 {
        let g = self.lock();
        if g.limit == 0 {
            return UNLIMITED_REMAINING;
        }
        match g.windows.get(key) {
            Some((start, used)) if start.elapsed() < g.window => g.limit.saturating_sub(*used),
            _ => g.limit,
        }
    }

    /// Counts one request; `Ok(remaining)` or `Err(())` once the window is used up.
    pub fn hit(&self, key: &str) -> Result<u32, ()> {
        let mut g = self.lock();
        if g.limit == 0 {
            return Ok(UNLIMITED_REMAINING);
        }
        let (limit, window) = (g.limit, g.window);
        let now = Instant::now();
        let inner = &mut *g;
        let entry = inner.windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            inner
                .closed
                .entry(key.to_owned())
                .or_default()
                .push(entry.1);
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            return Err(());
        }
        entry.1 += 1;
        Ok(limit - entry.1)
    }

    /// Every account's windows so far (with a limit set; none while unlimited). A
    /// window that has run out but saw no request since still counts as open.
    pub fn windows(&self) -> BTreeMap<String, AccountWindows> {
        let g = self.lock();
        g.windows
            .iter()
            .map(|(key, (_, used))| {
                let closed = g.closed.get(key).cloned().unwrap_or_default();
                let w = AccountWindows {
                    closed,
                    current: *used,
                };
                (key.clone(), w)
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_windows_keep_their_counts() {
        let r = RateLimiter::new(2, Duration::from_millis(30));
        assert_eq!(r.hit("a"), Ok(1));
        assert_eq!(r.hit("a"), Ok(0));
        assert_eq!(r.hit("a"), Err(()));
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(40) {
            std::thread::yield_now();
        }
        assert_eq!(r.hit("a"), Ok(1));
        let w = r.windows();
        assert_eq!(
            w.get("a"),
            Some(&AccountWindows {
                closed: vec![2],
                current: 1
            })
        );
        r.configure(2, Duration::from_secs(1));
        assert!(r.windows().is_empty());
    }
}
