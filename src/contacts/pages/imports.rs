//! CSV import in the browser: upload (multipart) → choose what each column means →
//! start → a progress page that refreshes itself until the import is done.

use actix_multipart::{Field as Part, Multipart};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use maud::{Markup, html};

use super::{back_with_error, field, tabs};
use crate::contacts::ContactError;
use crate::contacts::fields;
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::imports::mapping::{self, Target};
use crate::imports::store::{self, Import};
use crate::imports::upload::{self, Pending, Upload, UploadError};
use crate::imports::{begin, inspect};
use crate::ui::components::{csrf_input, redirect};
use crate::ui::layout::render_with_status;
use crate::ui::{Flash, PageError, format_time, render};

/// `GET /contacts/import`: the upload form and the latest imports.
pub async fn upload_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "contacts")?;
    let ws = user.0.workspace.id;
    let recent = state.store.read(|conn| store::recent(conn, ws, 20))?;
    let body = html! {
        (tabs("import"))
        section.card {
            p { "Upload a CSV file whose first line names the columns. Next you choose which contact property each column fills. Rows are merged by email: a row whose email already exists updates that contact." }
            form method="post" action="/contacts/import" enctype="multipart/form-data" {
                (csrf_input(&user.0.csrf_token))
                label { "CSV file" input type="file" name="file" accept=".csv,text/csv" required; }
                button type="submit" { "Upload" }
            }
        }
        @if !recent.is_empty() {
            section.card {
                h2 { "Recent imports" }
                div.table-wrap { table {
                    thead { tr { th { "File" } th { "Status" } th { "Rows" } th { "Created" } th { "Updated" } th { "Failed" } th { "Started" } } }
                    tbody { @for i in &recent {
                        tr {
                            td { a href=(format!("/contacts/imports/{}", i.uid)) { (i.filename) } }
                            td { (status_badge(i)) }
                            td { (i.rows_done) } td { (i.created) } td { (i.updated) } td { (i.failed) }
                            td { (format_time(i.created_at)) }
                        }
                    } }
                } }
            }
        }
    };
    Ok(render(&req, Some(&nav), "Import contacts", body))
}

async fn small_text(part: &mut Part) -> Result<String, PageError> {
    let mut out = Vec::new();
    while let Some(bytes) = part.next().await {
        let bytes = bytes
            .map_err(|e| PageError::BadRequest(format!("The upload could not be read: {e}")))?;
        if out.len() + bytes.len() > 1024 {
            return Err(PageError::BadRequest("A form field was too long.".into()));
        }
        out.extend_from_slice(&bytes);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `POST /contacts/import`: streams the file to disk, then shows the mapping step.
pub async fn upload(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    mut form: Multipart,
) -> Result<HttpResponse, PageError> {
    let data_dir = state.config.store.data_dir.clone();
    let max = state.config.contacts.import_max_bytes;
    let mut verified = false;
    let mut received: Option<(Upload, String)> = None;
    while let Some(part) = form.next().await {
        let mut part =
            part.map_err(|e| PageError::BadRequest(format!("The upload could not be read: {e}")))?;
        match part.name() {
            Some("csrf_token") => {
                user.check_csrf(&small_text(&mut part).await?)?;
                verified = true;
            }
            Some("file") if received.is_none() => {
                // The token comes first in the form, so no file is stored for a forged one.
                if !verified {
                    user.check_csrf("")?;
                }
                let filename = part
                    .content_disposition()
                    .and_then(|cd| cd.get_filename())
                    .map(upload::clean_filename)
                    .unwrap_or_else(|| upload::clean_filename(""));
                match upload::receive(&data_dir, max, &mut part).await {
                    Ok(file) => received = Some((file, filename)),
                    Err(UploadError::TooLarge(limit)) => {
                        return too_large(&state, &req, &user, limit);
                    }
                    Err(e) => return Ok(redirect("/contacts/import", Flash::error(e.to_string()))),
                }
            }
            _ => while part.next().await.is_some() {},
        }
    }
    if !verified {
        user.check_csrf("")?;
    }
    let Some((file, filename)) = received.filter(|(f, _)| f.bytes > 0) else {
        return Ok(redirect(
            "/contacts/import",
            Flash::error("Choose a CSV file to upload."),
        ));
    };
    if let Err(e) = inspect(file.path.clone()).await {
        let _ = std::fs::remove_file(&file.path);
        return back_with_error("/contacts/import", e);
    }
    let pending = Pending {
        workspace_id: user.0.workspace.id.0,
        filename,
        bytes: file.bytes,
    };
    upload::save_pending(&data_dir, &file.uid, &pending).map_err(|e| {
        tracing::error!(error = %e, "could not remember a pending import");
        PageError::Unavailable("The upload could not be saved. Try again.".into())
    })?;
    Ok(redirect(
        &format!("/contacts/import/{}", file.uid),
        Flash::success("File uploaded. Check the columns, then start the import."),
    ))
}

fn too_large(
    state: &AppState,
    req: &HttpRequest,
    user: &SignedIn,
    limit: u64,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(state, "contacts")?;
    let body = html! {
        p.error { "The file is larger than the import limit of " (limit) " bytes (contacts.import_max_bytes)." }
        p { a href="/contacts/import" { "Back to import" } }
    };
    Ok(render_with_status(
        req,
        StatusCode::PAYLOAD_TOO_LARGE,
        Some(&nav),
        "File too large",
        body,
    ))
}

fn pending_upload(
    state: &AppState,
    user: &SignedIn,
    uid: &str,
) -> Result<(Pending, Upload), PageError> {
    let data_dir = &state.config.store.data_dir;
    let pending =
        upload::load_pending(data_dir, uid, user.0.workspace.id).ok_or(PageError::NotFound)?;
    let path = upload::file_of(data_dir, uid).ok_or(PageError::NotFound)?;
    let file = Upload {
        uid: uid.to_string(),
        path,
        bytes: pending.bytes,
    };
    Ok((pending, file))
}

/// `GET /contacts/import/{uid}`: one select per CSV column, pre-filled with the guess.
pub async fn mapping_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    uid: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "contacts")?;
    let (pending, file) = pending_upload(&state, &user, &uid)?;
    let header = inspect(file.path.clone()).await?;
    let ws = user.0.workspace.id;
    let declared = state.store.read(|conn| fields::list(conn, ws))?;
    let guesses = mapping::default_targets(&header.headers, &declared);
    let choices = mapping::choices(&declared);
    let body = html! {
        (tabs("import"))
        section.card {
            p { strong { (pending.filename) } " · " (pending.bytes) " bytes" }
            p.muted { "Choose the contact property each column fills. One column must be the email; empty cells leave a property unchanged." }
            form method="post" action=(format!("/contacts/import/{}", file.uid)) {
                (csrf_input(&user.0.csrf_token))
                div.table-wrap { table {
                    thead { tr { th { "Column" } th { "First row" } th { "Import as" } } }
                    tbody { @for (i, name) in header.headers.iter().enumerate() {
                        tr {
                            td { strong { (name) } }
                            td.muted { (header.sample.get(i).map(String::as_str).unwrap_or("")) }
                            td { (select(i, name, &guesses[i], &choices)) }
                        }
                    } }
                } }
                button type="submit" { "Start import" }
                " " a href="/contacts/import" { "Cancel" }
            }
        }
    };
    Ok(render(&req, Some(&nav), "Map columns", body))
}

fn select(i: usize, header: &str, guess: &Target, choices: &[(Target, String)]) -> Markup {
    html! {
        label.sr-only for=(format!("col{i}")) { "Import " (header) " as" }
        select id=(format!("col{i}")) name=(format!("col{i}")) {
            @for (target, label) in choices {
                option value=(target.as_str()) selected[target == guess] { (label) }
            }
        }
    }
}

/// `POST /contacts/import/{uid}`: creates the import and its first job.
pub async fn start(
    state: web::Data<AppState>,
    user: SignedIn,
    uid: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(field(&form, "csrf_token"))?;
    let (pending, file) = pending_upload(&state, &user, &uid)?;
    let back = format!("/contacts/import/{}", file.uid);
    let header = inspect(file.path.clone()).await?;
    let ws = user.0.workspace.id;
    let declared = state.store.read(|conn| fields::list(conn, ws))?;
    let columns = (0..header.headers.len())
        .map(|i| Target::parse(field(&form, &format!("col{i}")), &declared))
        .collect::<Result<Vec<_>, ContactError>>()
        .and_then(|targets| mapping::finish(&header.headers, &targets));
    let columns = match columns {
        Ok(c) => c,
        Err(e) => return back_with_error(&back, e),
    };
    let import = begin(&state.jobs(), ws, &file, pending.filename, &header, columns).await?;
    upload::forget_pending(&state.config.store.data_dir, &file.uid);
    Ok(redirect(
        &format!("/contacts/imports/{}", import.uid),
        Flash::success("Import started."),
    ))
}

fn status_badge(i: &Import) -> Markup {
    let class = match i.status.as_str() {
        "completed" => "badge good",
        "failed" => "badge bad",
        _ => "badge warn",
    };
    html! { span class=(class) { (i.status) } }
}

/// `GET /contacts/imports/{id}`: progress, counts and errors; refreshes while running.
pub async fn progress_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "contacts")?;
    let ws = user.0.workspace.id;
    let import = state.store.read(|conn| store::get(conn, ws, &id))?;
    let percent = import.percent();
    let body = html! {
        @if import.active() { meta http-equiv="refresh" content="2"; }
        (tabs("import"))
        section.card {
            p { strong { (import.filename) } " " (status_badge(&import)) }
            progress.progress value=(percent) max="100" { (percent) "%" }
            p.muted { (percent) "% of " (import.bytes_total) " bytes"
                @if import.active() { " · this page refreshes itself" }
                @if let Some(done) = import.finished_at { " · finished " (format_time(done)) }
            }
            div.stats {
                @for (label, n) in [("Rows done", import.rows_done), ("Created", import.created), ("Updated", import.updated), ("Failed", import.failed)] {
                    div.stat { span.num { (n) } span.label { (label) } }
                }
            }
        }
        @if !import.errors.is_empty() {
            section.card {
                h2 { "Errors" }
                @if import.failed as usize > import.errors.len() {
                    p.muted { "Showing the first " (import.errors.len()) " of " (import.failed) " failed rows." }
                }
                div.table-wrap { table {
                    thead { tr { th { "Line" } th { "Problem" } } }
                    tbody { @for e in &import.errors {
                        tr { td { (e.line.map(|l| l.to_string()).unwrap_or_default()) } td { (e.message) } }
                    } }
                } }
            }
        }
        p { a href="/contacts" { "Back to contacts" } " · " a href="/contacts/import" { "Import another file" } }
    };
    Ok(render(&req, Some(&nav), "Import progress", body))
}
