//! How the configuration shows: `--help` (every variable with its default), and in `--check-config` and the
//! start-up log each variable, its effective value (secrets `<redacted>`, because of their type) and where it
//! came from, then the proxy and the accounts of the accounts file. The values and their sources are
//! `settings`'; their presentation is here.

use std::path::PathBuf;

use super::Config;
use super::settings::{Row, Source, VARIABLES};

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
