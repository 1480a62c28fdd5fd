//! Environment → validated `Config`, once, at start-up: every variable, its default and its help text live in
//! `VARIABLES`; every problem is collected and reported together, each naming its variable; secrets are redacted.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::exposition::render::StatusSeries;
use crate::http::web::WebConfig;
use crate::metadata::TagLabels;
use crate::secret::Secret;
use crate::telemetry::LogFormat;
use crate::zenlayer::client::{Auth, Proxy, is_loopback};
use crate::zenlayer::model::MAX_PAGE_SIZE;

/// One configuration variable: its name, its default (as the text an operator would write) and what it does.
pub struct Variable {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

const fn var(name: &'static str, default: &'static str, help: &'static str) -> Variable {
    Variable {
        name,
        default,
        help,
    }
}

/// Every variable read, in the order `--help` and the README list them. Defaults are parsed by the same code as
/// the operator's values, so this table is the only place they are written.
pub const VARIABLES: &[Variable] = &[
    var(
        "ZENLAYERCLOUD_ACCESS_KEY_ID",
        "",
        "access key id (as the vendor's Terraform provider names it)",
    ),
    var("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", "", "access key secret"),
    var(
        "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD_FILE",
        "",
        "path of a file holding the access key secret",
    ),
    var(
        "ZENLAYERCLOUD_ACCESS_TOKEN",
        "",
        "personal access token, instead of the key pair",
    ),
    var(
        "ZENLAYERCLOUD_ACCESS_TOKEN_FILE",
        "",
        "path of a file holding the access token",
    ),
    var(
        "ZENLAYER_EXPORTER_API_URL",
        "https://console.zenlayer.com",
        "API base URL",
    ),
    var(
        "ZENLAYER_EXPORTER_API_VERSION",
        "2023-03-13",
        "X-ZC-Version sent (2023-03-13 or 2026-04-01)",
    ),
    var(
        "ZENLAYER_EXPORTER_LISTEN_ADDRESS",
        "0.0.0.0:9612",
        "address:port where /metrics is served (:port for all IPv4 addresses)",
    ),
    var(
        "ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS",
        "30",
        "seconds between poll starts, 1 to 86400",
    ),
    var(
        "ZENLAYER_EXPORTER_POLL_TIMEOUT_SECONDS",
        "300",
        "bound on one whole poll, every page and retry included",
    ),
    var(
        "ZENLAYER_EXPORTER_PAGE_SIZE",
        "1000",
        "instances per API page, 1 to 1000",
    ),
    var(
        "ZENLAYER_EXPORTER_PAGE_CONCURRENCY",
        "4",
        "pages in flight once the first page has told the total, 1 to 64",
    ),
    var(
        "ZENLAYER_EXPORTER_REQUEST_TIMEOUT_SECONDS",
        "10",
        "bound on one API call, body included",
    ),
    var(
        "ZENLAYER_EXPORTER_MAX_RETRIES",
        "3",
        "retries per call for throttling, server and network errors, 0 to 10",
    ),
    var(
        "ZENLAYER_EXPORTER_STATUS_SERIES",
        "current",
        "current (one series per instance) or all (a state set)",
    ),
    var(
        "ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS",
        "300",
        "seconds between DescribeInstances polls (names, zones, tags, expiry); 0 turns them off",
    ),
    var(
        "ZENLAYER_EXPORTER_TAG_LABELS",
        "",
        "comma-separated tag keys exported as tag_<key> labels of zenlayer_vm_instance_info",
    ),
    var(
        "ZENLAYER_EXPORTER_WEB_CONFIG_FILE",
        "",
        "web configuration file (exporter-toolkit format): TLS, client certificates, basic authentication",
    ),
    var("ZENLAYER_EXPORTER_LOG_FORMAT", "text", "text or json"),
    var(
        "RUST_LOG",
        "info",
        "log level and filters (tracing-subscriber EnvFilter syntax)",
    ),
];

/// The validated configuration the exporter runs with. Its `Debug` is what the start-up log shows: compact,
/// with credentials redacted.
#[derive(Clone)]
pub struct Config {
    /// `None` only in demo mode, where the built-in simulator's credentials are used.
    pub auth: Option<Auth>,
    pub api_url: Url,
    pub api_version: String,
    pub listen_address: SocketAddr,
    pub poll_interval: Duration,
    pub poll_timeout: Duration,
    pub page_size: u32,
    pub page_concurrency: usize,
    pub request_timeout: Duration,
    pub max_retries: u32,
    /// First retry delay. Not an environment variable: 1 s matches the vendor's SDKs; tests shorten it.
    pub retry_backoff_base: Duration,
    pub status_series: StatusSeries,
    /// Between `DescribeInstances` polls; `None` when they are off.
    pub metadata_interval: Option<Duration>,
    /// Tag keys that become labels of the info series.
    pub tag_labels: Arc<TagLabels>,
    /// TLS and authentication of the endpoints; plain HTTP without a web configuration file.
    pub web: Arc<WebConfig>,
    /// The file `web` came from, re-read so renewed certificates and changed users take effect.
    pub web_config_file: Option<PathBuf>,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Run against the built-in simulated fleet.
    pub demo: bool,
    /// The file the secret in `auth` came from (a `_FILE` variable), re-read so a rotated secret takes effect.
    pub secret_file: Option<PathBuf>,
    /// How often that file is checked (it is also re-read on SIGHUP). Not an environment variable.
    pub secret_reload_interval: Duration,
    /// Variables set under our prefixes that nothing reads: likely typos, logged at start-up.
    pub unknown_variables: Vec<String>,
    /// The proxy to the API, from the standard `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY` variables.
    pub proxy: Option<Proxy>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            None => "none (demo)".to_owned(),
            Some(Auth::Signature { access_key_id, .. }) => {
                format!("access key {access_key_id} (secret redacted)")
            }
            Some(Auth::Bearer { .. }) => "bearer token (redacted)".to_owned(),
        };
        f.debug_struct("Config")
            .field("auth", &auth)
            .field(
                "api_url",
                &if self.demo {
                    "a simulated fleet on loopback (demo)"
                } else {
                    self.api_url.as_str()
                },
            )
            .field("api_version", &self.api_version)
            .field("listen_address", &self.listen_address)
            .field("poll_interval", &self.poll_interval)
            .field("poll_timeout", &self.poll_timeout)
            .field("page_size", &self.page_size)
            .field("page_concurrency", &self.page_concurrency)
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("status_series", &self.status_series)
            .field("metadata_interval", &self.metadata_interval)
            .field("tag_labels", &self.tag_labels.keys())
            .field("web", &self.web)
            .field("proxy", &self.proxy)
            .field("log_format", &self.log_format)
            .field("log_filter", &self.log_filter)
            .field("demo", &self.demo)
            .finish()
    }
}

/// One configuration problem, naming its variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub variable: &'static str,
    pub message: String,
}

/// Every problem found, reported together so an operator fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem{}):",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {}: {}", p.variable, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The environment as envy reads it: every value a string, so each is parsed here with a message that names its
/// variable instead of a deserializer's generic one.
#[derive(Deserialize, Default)]
struct RawEnv {
    zenlayercloud_access_key_id: Option<String>,
    zenlayercloud_access_key_password: Option<String>,
    zenlayercloud_access_key_password_file: Option<String>,
    zenlayercloud_access_token: Option<String>,
    zenlayercloud_access_token_file: Option<String>,
    zenlayer_exporter_api_url: Option<String>,
    zenlayer_exporter_api_version: Option<String>,
    zenlayer_exporter_listen_address: Option<String>,
    zenlayer_exporter_poll_interval_seconds: Option<String>,
    zenlayer_exporter_poll_timeout_seconds: Option<String>,
    zenlayer_exporter_page_size: Option<String>,
    zenlayer_exporter_page_concurrency: Option<String>,
    zenlayer_exporter_request_timeout_seconds: Option<String>,
    zenlayer_exporter_max_retries: Option<String>,
    zenlayer_exporter_status_series: Option<String>,
    zenlayer_exporter_metadata_interval_seconds: Option<String>,
    zenlayer_exporter_tag_labels: Option<String>,
    zenlayer_exporter_web_config_file: Option<String>,
    zenlayer_exporter_log_format: Option<String>,
    rust_log: Option<String>,
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn fail(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems.push(Problem {
            variable,
            message: message.into(),
        });
    }

    /// The value set, or the table's default. An empty value counts as unset, as `VAR=` in an env file means.
    fn value<'a>(&self, variable: &'static str, raw: &'a Option<String>) -> &'a str {
        match raw.as_deref() {
            Some(v) if !v.is_empty() => v,
            _ => default_of(variable),
        }
    }

    fn integer<T>(
        &mut self,
        variable: &'static str,
        raw: &Option<String>,
        min: T,
        max: T,
    ) -> Option<T>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let text = self.value(variable, raw);
        match text.trim().parse::<T>() {
            Ok(n) if n >= min && n <= max => Some(n),
            _ => {
                self.fail(
                    variable,
                    format!(
                        "must be a whole number from {min} to {max}, got {}",
                        quote(text)
                    ),
                );
                None
            }
        }
    }

    fn seconds(
        &mut self,
        variable: &'static str,
        raw: &Option<String>,
        min: f64,
        max: f64,
    ) -> Option<Duration> {
        let text = self.value(variable, raw);
        match text.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n >= min && n <= max => Some(Duration::from_secs_f64(n)),
            _ => {
                self.fail(
                    variable,
                    format!(
                        "must be a number of seconds from {min} to {max}, got {}",
                        quote(text)
                    ),
                );
                None
            }
        }
    }

    /// A secret given directly or through a `_FILE` path; never both. The value itself never reaches a message.
    fn secret(
        &mut self,
        variable: &'static str,
        file_variable: &'static str,
        direct: &Option<String>,
        file: &Option<String>,
    ) -> Option<Secret> {
        let direct = direct.as_deref().filter(|v| !v.is_empty());
        let file = file.as_deref().filter(|v| !v.is_empty());
        let (source, checked) = match (direct, file) {
            (None, None) => return None,
            (Some(_), Some(_)) => {
                self.fail(
                    file_variable,
                    format!("set either {variable} or {file_variable}, not both"),
                );
                return None;
            }
            (Some(value), None) => (variable, check_secret(value)),
            (None, Some(path)) => (file_variable, read_secret_file(Path::new(path))),
        };
        checked.map_err(|message| self.fail(source, message)).ok()
    }
}

/// Reads a secret from a file: trailing newlines dropped (editors and `kubectl create secret --from-file` add
/// them), not empty, sendable in an HTTP header. The message never contains the value.
pub fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", quote(&path.display().to_string())))?;
    check_secret(text.trim_end_matches(['\n', '\r']))
}

fn check_secret(value: &str) -> Result<Secret, String> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    if !header_safe(value) {
        return Err("contains characters that cannot be sent in an HTTP header (control characters or non-ASCII)".into());
    }
    Ok(Secret::new(value))
}

fn default_of(variable: &str) -> &'static str {
    VARIABLES
        .iter()
        .find(|v| v.name == variable)
        .map_or("", |v| v.default)
}

/// A value quoted for a message, clipped so a pasted blob does not flood the terminal.
fn quote(text: &str) -> String {
    let clipped: String = text.chars().take(80).collect();
    format!(
        "{:?}{}",
        clipped,
        if text.chars().count() > 80 { "…" } else { "" }
    )
}

/// `text` with the user-info of its authority (what comes before an `@` in `scheme://user:password@host/`)
/// replaced by `…`. Textual, so it also works on a URL that does not parse.
fn without_userinfo(text: &str) -> String {
    let start = text.find("://").map_or(0, |i| i + 3);
    let authority_end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    match text[start..authority_end].rfind('@') {
        Some(at) => format!("{}…{}", &text[..start], &text[start + at..]),
        None => text.to_owned(),
    }
}

fn header_safe(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn parse_listen(text: &str) -> Option<SocketAddr> {
    if let Some(port) = text.strip_prefix(':') {
        return port
            .parse()
            .ok()
            .map(|p| SocketAddr::from((Ipv4Addr::UNSPECIFIED, p)));
    }
    text.parse().ok()
}

/// What `--healthcheck` probes: the listen address, and whether to try TLS first. It must work without
/// credentials and in demo mode, so it reads nothing else; and it must never fail on a web configuration the
/// running server tolerates (a reload that did not load keeps the server as it was), so the file is only a hint
/// and the probe tries the other transport too.
pub fn probe_target_from_vars(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(SocketAddr, bool), String> {
    const LISTEN: &str = "ZENLAYER_EXPORTER_LISTEN_ADDRESS";
    const WEB: &str = "ZENLAYER_EXPORTER_WEB_CONFIG_FILE";
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let get = |name: &str| {
        vars.iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let text = get(LISTEN).unwrap_or_else(|| default_of(LISTEN).to_owned());
    let address =
        parse_listen(&text).ok_or_else(|| format!("{LISTEN}: cannot parse {}", quote(&text)))?;
    let tls_first = get(WEB).is_some_and(|path| crate::http::web::asks_for_tls(Path::new(&path)));
    Ok((address, tls_first))
}

impl Config {
    /// Settings that are valid but risky, for the start-up log: a bearer token sent in clear to another host.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let loopback = is_loopback(&self.api_url);
        if self.metadata_interval.is_none() && !self.tag_labels.is_empty() {
            out.push("ZENLAYER_EXPORTER_TAG_LABELS is set but ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS is 0: no tags are read".to_owned());
        }
        if self.api_url.scheme() == "http" && !loopback && !self.demo {
            out.push(match self.auth {
                Some(Auth::Bearer { .. }) => "ZENLAYER_EXPORTER_API_URL is plain http to another host: the access token travels in clear; use https",
                _ => "ZENLAYER_EXPORTER_API_URL is plain http to another host: requests can be read and replayed on the way; use https",
            }.to_owned());
        }
        out
    }

    /// Reads the process environment.
    pub fn from_env(demo: bool) -> Result<Config, ConfigError> {
        Config::from_vars(std::env::vars(), demo)
    }

    /// Reads the given variables: tests pass a table instead of touching the process environment.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
        demo: bool,
    ) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let unknown_variables = vars
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("ZENLAYER_EXPORTER_") || k.starts_with("ZENLAYERCLOUD_"))
            .filter(|k| !VARIABLES.iter().any(|v| v.name == k.as_str()))
            // Kubernetes injects SERVICE_HOST/PORT variables for a Service named like the exporter.
            .filter(|k| !(k.contains("_SERVICE_") || k.contains("_PORT")))
            .cloned()
            .collect();
        let proxy_vars: Vec<(String, String)> = vars
            .iter()
            .filter(|(k, v)| PROXY_VARIABLES.contains(&k.as_str()) && !v.is_empty())
            .cloned()
            .collect();
        let raw: RawEnv = envy::from_iter(
            vars.into_iter()
                .filter(|(k, _)| VARIABLES.iter().any(|v| v.name == k.as_str())),
        )
        .unwrap_or_default();
        let mut c = Checker {
            problems: Vec::new(),
        };

        let auth = if demo {
            None
        } else {
            credentials(&mut c, &raw)
        };
        let secret_file = match &auth {
            Some(Auth::Bearer { .. }) => raw.zenlayercloud_access_token_file.clone(),
            Some(Auth::Signature { .. }) => raw.zenlayercloud_access_key_password_file.clone(),
            None => None,
        }
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);

        let api_url_text = c.value("ZENLAYER_EXPORTER_API_URL", &raw.zenlayer_exporter_api_url);
        // Quoted in messages without any user-info: `https://user:password@host` must not reach a terminal or log.
        let shown = quote(&without_userinfo(api_url_text));
        let api_url = match Url::parse(api_url_text) {
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                c.fail(
                    "ZENLAYER_EXPORTER_API_URL",
                    format!("must be an http or https URL, got {shown}"),
                );
                None
            }
            Ok(url)
                if url.host().is_none()
                    || url.query().is_some()
                    || !url.username().is_empty()
                    || url.password().is_some() =>
            {
                c.fail(
                    "ZENLAYER_EXPORTER_API_URL",
                    format!(
                        "must be scheme://host[:port][/path], without credentials or query, got {shown}"
                    ),
                );
                None
            }
            Ok(url) => Some(url),
            Err(e) => {
                c.fail(
                    "ZENLAYER_EXPORTER_API_URL",
                    format!("is not a URL ({e}): {shown}"),
                );
                None
            }
        };

        let proxy = api_url
            .as_ref()
            .and_then(|url| proxy_for(&mut c, url, &proxy_vars));

        let api_version = c
            .value(
                "ZENLAYER_EXPORTER_API_VERSION",
                &raw.zenlayer_exporter_api_version,
            )
            .to_owned();
        if !api_version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            c.fail(
                "ZENLAYER_EXPORTER_API_VERSION",
                format!("must look like 2023-03-13, got {}", quote(&api_version)),
            );
        }

        let listen_text = c.value(
            "ZENLAYER_EXPORTER_LISTEN_ADDRESS",
            &raw.zenlayer_exporter_listen_address,
        );
        let listen_address = parse_listen(listen_text);
        if listen_address.is_none() {
            c.fail(
                "ZENLAYER_EXPORTER_LISTEN_ADDRESS",
                format!(
                    "must be IP:PORT ([::]:9612 for IPv6) or :PORT, got {}",
                    quote(listen_text)
                ),
            );
        }

        let poll_interval = c.seconds(
            "ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS",
            &raw.zenlayer_exporter_poll_interval_seconds,
            1.0,
            86_400.0,
        );
        let poll_timeout = c.seconds(
            "ZENLAYER_EXPORTER_POLL_TIMEOUT_SECONDS",
            &raw.zenlayer_exporter_poll_timeout_seconds,
            1.0,
            86_400.0,
        );
        let page_size = c.integer(
            "ZENLAYER_EXPORTER_PAGE_SIZE",
            &raw.zenlayer_exporter_page_size,
            1,
            MAX_PAGE_SIZE,
        );
        let page_concurrency = c.integer(
            "ZENLAYER_EXPORTER_PAGE_CONCURRENCY",
            &raw.zenlayer_exporter_page_concurrency,
            1usize,
            64,
        );
        let request_timeout = c.seconds(
            "ZENLAYER_EXPORTER_REQUEST_TIMEOUT_SECONDS",
            &raw.zenlayer_exporter_request_timeout_seconds,
            0.1,
            600.0,
        );
        let max_retries = c.integer(
            "ZENLAYER_EXPORTER_MAX_RETRIES",
            &raw.zenlayer_exporter_max_retries,
            0u32,
            10,
        );
        if let (Some(request), Some(poll)) = (request_timeout, poll_timeout) {
            if request > poll {
                c.fail(
                    "ZENLAYER_EXPORTER_REQUEST_TIMEOUT_SECONDS",
                    format!(
                        "must not exceed ZENLAYER_EXPORTER_POLL_TIMEOUT_SECONDS ({}s > {}s)",
                        request.as_secs_f64(),
                        poll.as_secs_f64()
                    ),
                );
            }
        }

        let series_text = c.value(
            "ZENLAYER_EXPORTER_STATUS_SERIES",
            &raw.zenlayer_exporter_status_series,
        );
        let status_series = match series_text {
            "current" => Some(StatusSeries::Current),
            "all" => Some(StatusSeries::All),
            other => {
                c.fail(
                    "ZENLAYER_EXPORTER_STATUS_SERIES",
                    format!("must be current or all, got {}", quote(other)),
                );
                None
            }
        };
        let metadata_interval = c
            .seconds(
                "ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS",
                &raw.zenlayer_exporter_metadata_interval_seconds,
                0.0,
                86_400.0,
            )
            .and_then(|interval| match interval.as_secs_f64() {
                0.0 => Some(None),
                s if s < 1.0 => {
                    c.fail(
                        "ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS",
                        format!("must be 0 (off) or from 1 to 86400, got {s}"),
                    );
                    None
                }
                _ => Some(Some(interval)),
            });
        let tag_labels = match TagLabels::parse(c.value(
            "ZENLAYER_EXPORTER_TAG_LABELS",
            &raw.zenlayer_exporter_tag_labels,
        )) {
            Ok(tags) => Some(tags),
            Err(problems) => {
                for problem in problems {
                    c.fail("ZENLAYER_EXPORTER_TAG_LABELS", problem);
                }
                None
            }
        };
        let web_config_file = raw
            .zenlayer_exporter_web_config_file
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        let web = match &web_config_file {
            None => Some(WebConfig::plain()),
            Some(path) => match WebConfig::load(path) {
                Ok(web) => Some(web),
                Err(problems) => {
                    for problem in problems {
                        c.fail("ZENLAYER_EXPORTER_WEB_CONFIG_FILE", problem);
                    }
                    None
                }
            },
        };
        let format_text = c.value(
            "ZENLAYER_EXPORTER_LOG_FORMAT",
            &raw.zenlayer_exporter_log_format,
        );
        let log_format = match format_text {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            other => {
                c.fail(
                    "ZENLAYER_EXPORTER_LOG_FORMAT",
                    format!("must be text or json, got {}", quote(other)),
                );
                None
            }
        };
        let log_filter = c.value("RUST_LOG", &raw.rust_log).to_owned();
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_filter) {
            c.fail(
                "RUST_LOG",
                format!("is not a valid filter ({e}): {}", quote(&log_filter)),
            );
        }

        match (
            api_url,
            listen_address,
            poll_interval,
            poll_timeout,
            page_size,
            page_concurrency,
            request_timeout,
            max_retries,
            status_series,
            metadata_interval,
            tag_labels,
            web,
            log_format,
        ) {
            (
                Some(api_url),
                Some(listen_address),
                Some(poll_interval),
                Some(poll_timeout),
                Some(page_size),
                Some(page_concurrency),
                Some(request_timeout),
                Some(max_retries),
                Some(status_series),
                Some(metadata_interval),
                Some(tag_labels),
                Some(web),
                Some(log_format),
            ) if c.problems.is_empty() => Ok(Config {
                auth,
                api_url,
                api_version,
                listen_address,
                poll_interval,
                poll_timeout,
                page_size,
                page_concurrency,
                request_timeout,
                max_retries,
                retry_backoff_base: Duration::from_secs(1),
                status_series,
                metadata_interval,
                tag_labels: Arc::new(tag_labels),
                web: Arc::new(web),
                web_config_file,
                log_format,
                log_filter,
                demo,
                secret_file,
                secret_reload_interval: Duration::from_secs(10),
                unknown_variables,
                proxy,
            }),
            _ => Err(ConfigError {
                problems: c.problems,
            }),
        }
    }
}

/// The standard proxy variables, read as Go programs (and so most exporters) read them: upper case first.
const PROXY_VARIABLES: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The proxy for calls to `api`: `HTTPS_PROXY` for an https API (`HTTP_PROXY` for http), else `ALL_PROXY`, each
/// in upper then lower case, with `NO_PROXY`. A proxy without a scheme is taken as `http://`, as Go does.
fn proxy_for(c: &mut Checker, api: &Url, vars: &[(String, String)]) -> Option<Proxy> {
    let get = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let names: [&'static str; 4] = if api.scheme() == "https" {
        ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    let (variable, text) = names
        .into_iter()
        .find_map(|name| get(name).map(|text| (name, text)))?;
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    match Url::parse(&with_scheme) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Some(Proxy {
                url,
                variable,
                no_proxy: get("NO_PROXY")
                    .or_else(|| get("no_proxy"))
                    .map(str::to_owned),
            })
        }
        _ => {
            c.fail(
                variable,
                format!(
                    "must be an http:// or https:// proxy URL (host[:port] alone means http://), got {}",
                    quote(&without_userinfo(text))
                ),
            );
            None
        }
    }
}

fn credentials(c: &mut Checker, raw: &RawEnv) -> Option<Auth> {
    const ID: &str = "ZENLAYERCLOUD_ACCESS_KEY_ID";
    const PASSWORD: &str = "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD";
    const TOKEN: &str = "ZENLAYERCLOUD_ACCESS_TOKEN";
    let id = raw
        .zenlayercloud_access_key_id
        .as_deref()
        .filter(|v| !v.is_empty());
    let password = c.secret(
        PASSWORD,
        "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD_FILE",
        &raw.zenlayercloud_access_key_password,
        &raw.zenlayercloud_access_key_password_file,
    );
    let token = c.secret(
        TOKEN,
        "ZENLAYERCLOUD_ACCESS_TOKEN_FILE",
        &raw.zenlayercloud_access_token,
        &raw.zenlayercloud_access_token_file,
    );
    let pair_given = id.is_some() || password.is_some();
    if pair_given && token.is_some() {
        c.fail(
            TOKEN,
            format!(
                "set either the access key pair ({ID}, {PASSWORD}) or the access token, not both"
            ),
        );
        return None;
    }
    if let Some(token) = token {
        return Some(Auth::Bearer { token });
    }
    match (id, password) {
        (Some(id), Some(secret)) if header_safe(id) && !id.contains(',') => Some(Auth::Signature {
            access_key_id: id.to_owned(),
            secret,
        }),
        (Some(id), Some(_)) => {
            c.fail(
                ID,
                format!("must be printable ASCII without commas, got {}", quote(id)),
            );
            None
        }
        (Some(_), None) => {
            // Only complain about the missing secret if it was not already reported as unreadable or bad.
            if !c.problems.iter().any(|p| p.variable.starts_with(PASSWORD)) {
                c.fail(
                    PASSWORD,
                    format!("is required with {ID} (or set {PASSWORD}_FILE)"),
                );
            }
            None
        }
        (None, Some(_)) => {
            c.fail(ID, format!("is required with {PASSWORD}"));
            None
        }
        (None, None) => {
            if !c
                .problems
                .iter()
                .any(|p| p.variable.starts_with("ZENLAYERCLOUD_"))
            {
                c.fail(ID, format!(
                    "no credentials: set {ID} and {PASSWORD} (or {PASSWORD}_FILE), or {TOKEN} (or {TOKEN}_FILE); or run with --demo"
                ));
            }
            None
        }
    }
}

/// The `--help` text: usage, flags, and every variable with its default.
pub fn help_text() -> String {
    let mut out = String::from(concat!(
        "zenlayer-exporter ",
        env!("CARGO_PKG_VERSION"),
        "\n",
        "Prometheus exporter for the status of every Zenlayer Cloud VM instance.\n\n",
        "Usage: zenlayer-exporter [--demo] [--check-config | --healthcheck]\n\n",
        "Flags:\n",
        "  --demo          run against a built-in simulated fleet (no credentials needed)\n",
        "  --check-config  validate the configuration, print it redacted, and exit\n",
        "  --healthcheck   probe a running exporter's /healthz on the listen address (for container HEALTHCHECKs)\n",
        "  --help          print this help\n",
        "  --version       print the version\n\n",
        "Configuration is read from the environment:\n",
    ));
    let width = VARIABLES.iter().map(|v| v.name.len()).max().unwrap_or(0);
    for v in VARIABLES {
        let default = if v.default.is_empty() {
            String::new()
        } else {
            format!(" (default {})", v.default)
        };
        out.push_str(&format!("  {:width$}  {}{}\n", v.name, v.help, default));
    }
    out.push_str("\nExit codes: 0 normal stop, 1 fatal error, 2 bad configuration.\n");
    out
}
