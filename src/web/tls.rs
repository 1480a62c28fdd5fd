//! TLS from the web configuration: the `tls_server_config` keys as written, the rustls server configuration
//! they make (versions, suites, curves, client certificate verification), and the check of a client
//! certificate's names against `client_allowed_sans`.

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use sha2::{Digest, Sha256};

crate::labels::label_values! {
    /// `client_auth_type`, as exporter-toolkit (Go's `tls.ClientAuthType`) names it.
    enum ClientAuth {
        NoClientCert = "NoClientCert",
        RequestClientCert = "RequestClientCert",
        RequireAnyClientCert = "RequireAnyClientCert",
        VerifyClientCertIfGiven = "VerifyClientCertIfGiven",
        RequireAndVerifyClientCert = "RequireAndVerifyClientCert",
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
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

/// The rustls configuration, whether client certificates are required, and the client names allowed.
type BuiltTls = (rustls::ServerConfig, bool, Option<Arc<[String]>>);

pub(super) fn build_tls(
    raw: RawTls,
    dir: &Path,
    fingerprint: &mut Sha256,
) -> Result<BuiltTls, Vec<String>> {
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
    let auth = ClientAuth::ALL
        .iter()
        .copied()
        .find(|a| a.as_str() == auth_type);
    let allowed_sans: Option<Arc<[String]>> = raw
        .client_allowed_sans
        .filter(|s| !s.is_empty())
        .map(Into::into);
    if allowed_sans.is_some() && auth != Some(ClientAuth::RequireAndVerifyClientCert) {
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
    use ClientAuth::*;
    let verifier = match (auth, roots) {
        (Some(NoClientCert), None) => None,
        (Some(NoClientCert), Some(_)) => {
            problems.push("tls_server_config: client_ca_file is set but client_auth_type is NoClientCert, so no certificate would be checked; set client_auth_type: RequireAndVerifyClientCert".into());
            None
        }
        (Some(RequireAndVerifyClientCert | VerifyClientCertIfGiven), None) => {
            problems.push(format!("tls_server_config: client_auth_type {auth_type} needs client_ca_file (or client_ca)"));
            None
        }
        (Some(verified @ (RequireAndVerifyClientCert | VerifyClientCertIfGiven)), Some(roots)) => {
            let builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let builder = if verified == VerifyClientCertIfGiven {
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
        (Some(RequestClientCert | RequireAnyClientCert), _) => {
            problems.push(format!("tls_server_config: client_auth_type {auth_type} accepts certificates nobody verified, so it is not supported; use RequireAndVerifyClientCert"));
            None
        }
        (None, _) => {
            problems.push(format!("tls_server_config: client_auth_type must be NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert, got {auth_type:?}"));
            None
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let (Some(certs), Some(key)) = (certs, key) else {
        return Err(vec!["tls_server_config: certificate or key missing".into()]);
    };
    let required = auth == Some(RequireAndVerifyClientCert);
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

#[cfg(test)]
mod tests {
    use super::*;

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
