//! The public endpoint's rate limits: a token bucket per form and client address, and one
//! per form, both on the store's clock so tests move time instead of waiting. Buckets
//! live in the store's instance (`Instance::cache`), never in a static; a restart
//! forgets them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// How many submissions a bucket lets through per minute (and at once); 0 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_ip_per_minute: u32,
    pub per_form_per_minute: u32,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: i64,
}

/// Buckets beyond this many are pruned of the full ones (idle addresses).
const MAX_BUCKETS: usize = 100_000;

/// The buckets of every form; kept in the store instance.
#[derive(Default)]
pub struct FormLimiter {
    buckets: Mutex<HashMap<(i64, Option<IpAddr>), Bucket>>,
}

impl FormLimiter {
    /// Takes one submission from the form's address bucket and from its form bucket, or
    /// answers how many seconds to wait (at least 1). Nothing is taken when either is empty.
    pub fn check(
        &self,
        limits: Limits,
        form_id: i64,
        ip: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().expect("form limiter lock");
        if buckets.len() > MAX_BUCKETS {
            let (ip_rate, form_rate) = (limits.per_ip_per_minute, limits.per_form_per_minute);
            buckets.retain(|(_, ip), b| {
                let rate = if ip.is_some() { ip_rate } else { form_rate };
                refill(*b, rate, now_ms).tokens < f64::from(rate)
            });
        }
        let mut wait = 0u64;
        let mut next = Vec::with_capacity(2);
        // The form's own bucket is keyed without an address.
        for (key, rate) in [
            ((form_id, Some(ip_or_unknown(ip))), limits.per_ip_per_minute),
            ((form_id, None), limits.per_form_per_minute),
        ] {
            if rate == 0 {
                continue;
            }
            let bucket = buckets.get(&key).copied().unwrap_or(Bucket {
                tokens: f64::from(rate),
                updated_ms: now_ms,
            });
            let bucket = refill(bucket, rate, now_ms);
            if bucket.tokens < 1.0 {
                let per_sec = f64::from(rate) / 60.0;
                wait = wait.max(((1.0 - bucket.tokens) / per_sec).ceil().max(1.0) as u64);
            }
            next.push((key, bucket));
        }
        if wait > 0 {
            return Err(wait);
        }
        for (key, mut bucket) in next {
            bucket.tokens -= 1.0;
            buckets.insert(key, bucket);
        }
        Ok(())
    }
}

/// Requests without a known peer share one address bucket.
fn ip_or_unknown(ip: Option<IpAddr>) -> IpAddr {
    ip.unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn refill(bucket: Bucket, per_minute: u32, now_ms: i64) -> Bucket {
    let elapsed = (now_ms - bucket.updated_ms).max(0) as f64;
    let rate = f64::from(per_minute);
    Bucket {
        tokens: (bucket.tokens + elapsed * rate / 60_000.0).min(rate),
        updated_ms: now_ms.max(bucket.updated_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_waits_for_refill() {
        let limiter = FormLimiter::default();
        let limits = Limits {
            per_ip_per_minute: 2,
            per_form_per_minute: 0,
        };
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        assert!(limiter.check(limits, 1, ip, 0).is_ok());
        assert!(limiter.check(limits, 1, ip, 0).is_ok());
        assert_eq!(limiter.check(limits, 1, ip, 0), Err(30));
        // Another address and another form have buckets of their own.
        assert!(
            limiter
                .check(limits, 1, Some(IpAddr::from([10, 0, 0, 2])), 0)
                .is_ok()
        );
        assert!(limiter.check(limits, 2, ip, 0).is_ok());
        assert!(limiter.check(limits, 1, ip, 30_000).is_ok());
    }

    #[test]
    fn the_form_bucket_limits_every_address_together() {
        let limiter = FormLimiter::default();
        let limits = Limits {
            per_ip_per_minute: 0,
            per_form_per_minute: 1,
        };
        assert!(
            limiter
                .check(limits, 1, Some(IpAddr::from([1, 1, 1, 1])), 0)
                .is_ok()
        );
        assert_eq!(
            limiter.check(limits, 1, Some(IpAddr::from([2, 2, 2, 2])), 0),
            Err(60)
        );
    }
}
