//! Generic integration API figures (seed 002's `POST /api/integration/generic`), each
//! beside a baseline measured in the same run:
//!
//! 1. Accepted: email sends/s answered 200 (the message and its send job committed) on a
//!    mailbox signing with an RSA-2048 DKIM key, 64 keep-alive connections, 2 s warm-up +
//!    10 s; beside `/api/events/send` on the same Herald. Goal: at least 5,000/s.
//! 2. End to end: 10,000 sends through the API until all are at a local SMTP sink, DKIM
//!    signed, against lettre sending the same messages, signed with the same kind of key,
//!    straight to the same sink over as many pooled connections. Goal: at least 0.5x.
//! 3. SMS end to end: seed 002's SMS payload through an SMS channel whose provider is a
//!    local stand-in speaking Twilio's Messages API (`tests/suite/support/twilio.rs`), 64
//!    connections, 2 s warm-up + 10 s; each 200 means the stand-in accepted the message.
//!    Beside it, the same requests made straight to the stand-in with Herald's Twilio
//!    client from 64 threads. Goal: at least 1,000 messages/s, every 200'd one at the
//!    stand-in once.
//!
//! Run with `cargo bench --bench channels`; it exits non-zero when a goal is missed.

mod common;
#[path = "../tests/suite/support/smtp.rs"]
mod smtp;
// The Twilio stand-in and the HTTP server under it, as the tests use them.
#[path = "../tests/suite/support/stub_server.rs"]
mod stub_server;
#[path = "../tests/suite/support/twilio.rs"]
mod twilio;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    MakeRequest, Server, Verdicts, http_workers, post_json, run_load, workspace_with_key,
};
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;
use lettre::message::{MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use smtp::SmtpSink;

const SENDS: usize = 10_000;
const SMTP_POOL_SIZE: u32 = 4;
const CONNS: usize = 64;
const PATH: &str = "/api/integration/generic";

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

fn bearer_post(token: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn send_body(n: u64) -> String {
    json!({"to": format!("customer{n}@example.com"), "subject": format!("Order {n}"),
           "html": "<p>Thanks for your purchase!</p>", "text": "Thanks for your purchase!"})
    .to_string()
}

/// A fresh Herald sending to the sink, a DKIM-signed mailbox and its token.
fn herald_with_mailbox(sink: &SmtpSink) -> (Server, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = workspace_with_key(&data, "Bench");
    let port = sink.port.to_string();
    let pool = SMTP_POOL_SIZE.to_string();
    let server = Server::start(
        &data,
        &[
            ("HERALD_SERVER__BASE_URL", "https://herald.bench.example"),
            ("HERALD_SMTP__HOST", "127.0.0.1"),
            ("HERALD_SMTP__PORT", &port),
            ("HERALD_SMTP__TLS", "none"),
            ("HERALD_SMTP__FROM_ADDRESS", "bench@herald.test"),
            ("HERALD_SMTP__POOL_SIZE", &pool),
            ("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0"),
        ],
    );
    let channel = api(
        server.port,
        &key,
        "/api/channels",
        json!({"kind": "email", "name": "Shop", "fromName": "Shop", "fromAddress": "shop@herald.test"}),
    );
    let id = channel["id"].as_str().unwrap();
    api(
        server.port,
        &key,
        &format!("/api/channels/{id}/dkim"),
        json!({"algorithm": "rsa"}),
    );
    let token = api(
        server.port,
        &key,
        &format!("/api/channels/{id}/tokens"),
        json!({}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    (server, key, token, dir)
}

fn accepted(verdicts: &mut Verdicts) {
    println!("\n== 1. sends accepted/s ({CONNS} connections, 2 s warm-up + 10 s) ==");
    let sink = SmtpSink::start();
    let (server, key, token, _dir) = herald_with_mailbox(&sink);
    let make: MakeRequest = Arc::new(move |n| bearer_post(&token, &send_body(n)));
    let r = run_load(
        server.port,
        CONNS,
        Duration::from_secs(2),
        Duration::from_secs(10),
        make,
    );
    println!(
        "  generic sends: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms ({} non-2xx, {} errors)",
        r.rate(),
        r.p(50.0),
        r.p(99.0),
        r.total_non_ok,
        r.errors
    );
    let events: MakeRequest = Arc::new(move |n| {
        let body = json!({"email": format!("user{n}@example.com"), "eventName": "signUp"});
        post_json("/api/events/send", &key, &body.to_string())
    });
    let base = run_load(
        server.port,
        CONNS,
        Duration::from_secs(2),
        Duration::from_secs(10),
        events,
    );
    println!(
        "  /api/events/send on the same Herald: {:.0}/s",
        base.rate()
    );
    verdicts.figure(
        "generic email sends accepted",
        r.rate(),
        "sends/s",
        base.rate(),
        ">= 5000 sends/s",
        Some(r.rate() >= 5000.0 && r.total_non_ok == 0),
    );
    server.stop();
}

/// An RSA-2048 key in PKCS#1 PEM, made for the baseline.
fn rsa_pem() -> String {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string()
}

fn dkim_config(pem: &str) -> DkimConfig {
    let headers = ["From", "Subject", "Date", "Message-ID", "To"]
        .iter()
        .map(|h| HeaderName::new_from_ascii_str(h))
        .collect();
    DkimConfig::new(
        "herald".into(),
        "herald.test".into(),
        DkimSigningKey::new(pem, DkimSigningAlgorithm::Rsa).unwrap(),
        headers,
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    )
}

/// Sends [`SENDS`] signed messages straight through lettre from 64 tasks.
fn lettre_baseline(port: u16, threads: usize) -> Duration {
    let config = Arc::new(dkim_config(&rsa_pem()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let transport = Arc::new(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
                .port(port)
                .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(SMTP_POOL_SIZE))
                .build(),
        );
        let started = Instant::now();
        let tasks: Vec<_> = (0..64)
            .map(|worker| {
                let (transport, config) = (transport.clone(), config.clone());
                tokio::spawn(async move {
                    for i in (worker..SENDS).step_by(64) {
                        let mut message = Message::builder()
                            .from("Shop <shop@herald.test>".parse().unwrap())
                            .to(format!("direct{i}@example.com").parse().unwrap())
                            .subject(format!("Order {i}"))
                            .date_now()
                            .multipart(
                                MultiPart::alternative()
                                    .singlepart(
                                        SinglePart::builder()
                                            .header(ContentType::TEXT_PLAIN)
                                            .body("Thanks for your purchase!".to_string()),
                                    )
                                    .singlepart(
                                        SinglePart::builder()
                                            .header(ContentType::TEXT_HTML)
                                            .body("<p>Thanks for your purchase!</p>".to_string()),
                                    ),
                            )
                            .unwrap();
                        message.sign(&config);
                        transport.send(message).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        started.elapsed()
    })
}

/// Sends exactly `n` requests over [`CONNS`] connections; answers how many got a 200.
fn send_exactly(port: u16, n: usize, token: &str) -> usize {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..CONNS)
        .map(|_| {
            let (next, token) = (next.clone(), token.to_string());
            std::thread::spawn(move || {
                let mut conn = common::Conn::new(port);
                let mut ok = 0;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return ok;
                    }
                    let r = conn.request(&bearer_post(&token, &send_body(i as u64)));
                    ok += usize::from(r.status == 200);
                }
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).sum()
}

fn end_to_end(verdicts: &mut Verdicts) {
    println!("\n== 2. {SENDS} sends end to end, DKIM (RSA-2048) signed, to a local SMTP sink ==");
    let sink = SmtpSink::start();
    let threads = http_workers();
    let baseline = SENDS as f64 / lettre_baseline(sink.port, threads).as_secs_f64();
    let direct = sink.messages().len();
    println!(
        "  baseline: lettre signing and sending straight to the sink, 64 senders on {threads} threads, {SMTP_POOL_SIZE} pooled connections: {baseline:.0} emails/s"
    );
    let (server, _key, token, _dir) = herald_with_mailbox(&sink);
    let started = Instant::now();
    let ok = send_exactly(server.port, SENDS, &token);
    let accepted = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while sink.messages().len() < direct + SENDS {
        assert!(
            Instant::now() < deadline,
            "only {} of {SENDS} emails arrived",
            sink.messages().len() - direct
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let total = started.elapsed();
    let signed = sink.messages()[direct..]
        .iter()
        .filter(|m| m.header("DKIM-Signature").is_some())
        .count();
    let rate = SENDS as f64 / total.as_secs_f64();
    println!(
        "  herald: {ok} of {SENDS} accepted in {:.2} s; all at the sink after {:.2} s ({signed} signed)",
        accepted.as_secs_f64(),
        total.as_secs_f64()
    );
    verdicts.figure(
        "generic email sends end to end",
        rate,
        "emails/s",
        baseline,
        ">= 0.5x lettre direct, every one signed",
        Some(rate >= 0.5 * baseline && ok == SENDS && signed == SENDS),
    );
    server.stop();
}

fn main() -> ExitCode {
    let mut verdicts = Verdicts::new();
    println!(
        "machine: {} cores, 1-min load average at start {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        common::loadavg()
    );
    accepted(&mut verdicts);
    end_to_end(&mut verdicts);
    sms_end_to_end(&mut verdicts);
    verdicts.finish()
}

fn sms_body(n: u64) -> String {
    json!({"to": format!("+1555{:07}", n % 10_000_000), "body": format!("Your code: {n}")})
        .to_string()
}

/// Herald's Twilio client straight to the stand-in from `threads` threads for `for_how_long`.
fn sms_baseline(twilio: &twilio::FakeTwilio, threads: usize, for_how_long: Duration) -> f64 {
    use herald::channels::providers::twilio::{TwilioAccount, send};
    let account = TwilioAccount {
        base_url: twilio.base_url(),
        account_sid: twilio.account_sid().to_string(),
        auth_token: twilio.auth_token().to_string(),
        from: Some("+15005550006".into()),
        messaging_service_sid: None,
    };
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let account = account.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                let mut n = 0u64;
                while started.elapsed() < for_how_long {
                    let i = t as u64 * 1_000_000 + n;
                    let to = format!("+1666{:07}", i % 10_000_000);
                    send(&agent, &account, &to, &format!("Your code: {i}"), &[], None).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

fn sms_end_to_end(verdicts: &mut Verdicts) {
    println!("\n== 3. SMS end to end ({CONNS} connections, 2 s warm-up + 10 s) ==");
    let twilio = twilio::FakeTwilio::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = workspace_with_key(&data, "Bench");
    let server = Server::start(
        &data,
        &[
            ("HERALD_SERVER__BASE_URL", "https://herald.bench.example"),
            ("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0"),
            ("HERALD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
        ],
    );
    let channel = api(
        server.port,
        &key,
        "/api/channels",
        json!({"kind": "sms", "name": "Codes", "accountSid": twilio.account_sid(),
               "authToken": twilio.auth_token(), "from": "+15005550006",
               "baseUrl": twilio.base_url()}),
    );
    let id = channel["id"].as_str().unwrap();
    let token = api(
        server.port,
        &key,
        &format!("/api/channels/{id}/tokens"),
        json!({}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let make: MakeRequest = Arc::new(move |n| bearer_post(&token, &sms_body(n)));
    let r = run_load(
        server.port,
        CONNS,
        Duration::from_secs(2),
        Duration::from_secs(10),
        make,
    );
    let at_twilio = twilio.messages().len() as u64;
    println!(
        "  generic SMS: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms ({} non-2xx, {} errors); {} answered 200, {} at the stand-in",
        r.rate(),
        r.p(50.0),
        r.p(99.0),
        r.total_non_ok,
        r.errors,
        r.total_ok,
        at_twilio
    );
    server.stop();
    let base = sms_baseline(&twilio, CONNS, Duration::from_secs(5));
    println!("  Herald's Twilio client straight to the stand-in ({CONNS} threads): {base:.0}/s");
    verdicts.figure(
        "SMS end to end through the Twilio stand-in",
        r.rate(),
        "messages/s",
        base,
        ">= 1000 messages/s",
        Some(r.rate() >= 1000.0 && r.total_non_ok == 0 && at_twilio >= r.total_ok),
    );
}
