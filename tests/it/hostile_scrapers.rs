//! Hostile and careless scrapers: hundreds at once, slowloris on the headers, idle sockets filling the connection
//! cap, clients that never read the body, oversized headers, pipelining and garbage. The exporter keeps serving
//! everyone else and keeps polling.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zenlayer_exporter::http::server::ServerConfig;

use crate::common;
use common::{DEADLINE, Exporter, config_for, eventually, get, sample};

async fn exporter(
    instances: usize,
    server: ServerConfig,
) -> (zenlayer_exporter::sim::Simulator, Exporter) {
    let sim = common::sim(instances).await;
    let exporter = Exporter::start_with(config_for(&sim, &[]), server).await;
    exporter
        .metrics_until("first poll", |b| sample(b, "zenlayer_up") == Some(1.0))
        .await;
    (sim, exporter)
}

/// One raw request on its own connection: the whole answer, read to the end.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer)).await;
    answer
}

fn polls(body: &str) -> f64 {
    sample(
        body,
        "zenlayer_exporter_polls_total{action=\"DescribeInstancesStatus\"}",
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_concurrent_scrapes_all_complete_and_polls_go_on() {
    let (_sim, exporter) = exporter(2_000, ServerConfig::default()).await;
    let before = polls(&exporter.metrics().await);
    let addr = exporter.addr;
    let scrapes: Vec<_> = (0..300)
        .map(|_| {
            tokio::spawn(raw(
                addr,
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ))
        })
        .collect();
    for scrape in scrapes {
        let answer = scrape.await.unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with("HTTP/1.1 200"),
            "{}",
            &text[..text.len().min(200)]
        );
        assert!(
            text.contains("zenlayer_instance_status{") && text.ends_with('\n'),
            "a whole body"
        );
    }
    exporter
        .metrics_until("polls after the storm", |b| polls(b) >= before + 2.0)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_on_headers_is_cut_off_and_others_are_served() {
    let server = ServerConfig {
        header_read_timeout: Duration::from_millis(300),
        max_connections: 64,
        ..ServerConfig::default()
    };
    let (_sim, exporter) = exporter(100, server).await;
    let mut slow = Vec::new();
    for _ in 0..64 {
        let mut s = TcpStream::connect(exporter.addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    // Every slot is taken by a slow client: a real scrape makes the oldest give way, and the rest are cut off once
    // their headers time out.
    let (status, body) = tokio::time::timeout(DEADLINE, get(&exporter.url("/metrics")))
        .await
        .expect("served");
    assert_eq!(status, 200);
    assert!(body.contains("zenlayer_up 1"));
    for mut s in slow {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(DEADLINE, s.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a slow client's connection was closed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_do_not_hold_their_slots() {
    let server = ServerConfig {
        max_connections: 8,
        write_stall_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    // 60,000 instances: a body of several megabytes, far more than the socket buffers hold.
    let (_sim, exporter) = exporter(60_000, server).await;
    let mut sleepers = Vec::new();
    for _ in 0..8 {
        // A small receive window, so the body cannot all vanish into kernel buffers.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut s = socket.connect(exporter.addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        sleepers.push(s);
    }
    let (status, _) = tokio::time::timeout(DEADLINE, get(&exporter.url("/healthz")))
        .await
        .expect("served once the stalled writes were given up");
    assert_eq!(status, 200);
    // The sleepers' connections were closed mid-body: reading now ends well before a whole body.
    for mut s in sleepers {
        let mut got = Vec::new();
        let _ = tokio::time::timeout(DEADLINE, s.read_to_end(&mut got)).await;
        assert!(
            !String::from_utf8_lossy(&got)
                .trim_end()
                .ends_with("zenlayer_up 1"),
            "cut off, not completed"
        );
    }
}

#[tokio::test]
async fn oversized_headers_pipelining_and_garbage() {
    let (_sim, exporter) = exporter(10, ServerConfig::default()).await;
    let mut huge = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 200 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    let answer = raw(exporter.addr, &huge).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{}",
        &text[..text.len().min(100)]
    );

    let pipelined = raw(
        exporter.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&pipelined);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    assert!(
        text.find("ok\n").unwrap() < text.find("ready\n").unwrap(),
        "answered in order"
    );

    for garbage in [
        &b"\x00\x01\x02garbage\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"\r\n\r\n\r\n",
    ] {
        let answer = raw(exporter.addr, garbage).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 4") || text.starts_with("HTTP/1.1 505"),
            "{text}"
        );
    }
    eventually("still serving", || async {
        (get(&exporter.url("/healthz")).await.0 == 200).then_some(())
    })
    .await;
}

/// The binary under a low open-file limit: it raises the soft limit to the hard one, sizes its connection cap from
/// it, and when idle and slowloris sockets fill the cap a scrape is answered at once, not after the header timeout
/// (10 s by default, Prometheus' whole scrape timeout) frees a slot.
#[test]
fn idle_crowds_at_the_descriptor_limit_never_keep_a_scrape_waiting() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    let mut command = Command::new(env!("CARGO_BIN_EXE_zenlayer-exporter"));
    command
        .arg("--demo")
        .env_clear()
        .env("ZENLAYER_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0")
        .env("ZENLAYER_EXPORTER_LOG_FORMAT", "json")
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 200,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = KillOnDrop(command.spawn().unwrap());
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let (mut limit, mut addr) = (None, None);
    while addr.is_none() {
        let line = lines
            .next()
            .expect("the exporter logs where it serves")
            .unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["message"] == "open-file limit" {
            limit = Some(event.clone());
        }
        if event["message"] == "serving /metrics" {
            addr = event["address"].as_str().map(str::to_owned);
        }
    }
    // The rest of the log is drained, so the exporter never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let limit = limit.expect("the limits are logged before serving");
    assert_eq!(
        (&limit["soft_before"], &limit["soft"], &limit["hard"]),
        (&200.into(), &256.into(), &256.into()),
        "{limit}"
    );
    // 256 descriptors, less 128 kept aside and 4 for the one account's API calls.
    assert_eq!(limit["max_connections"], 124, "{limit}");
    let addr: std::net::SocketAddr = addr.unwrap().parse().unwrap();

    // Twice the cap in silent sockets, then slowloris senders that never finish their headers.
    let mut crowd = Vec::new();
    for _ in 0..248 {
        crowd.push(std::net::TcpStream::connect(addr).unwrap());
    }
    for _ in 0..30 {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .unwrap();
        crowd.push(s);
    }
    let mut scrape = std::net::TcpStream::connect(addr).unwrap();
    // Well below the 10 s header timeout that used to free the slot the scrape waited for.
    scrape
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    scrape
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    scrape
        .read_to_string(&mut answer)
        .expect("answered before the header timeout");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let shed = sample(
        &answer,
        "zenlayer_exporter_http_requests_rejected_total{reason=\"shed\"}",
    )
    .unwrap();
    // 279 connections for 124 slots: at least the difference gave way, oldest first.
    assert!(shed >= 155.0, "shed {shed}");
    let first = &mut crowd[0];
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let read = first.read(&mut [0u8; 1]);
    assert!(
        matches!(&read, Ok(0))
            || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the oldest idle socket was closed: {read:?}"
    );
}

/// Kills the child when dropped, so a failing assertion leaves no exporter behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
