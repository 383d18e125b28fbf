//! JSON API for contacts and custom fields.

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::fields::{self, Field, FieldType};
use super::properties::patch_from_body;
use super::store;
use super::{ContactError, Identity};
use crate::events::ingest::{Origin, record_contact_change};
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::json::{object_body, only_fields};
use crate::http::state::AppState;

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/api/contacts", Access::Api(Need::Read), list)
        .post("/api/contacts", Access::Api(Need::Manage), create)
        .get(
            "/api/contacts/export",
            Access::Api(Need::Read),
            super::export::csv_api,
        )
        .post(
            "/api/contacts/import",
            Access::Api(Need::Manage),
            crate::imports::upload_api,
        )
        .get(
            "/api/contacts/imports/{id}",
            Access::Api(Need::Read),
            crate::imports::status_api,
        )
        .get("/api/contacts/{id}", Access::Api(Need::Read), get)
        .put("/api/contacts/{id}", Access::Api(Need::Manage), update)
        .delete("/api/contacts/{id}", Access::Api(Need::Manage), delete)
        .get("/api/contact-fields", Access::Api(Need::Read), list_fields)
        .post(
            "/api/contact-fields",
            Access::Api(Need::Manage),
            declare_field,
        )
        .delete(
            "/api/contact-fields/{key}",
            Access::Api(Need::Manage),
            remove_field,
        );
}

impl From<ContactError> for crate::http::ApiError {
    fn from(e: ContactError) -> Self {
        use crate::http::ApiError;
        match e {
            ContactError::Invalid(m) => ApiError::bad_request(m),
            ContactError::NotFound => ApiError::not_found("Contact not found"),
            ContactError::Missing(m) => ApiError::not_found(m),
            ContactError::Conflict(m) => ApiError::new(actix_web::http::StatusCode::CONFLICT, m),
            ContactError::Store(e) => e.into(),
        }
    }
}

const CONTACT_FIELDS: &[&str] = &[
    "email",
    "externalId",
    "phone",
    "firstName",
    "lastName",
    "name",
    "properties",
    "tags",
    "subscribed",
];

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    search: String,
    page: Option<u32>,
    limit: Option<u32>,
    /// A saved segment's id: only its contacts.
    segment: Option<String>,
    /// An ad-hoc segment filter, as JSON.
    filter: Option<String>,
    /// A built-in property or declared field to order by, and `asc` / `desc`.
    sort: Option<String>,
    order: Option<String>,
}

impl ListQuery {
    /// Whether the list is filtered or sorted (and so goes through the segment listing
    /// rather than the plain newest-first paths).
    fn shaped(&self) -> bool {
        [&self.segment, &self.filter, &self.sort, &self.order]
            .iter()
            .any(|v| v.as_deref().is_some_and(|s| !s.trim().is_empty()))
    }
}

/// A filtered or sorted page: the segment listing's query.
fn shaped_page(
    conn: &rusqlite::Connection,
    ws: crate::kinds::WorkspaceId,
    query: &ListQuery,
    page: u32,
    limit: u32,
) -> Result<(store::Page, String, bool), crate::segments::SegmentError> {
    use crate::segments::store::{self as segments, listing};
    let cond = listing::chosen(conn, ws, query.segment.as_deref(), query.filter.as_deref())?;
    let catalog = segments::catalog(conn, ws)?;
    let sort = listing::Sort::parse(
        query.sort.as_deref().unwrap_or(""),
        query.order.as_deref().unwrap_or(""),
        &catalog,
    )?;
    let shown = listing::Listing {
        cond: cond.as_ref(),
        search: &query.search,
        sort: &sort,
        page,
        limit,
    };
    Ok((
        listing::page(conn, ws, &shown)?,
        sort.key_name(),
        sort.descending,
    ))
}

async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = query.page.unwrap_or(1).max(1);
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 500"));
    }
    let ws = caller.workspace_id;
    if query.shaped() {
        let (found, sort, descending) = state
            .store
            .read_async(move |conn| shaped_page(conn, ws, &query, page, limit))
            .await?;
        return Ok(HttpResponse::Ok().json(json!({
            "contacts": found.contacts.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
            "total": found.total,
            "totalCapped": false,
            "page": page,
            "limit": limit,
            "sort": sort,
            "order": if descending { "desc" } else { "asc" },
        })));
    }
    let found = state
        .store
        .read_async(move |conn| store::list(conn, ws, &query.search, page, limit))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "contacts": found.contacts.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
        "total": found.total,
        "totalCapped": found.capped,
        "page": page,
        "limit": limit,
    })))
}

async fn get(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let contact = state
        .store
        .read(|conn| store::get(conn, caller.workspace_id, &id))?;
    Ok(HttpResponse::Ok().json(contact.to_json()))
}

fn declared(state: &AppState, caller: &ApiCaller) -> Result<Vec<Field>, ApiError> {
    Ok(state
        .store
        .read(|conn| fields::list(conn, caller.workspace_id))?)
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    only_fields(&body, CONTACT_FIELDS, "contact")?;
    let declared = declared(&state, &caller)?;
    let patch = patch_from_body(&body, &declared, state.config.limits.max_string_bytes)?;
    let identity = Identity {
        email: patch.email.clone(),
        external_id: patch.external_id.clone().flatten(),
        phone: patch.phone.clone().flatten(),
    };
    if identity.email.is_none() {
        return Err(ApiError::bad_request("email is required"));
    }
    let ws = caller.workspace_id;
    let contact = state
        .store
        .write(move |conn| -> Result<_, ContactError> {
            if store::find_by_email(conn, ws, identity.email.as_deref().unwrap_or(""))?.is_some() {
                return Err(ContactError::Conflict(
                    "A contact with that email already exists".into(),
                ));
            }
            let contact = store::insert(conn, ws, &identity, &patch)?;
            let origin = Origin {
                kind: "api",
                detail: None,
                trigger_id: None,
            };
            record_contact_change(conn, ws, &contact, true, &[], &origin)?;
            Ok(contact)
        })
        .await?;
    Ok(HttpResponse::Created().json(contact.to_json()))
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    only_fields(&body, CONTACT_FIELDS, "contact")?;
    let declared = declared(&state, &caller)?;
    let patch = patch_from_body(&body, &declared, state.config.limits.max_string_bytes)?;
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let contact = state
        .store
        .write(move |conn| -> Result<_, ContactError> {
            let existing = store::get(conn, ws, &uid)?;
            let (contact, changes) = store::apply(conn, existing, &patch)?;
            let origin = Origin {
                kind: "api",
                detail: None,
                trigger_id: None,
            };
            record_contact_change(conn, ws, &contact, false, &changes, &origin)?;
            Ok(contact)
        })
        .await?;
    Ok(HttpResponse::Ok().json(contact.to_json()))
}

async fn delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let erased = state
        .store
        .write(move |conn| store::erase(conn, ws, &uid))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": true, "id": erased.uid})))
}

async fn list_fields(
    state: web::Data<AppState>,
    caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    let fields = declared(&state, &caller)?;
    Ok(HttpResponse::Ok().json(json!({ "fields": fields })))
}

async fn declare_field(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    only_fields(&body, &["key", "label", "type"], "contact field")?;
    let key = body
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("key is required"))?
        .to_string();
    let label = body
        .get("label")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let field_type = FieldType::parse(
        body.get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("type is required"))?,
    )?;
    let ws = caller.workspace_id;
    let field = state
        .store
        .write(move |conn| fields::declare(conn, ws, &key, &label, field_type))
        .await?;
    Ok(HttpResponse::Created().json(field))
}

async fn remove_field(
    state: web::Data<AppState>,
    caller: ApiCaller,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let key = key.into_inner();
    state
        .store
        .write(move |conn| fields::remove(conn, ws, &key))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
