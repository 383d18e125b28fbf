//! Outbound webhook figures, each against a baseline measured in the same run:
//!
//! 1. Deliveries/s: [`ENDPOINTS`] endpoints (events `["event.received"]`) are created
//!    disabled, the outbox is filled with [`EVENTS`] events sent through
//!    `POST /api/events/send`, then every endpoint is enabled and the clock runs until the
//!    receiver (actix-web in this process, answering 200 from memory) has seen every
//!    expected delivery. The baseline is a bare loop in this process sending the same
//!    requests (the same bodies and `webhook-id`s from Herald's outbox, the same headers
//!    with a Standard Webhooks signature computed per request) with ureq 3 to the same
//!    receiver, from as many threads as endpoints, each one request at a time like
//!    Herald's per-endpoint order. Goals: at least 2,000 deliveries/s and at least 0.5x
//!    the bare loop.
//! 2. Ingest with webhooks: the `/api/events/send` load of `benches/ingest.rs` (64
//!    keep-alive connections, 2 s warm-up + 10 s) on a fresh Herald with no endpoint, then
//!    on a fresh Herald with [`GENERAL`] active general endpoints (events `["*"]`) pointing
//!    at the receiver. Goal: the second at least 0.7x the first.
//! 3. A hanging endpoint: measurement 1 again with one more endpoint whose receiver path
//!    never answers (`timeoutMs` 10000). Goal: the others' deliveries/s at least 0.9x
//!    measurement 1's.
//!
//! Loss: in measurements 1 and 3 every expected delivery must arrive (distinct
//! `(endpoint, webhook-id)` pairs at the receiver equal endpoints x events), a goal too.
//! Every Herald is fresh, and each measurement runs twice in mirrored order (1, 3, bare,
//! 3, 1 and none, with, with, none) so drift in how busy the machine is hits both sides.
//!
//! Run with `cargo bench --bench webhooks`; it exits non-zero when a goal is missed.
//! `WEBHOOKS_BENCH_ONLY=deliveries` (1 and 3) or `=ingest` (2) runs one part alone; the
//! environment reaches Herald too, so `HERALD_WEBHOOKS__CONCURRENCY=2` and the like
//! measure other settings.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};
use rusqlite::{Connection, OpenFlags};
use sha2::Sha256;

/// Endpoints delivered to at once in measurements 1 and 3 (and the bare loop's threads).
const ENDPOINTS: usize = 8;
/// Events in the outbox burst of measurements 1 and 3.
const EVENTS: u64 = 20_000;
/// Active general endpoints during measurement 2.
const GENERAL: usize = 10;
const CONNS: usize = 64;
const CONTACTS: u64 = 5_000;
const WARMUP: Duration = Duration::from_secs(2);
const DURATION: Duration = Duration::from_secs(10);
/// Longest wait for every expected delivery to arrive.
const DELIVERY_LIMIT: Duration = Duration::from_secs(120);
const TIMEOUT_MS: u64 = 10_000;
const SEND_PATH: &str = "/api/events/send";

fn sendra_body(n: u64) -> String {
    let i = n % CONTACTS;
    format!(
        r#"{{"email":"user{i}@example.com","eventName":"signUp","eventProperties":{{"plan":"pro","n":{n}}},"contactProperties":{{"firstName":"Ada"}}}}"#
    )
}

/// Endpoint `i`'s secret: not hex and not `whsec_`, so its bytes are the HMAC key.
fn secret_for(i: usize) -> String {
    format!("bench-webhook-secret-{i}")
}

// ---------------------------------------------------------------------------------------
// The receiver

/// What the receiver has seen since the last reset.
#[derive(Default)]
struct Seen {
    requests: u64,
    /// `(endpoint index, webhook-id)` of every delivery to `/hook/{i}`.
    distinct: HashSet<(u32, String)>,
    first: Option<Instant>,
    /// When the last new distinct delivery arrived.
    last: Option<Instant>,
}

type Shared = Arc<Mutex<Seen>>;

async fn hook(
    path: web::Path<u32>,
    req: HttpRequest,
    seen: web::Data<Shared>,
    _body: web::Bytes,
) -> HttpResponse {
    let id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let now = Instant::now();
    let mut seen = seen.lock().unwrap();
    seen.requests += 1;
    seen.first.get_or_insert(now);
    if seen.distinct.insert((path.into_inner(), id)) {
        seen.last = Some(now);
    }
    HttpResponse::Ok().finish()
}

/// The hanging endpoint: reads the request and never answers.
async fn hang(_body: web::Bytes) -> HttpResponse {
    actix_web::rt::time::sleep(Duration::from_secs(3600)).await;
    HttpResponse::Ok().finish()
}

/// The receiver: actix-web in this process with as many workers as Herald gets.
struct Receiver {
    port: u16,
    seen: Shared,
    handle: actix_web::dev::ServerHandle,
    thread: std::thread::JoinHandle<()>,
}

impl Receiver {
    fn start(workers: usize) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Shared = Arc::default();
        let data = web::Data::new(seen.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .route("/hook/{i}", web::post().to(hook))
                        .route("/hang", web::post().to(hang))
                })
                .workers(workers)
                .shutdown_timeout(1)
                .listen(listener)
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        let handle = rx.recv().unwrap();
        Receiver {
            port,
            seen,
            handle,
            thread,
        }
    }

    fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}/hook/{i}", self.port)
    }

    fn reset(&self) {
        *self.seen.lock().unwrap() = Seen::default();
    }

    fn snapshot(&self) -> (u64, usize, Option<Instant>, Option<Instant>) {
        let s = self.seen.lock().unwrap();
        (s.requests, s.distinct.len(), s.first, s.last)
    }

    fn stop(self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
        self.thread.join().unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Herald

/// A fresh Herald on its own data directory, loopback receivers allowed.
struct Herald {
    server: Server,
    key: String,
    _dir: tempfile::TempDir,
}

fn fresh_herald() -> Herald {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = workspace_with_key(&data, "Bench");
    let server = Server::start(&data, &[("HERALD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")]);
    Herald {
        server,
        key,
        _dir: dir,
    }
}

/// Creates endpoint `i` over the API; returns its id.
fn create_endpoint(h: &Herald, url: &str, i: usize, events: &[&str], status: &str) -> String {
    let body = serde_json::json!({
        "name": format!("bench {url}"), "url": url, "events": events, "secret": secret_for(i),
        "timeoutMs": TIMEOUT_MS, "status": status,
    });
    let mut conn = Conn::new(h.server.port);
    let r = conn.request(&post_json("/v1/webhooks", &h.key, &body.to_string()));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["data"]["_id"].as_str().unwrap().to_string()
}

fn enable(conn: &mut Conn, key: &str, id: &str) {
    let r = conn.request(&post_json(&format!("/v1/webhooks/{id}/enable"), key, "{}"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// Sends `n` events over [`CONNS`] keep-alive connections; panics on a non-200.
fn send_burst(port: u16, key: &str, n: u64) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..CONNS)
            .map(|_| {
                let (counter, key) = (counter.clone(), key.to_string());
                tokio::spawn(async move {
                    let mut conn = AsyncConn::connect(port).await.unwrap();
                    loop {
                        let i = counter.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let req = post_json(SEND_PATH, &key, &sendra_body(i));
                        let r = conn.request(&req).await.unwrap();
                        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    started.elapsed()
}

fn open_ro(path: &Path) -> Connection {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// The outbox's `(webhook-id, body)` pairs, oldest first.
fn outbox(h: &Herald) -> Vec<(String, String)> {
    let db = open_ro(&h.server.db_path());
    let mut stmt = db
        .prepare("SELECT uid, body FROM webhook_messages ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Measurements 1 and 3, and the bare loop

/// What one delivery measurement saw.
struct Delivered {
    expected: usize,
    distinct: usize,
    requests: u64,
    /// From the first enable to the last new delivery.
    elapsed: Duration,
    /// From the first delivery to the last.
    first_to_last: Duration,
    messages: Vec<(String, String)>,
}

impl Delivered {
    fn rate(&self) -> f64 {
        self.distinct as f64 / self.elapsed.as_secs_f64()
    }
}

/// Waits until `expected` distinct deliveries arrived (or [`DELIVERY_LIMIT`] passed).
fn wait_for(rx: &Receiver, expected: usize, t0: Instant) -> Delivered {
    loop {
        let (requests, distinct, first, last) = rx.snapshot();
        if distinct >= expected || t0.elapsed() >= DELIVERY_LIMIT {
            let last = last.unwrap_or(t0);
            return Delivered {
                expected,
                distinct,
                requests,
                elapsed: last - t0,
                first_to_last: last - first.unwrap_or(t0),
                messages: Vec::new(),
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Measurement 1 (`hanging` false) or 3 (one more endpoint that never answers).
fn measure_delivery(rx: &Receiver, hanging: bool) -> Delivered {
    let h = fresh_herald();
    let mut ids = Vec::new();
    if hanging {
        let url = format!("http://127.0.0.1:{}/hang", rx.port);
        ids.push(create_endpoint(
            &h,
            &url,
            99,
            &["event.received"],
            "disabled",
        ));
    }
    for i in 0..ENDPOINTS {
        ids.push(create_endpoint(
            &h,
            &rx.url(i),
            i,
            &["event.received"],
            "disabled",
        ));
    }
    let took = send_burst(h.server.port, &h.key, EVENTS);
    let messages = outbox(&h);
    println!(
        "  outbox filled: {EVENTS} events sent in {:.2} s ({} events/s), {} messages",
        took.as_secs_f64(),
        fmt_num(EVENTS as f64 / took.as_secs_f64()),
        messages.len()
    );
    rx.reset();
    let pid = h.server.pid();
    let threads0 = thread_cpu(pid);
    let me0 = cpu_secs(std::process::id());
    let t0 = Instant::now();
    let mut conn = Conn::new(h.server.port);
    for id in &ids {
        enable(&mut conn, &h.key, id);
    }
    let expected = ENDPOINTS * messages.len();
    let mut delivered = wait_for(rx, expected, t0);
    print_cpu_split(
        "herald",
        &threads0,
        &thread_cpu(pid),
        Some(cpu_secs(std::process::id()) - me0),
        delivered.elapsed,
    );
    // A hanging attempt would hold a graceful stop for its whole timeout.
    if !hanging {
        h.server.stop();
    }
    delivered.messages = messages;
    delivered
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, as Herald signs.
fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{b64}")
}

/// One bare-loop sender: endpoint `i`'s deliveries in order, one at a time.
fn bare_sender(url: String, secret: String, messages: Arc<Vec<(String, String)>>) {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(TIMEOUT_MS)))
        .max_redirects(0)
        .http_status_as_error(false)
        .proxy(None)
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let ua = format!("Herald-Webhooks/{}", env!("CARGO_PKG_VERSION"));
    for (id, body) in messages.iter() {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut r = agent
            .post(&url)
            .header("content-type", "application/json")
            .header("user-agent", ua.as_str())
            .header("webhook-id", id.as_str())
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sign(&secret, id, ts, body))
            .send(body.as_str())
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let _ = r.body_mut().read_to_vec();
    }
}

/// The bare loop: [`ENDPOINTS`] threads sending Herald's outbox to the same receiver.
fn bare_loop(rx: &Receiver, messages: &[(String, String)]) -> Delivered {
    rx.reset();
    let messages = Arc::new(messages.to_vec());
    let t0 = Instant::now();
    let threads: Vec<_> = (0..ENDPOINTS)
        .map(|i| {
            let (url, secret, m) = (rx.url(i), secret_for(i), messages.clone());
            std::thread::spawn(move || bare_sender(url, secret, m))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    wait_for(rx, ENDPOINTS * messages.len(), t0)
}

fn print_delivered(label: &str, d: &Delivered) {
    println!(
        "  {label}: {} of {} expected deliveries in {:.2} s from the first enable ({} deliveries/s; first to last {:.2} s), {} requests ({} repeats)",
        d.distinct,
        d.expected,
        d.elapsed.as_secs_f64(),
        fmt_num(d.rate()),
        d.first_to_last.as_secs_f64(),
        d.requests,
        d.requests.saturating_sub(d.distinct as u64)
    );
}

fn delivery_goals(verdicts: &mut Verdicts, rate: f64, bare: &Delivered) {
    let base = bare.rate();
    let abs = verdicts.record("deliveries/s >= 2000", rate >= 2_000.0);
    let ratio = verdicts.record(
        "deliveries/s >= 0.5x the bare ureq loop",
        rate / base >= 0.5,
    );
    println!(
        "deliveries/s ({ENDPOINTS} endpoints): {} deliveries/s ({:.2}x bare ureq loop {} deliveries/s) goal >= 2000 deliveries/s: {abs}; goal ratio >= 0.5: {ratio}",
        fmt_num(rate),
        rate / base,
        fmt_num(base)
    );
}

// ---------------------------------------------------------------------------------------
// Measurement 2

/// The `/api/events/send` load on a fresh Herald with `endpoints` general endpoints.
fn ingest_with(rx: &Receiver, endpoints: usize) -> LoadResult {
    let h = fresh_herald();
    for i in 0..endpoints {
        create_endpoint(&h, &rx.url(i), i, &["*"], "active");
    }
    rx.reset();
    let pid = h.server.pid();
    let threads0 = thread_cpu(pid);
    let me0 = cpu_secs(std::process::id());
    let commits0 = writer_counters(h.server.port);
    let written0 = written_bytes(pid);
    let key = h.key.clone();
    let make: MakeRequest = Arc::new(move |n| post_json(SEND_PATH, &key, &sendra_body(n)));
    let r = run_load(h.server.port, CONNS, WARMUP, DURATION, make);
    let (requests, distinct, _, _) = rx.snapshot();
    println!(
        "  {endpoints} endpoints: {} events/s, p50 {:.2} ms, p99 {:.2} ms ({} non-2xx, {} errors); {requests} deliveries received during the load ({distinct} distinct, {} deliveries/s)",
        fmt_num(r.rate()),
        r.p(50.0),
        r.p(99.0),
        r.total_non_ok,
        r.errors,
        fmt_num(requests as f64 / r.wall.as_secs_f64()),
    );
    if let Some(f) = &r.first_failure {
        println!("  first failure: {f}");
    }
    let commits1 = writer_counters(h.server.port);
    print_group_commit(commits0, commits1, r.wall);
    let written = written_bytes(pid) - written0;
    println!(
        "  written (WAL and checkpoints): {:.0} bytes per event, {:.0} KB per commit",
        written / r.total_ok as f64,
        written / 1024.0 / (commits1.0 - commits0.0),
    );
    let threads1 = thread_cpu(pid);
    let writer = |t: &std::collections::BTreeMap<String, f64>| {
        t.get("herald-writer").copied().unwrap_or(0.0)
    };
    println!(
        "  writer: {:.1} us of CPU per event",
        (writer(&threads1) - writer(&threads0)) * 1e6 / r.total_ok as f64
    );
    print_cpu_split(
        "herald",
        &threads0,
        &threads1,
        Some(cpu_secs(std::process::id()) - me0),
        r.wall,
    );
    r
}

/// Deliveries/s over several runs: every distinct delivery over all their time.
fn combined_rate(runs: &[&Delivered]) -> f64 {
    let n: usize = runs.iter().map(|d| d.distinct).sum();
    let t: f64 = runs.iter().map(|d| d.elapsed.as_secs_f64()).sum();
    n as f64 / t
}

fn loss_goal(verdicts: &mut Verdicts, label: &str, runs: &[&Delivered]) {
    let distinct: usize = runs.iter().map(|d| d.distinct).sum();
    let expected: usize = runs.iter().map(|d| d.expected).sum();
    let verdict = verdicts.record(
        &format!("{label}: every expected delivery arrived"),
        distinct == expected,
    );
    println!(
        "{label} loss: {distinct} distinct (endpoint, webhook-id) at the receiver over {} runs for {expected} expected: {verdict}",
        runs.len()
    );
}

/// Measurements 1 and 3 in the order 1, 3, bare loop, 3, 1, so drift in how busy the
/// machine is falls on both alike; each figure is over both of its runs.
fn deliveries(verdicts: &mut Verdicts, rx: &Receiver) {
    println!(
        "\n== 1 and 3. deliveries/s: {ENDPOINTS} endpoints (event.received), {EVENTS} events in the outbox, enabled at once; runs in the order 1, 3, bare, 3, 1 =="
    );
    let mut runs: Vec<(bool, Delivered)> = Vec::new();
    let mut bare = None;
    for (i, hanging) in [false, true, true, false].into_iter().enumerate() {
        let d = measure_delivery(rx, hanging);
        let label = if hanging {
            format!("herald, {ENDPOINTS} endpoints beside one hanging (timeoutMs {TIMEOUT_MS})")
        } else {
            format!("herald, {ENDPOINTS} endpoints")
        };
        print_delivered(&label, &d);
        if i == 1 {
            let b = bare_loop(rx, &d.messages);
            print_delivered(
                &format!("bare ureq loop ({ENDPOINTS} threads, one request at a time each)"),
                &b,
            );
            bare = Some(b);
        }
        runs.push((hanging, d));
    }
    let one: Vec<&Delivered> = runs.iter().filter(|r| !r.0).map(|r| &r.1).collect();
    let three: Vec<&Delivered> = runs.iter().filter(|r| r.0).map(|r| &r.1).collect();
    let (one_rate, three_rate) = (combined_rate(&one), combined_rate(&three));
    delivery_goals(verdicts, one_rate, &bare.unwrap());
    loss_goal(verdicts, "measurement 1", &one);
    verdicts.figure(
        "deliveries/s to the others with one endpoint hanging",
        three_rate,
        "deliveries/s",
        one_rate,
        ">= 0.9x measurement 1",
        Some(three_rate >= 0.9 * one_rate),
    );
    loss_goal(verdicts, "measurement 3", &three);
}

/// Measurement 2 in the order none, with, with, none; each figure over both its runs.
fn ingest(verdicts: &mut Verdicts, rx: &Receiver) {
    println!(
        "\n== 2. {SEND_PATH} with {GENERAL} active general endpoints vs none ({CONNS} connections, {} s warm-up + {} s; runs in the order none, with, with, none) ==",
        WARMUP.as_secs(),
        DURATION.as_secs()
    );
    let (mut none, mut with) = (Vec::new(), Vec::new());
    for endpoints in [0, GENERAL, GENERAL, 0] {
        let r = ingest_with(rx, endpoints);
        if endpoints == 0 { &mut none } else { &mut with }.push(r);
    }
    let rate = |runs: &[LoadResult]| {
        let ok: u64 = runs.iter().map(|r| r.measured_ok).sum();
        ok as f64 / runs.iter().map(|r| r.measured.as_secs_f64()).sum::<f64>()
    };
    let (none, with) = (rate(&none), rate(&with));
    verdicts.figure(
        &format!("ingest with {GENERAL} general webhooks"),
        with,
        "events/s",
        none,
        ">= 0.7x no webhooks",
        Some(with >= 0.7 * none),
    );
}

fn main() -> ExitCode {
    let mut verdicts = Verdicts::new();
    println!(
        "machine: {} cores, 1-min load average at start {}; {} HTTP workers for Herald and the receiver",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        http_workers(),
    );
    let rx = Receiver::start(http_workers());
    let only = std::env::var("WEBHOOKS_BENCH_ONLY").unwrap_or_default();
    if only != "ingest" {
        deliveries(&mut verdicts, &rx);
    }
    if only != "deliveries" {
        ingest(&mut verdicts, &rx);
    }
    rx.stop();
    println!("1-min load average at the end: {}", loadavg());
    verdicts.finish()
}
