//! Data stays private and bad input stays harmless: owner-only files, neutralised CSV
//! formulas, control characters refused in search and escaped in logs, and no start on
//! a public address without a base URL.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::api::{Api, wait_until};
use support::{Herald, bare_command, run_cli};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn all_private(dir: &Path) {
    assert_eq!(mode(dir) & 0o077, 0, "{} is {:o}", dir.display(), mode(dir));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_private(&path);
        } else {
            assert_eq!(
                mode(&path) & 0o077,
                0,
                "{} is {:o}",
                path.display(),
                mode(&path)
            );
        }
    }
}

#[test]
fn the_data_directory_imports_outbox_and_backups_are_owner_only() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let import = api.send_body(
        "POST",
        "/api/contacts/import",
        "text/csv",
        "email\nada@example.com\n",
    );
    assert_eq!(import.status(), 202);
    let template = api.create(
        "/api/templates",
        &json!({"name": "T", "subject": "s", "html": "<p>h</p>"}),
    );
    api.post(
        &format!("/api/templates/{template}/test"),
        &json!({"to": "t@example.com"}),
    );
    wait_until("an outbox file", Duration::from_secs(10), || {
        std::fs::read_dir(herald.data_dir().join("outbox"))
            .map(|d| d.count() > 0)
            .unwrap_or(false)
    });
    let backup = herald.dir.path().join("backup.db");
    let out = herald.cli(&["backup", backup.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    all_private(&herald.data_dir());
    assert_eq!(mode(&backup) & 0o077, 0, "backup is {:o}", mode(&backup));
}

#[test]
fn a_data_directory_left_world_readable_is_tightened_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run_cli(bare_command(&data), &["migrate"], None);
    assert!(out.status.success());
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("herald.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = run_cli(bare_command(&data), &["migrate"], None);
    assert!(out.status.success());
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("herald.db")), 0o600);
}

#[test]
fn exported_cells_that_spreadsheets_would_run_are_neutralised() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    assert!(
        api.post(
            "/api/contact-fields",
            &json!({"key": "note", "type": "text"})
        )
        .status()
        .is_success()
    );
    assert!(
        api.post(
            "/api/contact-fields",
            &json!({"key": "score", "type": "number"})
        )
        .status()
        .is_success()
    );
    let r = api.post(
        "/api/contacts",
        &json!({"email": "evil@example.com", "firstName": "=HYPERLINK(\"http://x\")", "lastName": "+1+cmd",
                "properties": {"note": "@SUM(A1)", "score": -5}}),
    );
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let csv = api.get_response("/api/contacts/export").text().unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let get = |name: &str| {
        row.get(header.iter().position(|h| h == name).unwrap())
            .unwrap()
            .to_string()
    };
    assert_eq!(get("firstName"), "'=HYPERLINK(\"http://x\")");
    assert_eq!(get("lastName"), "'+1+cmd");
    assert_eq!(get("note"), "'@SUM(A1)");
    assert_eq!(get("score"), "-5", "numbers are left as they are");
}

#[test]
fn a_search_with_a_nul_byte_is_a_bad_request_not_an_outage() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let r = api.send("GET", "/api/contacts?search=abc%00", None);
    assert_eq!(r.status(), 400);
    let body: Value = r.json().unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("control characters"),
        "{body}"
    );
    let browser = herald.signed_in("owner@acme.example.com", "owner-password");
    let page = browser
        .get(herald.url("/contacts?search=abc%00"))
        .send()
        .unwrap();
    // The contacts page answers a bad filter with the form again, 422, the search kept.
    assert_eq!(page.status(), 422);
    assert!(page.text().unwrap().contains("control characters"));
    assert!(
        !herald.log().contains("store failure"),
        "nothing is logged as a database failure"
    );
}

#[test]
fn newlines_in_user_input_cannot_forge_log_lines() {
    let herald = Herald::start_with(&[("HERALD_LOG__LEVEL", "debug")]);
    let browser = herald.browser();
    support::login(
        &herald,
        &browser,
        "x@example.com\nERROR forged line",
        "wrong",
    );
    let log = herald.log();
    assert!(
        !log.lines()
            .any(|l| l.to_lowercase().starts_with("error forged line")),
        "{log}"
    );
    assert!(
        log.to_lowercase()
            .contains("x@example.com\\nerror forged line"),
        "the input is kept, escaped: {log}"
    );
}

#[test]
fn a_public_listen_address_needs_a_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run_cli(
        bare_command(&data),
        &["serve", "--listen", "0.0.0.0:0"],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("server.base_url") && stderr.contains("HERALD_SERVER__BASE_URL"),
        "{stderr}"
    );
    let mut cmd = bare_command(&data);
    cmd.env("HERALD_SMTP__HOST", "smtp.example.com");
    let out = run_cli(cmd, &["config", "check"], None);
    assert!(
        !out.status.success(),
        "real mail without a base URL is refused too"
    );
    let mut cmd = bare_command(&data);
    cmd.env("HERALD_SERVER__BASE_URL", "https://herald.example.com");
    let out = run_cli(cmd, &["config", "check"], None);
    assert!(out.status.success());
}
