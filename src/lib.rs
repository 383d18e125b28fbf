//! Herald: a self-hosted messaging backbone in one binary and one SQLite file.

pub mod app;
pub mod auth;
pub mod automations;
pub mod channels;
pub mod cli;
pub mod config;
pub mod contacts;
pub mod delivery;
pub mod events;
pub mod forms;
pub mod http;
pub mod imports;
pub mod jobs;
pub mod kinds;
pub mod lists;
pub mod logging;
pub mod net;
pub mod ops;
pub mod privacy;
pub mod segments;
pub mod settings;
pub mod store;
pub mod templates;
pub mod ui;
pub mod webhooks;
pub mod workspaces;
