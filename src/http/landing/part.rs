//! One product of one account on the landing page: its polls (when, how long, what they found or why not, the
//! last failures as logged), its instances per status and those not running, named with their zone, and for bare
//! metal the servers in hardware trouble, the hottest readings and the planned maintenance. Every list stops at
//! its bound and counts the rest; nothing walks a fleet but to fill a bounded list or to count servers.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::html::{Html, every, span, utc};
use crate::account::Part;
use crate::exposition::render::Rendered;
use crate::hardware::{Reading, Server, Servers};
use crate::maintenance::Windows;
use crate::metadata::{INFO_LABELS, Metadata};
use crate::poll::report::KEPT_FAILURES;
use crate::poll::{PollLog, PollReport};
use crate::zenlayer::declaration;
use crate::zenlayer::operations::{COMPONENTS, Health, SENSORS};
use crate::zenlayer::product::Product;

/// How much of each list a page shows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    /// Instances not running.
    pub instances: usize,
    /// Failures per poll.
    pub failures: usize,
    /// Components in trouble.
    pub components: usize,
    /// Hottest temperature readings.
    pub readings: usize,
    pub windows: usize,
    /// Statuses named in a count (the API may send any).
    pub statuses: usize,
}

/// A page of one account: every failure kept, and lists long enough to act on.
pub(super) const FULL: Bounds = Bounds {
    instances: 20,
    failures: KEPT_FAILURES,
    components: 20,
    readings: 5,
    windows: 20,
    statuses: 12,
};

/// A page of many accounts: each one's latest failure and the heads of its lists, the rest on its own page.
pub(super) const LISTED: Bounds = Bounds {
    instances: 5,
    failures: 1,
    components: 3,
    readings: 3,
    windows: 3,
    statuses: 6,
};

/// What the page shows of one product of an account, read once per request.
pub(super) struct PartView {
    pub product: Product,
    /// Each poll and its latest report.
    pub polls: Vec<(PollLog, Option<Arc<PollReport>>)>,
    /// The instance families served, with their instances per status.
    pub served: Option<Arc<Rendered>>,
    pub servers: Option<Arc<Servers>>,
    pub windows: Option<Arc<Windows>>,
}

impl PartView {
    pub fn of(part: &Part) -> PartView {
        PartView {
            product: part.product,
            polls: (part.polls.iter())
                .map(|log| (log.clone(), log.reports.load()))
                .collect(),
            served: part.exposition.rendered(),
            servers: part.exposition.servers(),
            windows: part.exposition.windows(),
        }
    }

    /// Its polls whose latest failed.
    pub fn failing(&self) -> usize {
        (self.polls.iter())
            .filter(|(_, report)| report.as_ref().is_some_and(|r| r.failure().is_some()))
            .count()
    }

    pub fn instances(&self) -> usize {
        self.served
            .as_ref()
            .map_or(0, |rendered| rendered.instances)
    }

    pub fn running(&self) -> usize {
        let counts = self.served.as_ref().map(|rendered| &rendered.counts[..]);
        (counts.unwrap_or_default().iter())
            .find(|(status, _)| status.is_running())
            .map_or(0, |(_, n)| *n)
    }

    pub fn not_running(&self) -> usize {
        self.instances() - self.running()
    }

    /// Servers with a component in trouble, of the servers reported (a walk of the servers: a bare-metal fleet
    /// is small, its health asked ten servers a call).
    pub fn troubled_servers(&self) -> Option<(usize, usize)> {
        let servers = self.servers.as_ref()?.servers();
        let troubled = servers.iter().filter(|s| troubles(s).next().is_some());
        Some((troubled.count(), servers.len()))
    }

    fn metadata(&self) -> Option<&Metadata> {
        self.served.as_ref().and_then(|r| r.sources().1)
    }
}

/// The components of `server` whose health is neither OK nor unknown, and that health.
fn troubles(server: &Server) -> impl Iterator<Item = (&'static str, &Reading)> {
    (COMPONENTS.iter().zip(&server.components))
        .filter_map(|(c, reading)| Some((c.name, reading.as_ref()?)))
        .filter(|(_, r)| !matches!(r, Reading::Known(Health::Ok | Health::Unknown)))
}

/// What a part's section needs besides the part.
pub(super) struct Context<'a> {
    pub bounds: Bounds,
    pub metadata_interval: Option<Duration>,
    /// The page of this account alone, when the page lists several: where the rest of each list is.
    pub more: Option<&'a str>,
}

impl Context<'_> {
    /// Says how many of a list were left out (`left` of them, `what`), and where they are.
    fn rest(&self, h: &mut Html, left: usize, what: &str) {
        if left == 0 {
            return;
        }
        h.raw("<p class=\"m\">").show(left).raw(" more ").text(what);
        match self.more {
            Some(href) => {
                h.raw(": ").link(href, "this account alone");
            }
            None => {
                h.raw(" not shown");
            }
        }
        h.raw("</p>");
    }
}

/// The section of one product of an account.
pub(super) fn section(h: &mut Html, part: &PartView, cx: &Context) {
    h.raw("<h3>")
        .text(declaration::of(part.product).title)
        .raw(" <small>(")
        .text(part.product.as_str())
        .raw(")</small></h3>");
    polls(h, part);
    for (log, report) in &part.polls {
        if let Some(report) = report {
            failures(h, log, report, cx);
        }
    }
    served(h, part, cx);
    let metadata = part.metadata();
    not_running(h, part, metadata, cx);
    if let (Some(servers), Some((troubled, _))) = (&part.servers, part.troubled_servers()) {
        hardware(h, servers, troubled, metadata, cx);
    }
    if let Some(windows) = &part.windows {
        maintenance(h, windows, metadata, cx);
    }
}

fn polls(h: &mut Html, part: &PartView) {
    h.table(&["Poll", "Last", "Took", "Outcome", "Every"]);
    for (log, report) in &part.polls {
        h.row(|h| {
            h.cell(|h| {
                h.wrap(("<b>", "</b>"), log.kind.name)
                    .wrap(("<br><small>", "</small>"), log.action);
            });
            let Some(report) = report else {
                h.cell_text("not finished yet").cell_text("").cell_text("");
                h.cell_text(&every(log.interval));
                return;
            };
            h.cell(|h| {
                h.age(report.finished_at)
                    .raw("<br><small>")
                    .utc(report.finished_at)
                    .raw("</small>");
            });
            h.cell_text(&span(report.duration));
            h.cell(|h| outcome(h, log, report));
            h.cell_text(&every(log.interval));
        });
    }
    h.end_table();
}

fn outcome(h: &mut Html, log: &PollLog, report: &PollReport) {
    match (report.found, report.failure()) {
        (Some(found), _) => {
            h.raw("<span class=\"ok\">succeeded</span>: ")
                .count(found, log.kind.finds);
        }
        (None, failure) => {
            h.raw("<span class=\"bad\">FAILED</span>: ")
                .wrap(("<b>", "</b>"), failure.map_or("", |f| f.reason))
                .raw("<br><small>")
                .show(report.failed_in_a_row)
                .raw(" in a row; ");
            match report.last_success {
                Some(at) => h.raw("last success ").age(at),
                None => h.raw("never succeeded"),
            };
            h.raw("</small>");
        }
    }
}

/// A poll's last failures, newest first, each as its warning logged it.
fn failures(h: &mut Html, log: &PollLog, report: &PollReport, cx: &Context) {
    if report.failures.is_empty() {
        return;
    }
    h.raw("<h4>Last errors of the ")
        .text(log.kind.name)
        .raw(" poll, as logged</h4><ul class=\"log\">");
    for failure in report.failures.iter().take(cx.bounds.failures) {
        h.raw("<li>")
            .utc(failure.at)
            .raw(" WARN ")
            .text(log.what)
            .raw(" failed; ")
            .text(log.kept)
            .raw(" action=")
            .text(failure.action);
        if let Some(page) = failure.page {
            h.raw(" page=").show(page);
        }
        if let Some(id) = &failure.request_id {
            h.raw(" request_id=").text(id);
        }
        h.raw(" kind=").text(failure.reason);
        if let Some(status) = failure.status {
            h.raw(" status=").show(status);
        }
        h.raw(" error=").text(&failure.error).raw("</li>");
    }
    h.raw("</ul>");
    let left = report.failures.len().saturating_sub(cx.bounds.failures);
    cx.rest(h, left, "earlier errors");
}

/// The instances served, by status, and the metadata joined to them.
fn served(h: &mut Html, part: &PartView, cx: &Context) {
    h.raw("<table class=\"kv\"><tr><th>Instances served</th><td>");
    let Some(rendered) = &part.served else {
        h.raw("none yet: no status poll has succeeded</td></tr></table>");
        return;
    };
    h.count(rendered.instances, "instances")
        .raw(", from a poll ")
        .age(rendered.taken_at)
        .raw("</td></tr><tr><th>By status</th><td>");
    let mut seen = rendered.counts.iter().filter(|(_, n)| *n > 0);
    for (i, (status, n)) in seen.by_ref().take(cx.bounds.statuses).enumerate() {
        if i > 0 {
            h.raw(" · ");
        }
        let class = match status.is_running() {
            true => "<b class=\"ok\">",
            false => "<b class=\"bad\">",
        };
        h.show(n).raw(" ").wrap((class, "</b>"), status.as_str());
    }
    let others = seen.count();
    if rendered.instances == 0 {
        h.raw("none");
    }
    if others > 0 {
        h.raw(" · and ").show(others).raw(" other statuses");
    }
    h.raw("</td></tr><tr><th>Metadata</th><td>");
    match (cx.metadata_interval, rendered.named) {
        (None, _) => h.raw("off (ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS=0)"),
        (Some(_), Some((named, taken_at))) => h
            .count(named, "instances")
            .raw(" named, from a metadata poll ")
            .age(taken_at),
        (Some(interval), None) => h
            .raw("none yet (polled every ")
            .text(&every(interval))
            .raw(")"),
    };
    h.raw("</td></tr></table>");
}

/// The instance `id` as a cell: its name over its id, or its id alone.
fn named(h: &mut Html, metadata: Option<&Metadata>, id: &str) {
    let name = metadata.and_then(|m| m.get(id)).map(|m| &*m.name);
    match name.filter(|n| !n.is_empty()) {
        Some(name) => h.text(name).wrap(("<br><small>", "</small>"), id),
        None => h.text(id),
    };
}

/// The instances not running, in id order, as many as the bound, with their status and zone.
fn not_running(h: &mut Html, part: &PartView, metadata: Option<&Metadata>, cx: &Context) {
    let (Some(rendered), total) = (&part.served, part.not_running()) else {
        return;
    };
    if total == 0 {
        return;
    }
    h.raw("<h4>Not running: ").show(total).raw("</h4>");
    // The counts tell how many there are: the walk stops at the last one the page shows.
    let shown = total.min(cx.bounds.instances);
    // The info series' labels, the instance's name first, are the metadata's values in order.
    let zone = INFO_LABELS.iter().position(|l| *l == "zone_id");
    h.table(&["Instance", "Status", "Zone"]);
    let instances = rendered.sources().0.instances().iter();
    for instance in instances.filter(|i| !i.status.is_running()).take(shown) {
        let meta = metadata.and_then(|m| m.get(&instance.id));
        h.row(|h| {
            h.cell(|h| named(h, metadata, &instance.id));
            h.cell_text(instance.status.as_str());
            h.cell_text(
                meta.zip(zone)
                    .and_then(|(m, at)| m.labels().nth(at))
                    .unwrap_or(""),
            );
        });
    }
    h.end_table();
    cx.rest(h, total - shown, "not running (in id order)");
}

/// Servers in hardware trouble (`troubled_servers` of them, one row a component) and the hottest readings.
fn hardware(
    h: &mut Html,
    servers: &Servers,
    troubled_servers: usize,
    metadata: Option<&Metadata>,
    cx: &Context,
) {
    let list = servers.servers();
    let mut troubled = list
        .iter()
        .flat_map(|s| troubles(s).map(move |(c, r)| (s, c, r)));
    let first: Vec<_> = troubled.by_ref().take(cx.bounds.components).collect();
    let left = troubled.count();
    h.raw("<h4>Hardware health: ")
        .show(troubled_servers)
        .raw(" of ")
        .count(list.len(), "servers")
        .raw(" in trouble, from a poll ")
        .age(servers.taken_at())
        .raw("</h4>");
    if !first.is_empty() {
        h.table(&["Server", "Component", "Health"]);
        for (server, component, reading) in first {
            h.row(|h| {
                h.cell(|h| named(h, metadata, &server.id));
                h.cell_text(component).cell(|h| {
                    h.wrap(("<b class=\"bad\">", "</b>"), reading.as_str());
                });
            });
        }
        h.end_table();
        cx.rest(h, left, "components in trouble");
    }
    // The hottest readings: a bounded list kept sorted, hottest first.
    let mut hottest: Vec<(f64, &Server, &str)> = Vec::with_capacity(cx.bounds.readings + 1);
    for server in list {
        for (sensor, t) in SENSORS.iter().zip(&server.temperatures) {
            let Some(t) = *t else { continue };
            let at = hottest.partition_point(|(hotter, ..)| *hotter >= t);
            if at < cx.bounds.readings {
                hottest.insert(at, (t, server, sensor.name));
                hottest.truncate(cx.bounds.readings);
            }
        }
    }
    if !hottest.is_empty() {
        h.table(&["Hottest", "Sensor", "°C"]);
        for (t, server, sensor) in hottest {
            h.row(|h| {
                h.cell(|h| named(h, metadata, &server.id));
                h.cell_text(sensor).cell_text(&format!("{t:.0}"));
            });
        }
        h.end_table();
    }
}

/// The maintenance windows, those still to end first, by start.
fn maintenance(h: &mut Html, windows: &Windows, metadata: Option<&Metadata>, cx: &Context) {
    let list = windows.windows();
    h.raw("<h4>Planned maintenance: ")
        .count(list.len(), "windows")
        .raw(", from a poll ")
        .age(windows.taken_at())
        .raw("</h4>");
    if list.is_empty() {
        return;
    }
    let now = h
        .now
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut order: Vec<usize> = (0..list.len()).collect();
    let key = |w: &crate::maintenance::Window| (w.end <= now, w.start);
    order.sort_by(|a, b| {
        let (a, b) = (key(&list[*a]), key(&list[*b]));
        a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
    });
    let shown = list.len().min(cx.bounds.windows);
    h.table(&["Server", "Status", "Start", "End", "Location", "Impact"]);
    for window in order[..shown].iter().map(|i| &list[*i]) {
        h.row(|h| {
            h.cell(|h| named(h, metadata, &window.instance_id));
            h.cell_text(&window.status);
            for time in [window.start, window.end].map(moment) {
                h.cell(|h| {
                    h.text(&utc(time, true))
                        .raw("<br><small>")
                        .age(time)
                        .raw("</small>");
                });
            }
            h.cell_text(&window.location).cell_text(&window.impact);
        });
    }
    h.end_table();
    cx.rest(h, list.len() - shown, "windows");
}

/// Unix seconds as a moment; one beyond what the clock holds (the API's times are free text) as the epoch.
fn moment(unix: f64) -> SystemTime {
    Duration::try_from_secs_f64(unix)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .unwrap_or(UNIX_EPOCH)
}
