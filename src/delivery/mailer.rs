//! Sends an email through SMTP (lettre, pooled, rustls) or, with no SMTP configured,
//! writes it to the outbox folder so everything works before setup.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Mutex;

use crate::config::{SmtpConfig, SmtpTls};

/// An email ready to go.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// One-click unsubscribe URL; set for marketing mail.
    pub unsubscribe_url: Option<String>,
    /// Stable id used to build the Message-ID.
    pub uid: String,
    /// For marketing mail: what names the mailing in `List-Id` (RFC 2919), under the
    /// sender's domain.
    pub list_id: Option<String>,
    /// Blind copies (the generic API's `bcc`).
    pub bcc: Vec<String>,
    /// A sender name for this message instead of the mailbox's.
    pub from_name: Option<String>,
    /// Threading headers, as the sending application gave them.
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
}

/// Why a send failed, which decides retry or suppression.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later: 4xx, refused connection, timeout.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The server refused for good (5xx): the address is suppressed.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

#[derive(Clone, Debug)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone, Debug)]
struct ListId(String);

impl Header for ListId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Id")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListId(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone, Debug)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_string())
    }
}

enum Transport {
    Smtp(Smtp),
    Outbox(PathBuf),
}

/// The pooled SMTP transport. Dropping lettre's pool spawns a task that closes its
/// connections, which panics ("there is no reactor running") when the last handle goes
/// after the runtime stopped, as it does at shutdown; so the drop happens inside a
/// runtime, borrowing a short-lived one if none is current.
struct Smtp(Option<AsyncSmtpTransport<Tokio1Executor>>);

impl Smtp {
    fn transport(&self) -> &AsyncSmtpTransport<Tokio1Executor> {
        self.0.as_ref().expect("taken only on drop")
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let Some(transport) = self.0.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            return drop(transport);
        }
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            // Idle connections are closed without a QUIT; the process is exiting anyway.
            Ok(runtime) => runtime.block_on(async move { drop(transport) }),
            Err(_) => std::mem::forget(transport),
        }
    }
}

/// The configured way mail leaves Herald; cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: Arc<Transport>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// The DKIM key and the low-priority threads that sign with it: an RSA signature is
    /// a millisecond or two of CPU, kept off the runtime and below request handling.
    dkim: Option<Arc<(lettre::message::dkim::DkimConfig, crate::jobs::pool::Pool)>>,
    domain: String,
    pace: Arc<Mutex<Instant>>,
    interval: Option<Duration>,
}

impl Mailer {
    /// Builds the SMTP pool (connections open lazily) or the outbox writer.
    pub fn new(config: &SmtpConfig, data_dir: &std::path::Path) -> anyhow::Result<Mailer> {
        let from: Mailbox = format!("{} <{}>", config.from_name, config.from_address)
            .parse()
            .or_else(|_| config.from_address.parse())
            .map_err(|e| anyhow::anyhow!("smtp.from_address: {e}"))?;
        let domain = config
            .from_address
            .split('@')
            .nth(1)
            .unwrap_or("localhost")
            .to_string();
        let transport = if config.host.is_empty() {
            Transport::Outbox(data_dir.join("outbox"))
        } else {
            let builder = match config.tls {
                SmtpTls::None => {
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
                }
                SmtpTls::Starttls => {
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
                }
                SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
            };
            let mut builder = builder
                .port(config.port)
                .timeout(Some(Duration::from_secs(config.timeout_secs)))
                .pool_config(PoolConfig::new().max_size(config.pool_size));
            if !config.username.is_empty() {
                builder = builder.credentials(Credentials::new(
                    config.username.clone(),
                    config.password.clone(),
                ));
            }
            Transport::Smtp(Smtp(Some(builder.build())))
        };
        let interval = (config.max_per_second > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / config.max_per_second));
        Ok(Mailer {
            transport: Arc::new(transport),
            from,
            reply_to: None,
            dkim: None,
            domain,
            pace: Arc::new(Mutex::new(Instant::now())),
            interval,
        })
    }

    /// The same mailer with replies going to `address`.
    pub fn with_reply_to(mut self, address: &str) -> anyhow::Result<Mailer> {
        self.reply_to = Some(address.parse()?);
        Ok(self)
    }

    /// The same mailer signing every message with `config`.
    pub fn with_dkim(mut self, config: lettre::message::dkim::DkimConfig) -> Mailer {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool = crate::jobs::pool::Pool::new("dkim", threads);
        self.dkim = Some(Arc::new((config, pool)));
        self
    }

    /// Whether mail is only written to the outbox.
    pub fn is_outbox(&self) -> bool {
        matches!(*self.transport, Transport::Outbox(_))
    }

    /// The Message-ID an email with this uid gets.
    pub fn message_id(&self, uid: &str) -> String {
        format!("<{uid}@{}>", self.domain)
    }

    fn build(&self, email: &OutgoingEmail) -> Result<Message, SendError> {
        let address = |a: &str| -> Result<Mailbox, SendError> {
            a.trim()
                .parse()
                .map_err(|e| SendError::Permanent(format!("invalid recipient {a}: {e}")))
        };
        let from = match &email.from_name {
            Some(name) => Mailbox::new(Some(name.clone()), self.from.email.clone()),
            None => self.from.clone(),
        };
        let mut builder = Message::builder()
            .from(from)
            .subject(email.subject.clone())
            .date_now()
            .message_id(Some(self.message_id(&email.uid)));
        for to in email.to.split(',') {
            builder = builder.to(address(to)?);
        }
        for bcc in &email.bcc {
            builder = builder.bcc(address(bcc)?);
        }
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        if let Some(id) = &email.in_reply_to {
            builder = builder.in_reply_to(id.clone());
        }
        if !email.references.is_empty() {
            builder = builder.references(email.references.join(" "));
        }
        if let Some(url) = &email.unsubscribe_url {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        if let Some(list) = &email.list_id {
            builder = builder.header(ListId(format!("<{list}.{}>", self.domain)));
        }
        builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(email.text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(email.html.clone()),
                    ),
            )
            .map_err(|e| SendError::Permanent(format!("cannot build message: {e}")))
    }

    async fn wait_turn(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.pace.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }

    /// Sends (or writes to the outbox); returns the Message-ID.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        let mut message = self.build(email)?;
        if let Some(dkim) = &self.dkim {
            let signer = dkim.clone();
            message = dkim
                .1
                .run(move || {
                    message.sign(&signer.0);
                    message
                })
                .await;
        }
        self.wait_turn().await;
        match &*self.transport {
            Transport::Outbox(dir) => {
                let path = dir.join(format!("{}.eml", email.uid));
                let bytes = message.formatted();
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || {
                    crate::store::private_dir(&dir)?;
                    std::fs::write(path, bytes)
                })
                .await
                .map_err(|e| SendError::Temporary(e.to_string()))?
                .map_err(|e| SendError::Temporary(format!("cannot write to the outbox: {e}")))?;
            }
            Transport::Smtp(smtp) => {
                smtp.transport().send(message).await.map_err(|e| {
                    if e.is_permanent() {
                        SendError::Permanent(e.to_string())
                    } else {
                        SendError::Temporary(e.to_string())
                    }
                })?;
            }
        }
        Ok(self.message_id(&email.uid))
    }
}
