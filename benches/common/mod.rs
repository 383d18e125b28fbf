//! Helpers shared by the load benches (`ingest`, `bigdata`): starting the release binary,
//! the CLI calls that create a workspace and a key, a small keep-alive HTTP/1.1 load
//! generator on tokio, percentiles, memory sampling and the figure-line format.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const BIN: &str = env!("CARGO_BIN_EXE_herald");

/// Environment every benchmarked server gets: the rate-limit code path runs but never
/// throttles, and logging stays quiet.
pub const LOAD_ENV: &[(&str, &str)] = &[
    ("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "1000000000"),
    ("HERALD_RATELIMIT__BURST", "1000000000"),
    ("HERALD_LOG__LEVEL", "warn"),
];

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
    /// Starts the server on a free loopback port and waits for 200 on /healthz.
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

/// Prints one figure line:
/// `<what>: <value> (<ratio>x baseline <baseline value>) goal <goal>: met|MISSED`.
pub fn figure(
    what: &str,
    value: f64,
    unit: &str,
    baseline: f64,
    goal_text: &str,
    met: Option<bool>,
) {
    let ratio = value / baseline;
    let verdict = match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "n/a",
    };
    println!(
        "{what}: {} {unit} ({ratio:.2}x baseline {} {unit}) goal {goal_text}: {verdict}",
        fmt_num(value),
        fmt_num(baseline)
    );
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

// ---------------------------------------------------------------------------------------
// Load generator: N keep-alive connections, one request in flight on each.

/// Builds the bytes of request number `n` (a complete HTTP/1.1 request).
pub type MakeRequest = Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>;

/// What a load run saw.
pub struct LoadResult {
    /// Responses with a 2xx status inside the measured window.
    pub measured_ok: u64,
    /// Length of the measured window.
    pub measured: Duration,
    /// Latencies (µs) of the 2xx responses inside the measured window, sorted.
    pub latencies_us: Vec<u32>,
    /// 2xx responses over the whole run, warm-up included.
    pub total_ok: u64,
    /// Non-2xx responses over the whole run.
    pub total_non_ok: u64,
    /// Connection or protocol errors (the connection is reopened).
    pub errors: u64,
    /// The first non-2xx response seen, for diagnosis.
    pub first_failure: Option<String>,
    /// Wall time from the first request to the last response.
    pub wall: Duration,
}

impl LoadResult {
    pub fn rate(&self) -> f64 {
        self.measured_ok as f64 / self.measured.as_secs_f64()
    }
    pub fn p(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies_us, p)
    }
}

/// Builds a JSON POST request.
pub fn post_json(path: &str, key: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Builds a GET request.
pub fn get_request(path: &str, key: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n\r\n").into_bytes()
}

/// A parsed response: status and the body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// If `buf` starts with a complete response, returns it and its length in bytes.
fn parse_response(buf: &[u8]) -> Result<Option<(Response, usize)>, String> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    let body_start = head_end + 4;
    if chunked {
        // Decode chunk by chunk.
        let mut pos = body_start;
        let mut body = Vec::new();
        loop {
            let Some(line_end) = find(&buf[pos..], b"\r\n") else {
                return Ok(None);
            };
            let size_text = std::str::from_utf8(&buf[pos..pos + line_end]).unwrap_or("");
            let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
                .map_err(|_| format!("bad chunk size {size_text:?}"))?;
            let data = pos + line_end + 2;
            if buf.len() < data + size + 2 {
                return Ok(None);
            }
            if size == 0 {
                // No trailers expected: the final CRLF.
                return Ok(Some((Response { status, body }, data + 2)));
            }
            body.extend_from_slice(&buf[data..data + size]);
            pos = data + size + 2;
        }
    }
    let length = length.unwrap_or(0);
    if buf.len() < body_start + length {
        return Ok(None);
    }
    Ok(Some((
        Response {
            status,
            body: buf[body_start..body_start + length].to_vec(),
        },
        body_start + length,
    )))
}

/// An async keep-alive connection.
pub struct AsyncConn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl AsyncConn {
    pub async fn connect(port: u16) -> std::io::Result<AsyncConn> {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(AsyncConn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    pub async fn request(&mut self, req: &[u8]) -> Result<Response, String> {
        self.stream
            .write_all(req)
            .await
            .map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some((response, used)) = parse_response(&self.buf)? {
                self.buf.drain(..used);
                return Ok(response);
            }
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A blocking keep-alive connection, for sequential latency samples.
pub struct Conn {
    port: u16,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(port: u16) -> Conn {
        Conn {
            port,
            stream: None,
            buf: Vec::new(),
        }
    }

    fn try_request(&mut self, req: &[u8]) -> Result<Response, String> {
        if self.stream.is_none() {
            let s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(120)))
                .map_err(|e| e.to_string())?;
            self.stream = Some(s);
            self.buf.clear();
        }
        let stream = self.stream.as_mut().unwrap();
        stream.write_all(req).map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if let Some((response, used)) = parse_response(&self.buf)? {
                self.buf.drain(..used);
                return Ok(response);
            }
            let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a request; reconnects once if the kept-alive connection was closed.
    pub fn request(&mut self, req: &[u8]) -> Response {
        match self.try_request(req) {
            Ok(r) => r,
            Err(_) => {
                self.stream = None;
                self.try_request(req)
                    .expect("request failed after reconnect")
            }
        }
    }

    /// Sends a request and returns its status, body and latency.
    pub fn timed(&mut self, req: &[u8]) -> (Response, Duration) {
        let started = Instant::now();
        let r = self.request(req);
        (r, started.elapsed())
    }
}

/// Drives `conns` keep-alive connections against 127.0.0.1:`port` for `warmup` then
/// `duration`; only requests started after the warm-up and answered before the end count
/// toward the rate and the latencies. Requests are numbered from 0 across connections.
pub fn run_load(
    port: u16,
    conns: usize,
    warmup: Duration,
    duration: Duration,
    make: MakeRequest,
) -> LoadResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let counter = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let measure_from = start + warmup;
        let end = measure_from + duration;
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let counter = counter.clone();
            let make = make.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(64 * 1024);
                let (mut ok, mut measured_ok, mut non_ok, mut errors) = (0u64, 0u64, 0u64, 0u64);
                let mut first_failure = None;
                let mut last = start;
                let mut conn: Option<AsyncConn> = None;
                while Instant::now() < end {
                    if conn.is_none() {
                        match AsyncConn::connect(port).await {
                            Ok(c) => conn = Some(c),
                            Err(_) => {
                                errors += 1;
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        }
                    }
                    let req = make(counter.fetch_add(1, Ordering::Relaxed));
                    let sent = Instant::now();
                    match conn.as_mut().unwrap().request(&req).await {
                        Ok(r) => {
                            let done = Instant::now();
                            last = done;
                            if (200..300).contains(&r.status) {
                                ok += 1;
                                if sent >= measure_from && done <= end {
                                    measured_ok += 1;
                                    lat.push(
                                        (done - sent).as_micros().min(u32::MAX as u128) as u32,
                                    );
                                }
                            } else {
                                non_ok += 1;
                                if first_failure.is_none() {
                                    first_failure = Some(format!(
                                        "{} {}",
                                        r.status,
                                        String::from_utf8_lossy(&r.body)
                                    ));
                                }
                            }
                        }
                        Err(e) => {
                            errors += 1;
                            if first_failure.is_none() {
                                first_failure = Some(e);
                            }
                            conn = None;
                        }
                    }
                }
                (lat, ok, measured_ok, non_ok, errors, first_failure, last)
            }));
        }
        let mut result = LoadResult {
            measured_ok: 0,
            measured: duration,
            latencies_us: Vec::new(),
            total_ok: 0,
            total_non_ok: 0,
            errors: 0,
            first_failure: None,
            wall: Duration::ZERO,
        };
        let mut last = start;
        for task in tasks {
            let (lat, ok, measured_ok, non_ok, errors, failure, t_last) = task.await.unwrap();
            result.latencies_us.extend(lat);
            result.total_ok += ok;
            result.measured_ok += measured_ok;
            result.total_non_ok += non_ok;
            result.errors += errors;
            if result.first_failure.is_none() {
                result.first_failure = failure;
            }
            last = last.max(t_last);
        }
        result.wall = last - start;
        result.latencies_us.sort_unstable();
        result
    })
}

/// Sequential latency samples of one request (after `warm` unrecorded ones); sorted µs.
/// Panics if a response is not 2xx.
pub fn sample_latencies(
    port: u16,
    warm: usize,
    samples: usize,
    mut make: impl FnMut(usize) -> Vec<u8>,
) -> Vec<u32> {
    let mut conn = Conn::new(port);
    let mut out = Vec::with_capacity(samples);
    for i in 0..warm + samples {
        let req = make(i);
        let (r, t) = conn.timed(&req);
        assert!(
            (200..300).contains(&r.status),
            "unexpected {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        if i >= warm {
            out.push(t.as_micros().min(u32::MAX as u128) as u32);
        }
    }
    out.sort_unstable();
    out
}
