//! Checking a DKIM signature with a real verifier: the `dkimpy` PyPI package (which
//! `.ci/run` installs), its `dkim.verify` given a DNS function that answers the record
//! Herald told the owner to publish.

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

const SCRIPT: &str = r#"
import sys, dkim
name, record = sys.argv[1], sys.argv[2]
def dnsfunc(n, timeout=5):
    n = n.decode() if isinstance(n, bytes) else n
    return record.encode() if n.rstrip('.') == name else None
sys.exit(0 if dkim.verify(sys.stdin.buffer.read(), dnsfunc=dnsfunc) else 1)
"#;

/// Whether dkimpy accepts the raw message `data` with `record` published at `name`;
/// `None` when python3 or dkimpy is missing, which only happens off CI.
pub fn verifies(data: &str, name: &str, record: &str) -> Option<bool> {
    let present = Command::new("python3")
        .args(["-c", "import dkim, nacl"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        assert!(std::env::var_os("CI").is_none(), "CI installs dkimpy");
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT, name, record])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data.as_bytes())
        .unwrap();
    Some(child.wait().unwrap().success())
}
