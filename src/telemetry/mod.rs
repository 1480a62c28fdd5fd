//! The exporter's own metrics and the logging set-up: the process-wide ones in one `Registry` (passed around,
//! never global), each account's poll and API metrics as plain counters (`account`). Instance series are not
//! here: they are rendered from snapshots by `exposition::render`.

pub mod account;

use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

pub use crate::config::values::LogFormat;
use crate::text::Format;
use crate::zenlayer::error::ErrorKind;
pub use account::AccountMetrics;

crate::labels::label_values! {
    /// Why the server refused a connection or request (`zenlayer_exporter_http_requests_rejected_total`).
    pub enum Rejected {
        TlsHandshake = "tls_handshake",
        Unauthorized = "unauthorized",
        AuthBusy = "auth_busy",
        Shed = "shed",
        SdBusy = "sd_busy",
    }
}

crate::labels::label_values! {
    /// Why a row of an answer was left out while the rest of the answer was used
    /// (`zenlayer_exporter_rows_skipped_total`).
    pub enum Skipped {
        /// A row that does not decode (a field of the wrong type, an id over the bound): that row alone.
        Row = "row",
        /// A maintenance window whose start or end is no time, or ends before it starts.
        Time = "time",
        /// A hardware health row's temperatures in a unit other than Celsius or Fahrenheit (its components are
        /// served).
        Unit = "unit",
        /// A temperature no sensor reads (below -50 or above 150 °C): that reading alone is left out.
        Value = "value",
    }
}

/// Why a poll failed, as its metric label: an API call's kind of failure, or one of the poll's own (the
/// whole-poll deadline, paging the exporter refused, a bug of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollFailure {
    Api(ErrorKind),
    Deadline,
    Pagination,
    Internal,
}

impl PollFailure {
    /// Every reason: the API's kinds, then the poll's own.
    pub fn all() -> impl Iterator<Item = PollFailure> {
        let own = [
            PollFailure::Deadline,
            PollFailure::Pagination,
            PollFailure::Internal,
        ];
        ErrorKind::ALL
            .iter()
            .copied()
            .map(PollFailure::Api)
            .chain(own)
    }

    /// Its place in [`PollFailure::all`].
    pub fn index(self) -> usize {
        let kinds = ErrorKind::ALL.len();
        match self {
            PollFailure::Api(kind) => crate::labels::Word::index(kind),
            PollFailure::Deadline => kinds,
            PollFailure::Pagination => kinds + 1,
            PollFailure::Internal => kinds + 2,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            PollFailure::Api(kind) => kind.as_str(),
            PollFailure::Deadline => "deadline",
            PollFailure::Pagination => "pagination",
            PollFailure::Internal => "internal",
        }
    }
}

/// The version compiled in, for `--version`, logs and `zenlayer_exporter_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit compiled in (set by `build.rs`; `unknown` outside a git checkout).
pub const REVISION: &str = env!("ZENLAYER_BUILD_REVISION");

/// The process-wide self-metrics: the server's, the configuration's and the process'. Cheap to clone: each
/// field is an `Arc` inside. Each account's own poll and API metrics are an [`AccountMetrics`], apart.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub http_rejected: IntCounterVec,
    pub web_config_reload_ok: Gauge,
    /// Registered only with an accounts file.
    pub config_reload_ok: Gauge,
    /// Registered only with an accounts file: the accounts this shard polls.
    pub accounts_owned: IntGaugeVec,
    /// Registered only with an accounts file: how many accounts it lists, every shard's.
    pub accounts_in_file: IntGauge,
    /// Registered only with an accounts file: accounts a reload moved to another API URL or proxy.
    pub endpoint_changes: IntCounter,
    pub sd_requests: IntCounterVec,
    pub sd_without_address: IntGaugeVec,
    pub scrapes: IntCounterVec,
}

/// `zenlayer_exporter_api_gate_wait_seconds_total`: read from the client's sum when gathered, so the client that
/// keeps it knows no metric type.
struct GateWait {
    opts: Opts,
    desc: prometheus::core::Desc,
}

impl GateWait {
    fn new(opts: Opts) -> Result<GateWait, prometheus::Error> {
        let counter = prometheus::Counter::with_opts(opts.clone())?;
        let desc = prometheus::core::Collector::desc(&counter)[0].clone();
        Ok(GateWait { opts, desc })
    }
}

impl prometheus::core::Collector for GateWait {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        // The options were accepted once (`new`), so they are again.
        let Ok(counter) = prometheus::Counter::with_opts(self.opts.clone()) else {
            return Vec::new();
        };
        counter.inc_by(crate::zenlayer::transport::gate_waited().as_secs_f64());
        prometheus::core::Collector::collect(&counter)
    }
}

/// The answers `/sd` gives, counted by `zenlayer_exporter_sd_requests_total{code}`.
pub const SD_CODES: [http::StatusCode; 6] = [
    http::StatusCode::OK,
    http::StatusCode::NOT_MODIFIED,
    http::StatusCode::BAD_REQUEST,
    http::StatusCode::NOT_FOUND,
    http::StatusCode::INTERNAL_SERVER_ERROR,
    http::StatusCode::SERVICE_UNAVAILABLE,
];

impl Metrics {
    /// A fresh registry with every process-wide self-metric registered (the accounts file's only with
    /// `accounts_file`), every known label value present at zero, and the process collector where the platform
    /// has one.
    /// Counts a refused connection or request.
    pub fn reject(&self, reason: Rejected) {
        self.http_rejected
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    pub fn new(accounts_file: bool) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_rejected = IntCounterVec::new(
            Opts::new(
                "zenlayer_exporter_http_requests_rejected_total",
                "Connections or requests refused: by the web configuration, a failed TLS handshake (no or an \
                 untrusted client certificate, plain HTTP to the TLS port), missing or wrong basic \
                 authentication, or too many password checks already in progress (auth_busy, answered 503); at \
                 the connection cap, a connection closed before it sent a request to make room for a new one \
                 (shed); a /sd request that needed a render while too many were already started or waiting \
                 (sd_busy, answered 503).",
            ),
            &["reason"],
        )?;
        for reason in Rejected::ALL {
            http_rejected.with_label_values(&[reason.as_str()]);
        }
        let web_config_reload_ok = Gauge::new(
            "zenlayer_exporter_web_config_last_reload_successful",
            "1 if the web configuration file (and the files it names) last loaded cleanly, else 0: it does not \
             load, or it would drop TLS, client certificates or users, which only a restart does; the previous \
             configuration is still in use.",
        )?;
        web_config_reload_ok.set(1.0);
        let config_reload_ok = Gauge::new(
            "zenlayer_exporter_config_last_reload_successful",
            "1 if the accounts file (and the secret files it names) last loaded cleanly, else 0; the previous \
             accounts are still polled.",
        )?;
        config_reload_ok.set(1.0);
        let accounts_owned = IntGaugeVec::new(
            Opts::new(
                "zenlayer_exporter_account_owned",
                "Always 1: one series per account of the accounts file this shard polls (shard and \
                 total_shards label it); the union over the shards is every account, exactly once.",
            ),
            &["account", "shard", "total_shards"],
        )?;
        let accounts_in_file = IntGauge::new(
            "zenlayer_exporter_accounts_file_accounts",
            "The accounts the accounts file listed when it was last applied, every shard's (each shard polls \
             those zenlayer_exporter_account_owned names): a shard whose distinct owned accounts, summed over \
             the shards, fall short of this leaves accounts unpolled.",
        )?;
        let endpoint_changes = IntCounter::new(
            "zenlayer_exporter_account_endpoint_changes_total",
            "Accounts a reload of the accounts file moved to another api_url or proxy (each starts afresh there, \
             with its credentials): an unexpected increase is an edit worth checking.",
        )?;
        let sd_requests = IntCounterVec::new(
            Opts::new(
                "zenlayer_exporter_sd_requests_total",
                "Requests to /sd (Prometheus HTTP service discovery) by HTTP status code: 200 answered, 304 not \
                 modified since the client's copy, 400 a bad parameter, 404 an account this replica does not \
                 poll, 500 the rendering failed, 503 no metadata yet (or the metadata poll is off) or too many renders \
                 at once.",
            ),
            &["code"],
        )?;
        for code in SD_CODES {
            sd_requests.with_label_values(&[code.as_str()]);
        }
        let sd_without_address = IntGaugeVec::new(
            Opts::new(
                "zenlayer_exporter_sd_instances_without_address",
                "Instances the latest /sd answer for this kind of address left out because they have no IPv4 \
                 address of that kind (among the instances it asked for: statuses, account).",
            ),
            &["address"],
        )?;
        let scrapes = IntCounterVec::new(
            Opts::new(
                "zenlayer_exporter_scrapes_total",
                "Scrapes of /metrics and /probe answered, by the format the scraper's Accept header chose: text \
                 (0.0.4) or openmetrics (1.0.0).",
            ),
            &["format"],
        )?;
        for format in Format::ALL {
            scrapes.with_label_values(&[format.as_str()]);
        }
        // Its label values are /sd's to give: `exposition::sd::Cache::new` sets each at zero.
        let build_info = IntGaugeVec::new(
            Opts::new(
                "zenlayer_exporter_build_info",
                "Always 1; labels give the version and revision of the running exporter.",
            ),
            &["version", "revision"],
        )?;
        build_info.with_label_values(&[VERSION, REVISION]).set(1);

        registry.register(Box::new(http_rejected.clone()))?;
        registry.register(Box::new(web_config_reload_ok.clone()))?;
        if accounts_file {
            registry.register(Box::new(config_reload_ok.clone()))?;
            registry.register(Box::new(accounts_owned.clone()))?;
            registry.register(Box::new(accounts_in_file.clone()))?;
            registry.register(Box::new(endpoint_changes.clone()))?;
            registry.register(Box::new(GateWait::new(Opts::new(
                "zenlayer_exporter_api_gate_wait_seconds_total",
                "Seconds API calls waited for a place in the process's ZENLAYER_EXPORTER_TOTAL_CONCURRENCY calls \
                 in flight, summed over calls: while it rises, the gate holds calls back, not the accounts' own \
                 budgets or the API.",
            ))?))?;
        }
        registry.register(Box::new(sd_requests.clone()))?;
        registry.register(Box::new(sd_without_address.clone()))?;
        registry.register(Box::new(scrapes.clone()))?;
        registry.register(Box::new(build_info))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics {
            registry,
            http_rejected,
            web_config_reload_ok,
            config_reload_ok,
            accounts_owned,
            accounts_in_file,
            endpoint_changes,
            sd_requests,
            sd_without_address,
            scrapes,
        })
    }
}

/// Installs the global tracing subscriber: `filter` is a `RUST_LOG` directive string, already validated by config.
/// Logs go to standard error, so standard output stays clean for `--help` and `--check-config`.
pub fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second initialisation (tests running `run` twice in one process) is harmless: keep the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
