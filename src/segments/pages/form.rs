//! The segment editor: name and filter (JSON) with a reference of what the workspace's
//! filters may name, "Preview" to see what a filter selects before saving, and the
//! create and save posts that come back 422 with what was typed when it is wrong.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{SHOWN, Selection, delete_card, selection, selection_card};
use crate::contacts::fields::FieldType;
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::segments::check::{BUILT_IN, Catalog, ops_for};
use crate::segments::store as segments;
use crate::segments::{Segment, SegmentError, summary};
use crate::ui::components::{csrf_input, redirect};
use crate::ui::layout::render_with_status;
use crate::ui::{Flash, PageError, render};

/// The editor's form as submitted.
#[derive(Deserialize, Default, Clone)]
pub struct SegmentForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    filter: String,
    /// `preview` shows what the filter selects without saving.
    #[serde(default)]
    intent: String,
}

impl SegmentForm {
    /// The form filled with a saved segment.
    pub fn of(segment: &Segment) -> Self {
        SegmentForm {
            name: segment.name.clone(),
            filter: pretty(&segment.filter.to_json()),
            ..SegmentForm::default()
        }
    }

    fn blank() -> Self {
        SegmentForm {
            filter: pretty(&json!({"all": [{"tag": "vip"}]})),
            ..SegmentForm::default()
        }
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A saved segment with what its page shows.
pub struct Loaded {
    /// The segment itself.
    pub segment: Segment,
    /// The workspace's fields and lists, for the reference beside the editor.
    pub catalog: Catalog,
    selection: Selection,
}

/// Loads the segment with this id in the workspace, with its selection.
pub async fn load(state: &AppState, ws: WorkspaceId, uid: String) -> Result<Loaded, PageError> {
    Ok(state
        .store
        .read_async(move |conn| -> Result<Loaded, SegmentError> {
            let segment = segments::get(conn, ws, &uid)?.ok_or(SegmentError::NotFound)?;
            let catalog = segments::catalog(conn, ws)?;
            let selection = selection(conn, ws, &segment, &catalog)?;
            Ok(Loaded {
                segment,
                catalog,
                selection,
            })
        })
        .await?)
}

/// Example conditions for each thing the workspace's filters may name.
fn reference(catalog: &Catalog) -> Markup {
    let example = |kind: FieldType| match kind {
        FieldType::Text => json!("pro"),
        FieldType::Number => json!(10),
        FieldType::Boolean => json!(true),
        FieldType::Date => json!("2025-01-31"),
    };
    let ops = |kind: FieldType| {
        ops_for(kind)
            .iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let fields: Vec<(String, FieldType)> = BUILT_IN
        .iter()
        .map(|(k, _, t)| (k.to_string(), *t))
        .chain(catalog.fields.iter().map(|f| (f.key.clone(), f.field_type)))
        .collect();
    html! {
        details.card {
            summary { "What a filter can say" }
            p { "Combine conditions with " code { "{\"all\": […]}" } ", " code { "{\"any\": […]}" } " and " code { "{\"not\": …}" } " (they nest)." }
            ul {
                li { code { "{\"tag\": \"vip\"}" } " — has the tag" }
                li { code { "{\"subscribed\": true}" } " — subscription status" }
                li { code { "{\"event\": \"purchase\", \"atLeast\": 2, \"withinDays\": 30}" } " — event history (also " code { "atMost" } ")" }
                li { code { "{\"event\": \"refund\", \"never\": true}" } " — never did it (add " code { "withinDays" } " for a window)" }
            }
            h3 { "Lists" }
            @if catalog.lists.is_empty() { p.muted { "No lists yet." } }
            ul { @for list in &catalog.lists {
                li { (list.name) ": " code { (json!({"list": list.uid, "status": "confirmed"}).to_string()) } }
            } }
            p.muted { "status: confirmed (the default), unconfirmed, unsubscribed or any." }
            h3 { "Fields" }
            div.table-wrap { table {
                thead { tr { th { "Field" } th { "Type" } th { "Operators" } th { "Example" } } }
                tbody { @for (key, kind) in &fields {
                    tr {
                        td { (key) }
                        td { (kind.as_str()) }
                        td { (ops(*kind)) }
                        td { code { (json!({"field": key, "op": "equals", "value": example(*kind)}).to_string()) } }
                    }
                } }
            } }
        }
    }
}

/// The editor: name, filter, Save and Preview.
fn editor(
    form: &SegmentForm,
    token: &str,
    action: &str,
    submit: &str,
    error: Option<&str>,
) -> Markup {
    html! {
        @if let Some(error) = error { p.error role="alert" { (error) } }
        form.stack method="post" action=(action) {
            (csrf_input(token))
            label { "Name" input type="text" name="name" required maxlength="200" value=(form.name); }
            label { "Filter (JSON)" textarea name="filter" rows="12" spellcheck="false" { (form.filter) } }
            div.row {
                button type="submit" name="intent" value="save" { (submit) } " "
                button type="submit" name="intent" value="preview" { "Preview" }
            }
        }
    }
}

/// The new-segment page body.
fn new_body(
    form: &SegmentForm,
    user: &SignedIn,
    catalog: &Catalog,
    error: Option<&str>,
    preview: Option<&Selection>,
) -> Markup {
    html! {
        p { a href="/segments" { "← Segments" } }
        @if let Some(preview) = preview { (selection_card("Preview", preview, None)) }
        section.card {
            (editor(form, &user.0.csrf_token, "/segments/new", "Create segment", error))
        }
        (reference(catalog))
    }
}

/// A saved segment's page body: what it selects, then (for managers) the editor.
pub fn segment_body(
    loaded: &Loaded,
    user: &SignedIn,
    form: &SegmentForm,
    error: Option<&str>,
    preview: Option<&Selection>,
) -> Markup {
    let segment = &loaded.segment;
    let link = format!("/contacts?segment={}", segment.uid);
    html! {
        p { a href="/segments" { "← Segments" } }
        @match preview {
            Some(preview) => (selection_card("Preview (not saved)", preview, None)),
            None => (selection_card("Contacts in this segment", &loaded.selection, Some(&link))),
        }
        @if user.0.role.can_manage() {
            section.card {
                h2 { "Edit" }
                (editor(form, &user.0.csrf_token, &format!("/segments/{}", segment.uid), "Save", error))
            }
            (reference(&loaded.catalog))
            (delete_card(segment, &user.0.csrf_token))
        }
    }
}

/// `GET /segments/new`: the editor with an example filter and the reference.
pub async fn new_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "segments")?;
    let ws = user.0.workspace.id;
    let catalog = state
        .store
        .read_async(move |conn| segments::catalog(conn, ws))
        .await?;
    let body = new_body(&SegmentForm::blank(), &user, &catalog, None, None);
    Ok(render(&req, Some(&nav), "New segment", body))
}

/// What a filter typed in the editor selects, or the message saying what is wrong.
async fn preview_of(
    state: &AppState,
    ws: WorkspaceId,
    text: String,
) -> Result<Result<Selection, String>, PageError> {
    let value = match serde_json::from_str::<Value>(&text) {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("filter: not valid JSON ({e})"))),
    };
    let found = state
        .store
        .read_async(move |conn| -> Result<Selection, SegmentError> {
            let (filter, cond) = segments::parse_filter(conn, ws, &value)?;
            let catalog = segments::catalog(conn, ws)?;
            Ok(Selection {
                summary: summary::describe(&filter, &catalog),
                count: Ok(segments::count(conn, ws, &cond)?),
                first: segments::members(conn, ws, &cond, 0, SHOWN)?,
            })
        })
        .await;
    match found {
        Ok(selection) => Ok(Ok(selection)),
        Err(SegmentError::Store(e)) => Err(e.into()),
        Err(other) => Ok(Err(other.to_string())),
    }
}

/// The filter typed in the editor, parsed for shape (checked against the workspace when
/// saved).
fn typed_filter(form: &SegmentForm) -> Result<crate::segments::Filter, SegmentError> {
    let value = serde_json::from_str::<Value>(&form.filter)
        .map_err(|e| SegmentError::invalid("filter", format!("not valid JSON ({e})")))?;
    Ok(crate::segments::filter::parse(&value, "filter")?)
}

fn again(
    req: &HttpRequest,
    nav: &crate::ui::Nav,
    title: &str,
    status: StatusCode,
    body: Markup,
) -> HttpResponse {
    render_with_status(req, status, Some(nav), title, body)
}

/// A mistake the person can fix, as the message shown above the form.
fn user_error(e: SegmentError) -> Result<String, PageError> {
    match e {
        SegmentError::Store(e) => Err(e.into()),
        SegmentError::NotFound => Err(PageError::NotFound),
        other => Ok(other.to_string()),
    }
}

/// `POST /segments/new`: previews the filter, or saves the segment and goes to its page;
/// a mistake comes back 422 with what was typed.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    form: web::Form<SegmentForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let ws = user.0.workspace.id;
    let nav = user.nav(&state, "segments")?;
    if form.intent == "preview" {
        let preview = preview_of(&state, ws, form.filter.clone()).await?;
        let catalog = state
            .store
            .read_async(move |conn| segments::catalog(conn, ws))
            .await?;
        let (status, body) = match &preview {
            Ok(selection) => (
                StatusCode::OK,
                new_body(&form, &user, &catalog, None, Some(selection)),
            ),
            Err(m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                new_body(&form, &user, &catalog, Some(m), None),
            ),
        };
        return Ok(again(&req, &nav, "New segment", status, body));
    }
    let name = form.name.clone();
    let created = match typed_filter(&form) {
        Ok(filter) => {
            state
                .store
                .write(move |conn| segments::create(conn, ws, &name, &filter))
                .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(segment) => Ok(redirect(
            &format!("/segments/{}", segment.uid),
            Flash::success(format!("Segment {} created.", segment.name)),
        )),
        Err(e) => {
            let message = user_error(e)?;
            let catalog = state
                .store
                .read_async(move |conn| segments::catalog(conn, ws))
                .await?;
            let body = new_body(&form, &user, &catalog, Some(&message), None);
            Ok(again(
                &req,
                &nav,
                "New segment",
                StatusCode::UNPROCESSABLE_ENTITY,
                body,
            ))
        }
    }
}

/// `POST /segments/{id}`: previews the changed filter, or saves it; a mistake comes back
/// 422 with what was typed.
pub async fn save(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<SegmentForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let ws = user.0.workspace.id;
    let uid = id.into_inner();
    let loaded = load(&state, ws, uid.clone()).await?;
    let nav = user.nav(&state, "segments")?;
    let title = loaded.segment.name.clone();
    if form.intent == "preview" {
        let (status, body) = match preview_of(&state, ws, form.filter.clone()).await? {
            Ok(selection) => (
                StatusCode::OK,
                segment_body(&loaded, &user, &form, None, Some(&selection)),
            ),
            Err(m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                segment_body(&loaded, &user, &form, Some(&m), None),
            ),
        };
        return Ok(again(&req, &nav, &title, status, body));
    }
    let name = form.name.clone();
    let saved = match typed_filter(&form) {
        Ok(filter) => {
            state
                .store
                .write(move |conn| segments::update(conn, ws, &uid, Some(&name), Some(&filter)))
                .await
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok(segment) => Ok(redirect(
            &format!("/segments/{}", segment.uid),
            Flash::success("Segment saved."),
        )),
        Err(e) => {
            let message = user_error(e)?;
            let body = segment_body(&loaded, &user, &form, Some(&message), None);
            Ok(again(
                &req,
                &nav,
                &title,
                StatusCode::UNPROCESSABLE_ENTITY,
                body,
            ))
        }
    }
}
