//! The load generator: N keep-alive HTTP/1.1 connections, one request in flight on each,
//! plus the request builders, the response parser and the blocking connection the
//! sequential latency samples use.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::percentile_ms;

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

/// The time marks of one load run, shared by all its connections.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    /// Requests sent before this are warm-up and do not count.
    measure_from: Instant,
    /// No request is sent after this, and none answered after it counts.
    end: Instant,
}

/// What one connection of a load run saw, kept apart until the run ends so the
/// connections share nothing but the request counter while they run.
struct ConnTally {
    latencies_us: Vec<u32>,
    ok: u64,
    measured_ok: u64,
    non_ok: u64,
    errors: u64,
    first_failure: Option<String>,
    /// When this connection's last response arrived.
    last: Instant,
}

impl ConnTally {
    fn new(start: Instant) -> ConnTally {
        ConnTally {
            latencies_us: Vec::with_capacity(64 * 1024),
            ok: 0,
            measured_ok: 0,
            non_ok: 0,
            errors: 0,
            first_failure: None,
            last: start,
        }
    }

    /// Counts one response; only a 2xx sent after the warm-up and answered before the end
    /// counts toward the rate and the latencies.
    fn response(&mut self, window: Window, sent: Instant, r: &Response) {
        let done = Instant::now();
        self.last = done;
        if (200..300).contains(&r.status) {
            self.ok += 1;
            if sent >= window.measure_from && done <= window.end {
                self.measured_ok += 1;
                self.latencies_us
                    .push((done - sent).as_micros().min(u32::MAX as u128) as u32);
            }
        } else {
            self.non_ok += 1;
            if self.first_failure.is_none() {
                self.first_failure =
                    Some(format!("{} {}", r.status, String::from_utf8_lossy(&r.body)));
            }
        }
    }
}

/// One keep-alive connection of a load run: one request in flight until the window ends,
/// reconnecting after an error (which is counted, not fatal, so a run under overload still
/// reports what it saw).
async fn drive_conn(
    port: u16,
    window: Window,
    counter: Arc<AtomicU64>,
    make: MakeRequest,
) -> ConnTally {
    let mut tally = ConnTally::new(window.start);
    let mut conn: Option<AsyncConn> = None;
    while Instant::now() < window.end {
        if conn.is_none() {
            match AsyncConn::connect(port).await {
                Ok(c) => conn = Some(c),
                Err(_) => {
                    tally.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let req = make(counter.fetch_add(1, Ordering::Relaxed));
        let sent = Instant::now();
        match conn.as_mut().unwrap().request(&req).await {
            Ok(r) => tally.response(window, sent, &r),
            Err(e) => {
                tally.errors += 1;
                if tally.first_failure.is_none() {
                    tally.first_failure = Some(e);
                }
                conn = None;
            }
        }
    }
    tally
}

/// Adds the connections' tallies up into one result (latencies sorted, the first failure
/// of the first connection that saw one, wall time up to the last response of any).
fn merge_tallies(tallies: Vec<ConnTally>, window: Window, measured: Duration) -> LoadResult {
    let mut result = LoadResult {
        measured_ok: 0,
        measured,
        latencies_us: Vec::new(),
        total_ok: 0,
        total_non_ok: 0,
        errors: 0,
        first_failure: None,
        wall: Duration::ZERO,
    };
    let mut last = window.start;
    for tally in tallies {
        result.latencies_us.extend(tally.latencies_us);
        result.total_ok += tally.ok;
        result.measured_ok += tally.measured_ok;
        result.total_non_ok += tally.non_ok;
        result.errors += tally.errors;
        if result.first_failure.is_none() {
            result.first_failure = tally.first_failure;
        }
        last = last.max(tally.last);
    }
    result.wall = last - window.start;
    result.latencies_us.sort_unstable();
    result
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
        let window = Window {
            start,
            measure_from,
            end: measure_from + duration,
        };
        let tasks: Vec<_> = (0..conns)
            .map(|_| tokio::spawn(drive_conn(port, window, counter.clone(), make.clone())))
            .collect();
        let mut tallies = Vec::with_capacity(conns);
        for task in tasks {
            tallies.push(task.await.unwrap());
        }
        merge_tallies(tallies, window, duration)
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
