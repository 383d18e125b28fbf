//! One submission: its values checked against the form (every mistake named by field, so
//! the page can show each beside its input), then recorded in one write through the same
//! ingest path as every other event (`form_submitted`, carrying the form's id), with the
//! consent and the list memberships of `lists::subscribe::join`.

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::definition::{InputKind, input_kind};
use super::{Form, FormError, Via, store};
use crate::contacts::fields::{self, Field};
use crate::contacts::{ContactPatch, Identity, normalize_email};
use crate::events::ingest::{NewEvent, Origin, ingest};
use crate::lists::consent::{ConsentInput, SignupContext};
use crate::lists::store as lists;
use crate::lists::subscribe::{Signup, join};
use crate::lists::{List, Source};

/// The hidden field carrying the signed time the form was shown.
pub const TOKEN_FIELD: &str = "_t";
/// The field people never see; only robots fill it in.
pub const HONEYPOT_FIELD: &str = "_hp";
/// The consent checkbox.
pub const CONSENT_FIELD: &str = "consent";
/// The lists a person picked, when the form offers a choice.
pub const LISTS_FIELD: &str = "listIds";

/// A submission whose values fit its form.
#[derive(Debug, Clone)]
pub struct Submission {
    pub email: String,
    pub patch: ContactPatch,
    /// The lists the person picked, if the submission names any.
    pub chosen: Option<Vec<String>>,
    pub consented: bool,
}

/// Every mistake in a submission, in the order of the form's fields.
pub type Mistakes = Vec<FormError>;

fn mistake(field: &str, message: impl Into<String>) -> FormError {
    FormError::invalid(field, message)
}

/// A value as one trimmed string, if it is one; `Err` for arrays and objects.
fn single(value: &Value) -> Result<Option<String>, &'static str> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err("must be a single value"),
    }
}

/// Whether a checkbox value means ticked (`on` is what browsers send).
fn ticked(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "on" | "yes" | "true" | "1"
        ),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// Checks the submitted values against the form: only its fields (and the consent box,
/// the list choice, the timing token and the honeypot) may be sent; required ones must be
/// filled in; each value must fit its type and `max_string` bytes.
pub fn parse(
    form: &Form,
    declared: &[Field],
    values: &Map<String, Value>,
    max_string: usize,
) -> Result<Submission, Mistakes> {
    let mut mistakes = Vec::new();
    let known = |k: &str| {
        form.def.fields.iter().any(|f| f.key == k)
            || [TOKEN_FIELD, HONEYPOT_FIELD, CONSENT_FIELD, LISTS_FIELD].contains(&k)
    };
    for key in values.keys().filter(|k| !known(k)) {
        let shown: String = key.chars().take(64).collect();
        mistakes.push(mistake(&shown, "is not a field of this form"));
    }
    let mut email = String::new();
    let mut patch = ContactPatch::default();
    for field in &form.def.fields {
        let Some(kind) = input_kind(&field.key, declared) else {
            continue;
        };
        let key = field.key.as_str();
        let raw = values.get(key).unwrap_or(&Value::Null);
        if kind == InputKind::Checkbox {
            let on = ticked(Some(raw));
            if field.required && !on {
                mistakes.push(mistake(key, "must be ticked"));
            }
            patch.properties.insert(key.into(), Value::Bool(on));
            continue;
        }
        let text = match single(raw) {
            Ok(text) => text,
            Err(m) => {
                mistakes.push(mistake(key, m));
                continue;
            }
        };
        let Some(text) = text else {
            if field.required {
                mistakes.push(mistake(key, "is required"));
            }
            continue;
        };
        if text.len() > max_string {
            mistakes.push(mistake(key, format!("is longer than {max_string} bytes")));
            continue;
        }
        match value_for(key, kind, text, declared, max_string) {
            Ok(Slot::Email(e)) => email = e,
            Ok(Slot::First(v)) => patch.first_name = Some(Some(v)),
            Ok(Slot::Last(v)) => patch.last_name = Some(Some(v)),
            Ok(Slot::Custom(v)) => {
                patch.properties.insert(key.into(), v);
            }
            Err(m) => mistakes.push(mistake(key, m)),
        }
    }
    let consented = ticked(values.get(CONSENT_FIELD));
    if form.def.consent.as_ref().is_some_and(|c| c.required) && !consented {
        mistakes.push(mistake(CONSENT_FIELD, "must be ticked to sign up"));
    }
    let chosen = chosen_lists(form, values.get(LISTS_FIELD), &mut mistakes);
    if mistakes.is_empty() {
        Ok(Submission {
            email,
            patch,
            chosen,
            consented,
        })
    } else {
        Err(mistakes)
    }
}

/// Where a checked value goes.
enum Slot {
    Email(String),
    First(String),
    Last(String),
    Custom(Value),
}

fn value_for(
    key: &str,
    kind: InputKind,
    text: String,
    declared: &[Field],
    max_string: usize,
) -> Result<Slot, String> {
    match key {
        "email" => normalize_email(&text)
            .map(Slot::Email)
            .map_err(|_| "is not a valid email address".into()),
        "firstName" => Ok(Slot::First(text)),
        "lastName" => Ok(Slot::Last(text)),
        _ => {
            let field = declared
                .iter()
                .find(|f| f.key == key)
                .ok_or("is not a field of this form")?;
            fields::coerce(field, &Value::String(text), max_string)
                .map(Slot::Custom)
                .map_err(|_| match kind {
                    InputKind::Number => "must be a number".into(),
                    InputKind::Date => "must be a date (YYYY-MM-DD)".into(),
                    _ => "is not a valid value".into(),
                })
        }
    }
}

/// The lists the submission names: each must be one of the form's.
fn chosen_lists(
    form: &Form,
    value: Option<&Value>,
    mistakes: &mut Mistakes,
) -> Option<Vec<String>> {
    let named: Vec<Value> = match value {
        None | Some(Value::Null) => return None,
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
    };
    let mut chosen = Vec::new();
    for (i, item) in named.iter().enumerate() {
        match item.as_str().map(str::trim) {
            Some(uid) if form.def.list_ids.iter().any(|l| l == uid) => chosen.push(uid.to_string()),
            _ => mistakes.push(mistake(
                &format!("{LISTS_FIELD}[{i}]"),
                "is not one of this form's lists",
            )),
        }
    }
    Some(chosen)
}

/// What a recorded submission did.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub contact_created: bool,
    /// Whether some list waits for the person to confirm by email.
    pub requires_confirmation: bool,
    pub event_id: i64,
}

/// The form's lists this submission joins: those still there, narrowed by the person's
/// choice (or to none but the private ones, when the form offers a choice and none was
/// made); private lists are never offered, so they are always joined.
pub fn lists_to_join(
    conn: &Connection,
    form: &Form,
    chosen: Option<&[String]>,
) -> Result<Vec<List>, FormError> {
    let mut out = Vec::new();
    for uid in &form.def.list_ids {
        let Some(list) = lists::get(conn, form.workspace_id, uid)? else {
            continue;
        };
        let wanted = match chosen {
            _ if !list.public => true,
            Some(chosen) => chosen.contains(uid),
            None => !form.def.list_choice,
        };
        if wanted {
            out.push(list);
        }
    }
    Ok(out)
}

/// Records one submission inside the caller's write: the contact and the event through
/// ingest, then the consent and memberships, then the submission row.
pub fn record(
    conn: &Connection,
    form: &Form,
    submission: &Submission,
    context: &SignupContext,
    via: Via,
) -> Result<Accepted, FormError> {
    let ws = form.workspace_id;
    let joining = lists_to_join(conn, form, submission.chosen.as_deref())?;
    let mut properties = Map::new();
    properties.insert("formId".into(), json!(form.uid));
    properties.insert("formName".into(), json!(form.name));
    properties.insert("formSlug".into(), json!(form.slug));
    let uids: Vec<&str> = joining.iter().map(|l| l.uid.as_str()).collect();
    properties.insert("listIds".into(), json!(uids));
    let listed = json!(uids);
    let event = NewEvent {
        name: form.def.event_name.clone(),
        properties,
        origin: Origin {
            kind: "form",
            detail: Some(json!({
                "formId": form.uid,
                "ip": context.ip,
                "user_agent": context.user_agent,
            })),
            trigger_id: None,
        },
    };
    let identity = Identity {
        email: Some(submission.email.clone()),
        ..Identity::default()
    };
    let done = ingest(conn, ws, &identity, &submission.patch, &event)?;
    let consent = form
        .def
        .consent
        .as_ref()
        .filter(|_| submission.consented)
        .map(|c| ConsentInput {
            text: c.text.clone(),
            version: c.version.clone(),
        });
    let mut requires_confirmation = false;
    if !joining.is_empty() || consent.is_some() {
        let signup = Signup {
            email: submission.email.clone(),
            patch: ContactPatch::default(),
            lists: joining,
            consent,
            context: context.clone(),
        };
        let joined = join(
            conn,
            ws,
            done.contact.clone(),
            done.contact_created,
            &signup,
        )?;
        requires_confirmation = joined.requires_confirmation;
    }
    store::record_submission(conn, form.id, done.contact.id, context.ip.as_deref(), via)?;
    announce(conn, form, &done.contact, listed)?;
    Ok(Accepted {
        contact_created: done.contact_created,
        requires_confirmation,
        event_id: done.event_id,
    })
}

/// Tells webhook endpoints that listen about an accepted submission.
fn announce(
    conn: &Connection,
    form: &Form,
    contact: &crate::contacts::Contact,
    lists: Value,
) -> Result<(), FormError> {
    let about = crate::webhooks::outbox::About::contact(contact.id);
    Ok(crate::webhooks::outbox::emit(
        conn,
        form.workspace_id,
        "form.submitted",
        about,
        || {
            json!({
                "contact": contact.to_json(),
                "form": {"id": form.uid, "name": form.name, "slug": form.slug},
                "listIds": lists,
            })
        },
    )?)
}

/// The context a form submission's consent and memberships are kept with.
pub fn context(form: &Form, ip: Option<String>, user_agent: Option<String>) -> SignupContext {
    SignupContext {
        source: Source::Form,
        form_id: Some(form.id),
        ip,
        user_agent,
    }
}

/// What the public endpoint needs of a form: the form, the declared fields it may use,
/// the lists it offers as a choice, and the workspace's name to show.
#[derive(Debug, Clone)]
pub struct PublicForm {
    pub form: Form,
    pub declared: Vec<Field>,
    pub offered: Vec<List>,
    pub sender: String,
}

/// The form at `/f/{slug}` with what showing or checking it needs, in one read.
pub fn public_form(conn: &Connection, slug: &str) -> Result<Option<PublicForm>, FormError> {
    let Some(form) = store::by_slug(conn, slug)? else {
        return Ok(None);
    };
    let custom = form
        .def
        .fields
        .iter()
        .any(|f| !matches!(f.key.as_str(), "email" | "firstName" | "lastName"));
    let declared = if custom {
        fields::list(conn, form.workspace_id)?
    } else {
        Vec::new()
    };
    let mut offered = Vec::new();
    if form.def.list_choice {
        for uid in &form.def.list_ids {
            if let Some(list) = lists::get(conn, form.workspace_id, uid)?
                && list.public
            {
                offered.push(list);
            }
        }
    }
    let sender = crate::auth::accounts::find_workspace(conn, form.workspace_id)
        .map_err(|e| match e {
            crate::auth::AuthError::Store(e) => FormError::Store(e),
            other => FormError::Conflict(other.to_string()),
        })?
        .map(|w| w.name)
        .unwrap_or_default();
    Ok(Some(PublicForm {
        form,
        declared,
        offered,
        sender,
    }))
}
