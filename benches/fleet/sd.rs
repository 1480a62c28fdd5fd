//! `cargo bench --bench fleet -- sd [--instances N] [--seconds S]`: `/sd` at 100,000 instances beside nginx
//! serving the same bytes, in one run: the answer's size, the first request after a change (which renders it)
//! against a cached one, request rates gzip and plain against nginx, and the memory the cached answers add to
//! the exporter at its defaults (metadata on).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{self, *};

/// The queries an operator's Prometheus typically holds: node_exporter on private addresses, blackbox on public
/// ones (all statuses an operator watches), and one more port.
const QUERIES: [&str; 3] = [
    "/sd?port=9100",
    "/sd?port=1&address=public&status=RUNNING,STOPPED",
    "/sd?port=9115",
];

/// The lowest resident memory over a second of readings: what is held, not a moment's garbage.
fn resident(pid: u32) -> f64 {
    let mut rss = u64::MAX;
    for _ in 0..20 {
        rss = rss.min(usage(pid).1);
        std::thread::sleep(Duration::from_millis(50));
    }
    rss as f64 / 1e6
}

pub fn sd_main(n: usize, seconds: u64, work: &Path) {
    let (_sim, url, _) = sim(n, 0);
    let mut settings = sim_account(&url).to_vec();
    settings.push(("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "300"));
    let (exporter, addr, polls, _) = harness::exporter(Path::new(EXPORTER), &settings);
    let pid = exporter.0.id();
    wait_until("the first metadata poll", Duration::from_secs(600), || {
        !polls.metadata_durations().is_empty()
    });
    let before = resident(pid);

    let timed = |path: &str| {
        let started = Instant::now();
        let (status, body) = get(addr, path, "Accept-Encoding: gzip\r\n");
        assert_eq!(status, 200, "{path}");
        (started.elapsed().as_secs_f64() * 1000.0, body)
    };
    let (render_ms, _) = timed(QUERIES[0]);
    let (cached_ms, gzip) = timed(QUERIES[0]);
    let plain = get(addr, QUERIES[0], "").1;
    let targets = serde_json::from_slice::<serde_json::Value>(&plain)
        .expect("/sd answers JSON")
        .as_array()
        .map_or(0, Vec::len);
    let one = resident(pid);
    for query in &QUERIES[1..] {
        timed(query);
    }
    let three = resident(pid);

    let (_nginx, port) = nginx(
        &work.join(format!("nginx-sd-{}", std::process::id())),
        &plain,
        &gzip,
    );
    let ours = format!("http://{addr}{}", QUERIES[0]);
    let theirs = format!("http://127.0.0.1:{port}/metrics");
    let pair = |gz: bool| (wrk(&ours, 16, seconds, gz), wrk(&theirs, 16, seconds, gz));
    let (gz, pl) = (pair(true), pair(false));

    println!(
        "\n### /sd at {n} instances (defaults: metadata on), beside nginx serving the same bytes\n"
    );
    println!(
        "Answer to `{}`: {targets} targets, {:.2} MB plain, {:.2} MB gzip. First request after a change \
         (renders it): {render_ms:.0} ms; cached: {cached_ms:.1} ms.\n",
        QUERIES[0],
        plain.len() as f64 / 1e6,
        gzip.len() as f64 / 1e6
    );
    println!("| body | exporter req/s | nginx req/s | ratio | exporter p99 | nginx p99 |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, (a, b)) in [("gzip", &gz), ("plain", &pl)] {
        println!(
            "| {name} | {:.0} | {:.0} | {:.2}x | {:.1} ms | {:.1} ms |",
            a.rps,
            b.rps,
            a.rps / b.rps,
            a.p99_ms,
            b.p99_ms
        );
    }
    println!(
        "\nResident memory: {before:.1} MB before any /sd request, {one:.1} MB (+{:.1}) with one answer cached, \
         {three:.1} MB (+{:.1}) with three.",
        one - before,
        three - before
    );
}
