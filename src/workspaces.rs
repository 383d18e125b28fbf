//! The current workspace: dashboard, switcher and `GET /api/workspace`.

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use crate::auth::accounts::{self, Workspace};
use crate::auth::{api_keys, sessions};
use crate::http::ApiError;
use crate::http::extract::{ApiCaller, SignedIn};
use crate::http::state::AppState;
use crate::ui::components::see_other;
use crate::ui::{PageError, render};

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/", Access::Page(Need::Read), dashboard)
        .post("/workspaces/switch", Access::Page(Need::Read), switch)
        .get("/api/workspace", Access::Api(Need::Read), current)
        .patch("/api/workspace", Access::Api(Need::Manage), rename);
}

async fn current(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let ws: Option<Workspace> = state
        .store
        .read(|conn| accounts::find_workspace(conn, caller.workspace_id))?;
    let ws = ws.ok_or_else(|| ApiError::not_found("Workspace not found"))?;
    Ok(HttpResponse::Ok().json(json!({ "id": ws.uid, "name": ws.name })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    name: String,
}

/// Renames the workspace (API keys, owners and admins).
async fn rename(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<RenameBody>,
) -> Result<HttpResponse, ApiError> {
    let ws_id = caller.workspace_id;
    let name = body.into_inner().name;
    let ws = state
        .store
        .write(move |conn| accounts::rename_workspace(conn, ws_id, &name))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "id": ws.uid, "name": ws.name })))
}

async fn dashboard(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "dashboard")?;
    let ws = user.0.workspace.id;
    let (keys, members) = state.store.read(|conn| {
        let keys = api_keys::list(conn, ws)?
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .count();
        let members = accounts::members_of(conn, ws)?.len();
        Ok::<_, PageError>((keys, members))
    })?;
    let base = state.config.base_url();
    let body = html! {
        div.stats {
            div.stat { span.num { (keys) } span.label { "active API keys" } }
            div.stat { span.num { (members) } span.label { "members" } }
        }
        section.card {
            h2 { "Getting started" }
            p { "Create an API key under " a href="/settings" { "Settings" } ", then check it works:" }
            pre { code { "curl -H 'X-API-Key: <your key>' " (base) "/api/workspace" } }
        }
    };
    Ok(render(&req, Some(&nav), &user.0.workspace.name, body))
}

#[derive(Deserialize)]
struct SwitchForm {
    workspace_id: String,
    #[serde(default)]
    csrf_token: String,
}

async fn switch(
    state: web::Data<AppState>,
    user: SignedIn,
    form: web::Form<SwitchForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let (session_id, user_id) = (user.0.id, user.0.user_id);
    let target = form.into_inner().workspace_id;
    state
        .store
        .write(move |conn| sessions::switch_workspace_by_uid(conn, session_id, user_id, &target))
        .await?;
    Ok(see_other("/").finish())
}
