//! `cargo bench --bench fleet -- openmetrics [--instances N] [--seconds S]`: what an OpenMetrics scrape costs
//! against a text scrape of the same exporter, at N instances (100,000 by default) at the defaults (metadata on),
//! in one run beside nginx serving the exporter's own text bytes: 16 concurrent gzip scrapers and a lone one,
//! each format asked for with the `Accept` header Prometheus sends; each rate the median of five interleaved runs. Both formats are assembled from the same
//! pre-compressed parts; only the metadata lines and the small self-metrics differ.

use std::time::Duration;

use crate::harness::*;

/// Prometheus 2.x's default `Accept`, which prefers OpenMetrics 1.0.0.
const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const TEXT: &str = "text/plain;version=0.0.4";

pub fn openmetrics_main(instances: usize, seconds: u64, work: &std::path::Path) {
    let (_sim, url, _) = sim(instances, 0);
    let mut settings = sim_account(&url).to_vec();
    settings.push(("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "300"));
    // The default interval, so the scrapes measured are scrapes, not scrapes racing a render every 2 s.
    settings.push(("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "30"));
    let (_exporter, addr, polls, _) = exporter(std::path::Path::new(EXPORTER), &settings);
    wait_until("the first metadata poll", Duration::from_secs(600), || {
        !polls.metadata_durations().is_empty()
    });
    let body =
        |accept: &str, gzip: &str| get(addr, "/metrics", &format!("Accept: {accept}\r\n{gzip}")).1;
    let (text, text_gz) = (body(TEXT, ""), body(TEXT, "Accept-Encoding: gzip\r\n"));
    let (om, om_gz) = (
        body(OPENMETRICS, ""),
        body(OPENMETRICS, "Accept-Encoding: gzip\r\n"),
    );
    assert!(
        om.ends_with(b"# EOF\n"),
        "the exporter answered OpenMetrics"
    );
    let (_nginx, port) = nginx(
        &work.join(format!("nginx-om-{}", std::process::id())),
        &text,
        &text_gz,
    );
    let ours = format!("http://{addr}/metrics");
    let theirs = format!("http://127.0.0.1:{port}/metrics");
    let gzip = "Accept-Encoding: gzip";
    let (accept_text, accept_om) = (format!("Accept: {TEXT}"), format!("Accept: {OPENMETRICS}"));
    let targets: [(&str, Vec<&str>); 3] = [
        (&ours, vec![gzip, &accept_text]),
        (&ours, vec![gzip, &accept_om]),
        (&theirs, vec![gzip]),
    ];
    // Five rounds of the three, each rate the median of its five: this machine's speed drifts within a run, and
    // the exporter's poll (every 30 s) lands in some runs; interleaved rounds and medians give each the same
    // share of both.
    let runs = |connections: u32| -> [Wrk; 3] {
        let mut rates: [Vec<(f64, f64)>; 3] = Default::default();
        for _ in 0..5 {
            for (i, (url, headers)) in targets.iter().enumerate() {
                let w = wrk_with(url, connections, seconds, headers);
                rates[i].push((w.rps, w.p99_ms));
            }
        }
        rates.map(|mut r| {
            let median = |r: &mut Vec<(f64, f64)>, key: fn(&(f64, f64)) -> f64| {
                r.sort_by(|a, b| key(a).total_cmp(&key(b)));
                key(&r[r.len() / 2])
            };
            Wrk {
                rps: median(&mut r, |w| w.0),
                p50_ms: f64::NAN,
                p99_ms: median(&mut r, |w| w.1),
            }
        })
    };
    let (crowd, lone) = (runs(16), runs(1));
    println!(
        "### OpenMetrics against text at {instances} instances, defaults, gzip ({seconds} s per wrk run)\n"
    );
    println!(
        "Bodies: text {} bytes ({} gzip), OpenMetrics {} bytes ({} gzip).\n",
        text.len(),
        text_gz.len(),
        om.len(),
        om_gz.len()
    );
    println!(
        "| scrapers | text req/s | OpenMetrics req/s | nginx req/s | OpenMetrics / text | text / nginx | OpenMetrics / nginx | p99 text | p99 OpenMetrics | p99 nginx |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (label, [t, o, n]) in [("16", crowd), ("1", lone)] {
        println!(
            "| {label} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} ms | {:.2} ms | {:.2} ms |",
            t.rps,
            o.rps,
            n.rps,
            o.rps / t.rps,
            t.rps / n.rps,
            o.rps / n.rps,
            t.p99_ms,
            o.p99_ms,
            n.p99_ms
        );
    }
}
