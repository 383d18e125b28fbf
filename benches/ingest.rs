//! Ingest figures: events/s, p50/p99 latency and peak memory of `POST /api/events/send`
//! (synchronous, committed with fsync through group commit) and `POST /api/v1/events/send`
//! (durably queued, processed by the job worker), under 64 concurrent keep-alive
//! connections over 5,000 distinct contacts.
//!
//! The baseline, measured in the same run with the same client and connection count, is
//! the same HTTP stack (actix-web, 2 workers, in this process) answering from memory: its
//! handler parses the same JSON body and returns the same answer, without touching a
//! database. The ratio is Herald's rate over that rate.
//!
//! Run with `cargo bench --bench ingest`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use common::*;
use rusqlite::{Connection, OpenFlags};

const CONNS: usize = 64;
const CONTACTS: u64 = 5_000;
const WARMUP: Duration = Duration::from_secs(2);
const DURATION: Duration = Duration::from_secs(10);
/// Longest wait for the v1 job worker to drain after the load stops.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

const SEND_PATH: &str = "/api/events/send";
const V1_PATH: &str = "/api/v1/events/send";

fn sendra_body(n: u64) -> String {
    let i = n % CONTACTS;
    format!(
        r#"{{"email":"user{i}@example.com","eventName":"signUp","eventProperties":{{"plan":"pro","n":{n}}},"contactProperties":{{"firstName":"Ada"}}}}"#
    )
}

fn v1_body(n: u64) -> String {
    let i = n % CONTACTS;
    format!(
        r#"{{"event_name":"user_signup","user_info":{{"email":"v1user{i}@example.com","contact_external_id":"v1user{i}"}},"event_data":{{"a":1,"n":{n}}}}}"#
    )
}

/// The baseline server: same stack, same paths, the body parsed, answered from memory.
struct Baseline {
    port: u16,
    handle: actix_web::dev::ServerHandle,
    thread: std::thread::JoinHandle<()>,
}

async fn baseline_send(body: web::Bytes) -> HttpResponse {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) if v.is_object() => {
            HttpResponse::Ok().json(serde_json::json!({"enrolled": 0, "exited": 0}))
        }
        _ => HttpResponse::BadRequest().finish(),
    }
}

async fn baseline_v1(body: web::Bytes) -> HttpResponse {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) if v.is_object() => HttpResponse::Created().json(serde_json::json!({
            "success": true,
            "trigger_id": "00000000-0000-4000-8000-000000000000",
            "job_id": "1",
            "message": "Event queued successfully",
        })),
        _ => HttpResponse::BadRequest().finish(),
    }
}

impl Baseline {
    fn start() -> Baseline {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(|| {
                    App::new()
                        .route(SEND_PATH, web::post().to(baseline_send))
                        .route(V1_PATH, web::post().to(baseline_v1))
                })
                .workers(2)
                .listen(listener)
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        let handle = rx.recv().unwrap();
        Baseline {
            port,
            handle,
            thread,
        }
    }

    fn stop(self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        self.thread.join().unwrap();
    }
}

fn maker(path: &'static str, key: String, body: fn(u64) -> String) -> MakeRequest {
    Arc::new(move |n| post_json(path, &key, &body(n)))
}

fn report_load(label: &str, r: &LoadResult, base: &LoadResult) {
    println!(
        "  {label}: {} responses 2xx in the measured {:.0} s ({} in all, {} non-2xx, {} connection errors)",
        r.measured_ok,
        r.measured.as_secs_f64(),
        r.total_ok,
        r.total_non_ok,
        r.errors
    );
    if let Some(f) = &r.first_failure {
        println!("  first failure: {f}");
    }
    let rate = r.rate();
    let base_rate = base.rate();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "{label} throughput: {} events/s ({:.2}x baseline {} events/s) goal >= 25000 events/s: {}; goal ratio >= 0.5: {}",
        fmt_num(rate),
        rate / base_rate,
        fmt_num(base_rate),
        verdict(rate >= 25_000.0),
        verdict(rate / base_rate >= 0.5)
    );
    figure(
        &format!("{label} p50 latency"),
        r.p(50.0),
        "ms",
        base.p(50.0),
        "(none, informational)",
        None,
    );
    figure(
        &format!("{label} p99 latency"),
        r.p(99.0),
        "ms",
        base.p(99.0),
        "<= 20 ms",
        Some(r.p(99.0) <= 20.0),
    );
}

fn report_rss(label: &str, peak_kib: u64, base_kib: u64) {
    figure(
        &format!("{label} peak RSS during load"),
        peak_kib as f64 / 1024.0,
        "MiB",
        base_kib as f64 / 1024.0,
        "<= 100 MB",
        Some(peak_kib as f64 * 1024.0 <= 100_000_000.0),
    );
}

fn open_ro(path: &std::path::Path) -> Connection {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn main() {
    println!("binary: {BIN}");
    println!(
        "machine: {} cores, 1-min load average at start {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    println!(
        "load: {CONNS} keep-alive connections, one request in flight each, {CONTACTS} distinct contacts, {} s warm-up + {} s measured",
        WARMUP.as_secs(),
        DURATION.as_secs()
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = workspace_with_key(&data, "Bench");

    // Baseline: the same HTTP stack answering from memory, driven by the same client.
    let baseline = Baseline::start();
    // The bench process itself holds the baseline server, so its RSS is the bench's.
    let base_rss_before = rss_kib(std::process::id());
    let me = std::process::id();
    let bench_threads0 = thread_cpu(me);
    let bench_cpu0 = cpu_secs(me);
    let base_send = run_load(
        baseline.port,
        CONNS,
        WARMUP,
        DURATION,
        maker(SEND_PATH, key.clone(), sendra_body),
    );
    print_cpu_split(
        "baseline server (actix-rt threads of the bench process)",
        &bench_threads0,
        &thread_cpu(me),
        Some(cpu_secs(me) - bench_cpu0),
        base_send.wall,
    );
    let base_v1 = run_load(
        baseline.port,
        CONNS,
        WARMUP,
        DURATION,
        maker(V1_PATH, key.clone(), v1_body),
    );
    let base_rss = rss_kib(std::process::id());
    baseline.stop();
    println!(
        "baseline (in-memory actix-web, 2 workers, same JSON parse): {} {:.0}/s p50 {:.2} ms p99 {:.2} ms; {} {:.0}/s p50 {:.2} ms p99 {:.2} ms; bench process RSS {:.1} -> {:.1} MiB",
        SEND_PATH,
        base_send.rate(),
        base_send.p(50.0),
        base_send.p(99.0),
        V1_PATH,
        base_v1.rate(),
        base_v1.p(50.0),
        base_v1.p(99.0),
        base_rss_before as f64 / 1024.0,
        base_rss as f64 / 1024.0
    );
    // Memory baseline: an idle Herald on the same database right after start.
    let server = Server::start(&data, &[]);
    let pid = server.pid();
    std::thread::sleep(Duration::from_millis(300));
    let idle_rss = rss_kib(pid);
    println!(
        "herald idle RSS after start: {:.1} MiB",
        idle_rss as f64 / 1024.0
    );

    // 1. POST /api/events/send, default durability.
    println!("\n== {SEND_PATH} (default durability: fsync per group commit) ==");
    let threads0 = thread_cpu(pid);
    let me0 = cpu_secs(std::process::id());
    let commits0 = writer_counters(server.port);
    let sampler = RssSampler::start(pid);
    let send = run_load(
        server.port,
        CONNS,
        WARMUP,
        DURATION,
        maker(SEND_PATH, key.clone(), sendra_body),
    );
    let peak = sampler.peak_kib();
    let bench_cpu = cpu_secs(std::process::id()) - me0;
    report_load(SEND_PATH, &send, &base_send);
    print_group_commit(commits0, writer_counters(server.port), send.wall);
    print_cpu_split(
        "herald",
        &threads0,
        &thread_cpu(pid),
        Some(bench_cpu),
        send.wall,
    );
    report_rss(SEND_PATH, peak, idle_rss);

    // 2. POST /api/v1/events/send, then drain the queue.
    println!("\n== {V1_PATH} (queued; the trigger queue ingests each event) ==");
    let threads0 = thread_cpu(pid);
    let me0 = cpu_secs(std::process::id());
    let commits0 = writer_counters(server.port);
    let sampler = RssSampler::start(pid);
    let load_started = Instant::now();
    let v1 = run_load(
        server.port,
        CONNS,
        WARMUP,
        DURATION,
        maker(V1_PATH, key.clone(), v1_body),
    );
    let load_done = Instant::now();
    let bench_cpu = cpu_secs(std::process::id()) - me0;
    report_load(V1_PATH, &v1, &base_v1);
    print_group_commit(commits0, writer_counters(server.port), v1.wall);
    print_cpu_split(
        "herald",
        &threads0,
        &thread_cpu(pid),
        Some(bench_cpu),
        v1.wall,
    );
    let db = open_ro(&server.db_path());
    let at_stop = count(
        &db,
        "SELECT COUNT(*) FROM triggers WHERE status != 'completed'",
    );
    let mut pending = at_stop;
    let mut last_print = Instant::now();
    while pending > 0 && load_done.elapsed() < DRAIN_LIMIT {
        std::thread::sleep(Duration::from_millis(50));
        pending = count(
            &db,
            "SELECT COUNT(*) FROM triggers WHERE status != 'completed'",
        );
        if last_print.elapsed() >= Duration::from_secs(5) {
            println!(
                "  draining: {pending} triggers not completed after {:.0} s",
                load_done.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
    }
    let drained = load_done.elapsed();
    let all_done = load_started.elapsed();
    let peak = sampler.peak_kib();
    let triggers = count(&db, "SELECT COUNT(*) FROM triggers");
    let failed = count(&db, "SELECT COUNT(*) FROM triggers WHERE status = 'failed'");
    drop(db);
    report_rss(V1_PATH, peak, idle_rss);
    println!(
        "  {at_stop} of {triggers} triggers were not completed when the load stopped; {failed} failed"
    );
    figure(
        &format!("{V1_PATH} drain time after the load stopped"),
        drained.as_secs_f64(),
        "s",
        DURATION.as_secs_f64() + WARMUP.as_secs_f64(),
        "(none, informational; baseline = load duration)",
        if pending == 0 { None } else { Some(false) },
    );
    let e2e = v1.total_ok as f64 / all_done.as_secs_f64();
    figure(
        &format!("{V1_PATH} end-to-end processed"),
        e2e,
        "events/s",
        base_v1.total_ok as f64 / (WARMUP + DURATION).as_secs_f64(),
        "(none, informational; accepted 201s over first request .. last trigger completed)",
        None,
    );

    // 3. Sanity: every acknowledged event is in the database, and nothing else.
    server.stop();
    let db = open_ro(&data.join("herald.db"));
    let sign_ups = count(&db, "SELECT COUNT(*) FROM events WHERE name = 'signUp'");
    let user_signups = count(
        &db,
        "SELECT COUNT(*) FROM events WHERE name = 'user_signup'",
    );
    let contacts = count(&db, "SELECT COUNT(*) FROM contacts");
    println!("\n== sanity after SIGTERM ==");
    println!(
        "signUp events in the database: {sign_ups}, 200 responses: {} : {}",
        send.total_ok,
        if sign_ups as u64 == send.total_ok {
            "equal"
        } else {
            "MISMATCH"
        }
    );
    println!(
        "user_signup events in the database: {user_signups}, 201 responses: {} : {}",
        v1.total_ok,
        if user_signups as u64 == v1.total_ok {
            "equal"
        } else {
            "MISMATCH"
        }
    );
    println!(
        "contacts in the database: {contacts} (expected {})",
        2 * CONTACTS
    );
    // Diagnostic: the same Sendra load with durability = normal (no fsync per commit), on
    // a fresh data directory, to show how much of the gap the fsync accounts for.
    println!("\n== diagnostic: {SEND_PATH} with store.durability = normal (not a goal) ==");
    let dir2 = tempfile::tempdir().unwrap();
    let data2 = dir2.path().join("data");
    let key2 = workspace_with_key(&data2, "Bench");
    let server = Server::start(&data2, &[("HERALD_STORE__DURABILITY", "normal")]);
    let pid = server.pid();
    let threads0 = thread_cpu(pid);
    let commits0 = writer_counters(server.port);
    let normal = run_load(
        server.port,
        CONNS,
        WARMUP,
        DURATION,
        maker(SEND_PATH, key2, sendra_body),
    );
    println!(
        "  durability=normal: {} events/s ({:.2}x baseline {} events/s), p50 {:.2} ms, p99 {:.2} ms",
        fmt_num(normal.rate()),
        normal.rate() / base_send.rate(),
        fmt_num(base_send.rate()),
        normal.p(50.0),
        normal.p(99.0)
    );
    print_group_commit(commits0, writer_counters(server.port), normal.wall);
    print_cpu_split("herald", &threads0, &thread_cpu(pid), None, normal.wall);
    server.stop();
    println!("1-min load average at the end: {}", loadavg());
}
