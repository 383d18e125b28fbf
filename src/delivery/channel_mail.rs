//! The mailer of each email channel: its own SMTP server, or the install's `[smtp]` with
//! the mailbox's sender, reply-to and rate. Built once per channel version and kept, so
//! a channel's connections are pooled like the install's.

use std::collections::HashMap;
use std::sync::Mutex;

use super::mailer::Mailer;
use crate::channels::{Channel, Mailbox, Settings};
use crate::config::SmtpConfig;

/// Mailers by channel row id, with the mailbox settings they were built from.
#[derive(Default)]
struct Mailers(Mutex<HashMap<i64, (Mailbox, Mailer)>>);

/// The SMTP settings a mailbox sends with.
fn smtp_config(m: &Mailbox, install: &SmtpConfig) -> SmtpConfig {
    let mut config = install.clone();
    if let Some(s) = &m.smtp {
        config.host = s.host.clone();
        config.port = s.port;
        config.tls = s.tls;
        config.username = s.username.clone();
        config.password = s.password.clone();
    }
    config.from_address = m.from_address.clone();
    config.from_name = m.from_name.clone();
    config.max_per_second = m.rate_per_second;
    config
}

/// The mailer for `channel`, built if it changed since last time.
pub fn for_channel(
    store: &crate::store::Store,
    channel: &Channel,
    install: &SmtpConfig,
    data_dir: &std::path::Path,
) -> anyhow::Result<Mailer> {
    let cache = store.instance().cache::<Mailers>();
    let Settings::Email(m) = &channel.settings else {
        anyhow::bail!("channel {} is not an email mailbox", channel.uid);
    };
    if let Some((built_from, mailer)) = cache.0.lock().expect("mailers").get(&channel.id)
        && built_from == m
    {
        return Ok(mailer.clone());
    }
    let mut mailer = Mailer::new(&smtp_config(m, install), data_dir)?;
    if let Some(reply_to) = &m.reply_to {
        mailer = mailer.with_reply_to(reply_to)?;
    }
    if let Some(key) = &m.dkim {
        let config = key
            .signing_config(m.domain())
            .map_err(|e| anyhow::anyhow!(e))?;
        mailer = mailer.with_dkim(config);
    }
    cache
        .0
        .lock()
        .expect("mailers")
        .insert(channel.id, (m.clone(), mailer.clone()));
    Ok(mailer)
}
