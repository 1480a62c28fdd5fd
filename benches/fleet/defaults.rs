//! `cargo bench --bench fleet -- defaults [--before PATH] [--instances N] [--seconds S]`: the exporter as a user
//! runs it, for this build and (with `--before`) another build of the exporter, in one run beside nginx:
//!
//! 1. **Status only and the defaults** (metadata on, two tags allow-listed), at 100,000 instances: the body, gzip
//!    and plain scrape rates against nginx serving the same bytes, resident memory between polls and at the peak
//!    of a poll, start-up to ready with 50 ms per API call against the ideal, and the first metadata walk.
//! 2. **Idle crowds**: 300 idle connections and 50 slowloris senders, then 10,000 and 500, held open while a
//!    scrape is timed; memory added and polls made meanwhile.
//! 3. **API call overhead**: what a call costs beyond the server's latency, against the simulator (one write per
//!    answer) and against `two_writes.py` (Python's http.server: head and body in two writes, Nagle left on).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{self, *};

/// Metadata polls this often while memory is measured, rather than every 300 s, so a run sees several: each poll
/// builds the same snapshot whatever the interval, and memory peaks while one is built beside the served one.
const METADATA_EVERY_S: &str = "10";
const LATENCY_MS: u64 = 50;
const PAGE_SIZE: u64 = 1000;
const PAGE_CONCURRENCY: u64 = 4;

/// An exporter binary on the simulator at `url`, with `extra` settings.
fn exporter(bin: &Path, url: &str, extra: &[(&str, &str)]) -> (Proc, SocketAddr, Polls, Instant) {
    let mut settings = sim_account(url).to_vec();
    settings.extend_from_slice(extra);
    harness::exporter(bin, &settings)
}

struct Run {
    body_plain: usize,
    body_gzip: usize,
    gzip: (Wrk, Wrk),
    plain: (Wrk, Wrk),
    rss_mb: f64,
    peak_mb: f64,
    ready_ms: f64,
    metadata_walk_ms: Option<f64>,
}

/// One binary at `n` instances, status only or with metadata.
fn measure(bin: &Path, n: usize, metadata: bool, seconds: u64, work: &Path) -> Run {
    let (_sim, url, sim_addr) = sim(n, LATENCY_MS);
    let interval = if metadata { METADATA_EVERY_S } else { "0" };
    let start = |poll_interval: &str| {
        let settings = [
            ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", interval),
            ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", poll_interval),
        ];
        let (exporter, addr, polls, started) = exporter(bin, &url, &settings);
        wait_until("readiness", Duration::from_secs(600), || {
            get(addr, "/readyz", "").0 == 200
        });
        let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
        (exporter, addr, polls, ready_ms)
    };
    // Start-up to ready is one poll's length, which wobbles on a shared machine: the median of three starts. The
    // first two poll at the default interval (60 s), so their first metadata walk is what a user sees: it starts
    // once the first status poll has finished and has the account's API budget to itself.
    let mut starts = Vec::new();
    let mut walks = Vec::new();
    for _ in 0..2 {
        let (_exporter, _, polls, ready_ms) = start("60");
        starts.push(ready_ms);
        if metadata {
            wait_until("the first metadata poll", Duration::from_secs(600), || {
                !polls.metadata_durations().is_empty()
            });
            walks.push(polls.metadata_durations()[0]);
        }
    }
    // The third polls every 2 s, so that memory and scrapes are measured over many polls.
    let (exporter, addr, polls, last) = start("2");
    starts.push(last);
    starts.sort_by(f64::total_cmp);
    let ready_ms = starts[1];
    let pid = exporter.0.id();
    let metadata_walk_ms = metadata.then(|| {
        wait_until("the first metadata poll", Duration::from_secs(600), || {
            !polls.metadata_durations().is_empty()
        });
        walks.iter().sum::<f64>() / walks.len() as f64
    });
    // The rest without latency: polls then take a fraction of the interval, and there is time between them.
    put(sim_addr, "/_sim/faults", "{\"latencyMs\":0}");
    let settled = |count: usize| {
        if metadata {
            polls.metadata_durations().len() >= count
        } else {
            polls.count() >= 2 * count
        }
    };
    wait_until("three polls", Duration::from_secs(600), || settled(3));
    // Between polls: the lowest of readings taken every 50 ms over two status intervals.
    let mut rss = u64::MAX;
    for _ in 0..80 {
        rss = rss.min(usage(pid).1);
        std::thread::sleep(Duration::from_millis(50));
    }
    let peak = usage(pid).2;

    let plain = get(addr, "/metrics", "").1;
    let gzip = get(addr, "/metrics", "Accept-Encoding: gzip\r\n").1;
    let name = format!("nginx-{}-{metadata}", std::process::id());
    let (_nginx, port) = nginx(&work.join(name), &plain, &gzip);
    let ours = format!("http://{addr}/metrics");
    let theirs = format!("http://127.0.0.1:{port}/metrics");
    let pair = |gz: bool| (wrk(&ours, 16, seconds, gz), wrk(&theirs, 16, seconds, gz));
    let (gzip_rates, plain_rates) = (pair(true), pair(false));
    Run {
        body_plain: plain.len(),
        body_gzip: gzip.len(),
        gzip: gzip_rates,
        plain: plain_rates,
        rss_mb: rss as f64 / 1e6,
        peak_mb: peak as f64 / 1e6,
        ready_ms,
        metadata_walk_ms,
    }
}

struct Crowd {
    opened: usize,
    scrape_ms: f64,
    rss_added_mb: f64,
    polls_held: usize,
}

/// `idle` silent sockets and `slow` slowloris senders held open against one binary, then a scrape timed; polls
/// counted over the 10 s the crowd is held.
fn crowd(bin: &Path, idle: usize, slow: usize) -> Crowd {
    let (_sim, url, _) = sim(10_000, 0);
    let (exporter, addr, polls, _) = exporter(
        bin,
        &url,
        &[("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "300")],
    );
    let pid = exporter.0.id();
    wait_until("readiness", Duration::from_secs(60), || {
        get(addr, "/readyz", "").0 == 200
    });
    std::thread::sleep(Duration::from_secs(3));
    let rss0 = usage(pid).1;
    let mut held = Vec::with_capacity(idle + slow);
    // A connection the server neither accepts nor has room for in its backlog waits for SYN retries: a short
    // bound, the opening stops after five refusals in a row (the backlog is full), and the crowd is what got in.
    let mut refused = 0;
    for i in 0..idle + slow {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            refused += 1;
            if refused == 5 {
                break;
            }
            continue;
        };
        refused = 0;
        if i >= idle {
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ");
        }
        held.push(s);
    }
    let opened = held.len();
    let polls0 = polls.count();
    let started = Instant::now();
    let (status, _) = get(addr, "/metrics", "Accept-Encoding: gzip\r\n");
    assert_eq!(status, 200);
    let scrape_ms = started.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(Duration::from_secs(10).saturating_sub(started.elapsed()));
    let rss1 = usage(pid).1;
    let polls_held = polls.count() - polls0;
    drop(held);
    Crowd {
        opened,
        scrape_ms,
        rss_added_mb: (rss1 as f64 - rss0 as f64) / 1e6,
        polls_held,
    }
}

/// Milliseconds each call costs beyond the server's latency, against the simulator and against `two_writes.py`.
fn call_overhead(bin: &Path) -> (f64, f64) {
    const INSTANCES: usize = 1000;
    const PAGE: &str = "100";
    let calls = 10.0;
    let settings = [
        ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "0"),
        ("ZENLAYER_EXPORTER_PAGE_SIZE", PAGE),
        ("ZENLAYER_EXPORTER_PAGE_CONCURRENCY", "1"),
    ];
    let per_call = |url: &str| {
        let (_exporter, _, polls, _) = exporter(bin, url, &settings);
        wait_until("five polls", Duration::from_secs(120), || {
            polls.count() >= 5
        });
        // The first poll opens the connection; the next four reuse it, as polls do.
        let reused = &polls.durations()[1..5];
        reused.iter().sum::<f64>() / reused.len() as f64 / calls - LATENCY_MS as f64
    };
    let (_sim, url, _) = sim(INSTANCES, LATENCY_MS);
    let one_write = per_call(&url);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/fleet/two_writes.py");
    let mut python = Command::new("python3")
        .arg(script)
        .args([
            "--instances",
            &INSTANCES.to_string(),
            "--latency-ms",
            &LATENCY_MS.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(python.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _python = Proc(python);
    let port = line.trim().trim_start_matches("listening on ");
    let two_writes = per_call(&format!("http://127.0.0.1:{port}/"));
    (one_write, two_writes)
}

/// Raises this process's open-file limit to its hard limit: the crowd needs over 10,000 sockets.
fn raise_own_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain calls on a struct that lives across them.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

pub fn defaults_main(before: Option<PathBuf>, n: usize, seconds: u64, work: &Path) {
    raise_own_limit();
    let this = PathBuf::from(EXPORTER);
    let builds: Vec<(&str, &Path)> = before
        .as_deref()
        .map(|b| ("before", b))
        .into_iter()
        .chain([("after", this.as_path())])
        .collect();
    let pages = (n as u64).div_ceil(PAGE_SIZE).max(1);
    let ideal_ms = (LATENCY_MS * (1 + (pages - 1).div_ceil(PAGE_CONCURRENCY))) as f64;

    println!(
        "### {n} instances, status only and the defaults (metadata on, two tags), {seconds} s per wrk run, 16 connections\n"
    );
    println!(
        "| build | metadata | body plain / gzip | plain req/s (nginx) | ratio | gzip req/s (nginx) | ratio | RSS between polls | RSS peak | ready after, median of 3 ({LATENCY_MS} ms/call; ideal {ideal_ms:.0} ms) | ratio | first metadata walk (60 s status interval) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (build, bin) in &builds {
        for metadata in [false, true] {
            eprintln!("measuring {build}, metadata {metadata}...");
            let r = measure(bin, n, metadata, seconds, work);
            println!(
                "| {build} | {} | {:.1} / {:.2} MB | {:.1} ({:.1}) | {:.2} | {:.0} ({:.0}) | {:.2} | {:.1} MB | {:.1} MB | {:.0} ms | {:.2} | {} |",
                if metadata { "on" } else { "off" },
                r.body_plain as f64 / 1e6,
                r.body_gzip as f64 / 1e6,
                r.plain.0.rps,
                r.plain.1.rps,
                r.plain.0.rps / r.plain.1.rps.max(1e-9),
                r.gzip.0.rps,
                r.gzip.1.rps,
                r.gzip.0.rps / r.gzip.1.rps.max(1e-9),
                r.rss_mb,
                r.peak_mb,
                r.ready_ms,
                r.ready_ms / ideal_ms,
                r.metadata_walk_ms
                    .map_or("-".to_owned(), |ms| format!("{ms:.0} ms")),
            );
        }
    }

    println!("\n### Idle crowds held open while a scrape is timed (10,000 instances)\n");
    println!(
        "| build | idle + slowloris | connections opened | scrape answered after | RSS added | polls in the 10 s held |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (build, bin) in &builds {
        for (idle, slow) in [(300, 50), (10_000, 500)] {
            eprintln!("measuring {build}, {idle} idle and {slow} slowloris...");
            let c = crowd(bin, idle, slow);
            println!(
                "| {build} | {idle} + {slow} | {} | {:.0} ms | {:.1} MB | {} |",
                c.opened, c.scrape_ms, c.rss_added_mb, c.polls_held
            );
        }
    }

    println!(
        "\n### What an API call costs beyond the server's {LATENCY_MS} ms (pages of 100, one call at a time)\n"
    );
    println!("| build | simulator (one write per answer) | http.server (two writes, Nagle on) |");
    println!("|---|---:|---:|");
    for (build, bin) in &builds {
        eprintln!("measuring {build}, call overhead...");
        let (one, two) = call_overhead(bin);
        println!("| {build} | {one:.1} ms | {two:.1} ms |");
    }
}
