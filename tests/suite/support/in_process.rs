//! Herald inside the test process on a clock the test moves: the same app, routes and
//! background loops as the binary, so a test advances time instead of sleeping through it.

use std::ops::Deref;
use std::time::Duration;

use herald::app::{InProcess, start_in_process};
use herald::config::{Config, SmtpTls};
use herald::kinds::Clock;

use super::Herald;

/// A Herald running in this process on a manual clock. It derefs to a [`Herald`] (with
/// no child process) whose `base` is the in-process server, so every helper that takes
/// a `&Herald` (`Api::new`, `add_user`, `signed_in`, `db_path`, …) works against it.
pub struct InProcessHerald {
    // Declared first so the server stops before the data directory is removed.
    app: InProcess,
    herald: Herald,
}

impl InProcessHerald {
    /// Starts with the default configuration, mail to the outbox, on a manual clock set
    /// to the real time now.
    pub fn start() -> InProcessHerald {
        Self::start_with(|_| {})
    }

    /// Starts after `configure` adjusts the configuration (the data directory is set).
    pub fn start_with(configure: impl FnOnce(&mut Config)) -> InProcessHerald {
        let mut herald = Herald::without_process();
        let mut config = Config::default();
        config.store.data_dir = herald.data_dir();
        configure(&mut config);
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let app = start_in_process(config, Clock::manual(now_ms)).expect("start herald in process");
        herald.port = app.base_url.rsplit(':').next().unwrap().parse().unwrap();
        herald.base = app.base_url.clone();
        InProcessHerald { app, herald }
    }

    /// Starts sending mail over plain SMTP to loopback `port`, from `hello@acme.test`.
    pub fn start_with_smtp(port: u16, configure: impl FnOnce(&mut Config)) -> InProcessHerald {
        Self::start_with(|config| {
            config.smtp.host = "127.0.0.1".into();
            config.smtp.port = port;
            config.smtp.tls = SmtpTls::None;
            config.smtp.from_address = "hello@acme.test".into();
            configure(config);
        })
    }

    /// The clock the server reads; it moves only when the test advances it.
    pub fn clock(&self) -> &Clock {
        self.app.clock()
    }

    /// Moves the server's time forward by `by`, waking everything sleeping on it.
    pub fn advance(&self, by: Duration) {
        self.clock().advance(by);
    }

    /// The server's "now", Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.clock().now_ms()
    }

    /// One value read from the server's database through its own store.
    pub fn query<T: rusqlite::types::FromSql>(&self, sql: &str) -> T {
        let sql = sql.to_string();
        self.app
            .state
            .store
            .read(move |conn| {
                conn.query_row(&sql, [], |r| r.get(0))
                    .map_err(herald::store::StoreError::from)
            })
            .unwrap()
    }
}

impl Deref for InProcessHerald {
    type Target = Herald;

    fn deref(&self) -> &Herald {
        &self.herald
    }
}
