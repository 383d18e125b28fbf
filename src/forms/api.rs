//! JSON API for forms (`/api/forms`, `/api/forms/{id}`), so a script can build the same
//! forms as the UI. Errors take the API family's shape and name the field at fault in
//! `details.field`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use super::store::{self as forms, FormInput};
use super::{ConsentSpec, Definition, FieldSpec, Form, FormError};
use crate::auth::policy::Need;
use crate::contacts::fields;
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::json::{object_body, only_fields};
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/api/forms", Access::Api(Need::Read), index)
        .post("/api/forms", Access::Api(Need::Manage), create)
        .get("/api/forms/{id}", Access::Api(Need::Read), show)
        .put("/api/forms/{id}", Access::Api(Need::Manage), update)
        .delete("/api/forms/{id}", Access::Api(Need::Manage), delete);
}

impl From<FormError> for ApiError {
    fn from(e: FormError) -> Self {
        match e {
            FormError::Invalid { field, message } => {
                ApiError::bad_request(format!("{field} {message}"))
                    .with_details(json!({ "field": field }))
            }
            FormError::NotFound => ApiError::not_found("Form not found"),
            FormError::Conflict(m) => {
                ApiError::new(StatusCode::CONFLICT, m).with_details(json!({"field": "slug"}))
            }
            FormError::Store(e) => e.into(),
        }
    }
}

/// Every key a form body may carry.
const FORM_FIELDS: &[&str] = &[
    "name",
    "slug",
    "description",
    "fields",
    "listIds",
    "listChoice",
    "consent",
    "successMessage",
    "redirectUrl",
    "eventName",
    "allowedOrigins",
    "minFillSeconds",
    "requireToken",
    "submitLabel",
];

/// `null` and absent differ for the parts that can be cleared: `Some(None)` is `null`.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A create or update body: what is absent keeps its value (or default).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FormBody {
    name: Option<String>,
    slug: Option<String>,
    description: Option<String>,
    fields: Option<Vec<FieldSpec>>,
    list_ids: Option<Vec<String>>,
    list_choice: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    consent: Option<Option<ConsentSpec>>,
    success_message: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    redirect_url: Option<Option<String>>,
    event_name: Option<String>,
    allowed_origins: Option<Vec<String>>,
    min_fill_seconds: Option<u32>,
    require_token: Option<bool>,
    submit_label: Option<String>,
}

fn parse_body(body: Map<String, Value>) -> Result<FormBody, ApiError> {
    if let Some(unknown) = body.keys().find(|k| !FORM_FIELDS.contains(&k.as_str())) {
        let field = unknown.clone();
        return Err(only_fields(&body, FORM_FIELDS, "form")
            .unwrap_err()
            .with_details(json!({ "field": field })));
    }
    serde_path_to_error::deserialize::<_, FormBody>(Value::Object(body)).map_err(|e| {
        let field = e.path().to_string();
        ApiError::bad_request(format!("{field}: {}", e.inner()))
            .with_details(json!({ "field": field }))
    })
}

/// The body laid over `name`, `slug` and `def` (the stored form, or the defaults).
fn apply(body: FormBody, name: String, slug: Option<String>, mut def: Definition) -> FormInput {
    let set = |slot: &mut String, v: Option<String>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut def.description, body.description);
    set(&mut def.success_message, body.success_message);
    set(&mut def.event_name, body.event_name);
    set(&mut def.submit_label, body.submit_label);
    if let Some(fields) = body.fields {
        def.fields = fields;
    }
    if let Some(ids) = body.list_ids {
        def.list_ids = ids;
    }
    if let Some(consent) = body.consent {
        def.consent = consent;
    }
    if let Some(url) = body.redirect_url {
        def.redirect_url = url;
    }
    if let Some(origins) = body.allowed_origins {
        def.allowed_origins = origins;
    }
    def.list_choice = body.list_choice.unwrap_or(def.list_choice);
    def.min_fill_seconds = body.min_fill_seconds.unwrap_or(def.min_fill_seconds);
    def.require_token = body.require_token.unwrap_or(def.require_token);
    FormInput {
        name: body.name.unwrap_or(name),
        slug: body.slug.or(slug),
        def,
    }
}

/// Checks a body laid over its base against the workspace's declared fields.
fn checked(state: &AppState, caller: &ApiCaller, input: FormInput) -> Result<FormInput, ApiError> {
    let ws = caller.workspace_id;
    let declared = state.store.read(|conn| fields::list(conn, ws))?;
    let def = input.def.validate(&declared)?;
    Ok(FormInput { def, ..input }.validate()?)
}

fn shown(state: &AppState, form: &Form, stats: super::Stats) -> Value {
    let mut json = form.to_json(&state.config.base_url());
    json["stats"] = stats.to_json();
    json
}

async fn index(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let found = state
        .store
        .read_async(
            move |conn| -> Result<Vec<(Form, super::Stats)>, FormError> {
                forms::all(conn, ws)?
                    .into_iter()
                    .map(|f| {
                        let stats = forms::stats(conn, f.id)?;
                        Ok((f, stats))
                    })
                    .collect()
            },
        )
        .await?;
    let forms: Vec<Value> = found.iter().map(|(f, s)| shown(&state, f, *s)).collect();
    Ok(HttpResponse::Ok().json(json!({ "forms": forms })))
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = parse_body(object_body(&req, &body)?)?;
    if body.name.is_none() {
        return Err(
            ApiError::bad_request("name is required").with_details(json!({"field": "name"}))
        );
    }
    let input = checked(
        &state,
        &caller,
        apply(body, String::new(), None, Definition::default()),
    )?;
    let ws = caller.workspace_id;
    let form = state
        .store
        .write(move |conn| forms::create(conn, ws, &input))
        .await?;
    Ok(HttpResponse::Created().json(shown(&state, &form, super::Stats::default())))
}

/// The caller's form with this id, or 404 (also for another workspace's form).
fn find(state: &AppState, caller: &ApiCaller, uid: &str) -> Result<Form, ApiError> {
    let ws = caller.workspace_id;
    Ok(state
        .store
        .read(|conn| forms::get(conn, ws, uid))?
        .ok_or(FormError::NotFound)?)
}

async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let form = find(&state, &caller, &id)?;
    let stats = state.store.read(|conn| forms::stats(conn, form.id))?;
    Ok(HttpResponse::Ok().json(shown(&state, &form, stats)))
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = parse_body(object_body(&req, &body)?)?;
    let form = find(&state, &caller, &id)?;
    let input = checked(
        &state,
        &caller,
        apply(body, form.name, Some(form.slug), form.def),
    )?;
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let (form, stats) = state
        .store
        .write(move |conn| -> Result<_, FormError> {
            let form = forms::update(conn, ws, &uid, &input)?;
            let stats = forms::stats(conn, form.id)?;
            Ok((form, stats))
        })
        .await?;
    Ok(HttpResponse::Ok().json(shown(&state, &form, stats)))
}

async fn delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let form = state
        .store
        .write(move |conn| forms::delete(conn, ws, &uid))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": true, "id": form.uid})))
}
