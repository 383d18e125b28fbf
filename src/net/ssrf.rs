//! Which addresses a user-supplied URL may reach, and a client that reaches only them.
//!
//! A URL is resolved **once**; every address it resolves to must be globally reachable
//! per the IANA IPv4 and IPv6 special-purpose address registries (IPv4-mapped and NAT64
//! addresses are unwrapped and judged by their IPv4 address), and the request then
//! connects to exactly those checked addresses. Checking one resolution and connecting
//! after another would let a DNS name answer a public address to the check and a
//! private one to the connection (DNS rebinding). The client follows no redirects and
//! uses no proxy, so the checked address is the only one it talks to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Why a URL will not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The URL does not parse.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// Only `http` and `https` are spoken.
    #[error("only http and https URLs can be called")]
    Scheme,
    /// No host to connect to.
    #[error("URL has no host")]
    NoHost,
    /// The name did not resolve (possibly for now: DNS can fail transiently).
    #[error("cannot resolve {host}: {reason}")]
    Unresolvable { host: String, reason: String },
    /// The host is, or resolves to, an address outside the public internet.
    #[error(
        "{host} resolves to {ip}, which is {range}, not a public address; set webhooks.allow_private_targets to allow it"
    )]
    NotGlobal {
        host: String,
        ip: IpAddr,
        range: &'static str,
    },
}

impl Refusal {
    /// Whether trying again later cannot help, so a caller should not retry: only a
    /// failed lookup may succeed another time.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Refusal::Unresolvable { .. })
    }
}

/// A URL whose host was resolved once and whose every address passed the policy.
#[derive(Debug, Clone)]
pub struct Target {
    host: String,
    addrs: Vec<SocketAddr>,
}

impl Target {
    /// The checked addresses, in resolver order; the only ones [`Target::agent`] dials.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// An HTTP client for this target alone: it connects only to the checked addresses
    /// (TLS and the `Host` header still use the URL's name), follows no redirects, uses
    /// no proxy, and hands back non-2xx answers instead of erroring on them.
    pub fn agent(&self, timeout: Duration) -> ureq::Agent {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .build();
        let pinned = Pinned {
            host: self.host.clone(),
            addrs: self.addrs.clone(),
        };
        ureq::Agent::with_parts(config, DefaultConnector::default(), pinned)
    }
}

/// Resolves `url` once and checks every address; with `allow_private` the range check is
/// skipped (loopback and LAN receivers), but the connection is still pinned to what was
/// resolved here. `timeout` bounds the lookup.
pub fn resolve(url: &str, allow_private: bool, timeout: Duration) -> Result<Target, Refusal> {
    let uri: Uri = url
        .parse()
        .map_err(|e| Refusal::InvalidUrl(format!("{e}")))?;
    let port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return Err(Refusal::Scheme),
    };
    let port = uri.port_u16().unwrap_or(port);
    let host = bare_host(uri.host().ok_or(Refusal::NoHost)?);
    let addrs = lookup(&host, port, timeout)?;
    if !allow_private {
        for addr in &addrs {
            if let Some(range) = non_global(addr.ip()) {
                return Err(Refusal::NotGlobal {
                    host,
                    ip: addr.ip(),
                    range,
                });
            }
        }
    }
    Ok(Target { host, addrs })
}

/// The host as the resolver wants it: IPv6 literals without their brackets.
fn bare_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn lookup(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, Refusal> {
    let unresolvable = |reason: String| Refusal::Unresolvable {
        host: host.to_string(),
        reason,
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    // The system resolver has no timeout of its own: give it a thread and stop waiting.
    let (tx, rx) = mpsc::sync_channel(1);
    let name = host.to_string();
    std::thread::spawn(move || {
        let found = (name.as_str(), port)
            .to_socket_addrs()
            .map(|a| a.collect::<Vec<_>>());
        let _ = tx.send(found);
    });
    let addrs = match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) => addrs,
        Ok(Err(e)) => return Err(unresolvable(e.to_string())),
        Err(_) => return Err(unresolvable("lookup timed out".into())),
    };
    if addrs.is_empty() {
        return Err(unresolvable("no addresses".into()));
    }
    Ok(addrs)
}

/// Answers ureq's lookups with the addresses already checked, and refuses any other host.
#[derive(Debug)]
struct Pinned {
    host: String,
    addrs: Vec<SocketAddr>,
}

impl Resolver for Pinned {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if uri.host().map(bare_host).as_deref() != Some(self.host.as_str()) {
            return Err(ureq::Error::HostNotFound);
        }
        let mut out = self.empty();
        for addr in self.addrs.iter().take(16) {
            out.push(*addr);
        }
        Ok(out)
    }
}

/// IPv4 ranges of the IANA special-purpose registry that are not globally reachable,
/// plus multicast; the first match names the refusal.
const V4_REFUSED: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\" (0.0.0.0/8)"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private-use (10.0.0.0/8)"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space (100.64.0.0/10)",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback (127.0.0.0/8)"),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        "link-local (169.254.0.0/16)",
    ),
    (
        Ipv4Addr::new(172, 16, 0, 0),
        12,
        "private-use (172.16.0.0/12)",
    ),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation TEST-NET-1 (192.0.2.0/24)",
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "6to4 relay anycast (192.88.99.0/24)",
    ),
    (
        Ipv4Addr::new(192, 168, 0, 0),
        16,
        "private-use (192.168.0.0/16)",
    ),
    (
        Ipv4Addr::new(198, 18, 0, 0),
        15,
        "benchmarking (198.18.0.0/15)",
    ),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation TEST-NET-2 (198.51.100.0/24)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation TEST-NET-3 (203.0.113.0/24)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast (224.0.0.0/4)"),
    (
        Ipv4Addr::new(255, 255, 255, 255),
        32,
        "limited broadcast (255.255.255.255/32)",
    ),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved (240.0.0.0/4)"),
];

const fn v6(s: [u16; 8]) -> Ipv6Addr {
    Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
}

/// IPv6 ranges refused by name; anything else outside global unicast (2000::/3) is
/// refused too. IPv4-mapped (::ffff:0:0/96) and NAT64 (64:ff9b::/96) addresses are
/// judged by their IPv4 address before this table is read.
const V6_REFUSED: &[(Ipv6Addr, u8, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0]), 128, "unspecified (::/128)"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1]), 128, "loopback (::1/128)"),
    (
        v6([0, 0, 0, 0, 0, 0, 0, 0]),
        96,
        "IPv4-compatible, deprecated (::/96)",
    ),
    (
        v6([0, 0, 0, 0, 0xffff, 0, 0, 0]),
        96,
        "IPv4-translated (::ffff:0:0:0/96)",
    ),
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0]),
        48,
        "local-use IPv4/IPv6 translation (64:ff9b:1::/48)",
    ),
    (
        v6([0x100, 0, 0, 0, 0, 0, 0, 0]),
        64,
        "discard-only (100::/64)",
    ),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 32, "Teredo (2001::/32)"),
    (
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0]),
        48,
        "benchmarking (2001:2::/48)",
    ),
    (
        v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0]),
        28,
        "ORCHID (2001:10::/28)",
    ),
    (
        v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0]),
        28,
        "ORCHIDv2 (2001:20::/28)",
    ),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0]),
        23,
        "IETF protocol assignments (2001::/23)",
    ),
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]),
        32,
        "documentation (2001:db8::/32)",
    ),
    (v6([0x2002, 0, 0, 0, 0, 0, 0, 0]), 16, "6to4 (2002::/16)"),
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0]),
        20,
        "documentation (3fff::/20)",
    ),
    (
        v6([0x5f00, 0, 0, 0, 0, 0, 0, 0]),
        16,
        "SRv6 SIDs (5f00::/16)",
    ),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]),
        7,
        "unique local (fc00::/7)",
    ),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]),
        10,
        "link-local (fe80::/10)",
    ),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0]),
        10,
        "site-local, deprecated (fec0::/10)",
    ),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0]), 8, "multicast (ff00::/8)"),
];

const NAT64: Ipv6Addr = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]);
const GLOBAL_UNICAST: Ipv6Addr = v6([0x2000, 0, 0, 0, 0, 0, 0, 0]);

fn within(bits: u128, net: u128, len: u8, width: u32) -> bool {
    len == 0 || (bits ^ net) >> (width - u32::from(len)) == 0
}

/// The name of the special-purpose range `ip` falls in, or `None` if it is a globally
/// reachable unicast address Herald may call.
pub fn non_global(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_global_v4(v4),
        IpAddr::V6(v6) => non_global_v6(v6),
    }
}

fn non_global_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u128::from(ip.to_bits());
    V4_REFUSED
        .iter()
        .find(|(net, len, _)| within(bits, u128::from(net.to_bits()), *len, 32))
        .map(|(_, _, name)| *name)
}

fn non_global_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_global_v4(v4);
    }
    let bits = ip.to_bits();
    if within(bits, NAT64.to_bits(), 96, 128) {
        return non_global_v4(Ipv4Addr::from_bits(bits as u32));
    }
    if let Some((_, _, name)) = V6_REFUSED
        .iter()
        .find(|(net, len, _)| within(bits, net.to_bits(), *len, 128))
    {
        return Some(name);
    }
    if !within(bits, GLOBAL_UNICAST.to_bits(), 3, 128) {
        return Some("outside global unicast (2000::/3)");
    }
    None
}

#[cfg(test)]
mod tests;
