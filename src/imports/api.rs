//! `POST /api/contacts/import` (raw CSV body) and `GET /api/contacts/imports/{id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;

use super::upload::{self, UploadError};
use super::{begin, inspect, mapping, store, to_json};
use crate::contacts::fields;
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::state::AppState;

/// Body types taken as CSV; anything else is most likely a mistake (JSON, a form).
const CSV_TYPES: &[&str] = &[
    "text/csv",
    "application/csv",
    "text/plain",
    "application/vnd.ms-excel",
    "application/octet-stream",
];

#[derive(Deserialize)]
pub struct UploadQuery {
    mapping: Option<String>,
    filename: Option<String>,
}

fn overrides(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let parsed: Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("mapping is not valid JSON: {e}")))?;
    let Value::Object(map) = parsed else {
        return Err(ApiError::bad_request(
            "mapping must be a JSON object of CSV header → field",
        ));
    };
    map.into_iter()
        .map(|(header, field)| match field {
            Value::String(f) => Ok((header, f)),
            Value::Null => Ok((header, "ignore".to_string())),
            _ => Err(ApiError::bad_request(format!(
                "mapping of '{header}' must be a field name"
            ))),
        })
        .collect()
}

fn upload_error(e: UploadError) -> ApiError {
    match e {
        UploadError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        UploadError::Body(_) => ApiError::bad_request(e.to_string()),
        UploadError::Io(io) => {
            tracing::error!(error = %io, "could not store an import upload");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The upload could not be saved, try again",
            )
        }
    }
}

/// `POST /api/contacts/import`: stores the CSV body and queues its import → 202.
pub async fn upload_api(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    query: web::Query<UploadQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mime = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if let Some(mime) = mime.filter(|m| !CSV_TYPES.contains(&m.as_str())) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be text/csv, not {mime}"),
        ));
    }
    let overrides = overrides(query.mapping.as_deref())?;
    let max = state.config.contacts.import_max_bytes;
    let announced = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max) {
        return Err(upload_error(UploadError::TooLarge(max)));
    }
    let data_dir = state.config.store.data_dir.clone();
    let received = upload::receive(&data_dir, max, body)
        .await
        .map_err(upload_error)?;
    let ws = caller.workspace_id;
    let started = async {
        if received.bytes == 0 {
            return Err(ApiError::bad_request("The CSV file is empty"));
        }
        let header = inspect(received.path.clone()).await?;
        let declared = state.store.read(|conn| fields::list(conn, ws))?;
        let columns = mapping::resolve(&header.headers, &overrides, &declared)?;
        let filename = upload::clean_filename(query.filename.as_deref().unwrap_or("contacts.csv"));
        Ok(begin(&state.jobs(), ws, &received, filename, &header, columns).await?)
    }
    .await;
    match started {
        Ok(import) => Ok(HttpResponse::Accepted().json(to_json(&import))),
        Err(e) => {
            let _ = std::fs::remove_file(&received.path);
            Err(e)
        }
    }
}

/// `GET /api/contacts/imports/{id}`: progress, counts and the first errors.
pub async fn status_api(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let import = state.store.read(|conn| store::get(conn, ws, &id))?;
    Ok(HttpResponse::Ok().json(to_json(&import)))
}
