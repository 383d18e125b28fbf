//! Per-API-key token buckets. Over the limit: 429 with `Retry-After` (never 0) and the
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, RETRY_AFTER};

use super::ApiError;
use crate::config::RateLimitConfig;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets for every key seen since start.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<i64, Bucket>>,
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            rate: config.requests_per_second,
            burst: config.burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key_id`, or explains how long to wait.
    pub fn check(&self, key_id: i64, now: Instant) -> Result<(), ApiError> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        let bucket = buckets.entry(key_id).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / self.rate).ceil().max(1.0) as u64;
        let full = ((self.burst - bucket.tokens) / self.rate).ceil().max(1.0) as u64;
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit exceeded; retry after the time in Retry-After",
        )
        .with_header(RETRY_AFTER, &wait.to_string())
        .with_header(
            HeaderName::from_static("ratelimit-limit"),
            &format!("{}", self.burst as u64),
        )
        .with_header(HeaderName::from_static("ratelimit-remaining"), "0")
        .with_header(
            HeaderName::from_static("ratelimit-reset"),
            &full.min(wait.max(1)).to_string(),
        ))
    }
}
