//! Ingest figures: events/s, p50/p99 latency and peak memory of `POST /api/events/send`
//! (synchronous, committed with fsync through group commit) and `POST /api/v1/events/send`
//! (durably queued, processed by the job worker), under 64 concurrent keep-alive
//! connections over 5,000 distinct contacts.
//!
//! The baseline, measured in the same run with the same client and connection count, is
//! the same HTTP stack (actix-web in this process, with as many workers as Herald gets:
//! both take the count from `common::http_workers`) answering from memory: its handler
//! parses the same JSON body and returns the same answer, without touching a database.
//! The ratio is Herald's rate over that rate.
//!
//! Run with `cargo bench --bench ingest`. It exits non-zero if a goal is missed.

mod common;

use std::collections::BTreeMap;
use std::process::ExitCode;
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
    /// Starts the in-memory server with `workers` HTTP workers.
    fn start(workers: usize) -> Baseline {
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
                .workers(workers)
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

fn report_load(verdicts: &mut Verdicts, label: &str, r: &LoadResult, base: &LoadResult) {
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
    let rate_verdict = verdicts.record(
        &format!("{label} throughput >= 25000 events/s"),
        rate >= 25_000.0,
    );
    let ratio_verdict = verdicts.record(
        &format!("{label} throughput ratio to in-memory baseline >= 0.5"),
        rate / base_rate >= 0.5,
    );
    println!(
        "{label} throughput: {} events/s ({:.2}x baseline {} events/s) goal >= 25000 events/s: {rate_verdict}; goal ratio >= 0.5: {ratio_verdict}",
        fmt_num(rate),
        rate / base_rate,
        fmt_num(base_rate),
    );
    verdicts.figure(
        &format!("{label} p50 latency"),
        r.p(50.0),
        "ms",
        base.p(50.0),
        "(none, informational)",
        None,
    );
    verdicts.figure(
        &format!("{label} p99 latency"),
        r.p(99.0),
        "ms",
        base.p(99.0),
        "<= 20 ms",
        Some(r.p(99.0) <= 20.0),
    );
}

fn report_rss(verdicts: &mut Verdicts, label: &str, peak_kib: u64, base_kib: u64) {
    verdicts.figure(
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

/// The baseline's load runs on both paths, kept for the ratios of every Herald figure.
struct BaselineRuns {
    send: LoadResult,
    v1: LoadResult,
}

/// Measures the in-memory baseline on both paths with the same client Herald gets, and
/// prints it with its worker count (the one Herald gets) and where the bench process's
/// CPU and memory went, since the baseline server lives in this process.
fn measure_baseline(key: &str) -> BaselineRuns {
    let workers = http_workers();
    let baseline = Baseline::start(workers);
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
        maker(SEND_PATH, key.to_string(), sendra_body),
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
        maker(V1_PATH, key.to_string(), v1_body),
    );
    let base_rss = rss_kib(std::process::id());
    baseline.stop();
    println!(
        "baseline (in-memory actix-web, {workers} workers as herald, same JSON parse): {} {:.0}/s p50 {:.2} ms p99 {:.2} ms; {} {:.0}/s p50 {:.2} ms p99 {:.2} ms; bench process RSS {:.1} -> {:.1} MiB",
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
    BaselineRuns {
        send: base_send,
        v1: base_v1,
    }
}

/// One load run against Herald with the readings taken just before it, so its report
/// shows where the server's CPU and commits went during exactly that run.
struct HeraldLoad {
    result: LoadResult,
    threads_before: BTreeMap<String, f64>,
    commits_before: (f64, f64),
    /// CPU the bench process (the load generator) used during the run.
    bench_cpu: f64,
    /// Just before the first request.
    started: Instant,
    /// Just after the last response.
    done: Instant,
}

/// Runs the load against Herald while sampling its memory. The sampler comes back still
/// running, because the queued endpoint's peak includes the drain that follows the load.
fn load_herald(
    server: &Server,
    path: &'static str,
    key: &str,
    body: fn(u64) -> String,
) -> (HeraldLoad, RssSampler) {
    let pid = server.pid();
    let me = std::process::id();
    let threads_before = thread_cpu(pid);
    let me0 = cpu_secs(me);
    let commits_before = writer_counters(server.port);
    let sampler = RssSampler::start(pid);
    let started = Instant::now();
    let result = run_load(
        server.port,
        CONNS,
        WARMUP,
        DURATION,
        maker(path, key.to_string(), body),
    );
    let done = Instant::now();
    let bench_cpu = cpu_secs(me) - me0;
    let run = HeraldLoad {
        result,
        threads_before,
        commits_before,
        bench_cpu,
        started,
        done,
    };
    (run, sampler)
}

/// Prints a Herald load run beside the baseline's: the throughput and latency goals, then
/// the group-commit figures and Herald's CPU split over the same run.
fn report_herald_load(
    verdicts: &mut Verdicts,
    label: &str,
    run: &HeraldLoad,
    base: &LoadResult,
    server: &Server,
) {
    report_load(verdicts, label, &run.result, base);
    print_group_commit(
        run.commits_before,
        writer_counters(server.port),
        run.result.wall,
    );
    print_cpu_split(
        "herald",
        &run.threads_before,
        &thread_cpu(server.pid()),
        Some(run.bench_cpu),
        run.result.wall,
    );
}

/// `POST /api/events/send`: each event is committed (fsync through group commit) before
/// its 200, so the load run alone is the whole figure.
fn bench_send(
    verdicts: &mut Verdicts,
    server: &Server,
    key: &str,
    base: &LoadResult,
    idle_rss: u64,
) -> LoadResult {
    println!("\n== {SEND_PATH} (default durability: fsync per group commit) ==");
    let (run, sampler) = load_herald(server, SEND_PATH, key, sendra_body);
    let peak = sampler.peak_kib();
    report_herald_load(verdicts, SEND_PATH, &run, base, server);
    report_rss(verdicts, SEND_PATH, peak, idle_rss);
    run.result
}

/// How the trigger queue drained after the v1 load stopped.
struct Drain {
    /// Triggers not completed when the load stopped.
    at_stop: i64,
    /// Triggers still not completed when the wait ended (0 unless it hit the limit).
    pending: i64,
    /// From the end of the load to the end of the wait.
    drained: Duration,
}

/// Waits (up to [`DRAIN_LIMIT`]) for every trigger to complete, printing progress every
/// 5 s: a 201 only means queued, so the work is not done until the queue is empty.
fn drain_triggers(db: &Connection, load_done: Instant) -> Drain {
    let at_stop = count(
        db,
        "SELECT COUNT(*) FROM triggers WHERE status != 'completed'",
    );
    let mut pending = at_stop;
    let mut last_print = Instant::now();
    while pending > 0 && load_done.elapsed() < DRAIN_LIMIT {
        std::thread::sleep(Duration::from_millis(50));
        pending = count(
            db,
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
    Drain {
        at_stop,
        pending,
        drained: load_done.elapsed(),
    }
}

/// `POST /api/v1/events/send`: the load, then the drain of the trigger queue it filled,
/// then the memory peak over both and the end-to-end rate.
fn bench_v1(
    verdicts: &mut Verdicts,
    server: &Server,
    key: &str,
    base: &LoadResult,
    idle_rss: u64,
) -> LoadResult {
    println!("\n== {V1_PATH} (queued; the trigger queue ingests each event) ==");
    let (run, sampler) = load_herald(server, V1_PATH, key, v1_body);
    report_herald_load(verdicts, V1_PATH, &run, base, server);
    let db = open_ro(&server.db_path());
    let drain = drain_triggers(&db, run.done);
    let all_done = run.started.elapsed();
    let peak = sampler.peak_kib();
    let triggers = count(&db, "SELECT COUNT(*) FROM triggers");
    let failed = count(&db, "SELECT COUNT(*) FROM triggers WHERE status = 'failed'");
    drop(db);
    report_rss(verdicts, V1_PATH, peak, idle_rss);
    println!(
        "  {} of {triggers} triggers were not completed when the load stopped; {failed} failed",
        drain.at_stop
    );
    verdicts.figure(
        &format!("{V1_PATH} drain time after the load stopped"),
        drain.drained.as_secs_f64(),
        "s",
        DURATION.as_secs_f64() + WARMUP.as_secs_f64(),
        "(none, informational; baseline = load duration)",
        if drain.pending == 0 {
            None
        } else {
            Some(false)
        },
    );
    let e2e = run.result.total_ok as f64 / all_done.as_secs_f64();
    verdicts.figure(
        &format!("{V1_PATH} end-to-end processed"),
        e2e,
        "events/s",
        base.total_ok as f64 / (WARMUP + DURATION).as_secs_f64(),
        "(none, informational; accepted 201s over first request .. last trigger completed)",
        None,
    );
    run.result
}

/// After SIGTERM, every acknowledged event must be in the database, and nothing else: a
/// mismatch means Herald lost or invented events, so it counts as a missed goal.
fn sanity(verdicts: &mut Verdicts, data: &std::path::Path, send_ok: u64, v1_ok: u64) {
    let db = open_ro(&data.join("herald.db"));
    let sign_ups = count(&db, "SELECT COUNT(*) FROM events WHERE name = 'signUp'");
    let user_signups = count(
        &db,
        "SELECT COUNT(*) FROM events WHERE name = 'user_signup'",
    );
    let contacts = count(&db, "SELECT COUNT(*) FROM contacts");
    println!("\n== sanity after SIGTERM ==");
    for (name, in_db, acked, status) in [
        ("signUp", sign_ups, send_ok, 200),
        ("user_signup", user_signups, v1_ok, 201),
    ] {
        let equal = in_db as u64 == acked;
        verdicts.record(
            &format!("{name} events in the database equal the {status} responses"),
            equal,
        );
        println!(
            "{name} events in the database: {in_db}, {status} responses: {acked} : {}",
            if equal { "equal" } else { "MISMATCH" }
        );
    }
    println!(
        "contacts in the database: {contacts} (expected {})",
        2 * CONTACTS
    );
}

/// Diagnostic, not a goal: the same Sendra load with durability = normal (no fsync per
/// commit), on a fresh data directory, to show how much of the gap the fsync accounts for.
fn durability_normal_diagnostic(base_send: &LoadResult) {
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
}

fn main() -> ExitCode {
    let mut verdicts = Verdicts::new();
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
    let base = measure_baseline(&key);
    // Memory baseline: an idle Herald on the same database right after start.
    let server = Server::start(&data, &[]);
    std::thread::sleep(Duration::from_millis(300));
    let idle_rss = rss_kib(server.pid());
    println!(
        "herald idle RSS after start: {:.1} MiB",
        idle_rss as f64 / 1024.0
    );

    let send = bench_send(&mut verdicts, &server, &key, &base.send, idle_rss);
    let v1 = bench_v1(&mut verdicts, &server, &key, &base.v1, idle_rss);
    server.stop();
    sanity(&mut verdicts, &data, send.total_ok, v1.total_ok);
    durability_normal_diagnostic(&base.send);
    println!("1-min load average at the end: {}", loadavg());
    verdicts.finish()
}
