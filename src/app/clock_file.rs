//! A clock a test can move from outside the process, for tests that kill the real binary.
//!
//! A test that kills Herald with `kill -9` cannot hand it a manual [`Clock`] in memory.
//! When `HERALD_CLOCK_FILE` names a file holding Unix milliseconds, the server runs on a
//! manual clock that starts at that reading and follows the file forward (it never goes
//! back): the test writes a later time to the file, and the waits, leases and retries that
//! come due run at once, in the restarted process as in the first. Production never sets
//! the variable; when it is set, the server says so in its log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::kinds::time::Clock;

/// The variable that names the file.
pub const VARIABLE: &str = "HERALD_CLOCK_FILE";

/// How often the file is read for a new time.
const POLL: Duration = Duration::from_millis(10);

/// The system clock, or the file-driven clock when [`VARIABLE`] is set.
pub fn from_environment() -> anyhow::Result<Clock> {
    let Some(path) = std::env::var_os(VARIABLE).map(PathBuf::from) else {
        return Ok(Clock::system());
    };
    let start = read(&path).ok_or_else(|| {
        anyhow::anyhow!(
            "{VARIABLE}={} must name a file holding Unix milliseconds",
            path.display()
        )
    })?;
    let clock = Clock::manual(start);
    let follower = clock.clone();
    std::thread::Builder::new()
        .name("clock-file".into())
        .spawn(move || {
            loop {
                std::thread::sleep(POLL);
                if let Some(at) = read(&path) {
                    follower.advance_to(at);
                }
            }
        })?;
    tracing::warn!(
        variable = VARIABLE,
        start,
        "time comes from a file, for tests"
    );
    Ok(clock)
}

fn read(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
