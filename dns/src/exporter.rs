//! The process's metrics and the status port that serves them.
//!
//! One recorder of the `metrics` crate per process ([`install`]), rendered in Prometheus text
//! format: `dyn53 serve` shows its control plane's and its DNS node's metrics on one scrape.
//! Counters on hot paths stay where they are cheapest (the node's atomics in [`crate::Stats`],
//! handles registered once in the control plane); what is read rather than counted is
//! brought up to date by each [`Source`] just before a scrape renders.
//!
//! Histograms are rendered as Prometheus histograms with buckets chosen by the end of their
//! name: `_seconds` for latencies, `_size` for counts of things (a batch's updates).
//!
//! The status port ([`serve_status`]): `/metrics`, `/healthz`, `/readyz`, on actix-web with
//! one worker (the control plane has it in the binary already).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Upper bounds of the latency buckets, in seconds: 100 µs to 10 s.
const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Upper bounds of the size buckets: powers of two up to 1024.
const SIZES: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];
/// Histogram samples are folded into their buckets at every scrape, and this often between
/// scrapes, so that memory stays bounded when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder (once; later calls return the same) and returns the
/// handle that renders it. Call it before the services start: metric handles registered
/// before it record nothing.
pub fn install() -> &'static PrometheusHandle {
    RECORDER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZES))
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            tracing::warn!("metrics are not recorded: {e}");
        }
        let upkeep = handle.clone();
        let started = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = started {
            tracing::warn!("metrics upkeep not started: {e}");
        }
        handle
    })
}

/// A part of the process on the status port.
pub trait Source: Send + Sync + 'static {
    /// Sets the metrics read at scrape time (gauges, counters copied from atomics).
    fn collect(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;

    /// `Err(why)` while this part cannot serve: `/readyz` answers 503.
    fn readiness(&self) -> Result<(), &'static str> {
        Ok(())
    }
}

type Sources = Vec<Arc<dyn Source>>;

/// Serves the status port on `listener` until `shutdown` completes.
pub async fn serve_status(
    listener: std::net::TcpListener,
    sources: Sources,
    shutdown: impl Future,
) -> std::io::Result<()> {
    install();
    let sources = web::Data::new(sources);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(sources.clone())
            .service(page("/metrics", metrics))
            .service(page("/healthz", healthz))
            .service(page("/readyz", readyz))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let running = tokio::spawn(server);
    shutdown.await;
    handle.stop(true).await;
    running.await.unwrap_or(Ok(()))
}

/// A GET (and HEAD) resource; other methods get 405.
fn page<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
}

async fn metrics(sources: web::Data<Sources>) -> HttpResponse {
    for source in sources.iter() {
        source.collect().await;
    }
    HttpResponse::Ok()
        .content_type(PROMETHEUS_TEXT)
        .body(install().render())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type(PLAIN_TEXT).body("ok\n")
}

async fn readyz(sources: web::Data<Sources>) -> HttpResponse {
    match sources.iter().try_for_each(|s| s.readiness()) {
        Ok(()) => HttpResponse::Ok().content_type(PLAIN_TEXT).body("ready\n"),
        Err(why) => HttpResponse::ServiceUnavailable()
            .content_type(PLAIN_TEXT)
            .body(format!("{why}\n")),
    }
}
