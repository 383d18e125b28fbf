//! Adding, editing and deleting one contact from the UI. Saves go through the same store
//! functions and `record_contact_change` as the API, so automations see UI changes too.

use crate::ui::csrf::CsrfForm;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::Value;

use super::{field, tabs};
use crate::contacts::fields::{self, Field, FieldType};
use crate::contacts::{
    Contact, ContactError, ContactPatch, Identity, normalize_email, normalize_phone,
    normalize_tags, store,
};
use crate::events::ingest::{Origin, record_contact_change};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::components::{csrf_input, redirect};
use crate::ui::layout::render_with_status;
use crate::ui::{Flash, PageError, render};
use actix_web::http::StatusCode;

type FormPairs = web::Form<Vec<(String, String)>>;

const UI: Origin = Origin {
    kind: "ui",
    detail: None,
    trigger_id: None,
};

fn declared(state: &AppState, user: &SignedIn) -> Result<Vec<Field>, PageError> {
    let ws = user.0.workspace.id;
    Ok(state.store.read(|conn| fields::list(conn, ws))?)
}

fn text(
    form: &[(String, String)],
    name: &str,
    what: &str,
    max: usize,
) -> Result<Option<Option<String>>, ContactError> {
    let value = field(form, name).trim();
    if value.len() > max {
        return Err(ContactError::Invalid(format!(
            "{what} is longer than {max} bytes"
        )));
    }
    Ok(Some((!value.is_empty()).then(|| value.to_string())))
}

/// Reads the form into a full patch: an empty box clears that property.
fn patch_from_form(
    form: &[(String, String)],
    declared: &[Field],
    max: usize,
) -> Result<ContactPatch, ContactError> {
    let phone = field(form, "phone").trim();
    let tags: Vec<String> = field(form, "tags")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    let mut patch = ContactPatch {
        first_name: text(form, "first_name", "First name", max)?,
        last_name: text(form, "last_name", "Last name", max)?,
        name: text(form, "name", "Name", max)?,
        external_id: text(form, "external_id", "External ID", 255)?,
        phone: Some(
            (!phone.is_empty())
                .then(|| normalize_phone(phone))
                .transpose()?,
        ),
        tags: Some(normalize_tags(&tags)?),
        subscribed: Some(!field(form, "subscribed").is_empty()),
        ..ContactPatch::default()
    };
    for f in declared {
        let raw = field(form, &format!("field.{}", f.key)).trim();
        let value = if raw.is_empty() {
            Value::Null
        } else {
            fields::coerce(f, &Value::String(raw.to_string()), max)?
        };
        patch.properties.insert(f.key.clone(), value);
    }
    Ok(patch)
}

fn custom_input(f: &Field, value: &str) -> Markup {
    let name = format!("field.{}", f.key);
    html! {
        label {
            (f.label) " " span.muted { "(" (f.field_type.as_str()) ")" }
            @match f.field_type {
                FieldType::Text => input type="text" name=(name) value=(value);,
                FieldType::Number => input type="number" step="any" name=(name) value=(value);,
                FieldType::Date => input type="date" name=(name) value=(value.get(..10).unwrap_or(value));,
                FieldType::Boolean => select name=(name) {
                    option value="" selected[value.is_empty()] { "—" }
                    option value="true" selected[value == "true"] { "yes" }
                    option value="false" selected[value == "false"] { "no" }
                },
            }
        }
    }
}

/// A stored contact as the form's fields, so the form renders the same way from the
/// database and from what a person just typed.
fn pairs_of(contact: &Contact, declared: &[Field]) -> Vec<(String, String)> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut pairs = vec![
        ("first_name".to_string(), opt(&contact.first_name)),
        ("last_name".into(), opt(&contact.last_name)),
        ("name".into(), opt(&contact.name)),
        ("phone".into(), opt(&contact.phone)),
        ("external_id".into(), opt(&contact.external_id)),
        ("tags".into(), contact.tags.join(", ")),
    ];
    if contact.subscribed {
        pairs.push(("subscribed".into(), "1".into()));
    }
    for f in declared {
        let value = match contact.properties.get(&f.key) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        pairs.push((format!("field.{}", f.key), value));
    }
    pairs
}

/// What the form shows: where it posts, its values, and the problem to fix, if any.
struct ContactForm<'a> {
    action: &'a str,
    cancel: &'a str,
    is_new: bool,
    values: &'a [(String, String)],
    problem: Option<String>,
}

fn contact_form(form: &ContactForm<'_>, csrf: &str, declared: &[Field]) -> Markup {
    let get = |name: &str| field(form.values, name).to_string();
    let subscribed = if form.values.is_empty() {
        true
    } else {
        !field(form.values, "subscribed").is_empty()
    };
    html! {
        form.card.narrow method="post" action=(form.action) {
            @if let Some(problem) = &form.problem {
                p.flash.error role="alert" { (problem) }
            }
            (csrf_input(csrf))
            @if form.is_new {
                label { "Email" input type="email" name="email" required maxlength="254" value=(get("email")); }
            }
            label { "First name" input type="text" name="first_name" value=(get("first_name")); }
            label { "Last name" input type="text" name="last_name" value=(get("last_name")); }
            label { "Name" input type="text" name="name" value=(get("name")); }
            label { "Phone (E.164)" input type="text" name="phone" value=(get("phone")) placeholder="+14155550123"; }
            label { "External ID" input type="text" name="external_id" value=(get("external_id")); }
            label { "Tags (comma separated)" input type="text" name="tags" value=(get("tags")); }
            label { input type="checkbox" name="subscribed" value="1" checked[subscribed]; " Subscribed" }
            @for f in declared { (custom_input(f, field(form.values, &format!("field.{}", f.key)))) }
            button type="submit" { @if form.is_new { "Add contact" } @else { "Save" } }
            " "
            a href=(form.cancel) { "Cancel" }
        }
    }
}

/// The form again with what the person typed and the problem, instead of a redirect
/// that would lose their input.
fn form_again(
    state: &AppState,
    req: &HttpRequest,
    user: &SignedIn,
    title: &str,
    form: &ContactForm<'_>,
    declared: &[Field],
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(state, "contacts")?;
    let body = html! { (tabs("list")) (contact_form(form, &user.0.csrf_token, declared)) };
    Ok(render_with_status(
        req,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(&nav),
        title,
        body,
    ))
}

/// A problem the person can fix, shown on the form; anything else is an error page.
fn fixable(e: ContactError) -> Result<String, PageError> {
    match e {
        ContactError::Store(e) => Err(e.into()),
        ContactError::NotFound => Err(PageError::NotFound),
        other => Ok(other.to_string()),
    }
}

/// `GET /contacts/new`.
pub async fn new_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "contacts")?;
    let declared = declared(&state, &user)?;
    let form = ContactForm {
        action: "/contacts/new",
        cancel: "/contacts",
        is_new: true,
        values: &[],
        problem: None,
    };
    let body = html! { (tabs("list")) (contact_form(&form, &user.0.csrf_token, &declared)) };
    Ok(render(&req, Some(&nav), "Add contact", body))
}

/// `POST /contacts/new`.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    form: FormPairs,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(field(&form, "csrf_token"))?;
    let declared = declared(&state, &user)?;
    let max = state.config.limits.max_string_bytes;
    let parsed = normalize_email(field(&form, "email"))
        .and_then(|email| Ok((email, patch_from_form(&form, &declared, max)?)));
    let again = |problem: String| ContactForm {
        action: "/contacts/new",
        cancel: "/contacts",
        is_new: true,
        values: &form,
        problem: Some(problem),
    };
    let retry = |e: ContactError| -> Result<HttpResponse, PageError> {
        let form = again(fixable(e)?);
        form_again(&state, &req, &user, "Add contact", &form, &declared)
    };
    let (email, patch) = match parsed {
        Ok(p) => p,
        Err(e) => {
            return retry(e);
        }
    };
    let ws = user.0.workspace.id;
    let created = state
        .store
        .write(move |conn| -> Result<Contact, ContactError> {
            if store::find_by_email(conn, ws, &email)?.is_some() {
                return Err(ContactError::Conflict(format!(
                    "A contact with the email {email} already exists"
                )));
            }
            let identity = Identity {
                email: Some(email),
                ..Identity::default()
            };
            let contact = store::insert(conn, ws, &identity, &patch)?;
            record_contact_change(conn, ws, &contact, true, &[], &UI)?;
            Ok(contact)
        })
        .await;
    match created {
        Ok(c) => Ok(redirect(
            &format!("/contacts/{}", c.uid),
            Flash::success("Contact added."),
        )),
        Err(e) => retry(e),
    }
}

fn contact_of(state: &AppState, user: &SignedIn, uid: &str) -> Result<Contact, PageError> {
    let ws = user.0.workspace.id;
    Ok(state.store.read(|conn| store::get(conn, ws, uid))?)
}

/// `GET /contacts/{id}/edit`.
pub async fn edit_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "contacts")?;
    let contact = contact_of(&state, &user, &id)?;
    let declared = declared(&state, &user)?;
    let action = format!("/contacts/{}/edit", contact.uid);
    let cancel = format!("/contacts/{}", contact.uid);
    let title = format!("Edit {}", contact.display_name());
    let values = pairs_of(&contact, &declared);
    let form = ContactForm {
        action: &action,
        cancel: &cancel,
        is_new: false,
        values: &values,
        problem: None,
    };
    let body = html! { (tabs("list")) (contact_form(&form, &user.0.csrf_token, &declared)) };
    Ok(render(&req, Some(&nav), &title, body))
}

/// `POST /contacts/{id}/edit`.
pub async fn save(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    form: FormPairs,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(field(&form, "csrf_token"))?;
    let uid = id.into_inner();
    let action = format!("/contacts/{uid}/edit");
    let cancel = format!("/contacts/{uid}");
    let declared = declared(&state, &user)?;
    let again = |problem: String| ContactForm {
        action: &action,
        cancel: &cancel,
        is_new: false,
        values: &form,
        problem: Some(problem),
    };
    let retry = |e: ContactError| -> Result<HttpResponse, PageError> {
        let form = again(fixable(e)?);
        form_again(&state, &req, &user, "Edit contact", &form, &declared)
    };
    let patch = match patch_from_form(&form, &declared, state.config.limits.max_string_bytes) {
        Ok(p) => p,
        Err(e) => {
            return retry(e);
        }
    };
    let ws = user.0.workspace.id;
    let target = uid.clone();
    let saved = state
        .store
        .write(move |conn| -> Result<usize, ContactError> {
            let existing = store::get(conn, ws, &target)?;
            let (contact, changes) = store::apply(conn, existing, &patch)?;
            record_contact_change(conn, ws, &contact, false, &changes, &UI)?;
            Ok(changes.len())
        })
        .await;
    match saved {
        Ok(0) => Ok(redirect(
            &format!("/contacts/{uid}"),
            Flash::success("Nothing changed."),
        )),
        Ok(_) => Ok(redirect(
            &format!("/contacts/{uid}"),
            Flash::success("Contact saved."),
        )),
        Err(e) => retry(e),
    }
}

/// `GET /contacts/{id}/delete`: asks before erasing.
pub async fn delete_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "contacts")?;
    let contact = contact_of(&state, &user, &id)?;
    let body = html! {
        section.card.narrow {
            p { "Delete " strong { (contact.display_name()) } @if let Some(email) = &contact.email { " (" (email) ")" } "?" }
            p.muted { "This erases the contact, its events and its delivery records for good. It cannot be undone." }
            form method="post" action=(format!("/contacts/{}/delete", contact.uid)) {
                (csrf_input(&user.0.csrf_token))
                button.danger type="submit" { "Delete contact" }
                " "
                a href=(format!("/contacts/{}", contact.uid)) { "Cancel" }
            }
        }
    };
    Ok(render(&req, Some(&nav), "Delete contact", body))
}

/// `POST /contacts/{id}/delete`: erases the contact.
pub async fn delete(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let erased = user.write_on(&state, &id, store::erase).await?;
    let who = erased.email.unwrap_or_else(|| erased.uid.clone());
    Ok(redirect(
        "/contacts",
        Flash::success(format!("Contact {who} deleted.")),
    ))
}
