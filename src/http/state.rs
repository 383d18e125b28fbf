//! The state every request handler shares: the web layer's context.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::throttle::{LoginThrottle, ThrottleLimits};
use crate::config::Config;
use crate::delivery::links::Links;
use crate::http::metrics;
use crate::http::ratelimit::RateLimiter;
use crate::http::routes::RouteTable;
use crate::jobs::JobContext;
use crate::jobs::scheduler::Wakeup;
use crate::kinds::Clock;
use crate::net::proxies::TrustedProxies;
use crate::store::Store;

/// Everything handlers share.
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub throttle: LoginThrottle,
    /// `server.trusted_proxies`, parsed once; read through `client_ip`.
    pub trusted_proxies: TrustedProxies,
    pub metrics: metrics::Metrics,
    /// When each API key's `last_used_at` was last written.
    pub key_touches: Mutex<HashMap<i64, Instant>>,
    /// Per-key request budget.
    pub ratelimit: RateLimiter,
    /// Pokes the job scheduler after new work commits.
    pub wakeup: Wakeup,
    /// Where outgoing mail goes (SMTP or the outbox folder).
    pub mailer: crate::delivery::mailer::Mailer,
    /// Builds and checks signed links (unsubscribe).
    pub links: Links,
    /// Every route with who may call it; the guard applies it.
    pub routes: RouteTable,
}

impl AppState {
    /// Builds the shared state from a validated configuration.
    pub fn new(
        config: Config,
        store: Store,
        mailer: crate::delivery::mailer::Mailer,
        links: Links,
        routes: RouteTable,
    ) -> Self {
        let throttle = LoginThrottle::new(ThrottleLimits {
            pair_max: config.auth.login_max_failures,
            address_max: config.auth.login_address_max_failures,
            global_max: config.auth.login_global_max_failures,
            window: Duration::from_secs(config.auth.login_window_secs),
        });
        let ratelimit = RateLimiter::new(&config.ratelimit);
        let trusted_proxies = TrustedProxies::parse(&config.server.trusted_proxies)
            .expect("server.trusted_proxies was validated with the configuration");
        Self {
            wakeup: Wakeup::new(&store),
            config: Arc::new(config),
            store,
            throttle,
            trusted_proxies,
            metrics: metrics::Metrics::new(),
            key_touches: Mutex::new(HashMap::new()),
            ratelimit,
            mailer,
            links,
            routes,
        }
    }

    /// What background jobs started from a request need.
    pub fn jobs(&self) -> JobContext {
        JobContext {
            store: self.store.clone(),
            config: self.config.clone(),
            wakeup: self.wakeup.clone(),
        }
    }

    /// The clock every handler reads: the store's.
    pub fn clock(&self) -> &Clock {
        self.store.clock()
    }
}
