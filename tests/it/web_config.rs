//! The web configuration file (`ZENLAYER_EXPORTER_WEB_CONFIG_FILE`) end to end, with certificates made at test
//! time: TLS, client certificates and basic authentication on every endpoint against real TLS clients (reqwest
//! on rustls, and a real Prometheus scraping over mutual TLS); renewed certificates and changed users taken up
//! without a restart while a broken file keeps the last good one; every mistake in a file named at start-up.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zenlayer_exporter::Config;
use zenlayer_exporter::http::server::ServerConfig;

use crate::common;
use common::prometheus::{Prometheus, TempDir};
use common::{Exporter, config_for, eventually, sample};

/// A certificate authority made for one test.
pub(crate) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
}

/// A certificate and its private key, PEM.
pub(crate) struct Leaf {
    pub(crate) cert: String,
    pub(crate) key: String,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    pub(crate) fn server(&self) -> Leaf {
        self.leaf(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self) -> Leaf {
        self.client_named(&["prometheus"])
    }

    fn client_named(&self, names: &[&str]) -> Leaf {
        self.leaf(names, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap().pem();
        Leaf {
            cert,
            key: key.serialize_pem(),
        }
    }
}

/// A real TLS client: trusts `ca`, and presents `identity` when given.
fn tls_client(ca: &Ca, identity: Option<&Leaf>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(leaf.cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// GET with optional basic credentials: the status and the named response header, or the error's text.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
    credentials: Option<(&str, &str)>,
) -> Result<(u16, reqwest::header::HeaderMap, String), String> {
    let mut request = client.get(url);
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.map_err(|e| format!("{e:?}"))?;
    Ok((status, headers, body))
}

fn write(dir: &Path, name: &str, content: &str) {
    // Written beside and renamed, as Kubernetes and cert-manager do: the watcher never sees half a file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

/// Cost 4, the least bcrypt allows: these tests are about who gets in, not about hashing time.
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

fn config_with_web_file(sim: &zenlayer_exporter::sim::Simulator, file: &Path) -> Config {
    let mut config = config_for(
        sim,
        &[("ZENLAYER_EXPORTER_WEB_CONFIG_FILE", file.to_str().unwrap())],
    );
    config.secret_reload_interval = Duration::from_millis(100);
    config
}

const MTLS_AND_USERS: &str = "tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
    X-Frame-Options: deny
basic_auth_users:
  prometheus: HASH
";

/// A directory holding a web configuration for mutual TLS and one user, `prometheus` / `s3cret`, with the
/// certificate files named relative to it.
fn mtls_dir(name: &str, ca: &Ca, server: &Leaf) -> TempDir {
    let dir = TempDir::new(name);
    write(&dir.0, "ca.crt", &ca.pem);
    write(&dir.0, "server.crt", &server.cert);
    write(&dir.0, "server.key", &server.key);
    write(
        &dir.0,
        "web.yml",
        &MTLS_AND_USERS.replace("HASH", &hash("s3cret")),
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_and_basic_auth_guard_every_endpoint() {
    let sim = common::sim(5).await;
    let ca = Ca::new("scrapers CA");
    let dir = mtls_dir("web-mtls", &ca, &ca.server());
    // Metadata on, so /sd has targets to serve behind the same guard.
    let mut config = config_with_web_file(&sim, &dir.0.join("web.yml"));
    config.metadata_interval = Some(Duration::from_secs(300));
    let exporter = Exporter::start(config).await;
    let base = format!("https://{}", exporter.addr);
    let good = tls_client(&ca, Some(&ca.client()));
    let user = Some(("prometheus", "s3cret"));

    eventually("ready, with metadata, over TLS", || async {
        let (status, ..) = fetch(&good, &format!("{base}/sd?port=9100"), user)
            .await
            .ok()?;
        (status == 200).then_some(())
    })
    .await;
    // A reload is behind the same door: without the password it is refused before its method is looked at.
    let (status, ..) = fetch(&good, &format!("{base}/-/reload"), None)
        .await
        .unwrap();
    assert_eq!(status, 401, "/-/reload without the password");
    let (status, ..) = fetch(&good, &format!("{base}/-/reload"), user)
        .await
        .unwrap();
    assert_eq!(status, 405, "/-/reload is POST only");
    for path in [
        "/metrics",
        "/",
        "/healthz",
        "/readyz",
        "/-/healthy",
        "/-/ready",
        "/sd?port=9100",
    ] {
        let (status, headers, body) = fetch(&good, &format!("{base}{path}"), user).await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "deny", "{path}");
        if path == "/metrics" {
            assert_eq!(
                common::instance_statuses(&body).len(),
                5,
                "the fleet, over TLS"
            );
        }
        // The right certificate is not enough: every endpoint also wants the password.
        for credentials in [
            None,
            Some(("prometheus", "wrong")),
            Some(("nobody", "s3cret")),
        ] {
            let (status, headers, _) = fetch(&good, &format!("{base}{path}"), credentials)
                .await
                .unwrap();
            assert_eq!(status, 401, "{path} with {credentials:?}");
            assert!(
                headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Basic "),
                "{path}"
            );
        }
    }

    // The right password is not enough either: no certificate, one from another CA, plain HTTP.
    let rogue_ca = Ca::new("someone else's CA");
    let refused = [
        ("no client certificate", tls_client(&ca, None)),
        (
            "a client certificate from another CA",
            tls_client(&ca, Some(&rogue_ca.client())),
        ),
    ];
    for (what, client) in &refused {
        let outcome = fetch(client, &format!("{base}/metrics"), user).await;
        assert!(outcome.is_err(), "{what}: {outcome:?}");
    }
    let plain = fetch(
        &common::client(),
        &format!("http://{}/metrics", exporter.addr),
        user,
    )
    .await;
    assert!(
        !matches!(plain, Ok((200, ..))),
        "plain HTTP to the TLS port: {plain:?}"
    );
    // And the client checks the exporter: a server certificate from a CA it does not trust is refused.
    let distrustful = tls_client(&rogue_ca, Some(&ca.client()));
    assert!(
        fetch(&distrustful, &format!("{base}/healthz"), user)
            .await
            .is_err()
    );

    let (_, _, body) = fetch(&good, &format!("{base}/metrics"), user)
        .await
        .unwrap();
    let rejected = |reason: &str| {
        sample(
            &body,
            &format!("zenlayer_exporter_http_requests_rejected_total{{reason=\"{reason}\"}}"),
        )
        .unwrap()
    };
    assert!(rejected("unauthorized") >= 12.0, "{body}");
    assert!(rejected("tls_handshake") >= 3.0, "{body}");

    // The container HEALTHCHECK probe has neither password nor certificate, and still tells a live server.
    let (address, tls) = zenlayer_exporter::config::probe_target_from_vars([
        (
            "ZENLAYER_EXPORTER_LISTEN_ADDRESS".to_owned(),
            exporter.addr.to_string(),
        ),
        (
            "ZENLAYER_EXPORTER_WEB_CONFIG_FILE".to_owned(),
            dir.0.join("web.yml").display().to_string(),
        ),
    ])
    .unwrap();
    assert!(tls);
    let probe = tokio::task::spawn_blocking(move || {
        zenlayer_exporter::http::healthcheck::probe(address, tls)
    })
    .await
    .unwrap();
    assert_eq!(probe, Ok(()));
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_allowed_sans_admits_only_the_named_clients() {
    let sim = common::sim(2).await;
    let ca = Ca::new("scrapers CA");
    let dir = mtls_dir("web-sans", &ca, &ca.server());
    write(
        &dir.0,
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans: [prometheus, 10.0.0.9, \"spiffe://mon/prom\"]\n",
    );
    let exporter = Exporter::start(config_with_web_file(&sim, &dir.0.join("web.yml"))).await;
    let url = format!("https://{}/healthz", exporter.addr);
    for (names, admitted) in [
        (&["prometheus"][..], true),
        (&["other", "10.0.0.9"][..], true),
        (&["spiffe://mon/prom"][..], true),
        (&["intruder"][..], false),
        (&["10.0.0.10", "prometheus.example"][..], false),
    ] {
        let client = tls_client(&ca, Some(&ca.client_named(names)));
        let outcome = fetch(&client, &url, None).await;
        assert_eq!(
            matches!(outcome, Ok((200, ..))),
            admitted,
            "{names:?}: {outcome:?}"
        );
    }
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_certificates_and_changed_users_apply_without_a_restart() {
    let sim = common::sim(3).await;
    let (old_ca, new_ca) = (Ca::new("old CA"), Ca::new("new CA"));
    let dir = TempDir::new("web-reload");
    let server = old_ca.server();
    write(&dir.0, "server.crt", &server.cert);
    write(&dir.0, "server.key", &server.key);
    let users = |password: &str| {
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: {}\n",
            hash(password)
        )
    };
    write(&dir.0, "web.yml", &users("one"));
    let exporter = Exporter::start_with(
        config_with_web_file(&sim, &dir.0.join("web.yml")),
        ServerConfig::default(),
    )
    .await;
    let url = format!("https://{}/healthz", exporter.addr);
    let (old_client, new_client) = (tls_client(&old_ca, None), tls_client(&new_ca, None));
    assert_eq!(
        fetch(&old_client, &url, Some(("alice", "one")))
            .await
            .unwrap()
            .0,
        200
    );

    // A renewal from another CA and a new password, written as a rotation writes them: certificate first.
    let server = new_ca.server();
    write(&dir.0, "server.key", &server.key);
    write(&dir.0, "server.crt", &server.cert);
    write(&dir.0, "web.yml", &users("two"));
    eventually("the new certificate and password in use", || async {
        let (status, ..) = fetch(&new_client, &url, Some(("alice", "two")))
            .await
            .ok()?;
        (status == 200).then_some(())
    })
    .await;
    assert_eq!(
        fetch(&new_client, &url, Some(("alice", "one")))
            .await
            .unwrap()
            .0,
        401,
        "the old password no longer works"
    );
    // A connection kept alive from before the renewal gets one last answer, told to close; the next one needs
    // the new certificate.
    match fetch(&old_client, &url, Some(("alice", "two"))).await {
        Ok((_, headers, _)) => assert_eq!(headers["connection"], "close"),
        Err(e) => panic!("the kept-alive connection got no answer: {e}"),
    }
    assert!(
        fetch(&old_client, &url, Some(("alice", "two")))
            .await
            .is_err(),
        "the old certificate is no longer served"
    );

    // A broken file is reported and changes nothing.
    write(
        &dir.0,
        "web.yml",
        "tls_server_config: [this is not a mapping\n",
    );
    let metrics_url = format!("https://{}/metrics", exporter.addr);
    let body = eventually("the failed reload reported", || async {
        let (_, _, body) = fetch(&new_client, &metrics_url, Some(("alice", "two")))
            .await
            .ok()?;
        (sample(&body, "zenlayer_exporter_web_config_last_reload_successful") == Some(0.0))
            .then_some(body)
    })
    .await;
    assert!(common::instance_statuses(&body).len() == 3, "{body}");
    write(&dir.0, "web.yml", &users("two"));
    eventually("a good file reported again", || async {
        let (_, _, body) = fetch(&new_client, &metrics_url, Some(("alice", "two")))
            .await
            .ok()?;
        (sample(&body, "zenlayer_exporter_web_config_last_reload_successful") == Some(1.0))
            .then_some(())
    })
    .await;
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

/// The problems `Config` reports for a web configuration file holding `yaml` (beside a valid certificate, key and
/// CA named server.crt, server.key and ca.crt).
fn problems_with(yaml: &str) -> Vec<String> {
    let ca = Ca::new("CA");
    let server = ca.server();
    let dir = TempDir::new(&format!("web-bad-{:x}", fastrand::u64(..)));
    write(&dir.0, "ca.crt", &ca.pem);
    write(&dir.0, "server.crt", &server.cert);
    write(&dir.0, "server.key", &server.key);
    write(&dir.0, "other.key", &ca.client().key);
    write(&dir.0, "web.yml", yaml);
    let vars = [
        (
            "ZENLAYER_EXPORTER_WEB_CONFIG_FILE".to_owned(),
            dir.0.join("web.yml").display().to_string(),
        ),
        (
            "ZENLAYER_EXPORTER_LISTEN_ADDRESS".to_owned(),
            "127.0.0.1:0".to_owned(),
        ),
    ];
    match Config::from_vars(vars, true) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .problems
            .into_iter()
            .map(|p| {
                assert_eq!(p.variable, "ZENLAYER_EXPORTER_WEB_CONFIG_FILE");
                p.message
            })
            .collect(),
    }
}

#[test]
fn every_mistake_in_a_web_configuration_file_is_named_at_start_up() {
    const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let cases: &[(&str, &[&str])] = &[
        ("", &[]),
        (TLS, &[]),
        ("basic_auth_users: {}\n", &[]),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_fil: ca.crt\n",
            &["unknown field `client_ca_fil`"],
        ),
        ("rate_limit:\n  burst: 1\n", &["unknown field `rate_limit`"]),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
            &["cannot read the certificate"],
        ),
        (
            "tls_server_config:\n  key_file: server.key\n",
            &["cert_file (or cert) is required"],
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
            &["do not make a usable pair"],
        ),
        (
            "tls_server_config:\n  cert_file: server.key\n  key_file: server.crt\n",
            &["holds no PEM CERTIFICATE", "not a PEM private key"],
        ),
        (
            &format!("{TLS}  client_ca_file: ca.crt\n"),
            &["client_auth_type is NoClientCert"],
        ),
        (
            &format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n"),
            &["needs client_ca_file"],
        ),
        (
            &format!("{TLS}  client_auth_type: RequireAnyClientCert\n  client_ca_file: ca.crt\n"),
            &["accepts certificates nobody verified"],
        ),
        (
            &format!("{TLS}  min_version: TLS11\n"),
            &["TLS 1.0 and 1.1 are broken"],
        ),
        (
            &format!("{TLS}  min_version: TLS13\n  max_version: TLS12\n"),
            &["min_version is above max_version"],
        ),
        (
            &format!("{TLS}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"),
            &["TLS_RSA_WITH_AES_128_CBC_SHA\" is not offered"],
        ),
        (
            &format!("{TLS}  curve_preferences: [CurveP521]\n"),
            &["curve \"CurveP521\" is not offered"],
        ),
        (
            &format!(
                "{TLS}  client_allowed_sans: [prometheus]\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n"
            ),
            &["client_allowed_sans needs client_auth_type: RequireAndVerifyClientCert"],
        ),
        (
            "http_server_config:\n  headers:\n    Set-Cookie: a=b\n    X-Frame-Options: allow-all\n",
            &[
                "\"Set-Cookie\" cannot be set",
                "X-Frame-Options cannot be \"allow-all\"",
            ],
        ),
        (
            "tls_server_config: [1, 2\n",
            &["is not a valid web configuration"],
        ),
        (
            // Several mistakes at once are all reported, and a password written in clear is never echoed.
            &format!(
                "{TLS}  min_version: TLS10\n  client_auth_type: Sometimes\nbasic_auth_users:\n  alice: hunter2-plaintext\n  \"bob:x\": {}\n",
                hash("x")
            ),
            &[
                "TLS 1.0 and 1.1 are broken",
                "client_auth_type must be",
                "password of \"alice\" is not a bcrypt hash",
                "\"bob:x\" contains ':'",
            ],
        ),
    ];
    for (yaml, expected) in cases {
        let problems = problems_with(yaml);
        assert_eq!(
            problems.len(),
            expected.len(),
            "{yaml:?} gave {problems:#?}"
        );
        for fragment in *expected {
            assert!(
                problems.iter().any(|p| p.contains(fragment)),
                "{yaml:?}: no problem mentions {fragment:?} in {problems:#?}"
            );
        }
        assert!(
            !problems.iter().any(|p| p.contains("hunter2")),
            "{problems:?}"
        );
    }
    let missing = Config::from_vars(
        [(
            "ZENLAYER_EXPORTER_WEB_CONFIG_FILE".to_owned(),
            "/nonexistent/web.yml".to_owned(),
        )],
        true,
    )
    .unwrap_err();
    assert!(
        missing.problems[0]
            .message
            .contains("cannot read /nonexistent/web.yml"),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_over_mutual_tls_with_basic_auth() {
    let sim = common::sim(4).await;
    let ca = Ca::new("scrapers CA");
    let exporter_dir = mtls_dir("web-prom-exporter", &ca, &ca.server());
    let exporter =
        Exporter::start(config_with_web_file(&sim, &exporter_dir.0.join("web.yml"))).await;

    let dir = TempDir::new("web-prometheus");
    let client = ca.client();
    write(&dir.0, "ca.crt", &ca.pem);
    write(&dir.0, "client.crt", &client.cert);
    write(&dir.0, "client.key", &client.key);
    let job = |name: &str, tls: &str, password: &str, target: SocketAddr| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config: {{{tls}}}\n    basic_auth: {{username: prometheus, password: {password}}}\n    static_configs: [{{targets: [\"{target}\"]}}]\n"
        )
    };
    let full_tls = "ca_file: ca.crt, cert_file: client.crt, key_file: client.key";
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n{}{}{}",
        job("mtls", full_tls, "s3cret", exporter.addr),
        job("wrong-password", full_tls, "nope", exporter.addr),
        job("no-client-cert", "ca_file: ca.crt", "s3cret", exporter.addr),
    );
    let prometheus = Prometheus::start(dir, &config).await;
    let up = eventually("every job scraped once", || async {
        let result = prometheus.query("up").await.ok()?;
        let up: std::collections::BTreeMap<String, String> = result
            .iter()
            .map(|s| {
                (
                    s["metric"]["job"].as_str().unwrap_or("").to_owned(),
                    s["value"][1].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        (up.len() == 3 && up["mtls"] == "1").then_some(up)
    })
    .await;
    assert_eq!(up["wrong-password"], "0", "{up:?}");
    assert_eq!(up["no-client-cert"], "0", "{up:?}");
    let instances = prometheus
        .query("count(zenlayer_instance_status{job=\"mtls\"})")
        .await
        .unwrap();
    assert_eq!(instances[0]["value"][1], "4", "{instances:?}");
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_and_password_floods_do_not_lock_scrapers_out() {
    use tokio::io::AsyncReadExt as _;

    let sim = common::sim(2).await;
    let ca = Ca::new("CA");
    let dir = mtls_dir("web-hostile", &ca, &ca.server());
    let server = ServerConfig {
        header_read_timeout: Duration::from_millis(500),
        max_connections: 8,
        ..ServerConfig::default()
    };
    let exporter =
        Exporter::start_with(config_with_web_file(&sim, &dir.0.join("web.yml")), server).await;

    // Every slot taken by sockets that never start their handshake: each is dropped after the bound.
    let mut stalled = Vec::new();
    for _ in 0..8 {
        stalled.push(tokio::net::TcpStream::connect(exporter.addr).await.unwrap());
    }
    for mut socket in stalled {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(common::DEADLINE, socket.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a silent socket was not dropped: {read:?}"
        );
    }

    // Two hundred wrong passwords at once, each a bcrypt check, while the real scraper keeps being answered.
    let base = format!("https://{}", exporter.addr);
    let good = tls_client(&ca, Some(&ca.client()));
    let user = Some(("prometheus", "s3cret"));
    eventually("ready", || async {
        (fetch(&good, &format!("{base}/readyz"), user).await.ok()?.0 == 200).then_some(())
    })
    .await;
    let flood: Vec<_> = (0..200)
        .map(|i| {
            let client = good.clone();
            let url = format!("{base}/metrics");
            tokio::spawn(async move {
                fetch(&client, &url, Some(("prometheus", &format!("guess{i}"))))
                    .await
                    .map(|r| r.0)
            })
        })
        .collect();
    for _ in 0..5 {
        let (status, ..) = fetch(&good, &format!("{base}/metrics"), user)
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    for attempt in flood {
        assert_eq!(attempt.await.unwrap(), Ok(401));
    }
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn the_example_web_configuration_loads_as_documented() {
    let ca = Ca::new("CA");
    let server = ca.server();
    let dir = TempDir::new("web-example");
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/web-config.example.yml"),
    )
    .unwrap();
    write(&dir.0, "web.yml", &example);
    write(&dir.0, "tls.crt", &server.cert);
    write(&dir.0, "tls.key", &server.key);
    write(&dir.0, "ca.crt", &ca.pem);
    // The reference implementation (exporter-toolkit, inside promtool) accepts the same file.
    let promtool = std::process::Command::new("promtool")
        .args(["check", "web-config"])
        .arg(dir.0.join("web.yml"))
        .output()
        .expect("promtool (Debian's prometheus package) is installed");
    assert!(
        promtool.status.success(),
        "{}",
        String::from_utf8_lossy(&promtool.stdout)
    );
    let web = zenlayer_exporter::web::WebConfig::load(&dir.0.join("web.yml")).unwrap();
    assert_eq!(
        web.summary(),
        "TLS with client certificates required, basic authentication for prometheus"
    );
    let users = web.users.clone().unwrap();
    use base64::Engine as _;
    let basic = |pair: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    use zenlayer_exporter::web::Login;
    assert_eq!(
        users
            .check(Some(basic("prometheus:change-me").as_bytes()))
            .await,
        Login::Allowed
    );
    assert_eq!(
        users
            .check(Some(basic("prometheus:change-it").as_bytes()))
            .await,
        Login::Denied
    );
}

/// Threads of process `pid` now.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The largest thread count of `pid` seen while `during` runs, sampled every few milliseconds.
async fn peak_threads<T>(pid: u32, during: impl std::future::Future<Output = T>) -> (usize, T) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(threads(pid));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let out = during.await;
    // Blocking threads that ran a flood's hashes outlive them by seconds; a last look catches any the
    // sampler's period missed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    (sampler.join().unwrap(), out)
}

/// One request with basic credentials on a fresh connection: the status code, or 0 when none came.
async fn status_of(addr: SocketAddr, path: &str, user: &str, password: &str) -> u16 {
    common::client()
        .get(format!("http://{addr}{path}"))
        .timeout(common::DEADLINE)
        .basic_auth(user, Some(password))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// The security review's flood: wrong passwords whose clients hang up 10 ms after sending used to leave their
/// bcrypt running on a fresh blocking thread each (40 requests, 41 threads), outside the two-check bound. Run
/// against the real binary so the thread count is the exporter's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_floods_that_hang_up_stay_within_the_check_bound() {
    use tokio::io::AsyncWriteExt as _;

    let dir = TempDir::new("web-flood");
    // Cost 8: slow enough in a debug build that forty checks cannot finish before the flood is sent.
    write(
        &dir.0,
        "web.yml",
        &format!(
            "basic_auth_users:\n  prometheus: {}\n",
            bcrypt::hash("s3cret", 8).unwrap()
        ),
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_zenlayer-exporter"))
        .arg("--demo")
        .env_clear()
        .env("ZENLAYER_EXPORTER_LISTEN_ADDRESS", addr.to_string())
        .env("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "1")
        .env("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "0")
        .env("ZENLAYER_EXPORTER_WEB_CONFIG_FILE", dir.0.join("web.yml"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = KillOnDrop(child);
    let pid = child.0.id();
    eventually("the exporter ready", || async {
        (status_of(addr, "/readyz", "prometheus", "s3cret").await == 200).then_some(())
    })
    .await;
    let polls = |body: &str| {
        let failed: f64 = common::series(body, "zenlayer_exporter_poll_failures_total")
            .iter()
            .map(|(_, v)| v)
            .sum();
        let action = "{action=\"DescribeInstancesStatus\"}";
        (
            sample(body, &format!("zenlayer_exporter_polls_total{action}")).unwrap_or(0.0),
            failed,
        )
    };
    let scrape = || async {
        let response = common::client()
            .get(format!("http://{addr}/metrics"))
            .basic_auth("prometheus", Some("s3cret"))
            .timeout(common::DEADLINE)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    let before = polls(&scrape().await);
    // Settle: the blocking threads of the start-up and of the first login are there already.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = threads(pid);

    // Forty wrong passwords, each closed 10 ms after it is sent, while the real scraper keeps scraping.
    let (peak, scrapes) = peak_threads(pid, async {
        let flood: Vec<_> = (0..40)
            .map(|i| {
                tokio::spawn(async move {
                    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
                    let credentials = base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        format!("prometheus:guess{i}"),
                    );
                    let request = format!(
                        "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {credentials}\r\n\r\n"
                    );
                    socket.write_all(request.as_bytes()).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for _ in 0..5 {
            let started = std::time::Instant::now();
            scrape().await;
            latencies.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for hung_up in flood {
            hung_up.await.unwrap();
        }
        latencies
    })
    .await;
    eprintln!(
        "hang-up flood: threads {baseline} before, {peak} at the peak; the real scrapes took {scrapes:?}"
    );
    assert!(
        peak <= baseline + 3,
        "threads went from {baseline} to {peak}: hashes ran outside the bound"
    );

    // Forty wrong passwords that wait for their answers: two are checked at a time and sixteen may wait; the
    // rest are told at once to come back, and none is let in.
    let (peak, statuses) = peak_threads(pid, async {
        let waiting: Vec<_> = (0..40)
            .map(|i| {
                tokio::spawn(async move {
                    status_of(addr, "/metrics", "prometheus", &format!("guess{i}")).await
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for request in waiting {
            statuses.push(request.await.unwrap());
        }
        statuses
    })
    .await;
    let count = |code| statuses.iter().filter(|s| **s == code).count();
    eprintln!(
        "waiting flood: {} answered 401, {} answered 503, threads at the peak {peak}",
        count(401),
        count(503)
    );
    assert_eq!(count(401) + count(503), 40, "{statuses:?}");
    assert!(count(401) >= 2 && count(503) >= 1, "{statuses:?}");
    assert!(
        peak <= baseline + 3,
        "threads went from {baseline} to {peak}"
    );

    // The polls kept their interval through both floods, and none failed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let body = scrape().await;
    let after = polls(&body);
    assert!(
        after.0 > before.0,
        "no poll ran during the floods: {before:?} → {after:?}"
    );
    assert_eq!(after.1, before.1, "a poll failed during the floods");
    assert!(
        sample(
            &body,
            "zenlayer_exporter_http_requests_rejected_total{reason=\"auth_busy\"}"
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{body}"
    );
    drop(child);
}

/// A child process killed when the test ends, even by a failed assertion.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `zenlayer-exporter --healthcheck` as the container probe runs it, with the web configuration file at `web`.
fn healthcheck(addr: SocketAddr, web: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_zenlayer-exporter"))
        .arg("--healthcheck")
        .env_clear()
        .env("ZENLAYER_EXPORTER_LISTEN_ADDRESS", addr.to_string())
        .env("ZENLAYER_EXPORTER_WEB_CONFIG_FILE", web)
        .output()
        .unwrap()
}

/// Editors and `>` truncate a file before writing it, so a reload can read an empty file or any prefix of one.
/// None of those may lower protection: each keeps the configuration in use and says so in the reload gauge,
/// and the container probe keeps passing on each (it used to fail on a file the server tolerates, and a
/// restart would then have refused to start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_never_lowers_protection_and_the_probe_tolerates_what_the_server_does() {
    let sim = common::sim(2).await;
    let ca = Ca::new("CA");
    let dir = mtls_dir("web-downgrade", &ca, &ca.server());
    let web = dir.0.join("web.yml");
    let full = std::fs::read_to_string(&web).unwrap();
    let exporter =
        Exporter::start_with(config_with_web_file(&sim, &web), ServerConfig::default()).await;
    let base = format!("https://{}", exporter.addr);
    let good = tls_client(&ca, Some(&ca.client()));
    let no_cert = tls_client(&ca, None);
    let plain = common::client();
    let user = Some(("prometheus", "s3cret"));
    let reload_ok = || async {
        let (_, _, body) = fetch(&good, &format!("{base}/metrics"), user).await.ok()?;
        sample(&body, "zenlayer_exporter_web_config_last_reload_successful")
    };
    let users_at = full.find("basic_auth_users:").unwrap();
    let cases = [
        ("emptied by `: > web.yml`", String::new()),
        ("cut before the users", full[..users_at].to_owned()),
        (
            "cut before the client CA",
            full[..full.find("  client_auth_type").unwrap()].to_owned(),
        ),
        ("only the users left", full[users_at..].to_owned()),
        ("not YAML at all", "tls_server_config: [oops\n".to_owned()),
    ];
    for (what, text) in cases {
        // Written in place, as a truncating editor does: no rename.
        std::fs::write(&web, &text).unwrap();
        eventually(&format!("{what}: the reload refused"), || async {
            (reload_ok().await == Some(0.0)).then_some(())
        })
        .await;
        let anonymous = fetch(&good, &format!("{base}/metrics"), None).await;
        assert_eq!(
            anonymous.map(|r| r.0),
            Ok(401),
            "{what}: users still required"
        );
        assert!(
            fetch(&no_cert, &format!("{base}/healthz"), user)
                .await
                .is_err(),
            "{what}: client certificates still required"
        );
        assert!(
            plain
                .get(format!("http://{}/metrics", exporter.addr))
                .send()
                .await
                .is_err(),
            "{what}: still TLS only"
        );
        let probe = healthcheck(exporter.addr, &web);
        assert!(
            probe.status.success(),
            "{what}: --healthcheck failed: {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        std::fs::write(&web, &full).unwrap();
        eventually(&format!("{what}: the full file taken up again"), || async {
            (reload_ok().await == Some(1.0)).then_some(())
        })
        .await;
    }
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}
