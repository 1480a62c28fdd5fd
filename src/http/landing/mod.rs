//! The landing page (`/`): what this replica polls and how it goes. At the top, the fleet per product across
//! accounts; then each account and product (`part`): its polls and their last errors, its instances per status
//! and those not running, bare metal's hardware trouble and maintenance. With an accounts file, the accounts
//! with a failing poll or instances not running come first and the rest are paged (`/?page=N`), each list
//! shorter than on one account's own page (`/?account=NAME`), so the page stays small at a thousand accounts.
//! Made afresh on each request from what the accounts hold (it never waits on a poll); `html` writes it, every
//! value escaped, with no script and nothing fetched.

mod html;
mod part;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::AppState;
use crate::account::Account;
use crate::telemetry::{REVISION, VERSION};
use crate::zenlayer::declaration;
use crate::zenlayer::product::Product;
use html::{Html, STYLE, counted, every};
use part::{Bounds, Context, FULL, LISTED, PartView};

/// Accounts on one page of many: at their worst (every poll of every product failing, every list full, every
/// text at its longest) about 15 KB each.
const ACCOUNTS_PER_PAGE: usize = 10;

/// Statuses named in the fleet's count of those not running; the API may send any.
const FLEET_STATUSES: usize = 12;

/// What the page shows of one account.
struct AccountView {
    /// `None` for the only account of an exporter without an accounts file.
    name: Option<String>,
    parts: Vec<PartView>,
}

impl AccountView {
    fn of(account: &Account) -> AccountView {
        AccountView {
            name: account.name.as_ref().map(|n| n.to_string()),
            parts: account.parts.iter().map(PartView::of).collect(),
        }
    }

    /// Whether it comes first: a poll failing, or instances not running.
    fn in_trouble(&self) -> bool {
        (self.parts.iter()).any(|p| p.failing() > 0 || p.not_running() > 0)
    }
}

/// What the page says of the replica.
struct Replica {
    /// Whether the accounts come from an accounts file (then named, each with its `/probe`).
    named: bool,
    shard: (u32, u32),
    poll_interval: Duration,
    metadata_interval: Option<Duration>,
}

/// What the request asks for: a page of the accounts (from 1), or one account.
#[derive(Debug, Default, PartialEq)]
struct Query {
    page: usize,
    account: Option<String>,
}

impl Query {
    fn parse(query: Option<&str>) -> Query {
        let mut out = Query::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*key {
                "page" => out.page = value.parse().unwrap_or(0),
                "account" => out.account = Some(value.into_owned()),
                _ => {}
            }
        }
        out
    }
}

/// The page's HTML, for the request's `query` (`page=N`, `account=NAME`).
pub fn page(state: &AppState, query: Option<&str>) -> String {
    let accounts = state.accounts.all();
    let views: Vec<AccountView> = accounts.iter().map(|a| AccountView::of(a)).collect();
    let replica = Replica {
        named: state.accounts.named,
        shard: (state.accounts.shard.index, state.accounts.shard.total),
        poll_interval: state.poll_interval,
        metadata_interval: state.metadata_interval,
    };
    render(&replica, &views, &Query::parse(query), SystemTime::now())
}

/// The page of `accounts` (in name order) that `query` asks for, as of `now`.
fn render(replica: &Replica, accounts: &[AccountView], query: &Query, now: SystemTime) -> String {
    let mut h = Html::new(now);
    h.raw(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Zenlayer exporter</title><style>",
    )
    .raw(STYLE)
    .raw("</style></head><body>\n<header><h1>Zenlayer exporter</h1><p>Version ")
    .text(VERSION)
    .raw(" (revision ")
    .text(REVISION)
    .raw("); this page as of ")
    .utc(now)
    .raw(".</p>");
    intervals(&mut h, replica, accounts);
    h.raw(
        "<nav><a href=\"/metrics\">/metrics</a><a href=\"/healthz\">/healthz</a><a href=\"/readyz\">/readyz</a>\
         <a href=\"/sd?port=9100\">/sd?port=9100</a> <small>(service discovery: node_exporter on every RUNNING \
         instance)</small></nav></header>\n<main>",
    );
    fleet(&mut h, accounts);
    if !replica.named {
        for account in accounts {
            account_section(&mut h, account, replica, FULL);
        }
    } else if let Some(name) = &query.account {
        match accounts.iter().find(|a| a.name.as_ref() == Some(name)) {
            Some(account) => account_section(&mut h, account, replica, FULL),
            None => {
                h.raw("<p class=\"bad\">No account ")
                    .text(name)
                    .raw(" here: not in the accounts file, or polled by another shard.</p>");
            }
        }
    } else {
        paged(&mut h, accounts, replica, query.page);
    }
    h.raw("</main></body></html>\n");
    h.finish()
}

/// How often each poll runs (every account shares the configuration), and what is off.
fn intervals(h: &mut Html, replica: &Replica, accounts: &[AccountView]) {
    h.raw("<p>Polls: status every ")
        .text(&every(replica.poll_interval));
    let mut seen = vec!["status"];
    let logs = accounts
        .iter()
        .flat_map(|a| &a.parts)
        .flat_map(|p| &p.polls);
    for (log, _) in logs {
        if !seen.contains(&log.kind.name) {
            seen.push(log.kind.name);
            h.raw(", ")
                .text(log.kind.name)
                .raw(" every ")
                .text(&every(log.interval));
        }
    }
    if replica.metadata_interval.is_none() {
        h.raw("; metadata off (ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS=0)");
    }
    h.raw(".</p>");
}

/// The fleet per product across the accounts: one row each.
fn fleet(h: &mut Html, accounts: &[AccountView]) {
    h.raw("<h2>Fleet</h2>").table(&[
        "Product",
        "Accounts",
        "Instances",
        "Running",
        "Not running",
        "Accounts failing",
        "Hardware trouble",
        "Maintenance",
    ]);
    for &product in Product::ALL.iter() {
        let parts: Vec<&PartView> = (accounts.iter())
            .flat_map(|a| &a.parts)
            .filter(|p| p.product == product)
            .collect();
        if parts.is_empty() {
            continue;
        }
        let sum = |f: &dyn Fn(&PartView) -> usize| parts.iter().map(|p| f(p)).sum::<usize>();
        let mut not_running: BTreeMap<&str, usize> = BTreeMap::new();
        for (status, n) in parts
            .iter()
            .filter_map(|p| p.served.as_ref())
            .flat_map(|rendered| &rendered.counts[..])
        {
            if !status.is_running() && *n > 0 {
                *not_running.entry(status.as_str()).or_default() += n;
            }
        }
        let failing = parts.iter().filter(|p| p.failing() > 0).count();
        let hardware = parts.iter().filter_map(|p| p.troubled_servers());
        let (troubled, servers) = hardware.fold((0, 0), |(t, s), (pt, ps)| (t + pt, s + ps));
        let windows = parts.iter().filter_map(|p| p.windows.as_ref());
        let windows: usize = windows.map(|w| w.windows().len()).sum();
        let bmc = product == Product::Bmc;
        h.row(|h| {
            h.cell_text(&format!("{} ({product})", declaration::of(product).title));
            h.cell_text(&parts.len().to_string());
            h.cell_text(&sum(&PartView::instances).to_string());
            h.cell_text(&sum(&PartView::running).to_string());
            h.cell(|h| {
                let mut statuses = not_running.iter();
                for (i, (status, n)) in statuses.by_ref().take(FLEET_STATUSES).enumerate() {
                    h.raw(if i > 0 { " · " } else { "" });
                    h.show(n)
                        .raw(" ")
                        .wrap(("<b class=\"bad\">", "</b>"), status);
                }
                match statuses.len() {
                    0 if not_running.is_empty() => h.raw("none"),
                    0 => h,
                    more => h.raw(" · and ").show(more).raw(" other statuses"),
                };
            });
            h.cell(|h| {
                match failing {
                    0 => h.raw("none"),
                    n => h
                        .raw("<b class=\"bad\">")
                        .show(n)
                        .raw(" of ")
                        .show(parts.len())
                        .raw("</b>"),
                };
            });
            h.cell_text(&match (bmc, servers) {
                (false, _) => "—".to_owned(),
                (true, 0) => "none reported".to_owned(),
                (true, _) => format!("{troubled} of {}", counted(servers, "servers")),
            });
            h.cell_text(&match bmc {
                false => "—".to_owned(),
                true => counted(windows, "windows"),
            });
        });
    }
    h.end_table();
}

/// A page of the accounts, those in trouble first, each bounded more tightly than on its own page.
fn paged(h: &mut Html, accounts: &[AccountView], replica: &Replica, page: usize) {
    let (index, total) = replica.shard;
    let mut order: Vec<&AccountView> = accounts.iter().collect();
    // Stable: in name order within each group.
    order.sort_by_key(|a| !a.in_trouble());
    let troubled = order.iter().take_while(|a| a.in_trouble()).count();
    let pages = accounts.len().div_ceil(ACCOUNTS_PER_PAGE).max(1);
    let page = page.clamp(1, pages);
    h.raw("<h2>Accounts</h2><p>")
        .show(accounts.len())
        .raw(" accounts polled by this replica (shard ")
        .show(index)
        .raw(" of ")
        .show(total)
        .raw("); ")
        .show(troubled)
        .raw(" with a failing poll or instances not running, listed first. One account alone: ")
        .raw("<code>/?account=NAME</code>.</p>");
    pager(h, page, pages);
    let bounds = if accounts.len() == 1 { FULL } else { LISTED };
    let shown = order.iter().skip((page - 1) * ACCOUNTS_PER_PAGE);
    for account in shown.take(ACCOUNTS_PER_PAGE) {
        account_section(h, account, replica, bounds);
    }
    pager(h, page, pages);
}

/// Where the other pages are.
fn pager(h: &mut Html, page: usize, pages: usize) {
    if pages == 1 {
        return;
    }
    h.raw("<nav><b>Page ")
        .show(page)
        .raw(" of ")
        .show(pages)
        .raw("</b> ");
    let links = [
        ("first", 1),
        ("previous", page.saturating_sub(1)),
        ("next", page + 1),
        ("last", pages),
    ];
    for (label, to) in links {
        if (1..=pages).contains(&to) && to != page {
            h.link(&format!("/?page={to}"), label);
        }
    }
    h.raw("</nav>");
}

/// One account: its name and links, then each product it reads.
fn account_section(h: &mut Html, account: &AccountView, replica: &Replica, bounds: Bounds) {
    let class = match account.in_trouble() {
        true => "<section class=\"a trouble\">",
        false => "<section class=\"a\">",
    };
    h.raw(class);
    let alone = account.name.as_ref().map(|name| {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("account", name)
            .finish();
        (name, query)
    });
    if let Some((name, query)) = &alone {
        h.raw("<h2>Account ").text(name).raw(" <small>");
        h.link(&format!("/probe?{query}"), &format!("/probe?{query}"));
        h.raw("</small></h2>");
    }
    let more = alone.as_ref().map(|(_, query)| format!("/?{query}"));
    let cx = Context {
        bounds,
        metadata_interval: replica.metadata_interval,
        more: more
            .as_deref()
            .filter(|_| replica.named && bounds.failures < FULL.failures),
    };
    for part in &account.parts {
        part::section(h, part, &cx);
    }
    h.raw("</section>\n");
}
