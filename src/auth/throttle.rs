//! Slows password guessing: too many failures for one email or one address inside the
//! window lock that email or address out until the window passes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// In-memory failure counts; a restart forgives, which is acceptable for throttling.
pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds the caller must wait if any of `keys` is locked out.
    pub fn retry_after(&self, keys: &[&str]) -> Option<u64> {
        let map = self.failures.lock().expect("throttle lock");
        keys.iter()
            .filter_map(|key| map.get(*key))
            .filter(|(count, _)| *count >= self.max_failures)
            .filter_map(|(_, since)| self.window.checked_sub(since.elapsed()))
            .map(|left| left.as_secs().max(1))
            .max()
    }

    /// Counts a failed attempt against each key.
    pub fn record_failure(&self, keys: &[&str]) {
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() > 100_000 {
            let window = self.window;
            map.retain(|_, (_, since)| since.elapsed() < window);
        }
        for key in keys {
            let entry = map.entry((*key).to_string()).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= self.window {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    /// Forgets failures after a successful sign-in.
    pub fn record_success(&self, keys: &[&str]) {
        let mut map = self.failures.lock().expect("throttle lock");
        for key in keys {
            map.remove(*key);
        }
    }
}
