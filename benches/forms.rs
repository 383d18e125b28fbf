//! Form submission figures: submissions/s on the public endpoint `POST /f/{slug}` under 64
//! concurrent keep-alive connections over 5,000 distinct people, each submission
//! committed (fsync through group commit) before its answer, against
//! `POST /api/events/send` measured in the same run on the same server and database.
//!
//! The form is what a newsletter signup looks like with double opt-in off: email and
//! first name, a consent checkbox, one single opt-in list; every submission upserts the
//! contact, records `form_submitted` through ingest, keeps the consent record, joins the
//! list (a no-op once joined) and keeps the submission row. Two bodies are measured: a
//! browser's form post from an embedding page (form-encoded, answered with Herald's
//! page) and the embed script's JSON post (answered with JSON). Rate limits are off, as
//! a load test from one address would otherwise be refused; the spam checks still run.
//!
//! Goals: at least 5,000 submissions/s on each body, and every acknowledged submission in
//! the database after shutdown. Run with `cargo bench --bench forms`; it exits non-zero
//! when a goal is missed.

mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rusqlite::{Connection, OpenFlags};

const CONNS: usize = 64;
const PEOPLE: u64 = 5_000;
const WARMUP: Duration = Duration::from_secs(2);
const DURATION: Duration = Duration::from_secs(10);
const GOAL: f64 = 5_000.0;
const SEND_PATH: &str = "/api/events/send";
const FORM_PATH: &str = "/f/bench-signup";
/// The embedding site a browser's post comes from (the form allows any origin).
const SITE: &str = "https://www.bakery.example";

fn sendra_body(n: u64) -> String {
    let i = n % PEOPLE;
    format!(
        r#"{{"email":"user{i}@example.com","eventName":"signUp","eventProperties":{{"plan":"pro","n":{n}}},"contactProperties":{{"firstName":"Ada"}}}}"#
    )
}

fn form_post(n: u64) -> Vec<u8> {
    let i = n % PEOPLE;
    let body = format!("email=person{i}%40example.com&firstName=Ada&consent=yes&_hp=");
    format!(
        "POST {FORM_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {SITE}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn script_post(n: u64) -> Vec<u8> {
    let i = n % PEOPLE;
    let body = format!(
        r#"{{"email":"script{i}@example.com","firstName":"Ada","consent":"yes","_hp":""}}"#
    );
    format!(
        "POST {FORM_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {SITE}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Creates the list and the form over the API.
fn create_form(port: u16, key: &str) {
    let mut conn = Conn::new(port);
    let list = conn.request(&post_json(
        "/api/lists",
        key,
        r#"{"name":"Bread news","optIn":"single"}"#,
    ));
    assert_eq!(list.status, 201, "{}", String::from_utf8_lossy(&list.body));
    let list: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    let form = serde_json::json!({
        "name": "Bench signup",
        "fields": [{"key": "email"}, {"key": "firstName"}],
        "listIds": [list["id"]],
        "consent": {"text": "Send me the bread news."},
        "minFillSeconds": 0,
    });
    let r = conn.request(&post_json("/api/forms", key, &form.to_string()));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

fn report(verdicts: &mut Verdicts, label: &str, r: &LoadResult, events: &LoadResult) -> bool {
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
    let verdict = verdicts.record(&format!("{label} >= 5000 submissions/s"), rate >= GOAL);
    println!(
        "{label} throughput: {} submissions/s ({:.2}x {SEND_PATH} at {} events/s) goal >= 5000 submissions/s: {verdict}",
        fmt_num(rate),
        rate / events.rate(),
        fmt_num(events.rate()),
    );
    verdicts.figure(
        &format!("{label} p99 latency"),
        r.p(99.0),
        "ms",
        events.p(99.0),
        "(none, informational)",
        None,
    );
    rate >= GOAL
}

fn load(port: u16, make: MakeRequest) -> LoadResult {
    run_load(port, CONNS, WARMUP, DURATION, make)
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn main() -> ExitCode {
    let mut verdicts = Verdicts::new();
    println!(
        "machine: {} cores, 1-min load average at start {}; {CONNS} keep-alive connections, {PEOPLE} distinct people, {} s warm-up + {} s measured, {} HTTP workers",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        WARMUP.as_secs(),
        DURATION.as_secs(),
        http_workers(),
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = workspace_with_key(&data, "Bench");
    let server = Server::start(
        &data,
        &[
            ("HERALD_FORMS__PER_IP_PER_MINUTE", "0"),
            ("HERALD_FORMS__PER_FORM_PER_MINUTE", "0"),
        ],
    );
    create_form(server.port, &key);

    println!("\n== {SEND_PATH} (the same run's reference) ==");
    let send_key = key.clone();
    let events = load(
        server.port,
        Arc::new(move |n| post_json(SEND_PATH, &send_key, &sendra_body(n))),
    );
    println!(
        "  {SEND_PATH}: {} events/s, p50 {:.2} ms, p99 {:.2} ms ({} non-2xx)",
        fmt_num(events.rate()),
        events.p(50.0),
        events.p(99.0),
        events.total_non_ok
    );

    println!("\n== {FORM_PATH}, a browser's form post from an embedding page ==");
    let before = writer_counters(server.port);
    let browser = load(server.port, Arc::new(form_post));
    print_group_commit(before, writer_counters(server.port), browser.wall);
    report(
        &mut verdicts,
        "form post (form-encoded, page answer)",
        &browser,
        &events,
    );

    println!("\n== {FORM_PATH}, the embed script's JSON post ==");
    let before = writer_counters(server.port);
    let script = load(server.port, Arc::new(script_post));
    print_group_commit(before, writer_counters(server.port), script.wall);
    report(&mut verdicts, "script post (JSON)", &script, &events);

    server.stop();
    let conn =
        Connection::open_with_flags(data.join("herald.db"), OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let stored = count(&conn, "SELECT COUNT(*) FROM form_submissions");
    let acknowledged = (browser.total_ok + script.total_ok) as i64;
    let members = count(
        &conn,
        "SELECT COUNT(*) FROM list_members WHERE status = 'confirmed'",
    );
    let verdict = verdicts.record(
        "every acknowledged submission is in the database",
        stored >= acknowledged,
    );
    println!(
        "durability: {stored} submissions stored for {acknowledged} acknowledged; {members} confirmed members: {verdict}"
    );
    println!("1-min load average at the end: {}", loadavg());
    verdicts.finish()
}
