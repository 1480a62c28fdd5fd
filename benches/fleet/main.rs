//! Fleet-scale benchmark: the exporter and the simulator as separate release processes on loopback, at several
//! fleet sizes, against nginx serving the same bytes in the same run. Reports scrape throughput and latency
//! (wrk), poll duration against the ideal, CPU per poll, memory, start-up and render time, as Markdown.
//!
//!   cargo bench --bench fleet                       # 1k, 10k, 100k, 1M instances, 10 s per wrk run
//!   cargo bench --bench fleet -- --sizes 100000 --seconds 5
//!   cargo bench --bench fleet -- accounts           # 100 x 1,000 and 1,000 x 100 accounts x instances, each
//!                                                   # against one account of as many, and 1,000 over 4 shards
//!
//! Needs `wrk` and `nginx` (Debian's `wrk` and `nginx-light`). See benches/README.md for how to read it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use zenlayer_exporter::exposition::render::{Rendered, StatusSeries};
use zenlayer_exporter::sim::Fleet;
use zenlayer_exporter::status::snapshot::Snapshot;

const EXPORTER: &str = env!("CARGO_BIN_EXE_zenlayer-exporter");
const SIM: &str = env!("CARGO_BIN_EXE_zenlayer-sim");
/// Added to every simulated API call for the poll measurement, as the design's target states it.
const POLL_LATENCY_MS: u64 = 50;
const PAGE_SIZE: u64 = 1000;
const PAGE_CONCURRENCY: u64 = 4;

struct Proc(Child);

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A blocking HTTP/1.1 GET with `Connection: close`: (status, body).
fn get(addr: SocketAddr, path: &str, extra: &str) -> (u16, Vec<u8>) {
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

fn put(addr: SocketAddr, path: &str, body: &str) {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(s, "PUT {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
}

/// (utime + stime) of a process, and its resident and peak resident memory, from /proc.
fn usage(pid: u32) -> (Duration, u64, u64) {
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

fn wait_until(what: &str, limit: Duration, mut probe: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !probe() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Successful polls seen in the exporter's JSON log: their durations in ms, in order.
struct Polls(Arc<std::sync::Mutex<Vec<f64>>>);

impl Polls {
    fn follow(stderr: std::process::ChildStderr) -> Polls {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if event["message"] == "poll succeeded" {
                    if let Some(ms) = event["duration_ms"].as_f64() {
                        sink.lock().unwrap().push(ms);
                    }
                }
            }
        });
        Polls(seen)
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn durations(&self) -> Vec<f64> {
        self.0.lock().unwrap().clone()
    }
}

struct Wrk {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn wrk(url: &str, connections: u32, seconds: u64, gzip: bool) -> Wrk {
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
    if gzip {
        cmd.args(["-H", "Accept-Encoding: gzip"]);
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
fn nginx(dir: &Path, plain: &[u8], gzip: &[u8]) -> (Proc, u16) {
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

struct Row {
    n: usize,
    body_plain: usize,
    body_gzip: usize,
    ready_ms: f64,
    first_poll_ms: f64,
    poll_ms: f64,
    ideal_ms: f64,
    cpu_per_poll_ms: f64,
    rss_mb: f64,
    peak_mb: f64,
    render_ms: f64,
    scrape: Vec<(&'static str, Wrk, Wrk)>,
}

fn render_time(n: usize) -> f64 {
    let fleet = Fleet::generate(n, 7);
    let snapshot = Arc::new(Snapshot::new(
        fleet
            .instances()
            .iter()
            .map(|i| (i.id.clone(), i.status.clone())),
        SystemTime::now(),
    ));
    let runs = (2_000_000 / n.max(1)).clamp(1, 50);
    let started = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(Rendered::new(
            &snapshot,
            None,
            StatusSeries::Current,
            b"",
            None,
        ));
    }
    started.elapsed().as_secs_f64() * 1000.0 / runs as f64
}

fn measure(n: usize, seconds: u64, metadata: &str, work: &Path) -> Row {
    let mut sim = Command::new(SIM)
        .args(["--listen", "127.0.0.1:0", "--instances", &n.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("zenlayer-sim");
    let first = BufReader::new(sim.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let sim_url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let sim_addr: SocketAddr = sim_url.trim_start_matches("http://").parse().unwrap();
    let _sim = Proc(sim);

    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    let mut exporter = Command::new(EXPORTER)
        .env_clear()
        .env("ZENLAYER_EXPORTER_API_URL", &sim_url)
        .env("ZENLAYERCLOUD_ACCESS_KEY_ID", "SIMAKID0000000000001")
        .env(
            "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD",
            "sim-secret-0000000000000001",
        )
        .env("ZENLAYER_EXPORTER_LISTEN_ADDRESS", addr.to_string())
        .env("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "2")
        .env("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", metadata)
        .env("ZENLAYER_EXPORTER_TAG_LABELS", "env,team")
        .env("ZENLAYER_EXPORTER_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,zenlayer_exporter::poll::paging=debug")
        .stderr(Stdio::piped())
        .spawn()
        .expect("zenlayer-exporter");
    let pid = exporter.id();
    // Polls are followed through the exporter's own debug log, so watching them costs it nothing.
    let polls = Polls::follow(exporter.stderr.take().unwrap());
    let _exporter = Proc(exporter);
    wait_until("the exporter to listen", Duration::from_secs(30), || {
        TcpStream::connect(addr).is_ok()
    });
    wait_until("readiness", Duration::from_secs(300), || {
        get(addr, "/readyz", "").0 == 200
    });
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    wait_until("the first poll's log line", Duration::from_secs(10), || {
        polls.count() >= 1
    });
    let first_poll_ms = polls.durations()[0];

    // CPU and memory over five polls with nobody scraping.
    let p0 = polls.count();
    let (cpu0, _, _) = usage(pid);
    wait_until("five polls", Duration::from_secs(600), || {
        polls.count() >= p0 + 5
    });
    let (cpu1, rss, _) = usage(pid);
    let cpu_per_poll_ms = (cpu1 - cpu0).as_secs_f64() * 1000.0 / (polls.count() - p0) as f64;

    // Scrapes, with polls still running every 2 s: the exporter against nginx serving its very bytes.
    let plain = get(addr, "/metrics", "").1;
    let gzip = get(addr, "/metrics", "Accept-Encoding: gzip\r\n").1;
    let nginx_dir = work.join(format!("nginx-{n}"));
    let (_nginx, nginx_port) = nginx(&nginx_dir, &plain, &gzip);
    let exporter_url = format!("http://{addr}/metrics");
    let nginx_url = format!("http://127.0.0.1:{nginx_port}/metrics");
    let mut scrape = Vec::new();
    for (label, gz) in [("plain", false), ("gzip", true)] {
        let ours_16 = wrk(&exporter_url, 16, seconds, gz);
        let theirs_16 = wrk(&nginx_url, 16, seconds, gz);
        let ours_1 = wrk(&exporter_url, 1, seconds, gz);
        let theirs_1 = wrk(&nginx_url, 1, seconds, gz);
        scrape.push((label, ours_16, theirs_16));
        scrape.push((
            if gz { "gzip, 1 conn" } else { "plain, 1 conn" },
            ours_1,
            theirs_1,
        ));
    }
    let (_, _, peak) = usage(pid);

    // Poll duration with 50 ms added to every API call, against the ideal. The poll in flight when the latency
    // is set may have started without it: skip it, then average three whole polls.
    put(
        sim_addr,
        "/_sim/faults",
        &format!("{{\"latencyMs\":{POLL_LATENCY_MS}}}"),
    );
    let c0 = polls.count() + 1;
    wait_until("three polls with latency", Duration::from_secs(900), || {
        polls.count() >= c0 + 3
    });
    let poll_ms = polls.durations()[c0..c0 + 3].iter().sum::<f64>() / 3.0;
    let pages = (n as u64).div_ceil(PAGE_SIZE).max(1);
    let ideal_ms = (POLL_LATENCY_MS * (1 + (pages - 1).div_ceil(PAGE_CONCURRENCY))) as f64;

    Row {
        n,
        body_plain: plain.len(),
        body_gzip: gzip.len(),
        ready_ms,
        first_poll_ms,
        poll_ms,
        ideal_ms,
        cpu_per_poll_ms,
        rss_mb: rss as f64 / 1e6,
        peak_mb: peak as f64 / 1e6,
        render_ms: render_time(n),
        scrape,
    }
}

/// A simulator serving `accounts` accounts of `instances` each (in one process, as one API endpoint serves every
/// account), and the accounts file it prints.
fn accounts_sim(accounts: usize, instances: usize, work: &Path) -> (Proc, SocketAddr, PathBuf) {
    let mut sim = Command::new(SIM)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--instances",
            &instances.to_string(),
            "--accounts",
            &accounts.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("zenlayer-sim");
    let file = work.join(format!("accounts-{accounts}x{instances}.yml"));
    let mut text = String::new();
    let mut lines = BufReader::new(sim.stdout.take().unwrap()).lines();
    // A single account is printed as a banner, not a file: write that one's entry ourselves.
    if accounts == 1 {
        let banner: Vec<String> = lines.by_ref().take(5).map(Result::unwrap).collect();
        let url = banner[0]
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_owned();
        let value = |name: &str| {
            banner
                .iter()
                .find_map(|l| l.trim().strip_prefix(&format!("export {name}=")))
                .unwrap()
                .to_owned()
        };
        text = format!(
            "accounts:\n  - name: sim-0\n    access_key_id: {}\n    access_key_password: {}\n    api_url: {url}\n",
            value("ZENLAYERCLOUD_ACCESS_KEY_ID"),
            value("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD")
        );
    } else {
        for line in lines.by_ref().take(1 + 4 * accounts) {
            text.push_str(&line.unwrap());
            text.push('\n');
        }
    }
    std::fs::write(&file, &text).unwrap();
    let url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("api_url: "))
        .unwrap();
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    (Proc(sim), addr, file)
}

/// Interval of every poll in the accounts benchmark: 1,000 accounts polled every 2 s would be 500 polls a second
/// on the two cores the simulator shares.
const ACCOUNTS_INTERVAL_S: u64 = 10;

/// An exporter on the accounts file at `file` (shard `shard` of `total`), its poll log followed.
fn accounts_exporter(
    file: &Path,
    shard: u32,
    total: u32,
    metadata: &str,
) -> (Proc, SocketAddr, Polls, Instant) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let started = Instant::now();
    let mut exporter = Command::new(EXPORTER)
        .env_clear()
        .env("ZENLAYER_EXPORTER_ACCOUNTS_FILE", file)
        .env("ZENLAYER_EXPORTER_TOTAL_SHARDS", total.to_string())
        .env("ZENLAYER_EXPORTER_SHARD", shard.to_string())
        .env("ZENLAYER_EXPORTER_LISTEN_ADDRESS", addr.to_string())
        .env(
            "ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS",
            ACCOUNTS_INTERVAL_S.to_string(),
        )
        .env("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", metadata)
        .env("ZENLAYER_EXPORTER_TAG_LABELS", "env,team")
        .env("ZENLAYER_EXPORTER_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,zenlayer_exporter::poll=debug")
        .stderr(Stdio::piped())
        .spawn()
        .expect("zenlayer-exporter");
    let polls = Polls::follow(exporter.stderr.take().unwrap());
    let exporter = Proc(exporter);
    wait_until("the exporter to listen", Duration::from_secs(30), || {
        TcpStream::connect(addr).is_ok()
    });
    (exporter, addr, polls, started)
}

struct AccountsRow {
    accounts: usize,
    instances: usize,
    ready_ms: f64,
    cpu_per_round_ms: f64,
    rss_mb: f64,
    peak_mb: f64,
    body_gzip: usize,
    probe_gzip: usize,
    metrics: (Wrk, Wrk),
    probe: (Wrk, Wrk),
}

/// One exporter polling `accounts` accounts of `instances` each: readiness, CPU per round of polls (every account
/// polled once) with nobody scraping, memory, and gzip scrapes of `/metrics` and of one `/probe` against nginx
/// serving the same bytes.
fn measure_accounts(
    accounts: usize,
    instances: usize,
    seconds: u64,
    metadata: &str,
    work: &Path,
) -> AccountsRow {
    let (_sim, _, file) = accounts_sim(accounts, instances, work);
    let (exporter, addr, polls, started) = accounts_exporter(&file, 0, 1, metadata);
    let pid = exporter.0.id();
    wait_until("readiness", Duration::from_secs(600), || {
        get(addr, "/readyz", "").0 == 200
    });
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Let the first metadata polls settle, then three rounds with nobody scraping.
    std::thread::sleep(Duration::from_secs(ACCOUNTS_INTERVAL_S));
    let (p0, (cpu0, _, _)) = (polls.count(), usage(pid));
    let target = p0 + 3 * accounts;
    wait_until("three rounds", Duration::from_secs(900), || {
        polls.count() >= target
    });
    let (cpu1, rss, _) = usage(pid);
    let rounds = (polls.count() - p0) as f64 / accounts as f64;
    let cpu_per_round_ms = (cpu1 - cpu0).as_secs_f64() * 1000.0 / rounds;

    let gzip_header = "Accept-Encoding: gzip\r\n";
    let against_nginx = |path: &str, name: &str| {
        let plain = get(addr, path, "").1;
        let gzip = get(addr, path, gzip_header).1;
        let (_nginx, port) = nginx(
            &work.join(format!("nginx-{name}-{accounts}")),
            &plain,
            &gzip,
        );
        let ours = wrk(&format!("http://{addr}{path}"), 16, seconds, true);
        let theirs = wrk(
            &format!("http://127.0.0.1:{port}/metrics"),
            16,
            seconds,
            true,
        );
        (gzip.len(), (ours, theirs))
    };
    let (body_gzip, metrics) = against_nginx("/metrics", "metrics");
    let (probe_gzip, probe) = against_nginx("/probe?account=sim-0", "probe");
    let (_, _, peak) = usage(pid);
    AccountsRow {
        accounts,
        instances,
        ready_ms,
        cpu_per_round_ms,
        rss_mb: rss as f64 / 1e6,
        peak_mb: peak as f64 / 1e6,
        body_gzip,
        probe_gzip,
        metrics,
        probe,
    }
}

/// `total` exporters on one accounts file of `accounts` accounts: what each polls and holds, and whether the
/// union of the shards is every account exactly once.
fn measure_shards(accounts: usize, instances: usize, total: u32, metadata: &str, work: &Path) {
    let (_sim, _, file) = accounts_sim(accounts, instances, work);
    let shards: Vec<_> = (0..total)
        .map(|i| accounts_exporter(&file, i, total, metadata))
        .collect();
    let mut owned_total = 0;
    let mut seen = std::collections::BTreeSet::new();
    println!("\n### {accounts} accounts x {instances} instances over {total} shards\n");
    println!("| shard | accounts owned | ready after | RSS | gzip /metrics |");
    println!("|---:|---:|---:|---:|---:|");
    let mut rss_sum = 0.0;
    for (i, (exporter, addr, _, started)) in shards.iter().enumerate() {
        wait_until("readiness", Duration::from_secs(600), || {
            get(*addr, "/readyz", "").0 == 200
        });
        let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
        let body = String::from_utf8(get(*addr, "/metrics", "").1).unwrap();
        let owned: Vec<String> = body
            .lines()
            .filter_map(|l| l.strip_prefix("zenlayer_exporter_account_owned{account=\""))
            .map(|l| l.split('"').next().unwrap().to_owned())
            .collect();
        owned_total += owned.len();
        seen.extend(owned.iter().cloned());
        let (_, rss, _) = usage(exporter.0.id());
        rss_sum += rss as f64 / 1e6;
        let gzip = get(*addr, "/metrics", "Accept-Encoding: gzip\r\n").1.len();
        println!(
            "| {i} | {} | {ready_ms:.0} ms | {:.1} MB | {:.2} MB |",
            owned.len(),
            rss as f64 / 1e6,
            gzip as f64 / 1e6
        );
    }
    println!(
        "\nUnion: {} distinct accounts of {accounts}, {owned_total} owned in all (each exactly once: {}); RSS of the {total} shards together {rss_sum:.1} MB.",
        seen.len(),
        seen.len() == accounts && owned_total == accounts
    );
}

fn accounts_main(seconds: u64, metadata: &str, work: &Path) {
    println!(
        "### Several accounts in one process, against one account of as many instances (defaults: metadata every {metadata} s, two tags; polls every {ACCOUNTS_INTERVAL_S} s; {seconds} s per wrk run, 16 connections, gzip)\n"
    );
    println!(
        "| accounts x instances | ready after | CPU per round | RSS steady | RSS peak | /metrics gzip | /metrics req/s (nginx) | ratio | /probe gzip | /probe req/s (nginx) | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (accounts, instances) in [(1, 100_000), (100, 1_000), (1_000, 100)] {
        eprintln!("measuring {accounts} accounts x {instances} instances...");
        let r = measure_accounts(accounts, instances, seconds, metadata, work);
        println!(
            "| {} x {} | {:.0} ms | {:.0} ms | {:.1} MB | {:.1} MB | {:.2} MB | {:.0} ({:.0}) | {:.2} | {:.1} kB | {:.0} ({:.0}) | {:.2} |",
            r.accounts,
            r.instances,
            r.ready_ms,
            r.cpu_per_round_ms,
            r.rss_mb,
            r.peak_mb,
            r.body_gzip as f64 / 1e6,
            r.metrics.0.rps,
            r.metrics.1.rps,
            r.metrics.0.rps / r.metrics.1.rps.max(1e-9),
            r.probe_gzip as f64 / 1e3,
            r.probe.0.rps,
            r.probe.1.rps,
            r.probe.0.rps / r.probe.1.rps.max(1e-9),
        );
    }
    measure_shards(1_000, 100, 4, metadata, work);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes = vec![1_000usize, 10_000, 100_000, 1_000_000];
    let mut seconds = 10u64;
    let mut metadata = "300".to_owned();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sizes" => {
                sizes = it
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|s| s.parse().unwrap())
                    .collect()
            }
            "--seconds" => seconds = it.next().unwrap().parse().unwrap(),
            // Seconds between metadata polls, as ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS (0: off).
            "--metadata-interval" => metadata = it.next().unwrap().clone(),
            _ => {} // cargo bench passes --bench
        }
    }
    let work: PathBuf = std::env::temp_dir().join(format!("zenlayer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    if args.iter().any(|a| a == "accounts") {
        accounts_main(seconds, &metadata, &work);
        let _ = std::fs::remove_dir_all(&work);
        return;
    }
    let rows: Vec<Row> = sizes
        .iter()
        .map(|&n| {
            eprintln!("measuring {n} instances...");
            measure(n, seconds, &metadata, &work)
        })
        .collect();
    let _ = std::fs::remove_dir_all(&work);

    println!("### Scrapes: exporter vs nginx serving the same bytes ({seconds} s per wrk run)\n");
    println!(
        "| instances | body | connections | exporter req/s | nginx req/s | ratio | exporter p50 / p99 ms | nginx p50 / p99 ms | p99 ratio |"
    );
    println!("|---:|---|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        for (label, ours, theirs) in &r.scrape {
            let (body, conns) = match *label {
                "plain" => (format!("plain {:.1} MB", r.body_plain as f64 / 1e6), "16"),
                "gzip" => (format!("gzip {:.2} MB", r.body_gzip as f64 / 1e6), "16"),
                "plain, 1 conn" => ("plain".to_owned(), "1"),
                _ => ("gzip".to_owned(), "1"),
            };
            println!(
                "| {} | {body} | {conns} | {:.1} | {:.1} | {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} |",
                r.n,
                ours.rps,
                theirs.rps,
                ours.rps / theirs.rps.max(1e-9),
                ours.p50_ms,
                ours.p99_ms,
                theirs.p50_ms,
                theirs.p99_ms,
                ours.p99_ms / theirs.p99_ms.max(1e-9)
            );
        }
    }
    println!("\n### Polls, memory, start-up, rendering\n");
    println!(
        "| instances | poll at {POLL_LATENCY_MS} ms/call | ideal | ratio | CPU per poll | RSS steady | RSS peak | ready after | first poll | start-up overhead | render + compress |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.0} ms | {:.0} ms | {:.2} | {:.1} ms | {:.1} MB | {:.1} MB | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} ms |",
            r.n,
            r.poll_ms,
            r.ideal_ms,
            r.poll_ms / r.ideal_ms,
            r.cpu_per_poll_ms,
            r.rss_mb,
            r.peak_mb,
            r.ready_ms,
            r.first_poll_ms,
            r.ready_ms - r.first_poll_ms,
            r.render_ms
        );
    }
}
