//! A JSON API client bound to one workspace key, and waiting for a state to appear.

use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
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

    /// Sends `method path` with a JSON body (or none) and returns the raw response.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("X-API-Key", &self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().unwrap()
    }

    /// POSTs JSON.
    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.send("POST", path, Some(body))
    }

    /// POSTs JSON that creates something, asserts a 2xx, and returns the new `id`.
    pub fn create(&self, path: &str, body: &Value) -> String {
        let r = self.post(path, body);
        let status = r.status();
        let answer: Value = r.json().unwrap();
        assert!(status.is_success(), "POST {path}: {status} {answer}");
        answer["id"].as_str().unwrap().to_string()
    }

    /// GETs and asserts 200.
    pub fn get(&self, path: &str) -> Value {
        let r = self.send("GET", path, None);
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().unwrap()
    }
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
