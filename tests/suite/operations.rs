//! Operations: health, metrics, online backup, graceful shutdown, cached assets.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::api::{Api, wait_for};
use support::smtp::SmtpSink;
use support::{Herald, get_text};

#[test]
fn healthz_reports_ok_with_the_database_reachable() {
    let herald = Herald::start();
    let r = Client::new().get(herald.url("/healthz")).send().unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["status"], "ok");
}

#[test]
fn metrics_count_requests_by_route_and_status_with_latency() {
    let herald = Herald::start();
    let client = Client::new();
    import_scattered_contacts(&herald, 3_000);
    for _ in 0..3 {
        client.get(herald.url("/healthz")).send().unwrap();
    }
    client.get(herald.url("/api/workspace")).send().unwrap();
    client.get(herald.url("/setup/abc")).send().unwrap();
    let r = client.get(herald.url("/metrics")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().unwrap();
    assert!(
        text.contains(r#"herald_http_requests_total{method="GET",route="/healthz",status="200"} "#),
        "{text}"
    );
    let healthz_count: u64 = text
        .lines()
        .find(|l| {
            l.starts_with(
                r#"herald_http_requests_total{method="GET",route="/healthz",status="200"}"#,
            )
        })
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(healthz_count >= 3);
    // The server's commits (its migrations at least) went through the page-cache wrapper.
    let skipped: u64 = text
        .lines()
        .find(|l| l.starts_with("herald_db_page_cache_scans_skipped_total "))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no page-cache counter in {text}"))
        .parse()
        .unwrap();
    assert!(skipped > 0, "the page-cache wrapper is not installed");
    for counter in [
        "herald_db_commits_total",
        "herald_db_writes_total",
        "herald_db_page_cache_scans_skipped_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {counter} counter")),
            "{counter} is a counter: {text}"
        );
    }
    assert!(
        text.contains(r#"route="/api/workspace",status="401""#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/setup/{token}""#),
        "route pattern, never the token: {text}"
    );
    assert!(!text.contains("/setup/abc"));
    assert!(text.contains("herald_http_request_duration_seconds_bucket"));
    assert!(text.contains("herald_db_pool_connections"));
    assert!(text.contains("herald_db_writes_queued"));
}

/// Imports contacts whose emails are spread over the alphabet, so the email index
/// rebalances the way a busy server's does; waits for the import to finish.
fn import_scattered_contacts(herald: &Herald, n: u64) {
    let api = Api::new(herald, "Metrics");
    let mut csv = String::from("email\n");
    for i in 0..n {
        let spread = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
        csv.push_str(&format!("p{spread:x}-{i}@example.com\n"));
    }
    let r = api.send_body("POST", "/api/contacts/import", "text/csv", csv);
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(
        "the import to complete",
        Duration::from_secs(60),
        || api.get(&format!("/api/contacts/imports/{id}")),
        |status| status["status"] == "completed",
    );
}

/// Requests with made-up methods and paths, many times over, do not add label values.
#[test]
fn made_up_methods_and_paths_do_not_grow_metrics() {
    let herald = Herald::start();
    let client = Client::new();
    let scrape = || get_text(&herald, &client, "/metrics");
    let noise = |round: u32| {
        for i in 0..100 {
            let method = reqwest::Method::from_bytes(format!("M{round}X{i}").as_bytes()).unwrap();
            client
                .request(method.clone(), herald.url(&format!("/nowhere/{round}/{i}")))
                .send()
                .unwrap();
            client
                .request(method, herald.url("/healthz"))
                .send()
                .unwrap();
            client
                .get(herald.url(&format!("/api/contacts/{round}-{i}")))
                .send()
                .unwrap();
        }
    };
    noise(0);
    let warm = scrape().len();
    for round in 1..4 {
        noise(round);
    }
    let text = scrape();
    assert!(
        text.len() < warm + 2_000,
        "metrics grew from {warm} to {} bytes:\n{text}",
        text.len()
    );
    assert!(
        text.contains(r#"method="other",route="unmatched""#),
        "{text}"
    );
    assert!(
        !text.contains("M1X1"),
        "made-up methods never become labels"
    );
    assert!(!text.contains("/nowhere"), "raw paths never become labels");
}

/// Renames the workspace over and over, from a thread of its own, until `stop`; counts
/// the renames in `writes`.
fn keep_renaming(api: Api, stop: Arc<AtomicBool>, writes: Arc<AtomicUsize>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let r = api.patch("/api/workspace", &json!({"name": format!("Acme {n}")}));
            assert_eq!(r.status(), 200);
            writes.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// Takes backup number `i`, which must pass SQLite's integrity check and hold every key
/// committed before it.
fn backup_is_consistent(herald: &Herald, i: i64) {
    let target = herald.dir.path().join(format!("backup-{i}.db"));
    let out = herald.cli(&["backup", target.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = rusqlite::Connection::open(&target).unwrap();
    let verdict: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    let name: String = copy
        .query_row("SELECT name FROM workspaces", [], |r| r.get(0))
        .unwrap();
    assert!(name.starts_with("Acme"));
    let keys: i64 = copy
        .query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        keys,
        i + 2,
        "every key committed before the backup is in it"
    );
}

/// The copy is a working Herald store: the CLI opens it and lists its workspace's keys.
fn backup_opens(herald: &Herald) {
    // The copy is a working Herald store: a server started on it lets the owner in.
    let restored = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(restored.path().join("data")).unwrap();
    std::fs::copy(
        herald.dir.path().join("backup-4.db"),
        restored.path().join("data/herald.db"),
    )
    .unwrap();
    let out = support::run_cli(
        support::bare_command(&restored.path().join("data")),
        &[
            "apikey",
            "list",
            "--workspace",
            &current_name(&restored.path().join("data/herald.db")),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn backup_taken_while_writing_is_consistent_and_opens() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    herald.add_user("keys@example.com", "Keys", "keys-password", "owner");
    let api = Api::with_key(&herald, herald.create_key("Acme"));
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let writer = keep_renaming(api, stop.clone(), writes.clone());
    for i in 0..5 {
        herald.create_key("Keys");
        backup_is_consistent(&herald, i);
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        writes.load(Ordering::Relaxed) > 0,
        "the server was writing during the backups"
    );

    // Refuses to overwrite an existing file.
    let existing = herald.dir.path().join("backup-0.db");
    let out = herald.cli(&["backup", existing.to_str().unwrap()], None);
    assert!(!out.status.success());

    backup_opens(&herald);
}

fn current_name(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT name FROM workspaces", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn sigterm_shuts_down_gracefully_and_data_survives() {
    let mut herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let api = Api::with_key(&herald, herald.create_key("Acme"));
    let renamed = api.patch(
        "/api/workspace",
        &json!({"name": "Renamed before shutdown"}),
    );
    assert_eq!(renamed.status(), 200);
    let status = herald.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(herald.log().contains("herald stopped"));
    herald.spawn();
    // The restarted server listens on a new port.
    let api = Api::with_key(&herald, api.key);
    assert_eq!(api.get("/api/workspace")["name"], "Renamed before shutdown");
}

#[test]
fn assets_are_served_with_long_caching_and_etags() {
    let herald = Herald::start();
    let client = Client::new();
    let login = get_text(&herald, &client, "/login");
    let start = login
        .find("/assets/app.css?v=")
        .expect("hashed asset URL in the page");
    let url: String = login[start..].chars().take_while(|c| *c != '"').collect();
    let css = client.get(herald.url(&url)).send().unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    let etag = css.headers()["etag"].to_str().unwrap().to_string();
    let again = client
        .get(herald.url(&url))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(
        client
            .get(herald.url("/assets/nope.css"))
            .send()
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn a_request_body_that_stalls_is_answered_408_within_the_timeout() {
    use std::io::{Read, Write};
    let herald = Herald::start_with(&[("HERALD_SERVER__REQUEST_TIMEOUT_SECS", "1")]);
    let key = herald.workspace_with_key("Acme");
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", herald.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    write!(
        conn,
        "POST /api/events/send HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"email\":"
    )
    .unwrap();
    let mut answer = Vec::new();
    // Reads until the server closes the connection (or the 10 s guard trips).
    let _ = conn.read_to_end(&mut answer);
    let waited = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
}

#[test]
fn shutdown_after_sending_over_smtp_is_clean() {
    let sink = SmtpSink::start();
    let mut herald = Herald::start_with_smtp(
        sink.port,
        &[("HERALD_SMTP__FROM_ADDRESS", "hello@acme.test")],
    );
    let api = Api::new(&herald, "Acme");
    let t: Value = api
        .post(
            "/api/templates",
            &json!({"name": "Hi", "subject": "Hi", "html": "<p>hi</p>"}),
        )
        .json()
        .unwrap();
    let r = api.post(
        &format!("/api/templates/{}/test", t["id"].as_str().unwrap()),
        &json!({"to": "qa@example.com"}),
    );
    assert!(r.status().is_success());
    sink.wait_for(1, Duration::from_secs(10));
    assert!(herald.terminate().success());
    let log = herald.log();
    assert!(log.contains("herald stopped"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn pages_carry_a_content_security_policy_and_no_inline_script() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let signed_in = herald.signed_in("ada@example.com", "analytical-engine");
    let anonymous = herald.browser();
    let pages = [
        "/login",
        "/",
        "/contacts",
        "/automations",
        "/templates/new",
        "/outbox",
    ];
    for (i, path) in pages.into_iter().enumerate() {
        let browser = if i == 0 { &anonymous } else { &signed_in };
        let r = browser.get(herald.url(path)).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let headers = r.headers().clone();
        let csp = headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("script-src 'self' 'unsafe-inline'"),
            "{path}: {csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let html = r.text().unwrap();
        for inline in ["<script>", " onclick=", " onsubmit=", " onchange="] {
            assert!(!html.contains(inline), "{path} has {inline}");
        }
        for tag in html.split("<script").skip(1) {
            assert!(
                tag.trim_start().starts_with("src="),
                "{path}: inline <script{tag}"
            );
        }
        if csp.contains("style-src 'self';") {
            assert!(!html.contains(" style="), "{path} has an inline style");
        }
    }
}
