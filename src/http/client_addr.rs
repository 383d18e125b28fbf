//! Who is on the other end of a request: the one place the client address is derived.
//!
//! `X-Forwarded-For` and `Forwarded` are written by whoever sends the request, so they
//! are believed only when the socket peer is a proxy the operator listed in
//! `server.trusted_proxies`; otherwise anyone could pick the address the login throttle
//! counts and the logs record.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;

#[cfg(test)]
use crate::net::proxies::IpNet;
use crate::net::proxies::{TrustedProxies, canonical};

/// The client address of a request, by [`resolve`]; `None` when the socket has no peer.
///
/// Every caller that wants "who sent this" (login throttle, logs, event origins) uses
/// this, so they all agree and none can be fooled by a header the others ignore.
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    resolve(peer, req.headers(), trusted)
}

/// The socket peer, unless it is a trusted proxy: then the right-most address of the
/// forwarding chain that is not itself a trusted proxy.
///
/// Reading from the right matters: each trusted proxy appends the address it saw, so
/// entries to the left of the last untrusted one were written by the client and prove
/// nothing. An entry that is not an address stops the walk at the proxy that wrote it.
pub fn resolve(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let mut chain = forwarded_for(headers, "x-forwarded-for");
    if chain.is_empty() {
        chain = forwarded_for(headers, "forwarded");
    }
    let mut client = peer;
    for hop in chain.iter().rev() {
        match hop {
            Some(ip) => {
                client = canonical(*ip);
                if !trusted.contains(client) {
                    break;
                }
            }
            None => break,
        }
    }
    Some(client)
}

/// The addresses a forwarding header lists, left to right (`None` for a garbled entry).
fn forwarded_for(headers: &HeaderMap, name: &str) -> Vec<Option<IpAddr>> {
    let rfc7239 = name == "forwarded";
    headers
        .get_all(name)
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(str::to_string).collect(),
            Err(_) => vec![String::new()],
        })
        .filter_map(|element| {
            if rfc7239 {
                forwarded_element_for(&element).map(|v| parse_hop(&v))
            } else {
                Some(parse_hop(&element))
            }
        })
        .collect()
}

/// The `for=` value of one RFC 7239 element, unquoted; elements without one are skipped.
fn forwarded_element_for(element: &str) -> Option<String> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"').to_string())
    })
}

/// One hop: a bare address, `v4:port`, `[v6]` or `[v6]:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse::<Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })
}

/// Longest user agent kept with a consent or a form submission.
const MAX_USER_AGENT: usize = 500;

/// The caller's user agent as recorded with what it agreed to, cut to a sane length.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(MAX_USER_AGENT).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2")]);
        assert_eq!(
            resolve(ip("203.0.113.9"), &h, &trusted(&[])),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve(ip("203.0.113.9"), &h, &trusted(&["10.0.0.0/8"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let t = trusted(&["10.0.0.0/8", "127.0.0.1"]);
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "127.0.0.1"),
            (&[("x-forwarded-for", "198.51.100.7")], "198.51.100.7"),
            // The client wrote 6.6.6.6 itself; the proxy appended what it saw.
            (
                &[("x-forwarded-for", "6.6.6.6, 198.51.100.7")],
                "198.51.100.7",
            ),
            (
                &[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.2.3")],
                "198.51.100.7",
            ),
            (
                &[
                    ("x-forwarded-for", "6.6.6.6"),
                    ("x-forwarded-for", "198.51.100.7"),
                ],
                "198.51.100.7",
            ),
            (&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")], "10.9.9.9"),
            (&[("x-forwarded-for", "garbage, 10.1.1.1")], "10.1.1.1"),
            (&[("x-forwarded-for", "198.51.100.7:4711")], "198.51.100.7"),
            (&[("x-forwarded-for", "[2001:db8::1]:4711")], "2001:db8::1"),
            (
                &[(
                    "forwarded",
                    "for=6.6.6.6, for=\"[2001:db8::2]:80\";proto=https",
                )],
                "2001:db8::2",
            ),
            (
                &[("forwarded", "proto=https;FOR=198.51.100.8")],
                "198.51.100.8",
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(
                resolve(ip("127.0.0.1"), &headers(pairs), &t),
                ip(want),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_networks() {
        let t = trusted(&["127.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(resolve(ip("::ffff:127.0.0.1"), &h, &t), ip("198.51.100.7"));
    }

    #[test]
    fn networks_parse_and_match() {
        let net: IpNet = "192.168.0.0/16".parse().unwrap();
        assert!(net.contains("192.168.44.1".parse().unwrap()));
        assert!(!net.contains("192.169.0.1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "fd00::/129", "example.com", "10.0.0.0/", ""] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }
}
