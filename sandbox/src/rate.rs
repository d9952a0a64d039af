//! Fixed-window rate limiting per account (the Email for token calls, the token's user
//! otherwise), on real time so tests with a 1-2 s window stay quick.

use std::collections::HashMap;
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
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            inner: Mutex::new(Inner {
                limit,
                window,
                windows: HashMap::new(),
            }),
        }
    }

    /// Starts every account on a fresh window.
    pub fn configure(&self, limit: u32, window: Duration) {
        let mut g = self.lock();
        g.limit = limit;
        g.window = window;
        g.windows.clear();
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
        let entry = g.windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            return Err(());
        }
        entry.1 += 1;
        Ok(limit - entry.1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
