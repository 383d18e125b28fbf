//! Segment counts on the big workspace: how long `GET /api/segments/{id}` (which counts
//! the segment's contacts live) takes for tag, list and field conditions, and for event
//! history over the 10,000,000 events.
//!
//! Baseline, measured in the same run: `GET /api/contacts?limit=1`, whose answer carries
//! the exact count of all 1,000,000 contacts (`SELECT COUNT(*)` over the workspace's
//! index), through the same HTTP stack and store. Each figure is the slowest of
//! [`RUNS`] sequential requests after one warm-up, so a goal is met by every run.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::common::{Server, Verdicts};

/// Timed requests per figure (after one warm-up).
const RUNS: usize = 5;
const DAY_MS: i64 = 86_400_000;

/// One segment to count and its goal.
struct Check {
    name: &'static str,
    filter: Value,
    goal_s: f64,
}

fn checks(list: &str, window_days: i64) -> Vec<Check> {
    let vip = json!({"tag": "vip"});
    let member = json!({"list": list, "status": "confirmed"});
    let pro = json!({"field": "plan", "op": "equals", "value": "pro"});
    let seats = json!({"field": "seats", "op": "greater", "value": 40});
    let bought = json!({"event": "purchase", "atLeast": 2, "withinDays": window_days});
    let check = |name, filter, goal_s| Check {
        name,
        filter,
        goal_s,
    };
    vec![
        check("tag vip", vip.clone(), 1.0),
        check(
            "confirmed member of a 300,000-member list",
            member.clone(),
            1.0,
        ),
        check("text field plan equals pro", pro.clone(), 1.0),
        check("number field seats greater than 40", seats, 1.0),
        check(
            "all of tag, list and field",
            json!({"all": [vip.clone(), member.clone(), pro]}),
            1.0,
        ),
        check(
            "did purchase at least 2 times in the last 30 days",
            bought.clone(),
            3.0,
        ),
        check(
            "never did refund (all time)",
            json!({"event": "refund", "never": true}),
            3.0,
        ),
        check(
            "tag vip and did purchase twice in 30 days, or list member",
            json!({"any": [{"all": [vip, bought]}, member]}),
            3.0,
        ),
    ]
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn get(client: &Client, base: &str, key: &str, path: &str) -> Value {
    let r = client
        .get(format!("{base}{path}"))
        .header("X-API-Key", key)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    r.json().unwrap()
}

/// A segment with `filter`, created (named after `name`) unless an earlier run left one
/// (the cached database keeps what runs create); returns its id.
fn ensure_segment(client: &Client, base: &str, key: &str, name: &str, filter: &Value) -> String {
    let existing = get(client, base, key, "/api/segments");
    let existing = existing["segments"].as_array().unwrap();
    if let Some(s) = existing.iter().find(|s| s["filter"] == *filter) {
        return s["id"].as_str().unwrap().to_string();
    }
    let name = format!("{name} #{}", existing.len() + 1);
    let r = client
        .post(format!("{base}/api/segments"))
        .header("X-API-Key", key)
        .json(&json!({"name": name, "filter": filter}))
        .send()
        .unwrap();
    let status = r.status();
    let body: Value = r.json().unwrap();
    assert!(status.is_success(), "create segment: {status} {body}");
    body["id"].as_str().unwrap().to_string()
}

/// The slowest of [`RUNS`] timed GETs after one warm-up, and the last answer.
fn slowest(client: &Client, base: &str, key: &str, path: &str) -> (Duration, Value) {
    let mut answer = get(client, base, key, path);
    let mut worst = Duration::ZERO;
    for _ in 0..RUNS {
        let started = Instant::now();
        answer = get(client, base, key, path);
        worst = worst.max(started.elapsed());
    }
    (worst, answer)
}

/// Days from now back to 30 days before the last event: "the last 30 days" of the data,
/// however long ago the cached database was built.
fn window_days(last_event_ms: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (now - last_event_ms).max(0) / DAY_MS + 30
}

/// Runs the segment figures on the big workspace in `data`.
pub fn segment_figures(verdicts: &mut Verdicts, data: &Path, key: &str, last_event_ms: i64) {
    println!(
        "\n== segment counts on 1,000,000 contacts / 10,000,000 events (slowest of {RUNS} after a warm-up) =="
    );
    let server = Server::start(data, &[]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = client();
    let (base_time, all) = slowest(&client, &base, key, "/api/contacts?limit=1");
    let base_s = base_time.as_secs_f64();
    println!(
        "baseline: GET /api/contacts?limit=1 (counts all {} contacts) {:.3} s",
        all["total"], base_s
    );
    let lists = get(&client, &base, key, "/api/lists");
    let list = lists["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "Newsletter")
        .expect("the big workspace has its Newsletter list")["id"]
        .as_str()
        .unwrap()
        .to_string();
    for check in checks(&list, window_days(last_event_ms)) {
        let id = ensure_segment(&client, &base, key, check.name, &check.filter);
        let (took, answer) = slowest(&client, &base, key, &format!("/api/segments/{id}"));
        let took_s = took.as_secs_f64();
        println!("  {}: count {}", check.name, answer["count"]);
        verdicts.figure(
            &format!("segment count, {}", check.name),
            took_s,
            "s",
            base_s,
            &format!("<= {} s", check.goal_s),
            Some(took_s <= check.goal_s && answer["count"].is_i64()),
        );
    }
    server.stop();
}
