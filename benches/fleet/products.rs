//! `cargo bench --bench fleet -- products [--instances N]`: N instances (100,000 by default) in one product
//! against the same N split over the three products of one account, at the defaults (metadata on, two tags),
//! 50 ms per API call: resident memory between polls and at the peak of a poll, and start-up to ready against the
//! ideal, which counts every product's status pages under the account's one budget of calls (one first page,
//! then the rest `PAGE_CONCURRENCY` at a time). Bare metal's status pages are its full `DescribeInstances` rows.

use std::net::SocketAddr;
use std::time::Duration;

use crate::harness::*;

const LATENCY_MS: u64 = 50;
const PAGE_SIZE: u64 = 1000;
const PAGE_CONCURRENCY: u64 = 4;
/// Metadata polls this often while memory is measured (as `defaults` does), so a run sees several.
const METADATA_EVERY_S: &str = "10";

struct Run {
    ready_ms: f64,
    ideal_ms: f64,
    rss_mb: f64,
    peak_mb: f64,
    series: usize,
}

/// The fleets of one account: (product, instances) for each product read.
fn measure(fleets: &[(&str, usize)]) -> Run {
    let mut args: Vec<String> = vec!["--latency-ms".into(), LATENCY_MS.to_string()];
    let vm = fleets
        .iter()
        .find(|(p, _)| *p == "vm")
        .map_or(0, |(_, n)| *n);
    args.extend(["--instances".into(), vm.to_string()]);
    for (product, n) in fleets.iter().filter(|(p, _)| *p != "vm") {
        args.extend(["--product".into(), format!("{product}={n}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_sim, url, sim_addr) = sim_serving(&args);
    let products: Vec<&str> = fleets.iter().map(|(p, _)| *p).collect();
    let products = products.join(",");
    let pages: u64 = fleets
        .iter()
        .map(|(_, n)| (*n as u64).div_ceil(PAGE_SIZE).max(1))
        .sum();
    // Every product's first page at once (the budget has room for them), then the rest, four at a time.
    let firsts = fleets.len() as u64;
    let ideal_ms = (LATENCY_MS * (1 + (pages - firsts).div_ceil(PAGE_CONCURRENCY))) as f64;
    let start = |interval: &str| -> (Proc, SocketAddr, f64) {
        let mut settings = sim_account(&url).to_vec();
        settings.push(("ZENLAYER_EXPORTER_PRODUCTS", &products));
        settings.push((
            "ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS",
            METADATA_EVERY_S,
        ));
        settings.push(("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", interval));
        let (exporter, addr, _polls, started) = exporter(std::path::Path::new(EXPORTER), &settings);
        wait_until("readiness", Duration::from_secs(600), || {
            get(addr, "/readyz", "").0 == 200
        });
        (exporter, addr, started.elapsed().as_secs_f64() * 1000.0)
    };
    // Start-up to ready: the median of three starts, each at a 60 s interval so the first poll runs alone.
    let mut starts: Vec<f64> = (0..3).map(|_| start("60").2).collect();
    starts.sort_by(f64::total_cmp);
    // Memory: polling every 2 s without latency, after several metadata polls.
    let (exporter, addr, _) = start("2");
    put(sim_addr, "/_sim/faults", "{\"latencyMs\":0}");
    std::thread::sleep(Duration::from_secs(25));
    let pid = exporter.0.id();
    let mut rss = u64::MAX;
    for _ in 0..80 {
        rss = rss.min(usage(pid).1);
        std::thread::sleep(Duration::from_millis(50));
    }
    let peak = usage(pid).2;
    let body = get(addr, "/metrics", "").1;
    let series = body
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"zenlayer_instance_status{"))
        .count();
    Run {
        ready_ms: starts[1],
        ideal_ms,
        rss_mb: rss as f64 / 1e6,
        peak_mb: peak as f64 / 1e6,
        series,
    }
}

pub fn products_main(n: usize) {
    let third = n / 3;
    let split = [("vm", n - 2 * third), ("zec", third), ("bmc", third)];
    let layouts: [(&str, &[(&str, usize)]); 3] = [
        ("one product (vm)", &[("vm", n)]),
        ("one product (bmc: full rows every poll)", &[("bmc", n)]),
        ("three products (vm, zec, bmc)", &split),
    ];
    println!(
        "### {n} instances in one account: one product against three, at the defaults ({LATENCY_MS} ms per call, metadata every {METADATA_EVERY_S} s while memory is read)\n"
    );
    println!(
        "| layout | status series | ready after (median of 3) | ideal | ratio | RSS between polls | ratio to vm | RSS peak | ratio to vm |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut first: Option<(f64, f64)> = None;
    for (name, fleets) in layouts {
        eprintln!("measuring {name}...");
        let r = measure(fleets);
        let (rss0, peak0) = *first.get_or_insert((r.rss_mb, r.peak_mb));
        println!(
            "| {name} | {} | {:.0} ms | {:.0} ms | {:.2} | {:.1} MB | {:.2} | {:.1} MB | {:.2} |",
            r.series,
            r.ready_ms,
            r.ideal_ms,
            r.ready_ms / r.ideal_ms,
            r.rss_mb,
            r.rss_mb / rss0,
            r.peak_mb,
            r.peak_mb / peak0,
        );
    }
}
