//! A loopback HTTP receiver for outbound calls (webhook steps): it reads whole requests,
//! answers a fixed response, and can show that nobody connected.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// A listener on a random loopback port.
pub fn loopback_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Reads one HTTP request (head and body) from a connection.
pub fn read_request(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
        if n == 0 {
            return text;
        }
    }
}

/// Answers `count` requests with `response`, then hands the listener back.
pub fn serve(
    listener: TcpListener,
    count: usize,
    response: &'static str,
) -> std::thread::JoinHandle<(TcpListener, Vec<String>)> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..count {
            let (mut stream, _) = listener.accept().unwrap();
            seen.push(read_request(&mut stream));
            stream.write_all(response.as_bytes()).unwrap();
        }
        (listener, seen)
    })
}

/// No connection is waiting on the listener. Called only after Herald has recorded the
/// outcome of every call, which it does after the call returns, so a connection it had
/// made would already be queued here.
pub fn assert_never_contacted(listener: &TcpListener) {
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((mut s, _)) => panic!("the receiver was contacted: {}", read_request(&mut s)),
        Err(e) => panic!("accept failed: {e}"),
    }
}
