//! The range table, address by address, with no traffic sent anywhere: each special
//! range is probed at its first and last address and just outside it.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use super::{Refusal, Target, non_global, resolve};

/// `(address, allowed)`; refused rows name a fragment of the expected reason.
const TABLE: &[(&str, Option<&str>)] = &[
    // IPv4: public neighbours of special ranges are allowed.
    ("1.1.1.1", None),
    ("8.8.8.8", None),
    ("0.0.0.0", Some("this network")),
    ("0.255.255.255", Some("this network")),
    ("1.0.0.0", None),
    ("9.255.255.255", None),
    ("10.0.0.0", Some("10.0.0.0/8")),
    ("10.255.255.255", Some("10.0.0.0/8")),
    ("11.0.0.0", None),
    ("100.63.255.255", None),
    ("100.64.0.0", Some("100.64.0.0/10")),
    ("100.127.255.255", Some("100.64.0.0/10")),
    ("100.128.0.0", None),
    ("126.255.255.255", None),
    ("127.0.0.1", Some("loopback")),
    ("127.255.255.254", Some("loopback")),
    ("128.0.0.0", None),
    ("169.253.255.255", None),
    ("169.254.169.254", Some("link-local")),
    ("169.255.0.0", None),
    ("172.15.255.255", None),
    ("172.16.0.0", Some("172.16.0.0/12")),
    ("172.31.255.255", Some("172.16.0.0/12")),
    ("172.32.0.0", None),
    ("191.255.255.255", None),
    ("192.0.0.0", Some("192.0.0.0/24")),
    ("192.0.0.255", Some("192.0.0.0/24")),
    ("192.0.1.0", None),
    ("192.0.2.0", Some("TEST-NET-1")),
    ("192.0.2.255", Some("TEST-NET-1")),
    ("192.0.3.0", None),
    ("192.88.98.255", None),
    ("192.88.99.1", Some("6to4 relay")),
    ("192.88.100.0", None),
    ("192.167.255.255", None),
    ("192.168.0.1", Some("192.168.0.0/16")),
    ("192.168.255.255", Some("192.168.0.0/16")),
    ("192.169.0.0", None),
    ("198.17.255.255", None),
    ("198.18.0.0", Some("benchmarking")),
    ("198.19.255.255", Some("benchmarking")),
    ("198.20.0.0", None),
    ("198.51.99.255", None),
    ("198.51.100.7", Some("TEST-NET-2")),
    ("198.51.101.0", None),
    ("203.0.112.255", None),
    ("203.0.113.9", Some("TEST-NET-3")),
    ("203.0.114.0", None),
    ("223.255.255.255", None),
    ("224.0.0.1", Some("multicast")),
    ("239.255.255.255", Some("multicast")),
    ("240.0.0.0", Some("reserved")),
    ("254.255.255.255", Some("reserved")),
    ("255.255.255.255", Some("broadcast")),
    // IPv6 special addresses.
    ("::", Some("unspecified")),
    ("::1", Some("loopback")),
    ("::2", Some("IPv4-compatible")),
    ("::127.0.0.1", Some("IPv4-compatible")),
    ("::8.8.8.8", Some("IPv4-compatible")),
    // IPv4-mapped: judged by the IPv4 address inside.
    ("::ffff:127.0.0.1", Some("loopback")),
    ("::ffff:10.1.2.3", Some("10.0.0.0/8")),
    ("::ffff:100.64.0.1", Some("100.64.0.0/10")),
    ("::ffff:169.254.169.254", Some("link-local")),
    ("::ffff:0.0.0.0", Some("this network")),
    ("::ffff:8.8.8.8", None),
    ("::ffff:0:127.0.0.1", Some("IPv4-translated")),
    // NAT64 well-known prefix: the embedded IPv4 decides; local-use NAT64 is refused.
    ("64:ff9b::127.0.0.1", Some("loopback")),
    ("64:ff9b::192.168.1.1", Some("192.168.0.0/16")),
    ("64:ff9b::198.18.0.1", Some("benchmarking")),
    ("64:ff9b::8.8.8.8", None),
    ("64:ff9b:1::8.8.8.8", Some("64:ff9b:1::/48")),
    ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", Some("64:ff9b:1::/48")),
    ("100::", Some("discard-only")),
    ("100::ffff:ffff:ffff:ffff", Some("discard-only")),
    ("100:0:0:1::", Some("global unicast")),
    // 2001::/23 and its named sub-ranges.
    ("2001::1", Some("Teredo")),
    ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", Some("Teredo")),
    ("2001:1::1", Some("2001::/23")),
    ("2001:2::", Some("benchmarking")),
    ("2001:2:0:ffff::", Some("benchmarking")),
    ("2001:3::1", Some("2001::/23")),
    ("2001:10::1", Some("ORCHID (")),
    ("2001:1f:ffff::", Some("ORCHID (")),
    ("2001:20::1", Some("ORCHIDv2")),
    ("2001:2f:ffff::", Some("ORCHIDv2")),
    ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", Some("2001::/23")),
    ("2001:200::1", None),
    ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", None),
    ("2001:db8::1", Some("documentation")),
    (
        "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("documentation"),
    ),
    ("2001:db9::", None),
    ("2001:4860:4860::8888", None),
    ("2002::1", Some("6to4")),
    ("2002:7f00:1::", Some("6to4")),
    ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("6to4")),
    ("2003::", None),
    ("2606:4700:4700::1111", None),
    ("2620:fe::fe", None),
    ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
    ("3fff::1", Some("3fff::/20")),
    ("3fff:fff:ffff::", Some("3fff::/20")),
    ("3fff:1000::", None),
    ("4000::1", Some("global unicast")),
    ("5f00::1", Some("SRv6")),
    (
        "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("global unicast"),
    ),
    ("fc00::1", Some("unique local")),
    (
        "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("unique local"),
    ),
    ("fe80::1", Some("link-local")),
    (
        "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("link-local"),
    ),
    ("fec0::1", Some("site-local")),
    ("ff02::1", Some("multicast")),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("multicast")),
];

#[test]
fn every_special_purpose_range_is_refused_and_its_public_neighbours_allowed() {
    let mut wrong = Vec::new();
    for (text, expected) in TABLE {
        let ip: IpAddr = text.parse().unwrap_or_else(|_| panic!("{text} parses"));
        let got = non_global(ip);
        let ok = match (got, expected) {
            (None, None) => true,
            (Some(range), Some(fragment)) => range.contains(fragment),
            _ => false,
        };
        if !ok {
            wrong.push(format!("{text}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn refused(url: &str) -> Refusal {
    resolve(url, false, Duration::from_secs(2)).expect_err(url)
}

#[test]
fn literal_urls_are_checked_without_any_lookup_or_connection() {
    assert!(matches!(
        refused("http://[::ffff:127.0.0.1]:9/"),
        Refusal::NotGlobal { range, .. } if range.contains("loopback")
    ));
    assert!(matches!(
        refused("http://100.64.0.1/"),
        Refusal::NotGlobal { .. }
    ));
    assert!(matches!(
        refused("https://[64:ff9b::a00:1]/"),
        Refusal::NotGlobal { .. }
    ));
    assert_eq!(refused("ftp://8.8.8.8/"), Refusal::Scheme);
    assert!(matches!(refused("not a url"), Refusal::InvalidUrl(_)));
    let target = resolve(
        "https://[2606:4700:4700::1111]/x",
        false,
        Duration::from_secs(2),
    )
    .expect("a public literal is allowed");
    assert_eq!(
        target.addrs(),
        ["[2606:4700:4700::1111]:443".parse().unwrap()]
    );
    let allowed = resolve("http://127.0.0.1:8080/", true, Duration::from_secs(2))
        .expect("allowed when private targets are on");
    assert_eq!(allowed.addrs(), ["127.0.0.1:8080".parse().unwrap()]);
}

#[test]
fn only_a_failed_lookup_is_worth_retrying() {
    assert!(refused("http://10.0.0.1/").is_permanent());
    assert!(Refusal::Scheme.is_permanent());
    assert!(
        !Refusal::Unresolvable {
            host: "x".into(),
            reason: "y".into()
        }
        .is_permanent()
    );
}

#[test]
fn the_agent_connects_to_the_checked_address_and_never_looks_the_name_up_again() {
    use std::io::{Read, Write};
    // A name that resolves nowhere, pinned to a loopback receiver: the request can only
    // arrive if the agent dials the checked address instead of resolving the name.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).unwrap();
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    });
    let target = Target {
        host: "pinned.invalid".into(),
        addrs: vec![addr],
    };
    let url = format!("http://pinned.invalid:{}/x", addr.port());
    let response = target
        .agent(Duration::from_secs(5))
        .get(&url)
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let request = receiver.join().unwrap().to_ascii_lowercase();
    assert!(
        request.contains(&format!("host: pinned.invalid:{}", addr.port())),
        "{request}"
    );
    let other = target
        .agent(Duration::from_secs(5))
        .get("http://elsewhere.invalid/")
        .call();
    assert!(other.is_err(), "another host is not pinned");
}

#[test]
fn every_range_name_carries_its_cidr() {
    assert_eq!(
        super::ranges(super::V4_REFUSED).len(),
        super::V4_REFUSED.len()
    );
    assert_eq!(
        super::ranges(super::V6_REFUSED).len(),
        super::V6_REFUSED.len()
    );
    let (net, len, _) = super::V6_RANGES[3];
    assert_eq!(
        (net, len),
        (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0).to_bits(), 96)
    );
}
