//! What every measurement of the fleet benchmark runs on: child processes that are stopped when dropped, a raw
//! HTTP client, /proc readings, the exporter's poll log followed, wrk, and nginx serving given bytes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const EXPORTER: &str = env!("CARGO_BIN_EXE_zenlayer-exporter");
pub const SIM: &str = env!("CARGO_BIN_EXE_zenlayer-sim");

pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM, so nginx's master takes its workers down with it (SIGKILL would orphan them).
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `zenlayer-sim` on a free loopback port with `args`, its standard output piped (it prints where it serves, and
/// with `--accounts` the accounts file).
pub fn sim_process(args: &[&str]) -> Proc {
    let child = Command::new(SIM)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("zenlayer-sim");
    Proc(child)
}

/// `zenlayer-sim` serving `instances` with `latency_ms` added to every call: the process, its URL, its address.
pub fn sim(instances: usize, latency_ms: u64) -> (Proc, String, SocketAddr) {
    let (instances, latency_ms) = (instances.to_string(), latency_ms.to_string());
    sim_serving(&["--instances", &instances, "--latency-ms", &latency_ms])
}

/// `zenlayer-sim` with `args`, once it serves: the process, its URL, its address.
pub fn sim_serving(args: &[&str]) -> (Proc, String, SocketAddr) {
    let mut sim = sim_process(args);
    let first = BufReader::new(sim.0.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    (sim, url, addr)
}

/// An exporter binary with the settings every measurement shares (its own port, two tags allow-listed, JSON logs
/// with the polls at debug, which is how polls are followed: watching them costs the exporter nothing) and
/// `settings`, which may override them. Returns once it listens.
pub fn exporter(bin: &Path, settings: &[(&str, &str)]) -> (Proc, SocketAddr, Polls, Instant) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let started = Instant::now();
    let mut command = Command::new(bin);
    command
        .env_clear()
        .env("ZENLAYER_EXPORTER_LISTEN_ADDRESS", addr.to_string())
        .env("ZENLAYER_EXPORTER_TAG_LABELS", "env,team")
        .env("ZENLAYER_EXPORTER_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,zenlayer_exporter::poll=debug")
        .stderr(Stdio::piped());
    for (key, value) in settings {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("the exporter binary");
    let polls = Polls::follow(child.stderr.take().unwrap());
    let child = Proc(child);
    wait_until("the exporter to listen", Duration::from_secs(30), || {
        TcpStream::connect(addr).is_ok()
    });
    (child, addr, polls, started)
}

/// The settings of the simulator's first account at `url`, polled every 2 s.
pub fn sim_account(url: &str) -> [(&str, &str); 4] {
    [
        ("ZENLAYER_EXPORTER_API_URL", url),
        ("ZENLAYERCLOUD_ACCESS_KEY_ID", "SIMAKID0000000000001"),
        (
            "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD",
            "sim-secret-0000000000000001",
        ),
        ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "2"),
    ]
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A blocking HTTP/1.1 GET with `Connection: close`: (status, body).
pub fn get(addr: SocketAddr, path: &str, extra: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: bench\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let status = std::str::from_utf8(&raw[9..12]).unwrap().parse().unwrap();
    (status, raw[split + 4..].to_vec())
}

pub fn put(addr: SocketAddr, path: &str, body: &str) {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(s, "PUT {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
}

/// (utime + stime) of a process, and its resident and peak resident memory, from /proc.
pub fn usage(pid: u32) -> (Duration, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| {
                l.strip_prefix(key)?
                    .trim()
                    .strip_suffix(" kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    (
        Duration::from_millis(ticks * 10),
        kb("VmRSS:") * 1024,
        kb("VmHWM:") * 1024,
    )
}

pub fn wait_until(what: &str, limit: Duration, mut probe: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !probe() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Successful polls seen in the exporter's JSON log, status and metadata apart: their durations in ms.
pub struct Polls {
    status: Arc<std::sync::Mutex<Vec<f64>>>,
    metadata: Arc<std::sync::Mutex<Vec<f64>>>,
    health: Arc<std::sync::Mutex<Vec<f64>>>,
}

impl Polls {
    /// Follows the JSON log on `stderr` (the exporter runs with `zenlayer_exporter::poll=debug`).
    pub fn follow(stderr: std::process::ChildStderr) -> Polls {
        let polls = Polls {
            status: Default::default(),
            metadata: Default::default(),
            health: Default::default(),
        };
        let (status, metadata, health) = (
            polls.status.clone(),
            polls.metadata.clone(),
            polls.health.clone(),
        );
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let sink = match event["message"].as_str() {
                    Some("poll succeeded") => &status,
                    Some("metadata poll succeeded") => &metadata,
                    Some("hardware health poll succeeded") => &health,
                    _ => continue,
                };
                if let Some(ms) = event["duration_ms"].as_f64() {
                    sink.lock().unwrap().push(ms);
                }
            }
        });
        polls
    }

    /// Successful status polls so far.
    pub fn count(&self) -> usize {
        self.status.lock().unwrap().len()
    }

    /// Their durations in ms, in order.
    pub fn durations(&self) -> Vec<f64> {
        self.status.lock().unwrap().clone()
    }

    /// The successful hardware health polls' durations in ms, in order.
    pub fn health_durations(&self) -> Vec<f64> {
        self.health.lock().unwrap().clone()
    }

    /// The successful metadata polls' durations in ms, in order.
    pub fn metadata_durations(&self) -> Vec<f64> {
        self.metadata.lock().unwrap().clone()
    }
}

pub struct Wrk {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub fn wrk(url: &str, connections: u32, seconds: u64, gzip: bool) -> Wrk {
    let headers: &[&str] = if gzip {
        &["Accept-Encoding: gzip"]
    } else {
        &[]
    };
    wrk_with(url, connections, seconds, headers)
}

/// `wrk` sending each of `headers` with every request.
pub fn wrk_with(url: &str, connections: u32, seconds: u64, headers: &[&str]) -> Wrk {
    let threads = connections.min(2).to_string();
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t",
        &threads,
        "-c",
        &connections.to_string(),
        "-d",
        &format!("{seconds}s"),
        "--latency",
        "--timeout",
        "30s",
    ]);
    for header in headers {
        cmd.args(["-H", header]);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk runs (Debian's wrk package)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let ms = |label: &str| -> f64 {
        let v = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(str::trim)
            .unwrap_or("0ms");
        let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
        let n: f64 = num.parse().unwrap_or(0.0);
        match unit {
            "us" => n / 1000.0,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => n,
        }
    };
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .map_or(0.0, |v| v.trim().parse().unwrap_or(0.0));
    let errors = text
        .lines()
        .any(|l| l.contains("Non-2xx") || l.contains("Socket errors"));
    assert!(!errors, "wrk reported errors against {url}:\n{text}");
    Wrk {
        rps,
        p50_ms: ms("50%"),
        p99_ms: ms("99%"),
    }
}

/// nginx serving `plain` and its gzip form (gzip_static) from a temporary root.
pub fn nginx(dir: &Path, plain: &[u8], gzip: &[u8]) -> (Proc, u16) {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("metrics"), plain).unwrap();
    std::fs::write(root.join("metrics.gz"), gzip).unwrap();
    let port = free_port();
    let conf = format!(
        "daemon off;\nworker_processes auto;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n  gzip_static on;\n  gzip_vary on;\n\
           client_body_temp_path {dir}/tmp;\n  proxy_temp_path {dir}/tmp;\n  fastcgi_temp_path {dir}/tmp;\n  uwsgi_temp_path {dir}/tmp;\n  scgi_temp_path {dir}/tmp;\n\
           default_type \"text/plain; version=0.0.4; charset=utf-8\";\n\
           server {{ listen 127.0.0.1:{port}; root {root}; }}\n}}\n",
        dir = dir.display(),
        root = root.display()
    );
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .args([
            "-c",
            &dir.join("nginx.conf").display().to_string(),
            "-p",
            &dir.display().to_string(),
        ])
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx runs (Debian's nginx-light package)");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_until("nginx", Duration::from_secs(10), || {
        TcpStream::connect(addr).is_ok()
    });
    (Proc(child), port)
}
