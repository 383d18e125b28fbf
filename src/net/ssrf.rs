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
use std::sync::{LazyLock, mpsc};
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
/// plus multicast, each named with its CIDR in final parentheses; the first match names
/// the refusal.
const V4_REFUSED: &[&str] = &[
    "\"this network\" (0.0.0.0/8)",
    "private-use (10.0.0.0/8)",
    "shared address space (100.64.0.0/10)",
    "loopback (127.0.0.0/8)",
    "link-local (169.254.0.0/16)",
    "private-use (172.16.0.0/12)",
    "IETF protocol assignments (192.0.0.0/24)",
    "documentation TEST-NET-1 (192.0.2.0/24)",
    "6to4 relay anycast (192.88.99.0/24)",
    "private-use (192.168.0.0/16)",
    "benchmarking (198.18.0.0/15)",
    "documentation TEST-NET-2 (198.51.100.0/24)",
    "documentation TEST-NET-3 (203.0.113.0/24)",
    "multicast (224.0.0.0/4)",
    "limited broadcast (255.255.255.255/32)",
    "reserved (240.0.0.0/4)",
];

/// IPv6 ranges refused by name (same form as [`V4_REFUSED`]); anything else outside
/// global unicast (2000::/3) is refused too. IPv4-mapped (::ffff:0:0/96) and NAT64
/// (64:ff9b::/96) addresses are judged by their IPv4 address before this table is read.
const V6_REFUSED: &[&str] = &[
    "unspecified (::/128)",
    "loopback (::1/128)",
    "IPv4-compatible, deprecated (::/96)",
    "IPv4-translated (::ffff:0:0:0/96)",
    "local-use IPv4/IPv6 translation (64:ff9b:1::/48)",
    "discard-only (100::/64)",
    "Teredo (2001::/32)",
    "benchmarking (2001:2::/48)",
    "ORCHID (2001:10::/28)",
    "ORCHIDv2 (2001:20::/28)",
    "IETF protocol assignments (2001::/23)",
    "documentation (2001:db8::/32)",
    "6to4 (2002::/16)",
    "documentation (3fff::/20)",
    "SRv6 SIDs (5f00::/16)",
    "unique local (fc00::/7)",
    "link-local (fe80::/10)",
    "site-local, deprecated (fec0::/10)",
    "multicast (ff00::/8)",
];

/// A refused range: network bits (IPv4 in the low 32), prefix length, name.
type Range = (u128, u8, &'static str);

/// Reads each name's trailing `(address/length)` into a [`Range`], keeping the order.
fn ranges(names: &'static [&'static str]) -> Vec<Range> {
    names
        .iter()
        .map(|name| {
            let cidr = name
                .rsplit_once('(')
                .and_then(|(_, rest)| rest.strip_suffix(')'))
                .and_then(|cidr| cidr.split_once('/'));
            let (net, len) = cidr
                .and_then(|(addr, len)| Some((addr.parse::<IpAddr>().ok()?, len.parse().ok()?)))
                .unwrap_or_else(|| panic!("range name without a valid CIDR: {name}"));
            let net = match net {
                IpAddr::V4(v4) => u128::from(v4.to_bits()),
                IpAddr::V6(v6) => v6.to_bits(),
            };
            (net, len, *name)
        })
        .collect()
}

static V4_RANGES: LazyLock<Vec<Range>> = LazyLock::new(|| ranges(V4_REFUSED));
static V6_RANGES: LazyLock<Vec<Range>> = LazyLock::new(|| ranges(V6_REFUSED));

const NAT64: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0);
const GLOBAL_UNICAST: Ipv6Addr = Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0);

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
    V4_RANGES
        .iter()
        .find(|(net, len, _)| within(bits, *net, *len, 32))
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
    if let Some((_, _, name)) = V6_RANGES
        .iter()
        .find(|(net, len, _)| within(bits, *net, *len, 128))
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
