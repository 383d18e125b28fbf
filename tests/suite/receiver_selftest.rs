//! The loopback webhook receiver (`tests/suite/support/receiver.rs`) itself: each scripted
//! answer reaches a real HTTP client as scripted, requests are recorded in full, a hung
//! path does not hold up other paths, and keep-alive, `Connection: close` and chunked
//! bodies work on a raw socket.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::redirect::Policy;
use support::receiver::{Behaviour, Receiver};

const WAIT: Duration = Duration::from_secs(5);

fn client() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .timeout(WAIT)
        .build()
        .unwrap()
}

/// Status and body of a GET.
fn get(client: &Client, url: &str) -> (u16, String) {
    let r = client.get(url).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn answers_ok_and_records_the_whole_request() {
    let receiver = Receiver::start();
    let r = client()
        .post(receiver.url("/hook?x=1"))
        .header("Webhook-Id", "msg_1")
        .header("Content-Type", "application/json")
        .body(r#"{"event":"paid"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "ok");

    let requests = receiver.wait_for(1, WAIT);
    assert_eq!(receiver.count(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hook?x=1");
    assert_eq!(request.body, r#"{"event":"paid"}"#);
    assert_eq!(request.header("webhook-id").as_deref(), Some("msg_1"));
    assert_eq!(request.header("WEBHOOK-ID").as_deref(), Some("msg_1"));
    assert_eq!(
        request.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(request.header("content-length").as_deref(), Some("16"));
    assert!(request.headers.iter().all(|(k, _)| *k == k.to_lowercase()));
    assert!(request.header("x-missing").is_none());
    assert!(request.received_at <= Instant::now());
}

#[test]
fn statuses_sequences_retry_after_gone_redirect_and_large_bodies() {
    let receiver = Receiver::start();
    let client = client();
    receiver.answer(Behaviour::Status(500));
    receiver.answer_for("/gone", Behaviour::Gone);
    receiver.answer_for(
        "/seq",
        Behaviour::Sequence(vec![
            Behaviour::Status(503),
            Behaviour::Status(500),
            Behaviour::Ok,
        ]),
    );
    receiver.answer_for("/later", Behaviour::StatusWithRetryAfter(429, 7));
    receiver.answer_for(
        "/moved",
        Behaviour::Redirect("http://127.0.0.1:1/elsewhere".into()),
    );
    receiver.answer_for("/large", Behaviour::LargeBody(30_000));
    receiver.answer_for("/empty", Behaviour::Status(204));

    assert_eq!(
        get(&client, &receiver.url("/anything")),
        (500, "status 500".into())
    );
    assert_eq!(get(&client, &receiver.url("/gone")).0, 410);

    let statuses: Vec<u16> = (0..5)
        .map(|_| get(&client, &receiver.url("/seq")).0)
        .collect();
    assert_eq!(statuses, [503, 500, 200, 200, 200]);

    let r = client.post(receiver.url("/later")).send().unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");

    let r = client.post(receiver.url("/moved")).send().unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "http://127.0.0.1:1/elsewhere");

    let (status, body) = get(&client, &receiver.url("/large"));
    assert_eq!(status, 200);
    assert_eq!(body.len(), 30_000);
    assert!(body.bytes().all(|b| b == b'x'));

    // A bodyless answer leaves the kept-alive connection usable.
    assert_eq!(get(&client, &receiver.url("/empty")), (204, String::new()));
    assert_eq!(get(&client, &receiver.url("/gone")).0, 410);

    // The longest matching prefix wins, and a new answer restarts a sequence.
    receiver.answer_for("/seq/special", Behaviour::Ok);
    assert_eq!(get(&client, &receiver.url("/seq/special")).0, 200);
    receiver.answer_for(
        "/seq",
        Behaviour::Sequence(vec![Behaviour::Gone, Behaviour::Status(502)]),
    );
    assert_eq!(get(&client, &receiver.url("/seq/other")).0, 410);
    assert_eq!(get(&client, &receiver.url("/seq")).0, 502);

    assert_eq!(receiver.requests_to("/seq").len(), 8);
    assert_eq!(receiver.requests_to("/large").len(), 1);
    // One client, one kept-alive connection for all of it.
    let connections: std::collections::HashSet<u64> =
        receiver.requests().iter().map(|r| r.connection).collect();
    assert_eq!(connections.len(), 1, "{connections:?}");
}

#[test]
fn a_hung_path_times_the_client_out_while_other_paths_answer() {
    let receiver = Receiver::start();
    receiver.answer_for("/hang", Behaviour::Hang);
    let url = receiver.url("/hang");
    let hung = std::thread::spawn(move || {
        let impatient = Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let started = Instant::now();
        let result = impatient.post(url).body("wait").send();
        (result.map(|r| r.status()), started.elapsed())
    });
    let requests = receiver.wait_for(1, WAIT);
    assert_eq!(requests[0].path, "/hang");
    assert_eq!(requests[0].body, "wait");

    // The hang holds its own connection only.
    assert_eq!(get(&client(), &receiver.url("/ok")), (200, "ok".into()));

    let (result, elapsed) = hung.join().unwrap();
    let error = result.expect_err("a hung request gets no answer");
    assert!(error.is_timeout(), "{error:?}");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
}

#[test]
fn release_and_drop_end_hung_connections() {
    let receiver = Receiver::start();
    receiver.answer(Behaviour::Hang);
    let patient = |url: String| {
        std::thread::spawn(move || {
            let started = Instant::now();
            let result = client().get(url).send().map(|r| r.status());
            (result, started.elapsed())
        })
    };

    let first = patient(receiver.url("/one"));
    receiver.wait_for(1, WAIT);
    receiver.release();
    let (result, elapsed) = first.join().unwrap();
    assert!(result.is_err(), "released without an answer: {result:?}");
    assert!(elapsed < WAIT, "{elapsed:?}");

    // Later requests hang again, until the receiver goes away.
    let second = patient(receiver.url("/two"));
    receiver.wait_for(2, WAIT);
    drop(receiver);
    let (result, elapsed) = second.join().unwrap();
    assert!(result.is_err(), "dropped without an answer: {result:?}");
    assert!(elapsed < WAIT, "{elapsed:?}");
}

#[test]
fn unique_ids_deduplicate_by_webhook_id() {
    let receiver = Receiver::start();
    let client = client();
    for id in ["msg_a", "msg_a", "msg_b"] {
        let r = client
            .post(receiver.url("/hook"))
            .header("webhook-id", id)
            .body("{}")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    client.post(receiver.url("/hook")).send().unwrap();
    assert_eq!(receiver.wait_for(4, WAIT).len(), 4);
    let ids = receiver.unique_ids();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains("msg_a") && ids.contains("msg_b"));
}

/// Reads one response with a `Content-Length` (or none) from a raw socket.
fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "connection closed early"
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    head + &String::from_utf8(body).unwrap()
}

#[test]
fn raw_keep_alive_connection_close_and_chunked_bodies() {
    let receiver = Receiver::start();
    receiver.answer_for("/fail", Behaviour::Status(503));
    let mut stream = TcpStream::connect(("127.0.0.1", receiver.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    stream
        .write_all(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let first = read_response(&mut stream);
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    assert!(first.ends_with("\r\n\r\nok"), "{first}");

    stream
        .write_all(
            b"POST /fail HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n",
        )
        .unwrap();
    let second = read_response(&mut stream);
    assert!(
        second.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{second}"
    );

    stream
        .write_all(b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let third = read_response(&mut stream);
    assert!(third.contains("Connection: close\r\n"), "{third}");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the receiver closed the connection");

    let requests = receiver.wait_for(3, WAIT);
    assert_eq!(requests[0].body, "hello");
    assert_eq!(requests[1].body, "Wikipedia");
    assert_eq!(requests[2].method, "GET");
    assert!(
        requests
            .iter()
            .all(|r| r.connection == requests[0].connection)
    );
}

#[test]
#[should_panic(expected = "expected at least 2 request(s)")]
fn wait_for_names_what_arrived_when_time_runs_out() {
    let receiver = Receiver::start();
    client()
        .post(receiver.url("/only"))
        .header("webhook-id", "msg_x")
        .send()
        .unwrap();
    receiver.wait_for(2, Duration::from_millis(200));
}
