//! HTTP plumbing shared by every feature: error shapes, body limits, metrics.

pub mod client_addr;
pub mod error;
pub mod extract;
pub mod guard;
pub mod idempotency;
pub mod json;
pub mod limits;
pub mod metrics;
pub mod ratelimit;
pub mod routes;
pub mod security_headers;
pub mod state;
pub mod timeout;

pub use error::ApiError;
