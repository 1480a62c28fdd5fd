//! The poll loop: page through `DescribeInstancesStatus` on a fixed interval, never overlapping, build one
//! snapshot per successful poll and hand it to the publisher, and keep the poll self-metrics.
//! It knows nothing of HTTP serving or of the exposition format.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use crate::poll::paging::{MAX_INSTANCES, PollError};
use crate::poll::paging::{Paging, Streak, Walk, measured};
use crate::status::snapshot::{Instance, Snapshot, Store};
use crate::telemetry::Metrics;
use crate::zenlayer::Client;
use crate::zenlayer::model::{DESCRIBE_INSTANCES_STATUS, InstanceStatus};

/// How polls are paced and paged.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub page_size: u32,
    pub page_concurrency: usize,
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
    streak: Streak,
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
fn reconcile(
    walk: Walk<Instance>,
    previous: Option<&Snapshot>,
    carried_before: &HashSet<Box<str>>,
) -> Built {
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
            streak: Streak::default(),
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
        let (metrics, timeout) = (self.metrics.clone(), self.config.timeout);
        let (result, duration) = measured(
            &metrics,
            DESCRIBE_INSTANCES_STATUS,
            timeout,
            self.poll_once(),
        )
        .await;
        let error = match result {
            Ok(snapshot) => {
                let instances = snapshot.instances().len();
                let publish = self.publish.clone();
                let published = snapshot.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || publish(published)).await {
                    tracing::error!(error = %e, "publishing the snapshot failed");
                }
                self.metrics.up.set(1.0);
                self.streak
                    .succeeded(DESCRIBE_INSTANCES_STATUS, instances, duration);
                None
            }
            Err(error) => {
                self.metrics.up.set(0.0);
                self.streak.failed(
                    DESCRIBE_INSTANCES_STATUS,
                    &error,
                    "serving the previous snapshot",
                );
                if error.api().1.is_some_and(|e| e.kind() == "auth") {
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

    async fn walk(&self) -> Result<Walk<Instance>, PollError> {
        Paging {
            client: &self.client,
            action: DESCRIBE_INSTANCES_STATUS,
            instance_ids: Vec::new(),
            page_size: self.config.page_size,
            concurrency: self.config.page_concurrency,
        }
        .walk(|row: InstanceStatus| Instance {
            id: row.instance_id,
            status: row.instance_status,
        })
        .await
    }
}
