//! HTTP plumbing shared by every feature: error shapes, body limits, metrics.

pub mod error;
pub mod limits;
pub mod metrics;

pub use error::ApiError;
