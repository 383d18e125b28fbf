//! Checks a mailbox's published DKIM record on demand: asks DNS for the TXT record at
//! `<selector>._domainkey.<domain>` and compares its key with the mailbox's, so an owner
//! knows before sending whether receivers will find the key (a record missing, another
//! key published, DNS unreachable).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use serde_json::{Value, json};

use super::Mailbox;
use crate::config::DnsConfig;

/// How long one check may ask.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The record holds the mailbox's key.
    Matches,
    /// No TXT record at the name.
    Missing,
    /// A record is there with another key (or none): what it holds.
    Differs(Vec<String>),
    /// DNS could not be asked, or did not answer.
    Unreachable(String),
}

/// The `p=` value of a DKIM record, whitespace removed.
fn public_key(record: &str) -> Option<String> {
    record.split(';').find_map(|tag| {
        let (k, v) = tag.split_once('=')?;
        (k.trim() == "p").then(|| v.chars().filter(|c| !c.is_whitespace()).collect())
    })
}

fn resolver(config: &DnsConfig) -> Result<Resolver<TokioConnectionProvider>, String> {
    let mut opts = ResolverOpts::default();
    opts.timeout = TIMEOUT;
    opts.attempts = 1;
    opts.cache_size = 0;
    if config.servers.is_empty() {
        let builder = Resolver::builder_tokio().map_err(|e| e.to_string())?;
        return Ok(builder.with_options(opts).build());
    }
    let mut resolver_config = ResolverConfig::new();
    for server in &config.servers {
        let addr: SocketAddr = server
            .parse()
            .map_err(|_| format!("dns.servers: '{server}' is not ip:port"))?;
        resolver_config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
    }
    let provider = TokioConnectionProvider::default();
    Ok(Resolver::builder_with_config(resolver_config, provider)
        .with_options(opts)
        .build())
}

/// Asks DNS for the mailbox's DKIM record and compares it with its key.
pub async fn check(config: &DnsConfig, mailbox: &Mailbox) -> Option<(String, Published)> {
    let key = mailbox.dkim.as_ref()?;
    let name = key.dns_name(mailbox.domain());
    let expected = public_key(&key.dns_record());
    let resolver = match resolver(config) {
        Ok(r) => r,
        Err(e) => return Some((name, Published::Unreachable(e))),
    };
    let found = match resolver.txt_lookup(format!("{name}.")).await {
        Ok(lookup) => lookup
            .iter()
            .map(|txt| {
                txt.txt_data()
                    .iter()
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect::<String>()
            })
            .collect::<Vec<_>>(),
        Err(e) if e.is_no_records_found() => Vec::new(),
        Err(e) => return Some((name, Published::Unreachable(e.to_string()))),
    };
    let published = if found.is_empty() {
        Published::Missing
    } else if found
        .iter()
        .any(|r| public_key(r).is_some() && public_key(r) == expected)
    {
        Published::Matches
    } else {
        Published::Differs(found)
    };
    Some((name, published))
}

/// The check as the API answers it.
pub fn to_json(name: &str, published: &Published) -> Value {
    let (status, message, found) = match published {
        Published::Matches => (
            "ok",
            "the published record holds this mailbox's key".to_string(),
            Vec::new(),
        ),
        Published::Missing => (
            "missing",
            format!("no TXT record at {name} yet (DNS changes can take a while to show)"),
            Vec::new(),
        ),
        Published::Differs(found) => (
            "mismatch",
            format!("{name} holds another key: publish the record shown here"),
            found.clone(),
        ),
        Published::Unreachable(e) => (
            "unreachable",
            format!("DNS could not be asked: {e}"),
            Vec::new(),
        ),
    };
    json!({"name": name, "status": status, "message": message, "found": found})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_read_from_the_p_tag_whatever_the_spacing() {
        assert_eq!(
            public_key("v=DKIM1; k=rsa; p=MIIB Ij\tAN"),
            Some("MIIBIjAN".into())
        );
        assert_eq!(public_key("v=DKIM1;p=abc"), Some("abc".into()));
        assert_eq!(public_key("v=spf1 -all"), None);
    }
}
