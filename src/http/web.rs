//! The web configuration file (`ZENLAYER_EXPORTER_WEB_CONFIG_FILE`), in the exporter-toolkit format Prometheus
//! operators already write: TLS on every endpoint, optional client certificates, basic authentication against
//! bcrypt hashes, extra response headers. A file that does not load is refused whole, with every problem named;
//! what loaded is immutable and swapped as a unit when the file or a file it names changes.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http::header::{HeaderName, HeaderValue};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Distinct successful logins remembered, so a scrape every few seconds does not pay a bcrypt hash (tens of
/// milliseconds of CPU at cost 10) each time. Bounded: a flood of distinct passwords cannot grow it.
const VERIFIED_CACHE: usize = 64;

/// bcrypt checks run at once. Each holds a CPU for tens of milliseconds; a flood of wrong passwords must not take
/// every core from the scrapes that know theirs (their check is a cache hit and never waits here).
const CONCURRENT_CHECKS: usize = 2;

/// Requests that may wait for one of those checks. Beyond it a request is answered 503 at once rather than
/// queued: a flood must not build a queue whose tail a real scraper's first login would wait behind.
const WAITING_CHECKS: usize = 16;

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
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_ca_file: Option<String>,
    client_auth_type: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
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
        let text = std::fs::read(path)
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
    let Ok(text) = std::fs::read(path) else {
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

/// The rustls configuration, whether client certificates are required, and the client names allowed.
type BuiltTls = (rustls::ServerConfig, bool, Option<Arc<[String]>>);

fn build_tls(raw: RawTls, dir: &Path, fingerprint: &mut Sha256) -> Result<BuiltTls, Vec<String>> {
    let mut problems = Vec::new();
    let mut pem = |inline: Option<String>,
                   file: Option<String>,
                   what: &str,
                   inline_key: &str,
                   file_key: &str|
     -> Option<Vec<u8>> {
        let bytes = match (
            inline.filter(|s| !s.is_empty()),
            file.filter(|s| !s.is_empty()),
        ) {
            (Some(_), Some(_)) => {
                problems.push(format!(
                    "tls_server_config: set {inline_key} or {file_key}, not both"
                ));
                return None;
            }
            (Some(text), None) => text.into_bytes(),
            (None, Some(file)) => {
                let path = dir.join(file);
                match std::fs::read(&path) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        problems.push(format!(
                            "tls_server_config: cannot read the {what} {}: {e}",
                            path.display()
                        ));
                        return None;
                    }
                }
            }
            (None, None) => return None,
        };
        fingerprint.update((bytes.len() as u64).to_le_bytes());
        fingerprint.update(&bytes);
        Some(bytes)
    };
    let given = |a: &Option<String>, b: &Option<String>| {
        [a, b]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| !v.is_empty()))
    };
    let have_cert = given(&raw.cert, &raw.cert_file);
    let have_key = given(&raw.key, &raw.key_file);
    let cert_pem = pem(raw.cert, raw.cert_file, "certificate", "cert", "cert_file");
    let key_pem = pem(raw.key, raw.key_file, "private key", "key", "key_file");
    let ca_pem = pem(
        raw.client_ca,
        raw.client_ca_file,
        "client CA",
        "client_ca",
        "client_ca_file",
    );

    let certs = cert_pem.and_then(|pem| {
        match CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>() {
            Ok(certs) if !certs.is_empty() => Some(certs),
            Ok(_) => {
                problems.push(
                    "tls_server_config: the certificate holds no PEM CERTIFICATE block".into(),
                );
                None
            }
            Err(e) => {
                problems.push(format!(
                    "tls_server_config: the certificate is not valid PEM: {e}"
                ));
                None
            }
        }
    });
    let key = key_pem.and_then(|pem| match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(key) => Some(key),
        // The parse error never quotes the key's bytes.
        Err(e) => {
            problems.push(format!("tls_server_config: the private key is not a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"));
            None
        }
    });
    if !have_cert {
        problems.push("tls_server_config: cert_file (or cert) is required".into());
    }
    if !have_key {
        problems.push("tls_server_config: key_file (or key) is required".into());
    }

    let mut provider = rustls::crypto::ring::default_provider();
    let versions = protocol_versions(
        raw.min_version.as_deref(),
        raw.max_version.as_deref(),
        &mut problems,
    );
    if let Some(names) = raw.cipher_suites.filter(|n| !n.is_empty()) {
        // TLS 1.3 suites are not configurable (as in Go); the list orders and restricts the TLS 1.2 ones.
        let mut suites: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied()
            .collect();
        for name in &names {
            match tls12_suite(name) {
                Some(id) => suites.extend(provider.cipher_suites.iter().filter(|s| s.suite() == id).copied()),
                None => problems.push(format!(
                    "tls_server_config: cipher suite {name:?} is not offered (only the ECDHE AES-GCM and ChaCha20-Poly1305 suites are: {})",
                    TLS12_SUITES.map(|s| format!("{s:?}")).join(", ")
                )),
            }
        }
        provider.cipher_suites = suites;
    }
    if let Some(names) = raw.curve_preferences.filter(|n| !n.is_empty()) {
        let mut groups = Vec::new();
        for name in &names {
            let wanted = match name.as_str() {
                "X25519" => Some(rustls::NamedGroup::X25519),
                "CurveP256" => Some(rustls::NamedGroup::secp256r1),
                "CurveP384" => Some(rustls::NamedGroup::secp384r1),
                _ => None,
            };
            match wanted.and_then(|g| provider.kx_groups.iter().find(|k| k.name() == g)) {
                Some(group) => groups.push(*group),
                None => problems.push(format!(
                    "tls_server_config: curve {name:?} is not offered (X25519, CurveP256 or CurveP384)"
                )),
            }
        }
        provider.kx_groups = groups;
    }
    let auth_type = raw.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let allowed_sans: Option<Arc<[String]>> = raw
        .client_allowed_sans
        .filter(|s| !s.is_empty())
        .map(Into::into);
    if allowed_sans.is_some() && auth_type != "RequireAndVerifyClientCert" {
        // Any other type lets a client in without a certificate, leaving no name to check.
        problems.push("tls_server_config: client_allowed_sans needs client_auth_type: RequireAndVerifyClientCert".into());
    }
    let provider = Arc::new(provider);
    let roots = ca_pem.and_then(|pem| {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            match cert
                .map_err(|e| e.to_string())
                .and_then(|c| roots.add(c).map_err(|e| e.to_string()))
            {
                Ok(()) => {}
                Err(e) => {
                    problems.push(format!(
                        "tls_server_config: the client CA is not a valid PEM certificate: {e}"
                    ));
                    return None;
                }
            }
        }
        if roots.is_empty() {
            problems.push("tls_server_config: the client CA holds no PEM CERTIFICATE block".into());
            return None;
        }
        Some(Arc::new(roots))
    });
    let verifier = match (auth_type, roots) {
        ("NoClientCert", None) => None,
        ("NoClientCert", Some(_)) => {
            problems.push("tls_server_config: client_ca_file is set but client_auth_type is NoClientCert, so no certificate would be checked; set client_auth_type: RequireAndVerifyClientCert".into());
            None
        }
        ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven", None) => {
            problems.push(format!("tls_server_config: client_auth_type {auth_type} needs client_ca_file (or client_ca)"));
            None
        }
        ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven", Some(roots)) => {
            let builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let builder = if auth_type == "VerifyClientCertIfGiven" {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            match builder.build() {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(format!("tls_server_config: cannot check client certificates against the client CA: {e}"));
                    None
                }
            }
        }
        ("RequestClientCert" | "RequireAnyClientCert", _) => {
            problems.push(format!("tls_server_config: client_auth_type {auth_type} accepts certificates nobody verified, so it is not supported; use RequireAndVerifyClientCert"));
            None
        }
        (other, _) => {
            problems.push(format!("tls_server_config: client_auth_type must be NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert, got {other:?}"));
            None
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let (Some(certs), Some(key)) = (certs, key) else {
        return Err(vec!["tls_server_config: certificate or key missing".into()]);
    };
    let required = auth_type == "RequireAndVerifyClientCert";
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| vec![format!("tls_server_config: {e}")])?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        vec![format!(
            "tls_server_config: the certificate and key do not make a usable pair: {e}"
        )]
    })?;
    config.ignore_client_order = raw.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, required, allowed_sans))
}

/// Whether the client certificate `der` (already verified against the client CA) names one of `allowed` in its
/// subject alternative names: a DNS name, an IP address, an e-mail address or a URI, compared exactly, as
/// exporter-toolkit does.
pub fn client_san_allowed(der: &[u8], allowed: &[String]) -> bool {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    let Ok(Some(sans)) = cert.subject_alternative_name() else {
        return false;
    };
    sans.value.general_names.iter().any(|name| {
        let text = match name {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                (*s).to_owned()
            }
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap_or_default())
                    .to_string(),
                16 => std::net::IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap_or_default())
                    .to_string(),
                _ => return false,
            },
            _ => return false,
        };
        allowed.contains(&text)
    })
}

fn protocol_versions(
    min: Option<&str>,
    max: Option<&str>,
    problems: &mut Vec<String>,
) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let rank = |name: Option<&str>, default: u8, key: &str, problems: &mut Vec<String>| match name {
        None | Some("") => default,
        Some("TLS12") => 2,
        Some("TLS13") => 3,
        Some("TLS10" | "TLS11") => {
            problems.push(format!("tls_server_config: {key} {:?} is not supported: TLS 1.0 and 1.1 are broken; use TLS12 or TLS13", name.unwrap_or_default()));
            default
        }
        Some(other) => {
            problems.push(format!(
                "tls_server_config: {key} must be TLS12 or TLS13, got {other:?}"
            ));
            default
        }
    };
    let low = rank(min, 2, "min_version", problems);
    let high = rank(max, 3, "max_version", problems);
    if low > high {
        problems.push("tls_server_config: min_version is above max_version".into());
    }
    let mut versions = Vec::new();
    if low <= 2 && high >= 2 {
        versions.push(&rustls::version::TLS12);
    }
    if high >= 3 && low <= 3 {
        versions.push(&rustls::version::TLS13);
    }
    versions
}

/// The TLS 1.2 suites offered. Their names in rustls are the IANA names Go uses too (what exporter-toolkit files
/// say); every other Go suite uses CBC or RSA key exchange and is refused.
const TLS12_SUITES: [rustls::CipherSuite; 6] = {
    use rustls::CipherSuite::*;
    [
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]
};

fn tls12_suite(name: &str) -> Option<rustls::CipherSuite> {
    // Go also accepts the ChaCha20 names without their _SHA256 suffix.
    let name = match name {
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            format!("{name}_SHA256")
        }
        other => other.to_owned(),
    };
    TLS12_SUITES.into_iter().find(|s| format!("{s:?}") == name)
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

/// The basic-authentication users: names and bcrypt hashes, and the logins already verified.
pub struct Users {
    hashes: BTreeMap<String, String>,
    /// What an unknown user's password is checked against: the hash of the highest cost present, so an unknown
    /// name never answers faster than a known one, whatever costs the hashes were made with.
    decoy: String,
    /// SHA-256 of (user, password, hash) for recent successful logins. A digest, so the passwords themselves are
    /// not kept; keyed on the hash too, so a changed hash is checked afresh.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// [`CONCURRENT_CHECKS`] permits, each moved into the blocking task that runs one bcrypt, so it is held until
    /// that hash is done even when the client hung up and its request was dropped.
    checks: Arc<Semaphore>,
    /// [`CONCURRENT_CHECKS`] + [`WAITING_CHECKS`] permits: a request holds one from before it waits until its
    /// check is done; none left means too many already wait.
    admitted: Arc<Semaphore>,
}

/// What a basic-authentication check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// A known user with the right password.
    Allowed,
    /// No credentials, an unknown user or a wrong password.
    Denied,
    /// Too many checks already running or waiting; nothing was checked.
    Busy,
}

impl Users {
    fn new(hashes: BTreeMap<String, String>) -> Result<Users, Vec<String>> {
        let mut problems = Vec::new();
        for (user, hash) in &hashes {
            if user.contains(':') {
                problems.push(format!("basic_auth_users: user {user:?} contains ':', which basic authentication cannot carry"));
            }
            if bcrypt::HashParts::from_str(hash).is_err() {
                // The value is a hash, but a mistyped one may be a plaintext password: never quote it.
                problems.push(format!("basic_auth_users: the password of {user:?} is not a bcrypt hash (make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let decoy = hashes
            .values()
            .max_by_key(|hash| bcrypt::HashParts::from_str(hash).map_or(0, |p| p.get_cost()))
            .cloned()
            .unwrap_or_default();
        Ok(Users {
            hashes,
            decoy,
            verified: Mutex::new(HashSet::new()),
            checks: Arc::new(Semaphore::new(CONCURRENT_CHECKS)),
            admitted: Arc::new(Semaphore::new(CONCURRENT_CHECKS + WAITING_CHECKS)),
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.hashes.keys().map(String::as_str)
    }

    /// Whether an `Authorization` header value carries a known user's password.
    pub async fn check(self: &Arc<Self>, authorization: Option<&[u8]>) -> Login {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return Login::Denied;
        };
        let (hash, known) = match self.hashes.get(&user) {
            Some(hash) => (hash.clone(), true),
            // An unknown user costs the same bcrypt as the dearest known one, so timing does not tell which names
            // exist.
            None => (self.decoy.clone(), false),
        };
        let key: [u8; 32] = {
            let mut h = Sha256::new();
            for part in [user.as_bytes(), password.as_bytes(), hash.as_bytes()] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part);
            }
            h.finalize().into()
        };
        if known && self.remembered(&key) {
            return Login::Allowed;
        }
        let Ok(admitted) = self.admitted.clone().try_acquire_owned() else {
            return Login::Busy;
        };
        let Ok(running) = self.checks.clone().acquire_owned().await else {
            return Login::Denied;
        };
        // Both permits go into the blocking task: if the client hangs up, this future is dropped, but the hash
        // already started keeps its place in the bound until it is done.
        let matched = tokio::task::spawn_blocking(move || {
            let matched = bcrypt::verify(password, &hash).unwrap_or(false);
            drop((running, admitted));
            matched
        })
        .await
        .unwrap_or(false);
        if matched && known {
            self.remember(key);
            Login::Allowed
        } else {
            Login::Denied
        }
    }

    fn remembered(&self, key: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .map(|set| set.contains(key))
            .unwrap_or(false)
    }

    fn remember(&self, key: [u8; 32]) {
        if let Ok(mut set) = self.verified.lock() {
            if set.len() >= VERIFIED_CACHE {
                set.clear();
            }
            set.insert(key);
        }
    }
}

/// `Basic base64(user:password)` → (user, password); `None` for any other scheme or a malformed value.
fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_parsing() {
        let b64 = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert_eq!(
            parse_basic(b64("alice:pa:ss").as_bytes()),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(
            parse_basic(b64("alice:").as_bytes()),
            Some(("alice".into(), String::new()))
        );
        assert_eq!(parse_basic(b64("nocolon").as_bytes()), None);
        assert_eq!(parse_basic(b"Bearer abc"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(b"Basic"), None);
    }

    #[test]
    fn unknown_users_are_checked_against_the_dearest_hash() {
        // `alice` sorts first: checking unknown names against the first hash would make them answer faster than
        // `zoe`, whose hash costs four times as much.
        let (cheap, dear) = (bcrypt::hash("a", 4).unwrap(), bcrypt::hash("b", 6).unwrap());
        let users = Users::new(BTreeMap::from([
            ("alice".to_owned(), cheap),
            ("zoe".to_owned(), dear.clone()),
        ]))
        .unwrap();
        assert_eq!(users.decoy, dear);
    }

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

    #[test]
    fn cipher_suites_by_go_name() {
        use rustls::CipherSuite::*;
        assert_eq!(
            tls12_suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            Some(TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
        );
        assert_eq!(
            tls12_suite("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"),
            Some(TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
        );
        assert_eq!(tls12_suite("TLS_RSA_WITH_AES_128_GCM_SHA256"), None);
        assert_eq!(tls12_suite("TLS_AES_128_GCM_SHA256"), None);
    }

    #[test]
    fn versions() {
        let mut p = Vec::new();
        assert_eq!(protocol_versions(None, None, &mut p).len(), 2);
        assert_eq!(
            protocol_versions(Some("TLS13"), None, &mut p),
            vec![&rustls::version::TLS13]
        );
        assert_eq!(
            protocol_versions(None, Some("TLS12"), &mut p),
            vec![&rustls::version::TLS12]
        );
        assert!(p.is_empty());
        protocol_versions(Some("TLS13"), Some("TLS12"), &mut p);
        protocol_versions(Some("TLS10"), None, &mut p);
        protocol_versions(None, Some("SSL3"), &mut p);
        assert_eq!(p.len(), 3, "{p:?}");
    }
}
