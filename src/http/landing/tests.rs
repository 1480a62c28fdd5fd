//! The landing page's HTML from made-up accounts: every value escaped, every list bounded, and a page of a
//! thousand accounts in trouble small.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::part::PartView;
use super::{AccountView, Query, Replica, render};
use crate::exposition::render::{Rendered, StatusSeries};
use crate::hardware::{Server, Servers};
use crate::maintenance::{Window, Windows};
use crate::metadata::{InstanceMeta, Metadata, Profile, TagLabels};
use crate::poll::report::{Failure, Kind, PollLog, PollReport};
use crate::status::snapshot::Snapshot;
use crate::store::Store;
use crate::text::Openings;
use crate::zenlayer::product::Product;

const HOSTILE: &str = "<script>alert(1)</script>";

/// When the page is made: the polls below finished a little before.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_785_254_400)
}

/// A poll of `action` whose last `failures` polls failed (with an error of `error_chars` characters) and whose
/// latest succeeded if `failures` is 0.
fn poll(
    name: &'static str,
    action: &'static str,
    failures: usize,
    error_chars: usize,
) -> (PollLog, Option<Arc<PollReport>>) {
    let failure = |i: usize| Failure {
        at: now() - Duration::from_secs(30 * i as u64),
        action,
        reason: "server_error",
        page: Some(2),
        request_id: Some(format!("T{i:08X}-51A0-4000-8000-000000000001")),
        status: Some(503),
        error: format!(
            "page 2 failed: API server error (HTTP 503: {HOSTILE} {})",
            "e".repeat(error_chars)
        ),
    };
    let report = PollReport {
        finished_at: now() - Duration::from_secs(4),
        duration: Duration::from_millis(130),
        found: (failures == 0).then_some(100),
        last_success: Some(now() - Duration::from_secs(3600)),
        failed_in_a_row: failures as u64,
        failures: (0..failures).map(failure).collect(),
    };
    let log = PollLog {
        kind: Kind::new(name, "instances"),
        action,
        interval: Duration::from_secs(30),
        what: "poll",
        kept: "serving the previous snapshot",
        reports: Arc::new(Store::default()),
    };
    (log, Some(Arc::new(report)))
}

/// `instances` instances of `product`, `stopped` of them STOPPED, each named `name_chars` long (the first named
/// [`HOSTILE`]), in a hostile zone; rendered once, shared by every account that shows it.
fn served(product: Product, instances: usize, stopped: usize, name_chars: usize) -> Arc<Rendered> {
    let id = |i: usize| format!("{i:019}");
    let snapshot = Arc::new(Snapshot::new(
        (0..instances).map(|i| {
            (
                id(i),
                if i < stopped { "STOPPED" } else { "RUNNING" }.to_owned(),
            )
        }),
        now(),
    ));
    let profile = Arc::new(Profile {
        labels: [format!("{HOSTILE}-zone").as_str(), "c.1c2g", "", "", "", ""].map(Arc::from),
        tags: Box::new([]),
        cpu_count: None,
        memory_bytes: None,
    });
    let rows: Vec<InstanceMeta> = (0..instances)
        .map(|i| InstanceMeta {
            profile: profile.clone(),
            ..InstanceMeta::bare(
                &id(i),
                &if i == 0 {
                    HOSTILE.to_owned()
                } else {
                    format!("{i}-{}", "n".repeat(name_chars))
                },
            )
        })
        .collect();
    let metadata = Arc::new(Metadata::new(rows, now()));
    let rendered = Rendered::new(
        &snapshot,
        Some((&metadata, &Arc::new(TagLabels::default()))),
        (StatusSeries::Current, product),
        &Openings::new(Some("a"), product.as_str()),
        None,
    );
    Arc::new(rendered)
}

/// Bare metal's hardware: every server with two components in trouble (one in a hostile word) and a reading.
fn servers(count: usize) -> Arc<Servers> {
    let rows = (0..count).map(|i| {
        let row = format!(
            r#"{{"instanceId":"{i:019}","psuStatus":"WARNING","fanStatus":"{}","cpu0Temp":{}}}"#,
            HOSTILE.replace('/', "\\/"),
            40 + i % 50
        );
        Server::from_row(serde_json::from_str(&row).unwrap()).0
    });
    Arc::new(Servers::new(rows.collect(), now()))
}

/// Maintenance windows, one per server, with long hostile texts.
fn windows(count: usize, text_chars: usize) -> Arc<Windows> {
    let window = |i: usize| Window {
        instance_id: format!("{i:019}").into(),
        status: HOSTILE.into(),
        location: format!("{HOSTILE}-loc").into(),
        impact: format!("{HOSTILE} {}", "i".repeat(text_chars)).into(),
        start: 1_785_254_400.0 + 3600.0 * i as f64,
        end: 1_785_261_600.0 + 3600.0 * i as f64,
    };
    Arc::new(Windows::new((0..count).map(window).collect(), now()).0)
}

/// An account of every product, each polled and served as the arguments say: the worst a page can be asked to
/// hold, every list longer than its bound and every text at its longest.
fn worst_account(name: &str, shared: &Shared) -> AccountView {
    let part = |product: Product,
                polls: Vec<(PollLog, Option<Arc<PollReport>>)>,
                bare_metal: bool| PartView {
        product,
        polls,
        served: Some(shared.served[product.index()].clone()),
        servers: bare_metal.then(|| shared.servers.clone()),
        windows: bare_metal.then(|| shared.windows.clone()),
    };
    let failing = |name, action| poll(name, action, 5, 200);
    AccountView {
        name: Some(name.to_owned()),
        parts: vec![
            part(
                Product::Vm,
                vec![
                    failing("status", "DescribeInstancesStatus"),
                    failing("metadata", "DescribeInstances"),
                ],
                false,
            ),
            part(
                Product::Zec,
                vec![
                    failing("status", "DescribeInstancesStatus"),
                    failing("metadata", "DescribeInstances"),
                ],
                false,
            ),
            part(
                Product::Bmc,
                vec![
                    failing("status", "DescribeInstances"),
                    failing("hardware health", "DescribeInstancesMonitorHealth"),
                    failing("maintenance", "DescribeMaintenanceAlerts"),
                ],
                true,
            ),
        ],
    }
}

struct Shared {
    served: Vec<Arc<Rendered>>,
    servers: Arc<Servers>,
    windows: Arc<Windows>,
}

fn shared() -> Shared {
    Shared {
        served: Product::ALL
            .iter()
            .map(|p| served(*p, 200, 100, 60))
            .collect(),
        servers: servers(100),
        windows: windows(100, 200),
    }
}

fn replica(named: bool) -> Replica {
    Replica {
        named,
        shard: (0, 1),
        poll_interval: Duration::from_secs(30),
        metadata_interval: Some(Duration::from_secs(300)),
    }
}

fn page(accounts: &[AccountView], named: bool, query: &str) -> String {
    render(&replica(named), accounts, &Query::parse(Some(query)), now())
}

#[test]
fn every_value_is_escaped_and_the_page_has_no_script() {
    let shared = shared();
    let html = page(&[worst_account("hostile", &shared)], false, "");
    for raw in ["<script", "alert(1)</", "onerror"] {
        assert!(!html.contains(raw), "{raw} in the page");
    }
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    for context in [
        // An instance name, a zone, an error, a component's health, a status, a location, an impact.
        format!("<td>{escaped}<br><small>0000000000000000000</small></td>"),
        format!("<td data-l=\"Zone\">{escaped}-zone</td>"),
        format!("(HTTP 503: {escaped} eee"),
        format!("<b class=\"bad\">{escaped}</b>"),
        format!("<td data-l=\"Status\">{escaped}</td>"),
        format!("<td data-l=\"Location\">{escaped}-loc</td>"),
        format!("<td data-l=\"Impact\">{escaped} iii"),
    ] {
        assert!(html.contains(&context), "{context} not in the page");
    }
    // The only resources are the page's own: links to its paths, its inline style.
    assert!(!html.contains("src=") && !html.contains("<link") && !html.contains("url("));
    let hrefs: Vec<&str> = html.split("href=\"").skip(1).collect();
    assert!(hrefs.iter().all(|h| h.starts_with('/')), "{hrefs:?}");
    assert!(
        html.contains("default-src 'none'"),
        "the page forbids scripts itself"
    );
}

#[test]
fn lists_stop_at_their_bounds_and_count_the_rest() {
    let shared = shared();
    let one = page(&[worst_account("one", &shared)], true, "account=one");
    let listed = page(
        &[worst_account("one", &shared), worst_account("two", &shared)],
        true,
        "",
    );
    let rows = |html: &str, head: &str| {
        let table = html
            .split(head)
            .nth(1)
            .unwrap()
            .split("</table>")
            .next()
            .unwrap();
        table.matches("<tr>").count()
    };
    // One account: 20 of its 100 instances not running, 5 errors of each poll, 20 components, 5 readings,
    // 20 windows.
    assert_eq!(rows(&one, "<th>Instance</th>"), 20);
    assert!(one.contains("<p class=\"m\">80 more not running (in id order) not shown</p>"));
    assert_eq!(one.matches("<ul class=\"log\">").count(), 7);
    assert_eq!(one.matches(" WARN poll failed; ").count(), 35);
    assert_eq!(rows(&one, "<th>Component</th>"), 20);
    assert!(one.contains("<p class=\"m\">180 more components in trouble not shown</p>"));
    assert_eq!(rows(&one, "<th>Hottest</th>"), 5);
    assert_eq!(rows(&one, "<th>Impact</th>"), 20);
    assert!(one.contains("100 of 100 servers in trouble"));
    // Several: each account's lists shorter, the rest on its own page.
    assert_eq!(rows(&listed, "<th>Instance</th>"), 5);
    assert_eq!(rows(&listed, "<th>Component</th>"), 3);
    assert_eq!(rows(&listed, "<th>Impact</th>"), 3);
    assert_eq!(listed.matches(" WARN poll failed; ").count(), 14);
    assert!(listed.contains(
        "<p class=\"m\">95 more not running (in id order): <a href=\"/?account=one\">this account alone</a></p>"
    ));
    assert!(listed.contains("<a href=\"/probe?account=two\">"));
}

#[test]
fn a_thousand_accounts_in_trouble_make_small_pages_the_worst_first() {
    let shared = shared();
    // Every tenth account in trouble; the others polled and running.
    let healthy = |name: &str| {
        let part = |product, action| PartView {
            product,
            polls: vec![poll("status", action, 0, 0)],
            served: Some(served(product, 0, 0, 0)),
            servers: None,
            windows: None,
        };
        AccountView {
            name: Some(name.to_owned()),
            parts: vec![part(Product::Vm, "DescribeInstancesStatus")],
        }
    };
    let accounts: Vec<AccountView> = (0..1000)
        .map(|i| {
            let name = format!("account-{i:04}");
            match i % 10 {
                0 => worst_account(&name, &shared),
                _ => healthy(&name),
            }
        })
        .collect();
    let first = page(&accounts, true, "");
    let last = page(&accounts, true, "page=100");
    let alone = page(&accounts, true, "account=account-0990");
    for (which, html) in [("first", &first), ("last", &last), ("one account", &alone)] {
        assert!(
            html.len() < 200_000,
            "the {which} page is {} bytes",
            html.len()
        );
    }
    assert!(
        first.contains(
            "1000 accounts polled by this replica (shard 0 of 1); 100 with a failing poll"
        )
    );
    assert!(first.contains(
        "<b>Page 1 of 100</b> <a href=\"/?page=2\">next</a><a href=\"/?page=100\">last</a>"
    ));
    // The accounts in trouble come first, in name order; the healthy ones after them.
    let sections: Vec<&str> = first
        .split("<h2>Account ")
        .skip(1)
        .map(|s| &s[..12])
        .collect();
    assert_eq!(sections.len(), 10);
    assert_eq!(&sections[..2], ["account-0000", "account-0010"]);
    let last_sections: Vec<&str> = last
        .split("<h2>Account ")
        .skip(1)
        .map(|s| &s[..12])
        .collect();
    assert_eq!(last_sections.last(), Some(&"account-0999"));
    // The fleet at the top counts every account, not only the page's.
    assert!(
        first.contains("<td data-l=\"Accounts\">1000</td>"),
        "{}",
        &first[..4000]
    );
    assert!(first.contains("<b class=\"bad\">100 of 1000</b>"));
    // Beyond the last page is the last page; an account not here says so.
    assert!(page(&accounts, true, "page=999") == last);
    assert!(page(&accounts, true, "account=%3Cb%3E").contains("No account &lt;b&gt; here"));
    println!(
        "1,000 accounts: first page {} bytes, last {} bytes, one account {} bytes",
        first.len(),
        last.len(),
        alone.len()
    );
}

#[test]
fn the_query_names_a_page_or_an_account() {
    assert_eq!(Query::parse(None), Query::default());
    let query = Query::parse(Some("page=3&account=a%2Db&x=1"));
    assert_eq!((query.page, query.account.as_deref()), (3, Some("a-b")));
    assert_eq!(Query::parse(Some("page=-1")).page, 0);
}
