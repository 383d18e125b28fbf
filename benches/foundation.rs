//! Foundation figures: release binary size, time from `herald serve` to a 200 on
//! `/healthz`, and idle memory. Each is printed beside a baseline measured in the same
//! run on the same machine, so the ratio means something on any hardware.
//!
//! Run with `cargo bench --bench foundation`. It exits non-zero if a goal is missed.
//!
//! There is no baseline server here (the baselines are a process that exits at once and
//! an idle `sleep`), so Herald runs with its default worker count: these are its
//! out-of-the-box figures.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use common::Verdicts;

const BIN: &str = env!("CARGO_BIN_EXE_herald");
const RUNS: usize = 15;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_server(data: &Path, port: u16) -> Child {
    Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .env("HERALD_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start herald")
}

/// Time from spawn to the first 200 on /healthz.
fn startup(data: &Path) -> (Duration, Child, u16) {
    let port = free_port();
    let started = Instant::now();
    let mut child = spawn_server(data, port);
    while started.elapsed() < Duration::from_secs(10) {
        if common::get_status(port, "/healthz") == Some(200) {
            return (started.elapsed(), child, port);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("herald did not start within 10 s");
}

/// Baseline: spawning the same binary to print its version and exit (process start floor).
fn spawn_floor() -> Duration {
    let started = Instant::now();
    let status = Command::new(BIN)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    started.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

fn main() -> ExitCode {
    // cargo bench passes --bench; ignore arguments.
    let mut verdicts = Verdicts::new();
    let size = std::fs::metadata(BIN).unwrap().len();
    println!("binary: {BIN}");
    println!("release binary size: {:.1} MiB", size as f64 / 1048576.0);

    let floor = median((0..RUNS).map(|_| spawn_floor()).collect());

    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let (t, child, _) = startup(dir.path());
        cold.push(t);
        stop(child);
        let (t, child, _) = startup(dir.path());
        warm.push(t);
        stop(child);
    }
    let cold = median(cold);
    let warm = median(warm);
    println!(
        "baseline: spawn `herald --version` to exit: {:.1} ms (median of {RUNS})",
        floor.as_secs_f64() * 1000.0
    );
    for (label, t) in [
        ("first start (creates the database)", cold),
        ("restart (existing database)", warm),
    ] {
        let verdict = verdicts.record(
            &format!("serve to 200 on /healthz, {label} <= 150 ms"),
            t <= Duration::from_millis(150),
        );
        println!(
            "serve to 200 on /healthz, {label}: {:.1} ms = {:.1}x baseline (goal <= 150 ms: {verdict})",
            t.as_secs_f64() * 1000.0,
            t.as_secs_f64() / floor.as_secs_f64(),
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let (_, child, port) = startup(dir.path());
    for path in ["/healthz", "/login", "/metrics", "/api/workspace"] {
        for _ in 0..20 {
            common::get_status(port, path);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_kib(child.id());
    let mut sleeper = Command::new("sleep").arg("5").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let base_rss = rss_kib(sleeper.id());
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let verdict = verdicts.record("idle RSS after warm-up <= 20 MiB", rss <= 20 * 1024);
    println!(
        "idle RSS after warm-up: {:.1} MiB = {:.1}x baseline `sleep` process ({:.1} MiB) (goal <= 20 MiB: {verdict})",
        rss as f64 / 1024.0,
        rss as f64 / base_rss as f64,
        base_rss as f64 / 1024.0,
    );
    stop(child);
    verdicts.finish()
}
