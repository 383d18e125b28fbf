//! Typed configuration: defaults < TOML file < `HERALD_SECTION__KEY` environment < flags.
//!
//! One source of truth, validated once at start so a bad key is reported by name
//! before anything touches the store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::net::proxies::TrustedProxies;

/// The whole configuration of one Herald process.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub ratelimit: RateLimitConfig,
    pub jobs: JobsConfig,
    pub contacts: ContactsConfig,
    pub forms: FormsConfig,
    pub smtp: SmtpConfig,
    pub webhooks: WebhooksConfig,
    pub dns: DnsConfig,
    pub log: LogConfig,
}

/// Where Herald asks DNS questions of its own (checking a mailbox's published DKIM record).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Name servers as `ip:port`; empty asks the ones the system is configured with
    /// (`/etc/resolv.conf`).
    pub servers: Vec<String>,
}

/// Outgoing mail. With no `host`, mail goes to the outbox folder in the data directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// SMTP server; empty writes mail to `<data_dir>/outbox` instead of sending it.
    pub host: String,
    pub port: u16,
    /// `none`, `starttls` or `tls` (implicit TLS, usually port 465).
    pub tls: SmtpTls,
    pub username: String,
    pub password: String,
    pub from_address: String,
    pub from_name: String,
    /// Connections kept open to the server.
    pub pool_size: u32,
    /// Messages per second at most; 0 means unlimited.
    pub max_per_second: f64,
    /// Seconds before a connection or command gives up (a temporary failure).
    pub timeout_secs: u64,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: String::new(),
            from_address: "herald@localhost".into(),
            from_name: "Herald".into(),
            pool_size: 4,
            max_per_second: 0.0,
            timeout_secs: 15,
        }
    }
}

/// Outgoing webhook calls (automation webhook steps).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Allow targets outside the public internet (loopback, private, link-local and the
    /// other IANA special-purpose ranges; see `net::ssrf`); off, they are refused.
    pub allow_private_targets: bool,
    /// Seconds one attempt of an automation's webhook step may take (endpoints have
    /// their own `timeoutMs`).
    pub timeout_secs: u64,
    /// Requests to webhook endpoints in flight at once, over all endpoints.
    pub concurrency: usize,
    /// Requests in flight at once to one endpoint; 1 keeps each endpoint's deliveries
    /// in event order.
    pub endpoint_concurrency: usize,
    /// An endpoint whose deliveries have all failed for this many days is disabled.
    pub disable_after_days: u64,
    /// An endpoint with this many deliveries in a row failed for good is disabled.
    pub disable_after_failures: u64,
    /// Days the outbox and the delivery log are kept.
    pub retention_days: u64,
    /// Longest wait a `Retry-After` answer can ask for, in seconds.
    pub max_retry_after_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            timeout_secs: 10,
            concurrency: 64,
            endpoint_concurrency: 1,
            disable_after_days: 5,
            disable_after_failures: 100,
            retention_days: 30,
            max_retry_after_secs: 3_600,
        }
    }
}

/// Bounds on what an ingested payload may contain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest string value accepted anywhere in event or contact properties, in bytes.
    pub max_string_bytes: usize,
    /// Deepest nesting of objects and arrays accepted in properties.
    pub max_depth: usize,
}

/// Per-API-key token bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained requests per second per API key; 0 turns rate limiting off.
    pub requests_per_second: f64,
    /// Requests a key may make in a burst above the sustained rate.
    pub burst: f64,
}

/// The durable job queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// How long a claimed job is held before another worker may take it over.
    pub lease_secs: u64,
    /// Most jobs claimed at once.
    pub batch: usize,
    /// Attempts before a job is marked failed.
    pub max_attempts: u32,
}

/// Contact imports.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContactsConfig {
    /// Largest CSV file accepted for import, in bytes.
    pub import_max_bytes: u64,
}

/// The public form endpoint's rate limits (token buckets refilled per minute).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FormsConfig {
    /// Submissions one client address may send to one form per minute (also its burst);
    /// 0 turns the limit off.
    pub per_ip_per_minute: u32,
    /// Submissions one form accepts per minute from everyone together; 0 turns it off.
    pub per_form_per_minute: u32,
}

impl Default for FormsConfig {
    fn default() -> Self {
        Self {
            per_ip_per_minute: 10,
            per_form_per_minute: 600,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_string_bytes: 16 * 1024,
            max_depth: 32,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests_per_second: 200.0,
            burst: 400.0,
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            lease_secs: 60,
            batch: 256,
            max_attempts: 10,
        }
    }
}

impl Default for ContactsConfig {
    fn default() -> Self {
        Self {
            import_max_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// How the HTTP server listens and what it tells the outside world about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to bind.
    pub listen: SocketAddr,
    /// Public origin used in links (setup link, unsubscribe, event source URLs).
    /// Empty means `http://<listen>`.
    pub base_url: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Seconds to let in-flight requests finish on SIGTERM / SIGINT.
    pub shutdown_timeout_secs: u64,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` /
    /// `Forwarded` headers are believed; empty believes no one, so a client cannot
    /// choose the address the login throttle counts.
    pub trusted_proxies: Vec<String>,
    /// Seconds a client gets to send the request headers, and then between two pieces of
    /// the body: without it a stalled client holds a connection forever (slowloris).
    pub request_timeout_secs: u64,
}

/// Where data lives and how hard SQLite works to keep it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Directory holding `herald.db` (created if missing).
    pub data_dir: PathBuf,
    /// `full` survives power loss, `normal` survives a process crash, `off` neither.
    pub durability: Durability,
    /// How long a connection waits for a lock before giving up.
    pub busy_timeout_ms: u64,
    /// Read connections in the pool.
    pub read_pool_size: u32,
    /// Most writes folded into one group commit.
    pub max_batch: usize,
    /// Key (64 hex characters) that encrypts stored credentials; empty means
    /// `herald.key` in the data directory, generated on first start. Never in the database.
    pub secret_key: String,
}

/// SQLite `synchronous` level for the single writer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Full,
    Normal,
    Off,
}

/// Sessions, setup link and login throttling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of a sign-in session.
    pub session_ttl_hours: u64,
    /// Lifetime of the first-run setup link.
    pub setup_link_ttl_minutes: u64,
    /// Failed logins allowed per (email, client address) pair inside the window; a
    /// pair, not the email alone, so a guesser cannot lock the owner of an email out.
    pub login_max_failures: u32,
    /// Window (and lock-out) for failed logins, shared by all three limits.
    pub login_window_secs: u64,
    /// Failed logins allowed from one client address, whatever the email.
    pub login_address_max_failures: u32,
    /// Failed logins allowed overall before addresses that have not signed in
    /// successfully lately are refused: slows guessing spread over many addresses.
    pub login_global_max_failures: u32,
}

/// Log output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log shippers.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `herald=debug,actix_web=info`.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_url: String::new(),
            max_body_bytes: 1024 * 1024,
            workers: 0,
            shutdown_timeout_secs: 30,
            trusted_proxies: Vec::new(),
            request_timeout_secs: 30,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            durability: Durability::Full,
            busy_timeout_ms: 5000,
            read_pool_size: 8,
            max_batch: 512,
            secret_key: String::new(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_hours: 24 * 14,
            setup_link_ttl_minutes: 60,
            login_max_failures: 5,
            login_window_secs: 300,
            login_address_max_failures: 50,
            login_global_max_failures: 500,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
}

/// A configuration problem, always naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

/// A validation failure for `key`.
fn fail(key: &str, message: &str) -> Result<(), ConfigError> {
    Err(ConfigError {
        key: key.into(),
        message: message.into(),
    })
}

impl Config {
    /// Loads defaults, the optional file, the environment and the flags, then validates.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError {
                    key: "--config".into(),
                    message: format!("file {} does not exist", file.display()),
                });
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(
            Env::prefixed("HERALD_")
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        );
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("store.data_dir", dir));
        }
        if let Some(listen) = overrides.listen {
            figment = figment.merge(Serialized::default("server.listen", listen.to_string()));
        }
        let config: Config = figment.extract().map_err(from_figment)?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses settings Herald cannot run with, naming the first bad key.
    fn validate(&self) -> Result<(), ConfigError> {
        let base = &self.server.base_url;
        if !(base.is_empty() || base.starts_with("http://") || base.starts_with("https://")) {
            return fail("server.base_url", "must start with http:// or https://");
        }
        if let Err(problem) = TrustedProxies::parse(&self.server.trusted_proxies) {
            return fail("server.trusted_proxies", &problem);
        }
        if self.server.max_body_bytes < 1024 {
            return fail("server.max_body_bytes", "must be at least 1024");
        }
        if self.store.read_pool_size == 0 {
            return fail("store.read_pool_size", "must be at least 1");
        }
        if self.store.max_batch == 0 {
            return fail("store.max_batch", "must be at least 1");
        }
        if self.auth.session_ttl_hours == 0 {
            return fail("auth.session_ttl_hours", "must be at least 1");
        }
        if self.ratelimit.requests_per_second < 0.0 || self.ratelimit.requests_per_second.is_nan() {
            return fail("ratelimit.requests_per_second", "must be 0 (off) or more");
        }
        if self.ratelimit.requests_per_second > 0.0 && self.ratelimit.burst < 1.0 {
            return fail("ratelimit.burst", "must be at least 1");
        }
        if self.jobs.lease_secs == 0 {
            return fail("jobs.lease_secs", "must be at least 1");
        }
        if self.jobs.batch == 0 {
            return fail("jobs.batch", "must be at least 1");
        }
        if self.jobs.max_attempts == 0 {
            return fail("jobs.max_attempts", "must be at least 1");
        }
        self.check_public_base_url()?;
        if !self.smtp.host.is_empty() && !self.smtp.from_address.contains('@') {
            return fail("smtp.from_address", "must be an email address");
        }
        if self.smtp.pool_size == 0 {
            return fail("smtp.pool_size", "must be at least 1");
        }
        if self.smtp.max_per_second < 0.0 || self.smtp.max_per_second.is_nan() {
            return fail("smtp.max_per_second", "must be 0 (unlimited) or more");
        }
        if self.limits.max_depth == 0 {
            return fail("limits.max_depth", "must be at least 1");
        }
        if self.auth.login_max_failures == 0 {
            return fail("auth.login_max_failures", "must be at least 1");
        }
        if self.auth.login_address_max_failures == 0 {
            return fail("auth.login_address_max_failures", "must be at least 1");
        }
        if self.auth.login_global_max_failures == 0 {
            return fail("auth.login_global_max_failures", "must be at least 1");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return fail("log.level", "is not a valid log filter");
        }
        Ok(())
    }

    /// Without `server.base_url` links fall back to the loopback listen address, which is
    /// only right while nobody else can reach Herald and no real mail goes out.
    fn check_public_base_url(&self) -> Result<(), ConfigError> {
        if !self.server.base_url.trim().is_empty() {
            return Ok(());
        }
        if !self.server.listen.ip().is_loopback() {
            return fail(
                "server.base_url",
                "must be set when server.listen is not a loopback address: links in mail and the setup link need the address people reach Herald at (set server.base_url, or HERALD_SERVER__BASE_URL, e.g. https://herald.example.com)",
            );
        }
        if !self.smtp.host.is_empty() {
            return fail(
                "server.base_url",
                "must be set when smtp.host is: real mail must not carry links to this machine's loopback address (set server.base_url, or HERALD_SERVER__BASE_URL)",
            );
        }
        Ok(())
    }

    /// The public origin, without a trailing slash.
    pub fn base_url(&self) -> String {
        // Without one the listen address is loopback and mail stays in the outbox
        // (`validate` refuses anything else), so these links are only ever seen here.
        if self.server.base_url.is_empty() {
            format!("http://{}", self.server.listen)
        } else {
            self.server.base_url.trim_end_matches('/').to_string()
        }
    }

    /// Whether cookies must be marked `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.base_url().starts_with("https://")
    }

    /// Path of the SQLite database file.
    pub fn db_path(&self) -> PathBuf {
        self.store.data_dir.join("herald.db")
    }

    /// The effective configuration as TOML, with secrets replaced by `********`.
    pub fn to_masked_toml(&self) -> String {
        let mut value = toml::Value::try_from(self).expect("config serializes");
        mask_secrets(&mut value);
        toml::to_string_pretty(&value).expect("config renders")
    }
}

fn mask_secrets(value: &mut toml::Value) {
    if let toml::Value::Table(table) = value {
        for (key, value) in table.iter_mut() {
            let secret = ["password", "secret", "token"]
                .iter()
                .any(|word| key.contains(word));
            match value {
                toml::Value::String(s) if secret && !s.is_empty() => *s = "********".into(),
                _ => mask_secrets(value),
            }
        }
    }
}

fn from_figment(error: figment::Error) -> ConfigError {
    use figment::error::Kind;
    let mut key = error.path.join(".");
    let message = match &error.kind {
        Kind::UnknownField(field, _) => {
            if error.path.last() != Some(field) {
                key = if key.is_empty() {
                    field.clone()
                } else {
                    format!("{key}.{field}")
                };
            }
            "unknown key".to_string()
        }
        other => other.to_string(),
    };
    let source = error
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(source) => format!(" (from {source})"),
            None => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    ConfigError {
        key: if key.is_empty() { "config".into() } else { key },
        message: format!("{message}{source}"),
    }
}
