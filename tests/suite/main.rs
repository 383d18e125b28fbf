//! The whole test suite in one binary: each module is one feature's tests, run against
//! the real binary or the real actix app over HTTP. One binary links once, which keeps a
//! clean build small on disk and quick to link. The page-cache tests stay binaries of their
//! own (`tests/page_cache*.rs`): they install SQLite's page cache before its first use
//! and count process-wide.

mod support;

mod access;
mod accounts;
mod api_keys;
mod architecture;
mod automations;
mod automations_crash;
mod automations_ui;
mod bad_input;
mod channels;
mod channels_crash;
mod channels_text;
mod channels_ui;
mod config_cli;
mod contacts_import;
mod contacts_ui;
mod crash;
mod data_rights;
mod event_sources;
mod events_api;
mod events_ui;
mod forms;
mod forms_browser;
mod hardening;
mod jobs_queue;
mod lists;
mod operations;
mod providers;
mod receiver_selftest;
mod roles;
mod segments;
mod sign_in_trust;
mod subscribe;
mod template_safety;
mod webhook_secret;
mod webhook_targets;
mod webhooks;
mod webhooks_delivery;
mod webhooks_ui;
