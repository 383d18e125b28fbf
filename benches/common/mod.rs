//! Helpers shared by the benches: starting the release binary, the CLI calls that create a
//! workspace and a key, a small keep-alive HTTP/1.1 load generator on tokio, percentiles,
//! memory sampling, the HTTP worker count every server gets, and the goal verdicts (the
//! figure-line format and the exit status).
#![allow(dead_code)]

mod load;
mod verdicts;

pub use load::*;
pub use verdicts::Verdicts;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_herald");

/// Environment every benchmarked server gets: the rate-limit code path runs but never
/// throttles, and logging stays quiet.
pub const LOAD_ENV: &[(&str, &str)] = &[
    ("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "1000000000"),
    ("HERALD_RATELIMIT__BURST", "1000000000"),
    ("HERALD_LOG__LEVEL", "warn"),
];

/// HTTP worker threads for Herald and for every baseline server or worker pool it is
/// compared with. The one source of the count, so a baseline can never get more (or fewer)
/// threads than Herald. It is what Herald's default (`server.workers = 0`, one per core)
/// resolves to, the same `available_parallelism` actix-server uses, but set explicitly on
/// both sides rather than left to two defaults.
pub fn http_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("RUST_LOG");
    for (k, v) in LOAD_ENV {
        cmd.env(k, v);
    }
    cmd.arg("--data-dir").arg(data_dir);
    cmd
}

/// Runs a CLI subcommand; panics with its stderr if it fails; returns stdout.
pub fn cli(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = command(data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run herald cli");
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "herald {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Creates an owner, a workspace (and the schema) and returns a new API key.
pub fn workspace_with_key(data_dir: &Path, workspace: &str) -> String {
    cli(
        data_dir,
        &[
            "user",
            "add",
            "--email",
            "owner@bench.example.com",
            "--workspace",
            workspace,
            "--role",
            "owner",
            "--password-stdin",
        ],
        Some("bench-owner-password\n"),
    );
    let out = cli(
        data_dir,
        &[
            "apikey",
            "create",
            "--workspace",
            workspace,
            "--name",
            "bench",
        ],
        None,
    );
    out.lines().last().unwrap().trim().to_string()
}

/// A running `herald serve` child process.
pub struct Server {
    pub port: u16,
    pub data_dir: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// Starts the server on a free loopback port with [`http_workers`] HTTP workers and
    /// waits for 200 on /healthz.
    pub fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.with_extension("log"))
            .unwrap();
        let mut cmd = command(data_dir);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        // Last, so nothing can give Herald a worker count its baselines do not share.
        cmd.env("HERALD_SERVER__WORKERS", http_workers().to_string());
        let child = cmd
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start herald");
        let mut server = Server {
            port,
            data_dir: data_dir.to_path_buf(),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if get_status(port, "/healthz") == Some(200) {
                return server;
            }
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "herald exited with {status}; log in {}",
                    data_dir.with_extension("log").display()
                );
            }
            assert!(Instant::now() < deadline, "herald did not become healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("herald.db")
    }

    /// SIGTERM, then wait (SIGKILL after 60 s).
    pub fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One GET on a fresh connection; the status code if the server answered.
pub fn get_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).ok()?;
    std::str::from_utf8(&buf[..n])
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

/// `(herald_db_commits_total, herald_db_writes_total)` from `/metrics`.
pub fn writer_counters(port: u16) -> (f64, f64) {
    let mut conn = Conn::new(port);
    let r = conn.request(&get_request("/metrics", ""));
    let text = String::from_utf8_lossy(&r.body);
    let value = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    (
        value("herald_db_commits_total"),
        value("herald_db_writes_total"),
    )
}

/// Prints the group-commit figures between two [`writer_counters`] readings.
pub fn print_group_commit(before: (f64, f64), after: (f64, f64), wall: Duration) {
    let commits = after.0 - before.0;
    let writes = after.1 - before.1;
    println!(
        "  group commit: {commits:.0} commits for {writes:.0} writes = {:.1} writes per commit, {:.2} ms per commit",
        writes / commits,
        wall.as_secs_f64() * 1000.0 / commits
    );
}

// ---------------------------------------------------------------------------------------
// Figures

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p`-th percentile (0..=100) of sorted microsecond samples, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted_us.len()) - 1;
    sorted_us[idx] as f64 / 1000.0
}

pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        format!("{v}")
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The 1-minute load average, to show how busy the machine was (other processes share it).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}

/// VmRSS of a process in KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds a process has used so far (from /proc/PID/stat).
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').map(|i| i + 2).unwrap_or(0)..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

/// CPU seconds used so far by each thread of a process, summed by thread name.
pub fn thread_cpu(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        // Group numbered threads (actix-rt|system:0|arbiter:1, tokio-runtime-worker ...).
        let name: String = stat[open + 1..close]
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks = fields
            .get(11)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            + fields
                .get(12)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
        *out.entry(name).or_insert(0.0) += ticks / 100.0;
    }
    out
}

/// Prints where a process's CPU went between two [`thread_cpu`] snapshots, and the load
/// generator's own CPU over the same wall time.
pub fn print_cpu_split(
    label: &str,
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
    client_cpu: Option<f64>,
    wall: Duration,
) {
    let wall = wall.as_secs_f64();
    let mut parts: Vec<(String, f64)> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v >= 0.05)
        .collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = parts.iter().map(|(_, v)| v).sum();
    let text: Vec<String> = parts
        .iter()
        .map(|(k, v)| format!("{k} {:.2}", v / wall))
        .collect();
    let client = client_cpu
        .map(|c| format!("; load generator + bench process {:.2} cores", c / wall))
        .unwrap_or_default();
    println!(
        "  {label} CPU: {:.2} cores over {wall:.1} s ({}){client}",
        total / wall,
        text.join(", "),
    );
}

/// Samples a process's VmRSS every 100 ms until stopped; returns the peak in KiB.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<u64>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(100));
            }
            peak.max(rss_kib(pid))
        });
        RssSampler {
            stop,
            handle: Some(handle),
        }
    }

    pub fn peak_kib(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

/// Bytes the process has passed to write(2) so far (`wchar` of /proc/PID/io): with one
/// SQLite file, mostly WAL frames and checkpoints.
pub fn written_bytes(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines().find_map(|l| {
                l.strip_prefix("wchar: ")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(f64::NAN)
}
