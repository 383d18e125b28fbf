//! Slows password guessing without handing a guesser a way to lock someone else out.
//!
//! Failed sign-ins are counted three ways inside `auth.login_window_secs`, each counter
//! locking only what it counts until its window passes:
//! - per (email, address) pair, `auth.login_max_failures`: the guesser at one address is
//!   stopped for that email, while the owner of the email signs in from anywhere else;
//! - per address, `auth.login_address_max_failures` (higher): one address trying many
//!   emails is stopped for all of them;
//! - overall, `auth.login_global_max_failures` (higher still): a guess spread over many
//!   addresses is stopped too, except from addresses that recently signed in
//!   successfully, so people who use Herald from their usual places keep getting in.
//!
//! IPv6 addresses are counted per /64, the block one customer usually holds, so a
//! single host cannot rotate through its own prefix. Times are passed in by the caller,
//! which is what lets the window logic be tested with explicit instants.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most counters and remembered addresses kept before expired ones are pruned.
const PRUNE_ABOVE: usize = 100_000;
/// How long a successful sign-in exempts its address from the overall limit.
const KNOWN_ADDRESS_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// The thresholds, from `[auth]`.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Failures of one email from one address before that pair is locked.
    pub pair_max: u32,
    /// Failures from one address, any email, before the address is locked.
    pub address_max: u32,
    /// Failures overall before unknown addresses are locked.
    pub global_max: u32,
    /// How long failures count, and how long a lock lasts from the first of them.
    pub window: Duration,
}

/// The address a counter is kept for: IPv4 as is, IPv6 by /64, `None` when unknown.
type AddressKey = Option<IpAddr>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, AddressKey),
    Address(AddressKey),
    Global,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    since: Instant,
}

#[derive(Default)]
struct State {
    counters: HashMap<Key, Counter>,
    /// Addresses with a recent successful sign-in, and when it was.
    known: HashMap<AddressKey, Instant>,
}

/// In-memory failure counts; a restart forgives, which is acceptable for throttling.
pub struct LoginThrottle {
    limits: ThrottleLimits,
    state: Mutex<State>,
}

impl LoginThrottle {
    /// A throttle with no failures recorded yet.
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            limits,
            state: Mutex::new(State::default()),
        }
    }

    /// Seconds the caller must wait before trying `email` from `address` at `now`, if
    /// any of the three limits is reached. Counts nothing; see [`Self::try_attempt`].
    pub fn retry_after(&self, email: &str, address: Option<IpAddr>, now: Instant) -> Option<u64> {
        let state = self.state.lock().expect("throttle lock");
        self.wait(&state, email, address_key(address), now)
    }

    /// Lets an attempt at `email` from `address` go ahead at `now`, counting it as a
    /// failure straight away, or says how many seconds to wait.
    ///
    /// Checking and counting happen under one lock, before the slow password check, so
    /// guesses sent in parallel cannot all pass the check before any is counted. A
    /// correct password takes its count back with [`Self::record_success`].
    pub fn try_attempt(
        &self,
        email: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), u64> {
        let address = address_key(address);
        let mut state = self.state.lock().expect("throttle lock");
        if let Some(wait) = self.wait(&state, email, address, now) {
            return Err(wait);
        }
        if state.counters.len() > PRUNE_ABOVE {
            let window = self.limits.window;
            state
                .counters
                .retain(|_, c| now.saturating_duration_since(c.since) < window);
        }
        for key in [
            Key::Pair(email.to_string(), address),
            Key::Address(address),
            Key::Global,
        ] {
            let counter = state.counters.entry(key).or_insert(Counter {
                failures: 0,
                since: now,
            });
            if self.left(counter, now).is_none() {
                *counter = Counter {
                    failures: 0,
                    since: now,
                };
            }
            counter.failures += 1;
        }
        Ok(())
    }

    fn wait(&self, state: &State, email: &str, address: AddressKey, now: Instant) -> Option<u64> {
        let known = state
            .known
            .get(&address)
            .is_some_and(|at| now.saturating_duration_since(*at) < KNOWN_ADDRESS_FOR);
        let mut checks = vec![
            (Key::Pair(email.to_string(), address), self.limits.pair_max),
            (Key::Address(address), self.limits.address_max),
        ];
        if !known {
            checks.push((Key::Global, self.limits.global_max));
        }
        checks
            .into_iter()
            .filter_map(|(key, max)| {
                let counter = state.counters.get(&key)?;
                (counter.failures >= max).then_some(())?;
                self.left(counter, now)
            })
            .map(|left| left.as_secs().max(1))
            .max()
    }

    /// After the attempt [`Self::try_attempt`] let through turned out to be the right
    /// password: forgets the pair's failures, takes that attempt's count back from the
    /// address and overall counters, and remembers the address as one people sign in from.
    ///
    /// Earlier failures of the address are kept: clearing them would let a guesser with
    /// an account of their own reset their address's budget by signing in between guesses.
    pub fn record_success(&self, email: &str, address: Option<IpAddr>, now: Instant) {
        let address = address_key(address);
        let mut state = self.state.lock().expect("throttle lock");
        state
            .counters
            .remove(&Key::Pair(email.to_string(), address));
        for key in [Key::Address(address), Key::Global] {
            if let Some(counter) = state.counters.get_mut(&key) {
                counter.failures = counter.failures.saturating_sub(1);
            }
        }
        if state.known.len() > PRUNE_ABOVE {
            state
                .known
                .retain(|_, at| now.saturating_duration_since(*at) < KNOWN_ADDRESS_FOR);
        }
        if state.known.len() <= PRUNE_ABOVE {
            state.known.insert(address, now);
        }
    }

    /// Time left in the counter's window at `now`, `None` once it has passed.
    fn left(&self, counter: &Counter, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(counter.since);
        self.limits
            .window
            .checked_sub(elapsed)
            .filter(|left| !left.is_zero())
    }
}

fn address_key(address: Option<IpAddr>) -> AddressKey {
    address.map(|ip| match ip {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VICTIM: &str = "victim@example.com";

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleLimits {
            pair_max: 3,
            address_max: 5,
            global_max: 8,
            window: Duration::from_secs(300),
        })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// `times` attempts that turn out to be wrong passwords.
    fn fail(t: &LoginThrottle, email: &str, address: &str, times: u32, at: Instant) {
        for _ in 0..times {
            assert_eq!(t.try_attempt(email, ip(address), at), Ok(()));
        }
    }

    /// An attempt with the right password.
    fn succeed(t: &LoginThrottle, email: &str, address: &str, at: Instant) {
        assert_eq!(t.try_attempt(email, ip(address), at), Ok(()));
        t.record_success(email, ip(address), at);
    }

    #[test]
    fn failures_lock_only_the_pair_that_made_them() {
        let (t, t0) = (throttle(), Instant::now());
        fail(&t, VICTIM, "198.51.100.1", 2, t0);
        assert_eq!(t.retry_after(VICTIM, ip("198.51.100.1"), t0), None);
        fail(&t, VICTIM, "198.51.100.1", 1, t0);
        assert_eq!(t.retry_after(VICTIM, ip("198.51.100.1"), t0), Some(300));
        assert_eq!(t.retry_after(VICTIM, ip("198.51.100.2"), t0), None);
        assert_eq!(
            t.retry_after("other@example.com", ip("198.51.100.1"), t0),
            None
        );
    }

    #[test]
    fn a_lock_lasts_until_the_window_from_the_first_failure_passes() {
        let (t, t0) = (throttle(), Instant::now());
        fail(&t, VICTIM, "198.51.100.1", 3, t0);
        let later = t0 + Duration::from_secs(299);
        assert_eq!(t.retry_after(VICTIM, ip("198.51.100.1"), later), Some(1));
        let expired = t0 + Duration::from_secs(300);
        assert_eq!(t.retry_after(VICTIM, ip("198.51.100.1"), expired), None);
        // A failure after the window starts a fresh count rather than adding to the old.
        fail(&t, VICTIM, "198.51.100.1", 1, expired);
        assert_eq!(t.retry_after(VICTIM, ip("198.51.100.1"), expired), None);
    }

    #[test]
    fn failures_spread_over_windows_never_lock() {
        let (t, t0) = (throttle(), Instant::now());
        for n in 0..10 {
            let at = t0 + Duration::from_secs(200 * n);
            fail(&t, VICTIM, "198.51.100.1", 1, at);
            assert_eq!(t.retry_after(VICTIM, ip("198.51.100.1"), at), None, "{n}");
        }
    }

    #[test]
    fn one_address_trying_many_emails_is_locked_for_all() {
        let (t, t0) = (throttle(), Instant::now());
        for n in 0..5 {
            fail(&t, &format!("u{n}@example.com"), "198.51.100.1", 1, t0);
        }
        assert!(
            t.retry_after("new@example.com", ip("198.51.100.1"), t0)
                .is_some()
        );
        assert_eq!(
            t.retry_after("new@example.com", ip("198.51.100.2"), t0),
            None
        );
    }

    #[test]
    fn ipv6_addresses_in_one_slash_64_share_a_counter() {
        let (t, t0) = (throttle(), Instant::now());
        for n in 1..=5 {
            let address = format!("2001:db8:1:2::{n:x}");
            fail(&t, &format!("u{n}@example.com"), &address, 1, t0);
        }
        assert!(
            t.retry_after("x@example.com", ip("2001:db8:1:2::ffff"), t0)
                .is_some()
        );
        assert_eq!(
            t.retry_after("x@example.com", ip("2001:db8:1:3::1"), t0),
            None
        );
    }

    #[test]
    fn the_overall_limit_spares_addresses_that_signed_in_before() {
        let (t, t0) = (throttle(), Instant::now());
        succeed(&t, VICTIM, "192.0.2.10", t0);
        for n in 0..8 {
            fail(&t, VICTIM, &format!("198.51.100.{n}"), 1, t0);
        }
        assert!(t.retry_after(VICTIM, ip("203.0.113.1"), t0).is_some());
        assert_eq!(t.retry_after(VICTIM, ip("192.0.2.10"), t0), None);
        let after = t0 + Duration::from_secs(300);
        assert_eq!(t.retry_after(VICTIM, ip("203.0.113.1"), after), None);
    }

    #[test]
    fn success_forgets_the_pair_but_not_the_address_budget() {
        let (t, t0) = (throttle(), Instant::now());
        fail(&t, VICTIM, "198.51.100.1", 2, t0);
        fail(&t, "other@example.com", "198.51.100.1", 2, t0);
        succeed(&t, VICTIM, "198.51.100.1", t0);
        fail(&t, VICTIM, "198.51.100.1", 1, t0);
        assert_eq!(t.retry_after(VICTIM, ip("198.51.100.1"), t0), Some(300));
    }

    #[test]
    fn an_unknown_address_is_counted_as_one_address() {
        let (t, t0) = (throttle(), Instant::now());
        for _ in 0..3 {
            assert_eq!(t.try_attempt(VICTIM, None, t0), Ok(()));
        }
        assert!(t.retry_after(VICTIM, None, t0).is_some());
        assert_eq!(t.retry_after(VICTIM, ip("198.51.100.1"), t0), None);
    }

    #[test]
    fn attempts_are_counted_before_the_password_is_checked() {
        // Guesses racing each other: none has failed yet when the next one is let in.
        let (t, t0) = (throttle(), Instant::now());
        for _ in 0..3 {
            assert_eq!(t.try_attempt(VICTIM, ip("198.51.100.1"), t0), Ok(()));
        }
        assert_eq!(t.try_attempt(VICTIM, ip("198.51.100.1"), t0), Err(300));
    }

    #[test]
    fn a_right_password_gives_its_attempt_back() {
        let (t, t0) = (throttle(), Instant::now());
        for n in 0..8 {
            succeed(&t, &format!("u{n}@example.com"), "198.51.100.1", t0);
        }
        assert_eq!(
            t.retry_after("u9@example.com", ip("198.51.100.1"), t0),
            None
        );
    }
}
