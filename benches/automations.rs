//! Automation and email figures, each beside a baseline measured in the same run:
//! 1. end to end: 10,000 events each enrolling one automation with one email step,
//!    delivered to a local SMTP sink, against sending the same messages straight through
//!    lettre to the same sink;
//! 2. 100,000 enrollments whose waits come due at once, against a bare SQLite update of
//!    the same rows;
//! 3. events/s on `POST /api/events/send` with 50 active automations (5 matching),
//!    against the rate with none (median of three alternating runs of each).
//!
//! The lettre baseline gets the same thread count as Herald's HTTP workers
//! (`common::http_workers`) and the same SMTP pool size as Herald ([`SMTP_POOL_SIZE`]).
//!
//! Run with `cargo bench --bench automations`. It exits non-zero if a goal is missed.

mod common;
#[path = "../tests/suite/support/smtp.rs"]
mod smtp;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, Verdicts, http_workers, post_json, run_load, workspace_with_key};
use lettre::message::{MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::blocking::Client;
use rusqlite::params;
use serde_json::{Value, json};
use smtp::SmtpSink;

const EVENTS: usize = 10_000;
const WAITS: usize = 100_000;
/// SMTP connections Herald pools (`smtp.pool_size`) and the lettre baseline pools: one
/// constant, so the baseline cannot send over more connections than Herald.
const SMTP_POOL_SIZE: u32 = 4;

fn api(port: u16, key: &str, path: &str, body: Value) -> Value {
    let r = Client::new()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .header("X-API-Key", key)
        .json(&body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().unwrap()
}

/// Environment of the Herald that sends through the sink. Real mail needs a public origin
/// for its links (Herald refuses to start with an SMTP host and no `server.base_url`).
fn smtp_env(port: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "HERALD_SERVER__BASE_URL",
            "https://herald.bench.example".into(),
        ),
        ("HERALD_SMTP__HOST", "127.0.0.1".into()),
        ("HERALD_SMTP__PORT", port.into()),
        ("HERALD_SMTP__TLS", "none".into()),
        ("HERALD_SMTP__FROM_ADDRESS", "bench@herald.test".into()),
        ("HERALD_SMTP__POOL_SIZE", SMTP_POOL_SIZE.to_string()),
    ]
}

/// Sends `n` messages straight through lettre to the sink from 64 tasks on `threads`
/// runtime threads, over a pool of [`SMTP_POOL_SIZE`] connections; returns the time taken.
fn lettre_baseline(port: u16, n: usize, threads: usize) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let transport: AsyncSmtpTransport<Tokio1Executor> =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
                .port(port)
                .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(SMTP_POOL_SIZE))
                .build();
        let transport = Arc::new(transport);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..64 {
            let transport = transport.clone();
            tasks.push(tokio::spawn(async move {
                for i in (worker..n).step_by(64) {
                    let message = Message::builder()
                        .from("bench@herald.test".parse().unwrap())
                        .to(format!("direct{i}@example.com").parse().unwrap())
                        .subject(format!("Welcome direct{i}@example.com"))
                        .date_now()
                        .multipart(
                            MultiPart::alternative()
                                .singlepart(
                                    SinglePart::builder()
                                        .header(ContentType::TEXT_PLAIN)
                                        .body("Hi there".to_string()),
                                )
                                .singlepart(
                                    SinglePart::builder()
                                        .header(ContentType::TEXT_HTML)
                                        .body("<p>Hi there</p>".to_string()),
                                ),
                        )
                        .unwrap();
                    transport.send(message).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        started.elapsed()
    })
}

fn end_to_end(verdicts: &mut Verdicts) {
    let sink = SmtpSink::start();
    let port = sink.port.to_string();
    let threads = http_workers();
    let baseline = lettre_baseline(sink.port, EVENTS, threads);
    let baseline_rate = EVENTS as f64 / baseline.as_secs_f64();
    let direct = sink.messages().len();
    println!(
        "baseline: lettre straight to the sink, 64 senders on {threads} runtime threads (herald's HTTP worker count), {SMTP_POOL_SIZE} pooled connections (herald's smtp.pool_size): {:.0} emails/s",
        baseline_rate
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = workspace_with_key(&data, "Bench");
    let env = smtp_env(&port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(&data, &env);
    let template = api(
        server.port,
        &key,
        "/api/templates",
        json!({"name": "Welcome", "subject": "Welcome {{contact.email}}", "html": "<p>Hi {{contact.email}}</p>"}),
    );
    api(
        server.port,
        &key,
        "/api/automations",
        json!({"name": "Welcome", "status": "active", "trigger": {"type": "event", "event": "signUp"}, "steps": [{"type": "email", "template": template["id"]}]}),
    );

    let started = Instant::now();
    let key2 = key.clone();
    let make: common::MakeRequest = Arc::new(move |n| {
        let body =
            json!({"email": format!("user{n}@example.com"), "eventName": "signUp"}).to_string();
        post_json("/api/events/send", &key2, &body)
    });
    // Send exactly EVENTS events over 64 connections.
    let sent = send_exactly(server.port, EVENTS, make);
    let accepted = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    while sink.messages().len() < direct + EVENTS {
        assert!(
            Instant::now() < deadline,
            "only {} of {EVENTS} emails arrived",
            sink.messages().len() - direct
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let total = started.elapsed();
    let rate = EVENTS as f64 / total.as_secs_f64();
    println!(
        "events accepted: {sent} in {:.2} s; all {EVENTS} emails at the sink after {:.2} s",
        accepted.as_secs_f64(),
        total.as_secs_f64()
    );
    verdicts.figure(
        "end-to-end emails/s (event -> enrollment -> SMTP sink)",
        rate,
        "emails/s",
        baseline_rate,
        ">= 1000 emails/s and >= 0.5x lettre direct",
        Some(rate >= 1000.0 && rate / baseline_rate >= 0.5),
    );
    server.stop();
}

/// Sends exactly `n` requests over 64 connections; returns how many got a 2xx.
fn send_exactly(port: u16, n: usize, make: common::MakeRequest) -> u64 {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ok = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let (next, ok, make) = (next.clone(), ok.clone(), make.clone());
            std::thread::spawn(move || {
                let mut conn = common::Conn::new(port);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let r = conn.request(&make(i as u64));
                    if (200..300).contains(&r.status) {
                        ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    ok.load(std::sync::atomic::Ordering::Relaxed)
}

/// Parks [`WAITS`] enrollments of `automation_uid` at their wait, all due now, straight in
/// the database, the way an event parks them (an arrival holding the member with its wake
/// time): going through the API would make the setup, not the wake-up, the figure.
fn park_due_waits(db: &rusqlite::Connection, automation_uid: &str) {
    db.execute_batch("PRAGMA synchronous = OFF;").unwrap();
    let (ws, automation_id): (i64, i64) = db
        .query_row(
            "SELECT workspace_id, id FROM automations WHERE uid = ?1",
            [automation_uid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let tx = db.unchecked_transaction().unwrap();
    for i in 0..WAITS {
        tx.execute("INSERT INTO contacts (uid, workspace_id, email, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)", params![format!("c{i}"), ws, format!("wait{i}@example.com"), now]).unwrap();
        let contact = tx.last_insert_rowid();
        let wake = now - 1000;
        tx.execute(
            "INSERT INTO arrivals (workspace_id, contact_id, occurrence, context, created_at, parked, wake_at)
             VALUES (?1, ?2, 'event:never', '{}', ?3, ?4, ?5)",
            params![ws, contact, now, format!("[[0,{automation_id},{wake}]]"), wake],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// Polls until every parked enrollment has completed (panics after 600 s, so a stuck
/// scheduler fails the bench instead of hanging it).
fn wait_all_completed(db: &rusqlite::Connection) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM enrollments WHERE state = 'completed'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if done as usize == WAITS {
            break;
        }
        assert!(Instant::now() < deadline, "only {done} of {WAITS} advanced");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn waits_due_at_once(verdicts: &mut Verdicts) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = workspace_with_key(&data, "Bench");
    let server = Server::start(&data, &[]);
    let automation = api(
        server.port,
        &key,
        "/api/automations",
        json!({"name": "Waits", "status": "active", "trigger": {"type": "event", "event": "never"}, "steps": [{"type": "wait", "until": "2020-01-01T00:00:00Z"}]}),
    );
    let automation_uid = automation["id"].as_str().unwrap().to_string();
    server.stop();

    let db = rusqlite::Connection::open(data.join("herald.db")).unwrap();
    park_due_waits(&db, &automation_uid);

    let started = Instant::now();
    let server = Server::start(&data, &[]);
    wait_all_completed(&db);
    let took = started.elapsed();
    server.stop();

    // Baseline: the bare state change, one UPDATE of the same rows in one transaction.
    let base_started = Instant::now();
    db.execute(
        "UPDATE enrollments SET state = 'waiting', position = '0', updated_at = updated_at + 1",
        [],
    )
    .unwrap();
    let baseline = base_started.elapsed();
    verdicts.figure(
        &format!("{WAITS} waits due at once, all advanced"),
        took.as_secs_f64(),
        "s",
        baseline.as_secs_f64(),
        "<= 60 s",
        Some(took <= Duration::from_secs(60)),
    );
}

fn rate_with(automations: usize, matching: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = workspace_with_key(&data, "Bench");
    let server = Server::start(&data, &[]);
    for i in 0..automations {
        let event = if i < matching {
            "signUp".to_string()
        } else {
            format!("other{i}")
        };
        api(
            server.port,
            &key,
            "/api/automations",
            json!({"name": format!("A{i}"), "status": "active", "trigger": {"type": "event", "event": event}, "exitOn": ["cancelled"], "steps": [{"type": "wait", "duration": "1d"}]}),
        );
    }
    let key2 = key.clone();
    let make: common::MakeRequest = Arc::new(move |n| {
        let body = json!({"email": format!("user{}@example.com", n % 5000), "eventName": "signUp", "eventProperties": {"plan": "pro"}}).to_string();
        post_json("/api/events/send", &key2, &body)
    });
    let result = run_load(
        server.port,
        64,
        Duration::from_secs(2),
        Duration::from_secs(6),
        make,
    );
    server.stop();
    result.rate()
}

/// Runs of each arm; the figure compares medians, taken alternately so drift hits both.
const OVERHEAD_RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn automation_overhead(verdicts: &mut Verdicts) {
    let (mut nones, mut fifties) = (Vec::new(), Vec::new());
    for _ in 0..OVERHEAD_RUNS {
        nones.push(rate_with(0, 0));
        fifties.push(rate_with(50, 5));
    }
    println!(
        "  automation overhead runs (events/s): none {:?}, 50 automations {:?}",
        nones.iter().map(|r| r.round()).collect::<Vec<_>>(),
        fifties.iter().map(|r| r.round()).collect::<Vec<_>>()
    );
    let none = median(nones);
    let fifty = median(fifties);
    verdicts.figure(
        "events/s with 50 active automations (5 matching), median of 3",
        fifty,
        "events/s",
        none,
        ">= 0.7x the rate with none",
        Some(fifty / none >= 0.7),
    );
}

fn main() -> ExitCode {
    let mut verdicts = Verdicts::new();
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    if run("end_to_end") {
        end_to_end(&mut verdicts);
    }
    if run("waits") {
        waits_due_at_once(&mut verdicts);
    }
    if run("overhead") {
        automation_overhead(&mut verdicts);
    }
    verdicts.finish()
}
