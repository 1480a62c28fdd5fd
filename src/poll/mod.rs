//! The poll loop every poll runs: on a fixed interval, never overlapping, each poll bounded by a deadline,
//! measured into the per-action poll metrics, logged once per failure and reported ([`report`]: the landing
//! page's), and on success its snapshot published. A poll is a [`Source`] plugged into a [`Poller`]; what it
//! asks the API and what its snapshot means are the source's business (`status/`, `metadata/`), the paged walk
//! they share is [`paging`].

pub mod budget;
pub mod paging;
pub mod report;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use paging::{MAX_INSTANCES, PageSettings, PollError, PollFailure};
pub use report::{Kind, PollLog, PollReport};

use crate::telemetry::{AccountMetrics, Skipped};
use report::Record;

/// How a poll is paced: the loop's business. How it is paged is its source's ([`PageSettings`]).
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Between poll starts.
    pub interval: Duration,
    /// Bound on one whole poll, every page and retry included.
    pub timeout: Duration,
    /// How much later than one `interval` after the first the second poll starts, below `interval`; zero for none. Accounts polled
    /// by one process each get their own (see `account`), so their polls spread over the interval instead of all
    /// starting at once, every interval, with as many connections and renders at the same moment.
    pub phase: Duration,
}

/// Sorts `rows` by id in place, keeping the last row of each repeated id, and returns how many repeats were
/// dropped. Both snapshots are built this way: sorting rather than hashing is cheaper at a million rows, and in
/// place there is no second copy of them (a short list is then moved to an allocation of its size:
/// [`crate::heap::at_size`]). The rows themselves are large (a metadata row is about 200 bytes), so
/// what is sorted is their positions (4 bytes each, sorted without scratch space), and the rows are then moved
/// into that order along the permutation's cycles: a stable sort of the rows would take half of them again as
/// scratch space, 10 MB at 100,000 instances.
pub fn latest_by_id<R>(rows: &mut Vec<R>, id: impl Fn(&R) -> &str) -> usize {
    let before = rows.len();
    let mut order: Vec<u32> = (0..before as u32).collect();
    // Equal ids latest first, so keeping the first of each run keeps the latest row.
    order.sort_unstable_by(|&a, &b| {
        id(&rows[a as usize])
            .cmp(id(&rows[b as usize]))
            .then(b.cmp(&a))
    });
    order.dedup_by(|later, kept| id(&rows[*later as usize]) == id(&rows[*kept as usize]));
    let kept = order.len();
    // The dropped rows' positions complete the permutation; they end up past `kept` and are truncated.
    let mut placed = vec![false; before];
    for &from in &order {
        placed[from as usize] = true;
    }
    order.extend((0..before as u32).filter(|&i| !placed[i as usize]));
    // rows[i] takes rows[order[i]], one cycle at a time: each swap puts one row in its final place.
    placed.fill(false);
    for start in 0..before {
        if placed[start] {
            continue;
        }
        let mut at = start;
        loop {
            placed[at] = true;
            let from = order[at] as usize;
            if from == start {
                break;
            }
            rows.swap(at, from);
            at = from;
        }
    }
    rows.truncate(kept);
    *rows = crate::heap::at_size(std::mem::take(rows));
    before - kept
}

/// The rows of one action's answers left out while the rest was served: counted by reason in
/// `zenlayer_exporter_rows_skipped_total`, and said once per run of polls that leave some out (a warning each
/// poll would repeat itself every interval for as long as the API sends them).
pub struct Skips {
    action: &'static str,
    metrics: AccountMetrics,
    /// The reasons this action's rows can be left out for.
    reasons: Vec<Skipped>,
    /// Per reason of `Skipped::ALL`: whether the last poll left such rows out, so the next says nothing new.
    said: Vec<bool>,
}

impl Skips {
    /// The skips of `action`, each of `reasons` in place at zero.
    pub fn new(action: &'static str, metrics: AccountMetrics, reasons: &[Skipped]) -> Self {
        for reason in reasons {
            metrics.track_skipped(action, *reason);
        }
        Skips {
            action,
            metrics,
            reasons: reasons.to_vec(),
            said: vec![false; Skipped::ALL.len()],
        }
    }

    /// Records one poll's rows `left_out`, each with its reason, its id and what was wrong: every reason of the
    /// action's is recorded, none left out included, which ends its run.
    pub fn record_all(&mut self, left_out: &[(Skipped, impl AsRef<str>, impl AsRef<str>)]) {
        for reason in self.reasons.clone() {
            let mut of = left_out.iter().filter(|(r, _, _)| *r == reason);
            let example = of
                .clone()
                .next()
                .map(|(_, id, what)| (id.as_ref(), what.as_ref()));
            let rows = of.by_ref().count();
            self.record(reason, rows, example);
        }
    }

    /// Records one poll's `rows` left out for `reason`; `example` names one (its id and what was wrong).
    pub fn record(&mut self, reason: Skipped, rows: usize, example: Option<(&str, &str)>) {
        let at = crate::labels::Word::index(reason);
        let first = rows > 0 && !self.said[at];
        self.said[at] = rows > 0;
        if rows == 0 {
            return;
        }
        self.metrics.skipped(self.action, reason, rows);
        if first {
            let (instance_id, detail) = example.unwrap_or_default();
            tracing::warn!(
                action = self.action,
                reason = reason.as_str(),
                rows,
                instance_id,
                detail,
                "rows of the answer left out; the rest is served"
            );
        }
    }
}

/// Rows below which a poll's work (building its snapshot, rendering it) is done on the poller's own task rather
/// than a blocking thread: well under a millisecond, less than handing it over and back costs (two thread
/// switches), which a thousand small accounts would otherwise pay thousands of times a round.
const INLINE_BELOW: usize = 5_000;

/// Receives every new snapshot of a source. Called on a blocking thread, since rendering a large fleet takes a
/// while (a small one, on the poller's task).
pub type Publish<T> = Arc<dyn Fn(Arc<T>) + Send + Sync>;

/// One poll of one describe action: what the [`Poller`] runs every interval.
pub trait Source: Send + 'static {
    /// What a successful poll builds and the poller publishes.
    type Snapshot: Send + Sync + 'static;
    /// Work that arrives between polls (the metadata poll's new instances to look up); none by default.
    type Between: Send;
    /// What the logs call one poll of this source.
    const NAME: &'static str;
    /// What is served while its polls fail, for the failure's log line.
    const KEPT: &'static str;

    /// The API action, the `action` label of the poll metrics.
    fn action(&self) -> &'static str;

    /// Walks the API and builds the next snapshot; publishes nothing.
    fn poll(&mut self) -> impl Future<Output = Result<Arc<Self::Snapshot>, PollError>> + Send;

    /// Instances in a snapshot, for the log.
    fn len(snapshot: &Self::Snapshot) -> usize;

    /// Told every poll's outcome, after its snapshot was published.
    fn finished(&mut self, _outcome: Result<(), &PollError>, _duration: Duration) {}

    /// Waits until the first poll may start; at once, unless the source waits for another.
    fn before_first_poll(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Waits for work between polls; never, unless the source has some.
    fn next_between(&mut self) -> impl Future<Output = Self::Between> + Send {
        std::future::pending()
    }

    /// Does it; a snapshot returned is published.
    fn between(
        &mut self,
        _work: Self::Between,
    ) -> impl Future<Output = Option<Arc<Self::Snapshot>>> + Send {
        async { None }
    }
}

/// Runs a [`Source`]: polls at start and then every interval, does its work in between, and publishes.
pub struct Poller<S: Source> {
    source: S,
    action: &'static str,
    interval: Duration,
    phase: Duration,
    timeout: Duration,
    metrics: AccountMetrics,
    publish: Publish<S::Snapshot>,
    record: Record,
}

impl<S: Source> Poller<S> {
    pub fn new(
        source: S,
        pacing: Pacing,
        metrics: AccountMetrics,
        publish: Publish<S::Snapshot>,
    ) -> Self {
        let action = source.action();
        metrics.track_action(action);
        Poller {
            source,
            action,
            interval: pacing.interval,
            phase: pacing.phase,
            timeout: pacing.timeout,
            metrics,
            publish,
            record: Record::new(action, pacing.interval, (S::NAME, S::KEPT)),
        }
    }

    /// Its polls as the landing page lists them, as `kind`: each one's report, published after it.
    pub fn log(&self, kind: Kind) -> PollLog {
        self.record.log(kind)
    }

    /// Polls until `shutdown` completes, which also interrupts a poll or work in progress. A poll that overruns
    /// the interval delays the next one; polls and work never overlap.
    ///
    /// An `async` block rather than an `async fn`: an `async fn`'s state keeps its arguments and, beside them,
    /// the locals they are moved into, so every sleeping poller held its poller twice (its future took 1.0 to 1.3
    /// kB, 0.6 to 0.8 kB now). What a sleeping poller holds is what 7,000 pollers cost at 1,000 accounts.
    #[allow(clippy::manual_async_fn)] // the point: see above.
    pub fn run(mut self, shutdown: impl Future<Output = ()>) -> impl Future<Output = ()> {
        async move {
            tokio::pin!(shutdown);
            // Boxed, like a poll below: it happens once, and inline its state would be held for good.
            tokio::select! {
                _ = &mut shutdown => return,
                _ = Box::pin(self.source.before_first_poll()) => {}
            }
            let started = tokio::time::Instant::now();
            let mut ticker = tokio::time::interval(self.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut first = true;
            loop {
                let work = tokio::select! {
                    _ = &mut shutdown => break,
                    _ = ticker.tick() => None,
                    work = self.source.next_between() => Some(work),
                };
                let polled = work.is_none();
                // Boxed: a poll's state (its pages in flight, their decoding) is most of the poller's size, and
                // held inline it would be held for the whole interval by every idle poller of every account.
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = Box::pin(self.step(work)) => {}
                }
                if polled && std::mem::take(&mut first) && !self.phase.is_zero() {
                    ticker.reset_at(started + self.interval + self.phase);
                }
            }
            tracing::debug!(action = self.action, "poller stopped");
        }
    }

    async fn step(&mut self, work: Option<S::Between>) {
        match work {
            None => self.poll_and_publish().await,
            Some(work) => {
                if let Some(snapshot) = self.source.between(work).await {
                    self.publish(snapshot).await;
                }
            }
        }
    }

    /// One poll, its metrics, its log line, on success its publication, and its report (last: what reads the
    /// reports, readiness, sees a poll finished once its source has taken the outcome).
    pub async fn poll_and_publish(&mut self) {
        let (result, duration) =
            measured(&self.metrics, self.action, self.timeout, self.source.poll()).await;
        let found = match result {
            Ok(snapshot) => {
                let found = S::len(&snapshot);
                self.publish(snapshot).await;
                self.record.succeeded(found, duration);
                self.source.finished(Ok(()), duration);
                Some(found)
            }
            Err(error) => {
                self.record.failed(&error);
                self.source.finished(Err(&error), duration);
                None
            }
        };
        self.record.publish(duration, found);
    }

    async fn publish(&self, snapshot: Arc<S::Snapshot>) {
        // A small snapshot renders in well under a millisecond: handing it to another thread would cost more.
        if S::len(&snapshot) < INLINE_BELOW {
            return (self.publish)(snapshot);
        }
        // Renders are CPU-bound: at most one per core at once. A thousand accounts finishing their polls together
        // would otherwise start a thousand blocking threads, each with its own compressor.
        static RENDERS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
        let renders = RENDERS.get_or_init(|| {
            tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
        });
        let _permit = renders.acquire().await;
        let publish = self.publish.clone();
        if let Err(e) = blocking(move || publish(snapshot)).await {
            tracing::error!(action = self.action, error = %e, "publishing the snapshot failed");
        }
    }
}

/// Runs `f`, work over `rows` rows, where it belongs: a small one on the caller's task, a large one on a blocking
/// thread ([`blocking`]), off the threads that answer scrapes. A panic in `f` is its error either way (what it
/// said), so a bug fails that poll and the poller goes on, as a panic on a blocking thread always did.
pub async fn off_runtime<T: Send + 'static>(
    rows: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    if rows >= INLINE_BELOW {
        return blocking(f).await.map_err(|e| e.to_string());
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        let said = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned());
        format!("panicked: {}", said.unwrap_or_default())
    })
}

/// Runs `f` on a blocking thread in the caller's span, so that what it logs names the account like the rest of
/// its poll.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f)).await
}

/// Runs one poll of `action` within `timeout` and records it: the attempt, its duration, and its success time or
/// its failure reason. Returns the outcome and how long it took.
pub async fn measured<T>(
    metrics: &AccountMetrics,
    action: &'static str,
    timeout: Duration,
    poll: impl Future<Output = Result<T, PollError>>,
) -> (Result<T, PollError>, Duration) {
    let started = Instant::now();
    metrics.poll_started(action);
    let result = match tokio::time::timeout(timeout, poll).await {
        Ok(result) => result,
        Err(_) => Err(PollError::Deadline(timeout)),
    };
    let duration = started.elapsed();
    metrics.poll_finished(action, duration, result.as_ref().err().map(PollError::kind));
    (result, duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_by_id_sorts_and_keeps_the_last_row_of_each_id() {
        // Rows (id, arrival) with many repeats, in a scrambled order; the reference keeps the last arrival.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for len in [0, 1, 2, 7, 100, 1000] {
            let rows: Vec<(String, usize)> = (0..len)
                .map(|arrival| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (format!("i-{}", seed % (len as u64 / 2 + 1)), arrival)
                })
                .collect();
            let mut expected = std::collections::BTreeMap::new();
            for (id, arrival) in &rows {
                expected.insert(id.clone(), *arrival);
            }
            let mut sorted = rows.clone();
            let dropped = latest_by_id(&mut sorted, |r| &r.0);
            let expected: Vec<(String, usize)> = expected.into_iter().collect();
            assert_eq!(sorted, expected, "{len} rows");
            assert_eq!(dropped, rows.len() - expected.len());
        }
    }
}
