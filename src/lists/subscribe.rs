//! Signing up with consent: the one path the subscribe API and every form take.
//!
//! A signup creates or updates the contact, records the consent it carries, and joins the
//! lists it names. A single opt-in list is joined (`confirmed`) at once. A double opt-in
//! list is only `unconfirmed` until the contact uses the link in the confirmation email,
//! which this queues through the normal message path from the workspace's editable
//! `confirmation` template. A contact the signup creates for double opt-in lists alone
//! starts unsubscribed, so no marketing mail reaches an address nobody has confirmed.
//! Signing up again changes nothing that is already so; an unconfirmed membership gets a
//! new email only once the last one is an hour old.

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::consent::{self, ConsentInput, SignupContext};
use super::store::{self as lists, Membership};
use super::{List, ListError, MemberStatus, OptIn, Source};
use crate::contacts::store as contacts;
use crate::contacts::{Contact, ContactPatch, Identity};
use crate::delivery::messages::{self, Content, NewMessage};
use crate::events::ingest::{Origin, insert_event, record_contact_change};
use crate::events::occurrence::{Occurrence, Scope, react};
use crate::jobs::{self, JobKind};
use crate::kinds::WorkspaceId;
use crate::templates::store::{self as templates, TemplateInput};

/// How long a confirmation link works.
pub const CONFIRMATION_VALID_MS: i64 = 7 * 24 * 3600 * 1000;
/// An unconfirmed signup asks for a new confirmation email at most this often.
const RESEND_AFTER_MS: i64 = 3600 * 1000;
/// The event recorded when a contact joins a list (confirmed).
pub const LIST_JOINED: &str = "list_joined";

/// A signup as the subscribe API and forms send it, already parsed.
#[derive(Debug, Clone)]
pub struct Signup {
    /// Lower-cased, checked address.
    pub email: String,
    /// Names and declared fields to set on the contact.
    pub patch: ContactPatch,
    pub lists: Vec<List>,
    pub consent: Option<ConsentInput>,
    pub context: SignupContext,
}

/// What a signup did.
#[derive(Debug, Clone)]
pub struct SignedUp {
    pub contact: Contact,
    pub contact_created: bool,
    /// Whether some list waits for the contact to confirm by email.
    pub requires_confirmation: bool,
    /// Lists joined now (confirmed).
    pub joined: Vec<String>,
    /// The confirmation email queued, if one was.
    pub confirmation_message: Option<i64>,
}

/// Creates or updates the contact and joins its lists, inside the caller's write.
pub fn subscribe(
    conn: &Connection,
    ws: WorkspaceId,
    signup: &Signup,
) -> Result<SignedUp, ListError> {
    let identity = Identity {
        email: Some(signup.email.clone()),
        ..Identity::default()
    };
    let upserted = contacts::upsert(conn, ws, &identity, &signup.patch)?;
    let origin = Origin {
        kind: signup.context.source.as_str(),
        detail: None,
        trigger_id: None,
    };
    record_contact_change(
        conn,
        ws,
        &upserted.contact,
        upserted.created,
        &upserted.changes,
        &origin,
    )?;
    join(conn, ws, upserted.contact, upserted.created, signup)
}

/// The list, consent and confirmation part of a signup, for a contact already created or
/// updated by the caller (forms do that through ingest, with their `form_submitted` event).
pub fn join(
    conn: &Connection,
    ws: WorkspaceId,
    contact: Contact,
    created: bool,
    signup: &Signup,
) -> Result<SignedUp, ListError> {
    if let Some(consent) = &signup.consent {
        consent::record(conn, ws, contact.id, consent, &signup.context)?;
    }
    let source = signup.context.source;
    let mut joined = Vec::new();
    let mut to_confirm = Vec::new();
    let mut resend = false;
    for list in &signup.lists {
        let current = lists::membership(conn, list.id, contact.id)?;
        match (list.opt_in, current) {
            (_, Some((MemberStatus::Confirmed, _))) => {}
            (OptIn::Single, _) => {
                lists::set_status(conn, ws, list, contact.id, MemberStatus::Confirmed, source)?;
                joined.push(list.clone());
            }
            (OptIn::Double, Some((MemberStatus::Unconfirmed, changed_at))) => {
                let now = crate::store::here().now_ms();
                resend |= now - changed_at >= RESEND_AFTER_MS;
                to_confirm.push(list.clone());
            }
            (OptIn::Double, _) => {
                lists::set_status(
                    conn,
                    ws,
                    list,
                    contact.id,
                    MemberStatus::Unconfirmed,
                    source,
                )?;
                resend = true;
                to_confirm.push(list.clone());
            }
        }
    }
    let contact = settle_subscription(conn, ws, contact, created, signup, !joined.is_empty())?;
    for list in &joined {
        announce_joined(conn, ws, &contact, list, source)?;
    }
    let confirmation_message = if resend {
        Some(queue_confirmation(conn, ws, &contact, &to_confirm)?)
    } else {
        None
    };
    Ok(SignedUp {
        requires_confirmation: !to_confirm.is_empty(),
        joined: joined.into_iter().map(|l| l.uid).collect(),
        contact,
        contact_created: created,
        confirmation_message,
    })
}

/// A signup that joins some list at once (or names none) is a fresh opt-in: the contact is
/// subscribed again. A contact created for double opt-in lists alone waits unsubscribed.
fn settle_subscription(
    conn: &Connection,
    ws: WorkspaceId,
    contact: Contact,
    created: bool,
    signup: &Signup,
    joined_some: bool,
) -> Result<Contact, ListError> {
    let opted_in = joined_some || signup.lists.is_empty();
    let wanted = if opted_in {
        true
    } else if created {
        false
    } else {
        return Ok(contact);
    };
    if contact.subscribed == wanted {
        return Ok(contact);
    }
    let patch = ContactPatch {
        subscribed: Some(wanted),
        ..ContactPatch::default()
    };
    let (contact, changes) = contacts::apply(conn, contact, &patch)?;
    if !created {
        let origin = Origin {
            kind: signup.context.source.as_str(),
            detail: None,
            trigger_id: None,
        };
        record_contact_change(conn, ws, &contact, false, &changes, &origin)?;
    }
    Ok(contact)
}

/// Records `list_joined` in the contact's history and offers it to automations.
pub fn announce_joined(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    list: &List,
    source: Source,
) -> Result<(), ListError> {
    let mut properties = Map::new();
    properties.insert("listId".into(), json!(list.uid));
    properties.insert("listName".into(), json!(list.name));
    let origin = Origin {
        kind: "system",
        detail: Some(Value::String(source.as_str().into())),
        trigger_id: None,
    };
    insert_event(conn, ws, contact.id, LIST_JOINED, &properties, &origin)?;
    crate::webhooks::outbox::emit(
        conn,
        ws,
        "list.joined",
        crate::webhooks::outbox::About::contact(contact.id),
        || json!({"contact": contact.to_json(), "list": {"id": list.uid, "name": list.name}, "source": source.as_str()}),
    )?;
    let empty = Map::new();
    let scope = Scope {
        event: &properties,
        variables: &empty,
        trigger_id: None,
        from_automation: source == Source::Automation,
    };
    react(
        conn,
        ws,
        contact,
        Occurrence::ListJoined { list: &list.uid },
        &scope,
    )?;
    Ok(())
}

/// The double opt-in email as a new workspace starts with it.
pub fn default_confirmation_template() -> TemplateInput {
    TemplateInput {
        kind: "email".into(),
        name: "Double opt-in confirmation".into(),
        subject: "Please confirm your subscription".into(),
        html: "<p>Hi {{contact.firstName}},</p>\n\n<p>Please confirm that you want to receive our emails{{#if lists}} ({{lists}}){{/if}}.</p>\n\n<p><a href=\"{{confirm_url}}\">Yes, subscribe me</a></p>\n\n<p>If you did not sign up, ignore this email: nothing happens unless you confirm.</p>".into(),
        text: None,
    }
}

/// Queues the confirmation email for the lists waiting on this contact; rendered by the
/// send job from the workspace's `confirmation` template.
fn queue_confirmation(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    waiting: &[List],
) -> Result<i64, ListError> {
    let template =
        templates::for_purpose(conn, ws, "confirmation", &default_confirmation_template())?;
    let now = crate::store::here().now_ms();
    let links = crate::delivery::links::in_store();
    let names: Vec<&str> = waiting.iter().map(|l| l.name.as_str()).collect();
    let mut variables = Map::new();
    variables.insert("lists".into(), json!(names.join(", ")));
    variables.insert(
        "confirm_url".into(),
        json!(links.confirm_url(&contact.uid, now + CONFIRMATION_VALID_MS)),
    );
    let context = crate::templates::context(
        contact,
        &Map::new(),
        &variables,
        &crate::templates::OptOutUrls::default(),
    );
    let to = contact.email.clone().unwrap_or_default();
    let new = NewMessage {
        channel: "email",
        contact_id: Some(contact.id),
        enrollment_id: None,
        position: None,
        kind: "transactional",
        to: &to,
        content: Content::Deferred {
            template_id: template.id,
            context: context.to_string(),
        },
        channel_id: None,
        envelope: None,
    };
    let id = messages::create(conn, ws, &new)?
        .ok_or_else(|| crate::store::StoreError::Commit("message not created".into()))?;
    jobs::enqueue(
        conn,
        Some(ws),
        &JobKind::SendMessage { message_id: id },
        now,
        jobs::max_attempts(),
    )?;
    Ok(id)
}

/// The memberships a preferences page shows: the contact's public lists.
pub fn public_memberships(
    conn: &Connection,
    ws: WorkspaceId,
    contact_id: i64,
) -> Result<Vec<Membership>, ListError> {
    Ok(lists::memberships_of(conn, ws, contact_id)?
        .into_iter()
        .filter(|m| m.list.public)
        .collect())
}
