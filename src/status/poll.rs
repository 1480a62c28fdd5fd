//! The status poll as a [`Source`]: page through `DescribeInstancesStatus`, reconcile the rows with the previous
//! snapshot, and say how the poll went (`zenlayer_up`, the landing page's report). The loop that runs it is
//! `poll`'s; it knows nothing of HTTP serving or of the exposition format.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::poll::budget::Lane;
use crate::poll::paging::{Paging, Walk};
use crate::poll::{PageSettings, PollError, Source};
use crate::status::Status;
use crate::status::snapshot::{Instance, Snapshot};
use crate::store::Store;
use crate::telemetry::AccountMetrics;
use crate::zenlayer::error::{ApiError, ErrorKind};
use crate::zenlayer::model::{DESCRIBE_INSTANCES_STATUS, InstanceStatus};

/// The outcome of the latest poll, for the landing page.
#[derive(Debug, Clone)]
pub struct PollReport {
    pub finished_at: SystemTime,
    pub duration: Duration,
    /// `None` when the poll succeeded; otherwise the failure, one line, no secrets.
    pub error: Option<String>,
}

/// The status poll and the state it carries from one poll to the next.
pub struct StatusPoll {
    lane: Lane,
    pages: PageSettings,
    metrics: AccountMetrics,
    reports: Arc<Store<PollReport>>,
    previous: Option<Arc<Snapshot>>,
    /// Ids carried over from the previous snapshot by the last poll; never carried twice in a row.
    carried: HashSet<Box<str>>,
    /// Whether the last poll's count differed from its `totalCount`: a fleet that churns through every poll is
    /// worth one warning, not one a poll.
    differed: bool,
}

/// A snapshot, the ids it carried over from the previous one, and how the walk disagreed with its own count.
struct Built {
    snapshot: Arc<Snapshot>,
    carried: HashSet<Box<str>>,
    differs: Option<Differs>,
}

/// A walk whose rows do not add up to its `totalCount`: the fleet changed while pages were read.
#[derive(Debug)]
struct Differs {
    total_count: u64,
    seen: u64,
    repeats: usize,
    total_changed: bool,
    carried_over: usize,
    pages: u32,
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
    let differs = (shifted || seen != walk.first_total).then_some(Differs {
        total_count: walk.first_total,
        seen,
        repeats,
        total_changed: walk.total_changed,
        carried_over: carried.len(),
        pages: walk.pages,
    });
    Built {
        snapshot: Arc::new(snapshot),
        carried,
        differs,
    }
}

impl StatusPoll {
    /// `reports` receives each poll's outcome for the landing page.
    pub fn new(
        lane: Lane,
        pages: PageSettings,
        metrics: AccountMetrics,
        reports: Arc<Store<PollReport>>,
    ) -> Self {
        StatusPoll {
            lane,
            pages,
            metrics,
            reports,
            previous: None,
            carried: HashSet::new(),
            differed: false,
        }
    }

    /// Walks every page and builds the snapshot, remembered for the next poll's reconciliation; publishes nothing.
    pub async fn poll_once(&mut self) -> Result<Arc<Snapshot>, PollError> {
        let walk = self.walk().await?;
        let previous = self.previous.clone();
        let carried_before = std::mem::take(&mut self.carried);
        // Sorting and reconciling a large fleet takes a while: keep it off the threads that answer scrapes.
        let built =
            crate::poll::blocking(move || reconcile(walk, previous.as_deref(), &carried_before))
                .await
                .map_err(|e| PollError::Internal {
                    detail: format!("building the snapshot failed: {e}"),
                })?;
        self.carried = built.carried;
        self.previous = Some(built.snapshot.clone());
        let differs = built.differs.is_some();
        match (built.differs, self.differed) {
            (Some(d), false) => tracing::warn!(
                total_count = d.total_count,
                seen = d.seen,
                repeats = d.repeats,
                total_changed = d.total_changed,
                carried_over = d.carried_over,
                pages = d.pages,
                "instance count differs from totalCount: the fleet changed while pages were read"
            ),
            (Some(d), true) => tracing::debug!(?d, "instance count differs from totalCount again"),
            (None, true) => tracing::info!("instance count matches totalCount again"),
            (None, false) => {}
        }
        self.differed = differs;
        Ok(built.snapshot)
    }

    async fn walk(&self) -> Result<Walk<Instance>, PollError> {
        Paging {
            lane: &self.lane,
            action: DESCRIBE_INSTANCES_STATUS,
            instance_ids: Vec::new(),
            page_size: self.pages.page_size,
            concurrency: self.pages.concurrency,
        }
        .walk(|row: InstanceStatus<Status>| Instance {
            id: row.instance_id,
            status: row.instance_status,
        })
        .await
    }
}

impl Source for StatusPoll {
    type Snapshot = Snapshot;
    type Between = std::convert::Infallible;
    const ACTION: &'static str = DESCRIBE_INSTANCES_STATUS;
    const NAME: &'static str = "poll";
    const KEPT: &'static str = "serving the previous snapshot";

    async fn poll(&mut self) -> Result<Arc<Snapshot>, PollError> {
        self.poll_once().await
    }

    fn len(snapshot: &Snapshot) -> usize {
        snapshot.instances().len()
    }

    /// `zenlayer_up` and the landing page's report follow the status poll alone.
    fn finished(&mut self, outcome: Result<(), &PollError>, duration: Duration) {
        self.metrics.up.set(if outcome.is_ok() { 1.0 } else { 0.0 });
        self.metrics.changed();
        self.lane.status_polled();
        match outcome.err().and_then(|e| e.api().1).map(ApiError::kind) {
            Some(ErrorKind::Auth) => tracing::warn!(
                "the API refused the credentials: check the access key (or token) and its permissions"
            ),
            Some(ErrorKind::Blocked) => tracing::warn!(
                "a security policy in front of the API blocked the call (a CDN challenge or HTTP 451), not the \
                 credentials: check the network path (proxy, egress address); rotating the key will not help"
            ),
            _ => {}
        }
        self.reports.publish(Arc::new(PollReport {
            finished_at: SystemTime::now(),
            duration,
            error: outcome.err().map(ToString::to_string),
        }));
    }
}
