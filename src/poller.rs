//! The poll loop: page through `DescribeInstancesStatus` on a fixed interval, never overlapping, build one
//! snapshot per successful poll and hand it to the publisher, and keep the poll self-metrics.
//! It knows nothing of HTTP serving or of the exposition format.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::snapshot::{Instance, Snapshot, Store};
use crate::telemetry::Metrics;
use crate::zenlayer::model::{DESCRIBE_INSTANCES_STATUS, InstanceStatus, Page, PageRequest};
use crate::zenlayer::{ApiError, Client};

/// Most instances one poll will page through. Far above any account we know of, low enough that a `totalCount`
/// the API got wrong cannot keep the exporter fetching pages (and memory) without end.
pub const MAX_INSTANCES: u64 = 5_000_000;

/// How polls are paced and paged.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub page_size: u32,
    pub page_concurrency: usize,
}

/// Why a poll published nothing.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("page {page} failed: {error}")]
    Api { page: u32, error: ApiError },
    #[error("poll did not finish within {}s", .0.as_secs_f64())]
    Deadline(Duration),
    #[error(
        "totalCount {total} would need more pages than the bound of {MAX_INSTANCES} instances allows"
    )]
    Pagination { total: u64 },
    #[error("page {page} holds {rows} rows, which its own totalCount of {total} contradicts")]
    Contradiction { page: u32, rows: usize, total: u64 },
    /// A bug in the exporter, not the API's doing.
    #[error("internal error: {detail}")]
    Internal { detail: String },
}

impl PollError {
    /// The `reason` label of `zenlayer_exporter_poll_failures_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            PollError::Api { error, .. } => error.kind(),
            PollError::Deadline(_) => "deadline",
            PollError::Pagination { .. } | PollError::Contradiction { .. } => "pagination",
            PollError::Internal { .. } => "internal",
        }
    }
}

/// The outcome of the latest poll, for the landing page.
#[derive(Debug, Clone)]
pub struct PollReport {
    pub finished_at: SystemTime,
    pub duration: Duration,
    /// `None` when the poll succeeded; otherwise the failure, one line, no secrets.
    pub error: Option<String>,
}

/// Receives every new snapshot. Runs on a blocking thread, since rendering a large fleet takes a while.
pub type Publish = Arc<dyn Fn(Arc<Snapshot>) + Send + Sync>;

/// The poll loop and the state it carries from one poll to the next.
pub struct Poller {
    client: Arc<Client>,
    config: PollerConfig,
    metrics: Metrics,
    publish: Publish,
    reports: Arc<Store<PollReport>>,
    previous: Option<Arc<Snapshot>>,
    /// Ids carried over from the previous snapshot by the last poll; never carried twice in a row.
    carried: HashSet<Box<str>>,
    failures_in_a_row: u64,
}

/// What a walk over the pages found.
#[derive(Debug, Default)]
struct Walk {
    /// Every row of every page, in arrival order, repeats included.
    rows: Vec<Instance>,
    first_total: u64,
    /// Some page reported another `totalCount` than the first: instances came or went during the walk.
    total_changed: bool,
    pages: u32,
}

/// A snapshot and the ids it carried over from the previous one.
struct Built {
    snapshot: Arc<Snapshot>,
    carried: HashSet<Box<str>>,
}

/// Builds the snapshot of a walk. Paging is by offset, so an instance created or deleted during the walk shifts
/// the rows behind it: one may be read twice, another not at all. A changed totalCount or a repeated row is the
/// evidence; then an instance the previous poll saw and this walk missed may have been skipped by a shift rather
/// than deleted, so it keeps its last status for one poll instead of losing its series (which would reset every
/// `for:` clock of alerts on it). The next walk settles it; nothing is carried twice in a row.
fn reconcile(walk: Walk, previous: Option<&Snapshot>, carried_before: &HashSet<Box<str>>) -> Built {
    let taken_at = SystemTime::now();
    let (mut snapshot, repeats) = Snapshot::from_rows(walk.rows, taken_at);
    let seen = snapshot.instances().len() as u64;
    let shifted = walk.total_changed || repeats > 0;
    let mut carried = HashSet::new();
    if let (true, Some(previous)) = (shifted, previous) {
        let missing: Vec<Instance> = previous
            .instances()
            .iter()
            .filter(|i| snapshot.get(&i.id).is_none() && !carried_before.contains(&i.id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            carried = missing.iter().map(|i| i.id.clone()).collect();
            let mut rows = snapshot.into_instances();
            rows.extend(missing);
            snapshot = Snapshot::from_rows(rows, taken_at).0;
        }
    }
    if shifted || seen != walk.first_total {
        tracing::warn!(
            total_count = walk.first_total,
            seen,
            repeats,
            total_changed = walk.total_changed,
            carried_over = carried.len(),
            pages = walk.pages,
            "instance count differs from totalCount: the fleet changed while pages were read"
        );
    }
    Built {
        snapshot: Arc::new(snapshot),
        carried,
    }
}

impl Poller {
    pub fn new(
        client: Arc<Client>,
        config: PollerConfig,
        metrics: Metrics,
        publish: Publish,
        reports: Arc<Store<PollReport>>,
    ) -> Self {
        Poller {
            client,
            config,
            metrics,
            publish,
            reports,
            previous: None,
            carried: HashSet::new(),
            failures_in_a_row: 0,
        }
    }

    /// Polls at start and then every interval until `shutdown` completes, which also interrupts a poll in
    /// progress. A poll that overruns the interval delays the next one; polls never overlap.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(self.config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.poll_and_publish() => {}
            }
        }
        tracing::debug!("poller stopped");
    }

    /// One poll, its metrics, its log line and, on success, its publication.
    pub async fn poll_and_publish(&mut self) {
        let started = Instant::now();
        self.metrics.polls.inc();
        let result = match tokio::time::timeout(self.config.timeout, self.poll_once()).await {
            Ok(result) => result,
            Err(_) => Err(PollError::Deadline(self.config.timeout)),
        };
        let duration = started.elapsed();
        self.metrics.poll_duration.observe(duration.as_secs_f64());
        let error = match result {
            Ok(snapshot) => {
                let instances = snapshot.instances().len();
                let publish = self.publish.clone();
                let published = snapshot.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || publish(published)).await {
                    tracing::error!(error = %e, "publishing the snapshot failed");
                }
                self.metrics.up.set(1.0);
                self.metrics
                    .last_poll_success
                    .set(unix_seconds(SystemTime::now()));
                if self.failures_in_a_row > 0 {
                    tracing::info!(
                        instances,
                        failed_polls = self.failures_in_a_row,
                        "poll succeeded again"
                    );
                } else {
                    tracing::debug!(
                        instances,
                        duration_ms = duration.as_millis() as u64,
                        "poll succeeded"
                    );
                }
                self.failures_in_a_row = 0;
                None
            }
            Err(error) => {
                self.metrics.up.set(0.0);
                self.metrics
                    .poll_failures
                    .with_label_values(&[error.kind()])
                    .inc();
                self.failures_in_a_row += 1;
                let (page, api) = match &error {
                    PollError::Api { page, error } => (Some(*page), Some(error)),
                    _ => (None, None),
                };
                tracing::warn!(
                    action = DESCRIBE_INSTANCES_STATUS,
                    page,
                    request_id = api.and_then(ApiError::request_id),
                    kind = error.kind(),
                    status = api.and_then(ApiError::status),
                    failed_polls = self.failures_in_a_row,
                    error = %error,
                    "poll failed; serving the previous snapshot"
                );
                if api.is_some_and(|e| e.kind() == "auth") {
                    tracing::warn!(
                        "the API refused the credentials: check the access key (or token) and its permissions"
                    );
                }
                Some(error.to_string())
            }
        };
        self.reports.publish(Arc::new(PollReport {
            finished_at: SystemTime::now(),
            duration,
            error,
        }));
    }

    /// Walks every page and builds the snapshot, remembered for the next poll's reconciliation; publishes nothing.
    pub async fn poll_once(&mut self) -> Result<Arc<Snapshot>, PollError> {
        let walk = self.walk().await?;
        let previous = self.previous.clone();
        let carried_before = std::mem::take(&mut self.carried);
        // Sorting and reconciling a large fleet takes a while: keep it off the threads that answer scrapes.
        let built = tokio::task::spawn_blocking(move || {
            reconcile(walk, previous.as_deref(), &carried_before)
        })
        .await
        .map_err(|e| PollError::Internal {
            detail: format!("building the snapshot failed: {e}"),
        })?;
        self.carried = built.carried;
        self.previous = Some(built.snapshot.clone());
        Ok(built.snapshot)
    }

    async fn fetch(&self, page_num: u32) -> (u32, Result<Page<InstanceStatus>, ApiError>) {
        let request = PageRequest {
            instance_ids: Vec::new(),
            page_size: Some(self.config.page_size),
            page_num: Some(page_num),
        };
        (
            page_num,
            self.client
                .describe_page(DESCRIBE_INSTANCES_STATUS, &request)
                .await,
        )
    }

    /// Reads page 1 for `totalCount`, then the remaining pages with at most `page_concurrency` in flight. An
    /// empty page ends the walk; any failed page fails it (dropping the others in flight).
    async fn walk(&self) -> Result<Walk, PollError> {
        let page_size = u64::from(self.config.page_size);
        let pages_for = |total: u64| -> Result<u32, PollError> {
            if total > MAX_INSTANCES {
                return Err(PollError::Pagination { total });
            }
            Ok(total.div_ceil(page_size) as u32)
        };
        let (_, first) = self.fetch(1).await;
        let first = first.map_err(|error| PollError::Api { page: 1, error })?;
        let mut walk = Walk {
            first_total: first.total_count,
            pages: 1,
            ..Walk::default()
        };
        check_consistent(1, &first, page_size)?;
        let mut last_page = pages_for(first.total_count)?;
        // Sized once from the count (bounded by MAX_INSTANCES above), so a large fleet is not copied as it grows.
        walk.rows.reserve(first.total_count as usize);
        let mut ended = first.data_set.is_empty();
        walk.merge(first.data_set);

        let mut next = 2u32;
        let mut in_flight = FuturesUnordered::new();
        loop {
            while !ended && next <= last_page && in_flight.len() < self.config.page_concurrency {
                in_flight.push(self.fetch(next));
                next += 1;
            }
            let Some((page_num, result)) = in_flight.next().await else {
                break;
            };
            let page = result.map_err(|error| PollError::Api {
                page: page_num,
                error,
            })?;
            walk.pages += 1;
            check_consistent(page_num, &page, page_size)?;
            if page.total_count != walk.first_total {
                walk.total_changed = true;
                // The fleet grew: read on to the new end. It shrank: the empty page will say where it ends.
                last_page = last_page.max(pages_for(page.total_count)?);
            }
            if page.data_set.is_empty() {
                ended = true;
            }
            walk.merge(page.data_set);
        }
        Ok(walk)
    }
}

impl Walk {
    fn merge(&mut self, rows: Vec<InstanceStatus>) {
        self.rows.extend(rows.into_iter().map(|row| Instance {
            id: row.instance_id,
            status: row.instance_status,
        }));
    }
}

/// A page whose rows and own `totalCount` disagree (empty although the count says rows are due here, or more
/// rows than the count leaves for this page) contradicts itself: no change to the fleet explains it, since both
/// come from one answer. Publishing it would drop live instances' series, so the poll fails instead and the
/// last good snapshot stays.
fn check_consistent(
    page_num: u32,
    page: &Page<InstanceStatus>,
    page_size: u64,
) -> Result<(), PollError> {
    let before = u64::from(page_num - 1) * page_size;
    let rows = page.data_set.len();
    let hollow = rows == 0 && page.total_count > before;
    let overfull = rows > 0 && before + rows as u64 > page.total_count;
    if hollow || overfull {
        return Err(PollError::Contradiction {
            page: page_num,
            rows,
            total: page.total_count,
        });
    }
    Ok(())
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
