//! Time: the one [`Clock`] everything reads, and the timestamp formats the APIs speak.
//!
//! Herald stores times as Unix milliseconds. Every wait, retry, lease, expiry and window
//! asks a `Clock` for "now" instead of the operating system, so a test can build Herald
//! with [`Clock::manual`], move time forward with [`Clock::advance`] and watch what comes
//! due, without sleeping. Loops that wait for a moment call [`Clock::sleep_until`], which
//! a manual clock ends as soon as it is advanced past that moment.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Where "now" comes from; cheap to clone, all clones share one time.
#[derive(Clone)]
pub struct Clock(Arc<Source>);

enum Source {
    System,
    Manual {
        now_ms: AtomicI64,
        moved: Notify,
        /// The real instant the manual clock was made, and its reading then: what
        /// [`Clock::instant`] counts from.
        origin: (Instant, i64),
    },
}

impl Clock {
    /// The operating system's clock: what the server runs on.
    pub fn system() -> Self {
        Clock(Arc::new(Source::System))
    }

    /// A clock that stands still at `start_ms` until [`Clock::advance`] moves it.
    pub fn manual(start_ms: i64) -> Self {
        Clock(Arc::new(Source::Manual {
            now_ms: AtomicI64::new(start_ms),
            moved: Notify::new(),
            origin: (Instant::now(), start_ms),
        }))
    }

    /// Current time, Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &*self.0 {
            Source::System => system_now_ms(),
            Source::Manual { now_ms, .. } => now_ms.load(Ordering::Acquire),
        }
    }

    /// "Now" as a monotonic instant, for code that measures windows with `Instant`s (the
    /// login throttle, rate limits): on a manual clock it moves only when advanced.
    pub fn instant(&self) -> Instant {
        match &*self.0 {
            Source::System => Instant::now(),
            Source::Manual {
                now_ms,
                origin: (at, start),
                ..
            } => {
                *at + Duration::from_millis((now_ms.load(Ordering::Acquire) - start).max(0) as u64)
            }
        }
    }

    /// Whether this clock only moves when told to (tests).
    pub fn is_manual(&self) -> bool {
        matches!(&*self.0, Source::Manual { .. })
    }

    /// Moves a manual clock forward and wakes everything sleeping on it.
    ///
    /// # Panics
    /// On the system clock, which nobody can move.
    pub fn advance(&self, by: Duration) {
        match &*self.0 {
            Source::System => panic!("the system clock cannot be advanced"),
            Source::Manual { now_ms, moved, .. } => {
                now_ms.fetch_add(by.as_millis() as i64, Ordering::AcqRel);
                moved.notify_waiters();
            }
        }
    }

    /// Moves a manual clock forward to `at_ms`; a moment already passed leaves it as it is.
    ///
    /// # Panics
    /// On the system clock, which nobody can move.
    pub fn advance_to(&self, at_ms: i64) {
        let behind = at_ms - self.now_ms();
        if behind > 0 {
            self.advance(Duration::from_millis(behind as u64));
        }
    }

    /// Waits until this clock reads `at_ms` or later, or `limit` of real time passes,
    /// whichever is first: a loop's safety net against missed wake-ups.
    pub async fn sleep_until(&self, at_ms: i64, limit: Duration) {
        match &*self.0 {
            Source::System => {
                let wait = (at_ms - system_now_ms()).max(0) as u64;
                tokio::time::sleep(Duration::from_millis(wait).min(limit)).await;
            }
            Source::Manual { now_ms, moved, .. } => {
                let _ = tokio::time::timeout(limit, async {
                    loop {
                        let notified = moved.notified();
                        if now_ms.load(Ordering::Acquire) >= at_ms {
                            return;
                        }
                        notified.await;
                    }
                })
                .await;
            }
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Manual { now_ms, .. } => {
                write!(f, "Clock::manual({})", now_ms.load(Ordering::Relaxed))
            }
        }
    }
}

fn system_now_ms() -> i64 {
    ::time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// Formats Unix milliseconds as ISO 8601 with milliseconds, as the APIs return times.
pub fn iso_time(ms: i64) -> String {
    let format = ::time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    ::time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Parses an ISO 8601 / RFC 3339 timestamp (or a bare date, as midnight UTC) to Unix ms.
pub fn parse_time(s: &str) -> Option<i64> {
    use ::time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(t) = ::time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let date = ::time::Date::parse(
        s,
        &::time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_advanced_past_their_time() {
        let clock = Clock::manual(1_000);
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(61_000, Duration::from_secs(60)).await })
        };
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(30));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke before its time");
        clock.advance(Duration::from_secs(30));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("a sleeper past its time wakes")
            .unwrap();
        assert_eq!(clock.now_ms(), 61_000);
    }
}
