//! `/contacts/fields`: declare and remove the workspace's custom contact fields.

use crate::ui::csrf::CsrfForm;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::{back_with_error, tabs};
use crate::contacts::ContactError;
use crate::contacts::fields::{self, FieldType};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::components::{csrf_input, danger_button, redirect};
use crate::ui::{Flash, PageError, render};

/// The list of declared fields with the forms to change it.
pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "contacts")?;
    let ws = user.0.workspace.id;
    let declared = state.store.read(|conn| fields::list(conn, ws))?;
    let manager = user.0.role.can_manage();
    let body = html! {
        (tabs("fields"))
        section.card {
            p.muted { "Custom fields hold extra properties on contacts. Their values are checked against the type on every import, form and API call." }
            @if declared.is_empty() {
                p.empty { "No custom fields yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Key" } th { "Label" } th { "Type" } th {} } }
                    tbody {
                        @for f in &declared {
                            tr {
                                td { code { (f.key) } }
                                td { (f.label) }
                                td { (f.field_type.as_str()) }
                                td {
                                    @if manager {
                                        (danger_button(&format!("/contacts/fields/{}/delete", f.key), &format!("Remove the field {}? Values already stored stay on contacts.", f.key), &user.0.csrf_token, "Remove"))
                                    }
                                }
                            }
                        }
                    }
                } }
            }
            @if manager {
                h2 { "Declare a field" }
                form.row method="post" action="/contacts/fields" {
                    (csrf_input(&user.0.csrf_token))
                    label { "Key" input type="text" name="key" required maxlength="64" pattern="[A-Za-z][A-Za-z0-9_]*" placeholder="plan"; }
                    label { "Label" input type="text" name="label" maxlength="100" placeholder="Plan"; }
                    label { "Type"
                        select name="type" {
                            @for t in [FieldType::Text, FieldType::Number, FieldType::Boolean, FieldType::Date] {
                                option value=(t.as_str()) { (t.as_str()) }
                            }
                        }
                    }
                    button type="submit" { "Declare" }
                }
            }
        }
    };
    Ok(render(&req, Some(&nav), "Contact fields", body))
}

#[derive(Deserialize)]
pub struct DeclareForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    label: String,
    #[serde(default, rename = "type")]
    field_type: String,
}

/// `POST /contacts/fields`.
pub async fn declare(
    state: web::Data<AppState>,
    user: SignedIn,
    form: web::Form<DeclareForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let DeclareForm {
        key,
        label,
        field_type,
        ..
    } = form.into_inner();
    let field_type = match FieldType::parse(&field_type) {
        Ok(t) => t,
        Err(e) => return back_with_error("/contacts/fields", e),
    };
    let ws = user.0.workspace.id;
    let key = key.trim().to_string();
    let declared = state
        .store
        .write(move |conn| fields::declare(conn, ws, &key, &label, field_type))
        .await;
    match declared {
        Ok(f) => Ok(redirect(
            "/contacts/fields",
            Flash::success(format!("Field {} declared.", f.key)),
        )),
        Err(e) => back_with_error("/contacts/fields", e),
    }
}

/// `POST /contacts/fields/{key}/delete`.
pub async fn remove(
    state: web::Data<AppState>,
    user: SignedIn,
    key: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let ws = user.0.workspace.id;
    let key = key.into_inner();
    let shown = key.clone();
    let removed = state
        .store
        .write(move |conn| -> Result<(), ContactError> { fields::remove(conn, ws, &key) })
        .await;
    match removed {
        Ok(()) => Ok(redirect(
            "/contacts/fields",
            Flash::success(format!("Field {shown} removed.")),
        )),
        Err(e) => back_with_error("/contacts/fields", e),
    }
}
