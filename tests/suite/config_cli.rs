//! The command line and configuration: errors name the key, precedence holds, migrations
//! are idempotent.

use crate::support;

use support::{bare_command, run_cli};

fn check(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = bare_command(&dir.join("data"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut full = args.to_vec();
    full.extend(["config", "check"]);
    let out = run_cli(cmd, &full, None);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn config_check_prints_defaults_when_nothing_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, _) = check(dir.path(), &[], &[]);
    assert!(ok);
    assert!(stdout.contains("listen = \"127.0.0.1:8080\""), "{stdout}");
    assert!(stdout.contains("durability = \"full\""), "{stdout}");
    assert!(stdout.contains("max_body_bytes = 1048576"), "{stdout}");
}

#[test]
fn unknown_key_in_file_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herald.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:9000\"\nlistne = \"oops\"\n",
    )
    .unwrap();
    let (ok, _, stderr) = check(dir.path(), &["--config", file.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(stderr.contains("server.listne"), "{stderr}");
}

#[test]
fn bad_value_is_an_error_naming_the_key_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herald.toml");
    std::fs::write(&file, "[store]\ndurability = \"sometimes\"\n").unwrap();
    let mut cmd = bare_command(&dir.path().join("data"));
    cmd.arg("--config").arg(&file);
    let out = run_cli(cmd, &["config", "check"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("store.durability"), "{stderr}");
}

#[test]
fn bad_environment_override_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = check(
        dir.path(),
        &[],
        &[("HERALD_SERVER__LISTEN", "not-an-address")],
    );
    assert!(!ok);
    assert!(stderr.contains("server.listen"), "{stderr}");
    let (ok, _, stderr) = check(dir.path(), &[], &[("HERALD_AUTH__NO_SUCH_KEY", "1")]);
    assert!(!ok);
    assert!(stderr.contains("auth.no_such_key"), "{stderr}");
}

#[test]
fn invalid_base_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = check(
        dir.path(),
        &[],
        &[("HERALD_SERVER__BASE_URL", "example.com")],
    );
    assert!(!ok);
    assert!(stderr.contains("server.base_url"), "{stderr}");
}

#[test]
fn missing_config_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = check(dir.path(), &["--config", "/nonexistent/herald.toml"], &[]);
    assert!(!ok);
    assert!(stderr.contains("--config"), "{stderr}");
}

#[test]
fn precedence_is_flag_over_env_over_file_over_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herald.toml");
    std::fs::write(
        &file,
        "[server]\nmax_body_bytes = 2048\nworkers = 3\n[store]\ndata_dir = \"/from/file\"\nbusy_timeout_ms = 111\n",
    )
    .unwrap();
    let mut cmd = support::bare_command(&dir.path().join("flag-dir"));
    cmd.env("HERALD_SERVER__MAX_BODY_BYTES", "4096")
        .env("HERALD_STORE__DATA_DIR", "/from/env");
    cmd.arg("--config").arg(&file);
    let out = run_cli(cmd, &["config", "check"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("max_body_bytes = 4096"),
        "env beats file: {stdout}"
    );
    assert!(
        stdout.contains("workers = 3"),
        "file beats default: {stdout}"
    );
    assert!(
        stdout.contains("busy_timeout_ms = 111"),
        "file beats default: {stdout}"
    );
    assert!(stdout.contains("flag-dir"), "flag beats env: {stdout}");
    assert!(!stdout.contains("/from/env"), "flag beats env: {stdout}");
}

#[test]
fn migrate_twice_is_harmless_and_the_server_starts_on_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = run_cli(bare_command(&data), &["migrate"], None);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied V1"));
    let second = run_cli(bare_command(&data), &["migrate"], None);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("up to date"));
    let conn = rusqlite::Connection::open(data.join("herald.db")).unwrap();
    let applied: i64 = conn
        .query_row("SELECT COUNT(*) FROM refinery_schema_history", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        applied as usize,
        std::fs::read_dir("migrations").unwrap().count()
    );
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["config", "check", "--help"],
        vec!["user", "add", "--help"],
        vec!["apikey", "create", "--help"],
        vec!["apikey", "list", "--help"],
        vec!["apikey", "revoke", "--help"],
        vec!["backup", "--help"],
    ] {
        let out = run_cli(std::process::Command::new(support::BIN), &args, None);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: herald"),
            "{args:?}"
        );
    }
}

#[test]
fn user_add_refuses_a_short_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(
        bare_command(&dir.path().join("data")),
        &[
            "user",
            "add",
            "--email",
            "a@example.com",
            "--workspace",
            "Acme",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));
}

#[test]
fn config_example_documents_exactly_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, defaults, _) = check(dir.path(), &[], &[]);
    assert!(ok);
    let (ok, example, stderr) = check(dir.path(), &["--config", "config.example.toml"], &[]);
    assert!(ok, "{stderr}");
    assert_eq!(
        example, defaults,
        "config.example.toml must list every key with its default"
    );
    let text = std::fs::read_to_string("config.example.toml").unwrap();
    for line in defaults.lines().filter(|l| l.contains(" = ")) {
        let key = line.split(" = ").next().unwrap();
        assert!(text.contains(&format!("\n{key} = ")), "{key} is documented");
    }
}
