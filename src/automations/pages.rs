//! Automation pages.

use actix_web::web;

/// Routes of this module.
pub fn routes(_cfg: &mut web::ServiceConfig) {}
