//! A JSON API client bound to one workspace key, and waiting for a state to appear.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use reqwest::blocking::{Body, Client, RequestBuilder, Response};
use serde_json::Value;

use super::Herald;

/// Talks to Herald's JSON API with one workspace's key.
pub struct Api {
    pub base: String,
    pub key: String,
    pub client: Client,
}

impl Api {
    /// A new owner, workspace and key on `herald`.
    pub fn new(herald: &Herald, workspace: &str) -> Api {
        Api::with_key(herald, herald.workspace_with_key(workspace))
    }

    /// A client for an existing key.
    pub fn with_key(herald: &Herald, key: String) -> Api {
        Api {
            base: herald.base.clone(),
            key,
            client: Client::new(),
        }
    }

    /// The same server and key on a client with connections of its own, as a separate
    /// caller (another thread sending at the same time, say) would have.
    pub fn with_own_client(&self) -> Api {
        Api {
            base: self.base.clone(),
            key: self.key.clone(),
            client: Client::new(),
        }
    }

    /// A request for `method path` that carries the key, for callers that add headers
    /// (an `Idempotency-Key`, say) or a body of their own.
    pub fn request(&self, method: &str, path: &str) -> RequestBuilder {
        self.client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("X-API-Key", &self.key)
    }

    /// Sends `method path` with a JSON body (or none) and returns the raw response.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().unwrap()
    }

    /// Sends a body that is not (or not valid) JSON, such as a CSV upload, with its
    /// content type, and returns the raw response.
    pub fn send_body(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: impl Into<Body>,
    ) -> Response {
        self.request(method, path)
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap()
    }

    /// GETs and returns the raw response, whatever its status.
    pub fn get_response(&self, path: &str) -> Response {
        self.send("GET", path, None)
    }

    /// GETs and asserts 200.
    pub fn get(&self, path: &str) -> Value {
        let r = self.get_response(path);
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().unwrap()
    }

    /// POSTs JSON.
    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.send("POST", path, Some(body))
    }

    /// PUTs JSON.
    pub fn put(&self, path: &str, body: &Value) -> Response {
        self.send("PUT", path, Some(body))
    }

    /// PATCHes JSON.
    pub fn patch(&self, path: &str, body: &Value) -> Response {
        self.send("PATCH", path, Some(body))
    }

    /// DELETEs.
    pub fn delete(&self, path: &str) -> Response {
        self.send("DELETE", path, None)
    }

    /// POSTs JSON, asserts a 2xx, and returns the answer.
    pub fn post_ok(&self, path: &str, body: &Value) -> Value {
        let r = self.post(path, body);
        let status = r.status();
        let answer: Value = r.json().unwrap();
        assert!(status.is_success(), "POST {path}: {status} {answer}");
        answer
    }

    /// POSTs JSON that creates something, asserts a 2xx, and returns the new `id`.
    pub fn create(&self, path: &str, body: &Value) -> String {
        self.post_ok(path, body)["id"].as_str().unwrap().to_string()
    }

    /// The event log's entries for a query string such as `eventName=signUp`.
    pub fn events(&self, query: &str) -> Vec<Value> {
        self.get(&format!("/api/events?{query}"))["events"]
            .as_array()
            .unwrap()
            .clone()
    }
}

/// A response's status and JSON body.
pub fn status_and_json(r: Response) -> (u16, Value) {
    (r.status().as_u16(), r.json().unwrap())
}

/// Polls `check` until it holds, failing the test after `within`: a wait for a state,
/// never a sleep standing in for one.
pub fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Like [`wait_until`], for a state that is read: polls `read` until `done` holds for
/// what it returned, and returns that. A timeout shows the last value read.
pub fn wait_for<T: Debug>(
    what: &str,
    within: Duration,
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let value = read();
        if done(&value) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last saw {value:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
