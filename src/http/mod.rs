//! HTTP plumbing shared by every feature: error shapes, body limits, metrics.

pub mod client_addr;
pub mod error;
pub mod idempotency;
pub mod json;
pub mod limits;
pub mod metrics;
pub mod ratelimit;
pub mod return_path;
pub mod routes;
pub mod security_headers;
pub mod timeout;

pub use error::ApiError;
