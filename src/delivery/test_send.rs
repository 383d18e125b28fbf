//! "Send a test": one path for the API and the editor page. The template is rendered on
//! the blocking pool, never inside the writer's transaction, so a heavy template cannot
//! hold up other writes; only the finished message is written.

use serde_json::Map;

use crate::delivery::messages::{self, Content, NewMessage};
use crate::jobs::{self, JobKind};
use crate::kinds::WorkspaceId;
use crate::store::{Store, StoreError};
use crate::templates::{self, store};

/// Why a test mail was not queued.
#[derive(Debug, thiserror::Error)]
pub enum TestSendError {
    #[error("Template not found")]
    NotFound,
    #[error("The template does not render: {0}")]
    Render(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Renders template `uid` for the sample contact at `to` and queues it; returns the
/// message's public id.
pub async fn queue(
    store: &Store,
    ws: WorkspaceId,
    uid: &str,
    to: String,
    base_url: String,
) -> Result<String, TestSendError> {
    let template = store
        .read(|conn| store::get(conn, ws, uid))?
        .ok_or(TestSendError::NotFound)?;
    let address = to.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let mut contact = templates::sample_contact();
        contact.email = Some(address);
        let context = templates::context(
            &contact,
            &Map::new(),
            &Map::new(),
            &templates::OptOutUrls::preview(&base_url),
        );
        templates::render_email(&template, &context)
    })
    .await
    .map_err(|_| TestSendError::Render("rendering was interrupted".into()))?
    .map_err(TestSendError::Render)?;
    store
        .write(move |conn| -> Result<String, TestSendError> {
            let new = NewMessage {
                channel: "email",
                contact_id: None,
                enrollment_id: None,
                position: None,
                kind: "test",
                to: &to,
                content: Content::Rendered(&rendered),
                channel_id: None,
                envelope: None,
            };
            let id = messages::create(conn, ws, &new)?
                .ok_or_else(|| StoreError::Commit("message not created".into()))?;
            jobs::enqueue(
                conn,
                Some(ws),
                &JobKind::SendMessage { message_id: id },
                crate::store::here().now_ms(),
                jobs::max_attempts(),
            )?;
            Ok(messages::uid_of(conn, id)?)
        })
        .await
}
