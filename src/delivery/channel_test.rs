//! "Send a test" for a mailbox: one email through the mailbox's own mailer (its server,
//! sender and DKIM key), answered with what the SMTP server said, so the owner sees a
//! wrong password or a refused sender at once rather than in a failed message later.

use super::channel_mail;
use super::mailer::{OutgoingEmail, SendError};
use crate::channels::Channel;
use crate::config::Config;
use crate::store::Store;

/// What the test send came to, in words for the owner.
pub struct TestOutcome {
    pub ok: bool,
    pub detail: String,
}

/// Sends the test to `to` and waits for the server's answer.
pub async fn send(store: &Store, config: &Config, channel: &Channel, to: &str) -> TestOutcome {
    let mailer =
        match channel_mail::for_channel(store, channel, &config.smtp, &config.store.data_dir) {
            Ok(m) => m,
            Err(e) => {
                return TestOutcome {
                    ok: false,
                    detail: format!("the mailbox's settings do not load: {e}"),
                };
            }
        };
    let email = OutgoingEmail {
        to: to.to_string(),
        subject: format!("Herald test from {}", channel.name),
        html: format!(
            "<p>This is a test from the mailbox <b>{}</b>. If you can read it, it works.</p>",
            channel.name.replace('<', "&lt;")
        ),
        text: format!(
            "This is a test from the mailbox {}. If you can read it, it works.",
            channel.name
        ),
        unsubscribe_url: None,
        list_id: None,
        uid: format!("test-{}", uuid::Uuid::now_v7().simple()),
        bcc: Vec::new(),
        from_name: None,
        in_reply_to: None,
        references: Vec::new(),
    };
    let outbox = mailer.is_outbox();
    match mailer.send(&email).await {
        Ok(id) if outbox => TestOutcome {
            ok: true,
            detail: format!(
                "written to the outbox folder as {id}: no SMTP server is set for this install"
            ),
        },
        Ok(id) => TestOutcome {
            ok: true,
            detail: format!("the server accepted it as {id}"),
        },
        Err(SendError::Temporary(e)) => TestOutcome {
            ok: false,
            detail: format!("temporary failure: {e}"),
        },
        Err(SendError::Permanent(e)) => TestOutcome {
            ok: false,
            detail: format!("refused: {e}"),
        },
    }
}
