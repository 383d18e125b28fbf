//! Prometheus metrics: request counts and latency by route and status, plus gauges for
//! the store, filled in when `/metrics` is scraped.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::app::AppState;

/// Every metric Herald exports.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    writer_commits: IntGauge,
    writer_writes: IntGauge,
    writer_queued: IntGauge,
    cache_scans_skipped: IntGauge,
    jobs: IntGaugeVec,
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
        let writer_commits =
            IntGauge::new("herald_db_commits", "Group commits made by the writer").expect("metric");
        let writer_writes =
            IntGauge::new("herald_db_writes", "Writes committed by the writer").expect("metric");
        let writer_queued =
            IntGauge::new("herald_db_writes_queued", "Writes waiting for the writer")
                .expect("metric");
        let cache_scans_skipped = IntGauge::new(
            "herald_db_page_cache_scans_skipped",
            "Commits that skipped SQLite's full page-cache scan (see store::page_cache)",
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
        }
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// Renders the Prometheus text exposition, refreshing gauges first.
    pub fn render(&self, state: &AppState) -> String {
        let (pool, writer) = state.store.stats();
        self.pool
            .with_label_values(&["open"])
            .set(pool.connections as i64);
        self.pool
            .with_label_values(&["idle"])
            .set(pool.idle_connections as i64);
        self.writer_commits.set(writer.commits as i64);
        self.writer_writes.set(writer.writes as i64);
        self.writer_queued.set(writer.queued as i64);
        self.cache_scans_skipped
            .set(crate::store::page_cache::skipped_truncates() as i64);
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

/// Middleware recording each request under its route pattern (never the raw path, so
/// ids and tokens do not explode the label set).
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().to_string();
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        let status = response.status().as_u16();
        state
            .metrics
            .observe(&method, &route, status, started.elapsed().as_secs_f64());
        tracing::debug!(%method, %route, status, micros = started.elapsed().as_micros() as u64, "request");
    }
    Ok(response)
}
