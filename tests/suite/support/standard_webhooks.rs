//! Verifying a delivered call with the official Standard Webhooks library (the
//! `standardwebhooks` PyPI package, which `.ci/run` installs).

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Whether the library accepts `body` with these `webhook-*` headers and `secret`
/// (`whsec_…`); `None` when python3 or the package is missing, which only happens off CI.
pub fn verifies(secret: &str, headers: &Value, body: &str) -> Option<bool> {
    let present = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs standardwebhooks"
        );
        return None;
    }
    let script = "import sys, json\nfrom standardwebhooks import Webhook\n\
                  Webhook(sys.argv[1]).verify(sys.stdin.read(), json.loads(sys.argv[2]))";
    let mut child = Command::new("python3")
        .args(["-c", script, secret, &headers.to_string()])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    Some(child.wait().unwrap().success())
}
