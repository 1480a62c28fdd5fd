//! Every environment setting, declared once: its variable, default, help text, parser and `Config` field. The
//! `settings!` macro turns that one list into the `VARIABLES` table (for `--help` and the README check), the
//! typed fields of [`Config`], the reading of the environment with every problem named, and the `Debug` line of
//! the start-up log, where a secret shows as `<redacted>` because of its type. Checks that involve several
//! variables (credentials, timeouts, the web configuration file) are `config`'s.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::Problem;
use super::values::{LogFormat, Refused, StatusSeries, TagLabels, api_url, quote};
use crate::secret::Secret;
use crate::zenlayer::model::MAX_PAGE_SIZE;

/// One configuration variable: its name, its default (as the text an operator would write) and what it does.
pub struct Variable {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Declares the settings read from the environment, and the fields of [`Config`] derived from several of them.
macro_rules! settings {
    (
        read { $( $field:ident : $ty:ty = ($name:literal, $default:literal, $help:literal, $parse:expr); )* }
        derived { $( $(#[doc = $ddoc:literal])* $dfield:ident : $dty:ty, )* }
    ) => {
        /// Every variable read, in the order `--help` and the README list them. Defaults are parsed by the same
        /// code as the operator's values, so this table is the only place they are written.
        pub const VARIABLES: &[Variable] = &[
            $( Variable { name: $name, default: $default, help: $help }, )*
        ];

        /// The validated configuration the exporter runs with. Its `Debug` is what the start-up log shows, with
        /// credentials redacted.
        #[derive(Clone)]
        pub struct Config {
            $( #[doc = $help] pub $field: $ty, )*
            $( $(#[doc = $ddoc])* pub $dfield: $dty, )*
        }

        /// The settings as read, each `None` when its value was refused, before the checks across variables.
        pub(super) struct Read {
            $( pub(super) $field: Option<$ty>, )*
        }

        /// What is derived from several settings.
        pub(super) struct Derived {
            $( pub(super) $dfield: $dty, )*
        }

        impl Read {
            /// Parses every setting from `get` (an empty value counts as unset, as `VAR=` in an env file means),
            /// each problem under its variable.
            pub(super) fn from(get: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<Problem>) -> Read {
                $(
                    let text = get($name).filter(|v| !v.is_empty()).unwrap_or_else(|| $default.to_owned());
                    let $field = match ($parse)(text.as_str()) {
                        Ok(value) => Some(value),
                        Err(refused) => {
                            problems.extend(refused.into_iter().map(|message| Problem { variable: $name, message }));
                            None
                        }
                    };
                )*
                Read { $( $field, )* }
            }
        }

        impl Config {
            /// The configuration, if every setting was read.
            pub(super) fn assemble(read: Read, derived: Derived) -> Option<Config> {
                Some(Config {
                    $( $field: read.$field?, )*
                    $( $dfield: derived.$dfield, )*
                })
            }
        }

        impl fmt::Debug for Config {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut out = f.debug_struct("Config");
                out.field("auth", &Shown(&self.auth_summary()));
                $(
                    match self.shown_instead(stringify!($field)) {
                        Some(text) => out.field(stringify!($field), &text),
                        None => out.field(stringify!($field), &Shown(&self.$field)),
                    };
                )*
                out.field("web", &self.web)
                    .field("proxy", &self.proxy)
                    .field("demo", &self.demo)
                    .finish()
            }
        }
    };
}

settings! {
    read {
        access_key_id: Option<String> = ("ZENLAYERCLOUD_ACCESS_KEY_ID", "",
            "access key id (as the vendor's Terraform provider names it)", optional(|t| Ok(t.to_owned())));
        access_key_password: Option<Secret> = ("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", "",
            "access key secret", optional(|t| Ok(Secret::new(t))));
        access_key_password_file: Option<PathBuf> = ("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD_FILE", "",
            "path of a file holding the access key secret", optional(|t| Ok(PathBuf::from(t))));
        access_token: Option<Secret> = ("ZENLAYERCLOUD_ACCESS_TOKEN", "",
            "personal access token, instead of the key pair", optional(|t| Ok(Secret::new(t))));
        access_token_file: Option<PathBuf> = ("ZENLAYERCLOUD_ACCESS_TOKEN_FILE", "",
            "path of a file holding the access token", optional(|t| Ok(PathBuf::from(t))));
        api_url: Url = ("ZENLAYER_EXPORTER_API_URL", "https://console.zenlayer.com",
            "API base URL", api_url);
        api_version: String = ("ZENLAYER_EXPORTER_API_VERSION", "2023-03-13",
            "X-ZC-Version sent (2023-03-13 or 2026-04-01)", api_version);
        listen_address: SocketAddr = ("ZENLAYER_EXPORTER_LISTEN_ADDRESS", "0.0.0.0:9612",
            "address:port where /metrics is served (:port for all IPv4 addresses)", listen_address);
        poll_interval: Duration = ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "30",
            "seconds between poll starts, 1 to 86400", seconds(1.0, 86_400.0));
        poll_timeout: Duration = ("ZENLAYER_EXPORTER_POLL_TIMEOUT_SECONDS", "300",
            "bound on one whole poll, every page and retry included", seconds(1.0, 86_400.0));
        page_size: u32 = ("ZENLAYER_EXPORTER_PAGE_SIZE", "1000",
            "instances per API page, 1 to 1000", whole(1, MAX_PAGE_SIZE));
        page_concurrency: usize = ("ZENLAYER_EXPORTER_PAGE_CONCURRENCY", "4",
            "API calls in flight per account across its status and metadata polls (status pages first), 1 to 64", whole(1, 64));
        request_timeout: Duration = ("ZENLAYER_EXPORTER_REQUEST_TIMEOUT_SECONDS", "10",
            "bound on one API call, body included", seconds(0.1, 600.0));
        max_retries: u32 = ("ZENLAYER_EXPORTER_MAX_RETRIES", "3",
            "retries per call for throttling, server and network errors, 0 to 10", whole(0, 10));
        status_series: StatusSeries = ("ZENLAYER_EXPORTER_STATUS_SERIES", "current",
            "current (one series per instance) or all (a state set)",
            one_of(&[("current", StatusSeries::Current), ("all", StatusSeries::All)]));
        metadata_interval: Option<Duration> = ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "300",
            "seconds between DescribeInstances polls (names, zones, tags, expiry); 0 turns them off", interval_or_off);
        tag_labels: Arc<TagLabels> = ("ZENLAYER_EXPORTER_TAG_LABELS", "",
            "comma-separated tag keys exported as tag_<key> labels of zenlayer_vm_instance_info",
            |t| TagLabels::parse(t).map(Arc::new));
        accounts_file: Option<PathBuf> = ("ZENLAYER_EXPORTER_ACCOUNTS_FILE", "",
            "YAML file of several accounts (name, credentials, api_url), instead of the ZENLAYERCLOUD_* credentials; re-read every 10 s and on SIGHUP",
            optional(|t| Ok(PathBuf::from(t))));
        total_shards: u32 = ("ZENLAYER_EXPORTER_TOTAL_SHARDS", "1",
            "replicas the accounts of the accounts file are split over, 1 to 1000", whole(1, 1000));
        shard: Option<u32> = ("ZENLAYER_EXPORTER_SHARD", "",
            "this replica's shard, 0 to TOTAL_SHARDS-1, or a StatefulSet pod name ending in -N", optional(shard));
        web_config_file: Option<PathBuf> = ("ZENLAYER_EXPORTER_WEB_CONFIG_FILE", "",
            "web configuration file (exporter-toolkit format): TLS, client certificates, basic authentication",
            optional(|t| Ok(PathBuf::from(t))));
        log_format: LogFormat = ("ZENLAYER_EXPORTER_LOG_FORMAT", "text",
            "text or json", one_of(&[("text", LogFormat::Text), ("json", LogFormat::Json)]));
        log_filter: String = ("RUST_LOG", "info",
            "log level and filters (tracing-subscriber EnvFilter syntax)", log_filter);
    }
    derived {
        /// `None` only in demo mode, where the built-in simulator's credentials are used.
        auth: Option<crate::zenlayer::client::Auth>,
        /// First retry delay. Not an environment variable: 1 s matches the vendor's SDKs; tests shorten it.
        retry_backoff_base: Duration,
        /// TLS and authentication of the endpoints, loaded from `web_config_file`; plain HTTP without one.
        web: Arc<crate::web::WebConfig>,
        /// Run against the built-in simulated fleet.
        demo: bool,
        /// The file the secret in `auth` came from (a `_FILE` variable), re-read so a rotated secret takes effect.
        secret_file: Option<PathBuf>,
        /// How often that file is checked (it is also re-read on SIGHUP). Not an environment variable.
        secret_reload_interval: Duration,
        /// Variables set under our prefixes that nothing reads: likely typos, logged at start-up.
        unknown_variables: Vec<String>,
        /// The proxy to the API, from the standard `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY` variables.
        proxy: Option<crate::zenlayer::client::Proxy>,
        /// The standard proxy variables as set, for the accounts file's API URLs.
        proxy_vars: Vec<(String, String)>,
        /// Every account of the accounts file as last loaded (`None` without one), before sharding.
        accounts: Option<Vec<super::accounts::AccountSpec>>,
    }
}

impl Config {
    /// What the start-up line says instead of a setting's value: in demo mode the API URL configured is not the
    /// one polled.
    fn shown_instead(&self, field: &str) -> Option<&'static str> {
        (self.demo && field == "api_url").then_some("a simulated fleet on loopback (demo)")
    }
}

/// Unset (empty) is `None`; anything else goes through `parse`.
fn optional<T>(
    parse: impl Fn(&str) -> Result<T, Refused>,
) -> impl Fn(&str) -> Result<Option<T>, Refused> {
    move |text| match text {
        "" => Ok(None),
        text => parse(text).map(Some),
    }
}

fn whole<T>(min: T, max: T) -> impl Fn(&str) -> Result<T, Refused>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    move |text| match text.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(vec![format!(
            "must be a whole number from {min} to {max}, got {}",
            quote(text)
        )]),
    }
}

fn seconds(min: f64, max: f64) -> impl Fn(&str) -> Result<Duration, Refused> {
    move |text| match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= min && n <= max => Ok(Duration::from_secs_f64(n)),
        _ => Err(vec![format!(
            "must be a number of seconds from {min} to {max}, got {}",
            quote(text)
        )]),
    }
}

/// 0 is off; otherwise from 1 to 86400 seconds.
fn interval_or_off(text: &str) -> Result<Option<Duration>, Refused> {
    let interval = seconds(0.0, 86_400.0)(text)?;
    match interval.as_secs_f64() {
        0.0 => Ok(None),
        s if s < 1.0 => Err(vec![format!("must be 0 (off) or from 1 to 86400, got {s}")]),
        _ => Ok(Some(interval)),
    }
}

/// One of a few words, each naming a value.
fn one_of<T: Copy>(choices: &'static [(&'static str, T)]) -> impl Fn(&str) -> Result<T, Refused> {
    move |text| {
        choices
            .iter()
            .find(|(word, _)| *word == text)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
                vec![format!(
                    "must be {}, got {}",
                    words.join(" or "),
                    quote(text)
                )]
            })
    }
}

fn shard(text: &str) -> Result<u32, Refused> {
    crate::names::shard_number(text).ok_or_else(|| {
        vec![format!(
            "must be a number from 0, or a StatefulSet pod name ending in -N, got {}",
            quote(text)
        )]
    })
}

fn api_version(text: &str) -> Result<String, Refused> {
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        Ok(text.to_owned())
    } else {
        Err(vec![format!(
            "must look like 2023-03-13, got {}",
            quote(text)
        )])
    }
}

fn listen_address(text: &str) -> Result<SocketAddr, Refused> {
    parse_listen(text).ok_or_else(|| {
        vec![format!(
            "must be IP:PORT ([::]:9612 for IPv6) or :PORT, got {}",
            quote(text)
        )]
    })
}

/// `IP:PORT`, or `:PORT` for every IPv4 address.
fn parse_listen(text: &str) -> Option<SocketAddr> {
    if let Some(port) = text.strip_prefix(':') {
        return port
            .parse()
            .ok()
            .map(|p| SocketAddr::from((Ipv4Addr::UNSPECIFIED, p)));
    }
    text.parse().ok()
}

fn log_filter(text: &str) -> Result<String, Refused> {
    match tracing_subscriber::EnvFilter::try_new(text) {
        Ok(_) => Ok(text.to_owned()),
        Err(e) => Err(vec![format!(
            "is not a valid filter ({e}): {}",
            quote(text)
        )]),
    }
}

/// How a setting's value shows in the start-up log: plainly, but a URL as its text, a secret as `<redacted>`
/// (its own `Debug`), the tag allow-list as its keys.
trait Show {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

struct Shown<'a, T: Show>(&'a T);

impl<T: Show> fmt::Debug for Shown<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.show(f)
    }
}

macro_rules! show_as_debug {
    ($($ty:ty),*) => { $( impl Show for $ty {
        fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { fmt::Debug::fmt(self, f) }
    } )* };
}
show_as_debug!(
    String,
    Secret,
    PathBuf,
    u32,
    usize,
    Duration,
    SocketAddr,
    StatusSeries,
    LogFormat
);

impl Show for Url {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Show for Arc<TagLabels> {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.keys(), f)
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            None => f.write_str("None"),
            Some(value) => f.debug_tuple("Some").field(&Shown(value)).finish(),
        }
    }
}
