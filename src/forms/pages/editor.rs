//! The form editor, `/forms/new` and `/forms/{id}/edit`: one plain HTML form, no
//! JavaScript needed. Every field a form can show (email, first and last name, each
//! declared custom field) is a row with show / required / label / order; lists are
//! checkboxes. A mistake shows the page again (422) with everything as typed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::super::definition::default_label;
use super::super::store::{self as forms, FormInput};
use super::super::{ConsentSpec, Definition, FieldSpec, Form, FormError};
use crate::contacts::fields::{self, Field};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::lists::{List, store as lists};
use crate::ui::components::{csrf_input, redirect};
use crate::ui::layout::render_with_status;
use crate::ui::{Flash, PageError, render};

/// One row of the fields table, as typed.
#[derive(Debug, Clone, Default)]
pub struct DraftField {
    pub key: String,
    pub label: String,
    pub include: bool,
    pub required: bool,
    pub order: String,
}

/// The editor's fields as typed, kept whole so a mistake shows them again.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub name: String,
    pub slug: String,
    pub description: String,
    pub submit_label: String,
    pub fields: Vec<DraftField>,
    pub lists: Vec<String>,
    pub list_choice: bool,
    pub consent_on: bool,
    pub consent_text: String,
    pub consent_required: bool,
    pub consent_version: String,
    pub success_message: String,
    pub redirect_url: String,
    pub event_name: String,
    pub allowed_origins: String,
    pub min_fill_seconds: String,
    pub require_token: bool,
}

/// Every key a form could show: the built-in ones, then the declared fields.
fn candidates(declared: &[Field]) -> Vec<String> {
    ["email", "firstName", "lastName"]
        .into_iter()
        .map(String::from)
        .chain(declared.iter().map(|f| f.key.clone()))
        .collect()
}

impl Draft {
    /// The editor filled from a form (or a new form's defaults).
    pub fn of(name: &str, slug: &str, def: &Definition, declared: &[Field]) -> Draft {
        let mut rows: Vec<DraftField> = def
            .fields
            .iter()
            .map(|f| DraftField {
                key: f.key.clone(),
                label: f.label.clone(),
                include: true,
                required: f.required,
                order: String::new(),
            })
            .collect();
        for key in candidates(declared) {
            if !rows.iter().any(|r| r.key == key) {
                rows.push(DraftField {
                    label: default_label(&key, declared),
                    key,
                    ..DraftField::default()
                });
            }
        }
        for (i, row) in rows.iter_mut().enumerate() {
            row.order = (i + 1).to_string();
        }
        let consent = def.consent.clone();
        Draft {
            name: name.into(),
            slug: slug.into(),
            description: def.description.clone(),
            submit_label: def.submit_label.clone(),
            fields: rows,
            lists: def.list_ids.clone(),
            list_choice: def.list_choice,
            consent_on: consent.is_some(),
            consent_text: consent.as_ref().map(|c| c.text.clone()).unwrap_or_default(),
            consent_required: consent.as_ref().is_none_or(|c| c.required),
            consent_version: consent.and_then(|c| c.version).unwrap_or_default(),
            success_message: def.success_message.clone(),
            redirect_url: def.redirect_url.clone().unwrap_or_default(),
            event_name: def.event_name.clone(),
            allowed_origins: def.allowed_origins.join("\n"),
            min_fill_seconds: def.min_fill_seconds.to_string(),
            require_token: def.require_token,
        }
    }

    /// The editor as posted.
    pub fn from_pairs(pairs: &[(String, String)], declared: &[Field]) -> Draft {
        let get = |k: &str| {
            pairs
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let on = |k: &str| pairs.iter().any(|(key, v)| key == k && !v.is_empty());
        let fields = candidates(declared)
            .into_iter()
            .map(|key| DraftField {
                label: get(&format!("label_{key}")),
                include: key == "email" || on(&format!("include_{key}")),
                required: key == "email" || on(&format!("required_{key}")),
                order: get(&format!("order_{key}")),
                key,
            })
            .collect();
        Draft {
            name: get("name"),
            slug: get("slug"),
            description: get("description"),
            submit_label: get("submit_label"),
            fields,
            lists: pairs
                .iter()
                .filter(|(k, _)| k == "list")
                .map(|(_, v)| v.clone())
                .collect(),
            list_choice: on("list_choice"),
            consent_on: on("consent_on"),
            consent_text: get("consent_text"),
            consent_required: on("consent_required"),
            consent_version: get("consent_version"),
            success_message: get("success_message"),
            redirect_url: get("redirect_url"),
            event_name: get("event_name"),
            allowed_origins: get("allowed_origins"),
            min_fill_seconds: get("min_fill_seconds"),
            require_token: on("require_token"),
        }
    }

    /// The draft as a checked form input, or the first mistake.
    pub fn input(&self, declared: &[Field]) -> Result<FormInput, FormError> {
        // A row without an order keeps its place in the table.
        let mut rows: Vec<(i64, &DraftField)> = self
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.include)
            .map(|(i, f)| (f.order.trim().parse().unwrap_or(i as i64 + 1), f))
            .collect();
        rows.sort_by_key(|(order, _)| *order);
        let min_fill = self.min_fill_seconds.trim();
        let min_fill_seconds = if min_fill.is_empty() {
            0
        } else {
            min_fill.parse().map_err(|_| {
                FormError::invalid("minFillSeconds", "must be a whole number of seconds")
            })?
        };
        let def = Definition {
            description: self.description.trim().to_string(),
            fields: rows
                .into_iter()
                .map(|(_, f)| FieldSpec {
                    key: f.key.clone(),
                    label: f.label.clone(),
                    required: f.required,
                })
                .collect(),
            list_ids: self.lists.clone(),
            list_choice: self.list_choice,
            consent: self.consent_on.then(|| ConsentSpec {
                text: self.consent_text.clone(),
                required: self.consent_required,
                version: Some(self.consent_version.clone()),
            }),
            success_message: self.success_message.clone(),
            redirect_url: Some(self.redirect_url.clone()),
            event_name: self.event_name.clone(),
            allowed_origins: self
                .allowed_origins
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect(),
            min_fill_seconds,
            require_token: self.require_token,
            submit_label: self.submit_label.clone(),
        };
        FormInput {
            name: self.name.clone(),
            slug: Some(self.slug.clone()),
            def: def.validate(declared)?,
        }
        .validate()
    }
}

/// What the editor needs from the workspace: its declared fields and its lists.
pub struct Catalog {
    pub declared: Vec<Field>,
    pub lists: Vec<List>,
}

/// Reads the editor's catalog.
pub fn catalog(state: &AppState, ws: WorkspaceId) -> Result<Catalog, PageError> {
    Ok(state.store.read(|conn| -> Result<Catalog, FormError> {
        Ok(Catalog {
            declared: fields::list(conn, ws)?,
            lists: lists::all(conn, ws)?,
        })
    })?)
}

fn fields_table(draft: &Draft) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr { th { "Show" } th { "Field" } th { "Label" } th { "Required" } th { "Order" } } }
            tbody { @for f in &draft.fields {
                tr {
                    td { @if f.key == "email" { input type="checkbox" checked disabled aria-label="Email is always shown"; } @else {
                        input type="checkbox" name=(format!("include_{}", f.key)) checked[f.include] aria-label=(format!("Show {}", f.key));
                    } }
                    td { code { (f.key) } }
                    td { input type="text" name=(format!("label_{}", f.key)) value=(f.label) maxlength="200" aria-label=(format!("Label of {}", f.key)); }
                    td { @if f.key == "email" { "always" } @else {
                        input type="checkbox" name=(format!("required_{}", f.key)) checked[f.required] aria-label=(format!("{} is required", f.key));
                    } }
                    td { input type="number" name=(format!("order_{}", f.key)) value=(f.order) min="1" max="99" aria-label=(format!("Order of {}", f.key)); }
                }
            } }
        } }
        p.muted { "Custom fields are the contact fields declared under Contacts → Fields." }
    }
}

fn lists_section(draft: &Draft, all: &[List]) -> Markup {
    html! {
        fieldset {
            legend { "Lists a submission joins" }
            @if all.is_empty() { p.muted { "No lists yet: create one under Lists to sign people up to it." } }
            @for list in all {
                label.check {
                    input type="checkbox" name="list" value=(list.uid) checked[draft.lists.contains(&list.uid)];
                    " " (list.name) " " span.muted { "(" (list.opt_in.as_str()) " opt-in" @if !list.public { ", private" } ")" }
                }
            }
            label.check { input type="checkbox" name="list_choice" checked[draft.list_choice]; " Let the person pick among the public lists (private ones are always joined)" }
        }
    }
}

fn after_section(draft: &Draft) -> Markup {
    html! {
        fieldset {
            legend { "Consent" }
            label.check { input type="checkbox" name="consent_on" checked[draft.consent_on]; " Show a consent checkbox" }
            label { "Consent text (kept with each consent record)" textarea name="consent_text" rows="2" maxlength="10000" { (draft.consent_text) } }
            label.check { input type="checkbox" name="consent_required" checked[draft.consent_required]; " Required: refuse a submission with the box unticked" }
            label { "Consent version (optional)" input type="text" name="consent_version" value=(draft.consent_version) maxlength="200"; }
        }
        fieldset {
            legend { "After a submission" }
            label { "Success message" textarea name="success_message" rows="2" maxlength="2000" { (draft.success_message) } }
            label { "Or redirect to (https://…; replaces the message)" input type="url" name="redirect_url" value=(draft.redirect_url); }
            label { "Event recorded " span.muted { "(automations can start on it)" } input type="text" name="event_name" value=(draft.event_name) required; }
        }
        fieldset {
            legend { "Embedding and spam" }
            label { "Origins allowed to embed the form " span.muted { "(one per line; * for any; the hosted page always works)" }
                textarea name="allowed_origins" rows="2" { (draft.allowed_origins) } }
            label { "Minimum fill time, seconds " span.muted { "(0: off)" } input type="number" name="min_fill_seconds" min="0" max="3600" value=(draft.min_fill_seconds); }
            label.check { input type="checkbox" name="require_token" checked[draft.require_token]; " Refuse submissions without a timing token (the plain snippet with JavaScript off has none)" }
        }
    }
}

/// The whole editor.
pub fn editor(
    draft: &Draft,
    catalog: &Catalog,
    token: &str,
    action: &str,
    error: Option<&str>,
) -> Markup {
    html! {
        section.card {
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form.stack method="post" action=(action) {
                (csrf_input(token))
                label { "Name" input type="text" name="name" value=(draft.name) required maxlength="200"; }
                label { "Address " span.muted { "(/f/…; leave empty to make one from the name)" } input type="text" name="slug" value=(draft.slug) maxlength="64" pattern="[a-z0-9-]*"; }
                label { "Introduction (shown above the fields)" textarea name="description" rows="2" maxlength="2000" { (draft.description) } }
                h2 { "Fields" }
                (fields_table(draft))
                (lists_section(draft, &catalog.lists))
                (after_section(draft))
                label { "Button text" input type="text" name="submit_label" value=(draft.submit_label) maxlength="100"; }
                button type="submit" { "Save form" }
            }
        }
    }
}

fn again(
    state: &AppState,
    req: &HttpRequest,
    user: &SignedIn,
    draft: &Draft,
    catalog: &Catalog,
    action: &str,
    error: &str,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(state, "forms")?;
    let body = editor(draft, catalog, &user.0.csrf_token, action, Some(error));
    Ok(render_with_status(
        req,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(&nav),
        "Edit form",
        body,
    ))
}

fn user_error(e: FormError) -> Result<String, PageError> {
    match e {
        FormError::Store(e) => Err(e.into()),
        FormError::NotFound => Err(PageError::NotFound),
        other => Ok(other.to_string()),
    }
}

pub(super) async fn new_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "forms")?;
    let catalog = catalog(&state, user.0.workspace.id)?;
    let draft = Draft::of("", "", &Definition::default(), &catalog.declared);
    let body = editor(&draft, &catalog, &user.0.csrf_token, "/forms", None);
    Ok(render(&req, Some(&nav), "New form", body))
}

pub(super) async fn edit_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let form = super::find(&state, &user, &id)?;
    let nav = user.nav(&state, "forms")?;
    let catalog = catalog(&state, user.0.workspace.id)?;
    let draft = Draft::of(&form.name, &form.slug, &form.def, &catalog.declared);
    let action = format!("/forms/{}", form.uid);
    let body = editor(&draft, &catalog, &user.0.csrf_token, &action, None);
    Ok(render(
        &req,
        Some(&nav),
        &format!("Edit {}", form.name),
        body,
    ))
}

/// Saves a draft: a new form (`uid` none) or changes to one.
async fn save(
    state: &AppState,
    ws: WorkspaceId,
    uid: Option<String>,
    input: FormInput,
) -> Result<Form, FormError> {
    state
        .store
        .write(move |conn| match &uid {
            Some(uid) => forms::update(conn, ws, uid, &input),
            None => forms::create(conn, ws, &input),
        })
        .await
}

async fn submitted(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    uid: Option<String>,
    pairs: Vec<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let token = pairs
        .iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.as_str());
    user.check_csrf(token.unwrap_or(""))?;
    let ws = user.0.workspace.id;
    if let Some(uid) = &uid {
        super::find(&state, &user, uid)?;
    }
    let catalog = catalog(&state, ws)?;
    let draft = Draft::from_pairs(&pairs, &catalog.declared);
    let action = uid
        .as_ref()
        .map_or("/forms".to_string(), |u| format!("/forms/{u}"));
    let saved = match draft.input(&catalog.declared) {
        Ok(input) => save(&state, ws, uid, input).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(form) => Ok(redirect(
            &format!("/forms/{}", form.uid),
            Flash::success(format!("Form {} saved.", form.name)),
        )),
        Err(e) => {
            let message = user_error(e)?;
            again(&state, &req, &user, &draft, &catalog, &action, &message)
        }
    }
}

pub(super) async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    submitted(state, req, user, None, form.into_inner()).await
}

pub(super) async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    submitted(state, req, user, Some(id.into_inner()), form.into_inner()).await
}
