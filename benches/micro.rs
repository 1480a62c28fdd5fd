//! Micro-benchmarks of the hot paths, in-process: decoding an API page, building a snapshot, rendering and
//! compressing it, and assembling one scrape's body. `cargo bench --bench micro`. Times are medians of
//! repeated runs on this machine; compare them between commits, not across machines.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use zenlayer_exporter::exposition::render::{Rendered, StatusSeries};
use zenlayer_exporter::exposition::scrape;
use zenlayer_exporter::sim::Fleet;
use zenlayer_exporter::status::Status;
use zenlayer_exporter::status::snapshot::{Instance, Snapshot};
use zenlayer_exporter::zenlayer::model::{self, InstanceStatus};
use zenlayer_exporter::zenlayer::product::Product;

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
    let t = median(201, || {
        black_box(model::decode_page::<InstanceStatus<Status>>(black_box(&page)).unwrap());
    });
    println!(
        "| decode one API page | 1,000 rows, {} kB | {:.3} ms |",
        page.len() / 1000,
        t.as_secs_f64() * 1e3
    );

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
        }];
        let tail = vec![b'x'; 8 * 1024];
        for gzip in [false, true] {
            let t = median(2001, || {
                black_box(zenlayer_exporter::exposition::scrape::assemble(
                    &only,
                    false,
                    tail.clone(),
                    gzip,
                ));
            });
            println!(
                "| assemble one scrape ({}) | {n} instances, 8 kB tail | {:.1} µs |",
                if gzip { "gzip" } else { "plain" },
                t.as_secs_f64() * 1e6
            );
        }
    }
}
