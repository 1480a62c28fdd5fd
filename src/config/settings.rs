//! Every environment setting, declared once: its variable, default, help text, the type envy deserialises it
//! into, its check and its `Config` field. The `settings!` macro turns that one list into the `VARIABLES` table
//! (for `--help` and the README check), the typed fields of [`Config`], the reading of the environment through
//! envy with every problem named, and each variable's row for `shown` (`--check-config`, the start-up log).
//! Checks that involve several variables (credentials, timeouts, the web configuration file) are `config`'s.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::Problem;
use super::values::Show as _;
use super::values::{
    LogFormat, PerProduct, Products, Refused, StatusSeries, TagLabels, api_url, quote,
};
use crate::labels::Word;
use crate::secret::Secret;
use crate::zenlayer::model::MAX_PAGE_SIZE;

/// One configuration variable: its name, its default (as the text an operator would write) and what it does.
pub struct Variable {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Where a setting's value came from, as `--check-config` and the start-up log say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Environment,
    Default,
    /// Neither set nor defaulted.
    Unset,
    /// Read from the file a `_FILE` variable names.
    File(PathBuf),
    /// An account of the accounts file.
    AccountsFile(PathBuf),
    /// Replaced by `--demo`.
    Demo,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Environment => f.write_str("environment"),
            Source::Default => f.write_str("default"),
            Source::Unset => f.write_str("unset"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::AccountsFile(path) => write!(f, "accounts file {}", path.display()),
            Source::Demo => f.write_str("--demo"),
        }
    }
}

/// One row of `--check-config` and of the start-up log: a variable (or an account), its effective value as shown
/// (secrets `<redacted>`), and where it came from.
#[derive(Debug, Clone)]
pub struct Row {
    pub variable: String,
    pub value: String,
    pub source: Source,
}

/// A setting as envy deserialised it, before its check: `None` when it was not given (nor defaulted), else the
/// typed value or the deserialiser's refusal. Deserialising never fails, so envy reads every field and the
/// checks report every problem, not the first.
struct Field<R>(Option<Result<R, ()>>);

impl<R> Default for Field<R> {
    fn default() -> Self {
        Field(None)
    }
}

impl<'de, R: serde::Deserialize<'de>> serde::Deserialize<'de> for Field<R> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The deserialiser's own message quotes the value, which may be a secret: only the check's is shown.
        Ok(Field(Some(R::deserialize(d).map_err(drop))))
    }
}

/// What a check is given: nothing, a value of the declared type, or text that is not one; with its text for the
/// check's message.
pub(super) enum Given<'t, R> {
    Unset,
    Typed(R, &'t str),
    Untyped(&'t str),
}

impl<'t, R> Given<'t, R> {
    /// The text given (empty when unset), for a check's message.
    fn text(&self) -> &'t str {
        match self {
            Given::Typed(_, text) | Given::Untyped(text) => text,
            Given::Unset => "",
        }
    }

    fn of(field: Field<R>, text: &'t str) -> Self {
        match field.0 {
            None => Given::Unset,
            Some(Ok(value)) => Given::Typed(value, text),
            Some(Err(())) => Given::Untyped(text),
        }
    }
}

/// Declares the settings read from the environment, and the fields of [`Config`] derived from several of them.
macro_rules! settings {
    (
        read { $( $field:ident : $ty:ty = ($name:literal, $default:literal, $help:literal, $raw:ty => $check:expr); )* }
        derived { $( $(#[doc = $ddoc:literal])* $dfield:ident : $dty:ty, )* }
    ) => {
        /// Every variable read, in the order `--help` and the README list them. Defaults are parsed by the same
        /// code as the operator's values, so this table is the only place they are written.
        pub const VARIABLES: &[Variable] = &[
            $( Variable { name: $name, default: $default, help: $help }, )*
        ];

        /// The validated configuration the exporter runs with. Its `Debug` shows credentials redacted.
        #[derive(Clone)]
        pub struct Config {
            $( #[doc = $help] pub $field: $ty, )*
            $( $(#[doc = $ddoc])* pub $dfield: $dty, )*
            /// Where each variable's value came from, in the order of [`VARIABLES`].
            pub(super) sources: Vec<Source>,
        }

        /// The settings as envy deserialises them, keyed by field name.
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct Raw {
            $( $field: Field<$raw>, )*
        }

        /// The settings as read, each `None` when its value was refused, before the checks across variables.
        pub(super) struct Read {
            $( pub(super) $field: Option<$ty>, )*
            pub(super) sources: Vec<Source>,
        }

        /// What is derived from several settings.
        pub(super) struct Derived {
            $( pub(super) $dfield: $dty, )*
        }

        impl Read {
            /// Reads every setting from `get` through envy (an empty value counts as unset, as `VAR=` in an env
            /// file means; an unset one takes its default), then checks each, every problem under its variable.
            pub(super) fn from(get: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<Problem>) -> Read {
                let given: Vec<(&'static str, String, Source)> = vec![$(
                    match get($name).filter(|v| !v.is_empty()) {
                        Some(text) => (stringify!($field), text, Source::Environment),
                        None if $default.is_empty() => (stringify!($field), String::new(), Source::Unset),
                        None => (stringify!($field), $default.to_owned(), Source::Default),
                    },
                )*];
                let raw: Raw = envy::from_iter(
                    given
                        .iter()
                        .filter(|(_, text, _)| !text.is_empty())
                        .map(|(key, text, _)| ((*key).to_owned(), text.clone())),
                )
                .unwrap_or_else(|e| {
                    // Every field keeps its own error, so envy has nothing to refuse; should it, say so.
                    problems.push(Problem { variable: "environment", message: e.to_string() });
                    Raw::default()
                });
                let mut texts = given.iter().map(|(_, text, _)| text.as_str());
                $(
                    let text = texts.next().unwrap_or_default();
                    let $field = match ($check)(Given::of(raw.$field, text)) {
                        Ok(value) => Some(value),
                        Err(refused) => {
                            problems.extend(refused.into_iter().map(|message| Problem { variable: $name, message }));
                            None
                        }
                    };
                )*
                Read { $( $field, )* sources: given.into_iter().map(|(_, _, source)| source).collect() }
            }
        }

        impl Config {
            /// The configuration, if every setting was read.
            pub(super) fn assemble(read: Read, derived: Derived) -> Option<Config> {
                Some(Config {
                    $( $field: read.$field?, )*
                    $( $dfield: derived.$dfield, )*
                    sources: read.sources,
                })
            }

            /// Each variable, its effective value as shown (secrets `<redacted>`, unset ones empty) and its
            /// source, in the order of [`VARIABLES`].
            pub(super) fn variable_rows(&self) -> Vec<Row> {
                let mut sources = self.sources.iter().cloned();
                vec![$({
                    let source = sources.next().unwrap_or(Source::Unset);
                    // Given, yet nothing: a setting whose value turns it off (a metadata interval of 0).
                    let value = match self.$field.show() {
                        shown if shown.is_empty() && source != Source::Unset => "off".to_owned(),
                        shown => shown,
                    };
                    Row { variable: $name.to_owned(), value, source }
                },)*]
            }
        }

        impl fmt::Debug for Config {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut out = f.debug_struct("Config");
                out.field("auth", &self.auth_summary());
                $( out.field(stringify!($field), &self.$field.show()); )*
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
            "access key id (as the vendor's Terraform provider names it)", String => optional(accept));
        access_key_password: Option<Secret> = ("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", "",
            "access key secret", Secret => optional(accept));
        access_key_password_file: Option<PathBuf> = ("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD_FILE", "",
            "path of a file holding the access key secret", PathBuf => optional(accept));
        access_token: Option<Secret> = ("ZENLAYERCLOUD_ACCESS_TOKEN", "",
            "personal access token, instead of the key pair", Secret => optional(accept));
        access_token_file: Option<PathBuf> = ("ZENLAYERCLOUD_ACCESS_TOKEN_FILE", "",
            "path of a file holding the access token", PathBuf => optional(accept));
        api_url: Url = ("ZENLAYER_EXPORTER_API_URL", "https://console.zenlayer.com",
            "API base URL", String => text(api_url));
        products: Products = ("ZENLAYER_EXPORTER_PRODUCTS", "vm,zec,bmc",
            "products read, comma-separated: vm (legacy VM), zec (Elastic Compute), bmc (bare metal); an account's products in the accounts file override it",
            String => text(|t| Products::parse(t.split(','))));
        api_versions: PerProduct = ("ZENLAYER_EXPORTER_API_VERSIONS", "",
            "X-ZC-Version per product, over the one each declares (docs/products.md): e.g. vm=2026-04-01",
            String => text(|t| PerProduct::parse(t, |d| d.version, api_version)));
        api_services: PerProduct = ("ZENLAYER_EXPORTER_API_SERVICES", "",
            "service name per product (its path /api/v2/NAME and x-zc-service), over the one each declares: e.g. zec=zec",
            String => text(|t| PerProduct::parse(t, |d| d.service, service_name)));
        listen_address: SocketAddr = ("ZENLAYER_EXPORTER_LISTEN_ADDRESS", "0.0.0.0:9612",
            "address:port where /metrics is served (:port for all IPv4 addresses)", String => text(listen_address));
        poll_interval: Duration = ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "30",
            "seconds between poll starts, 1 to 86400", f64 => seconds(1.0, 86_400.0));
        poll_timeout: Duration = ("ZENLAYER_EXPORTER_POLL_TIMEOUT_SECONDS", "300",
            "bound on one whole poll, every page and retry included", f64 => seconds(1.0, 86_400.0));
        page_size: u32 = ("ZENLAYER_EXPORTER_PAGE_SIZE", "1000",
            "instances per API page, 1 to 1000", u32 => whole(1, MAX_PAGE_SIZE));
        page_concurrency: usize = ("ZENLAYER_EXPORTER_PAGE_CONCURRENCY", "4",
            "API calls in flight per account across its polls (status pages first), 1 to 64", usize => whole(1, 64));
        total_concurrency: usize = ("ZENLAYER_EXPORTER_TOTAL_CONCURRENCY", "256",
            "API calls in flight across every account, 1 to 4096: a thousand accounts starting at once share it, not open a connection each", usize => whole(1, 4096));
        request_timeout: Duration = ("ZENLAYER_EXPORTER_REQUEST_TIMEOUT_SECONDS", "10",
            "bound on one API call, body included", f64 => seconds(0.1, 600.0));
        max_retries: u32 = ("ZENLAYER_EXPORTER_MAX_RETRIES", "3",
            "retries per call for throttling, server and network errors, 0 to 10", u32 => whole(0, 10));
        status_series: StatusSeries = ("ZENLAYER_EXPORTER_STATUS_SERIES", "current",
            "current (one series per instance) or all (a state set)", StatusSeries => one_of);
        metadata_interval: Option<Duration> = ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "300",
            "seconds between DescribeInstances polls (names, zones, tags, expiry); 0 turns them off", f64 => interval_or_off);
        health_interval: Option<Duration> = ("ZENLAYER_EXPORTER_HEALTH_INTERVAL_SECONDS", "60",
            "seconds between bare-metal hardware health polls (DescribeInstancesMonitorHealth, 10 servers a call); 0 turns them off", f64 => interval_or_off);
        maintenance_interval: Option<Duration> = ("ZENLAYER_EXPORTER_MAINTENANCE_INTERVAL_SECONDS", "300",
            "seconds between planned maintenance polls (DescribeMaintenanceAlerts, one call per product that has it); 0 turns them off", f64 => interval_or_off);
        tag_labels: Arc<TagLabels> = ("ZENLAYER_EXPORTER_TAG_LABELS", "",
            "comma-separated tag keys exported as tag_<key> labels of zenlayer_instance_info",
            String => text(|t| TagLabels::parse(t).map(Arc::new)));
        accounts_file: Option<PathBuf> = ("ZENLAYER_EXPORTER_ACCOUNTS_FILE", "",
            "YAML file of several accounts (name, credentials, api_url), instead of the ZENLAYERCLOUD_* credentials; re-read every 10 s and on SIGHUP",
            PathBuf => optional(accept));
        total_shards: u32 = ("ZENLAYER_EXPORTER_TOTAL_SHARDS", "1",
            "replicas the accounts of the accounts file are split over, 1 to 1000", u32 => whole(1, 1000));
        shard: Option<u32> = ("ZENLAYER_EXPORTER_SHARD", "",
            "this replica's shard, 0 to TOTAL_SHARDS-1, or a StatefulSet pod name ending in -N", String => optional(text(shard)));
        web_config_file: Option<PathBuf> = ("ZENLAYER_EXPORTER_WEB_CONFIG_FILE", "",
            "web configuration file (exporter-toolkit format): TLS, client certificates, basic authentication",
            PathBuf => optional(accept));
        log_format: LogFormat = ("ZENLAYER_EXPORTER_LOG_FORMAT", "text",
            "text or json", LogFormat => one_of);
        log_filter: String = ("RUST_LOG", "info",
            "log level and filters (tracing-subscriber EnvFilter syntax)", String => text(log_filter));
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

/// A value that is always a value: a string, a path, a secret (never refused: envy only hands them text).
fn accept<R>(given: Given<'_, R>) -> Result<R, Refused> {
    match given {
        Given::Typed(value, _) => Ok(value),
        Given::Untyped(_) => Err(vec!["cannot be read as text".to_owned()]),
        Given::Unset => Err(vec!["is required".to_owned()]),
    }
}

/// Unset (empty) is `None`; anything else goes through `check`.
fn optional<R, T>(
    check: impl Fn(Given<'_, R>) -> Result<T, Refused>,
) -> impl Fn(Given<'_, R>) -> Result<Option<T>, Refused> {
    move |given| match given {
        Given::Unset => Ok(None),
        given => check(given).map(Some),
    }
}

/// Text that `parse` checks and turns into its value (unset is the empty text).
fn text<T>(
    parse: impl Fn(&str) -> Result<T, Refused>,
) -> impl Fn(Given<'_, String>) -> Result<T, Refused> {
    move |given| match given {
        Given::Typed(text, _) => parse(&text),
        Given::Untyped(text) => parse(text),
        Given::Unset => parse(""),
    }
}

/// A number envy read, or one with spaces around it (a quoted YAML value), as it was always taken.
fn number<R: std::str::FromStr>(given: Given<'_, R>) -> Result<R, &str> {
    match given {
        Given::Typed(n, _) => Ok(n),
        Given::Untyped(text) => text.trim().parse().map_err(|_| text),
        Given::Unset => Err(""),
    }
}

fn whole<T>(min: T, max: T) -> impl Fn(Given<'_, T>) -> Result<T, Refused>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    move |given| {
        let text = given.text();
        match number(given) {
            Ok(n) if n >= min && n <= max => Ok(n),
            _ => Err(vec![format!(
                "must be a whole number from {min} to {max}, got {}",
                quote(text)
            )]),
        }
    }
}

fn seconds(min: f64, max: f64) -> impl Fn(Given<'_, f64>) -> Result<Duration, Refused> {
    move |given| {
        let text = given.text();
        match number(given) {
            Ok(n) if n.is_finite() && n >= min && n <= max => Ok(Duration::from_secs_f64(n)),
            _ => Err(vec![format!(
                "must be a number of seconds from {min} to {max}, got {}",
                quote(text)
            )]),
        }
    }
}

/// 0 is off; otherwise from 1 to 86400 seconds.
fn interval_or_off(given: Given<'_, f64>) -> Result<Option<Duration>, Refused> {
    let interval = seconds(0.0, 86_400.0)(given)?;
    match interval.as_secs_f64() {
        0.0 => Ok(None),
        s if s < 1.0 => Err(vec![format!("must be 0 (off) or from 1 to 86400, got {s}")]),
        _ => Ok(Some(interval)),
    }
}

/// One of a fixed set of words, each naming a value.
fn one_of<T: Word>(given: Given<'_, T>) -> Result<T, Refused> {
    match given {
        Given::Typed(value, _) => Ok(value),
        Given::Untyped(text) => {
            let words: Vec<&str> = T::ALL.iter().map(|w| w.as_str()).collect();
            Err(vec![format!(
                "must be {}, got {}",
                words.join(" or "),
                quote(text)
            )])
        }
        Given::Unset => Err(vec!["is required".to_owned()]),
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

/// A version: letters, digits, `-` and `.`.
fn api_version(text: &str) -> Result<(), String> {
    made_of(text, |b| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
    })
    .ok_or_else(|| "a version must look like 2023-03-13".to_owned())
}

/// A service name is one path segment and a header value.
fn service_name(text: &str) -> Result<(), String> {
    made_of(text, |b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
    })
    .ok_or_else(|| "a service name is a-z, 0-9, - and _".to_owned())
}

/// Some text, every byte of which `allowed` admits.
fn made_of(text: &str, allowed: fn(u8) -> bool) -> Option<()> {
    (!text.is_empty() && text.bytes().all(allowed)).then_some(())
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
