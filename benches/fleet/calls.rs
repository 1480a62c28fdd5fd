//! What one status call costs in CPU, layer by layer, in this process against the simulator in its own: the
//! request written and the answer read by hand over kept-alive connections (what the kernel's TCP and the
//! runtime cost at all), then the exporter's own reqwest client (its pool and hyper's connection tasks), then the
//! exporter's API client (its gates, signing, headers, reading and classifying the answer, decoding the rows). Set
//! beside the exporter's CPU per status poll at 1,000 accounts, it says how much of what an account costs is the
//! floor under the exporter's own code: issue 26's 1.2x leaves about 15 µs a call.

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
use zenlayer_exporter::zenlayer::transport::shared_http;

use super::harness::sim_serving;

/// Calls each worker makes per layer, after as many to warm up, and how many workers run at once (each over its
/// own kept-alive connection).
const CALLS_EACH: usize = 1_250;
pub const IN_FLIGHT: usize = 16;
pub const CALLS: usize = CALLS_EACH * IN_FLIGHT;
/// A small account's product: its whole status list fits one page.
const INSTANCES: usize = 34;
/// The simulator's bearer token, for the two layers below the exporter's client (which signs, as accounts do).
const TOKEN: &str = "bench-token";
/// The simulator's default key pair (see `harness::sim_account`).
const KEY_ID: &str = "SIMAKID0000000000001";
const KEY_SECRET: &str = "sim-secret-0000000000000001";

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

/// Runs `IN_FLIGHT` workers made by `worker(calls)`, each making `calls` calls one after another: once to warm up
/// (connections opened, buffers grown), then measured. The CPU per measured call, in µs.
async fn per_call<W, F>(worker: W) -> f64
where
    W: Fn(usize) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let run = |calls: usize| {
        let tasks: Vec<_> = (0..IN_FLIGHT)
            .map(|_| tokio::spawn(worker(calls)))
            .collect();
        async move {
            for task in tasks {
                task.await.expect("a worker of calls");
            }
        }
    };
    run(CALLS_EACH).await;
    let before = cpu();
    run(CALLS_EACH).await;
    (cpu() - before).as_secs_f64() * 1e6 / CALLS as f64
}

/// The CPU of a status call in this process, by layer, against a simulator of one account of `INSTANCES` VMs,
/// each answer checked to be the simulator's whole list.
pub fn call_cost() -> CallCost {
    let (_sim, url, addr) = sim_serving(&["--instances", &INSTANCES.to_string(), "--token", TOKEN]);
    let base: url::Url = url.parse().unwrap();
    let declared = declaration::of(Product::Vm);
    let action = declared.status_action();
    let service = service_url(&base, declared.service);
    let request = PageRequest {
        page_size: Some(1000),
        page_num: Some(1),
        ..PageRequest::default()
    };
    let body = serde_json::to_vec(&request).unwrap();
    // What the two lower layers send beside `host` and `content-length`, which each writes its own way.
    let headers: Arc<[(&str, String)]> = Arc::new([
        ("content-type", CONTENT_TYPE_JSON.to_owned()),
        ("x-zc-action", action.to_owned()),
        ("x-zc-version", declared.version.to_owned()),
        ("x-zc-service", declared.service.to_owned()),
        ("authorization", format!("Bearer {TOKEN}")),
    ]);
    // reqwest is built without a default crypto provider, as the exporter is (its client installs ring's).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let request_bytes: Arc<[u8]> = {
            let mut head = format!("POST {} HTTP/1.1\r\nhost: {addr}\r\n", service.path());
            for (name, value) in headers.iter() {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
            let mut bytes = head.into_bytes();
            bytes.extend_from_slice(&body);
            bytes.into()
        };
        let by_hand = per_call(|calls| by_hand(addr, request_bytes.clone(), calls)).await;

        let http = shared_http(None, Duration::from_secs(10)).unwrap();
        let reqwest = per_call(|calls| {
            let (http, service, headers) = (http.clone(), service.clone(), headers.clone());
            let body = body.clone();
            async move {
                for _ in 0..calls {
                    let mut call = http.post(service.clone()).body(body.clone());
                    for (name, value) in headers.iter() {
                        call = call.header(*name, value);
                    }
                    let answer = call.send().await.unwrap();
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
            auth: Auth::Signature {
                access_key_id: KEY_ID.to_owned(),
                secret: Secret::new(KEY_SECRET),
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
            let (client, service, request) = (client.clone(), service.clone(), request.clone());
            async move {
                for _ in 0..calls {
                    // No account budget to wait for here: the process's gate alone.
                    let page = client
                        .describe_page(&service, action, &request, &decode_statuses, || async {})
                        .await
                        .unwrap();
                    assert_eq!(page.data_set.len(), INSTANCES);
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
            read_more(&mut stream, &mut buffer).await;
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
            read_more(&mut stream, &mut buffer).await;
        }
        assert!(buffer.ends_with(b"}"), "a whole answer");
    }
}

/// Reads what `stream` has into `buffer`, which must be something: the simulator keeps its connections open.
async fn read_more(stream: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) {
    let read = stream.read_buf(buffer).await.unwrap();
    assert!(read > 0, "the simulator closed the connection");
}
