//! One account's poll and API metrics for one product (`zenlayer_up`, the poll and call counters and
//! histograms), held as plain atomic counters and written as text straight from them. Each family is declared
//! once here ([`FAMILIES`]). A thousand accounts of three products are three thousand of these: a registry of the
//! `prometheus` crate each (a descriptor, a label map and a hashed child per series, hundreds of series an
//! account) cost more memory than their instances did, and gathering one built every series again as protobuf at
//! every scrape. The counters are a few hundred bytes an action, and what the scrape needs is only their text.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{PollFailure, Skipped};
use crate::labels::Word as _;
use crate::text::{Head, Kind, Sample};
use crate::zenlayer::declaration;
use crate::zenlayer::error::ErrorKind;
use crate::zenlayer::product::Product;
use crate::zenlayer::{ApiError, CallObserver};

/// Every family of an account's own metrics, in serving order: the order a VM account's registry gave them
/// before these were counters (its families by name, then bare metal's `rows_skipped`), so the exposition of
/// such a fleet did not change; a fleet of bare metal alone now has the same order.
pub const FAMILIES: [(Family, Head<'static>); 9] = [
    (
        Family::ApiDuration,
        Head {
            name: "zenlayer_exporter_api_request_duration_seconds",
            help: "Latency of single API calls, including reading the body.",
            kind: Kind::Histogram,
        },
    ),
    (
        Family::ApiFailures,
        Head {
            name: "zenlayer_exporter_api_request_failures_total",
            help: "API calls that failed, each retry counted, by reason.",
            kind: Kind::Counter,
        },
    ),
    (
        Family::ApiRequests,
        Head {
            name: "zenlayer_exporter_api_requests_total",
            help: "API calls sent, each retry counted.",
            kind: Kind::Counter,
        },
    ),
    (
        Family::LastSuccess,
        Head {
            name: "zenlayer_exporter_last_poll_success_timestamp_seconds",
            help: "Unix time of the last successful poll of the action; 0 before the first.",
            kind: Kind::Gauge,
        },
    ),
    (
        Family::PollDuration,
        Head {
            name: "zenlayer_exporter_poll_duration_seconds",
            help: "Duration of whole polls (every page) of the action, successful or not.",
            kind: Kind::Histogram,
        },
    ),
    (
        Family::PollFailures,
        Head {
            name: "zenlayer_exporter_poll_failures_total",
            help: "Polls that failed, by action and reason; the previous snapshot kept being served.",
            kind: Kind::Counter,
        },
    ),
    (
        Family::Polls,
        Head {
            name: "zenlayer_exporter_polls_total",
            help: "Polls attempted, by action.",
            kind: Kind::Counter,
        },
    ),
    (
        Family::Up,
        Head {
            name: "zenlayer_up",
            help: "1 if the last poll of the Zenlayer API succeeded, else 0.",
            kind: Kind::Gauge,
        },
    ),
    (
        Family::RowsSkipped,
        Head {
            name: "zenlayer_exporter_rows_skipped_total",
            help: "Rows of an API answer left out while the rest of the answer was served, by action and reason: \
row (a row that does not decode; a server keeps its last health report for 3 such polls), time (a maintenance \
window whose start or end is no time, or that ends before it starts), unit (hardware temperatures in an unknown \
unit; the components are still served), value (a temperature no sensor reads, left out alone).",
            kind: Kind::Counter,
        },
    ),
];

/// Which of [`FAMILIES`] a family is: what its samples are written from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    ApiDuration,
    ApiFailures,
    ApiRequests,
    LastSuccess,
    PollDuration,
    PollFailures,
    Polls,
    RowsSkipped,
    Up,
}

/// Bucket bounds of `zenlayer_exporter_poll_duration_seconds`.
const POLL_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Bucket bounds of `zenlayer_exporter_api_request_duration_seconds`.
const API_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The most buckets a histogram here has.
const MAX_BUCKETS: usize = 12;

/// How many reasons a poll can fail for ([`PollFailure::all`]).
const POLL_FAILURES: usize = ErrorKind::ALL.len() + 3;

/// A histogram of durations: a count per bucket (not cumulative: each observation bumps one), the count and the
/// sum of all.
struct Histogram {
    bounds: &'static [f64],
    buckets: [AtomicU64; MAX_BUCKETS],
    count: AtomicU64,
    /// An `f64`'s bits.
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        debug_assert!(bounds.len() <= MAX_BUCKETS);
        Histogram {
            bounds,
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    fn observe(&self, seconds: f64) {
        if let Some(at) = self.bounds.iter().position(|b| seconds <= *b) {
            self.buckets[at].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + seconds).to_bits())
            });
    }

    /// `name_bucket` (cumulative, `le` canonical as OpenMetrics wants it), `name_sum` and `name_count`, each
    /// labelled by `labels`.
    fn write(&self, out: &mut Vec<u8>, name: &str, labels: &Labels) {
        let mut cumulative = 0;
        let mut le = String::new();
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            le.clear();
            crate::text::le_value(*bound, &mut le);
            labels
                .open(out, name, "_bucket")
                .label("le", &le)
                .count(cumulative as usize);
        }
        // Read after the buckets, which an observation in flight may have bumped first: never below them.
        let count = self.count.load(Ordering::Relaxed).max(cumulative);
        labels
            .open(out, name, "_bucket")
            .label("le", "+Inf")
            .count(count as usize);
        labels
            .open(out, name, "_sum")
            .value(f64::from_bits(self.sum.load(Ordering::Relaxed)));
        labels.open(out, name, "_count").count(count as usize);
    }
}

/// One action's counters.
struct Action {
    action: &'static str,
    polls: AtomicU64,
    /// Unix seconds of the last successful poll, an `f64`'s bits; 0 before the first.
    last_success: AtomicU64,
    poll_duration: Histogram,
    /// By [`PollFailure::index`].
    poll_failures: [AtomicU64; POLL_FAILURES],
    api_requests: AtomicU64,
    /// By the position in [`ErrorKind::ALL`].
    api_failures: [AtomicU64; ErrorKind::ALL.len()],
    api_duration: Histogram,
    /// By the position in [`Skipped::ALL`]; served only for the reasons tracked.
    skipped: [AtomicU64; Skipped::ALL.len()],
    skipped_tracked: [AtomicBool; Skipped::ALL.len()],
}

impl Action {
    fn new(action: &'static str) -> Action {
        Action {
            action,
            polls: AtomicU64::new(0),
            last_success: AtomicU64::new(0),
            poll_duration: Histogram::new(POLL_BUCKETS),
            poll_failures: Default::default(),
            api_requests: AtomicU64::new(0),
            api_failures: Default::default(),
            api_duration: Histogram::new(API_BUCKETS),
            skipped: Default::default(),
            skipped_tracked: Default::default(),
        }
    }
}

/// One account's poll and API metrics for one product. Cheap to clone: shared inside.
#[derive(Clone)]
pub struct AccountMetrics(Arc<Inner>);

struct Inner {
    product: Product,
    /// An `f64`'s bits: 1 or 0.
    up: AtomicU64,
    /// Every action polled or called, sorted by name (the order served). A handful: found by a scan.
    actions: RwLock<Vec<Arc<Action>>>,
    /// Bumped after every change, so the exposition renders these series again only when they changed.
    generation: AtomicU64,
}

impl AccountMetrics {
    /// The metrics of `product`, the status action's series present at zero.
    pub fn new(product: Product) -> AccountMetrics {
        let metrics = AccountMetrics(Arc::new(Inner {
            product,
            up: AtomicU64::new(0.0f64.to_bits()),
            actions: RwLock::default(),
            generation: AtomicU64::new(0),
        }));
        metrics.track_action(declaration::of(product).status_action());
        metrics
    }

    /// The product whose metrics these are: every series carries it as `product`.
    pub fn product(&self) -> Product {
        self.0.product
    }

    /// The counters of `action`, put in place at zero if it had none.
    fn action(&self, action: &'static str) -> Arc<Action> {
        let found = |actions: &[Arc<Action>]| actions.iter().find(|a| a.action == action).cloned();
        if let Some(found) = found(&self.0.actions.read().unwrap_or_else(|e| e.into_inner())) {
            return found;
        }
        let mut actions = self.0.actions.write().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = found(&actions) {
            return found;
        }
        let added = Arc::new(Action::new(action));
        let at = actions.partition_point(|a| a.action < action);
        actions.insert(at, added.clone());
        self.changed();
        added
    }

    /// Puts every series of a polled action in place at zero, so `rate()` works from its first failure.
    pub fn track_action(&self, action: &'static str) {
        self.action(action);
    }

    /// Puts the series of rows of `action` skipped for `reason` in place at zero.
    pub fn track_skipped(&self, action: &'static str, reason: Skipped) {
        self.action(action).skipped_tracked[reason.index()].store(true, Ordering::Relaxed);
        self.changed();
    }

    /// Counts `rows` of `action` skipped for `reason`.
    pub fn skipped(&self, action: &'static str, reason: Skipped, rows: usize) {
        let counters = self.action(action);
        counters.skipped_tracked[reason.index()].store(true, Ordering::Relaxed);
        counters.skipped[reason.index()].fetch_add(rows as u64, Ordering::Relaxed);
        self.changed();
    }

    /// Counts a poll of `action` started.
    pub fn poll_started(&self, action: &'static str) {
        self.action(action).polls.fetch_add(1, Ordering::Relaxed);
        self.changed();
    }

    /// Records a poll of `action` that took `duration` and succeeded (`None`) or failed for a reason.
    pub fn poll_finished(
        &self,
        action: &'static str,
        duration: Duration,
        failure: Option<PollFailure>,
    ) {
        let counters = self.action(action);
        counters.poll_duration.observe(duration.as_secs_f64());
        match failure {
            None => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                counters
                    .last_success
                    .store(now.to_bits(), Ordering::Relaxed);
            }
            Some(reason) => {
                counters.poll_failures[reason.index()].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.changed();
    }

    /// Sets `zenlayer_up`.
    pub fn set_up(&self, up: bool) {
        self.0
            .up
            .store(if up { 1.0f64 } else { 0.0 }.to_bits(), Ordering::Relaxed);
        self.changed();
    }

    /// Says that a series changed; called after every update.
    fn changed(&self) {
        self.0.generation.fetch_add(1, Ordering::Release);
    }

    /// Which change the series are at: read before rendering them, so a change during the rendering makes
    /// the next read differ.
    pub fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }

    /// The samples of `family` (no `HELP` or `TYPE` lines), each labelled `account="NAME"` first when `account`
    /// is given, then by action (and reason), then `product`.
    pub fn write(&self, family: Family, account: Option<&[u8]>, out: &mut Vec<u8>) {
        let name = FAMILIES
            .iter()
            .find(|(f, _)| *f == family)
            .map_or("", |(_, head)| head.name);
        let product = self.0.product.as_str();
        let base = Labels {
            account: account.unwrap_or_default(),
            action: None,
            reason: None,
            product,
        };
        if family == Family::Up {
            base.open(out, name, "")
                .value(f64::from_bits(self.0.up.load(Ordering::Relaxed)));
            return;
        }
        let actions = self.0.actions.read().unwrap_or_else(|e| e.into_inner());
        for counters in actions.iter() {
            let labels = Labels {
                action: Some(counters.action),
                ..base
            };
            let with = |reason: &'static str| Labels {
                reason: Some(reason),
                ..labels
            };
            let load = |c: &AtomicU64| c.load(Ordering::Relaxed) as usize;
            match family {
                Family::ApiDuration => counters.api_duration.write(out, name, &labels),
                Family::PollDuration => counters.poll_duration.write(out, name, &labels),
                Family::ApiRequests => labels
                    .open(out, name, "")
                    .count(load(&counters.api_requests)),
                Family::Polls => labels.open(out, name, "").count(load(&counters.polls)),
                Family::LastSuccess => labels.open(out, name, "").value(f64::from_bits(
                    counters.last_success.load(Ordering::Relaxed),
                )),
                Family::ApiFailures => {
                    for kind in by_name(ErrorKind::ALL.iter().copied(), |k| k.as_str()) {
                        with(kind.as_str())
                            .open(out, name, "")
                            .count(load(&counters.api_failures[kind.index()]));
                    }
                }
                Family::PollFailures => {
                    for reason in by_name(PollFailure::all(), PollFailure::as_str) {
                        with(reason.as_str())
                            .open(out, name, "")
                            .count(load(&counters.poll_failures[reason.index()]));
                    }
                }
                Family::RowsSkipped => {
                    for reason in by_name(Skipped::ALL.iter().copied(), |r| r.as_str()) {
                        let at = reason.index();
                        if counters.skipped_tracked[at].load(Ordering::Relaxed) {
                            with(reason.as_str())
                                .open(out, name, "")
                                .count(load(&counters.skipped[at]));
                        }
                    }
                }
                Family::Up => {}
            }
        }
    }
}

/// `words` sorted by their label value: series are served in the order of their labels.
fn by_name<T: Copy>(words: impl Iterator<Item = T>, name: impl Fn(T) -> &'static str) -> Vec<T> {
    let mut words: Vec<T> = words.collect();
    words.sort_by_key(|w| name(*w));
    words
}

/// The labels of one series: the account's opening (`account="NAME",` or nothing), the action and reason where
/// the family has them, the product last.
#[derive(Clone, Copy)]
struct Labels<'a> {
    account: &'a [u8],
    action: Option<&'static str>,
    reason: Option<&'static str>,
    product: &'static str,
}

impl Labels<'_> {
    /// `name` + `suffix` and its labels; a bucket adds `le` after them.
    fn open<'o>(&self, out: &'o mut Vec<u8>, name: &str, suffix: &str) -> Sample<'o> {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        let mut sample = Sample::open(out, "", self.account);
        if let Some(action) = self.action {
            sample = sample.label("action", action);
        }
        if let Some(reason) = self.reason {
            sample = sample.label("reason", reason);
        }
        sample.label("product", self.product)
    }
}

/// Every API attempt counted, timed and, when it failed, counted by reason, per action.
impl CallObserver for AccountMetrics {
    fn attempted(&self, action: &'static str, elapsed: Duration, failure: Option<&ApiError>) {
        let counters = self.action(action);
        counters.api_requests.fetch_add(1, Ordering::Relaxed);
        counters.api_duration.observe(elapsed.as_secs_f64());
        // "No such instances" answers a look-up by ids: a call that worked, about instances deleted since.
        if let Some(error) = failure.filter(|e| !e.is_not_found()) {
            counters.api_failures[error.kind().index()].fetch_add(1, Ordering::Relaxed);
        }
        self.changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

    /// The counters write the bytes the `prometheus` crate's registry wrote for the same observations (what these
    /// families were before): bucket bounds, cumulative counts, an observation over every bound, a bound hit
    /// exactly, sums, failure reasons in their order, the label order.
    #[test]
    fn the_counters_write_what_the_registry_wrote() {
        let product = Product::Vm;
        let action = declaration::of(product).status_action();
        let ours = AccountMetrics::new(product);
        let labels = std::collections::HashMap::from([("product".to_owned(), "vm".to_owned())]);
        let registry = Registry::new_custom(None, Some(labels)).unwrap();
        let head = |family: Family| FAMILIES.iter().find(|(f, _)| *f == family).unwrap().1;
        let (duration, failures) = (head(Family::ApiDuration), head(Family::ApiFailures));
        let theirs_duration = HistogramVec::new(
            HistogramOpts::new(duration.name, duration.help).buckets(API_BUCKETS.to_vec()),
            &["action"],
        )
        .unwrap();
        let theirs_failures = IntCounterVec::new(
            Opts::new(failures.name, failures.help),
            &["action", "reason"],
        )
        .unwrap();
        registry
            .register(Box::new(theirs_duration.clone()))
            .unwrap();
        registry
            .register(Box::new(theirs_failures.clone()))
            .unwrap();
        for kind in ErrorKind::ALL {
            theirs_failures.with_label_values(&[action, kind.as_str()]);
        }
        let timeout = ApiError::Timeout {
            after: Duration::from_secs(5),
        };
        for (seconds, failed) in [(0.003, false), (0.05, false), (0.7, true), (45.0, true)] {
            let elapsed = Duration::from_secs_f64(seconds);
            ours.attempted(action, elapsed, failed.then_some(&timeout));
            theirs_duration
                .with_label_values(&[action])
                .observe(elapsed.as_secs_f64());
            if failed {
                theirs_failures
                    .with_label_values(&[action, timeout.kind().as_str()])
                    .inc();
            }
        }
        let theirs: Vec<Vec<u8>> = registry
            .gather()
            .iter()
            .map(|family| crate::text::encode_split(family).unwrap().1)
            .collect();
        for (family, theirs) in [Family::ApiDuration, Family::ApiFailures]
            .into_iter()
            .zip(theirs)
        {
            let mut out = Vec::new();
            ours.write(family, None, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(theirs).unwrap(),
                "{family:?}"
            );
        }
        let mut labeled = Vec::new();
        ours.write(Family::Up, Some(b"account=\"a\","), &mut labeled);
        assert_eq!(labeled, b"zenlayer_up{account=\"a\",product=\"vm\"} 0\n");
    }
}
