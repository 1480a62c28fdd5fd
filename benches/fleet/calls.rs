//! What one status call costs in CPU, layer by layer, in this process against the simulator in its own: the
//! request written and the answer read by hand over kept-alive connections (what the kernel's TCP and the
//! runtime cost at all), then reqwest as the exporter builds it (its pool and hyper's connection tasks), then the
//! exporter's client (its gates, headers, reading and classifying the answer, decoding the rows). Set beside the
//! exporter's CPU per status poll at 1,000 accounts, it says how much of what an account costs is the floor
//! under the exporter's own code: issue 26's 1.2x leaves about 25 µs a call.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zenlayer_exporter::secret::Secret;
use zenlayer_exporter::telemetry::AccountMetrics;
use zenlayer_exporter::zenlayer::client::{
    Auth, CONTENT_TYPE_JSON, CallSettings, Client, Endpoint, service_url,
};
use zenlayer_exporter::zenlayer::declaration;
use zenlayer_exporter::zenlayer::model::PageRequest;
use zenlayer_exporter::zenlayer::page::decode_statuses;
use zenlayer_exporter::zenlayer::product::Product;

use super::harness::sim_serving;

/// Calls per layer, and how many are in flight at once (each over its own kept-alive connection).
pub const CALLS: usize = 20_000;
pub const IN_FLIGHT: usize = 16;
/// A small account's product: its whole status list fits one page.
const INSTANCES: &str = "34";
const TOKEN: &str = "bench-token";

/// Microseconds of this process's CPU per call, by layer.
pub struct CallCost {
    pub by_hand: f64,
    pub reqwest: f64,
    pub client: f64,
}

/// User and system CPU this process has spent.
fn cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs `IN_FLIGHT` workers, each made by `worker` and making `CALLS / IN_FLIGHT` calls one after another; the
/// CPU per call in µs.
async fn per_call<W, F>(worker: W) -> f64
where
    W: Fn(usize) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let before = cpu();
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|_| tokio::spawn(worker(CALLS / IN_FLIGHT)))
        .collect();
    for task in tasks {
        task.await.expect("a worker of calls");
    }
    (cpu() - before).as_secs_f64() * 1e6 / CALLS as f64
}

/// The CPU of a status call in this process, by layer, against a simulator of one account of `INSTANCES`
/// VMs, each answer checked to be the simulator's whole list.
pub fn call_cost() -> CallCost {
    let (_sim, url, addr) = sim_serving(&["--instances", INSTANCES, "--token", TOKEN]);
    let base: url::Url = url.parse().unwrap();
    let declared = declaration::of(Product::Vm);
    let action = declared.status_action();
    let body = serde_json::to_vec(&PageRequest {
        page_size: Some(1000),
        page_num: Some(1),
        ..PageRequest::default()
    })
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let path = service_url(&base, declared.service).path().to_owned();
        let request: Arc<[u8]> = {
            let mut head = format!(
                "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {CONTENT_TYPE_JSON}\r\n\
                 x-zc-action: {action}\r\nx-zc-version: {}\r\nx-zc-service: {}\r\n\
                 authorization: Bearer {TOKEN}\r\ncontent-length: {}\r\n\r\n",
                declared.version,
                declared.service,
                body.len()
            )
            .into_bytes();
            head.extend_from_slice(&body);
            head.into()
        };
        let by_hand = per_call(|calls| by_hand(addr, request.clone(), calls)).await;

        // reqwest is built without a default crypto provider, as in the exporter (which installs ring's).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        let service = service_url(&base, declared.service);
        let reqwest = per_call(|calls| {
            let (http, service, body) = (http.clone(), service.clone(), body.clone());
            async move {
                for _ in 0..calls {
                    let answer = http
                        .post(service.clone())
                        .header("content-type", CONTENT_TYPE_JSON)
                        .header("x-zc-action", action)
                        .header("x-zc-version", declared.version)
                        .header("x-zc-service", declared.service)
                        .bearer_auth(TOKEN)
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(answer.status(), 200);
                    let page = answer.bytes().await.unwrap();
                    assert!(page.ends_with(b"}"), "a whole answer");
                }
            }
        })
        .await;

        let settings = CallSettings {
            request_timeout: Duration::from_secs(10),
            max_retries: 0,
            backoff_base: Duration::from_millis(100),
            total_concurrency: 256,
        };
        let endpoint = Endpoint {
            base_url: base.clone(),
            auth: Auth::Bearer {
                token: Secret::new(TOKEN),
            },
            proxy: None,
        };
        let client = Arc::new(Client::new(endpoint, settings).unwrap());
        let metrics = AccountMetrics::new(Product::Vm);
        let service = Arc::new(
            client
                .service(declared.service, declared.version, metrics)
                .unwrap(),
        );
        let ours = per_call(|calls| {
            let (client, service) = (client.clone(), service.clone());
            async move {
                let request = PageRequest {
                    page_size: Some(1000),
                    page_num: Some(1),
                    ..PageRequest::default()
                };
                for _ in 0..calls {
                    let page = client
                        .describe_page(&service, action, &request, &decode_statuses, || async {})
                        .await
                        .unwrap();
                    assert_eq!(page.data_set.len().to_string(), INSTANCES);
                }
            }
        })
        .await;
        CallCost {
            by_hand,
            reqwest,
            client: ours,
        }
    })
}

/// `calls` calls over one kept-alive connection to `addr`, each `request` written whole and its answer read to
/// the end its `content-length` gives.
async fn by_hand(addr: SocketAddr, request: Arc<[u8]>, calls: usize) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buffer = Vec::with_capacity(16 * 1024);
    for _ in 0..calls {
        stream.write_all(&request).await.unwrap();
        buffer.clear();
        let (head_end, length) = loop {
            if stream.read_buf(&mut buffer).await.unwrap() == 0 {
                panic!("the simulator closed the connection");
            }
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buffer[..at])
                    .unwrap()
                    .to_ascii_lowercase();
                assert!(head.starts_with("http/1.1 200"), "{head}");
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .expect("a content-length")
                    .trim()
                    .parse()
                    .unwrap();
                break (at + 4, length);
            }
        };
        while buffer.len() < head_end + length {
            stream.read_buf(&mut buffer).await.unwrap();
        }
        assert!(buffer.ends_with(b"}"), "a whole answer");
    }
}
