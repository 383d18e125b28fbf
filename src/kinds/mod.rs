//! Shared kinds every layer may use: ids and time. This is the bottom layer: it imports
//! nothing from the rest of Herald.

pub mod ids;
pub mod time;

pub use ids::WorkspaceId;
pub use time::Clock;
