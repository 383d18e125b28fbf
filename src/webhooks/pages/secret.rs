//! An endpoint's signing secret, shown in full on one response only: the page after a
//! create or a rotation, with copy buttons and short verification snippets for the
//! Standard Webhooks libraries of Python, Node and Go. Every later page shows it masked.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::super::{Endpoint, signing, store};
use super::{find, page_of};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::csrf::CsrfForm;
use crate::ui::{Nav, PageError, render};

fn python(whsec: &str) -> String {
    format!(
        r#"# pip install standardwebhooks
from standardwebhooks import Webhook

wh = Webhook("{whsec}")
# raw_body: the request body exactly as received; headers: the request's headers
payload = wh.verify(raw_body, headers)  # raises on a bad signature or an old timestamp"#
    )
}

fn node(whsec: &str) -> String {
    format!(
        r#"// npm install standardwebhooks
import {{ Webhook }} from "standardwebhooks";

const wh = new Webhook("{whsec}");
// rawBody: the request body exactly as received, as a string
const payload = wh.verify(rawBody, {{
  "webhook-id": req.headers["webhook-id"],
  "webhook-timestamp": req.headers["webhook-timestamp"],
  "webhook-signature": req.headers["webhook-signature"],
}}); // throws on a bad signature or an old timestamp"#
    )
}

fn go(whsec: &str) -> String {
    format!(
        r#"// go get github.com/standard-webhooks/standard-webhooks/libraries/go
import standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

wh, err := standardwebhooks.NewWebhook("{whsec}")
if err != nil {{
	log.Fatal(err)
}}
body, _ := io.ReadAll(r.Body) // the raw body, before any JSON decoding
if err := wh.Verify(body, r.Header); err != nil {{
	http.Error(w, "bad signature", http.StatusBadRequest)
	return
}}"#
    )
}

/// One secret with its copy button (the button copies the element named by `id`).
fn copyable(id: &str, label: &str, value: &str) -> Markup {
    html! {
        p { strong { (label) } }
        p { code.secret id=(id) data-copy { (value) } }
        p { button type="button" data-copy=(id) { "Copy" } }
    }
}

fn secret_card(e: &Endpoint) -> Markup {
    let whsec = signing::whsec(&e.secret);
    html! {
        section.card #secret {
            h2 { "Signing secret" }
            p { strong { "Copy it now: Herald shows it only on this page." } " Later pages show it masked; rotating gives a new one." }
            (copyable("whsec", "For Standard Webhooks libraries (whsec_ form)", &whsec))
            (copyable("raw-secret", "The same key as stored (hex), for code of your own", &e.secret))
            p.muted {
                "Each call carries " code { "webhook-id" } ", " code { "webhook-timestamp" } " and "
                code { "webhook-signature" } " (" code { "v1,<base64 HMAC-SHA256 of id.timestamp.body>" } "). "
                "Verify on the raw body, and use " code { "webhook-id" } " to ignore a delivery seen before (a redelivery sends the same id)."
            }
            h3 { "Python" }
            pre { code data-copy { (python(&whsec)) } }
            h3 { "Node" }
            pre { code data-copy { (node(&whsec)) } }
            h3 { "Go" }
            pre { code data-copy { (go(&whsec)) } }
        }
    }
}

/// The page that shows an endpoint's secret in full: right after it was created or its
/// secret rotated, never again.
pub(super) fn shown(req: &HttpRequest, nav: &Nav, e: &Endpoint, title: &str) -> HttpResponse {
    let body = html! {
        section.card {
            p { "Webhook " strong { (e.name) } " → " code { (e.url) } }
            @if let Some((_, until)) = e.previous_secret {
                p.notice { "The previous secret keeps signing too until " (crate::ui::format_time(until)) ": every call carries both signatures, so the receiver can switch to the new one without missing a call." }
            }
            p { a.button href=(page_of(&e.uid)) { "Done" } }
        }
        (secret_card(e))
    };
    render(req, Some(nav), title, body)
}

/// `POST /settings/webhooks/{id}/rotate-secret`: a new secret, shown once; the old one
/// signs alongside it for [`store::ROTATION_GRACE_MS`].
pub(super) async fn rotate(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let e = find(&state, &user, &id)?;
    let fresh = signing::new_secret();
    let rotated = user
        .write_on(&state, &e.uid, move |conn, ws, uid| {
            store::rotate(conn, ws, uid, &fresh)
        })
        .await?;
    let nav = user.nav(&state, "settings")?;
    Ok(shown(&req, &nav, &rotated, "Signing secret rotated"))
}
