//! Faults on demand, drawn from a seeded generator so a run with the same seed and the
//! same request order repeats exactly.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Fault settings. `Faults::default()` (or `{}` over HTTP) injects nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub seed: u64,
    /// Probability of answering 500 (no body) instead of handling the request.
    pub p500: f64,
    /// Probability of answering 503 (no body).
    pub p503: f64,
    /// Probability of resetting the connection before answering.
    pub p_reset: f64,
    /// `POST /api/v1/application` only: probability of resetting the connection after the
    /// entity was created, so the client cannot tell the create happened.
    pub p_reset_after_create: f64,
    /// `POST /api/v1/application` and document uploads: probability of answering 500
    /// after the request took effect (a server that failed after its commit). Drawn
    /// from the same number as `p_reset_after_create`, so the two never coincide.
    pub p_500_after_commit: f64,
    /// Added to every `/api/v1` request before it is handled.
    pub latency_ms: u64,
    /// Probability of handling the request and then answering it as `malformed` says
    /// (the token route excepted, so a login still works and the operation's answer is
    /// the one mangled). Drawn from the same number as `p500`/`p503`/`p_reset`, after
    /// them, so a seed's sequence is the same whatever this is.
    pub p_malformed: f64,
    /// The misbehaviour `p_malformed` plays; none set → `p_malformed` does nothing.
    pub malformed: Option<Malformed>,
}

/// An answer NumHub's document never promises, as a proxy, a crashed backend or a
/// different server version would give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Malformed {
    /// 200, `application/json`, `Content-Length` 100 MiB of spaces, streamed.
    HugeBody,
    /// 200, `application/json`, chunked, a body that never ends.
    EndlessChunked,
    /// 200, `application/json`, JSON cut off in the middle of a string.
    InvalidJson,
    /// 502 with a proxy's HTML error page (`text/html`).
    HtmlError,
    /// The real answer's body, labelled `text/html; charset=utf-8`.
    WrongContentType,
    /// 200 with an empty body (`Content-Length: 0`, `application/json`).
    Empty200,
    /// The real answer with every date field (a key ending in `Date`) in .NET's
    /// US short form without an offset (`11/25/2026 3:04:05 PM`).
    OddDates,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    None,
    Status500,
    Status503,
    Reset,
}

/// What becomes of the answer of a create or upload that took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    None,
    /// Creates only: the connection is reset.
    Reset,
    /// Creates and uploads: a 500 instead of the answer.
    Status500,
}

#[derive(Debug, Clone, Copy)]
pub struct Draw {
    pub before: Before,
    pub after: After,
    pub latency_ms: u64,
    pub malformed: Option<Malformed>,
}

#[derive(Debug, Default)]
pub struct FaultState {
    inner: Mutex<(Faults, SplitMix64)>,
}

impl FaultState {
    pub fn set(&self, faults: Faults) {
        let mut g = lock(&self.inner);
        let rng = SplitMix64(faults.seed);
        *g = (faults, rng);
    }

    pub fn get(&self) -> Faults {
        lock(&self.inner).0.clone()
    }

    /// Always draws two numbers, whatever the route, so the sequence a seed gives does not
    /// depend on which routes were called.
    pub fn draw(&self) -> Draw {
        let mut g = lock(&self.inner);
        let (faults, rng) = &mut *g;
        let a = rng.next_f64();
        let b = rng.next_f64();
        let failing = faults.p500 + faults.p503 + faults.p_reset;
        let malformed = faults
            .malformed
            .filter(|_| a >= failing && a < failing + faults.p_malformed);
        let before = if a < faults.p500 {
            Before::Status500
        } else if a < faults.p500 + faults.p503 {
            Before::Status503
        } else if a < failing {
            Before::Reset
        } else {
            Before::None
        };
        Draw {
            before,
            after: if b < faults.p_reset_after_create {
                After::Reset
            } else if b < faults.p_reset_after_create + faults.p_500_after_commit {
                After::Status500
            } else {
                After::None
            },
            latency_ms: faults.latency_ms,
            malformed,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// SplitMix64: tiny, seedable, good enough for fault dice.
#[derive(Debug, Default)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
