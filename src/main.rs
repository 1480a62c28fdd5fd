//! The `zenlayer-exporter` binary: flags, configuration, logging, bind, run, exit codes. Nothing else.

use std::process::ExitCode;

use zenlayer_exporter::config::{self, Config};
use zenlayer_exporter::heap;
use zenlayer_exporter::http::server::ServerConfig;
use zenlayer_exporter::http::slots;
use zenlayer_exporter::telemetry::{self, REVISION, VERSION};

fn main() -> ExitCode {
    heap::tune();
    let mut demo = false;
    let mut check_only = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--help" | "-h" => {
                print!("{}", config::help_text());
                return ExitCode::SUCCESS;
            }
            "--version" | "-V" => {
                println!("zenlayer-exporter {VERSION} (revision {REVISION})");
                return ExitCode::SUCCESS;
            }
            "--healthcheck" => {
                return match config::probe_target_from_vars(std::env::vars()).and_then(
                    |(address, tls)| zenlayer_exporter::http::healthcheck::probe(address, tls),
                ) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("unhealthy: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            "--demo" if cfg!(feature = "demo") => demo = true,
            "--demo" => {
                eprintln!("{}", zenlayer_exporter::RunError::NoSimulator);
                return ExitCode::from(2);
            }
            "--check-config" => check_only = true,
            other => {
                eprintln!("unknown argument {other:?}; see --help");
                return ExitCode::from(2);
            }
        }
    }
    let config = match Config::from_env(demo) {
        Ok(config) => config,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(2);
        }
    };
    if check_only {
        print!("configuration is valid:\n{}", config::table(&config.rows()));
        return ExitCode::SUCCESS;
    }
    telemetry::init_logging(config.log_format, &config.log_filter);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        // Handlers go in before anything is served, so a signal sent as soon as we answer is never fatal.
        let shutdown = match zenlayer_exporter::shutdown_signal() {
            Ok(future) => future,
            Err(e) => {
                eprintln!("cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(version = VERSION, revision = REVISION, credentials = %config.auth_summary(), "starting");
        // After each round of status polls: their pages, and at start-up every account's first polls at once.
        tokio::spawn(heap::trim_every(config.poll_interval));
        // Each account of an accounts file is counted in `credentials`; a thousand lines here would bury the rest.
        let accounts = |row: &config::Row| matches!(row.source, config::Source::AccountsFile(_));
        for row in config.rows().into_iter().filter(|row| !accounts(row)) {
            tracing::info!(variable = %row.variable, value = %row.value, source = %row.source, "setting");
        }
        for warning in config.warnings() {
            tracing::warn!(%warning, "risky configuration");
        }
        for name in &config.unknown_variables {
            tracing::warn!(variable = %name, "unknown variable ignored; see --help for the ones read");
        }
        let server = server_limits(&config);
        let listener = match tokio::net::TcpListener::bind(config.listen_address).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(address = %config.listen_address, error = %e, "cannot listen");
                return ExitCode::FAILURE;
            }
        };
        let bound = listener.local_addr().map_or_else(|_| config.listen_address.to_string(), |a| a.to_string());
        tracing::info!(address = %bound, web = %config.web.summary(), "serving /metrics");
        match zenlayer_exporter::run(config, listener, server, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "fatal");
                ExitCode::FAILURE
            }
        }
    });
    // Dropping the runtime would wait for every blocking task, and a file read stuck on a hung mount never ends.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// The server's limits: the connection cap from the open-file limit, raised to its hard limit first. Descriptors
/// for the API calls every account may have in flight (no more than the process lets through) are set aside.
fn server_limits(config: &Config) -> ServerConfig {
    let accounts = config.accounts.as_ref().map_or(1, Vec::len) as u64;
    let api_connections =
        (accounts * config.page_concurrency as u64).min(config.total_concurrency as u64);
    match slots::raise_descriptor_limit() {
        Ok(limit) => {
            let max_connections = slots::connections_for(limit.soft, api_connections);
            tracing::info!(
                soft_before = limit.before,
                soft = limit.soft,
                hard = limit.hard,
                max_connections,
                "open-file limit"
            );
            if max_connections == slots::MIN_CONNECTIONS {
                tracing::warn!(
                    hard = limit.hard,
                    max_connections,
                    "the open-file limit leaves few connections for scrapers; raise it (ulimit -n, LimitNOFILE=)"
                );
            }
            ServerConfig {
                max_connections,
                ..ServerConfig::default()
            }
        }
        Err(e) => {
            let server = ServerConfig::default();
            tracing::warn!(error = %e, max_connections = server.max_connections, "cannot read or raise the open-file limit");
            server
        }
    }
}
