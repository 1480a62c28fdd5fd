//! The web configuration file (`ZENLAYER_EXPORTER_WEB_CONFIG_FILE`), in the exporter-toolkit format Prometheus
//! operators already write: TLS on every endpoint ([`tls`]), optional client certificates, basic authentication
//! against bcrypt hashes ([`auth`]), extra response headers. A file that does not load is refused whole, with every
//! problem named; what loaded is immutable and swapped as a unit when the file or a file it names changes.

mod auth;
mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use auth::{Login, Users};
pub use tls::client_san_allowed;
use tls::{RawTls, build_tls};

/// The file as written. Unknown keys are errors: a misspelt `client_ca_file` must not silently turn client
/// certificates off.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    /// Accepted for compatibility with files written for Go exporters; this server speaks HTTP/1.1, which is
    /// what Prometheus scrapes with by default.
    #[allow(dead_code)]
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// What a loaded web configuration asks of the server.
pub struct WebConfig {
    /// `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `None`: no authentication.
    pub users: Option<Arc<Users>>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Whether a client certificate is required to connect.
    pub client_certs_required: bool,
    /// When set, a client certificate must name one of these in its subject alternative names.
    pub client_allowed_sans: Option<Arc<[String]>>,
    /// Whether the file held nothing but white space.
    empty: bool,
    /// Hash of every byte the configuration was built from, so a reload only swaps when something changed.
    fingerprint: [u8; 32],
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

impl WebConfig {
    /// No TLS, no authentication: what runs without a web configuration file.
    pub fn plain() -> WebConfig {
        WebConfig {
            tls: None,
            users: None,
            headers: Vec::new(),
            client_certs_required: false,
            client_allowed_sans: None,
            empty: true,
            fingerprint: [0; 32],
        }
    }

    /// One line for the start-up log and `--check-config`; names users, never hashes.
    pub fn summary(&self) -> String {
        let transport = match (&self.tls, self.client_certs_required) {
            (None, _) => "plain HTTP",
            (Some(_), false) => "TLS",
            (Some(_), true) => "TLS with client certificates required",
        };
        match &self.users {
            None => format!("{transport}, no basic authentication"),
            Some(users) => format!(
                "{transport}, basic authentication for {}",
                users.names().collect::<Vec<_>>().join(", ")
            ),
        }
    }

    pub fn same_as(&self, other: &WebConfig) -> bool {
        self.fingerprint == other.fingerprint
    }

    /// The protections `current` enforces that this configuration would drop, empty when it drops none. A reload
    /// that would drop any is refused: editors and `>` truncate a file before writing it, so a reload can read
    /// an empty file or any prefix of one, and most prefixes are valid YAML that simply lacks the rest. Removing a
    /// protection on purpose takes a restart.
    pub fn dropped_from(&self, current: &WebConfig) -> Vec<&'static str> {
        let mut dropped = Vec::new();
        let current_plain =
            current.tls.is_none() && current.users.is_none() && current.headers.is_empty();
        if self.empty && !current_plain {
            dropped.push("the whole configuration (the file is empty)");
        }
        if current.tls.is_some() && self.tls.is_none() {
            dropped.push("TLS");
        }
        if current.client_certs_required && !self.client_certs_required {
            dropped.push("the client certificate requirement");
        }
        if current.client_allowed_sans.is_some() && self.client_allowed_sans.is_none() {
            dropped.push("client_allowed_sans");
        }
        if current.users.is_some() && self.users.is_none() {
            dropped.push("basic authentication");
        }
        dropped
    }

    /// Reads and checks `path` and every file it names. Relative paths inside are relative to the file's own
    /// directory, as exporter-toolkit resolves them. Every problem is returned, not just the first.
    pub fn load(path: &Path) -> Result<WebConfig, Vec<String>> {
        let text = crate::files::read_bounded(path, crate::files::MAX_WEB_CONFIG_BYTES)
            .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
        let mut fingerprint = Sha256::new();
        fingerprint.update(&text);
        let empty = text.iter().all(u8::is_ascii_whitespace);
        let raw: RawWebConfig = if empty {
            RawWebConfig::default()
        } else {
            serde_yaml_ng::from_slice(&text).map_err(|e| {
                vec![format!(
                    "{} is not a valid web configuration: {}",
                    path.display(),
                    without_quoted_values(&e.to_string())
                )]
            })?
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut problems = Vec::new();
        let mut client_certs_required = false;
        let mut client_allowed_sans = None;
        let tls =
            raw.tls_server_config
                .and_then(|tls| match build_tls(tls, dir, &mut fingerprint) {
                    Ok((config, required, sans)) => {
                        client_certs_required = required;
                        client_allowed_sans = sans;
                        Some(Arc::new(config))
                    }
                    Err(mut found) => {
                        problems.append(&mut found);
                        None
                    }
                });
        let users = match raw.basic_auth_users {
            Some(users) if !users.is_empty() => match Users::new(users) {
                Ok(users) => Some(Arc::new(users)),
                Err(mut found) => {
                    problems.append(&mut found);
                    None
                }
            },
            _ => None,
        };
        let headers = match raw.http_server_config.and_then(|h| h.headers) {
            Some(headers) => response_headers(headers, &mut problems),
            None => Vec::new(),
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(WebConfig {
            tls,
            users,
            headers,
            client_certs_required,
            client_allowed_sans,
            empty,
            fingerprint: fingerprint.finalize().into(),
        })
    }
}

/// Whether the file at `path` seems to ask for TLS: it has a `tls_server_config` that is not empty. Lenient on
/// purpose, for `--healthcheck`: nothing else in the file is read or checked, and a file that cannot be read
/// or parsed is taken to ask for TLS (a probe tries plain HTTP next).
pub fn asks_for_tls(path: &Path) -> bool {
    let Ok(text) = crate::files::read_bounded(path, crate::files::MAX_WEB_CONFIG_BYTES) else {
        return true;
    };
    match serde_yaml_ng::from_slice::<serde_yaml_ng::Value>(&text) {
        Ok(serde_yaml_ng::Value::Mapping(top)) => top
            .get("tls_server_config")
            .is_some_and(|tls| tls.as_mapping().is_some_and(|m| !m.is_empty())),
        Ok(serde_yaml_ng::Value::Null) => false,
        Ok(_) | Err(_) => true,
    }
}

/// A YAML error with the values it quotes blanked: a value in the wrong place may be a password or a key
/// (`invalid type: string "…", expected a map`). Field names, in backticks, stay.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// The headers exporter-toolkit allows, with the values it allows where it restricts them.
fn response_headers(
    headers: BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for (name, value) in headers {
        if value.is_empty() {
            continue;
        }
        let allowed = match name.as_str() {
            "Content-Security-Policy" | "X-XSS-Protection" | "Strict-Transport-Security" => true,
            "X-Frame-Options" => {
                ["deny", "sameorigin"].contains(&value.to_ascii_lowercase().as_str())
            }
            "X-Content-Type-Options" => value.eq_ignore_ascii_case("nosniff"),
            _ => {
                problems.push(format!("http_server_config.headers: {name:?} cannot be set (Content-Security-Policy, X-Frame-Options, X-Content-Type-Options, X-XSS-Protection or Strict-Transport-Security)"));
                continue;
            }
        };
        match (
            allowed,
            HeaderName::from_str(&name),
            HeaderValue::from_str(&value),
        ) {
            (true, Ok(n), Ok(v)) => out.push((n, v)),
            _ => problems.push(format!(
                "http_server_config.headers: {name} cannot be {value:?}"
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_a_protection_on_reload_is_named() {
        let dir = std::env::temp_dir().join(format!("zl-web-drop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let load = |yaml: &str| {
            std::fs::write(dir.join("web.yml"), yaml).unwrap();
            WebConfig::load(&dir.join("web.yml")).unwrap()
        };
        let users = format!(
            "basic_auth_users:\n  a: {}\n",
            bcrypt::hash("x", 4).unwrap()
        );
        let headers = "http_server_config:\n  headers:\n    X-Frame-Options: deny\n";
        let (with_users, empty, only_headers) = (load(&users), load(""), load(headers));
        assert_eq!(
            empty.dropped_from(&with_users),
            [
                "the whole configuration (the file is empty)",
                "basic authentication"
            ]
        );
        assert_eq!(
            only_headers.dropped_from(&with_users),
            ["basic authentication"]
        );
        assert!(with_users.dropped_from(&empty).is_empty(), "adding is fine");
        assert!(empty.dropped_from(&WebConfig::plain()).is_empty());
        assert_eq!(
            empty.dropped_from(&only_headers),
            ["the whole configuration (the file is empty)"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
