//! `cargo bench --bench fleet -- accounts [--before PATH]`: what an account costs beyond its instances. The same
//! 100,000 instances held by one account in one product (the reference), by one account over the three products,
//! and by 100 and 1,000 accounts over the three products; each fleet measured for this build and, with
//! `--before`, another build, in turn against the same simulator. Then start-up at 1,000 accounts with 50 ms per
//! call against the ideal, and 10,000 accounts over 5 shards.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::*;

/// One fleet: `accounts` accounts, each holding `per_account` instances of vm, zec and bmc.
#[derive(Clone, Copy)]
struct Shape {
    accounts: usize,
    per_account: [usize; 3],
}

impl Shape {
    fn instances(&self) -> usize {
        self.accounts * self.per_account.iter().sum::<usize>()
    }

    fn label(&self) -> String {
        let [vm, zec, bmc] = self.per_account;
        match (zec, bmc) {
            (0, 0) => format!("{} x {vm} vm", self.accounts),
            _ => format!("{} x ({vm} vm, {zec} zec, {bmc} bmc)", self.accounts),
        }
    }
}

/// A simulator serving `shape` (one process, as one API endpoint serves every account) with `latency_ms` added to
/// every call, and the accounts file for it.
fn accounts_sim(shape: Shape, latency_ms: u64, work: &Path) -> (Proc, PathBuf) {
    let [vm, zec, bmc] = shape.per_account.map(|n| n.to_string());
    let (count, latency) = (shape.accounts.to_string(), latency_ms.to_string());
    let (zec, bmc) = (format!("zec={zec}"), format!("bmc={bmc}"));
    let mut sim = sim_process(&[
        "--instances",
        &vm,
        "--product",
        &zec,
        "--product",
        &bmc,
        "--accounts",
        &count,
        "--latency-ms",
        &latency,
    ]);
    let file = work.join(format!("accounts-{}.yml", shape.label().replace(' ', "")));
    let mut text = String::new();
    let mut lines = BufReader::new(sim.0.stdout.take().unwrap()).lines();
    // A single account is printed as a banner, not a file: write that one's entry ourselves, so its series carry
    // an `account` label like the others'.
    if shape.accounts == 1 {
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
        for line in lines.by_ref().take(1 + 4 * shape.accounts) {
            text.push_str(&line.unwrap());
            text.push('\n');
        }
    }
    std::fs::write(&file, &text).unwrap();
    (sim, file)
}

/// Interval of the status polls in the accounts benchmark: 1,000 accounts of three products polled every 2 s
/// would be 1,500 polls a second on the two cores the simulator shares.
const ACCOUNTS_INTERVAL_S: u64 = 10;

/// Products every account polls (the default): a round is this many status polls per account.
const PRODUCTS: usize = 3;

/// An exporter `bin` on the accounts file at `file` (shard `shard` of `total`), polling every `interval` s, its
/// poll log followed; the defaults otherwise.
fn accounts_exporter(
    bin: &Path,
    file: &Path,
    (shard, total): (u32, u32),
    interval: u64,
) -> (Proc, std::net::SocketAddr, Polls, Instant) {
    let (total, shard, interval) = (total.to_string(), shard.to_string(), interval.to_string());
    exporter(
        bin,
        &[
            (
                "ZENLAYER_EXPORTER_ACCOUNTS_FILE",
                &file.display().to_string(),
            ),
            ("ZENLAYER_EXPORTER_TOTAL_SHARDS", &total),
            ("ZENLAYER_EXPORTER_SHARD", &shard),
            ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", &interval),
        ],
    )
}

struct Measured {
    ready_ms: f64,
    cpu_per_round_ms: f64,
    rss_mb: f64,
    peak_mb: f64,
    /// `/metrics` gzip-encoded: its size, and wrk's rate against nginx serving the same bytes (this build only).
    scrape: Option<(usize, Wrk, Wrk)>,
}

/// One exporter `bin` on the accounts of `file` (`shape`): readiness, CPU per round of polls (every account's
/// products polled once) over three rounds with nobody scraping, after one interval of settling; memory (the
/// peak before any scrape); and, with `scrape_seconds`, gzip scrapes of `/metrics` against nginx serving the same
/// bytes.
fn measure(
    bin: &Path,
    file: &Path,
    shape: Shape,
    scrape_seconds: Option<u64>,
    work: &Path,
) -> Measured {
    let (exporter, addr, polls, started) =
        accounts_exporter(bin, file, (0, 1), ACCOUNTS_INTERVAL_S);
    let pid = exporter.0.id();
    wait_until("readiness", Duration::from_secs(600), || {
        get(addr, "/readyz", "").0 == 200
    });
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(Duration::from_secs(ACCOUNTS_INTERVAL_S));
    let per_round = shape.accounts * PRODUCTS;
    let (p0, (cpu0, _, _)) = (polls.count(), usage(pid));
    wait_until("three rounds", Duration::from_secs(900), || {
        polls.count() >= p0 + 3 * per_round
    });
    // The peak before any scrape: what polling took, the same for every build measured.
    let (cpu1, rss, peak) = usage(pid);
    let rounds = (polls.count() - p0) as f64 / per_round as f64;
    let cpu_per_round_ms = (cpu1 - cpu0).as_secs_f64() * 1000.0 / rounds;
    let scrape = scrape_seconds.map(|seconds| {
        let plain = get(addr, "/metrics", "").1;
        let gzip = get(addr, "/metrics", "Accept-Encoding: gzip\r\n").1;
        let (_nginx, port) = nginx(
            &work.join(format!("nginx-{}", shape.accounts)),
            &plain,
            &gzip,
        );
        let ours = wrk(&format!("http://{addr}/metrics"), 16, seconds, true);
        let theirs = wrk(
            &format!("http://127.0.0.1:{port}/metrics"),
            16,
            seconds,
            true,
        );
        (gzip.len(), ours, theirs)
    });
    Measured {
        ready_ms,
        cpu_per_round_ms,
        rss_mb: rss as f64 / 1e6,
        peak_mb: peak as f64 / 1e6,
        scrape,
    }
}

/// The fleets, the reference first.
const SHAPES: [Shape; 4] = [
    Shape {
        accounts: 1,
        per_account: [100_000, 0, 0],
    },
    Shape {
        accounts: 1,
        per_account: [33_334, 33_333, 33_333],
    },
    Shape {
        accounts: 100,
        per_account: [334, 333, 333],
    },
    Shape {
        accounts: 1_000,
        per_account: [34, 33, 33],
    },
];

/// Added to every simulated call when start-up is measured.
const STARTUP_LATENCY_MS: u64 = 50;

/// What start-up cost: ready after, the first status polls' durations (median, p99, max), and the CPU the
/// exporter and the simulator had spent by then.
struct Startup {
    ready_ms: f64,
    first_polls: [f64; 3],
    exporter_cpu_ms: f64,
    sim_cpu_ms: f64,
}

/// 1,000 accounts of three products with 50 ms per call: the time to ready against the ideal (an account's three
/// products each fit one page, and its budget takes all three at once: one call, 50 ms), and each account
/// product's first status poll against the same ideal. The CPU both processes spent until ready says how much
/// of the wait was the machine's cores rather than the calls.
fn startup(bin: &Path, file: &Path, sim: &Proc) -> Startup {
    let sim_before = usage(sim.0.id()).0;
    let (exporter, addr, polls, started) =
        accounts_exporter(bin, file, (0, 1), ACCOUNTS_INTERVAL_S);
    wait_until("readiness", Duration::from_secs(600), || {
        get(addr, "/readyz", "").0 == 200
    });
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    let exporter_cpu_ms = usage(exporter.0.id()).0.as_secs_f64() * 1000.0;
    let sim_cpu_ms = (usage(sim.0.id()).0 - sim_before).as_secs_f64() * 1000.0;
    wait_until("every first poll", Duration::from_secs(60), || {
        polls.count() >= 1_000 * PRODUCTS
    });
    let mut first: Vec<f64> = polls.durations()[..1_000 * PRODUCTS].to_vec();
    first.sort_by(f64::total_cmp);
    let at = |q: f64| first[((first.len() - 1) as f64 * q) as usize];
    Startup {
        ready_ms,
        first_polls: [at(0.5), at(0.99), at(1.0)],
        exporter_cpu_ms,
        sim_cpu_ms,
    }
}

/// The `total` shards of `shape`, each an exporter of this build on the same accounts file at the default poll
/// interval (30 s), one after another (so each has the cores to itself, as each would have its own pod): what
/// each owns, holds and costs a round, and whether their union is every account exactly once.
fn shards(shape: Shape, total: u32, work: &Path) {
    const INTERVAL_S: u64 = 30;
    let (_sim, file) = accounts_sim(shape, 0, work);
    println!(
        "\n### {} over {total} shards ({} instances; polls every {INTERVAL_S} s, the default)\n",
        shape.label(),
        shape.instances()
    );
    println!(
        "| shard | accounts owned | ready after | CPU per round | RSS steady | RSS peak | gzip /metrics |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut seen = std::collections::BTreeSet::new();
    let mut owned_total = 0;
    let mut rss_max: f64 = 0.0;
    for i in 0..total {
        let (exporter, addr, polls, started) =
            accounts_exporter(Path::new(EXPORTER), &file, (i, total), INTERVAL_S);
        let pid = exporter.0.id();
        wait_until("readiness", Duration::from_secs(900), || {
            get(addr, "/readyz", "").0 == 200
        });
        let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
        let body = String::from_utf8(get(addr, "/metrics", "").1).unwrap();
        let owned: Vec<String> = body
            .lines()
            .filter_map(|l| l.strip_prefix("zenlayer_exporter_account_owned{account=\""))
            .map(|l| l.split('"').next().unwrap().to_owned())
            .collect();
        // One round after the first: every owned account's products polled again.
        let per_round = owned.len() * PRODUCTS;
        let (p0, (cpu0, _, _)) = (polls.count(), usage(pid));
        wait_until("a round", Duration::from_secs(300), || {
            polls.count() >= p0 + per_round
        });
        let (cpu1, rss, peak) = usage(pid);
        let rounds = (polls.count() - p0) as f64 / per_round as f64;
        let gzip = get(addr, "/metrics", "Accept-Encoding: gzip\r\n").1.len();
        owned_total += owned.len();
        seen.extend(owned.iter().cloned());
        rss_max = rss_max.max(rss as f64 / 1e6);
        println!(
            "| {i} | {} | {ready_ms:.0} ms | {:.0} ms | {:.1} MB | {:.1} MB | {:.2} MB |",
            owned.len(),
            (cpu1 - cpu0).as_secs_f64() * 1000.0 / rounds,
            rss as f64 / 1e6,
            peak as f64 / 1e6,
            gzip as f64 / 1e6
        );
    }
    println!(
        "\nUnion: {} distinct accounts of {}, {owned_total} owned in all (each exactly once: {}); the largest shard's RSS {rss_max:.1} MB.",
        seen.len(),
        shape.accounts,
        seen.len() == shape.accounts && owned_total == shape.accounts
    );
}

pub fn accounts_main(before: Option<PathBuf>, seconds: u64, work: &Path) {
    let this = PathBuf::from(EXPORTER);
    let builds: Vec<(&str, PathBuf)> = before
        .map(|b| ("before", b))
        .into_iter()
        .chain([("this build", this.clone())])
        .collect();
    println!(
        "### What an account costs: 100,000 instances held by 1, 100 and 1,000 accounts (the defaults: metadata \
         every 300 s, hardware health every 60 s, maintenance every 300 s, two tags; status polls every \
         {ACCOUNTS_INTERVAL_S} s)\n"
    );
    println!(
        "| fleet | build | ready after | CPU per round | x ref (x 1-account 3 products) | RSS steady | x ref (x 1-account 3 products) | RSS peak |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut results: Vec<Vec<Measured>> = builds.iter().map(|_| Vec::new()).collect();
    let mut scrapes = Vec::new();
    for shape in SHAPES {
        eprintln!("measuring {}...", shape.label());
        let (_sim, file) = accounts_sim(shape, 0, work);
        for (b, (name, bin)) in builds.iter().enumerate() {
            let last = b + 1 == builds.len();
            let m = measure(bin, &file, shape, last.then_some(seconds), work);
            let (reference, same_products) = match results[b].as_slice() {
                [r, s, ..] => (r, Some(s)),
                [r] => (r, None),
                [] => (&m, None),
            };
            let ratio = |of: fn(&Measured) -> f64| {
                let theirs =
                    same_products.map_or(String::new(), |s| format!(" ({:.2})", of(&m) / of(s)));
                format!("{:.2}{theirs}", of(&m) / of(reference))
            };
            println!(
                "| {} | {name} | {:.0} ms | {:.0} ms | {} | {:.1} MB | {} | {:.1} MB |",
                shape.label(),
                m.ready_ms,
                m.cpu_per_round_ms,
                ratio(|m| m.cpu_per_round_ms),
                m.rss_mb,
                ratio(|m| m.rss_mb),
                m.peak_mb,
            );
            if let Some((gzip, ours, theirs)) = &m.scrape {
                scrapes.push((shape, *gzip, ours.rps, theirs.rps));
            }
            results[b].push(m);
        }
    }
    let thousand = results
        .last()
        .and_then(|r| r.get(3))
        .map(|m| m.cpu_per_round_ms);
    calls_table(thousand);
    println!(
        "\n### /metrics at each fleet, this build: gzip scrapes with 16 connections against nginx serving the same bytes ({seconds} s each)\n"
    );
    println!("| fleet | gzip body | exporter req/s | nginx req/s | ratio |");
    println!("|---|---:|---:|---:|---:|");
    for (shape, gzip, ours, theirs) in scrapes {
        println!(
            "| {} | {:.2} MB | {ours:.0} | {theirs:.0} | {:.2} |",
            shape.label(),
            gzip as f64 / 1e6,
            ours / theirs.max(1e-9)
        );
    }

    let thousand = SHAPES[3];
    println!(
        "\n### Start-up: {} with {STARTUP_LATENCY_MS} ms per call (ideal: every account's first page of each product at once, {STARTUP_LATENCY_MS} ms)\n",
        thousand.label()
    );
    println!(
        "| build | ready after | x ideal | first status poll: median / p99 / max | x ideal (max) | CPU until ready: exporter + simulator | cores busy |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let (sim, file) = accounts_sim(thousand, STARTUP_LATENCY_MS, work);
    for (name, bin) in &builds {
        let Startup {
            ready_ms,
            first_polls: [p50, p99, max],
            exporter_cpu_ms,
            sim_cpu_ms,
        } = startup(bin, &file, &sim);
        let ideal = STARTUP_LATENCY_MS as f64;
        // Cores kept busy on average until ready: at the machine's count, start-up waited on CPU, not on calls.
        let busy = (exporter_cpu_ms + sim_cpu_ms) / ready_ms;
        println!(
            "| {name} | {ready_ms:.0} ms | {:.1} | {p50:.0} / {p99:.0} / {max:.0} ms | {:.1} | {exporter_cpu_ms:.0} + {sim_cpu_ms:.0} ms | {busy:.2} of {} |",
            ready_ms / ideal,
            max / ideal,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        );
    }
    drop(sim);

    shards(
        Shape {
            accounts: 10_000,
            per_account: [4, 3, 3],
        },
        5,
        work,
    );
}

/// The CPU of one status call, layer by layer ([`calls`]), and beside it the exporter's CPU per status poll at
/// 1,000 accounts when `thousand` (its CPU per round) was measured: what is left of a call above the floor.
pub fn calls_table(thousand: Option<f64>) {
    eprintln!("measuring the CPU of a call...");
    let cost = super::calls::call_cost();
    println!(
        "\n### The CPU of one status call (34 VMs an answer, {} calls, {} in flight; this process against the simulator)\n",
        super::calls::CALLS,
        super::calls::IN_FLIGHT
    );
    println!("| layer | CPU a call |");
    println!("|---|---:|");
    println!(
        "| written and read by hand: the kernel's TCP and the runtime | {:.1} µs |",
        cost.by_hand
    );
    println!(
        "| the exporter's reqwest client (its pool and hyper's connection tasks) | {:.1} µs |",
        cost.reqwest
    );
    println!(
        "| the exporter's client: gate, signature, headers, reading and classifying the answer, decoding its rows | {:.1} µs |",
        cost.client
    );
    if let Some(round_ms) = thousand {
        let polls = (SHAPES[3].accounts * PRODUCTS) as f64;
        println!(
            "| the exporter at {}, this build: CPU per round over its status polls (everything else included) | {:.1} µs |",
            SHAPES[3].label(),
            round_ms * 1000.0 / polls
        );
    }
}
