//! The landing page (`/`): what this replica polls (each account and product: its last poll, the snapshot
//! served, the metadata) and where the other answers are. Made afresh on each request from what the accounts
//! hold; it never waits on a poll.

use std::time::{Duration, SystemTime};

use super::AppState;
use crate::account::Part;
use crate::telemetry::{REVISION, VERSION};
use crate::zenlayer::declaration;

/// What the landing page says of one product of an account: its last poll, the snapshot served and the metadata.
fn part_lines(part: &Part, metadata_interval: Option<Duration>) -> [String; 3] {
    let now = SystemTime::now();
    let age = |t: SystemTime| now.duration_since(t).map_or(0, |d| d.as_secs());
    let rendered = part.exposition.rendered();
    let snapshot = match &rendered {
        Some(r) => format!(
            "{} instances, from a poll {} s ago",
            r.instances,
            age(r.taken_at)
        ),
        None => "none yet".to_owned(),
    };
    let metadata = match (metadata_interval, rendered.and_then(|r| r.named)) {
        (None, _) => "off (ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS=0)".to_owned(),
        (Some(_), Some((named, taken_at))) => format!(
            "{named} instances named, from a metadata poll {} s ago",
            age(taken_at)
        ),
        (Some(every), None) => format!("none yet (polled every {} s)", every.as_secs_f64()),
    };
    let last = match part.reports.load() {
        None => "no poll has finished yet".to_owned(),
        Some(report) => match &report.error {
            None => format!(
                "succeeded {} s ago in {:.2} s",
                age(report.finished_at),
                report.duration.as_secs_f64()
            ),
            Some(error) => format!(
                "FAILED {} s ago: {}",
                age(report.finished_at),
                html_escape(error)
            ),
        },
    };
    [last, snapshot, metadata]
}

/// The page's HTML.
pub fn page(state: &AppState) -> String {
    let accounts = state.accounts.all();
    let mut rows = String::new();
    for account in accounts.iter() {
        let name = account.shown_name();
        let shown = match state.accounts.named {
            true => format!("<a href=\"/probe?account={name}\">{name}</a>"),
            false => name.to_owned(),
        };
        for part in &account.parts {
            let [last, snapshot, metadata] = part_lines(part, state.metadata_interval);
            let product = declaration::of(part.product).title;
            rows.push_str(&format!(
                "<tr><td>{shown}</td><td>{product} ({})</td><td>{last}</td><td>{snapshot}</td><td>{metadata}</td></tr>\n",
                part.product
            ));
        }
    }
    let polled = match state.accounts.named {
        true => format!(
            "<p>Accounts polled by this replica: {} (shard {} of {}).</p>\n",
            accounts.len(),
            state.accounts.shard.index,
            state.accounts.shard.total
        ),
        false => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Zenlayer exporter</title></head><body>\n\
         <h1>Zenlayer exporter</h1>\n<p>Version {VERSION} (revision {REVISION}); polling every {} s.</p>\n\
         {polled}<table>\n<tr><th>Account</th><th>Product</th><th>Last poll</th><th>Snapshot served</th><th>Metadata</th></tr>\n\
         {rows}</table>\n<ul><li><a href=\"/metrics\">/metrics</a></li><li><a href=\"/healthz\">/healthz</a></li>\
         <li><a href=\"/readyz\">/readyz</a></li>\
         <li><a href=\"/sd?port=9100\">/sd?port=9100</a> (service discovery: node_exporter on every RUNNING instance)</li></ul>\n</body></html>\n",
        state.poll_interval.as_secs_f64()
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
