//! zenlayer-exporter: exports the status of every Zenlayer Cloud VM instance to Prometheus.
//!
//! # Layout
//! The unit is one account read by two polls: [`status`] (every interval) and [`metadata`] (more slowly), each a
//! folder holding its poll, its snapshot and its vocabulary, both walking pages with [`poll`].
//! - [`config`]: environment → validated [`Config`]; [`secret`]: credentials that never print; [`reload`]: rotated
//!   secret and web files taken up without a restart; [`store`]: the atomic slot every published value goes through.
//! - [`zenlayer`]: the API client (signing, one call with retries, wire types, typed errors).
//! - [`poll`]: the loop both polls run (interval, deadline, metrics, publication) and the paged walk they share.
//! - [`status`]: the status poll, its snapshot and the status vocabulary.
//! - [`metadata`]: the metadata poll, its snapshot and the tag allow-list.
//! - [`exposition`]: both snapshots → the exposition bytes served, plain and pre-compressed, once per change.
//! - [`http`]: the server and its routes, the stall bound, the web configuration (TLS, basic authentication) and
//!   the `--healthcheck` self-probe. [`telemetry`]: self-metrics and logging.
//! - [`sim`]: a simulator of the Zenlayer API, for `--demo`, tests and benchmarks.
//!
//! [`run`] wires them together and is what tests drive; `main.rs` only parses flags and maps errors to exit codes.

pub mod config;
pub mod exposition;
pub mod http;
pub mod metadata;
pub mod poll;
pub mod reload;
pub mod secret;
pub mod sim;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod zenlayer;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

pub use config::Config;

use crate::exposition::Exposition;
use crate::exposition::render::Rendered;
use crate::http::AppState;
use crate::http::server::ServerConfig;
use crate::metadata::poll::MetadataPoll;
use crate::poll::{PollConfig, Poller, Publish};
use crate::status::poll::StatusPoll;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::zenlayer::{Client, ClientConfig};

/// Why the exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot build the API client: {0}")]
    Client(#[from] zenlayer::client::BuildError),
    #[error("cannot start the demo simulator: {0}")]
    Demo(std::io::Error),
    #[error("no credentials configured")]
    NoCredentials,
}

/// Runs the exporter on `listener` until `shutdown` completes: polls the API, serves `/metrics`, then drains.
/// With `config.demo`, a simulated fleet is started on loopback first and polled over real HTTP.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    run_with(config, listener, ServerConfig::default(), shutdown).await
}

/// [`run`] with explicit server limits (tests shorten the grace period).
pub async fn run_with(
    mut config: Config,
    listener: TcpListener,
    server_config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let metrics = Metrics::new()?;
    // Kept alive for the whole run: dropping it stops the simulated API.
    let _demo = if config.demo {
        let sim = sim::Simulator::start_demo().await.map_err(RunError::Demo)?;
        tracing::warn!(api_url = %sim.url(), instances = sim.fleet_len(), "DEMO MODE: the instances served are SIMULATED, not a Zenlayer account");
        config.api_url = sim.url();
        config.auth = Some(sim.auth());
        Some(sim)
    } else {
        None
    };
    let auth = config.auth.clone().ok_or(RunError::NoCredentials)?;
    let in_use = match &auth {
        zenlayer::Auth::Signature { secret, .. } => secret.clone(),
        zenlayer::Auth::Bearer { token } => token.clone(),
    };
    let client = Arc::new(Client::new(
        ClientConfig {
            base_url: config.api_url.clone(),
            api_version: config.api_version.clone(),
            auth,
            request_timeout: config.request_timeout,
            max_retries: config.max_retries,
            backoff_base: config.retry_backoff_base,
            proxy: config.proxy.clone(),
        },
        metrics.clone(),
    )?);

    let rendered: Arc<Store<Rendered>> = Arc::new(Store::default());
    let reports = Arc::new(Store::default());
    let exposition = Arc::new(Exposition::new(
        rendered.clone(),
        config.status_series,
        config.tag_labels.clone(),
    ));
    // New instances the metadata does not know yet, from each status poll to the metadata poller. One round
    // in flight is enough: the next status poll sends whatever is still missing.
    let (unknown_tx, unknown_rx) = mpsc::channel::<Vec<Box<str>>>(1);
    let metadata_on = config.metadata_interval.is_some();
    let publish: Publish<_> = {
        let exposition = exposition.clone();
        Arc::new(move |snapshot| {
            let unknown = exposition.status(snapshot);
            if metadata_on && !unknown.is_empty() {
                let _ = unknown_tx.try_send(unknown);
            }
        })
    };
    let poll_config = PollConfig {
        interval: config.poll_interval,
        timeout: config.poll_timeout,
        page_size: config.page_size,
        page_concurrency: config.page_concurrency,
    };
    let poller = Poller::new(
        StatusPoll::new(
            client.clone(),
            poll_config.clone(),
            metrics.clone(),
            reports.clone(),
        ),
        &poll_config,
        metrics.clone(),
        publish,
    );

    // One shutdown signal, fanned out to the poller and the server.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    if let Some(path) = config.secret_file.clone() {
        tokio::spawn(reload::watch(
            path,
            in_use,
            config.secret_reload_interval,
            client.clone(),
            stopped(stop_rx.clone()),
        ));
    }
    let web = Arc::new(arc_swap::ArcSwap::new(config.web.clone()));
    if let Some(path) = config.web_config_file.clone() {
        tokio::spawn(reload::watch_web(
            path,
            config.secret_reload_interval,
            web.clone(),
            metrics.web_config_reload_ok.clone(),
            stopped(stop_rx.clone()),
        ));
    }
    let metadata_task = config.metadata_interval.map(|interval| {
        let publish: Publish<_> = {
            let exposition = exposition.clone();
            Arc::new(move |metadata| exposition.metadata(metadata))
        };
        let poll_config = PollConfig {
            interval,
            ..poll_config.clone()
        };
        let source = MetadataPoll::new(
            client.clone(),
            poll_config.clone(),
            config.tag_labels.clone(),
            unknown_rx,
        );
        let poller = Poller::new(source, &poll_config, metrics.clone(), publish);
        tokio::spawn(poller.run(stopped(stop_rx.clone())))
    });
    let poll_task = tokio::spawn(poller.run(stopped(stop_rx.clone())));
    let state = Arc::new(AppState {
        rendered,
        reports,
        metrics,
        poll_interval: config.poll_interval,
        metadata_interval: config.metadata_interval,
        web,
    });
    http::server::serve(listener, state, server_config, stopped(stop_rx)).await;
    let _ = poll_task.await;
    if let Some(task) = metadata_task {
        let _ = task.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Installs the SIGTERM, SIGINT and SIGHUP handlers now (so a signal sent as soon as the process answers is
/// never fatal); the future completes on the first SIGTERM (containers, systemd) or SIGINT (a terminal). SIGHUP
/// never stops the process: it asks [`reload`] to re-read a secret file, and is otherwise ignored.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(async move {
        loop {
            tokio::select! {
                _ = term.recv() => return tracing::info!(signal = "SIGTERM", "shutting down"),
                _ = int.recv() => return tracing::info!(signal = "SIGINT", "shutting down"),
                _ = hangup.recv() => tracing::debug!(signal = "SIGHUP", "received"),
            }
        }
    })
}
