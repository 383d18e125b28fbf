//! Big-data figures: contact search, the filtered event log and segment counts on a
//! workspace with 1,000,000 contacts and 10,000,000 events, and a 1,000,000-row CSV
//! import.
//!
//! The workspace is created with the CLI (so the schema is exactly the one the migrations
//! make), then filled straight through rusqlite in large transactions (the FTS triggers
//! fire on every contact insert, as they do in the app), then `ANALYZE`d. The result is
//! cached in `target/bigdata-cache/<hash of the migrations and this generator>/`, so later
//! runs skip the build.
//!
//! Baselines, measured in the same run: `GET /healthz` p95 (the same HTTP stack, auth-free,
//! one trivial `SELECT 1`) for the read figures; for the import, rusqlite parsing the same
//! CSV file and inserting its rows into a bare three-column table in one transaction;
//! for segment counts, `GET /api/contacts?limit=1`, which counts every contact of the
//! workspace (see `bigdata/segments.rs`).
//!
//! Every server here is Herald itself (the baseline for reads is its own `/healthz`), with
//! the worker count `common::http_workers` gives every benchmarked server.
//!
//! Run with `cargo bench --bench bigdata`. It exits non-zero if a goal is missed. With
//! `BIGDATA_SKIP_IMPORT=1` it leaves out the import figures (and their goals), to measure
//! the reads alone.

mod common;
#[path = "bigdata/segments.rs"]
mod segments;
#[path = "bigdata/workspace.rs"]
mod workspace;

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::*;
use rusqlite::{Connection, params};
use workspace::{CONTACTS, EVENT_NAMES, Rng, big_workspace, email, first_name, last_name};

const IMPORT_ROWS: usize = 1_000_000;
const WARM: usize = 20;
const SAMPLES: usize = 200;

fn iso_date(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap();
    format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day())
}

/// Percent-encodes a query value (enough for emails and words).
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Sequential p95 of a family of GETs; returns (p50, p95) in ms.
fn p95_of(port: u16, key: &str, paths: &[String]) -> (f64, f64) {
    let lat = sample_latencies(port, WARM, SAMPLES, |i| {
        get_request(&paths[i % paths.len()], key)
    });
    (percentile_ms(&lat, 50.0), percentile_ms(&lat, 95.0))
}

/// One family of read requests and its p95 goal.
struct ReadCheck {
    what: &'static str,
    paths: Vec<String>,
    goal_ms: f64,
}

/// The first and last event times in the big workspace, so the date-range queries fall
/// inside the data however long ago the cache was built.
fn event_time_span(db: &Path) -> (i64, i64) {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(
        "SELECT MIN(created_at), MAX(created_at) FROM events WHERE workspace_id = (SELECT id FROM workspaces WHERE name = 'Big')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// The request families the read goals are measured on: searches that find one contact,
/// name and domain fragments that find many, and the event log by name, by contact and
/// by name in a 30-day range. Contacts are drawn from a fixed seed, so every run asks
/// the same questions.
fn read_checks(min_t: i64, max_t: i64) -> Vec<ReadCheck> {
    let mut rng = Rng(42);
    let mut contact = || rng.below(CONTACTS as u64) as i64;
    let search = |t: &str| format!("/api/contacts?search={t}&page=1&limit=50");
    let exact: Vec<String> = (0..SAMPLES)
        .map(|_| search(&enc(&email(contact()))))
        .collect();
    let fragments = ["love", "race", "urin", "opper", "ijks", "amar", "orvald"];
    let domains = [
        "example7",
        "example23",
        "example42",
        "example31",
        "example48",
    ];
    let by_name: Vec<String> = EVENT_NAMES
        .iter()
        .map(|n| format!("/api/events?eventName={n}&limit=50"))
        .collect();
    let by_email: Vec<String> = (0..SAMPLES)
        .map(|_| format!("/api/events?email={}&limit=50", enc(&email(contact()))))
        .collect();
    let span = max_t - min_t;
    let ranges: Vec<String> = (0..10)
        .map(|k| {
            let from = min_t + span * k / 12;
            let to = from + 30 * 86_400_000;
            format!(
                "/api/events?eventName={}&from={}&to={}&limit=50",
                EVENT_NAMES[k as usize % EVENT_NAMES.len()],
                iso_date(from),
                iso_date(to)
            )
        })
        .collect();
    let check = |what: &'static str, paths: Vec<String>, goal_ms: f64| ReadCheck {
        what,
        paths,
        goal_ms,
    };
    vec![
        check("contact search, exact email", exact, 20.0),
        check(
            "contact search, name fragment (love, race, urin, ...)",
            fragments.iter().map(|t| search(t)).collect(),
            20.0,
        ),
        check(
            "contact search, domain fragment (example7, ...)",
            domains.iter().map(|t| search(t)).collect(),
            20.0,
        ),
        check("event log, eventName=<one name>", by_name, 50.0),
        check("event log, email=<one contact>", by_email, 50.0),
        check(
            "event log, eventName + from/to (30-day range)",
            ranges,
            50.0,
        ),
    ]
}

/// Measures one read family: one request first, to show what the query returns, then
/// the p95 figure against the `/healthz` baseline.
fn run_read_check(verdicts: &mut Verdicts, port: u16, key: &str, check: &ReadCheck, base95: f64) {
    let ReadCheck {
        what,
        paths,
        goal_ms,
    } = check;
    let mut conn = Conn::new(port);
    let r = conn.request(&get_request(&paths[0], key));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    let shown = if let Some(total) = body.get("total") {
        format!("total {total}")
    } else {
        format!(
            "{} events on the first page",
            body["events"].as_array().map_or(0, |a| a.len())
        )
    };
    let (p50, p95) = p95_of(port, key, paths);
    println!(
        "  {what}: p50 {p50:.2} ms; e.g. {} -> {} {shown}",
        paths[0], r.status
    );
    verdicts.figure(
        &format!("{what} p95"),
        p95,
        "ms",
        base95,
        &format!("<= {goal_ms} ms"),
        Some(p95 <= *goal_ms),
    );
}

fn read_figures(verdicts: &mut Verdicts, data: &Path, key: &str) {
    println!(
        "\n== reads on 1,000,000 contacts / 10,000,000 events ({SAMPLES} sequential samples each after {WARM} warm-up, keep-alive) =="
    );
    let started = Instant::now();
    let server = Server::start(data, &[]);
    println!(
        "herald started on the big database in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let port = server.port;
    let (min_t, max_t) = event_time_span(&server.db_path());

    let (_, base95) = p95_of(port, key, &["/healthz".to_string()]);
    println!("baseline: GET /healthz p95 {base95:.2} ms");

    for check in read_checks(min_t, max_t) {
        run_read_check(verdicts, port, key, &check, base95);
    }
    server.stop();
}

/// The import figures' names and goals, shared by their lines and by the misses recorded
/// when the import cannot be measured at all.
const IMPORT_TOTAL: &str = "CSV import 1,000,000 rows, total";
const IMPORT_TOTAL_GOAL: &str = "<= 60 s";
const IMPORT_RATE: &str = "CSV import rate";
const IMPORT_RATE_GOAL: &str = ">= 16667 rows/s (1,000,000 in 60 s)";

/// Writes the import file: [`IMPORT_ROWS`] new contacts (emails unlike the big
/// workspace's) with the same first and last names.
fn write_import_csv(path: &Path) {
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "email,firstName,lastName").unwrap();
    for i in 0..IMPORT_ROWS as i64 {
        writeln!(
            w,
            "import{i}@example{}.org,{},{}",
            i % 50,
            first_name(i),
            last_name(i)
        )
        .unwrap();
    }
}

/// Baseline: rusqlite parses the same file and inserts the rows into a bare table, one
/// transaction, full fsync: the floor for getting these rows into SQLite at all.
fn bare_insert_baseline(dir: &Path, csv_path: &Path) -> Duration {
    let started = Instant::now();
    {
        let conn = Connection::open(dir.join("bare.db")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE bare (email TEXT NOT NULL, first_name TEXT, last_name TEXT);",
        )
        .unwrap();
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut stmt = tx
                .prepare("INSERT INTO bare (email, first_name, last_name) VALUES (?1, ?2, ?3)")
                .unwrap();
            for line in std::io::BufReader::new(std::fs::File::open(csv_path).unwrap())
                .lines()
                .skip(1)
            {
                let line = line.unwrap();
                let mut f = line.split(',');
                stmt.execute(params![f.next(), f.next(), f.next()]).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let base = started.elapsed();
    println!(
        "baseline: rusqlite parses the file and inserts the rows into a bare 3-column table, one transaction: {:.2} s ({:.0} rows/s)",
        base.as_secs_f64(),
        IMPORT_ROWS as f64 / base.as_secs_f64()
    );
    base
}

/// Uploads the CSV and returns the import's id and when the upload was answered, or
/// `None` (after printing why) if the endpoint is missing or did not give an id.
fn upload_csv(
    client: &reqwest::blocking::Client,
    base_url: &str,
    key: &str,
    csv: Vec<u8>,
    started: Instant,
) -> Option<(String, Duration)> {
    let response = client
        .post(format!("{base_url}/api/contacts/import"))
        .header("X-API-Key", key)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().unwrap_or_default();
    let uploaded = started.elapsed();
    if status == 404 || !(200..300).contains(&status) {
        println!("CSV import: endpoint not available ({status} {body})");
        return None;
    }
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let Some(id) = reply["id"].as_str().map(String::from) else {
        println!("CSV import: no id in the answer: {status} {body}");
        return None;
    };
    println!(
        "upload answered {status} after {:.2} s: {body}",
        uploaded.as_secs_f64()
    );
    Some((id, uploaded))
}

/// Polls the import every 100 ms (progress every 5 s) until it completes, fails or runs
/// past 900 s; returns its last status and when the first status answer came.
fn poll_import(
    client: &reqwest::blocking::Client,
    base_url: &str,
    key: &str,
    id: &str,
    started: Instant,
) -> (serde_json::Value, Option<Duration>) {
    let mut last_print = Instant::now();
    let mut first_status = None;
    let limit = Duration::from_secs(900);
    let final_state = loop {
        let r = client
            .get(format!("{base_url}/api/contacts/imports/{id}"))
            .header("X-API-Key", key)
            .send()
            .unwrap();
        let code = r.status().as_u16();
        let state: serde_json::Value = r.json().unwrap_or_default();
        if first_status.is_none() {
            first_status = Some(started.elapsed());
        }
        let s = state["status"].as_str().unwrap_or("").to_string();
        if code != 200 || s == "completed" || s == "failed" || started.elapsed() > limit {
            break state;
        }
        if last_print.elapsed() >= Duration::from_secs(5) {
            println!(
                "  import {s}: {} rows after {:.0} s",
                state["rowsDone"],
                started.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (final_state, first_status)
}

/// The two import goals against the baseline; an import that did not complete misses
/// both, however fast it was.
fn report_import(
    verdicts: &mut Verdicts,
    total: Duration,
    final_state: &serde_json::Value,
    base: Duration,
) {
    let done = final_state["status"] == "completed";
    verdicts.figure(
        IMPORT_TOTAL,
        total.as_secs_f64(),
        "s",
        base.as_secs_f64(),
        IMPORT_TOTAL_GOAL,
        Some(done && total <= Duration::from_secs(60)),
    );
    let rows = final_state["rowsDone"].as_f64().unwrap_or(0.0);
    verdicts.figure(
        IMPORT_RATE,
        rows / total.as_secs_f64(),
        "rows/s",
        IMPORT_ROWS as f64 / base.as_secs_f64(),
        IMPORT_RATE_GOAL,
        Some(done && rows / total.as_secs_f64() >= IMPORT_ROWS as f64 / 60.0),
    );
}

fn import_figures(verdicts: &mut Verdicts) {
    println!("\n== CSV import of {IMPORT_ROWS} rows into a fresh workspace ==");
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("contacts.csv");
    write_import_csv(&csv_path);
    let csv = std::fs::read(&csv_path).unwrap();
    println!("CSV file: {:.1} MiB", csv.len() as f64 / 1048576.0);
    let base = bare_insert_baseline(dir.path(), &csv_path);

    let data = dir.path().join("data");
    let key = workspace_with_key(&data, "Import");
    let server = Server::start(&data, &[]);
    let base_url = format!("http://127.0.0.1:{}", server.port);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let started = Instant::now();
    let Some((id, uploaded)) = upload_csv(&client, &base_url, &key, csv, started) else {
        // No import to time: both goals are missed, not skipped.
        let total = verdicts.record(&format!("{IMPORT_TOTAL} {IMPORT_TOTAL_GOAL}"), false);
        verdicts.record(&format!("{IMPORT_RATE} {IMPORT_RATE_GOAL}"), false);
        println!("CSV import goals not measured: {total}");
        server.stop();
        return;
    };
    let (final_state, first_status) = poll_import(&client, &base_url, &key, &id, started);
    let total = started.elapsed();
    println!(
        "upload + first status: {:.2} s; final status: {final_state}",
        first_status.unwrap_or(uploaded).as_secs_f64()
    );
    report_import(verdicts, total, &final_state, base);
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
    let started = Instant::now();
    let (data, key) = big_workspace();
    println!(
        "big workspace ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    read_figures(&mut verdicts, &data, &key);
    let (_, last_event) = event_time_span(&data.join("herald.db"));
    segments::segment_figures(&mut verdicts, &data, &key, last_event);
    if std::env::var_os("BIGDATA_SKIP_IMPORT").is_some() {
        println!("\n(CSV import figures skipped: BIGDATA_SKIP_IMPORT is set)");
    } else {
        import_figures(&mut verdicts);
    }
    println!("1-min load average at the end: {}", loadavg());
    verdicts.finish()
}
