//! The `zenlayer-exporter` binary: flags, configuration, logging, bind, run, exit codes. Nothing else.

use std::process::ExitCode;

/// Tunes glibc's allocator for this process's pattern: a few buffers of megabytes (the rendered exposition, the
/// snapshot) replaced wholesale at every poll. By default glibc raises its mmap threshold after the first such
/// buffer is freed, so later ones land in the heap and their memory stays resident after they are freed; and it
/// keeps up to eight arenas per core. A fixed threshold sends large buffers to mmap, returned to the system the
/// moment they are freed, and two arenas are plenty for a two-thread runtime.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// Hands the free pages of glibc's heaps back to the system every `every`. By itself glibc returns memory only
/// from the top of a heap; what a burst freed below the top stays resident for good. Every account's first polls
/// start at once (at 1,000 accounts, before the process's gate of calls in flight, thousands of connections and
/// pages were in flight; with them gone, 30% of the resident set was such free pages: 253 MB, 179 MB once
/// trimmed). The gate makes the burst smaller, not gone. A pass holds each arena's lock while it walks it, on a
/// blocking thread; how long it took is logged at debug.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
async fn trim_heap(every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let took = tokio::task::spawn_blocking(|| {
            let started = std::time::Instant::now();
            // SAFETY: malloc_trim only releases free memory; it takes the allocator's own locks.
            unsafe { libc::malloc_trim(0) };
            started.elapsed()
        })
        .await;
        if let Ok(took) = took {
            tracing::debug!(
                took_us = took.as_micros() as u64,
                "free heap pages returned"
            );
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
async fn trim_heap(_every: std::time::Duration) {}

use zenlayer_exporter::config::{self, Config};
use zenlayer_exporter::http::server::ServerConfig;
use zenlayer_exporter::http::slots;
use zenlayer_exporter::telemetry::{self, REVISION, VERSION};

fn main() -> ExitCode {
    tune_allocator();
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
        tokio::spawn(trim_heap(config.poll_interval));
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
