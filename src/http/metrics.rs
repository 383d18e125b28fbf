//! Prometheus metrics: request counts and latency by route and status, plus gauges for
//! the store, filled in when `/metrics` is scraped.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use std::sync::Mutex;

use actix_web::http::Method;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::http::state::AppState;

/// Every metric Herald exports.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    writer_commits: IntCounter,
    writer_writes: IntCounter,
    writer_queued: IntGauge,
    cache_scans_skipped: IntCounter,
    jobs: IntGaugeVec,
    /// Serialises scrapes, so two at once never both add the same delta to a counter.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("herald_http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )
        .expect("metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "herald_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route", "status"],
        )
        .expect("metric");
        let pool = IntGaugeVec::new(
            Opts::new(
                "herald_db_pool_connections",
                "Read pool connections by state",
            ),
            &["state"],
        )
        .expect("metric");
        let writer_commits = IntCounter::new(
            "herald_db_commits_total",
            "Group commits made by the writer",
        )
        .expect("metric");
        let writer_writes =
            IntCounter::new("herald_db_writes_total", "Writes committed by the writer")
                .expect("metric");
        let writer_queued =
            IntGauge::new("herald_db_writes_queued", "Writes waiting for the writer")
                .expect("metric");
        let cache_scans_skipped = IntCounter::new(
            "herald_db_page_cache_scans_skipped_total",
            "Full page-cache scans SQLite's default cache would have made and the wrapper avoided (see store::page_cache)",
        )
        .expect("metric");
        let jobs = IntGaugeVec::new(
            Opts::new("herald_jobs", "Jobs in the durable queue by status"),
            &["status"],
        )
        .expect("metric");
        for collector in [
            Box::new(jobs.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(requests.clone()),
            Box::new(latency.clone()),
            Box::new(pool.clone()),
            Box::new(writer_commits.clone()),
            Box::new(writer_writes.clone()),
            Box::new(writer_queued.clone()),
            Box::new(cache_scans_skipped.clone()),
        ] {
            registry.register(collector).expect("register metric");
        }
        Self {
            registry,
            requests,
            latency,
            pool,
            writer_commits,
            writer_writes,
            writer_queued,
            cache_scans_skipped,
            jobs,
            scrape: Mutex::new(()),
        }
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status_label(status);
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// Renders the Prometheus text exposition, refreshing gauges first.
    pub fn render(&self, state: &AppState) -> String {
        let _one_scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        let (pool, writer) = state.store.stats();
        self.pool
            .with_label_values(&["open"])
            .set(pool.connections as i64);
        self.pool
            .with_label_values(&["idle"])
            .set(pool.idle_connections as i64);
        catch_up(&self.writer_commits, writer.commits);
        catch_up(&self.writer_writes, writer.writes);
        self.writer_queued.set(writer.queued as i64);
        catch_up(
            &self.cache_scans_skipped,
            crate::store::page_cache::skipped_truncates(),
        );
        if let Ok(counts) = state.store.read(crate::jobs::counts) {
            for status in ["pending", "running", "failed"] {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                self.jobs.with_label_values(&[status]).set(n);
            }
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encode metrics");
        String::from_utf8(out).expect("metrics are utf-8")
    }
}

/// Brings a counter up to a cumulative total kept elsewhere (counters only go up).
fn catch_up(counter: &IntCounter, total: impl TryInto<u64>) {
    let total = total.try_into().unwrap_or(0);
    counter.inc_by(total.saturating_sub(counter.get()));
}

/// The method label: the standard methods by name, every made-up one as `other`, so a
/// client inventing methods cannot add label values.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, name)| name)
}

/// The status label: registered codes as themselves, any other as its class (`5xx`), so
/// the set of values stays small whatever a handler answers.
fn status_label(status: u16) -> String {
    let registered = actix_web::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .is_some();
    if registered {
        status.to_string()
    } else {
        format!("{}xx", status / 100)
    }
}

/// Middleware recording each request under its route pattern (never the raw path, so
/// ids and tokens do not explode the label set).
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = method_label(req.method());
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        let status = response.status().as_u16();
        state
            .metrics
            .observe(method, &route, status, started.elapsed().as_secs_f64());
        tracing::debug!(%method, %route, status, micros = started.elapsed().as_micros() as u64, "request");
    }
    Ok(response)
}
