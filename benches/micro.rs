//! Micro-benchmarks of the hot paths, in-process: decoding an API page (each product's walks, against the
//! floor of reading the JSON at all), building a snapshot, rendering and compressing it, and assembling one
//! scrape's body. `cargo bench --bench micro` (`-- decode`: the decoding alone). Times are medians of repeated
//! runs on this machine; compare them between commits, not across machines.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use zenlayer_exporter::exposition::render::{Rendered, StatusSeries};
use zenlayer_exporter::exposition::scrape;
use zenlayer_exporter::sim::Fleet;
use zenlayer_exporter::status::Status;
use zenlayer_exporter::status::snapshot::{Instance, Snapshot};
use zenlayer_exporter::text::Format;
use zenlayer_exporter::zenlayer::model::InstanceStatus;
use zenlayer_exporter::zenlayer::product::Product;
use zenlayer_exporter::zenlayer::{page, rows};

/// Median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn rows(fleet: &Fleet) -> Vec<Instance> {
    fleet
        .instances()
        .iter()
        .map(|i| Instance {
            id: i.id.as_str().into(),
            status: zenlayer_exporter::status::Status::parse(&i.status),
        })
        .collect()
}

fn main() {
    println!("| operation | size | median |");
    println!("|---|---:|---:|");
    let fleet = Fleet::generate(Product::Vm, 1000, 3);
    let page = serde_json::json!({"requestId": "T1", "response": {"requestId": "T1", "totalCount": 100000,
        "dataSet": fleet.instances().iter().map(|i| serde_json::json!({"instanceId": i.id, "instanceStatus": i.status})).collect::<Vec<_>>()}})
    .to_string()
    .into_bytes();
    // What a status page costs when it is not in its plain shape (an escape, a null, a field more): serde reads it.
    let t = median(201, || {
        black_box(page::decode_page::<InstanceStatus<Status>>(black_box(&page)).unwrap());
    });
    println!(
        "| decode a status page by serde (one not in its plain shape) | 1,000 rows, {} kB | {:.3} ms |",
        page.len() / 1000,
        t.as_secs_f64() * 1e3
    );

    decode_walks();
    // `cargo bench --bench micro -- decode`: the decoding rows alone.
    if std::env::args().skip(1).any(|a| a == "decode") {
        return;
    }
    watcher_tick();

    for n in [100_000usize, 1_000_000] {
        let fleet = Fleet::generate(Product::Vm, n, 7);
        let runs = if n > 100_000 { 5 } else { 21 };
        let t = median(runs, || {
            black_box(Snapshot::from_rows(rows(&fleet), SystemTime::now()));
        });
        println!(
            "| build a snapshot (sort, dedupe) | {n} instances | {:.1} ms |",
            t.as_secs_f64() * 1e3
        );
        let (snapshot, _) = Snapshot::from_rows(rows(&fleet), SystemTime::now());
        let snapshot = std::sync::Arc::new(snapshot);
        let t = median(runs, || {
            black_box(scrape::render_instances(
                &snapshot,
                None,
                (StatusSeries::Current, Product::Vm),
            ));
        });
        println!(
            "| render text, one thread | {n} instances | {:.1} ms |",
            t.as_secs_f64() * 1e3
        );
        let t = median(runs, || {
            black_box(Rendered::new(
                &snapshot,
                None,
                (StatusSeries::Current, Product::Vm),
                &zenlayer_exporter::text::Openings::new(None, "vm"),
                None,
            ));
        });
        println!(
            "| render and compress, as published | {n} instances | {:.1} ms |",
            t.as_secs_f64() * 1e3
        );
        let rendered = std::sync::Arc::new(Rendered::new(
            &snapshot,
            None,
            (StatusSeries::Current, Product::Vm),
            &zenlayer_exporter::text::Openings::new(None, "vm"),
            None,
        ));
        let only = [zenlayer_exporter::exposition::scrape::Contribution {
            rendered: Some(rendered),
            health: Default::default(),
            sides: Default::default(),
        }];
        let tail = vec![b'x'; 8 * 1024];
        for (gzip, format) in [false, true]
            .into_iter()
            .flat_map(|g| Format::ALL.iter().map(move |f| (g, *f)))
        {
            let t = median(2001, || {
                black_box(zenlayer_exporter::exposition::scrape::assemble(
                    &only,
                    false,
                    tail.clone(),
                    gzip,
                    format,
                ));
            });
            println!(
                "| assemble one scrape ({}, {format:?}) | {n} instances, 8 kB tail | {:.1} µs |",
                if gzip { "gzip" } else { "plain" },
                t.as_secs_f64() * 1e6
            );
        }
    }
}

/// What the accounts watcher does at each tick while nothing changed, at 1,000 accounts each with its secret in a
/// file: one `stat` of the accounts file and of each secret file, their metadata compared with what the last load
/// saw. As a share of one core at its interval (every 10 s, and on SIGHUP).
fn watcher_tick() {
    use zenlayer_exporter::files::{MAX_SECRET_BYTES, Seen};
    const SECRETS: usize = 1_000;
    let dir = std::env::temp_dir().join(format!("zenlayer-micro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths: Vec<std::path::PathBuf> = std::iter::once(dir.join("accounts.yml"))
        .chain((0..SECRETS).map(|i| dir.join(format!("account-{i}.secret"))))
        .collect();
    for path in &paths {
        std::fs::write(path, "sim-secret-0000000000000001\n").unwrap();
    }
    // Metadata is trusted only once a file has been still for 2 s (its last write and change both older).
    std::thread::sleep(Duration::from_millis(2_500));
    let mut seen: Vec<(&std::path::PathBuf, Seen)> = paths
        .iter()
        .map(|p| (p, Seen::read(p, MAX_SECRET_BYTES).unwrap().1))
        .collect();
    let t = median(101, || {
        for (path, seen) in seen.iter_mut() {
            assert!(black_box(seen.unchanged(path, MAX_SECRET_BYTES, false)));
        }
    });
    println!(
        "| accounts watcher tick, nothing changed ({:.3}% of a core every 10 s) | 1 accounts file, {SECRETS} secret files | {:.2} ms |",
        t.as_secs_f64() / 10.0 * 100.0,
        t.as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Times `f` and `floor` in turn `runs` times (so a change in the machine's speed moves both alike): the
/// medians of each and of their ratio.
fn versus(runs: usize, mut floor: impl FnMut(), mut f: impl FnMut()) -> (Duration, Duration, f64) {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        floor();
        let floor_took = started.elapsed();
        let started = Instant::now();
        f();
        times.push((floor_took, started.elapsed()));
    }
    let mid = |mut v: Vec<Duration>| {
        v.sort();
        v[runs / 2]
    };
    let mut ratios: Vec<f64> = times
        .iter()
        .map(|(a, b)| b.as_secs_f64() / a.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    (
        mid(times.iter().map(|t| t.0).collect()),
        mid(times.iter().map(|t| t.1).collect()),
        ratios[runs / 2],
    )
}

/// A page of 1,000 rows of each product's walks, decoded as the polls decode it (and, for metadata, turned into
/// the snapshot's rows as a walk does), beside the same page parsed into `serde::de::IgnoredAny`: what reading
/// the JSON costs at all, the floor. The ratio is what decoding adds to it.
fn decode_walks() {
    use serde::de::IgnoredAny;
    use std::sync::Arc;
    use zenlayer_exporter::config::values::TagLabels;
    use zenlayer_exporter::metadata::row::walk_reader;
    use zenlayer_exporter::metadata::{InstanceMeta, Interner, Known, Metadata};
    use zenlayer_exporter::sim::metadata;
    use zenlayer_exporter::zenlayer::declaration::{self, Statuses};
    let envelope = |rows: Vec<serde_json::Value>| {
        serde_json::json!({"requestId": "T1", "response": {"requestId": "T1", "totalCount": 100000, "dataSet": rows}})
            .to_string()
            .into_bytes()
    };
    let row = |what: String, page: &[u8], (floor, took, ratio): (Duration, Duration, f64)| {
        println!(
            "| {what} (IgnoredAny {:.3} ms: {ratio:.2}x) | 1,000 rows, {} kB | {:.3} ms |",
            floor.as_secs_f64() * 1e3,
            page.len() / 1000,
            took.as_secs_f64() * 1e3
        );
    };
    let ignore = |page: &[u8]| {
        black_box(serde_json::from_slice::<IgnoredAny>(black_box(page)).unwrap());
    };
    let tags = TagLabels::parse("env,team").unwrap();
    for product in Product::ALL {
        let declared = declaration::of(*product);
        let fleet = Fleet::generate(*product, 1000, 3);
        if let Statuses::Action(action) = declared.statuses {
            let page = envelope(
                fleet
                    .instances()
                    .iter()
                    .map(|i| serde_json::json!({"instanceId": i.id, "instanceStatus": i.status}))
                    .collect(),
            );
            let timed = versus(
                201,
                || ignore(&page),
                || {
                    black_box(page::decode_statuses(black_box(&page)).unwrap());
                },
            );
            row(
                format!("decode a {} {action} page", product.as_str()),
                &page,
                timed,
            );
        }
        let page = envelope(
            fleet
                .instances()
                .iter()
                .map(|i| metadata::row(*product, &i.id, &i.status, 1_780_000_000, None))
                .collect(),
        );
        let action = declared.metadata_action;
        let timed = versus(
            101,
            || ignore(&page),
            || {
                black_box(rows::decode_rows(declared.rows, black_box(&page)).unwrap());
            },
        );
        row(
            format!("decode a {} {action} page", product.as_str()),
            &page,
            timed,
        );
        // As a full walk reads its pages: each row into the snapshot's form, its profile and tag set found in an
        // interner that holds them already (as the process's does while the served snapshot keeps them). First
        // with every row new (the first walk, or every row changed), then at steady state: every row sent again
        // as the served snapshot (`served`, read from the same page) read it, so known by its text.
        let interner = Interner::default();
        let none = Known::default();
        let served = Metadata::new(
            walk_reader(declared.rows, (None, &none), &tags, &interner)(&page)
                .unwrap()
                .data_set,
            SystemTime::UNIX_EPOCH,
        );
        let known = served.known();
        let fresh = walk_reader(declared.rows, (None, &none), &tags, &interner);
        let steady = walk_reader(declared.rows, (Some(&served), &known), &tags, &interner);
        type Walk<'w> =
            &'w dyn Fn(&[u8]) -> Result<page::Page<Arc<InstanceMeta>>, page::PageDecodeError>;
        let walks: [(&str, Walk); 2] =
            [("every row new", &fresh), ("rows as read before", &steady)];
        for (what, read) in walks {
            let timed = versus(
                101,
                || ignore(&page),
                || {
                    black_box(read(black_box(&page)).unwrap());
                },
            );
            row(
                format!(
                    "decode a {} {action} page into metadata, {what}",
                    product.as_str()
                ),
                &page,
                timed,
            );
        }
    }
}
