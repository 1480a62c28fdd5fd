//! zenlayer-exporter: exports the status of every Zenlayer Cloud compute instance (VM, ZEC, bare metal) to
//! Prometheus.
//!
//! # Layout
//! The unit is one account, each of its products read by its polls: [`status`] (every interval) and
//! [`metadata`] (more slowly; for bare metal, from the status poll's own walk), each a folder holding its poll,
//! its snapshot and its families, both walking pages with [`poll`]. A product is a declaration of [`zenlayer`]'s,
//! not a folder. [`account`] runs that unit once per account: the environment's only one, or each of the
//! accounts file's that the shard owns.
//! - [`account`]: one account with its client and budget, and per product its polls, metrics and what it serves;
//!   the set of accounts this replica polls, reloaded from the accounts file, split over shards.
//! - [`config`]: environment → validated [`Config`]; [`secret`]: credentials that never print; [`reload`]: rotated
//!   secret and web files taken up without a restart; [`store`]: the atomic slot every published value goes
//!   through, and the mailbox a status poll leaves its metadata poller the ids it does not know in; [`heap`]: how
//!   the process uses glibc's heap; [`files`]: the files an operator names, read bounded and regular files only;
//!   [`labels`]: label values from small fixed sets, declared once as enums; [`names`]: account names, their hash
//!   and their shard; [`text`]: the text exposition format, the one writer of its syntax.
//! - [`zenlayer`]: the API client (signing, one call with retries, wire types, typed errors) and the products:
//!   each one's declaration, its rows, the status vocabulary.
//! - [`poll`]: the loop every poll runs (interval, deadline, metrics, publication), the paged walk and the budget.
//! - [`status`]: the status poll, its snapshot and its families.
//! - [`metadata`]: the metadata poll, its snapshot and the tag allow-list.
//! - [`hardware`], [`maintenance`]: bare metal's hardware health (ten servers a call, the servers the status
//!   snapshot lists) and planned maintenance (one call of the maintenance service): each a poll, its snapshot and
//!   its families, served beside the instance families.
//! - [`exposition`]: an account's snapshots → the exposition bytes served, compressed once per change and held
//!   so, and every account's joined family by family for a scrape.
//! - [`web`]: the web configuration (TLS, client certificates, basic authentication), loaded and checked.
//! - [`http`]: the server, its routes and the landing page, the stall bound and the `--healthcheck` self-probe.
//!   [`telemetry`]: self-metrics and logging.
//! - `sim`: a simulator of the Zenlayer API, for `--demo`, tests and benchmarks; only in builds with the
//!   default `demo` feature (the production image has none).
//!
//! [`run`] wires them together and is what tests drive; `main.rs` only parses flags and maps errors to exit codes.

pub mod account;
pub mod config;
pub mod exposition;
pub mod files;
pub mod hardware;
pub mod heap;
pub mod http;
pub mod labels;
pub mod maintenance;
pub mod metadata;
pub mod names;
pub mod poll;
pub mod reload;
pub mod secret;
#[cfg(feature = "demo")]
pub mod sim;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod web;
pub mod zenlayer;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;

use crate::account::set::{Accounts, Shard};
use crate::account::{Account, StartError};
use crate::http::AppState;
use crate::http::server::ServerConfig;
use crate::telemetry::Metrics;
use crate::zenlayer::Endpoint;

/// Why the exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot start the account: {0}")]
    Account(#[from] StartError),
    #[error("cannot start accounts: {0}")]
    Accounts(String),
    #[error("cannot start the demo simulator: {0}")]
    Demo(std::io::Error),
    #[error(
        "--demo needs the simulator, and this build has none (built without the `demo` feature, as the production \
         image is): build with the default features (cargo run --release -- --demo) or use the -demo image"
    )]
    NoSimulator,
    #[error("no credentials configured")]
    NoCredentials,
}

/// Runs the exporter on `listener` with the server limits `server_config` until `shutdown` completes: polls the
/// API, serves `/metrics`, then drains. With `config.demo`, a simulated fleet is started on loopback first and
/// polled over real HTTP.
pub async fn run(
    mut config: Config,
    listener: TcpListener,
    server_config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let metrics = Metrics::new(config.accounts.is_some())?;
    let _demo = start_demo(&mut config).await?;

    // One shutdown tree: the root cancelled by the signal, each account a child of it (stopped alone when the
    // accounts file drops it), the reloads and the server waiting on the root.
    let root = CancellationToken::new();
    tokio::spawn({
        let root = root.clone();
        async move {
            shutdown.await;
            root.cancel();
        }
    });
    let stopped = || root.clone().cancelled_owned();
    // What `POST /-/reload` asks: every watcher of a file, as SIGHUP does.
    let reloads = reload::Reloads::default();

    let accounts = Arc::new(match config.accounts.clone() {
        Some(specs) => {
            let shard = Shard {
                index: config.shard.unwrap_or(0),
                total: config.total_shards,
            };
            let accounts = Accounts::start(specs, shard, &config, &root, &metrics)
                .map_err(RunError::Accounts)?;
            tracing::info!(
                accounts = accounts.all().len(),
                shard = shard.index,
                total_shards = shard.total,
                "polling the accounts of the accounts file this shard owns"
            );
            accounts
        }
        None => {
            let endpoint = Endpoint {
                base_url: config.api_url.clone(),
                auth: config.auth.clone().ok_or(RunError::NoCredentials)?,
                proxy: config.proxy.clone(),
            };
            let account =
                Account::start(None, endpoint, config.products.as_slice(), &config, &root)?;
            if let Some(path) = config.secret_file.clone() {
                tokio::spawn(reload::watch(
                    path,
                    config.secret_reload_interval,
                    account.client.clone(),
                    reloads.clone(),
                    stopped(),
                ));
            }
            Accounts::only(account)
        }
    });
    if let Some(path) = config.accounts_file.clone() {
        tokio::spawn(accounts.clone().watch(
            path,
            config.clone(),
            root.clone(),
            metrics.clone(),
            reloads.clone(),
        ));
    }
    let web = Arc::new(arc_swap::ArcSwap::new(config.web.clone()));
    if let Some(path) = config.web_config_file.clone() {
        tokio::spawn(reload::watch_web(
            path,
            config.secret_reload_interval,
            web.clone(),
            metrics.web_config_reload_ok.clone(),
            reloads.clone(),
            stopped(),
        ));
    }
    let state = Arc::new(AppState {
        accounts: accounts.clone(),
        sd: Arc::new(exposition::sd::Cache::new(metrics.clone())),
        metrics,
        reloads,
        poll_interval: config.poll_interval,
        metadata_interval: config.metadata_interval,
        web,
    });
    http::server::serve(listener, state, server_config, stopped()).await;
    accounts.stopped().await;
    tracing::info!("stopped");
    Ok(())
}

/// In demo mode, the simulated fleet on loopback, with `config` pointed at it; what is returned is kept alive for
/// the whole run, since dropping it stops the simulated API.
#[cfg(feature = "demo")]
async fn start_demo(config: &mut Config) -> Result<Option<sim::Simulator>, RunError> {
    if !config.demo {
        return Ok(None);
    }
    let sim = sim::Simulator::start_demo().await.map_err(RunError::Demo)?;
    tracing::warn!(api_url = %sim.url(), instances = sim.instances(), "DEMO MODE: the instances served are SIMULATED, not a Zenlayer account");
    config.api_url = sim.url();
    config.auth = Some(sim.auth());
    Ok(Some(sim))
}

/// A build without the simulator (the production image's) has no demo to start.
#[cfg(not(feature = "demo"))]
async fn start_demo(config: &mut Config) -> Result<Option<()>, RunError> {
    match config.demo {
        true => Err(RunError::NoSimulator),
        false => Ok(None),
    }
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
