//! The server-rendered UI shell: layout, navigation, flash messages, assets, error pages.

pub mod assets;
pub mod components;
pub mod csrf;
pub mod error;
pub mod flash;
pub mod layout;
pub mod return_path;

pub use error::PageError;
pub use flash::Flash;
pub use layout::{Nav, render};

/// Formats a Unix-millisecond timestamp for people (UTC, minute precision).
pub fn format_time(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "—".into())
}
