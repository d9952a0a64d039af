//! Accept errors (EMFILE, ENFILE, ENOBUFS…) slow the accept loop down instead of
//! spinning it: the listener stays readable while accept(2) keeps failing, so each
//! failure waits before the next try, 10 ms doubling up to a second. A burst of
//! failures is logged once when it starts and once when accepts succeed again.

use std::time::{Duration, Instant};

const FIRST: Duration = Duration::from_millis(10);
const MAX: Duration = Duration::from_secs(1);

/// The accept loop's state between failures.
#[derive(Debug)]
pub struct AcceptBackoff {
    /// Failures in the current burst (0: none).
    failures: u64,
    started: Instant,
    next: Duration,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff {
            failures: 0,
            started: Instant::now(),
            next: FIRST,
        }
    }
}

impl AcceptBackoff {
    /// An accept failed with `error`: how long to wait before the next.
    pub fn failed(&mut self, error: &std::io::Error) -> Duration {
        if self.failures == 0 {
            self.started = Instant::now();
            tracing::warn!(
                %error,
                "accept failed; retrying with backoff up to 1 s (logged once until accepts succeed again)"
            );
        }
        self.failures += 1;
        let wait = self.next;
        self.next = (self.next * 2).min(MAX);
        wait
    }

    /// An accept succeeded: ends the burst, if there was one.
    pub fn accepted(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                failures = self.failures,
                seconds = self.started.elapsed().as_secs(),
                "accepting again after a burst of accept errors"
            );
            *self = AcceptBackoff::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_a_second_and_start_again_after_a_success() {
        let mut b = AcceptBackoff::default();
        let e = std::io::Error::from_raw_os_error(libc::EMFILE);
        let waits: Vec<u64> = (0..10).map(|_| b.failed(&e).as_millis() as u64).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        b.accepted();
        assert_eq!(b.failed(&e), FIRST);
    }
}
