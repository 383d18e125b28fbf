//! A deadline on request bodies. actix's client request timeout covers only the headers;
//! a client that sends headers and then trickles (or never sends) the body would hold a
//! connection and a handler forever. Each body chunk must arrive within
//! `server.request_timeout_secs` of the last one, or the request is answered 408 and the
//! connection closed. An upload that keeps flowing is never cut off. 0 turns it off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use futures_util::StreamExt;

use crate::http::state::AppState;

/// Middleware: wraps the request's payload in an idle deadline and turns a body that
/// stopped arriving into `408 Request Timeout` with `Connection: close`.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(secs) = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.server.request_timeout_secs)
        .filter(|secs| *secs > 0)
    else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let idle = Duration::from_secs(secs);
    let timed_out = Arc::new(AtomicBool::new(false));
    let flag = timed_out.clone();
    let payload = std::mem::replace(req.parts_mut().1, Payload::None);
    let stream = futures_util::stream::unfold(Some(payload), move |state| {
        let flag = flag.clone();
        async move {
            let mut payload = state?;
            match tokio::time::timeout(idle, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(payload))),
                Ok(None) => None,
                Err(_) => {
                    flag.store(true, Ordering::Relaxed);
                    let late =
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "request body timed out");
                    Some((Err(PayloadError::Io(late)), None))
                }
            }
        }
    });
    // Fused: readers such as multipart poll again after the end, which `unfold` forbids.
    let boxed: std::pin::Pin<Box<dyn futures_util::Stream<Item = _>>> = Box::pin(stream.fuse());
    req.set_payload(Payload::from(boxed));
    let response = next.call(req).await?;
    if !timed_out.load(Ordering::Relaxed) {
        return Ok(response.map_into_boxed_body());
    }
    tracing::info!(
        route = response.request().match_pattern().unwrap_or_default(),
        "request body timed out"
    );
    let (request, _) = response.into_parts();
    let answer = HttpResponse::RequestTimeout()
        .insert_header((header::CONNECTION, "close"))
        .body("request body timed out");
    Ok(ServiceResponse::new(request, answer))
}
