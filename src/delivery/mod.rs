//! Outgoing messages: the SMTP (or outbox) mailer and the SMS / WhatsApp providers,
//! message rows with their status,
//! suppressions, one-click unsubscribe, and the send job.

pub mod api;
pub mod channel_mail;
pub mod channel_test;
pub mod footer;
pub mod links;
pub mod mailer;
pub mod messages;
pub mod optout;
pub mod pages;
pub mod provider_status;
pub mod send;
pub mod test_send;
pub mod text_send;
pub mod unsubscribe;
