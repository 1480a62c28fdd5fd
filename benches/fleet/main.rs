//! Fleet-scale benchmark: the exporter and the simulator as separate release processes on loopback, at several
//! fleet sizes, against nginx serving the same bytes in the same run. Reports scrape throughput and latency
//! (wrk), poll duration against the ideal, CPU per poll, memory, start-up and render time, as Markdown.
//!
//!   cargo bench --bench fleet                       # 1k, 10k, 100k, 1M instances, 10 s per wrk run
//!   cargo bench --bench fleet -- --sizes 100000 --seconds 5
//!   cargo bench --bench fleet -- accounts [--before PATH]   # 100,000 instances held by 1, 100 and 1,000
//!                                                   # accounts; start-up at 1,000; 10,000 over 5 shards
//!   cargo bench --bench fleet -- calls               # the CPU of one status call: by hand, reqwest, the
//!                                                   # exporter's client (also part of `accounts`)
//!   cargo bench --bench fleet -- defaults [--before PATH]   # 100k status only and with metadata, idle crowds,
//!                                                   # API call overhead; PATH: another build to measure beside
//!   cargo bench --bench fleet -- sd [--instances N] # /sd at 100k: render, cached rates beside nginx, memory
//!   cargo bench --bench fleet -- products [--instances N]   # 100k in one product against 100k over three:
//!                                                   # start-to-ready against the ideal, memory
//!   cargo bench --bench fleet -- openmetrics [--instances N] # an OpenMetrics scrape against a text one, 100k
//!                                                   # instances, 16 and 1 gzip scrapers, beside nginx
//!   cargo bench --bench fleet -- health [--instances N]     # bare metal's health poll of N servers (10,000):
//!                                                   # its duration against its interval, status polls beside it
//!
//! Needs `wrk` and `nginx` (Debian's `wrk` and `nginx-light`). See benches/README.md for how to read it.

mod accounts;
mod calls;
mod defaults;
mod harness;
mod health;
mod openmetrics;
mod products;
mod sd;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use harness::*;
use zenlayer_exporter::exposition::render::{Rendered, StatusSeries};
use zenlayer_exporter::sim::Fleet;
use zenlayer_exporter::status::snapshot::Snapshot;
use zenlayer_exporter::zenlayer::product::Product;

/// Added to every simulated API call for the poll measurement, as the design's target states it.
const POLL_LATENCY_MS: u64 = 50;
const PAGE_SIZE: u64 = 1000;
const PAGE_CONCURRENCY: u64 = 4;

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
    let fleet = Fleet::generate(Product::Vm, n, 7);
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
            (StatusSeries::Current, Product::Vm),
            &zenlayer_exporter::text::Openings::new(None, "vm"),
            None,
        ));
    }
    started.elapsed().as_secs_f64() * 1000.0 / runs as f64
}

fn measure(n: usize, seconds: u64, metadata: &str, work: &Path) -> Row {
    let (_sim, sim_url, sim_addr) = sim(n, 0);

    let mut settings = sim_account(&sim_url).to_vec();
    settings.push(("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", metadata));
    let (exporter, addr, polls, started) = exporter(Path::new(EXPORTER), &settings);
    let pid = exporter.0.id();
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
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes = vec![1_000usize, 10_000, 100_000, 1_000_000];
    let mut seconds = 10u64;
    let mut metadata = "300".to_owned();
    let mut before = None;
    let mut instances = 100_000;
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
            // Another build of the exporter, measured beside this one (`defaults`).
            "--before" => before = Some(PathBuf::from(it.next().unwrap())),
            "--instances" => instances = it.next().unwrap().parse().unwrap(),
            _ => {} // cargo bench passes --bench
        }
    }
    let work: PathBuf = std::env::temp_dir().join(format!("zenlayer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    if args.iter().any(|a| a == "defaults") {
        defaults::defaults_main(before, instances, seconds, &work);
        let _ = std::fs::remove_dir_all(&work);
        return;
    }
    if args.iter().any(|a| a == "sd") {
        sd::sd_main(instances, seconds, &work);
        return;
    }
    if args.iter().any(|a| a == "openmetrics") {
        openmetrics::openmetrics_main(instances, seconds, &work);
        let _ = std::fs::remove_dir_all(&work);
        return;
    }
    if args.iter().any(|a| a == "health") {
        let servers = args
            .iter()
            .position(|a| a == "--instances")
            .map_or(10_000, |_| instances);
        health::health_main(servers);
        return;
    }
    if args.iter().any(|a| a == "products") {
        products::products_main(instances);
        return;
    }
    if args.iter().any(|a| a == "calls") {
        accounts::calls_table(None);
        let _ = std::fs::remove_dir_all(&work);
        return;
    }
    if args.iter().any(|a| a == "accounts") {
        accounts::accounts_main(before, seconds, &work);
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
