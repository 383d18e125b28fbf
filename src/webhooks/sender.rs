//! One HTTP attempt at an endpoint: the signed request, bounded by the endpoint's
//! timeout, to the addresses the SSRF policy checked (no redirects followed), and what
//! came back (status, the first 20 KB of the body, `Retry-After`).

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::Endpoint;
use super::deliveries::{Attempt, KEPT_BODY_BYTES};
use super::outbox::Message;
use super::signing::signature_header;
use crate::net::ssrf;

/// A client for one endpoint, for as long as its address check holds.
pub struct Connection {
    agent: ureq::Agent,
    checked_at: Instant,
}

/// How long one address check (and its pooled connections) is trusted before the URL is
/// resolved and checked again.
const RECHECK_AFTER: Duration = Duration::from_secs(60);

impl Connection {
    /// Resolves and checks the endpoint's URL; `Err` carries why it may not be called.
    pub fn open(endpoint: &Endpoint, allow_private: bool) -> Result<Connection, String> {
        let timeout = Duration::from_millis(endpoint.timeout_ms.max(1) as u64);
        let target =
            ssrf::resolve(&endpoint.url, allow_private, timeout).map_err(|e| e.to_string())?;
        Ok(Connection {
            agent: target.agent(timeout),
            checked_at: Instant::now(),
        })
    }

    /// Whether the address check is old enough to make again.
    pub fn stale(&self) -> bool {
        self.checked_at.elapsed() > RECHECK_AFTER
    }
}

/// The secrets that sign now: the current one, and the one before a rotation during its
/// grace period.
fn secrets(endpoint: &Endpoint, now_ms: i64) -> Vec<&str> {
    let mut out = vec![endpoint.secret.as_str()];
    if let Some((old, until)) = &endpoint.previous_secret
        && *until > now_ms
    {
        out.push(old.as_str());
    }
    out
}

/// The request headers, as sent and as logged (extra header values masked in the log).
fn headers(endpoint: &Endpoint, message: &Message, now_ms: i64) -> (Vec<(String, String)>, Value) {
    let timestamp = now_ms / 1000;
    let mut sent = vec![
        ("content-type".to_string(), "application/json".to_string()),
        (
            "user-agent".to_string(),
            format!("Herald-Webhooks/{}", env!("CARGO_PKG_VERSION")),
        ),
        ("webhook-id".to_string(), message.uid.clone()),
        ("webhook-timestamp".to_string(), timestamp.to_string()),
        (
            "webhook-signature".to_string(),
            signature_header(
                &secrets(endpoint, now_ms),
                &message.uid,
                timestamp,
                &message.body,
            ),
        ),
    ];
    let mut logged: Map<String, Value> = sent
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    for (k, v) in &endpoint.headers {
        sent.push((k.to_ascii_lowercase(), v.clone()));
        logged.insert(k.to_ascii_lowercase(), Value::String(super::masked(v)));
    }
    (sent, Value::Object(logged))
}

/// `Retry-After` in ms: delay-seconds only (an HTTP date is rare from webhook receivers).
fn retry_after(response: &ureq::http::Response<ureq::Body>) -> Option<i64> {
    let v = response.headers().get("retry-after")?.to_str().ok()?;
    v.trim()
        .parse::<i64>()
        .ok()
        .filter(|s| *s >= 0)
        .map(|s| s * 1000)
}

/// Makes one attempt; never panics, whatever the receiver does. `now_ms` is the store's
/// clock (the signature's timestamp); the duration is measured on the real clock.
pub fn attempt(
    connection: Result<&Connection, &str>,
    endpoint: &Endpoint,
    message: &Message,
    now_ms: i64,
) -> Attempt {
    let (sent, logged) = headers(endpoint, message, now_ms);
    let mut result = Attempt {
        at: now_ms,
        request_headers: logged,
        status: None,
        response_body: None,
        duration_ms: 0,
        error: None,
        retry_after_ms: None,
    };
    let connection = match connection {
        Ok(c) => c,
        Err(refused) => {
            result.error = Some(format!("not called: {refused}"));
            return result;
        }
    };
    let started = Instant::now();
    let mut request = connection.agent.post(&endpoint.url);
    for (k, v) in &sent {
        request = request.header(k.as_str(), v.as_str());
    }
    match request.send(message.body.as_str()) {
        Ok(mut response) => {
            let status = response.status().as_u16();
            result.status = Some(status);
            result.retry_after_ms = retry_after(&response);
            if (300..400).contains(&status) {
                result.error = Some(format!("HTTP {status}: redirects are not followed"));
            }
            let mut kept = Vec::new();
            let _ = response
                .body_mut()
                .as_reader()
                .take(KEPT_BODY_BYTES as u64)
                .read_to_end(&mut kept);
            if !kept.is_empty() {
                result.response_body = Some(String::from_utf8_lossy(&kept).into_owned());
            }
        }
        Err(e) => result.error = Some(e.to_string()),
    }
    result.duration_ms = started.elapsed().as_millis() as i64;
    result
}
