//! The template editor: name, subject, HTML and text, with a preview rendered for a sample
//! contact into a sandboxed iframe, shown before anything is saved.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, json};

use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::store::StoreError;
use crate::templates::store::{self, Template, TemplateInput};
use crate::templates::{OptOutUrls, sample_contact};
use crate::templates::{RenderedEmail, context, render_email};
use crate::ui::components::{csrf_input, danger_button, redirect};
use crate::ui::layout::render_with_status;
use crate::ui::{Flash, PageError, assets, render};

const STARTER_HTML: &str = "<p>Hi {{contact.firstName}},</p>\n\n<p></p>\n\n<p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>";

/// The editor's fields as posted.
#[derive(Deserialize)]
pub(super) struct TemplateForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    html: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    op: String,
    /// What the template is for; the email form has no field for it.
    #[serde(default = "email_kind")]
    kind: String,
}

fn email_kind() -> String {
    "email".into()
}

impl TemplateForm {
    fn input(&self) -> TemplateInput {
        TemplateInput {
            kind: self.kind.clone(),
            name: self.name.trim().to_string(),
            subject: self.subject.clone(),
            html: self.html.clone(),
            text: Some(self.text.clone()).filter(|t| !t.trim().is_empty()),
        }
    }
}

/// Renders the parts for the sample contact, as a test send would, on the blocking pool
/// so a heavy draft never holds an HTTP worker.
async fn preview(state: &AppState, input: &TemplateInput) -> Result<RenderedEmail, String> {
    let template = input.draft();
    let data = context(
        &sample_contact(),
        &Map::new(),
        &Map::new(),
        &OptOutUrls::preview(&state.config.base_url()),
    );
    web::block(move || render_email(&template, &data))
        .await
        .map_err(|_| "rendering was interrupted".to_string())?
}

/// What the editor knows about the stored template, if there is one.
#[derive(Default)]
struct Stored {
    uid: Option<String>,
    used_by: Vec<String>,
    sent: Option<String>,
    /// Set for a template Herald sends itself (`confirmation`).
    purpose: Option<String>,
}

fn preview_card(rendered: &Result<RenderedEmail, String>) -> Markup {
    let (subject, body, text, problem) = match rendered {
        Ok(r) => (r.subject.as_str(), r.html.as_str(), r.text.as_str(), None),
        Err(e) => ("", "", "", Some(e.as_str())),
    };
    html! {
        section.card #preview {
            h2 { "Preview" }
            p.muted { "Rendered for a sample contact (Ada Lovelace, ada@example.com). Scripts and links are disabled in the preview." }
            p.error role="alert" data-preview-error hidden[problem.is_none()] { (problem.unwrap_or_default()) }
            p { "Subject: " strong data-preview-subject { (subject) } }
            iframe.template-preview data-preview sandbox="" title="Email preview" srcdoc=(body) {}
            details {
                summary { "Text part" }
                pre.props data-preview-text { (text) }
            }
        }
    }
}

fn editor(
    token: &str,
    input: &TemplateInput,
    stored: &Stored,
    problem: Option<&str>,
    rendered: &Result<RenderedEmail, String>,
) -> Markup {
    let action = match &stored.uid {
        Some(uid) => format!("/templates/{uid}"),
        None => "/templates/new".to_string(),
    };
    html! {
        p { a href="/templates" { "← All templates" } }
        @if let Some(problem) = problem {
            p.error role="alert" { "Not saved: " (problem) }
        }
        @if stored.purpose.as_deref() == Some("confirmation") {
            p.notice { "This is the double opt-in confirmation email that signups to double opt-in lists receive. It sees " code { "confirm_url" } " (the signed link, valid 7 days) and " code { "lists" } " (the names of the lists waiting for confirmation)." }
        }
        @if let (Some(_), Some(message)) = (&stored.uid, &stored.sent) {
            p.card { "Test message queued. " a href=(format!("/outbox/{message}")) { "See it in the Outbox →" } }
        }
        form.card #template-form method="post" action=(action) data-live-preview="/templates/preview" {
            (csrf_input(token))
            input type="hidden" name="kind" value=(input.kind);
            label { "Name" input type="text" name="name" value=(input.name) required maxlength="200"; }
            @if input.kind == "email" {
                label { "Subject" input type="text" name="subject" value=(input.subject) required placeholder="Welcome, {{contact.firstName}}!"; }
                label { "HTML" textarea name="html" rows="14" spellcheck="false" { (input.html) } }
                label { "Text " span.muted { "(optional: derived from the HTML when empty)" } textarea name="text" rows="6" { (input.text.clone().unwrap_or_default()) } }
            } @else {
                label { "Text of the " (if input.kind == "sms" { "SMS" } else { "WhatsApp message" }) " " span.muted { "(at most " (if input.kind == "sms" { store::MAX_SMS_TEXT } else { store::MAX_WHATSAPP_TEXT }) " characters)" }
                    textarea name="text" rows="6" required { (input.text.clone().unwrap_or_default()) } }
            }
            p.muted { "Templates see " code { "contact.*" } ", " code { "event.*" } ", " code { "variables.*" } ", " code { "unsubscribe_url" } " and " code { "preferences_url" } "; a missing value renders empty. Marketing emails also get a footer with both links." }
            div.row {
                button type="submit" name="op" value="save" { "Save" }
                " "
                button type="submit" name="op" value="preview" { "Preview" }
            }
        }
        (preview_card(rendered))
        @if let Some(uid) = &stored.uid {
            section.card {
                h2 { "Send a test" }
                form.row method="post" action=(format!("/templates/{uid}/test")) {
                    (csrf_input(token))
                    label { "Email address" input type="email" name="to" required placeholder="you@example.com"; }
                    button type="submit" { "Send test" }
                }
                p.muted { "The saved version is sent, rendered for a sample contact at this address." }
            }
            section.card {
                h2 { "Delete" }
                @if stored.used_by.is_empty() {
                    p.muted { "No automation uses this template." }
                } @else {
                    p { "Used by: " (stored.used_by.join(", ")) ". It cannot be deleted while it is in use." }
                }
                (danger_button(&format!("/templates/{uid}/delete"), &format!("Delete the template {}?", input.name), token, "Delete template"))
            }
        }
        script src=(assets::url("builder.js")) defer {}
    }
}

/// Which kind of template `/templates/new` starts.
#[derive(Deserialize)]
pub(super) struct NewQuery {
    kind: Option<String>,
}

/// `GET /templates/new`, `?kind=sms` or `?kind=whatsapp` for the text of a message.
pub(super) async fn new_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    query: web::Query<NewQuery>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "templates")?;
    let kind = query
        .kind
        .as_deref()
        .filter(|k| matches!(*k, "sms" | "whatsapp"))
        .unwrap_or("email");
    let email = kind == "email";
    let input = TemplateInput {
        kind: kind.into(),
        name: String::new(),
        subject: String::new(),
        html: if email {
            STARTER_HTML.into()
        } else {
            String::new()
        },
        text: None,
    };
    let rendered = preview(&state, &input).await;
    Ok(render(
        &req,
        Some(&nav),
        "New template",
        editor(
            &user.0.csrf_token,
            &input,
            &Stored::default(),
            None,
            &rendered,
        ),
    ))
}

#[derive(Deserialize)]
pub(super) struct EditQuery {
    sent: Option<String>,
}

/// `GET /templates/{id}`
pub(super) async fn edit_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    query: web::Query<EditQuery>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "templates")?;
    let ws = user.0.workspace.id;
    let found = state.store.read(|conn| -> Result<_, StoreError> {
        let Some(t) = store::get(conn, ws, &id)? else {
            return Ok(None);
        };
        let users = store::used_by(conn, ws, &t.uid)?;
        let purpose = store::purpose_of(conn, ws, &t.uid)?;
        Ok(Some((t, users, purpose)))
    })?;
    let (t, used_by, purpose) = found.ok_or(PageError::NotFound)?;
    let input = TemplateInput {
        kind: t.kind.clone(),
        name: t.name.clone(),
        subject: t.subject.clone(),
        html: t.html.clone(),
        text: t.text.clone(),
    };
    let sent = query
        .into_inner()
        .sent
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let stored = Stored {
        uid: Some(t.uid.clone()),
        used_by,
        sent,
        purpose,
    };
    let rendered = preview(&state, &input).await;
    Ok(render(
        &req,
        Some(&nav),
        &t.name,
        editor(&user.0.csrf_token, &input, &stored, None, &rendered),
    ))
}

/// `POST /templates/new`
pub(super) async fn submit_new(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    form: web::Form<TemplateForm>,
) -> Result<HttpResponse, PageError> {
    submit(state, req, user, None, form.into_inner()).await
}

/// `POST /templates/{id}`
pub(super) async fn submit_edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<TemplateForm>,
) -> Result<HttpResponse, PageError> {
    submit(state, req, user, Some(id.into_inner()), form.into_inner()).await
}

/// Preview re-renders the form without saving; save validates first and stores nothing
/// when a part does not compile.
async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    uid: Option<String>,
    form: TemplateForm,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let nav = user.nav(&state, "templates")?;
    let ws = user.0.workspace.id;
    let input = form.input();
    let title = if uid.is_some() {
        "Edit template"
    } else {
        "New template"
    };
    let (used_by, purpose) = match &uid {
        Some(uid) => state.store.read(|conn| -> Result<_, StoreError> {
            Ok((
                store::used_by(conn, ws, uid)?,
                store::purpose_of(conn, ws, uid)?,
            ))
        })?,
        None => (Vec::new(), None),
    };
    let stored = Stored {
        uid: uid.clone(),
        used_by,
        sent: None,
        purpose,
    };
    let problem = if form.op == "preview" {
        None
    } else {
        store::validate(&input).err()
    };
    if form.op == "preview" || problem.is_some() {
        let rendered = preview(&state, &input).await;
        let status = if problem.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let body = editor(
            &user.0.csrf_token,
            &input,
            &stored,
            problem.as_deref(),
            &rendered,
        );
        return Ok(render_with_status(&req, status, Some(&nav), title, body));
    }
    let saved = state
        .store
        .write(move |conn| -> Result<Option<Template>, StoreError> {
            match uid {
                Some(uid) => store::update(conn, ws, &uid, &input),
                None => store::create(conn, ws, &input).map(Some),
            }
        })
        .await?
        .ok_or(PageError::NotFound)?;
    Ok(redirect(
        &format!("/templates/{}", saved.uid),
        Flash::success(format!("Template {} saved.", saved.name)),
    ))
}

/// `POST /templates/preview`: the preview as JSON, for the optional live update.
pub(super) async fn live_preview(
    state: web::Data<AppState>,
    user: SignedIn,
    form: web::Form<TemplateForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let body = match preview(&state, &form.input()).await {
        Ok(r) => json!({"subject": r.subject, "html": r.html, "text": r.text}),
        Err(e) => json!({"error": e}),
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body))
}
