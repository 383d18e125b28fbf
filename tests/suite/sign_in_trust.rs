//! What sign-in believes about the caller: the client address behind proxies, lockouts an
//! attacker cannot aim at someone else, and where a sign-in may send the browser next.
//!
//! All test traffic comes from loopback, so two clients are simulated by trusting
//! 127.0.0.1 as a proxy and sending different `X-Forwarded-For` values.

use crate::support;

use reqwest::blocking::{Client, Response};
use support::{Herald, bare_command, csrf_from, run_cli};

/// Submits the login form with an optional `X-Forwarded-For` on both requests.
fn login_from(
    herald: &Herald,
    browser: &Client,
    forwarded_for: Option<&str>,
    email: &str,
    password: &str,
) -> Response {
    let with_header = |req: reqwest::blocking::RequestBuilder| match forwarded_for {
        Some(value) => req.header("X-Forwarded-For", value),
        None => req,
    };
    let page = with_header(browser.get(herald.url("/login")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    with_header(browser.post(herald.url("/login")))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", csrf_from(&page).as_str()),
            ("next", "/"),
        ])
        .send()
        .unwrap()
}

#[test]
fn rotating_x_forwarded_for_does_not_escape_the_per_address_limit() {
    let herald = Herald::start_with(&[("HERALD_AUTH__LOGIN_ADDRESS_MAX_FAILURES", "3")]);
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let browser = herald.browser();
    // A different email and a different claimed address every time: only the socket
    // peer (loopback) ties the attempts together, and it must be what is counted.
    for n in 0..3 {
        let spoofed = format!("198.51.100.{n}");
        let email = format!("guess{n}@example.com");
        let response = login_from(&herald, &browser, Some(&spoofed), &email, "guess");
        assert_eq!(response.status(), 401, "attempt {n}");
    }
    let locked = login_from(
        &herald,
        &browser,
        Some("203.0.113.77"),
        "guess9@example.com",
        "guess",
    );
    assert_eq!(locked.status(), 429);
    let log = herald.log();
    assert!(
        !log.contains("198.51.100.") && !log.contains("203.0.113.77"),
        "a spoofed address reached the log:\n{log}"
    );
    assert!(log.contains("ip=127.0.0.1"), "{log}");
}

const PROXIED: [(&str, &str); 2] = [
    ("HERALD_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
    ("HERALD_AUTH__LOGIN_MAX_FAILURES", "3"),
];
const ATTACKER: Option<&str> = Some("198.51.100.66");
const OWNER: Option<&str> = Some("192.0.2.10");

#[test]
fn failing_a_victims_login_locks_out_only_the_attacker() {
    let herald = Herald::start_with(&PROXIED);
    herald.add_user("victim@example.com", "Acme", "analytical-engine", "owner");
    let attacker = herald.browser();
    for n in 0..3 {
        let response = login_from(&herald, &attacker, ATTACKER, "victim@example.com", "guess");
        assert_eq!(response.status(), 401, "attempt {n}");
    }
    // The attacker's address is now locked for this email, even with the right password…
    let locked = login_from(
        &herald,
        &attacker,
        ATTACKER,
        "victim@example.com",
        "analytical-engine",
    );
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    // …while the victim, from their own address, signs in as usual.
    let owner = herald.browser();
    let signed_in = login_from(
        &herald,
        &owner,
        OWNER,
        "victim@example.com",
        "analytical-engine",
    );
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/");
    // And the attacker's failures for one email say nothing about another.
    let other = login_from(&herald, &attacker, ATTACKER, "other@example.com", "guess");
    assert_eq!(other.status(), 401);
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_client_is_logged() {
    let herald = Herald::start_with(&[("HERALD_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]")]);
    let browser = herald.browser();
    let response = login_from(
        &herald,
        &browser,
        Some("6.6.6.6, 198.51.100.23"),
        "nobody@example.com",
        "guess",
    );
    assert_eq!(response.status(), 401);
    let log = herald.log();
    assert!(log.contains("ip=198.51.100.23"), "{log}");
    assert!(!log.contains("6.6.6.6"), "{log}");
}

#[test]
fn a_bad_trusted_proxy_entry_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bare_command(&dir.path().join("data"));
    cmd.env("HERALD_SERVER__TRUSTED_PROXIES", "[\"10.0.0.0/40\"]");
    let out = run_cli(cmd, &["config", "check"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.trusted_proxies"), "{stderr}");
    assert!(stderr.contains("10.0.0.0/40"), "{stderr}");
}

/// `/login?next=…` with `next` percent-encoded, so the server sees exactly `next`.
fn login_with_next(herald: &Herald, next: &str) -> String {
    let query = serde_urlencoded::to_string([("next", next)]).unwrap();
    herald.url(&format!("/login?{query}"))
}

const ATTACKING_NEXT: [&str; 7] = [
    "/%09/evil.example",
    "//evil.example",
    "/\\evil.example",
    "https://evil.example",
    "/%2F%2Fevil.example",
    "/\t/x",
    "/%5C%5Cevil.example",
];

#[test]
fn next_after_sign_in_never_leaves_this_origin() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    for next in ATTACKING_NEXT.iter().chain(&["/contacts?page=2"]) {
        let want = if next.starts_with("/contacts") {
            *next
        } else {
            "/"
        };
        let browser = herald.browser();
        let page = browser
            .get(login_with_next(&herald, next))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let hidden = format!("name=\"next\" value=\"{}\"", want.replace('&', "&amp;"));
        assert!(page.contains(&hidden), "{next:?}: {page}");
        let signed_in = browser
            .post(herald.url("/login"))
            .form(&[
                ("email", "ada@example.com"),
                ("password", "analytical-engine"),
                ("csrf_token", csrf_from(&page).as_str()),
                ("next", next),
            ])
            .send()
            .unwrap();
        assert_eq!(signed_in.status(), 303, "{next:?}");
        assert_eq!(signed_in.headers()["location"], want, "{next:?}");
    }
}

#[test]
fn a_signed_in_visit_to_login_redirects_only_within_this_origin() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let browser = herald.signed_in("ada@example.com", "analytical-engine");
    // Written into the link as is (the way an attacker would), and encoded once more.
    for next in ATTACKING_NEXT {
        let literal = browser
            .get(format!("{}/login?next={next}", herald.base))
            .send()
            .unwrap();
        assert_eq!(literal.status(), 303, "{next:?}");
        assert_eq!(literal.headers()["location"], "/", "{next:?}");
        let encoded = browser.get(login_with_next(&herald, next)).send().unwrap();
        assert_eq!(encoded.headers()["location"], "/", "{next:?}");
    }
    let kept = browser
        .get(herald.url("/login?next=/contacts?page=2"))
        .send()
        .unwrap();
    assert_eq!(kept.headers()["location"], "/contacts?page=2");
}
