//! `cargo bench --bench fleet -- health [--instances N]`: bare metal's hardware health at reseller size, N servers
//! (10,000 by default) in one account at the defaults (`ZENLAYER_EXPORTER_HEALTH_INTERVAL_SECONDS=60`, four calls
//! in flight), 50 ms per API call. Reports how long one health poll (N/10 calls) takes against its interval, and
//! whether it delays the status polls: the same account's status polls (every 2 s here, so a dozen fall inside
//! one health poll) timed with the health poll off and on, in the same run.

use std::time::{Duration, Instant};

use crate::harness::*;
use zenlayer_exporter::zenlayer::operations::{COMPONENTS, MAX_HEALTH_IDS};

const LATENCY_MS: u64 = 50;
const PAGE_CONCURRENCY: u64 = 4;
const HEALTH_INTERVAL_S: f64 = 60.0;

struct Run {
    /// Status poll durations (ms) while the first health poll ran (or as long, with health off).
    status: Vec<f64>,
    health_ms: Option<f64>,
    health_series: usize,
}

fn measure(url: &str, servers: usize, health: &str, window: Option<Duration>) -> Run {
    let mut settings = sim_account(url).to_vec();
    settings.push(("ZENLAYER_EXPORTER_PRODUCTS", "bmc"));
    settings.push(("ZENLAYER_EXPORTER_HEALTH_INTERVAL_SECONDS", health));
    let (exporter, addr, polls, _) = exporter(std::path::Path::new(EXPORTER), &settings);
    wait_until("readiness", Duration::from_secs(120), || {
        get(addr, "/readyz", "").0 == 200
    });
    let before = polls.count();
    let started = Instant::now();
    let health_ms = match window {
        Some(window) => {
            std::thread::sleep(window);
            None
        }
        None => {
            wait_until("the first health poll", Duration::from_secs(300), || {
                !polls.health_durations().is_empty()
            });
            polls.health_durations().first().copied()
        }
    };
    let status = polls.durations()[before..].to_vec();
    let body = get(addr, "/metrics", "").1;
    let health_series = body
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"zenlayer_instance_component_health{"))
        .count();
    drop(exporter);
    eprintln!(
        "  {} status polls in {:.1} s, {} servers",
        status.len(),
        started.elapsed().as_secs_f64(),
        servers
    );
    Run {
        status,
        health_ms,
        health_series,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

pub fn health_main(servers: usize) {
    let n = servers.to_string();
    let product = format!("bmc={n}");
    let (_sim, url, _) = sim_serving(&[
        "--latency-ms",
        &LATENCY_MS.to_string(),
        "--instances",
        "0",
        "--product",
        &product,
    ]);
    eprintln!("measuring with the health poll on...");
    let on = measure(&url, servers, "60", None);
    let health_ms = on.health_ms.unwrap_or(f64::NAN);
    eprintln!("measuring with the health poll off...");
    let window = Duration::from_secs_f64(health_ms / 1000.0);
    let off = measure(&url, servers, "0", Some(window));
    let calls = (servers as u64).div_ceil(MAX_HEALTH_IDS as u64);
    let ideal_ms = (calls.div_ceil(PAGE_CONCURRENCY) * LATENCY_MS) as f64;
    println!(
        "### Hardware health of {servers} bare-metal servers, one account, defaults ({LATENCY_MS} ms per call, {PAGE_CONCURRENCY} in flight)\n"
    );
    println!("| what | figure | reference | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| one health poll ({calls} calls) | {health_ms:.0} ms | ideal {ideal_ms:.0} ms | {:.2} |",
        health_ms / ideal_ms
    );
    println!(
        "| one health poll against its interval | {health_ms:.0} ms | {HEALTH_INTERVAL_S:.0} s | {:.2} |",
        health_ms / 1000.0 / HEALTH_INTERVAL_S
    );
    println!(
        "| status polls during it, median ({} with health, {} without) | {:.0} ms | {:.0} ms without | {:.2} |",
        on.status.len(),
        off.status.len(),
        median(on.status.clone()),
        median(off.status.clone()),
        median(on.status.clone()) / median(off.status.clone())
    );
    println!(
        "| status polls during it, slowest | {:.0} ms | {:.0} ms without | {:.2} |",
        max(&on.status),
        max(&off.status),
        max(&on.status) / max(&off.status)
    );
    // The simulator leaves a field out of a row now and then, as older versions of the API did.
    println!(
        "| component series served | {} | {servers} servers x {} components | {:.2} |",
        on.health_series,
        COMPONENTS.len(),
        on.health_series as f64 / (servers * COMPONENTS.len()) as f64
    );
}
