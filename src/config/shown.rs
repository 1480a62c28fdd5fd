//! How the configuration shows: `--help` (every variable with its default), and in `--check-config` and the
//! start-up log each variable, its effective value (secrets `<redacted>`, because of their type) and where it
//! came from, then the proxy and the accounts of the accounts file. The values are `settings`'; their
//! presentation is here.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::Config;
use super::settings::VARIABLES;
use super::values::{LogFormat, StatusSeries, TagLabels};
use crate::secret::Secret;

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

impl Config {
    /// Each variable with its effective value and source, then the proxy and the accounts of the accounts file:
    /// what `--check-config` prints as a table and the start-up log gives as fields. A secret read from a
    /// `_FILE` path shows on its own variable's row as `<redacted>`, with that file as its source.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = self.variable_rows();
        let files: Vec<(String, PathBuf)> = rows
            .iter()
            .filter(|r| r.source == Source::Environment)
            .filter_map(|r| {
                Some((
                    r.variable.strip_suffix("_FILE")?.to_owned(),
                    PathBuf::from(&r.value),
                ))
            })
            .collect();
        for row in &mut rows {
            if let Some((_, path)) = files.iter().find(|(name, _)| *name == row.variable) {
                row.value = crate::secret::REDACTED.to_owned();
                row.source = Source::File(path.clone());
            }
            if self.demo && row.variable == "ZENLAYER_EXPORTER_API_URL" {
                row.value = "a simulated fleet on loopback (demo)".to_owned();
                row.source = Source::Demo;
            }
        }
        if let Some(proxy) = &self.proxy {
            rows.push(Row {
                variable: proxy.variable.to_owned(),
                value: format!("{proxy:?}"),
                source: Source::Environment,
            });
        }
        let file = self.accounts_file.clone().unwrap_or_default();
        rows.extend(self.accounts.iter().flatten().map(|account| Row {
            variable: format!("account {}", account.name),
            value: format!(
                "{} at {}",
                super::shown_auth(&account.endpoint.auth),
                account.endpoint.base_url
            ),
            source: Source::AccountsFile(file.clone()),
        }));
        rows
    }
}

/// `rows` as a table: a header, then a line each, columns aligned.
pub fn table(rows: &[Row]) -> String {
    let width = |f: fn(&Row) -> usize, title: &str| {
        rows.iter().map(f).chain([title.len()]).max().unwrap_or(0)
    };
    let name_width = width(|r| r.variable.len(), "VARIABLE");
    let value_width = width(|r| r.value.chars().count(), "VALUE");
    let mut out = format!(
        "{:name_width$}  {:value_width$}  SOURCE\n",
        "VARIABLE", "VALUE"
    );
    for row in rows {
        let value = if row.value.is_empty() {
            "-"
        } else {
            &row.value
        };
        out.push_str(&format!(
            "{:name_width$}  {value:value_width$}  {}\n",
            row.variable, row.source
        ));
    }
    out
}

/// How a setting's value shows in `--check-config` and the start-up log: plainly, a URL as its text, a duration
/// in seconds, a secret as `<redacted>` (its own `Display`), the tag allow-list as its keys, unset as nothing.
pub(super) trait Show {
    fn show(&self) -> String;
}

macro_rules! show_as_display {
    ($($ty:ty),*) => { $( impl Show for $ty {
        fn show(&self) -> String { self.to_string() }
    } )* };
}
show_as_display!(
    String,
    Secret,
    u32,
    usize,
    SocketAddr,
    Url,
    StatusSeries,
    LogFormat
);

impl Show for PathBuf {
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl Show for Duration {
    fn show(&self) -> String {
        format!("{}s", self.as_secs_f64())
    }
}

impl Show for Arc<TagLabels> {
    fn show(&self) -> String {
        self.keys().join(",")
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self) -> String {
        self.as_ref().map(Show::show).unwrap_or_default()
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
        "  --demo          run against a built-in simulated fleet (no credentials needed; not in the production image)\n",
        "  --check-config  validate the configuration, print each variable's value and source (secrets redacted), and exit\n",
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
