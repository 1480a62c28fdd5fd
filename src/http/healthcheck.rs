//! `zenlayer-exporter --healthcheck`: a self-probe for container `HEALTHCHECK`s, which run inside images that
//! have no curl or shell. It reads only the listen address and the web configuration, so it works in demo mode
//! and without credentials. Over TLS it does not verify the certificate: it talks to its own process on
//! loopback, sends nothing secret and reads only a status line. It carries no password or client certificate,
//! so the server refusing it for want of them (401, or TLS 1.3's certificate_required alert) counts as alive.
//! The web configuration only says which transport to try first: the file may have changed since the server
//! loaded it (a reload that failed keeps the server as it was), so a probe that fails on one tries the other.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Bound on the whole probe: a process that cannot answer `/healthz` this fast is not healthy.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where to probe a server listening on `listen`: the loopback address of the same family when it listens on
/// every address.
pub fn probe_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// GETs `/healthz` from `listen`, over TLS first when `tls_first`, then over the other transport if the first
/// got no good answer; `Ok` when either answers 200 or 401, else why not.
pub fn probe(listen: SocketAddr, tls_first: bool) -> Result<(), String> {
    let target = probe_address(listen);
    let name = |tls: bool| if tls { "TLS" } else { "plain HTTP" };
    match probe_once(target, tls_first) {
        Ok(()) => Ok(()),
        Err(Failure::Connect(e)) => Err(e),
        Err(Failure::Answer(first)) => probe_once(target, !tls_first).map_err(|second| {
            let second = match second {
                Failure::Connect(e) | Failure::Answer(e) => e,
            };
            format!(
                "over {}: {first}; over {}: {second}",
                name(tls_first),
                name(!tls_first)
            )
        }),
    }
}

/// Why one probe failed: nothing listens (trying again over the other transport is pointless), or what listens
/// gave no good answer.
enum Failure {
    Connect(String),
    Answer(String),
}

fn probe_once(target: SocketAddr, tls: bool) -> Result<(), Failure> {
    let stream = TcpStream::connect_timeout(&target, PROBE_TIMEOUT)
        .map_err(|e| Failure::Connect(format!("cannot connect to {target}: {e}")))?;
    let answer = |e: std::io::Error| Failure::Answer(e.to_string());
    stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .map_err(answer)?;
    stream
        .set_write_timeout(Some(PROBE_TIMEOUT))
        .map_err(answer)?;
    let head = if tls {
        let connection = rustls::ClientConnection::new(
            Arc::new(insecure_client().map_err(Failure::Answer)?),
            ServerName::IpAddress(target.ip().into()),
        )
        .map_err(|e| Failure::Answer(e.to_string()))?;
        exchange(rustls::StreamOwned::new(connection, stream))
    } else {
        exchange(stream)
    };
    match head {
        Ok(head) if matches!(&head[9..12], b"200" | b"401") && head.starts_with(b"HTTP/1.") => {
            Ok(())
        }
        Ok(other) => Err(Failure::Answer(format!(
            "{target} answered {:?}",
            String::from_utf8_lossy(&other)
        ))),
        Err(e) if is_certificate_required(&e) => Ok(()),
        Err(e) => Err(Failure::Answer(format!("no answer from {target}: {e}"))),
    }
}

fn exchange(mut stream: impl Read + Write) -> std::io::Result<[u8; 12]> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(head)
}

fn is_certificate_required(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| {
            matches!(
                e,
                rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired)
            )
        })
}

fn insecure_client() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    )
}

/// Accepts whatever certificate the exporter presents: see the module header for why that is safe here. The
/// handshake signature is still checked, so the peer holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_loopback_for_wildcard_listeners() {
        let p = |s: &str| probe_address(s.parse().unwrap()).to_string();
        assert_eq!(p("0.0.0.0:9612"), "127.0.0.1:9612");
        assert_eq!(p("[::]:9612"), "[::1]:9612");
        assert_eq!(p("10.1.2.3:80"), "10.1.2.3:80");
    }

    #[test]
    fn a_closed_port_is_unhealthy() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(probe(SocketAddr::from(([127, 0, 0, 1], port)), false).is_err());
    }
}
