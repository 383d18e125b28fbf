//! Request extractors: `SignedIn` for pages, `ApiCaller` for the JSON API.

use std::future::{Ready, ready};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use crate::auth::sessions::{self, Session};
use crate::auth::{AuthError, accounts, api_keys, key_cache};
use crate::http::ApiError;
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::ui::{Nav, PageError};

fn state(req: &HttpRequest) -> &web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
}

/// The session behind the request's cookie, if it is live.
pub fn session_of(state: &AppState, req: &HttpRequest) -> Result<Option<Session>, AuthError> {
    let Some(cookie) = req.cookie(sessions::COOKIE) else {
        return Ok(None);
    };
    let token = cookie.value().to_string();
    if token.len() != 64 {
        return Ok(None);
    }
    state.store.read(|conn| sessions::find(conn, &token))
}

/// A signed-in browser; pages that need one redirect to the login page otherwise.
pub struct SignedIn(pub Session);

impl SignedIn {
    /// Header and navigation data for this user's pages.
    pub fn nav(&self, state: &AppState, active: &'static str) -> Result<Nav, PageError> {
        let user_id = self.0.user_id;
        let memberships = state
            .store
            .read(|conn| accounts::memberships_of(conn, user_id))?;
        Ok(Nav {
            session: self.0.clone(),
            memberships,
            active,
        })
    }

    /// Runs `f` in a write transaction with this user's workspace and the item `uid` from
    /// the path: the store call of a one-button form (delete, rotate, enable…), made
    /// once its CSRF token has been checked.
    pub async fn write_on<T, E>(
        &self,
        state: &AppState,
        uid: &str,
        f: impl FnOnce(&rusqlite::Connection, WorkspaceId, &str) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<crate::store::StoreError> + Send + 'static,
    {
        let ws = self.0.workspace.id;
        let uid = uid.to_string();
        state.store.write(move |conn| f(conn, ws, &uid)).await
    }

    /// Refuses a state-changing form whose CSRF token is not this session's.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), PageError> {
        if crate::ui::csrf::verify_session(&self.0.csrf_token, submitted) {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "This form has expired or did not come from Herald. Reload the page and try again."
                    .into(),
            ))
        }
    }
}

/// Where the login page should send a browser back to: this request's path and query.
pub fn return_path(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    }
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    /// The session the guard admitted; pages never look it up (or check roles) again.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(signed_in) = req.extensions_mut().remove::<SignedIn>() {
            return ready(Ok(signed_in));
        }
        ready(match session_of(state(req), req) {
            Ok(Some(session)) => Ok(SignedIn(session)),
            Ok(None) => Err(PageError::LoginRequired(return_path(req))),
            Err(e) => Err(e.into()),
        })
    }
}

/// Who is calling the API and for which workspace: an API key, or a signed-in session.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub workspace_id: WorkspaceId,
    /// The workspace's public id, which `X-Team-ID` must equal when sent.
    pub workspace_uid: String,
    pub key_id: Option<i64>,
    pub user_id: Option<i64>,
    /// The signed-in user's role; `None` for an API key, which acts for the workspace.
    pub role: Option<crate::auth::Role>,
    /// The session's CSRF token when the caller came by cookie (never for a key).
    pub csrf_token: Option<String>,
}

fn presented_key(req: &HttpRequest) -> Option<String> {
    // Header names are case-insensitive, so this also accepts `X-Api-Key`.
    if let Some(v) = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    bearer_token(req)
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let auth = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The live key behind a presented secret, from the cache when it can be trusted.
fn live_key(
    state: &web::Data<AppState>,
    secret: &str,
) -> Result<Option<key_cache::LiveKey>, ApiError> {
    if !api_keys::looks_like_key(secret) {
        return Ok(None);
    }
    let hash = crate::auth::secrets::token_hash(secret);
    let instance = state.store.instance();
    let cache = instance.cache::<key_cache::KeyCache>();
    if let Some(hit) = cache.get(instance.freshness(), &hash) {
        return Ok(Some(hit));
    }
    // Read the generation before the lookup, so a change committed during it shows.
    let generation = instance.freshness().current();
    let found = state.store.read(|conn| api_keys::by_hash(conn, &hash))?;
    if let (Some(generation), Some(live)) = (generation, &found) {
        cache.put(hash, live.clone(), generation);
    }
    Ok(found)
}

/// Identifies the API caller: a presented key first, else the session cookie.
pub fn authenticate(req: &HttpRequest) -> Result<ApiCaller, ApiError> {
    let state = state(req);
    let caller = if let Some(key) = presented_key(req) {
        let found = live_key(state, &key)?;
        let (key_id, workspace_id, workspace_uid) =
            found.ok_or_else(|| ApiError::unauthorized("Invalid or revoked API key"))?;
        state.ratelimit.check(key_id, state.clock().instant())?;
        note_key_use(state, key_id);
        ApiCaller {
            workspace_id,
            workspace_uid,
            key_id: Some(key_id),
            user_id: None,
            role: None,
            csrf_token: None,
        }
    } else if let Some(session) = session_of(state, req)? {
        ApiCaller {
            workspace_id: session.workspace.id,
            workspace_uid: session.workspace.uid,
            key_id: None,
            user_id: Some(session.user_id),
            role: Some(session.role),
            csrf_token: Some(session.csrf_token),
        }
    } else {
        return Err(ApiError::unauthorized(
            "Missing API key: send X-API-Key or Authorization: Bearer <key>",
        ));
    };
    if let Some(team) = req.headers().get("x-team-id") {
        let team = team.to_str().unwrap_or("").trim();
        if team != caller.workspace_uid {
            // The seed's wording and status for a team that is not the key's.
            return Err(ApiError::unauthorized("Invalid team context"));
        }
    }
    Ok(caller)
}

/// Records when a key was last used, at most once a minute per key, off the request path.
fn note_key_use(state: &web::Data<AppState>, key_id: i64) {
    {
        let mut touched = state.key_touches.lock().expect("key touch lock");
        let now = state.clock().instant();
        let due = touched
            .get(&key_id)
            .is_none_or(|t| now.duration_since(*t).as_secs() >= 60);
        if !due {
            return;
        }
        touched.insert(key_id, now);
    }
    let store = state.store.clone();
    actix_web::rt::spawn(async move {
        let _ = store.write(move |conn| api_keys::touch(conn, key_id)).await;
    });
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    /// The caller the guard admitted, without a second lookup.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(caller) = req.extensions_mut().remove::<ApiCaller>() {
            return ready(Ok(caller));
        }
        ready(authenticate(req))
    }
}

/// The session cookie for a new sign-in.
pub fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    Cookie::build(sessions::COOKIE, token)
        .path("/")
        .http_only(true)
        .secure(state.config.secure_cookies())
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::hours(
            state.config.auth.session_ttl_hours as i64,
        ))
        .finish()
}
