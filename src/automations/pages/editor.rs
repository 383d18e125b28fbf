//! The automation builder: `/automations/new` and `/automations/{id}/edit`. Every button
//! posts the whole draft back; the handler rebuilds it, applies the button's operation and
//! shows the editor again. Only "Save" stores, through the same validation as the API.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::Value;

use super::form::{self, Action, Draft, Fields};
use super::ops;
use super::sections::{Catalog, catalog, filters_section, trigger_section};
use super::steps::{StepCtx, block};
use crate::automations::definition::TriggerType;
use crate::automations::{api, engine, store};
use crate::events::patterns;
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::store::StoreError;
use crate::ui::components::{csrf_input, redirect};
use crate::ui::layout::render_with_status;
use crate::ui::{Flash, PageError};

/// Everything one rendering of the editor shows.
struct View<'a> {
    uid: Option<&'a str>,
    draft: &'a Draft,
    catalog: &'a Catalog,
    problem: Option<&'a str>,
    notice: Option<&'a str>,
    /// The advanced JSON as the user typed it, when it could not be applied.
    json: Option<&'a str>,
}

fn editor(token: &str, v: &View) -> Markup {
    let def = &v.draft.def;
    let action = match v.uid {
        Some(uid) => format!("/automations/{uid}/edit"),
        None => "/automations/new".to_string(),
    };
    let back = v.uid.map_or("/automations".to_string(), |uid| {
        format!("/automations/{uid}")
    });
    let error = v.problem.and_then(|p| {
        let path = p[p.find("steps[")?..].split(": ").next()?;
        ops::error_position(path).map(|pos| (pos, p.to_string()))
    });
    let ctx = StepCtx {
        templates: &v.catalog.templates,
        lists: &v.catalog.lists,
        error,
    };
    let draft_json = serde_json::to_string(def).unwrap_or_default();
    let pretty = v
        .json
        .map(str::to_string)
        .unwrap_or_else(|| serde_json::to_string_pretty(def).unwrap_or_default());
    let set_fields = ["firstName", "lastName", "name"]
        .into_iter()
        .map(str::to_string)
        .chain(v.catalog.custom_fields.iter().cloned());
    html! {
        p { a href=(back) { "← Back" } }
        @if let Some(problem) = v.problem { p.flash.error role="alert" { (problem) } }
        @if let Some(notice) = v.notice { p.flash.success role="status" { (notice) } }
        form #automation-editor method="post" action=(action) {
            (csrf_input(token))
            input type="hidden" name="draft" value=(draft_json);
            button.sr-only type="submit" name="op" value="refresh" tabindex="-1" aria-hidden="true" { "Apply" }
            section.card {
                h2 { "Basics" }
                div.filters {
                    label { "Name" input type="text" name="name" value=(def.name) maxlength="200" placeholder="Onboarding"; }
                    label { "Status"
                        select name="status" {
                            @for s in ["draft", "active", "paused"] { option value=(s) selected[def.status.as_str() == s] { (s) } }
                        }
                    }
                }
            }
            (trigger_section(def, v.catalog, v.draft.create_pattern))
            (filters_section(def, v.catalog))
            section.card {
                h2 { "Steps" }
                datalist #contact-set-fields { @for f in set_fields { option value=(f) {} } }
                (block(&def.steps, "", &ctx))
            }
            div.filters {
                button type="submit" name="op" value="save" { "Save" }
                button type="submit" name="op" value="check" { "Check" }
                a href=(back) { "Cancel" }
                span.muted { "Nothing is stored until you save." }
            }
            details.card.spaced {
                summary { "Advanced: edit as JSON" }
                textarea name="json" rows="18" spellcheck="false" { (pretty) }
                p { button type="submit" name="op" value="json" { "Apply JSON" } }
            }
        }
    }
}

fn show(
    req: &HttpRequest,
    state: &AppState,
    user: &SignedIn,
    status: StatusCode,
    title: &str,
    v: &View,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(state, "automations")?;
    Ok(render_with_status(
        req,
        status,
        Some(&nav),
        title,
        editor(&user.0.csrf_token, v),
    ))
}

/// `GET /automations/new`
pub(super) async fn new_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let catalog = catalog(&state, user.0.workspace.id)?;
    let draft = Draft {
        def: form::empty_definition(),
        create_pattern: true,
    };
    let view = View {
        uid: None,
        draft: &draft,
        catalog: &catalog,
        problem: None,
        notice: None,
        json: None,
    };
    show(&req, &state, &user, StatusCode::OK, "New automation", &view)
}

/// `GET /automations/{id}/edit`
pub(super) async fn edit_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let ws = user.0.workspace.id;
    let a = state
        .store
        .read(|conn| store::get(conn, ws, &id))?
        .ok_or(PageError::NotFound)?;
    let catalog = catalog(&state, ws)?;
    let draft = Draft {
        def: (*a.def).clone(),
        create_pattern: false,
    };
    let view = View {
        uid: Some(&a.uid),
        draft: &draft,
        catalog: &catalog,
        problem: None,
        notice: None,
        json: None,
    };
    show(
        &req,
        &state,
        &user,
        StatusCode::OK,
        &format!("Edit {}", a.def.name),
        &view,
    )
}

/// `POST /automations/new`
pub(super) async fn submit_new(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    submit(state, req, user, None, Fields::new(form.into_inner())).await
}

/// `POST /automations/{id}/edit`
pub(super) async fn submit_edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    submit(
        state,
        req,
        user,
        Some(id.into_inner()),
        Fields::new(form.into_inner()),
    )
    .await
}

async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    uid: Option<String>,
    fields: Fields,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(fields.get("csrf_token").unwrap_or(""))?;
    let ws = user.0.workspace.id;
    if let Some(uid) = &uid
        && state
            .store
            .read(|conn| store::get(conn, ws, uid))?
            .is_none()
    {
        return Err(PageError::NotFound);
    }
    let action = Action::parse(&fields);
    let (mut draft, mut problem) = form::rebuild(&fields, &action);
    ops::apply(&mut draft.def, &action);
    let mut notice = None;
    let mut status = StatusCode::OK;
    match action {
        Action::Save => match save(&state, ws, uid.clone(), &draft).await? {
            Ok(saved) => {
                return Ok(redirect(
                    &format!("/automations/{saved}"),
                    Flash::success(format!("Automation {} saved.", draft.def.name.trim())),
                ));
            }
            Err(message) => {
                problem = Some(format!("Not saved: {message}"));
                status = StatusCode::UNPROCESSABLE_ENTITY;
            }
        },
        Action::Check => {
            let value = serde_json::to_value(ops::for_saving(&draft.def)).unwrap_or(Value::Null);
            match state
                .store
                .read(|conn| Ok::<_, StoreError>(api::parse_definition(conn, ws, value).err()))?
            {
                None => notice = Some("The automation is valid. It is not saved yet."),
                Some(e) => problem = Some(e.message),
            }
        }
        _ => {}
    }
    let catalog = catalog(&state, ws)?;
    let json = (action == Action::ApplyJson && problem.is_some())
        .then(|| fields.get("json").unwrap_or(""));
    let view = View {
        uid: uid.as_deref(),
        draft: &draft,
        catalog: &catalog,
        problem: problem.as_deref(),
        notice,
        json,
    };
    let title = if uid.is_some() {
        "Edit automation"
    } else {
        "New automation"
    };
    show(&req, &state, &user, status, title, &view)
}

/// Validates like the API, declares the trigger's pattern if asked, and stores; a
/// definition that does not validate stores nothing and comes back as the message.
async fn save(
    state: &AppState,
    ws: WorkspaceId,
    uid: Option<String>,
    draft: &Draft,
) -> Result<Result<String, String>, PageError> {
    let value = serde_json::to_value(ops::for_saving(&draft.def)).unwrap_or(Value::Null);
    let declare = draft.create_pattern;
    state
        .store
        .write(move |conn| -> Result<Result<String, String>, PageError> {
            let def = match api::parse_definition(conn, ws, value) {
                Ok(def) => def,
                Err(e) => return Ok(Err(e.message)),
            };
            if declare
                && def.trigger.kind == TriggerType::Event
                && let Some(name) = &def.trigger.event
                && patterns::check_name(name).is_ok()
            {
                patterns::declare(conn, ws, name)?;
            }
            let a = match uid {
                Some(uid) => store::update(conn, ws, &uid, &def)?.ok_or(PageError::NotFound)?,
                None => store::create(conn, ws, &def)?,
            };
            engine::requeue_if_active(conn, &a)?;
            Ok(Ok(a.uid.clone()))
        })
        .await
}
