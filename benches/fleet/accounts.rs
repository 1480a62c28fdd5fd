//! `cargo bench --bench fleet -- accounts`: several accounts in one process against one account of as many
//! instances, and 1,000 accounts over 4 shards.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::*;

/// A simulator serving `accounts` accounts of `instances` each (in one process, as one API endpoint serves every
/// account), and the accounts file it prints.
fn accounts_sim(accounts: usize, instances: usize, work: &Path) -> (Proc, SocketAddr, PathBuf) {
    let (count, size) = (accounts.to_string(), instances.to_string());
    let mut sim = sim_process(&["--instances", &size, "--accounts", &count]);
    let file = work.join(format!("accounts-{accounts}x{instances}.yml"));
    let mut text = String::new();
    let mut lines = BufReader::new(sim.0.stdout.take().unwrap()).lines();
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
    (sim, addr, file)
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
    let (total, shard, interval) = (
        total.to_string(),
        shard.to_string(),
        ACCOUNTS_INTERVAL_S.to_string(),
    );
    exporter(
        Path::new(EXPORTER),
        &[
            (
                "ZENLAYER_EXPORTER_ACCOUNTS_FILE",
                &file.display().to_string(),
            ),
            ("ZENLAYER_EXPORTER_TOTAL_SHARDS", &total),
            ("ZENLAYER_EXPORTER_SHARD", &shard),
            ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", &interval),
            ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", metadata),
        ],
    )
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

pub fn accounts_main(seconds: u64, metadata: &str, work: &Path) {
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
