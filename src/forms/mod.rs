//! Forms: a hosted page and an embeddable snippet that post to one public endpoint,
//! `/f/{slug}`, and turn a person's signup into a contact, a consent record, list
//! memberships and a `form_submitted` event, all in one write.
//!
//! Layers: [`definition`] is what an admin builds (fields, lists, consent, what happens
//! after, spam settings) and its rules; [`store`] keeps forms, submissions, spam blocks
//! and view counts; [`submit`] checks one submission against its form and records it
//! through the one ingest path and `lists::subscribe::join`; [`limiter`] is the per-IP and
//! per-form rate limit on the store's clock. The adapters are [`api`] (JSON management),
//! [`pages`] (the admin UI), [`public`] (the endpoint, its CORS and spam checks) and
//! [`hosted`] (the public page and the embed snippet), with [`answer`] (JSON or page,
//! CORS, the pages' security policy).

pub mod answer;
pub mod api;
pub mod definition;
pub mod hosted;
pub mod limiter;
pub mod pages;
pub mod public;
pub mod store;
pub mod submit;

use serde_json::{Value, json};

use crate::contacts::ContactError;
use crate::kinds::time::iso_time;
use crate::lists::ListError;
use crate::store::StoreError;

pub use definition::{ConsentSpec, Definition, FieldSpec};

/// The public path of every form; the slug follows.
pub const PUBLIC_PATH: &str = "/f/";

/// Failures of the form domain; all but `Store` are the caller's mistake.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// A part of the request is wrong: which one (`fields[1].key`, `email`), and why,
    /// worded to follow the field's name or label ("is required").
    #[error("{field} {message}")]
    Invalid { field: String, message: String },
    #[error("Form not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FormError {
    /// A mistake in `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        FormError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<rusqlite::Error> for FormError {
    fn from(e: rusqlite::Error) -> Self {
        FormError::Store(StoreError::from(e))
    }
}

impl From<ContactError> for FormError {
    fn from(e: ContactError) -> Self {
        match e {
            ContactError::Store(e) => FormError::Store(e),
            ContactError::NotFound => FormError::NotFound,
            ContactError::Conflict(m) => FormError::Conflict(m),
            ContactError::Invalid(m) | ContactError::Missing(m) => FormError::invalid("contact", m),
        }
    }
}

impl From<ListError> for FormError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Invalid { field, message } => FormError::Invalid { field, message },
            ListError::NotFound => FormError::invalid("listIds", "names a list that is gone"),
            ListError::Conflict(m) => FormError::Conflict(m),
            ListError::Contact(e) => e.into(),
            ListError::Store(e) => FormError::Store(e),
        }
    }
}

/// A form as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub id: i64,
    pub uid: String,
    pub workspace_id: crate::kinds::WorkspaceId,
    pub slug: String,
    pub name: String,
    pub def: Definition,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Form {
    /// The API representation; `base_url` makes the hosted page's address absolute.
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut json = self.def.to_json();
        json["id"] = json!(self.uid);
        json["name"] = json!(self.name);
        json["slug"] = json!(self.slug);
        json["url"] = json!(format!("{base_url}{PUBLIC_PATH}{}", self.slug));
        json["createdAt"] = json!(iso_time(self.created_at));
        json["updatedAt"] = json!(iso_time(self.updated_at));
        json
    }
}

/// Why a submission was refused as spam; each refusal is a `form_spam` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpamReason {
    /// The hidden field people never see was filled in.
    Honeypot,
    /// Sent sooner after the form was shown than a person can fill it in, or with a
    /// timing token that is not genuine.
    TooFast,
    /// Over the per-IP or per-form rate.
    RateLimited,
}

impl SpamReason {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SpamReason::Honeypot => "honeypot",
            SpamReason::TooFast => "too_fast",
            SpamReason::RateLimited => "rate_limited",
        }
    }
}

/// Which door a submission came through, judged by its `Origin` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Herald's own hosted page.
    Hosted,
    /// A page on another origin that embeds the snippet.
    Embed,
    /// No `Origin`: a script or a server calling the endpoint.
    Direct,
}

impl Via {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Hosted => "hosted",
            Via::Embed => "embed",
            Via::Direct => "direct",
        }
    }
}

/// What the form page and the API report about a form: what can be counted honestly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Renders of the hosted page.
    pub hosted_views: i64,
    /// Embeds whose script fetched a timing token.
    pub script_views: i64,
    pub hosted_submissions: i64,
    pub embed_submissions: i64,
    pub direct_submissions: i64,
    pub honeypot: i64,
    pub too_fast: i64,
    pub rate_limited: i64,
}

impl Stats {
    /// Every accepted submission.
    pub fn submissions(&self) -> i64 {
        self.hosted_submissions + self.embed_submissions + self.direct_submissions
    }

    /// Every refused one.
    pub fn spam(&self) -> i64 {
        self.honeypot + self.too_fast + self.rate_limited
    }

    /// Hosted-page submissions per hosted-page view, when there were views: the one
    /// conversion rate whose two counts see the same people.
    pub fn hosted_conversion(&self) -> Option<f64> {
        (self.hosted_views > 0).then(|| self.hosted_submissions as f64 / self.hosted_views as f64)
    }

    /// The API representation.
    pub fn to_json(self) -> Value {
        json!({
            "views": {"hosted": self.hosted_views, "script": self.script_views},
            "submissions": {
                "total": self.submissions(),
                "hosted": self.hosted_submissions,
                "embed": self.embed_submissions,
                "direct": self.direct_submissions,
            },
            "hostedConversion": self.hosted_conversion(),
            "spam": {
                "total": self.spam(),
                "honeypot": self.honeypot,
                "tooFast": self.too_fast,
                "rateLimited": self.rate_limited,
            },
        })
    }
}
