//! Sends an SMS or WhatsApp message through its channel's provider: one blocking call to
//! the Twilio Messages API or the WhatsApp Cloud API, to the address the SSRF policy
//! checked (the provider's base URL is the owner's to set), asking for status callbacks
//! at the channel's webhook URL. The HTTP client of each channel is kept for a minute, so
//! a burst of messages reuses its connections instead of resolving the host each time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::messages::MessageRow;
use crate::channels::providers::{ProviderError, Sent, twilio, whatsapp};
use crate::channels::{Channel, Settings};
use crate::net::ssrf;

/// How long one provider call may take, connection included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one address check (and its pooled connections) is trusted.
const RECHECK_AFTER: Duration = Duration::from_secs(60);

/// Clients by channel row id: the base URL they were checked for and when.
#[derive(Default)]
struct Agents(Mutex<HashMap<i64, (String, Instant, ureq::Agent)>>);

fn base_url(channel: &Channel) -> Option<&str> {
    match &channel.settings {
        Settings::Sms(n) => Some(&n.account.base_url),
        Settings::WhatsApp(w) => Some(&w.account.base_url),
        Settings::Email(_) => None,
    }
}

/// The checked client for the channel's provider.
fn agent(
    store: &crate::store::Store,
    channel: &Channel,
    allow_private: bool,
) -> Result<ureq::Agent, ProviderError> {
    let url = base_url(channel)
        .ok_or_else(|| ProviderError::Unavailable("not an SMS or WhatsApp channel".into()))?;
    let cache = store.instance().cache::<Agents>();
    if let Some((checked, at, agent)) = cache.0.lock().expect("agents").get(&channel.id)
        && checked == url
        && at.elapsed() < RECHECK_AFTER
    {
        return Ok(agent.clone());
    }
    let target = ssrf::resolve(url, allow_private, CALL_TIMEOUT)
        .map_err(|e| ProviderError::Unavailable(format!("{url}: {e}")))?;
    let agent = target.agent(CALL_TIMEOUT);
    cache
        .0
        .lock()
        .expect("agents")
        .insert(channel.id, (url.to_string(), Instant::now(), agent.clone()));
    Ok(agent)
}

fn media(message: &MessageRow) -> Vec<String> {
    let Some(envelope) = &message.envelope else {
        return Vec::new();
    };
    let list = envelope
        .get("mediaUrls")
        .or_else(|| envelope.get("files"))
        .and_then(|v| v.as_array());
    list.map(|a| {
        a.iter()
            .filter_map(|u| u.as_str().map(String::from))
            .collect()
    })
    .unwrap_or_default()
}

/// Sends `message` through `channel`'s provider; blocks, so run it on a blocking thread.
/// A WhatsApp message with files sends its text first, then each file; the text's id is
/// the one status webhooks are matched by.
pub fn send(
    store: &crate::store::Store,
    channel: &Channel,
    message: &MessageRow,
    callback_url: &str,
    allow_private: bool,
) -> Result<Sent, ProviderError> {
    let agent = agent(store, channel, allow_private)?;
    let files = media(message);
    match &channel.settings {
        Settings::Sms(n) => twilio::send(
            &agent,
            &n.account,
            &message.to_address,
            &message.text,
            &files,
            Some(callback_url),
        ),
        Settings::WhatsApp(w) => {
            let sent = whatsapp::send_text(&agent, &w.account, &message.to_address, &message.text)?;
            for file in &files {
                whatsapp::send_media(&agent, &w.account, &message.to_address, file, None)?;
            }
            Ok(sent)
        }
        Settings::Email(_) => Err(ProviderError::Unavailable(
            "an email channel has no SMS or WhatsApp provider".into(),
        )),
    }
}

/// [`send`] on a blocking thread.
pub async fn send_blocking(
    store: &crate::store::Store,
    channel: Channel,
    message: MessageRow,
    callback_url: String,
    allow_private: bool,
) -> Result<Sent, ProviderError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        send(&store, &channel, &message, &callback_url, allow_private)
    })
    .await
    .unwrap_or_else(|e| {
        Err(ProviderError::Unavailable(format!(
            "the call did not finish: {e}"
        )))
    })
}
