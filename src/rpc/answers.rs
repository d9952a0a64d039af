//! Answers of the point reads (`entity.get` and the other `*.get` methods), kept until
//! the store's next commit.
//!
//! Apps poll: a page showing an application's vetting asks `entity.get` for the same
//! row again and again, and between two commits the answer cannot change. Reading
//! SQLite for it costs the server about as much CPU as the whole rest of the call
//! (docs/BENCHMARKS.md), so the answer is kept in memory, tagged with the store's
//! generation read before the handler ran. Any commit moves the generation on: from
//! then no kept answer is served, and the next one kept starts the cache afresh.
//! There is no per-row invalidation to get wrong.
//! Access checks and parameter validation run before the lookup, as for every call.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::value::RawValue;

pub struct Answers {
    max_bytes: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    generation: u64,
    bytes: usize,
    /// Method name, then the call's params exactly as sent.
    by_method: HashMap<&'static str, HashMap<Box<str>, Box<RawValue>>>,
}

impl State {
    fn clear(&mut self, generation: u64) {
        self.generation = generation;
        self.bytes = 0;
        self.by_method.clear();
    }
}

impl Answers {
    /// A cache holding at most `max_bytes` of params and answers; 0 turns it off.
    pub fn new(max_bytes: usize) -> Answers {
        Answers {
            max_bytes,
            state: Mutex::default(),
        }
    }

    /// The answer kept for `method` with these `params`, if it was read at the
    /// store's current `generation`.
    pub fn get(&self, generation: u64, method: &str, params: &str) -> Option<Box<RawValue>> {
        if self.max_bytes == 0 {
            return None;
        }
        let state = self.state.lock().ok()?;
        if state.generation != generation {
            return None;
        }
        state.by_method.get(method)?.get(params).cloned()
    }

    /// Keeps `answer`, read by a handler that started at `generation`.
    pub fn put(&self, generation: u64, method: &'static str, params: &str, answer: &RawValue) {
        let size = params.len() + answer.get().len();
        if size > self.max_bytes {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        // Read before a commit the cache has already seen: it may predate it.
        if generation < state.generation {
            return;
        }
        // A new generation, or full: between two commits only the rows being polled
        // are asked for, so starting over is cheaper than tracking what is oldest.
        if generation > state.generation || state.bytes + size > self.max_bytes {
            state.clear(generation);
        }
        let calls = state.by_method.entry(method).or_default();
        if calls.insert(params.into(), answer.to_owned()).is_none() {
            state.bytes += size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).expect("json")
    }

    fn got(a: &Answers, generation: u64, params: &str) -> Option<String> {
        a.get(generation, "entity.get", params)
            .map(|r| r.get().to_string())
    }

    #[test]
    fn an_answer_lives_until_the_next_commit() {
        let a = Answers::new(1 << 20);
        a.put(
            7,
            "entity.get",
            r#"{"id":"a"}"#,
            &raw(r#"{"status":"draft"}"#),
        );
        assert_eq!(
            got(&a, 7, r#"{"id":"a"}"#).as_deref(),
            Some(r#"{"status":"draft"}"#)
        );
        assert_eq!(got(&a, 7, r#"{"id":"b"}"#), None, "other params");
        assert_eq!(a.get(7, "identity.get", r#"{"id":"a"}"#).map(|_| ()), None);
        assert_eq!(got(&a, 8, r#"{"id":"a"}"#), None, "after a commit");
        // Once the cache has seen generation 8, an answer read at 7 may be older
        // than that commit and is not kept.
        a.put(8, "entity.get", r#"{"id":"b"}"#, &raw("1"));
        a.put(7, "entity.get", r#"{"id":"a"}"#, &raw("2"));
        assert_eq!(got(&a, 7, r#"{"id":"a"}"#), None);
        assert_eq!(got(&a, 8, r#"{"id":"a"}"#), None);
        assert_eq!(got(&a, 8, r#"{"id":"b"}"#).as_deref(), Some("1"));
    }

    #[test]
    fn it_holds_no_more_than_its_size_and_nothing_when_off() {
        let a = Answers::new(40);
        a.put(
            1,
            "entity.get",
            "p1",
            &raw(&format!("\"{}\"", "x".repeat(20))),
        );
        a.put(
            1,
            "entity.get",
            "p2",
            &raw(&format!("\"{}\"", "y".repeat(20))),
        );
        assert_eq!(got(&a, 1, "p1"), None, "dropped to make room");
        assert!(got(&a, 1, "p2").is_some());
        a.put(
            1,
            "entity.get",
            "p3",
            &raw(&format!("\"{}\"", "z".repeat(60))),
        );
        assert_eq!(got(&a, 1, "p3"), None, "larger than the whole cache");

        let off = Answers::new(0);
        off.put(1, "entity.get", "p", &raw("1"));
        assert_eq!(got(&off, 1, "p"), None);
    }
}
