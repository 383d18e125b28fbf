//! A loopback HTTP receiver for Herald's outbound calls (webhook steps).
//!
//! [`Receiver`] is a real HTTP/1.1 server on `127.0.0.1` and a random free port, so that
//! tests can point webhook steps at it and check what Herald really sends: every request
//! is recorded in full (method, path, headers, body, arrival time), and the answers are
//! scripted per URL path: `200`, any status, `Retry-After`, `410 Gone`, a redirect, a
//! large body, or no answer at all (a hung connection). It uses only `std`: one thread
//! accepts, one thread serves each connection, and connections are kept alive until the
//! client closes them or asks for `Connection: close`.
//!
//! The smaller helpers below it ([`loopback_listener`], [`serve`], [`read_request`],
//! [`assert_never_contacted`]) answer a fixed number of requests on a bare listener.
#![allow(dead_code)]

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How the receiver answers a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// `200 OK` with the body `ok`.
    Ok,
    /// That status, with a body naming it (no body for 204 and 304).
    Status(u16),
    /// That status with a `Retry-After` header of so many seconds.
    StatusWithRetryAfter(u16, u64),
    /// `410 Gone`.
    Gone,
    /// Reads and records the request, then never answers: the connection stays open
    /// until [`Receiver::release`] is called or the receiver is dropped, and is then
    /// closed without a response. Other connections are served meanwhile.
    Hang,
    /// `302 Found` with this `Location`.
    Redirect(String),
    /// One behaviour per request, in order; the last one repeats forever. Nested
    /// sequences are flattened, and an empty one behaves as [`Behaviour::Ok`].
    Sequence(Vec<Behaviour>),
    /// `200 OK` with a body of this many bytes of `x`.
    LargeBody(usize),
}

/// One request as the receiver read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, `GET`, …
    pub method: String,
    /// The request target as sent, query string included (`/hook?x=1`).
    pub path: String,
    /// Headers in arrival order, names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (chunked bodies decoded), as text (invalid UTF-8 replaced).
    pub body: String,
    /// When the whole request had been read.
    pub received_at: Instant,
    /// Which TCP connection carried it: 1 for the first one accepted, and so on.
    pub connection: u64,
}

impl Request {
    /// The value of the first header with this name (any case), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// A running loopback HTTP server that records requests and answers as scripted.
/// Dropping it stops the server and closes hung connections.
pub struct Receiver {
    shared: Arc<Shared>,
    port: u16,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a request is recorded.
    arrived: Condvar,
    /// Signalled on `release()` and on drop, for hung connections.
    wake: Condvar,
}

struct State {
    requests: Vec<Request>,
    default: Script,
    /// Path prefix and its script; the longest matching prefix wins.
    rules: Vec<(String, Script)>,
    /// How many times `release()` was called: a hung request waits for this to change.
    releases: u64,
    stopped: bool,
    connections: u64,
}

/// A behaviour with its place in a sequence.
struct Script {
    steps: Vec<Behaviour>,
    next: usize,
}

impl Script {
    fn new(behaviour: Behaviour) -> Script {
        fn flatten(b: Behaviour, out: &mut Vec<Behaviour>) {
            match b {
                Behaviour::Sequence(items) => items.into_iter().for_each(|i| flatten(i, out)),
                other => out.push(other),
            }
        }
        let mut steps = Vec::new();
        flatten(behaviour, &mut steps);
        if steps.is_empty() {
            steps.push(Behaviour::Ok);
        }
        Script { steps, next: 0 }
    }

    fn take(&mut self) -> Behaviour {
        let i = self.next.min(self.steps.len() - 1);
        self.next += 1;
        self.steps[i].clone()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Records a request and decides its answer; for `Hang`, also returns the release
    /// count to wait past.
    fn record(&self, request: Request) -> (Behaviour, u64) {
        let mut state = self.lock();
        let path = request.path.clone();
        state.requests.push(request);
        let releases = state.releases;
        let State { rules, default, .. } = &mut *state;
        let script = rules
            .iter_mut()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, s)| s)
            .unwrap_or(default);
        let behaviour = script.take();
        drop(state);
        self.arrived.notify_all();
        (behaviour, releases)
    }

    /// Blocks until `release()` is called after `releases` was read, or the receiver
    /// is dropped.
    fn hang(&self, releases: u64) {
        let mut state = self.lock();
        while !state.stopped && state.releases == releases {
            state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Receiver {
    /// Binds `127.0.0.1` on a free port and starts serving; every path answers
    /// [`Behaviour::Ok`] until told otherwise.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                requests: Vec::new(),
                default: Script::new(Behaviour::Ok),
                rules: Vec::new(),
                releases: 0,
                stopped: false,
                connections: 0,
            }),
            arrived: Condvar::new(),
            wake: Condvar::new(),
        });
        let accepting = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("receiver-{port}"))
            .spawn(move || accept_loop(listener, accepting))
            .expect("spawn the receiver");
        Receiver { shared, port }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:{port}{path}`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Answers the following requests (to paths no [`answer_for`](Self::answer_for)
    /// prefix matches) with `behaviour`; a sequence starts from its first step.
    pub fn answer(&self, behaviour: Behaviour) {
        self.shared.lock().default = Script::new(behaviour);
    }

    /// Answers the following requests whose path starts with `path_prefix` with
    /// `behaviour`, replacing an earlier rule for the same prefix. When several
    /// prefixes match, the longest wins.
    pub fn answer_for(&self, path_prefix: &str, behaviour: Behaviour) {
        let mut state = self.shared.lock();
        let script = Script::new(behaviour);
        match state.rules.iter_mut().find(|(p, _)| p == path_prefix) {
            Some((_, s)) => *s = script,
            None => state.rules.push((path_prefix.to_string(), script)),
        }
    }

    /// Closes, without a response, every connection hung so far by
    /// [`Behaviour::Hang`]; later `Hang` requests hang again.
    pub fn release(&self) {
        self.shared.lock().releases += 1;
        self.shared.wake.notify_all();
    }

    /// Every request recorded so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// The recorded requests whose path starts with `path_prefix`.
    pub fn requests_to(&self, path_prefix: &str) -> Vec<Request> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    /// How many requests were recorded so far.
    pub fn count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Waits until at least `n` requests were recorded and returns all of them; panics,
    /// listing what did arrive, if that takes longer than `timeout`.
    #[track_caller]
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if state.requests.len() >= n {
                return state.requests.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                let got = state.requests.len();
                let arrived = describe(&state.requests);
                drop(state);
                panic!(
                    "the receiver at {} expected at least {n} request(s) within {timeout:?}, \
                     got {got}:\n{arrived}",
                    self.url(""),
                );
            }
            let pause = (deadline - now).min(Duration::from_millis(20));
            state = self
                .shared
                .arrived
                .wait_timeout(state, pause)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The distinct `webhook-id` header values received, as a Standard Webhooks
    /// receiver would de-duplicate deliveries.
    pub fn unique_ids(&self) -> HashSet<String> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter_map(|r| r.header("webhook-id"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.wake.notify_all();
        self.shared.arrived.notify_all();
        // Wake the accept thread so it sees the flag, ends, and frees the port.
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    }
}

/// One line per request, for failure messages.
fn describe(requests: &[Request]) -> String {
    if requests.is_empty() {
        return "  (none)".to_string();
    }
    requests
        .iter()
        .map(|r| {
            let id = r
                .header("webhook-id")
                .map(|id| format!(", webhook-id {id}"))
                .unwrap_or_default();
            format!("  {} {} ({} bytes{id})", r.method, r.path, r.body.len())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopped() {
            return;
        }
        let Ok(stream) = stream else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let number = {
            let mut state = shared.lock();
            state.connections += 1;
            state.connections
        };
        let shared = Arc::clone(&shared);
        let _ = std::thread::Builder::new()
            .name(format!("receiver-conn-{number}"))
            .spawn(move || {
                let mut conn = Connection {
                    stream,
                    buf: Vec::new(),
                    shared,
                    number,
                };
                conn.serve();
                let _ = conn.stream.shutdown(Shutdown::Both);
            });
    }
}

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// A parsed request head.
struct Head {
    method: String,
    path: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the client wants the connection kept open after this exchange.
    fn keep_alive(&self) -> bool {
        if self.version.eq_ignore_ascii_case("HTTP/1.0") {
            self.has_token("connection", "keep-alive")
        } else {
            !self.has_token("connection", "close")
        }
    }
}

/// One client connection: a read buffer over the socket.
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    shared: Arc<Shared>,
    number: u64,
}

impl Connection {
    /// Serves requests until the client closes, asks to close, or the receiver stops.
    fn serve(&mut self) {
        // Short read timeouts let an idle connection notice that the receiver stopped.
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(100)));
        let _ = self.stream.set_write_timeout(Some(Duration::from_secs(10)));
        loop {
            let head = match self.read_head() {
                Ok(Some(head)) => head,
                Ok(None) => return,
                Err(status) => {
                    let _ = self.respond(status, &[], "bad request".into(), false, false);
                    return;
                }
            };
            if head.has_token("expect", "100-continue") {
                let _ = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let Some(body) = self.read_body(&head) else {
                return;
            };
            let keep_alive = head.keep_alive();
            let head_only = head.method.eq_ignore_ascii_case("HEAD");
            let request = Request {
                method: head.method,
                path: head.path,
                headers: head.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                received_at: Instant::now(),
                connection: self.number,
            };
            let (behaviour, releases) = self.shared.record(request);
            if behaviour == Behaviour::Hang {
                self.shared.hang(releases);
                return;
            }
            if self.shared.stopped() {
                return;
            }
            let (status, extra, body) = answer(behaviour);
            if self
                .respond(status, &extra, body, head_only, keep_alive)
                .is_err()
                || !keep_alive
            {
                return;
            }
        }
    }

    /// Reads more bytes into the buffer; false once the peer closed, the socket failed
    /// or the receiver stopped.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.shared.stopped() {
                return false;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return false,
            }
        }
    }

    /// The next request head; `Ok(None)` when the connection ended first, `Err` with a
    /// status for a malformed one.
    fn read_head(&mut self) -> Result<Option<Head>, u16> {
        let end = loop {
            // Tolerate blank lines between requests.
            while self.buf.starts_with(b"\r\n") {
                self.buf.drain(..2);
            }
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(431);
            }
            if !self.fill() {
                return Ok(None);
            }
        };
        let raw: Vec<u8> = self.buf.drain(..end + 4).collect();
        let text = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = text.split("\r\n");
        let mut parts = lines.next().unwrap_or("").split_whitespace();
        let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(400);
        };
        if !version.to_ascii_uppercase().starts_with("HTTP/1.") {
            return Err(400);
        }
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return Err(400);
            };
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        Ok(Some(Head {
            method: method.to_string(),
            path: path.to_string(),
            version: version.to_string(),
            headers,
        }))
    }

    /// The request body (by `Content-Length`, or chunked); `None` if the connection
    /// ended before all of it arrived.
    fn read_body(&mut self, head: &Head) -> Option<Vec<u8>> {
        if head.has_token("transfer-encoding", "chunked") {
            let mut body = Vec::new();
            loop {
                let line = self.read_line()?;
                let size = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size, 16).ok()?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    while !self.read_line()?.is_empty() {}
                    return Some(body);
                }
                body.extend(self.read_bytes(size)?);
                self.read_line()?;
            }
        }
        let length = match head.header("content-length") {
            Some(v) => v.trim().parse().ok()?,
            None => 0,
        };
        self.read_bytes(length)
    }

    /// One CRLF-terminated line, without its ending.
    fn read_line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).take(i).collect();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn read_bytes(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill() {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    fn respond(
        &mut self,
        status: u16,
        extra: &[(&str, String)],
        body: String,
        head_only: bool,
        keep_alive: bool,
    ) -> std::io::Result<()> {
        let bodyless = status < 200 || status == 204 || status == 304;
        let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (name, value) in extra {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if !bodyless {
            out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        if !keep_alive {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        if !bodyless && !head_only {
            out.push_str(&body);
        }
        self.stream.write_all(out.as_bytes())?;
        self.stream.flush()
    }
}

/// Status, extra headers and body for a behaviour that answers.
fn answer(behaviour: Behaviour) -> (u16, Vec<(&'static str, String)>, String) {
    match behaviour {
        Behaviour::Ok => (200, vec![], "ok".to_string()),
        Behaviour::Status(s) => (s, vec![], format!("status {s}")),
        Behaviour::StatusWithRetryAfter(s, secs) => (
            s,
            vec![("Retry-After", secs.to_string())],
            format!("status {s}, retry after {secs} s"),
        ),
        Behaviour::Gone => (410, vec![], "gone".to_string()),
        Behaviour::Redirect(location) => {
            let body = format!("redirect to {location}");
            (302, vec![("Location", location)], body)
        }
        Behaviour::LargeBody(n) => (200, vec![], "x".repeat(n)),
        // Scripts are flattened, and a hang never reaches here.
        Behaviour::Sequence(_) | Behaviour::Hang => (500, vec![], "unscripted".to_string()),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A listener on a random loopback port.
pub fn loopback_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Reads one HTTP request (head and body) from a connection.
pub fn read_request(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
        if n == 0 {
            return text;
        }
    }
}

/// Answers `count` requests with `response`, then hands the listener back.
pub fn serve(
    listener: TcpListener,
    count: usize,
    response: &'static str,
) -> std::thread::JoinHandle<(TcpListener, Vec<String>)> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..count {
            let (mut stream, _) = listener.accept().unwrap();
            seen.push(read_request(&mut stream));
            stream.write_all(response.as_bytes()).unwrap();
        }
        (listener, seen)
    })
}

/// No connection is waiting on the listener. Called only after Herald has recorded the
/// outcome of every call, which it does after the call returns, so a connection it had
/// made would already be queued here.
pub fn assert_never_contacted(listener: &TcpListener) {
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((mut s, _)) => panic!("the receiver was contacted: {}", read_request(&mut s)),
        Err(e) => panic!("accept failed: {e}"),
    }
}
