//! Environment → validated `Config`, once, at start-up. Each setting is declared once in [`settings`] (variable,
//! default, help, envy type and check, field); this module adds what involves several variables (credentials and
//! their files, the timeouts, the web configuration file, the proxy) and reports every problem together, each
//! naming its variable, with secrets redacted.

pub mod accounts;
mod settings;
mod shown;
pub mod values;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::zenlayer::proxy::without_userinfo;
pub use settings::{Config, Row, Source, VARIABLES, Variable};
use settings::{Derived, Read};
pub use shown::{help_text, table};
use values::quote;

use crate::secret::Secret;
use crate::web::WebConfig;
use crate::zenlayer::client::{Auth, Proxy, is_loopback};

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

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    /// The secret files read, as they were read ([`crate::files::Seen`]): what a reload compares with, so it
    /// need not read them a second time.
    seen: Vec<(PathBuf, crate::files::Seen)>,
}

impl Checker {
    fn fail(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems.push(Problem {
            variable,
            message: message.into(),
        });
    }

    /// A secret given directly or through a `_FILE` path; never both. The value itself never reaches a message.
    fn secret(
        &mut self,
        variable: &'static str,
        file_variable: &'static str,
        direct: Option<&Secret>,
        file: Option<&Path>,
    ) -> Option<Secret> {
        let (source, checked) = match (direct, file) {
            (None, None) => return None,
            (Some(_), Some(_)) => {
                self.fail(
                    file_variable,
                    format!("set either {variable} or {file_variable}, not both"),
                );
                return None;
            }
            (Some(value), None) => (variable, check_secret(value.expose())),
            (None, Some(path)) => (
                file_variable,
                read_secret_file_seen(path).map(|(secret, seen)| {
                    self.seen.push((path.to_path_buf(), seen));
                    secret
                }),
            ),
        };
        checked.map_err(|message| self.fail(source, message)).ok()
    }
}

/// Reads a secret from a file: trailing newlines dropped (editors and `kubectl create secret --from-file` add
/// them), not empty, sendable in an HTTP header; and what the file held, to tell later whether it changed without
/// keeping the secret twice. The message never contains the value.
pub fn read_secret_file_seen(path: &Path) -> Result<(Secret, crate::files::Seen), String> {
    let (text, seen) = crate::files::read_text_seen(path, crate::files::MAX_SECRET_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", quote(&path.display().to_string())))?;
    Ok((check_secret(text.trim_end_matches(['\n', '\r']))?, seen))
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

fn header_safe(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// What `--healthcheck` probes: the listen address, and whether to try TLS first. It must work without
/// credentials and in demo mode, so it reads nothing else; and it must never fail on a web configuration the
/// running server tolerates (a reload that did not load keeps the server as it was), so the file is only a hint
/// and the probe tries the other transport too.
pub fn probe_target_from_vars(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(SocketAddr, bool), String> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    // The same declared parsers as at start-up; only the two settings it needs must be valid.
    let mut problems = Vec::new();
    let read = Read::from(
        &|name| value_of(&vars, name).map(str::to_owned),
        &mut problems,
    );
    let address = read.listen_address.ok_or_else(|| {
        problems
            .iter()
            .filter(|p| p.variable == "ZENLAYER_EXPORTER_LISTEN_ADDRESS")
            .map(|p| format!("{}: {}", p.variable, p.message))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let tls_first = read
        .web_config_file
        .flatten()
        .is_some_and(|path| crate::web::asks_for_tls(&path));
    Ok((address, tls_first))
}

/// The value of `name` in `vars`: the last one set, as in a shell.
fn value_of<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Config {
    /// Settings that are valid but risky, for the start-up log: a bearer token sent in clear to another host.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.metadata_interval.is_none() && !self.tag_labels.is_empty() {
            out.push("ZENLAYER_EXPORTER_TAG_LABELS is set but ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS is 0: no tags are read".to_owned());
        }
        let in_clear = |url: &Url| url.scheme() == "http" && !is_loopback(url);
        if in_clear(&self.api_url) && !self.demo && self.accounts.is_none() {
            out.push(match self.auth {
                Some(Auth::Bearer { .. }) => "ZENLAYER_EXPORTER_API_URL is plain http to another host: the access token travels in clear; use https",
                _ => "ZENLAYER_EXPORTER_API_URL is plain http to another host: requests can be read and replayed on the way; use https",
            }.to_owned());
        }
        for account in self
            .accounts
            .iter()
            .flatten()
            .filter(|a| in_clear(&a.endpoint.base_url))
        {
            out.push(format!(
                "account {}: its API URL is plain http to another host: requests (and a token) travel in clear; use https",
                account.name
            ));
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
        let mut read_problems = Vec::new();
        let read = Read::from(
            &|name| value_of(&vars, name).map(str::to_owned),
            &mut read_problems,
        );
        let mut c = Checker::default();
        let given = GivenCredentials {
            id: read.access_key_id.as_ref().and_then(Option::as_deref),
            password: read.access_key_password.as_ref().and_then(Option::as_ref),
            password_file: read
                .access_key_password_file
                .as_ref()
                .and_then(Option::as_deref),
            token: read.access_token.as_ref().and_then(Option::as_ref),
            token_file: read.access_token_file.as_ref().and_then(Option::as_deref),
        };
        let accounts_file = read.accounts_file.clone().flatten();
        // Credentials first: without them nothing else matters.
        let auth = match (&accounts_file, demo) {
            (_, true) => None,
            (Some(_), false) => {
                if given.any() {
                    c.fail(
                        "ZENLAYER_EXPORTER_ACCOUNTS_FILE",
                        "set either the accounts file or the ZENLAYERCLOUD_* credentials, not both: the file gives each account its own",
                    );
                }
                None
            }
            (None, false) => credentials(&mut c, &ENV_CREDENTIALS, &given),
        };
        c.problems.extend(read_problems);
        let secret_file = auth.as_ref().and_then(|auth| given.secret_file(auth));
        let proxy = read
            .api_url
            .as_ref()
            .and_then(|url| proxy_for(&mut c, url, &proxy_vars));
        let accounts = match (&accounts_file, &read.api_url) {
            (Some(_), _) if demo => {
                c.fail(
                    "ZENLAYER_EXPORTER_ACCOUNTS_FILE",
                    "--demo polls its own simulated accounts; unset the accounts file (or run zenlayer-sim --accounts N and point the file at it)",
                );
                None
            }
            (Some(path), Some(api_url)) => {
                let defaults = accounts::Defaults {
                    api_url,
                    proxy_vars: &proxy_vars,
                };
                match accounts::load(path, &defaults) {
                    Ok(accounts) => Some(accounts),
                    Err(problems) => {
                        for problem in problems {
                            c.fail("ZENLAYER_EXPORTER_ACCOUNTS_FILE", problem);
                        }
                        None
                    }
                }
            }
            _ => None,
        };
        if let (Some(total), Some(shard)) = (read.total_shards, read.shard.as_ref()) {
            match shard {
                _ if total > 1 && accounts_file.is_none() => c.fail(
                    "ZENLAYER_EXPORTER_TOTAL_SHARDS",
                    "shards split the accounts of ZENLAYER_EXPORTER_ACCOUNTS_FILE: set it, or leave this at 1",
                ),
                None if total > 1 => c.fail(
                    "ZENLAYER_EXPORTER_SHARD",
                    format!("is required with ZENLAYER_EXPORTER_TOTAL_SHARDS={total}: every replica needs its own shard"),
                ),
                Some(n) if *n >= total => c.fail(
                    "ZENLAYER_EXPORTER_SHARD",
                    format!("must be below ZENLAYER_EXPORTER_TOTAL_SHARDS ({total}), got {n}"),
                ),
                _ => {}
            }
        }
        if let (Some(request), Some(poll)) = (read.request_timeout, read.poll_timeout) {
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
        let web = match read.web_config_file.as_ref() {
            None | Some(None) => WebConfig::plain(),
            Some(Some(path)) => WebConfig::load(path).unwrap_or_else(|problems| {
                for problem in problems {
                    c.fail("ZENLAYER_EXPORTER_WEB_CONFIG_FILE", problem);
                }
                WebConfig::plain()
            }),
        };
        let derived = Derived {
            auth,
            retry_backoff_base: Duration::from_secs(1),
            web: Arc::new(web),
            demo,
            secret_file,
            secret_reload_interval: Duration::from_secs(10),
            unknown_variables,
            proxy,
            proxy_vars,
            accounts,
        };
        match Config::assemble(read, derived) {
            Some(config) if c.problems.is_empty() => Ok(config),
            _ => Err(ConfigError {
                problems: c.problems,
            }),
        }
    }

    /// Which credentials, never their secret: the start-up line's `credentials`. The accounts of an accounts
    /// file are counted here; each has its own row in [`Config::rows`].
    pub fn auth_summary(&self) -> String {
        match (&self.auth, &self.accounts) {
            (Some(auth), _) => shown_auth(auth),
            (None, Some(accounts)) => {
                format!("{} account(s) from the accounts file", accounts.len())
            }
            (None, None) => "none (demo)".to_owned(),
        }
    }
}

/// Which credentials, never their secret.
fn shown_auth(auth: &Auth) -> String {
    match auth {
        Auth::Signature { access_key_id, .. } => {
            format!("access key {access_key_id} (secret redacted)")
        }
        Auth::Bearer { .. } => "bearer token (redacted)".to_owned(),
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
    let get = |name: &str| value_of(vars, name);
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

/// The names the credentials go by where they are read: the environment's variables, or an account's keys.
pub(crate) struct CredentialKeys {
    id: &'static str,
    password: &'static str,
    password_file: &'static str,
    token: &'static str,
    token_file: &'static str,
    /// Said when none is given.
    none: &'static str,
}

impl CredentialKeys {
    fn all(&self) -> [&'static str; 5] {
        [
            self.id,
            self.password,
            self.password_file,
            self.token,
            self.token_file,
        ]
    }
}

const ENV_CREDENTIALS: CredentialKeys = CredentialKeys {
    id: "ZENLAYERCLOUD_ACCESS_KEY_ID",
    password: "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD",
    password_file: "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD_FILE",
    token: "ZENLAYERCLOUD_ACCESS_TOKEN",
    token_file: "ZENLAYERCLOUD_ACCESS_TOKEN_FILE",
    none: "or run with --demo",
};

/// The credentials as given, before they are checked.
pub(crate) struct GivenCredentials<'a> {
    id: Option<&'a str>,
    password: Option<&'a Secret>,
    password_file: Option<&'a Path>,
    token: Option<&'a Secret>,
    token_file: Option<&'a Path>,
}

impl GivenCredentials<'_> {
    fn any(&self) -> bool {
        self.id.is_some()
            || self.password.is_some()
            || self.password_file.is_some()
            || self.token.is_some()
            || self.token_file.is_some()
    }

    /// The file the secret in use was read from, re-read when it rotates.
    fn secret_file(&self, auth: &Auth) -> Option<PathBuf> {
        match auth {
            Auth::Bearer { .. } => self.token_file,
            Auth::Signature { .. } => self.password_file,
        }
        .map(Path::to_path_buf)
    }
}

/// Exactly one kind of credentials: the access key pair (secret given or in a file) or the token (given or in a
/// file). Every problem goes to `c` under the key it concerns; no message quotes a secret.
fn credentials(c: &mut Checker, keys: &CredentialKeys, given: &GivenCredentials) -> Option<Auth> {
    let (id_key, password_key, token_key) = (keys.id, keys.password, keys.token);
    let id = given.id;
    let password = c.secret(
        password_key,
        keys.password_file,
        given.password,
        given.password_file,
    );
    let token = c.secret(token_key, keys.token_file, given.token, given.token_file);
    let pair_given = id.is_some() || password.is_some();
    if pair_given && token.is_some() {
        c.fail(
            token_key,
            format!(
                "set either the access key pair ({id_key}, {password_key}) or the access token, not both"
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
                id_key,
                format!("must be printable ASCII without commas, got {}", quote(id)),
            );
            None
        }
        (Some(_), None) => {
            // Only complain about the missing secret if it was not already reported as unreadable or bad.
            if !c
                .problems
                .iter()
                .any(|p| p.variable == password_key || p.variable == keys.password_file)
            {
                c.fail(
                    password_key,
                    format!("is required with {id_key} (or set {})", keys.password_file),
                );
            }
            None
        }
        (None, Some(_)) => {
            c.fail(id_key, format!("is required with {password_key}"));
            None
        }
        (None, None) => {
            if !c.problems.iter().any(|p| keys.all().contains(&p.variable)) {
                c.fail(id_key, format!(
                    "no credentials: set {id_key} and {password_key} (or {}), or {token_key} (or {}); {}",
                    keys.password_file, keys.token_file, keys.none
                ));
            }
            None
        }
    }
}
