//! JSON API for lists, their members, and signups with consent (`/api/contacts/subscribe`,
//! seed 000).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::confirm::{Joined, add_confirmed};
use super::consent::{ConsentInput, SignupContext};
use super::store::{self as lists, ListInput};
use super::subscribe::{Signup, subscribe as sign_up};
use super::{List, ListError, MemberStatus, OptIn, Source};
use crate::auth::policy::Need;
use crate::contacts::properties::patch_from_body;
use crate::contacts::{fields, normalize_email, store as contacts};
use crate::http::ApiError;
use crate::http::client_addr::{client_ip, user_agent};
use crate::http::extract::ApiCaller;
use crate::http::json::{object_body, only_fields, opt_string};
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;

/// Most members one call adds.
const MAX_ADD: usize = 1000;

/// Routes of this module. The subscribe route comes before the contacts API's patterns.
pub fn routes(r: &mut Routes<'_>) {
    r.post(
        "/api/contacts/subscribe",
        Access::Api(Need::Send),
        subscribe,
    )
    .get("/api/lists", Access::Api(Need::Read), index)
    .post("/api/lists", Access::Api(Need::Manage), create)
    .get("/api/lists/{id}", Access::Api(Need::Read), show)
    .put("/api/lists/{id}", Access::Api(Need::Manage), update)
    .delete("/api/lists/{id}", Access::Api(Need::Manage), delete)
    .get("/api/lists/{id}/members", Access::Api(Need::Read), members)
    .post(
        "/api/lists/{id}/members",
        Access::Api(Need::Manage),
        add_members,
    )
    .delete(
        "/api/lists/{id}/members/{contact}",
        Access::Api(Need::Manage),
        remove_member,
    );
}

impl From<ListError> for ApiError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Invalid { field, message } => {
                ApiError::bad_request(format!("{field} {message}"))
                    .with_details(json!({ "field": field }))
            }
            ListError::NotFound => ApiError::not_found("List not found"),
            ListError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            ListError::Contact(e) => e.into(),
            ListError::Store(e) => e.into(),
        }
    }
}

const LIST_FIELDS: &[&str] = &["name", "description", "optIn", "doubleOptIn", "public"];

/// Reads a list body over `base` (the stored list for updates, defaults for creation).
fn list_input(body: &Map<String, Value>, base: ListInput) -> Result<ListInput, ApiError> {
    only_fields(body, LIST_FIELDS, "list")?;
    let mut input = base;
    if let Some(name) = opt_string(body, "name", "")? {
        input.name = name;
    }
    if let Some(description) = opt_string(body, "description", "")? {
        input.description = description;
    }
    if let Some(opt_in) = opt_string(body, "optIn", "")? {
        input.opt_in = OptIn::parse(&opt_in).ok_or_else(|| {
            ApiError::bad_request("optIn must be 'single' or 'double'")
                .with_details(json!({"field": "optIn"}))
        })?;
    }
    match body.get("doubleOptIn") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(double)) => {
            input.opt_in = if *double {
                OptIn::Double
            } else {
                OptIn::Single
            }
        }
        Some(_) => return Err(ApiError::bad_request("doubleOptIn must be true or false")),
    }
    match body.get("public") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(public)) => input.public = *public,
        Some(_) => return Err(ApiError::bad_request("public must be true or false")),
    }
    Ok(input.validate()?)
}

fn with_counts(list: &List, counts: super::Counts) -> Value {
    let mut json = list.to_json();
    json["members"] = counts.to_json();
    json
}

async fn index(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let found = state
        .store
        .read_async(move |conn| -> Result<Vec<Value>, ListError> {
            lists::all(conn, ws)?
                .iter()
                .map(|l| Ok(with_counts(l, lists::counts(conn, l.id)?)))
                .collect()
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "lists": found })))
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    if !body.contains_key("name") {
        return Err(
            ApiError::bad_request("name is required").with_details(json!({"field": "name"}))
        );
    }
    let defaults = ListInput {
        name: String::new(),
        description: String::new(),
        opt_in: OptIn::Single,
        public: true,
    };
    let input = list_input(&body, defaults)?;
    let ws = caller.workspace_id;
    let list = state
        .store
        .write(move |conn| lists::create(conn, ws, &input))
        .await?;
    Ok(HttpResponse::Created().json(with_counts(&list, super::Counts::default())))
}

/// The caller's list with this id, or 404 (also for another workspace's list).
fn find(state: &AppState, caller: &ApiCaller, uid: &str) -> Result<List, ApiError> {
    let ws = caller.workspace_id;
    Ok(state
        .store
        .read(|conn| lists::get(conn, ws, uid))?
        .ok_or(ListError::NotFound)?)
}

async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let list = find(&state, &caller, &id)?;
    let counts = state.store.read(|conn| lists::counts(conn, list.id))?;
    Ok(HttpResponse::Ok().json(with_counts(&list, counts)))
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    let list = find(&state, &caller, &id)?;
    let base = ListInput {
        name: list.name,
        description: list.description,
        opt_in: list.opt_in,
        public: list.public,
    };
    let input = list_input(&body, base)?;
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let (list, counts) = state
        .store
        .write(move |conn| -> Result<_, ListError> {
            let list = lists::update(conn, ws, &uid, &input)?;
            let counts = lists::counts(conn, list.id)?;
            Ok((list, counts))
        })
        .await?;
    Ok(HttpResponse::Ok().json(with_counts(&list, counts)))
}

async fn delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let had = {
        let uid = uid.clone();
        state
            .store
            .write(move |conn| lists::delete(conn, ws, &uid))
            .await?
    };
    Ok(HttpResponse::Ok().json(json!({"deleted": true, "id": uid, "members": had.to_json()})))
}

#[derive(Deserialize)]
struct MembersQuery {
    status: Option<String>,
    cursor: Option<i64>,
    limit: Option<u32>,
}

async fn members(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    query: web::Query<MembersQuery>,
) -> Result<HttpResponse, ApiError> {
    let list = find(&state, &caller, &id)?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(MemberStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request("status must be unconfirmed, confirmed or unsubscribed")
        })?),
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let after = query.cursor.unwrap_or(0);
    let page = state
        .store
        .read_async(move |conn| lists::members(conn, list.id, status, after, limit))
        .await?;
    let next = (page.len() == limit as usize).then(|| page.last().map(|m| m.contact_id));
    let members: Vec<Value> = page
        .iter()
        .map(|m| {
            json!({
                "contactId": m.contact_uid,
                "email": m.email,
                "status": m.status.as_str(),
                "source": m.source,
                "changedAt": crate::kinds::time::iso_time(m.changed_at),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"members": members, "nextCursor": next.flatten()})))
}

/// The contact ids of an add-members body: `contactIds` or one `contactId`.
fn contact_ids(body: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    only_fields(body, &["contactId", "contactIds"], "members")?;
    let ids: Vec<String> = match (body.get("contactId"), body.get("contactIds")) {
        (Some(Value::String(one)), None) => vec![one.clone()],
        (None, Some(Value::Array(many))) => many
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad_request("contactIds must be an array of strings"))?,
        _ => {
            return Err(ApiError::bad_request(
                "send contactId (a string) or contactIds (an array)",
            ));
        }
    };
    if ids.is_empty() || ids.len() > MAX_ADD {
        return Err(ApiError::bad_request(format!(
            "contactIds must hold 1 to {MAX_ADD} ids"
        )));
    }
    Ok(ids)
}

async fn add_members(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    let ids = contact_ids(&body)?;
    let list = find(&state, &caller, &id)?;
    let ws = caller.workspace_id;
    let added = state
        .store
        .write(move |conn| -> Result<[usize; 3], ListError> {
            let mut tally = [0; 3];
            for (i, uid) in ids.iter().enumerate() {
                let contact = contacts::get(conn, ws, uid).map_err(|_| {
                    ListError::invalid(format!("contactIds[{i}]"), "is not a contact here")
                })?;
                let slot = match add_confirmed(conn, ws, &contact, &list, Source::Api)? {
                    Joined::Now => 0,
                    Joined::Already => 1,
                    Joined::OptedOut => 2,
                };
                tally[slot] += 1;
            }
            Ok(tally)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "added": added[0],
        "alreadyMembers": added[1],
        "unsubscribed": added[2],
    })))
}

async fn remove_member(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (list_uid, contact_uid) = path.into_inner();
    let list = find(&state, &caller, &list_uid)?;
    let ws = caller.workspace_id;
    let removed = state
        .store
        .write(move |conn| -> Result<lists::Removed, ListError> {
            let contact = contacts::get(conn, ws, &contact_uid)?;
            lists::remove(conn, ws, &list, contact.id, Source::Api)
        })
        .await?;
    match removed {
        lists::Removed::Yes => Ok(HttpResponse::Ok().json(json!({ "removed": true }))),
        lists::Removed::NotMember => Err(ApiError::not_found(
            "The contact is not a member of this list",
        )),
        lists::Removed::KeptUnsubscribed => Err(ApiError::new(
            StatusCode::CONFLICT,
            "The contact unsubscribed from this list; its choice is kept",
        )),
    }
}

const SUBSCRIBE_FIELDS: &[&str] = &[
    "email",
    "firstName",
    "lastName",
    "properties",
    "listIds",
    "consent",
];

/// The consent object of a signup.
fn consent_of(body: &Map<String, Value>) -> Result<ConsentInput, ApiError> {
    let Some(Value::Object(consent)) = body.get("consent") else {
        return Err(
            ApiError::bad_request("consent is required: {text, version?}")
                .with_details(json!({"field": "consent"})),
        );
    };
    only_fields(consent, &["text", "version"], "consent")?;
    let text = opt_string(consent, "text", "consent.")?.unwrap_or_default();
    let version = match consent.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(ApiError::bad_request("consent.version must be a string")),
    };
    Ok(ConsentInput { text, version }.validate("consent")?)
}

/// The `listIds` of a signup, as given (checked against the workspace in the write).
fn list_ids(body: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    match body.get("listIds") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 100 => items
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad_request("listIds must be an array of strings")),
        Some(_) => Err(ApiError::bad_request(
            "listIds must be an array of at most 100 strings",
        )),
    }
}

async fn subscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    only_fields(&body, SUBSCRIBE_FIELDS, "subscription")?;
    let email = match body.get("email") {
        Some(Value::String(e)) => normalize_email(e)?,
        _ => {
            return Err(
                ApiError::bad_request("email is required").with_details(json!({"field": "email"}))
            );
        }
    };
    let ws = caller.workspace_id;
    let declared = state.store.read(|conn| fields::list(conn, ws))?;
    let mut names = body.clone();
    names.retain(|k, _| ["firstName", "lastName", "properties"].contains(&k.as_str()));
    let patch = patch_from_body(&names, &declared, state.config.limits.max_string_bytes)?;
    let consent = consent_of(&body)?;
    let uids = list_ids(&body)?;
    let context = SignupContext {
        source: Source::Api,
        form_id: None,
        ip: client_ip(&req, &state.trusted_proxies).map(|ip| ip.to_string()),
        user_agent: user_agent(&req),
    };
    let done = state
        .store
        .write(move |conn| {
            let lists = lists::resolve(conn, ws, &uids, "listIds")?;
            let signup = Signup {
                email,
                patch,
                lists,
                consent: Some(consent),
                context,
            };
            sign_up(conn, ws, &signup)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "contactId": done.contact.uid,
        "requiresConfirmation": done.requires_confirmation,
    })))
}
